//! Errors of the registry client: the registry's JSON error codes
//! (distribution's `errcode`), Docker's pull-error texts, network failures
//! that name the host and say what to do, and verification failures.

use std::fmt;

use serde::Deserialize;

use crate::challenge::Challenge;

/// One error of a registry's `{"errors":[…]}` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryError {
    /// The code, e.g. `MANIFEST_UNKNOWN`, `UNAUTHORIZED`, `DENIED`.
    pub code: String,
    /// The message (the code's default message when the registry sent none).
    pub message: String,
    /// The `detail` value, as JSON text (empty when absent).
    pub detail: String,
}

impl RegistryError {
    /// An error with `code` and its default message.
    pub fn new(code: &str) -> RegistryError {
        RegistryError {
            code: code.to_owned(),
            message: default_message(code).to_owned(),
            detail: String::new(),
        }
    }

    /// Same code, another message.
    pub fn with_message(mut self, message: &str) -> RegistryError {
        self.message = message.to_owned();
        self
    }
}

impl fmt::Display for RegistryError {
    /// distribution's `errcode.Error`: `manifest unknown: manifest unknown`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}",
            self.code.to_lowercase().replace('_', " "),
            self.message
        )
    }
}

/// distribution's default messages for its error codes.
fn default_message(code: &str) -> &'static str {
    match code {
        "UNSUPPORTED" => "The operation is unsupported.",
        "UNAUTHORIZED" => "authentication required",
        "DENIED" => "requested access to the resource is denied",
        "UNAVAILABLE" => "service unavailable",
        "TOOMANYREQUESTS" => "too many requests",
        "BLOB_UNKNOWN" | "MANIFEST_BLOB_UNKNOWN" => "blob unknown to registry",
        "BLOB_UPLOAD_UNKNOWN" => "blob upload unknown to registry",
        "BLOB_UPLOAD_INVALID" => "blob upload invalid",
        "DIGEST_INVALID" => "provided digest did not match uploaded content",
        "MANIFEST_UNKNOWN" => "manifest unknown",
        "MANIFEST_INVALID" => "manifest invalid",
        "MANIFEST_UNVERIFIED" => "manifest failed signature verification",
        "NAME_INVALID" => "invalid repository name",
        "NAME_UNKNOWN" => "repository name not known to registry",
        "SIZE_INVALID" => "provided length did not match content length",
        "TAG_INVALID" => "manifest tag did not match URI",
        "PAGINATION_NUMBER_INVALID" => "invalid number of results requested",
        "RANGE_INVALID" => "invalid content range",
        _ => "unknown error",
    }
}

/// Broad classes of errors, for mapping to API status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The repository, manifest or blob does not exist (404).
    NotFound,
    /// Credentials missing or refused (401).
    Unauthorized,
    /// Access refused with valid credentials (403).
    Forbidden,
    /// Bad input from the caller or bad configuration (400).
    InvalidParameter,
    /// The registry cannot be reached or timed out (503/500).
    Unavailable,
    /// Anything else (500).
    Other,
}

