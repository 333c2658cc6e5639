//! `/_ping`, `/version`, `/info`, `/system/df`.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::response::IntoResponse;
use axum::Json;
use berth_engine::system::API_VERSION;

use super::State as S;
use crate::error::ApiResult;

pub async fn ping(method: Method) -> impl IntoResponse {
    let mut h = HeaderMap::new();
    h.insert("API-Version", HeaderValue::from_static(API_VERSION));
    h.insert("OSType", HeaderValue::from_static("linux"));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    h.insert("Swarm", HeaderValue::from_static("inactive"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if method == Method::HEAD {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        return (h, "").into_response();
    }
    (h, "OK").into_response()
}

pub async fn version(State(e): State<S>) -> impl IntoResponse {
    Json(e.version())
}

pub async fn info(State(e): State<S>) -> ApiResult<impl IntoResponse> {
    let v = tokio::task::spawn_blocking(move || e.info())
        .await
        .map_err(join_err)??;
    Ok(Json(v))
}

pub async fn df(State(e): State<S>) -> ApiResult<impl IntoResponse> {
    let v = tokio::task::spawn_blocking(move || e.disk_usage())
        .await
        .map_err(join_err)??;
    Ok(Json(v))
}

/// A panicked or cancelled blocking task.
pub fn join_err(e: tokio::task::JoinError) -> crate::error::ApiError {
    crate::error::ApiError(berth_engine::EngineError::internal(format!(
        "internal task failed: {e}"
    )))
}

/// `POST /auth`: checks credentials against a registry.
pub async fn auth(
    State(e): State<S>,
    body: bytes::Bytes,
) -> ApiResult<axum::Json<serde_json::Value>> {
    let b: serde_json::Value = serde_json::from_slice(&body).map_err(|err| {
        crate::error::ApiError(berth_engine::EngineError::invalid(format!(
            "invalid JSON: {err}"
        )))
    })?;
    let s = |k: &str| b[k].as_str().unwrap_or("").to_string();
    let creds = berth_engine::registry::Credentials {
        username: s("username"),
        password: s("password"),
        identity_token: s("identitytoken"),
        registry_token: s("registrytoken"),
    };
    let server = s("serveraddress");
    Ok(axum::Json(e.registry_login(&server, &creds).await?))
}
