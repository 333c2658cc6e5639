//! Streaming bodies: JSON-message streams (load, import, events) and bridges
//! between the engine's blocking readers/writers and async HTTP bodies.

use std::io::{self, Write};

use axum::body::Body;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// A `Write` that sends what is written, in chunks, to an HTTP body.
pub struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 256 << 10;

impl ChannelWriter {
    /// A writer and the body that carries what it writes.
    pub fn new() -> (ChannelWriter, Body) {
        let (tx, rx) = mpsc::channel(8);
        (
            ChannelWriter {
                tx,
                buf: Vec::with_capacity(CHUNK),
            },
            Body::from_stream(ReceiverStream::new(rx)),
        )
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }

    /// Ends the body with an error (the client sees a broken transfer).
    pub fn abort(self, msg: String) {
        let _ = self.tx.blocking_send(Err(io::Error::other(msg)));
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        let _ = self.send();
    }
}

/// A sender of JSON messages, one per line, and the body that carries them.
pub fn json_lines() -> (mpsc::UnboundedSender<serde_json::Value>, Body) {
    let (tx, rx) = mpsc::unbounded_channel::<serde_json::Value>();
    let stream = tokio_stream::wrappers::UnboundedReceiverStream::new(rx).map(|v| {
        let mut line = serde_json::to_vec(&v).unwrap_or_default();
        line.push(b'\n');
        Ok::<_, io::Error>(Bytes::from(line))
    });
    (tx, Body::from_stream(stream))
}

/// A blocking `Read` over a request body (for the engine's tar readers).
pub fn body_reader(body: Body) -> impl io::Read + Send + 'static {
    let stream = body.into_data_stream().map(|r| r.map_err(io::Error::other));
    tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream))
}
