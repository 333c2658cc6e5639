//! What compose sends to the Docker Engine API for a project: container
//! names, the labels compose writes, the config hash, and the JSON bodies
//! of `POST /containers/create` (`Config` + `HostConfig` +
//! `NetworkingConfig`, moby's field names), `POST /networks/create` and
//! `POST /volumes/create`.
//!
//! # The config hash
//!
//! `com.docker.compose.config-hash` is what decides whether `up` leaves a
//! container alone, and docker-compose 1.29 and compose v2 compute it
//! differently: 1.29 hashes its own processed service dictionary plus the
//! image ID ([`crate::v1`]), v2 hashes its normalised service model. One
//! label cannot satisfy both, so berth writes docker-compose 1.29's hash
//! (the tool berth is tested against: `docker-compose up` after `berth
//! compose up` on an unchanged project recreates nothing, and the reverse)
//! and, when reading, also takes compose v2's hash as up to date
//! ([`hash_matches`]), so containers made by compose v2 are not recreated
//! either. Where berth cannot reproduce 1.29's hash without the daemon's
//! help ([`crate::v1`] lists the cases) it writes compose v2's.
//!
//! Compose v2's hash ([`v2_config_hash`]) is the hex SHA-256 of the
//! compact JSON serialisation of the normalised [`Service`] (fields in
//! compose-go's order with its names, maps sorted, empty fields omitted,
//! the service name left out) after clearing what compose v2 clears
//! before hashing: `build`, `pull_policy`, `scale`, `deploy.replicas`,
//! `depends_on` and `profiles`. Labels compose adds itself are not part
//! of it.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::error::{ComposeError, Result};
use crate::model::{Project, Service, ServiceVolume};

/// Label: project name.
pub const PROJECT_LABEL: &str = "com.docker.compose.project";
/// Label: service name.
pub const SERVICE_LABEL: &str = "com.docker.compose.service";
/// Label: service config hash.
pub const CONFIG_HASH_LABEL: &str = "com.docker.compose.config-hash";
/// Label: container number within its service (1-based).
pub const CONTAINER_NUMBER_LABEL: &str = "com.docker.compose.container-number";
/// Label: `True` for `compose run` containers, else `False`.
pub const ONEOFF_LABEL: &str = "com.docker.compose.oneoff";
/// Label: project directory.
pub const WORKING_DIR_LABEL: &str = "com.docker.compose.project.working_dir";
/// Label: compose files, comma-separated.
pub const CONFIG_FILES_LABEL: &str = "com.docker.compose.project.config_files";
/// Label: `--env-file` files, comma-separated.
pub const ENVIRONMENT_FILE_LABEL: &str = "com.docker.compose.project.environment_file";
/// Label: compose version that created the resource.
pub const VERSION_LABEL: &str = "com.docker.compose.version";
/// Label: `service:condition:restart` of each dependency, comma-separated.
pub const DEPENDS_ON_LABEL: &str = "com.docker.compose.depends_on";
/// Label: digest of the image the container was created from.
pub const IMAGE_LABEL: &str = "com.docker.compose.image";
/// Label on networks: the network's key in the compose file.
pub const NETWORK_LABEL: &str = "com.docker.compose.network";
/// Label on volumes: the volume's key in the compose file.
pub const VOLUME_LABEL: &str = "com.docker.compose.volume";
/// Label: one-off container slug (`compose run`).
pub const SLUG_LABEL: &str = "com.docker.compose.slug";

/// Naming convention: compose v2 (`-`) or docker-compose 1.x / `--compatibility` (`_`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Naming {
    /// `PROJECT-SERVICE-N` (compose v2).
    #[default]
    V2,
    /// `PROJECT_SERVICE_N` (docker-compose 1.29, `--compatibility`).
    V1,
}

impl Naming {
    /// The separator between project, service and number.
    pub fn separator(self) -> char {
        match self {
            Naming::V2 => '-',
            Naming::V1 => '_',
        }
    }
}

/// The container name of replica `number` of a service: `container_name`
/// when set, else `PROJECT-SERVICE-N` (v2) / `PROJECT_SERVICE_N` (v1).
pub fn container_name(project: &str, service: &Service, number: u32, naming: Naming) -> String {
    match &service.container_name {
        Some(n) if !n.is_empty() => n.clone(),
        _ => default_container_name(project, &service.name, number, naming),
    }
}

