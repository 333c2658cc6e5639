//! The `.env` / `env_file` format as compose reads it: `KEY=VALUE`,
//! `export KEY=VALUE`, `KEY: VALUE`, comments, single quotes (literal),
//! double quotes (escapes and `${VAR}` expansion, multi-line), unquoted
//! values (trailing ` #comment` stripped, `${VAR}` expanded), and a bare
//! `KEY` taken from the lookup environment.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{ComposeError, Result};
use crate::interpolate::substitute;

/// Parses env-file text into `out` (later keys override earlier ones).
/// `lookup` resolves variables used in values and bare `KEY` lines; keys
/// already parsed from this text are visible to later values.
pub fn parse_env(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut BTreeMap<String, String>,
) -> std::result::Result<(), String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut parser = Parser {
        src: text,
        pos: 0,
        line: 1,
    };
    while parser.statement_start() {
        let (key, inherited) = parser.key()?;
        if key.contains(' ') {
            return Err(format!("line {}: key cannot contain a space", parser.line));
        }
        if inherited {
            if let Some(v) = lookup(&key) {
                out.insert(key, v);
            }
            continue;
        }
        let value = parser.value(out, lookup)?;
        out.insert(key, value);
    }
    Ok(())
}

/// Reads an env file; a missing file is an error naming it.
pub fn read_env_file(
    path: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut BTreeMap<String, String>,
) -> Result<()> {
    let text = std::fs::read_to_string(path).map_err(|source| ComposeError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_env(&text, lookup, out).map_err(|message| ComposeError::EnvFile {
        path: path.to_path_buf(),
        message,
    })
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    line: usize,
}

fn is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    )
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    /// Skips blank space and comment lines; false at the end of input.
    fn statement_start(&mut self) -> bool {
        loop {
            let rest = self.rest();
            let Some(offset) = rest.find(|c: char| {
                if c == '\n' {
                    return false;
                }
                !c.is_whitespace()
            }) else {
                return false;
            };
            self.line += rest[..offset].matches('\n').count();
            self.pos += offset;
            if !self.rest().starts_with('#') {
                return true;
            }
            match self.rest().find('\n') {
                Some(nl) => self.pos += nl,
                None => {
                    self.pos = self.src.len();
                    return false;
                }
            }
        }
    }

    /// Reads `KEY=` / `KEY:`; `inherited` when the line holds only the key.
    fn key(&mut self) -> std::result::Result<(String, bool), String> {
        let mut rest = self.rest();
        if let Some(after) = rest.strip_prefix("export") {
            if after.starts_with(|c: char| c.is_whitespace()) {
                let trimmed = after.trim_start_matches(is_space);
                self.pos += rest.len() - trimmed.len();
                rest = self.rest();
            }
        }
        for (i, c) in rest.char_indices() {
            if is_space(c) {
                continue;
            }
            match c {
                '=' | ':' | '\n' => {
                    let key = rest[..i].trim_end().to_string();
                    let inherited = c == '\n';
                    self.pos += i + 1;
                    if inherited {
                        self.line += 1;
                    } else {
                        let after = self.rest();
                        let trimmed = after.trim_start_matches(is_space);
                        self.pos += after.len() - trimmed.len();
                    }
                    return Ok((key, inherited));
                }
                '_' | '.' | '-' | '[' | ']' => {}
                c if c.is_alphanumeric() => {}
                c => {
                    let first_line = rest.lines().next().unwrap_or("");
                    return Err(format!(
                        "line {}: unexpected character {:?} in variable name {:?}",
                        self.line,
                        c.to_string(),
                        first_line
                    ));
                }
            }
        }
        // Last line, key only (no newline at end of file).
        let key = rest.trim_end().to_string();
        self.pos = self.src.len();
        Ok((key, true))
    }

    fn value(
        &mut self,
        vars: &BTreeMap<String, String>,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> std::result::Result<String, String> {
        let rest = self.rest();
        let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'');
        let expand = |v: &str| -> std::result::Result<String, String> {
            let l = |k: &str| lookup(k).or_else(|| vars.get(k).cloned());
            substitute(v, &l, &mut Vec::new()).map_err(|e| e.to_string())
        };
        let Some(quote) = quote else {
            let (line, consumed) = match rest.find('\n') {
                Some(nl) => (&rest[..nl], nl + 1),
                None => (rest, rest.len()),
            };
            self.pos += consumed;
            self.line += 1;
            let line = match line.find(" #") {
                Some(i) => &line[..i],
                None => line,
            };
            return expand(line.trim_end());
        };
        let mut chars = String::new();
        let mut escaped = false;
        for (i, c) in rest.char_indices().skip(1) {
            if c == '\n' {
                self.line += 1;
            }
            if c != quote {
                if !escaped && c == '\\' {
                    escaped = true;
                    continue;
                }
                if escaped {
                    escaped = false;
                    chars.push('\\');
                }
                chars.push(c);
                continue;
            }
            if escaped {
                escaped = false;
                chars.push(c);
                continue;
            }
            self.pos += i + 1;
            // Anything after the closing quote up to the end of line is a comment.
            let after = self.rest();
            let eol = after.find('\n').unwrap_or(after.len());
            self.pos += eol;
            if quote == '"' {
                return expand(&expand_escapes(&chars));
            }
            return Ok(chars);
        }
        let end = rest.find('\n').unwrap_or(rest.len());
        Err(format!(
            "line {}: unterminated quoted value {}",
            self.line,
            &rest[..end]
        ))
    }
}

