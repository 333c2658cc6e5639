//! The OCI runtime spec of a container (`config.json`), built from
//! [`ContainerSpec`]: berth's own, Docker-free description of what to run and
//! how to confine it. Defaults follow Docker's: its capability set, masked
//! and read-only /proc paths, /dev nodes and device cgroup rules, mounts.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Docker's default capabilities.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability the kernel knows (for `--privileged` and `--cap-add ALL`).
pub const ALL_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Paths Docker masks in /proc and /sys.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths Docker makes read-only in /proc.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// How a namespace is set up.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub enum NsMode {
    /// A new namespace.
    #[default]
    Private,
    /// The host's (no namespace entry).
    Host,
    /// Join the namespace at this path (`/proc/PID/ns/net`).
    Join(String),
}

/// Namespaces of a container.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Namespaces {
    /// PID namespace.
    pub pid: NsMode,
    /// Network namespace.
    pub net: NsMode,
    /// IPC namespace.
    pub ipc: NsMode,
    /// UTS namespace.
    pub uts: NsMode,
    /// Cgroup namespace.
    pub cgroup: NsMode,
}

/// A mount inside the container.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Mount {
    /// Where, inside the container.
    pub destination: String,
    /// Filesystem type ("bind", "tmpfs", …).
    pub kind: String,
    /// Source (a host path for binds).
    pub source: String,
    /// Mount options ("rbind", "ro", "size=64m", …).
    pub options: Vec<String>,
}

/// The propagation of the container's mount tree, from its mounts' (as
/// Docker sets it): a shared bind needs the tree shared (its peer group with
/// the host kept), a slave bind needs it slave; private otherwise, so that
/// nothing the container mounts reaches the host. libcontainer applies it
/// recursively to "/", then makes the rootfs' parent private, so the
/// container's own mounts stay inside whatever it is.
pub fn rootfs_propagation(mounts: &[Mount]) -> &'static str {
    let has = |flags: &[&str]| {
        mounts
            .iter()
            .any(|m| m.options.iter().any(|o| flags.contains(&o.as_str())))
    };
    if has(&["shared", "rshared"]) {
        "shared"
    } else if has(&["slave", "rslave"]) {
        "slave"
    } else {
        "private"
    }
}

/// A device node to create in the container.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Device {
    /// Path inside the container.
    pub path: String,
    /// "c" or "b".
    pub kind: String,
    /// Major number.
    pub major: i64,
    /// Minor number.
    pub minor: i64,
    /// Mode bits.
    pub file_mode: u32,
    /// cgroup permissions ("rwm").
    pub permissions: String,
}

/// A device-cgroup rule (`--device-cgroup-rule`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeviceRule {
    /// Allow or deny.
    pub allow: bool,
    /// "c", "b" or "a".
    pub kind: String,
    /// Major (None = any).
    pub major: Option<i64>,
    /// Minor (None = any).
    pub minor: Option<i64>,
    /// "rwm".
    pub access: String,
}

/// A throttle on one block device.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Throttle {
    /// Major of the device.
    pub major: i64,
    /// Minor of the device.
    pub minor: i64,
    /// Bytes or operations per second; or weight.
    pub rate: u64,
}

/// cgroup limits.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Resources {
    /// Memory limit, bytes.
    pub memory: Option<i64>,
    /// Memory + swap limit, bytes (-1 unlimited).
    pub memory_swap: Option<i64>,
    /// Soft limit, bytes.
    pub memory_reservation: Option<i64>,
    /// Swappiness 0–100.
    pub memory_swappiness: Option<u64>,
    /// Disable the OOM killer.
    pub oom_kill_disable: Option<bool>,
    /// CPU shares (relative weight).
    pub cpu_shares: Option<u64>,
    /// CFS quota, µs.
    pub cpu_quota: Option<i64>,
    /// CFS period, µs.
    pub cpu_period: Option<u64>,
    /// Real-time period, µs.
    pub cpu_rt_period: Option<u64>,
    /// Real-time runtime, µs.
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs allowed ("0-1").
    pub cpuset_cpus: Option<String>,
    /// Memory nodes allowed.
    pub cpuset_mems: Option<String>,
    /// Maximum number of processes.
    pub pids_limit: Option<i64>,
    /// Block I/O weight 10–1000.
    pub blkio_weight: Option<u16>,
    /// Per-device weights.
    pub blkio_weight_device: Vec<Throttle>,
    /// Read bytes/s per device.
    pub read_bps: Vec<Throttle>,
    /// Write bytes/s per device.
    pub write_bps: Vec<Throttle>,
    /// Read IO/s per device.
    pub read_iops: Vec<Throttle>,
    /// Write IO/s per device.
    pub write_iops: Vec<Throttle>,
}

