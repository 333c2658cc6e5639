//! Variable expansion and word splitting exactly like BuildKit's
//! `frontend/dockerfile/shell.Lex`: `$x`, `${x}`, `${x:-w}`, `${x-w}`,
//! `${x:+w}`, `${x+w}`, `${x:?m}`, `${x?m}`, `${x#p}`, `${x##p}`, `${x%p}`,
//! `${x%%p}`, `${x/p/r}`, `${x//p/r}`, single and double quotes, the escape
//! token, and the `<<` heredoc marker.
//!
//! Quirks are kept on purpose (they are Docker's behaviour): positional and
//! special parameters (`$1`, `$@`, `$$`, …) expand to nothing, `${x:#p}` is an
//! error, and [`Lex::process_words`] shares one word buffer between nested
//! `${…}` expansions like the Go code does (`ab${x:-c}d` splits to `["cd"]`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use crate::golang::{is_digit, is_letter, quote};

/// A source of variables for expansion (BuildKit's `shell.EnvGetter`).
pub trait EnvGetter {
    /// The value of `key`, if set (an empty value is still set).
    fn get(&self, key: &str) -> Option<&str>;
    /// All keys, in the getter's order.
    fn keys(&self) -> Vec<String>;
}

/// An environment with nothing set.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmptyEnv;

impl EnvGetter for EmptyEnv {
    fn get(&self, _key: &str) -> Option<&str> {
        None
    }
    fn keys(&self) -> Vec<String> {
        Vec::new()
    }
}

impl EnvGetter for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        HashMap::get(self, key).map(String::as_str)
    }
    fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = HashMap::keys(self).cloned().collect();
        k.sort();
        k
    }
}

impl EnvGetter for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        BTreeMap::get(self, key).map(String::as_str)
    }
    fn keys(&self) -> Vec<String> {
        BTreeMap::keys(self).cloned().collect()
    }
}

impl<T: EnvGetter + ?Sized> EnvGetter for &T {
    fn get(&self, key: &str) -> Option<&str> {
        (**self).get(key)
    }
    fn keys(&self) -> Vec<String> {
        (**self).keys()
    }
}

/// Expansion failed: `failed to process "he${}": syntax error: bad substitution`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process {}: {message}", quote(.source_word))]
pub struct LexError {
    /// The word being processed.
    pub source_word: String,
    /// What went wrong (BuildKit's inner message).
    pub message: String,
}

/// The outcome of [`Lex::process_word_with_matches`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessResult {
    /// The expanded word.
    pub result: String,
    /// The expanded words (only filled by [`Lex::process_words`]).
    pub words: Vec<String>,
    /// Variables that were referenced and set.
    pub matched: BTreeSet<String>,
    /// Variables that were referenced but not set.
    pub unmatched: BTreeSet<String>,
}

/// The lexer: one escape token plus BuildKit's processing switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lex {
    escape_token: char,
    /// Keep quote characters in the output.
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Treat quotes as ordinary characters.
    pub skip_process_quotes: bool,
    /// Leave references to unset variables as written.
    pub skip_unset_env: bool,
}

impl Default for Lex {
    fn default() -> Self {
        Lex::new('\\')
    }
}

impl Lex {
    /// A lexer using `escape_token` (`\` or `` ` ``) to escape characters.
    pub fn new(escape_token: char) -> Self {
        Lex {
            escape_token,
            raw_quotes: false,
            raw_escapes: false,
            skip_process_quotes: false,
            skip_unset_env: false,
        }
    }

    /// The escape token.
    pub fn escape_token(&self) -> char {
        self.escape_token
    }

    /// Expands `word` into a single string (BuildKit's `ProcessWord`).
    pub fn process_word(&self, word: &str, env: &dyn EnvGetter) -> Result<String, LexError> {
        self.process(word, env, true).map(|r| r.result)
    }

    /// Expands `word` and splits the result into words (`ProcessWords`).
    pub fn process_words(&self, word: &str, env: &dyn EnvGetter) -> Result<Vec<String>, LexError> {
        self.process(word, env, false).map(|r| r.words)
    }

    /// Expands `word`, reporting which variables were used and which were
    /// referenced but unset (`ProcessWordWithMatches`).
    pub fn process_word_with_matches(
        &self,
        word: &str,
        env: &dyn EnvGetter,
    ) -> Result<ProcessResult, LexError> {
        self.process(word, env, true)
    }

