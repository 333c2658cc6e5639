//! Merging compose documents (in canonical form) the way compose does for
//! `-f a.yml -f b.yml` and `extends`: mappings merge key by key, scalars are
//! replaced, `command`/`entrypoint`/`healthcheck.test` are replaced whole,
//! `logging` is replaced when the driver changes, and sequences are
//! concatenated then de-duplicated by their key (ports by
//! `host_ip:published:target/protocol`, volumes/devices/secrets/configs by
//! target, env files by path, plain lists by value), a later entry taking
//! the place of the earlier one. `!reset` and `!override` paths recorded by
//! the YAML reader remove the earlier value before merging.

use serde_json::{Map, Value};

use crate::canonical::scalar_string;
use crate::error::path_matches;

/// How the entries of a sequence are identified for de-duplication.
#[derive(Clone, Copy)]
enum Key {
    /// `host_ip:published:target/protocol`.
    Port,
    /// The mount target.
    Target,
    /// Target, default `/run/secrets/SOURCE`.
    Secret,
    /// Target, default `/SOURCE`.
    Config,
    /// The env file's path.
    EnvFile,
    /// The IPAM pool's subnet.
    Subnet,
    /// The whole value.
    Value,
    /// The part before `=` or `:` (links, tmpfs).
    Prefix,
}

const SEQUENCES: &[(&[&str], Key)] = &[
    (&["services", "*", "ports"], Key::Port),
    (&["services", "*", "volumes"], Key::Target),
    (&["services", "*", "devices"], Key::Target),
    (&["services", "*", "secrets"], Key::Secret),
    (&["services", "*", "configs"], Key::Config),
    (&["services", "*", "build", "secrets"], Key::Secret),
    (&["services", "*", "env_file"], Key::EnvFile),
    (&["networks", "*", "ipam", "config"], Key::Subnet),
    (&["services", "*", "cap_add"], Key::Value),
    (&["services", "*", "cap_drop"], Key::Value),
    (&["services", "*", "dns"], Key::Value),
    (&["services", "*", "dns_opt"], Key::Value),
    (&["services", "*", "dns_search"], Key::Value),
    (&["services", "*", "expose"], Key::Value),
    (&["services", "*", "profiles"], Key::Value),
    (&["services", "*", "extra_hosts"], Key::Value),
    (&["services", "*", "build", "extra_hosts"], Key::Value),
    (&["services", "*", "build", "tags"], Key::Value),
    (&["services", "*", "build", "platforms"], Key::Value),
    (&["services", "*", "networks", "*", "aliases"], Key::Value),
    (
        &["services", "*", "networks", "*", "link_local_ips"],
        Key::Value,
    ),
    (&["services", "*", "links"], Key::Prefix),
    (&["services", "*", "tmpfs"], Key::Prefix),
];

const REPLACED: &[&[&str]] = &[
    &["services", "*", "command"],
    &["services", "*", "entrypoint"],
    &["services", "*", "healthcheck", "test"],
];

fn entry_key(kind: Key, v: &Value) -> String {
    let s = |k: &str| v.get(k).and_then(scalar_string).unwrap_or_default();
    match kind {
        Key::Port => {
            let host = v.get("host_ip").and_then(scalar_string);
            format!(
                "{}:{}:{}/{}",
                host.unwrap_or_else(|| "0.0.0.0".into()),
                s("published"),
                s("target"),
                v.get("protocol")
                    .and_then(scalar_string)
                    .unwrap_or_else(|| "tcp".into())
            )
        }
        Key::Target => s("target"),
        Key::Secret | Key::Config => match v.get("target").and_then(scalar_string) {
            Some(t) => t,
            None if matches!(kind, Key::Secret) => format!("/run/secrets/{}", s("source")),
            None => format!("/{}", s("source")),
        },
        Key::EnvFile => s("path"),
        Key::Subnet => s("subnet"),
        Key::Value => scalar_string(v).unwrap_or_default(),
        Key::Prefix => {
            let full = scalar_string(v).unwrap_or_default();
            match full.split_once(['=', ':']) {
                Some((k, _)) => k.to_string(),
                None => full,
            }
        }
    }
}

/// De-duplicates a sequence by key, a later entry replacing the earlier one
/// in place.
fn dedup(items: Vec<Value>, kind: Key) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    let mut keys: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let k = entry_key(kind, &item);
        match keys.iter().position(|x| *x == k) {
            Some(i) => out[i] = item,
            None => {
                keys.push(k);
                out.push(item);
            }
        }
    }
    out
}

/// Merges `over` into `base` following compose's rules; `path` is where
/// the two values sit in the document.
pub(crate) fn merge_at(base: Value, over: Value, path: &mut Vec<String>) -> Value {
    if REPLACED.iter().any(|p| path_matches(path, p)) {
        return over;
    }
    if over.is_null() {
        return base;
    }
    if path_matches(path, &["services", "*", "logging"]) {
        let driver = |v: &Value| v.get("driver").cloned();
        if let (Some(a), Some(b)) = (driver(&base), driver(&over)) {
            if a != b {
                return over;
            }
        }
    }
    if path_matches(path, &["services", "*", "ulimits", "*"])
        && !(base.is_object() && over.is_object())
    {
        return over;
    }
    match (base, over) {
        (Value::Object(mut b), Value::Object(o)) => {
            for (k, v) in o {
                let merged = match b.remove(&k) {
                    Some(existing) => {
                        path.push(k.clone());
                        let m = merge_at(existing, v, path);
                        path.pop();
                        m
                    }
                    None => v,
                };
                b.insert(k, merged);
            }
            Value::Object(b)
        }
        (Value::Array(mut b), Value::Array(o)) => {
            b.extend(o);
            match SEQUENCES.iter().find(|(p, _)| path_matches(path, p)) {
                Some((_, kind)) => Value::Array(dedup(b, *kind)),
                None => Value::Array(b),
            }
        }
        (_, o) => o,
    }
}

