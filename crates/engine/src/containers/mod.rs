//! Containers: records (Docker's `Config`, `HostConfig` and `State`), names,
//! create, list (`ps`), inspect, rename and remove. The lifecycle (start,
//! stop, kill, wait, restart policies, the shim monitor) is in `lifecycle`,
//! the translation to a runtime spec in `spec`, the root filesystem in
//! `rootfs`, logs in `logs`.

pub mod archive;
pub mod commit;
pub mod exec;
pub mod health;
pub mod lifecycle;
pub mod logs;
pub mod rootfs;
pub mod spec;
pub mod standby;
pub mod stats;

use std::collections::BTreeMap;
use std::path::PathBuf;

use berth_reference::Reference;
use berth_store::Table;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::error::{EngineError, Result};
use crate::events::attrs;
use crate::images::{now_rfc3339, parse_filters, ImageRecord};
use crate::Engine;

/// Table of container records, keyed by ID.
pub const CONTAINERS: Table = Table("containers");

/// Docker's container state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct State {
    /// created, running, paused, restarting, removing, exited, dead.
    pub status: String,
    /// Running (also when paused).
    pub running: bool,
    /// Frozen.
    pub paused: bool,
    /// Waiting to be restarted by its policy.
    pub restarting: bool,
    /// Killed by the OOM killer.
    pub oom_killed: bool,
    /// Could not be cleaned up.
    pub dead: bool,
    /// Host PID of the init process (0 when not running).
    pub pid: i64,
    /// Exit code of the last run.
    pub exit_code: i64,
    /// Error of the last start.
    pub error: String,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339.
    pub finished_at: String,
    /// Health (when a health check is configured).
    #[serde(default)]
    pub health: Option<Value>,
}

impl Default for State {
    fn default() -> Self {
        State {
            status: "created".into(),
            running: false,
            paused: false,
            restarting: false,
            oom_killed: false,
            dead: false,
            pid: 0,
            exit_code: 0,
            error: String::new(),
            started_at: "0001-01-01T00:00:00Z".into(),
            finished_at: "0001-01-01T00:00:00Z".into(),
            health: None,
        }
    }
}

/// What the store knows of one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// 64 hex characters.
    pub id: String,
    /// Name with its leading slash ("/web").
    pub name: String,
    /// RFC 3339.
    pub created: String,
    /// Image ID.
    pub image_id: String,
    /// The image as the user named it.
    pub image: String,
    /// Entrypoint + command: the program.
    pub path: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Docker's `Config` (image defaults merged in).
    pub config: Value,
    /// Docker's `HostConfig`.
    pub host_config: Value,
    /// State.
    pub state: State,
    /// Restarts done by the restart policy.
    pub restart_count: u64,
    /// Stopped by the user (for `unless-stopped`).
    #[serde(default)]
    pub manually_stopped: bool,
    /// Has been started at least once.
    #[serde(default)]
    pub has_been_started: bool,
    /// Its networks, by name.
    #[serde(default)]
    pub endpoints: BTreeMap<String, crate::networks::endpoints::Endpoint>,
    /// Host ports it holds while running (`"80/tcp"` → `[(ip, port)]`).
    #[serde(default)]
    pub ports: BTreeMap<String, Vec<(String, String)>>,
    /// Volumes, binds and tmpfs mounts (`-v`, `--mount`, image VOLUMEs).
    #[serde(default)]
    pub mounts: Vec<berth_volumes::MountPoint>,
}

/// A random name like Docker's ("eager_turing").
fn random_name() -> String {
    const LEFT: &[&str] = &[
        "admiring", "agitated", "bold", "brave", "busy", "clever", "cool", "eager", "ecstatic",
        "focused", "gallant", "happy", "hopeful", "jolly", "keen", "kind", "lucid", "modest",
        "nifty", "peaceful", "quirky", "relaxed", "serene", "sharp", "stoic", "tender", "vibrant",
        "wizardly", "zealous",
    ];
    const RIGHT: &[&str] = &[
        "albattani",
        "babbage",
        "banach",
        "bohr",
        "curie",
        "darwin",
        "dijkstra",
        "einstein",
        "euler",
        "fermat",
        "franklin",
        "galileo",
        "gauss",
        "hopper",
        "hypatia",
        "kepler",
        "knuth",
        "lamport",
        "lovelace",
        "maxwell",
        "newton",
        "noether",
        "pascal",
        "ritchie",
        "shannon",
        "tesla",
        "thompson",
        "turing",
        "wozniak",
    ];
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    format!(
        "{}_{}",
        LEFT[b[0] as usize % LEFT.len()],
        RIGHT[b[1] as usize % RIGHT.len()]
    )
}

