//! Errors: [`RegistryError`] for the library's callers (configuration, start-up,
//! storage, garbage collection) and [`ApiError`], the distribution spec's JSON
//! error (`{"errors":[{"code","message","detail"}]}`) sent to HTTP clients.

use std::io;
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;

/// Errors returned by the library's entry points ([`crate::bind`],
/// [`crate::serve`], [`crate::gc()`], [`crate::Config::from_file`]).
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A file or directory could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "create directory".
        action: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The configuration (file or values) is invalid.
    #[error("invalid registry configuration: {0}")]
    Config(String),
    /// The TLS certificate or key could not be loaded.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The operating system's error.
        source: io::Error,
    },
    /// The storage directory holds something this version cannot use.
    #[error("corrupt registry storage: {0}")]
    Corrupt(String),
}

impl RegistryError {
    /// Wraps an I/O error with the action and the path it concerned.
    pub(crate) fn io(action: &'static str, path: &Path, source: io::Error) -> Self {
        RegistryError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The error codes of the distribution spec (and the two extra ones the
/// reference implementation, distribution, uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// `BLOB_UNKNOWN` (404).
    BlobUnknown,
    /// `BLOB_UPLOAD_INVALID` (400).
    BlobUploadInvalid,
    /// `BLOB_UPLOAD_UNKNOWN` (404).
    BlobUploadUnknown,
    /// `DIGEST_INVALID` (400).
    DigestInvalid,
    /// `MANIFEST_BLOB_UNKNOWN` (400).
    ManifestBlobUnknown,
    /// `MANIFEST_INVALID` (400).
    ManifestInvalid,
    /// `MANIFEST_UNKNOWN` (404).
    ManifestUnknown,
    /// `NAME_INVALID` (400).
    NameInvalid,
    /// `NAME_UNKNOWN` (404).
    NameUnknown,
    /// `SIZE_INVALID` (400).
    SizeInvalid,
    /// `UNAUTHORIZED` (401).
    Unauthorized,
    /// `DENIED` (403).
    Denied,
    /// `UNSUPPORTED` (405).
    Unsupported,
    /// `TOOMANYREQUESTS` (429).
    TooManyRequests,
    /// `RANGE_INVALID` (416, distribution's code for out-of-order chunks).
    RangeInvalid,
    /// `PAGINATION_NUMBER_INVALID` (400, distribution's code for a bad `n`).
    PaginationNumberInvalid,
    /// `UNKNOWN` (500): a server-side failure.
    Unknown,
}

impl ErrorCode {
    /// The code as it appears in the JSON body.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BlobUnknown => "BLOB_UNKNOWN",
            ErrorCode::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            ErrorCode::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            ErrorCode::DigestInvalid => "DIGEST_INVALID",
            ErrorCode::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            ErrorCode::ManifestInvalid => "MANIFEST_INVALID",
            ErrorCode::ManifestUnknown => "MANIFEST_UNKNOWN",
            ErrorCode::NameInvalid => "NAME_INVALID",
            ErrorCode::NameUnknown => "NAME_UNKNOWN",
            ErrorCode::SizeInvalid => "SIZE_INVALID",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Denied => "DENIED",
            ErrorCode::Unsupported => "UNSUPPORTED",
            ErrorCode::TooManyRequests => "TOOMANYREQUESTS",
            ErrorCode::RangeInvalid => "RANGE_INVALID",
            ErrorCode::PaginationNumberInvalid => "PAGINATION_NUMBER_INVALID",
            ErrorCode::Unknown => "UNKNOWN",
        }
    }