/// The container's /dev/shm (Docker's IPC modes).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub enum Shm {
    /// A tmpfs of its own (`private`).
    #[default]
    Private,
    /// A host directory bound in: the host's /dev/shm (`host`), or a
    /// shareable container's (`shareable`, `container:NAME`).
    Bind(String),
    /// No /dev/shm at all (`none`).
    None,
}

/// Everything the runtime needs to know to start a container.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// Container ID.
    pub id: String,
    /// The root filesystem (an overlay mount point).
    pub rootfs: PathBuf,
    /// Mount the root filesystem read-only.
    pub readonly_rootfs: bool,
    /// The command.
    pub args: Vec<String>,
    /// Environment, `K=V`.
    pub env: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// User ID.
    pub uid: u32,
    /// Group ID.
    pub gid: u32,
    /// Supplementary groups.
    pub additional_gids: Vec<u32>,
    /// Allocate a terminal.
    pub terminal: bool,
    /// Host name.
    pub hostname: String,
    /// Domain name.
    pub domainname: String,
    /// Capabilities (bounding = effective = permitted).
    pub capabilities: Vec<String>,
    /// `--privileged`: all devices, no masked paths, writable /sys.
    pub privileged: bool,
    /// `no-new-privileges`.
    pub no_new_privileges: bool,
    /// Seccomp filter (OCI JSON), None for unconfined.
    pub seccomp: Option<Value>,
    /// Namespaces.
    pub namespaces: Namespaces,
    /// Extra mounts (volumes, binds, tmpfs, /etc files), in order.
    pub mounts: Vec<Mount>,
    /// Size of /dev/shm in bytes.
    pub shm_size: u64,
    /// What /dev/shm is.
    pub shm: Shm,
    /// cgroup path, e.g. "/berth/<id>".
    pub cgroup_path: String,
    /// Limits.
    pub resources: Resources,
    /// Extra device nodes.
    pub devices: Vec<Device>,
    /// Extra device-cgroup rules.
    pub device_rules: Vec<DeviceRule>,
    /// Resource limits: (RLIMIT_NAME, soft, hard).
    pub rlimits: Vec<(String, u64, u64)>,
    /// Kernel parameters.
    pub sysctl: BTreeMap<String, String>,
    /// OOM score adjustment.
    pub oom_score_adj: Option<i32>,
}

fn default_devices() -> Vec<Device> {
    let d = |path: &str, major, minor| Device {
        path: path.into(),
        kind: "c".into(),
        major,
        minor,
        file_mode: 0o666,
        permissions: "rwm".into(),
    };
    vec![
        d("/dev/null", 1, 3),
        d("/dev/zero", 1, 5),
        d("/dev/full", 1, 7),
        d("/dev/random", 1, 8),
        d("/dev/urandom", 1, 9),
        d("/dev/tty", 5, 0),
    ]
}

fn ns_entries(ns: &Namespaces) -> Vec<Value> {
    let mut out = vec![json!({"type": "mount"})];
    for (kind, mode) in [
        ("pid", &ns.pid),
        ("network", &ns.net),
        ("ipc", &ns.ipc),
        ("uts", &ns.uts),
        ("cgroup", &ns.cgroup),
    ] {
        match mode {
            NsMode::Private => out.push(json!({"type": kind})),
            NsMode::Join(p) => out.push(json!({"type": kind, "path": p})),
            NsMode::Host => {}
        }
    }
    out
}

fn throttles(list: &[Throttle], key: &str) -> Value {
    Value::Array(
        list.iter()
            .map(|t| json!({"major": t.major, "minor": t.minor, key: t.rate}))
            .collect(),
    )
}

