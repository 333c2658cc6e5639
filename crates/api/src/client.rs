//! The Engine API client the `berth` CLI and the tests use: one HTTP/1.1
//! connection per request over a unix socket or TCP, Docker's error bodies
//! turned into `Error response from daemon: …`.

use std::io;
use std::path::PathBuf;

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// The default daemon address.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";
/// API version prefix the client speaks.
pub const CLIENT_API: &str = "v1.47";

/// Errors the CLI prints.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The daemon could not be reached.
    #[error("Cannot connect to the berth daemon at {host}. Is the berth daemon running? ({err})")]
    Connect {
        /// The address tried.
        host: String,
        /// Why.
        err: io::Error,
    },
    /// The daemon answered with an error.
    #[error("Error response from daemon: {message}")]
    Daemon {
        /// HTTP status.
        status: u16,
        /// Docker's `message`.
        message: String,
    },
    /// The host string is wrong.
    #[error("{0}")]
    BadHost(String),
    /// Transport failure.
    #[error("error during connect: {0}")]
    Http(String),
}

#[derive(Debug, Clone)]
enum Target {
    Unix(PathBuf),
    Tcp(String),
}

/// A body for requests.
pub type ReqBody = BoxBody<Bytes, io::Error>;

/// An empty request body.
pub fn empty() -> ReqBody {
    Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed()
}

/// A JSON request body.
pub fn json_body(v: &Value) -> ReqBody {
    Full::new(Bytes::from(serde_json::to_vec(v).unwrap_or_default()))
        .map_err(|never| match never {})
        .boxed()
}

/// A streamed request body from any async reader (a file, stdin).
pub fn reader_body(r: impl tokio::io::AsyncRead + Send + Sync + 'static) -> ReqBody {
    let s = tokio_util::io::ReaderStream::with_capacity(r, 256 << 10).map_ok(Frame::data);
    BodyExt::boxed(StreamBody::new(s))
}

/// A connection to a daemon.
#[derive(Debug, Clone)]
pub struct Client {
    host: String,
    target: Target,
}

impl Client {
    /// A client for `host` (`unix://PATH` or `tcp://HOST:PORT`).
    pub fn new(host: &str) -> Result<Client, ClientError> {
        let target = if let Some(p) = host.strip_prefix("unix://") {
            Target::Unix(PathBuf::from(p))
        } else if let Some(a) = host
            .strip_prefix("tcp://")
            .or_else(|| host.strip_prefix("http://"))
        {
            Target::Tcp(a.trim_end_matches('/').to_string())
        } else if host.starts_with('/') {
            Target::Unix(PathBuf::from(host))
        } else {
            return Err(ClientError::BadHost(format!(
                "unable to parse docker host `{host}`: use unix:///path/to.sock or tcp://host:port"
            )));
        };
        Ok(Client {
            host: host.to_string(),
            target,
        })
    }

    /// The host from `-H`, else `BERTH_HOST`, else `DOCKER_HOST`, else the default.
    pub fn from_env(flag: Option<&str>) -> Result<Client, ClientError> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let host = flag
            .map(String::from)
            .or_else(|| env("BERTH_HOST"))
            .or_else(|| env("DOCKER_HOST"))
            .unwrap_or_else(|| DEFAULT_HOST.to_string());
        Client::new(&host)
    }

    /// The address this client talks to.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Sends a request; `path` is the API path with its query (no version
    /// prefix). Error statuses become [`ClientError::Daemon`].
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: ReqBody,
        content_type: Option<&str>,
    ) -> Result<Response<Incoming>, ClientError> {
        self.request_with_headers(method, path, body, content_type, &[])
            .await
    }

    /// [`Client::request`] with extra headers (`X-Registry-Auth`).
    pub async fn request_with_headers(
        &self,
        method: Method,
        path: &str,
        body: ReqBody,
        content_type: Option<&str>,
        headers: &[(&str, String)],
    ) -> Result<Response<Incoming>, ClientError> {
        let uri = format!("/{CLIENT_API}{path}");
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(hyper::header::HOST, "berth")
            .header(
                hyper::header::USER_AGENT,
                concat!("berth-cli/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(ct) = content_type {
            req = req.header(hyper::header::CONTENT_TYPE, ct);
        }
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        let req = req
            .body(body)
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let resp = self.send(req).await?;
        if resp.status().is_client_error() || resp.status().is_server_error() {
            return Err(daemon_error(resp).await);
        }
        Ok(resp)
    }

    /// GET a JSON document.
    pub async fn get_json(&self, path: &str) -> Result<Value, ClientError> {
        let r = self.request(Method::GET, path, empty(), None).await?;
        read_json(r).await
    }

    /// Sends a request and reads a JSON answer (`null` when the body is empty).
    pub async fn call_json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let (b, ct) = match body {
            Some(v) => (json_body(v), Some("application/json")),
            None => (empty(), None),
        };
        let r = self.request(method, path, b, ct).await?;
        read_json(r).await
    }

    /// HEAD/GET `/_ping`.
    pub async fn ping(&self) -> Result<StatusCode, ClientError> {
        let r = self.request(Method::GET, "/_ping", empty(), None).await?;
        Ok(r.status())
    }
}