    fn process(
        &self,
        word: &str,
        env: &dyn EnvGetter,
        capture: bool,
    ) -> Result<ProcessResult, LexError> {
        let mut chars: Vec<char> = word.chars().collect();
        // text/scanner drops a leading byte order mark.
        if chars.first() == Some(&'\u{feff}') {
            chars.remove(0);
        }
        let mut sw = ShellWord {
            lex: *self,
            chars,
            pos: 0,
            env,
            raw_escapes: self.raw_escapes,
            capture,
            matches: BTreeSet::new(),
            nonmatches: BTreeSet::new(),
            words_buffer: String::new(),
        };
        let raw = sw.raw_escapes;
        match sw.process_stop_on(None, raw) {
            Ok((result, words)) => Ok(ProcessResult {
                result,
                words,
                matched: sw.matches,
                unmatched: sw.nonmatches,
            }),
            Err(message) => Err(LexError {
                source_word: word.to_string(),
                message,
            }),
        }
    }
}

struct ShellWord<'a> {
    lex: Lex,
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn EnvGetter,
    raw_escapes: bool,
    capture: bool,
    matches: BTreeSet<String>,
    nonmatches: BTreeSet<String>,
    /// Shared between nested `process_stop_on` calls, as in Go.
    words_buffer: String,
}

#[derive(Default)]
struct Words {
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, buf: &mut String, ch: char) {
        if ch.is_whitespace() && self.in_word {
            if !buf.is_empty() {
                self.words.push(std::mem::take(buf));
                self.in_word = false;
            }
        } else if !ch.is_whitespace() {
            self.add_raw_char(buf, ch);
        }
    }
    fn add_raw_char(&mut self, buf: &mut String, ch: char) {
        buf.push(ch);
        self.in_word = true;
    }
    fn add_string(&mut self, buf: &mut String, s: &str) {
        for c in s.chars() {
            self.add_char(buf, c);
        }
    }
    fn add_raw_string(&mut self, buf: &mut String, s: &str) {
        buf.push_str(s);
        self.in_word = true;
    }
    fn get_words(&mut self, buf: &mut String) -> Vec<String> {
        if !buf.is_empty() {
            self.words.push(std::mem::take(buf));
            self.in_word = false;
        }
        std::mem::take(&mut self.words)
    }
}

type StepResult = Result<String, String>;

