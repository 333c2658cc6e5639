//! Test support: a real `docker-registry` (distribution 2.8) on 127.0.0.1
//! with a temporary storage directory, killed by a Drop guard; a tiny fake
//! registry (hyper server on 127.0.0.1) for misbehaving-server cases; and a
//! small multi-layer image built in memory.

#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_registry_client::{digest_bytes, Digest};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// True when distribution's registry is installed; prints why a test is
/// skipped otherwise.
pub fn have_registry() -> bool {
    if Path::new(REGISTRY_BIN).exists() {
        return true;
    }
    eprintln!(
        "SKIPPED: {REGISTRY_BIN} not found (install Debian's docker-registry package: apt-get install -y docker-registry)"
    );
    false
}

/// Options of a test registry.
#[derive(Default)]
pub struct RegistryOpts {
    /// htpasswd user and password.
    pub htpasswd: Option<(String, String)>,
    /// TLS certificate and key files.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// A running `docker-registry serve`, killed and cleaned up on drop.
pub struct Registry {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Registry {
    pub fn domain(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn start(opts: RegistryOpts) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("berth-regclient-test-")
            .tempdir()
            .unwrap();
        // Retry with a fresh port if another process grabbed ours.
        for _ in 0..5 {
            let port = free_port();
            let mut cfg = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: berth-test-secret\n",
                dir.path().join("data").display()
            );
            if let Some((cert, key)) = &opts.tls {
                cfg.push_str(&format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    cert.display(),
                    key.display()
                ));
            }
            if let Some((user, pass)) = &opts.htpasswd {
                let hash = bcrypt::hash(pass, 5).unwrap();
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, format!("{user}:{hash}\n")).unwrap();
                cfg.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                    file.display()
                ));
            }
            let cfg_path = dir.path().join("config.yml");
            std::fs::write(&cfg_path, cfg).unwrap();
            let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
            let child = Command::new(REGISTRY_BIN)
                .arg("serve")
                .arg(&cfg_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
            let mut child = child;
            if wait_ready(&mut child, port) {
                return Registry { child, port, dir };
            }
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default();
            eprintln!("registry on port {port} did not start: {log}");
        }
        panic!("could not start docker-registry");
    }

    /// The blob files the registry stores.
    pub fn has_blob_data(&self, d: &Digest) -> bool {
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs")
            .join(d.algorithm())
            .join(&d.hex()[..2])
            .join(d.hex())
            .join("data")
            .exists()
    }
}

fn wait_ready(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A tar.gz layer with the given files.
pub fn layer(files: &[(&str, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        tar.append_data(&mut h, name, *data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// The uncompressed digest of a gzip layer.
pub fn diff_id(layer: &[u8]) -> Digest {
    let mut d = flate2::read::GzDecoder::new(layer);
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut d, &mut out).unwrap();
    digest_bytes(&out, None)
}

/// A small image: layers, config and a Docker schema-2 manifest.
pub struct TestImage {
    pub layers: Vec<Vec<u8>>,
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
}

impl TestImage {
    pub fn new(seed: &str) -> TestImage {
        // Incompressible bytes (xorshift), so the gzip layer stays large.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ seed.len() as u64;
        let big: Vec<u8> = (0..200_000u32)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let layers = vec![
            layer(&[("etc/hello", format!("hello {seed}\n").as_bytes())]),
            layer(&[("bin/data", &big), ("bin/seed", seed.as_bytes())]),
        ];
        let diff_ids: Vec<String> = layers.iter().map(|l| diff_id(l).to_string()).collect();
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .unwrap();
        let desc = |mt: &str, b: &[u8]| serde_json::json!({"mediaType": mt, "digest": digest_bytes(b, None).to_string(), "size": b.len()});
        let manifest = serde_json::to_vec_pretty(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": desc("application/vnd.docker.container.image.v1+json", &config),
            "layers": layers.iter().map(|l| desc("application/vnd.docker.image.rootfs.diff.tar.gzip", l)).collect::<Vec<_>>(),
        }))
        .unwrap();
        TestImage {
            layers,
            config,
            manifest,
        }
    }

    /// Config first, then layers.
    pub fn blobs(&self) -> Vec<&[u8]> {
        let mut v: Vec<&[u8]> = vec![&self.config];
        v.extend(self.layers.iter().map(Vec::as_slice));
        v
    }
}

/// A canned answer of the fake server.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Answer {
    pub fn new(status: u16) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    pub fn header(mut self, k: &str, v: &str) -> Answer {
        self.headers.push((k.to_owned(), v.to_owned()));
        self
    }

    pub fn body(mut self, b: impl Into<Bytes>) -> Answer {
        self.body = b.into();
        self
    }
}

/// What the fake server saw of a request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub headers: HashMap<String, String>,
}

type Handler = dyn Fn(&Seen) -> Answer + Send + Sync;

/// A fake HTTP server on 127.0.0.1, stopped on drop.
pub struct FakeServer {
    pub port: u16,
    pub log: Arc<std::sync::Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeServer {
    pub async fn start(handler: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> FakeServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let handler: Arc<Handler> = Arc::new(handler);
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log2 = log.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let handler = handler.clone();
                let log = log2.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let handler = handler.clone();
                        let log = log.clone();
                        async move {
                            let seen = Seen {
                                method: req.method().to_string(),
                                target: req
                                    .uri()
                                    .path_and_query()
                                    .map(|p| p.to_string())
                                    .unwrap_or_default(),
                                headers: req
                                    .headers()
                                    .iter()
                                    .map(|(k, v)| {
                                        (k.to_string(), v.to_str().unwrap_or("").to_owned())
                                    })
                                    .collect(),
                            };
                            log.lock().unwrap().push(seen.clone());
                            let a = handler(&seen);
                            let mut resp = Response::builder().status(a.status);
                            for (k, v) in &a.headers {
                                resp = resp.header(k, v);
                            }
                            Ok::<_, Infallible>(resp.body(Full::new(a.body)).unwrap())
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        FakeServer { port, log, task }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn domain(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A CA and a server certificate for 127.0.0.1 made with the openssl CLI;
/// `None` (with a message) when openssl is missing.
pub struct Certs {
    pub dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn make_certs() -> Option<Certs> {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("SKIPPED: openssl not found (apt-get install -y openssl)");
        return None;
    }
    let dir = tempfile::Builder::new()
        .prefix("berth-regclient-certs-")
        .tempdir()
        .unwrap();
    let p = |n: &str| dir.path().join(n);
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=berth test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    let mut ext = std::fs::File::create(p("ext.cnf")).unwrap();
    ext.write_all(
        b"subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    Some(Certs {
        ca: p("ca.pem"),
        cert: p("server.pem"),
        key: p("server.key"),
        dir,
    })
}
