//! `berth daemon`: merges flags with daemon.json (a key given both ways is
//! an error, as in dockerd), takes the data-root lock, writes the pidfile,
//! opens the engine and serves the API until SIGTERM or SIGINT.

use std::fs;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use berth_api::server::{parse_host, Listen};
use berth_engine::exec_root::ExecRoot;
use berth_engine::{Engine, EngineConfig};
use serde_json::Value;

use crate::cli::DaemonArgs;

/// Default daemon.json location.
const DEFAULT_CONFIG: &str = "/etc/berth/daemon.json";
const DEFAULT_DATA_ROOT: &str = "/var/lib/berth";
const DEFAULT_EXEC_ROOT: &str = "/run/berth";
const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// The merged configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub hosts: Vec<String>,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub debug: bool,
    pub log_level: String,
    pub labels: Vec<String>,
    pub storage_driver: String,
    pub pidfile: PathBuf,
    pub network: berth_engine::networks::NetworkConfig,
    pub registry: berth_engine::images::distribution::RegistryConfig,
}

const KNOWN_KEYS: &[&str] = &[
    "hosts",
    "data-root",
    "graph",
    "exec-root",
    "debug",
    "log-level",
    "labels",
    "storage-driver",
    "pidfile",
    "bip",
    "fixed-cidr",
    "default-address-pools",
    "userland-proxy",
    "iptables",
    "ip-forward",
    "net-prefix",
    "insecure-registries",
    "registry-mirrors",
    "allowed-registries",
];

