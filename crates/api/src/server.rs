//! The API server: binds every `-H` address (unix sockets and plain TCP),
//! serves the router behind the version layer, and shuts down on request.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use berth_engine::{Engine, EngineError};
use tokio::sync::watch;

use crate::routes;
use crate::version;

/// The full application: routes behind the version-prefix layer.
pub fn app(engine: Arc<Engine>) -> Router {
    Router::new()
        .fallback_service(routes::router(engine))
        .layer(axum::middleware::from_fn(version::negotiate))
}

/// A listening address parsed from `-H`.
#[derive(Debug, Clone, PartialEq)]
pub enum Listen {
    /// `unix:///run/berth/berth.sock`.
    Unix(String),
    /// `tcp://127.0.0.1:2375`.
    Tcp(String),
}

/// Parses a `-H` value as Docker does (`unix://PATH`, `tcp://HOST:PORT`,
/// a bare path, or `HOST:PORT`).
pub fn parse_host(h: &str) -> Result<Listen, EngineError> {
    if let Some(p) = h.strip_prefix("unix://") {
        if p.is_empty() {
            return Err(EngineError::invalid(format!(
                "invalid host {h:?}: the unix socket path is empty"
            )));
        }
        return Ok(Listen::Unix(p.to_string()));
    }
    if let Some(a) = h.strip_prefix("tcp://") {
        let a = a.trim_end_matches('/');
        let addr = if a.starts_with(':') {
            format!("0.0.0.0{a}")
        } else {
            a.to_string()
        };
        if !addr.contains(':') {
            return Err(EngineError::invalid(format!(
                "invalid host {h:?}: a TCP address needs a port, e.g. tcp://127.0.0.1:2375"
            )));
        }
        return Ok(Listen::Tcp(addr));
    }
    if h.starts_with('/') {
        return Ok(Listen::Unix(h.to_string()));
    }
    if h.contains("://") {
        return Err(EngineError::invalid(format!(
            "invalid host {h:?}: only unix:// and tcp:// are supported"
        )));
    }
    Ok(Listen::Tcp(h.to_string()))
}

/// Binds all addresses first (so a bad one fails the start), then serves
/// until `shutdown` completes. Open streams get a few seconds to finish.
pub async fn serve(
    engine: Arc<Engine>,
    hosts: &[Listen],
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), EngineError> {
    let app = app(engine);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut sockets = Vec::new();
    for h in hosts {
        match h {
            Listen::Unix(path) => {
                let p = Path::new(path);
                if let Some(dir) = p.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        EngineError::internal(format!("creating {}: {e}", dir.display()))
                    })?;
                }
                if p.exists() {
                    // A live daemon holds the data-root lock; a leftover socket is stale.
                    let _ = std::fs::remove_file(p);
                }
                let l = tokio::net::UnixListener::bind(p).map_err(|e| {
                    EngineError::internal(format!("listening on unix://{path}: {e}"))
                })?;
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o660));
                sockets.push(p.to_path_buf());
                let app = app.clone();
                let mut rx = stop_rx.clone();
                tracing::info!("API listening on unix://{path}");
                tasks.push(tokio::spawn(async move {
                    let _ = axum::serve(l, app)
                        .with_graceful_shutdown(async move {
                            let _ = rx.wait_for(|s| *s).await;
                        })
                        .await;
                }));
            }
            Listen::Tcp(addr) => {
                let l = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                    EngineError::internal(format!("listening on tcp://{addr}: {e}"))
                })?;
                if !addr.starts_with("127.")
                    && !addr.starts_with("localhost")
                    && !addr.starts_with("[::1]")
                {
                    tracing::warn!(
                        "API listening on tcp://{addr} without TLS: anyone who can reach it has root on this host"
                    );
                } else {
                    tracing::info!("API listening on tcp://{addr}");
                }
                let app = app.clone();
                let mut rx = stop_rx.clone();
                tasks.push(tokio::spawn(async move {
                    let _ = axum::serve(l, app)
                        .with_graceful_shutdown(async move {
                            let _ = rx.wait_for(|s| *s).await;
                        })
                        .await;
                }));
            }
        }
    }
    shutdown.await;
    tracing::info!("shutting down the API");
    let _ = stop_tx.send(true);
    let all = futures::future::join_all(tasks);
    let _ = tokio::time::timeout(Duration::from_secs(2), all).await;
    for s in sockets {
        let _ = std::fs::remove_file(s);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(
            parse_host("unix:///run/x.sock").unwrap(),
            Listen::Unix("/run/x.sock".into())
        );
        assert_eq!(
            parse_host("tcp://127.0.0.1:2375").unwrap(),
            Listen::Tcp("127.0.0.1:2375".into())
        );
        assert_eq!(
            parse_host("tcp://:2375").unwrap(),
            Listen::Tcp("0.0.0.0:2375".into())
        );
        assert!(parse_host("tcp://nohost").is_err());
        assert!(parse_host("ssh://x").is_err());
        assert!(parse_host("unix://").is_err());
    }
}
