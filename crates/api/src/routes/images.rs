//! `/images/...`: list, inspect, history, tag, remove, prune, import
//! (`/images/create?fromSrc=-`), pull (one tag or all), push, search, load
//! and save.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use berth_engine::images::import::ImportOptions;
use berth_engine::images::{DeleteItem, ImageFilters};
use berth_engine::EngineError;
use serde_json::json;

use super::system::join_err;
use super::State as S;
use crate::error::{ApiError, ApiResult};
use crate::query::Query;
use crate::stream::{body_reader, json_lines, ChannelWriter};
use crate::version::ApiVersion;

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> ApiResult<T> {
    Ok(tokio::task::spawn_blocking(f).await.map_err(join_err)??)
}

pub async fn list(
    State(e): State<S>,
    Extension(v): Extension<ApiVersion>,
    RawQuery(q): RawQuery,
) -> ApiResult<impl IntoResponse> {
    let q = Query::parse(q.as_deref());
    let all = q.bool("all")?;
    let (filters, _) = ImageFilters::parse(
        q.get("filters"),
        &[
            "dangling",
            "reference",
            "label",
            "label!",
            "before",
            "since",
            "until",
        ],
    )?;
    let list = blocking(move || e.list_images(&filters, all, v.pair())).await?;
    Ok(Json(list))
}

/// Before API 1.45 an image's inspect also has `Container` and
/// `ContainerConfig` (the build container's config, zero-valued for images
/// not made by the classic builder). docker-compose 1.x negotiates the
/// daemon's newest API version yet still reads
/// `ContainerConfig.Volumes` when it recreates a container (it fails with
/// `KeyError: 'ContainerConfig'` against Docker 25 and later), so its
/// requests (`User-Agent: docker-compose/1.…`) get the field at any
/// version. berth puts the image's own `Volumes` there, so anonymous
/// volumes the image declares are carried over as with a classically
/// built image.
fn with_container_config(
    mut v: serde_json::Value,
    api: (u32, u32),
    agent: &str,
) -> serde_json::Value {
    if api < (1, 45) || agent.starts_with("docker-compose/1.") {
        let volumes = v["Config"]["Volumes"].clone();
        v["Container"] = json!("");
        v["ContainerConfig"] = json!({
            "Hostname": "", "Domainname": "", "User": "",
            "AttachStdin": false, "AttachStdout": false, "AttachStderr": false,
            "Tty": false, "OpenStdin": false, "StdinOnce": false,
            "Env": null, "Cmd": null, "Image": "", "Volumes": volumes,
            "WorkingDir": "", "Entrypoint": null, "OnBuild": null, "Labels": null,
        });
    }
    v
}

pub async fn get_dispatch(
    State(e): State<S>,
    Extension(v): Extension<ApiVersion>,
    Path(rest): Path<String>,
    RawQuery(_q): RawQuery,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    let Some((name, op)) = rest.rsplit_once('/') else {
        return Ok(page_not_found());
    };
    let name = name.to_string();
    match op {
        "json" => {
            let inspect = blocking(move || e.inspect_image(&name)).await?;
            let agent = headers
                .get(header::USER_AGENT)
                .and_then(|a| a.to_str().ok())
                .unwrap_or("");
            Ok(Json(with_container_config(inspect, v.pair(), agent)).into_response())
        }
        "history" => Ok(Json(blocking(move || e.image_history(&name)).await?).into_response()),
        "get" => save(e, vec![name]).await,
        _ => Ok(page_not_found()),
    }
}

pub async fn post_dispatch(
    State(e): State<S>,
    Path(rest): Path<String>,
    RawQuery(q): RawQuery,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let Some((name, op)) = rest.rsplit_once('/') else {
        return Ok(page_not_found());
    };
    let name = name.to_string();
    match op {
        "tag" => {
            let repo = q.get("repo").unwrap_or("").to_string();
            let tag = q.get("tag").unwrap_or("").to_string();
            blocking(move || e.tag_image(&name, &repo, &tag)).await?;
            Ok(StatusCode::CREATED.into_response())
        }
        "push" => {
            let creds = registry_auth(&headers)?;
            let tag = q.get("tag").map(String::from);
            stream_progress(move |progress| async move {
                e.push_image(&name, tag.as_deref(), creds, progress).await
            })
            .await
        }
        _ => Ok(page_not_found()),
    }
}

