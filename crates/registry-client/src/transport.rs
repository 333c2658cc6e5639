//! HTTP plumbing: hyper 1 clients over rustls (system roots plus extra CA
//! files; a second client without certificate verification for insecure
//! registries), requests with timeouts, bounded body reads, URL resolution
//! for `Location` headers, and network errors that say what to do.

use std::error::Error as StdError;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, USER_AGENT};
use hyper::{Method, Request, Response, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::Error;

/// Request body type used for every request.
pub(crate) type ReqBody = UnsyncBoxBody<Bytes, io::Error>;

type Connector = HttpsConnector<HttpConnector>;

/// An empty body.
pub(crate) fn empty() -> ReqBody {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A body from bytes.
pub(crate) fn full(b: Bytes) -> ReqBody {
    Full::new(b).map_err(|never| match never {}).boxed_unsync()
}

/// Go's spelling of a method in errors (`Get "https://…"`).
pub(crate) fn go_method(m: &Method) -> String {
    let s = m.as_str();
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.chars().enumerate() {
        if i == 0 {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// Timeouts for registry traffic.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// TCP connect (per address).
    pub connect: Duration,
    /// From sending a request to its response headers (includes TLS;
    /// uploads get extra time for their body at 16 KiB/s).
    pub response: Duration,
    /// Longest pause between two pieces of a response body.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(30),
            response: Duration::from_secs(60),
            idle: Duration::from_secs(120),
        }
    }
}

/// Slowest upload rate allowed before an upload request times out.
pub(crate) const MIN_UPLOAD_RATE: u64 = 16 * 1024;

/// The two hyper clients (verifying and not) and the shared settings.
pub(crate) struct Http {
    secure: HyperClient<Connector, ReqBody>,
    insecure: HyperClient<Connector, ReqBody>,
    pub(crate) timeouts: Timeouts,
    user_agent: HeaderValue,
}

impl Http {
    pub(crate) fn new(
        ca_files: &[impl AsRef<Path>],
        user_agent: &str,
        timeouts: Timeouts,
    ) -> Result<Http, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for e in &native.errors {
            tracing::debug!("loading system CA certificates: {e}");
        }
        roots.add_parsable_certificates(native.certs);
        for f in ca_files {
            let f = f.as_ref();
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(f)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    Error::Config(format!(
                        "cannot read CA certificates from {}: {e}; give a PEM file",
                        f.display()
                    ))
                })?;
            if certs.is_empty() {
                return Err(Error::Config(format!(
                    "no CA certificate found in {}; give a PEM file",
                    f.display()
                )));
            }
            for c in certs {
                roots.add(c).map_err(|e| {
                    Error::Config(format!("bad CA certificate in {}: {e}", f.display()))
                })?;
            }
        }
        let verifying = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config(format!("TLS setup failed: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let skipping = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config(format!("TLS setup failed: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth();
        let user_agent = HeaderValue::from_str(user_agent).map_err(|_| {
            Error::Config(format!(
                "user agent {user_agent:?} is not a valid header value"
            ))
        })?;
        Ok(Http {
            secure: build_client(verifying, timeouts),
            insecure: build_client(skipping, timeouts),
            timeouts,
            user_agent,
        })
    }

    /// Sends `req` and waits (bounded) for the response headers.
    pub(crate) async fn send(
        &self,
        skip_verify: bool,
        req: Request<ReqBody>,
    ) -> Result<Response<Incoming>, Error> {
        self.send_within(skip_verify, req, self.timeouts.response)
            .await
    }

    /// Like [`send`](Self::send) with a given bound (uploads get longer:
    /// their body is sent before the response comes).
    pub(crate) async fn send_within(
        &self,
        skip_verify: bool,
        req: Request<ReqBody>,
        limit: Duration,
    ) -> Result<Response<Incoming>, Error> {
        let client = if skip_verify {
            &self.insecure
        } else {
            &self.secure
        };
        self.send_with(client, req, limit, true).await
    }

    /// Sends a request to any web server (not a registry): always verifies
    /// certificates, and errors do not speak of registries.
    pub(crate) async fn send_download(
        &self,
        req: Request<ReqBody>,
    ) -> Result<Response<Incoming>, Error> {
        self.send_with(&self.secure, req, self.timeouts.response, false)
            .await
    }

    /// Sends `req` through `client` with the user agent, bounded by `limit`;
    /// errors name the request and (`for_registry`) speak of registries.
    async fn send_with(
        &self,
        client: &HyperClient<Connector, ReqBody>,
        mut req: Request<ReqBody>,
        limit: Duration,
        for_registry: bool,
    ) -> Result<Response<Incoming>, Error> {
        let method = go_method(req.method());
        let url = req.uri().to_string();
        req.headers_mut()
            .insert(USER_AGENT, self.user_agent.clone());
        let host = req
            .uri()
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let https = req.uri().scheme_str() == Some("https");
        match tokio::time::timeout(limit, client.request(req)).await {
            Err(_) => Err(Error::Timeout {
                method,
                url,
                secs: limit.as_secs(),
            }),
            Ok(Err(e)) => Err(Error::Transport {
                method,
                url,
                message: describe(&e, &host, https, for_registry),
            }),
            Ok(Ok(r)) => Ok(r),
        }
    }
}

fn build_client(tls: rustls::ClientConfig, t: Timeouts) -> HyperClient<Connector, ReqBody> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(t.connect));
    http.set_nodelay(true);
    http.set_keepalive(Some(Duration::from_secs(30)));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    HyperClient::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build(https)
}

