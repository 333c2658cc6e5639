//! `docker exec` over the API: `POST /containers/{id}/exec`,
//! `POST /exec/{id}/start` (hijacked stream, or detached),
//! `POST /exec/{id}/resize`, `GET /exec/{id}/json`; and
//! `POST /containers/{id}/resize` for a TTY container's terminal.

use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_engine::containers::exec::ExecIo;
use berth_engine::detach::keys_or_default;
use berth_engine::EngineError;
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::system::join_err;
use super::State as S;
use crate::error::{ApiError, ApiResult};
use crate::hijack::{copy_stdin, frame, switching, wants_upgrade, FdStream, StdinEnd};
use crate::query::Query;

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> ApiResult<T> {
    Ok(tokio::task::spawn_blocking(f).await.map_err(join_err)??)
}

fn json_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|err| ApiError(EngineError::invalid(format!("invalid JSON: {err}"))))
}

/// `POST /containers/{id}/exec`.
pub async fn create(
    State(e): State<S>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let cfg = json_body(&body)?;
    let exec_id = blocking(move || e.create_exec(&id, cfg)).await?;
    Ok((StatusCode::CREATED, Json(json!({"Id": exec_id}))).into_response())
}

/// `GET /exec/{id}/json`.
pub async fn inspect(State(e): State<S>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(blocking(move || e.inspect_exec(&id)).await?))
}

fn size(q: &Query) -> Result<(u16, u16), ApiError> {
    let n = |k: &str| -> Result<u16, ApiError> {
        q.get(k).unwrap_or("0").parse::<u16>().map_err(|_| {
            ApiError(EngineError::invalid(format!(
                "invalid {k}: must be a number"
            )))
        })
    };
    Ok((n("h")?, n("w")?))
}

/// `POST /exec/{id}/resize?h=&w=`.
pub async fn resize(
    State(e): State<S>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<StatusCode> {
    let (h, w) = size(&Query::parse(q.as_deref()))?;
    blocking(move || e.resize_exec(&id, h, w)).await?;
    Ok(StatusCode::OK)
}

/// `POST /containers/{id}/resize?h=&w=`.
pub async fn resize_container(
    State(e): State<S>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<StatusCode> {
    let (h, w) = size(&Query::parse(q.as_deref()))?;
    blocking(move || e.resize_container(&id, h, w)).await?;
    Ok(StatusCode::OK)
}

/// `POST /exec/{id}/start`.
pub async fn start(
    State(e): State<S>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let upgrading = wants_upgrade(&req);
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(|err| ApiError(EngineError::invalid(format!("reading the request: {err}"))))?;
    let mut req = Request::from_parts(parts, Body::empty());
    let b = json_body(&body)?;
    let detach = b["Detach"].as_bool() == Some(true);
    let console = b["ConsoleSize"].as_array().and_then(|a| {
        Some((
            u16::try_from(a.first()?.as_u64()?).ok()?,
            u16::try_from(a.get(1)?.as_u64()?).ok()?,
        ))
    });
    // Unknown or already started: an error before any upgrade.
    let (e2, id2) = (e.clone(), id.clone());
    let (tty, keys) = blocking(move || {
        let inspect = e2.inspect_exec(&id2)?;
        if inspect["Running"].as_bool() == Some(true) || !inspect["ExitCode"].is_null() {
            return Err(EngineError::conflict(format!(
                "Error: Exec command {id2} has already run"
            )));
        }
        Ok((
            e2.exec_tty(&id2)?,
            keys_or_default(&e2.exec_detach_keys(&id2)?)?,
        ))
    })
    .await?;
    if detach {
        let e2 = e.clone();
        blocking(move || e2.start_exec(&id, true, console).map(|_| ())).await?;
        return Ok(StatusCode::OK.into_response());
    }
    if !upgrading {
        // A plain response: the output streams as the body (no stdin).
        let (e2, id2) = (e.clone(), id.clone());
        let io = blocking(move || e2.start_exec(&id2, false, console)).await?;
        let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
        tokio::spawn(async move {
            let sink = ChannelSink(tokio_util::sync::PollSender::new(tx));
            pump_output(io, tty, sink).await;
            e.exec_ended(&id).await;
        });
        let ct = if tty {
            "application/vnd.docker.raw-stream"
        } else {
            "application/vnd.docker.multiplexed-stream"
        };
        return Ok((
            [(axum::http::header::CONTENT_TYPE, ct)],
            Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx)),
        )
            .into_response());
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(err) => {
                tracing::debug!("exec upgrade failed: {err}");
                return;
            }
        };
        let client = TokioIo::new(upgraded);
        let e2 = e.clone();
        let id2 = id.clone();
        let started =
            tokio::task::spawn_blocking(move || e2.start_exec(&id2, false, console)).await;
        let io = match started {
            Ok(Ok(io)) => io,
            Ok(Err(err)) => {
                let (_, mut w) = tokio::io::split(client);
                let msg = format!("{}\r\n", err.message);
                let data = if tty {
                    msg.into_bytes()
                } else {
                    frame(1, msg.as_bytes())
                };
                let _ = w.write_all(&data).await;
                let _ = w.shutdown().await;
                return;
            }
            Err(_) => return,
        };
        stream_exec(io, tty, client, keys, &e, &id).await;
    });
    Ok(switching(tty))
}

