//! The flags of `run` and `create`, parsed exactly like the docker CLI
//! (docker/cli v27 `cli/command/container/opts.go`, `opts/*.go`,
//! go-units `RAMInBytes`/`ParseUlimit`, go-connections `nat.ParsePortSpecs`,
//! compose `loader.ParseVolume`), and their conversion to the Engine API body
//! of `POST /containers/create` (API 1.47 field names).
//!
//! Flags are kept as the strings the user typed and validated in
//! [`create_body`], so the errors read like docker's: a value pflag would have
//! refused gives `invalid argument "64x" for "-m, --memory" flag: …`, the
//! checks docker makes after parsing give their bare message.

// Until `run`/`create` are wired to these flags, only the tests use them.
#![cfg_attr(not(test), allow(dead_code))]

use std::fmt;

use clap::{ArgAction, Args};
use serde_json::{json, Map, Value};

// ---------------------------------------------------------------------------
// Flags
// ---------------------------------------------------------------------------

// All flags of `run` and `create` (docker's `containerOptions` plus the
// `createOptions` both commands share: `--name`, `--platform`, `--pull`,
// `-q`). The command embedding this must set `disable_help_flag = true`:
// `-h` is `--hostname`, and `--help` is provided here.
#[derive(Args, Debug, Clone, Default)]
pub struct ContainerOpts {
    /// Print usage
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,

    // --- createOptions -----------------------------------------------------
    /// Assign a name to the container
    #[arg(long = "name", value_name = "string", allow_hyphen_values = true)]
    pub name: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(
        long = "platform",
        value_name = "string",
        env = "DOCKER_DEFAULT_PLATFORM",
        allow_hyphen_values = true
    )]
    pub platform: Option<String>,
    /// Pull image before running ("always", "missing", "never")
    #[arg(
        long = "pull",
        value_name = "string",
        default_value = "missing",
        allow_hyphen_values = true
    )]
    pub pull: String,
    /// Suppress the pull output
    #[arg(short = 'q', long = "quiet", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = go_bool, action = ArgAction::Set, value_name = "bool", hide_default_value = true)]
    pub quiet: bool,
    /// Skip image verification
    #[arg(long = "disable-content-trust", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "true", value_parser = go_bool, action = ArgAction::Set, value_name = "bool", hide_default_value = true)]
    pub disable_content_trust: bool,

    // --- General purpose ---------------------------------------------------
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(
        short = 'a',
        long = "attach",
        value_name = "list",
        allow_hyphen_values = true
    )]
    pub attach: Vec<String>,
    /// Add a rule to the cgroup allowed devices list
    #[arg(
        long = "device-cgroup-rule",
        value_name = "list",
        allow_hyphen_values = true
    )]
    pub device_cgroup_rule: Vec<String>,
    /// Add a host device to the container
    #[arg(long = "device", value_name = "list", allow_hyphen_values = true)]
    pub device: Vec<String>,
    /// GPU devices to add to the container ('all' to pass all GPUs)
    #[arg(long = "gpus", value_name = "gpu-request", allow_hyphen_values = true)]
    pub gpus: Vec<String>,
    /// Set environment variables
    #[arg(
        short = 'e',
        long = "env",
        value_name = "list",
        allow_hyphen_values = true
    )]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list", allow_hyphen_values = true)]
    pub env_file: Vec<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long = "entrypoint", value_name = "string", allow_hyphen_values = true)]
    pub entrypoint: Option<String>,
    /// Add additional groups to join
    #[arg(long = "group-add", value_name = "list", allow_hyphen_values = true)]
    pub group_add: Vec<String>,
    /// Container host name
    #[arg(
        short = 'h',
        long = "hostname",
        value_name = "string",
        allow_hyphen_values = true
    )]
    pub hostname: Option<String>,
    /// Container NIS domain name
    #[arg(long = "domainname", value_name = "string", allow_hyphen_values = true)]
    pub domainname: Option<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = go_bool, action = ArgAction::Set, value_name = "bool", hide_default_value = true)]
    pub interactive: bool,
    /// Set meta data on a container
    #[arg(
        short = 'l',
        long = "label",
        value_name = "list",
        allow_hyphen_values = true
    )]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file", value_name = "list", allow_hyphen_values = true)]
    pub label_file: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = go_bool, action = ArgAction::Set, value_name = "bool", hide_default_value = true)]
    pub read_only: bool,
    /// Restart policy to apply when a container exits
    #[arg(
        long = "restart",
        value_name = "string",
        default_value = "no",
        allow_hyphen_values = true
    )]
    pub restart: String,
    /// Signal to stop the container
    #[arg(
        long = "stop-signal",
        value_name = "string",
        allow_hyphen_values = true
    )]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", value_name = "int", allow_hyphen_values = true)]
    pub stop_timeout: Option<String>,
    /// Sysctl options
    #[arg(long = "sysctl", value_name = "map", allow_hyphen_values = true)]
    pub sysctl: Vec<String>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = go_bool, action = ArgAction::Set, value_name = "bool", hide_default_value = true)]
    pub tty: bool,
    /// Ulimit options
    #[arg(long = "ulimit", value_name = "ulimit", allow_hyphen_values = true)]
    pub ulimit: Vec<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(
        short = 'u',
        long = "user",
        value_name = "string",
        allow_hyphen_values = true
    )]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(
        short = 'w',
        long = "workdir",
        value_name = "string",
        allow_hyphen_values = true
    )]
    pub workdir: Option<String>,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long = "rm", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = go_bool, action = ArgAction::Set, value_name = "bool", hide_default_value = true)]
    pub rm: bool,

    // --- Security ----------------------------------------------------------
    /// Add Linux capabilities
    #[arg(long = "cap-add", value_name = "list", allow_hyphen_values = true)]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop", value_name = "list", allow_hyphen_values = true)]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long = "privileged", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = go_bool, action = ArgAction::Set, value_name = "bool", hide_default_value = true)]
    pub privileged: bool,
    /// Security Options
    #[arg(long = "security-opt", value_name = "list", allow_hyphen_values = true)]
    pub security_opt: Vec<String>,
    /// User namespace to use
    #[arg(long = "userns", value_name = "string", allow_hyphen_values = true)]
    pub userns: Option<String>,
    /// Cgroup namespace to use (host|private)
    /// 'host':    Run the container in the Docker host's cgroup namespace
    /// 'private': Run the container in its own private cgroup namespace
    /// '':        Use the cgroup namespace as configured by the
    ///            default-cgroupns-mode option on the daemon (default)
    #[arg(
        long = "cgroupns",
        value_name = "string",
        verbatim_doc_comment,
        allow_hyphen_values = true
    )]
    pub cgroupns: Option<String>,

    // --- Network and port publishing ----------------------------------------
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "list", allow_hyphen_values = true)]
    pub add_host: Vec<String>,
    /// Set custom DNS servers
    #[arg(long = "dns", value_name = "list", allow_hyphen_values = true)]
    pub dns: Vec<String>,
    /// Set DNS options
    #[arg(
        long = "dns-option",
        alias = "dns-opt",
        value_name = "list",
        allow_hyphen_values = true
    )]
    pub dns_option: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search", value_name = "list", allow_hyphen_values = true)]
    pub dns_search: Vec<String>,
    /// Expose a port or a range of ports
    #[arg(long = "expose", value_name = "list", allow_hyphen_values = true)]
    pub expose: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long = "ip", value_name = "string", allow_hyphen_values = true)]
    pub ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long = "ip6", value_name = "string", allow_hyphen_values = true)]
    pub ip6: Option<String>,
    /// Add link to another container
    #[arg(long = "link", value_name = "list", allow_hyphen_values = true)]
    pub link: Vec<String>,
    /// Container IPv4/IPv6 link-local addresses
    #[arg(
        long = "link-local-ip",
        value_name = "list",
        allow_hyphen_values = true
    )]
    pub link_local_ip: Vec<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(
        long = "mac-address",
        value_name = "string",
        allow_hyphen_values = true
    )]
    pub mac_address: Option<String>,
    /// Publish a container's port(s) to the host
    #[arg(
        short = 'p',
        long = "publish",
        value_name = "list",
        allow_hyphen_values = true
    )]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = go_bool, action = ArgAction::Set, value_name = "bool", hide_default_value = true)]
    pub publish_all: bool,
    /// Connect a container to a network
    #[arg(
        long = "network",
        alias = "net",
        value_name = "network",
        allow_hyphen_values = true
    )]
    pub network: Vec<String>,
    /// Add network-scoped alias for the container
    #[arg(
        long = "network-alias",
        alias = "net-alias",
        value_name = "list",
        allow_hyphen_values = true
    )]
    pub network_alias: Vec<String>,

    // --- Logging and storage -------------------------------------------------
    /// Logging driver for the container
    #[arg(long = "log-driver", value_name = "string", allow_hyphen_values = true)]
    pub log_driver: Option<String>,
    /// Optional volume driver for the container
    #[arg(
        long = "volume-driver",
        value_name = "string",
        allow_hyphen_values = true
    )]
    pub volume_driver: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt", value_name = "list", allow_hyphen_values = true)]
    pub log_opt: Vec<String>,
    /// Storage driver options for the container
    #[arg(long = "storage-opt", value_name = "list", allow_hyphen_values = true)]
    pub storage_opt: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long = "tmpfs", value_name = "list", allow_hyphen_values = true)]
    pub tmpfs: Vec<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from", value_name = "list", allow_hyphen_values = true)]
    pub volumes_from: Vec<String>,
    /// Bind mount a volume
    #[arg(
        short = 'v',
        long = "volume",
        value_name = "list",
        allow_hyphen_values = true
    )]
    pub volume: Vec<String>,
    /// Attach a filesystem mount to the container
    #[arg(long = "mount", value_name = "mount", allow_hyphen_values = true)]
    pub mount: Vec<String>,

    // --- Health-checking -----------------------------------------------------
    /// Command to run to check health
    #[arg(long = "health-cmd", value_name = "string", allow_hyphen_values = true)]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-interval",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub health_interval: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(
        long = "health-retries",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub health_retries: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-timeout",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub health_timeout: Option<String>,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-start-period",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub health_start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-start-interval",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub health_start_interval: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = go_bool, action = ArgAction::Set, value_name = "bool", hide_default_value = true)]
    pub no_healthcheck: bool,

    // --- Resource management -------------------------------------------------
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)
    #[arg(
        long = "blkio-weight",
        value_name = "uint16",
        allow_hyphen_values = true
    )]
    pub blkio_weight: Option<String>,
    /// Block IO weight (relative device weight)
    #[arg(
        long = "blkio-weight-device",
        value_name = "list",
        allow_hyphen_values = true
    )]
    pub blkio_weight_device: Vec<String>,
    /// Write the container ID to the file
    #[arg(long = "cidfile", value_name = "string", allow_hyphen_values = true)]
    pub cidfile: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(
        long = "cpuset-cpus",
        value_name = "string",
        allow_hyphen_values = true
    )]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(
        long = "cpuset-mems",
        value_name = "string",
        allow_hyphen_values = true
    )]
    pub cpuset_mems: Option<String>,
    /// CPU count (Windows only)
    #[arg(
        long = "cpu-count",
        value_name = "int",
        hide = true,
        allow_hyphen_values = true
    )]
    pub cpu_count: Option<String>,
    /// CPU percent (Windows only)
    #[arg(
        long = "cpu-percent",
        value_name = "int",
        hide = true,
        allow_hyphen_values = true
    )]
    pub cpu_percent: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", value_name = "int", allow_hyphen_values = true)]
    pub cpu_period: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", value_name = "int", allow_hyphen_values = true)]
    pub cpu_quota: Option<String>,
    /// Limit CPU real-time period in microseconds
    #[arg(long = "cpu-rt-period", value_name = "int", allow_hyphen_values = true)]
    pub cpu_rt_period: Option<String>,
    /// Limit CPU real-time runtime in microseconds
    #[arg(
        long = "cpu-rt-runtime",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub cpu_rt_runtime: Option<String>,
    /// CPU shares (relative weight)
    #[arg(
        short = 'c',
        long = "cpu-shares",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub cpu_shares: Option<String>,
    /// Number of CPUs
    #[arg(long = "cpus", value_name = "decimal", allow_hyphen_values = true)]
    pub cpus: Option<String>,
    /// Limit read rate (bytes per second) from a device
    #[arg(
        long = "device-read-bps",
        value_name = "list",
        allow_hyphen_values = true
    )]
    pub device_read_bps: Vec<String>,
    /// Limit read rate (IO per second) from a device
    #[arg(
        long = "device-read-iops",
        value_name = "list",
        allow_hyphen_values = true
    )]
    pub device_read_iops: Vec<String>,
    /// Limit write rate (bytes per second) to a device
    #[arg(
        long = "device-write-bps",
        value_name = "list",
        allow_hyphen_values = true
    )]
    pub device_write_bps: Vec<String>,
    /// Limit write rate (IO per second) to a device
    #[arg(
        long = "device-write-iops",
        value_name = "list",
        allow_hyphen_values = true
    )]
    pub device_write_iops: Vec<String>,
    /// Maximum IO bandwidth limit for the system drive (Windows only)
    #[arg(
        long = "io-maxbandwidth",
        value_name = "bytes",
        hide = true,
        allow_hyphen_values = true
    )]
    pub io_maxbandwidth: Option<String>,
    /// Maximum IOps limit for the system drive (Windows only)
    #[arg(
        long = "io-maxiops",
        value_name = "uint",
        hide = true,
        allow_hyphen_values = true
    )]
    pub io_maxiops: Option<String>,
    /// Kernel memory limit
    #[arg(
        long = "kernel-memory",
        value_name = "bytes",
        allow_hyphen_values = true
    )]
    pub kernel_memory: Option<String>,
    /// Memory limit
    #[arg(
        short = 'm',
        long = "memory",
        value_name = "bytes",
        allow_hyphen_values = true
    )]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(
        long = "memory-reservation",
        value_name = "bytes",
        allow_hyphen_values = true
    )]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container memory swappiness (0 to 100) (default -1)
    #[arg(
        long = "memory-swappiness",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub memory_swappiness: Option<String>,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = go_bool, action = ArgAction::Set, value_name = "bool", hide_default_value = true)]
    pub oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long = "oom-score-adj", value_name = "int", allow_hyphen_values = true)]
    pub oom_score_adj: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", allow_hyphen_values = true)]
    pub pids_limit: Option<String>,

    // --- Low-level execution -------------------------------------------------
    /// Optional parent cgroup for the container
    #[arg(
        long = "cgroup-parent",
        value_name = "string",
        allow_hyphen_values = true
    )]
    pub cgroup_parent: Option<String>,
    /// IPC mode to use
    #[arg(long = "ipc", value_name = "string", allow_hyphen_values = true)]
    pub ipc: Option<String>,
    /// Container isolation technology
    #[arg(long = "isolation", value_name = "string", allow_hyphen_values = true)]
    pub isolation: Option<String>,
    /// PID namespace to use
    #[arg(long = "pid", value_name = "string", allow_hyphen_values = true)]
    pub pid: Option<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size", value_name = "bytes", allow_hyphen_values = true)]
    pub shm_size: Option<String>,
    /// UTS namespace to use
    #[arg(long = "uts", value_name = "string", allow_hyphen_values = true)]
    pub uts: Option<String>,
    /// Runtime to use for this container
    #[arg(long = "runtime", value_name = "string", allow_hyphen_values = true)]
    pub runtime: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long = "init", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool, action = ArgAction::Set, value_name = "bool")]
    pub init: Option<bool>,
    /// Add an annotation to the container (passed through to the OCI runtime)
    #[arg(long = "annotation", value_name = "map", allow_hyphen_values = true)]
    pub annotation: Vec<String>,
}

// Flags only `run` has: `-d`, `--detach-keys`, `--sig-proxy`.
//
// (`--rm`, `-a/--attach`, `--pull`, `--cidfile`, `--name` and `--platform`
// are in [`ContainerOpts`]: `docker create` accepts them too.)
#[derive(Args, Debug, Clone)]
pub struct RunOnly {
    /// Run container in background and print container ID
    #[arg(short = 'd', long = "detach", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = go_bool, action = ArgAction::Set, value_name = "bool", hide_default_value = true)]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(
        long = "detach-keys",
        value_name = "string",
        allow_hyphen_values = true
    )]
    pub detach_keys: Option<String>,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "true", value_parser = go_bool, action = ArgAction::Set, value_name = "bool")]
    pub sig_proxy: bool,
}

impl Default for RunOnly {
    fn default() -> Self {
        RunOnly {
            detach: false,
            detach_keys: None,
            sig_proxy: true,
        }
    }
}