/// Builds the OCI runtime spec (`config.json`) for `c`.
pub fn build(c: &ContainerSpec) -> Value {
    let caps: Vec<&String> = c.capabilities.iter().collect();
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", if c.privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", if c.privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
    ];
    match &c.shm {
        Shm::Bind(source) => mounts.push(json!({"destination": "/dev/shm", "type": "bind", "source": source, "options": ["rbind", "nosuid", "noexec", "nodev"]})),
        Shm::Private => mounts.push(json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={}", c.shm_size.max(4096))]})),
        Shm::None => {}
    }
    for m in &c.mounts {
        mounts.push(json!({"destination": m.destination, "type": m.kind, "source": m.source, "options": m.options}));
    }
    let mut devices = default_devices();
    devices.extend(c.devices.iter().cloned());
    let mut dev_rules = vec![json!({"allow": false, "access": "rwm"})];
    if c.privileged {
        dev_rules = vec![json!({"allow": true, "access": "rwm"})];
    } else {
        dev_rules.push(json!({"allow": true, "type": "c", "access": "m"}));
        dev_rules.push(json!({"allow": true, "type": "b", "access": "m"}));
        for (maj, min) in [
            (1, Some(3)),
            (1, Some(5)),
            (1, Some(7)),
            (1, Some(8)),
            (1, Some(9)),
            (5, Some(0)),
            (5, Some(1)),
            (5, Some(2)),
            (136, None),
            (10, Some(200)),
        ] {
            dev_rules.push(
                json!({"allow": true, "type": "c", "major": maj, "minor": min, "access": "rwm"}),
            );
        }
        for d in &c.devices {
            dev_rules.push(json!({"allow": true, "type": d.kind, "major": d.major, "minor": d.minor, "access": d.permissions}));
        }
    }
    for r in &c.device_rules {
        let mut v = json!({"allow": r.allow, "type": r.kind, "access": r.access});
        if let Some(m) = r.major {
            v["major"] = json!(m);
        }
        if let Some(m) = r.minor {
            v["minor"] = json!(m);
        }
        dev_rules.push(v);
    }
    let r = &c.resources;
    let mut memory = serde_json::Map::new();
    if let Some(v) = r.memory {
        memory.insert("limit".into(), json!(v));
    }
    if let Some(v) = r.memory_swap {
        memory.insert("swap".into(), json!(v));
    }
    if let Some(v) = r.memory_reservation {
        memory.insert("reservation".into(), json!(v));
    }
    if let Some(v) = r.memory_swappiness {
        memory.insert("swappiness".into(), json!(v));
    }
    if let Some(v) = r.oom_kill_disable {
        memory.insert("disableOOMKiller".into(), json!(v));
    }
    let mut cpu = serde_json::Map::new();
    for (k, v) in [
        ("shares", r.cpu_shares.map(|v| json!(v))),
        ("quota", r.cpu_quota.map(|v| json!(v))),
        ("period", r.cpu_period.map(|v| json!(v))),
        ("realtimePeriod", r.cpu_rt_period.map(|v| json!(v))),
        ("realtimeRuntime", r.cpu_rt_runtime.map(|v| json!(v))),
        ("cpus", r.cpuset_cpus.as_ref().map(|v| json!(v))),
        ("mems", r.cpuset_mems.as_ref().map(|v| json!(v))),
    ] {
        if let Some(v) = v {
            cpu.insert(k.into(), v);
        }
    }
    let mut resources = json!({"devices": dev_rules});
    if !memory.is_empty() {
        resources["memory"] = Value::Object(memory);
    }
    if !cpu.is_empty() {
        resources["cpu"] = Value::Object(cpu);
    }
    if let Some(p) = r.pids_limit {
        resources["pids"] = json!({"limit": p});
    }
    let mut blkio = serde_json::Map::new();
    // On v2 the weight is set after creation (cgroups::set_io_weight_v2),
    // as runc does, picking io.bfq.weight or io.weight.
    if let Some(w) = r.blkio_weight.filter(|_| !crate::cgroups::is_unified()) {
        blkio.insert("weight".into(), json!(w));
    }
    if !r.blkio_weight_device.is_empty() {
        blkio.insert(
            "weightDevice".into(),
            throttles(&r.blkio_weight_device, "weight"),
        );
    }
    for (k, list) in [
        ("throttleReadBpsDevice", &r.read_bps),
        ("throttleWriteBpsDevice", &r.write_bps),
        ("throttleReadIOPSDevice", &r.read_iops),
        ("throttleWriteIOPSDevice", &r.write_iops),
    ] {
        if !list.is_empty() {
            blkio.insert(k.into(), throttles(list, "rate"));
        }
    }
    if !blkio.is_empty() {
        resources["blockIO"] = Value::Object(blkio);
    }
    let rlimits: Vec<Value> = c
        .rlimits
        .iter()
        .map(|(t, soft, hard)| json!({"type": t, "soft": soft, "hard": hard}))
        .collect();
    let mut process = json!({
        "terminal": c.terminal,
        "user": {"uid": c.uid, "gid": c.gid, "additionalGids": c.additional_gids},
        "args": c.args,
        "env": c.env,
        "cwd": if c.cwd.is_empty() { "/" } else { c.cwd.as_str() },
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "rlimits": rlimits,
    });
    // Only when set: libcontainer 0.7 treats `false` like `true` for the
    // order of seccomp and capability dropping, and then cannot load the
    // filter without no_new_privs.
    if c.no_new_privileges {
        process["noNewPrivileges"] = json!(true);
    }
    if let Some(adj) = c.oom_score_adj {
        process["oomScoreAdj"] = json!(adj);
    }
    let mut linux = json!({
        "namespaces": ns_entries(&c.namespaces),
        "cgroupsPath": c.cgroup_path,
        "resources": resources,
        "devices": devices.iter().map(|d| json!({"path": d.path, "type": d.kind, "major": d.major, "minor": d.minor, "fileMode": d.file_mode, "uid": 0, "gid": 0})).collect::<Vec<_>>(),
        "sysctl": c.sysctl,
        "rootfsPropagation": rootfs_propagation(&c.mounts),
    });
    if !c.privileged {
        linux["maskedPaths"] = json!(MASKED_PATHS);
        linux["readonlyPaths"] = json!(READONLY_PATHS);
    }
    if let Some(s) = &c.seccomp {
        linux["seccomp"] = s.clone();
    }
    let mut spec = json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": c.rootfs, "readonly": c.readonly_rootfs},
        "mounts": mounts,
        "linux": linux,
    });
    if c.namespaces.uts != NsMode::Host {
        spec["hostname"] = json!(c.hostname);
        if !c.domainname.is_empty() {
            spec["domainname"] = json!(c.domainname);
        }
    }
    spec
}