/// Backslash escapes inside double quotes (`\n`, `\t`, `\\`, `\"`, `\$`...).
fn expand_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('a') => out.push('\u{7}'),
            Some('b') => out.push('\u{8}'),
            Some('c') => out.push_str("\\c"),
            Some('f') => out.push('\u{c}'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('v') => out.push('\u{b}'),
            Some('$') => out.push_str("$$"),
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> BTreeMap<String, String> {
        let lookup = |k: &str| (k == "HOST_VAR").then(|| "from-host".to_string());
        let mut out = BTreeMap::new();
        parse_env(text, &lookup, &mut out).unwrap();
        out
    }

    #[test]
    fn formats() {
        let env = parse(
            "# comment\n\
             PLAIN=value\n\
             export EXPORTED=1\n\
             SPACED = spaced value  \n\
             COLON: yes\n\
             EMPTY=\n\
             COMMENTED=abc #comment\n\
             HASH=abc#notcomment\n\
             SINGLE='literal $PLAIN \\n'\n\
             DOUBLE=\"line1\\nline2 $PLAIN\"\n\
             MULTI=\"a\nb\"\n\
             REF=${PLAIN}-x\n\
             DEFAULT=${NOPE:-dflt}\n\
             HOST_VAR\n\
             NOT_IN_HOST\n\
             QUOTED_COMMENT=\"v\" # c\n\
             ESCAPED_DOLLAR=\"\\$PLAIN\"\n",
        );
        assert_eq!(env["PLAIN"], "value");
        assert_eq!(env["EXPORTED"], "1");
        assert_eq!(env["SPACED"], "spaced value");
        assert_eq!(env["COLON"], "yes");
        assert_eq!(env["EMPTY"], "");
        assert_eq!(env["COMMENTED"], "abc");
        assert_eq!(env["HASH"], "abc#notcomment");
        assert_eq!(env["SINGLE"], "literal $PLAIN \\n");
        assert_eq!(env["DOUBLE"], "line1\nline2 value");
        assert_eq!(env["MULTI"], "a\nb");
        assert_eq!(env["REF"], "value-x");
        assert_eq!(env["DEFAULT"], "dflt");
        assert_eq!(env["HOST_VAR"], "from-host");
        assert!(!env.contains_key("NOT_IN_HOST"));
        assert_eq!(env["QUOTED_COMMENT"], "v");
        assert_eq!(env["ESCAPED_DOLLAR"], "$PLAIN");
    }

    #[test]
    fn bom_and_crlf() {
        let env = parse("\u{feff}A=1\r\nB=2\r\n");
        assert_eq!(env["A"], "1");
        assert_eq!(env["B"], "2");
    }

    #[test]
    fn errors() {
        let lookup = |_: &str| None;
        let mut out = BTreeMap::new();
        let err = parse_env("A=1\nB C=2\n", &lookup, &mut out).unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        let err = parse_env("A=\"open\n", &lookup, &mut out).unwrap_err();
        assert!(err.contains("unterminated quoted value"), "{err}");
        let err = parse_env("A$=1\n", &lookup, &mut out).unwrap_err();
        assert!(err.contains("unexpected character \"$\""), "{err}");
    }
}
