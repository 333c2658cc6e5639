//! Pushing and pulling images, as Docker and OCI clients do: every upload
//! style, pull by tag and digest, ranges, mounts, indexes, tags and catalog
//! pagination, referrers and deletes.

use crate::common::*;
use berth_registry::manifest::{DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};

#[tokio::test]
async fn version_check() {
    let reg = Registry::start().await;
    let r = reg.get("/v2/").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );
    assert_eq!(r.json(), serde_json::json!({}));
    let r = reg.get("/v2").await;
    assert_eq!(r.status, 200);
    let r = reg.get("/nothing").await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn push_multi_layer_image_every_upload_style_and_pull_it_back() {
    let reg = Registry::start().await;
    let repo = "library/app";
    let layers = [
        data(1, 200_000),
        data(2, 100_000),
        data(3, 300_001),
        data(4, 150_000),
    ];
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}"#;
    let cd = reg.push_blob(repo, config).await;
    let d0 = reg.push_blob(repo, &layers[0]).await;
    let d1 = reg.push_blob_post_put(repo, &layers[1]).await;
    let d2 = reg.push_blob_chunked(repo, &layers[2], 65_536).await;
    let d3 = reg.push_blob_streamed(repo, &layers[3]).await;
    let descs = [&d0, &d1, &d2, &d3]
        .iter()
        .zip(&layers)
        .map(|(d, l)| {
            serde_json::json!({"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": l.len(), "digest": d})
        })
        .collect();
    let manifest = docker_manifest(&cd, config.len(), descs);
    let md = digest(&manifest);
    let r = reg
        .put_manifest(repo, "v1", DOCKER_MANIFEST, &manifest)
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.header("location"),
        Some(format!("/v2/{repo}/manifests/{md}").as_str())
    );
    assert_eq!(r.header("docker-content-digest"), Some(md.as_str()));
    assert!(r.header("oci-subject").is_none());
    assert!(
        reg.upload_dirs().is_empty(),
        "staging left behind: {:?}",
        reg.upload_dirs()
    );

    // Pull by tag and by digest: same bytes, type and digest.
    for reference in ["v1", md.as_str()] {
        let r = reg
            .req(
                "GET",
                &format!("/v2/{repo}/manifests/{reference}"),
                &[("accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")],
                (),
            )
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(&r.body[..], &manifest[..]);
        assert_eq!(r.header("content-type"), Some(DOCKER_MANIFEST));
        assert_eq!(r.header("docker-content-digest"), Some(md.as_str()));
        let h = reg
            .req(
                "HEAD",
                &format!("/v2/{repo}/manifests/{reference}"),
                &[],
                (),
            )
            .await;
        assert_eq!(h.status, 200);
        assert!(h.body.is_empty());
        assert_eq!(
            h.header("content-length"),
            Some(manifest.len().to_string().as_str())
        );
        assert_eq!(h.header("docker-content-digest"), Some(md.as_str()));
    }
    // Conditional GET.
    let r = reg
        .req(
            "GET",
            &format!("/v2/{repo}/manifests/v1"),
            &[("if-none-match", &format!("\"{md}\""))],
            (),
        )
        .await;
    assert_eq!(r.status, 304);

    // Every blob comes back intact.
    for (d, content) in [(&cd, &config[..])].into_iter().chain([
        (&d0, &layers[0][..]),
        (&d1, &layers[1][..]),
        (&d2, &layers[2][..]),
        (&d3, &layers[3][..]),
    ]) {
        let r = reg.get(&format!("/v2/{repo}/blobs/{d}")).await;
        assert_eq!(r.status, 200);
        assert_eq!(&r.body[..], content);
        assert_eq!(r.header("docker-content-digest"), Some(d.as_str()));
        let h = reg
            .req("HEAD", &format!("/v2/{repo}/blobs/{d}"), &[], ())
            .await;
        assert_eq!(h.status, 200);
        assert_eq!(
            h.header("content-length"),
            Some(content.len().to_string().as_str())
        );
        assert!(h.body.is_empty());
    }

    // Range requests.
    let path = format!("/v2/{repo}/blobs/{d2}");
    let r = reg
        .req("GET", &path, &[("range", "bytes=1000-1999")], ())
        .await;
    assert_eq!(r.status, 206);
    assert_eq!(&r.body[..], &layers[2][1000..2000]);
    assert_eq!(r.header("content-range"), Some("bytes 1000-1999/300001"));
    let r = reg.req("GET", &path, &[("range", "bytes=-10")], ()).await;
    assert_eq!(r.status, 206);
    assert_eq!(&r.body[..], &layers[2][300_001 - 10..]);
    let r = reg
        .req("GET", &path, &[("range", "bytes=300000-")], ())
        .await;
    assert_eq!(r.status, 206);
    assert_eq!(&r.body[..], &layers[2][300_000..]);
    let r = reg
        .req("GET", &path, &[("range", "bytes=400000-")], ())
        .await;
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */300001"));

    // A blob is only visible in the repositories it was pushed to.
    let r = reg.get(&format!("/v2/other/blobs/{d0}")).await;
    r.assert_error(404, "BLOB_UNKNOWN");
    let r = reg.get(&format!("/v2/{repo}/manifests/nope")).await;
    r.assert_error(404, "MANIFEST_UNKNOWN");
}

