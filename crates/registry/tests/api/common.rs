//! Test harness: a registry on 127.0.0.1:0 in a temporary directory
//! (stopped and removed on drop), a small hyper HTTP/1.1 client (optionally
//! over TLS), and helpers that push blobs and images the way clients do.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use std::convert::Infallible;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::header::HeaderMap;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

use berth_registry::hash::digest_bytes;
use berth_registry::manifest::{DOCKER_MANIFEST, OCI_MANIFEST};
use berth_registry::Config;

/// A running registry; dropping it shuts the server down and deletes its
/// storage.
pub struct Registry {
    pub addr: SocketAddr,
    pub root: PathBuf,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Sent with every request unless the request sets its own.
    pub auth: Option<String>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// A response with its body read.
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The first error code of a spec error body.
    pub fn code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// Asserts an error response's status and code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            self.status.as_u16(),
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.code(),
            code,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
    }
}

/// How a request body is sent.
pub enum Payload {
    /// With Content-Length.
    Bytes(Bytes),
    /// Chunked transfer encoding, in these pieces.
    Chunked(Vec<Bytes>),
}

impl From<&[u8]> for Payload {
    fn from(b: &[u8]) -> Self {
        Payload::Bytes(Bytes::copy_from_slice(b))
    }
}
impl From<Vec<u8>> for Payload {
    fn from(b: Vec<u8>) -> Self {
        Payload::Bytes(Bytes::from(b))
    }
}
impl From<&Vec<u8>> for Payload {
    fn from(b: &Vec<u8>) -> Self {
        Payload::Bytes(Bytes::copy_from_slice(b))
    }
}
impl From<&str> for Payload {
    fn from(b: &str) -> Self {
        Payload::Bytes(Bytes::copy_from_slice(b.as_bytes()))
    }
}
impl From<()> for Payload {
    fn from(_: ()) -> Self {
        Payload::Bytes(Bytes::new())
    }
}

pub fn digest(data: &[u8]) -> String {
    digest_bytes("sha256", data).unwrap().to_string()
}

