//! The error type of the volume store and the mount-spec parsers: a message
//! with Docker's wording and a kind the API turns into an HTTP status.

use std::fmt;

/// What went wrong, in terms of the Engine API's status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input from the user (400).
    InvalidParameter,
    /// No such volume or driver (404).
    NotFound,
    /// The volume is in use, or the name is taken (409).
    Conflict,
    /// Anything the system did wrong: I/O, mount failures (500).
    System,
}

impl ErrorKind {
    /// The HTTP status the Engine API answers for this kind.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::InvalidParameter => 400,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::System => 500,
        }
    }
}

/// An error of this crate: Docker's message text plus its [`ErrorKind`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeError {
    kind: ErrorKind,
    message: String,
}

impl VolumeError {
    /// An error of `kind` with `message` (shown to the user as is).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        VolumeError {
            kind,
            message: message.into(),
        }
    }

    /// A 400 error.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidParameter, message)
    }

    /// A 404 error.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// A 409 error.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    /// A 500 error.
    pub fn system(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::System, message)
    }

    /// Docker's "no such volume" for `name` (`get NAME: no such volume`).
    pub fn no_such_volume(name: &str) -> Self {
        Self::not_found(format!("get {name}: no such volume"))
    }

    /// Docker's conflict for removing a volume that containers still use:
    /// `remove NAME: volume is in use - [ID1, ID2]`. The engine keeps the
    /// references, so it builds this error.
    pub fn in_use(name: &str, containers: &[String]) -> Self {
        let mut s = format!("remove {name}: volume is in use");
        if !containers.is_empty() {
            s.push_str(&format!(" - [{}]", containers.join(", ")));
        }
        Self::conflict(s)
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, as Docker words it.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error with `prefix: ` in front of the message (Docker's
    /// `create NAME: ...` wrapping).
    pub(crate) fn context(self, prefix: impl fmt::Display) -> Self {
        VolumeError {
            kind: self.kind,
            message: format!("{prefix}: {}", self.message),
        }
    }
}

impl fmt::Display for VolumeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for VolumeError {}

/// Result with [`VolumeError`].
pub type Result<T, E = VolumeError> = std::result::Result<T, E>;

/// Go's wording of an errno (`no such file or directory`), as Docker's
/// messages show it.
pub(crate) fn errno_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let s = std::io::Error::from_raw_os_error(code).to_string();
            let s = match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            };
            let mut c = s.chars();
            match c.next() {
                Some(first) => first.to_lowercase().collect::<String>() + c.as_str(),
                None => s,
            }
        }
        None => e.to_string(),
    }
}

/// A system error `what: <errno text>` from an I/O error.
pub(crate) fn io_error(what: impl fmt::Display, e: impl Into<std::io::Error>) -> VolumeError {
    let e = e.into();
    VolumeError::system(format!("{what}: {}", errno_text(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_text_is_go_like() {
        let e = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(errno_text(&e), "no such file or directory");
        let e = std::io::Error::other("custom");
        assert_eq!(errno_text(&e), "custom");
    }

    #[test]
    fn in_use_and_not_found_texts() {
        let e = VolumeError::in_use("v", &["abc".into(), "def".into()]);
        assert_eq!(e.to_string(), "remove v: volume is in use - [abc, def]");
        assert_eq!(e.kind().http_status(), 409);
        let e = VolumeError::no_such_volume("nope");
        assert_eq!(e.to_string(), "get nope: no such volume");
        assert_eq!(e.kind(), ErrorKind::NotFound);
    }
}
