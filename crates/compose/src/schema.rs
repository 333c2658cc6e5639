//! Validation of a compose document against the compose specification's
//! JSON schema (`schema/compose-spec.json`, copied verbatim from
//! compose-spec/compose-go, Apache-2.0). The validator implements the
//! keywords that schema uses (type, properties, patternProperties,
//! additionalProperties, items, oneOf, enum, required, minimum, maximum,
//! pattern, uniqueItems, `$ref` to `#/$defs/...`) and reports the most
//! specific failure the way compose does
//! (`services.web Additional property imagee is not allowed`).

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

use crate::error::render_path;

const SCHEMA_TEXT: &str = include_str!("../schema/compose-spec.json");

struct Schema {
    root: Value,
    patterns: HashMap<String, Regex>,
}

fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        // The schema is part of the crate and checked by the tests; a
        // malformed copy is a build defect, not a user error.
        let root: Value = serde_json::from_str(SCHEMA_TEXT).unwrap_or(Value::Null);
        let mut patterns = HashMap::new();
        collect_patterns(&root, &mut patterns);
        Schema { root, patterns }
    })
}

fn collect_patterns(node: &Value, out: &mut HashMap<String, Regex>) {
    match node {
        Value::Object(map) => {
            if let Some(Value::Object(pp)) = map.get("patternProperties") {
                for key in pp.keys() {
                    if let Ok(re) = Regex::new(key) {
                        out.insert(key.clone(), re);
                    }
                }
            }
            if let Some(Value::String(p)) = map.get("pattern") {
                if let Ok(re) = Regex::new(p) {
                    out.insert(p.clone(), re);
                }
            }
            for v in map.values() {
                collect_patterns(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_patterns(v, out)),
        _ => {}
    }
}

/// One validation failure.
#[derive(Debug, Clone)]
struct Failure {
    path: Vec<String>,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Additional(String),
    Type(Vec<String>),
    Enum(Vec<Value>),
    Required(String),
    Minimum(Value),
    Maximum(Value),
    Pattern(String),
    Unique(usize, usize),
}

impl Failure {
    /// Which failure of a `oneOf` to report: the deepest one (an unknown
    /// key counts one level deeper, as compose does), preferring a branch
    /// whose type matched over a plain type mismatch.
    fn specificity(&self) -> (usize, u8) {
        let depth = self.path.len();
        match self.kind {
            Kind::Additional(_) => (depth + 1, 1),
            Kind::Type(_) => (depth, 0),
            _ => (depth, 1),
        }
    }

    fn message(&self) -> String {
        let path = if self.path.is_empty() {
            "(root)".to_string()
        } else {
            render_path(&self.path)
        };
        match &self.kind {
            Kind::Additional(key) => format!("{path} Additional property {key} is not allowed"),
            Kind::Type(want) => format!("{path} must be a {}", human_types(want)),
            Kind::Enum(values) => {
                let list: Vec<String> = values.iter().map(|v| v.to_string()).collect();
                format!("{path} must be one of the following: {}", list.join(", "))
            }
            Kind::Required(name) => format!("{path} {name} is required"),
            Kind::Minimum(n) => format!("{path} must be greater than or equal to {n}"),
            Kind::Maximum(n) => format!("{path} must be less than or equal to {n}"),
            Kind::Pattern(p) => format!("{path} does not match pattern '{p}'"),
            Kind::Unique(a, b) => format!("{path} array items[{a},{b}] must be unique"),
        }
    }
}

fn human_types(want: &[String]) -> String {
    let mut names: Vec<&str> = want
        .iter()
        .map(|w| match w.as_str() {
            "object" => "mapping",
            "array" => "list",
            other => other,
        })
        .collect();
    if names.len() == 1 {
        return names[0].to_string();
    }
    names.sort_unstable();
    let last = names.pop().unwrap_or_default();
    format!("{} or {last}", names.join(", "))
}

/// Validates a whole compose document; the error text is compose's.
pub(crate) fn validate(document: &Value) -> Result<(), String> {
    let s = schema();
    let mut path = Vec::new();
    check(s, &s.root, document, &mut path).map_err(|f| f.message())
}

fn resolve<'a>(s: &'a Schema, reference: &str) -> Option<&'a Value> {
    let name = reference.strip_prefix("#/$defs/")?;
    s.root.get("$defs")?.get(name)
}

fn type_matches(want: &str, v: &Value) -> bool {
    match want {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => match v {
            Value::Number(n) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        },
        _ => true,
    }
}

