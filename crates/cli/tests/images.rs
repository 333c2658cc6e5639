//! Images, as the seminar's labs 1–4 use them: import, tag, inspect, save,
//! rmi, load, history, prune; archives in every format; bad input refused
//! without leaving anything behind; crash safety.

mod common;

use std::io::Read;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

#[test]
fn lab_round_trip_with_docker_cli() {
    let d = Daemon::start();
    let tar = busybox_tar();
    let out = ok(&d.docker(&[
        "import",
        "-c",
        "EXPOSE 80",
        "-c",
        r#"CMD ["sh"]"#,
        tar.to_str().unwrap(),
        "mynginx:1.0",
    ]));
    let id = out.trim().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{out}");
    // Lab 2: a second tag is the same image.
    ok(&d.docker(&["image", "tag", "mynginx:1.0", "mynginx:2.0"]));
    let ls = ok(&d.docker(&["image", "ls"]));
    let lines: Vec<&str> = ls.lines().collect();
    assert!(
        lines[0].starts_with("REPOSITORY   TAG       IMAGE ID       CREATED"),
        "{ls}"
    );
    assert_eq!(lines.len(), 3, "{ls}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("REPOSITORY") || l.contains(&id[7..19])),
        "{ls}"
    );
    // Lab 4: inspect with a Go template.
    let out = ok(&d.docker(&[
        "image",
        "inspect",
        "--format",
        "{{.Config.ExposedPorts}}",
        "mynginx:2.0",
    ]));
    assert_eq!(out.trim(), "map[80/tcp:{}]");
    let out = ok(&d.docker(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}} {{.Os}} {{json .Config.Cmd}} {{len .RootFS.Layers}}",
        "mynginx:1.0",
    ]));
    assert_eq!(out.trim(), format!("{id} linux [\"sh\"] 1"));
    // Lab 3: removing one of two tags only untags.
    let out = ok(&d.docker(&["image", "rm", "mynginx:2.0"]));
    assert_eq!(out.trim(), "Untagged: mynginx:2.0");
    // Save, remove, load: the same image comes back.
    let archive = d.dir.path().join("saved.tar");
    ok(&d.docker(&["save", "-o", archive.to_str().unwrap(), "mynginx:1.0"]));
    let out = ok(&d.docker(&["rmi", "mynginx:1.0"]));
    assert!(
        out.contains("Untagged: mynginx:1.0") && out.contains(&format!("Deleted: {id}")),
        "{out}"
    );
    assert_eq!(ok(&d.docker(&["images", "-q"])).trim(), "");
    assert_eq!(
        d.stored_files().0,
        0,
        "no blob may remain after the last image is gone"
    );
    assert_eq!(
        d.stored_files().1,
        0,
        "no layer may remain after the last image is gone"
    );
    let out = ok(&d.docker(&["load", "-i", archive.to_str().unwrap()]));
    assert!(out.contains("Loaded image: mynginx:1.0"), "{out}");
    let out = ok(&d.docker(&["image", "inspect", "--format", "{{.Id}}", "mynginx:1.0"]));
    assert_eq!(out.trim(), id);
    // The loaded image's files are really there, unpacked.
    let layer = ok(&d.docker(&[
        "image",
        "inspect",
        "--format",
        "{{.GraphDriver.Data.UpperDir}}",
        "mynginx:1.0",
    ]));
    let busybox = std::path::Path::new(layer.trim()).join("bin/busybox");
    assert!(busybox.is_file(), "{}", busybox.display());
    assert_eq!(
        std::fs::read_link(std::path::Path::new(layer.trim()).join("bin/sh"))
            .unwrap()
            .to_str(),
        Some("busybox")
    );
    // `docker save` to stdout, loaded by the berth CLI from stdin.
    let saved = d.docker(&["save", "mynginx:1.0"]);
    ok(&saved);
    ok(&d.berth(&["rmi", "mynginx:1.0"]));
    let out = ok(&d.berth_stdin(&["load"], &saved.stdout));
    assert_eq!(out.trim(), "Loaded image: mynginx:1.0");
}

