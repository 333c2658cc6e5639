//! docker-compose 1.29's `com.docker.compose.config-hash`, reproduced.
//!
//! docker-compose 1.29 (the Python tool) hashes a service as
//! `sha256(json.dumps(config_dict, sort_keys=True, separators=(',', ':')))`
//! where `config_dict` is `{options, image_id, links, net, ipc_mode,
//! networks, secrets, volumes_from}` and `options` is the service's
//! dictionary after *its own* loading pipeline: interpolation with its
//! type conversions, the merge of several files (`merge_service_dicts`,
//! which sorts and dedupes lists), `extends`, `process_service`
//! (absolute paths, short ports parsed to `ServicePort` tuples, labels and
//! sysctls as mappings, health check durations in nanoseconds),
//! `finalize_service` (environment resolved from `env_file` and the
//! process environment, volumes as `VolumeSpec` tuples or `MountSpec`
//! mappings, restart as `{Name, MaximumRetryCount}`) and
//! `Project.from_config` (named volumes namespaced, `deploy` translated
//! into `restart`/`mem_limit`/`cpus`/`mem_reservation`, `platform` and
//! `device_requests` added). Compose v2 hashes its own normalised model
//! instead, so the two tools never agree on a hash.
//!
//! berth writes this hash so that docker-compose 1.29 and `berth compose`
//! leave each other's unchanged containers alone. This module replays that
//! pipeline on the files' raw YAML (before berth's own interpolation and
//! canonicalisation) and returns `None` for what it cannot reproduce
//! without asking the daemon (`ipc`/`network_mode`/`volumes_from` naming a
//! container, `ipc: service:…`, seccomp profile files); the caller then
//! falls back to the compose v2 hash.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::interpolate::substitute;
use crate::model::Project;

/// One compose document as read from its file, before interpolation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawDocument {
    /// The file it comes from (absolute; `-` for standard input).
    pub file: PathBuf,
    /// The parsed YAML, `<<` merge keys applied, nothing else.
    pub value: Value,
}

/// The hash docker-compose 1.29 gives `service` of `project` (built from
/// `project.raw_documents`), with `image_id` the ID of the service's image
/// on the daemon (`None`: the image is missing). `None` when berth cannot
/// reproduce it.
pub fn config_hash(project: &Project, service: &str, image_id: Option<&str>) -> Option<String> {
    let dict = config_dict(project, service, image_id)?;
    Some(hex::encode(Sha256::digest(py_json(&dict).as_bytes())))
}

/// The `config_dict` docker-compose 1.29 hashes (see the module documentation).
pub fn config_dict(project: &Project, service: &str, image_id: Option<&str>) -> Option<Value> {
    let docs = &project.raw_documents;
    if docs.is_empty() {
        return None;
    }
    let env = &project.environment;
    let wd = project.working_dir.clone();
    let ctx = Ctx {
        env,
        home: env
            .get("HOME")
            .cloned()
            .or_else(|| std::env::var("HOME").ok()),
    };
    // Interpolated services and secrets of each file.
    let mut files: Vec<(PathBuf, Map<String, Value>)> = Vec::new();
    let mut secret_defs: BTreeMap<String, Value> = BTreeMap::new();
    for doc in docs {
        let services = ctx.interpolate_section(doc.value.get("services"), "service")?;
        files.push((doc.file.clone(), services));
        let secrets = ctx.interpolate_section(doc.value.get("secrets"), "secret")?;
        for (k, v) in secrets {
            secret_defs.insert(k, v);
        }
    }
    // Merged across files as `load_services` reduces them.
    let mut merged: Map<String, Value> = files[0].1.clone();
    for (_, next) in &files[1..] {
        let mut names: Vec<String> = merged.keys().cloned().collect();
        for k in next.keys() {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
        let mut out = Map::new();
        for name in names {
            let base = as_map(merged.get(&name));
            let over = as_map(next.get(&name));
            let mut m = merge_service_dicts(&base, &over)?;
            if let Some(e) = over.get("extends").or_else(|| base.get("extends")) {
                m.insert("extends".into(), e.clone());
            }
            out.insert(name, Value::Object(m));
        }
        merged = out;
    }
    let service_names: Vec<String> = merged.keys().cloned().collect();
    let raw = as_map(merged.get(service));
    let main_file = files[0].0.clone();
    let resolved = ctx.resolve_extends(&raw, &wd, &main_file, &files[0].1, 0)?;
    let processed = ctx.process_service(resolved, &wd)?;
    let finalized = ctx.finalize_service(processed, &wd)?;
    from_config(
        project,
        service,
        &service_names,
        finalized,
        &secret_defs,
        &wd,
        image_id,
    )
}

/// The environment and home directory the pipeline reads.
struct Ctx<'a> {
    env: &'a BTreeMap<String, String>,
    home: Option<String>,
}

fn as_map(v: Option<&Value>) -> Map<String, Value> {
    match v {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    }
}

// ---------------------------------------------------------------------
// Interpolation and docker-compose's type conversions.

#[derive(Clone, Copy)]
enum Conv {
    Int,
    Float,
    Bool,
    Bytes,
    Micros,
}

fn conversions() -> &'static Vec<(Regex, Conv)> {
    static TABLE: OnceLock<Vec<(Regex, Conv)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let svc = |p: &str| format!("^service/[^/]+/{p}$");
        let sec = |s: &str, p: &str| format!("^{s}/[^/]+/{p}$");
        let rows: Vec<(String, Conv)> = vec![
            (svc("blkio_config/weight"), Conv::Int),
            (svc("blkio_config/weight_device/weight"), Conv::Int),
            (svc("cpus"), Conv::Float),
            (svc("cpu_count"), Conv::Int),
            (svc("cpu_quota"), Conv::Micros),
            (svc("cpu_period"), Conv::Micros),
            (svc("cpu_rt_period"), Conv::Micros),
            (svc("cpu_rt_runtime"), Conv::Micros),
            (svc("configs/mode"), Conv::Int),
            (svc("secrets/mode"), Conv::Int),
            (svc("healthcheck/retries"), Conv::Int),
            (svc("healthcheck/disable"), Conv::Bool),
            (svc("deploy/replicas"), Conv::Int),
            (svc("deploy/placement/max_replicas_per_node"), Conv::Int),
            (svc("deploy/resources/limits/cpus"), Conv::Float),
            (svc("deploy/update_config/parallelism"), Conv::Int),
            (svc("deploy/update_config/max_failure_ratio"), Conv::Float),
            (svc("deploy/rollback_config/parallelism"), Conv::Int),
            (svc("deploy/rollback_config/max_failure_ratio"), Conv::Float),
            (svc("deploy/restart_policy/max_attempts"), Conv::Int),
            (svc("mem_swappiness"), Conv::Int),
            (svc("oom_kill_disable"), Conv::Bool),
            (svc("oom_score_adj"), Conv::Int),
            (svc("ports/target"), Conv::Int),
            (svc("ports/published"), Conv::Int),
            (svc("scale"), Conv::Int),
            (svc("ulimits/[^/]+"), Conv::Int),
            (svc("ulimits/[^/]+/soft"), Conv::Int),
            (svc("ulimits/[^/]+/hard"), Conv::Int),
            (svc("privileged"), Conv::Bool),
            (svc("read_only"), Conv::Bool),
            (svc("stdin_open"), Conv::Bool),
            (svc("tty"), Conv::Bool),
            (svc("volumes/read_only"), Conv::Bool),
            (svc("volumes/volume/nocopy"), Conv::Bool),
            (svc("volumes/tmpfs/size"), Conv::Bytes),
            (sec("secret", "external"), Conv::Bool),
        ];
        rows.into_iter()
            .filter_map(|(p, c)| Regex::new(&p).ok().map(|r| (r, c)))
            .collect()
    })
}

/// docker-compose's `convert` of a string found at `path`.
fn convert(path: &str, s: String) -> Option<Value> {
    let Some((_, conv)) = conversions().iter().find(|(r, _)| r.is_match(path)) else {
        return Some(Value::String(s));
    };
    match conv {
        Conv::Int => py_int(&s).map(Value::from),
        Conv::Float => s.trim().parse::<f64>().ok().and_then(float_value),
        Conv::Bool => match s.to_lowercase().as_str() {
            "y" | "yes" | "true" | "on" => Some(Value::Bool(true)),
            "n" | "no" | "false" | "off" => Some(Value::Bool(false)),
            _ => None,
        },
        Conv::Bytes => parse_bytes(&Value::String(s)),
        Conv::Micros => {
            let ns = parse_nanoseconds_int(&s)?;
            Some(Value::from((ns as f64 / 1000.0) as i64))
        }
    }
}