/// An `AsyncWrite` into a response body channel.
struct ChannelSink(tokio_util::sync::PollSender<Result<Bytes, std::io::Error>>);

impl AsyncWrite for ChannelSink {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let gone = |_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away");
        std::task::ready!(this.0.poll_reserve(cx)).map_err(gone)?;
        this.0
            .send_item(Ok(Bytes::copy_from_slice(data)))
            .map_err(gone)?;
        std::task::Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// Copies an exec's output to `sink`: raw from the terminal, or stdout and
/// stderr framed (Docker's multiplexed stream). Returns at end of output.
async fn pump_output<W: AsyncWrite + Unpin>(io: ExecIo, tty: bool, mut sink: W) {
    match io {
        ExecIo::Tty(master) => {
            let Ok(mut m) = FdStream::new(master) else {
                return;
            };
            let _ = tokio::io::copy(&mut m, &mut sink).await;
        }
        ExecIo::Pipes { stdout, stderr, .. } => {
            let (tx, mut rx) = mpsc::channel::<Vec<u8>>(16);
            for (fd, id) in [(stdout, 1u8), (stderr, 2u8)] {
                let Some(fd) = fd else { continue };
                let Ok(mut r) = FdStream::new(fd) else {
                    continue;
                };
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 32 << 10];
                    loop {
                        match r.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                let data = if tty {
                                    buf[..n].to_vec()
                                } else {
                                    frame(id, &buf[..n])
                                };
                                if tx.send(data).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                });
            }
            drop(tx);
            while let Some(chunk) = rx.recv().await {
                if sink.write_all(&chunk).await.is_err() {
                    break;
                }
            }
        }
        ExecIo::Detached => {}
    }
    let _ = sink.flush().await;
}

/// Joins a hijacked client to a running exec until its output ends or the
/// client detaches.
async fn stream_exec(
    io: ExecIo,
    tty: bool,
    client: TokioIo<hyper::upgrade::Upgraded>,
    keys: Vec<u8>,
    engine: &S,
    id: &str,
) {
    let (client_r, mut client_w) = tokio::io::split(client);
    let mut detached = false;
    match io {
        ExecIo::Tty(master) => {
            let Ok(input) = master.try_clone() else {
                return;
            };
            let Ok(input) = FdStream::new(input) else {
                return;
            };
            let output = pump_output(ExecIo::Tty(master), tty, DupWriter(&mut client_w));
            tokio::pin!(output);
            tokio::select! {
                _ = &mut output => {}
                end = copy_stdin(client_r, input, keys) => {
                    // Stdin closed: the output still runs to its end.
                    if end == StdinEnd::Detached {
                        detached = true;
                    } else {
                        output.await;
                    }
                }
            }
        }
        ExecIo::Pipes {
            stdin,
            stdout,
            stderr,
        } => {
            let output = pump_output(
                ExecIo::Pipes {
                    stdin: None,
                    stdout,
                    stderr,
                },
                tty,
                DupWriter(&mut client_w),
            );
            match stdin.and_then(|fd| FdStream::new(fd).ok()) {
                Some(sink) => {
                    tokio::pin!(output);
                    let input = copy_stdin(client_r, sink, keys);
                    tokio::select! {
                        _ = &mut output => {}
                        end = input => {
                            // EOF closes the process's stdin (the sink is
                            // dropped); the output runs on to its end.
                            if end == StdinEnd::Detached {
                                detached = true;
                            } else {
                                output.await;
                            }
                        }
                    }
                }
                None => output.await,
            }
        }
        ExecIo::Detached => {}
    }
    // The exit code is recorded before the client sees the end.
    if detached {
        engine.exec_detached(id);
    } else {
        engine.exec_ended(id).await;
    }
    finish(client_w).await;
}

async fn finish<W: AsyncWrite + Unpin>(mut w: W) {
    let _ = w.flush().await;
    let _ = w.shutdown().await;
}

/// Borrows a writer as an owned `AsyncWrite` (for [`pump_output`]).
struct DupWriter<'a, W>(&'a mut W);

impl<W: AsyncWrite + Unpin> AsyncWrite for DupWriter<'_, W> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut *self.get_mut().0).poll_write(cx, data)
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.get_mut().0).poll_shutdown(cx)
    }
}