#[tokio::test]
async fn cross_repository_mount() {
    let reg = Registry::start().await;
    let content = data(9, 50_000);
    let d = reg.push_blob("src/app", &content).await;
    let r = reg
        .req(
            "POST",
            &format!("/v2/dst/app/blobs/uploads/?mount={d}&from=src/app"),
            &[],
            (),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        r.header("location"),
        Some(format!("/v2/dst/app/blobs/{d}").as_str())
    );
    assert_eq!(r.header("docker-content-digest"), Some(d.as_str()));
    let r = reg.get(&format!("/v2/dst/app/blobs/{d}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], &content[..]);
    // Only one copy is stored.
    assert_eq!(reg.blob_files().len(), 1);

    // Not in the source repository: a new upload session instead.
    let other = data(10, 1000);
    let od = digest(&other);
    let r = reg
        .req(
            "POST",
            &format!("/v2/dst/app/blobs/uploads/?mount={od}&from=src/app"),
            &[],
            (),
        )
        .await;
    assert_eq!(r.status, 202);
    assert!(r.header("docker-upload-uuid").is_some());
    let loc = r.header("location").unwrap().to_owned();
    let r = reg
        .req(
            "PUT",
            &with_query(&loc, &format!("digest={od}")),
            &[],
            &other,
        )
        .await;
    assert_eq!(r.status, 201);
    let r = reg.get(&format!("/v2/dst/app/blobs/{od}")).await;
    assert_eq!(&r.body[..], &other[..]);
}

#[tokio::test]
async fn oci_index_with_children() {
    let reg = Registry::start().await;
    let repo = "multi/arch";
    reg.push_blob(repo, b"{}").await;
    let mut children = Vec::new();
    for arch in ["amd64", "arm64"] {
        let m = oci_manifest(serde_json::json!({"annotations": {"arch": arch}}));
        let d = digest(&m);
        let r = reg.put_manifest(repo, &d, OCI_MANIFEST, &m).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        children.push(
            serde_json::json!({"mediaType": OCI_MANIFEST, "digest": d, "size": m.len(),
            "platform": {"os": "linux", "architecture": arch}}),
        );
    }
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children,
    }))
    .unwrap();
    let r = reg.put_manifest(repo, "latest", OCI_INDEX, &index).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let r = reg.get(&format!("/v2/{repo}/manifests/latest")).await;
    assert_eq!(r.header("content-type"), Some(OCI_INDEX));
    assert_eq!(&r.body[..], &index[..]);

    // An index whose child is not in the repository is refused.
    let missing = format!("sha256:{}", "1".repeat(64));
    let bad = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": missing, "size": 10}],
    }))
    .unwrap();
    let r = reg.put_manifest(repo, "broken", OCI_INDEX, &bad).await;
    r.assert_error(400, "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(r.json()["errors"][0]["detail"]["digest"], missing);
    reg.get(&format!("/v2/{repo}/manifests/broken"))
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
}

