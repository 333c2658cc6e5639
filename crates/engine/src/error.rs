//! The engine's error type: a kind that the API maps to an HTTP status, and a
//! message written for the user (Docker's wording where Docker has one).

use std::fmt;

/// What kind of failure: decides the HTTP status the API answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400: the request is malformed or has a bad value.
    InvalidArgument,
    /// 404: the object does not exist.
    NotFound,
    /// 409: the operation conflicts with the object's state.
    Conflict,
    /// 304: nothing to do (e.g. starting a started container).
    NotModified,
    /// 403: not allowed.
    Forbidden,
    /// 401: credentials missing or refused.
    Unauthorized,
    /// 501: not implemented by this daemon.
    NotImplemented,
    /// 500: anything else.
    Internal,
}

/// An engine error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineError {
    /// The kind of failure.
    pub kind: ErrorKind,
    /// The message shown to the user.
    pub message: String,
    /// The exit code a process that could not start reports (126, 127).
    pub exit_code: Option<i64>,
}

impl EngineError {
    /// A new error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        EngineError {
            kind,
            message: message.into(),
            exit_code: None,
        }
    }
    /// The same error, carrying the exit code of a process that could not start.
    pub fn with_exit_code(mut self, code: i64) -> Self {
        self.exit_code = Some(code);
        self
    }
    /// 400.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }
    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }
    /// 409.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    /// 500.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    /// 501.
    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotImplemented, message)
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EngineError {}

impl From<berth_store::StoreError> for EngineError {
    fn from(e: berth_store::StoreError) -> Self {
        EngineError::internal(e.to_string())
    }
}

impl From<berth_content::ContentError> for EngineError {
    fn from(e: berth_content::ContentError) -> Self {
        match e {
            berth_content::ContentError::DigestMismatch { .. } => {
                EngineError::invalid(format!("invalid content: {e}"))
            }
            berth_content::ContentError::NotFound(_) => EngineError::not_found(e.to_string()),
            _ => EngineError::internal(e.to_string()),
        }
    }
}

impl From<berth_reference::ReferenceError> for EngineError {
    fn from(e: berth_reference::ReferenceError) -> Self {
        EngineError::invalid(e.to_string())
    }
}

impl From<berth_snapshot::ApplyError> for EngineError {
    fn from(e: berth_snapshot::ApplyError) -> Self {
        EngineError::invalid(format!("invalid layer: {e}"))
    }
}

/// Result with an [`EngineError`].
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Turns an I/O error into an internal error saying what was being done.
pub fn io_context(what: impl fmt::Display) -> impl FnOnce(std::io::Error) -> EngineError {
    move |e| EngineError::internal(format!("{what}: {e}"))
}
