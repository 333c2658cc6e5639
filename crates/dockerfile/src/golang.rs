//! Small ports of the Go standard library behaviour BuildKit relies on, so
//! results and error texts match Docker byte for byte: `strconv.Quote`,
//! `path.Clean`/`path.Join`, `path/filepath.Match`, `time.ParseDuration`,
//! `strconv.ParseBool`/`ParseInt`/`ParseUint`, `unicode.IsSpace`, go-units'
//! `RAMInBytes`, go-csvvalue's `Fields` and BuildKit's `suggest` helper.

use std::fmt::Write as _;
use std::time::Duration;

/// `unicode.IsSpace`: Go and Rust agree on the White_Space property.
pub(crate) fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// `unicode.IsSpace(rune(b))` applied to a single byte (Latin-1 view), as
/// BuildKit's byte-oriented loops do.
pub(crate) fn is_space_byte(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0x85 | 0xa0)
}

/// `unicode.IsDigit` (decimal digits only).
pub(crate) fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || (c > '\u{ff}' && c.is_numeric())
}

/// `unicode.IsLetter`.
pub(crate) fn is_letter(c: char) -> bool {
    c.is_alphabetic()
}

/// Approximation of `unicode.IsPrint` (graphic characters and ASCII space).
fn is_print(c: char) -> bool {
    c == ' ' || !(c.is_control() || c.is_whitespace() || ('\u{200b}'..='\u{200f}').contains(&c))
}

/// `strconv.Quote`: a double-quoted Go string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if is_print(c) => out.push(c),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// Go's `%q` applied to a `[]string`: `["a" "b"]`.
pub fn quote_list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", inner.join(" "))
}

/// `path.Clean`: lexical cleaning of a slash-separated path.
pub fn path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".to_string();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for comp in p.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                if let Some(last) = parts.last() {
                    if *last != ".." {
                        parts.pop();
                        continue;
                    }
                }
                if !rooted {
                    parts.push("..");
                }
            }
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    if rooted {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_string()
    } else {
        joined
    }
}

/// `path.Join`: joins the non-empty elements with `/` and cleans the result.
pub fn path_join(parts: &[&str]) -> String {
    let non_empty: Vec<&str> = parts.iter().copied().filter(|p| !p.is_empty()).collect();
    if non_empty.is_empty() {
        return String::new();
    }
    path_clean(&non_empty.join("/"))
}

/// `path.Dir`.
pub fn path_dir(p: &str) -> String {
    let dir = match p.rfind('/') {
        Some(i) => &p[..=i],
        None => "",
    };
    path_clean(dir)
}

/// `path.Base`.
pub fn path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".into();
    }
    match trimmed.rfind('/') {
        Some(i) => trimmed[i + 1..].to_string(),
        None => trimmed.to_string(),
    }
}

/// The error of Go's `filepath.Match` for a malformed pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern")]
pub struct BadPattern;

fn decode_rune(b: &[u8]) -> (char, usize) {
    let max = b.len().min(4);
    for n in 1..=max {
        if let Ok(s) = std::str::from_utf8(&b[..n]) {
            if let Some(c) = s.chars().next() {
                return (c, n);
            }
        }
    }
    ('\u{fffd}', 1)
}

/// Go's `path/filepath.Match` on Unix: `*` (not across `/`), `?`, `[...]`
/// classes with ranges and `^` negation, `\` escapes. `**` is not special.
pub fn filepath_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let mut pattern = pattern.as_bytes();
    let mut name = name.as_bytes();
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            return Ok(!name.contains(&b'/'));
        }
        let (t, ok, err) = match_chunk(chunk, name);
        if ok && (t.is_empty() || !pattern.is_empty()) {
            name = t;
            continue;
        }
        if let Some(e) = err {
            return Err(e);
        }
        if star {
            let mut i = 0;
            while i < name.len() && name[i] != b'/' {
                let (t, ok, err) = match_chunk(chunk, &name[i + 1..]);
                if ok {
                    if pattern.is_empty() && !t.is_empty() {
                        i += 1;
                        continue;
                    }
                    name = t;
                    continue 'pattern;
                }
                if let Some(e) = err {
                    return Err(e);
                }
                i += 1;
            }
        }
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            if let (_, _, Some(e)) = match_chunk(chunk, b"") {
                return Err(e);
            }
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

