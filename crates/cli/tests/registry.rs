//! Registries as the seminar's lab 5 uses them: berth's own registry
//! server (`berth registry serve`), images pushed to it and pulled back
//! through the daemon with the real docker CLI and berth's, logins against
//! an htpasswd registry, TLS, Debian's docker-registry (distribution 2.8)
//! as the other side, a server killed in the middle of a push, a daemon
//! that never leaves this machine for an image it lacks, and third-party
//! clients (skopeo, podman, Docker's own dockerd) pushing to and pulling
//! from berth's server.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A registry process on 127.0.0.1, killed on drop.
struct Registry {
    child: Child,
    port: u16,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_port(port: u16) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    panic!("nothing listens on 127.0.0.1:{port}");
}

fn berth_registry(root: &Path, port: u16, extra: &[&str]) -> Registry {
    let child = Command::new(berth_bin())
        .args([
            "registry",
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--root",
        ])
        .arg(root)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_port(port);
    Registry { child, port }
}

fn setup() -> Daemon {
    let d = Daemon::start();
    d.import_busybox("busybox:latest", &["CMD [\"sh\"]"]);
    d
}

#[test]
fn lab5_push_and_pull_through_berths_registry() {
    let d = setup();
    let store = tempfile::tempdir().unwrap();
    let reg = berth_registry(store.path(), free_port(), &[]);
    let name = format!("127.0.0.1:{}/alumno/busybox:custom", reg.port);
    // A layer of our own on top, so the image is really ours.
    ok(&d.berth(&[
        "run",
        "--name",
        "custom",
        "busybox",
        "sh",
        "-c",
        "echo alumno > /custom.txt",
    ]));
    ok(&d.berth(&["commit", "custom", &name]));
    let out = ok(&d.docker(&["push", &name]));
    assert!(out.contains("The push refers to repository"), "{out}");
    assert!(out.contains("custom: digest: sha256:"), "{out}");
    // Pushing again sends nothing new.
    let out = ok(&d.docker(&["push", &name]));
    assert!(out.contains("Layer already exists"), "{out}");
    let digest = out
        .split("digest: ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    // Gone locally, then back from the registry.
    ok(&d.berth(&["rm", "custom"]));
    ok(&d.docker(&["rmi", &name]));
    let out = ok(&d.docker(&["pull", &name]));
    assert!(
        out.contains("Pull complete") || out.contains("Already exists"),
        "{out}"
    );
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert_eq!(
        ok(&d.docker(&["run", "--rm", &name, "cat", "/custom.txt"])),
        "alumno\n"
    );
    let digests = ok(&d.docker(&[
        "images",
        "--digests",
        "--format",
        "{{.Repository}} {{.Digest}}",
    ]));
    assert!(digests.contains(&digest), "{digests}");
    // By digest, with berth's CLI, after removing everything.
    ok(&d.berth(&["rmi", "-f", &name]));
    let by_digest = format!("127.0.0.1:{}/alumno/busybox@{digest}", reg.port);
    let out = ok(&d.berth(&["pull", &by_digest]));
    assert!(out.contains("Status: Downloaded newer image"), "{out}");
    assert_eq!(
        ok(&d.berth(&["run", "--rm", &by_digest, "cat", "/custom.txt"])),
        "alumno\n"
    );
    // A second repository gets the layers by cross-repository mount.
    let other = format!("127.0.0.1:{}/otro/busybox:v1", reg.port);
    ok(&d.berth(&["tag", &by_digest, &other]));
    let out = ok(&d.berth(&["push", &other]));
    assert!(
        out.contains("Mounted from") || out.contains("Layer already exists"),
        "{out}"
    );
    // Errors: unknown tag, unknown repository.
    let err = fails(&d.docker(&[
        "pull",
        &format!("127.0.0.1:{}/alumno/busybox:nope", reg.port),
    ]));
    assert!(err.contains("not found"), "{err}");
    // The registry's own view: catalog and tags.
    let catalog = http_get(reg.port, "/v2/_catalog");
    assert!(
        catalog.contains("alumno/busybox") && catalog.contains("otro/busybox"),
        "{catalog}"
    );
    let tags = http_get(reg.port, "/v2/alumno/busybox/tags/list");
    assert!(tags.contains("custom"), "{tags}");
}

fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn login_tls_and_a_missing_image_stays_local() {
    let d = setup();
    let dir = tempfile::tempdir().unwrap();
    // htpasswd with a bcrypt entry, as `htpasswd -B` writes.
    let hash = bcrypt::hash("s3cret", 5).unwrap();
    std::fs::write(dir.path().join("htpasswd"), format!("alumno:{hash}\n")).unwrap();
    // A certificate for 127.0.0.1.
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    std::fs::write(dir.path().join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    let store = dir.path().join("store");
    let reg = berth_registry(
        &store,
        free_port(),
        &[
            "--htpasswd",
            dir.path().join("htpasswd").to_str().unwrap(),
            "--tls-cert",
            dir.path().join("cert.pem").to_str().unwrap(),
            "--tls-key",
            dir.path().join("key.pem").to_str().unwrap(),
        ],
    );
    let host = format!("127.0.0.1:{}", reg.port);
    let name = format!("{host}/alumno/busybox:secure");
    ok(&d.berth(&["tag", "busybox", &name]));
    // Without credentials: refused.
    let err = fails(&d.docker(&["push", &name]));
    assert!(
        err.contains("no basic auth credentials") || err.contains("unauthorized"),
        "{err}"
    );
    // Wrong password: refused, nothing stored.
    let out = d.docker_stdin(
        &["login", &host, "-u", "alumno", "--password-stdin"],
        b"wrong\n",
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("unauthorized") || text(&out.stderr).contains("401"),
        "{}",
        text(&out.stderr)
    );
    // The right one, with both CLIs (credentials in the config file).
    let out = d.docker_stdin(
        &["login", &host, "-u", "alumno", "--password-stdin"],
        b"s3cret\n",
    );
    assert!(
        text(&out.stdout).contains("Login Succeeded"),
        "{}",
        text(&out.stderr)
    );
    ok(&d.docker(&["push", &name]));
    ok(&d.docker(&["rmi", &name]));
    ok(&d.docker(&["pull", &name]));
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join(".docker");
    let berth_with_home = |args: &[&str], input: &[u8]| {
        let mut c = Command::new(berth_bin());
        c.env("HOME", home.path())
            .env_remove("DOCKER_CONFIG")
            .arg("-H")
            .arg(d.host())
            .args(args);
        run_with_stdin(&mut c, input)
    };
    let out = berth_with_home(
        &["login", &host, "-u", "alumno", "--password-stdin"],
        b"s3cret\n",
    );
    assert!(
        text(&out.stdout).contains("Login Succeeded"),
        "{}",
        text(&out.stderr)
    );
    assert!(std::fs::read_to_string(cfg.join("config.json"))
        .unwrap()
        .contains(&host));
    let out = berth_with_home(&["push", &name], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = berth_with_home(&["logout", &host], b"");
    assert!(
        text(&out.stdout).contains("Removing login credentials"),
        "{}",
        text(&out.stdout)
    );
    let out = berth_with_home(&["push", &name], b"");
    assert!(!out.status.success());
    // A missing image is looked for on this machine only.
    let err = fails(&d.docker(&["pull", "busybox:not-here"]));
    assert!(err.contains("--allowed-registry"), "{err}");
    let out = d.docker(&["run", "--rm", "alpine:3.19", "true"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("Unable to find image"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn distribution_interop_and_a_push_cut_by_a_crash() {
    let d = setup();
    // A big layer, so the push takes a while.
    let mut blob = vec![0u8; 24 << 20];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for b in blob.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    ok(&d.berth(&["run", "--name", "big", "busybox", "true"]));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("noise"), &blob).unwrap();
    ok(&d.berth(&["rm", "big"]));
    let tarfile = dir.path().join("big.tar");
    let st = Command::new("tar")
        .args([
            "-C",
            dir.path().to_str().unwrap(),
            "-cf",
            tarfile.to_str().unwrap(),
            "noise",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let store = dir.path().join("store");
    let port = free_port();
    let name = format!("127.0.0.1:{port}/big/noise:v1");
    ok(&d.berth(&["import", tarfile.to_str().unwrap(), &name]));
    // Kill the registry while the push runs; a retry after its restart works.
    let reg = berth_registry(&store, port, &[]);
    let mut push = Command::new(berth_bin())
        .args(["-H", &d.host(), "push", &name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once layer data is arriving (an upload session holds bytes).
    let uploading = || {
        std::fs::read_dir(store.join("uploads"))
            .map(|rd| {
                rd.flatten()
                    .any(|e| std::fs::metadata(e.path().join("data")).is_ok_and(|m| m.len() > 0))
            })
            .unwrap_or(false)
    };
    let start = std::time::Instant::now();
    while !uploading() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(uploading(), "the push never started uploading");
    drop(reg);
    let cut = push.wait().unwrap();
    assert!(!cut.success(), "the push survived its registry's death");
    let reg = berth_registry(&store, port, &[]);
    let out = ok(&d.berth(&["push", &name]));
    assert!(out.contains("digest: sha256:"), "{out}");
    let id = ok(&d.berth(&["inspect", "-f", "{{.Id}}", &name]));
    ok(&d.berth(&["rmi", &name]));
    ok(&d.berth(&["pull", &name]));
    assert_eq!(ok(&d.berth(&["inspect", "-f", "{{.Id}}", &name])), id);
    drop(reg);
    // Debian's docker-registry (distribution 2.8) as the other side.
    if Command::new("docker-registry")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("docker-registry is not installed: skipping the distribution interop");
        return;
    }
    let dport = free_port();
    let droot = dir.path().join("dist");
    let cfg = dir.path().join("dist.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{dport}\n",
            droot.display()
        ),
    )
    .unwrap();
    let child = Command::new("docker-registry")
        .args(["serve", cfg.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_port(dport);
    let dist = Registry { child, port: dport };
    let dname = format!("127.0.0.1:{}/interop/busybox:2.8", dist.port);
    ok(&d.berth(&["tag", "busybox", &dname]));
    ok(&d.berth(&["push", &dname]));
    ok(&d.docker(&["rmi", &dname]));
    let out = ok(&d.docker(&["pull", &dname]));
    assert!(out.contains("Digest: sha256:"), "{out}");
    assert_eq!(
        ok(&d.berth(&["run", "--rm", &dname, "echo", "interop"])),
        "interop\n"
    );
}

/// The images a daemon holds, as `images` lists them (to see that a bad
/// request changed nothing).
fn image_list(d: &Daemon) -> String {
    ok(&d.berth(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]))
}

#[test]
fn search_pull_all_tags_and_registry_settings_in_info() {
    let d = Daemon::start_with(&[
        "--insecure-registry",
        "10.1.2.3/8",
        "--insecure-registry",
        "myreg.test:5000",
        "--registry-mirror",
        "http://127.0.0.1:9",
    ]);
    d.import_busybox("busybox:latest", &["CMD [\"sh\"]"]);
    let store = tempfile::tempdir().unwrap();
    let reg = berth_registry(store.path(), free_port(), &[]);
    let host = format!("127.0.0.1:{}", reg.port);
    let repo = format!("{host}/alumno/busybox");
    for name in [
        format!("{repo}:v1"),
        format!("{repo}:v2"),
        format!("{host}/alumno/alpine:latest"),
        format!("{host}/profe/otro:latest"),
    ] {
        ok(&d.berth(&["tag", "busybox", &name]));
        ok(&d.berth(&["push", &name]));
    }

    // search: the docker CLI and berth's print the same table.
    let term = format!("{host}/alumno");
    let out = ok(&d.docker(&["search", &term]));
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"],
        "{out}"
    );
    let names: Vec<&str> = lines.filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(names, ["alumno/alpine", "alumno/busybox"], "{out}");
    assert_eq!(ok(&d.berth(&["search", &term])), out);
    for args in [
        vec!["--limit", "1"],
        vec!["--filter", "stars=0", "--no-trunc"],
        vec!["--filter", "is-official=true"],
        vec!["--format", "{{.Name}}: {{.StarCount}} {{.IsOfficial}}|"],
        vec!["--format", "table {{.Name}}\t{{.IsOfficial}}"],
    ] {
        let mut a = vec!["search"];
        a.extend(&args);
        a.push(&term);
        assert_eq!(ok(&d.berth(&a)), ok(&d.docker(&a)), "{args:?}");
    }
    // docker 28 dropped the deprecated IsAutomated field.
    let a = ["search", "--format", "{{.IsAutomated}}", &term];
    assert!(fails(&d.docker(&a)).contains("can't evaluate field IsAutomated"));
    assert_eq!(
        ok(&d.berth(&["search", "--limit", "1", "--format", "{{.Name}}", &term])),
        "alumno/alpine\n"
    );
    assert_eq!(
        ok(&d.berth(&["search", "--filter", "is-official=true", &term]))
            .lines()
            .count(),
        1
    );

    // Bad input: Docker's messages, and nothing changes.
    // What the registry holds: the catalogue's body (headers carry a date).
    let catalog_body = || {
        let r = http_get(reg.port, "/v2/_catalog");
        r.split("\r\n\r\n").nth(1).unwrap_or_default().to_string()
    };
    let before = (image_list(&d), catalog_body());
    for (args, want) in [
        (
            vec!["--limit", "101"],
            "limit 101 is outside the range of [1, 100]",
        ),
        (
            vec!["--filter", "stars=many"],
            "invalid filter 'stars=many'",
        ),
        (
            vec!["--filter", "is-official=maybe"],
            "invalid filter 'is-official=maybe'",
        ),
        (vec!["--filter", "color=red"], "invalid filter 'color'"),
    ] {
        let mut a = vec!["search"];
        a.extend(&args);
        a.push(&term);
        for err in [fails(&d.berth(&a)), fails(&d.docker(&a))] {
            assert!(
                err.contains(&format!("Error response from daemon: {want}")),
                "{args:?}: {err}"
            );
        }
    }
    let err = fails(&d.berth(&["search", &format!("http://{term}")]));
    assert!(err.contains("should not have a scheme"), "{err}");
    // The deprecated filter: a warning and no results, as Docker gives.
    let out = d.docker(&["search", "--filter", "is-automated=true", &term]);
    assert_eq!(text(&out.stdout).lines().count(), 1);
    let out = d.berth(&["search", "--filter", "is-automated=true", &term]);
    assert!(
        text(&out.stderr).contains("deprecated"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout).lines().count(), 1);
    // Docker Hub is the default, and this daemon may not reach it.
    let err = fails(&d.docker(&["search", "busybox"]));
    assert!(err.contains("--allowed-registry"), "{err}");
    assert_eq!((image_list(&d), catalog_body()), before);

    // pull -a: every tag, Docker's messages.
    ok(&d.berth(&["rmi", &format!("{repo}:v1"), &format!("{repo}:v2")]));
    let out = ok(&d.berth(&["pull", "-a", &repo]));
    for want in [
        "v1: Pulling from alumno/busybox",
        "v2: Pulling from alumno/busybox",
        &format!("Status: Downloaded newer image for {repo}"),
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    assert!(out.ends_with(&format!("{repo}\n")), "{out}");
    let tags = ok(&d.berth(&["images", "--format", "{{.Tag}}", &repo]));
    let mut tags: Vec<&str> = tags.lines().collect();
    tags.sort();
    assert_eq!(tags, ["v1", "v2"]);
    let out = ok(&d.docker(&["pull", "-a", &repo]));
    assert!(
        out.contains(&format!("Status: Image is up to date for {repo}")),
        "{out}"
    );
    let err = fails(&d.berth(&["pull", "-a", &format!("{repo}:v1")]));
    assert!(
        err.contains("tag can't be used with --all-tags/-a"),
        "{err}"
    );
    let err = fails(&d.docker(&["pull", "-a", &format!("{host}/nadie/nada")]));
    assert!(err.contains("repository does not exist"), "{err}");
    // A plain pull still means `latest` only.
    let out = ok(&d.berth(&["pull", &format!("{host}/alumno/alpine")]));
    assert!(out.starts_with("Using default tag: latest\n"), "{out}");

    // info shows the registry settings as dockerd does.
    let cfg: serde_json::Value = serde_json::from_str(&ok(&d.docker(&[
        "info",
        "--format",
        "{{json .RegistryConfig}}",
    ])))
    .unwrap();
    assert_eq!(
        cfg["InsecureRegistryCIDRs"],
        serde_json::json!(["10.0.0.0/8", "::1/128", "127.0.0.0/8"]),
        "{cfg}"
    );
    assert_eq!(cfg["Mirrors"], serde_json::json!(["http://127.0.0.1:9/"]));
    assert_eq!(
        cfg["IndexConfigs"]["docker.io"],
        serde_json::json!({"Name": "docker.io", "Mirrors": ["http://127.0.0.1:9/"], "Secure": true, "Official": true})
    );
    assert_eq!(
        cfg["IndexConfigs"]["myreg.test:5000"],
        serde_json::json!({"Name": "myreg.test:5000", "Mirrors": [], "Secure": false, "Official": false})
    );
}

// ---------------------------------------------------------------------
// Third-party clients against berth's registry server: skopeo, podman
// and Docker's own daemon push to it and pull from it. Each test skips
// (and says why) when its tool is not installed, and fails when the tool
// is there but the exchange does not work.

/// Whether `program --version` runs.
fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The busybox image of `d` as a docker-archive that `berth save` wrote.
fn saved_busybox(d: &Daemon, dir: &Path) -> String {
    let archive = dir.join("busybox.tar").display().to_string();
    ok(&d.berth(&["save", "-o", &archive, "busybox:latest"]));
    archive
}

/// A manifest or index as the registry serves it to a client that accepts
/// every kind.
fn manifest_of(port: u16, repo: &str, reference: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET /v2/{repo}/manifests/{reference} HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: {}\r\n\r\n",
        [
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json",
        ]
        .join(", ")
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    json(out.split("\r\n\r\n").nth(1).unwrap_or_default())
}

/// The JSON a tool printed.
#[track_caller]
fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn skopeo(args: &[&str]) -> std::process::Output {
    Command::new("skopeo")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run skopeo")
}

#[test]
fn skopeo_pushes_to_and_pulls_from_berths_registry() {
    if !installed("skopeo") {
        eprintln!("SKIPPED: skopeo is not installed (apt-get install skopeo)");
        return;
    }
    let d = setup();
    let dir = tempfile::tempdir().unwrap();
    let archive = saved_busybox(&d, dir.path());
    let image_id = ok(&d.berth(&["inspect", "-f", "{{.Id}}", "busybox:latest"]));
    let reg = berth_registry(&dir.path().join("store"), free_port(), &[]);
    let repo = format!("127.0.0.1:{}/alumno/busybox", reg.port);
    let src = format!("docker-archive:{archive}");

    // Push, Docker schema 2 (skopeo compresses the archive's layer).
    let out = ok(&skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &src,
        &format!("docker://{repo}:skopeo"),
    ]));
    assert!(
        out.contains("Writing manifest to image destination"),
        "{out}"
    );
    // inspect: the digest is that of the manifest the server returns.
    let info = json(&ok(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{repo}:skopeo"),
    ])));
    let digest = info["Digest"].as_str().unwrap().to_string();
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{repo}:skopeo"),
    ]);
    ok(&raw);
    assert_eq!(format!("sha256:{}", sha256_hex(&raw.stdout)), digest);
    let manifest = json(&text(&raw.stdout));
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(manifest["config"]["digest"], image_id.trim());
    assert_eq!(info["RepoTags"], serde_json::json!(["skopeo"]), "{info}");
    assert_eq!(info["Os"], "linux", "{info}");
    // By digest as well.
    let by_digest = json(&ok(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{repo}@{digest}"),
    ])));
    assert_eq!(by_digest["Digest"], digest.as_str());

    // Push again, as an OCI image manifest.
    let out = ok(&skopeo(&[
        "copy",
        "--format",
        "oci",
        "--dest-tls-verify=false",
        &src,
        &format!("docker://{repo}:skopeo-oci"),
    ]));
    assert!(
        out.contains("Writing manifest to image destination"),
        "{out}"
    );
    let raw_oci = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{repo}:skopeo-oci"),
    ]);
    let oci_manifest = json(&ok(&raw_oci));
    assert_eq!(
        oci_manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let oci_digest = format!("sha256:{}", sha256_hex(&raw_oci.stdout));

    // list-tags
    let tags = json(&ok(&skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{repo}"),
    ])));
    let mut names: Vec<&str> = tags["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["skopeo", "skopeo-oci"], "{tags}");

    // Pull back into an OCI layout: every blob is there and matches.
    let layout = dir.path().join("oci");
    let out = ok(&skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{repo}:skopeo"),
        &format!("oci:{}:x", layout.display()),
    ]));
    assert!(
        out.contains("Writing manifest to image destination"),
        "{out}"
    );
    let blob = |digest: &str| {
        let hex = digest.strip_prefix("sha256:").unwrap();
        let b = std::fs::read(layout.join("blobs/sha256").join(hex))
            .unwrap_or_else(|e| panic!("blob {digest} missing from the layout: {e}"));
        assert_eq!(sha256_hex(&b), hex, "blob {digest} does not match");
        b
    };
    let index = json(&std::fs::read_to_string(layout.join("index.json")).unwrap());
    let mdigest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "x"
    );
    let pulled: serde_json::Value = serde_json::from_slice(&blob(&mdigest)).unwrap();
    blob(pulled["config"]["digest"].as_str().unwrap());
    let layers = pulled["layers"].as_array().unwrap();
    assert_eq!(layers.len(), manifest["layers"].as_array().unwrap().len());
    for (l, pushed) in layers.iter().zip(manifest["layers"].as_array().unwrap()) {
        assert_eq!(l["digest"], pushed["digest"]);
        assert_eq!(
            blob(l["digest"].as_str().unwrap()).len() as u64,
            l["size"].as_u64().unwrap()
        );
    }

    // berth pulls both (with no busybox left locally) and runs them.
    ok(&d.berth(&["rmi", "busybox:latest"]));
    for (tag, want) in [("skopeo", &digest), ("skopeo-oci", &oci_digest)] {
        let name = format!("{repo}:{tag}");
        let out = ok(&d.berth(&["pull", &name]));
        assert!(out.contains(&format!("Digest: {want}")), "{out}");
        assert!(out.contains("Status: Downloaded newer image"), "{out}");
        assert_eq!(ok(&d.berth(&["run", "--rm", &name, "echo", "ok"])), "ok\n");
    }
    assert_eq!(
        ok(&d.berth(&["inspect", "-f", "{{.Id}}", &format!("{repo}:skopeo")])),
        image_id
    );

    // skopeo copies between repositories and deletes from the registry.
    ok(&skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{repo}:skopeo"),
        &format!("docker://127.0.0.1:{}/otro/copia:v1", reg.port),
    ]));
    let copied = json(&ok(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://127.0.0.1:{}/otro/copia:v1", reg.port),
    ])));
    assert_eq!(copied["Digest"], digest.as_str());
    ok(&skopeo(&[
        "delete",
        "--tls-verify=false",
        &format!("docker://{repo}:skopeo-oci"),
    ]));
    let err = text(
        &skopeo(&[
            "inspect",
            "--tls-verify=false",
            &format!("docker://{repo}:skopeo-oci"),
        ])
        .stderr,
    );
    assert!(err.contains("manifest unknown"), "{err}");
    // The other tag and the copy are untouched.
    ok(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{repo}:skopeo"),
    ]));
}