fn float_value(f: f64) -> Option<Value> {
    serde_json::Number::from_f64(f).map(Value::Number)
}

/// Python's `int(s, base=0)` after docker-compose's octal fix-up.
fn py_int(s: &str) -> Option<i64> {
    let t = s.trim().replace('_', "");
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r.to_string()),
        None => (false, t.strip_prefix('+').unwrap_or(&t).to_string()),
    };
    let lower = t.to_lowercase();
    let v =
        if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|b| b.is_ascii_digit()) {
            i64::from_str_radix(&lower[1..], 8).ok()?
        } else if let Some(h) = lower.strip_prefix("0x") {
            i64::from_str_radix(h, 16).ok()?
        } else if let Some(o) = lower.strip_prefix("0o") {
            i64::from_str_radix(o, 8).ok()?
        } else if let Some(b) = lower.strip_prefix("0b") {
            i64::from_str_radix(b, 2).ok()?
        } else {
            lower.parse::<i64>().ok()?
        };
    Some(if neg { -v } else { v })
}

impl Ctx<'_> {
    fn lookup(&self, k: &str) -> Option<String> {
        self.env.get(k).cloned()
    }

    /// Interpolates each entry of a top-level section (`services`, …).
    fn interpolate_section(&self, v: Option<&Value>, section: &str) -> Option<Map<String, Value>> {
        let mut out = Map::new();
        let Some(Value::Object(m)) = v else {
            return Some(out);
        };
        for (name, entry) in m {
            let mut item = Map::new();
            if let Value::Object(fields) = entry {
                for (k, val) in fields {
                    let path = format!("{section}/{name}/{k}");
                    item.insert(k.clone(), self.interpolate(val, &path)?);
                }
            }
            out.insert(name.clone(), Value::Object(item));
        }
        Some(out)
    }

    fn interpolate(&self, v: &Value, path: &str) -> Option<Value> {
        match v {
            Value::String(s) => {
                let lookup = |k: &str| self.lookup(k);
                let s = substitute(s, &lookup, &mut Vec::new()).ok()?;
                convert(path, s)
            }
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, val) in m {
                    out.insert(k.clone(), self.interpolate(val, &format!("{path}/{k}"))?);
                }
                Some(Value::Object(out))
            }
            Value::Array(a) => a
                .iter()
                .map(|x| self.interpolate(x, path))
                .collect::<Option<Vec<_>>>()
                .map(Value::Array),
            other => Some(other.clone()),
        }
    }

    /// `os.path.expanduser` for `~` and `~/…`.
    fn expanduser(&self, p: &str) -> String {
        match (&self.home, p) {
            (Some(h), "~") => h.clone(),
            (Some(h), _) if p.starts_with("~/") => {
                format!("{}{}", h.trim_end_matches('/'), &p[1..])
            }
            _ => p.to_string(),
        }
    }

    /// docker-compose's `expand_path`: `abspath(join(working_dir, expanduser(path)))`.
    fn expand_path(&self, wd: &Path, p: &str) -> String {
        let p = self.expanduser(p);
        if p.starts_with('/') {
            normpath(&p)
        } else {
            normpath(&format!("{}/{p}", wd.display()))
        }
    }

    /// `ServiceExtendsResolver.run` (then `resolve_extends`).
    fn resolve_extends(
        &self,
        dict: &Map<String, Value>,
        wd: &Path,
        main_file: &Path,
        main_services: &Map<String, Value>,
        depth: usize,
    ) -> Option<Map<String, Value>> {
        let Some(ext) = dict.get("extends") else {
            return Some(dict.clone());
        };
        if depth > 16 {
            return None;
        }
        let ext = match ext {
            Value::String(s) => json!({ "service": s }),
            other => other.clone(),
        };
        let name = ext.get("service")?.as_str()?.to_string();
        let (path, base) = match ext.get("file").and_then(Value::as_str) {
            Some(f) if Path::new(&self.expand_path(wd, f)) != main_file => {
                let path = PathBuf::from(self.expand_path(wd, f));
                let text = std::fs::read_to_string(&path).ok()?;
                let docs = crate::yaml::parse_documents(&text, &path.display().to_string()).ok()?;
                let doc = docs.into_iter().next()?;
                let services = self.interpolate_section(doc.value.get("services"), "service")?;
                (path, as_map(services.get(&name)))
            }
            _ => (
                main_file.to_path_buf(),
                as_map(main_services.get(&name)).into_iter().collect(),
            ),
        };
        if !main_services.contains_key(&name) && path == main_file {
            return None;
        }
        let base_wd = path.parent().unwrap_or(Path::new("/")).to_path_buf();
        let base = self.resolve_extends(&base, &base_wd, main_file, main_services, depth + 1)?;
        let other = self.process_service(base, &base_wd)?;
        merge_service_dicts(&other, dict)
    }

    // -----------------------------------------------------------------
    // process_service

    fn process_service(&self, mut d: Map<String, Value>, wd: &Path) -> Option<Map<String, Value>> {
        if let Some(v) = d.get("env_file").cloned() {
            let list: Vec<Value> = to_list(&v)
                .iter()
                .map(|p| Some(Value::String(self.expand_path(wd, p.as_str()?))))
                .collect::<Option<_>>()?;
            d.insert("env_file".into(), Value::Array(list));
        }
        if let Some(b) = d.get("build").cloned() {
            let b = match b {
                Value::String(s) => Value::String(self.resolve_build_path(wd, &s)),
                Value::Object(mut m) => {
                    if let Some(c) = m.get("context").and_then(Value::as_str).map(String::from) {
                        m.insert(
                            "context".into(),
                            Value::String(self.resolve_build_path(wd, &c)),
                        );
                    }
                    if let Some(l) = m.get("labels").cloned() {
                        m.insert("labels".into(), Value::Object(parse_labels(&l)?));
                    }
                    Value::Object(m)
                }
                other => other,
            };
            d.insert("build".into(), b);
        }
        if d.contains_key("volumes") && d.get("volume_driver").is_none_or(Value::is_null) {
            let vols = d
                .get("volumes")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let resolved: Vec<Value> = vols
                .iter()
                .map(|v| self.resolve_volume_path(wd, v))
                .collect::<Option<_>>()?;
            d.insert("volumes".into(), Value::Array(resolved));
        }
        if let Some(s) = d.get("sysctls").cloned() {
            let m = parse_kv(&s)?;
            d.insert("sysctls".into(), Value::Object(string_dict(&m)));
        }
        if let Some(l) = d.get("labels").cloned() {
            d.insert("labels".into(), Value::Object(parse_labels(&l)?));
        }
        if let Some(Value::Array(list)) = d.get("depends_on").cloned() {
            let mut m = Map::new();
            for s in list {
                m.insert(py_str(&s), json!({"condition": "service_started"}));
            }
            d.insert("depends_on".into(), Value::Object(m));
        }
        for f in ["dns", "dns_search", "tmpfs"] {
            if let Some(v) = d.get(f).cloned() {
                d.insert(f.into(), Value::Array(to_list(&v)));
            }
        }
        if let Some(Value::Object(mut hc)) = d.get("healthcheck").cloned() {
            if hc.shift_remove("disable").is_some() {
                hc.insert("test".into(), json!(["NONE"]));
            }
            for f in ["interval", "timeout", "start_period"] {
                match hc.get(f) {
                    None => {}
                    Some(v) if v.is_i64() || v.is_u64() => {}
                    Some(Value::String(s)) => {
                        let ns = parse_nanoseconds_int(s)
                            .map(Value::from)
                            .unwrap_or(Value::Null);
                        hc.insert(f.into(), ns);
                    }
                    Some(_) => return None,
                }
            }
            d.insert("healthcheck".into(), Value::Object(hc));
        }
        if let Some(Value::Array(ports)) = d.get("ports").cloned() {
            let mut out = Vec::new();
            for p in &ports {
                out.extend(parse_service_port(p)?);
            }
            d.insert("ports".into(), Value::Array(out));
        }
        if let Some(Value::Object(mut b)) = d.get("blkio_config").cloned() {
            for f in ["device_read_bps", "device_write_bps"] {
                if let Some(Value::Array(items)) = b.get_mut(f) {
                    for it in items {
                        if let Value::Object(m) = it {
                            let rate = m.get("rate").cloned().unwrap_or(json!(0));
                            m.insert("rate".into(), parse_bytes(&rate)?);
                        }
                    }
                }
            }
            for f in ["device_read_iops", "device_write_iops"] {
                if let Some(Value::Array(items)) = b.get_mut(f) {
                    for it in items {
                        if let Value::Object(m) = it {
                            let rate = m.get("rate").cloned().unwrap_or(json!(0));
                            let r = match rate {
                                Value::String(s) => py_int(&s)?,
                                v => v.as_i64()?,
                            };
                            m.insert("rate".into(), json!(r));
                        }
                    }
                }
            }
            d.insert("blkio_config".into(), Value::Object(b));
        }
        if let Some(Value::Array(opts)) = d.get("security_opt").cloned() {
            if !opts.is_empty() {
                let parsed: Vec<Value> = opts.iter().map(security_opt).collect::<Option<_>>()?;
                d.insert("security_opt".into(), Value::Array(parsed));
            }
        }
        Some(d)
    }

    fn resolve_build_path(&self, wd: &Path, p: &str) -> String {
        const URLS: [&str; 5] = ["http://", "https://", "git://", "github.com/", "git@"];
        if URLS.iter().any(|u| p.starts_with(u)) {
            p.to_string()
        } else {
            self.expand_path(wd, p)
        }
    }

    fn resolve_volume_path(&self, wd: &Path, v: &Value) -> Option<Value> {
        if let Value::Object(m) = v {
            let mut m = m.clone();
            let src = m
                .get("source")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if (src.starts_with('.') || src.starts_with('~'))
                && m.get("type").and_then(Value::as_str) == Some("bind")
            {
                m.insert("source".into(), Value::String(self.expand_path(wd, &src)));
            }
            return Some(Value::Object(m));
        }
        let s = v.as_str()?;
        let (container, mapping) = split_path_mapping(s);
        match mapping {
            None => Some(Value::String(container)),
            Some((host, mode)) => {
                let mut host = host;
                if host.starts_with('.') {
                    host = self.expand_path(wd, &host);
                }
                host = self.expanduser(&host);
                let mode = mode.map(|m| format!(":{m}")).unwrap_or_default();
                Some(Value::String(format!("{host}:{container}{mode}")))
            }
        }
    }

    // -----------------------------------------------------------------
    // finalize_service

    fn finalize_service(&self, mut d: Map<String, Value>, wd: &Path) -> Option<Map<String, Value>> {
        let _ = wd;
        if d.contains_key("environment") || d.contains_key("env_file") {
            let mut env: Vec<(String, Value)> = Vec::new();
            let put = |env: &mut Vec<(String, Value)>, k: String, v: Value| match env
                .iter_mut()
                .find(|(ek, _)| *ek == k)
            {
                Some(e) => e.1 = v,
                None => env.push((k, v)),
            };
            let files = d.get("env_file").map(to_list).unwrap_or_default();
            for f in files {
                let mut vars = BTreeMap::new();
                let lookup = |k: &str| self.lookup(k);
                crate::dotenv::read_env_file(Path::new(f.as_str()?), &lookup, &mut vars).ok()?;
                for (k, v) in vars {
                    put(&mut env, k, Value::String(v));
                }
            }
            if let Some(e) = d.get("environment") {
                for (k, v) in parse_environment(e)? {
                    put(&mut env, k, v);
                }
            }
            let mut out = Map::new();
            for (k, v) in env {
                let v = if v.is_null() {
                    self.lookup(&k).map(Value::String).unwrap_or(Value::Null)
                } else {
                    v
                };
                out.insert(k, v);
            }
            d.insert("environment".into(), Value::Object(out));
            d.shift_remove("env_file");
        }
        if d.contains_key("net") || d.contains_key("log_driver") || d.contains_key("log_opt") {
            return None;
        }
        if let Some(n) = d.get("networks").cloned() {
            let m = match n {
                Value::Array(a) => a.iter().map(|k| (py_str(k), Value::Null)).collect(),
                Value::Object(m) => m,
                Value::Null => Map::new(),
                _ => return None,
            };
            d.insert("networks".into(), Value::Object(m));
        }
        if let Some(r) = d.get("restart").cloned() {
            let spec = match r {
                Value::String(s) if !s.is_empty() => {
                    let parts: Vec<&str> = s.split(':').collect();
                    let (name, count) = match parts.as_slice() {
                        [n] => (*n, 0),
                        [n, c] => (*n, c.trim().parse::<i64>().ok()?),
                        _ => return None,
                    };
                    json!({"Name": name, "MaximumRetryCount": count})
                }
                Value::String(_) | Value::Null | Value::Bool(false) => Value::Null,
                _ => return None,
            };
            d.insert("restart".into(), spec);
        }
        if let Some(b) = d.get("build").cloned() {
            let b = match b {
                Value::String(s) => json!({ "context": s }),
                Value::Object(mut m) => {
                    if let Some(a) = m.get("args").cloned() {
                        let mut out = Map::new();
                        for (k, v) in parse_environment(&a)? {
                            let v = if v.is_null() {
                                self.lookup(&k).map(Value::String).unwrap_or(Value::Null)
                            } else {
                                v
                            };
                            out.insert(k, v);
                        }
                        m.insert("args".into(), Value::Object(string_dict(&out)));
                    }
                    Value::Object(m)
                }
                other => other,
            };
            d.insert("build".into(), b);
        }
        Some(d)
    }
}