fn scan_chunk(mut pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let mut star = false;
    while !pattern.is_empty() && pattern[0] == b'*' {
        pattern = &pattern[1..];
        star = true;
    }
    let mut inrange = false;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'\\' if i + 1 < pattern.len() => i += 1,
            b'[' => inrange = true,
            b']' => inrange = false,
            b'*' if !inrange => break,
            _ => {}
        }
        i += 1;
    }
    (star, &pattern[..i], &pattern[i..])
}

fn match_chunk<'a>(mut chunk: &[u8], mut s: &'a [u8]) -> (&'a [u8], bool, Option<BadPattern>) {
    let mut failed = false;
    while !chunk.is_empty() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match chunk[0] {
            b'[' => {
                let mut r = '\0';
                if !failed {
                    let (c, n) = decode_rune(s);
                    r = c;
                    s = &s[n..];
                }
                chunk = &chunk[1..];
                let mut negated = false;
                if !chunk.is_empty() && chunk[0] == b'^' {
                    negated = true;
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut nrange = 0;
                loop {
                    if !chunk.is_empty() && chunk[0] == b']' && nrange > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (lo, rest) = match get_esc(chunk) {
                        Ok(v) => v,
                        Err(e) => return (b"", false, Some(e)),
                    };
                    chunk = rest;
                    let mut hi = lo;
                    if chunk[0] == b'-' {
                        let (h, rest) = match get_esc(&chunk[1..]) {
                            Ok(v) => v,
                            Err(e) => return (b"", false, Some(e)),
                        };
                        hi = h;
                        chunk = rest;
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    nrange += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            b'?' => {
                if !failed {
                    if s[0] == b'/' {
                        failed = true;
                    }
                    let (_, n) = decode_rune(s);
                    s = &s[n..];
                }
                chunk = &chunk[1..];
            }
            c => {
                let mut lit = c;
                if c == b'\\' {
                    chunk = &chunk[1..];
                    if chunk.is_empty() {
                        return (b"", false, Some(BadPattern));
                    }
                    lit = chunk[0];
                }
                if !failed {
                    if lit != s[0] {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
        }
    }
    if failed {
        return (b"", false, None);
    }
    (s, true, None)
}

fn get_esc(mut chunk: &[u8]) -> Result<(char, &[u8]), BadPattern> {
    if chunk.is_empty() || chunk[0] == b'-' || chunk[0] == b']' {
        return Err(BadPattern);
    }
    if chunk[0] == b'\\' {
        chunk = &chunk[1..];
        if chunk.is_empty() {
            return Err(BadPattern);
        }
    }
    let (r, n) = decode_rune(chunk);
    if r == '\u{fffd}' && n == 1 && chunk[0] != 0xef {
        return Err(BadPattern);
    }
    let rest = &chunk[n..];
    if rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((r, rest))
}

/// `time.ParseDuration` with Go's error texts; the result is in nanoseconds
/// and may be negative.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let orig = s;
    let invalid = || format!("time: invalid duration {}", quote(orig));
    let mut s = s;
    let mut neg = false;
    if let Some(c) = s.chars().next() {
        if c == '-' || c == '+' {
            neg = c == '-';
            s = &s[1..];
        }
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let int_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let int_part = &s[..int_len];
        s = &s[int_len..];
        let pre = int_len > 0;
        let mut frac_part = "";
        let mut post = false;
        if s.starts_with('.') {
            s = &s[1..];
            let frac_len = s.bytes().take_while(|c| c.is_ascii_digit()).count();
            frac_part = &s[..frac_len];
            s = &s[frac_len..];
            post = frac_len > 0;
        }
        if !pre && !post {
            return Err(invalid());
        }
        let unit_len = s
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map(|(i, _)| i)
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {}", quote(orig)));
        }
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        let mult: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    quote(unit),
                    quote(orig)
                ))
            }
        };
        let int_val: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut v = int_val.checked_mul(mult).ok_or_else(invalid)?;
        if !frac_part.is_empty() {
            let mut scale: f64 = 1.0;
            let mut f: f64 = 0.0;
            for d in frac_part.bytes().take(18) {
                f = f * 10.0 + f64::from(d - b'0');
                scale *= 10.0;
            }
            v += (f * (mult as f64 / scale)) as u128;
        }
        total = total.checked_add(v).ok_or_else(invalid)?;
        if total > i64::MAX as u128 {
            return Err(invalid());
        }
    }
    let total = total as i64;
    Ok(if neg { -total } else { total })
}

