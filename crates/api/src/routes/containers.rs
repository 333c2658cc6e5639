//! `/containers/...`: create, list, inspect, start, stop, restart, kill,
//! wait, remove, rename, pause, unpause, logs, attach (HTTP hijack) and
//! prune.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_engine::containers::lifecycle::WaitCondition;
use berth_engine::containers::logs::{read_logs, read_more, LogOptions};
use berth_engine::containers::CreateOptions;
use berth_engine::EngineError;
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use super::system::join_err;
use super::State as S;
use crate::error::{ApiError, ApiResult};
use crate::hijack::{copy_stdin, frame, switching, wants_upgrade, StdinEnd};
use crate::query::Query;

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> ApiResult<T> {
    Ok(tokio::task::spawn_blocking(f).await.map_err(join_err)??)
}

pub async fn create(State(e): State<S>, RawQuery(q): RawQuery, body: Bytes) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let body: Value = serde_json::from_slice(&body)
        .map_err(|err| ApiError(EngineError::invalid(format!("invalid JSON: {err}"))))?;
    let opts = CreateOptions {
        name: q.get("name").map(String::from),
        platform: q.get("platform").map(String::from),
    };
    let (id, warnings) = blocking(move || e.create_container(&body, &opts)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"Id": id, "Warnings": warnings})),
    )
        .into_response())
}

pub async fn list(State(e): State<S>, RawQuery(q): RawQuery) -> ApiResult<impl IntoResponse> {
    let q = Query::parse(q.as_deref());
    let all = q.bool("all")?;
    let size = q.bool("size")?;
    let limit = match q.get("limit").filter(|l| !l.is_empty()) {
        Some(l) => {
            let n: i64 = l
                .parse()
                .map_err(|_| ApiError(EngineError::invalid(format!("invalid limit: {l}"))))?;
            (n > 0).then_some(n as usize)
        }
        None => None,
    };
    let filters = q.get("filters").map(String::from);
    let v = blocking(move || e.list_containers(all, limit, size, filters.as_deref())).await?;
    Ok(Json(v))
}