impl ShellWord<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), String> {
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let r = self.stop_on_inner(stop);
        self.raw_escapes = saved;
        r
    }

    fn with_words<F: FnOnce(&mut Words, &mut String)>(&mut self, words: &mut Words, f: F) {
        let mut buf = std::mem::take(&mut self.words_buffer);
        f(words, &mut buf);
        self.words_buffer = buf;
    }

    fn stop_on_inner(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), String> {
        let mut result = String::new();
        self.words_buffer.clear();
        let mut words = Words::default();
        let escape = self.lex.escape_token;
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.next();
                let mut w = Vec::new();
                self.with_words(&mut words, |words, buf| w = words.get_words(buf));
                return Ok((result, w));
            }
            let quotes = !self.lex.skip_process_quotes;
            let tmp = match ch {
                '$' => Some(self.process_dollar()?),
                '<' => Some(self.process_possible_heredoc()),
                '\'' if quotes => Some(self.process_single_quote()?),
                '"' if quotes => Some(self.process_double_quote()?),
                _ => None,
            };
            if let Some(tmp) = tmp {
                result.push_str(&tmp);
                self.with_words(&mut words, |words, buf| {
                    if ch == '$' {
                        words.add_string(buf, &tmp)
                    } else {
                        words.add_raw_string(buf, &tmp)
                    }
                });
                continue;
            }
            let Some(mut ch) = self.next() else { break };
            if ch == escape {
                if self.raw_escapes {
                    self.with_words(&mut words, |words, buf| words.add_raw_char(buf, ch));
                    result.push(ch);
                }
                match self.next() {
                    None => break,
                    Some(c) => ch = c,
                }
                self.with_words(&mut words, |words, buf| words.add_raw_char(buf, ch));
            } else {
                self.with_words(&mut words, |words, buf| words.add_char(buf, ch));
            }
            result.push(ch);
        }
        if let Some(s) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {s}"
            ));
        }
        let mut w = Vec::new();
        self.with_words(&mut words, |words, buf| w = words.get_words(buf));
        Ok((result, w))
    }

    fn process_single_quote(&mut self) -> StepResult {
        let mut result = String::new();
        let open = self.next();
        if self.lex.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    )
                }
                Some('\'') => {
                    if self.lex.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn process_double_quote(&mut self) -> StepResult {
        let mut result = String::new();
        let open = self.next();
        if self.lex.raw_quotes {
            result.extend(open);
        }
        let escape = self.lex.escape_token;
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    )
                }
                Some('"') => {
                    self.next();
                    if self.lex.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let v = self.process_dollar()?;
                    result.push_str(&v);
                }
                Some(_) => {
                    let Some(mut ch) = self.next() else { continue };
                    if ch == escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == escape => {
                                self.next();
                                ch = c;
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn get_env(&mut self, name: &str) -> Option<String> {
        match self.env.get(name) {
            Some(v) => {
                if self.capture {
                    self.matches.insert(name.to_string());
                }
                Some(v.to_string())
            }
            None => {
                if self.capture {
                    self.nonmatches.insert(name.to_string());
                }
                None
            }
        }
    }

    fn process_dollar(&mut self) -> StepResult {
        self.next();
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.lex.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{') | Some('}') | Some(':') => {
                return Err("syntax error: bad substitution".into())
            }
            _ => {}
        }
        let name = self.process_name();
        let ch0 = self.next();
        let rune_str = |c: Option<char>| c.map(String::from).unwrap_or_else(|| "\u{fffd}".into());
        let mut chs = rune_str(ch0);
        let mut ch = ch0;
        let mut null_is_unset = false;
        match ch {
            Some('}') => Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.lex.skip_unset_env => format!("${{{name}}}"),
                None => String::new(),
            }),
            Some(':') | Some('+') | Some('-') | Some('?') | Some('#') | Some('%') => {
                if ch == Some(':') {
                    null_is_unset = true;
                    ch = self.next();
                    chs.push_str(&rune_str(ch));
                }
                let raw = ch == Some('#') || ch == Some('%');
                if null_is_unset && raw {
                    return Err(format!("unsupported modifier ({chs}) in substitution"));
                }
                let word = match self.process_stop_on(Some('}'), raw) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err("syntax error: missing '}'".into());
                        }
                        return Err(e);
                    }
                };
                let value = self.get_env(&name);
                if self.lex.skip_unset_env && value.is_none() {
                    return Ok(format!("${{{name}{chs}{word}}}"));
                }
                let set = value.is_some();
                let value = value.unwrap_or_default();
                match ch {
                    Some('-') => {
                        if !set || (null_is_unset && value.is_empty()) {
                            Ok(word)
                        } else {
                            Ok(value)
                        }
                    }
                    Some('+') => {
                        if !set || (null_is_unset && value.is_empty()) {
                            Ok(String::new())
                        } else {
                            Ok(word)
                        }
                    }
                    Some('?') => {
                        if !set {
                            let msg = if word.is_empty() {
                                "is not allowed to be unset".to_string()
                            } else {
                                word
                            };
                            return Err(format!("{name}: {msg}"));
                        }
                        if null_is_unset && value.is_empty() {
                            let msg = if word.is_empty() {
                                "is not allowed to be empty".to_string()
                            } else {
                                word
                            };
                            return Err(format!("{name}: {msg}"));
                        }
                        Ok(value)
                    }
                    Some(c @ ('%' | '#')) => {
                        let mut word = word;
                        let greedy = word.starts_with(c);
                        if greedy {
                            word.remove(0);
                        }
                        if c == '%' {
                            trim_suffix(&word, &value, greedy)
                        } else {
                            trim_prefix(&word, &value, greedy)
                        }
                    }
                    _ => Err(format!("unsupported modifier ({chs}) in substitution")),
                }
            }
            Some('/') => {
                let replace_all = self.peek() == Some('/');
                if replace_all {
                    self.next();
                }
                let pattern = match self.process_stop_on(Some('/'), true) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err("syntax error: missing '/' in ${}".into());
                        }
                        return Err(e);
                    }
                };
                let replacement = match self.process_stop_on(Some('}'), true) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err("syntax error: missing '}'".into());
                        }
                        return Err(e);
                    }
                };
                let value = self.get_env(&name);
                if self.lex.skip_unset_env && value.is_none() {
                    return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
                }
                let value = value.unwrap_or_default();
                let re = convert_shell_pattern_to_regex(&pattern, true, false)
                    .map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))?;
                if replace_all {
                    Ok(re.replace_all(&value, replacement.as_str()).into_owned())
                } else if let Some(m) = re.find(&value) {
                    Ok(format!(
                        "{}{}{}",
                        &value[..m.start()],
                        replacement,
                        &value[m.end()..]
                    ))
                } else {
                    Ok(value)
                }
            }
            _ => Err(format!("unsupported modifier ({chs}) in substitution")),
        }
    }

    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && is_digit(ch) {
                while let Some(c) = self.peek() {
                    if !is_digit(c) {
                        break;
                    }
                    self.next();
                    name.push(c);
                }
                return name;
            }
            if name.is_empty() && is_special_param(ch) {
                self.next();
                return ch.to_string();
            }
            if !is_letter(ch) && !is_digit(ch) && ch != '_' {
                break;
            }
            self.next();
            name.push(ch);
        }
        name
    }

    fn process_possible_heredoc(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.next();
        let mut result = String::from("<<");
        while let Some(c) = self.peek() {
            if !matches!(c, '\t' | '\r' | ' ') {
                break;
            }
            result.push(c);
            self.next();
        }
        result
    }
}

