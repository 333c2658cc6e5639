//! Query strings as the Engine API uses them: repeated keys (`names=a&names=b`,
//! `changes=...`), and Go's lenient booleans (`1`, `true`, `True`).

use berth_engine::EngineError;

/// The decoded query parameters of a request, in order.
#[derive(Debug, Default, Clone)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Decodes a raw query string.
    pub fn parse(raw: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A boolean parameter: absent or empty is false; `1`/`true` (any case)
    /// is true; `0`/`false` is false; anything else is a 400.
    pub fn bool(&self, key: &str) -> Result<bool, EngineError> {
        match self.get(key) {
            None | Some("") => Ok(false),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" => Ok(true),
                "0" | "false" | "no" => Ok(false),
                _ => Err(EngineError::invalid(format!(
                    "invalid value for {key}: {v:?}: expected a boolean (1, 0, true, false)"
                ))),
            },
        }
    }

    /// A nanosecond timestamp parameter (`since`, `until`): unix seconds with
    /// optional fraction, as the docker CLI sends them.
    pub fn timestamp_nanos(&self, key: &str) -> Result<Option<i128>, EngineError> {
        let Some(v) = self.get(key).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let bad = || {
            EngineError::invalid(format!(
                "invalid value for {key}: {v:?}: expected a unix timestamp"
            ))
        };
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
            return Ok(Some(
                i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos()),
            ));
        }
        let (secs, frac) = v.split_once('.').unwrap_or((v, ""));
        let secs: i128 = secs.parse().map_err(|_| bad())?;
        let mut nanos: i128 = 0;
        if !frac.is_empty() {
            if !frac.chars().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            let f: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
            nanos = f.parse().map_err(|_| bad())?;
        }
        Ok(Some(secs * 1_000_000_000 + nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_bools() {
        let q = Query::parse(Some("names=a&names=b%3A1&all=1&x=True&bad=maybe"));
        assert_eq!(q.all("names"), vec!["a", "b:1"]);
        assert!(q.bool("all").unwrap());
        assert!(q.bool("x").unwrap());
        assert!(!q.bool("missing").unwrap());
        assert!(q.bool("bad").is_err());
    }

    #[test]
    fn timestamps() {
        let q = Query::parse(Some("since=1700000000.5&until=12&bad=x1"));
        assert_eq!(
            q.timestamp_nanos("since").unwrap(),
            Some(1_700_000_000_500_000_000)
        );
        assert_eq!(q.timestamp_nanos("until").unwrap(), Some(12_000_000_000));
        assert!(q.timestamp_nanos("bad").is_err());
        assert_eq!(q.timestamp_nanos("none").unwrap(), None);
    }
}
