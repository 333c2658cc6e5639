//! End-to-end tests against a real registry (Debian's `docker-registry`,
//! distribution 2.8) on 127.0.0.1: push and pull of a multi-layer image,
//! chunked uploads, resumed downloads, cross-repository mounts, htpasswd
//! Basic auth, TLS with a test CA, and the errors a user sees.

mod common;

use berth_registry_client::{
    digest_bytes, BlobHasher, BlobPush, BlobSource, Client, ClientConfig, Credentials, Error,
    ErrorKind, Reference, Repository,
};
use common::{have_registry, Registry, RegistryOpts, TestImage};
use tokio::io::AsyncReadExt;

const MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";

fn client() -> Client {
    Client::new(ClientConfig::default()).unwrap()
}

async fn read_all(mut r: berth_registry_client::BlobReader) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    r.read_to_end(&mut out).await?;
    Ok(out)
}

/// Pushes `img` to `repo` under `tag` and returns the manifest digest.
async fn push_image(
    c: &Client,
    repo: &Repository,
    creds: Option<Credentials>,
    img: &TestImage,
    tag: &str,
) -> berth_registry_client::Digest {
    let rc = c.repository(repo, creds);
    for b in img.blobs() {
        let d = digest_bytes(b, None);
        let r = rc
            .push_blob(&d, b.len() as u64, BlobSource::bytes(b.to_vec()))
            .await
            .unwrap();
        assert_ne!(r, BlobPush::Exists, "fresh registry already had {d}");
    }
    rc.push_manifest(tag, MANIFEST_V2, img.manifest.clone().into())
        .await
        .unwrap()
}

#[tokio::test]
async fn push_then_pull_by_tag_and_digest() {
    if !have_registry() {
        return;
    }
    let reg = Registry::start(RegistryOpts::default());
    let c = client();
    let repo = Repository::new(&reg.domain(), "test/app");
    let img = TestImage::new("roundtrip");
    let pushed = push_image(&c, &repo, None, &img, "v1").await;
    assert_eq!(pushed, digest_bytes(&img.manifest, None));

    // Pull by tag through a parsed reference, as `docker pull` would.
    let r = Reference::parse_normalized(&format!("{}/test/app:v1", reg.domain())).unwrap();
    let got = c.resolve(&r, None).await.unwrap();
    assert_eq!(got.digest, pushed);
    assert_eq!(got.media_type, MANIFEST_V2);
    assert_eq!(&got.bytes[..], &img.manifest[..]);
    let m = got.manifest().unwrap();
    assert_eq!(m.layers.len(), 2);

    // By digest.
    let by_digest = c
        .resolve(&r.with_digest(pushed.clone()), None)
        .await
        .unwrap();
    assert_eq!(&by_digest.bytes[..], &img.manifest[..]);

    // HEAD gives the same digest and size.
    let rc = c.repository(&repo, None);
    let head = rc.head_manifest("v1").await.unwrap().unwrap();
    assert_eq!(head.digest, pushed);
    assert_eq!(head.size, img.manifest.len() as u64);
    assert!(rc.head_manifest("nope").await.unwrap().is_none());

    // Every blob comes back byte for byte.
    for (desc, bytes) in std::iter::once(&m.config)
        .chain(m.layers.iter())
        .zip(img.blobs())
    {
        let d: berth_registry_client::Digest = desc.digest.parse().unwrap();
        let reader = rc.fetch_blob(&d, Some(desc.size as u64)).await.unwrap();
        assert_eq!(read_all(reader).await.unwrap(), bytes);
        assert_eq!(rc.blob_exists(&d).await.unwrap(), Some(bytes.len() as u64));
    }

    // Pushing again finds everything there.
    let d = digest_bytes(&img.layers[1], None);
    let again = rc
        .push_blob(
            &d,
            img.layers[1].len() as u64,
            BlobSource::bytes(img.layers[1].clone()),
        )
        .await
        .unwrap();
    assert_eq!(again, BlobPush::Exists);

    // Tags and catalog.
    rc.push_manifest("v2", MANIFEST_V2, img.manifest.clone().into())
        .await
        .unwrap();
    let mut tags = rc.tags().await.unwrap();
    tags.sort();
    assert_eq!(tags, ["v1", "v2"]);
    assert_eq!(c.catalog(&reg.domain(), None).await.unwrap(), ["test/app"]);

    // The endpoint used is plain HTTP after HTTPS failed (127.0.0.1 is insecure).
    let ping = c.ping(&reg.domain()).await.unwrap();
    assert_eq!(ping.endpoint.base, format!("http://{}", reg.domain()));
}