fn is_special_param(c: char) -> bool {
    matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')
}

/// Turns a shell pattern (`*`, `?`, `\` escapes; no bracket expressions)
/// into a regular expression, as BuildKit's `convertShellPatternToRegex`.
pub(crate) fn convert_shell_pattern_to_regex(
    pattern: &str,
    greedy: bool,
    anchored: bool,
) -> Result<regex::Regex, String> {
    let mut chars: Vec<char> = pattern.chars().collect();
    if chars.first() == Some(&'\u{feff}') {
        chars.remove(0);
    }
    let mut out = String::with_capacity(pattern.len() + 4);
    if anchored {
        out.push('^');
    }
    let star = if greedy { ".*" } else { ".*?" };
    let mut i = 0;
    while i < chars.len() {
        let tok = chars[i];
        i += 1;
        match tok {
            '*' => {
                out.push_str(star);
                continue;
            }
            '?' => {
                out.push('.');
                continue;
            }
            '\\' => {
                if matches!(chars.get(i), Some('}') | Some('/')) {
                    continue;
                }
                out.push('\\');
                let next = chars.get(i).copied();
                i += 1;
                match next {
                    Some(c @ ('*' | '?' | '\\')) => {
                        out.push(c);
                        continue;
                    }
                    other => {
                        return Err(format!(
                            "invalid escape '\\{}'",
                            other.unwrap_or('\u{fffd}')
                        ));
                    }
                }
            }
            '[' | ']' | '{' | '}' | '.' | '+' | '(' | ')' | '|' | '^' | '$' => out.push('\\'),
            _ => {}
        }
        out.push(tok);
    }
    regex::Regex::new(&out).map_err(|e| e.to_string())
}

fn trim_prefix(word: &str, value: &str, greedy: bool) -> StepResult {
    let re = convert_shell_pattern_to_regex(word, greedy, true)
        .map_err(|e| format!("invalid pattern ({word}) in substitution: {e}"))?;
    Ok(match re.find(value) {
        Some(m) => value[m.end()..].to_string(),
        None => value.to_string(),
    })
}

/// Reverses a pattern without reversing escapes: `a\*c` becomes `c\*a`.
pub(crate) fn reverse_pattern(pattern: &str) -> String {
    let p: Vec<char> = pattern.chars().collect();
    let mut out = vec!['\0'; p.len()];
    let last = p.len() as isize - 1;
    let mut i: isize = 0;
    while i <= last {
        let tok = p[i as usize];
        let out_idx = last - i;
        if tok == '\\' && i != last {
            out[(out_idx - 1) as usize] = tok;
            out[out_idx as usize] = p[(i + 1) as usize];
            i += 2;
        } else {
            out[out_idx as usize] = tok;
            i += 1;
        }
    }
    out.into_iter().collect()
}

fn trim_suffix(pattern: &str, word: &str, greedy: bool) -> StepResult {
    let pattern = reverse_pattern(pattern);
    let word: String = word.chars().rev().collect();
    let s = trim_prefix(&pattern, &word, greedy)?;
    Ok(s.chars().rev().collect())
}

impl fmt::Display for ProcessResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_to_regex() {
        let cases = [
            ("*", "^.*"),
            ("?", "^."),
            ("\\*", "^\\*"),
            (
                "(()[]{\\}^$.\\*\\?|\\\\",
                "^\\(\\(\\)\\[\\]\\{\\}\\^\\$\\.\\*\\?\\|\\\\",
            ),
        ];
        for (p, want) in cases {
            assert_eq!(
                convert_shell_pattern_to_regex(p, true, true)
                    .unwrap()
                    .as_str(),
                want
            );
        }
        for bad in ["\\", "\\x", "\\\\\\"] {
            assert!(
                convert_shell_pattern_to_regex(bad, true, true).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn reverse() {
        let cases = [
            ("a\\*c", "c\\*a"),
            ("\\\\\\ab", "b\\a\\\\"),
            ("ab\\", "\\ba"),
            ("👽\\🚀🖖", "🖖\\🚀👽"),
            ("\\\\b", "b\\\\"),
        ];
        for (p, want) in cases {
            assert_eq!(reverse_pattern(p), want, "{p}");
        }
    }
}