pub async fn inspect(
    State(e): State<S>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<impl IntoResponse> {
    let size = Query::parse(q.as_deref()).bool("size")?;
    Ok(Json(
        blocking(move || e.inspect_container(&id, size)).await?,
    ))
}

pub async fn start(State(e): State<S>, Path(id): Path<String>) -> ApiResult<Response> {
    blocking(move || e.start_container(&id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `t` and `signal` of stop and restart.
fn stop_params(raw: Option<&str>) -> ApiResult<(Option<i64>, Option<String>)> {
    let q = Query::parse(raw);
    let sig = q.get("signal").filter(|s| !s.is_empty()).map(String::from);
    Ok((timeout_param(&q)?, sig))
}

fn timeout_param(q: &Query) -> ApiResult<Option<i64>> {
    match q.get("t").filter(|t| !t.is_empty()) {
        Some(t) => t
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ApiError(EngineError::invalid(format!("invalid value for t: {t}")))),
        None => Ok(None),
    }
}

pub async fn stop(
    State(e): State<S>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let (t, sig) = stop_params(q.as_deref())?;
    let was_running = blocking(move || e.stop_container(&id, t, sig.as_deref())).await?;
    Ok(if was_running {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_MODIFIED
    }
    .into_response())
}

pub async fn restart(
    State(e): State<S>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let (t, sig) = stop_params(q.as_deref())?;
    blocking(move || e.restart_container(&id, t, sig.as_deref())).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn kill(
    State(e): State<S>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let sig = q.get("signal").map(String::from);
    blocking(move || e.kill_container(&id, sig.as_deref())).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn pause(State(e): State<S>, Path(id): Path<String>) -> ApiResult<Response> {
    blocking(move || e.pause_container(&id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn unpause(State(e): State<S>, Path(id): Path<String>) -> ApiResult<Response> {
    blocking(move || e.unpause_container(&id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn rename(
    State(e): State<S>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let name = q.get("name").unwrap_or("").to_string();
    blocking(move || e.rename_container(&id, &name)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn remove(
    State(e): State<S>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let force = q.bool("force")?;
    let volumes = q.bool("v")?;
    if q.bool("link")? {
        return Err(ApiError(EngineError::invalid(
            "legacy links are not supported",
        )));
    }
    blocking(move || e.remove_container(&id, force, volumes)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn wait(
    State(e): State<S>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let cond = WaitCondition::parse(q.get("condition"))?;
    // Subscribe before answering, so an exit right after is not missed.
    let e2 = e.clone();
    let handle = blocking(move || e2.wait_handle(&id, cond)).await?;
    // Headers go out at once (clients wait for them before starting the
    // container); the body follows when the condition holds.
    let (tx, rx) = tokio::sync::oneshot::channel::<Bytes>();
    tokio::spawn(async move {
        let body = match e.wait_finish(handle).await {
            Ok(code) => json!({"StatusCode": code, "Error": null}),
            Err(err) => json!({"StatusCode": -1, "Error": {"Message": err.message}}),
        };
        let _ = tx.send(Bytes::from(body.to_string()));
    });
    let stream = futures::stream::once(async move {
        rx.await
            .map_err(|_| std::io::Error::other("daemon shutting down"))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}

pub async fn prune(State(e): State<S>, RawQuery(q): RawQuery) -> ApiResult<impl IntoResponse> {
    let q = Query::parse(q.as_deref());
    let filters = q.get("filters").map(String::from);
    let (ids, space) = blocking(move || e.prune_containers(filters.as_deref())).await?;
    Ok(Json(
        json!({"ContainersDeleted": ids, "SpaceReclaimed": space}),
    ))
}

/// `GET /containers/{id}/logs`.
pub async fn logs(
    State(e): State<S>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let mut o = LogOptions {
        stdout: q.bool("stdout")?,
        stderr: q.bool("stderr")?,
        since: q.timestamp_nanos("since")?.filter(|s| *s > 0),
        until: q.timestamp_nanos("until")?.filter(|s| *s > 0),
        tail: None,
    };
    if !o.stdout && !o.stderr {
        return Err(ApiError(EngineError::invalid(
            "Bad parameters: you must choose at least one stream",
        )));
    }
    if let Some(t) = q.get("tail").filter(|t| !t.is_empty() && *t != "all") {
        o.tail = Some(
            t.parse::<i64>()
                .map_err(|_| {
                    ApiError(EngineError::invalid(format!("invalid value for tail: {t}")))
                })?
                .max(0) as usize,
        );
    }
    let follow = q.bool("follow")?;
    let timestamps = q.bool("timestamps")?;
    let e2 = e.clone();
    let id2 = id.clone();
    let rec = blocking(move || e2.resolve_container(&id2)).await?;
    if rec.host_config["LogConfig"]["Type"] == "none" {
        return Err(ApiError(EngineError::invalid(
            "configured logging driver does not support reading",
        )));
    }
    let tty = rec.config["Tty"].as_bool() == Some(true);
    let log_path = e.container_dirs(&rec.id).log;
    let render = move |entries: Vec<berth_engine::containers::logs::LogEntry>| -> Vec<u8> {
        let mut out = Vec::new();
        for en in entries {
            let mut data = Vec::new();
            if timestamps {
                data.extend_from_slice(en.time.as_bytes());
                data.push(b' ');
            }
            data.extend_from_slice(&en.line);
            if tty {
                out.extend_from_slice(&data);
            } else {
                out.extend_from_slice(&frame(en.stream, &data));
            }
        }
        out
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let mut watch = e.watch_container(&rec.id);
    let running = rec.state.running;
    tokio::spawn(async move {
        let o2 = o.clone();
        let lp = log_path.clone();
        let Ok((entries, mut pos)) = tokio::task::spawn_blocking(move || read_logs(&lp, &o2)).await
        else {
            return;
        };
        if tx
            .send(Ok(Bytes::from(render(entries.clone()))))
            .await
            .is_err()
        {
            return;
        }
        if !follow || !running {
            return;
        }
        let mut more = o.clone();
        more.tail = None;
        // As Docker's, a follow ends with the run it started in, also when
        // a restart policy starts the next one at once.
        let exits_then = watch.borrow().exits;
        loop {
            let done = {
                let g = watch.borrow();
                !g.running || g.removed || g.exits != exits_then
            };
            let lp = log_path.clone();
            let m = more.clone();
            let Ok((entries, p)) =
                tokio::task::spawn_blocking(move || read_more(&lp, pos, &m)).await
            else {
                return;
            };
            pos = p;
            if !entries.is_empty() && tx.send(Ok(Bytes::from(render(entries)))).await.is_err() {
                return;
            }
            if done {
                return;
            }
            tokio::select! {
                _ = watch.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = tx.closed() => return,
            }
        }
    });
    let ct = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Ok((
        [(header::CONTENT_TYPE, ct)],
        Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx)),
    )
        .into_response())
}

/// `POST /containers/{id}/attach`: upgrades the connection (101) and
/// joins it to the container's stdio through its shim.
pub async fn attach(
    State(e): State<S>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    mut req: Request,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let stdin = q.bool("stdin")?;
    let stdout = q.bool("stdout")?;
    let stderr = q.bool("stderr")?;
    let e2 = e.clone();
    let id2 = id.clone();
    let rec = blocking(move || e2.resolve_container(&id2)).await?;
    if rec.state.paused {
        return Err(ApiError(EngineError::conflict(
            "You cannot attach to a paused container, unpause it first",
        )));
    }
    let tty = rec.config["Tty"].as_bool() == Some(true);
    let keys = berth_engine::detach::keys_or_default(q.get("detachKeys").unwrap_or(""))?;
    if !wants_upgrade(&req) {
        return Err(ApiError(EngineError::invalid(
            "attach needs an HTTP upgrade: send 'Connection: Upgrade' and 'Upgrade: tcp'",
        )));
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    // Count this attach now, so a start that follows waits for it.
    let guard = e.attach_guard(&rec.id);
    e.container_event(&rec, "attach", Default::default());
    let engine = e.clone();
    let cid = rec.id.clone();
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(err) => {
                tracing::debug!("attach upgrade failed: {err}");
                return;
            }
        };
        let client = TokioIo::new(upgraded);
        let (client_r, mut client_w) = tokio::io::split(client);
        match engine
            .attach_stream(&cid, stdin, stdout, stderr, guard)
            .await
        {
            Ok(shim) => {
                let (shim_r, mut shim_w) = shim.into_split();
                let output = async {
                    let mut shim_r = shim_r;
                    let _ = tokio::io::copy(&mut shim_r, &mut client_w).await;
                };
                if stdin {
                    tokio::pin!(output);
                    let input = async {
                        let end = copy_stdin(client_r, &mut shim_w, keys).await;
                        if end != StdinEnd::Detached {
                            // Half-close: the shim closes the container's
                            // stdin (with StdinOnce) and output goes on.
                            let _ = shim_w.shutdown().await;
                        }
                        end
                    };
                    tokio::select! {
                        _ = &mut output => {}
                        end = input => {
                            if end == StdinEnd::Detached {
                                // As Docker: the detach keys end this
                                // client's session and say so in events.
                                if let Ok(rec) = engine.resolve_container(&cid) {
                                    engine.container_event(&rec, "detach", Default::default());
                                }
                            } else {
                                output.await;
                            }
                        }
                    }
                } else {
                    output.await;
                }
            }
            Err(err) => {
                let msg = format!("{err}\n");
                let data = if tty {
                    msg.into_bytes()
                } else {
                    frame(2, msg.as_bytes())
                };
                let _ = client_w.write_all(&data).await;
            }
        }
        let _ = client_w.shutdown().await;
    });
    Ok(switching(tty))
}

pub async fn changes(State(e): State<S>, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    let list = blocking(move || e.container_changes(&id)).await?;
    let v: Vec<Value> = list
        .into_iter()
        .map(|c| json!({"Path": c.path, "Kind": c.kind}))
        .collect();
    Ok(Json(if v.is_empty() {
        Value::Null
    } else {
        Value::Array(v)
    }))
}

pub async fn top(
    State(e): State<S>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<impl IntoResponse> {
    let q = Query::parse(q.as_deref());
    let args = q.get("ps_args").map(String::from);
    let (titles, procs) = blocking(move || e.container_top(&id, args.as_deref())).await?;
    Ok(Json(json!({"Titles": titles, "Processes": procs})))
}

pub async fn update(
    State(e): State<S>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let body: Value = serde_json::from_slice(&body)
        .map_err(|err| ApiError(EngineError::invalid(format!("invalid JSON: {err}"))))?;
    let warnings = blocking(move || e.update_container(&id, &body)).await?;
    Ok(Json(json!({"Warnings": warnings})))
}

/// `POST /commit`.
pub async fn commit(State(e): State<S>, RawQuery(q): RawQuery, body: Bytes) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let container = q
        .get("container")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            ApiError(EngineError::invalid(
                "container is required: say which container to commit",
            ))
        })?
        .to_string();
    let overrides: Option<Value> = if body.iter().all(|b| b.is_ascii_whitespace()) {
        None
    } else {
        Some(
            serde_json::from_slice(&body)
                .map_err(|err| ApiError(EngineError::invalid(format!("invalid JSON: {err}"))))?,
        )
    };
    let opts = berth_engine::containers::commit::CommitOptions {
        repo: q.get("repo").map(String::from),
        tag: q.get("tag").map(String::from),
        comment: q.get("comment").map(String::from),
        author: q.get("author").map(String::from),
        pause: q.get("pause").is_none_or(|p| p.is_empty()) || q.bool("pause")?,
        changes: q.all("changes"),
    };
    let id = blocking(move || e.commit_container(&container, &opts, overrides.as_ref())).await?;
    Ok((StatusCode::CREATED, Json(json!({"Id": id}))).into_response())
}

/// `GET /containers/{id}/export`.
pub async fn export(State(e): State<S>, Path(id): Path<String>) -> ApiResult<Response> {
    let e2 = e.clone();
    let id2 = id.clone();
    blocking(move || e2.resolve_container(&id2).map(|_| ())).await?;
    let (mut w, body) = crate::stream::ChannelWriter::new();
    tokio::task::spawn_blocking(move || {
        if let Err(err) = e.export_container(&id, &mut w) {
            tracing::warn!("export failed: {err}");
            w.abort(err.message);
        }
    });
    Ok(([(header::CONTENT_TYPE, "application/x-tar")], body).into_response())
}

/// `GET /containers/{id}/stats`: one document (`stream=0`, with a CPU sample
/// a second apart unless `one-shot`) or one a second while it runs.
pub async fn stats(
    State(e): State<S>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let stream = q.get("stream").is_none_or(|s| s.is_empty()) || q.bool("stream")?;
    let one_shot = q.bool("one-shot")?;
    let e2 = e.clone();
    let id2 = id.clone();
    let first = blocking(move || e2.container_stats(&id2, None)).await?;
    if !stream {
        let doc = if one_shot || first["read"] == "0001-01-01T00:00:00Z" {
            first
        } else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let e2 = e.clone();
            blocking(move || e2.container_stats(&id, Some(&first))).await?
        };
        return Ok(Json(doc).into_response());
    }
    let (tx, body) = crate::stream::json_lines();
    tokio::spawn(async move {
        let mut prev = first;
        if tx.send(prev.clone()).is_err() {
            return;
        }
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let e2 = e.clone();
            let id2 = id.clone();
            let p = prev.clone();
            let Ok(Ok(next)) =
                tokio::task::spawn_blocking(move || e2.container_stats(&id2, Some(&p))).await
            else {
                return;
            };
            if tx.send(next.clone()).is_err() {
                return;
            }
            prev = next;
        }
    });
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}