pub(crate) fn new_id() -> Result<String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| EngineError::internal(format!("random: {e}")))?;
    Ok(hex::encode(b))
}

/// Docker's rule for container names.
pub fn valid_name(name: &str) -> bool {
    let n = name.strip_prefix('/').unwrap_or(name);
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && n.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The strings of a JSON array (empty when absent or not an array).
pub(crate) fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(as_list).unwrap_or_default()
}

fn as_list(v: &Value) -> Option<Vec<String>> {
    v.as_array().map(|a| {
        a.iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect()
    })
}

/// `Docker's "Up 5 minutes"`, `"Exited (0) 3 seconds ago"`, `"Created"`.
pub fn status_text(s: &State) -> String {
    let since = |t: &str| -> String {
        chrono::DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|t| {
                let secs = (chrono::Utc::now().timestamp() - t.timestamp()).max(0);
                human_duration(secs)
            })
            .unwrap_or_default()
    };
    match s.status.as_str() {
        "running" => {
            let mut t = format!("Up {}", since(&s.started_at));
            if let Some(h) = s.health.as_ref().and_then(|h| h["Status"].as_str()) {
                if h == "starting" {
                    t.push_str(" (health: starting)");
                } else {
                    t.push_str(&format!(" ({h})"));
                }
            }
            t
        }
        "paused" => format!("Up {} (Paused)", since(&s.started_at)),
        "restarting" => format!("Restarting ({}) {} ago", s.exit_code, since(&s.finished_at)),
        "exited" => format!("Exited ({}) {} ago", s.exit_code, since(&s.finished_at)),
        "removing" => "Removal In Progress".into(),
        "dead" => "Dead".into(),
        _ => "Created".into(),
    }
}

/// go-units HumanDuration for whole seconds.
fn human_duration(secs: i64) -> String {
    let m = secs / 60;
    let h = (secs as f64 / 3600.0).round() as i64;
    if secs < 1 {
        "Less than a second".into()
    } else if secs == 1 {
        "1 second".into()
    } else if secs < 60 {
        format!("{secs} seconds")
    } else if m == 1 {
        "About a minute".into()
    } else if m < 60 {
        format!("{m} minutes")
    } else if h == 1 {
        "About an hour".into()
    } else if h < 48 {
        format!("{h} hours")
    } else if h < 24 * 7 * 2 {
        format!("{} days", h / 24)
    } else if h < 24 * 30 * 2 {
        format!("{} weeks", h / 24 / 7)
    } else if h < 24 * 365 * 2 {
        format!("{} months", h / 24 / 30)
    } else {
        format!("{} years", h / 24 / 365)
    }
}

/// Options of a create.
#[derive(Debug, Default, Clone)]
pub struct CreateOptions {
    /// `?name=`.
    pub name: Option<String>,
    /// `?platform=`.
    pub platform: Option<String>,
}

impl Engine {
    /// Every container record.
    pub fn container_records(&self) -> Result<Vec<ContainerRecord>> {
        Ok(self
            .store
            .list::<ContainerRecord>(CONTAINERS)?
            .into_iter()
            .map(|(_, r)| r)
            .collect())
    }

    /// Finds a container by full ID, unique ID prefix or name (Docker's order).
    pub fn resolve_container(&self, name: &str) -> Result<ContainerRecord> {
        let not_found = || EngineError::not_found(format!("No such container: {name}"));
        if name.is_empty() {
            return Err(not_found());
        }
        if let Some(r) = self.store.get::<ContainerRecord>(CONTAINERS, name)? {
            return Ok(r);
        }
        let all = self.container_records()?;
        let want = format!("/{}", name.trim_start_matches('/'));
        if let Some(r) = all.iter().find(|r| r.name == want) {
            return Ok(r.clone());
        }
        let matches: Vec<&ContainerRecord> =
            all.iter().filter(|r| r.id.starts_with(name)).collect();
        match matches.len() {
            0 => Err(not_found()),
            1 => Ok(matches[0].clone()),
            _ => Err(EngineError::invalid(format!(
                "multiple IDs found with provided prefix: {name}"
            ))),
        }
    }

    /// Saves a container record.
    pub fn save_container(&self, rec: &ContainerRecord) -> Result<()> {
        self.store.write(|tx| tx.put(CONTAINERS, &rec.id, rec))?;
        Ok(())
    }

