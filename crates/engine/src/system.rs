//! System-wide information: `/version`, `/info`, `/system/df`, read from the
//! engine's state and from the host (kernel, CPUs, memory, cgroups).

use serde_json::{json, Value};

use crate::error::Result;
use crate::images::import::host_arch;
use crate::images::ImageFilters;
use crate::Engine;

/// berth's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Highest Engine API version served.
pub const API_VERSION: &str = "1.47";
/// Lowest Engine API version served.
pub const MIN_API_VERSION: &str = "1.24";

/// Facts about the host.
pub struct HostFacts {
    /// `uname -r`.
    pub kernel: String,
    /// PRETTY_NAME of /etc/os-release.
    pub os_name: String,
    /// VERSION_ID of /etc/os-release.
    pub os_version: String,
    /// Host name.
    pub hostname: String,
    /// Online CPUs.
    pub ncpu: usize,
    /// Total memory, bytes.
    pub mem_total: u64,
    /// "1" or "2".
    pub cgroup_version: String,
}

/// Reads the host facts.
pub fn host_facts() -> HostFacts {
    let uts = rustix::system::uname();
    let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let field = |k: &str| {
        os_release
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_default()
    };
    let mem_total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0);
    HostFacts {
        kernel: uts.release().to_string_lossy().to_string(),
        os_name: field("PRETTY_NAME"),
        os_version: field("VERSION_ID"),
        hostname: uts.nodename().to_string_lossy().to_string(),
        ncpu: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        mem_total,
        cgroup_version: cgroup_version(),
    }
}

/// "2" when /sys/fs/cgroup is a unified (v2) hierarchy, else "1".
pub fn cgroup_version() -> String {
    if berth_runtime::cgroups::is_unified() {
        "2"
    } else {
        "1"
    }
    .into()
}

#[allow(clippy::unnecessary_cast)] // f_type is not i64 on every target
fn backing_fs(path: &std::path::Path) -> &'static str {
    match rustix::fs::statfs(path).map(|s| s.f_type as i64) {
        Ok(0xef53) => "extfs",
        Ok(0x5846_5342) => "xfs",
        Ok(0x9123_683e) => "btrfs",
        Ok(0x0102_1994) => "tmpfs",
        Ok(0x794c_7630) => "overlayfs",
        _ => "<unknown>",
    }
}

impl Engine {
    /// `GET /version`.
    pub fn version(&self) -> Value {
        let h = host_facts();
        let details = json!({
            "ApiVersion": API_VERSION,
            "Arch": host_arch(),
            "BuildTime": "",
            "Experimental": "false",
            "GitCommit": option_env!("BERTH_GIT_COMMIT").unwrap_or("unknown"),
            "GoVersion": "rust",
            "KernelVersion": h.kernel,
            "MinAPIVersion": MIN_API_VERSION,
            "Os": "linux",
        });
        json!({
            "Platform": {"Name": format!("berth {VERSION}")},
            "Components": [{"Name": "Engine", "Version": VERSION, "Details": details}],
            "Version": VERSION,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": option_env!("BERTH_GIT_COMMIT").unwrap_or("unknown"),
            "GoVersion": "rust",
            "Os": "linux",
            "Arch": host_arch(),
            "KernelVersion": h.kernel,
            "BuildTime": "",
        })
    }

    /// `GET /info`.
    pub fn info(&self) -> Result<Value> {
        let h = host_facts();
        let images = self.image_records()?.len();
        let containers = self.container_records()?;
        let running = containers
            .iter()
            .filter(|c| c.state.running && !c.state.paused)
            .count();
        let paused = containers.iter().filter(|c| c.state.paused).count();
        let stopped = containers.len() - running - paused;
        let labels: Vec<&String> = self.config.labels.iter().collect();
        let fds = std::fs::read_dir("/proc/self/fd")
            .map(|d| d.count())
            .unwrap_or(0);
        let threads = std::fs::read_dir("/proc/self/task")
            .map(|d| d.count())
            .unwrap_or(0);
        Ok(json!({
            "ID": self.id,
            "Containers": containers.len(), "ContainersRunning": running, "ContainersPaused": paused, "ContainersStopped": stopped,
            "Images": images,
            "Driver": self.config.storage_driver,
            "DriverStatus": [
                ["Backing Filesystem", backing_fs(&self.config.data_root)],
                ["Supports d_type", "true"],
                ["Using metacopy", "false"],
                ["Native Overlay Diff", "true"],
                ["userxattr", "false"],
            ],
            "Plugins": {
                "Volume": ["local"],
                "Network": ["bridge", "host", "none"],
                "Authorization": null,
                "Log": ["json-file"],
            },
            "MemoryLimit": true, "SwapLimit": true, "KernelMemoryTCP": false,
            "CpuCfsPeriod": true, "CpuCfsQuota": true, "CPUShares": true, "CPUSet": true,
            "PidsLimit": true, "IPv4Forwarding": true, "BridgeNfIptables": true, "BridgeNfIp6tables": true,
            "Debug": self.config.debug,
            "NFd": fds,
            "OomKillDisable": h.cgroup_version == "1",
            "NGoroutines": threads,
            "SystemTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": h.cgroup_version,
            "NEventsListener": 0,
            "KernelVersion": h.kernel,
            "OperatingSystem": h.os_name,
            "OSVersion": h.os_version,
            "OSType": "linux",
            "Architecture": std::env::consts::ARCH,
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": self.config.registry.info(),
            "NCPU": h.ncpu,
            "MemTotal": h.mem_total,
            "GenericResources": null,
            "DockerRootDir": self.config.data_root.display().to_string(),
            "HttpProxy": "", "HttpsProxy": "", "NoProxy": "",
            "Name": h.hostname,
            "Labels": labels,
            "ExperimentalBuild": false,
            "ServerVersion": crate::system::VERSION,
            "Runtimes": {"berth": {"path": "berth"}},
            "DefaultRuntime": "berth",
            "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
            "LiveRestoreEnabled": true,
            "Isolation": "",
            "InitBinary": "",
            "ContainerdCommit": {"ID": "", "Expected": ""},
            "RuncCommit": {"ID": "", "Expected": ""},
            "InitCommit": {"ID": "", "Expected": ""},
            "SecurityOptions": ["name=seccomp,profile=builtin"],
            "Warnings": null,
        }))
    }

    /// `GET /system/df`.
    pub fn disk_usage(&self) -> Result<Value> {
        let mut images = self.list_images(&ImageFilters::default(), true, (1, 47))?;
        let containers = self.container_records()?;
        for i in images.iter_mut() {
            let id = i["Id"].as_str().unwrap_or("").to_string();
            i["Containers"] = json!(containers.iter().filter(|c| c.image_id == id).count());
            i["SharedSize"] = json!(0);
        }
        let list = self.list_containers(true, None, true, None)?;
        Ok(json!({
            "LayersSize": self.layer_bytes()?,
            "Images": images,
            "Containers": list,
            "Volumes": self.volumes_usage()?,
            "BuildCache": self.build_cache_usage()?,
        }))
    }
}
