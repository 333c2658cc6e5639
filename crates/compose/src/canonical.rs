//! Turns one (interpolated, schema-valid) compose document into canonical
//! long form, so that merging and typing only see one shape per field:
//! short port/volume syntax expanded, lists-or-maps turned into maps,
//! strings-or-lists into lists, commands shell-split, durations in
//! nanoseconds, sizes in bytes. Also resolves relative host paths against
//! the project directory once all files are merged.

use serde_json::{json, Map, Value};

use crate::error::{render_path, ComposeError, Result};
use crate::syntax::{
    clean_path, parse_bytes, parse_duration, parse_port, parse_volume, port_to_long, shell_split,
};

type Path = Vec<String>;

fn err(path: &Path, msg: impl std::fmt::Display) -> ComposeError {
    ComposeError::Invalid(format!("{}: {msg}", render_path(path)))
}

fn child(path: &Path, seg: impl Into<String>) -> Path {
    let mut p = path.clone();
    p.push(seg.into());
    p
}

fn index(path: &Path, i: usize) -> Path {
    child(path, format!("[{i}]"))
}

/// A scalar as compose stringifies it (Go's `%v`); `None` for null.
pub(crate) fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

/// `list_or_dict` → mapping of strings. `KEY` list entries and null map
/// values become `null` when `keep_null`, else the empty string.
fn list_or_dict(v: &Value, path: &Path, keep_null: bool) -> Result<Value> {
    let empty = || {
        if keep_null {
            Value::Null
        } else {
            json!("")
        }
    };
    let mut out = Map::new();
    match v {
        Value::Null => {}
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let s =
                    scalar_string(item).ok_or_else(|| err(&index(path, i), "must be a string"))?;
                match s.split_once('=') {
                    Some((k, val)) => out.insert(k.to_string(), json!(val)),
                    None => out.insert(s, empty()),
                };
            }
        }
        Value::Object(m) => {
            for (k, val) in m {
                let s = match val {
                    Value::Null => empty(),
                    other => json!(scalar_string(other)),
                };
                out.insert(k.clone(), s);
            }
        }
        other => return Err(err(path, format!("unexpected value {other}"))),
    }
    Ok(Value::Object(out))
}

fn string_or_list(v: &Value) -> Value {
    match v {
        Value::Null => json!([]),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter_map(scalar_string)
                .map(Value::String)
                .collect(),
        ),
        other => json!([scalar_string(other)]),
    }
}

fn duration(v: &Value, path: &Path) -> Result<Value> {
    match v {
        Value::String(s) => parse_duration(s).map(Value::from).map_err(|e| err(path, e)),
        Value::Number(_) | Value::Null => Ok(v.clone()),
        other => Err(err(path, format!("invalid duration {other}"))),
    }
}

fn bytes(v: &Value, path: &Path) -> Result<Value> {
    match v {
        Value::String(s) => match s.trim().parse::<i64>() {
            Ok(n) => Ok(Value::from(n)),
            Err(_) => parse_bytes(s).map(Value::from).map_err(|e| err(path, e)),
        },
        Value::Number(n) => Ok(Value::from(n.as_f64().unwrap_or(0.0) as i64)),
        Value::Null => Ok(Value::Null),
        other => Err(err(path, format!("invalid size {other}"))),
    }
}

fn float(v: &Value, path: &Path) -> Result<Value> {
    match v {
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| err(path, format!("invalid number {s:?}"))),
        other => Ok(other.clone()),
    }
}

fn boolean(v: &Value, path: &Path) -> Result<Value> {
    match v {
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "on" => Ok(json!(true)),
            "false" | "no" | "n" | "off" => Ok(json!(false)),
            _ => Err(err(path, format!("invalid boolean: {s}"))),
        },
        other => Ok(other.clone()),
    }
}

fn integer(v: &Value, path: &Path) -> Result<Value> {
    match v {
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| err(path, format!("invalid integer {s:?}"))),
        other => Ok(other.clone()),
    }
}

