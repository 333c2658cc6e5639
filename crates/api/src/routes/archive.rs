//! `/containers/{id}/archive` (`docker cp`): `HEAD` for a path's stat,
//! `GET` for a tar of it, `PUT` to extract a tar into a directory.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use berth_engine::EngineError;

use super::system::join_err;
use super::State as S;
use crate::error::{ApiError, ApiResult};
use crate::query::Query;
use crate::stream::{body_reader, ChannelWriter};

const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> ApiResult<T> {
    Ok(tokio::task::spawn_blocking(f).await.map_err(join_err)??)
}

fn path_of(q: &Query) -> Result<String, ApiError> {
    q.get("path")
        .filter(|p| !p.is_empty())
        .map(String::from)
        .ok_or_else(|| ApiError(EngineError::invalid("path is required: ?path=/some/path")))
}

fn stat_header(v: &serde_json::Value) -> HeaderValue {
    let enc = base64::engine::general_purpose::STANDARD.encode(v.to_string());
    HeaderValue::from_str(&enc).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `HEAD /containers/{id}/archive?path=`.
pub async fn head(
    State(e): State<S>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let path = path_of(&Query::parse(q.as_deref()))?;
    let st = blocking(move || e.container_path_stat(&id, &path)).await?;
    let mut r = StatusCode::OK.into_response();
    r.headers_mut().insert(STAT_HEADER, stat_header(&st));
    Ok(r)
}

/// `GET /containers/{id}/archive?path=`.
pub async fn get(
    State(e): State<S>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let path = path_of(&Query::parse(q.as_deref()))?;
    let (e2, id2, p2) = (e.clone(), id.clone(), path.clone());
    let st = blocking(move || e2.container_path_stat(&id2, &p2)).await?;
    let (mut w, body) = ChannelWriter::new();
    tokio::task::spawn_blocking(move || {
        if let Err(err) = e.container_archive(&id, &path, &mut w) {
            w.abort(err.message);
        }
    });
    let mut r = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-tar"),
        )],
        body,
    )
        .into_response();
    r.headers_mut().insert(STAT_HEADER, stat_header(&st));
    Ok(r)
}

/// `PUT /containers/{id}/archive?path=`.
pub async fn put(
    State(e): State<S>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: Body,
) -> ApiResult<StatusCode> {
    let q = Query::parse(q.as_deref());
    let path = path_of(&q)?;
    let no_overwrite = q.bool("noOverwriteDirNonDir")?;
    let copy_uid_gid = q.bool("copyUIDGID")?;
    blocking(move || {
        let mut reader = body_reader(body);
        let r = e.container_extract(&id, &path, &mut reader, no_overwrite, copy_uid_gid);
        if r.is_err() {
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        }
        r
    })
    .await?;
    Ok(StatusCode::OK)
}
