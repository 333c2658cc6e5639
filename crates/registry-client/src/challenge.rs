//! The `WWW-Authenticate` challenge parser (RFC 7235), as distribution's
//! `registry/client/auth/challenge` reads it: several challenges per header
//! and several headers, case-insensitive schemes and parameter names, quoted
//! values with backslash escapes.

use std::collections::BTreeMap;

/// One authentication challenge, e.g.
/// `Bearer realm="https://auth.docker.io/token",service="registry.docker.io"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme, lowercased (`basic`, `bearer`).
    pub scheme: String,
    /// The parameters, names lowercased (`realm`, `service`, `scope`, `error`).
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    /// A parameter by (lowercase) name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// True for the `Bearer` scheme.
    pub fn is_bearer(&self) -> bool {
        self.scheme == "bearer"
    }

    /// True for the `Basic` scheme.
    pub fn is_basic(&self) -> bool {
        self.scheme == "basic"
    }
}

/// Parses every challenge of every `WWW-Authenticate` header value given.
/// Malformed pieces are skipped, as Go's parser does.
pub fn parse_challenges<'a>(headers: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let mut out = Vec::new();
    for h in headers {
        parse_header(h, &mut out);
    }
    out
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t') {
            self.pos += 1;
        }
    }

    fn skip_ws_and_commas(&mut self) {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b',') {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn token(&mut self) -> String {
        let start = self.pos;
        while self.pos < self.s.len() && is_tchar(self.s[self.pos]) {
            self.pos += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.pos]).into_owned()
    }

    /// A quoted string (cursor on the opening quote); `None` when unterminated.
    fn quoted(&mut self) -> Option<String> {
        self.pos += 1;
        let mut v = Vec::new();
        while self.pos < self.s.len() {
            match self.s[self.pos] {
                b'"' => {
                    self.pos += 1;
                    return Some(String::from_utf8_lossy(&v).into_owned());
                }
                b'\\' if self.pos + 1 < self.s.len() => {
                    v.push(self.s[self.pos + 1]);
                    self.pos += 2;
                }
                c => {
                    v.push(c);
                    self.pos += 1;
                }
            }
        }
        None
    }
}

fn parse_header(h: &str, out: &mut Vec<Challenge>) {
    let mut c = Cursor {
        s: h.as_bytes(),
        pos: 0,
    };
    loop {
        c.skip_ws_and_commas();
        let scheme = c.token();
        if scheme.is_empty() {
            return;
        }
        let mut params = BTreeMap::new();
        loop {
            c.skip_ws();
            let start = c.pos;
            let key = c.token();
            if key.is_empty() {
                // Not a parameter: skip the offending byte and stop this challenge.
                if c.peek().is_some() && c.peek() != Some(b',') {
                    c.pos += 1;
                }
                break;
            }
            c.skip_ws();
            if c.peek() != Some(b'=') {
                // The start of the next challenge (or a token68): rewind.
                c.pos = start;
                break;
            }
            c.pos += 1;
            c.skip_ws();
            let value = if c.peek() == Some(b'"') {
                match c.quoted() {
                    Some(v) => v,
                    None => break,
                }
            } else {
                c.token()
            };
            params.insert(key.to_ascii_lowercase(), value);
            c.skip_ws();
            if c.peek() == Some(b',') {
                c.pos += 1;
                continue;
            }
            break;
        }
        out.push(Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params,
        });
        // If the cursor did not move past a token, make progress.
        if c.pos >= c.s.len() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_bearer() {
        let v = parse_challenges([
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        ]);
        assert_eq!(v.len(), 1);
        assert!(v[0].is_bearer());
        assert_eq!(v[0].param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(v[0].param("service"), Some("registry.docker.io"));
        assert_eq!(v[0].param("scope"), Some("repository:library/busybox:pull"));
    }

    #[test]
    fn basic_and_case() {
        let v = parse_challenges([r#"BASIC Realm="Registry Realm""#]);
        assert_eq!(v.len(), 1);
        assert!(v[0].is_basic());
        assert_eq!(v[0].param("realm"), Some("Registry Realm"));
    }

    #[test]
    fn several_challenges_in_one_header_and_several_headers() {
        let v = parse_challenges([
            r#"Basic realm="a, b", Bearer realm="https://x/token",service=reg , scope="repository:a:pull,push""#,
            "Negotiate",
        ]);
        assert_eq!(v.len(), 3, "{v:?}");
        assert_eq!(v[0].scheme, "basic");
        assert_eq!(v[0].param("realm"), Some("a, b"));
        assert_eq!(v[1].scheme, "bearer");
        assert_eq!(v[1].param("service"), Some("reg"));
        assert_eq!(v[1].param("scope"), Some("repository:a:pull,push"));
        assert_eq!(v[2].scheme, "negotiate");
        assert!(v[2].params.is_empty());
    }

    #[test]
    fn escapes_and_errors() {
        let v = parse_challenges([
            r#"Bearer realm="r\"q\\",error="insufficient_scope",error_description="no \"push\"""#,
        ]);
        assert_eq!(v[0].param("realm"), Some(r#"r"q\"#));
        assert_eq!(v[0].param("error"), Some("insufficient_scope"));
        assert_eq!(v[0].param("error_description"), Some(r#"no "push""#));
    }

    #[test]
    fn garbage_does_not_panic() {
        for h in [
            "",
            ",,,",
            "Bearer realm=\"unterminated",
            "Bearer =x",
            "Bearer realm=",
            "\"quoted\"",
            "Basic abc==",
            "Bearer a=b,,c=d",
        ] {
            let _ = parse_challenges([h]);
        }
        let v = parse_challenges(["Bearer a=b,,c=d"]);
        assert_eq!(v[0].param("a"), Some("b"));
    }
}
