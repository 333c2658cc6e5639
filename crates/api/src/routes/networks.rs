//! `/networks`: list, inspect, create, remove, prune, connect, disconnect.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_engine::EngineError;
use bytes::Bytes;
use serde_json::{json, Value};

use super::system::join_err;
use super::State as S;
use crate::error::{ApiError, ApiResult};
use crate::query::Query;

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> ApiResult<T> {
    Ok(tokio::task::spawn_blocking(f).await.map_err(join_err)??)
}

fn body_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|err| ApiError(EngineError::invalid(format!("invalid JSON: {err}"))))
}

/// `GET /networks`.
pub async fn list(State(e): State<S>, RawQuery(q): RawQuery) -> ApiResult<Json<Value>> {
    let q = Query::parse(q.as_deref());
    let filters = q.get("filters").map(String::from);
    Ok(Json(json!(
        blocking(move || e.list_networks(filters.as_deref())).await?
    )))
}

/// `GET /networks/{id}`.
pub async fn inspect(State(e): State<S>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(
        blocking(move || {
            let n = e.resolve_network(&id)?;
            e.network_json(&n, true)
        })
        .await?,
    ))
}

/// `POST /networks/create`.
pub async fn create(State(e): State<S>, body: Bytes) -> ApiResult<Response> {
    let b = body_json(&body)?;
    let (id, warning) = blocking(move || e.create_network(&b)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"Id": id, "Warning": warning})),
    )
        .into_response())
}

/// `DELETE /networks/{id}`.
pub async fn remove(State(e): State<S>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    blocking(move || e.remove_network(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /networks/prune`.
pub async fn prune(State(e): State<S>, RawQuery(q): RawQuery) -> ApiResult<Json<Value>> {
    let q = Query::parse(q.as_deref());
    let filters = q.get("filters").map(String::from);
    let removed = blocking(move || e.prune_networks(filters.as_deref())).await?;
    Ok(Json(json!({"NetworksDeleted": removed})))
}

/// `POST /networks/{id}/connect`.
pub async fn connect(
    State(e): State<S>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let b = body_json(&body)?;
    let container = b["Container"].as_str().unwrap_or("").to_string();
    if container.is_empty() {
        return Err(ApiError(EngineError::invalid(
            "no container given to connect",
        )));
    }
    let cfg = b["EndpointConfig"].clone();
    blocking(move || e.connect_network(&id, &container, &cfg)).await?;
    Ok(StatusCode::OK)
}

/// `POST /networks/{id}/disconnect`.
pub async fn disconnect(
    State(e): State<S>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let b = body_json(&body)?;
    let container = b["Container"].as_str().unwrap_or("").to_string();
    if container.is_empty() {
        return Err(ApiError(EngineError::invalid(
            "no container given to disconnect",
        )));
    }
    let force = b["Force"].as_bool() == Some(true);
    blocking(move || e.disconnect_network(&id, &container, force)).await?;
    Ok(StatusCode::OK)
}