/// Go's `time.Duration.String()`: `1m30s`, `500ms`, `0s`.
pub fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000_000_000 {
        let (unit, div) = if ns < 1_000 {
            ("ns", 1u128)
        } else if ns < 1_000_000 {
            ("\u{b5}s", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{}", frac_string(ns, div), unit);
    }
    let mut out = String::new();
    let hours = ns / 3_600_000_000_000;
    let rem = ns % 3_600_000_000_000;
    let mins = rem / 60_000_000_000;
    let secs_ns = rem % 60_000_000_000;
    if hours > 0 {
        let _ = write!(out, "{hours}h");
    }
    if hours > 0 || mins > 0 {
        let _ = write!(out, "{mins}m");
    }
    let _ = write!(out, "{}s", frac_string(secs_ns, 1_000_000_000));
    out
}

fn frac_string(v: u128, div: u128) -> String {
    let whole = v / div;
    let frac = v % div;
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let mut f = format!("{:0width$}", frac, width = width);
    while f.ends_with('0') {
        f.pop();
    }
    format!("{whole}.{f}")
}

/// `strconv.ParseBool`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Why a Go `strconv` number parse failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumError {
    /// `invalid syntax`
    Syntax,
    /// `value out of range`
    Range,
}

impl NumError {
    /// The Go wording: `strconv.ParseInt: parsing "x": invalid syntax`.
    pub fn message(self, func: &str, input: &str) -> String {
        let why = match self {
            NumError::Syntax => "invalid syntax",
            NumError::Range => "value out of range",
        };
        format!("strconv.{func}: parsing {}: {why}", quote(input))
    }
}

/// `strconv.ParseUint(s, base, bits)` for an explicit base (no prefixes, no
/// underscores, no sign).
pub fn parse_uint(s: &str, base: u32, bits: u32) -> Result<u64, NumError> {
    if s.is_empty() {
        return Err(NumError::Syntax);
    }
    let max: u128 = if bits >= 64 {
        u64::MAX as u128
    } else {
        (1u128 << bits) - 1
    };
    let mut v: u128 = 0;
    let mut overflow = false;
    for c in s.chars() {
        let d = c.to_digit(base).ok_or(NumError::Syntax)?;
        if !overflow {
            v = v * base as u128 + d as u128;
            if v > max {
                overflow = true;
            }
        }
    }
    if overflow {
        return Err(NumError::Range);
    }
    Ok(v as u64)
}

/// `strconv.ParseInt(s, 10, bits)`.
pub fn parse_int(s: &str, bits: u32) -> Result<i64, NumError> {
    if s.is_empty() {
        return Err(NumError::Syntax);
    }
    let (neg, digits) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let u = parse_uint(digits, 10, 64)?;
    let cutoff: u64 = 1u64 << (bits - 1);
    if !neg && u >= cutoff {
        return Err(NumError::Range);
    }
    if neg && u > cutoff {
        return Err(NumError::Range);
    }
    Ok(if neg { (-(u as i128)) as i64 } else { u as i64 })
}

