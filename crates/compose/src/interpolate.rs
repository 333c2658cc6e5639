//! Variable substitution as compose does it: `$VAR`, `${VAR}`,
//! `${VAR:-default}`, `${VAR-default}`, `${VAR:?err}`, `${VAR?err}`,
//! `${VAR:+alt}`, `${VAR+alt}`, `$$` for a literal `$`, nested templates in
//! the operator's argument; applied to every string value (never to keys) of
//! a compose document, then casting the values compose types (booleans,
//! integers, floats) at the paths where compose-go casts them.

use serde_json::Value;

use crate::error::{path_matches, render_path, ComposeError, Result};

/// Why a template could not be substituted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubstituteError {
    /// The template has a malformed `${...}` (the whole template is kept).
    InvalidFormat(String),
    /// `${VAR:?reason}` / `${VAR?reason}` with the variable missing.
    MissingRequired {
        /// The variable.
        variable: String,
        /// The (substituted) reason given after `?`.
        reason: String,
    },
}

impl std::fmt::Display for SubstituteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SubstituteError::InvalidFormat(t) => write!(f, "invalid interpolation format: {t:?}"),
            SubstituteError::MissingRequired { variable, reason } if reason.is_empty() => {
                write!(f, "required variable {variable} is missing a value")
            }
            SubstituteError::MissingRequired { variable, reason } => {
                write!(
                    f,
                    "required variable {variable} is missing a value: {reason}"
                )
            }
        }
    }
}

/// Substitutes the variables of `template`. `lookup` returns a variable's
/// value (`None` when unset); `unset` collects the names of variables that
/// were used without a default while unset (compose warns about them and
/// substitutes an empty string).
pub fn substitute(
    template: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> Result<String, SubstituteError> {
    let bytes = template.as_bytes();
    let mut out = String::with_capacity(template.len());
    let mut i = 0;
    let mut literal_start = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        out.push_str(&template[literal_start..i]);
        let next = bytes.get(i + 1).copied();
        match next {
            Some(b'$') => {
                out.push('$');
                i += 2;
            }
            Some(c) if is_name_start(c) => {
                let end = name_end(bytes, i + 1);
                let name = &template[i + 1..end];
                out.push_str(&lookup_or_warn(name, lookup, unset));
                i = end;
            }
            Some(b'{') => {
                let Some(close) = closing_brace(bytes, i + 1) else {
                    return Err(SubstituteError::InvalidFormat(template.to_string()));
                };
                let inner = &template[i + 2..close];
                out.push_str(&braced(inner, template, lookup, unset)?);
                i = close + 1;
            }
            // A lone `$` (end of string, or followed by anything else) is
            // kept as is, as compose's regular expression does.
            _ => {
                out.push('$');
                i += 1;
            }
        }
        literal_start = i;
    }
    out.push_str(&template[literal_start..]);
    Ok(out)
}

fn is_name_start(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphabetic()
}

fn name_end(bytes: &[u8], start: usize) -> usize {
    let mut end = start;
    while end < bytes.len() && (bytes[end] == b'_' || bytes[end].is_ascii_alphanumeric()) {
        end += 1;
    }
    end
}

