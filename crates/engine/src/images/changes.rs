//! `--change` instructions of `import` and `commit`: a subset of Dockerfile
//! instructions (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL,
//! USER, VOLUME, WORKDIR) applied to an image's run config.

use serde_json::{json, Map, Value};

use crate::error::{EngineError, Result};

/// Applies each change line to `config` (the image config's `config` object).
pub fn apply_changes(config: &mut Map<String, Value>, changes: &[String]) -> Result<()> {
    for line in changes {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (word, rest) = match line.split_once(char::is_whitespace) {
            Some((w, r)) => (w, r.trim()),
            None => (line, ""),
        };
        let instr = word.to_ascii_uppercase();
        match instr.as_str() {
            "CMD" | "ENTRYPOINT" => {
                let key = if instr == "CMD" { "Cmd" } else { "Entrypoint" };
                config.insert(key.into(), json!(command_form(rest)));
            }
            "ENV" => {
                let env = config.entry("Env").or_insert_with(|| json!([]));
                if !env.is_array() {
                    *env = json!([]);
                }
                for (k, v) in key_values(rest, "ENV")? {
                    if let Some(list) = env.as_array_mut() {
                        list.retain(|e| {
                            e.as_str().and_then(|s| s.split_once('=')).map(|(n, _)| n)
                                != Some(k.as_str())
                        });
                        list.push(json!(format!("{k}={v}")));
                    }
                }
            }
            "LABEL" => {
                let labels = config.entry("Labels").or_insert_with(|| json!({}));
                if !labels.is_object() {
                    *labels = json!({});
                }
                for (k, v) in key_values(rest, "LABEL")? {
                    labels[k] = json!(v);
                }
            }
            "EXPOSE" => {
                let ports = config.entry("ExposedPorts").or_insert_with(|| json!({}));
                if !ports.is_object() {
                    *ports = json!({});
                }
                for p in rest.split_whitespace() {
                    let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                    let valid = num
                        .split_once('-')
                        .map(|(a, b)| a.parse::<u16>().is_ok() && b.parse::<u16>().is_ok())
                        .unwrap_or_else(|| num.parse::<u16>().is_ok());
                    if !valid || !matches!(proto, "tcp" | "udp" | "sctp") {
                        return Err(EngineError::invalid(format!("invalid containerPort: {p}")));
                    }
                    ports[format!("{num}/{proto}")] = json!({});
                }
            }
            "VOLUME" => {
                let vols = config.entry("Volumes").or_insert_with(|| json!({}));
                if !vols.is_object() {
                    *vols = json!({});
                }
                let list = match serde_json::from_str::<Vec<String>>(rest) {
                    Ok(l) => l,
                    Err(_) => rest.split_whitespace().map(String::from).collect(),
                };
                for v in list {
                    vols[v] = json!({});
                }
            }
            "USER" | "WORKDIR" | "STOPSIGNAL" => {
                if rest.is_empty() {
                    return Err(EngineError::invalid(format!(
                        "{instr} requires exactly one argument"
                    )));
                }
                let key = match instr.as_str() {
                    "USER" => "User",
                    "WORKDIR" => "WorkingDir",
                    _ => "StopSignal",
                };
                config.insert(key.into(), json!(rest));
            }
            "ONBUILD" => {
                let list = config.entry("OnBuild").or_insert_with(|| json!([]));
                if !list.is_array() {
                    *list = json!([]);
                }
                if let Some(a) = list.as_array_mut() {
                    a.push(json!(rest));
                }
            }
            _ => {
                return Err(EngineError::invalid(format!(
                    "{word} is not a valid change command"
                )))
            }
        }
    }
    Ok(())
}

/// Exec form (a JSON array) or shell form (`/bin/sh -c "…"`).
fn command_form(rest: &str) -> Vec<String> {
    if rest.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Vec<String>>(rest) {
            return v;
        }
    }
    vec!["/bin/sh".into(), "-c".into(), rest.into()]
}

/// `K=V K2="v 2"` pairs, or the legacy `K V` form of ENV.
fn key_values(rest: &str, instr: &str) -> Result<Vec<(String, String)>> {
    let words = split_words(rest)
        .ok_or_else(|| EngineError::invalid(format!("{instr}: unterminated quote in {rest:?}")))?;
    if words.is_empty() {
        return Err(EngineError::invalid(format!(
            "{instr} requires at least one argument"
        )));
    }
    if !words[0].contains('=') {
        let (k, v) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        if v.trim().is_empty() {
            return Err(EngineError::invalid(format!(
                "{instr} names can not be blank or must have a value: {rest}"
            )));
        }
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(EngineError::invalid(format!(
                "{instr}: syntax error - can't find = in \"{w}\". Must be of the form: name=value"
            ))),
        })
        .collect()
}

/// Splits on whitespace honouring single and double quotes and backslashes.
fn split_words(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') | (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '"') | (None, '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return None;
    }
    if in_word {
        out.push(cur);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(ch: &[&str]) -> Result<Value> {
        let mut m = Map::new();
        apply_changes(
            &mut m,
            &ch.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )?;
        Ok(Value::Object(m))
    }

    #[test]
    fn all_instructions() {
        let v = apply(&[
            r#"CMD ["sh"]"#,
            "ENTRYPOINT echo hi",
            "ENV A=1 B=\"two words\"",
            "ENV C 3 4",
            "EXPOSE 80 53/udp",
            "WORKDIR /srv",
            "USER nobody",
            "LABEL x=y",
            "VOLUME /data",
            "STOPSIGNAL SIGINT",
        ])
        .unwrap();
        assert_eq!(v["Cmd"], json!(["sh"]));
        assert_eq!(v["Entrypoint"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(v["Env"], json!(["A=1", "B=two words", "C=3 4"]));
        assert_eq!(v["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(v["WorkingDir"], "/srv");
        assert_eq!(v["User"], "nobody");
        assert_eq!(v["Labels"], json!({"x": "y"}));
        assert_eq!(v["Volumes"], json!({"/data": {}}));
        assert_eq!(v["StopSignal"], "SIGINT");
    }

    #[test]
    fn errors() {
        assert_eq!(
            apply(&["RUN x"]).unwrap_err().message,
            "RUN is not a valid change command"
        );
        assert!(apply(&["EXPOSE http"]).is_err());
        assert!(apply(&["ENV"]).is_err());
        assert!(apply(&["ENV A=\"x"]).is_err());
    }
}