#[tokio::test]
async fn chunked_upload_and_file_and_reader_sources() {
    if !have_registry() {
        return;
    }
    let reg = Registry::start(RegistryOpts::default());
    let c = Client::new(ClientConfig {
        monolithic_upload_max: 1000,
        upload_chunk_size: 64 * 1024,
        ..ClientConfig::default()
    })
    .unwrap();
    let repo = Repository::new(&reg.domain(), "chunky");
    let rc = c.repository(&repo, None);
    let img = TestImage::new("chunks");
    let big = &img.layers[1];
    assert!(big.len() > 3 * 64 * 1024, "layer too small to need chunks");
    let d = digest_bytes(big, None);
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), big).unwrap();
    let r = rc
        .push_blob(&d, big.len() as u64, BlobSource::file(f.path()))
        .await
        .unwrap();
    assert_eq!(r, BlobPush::Chunked);
    let back = read_all(rc.fetch_blob(&d, Some(big.len() as u64)).await.unwrap())
        .await
        .unwrap();
    assert_eq!(&back, big);

    // A small blob from a one-shot reader goes in one PUT.
    let small = b"tiny blob".to_vec();
    let ds = digest_bytes(&small, None);
    let r = rc
        .push_blob(
            &ds,
            small.len() as u64,
            BlobSource::reader(std::io::Cursor::new(small.clone())),
        )
        .await
        .unwrap();
    assert_eq!(r, BlobPush::Monolithic);

    // The empty blob.
    let de = digest_bytes(b"", None);
    rc.push_blob(&de, 0, BlobSource::bytes(Vec::new()))
        .await
        .unwrap();
    assert_eq!(rc.blob_exists(&de).await.unwrap(), Some(0));
}

#[tokio::test]
async fn wrong_digest_upload_is_refused_and_nothing_is_stored() {
    if !have_registry() {
        return;
    }
    let reg = Registry::start(RegistryOpts::default());
    for chunked in [false, true] {
        let c = Client::new(ClientConfig {
            monolithic_upload_max: if chunked { 10 } else { 64 << 20 },
            upload_chunk_size: 1024,
            ..ClientConfig::default()
        })
        .unwrap();
        let rc = c.repository(&Repository::new(&reg.domain(), "bad"), None);
        let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let claimed = digest_bytes(b"something else", None);
        let e = rc
            .push_blob(&claimed, data.len() as u64, BlobSource::bytes(data.clone()))
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::DigestMismatch { .. }),
            "chunked={chunked}: {e}"
        );
        assert_eq!(rc.blob_exists(&claimed).await.unwrap(), None);
        assert!(!reg.has_blob_data(&digest_bytes(&data, None)));

        // Declared size larger than the source.
        let good = digest_bytes(&data, None);
        let e = rc
            .push_blob(
                &good,
                data.len() as u64 + 10,
                BlobSource::bytes(data.clone()),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::SizeMismatch { .. }),
            "chunked={chunked}: {e}"
        );
        assert_eq!(rc.blob_exists(&good).await.unwrap(), None);
    }
}