/// Index of the `}` closing the `{` at `open`, counting nested braces.
fn closing_brace(bytes: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn lookup_or_warn(
    name: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> String {
    match lookup(name) {
        Some(v) => v,
        None => {
            if !unset.iter().any(|u| u == name) {
                unset.push(name.to_string());
            }
            String::new()
        }
    }
}

/// Evaluates the inside of `${...}`.
fn braced(
    inner: &str,
    template: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> Result<String, SubstituteError> {
    let bytes = inner.as_bytes();
    if bytes.is_empty() || !is_name_start(bytes[0]) {
        return Err(SubstituteError::InvalidFormat(template.to_string()));
    }
    let end = name_end(bytes, 0);
    let name = &inner[..end];
    let rest = &inner[end..];
    if rest.is_empty() {
        return Ok(lookup_or_warn(name, lookup, unset));
    }
    let (op, arg) = if let Some(arg) = rest.strip_prefix(":-") {
        (":-", arg)
    } else if let Some(arg) = rest.strip_prefix(":?") {
        (":?", arg)
    } else if let Some(arg) = rest.strip_prefix(":+") {
        (":+", arg)
    } else if let Some(arg) = rest.strip_prefix('-') {
        ("-", arg)
    } else if let Some(arg) = rest.strip_prefix('?') {
        ("?", arg)
    } else if let Some(arg) = rest.strip_prefix('+') {
        ("+", arg)
    } else {
        return Err(SubstituteError::InvalidFormat(template.to_string()));
    };
    let value = lookup(name);
    let set = value.is_some();
    let non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
    match op {
        ":-" | "-" => {
            let use_default = if op == ":-" { !non_empty } else { !set };
            if use_default {
                substitute(arg, lookup, unset)
            } else {
                Ok(value.unwrap_or_default())
            }
        }
        ":?" | "?" => {
            let ok = if op == ":?" { non_empty } else { set };
            if ok {
                Ok(value.unwrap_or_default())
            } else {
                Err(SubstituteError::MissingRequired {
                    variable: name.to_string(),
                    reason: substitute(arg, lookup, unset)?,
                })
            }
        }
        _ => {
            // ":+" / "+": the alternative when set (and non-empty for ":+").
            let use_alt = if op == ":+" { non_empty } else { set };
            if use_alt {
                substitute(arg, lookup, unset)
            } else {
                Ok(value.unwrap_or_default())
            }
        }
    }
}

/// How a substituted string is converted at a given path.
#[derive(Clone, Copy)]
enum Cast {
    Bool,
    Int,
    Float,
}

/// The paths where compose-go turns interpolated strings into typed values.
const CASTS: &[(&[&str], Cast)] = &[
    (&["services", "*", "cpu_count"], Cast::Int),
    (&["services", "*", "cpu_percent"], Cast::Float),
    (&["services", "*", "cpu_period"], Cast::Int),
    (&["services", "*", "cpu_quota"], Cast::Int),
    (&["services", "*", "cpu_rt_period"], Cast::Int),
    (&["services", "*", "cpu_rt_runtime"], Cast::Int),
    (&["services", "*", "cpus"], Cast::Float),
    (&["services", "*", "cpu_shares"], Cast::Int),
    (&["services", "*", "init"], Cast::Bool),
    (
        &["services", "*", "depends_on", "*", "required"],
        Cast::Bool,
    ),
    (&["services", "*", "depends_on", "*", "restart"], Cast::Bool),
    (&["services", "*", "deploy", "replicas"], Cast::Int),
    (
        &["services", "*", "deploy", "restart_policy", "max_attempts"],
        Cast::Int,
    ),
    (&["services", "*", "healthcheck", "retries"], Cast::Int),
    (&["services", "*", "healthcheck", "disable"], Cast::Bool),
    (&["services", "*", "oom_kill_disable"], Cast::Bool),
    (&["services", "*", "oom_score_adj"], Cast::Int),
    (&["services", "*", "pids_limit"], Cast::Int),
    (&["services", "*", "ports", "[]", "target"], Cast::Int),
    (&["services", "*", "privileged"], Cast::Bool),
    (&["services", "*", "read_only"], Cast::Bool),
    (&["services", "*", "scale"], Cast::Int),
    (&["services", "*", "stdin_open"], Cast::Bool),
    (&["services", "*", "tty"], Cast::Bool),
    (&["services", "*", "ulimits", "*"], Cast::Int),
    (&["services", "*", "ulimits", "*", "hard"], Cast::Int),
    (&["services", "*", "ulimits", "*", "soft"], Cast::Int),
    (&["services", "*", "volumes", "[]", "read_only"], Cast::Bool),
    (
        &["services", "*", "volumes", "[]", "volume", "nocopy"],
        Cast::Bool,
    ),
    (&["networks", "*", "external"], Cast::Bool),
    (&["networks", "*", "internal"], Cast::Bool),
    (&["networks", "*", "attachable"], Cast::Bool),
    (&["networks", "*", "enable_ipv6"], Cast::Bool),
    (&["volumes", "*", "external"], Cast::Bool),
    (&["secrets", "*", "external"], Cast::Bool),
    (&["configs", "*", "external"], Cast::Bool),
];

fn cast(value: &str, cast: Cast) -> std::result::Result<Value, String> {
    match cast {
        Cast::Bool => match value.to_ascii_lowercase().as_str() {
            "true" | "y" | "yes" | "on" => Ok(Value::Bool(true)),
            "false" | "n" | "no" | "off" => Ok(Value::Bool(false)),
            _ => Err(format!("invalid boolean: {value}")),
        },
        Cast::Int => value
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("strconv.Atoi: parsing {value:?}: invalid syntax")),
        Cast::Float => value
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| format!("strconv.ParseFloat: parsing {value:?}: invalid syntax")),
    }
}

/// Interpolates every string of a compose document in place. Errors name
/// the path of the offending value.
pub(crate) fn interpolate_document(
    value: &mut Value,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> Result<()> {
    let mut path = Vec::new();
    walk(value, &mut path, lookup, unset)
}

fn walk(
    value: &mut Value,
    path: &mut Vec<String>,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> Result<()> {
    match value {
        Value::String(s) => {
            let substituted = substitute(s, lookup, unset).map_err(|e| match e {
                SubstituteError::InvalidFormat(t) => ComposeError::Interpolation(format!(
                    "invalid interpolation format for {}: {t:?}. You may need to escape any $ with another $.",
                    render_path(path)
                )),
                other => ComposeError::Interpolation(format!(
                    "error while interpolating {}: {other}",
                    render_path(path)
                )),
            })?;
            let caster = CASTS
                .iter()
                .find(|(pattern, _)| path_matches(path, pattern))
                .map(|(_, c)| *c);
            *value = match caster {
                Some(c) => cast(&substituted, c).map_err(|e| {
                    ComposeError::Interpolation(format!(
                        "error while interpolating {}: failed to cast to expected type: {e}",
                        render_path(path)
                    ))
                })?,
                None => Value::String(substituted),
            };
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(format!("[{i}]"));
                let r = walk(item, path, lookup, unset);
                path.pop();
                r?;
            }
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                path.push(k.clone());
                let r = walk(v, path, lookup, unset);
                path.pop();
                r?;
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
    use std::collections::HashMap;

    fn env() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("SET", "value"),
            ("EMPTY", ""),
            ("NUM", "3"),
            ("TRUE", "yes"),
        ])
    }

    fn sub(t: &str) -> Result<String, SubstituteError> {
        let e = env();
        let lookup = move |k: &str| e.get(k).map(|v| v.to_string());
        substitute(t, &lookup, &mut Vec::new())
    }

    #[test]
    fn operators_table() {
        let table = [
            ("$SET", "value"),
            ("${SET}", "value"),
            ("pre-${SET}-post", "pre-value-post"),
            ("$SET$SET", "valuevalue"),
            ("${UNSET}", ""),
            ("$UNSET", ""),
            ("${UNSET:-def}", "def"),
            ("${EMPTY:-def}", "def"),
            ("${SET:-def}", "value"),
            ("${UNSET-def}", "def"),
            ("${EMPTY-def}", ""),
            ("${SET-def}", "value"),
            ("${SET:+alt}", "alt"),
            ("${EMPTY:+alt}", ""),
            ("${UNSET:+alt}", ""),
            ("${SET+alt}", "alt"),
            ("${EMPTY+alt}", "alt"),
            ("${UNSET+alt}", ""),
            ("${SET:?err}", "value"),
            ("${EMPTY?err}", ""),
            ("$$", "$"),
            ("$${SET}", "${SET}"),
            ("$$SET", "$SET"),
            ("a $ b", "a $ b"),
            ("end$", "end$"),
            ("${UNSET:-${SET}}", "value"),
            ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
            ("${UNSET:-a-b:c}", "a-b:c"),
            ("${UNSET:-}", ""),
            ("${SET:+${NUM}x}", "3x"),
            ("${UNSET-:x}", ":x"),
            ("${SET}}", "value}"),
        ];
        for (template, want) in table {
            assert_eq!(sub(template).as_deref(), Ok(want), "template {template}");
        }
    }

    #[test]
    fn errors_table() {
        for t in ["${", "${}", "${ SET}", "${SET:x}", "x ${SET", "${1A}"] {
            assert_eq!(
                sub(t),
                Err(SubstituteError::InvalidFormat(t.to_string())),
                "template {t}"
            );
        }
        assert_eq!(
            sub("${UNSET:?please set it}").unwrap_err().to_string(),
            "required variable UNSET is missing a value: please set it"
        );
        assert_eq!(
            sub("${EMPTY:?}").unwrap_err().to_string(),
            "required variable EMPTY is missing a value"
        );
        assert_eq!(
            sub("${UNSET?need ${SET}}").unwrap_err().to_string(),
            "required variable UNSET is missing a value: need value"
        );
    }

    #[test]
    fn unset_variables_are_reported_once() {
        let lookup = |_: &str| None;
        let mut unset = Vec::new();
        substitute("$A ${A} ${B:-x} ${C}", &lookup, &mut unset).unwrap();
        assert_eq!(unset, vec!["A", "C"]);
    }

    #[test]
    fn document_paths_and_casts() {
        let e = env();
        let lookup = move |k: &str| e.get(k).map(|v| v.to_string());
        let mut doc = json!({
            "services": {"web": {
                "image": "img:${SET}",
                "privileged": "${TRUE}",
                "scale": "${NUM}",
                "ports": [{"target": "${NUM}0"}],
                "environment": {"${SET}": "$$HOME"}
            }}
        });
        interpolate_document(&mut doc, &lookup, &mut Vec::new()).unwrap();
        let web = &doc["services"]["web"];
        assert_eq!(web["image"], "img:value");
        assert_eq!(web["privileged"], true);
        assert_eq!(web["scale"], 3);
        assert_eq!(web["ports"][0]["target"], 30);
        // keys are never interpolated
        assert_eq!(web["environment"]["${SET}"], "$HOME");

        let mut doc = json!({"services": {"web": {"image": "${"}}});
        let err = interpolate_document(&mut doc, &lookup, &mut Vec::new()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid interpolation format for services.web.image: \"${\""),
            "{err}"
        );
        let mut doc = json!({"services": {"web": {"command": ["a", "${X:?is required}"]}}});
        let err = interpolate_document(&mut doc, &lookup, &mut Vec::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "error while interpolating services.web.command[1]: required variable X is missing a value: is required"
        );
        let mut doc = json!({"services": {"web": {"tty": "${SET}"}}});
        let err = interpolate_document(&mut doc, &lookup, &mut Vec::new()).unwrap_err();
        assert!(
            err.to_string().contains(
                "services.web.tty: failed to cast to expected type: invalid boolean: value"
            ),
            "{err}"
        );
    }
}
