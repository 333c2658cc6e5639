//! The daemon and its Engine API, driven as users do: the docker CLI, the
//! berth CLI and the API client, against a real daemon process.

mod common;

use common::*;
use hyper::Method;

#[test]
fn ping_version_and_api_prefixes() {
    let d = Daemon::start();
    let c = d.client();
    block_on(async {
        for path in ["/_ping"] {
            for method in [Method::GET, Method::HEAD] {
                let r = c
                    .request(method.clone(), path, berth_api::client::empty(), None)
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let h = r.headers();
                assert_eq!(h["API-Version"], "1.47");
                assert_eq!(h["OSType"], "linux");
                assert_eq!(h["Docker-Experimental"], "false");
            }
        }
        let v = c.get_json("/version").await.unwrap();
        assert_eq!(v["ApiVersion"], "1.47");
        assert_eq!(v["MinAPIVersion"], "1.24");
        assert_eq!(v["Components"][0]["Name"], "Engine");
    });
    // Raw prefixes: every version from 1.24 up, and unprefixed paths.
    let raw = |path: &str| -> (u16, serde_json::Value) {
        block_on(async {
            let io = tokio::net::UnixStream::connect(&d.sock).await.unwrap();
            let (mut s, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
                    .await
                    .unwrap();
            tokio::spawn(conn);
            let req = hyper::Request::get(path)
                .header("Host", "x")
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .unwrap();
            let r = s.send_request(req).await.unwrap();
            let status = r.status().as_u16();
            use http_body_util::BodyExt;
            let body = r.into_body().collect().await.unwrap().to_bytes();
            (
                status,
                serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
            )
        })
    };
    for v in [
        "/v1.24/version",
        "/v1.41/version",
        "/v1.47/version",
        "/version",
    ] {
        assert_eq!(raw(v).0, 200, "{v}");
    }
    let (st, body) = raw("/v1.99/version");
    assert_eq!(st, 400);
    assert_eq!(
        body["message"],
        "client version 1.99 is too new. Maximum supported API version is 1.47"
    );
    let (st, body) = raw("/v1.12/version");
    assert_eq!(st, 400);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("is too old. Minimum supported API version is 1.24"));
    let (st, body) = raw("/v1.47/nothing/here");
    assert_eq!(st, 404);
    assert_eq!(body["message"], "page not found");
    let (st, body) = raw("/images/json?filters=%7Bbad");
    assert_eq!(st, 400);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with("invalid filter"));
    let (st, _) = raw("/images/json?all=maybe");
    assert_eq!(st, 400);
    let (st, body) = raw("/images/json?filters=%7B%22nope%22%3A%5B%22x%22%5D%7D");
    assert_eq!(st, 400);
    assert_eq!(body["message"], "invalid filter 'nope'");
}

#[test]
fn docker_cli_version_and_info() {
    let d = Daemon::start_with(&["--label", "site=lab", "--label", "tier=test"]);
    let out = ok(&d.docker(&["version"]));
    assert!(out.contains("Server: berth"), "{out}");
    assert!(
        out.contains("API version:      1.47 (minimum version 1.24)"),
        "{out}"
    );
    let out = ok(&d.docker(&["info"]));
    assert!(out.contains("Storage Driver: overlay2"), "{out}");
    assert!(
        out.contains(&format!("Docker Root Dir: {}", d.data_root().display())),
        "{out}"
    );
    assert!(
        out.contains("site=lab") && out.contains("tier=test"),
        "{out}"
    );
    let out = ok(&d.docker(&[
        "info",
        "--format",
        "{{.Images}} {{.Driver}} {{.CgroupDriver}} {{.NCPU}}",
    ]));
    let fields: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(fields[0], "0");
    assert_eq!(fields[1], "overlay2");
    assert_eq!(fields[2], "cgroupfs");
    assert!(fields[3].parse::<usize>().unwrap() >= 1);
    // berth's own CLI.
    let out = ok(&d.berth(&["info", "--format", "{{.DockerRootDir}} {{json .Labels}}"]));
    assert_eq!(
        out.trim(),
        format!("{} [\"site=lab\",\"tier=test\"]", d.data_root().display())
    );
    let out = ok(&d.berth(&["system", "info"]));
    assert!(out.contains(" Images: 0"), "{out}");
    let out = ok(&d.berth(&["version", "--format", "{{.Server.ApiVersion}}"]));
    assert_eq!(out.trim(), "1.47");
    // BERTH_HOST and DOCKER_HOST select the daemon too.
    for var in ["BERTH_HOST", "DOCKER_HOST"] {
        let out = std::process::Command::new(berth_bin())
            .env_remove("BERTH_HOST")
            .env_remove("DOCKER_HOST")
            .env(var, d.host())
            .args(["info", "--format", "{{.Driver}}"])
            .output()
            .unwrap();
        assert_eq!(ok(&out).trim(), "overlay2", "{var}");
    }
}