// ---------------------------------------------------------------------
// Project.from_config and config_dict

/// A service volume after `finalize_service_volumes`.
enum Vol {
    /// `VolumeSpec(external, internal, mode)`.
    Spec(Option<String>, String, String),
    /// `MountSpec`: its `repr()` fields.
    Mount(Map<String, Value>),
}

fn finalize_volume(v: &Value) -> Option<Vol> {
    match v {
        Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            match parts.as_slice() {
                [i] => Some(Vol::Spec(None, normpath(i), "rw".into())),
                [e, i] => Some(Vol::Spec(Some(normpath(e)), normpath(i), "rw".into())),
                [e, i, m] => Some(Vol::Spec(Some(normpath(e)), normpath(i), m.to_string())),
                _ => None,
            }
        }
        Value::Object(m) => {
            let kind = m.get("type")?.as_str()?.to_string();
            let mut out = Map::new();
            out.insert("type".into(), json!(kind));
            if let Some(s) = m.get("source").filter(|s| truthy(s)) {
                if kind == "tmpfs" {
                    return None;
                }
                out.insert("source".into(), json!(normpath(s.as_str()?)));
            }
            for f in ["target", "read_only", "consistency"] {
                if let Some(v) = m.get(f).filter(|v| truthy(v)) {
                    out.insert(f.into(), v.clone());
                }
            }
            if let Some(o) = m.get(&kind).filter(|o| truthy(o)) {
                out.insert(kind.clone(), o.clone());
            }
            Some(Vol::Mount(out))
        }
        _ => None,
    }
}

