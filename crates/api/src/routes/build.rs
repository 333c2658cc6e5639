//! `POST /build` — the classic builder's endpoint: a tar context (or a
//! Dockerfile alone) in the body, the build's JSON messages streamed back
//! (`{"stream":"Step 1/3 : …"}`, `{"aux":{"ID":…}}`, errors as
//! `{"errorDetail":…,"error":…}`) — and `POST /build/prune`.
//!
//! As in moby, nothing is answered before the build has read the body, and
//! an error that comes before any output is an HTTP error (the docker CLI
//! prints `Error response from daemon: …`); later errors end the stream.
//! With `q=1` the output is held back and only the image ID is sent (or,
//! on failure, everything followed by the error). berth's own CLI may name
//! a directory on this host instead of sending a tar (`contextdir`, with
//! `contextid` = `dev:ino` so a client that sees another file system falls
//! back to the tar).

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Mutex;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_engine::build::{BuildOptions, BuildOutput, ContextInput};
use berth_engine::EngineError;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::system::join_err;
use super::State as S;
use crate::error::{ApiError, ApiResult};
use crate::query::Query;
use crate::stream::body_reader;

enum Event {
    Msg(Value),
    Done(Result<String, EngineError>),
}

struct Sink {
    tx: mpsc::UnboundedSender<Event>,
    quiet: bool,
    held: Mutex<Vec<Value>>,
}

impl BuildOutput for Sink {
    fn message(&self, msg: Value) {
        if self.quiet {
            if let Ok(mut h) = self.held.lock() {
                h.push(msg);
            }
        } else {
            let _ = self.tx.send(Event::Msg(msg));
        }
    }
}

fn error_message(e: &EngineError) -> Value {
    let mut detail = json!({"message": e.message});
    if let Some(c) = e.exit_code {
        detail["code"] = json!(c);
    }
    json!({"errorDetail": detail, "error": e.message})
}

fn json_map<T: serde::de::DeserializeOwned + Default>(
    q: &Query,
    key: &str,
    what: &str,
) -> Result<T, EngineError> {
    match q.get(key).filter(|s| !s.is_empty()) {
        None => Ok(T::default()),
        Some(s) => serde_json::from_str(s)
            .map_err(|e| EngineError::invalid(format!("error reading {what}: {e}"))),
    }
}

fn options(q: &Query) -> Result<BuildOptions, EngineError> {
    if q.get("version").is_some_and(|v| v == "2") {
        return Err(EngineError::invalid(
            "BuildKit is not supported by this daemon: build with the classic builder (DOCKER_BUILDKIT=0)",
        ));
    }
    if let Some(r) = q.get("remote").filter(|r| !r.is_empty()) {
        return Err(EngineError::invalid(format!(
            "remote build contexts ({r}) are not supported: send the context in the request body"
        )));
    }
    Ok(BuildOptions {
        tags: q.all("t").into_iter().filter(|t| !t.is_empty()).collect(),
        dockerfile: q.get("dockerfile").unwrap_or("").to_string(),
        build_args: json_map::<BTreeMap<String, Option<String>>>(q, "buildargs", "build args")?,
        target: q.get("target").filter(|t| !t.is_empty()).map(String::from),
        no_cache: q.bool("nocache")?,
        pull: q
            .get("pull")
            .is_some_and(|p| !p.is_empty() && p != "0" && p != "false"),
        labels: json_map::<BTreeMap<String, String>>(q, "labels", "labels")?,
        network_mode: q.get("networkmode").unwrap_or("").to_string(),
        platform: q
            .get("platform")
            .filter(|p| !p.is_empty())
            .map(String::from),
        extra_hosts: q.all("extrahosts"),
    })
}