/// Errors of the registry client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad configuration (mirrors, insecure registries, CA files).
    #[error("{0}")]
    Config(String),
    /// Bad input from the caller.
    #[error("{0}")]
    InvalidInput(String),
    /// The request never got an HTTP answer (DNS, connect, TLS, reset).
    #[error("{method} \"{url}\": {message}")]
    Transport {
        /// Go-style method name (`Get`, `Head`, `Put`, …).
        method: String,
        /// The URL asked for.
        url: String,
        /// What went wrong and what to do.
        message: String,
    },
    /// The registry answered with error codes. Shown as distribution does
    /// (`denied: requested access to the resource is denied`); 401 answers
    /// are prefixed with the request, as Docker shows them.
    #[error("{}", registry_display(*status, method, url, errors))]
    Registry {
        /// HTTP status.
        status: u16,
        /// Go-style method name.
        method: String,
        /// The URL asked for.
        url: String,
        /// The errors, first one first.
        errors: Vec<RegistryError>,
    },
    /// The registry answered with an unexpected status and no error body.
    #[error(
        "{method} \"{url}\": unexpected status from registry: {status}{}",
        body_suffix(body)
    )]
    UnexpectedStatus {
        /// HTTP status (code and reason).
        status: String,
        /// Go-style method name.
        method: String,
        /// The URL asked for.
        url: String,
        /// The start of the body, if any.
        body: String,
    },
    /// The registry wants Basic credentials and none were given.
    #[error("{method} \"{url}\": no basic auth credentials")]
    NoBasicAuthCredentials {
        /// Go-style method name.
        method: String,
        /// The URL asked for.
        url: String,
    },
    /// Docker's `pull access denied for NAME, repository does not exist or
    /// may require 'docker login': CAUSE`.
    #[error("pull access denied for {name}, repository does not exist or may require 'docker login': {cause}")]
    PullAccessDenied {
        /// Familiar repository name.
        name: String,
        /// The registry's error.
        cause: RegistryError,
    },
    /// Docker's `manifest for REF not found: CAUSE`.
    #[error("manifest for {reference} not found: {cause}")]
    ManifestNotFound {
        /// Familiar reference (`busybox:nope`).
        reference: String,
        /// The registry's error.
        cause: RegistryError,
    },
    /// Docker's `repository NAME not found: CAUSE`.
    #[error("repository {name} not found: {cause}")]
    RepositoryNotFound {
        /// Familiar repository name.
        name: String,
        /// The registry's error.
        cause: RegistryError,
    },
    /// A blob the registry does not have.
    #[error("blob {digest} unknown to registry {registry}")]
    BlobUnknown {
        /// The digest asked for.
        digest: String,
        /// The registry host.
        registry: String,
    },
    /// `docker login` refused (Docker's text).
    #[error("login attempt to {url} failed with status: {status}")]
    LoginFailed {
        /// The `/v2/` URL tried.
        url: String,
        /// Code and reason, e.g. `401 Unauthorized`.
        status: String,
    },
    /// A search answered something else than 200 (Docker's text; the
    /// registry may not offer the v1 search at all).
    #[error("Unexpected status code {0}")]
    SearchStatus(u16),
    /// The token server failed or answered nonsense.
    #[error("{0}")]
    Auth(String),
    /// config.json or a credential helper failed.
    #[error("{0}")]
    Credentials(String),
    /// Content did not match its digest.
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was checked, e.g. `blob sha256:… from localhost:5000`.
        what: String,
        /// Expected digest.
        expected: String,
        /// Computed digest.
        actual: String,
    },
    /// Content did not have its declared size.
    #[error("{what}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// What was checked.
        what: String,
        /// Expected size.
        expected: u64,
        /// Actual size (at least).
        actual: u64,
    },
    /// A response larger than allowed (manifests, token answers).
    #[error("{what} is larger than the {limit} bytes allowed")]
    TooLarge {
        /// What was read.
        what: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// A manifest that cannot be used.
    #[error("{0}")]
    InvalidManifest(String),
    /// A timeout waiting for the registry.
    #[error("{method} \"{url}\": timed out after {secs}s waiting for the registry; check the network or raise the timeout")]
    Timeout {
        /// Go-style method name.
        method: String,
        /// The URL asked for.
        url: String,
        /// The timeout in seconds.
        secs: u64,
    },
    /// A plain download (not a registry request) answered something else
    /// than 200 (Docker's text).
    #[error("failed to GET {url} with status {status}")]
    HttpStatus {
        /// The URL asked for (after redirects).
        url: String,
        /// Code and reason, e.g. `404 Not Found`.
        status: String,
    },
    /// Reading the local source of an upload failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn body_suffix(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

fn registry_display(status: u16, method: &str, url: &str, errors: &[RegistryError]) -> String {
    let text = match errors {
        [] => "unknown: unknown error".to_owned(),
        [one] => one.to_string(),
        many => {
            let mut s = "errors:\n".to_owned();
            for e in many {
                s.push_str(&e.to_string());
                s.push('\n');
            }
            s
        }
    };
    if status == 401 {
        format!("{method} \"{url}\": {text}")
    } else {
        text
    }
}

impl Error {
    /// The broad class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config(_) | Error::InvalidInput(_) | Error::InvalidManifest(_) => {
                ErrorKind::InvalidParameter
            }
            Error::PullAccessDenied { .. }
            | Error::ManifestNotFound { .. }
            | Error::RepositoryNotFound { .. }
            | Error::BlobUnknown { .. } => ErrorKind::NotFound,
            Error::NoBasicAuthCredentials { .. } | Error::LoginFailed { .. } => {
                ErrorKind::Unauthorized
            }
            Error::Registry { status, errors, .. } => match errors.first().map(|e| e.code.as_str())
            {
                Some("UNAUTHORIZED") => ErrorKind::Unauthorized,
                Some("DENIED") => ErrorKind::Forbidden,
                Some("MANIFEST_UNKNOWN" | "NAME_UNKNOWN" | "BLOB_UNKNOWN") => ErrorKind::NotFound,
                Some("NAME_INVALID" | "TAG_INVALID" | "MANIFEST_INVALID" | "DIGEST_INVALID") => {
                    ErrorKind::InvalidParameter
                }
                _ if *status == 401 => ErrorKind::Unauthorized,
                _ if *status == 403 => ErrorKind::Forbidden,
                _ if *status == 404 => ErrorKind::NotFound,
                _ => ErrorKind::Other,
            },
            Error::Auth(_) => ErrorKind::Unauthorized,
            Error::HttpStatus { .. } => ErrorKind::InvalidParameter,
            Error::Transport { .. } | Error::Timeout { .. } => ErrorKind::Unavailable,
            _ => ErrorKind::Other,
        }
    }

    /// The first registry error code, if the registry sent one.
    pub fn registry_code(&self) -> Option<&str> {
        match self {
            Error::Registry { errors, .. } => errors.first().map(|e| e.code.as_str()),
            Error::PullAccessDenied { cause, .. }
            | Error::ManifestNotFound { cause, .. }
            | Error::RepositoryNotFound { cause, .. } => Some(&cause.code),
            _ => None,
        }
    }

    /// True when no HTTP exchange happened (connection, DNS, TLS, timeout):
    /// another endpoint (plain HTTP for an insecure registry) may work.
    pub fn is_transport(&self) -> bool {
        matches!(self, Error::Transport { .. } | Error::Timeout { .. })
    }
}