/// `PROJECT-SERVICE-N` / `PROJECT_SERVICE_N`, ignoring `container_name`.
pub fn default_container_name(project: &str, service: &str, number: u32, naming: Naming) -> String {
    let s = naming.separator();
    format!("{project}{s}{service}{s}{number}")
}

/// Name of a `compose run` container: `PROJECT-SERVICE-run-SLUG` (v2,
/// first 12 characters of the slug) or `PROJECT_SERVICE_run_SLUG` (v1).
pub fn oneoff_container_name(project: &str, service: &str, slug: &str, naming: Naming) -> String {
    let s = naming.separator();
    let short: String = slug.chars().take(12).collect();
    format!("{project}{s}{service}{s}run{s}{short}")
}

/// The config hash berth writes on a service's containers: docker-compose
/// 1.29's when berth can reproduce it, else compose v2's (see the module
/// documentation). `image_id` is the ID of the service's image.
pub fn config_hash(project: &Project, service: &Service, image_id: Option<&str>) -> String {
    crate::v1::config_hash(project, &service.name, image_id)
        .unwrap_or_else(|| v2_config_hash(service))
}

/// Whether a container's config-hash label says it is up to date with
/// `service`: docker-compose 1.29's hash or compose v2's.
pub fn hash_matches(
    label: Option<&str>,
    project: &Project,
    service: &Service,
    image_id: Option<&str>,
) -> bool {
    let Some(label) = label else { return false };
    label == config_hash(project, service, image_id) || label == v2_config_hash(service)
}

/// Compose v2's config hash of a service (see the module documentation).
pub fn v2_config_hash(service: &Service) -> String {
    let mut s = service.clone();
    s.build = None;
    s.pull_policy = None;
    s.scale = None;
    if let Some(d) = &mut s.deploy {
        d.replicas = None;
    }
    s.depends_on.clear();
    s.profiles.clear();
    // Serialising plain data with string keys cannot fail.
    let bytes = serde_json::to_vec(&s).unwrap_or_default();
    hex::encode(Sha256::digest(&bytes))
}

/// Per-container choices the orchestrator makes.
#[derive(Debug, Clone)]
pub struct ContainerOptions {
    /// Replica number (1-based).
    pub number: u32,
    /// A `compose run` container (`oneoff` label `True`, no published
    /// ports unless the caller keeps them).
    pub oneoff: bool,
    /// Naming convention.
    pub naming: Naming,
    /// Value of the `com.docker.compose.version` label.
    pub compose_version: String,
    /// Digest for the `com.docker.compose.image` label, when known.
    pub image_digest: Option<String>,
    /// `--env-file` files, for the `environment_file` label.
    pub env_files: Vec<String>,
    /// Add the service name and the configured aliases to the network
    /// aliases (true for `up`; `run` only with `--use-aliases`).
    pub use_network_aliases: bool,
    /// `HostConfig.AutoRemove` (`run --rm`).
    pub auto_remove: bool,
    /// Attach stdin (`run -i`).
    pub attach_stdin: bool,
    /// Container name override (`run --name`).
    pub name: Option<String>,
    /// Legacy links, `container:alias`, as computed from running containers.
    pub links: Vec<String>,
}

impl Default for ContainerOptions {
    fn default() -> Self {
        ContainerOptions {
            number: 1,
            oneoff: false,
            naming: Naming::V2,
            compose_version: "2.29.7".into(),
            image_digest: None,
            env_files: Vec::new(),
            use_network_aliases: true,
            auto_remove: false,
            attach_stdin: false,
            name: None,
            links: Vec::new(),
        }
    }
}

/// A container create call: the `name` query parameter and the JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerCreate {
    /// `?name=` of `POST /containers/create`.
    pub name: String,
    /// The body (`Config` fields at top level, `HostConfig`, `NetworkingConfig`).
    pub body: Value,
}