/// Go's `strconv.ParseBool`, for `--flag=value` on boolean flags.
fn go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "strconv.ParseBool: parsing {}: invalid syntax",
            go_quote(s)
        )),
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why the flags cannot make a create request. `Display` is docker's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptsError {
    /// A value the flag parser itself refuses (pflag's `Set`):
    /// `invalid argument "64x" for "-m, --memory" flag: invalid suffix: 'x'`.
    InvalidArgument {
        /// The flag as pflag names it, e.g. `-m, --memory` or `--shm-size`.
        flag: &'static str,
        /// The value given.
        value: String,
        /// The validator's message.
        reason: String,
    },
    /// Any other refusal, with docker's message (e.g.
    /// `Conflicting options: --restart and --rm`, `invalid reference format`).
    Invalid(String),
}

impl fmt::Display for OptsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptsError::InvalidArgument {
                flag,
                value,
                reason,
            } => write!(
                f,
                "invalid argument {} for {} flag: {reason}",
                go_quote(value),
                go_quote(flag)
            ),
            OptsError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for OptsError {}

fn invalid(msg: impl Into<String>) -> OptsError {
    OptsError::Invalid(msg.into())
}

fn bad_arg(flag: &'static str, value: &str, reason: impl Into<String>) -> OptsError {
    OptsError::InvalidArgument {
        flag,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// Go's `strconv.Quote` for the strings we meet (printable text).
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------
// Go number, size and duration parsing
// ---------------------------------------------------------------------------

/// Go's `strconv.ParseInt(s, base, 64)` / `ParseUint`, limited to `bits`,
/// with Go's error text. `base == 0` accepts `0x`, `0o`, `0b` and leading-0
/// octal, as pflag's integer flags do.
fn go_parse_int(s: &str, base: u32, bits: u32, signed: bool) -> Result<i128, String> {
    let func = if signed {
        "strconv.ParseInt"
    } else {
        "strconv.ParseUint"
    };
    let syntax = || format!("{func}: parsing {}: invalid syntax", go_quote(s));
    let range = || format!("{func}: parsing {}: value out of range", go_quote(s));
    let mut rest = s;
    let mut neg = false;
    if signed {
        if let Some(r) = rest.strip_prefix('-') {
            neg = true;
            rest = r;
        } else if let Some(r) = rest.strip_prefix('+') {
            rest = r;
        }
    }
    let mut radix = base;
    let mut prefixed = false;
    if base == 0 {
        radix = 10;
        let lower = rest.to_ascii_lowercase();
        if lower.starts_with("0x") {
            radix = 16;
            rest = &rest[2..];
            prefixed = true;
        } else if lower.starts_with("0o") {
            radix = 8;
            rest = &rest[2..];
            prefixed = true;
        } else if lower.starts_with("0b") {
            radix = 2;
            rest = &rest[2..];
            prefixed = true;
        } else if rest.len() > 1 && rest.starts_with('0') {
            radix = 8;
            rest = &rest[1..];
            prefixed = true;
        }
    }
    let digits: String = if base == 0 && prefixed {
        rest.chars().filter(|&c| c != '_').collect()
    } else {
        rest.to_owned()
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(syntax());
    }
    let mut v: i128 = 0;
    for c in digits.chars() {
        let d = i128::from(c.to_digit(radix).unwrap_or(0));
        v = v.checked_mul(i128::from(radix)).ok_or_else(range)?;
        v = v.checked_add(d).ok_or_else(range)?;
        if v > (1i128 << 64) {
            return Err(range());
        }
    }
    if neg {
        v = -v;
    }
    let (min, max) = if signed {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    } else {
        (0, (1i128 << bits) - 1)
    };
    if v < min || v > max {
        return Err(range());
    }
    Ok(v)
}

/// An `Int64Var`/`IntVar` flag: `ParseInt(s, 0, 64)`.
fn int_flag(flag: &'static str, v: Option<&String>, default: i64) -> Result<i64, OptsError> {
    match v {
        None => Ok(default),
        Some(s) => go_parse_int(s, 0, 64, true)
            .map(|n| n as i64)
            .map_err(|e| bad_arg(flag, s, e)),
    }
}

/// A `Uint*Var` flag: `ParseUint(s, 0, bits)`.
fn uint_flag(flag: &'static str, v: Option<&String>, bits: u32) -> Result<u64, OptsError> {
    match v {
        None => Ok(0),
        Some(s) => go_parse_int(s, 0, bits, false)
            .map(|n| n as u64)
            .map_err(|e| bad_arg(flag, s, e)),
    }
}

/// go-units `RAMInBytes`: binary multiples `b k m g t p`, case-insensitive,
/// optional `b`/`ib` after the unit, decimals allowed (`1.5g`).
pub fn ram_in_bytes(size: &str) -> Result<i64, String> {
    let invalid_size = || format!("invalid size: '{size}'");
    let Some(sep) = size.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ') else {
        return Err(invalid_size());
    };
    let (num, sfx) = if size.as_bytes()[sep] != b' ' {
        (&size[..=sep], &size[sep + 1..])
    } else {
        (&size[..sep], &size[sep + 1..])
    };
    let value = go_parse_float(num)?;
    if value < 0.0 {
        return Err(invalid_size());
    }
    if sfx.is_empty() {
        return Ok(value as i64);
    }
    let bad_suffix = |s: &str| format!("invalid suffix: '{s}'");
    if sfx.len() > 3 {
        return Err(bad_suffix(sfx));
    }
    let lower = sfx.to_lowercase();
    let b = lower.as_bytes();
    if b[0] == b'b' {
        if b.len() > 1 {
            return Err(bad_suffix(&lower));
        }
        return Ok(value as i64);
    }
    let mul: i64 = match b[0] {
        b'k' => 1 << 10,
        b'm' => 1 << 20,
        b'g' => 1 << 30,
        b't' => 1 << 40,
        b'p' => 1 << 50,
        _ => return Err(bad_suffix(&lower)),
    };
    if (b.len() == 2 && b[1] != b'b') || (b.len() == 3 && &lower[1..] != "ib") {
        return Err(bad_suffix(&lower));
    }
    Ok((value * mul as f64) as i64)
}

/// Go's `strconv.ParseFloat(s, 64)` for decimal input.
fn go_parse_float(s: &str) -> Result<f64, String> {
    let ok = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '+' | '-' | 'e' | 'E'));
    match s.parse::<f64>() {
        Ok(v) if ok => Ok(v),
        _ => Err(format!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            go_quote(s)
        )),
    }
}

fn size_flag(flag: &'static str, v: Option<&String>) -> Result<i64, OptsError> {
    match v {
        None => Ok(0),
        Some(s) => ram_in_bytes(s).map_err(|e| bad_arg(flag, s, e)),
    }
}

/// Go's `time.ParseDuration`, in nanoseconds.
pub fn go_parse_duration(orig: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", go_quote(orig));
    let mut s = orig;
    let mut neg = false;
    if let Some(c) = s.chars().next() {
        if c == '-' || c == '+' {
            neg = c == '-';
            s = &s[1..];
        }
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    const LIMIT: u128 = 1 << 63;
    let mut total: u128 = 0;
    while !s.is_empty() {
        let first = s.as_bytes()[0];
        if !(first == b'.' || first.is_ascii_digit()) {
            return Err(invalid());
        }
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &s[..int_len];
        s = &s[int_len..];
        let mut frac_part = "";
        let mut post = false;
        if let Some(rest) = s.strip_prefix('.') {
            let n = rest.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &rest[..n];
            post = n > 0;
            s = &rest[n..];
        }
        if int_len == 0 && !post {
            return Err(invalid());
        }
        let unit_len = s
            .char_indices()
            .find(|&(_, c)| c == '.' || c.is_ascii_digit())
            .map_or(s.len(), |(i, _)| i);
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {}", go_quote(orig)));
        }
        let unit_str = &s[..unit_len];
        s = &s[unit_len..];
        let unit: u128 = match unit_str {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    go_quote(unit_str),
                    go_quote(orig)
                ))
            }
        };
        let mut v: u128 = 0;
        for d in int_part.bytes() {
            v = v * 10 + u128::from(d - b'0');
            if v > LIMIT {
                return Err(invalid());
            }
        }
        v = v.checked_mul(unit).ok_or_else(invalid)?;
        if v > LIMIT {
            return Err(invalid());
        }
        if !frac_part.is_empty() {
            // Go accumulates the fraction as an integer over a power-of-ten
            // scale and adds `f * unit / scale` in floating point.
            let mut f: u128 = 0;
            let mut scale: f64 = 1.0;
            for d in frac_part.bytes() {
                if f > (1u128 << 63) / 10 {
                    break;
                }
                f = f * 10 + u128::from(d - b'0');
                scale *= 10.0;
            }
            v += (f as f64 * (unit as f64 / scale)) as u128;
            if v > LIMIT {
                return Err(invalid());
            }
        }
        total += v;
        if total > LIMIT {
            return Err(invalid());
        }
    }
    if neg {
        return Ok((-(total as i128)) as i64);
    }
    if total > LIMIT - 1 {
        return Err(invalid());
    }
    Ok(total as i64)
}

fn duration_flag(flag: &'static str, v: Option<&String>) -> Result<i64, OptsError> {
    match v {
        None => Ok(0),
        Some(s) => go_parse_duration(s).map_err(|e| bad_arg(flag, s, e)),
    }
}

/// docker's `ParseCPUs` (`--cpus`): a rational number, in nano-CPUs.
pub fn parse_cpus(value: &str) -> Result<i64, String> {
    let not_rational = || format!("failed to parse {value} as a rational number");
    let (num, den) = parse_rational(value).ok_or_else(not_rational)?;
    // value = num / den; nano = num * 1e9 / den must be an integer.
    let scaled = num.checked_mul(1_000_000_000).ok_or_else(not_rational)?;
    if scaled % den != 0 {
        return Err("value is too precise".to_owned());
    }
    Ok((scaled / den) as i64)
}

/// `big.Rat.SetString`: `a/b` or a decimal with optional exponent, as an
/// exact fraction (numerator, positive denominator).
fn parse_rational(s: &str) -> Option<(i128, i128)> {
    fn digits(s: &str) -> Option<i128> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    }
    let (sign, body) = match s.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    if let Some((a, b)) = body.split_once('/') {
        let a = digits(a)?;
        let b = digits(b)?;
        if b == 0 {
            return None;
        }
        return Some((sign * a, b));
    }
    let (mant, exp) = match body.find(['e', 'E']) {
        Some(i) => {
            let e = &body[i + 1..];
            let (esign, edigits) = match e.strip_prefix('-') {
                Some(r) => (-1i32, r),
                None => (1, e.strip_prefix('+').unwrap_or(e)),
            };
            let ev: i32 = i32::try_from(digits(edigits)?).ok()?;
            (&body[..i], esign * ev)
        }
        None => (body, 0),
    };
    let (ip, fp) = mant.split_once('.').unwrap_or((mant, ""));
    if ip.is_empty() && fp.is_empty() {
        return None;
    }
    if !ip.bytes().chain(fp.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let all = format!("{ip}{fp}");
    let m: i128 = all.trim_start_matches('0').parse().unwrap_or(0);
    let e = exp - i32::try_from(fp.len()).ok()?;
    if e >= 0 {
        let p = 10i128.checked_pow(u32::try_from(e).ok()?)?;
        Some((sign * m.checked_mul(p)?, 1))
    } else {
        let p = 10i128.checked_pow(u32::try_from(-e).ok()?)?;
        Some((sign * m, p))
    }
}

// ---------------------------------------------------------------------------
// Small Go helpers: csv, path.Clean, IPs, MACs
// ---------------------------------------------------------------------------