#[tokio::test]
async fn tags_pagination() {
    let reg = Registry::start().await;
    let repo = "paged";
    reg.push_blob(repo, b"{}").await;
    let m = oci_manifest(serde_json::json!({}));
    let md = digest(&m);
    // Several tags in one push (?tag=), the rest one by one.
    let r = reg
        .req(
            "PUT",
            &format!("/v2/{repo}/manifests/{md}?tag=t1&tag=t2&tag=t3"),
            &[("content-type", OCI_MANIFEST)],
            &m,
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.header("oci-tag"), Some("t1, t2, t3"));
    for t in ["t5", "t4"] {
        assert_eq!(
            reg.put_manifest(repo, t, OCI_MANIFEST, &m).await.status,
            201
        );
    }
    let all = reg.get(&format!("/v2/{repo}/tags/list")).await;
    assert_eq!(
        all.json(),
        serde_json::json!({"name": repo, "tags": ["t1", "t2", "t3", "t4", "t5"]})
    );
    assert!(all.header("link").is_none());

    let mut seen = Vec::new();
    let mut url = format!("/v2/{repo}/tags/list?n=2");
    let mut pages = 0;
    loop {
        let r = reg.get(&url).await;
        assert_eq!(r.status, 200);
        let tags: Vec<String> = serde_json::from_value(r.json()["tags"].clone()).unwrap();
        assert!(tags.len() <= 2);
        seen.extend(tags);
        pages += 1;
        match r.header("link") {
            Some(l) => {
                url = l
                    .strip_prefix('<')
                    .and_then(|l| l.split_once('>'))
                    .map(|(u, rest)| {
                        assert_eq!(rest, "; rel=\"next\"");
                        u.to_owned()
                    })
                    .unwrap();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ["t1", "t2", "t3", "t4", "t5"]);
    let r = reg.get(&format!("/v2/{repo}/tags/list?n=2&last=t3")).await;
    assert_eq!(r.json()["tags"], serde_json::json!(["t4", "t5"]));
    let r = reg.get(&format!("/v2/{repo}/tags/list?n=0")).await;
    assert_eq!(r.json()["tags"], serde_json::json!([]));
    assert!(r.header("link").is_none());
    reg.get(&format!("/v2/{repo}/tags/list?n=x"))
        .await
        .assert_error(400, "PAGINATION_NUMBER_INVALID");
    reg.get("/v2/unknown/repo/tags/list")
        .await
        .assert_error(404, "NAME_UNKNOWN");
}

#[tokio::test]
async fn catalog_pagination() {
    let reg = Registry::start().await;
    for repo in ["zeta", "alpha/one", "alpha/two", "beta", "alpha"] {
        reg.push_blob(repo, repo.as_bytes()).await;
    }
    let r = reg.get("/v2/_catalog").await;
    assert_eq!(
        r.json()["repositories"],
        serde_json::json!(["alpha", "alpha/one", "alpha/two", "beta", "zeta"])
    );
    let r = reg.get("/v2/_catalog?n=2").await;
    assert_eq!(
        r.json()["repositories"],
        serde_json::json!(["alpha", "alpha/one"])
    );
    assert_eq!(
        r.header("link"),
        Some("</v2/_catalog?last=alpha%2Fone&n=2>; rel=\"next\"")
    );
    let r = reg.get("/v2/_catalog?last=alpha%2Fone&n=2").await;
    assert_eq!(
        r.json()["repositories"],
        serde_json::json!(["alpha/two", "beta"])
    );
    let r = reg.get("/v2/_catalog?last=beta&n=2").await;
    assert_eq!(r.json()["repositories"], serde_json::json!(["zeta"]));
    assert!(r.header("link").is_none());
}

#[tokio::test]
async fn v1_search_matches_names_containing_the_term() {
    let reg = Registry::start().await;
    for repo in ["alumno/busybox", "alumno/alpine", "profe/busybox", "other"] {
        reg.push_blob(repo, repo.as_bytes()).await;
    }
    let r = reg.get("/v1/search?q=alumno&n=25").await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["query"], "alumno");
    assert_eq!(v["num_results"], 2);
    let names: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alumno/alpine", "alumno/busybox"]);
    assert_eq!(
        v["results"][0],
        serde_json::json!({"name": "alumno/alpine", "description": "", "star_count": 0,
            "is_official": false, "is_automated": false})
    );
    // Case-insensitive; `n` caps the results but not the count.
    let v = reg.get("/v1/search?q=BUSYBOX&n=1").await.json();
    assert_eq!(v["num_results"], 2);
    assert_eq!(v["results"].as_array().unwrap().len(), 1);
    let v = reg.get("/v1/search?q=nothing").await.json();
    assert_eq!(v["results"], serde_json::json!([]));
    reg.get("/v1/search?q=x&n=abc")
        .await
        .assert_error(400, "PAGINATION_NUMBER_INVALID");
}

#[tokio::test]
async fn referrers_api() {
    let reg = Registry::start().await;
    let repo = "signed/app";
    reg.push_blob(repo, b"{}").await;
    let subject = oci_manifest(serde_json::json!({}));
    let sd = digest(&subject);
    assert_eq!(
        reg.put_manifest(repo, "v1", OCI_MANIFEST, &subject)
            .await
            .status,
        201
    );
    let subject_desc =
        serde_json::json!({"mediaType": OCI_MANIFEST, "digest": sd, "size": subject.len()});
    let sbom = oci_manifest(serde_json::json!({
        "artifactType": "application/vnd.example.sbom.v1",
        "subject": subject_desc,
        "annotations": {"org.example.format": "json"},
    }));
    let sig = oci_manifest(serde_json::json!({
        "artifactType": "application/vnd.example.signature.v1",
        "subject": subject_desc,
    }));
    let mut digests = Vec::new();
    for m in [&sbom, &sig] {
        let d = digest(m);
        let r = reg.put_manifest(repo, &d, OCI_MANIFEST, m).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.header("oci-subject"), Some(sd.as_str()));
        digests.push(d);
    }
    let r = reg.get(&format!("/v2/{repo}/referrers/{sd}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some(OCI_INDEX));
    let v = r.json();
    assert_eq!(v["mediaType"], OCI_INDEX);
    assert_eq!(v["schemaVersion"], 2);
    let list = v["manifests"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let sbom_desc = list.iter().find(|d| d["digest"] == digests[0]).unwrap();
    assert_eq!(sbom_desc["artifactType"], "application/vnd.example.sbom.v1");
    assert_eq!(sbom_desc["annotations"]["org.example.format"], "json");
    assert_eq!(sbom_desc["size"], sbom.len());
    assert_eq!(sbom_desc["mediaType"], OCI_MANIFEST);

    let r = reg
        .get(&format!(
            "/v2/{repo}/referrers/{sd}?artifactType=application/vnd.example.signature.v1"
        ))
        .await;
    assert_eq!(r.header("oci-filters-applied"), Some("artifactType"));
    let list = r.json()["manifests"].as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["digest"], digests[1]);

    // No referrers: an empty index, never 404.
    let r = reg
        .get(&format!("/v2/{repo}/referrers/sha256:{}", "0".repeat(64)))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["manifests"], serde_json::json!([]));
    reg.get(&format!("/v2/{repo}/referrers/sha256:xyz"))
        .await
        .assert_error(400, "DIGEST_INVALID");

    // Deleting a referrer removes it from the list.
    let r = reg
        .req(
            "DELETE",
            &format!("/v2/{repo}/manifests/{}", digests[0]),
            &[],
            (),
        )
        .await;
    assert_eq!(r.status, 202);
    let r = reg.get(&format!("/v2/{repo}/referrers/{sd}")).await;
    assert_eq!(r.json()["manifests"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn deletes() {
    let reg = Registry::start().await;
    let repo = "del/app";
    let (_, md, blobs) = reg.push_image(repo, "v1", &[data(1, 1000)]).await;
    let m = reg.get(&format!("/v2/{repo}/manifests/v1")).await.body;
    assert_eq!(
        reg.put_manifest(repo, "v2", DOCKER_MANIFEST, &m)
            .await
            .status,
        201
    );

    // Tag delete keeps the manifest.
    let r = reg
        .req("DELETE", &format!("/v2/{repo}/manifests/v1"), &[], ())
        .await;
    assert_eq!(r.status, 202);
    reg.get(&format!("/v2/{repo}/manifests/v1"))
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
    assert_eq!(
        reg.get(&format!("/v2/{repo}/manifests/{md}")).await.status,
        200
    );
    reg.req("DELETE", &format!("/v2/{repo}/manifests/v1"), &[], ())
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");

    // Digest delete takes the remaining tags with it.
    let r = reg
        .req("DELETE", &format!("/v2/{repo}/manifests/{md}"), &[], ())
        .await;
    assert_eq!(r.status, 202);
    reg.get(&format!("/v2/{repo}/manifests/{md}"))
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
    reg.get(&format!("/v2/{repo}/manifests/v2"))
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
    assert_eq!(
        reg.get(&format!("/v2/{repo}/tags/list")).await.json()["tags"],
        serde_json::json!([])
    );

    // Blob delete.
    let r = reg
        .req("DELETE", &format!("/v2/{repo}/blobs/{}", blobs[1]), &[], ())
        .await;
    assert_eq!(r.status, 202);
    reg.get(&format!("/v2/{repo}/blobs/{}", blobs[1]))
        .await
        .assert_error(404, "BLOB_UNKNOWN");
    reg.req("DELETE", &format!("/v2/{repo}/blobs/{}", blobs[1]), &[], ())
        .await
        .assert_error(404, "BLOB_UNKNOWN");
}

#[tokio::test]
async fn deletes_can_be_disabled() {
    let reg = Registry::start_with(|c, _| c.delete_enabled = false).await;
    let (_, md, blobs) = reg.push_image("nodel", "v1", &[data(1, 10)]).await;
    for path in [
        format!("/v2/nodel/manifests/{md}"),
        "/v2/nodel/manifests/v1".to_owned(),
        format!("/v2/nodel/blobs/{}", blobs[0]),
    ] {
        reg.req("DELETE", &path, &[], ())
            .await
            .assert_error(405, "UNSUPPORTED");
    }
    assert_eq!(reg.get("/v2/nodel/manifests/v1").await.status, 200);
}

#[tokio::test]
async fn upload_cancel_and_status() {
    let reg = Registry::start().await;
    let loc = reg.start_upload("cancel/me").await;
    let r = reg
        .req("PATCH", &loc, &[("content-range", "0-4")], &b"hello"[..])
        .await;
    assert_eq!(r.status, 202);
    let r = reg.get(&loc).await;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("range"), Some("0-4"));
    let r = reg.req("DELETE", &loc, &[], ()).await;
    assert_eq!(r.status, 204);
    assert!(reg.upload_dirs().is_empty());
    reg.get(&loc).await.assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    reg.req("DELETE", &loc, &[], ())
        .await
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    // An upload of one repository is unknown to another.
    let loc = reg.start_upload("cancel/me").await;
    let other = loc.replace("cancel/me", "cancel/you");
    reg.get(&other)
        .await
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
}

#[tokio::test]
async fn sha512_blobs() {
    let reg = Registry::start().await;
    let content = data(7, 5000);
    let d = berth_registry::hash::digest_bytes("sha512", &content)
        .unwrap()
        .to_string();
    let r = reg
        .req(
            "POST",
            "/v2/algo/blobs/uploads/?digest-algorithm=sha512",
            &[],
            (),
        )
        .await;
    assert_eq!(r.status, 202);
    let loc = r.header("location").unwrap().to_owned();
    let r = reg.req("PATCH", &loc, &[], &content).await;
    assert_eq!(r.status, 202);
    let r = reg
        .req("PUT", &with_query(&loc, &format!("digest={d}")), &[], ())
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let r = reg.get(&format!("/v2/algo/blobs/{d}")).await;
    assert_eq!(&r.body[..], &content[..]);
    reg.req(
        "POST",
        "/v2/algo/blobs/uploads/?digest-algorithm=md5",
        &[],
        (),
    )
    .await
    .assert_error(400, "DIGEST_INVALID");
}

#[tokio::test]
async fn restart_keeps_images_and_uploads() {
    let reg = Registry::start().await;
    let (manifest, md, blobs) = reg.push_image("keep/app", "v1", &[data(1, 30_000)]).await;
    let content = data(2, 20_000);
    let loc = reg.start_upload("keep/app").await;
    let r = reg
        .req(
            "PATCH",
            &loc,
            &[("content-range", "0-9999")],
            &content[..10_000],
        )
        .await;
    assert_eq!(r.status, 202);

    let reg = reg.restart().await;
    let r = reg.get("/v2/keep/app/manifests/v1").await;
    assert_eq!(&r.body[..], &manifest[..]);
    assert_eq!(r.header("docker-content-digest"), Some(md.as_str()));
    for d in &blobs {
        assert_eq!(
            reg.get(&format!("/v2/keep/app/blobs/{d}")).await.status,
            200
        );
    }
    // The upload resumes where it was (hash state restored from disk).
    assert_eq!(reg.get(&loc).await.header("range"), Some("0-9999"));
    let r = reg
        .req(
            "PATCH",
            &loc,
            &[("content-range", "10000-19999")],
            &content[10_000..],
        )
        .await;
    assert_eq!(r.status, 202);
    let d = digest(&content);
    let r = reg
        .req("PUT", &with_query(&loc, &format!("digest={d}")), &[], ())
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        &reg.get(&format!("/v2/keep/app/blobs/{d}")).await.body[..],
        &content[..]
    );
}