fn command(v: &Value, path: &Path) -> Result<Value> {
    match v {
        Value::String(s) => shell_split(s)
            .map(|words| json!(words))
            .map_err(|e| err(path, e)),
        Value::Array(_) => Ok(string_or_list(v)),
        other => Ok(other.clone()),
    }
}

fn file_refs(v: &Value, path: &Path) -> Result<Value> {
    let Value::Array(items) = v else {
        return Err(err(path, "must be a list"));
    };
    Ok(Value::Array(
        items
            .iter()
            .map(|item| match item {
                Value::String(s) => json!({ "source": s }),
                other => other.clone(),
            })
            .collect(),
    ))
}

fn ulimits(v: &Value, path: &Path) -> Result<Value> {
    let Value::Object(m) = v else {
        return Ok(v.clone());
    };
    let mut out = Map::new();
    for (k, u) in m {
        let p = child(path, k);
        let canon = match u {
            Value::Object(lim) => {
                let mut l = Map::new();
                for (lk, lv) in lim {
                    l.insert(lk.clone(), integer(lv, &child(&p, lk))?);
                }
                Value::Object(l)
            }
            other => json!({ "single": integer(other, &p)? }),
        };
        out.insert(k.clone(), canon);
    }
    Ok(Value::Object(out))
}

fn extra_hosts(v: &Value, path: &Path) -> Result<Value> {
    let mut out = Vec::new();
    match v {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let s =
                    scalar_string(item).ok_or_else(|| err(&index(path, i), "must be a string"))?;
                // `host=ip` and `host:ip` are both accepted; Docker takes `host:ip`.
                let entry = match s.split_once('=') {
                    Some((h, ip)) => format!("{h}:{}", unbracket(ip)),
                    None => s,
                };
                out.push(json!(entry));
            }
        }
        Value::Object(m) => {
            for (host, ips) in m {
                match ips {
                    Value::Array(list) => {
                        for ip in list.iter().filter_map(scalar_string) {
                            out.push(json!(format!("{host}:{}", unbracket(&ip))));
                        }
                    }
                    other => {
                        let ip = scalar_string(other).unwrap_or_default();
                        out.push(json!(format!("{host}:{}", unbracket(&ip))));
                    }
                }
            }
        }
        Value::Null => {}
        other => return Err(err(path, format!("unexpected value {other}"))),
    }
    Ok(Value::Array(out))
}

fn unbracket(ip: &str) -> &str {
    ip.strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(ip)
}

fn ports(v: &Value, path: &Path) -> Result<Value> {
    let Value::Array(items) = v else {
        return Err(err(path, "must be a list"));
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = index(path, i);
        match item {
            Value::String(_) | Value::Number(_) => {
                let spec = scalar_string(item).unwrap_or_default();
                let parsed = parse_port(&spec).map_err(|e| err(&p, e))?;
                out.extend(parsed.iter().map(port_to_long));
            }
            Value::Object(m) => {
                let mut m = m.clone();
                if !m.contains_key("target") {
                    return Err(err(&p, "port is missing a target port"));
                }
                if let Some(t) = m.get("target") {
                    let t = integer(t, &child(&p, "target"))?;
                    if !t.as_u64().is_some_and(|n| (1..=65535).contains(&n)) {
                        return Err(err(&child(&p, "target"), format!("invalid port {t}")));
                    }
                    m.insert("target".into(), t);
                }
                if let Some(pub_) = m.get("published").cloned() {
                    match scalar_string(&pub_) {
                        Some(s) if !s.is_empty() => {
                            m.insert("published".into(), json!(s));
                        }
                        _ => {
                            m.remove("published");
                        }
                    }
                }
                if let Some(Value::String(ip)) = m.get("host_ip") {
                    if ip.parse::<std::net::IpAddr>().is_err() {
                        return Err(err(&p, format!("invalid ip address: {ip}")));
                    }
                }
                m.entry("mode").or_insert(json!("ingress"));
                m.entry("protocol").or_insert(json!("tcp"));
                out.push(Value::Object(m));
            }
            other => return Err(err(&p, format!("invalid type {other} for port"))),
        }
    }
    Ok(Value::Array(out))
}

