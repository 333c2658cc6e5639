//! `/volumes`: list, create, inspect, remove, prune.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use berth_engine::EngineError;
use bytes::Bytes;
use serde_json::{json, Value};

use super::system::join_err;
use super::State as S;
use crate::error::{ApiError, ApiResult};
use crate::query::Query;
use crate::version::ApiVersion;

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> ApiResult<T> {
    Ok(tokio::task::spawn_blocking(f).await.map_err(join_err)??)
}

/// `GET /volumes`.
pub async fn list(State(e): State<S>, RawQuery(q): RawQuery) -> ApiResult<Json<Value>> {
    let q = Query::parse(q.as_deref());
    let filters = q.get("filters").map(String::from);
    let v = blocking(move || e.list_volumes(filters.as_deref())).await?;
    Ok(Json(json!({"Volumes": v, "Warnings": null})))
}

/// `POST /volumes/create`.
pub async fn create(State(e): State<S>, body: Bytes) -> ApiResult<Response> {
    let b: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&body)
            .map_err(|err| ApiError(EngineError::invalid(format!("invalid JSON: {err}"))))?
    };
    let v = blocking(move || e.create_volume(&b)).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `GET /volumes/{name}`.
pub async fn inspect(State(e): State<S>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(blocking(move || e.inspect_volume(&name)).await?))
}

/// `DELETE /volumes/{name}`.
pub async fn remove(
    State(e): State<S>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<StatusCode> {
    let q = Query::parse(q.as_deref());
    let force = q.bool("force")?;
    blocking(move || e.remove_volume(&name, force)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /volumes/prune`.
pub async fn prune(
    State(e): State<S>,
    Extension(v): Extension<ApiVersion>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    let q = Query::parse(q.as_deref());
    let filters = q.get("filters").map(String::from);
    let old = (v.0, v.1) < (1, 42);
    let (removed, space) = blocking(move || e.prune_volumes(filters.as_deref(), old)).await?;
    Ok(Json(
        json!({"VolumesDeleted": removed, "SpaceReclaimed": space}),
    ))
}