/// The labels compose puts on a service's containers, user labels included.
pub fn container_labels(
    project: &Project,
    service: &Service,
    opts: &ContainerOptions,
) -> BTreeMap<String, String> {
    let mut labels = service.labels.clone();
    labels.insert(PROJECT_LABEL.into(), project.name.clone());
    labels.insert(SERVICE_LABEL.into(), service.name.clone());
    labels.insert(VERSION_LABEL.into(), opts.compose_version.clone());
    labels.insert(
        WORKING_DIR_LABEL.into(),
        project.working_dir.display().to_string(),
    );
    labels.insert(
        CONFIG_FILES_LABEL.into(),
        project
            .config_files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(","),
    );
    if !opts.env_files.is_empty() {
        labels.insert(ENVIRONMENT_FILE_LABEL.into(), opts.env_files.join(","));
    }
    labels.insert(
        ONEOFF_LABEL.into(),
        if opts.oneoff { "True" } else { "False" }.into(),
    );
    labels.insert(
        CONFIG_HASH_LABEL.into(),
        config_hash(project, service, opts.image_digest.as_deref()),
    );
    if opts.number > 0 {
        labels.insert(CONTAINER_NUMBER_LABEL.into(), opts.number.to_string());
    }
    let deps: Vec<String> = service
        .depends_on
        .iter()
        .map(|(d, c)| format!("{d}:{}:{}", c.condition, c.restart))
        .collect();
    labels.insert(DEPENDS_ON_LABEL.into(), deps.join(","));
    if let Some(d) = &opts.image_digest {
        labels.insert(IMAGE_LABEL.into(), d.clone());
    }
    labels
}

fn restart_policy(service: &Service) -> Value {
    let map = |c: &str| -> String {
        match c {
            "none" | "no" => "no".into(),
            "any" | "always" => "always".into(),
            other => other.into(),
        }
    };
    let mut policy = json!({});
    if let Some(r) = service.restart.as_deref().filter(|r| !r.is_empty()) {
        let (name, count) = r.split_once(':').unwrap_or((r, "0"));
        policy = json!({"Name": map(name), "MaximumRetryCount": count.parse::<i64>().unwrap_or(0)});
    }
    if let Some(rp) = service
        .deploy
        .as_ref()
        .and_then(|d| d.restart_policy.as_ref())
    {
        policy = json!({
            "Name": map(rp.condition.as_deref().unwrap_or("")),
            "MaximumRetryCount": rp.max_attempts.unwrap_or(0),
        });
    }
    policy
}

fn bind_string(source: &str, v: &ServiceVolume) -> String {
    let mut opts = vec![if v.read_only { "ro" } else { "rw" }.to_string()];
    if let Some(b) = &v.bind {
        if let Some(s) = &b.selinux {
            opts.push(s.clone());
        }
        if let Some(p) = &b.propagation {
            opts.push(p.clone());
        }
    }
    if v.volume.as_ref().is_some_and(|vo| vo.nocopy) {
        opts.push("nocopy".into());
    }
    format!("{source}:{}:{}", v.target, opts.join(","))
}

fn mount(kind: &str, source: Option<&str>, v: &ServiceVolume) -> Value {
    let mut m = Map::new();
    m.insert("Type".into(), json!(kind));
    if let Some(s) = source {
        m.insert("Source".into(), json!(s));
    }
    m.insert("Target".into(), json!(v.target));
    if v.read_only {
        m.insert("ReadOnly".into(), json!(true));
    }
    if let Some(c) = &v.consistency {
        m.insert("Consistency".into(), json!(c));
    }
    match kind {
        "bind" => {
            if let Some(b) = &v.bind {
                let mut o = Map::new();
                if let Some(p) = &b.propagation {
                    o.insert("Propagation".into(), json!(p));
                }
                if b.create_host_path == Some(true) {
                    o.insert("CreateMountpoint".into(), json!(true));
                }
                if matches!(b.recursive.as_deref(), Some("disabled")) {
                    o.insert("NonRecursive".into(), json!(true));
                }
                m.insert("BindOptions".into(), Value::Object(o));
            }
        }
        "volume" => {
            if let Some(vo) = &v.volume {
                let mut o = Map::new();
                if vo.nocopy {
                    o.insert("NoCopy".into(), json!(true));
                }
                if !vo.labels.is_empty() {
                    o.insert("Labels".into(), json!(vo.labels));
                }
                if let Some(sp) = &vo.subpath {
                    o.insert("Subpath".into(), json!(sp));
                }
                m.insert("VolumeOptions".into(), Value::Object(o));
            }
        }
        "tmpfs" => {
            if let Some(t) = &v.tmpfs {
                let mut o = Map::new();
                if let Some(s) = t.size {
                    o.insert("SizeBytes".into(), json!(s.0));
                }
                if let Some(mode) = t.mode {
                    o.insert("Mode".into(), json!(mode));
                }
                m.insert("TmpfsOptions".into(), Value::Object(o));
            }
        }
        _ => {}
    }
    Value::Object(m)
}