/// distribution's JSON error body.
#[derive(Deserialize)]
struct ErrorsBody {
    #[serde(default)]
    errors: Option<Vec<ErrorItem>>,
    /// Old registries and Docker Hub's token server: `{"details": "..."}`.
    #[serde(default)]
    details: Option<String>,
}

#[derive(Deserialize)]
struct ErrorItem {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    detail: Option<serde_json::Value>,
}

/// Builds the error for a 4xx/5xx answer, as distribution's
/// `HandleErrorResponse`: OAuth errors of a Bearer challenge first
/// (`insufficient_scope` → `DENIED`, `invalid_token` → `UNAUTHORIZED`), then
/// the JSON body, then a bare 401 → `UNAUTHORIZED`.
pub(crate) fn from_response(
    method: &str,
    url: &str,
    status: hyper::StatusCode,
    challenges: &[Challenge],
    body: &[u8],
) -> Error {
    let code = status.as_u16();
    let mut errors = Vec::new();
    if (400..500).contains(&code) {
        for c in challenges.iter().filter(|c| c.is_bearer()) {
            let base = match c.param("error") {
                Some("invalid_token") => RegistryError::new("UNAUTHORIZED"),
                Some("insufficient_scope") => RegistryError::new("DENIED"),
                _ => continue,
            };
            let e = match c.param("error_description") {
                Some(d) if !d.is_empty() => base.with_message(d),
                _ => base,
            };
            errors.push(e);
            break;
        }
    }
    if let Ok(parsed) = serde_json::from_slice::<ErrorsBody>(body) {
        if let Some(details) = parsed.details.filter(|d| !d.is_empty()) {
            let e = match code {
                401 => RegistryError::new("UNAUTHORIZED"),
                429 => RegistryError::new("TOOMANYREQUESTS"),
                _ => RegistryError::new("UNKNOWN"),
            };
            errors.push(e.with_message(&details));
        }
        for item in parsed.errors.unwrap_or_default() {
            let code_s = if item.code.is_empty() {
                "UNKNOWN".to_owned()
            } else {
                item.code.to_uppercase()
            };
            let message = if item.message.is_empty() {
                default_message(&code_s).to_owned()
            } else {
                item.message
            };
            errors.push(RegistryError {
                code: code_s,
                message,
                detail: item.detail.map(|d| d.to_string()).unwrap_or_default(),
            });
        }
    }
    if errors.is_empty() {
        match code {
            401 => errors.push(RegistryError::new("UNAUTHORIZED")),
            429 => errors.push(RegistryError::new("TOOMANYREQUESTS")),
            _ => {
                let text = String::from_utf8_lossy(body);
                let mut snippet: String = text.trim().chars().take(200).collect();
                if text.trim().chars().count() > 200 {
                    snippet.push('…');
                }
                return Error::UnexpectedStatus {
                    status: status_text(status),
                    method: method.to_owned(),
                    url: url.to_owned(),
                    body: snippet,
                };
            }
        }
    }
    Error::Registry {
        status: code,
        method: method.to_owned(),
        url: url.to_owned(),
        errors,
    }
}

