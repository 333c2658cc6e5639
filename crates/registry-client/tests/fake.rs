//! Tests against a fake registry on 127.0.0.1 for what a real one rarely
//! does: the Bearer token dance (scopes, credentials, caching), Docker Hub's
//! `insufficient_scope` answer, blobs and manifests whose bytes do not match
//! their digest, redirects to blob storage, servers that ignore `Range`,
//! oversized manifests, and a Docker Hub mirror.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::Engine as _;
use berth_registry_client::{
    digest_bytes, BlobHasher, Client, ClientConfig, Credentials, Error, ErrorKind, Reference,
    Repository,
};
use common::{Answer, FakeServer};
use tokio::io::AsyncReadExt;

const MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";

fn client() -> Client {
    Client::new(ClientConfig::default()).unwrap()
}

fn manifest_bytes() -> Vec<u8> {
    br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#.to_vec()
}

fn query_params(target: &str) -> Vec<(String, String)> {
    let q = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

#[tokio::test]
async fn bearer_token_dance_with_credentials_and_cache() {
    let manifest = manifest_bytes();
    let token_calls = Arc::new(AtomicUsize::new(0));
    let calls = token_calls.clone();
    let m = manifest.clone();
    let server = FakeServer::start(move |req| {
        let path = req.target.split('?').next().unwrap_or("");
        let port = req.headers.get("host").cloned().unwrap_or_default();
        let challenge = format!(r#"Bearer realm="http://{port}/token",service="fake-registry""#);
        match path {
            "/token" => {
                calls.fetch_add(1, Ordering::SeqCst);
                let q = query_params(&req.target);
                let service = q
                    .iter()
                    .find(|(k, _)| k == "service")
                    .map(|(_, v)| v.as_str());
                let scope = q.iter().find(|(k, _)| k == "scope").map(|(_, v)| v.clone());
                let account = q
                    .iter()
                    .find(|(k, _)| k == "account")
                    .map(|(_, v)| v.as_str());
                let expected_basic = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode("bob:pw")
                );
                if service != Some("fake-registry")
                    || account != Some("bob")
                    || req.headers.get("authorization") != Some(&expected_basic)
                {
                    return Answer::new(401)
                        .body(r#"{"details":"incorrect username or password"}"#);
                }
                // The answer uses access_token (OAuth style) instead of token.
                Answer::new(200).body(format!(
                    r#"{{"access_token":"tok:{}","expires_in":300}}"#,
                    scope.unwrap_or_default()
                ))
            }
            "/v2/" => match req.headers.get("authorization") {
                Some(a) if a.starts_with("Bearer tok:") => Answer::new(200),
                _ => Answer::new(401).header("www-authenticate", &challenge),
            },
            "/v2/team/app/manifests/v1" => {
                if req.headers.get("authorization").map(String::as_str)
                    == Some("Bearer tok:repository:team/app:pull")
                {
                    Answer::new(200)
                        .header("content-type", MANIFEST_V2)
                        .body(m.clone())
                } else {
                    Answer::new(401).header("www-authenticate", &challenge)
                }
            }
            _ => Answer::new(404),
        }
    })
    .await;
    let c = client();
    let repo = Repository::new(&server.domain(), "team/app");
    let good = Credentials::basic("bob", "pw");
    let got = c
        .repository(&repo, Some(good.clone()))
        .fetch_manifest("v1")
        .await
        .unwrap();
    assert_eq!(&got.bytes[..], &manifest[..]);
    assert_eq!(got.digest, digest_bytes(&manifest, None));
    assert_eq!(token_calls.load(Ordering::SeqCst), 1);

    // A second handle with the same credentials reuses the cached token.
    c.repository(&repo, Some(good.clone()))
        .fetch_manifest("v1")
        .await
        .unwrap();
    assert_eq!(token_calls.load(Ordering::SeqCst), 1);

    // Wrong password: the token server's message, shown against the registry URL.
    let e = c
        .repository(&repo, Some(Credentials::basic("bob", "nope")))
        .fetch_manifest("v1")
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "Get \"http://{}/v2/team/app/manifests/v1\": unauthorized: incorrect username or password",
            server.domain()
        )
    );
    assert_eq!(e.kind(), ErrorKind::Unauthorized);

    // Login gets a token with the credentials.
    let login = c.login(&server.domain(), &good).await.unwrap();
    assert_eq!(login.status, "Login Succeeded");
    let e = c
        .login(&server.domain(), &Credentials::basic("bob", "nope"))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .ends_with("unauthorized: incorrect username or password"),
        "{e}"
    );

    // No token request was ever sent with someone else's password.
    for s in server
        .seen()
        .iter()
        .filter(|s| s.target.starts_with("/v2/"))
    {
        assert!(
            s.headers
                .get("authorization")
                .is_none_or(|a| a.starts_with("Bearer ")),
            "registry got {:?}",
            s.headers.get("authorization")
        );
    }
}