pub fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// Deterministic pseudo-random bytes.
pub fn data(seed: u8, len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ u32::from(seed);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// Files under a directory (recursively), for "nothing stored" checks.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

impl Registry {
    pub async fn start() -> Registry {
        Registry::start_with(|_, _| {}).await
    }

    /// Starts a server after letting `f` adjust the configuration (its
    /// `root` is already the temporary directory).
    pub async fn start_with(f: impl FnOnce(&mut Config, &Path)) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        let mut config = Config::new("127.0.0.1:0".parse().unwrap(), &root);
        f(&mut config, dir.path());
        let server = berth_registry::bind(config).await.unwrap();
        let addr = server.local_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .run(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Registry {
            addr,
            root,
            tls: None,
            auth: None,
            shutdown: Some(tx),
            task: Some(task),
            _dir: dir,
        }
    }

    /// Stops the server and starts a new one on the same storage (and,
    /// since the port was picked freely, a new address).
    pub async fn restart(mut self) -> Registry {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
        let config = Config::new("127.0.0.1:0".parse().unwrap(), &self.root);
        let server = berth_registry::bind(config).await.unwrap();
        self.addr = server.local_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        self.task = Some(tokio::spawn(async move {
            server
                .run(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        }));
        self.shutdown = Some(tx);
        self
    }

    pub fn blob_files(&self) -> Vec<PathBuf> {
        files_under(&self.root.join("blobs"))
    }

    pub fn upload_dirs(&self) -> Vec<String> {
        std::fs::read_dir(self.root.join("uploads"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Sends one request on a fresh connection.
    pub async fn req(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Payload>,
    ) -> Resp {
        let stream = TcpStream::connect(self.addr).await.unwrap();
        match &self.tls {
            None => self.send(stream, method, path, headers, body.into()).await,
            Some(cfg) => {
                let connector = tokio_rustls::TlsConnector::from(cfg.clone());
                let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
                let tls = connector.connect(name, stream).await.unwrap();
                self.send(tls, method, path, headers, body.into()).await
            }
        }
    }

    async fn send<S>(
        &self,
        stream: S,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Payload,
    ) -> Resp
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut b = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path)
            .header("host", self.addr.to_string());
        let mut has_auth = false;
        for (k, v) in headers {
            has_auth |= k.eq_ignore_ascii_case("authorization");
            b = b.header(*k, *v);
        }
        if let (false, Some(a)) = (has_auth, &self.auth) {
            b = b.header("authorization", a.as_str());
        }
        let body: BoxBody<Bytes, Infallible> = match body {
            Payload::Bytes(bytes) => Full::new(bytes).boxed(),
            Payload::Chunked(chunks) => {
                let stream = futures::stream::iter(
                    chunks
                        .into_iter()
                        .map(|c| Ok::<_, Infallible>(Frame::data(c))),
                );
                StreamBody::new(stream).boxed()
            }
        };
        let resp = sender.send_request(b.body(body).unwrap()).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.req("GET", path, &[], ()).await
    }

    // ---- push helpers -----------------------------------------------------

    /// Single-POST monolithic upload.
    pub async fn push_blob(&self, repo: &str, content: &[u8]) -> String {
        let d = digest(content);
        let r = self
            .req(
                "POST",
                &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
                &[("content-type", "application/octet-stream")],
                content,
            )
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.header("docker-content-digest"), Some(d.as_str()));
        d
    }

    /// Starts an upload session; returns its Location.
    pub async fn start_upload(&self, repo: &str) -> String {
        let r = self
            .req("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], ())
            .await;
        assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.header("range"), Some("0-0"));
        assert!(r.header("docker-upload-uuid").is_some());
        r.header("location").unwrap().to_owned()
    }

    /// POST then PUT with the whole blob.
    pub async fn push_blob_post_put(&self, repo: &str, content: &[u8]) -> String {
        let d = digest(content);
        let loc = self.start_upload(repo).await;
        let r = self
            .req(
                "PUT",
                &with_query(&loc, &format!("digest={d}")),
                &[],
                content,
            )
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(
            r.header("location"),
            Some(format!("/v2/{repo}/blobs/{d}").as_str())
        );
        d
    }

    /// Chunked upload: PATCHes with Content-Range, the last chunk in the
    /// closing PUT.
    pub async fn push_blob_chunked(&self, repo: &str, content: &[u8], chunk: usize) -> String {
        let d = digest(content);
        let mut loc = self.start_upload(repo).await;
        let mut offset = 0;
        let pieces: Vec<&[u8]> = content.chunks(chunk).collect();
        let (last, init) = pieces.split_last().unwrap();
        for piece in init {
            let range = format!("{}-{}", offset, offset + piece.len() - 1);
            let r = self
                .req(
                    "PATCH",
                    &loc,
                    &[
                        ("content-type", "application/octet-stream"),
                        ("content-range", &range),
                    ],
                    *piece,
                )
                .await;
            assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
            offset += piece.len();
            assert_eq!(
                r.header("range"),
                Some(format!("0-{}", offset - 1).as_str())
            );
            loc = r.header("location").unwrap().to_owned();
            // Status is resumable state.
            let s = self.get(&loc).await;
            assert_eq!(s.status, 204);
            assert_eq!(
                s.header("range"),
                Some(format!("0-{}", offset - 1).as_str())
            );
        }
        let range = format!("{}-{}", offset, offset + last.len() - 1);
        let r = self
            .req(
                "PUT",
                &with_query(&loc, &format!("digest={d}")),
                &[("content-range", &range)],
                *last,
            )
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        d
    }

    /// Docker-style streamed upload: one PATCH in chunked encoding without
    /// Content-Range, then an empty PUT.
    pub async fn push_blob_streamed(&self, repo: &str, content: &[u8]) -> String {
        let d = digest(content);
        let loc = self.start_upload(repo).await;
        let chunks = content.chunks(10_000).map(Bytes::copy_from_slice).collect();
        let r = self.req("PATCH", &loc, &[], Payload::Chunked(chunks)).await;
        assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
        let loc = r.header("location").unwrap().to_owned();
        let r = self
            .req("PUT", &with_query(&loc, &format!("digest={d}")), &[], ())
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        d
    }

    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> Resp {
        self.req(
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("content-type", media_type)],
            body,
        )
        .await
    }

    /// Pushes config and layers (monolithic) and a Docker schema2 manifest
    /// under `tag`; returns (manifest bytes, manifest digest, blob digests).
    pub async fn push_image(
        &self,
        repo: &str,
        tag: &str,
        layers: &[Vec<u8>],
    ) -> (Vec<u8>, String, Vec<String>) {
        let config = format!(r#"{{"architecture":"amd64","os":"linux","tag":"{repo}:{tag}"}}"#);
        let cd = self.push_blob(repo, config.as_bytes()).await;
        let mut blobs = vec![cd.clone()];
        let mut descs = Vec::new();
        for l in layers {
            let d = self.push_blob(repo, l).await;
            descs.push(serde_json::json!({
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": l.len(), "digest": d,
            }));
            blobs.push(d);
        }
        let manifest = docker_manifest(&cd, config.len(), descs);
        let r = self
            .put_manifest(repo, tag, DOCKER_MANIFEST, &manifest)
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let md = digest(&manifest);
        assert_eq!(r.header("docker-content-digest"), Some(md.as_str()));
        (manifest, md, blobs)
    }
}

pub fn docker_manifest(config_digest: &str, config_size: usize, layers: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec_pretty(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": config_size, "digest": config_digest,
        },
        "layers": layers,
    }))
    .unwrap()
}

/// An OCI manifest with the empty config and the given extra fields.
pub fn oci_manifest(extra: Value) -> Vec<u8> {
    let mut m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": digest(b"{}"), "size": 2,
        },
        "layers": [],
    });
    if let (Some(m), Some(e)) = (m.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            m.insert(k.clone(), v.clone());
        }
    }
    serde_json::to_vec(&m).unwrap()
}

pub fn with_query(location: &str, q: &str) -> String {
    if location.contains('?') {
        format!("{location}&{q}")
    } else {
        format!("{location}?{q}")
    }
}

/// Waits (up to 5 s) for a condition that the server reaches
/// asynchronously.
pub async fn eventually(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..100 {
        if f() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    f()
}
