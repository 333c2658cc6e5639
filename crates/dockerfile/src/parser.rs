//! The line-level Dockerfile parser, a port of BuildKit's
//! `frontend/dockerfile/parser`: parser directives (`# syntax=`, `# escape=`,
//! `# check=`), comments, line continuations with the escape token, empty
//! continuation lines (a warning), heredocs, builder flags, and each
//! instruction's argument syntax (JSON exec form vs shell form, `ENV`/`LABEL`
//! key-value pairs, whitespace-separated words, `ONBUILD` sub-commands).
//!
//! The result is an untyped [`Node`] per instruction; [`crate::instructions`]
//! turns nodes into typed instructions. [`Node::dump`] prints BuildKit's
//! S-expression form, which the tests compare against BuildKit's own.

use crate::error::ParseError;
use crate::golang::{is_space, is_space_byte, quote, quote_list};
use crate::shell_lex::{EmptyEnv, Lex};

/// Maximum length of one Dockerfile line (Go's `bufio.MaxScanTokenSize`).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// A heredoc attached to an instruction (`RUN <<EOF`, `COPY <<A <<B /dst`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Heredoc {
    /// The terminator word with quotes removed (`EOF`).
    pub name: String,
    /// File descriptor prefix (`3<<EOF`), 0 when absent.
    pub file_descriptor: u64,
    /// Whether variables in the content are expanded (no quoted terminator).
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from the content.
    pub chomp: bool,
    /// The body, each line with its newline, without the terminator.
    pub content: String,
}

impl Heredoc {
    /// The content with leading tabs removed from each line when `chomp`
    /// (`<<-EOF`) was used; otherwise the content as written.
    pub fn effective_content(&self) -> String {
        if self.chomp {
            chomp_heredoc_content(&self.content)
        } else {
            self.content.clone()
        }
    }
}

/// Removes leading tabs from every line (BuildKit's `ChompHeredocContent`).
pub fn chomp_heredoc_content(src: &str) -> String {
    src.split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

/// A parser directive found at the top of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// Lower-cased name: `syntax`, `escape` or `check`.
    pub name: String,
    /// The value as written (trimmed).
    pub value: String,
    /// 1-based line.
    pub line: usize,
}

/// A non-fatal finding (today only empty continuation lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// BuildKit's short text, e.g. `Empty continuation line found in: RUN a b`.
    pub short: String,
    /// Line the warning points at (the last line of the instruction).
    pub line: usize,
    /// Documentation link.
    pub url: String,
}

/// One instruction as parsed from the text, before typing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    /// The instruction keyword as written (`RUN`, `run`, `Copy`, …).
    pub value: String,
    /// The arguments (BuildKit's `Next` chain). For `ENV`/`LABEL` they come
    /// in triples `key, value, "="|""`.
    pub next: Vec<String>,
    /// `ONBUILD`'s trigger instruction.
    pub sub: Option<Box<Node>>,
    /// Builder flags (`--from=x`), each as written without surrounding quotes.
    pub flags: Vec<String>,
    /// The arguments were a JSON array (exec form).
    pub json: bool,
    /// The logical line after continuations were joined.
    pub original: String,
    /// First line (1-based).
    pub start_line: usize,
    /// Last line including heredoc bodies (1-based).
    pub end_line: usize,
    /// Heredoc bodies, in the order their markers appear.
    pub heredocs: Vec<Heredoc>,
    /// Comments directly above the instruction.
    pub comments: Vec<String>,
}

impl Node {
    /// The instruction keyword in lower case.
    pub fn command(&self) -> String {
        self.value.to_lowercase()
    }

    /// BuildKit's `nodeArgs`: arguments, with an `ONBUILD` trigger flattened
    /// to its keyword followed by its own arguments.
    pub fn args(&self) -> Vec<String> {
        match &self.sub {
            Some(sub) => {
                let mut out = vec![sub.value.clone()];
                out.extend(sub.args());
                out
            }
            None => self.next.clone(),
        }
    }