#[tokio::test]
async fn resume_a_broken_download() {
    if !have_registry() {
        return;
    }
    let reg = Registry::start(RegistryOpts::default());
    let c = client();
    let repo = Repository::new(&reg.domain(), "resume/me");
    let img = TestImage::new("resume");
    push_image(&c, &repo, None, &img, "latest").await;
    let rc = c.repository(&repo, None);
    let blob = &img.layers[1];
    let d = digest_bytes(blob, None);
    let size = blob.len() as u64;

    // "Broken" after 70000 bytes: what was saved is hashed and the rest asked for.
    let cut = 70_000;
    let mut partial = BlobHasher::for_digest(&d);
    partial.update(&blob[..cut]);
    let reader = rc.resume_blob(&d, Some(size), partial).await.unwrap();
    let rest = read_all(reader).await.unwrap();
    assert_eq!(rest, &blob[cut..]);

    // A corrupt saved prefix is caught at the end.
    let mut wrong = BlobHasher::for_digest(&d);
    let mut bad = blob[..cut].to_vec();
    bad[10] ^= 0xff;
    wrong.update(&bad);
    let reader = rc.resume_blob(&d, Some(size), wrong).await.unwrap();
    let e = read_all(reader).await.unwrap_err();
    let inner = e.into_inner().unwrap().downcast::<Error>().unwrap();
    assert!(matches!(*inner, Error::DigestMismatch { .. }), "{inner}");

    // Everything already there: nothing is fetched, the digest is checked.
    let mut all = BlobHasher::for_digest(&d);
    all.update(blob);
    let reader = rc.resume_blob(&d, Some(size), all).await.unwrap();
    assert!(read_all(reader).await.unwrap().is_empty());

    // Offset beyond the size is refused.
    let mut over = BlobHasher::for_digest(&d);
    over.update(blob);
    over.update(b"x");
    assert!(rc.resume_blob(&d, Some(size), over).await.is_err());
}

#[tokio::test]
async fn cross_repository_mount() {
    if !have_registry() {
        return;
    }
    let reg = Registry::start(RegistryOpts::default());
    let c = client();
    let a = Repository::new(&reg.domain(), "team/a");
    let img = TestImage::new("mount");
    push_image(&c, &a, None, &img, "1").await;
    let b = c.repository(&Repository::new(&reg.domain(), "team/b"), None);
    let d = digest_bytes(&img.layers[0], None);
    assert_eq!(b.blob_exists(&d).await.unwrap(), None);
    assert!(b.mount_blob("team/a", &d).await.unwrap());
    assert_eq!(
        b.blob_exists(&d).await.unwrap(),
        Some(img.layers[0].len() as u64)
    );
    // A blob the source repository does not have is not mounted.
    let missing = digest_bytes(b"never pushed", None);
    assert!(!b.mount_blob("team/a", &missing).await.unwrap());
    assert_eq!(b.blob_exists(&missing).await.unwrap(), None);
}

#[tokio::test]
async fn not_found_errors_read_like_docker() {
    if !have_registry() {
        return;
    }
    let reg = Registry::start(RegistryOpts::default());
    let c = client();
    let repo = Repository::new(&reg.domain(), "known");
    push_image(&c, &repo, None, &TestImage::new("nf"), "v1").await;
    let rc = c.repository(&repo, None);
    let e = rc.fetch_manifest("nope").await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "manifest for {}/known:nope not found: manifest unknown: manifest unknown",
            reg.domain()
        )
    );
    assert_eq!(e.kind(), ErrorKind::NotFound);

    let unknown = c.repository(&Repository::new(&reg.domain(), "unknown/repo"), None);
    let e = unknown.fetch_manifest("latest").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    // distribution 2.8 answers MANIFEST_UNKNOWN for a repository it never saw.
    assert_eq!(
        e.to_string(),
        format!(
            "manifest for {}/unknown/repo:latest not found: manifest unknown: manifest unknown",
            reg.domain()
        )
    );

    let d = digest_bytes(b"no such blob", None);
    let e = rc.fetch_blob(&d, None).await.unwrap_err();
    assert!(matches!(e, Error::BlobUnknown { .. }), "{e}");

    // Bad references are refused before any request.
    let e = rc.fetch_manifest("sha256:abc").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidParameter);
    let e = rc.fetch_manifest("bad/tag").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidParameter);

    // Nothing listening: the error names the address and what to check.
    let port = common::free_port();
    let e = c
        .repository(&Repository::new(&format!("127.0.0.1:{port}"), "x"), None)
        .fetch_manifest("latest")
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
    assert!(msg.contains("connection refused"), "{msg}");
    assert_eq!(e.kind(), ErrorKind::Unavailable);
}