/// Binds (short strings) and Mounts (API objects) for a service, as
/// compose splits them: plain binds and named volumes go to `Binds`,
/// anything with options the string form cannot carry goes to `Mounts`;
/// file-backed secrets and configs are read-only bind mounts.
fn volumes(project: &Project, service: &Service) -> Result<(Vec<String>, Vec<Value>)> {
    let mut binds = Vec::new();
    let mut mounts = Vec::new();
    for v in &service.volumes {
        match v.kind.as_str() {
            "bind" => {
                let src = v.source.clone().unwrap_or_default();
                let needs_api = v.bind.as_ref().is_some_and(|b| {
                    b.create_host_path == Some(false)
                        || b.propagation.is_some()
                        || b.recursive.is_some()
                });
                if needs_api {
                    mounts.push(mount("bind", Some(&src), v));
                } else {
                    binds.push(bind_string(&src, v));
                }
            }
            "volume" => match v.source.as_deref().filter(|s| !s.is_empty()) {
                Some(key) => {
                    let name = project
                        .volumes
                        .get(key)
                        .map(|vol| vol.name.clone())
                        .unwrap_or_else(|| key.to_string());
                    let needs_api = v.volume.as_ref().is_some_and(|vo| {
                        !vo.labels.is_empty() || vo.subpath.is_some() || vo.nocopy
                    });
                    if needs_api {
                        mounts.push(mount("volume", Some(&name), v));
                    } else {
                        binds.push(bind_string(&name, v));
                    }
                }
                None => mounts.push(mount("volume", None, v)),
            },
            other => mounts.push(mount(other, v.source.as_deref(), v)),
        }
    }
    let taken = |t: &str, mounts: &Vec<Value>, binds: &Vec<String>| {
        mounts.iter().any(|m| m["Target"] == t)
            || binds.iter().any(|b| b.split(':').nth(1) == Some(t))
    };
    for s in &service.secrets {
        let def = project.secrets.get(&s.source).ok_or_else(|| {
            ComposeError::Invalid(format!(
                "service {:?} refers to undefined secret {}",
                service.name, s.source
            ))
        })?;
        if def.external {
            return Err(ComposeError::Invalid(format!(
                "unsupported external secret {}",
                def.name
            )));
        }
        let Some(file) = &def.file else { continue };
        let target = match s.target.as_deref() {
            Some(t) if t.starts_with('/') => t.to_string(),
            Some(t) => format!("/run/secrets/{t}"),
            None => format!("/run/secrets/{}", s.source),
        };
        if !taken(&target, &mounts, &binds) {
            mounts
                .push(json!({"Type": "bind", "Source": file, "Target": target, "ReadOnly": true}));
        }
    }
    for c in &service.configs {
        let def = project.configs.get(&c.source).ok_or_else(|| {
            ComposeError::Invalid(format!(
                "service {:?} refers to undefined config {}",
                service.name, c.source
            ))
        })?;
        if def.external {
            return Err(ComposeError::Invalid(format!(
                "unsupported external config {}",
                def.name
            )));
        }
        let Some(file) = &def.file else { continue };
        let target = match c.target.as_deref() {
            Some(t) if t.starts_with('/') => t.to_string(),
            Some(t) => format!("/{t}"),
            None => format!("/{}", c.source),
        };
        if !taken(&target, &mounts, &binds) {
            mounts
                .push(json!({"Type": "bind", "Source": file, "Target": target, "ReadOnly": true}));
        }
    }
    Ok((binds, mounts))
}

/// Expands an `expose` entry (`"3000"`, `"3000-3002"`, `"53/udp"`) to `port/proto` keys.
fn expose_keys(e: &str) -> Result<Vec<String>> {
    let (ports, proto) = e.split_once('/').unwrap_or((e, "tcp"));
    let bad = || ComposeError::Invalid(format!("invalid expose value {e:?}"));
    let (a, b) = match ports.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let p = ports.parse::<u16>().map_err(|_| bad())?;
            (p, p)
        }
    };
    if a > b {
        return Err(bad());
    }
    Ok((a..=b).map(|p| format!("{p}/{proto}")).collect())
}

fn nonzero(m: &mut Map<String, Value>, key: &str, v: Option<i64>) {
    if let Some(v) = v.filter(|v| *v != 0) {
        m.insert(key.into(), json!(v));
    }
}

fn non_empty<T: serde::Serialize>(m: &mut Map<String, Value>, key: &str, v: &[T]) {
    if !v.is_empty() {
        m.insert(key.into(), json!(v));
    }
}

/// Resolves `service:NAME` references to the first container of that service.
fn service_ref(project: &Project, value: &str, naming: Naming) -> String {
    match value.strip_prefix("service:") {
        Some(svc) => {
            let name = match project.services.get(svc) {
                Some(s) => container_name(&project.name, s, 1, naming),
                None => default_container_name(&project.name, svc, 1, naming),
            };
            format!("container:{name}")
        }
        None => value.to_string(),
    }
}