/// Removes the value at `path` (a `!reset` / `!override` target) from `doc`.
pub(crate) fn remove_path(doc: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = doc;
    for seg in parents {
        let next = match cur {
            Value::Object(m) => m.get_mut(seg),
            Value::Array(a) => seg
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<usize>()
                .ok()
                .and_then(|i| a.get_mut(i)),
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    if let Value::Object(m) = cur {
        m.shift_remove(last);
    }
}

/// Merges a whole document into the accumulated one, honouring the
/// document's `!reset` and `!override` paths.
pub(crate) fn merge_documents(
    base: Value,
    over: Value,
    resets: &[Vec<String>],
    overrides: &[Vec<String>],
) -> Value {
    let mut base = base;
    for p in resets.iter().chain(overrides) {
        remove_path(&mut base, p);
    }
    let mut path = Vec::new();
    let base = if base.is_null() {
        Value::Object(Map::new())
    } else {
        base
    };
    merge_at(base, over, &mut path)
}

/// Merges a service definition over the one it `extends`.
pub(crate) fn merge_service(base: Value, over: Value) -> Value {
    let mut path = vec!["services".to_string(), "x".to_string()];
    merge_at(base, over, &mut path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::canonicalize;
    use serde_json::json;

    fn merged(a: Value, b: Value) -> Value {
        let (mut a, mut b) = (a, b);
        canonicalize(&mut a).unwrap();
        canonicalize(&mut b).unwrap();
        merge_documents(a, b, &[], &[])
    }

    #[test]
    fn merge_table() {
        let m = merged(
            json!({"services": {"web": {
                "image": "a", "command": "run --a", "entrypoint": ["/e"],
                "environment": ["A=1", "B=2"], "labels": {"l1": "x", "l2": "y"},
                "ports": ["8080:80", "443:443"],
                "volumes": ["./a:/data", "cache:/cache"],
                "dns": ["1.1.1.1"],
                "logging": {"driver": "json-file", "options": {"max-size": "1m"}},
                "healthcheck": {"test": ["CMD", "a"], "retries": 3},
                "depends_on": ["db"]
            }}}),
            json!({"services": {"web": {
                "image": "b", "command": ["other"],
                "environment": {"B": "3", "C": "4"}, "labels": ["l2=z"],
                "ports": ["8080:80", "9090:90"],
                "volumes": ["./b:/data"],
                "dns": ["1.1.1.1", "8.8.8.8"],
                "logging": {"driver": "syslog"},
                "healthcheck": {"test": "b"},
                "depends_on": {"cache": {"condition": "service_healthy"}}
            }}}),
        );
        let web = &m["services"]["web"];
        assert_eq!(web["image"], "b");
        assert_eq!(web["command"], json!(["other"]));
        assert_eq!(web["entrypoint"], json!(["/e"]));
        assert_eq!(web["environment"], json!({"A": "1", "B": "3", "C": "4"}));
        assert_eq!(web["labels"], json!({"l1": "x", "l2": "z"}));
        let published: Vec<&str> = web["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["published"].as_str().unwrap())
            .collect();
        assert_eq!(published, ["8080", "443", "9090"]);
        let vols = web["volumes"].as_array().unwrap();
        assert_eq!(vols.len(), 2);
        assert_eq!(vols[0]["source"], "./b");
        assert_eq!(vols[0]["target"], "/data");
        assert_eq!(web["dns"], json!(["1.1.1.1", "8.8.8.8"]));
        assert_eq!(web["logging"], json!({"driver": "syslog"}));
        assert_eq!(
            web["healthcheck"],
            json!({"test": ["CMD-SHELL", "b"], "retries": 3})
        );
        assert_eq!(
            web["depends_on"],
            json!({
                "db": {"condition": "service_started", "required": true},
                "cache": {"condition": "service_healthy", "required": true}
            })
        );
    }

    #[test]
    fn same_logging_driver_merges_options() {
        let m = merged(
            json!({"services": {"w": {"logging": {"driver": "json-file", "options": {"a": "1"}}}}}),
            json!({"services": {"w": {"logging": {"options": {"b": "2"}}}}}),
        );
        assert_eq!(
            m["services"]["w"]["logging"],
            json!({"driver": "json-file", "options": {"a": "1", "b": "2"}})
        );
    }

    #[test]
    fn reset_and_override() {
        let mut base = json!({"services": {"w": {"image": "a", "ports": ["80:80"], "environment": {"A": "1"}}}});
        canonicalize(&mut base).unwrap();
        let over = json!({"services": {"w": {"environment": {"B": "2"}}}});
        let m = merge_documents(
            base,
            over,
            &[vec!["services".into(), "w".into(), "ports".into()]],
            &[vec!["services".into(), "w".into(), "environment".into()]],
        );
        assert!(m["services"]["w"].get("ports").is_none());
        assert_eq!(m["services"]["w"]["environment"], json!({"B": "2"}));
        assert_eq!(m["services"]["w"]["image"], "a");
    }
}