fn from_config(
    project: &Project,
    name: &str,
    service_names: &[String],
    mut d: Map<String, Value>,
    secret_defs: &BTreeMap<String, Value>,
    wd: &Path,
    image_id: Option<&str>,
) -> Option<Value> {
    let net_name = |key: &str| -> Option<String> {
        match project.networks.get(key) {
            Some(n) => Some(n.name.clone()),
            None if key == "default" => Some(format!("{}_default", project.name)),
            None => None,
        }
    };
    // Networks (use_networking is true for every file but v1's).
    let mut networks: Vec<(String, Value)> = Vec::new();
    if !d.contains_key("network_mode") {
        let defs = match d.get("networks") {
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return None,
            None => {
                let mut m = Map::new();
                m.insert("default".into(), Value::Null);
                m
            }
        };
        for (k, cfg) in defs {
            let cfg = if cfg.is_null() { json!({}) } else { cfg };
            networks.push((net_name(&k)?, cfg));
        }
    }
    let prio = |v: &Value| v.get("priority").and_then(Value::as_i64).unwrap_or(0);
    if networks
        .iter()
        .any(|(_, v)| v.get("priority").is_some_and(truthy))
    {
        networks.sort_by_key(|(_, v)| std::cmp::Reverse(prio(v)));
    } else {
        networks.sort_by(|a, b| a.0.cmp(&b.0));
    }
    d.shift_remove("networks");
    // Links.
    let mut links = Vec::new();
    if let Some(Value::Array(l)) = d.shift_remove("links") {
        for link in l {
            let s = link.as_str()?;
            let (svc, alias) = match s.split_once(':') {
                Some((a, b)) => (a.to_string(), Value::String(b.to_string())),
                None => (s.to_string(), Value::Null),
            };
            if !service_names.contains(&svc) {
                return None;
            }
            links.push(json!([svc, alias]));
        }
    }
    // ipc, network_mode, pid.
    let ipc_mode = match d.shift_remove("ipc") {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(s)) if s.is_empty() => Value::Null,
        Some(Value::String(s)) if s.starts_with("service:") || s.starts_with("container:") => {
            return None
        }
        Some(v) => v,
    };
    let net = match d.shift_remove("network_mode") {
        None | Some(Value::Null) => match networks.first() {
            Some((n, _)) => Value::String(n.clone()),
            None => json!("none"),
        },
        Some(Value::String(s)) if s.is_empty() => match networks.first() {
            Some((n, _)) => Value::String(n.clone()),
            None => json!("none"),
        },
        Some(Value::String(s)) => match s.strip_prefix("service:") {
            Some(svc) => json!(svc),
            None if s.starts_with("container:") => return None,
            None => json!(s),
        },
        Some(_) => return None,
    };
    d.shift_remove("pid");
    // volumes_from
    let mut volumes_from = Vec::new();
    if let Some(Value::Array(vf)) = d.shift_remove("volumes_from") {
        for v in vf {
            let s = v.as_str()?;
            let parts: Vec<&str> = s.split(':').collect();
            let (kind, source, mode) = match parts.as_slice() {
                [s] => ("service", *s, "rw"),
                ["container", s] => ("container", *s, "rw"),
                [s, m] => ("service", *s, *m),
                [t, s, m] => (*t, *s, *m),
                _ => return None,
            };
            if kind == "service" && service_names.iter().any(|n| n == source) {
                volumes_from.push(json!([source, mode]));
            } else {
                return None;
            }
        }
    }
    // Volumes, named ones namespaced.
    let vols = d
        .get("volumes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out_vols = Vec::new();
    for v in &vols {
        let vol_name = |key: &str| project.volumes.get(key).map(|v| v.name.clone());
        match finalize_volume(v)? {
            Vol::Spec(ext, int, mode) => {
                let ext = match ext {
                    Some(e)
                        if !(e.starts_with('.') || e.starts_with('/') || e.starts_with('~')) =>
                    {
                        Some(vol_name(&e)?)
                    }
                    other => other,
                };
                out_vols.push(json!([ext, int, mode]));
            }
            Vol::Mount(mut m) => {
                if m.get("type") == Some(&json!("volume")) {
                    if let Some(src) = m.get("source").and_then(Value::as_str).map(String::from) {
                        m.insert("source".into(), json!(vol_name(&src)?));
                    }
                }
                out_vols.push(Value::Object(m));
            }
        }
    }
    d.insert("volumes".into(), Value::Array(out_vols));
    // Secrets.
    let mut secrets = Vec::new();
    if let Some(Value::Array(list)) = d.shift_remove("secrets") {
        for s in list {
            let spec = config_base(&s)?;
            let source = spec[0].as_str()?.to_string();
            let def = secret_defs.get(&source)?;
            if def.get("external").is_some_and(truthy) {
                continue;
            }
            let file = match def.get("file").and_then(Value::as_str) {
                Some(f) => Value::String(
                    Ctx {
                        env: &project.environment,
                        home: project
                            .environment
                            .get("HOME")
                            .cloned()
                            .or_else(|| std::env::var("HOME").ok()),
                    }
                    .expand_path(wd, f),
                ),
                None => Value::Null,
            };
            secrets.push(json!({"secret": spec, "file": file}));
        }
    }
    // Scale is a Service argument, not an option.
    d.shift_remove("scale");
    // Device requests.
    let devices = d
        .get("deploy")
        .and_then(|x| x.get("resources"))
        .and_then(|x| x.get("reservations"))
        .and_then(|x| x.get("devices"))
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .cloned();
    let device_requests = match devices {
        None => Value::Null,
        Some(list) => {
            let mut out = Vec::new();
            for mut dev in list {
                let m = dev.as_object_mut()?;
                match m.get("count") {
                    None => {}
                    Some(c) if c.is_i64() => {}
                    Some(Value::String(s)) if s == "all" => {
                        m.insert("count".into(), json!(-1));
                    }
                    Some(_) => return None,
                }
                if let Some(c) = m.get("capabilities").cloned() {
                    m.insert("capabilities".into(), json!([c]));
                }
                out.push(dev);
            }
            Value::Array(out)
        }
    };
    d.insert("device_requests".into(), device_requests);
    // credential_spec, configs, deploy.
    if let Some(cs) = d.get("credential_spec").cloned() {
        let spec = if let Some(f) = cs.get("file") {
            format!("file://{}", py_str(f))
        } else {
            format!("registry://{}", py_str(cs.get("registry")?))
        };
        d.insert(
            "security_opt".into(),
            json!([format!("credentialspec={spec}")]),
        );
    }
    d.shift_remove("credential_spec");
    d.shift_remove("configs");
    if let Some(deploy) = d.shift_remove("deploy") {
        if let Some(rp) = deploy.get("restart_policy") {
            let cond = rp.get("condition").and_then(Value::as_str).unwrap_or("any");
            let name = match cond {
                "any" => "always",
                "none" => "no",
                "on-failure" => "on-failure",
                _ => return None,
            };
            let max = rp.get("max_attempts").cloned().unwrap_or(json!(0));
            d.insert(
                "restart".into(),
                json!({"Name": name, "MaximumRetryCount": max}),
            );
        }
        if let Some(res) = deploy.get("resources").filter(|r| !r.is_null()) {
            if let Some(l) = res.get("limits") {
                d.insert(
                    "mem_limit".into(),
                    l.get("memory").cloned().unwrap_or(Value::Null),
                );
                if let Some(c) = l.get("cpus") {
                    let f = match c {
                        Value::String(s) => s.trim().parse::<f64>().ok()?,
                        v => v.as_f64()?,
                    };
                    d.insert("cpus".into(), float_value(f)?);
                }
            }
            if let Some(r) = res.get("reservations") {
                d.insert(
                    "mem_reservation".into(),
                    r.get("memory").cloned().unwrap_or(Value::Null),
                );
            }
        }
    }
    d.shift_remove("name");
    let platform = d.shift_remove("platform").unwrap_or(Value::Null);
    d.insert("platform".into(), platform);
    let _ = name;
    let mut nets = Map::new();
    for (k, v) in networks {
        nets.insert(k, v);
    }
    Some(json!({
        "options": Value::Object(d),
        "image_id": image_id,
        "links": links,
        "net": net,
        "ipc_mode": ipc_mode,
        "networks": Value::Object(nets),
        "secrets": secrets,
        "volumes_from": volumes_from,
    }))
}

/// `ServiceSecret.parse`/`ServiceConfig.parse` as a
/// `(source, target, uid, gid, mode, name)` tuple.
fn config_base(v: &Value) -> Option<Value> {
    match v {
        Value::String(s) => Some(json!([s, null, null, null, null, null])),
        Value::Object(m) => {
            let f = |k: &str| m.get(k).cloned().unwrap_or(Value::Null);
            Some(json!([
                f("source"),
                f("target"),
                f("uid"),
                f("gid"),
                f("mode"),
                f("name")
            ]))
        }
        Value::Array(a) if a.len() == 6 => Some(v.clone()),
        _ => None,
    }
}

// ---------------------------------------------------------------------
// Parsers of docker-compose and docker-py