/// Legacy links of replica `number` of a service, as compose computes them:
/// for each `links:` entry `SERVICE[:ALIAS]` and each running container of
/// that service (names given by `containers_of`), `CONTAINER:ALIAS`,
/// `CONTAINER:SERVICE-N` and `CONTAINER:PROJECT-SERVICE-N`. Pass the result
/// as [`ContainerOptions::links`].
pub fn service_links(
    project: &Project,
    service: &Service,
    number: u32,
    naming: Naming,
    containers_of: &dyn Fn(&str) -> Vec<String>,
) -> Vec<String> {
    let sep = naming.separator();
    let mut links = Vec::new();
    for raw in &service.links {
        let (svc, alias) = raw.split_once(':').unwrap_or((raw, raw));
        for c in containers_of(svc) {
            links.push(format!("{c}:{alias}"));
            links.push(format!("{c}:{svc}{sep}{number}"));
            links.push(format!("{c}:{}{sep}{svc}{sep}{number}", project.name));
        }
    }
    links
}

/// The body of `POST /containers/create` for replica `opts.number` of a
/// service, and the container name.
pub fn container_create(
    project: &Project,
    service: &Service,
    opts: &ContainerOptions,
) -> Result<ContainerCreate> {
    let name = opts
        .name
        .clone()
        .unwrap_or_else(|| container_name(&project.name, service, opts.number, opts.naming));
    let labels = container_labels(project, service, opts);

    let mut exposed: BTreeMap<String, Value> = BTreeMap::new();
    let mut bindings: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for p in &service.ports {
        let key = format!("{}/{}", p.target, p.protocol);
        exposed.insert(key.clone(), json!({}));
        if !opts.oneoff {
            bindings.entry(key).or_default().push(json!({
                "HostIp": p.host_ip.clone().unwrap_or_default(),
                "HostPort": p.published.clone().unwrap_or_default(),
            }));
        }
    }
    for e in &service.expose {
        for k in expose_keys(e)? {
            exposed.insert(k, json!({}));
        }
    }

    let env: Vec<String> = service
        .environment
        .iter()
        .map(|(k, v)| match v {
            Some(v) => format!("{k}={v}"),
            None => k.clone(),
        })
        .collect();

    let mut config = Map::new();
    if let Some(h) = &service.hostname {
        config.insert("Hostname".into(), json!(h));
    }
    if let Some(d) = &service.domainname {
        config.insert("Domainname".into(), json!(d));
    }
    if let Some(u) = &service.user {
        config.insert("User".into(), json!(u));
    }
    config.insert("AttachStdin".into(), json!(opts.attach_stdin));
    config.insert("AttachStdout".into(), json!(true));
    config.insert("AttachStderr".into(), json!(true));
    if !exposed.is_empty() {
        config.insert("ExposedPorts".into(), json!(exposed));
    }
    config.insert("Tty".into(), json!(service.tty));
    config.insert("OpenStdin".into(), json!(service.stdin_open));
    config.insert(
        "StdinOnce".into(),
        json!(opts.attach_stdin && service.stdin_open),
    );
    config.insert("Env".into(), json!(env));
    if let Some(c) = &service.command {
        config.insert("Cmd".into(), json!(c));
    }
    if let Some(hc) = &service.healthcheck {
        let mut h = Map::new();
        let test = if hc.disable {
            vec!["NONE".to_string()]
        } else {
            hc.test.clone()
        };
        if !test.is_empty() {
            h.insert("Test".into(), json!(test));
        }
        nonzero(&mut h, "Interval", hc.interval.map(|d| d.0));
        nonzero(&mut h, "Timeout", hc.timeout.map(|d| d.0));
        nonzero(&mut h, "StartPeriod", hc.start_period.map(|d| d.0));
        nonzero(&mut h, "StartInterval", hc.start_interval.map(|d| d.0));
        if let Some(r) = hc.retries {
            h.insert("Retries".into(), json!(r));
        }
        config.insert("Healthcheck".into(), Value::Object(h));
    }
    config.insert(
        "Image".into(),
        json!(service.image_or_default(&project.name, opts.naming.separator())),
    );
    if let Some(w) = &service.working_dir {
        config.insert("WorkingDir".into(), json!(w));
    }
    if let Some(e) = &service.entrypoint {
        config.insert("Entrypoint".into(), json!(e));
    }
    if service.network_mode.as_deref() == Some("disabled") {
        config.insert("NetworkDisabled".into(), json!(true));
    }
    if let Some(m) = &service.mac_address {
        config.insert("MacAddress".into(), json!(m));
    }
    config.insert("Labels".into(), json!(labels));
    if let Some(s) = &service.stop_signal {
        config.insert("StopSignal".into(), json!(s));
    }
    if let Some(g) = service.stop_grace_period {
        config.insert("StopTimeout".into(), json!(g.seconds()));
    }

    // HostConfig
    let (binds, mounts) = volumes(project, service)?;
    let mut host = Map::new();
    non_empty(&mut host, "Binds", &binds);
    non_empty(&mut host, "Mounts", &mounts);
    non_empty(&mut host, "CapAdd", &service.cap_add);
    non_empty(&mut host, "CapDrop", &service.cap_drop);
    if let Some(i) = service.init {
        host.insert("Init".into(), json!(i));
    }
    if let Some(ipc) = &service.ipc {
        host.insert(
            "IpcMode".into(),
            json!(service_ref(project, ipc, opts.naming)),
        );
    }
    if let Some(c) = &service.cgroup {
        host.insert("CgroupnsMode".into(), json!(c));
    }
    host.insert("ReadonlyRootfs".into(), json!(service.read_only));
    host.insert("RestartPolicy".into(), restart_policy(service));
    if let Some(s) = service.shm_size {
        host.insert("ShmSize".into(), json!(s.0));
    }
    if !service.sysctls.is_empty() {
        host.insert("Sysctls".into(), json!(service.sysctls));
    }
    if !bindings.is_empty() {
        host.insert("PortBindings".into(), json!(bindings));
    }
    // Resources
    let limits = service
        .deploy
        .as_ref()
        .and_then(|d| d.resources.limits.as_ref());
    let reservations = service
        .deploy
        .as_ref()
        .and_then(|d| d.resources.reservations.as_ref());
    let memory = limits
        .and_then(|l| l.memory)
        .or(service.mem_limit)
        .map(|b| b.0);
    nonzero(&mut host, "Memory", memory);
    nonzero(&mut host, "MemorySwap", service.memswap_limit.map(|b| b.0));
    nonzero(
        &mut host,
        "MemoryReservation",
        reservations
            .and_then(|r| r.memory)
            .or(service.mem_reservation)
            .map(|b| b.0),
    );
    if let Some(s) = service.mem_swappiness {
        host.insert("MemorySwappiness".into(), json!(s));
    }
    let cpus = limits.and_then(|l| l.cpus).or(service.cpus);
    nonzero(
        &mut host,
        "NanoCpus",
        cpus.map(|c| (c * 1e9).round() as i64),
    );
    nonzero(&mut host, "CpuShares", service.cpu_shares);
    nonzero(&mut host, "CpuPeriod", service.cpu_period);
    nonzero(&mut host, "CpuQuota", service.cpu_quota);
    nonzero(&mut host, "CpuRealtimePeriod", service.cpu_rt_period);
    nonzero(&mut host, "CpuRealtimeRuntime", service.cpu_rt_runtime);
    nonzero(&mut host, "CpuCount", service.cpu_count);
    if let Some(c) = &service.cpuset {
        host.insert("CpusetCpus".into(), json!(c));
    }
    let pids = limits.and_then(|l| l.pids).or(service.pids_limit);
    nonzero(&mut host, "PidsLimit", pids);
    if let Some(o) = service.oom_kill_disable {
        host.insert("OomKillDisable".into(), json!(o));
    }
    if let Some(o) = service.oom_score_adj {
        host.insert("OomScoreAdj".into(), json!(o));
    }
    if let Some(c) = &service.cgroup_parent {
        host.insert("CgroupParent".into(), json!(c));
    }
    non_empty(&mut host, "DeviceCgroupRules", &service.device_cgroup_rules);
    let devices: Vec<Value> = service
        .devices
        .iter()
        .map(|d| {
            json!({
                "PathOnHost": d.source,
                "PathInContainer": d.target,
                "CgroupPermissions": if d.permissions.is_empty() { "rwm" } else { &d.permissions },
            })
        })
        .collect();
    non_empty(&mut host, "Devices", &devices);
    let ulimits: Vec<Value> = service
        .ulimits
        .iter()
        .map(|(n, u)| {
            let (soft, hard) = u.soft_hard();
            json!({"Name": n, "Soft": soft, "Hard": hard})
        })
        .collect();
    non_empty(&mut host, "Ulimits", &ulimits);
    if let Some(d) = &service.volume_driver {
        host.insert("VolumeDriver".into(), json!(d));
    }
    let volumes_from: Vec<String> = service
        .volumes_from
        .iter()
        .map(|v| match v.strip_prefix("container:") {
            Some(c) => c.to_string(),
            None => {
                let (svc, mode) = match v.split_once(':') {
                    Some((s, m)) => (s, Some(m)),
                    None => (v.as_str(), None),
                };
                let cname = match project.services.get(svc) {
                    Some(s) => container_name(&project.name, s, 1, opts.naming),
                    None => default_container_name(&project.name, svc, 1, opts.naming),
                };
                match mode {
                    Some(m) => format!("{cname}:{m}"),
                    None => cname,
                }
            }
        })
        .collect();
    non_empty(&mut host, "VolumesFrom", &volumes_from);
    non_empty(&mut host, "Dns", &service.dns);
    non_empty(&mut host, "DnsSearch", &service.dns_search);
    non_empty(&mut host, "DnsOptions", &service.dns_opt);
    non_empty(&mut host, "ExtraHosts", &service.extra_hosts);
    non_empty(&mut host, "SecurityOpt", &service.security_opt);
    if !service.storage_opt.is_empty() {
        host.insert("StorageOpt".into(), json!(service.storage_opt));
    }
    if let Some(u) = &service.userns_mode {
        host.insert("UsernsMode".into(), json!(u));
    }
    if let Some(u) = &service.uts {
        host.insert("UTSMode".into(), json!(u));
    }
    host.insert("Privileged".into(), json!(service.privileged));
    if let Some(p) = &service.pid {
        host.insert(
            "PidMode".into(),
            json!(service_ref(project, p, opts.naming)),
        );
    }
    if !service.tmpfs.is_empty() {
        let t: BTreeMap<String, String> = service
            .tmpfs
            .iter()
            .map(|t| match t.split_once(':') {
                Some((p, o)) => (p.to_string(), o.to_string()),
                None => (t.clone(), String::new()),
            })
            .collect();
        host.insert("Tmpfs".into(), json!(t));
    }
    if let Some(i) = &service.isolation {
        host.insert("Isolation".into(), json!(i));
    }
    if let Some(r) = &service.runtime {
        host.insert("Runtime".into(), json!(r));
    }
    if let Some(l) = &service.logging {
        host.insert(
            "LogConfig".into(),
            json!({"Type": l.driver.clone().unwrap_or_default(), "Config": l.options}),
        );
    }
    non_empty(&mut host, "GroupAdd", &service.group_add);
    let mut links = opts.links.clone();
    for l in &service.external_links {
        let (container, alias) = l.split_once(':').unwrap_or((l, l));
        links.push(format!("{container}:{alias}"));
    }
    non_empty(&mut host, "Links", &links);
    if !service.annotations.is_empty() {
        host.insert("Annotations".into(), json!(service.annotations));
    }
    host.insert("AutoRemove".into(), json!(opts.auto_remove));

    // Networking
    let mut networking = None;
    let network_mode = match &service.network_mode {
        Some(m) => service_ref(project, m, opts.naming),
        None if project.networks.is_empty() || service.networks.is_empty() => "none".into(),
        None => {
            let mut endpoints = Map::new();
            let keys = service.networks_by_priority();
            for key in &keys {
                let cfg = service.networks.get(key).cloned().flatten();
                let net_name = project
                    .networks
                    .get(key)
                    .map(|n| n.name.clone())
                    .ok_or_else(|| {
                        ComposeError::Invalid(format!(
                            "service {:?} refers to undefined network {key}",
                            service.name
                        ))
                    })?;
                let mut aliases = vec![name.clone()];
                if opts.use_network_aliases {
                    aliases.push(service.name.clone());
                    if let Some(c) = &cfg {
                        aliases.extend(c.aliases.iter().cloned());
                    }
                }
                let mut ep = Map::new();
                ep.insert("Aliases".into(), json!(aliases));
                non_empty(&mut ep, "Links", &opts.links);
                if let Some(c) = &cfg {
                    let mut ipam = Map::new();
                    if let Some(a) = &c.ipv4_address {
                        ipam.insert("IPv4Address".into(), json!(a));
                    }
                    if let Some(a) = &c.ipv6_address {
                        ipam.insert("IPv6Address".into(), json!(a));
                    }
                    non_empty(&mut ipam, "LinkLocalIPs", &c.link_local_ips);
                    if !ipam.is_empty() {
                        ep.insert("IPAMConfig".into(), Value::Object(ipam));
                    }
                    let mac = c.mac_address.clone().or_else(|| {
                        (Some(key) == keys.first())
                            .then(|| service.mac_address.clone())
                            .flatten()
                    });
                    if let Some(m) = mac {
                        ep.insert("MacAddress".into(), json!(m));
                    }
                    let mut driver_opts = c.driver_opts.clone();
                    if let Some(ifname) = &c.interface_name {
                        driver_opts
                            .insert("com.docker.network.endpoint.ifname".into(), ifname.clone());
                    }
                    if !driver_opts.is_empty() {
                        ep.insert("DriverOpts".into(), json!(driver_opts));
                    }
                    if let Some(p) = c.gw_priority {
                        ep.insert("GwPriority".into(), json!(p));
                    }
                }
                endpoints.insert(net_name, Value::Object(ep));
            }
            let primary = keys
                .first()
                .and_then(|k| project.networks.get(k))
                .map(|n| n.name.clone())
                .unwrap_or_else(|| "none".into());
            networking = Some(json!({ "EndpointsConfig": endpoints }));
            primary
        }
    };
    host.insert("NetworkMode".into(), json!(network_mode));

    let mut body = config;
    body.insert("HostConfig".into(), Value::Object(host));
    if let Some(n) = networking {
        body.insert("NetworkingConfig".into(), n);
    }
    Ok(ContainerCreate {
        name,
        body: Value::Object(body),
    })
}