#[tokio::test]
async fn htpasswd_basic_auth() {
    if !have_registry() {
        return;
    }
    let reg = Registry::start(RegistryOpts {
        htpasswd: Some(("alice".into(), "s3cret".into())),
        ..RegistryOpts::default()
    });
    let c = client();
    let repo = Repository::new(&reg.domain(), "private/app");
    let good = Credentials::basic("alice", "s3cret");
    let img = TestImage::new("auth");
    let pushed = push_image(&c, &repo, Some(good.clone()), &img, "v1").await;

    let got = c
        .repository(&repo, Some(good.clone()))
        .fetch_manifest("v1")
        .await
        .unwrap();
    assert_eq!(got.digest, pushed);

    // Anonymous: Docker's "no basic auth credentials".
    let e = c
        .repository(&repo, None)
        .fetch_manifest("v1")
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "Get \"http://{}/v2/private/app/manifests/v1\": no basic auth credentials",
            reg.domain()
        )
    );
    assert_eq!(e.kind(), ErrorKind::Unauthorized);

    // Wrong password: unauthorized, and nothing can be pushed.
    let bad = Credentials::basic("alice", "wrong");
    let rc = c.repository(&repo, Some(bad.clone()));
    let e = rc.fetch_manifest("v1").await.unwrap_err();
    assert!(
        e.to_string()
            .ends_with("unauthorized: authentication required"),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    let blob = b"not allowed".to_vec();
    let d = digest_bytes(&blob, None);
    let e = rc
        .push_blob(&d, blob.len() as u64, BlobSource::bytes(blob))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    assert!(!reg.has_blob_data(&d));

    // docker login.
    let ok = c.login(&reg.domain(), &good).await.unwrap();
    assert_eq!(ok.status, "Login Succeeded");
    let e = c.login(&reg.domain(), &bad).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "login attempt to http://{}/v2/ failed with status: 401 Unauthorized",
            reg.domain()
        )
    );
}

#[tokio::test]
async fn tls_with_a_test_ca() {
    if !have_registry() {
        return;
    }
    let Some(certs) = common::make_certs() else {
        return;
    };
    let reg = Registry::start(RegistryOpts {
        tls: Some((certs.cert.clone(), certs.key.clone())),
        ..RegistryOpts::default()
    });
    let repo = Repository::new(&reg.domain(), "tls/app");

    // Verification on (loopback not insecure) without the CA: refused, with advice.
    let strict = Client::new(ClientConfig {
        loopback_insecure: false,
        ..ClientConfig::default()
    })
    .unwrap();
    let e = strict
        .repository(&repo, None)
        .fetch_manifest("v1")
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("failed to verify certificate"), "{msg}");
    assert!(msg.contains("insecure-registries"), "{msg}");

    // With the CA: a verified HTTPS push and pull.
    let trusted = Client::new(ClientConfig {
        loopback_insecure: false,
        ca_files: vec![certs.ca.clone()],
        ..ClientConfig::default()
    })
    .unwrap();
    let img = TestImage::new("tls");
    let pushed = push_image(&trusted, &repo, None, &img, "v1").await;
    let got = trusted
        .repository(&repo, None)
        .fetch_manifest("v1")
        .await
        .unwrap();
    assert_eq!(got.digest, pushed);
    let ping = trusted.ping(&reg.domain()).await.unwrap();
    assert_eq!(ping.endpoint.base, format!("https://{}", reg.domain()));

    // Insecure (default for 127.0.0.1): HTTPS without verification, no HTTP fallback needed.
    let insecure = client();
    let ping = insecure.ping(&reg.domain()).await.unwrap();
    assert_eq!(ping.endpoint.base, format!("https://{}", reg.domain()));
    assert!(ping.endpoint.skip_verify);
    let got = insecure
        .repository(&repo, None)
        .fetch_manifest("v1")
        .await
        .unwrap();
    assert_eq!(got.digest, pushed);
}

#[tokio::test]
async fn plain_http_registry_needs_insecure() {
    if !have_registry() {
        return;
    }
    let reg = Registry::start(RegistryOpts::default());
    let strict = Client::new(ClientConfig {
        loopback_insecure: false,
        ..ClientConfig::default()
    })
    .unwrap();
    let e = strict.ping(&reg.domain()).await.unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("server gave HTTP response to HTTPS client"),
        "{msg}"
    );
    assert!(msg.contains("insecure-registries"), "{msg}");
    // Listing it as insecure makes it work.
    let listed = Client::new(ClientConfig {
        loopback_insecure: false,
        insecure_registries: vec![reg.domain()],
        ..ClientConfig::default()
    })
    .unwrap();
    let ping = listed.ping(&reg.domain()).await.unwrap();
    assert_eq!(ping.endpoint.base, format!("http://{}", reg.domain()));
}