/// `404 Not Found`.
pub(crate) fn status_text(status: hyper::StatusCode) -> String {
    match status.canonical_reason() {
        Some(r) => format!("{} {r}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::challenge::parse_challenges;
    use hyper::StatusCode;

    #[test]
    fn registry_errors_display_like_distribution() {
        let e = from_response(
            "Get",
            "http://h/v2/x/manifests/nope",
            StatusCode::NOT_FOUND,
            &[],
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"nope"}}]}"#,
        );
        assert_eq!(e.to_string(), "manifest unknown: manifest unknown");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.registry_code(), Some("MANIFEST_UNKNOWN"));
    }

    #[test]
    fn insufficient_scope_is_denied() {
        let ch = parse_challenges([
            r#"Bearer realm="https://a/token",service="s",scope="repository:library/nope:pull",error="insufficient_scope""#,
        ]);
        let e = from_response(
            "Get",
            "https://r/v2/library/nope/manifests/latest",
            StatusCode::UNAUTHORIZED,
            &ch,
            br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#,
        );
        assert_eq!(e.registry_code(), Some("DENIED"));
        assert!(e
            .to_string()
            .contains("denied: requested access to the resource is denied"));
    }

    #[test]
    fn bare_401_and_details_and_unexpected() {
        let e = from_response("Head", "http://h/v2/", StatusCode::UNAUTHORIZED, &[], b"");
        assert_eq!(
            e.to_string(),
            "Head \"http://h/v2/\": unauthorized: authentication required"
        );
        let e = from_response(
            "Get",
            "https://auth/token",
            StatusCode::UNAUTHORIZED,
            &[],
            br#"{"details":"incorrect username or password"}"#,
        );
        assert!(e
            .to_string()
            .ends_with("unauthorized: incorrect username or password"));
        let e = from_response(
            "Get",
            "http://h/v2/x",
            StatusCode::BAD_GATEWAY,
            &[],
            b"<html>bad gateway</html>",
        );
        assert_eq!(
            e.to_string(),
            "Get \"http://h/v2/x\": unexpected status from registry: 502 Bad Gateway: <html>bad gateway</html>"
        );
    }

    #[test]
    fn several_errors() {
        let e = from_response(
            "Put",
            "u",
            StatusCode::BAD_REQUEST,
            &[],
            br#"{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":""},{"code":"DIGEST_INVALID","message":"bad"}]}"#,
        );
        assert_eq!(
            e.to_string(),
            "errors:\nmanifest blob unknown: blob unknown to registry\ndigest invalid: bad\n"
        );
    }
}
