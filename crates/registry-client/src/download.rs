//! Plain downloads of any `http://` or `https://` URL (Dockerfile
//! `ADD <url>`) over the client's connections: the same trust store (system
//! roots, which honour `SSL_CERT_FILE` / `SSL_CERT_DIR`, plus the configured
//! CA files), always verified, with the client's timeouts.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use http_body_util::BodyExt;
use hyper::header::{HeaderValue, ACCEPT, LAST_MODIFIED, LOCATION};
use hyper::{Method, Request, StatusCode};
use sha2::{Digest as _, Sha256};

use crate::client::Client;
use crate::transport::{self, parse_uri, resolve_url};
use crate::Error;

/// Redirects followed at most (Go's `http.Client` stops after 10).
const MAX_REDIRECTS: usize = 10;

/// What [`Client::download`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// Hex sha256 of the body.
    pub sha256: String,
    /// Bytes written.
    pub size: u64,
    /// The final response's `Last-Modified` header, as sent.
    pub last_modified: Option<String>,
    /// The URL the content came from (after redirects).
    pub final_url: String,
}

fn io_err(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { what, source }
}

impl Client {
    /// GETs `url` (redirects followed) into a new file at `dest`. Anything
    /// but a final `200 OK` is an error naming the status; a certificate
    /// the trust store does not accept fails the request.
    pub async fn download(&self, url: &str, dest: &Path) -> Result<Download, Error> {
        let mut uri = parse_uri(url)?;
        for _ in 0..=MAX_REDIRECTS {
            if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
                return Err(Error::InvalidInput(format!(
                    "unsupported URL {uri}: only http:// and https:// can be downloaded"
                )));
            }
            let req = Request::builder()
                .method(Method::GET)
                .uri(uri.clone())
                .header(ACCEPT, HeaderValue::from_static("*/*"))
                .body(transport::empty())
                .map_err(|e| Error::InvalidInput(format!("invalid URL {uri}: {e}")))?;
            let resp = self.http().send_download(req).await?;
            let status = resp.status();
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                let loc = resp
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| Error::HttpStatus {
                        url: uri.to_string(),
                        status: format!("{status} (a redirect without a Location)"),
                    })?;
                uri = resolve_url(&uri, loc)?;
                continue;
            }
            if status != StatusCode::OK {
                return Err(Error::HttpStatus {
                    url: uri.to_string(),
                    status: status.to_string(),
                });
            }
            let last_modified = resp
                .headers()
                .get(LAST_MODIFIED)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let what = format!("downloading {uri} to {}", dest.display());
            let f = File::create(dest).map_err(io_err(what.clone()))?;
            let mut w = BufWriter::new(f);
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            let idle = self.http().timeouts.idle;
            let mut body = resp.into_body();
            loop {
                let frame = match tokio::time::timeout(idle, body.frame()).await {
                    Err(_) => {
                        return Err(Error::Io {
                            what,
                            source: std::io::Error::new(
                                std::io::ErrorKind::TimedOut,
                                format!("no data for {}s", idle.as_secs()),
                            ),
                        })
                    }
                    Ok(None) => break,
                    Ok(Some(Err(e))) => {
                        return Err(Error::Io {
                            what,
                            source: std::io::Error::other(e),
                        })
                    }
                    Ok(Some(Ok(f))) => f,
                };
                if let Ok(data) = frame.into_data() {
                    hasher.update(&data);
                    size += data.len() as u64;
                    w.write_all(&data).map_err(io_err(what.clone()))?;
                }
            }
            w.flush().map_err(io_err(what.clone()))?;
            w.into_inner()
                .map_err(|e| e.into_error())
                .and_then(|f| f.sync_all())
                .map_err(io_err(what))?;
            return Ok(Download {
                sha256: hex::encode(hasher.finalize()),
                size,
                last_modified,
                final_url: uri.to_string(),
            });
        }
        Err(Error::InvalidInput(format!(
            "GET {url}: stopped after {MAX_REDIRECTS} redirects"
        )))
    }
}