/// One record of Go's `encoding/csv` reader (default settings).
fn csv_record(s: &str) -> Result<Vec<String>, String> {
    if s.is_empty() {
        return Err("EOF".to_owned());
    }
    let line = s.trim_end_matches(['\n', '\r']);
    let chars: Vec<char> = line.chars().collect();
    let mut fields = Vec::new();
    let mut i = 0;
    loop {
        let mut field = String::new();
        if i < chars.len() && chars[i] == '"' {
            i += 1;
            loop {
                if i >= chars.len() {
                    return Err(format!(
                        "parse error on line 1, column {}: extraneous or missing \" in quoted-field",
                        i + 1
                    ));
                }
                if chars[i] == '"' {
                    if i + 1 < chars.len() && chars[i + 1] == '"' {
                        field.push('"');
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                field.push(chars[i]);
                i += 1;
            }
            if i < chars.len() && chars[i] != ',' {
                return Err(format!(
                    "parse error on line 1, column {}: extraneous or missing \" in quoted-field",
                    i + 1
                ));
            }
        } else {
            while i < chars.len() && chars[i] != ',' {
                if chars[i] == '"' {
                    return Err(format!(
                        "parse error on line 1, column {}: bare \" in non-quoted-field",
                        i + 1
                    ));
                }
                field.push(chars[i]);
                i += 1;
            }
        }
        fields.push(field);
        if i >= chars.len() {
            break;
        }
        i += 1; // the comma
    }
    Ok(fields)
}

/// Go's `path.Clean`.
fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return ".".to_owned();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            x => out.push(x),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// `filepath.Abs` for `.` and `./x` sources.
fn abs_path(p: &str) -> Option<String> {
    let cwd = std::env::current_dir().ok()?;
    Some(clean_path(&format!("{}/{p}", cwd.to_string_lossy())))
}

/// Go's `net.ParseIP(..).String()`.
fn parse_ip(s: &str) -> Option<String> {
    let ip: std::net::IpAddr = s.parse().ok()?;
    Some(match ip {
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        std::net::IpAddr::V4(v4) => v4.to_string(),
    })
}

/// Go's `net.ParseMAC` acceptance test.
fn valid_mac(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 14 {
        return false;
    }
    let hex_ok = |g: &str, len: usize| g.len() == len && g.bytes().all(|c| c.is_ascii_hexdigit());
    let (groups, glen): (Vec<&str>, usize) = if b[2] == b':' || b[2] == b'-' {
        if !(b.len() + 1).is_multiple_of(3) {
            return false;
        }
        (s.split(b[2] as char).collect(), 2)
    } else if b[4] == b'.' {
        if !(b.len() + 1).is_multiple_of(5) {
            return false;
        }
        (s.split('.').collect(), 4)
    } else {
        return false;
    };
    let octets = groups.len() * glen / 2;
    matches!(octets, 6 | 8 | 20) && groups.iter().all(|g| hex_ok(g, glen))
}

// ---------------------------------------------------------------------------
// Flag validators (pflag `Set` time)
// ---------------------------------------------------------------------------

/// `ValidateEnv` plus the lookup of a bare `VAR` (dropped when unset).
fn validate_env(val: &str) -> Result<Option<String>, String> {
    let (k, has_value) = match val.split_once('=') {
        Some((k, _)) => (k, true),
        None => (val, false),
    };
    if k.is_empty() {
        return Err(format!("invalid environment variable: {val}"));
    }
    if has_value {
        return Ok(Some(val.to_owned()));
    }
    Ok(std::env::var_os(k).map(|v| format!("{k}={}", v.to_string_lossy())))
}

fn validate_label(val: &str) -> Result<(), String> {
    let key = val.split_once('=').map_or(val, |(k, _)| k);
    let key = key.trim_start_matches([' ', '\t']);
    if key.is_empty() {
        return Err(format!("invalid label '{val}': empty name"));
    }
    if key.contains([' ', '\t']) {
        return Err(format!("label '{key}' contains whitespaces"));
    }
    Ok(())
}

fn validate_sysctl(val: &str) -> Result<(), String> {
    const ALLOWED: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let not_allowed = || format!("sysctl '{val}' is not allowed");
    let Some((k, _)) = val.split_once('=') else {
        return Err(not_allowed());
    };
    if k.is_empty() {
        return Err(not_allowed());
    }
    if ALLOWED.contains(&k) || k.starts_with("net.") || k.starts_with("fs.mqueue.") {
        Ok(())
    } else {
        Err(not_allowed())
    }
}

/// `ValidateExtraHost`: `host:ip` or `host=ip`, IPv6 optionally in
/// brackets; sent to the daemon as `host:ip`.
fn validate_extra_host(val: &str) -> Result<String, String> {
    let (k, v) = match val.split_once('=') {
        Some(kv) => kv,
        None => val
            .split_once(':')
            .ok_or_else(|| format!("bad format for add-host: {}", go_quote(val)))?,
    };
    if k.is_empty() || k.contains(':') {
        return Err(format!("bad format for add-host: {}", go_quote(val)));
    }
    let mut v = v;
    if v != "host-gateway" {
        if v.len() > 2 && v.starts_with('[') && v.ends_with(']') {
            v = &v[1..v.len() - 1];
        }
        if parse_ip(v.trim()).is_none() {
            return Err(format!("invalid IP address in add-host: {}", go_quote(v)));
        }
    }
    Ok(format!("{k}:{v}"))
}

fn validate_dns(val: &str) -> Result<String, String> {
    parse_ip(val.trim()).ok_or_else(|| format!("IP address is not correctly formatted: {val}"))
}

/// `ValidateDNSSearch` (docker's domain regexp, including its quirks).
fn validate_dns_search(val: &str) -> Result<String, String> {
    let val = val.trim_matches(' ');
    if val == "." {
        return Ok(val.to_owned());
    }
    let bad = || format!("{val} is not a valid domain");
    if !val.bytes().any(|b| b.is_ascii_alphabetic()) {
        return Err(bad());
    }
    let trimmed = val.trim_end();
    let domain = trimmed.strip_suffix('.').unwrap_or(trimmed);
    let label_ok = |l: &str| {
        let l = l.strip_prefix(':').unwrap_or(l);
        let b = l.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    };
    if domain.split('.').all(label_ok) && domain.len() < 255 {
        Ok(domain.to_owned())
    } else {
        Err(bad())
    }
}

fn validate_link(val: &str) -> Result<(), String> {
    if val.is_empty() {
        return Err("empty string specified for links".to_owned());
    }
    if val.split(':').count() > 2 {
        return Err(format!("bad format for links: {val}"));
    }
    Ok(())
}

fn validate_attach(val: &str) -> Result<String, String> {
    let s = val.to_lowercase();
    if matches!(s.as_str(), "stdin" | "stdout" | "stderr") {
        Ok(s)
    } else {
        Err("valid streams are STDIN, STDOUT and STDERR".to_owned())
    }
}

/// `^[acb] ([0-9]+|\*):([0-9]+|\*) [rwm]{1,3}$`
fn validate_device_cgroup_rule(val: &str) -> Result<(), String> {
    let bad = || format!("invalid device cgroup format '{val}'");
    let parts: Vec<&str> = val.split(' ').collect();
    let num = |s: &str| s == "*" || (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
    let ok = parts.len() == 3
        && matches!(parts[0], "a" | "b" | "c")
        && parts[1]
            .split_once(':')
            .is_some_and(|(maj, min)| num(maj) && num(min))
        && (1..=3).contains(&parts[2].len())
        && parts[2].bytes().all(|b| matches!(b, b'r' | b'w' | b'm'));
    if ok {
        Ok(())
    } else {
        Err(bad())
    }
}

/// go-units `ParseUlimit` → `{"Name","Hard","Soft"}`.
fn parse_ulimit(val: &str) -> Result<(String, i64, i64), String> {
    const NAMES: &[&str] = berth_engine::containers::spec::ULIMIT_NAMES;
    let Some((name, limits)) = val.split_once('=') else {
        return Err(format!("invalid ulimit argument: {val}"));
    };
    if !NAMES.contains(&name) {
        return Err(format!("invalid ulimit type: {name}"));
    }
    let parse = |s: &str| go_parse_int(s, 10, 64, true).map(|n| n as i64);
    let vals: Vec<&str> = limits.split(':').collect();
    let (soft, hard) = match vals.as_slice() {
        [s] => {
            let s = parse(s)?;
            (s, s)
        }
        [s, h] => {
            let h = parse(h)?;
            (parse(s)?, h)
        }
        _ => {
            return Err(format!(
                "too many limit value arguments - {limits}, can only have up to two, `soft[:hard]`"
            ))
        }
    };
    if hard != -1 {
        if soft == -1 {
            return Err(format!(
                "ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: {hard}"
            ));
        }
        if soft > hard {
            return Err(format!(
                "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            ));
        }
    }
    Ok((name.to_owned(), soft, hard))
}

fn device_path_prefix(val: &str) -> Result<(&str, &str), String> {
    match val.split_once(':') {
        Some((k, v)) if !k.is_empty() => {
            if !k.starts_with("/dev/") {
                return Err(format!("bad format for device path: {val}"));
            }
            Ok((k, v))
        }
        _ => Err(format!("bad format: {val}")),
    }
}

/// `ValidateThrottleBpsDevice` → `{"Path","Rate"}` (bytes per second).
fn parse_throttle_bps(val: &str) -> Result<Value, String> {
    let (k, v) = device_path_prefix(val)?;
    match ram_in_bytes(v) {
        Ok(rate) if rate >= 0 => Ok(json!({"Path": k, "Rate": rate})),
        _ => Err(format!(
            "invalid rate for device: {val}. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb"
        )),
    }
}

/// `ValidateThrottleIOpsDevice` → `{"Path","Rate"}` (IO per second).
fn parse_throttle_iops(val: &str) -> Result<Value, String> {
    let (k, v) = device_path_prefix(val)?;
    match go_parse_int(v, 10, 64, false) {
        Ok(rate) => Ok(json!({"Path": k, "Rate": rate as u64})),
        Err(_) => Err(format!(
            "invalid rate for device: {val}. The correct format is <device-path>:<number>. Number must be a positive integer"
        )),
    }
}

/// `ValidateWeightDevice` → `{"Path","Weight"}`.
fn parse_weight_device(val: &str) -> Result<Value, String> {
    let (k, v) = device_path_prefix(val)?;
    match go_parse_int(v, 10, 16, false) {
        Ok(w) if w == 0 || (10..=1000).contains(&w) => Ok(json!({"Path": k, "Weight": w as u64})),
        _ => Err(format!("invalid weight for device: {val}")),
    }
}

/// A mount's `VolumeOptions` while parsing: (options, labels, driver config).
type VolumeParts = (Map<String, Value>, Map<String, Value>, Map<String, Value>);

/// `opts.MountOpt.Set`: one `--mount` csv value → a `Mount` object.
fn parse_mount(value: &str) -> Result<Value, String> {
    let fields = csv_record(value)?;
    let mut typ = "volume".to_owned();
    let mut source: Option<String> = None;
    let mut target = String::new();
    let mut read_only = false;
    let mut consistency: Option<String> = None;
    let mut bind: Option<Map<String, Value>> = None;
    let mut vol: Option<VolumeParts> = None;
    let mut tmpfs: Option<Map<String, Value>> = None;

    fn vol_opts(v: &mut Option<VolumeParts>) -> &mut VolumeParts {
        v.get_or_insert_with(|| (Map::new(), Map::new(), Map::new()))
    }
    fn set_on_map(target: &mut Map<String, Value>, value: &str) {
        let (k, v) = value.split_once('=').unwrap_or((value, ""));
        if !k.is_empty() {
            target.insert(k.to_owned(), Value::String(v.to_owned()));
        }
    }

    for field in &fields {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), Some(v)),
            None => (field.to_lowercase(), None),
        };
        let Some(val) = val else {
            match key.as_str() {
                "readonly" | "ro" => read_only = true,
                "volume-nocopy" => {
                    vol_opts(&mut vol)
                        .0
                        .insert("NoCopy".into(), Value::Bool(true));
                }
                "bind-nonrecursive" => {
                    bind.get_or_insert_with(Map::new)
                        .insert("NonRecursive".into(), Value::Bool(true));
                }
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        };
        let bad_value = || format!("invalid value for {key}: {val}");
        match key.as_str() {
            "type" => typ = val.to_lowercase(),
            "source" | "src" => {
                let mut s = val.to_owned();
                if val.starts_with("./") || val == "." {
                    if let Some(a) = abs_path(val) {
                        s = a;
                    }
                }
                source = Some(s);
            }
            "target" | "dst" | "destination" => target = val.to_owned(),
            "readonly" | "ro" => read_only = go_bool(val).map_err(|_| bad_value())?,
            "consistency" => consistency = Some(val.to_lowercase()),
            "bind-propagation" => {
                bind.get_or_insert_with(Map::new)
                    .insert("Propagation".into(), Value::String(val.to_lowercase()));
            }
            "bind-nonrecursive" => {
                let b = go_bool(val).map_err(|_| bad_value())?;
                let m = bind.get_or_insert_with(Map::new);
                if b {
                    m.insert("NonRecursive".into(), Value::Bool(true));
                } else {
                    m.remove("NonRecursive");
                }
            }
            "bind-recursive" => {
                let m = bind.get_or_insert_with(Map::new);
                match val {
                    "enabled" => {}
                    "disabled" => {
                        m.insert("NonRecursive".into(), Value::Bool(true));
                    }
                    "writable" => {
                        m.insert("ReadOnlyNonRecursive".into(), Value::Bool(true));
                    }
                    "readonly" => {
                        m.insert("ReadOnlyForceRecursive".into(), Value::Bool(true));
                    }
                    _ => {
                        return Err(format!(
                            "invalid value for {key}: {val} (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")"
                        ))
                    }
                }
            }
            "volume-subpath" => {
                vol_opts(&mut vol)
                    .0
                    .insert("Subpath".into(), Value::String(val.to_owned()));
            }
            "volume-nocopy" => {
                let b =
                    go_bool(val).map_err(|_| format!("invalid value for volume-nocopy: {val}"))?;
                let o = &mut vol_opts(&mut vol).0;
                if b {
                    o.insert("NoCopy".into(), Value::Bool(true));
                } else {
                    o.remove("NoCopy");
                }
            }
            "volume-label" => set_on_map(&mut vol_opts(&mut vol).1, val),
            "volume-driver" => {
                let d = &mut vol_opts(&mut vol).2;
                if val.is_empty() {
                    d.remove("Name");
                } else {
                    d.insert("Name".into(), Value::String(val.to_owned()));
                }
            }
            "volume-opt" => {
                let d = &mut vol_opts(&mut vol).2;
                let opts = d
                    .entry("Options")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(o) = opts {
                    set_on_map(o, val);
                }
            }
            "tmpfs-size" => {
                let n = ram_in_bytes(val).map_err(|_| bad_value())?;
                let m = tmpfs.get_or_insert_with(Map::new);
                if n == 0 {
                    m.remove("SizeBytes");
                } else {
                    m.insert("SizeBytes".into(), json!(n));
                }
            }
            "tmpfs-mode" => {
                let n = go_parse_int(val, 8, 32, false).map_err(|_| bad_value())?;
                let m = tmpfs.get_or_insert_with(Map::new);
                if n == 0 {
                    m.remove("Mode");
                } else {
                    m.insert("Mode".into(), json!(n as u64));
                }
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }

    if typ.is_empty() {
        return Err("type is required".to_owned());
    }
    if target.is_empty() {
        return Err("target is required".to_owned());
    }
    if vol.is_some() && typ != "volume" {
        return Err(format!(
            "cannot mix 'volume-*' options with mount type '{typ}'"
        ));
    }
    if bind.is_some() && typ != "bind" {
        return Err(format!(
            "cannot mix 'bind-*' options with mount type '{typ}'"
        ));
    }
    if tmpfs.is_some() && typ != "tmpfs" {
        return Err(format!(
            "cannot mix 'tmpfs-*' options with mount type '{typ}'"
        ));
    }
    if let Some(b) = &bind {
        if b.contains_key("ReadOnlyNonRecursive") && !read_only {
            return Err(
                "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction"
                    .to_owned(),
            );
        }
        if b.contains_key("ReadOnlyForceRecursive") {
            if !read_only {
                return Err("option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction".to_owned());
            }
            if b.get("Propagation").and_then(Value::as_str) != Some("rprivate") {
                return Err("option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction".to_owned());
            }
        }
    }

    let mut m = Map::new();
    m.insert("Type".into(), Value::String(typ));
    if let Some(s) = source.filter(|s| !s.is_empty()) {
        m.insert("Source".into(), Value::String(s));
    }
    m.insert("Target".into(), Value::String(target));
    if read_only {
        m.insert("ReadOnly".into(), Value::Bool(true));
    }
    if let Some(c) = consistency.filter(|c| !c.is_empty()) {
        m.insert("Consistency".into(), Value::String(c));
    }
    if let Some(b) = bind {
        m.insert("BindOptions".into(), Value::Object(b));
    }
    if let Some((mut o, labels, driver)) = vol {
        if !labels.is_empty() {
            o.insert("Labels".into(), Value::Object(labels));
        }
        o.insert("DriverConfig".into(), Value::Object(driver));
        m.insert("VolumeOptions".into(), Value::Object(o));
    }
    if let Some(t) = tmpfs {
        m.insert("TmpfsOptions".into(), Value::Object(t));
    }
    Ok(Value::Object(m))
}

/// `opts.GpuOpts.Set` → a `DeviceRequest`.
fn parse_gpus(value: &str) -> Result<Value, String> {
    fn count(s: &str) -> Result<i64, String> {
        if s == "all" {
            return Ok(-1);
        }
        go_parse_int(s, 10, 64, true)
            .map(|n| n as i64)
            .map_err(|_| {
                format!(
                    "count must be an integer: strconv.Atoi: parsing {}: invalid syntax",
                    go_quote(s)
                )
            })
    }
    let fields = csv_record(value)?;
    let mut seen: Vec<String> = Vec::new();
    let mut driver = String::new();
    let mut cnt: i64 = 0;
    let mut device_ids: Option<Vec<String>> = None;
    let mut caps: Option<Vec<String>> = None;
    let mut options = Map::new();
    for field in &fields {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (field.as_str(), None),
        };
        if seen.iter().any(|s| s == key) {
            return Err(format!(
                "gpu request key '{key}' can be specified only once"
            ));
        }
        seen.push(key.to_owned());
        let Some(val) = val else {
            seen.push("count".to_owned());
            cnt = count(key)?;
            continue;
        };
        match key {
            "driver" => driver = val.to_owned(),
            "count" => cnt = count(val)?,
            "device" => device_ids = Some(val.split(',').map(str::to_owned).collect()),
            "capabilities" => {
                let mut c: Vec<String> = val.split(',').map(str::to_owned).collect();
                c.push("gpu".to_owned());
                caps = Some(c);
            }
            "options" => {
                let opt_fields =
                    csv_record(val).map_err(|e| format!("failed to read gpu options: {e}"))?;
                for f in opt_fields {
                    let (k, v) = f.split_once('=').unwrap_or((f.as_str(), ""));
                    options.insert(k.to_owned(), Value::String(v.to_owned()));
                }
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    if !seen.iter().any(|s| s == "count") && device_ids.is_none() {
        cnt = 1;
    }
    let mut m = Map::new();
    m.insert("Driver".into(), Value::String(driver));
    m.insert("Count".into(), json!(cnt));
    if let Some(ids) = device_ids {
        m.insert("DeviceIDs".into(), json!(ids));
    }
    m.insert(
        "Capabilities".into(),
        json!([caps.unwrap_or_else(|| vec!["gpu".to_owned()])]),
    );
    m.insert("Options".into(), Value::Object(options));
    Ok(Value::Object(m))
}

/// One `--network` value (`opts.NetworkOpt.Set`): a name, or the csv form
/// `name=…,alias=…,ip=…,ip6=…,mac-address=…,link-local-ip=…,driver-opt=k=v`.
#[derive(Debug, Clone, Default)]
struct NetAttach {
    target: String,
    aliases: Vec<String>,
    driver_opts: Map<String, Value>,
    links: Vec<String>,
    ipv4: String,
    ipv6: String,
    link_local_ips: Vec<String>,
    mac: String,
}

fn is_long_network_syntax(value: &str) -> bool {
    // regexp `\w+=\w+(,\w+=\w+)*`, unanchored: some `\w=\w`.
    let b = value.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    (1..b.len().saturating_sub(1)).any(|i| b[i] == b'=' && word(b[i - 1]) && word(b[i + 1]))
}

fn parse_network(value: &str) -> Result<NetAttach, String> {
    let mut n = NetAttach::default();
    if !is_long_network_syntax(value) {
        n.target = value.to_owned();
        return Ok(n);
    }
    for field in csv_record(value)? {
        let lower = field.to_lowercase();
        let Some((key, val)) = lower.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(format!("invalid field {field}"));
        };
        let key = key.trim();
        let val = val.trim();
        match key {
            "name" => n.target = val.to_owned(),
            "alias" => n.aliases.push(val.to_owned()),
            "ip" => n.ipv4 = val.to_owned(),
            "ip6" => n.ipv6 = val.to_owned(),
            "mac-address" => n.mac = val.to_owned(),
            "link-local-ip" => n.link_local_ips.push(val.to_owned()),
            "driver-opt" => {
                let Some((k, v)) = val.split_once('=').filter(|(k, _)| !k.is_empty()) else {
                    return Err("invalid key value pair format in driver options".to_owned());
                };
                n.driver_opts
                    .insert(k.trim().to_owned(), Value::String(v.trim().to_owned()));
            }
            _ => return Err(format!("invalid field key {key}")),
        }
    }
    if n.target.is_empty() {
        return Err("network name/id is not specified".to_owned());
    }
    Ok(n)
}

fn is_user_defined_network(mode: &str) -> bool {
    !matches!(mode, "default" | "bridge" | "host" | "none") && !mode.starts_with("container:")
}

// ---------------------------------------------------------------------------
// Parse-time helpers
// ---------------------------------------------------------------------------

/// `kvfile.Parse`: comments, blank lines, a UTF-8 BOM; `VAR` alone takes
/// its value from the environment when `lookup` (env files) or is dropped
/// (label files).
fn parse_kv_file(path: &str, lookup: bool) -> Result<Vec<String>, OptsError> {
    let data = std::fs::read(path).map_err(|e| invalid(go_io_error("open", path, &e)))?;
    let wrap = |m: String| invalid(format!("invalid env file ({path}): {m}"));
    let mut out = Vec::new();
    for (idx, raw) in data.split(|&b| b == b'\n').enumerate() {
        let line_no = idx + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let Ok(text) = std::str::from_utf8(raw) else {
            return Err(wrap(format!(
                "invalid utf8 bytes at line {line_no}: {:?}",
                raw
            )));
        };
        let text = if line_no == 1 {
            text.strip_prefix('\u{feff}').unwrap_or(text)
        } else {
            text
        };
        let line = text.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, has_value) = match line.split_once('=') {
            Some((k, _)) => (k, true),
            None => (line, false),
        };
        if key.is_empty() {
            return Err(wrap(format!("no variable name on line '{line}'")));
        }
        if key.contains([' ', '\t']) {
            return Err(wrap(format!("variable '{key}' contains whitespaces")));
        }
        if has_value {
            out.push(line.to_owned());
        } else if lookup {
            if let Some(v) = std::env::var_os(line) {
                out.push(format!("{key}={}", v.to_string_lossy()));
            }
        }
    }
    Ok(out)
}

/// An I/O error as Go prints it: `open /x: no such file or directory`.
fn go_io_error(op: &str, path: &str, e: &std::io::Error) -> String {
    let text = match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => {
            let s = e.to_string();
            let s = s.split(" (os error").next().unwrap_or(&s).to_owned();
            let mut c = s.chars();
            match c.next() {
                Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
                None => s,
            }
        }
    };
    format!("{op} {path}: {text}")
}

/// compose `loader.ParseVolume`, reduced to what `-v` needs: whether the
/// spec has a source, and if so whether it is a host path (bind).
struct VolumeSpec {
    source: String,
    is_bind: bool,
}

fn parse_volume_spec(spec: &str) -> Result<VolumeSpec, String> {
    let chars: Vec<char> = spec.chars().collect();
    match chars.len() {
        0 => return Err("invalid empty volume spec".to_owned()),
        1 | 2 => {
            return Ok(VolumeSpec {
                source: String::new(),
                is_bind: false,
            })
        }
        _ => {}
    }
    let mut source = String::new();
    let mut target = String::new();
    let mut buffer: Vec<char> = Vec::new();
    let wrap = |m: &str| format!("invalid spec: {spec}: {m}");
    for next in spec.chars().map(Some).chain(std::iter::once(None)) {
        let end = next.is_none();
        let c = next.unwrap_or('\0');
        let windows_drive = c == ':' && buffer.len() == 1 && buffer[0].is_alphabetic();
        if windows_drive {
            buffer.push(c);
        } else if c == ':' || end {
            let s: String = buffer.iter().collect();
            if buffer.is_empty() {
                return Err(wrap("empty section between colons"));
            } else if source.is_empty() && end {
                target = s;
            } else if source.is_empty() {
                source = s;
            } else if target.is_empty() {
                target = s;
            } else if c == ':' {
                return Err(wrap("too many colons"));
            }
            // (the mode field: ro, rw, nocopy, propagation … kept as given)
            buffer.clear();
        } else {
            buffer.push(c);
        }
    }
    let is_bind = !source.is_empty() && is_file_path(&source);
    Ok(VolumeSpec { source, is_bind })
}

fn is_file_path(source: &str) -> bool {
    let chars: Vec<char> = source.chars().collect();
    match chars.first() {
        Some('.' | '/' | '~') => return true,
        None => return false,
        _ => {}
    }
    if chars.len() == 1 {
        return false;
    }
    if source.starts_with("\\\\") {
        return true;
    }
    chars[0].is_alphabetic() && chars[1] == ':'
}

/// One published port in docker's short form (`nat.ParsePortSpec`):
/// `[ip:][hostPort:]containerPort[/proto]`, ranges allowed.
fn parse_port_spec(raw: &str) -> Result<Vec<(String, String, String)>, String> {
    let parts: Vec<&str> = raw.split(':').collect();
    let n = parts.len();
    let container_part = parts[n - 1];
    let (mut ip, host_port) = match n {
        1 => (String::new(), ""),
        2 => (String::new(), parts[0]),
        3 => (parts[0].to_owned(), parts[1]),
        _ => (parts[..n - 2].join(":"), parts[n - 2]),
    };
    let (proto, container_port) = split_proto_port(container_part);
    if ip.starts_with('[') {
        // net.SplitHostPort(ip + ":")
        match ip.find(']') {
            Some(end) if end == ip.len() - 1 => ip = ip[1..end].to_owned(),
            _ => {
                return Err(format!(
                    "invalid IP address {ip}: address {ip}:: missing port in address"
                ))
            }
        }
    }
    if !ip.is_empty() && parse_ip(&ip).is_none() {
        return Err(format!("invalid IP address: {ip}"));
    }
    if container_port.is_empty() {
        return Err(format!("no port specified: {raw}<empty>"));
    }
    let (start, end) = parse_port_range(&container_port)
        .map_err(|_| format!("invalid containerPort: {container_port}"))?;
    let (mut hstart, mut hend) = (0u64, 0u64);
    if !host_port.is_empty() {
        (hstart, hend) =
            parse_port_range(host_port).map_err(|_| format!("invalid hostPort: {host_port}"))?;
    }
    if !host_port.is_empty() && (end - start) != (hend.wrapping_sub(hstart)) && end != start {
        return Err(format!(
            "invalid ranges specified for container and host Ports: {container_port} and {host_port}"
        ));
    }
    let proto_l = proto.to_lowercase();
    if !matches!(proto_l.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let mut out = Vec::new();
    for i in 0..=(end - start) {
        let cport = start + i;
        let mut hp = if host_port.is_empty() {
            String::new()
        } else {
            (hstart + i).to_string()
        };
        if start == end && hstart != hend {
            hp = format!("{hp}-{hend}");
        }
        out.push((format!("{cport}/{proto_l}"), ip.clone(), hp));
    }
    Ok(out)
}

/// `nat.SplitProtoPort`.
fn split_proto_port(raw: &str) -> (String, String) {
    let parts: Vec<&str> = raw.split('/').collect();
    if raw.is_empty() || parts[0].is_empty() {
        return (String::new(), String::new());
    }
    if parts.len() == 1 {
        return ("tcp".to_owned(), raw.to_owned());
    }
    if parts[1].is_empty() {
        return ("tcp".to_owned(), parts[0].to_owned());
    }
    (parts[1].to_owned(), parts[0].to_owned())
}

/// `nat.ParsePortRange`, errors as Go's strconv/nat texts.
fn parse_port_range(ports: &str) -> Result<(u64, u64), String> {
    if ports.is_empty() {
        return Err("empty string specified for ports".to_owned());
    }
    let p = |s: &str| go_parse_int(s, 10, 16, false).map(|n| n as u64);
    if !ports.contains('-') {
        let v = p(ports)?;
        return Ok((v, v));
    }
    let parts: Vec<&str> = ports.split('-').collect();
    let start = p(parts[0])?;
    let end = p(parts[1])?;
    if end < start {
        return Err(format!("invalid range specified for port: {ports}"));
    }
    Ok((start, end))
}

/// `convertToStandardNotation`: `target=80,published=8080,protocol=udp`
/// becomes `8080:80/udp`.
fn convert_publish(publish: &str) -> Result<String, OptsError> {
    if !publish.contains('=') {
        return Ok(publish.to_owned());
    }
    let mut published = String::new();
    let mut target = String::new();
    let mut protocol = "tcp".to_owned();
    for param in publish.split(',') {
        let Some((k, v)) = param.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(invalid(format!(
                "invalid publish opts format (should be name=value but got '{param}')"
            )));
        };
        match k {
            "published" => published = v.to_owned(),
            "target" => target = v.to_owned(),
            "protocol" => protocol = v.to_owned(),
            _ => {}
        }
    }
    Ok(format!("{published}:{target}/{protocol}"))
}

fn valid_device_mode(mode: &str) -> bool {
    if mode.is_empty() {
        return false;
    }
    let mut seen = [false; 3];
    for c in mode.chars() {
        let i = match c {
            'r' => 0,
            'w' => 1,
            'm' => 2,
            _ => return false,
        };
        if seen[i] {
            return false;
        }
        seen[i] = true;
    }
    true
}

/// `validateLinuxPath` + `parseLinuxDevice` → a `DeviceMapping`.
fn parse_device(val: &str) -> Result<Value, String> {
    if val.matches(':').count() > 2 {
        return Err(format!("bad format for path: {val}"));
    }
    let split: Vec<&str> = val.splitn(3, ':').collect();
    if split[0].is_empty() {
        return Err(format!("bad format for path: {val}"));
    }
    let (validated, container_path) = match split.as_slice() {
        [p] => (clean_path(p), (*p).to_owned()),
        [a, b] => {
            if valid_device_mode(b) {
                (format!("{}:{b}", clean_path(a)), (*a).to_owned())
            } else {
                (format!("{a}:{}", clean_path(b)), (*b).to_owned())
            }
        }
        [a, b, mode] => {
            if !valid_device_mode(mode) {
                return Err(format!("bad mode specified: {mode}"));
            }
            (format!("{a}:{b}:{mode}"), (*b).to_owned())
        }
        _ => return Err(format!("bad format for path: {val}")),
    };
    if !container_path.starts_with('/') {
        return Err(format!("{container_path} is not an absolute path"));
    }
    // parseLinuxDevice, on the validated form.
    let arr: Vec<&str> = validated.splitn(4, ':').collect();
    let (src, mut dst, perms) = match arr.as_slice() {
        [src] => (*src, "", "rwm"),
        [src, b] => {
            if valid_device_mode(b) {
                (*src, "", *b)
            } else {
                (*src, *b, "rwm")
            }
        }
        [src, b, p] => {
            if valid_device_mode(b) {
                (*src, "", *b)
            } else {
                (*src, *b, *p)
            }
        }
        _ => return Err(format!("invalid device specification: {val}")),
    };
    if dst.is_empty() {
        dst = src;
    }
    Ok(json!({"PathOnHost": src, "PathInContainer": dst, "CgroupPermissions": perms}))
}

/// CDI's `parser.IsQualifiedName`: `vendor.com/class=name`.
fn is_cdi_qualified_name(device: &str) -> bool {
    let Some((kind, name)) = device.split_once('=') else {
        return false;
    };
    let Some((vendor, class)) = kind.split_once('/') else {
        return false;
    };
    let edge_ok = |s: &str, first_digit_ok: bool| {
        let b = s.as_bytes();
        !b.is_empty()
            && (b[0].is_ascii_alphabetic() || (first_digit_ok && b[0].is_ascii_digit()))
            && b[b.len() - 1].is_ascii_alphanumeric()
    };
    edge_ok(vendor, false)
        && vendor
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && edge_ok(class, false)
        && class
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_'))
        && edge_ok(name, true)
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':'))
}

/// `PidMode`/`UTSMode` validity: empty, `host` or `container:<id>`.
fn valid_ns_mode(mode: &str) -> bool {
    match mode.split_once(':') {
        None => mode.is_empty() || mode == "host",
        Some((k, v)) => k == "container" && !v.is_empty(),
    }
}

fn restart_policy(policy: &str) -> Result<(String, i64), OptsError> {
    if policy.is_empty() {
        return Ok((String::new(), 0));
    }
    let parts: Vec<&str> = policy.split(':').collect();
    if parts.len() > 2 {
        return Err(invalid("invalid restart policy format"));
    }
    let name = parts[0];
    if parts.len() == 2 && name.is_empty() {
        return Err(invalid(
            "invalid restart policy format: no policy provided before colon",
        ));
    }
    let mut count = 0;
    if let Some(c) = parts.get(1).filter(|c| !c.is_empty()) {
        count = go_parse_int(c, 10, 64, true).map_err(|_| {
            invalid("invalid restart policy format: maximum retry count must be an integer")
        })? as i64;
    }
    match name {
        "always" | "unless-stopped" | "no" => {
            if count != 0 {
                return Err(invalid(format!(
                    "maximum retry count cannot be used with restart policy '{name}'"
                )));
            }
        }
        "on-failure" => {
            if count < 0 {
                return Err(invalid("maximum retry count cannot be negative"));
            }
        }
        _ => return Err(invalid(format!("invalid restart policy '{name}'"))),
    }
    Ok((name.to_owned(), count))
}

fn security_opts(opts: &[String]) -> Result<Vec<String>, OptsError> {
    let mut out = Vec::with_capacity(opts.len());
    for opt in opts {
        let (mut k, mut v, mut ok) = match opt.split_once('=') {
            Some((k, v)) => (k, v, true),
            None => (opt.as_str(), "", false),
        };
        if !ok && k != "no-new-privileges" {
            (k, v, ok) = match opt.split_once(':') {
                Some((k, v)) => (k, v, true),
                None => (opt.as_str(), "", false),
            };
        }
        if (!ok || v.is_empty()) && k != "no-new-privileges" {
            return Err(invalid(format!(
                "Invalid --security-opt: {}",
                go_quote(opt)
            )));
        }
        if k == "seccomp" && v != "builtin" && v != "unconfined" {
            let data = std::fs::read(v).map_err(|e| {
                invalid(format!(
                    "opening seccomp profile ({v}) failed: {}",
                    go_io_error("open", v, &e)
                ))
            })?;
            let parsed: Value = serde_json::from_slice(&data).map_err(|e| {
                invalid(format!(
                    "compacting json for seccomp profile ({v}) failed: {e}"
                ))
            })?;
            out.push(format!("seccomp={parsed}"));
            continue;
        }
        out.push(opt.clone());
    }
    Ok(out)
}

fn kv_map(values: &[String]) -> Map<String, Value> {
    let mut m = Map::new();
    for v in values {
        let (k, val) = v.split_once('=').unwrap_or((v.as_str(), ""));
        m.insert(k.to_owned(), Value::String(val.to_owned()));
    }
    m
}

fn str_or_empty(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

// ---------------------------------------------------------------------------
// The create body
// ---------------------------------------------------------------------------

/// Builds the `POST /containers/create` body (Config with embedded
/// `HostConfig` and `NetworkingConfig`) from the flags, the image and the
/// command arguments, as docker's `parse()` (plus `run`'s `-d` handling when
/// `run` is given) does.
pub fn create_body(
    opts: &ContainerOpts,
    image: &str,
    args: &[String],
    run: Option<&RunOnly>,
) -> Result<Value, OptsError> {
    // runCreate / runRun: --pull first.
    if !matches!(opts.pull.as_str(), "always" | "missing" | "never" | "") {
        return Err(invalid(format!(
            "invalid pull option: '{}': must be one of \"always\", \"missing\" or \"never\"",
            opts.pull
        )));
    }

    // --- values pflag validates while parsing ------------------------------
    let mut attach = Vec::new();
    for a in &opts.attach {
        attach.push(validate_attach(a).map_err(|e| bad_arg("-a, --attach", a, e))?);
    }
    for r in &opts.device_cgroup_rule {
        validate_device_cgroup_rule(r).map_err(|e| bad_arg("--device-cgroup-rule", r, e))?;
    }
    let mut device_requests = Vec::new();
    for g in &opts.gpus {
        device_requests.push(parse_gpus(g).map_err(|e| bad_arg("--gpus", g, e))?);
    }
    let mut env_flags = Vec::new();
    for e in &opts.env {
        if let Some(v) = validate_env(e).map_err(|m| bad_arg("-e, --env", e, m))? {
            env_flags.push(v);
        }
    }
    for l in &opts.label {
        validate_label(l).map_err(|e| bad_arg("-l, --label", l, e))?;
    }
    for s in &opts.sysctl {
        validate_sysctl(s).map_err(|e| bad_arg("--sysctl", s, e))?;
    }
    let mut ulimits: Vec<(String, i64, i64)> = Vec::new();
    for u in &opts.ulimit {
        let l = parse_ulimit(u).map_err(|e| bad_arg("--ulimit", u, e))?;
        ulimits.retain(|x| x.0 != l.0);
        ulimits.push(l);
    }
    ulimits.sort_by(|a, b| a.0.cmp(&b.0));
    let mut extra_hosts = Vec::new();
    for h in &opts.add_host {
        extra_hosts.push(validate_extra_host(h).map_err(|e| bad_arg("--add-host", h, e))?);
    }
    let mut dns = Vec::new();
    for d in &opts.dns {
        dns.push(validate_dns(d).map_err(|e| bad_arg("--dns", d, e))?);
    }
    let mut dns_search = Vec::new();
    for d in &opts.dns_search {
        dns_search.push(validate_dns_search(d).map_err(|e| bad_arg("--dns-search", d, e))?);
    }
    for l in &opts.link {
        validate_link(l).map_err(|e| bad_arg("--link", l, e))?;
    }
    let mut networks = Vec::new();
    for n in &opts.network {
        networks.push(parse_network(n).map_err(|e| bad_arg("--network", n, e))?);
    }
    let mut mounts = Vec::new();
    for m in &opts.mount {
        mounts.push(parse_mount(m).map_err(|e| bad_arg("--mount", m, e))?);
    }
    let mut weight_devices = Vec::new();
    for w in &opts.blkio_weight_device {
        weight_devices
            .push(parse_weight_device(w).map_err(|e| bad_arg("--blkio-weight-device", w, e))?);
    }
    let throttle =
        |vals: &[String], flag: &'static str, bps: bool| -> Result<Vec<Value>, OptsError> {
            vals.iter()
                .map(|v| {
                    if bps {
                        parse_throttle_bps(v)
                    } else {
                        parse_throttle_iops(v)
                    }
                    .map_err(|e| bad_arg(flag, v, e))
                })
                .collect()
        };
    let read_bps = throttle(&opts.device_read_bps, "--device-read-bps", true)?;
    let write_bps = throttle(&opts.device_write_bps, "--device-write-bps", true)?;
    let read_iops = throttle(&opts.device_read_iops, "--device-read-iops", false)?;
    let write_iops = throttle(&opts.device_write_iops, "--device-write-iops", false)?;

    let memory = size_flag("-m, --memory", opts.memory.as_ref())?;
    let memory_reservation = size_flag("--memory-reservation", opts.memory_reservation.as_ref())?;
    let memory_swap = match opts.memory_swap.as_deref() {
        Some("-1") => -1,
        _ => size_flag("--memory-swap", opts.memory_swap.as_ref())?,
    };
    let kernel_memory = size_flag("--kernel-memory", opts.kernel_memory.as_ref())?;
    let shm_size = size_flag("--shm-size", opts.shm_size.as_ref())?;
    let io_max_bandwidth = size_flag("--io-maxbandwidth", opts.io_maxbandwidth.as_ref())?;
    let nano_cpus = match &opts.cpus {
        None => 0,
        Some(c) => parse_cpus(c).map_err(|e| bad_arg("--cpus", c, e))?,
    };
    let cpu_shares = int_flag("-c, --cpu-shares", opts.cpu_shares.as_ref(), 0)?;
    let cpu_period = int_flag("--cpu-period", opts.cpu_period.as_ref(), 0)?;
    let cpu_quota = int_flag("--cpu-quota", opts.cpu_quota.as_ref(), 0)?;
    let cpu_rt_period = int_flag("--cpu-rt-period", opts.cpu_rt_period.as_ref(), 0)?;
    let cpu_rt_runtime = int_flag("--cpu-rt-runtime", opts.cpu_rt_runtime.as_ref(), 0)?;
    let cpu_count = int_flag("--cpu-count", opts.cpu_count.as_ref(), 0)?;
    let cpu_percent = int_flag("--cpu-percent", opts.cpu_percent.as_ref(), 0)?;
    let swappiness = int_flag("--memory-swappiness", opts.memory_swappiness.as_ref(), -1)?;
    let oom_score_adj = int_flag("--oom-score-adj", opts.oom_score_adj.as_ref(), 0)?;
    let pids_limit = int_flag("--pids-limit", opts.pids_limit.as_ref(), 0)?;
    let stop_timeout = match &opts.stop_timeout {
        None => None,
        Some(_) => Some(int_flag("--stop-timeout", opts.stop_timeout.as_ref(), 0)?),
    };
    let health_retries = int_flag("--health-retries", opts.health_retries.as_ref(), 0)?;
    let blkio_weight = uint_flag("--blkio-weight", opts.blkio_weight.as_ref(), 16)?;
    let io_max_iops = uint_flag("--io-maxiops", opts.io_maxiops.as_ref(), 64)?;
    let health_interval = duration_flag("--health-interval", opts.health_interval.as_ref())?;
    let health_timeout = duration_flag("--health-timeout", opts.health_timeout.as_ref())?;
    let health_start_period =
        duration_flag("--health-start-period", opts.health_start_period.as_ref())?;
    let health_start_interval = duration_flag(
        "--health-start-interval",
        opts.health_start_interval.as_ref(),
    )?;

    // --- parse() -------------------------------------------------------------
    let mut attach_stdin = attach.iter().any(|a| a == "stdin");
    let mut attach_stdout = attach.iter().any(|a| a == "stdout");
    let mut attach_stderr = attach.iter().any(|a| a == "stderr");

    if let Some(mac) = opts.mac_address.as_deref().filter(|m| !m.is_empty()) {
        if !valid_mac(mac.trim()) {
            return Err(invalid(format!("{mac} is not a valid mac address")));
        }
    }
    if opts.interactive {
        attach_stdin = true;
    }
    if attach.is_empty() {
        attach_stdout = true;
        attach_stderr = true;
    }
    if swappiness != -1 && !(0..=100).contains(&swappiness) {
        return Err(invalid(format!(
            "invalid value: {swappiness}. Valid memory swappiness range is 0-100"
        )));
    }

    // -v: binds to HostConfig.Binds, anonymous volumes to Config.Volumes.
    let mut binds: Vec<String> = Vec::new();
    let mut volumes = Map::new();
    let mut seen_specs: Vec<&str> = Vec::new();
    for spec in &opts.volume {
        if seen_specs.contains(&spec.as_str()) {
            continue;
        }
        seen_specs.push(spec);
        let parsed = parse_volume_spec(spec).map_err(invalid)?;
        if parsed.source.is_empty() {
            volumes.insert(spec.clone(), json!({}));
            continue;
        }
        let mut to_bind = spec.clone();
        if parsed.is_bind {
            if let Some((host, rest)) = spec.split_once(':') {
                if host.starts_with("./") || host == "." {
                    if let Some(abs) = abs_path(host) {
                        to_bind = format!("{abs}:{rest}");
                    }
                }
            }
        }
        binds.push(to_bind);
    }

    let mut tmpfs = Map::new();
    for t in &opts.tmpfs {
        let (k, v) = t.split_once(':').unwrap_or((t.as_str(), ""));
        tmpfs.insert(k.to_owned(), Value::String(v.to_owned()));
    }

    let entrypoint: Option<Vec<String>> = opts.entrypoint.as_ref().map(|e| vec![e.clone()]);

    // Ports.
    let mut exposed = Map::new();
    let mut port_bindings = Map::new();
    for p in &opts.publish {
        let spec = convert_publish(p)?;
        for (port, host_ip, host_port) in parse_port_spec(&spec).map_err(invalid)? {
            exposed.insert(port.clone(), json!({}));
            let entry = port_bindings
                .entry(port)
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = entry {
                list.push(json!({"HostIp": host_ip, "HostPort": host_port}));
            }
        }
    }
    for e in &opts.expose {
        if e.contains(':') {
            return Err(invalid(format!("invalid port format for --expose: {e}")));
        }
        let (proto, port) = split_proto_port(e);
        let (start, end) = parse_port_range(&port).map_err(|err| {
            invalid(format!(
                "invalid range format for --expose: {e}, error: {err}"
            ))
        })?;
        for p in start..=end {
            exposed
                .entry(format!("{p}/{proto}"))
                .or_insert_with(|| json!({}));
        }
    }

    // Devices.
    let mut devices = Vec::new();
    let mut cdi_devices = Vec::new();
    for d in &opts.device {
        if is_cdi_qualified_name(d) {
            cdi_devices.push(d.clone());
            continue;
        }
        devices.push(parse_device(d).map_err(invalid)?);
    }
    if !cdi_devices.is_empty() {
        device_requests.push(json!({"Driver": "cdi", "Count": 0, "DeviceIDs": cdi_devices, "Capabilities": null, "Options": null}));
    }

    // Environment: env files, then -e (later entries win, docker's daemon
    // merges the same way).
    let mut env_all = Vec::new();
    for f in &opts.env_file {
        env_all.extend(parse_kv_file(f, true)?);
    }
    env_all.extend(env_flags);
    let mut env: Vec<String> = Vec::new();
    for e in env_all {
        let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k).to_owned();
        match env
            .iter_mut()
            .find(|x| x.split_once('=').map_or(x.as_str(), |(k, _)| k) == key)
        {
            Some(slot) => *slot = e,
            None => env.push(e),
        }
    }

    // Labels: label files, then -l.
    let mut label_all = Vec::new();
    for f in &opts.label_file {
        label_all.extend(parse_kv_file(f, false)?);
    }
    label_all.extend(opts.label.iter().cloned());
    let labels = kv_map(&label_all);

    let pid_mode = str_or_empty(&opts.pid);
    if !valid_ns_mode(&pid_mode) {
        return Err(invalid("--pid: invalid PID mode"));
    }
    let uts_mode = str_or_empty(&opts.uts);
    if !valid_ns_mode(&uts_mode) {
        return Err(invalid("--uts: invalid UTS mode"));
    }
    let userns_mode = str_or_empty(&opts.userns);
    if !matches!(userns_mode.as_str(), "" | "host") {
        return Err(invalid("--userns: invalid USER mode"));
    }
    let cgroupns_mode = str_or_empty(&opts.cgroupns);
    if !matches!(cgroupns_mode.as_str(), "" | "host" | "private") {
        return Err(invalid("--cgroupns: invalid CGROUP mode"));
    }

    let (restart_name, restart_count) = restart_policy(&opts.restart)?;

    let log_driver = str_or_empty(&opts.log_driver);
    if log_driver == "none" && !opts.log_opt.is_empty() {
        return Err(invalid(format!(
            "invalid logging opts for driver {log_driver}"
        )));
    }
    let log_config = kv_map(&opts.log_opt);

    let mut sec_opts = security_opts(&opts.security_opt)?;
    let mut system_paths_unconfined = false;
    sec_opts.retain(|o| {
        if o == "systempaths=unconfined" {
            system_paths_unconfined = true;
            false
        } else {
            true
        }
    });

    let mut storage_opts = Map::new();
    for o in &opts.storage_opt {
        let Some((k, v)) = o.split_once('=') else {
            return Err(invalid("invalid storage option"));
        };
        storage_opts.insert(k.to_owned(), Value::String(v.to_owned()));
    }

    // Healthcheck.
    let health_cmd = str_or_empty(&opts.health_cmd);
    let have_health = !health_cmd.is_empty()
        || health_interval != 0
        || health_timeout != 0
        || health_start_period != 0
        || health_retries != 0
        || health_start_interval != 0;
    let healthcheck = if opts.no_healthcheck {
        if have_health {
            return Err(invalid(
                "--no-healthcheck conflicts with --health-* options",
            ));
        }
        Some(json!({"Test": ["NONE"]}))
    } else if have_health {
        if health_interval < 0 {
            return Err(invalid("--health-interval cannot be negative"));
        }
        if health_timeout < 0 {
            return Err(invalid("--health-timeout cannot be negative"));
        }
        if health_retries < 0 {
            return Err(invalid("--health-retries cannot be negative"));
        }
        if health_start_period < 0 {
            return Err(invalid("--health-start-period cannot be negative"));
        }
        if health_start_interval < 0 {
            return Err(invalid("--health-start-interval cannot be negative"));
        }
        let mut h = Map::new();
        if !health_cmd.is_empty() {
            h.insert("Test".into(), json!(["CMD-SHELL", health_cmd]));
        }
        for (k, v) in [
            ("Interval", health_interval),
            ("Timeout", health_timeout),
            ("StartPeriod", health_start_period),
            ("StartInterval", health_start_interval),
            ("Retries", health_retries),
        ] {
            if v != 0 {
                h.insert(k.into(), json!(v));
            }
        }
        Some(Value::Object(h))
    } else {
        None
    };

    if opts.rm && !(restart_name.is_empty() || restart_name == "no") {
        return Err(invalid("Conflicting options: --restart and --rm"));
    }

    let open_stdin = opts.interactive;
    let mut stdin_once = open_stdin && attach_stdin;

    // Networking.
    let (network_mode, endpoints) = network_config(opts, &networks)?;

    // run: -d.
    if let Some(r) = run {
        if r.detach {
            if !attach.is_empty() {
                return Err(invalid("Conflicting options: -a and -d"));
            }
            attach_stdin = false;
            attach_stdout = false;
            attach_stderr = false;
            stdin_once = false;
        }
    }

    // createContainer: the image reference.
    validate_image_reference(image)?;

    // --- the JSON -------------------------------------------------------------
    let mut host = Map::new();
    if !binds.is_empty() {
        host.insert("Binds".into(), json!(binds));
    }
    host.insert("ContainerIDFile".into(), json!(str_or_empty(&opts.cidfile)));
    host.insert(
        "LogConfig".into(),
        json!({"Type": log_driver, "Config": log_config}),
    );
    host.insert("NetworkMode".into(), json!(network_mode));
    host.insert("PortBindings".into(), Value::Object(port_bindings));
    host.insert(
        "RestartPolicy".into(),
        json!({"Name": restart_name, "MaximumRetryCount": restart_count}),
    );
    host.insert("AutoRemove".into(), json!(opts.rm));
    host.insert(
        "VolumeDriver".into(),
        json!(str_or_empty(&opts.volume_driver)),
    );
    if !opts.volumes_from.is_empty() {
        host.insert("VolumesFrom".into(), json!(opts.volumes_from));
    }
    if !opts.annotation.is_empty() {
        host.insert(
            "Annotations".into(),
            Value::Object(kv_map(&opts.annotation)),
        );
    }
    if !opts.cap_add.is_empty() {
        host.insert("CapAdd".into(), json!(opts.cap_add));
    }
    if !opts.cap_drop.is_empty() {
        host.insert("CapDrop".into(), json!(opts.cap_drop));
    }
    host.insert("CgroupnsMode".into(), json!(cgroupns_mode));
    host.insert("Dns".into(), json!(dns));
    host.insert("DnsOptions".into(), json!(opts.dns_option));
    host.insert("DnsSearch".into(), json!(dns_search));
    if !extra_hosts.is_empty() {
        host.insert("ExtraHosts".into(), json!(extra_hosts));
    }
    if !opts.group_add.is_empty() {
        host.insert("GroupAdd".into(), json!(opts.group_add));
    }
    host.insert("IpcMode".into(), json!(str_or_empty(&opts.ipc)));
    if !opts.link.is_empty() {
        host.insert("Links".into(), json!(opts.link));
    }
    host.insert("OomScoreAdj".into(), json!(oom_score_adj));
    host.insert("PidMode".into(), json!(pid_mode));
    host.insert("Privileged".into(), json!(opts.privileged));
    host.insert("PublishAllPorts".into(), json!(opts.publish_all));
    host.insert("ReadonlyRootfs".into(), json!(opts.read_only));
    if !sec_opts.is_empty() {
        host.insert("SecurityOpt".into(), json!(sec_opts));
    }
    if !storage_opts.is_empty() {
        host.insert("StorageOpt".into(), Value::Object(storage_opts));
    }
    if !tmpfs.is_empty() {
        host.insert("Tmpfs".into(), Value::Object(tmpfs));
    }
    host.insert("UTSMode".into(), json!(uts_mode));
    host.insert("UsernsMode".into(), json!(userns_mode));
    host.insert("ShmSize".into(), json!(shm_size));
    if !opts.sysctl.is_empty() {
        host.insert("Sysctls".into(), Value::Object(kv_map(&opts.sysctl)));
    }
    if let Some(rt) = opts.runtime.as_deref().filter(|r| !r.is_empty()) {
        host.insert("Runtime".into(), json!(rt));
    }
    host.insert("Isolation".into(), json!(str_or_empty(&opts.isolation)));
    // Resources (inlined in HostConfig).
    host.insert("CpuShares".into(), json!(cpu_shares));
    host.insert("Memory".into(), json!(memory));
    host.insert("NanoCpus".into(), json!(nano_cpus));
    host.insert(
        "CgroupParent".into(),
        json!(str_or_empty(&opts.cgroup_parent)),
    );
    host.insert("BlkioWeight".into(), json!(blkio_weight));
    host.insert("BlkioWeightDevice".into(), json!(weight_devices));
    host.insert("BlkioDeviceReadBps".into(), json!(read_bps));
    host.insert("BlkioDeviceWriteBps".into(), json!(write_bps));
    host.insert("BlkioDeviceReadIOps".into(), json!(read_iops));
    host.insert("BlkioDeviceWriteIOps".into(), json!(write_iops));
    host.insert("CpuPeriod".into(), json!(cpu_period));
    host.insert("CpuQuota".into(), json!(cpu_quota));
    host.insert("CpuRealtimePeriod".into(), json!(cpu_rt_period));
    host.insert("CpuRealtimeRuntime".into(), json!(cpu_rt_runtime));
    host.insert("CpusetCpus".into(), json!(str_or_empty(&opts.cpuset_cpus)));
    host.insert("CpusetMems".into(), json!(str_or_empty(&opts.cpuset_mems)));
    host.insert("Devices".into(), json!(devices));
    if !opts.device_cgroup_rule.is_empty() {
        host.insert("DeviceCgroupRules".into(), json!(opts.device_cgroup_rule));
    }
    if !device_requests.is_empty() {
        host.insert("DeviceRequests".into(), json!(device_requests));
    }
    if kernel_memory != 0 {
        host.insert("KernelMemory".into(), json!(kernel_memory));
    }
    host.insert("MemoryReservation".into(), json!(memory_reservation));
    host.insert("MemorySwap".into(), json!(memory_swap));
    host.insert("MemorySwappiness".into(), json!(swappiness));
    host.insert("OomKillDisable".into(), json!(opts.oom_kill_disable));
    host.insert("PidsLimit".into(), json!(pids_limit));
    host.insert(
        "Ulimits".into(),
        Value::Array(
            ulimits
                .into_iter()
                .map(|(n, s, h)| json!({"Name": n, "Hard": h, "Soft": s}))
                .collect(),
        ),
    );
    host.insert("CpuCount".into(), json!(cpu_count));
    host.insert("CpuPercent".into(), json!(cpu_percent));
    host.insert("IOMaximumIOps".into(), json!(io_max_iops));
    host.insert("IOMaximumBandwidth".into(), json!(io_max_bandwidth));
    if !mounts.is_empty() {
        host.insert("Mounts".into(), json!(mounts));
    }
    if system_paths_unconfined {
        host.insert("MaskedPaths".into(), json!([]));
        host.insert("ReadonlyPaths".into(), json!([]));
    }
    if let Some(init) = opts.init {
        host.insert("Init".into(), json!(init));
    }

    let mut body = Map::new();
    body.insert("Hostname".into(), json!(str_or_empty(&opts.hostname)));
    body.insert("Domainname".into(), json!(str_or_empty(&opts.domainname)));
    body.insert("User".into(), json!(str_or_empty(&opts.user)));
    body.insert("AttachStdin".into(), json!(attach_stdin));
    body.insert("AttachStdout".into(), json!(attach_stdout));
    body.insert("AttachStderr".into(), json!(attach_stderr));
    if !exposed.is_empty() {
        body.insert("ExposedPorts".into(), Value::Object(exposed));
    }
    body.insert("Tty".into(), json!(opts.tty));
    body.insert("OpenStdin".into(), json!(open_stdin));
    body.insert("StdinOnce".into(), json!(stdin_once));
    body.insert("Env".into(), json!(env));
    if !args.is_empty() {
        body.insert("Cmd".into(), json!(args));
    }
    if let Some(h) = healthcheck {
        body.insert("Healthcheck".into(), h);
    }
    body.insert("Image".into(), json!(image));
    body.insert("Volumes".into(), Value::Object(volumes));
    body.insert("WorkingDir".into(), json!(str_or_empty(&opts.workdir)));
    if let Some(ep) = entrypoint {
        body.insert("Entrypoint".into(), json!(ep));
    }
    body.insert("Labels".into(), Value::Object(labels));
    if let Some(s) = opts.stop_signal.as_deref().filter(|s| !s.is_empty()) {
        body.insert("StopSignal".into(), json!(s));
    }
    if let Some(t) = stop_timeout {
        body.insert("StopTimeout".into(), json!(t));
    }
    body.insert("HostConfig".into(), Value::Object(host));
    body.insert(
        "NetworkingConfig".into(),
        json!({"EndpointsConfig": Value::Object(endpoints)}),
    );
    Ok(Value::Object(body))
}