fn check(s: &Schema, node: &Value, v: &Value, path: &mut Vec<String>) -> Result<(), Failure> {
    let Value::Object(node) = node else {
        // `{}` or `true`: anything goes.
        return Ok(());
    };
    let fail = |path: &Vec<String>, kind| Failure {
        path: path.clone(),
        kind,
    };
    if let Some(Value::String(r)) = node.get("$ref") {
        if let Some(target) = resolve(s, r) {
            check(s, target, v, path)?;
        }
    }
    if let Some(t) = node.get("type") {
        let want: Vec<String> = match t {
            Value::String(t) => vec![t.clone()],
            Value::Array(ts) => ts
                .iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        if !want.is_empty() && !want.iter().any(|w| type_matches(w, v)) {
            return Err(fail(path, Kind::Type(want)));
        }
    }
    if let Some(Value::Array(values)) = node.get("enum") {
        if !values.contains(v) {
            return Err(fail(path, Kind::Enum(values.clone())));
        }
    }
    if let Some(Value::Array(alternatives)) = node.get("oneOf") {
        let mut best: Option<Failure> = None;
        let mut matched = false;
        for alt in alternatives {
            match check(s, alt, v, path) {
                Ok(()) => {
                    matched = true;
                    break;
                }
                Err(f) => {
                    if best
                        .as_ref()
                        .is_none_or(|b| f.specificity() > b.specificity())
                    {
                        best = Some(f);
                    }
                }
            }
        }
        if !matched {
            if let Some(f) = best {
                return Err(f);
            }
        }
    }
    match v {
        Value::Object(map) => {
            if let Some(Value::Array(required)) = node.get("required") {
                for r in required.iter().filter_map(Value::as_str) {
                    if !map.contains_key(r) {
                        return Err(fail(path, Kind::Required(r.to_string())));
                    }
                }
            }
            let props = node.get("properties").and_then(Value::as_object);
            let pattern_props = node.get("patternProperties").and_then(Value::as_object);
            let additional = node.get("additionalProperties");
            for (key, value) in map {
                let mut known = false;
                path.push(key.clone());
                if let Some(sub) = props.and_then(|p| p.get(key)) {
                    known = true;
                    check(s, sub, value, path)?;
                }
                if let Some(pp) = pattern_props {
                    for (pattern, sub) in pp {
                        if s.patterns.get(pattern).is_some_and(|re| re.is_match(key)) {
                            known = true;
                            check(s, sub, value, path)?;
                        }
                    }
                }
                path.pop();
                if !known {
                    match additional {
                        Some(Value::Bool(false)) => {
                            return Err(fail(path, Kind::Additional(key.clone())));
                        }
                        Some(sub @ Value::Object(_)) => {
                            path.push(key.clone());
                            check(s, sub, value, path)?;
                            path.pop();
                        }
                        _ => {}
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = node.get("items") {
                for (i, item) in items.iter().enumerate() {
                    path.push(format!("[{i}]"));
                    check(s, item_schema, item, path)?;
                    path.pop();
                }
            }
            if node.get("uniqueItems") == Some(&Value::Bool(true)) {
                for i in 0..items.len() {
                    for j in i + 1..items.len() {
                        if items[i] == items[j] {
                            return Err(fail(path, Kind::Unique(i, j)));
                        }
                    }
                }
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            if let Some(min) = node.get("minimum") {
                if min.as_f64().is_some_and(|m| x < m) {
                    return Err(fail(path, Kind::Minimum(min.clone())));
                }
            }
            if let Some(max) = node.get("maximum") {
                if max.as_f64().is_some_and(|m| x > m) {
                    return Err(fail(path, Kind::Maximum(max.clone())));
                }
            }
        }
        Value::String(text) => {
            if let Some(Value::String(p)) = node.get("pattern") {
                if s.patterns.get(p).is_some_and(|re| !re.is_match(text)) {
                    return Err(fail(path, Kind::Pattern(p.clone())));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schema_is_loaded() {
        let s = schema();
        assert!(s.root.get("$defs").and_then(|d| d.get("service")).is_some());
        assert!(s.patterns.contains_key("^x-"));
    }

    #[test]
    fn valid_documents() {
        let doc = json!({
            "version": "3.8",
            "x-anything": {"a": 1},
            "services": {
                "web": {
                    "build": "./app",
                    "ports": ["8080:80", {"target": 80, "published": "8081"}],
                    "environment": ["A=1", "B"],
                    "depends_on": {"db": {"condition": "service_healthy"}},
                    "healthcheck": {"test": ["CMD", "true"], "interval": "1m30s"},
                    "x-custom": true
                },
                "db": {"image": "postgres", "environment": {"A": 1, "B": null, "C": true}}
            },
            "volumes": {"data": null},
            "networks": {"front": {"external": {"name": "legacy"}}}
        });
        validate(&doc).unwrap();
    }

    #[test]
    fn error_messages() {
        let table = [
            (
                json!({"services": {"web": {"imagee": "x"}}}),
                "services.web Additional property imagee is not allowed",
            ),
            (
                json!({"servics": {}}),
                "(root) Additional property servics is not allowed",
            ),
            (
                json!({"services": {"web": {"image": "x", "privileged": 3}}}),
                "services.web.privileged must be a boolean or string",
            ),
            (
                json!({"services": {"web": {"image": "x", "ports": "80"}}}),
                "services.web.ports must be a list",
            ),
            (
                json!({"services": {"web": {"image": "x", "ports": ["80", "80"]}}}),
                "services.web.ports array items[0,1] must be unique",
            ),
            (
                json!({"services": {"web": {"image": "x", "depends_on": {"db": {"condition": "bogus"}}}}}),
                "services.web.depends_on.db.condition must be one of the following: \"service_started\", \"service_healthy\", \"service_completed_successfully\"",
            ),
            (
                json!({"services": {"web": {"image": "x", "volumes": [{"source": "a", "target": "/a"}]}}}),
                "services.web.volumes[0] type is required",
            ),
            (
                json!({"services": {"web": {"build": {"contxt": "."}}}}),
                "services.web.build Additional property contxt is not allowed",
            ),
            (
                json!({"services": {"bad name": {"image": "x"}}}),
                "services Additional property bad name is not allowed",
            ),
        ];
        for (doc, want) in table {
            assert_eq!(validate(&doc), Err(want.to_string()), "{doc}");
        }
    }
}
