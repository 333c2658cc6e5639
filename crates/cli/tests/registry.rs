//! Registries as the seminar's lab 5 uses them: berth's own registry
//! server (`berth registry serve`), images pushed to it and pulled back
//! through the daemon with the real docker CLI and berth's, logins against
//! an htpasswd registry, TLS, Debian's docker-registry (distribution 2.8)
//! as the other side, a server killed in the middle of a push, and a
//! daemon that never leaves this machine for an image it lacks.

mod common;

use std::net::TcpListener;
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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
    std::thread::sleep(Duration::from_millis(150));
    drop(reg);
    let _ = push.wait();
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
    let before = (image_list(&d), http_get(reg.port, "/v2/_catalog"));
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
    assert_eq!((image_list(&d), http_get(reg.port, "/v2/_catalog")), before);

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