    /// BuildKit's `Node.Dump()` S-expression for this instruction.
    pub fn dump(&self) -> String {
        let mut s = self.value.to_lowercase();
        if !self.flags.is_empty() {
            s.push(' ');
            s.push_str(&quote_list(&self.flags));
        }
        if let Some(sub) = &self.sub {
            s.push(' ');
            s.push_str(format!("({})\n", sub.dump()).trim());
        }
        for n in &self.next {
            s.push(' ');
            s.push_str(&quote(n));
        }
        s.trim().to_string()
    }

    fn can_contain_heredoc(&self) -> bool {
        let node = match (&self.sub, self.value.eq_ignore_ascii_case("onbuild")) {
            (Some(sub), true) => sub,
            _ => self,
        };
        matches!(node.value.to_lowercase().as_str(), "add" | "copy" | "run") && !node.json
    }
}

/// The parsed file: instructions plus what the parser learnt on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ast {
    /// Instructions in order.
    pub children: Vec<Node>,
    /// The escape token in effect (`\` or `` ` ``).
    pub escape_token: char,
    /// Parser directives, in order.
    pub directives: Vec<Directive>,
    /// Warnings (empty continuation lines).
    pub warnings: Vec<Warning>,
}

impl Ast {
    /// BuildKit's dump of the whole file, one `(instruction …)` per line.
    pub fn dump(&self) -> String {
        let mut s = String::new();
        for c in &self.children {
            s.push('(');
            s.push_str(&c.dump());
            s.push_str(")\n");
        }
        s.trim().to_string()
    }
}

struct DirectiveParser {
    line: usize,
    done: bool,
    seen: Vec<String>,
}

impl DirectiveParser {
    /// BuildKit's `DirectiveParser.ParseLine`.
    fn parse_line(&mut self, line: &str) -> Result<Option<Directive>, String> {
        self.line += 1;
        if self.done {
            return Ok(None);
        }
        let Some(rest) = line.strip_prefix('#') else {
            self.done = true;
            return Ok(None);
        };
        let rest = rest.trim_start_matches(is_space);
        let Some((name, value)) = match_directive(rest) else {
            self.done = true;
            return Ok(None);
        };
        let key = name.to_lowercase();
        if !matches!(key.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(None);
        }
        if self.seen.contains(&key) {
            return Err(format!("only one {key} parser directive can be used"));
        }
        self.seen.push(key.clone());
        Ok(Some(Directive {
            name: key,
            value,
            line: self.line,
        }))
    }
}

fn is_re_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`
fn match_directive(s: &str) -> Option<(String, String)> {
    let mut chars = s.char_indices().peekable();
    let (_, first) = chars.next()?;
    if !first.is_ascii_alphabetic() {
        return None;
    }
    let mut name_end = first.len_utf8();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_ascii_alphanumeric() {
            name_end = i + c.len_utf8();
            chars.next();
        } else {
            break;
        }
    }
    let name = &s[..name_end];
    let rest = s[name_end..].trim_start_matches(is_re_space);
    let rest = rest.strip_prefix('=')?;
    if rest.contains('\n') {
        return None;
    }
    let value_part = rest.trim_start_matches(is_re_space);
    let value = value_part.trim_end_matches(is_re_space);
    if !value.is_empty() {
        return Some((name.to_string(), value.to_string()));
    }
    // Only whitespace after `=`: `.+?` still takes the last character.
    let last = rest.chars().last()?;
    Some((name.to_string(), last.to_string()))
}

struct State {
    escape: char,
    directives: DirectiveParser,
}

impl State {
    fn set_escape(&mut self, value: &str) -> Result<(), String> {
        if value != "`" && value != "\\" {
            return Err(format!(
                "invalid escape token '{value}' does not match ` or \\"
            ));
        }
        self.escape = value.chars().next().unwrap_or('\\');
        Ok(())
    }

    /// Returns whether the line was a parser directive.
    fn possible_directive(
        &mut self,
        line: &str,
        found: &mut Vec<Directive>,
    ) -> Result<bool, String> {
        let Some(d) = self.directives.parse_line(line)? else {
            return Ok(false);
        };
        if d.name == "escape" {
            self.set_escape(&d.value)?;
        }
        found.push(d);
        Ok(true)
    }
}

fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    line.trim_start_matches(is_space).starts_with('#')
}

fn is_empty_continuation_line(line: &str) -> bool {
    trim_newline(line).trim_start_matches(is_space).is_empty()
}

/// BuildKit's line continuation regex:
/// `([^E])E[ \t]*$|^E[ \t]*$` replaced by `$1`.
fn trim_continuation(line: &str, escape: char) -> (String, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    if let Some(before) = t.strip_suffix(escape) {
        match before.chars().last() {
            None => return (String::new(), false),
            Some(c) if c != escape => return (before.to_string(), false),
            Some(_) => {}
        }
    }
    (line.to_string(), true)
}

fn process_line(
    st: &mut State,
    token: &str,
    strip_left: bool,
    found: &mut Vec<Directive>,
) -> Result<(String, bool), String> {
    let mut token = trim_newline(token);
    if strip_left {
        token = token.trim_start_matches(is_space);
    }
    let ok = st.possible_directive(token, found)?;
    if is_comment(token) {
        return Ok((String::new(), ok));
    }
    Ok((token.to_string(), ok))
}

/// Splits like BuildKit's `scanLines`, keeping line endings, and enforces
/// the scanner's maximum token size.
fn scan_lines(text: &str) -> (Vec<&str>, bool) {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (line, next) = match rest.find('\n') {
            Some(i) => (&rest[..=i], &rest[i + 1..]),
            None => (rest, ""),
        };
        let too_long = if line.ends_with('\n') {
            line.len() > MAX_LINE_BYTES
        } else {
            line.len() >= MAX_LINE_BYTES
        };
        if too_long {
            return (out, true);
        }
        out.push(line);
        rest = next;
    }
    (out, false)
}

/// Parses Dockerfile text into instruction nodes (BuildKit's `parser.Parse`).
pub fn parse_ast(text: &str) -> Result<Ast, ParseError> {
    let mut st = State {
        escape: '\\',
        directives: DirectiveParser {
            line: 0,
            done: false,
            seen: Vec::new(),
        },
    };
    let (lines, too_long) = scan_lines(text);
    let mut found_directives = Vec::new();
    let mut children: Vec<Node> = Vec::new();
    let mut warnings = Vec::new();
    let mut comments: Vec<String> = Vec::new();
    let mut current_line = 0usize;
    let mut i = 0usize;
    while i < lines.len() {
        let mut bytes_read = lines[i];
        i += 1;
        if current_line == 0 {
            bytes_read = bytes_read.strip_prefix('\u{feff}').unwrap_or(bytes_read);
        }
        if is_comment(bytes_read) {
            let mut it = bytes_read.chars();
            it.next();
            let comment = it.as_str().trim();
            if comment.is_empty() {
                comments.clear();
            } else {
                comments.push(comment.to_string());
            }
        }
        let (processed, directive_ok) =
            process_line(&mut st, bytes_read, true, &mut found_directives)
                .map_err(|e| ParseError::syntax(e, current_line + 1, current_line + 1))?;
        if directive_ok {
            comments.pop();
        }
        current_line += 1;
        let start_line = current_line;
        let (first, mut is_end) = trim_continuation(&processed, st.escape);
        if is_end && first.is_empty() {
            continue;
        }
        let mut buf = first;
        let mut has_empty_continuation = false;
        while !is_end && i < lines.len() {
            let raw = lines[i];
            i += 1;
            let (processed, _) = process_line(&mut st, raw, false, &mut found_directives)
                .map_err(|e| ParseError::syntax(e, current_line + 1, current_line + 1))?;
            current_line += 1;
            if is_comment(raw) {
                continue;
            }
            if is_empty_continuation_line(&processed) {
                has_empty_continuation = true;
                continue;
            }
            let (part, end) = trim_continuation(&processed, st.escape);
            is_end = end;
            buf.push_str(&part);
        }
        let line = buf;
        if has_empty_continuation {
            warnings.push(Warning {
                short: format!("Empty continuation line found in: {line}"),
                line: current_line,
                url: "https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/".into(),
            });
        }
        let mut child = new_node_from_line(&line, st.escape, std::mem::take(&mut comments))
            .map_err(|e| ParseError::syntax(e, start_line, current_line))?;
        if child.can_contain_heredoc() && line.contains("<<") {
            let heredocs = heredocs_from_line(&line)
                .map_err(|e| ParseError::syntax(e, start_line, current_line))?;
            for mut heredoc in heredocs {
                let mut terminated = false;
                let mut content = String::new();
                while i < lines.len() {
                    let raw = lines[i];
                    i += 1;
                    current_line += 1;
                    let mut possible = trim_newline(raw);
                    if heredoc.chomp {
                        possible = possible.trim_start_matches('\t');
                    }
                    if possible == heredoc.name {
                        terminated = true;
                        break;
                    }
                    content.push_str(raw);
                }
                if !terminated {
                    return Err(ParseError::syntax(
                        "unterminated heredoc".into(),
                        start_line,
                        current_line,
                    ));
                }
                heredoc.content = content;
                child.heredocs.push(heredoc);
            }
        }
        child.start_line = start_line;
        child.end_line = current_line;
        children.push(child);
    }
    if children.is_empty() {
        let line = current_line.max(1);
        return Err(ParseError::syntax(
            "file with no instructions".into(),
            line,
            line,
        ));
    }
    if too_long {
        let line = current_line + 1;
        return Err(ParseError::syntax(
            format!(
                "dockerfile line greater than max allowed size of {}",
                MAX_LINE_BYTES - 1
            ),
            line,
            line,
        ));
    }
    Ok(Ast {
        children,
        escape_token: st.escape,
        directives: found_directives,
        warnings,
    })
}

