//! API version negotiation: strips the `/v1.N` prefix before routing, checks
//! it is within the served range, and hands the version to handlers.

use axum::extract::Request;
use axum::http::Uri;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use berth_engine::system::{API_VERSION, MIN_API_VERSION};
use berth_engine::EngineError;

use crate::error::ApiError;

/// The API version a request asked for, as (major, minor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(pub u32, pub u32);

impl ApiVersion {
    /// Parses "1.41".
    pub fn parse(s: &str) -> Option<ApiVersion> {
        let (a, b) = s.split_once('.')?;
        Some(ApiVersion(a.parse().ok()?, b.parse().ok()?))
    }

    /// The highest version served.
    pub fn current() -> ApiVersion {
        ApiVersion::parse(API_VERSION).unwrap_or(ApiVersion(1, 47))
    }

    /// As a (major, minor) pair.
    pub fn pair(self) -> (u32, u32) {
        (self.0, self.1)
    }
}

/// Splits `/v1.41/images/json` into (Some(1.41), "/images/json").
pub fn split_version(path: &str) -> (Option<&str>, &str) {
    if let Some(rest) = path.strip_prefix("/v") {
        let end = rest.find('/').unwrap_or(rest.len());
        let ver = &rest[..end];
        if !ver.is_empty() && ver.chars().all(|c| c.is_ascii_digit() || c == '.') {
            let remainder = &rest[end..];
            return (
                Some(ver),
                if remainder.is_empty() { "/" } else { remainder },
            );
        }
    }
    (None, path)
}

/// The middleware.
pub async fn negotiate(mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let (ver, rest) = split_version(&path);
    let version = match ver {
        None => ApiVersion::current(),
        Some(v) => {
            let Some(parsed) = ApiVersion::parse(v) else {
                return ApiError(EngineError::invalid(format!("invalid API version: {v}")))
                    .into_response();
            };
            let min = ApiVersion::parse(MIN_API_VERSION).unwrap_or(ApiVersion(1, 24));
            if parsed > ApiVersion::current() {
                return ApiError(EngineError::invalid(format!(
                    "client version {v} is too new. Maximum supported API version is {API_VERSION}"
                )))
                .into_response();
            }
            if parsed < min {
                return ApiError(EngineError::invalid(format!(
                    "client version {v} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
                )))
                .into_response();
            }
            parsed
        }
    };
    if ver.is_some() {
        let pq = match req.uri().query() {
            Some(q) => format!("{rest}?{q}"),
            None => rest.to_string(),
        };
        if let Ok(uri) = pq.parse::<Uri>() {
            *req.uri_mut() = uri;
        }
    }
    req.extensions_mut().insert(version);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits() {
        assert_eq!(
            split_version("/v1.41/images/json"),
            (Some("1.41"), "/images/json")
        );
        assert_eq!(split_version("/_ping"), (None, "/_ping"));
        assert_eq!(split_version("/v1.47"), (Some("1.47"), "/"));
        assert_eq!(split_version("/version"), (None, "/version"));
        assert!(ApiVersion(1, 24) < ApiVersion(1, 100));
    }
}
