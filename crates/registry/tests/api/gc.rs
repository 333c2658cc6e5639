//! Garbage collection against a running server: only unreferenced blobs
//! go, recent blobs and uploads in progress stay, dry runs change nothing.

use std::time::Duration;

use crate::common::*;
use berth_registry::manifest::OCI_MANIFEST;
use berth_registry::{gc, gc_with, GcOptions};

fn now_opts(dry_run: bool) -> GcOptions {
    GcOptions {
        dry_run,
        grace: Duration::ZERO,
        ..GcOptions::default()
    }
}

#[tokio::test]
async fn gc_removes_only_unreferenced_blobs() {
    let reg = Registry::start().await;
    let shared = data(1, 4000);
    let (_, a_digest, a_blobs) = reg
        .push_image("gc/a", "v1", &[shared.clone(), data(2, 3000)])
        .await;
    let (_, b_digest, b_blobs) = reg
        .push_image("gc/b", "v1", &[shared.clone(), data(3, 2000)])
        .await;
    let stray = reg.push_blob("gc/a", &data(4, 1000)).await;
    // An upload in progress.
    let loc = reg.start_upload("gc/a").await;
    assert_eq!(
        reg.req("PATCH", &loc, &[("content-range", "0-4")], &b"hello"[..])
            .await
            .status,
        202
    );
    // Delete image b.
    let r = reg
        .req("DELETE", &format!("/v2/gc/b/manifests/{b_digest}"), &[], ())
        .await;
    assert_eq!(r.status, 202);

    // Default grace: everything is recent, nothing goes.
    let root = reg.root.clone();
    let report = tokio::task::spawn_blocking(move || gc(&root, false))
        .await
        .unwrap()
        .unwrap();
    assert!(report.blobs_deleted.is_empty(), "{report:?}");
    let mut recent = vec![
        b_digest.clone(),
        b_blobs[0].clone(),
        b_blobs[2].clone(),
        stray.clone(),
    ];
    recent.sort();
    assert_eq!(report.blobs_kept_recent, recent);

    // Dry run without grace: reports, deletes nothing.
    let before = reg.blob_files();
    let root = reg.root.clone();
    let report = tokio::task::spawn_blocking(move || gc_with(&root, &now_opts(true)))
        .await
        .unwrap()
        .unwrap();
    assert!(report.dry_run);
    assert_eq!(report.blobs_deleted, recent);
    assert_eq!(reg.blob_files(), before);

    // The real thing.
    let root = reg.root.clone();
    let report = tokio::task::spawn_blocking(move || gc_with(&root, &now_opts(false)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.blobs_deleted, recent);
    assert!(report.bytes_freed > 2000 + 1000);
    // a's manifest, config, shared layer and own layer.
    assert_eq!(report.blobs_in_use, 4);
    assert!(report.uploads_removed.is_empty());
    assert_eq!(reg.blob_files().len(), 4);
    for d in [&b_blobs[2], &stray] {
        assert_eq!(reg.get(&format!("/v2/gc/b/blobs/{d}")).await.status, 404);
        assert_eq!(reg.get(&format!("/v2/gc/a/blobs/{d}")).await.status, 404);
    }
    // Image a pulls completely.
    assert_eq!(
        reg.get(&format!("/v2/gc/a/manifests/{a_digest}"))
            .await
            .status,
        200
    );
    for d in &a_blobs {
        assert_eq!(
            reg.get(&format!("/v2/gc/a/blobs/{d}")).await.status,
            200,
            "{d}"
        );
    }
    // The shared layer is still in b too (its link survives, its data is used by a).
    assert_eq!(
        reg.get(&format!("/v2/gc/b/blobs/{}", b_blobs[1]))
            .await
            .status,
        200
    );
    // The upload in progress is untouched and completes.
    let r = reg
        .req(
            "PUT",
            &with_query(&loc, &format!("digest={}", digest(b"hello"))),
            &[],
            (),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    // A deleted blob can be pushed again.
    reg.push_blob("gc/a", &data(4, 1000)).await;
    assert_eq!(
        reg.get(&format!("/v2/gc/a/blobs/{stray}")).await.status,
        200
    );
}

#[tokio::test]
async fn gc_untagged_manifests_and_stale_uploads() {
    let reg = Registry::start().await;
    let repo = "gc/untagged";
    reg.push_blob(repo, b"{}").await;
    let tagged = oci_manifest(serde_json::json!({"annotations": {"n": "1"}}));
    let untagged = oci_manifest(serde_json::json!({"annotations": {"n": "2"}}));
    let referrer = oci_manifest(serde_json::json!({
        "artifactType": "application/x-sig",
        "subject": {"mediaType": OCI_MANIFEST, "digest": digest(&tagged), "size": tagged.len()},
    }));
    assert_eq!(
        reg.put_manifest(repo, "keep", OCI_MANIFEST, &tagged)
            .await
            .status,
        201
    );
    for m in [&untagged, &referrer] {
        assert_eq!(
            reg.put_manifest(repo, &digest(m), OCI_MANIFEST, m)
                .await
                .status,
            201
        );
    }
    let _loc = reg.start_upload(repo).await;
    let root = reg.root.clone();
    let report = tokio::task::spawn_blocking(move || {
        gc_with(
            &root,
            &GcOptions {
                dry_run: false,
                delete_untagged: true,
                grace: Duration::ZERO,
                upload_max_age: Duration::ZERO,
            },
        )
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        report.manifests_deleted,
        vec![(repo.to_owned(), digest(&untagged))]
    );
    assert_eq!(report.blobs_deleted, vec![digest(&untagged)]);
    assert_eq!(report.uploads_removed.len(), 1);
    assert!(reg.upload_dirs().is_empty());
    assert_eq!(
        reg.get(&format!("/v2/{repo}/manifests/{}", digest(&untagged)))
            .await
            .status,
        404
    );
    assert_eq!(
        reg.get(&format!("/v2/{repo}/manifests/keep")).await.status,
        200
    );
    // The referrer of a tagged manifest is kept.
    assert_eq!(
        reg.get(&format!("/v2/{repo}/manifests/{}", digest(&referrer)))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn gc_on_a_missing_directory_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let e = gc(&dir.path().join("nope"), true).unwrap_err().to_string();
    assert!(e.contains("not a registry storage directory"), "{e}");
}