/// Looks for a directive in the first lines without parsing the whole file
/// (BuildKit's `ParseDirective`; `DetectSyntax` for `syntax`, which also
/// accepts `//` comments and a JSON object). Returns the first word of the
/// value, the full value, and the 1-based line.
pub fn detect_directive(key: &str, text: &str) -> Option<(String, String, usize)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (text, shebang) = match text.split_once('\n') {
        Some((first, rest)) if first.starts_with("#!") => (rest, true),
        None if text.starts_with("#!") => ("", true),
        _ => (text, false),
    };
    let offset = usize::from(shebang);
    let scan = |comment: &str| -> Option<(String, String, usize)> {
        let mut line_no = offset;
        let mut seen: Vec<String> = Vec::new();
        for raw in text.split('\n') {
            line_no += 1;
            let rest = raw.strip_prefix(comment)?;
            let rest = rest.trim_start_matches(is_space);
            let (name, value) = match_directive(rest)?;
            let k = name.to_lowercase();
            if !matches!(k.as_str(), "syntax" | "escape" | "check") {
                return None;
            }
            if seen.contains(&k) {
                return None;
            }
            seen.push(k.clone());
            if k == key {
                let first = value.split(' ').next().unwrap_or_default().to_string();
                return Some((first, value, line_no));
            }
        }
        None
    };
    if let Some(found) = scan("#") {
        return Some(found);
    }
    if key != "syntax" {
        return None;
    }
    if let Some(found) = scan("//") {
        return Some(found);
    }
    crate::json::parse_object_string_field(text, key).map(|v| (v.clone(), v, offset))
}

type LineResult = Result<Node, String>;

/// BuildKit's `newNodeFromLine`.
fn new_node_from_line(line: &str, escape: char, comments: Vec<String>) -> LineResult {
    let (cmd, flags, args) = split_command(line, escape);
    let lower = cmd.to_lowercase();
    let mut node = Node {
        value: cmd,
        original: line.to_string(),
        flags,
        comments,
        ..Node::default()
    };
    match lower.as_str() {
        "add" | "copy" | "volume" => {
            let (next, json) = parse_maybe_json_to_list(&args)?;
            node.next = next;
            node.json = json;
        }
        "arg" => node.next = parse_words(&args, escape),
        "cmd" | "entrypoint" | "run" | "shell" => {
            let (next, json) = parse_maybe_json(&args)?;
            node.next = next;
            node.json = json;
        }
        "env" => node.next = parse_name_val(&args, "ENV", escape)?,
        "label" => node.next = parse_name_val(&args, "LABEL", escape)?,
        "expose" | "from" => node.next = parse_strings_whitespace_delimited(&args),
        "healthcheck" => {
            let (next, json) = parse_health_config(&args)?;
            node.next = next;
            node.json = json;
        }
        "maintainer" | "stopsignal" | "user" | "workdir" => {
            if !args.is_empty() {
                node.next = vec![args];
            }
        }
        "onbuild" => {
            if !args.is_empty() {
                node.sub = Some(Box::new(new_node_from_line(&args, escape, Vec::new())?));
            }
        }
        // Unknown instructions keep one empty argument (BuildKit's
        // `parseIgnore`); typing them fails with "unknown instruction".
        _ => node.next = vec![String::new()],
    }
    Ok(node)
}