/// `ParseAnyReference`: a 64-hex ID, a digest, or a normalisable name.
fn validate_image_reference(image: &str) -> Result<(), OptsError> {
    if image.len() == 64
        && image
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Ok(());
    }
    if berth_reference::Digest::parse(image).is_ok() {
        return Ok(());
    }
    berth_reference::Reference::parse_normalized(image)
        .map(|_| ())
        .map_err(|e| invalid(e.to_string()))
}

/// `parseNetworkOpts`: the network mode and the endpoint settings, with
/// `--network-alias`, `--link`, `--ip`, `--ip6`, `--mac-address` and
/// `--link-local-ip` applied to the first network. The default network
/// (`default`) is sent as `bridge`.
fn network_config(
    opts: &ContainerOpts,
    networks: &[NetAttach],
) -> Result<(String, Map<String, Value>), OptsError> {
    let rename = |t: &str| {
        if t == "default" {
            "bridge".to_owned()
        } else {
            t.to_owned()
        }
    };
    let apply = |n: &mut NetAttach| -> Result<(), OptsError> {
        let conflict = |what: &str| {
            Err(invalid(format!(
                "conflicting options: cannot specify both {what}"
            )))
        };
        let ip = str_or_empty(&opts.ip);
        let ip6 = str_or_empty(&opts.ip6);
        let mac = str_or_empty(&opts.mac_address);
        if !n.aliases.is_empty() && !opts.network_alias.is_empty() {
            return conflict("--network-alias and per-network alias");
        }
        if !n.links.is_empty() && !opts.link.is_empty() {
            return conflict("--link and per-network links");
        }
        if !n.ipv4.is_empty() && !ip.is_empty() {
            return conflict("--ip and per-network IPv4 address");
        }
        if !n.ipv6.is_empty() && !ip6.is_empty() {
            return conflict("--ip6 and per-network IPv6 address");
        }
        if !n.mac.is_empty() && !mac.is_empty() {
            return conflict("--mac-address and per-network MAC address");
        }
        if !n.link_local_ips.is_empty() && !opts.link_local_ip.is_empty() {
            return conflict("--link-local-ip and per-network link-local IP addresses");
        }
        if !opts.network_alias.is_empty() {
            n.aliases = opts.network_alias.clone();
        }
        if is_user_defined_network(&n.target) && !opts.link.is_empty() {
            n.links = opts.link.clone();
        }
        if !ip.is_empty() {
            n.ipv4 = ip;
        }
        if !ip6.is_empty() {
            n.ipv6 = ip6;
        }
        if !mac.is_empty() {
            n.mac = mac;
        }
        if !opts.link_local_ip.is_empty() {
            n.link_local_ips = opts.link_local_ip.clone();
        }
        Ok(())
    };
    let endpoint = |n: &NetAttach| -> Result<Map<String, Value>, OptsError> {
        if n.target.trim().is_empty() {
            return Err(invalid("no name set for network"));
        }
        if !is_user_defined_network(&n.target) {
            if !n.aliases.is_empty() {
                return Err(invalid(
                    "network-scoped aliases are only supported for user-defined networks",
                ));
            }
            if !n.links.is_empty() {
                return Err(invalid(
                    "links are only supported for user-defined networks",
                ));
            }
        }
        let mut ep = Map::new();
        if !n.ipv4.is_empty() || !n.ipv6.is_empty() || !n.link_local_ips.is_empty() {
            let mut ipam = Map::new();
            if !n.ipv4.is_empty() {
                ipam.insert("IPv4Address".into(), json!(n.ipv4));
            }
            if !n.ipv6.is_empty() {
                ipam.insert("IPv6Address".into(), json!(n.ipv6));
            }
            if !n.link_local_ips.is_empty() {
                ipam.insert("LinkLocalIPs".into(), json!(n.link_local_ips));
            }
            ep.insert("IPAMConfig".into(), Value::Object(ipam));
        }
        if !n.links.is_empty() {
            ep.insert("Links".into(), json!(n.links));
        }
        if !n.aliases.is_empty() {
            ep.insert("Aliases".into(), json!(n.aliases));
        }
        if !n.mac.is_empty() {
            if !valid_mac(n.mac.trim()) {
                return Err(invalid(format!("{} is not a valid mac address", n.mac)));
            }
            ep.insert("MacAddress".into(), json!(n.mac));
        }
        if !n.driver_opts.is_empty() {
            ep.insert("DriverOpts".into(), Value::Object(n.driver_opts.clone()));
        }
        Ok(ep)
    };

    let mut endpoints = Map::new();
    if networks.is_empty() {
        let mut n = NetAttach {
            target: "default".to_owned(),
            ..NetAttach::default()
        };
        apply(&mut n)?;
        let ep = endpoint(&n)?;
        if !ep.is_empty() {
            endpoints.insert(rename(&n.target), Value::Object(ep));
        }
        return Ok(("bridge".to_owned(), endpoints));
    }
    let (mut user_defined, mut builtin) = (false, false);
    for (i, net) in networks.iter().enumerate() {
        let mut n = net.clone();
        if is_user_defined_network(&n.target) {
            user_defined = true;
        } else {
            builtin = true;
        }
        if i == 0 {
            apply(&mut n)?;
        }
        let ep = endpoint(&n)?;
        let key = rename(&n.target);
        if endpoints.contains_key(&key) {
            return Err(invalid(format!(
                "network {} is specified multiple times",
                go_quote(&n.target)
            )));
        }
        if i == 0 && networks.len() == 1 && ep.is_empty() {
            continue;
        }
        endpoints.insert(key, Value::Object(ep));
    }
    if user_defined && builtin {
        return Err(invalid(
            "conflicting options: cannot attach both user-defined and non-user-defined network-modes",
        ));
    }
    Ok((rename(&networks[0].target), endpoints))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    #[command(name = "run", disable_help_flag = true)]
    struct T {
        #[command(flatten)]
        o: ContainerOpts,
        #[command(flatten)]
        r: RunOnly,
        /// IMAGE [COMMAND] [ARG...]: flags end at the image, as with
        /// pflag's `SetInterspersed(false)`.
        #[arg(required = true, trailing_var_arg = true, value_name = "IMAGE")]
        cmd: Vec<String>,
    }

    impl T {
        fn image(&self) -> &str {
            &self.cmd[0]
        }
        fn args(&self) -> &[String] {
            &self.cmd[1..]
        }
    }

    fn parse(argv: &[&str]) -> T {
        let mut full = vec!["run"];
        full.extend_from_slice(argv);
        match T::try_parse_from(full) {
            Ok(t) => t,
            Err(e) => panic!("clap refused {argv:?}: {e}"),
        }
    }

    /// `create` body (no run flags).
    fn create(argv: &[&str]) -> Result<Value, OptsError> {
        let t = parse(argv);
        create_body(&t.o, t.image(), t.args(), None)
    }

    /// `run` body.
    fn run(argv: &[&str]) -> Result<Value, OptsError> {
        let t = parse(argv);
        create_body(&t.o, t.image(), t.args(), Some(&t.r))
    }

    fn ok(argv: &[&str]) -> Value {
        match create(argv) {
            Ok(v) => v,
            Err(e) => panic!("{argv:?}: {e}"),
        }
    }

    fn err(argv: &[&str]) -> String {
        match create(argv) {
            Ok(v) => panic!("{argv:?} accepted: {v}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn unknown_flags_are_refused() {
        let mut full = vec!["run", "--bogus", "x"];
        assert!(T::try_parse_from(&full).is_err());
        full = vec!["run", "x", "--bogus", "-c", "1"];
        let t = T::try_parse_from(&full).unwrap();
        assert_eq!(t.args(), ["--bogus", "-c", "1"]);
        assert!(t.o.cpu_shares.is_none());
        let e = T::try_parse_from(["run", "--help"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp);
        let t = T::try_parse_from(["run", "-h", "box", "x"]).unwrap();
        assert_eq!(t.o.hostname.as_deref(), Some("box"));
    }

    #[test]
    fn command_definition_is_valid() {
        use clap::CommandFactory;
        T::command().debug_assert();
    }

    #[test]
    fn defaults() {
        let b = ok(&["busybox"]);
        assert_eq!(b["Image"], "busybox");
        assert!(b.get("Cmd").is_none());
        assert_eq!(b["AttachStdout"], true);
        assert_eq!(b["AttachStderr"], true);
        assert_eq!(b["AttachStdin"], false);
        assert_eq!(b["Env"], json!([]));
        assert_eq!(b["Labels"], json!({}));
        let h = &b["HostConfig"];
        assert_eq!(h["NetworkMode"], "bridge");
        assert_eq!(
            h["RestartPolicy"],
            json!({"Name": "no", "MaximumRetryCount": 0})
        );
        assert_eq!(h["MemorySwappiness"], -1);
        assert_eq!(h["Dns"], json!([]));
        assert!(h.get("Init").is_none());
        assert_eq!(b["NetworkingConfig"], json!({"EndpointsConfig": {}}));
    }

    #[test]
    fn command_args_stop_flag_parsing() {
        let t = parse(&["-it", "--rm", "alpine", "sh", "-c", "echo -e hi"]);
        assert!(t.o.interactive && t.o.tty && t.o.rm);
        assert_eq!(t.image(), "alpine");
        assert_eq!(t.args(), ["sh", "-c", "echo -e hi"]);
        let b = create_body(&t.o, t.image(), t.args(), Some(&t.r)).unwrap();
        assert_eq!(b["Cmd"], json!(["sh", "-c", "echo -e hi"]));
        assert_eq!(b["Tty"], true);
        assert_eq!(b["OpenStdin"], true);
        assert_eq!(b["AttachStdin"], true);
        assert_eq!(b["StdinOnce"], true);
        assert_eq!(b["HostConfig"]["AutoRemove"], true);
    }

    #[test]
    fn bool_flags_take_go_values() {
        let t = parse(&[
            "--sig-proxy=false",
            "--init",
            "-t=false",
            "--privileged=1",
            "x",
        ]);
        assert!(!t.r.sig_proxy);
        assert_eq!(t.o.init, Some(true));
        assert!(!t.o.tty);
        assert!(t.o.privileged);
        let t = parse(&["x"]);
        assert!(t.r.sig_proxy);
        assert!(RunOnly::default().sig_proxy);
        let b = ok(&["--init=false", "x"]);
        assert_eq!(b["HostConfig"]["Init"], false);
    }

    #[test]
    fn hyphen_values_are_flag_values() {
        let b = ok(&[
            "--memory-swap",
            "-1",
            "--oom-score-adj",
            "-500",
            "--entrypoint",
            "-x",
            "x",
        ]);
        assert_eq!(b["HostConfig"]["MemorySwap"], -1);
        assert_eq!(b["HostConfig"]["OomScoreAdj"], -500);
        assert_eq!(b["Entrypoint"], json!(["-x"]));
    }

    #[test]
    fn memory_units() {
        let cases = [
            ("64m", 64i64 << 20),
            ("1g", 1 << 30),
            ("512k", 512 << 10),
            ("1.5g", 1_610_612_736),
            ("100", 100),
            ("10b", 10),
            ("2MB", 2 << 20),
            ("2MiB", 2 << 20),
            ("1T", 1 << 40),
            ("1 k", 1024),
        ];
        for (v, want) in cases {
            let b = ok(&["-m", v, "x"]);
            assert_eq!(b["HostConfig"]["Memory"], want, "{v}");
        }
        let b = ok(&[
            "--shm-size",
            "128m",
            "--memory-reservation=1g",
            "--kernel-memory",
            "4m",
            "x",
        ]);
        assert_eq!(b["HostConfig"]["ShmSize"], 128 << 20);
        assert_eq!(b["HostConfig"]["MemoryReservation"], 1 << 30);
        assert_eq!(b["HostConfig"]["KernelMemory"], 4 << 20);
        assert_eq!(
            err(&["-m", "64x", "x"]),
            r#"invalid argument "64x" for "-m, --memory" flag: invalid suffix: 'x'"#
        );
        assert_eq!(
            err(&["--memory", "abc", "x"]),
            r#"invalid argument "abc" for "-m, --memory" flag: invalid size: 'abc'"#
        );
        assert_eq!(
            err(&["--shm-size", "1kbb", "x"]),
            r#"invalid argument "1kbb" for "--shm-size" flag: invalid suffix: 'kbb'"#
        );
        assert_eq!(
            err(&["--memory-swap", "-2", "x"]),
            r#"invalid argument "-2" for "--memory-swap" flag: invalid size: '-2'"#
        );
        assert_eq!(
            ram_in_bytes("1.2.3m").unwrap_err(),
            r#"strconv.ParseFloat: parsing "1.2.3": invalid syntax"#
        );
    }

    #[test]
    fn cpus_and_integers() {
        let b = ok(&[
            "--cpus",
            "1.5",
            "-c",
            "512",
            "--cpu-quota=-1",
            "--pids-limit",
            "0x10",
            "x",
        ]);
        assert_eq!(b["HostConfig"]["NanoCpus"], 1_500_000_000i64);
        assert_eq!(b["HostConfig"]["CpuShares"], 512);
        assert_eq!(b["HostConfig"]["CpuQuota"], -1);
        assert_eq!(b["HostConfig"]["PidsLimit"], 16);
        assert_eq!(parse_cpus("0.000000001"), Ok(1));
        assert_eq!(parse_cpus("3/2"), Ok(1_500_000_000));
        assert_eq!(parse_cpus("2e-1"), Ok(200_000_000));
        assert_eq!(
            parse_cpus("0.0000000001").unwrap_err(),
            "value is too precise"
        );
        assert_eq!(
            err(&["--cpus", "abc", "x"]),
            r#"invalid argument "abc" for "--cpus" flag: failed to parse abc as a rational number"#
        );
        assert_eq!(
            err(&["-c", "x", "x"]),
            r#"invalid argument "x" for "-c, --cpu-shares" flag: strconv.ParseInt: parsing "x": invalid syntax"#
        );
        assert_eq!(
            err(&["--blkio-weight", "70000", "x"]),
            r#"invalid argument "70000" for "--blkio-weight" flag: strconv.ParseUint: parsing "70000": value out of range"#
        );
        assert_eq!(
            err(&["--memory-swappiness", "101", "x"]),
            "invalid value: 101. Valid memory swappiness range is 0-100"
        );
    }

    #[test]
    fn ports() {
        let b = ok(&[
            "-p",
            "80",
            "-p",
            "8080:81",
            "-p",
            "127.0.0.1:53:53/udp",
            "x",
        ]);
        assert_eq!(
            b["ExposedPorts"],
            json!({"80/tcp": {}, "81/tcp": {}, "53/udp": {}})
        );
        assert_eq!(
            b["HostConfig"]["PortBindings"],
            json!({
                "80/tcp": [{"HostIp": "", "HostPort": ""}],
                "81/tcp": [{"HostIp": "", "HostPort": "8080"}],
                "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "53"}],
            })
        );
        let b = ok(&["-p", "8080-8081:80-81", "-p", "127.0.0.1::90", "x"]);
        assert_eq!(
            b["HostConfig"]["PortBindings"],
            json!({
                "80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                "81/tcp": [{"HostIp": "", "HostPort": "8081"}],
                "90/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}],
            })
        );
        // A host range for one container port.
        let b = ok(&["-p", "8000-8010:80", "x"]);
        assert_eq!(
            b["HostConfig"]["PortBindings"]["80/tcp"],
            json!([{"HostIp": "", "HostPort": "8000-8010"}])
        );
        // IPv6, bare and bracketed; the same port twice.
        let b = ok(&[
            "-p",
            "::1:8080:80",
            "-p",
            "[::1]:8081:80",
            "-p",
            "[2001:db8::1]:9000:9000/sctp",
            "x",
        ]);
        assert_eq!(
            b["HostConfig"]["PortBindings"]["80/tcp"],
            json!([{"HostIp": "::1", "HostPort": "8080"}, {"HostIp": "::1", "HostPort": "8081"}])
        );
        assert_eq!(
            b["HostConfig"]["PortBindings"]["9000/sctp"],
            json!([{"HostIp": "2001:db8::1", "HostPort": "9000"}])
        );
        // Long syntax.
        let b = ok(&["-p", "target=80,published=8080,protocol=udp", "x"]);
        assert_eq!(
            b["HostConfig"]["PortBindings"]["80/udp"],
            json!([{"HostIp": "", "HostPort": "8080"}])
        );
        // Errors.
        assert_eq!(
            err(&["-p", "target=80,x", "x"]),
            "invalid publish opts format (should be name=value but got 'x')"
        );
        assert_eq!(
            err(&["-p", "8080:http", "x"]),
            "invalid containerPort: http"
        );
        assert_eq!(err(&["-p", "abc:80", "x"]), "invalid hostPort: abc");
        assert_eq!(err(&["-p", "80/xyz", "x"]), "invalid proto: xyz");
        assert_eq!(
            err(&["-p", "1.2.3:80:80", "x"]),
            "invalid IP address: 1.2.3"
        );
        assert_eq!(
            err(&["-p", "8080:", "x"]),
            "no port specified: 8080:<empty>"
        );
        assert_eq!(
            err(&["-p", "8080-8082:80-81", "x"]),
            "invalid ranges specified for container and host Ports: 80-81 and 8080-8082"
        );
        assert_eq!(err(&["-p", "99999", "x"]), "invalid containerPort: 99999");
        assert_eq!(err(&["-p", "81-80", "x"]), "invalid containerPort: 81-80");
    }

    #[test]
    fn expose_and_publish_all() {
        let b = ok(&["--expose", "80", "--expose", "7000-7002/udp", "-P", "x"]);
        assert_eq!(
            b["ExposedPorts"],
            json!({"80/tcp": {}, "7000/udp": {}, "7001/udp": {}, "7002/udp": {}})
        );
        assert_eq!(b["HostConfig"]["PublishAllPorts"], true);
        assert_eq!(
            err(&["--expose", "80:80", "x"]),
            "invalid port format for --expose: 80:80"
        );
        assert_eq!(
            err(&["--expose", "x", "x"]),
            r#"invalid range format for --expose: x, error: strconv.ParseUint: parsing "x": invalid syntax"#
        );
    }

    #[test]
    fn volumes_binds_and_mounts() {
        let b = ok(&[
            "-v",
            "/data",
            "-v",
            "/src:/dst:ro,Z",
            "-v",
            "named:/var/lib",
            "-v",
            "/data",
            "x",
        ]);
        assert_eq!(b["Volumes"], json!({"/data": {}}));
        assert_eq!(
            b["HostConfig"]["Binds"],
            json!(["/src:/dst:ro,Z", "named:/var/lib"])
        );
        let b = ok(&["-v", "./rel:/in", "x"]);
        let bind = b["HostConfig"]["Binds"][0].as_str().unwrap().to_owned();
        assert!(
            bind.starts_with('/') && bind.ends_with("/rel:/in"),
            "{bind}"
        );
        assert_eq!(
            err(&["-v", "/a::/b", "x"]),
            "invalid spec: /a::/b: empty section between colons"
        );
        assert_eq!(
            err(&["-v", "/a:/b:ro:x", "x"]),
            "invalid spec: /a:/b:ro:x: too many colons"
        );

        let b = ok(&[
            "--mount", "type=bind,src=/host,dst=/in,readonly,bind-propagation=rshared",
            "--mount", "type=volume,source=vol,target=/v,volume-nocopy,volume-label=a=b,volume-driver=local,volume-opt=type=nfs,volume-opt=o=addr=1.2.3.4",
            "--mount", "type=tmpfs,destination=/t,tmpfs-size=64m,tmpfs-mode=1770",
            "--mount", "target=/anon",
            "x",
        ]);
        assert_eq!(
            b["HostConfig"]["Mounts"],
            json!([
                {"Type": "bind", "Source": "/host", "Target": "/in", "ReadOnly": true,
                 "BindOptions": {"Propagation": "rshared"}},
                {"Type": "volume", "Source": "vol", "Target": "/v",
                 "VolumeOptions": {"NoCopy": true, "Labels": {"a": "b"},
                   "DriverConfig": {"Name": "local", "Options": {"type": "nfs", "o": "addr=1.2.3.4"}}}},
                {"Type": "tmpfs", "Target": "/t",
                 "TmpfsOptions": {"SizeBytes": 64 << 20, "Mode": 0o1770}},
                {"Type": "volume", "Target": "/anon"},
            ])
        );
        let b = ok(&[
            "--mount",
            "type=bind,\"src=/a,b\",dst=/c,bind-recursive=disabled",
            "x",
        ]);
        assert_eq!(b["HostConfig"]["Mounts"][0]["Source"], "/a,b");
        assert_eq!(
            b["HostConfig"]["Mounts"][0]["BindOptions"],
            json!({"NonRecursive": true})
        );
        assert_eq!(
            err(&["--mount", "type=bind,src=/a", "x"]),
            r#"invalid argument "type=bind,src=/a" for "--mount" flag: target is required"#
        );
        assert_eq!(
            err(&["--mount", "type=tmpfs,dst=/a,volume-nocopy", "x"]),
            r#"invalid argument "type=tmpfs,dst=/a,volume-nocopy" for "--mount" flag: cannot mix 'volume-*' options with mount type 'tmpfs'"#
        );
        assert_eq!(
            err(&["--mount", "type=bind,dst=/a,foo=bar", "x"]),
            r#"invalid argument "type=bind,dst=/a,foo=bar" for "--mount" flag: unexpected key 'foo' in 'foo=bar'"#
        );
        assert_eq!(
            err(&["--mount", "dst=/a,bogus", "x"]),
            r#"invalid argument "dst=/a,bogus" for "--mount" flag: invalid field 'bogus' must be a key=value pair"#
        );
        assert_eq!(
            err(&["--mount", "type=tmpfs,dst=/a,tmpfs-size=12x", "x"]),
            r#"invalid argument "type=tmpfs,dst=/a,tmpfs-size=12x" for "--mount" flag: invalid value for tmpfs-size: 12x"#
        );
    }

    #[test]
    fn tmpfs_and_volumes_from() {
        let b = ok(&[
            "--tmpfs",
            "/run",
            "--tmpfs",
            "/tmp:rw,size=64m",
            "--volumes-from",
            "other:ro",
            "x",
        ]);
        assert_eq!(
            b["HostConfig"]["Tmpfs"],
            json!({"/run": "", "/tmp": "rw,size=64m"})
        );
        assert_eq!(b["HostConfig"]["VolumesFrom"], json!(["other:ro"]));
    }

    #[test]
    fn ulimits() {
        let b = ok(&[
            "--ulimit",
            "nofile=1024:2048",
            "--ulimit",
            "core=-1",
            "--ulimit",
            "nproc=10",
            "--ulimit",
            "nproc=20",
            "x",
        ]);
        assert_eq!(
            b["HostConfig"]["Ulimits"],
            json!([
                {"Name": "core", "Hard": -1, "Soft": -1},
                {"Name": "nofile", "Hard": 2048, "Soft": 1024},
                {"Name": "nproc", "Hard": 20, "Soft": 20},
            ])
        );
        assert_eq!(
            err(&["--ulimit", "nofile", "x"]),
            r#"invalid argument "nofile" for "--ulimit" flag: invalid ulimit argument: nofile"#
        );
        assert_eq!(
            err(&["--ulimit", "bogus=1", "x"]),
            r#"invalid argument "bogus=1" for "--ulimit" flag: invalid ulimit type: bogus"#
        );
        assert_eq!(
            err(&["--ulimit", "nofile=2048:1024", "x"]),
            r#"invalid argument "nofile=2048:1024" for "--ulimit" flag: ulimit soft limit must be less than or equal to hard limit: 2048 > 1024"#
        );
        assert_eq!(
            err(&["--ulimit", "nofile=1:2:3", "x"]),
            r#"invalid argument "nofile=1:2:3" for "--ulimit" flag: too many limit value arguments - 1:2:3, can only have up to two, `soft[:hard]`"#
        );
    }

    #[test]
    fn devices_and_blkio() {
        let b = ok(&[
            "--device",
            "/dev/fuse",
            "--device",
            "/dev/sda:/dev/xvda:r",
            "--device",
            "/dev/snd:rw",
            "--device",
            "vendor.com/gpu=all",
            "--device-cgroup-rule",
            "c 1:3 mr",
            "--device-read-bps",
            "/dev/sda:1mb",
            "--device-write-bps",
            "/dev/sda:10",
            "--device-read-iops",
            "/dev/sda:1000",
            "--device-write-iops",
            "/dev/sdb:20",
            "--blkio-weight",
            "300",
            "--blkio-weight-device",
            "/dev/sda:200",
            "x",
        ]);
        let h = &b["HostConfig"];
        assert_eq!(
            h["Devices"],
            json!([
                {"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"},
                {"PathOnHost": "/dev/sda", "PathInContainer": "/dev/xvda", "CgroupPermissions": "r"},
                {"PathOnHost": "/dev/snd", "PathInContainer": "/dev/snd", "CgroupPermissions": "rw"},
            ])
        );
        assert_eq!(h["DeviceRequests"][0]["Driver"], "cdi");
        assert_eq!(
            h["DeviceRequests"][0]["DeviceIDs"],
            json!(["vendor.com/gpu=all"])
        );
        assert_eq!(h["DeviceCgroupRules"], json!(["c 1:3 mr"]));
        assert_eq!(
            h["BlkioDeviceReadBps"],
            json!([{"Path": "/dev/sda", "Rate": 1 << 20}])
        );
        assert_eq!(
            h["BlkioDeviceWriteBps"],
            json!([{"Path": "/dev/sda", "Rate": 10}])
        );
        assert_eq!(
            h["BlkioDeviceReadIOps"],
            json!([{"Path": "/dev/sda", "Rate": 1000}])
        );
        assert_eq!(
            h["BlkioDeviceWriteIOps"],
            json!([{"Path": "/dev/sdb", "Rate": 20}])
        );
        assert_eq!(h["BlkioWeight"], 300);
        assert_eq!(
            h["BlkioWeightDevice"],
            json!([{"Path": "/dev/sda", "Weight": 200}])
        );
        assert_eq!(
            err(&["--device", "/dev/a:/dev/b:rwx", "x"]),
            "bad mode specified: rwx"
        );
        assert_eq!(
            err(&["--device", "/dev/a:b", "x"]),
            "b is not an absolute path"
        );
        assert_eq!(
            err(&["--device", "/a:/b:r:w", "x"]),
            "bad format for path: /a:/b:r:w"
        );
        assert_eq!(
            err(&["--device-cgroup-rule", "x 1:3 r", "x"]),
            r#"invalid argument "x 1:3 r" for "--device-cgroup-rule" flag: invalid device cgroup format 'x 1:3 r'"#
        );
        assert_eq!(
            err(&["--device-read-bps", "sda:1mb", "x"]),
            r#"invalid argument "sda:1mb" for "--device-read-bps" flag: bad format for device path: sda:1mb"#
        );
        assert_eq!(
            err(&["--device-read-iops", "/dev/sda:1k", "x"]),
            r#"invalid argument "/dev/sda:1k" for "--device-read-iops" flag: invalid rate for device: /dev/sda:1k. The correct format is <device-path>:<number>. Number must be a positive integer"#
        );
    }

    #[test]
    fn gpus() {
        let b = ok(&["--gpus", "all", "x"]);
        assert_eq!(
            b["HostConfig"]["DeviceRequests"],
            json!([{"Driver": "", "Count": -1, "Capabilities": [["gpu"]], "Options": {}}])
        );
        let b = ok(&["--gpus", "\"device=1,2\",driver=nvidia", "x"]);
        assert_eq!(
            b["HostConfig"]["DeviceRequests"][0]["DeviceIDs"],
            json!(["1", "2"])
        );
        assert_eq!(b["HostConfig"]["DeviceRequests"][0]["Count"], 0);
    }

    #[test]
    fn restart_policies() {
        let rp = |v: &str| ok(&["--restart", v, "x"])["HostConfig"]["RestartPolicy"].clone();
        assert_eq!(
            rp("always"),
            json!({"Name": "always", "MaximumRetryCount": 0})
        );
        assert_eq!(
            rp("unless-stopped"),
            json!({"Name": "unless-stopped", "MaximumRetryCount": 0})
        );
        assert_eq!(
            rp("on-failure"),
            json!({"Name": "on-failure", "MaximumRetryCount": 0})
        );
        assert_eq!(
            rp("on-failure:5"),
            json!({"Name": "on-failure", "MaximumRetryCount": 5})
        );
        assert_eq!(rp("no"), json!({"Name": "no", "MaximumRetryCount": 0}));
        assert_eq!(
            err(&["--restart", "on-failure:1:2", "x"]),
            "invalid restart policy format"
        );
        assert_eq!(
            err(&["--restart", "on-failure:x", "x"]),
            "invalid restart policy format: maximum retry count must be an integer"
        );
        assert_eq!(
            err(&["--restart", ":3", "x"]),
            "invalid restart policy format: no policy provided before colon"
        );
        assert_eq!(
            err(&["--restart", "always:3", "x"]),
            "maximum retry count cannot be used with restart policy 'always'"
        );
        assert_eq!(
            err(&["--restart", "on-failure:-1", "x"]),
            "maximum retry count cannot be negative"
        );
        assert_eq!(
            err(&["--restart", "sometimes", "x"]),
            "invalid restart policy 'sometimes'"
        );
    }

    #[test]
    fn conflicts() {
        assert_eq!(
            err(&["--rm", "--restart", "always", "x"]),
            "Conflicting options: --restart and --rm"
        );
        assert!(create(&["--rm", "--restart", "no", "x"]).is_ok());
        let e = run(&["-d", "-a", "stdout", "x"]).unwrap_err();
        assert_eq!(e.to_string(), "Conflicting options: -a and -d");
        assert_eq!(
            err(&["--no-healthcheck", "--health-cmd", "true", "x"]),
            "--no-healthcheck conflicts with --health-* options"
        );
    }

    #[test]
    fn attach_streams() {
        // run -d: nothing attached.
        let b = run(&["-d", "-i", "x"]).unwrap();
        assert_eq!(b["AttachStdin"], false);
        assert_eq!(b["AttachStdout"], false);
        assert_eq!(b["AttachStderr"], false);
        assert_eq!(b["OpenStdin"], true);
        assert_eq!(b["StdinOnce"], false);
        // -a picks streams (case-insensitive).
        let b = run(&["-a", "STDERR", "x"]).unwrap();
        assert_eq!(b["AttachStdout"], false);
        assert_eq!(b["AttachStderr"], true);
        assert_eq!(b["AttachStdin"], false);
        let b = run(&["-a", "stdin", "-a", "stdout", "x"]).unwrap();
        assert_eq!(b["AttachStdin"], true);
        assert_eq!(b["StdinOnce"], false); // not -i
        assert_eq!(
            run(&["-a", "foo", "x"]).unwrap_err().to_string(),
            r#"invalid argument "foo" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR"#
        );
    }

    #[test]
    fn env_and_env_file() {
        std::env::set_var("BERTH_OPTS_TEST_SET", "from-env");
        std::env::remove_var("BERTH_OPTS_TEST_UNSET");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("env");
        std::fs::write(
            &path,
            "\u{feff}# comment\n\nA=1\n  B=two words\nBERTH_OPTS_TEST_SET\nBERTH_OPTS_TEST_UNSET\nC=\nD=x=y\r\n",
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let b = ok(&[
            "--env-file",
            p,
            "-e",
            "A=override",
            "-e",
            "E=5",
            "-e",
            "BERTH_OPTS_TEST_UNSET",
            "x",
        ]);
        assert_eq!(
            b["Env"],
            json!([
                "A=override",
                "B=two words",
                "BERTH_OPTS_TEST_SET=from-env",
                "C=",
                "D=x=y",
                "E=5"
            ])
        );
        let bad = dir.path().join("bad");
        std::fs::write(&bad, "OK=1\nx y=3\n").unwrap();
        let bad_s = bad.to_str().unwrap();
        assert_eq!(
            err(&["--env-file", bad_s, "x"]),
            format!("invalid env file ({bad_s}): variable 'x y' contains whitespaces")
        );
        std::fs::write(&bad, "=3\n").unwrap();
        assert_eq!(
            err(&["--env-file", bad_s, "x"]),
            format!("invalid env file ({bad_s}): no variable name on line '=3'")
        );
        let missing = dir.path().join("missing");
        let missing_s = missing.to_str().unwrap();
        assert_eq!(
            err(&["--env-file", missing_s, "x"]),
            format!("open {missing_s}: no such file or directory")
        );
        assert_eq!(
            err(&["-e", "=x", "x"]),
            r#"invalid argument "=x" for "-e, --env" flag: invalid environment variable: =x"#
        );
    }

    #[test]
    fn labels_and_label_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels");
        std::fs::write(&path, "# c\na=1\nbare\nb=2\n").unwrap();
        let b = ok(&[
            "--label-file",
            path.to_str().unwrap(),
            "-l",
            "b=3",
            "--label",
            "c",
            "x",
        ]);
        assert_eq!(b["Labels"], json!({"a": "1", "b": "3", "c": ""}));
        assert_eq!(
            err(&["-l", "a b=1", "x"]),
            r#"invalid argument "a b=1" for "-l, --label" flag: label 'a b' contains whitespaces"#
        );
    }

    #[test]
    fn healthcheck() {
        let b = ok(&[
            "--health-cmd",
            "curl -f http://localhost/",
            "--health-interval",
            "30s",
            "--health-timeout",
            "1m30s",
            "--health-start-period",
            "1.5s",
            "--health-start-interval",
            "500ms",
            "--health-retries",
            "3",
            "x",
        ]);
        assert_eq!(
            b["Healthcheck"],
            json!({
                "Test": ["CMD-SHELL", "curl -f http://localhost/"],
                "Interval": 30_000_000_000i64,
                "Timeout": 90_000_000_000i64,
                "StartPeriod": 1_500_000_000i64,
                "StartInterval": 500_000_000i64,
                "Retries": 3,
            })
        );
        let b = ok(&["--no-healthcheck", "x"]);
        assert_eq!(b["Healthcheck"], json!({"Test": ["NONE"]}));
        let b = ok(&["--health-interval", "1h", "x"]);
        assert_eq!(b["Healthcheck"], json!({"Interval": 3_600_000_000_000i64}));
        assert_eq!(
            err(&["--health-interval", "10", "x"]),
            r#"invalid argument "10" for "--health-interval" flag: time: missing unit in duration "10""#
        );
        assert_eq!(
            err(&["--health-timeout", "5x", "x"]),
            r#"invalid argument "5x" for "--health-timeout" flag: time: unknown unit "x" in duration "5x""#
        );
        assert_eq!(
            err(&["--health-interval", "-1s", "x"]),
            "--health-interval cannot be negative"
        );
        assert_eq!(go_parse_duration("0"), Ok(0));
        assert_eq!(go_parse_duration("1h2m3.5s"), Ok(3_723_500_000_000));
        assert_eq!(go_parse_duration("2us"), Ok(2_000));
        assert_eq!(go_parse_duration("2µs"), Ok(2_000));
        assert_eq!(go_parse_duration(".5s"), Ok(500_000_000));
        assert!(go_parse_duration("").is_err());
        assert!(go_parse_duration("s").is_err());
    }

    #[test]
    fn entrypoint_and_stop() {
        let b = ok(&["--entrypoint", "", "x"]);
        assert_eq!(b["Entrypoint"], json!([""]));
        let b = ok(&["--entrypoint=/bin/sh", "x", "-c", "true"]);
        assert_eq!(b["Entrypoint"], json!(["/bin/sh"]));
        assert_eq!(b["Cmd"], json!(["-c", "true"]));
        assert!(ok(&["x"]).get("Entrypoint").is_none());
        let b = ok(&["--stop-signal", "SIGINT", "--stop-timeout", "5", "x"]);
        assert_eq!(b["StopSignal"], "SIGINT");
        assert_eq!(b["StopTimeout"], 5);
        let b = ok(&["--stop-timeout", "0", "x"]);
        assert_eq!(b["StopTimeout"], 0);
    }

    #[test]
    fn hosts_dns_and_misc_strings() {
        let b = ok(&[
            "--add-host",
            "db:10.0.0.2",
            "--add-host",
            "v6=[::1]",
            "--add-host",
            "gw:host-gateway",
            "--add-host",
            "six:2001:db8::5",
            "--dns",
            "8.8.8.8",
            "--dns-search",
            "example.com.",
            "--dns-opt",
            "ndots:2",
            "--dns-option",
            "timeout:1",
            "--hostname",
            "h",
            "--domainname",
            "d.example",
            "-u",
            "1000:1000",
            "-w",
            "/work",
            "--cap-add",
            "NET_ADMIN",
            "--cap-drop",
            "ALL",
            "--group-add",
            "audio",
            "--security-opt",
            "no-new-privileges",
            "--security-opt",
            "label=disable",
            "--security-opt",
            "apparmor:unconfined",
            "--sysctl",
            "net.ipv4.ip_forward=1",
            "--log-driver",
            "json-file",
            "--log-opt",
            "max-size=10m",
            "--pid",
            "host",
            "--ipc",
            "private",
            "--uts",
            "host",
            "--userns",
            "host",
            "--cgroupns",
            "private",
            "--cidfile",
            "/tmp/cid",
            "--runtime",
            "runc",
            "--isolation",
            "default",
            "--annotation",
            "a.b=c",
            "--privileged",
            "--read-only",
            "--oom-kill-disable",
            "--cpuset-cpus",
            "0-1",
            "--cpuset-mems",
            "0",
            "--cgroup-parent",
            "/p",
            "x",
        ]);
        assert_eq!(b["Hostname"], "h");
        assert_eq!(b["Domainname"], "d.example");
        assert_eq!(b["User"], "1000:1000");
        assert_eq!(b["WorkingDir"], "/work");
        let h = &b["HostConfig"];
        assert_eq!(
            h["ExtraHosts"],
            json!([
                "db:10.0.0.2",
                "v6:::1",
                "gw:host-gateway",
                "six:2001:db8::5"
            ])
        );
        assert_eq!(h["Dns"], json!(["8.8.8.8"]));
        assert_eq!(h["DnsSearch"], json!(["example.com"]));
        assert_eq!(h["DnsOptions"], json!(["ndots:2", "timeout:1"]));
        assert_eq!(h["CapAdd"], json!(["NET_ADMIN"]));
        assert_eq!(h["CapDrop"], json!(["ALL"]));
        assert_eq!(h["GroupAdd"], json!(["audio"]));
        assert_eq!(
            h["SecurityOpt"],
            json!(["no-new-privileges", "label=disable", "apparmor:unconfined"])
        );
        assert_eq!(h["Sysctls"], json!({"net.ipv4.ip_forward": "1"}));
        assert_eq!(
            h["LogConfig"],
            json!({"Type": "json-file", "Config": {"max-size": "10m"}})
        );
        assert_eq!(h["PidMode"], "host");
        assert_eq!(h["IpcMode"], "private");
        assert_eq!(h["UTSMode"], "host");
        assert_eq!(h["UsernsMode"], "host");
        assert_eq!(h["CgroupnsMode"], "private");
        assert_eq!(h["ContainerIDFile"], "/tmp/cid");
        assert_eq!(h["Runtime"], "runc");
        assert_eq!(h["Isolation"], "default");
        assert_eq!(h["Annotations"], json!({"a.b": "c"}));
        assert_eq!(h["Privileged"], true);
        assert_eq!(h["ReadonlyRootfs"], true);
        assert_eq!(h["OomKillDisable"], true);
        assert_eq!(h["CpusetCpus"], "0-1");
        assert_eq!(h["CgroupParent"], "/p");

        assert_eq!(
            err(&["--add-host", "nohost", "x"]),
            r#"invalid argument "nohost" for "--add-host" flag: bad format for add-host: "nohost""#
        );
        assert_eq!(
            err(&["--add-host", "h:notip", "x"]),
            r#"invalid argument "h:notip" for "--add-host" flag: invalid IP address in add-host: "notip""#
        );
        assert_eq!(
            err(&["--dns", "1.2.3", "x"]),
            r#"invalid argument "1.2.3" for "--dns" flag: IP address is not correctly formatted: 1.2.3"#
        );
        assert_eq!(
            err(&["--sysctl", "kernel.domainname=x", "x"]),
            r#"invalid argument "kernel.domainname=x" for "--sysctl" flag: sysctl 'kernel.domainname=x' is not allowed"#
        );
        assert_eq!(
            err(&["--security-opt", "label", "x"]),
            r#"Invalid --security-opt: "label""#
        );
        assert_eq!(err(&["--pid", "bogus", "x"]), "--pid: invalid PID mode");
        assert_eq!(
            err(&["--cgroupns", "x", "x"]),
            "--cgroupns: invalid CGROUP mode"
        );
        assert_eq!(
            err(&["--log-driver", "none", "--log-opt", "a=b", "x"]),
            "invalid logging opts for driver none"
        );
        let b = ok(&["--security-opt", "systempaths=unconfined", "x"]);
        assert!(b["HostConfig"].get("SecurityOpt").is_none());
        assert_eq!(b["HostConfig"]["MaskedPaths"], json!([]));
    }

    #[test]
    fn seccomp_profile_is_inlined() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        std::fs::write(&path, "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\"\n}\n").unwrap();
        let opt = format!("seccomp={}", path.to_str().unwrap());
        let b = ok(&["--security-opt", &opt, "x"]);
        assert_eq!(
            b["HostConfig"]["SecurityOpt"],
            json!([r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#])
        );
        let b = ok(&["--security-opt", "seccomp=unconfined", "x"]);
        assert_eq!(
            b["HostConfig"]["SecurityOpt"],
            json!(["seccomp=unconfined"])
        );
    }

    #[test]
    fn networking() {
        let b = ok(&[
            "--network",
            "mynet",
            "--network-alias",
            "web",
            "--ip",
            "172.20.0.5",
            "--mac-address",
            "92:d0:c6:0a:29:33",
            "--link",
            "db:db",
            "x",
        ]);
        assert_eq!(b["HostConfig"]["NetworkMode"], "mynet");
        assert_eq!(b["HostConfig"]["Links"], json!(["db:db"]));
        assert_eq!(
            b["NetworkingConfig"]["EndpointsConfig"],
            json!({"mynet": {
                "IPAMConfig": {"IPv4Address": "172.20.0.5"},
                "Links": ["db:db"],
                "Aliases": ["web"],
                "MacAddress": "92:d0:c6:0a:29:33",
            }})
        );
        // One plain network, no options: no endpoint settings.
        let b = ok(&["--net", "host", "x"]);
        assert_eq!(b["HostConfig"]["NetworkMode"], "host");
        assert_eq!(b["NetworkingConfig"]["EndpointsConfig"], json!({}));
        // The default network is the bridge.
        let b = ok(&["--network", "default", "x"]);
        assert_eq!(b["HostConfig"]["NetworkMode"], "bridge");
        let b = ok(&["--ip6", "2001:db8::33", "x"]);
        assert_eq!(
            b["NetworkingConfig"]["EndpointsConfig"],
            json!({"bridge": {"IPAMConfig": {"IPv6Address": "2001:db8::33"}}})
        );
        // Legacy links on the bridge are HostConfig.Links only.
        let b = ok(&["--link", "db", "x"]);
        assert_eq!(b["HostConfig"]["Links"], json!(["db"]));
        assert_eq!(b["NetworkingConfig"]["EndpointsConfig"], json!({}));
        // Long syntax and several networks.
        let b = ok(&[
            "--network",
            "name=front,alias=a1,driver-opt=k=v",
            "--network",
            "back",
            "x",
        ]);
        assert_eq!(b["HostConfig"]["NetworkMode"], "front");
        assert_eq!(
            b["NetworkingConfig"]["EndpointsConfig"],
            json!({"front": {"Aliases": ["a1"], "DriverOpts": {"k": "v"}}, "back": {}})
        );
        assert_eq!(
            err(&["--network-alias", "web", "x"]),
            "network-scoped aliases are only supported for user-defined networks"
        );
        assert_eq!(
            err(&["--mac-address", "zz", "x"]),
            "zz is not a valid mac address"
        );
        assert_eq!(
            err(&["--network", "host", "--network", "mynet", "x"]),
            "conflicting options: cannot attach both user-defined and non-user-defined network-modes"
        );
        assert_eq!(
            err(&["--network", "a", "--network", "a", "x"]),
            "network \"a\" is specified multiple times"
        );
        assert_eq!(
            err(&["--network", "alias=x", "x"]),
            r#"invalid argument "alias=x" for "--network" flag: network name/id is not specified"#
        );
        assert_eq!(
            err(&["--link", "a:b:c", "x"]),
            r#"invalid argument "a:b:c" for "--link" flag: bad format for links: a:b:c"#
        );
    }

    #[test]
    fn image_reference_and_pull() {
        assert_eq!(
            err(&["UPPER"]),
            "invalid reference format: repository name (library/UPPER) must be lowercase"
        );
        assert_eq!(err(&["a:b:c"]), "invalid reference format");
        assert!(create(&["localhost:5000/app:1.0"]).is_ok());
        assert!(create(&[&"a".repeat(64)]).is_ok());
        assert_eq!(
            err(&["--pull", "sometimes", "x"]),
            r#"invalid pull option: 'sometimes': must be one of "always", "missing" or "never""#
        );
        let t = parse(&[
            "--pull",
            "never",
            "--name",
            "web",
            "--platform",
            "linux/arm64",
            "-q",
            "x",
        ]);
        assert_eq!(t.o.pull, "never");
        assert_eq!(t.o.name.as_deref(), Some("web"));
        assert_eq!(t.o.platform.as_deref(), Some("linux/arm64"));
        assert!(t.o.quiet);
    }

    #[test]
    fn go_helpers() {
        assert_eq!(clean_path("/a/./b/../c//"), "/a/c");
        assert_eq!(clean_path("a/../.."), "..");
        assert_eq!(
            csv_record(r#"a,"b,c",d""e"#).unwrap_err(),
            r#"parse error on line 1, column 10: bare " in non-quoted-field"#
        );
        assert_eq!(
            csv_record(r#"a,"b,""c""",d"#).unwrap(),
            ["a", "b,\"c\"", "d"]
        );
        assert!(valid_mac("92:d0:c6:0a:29:33"));
        assert!(valid_mac("92-d0-c6-0a-29-33"));
        assert!(valid_mac("0000.5e00.5301"));
        assert!(!valid_mac("92:d0:c6:0a:29"));
        assert_eq!(go_parse_int("0o17", 0, 64, true), Ok(15));
        assert_eq!(go_parse_int("017", 0, 64, true), Ok(15));
        assert_eq!(go_parse_int("-0x10", 0, 64, true), Ok(-16));
        assert!(go_parse_int("+1", 10, 16, false).is_err());
        assert_eq!(validate_dns_search("."), Ok(".".to_owned()));
        assert!(validate_dns_search("123").is_err());
        assert!(is_cdi_qualified_name("nvidia.com/gpu=0"));
        assert!(!is_cdi_qualified_name("/dev/sda"));
    }
}