#[test]
fn berth_cli_lists_and_formats() {
    let d = Daemon::start();
    let a = d.import_busybox("alpha:1", &["LABEL tier=front", "ENV A=1"]);
    let b = d.import_busybox("localhost:5000/team/beta:2", &["LABEL tier=back"]);
    let out = ok(&d.berth(&["images"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    // The first columns have fixed contents; CREATED is as wide as its
    // longest value ("Less than a second ago" or "2 seconds ago"), so the
    // check there is that SIZE lines up with every row's size.
    assert!(
        lines[0].starts_with("REPOSITORY                 TAG       IMAGE ID       CREATED   "),
        "{out}"
    );
    let size_at = lines[0].find("SIZE").expect("a SIZE column");
    for row in &lines[1..] {
        let last = row.rfind("  ").map(|i| i + 2);
        assert_eq!(
            last,
            Some(size_at),
            "SIZE is not aligned with its values:\n{out}"
        );
        assert!(
            row[size_at..].ends_with("MB") || row[size_at..].ends_with("kB"),
            "{out}"
        );
    }
    let out = ok(&d.berth(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]));
    let mut got: Vec<&str> = out.lines().collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            format!("alpha:1 {}", &a[7..19]),
            format!("localhost:5000/team/beta:2 {}", &b[7..19])
        ]
    );
    let out = ok(&d.berth(&["images", "-q", "--no-trunc", "--filter", "label=tier=front"]));
    assert_eq!(out.trim(), a);
    let out = ok(&d.berth(&["images", "--format", "{{.Repository}}", "alpha"]));
    assert_eq!(out.trim(), "alpha");
    let out = ok(&d.berth(&[
        "image",
        "ls",
        "--filter",
        "reference=*/team/*",
        "--format",
        "{{.Tag}}",
    ]));
    assert_eq!(out.trim(), "2");
    let out = ok(&d.berth(&["images", "--format", "json"]));
    let v: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert!(v["ID"].is_string() && v["Repository"].is_string());
    let out = ok(&d.berth(&[
        "images",
        "--digests",
        "--format",
        "table {{.Repository}}\t{{.Digest}}",
    ]));
    assert!(out.starts_with("REPOSITORY"), "{out}");
    // Inspect through berth: docker's JSON with 4-space indent, and templates.
    let out = ok(&d.berth(&["image", "inspect", "alpha:1"]));
    assert!(out.starts_with("[\n    {\n        \"Id\": "), "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["Config"]["Env"], json!(["A=1"]));
    assert_eq!(v[0]["Config"]["Labels"], json!({"tier": "front"}));
    assert_eq!(v[0]["RepoTags"], json!(["alpha:1"]));
    assert_eq!(v[0]["Architecture"], "amd64");
    let out = ok(&d.berth(&[
        "inspect",
        "-f",
        "{{index .Config.Labels \"tier\"}}",
        "alpha:1",
        "localhost:5000/team/beta:2",
    ]));
    assert_eq!(out, "front\nback\n");
    let out = d.berth(&["inspect", "alpha:1", "nope"]);
    let err = fails(&out);
    assert!(err.contains("Error: No such object: nope"), "{err}");
    // History.
    let out = ok(&d.berth(&["history", "alpha:1"]));
    assert!(out.starts_with("IMAGE          CREATED"), "{out}");
    assert!(
        out.contains(&a[7..19]) && out.contains("Imported from -"),
        "{out}"
    );
    let out = ok(&d.berth(&["history", "-q", "--no-trunc", "alpha:1"]));
    assert_eq!(out.trim(), a);
    // system df counts them.
    let out = ok(&d.berth(&["system", "df", "--format", "{{.Type}} {{.TotalCount}}"]));
    assert!(out.contains("Images 2"), "{out}");
}

#[test]
fn rmi_rules_and_prune() {
    let d = Daemon::start();
    let id = d.import_busybox("one:1", &[]);
    ok(&d.berth(&["tag", "one:1", "two:1"]));
    // An ID naming an image with several tags needs -f.
    let err = fails(&d.docker(&["rmi", &id[7..19]]));
    assert!(
        err.contains(&format!("conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories", &id[7..19])),
        "{err}"
    );
    let err = fails(&d.berth(&["rmi", "nothere:1"]));
    assert!(
        err.contains("Error response from daemon: No such image: nothere:1"),
        "{err}"
    );
    let out = ok(&d.berth(&["rmi", "-f", &id[7..19]]));
    assert!(
        out.contains("Untagged: one:1")
            && out.contains("Untagged: two:1")
            && out.contains(&format!("Deleted: {id}")),
        "{out}"
    );
    // Prune: an image left without tags is dangling.
    let old = d.import_busybox("p:1", &["ENV V=1"]);
    let new = d.import_busybox("p:1", &["ENV V=2"]);
    assert_ne!(old, new);
    let out = ok(&d.berth(&["images", "--filter", "dangling=true", "-q", "--no-trunc"]));
    assert_eq!(out.trim(), old);
    let out = ok(&d.berth(&["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    assert!(out.contains("<none>:<none>"), "{out}");
    let out = ok(&d.berth(&["image", "prune", "-f"]));
    assert!(out.contains(&format!("deleted: {old}")), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert_eq!(ok(&d.berth(&["images", "-q", "--no-trunc"])).trim(), new);
    let out = ok(&d.docker(&["image", "prune", "-a", "-f"]));
    assert!(out.contains(&format!("deleted: {new}")), "{out}");
    assert_eq!(ok(&d.berth(&["images", "-q"])).trim(), "");
    assert_eq!(d.stored_files(), (0, 0, 0));
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `before`/`since` list filters and `prune -a` with `until` and labels,
/// through both CLIs (creation times are whole seconds: images a second
/// apart).
#[test]
fn time_and_label_filters_list_and_prune() {
    let d = Daemon::start();
    let old = d.import_busybox("old:1", &["LABEL keep=no"]);
    std::thread::sleep(Duration::from_millis(1100));
    let mid = d.import_busybox("mid:1", &["LABEL keep=yes"]);
    let cut = now_secs();
    std::thread::sleep(Duration::from_millis(1100));
    let new = d.import_busybox("new:1", &["LABEL keep=no"]);
    let ids = |out: String| {
        let mut v: Vec<String> = out.lines().map(String::from).collect();
        v.sort();
        v
    };
    for (who, out) in [
        (
            "berth",
            d.berth(&["images", "-q", "--no-trunc", "--filter", "before=mid:1"]),
        ),
        (
            "docker",
            d.docker(&["images", "-q", "--no-trunc", "--filter", "before=mid:1"]),
        ),
    ] {
        assert_eq!(ids(ok(&out)), vec![old.clone()], "{who} before=");
    }
    for (who, out) in [
        (
            "berth",
            d.berth(&["images", "-q", "--no-trunc", "--filter", "since=mid:1"]),
        ),
        (
            "docker",
            d.docker(&["images", "-q", "--no-trunc", "--filter", "since=mid:1"]),
        ),
    ] {
        assert_eq!(ids(ok(&out)), vec![new.clone()], "{who} since=");
    }
    let err = fails(&d.berth(&["images", "--filter", "before=ghost:1"]));
    assert!(err.contains("No such image: ghost:1"), "{err}");
    // prune -a keeps what the filters spare: newer than `until`, or
    // labelled keep=yes.
    let until = format!("until={cut}");
    let out = ok(&d.docker(&["image", "prune", "-a", "-f", "--filter", &until]));
    assert!(out.contains(&format!("deleted: {old}")), "{out}");
    assert!(!out.contains(&new) && !out.contains(&mid), "{out}");
    let out = ok(&d.berth(&["image", "prune", "-a", "-f", "--filter", "label!=keep=yes"]));
    assert!(out.contains(&format!("deleted: {new}")), "{out}");
    assert_eq!(
        ids(ok(&d.berth(&["images", "-q", "--no-trunc"]))),
        vec![mid.clone()]
    );
    let err = fails(&d.berth(&["image", "prune", "-a", "-f", "--filter", "until=soon"]));
    assert!(err.contains("invalid filter 'until=soon'"), "{err}");
    assert_eq!(
        ids(ok(&d.berth(&["images", "-q", "--no-trunc"]))),
        vec![mid]
    );
}

#[test]
fn references_are_checked() {
    let d = Daemon::start();
    d.import_busybox("ok:1", &[]);
    let err = fails(&d.berth(&["tag", "ok:1", "Busybox:latest"]));
    assert!(
        err.contains(
            "invalid reference format: repository name (library/Busybox) must be lowercase"
        ),
        "{err}"
    );
    let err = fails(&d.berth(&["tag", "ok:1", "a:b:c"]));
    assert!(err.contains("invalid reference format"), "{err}");
    let err = fails(&d.docker(&["import", busybox_tar().to_str().unwrap(), "UPPER"]));
    assert!(err.contains("must be lowercase"), "{err}");
    // Nothing was created by the failed import.
    assert_eq!(ok(&d.berth(&["images", "-q"])).lines().count(), 1);
    // Full normalisation: docker.io/library/ok:1 is ok:1.
    let out = ok(&d.berth(&["inspect", "-f", "{{.RepoTags}}", "docker.io/library/ok:1"]));
    assert_eq!(out.trim(), "[ok:1]");
}

/// A tar with one entry whose header is written by hand (for names
/// tar::Builder refuses to write).
fn raw_tar(name: &str, kind: tar::EntryType, link: &str, data: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    {
        let gnu = h.as_gnu_mut().expect("gnu header");
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    if kind == tar::EntryType::Char {
        h.set_device_major(8).unwrap();
        h.set_device_minor(0).unwrap();
    }
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

#[test]
fn hostile_tarballs_are_refused_and_leave_nothing() {
    let d = Daemon::start();
    let before = d.stored_files();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dotdot",
            raw_tar("../../evil", tar::EntryType::Regular, "", b"x"),
            "path escapes the layer root",
        ),
        (
            "symlink",
            raw_tar("link", tar::EntryType::Symlink, "../../../../etc", b""),
            "escapes the layer root",
        ),
        (
            "hardlink",
            raw_tar("hl", tar::EntryType::Link, "../../etc/passwd", b""),
            "invalid hardlink",
        ),
        (
            "device",
            raw_tar("dev/sda", tar::EntryType::Char, "", b""),
            "device node",
        ),
        (
            "garbage",
            b"this is not a tar archive at all, not even close....".repeat(20),
            "not a tar archive",
        ),
    ];
    for (what, bytes, msg) in cases {
        let err = fails(&d.berth_stdin(&["import", "-", &format!("bad:{what}")], &bytes));
        assert!(err.contains(msg), "{what}: {err}");
        let err = fails(&d.docker_stdin(&["import", "-", &format!("bad:{what}")], &bytes));
        assert!(err.contains(msg), "{what} via docker: {err}");
    }
    assert_eq!(ok(&d.berth(&["images", "-q"])).trim(), "");
    assert_eq!(
        d.stored_files(),
        before,
        "a refused import left files behind"
    );
    // And nothing was written outside the data root.
    assert!(!d.dir.path().join("evil").exists());
    assert!(!std::path::Path::new("/evil").exists());
}

/// Builds a docker-archive in the pre-25 layout: `<id>/layer.tar`,
/// `<config>.json`, `manifest.json`, two images sharing a base layer.
fn old_docker_archive() -> (Vec<u8>, Vec<String>) {
    let base = tar_of(&[("etc/base", b"base")]);
    let top1 = tar_of(&[("app/one", b"1")]);
    let top2 = tar_of(&[("app/two", b"2")]);
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut manifest = Vec::new();
    let mut ids = Vec::new();
    for (tag, top) in [("multi:one", &top1), ("multi:two", &top2)] {
        let diff_ids = vec![
            format!("sha256:{}", sha256_hex(&base)),
            format!("sha256:{}", sha256_hex(top)),
        ];
        let cfg = serde_json::to_vec(&json!({
            "architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05Z",
            "config": {"Cmd": ["/app"], "Labels": {"tag": tag}},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": "ADD base"}, {"created_by": "ADD top"}],
        }))
        .unwrap();
        let cfg_hex = sha256_hex(&cfg);
        ids.push(format!("sha256:{cfg_hex}"));
        let l1 = format!("{}/layer.tar", &sha256_hex(&base)[..20]);
        let l2 = format!("{}{}/layer.tar", &sha256_hex(top)[..20], &tag[6..]);
        files.push((format!("{cfg_hex}.json"), cfg));
        if !files.iter().any(|(p, _)| *p == l1) {
            files.push((l1.clone(), base.clone()));
        }
        files.push((l2.clone(), top.clone()));
        manifest.push(
            json!({"Config": format!("{cfg_hex}.json"), "RepoTags": [tag], "Layers": [l1, l2]}),
        );
    }
    files.push((
        "manifest.json".into(),
        serde_json::to_vec(&manifest).unwrap(),
    ));
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_slice()))
        .collect();
    (tar_of(&refs), ids)
}

#[test]
fn load_every_archive_format() {
    let d = Daemon::start();
    // Old docker-archive layout, two images, shared layer.
    let (archive, ids) = old_docker_archive();
    let out = ok(&d.docker_stdin(&["load"], &archive));
    assert!(
        out.contains("Loaded image: multi:one") && out.contains("Loaded image: multi:two"),
        "{out}"
    );
    assert_eq!(
        d.stored_files().1,
        3,
        "three distinct layers, the shared one once"
    );
    let out = ok(&d.berth(&[
        "inspect",
        "-f",
        "{{.Id}} {{len .RootFS.Layers}} {{.Created}}",
        "multi:one",
    ]));
    assert_eq!(out.trim(), format!("{} 2 2024-01-02T03:04:05Z", ids[0]));
    let out = ok(&d.berth(&[
        "history",
        "--format",
        "{{.CreatedBy}}|{{.Size}}",
        "multi:two",
    ]));
    assert_eq!(out, "ADD top|1B\nADD base|4B\n");
    // Save both into one archive, then load that as a pure OCI layout
    // (without manifest.json) on a fresh daemon.
    let saved = d.berth(&["save", "multi"]);
    ok(&saved);
    let mut oci = tar::Builder::new(Vec::new());
    let mut ar = tar::Archive::new(&saved.stdout[..]);
    let mut names = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().to_string();
        names.push(path.clone());
        if path == "manifest.json" {
            continue;
        }
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        let mut h = e.header().clone();
        oci.append_data(&mut h, &path, &data[..]).unwrap();
    }
    assert!(
        names.contains(&"index.json".to_string()) && names.contains(&"oci-layout".to_string()),
        "{names:?}"
    );
    let oci = oci.into_inner().unwrap();
    let d2 = Daemon::start();
    let out = ok(&d2.berth_stdin(&["load"], &oci));
    assert!(
        out.contains("Loaded image: multi:one") && out.contains("Loaded image: multi:two"),
        "{out}"
    );
    let out = ok(&d2.berth(&["inspect", "-f", "{{.Id}}", "multi:one", "multi:two"]));
    assert_eq!(out, format!("{}\n{}\n", ids[0], ids[1]));
    // A gzip-compressed layer in an OCI layout loads too (diff ID from the
    // uncompressed bytes), and saving it keeps the compressed blob.
    let layer = tar_of(&[("hello.txt", b"hello")]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &layer).unwrap();
    let gz = gz.finish().unwrap();
    let cfg = serde_json::to_vec(&json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha256_hex(&layer))]}}))
    .unwrap();
    let manifest = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{}", sha256_hex(&cfg)), "size": cfg.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": format!("sha256:{}", sha256_hex(&gz)), "size": gz.len()}]})).unwrap();
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": format!("sha256:{}", sha256_hex(&manifest)), "size": manifest.len(),
        "annotations": {"io.containerd.image.name": "docker.io/library/gz:1", "org.opencontainers.image.ref.name": "1"}}]})).unwrap();
    let files = [
        (format!("blobs/sha256/{}", sha256_hex(&gz)), gz.clone()),
        (format!("blobs/sha256/{}", sha256_hex(&cfg)), cfg.clone()),
        (
            format!("blobs/sha256/{}", sha256_hex(&manifest)),
            manifest.clone(),
        ),
        ("index.json".to_string(), index),
        (
            "oci-layout".to_string(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
    ];
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_slice()))
        .collect();
    let out = ok(&d2.docker_stdin(&["load"], &tar_of(&refs)));
    assert!(out.contains("Loaded image: gz:1"), "{out}");
    let saved = d2.berth(&["save", "gz:1"]);
    let mut ar = tar::Archive::new(&saved.stdout[..]);
    let has_gz = ar.entries().unwrap().any(|e| {
        e.unwrap().path().unwrap().to_string_lossy() == format!("blobs/sha256/{}", sha256_hex(&gz))
    });
    assert!(has_gz, "the compressed blob is saved as it was loaded");
}

