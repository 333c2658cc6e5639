//! HTTPS with a certificate made by rcgen.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;
use berth_registry::{Config, TlsFiles};

fn client_config(
    cert_der: rustls::pki_types::CertificateDer<'static>,
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

#[tokio::test]
async fn serves_https() {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let der = ck.cert.der().clone();
    let mut reg = Registry::start_with(|c, dir| {
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
        c.tls = Some(TlsFiles { cert, key });
    })
    .await;
    reg.tls = Some(client_config(der));
    let r = reg.get("/v2/").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );
    let (m, md, _) = reg.push_image("secure/app", "v1", &[data(1, 70_000)]).await;
    let r = reg.get(&format!("/v2/secure/app/manifests/{md}")).await;
    assert_eq!(&r.body[..], &m[..]);

    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut s = tokio::net::TcpStream::connect(reg.addr).await.unwrap();
    s.write_all(b"GET /v2/ HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    assert!(
        !buf.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf)
    );

    // A client that does not trust the certificate fails the handshake.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let connector = tokio_rustls::TlsConnector::from(client_config(other.cert.der().clone()));
    let stream = tokio::net::TcpStream::connect(reg.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    assert!(connector.connect(name, stream).await.is_err());
}

#[tokio::test]
async fn bad_tls_files_fail_at_bind() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, "not a certificate").unwrap();
    std::fs::write(&key, "not a key").unwrap();
    let mut c = Config::new("127.0.0.1:0".parse().unwrap(), dir.path().join("data"));
    c.tls = Some(TlsFiles {
        cert: cert.clone(),
        key,
    });
    let e = berth_registry::bind(c).await.err().unwrap().to_string();
    assert!(e.contains("cert.pem"), "{e}");

    // Mismatched key and certificate.
    let a = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let b = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    std::fs::write(&cert, a.cert.pem()).unwrap();
    let key = dir.path().join("key2.pem");
    std::fs::write(&key, b.signing_key.serialize_pem()).unwrap();
    let mut c = Config::new("127.0.0.1:0".parse().unwrap(), dir.path().join("data"));
    c.tls = Some(TlsFiles { cert, key });
    let e = berth_registry::bind(c).await.err().unwrap().to_string();
    assert!(e.contains("do not work together"), "{e}");
}
