//! YAML → generic JSON value: parsing of compose files (several documents
//! per file), `<<` merge keys, non-string keys, and the `!reset` /
//! `!override` tags (recorded as paths for the merge step).

use serde::Deserialize;
use serde_json::{Map, Value};
use serde_norway::Value as Yaml;

use crate::error::{render_path, ComposeError, Result};

/// One YAML document of a compose file, as a generic JSON value.
#[derive(Debug, Clone)]
pub(crate) struct Document {
    /// The document; always a mapping (an empty document is an empty mapping).
    pub value: Value,
    /// Paths tagged `!reset`: removed from the files merged before this one.
    pub resets: Vec<Vec<String>>,
    /// Paths tagged `!override`: replace (not merge with) earlier files.
    pub overrides: Vec<Vec<String>>,
}

/// Parses every document of `text`; `file` names the source in errors.
pub(crate) fn parse_documents(text: &str, file: &str) -> Result<Vec<Document>> {
    let parse_err = |message: String| ComposeError::Parse {
        file: file.to_string(),
        message,
    };
    let mut docs = Vec::new();
    for de in serde_norway::Deserializer::from_str(text) {
        let yaml = Yaml::deserialize(de).map_err(|e| parse_err(e.to_string()))?;
        let mut doc = Document {
            value: Value::Null,
            resets: Vec::new(),
            overrides: Vec::new(),
        };
        let mut path = Vec::new();
        let value = convert(yaml, &mut path, &mut doc).map_err(parse_err)?;
        doc.value = match value {
            Some(Value::Null) | None => Value::Object(Map::new()),
            Some(v @ Value::Object(_)) => v,
            Some(_) => return Err(parse_err("top-level object must be a mapping".into())),
        };
        docs.push(doc);
    }
    if docs.is_empty() {
        docs.push(Document {
            value: Value::Object(Map::new()),
            resets: Vec::new(),
            overrides: Vec::new(),
        });
    }
    Ok(docs)
}

/// Converts one node; `None` means the node was tagged `!reset` and is dropped.
fn convert(
    yaml: Yaml,
    path: &mut Vec<String>,
    doc: &mut Document,
) -> std::result::Result<Option<Value>, String> {
    Ok(Some(match yaml {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .unwrap_or_else(|| Value::String(n.to_string()))
            }
        }
        Yaml::String(s) => Value::String(s),
        Yaml::Sequence(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                path.push(format!("[{}]", out.len()));
                let converted = convert(item, path, doc);
                path.pop();
                if let Some(v) = converted? {
                    out.push(v);
                }
            }
            Value::Array(out)
        }
        Yaml::Mapping(mapping) => {
            let mut out = Map::new();
            let mut merges = Vec::new();
            for (key, value) in mapping {
                let key = match key {
                    Yaml::String(s) => s,
                    other => {
                        let shown = serde_norway::to_string(&other)
                            .map(|s| s.trim_end().to_string())
                            .unwrap_or_default();
                        let location = if path.is_empty() {
                            "at top level".to_string()
                        } else {
                            format!("in {}", render_path(path))
                        };
                        return Err(format!("non-string key {location}: {shown}"));
                    }
                };
                if key == "<<" {
                    merges.push(value);
                    continue;
                }
                path.push(key.clone());
                let converted = convert(value, path, doc);
                path.pop();
                if let Some(v) = converted? {
                    out.insert(key, v);
                }
            }
            // YAML merge keys: explicit keys win, then earlier merged maps.
            for merge in merges {
                let sources = match merge {
                    Yaml::Sequence(items) => items,
                    other => vec![other],
                };
                for source in sources {
                    match convert(source, path, doc)? {
                        Some(Value::Object(m)) => {
                            for (k, v) in m {
                                out.entry(k).or_insert(v);
                            }
                        }
                        Some(Value::Null) | None => {}
                        Some(_) => {
                            return Err(format!(
                                "merge key `<<` in {} must refer to a mapping",
                                render_path(path)
                            ))
                        }
                    }
                }
            }
            Value::Object(out)
        }
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            match tag.as_str() {
                "!reset" => {
                    doc.resets.push(path.clone());
                    return Ok(None);
                }
                "!override" => {
                    doc.overrides.push(path.clone());
                    return convert(tagged.value, path, doc);
                }
                _ => return convert(tagged.value, path, doc),
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_keys_and_anchors() {
        let docs = parse_documents(
            "x-common: &common\n  image: busybox\n  restart: always\nservices:\n  a:\n    <<: *common\n    restart: \"no\"\n",
            "f.yml",
        )
        .unwrap();
        assert_eq!(
            docs[0].value["services"]["a"],
            json!({"restart": "no", "image": "busybox"})
        );
    }

    #[test]
    fn reset_and_override_tags_are_recorded() {
        let docs = parse_documents(
            "services:\n  a:\n    ports: !reset []\n    environment: !override\n      A: b\n",
            "f.yml",
        )
        .unwrap();
        let d = &docs[0];
        assert_eq!(d.resets, vec![vec!["services", "a", "ports"]]);
        assert_eq!(d.overrides, vec![vec!["services", "a", "environment"]]);
        assert!(d.value["services"]["a"].get("ports").is_none());
        assert_eq!(d.value["services"]["a"]["environment"], json!({"A": "b"}));
    }

    #[test]
    fn non_string_key_and_bad_top_level() {
        let err = parse_documents("services:\n  a:\n    1: x\n", "f.yml").unwrap_err();
        assert!(
            err.to_string().contains("non-string key in services.a: 1"),
            "{err}"
        );
        let err = parse_documents("- a\n- b\n", "f.yml").unwrap_err();
        assert!(err
            .to_string()
            .contains("top-level object must be a mapping"));
        let err = parse_documents("services: [\n", "f.yml").unwrap_err();
        assert!(
            err.to_string().starts_with("failed to parse f.yml:"),
            "{err}"
        );
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = parse_documents("services:\n  a: {}\n  a: {}\n", "f.yml").unwrap_err();
        assert!(err.to_string().contains("duplicate"), "{err}");
    }

    #[test]
    fn multiple_documents_and_empty() {
        let docs = parse_documents("name: a\n---\nname: b\n", "f.yml").unwrap();
        assert_eq!(docs.len(), 2);
        let docs = parse_documents("", "f.yml").unwrap();
        assert_eq!(docs[0].value, json!({}));
    }
}