#[test]
fn bad_archives_are_refused_and_leave_nothing() {
    let d = Daemon::start();
    let (good, _) = old_docker_archive();
    let before = d.stored_files();
    // A blob whose content does not match the digest in its name.
    let layer = tar_of(&[("f", b"1")]);
    let wrong = format!("blobs/sha256/{}", sha256_hex(b"something else"));
    let err = fails(&d.berth_stdin(&["load"], &tar_of(&[(wrong.as_str(), layer.as_slice())])));
    assert!(err.contains("digest mismatch"), "{err}");
    // A config whose diff IDs do not match the layers.
    let cfg = serde_json::to_vec(&json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha256_hex(b"nope"))]}}))
    .unwrap();
    let manifest = serde_json::to_vec(
        &json!([{"Config": "c.json", "RepoTags": ["x:1"], "Layers": ["l/layer.tar"]}]),
    )
    .unwrap();
    let bad = tar_of(&[
        ("c.json", &cfg),
        ("l/layer.tar", &layer),
        ("manifest.json", &manifest),
    ]);
    let err = fails(&d.docker_stdin(&["load"], &bad));
    assert!(err.contains("diff ID"), "{err}");
    // A manifest naming a missing layer; no manifest at all; truncated input.
    let manifest = serde_json::to_vec(
        &json!([{"Config": "c.json", "RepoTags": ["x:1"], "Layers": ["gone/layer.tar"]}]),
    )
    .unwrap();
    let err = fails(&d.berth_stdin(
        &["load"],
        &tar_of(&[("c.json", &cfg), ("manifest.json", &manifest)]),
    ));
    assert!(err.contains("gone/layer.tar"), "{err}");
    let err = fails(&d.berth_stdin(&["load"], &tar_of(&[("readme", b"hi")])));
    assert!(err.contains("neither a manifest.json"), "{err}");
    let err = fails(&d.berth_stdin(&["load"], &good[..good.len() / 2]));
    assert!(!err.is_empty());
    assert_eq!(ok(&d.berth(&["images", "-q"])).trim(), "");
    assert_eq!(d.stored_files(), before, "a refused load left files behind");
}