/// go-units `RAMInBytes`: `64m`, `1.5g`, `1024`, `2KiB` (binary multiples).
pub fn ram_in_bytes(s: &str) -> Result<i64, String> {
    let sep = s.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ');
    let Some(sep) = sep else {
        return Err(format!("invalid size: '{s}'"));
    };
    let (num, sfx) = if s.as_bytes()[sep] != b' ' {
        (&s[..=sep], &s[sep + 1..])
    } else {
        (&s[..sep], &s[sep + 1..])
    };
    let size: f64 = num
        .parse()
        .map_err(|_| format!("strconv.ParseFloat: parsing {}: invalid syntax", quote(num)))?;
    if size < 0.0 {
        return Err(format!("invalid size: '{s}'"));
    }
    if sfx.is_empty() {
        return Ok(size as i64);
    }
    let bad = || format!("invalid suffix: '{}'", sfx.to_lowercase());
    if sfx.len() > 3 {
        return Err(bad());
    }
    let lower = sfx.to_lowercase();
    let b = lower.as_bytes();
    if b[0] == b'b' {
        if b.len() > 1 {
            return Err(bad());
        }
        return Ok(size as i64);
    }
    let mul: f64 = match b[0] {
        b'k' => 1024.0,
        b'm' => 1024.0 * 1024.0,
        b'g' => 1024.0 * 1024.0 * 1024.0,
        b't' => 1024.0f64.powi(4),
        b'p' => 1024.0f64.powi(5),
        _ => return Err(bad()),
    };
    if (b.len() == 2 && b[1] != b'b') || (b.len() == 3 && &lower[1..] != "ib") {
        return Err(bad());
    }
    Ok((size * mul) as i64)
}

/// go-csvvalue `Fields`: one CSV record with `,` separators and `"` quoting.
pub fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut line = line;
    if let Some(stripped) = line.strip_suffix('\n') {
        line = stripped.strip_suffix('\r').unwrap_or(stripped);
    }
    if line.is_empty() {
        return Err("EOF".into());
    }
    let err =
        |pos: usize, what: &str| format!("parse error on line 1, column {}: {}", pos + 1, what);
    let bare = "bare \" in non-quoted-field";
    let quote_err = "extraneous or missing \" in quoted-field";
    let mut out: Vec<String> = Vec::new();
    let mut pos = 0usize;
    let mut rest = line;
    'field: loop {
        if rest.is_empty() || !rest.starts_with('"') {
            let i = rest.find(',');
            let field = match i {
                Some(i) => &rest[..i],
                None => rest,
            };
            if let Some(j) = field.find('"') {
                return Err(err(pos + j, bare));
            }
            out.push(field.to_string());
            match i {
                Some(i) => {
                    rest = &rest[i + 1..];
                    pos += i + 1;
                    continue;
                }
                None => break,
            }
        }
        rest = &rest[1..];
        pos += 1;
        let mut half_open = false;
        loop {
            match rest.find('"') {
                Some(i) => {
                    if !half_open {
                        out.push(rest[..i].to_string());
                    } else if let Some(last) = out.last_mut() {
                        last.push_str(&rest[..i]);
                    }
                    rest = &rest[i + 1..];
                    pos += i + 1;
                    if rest.starts_with('"') {
                        if let Some(last) = out.last_mut() {
                            last.push('"');
                        }
                        rest = &rest[1..];
                        pos += 1;
                        half_open = true;
                    } else if rest.starts_with(',') {
                        rest = &rest[1..];
                        pos += 1;
                        continue 'field;
                    } else if rest.is_empty() {
                        break 'field;
                    } else {
                        return Err(err(pos - 1, quote_err));
                    }
                }
                None => return Err(err(pos, quote_err)),
            }
        }
    }
    Ok(out)
}