/// `ServicePort.parse`: a list of `(target, published, protocol, mode,
/// external_ip)` tuples.
fn parse_service_port(spec: &Value) -> Option<Vec<Value>> {
    match spec {
        Value::Array(a) if a.len() == 5 => Some(vec![spec.clone()]),
        Value::Object(m) => {
            let g = |k: &str| m.get(k).cloned().unwrap_or(Value::Null);
            Some(vec![service_port(
                g("target"),
                g("published"),
                g("protocol"),
                g("mode"),
                Value::Null,
            )?])
        }
        other => {
            let s = py_str(other);
            let mut out = Vec::new();
            for (internal, externals) in build_port_bindings(&s)? {
                let (target, proto) = match internal.split_once('/') {
                    Some((t, p)) => (t.to_string(), json!(p)),
                    None => (internal.clone(), Value::Null),
                };
                for e in externals {
                    let port = match e {
                        PortPub::None => service_port(
                            json!(target),
                            Value::Null,
                            proto.clone(),
                            Value::Null,
                            Value::Null,
                        ),
                        PortPub::Port(p) => service_port(
                            json!(target),
                            json!(p),
                            proto.clone(),
                            Value::Null,
                            Value::Null,
                        ),
                        PortPub::Host(h, p) => service_port(
                            json!(target),
                            p.map(Value::String).unwrap_or(Value::Null),
                            proto.clone(),
                            Value::Null,
                            json!(h),
                        ),
                    }?;
                    out.push(port);
                }
            }
            Some(out)
        }
    }
}

/// `ServicePort.__new__`: the target and a single published port as ints.
fn service_port(
    target: Value,
    published: Value,
    proto: Value,
    mode: Value,
    ip: Value,
) -> Option<Value> {
    let target = if truthy(&target) {
        match &target {
            Value::String(s) => json!(s.trim().parse::<i64>().ok()?),
            Value::Number(n) if n.is_i64() => target.clone(),
            _ => return None,
        }
    } else {
        target
    };
    let published = if truthy(&published) {
        match &published {
            Value::String(s) if s.contains('-') => {
                let (a, b) = s.split_once('-')?;
                if a.is_empty()
                    || b.is_empty()
                    || !a.bytes().all(|c| c.is_ascii_digit())
                    || !b.bytes().all(|c| c.is_ascii_digit())
                {
                    return None;
                }
                published.clone()
            }
            Value::String(s) => json!(s.trim().parse::<i64>().ok()?),
            Value::Number(n) if n.is_i64() => published.clone(),
            _ => return None,
        }
    } else {
        published
    };
    Some(json!([target, published, proto, mode, ip]))
}

/// What a container port is published as in docker-py's port bindings.
enum PortPub {
    None,
    Port(String),
    Host(String, Option<String>),
}

fn port_spec() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"^((\[?(?P<host>[a-fA-F\d.:]+)\]?:)?(?P<ext>[\d]*)(-(?P<ext_end>[\d]+))?:)?(?P<int>[\d]+)(-(?P<int_end>[\d]+))?(?P<proto>/(udp|tcp|sctp))?$",
        )
        .expect("valid regex")
    })
}

/// docker-py's `port_range`.
fn port_range(
    start: Option<&str>,
    end: Option<&str>,
    proto: &str,
    random: bool,
) -> Option<Vec<String>> {
    let start = start.filter(|s| !s.is_empty())?;
    match end {
        None => Some(vec![format!("{start}{proto}")]),
        Some(e) if random => Some(vec![format!("{start}-{e}{proto}")]),
        Some(e) => {
            let (a, b) = (start.parse::<u32>().ok()?, e.parse::<u32>().ok()?);
            Some((a..=b).map(|p| format!("{p}{proto}")).collect())
        }
    }
}

/// docker-py's `build_port_bindings([spec])`: internal port → externals,
/// in insertion order.
fn build_port_bindings(spec: &str) -> Option<Vec<(String, Vec<PortPub>)>> {
    let c = port_spec().captures(spec)?;
    let get = |n: &str| c.name(n).map(|m| m.as_str());
    let proto = get("proto").unwrap_or("");
    let internal = port_range(get("int"), get("int_end"), proto, false)?;
    let ext_present = get("ext").is_some_and(|e| !e.is_empty());
    let external = if ext_present {
        port_range(get("ext"), get("ext_end"), "", internal.len() == 1)
    } else {
        None
    };
    let mut out: Vec<(String, Vec<PortPub>)> = Vec::new();
    let mut add = |k: String, p: PortPub| match out.iter_mut().find(|(ik, _)| *ik == k) {
        Some(e) => e.1.push(p),
        None => out.push((k, vec![p])),
    };
    match get("host") {
        None => match external {
            None => {
                for i in internal {
                    add(i, PortPub::None);
                }
            }
            Some(ext) => {
                if ext.len() != internal.len() {
                    return None;
                }
                for (i, e) in internal.into_iter().zip(ext) {
                    add(i, PortPub::Port(e));
                }
            }
        },
        Some(host) => {
            let ext: Vec<Option<String>> = match external {
                None => vec![None; internal.len()],
                Some(e) if e.len() == internal.len() => e.into_iter().map(Some).collect(),
                Some(_) => return None,
            };
            for (i, e) in internal.into_iter().zip(ext) {
                add(i, PortPub::Host(host.to_string(), e));
            }
        }
    }
    Some(out)
}

/// `SecurityOpt.parse` as a `(value, src_file)` tuple.
fn security_opt(v: &Value) -> Option<Value> {
    let Value::String(s) = v else {
        return Some(v.clone());
    };
    let mut con: Vec<&str> = s.splitn(3, '=').collect();
    if con.len() == 1 && con[0] != "no-new-privileges" {
        if !s.contains(':') {
            return None;
        }
        con = s.splitn(3, ':').collect();
    }
    if con[0] == "seccomp" && con.get(1) != Some(&"unconfined") {
        return None;
    }
    Some(json!([s, null]))
}

/// `split_path_mapping`: (container path, (host, mode)).
fn split_path_mapping(v: &str) -> (String, Option<(String, Option<String>)>) {
    let (drive, rest) = splitdrive(v);
    match rest.split_once(':') {
        Some((host, container)) => {
            let (cdrive, cpath) = splitdrive(container);
            let (cpath, mode) = match cpath.rsplit_once(':') {
                Some((p, m)) => (p.to_string(), Some(m.to_string())),
                None => (cpath.to_string(), None),
            };
            (
                format!("{cdrive}{cpath}"),
                Some((format!("{drive}{host}"), mode)),
            )
        }
        None => (v.to_string(), None),
    }
}

/// docker-compose's `splitdrive` (Windows drive letters, as it runs on Linux too).
fn splitdrive(p: &str) -> (&str, &str) {
    let b = p.as_bytes();
    if p.is_empty() || matches!(b[0], b'.' | b'\\' | b'/' | b'~') {
        return ("", p);
    }
    if b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic() {
        return (&p[..2], &p[2..]);
    }
    ("", p)
}

/// `os.path.normpath` (POSIX).
pub fn normpath(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let initial = if p.starts_with("//") && !p.starts_with("///") {
        2
    } else if p.starts_with('/') {
        1
    } else {
        0
    };
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        if c.is_empty() || c == "." {
            continue;
        }
        if c != ".." || (initial == 0 && parts.is_empty()) || parts.last() == Some(&"..") {
            parts.push(c);
        } else if !parts.is_empty() {
            parts.pop();
        }
    }
    let joined = parts.join("/");
    let out = format!("{}{joined}", "/".repeat(initial));
    if out.is_empty() {
        ".".into()
    } else {
        out
    }
}