#[test]
fn sigkill_during_import_leaves_nothing_after_restart() {
    let mut d = Daemon::start();
    d.import_busybox("keep:1", &[]);
    let before = d.stored_files();
    // Stream a big import slowly, kill the daemon in the middle of it.
    let big: Vec<u8> = {
        let chunk = vec![7u8; 1 << 20];
        let files: Vec<(String, Vec<u8>)> = (0..48)
            .map(|i| (format!("data/f{i}"), chunk.clone()))
            .collect();
        let refs: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_slice()))
            .collect();
        tar_of(&refs)
    };
    let mut child = std::process::Command::new(berth_bin())
        .args(["-H", &d.host(), "import", "-", "partial:1"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    use std::io::Write;
    stdin.write_all(&big[..big.len() / 2]).unwrap();
    stdin.flush().unwrap();
    // Wait until the daemon has started writing the layer.
    let start = std::time::Instant::now();
    loop {
        let dirs = std::fs::read_dir(d.data_root().join("overlay2"))
            .unwrap()
            .count();
        if dirs > before.1 || start.elapsed().as_secs() > 10 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    d.kill9();
    drop(stdin);
    let _ = child.wait();
    d.spawn().unwrap();
    assert_eq!(
        d.stored_files(),
        before,
        "leftovers of the killed import survived the restart"
    );
    let out = ok(&d.berth(&["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    assert_eq!(out.trim(), "keep:1");
    // The surviving image is intact and usable.
    let saved = d.berth(&["save", "keep:1"]);
    ok(&saved);
    assert!(saved.stdout.len() > 1_000_000);
}

/// Output into a pipe nobody reads (`berth history x | true`) ends the
/// command quietly with SIGPIPE's status, as the docker CLI does.
#[test]
fn closed_stdout_ends_quietly() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest", &[]);
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = std::process::Command::new(berth_bin())
        .args(["-H", &d.host(), "history", "busybox"])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run berth");
    assert_eq!(out.status.code(), Some(141));
    assert_eq!(text(&out.stderr), "");
}