#[test]
fn unreachable_daemon_says_so() {
    let out = std::process::Command::new(berth_bin())
        .args(["-H", "unix:///nonexistent/berth.sock", "images"])
        .output()
        .unwrap();
    let err = fails(&out);
    assert!(
        err.contains("Cannot connect to the berth daemon at unix:///nonexistent/berth.sock"),
        "{err}"
    );
}

#[test]
fn second_daemon_on_same_data_root_refuses() {
    let d = Daemon::start();
    let mut args = d.args();
    // Another socket and pidfile, same data root.
    let other = d.dir.path().join("other.sock");
    for i in 0..args.len() {
        if args[i] == "-H" {
            args[i + 1] = format!("unix://{}", other.display());
        }
        if args[i] == "--pidfile" {
            args[i + 1] = d.dir.path().join("other.pid").display().to_string();
        }
    }
    let out = std::process::Command::new(berth_bin())
        .args(&args)
        .output()
        .unwrap();
    let err = fails(&out);
    assert!(err.contains("is in use by another berth daemon"), "{err}");
    assert!(err.contains(&format!("pid {}", d.pid().unwrap())), "{err}");
    // The first one is still serving.
    ok(&d.berth(&["version"]));
}

#[test]
fn bad_daemon_configuration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let base = |extra: &[&str]| {
        let mut a = vec![
            "daemon".to_string(),
            "--data-root".into(),
            dir.path().join("data").display().to_string(),
            "--exec-root".into(),
            dir.path().join("run").display().to_string(),
            "-H".into(),
            format!("unix://{}", dir.path().join("s.sock").display()),
            "--pidfile".into(),
            dir.path().join("p.pid").display().to_string(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        std::process::Command::new(berth_bin())
            .args(a)
            .output()
            .unwrap()
    };
    let err = fails(&base(&[
        "--storage-driver",
        "vfs",
        "--config-file",
        "/nonexistent-ok-if-absent.json",
    ]));
    assert!(
        err.contains("No such file") || err.contains("driver not supported"),
        "{err}"
    );
    let cfg = dir.path().join("daemon.json");
    std::fs::write(&cfg, r#"{"debug": false, "labels": ["a=b"]}"#).unwrap();
    let err = fails(&base(&["--config-file", cfg.to_str().unwrap(), "-D"]));
    assert!(
        err.contains("the following directives are specified both as a flag and in the configuration file: debug: (from flag: true, from file: false)"),
        "{err}"
    );
    std::fs::write(&cfg, r#"{"storage-driver": "vfs"}"#).unwrap();
    let err = fails(&base(&["--config-file", cfg.to_str().unwrap()]));
    assert!(err.contains("driver not supported: vfs"), "{err}");
    std::fs::write(&cfg, r#"{"bogus-key": 1}"#).unwrap();
    let err = fails(&base(&["--config-file", cfg.to_str().unwrap()]));
    assert!(
        err.contains("don't match any configuration option: bogus-key"),
        "{err}"
    );
    // Nothing was started: no socket, no pidfile.
    assert!(!dir.path().join("s.sock").exists());
    assert!(!dir.path().join("p.pid").exists());
}

#[test]
fn config_file_and_tcp_listener() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("daemon.json");
    let sock = dir.path().join("s.sock");
    std::fs::write(
        &cfg,
        format!(
            r#"{{"hosts": ["unix://{}", "tcp://127.0.0.1:{port}"], "labels": ["from=file"], "data-root": "{}"}}"#,
            sock.display(),
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(berth_bin())
        .args([
            "daemon",
            "--config-file",
            cfg.to_str().unwrap(),
            "--exec-root",
        ])
        .arg(dir.path().join("run"))
        .arg("--pidfile")
        .arg(dir.path().join("p.pid"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
        && start.elapsed().as_secs() < 20
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = std::process::Command::new(docker_bin())
        .env("DOCKER_HOST", format!("tcp://127.0.0.1:{port}"))
        .env("DOCKER_CONFIG", dir.path().join("dc"))
        .args(["info", "--format", "{{json .Labels}}"])
        .output()
        .unwrap();
    assert_eq!(ok(&out).trim(), r#"["from=file"]"#);
    let pid = std::fs::read_to_string(dir.path().join("p.pid")).unwrap();
    assert_eq!(pid.trim(), child.id().to_string());
    // SIGTERM: clean exit, socket and pidfile removed.
    signal(child.id(), rustix::process::Signal::TERM);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(!sock.exists());
    assert!(!dir.path().join("p.pid").exists());
    // The exec root's own tmpfs goes with a daemon that ran nothing.
    let run = dir.path().join("run").display().to_string();
    let mounted = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(run.as_str()));
    assert!(!mounted, "{run} is still mounted after a clean stop");
}

#[test]
fn events_stream_replay_and_filters() {
    let d = Daemon::start();
    let id = d.import_busybox("ev:1", &[]);
    ok(&d.berth(&["tag", "ev:1", "ev:2"]));
    ok(&d.berth(&["rmi", "ev:2"]));
    // Replay with a bounded window ends by itself (the docker CLI sends
    // --until in whole seconds, so bound it just after now).
    let until = (chrono::Utc::now().timestamp() + 1).to_string();
    let until = until.as_str();
    let out = ok(&d.berth(&[
        "events",
        "--since",
        "1h",
        "--until",
        until,
        "--filter",
        "type=image",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines.contains(&"import ".to_string().as_str())
            || lines.iter().any(|l| l.starts_with("import ")),
        "{out}"
    );
    assert!(lines.contains(&"tag ev:1"), "{out}");
    assert!(lines.contains(&"tag ev:2"), "{out}");
    assert!(lines.contains(&"untag ev:2"), "{out}");
    let out = ok(&d.berth(&[
        "events",
        "--since",
        "1h",
        "--until",
        until,
        "--filter",
        "event=untag",
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.ID}}",
    ]));
    assert_eq!(out.trim(), format!("image untag {id}"));
    // The docker CLI reads the same stream.
    let out = ok(&d.docker(&[
        "events",
        "--since",
        "1h",
        "--until",
        until,
        "--filter",
        "event=tag",
    ]));
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.contains("image tag"), "{out}");
    // Live: a subscriber sees an event that happens after it connected.
    let host = d.host();
    let mut live = std::process::Command::new(berth_bin())
        .args([
            "-H",
            &host,
            "events",
            "--filter",
            "event=tag",
            "--format",
            "{{.Actor.Attributes.name}}",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    ok(&d.berth(&["tag", "ev:1", "ev:live"]));
    let mut stdout = live.stdout.take().unwrap();
    let mut buf = [0u8; 64];
    use std::io::Read;
    let n = stdout.read(&mut buf).unwrap();
    let _ = live.kill();
    let _ = live.wait();
    assert_eq!(String::from_utf8_lossy(&buf[..n]).trim(), "ev:live");
    let err = fails(&d.berth(&["events", "--filter", "color=blue", "--until", "0s"]));
    assert!(err.contains("invalid filter 'color'"), "{err}");
}