fn is_ws_re(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// `reWhitespace.Split(s, n)` with `[\t\v\f\r ]+`.
fn split_whitespace_re(s: &str, limit: Option<usize>) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        if let Some(n) = limit {
            if out.len() + 1 == n {
                out.push(rest.to_string());
                return out;
            }
        }
        match rest.find(is_ws_re) {
            Some(i) => {
                out.push(rest[..i].to_string());
                rest = rest[i..].trim_start_matches(is_ws_re);
            }
            None => {
                out.push(rest.to_string());
                return out;
            }
        }
    }
}

/// BuildKit's `splitCommand`: instruction keyword, builder flags, arguments.
fn split_command(line: &str, escape: char) -> (String, Vec<String>, String) {
    let parts = split_whitespace_re(line.trim(), Some(2));
    let cmd = parts[0].clone();
    if parts.len() < 2 {
        return (cmd, Vec::new(), String::new());
    }
    let (args, flags) = extract_builder_flags(&parts[1], escape);
    (cmd, flags, args.trim().to_string())
}

/// BuildKit's `extractBuilderFlags`. It walks bytes, not characters, and
/// stores each byte as a character, which is what Docker does too.
fn extract_builder_flags(line: &str, escape: char) -> (String, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let b = line.as_bytes();
    let esc = if escape.is_ascii() {
        escape as u8
    } else {
        b'\\'
    };
    let rest_from = |pos: usize| String::from_utf8_lossy(&b[pos..]).into_owned();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = 0u8;
    let mut blank_ok = false;
    let mut pos = 0usize;
    while pos <= b.len() {
        let ch = if pos < b.len() { b[pos] } else { 0 };
        if phase == Phase::Spaces {
            if pos == b.len() {
                break;
            }
            if is_space_byte(ch) {
                pos += 1;
                continue;
            }
            if ch != b'-' || pos + 1 == b.len() || b[pos + 1] != b'-' {
                return (rest_from(pos), words);
            }
            phase = Phase::Word;
        }
        if pos == b.len() {
            if word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if is_space_byte(ch) {
                phase = Phase::Spaces;
                if word == "--" {
                    return (rest_from(pos), words);
                }
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == b'\'' || ch == b'"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                pos += 1;
                continue;
            }
            let mut c = ch;
            if ch == esc {
                if pos + 1 == b.len() {
                    pos += 1;
                    continue;
                }
                pos += 1;
                c = b[pos];
            }
            word.push(c as char);
            pos += 1;
            continue;
        }
        // Quote phase.
        if ch == quote {
            phase = Phase::Word;
            pos += 1;
            continue;
        }
        let mut c = ch;
        if ch == esc {
            if pos + 1 == b.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            c = b[pos];
        }
        word.push(c as char);
        pos += 1;
    }
    (String::new(), words)
}