/// podman on a private storage root, run root and tmpdir: the host's
/// podman storage is never touched. Whatever podman left mounted under
/// its directory is unmounted on drop, also when a test fails.
struct Podman {
    dir: tempfile::TempDir,
}

impl Podman {
    fn new() -> Podman {
        Podman {
            dir: tempfile::Builder::new()
                .prefix("berth-podman-")
                .tempdir()
                .unwrap(),
        }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let p = self.dir.path();
        Command::new("podman")
            .arg("--root")
            .arg(p.join("root"))
            .arg("--runroot")
            .arg(p.join("run"))
            .arg("--tmpdir")
            .arg(p.join("tmp"))
            .args(["--storage-driver", "vfs", "--events-backend", "none"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run podman")
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        unmount_under(self.dir.path());
    }
}

#[test]
fn podman_pushes_to_and_pulls_from_berths_registry() {
    if !installed("podman") {
        eprintln!("SKIPPED: podman is not installed (apt-get install podman)");
        return;
    }
    let pm = Podman::new();
    let out = pm.run(&["info"]);
    if !out.status.success() {
        eprintln!(
            "SKIPPED: podman cannot run on this machine: {}",
            text(&out.stderr).trim()
        );
        return;
    }
    let d = setup();
    let dir = tempfile::tempdir().unwrap();
    let archive = saved_busybox(&d, dir.path());
    let image_id = ok(&d.berth(&["inspect", "-f", "{{.Id}}", "busybox:latest"]));
    let image_id = image_id.trim();
    let reg = berth_registry(&dir.path().join("store"), free_port(), &[]);
    let repo = format!("127.0.0.1:{}/alumno/busybox", reg.port);

    // podman loads berth's archive and pushes it, as Docker schema 2 and OCI.
    let out = ok(&pm.run(&["load", "-i", &archive]));
    assert!(out.contains("Loaded image"), "{out}");
    for (tag, format) in [("podman", "v2s2"), ("podman-oci", "oci")] {
        let name = format!("{repo}:{tag}");
        ok(&pm.run(&["tag", "docker.io/library/busybox:latest", &name]));
        let out = pm.run(&["push", "--tls-verify=false", "--format", format, &name]);
        ok(&out);
        assert!(
            text(&out.stderr).contains("Writing manifest to image destination"),
            "{}",
            text(&out.stderr)
        );
    }
    let tags = http_get(reg.port, "/v2/alumno/busybox/tags/list");
    assert!(
        tags.contains("\"podman\"") && tags.contains("\"podman-oci\""),
        "{tags}"
    );

    // berth pushes one of its own; podman, with empty storage, pulls it.
    let berths = format!("{repo}:berth");
    ok(&d.berth(&["tag", "busybox:latest", &berths]));
    let out = ok(&d.berth(&["push", &berths]));
    let digest = out
        .split("digest: ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    ok(&pm.run(&["rmi", "-a", "-f"]));
    assert_eq!(ok(&pm.run(&["images", "-q"])), "");
    let out = pm.run(&["pull", "--tls-verify=false", &berths]);
    assert!(
        text(&out.stderr).contains("Writing manifest to image destination"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        text(&out.stdout).trim(),
        image_id.trim_start_matches("sha256:")
    );
    let info = json(&ok(&pm.run(&["image", "inspect", &berths])));
    let info = &info[0];
    assert_eq!(info["Id"], image_id.trim_start_matches("sha256:"), "{info}");
    assert_eq!(info["Digest"], digest.as_str(), "{info}");
    assert_eq!(info["RepoTags"], serde_json::json!([berths]), "{info}");
    assert!(
        info["RepoDigests"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!(format!("{repo}@{digest}"))),
        "{info}"
    );
    assert_eq!(info["Os"], "linux", "{info}");
    // What podman pushed, podman pulls back too.
    let out = pm.run(&["pull", "--tls-verify=false", &format!("{repo}:podman-oci")]);
    ok(&out);
    assert_eq!(
        text(&out.stdout).trim(),
        image_id.trim_start_matches("sha256:")
    );

    // berth pulls what podman pushed (with no busybox left) and runs it.
    ok(&d.berth(&["rmi", "busybox:latest", &berths]));
    for tag in ["podman", "podman-oci"] {
        let name = format!("{repo}:{tag}");
        let out = ok(&d.berth(&["pull", &name]));
        assert!(out.contains("Status: Downloaded newer image"), "{out}");
        assert_eq!(ok(&d.berth(&["run", "--rm", &name, "echo", "ok"])), "ok\n");
    }

    // A manifest list made by podman, pushed with its image, pulled by
    // berth (which picks linux/amd64 from it).
    let list = format!("{repo}:list");
    ok(&pm.run(&["manifest", "create", "localhost/bblist"]));
    ok(&pm.run(&[
        "manifest",
        "add",
        "localhost/bblist",
        &format!("containers-storage:{berths}"),
    ]));
    ok(&pm.run(&[
        "manifest",
        "push",
        "--all",
        "--tls-verify=false",
        "localhost/bblist",
        &format!("docker://{list}"),
    ]));
    let out = ok(&d.berth(&["pull", &list]));
    assert!(out.contains("Status: Downloaded newer image"), "{out}");
    assert_eq!(ok(&d.berth(&["run", "--rm", &list, "echo", "ok"])), "ok\n");
    let index = manifest_of(reg.port, "alumno/busybox", "list");
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1, "{index}");
    assert_eq!(index["manifests"][0]["platform"]["architecture"], "amd64");
    ok(&pm.run(&["rmi", "-a", "-f"]));
}

/// Docker's own daemon on a private data root, exec root, pidfile and
/// socket, with no bridge, no iptables rules and no forwarding change.
/// Killed, unmounted and removed on drop, also when a test fails.
struct Dockerd {
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Dockerd {
    const BIN: &'static str = "/usr/sbin/dockerd";

    fn start() -> Dockerd {
        let dir = tempfile::Builder::new()
            .prefix("berth-dockerd-")
            .tempdir()
            .unwrap();
        let p = dir.path();
        std::fs::write(p.join("daemon.json"), "{}").unwrap();
        let log = std::fs::File::create(p.join("dockerd.log")).unwrap();
        let child = Command::new(Self::BIN)
            .arg("--data-root")
            .arg(p.join("data"))
            .arg("--exec-root")
            .arg(p.join("exec"))
            .arg("--pidfile")
            .arg(p.join("dockerd.pid"))
            .arg("--config-file")
            .arg(p.join("daemon.json"))
            .arg("-H")
            .arg(format!("unix://{}", p.join("docker.sock").display()))
            .args([
                "--bridge",
                "none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        let mut d = Dockerd {
            dir,
            child: Some(child),
        };
        let start = Instant::now();
        loop {
            if d.docker(&["version"]).status.success() {
                return d;
            }
            if let Some(Ok(Some(st))) = d.child.as_mut().map(|c| c.try_wait()) {
                panic!("dockerd exited with {st}: {}", d.log());
            }
            if start.elapsed() > Duration::from_secs(60) {
                panic!("dockerd did not come up: {}", d.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    /// The docker CLI against this dockerd (its own 20.10 CLI when there).
    fn docker(&self, args: &[&str]) -> std::process::Output {
        let cli = if Path::new("/usr/bin/docker").exists() {
            "/usr/bin/docker".to_string()
        } else {
            docker_bin()
        };
        Command::new(cli)
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_HOST")
            .env("DOCKER_CONFIG", self.dir.path().join("cli"))
            .arg("-H")
            .arg(format!(
                "unix://{}",
                self.dir.path().join("docker.sock").display()
            ))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run docker")
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let ids = text(&self.docker(&["ps", "-aq"]).stdout);
        for id in ids.lines() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        // The containerd dockerd started for itself, in case it outlives it.
        let containerd =
            std::fs::read_to_string(self.dir.path().join("exec/containerd/containerd.pid"))
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok());
        signal(child.id(), rustix::process::Signal::TERM);
        let start = Instant::now();
        while !matches!(child.try_wait(), Ok(Some(_))) {
            if start.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Some(pid) = containerd {
            let ours = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| text(&c).contains(&self.dir.path().display().to_string()))
                .unwrap_or(false);
            if ours {
                signal(pid, rustix::process::Signal::KILL);
            }
        }
        unmount_under(self.dir.path());
    }
}

#[test]
fn dockerd_pushes_to_and_pulls_from_berths_registry() {
    if !Path::new(Dockerd::BIN).exists() {
        eprintln!(
            "SKIPPED: {} is missing (apt-get install docker.io)",
            Dockerd::BIN
        );
        return;
    }
    let d = setup();
    let dir = tempfile::tempdir().unwrap();
    let archive = saved_busybox(&d, dir.path());
    let image_id = ok(&d.berth(&["inspect", "-f", "{{.Id}}", "busybox:latest"]));
    let reg = berth_registry(&dir.path().join("store"), free_port(), &[]);
    let repo = format!("127.0.0.1:{}/alumno/busybox", reg.port);
    let dk = Dockerd::start();

    // dockerd loads berth's archive and pushes it (127.0.0.0/8 is insecure
    // by default).
    let out = ok(&dk.docker(&["load", "-i", &archive]));
    assert!(out.contains("Loaded image: busybox:latest"), "{out}");
    let name = format!("{repo}:dockerd");
    ok(&dk.docker(&["tag", "busybox:latest", &name]));
    let out = ok(&dk.docker(&["push", &name]));
    assert!(out.contains("Pushed"), "{out}");
    let digest = out
        .split("dockerd: digest: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no digest: {out}"))
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let out = ok(&dk.docker(&["push", &name]));
    assert!(out.contains("Layer already exists"), "{out}");
    let tags = http_get(reg.port, "/v2/alumno/busybox/tags/list");
    assert!(tags.contains("\"dockerd\""), "{tags}");
    // Another repository gets the layer by cross-repository mount.
    let other = format!("127.0.0.1:{}/otro/busybox:dockerd", reg.port);
    ok(&dk.docker(&["tag", &name, &other]));
    let out = ok(&dk.docker(&["push", &other]));
    assert!(out.contains("Mounted from alumno/busybox"), "{out}");
    assert!(out.contains(&format!("digest: {digest}")), "{out}");
    ok(&dk.docker(&["rmi", &other]));

    // Gone from dockerd, then back from the registry, and it runs.
    ok(&dk.docker(&["rmi", "busybox:latest", &name]));
    assert_eq!(ok(&dk.docker(&["images", "-q"])), "");
    let out = ok(&dk.docker(&["pull", &name]));
    assert!(out.contains("Pull complete"), "{out}");
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert_eq!(
        ok(&dk.docker(&["inspect", "-f", "{{.Id}}", &name])),
        image_id
    );
    assert_eq!(
        ok(&dk.docker(&["run", "--rm", "--network", "none", &name, "echo", "ok"])),
        "ok\n"
    );

    // And the other way: berth pushes, dockerd pulls; berth pulls what
    // dockerd pushed.
    let berths = format!("{repo}:berth");
    ok(&d.berth(&["tag", "busybox:latest", &berths]));
    ok(&d.berth(&["push", &berths]));
    let out = ok(&dk.docker(&["pull", &berths]));
    assert!(out.contains("Status: Downloaded newer image"), "{out}");
    assert_eq!(
        ok(&dk.docker(&["run", "--rm", "--network", "none", &berths, "echo", "ok"])),
        "ok\n"
    );
    ok(&d.berth(&["rmi", "busybox:latest", &berths]));
    let out = ok(&d.berth(&["pull", &name]));
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert_eq!(ok(&d.berth(&["run", "--rm", &name, "echo", "ok"])), "ok\n");
}
