//! A strict JSON reader with Go's `encoding/json` rules, just enough to tell
//! exec form (`["a","b"]`) from shell form the way BuildKit does: any syntax
//! error means "not JSON" (shell form), while valid JSON holding something
//! other than strings is an error of its own.

/// A decoded JSON value, reduced to what the callers need.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Str(String),
    Other,
    Object(Vec<(String, Value)>),
}

struct Reader<'a> {
    s: &'a [u8],
    pos: usize,
    depth: usize,
}

type R<T> = Result<T, ()>;

impl Reader<'_> {
    fn ws(&mut self) {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn expect(&mut self, b: u8) -> R<()> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(())
        }
    }

    fn literal(&mut self, lit: &[u8]) -> R<()> {
        if self.s[self.pos..].starts_with(lit) {
            self.pos += lit.len();
            Ok(())
        } else {
            Err(())
        }
    }

    fn value(&mut self) -> R<Value> {
        self.ws();
        self.depth += 1;
        if self.depth > 10000 {
            return Err(());
        }
        let v = match self.peek().ok_or(())? {
            b'"' => Value::Str(self.string()?),
            b'[' => {
                self.array()?;
                Value::Other
            }
            b'{' => self.object()?,
            b't' => {
                self.literal(b"true")?;
                Value::Other
            }
            b'f' => {
                self.literal(b"false")?;
                Value::Other
            }
            b'n' => {
                self.literal(b"null")?;
                Value::Other
            }
            b'-' | b'0'..=b'9' => {
                self.number()?;
                Value::Other
            }
            _ => return Err(()),
        };
        self.depth -= 1;
        Ok(v)
    }

    fn array(&mut self) -> R<Vec<Value>> {
        self.expect(b'[')?;
        let mut out = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(out);
        }
        loop {
            out.push(self.value()?);
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(out);
                }
                _ => return Err(()),
            }
        }
    }

    fn object(&mut self) -> R<Value> {
        self.expect(b'{')?;
        let mut out = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(out));
        }
        loop {
            self.ws();
            let k = self.string()?;
            self.ws();
            self.expect(b':')?;
            let v = self.value()?;
            out.push((k, v));
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(out));
                }
                _ => return Err(()),
            }
        }
    }

    fn number(&mut self) -> R<()> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                while matches!(self.peek(), Some(b'0'..=b'9')) {
                    self.pos += 1;
                }
            }
            _ => return Err(()),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(());
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
        }
        if matches!(self.peek(), Some(b'e') | Some(b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+') | Some(b'-')) {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(());
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
        }
        Ok(())
    }

    fn hex4(&mut self) -> R<u32> {
        let h = self.s.get(self.pos..self.pos + 4).ok_or(())?;
        let h = std::str::from_utf8(h).map_err(|_| ())?;
        let v = u32::from_str_radix(h, 16).map_err(|_| ())?;
        if !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(());
        }
        self.pos += 4;
        Ok(v)
    }

    fn string(&mut self) -> R<String> {
        self.expect(b'"')?;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let b = self.peek().ok_or(())?;
            match b {
                b'"' => {
                    self.pos += 1;
                    return Ok(String::from_utf8_lossy(&out).into_owned());
                }
                b'\\' => {
                    self.pos += 1;
                    let e = self.peek().ok_or(())?;
                    self.pos += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            if (0xd800..0xdc00).contains(&hi) {
                                // A surrogate pair, or U+FFFD when unpaired.
                                let save = self.pos;
                                if self.s[self.pos..].starts_with(b"\\u") {
                                    self.pos += 2;
                                    if let Ok(lo) = self.hex4() {
                                        if (0xdc00..0xe000).contains(&lo) {
                                            let c = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
                                            char::from_u32(c).unwrap_or('\u{fffd}')
                                        } else {
                                            self.pos = save;
                                            '\u{fffd}'
                                        }
                                    } else {
                                        self.pos = save;
                                        '\u{fffd}'
                                    }
                                } else {
                                    '\u{fffd}'
                                }
                            } else {
                                char::from_u32(hi).unwrap_or('\u{fffd}')
                            }
                        }
                        _ => return Err(()),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                b if b < 0x20 => return Err(()),
                b => {
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
    }
}

/// Parses a whole-input JSON array; `Some(s)` for string elements, `None`
/// for any other value. `Err` on any syntax error (including trailing data).
pub(crate) fn parse_array(input: &str) -> Result<Vec<Option<String>>, ()> {
    let mut r = Reader {
        s: input.as_bytes(),
        pos: 0,
        depth: 0,
    };
    r.ws();
    let values = r.array()?;
    r.ws();
    if r.pos != r.s.len() {
        return Err(());
    }
    Ok(values
        .into_iter()
        .map(|v| match v {
            Value::Str(s) => Some(s),
            _ => None,
        })
        .collect())
}

/// When `input` is exactly one JSON object whose `key` is a string, that
/// string (BuildKit's JSON form of the `syntax` directive).
pub(crate) fn parse_object_string_field(input: &str, key: &str) -> Option<String> {
    let mut r = Reader {
        s: input.as_bytes(),
        pos: 0,
        depth: 0,
    };
    r.ws();
    let v = r.value().ok()?;
    r.ws();
    if r.pos != r.s.len() {
        return None;
    }
    match v {
        Value::Object(fields) => {
            fields
                .into_iter()
                .rev()
                .find(|(k, _)| k == key)
                .and_then(|(_, v)| match v {
                    Value::Str(s) => Some(s),
                    _ => None,
                })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_arrays() {
        let cases: &[(&str, &[&str])] = &[
            ("[]", &[]),
            (r#"[""]"#, &[""]),
            (r#"["a"]"#, &["a"]),
            (r#"["a","b"]"#, &["a", "b"]),
            (r#"[ "a", "b" ]"#, &["a", "b"]),
            ("[\t\"a\",\t\"b\"\t]", &["a", "b"]),
            ("\t[\t\"a\",\t\"b\"\t]\t", &["a", "b"]),
            (
                r#"["abc 123", "♥", "☃", "\" \\ \/ \b \f \n \r \t \u0000"]"#,
                &["abc 123", "♥", "☃", "\" \\ / \u{8} \u{c} \n \r \t \u{0}"],
            ),
            (r#"["\ud83d\ude00", "\ud800"]"#, &["😀", "\u{fffd}"]),
        ];
        for (input, want) in cases {
            let got: Vec<String> = parse_array(input)
                .unwrap()
                .into_iter()
                .map(Option::unwrap)
                .collect();
            assert_eq!(got, *want, "{input}");
        }
    }

    #[test]
    fn non_strings_and_errors() {
        for input in [
            r#"["a",42,"b"]"#,
            r#"["a",123.456,"b"]"#,
            r#"["a",{},"b"]"#,
            r#"["a",{"c": "d"},"b"]"#,
            r#"["a",["c"],"b"]"#,
            r#"["a",true,"b"]"#,
            r#"["a",false,"b"]"#,
            r#"["a",null,"b"]"#,
        ] {
            let v = parse_array(input).unwrap();
            assert!(v.iter().any(Option::is_none), "{input}");
        }
        for bad in [
            r#"["a""#,
            r#"['a']"#,
            r#"["a"] x"#,
            "[01]",
            r#"["a",]"#,
            "[1.]",
            "[\"\u{1}\"]",
        ] {
            assert!(parse_array(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn object_field() {
        assert_eq!(
            parse_object_string_field(r#"{"syntax": "foo", "bar": ["abc"]}"#, "syntax").as_deref(),
            Some("foo")
        );
        assert_eq!(
            parse_object_string_field(r#"{"syntax": "foo""#, "syntax"),
            None
        );
        assert_eq!(
            parse_object_string_field("{\"syntax\": \"foo\"}\n# syntax=bar", "syntax"),
            None
        );
    }
}