#[tokio::test]
async fn anonymous_pull_of_a_private_repo_is_pull_access_denied() {
    let server = FakeServer::start(|req| {
        let path = req.target.split('?').next().unwrap_or("");
        let host = req.headers.get("host").cloned().unwrap_or_default();
        match path {
            "/token" => {
                assert!(!req.headers.contains_key("authorization"), "anonymous token request sent credentials");
                Answer::new(200).body(r#"{"token":"anon"}"#)
            }
            "/v2/" => Answer::new(401).header(
                "www-authenticate",
                &format!(r#"Bearer realm="http://{host}/token",service="s""#),
            ),
            _ => Answer::new(401)
                .header(
                    "www-authenticate",
                    &format!(
                        r#"Bearer realm="http://{host}/token",service="s",scope="repository:secret/thing:pull",error="insufficient_scope""#
                    ),
                )
                .body(r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository","Name":"secret/thing","Action":"pull"}]}]}"#),
        }
    })
    .await;
    let c = client();
    let r =
        Reference::parse_normalized(&format!("{}/secret/thing:latest", server.domain())).unwrap();
    let e = c.resolve(&r, None).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "pull access denied for {}/secret/thing, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
            server.domain()
        )
    );
    assert_eq!(e.kind(), ErrorKind::NotFound);
    // insufficient_scope is not retried with the same anonymous token.
    let manifest_requests = server
        .seen()
        .iter()
        .filter(|s| s.target.contains("/manifests/"))
        .count();
    assert_eq!(manifest_requests, 1);
}

#[tokio::test]
async fn blob_with_wrong_bytes_is_an_error() {
    let claimed = b"the real blob".to_vec();
    let served = b"something else".to_vec();
    let digest = digest_bytes(&claimed, None);
    let path = format!("/v2/x/blobs/{digest}");
    let body = served.clone();
    let server = FakeServer::start(move |req| {
        if req.target == "/v2/" {
            Answer::new(200)
        } else if req.target == path {
            Answer::new(200).body(body.clone())
        } else {
            Answer::new(404)
        }
    })
    .await;
    let c = client();
    let rc = c.repository(&Repository::new(&server.domain(), "x"), None);

    // Wrong content, size unknown: the digest check fails at the end.
    let mut r = rc.fetch_blob(&digest, None).await.unwrap();
    let mut out = Vec::new();
    let e = r.read_to_end(&mut out).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    let inner = e.into_inner().unwrap().downcast::<Error>().unwrap();
    match *inner {
        Error::DigestMismatch {
            expected, actual, ..
        } => {
            assert_eq!(expected, digest.to_string());
            assert_eq!(actual, digest_bytes(&served, None).to_string());
        }
        other => panic!("unexpected {other}"),
    }

    // Size known and the server sends more: refused as soon as headers say so.
    let e = rc
        .fetch_blob(&digest, Some(claimed.len() as u64))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::SizeMismatch { .. }), "{e}");
}

#[tokio::test]
async fn manifest_digest_checks_and_size_cap() {
    let manifest = manifest_bytes();
    let good = digest_bytes(&manifest, None);
    let other = digest_bytes(b"other", None);
    let m = manifest.clone();
    let lie = other.to_string();
    let server = FakeServer::start(move |req| match req.target.as_str() {
        "/v2/" => Answer::new(200),
        "/v2/x/manifests/lying" => Answer::new(200)
            .header("content-type", MANIFEST_V2)
            .header("docker-content-digest", &lie)
            .body(m.clone()),
        // No content type: the media type comes from the body.
        "/v2/x/manifests/plain" => Answer::new(200).body(m.clone()),
        "/v2/x/manifests/huge" => Answer::new(200)
            .header("content-type", MANIFEST_V2)
            .body(vec![b' '; 8192]),
        t if t.starts_with("/v2/x/manifests/sha256:") => Answer::new(200)
            .header("content-type", MANIFEST_V2)
            .body(m.clone()),
        _ => Answer::new(404),
    })
    .await;
    let c = Client::new(ClientConfig {
        max_manifest_size: 4096,
        ..ClientConfig::default()
    })
    .unwrap();
    let rc = c.repository(&Repository::new(&server.domain(), "x"), None);
    let e = rc.fetch_manifest("lying").await.unwrap_err();
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
    assert!(e.to_string().contains("Docker-Content-Digest"), "{e}");

    let plain = rc.fetch_manifest("plain").await.unwrap();
    assert_eq!(plain.media_type, MANIFEST_V2);

    let e = rc.fetch_manifest("huge").await.unwrap_err();
    assert!(matches!(e, Error::TooLarge { limit: 4096, .. }), "{e}");

    // By digest: the bytes must hash to the digest asked for.
    assert_eq!(
        rc.fetch_manifest(&good.to_string()).await.unwrap().digest,
        good
    );
    let e = rc.fetch_manifest(&other.to_string()).await.unwrap_err();
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
}

