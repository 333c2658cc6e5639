//! The listening side: binding (port 0 allowed), the accept loop, optional
//! TLS (rustls with the ring provider, PEM files), HTTP/1.1 connections
//! with a header read timeout, and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::auth::Auth;
use crate::config::{Config, TlsFiles};
use crate::error::RegistryError;
use crate::http::{handle, AppState};
use crate::storage::Storage;

const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A bound registry server; [`Server::run`] serves it.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    state: Arc<AppState>,
    tls: Option<TlsAcceptor>,
}

/// Opens the storage, loads credentials and certificates, and binds the
/// listening socket (port 0 picks a free port).
pub async fn bind(config: Config) -> Result<Server, RegistryError> {
    config.validate()?;
    let root = config.root.clone();
    let storage = tokio::task::spawn_blocking(move || Storage::open(&root))
        .await
        .map_err(|e| RegistryError::Config(format!("storage set-up task failed: {e}")))??;
    let auth = Auth::new(&config.auth)?;
    let tls = config.tls.as_ref().map(tls_acceptor).transpose()?;
    let listener = TcpListener::bind(config.addr)
        .await
        .map_err(|source| RegistryError::Bind {
            addr: config.addr,
            source,
        })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| RegistryError::Bind {
            addr: config.addr,
            source,
        })?;
    let mut config = config;
    config.addr = local_addr;
    let state = Arc::new(AppState::new(storage, auth, config, tls.is_some()));
    Ok(Server {
        listener,
        local_addr,
        state,
        tls,
    })
}

/// Binds and serves until `shutdown` completes.
pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RegistryError> {
    bind(config).await?.run(shutdown).await
}

impl Server {
    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Whether connections are TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serves connections until `shutdown` completes, then stops accepting
    /// and lets open requests finish (for up to 10 seconds).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), RegistryError> {
        let graceful = GracefulShutdown::new();
        tokio::pin!(shutdown);
        tracing::info!(
            "registry: listening on {}://{}",
            if self.tls.is_some() { "https" } else { "http" },
            self.local_addr
        );
        loop {
            let accepted = tokio::select! {
                _ = &mut shutdown => break,
                a = self.listener.accept() => a,
            };
            let (stream, peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    tracing::warn!("registry: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let state = self.state.clone();
            let tls = self.tls.clone();
            let watcher = graceful.watcher();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                    let state = state.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(handle(state, req.map(Body::new)).await)
                    }
                });
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .keep_alive(true);
                let result = match tls {
                    None => {
                        watcher
                            .watch(builder.serve_connection(TokioIo::new(stream), svc))
                            .await
                    }
                    Some(acceptor) => {
                        let tls_stream = match tokio::time::timeout(
                            TLS_HANDSHAKE_TIMEOUT,
                            acceptor.accept(stream),
                        )
                        .await
                        {
                            Ok(Ok(s)) => s,
                            Ok(Err(e)) => {
                                tracing::debug!("registry: TLS handshake with {peer} failed: {e}");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!("registry: TLS handshake with {peer} timed out");
                                return;
                            }
                        };
                        watcher
                            .watch(builder.serve_connection(TokioIo::new(tls_stream), svc))
                            .await
                    }
                };
                if let Err(e) = result {
                    tracing::debug!("registry: connection from {peer}: {e}");
                }
            });
        }
        drop(self.listener);
        if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                "registry: connections still open after {SHUTDOWN_GRACE:?}; stopping anyway"
            );
        }
        Ok(())
    }
}

/// Loads the certificate chain and key into a rustls acceptor (HTTP/1.1
/// over ALPN).
fn tls_acceptor(files: &TlsFiles) -> Result<TlsAcceptor, RegistryError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| {
            RegistryError::Tls(format!("reading certificate {}: {e}", files.cert.display()))
        })?
        .collect::<Result<_, _>>()
        .map_err(|e| {
            RegistryError::Tls(format!("parsing certificate {}: {e}", files.cert.display()))
        })?;
    if certs.is_empty() {
        return Err(RegistryError::Tls(format!(
            "{} holds no PEM certificate",
            files.cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| {
        RegistryError::Tls(format!(
            "reading private key {}: {e} (PKCS#8, PKCS#1 or SEC1 PEM expected)",
            files.key.display()
        ))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| RegistryError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            RegistryError::Tls(format!(
                "certificate {} and key {} do not work together: {e}",
                files.cert.display(),
                files.key.display()
            ))
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
