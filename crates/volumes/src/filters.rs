//! `volume ls` and `volume prune` filters, matched as Docker's volume
//! service does: `name` (exact or unanchored regular expression), `driver`
//! (exact), `label` / `label!` (`key` or `key=value`, all must match),
//! `dangling` (decided by the engine, which knows the references) and
//! prune's `all`.

use std::collections::BTreeMap;

use crate::error::{Result, VolumeError};
use crate::store::{Volume, ANONYMOUS_LABEL, LOCAL_DRIVER};
use crate::units::parse_go_bool;

/// Filters accepted by `GET /volumes`.
pub const LIST_FILTERS: &[&str] = &["dangling", "name", "driver", "label"];
/// Filters accepted by `POST /volumes/prune`.
pub const PRUNE_FILTERS: &[&str] = &["label", "label!", "all"];

/// Parsed volume filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// `name=`: exact names or regular expressions.
    pub name: Vec<String>,
    /// `driver=`: exact driver names.
    pub driver: Vec<String>,
    /// `label=`: `key` or `key=value`, all required.
    pub label: Vec<String>,
    /// `label!=`: volumes matching all of these are excluded.
    pub label_not: Vec<String>,
    /// `dangling=`: only unused (`true`) or only used (`false`) volumes.
    pub dangling: Option<bool>,
    /// prune's `all=`: consider named volumes too, not only anonymous ones.
    pub all: bool,
}

fn invalid_filter(key: &str, values: Option<&[String]>) -> VolumeError {
    match values {
        None => VolumeError::invalid(format!("invalid filter '{key}'")),
        Some(v) => {
            let mut v = v.to_vec();
            v.sort();
            VolumeError::invalid(format!("invalid filter '{key}=[{}]'", v.join(" ")))
        }
    }
}

impl Filters {
    fn parse(map: &BTreeMap<String, Vec<String>>, accepted: &[&str]) -> Result<Filters> {
        let mut f = Filters::default();
        for (k, vals) in map {
            if !accepted.contains(&k.as_str()) {
                return Err(invalid_filter(k, None));
            }
            match k.as_str() {
                "name" => f.name = vals.clone(),
                "driver" => f.driver = vals.clone(),
                "label" => f.label = vals.clone(),
                "label!" => f.label_not = vals.clone(),
                "dangling" => {
                    if vals.is_empty() {
                        return Err(invalid_filter(k, None));
                    }
                    let is_true = vals.iter().any(|v| v == "1" || v == "true");
                    let is_false = vals.iter().any(|v| v == "0" || v == "false");
                    if is_true == is_false {
                        return Err(invalid_filter(k, Some(vals)));
                    }
                    f.dangling = Some(is_true);
                }
                _ => {}
            }
        }
        Ok(f)
    }

    /// Parses the `filters` of `GET /volumes` (a map of lists, as the
    /// engine's `parse_filters` gives), refusing unknown keys with Docker's
    /// `invalid filter 'KEY'`.
    pub fn for_list(map: &BTreeMap<String, Vec<String>>) -> Result<Filters> {
        Self::parse(map, LIST_FILTERS)
    }

    /// Parses the `filters` of `POST /volumes/prune`. Before API 1.42 prune
    /// removed every unused volume, so `api_before_1_42` implies `all`.
    pub fn for_prune(
        map: &BTreeMap<String, Vec<String>>,
        api_before_1_42: bool,
    ) -> Result<Filters> {
        let mut f = Self::parse(map, PRUNE_FILTERS)?;
        match map.get("all").map(Vec::as_slice) {
            Some([]) | None => f.all = false,
            Some([one]) => {
                f.all = parse_go_bool(one).ok_or_else(|| {
                    VolumeError::invalid(format!(
                        "invalid filter 'all': strconv.ParseBool: parsing {one:?}: invalid syntax"
                    ))
                })?;
            }
            Some(many) => {
                return Err(VolumeError::invalid(format!(
                    "invalid filter 'all=[{}]': only one value is expected",
                    many.join(" ")
                )))
            }
        }
        if api_before_1_42 {
            f.all = true;
        }
        Ok(f)
    }

    /// Whether `v` passes the name, driver and label filters (`dangling`
    /// is ignored: see [`matches_with_use`](Self::matches_with_use)).
    pub fn matches(&self, v: &Volume) -> bool {
        if !self.driver.is_empty() && !self.driver.contains(&v.driver) {
            return false;
        }
        if !self.name.is_empty() && !self.name.iter().any(|n| name_matches(n, &v.name)) {
            return false;
        }
        let labels = v.label_map();
        if !match_kv_list(&self.label, &labels) {
            return false;
        }
        if !self.label_not.is_empty() && match_kv_list(&self.label_not, &labels) {
            return false;
        }
        true
    }

    /// [`matches`](Self::matches) plus `dangling`, given whether any
    /// container references the volume.
    pub fn matches_with_use(&self, v: &Volume, in_use: bool) -> bool {
        if let Some(d) = self.dangling {
            if d == in_use {
                return false;
            }
        }
        self.matches(v)
    }

    /// Whether `volume prune` with these filters removes `v`: a local,
    /// unused volume without driver options, anonymous unless `all`, that
    /// passes the label filters.
    pub fn prunes(&self, v: &Volume, in_use: bool) -> bool {
        !in_use
            && v.driver == LOCAL_DRIVER
            && !v.has_options()
            && (self.all || v.label_map().contains_key(ANONYMOUS_LABEL))
            && self.matches(v)
    }
}