/// Merges flags and the config file's JSON.
pub fn merge(args: &DaemonArgs, file: Option<(&str, &Value)>) -> Result<Settings, String> {
    let empty = serde_json::Map::new();
    let (fname, obj) = match file {
        Some((n, Value::Object(o))) => (n, o),
        Some((n, _)) => {
            return Err(format!(
                "unable to configure the berth daemon with file {n}: it must hold a JSON object"
            ))
        }
        None => ("", &empty),
    };
    let unknown: Vec<&String> = obj
        .keys()
        .filter(|k| !KNOWN_KEYS.contains(&k.as_str()))
        .collect();
    if !unknown.is_empty() {
        let list: Vec<String> = unknown.iter().map(|k| k.to_string()).collect();
        return Err(format!(
            "unable to configure the berth daemon with file {fname}: the following directives don't match any configuration option: {}",
            list.join(", ")
        ));
    }
    let mut conflicts = Vec::new();
    let mut check = |key: &str, flag_given: bool, flag_val: String| {
        if flag_given {
            if let Some(v) = obj.get(key) {
                conflicts.push(format!(
                    "{key}: (from flag: {flag_val}, from file: {})",
                    plain(v)
                ));
            }
        }
    };
    check("hosts", !args.host.is_empty(), format!("{:?}", args.host));
    check(
        "data-root",
        args.data_root.is_some(),
        args.data_root.clone().unwrap_or_default(),
    );
    check(
        "graph",
        args.data_root.is_some(),
        args.data_root.clone().unwrap_or_default(),
    );
    check(
        "exec-root",
        args.exec_root.is_some(),
        args.exec_root.clone().unwrap_or_default(),
    );
    check("debug", args.debug, "true".into());
    check(
        "log-level",
        args.log_level.is_some(),
        args.log_level.clone().unwrap_or_default(),
    );
    check(
        "labels",
        !args.label.is_empty(),
        format!("{:?}", args.label),
    );
    check(
        "storage-driver",
        args.storage_driver.is_some(),
        args.storage_driver.clone().unwrap_or_default(),
    );
    check(
        "pidfile",
        args.pidfile.is_some(),
        args.pidfile.clone().unwrap_or_default(),
    );
    check(
        "bip",
        args.bip.is_some(),
        args.bip.clone().unwrap_or_default(),
    );
    check(
        "fixed-cidr",
        args.fixed_cidr.is_some(),
        args.fixed_cidr.clone().unwrap_or_default(),
    );
    check(
        "default-address-pools",
        !args.default_address_pool.is_empty(),
        format!("{:?}", args.default_address_pool),
    );
    for (key, flag) in [
        ("userland-proxy", args.userland_proxy),
        ("iptables", args.iptables),
        ("ip-forward", args.ip_forward),
    ] {
        check(key, flag.is_some(), format!("{}", flag.unwrap_or(true)));
    }
    check(
        "net-prefix",
        args.net_prefix.is_some(),
        args.net_prefix.clone().unwrap_or_default(),
    );
    check(
        "insecure-registries",
        !args.insecure_registry.is_empty(),
        format!("{:?}", args.insecure_registry),
    );
    check(
        "registry-mirrors",
        !args.registry_mirror.is_empty(),
        format!("{:?}", args.registry_mirror),
    );
    check(
        "allowed-registries",
        !args.allowed_registry.is_empty(),
        format!("{:?}", args.allowed_registry),
    );
    if !conflicts.is_empty() {
        return Err(format!(
            "unable to configure the berth daemon with file {fname}: the following directives are specified both as a flag and in the configuration file: {}",
            conflicts.join(", ")
        ));
    }
    let s = |k: &str| -> Result<Option<String>, String> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(format!(
                "invalid value for {k} in {fname}: {other} (expected a string)"
            )),
        }
    };
    let list = |k: &str| -> Result<Vec<String>, String> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(String::from)
                        .ok_or_else(|| format!("invalid value in {k} of {fname}: {v}"))
                })
                .collect(),
            Some(other) => Err(format!(
                "invalid value for {k} in {fname}: {other} (expected a list of strings)"
            )),
        }
    };
    let file_debug = match obj.get("debug") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(format!(
                "invalid value for debug in {fname}: {other} (expected true or false)"
            ))
        }
    };
    let hosts = if !args.host.is_empty() {
        args.host.clone()
    } else {
        list("hosts")?
    };
    let data_root = args
        .data_root
        .clone()
        .or(s("data-root")?)
        .or(s("graph")?)
        .unwrap_or_else(|| DEFAULT_DATA_ROOT.into());
    let exec_root = args
        .exec_root
        .clone()
        .or(s("exec-root")?)
        .unwrap_or_else(|| DEFAULT_EXEC_ROOT.into());
    let debug = args.debug || file_debug;
    let log_level = args
        .log_level
        .clone()
        .or(s("log-level")?)
        .unwrap_or_else(|| "info".into());
    if !["debug", "info", "warn", "error", "fatal", "trace"].contains(&log_level.as_str()) {
        return Err(format!("unable to parse logging level: {log_level}"));
    }
    let labels = if !args.label.is_empty() {
        args.label.clone()
    } else {
        list("labels")?
    };
    for l in &labels {
        if !l.contains('=') || l.starts_with('=') {
            return Err(format!("bad attribute format: {l} (labels are key=value)"));
        }
    }
    let storage_driver = args
        .storage_driver
        .clone()
        .or(s("storage-driver")?)
        .unwrap_or_else(|| "overlay2".into());
    if storage_driver != "overlay2" {
        return Err(format!(
            "error initializing graphdriver: driver not supported: {storage_driver} (berth supports only overlay2)"
        ));
    }
    let pidfile = args
        .pidfile
        .clone()
        .or(s("pidfile")?)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(&exec_root).join("berth.pid"));
    let boolean = |k: &str, flag: Option<bool>| -> Result<bool, String> {
        if let Some(b) = flag {
            return Ok(b);
        }
        match obj.get(k) {
            None | Some(Value::Null) => Ok(true),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(format!(
                "invalid value for {k} in {fname}: {other} (expected true or false)"
            )),
        }
    };
    let pools = if !args.default_address_pool.is_empty() {
        args.default_address_pool.clone()
    } else {
        match obj.get("default-address-pools") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|p| match (p["base"].as_str(), p["size"].as_u64()) {
                    (Some(b), Some(sz)) => Ok(format!("base={b},size={sz}")),
                    _ => Err(format!(
                        "invalid default-address-pools entry in {fname}: {p} (want {{\"base\": CIDR, \"size\": N}})"
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(format!(
                    "invalid value for default-address-pools in {fname}: {other}"
                ))
            }
        }
    };
    for p in &pools {
        berth_network::ipam::AddressPool::parse(p)
            .map_err(|e| format!("invalid default address pool {p}: {e}"))?;
    }
    let net_prefix = args
        .net_prefix
        .clone()
        .or(s("net-prefix")?)
        .unwrap_or_else(|| "berth".into());
    if net_prefix.is_empty()
        || net_prefix.len() > 6
        || !net_prefix.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(format!(
            "invalid net-prefix {net_prefix:?}: 1 to 6 letters or digits"
        ));
    }
    let network = berth_engine::networks::NetworkConfig {
        prefix: net_prefix,
        bip: args.bip.clone().or(s("bip")?),
        fixed_cidr: args.fixed_cidr.clone().or(s("fixed-cidr")?),
        pools,
        userland_proxy: boolean("userland-proxy", args.userland_proxy)?,
        firewall: boolean("iptables", args.iptables)?,
        ip_forward: boolean("ip-forward", args.ip_forward)?,
    };
    let pick = |flag: &Vec<String>, key: &str| -> Result<Vec<String>, String> {
        if flag.is_empty() {
            list(key)
        } else {
            Ok(flag.clone())
        }
    };
    let registry = berth_engine::images::distribution::RegistryConfig {
        insecure: pick(&args.insecure_registry, "insecure-registries")?,
        mirrors: pick(&args.registry_mirror, "registry-mirrors")?,
        allowed: pick(&args.allowed_registry, "allowed-registries")?,
    };
    Ok(Settings {
        network,
        registry,
        hosts: if hosts.is_empty() {
            vec![DEFAULT_HOST.into()]
        } else {
            hosts
        },
        data_root: PathBuf::from(data_root),
        exec_root: PathBuf::from(exec_root),
        debug,
        log_level,
        labels,
        storage_driver,
        pidfile,
    })
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn load_config(args: &DaemonArgs) -> Result<Option<(String, Value)>, String> {
    let (path, explicit) = match &args.config_file {
        Some(p) => (p.clone(), true),
        None => (DEFAULT_CONFIG.to_string(), false),
    };
    match fs::read_to_string(&path) {
        Ok(text) => {
            let v: Value = serde_json::from_str(&text).map_err(|e| {
                format!("unable to configure the berth daemon with file {path}: {e}")
            })?;
            Ok(Some((path, v)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => Ok(None),
        Err(e) => Err(format!(
            "unable to configure the berth daemon with file {path}: {e}"
        )),
    }
}

/// Holds the data-root lock for the daemon's lifetime.
struct DataRootLock {
    _file: fs::File,
}

fn lock_data_root(root: &Path) -> Result<DataRootLock, String> {
    fs::create_dir_all(root)
        .map_err(|e| format!("failed to create the data root {}: {e}", root.display()))?;
    let path = root.join("berth.lock");
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| format!("failed to open {}: {e}", path.display()))?;
    if rustix::fs::flock(
        f.as_fd(),
        rustix::fs::FlockOperation::NonBlockingLockExclusive,
    )
    .is_err()
    {
        let holder = fs::read_to_string(&path).unwrap_or_default();
        let holder = holder.trim();
        return Err(format!(
            "failed to start daemon: the data root {} is in use by another berth daemon{}: stop it first, or give this daemon its own --data-root",
            root.display(),
            if holder.is_empty() { String::new() } else { format!(" (pid {holder})") }
        ));
    }
    let _ = f.set_len(0);
    let _ = write!(f, "{}", std::process::id());
    let _ = f.flush();
    Ok(DataRootLock { _file: f })
}

fn write_pidfile(path: &Path) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("failed to create {}: {e}", dir.display()))?;
    }
    let tmp = path.with_extension("pid.tmp");
    fs::write(&tmp, format!("{}", std::process::id()))
        .and_then(|_| fs::rename(&tmp, path))
        .map_err(|e| format!("failed to write the pidfile {}: {e}", path.display()))
}