    /// The HTTP status the spec (or distribution) pairs with the code.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::BlobUnknown
            | ErrorCode::BlobUploadUnknown
            | ErrorCode::ManifestUnknown
            | ErrorCode::NameUnknown => StatusCode::NOT_FOUND,
            ErrorCode::BlobUploadInvalid
            | ErrorCode::DigestInvalid
            | ErrorCode::ManifestBlobUnknown
            | ErrorCode::ManifestInvalid
            | ErrorCode::NameInvalid
            | ErrorCode::SizeInvalid
            | ErrorCode::PaginationNumberInvalid => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Denied => StatusCode::FORBIDDEN,
            ErrorCode::Unsupported => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RangeInvalid => StatusCode::RANGE_NOT_SATISFIABLE,
            ErrorCode::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The spec's short description of the code, used when no better
    /// message is given.
    pub fn default_message(self) -> &'static str {
        match self {
            ErrorCode::BlobUnknown => "blob unknown to registry",
            ErrorCode::BlobUploadInvalid => "blob upload invalid",
            ErrorCode::BlobUploadUnknown => "blob upload unknown to registry",
            ErrorCode::DigestInvalid => "provided digest did not match uploaded content",
            ErrorCode::ManifestBlobUnknown => {
                "manifest references a manifest or blob unknown to registry"
            }
            ErrorCode::ManifestInvalid => "manifest invalid",
            ErrorCode::ManifestUnknown => "manifest unknown",
            ErrorCode::NameInvalid => "invalid repository name",
            ErrorCode::NameUnknown => "repository name not known to registry",
            ErrorCode::SizeInvalid => "provided length did not match content length",
            ErrorCode::Unauthorized => "authentication required",
            ErrorCode::Denied => "requested access to the resource is denied",
            ErrorCode::Unsupported => "the operation is unsupported",
            ErrorCode::TooManyRequests => "too many requests",
            ErrorCode::RangeInvalid => "invalid content range",
            ErrorCode::PaginationNumberInvalid => "invalid number of results requested",
            ErrorCode::Unknown => "unknown error",
        }
    }
}

/// One error sent to an HTTP client, in the spec's JSON shape (boxed: it
/// travels through every handler's `Result`).
#[derive(Debug, Clone)]
pub struct ApiError(Box<Inner>);

#[derive(Debug, Clone)]
struct Inner {
    code: ErrorCode,
    message: String,
    detail: Option<serde_json::Value>,
    status: Option<StatusCode>,
    headers: Vec<(&'static str, String)>,
    more: Vec<(ErrorCode, String, Option<serde_json::Value>)>,
}

impl ApiError {
    /// An error with the code's default message.
    pub fn new(code: ErrorCode) -> Self {
        ApiError::msg(code, code.default_message())
    }

    /// An error with a specific message.
    pub fn msg(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError(Box::new(Inner {
            code,
            message: message.into(),
            detail: None,
            status: None,
            headers: Vec::new(),
            more: Vec::new(),
        }))
    }

    /// The (first) error code.
    pub fn code(&self) -> ErrorCode {
        self.0.code
    }

    /// The (first) message.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// Adds a structured `detail`.
    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.0.detail = Some(detail);
        self
    }

    /// Overrides the HTTP status.
    pub fn status(mut self, status: StatusCode) -> Self {
        self.0.status = Some(status);
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.0.headers.push((name, value.into()));
        self
    }

    /// Adds a further error to the same response.
    pub fn also(
        mut self,
        code: ErrorCode,
        message: impl Into<String>,
        detail: Option<serde_json::Value>,
    ) -> Self {
        self.0.more.push((code, message.into(), detail));
        self
    }

    /// A server-side failure: logged, reported as `UNKNOWN` (500).
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        tracing::error!("registry: {context}: {err}");
        ApiError::msg(ErrorCode::Unknown, format!("{context}: {err}"))
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let e = &self.0;
        let one = |code: ErrorCode, message: &str, detail: &Option<serde_json::Value>| {
            let mut o = serde_json::Map::new();
            o.insert("code".into(), code.as_str().into());
            o.insert("message".into(), message.into());
            if let Some(d) = detail {
                o.insert("detail".into(), d.clone());
            }
            serde_json::Value::Object(o)
        };
        let mut errors = vec![one(e.code, &e.message, &e.detail)];
        for (code, message, detail) in &e.more {
            errors.push(one(*code, message, detail));
        }
        serde_json::json!({ "errors": errors })
    }

    /// The HTTP response.
    pub fn into_response(self) -> Response {
        let status = self.0.status.unwrap_or_else(|| self.0.code.status());
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let len = body.len();
        let mut resp = Response::new(Body::from(body));
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        h.insert("content-length", HeaderValue::from(len));
        for (name, value) in &self.0.headers {
            if let Ok(v) = HeaderValue::from_str(value) {
                h.append(*name, v);
            }
        }
        resp
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        ApiError::internal("storage", e)
    }
}

/// Result type of request handlers.
pub type ApiResult<T> = Result<T, ApiError>;