/// The body of `POST /networks/create` for a project network, or `None`
/// for an external one (it must already exist).
pub fn network_create(project: &Project, key: &str, compose_version: &str) -> Option<Value> {
    let n = project.networks.get(key)?;
    if n.external {
        return None;
    }
    let mut labels = n.labels.clone();
    labels.insert(NETWORK_LABEL.into(), key.to_string());
    labels.insert(PROJECT_LABEL.into(), project.name.clone());
    labels.insert(VERSION_LABEL.into(), compose_version.to_string());
    let mut body = Map::new();
    body.insert("Name".into(), json!(n.name));
    body.insert(
        "Driver".into(),
        json!(n.driver.clone().unwrap_or_else(|| "bridge".into())),
    );
    body.insert("CheckDuplicate".into(), json!(true));
    body.insert("Internal".into(), json!(n.internal));
    body.insert("Attachable".into(), json!(n.attachable));
    if let Some(v6) = n.enable_ipv6 {
        body.insert("EnableIPv6".into(), json!(v6));
    }
    if let Some(v4) = n.enable_ipv4 {
        body.insert("EnableIPv4".into(), json!(v4));
    }
    if let Some(ipam) = &n.ipam {
        let config: Vec<Value> = ipam
            .config
            .iter()
            .map(|p| {
                let mut c = Map::new();
                if let Some(s) = &p.subnet {
                    c.insert("Subnet".into(), json!(s));
                }
                if let Some(s) = &p.ip_range {
                    c.insert("IPRange".into(), json!(s));
                }
                if let Some(s) = &p.gateway {
                    c.insert("Gateway".into(), json!(s));
                }
                if !p.aux_addresses.is_empty() {
                    c.insert("AuxiliaryAddresses".into(), json!(p.aux_addresses));
                }
                Value::Object(c)
            })
            .collect();
        body.insert(
            "IPAM".into(),
            json!({
                "Driver": ipam.driver.clone().unwrap_or_else(|| "default".into()),
                "Config": config,
                "Options": ipam.options,
            }),
        );
    }
    body.insert("Options".into(), json!(n.driver_opts));
    body.insert("Labels".into(), json!(labels));
    Some(Value::Object(body))
}

/// The body of `POST /volumes/create` for a project volume, or `None` for
/// an external one.
pub fn volume_create(project: &Project, key: &str, compose_version: &str) -> Option<Value> {
    let v = project.volumes.get(key)?;
    if v.external {
        return None;
    }
    let mut labels = v.labels.clone();
    labels.insert(VOLUME_LABEL.into(), key.to_string());
    labels.insert(PROJECT_LABEL.into(), project.name.clone());
    labels.insert(VERSION_LABEL.into(), compose_version.to_string());
    Some(json!({
        "Name": v.name,
        "Driver": v.driver.clone().unwrap_or_else(|| "local".into()),
        "DriverOpts": v.driver_opts,
        "Labels": labels,
    }))
}