/// Credentials from the `X-Registry-Auth` header (base64url JSON).
fn registry_auth(
    headers: &axum::http::HeaderMap,
) -> Result<Option<berth_engine::registry::Credentials>, ApiError> {
    let Some(v) = headers.get("X-Registry-Auth").and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let auth = berth_engine::registry::decode_registry_auth(v)
        .map_err(|err| ApiError(EngineError::invalid(err.to_string())))?;
    let creds = auth
        .credentials()
        .map_err(|err| ApiError(EngineError::invalid(err.to_string())))?;
    if creds.username.is_empty()
        && creds.identity_token.is_empty()
        && creds.registry_token.is_empty()
    {
        return Ok(None);
    }
    Ok(Some(creds))
}

/// Runs a pull or push: an error before its first message is the HTTP
/// answer (404 for an unknown image, as Docker); after it, the error ends
/// the JSON message stream.
async fn stream_progress<F, Fut>(run: F) -> ApiResult<Response>
where
    F: FnOnce(berth_engine::images::distribution::Progress) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), EngineError>> + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<serde_json::Value>();
    let sink = tx.clone();
    let progress: berth_engine::images::distribution::Progress = std::sync::Arc::new(move |v| {
        let _ = sink.send(v);
    });
    let mut task = tokio::spawn(run(progress));
    drop(tx);
    let first = tokio::select! {
        m = rx.recv() => m,
        r = &mut task => {
            match r {
                Ok(Err(err)) => return Err(ApiError(err)),
                Err(err) => return Err(ApiError(EngineError::internal(err.to_string()))),
                Ok(Ok(())) => rx.recv().await,
            }
        }
    };
    let (out_tx, body) = json_lines();
    if let Some(m) = first {
        let _ = out_tx.send(m);
    }
    tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if out_tx.send(m).is_err() {
                break;
            }
        }
        if let Ok(Err(err)) = task.await {
            let _ =
                out_tx.send(json!({"errorDetail": {"message": err.message}, "error": err.message}));
        }
    });
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

fn page_not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"message": "page not found"})),
    )
        .into_response()
}

fn delete_items(items: Vec<DeleteItem>) -> Vec<serde_json::Value> {
    items
        .into_iter()
        .map(|i| match i {
            DeleteItem::Untagged(t) => json!({"Untagged": t}),
            DeleteItem::Deleted(d) => json!({"Deleted": d}),
        })
        .collect()
}