    /// The first container using an image, if any (for `rmi`).
    pub fn container_using_image(&self, image_id: &str) -> Result<Option<(String, bool)>> {
        Ok(self
            .container_records()?
            .into_iter()
            .find(|c| c.image_id == image_id)
            .map(|c| (c.id, c.state.running)))
    }

    /// `POST /containers/create`: returns the ID and warnings.
    pub fn create_container(
        &self,
        body: &Value,
        opts: &CreateOptions,
    ) -> Result<(String, Vec<String>)> {
        // A start most often follows (`run`): the kernel's wait for its
        // cgroup join begins now (see begin_migration_grace_period).
        berth_runtime::cgroups::begin_migration_grace_period();
        crate::images::import::check_platform(opts.platform.as_deref())?;
        let Value::Object(body) = body else {
            return Err(EngineError::invalid(
                "invalid JSON: the body must be an object",
            ));
        };
        let image_name = body
            .get("Image")
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                EngineError::invalid(
                    "no image specified: give the image to create the container from",
                )
            })?
            .to_string();
        let image = self.resolve_image(&image_name)?;
        let image_cfg = self.image_config(&image)?;
        let name = match &opts.name {
            Some(n) if !n.is_empty() => {
                if !valid_name(n) {
                    return Err(EngineError::invalid(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                format!("/{}", n.trim_start_matches('/'))
            }
            // Picked under the lock below, so concurrent creates never collide.
            _ => String::new(),
        };
        let mut host_config = body.get("HostConfig").cloned().unwrap_or_else(|| json!({}));
        if !host_config.is_object() {
            return Err(EngineError::invalid(
                "invalid JSON: HostConfig must be an object",
            ));
        }
        // Merge the image's defaults into the config.
        let img = image_cfg.config.clone().unwrap_or_else(|| json!({}));
        let mut config: Map<String, Value> = body.clone();
        config.remove("HostConfig");
        config.remove("NetworkingConfig");
        let user_cmd = config
            .get("Cmd")
            .and_then(as_list)
            .filter(|c| !c.is_empty());
        let user_ep = config.get("Entrypoint").and_then(as_list);
        let entrypoint: Vec<String> = match &user_ep {
            // `--entrypoint ""` resets it.
            Some(ep) if ep.len() == 1 && ep[0].is_empty() => Vec::new(),
            Some(ep) if !ep.is_empty() => ep.clone(),
            _ => img.get("Entrypoint").and_then(as_list).unwrap_or_default(),
        };
        let cmd: Vec<String> = match (&user_cmd, &user_ep) {
            (Some(c), _) => c.clone(),
            // A new entrypoint drops the image's CMD.
            (None, Some(ep)) if !ep.is_empty() => Vec::new(),
            _ => img.get("Cmd").and_then(as_list).unwrap_or_default(),
        };
        let argv: Vec<String> = entrypoint.iter().chain(cmd.iter()).cloned().collect();
        if argv.is_empty() {
            return Err(EngineError::invalid("no command specified"));
        }
        config.insert("Cmd".into(), json!(cmd));
        config.insert(
            "Entrypoint".into(),
            if entrypoint.is_empty() {
                Value::Null
            } else {
                json!(entrypoint)
            },
        );
        let mut env: Vec<String> = img.get("Env").and_then(as_list).unwrap_or_default();
        for e in config.get("Env").and_then(as_list).unwrap_or_default() {
            let key = e.split('=').next().unwrap_or("").to_string();
            env.retain(|x| x.split('=').next() != Some(key.as_str()));
            env.push(e);
        }
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.insert(
                0,
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            );
        }
        config.insert("Env".into(), json!(env));
        for key in ["WorkingDir", "User", "StopSignal"] {
            let empty = config
                .get(key)
                .and_then(|v| v.as_str())
                .is_none_or(|s| s.is_empty());
            if empty {
                if let Some(v) = img
                    .get(key)
                    .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
                {
                    config.insert(key.into(), v.clone());
                }
            }
        }
        for key in ["ExposedPorts", "Volumes", "Labels"] {
            let mut merged = img
                .get(key)
                .and_then(|v| v.as_object())
                .cloned()
                .unwrap_or_default();
            if let Some(Value::Object(m)) = config.get(key) {
                for (k, v) in m {
                    merged.insert(k.clone(), v.clone());
                }
            }
            config.insert(
                key.into(),
                if merged.is_empty() && key != "Labels" {
                    Value::Null
                } else {
                    Value::Object(merged)
                },
            );
        }
        if config.get("Healthcheck").is_none_or(|h| h.is_null()) {
            if let Some(h) = img.get("Healthcheck") {
                config.insert("Healthcheck".into(), h.clone());
            }
        }
        config.insert("Image".into(), json!(image_name));
        crate::networks::endpoints::joined_network_conflicts(body)?;
        let id = new_id()?;
        let hostname = config
            .get("Hostname")
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(String::from)
            .unwrap_or_else(|| {
                // On the host's network a container has the host's name.
                let host_net = body
                    .get("HostConfig")
                    .and_then(|h| h.get("NetworkMode"))
                    .and_then(|m| m.as_str())
                    == Some("host");
                if host_net {
                    rustix::system::uname()
                        .nodename()
                        .to_string_lossy()
                        .into_owned()
                } else {
                    id[..12].to_string()
                }
            });
        config.insert("Hostname".into(), json!(hostname));
        for key in ["Domainname", "User", "WorkingDir"] {
            config.entry(key).or_insert(json!(""));
        }
        for key in [
            "AttachStdin",
            "AttachStdout",
            "AttachStderr",
            "Tty",
            "OpenStdin",
            "StdinOnce",
        ] {
            config.entry(key).or_insert(json!(false));
        }
        // Validate what will be needed at start, before anything is stored.
        let warnings = spec::validate_host_config(&mut host_config)?;
        let endpoints = self.plan_endpoints(
            &mut host_config,
            body.get("NetworkingConfig").unwrap_or(&Value::Null),
        )?;
        let mounts = self.plan_mounts(&Value::Object(config.clone()), &host_config)?;
        let mut rec = ContainerRecord {
            id: id.clone(),
            name: name.clone(),
            created: now_rfc3339(),
            image_id: image.id.clone(),
            image: image_name.clone(),
            path: argv[0].clone(),
            args: argv[1..].to_vec(),
            config: Value::Object(config),
            host_config,
            state: State::default(),
            restart_count: 0,
            manually_stopped: false,
            has_been_started: false,
            endpoints,
            ports: BTreeMap::new(),
            mounts,
        };
        {
            let _g = self.container_lock.lock();
            if rec.name.is_empty() {
                let taken: std::collections::HashSet<String> = self
                    .container_records()?
                    .into_iter()
                    .map(|c| c.name)
                    .collect();
                let mut n = format!("/{}", random_name());
                let mut i = 0;
                while taken.contains(&n) {
                    i += 1;
                    // Like Docker's generator: a digit once the plain names run out.
                    n = if i < 8 {
                        format!("/{}", random_name())
                    } else {
                        format!("/{}{}", random_name(), i)
                    };
                }
                rec.name = n;
            }
            let name = rec.name.clone();
            if let Some(other) = self
                .container_records()?
                .into_iter()
                .find(|c| c.name == name)
            {
                return Err(EngineError::conflict(format!(
                    "Conflict. The container name \"{name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                    other.id
                )));
            }
            self.prepare_rootfs(&rec, &image)?;
            self.save_container(&rec)?;
        }
        self.container_event(&rec, "create", BTreeMap::new());
        Ok((id, warnings))
    }

    /// Publishes a container event with Docker's attributes (name, image,
    /// labels) plus `extra`.
    pub fn container_event(
        &self,
        rec: &ContainerRecord,
        action: &str,
        extra: BTreeMap<String, String>,
    ) {
        let mut a = attrs([
            ("name", rec.name.trim_start_matches('/').to_string()),
            ("image", rec.image.clone()),
        ]);
        if let Some(Value::Object(labels)) = rec.config.get("Labels") {
            for (k, v) in labels {
                if let Some(v) = v.as_str() {
                    a.insert(k.clone(), v.to_string());
                }
            }
        }
        a.extend(extra);
        self.events.publish("container", action, &rec.id, a);
    }

    /// `GET /containers/json`.
    pub fn list_containers(
        &self,
        all: bool,
        limit: Option<usize>,
        size: bool,
        filters: Option<&str>,
    ) -> Result<Vec<Value>> {
        let f = parse_filters(filters)?;
        const ALLOWED: &[&str] = &[
            "ancestor",
            "before",
            "expose",
            "exited",
            "health",
            "id",
            "isolation",
            "is-task",
            "label",
            "name",
            "network",
            "publish",
            "since",
            "status",
            "volume",
        ];
        for k in f.keys() {
            if !ALLOWED.contains(&k.as_str()) {
                return Err(EngineError::invalid(format!("invalid filter '{k}'")));
            }
        }
        if let Some(st) = f.get("status") {
            for s in st {
                if ![
                    "created",
                    "restarting",
                    "running",
                    "removing",
                    "paused",
                    "exited",
                    "dead",
                ]
                .contains(&s.as_str())
                {
                    return Err(EngineError::invalid(format!("invalid filter 'status={s}'")));
                }
            }
        }
        let mut recs = self.container_records()?;
        recs.sort_by(|a, b| b.created.cmp(&a.created));
        let created_of = |n: &str| -> Result<String> { Ok(self.resolve_container(n)?.created) };
        let before = f
            .get("before")
            .and_then(|v| v.first())
            .map(|n| created_of(n))
            .transpose()?;
        let since = f
            .get("since")
            .and_then(|v| v.first())
            .map(|n| created_of(n))
            .transpose()?;
        let images = self.image_records()?;
        let refs = self.refs_by_image()?;
        let mut out = Vec::new();
        for c in recs {
            let explicit_status = f.contains_key("status") || f.contains_key("exited");
            if !all && !c.state.running && !explicit_status && limit.is_none() {
                continue;
            }
            if let Some(b) = &before {
                if c.created >= *b {
                    continue;
                }
            }
            if let Some(s) = &since {
                if c.created <= *s {
                    continue;
                }
            }
            let any = |k: &str, pred: &dyn Fn(&str) -> bool| {
                f.get(k).is_none_or(|vs| vs.iter().any(|v| pred(v)))
            };
            let name = c.name.trim_start_matches('/');
            let labels = c.config.get("Labels").cloned().unwrap_or(json!({}));
            let ok = any("id", &|v| c.id.starts_with(v))
                && any("name", &|v| name.contains(v.trim_start_matches('/')))
                && any("status", &|v| c.state.status == v)
                && any("exited", &|v| {
                    c.state.status == "exited" && v.parse::<i64>().ok() == Some(c.state.exit_code)
                })
                && any("health", &|v| {
                    let h = c
                        .state
                        .health
                        .as_ref()
                        .and_then(|h| h["Status"].as_str())
                        .unwrap_or("none");
                    h == v
                })
                && any("ancestor", &|v| {
                    let img_tags = refs
                        .get(&c.image_id)
                        .map(|t| t.0.clone())
                        .unwrap_or_default();
                    let norm = |s: &str| {
                        Reference::parse_with_default_tag(s)
                            .map(|r| r.familiar_string())
                            .unwrap_or_else(|_| s.to_string())
                    };
                    c.image == v
                        || norm(&c.image) == norm(v)
                        || c.image_id
                            .trim_start_matches("sha256:")
                            .starts_with(v.trim_start_matches("sha256:"))
                        || img_tags
                            .iter()
                            .any(|t| *t == norm(v) || t.split(':').next() == Some(v))
                })
                && f.get("label").is_none_or(|vs| {
                    vs.iter().all(|l| match l.split_once('=') {
                        Some((k, val)) => labels.get(k).and_then(|x| x.as_str()) == Some(val),
                        None => labels.get(l.as_str()).is_some(),
                    })
                });
            if !ok {
                continue;
            }
            let mut v = json!({
                "Id": c.id,
                "Names": [c.name],
                "Image": c.image,
                "ImageID": c.image_id,
                "Command": std::iter::once(c.path.clone()).chain(c.args.iter().cloned()).collect::<Vec<_>>().join(" "),
                "Created": chrono::DateTime::parse_from_rfc3339(&c.created).map(|t| t.timestamp()).unwrap_or(0),
                "Ports": self.ps_ports(&c),
                "Labels": labels,
                "State": c.state.status,
                "Status": status_text(&c.state),
                "HostConfig": {"NetworkMode": c.host_config.get("NetworkMode").and_then(|v| v.as_str()).unwrap_or("none")},
                "NetworkSettings": self.ps_networks(&c),
                "Mounts": self.mounts_json(&c),
            });
            if size {
                let rw = self.container_rw_size(&c.id);
                let image_size: u64 = images
                    .iter()
                    .find(|i| i.id == c.image_id)
                    .map(|i| self.image_size_of(i))
                    .unwrap_or(0);
                v["SizeRw"] = json!(rw);
                v["SizeRootFs"] = json!(rw + image_size);
            }
            out.push(v);
            if limit.is_some_and(|l| out.len() >= l) {
                break;
            }
        }
        Ok(out)
    }

    fn image_size_of(&self, rec: &ImageRecord) -> u64 {
        rec.layers
            .iter()
            .filter_map(|l| self.layer_record(l))
            .map(|l| l.size)
            .sum()
    }

    /// `GET /containers/{id}/json`.
    pub fn inspect_container(&self, name: &str, size: bool) -> Result<Value> {
        let c = self.resolve_container(name)?;
        let dirs = self.container_dirs(&c.id);
        // A container in another's network namespace uses that one's
        // hosts, resolv.conf and hostname (copied into its own directory).
        let net_files = c.host_config["NetworkMode"]
            .as_str()
            .and_then(|m| m.strip_prefix("container:"))
            .and_then(|donor| self.resolve_container(donor).ok())
            .map(|d| self.container_dirs(&d.id).root)
            .unwrap_or_else(|| dirs.root.clone());
        let image = self
            .store
            .get::<ImageRecord>(crate::images::IMAGES, &c.image_id)?;
        let lower: Vec<String> = image
            .as_ref()
            .map(|i| {
                i.layers
                    .iter()
                    .rev()
                    .map(|l| self.layers.diff_dir(l).display().to_string())
                    .collect()
            })
            .unwrap_or_default();
        let s = &c.state;
        let mut state = json!({
            "Status": s.status,
            "Running": s.running,
            "Paused": s.paused,
            "Restarting": s.restarting,
            "OOMKilled": s.oom_killed,
            "Dead": s.dead,
            "Pid": s.pid,
            "ExitCode": s.exit_code,
            "Error": s.error,
            "StartedAt": s.started_at,
            "FinishedAt": s.finished_at,
        });
        if let Some(h) = &s.health {
            state["Health"] = h.clone();
        }
        let mut v = json!({
            "Id": c.id,
            "Created": c.created,
            "Path": c.path,
            "Args": c.args,
            "State": state,
            "Image": c.image_id,
            "ResolvConfPath": net_files.join("resolv.conf"),
            "HostnamePath": net_files.join("hostname"),
            "HostsPath": net_files.join("hosts"),
            "LogPath": dirs.log,
            "Name": c.name,
            "RestartCount": c.restart_count,
            "Driver": "overlay2",
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": null,
            "HostConfig": c.host_config,
            "GraphDriver": {
                "Name": "overlay2",
                "Data": {
                    "LowerDir": lower.join(":"),
                    "MergedDir": dirs.merged,
                    "UpperDir": dirs.upper,
                    "WorkDir": dirs.work,
                }
            },
            "Mounts": self.mounts_json(&c),
            "Config": c.config,
            "NetworkSettings": self.network_settings_json(&c),
        });
        if size {
            let rw = self.container_rw_size(&c.id);
            v["SizeRw"] = json!(rw);
            v["SizeRootFs"] =
                json!(rw + image.as_ref().map(|i| self.image_size_of(i)).unwrap_or(0));
        }
        Ok(v)
    }

    /// `POST /containers/{id}/rename`.
    pub fn rename_container(&self, name: &str, new_name: &str) -> Result<()> {
        if !valid_name(new_name) {
            return Err(EngineError::invalid(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let _g = self.container_lock.lock();
        let mut c = self.resolve_container(name)?;
        let want = format!("/{}", new_name.trim_start_matches('/'));
        if c.name == want {
            return Err(EngineError::conflict(
                "Renaming a container with the same name as its current name",
            ));
        }
        if let Some(other) = self
            .container_records()?
            .into_iter()
            .find(|o| o.name == want)
        {
            return Err(EngineError::conflict(format!(
                "Conflict. The container name \"{want}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                other.id
            )));
        }
        let old = c.name.clone();
        c.name = want;
        self.save_container(&c)?;
        self.container_event(&c, "rename", attrs([("oldName", old)]));
        Ok(())
    }

    /// Paths of a container's files.
    pub fn container_dirs(&self, id: &str) -> rootfs::ContainerDirs {
        rootfs::ContainerDirs::new(&self.config.data_root, &self.config.exec_root, id)
    }

    fn container_rw_size(&self, id: &str) -> u64 {
        berth_snapshot::dir_size(&self.container_dirs(id).upper).unwrap_or(0)
    }

    /// Host path where a container's bundle lives.
    pub fn bundle_dir(&self, id: &str) -> PathBuf {
        self.container_dirs(id).bundle
    }
}