/// Accepts any certificate (insecure registries) but still checks the
/// handshake signatures, like Go's `InsecureSkipVerify`.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A network failure in words, with what to do about it.
fn describe(
    e: &hyper_util::client::legacy::Error,
    host: &str,
    https: bool,
    registry: bool,
) -> String {
    let insecure_hint = if registry {
        format!(
            "if {host} is a registry without (valid) TLS, add it to \"insecure-registries\" in daemon.json"
        )
    } else {
        format!(
            "the daemon must trust {host}'s certificate: add its CA to the system's trust store or point SSL_CERT_FILE at it"
        )
    };
    let what = if registry { "a registry" } else { "a server" };
    let mut source: Option<&(dyn StdError + 'static)> = e.source();
    let mut chain = Vec::new();
    while let Some(s) = source {
        if let Some(tls) = s.downcast_ref::<rustls::Error>() {
            return tls_message(tls, &insecure_hint, registry);
        }
        let mut io_inner: Option<&(dyn StdError + 'static)> = None;
        if let Some(io) = s.downcast_ref::<io::Error>() {
            // io::Error::source() skips the wrapped error itself: descend by hand.
            io_inner = io.get_ref().map(|e| e as &(dyn StdError + 'static));
            match io.kind() {
                io::ErrorKind::ConnectionRefused => {
                    return format!(
                    "dial tcp {host}: connect: connection refused (is {what} listening at {host}?)"
                )
                }
                io::ErrorKind::TimedOut => {
                    return format!(
                        "dial tcp {host}: i/o timeout (is {host} reachable from this host?)"
                    )
                }
                io::ErrorKind::UnexpectedEof if https => {
                    return format!(
                    "tls handshake with {host}: connection closed by the server ({insecure_hint})"
                )
                }
                _ => {}
            }
        }
        let text = s.to_string();
        if text.contains("dns error") || text.contains("failed to lookup address") {
            return format!(
                "lookup {}: no such host (check the {} name and the DNS settings)",
                crate::endpoint::split_host(host),
                if registry { "registry" } else { "host" }
            );
        }
        if chain.last() != Some(&text) {
            chain.push(text);
        }
        source = io_inner.or_else(|| s.source());
    }
    if chain.is_empty() {
        chain.push(e.to_string());
    }
    format!("{} (is {host} reachable?)", chain.join(": "))
}

fn tls_message(tls: &rustls::Error, insecure_hint: &str, registry: bool) -> String {
    match tls {
        rustls::Error::InvalidMessage(_) => {
            format!("http: server gave HTTP response to HTTPS client ({insecure_hint})")
        }
        rustls::Error::InvalidCertificate(c) => {
            let why = match c {
                // A bad signature: an issuer of the same name but another
                // key (Go says the same).
                rustls::CertificateError::UnknownIssuer
                | rustls::CertificateError::BadSignature => {
                    "x509: certificate signed by unknown authority".to_owned()
                }
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. } => {
                    "x509: certificate is not valid for this host name".to_owned()
                }
                rustls::CertificateError::Expired
                | rustls::CertificateError::ExpiredContext { .. }
                | rustls::CertificateError::NotValidYet
                | rustls::CertificateError::NotValidYetContext { .. } => {
                    "x509: certificate has expired or is not yet valid".to_owned()
                }
                other => format!("{other:?}"),
            };
            if registry {
                format!(
                    "tls: failed to verify certificate: {why} (add the registry's CA certificate, or {insecure_hint})"
                )
            } else {
                format!("tls: failed to verify certificate: {why} ({insecure_hint})")
            }
        }
        other => format!("tls: {other} ({insecure_hint})"),
    }
}

/// Reads a whole body, refusing more than `limit` bytes and pauses longer
/// than `idle`.
pub(crate) async fn read_limited(
    body: Incoming,
    limit: u64,
    idle: Duration,
    what: &str,
) -> Result<Bytes, Error> {
    let mut body = body;
    let mut buf = BytesMut::new();
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => {
                return Err(Error::Io {
                    what: format!("reading {what}"),
                    source: io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no data for {}s", idle.as_secs()),
                    ),
                })
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(Error::Io {
                    what: format!("reading {what}"),
                    source: io::Error::other(e),
                })
            }
            Ok(Some(Ok(f))) => f,
        };
        if let Ok(data) = frame.into_data() {
            if buf.len() as u64 + data.len() as u64 > limit {
                return Err(Error::TooLarge {
                    what: what.to_owned(),
                    limit,
                });
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// Resolves a `Location` (absolute URL, `//host/…`, `/path`, or relative)
/// against the URL it came from.
pub(crate) fn resolve_url(base: &Uri, location: &str) -> Result<Uri, Error> {
    let bad = || {
        Error::InvalidInput(format!(
            "invalid redirect location {location:?} (from {base})"
        ))
    };
    let scheme = base.scheme_str().unwrap_or("https");
    let authority = base.authority().map(|a| a.as_str()).unwrap_or("");
    let full = if location.starts_with("http://") || location.starts_with("https://") {
        location.to_owned()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        let path = base.path();
        let dir = match path.rfind('/') {
            Some(i) => &path[..=i],
            None => "/",
        };
        format!("{scheme}://{authority}{dir}{location}")
    };
    full.parse::<Uri>().map_err(|_| bad())
}

/// Adds query parameters to a URL (`?` or `&`).
pub(crate) fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return url.to_owned();
    }
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        ser.append_pair(k, v);
    }
    let q = ser.finish();
    if url.contains('?') {
        format!("{url}&{q}")
    } else {
        format!("{url}?{q}")
    }
}

/// Parses a URL string built by this crate or sent by a registry.
pub(crate) fn parse_uri(s: &str) -> Result<Uri, Error> {
    s.parse::<Uri>()
        .map_err(|e| Error::InvalidInput(format!("invalid URL {s:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let base: Uri = "http://127.0.0.1:5000/v2/a/blobs/uploads/".parse().unwrap();
        assert_eq!(
            resolve_url(&base, "/v2/a/blobs/uploads/u1?_state=x")
                .unwrap()
                .to_string(),
            "http://127.0.0.1:5000/v2/a/blobs/uploads/u1?_state=x"
        );
        assert_eq!(
            resolve_url(&base, "https://s3.example/b?sig=1")
                .unwrap()
                .to_string(),
            "https://s3.example/b?sig=1"
        );
        assert_eq!(
            resolve_url(&base, "//cdn.example/x").unwrap().to_string(),
            "http://cdn.example/x"
        );
        assert_eq!(
            resolve_url(&base, "u2").unwrap().to_string(),
            "http://127.0.0.1:5000/v2/a/blobs/uploads/u2"
        );
        assert!(resolve_url(&base, "http://bad host/").is_err());
    }

    #[test]
    fn queries_and_methods() {
        assert_eq!(
            with_query("http://h/u?_state=a", &[("digest", "sha256:ab")]),
            "http://h/u?_state=a&digest=sha256%3Aab"
        );
        assert_eq!(with_query("http://h/u", &[("n", "1")]), "http://h/u?n=1");
        assert_eq!(go_method(&Method::HEAD), "Head");
    }

    #[test]
    fn missing_ca_file_is_a_clear_error() {
        let e = match Http::new(&["/nonexistent/ca.pem"], "berth", Timeouts::default()) {
            Err(e) => e,
            Ok(_) => panic!("missing CA file accepted"),
        };
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }
}