/// `parse_environment`: list (`K=V`, bare `K` → None) or mapping.
fn parse_environment(v: &Value) -> Option<Vec<(String, Value)>> {
    match v {
        Value::Null => Some(Vec::new()),
        Value::Array(a) => a
            .iter()
            .map(|e| {
                let s = py_str(e);
                Some(match s.split_once('=') {
                    Some((k, v)) => (k.to_string(), Value::String(v.to_string())),
                    None => (s, Value::Null),
                })
            })
            .collect(),
        Value::Object(m) => Some(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        Value::String(s) if s.is_empty() => Some(Vec::new()),
        _ => None,
    }
}

/// `split_kv`-based parsers (labels, sysctls): list (`K=V`, bare `K` →
/// `""`) or mapping.
fn parse_kv(v: &Value) -> Option<Map<String, Value>> {
    match v {
        Value::Null => Some(Map::new()),
        Value::Array(a) => Some(
            a.iter()
                .map(|e| {
                    let s = py_str(e);
                    match s.split_once('=') {
                        Some((k, v)) => (k.to_string(), Value::String(v.to_string())),
                        None => (s, Value::String(String::new())),
                    }
                })
                .collect(),
        ),
        Value::Object(m) => Some(m.clone()),
        Value::String(s) if s.is_empty() => Some(Map::new()),
        _ => None,
    }
}

fn parse_labels(v: &Value) -> Option<Map<String, Value>> {
    parse_kv(v)
}

/// `build_string_dict`: every value as `str()` (None as `""`).
fn string_dict(m: &Map<String, Value>) -> Map<String, Value> {
    m.iter()
        .map(|(k, v)| {
            let s = if v.is_null() {
                String::new()
            } else {
                py_str(v)
            };
            (k.clone(), Value::String(s))
        })
        .collect()
}

fn to_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Null => Vec::new(),
        Value::String(_) => vec![v.clone()],
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    }
}

/// Python truthiness.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// docker-py's `parse_bytes`.
fn parse_bytes(v: &Value) -> Option<Value> {
    let s = match v {
        Value::Number(_) => return Some(v.clone()),
        Value::String(s) => s.clone(),
        _ => return None,
    };
    if s.is_empty() {
        return Some(json!(0));
    }
    let chars: Vec<char> = s.chars().collect();
    let mut s: String = s.clone();
    let n = chars.len();
    if n >= 2
        && chars[n - 2].is_alphabetic()
        && chars[n - 1].is_alphabetic()
        && matches!(chars[n - 1], 'b' | 'B')
    {
        s.pop();
    }
    let suffix = s.chars().last()?.to_ascii_lowercase();
    let (digits, unit): (&str, f64) = if suffix.is_ascii_digit() {
        (&s, 1.0)
    } else {
        let unit = match suffix {
            'b' => 1.0,
            'k' => 1024.0,
            'm' => 1024.0 * 1024.0,
            'g' => 1024.0 * 1024.0 * 1024.0,
            _ => return None,
        };
        (&s[..s.len() - suffix.len_utf8()], unit)
    };
    let f: f64 = digits.trim().parse().ok()?;
    Some(json!((f * unit) as i64))
}

/// A number as timeparse computes it: int when it can, else float.
#[derive(Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    fn add(self, o: Num) -> Num {
        match (self, o) {
            (Num::Int(a), Num::Int(b)) => Num::Int(a + b),
            (a, b) => Num::Float(a.f() + b.f()),
        }
    }
    fn f(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

/// docker-compose's `parse_nanoseconds_int` (its vendored `timeparse`).
fn parse_nanoseconds_int(s: &str) -> Option<i64> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r"(?i)^\s*(?:(?P<hours>[\d.]+)h)?(?:(?P<mins>[\d.]+)m)?(?:(?P<secs>[\d.]+)s)?(?:(?P<milli>[\d.]+)ms)?(?:(?P<micro>[\d.]+)(?:us|µs))?(?:(?P<nano>[\d.]+)ns)?\s*$")
            .expect("valid regex")
    });
    let c = re.captures(s)?;
    if c.get(0)?.as_str().trim().is_empty() {
        return None;
    }
    let mults: [(&str, Num); 6] = [
        ("hours", Num::Int(3600)),
        ("mins", Num::Int(60)),
        ("secs", Num::Int(1)),
        ("milli", Num::Float(1.0 / 1000.0)),
        ("micro", Num::Float(1.0 / 1000.0 / 1000.0)),
        ("nano", Num::Float(1.0 / 1000.0 / 1000.0 / 1000.0)),
    ];
    let mut total = Num::Int(0);
    for (k, m) in mults {
        let Some(v) = c.name(k).map(|m| m.as_str()) else {
            continue;
        };
        let v = if v.bytes().all(|b| b.is_ascii_digit()) {
            Num::Int(v.parse().ok()?)
        } else {
            Num::Float(v.parse().ok()?)
        };
        let prod = match (v, m) {
            (Num::Int(a), Num::Int(b)) => Num::Int(a * b),
            (a, b) => Num::Float(a.f() * b.f()),
        };
        total = total.add(prod);
    }
    let nano = 1.0 / 1000.0 / 1000.0 / 1000.0;
    Some((total.f() / nano) as i64)
}

// ---------------------------------------------------------------------
// merge_service_dicts

const ALLOWED_KEYS: &[&str] = &[
    "cap_add",
    "cap_drop",
    "cgroup_parent",
    "command",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "cpus",
    "cpuset",
    "detach",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_search",
    "dns_opt",
    "domainname",
    "entrypoint",
    "env_file",
    "environment",
    "extra_hosts",
    "group_add",
    "hostname",
    "healthcheck",
    "image",
    "ipc",
    "isolation",
    "labels",
    "links",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "memswap_limit",
    "mem_swappiness",
    "net",
    "oom_score_adj",
    "oom_kill_disable",
    "pid",
    "ports",
    "privileged",
    "read_only",
    "restart",
    "runtime",
    "secrets",
    "security_opt",
    "shm_size",
    "pids_limit",
    "stdin_open",
    "stop_signal",
    "sysctls",
    "tty",
    "user",
    "userns_mode",
    "volume_driver",
    "volumes",
    "volumes_from",
    "working_dir",
    "blkio_config",
    "build",
    "container_name",
    "credential_spec",
    "dockerfile",
    "init",
    "log_driver",
    "log_opt",
    "logging",
    "network_mode",
    "platform",
    "profiles",
    "scale",
    "stop_grace_period",
];

/// docker-compose's `MergeDict`.
struct MergeDict<'a> {
    base: &'a Map<String, Value>,
    over: &'a Map<String, Value>,
    out: Map<String, Value>,
}

impl MergeDict<'_> {
    fn needs(&self, f: &str) -> bool {
        self.base.contains_key(f) || self.over.contains_key(f)
    }

    fn mapping(&mut self, f: &str, parse: fn(&Value) -> Option<Map<String, Value>>) -> Option<()> {
        if !self.needs(f) {
            return Some(());
        }
        let mut m = parse(self.base.get(f).unwrap_or(&Value::Null))?;
        for (k, v) in parse(self.over.get(f).unwrap_or(&Value::Null))? {
            m.insert(k, v);
        }
        self.out.insert(f.into(), Value::Object(m));
        Some(())
    }

    fn field(
        &mut self,
        f: &str,
        merge: impl Fn(&Value, &Value) -> Option<Value>,
        default: Value,
    ) -> Option<()> {
        if !self.needs(f) {
            return Some(());
        }
        let b = self.base.get(f).cloned().unwrap_or(default.clone());
        let o = self.over.get(f).cloned().unwrap_or(default);
        let v = merge(&b, &o)?;
        self.out.insert(f.into(), v);
        Some(())
    }

    fn scalar(&mut self, f: &str) {
        if self.needs(f) {
            let v = self
                .over
                .get(f)
                .or_else(|| self.base.get(f))
                .cloned()
                .unwrap_or(Value::Null);
            self.out.insert(f.into(), v);
        }
    }

    /// `merge_sequence`: items keyed by `key`, later wins, sorted by `order`, shown by `repr`.
    fn sequence(
        &mut self,
        f: &str,
        parse: fn(&Value) -> Option<Value>,
        key: fn(&Value) -> String,
        order: fn(&Value) -> String,
        repr: fn(&Value) -> Value,
    ) -> Option<()> {
        if !self.needs(f) {
            return Some(());
        }
        let mut merged: Vec<(String, Value)> = Vec::new();
        for side in [self.base.get(f), self.over.get(f)] {
            for item in side.and_then(Value::as_array).cloned().unwrap_or_default() {
                let p = parse(&item)?;
                let k = key(&p);
                match merged.iter_mut().find(|(mk, _)| *mk == k) {
                    Some(e) => e.1 = p,
                    None => merged.push((k, p)),
                }
            }
        }
        let mut vals: Vec<Value> = merged.into_iter().map(|(_, v)| v).collect();
        vals.sort_by_key(order);
        self.out
            .insert(f.into(), Value::Array(vals.iter().map(repr).collect()));
        Some(())
    }
}