/// `filters.Args.Match`: an exact match, or the value as an unanchored
/// regular expression (invalid expressions match nothing).
fn name_matches(pattern: &str, name: &str) -> bool {
    pattern == name
        || regex::Regex::new(pattern)
            .map(|re| re.is_match(name))
            .unwrap_or(false)
}

/// `filters.Args.MatchKVList`: every `key[=value]` must be present.
fn match_kv_list(filters: &[String], labels: &BTreeMap<String, String>) -> bool {
    if filters.is_empty() {
        return true;
    }
    if labels.is_empty() {
        return false;
    }
    filters.iter().all(|f| match f.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
        None => labels.contains_key(f.as_str()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(name: &str, labels: &[(&str, &str)], opts: bool) -> Volume {
        Volume {
            created_at: String::new(),
            driver: "local".into(),
            labels: if labels.is_empty() {
                None
            } else {
                Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                )
            },
            mountpoint: String::new(),
            name: name.into(),
            options: opts.then(|| {
                [("type".to_string(), "tmpfs".to_string())]
                    .into_iter()
                    .collect()
            }),
            scope: "local".into(),
            status: None,
            usage_data: None,
        }
    }

    fn map(kv: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn list_filters() {
        let a = vol("data-app", &[("env", "prod"), ("team", "x")], false);
        let b = vol("cache", &[("env", "dev")], false);
        let c = vol("other", &[], false);
        let all = [&a, &b, &c];
        let pick = |f: &Filters| -> Vec<String> {
            all.iter()
                .filter(|v| f.matches(v))
                .map(|v| v.name.clone())
                .collect()
        };
        let f = Filters::for_list(&map(&[("name", &["app"])])).unwrap();
        assert_eq!(pick(&f), ["data-app"]);
        let f = Filters::for_list(&map(&[("name", &["^c", "^o"])])).unwrap();
        assert_eq!(pick(&f), ["cache", "other"]);
        let f = Filters::for_list(&map(&[("name", &["[invalid"])])).unwrap();
        assert!(pick(&f).is_empty());
        let f = Filters::for_list(&map(&[("label", &["env"])])).unwrap();
        assert_eq!(pick(&f), ["data-app", "cache"]);
        let f = Filters::for_list(&map(&[("label", &["env=prod", "team"])])).unwrap();
        assert_eq!(pick(&f), ["data-app"]);
        let f = Filters::for_list(&map(&[("label", &["env=prod", "team=y"])])).unwrap();
        assert!(pick(&f).is_empty());
        let f = Filters::for_list(&map(&[("driver", &["local"])])).unwrap();
        assert_eq!(pick(&f).len(), 3);
        let f = Filters::for_list(&map(&[("driver", &["loc"])])).unwrap();
        assert!(pick(&f).is_empty());
        let f = Filters::for_list(&map(&[("dangling", &["true"])])).unwrap();
        assert_eq!(f.dangling, Some(true));
        assert!(f.matches_with_use(&a, false));
        assert!(!f.matches_with_use(&a, true));
        let f = Filters::for_list(&map(&[("dangling", &["0"])])).unwrap();
        assert!(f.matches_with_use(&a, true));
    }

    #[test]
    fn filter_errors() {
        for (m, want) in [
            (map(&[("foo", &["x"])]), "invalid filter 'foo'"),
            (map(&[("label!", &["x"])]), "invalid filter 'label!'"),
            (
                map(&[("dangling", &["maybe"])]),
                "invalid filter 'dangling=[maybe]'",
            ),
            (
                map(&[("dangling", &["true", "false"])]),
                "invalid filter 'dangling=[false true]'",
            ),
        ] {
            assert_eq!(Filters::for_list(&m).unwrap_err().message(), want);
        }
        for (m, want) in [
            (map(&[("name", &["x"])]), "invalid filter 'name'"),
            (
                map(&[("all", &["maybe"])]),
                "invalid filter 'all': strconv.ParseBool: parsing \"maybe\": invalid syntax",
            ),
            (
                map(&[("all", &["1", "0"])]),
                "invalid filter 'all=[1 0]': only one value is expected",
            ),
        ] {
            assert_eq!(Filters::for_prune(&m, false).unwrap_err().message(), want);
        }
    }

    #[test]
    fn prune_selection() {
        let anon = vol("a1", &[(ANONYMOUS_LABEL, "")], false);
        let named = vol("named", &[("keep", "no")], false);
        let with_opts = vol("tmpfsvol", &[(ANONYMOUS_LABEL, "")], true);
        let f = Filters::for_prune(&BTreeMap::new(), false).unwrap();
        assert!(f.prunes(&anon, false));
        assert!(!f.prunes(&anon, true), "in use");
        assert!(!f.prunes(&named, false), "named without all");
        assert!(
            !f.prunes(&with_opts, false),
            "volumes with options are kept"
        );
        let f = Filters::for_prune(&map(&[("all", &["true"])]), false).unwrap();
        assert!(f.prunes(&named, false));
        let f = Filters::for_prune(&BTreeMap::new(), true).unwrap();
        assert!(f.all && f.prunes(&named, false));
        let f = Filters::for_prune(&map(&[("all", &["1"]), ("label!", &["keep"])]), false).unwrap();
        assert!(!f.prunes(&named, false));
        assert!(f.prunes(&anon, false));
        let f =
            Filters::for_prune(&map(&[("all", &["1"]), ("label", &["keep=no"])]), false).unwrap();
        assert!(f.prunes(&named, false));
        assert!(!f.prunes(&anon, false));
    }
}