/// Checks the spec parses as OCI (catches mistakes before a container starts).
pub fn validate(spec: &Value) -> Result<(), String> {
    serde_json::from_value::<oci_spec::runtime::Spec>(spec.clone())
        .map(|_| ())
        .map_err(|e| format!("invalid OCI spec: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ContainerSpec {
        ContainerSpec {
            id: "abc".into(),
            rootfs: "/tmp/rootfs".into(),
            args: vec!["sh".into()],
            env: vec!["PATH=/bin".into()],
            hostname: "abc".into(),
            capabilities: DEFAULT_CAPABILITIES.iter().map(|s| s.to_string()).collect(),
            cgroup_path: "/berth/abc".into(),
            shm_size: 64 << 20,
            resources: Resources {
                memory: Some(64 << 20),
                cpu_quota: Some(50000),
                cpu_period: Some(100000),
                pids_limit: Some(10),
                ..Default::default()
            },
            rlimits: vec![("RLIMIT_NOFILE".into(), 1024, 1024)],
            ..Default::default()
        }
    }

    #[test]
    fn builds_a_valid_spec() {
        let s = build(&sample());
        validate(&s).unwrap();
        assert_eq!(s["linux"]["resources"]["memory"]["limit"], 64 << 20);
        assert_eq!(s["linux"]["resources"]["pids"]["limit"], 10);
        assert_eq!(s["hostname"], "abc");
        assert!(s["linux"]["maskedPaths"]
            .as_array()
            .unwrap()
            .contains(&json!("/proc/kcore")));
        let ns: Vec<&str> = s["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns, vec!["mount", "pid", "network", "ipc", "uts", "cgroup"]);
    }

    #[test]
    fn host_namespaces_and_privileged() {
        let mut c = sample();
        c.namespaces.net = NsMode::Host;
        c.namespaces.pid = NsMode::Join("/proc/1/ns/pid".into());
        c.privileged = true;
        let s = build(&c);
        validate(&s).unwrap();
        let ns = s["linux"]["namespaces"].as_array().unwrap();
        assert!(!ns.iter().any(|n| n["type"] == "network"));
        assert!(ns
            .iter()
            .any(|n| n["type"] == "pid" && n["path"] == "/proc/1/ns/pid"));
        assert!(s["linux"]["maskedPaths"].is_null());
        assert_eq!(s["linux"]["resources"]["devices"][0]["allow"], true);
    }
}
