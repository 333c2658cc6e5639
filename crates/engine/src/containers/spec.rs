//! From Docker's `Config` + `HostConfig` to the runtime's
//! [`ContainerSpec`]: user lookup in the image, capabilities, seccomp,
//! namespaces, mounts, devices, limits. `validate_host_config` checks at
//! create time what can be checked then, with Docker's messages.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use berth_runtime::spec::{
    ContainerSpec, Device, DeviceRule, Mount, NsMode, Resources, Shm, Throttle, ALL_CAPABILITIES,
    DEFAULT_CAPABILITIES,
};
use serde_json::{json, Value};

use super::{strings, ContainerRecord};
use crate::error::{EngineError, Result};
use crate::Engine;

fn int(v: &Value, k: &str) -> Option<i64> {
    v.get(k).and_then(|x| x.as_i64()).filter(|n| *n != 0)
}

/// The init `--init` runs as PID 1 (tini, as Docker's docker-init is).
pub const INIT_BINARY: &str = "/usr/bin/tini-static";

/// Signal number for a name ("SIGTERM", "TERM", "15").
pub fn signal_number(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let name = s.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    let n = match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "TRAP" => 5,
        "ABRT" | "IOT" => 6,
        "BUS" => 7,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        "STKFLT" => 16,
        "CHLD" => 17,
        "CONT" => 18,
        "STOP" => 19,
        "TSTP" => 20,
        "TTIN" => 21,
        "TTOU" => 22,
        "URG" => 23,
        "XCPU" => 24,
        "XFSZ" => 25,
        "VTALRM" => 26,
        "PROF" => 27,
        "WINCH" => 28,
        "IO" | "POLL" => 29,
        "PWR" => 30,
        "SYS" => 31,
        other => {
            if let Some(rest) = other.strip_prefix("RTMIN+") {
                return rest
                    .parse::<i32>()
                    .ok()
                    .map(|n| 34 + n)
                    .filter(|n| *n <= 64);
            }
            if other == "RTMIN" {
                34
            } else if other == "RTMAX" {
                64
            } else {
                return None;
            }
        }
    };
    Some(n)
}