/// BuildKit's `parseWords`: words separated by whitespace, quotes and
/// escapes kept (they are removed later by expansion).
pub(crate) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut sb = String::new();
    let mut pos = 0usize;
    while pos <= chars.len() {
        let ch = chars.get(pos).copied().unwrap_or('\0');
        if phase == Phase::Spaces {
            if pos == chars.len() {
                break;
            }
            if is_space(ch) {
                pos += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if pos == chars.len() {
            if blank_ok || !sb.is_empty() {
                words.push(sb.clone());
            }
            break;
        }
        if phase == Phase::Word {
            if is_space(ch) {
                phase = Phase::Spaces;
                if blank_ok || !sb.is_empty() {
                    words.push(std::mem::take(&mut sb));
                }
                sb.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            let mut c = ch;
            if ch == escape {
                if pos + 1 == chars.len() {
                    pos += 1;
                    continue;
                }
                sb.push(ch);
                pos += 1;
                c = chars[pos];
            }
            sb.push(c);
            pos += 1;
            continue;
        }
        // Quote phase.
        if ch == quote {
            phase = Phase::Word;
        }
        let mut c = ch;
        if ch == escape && quote != '\'' {
            if pos + 1 == chars.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            sb.push(ch);
            c = chars[pos];
        }
        sb.push(c);
        pos += 1;
    }
    words
}

/// `ENV`/`LABEL` arguments as `key, value, "="|""` triples.
fn parse_name_val(rest: &str, key: &str, escape: char) -> Result<Vec<String>, String> {
    let words = parse_words(rest, escape);
    if words.is_empty() {
        return Ok(Vec::new());
    }
    if !words[0].contains('=') {
        let parts = split_whitespace_re(rest, Some(2));
        if parts.len() < 2 {
            return Err(format!("{key} must have two arguments"));
        }
        return Ok(vec![parts[0].clone(), parts[1].clone(), String::new()]);
    }
    let mut out = Vec::new();
    for word in words {
        let Some((k, v)) = word.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {}. Must be of the form: name=value",
                quote(&word)
            ));
        };
        out.push(k.to_string());
        out.push(v.to_string());
        out.push("=".to_string());
    }
    Ok(out)
}

fn parse_strings_whitespace_delimited(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    split_whitespace_re(rest, None)
}

pub(crate) const NOT_STRING_ARRAY: &str =
    "when using JSON array syntax, arrays must be comprised of strings only";

enum JsonOutcome {
    Args(Vec<String>),
    NotJson,
}

fn parse_json(rest: &str) -> Result<JsonOutcome, String> {
    let rest = rest.trim_start_matches(is_space);
    if !rest.starts_with('[') {
        return Ok(JsonOutcome::NotJson);
    }
    match crate::json::parse_array(rest) {
        Err(_) => Ok(JsonOutcome::NotJson),
        Ok(values) => {
            let mut out = Vec::new();
            for v in values {
                match v {
                    Some(s) => out.push(s),
                    None => return Err(NOT_STRING_ARRAY.into()),
                }
            }
            Ok(JsonOutcome::Args(out))
        }
    }
}

fn parse_maybe_json(rest: &str) -> Result<(Vec<String>, bool), String> {
    if rest.is_empty() {
        return Ok((Vec::new(), false));
    }
    match parse_json(rest)? {
        JsonOutcome::Args(a) => Ok((a, true)),
        JsonOutcome::NotJson => Ok((vec![rest.to_string()], false)),
    }
}

fn parse_maybe_json_to_list(rest: &str) -> Result<(Vec<String>, bool), String> {
    match parse_json(rest)? {
        JsonOutcome::Args(a) => Ok((a, true)),
        JsonOutcome::NotJson => Ok((parse_strings_whitespace_delimited(rest), false)),
    }
}

fn parse_health_config(rest: &str) -> Result<(Vec<String>, bool), String> {
    let b = rest.as_bytes();
    let mut sep = 0;
    while sep < b.len() && !is_space_byte(b[sep]) {
        sep += 1;
    }
    let mut next = sep;
    while next < b.len() && is_space_byte(b[next]) {
        next += 1;
    }
    if sep == 0 {
        return Ok((Vec::new(), false));
    }
    let typ = String::from_utf8_lossy(&b[..sep]).into_owned();
    let cmd = String::from_utf8_lossy(&b[next..]).into_owned();
    let (args, json) = parse_maybe_json(&cmd)?;
    let mut out = vec![typ];
    out.extend(args);
    Ok((out, json))
}