fn volumes(v: &Value, path: &Path) -> Result<Value> {
    let Value::Array(items) = v else {
        return Err(err(path, "must be a list"));
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = index(path, i);
        let mut m = match item {
            Value::String(s) => match parse_volume(s).map_err(|e| err(&p, e))? {
                Value::Object(m) => m,
                _ => Map::new(),
            },
            Value::Object(m) => m.clone(),
            other => {
                return Err(err(
                    &p,
                    format!("invalid type {other} for service volume mount"),
                ))
            }
        };
        if let Some(Value::String(t)) = m.get("target") {
            let cleaned = clean_path(t);
            m.insert("target".into(), json!(cleaned));
        }
        let kind = m
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if kind == "bind" {
            if let Some(Value::Object(b)) = m.get_mut("bind") {
                b.entry("create_host_path").or_insert(json!(true));
            }
            if m.get("source")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
            {
                return Err(err(
                    &p,
                    "invalid mount config for type \"bind\": field Source must not be empty",
                ));
            }
        }
        if let Some(Value::Object(t)) = m.get_mut("tmpfs") {
            if let Some(size) = t.get("size").cloned() {
                t.insert("size".into(), bytes(&size, &child(&p, "tmpfs.size"))?);
            }
            if let Some(mode) = t.get("mode").cloned() {
                t.insert("mode".into(), integer(&mode, &child(&p, "tmpfs.mode"))?);
            }
        }
        if let Some(Value::Object(vo)) = m.get_mut("volume") {
            if let Some(labels) = vo.get("labels").cloned() {
                vo.insert("labels".into(), list_or_dict(&labels, &p, false)?);
            }
        }
        if m.get("target")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            return Err(err(&p, "service volume is missing a mount target"));
        }
        out.push(Value::Object(m));
    }
    Ok(Value::Array(out))
}

fn devices(v: &Value, path: &Path) -> Result<Value> {
    let Value::Array(items) = v else {
        return Err(err(path, "must be a list"));
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(s) => {
                let parts: Vec<&str> = s.split(':').collect();
                let (src, dst, perms) = match parts.as_slice() {
                    [s] => (*s, *s, "rwm"),
                    [s, d] => (*s, *d, "rwm"),
                    [s, d, p] => (*s, *d, *p),
                    _ => {
                        return Err(err(
                            &index(path, i),
                            format!("confusing device mapping, please use long syntax: {s}"),
                        ))
                    }
                };
                out.push(json!({"source": src, "target": dst, "permissions": perms}));
            }
            other => out.push(other.clone()),
        }
    }
    Ok(Value::Array(out))
}

fn depends_on(v: &Value, path: &Path) -> Result<Value> {
    let mut out = Map::new();
    match v {
        Value::Array(items) => {
            for item in items {
                if let Some(name) = item.as_str() {
                    out.insert(
                        name.to_string(),
                        json!({"condition": "service_started", "required": true}),
                    );
                }
            }
        }
        Value::Object(m) => {
            for (name, dep) in m {
                let mut d = match dep {
                    Value::Object(d) => d.clone(),
                    Value::Null => Map::new(),
                    other => {
                        return Err(err(
                            &child(path, name),
                            format!("unsupported value {other}"),
                        ))
                    }
                };
                d.entry("condition").or_insert(json!("service_started"));
                d.entry("required").or_insert(json!(true));
                out.insert(name.clone(), Value::Object(d));
            }
        }
        other => return Err(err(path, format!("invalid type {other} for depends_on"))),
    }
    Ok(Value::Object(out))
}

