//! The error returned when a Dockerfile cannot be parsed, worded like
//! Docker: instruction errors read `dockerfile parse error on line 7:
//! unknown instruction: FOOBAR`, errors of the line parser itself (heredocs,
//! directives, JSON) carry BuildKit's bare message, and every error knows
//! its lines so the caller can print `Dockerfile:7: …` or a source excerpt.

use std::fmt;

/// Which stage of parsing failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// The line parser (directives, continuations, heredocs, JSON arrays,
    /// `ENV`/`LABEL` syntax, empty file).
    Syntax,
    /// An instruction is not one Docker knows (`FOOBAR`).
    UnknownInstruction,
    /// An instruction's arguments or flags are invalid.
    Instruction,
}

/// A Dockerfile that could not be parsed, with the lines it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    kind: ParseErrorKind,
    message: String,
    line: usize,
    end_line: usize,
}

impl ParseError {
    pub(crate) fn syntax(message: String, line: usize, end_line: usize) -> Self {
        ParseError {
            kind: ParseErrorKind::Syntax,
            message,
            line,
            end_line: end_line.max(line),
        }
    }

    pub(crate) fn instruction(message: String, line: usize, end_line: usize) -> Self {
        ParseError {
            kind: ParseErrorKind::Instruction,
            message,
            line,
            end_line: end_line.max(line),
        }
    }

    pub(crate) fn unknown(message: String, line: usize, end_line: usize) -> Self {
        ParseError {
            kind: ParseErrorKind::UnknownInstruction,
            message,
            line,
            end_line: end_line.max(line),
        }
    }

    /// What failed.
    pub fn kind(&self) -> ParseErrorKind {
        self.kind
    }

    /// The bare message, e.g. `unknown instruction: FOOBAR`.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// First line (1-based) of the offending instruction.
    pub fn line(&self) -> usize {
        self.line
    }

    /// Last line (1-based) of the offending instruction.
    pub fn end_line(&self) -> usize {
        self.end_line
    }

    /// The message prefixed with the file and line: `Dockerfile:7: unknown
    /// instruction: FOOBAR`.
    pub fn located(&self, file_name: &str) -> String {
        format!("{}:{}: {}", file_name, self.line, self.message)
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ParseErrorKind::Syntax => f.write_str(&self.message),
            _ => write!(
                f,
                "dockerfile parse error on line {}: {}",
                self.line, self.message
            ),
        }
    }
}

impl std::error::Error for ParseError {}

/// An error found while preparing a build from a parsed Dockerfile
/// (argument expansion, base names, stage references), with the line of
/// the instruction it concerns when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    message: String,
    line: Option<usize>,
}

impl BuildError {
    pub(crate) fn new(message: impl Into<String>, line: Option<usize>) -> Self {
        BuildError {
            message: message.into(),
            line,
        }
    }

    /// The message, worded as BuildKit.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The 1-based line of the instruction concerned, if any.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// `Dockerfile:7: message` (just the message without a line).
    pub fn located(&self, file_name: &str) -> String {
        match self.line {
            Some(l) => format!("{}:{}: {}", file_name, l, self.message),
            None => self.message.clone(),
        }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BuildError {}
