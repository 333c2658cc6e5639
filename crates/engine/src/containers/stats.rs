//! `docker stats`: a container's resource usage read from its cgroup (v1 or
//! v2), in Docker's `StatsJSON` shape (the CLI computes CPU % from the
//! `cpu_stats`/`precpu_stats` pair).

use serde_json::{json, Value};

use crate::error::{EngineError, Result};
use crate::Engine;

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn num(path: &str) -> Option<u64> {
    read(path).and_then(|s| s.parse().ok())
}

fn kv(path: &str) -> Vec<(String, u64)> {
    read(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.parse().ok()?))
        })
        .collect()
}

/// Host CPU time in nanoseconds (the sum of /proc/stat's first line).
fn system_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let jiffies: u64 = stat
        .lines()
        .next()
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .take(8)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    // USER_HZ is 100 on Linux.
    jiffies * 10_000_000
}

fn online_cpus() -> u64 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u64)
        .unwrap_or(1)
}

/// One sample of a container's cgroup.
pub fn sample(id: &str) -> Value {
    let v1 = |ctrl: &str, f: &str| format!("/sys/fs/cgroup/{ctrl}/berth/{id}/{f}");
    let v2 = |f: &str| format!("/sys/fs/cgroup/berth/{id}/{f}");
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    if std::path::Path::new(&v1("memory", "")).exists() {
        let percpu: Vec<u64> = read(&v1("cpuacct", "cpuacct.usage_percpu"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        let cpuacct: std::collections::HashMap<String, u64> =
            kv(&v1("cpuacct", "cpuacct.stat")).into_iter().collect();
        let mem: serde_json::Map<String, Value> = kv(&v1("memory", "memory.stat"))
            .into_iter()
            .map(|(k, v)| (k, json!(v)))
            .collect();
        let blkio: Vec<Value> = read(&v1("blkio", "blkio.throttle.io_service_bytes"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let (maj, min) = f.first()?.split_once(':')?;
                Some(json!({"major": maj.parse::<u64>().ok()?, "minor": min.parse::<u64>().ok()?, "op": f.get(1)?, "value": f.get(2)?.parse::<u64>().ok()?}))
            })
            .collect();
        let throttled: std::collections::HashMap<String, u64> =
            kv(&v1("cpu", "cpu.stat")).into_iter().collect();
        return json!({
            "read": now,
            "pids_stats": {"current": num(&v1("pids", "pids.current")).unwrap_or(0), "limit": num(&v1("pids", "pids.max"))},
            "blkio_stats": {"io_service_bytes_recursive": blkio},
            "cpu_stats": {
                "cpu_usage": {
                    "total_usage": num(&v1("cpuacct", "cpuacct.usage")).unwrap_or(0),
                    "percpu_usage": percpu,
                    "usage_in_kernelmode": cpuacct.get("system").copied().unwrap_or(0) * 10_000_000,
                    "usage_in_usermode": cpuacct.get("user").copied().unwrap_or(0) * 10_000_000,
                },
                "system_cpu_usage": system_cpu_ns(),
                "online_cpus": online_cpus(),
                "throttling_data": {
                    "periods": throttled.get("nr_periods").copied().unwrap_or(0),
                    "throttled_periods": throttled.get("nr_throttled").copied().unwrap_or(0),
                    "throttled_time": throttled.get("throttled_time").copied().unwrap_or(0),
                },
            },
            "memory_stats": {
                "usage": num(&v1("memory", "memory.usage_in_bytes")).unwrap_or(0),
                "max_usage": num(&v1("memory", "memory.max_usage_in_bytes")).unwrap_or(0),
                "stats": mem,
                "limit": num(&v1("memory", "memory.limit_in_bytes")).unwrap_or(0),
            },
        });
    }
    let cpu: std::collections::HashMap<String, u64> = kv(&v2("cpu.stat")).into_iter().collect();
    let mem: serde_json::Map<String, Value> = kv(&v2("memory.stat"))
        .into_iter()
        .map(|(k, v)| (k, json!(v)))
        .collect();
    let limit = read(&v2("memory.max"))
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| {
            std::fs::read_to_string("/proc/meminfo")
                .ok()
                .and_then(|m| {
                    m.lines()
                        .find_map(|l| l.strip_prefix("MemTotal:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                })
                .map(|k| k * 1024)
                .unwrap_or(0)
        });
    let mut blkio = Vec::new();
    for l in read(&v2("io.stat")).unwrap_or_default().lines() {
        let mut w = l.split_whitespace();
        let Some((maj, min)) = w.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        for kvp in w {
            if let Some((k, v)) = kvp.split_once('=') {
                let op = match k {
                    "rbytes" => "read",
                    "wbytes" => "write",
                    _ => continue,
                };
                blkio.push(json!({"major": maj.parse::<u64>().unwrap_or(0), "minor": min.parse::<u64>().unwrap_or(0), "op": op, "value": v.parse::<u64>().unwrap_or(0)}));
            }
        }
    }
    json!({
        "read": now,
        "pids_stats": {"current": num(&v2("pids.current")).unwrap_or(0), "limit": num(&v2("pids.max"))},
        "blkio_stats": {"io_service_bytes_recursive": blkio},
        "cpu_stats": {
            "cpu_usage": {
                "total_usage": cpu.get("usage_usec").copied().unwrap_or(0) * 1000,
                "usage_in_kernelmode": cpu.get("system_usec").copied().unwrap_or(0) * 1000,
                "usage_in_usermode": cpu.get("user_usec").copied().unwrap_or(0) * 1000,
            },
            "system_cpu_usage": system_cpu_ns(),
            "online_cpus": online_cpus(),
            "throttling_data": {
                "periods": cpu.get("nr_periods").copied().unwrap_or(0),
                "throttled_periods": cpu.get("nr_throttled").copied().unwrap_or(0),
                "throttled_time": cpu.get("throttled_usec").copied().unwrap_or(0) * 1000,
            },
        },
        "memory_stats": {"usage": num(&v2("memory.current")).unwrap_or(0), "stats": mem, "limit": limit},
    })
}

impl Engine {
    /// One stats document for a container; `previous` becomes `precpu_stats`.
    pub fn container_stats(&self, name: &str, previous: Option<&Value>) -> Result<Value> {
        let rec = self.resolve_container(name)?;
        let mut v = if rec.state.running {
            sample(&rec.id)
        } else {
            json!({"read": "0001-01-01T00:00:00Z", "pids_stats": {}, "blkio_stats": {}, "cpu_stats": {"cpu_usage": {"total_usage": 0}, "throttling_data": {}}, "memory_stats": {}})
        };
        v["preread"] = previous
            .map(|p| p["read"].clone())
            .unwrap_or(json!("0001-01-01T00:00:00Z"));
        v["precpu_stats"] = previous
            .map(|p| p["cpu_stats"].clone())
            .unwrap_or(json!({"cpu_usage": {"total_usage": 0}, "throttling_data": {}}));
        v["name"] = json!(rec.name);
        v["id"] = json!(rec.id);
        v["num_procs"] = json!(0);
        v["storage_stats"] = json!({});
        Ok(v)
    }

    /// Whether the container is running now (for streaming stats).
    pub fn container_running(&self, name: &str) -> Result<bool> {
        self.resolve_container(name)
            .map(|r| r.state.running)
            .map_err(|e| EngineError::new(e.kind, e.message))
    }
}