fn env_files(v: &Value, path: &Path) -> Result<Value> {
    let items = match v {
        Value::Array(items) => items.clone(),
        Value::String(_) => vec![v.clone()],
        other => return Err(err(path, format!("invalid type {other} for env_file"))),
    };
    Ok(Value::Array(
        items
            .into_iter()
            .map(|item| match item {
                Value::String(p) => json!({"path": p, "required": true}),
                Value::Object(mut m) => {
                    m.entry("required").or_insert(json!(true));
                    Value::Object(m)
                }
                other => other,
            })
            .collect(),
    ))
}

fn networks(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Object(
            items
                .iter()
                .filter_map(Value::as_str)
                .map(|n| (n.to_string(), Value::Null))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn healthcheck(v: &Value, path: &Path) -> Result<Value> {
    let Value::Object(m) = v else {
        return Ok(v.clone());
    };
    let mut out = Map::new();
    for (k, val) in m {
        let p = child(path, k);
        let canon = match k.as_str() {
            "test" => match val {
                Value::String(s) => json!(["CMD-SHELL", s]),
                other => string_or_list(other),
            },
            "interval" | "timeout" | "start_period" | "start_interval" => duration(val, &p)?,
            "retries" => integer(val, &p)?,
            "disable" => boolean(val, &p)?,
            _ => val.clone(),
        };
        out.insert(k.clone(), canon);
    }
    Ok(Value::Object(out))
}

fn resource(v: &Value, path: &Path) -> Result<Value> {
    let Value::Object(m) = v else {
        return Ok(v.clone());
    };
    let mut out = m.clone();
    if let Some(c) = m.get("cpus") {
        out.insert("cpus".into(), float(c, &child(path, "cpus"))?);
    }
    if let Some(mem) = m.get("memory") {
        out.insert("memory".into(), bytes(mem, &child(path, "memory"))?);
    }
    if let Some(p) = m.get("pids") {
        out.insert("pids".into(), integer(p, &child(path, "pids"))?);
    }
    Ok(Value::Object(out))
}

fn deploy(v: &Value, path: &Path) -> Result<Value> {
    let Value::Object(m) = v else {
        return Ok(v.clone());
    };
    let mut out = m.clone();
    if let Some(l) = m.get("labels") {
        out.insert(
            "labels".into(),
            list_or_dict(l, &child(path, "labels"), false)?,
        );
    }
    if let Some(Value::Object(res)) = m.get("resources") {
        let rp = child(path, "resources");
        let mut r = res.clone();
        for key in ["limits", "reservations"] {
            if let Some(x) = res.get(key) {
                r.insert(key.into(), resource(x, &child(&rp, key))?);
            }
        }
        out.insert("resources".into(), Value::Object(r));
    }
    if let Some(Value::Object(rp)) = m.get("restart_policy") {
        let p = child(path, "restart_policy");
        let mut r = rp.clone();
        for key in ["delay", "window"] {
            if let Some(x) = rp.get(key) {
                r.insert(key.into(), duration(x, &child(&p, key))?);
            }
        }
        out.insert("restart_policy".into(), Value::Object(r));
    }
    Ok(Value::Object(out))
}

fn build(v: &Value, path: &Path) -> Result<Value> {
    let mut m = match v {
        Value::String(s) => {
            let mut m = Map::new();
            m.insert("context".into(), json!(s));
            return Ok(Value::Object(m));
        }
        Value::Object(m) => m.clone(),
        other => return Err(err(path, format!("invalid type {other} for build"))),
    };
    for (k, val) in m.clone() {
        let p = child(path, &k);
        let canon = match k.as_str() {
            "args" => list_or_dict(&val, &p, true)?,
            "labels" | "additional_contexts" => list_or_dict(&val, &p, false)?,
            "shm_size" => bytes(&val, &p)?,
            "secrets" => file_refs(&val, &p)?,
            "ulimits" => ulimits(&val, &p)?,
            "extra_hosts" => extra_hosts(&val, &p)?,
            "no_cache" | "pull" | "privileged" => boolean(&val, &p)?,
            "cache_from" | "cache_to" | "tags" | "platforms" | "entitlements" => {
                string_or_list(&val)
            }
            _ => val,
        };
        m.insert(k, canon);
    }
    Ok(Value::Object(m))
}

fn service(svc: &mut Map<String, Value>, path: &Path) -> Result<()> {
    for (k, val) in svc.clone() {
        let p = child(path, &k);
        let canon = match k.as_str() {
            "build" => build(&val, &p)?,
            "command" | "entrypoint" => command(&val, &p)?,
            "environment" => list_or_dict(&val, &p, true)?,
            "annotations" | "labels" | "sysctls" | "storage_opt" => list_or_dict(&val, &p, false)?,
            "env_file" => env_files(&val, &p)?,
            "ports" => ports(&val, &p)?,
            "volumes" => volumes(&val, &p)?,
            "networks" => networks(&val),
            "depends_on" => depends_on(&val, &p)?,
            "dns"
            | "dns_search"
            | "tmpfs"
            | "dns_opt"
            | "expose"
            | "cap_add"
            | "cap_drop"
            | "links"
            | "external_links"
            | "security_opt"
            | "volumes_from"
            | "group_add"
            | "profiles"
            | "device_cgroup_rules" => string_or_list(&val),
            "ulimits" => ulimits(&val, &p)?,
            "extra_hosts" => extra_hosts(&val, &p)?,
            "devices" => devices(&val, &p)?,
            "secrets" | "configs" => file_refs(&val, &p)?,
            "extends" => match &val {
                Value::String(s) => json!({ "service": s }),
                other => other.clone(),
            },
            "healthcheck" => healthcheck(&val, &p)?,
            "stop_grace_period" => duration(&val, &p)?,
            "mem_limit" | "mem_reservation" | "memswap_limit" | "shm_size" => bytes(&val, &p)?,
            "cpus" | "cpu_percent" => float(&val, &p)?,
            "cpu_count" | "cpu_period" | "cpu_quota" | "cpu_rt_period" | "cpu_rt_runtime"
            | "cpu_shares" | "mem_swappiness" | "oom_score_adj" | "pids_limit" | "scale" => {
                integer(&val, &p)?
            }
            "privileged" | "read_only" | "stdin_open" | "tty" | "init" | "attach"
            | "oom_kill_disable" => boolean(&val, &p)?,
            "deploy" => deploy(&val, &p)?,
            "logging" => match &val {
                Value::Object(m) => {
                    let mut m = m.clone();
                    if let Some(opts) = m.get("options").cloned() {
                        let mut o = Map::new();
                        if let Value::Object(opts) = opts {
                            for (ok, ov) in opts {
                                if let Some(s) = scalar_string(&ov) {
                                    o.insert(ok, json!(s));
                                }
                            }
                        }
                        m.insert("options".into(), Value::Object(o));
                    }
                    Value::Object(m)
                }
                other => other.clone(),
            },
            "pull_policy" => match val.as_str() {
                Some("if_not_present") => json!("missing"),
                _ => val,
            },
            _ => val,
        };
        svc.insert(k, canon);
    }
    Ok(())
}

fn resource_object(v: &Value, path: &Path) -> Result<Value> {
    let mut m = match v {
        Value::Null => return Ok(json!({})),
        Value::Object(m) => m.clone(),
        other => return Err(err(path, format!("unexpected value {other}"))),
    };
    if let Some(l) = m.get("labels").cloned() {
        m.insert(
            "labels".into(),
            list_or_dict(&l, &child(path, "labels"), false)?,
        );
    }
    for key in ["driver_opts"] {
        if let Some(o) = m.get(key).cloned() {
            m.insert(key.into(), list_or_dict(&o, &child(path, key), false)?);
        }
    }
    if let Some(Value::Object(ipam)) = m.get("ipam").cloned() {
        let mut ipam = ipam;
        if let Some(o) = ipam.get("options").cloned() {
            ipam.insert(
                "options".into(),
                list_or_dict(&o, &child(path, "ipam"), false)?,
            );
        }
        m.insert("ipam".into(), Value::Object(ipam));
    }
    if let Some(Value::Object(ext)) = m.get("external").cloned() {
        m.insert("external".into(), json!(true));
        if let Some(ext_name) = ext.get("name") {
            match m.get("name") {
                Some(name) if name != ext_name => {
                    return Err(err(path, "name and external.name conflict; only use name"))
                }
                _ => {
                    m.insert("name".into(), ext_name.clone());
                }
            }
        }
    }
    if m.get("external") == Some(&json!(true)) {
        for k in m.keys() {
            if !matches!(k.as_str(), "name" | "external") && !k.starts_with("x-") {
                return Err(err(
                    path,
                    format!("conflicting parameters \"external\" and {k:?} specified"),
                ));
            }
        }
    }
    Ok(Value::Object(m))
}

/// Canonicalises a whole document in place.
pub(crate) fn canonicalize(doc: &mut Value) -> Result<()> {
    let Value::Object(top) = doc else {
        return Ok(());
    };
    if let Some(Value::Object(services)) = top.get_mut("services") {
        for (name, svc) in services.iter_mut() {
            let path = vec!["services".to_string(), name.clone()];
            match svc {
                Value::Object(m) => service(m, &path)?,
                Value::Null => *svc = json!({}),
                _ => return Err(err(&path, "must be a mapping")),
            }
        }
    }
    for kind in ["networks", "volumes", "secrets", "configs"] {
        if let Some(Value::Object(items)) = top.get_mut(kind) {
            for (name, item) in items.iter_mut() {
                let path = vec![kind.to_string(), name.clone()];
                *item = resource_object(item, &path)?;
            }
        }
    }
    Ok(())
}

/// Whether a build context is remote (URL, git reference) rather than a directory.
pub(crate) fn is_remote_context(ctx: &str) -> bool {
    ctx.contains("://") || ctx.starts_with("git@") || ctx.starts_with("github.com/")
}

/// Makes a host path absolute: `~` expanded with `home`, relative paths
/// joined to `base`, the result cleaned.
pub(crate) fn absolute(p: &str, base: &std::path::Path, home: Option<&str>) -> String {
    let expanded = match (p.strip_prefix('~'), home) {
        (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
            format!("{home}{rest}")
        }
        _ => p.to_string(),
    };
    if expanded.starts_with('/') {
        clean_path(&expanded)
    } else {
        clean_path(&format!("{}/{expanded}", base.display()))
    }
}

/// Resolves the relative host paths of a canonical document (build
/// contexts, env files, bind mounts, secret/config files, bind-backed
/// volumes) against `base`.
pub(crate) fn resolve_paths(doc: &mut Value, base: &std::path::Path, home: Option<&str>) {
    let abs = |v: &mut Value| {
        if let Value::String(s) = v {
            if !s.is_empty() {
                *s = absolute(s, base, home);
            }
        }
    };
    if let Some(Value::Object(services)) = doc.get_mut("services") {
        for svc in services.values_mut() {
            if let Some(Value::Object(b)) = svc.get_mut("build") {
                if let Some(ctx) = b.get_mut("context") {
                    if !ctx.as_str().is_some_and(is_remote_context) {
                        abs(ctx);
                    }
                }
                if let Some(Value::Object(extra)) = b.get_mut("additional_contexts") {
                    for c in extra.values_mut() {
                        let local = c
                            .as_str()
                            .is_some_and(|s| !is_remote_context(s) && !s.contains(':'));
                        if local {
                            abs(c);
                        }
                    }
                }
            }
            if let Some(Value::Array(files)) = svc.get_mut("env_file") {
                for f in files {
                    if let Some(p) = f.get_mut("path") {
                        abs(p);
                    }
                }
            }
            if let Some(Value::Array(vols)) = svc.get_mut("volumes") {
                for v in vols {
                    if v.get("type").and_then(Value::as_str) == Some("bind") {
                        if let Some(src) = v.get_mut("source") {
                            abs(src);
                        }
                    }
                }
            }
            if let Some(Value::Object(ext)) = svc.get_mut("extends") {
                if let Some(f) = ext.get_mut("file") {
                    abs(f);
                }
            }
        }
    }
    for kind in ["secrets", "configs"] {
        if let Some(Value::Object(items)) = doc.get_mut(kind) {
            for item in items.values_mut() {
                if let Some(f) = item.get_mut("file") {
                    abs(f);
                }
            }
        }
    }
    if let Some(Value::Object(vols)) = doc.get_mut("volumes") {
        for v in vols.values_mut() {
            let local = v.get("driver").and_then(Value::as_str).unwrap_or("local") == "local";
            if let Some(Value::Object(opts)) = v.get_mut("driver_opts") {
                if local && opts.get("o").and_then(Value::as_str) == Some("bind") {
                    if let Some(dev) = opts.get_mut("device") {
                        abs(dev);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(doc: Value) -> Value {
        let mut doc = doc;
        canonicalize(&mut doc).unwrap();
        doc
    }

    #[test]
    fn service_short_forms() {
        let doc = canon(json!({"services": {"web": {
            "build": "./app",
            "command": "sh -c 'echo hi'",
            "environment": ["A=1", "B", "C="],
            "labels": ["x=y", "flag"],
            "ports": ["8080:80", 9000, {"target": "81", "published": 8081}],
            "volumes": ["./data:/data:ro", "named:/named", "/anon"],
            "networks": ["front", "back"],
            "depends_on": ["db"],
            "dns": "8.8.8.8",
            "tmpfs": "/run",
            "ulimits": {"nproc": 65535, "nofile": {"soft": "20000", "hard": 40000}},
            "extra_hosts": {"somehost": "162.242.195.82", "v6": "[::1]"},
            "healthcheck": {"test": "curl -f http://localhost", "interval": "1m30s"},
            "mem_limit": "512m",
            "cpus": "0.5",
            "env_file": ".env.web",
            "secrets": ["s1"],
            "stop_grace_period": "10s",
            "devices": ["/dev/fuse"],
        }}}));
        let web = &doc["services"]["web"];
        assert_eq!(web["build"], json!({"context": "./app"}));
        assert_eq!(web["command"], json!(["sh", "-c", "echo hi"]));
        assert_eq!(web["environment"], json!({"A": "1", "B": null, "C": ""}));
        assert_eq!(web["labels"], json!({"x": "y", "flag": ""}));
        assert_eq!(
            web["ports"][0],
            json!({"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"})
        );
        assert_eq!(
            web["ports"][1],
            json!({"mode": "ingress", "target": 9000, "protocol": "tcp"})
        );
        assert_eq!(
            web["ports"][2],
            json!({"target": 81, "published": "8081", "mode": "ingress", "protocol": "tcp"})
        );
        assert_eq!(web["volumes"][0]["type"], "bind");
        assert_eq!(web["volumes"][1]["type"], "volume");
        assert_eq!(web["networks"], json!({"front": null, "back": null}));
        assert_eq!(
            web["depends_on"]["db"],
            json!({"condition": "service_started", "required": true})
        );
        assert_eq!(web["dns"], json!(["8.8.8.8"]));
        assert_eq!(web["tmpfs"], json!(["/run"]));
        assert_eq!(
            web["ulimits"],
            json!({"nproc": {"single": 65535}, "nofile": {"soft": 20000, "hard": 40000}})
        );
        assert_eq!(
            web["extra_hosts"],
            json!(["somehost:162.242.195.82", "v6:::1"])
        );
        assert_eq!(
            web["healthcheck"]["test"],
            json!(["CMD-SHELL", "curl -f http://localhost"])
        );
        assert_eq!(web["healthcheck"]["interval"], json!(90_000_000_000i64));
        assert_eq!(web["mem_limit"], json!(536_870_912));
        assert_eq!(web["cpus"], json!(0.5));
        assert_eq!(
            web["env_file"],
            json!([{"path": ".env.web", "required": true}])
        );
        assert_eq!(web["secrets"], json!([{"source": "s1"}]));
        assert_eq!(web["stop_grace_period"], json!(10_000_000_000i64));
        assert_eq!(
            web["devices"],
            json!([{"source": "/dev/fuse", "target": "/dev/fuse", "permissions": "rwm"}])
        );
    }

    #[test]
    fn bad_values_name_the_path() {
        let mut doc = json!({"services": {"web": {"ports": ["8080:80", "x:80"]}}});
        let e = canonicalize(&mut doc).unwrap_err().to_string();
        assert_eq!(e, "services.web.ports[1]: invalid hostPort: x");
        let mut doc = json!({"services": {"web": {"mem_limit": "lots"}}});
        let e = canonicalize(&mut doc).unwrap_err().to_string();
        assert_eq!(e, "services.web.mem_limit: invalid size: 'lots'");
        let mut doc = json!({"services": {"web": {"healthcheck": {"interval": "10"}}}});
        let e = canonicalize(&mut doc).unwrap_err().to_string();
        assert!(
            e.starts_with("services.web.healthcheck.interval: time: missing unit"),
            "{e}"
        );
        let mut doc = json!({"services": {"web": {"command": "echo 'x"}}});
        assert!(canonicalize(&mut doc).is_err());
    }

    #[test]
    fn external_resources() {
        let doc = canon(json!({
            "networks": {"legacy": {"external": {"name": "real"}}, "plain": null},
            "volumes": {"v": {"external": true}}
        }));
        assert_eq!(
            doc["networks"]["legacy"],
            json!({"external": true, "name": "real"})
        );
        assert_eq!(doc["networks"]["plain"], json!({}));
        let mut doc = json!({"volumes": {"v": {"external": true, "driver": "x"}}});
        let e = canonicalize(&mut doc).unwrap_err().to_string();
        assert_eq!(
            e,
            "volumes.v: conflicting parameters \"external\" and \"driver\" specified"
        );
    }

    #[test]
    fn paths_are_resolved() {
        let mut doc = canon(json!({"services": {"web": {
            "build": "./app",
            "volumes": ["./data:/data", "~/cache:/cache", "/abs/../x:/x", "named:/n"],
            "env_file": ["a.env"],
        }}, "secrets": {"s": {"file": "./secret.txt"}}}));
        resolve_paths(&mut doc, std::path::Path::new("/proj"), Some("/home/u"));
        let web = &doc["services"]["web"];
        assert_eq!(web["build"]["context"], "/proj/app");
        assert_eq!(web["volumes"][0]["source"], "/proj/data");
        assert_eq!(web["volumes"][1]["source"], "/home/u/cache");
        assert_eq!(web["volumes"][2]["source"], "/x");
        assert_eq!(web["volumes"][3]["source"], "named");
        assert_eq!(web["env_file"][0]["path"], "/proj/a.env");
        assert_eq!(doc["secrets"]["s"]["file"], "/proj/secret.txt");
        let mut doc = canon(json!({"services": {"web": {"build": "https://github.com/x/y.git"}}}));
        resolve_paths(&mut doc, std::path::Path::new("/proj"), None);
        assert_eq!(
            doc["services"]["web"]["build"]["context"],
            "https://github.com/x/y.git"
        );
    }
}