fn parse_flat_dict(v: &Value) -> Option<Map<String, Value>> {
    match v {
        Value::Null => Some(Map::new()),
        Value::Object(m) => Some(m.clone()),
        v if !truthy(v) => Some(Map::new()),
        _ => None,
    }
}

fn parse_environment_map(v: &Value) -> Option<Map<String, Value>> {
    Some(parse_environment(v)?.into_iter().collect())
}

fn parse_depends_on(v: &Value) -> Option<Map<String, Value>> {
    match v {
        Value::Array(a) => Some(
            a.iter()
                .map(|s| (py_str(s), json!({"condition": "service_started"})))
                .collect(),
        ),
        other => parse_flat_dict(other),
    }
}

fn parse_extra_hosts(v: &Value) -> Option<Map<String, Value>> {
    match v {
        Value::Array(a) => {
            let mut m = Map::new();
            for line in a {
                let s = line.as_str()?;
                let (h, ip) = s.split_once(':')?;
                m.insert(h.trim().to_string(), json!(ip.trim()));
            }
            Some(m)
        }
        other => parse_flat_dict(other),
    }
}

fn merge_unique_items_lists(b: &Value, o: &Value) -> Option<Value> {
    let mut set: Vec<String> = Vec::new();
    for v in [b, o] {
        for x in v.as_array()? {
            let s = py_str(x);
            if !set.contains(&s) {
                set.push(s);
            }
        }
    }
    set.sort();
    Some(json!(set))
}

fn merge_list_or_string(b: &Value, o: &Value) -> Option<Value> {
    let mut l = to_list(b);
    l.extend(to_list(o));
    Some(Value::Array(l))
}

fn merge_path_mappings(b: &Value, o: &Value) -> Option<Value> {
    type Mapping = (String, Value);
    let dict = |v: &Value| -> Option<Vec<Mapping>> {
        let mut out: Vec<Mapping> = Vec::new();
        for item in to_list(v) {
            let (k, val) = match &item {
                Value::Object(m) => (
                    m.get("target").map(py_str).unwrap_or_default(),
                    item.clone(),
                ),
                Value::String(s) => {
                    let (c, h) = split_path_mapping(s);
                    let val = match h {
                        None => Value::Null,
                        Some((host, mode)) => json!([host, mode]),
                    };
                    (c, val)
                }
                _ => return None,
            };
            match out.iter_mut().find(|(ok, _)| *ok == k) {
                Some(e) => e.1 = val,
                None => out.push((k, val)),
            }
        }
        Some(out)
    };
    let mut d = dict(b)?;
    for (k, v) in dict(o)? {
        match d.iter_mut().find(|(dk, _)| *dk == k) {
            Some(e) => e.1 = v,
            None => d.push((k, v)),
        }
    }
    d.sort_by(|a, b| a.0.cmp(&b.0));
    Some(Value::Array(
        d.into_iter()
            .map(|(c, h)| match h {
                Value::Object(_) => h,
                Value::Null => Value::String(c),
                Value::Array(a) => {
                    let host = py_str(&a[0]);
                    let mut s = format!("{host}:{c}");
                    if let Some(m) = a.get(1).and_then(Value::as_str).filter(|m| !m.is_empty()) {
                        s.push(':');
                        s.push_str(m);
                    }
                    Value::String(s)
                }
                other => other,
            })
            .collect(),
    ))
}

fn merge_networks(b: &Value, o: &Value) -> Option<Value> {
    let norm = |v: &Value| -> Option<Map<String, Value>> {
        match v {
            Value::Array(a) => Some(a.iter().map(|k| (py_str(k), json!({}))).collect()),
            Value::Object(m) => Some(m.clone()),
            Value::Null => Some(Map::new()),
            _ => None,
        }
    };
    let (b, o) = (norm(b)?, norm(o)?);
    let mut names: Vec<String> = b.keys().cloned().collect();
    for k in o.keys() {
        if !names.contains(k) {
            names.push(k.clone());
        }
    }
    let mut out = Map::new();
    for n in names {
        let bm = as_map(b.get(&n));
        let om = as_map(o.get(&n));
        let mut md = MergeDict {
            base: &bm,
            over: &om,
            out: Map::new(),
        };
        md.field("aliases", merge_unique_items_lists, json!([]))?;
        md.field("link_local_ips", merge_unique_items_lists, json!([]))?;
        md.scalar("priority");
        md.scalar("ipv4_address");
        md.scalar("ipv6_address");
        out.insert(n, Value::Object(md.out));
    }
    Some(Value::Object(out))
}

fn merge_logging(b: &Value, o: &Value) -> Option<Value> {
    let (bm, om) = (as_map(Some(b)), as_map(Some(o)));
    let mut md = MergeDict {
        base: &bm,
        over: &om,
        out: Map::new(),
    };
    md.scalar("driver");
    let driver = md.out.get("driver").cloned().unwrap_or(Value::Null);
    let base_driver = bm.get("driver").cloned().unwrap_or(Value::Null);
    if driver == base_driver || base_driver.is_null() {
        md.mapping("options", parse_flat_dict)?;
    } else if let Some(opts) = om.get("options").filter(|v| truthy(v)) {
        md.out.insert("options".into(), opts.clone());
    }
    Some(Value::Object(md.out))
}

fn merge_healthchecks(b: &Value, o: &Value) -> Option<Value> {
    let (bm, om) = (as_map(Some(b)), as_map(Some(o)));
    if om.get("disabled") == Some(&Value::Bool(true)) {
        return Some(Value::Object(om));
    }
    let mut r = bm;
    for (k, v) in om {
        r.insert(k, v);
    }
    Some(Value::Object(r))
}

fn merge_deploy(b: &Value, o: &Value) -> Option<Value> {
    let (bm, om) = (as_map(Some(b)), as_map(Some(o)));
    let mut md = MergeDict {
        base: &bm,
        over: &om,
        out: Map::new(),
    };
    md.scalar("mode");
    md.scalar("endpoint_mode");
    md.scalar("replicas");
    md.mapping("labels", parse_kv)?;
    md.mapping("update_config", parse_flat_dict)?;
    md.mapping("rollback_config", parse_flat_dict)?;
    md.mapping("restart_policy", parse_flat_dict)?;
    if md.needs("resources") {
        let (rb, ro) = (as_map(bm.get("resources")), as_map(om.get("resources")));
        let mut r = MergeDict {
            base: &rb,
            over: &ro,
            out: Map::new(),
        };
        r.mapping("limits", parse_flat_dict)?;
        r.field(
            "reservations",
            |b, o| {
                let (bm, om) = (as_map(Some(b)), as_map(Some(o)));
                let mut m = MergeDict {
                    base: &bm,
                    over: &om,
                    out: Map::new(),
                };
                m.scalar("cpus");
                m.scalar("memory");
                if m.needs("generic_resources") || m.needs("devices") {
                    return None;
                }
                Some(Value::Object(m.out))
            },
            json!({}),
        )?;
        md.out.insert("resources".into(), Value::Object(r.out));
    }
    if md.needs("placement") {
        let (pb, po) = (as_map(bm.get("placement")), as_map(om.get("placement")));
        let mut p = MergeDict {
            base: &pb,
            over: &po,
            out: Map::new(),
        };
        p.scalar("max_replicas_per_node");
        p.field("constraints", merge_unique_items_lists, json!([]))?;
        if p.needs("preferences") {
            return None;
        }
        md.out.insert("placement".into(), Value::Object(p.out));
    }
    Some(Value::Object(md.out))
}