pub async fn remove(
    State(e): State<S>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<impl IntoResponse> {
    let q = Query::parse(q.as_deref());
    let force = q.bool("force")?;
    let noprune = q.bool("noprune")?;
    let items = blocking(move || e.remove_image(&name, force, !noprune)).await?;
    Ok(Json(delete_items(items)))
}

pub async fn prune(State(e): State<S>, RawQuery(q): RawQuery) -> ApiResult<impl IntoResponse> {
    let q = Query::parse(q.as_deref());
    let (filters, _) =
        ImageFilters::parse(q.get("filters"), &["dangling", "label", "label!", "until"])?;
    let (items, reclaimed) = blocking(move || e.prune_images(&filters)).await?;
    Ok(Json(
        json!({"ImagesDeleted": delete_items(items), "SpaceReclaimed": reclaimed}),
    ))
}

/// `POST /images/create`: import with `fromSrc`; `fromImage` (pull) needs a
/// registry client.
pub async fn create(
    State(e): State<S>,
    RawQuery(q): RawQuery,
    headers: axum::http::HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    if let Some(src) = q.get("fromSrc") {
        if src != "-" {
            return Err(ApiError(EngineError::invalid(format!(
                "importing from a URL ({src}) is not supported: download the archive and import it from a file or standard input"
            ))));
        }
        let opts = ImportOptions {
            repo: q.get("repo").map(String::from),
            tag: q.get("tag").map(String::from),
            changes: q.all("changes"),
            message: q.get("message").map(String::from),
            platform: q.get("platform").map(String::from),
        };
        let id = blocking(move || {
            let mut reader = body_reader(body);
            let r = e.import_image(&mut reader, &opts);
            if r.is_err() {
                // Read what the client is still sending, so it sees our answer.
                let _ = std::io::copy(&mut reader, &mut std::io::sink());
            }
            r
        })
        .await?;
        let (tx, out) = json_lines();
        let _ = tx.send(json!({"status": id}));
        drop(tx);
        return Ok(([(header::CONTENT_TYPE, "application/json")], out).into_response());
    }
    if let Some(image) = q.get("fromImage") {
        let name = match q.get("tag").filter(|t| !t.is_empty()) {
            Some(t) if t.starts_with("sha256:") => format!("{image}@{t}"),
            Some(t) => format!("{image}:{t}"),
            None => image.to_string(),
        };
        let reference = berth_engine::reference::Reference::parse_normalized(&name)
            .map_err(|err| ApiError(EngineError::invalid(err.to_string())))?;
        let creds = registry_auth(&headers)?;
        let platform = q.get("platform").map(String::from);
        // A name alone (`pull -a`) pulls every tag, as Docker does.
        let all_tags = reference.tag().is_none() && reference.digest().is_none();
        return stream_progress(move |progress| async move {
            if all_tags {
                e.pull_all_tags(&reference, platform.as_deref(), creds, progress)
                    .await
            } else {
                e.pull_image(&reference, platform.as_deref(), creds, progress)
                    .await
            }
        })
        .await;
    }
    Err(ApiError(EngineError::invalid(
        "either fromSrc or fromImage must be given",
    )))
}

/// `GET /images/search?term=&limit=&filters=`: the registry's v1 search,
/// filtered (credentials from `X-Registry-Auth`; bad ones are ignored, as
/// Docker does).
pub async fn search(
    State(e): State<S>,
    RawQuery(q): RawQuery,
    headers: axum::http::HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let q = Query::parse(q.as_deref());
    let limit = match q.get("limit").filter(|v| !v.is_empty()) {
        None => 0,
        Some(v) => v.parse::<i64>().map_err(|_| {
            ApiError(EngineError::invalid(format!(
                "invalid limit specified: strconv.Atoi: parsing {v:?}: invalid syntax"
            )))
        })?,
    };
    let term = q.get("term").unwrap_or("").to_string();
    let filters = q.get("filters").map(String::from);
    let creds = registry_auth(&headers).ok().flatten();
    let found = e
        .search_images(&term, limit, filters.as_deref(), creds)
        .await?;
    Ok(Json(found))
}

/// `POST /images/load`: streams progress, then "Loaded image: …" lines.
pub async fn load(State(e): State<S>, RawQuery(q): RawQuery, body: Body) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let quiet = q.bool("quiet")?;
    let (tx, out) = json_lines();
    tokio::task::spawn_blocking(move || {
        let mut reader = body_reader(body);
        let ptx = tx.clone();
        let mut progress = move |p: berth_engine::images::archive::LoadProgress| {
            if !quiet {
                let _ = ptx.send(json!({
                    "status": "Loading layer",
                    "progressDetail": {"current": p.bytes, "total": p.bytes},
                    "id": p.id,
                }));
            }
        };
        match e.load_images(&mut reader, &mut progress) {
            Ok(lines) => {
                for l in lines {
                    let _ = tx.send(json!({"stream": format!("{l}\n")}));
                }
            }
            Err(err) => {
                let _ = std::io::copy(&mut reader, &mut std::io::sink());
                let _ =
                    tx.send(json!({"errorDetail": {"message": err.message}, "error": err.message}));
            }
        }
    });
    Ok(([(header::CONTENT_TYPE, "application/json")], out).into_response())
}

pub async fn save_many(State(e): State<S>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    save(e, q.all("names")).await
}

async fn save(e: S, names: Vec<String>) -> ApiResult<Response> {
    let e2 = e.clone();
    let plan = blocking(move || e2.plan_save(&names)).await?;
    let (mut w, body) = ChannelWriter::new();
    tokio::task::spawn_blocking(move || {
        if let Err(err) = e.write_save(&plan, &mut w) {
            tracing::warn!("image save failed: {err}");
            w.abort(err.message);
        }
    });
    Ok(([(header::CONTENT_TYPE, "application/x-tar")], body).into_response())
}
