//! `docker search`: the registry named by the term's domain (Docker Hub
//! otherwise) is asked through its v1 search, and the answer filtered as
//! dockerd does (`is-official`, `stars`; `is-automated` is deprecated and
//! always false).

use berth_registry_client::search::DEFAULT_SEARCH_LIMIT;
use berth_registry_client::{Credentials, SearchResult};

use super::parse_filters;
use crate::error::{EngineError, Result};
use crate::Engine;

/// Filters `GET /images/search` accepts.
const SEARCH_FILTERS: &[&str] = &["is-automated", "is-official", "stars"];

/// A search's filters, validated.
#[derive(Debug, Default, PartialEq, Eq)]
struct SearchFilters {
    is_official: Option<bool>,
    is_automated: bool,
    min_stars: Option<u64>,
}

/// Docker's `invalid filter 'key=v1,v2'`.
fn invalid_filter(key: &str, values: &[String]) -> EngineError {
    EngineError::invalid(format!("invalid filter '{key}={}'", values.join(",")))
}

/// A boolean filter as Docker's `GetBoolOrDefault` reads it.
fn bool_filter(key: &str, values: &[String]) -> Result<bool> {
    let has = |s: &str| values.iter().any(|v| v == s);
    let (t, f) = (has("1") || has("true"), has("0") || has("false"));
    if t == f {
        return Err(if values.is_empty() {
            EngineError::invalid(format!("invalid filter '{key}'"))
        } else {
            invalid_filter(key, values)
        });
    }
    Ok(t)
}

impl SearchFilters {
    fn parse(raw: Option<&str>) -> Result<SearchFilters> {
        let map = parse_filters(raw)?;
        let mut f = SearchFilters::default();
        for (k, vals) in &map {
            match k.as_str() {
                "is-official" => f.is_official = Some(bool_filter(k, vals)?),
                "is-automated" => f.is_automated = bool_filter(k, vals)?,
                "stars" => {
                    for v in vals {
                        let n: i64 = v.parse().map_err(|_| {
                            EngineError::invalid(format!(
                                "invalid filter 'stars={v}': strconv.Atoi: parsing \"{v}\": invalid syntax"
                            ))
                        })?;
                        let n = u64::try_from(n).unwrap_or(0);
                        f.min_stars = Some(f.min_stars.map_or(n, |m| m.max(n)));
                    }
                }
                _ if !SEARCH_FILTERS.contains(&k.as_str()) => {
                    return Err(EngineError::invalid(format!("invalid filter '{k}'")))
                }
                _ => {}
            }
        }
        Ok(f)
    }

    fn keep(&self, r: &SearchResult) -> bool {
        self.is_official.is_none_or(|o| o == r.is_official)
            && self.min_stars.is_none_or(|s| r.star_count >= s)
    }
}

/// `registry/search-term` → (index, remote name), as Docker splits it: the
/// first part is a registry only when it has a `.` or `:`, or is
/// `localhost`.
pub fn split_search_term(term: &str) -> (String, String) {
    match term.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            let index = match first {
                "index.docker.io" | "registry-1.docker.io" => "docker.io",
                other => other,
            };
            (index.to_string(), rest.to_string())
        }
        _ => ("docker.io".into(), term.to_string()),
    }
}

impl Engine {
    /// `GET /images/search`: `limit` 0 means Docker's 25; `filters` is the
    /// API's JSON. Nothing is asked of the registry when the input is bad.
    pub async fn search_images(
        &self,
        term: &str,
        limit: i64,
        filters: Option<&str>,
        creds: Option<Credentials>,
    ) -> Result<Vec<SearchResult>> {
        let f = SearchFilters::parse(filters)?;
        if f.is_automated {
            // Deprecated: nothing is automated any more.
            return Ok(Vec::new());
        }
        if term.contains("://") {
            return Err(EngineError::invalid(format!(
                "invalid repository name: repository name ({term}) should not have a scheme"
            )));
        }
        let (index, mut remote) = split_search_term(term);
        if index.starts_with('-') || index.ends_with('-') {
            return Err(EngineError::invalid(format!(
                "invalid index name ({index}). Cannot begin or end with a hyphen"
            )));
        }
        let limit = if limit == 0 {
            i64::from(DEFAULT_SEARCH_LIMIT)
        } else {
            limit
        };
        let limit = u32::try_from(limit)
            .ok()
            .filter(|l| (1..=100).contains(l))
            .ok_or_else(|| {
                EngineError::invalid(format!("limit {limit} is outside the range of [1, 100]"))
            })?;
        if index == "docker.io" {
            remote = remote
                .strip_prefix("library/")
                .map(String::from)
                .unwrap_or(remote);
        }
        self.check_allowed(&index)?;
        let client = self.registry_client()?;
        let found = client
            .search(&index, &remote, limit, creds.as_ref())
            .await
            // A 500 whatever the cause, as dockerd answers (a 401 would
            // make the docker CLI prompt for a login).
            .map_err(|e| EngineError::internal(e.to_string()))?;
        Ok(found
            .results
            .into_iter()
            .filter(|r| f.keep(r))
            .map(|r| SearchResult {
                is_automated: false,
                ..r
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_and_filters() {
        assert_eq!(
            split_search_term("127.0.0.1:5000/alu"),
            ("127.0.0.1:5000".into(), "alu".into())
        );
        assert_eq!(
            split_search_term("alumno/busybox"),
            ("docker.io".into(), "alumno/busybox".into())
        );
        assert_eq!(
            split_search_term("localhost/x"),
            ("localhost".into(), "x".into())
        );
        assert_eq!(
            split_search_term("busybox"),
            ("docker.io".into(), "busybox".into())
        );
        let f = SearchFilters::parse(Some(
            r#"{"is-official":{"true":true},"stars":{"3":true,"5":true}}"#,
        ))
        .unwrap();
        assert_eq!(f.is_official, Some(true));
        assert_eq!(f.min_stars, Some(5));
        let e = SearchFilters::parse(Some(r#"{"is-official":["yes"]}"#)).unwrap_err();
        assert_eq!(e.message, "invalid filter 'is-official=yes'");
        let e = SearchFilters::parse(Some(r#"{"stars":["x"]}"#)).unwrap_err();
        assert!(
            e.message.starts_with("invalid filter 'stars=x'"),
            "{}",
            e.message
        );
        let e = SearchFilters::parse(Some(r#"{"color":["red"]}"#)).unwrap_err();
        assert_eq!(e.message, "invalid filter 'color'");
    }
}