/// Runs the daemon; returns when it has shut down.
pub fn run(args: DaemonArgs, _argv: &[String]) -> ExitCode {
    match run_inner(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth daemon: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_inner(args: DaemonArgs) -> Result<(), String> {
    if !rustix::process::geteuid().is_root() {
        return Err("the berth daemon needs to run as root".into());
    }
    let file = load_config(&args)?;
    let settings = merge(&args, file.as_ref().map(|(n, v)| (n.as_str(), v)))?;
    let level = if settings.debug {
        "debug".to_string()
    } else {
        settings.log_level.replace("fatal", "error")
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(format!(
            "warn,berth={level},berth_api={level},berth_engine={level}"
        )))
        .with_writer(std::io::stderr)
        .with_ansi(crate::output::is_tty(std::io::stderr()))
        .try_init();
    let listens: Vec<Listen> = settings
        .hosts
        .iter()
        .map(|h| parse_host(h).map_err(|e| e.message))
        .collect::<Result<_, _>>()?;
    let _lock = lock_data_root(&settings.data_root)?;
    match berth_engine::exec_root::prepare_exec_root(&settings.exec_root)
        .map_err(|e| e.to_string())?
    {
        ExecRoot::InMemory => {}
        ExecRoot::Mounted => tracing::info!(
            "exec root {}: a tmpfs of its own mounted there",
            settings.exec_root.display()
        ),
        ExecRoot::OnDisk(why) => tracing::info!(
            "exec root {} stays on disk: {why}",
            settings.exec_root.display()
        ),
    }
    write_pidfile(&settings.pidfile)?;
    let result = serve(&settings, listens);
    let _ = fs::remove_file(&settings.pidfile);
    // With nothing left running, the exec root's own tmpfs goes too.
    if result == Ok(Stopped::Idle)
        && berth_engine::exec_root::release_exec_root(&settings.exec_root)
    {
        tracing::info!(
            "exec root {}: its tmpfs unmounted",
            settings.exec_root.display()
        );
    }
    result.map(|_| ())
}

/// How [`serve`] left things when it returned.
#[derive(Debug, PartialEq, Eq)]
enum Stopped {
    /// No container runs: what served running containers can go.
    Idle,
    /// Containers keep running under their shims.
    Busy,
}

fn serve(settings: &Settings, listens: Vec<Listen>) -> Result<Stopped, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(64)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let config = EngineConfig {
        data_root: settings.data_root.clone(),
        exec_root: settings.exec_root.clone(),
        labels: settings.labels.clone(),
        debug: settings.debug,
        storage_driver: settings.storage_driver.clone(),
        network: settings.network.clone(),
        registry: settings.registry.clone(),
    };
    let result = rt.block_on(async move {
        let engine = Engine::open(config).map_err(|e| format!("failed to start daemon: {e}"))?;
        {
            let e = engine.clone();
            let _ = tokio::task::spawn_blocking(move || e.recover_containers()).await;
        }
        let shutdown = async {
            use tokio::signal::unix::{signal, SignalKind};
            match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(mut t), Ok(mut i)) => {
                    tokio::select! {
                        _ = t.recv() => tracing::info!("received SIGTERM"),
                        _ = i.recv() => tracing::info!("received SIGINT"),
                    }
                }
                _ => std::future::pending::<()>().await,
            }
        };
        tracing::info!(
            "berth daemon {} started (data root {})",
            berth_engine::system::VERSION,
            engine.config.data_root.display()
        );
        let served = berth_api::serve(engine.clone(), &listens, shutdown).await;
        engine.begin_shutdown();
        served.map_err(|e| e.message).map(|_| engine)
    });
    // With nothing left running, berth's table and bridges go.
    let result = result.map(|engine| {
        engine.network_shutdown();
        if engine.any_container_running() {
            Stopped::Busy
        } else {
            Stopped::Idle
        }
    });
    // Containers keep running (their shims own them); tasks still waiting on
    // them must not hold the exit up.
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    let stopped = result?;
    tracing::info!("berth daemon stopped");
    Ok(stopped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args() -> DaemonArgs {
        DaemonArgs {
            host: vec![],
            data_root: None,
            exec_root: None,
            debug: false,
            log_level: None,
            label: vec![],
            storage_driver: None,
            pidfile: None,
            config_file: None,
            bip: None,
            fixed_cidr: None,
            default_address_pool: vec![],
            userland_proxy: None,
            iptables: None,
            ip_forward: None,
            net_prefix: None,
            insecure_registry: vec![],
            registry_mirror: vec![],
            allowed_registry: vec![],
        }
    }

    #[test]
    fn network_settings() {
        let s = merge(&args(), None).unwrap();
        assert_eq!(s.network, berth_engine::networks::NetworkConfig::default());
        let file = json!({
            "bip": "10.9.0.1/24",
            "default-address-pools": [{"base": "10.10.0.0/16", "size": 24}],
            "userland-proxy": false,
            "net-prefix": "bx"
        });
        let s = merge(&args(), Some(("daemon.json", &file))).unwrap();
        assert_eq!(s.network.bip.as_deref(), Some("10.9.0.1/24"));
        assert_eq!(s.network.pools, vec!["base=10.10.0.0/16,size=24"]);
        assert!(!s.network.userland_proxy);
        assert_eq!(s.network.prefix, "bx");
        let mut a = args();
        a.bip = Some("10.8.0.1/24".into());
        let err = merge(&a, Some(("daemon.json", &file))).unwrap_err();
        assert!(
            err.contains("bip: (from flag: 10.8.0.1/24, from file: 10.9.0.1/24)"),
            "{err}"
        );
        let bad = json!({"default-address-pools": [{"base": "nonsense", "size": 24}]});
        assert!(merge(&args(), Some(("daemon.json", &bad))).is_err());
        let bad = json!({"net-prefix": "much-too-long"});
        assert!(merge(&args(), Some(("daemon.json", &bad))).is_err());
    }

    #[test]
    fn defaults() {
        let s = merge(&args(), None).unwrap();
        assert_eq!(s.hosts, vec![DEFAULT_HOST]);
        assert_eq!(s.data_root, PathBuf::from("/var/lib/berth"));
        assert_eq!(s.pidfile, PathBuf::from("/run/berth/berth.pid"));
        assert_eq!(s.storage_driver, "overlay2");
    }

    #[test]
    fn file_values_apply() {
        let f = json!({"data-root": "/x", "labels": ["a=b"], "debug": true, "hosts": ["tcp://127.0.0.1:1"]});
        let s = merge(&args(), Some(("d.json", &f))).unwrap();
        assert_eq!(s.data_root, PathBuf::from("/x"));
        assert_eq!(s.labels, vec!["a=b"]);
        assert!(s.debug);
        assert_eq!(s.hosts, vec!["tcp://127.0.0.1:1"]);
    }

    #[test]
    fn flag_and_file_conflict() {
        let mut a = args();
        a.debug = true;
        let f = json!({"debug": false});
        let e = merge(&a, Some(("d.json", &f))).unwrap_err();
        assert!(e.contains("specified both as a flag and in the configuration file: debug: (from flag: true, from file: false)"), "{e}");
    }

    #[test]
    fn unknown_key_and_bad_driver() {
        let f = json!({"nope": 1});
        assert!(merge(&args(), Some(("d.json", &f)))
            .unwrap_err()
            .contains("don't match any configuration option: nope"));
        let mut a = args();
        a.storage_driver = Some("vfs".into());
        assert!(merge(&a, None)
            .unwrap_err()
            .contains("driver not supported: vfs"));
        let mut a = args();
        a.label = vec!["novalue".into()];
        assert!(merge(&a, None).is_err());
    }
}
