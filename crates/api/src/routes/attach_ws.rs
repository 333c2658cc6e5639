//! `GET /containers/{id}/attach/ws`: attach over a websocket. Output goes
//! out as binary messages (raw: the stdout/stderr multiplexing is only for
//! the hijacked HTTP form), messages received go to the container's stdin.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use berth_engine::EngineError;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::system::join_err;
use super::State as S;
use crate::error::{ApiError, ApiResult};
use crate::query::Query;

/// `GET /containers/{id}/attach/ws`.
pub async fn attach_ws(
    State(e): State<S>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let stdin = q.bool("stdin")?;
    let stdout = q.bool("stdout")?;
    let stderr = q.bool("stderr")?;
    let (e2, id2) = (e.clone(), id.clone());
    let rec = tokio::task::spawn_blocking(move || e2.resolve_container(&id2))
        .await
        .map_err(join_err)??;
    if rec.state.paused {
        return Err(ApiError(EngineError::conflict(
            "You cannot attach to a paused container, unpause it first",
        )));
    }
    let tty = rec.config["Tty"].as_bool() == Some(true);
    let guard = e.attach_guard(&rec.id);
    e.container_event(&rec, "attach", Default::default());
    let cid = rec.id.clone();
    Ok(ws.on_upgrade(move |socket| async move {
        let shim = match e.attach_stream(&cid, stdin, stdout, stderr, guard).await {
            Ok(s) => s,
            Err(err) => {
                let mut socket = socket;
                let _ = socket.send(Message::Text(err.message.into())).await;
                return;
            }
        };
        pump(socket, shim, tty, stdin).await;
    }))
}

async fn pump(socket: WebSocket, shim: tokio::net::UnixStream, tty: bool, stdin: bool) {
    let (mut tx, mut rx) = socket.split();
    let (mut shim_r, mut shim_w) = shim.into_split();
    let output = async move {
        let mut buf = vec![0u8; 32 << 10];
        if tty {
            loop {
                match shim_r.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx
                            .send(Message::Binary(buf[..n].to_vec().into()))
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                }
            }
        } else {
            // Undo the 8-byte stream headers.
            let mut header = [0u8; 8];
            loop {
                if shim_r.read_exact(&mut header).await.is_err() {
                    break;
                }
                let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
                let mut data = vec![0u8; len];
                if shim_r.read_exact(&mut data).await.is_err() {
                    break;
                }
                if tx.send(Message::Binary(data.into())).await.is_err() {
                    break;
                }
            }
        }
        let _ = tx.close().await;
    };
    let input = async move {
        while let Some(Ok(m)) = rx.next().await {
            let data: Vec<u8> = match m {
                Message::Binary(b) => b.to_vec(),
                Message::Text(t) => t.as_bytes().to_vec(),
                Message::Close(_) => break,
                _ => continue,
            };
            if stdin && shim_w.write_all(&data).await.is_err() {
                break;
            }
        }
        let _ = shim_w.shutdown().await;
    };
    tokio::select! {
        _ = output => {}
        _ = input => {}
    }
}