#[tokio::test]
async fn redirect_to_blob_storage_without_credentials() {
    let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    let digest = digest_bytes(&data, None);
    let d2 = data.clone();
    let storage = FakeServer::start(move |req| {
        if req.target.starts_with("/bucket/blob?sig=") {
            Answer::new(200).body(d2.clone())
        } else {
            Answer::new(404)
        }
    })
    .await;
    let storage_url = storage.url();
    let blob_path = format!("/v2/x/blobs/{digest}");
    let registry = FakeServer::start(move |req| {
        if req.target == "/v2/" {
            return Answer::new(401).header("www-authenticate", r#"Basic realm="r""#);
        }
        if !req.headers.contains_key("authorization") {
            return Answer::new(401).header("www-authenticate", r#"Basic realm="r""#);
        }
        if req.target == blob_path {
            Answer::new(307).header("location", &format!("{storage_url}/bucket/blob?sig=abc"))
        } else {
            Answer::new(404)
        }
    })
    .await;
    let c = client();
    let rc = c.repository(
        &Repository::new(&registry.domain(), "x"),
        Some(Credentials::basic("u", "p")),
    );
    let mut r = rc
        .fetch_blob(&digest, Some(data.len() as u64))
        .await
        .unwrap();
    let mut out = Vec::new();
    r.read_to_end(&mut out).await.unwrap();
    assert_eq!(out, data);
    let seen = storage.seen();
    assert_eq!(seen.len(), 1);
    assert!(
        !seen[0].headers.contains_key("authorization"),
        "credentials leaked to blob storage"
    );
}

#[tokio::test]
async fn resume_from_a_server_that_ignores_range() {
    let data: Vec<u8> = (0..30_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let digest = digest_bytes(&data, None);
    let d2 = data.clone();
    let path = format!("/v2/x/blobs/{digest}");
    let server = FakeServer::start(move |req| {
        if req.target == "/v2/" {
            Answer::new(200)
        } else if req.target == path {
            Answer::new(200).body(d2.clone())
        } else {
            Answer::new(404)
        }
    })
    .await;
    let c = client();
    let rc = c.repository(&Repository::new(&server.domain(), "x"), None);
    let mut partial = BlobHasher::for_digest(&digest);
    partial.update(&data[..12_345]);
    let mut r = rc
        .resume_blob(&digest, Some(data.len() as u64), partial)
        .await
        .unwrap();
    let mut out = Vec::new();
    r.read_to_end(&mut out).await.unwrap();
    assert_eq!(out, &data[12_345..]);
    assert_eq!(r.offset(), data.len() as u64);
    let seen = server.seen();
    let last = seen.last().unwrap();
    assert_eq!(
        last.headers.get("range").map(String::as_str),
        Some("bytes=12345-")
    );
}

#[tokio::test]
async fn docker_hub_pulls_go_to_the_mirror() {
    let manifest = manifest_bytes();
    let m = manifest.clone();
    let mirror = FakeServer::start(move |req| match req.target.as_str() {
        "/v2/" => Answer::new(200),
        "/v2/library/busybox/manifests/latest" => Answer::new(200)
            .header("content-type", MANIFEST_V2)
            .body(m.clone()),
        _ => Answer::new(404),
    })
    .await;
    let c = Client::new(ClientConfig {
        mirrors: vec![format!("{}/", mirror.url())],
        ..ClientConfig::default()
    })
    .unwrap();
    let r = Reference::parse_normalized("busybox").unwrap();
    let got = c.resolve(&r, None).await.unwrap();
    assert_eq!(&got.bytes[..], &manifest[..]);
    assert_eq!(mirror.seen().len(), 2, "ping and manifest");
    // Mirrors are never used for pushes: the endpoints for a push are the origin's.
    let eps = c.endpoints("docker.io", true).await;
    assert_eq!(eps.len(), 1);
    assert_eq!(eps[0].base, "https://registry-1.docker.io");
}

#[tokio::test]
async fn tags_follow_pagination_links() {
    let server = FakeServer::start(|req| match req.target.as_str() {
        "/v2/" => Answer::new(200),
        "/v2/x/tags/list" => Answer::new(200)
            .header("link", r#"</v2/x/tags/list?last=b&n=2>; rel="next""#)
            .body(r#"{"name":"x","tags":["a","b"]}"#),
        "/v2/x/tags/list?last=b&n=2" => Answer::new(200).body(r#"{"name":"x","tags":["c"]}"#),
        _ => Answer::new(404),
    })
    .await;
    let c = client();
    let tags = c
        .repository(&Repository::new(&server.domain(), "x"), None)
        .tags()
        .await
        .unwrap();
    assert_eq!(tags, ["a", "b", "c"]);
}

/// A raw server on 127.0.0.1 that answers `/v2/` and then, for anything
/// else, sends `reply` and keeps the connection open without more bytes.
async fn stalling_server(reply: &'static [u8]) -> (u16, tokio::task::JoinHandle<()>) {
    use tokio::io::AsyncWriteExt;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            if head.starts_with("GET /v2/ ") {
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            } else {
                let _ = s.write_all(reply).await;
            }
            held.push(s);
        }
    });
    (port, task)
}

#[tokio::test]
async fn stalled_registries_time_out_with_a_clear_error() {
    let timeouts = berth_registry_client::Timeouts {
        connect: std::time::Duration::from_secs(2),
        response: std::time::Duration::from_secs(1),
        idle: std::time::Duration::from_secs(1),
    };
    let c = Client::new(ClientConfig {
        timeouts,
        ..ClientConfig::default()
    })
    .unwrap();

    // No answer at all to the manifest request.
    let (port, task) = stalling_server(b"").await;
    let rc = c.repository(&Repository::new(&format!("127.0.0.1:{port}"), "x"), None);
    let e = rc.fetch_manifest("latest").await.unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e}");
    assert!(e.to_string().contains("timed out after 1s"), "{e}");
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    task.abort();

    // Headers, then a body that stops half-way.
    let (port, task) =
        stalling_server(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789").await;
    let rc = c.repository(&Repository::new(&format!("127.0.0.1:{port}"), "x"), None);
    let d = digest_bytes(b"whatever", None);
    let mut r = rc.fetch_blob(&d, Some(100)).await.unwrap();
    let mut out = Vec::new();
    let e = r.read_to_end(&mut out).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}");
    assert!(
        e.to_string().contains("no data for 1s after 10 bytes"),
        "{e}"
    );
    task.abort();
}

#[tokio::test]
async fn v1_search_with_credentials_and_a_registry_without_it() {
    let registry = FakeServer::start(move |req| {
        if !req.headers.contains_key("authorization") {
            return Answer::new(401).header("www-authenticate", r#"Basic realm="r""#);
        }
        match req.target.split('?').next().unwrap_or("") {
            "/v2/" => Answer::new(200),
            "/v1/search" => Answer::new(200).body(
                r#"{"num_results":1,"query":"alu","results":[{"name":"alumno/busybox","description":"d","star_count":3,"is_official":false,"is_automated":false}]}"#,
            ),
            _ => Answer::new(404),
        }
    })
    .await;
    let c = client();
    let creds = Credentials::basic("u", "p");
    let r = c
        .search(&registry.domain(), "alu no", 5, Some(&creds))
        .await
        .unwrap();
    assert_eq!(r.num_results, 1);
    assert_eq!(r.results[0].name, "alumno/busybox");
    assert_eq!(r.results[0].star_count, 3);
    let asked = registry
        .seen()
        .into_iter()
        .find(|s| s.target.starts_with("/v1/search"))
        .unwrap();
    assert_eq!(
        query_params(&asked.target),
        [
            ("q".to_string(), "alu no".to_string()),
            ("n".into(), "5".into())
        ]
    );
    // Without credentials the registry's refusal comes back as is.
    let e = c
        .search(&registry.domain(), "alu", 5, None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    // A registry without the v1 search (distribution): Docker's text.
    let plain = FakeServer::start(|req| {
        if req.target == "/v2/" {
            Answer::new(200)
        } else {
            Answer::new(404).body("404 page not found\n")
        }
    })
    .await;
    let e = c.search(&plain.domain(), "x", 25, None).await.unwrap_err();
    assert_eq!(e.to_string(), "Unexpected status code 404");
}