/// Levenshtein distance over characters (agext/levenshtein defaults).
pub(crate) fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// BuildKit's `suggest.Search`: the closest option (distance < 3), with the
/// case of `val` when matching case-insensitively. Options are tried in
/// sorted order so ties resolve the same way every time.
pub(crate) fn suggest(val: &str, options: &[&str], case_sensitive: bool) -> Option<String> {
    let cmp_val = if case_sensitive {
        val.to_string()
    } else {
        val.to_lowercase()
    };
    let mut sorted: Vec<&str> = options.to_vec();
    sorted.sort_unstable();
    let mut best: Option<String> = None;
    let mut mindist = 3;
    for opt in sorted {
        let o = if case_sensitive {
            opt.to_string()
        } else {
            opt.to_lowercase()
        };
        if cmp_val == o {
            return None;
        }
        let d = levenshtein(&cmp_val, &o);
        if d < mindist {
            mindist = d;
            best = Some(if case_sensitive {
                o
            } else if val == val.to_lowercase() {
                o.to_lowercase()
            } else if val == val.to_uppercase() {
                o.to_uppercase()
            } else {
                o
            });
        }
    }
    best
}

/// Appends ` (did you mean X?)` when a close option exists.
pub(crate) fn with_suggestion(
    msg: String,
    val: &str,
    options: &[&str],
    case_sensitive: bool,
) -> String {
    match suggest(val, options, case_sensitive) {
        Some(m) => format!("{msg} (did you mean {m}?)"),
        None => msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_matches_go() {
        assert_eq!(quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(quote("tab\there\n"), r#""tab\there\n""#);
        assert_eq!(quote("\u{0}"), r#""\x00""#);
        assert_eq!(quote("안녕"), "\"안녕\"");
        assert_eq!(quote_list(&["a".into(), "b c".into()]), r#"["a" "b c"]"#);
    }

    #[test]
    fn clean_and_join() {
        for (i, o) in [
            ("", "."),
            ("/", "/"),
            ("a/b/../c", "a/c"),
            ("../../x", "../../x"),
            ("/../x", "/x"),
            ("./a/./b/", "a/b"),
            ("a//b", "a/b"),
            ("a/..", "."),
        ] {
            assert_eq!(path_clean(i), o, "{i}");
        }
        assert_eq!(path_join(&["/app", "foo/"]), "/app/foo");
        assert_eq!(path_join(&["", ""]), "");
        assert_eq!(path_dir("a/b/c"), "a/b");
        assert_eq!(path_dir("c"), ".");
        assert_eq!(path_base("/a/b/"), "b");
    }

    #[test]
    fn filepath_match_table() {
        // Go's path/filepath match_test.go cases (Unix).
        let cases: &[(&str, &str, Result<bool, BadPattern>)] = &[
            ("abc", "abc", Ok(true)),
            ("*", "abc", Ok(true)),
            ("*c", "abc", Ok(true)),
            ("a*", "a", Ok(true)),
            ("a*", "abc", Ok(true)),
            ("a*", "ab/c", Ok(false)),
            ("a*/b", "abc/b", Ok(true)),
            ("a*/b", "a/c/b", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Ok(false)),
            ("a*b?c*x", "abxbbxdbxebxczzx", Ok(true)),
            ("a*b?c*x", "abxbbxdbxebxczzy", Ok(false)),
            ("ab[c]", "abc", Ok(true)),
            ("ab[b-d]", "abc", Ok(true)),
            ("ab[e-g]", "abc", Ok(false)),
            ("ab[^c]", "abc", Ok(false)),
            ("ab[^b-d]", "abc", Ok(false)),
            ("ab[^e-g]", "abc", Ok(true)),
            ("a\\*b", "a*b", Ok(true)),
            ("a\\*b", "ab", Ok(false)),
            ("a?b", "a☺b", Ok(true)),
            ("a[^a]b", "a☺b", Ok(true)),
            ("a???b", "a☺b", Ok(false)),
            ("a[^a][^a][^a]b", "a☺b", Ok(false)),
            ("[a-ζ]*", "α", Ok(true)),
            ("*[a-ζ]", "A", Ok(false)),
            ("a?b", "a/b", Ok(false)),
            ("a*b", "a/b", Ok(false)),
            ("[\\]a]", "]", Ok(true)),
            ("[\\-]", "-", Ok(true)),
            ("[x\\-]", "x", Ok(true)),
            ("[x\\-]", "-", Ok(true)),
            ("[x\\-]", "z", Ok(false)),
            ("[\\-x]", "x", Ok(true)),
            ("[\\-x]", "-", Ok(true)),
            ("[\\-x]", "a", Ok(false)),
            ("[]a]", "]", Err(BadPattern)),
            ("[-]", "-", Err(BadPattern)),
            ("[x-]", "x", Err(BadPattern)),
            ("[x-]", "-", Err(BadPattern)),
            ("[x-]", "z", Err(BadPattern)),
            ("[-x]", "x", Err(BadPattern)),
            ("[-x]", "-", Err(BadPattern)),
            ("[-x]", "a", Err(BadPattern)),
            ("\\", "a", Err(BadPattern)),
            ("[a-b-c]", "a", Err(BadPattern)),
            ("[", "a", Err(BadPattern)),
            ("[^", "a", Err(BadPattern)),
            ("[^bc", "a", Err(BadPattern)),
            ("a[", "a", Err(BadPattern)),
            ("a[", "ab", Err(BadPattern)),
            ("a[", "x", Err(BadPattern)),
            ("a/b[", "x", Err(BadPattern)),
            ("*x", "xxx", Ok(true)),
        ];
        for (p, n, want) in cases {
            assert_eq!(filepath_match(p, n), *want, "Match({p:?}, {n:?})");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), 30_000_000_000);
        assert_eq!(parse_duration("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(parse_duration("1.5h").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_duration("0").unwrap(), 0);
        assert_eq!(parse_duration("-5s").unwrap(), -5_000_000_000);
        assert_eq!(parse_duration("300ms").unwrap(), 300_000_000);
        assert_eq!(
            parse_duration("abc").unwrap_err(),
            r#"time: invalid duration "abc""#
        );
        assert_eq!(
            parse_duration("1").unwrap_err(),
            r#"time: missing unit in duration "1""#
        );
        assert_eq!(
            parse_duration("1x").unwrap_err(),
            r#"time: unknown unit "x" in duration "1x""#
        );
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_millis(300)), "300ms");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h0m0s");
    }

    #[test]
    fn numbers_and_sizes() {
        assert_eq!(parse_uint("755", 8, 32), Ok(0o755));
        assert_eq!(parse_uint("8", 8, 32), Err(NumError::Syntax));
        assert_eq!(parse_uint("4294967296", 10, 32), Err(NumError::Range));
        assert_eq!(parse_int("-3", 32), Ok(-3));
        assert_eq!(parse_int("+3", 32), Ok(3));
        assert_eq!(ram_in_bytes("64m"), Ok(64 << 20));
        assert_eq!(ram_in_bytes("1KiB"), Ok(1024));
        assert_eq!(ram_in_bytes("10"), Ok(10));
        assert!(ram_in_bytes("10x").is_err());
        assert!(ram_in_bytes("-1").is_err());
    }

    #[test]
    fn csv() {
        assert_eq!(csv_fields("a,b").unwrap(), vec!["a", "b"]);
        assert_eq!(csv_fields("a,").unwrap(), vec!["a", ""]);
        assert_eq!(csv_fields(r#""a,b",c"#).unwrap(), vec!["a,b", "c"]);
        assert_eq!(csv_fields(r#""a""b""#).unwrap(), vec![r#"a"b"#]);
        assert_eq!(csv_fields("").unwrap_err(), "EOF");
        assert_eq!(
            csv_fields(r#"a"b"#).unwrap_err(),
            r#"parse error on line 1, column 2: bare " in non-quoted-field"#
        );
        assert!(csv_fields(r#""ab"#).is_err());
    }

    #[test]
    fn suggestions() {
        let opts = ["FROM", "RUN", "COPY"];
        assert_eq!(suggest("RUNN", &opts, false).as_deref(), Some("RUN"));
        assert_eq!(suggest("runn", &opts, false).as_deref(), Some("run"));
        assert_eq!(suggest("FOOBAR", &opts, false), None);
        assert_eq!(suggest("RUN", &opts, false), None);
    }
}