/// `POST /build`.
pub async fn build(State(e): State<S>, RawQuery(raw): RawQuery, body: Body) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    let opts = options(&q)?;
    let quiet = q.bool("q")?;
    let context_dir = q
        .get("contextdir")
        .filter(|d| !d.is_empty())
        .map(String::from);
    let identity = q.get("contextid").and_then(|s| {
        let (d, i) = s.split_once(':')?;
        Some((d.parse::<u64>().ok()?, i.parse::<u64>().ok()?))
    });
    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
    let done_tx = tx.clone();
    tokio::task::spawn_blocking(move || {
        let sink = Sink {
            tx,
            quiet,
            held: Mutex::new(Vec::new()),
        };
        let mut reader = body_reader(body);
        let result = match context_dir {
            Some(dir) => {
                let mut text = Vec::new();
                let read = (&mut reader).take(16 << 20).read_to_end(&mut text);
                match read {
                    Err(err) => Err(EngineError::invalid(format!(
                        "reading the Dockerfile: {err}"
                    ))),
                    Ok(_) => e.build_image(
                        ContextInput::Dir {
                            path: dir.into(),
                            identity,
                            dockerfile: (!text.is_empty())
                                .then(|| String::from_utf8_lossy(&text).into_owned()),
                        },
                        &opts,
                        &sink,
                    ),
                }
            }
            None => e.build_image(ContextInput::Stream(Box::new(&mut reader)), &opts, &sink),
        };
        // Read what the client is still sending, so it sees our answer.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
        if quiet {
            let held = sink.held.lock().map(|h| h.clone()).unwrap_or_default();
            match &result {
                Ok(id) => {
                    let _ = done_tx.send(Event::Msg(json!({"stream": format!("{id}\n")})));
                }
                Err(_) => {
                    for m in held {
                        let _ = done_tx.send(Event::Msg(m));
                    }
                }
            }
        }
        let _ = done_tx.send(Event::Done(result));
    });
    let first = rx
        .recv()
        .await
        .ok_or_else(|| ApiError(EngineError::internal("the build stopped unexpectedly")))?;
    let first = match first {
        Event::Done(Err(err)) => return Err(ApiError(err)),
        other => other,
    };
    let line = |v: &Value| {
        let mut l = serde_json::to_vec(v).unwrap_or_default();
        l.push(b'\n');
        Bytes::from(l)
    };
    let to_bytes = move |ev: Event| -> Option<Bytes> {
        match ev {
            Event::Msg(v) => Some(line(&v)),
            Event::Done(Ok(_)) => None,
            Event::Done(Err(err)) => Some(line(&error_message(&err))),
        }
    };
    let head = to_bytes(first);
    let rest = tokio_stream::wrappers::UnboundedReceiverStream::new(rx).filter_map(move |ev| {
        let b = to_bytes(ev);
        async move { b }
    });
    let stream = futures::stream::iter(head)
        .chain(rest)
        .map(Ok::<_, std::io::Error>);
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// `POST /build/prune`: empties the build cache.
pub async fn prune(State(e): State<S>, RawQuery(raw): RawQuery) -> ApiResult<impl IntoResponse> {
    let q = Query::parse(raw.as_deref());
    let filters = berth_engine::images::parse_filters(q.get("filters"))?;
    let mut older_than = None;
    for (k, vals) in &filters {
        match k.as_str() {
            "until" => {
                for v in vals {
                    let secs = berth_engine::images::parse_go_duration(v).ok_or_else(|| {
                        EngineError::invalid(format!(
                            "invalid filter 'until={v}': expected a duration such as 24h"
                        ))
                    })?;
                    older_than = Some(secs);
                }
            }
            "unused-for" | "unused_for" => {
                for v in vals {
                    older_than = berth_engine::images::parse_go_duration(v);
                }
            }
            _ => {
                return Err(ApiError(EngineError::invalid(format!(
                    "invalid filter '{k}'"
                ))))
            }
        }
    }
    let report = tokio::task::spawn_blocking(move || e.prune_build_cache(older_than))
        .await
        .map_err(join_err)??;
    Ok(Json(json!({
        "CachesDeleted": report.deleted,
        "SpaceReclaimed": report.reclaimed,
    })))
}