fn normalize_cap(c: &str) -> String {
    let up = c.to_ascii_uppercase();
    if up == "ALL" || up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// The capabilities this daemon may hand out: its own bounding set
/// (`ALL_CAPABILITIES` is in kernel bit order). Hosts may lack some, e.g.
/// `CAP_SYS_RESOURCE` on these build machines.
pub fn host_capabilities() -> Vec<String> {
    // Read once: a process's bounding set only ever shrinks, and the
    // daemon never drops from it.
    static BOUNDING: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let bnd = *BOUNDING.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("CapBnd:"))
                    .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            })
            .unwrap_or(u64::MAX)
    });
    ALL_CAPABILITIES
        .iter()
        .enumerate()
        .filter(|(i, _)| bnd & (1u64 << i) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

/// Docker's capability arithmetic (defaults, `--cap-add`, `--cap-drop`,
/// `ALL`, `--privileged`), within what the daemon itself holds.
pub fn capabilities(hc: &Value) -> Result<Vec<String>> {
    let host = host_capabilities();
    if hc["Privileged"].as_bool() == Some(true) {
        return Ok(host);
    }
    let adds: Vec<String> = strings(hc.get("CapAdd"))
        .iter()
        .map(|c| normalize_cap(c))
        .collect();
    let drops: Vec<String> = strings(hc.get("CapDrop"))
        .iter()
        .map(|c| normalize_cap(c))
        .collect();
    for c in adds.iter().chain(drops.iter()) {
        if c != "ALL" && !ALL_CAPABILITIES.contains(&c.as_str()) {
            return Err(EngineError::invalid(format!("unknown capability: \"{c}\"")));
        }
    }
    for a in adds.iter().filter(|c| *c != "ALL") {
        if !host.contains(a) {
            return Err(EngineError::invalid(format!(
                "capability {a} is not available: the berth daemon does not hold it in its bounding set"
            )));
        }
    }
    let mut caps: Vec<String> = if adds.iter().any(|c| c == "ALL") {
        host.clone()
    } else if drops.iter().any(|c| c == "ALL") {
        Vec::new()
    } else {
        DEFAULT_CAPABILITIES
            .iter()
            .map(|s| s.to_string())
            .filter(|c| host.contains(c))
            .collect()
    };
    if !adds.iter().any(|c| c == "ALL") {
        caps.retain(|c| !drops.contains(c));
    }
    for a in adds.iter().filter(|c| *c != "ALL") {
        if !caps.contains(a) {
            caps.push(a.clone());
        }
    }
    Ok(caps)
}

struct SecurityOpts {
    no_new_privileges: bool,
    seccomp: SeccompChoice,
}

enum SeccompChoice {
    Default,
    Unconfined,
    Profile(String),
}

fn security_opts(hc: &Value) -> Result<SecurityOpts> {
    let mut out = SecurityOpts {
        no_new_privileges: false,
        seccomp: SeccompChoice::Default,
    };
    for o in strings(hc.get("SecurityOpt")) {
        let (k, v) = match o.split_once(['=', ':']) {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (o.clone(), None),
        };
        match k.as_str() {
            "no-new-privileges" => {
                out.no_new_privileges = match v.as_deref() {
                    None | Some("true") => true,
                    Some("false") => false,
                    Some(x) => {
                        return Err(EngineError::invalid(format!(
                            "invalid --security-opt 2: \"no-new-privileges={x}\""
                        )))
                    }
                }
            }
            "seccomp" => {
                out.seccomp = match v.as_deref() {
                    Some("unconfined") => SeccompChoice::Unconfined,
                    Some("builtin") | Some("default") => SeccompChoice::Default,
                    Some(p) if !p.is_empty() => SeccompChoice::Profile(p.to_string()),
                    _ => {
                        return Err(EngineError::invalid(format!(
                            "invalid --security-opt: \"{o}\""
                        )))
                    }
                }
            }
            // No AppArmor or SELinux on berth's hosts: accepted, like Docker on such hosts.
            "apparmor" | "label" | "systempaths" => {}
            _ => {
                return Err(EngineError::invalid(format!(
                    "invalid --security-opt 1: \"{o}\""
                )))
            }
        }
    }
    Ok(out)
}

/// Checks a `HostConfig` at create time and fills Docker's defaults;
/// returns warnings.
pub fn validate_host_config(hc: &mut Value) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    let rp = &hc["RestartPolicy"];
    let name = rp["Name"].as_str().unwrap_or("");
    let retries = rp["MaximumRetryCount"].as_i64().unwrap_or(0);
    match name {
        "" | "no" | "always" | "unless-stopped" | "on-failure" => {}
        other => return Err(EngineError::invalid(format!("invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"))),
    }
    if retries != 0 && name != "on-failure" {
        return Err(EngineError::invalid(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'",
        ));
    }
    if retries < 0 {
        return Err(EngineError::invalid(
            "invalid restart policy: maximum retry count cannot be negative",
        ));
    }
    if hc["AutoRemove"].as_bool() == Some(true) && !matches!(name, "" | "no") {
        return Err(EngineError::invalid(
            "can't create 'AutoRemove' container with restart policy",
        ));
    }
    validate_log_config(&hc["LogConfig"])?;
    let mem = hc["Memory"].as_i64().unwrap_or(0);
    if mem != 0 && mem < 6 * 1024 * 1024 {
        return Err(EngineError::invalid("Minimum memory limit allowed is 6MB"));
    }
    let swap = hc["MemorySwap"].as_i64().unwrap_or(0);
    if mem > 0 && swap > 0 && swap < mem {
        return Err(EngineError::invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if mem == 0 && swap > 0 {
        return Err(EngineError::invalid(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    }
    let res = hc["MemoryReservation"].as_i64().unwrap_or(0);
    if mem > 0 && res > mem {
        return Err(EngineError::invalid(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ));
    }
    if let Some(s) = hc["MemorySwappiness"].as_i64() {
        if !(-1..=100).contains(&s) {
            return Err(EngineError::invalid(format!(
                "Invalid value: {s}, valid memory swappiness range is 0-100"
            )));
        }
    }
    let nano = hc["NanoCpus"].as_i64().unwrap_or(0);
    if nano != 0
        && (hc["CpuQuota"].as_i64().unwrap_or(0) != 0 || hc["CpuPeriod"].as_i64().unwrap_or(0) != 0)
    {
        return Err(EngineError::invalid(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ));
    }
    if nano != 0 {
        let ncpu = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1) as i64;
        if nano < 0 || nano > ncpu * 1_000_000_000 {
            return Err(EngineError::invalid(format!(
                "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
            )));
        }
    }
    let period = hc["CpuPeriod"].as_i64().unwrap_or(0);
    if period != 0 && !(1000..=1_000_000).contains(&period) {
        return Err(EngineError::invalid(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ));
    }
    let quota = hc["CpuQuota"].as_i64().unwrap_or(0);
    if quota > 0 && quota < 1000 {
        return Err(EngineError::invalid(
            "CPU cfs quota can not be less than 1ms (i.e. 1000)",
        ));
    }
    let w = hc["BlkioWeight"].as_i64().unwrap_or(0);
    if w != 0 && !(10..=1000).contains(&w) {
        return Err(EngineError::invalid(
            "Range of blkio weight is from 10 to 1000",
        ));
    }
    if let Some(adj) = hc["OomScoreAdj"].as_i64() {
        if !(-1000..=1000).contains(&adj) {
            return Err(EngineError::invalid(format!(
                "Invalid value {adj}, range for oom score adj is [-1000, 1000]"
            )));
        }
    }
    if hc["OomKillDisable"].as_bool() == Some(true) && mem == 0 {
        warnings.push("OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.".to_string());
    }
    capabilities(hc)?;
    security_opts(hc)?;
    let mode = hc["NetworkMode"].as_str().unwrap_or("").to_string();
    // Other names are user networks, checked against the records at create.
    if mode.is_empty() || mode == "default" {
        hc["NetworkMode"] = json!("bridge");
    }
    for key in ["PidMode", "IpcMode", "UTSMode", "CgroupnsMode"] {
        let v = hc[key].as_str().unwrap_or("");
        let ok = match key {
            "IpcMode" => {
                matches!(v, "" | "host" | "private" | "shareable" | "none")
                    || v.starts_with("container:")
            }
            "CgroupnsMode" => matches!(v, "" | "host" | "private"),
            "UTSMode" => matches!(v, "" | "host"),
            _ => matches!(v, "" | "host") || v.starts_with("container:"),
        };
        if !ok {
            return Err(EngineError::invalid(format!("invalid {key}: {v}")));
        }
    }
    for u in hc["Ulimits"].as_array().cloned().unwrap_or_default() {
        let n = u["Name"].as_str().unwrap_or("");
        if rlimit_name(n).is_none() {
            return Err(EngineError::invalid(format!("invalid ulimit type: {n}")));
        }
        if u["Soft"].as_i64().unwrap_or(0) > u["Hard"].as_i64().unwrap_or(0) {
            return Err(EngineError::invalid(format!(
                "ulimit soft limit must be less than or equal to hard limit: {} > {}",
                u["Soft"], u["Hard"]
            )));
        }
    }
    for d in hc["Devices"].as_array().cloned().unwrap_or_default() {
        let p = d["PathOnHost"].as_str().unwrap_or("");
        if !Path::new(p).exists() {
            return Err(EngineError::invalid(format!(
                "error gathering device information while adding custom device \"{p}\": no such file or directory"
            )));
        }
    }
    if let Some(Value::Object(t)) = hc.get("Tmpfs") {
        for k in t.keys() {
            if !k.starts_with('/') {
                return Err(EngineError::invalid(format!(
                    "invalid mount path for tmpfs: {k}: it must be absolute"
                )));
            }
        }
    }
    hc.as_object_mut()
        .map(|m| m.entry("ShmSize").or_insert(json!(64 << 20)));
    if hc["ShmSize"].as_i64().unwrap_or(0) <= 0 {
        hc["ShmSize"] = json!(64 << 20);
    }
    Ok(warnings)
}

/// The `--ulimit` names Docker knows (go-units `ulimitNameMapping`).
pub const ULIMIT_NAMES: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

fn rlimit_name(n: &str) -> Option<String> {
    ULIMIT_NAMES
        .contains(&n)
        .then(|| format!("RLIMIT_{}", n.to_ascii_uppercase()))
}

/// The host's device nodes under /dev, as Docker gives them to a privileged
/// container: character and block devices, not the terminal and memory
/// nodes every container gets, nor what lives in pts, shm, mqueue or fd.
fn host_devices() -> Vec<Device> {
    const OWN: &[&str] = &[
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
        "/dev/tty",
        "/dev/console",
        "/dev/ptmx",
    ];
    let mut out = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from("/dev")];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(m) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let ft = m.file_type();
            if ft.is_dir() {
                let skip = ["pts", "shm", "mqueue", "fd", ".lxc", ".udev"];
                if dir == Path::new("/dev") && skip.iter().any(|s| e.file_name() == *s) {
                    continue;
                }
                dirs.push(path);
                continue;
            }
            let kind = if ft.is_char_device() {
                "c"
            } else if ft.is_block_device() {
                "b"
            } else {
                continue;
            };
            let p = path.display().to_string();
            if OWN.contains(&p.as_str()) {
                continue;
            }
            let rdev = m.rdev();
            out.push(Device {
                path: p,
                kind: kind.into(),
                major: rustix::fs::major(rdev) as i64,
                minor: rustix::fs::minor(rdev) as i64,
                file_mode: m.mode() & 0o7777,
                permissions: "rwm".into(),
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn device_numbers(path: &str) -> Result<(String, i64, i64)> {
    let m = std::fs::metadata(path).map_err(|e| {
        EngineError::invalid(format!(
            "error gathering device information while adding custom device \"{path}\": {e}"
        ))
    })?;
    let kind = if m.file_type().is_char_device() {
        "c"
    } else if m.file_type().is_block_device() {
        "b"
    } else {
        return Err(EngineError::invalid(format!("{path} is not a device")));
    };
    let rdev = m.rdev();
    Ok((
        kind.into(),
        libc::major(rdev) as i64,
        libc::minor(rdev) as i64,
    ))
}

/// The log drivers berth has: `json-file` (`local` is stored the same way,
/// and read back the same), and `none`.
const LOG_DRIVERS: &[&str] = &["json-file", "local", "none"];

/// Checks `HostConfig.LogConfig` as Docker does at create: a known driver,
/// options that driver knows, sizes and counts that parse.
fn validate_log_config(lc: &Value) -> Result<()> {
    let driver = lc["Type"].as_str().unwrap_or("");
    if !driver.is_empty() && !LOG_DRIVERS.contains(&driver) {
        return Err(EngineError::invalid(format!(
            "failed to create the log driver: logger: no log driver named '{driver}' is registered (berth has {})",
            LOG_DRIVERS.join(", ")
        )));
    }
    let Some(opts) = lc["Config"].as_object() else {
        return Ok(());
    };
    if driver == "none" && !opts.is_empty() {
        return Err(EngineError::invalid("invalid logging opts for driver none"));
    }
    const KNOWN: &[&str] = &[
        "max-size",
        "max-file",
        "compress",
        "labels",
        "labels-regex",
        "env",
        "env-regex",
        "tag",
        "mode",
        "max-buffer-size",
    ];
    for (k, v) in opts {
        if !KNOWN.contains(&k.as_str()) {
            return Err(EngineError::invalid(format!(
                "unknown log opt '{k}' for {} log driver",
                if driver.is_empty() {
                    "json-file"
                } else {
                    driver
                }
            )));
        }
        let v = v.as_str().unwrap_or("");
        match k.as_str() {
            "max-size" if log_size(v).is_none() => {
                return Err(EngineError::invalid(format!(
                    "invalid max-size '{v}': want a size such as 10m, 512k or 1g"
                )))
            }
            "max-file" if !v.parse::<u32>().is_ok_and(|n| n >= 1) => {
                return Err(EngineError::invalid(format!(
                    "invalid max-file '{v}': max-file cannot be less than 1"
                )))
            }
            _ => {}
        }
    }
    if opts.contains_key("max-file")
        && opts["max-file"].as_str() != Some("1")
        && !opts.contains_key("max-size")
    {
        return Err(EngineError::invalid(
            "max-file cannot be used without max-size: set --log-opt max-size too",
        ));
    }
    Ok(())
}

/// A log size as Docker's `max-size` takes it ("10m", "512k", "1g", bytes).
pub(crate) fn log_size(v: &str) -> Option<u64> {
    let v = v.trim().to_ascii_lowercase();
    let digits = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let n: f64 = v[..digits].parse().ok()?;
    let mult = match v[digits..].trim_end_matches('b').trim_end_matches('i') {
        "" => 1u64,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return None,
    };
    (n >= 0.0).then_some((n * mult as f64) as u64)
}

/// The cgroup limits of a HostConfig, as the runtime applies them (at start,
/// and live through `update`).
pub(crate) fn resources(hc: &Value) -> Result<Resources> {
    let nano = hc["NanoCpus"].as_i64().unwrap_or(0);
    let (quota, period) = if nano > 0 {
        (Some(nano * 100_000 / 1_000_000_000), Some(100_000))
    } else {
        (int(hc, "CpuQuota"), int(hc, "CpuPeriod").map(|p| p as u64))
    };
    let pids = hc["PidsLimit"].as_i64().filter(|p| *p > 0);
    Ok(Resources {
        memory: int(hc, "Memory"),
        memory_swap: int(hc, "MemorySwap"),
        memory_reservation: int(hc, "MemoryReservation"),
        memory_swappiness: hc["MemorySwappiness"]
            .as_i64()
            .filter(|s| *s >= 0)
            .map(|s| s as u64),
        oom_kill_disable: hc["OomKillDisable"].as_bool().filter(|b| *b),
        cpu_shares: int(hc, "CpuShares").map(|s| s as u64),
        cpu_quota: quota,
        cpu_period: period,
        cpu_rt_period: int(hc, "CpuRealtimePeriod").map(|s| s as u64),
        cpu_rt_runtime: int(hc, "CpuRealtimeRuntime"),
        cpuset_cpus: hc["CpusetCpus"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(String::from),
        cpuset_mems: hc["CpusetMems"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(String::from),
        pids_limit: pids,
        blkio_weight: int(hc, "BlkioWeight").map(|w| w as u16),
        blkio_weight_device: throttles(hc, "BlkioWeightDevice", "Weight")?,
        read_bps: throttles(hc, "BlkioDeviceReadBps", "Rate")?,
        write_bps: throttles(hc, "BlkioDeviceWriteBps", "Rate")?,
        read_iops: throttles(hc, "BlkioDeviceReadIOps", "Rate")?,
        write_iops: throttles(hc, "BlkioDeviceWriteIOps", "Rate")?,
    })
}

fn throttles(hc: &Value, key: &str, field: &str) -> Result<Vec<Throttle>> {
    let mut out = Vec::new();
    for t in hc[key].as_array().cloned().unwrap_or_default() {
        let path = t["Path"].as_str().unwrap_or("");
        let (_, major, minor) = device_numbers(path)?;
        out.push(Throttle {
            major,
            minor,
            rate: t[field].as_u64().unwrap_or(0),
        });
    }
    Ok(out)
}

/// The daemon's own hard limit on open files (containers may not exceed it).
fn nofile_hard() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes into the struct we pass.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0;
    if ok {
        r.rlim_max.min(1_048_576)
    } else {
        1024
    }
}

/// The environment a container's processes get, as Docker's
/// `CreateDaemonEnvironment`: a default PATH, HOSTNAME, TERM=xterm with a
/// TTY, the container's Env, then `extra` (an exec's own variables), later
/// values replacing earlier ones of the same name.
pub(crate) fn process_env(
    cfg: &Value,
    id: &str,
    links: &[String],
    extra: &[String],
) -> Vec<String> {
    let hostname = cfg["Hostname"]
        .as_str()
        .filter(|h| !h.is_empty())
        .unwrap_or(&id[..12.min(id.len())]);
    let mut env: Vec<String> = vec![
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        format!("HOSTNAME={hostname}"),
    ];
    if cfg["Tty"].as_bool() == Some(true) {
        env.push("TERM=xterm".into());
    }
    for kv in links
        .iter()
        .cloned()
        .chain(strings(cfg.get("Env")))
        .chain(extra.iter().cloned())
    {
        let key = kv.split('=').next().unwrap_or("").to_string();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(kv);
    }
    env
}

/// `env` with `HOME={home}` added when it sets no HOME (or an empty one),
/// as runc does for the process it starts. Done here, from the image's
/// /etc/passwd read by the daemon, so that the runtime never looks users
/// up through the C library inside the container.
pub(crate) fn with_home(mut env: Vec<String>, home: &str) -> Vec<String> {
    if env
        .iter()
        .any(|e| e.strip_prefix("HOME=").is_some_and(|h| !h.is_empty()))
    {
        return env;
    }
    env.retain(|e| !e.starts_with("HOME="));
    env.push(format!("HOME={home}"));
    env
}

/// The legacy-link variables of a container's current run (`--link`).
pub(crate) fn link_env(rec: &ContainerRecord) -> Vec<String> {
    rec.endpoints
        .get("bridge")
        .map(|e| e.link_env.clone())
        .unwrap_or_default()
}

/// Who a container's process runs as, from the image's /etc/passwd and
/// /etc/group (runc's `ExecUser`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, the primary one first.
    pub groups: Vec<u32>,
    /// The user's home directory (`HOME` when the environment has none):
    /// its passwd entry's, or `/` for a user the image does not list.
    pub home: String,
}

/// Resolves `user` (`name`, `uid`, either with `:group`; empty for root)
/// in the root filesystem at `rootfs`.
pub(crate) fn passwd_lookup(rootfs: &Path, user: &str) -> Result<ExecUser> {
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let read = |p: &str| -> String {
        berth_snapshot::mount::read_in_root(rootfs, p, 4 << 20)
            .ok()
            .flatten()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    let passwd = read("/etc/passwd");
    let group = read("/etc/group");
    let by_uid = |uid: &str| passwd.lines().find(|l| l.split(':').nth(2) == Some(uid));
    let (uid, mut gid, name, entry) = if u.is_empty() {
        (0, 0, "root".to_string(), by_uid("0"))
    } else if let Ok(n) = u.parse::<u32>() {
        let entry = by_uid(u);
        let gid = entry
            .and_then(|l| l.split(':').nth(3))
            .and_then(|g| g.parse().ok())
            .unwrap_or(n);
        let name = entry
            .and_then(|l| l.split(':').next())
            .unwrap_or("")
            .to_string();
        (n, gid, name, entry)
    } else {
        let entry = passwd
            .lines()
            .find(|l| l.split(':').next() == Some(u))
            .ok_or_else(|| {
                EngineError::invalid(format!(
                    "unable to find user {u}: no matching entries in passwd file"
                ))
            })?;
        let f: Vec<&str> = entry.split(':').collect();
        let uid = f.get(2).and_then(|x| x.parse().ok()).unwrap_or(0);
        let gid = f.get(3).and_then(|x| x.parse().ok()).unwrap_or(0);
        (uid, gid, u.to_string(), Some(entry))
    };
    let home = entry
        .and_then(|l| l.split(':').nth(5))
        .filter(|h| !h.is_empty())
        .unwrap_or("/")
        .to_string();
    if let Some(g) = g {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group
                .lines()
                .find(|l| l.split(':').next() == Some(g))
                .and_then(|l| l.split(':').nth(2))
                .and_then(|x| x.parse().ok())
                .ok_or_else(|| {
                    EngineError::invalid(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                })?,
        };
    }
    // As containerd does, the primary group is a supplementary group too.
    let mut extra = vec![gid];
    if !name.is_empty() {
        for l in group.lines() {
            let f: Vec<&str> = l.split(':').collect();
            if f.get(3).is_some_and(|m| m.split(',').any(|x| x == name)) {
                if let Some(id) = f.get(2).and_then(|x| x.parse::<u32>().ok()) {
                    if id != gid && !extra.contains(&id) {
                        extra.push(id);
                    }
                }
            }
        }
    }
    Ok(ExecUser {
        uid,
        gid,
        groups: extra,
        home,
    })
}

pub(crate) fn group_ids(rootfs: &Path, names: &[String]) -> Result<Vec<u32>> {
    let group = berth_snapshot::mount::read_in_root(rootfs, "/etc/group", 4 << 20)
        .ok()
        .flatten()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    names
        .iter()
        .map(|n| {
            n.parse::<u32>().or_else(|_| {
                group
                    .lines()
                    .find(|l| l.split(':').next() == Some(n.as_str()))
                    .and_then(|l| l.split(':').nth(2))
                    .and_then(|x| x.parse().ok())
                    .ok_or_else(|| {
                        EngineError::invalid(format!(
                            "Unable to find group {n}: no matching entries in group file"
                        ))
                    })
            })
        })
        .collect()
}

impl Engine {
    fn namespace_of(&self, mode: &str, kind: &str) -> Result<NsMode> {
        if mode == "host" {
            return Ok(NsMode::Host);
        }
        if let Some(other) = mode.strip_prefix("container:") {
            let c = self.resolve_container(other)?;
            if !c.state.running {
                return Err(EngineError::conflict(format!(
                    "cannot join network namespace of a non running container: container {} is {}",
                    c.id, c.state.status
                )));
            }
            return Ok(NsMode::Join(format!("/proc/{}/ns/{kind}", c.state.pid)));
        }
        Ok(NsMode::Private)
    }

    /// The /dev/shm of a container in IPC mode `mode`, as Docker makes it:
    /// the host's for `host`, a host-side tmpfs others may join for
    /// `shareable`, the donor's for `container:NAME` (which must be
    /// shareable), none for `none`, else a private tmpfs.
    fn shm_for(&self, id: &str, mode: &str, size: u64) -> Result<Shm> {
        Ok(match mode {
            "host" => Shm::Bind("/dev/shm".into()),
            "none" => Shm::None,
            "shareable" => Shm::Bind(self.mount_shared_shm(id, size)?.display().to_string()),
            m if m.starts_with("container:") => {
                let donor = self.resolve_container(&m["container:".len()..])?;
                match donor.host_config["IpcMode"].as_str().unwrap_or("") {
                    "host" => Shm::Bind("/dev/shm".into()),
                    "shareable" => {
                        let dir = self.container_dirs(&donor.id).root.join("shm");
                        if !berth_snapshot::mount::is_mounted(&dir) {
                            return Err(EngineError::conflict(format!(
                                "container {} has no /dev/shm to share: is it running?",
                                donor.id
                            )));
                        }
                        Shm::Bind(dir.display().to_string())
                    }
                    _ => {
                        return Err(EngineError::invalid(format!(
                            "cannot join IPC of container {}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)",
                            donor.id
                        )))
                    }
                }
            }
            _ => Shm::Private,
        })
    }

    /// Builds the runtime spec of a container whose root filesystem is
    /// mounted at `rootfs`.
    pub(crate) fn runtime_spec(
        &self,
        rec: &ContainerRecord,
        rootfs: &Path,
    ) -> Result<ContainerSpec> {
        let cfg = &rec.config;
        let hc = &rec.host_config;
        let dirs = self.container_dirs(&rec.id);
        let ExecUser {
            uid,
            gid,
            groups: mut extra,
            home,
        } = passwd_lookup(rootfs, cfg["User"].as_str().unwrap_or(""))?;
        for g in group_ids(rootfs, &strings(hc.get("GroupAdd")))? {
            if !extra.contains(&g) {
                extra.push(g);
            }
        }
        let caps = capabilities(hc)?;
        let sec = security_opts(hc)?;
        let privileged = hc["Privileged"].as_bool() == Some(true);
        let seccomp = if privileged {
            None
        } else {
            match &sec.seccomp {
                SeccompChoice::Unconfined => None,
                SeccompChoice::Default => Some(
                    serde_json::to_value(berth_runtime::seccomp::default_profile(&caps))
                        .map_err(|e| EngineError::internal(format!("seccomp profile: {e}")))?,
                ),
                SeccompChoice::Profile(p) => Some(
                    serde_json::to_value(
                        berth_runtime::seccomp::from_docker_json(p.as_bytes(), &caps)
                            .map_err(|e| EngineError::invalid(e.to_string()))?,
                    )
                    .map_err(|e| EngineError::internal(format!("seccomp profile: {e}")))?,
                ),
            }
        };
        let mode = |k: &str| hc[k].as_str().unwrap_or("").to_string();
        let net = match mode("NetworkMode").as_str() {
            "host" => NsMode::Host,
            m if m.starts_with("container:") => self.namespace_of(m, "net")?,
            _ => NsMode::Private,
        };
        let namespaces = berth_runtime::spec::Namespaces {
            pid: self.namespace_of(&mode("PidMode"), "pid")?,
            net,
            ipc: self.namespace_of(&mode("IpcMode"), "ipc")?,
            uts: self.namespace_of(&mode("UTSMode"), "uts")?,
            cgroup: if mode("CgroupnsMode") == "host" {
                NsMode::Host
            } else {
                NsMode::Private
            },
        };
        // Mounts: the /etc files, tmpfs, binds — each destination created
        // inside the root filesystem without following links out of it.
        let mut mounts = Vec::new();
        let user_targets: Vec<String> = rec
            .mounts
            .iter()
            .map(|m| m.destination.clone())
            .chain(
                hc["Tmpfs"]
                    .as_object()
                    .map(|m| m.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default(),
            )
            .collect();
        for f in ["resolv.conf", "hostname", "hosts"] {
            let dest = format!("/etc/{f}");
            if user_targets.contains(&dest) {
                continue;
            }
            mounts.push(Mount {
                destination: dest,
                kind: "bind".into(),
                source: dirs.root.join(f).display().to_string(),
                options: vec!["rbind".into(), "rprivate".into()],
            });
        }
        if let Some(Value::Object(t)) = hc.get("Tmpfs") {
            for (dest, opts) in t {
                let mut options: Vec<String> =
                    vec!["nosuid".into(), "nodev".into(), "noexec".into()];
                for o in opts
                    .as_str()
                    .unwrap_or("")
                    .split(',')
                    .filter(|o| !o.is_empty())
                {
                    match o {
                        "exec" => options.retain(|x| x != "noexec"),
                        "suid" => options.retain(|x| x != "nosuid"),
                        "dev" => options.retain(|x| x != "nodev"),
                        o => options.push(o.to_string()),
                    }
                }
                let dest = berth_snapshot::mount::mkdir_in_root(rootfs, dest, 0o755)
                    .map_err(|e| EngineError::invalid(format!("tmpfs mount point {dest}: {e}")))?;
                mounts.push(Mount {
                    destination: dest,
                    kind: "tmpfs".into(),
                    source: "tmpfs".into(),
                    options,
                });
            }
        }
        for m in self.resolve_mounts(rec, rootfs)? {
            mounts.push(Mount {
                destination: m.destination,
                kind: m.kind,
                source: m.source,
                options: m.options,
            });
        }
        let mut devices = Vec::new();
        for d in hc["Devices"].as_array().cloned().unwrap_or_default() {
            let host = d["PathOnHost"].as_str().unwrap_or("");
            let inside = d["PathInContainer"]
                .as_str()
                .filter(|s| !s.is_empty())
                .unwrap_or(host);
            let (kind, major, minor) = device_numbers(host)?;
            devices.push(Device {
                path: inside.to_string(),
                kind,
                major,
                minor,
                file_mode: 0o660,
                permissions: d["CgroupPermissions"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .unwrap_or("rwm")
                    .to_string(),
            });
        }
        if privileged {
            // As Docker: a privileged container sees the host's devices.
            for d in host_devices() {
                if !devices.iter().any(|x: &Device| x.path == d.path) {
                    devices.push(d);
                }
            }
        }
        let mut device_rules = Vec::new();
        for r in strings(hc.get("DeviceCgroupRules")) {
            let f: Vec<&str> = r.split_whitespace().collect();
            let (Some(kind), Some(nums), Some(access)) = (f.first(), f.get(1), f.get(2)) else {
                return Err(EngineError::invalid(format!(
                    "invalid device cgroup rule: {r}"
                )));
            };
            let (maj, min) = nums.split_once(':').unwrap_or((nums, "*"));
            let num = |s: &str| -> Result<Option<i64>> {
                if s == "*" {
                    Ok(None)
                } else {
                    s.parse().map(Some).map_err(|_| {
                        EngineError::invalid(format!("invalid device cgroup rule: {r}"))
                    })
                }
            };
            device_rules.push(DeviceRule {
                allow: true,
                kind: kind.to_string(),
                major: num(maj)?,
                minor: num(min)?,
                access: access.to_string(),
            });
        }
        let resources = resources(hc)?;
        let hard = nofile_hard();
        let mut rlimits = vec![("RLIMIT_NOFILE".to_string(), hard, hard)];
        for u in hc["Ulimits"].as_array().cloned().unwrap_or_default() {
            let Some(name) = rlimit_name(u["Name"].as_str().unwrap_or("")) else {
                continue;
            };
            let soft = u["Soft"].as_u64().unwrap_or(0);
            let h = u["Hard"].as_u64().unwrap_or(soft);
            rlimits.retain(|(n, _, _)| *n != name);
            rlimits.push((name, soft, h));
        }
        let sysctl: BTreeMap<String, String> = hc["Sysctls"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let mut args = vec![rec.path.clone()];
        args.extend(rec.args.iter().cloned());
        if hc["Init"].as_bool() == Some(true) {
            // Docker's --init: tini, bind-mounted as /sbin/docker-init.
            let init = std::path::Path::new(INIT_BINARY);
            if !init.is_file() {
                return Err(EngineError::invalid(format!(
                    "--init needs {INIT_BINARY}, which is missing: install Debian's tini package"
                )));
            }
            let sbin = berth_snapshot::mount::mkdir_in_root(rootfs, "/sbin", 0o755)
                .map_err(|e| EngineError::invalid(format!("/sbin for docker-init: {e}")))?;
            mounts.push(Mount {
                destination: format!("{}/docker-init", sbin.trim_end_matches('/')),
                kind: "bind".into(),
                source: INIT_BINARY.into(),
                options: vec!["bind".into(), "ro".into(), "rprivate".into()],
            });
            let mut with_init = vec!["/sbin/docker-init".to_string(), "--".to_string()];
            with_init.append(&mut args);
            args = with_init;
        }
        let shm_size = hc["ShmSize"]
            .as_u64()
            .filter(|s| *s > 0)
            .unwrap_or(64 << 20);
        let shm = self.shm_for(&rec.id, &mode("IpcMode"), shm_size)?;
        Ok(ContainerSpec {
            id: rec.id.clone(),
            rootfs: rootfs.to_path_buf(),
            readonly_rootfs: hc["ReadonlyRootfs"].as_bool() == Some(true),
            args,
            env: with_home(process_env(cfg, &rec.id, &link_env(rec), &[]), &home),
            cwd: cfg["WorkingDir"]
                .as_str()
                .filter(|s| !s.is_empty())
                .unwrap_or("/")
                .to_string(),
            uid,
            gid,
            additional_gids: extra,
            terminal: cfg["Tty"].as_bool() == Some(true),
            hostname: cfg["Hostname"]
                .as_str()
                .unwrap_or(&rec.id[..12])
                .to_string(),
            domainname: cfg["Domainname"].as_str().unwrap_or("").to_string(),
            capabilities: caps,
            privileged,
            no_new_privileges: sec.no_new_privileges,
            seccomp,
            namespaces,
            mounts,
            shm_size,
            shm,
            cgroup_path: berth_runtime::cgroups::container_path(&rec.id),
            resources,
            devices,
            device_rules,
            rlimits,
            sysctl,
            oom_score_adj: hc["OomScoreAdj"]
                .as_i64()
                .filter(|a| *a != 0)
                .map(|a| a as i32),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_arithmetic() {
        let d = capabilities(&json!({})).unwrap();
        assert_eq!(d.len(), DEFAULT_CAPABILITIES.len());
        let c = capabilities(&json!({"CapDrop": ["ALL"], "CapAdd": ["net_admin"]})).unwrap();
        assert_eq!(c, vec!["CAP_NET_ADMIN"]);
        let c = capabilities(&json!({"CapDrop": ["chown"]})).unwrap();
        assert!(!c.contains(&"CAP_CHOWN".to_string()));
        let c = capabilities(&json!({"CapAdd": ["ALL"], "CapDrop": ["SYS_ADMIN"]})).unwrap();
        assert!(
            c.contains(&"CAP_SYS_ADMIN".to_string()),
            "ALL in add wins as in Docker"
        );
        assert!(capabilities(&json!({"CapAdd": ["CAP_BOGUS"]})).is_err());
        assert_eq!(
            capabilities(&json!({"Privileged": true})).unwrap(),
            host_capabilities()
        );
    }

    #[test]
    fn signals() {
        assert_eq!(signal_number("SIGTERM"), Some(15));
        assert_eq!(signal_number("kill"), Some(9));
        assert_eq!(signal_number("10"), Some(10));
        assert_eq!(signal_number("SIGRTMIN+1"), Some(35));
        assert_eq!(signal_number("NOPE"), None);
    }

    #[test]
    fn host_config_checks() {
        let mut hc = json!({"Memory": 1024});
        assert_eq!(
            validate_host_config(&mut hc).unwrap_err().message,
            "Minimum memory limit allowed is 6MB"
        );
        let mut hc = json!({"RestartPolicy": {"Name": "always", "MaximumRetryCount": 3}});
        assert!(validate_host_config(&mut hc).is_err());
        let mut hc = json!({"AutoRemove": true, "RestartPolicy": {"Name": "always"}});
        assert!(validate_host_config(&mut hc).is_err());
        let mut hc = json!({"NanoCpus": 1_000_000_000_000i64});
        assert!(validate_host_config(&mut hc)
            .unwrap_err()
            .message
            .starts_with("Range of CPUs"));
        let mut hc = json!({});
        validate_host_config(&mut hc).unwrap();
        assert_eq!(hc["NetworkMode"], "bridge");
        assert_eq!(hc["ShmSize"], 64 << 20);
        let mut hc = json!({"SecurityOpt": ["bogus"]});
        assert!(validate_host_config(&mut hc).is_err());
    }

    #[test]
    fn users_from_the_image() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\nwww:x:33:\naudio:x:29:www\n",
        )
        .unwrap();
        let ids = |u: &str| {
            let e = passwd_lookup(dir.path(), u).unwrap();
            (e.uid, e.gid, e.groups, e.home)
        };
        assert_eq!(ids(""), (0, 0, vec![0], "/root".into()));
        assert_eq!(ids("www"), (33, 33, vec![33, 29], "/var/www".into()));
        assert_eq!(ids("33"), (33, 33, vec![33, 29], "/var/www".into()));
        // A uid the image does not list: its home is /, as runc's.
        assert_eq!(ids("1000:1000"), (1000, 1000, vec![1000], "/".into()));
        assert_eq!(ids("www:root"), (33, 0, vec![0, 29], "/var/www".into()));
        assert!(passwd_lookup(dir.path(), "nobody")
            .unwrap_err()
            .message
            .contains("unable to find user nobody"));
        assert_eq!(
            group_ids(dir.path(), &["audio".into(), "7".into()]).unwrap(),
            vec![29, 7]
        );
    }

    #[test]
    fn home_is_added_unless_the_environment_sets_one() {
        let env = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            with_home(env(&["PATH=/bin"]), "/root"),
            env(&["PATH=/bin", "HOME=/root"])
        );
        assert_eq!(
            with_home(env(&["HOME=/data", "PATH=/bin"]), "/root"),
            env(&["HOME=/data", "PATH=/bin"])
        );
        assert_eq!(
            with_home(env(&["HOME=", "PATH=/bin"]), "/"),
            env(&["PATH=/bin", "HOME=/"])
        );
    }
}