/// Parses one heredoc marker word (`<<EOF`, `<<-'EOF'`, `3<<EOF`); `None`
/// when the word is not a heredoc (BuildKit's `ParseHeredoc`).
pub fn parse_heredoc(src: &str) -> Result<Option<Heredoc>, String> {
    let digits = src.bytes().take_while(u8::is_ascii_digit).count();
    let Some(after) = src[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, after) = match after.strip_prefix('-') {
        Some(a) => (true, a),
        None => (false, after),
    };
    let rest = after.trim_start_matches(is_re_space);
    if rest.contains('<') {
        return Ok(None);
    }
    if rest.is_empty() {
        return Ok(None);
    }
    let fd = if digits == 0 {
        0
    } else {
        src[..digits].parse::<u64>().unwrap_or(u64::MAX)
    };
    let mut lex = Lex::new('\\');
    lex.skip_unset_env = true;
    let words = lex
        .process_words(rest, &EmptyEnv)
        .map_err(|e| e.to_string())?;
    if words.len() != 1 {
        return Ok(None);
    }
    lex.raw_quotes = true;
    let raw = lex
        .process_words(rest, &EmptyEnv)
        .map_err(|e| e.to_string())?;
    if raw.len() != words.len() {
        return Err(format!(
            "internal lexing of heredoc produced inconsistent results: {rest}"
        ));
    }
    let count = |s: &str| s.chars().filter(|c| *c == '\'' || *c == '"').count();
    let word = words[0].clone();
    let expand = count(&word) == count(&raw[0]);
    Ok(Some(Heredoc {
        name: word,
        file_descriptor: fd,
        expand,
        chomp,
        content: String::new(),
    }))
}

fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, String> {
    let mut lex = Lex::new('\\');
    lex.raw_quotes = true;
    lex.raw_escapes = true;
    lex.skip_unset_env = true;
    let words = lex.process_words(line, &EmptyEnv).unwrap_or_default();
    let mut docs = Vec::new();
    for w in words {
        if let Some(h) = parse_heredoc(&w)? {
            docs.push(h);
        }
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        let cases: &[(&str, &[&str])] = &[
            ("foo", &["foo"]),
            ("foo bar", &["foo", "bar"]),
            ("foo\\ bar", &["foo\\ bar"]),
            ("foo=bar", &["foo=bar"]),
            ("foo bar 'abc xyz'", &["foo", "bar", "'abc xyz'"]),
            (r#"foo bar "abc xyz""#, &["foo", "bar", r#""abc xyz""#]),
            ("àöû", &["àöû"]),
            (r#"föo bàr "âbc xÿz""#, &["föo", "bàr", r#""âbc xÿz""#]),
        ];
        for (input, want) in cases {
            assert_eq!(parse_words(input, '\\'), *want, "{input}");
        }
    }

    #[test]
    fn name_val() {
        assert_eq!(
            parse_name_val("foo bar", "LABEL", '\\').unwrap(),
            vec!["foo", "bar", ""]
        );
        assert_eq!(
            parse_name_val("foo=bar thing=star", "LABEL", '\\').unwrap(),
            vec!["foo", "bar", "=", "thing", "star", "="]
        );
        assert_eq!(
            parse_name_val("foo", "ENV", '\\').unwrap_err(),
            "ENV must have two arguments"
        );
    }

    #[test]
    fn heredoc_words() {
        for ok in [
            "<<EOF",
            "<<'EOF'",
            r#"<<"EOF""#,
            "<<-EOF",
            "<<-'EOF'",
            r#"<<-"EOF""#,
            r#"<<EO"F""#,
            "<< EOF",
            "<<- EOF",
        ] {
            assert_eq!(parse_heredoc(ok).unwrap().unwrap().name, "EOF", "{ok}");
        }
        for bad in ["<<'EOF", "<<\"EOF", "<<EOF'", "<<EOF\""] {
            assert!(parse_heredoc(bad).is_err(), "{bad}");
        }
        for none in ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"] {
            assert_eq!(parse_heredoc(none).unwrap(), None, "{none}");
        }
    }

    #[test]
    fn chomp() {
        assert_eq!(
            chomp_heredoc_content("\thello\n\tworld\n"),
            "hello\nworld\n"
        );
    }
}