fn merge_build(base: &Map<String, Value>, over: &Map<String, Value>) -> Option<Value> {
    let to_dict = |s: &Map<String, Value>| match s.get("build") {
        Some(Value::String(c)) => {
            let mut m = Map::new();
            m.insert("context".into(), json!(c));
            m
        }
        other => as_map(other),
    };
    let (bm, om) = (to_dict(base), to_dict(over));
    let mut md = MergeDict {
        base: &bm,
        over: &om,
        out: Map::new(),
    };
    for f in [
        "context",
        "dockerfile",
        "network",
        "target",
        "shm_size",
        "isolation",
    ] {
        md.scalar(f);
    }
    md.mapping("args", parse_environment_map)?;
    md.field("cache_from", merge_unique_items_lists, json!([]))?;
    md.mapping("labels", parse_kv)?;
    md.mapping("extra_hosts", parse_extra_hosts)?;
    Some(Value::Object(md.out))
}

fn merge_ports(md: &mut MergeDict) -> Option<()> {
    if !md.needs("ports") {
        return Some(());
    }
    let mut merged: Vec<(Value, Value)> = Vec::new();
    for side in [md.base.get("ports"), md.over.get("ports")] {
        for item in side.and_then(Value::as_array).cloned().unwrap_or_default() {
            for p in parse_service_port(&item)? {
                let key = json!([p[0], p[1], p[4], p[2]]);
                match merged.iter_mut().find(|(k, _)| *k == key) {
                    Some(e) => e.1 = p,
                    None => merged.push((key, p)),
                }
            }
        }
    }
    let mut ports: Vec<Value> = merged.into_iter().map(|(_, p)| p).collect();
    ports.sort_by_key(|p| p[0].as_i64().unwrap_or(0));
    md.out.insert("ports".into(), Value::Array(ports));
    Some(())
}

/// `merge_service_dicts` (file version 2 and later).
fn merge_service_dicts(
    base: &Map<String, Value>,
    over: &Map<String, Value>,
) -> Option<Map<String, Value>> {
    let mut md = MergeDict {
        base,
        over,
        out: Map::new(),
    };
    md.mapping("environment", parse_environment_map)?;
    md.mapping("labels", parse_kv)?;
    md.mapping("ulimits", parse_flat_dict)?;
    md.mapping("sysctls", parse_kv)?;
    md.mapping("depends_on", parse_depends_on)?;
    md.mapping("storage_opt", parse_flat_dict)?;
    md.sequence(
        "links",
        |v| {
            let s = py_str(v);
            let (t, a) = match s.split_once(':') {
                Some((t, a)) if !a.is_empty() => (t.to_string(), a.to_string()),
                Some((t, _)) => (t.to_string(), t.to_string()),
                None => (s.clone(), s.clone()),
            };
            Some(json!([t, a]))
        },
        |v| py_str(&v[1]),
        |v| format!("{}\u{0}{}", py_str(&v[0]), py_str(&v[1])),
        |v| {
            if v[0] == v[1] {
                v[0].clone()
            } else {
                json!(format!("{}:{}", py_str(&v[0]), py_str(&v[1])))
            }
        },
    )?;
    for f in ["secrets", "configs"] {
        md.sequence(
            f,
            config_base,
            |v| py_str(&v[0]),
            |v| py_str(&v[0]),
            |v| {
                let names = ["source", "target", "uid", "gid", "mode", "name"];
                let mut m = Map::new();
                for (i, n) in names.iter().enumerate() {
                    if !v[i].is_null() {
                        m.insert((*n).into(), v[i].clone());
                    }
                }
                Value::Object(m)
            },
        )?;
    }
    md.sequence(
        "security_opt",
        security_opt,
        |v| py_str(&v[0]),
        |v| py_str(&v[0]),
        |v| v[0].clone(),
    )?;
    md.mapping("extra_hosts", parse_extra_hosts)?;
    md.field("networks", merge_networks, json!({}))?;
    for f in ["volumes", "devices"] {
        md.field(f, merge_path_mappings, Value::Null)?;
    }
    for f in [
        "cap_add",
        "cap_drop",
        "expose",
        "external_links",
        "volumes_from",
        "device_cgroup_rules",
        "profiles",
    ] {
        md.field(f, merge_unique_items_lists, json!([]))?;
    }
    for f in ["dns", "dns_search", "env_file", "tmpfs"] {
        md.field(f, merge_list_or_string, Value::Null)?;
    }
    md.field("logging", merge_logging, json!({}))?;
    merge_ports(&mut md)?;
    if md.needs("blkio_config") {
        return None;
    }
    md.field("healthcheck", merge_healthchecks, json!({}))?;
    md.field("deploy", merge_deploy, json!({}))?;
    for f in ALLOWED_KEYS {
        if !md.out.contains_key(*f) && *f != "build" {
            md.scalar(f);
        }
    }
    if md.needs("build") {
        let b = merge_build(base, over)?;
        md.out.insert("build".into(), b);
    }
    Some(md.out)
}

// ---------------------------------------------------------------------
// Python's str() and json.dumps

/// Python's `str()` of a value.
fn py_str(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(u)) => u.to_string(),
            _ => py_float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Python's `repr()` of a float.
fn py_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // Shortest round-trip digits and the decimal exponent.
    let e = format!("{:e}", f.abs());
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if f < 0.0 { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let n = digits.len() as i32;
        let s = if exp >= 0 {
            let int_len = (exp + 1) as usize;
            if digits.len() <= int_len {
                format!("{digits}{}.0", "0".repeat(int_len - digits.len()))
            } else {
                format!("{}.{}", &digits[..int_len], &digits[int_len..])
            }
        } else {
            let _ = n;
            format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
        };
        format!("{sign}{s}")
    } else {
        let m = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits.clone()
        };
        let es = if exp < 0 { "-" } else { "+" };
        format!("{sign}{m}e{es}{:02}", exp.abs())
    }
}

/// `json.dumps(v, sort_keys=True, separators=(',', ':'))` (ASCII only).
pub fn py_json(v: &Value) -> String {
    let mut out = String::new();
    write_json(v, &mut out);
    out
}

fn write_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => out.push_str(&i.to_string()),
            (None, Some(u)) => out.push_str(&u.to_string()),
            _ => out.push_str(&py_float(n.as_f64().unwrap_or(f64::NAN))),
        },
        Value::String(s) => write_str(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(k, out);
                out.push(':');
                write_json(&m[k], out);
            }
            out.push('}');
        }
    }
}

fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{:04x}", u));
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_floats_and_strings() {
        assert_eq!(py_float(1.0), "1.0");
        assert_eq!(py_float(0.5), "0.5");
        assert_eq!(py_float(1e16), "1e+16");
        assert_eq!(py_float(1.5e-5), "1.5e-05");
        assert_eq!(py_float(0.0001), "0.0001");
        assert_eq!(py_float(123456.789), "123456.789");
        assert_eq!(
            py_json(&json!({"b": "é\n", "a": [1, 2.5, null, true]})),
            r#"{"a":[1,2.5,null,true],"b":"\u00e9\n"}"#
        );
    }

    #[test]
    fn posix_normpath() {
        assert_eq!(normpath("/a//b/./c/../d/"), "/a/b/d");
        assert_eq!(normpath("data"), "data");
        assert_eq!(normpath("../x"), "../x");
        assert_eq!(normpath("/.."), "/");
        assert_eq!(normpath(""), ".");
    }

    #[test]
    fn durations_as_docker_compose_parses_them() {
        assert_eq!(parse_nanoseconds_int("30s"), Some(30_000_000_000));
        assert_eq!(parse_nanoseconds_int("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_nanoseconds_int("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_nanoseconds_int("100ms"), Some(100_000_000));
        assert_eq!(parse_nanoseconds_int("x"), None);
    }

    #[test]
    fn short_ports_as_docker_py_binds_them() {
        let p = |s: &str| Value::Array(parse_service_port(&json!(s)).unwrap_or_default());
        assert_eq!(
            p("127.0.0.1:8080:80"),
            json!([[80, 8080, null, null, "127.0.0.1"]])
        );
        assert_eq!(p("9000"), json!([[9000, null, null, null, null]]));
        assert_eq!(p("53:53/udp"), json!([[53, 53, "udp", null, null]]));
        assert_eq!(
            p("8000-8001:80-81"),
            json!([[80, 8000, null, null, null], [81, 8001, null, null, null]])
        );
        assert_eq!(
            p("8000-8010:80"),
            json!([[80, "8000-8010", null, null, null]])
        );
        assert_eq!(
            p("127.0.0.1::80"),
            json!([[80, null, null, null, "127.0.0.1"]])
        );
    }
}