async fn send(
    io: TokioIo<impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static>,
    req: Request<ReqBody>,
) -> Result<Response<Incoming>, ClientError> {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| ClientError::Http(e.to_string()))?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    sender
        .send_request(req)
        .await
        .map_err(|e| ClientError::Http(e.to_string()))
}

impl Client {
    /// Connects to the daemon and sends one request on a fresh connection.
    async fn send(&self, req: Request<ReqBody>) -> Result<Response<Incoming>, ClientError> {
        let connect_err = |err| ClientError::Connect {
            host: self.host.clone(),
            err,
        };
        match &self.target {
            Target::Unix(p) => {
                let s = tokio::net::UnixStream::connect(p)
                    .await
                    .map_err(connect_err)?;
                send(TokioIo::new(s), req).await
            }
            Target::Tcp(a) => {
                let s = tokio::net::TcpStream::connect(a)
                    .await
                    .map_err(connect_err)?;
                send(TokioIo::new(s), req).await
            }
        }
    }
}

/// Turns an error response into Docker's `Error response from daemon: …`.
async fn daemon_error(resp: Response<Incoming>) -> ClientError {
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let message = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v["message"].as_str().map(String::from))
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_string());
    ClientError::Daemon { status, message }
}

/// Reads a whole response as JSON.
pub async fn read_json(r: Response<Incoming>) -> Result<Value, ClientError> {
    let bytes = r
        .into_body()
        .collect()
        .await
        .map_err(|e| ClientError::Http(e.to_string()))?
        .to_bytes();
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ClientError::Http(format!("invalid JSON from the daemon: {e}")))
}

/// The raw bytes of a streamed response.
pub fn body_stream(r: Response<Incoming>) -> impl Stream<Item = Result<Bytes, ClientError>> {
    r.into_body()
        .into_data_stream()
        .map_err(|e| ClientError::Http(e.to_string()))
}

/// The JSON messages of a streamed response (one object per line).
pub fn json_stream(r: Response<Incoming>) -> impl Stream<Item = Result<Value, ClientError>> {
    let mut buf: Vec<u8> = Vec::new();
    // A final newline marks the end, so a message without one still counts.
    let bytes = body_stream(r).chain(futures::stream::once(async {
        Ok(Bytes::from_static(b"\n"))
    }));
    bytes
        .map(move |chunk| {
            let mut out = Vec::new();
            match chunk {
                Ok(c) => {
                    buf.extend_from_slice(&c);
                    while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = buf.drain(..=pos).collect();
                        if line.iter().all(|b| b.is_ascii_whitespace()) {
                            continue;
                        }
                        out.push(serde_json::from_slice::<Value>(&line).map_err(|e| {
                            ClientError::Http(format!("invalid JSON message from the daemon: {e}"))
                        }));
                    }
                }
                Err(e) => out.push(Err(e)),
            }
            futures::stream::iter(out)
        })
        .flatten()
}

/// A hijacked connection (attach/exec): raw bytes both ways.
pub type Hijacked = TokioIo<hyper::upgrade::Upgraded>;

impl Client {
    /// Sends `POST path` asking for an upgrade to a raw stream (Docker's
    /// hijack: `Connection: Upgrade`, `Upgrade: tcp`) and returns the stream.
    pub async fn hijack(&self, path: &str, body: Option<&Value>) -> Result<Hijacked, ClientError> {
        let uri = format!("/{CLIENT_API}{path}");
        let b = body.map(json_body).unwrap_or_else(empty);
        let req = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(hyper::header::HOST, "berth")
            .header(hyper::header::CONNECTION, "Upgrade")
            .header(hyper::header::UPGRADE, "tcp")
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(b)
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let resp = self.send(req).await?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(daemon_error(resp).await);
        }
        let up = hyper::upgrade::on(resp)
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        Ok(TokioIo::new(up))
    }
}
