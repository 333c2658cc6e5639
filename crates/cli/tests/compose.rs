//! Compose as the seminar's labs 26–28 use it, with a busybox base: a
//! `web` service answering a CGI that counts hits in a named volume, a
//! `front` published on 127.0.0.1 that reaches `web` by its service name
//! (busybox `nc`), driven through `berth compose` (`up -d`, `ps`, `logs`,
//! `exec`, `run --rm`, `scale`/`--scale`, `stop`/`start`, `down` with and
//! without `-v`, `ls`), convergence (only the edited service is
//! recreated), errors found before anything is created, the attached `up`
//! (prefixed output, `--abort-on-container-exit`, `--exit-code-from`,
//! Ctrl-C, restarts followed), `logs -f` picking up new containers,
//! `pull`/`push` through a loopback `berth registry serve`, `events`
//! (JSON and plain), `--compatibility` names, and the real docker-compose
//! 1.29 on the same daemon and project (shared containers, config hashes
//! both tools agree on), when it is installed.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn setup() -> Daemon {
    let d = Daemon::start();
    d.import_busybox("busybox:latest", &["CMD [\"sh\"]"]);
    d
}

/// Runs `berth compose ARGS` in `dir`.
fn compose(d: &Daemon, dir: &Path, args: &[&str]) -> Output {
    Command::new(berth_bin())
        .arg("-H")
        .arg(d.host())
        .arg("compose")
        .args(args)
        .current_dir(dir)
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROJECT_NAME")
        .stdin(Stdio::null())
        .output()
        .expect("run berth compose")
}

/// Writes a file (and its directories); `exec` makes it executable.
fn write(dir: &Path, rel: &str, text: &str, exec: bool) {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(&p, text).expect("write");
    if exec {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
}

/// The lab's project: `web` counts hits in the `counter` volume, `front`
/// (published on `port`) asks `web` by name.
fn lab_project(port: u16) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("berth-compose-")
        .tempdir()
        .expect("tempdir");
    let p = dir.path();
    write(
        p,
        "www/cgi-bin/count",
        "#!/bin/sh\n\
         n=$(cat /data/count 2>/dev/null || echo 0)\n\
         n=$((n+1))\n\
         echo $n > /data/count\n\
         printf 'Content-Type: text/plain\\r\\n\\r\\n'\n\
         echo \"count=$n\"\n",
        true,
    );
    write(
        p,
        "front/cgi-bin/index",
        "#!/bin/sh\n\
         printf 'Content-Type: text/plain\\r\\n\\r\\n'\n\
         printf 'GET /cgi-bin/count HTTP/1.0\\r\\n\\r\\n' | nc web 80 | sed '1,/^\\r*$/d'\n",
        true,
    );
    write(
        p,
        "compose.yaml",
        &format!(
            r#"name: lab
services:
  web:
    image: busybox
    init: true
    command: sh -c 'echo web ready; exec httpd -f -p 80 -h /www'
    volumes:
      - ./www:/www:ro
      - counter:/data
  front:
    image: busybox
    init: true
    command: httpd -f -p 80 -h /front
    volumes:
      - ./front:/front:ro
    ports:
      - "127.0.0.1:{port}:80"
    depends_on:
      - web
volumes:
  counter:
"#
        ),
        false,
    );
    dir
}

/// The count the front reports, through the published port.
fn hit(port: u16) -> u32 {
    let addr = format!("127.0.0.1:{port}");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        if let Some(body) = http_get(&addr, "/cgi-bin/index") {
            if let Some(n) = body
                .trim()
                .strip_prefix("count=")
                .and_then(|n| n.parse().ok())
            {
                return n;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("no count from the front on {addr}");
}

/// Names of the project's containers in `ps` (all states with `-a`).
fn names(d: &Daemon, dir: &Path, all: bool) -> Vec<String> {
    let mut args = vec!["ps", "--format", "{{.Name}}"];
    if all {
        args.push("-a");
    }
    let mut v: Vec<String> = ok(&compose(d, dir, &args))
        .lines()
        .map(String::from)
        .collect();
    v.sort();
    v
}

#[test]
fn lab_project_up_ps_logs_exec_run_scale_stop_start_down() {
    let d = setup();
    let port = free_port();
    let dir = lab_project(port);
    let p = dir.path();

    let out = compose(&d, p, &["up", "-d"]);
    ok(&out);
    let progress = text(&out.stderr);
    assert!(
        progress.contains("Network lab_default  Created"),
        "{progress}"
    );
    assert!(
        progress.contains("Container lab-front-1  Started"),
        "{progress}"
    );

    // ps: compose v2's table.
    let table = ok(&compose(&d, p, &["ps"]));
    let mut lines = table.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or("")
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        header,
        ["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"],
        "{table}"
    );
    assert!(
        table.contains(&format!("127.0.0.1:{port}->80/tcp")),
        "{table}"
    );
    assert_eq!(names(&d, p, false), ["lab-front-1", "lab-web-1"]);
    assert_eq!(ok(&compose(&d, p, &["ps", "--services"])), "front\nweb\n");
    assert_eq!(
        ok(&compose(&d, p, &["port", "front", "80"])).trim(),
        format!("127.0.0.1:{port}")
    );
    let ls = ok(&compose(&d, p, &["ls"]));
    assert!(ls.contains("lab") && ls.contains("running(2)"), "{ls}");

    // The front reaches web by its service name; the count lives in the volume.
    assert_eq!(hit(port), 1);
    assert_eq!(hit(port), 2);
    assert_eq!(
        ok(&compose(
            &d,
            p,
            &["exec", "-T", "web", "cat", "/data/count"]
        )),
        "2\n"
    );
    let code = compose(&d, p, &["exec", "-T", "web", "sh", "-c", "exit 3"]);
    assert_eq!(code.status.code(), Some(3));
    // Name resolution from a one-off container too, and `run --rm` leaves nothing.
    let run = ok(&compose(
        &d,
        p,
        &[
            "run",
            "--rm",
            "-T",
            "web",
            "sh",
            "-c",
            "cat /data/count; nslookup web 127.0.0.11 >/dev/null && echo resolved",
        ],
    ));
    assert_eq!(run, "2\nresolved\n");
    assert!(ok(&d.berth(&[
        "ps",
        "-aq",
        "--filter",
        "label=com.docker.compose.oneoff=True"
    ]))
    .is_empty());

    // logs, prefixed by the container's name without the project.
    let logs = ok(&compose(&d, p, &["logs", "--no-color", "web"]));
    assert!(logs.contains("web-1  | web ready"), "{logs}");
    let bare = ok(&compose(&d, p, &["logs", "--no-log-prefix", "web"]));
    assert_eq!(bare, "web ready\n");

    // scale up (v1's command) and down (`up --scale`).
    ok(&compose(&d, p, &["scale", "web=3"]));
    assert_eq!(
        names(&d, p, false),
        ["lab-front-1", "lab-web-1", "lab-web-2", "lab-web-3"]
    );
    assert_eq!(hit(port), 3);
    assert_eq!(
        ok(&compose(
            &d,
            p,
            &["exec", "-T", "--index", "3", "web", "cat", "/data/count"]
        )),
        "3\n"
    );
    ok(&compose(&d, p, &["up", "-d", "--scale", "web=1"]));
    assert_eq!(names(&d, p, false), ["lab-front-1", "lab-web-1"]);

    // stop / start.
    ok(&compose(&d, p, &["stop"]));
    assert!(names(&d, p, false).is_empty());
    let all = ok(&compose(
        &d,
        p,
        &["ps", "-a", "--format", "{{.Name}} {{.State}}"],
    ));
    assert!(all.contains("lab-web-1 exited"), "{all}");
    ok(&compose(&d, p, &["start"]));
    assert_eq!(names(&d, p, false), ["lab-front-1", "lab-web-1"]);
    assert_eq!(hit(port), 4);

    // down keeps the named volume; down -v removes it.
    ok(&compose(&d, p, &["down"]));
    assert!(names(&d, p, true).is_empty());
    assert!(!ok(&d.berth(&["network", "ls"])).contains("lab_default"));
    assert!(ok(&d.berth(&["volume", "ls", "-q"])).contains("lab_counter"));
    ok(&compose(&d, p, &["up", "-d"]));
    assert_eq!(hit(port), 5);
    ok(&compose(&d, p, &["down", "-v"]));
    assert!(!ok(&d.berth(&["volume", "ls", "-q"])).contains("lab_counter"));
    assert!(ok(&d.berth(&["ps", "-aq"])).is_empty());
}

/// Full IDs of a service's containers.
fn ids(d: &Daemon, dir: &Path, service: &str) -> String {
    ok(&compose(d, dir, &["ps", "-q", service]))
}

#[test]
fn up_again_recreates_only_the_edited_service() {
    let d = setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    let file = |greeting: &str| {
        format!(
            "name: conv\nservices:\n  a:\n    image: busybox\n    command: sleep 300\n    environment:\n      GREETING: {greeting}\n  b:\n    image: busybox\n    command: sleep 300\n"
        )
    };
    write(p, "compose.yaml", &file("hello"), false);
    ok(&compose(&d, p, &["up", "-d"]));
    let (a1, b1) = (ids(&d, p, "a"), ids(&d, p, "b"));
    assert!(!a1.is_empty() && !b1.is_empty());

    // Nothing changed: nothing recreated.
    let out = compose(&d, p, &["up", "-d"]);
    ok(&out);
    assert!(
        text(&out.stderr).contains("Container conv-a-1  Running"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!((ids(&d, p, "a"), ids(&d, p, "b")), (a1.clone(), b1.clone()));

    write(p, "compose.yaml", &file("bonjour"), false);
    let out = compose(&d, p, &["up", "-d"]);
    ok(&out);
    let progress = text(&out.stderr);
    assert!(
        progress.contains("Container conv-a-1  Recreate"),
        "{progress}"
    );
    assert!(!progress.contains("conv-b-1  Recreate"), "{progress}");
    let a2 = ids(&d, p, "a");
    assert_ne!(a2, a1, "a must be recreated");
    assert_eq!(ids(&d, p, "b"), b1, "b must be left alone");
    assert_eq!(
        ok(&compose(
            &d,
            p,
            &["exec", "-T", "a", "sh", "-c", "echo $GREETING"]
        )),
        "bonjour\n"
    );
    // The new container keeps the old one's name.
    assert_eq!(names(&d, p, false), ["conv-a-1", "conv-b-1"]);
    ok(&compose(&d, p, &["down"]));
}

#[test]
fn errors_are_reported_before_anything_is_created() {
    let d = setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    let nothing_made = |d: &Daemon| {
        assert!(ok(&d.berth(&["ps", "-aq"])).is_empty());
        assert!(ok(&d.berth(&["volume", "ls", "-q"])).is_empty());
        assert!(!ok(&d.berth(&["network", "ls"])).contains("bad_"));
    };

    // A typo in a key names the key and the file.
    write(
        p,
        "compose.yaml",
        "name: bad\nservices:\n  web:\n    imagee: busybox\nvolumes:\n  data:\n",
        false,
    );
    let err = fails(&compose(&d, p, &["up", "-d"]));
    assert!(err.contains("imagee"), "{err}");
    assert!(
        err.contains(&p.join("compose.yaml").display().to_string()),
        "{err}"
    );
    nothing_made(&d);

    // An undefined `:?` variable, with its message.
    write(
        p,
        "compose.yaml",
        "name: bad\nservices:\n  web:\n    image: ${WEB_IMAGE:?set WEB_IMAGE first}\nvolumes:\n  data:\n",
        false,
    );
    let err = fails(&compose(&d, p, &["up", "-d"]));
    assert!(
        err.contains("WEB_IMAGE") && err.contains("set WEB_IMAGE first"),
        "{err}"
    );
    nothing_made(&d);
    // `config -q` says the same, and accepts the file once the variable is set.
    fails(&compose(&d, p, &["config", "-q"]));
    let out = Command::new(berth_bin())
        .args(["-H", &d.host(), "compose", "config", "--services"])
        .current_dir(p)
        .env("WEB_IMAGE", "busybox")
        .output()
        .expect("run");
    assert_eq!(ok(&out), "web\n");
}

#[test]
fn attached_up_prefixes_output_and_aborts_on_exit() {
    let d = setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    write(
        p,
        "compose.yaml",
        "name: att\nservices:\n  a:\n    image: busybox\n    command: sh -c 'echo a-one; sleep 1; echo a-two; exit 3'\n  b:\n    image: busybox\n    init: true\n    command: sh -c 'echo b-one; sleep 300'\n",
        false,
    );
    let out = compose(&d, p, &["up", "--no-color", "--exit-code-from", "a"]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    for want in [
        "a-1  | a-one",
        "a-1  | a-two",
        "b-1  | b-one",
        "a-1 exited with code 3",
        "Aborting on container exit...",
    ] {
        assert!(stdout.contains(want), "{want:?} missing from:\n{stdout}");
    }
    // a-two comes after a-one: output is not lost or reordered.
    assert!(stdout.find("a-one") < stdout.find("a-two"));
    let all = ok(&compose(
        &d,
        p,
        &["ps", "-a", "--format", "{{.Service}} {{.State}}"],
    ));
    assert_eq!(all, "a exited\nb exited\n");

    // Ctrl-C stops the project gracefully.
    let mut child = Command::new(berth_bin())
        .args(["-H", &d.host(), "compose", "up", "--no-color"])
        .current_dir(p)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let start = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(l) if l.contains("b-1  | b-one") => break,
            Ok(_) => {}
            Err(e) => panic!("no output from b: {e}"),
        }
        assert!(start.elapsed() < Duration::from_secs(20));
    }
    signal(child.id(), rustix::process::Signal::INT);
    let out = child.wait_with_output().expect("wait");
    let err = text(&out.stderr);
    assert!(err.contains("Gracefully stopping..."), "{err}");
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(ok(&compose(&d, p, &["ps", "-q"])).is_empty());
    ok(&compose(&d, p, &["down"]));
}

/// docker-compose 1.29, if installed and working.
fn docker_compose() -> Option<String> {
    let bin =
        std::env::var("BERTH_TEST_DOCKER_COMPOSE").unwrap_or_else(|_| "docker-compose".into());
    let out = Command::new(&bin).arg("version").output().ok()?;
    out.status.success().then_some(bin)
}

#[test]
fn docker_compose_v1_and_berth_compose_share_a_project() {
    let Some(bin) = docker_compose() else {
        eprintln!(
            "SKIPPED: docker-compose is not installed (apt-get install docker-compose, Debian's 1.29.2)"
        );
        return;
    };
    let d = setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    write(
        p,
        "docker-compose.yml",
        "version: \"3.8\"\nservices:\n  web:\n    image: busybox\n    init: true\n    command: httpd -f -p 80 -h /\n  worker:\n    image: busybox\n    init: true\n    command: sh -c 'echo working; sleep 300'\n    volumes:\n      - data:/data\nvolumes:\n  data:\n",
        false,
    );
    let dc = |args: &[&str]| -> Output {
        Command::new(&bin)
            .args(["-p", "shared"])
            .args(args)
            .current_dir(p)
            .env("DOCKER_HOST", d.host())
            .env_remove("DOCKER_CONTEXT")
            .stdin(Stdio::null())
            .output()
            .expect("run docker-compose")
    };
    let bc = |args: &[&str]| -> Output {
        let mut all = vec!["-p", "shared"];
        all.extend_from_slice(args);
        compose(&d, p, &all)
    };
    // The lab's `config` checks, with docker-compose's own parser.
    let mut services: Vec<String> = ok(&dc(&["config", "--services"]))
        .lines()
        .map(String::from)
        .collect();
    services.sort();
    assert_eq!(services, ["web", "worker"]);
    assert_eq!(ok(&dc(&["config", "--volumes"])), "data\n");
    assert_eq!(ok(&dc(&["config", "-q"])), "");
    ok(&dc(&["up", "-d"]));
    let ps = ok(&dc(&["ps"]));
    assert!(
        ps.contains("shared_web_1") && ps.contains("shared_worker_1"),
        "{ps}"
    );
    ok(&dc(&["scale", "worker=2"]));
    ok(&dc(&["up", "-d", "--scale", "worker=3"]));
    let dc_names: Vec<String> = {
        let mut v: Vec<String> = ok(&dc(&["ps", "-q"]))
            .lines()
            .map(|id| {
                ok(&d.berth(&["inspect", "-f", "{{.Name}}", id]))
                    .trim()
                    .trim_start_matches('/')
                    .to_string()
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        dc_names,
        [
            "shared_web_1",
            "shared_worker_1",
            "shared_worker_2",
            "shared_worker_3"
        ]
    );
    // berth compose sees the same containers, by their labels.
    assert_eq!(
        names(&d, p, false).len(),
        0,
        "no project named after the directory"
    );
    let mut berth_names: Vec<String> = ok(&bc(&["ps", "--format", "{{.Name}}"]))
        .lines()
        .map(String::from)
        .collect();
    berth_names.sort();
    assert_eq!(berth_names, dc_names);
    assert_eq!(ok(&bc(&["ps", "--services"])), "web\nworker\n");
    let logs = ok(&bc(&["logs", "--no-color", "--index", "2", "worker"]));
    assert_eq!(logs, "worker_2  | working\n");
    let ls = ok(&bc(&["ls"]));
    assert!(ls.contains("running(4)"), "{ls}");
    // Each manages what the other made: stop with docker-compose, start
    // with berth, stop with berth, start with docker-compose.
    let logs = ok(&dc(&["logs", "--no-color", "worker"]));
    assert!(logs.contains("working"), "{logs}");
    ok(&dc(&["stop", "worker"]));
    let states = ok(&bc(&["ps", "-a", "--format", "{{.Name}} {{.State}}"]));
    assert!(states.contains("shared_worker_3 exited"), "{states}");
    assert!(states.contains("shared_web_1 running"), "{states}");
    ok(&bc(&["start"]));
    assert_eq!(ok(&bc(&["ps", "-q"])).lines().count(), 4);
    ok(&bc(&["stop", "worker"]));
    let ps = ok(&dc(&["ps"]));
    assert!(ps.contains("Exit"), "{ps}");
    ok(&dc(&["start"]));
    assert_eq!(ok(&bc(&["ps", "-q"])).lines().count(), 4);
    // berth's `down -v` takes all of it away, network and volume too.
    ok(&bc(&["down", "-v"]));
    assert!(ok(&dc(&["ps", "-q"])).trim().is_empty());
    assert!(ok(&d.berth(&["ps", "-aq"])).is_empty());
    assert!(!ok(&d.berth(&["volume", "ls", "-q"])).contains("shared_data"));
    assert!(!ok(&d.berth(&["network", "ls"])).contains("shared_default"));
}

/// `build:` services through `berth compose build` and `up --build
/// --wait` (a healthcheck gates the wait), `cp` both ways, `images`, and
/// `down --rmi local` removing the image it built.
#[test]
fn build_wait_cp_and_rmi_local() {
    let d = setup();
    let dir = tempfile::Builder::new()
        .prefix("berth-compose-")
        .tempdir()
        .expect("tempdir");
    let p = dir.path();
    write(p, "app/Dockerfile", "FROM busybox\nARG GREETING=hi\nCOPY msg.txt /msg.txt\nRUN echo \"$GREETING\" > /greeting\n", false);
    write(p, "app/msg.txt", "built by compose\n", false);
    write(
        p,
        "compose.yaml",
        "services:\n  app:\n    build:\n      context: app\n      args:\n        GREETING: hola\n    \
         command: [\"sh\", \"-c\", \"sleep 1; touch /ready; sleep 300\"]\n    init: true\n    \
         healthcheck:\n      test: [\"CMD\", \"test\", \"-f\", \"/ready\"]\n      interval: 1s\n      retries: 30\n",
        false,
    );
    let out = compose(&d, p, &["-p", "bw", "build"]);
    let built = ok(&out) + &text(&out.stderr);
    assert!(
        built.contains("Successfully built") || built.contains("bw-app"),
        "{built}"
    );
    let img = ok(&d.berth(&["images", "--format", "{{.Repository}}", "bw-app"]));
    assert_eq!(img.trim(), "bw-app");
    let start = Instant::now();
    ok(&compose(
        &d,
        p,
        &["-p", "bw", "up", "-d", "--build", "--wait"],
    ));
    // --wait returned once healthy, not before.
    assert!(start.elapsed() >= Duration::from_millis(900));
    let health = ok(&d.berth(&["inspect", "-f", "{{.State.Health.Status}}", "bw-app-1"]));
    assert_eq!(health.trim(), "healthy");
    assert_eq!(
        ok(&compose(
            &d,
            p,
            &[
                "-p",
                "bw",
                "exec",
                "-T",
                "app",
                "cat",
                "/msg.txt",
                "/greeting"
            ]
        )),
        "built by compose\nhola\n"
    );
    // cp out of and into the service's container.
    let got = p.join("got.txt");
    ok(&compose(
        &d,
        p,
        &["-p", "bw", "cp", "app:/msg.txt", got.to_str().unwrap()],
    ));
    assert_eq!(std::fs::read_to_string(&got).unwrap(), "built by compose\n");
    write(p, "in.txt", "copied in\n", false);
    ok(&compose(
        &d,
        p,
        &[
            "-p",
            "bw",
            "cp",
            p.join("in.txt").to_str().unwrap(),
            "app:/in.txt",
        ],
    ));
    assert_eq!(
        ok(&compose(
            &d,
            p,
            &["-p", "bw", "exec", "-T", "app", "cat", "/in.txt"]
        )),
        "copied in\n"
    );
    let imgs = ok(&compose(&d, p, &["-p", "bw", "images"]));
    assert!(imgs.contains("bw-app"), "{imgs}");
    ok(&compose(
        &d,
        p,
        &["-p", "bw", "down", "--rmi", "local", "-t", "1"],
    ));
    assert_eq!(
        ok(&d.berth(&["images", "-q", "bw-app"])).trim(),
        "",
        "down --rmi local removes the built image"
    );
    assert_eq!(ok(&d.berth(&["ps", "-aq"])).trim(), "");
}

/// Service name → container ID of a project, as the daemon lists them.
fn project_ids(d: &Daemon, project: &str) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for id in ok(&d.berth(&[
        "ps",
        "-aq",
        "--no-trunc",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
    ]))
    .lines()
    {
        let svc = ok(&d.berth(&[
            "inspect",
            "-f",
            "{{index .Config.Labels \"com.docker.compose.service\"}}",
            id,
        ]));
        out.insert(svc.trim().to_string(), id.to_string());
    }
    out
}

/// docker-compose 1.29 and `berth compose` agree on the config hash: an
/// `up -d` by one after an `up -d` by the other on the unchanged project
/// recreates nothing (same container IDs), both ways; a real change made
/// through one is then seen as up to date by the other.
#[test]
fn docker_compose_v1_and_berth_compose_keep_each_others_containers() {
    let Some(bin) = docker_compose() else {
        eprintln!(
            "SKIPPED: docker-compose is not installed (apt-get install docker-compose, Debian's 1.29.2)"
        );
        return;
    };
    let d = setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    let port = free_port();
    let file = |greeting: &str| {
        format!(
            r#"version: "3.8"
services:
  web:
    image: busybox
    init: true
    command: httpd -f -p 80 -h /www
    environment:
      GREETING: {greeting}
    ports:
      - "127.0.0.1:{port}:80"
    volumes:
      - ./www:/www:ro
      - data:/data
    labels:
      team: blue
    restart: unless-stopped
  worker:
    image: busybox
    init: true
    command: ["sh", "-c", "sleep 300"]
    depends_on: [web]
    healthcheck:
      test: ["CMD", "true"]
      interval: 30s
volumes:
  data:
"#
        )
    };
    write(p, "www/index.html", "hi\n", false);
    write(p, "docker-compose.yml", &file("hello"), false);
    let dc = |args: &[&str]| -> Output {
        Command::new(&bin)
            .args(["-p", "hashes"])
            .args(args)
            .current_dir(p)
            .env("DOCKER_HOST", d.host())
            .env_remove("DOCKER_CONTEXT")
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME")
            .stdin(Stdio::null())
            .output()
            .expect("run docker-compose")
    };
    let bc = |args: &[&str]| -> Output {
        let mut all = vec!["-p", "hashes"];
        all.extend_from_slice(args);
        compose(&d, p, &all)
    };

    // berth first, docker-compose second, berth again.
    ok(&bc(&["up", "-d"]));
    let first = project_ids(&d, "hashes");
    assert_eq!(first.len(), 2, "{first:?}");
    let out = dc(&["up", "-d"]);
    ok(&out);
    let err = text(&out.stderr);
    assert!(err.contains("is up-to-date"), "{err}");
    assert!(!err.contains("Recreating"), "{err}");
    assert_eq!(
        project_ids(&d, "hashes"),
        first,
        "docker-compose recreated:\n{err}"
    );
    let out = bc(&["up", "-d"]);
    ok(&out);
    assert!(
        !text(&out.stderr).contains("Recreate"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(project_ids(&d, "hashes"), first);

    // A change made through berth is up to date for docker-compose.
    write(p, "docker-compose.yml", &file("bonjour"), false);
    let out = bc(&["up", "-d"]);
    ok(&out);
    assert!(
        text(&out.stderr).contains("hashes-web-1  Recreate"),
        "{}",
        text(&out.stderr)
    );
    let changed = project_ids(&d, "hashes");
    assert_ne!(changed["web"], first["web"]);
    assert_eq!(changed["worker"], first["worker"]);
    let out = dc(&["up", "-d"]);
    ok(&out);
    assert_eq!(project_ids(&d, "hashes"), changed, "{}", text(&out.stderr));

    // docker-compose first, berth second, docker-compose again.
    ok(&bc(&["down", "-t", "1"]));
    assert!(project_ids(&d, "hashes").is_empty());
    ok(&dc(&["up", "-d"]));
    let made = project_ids(&d, "hashes");
    assert_eq!(made.len(), 2, "{made:?}");
    let out = bc(&["up", "-d"]);
    ok(&out);
    let err = text(&out.stderr);
    assert!(err.contains("hashes_web_1  Running"), "{err}");
    assert!(!err.contains("Recreate"), "{err}");
    assert_eq!(project_ids(&d, "hashes"), made);
    let out = dc(&["up", "-d"]);
    ok(&out);
    assert_eq!(project_ids(&d, "hashes"), made, "{}", text(&out.stderr));

    // A change made through docker-compose (its recreate reads the image's
    // ContainerConfig) is up to date for berth.
    write(p, "docker-compose.yml", &file("salut"), false);
    let out = dc(&["up", "-d"]);
    ok(&out);
    assert!(
        text(&out.stderr).contains("Recreating"),
        "{}",
        text(&out.stderr)
    );
    let redone = project_ids(&d, "hashes");
    assert_ne!(redone["web"], made["web"]);
    assert_eq!(redone["worker"], made["worker"]);
    let out = bc(&["up", "-d"]);
    ok(&out);
    assert!(
        !text(&out.stderr).contains("Recreate"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(project_ids(&d, "hashes"), redone);
    assert_eq!(
        ok(&bc(&["exec", "-T", "web", "sh", "-c", "echo $GREETING"])),
        "salut\n"
    );
    ok(&dc(&["down", "-v", "-t", "1"]));
    assert!(project_ids(&d, "hashes").is_empty());
}

/// A child's stdout lines, as they come.
fn line_reader(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// Reads lines until one contains `want`; returns everything read.
fn read_until(rx: &std::sync::mpsc::Receiver<String>, want: &str, seen: &mut Vec<String>) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(l) => {
                let hit = l.contains(want);
                seen.push(l);
                if hit {
                    return;
                }
            }
            Err(_) => break,
        }
    }
    panic!("{want:?} never came; got:\n{}", seen.join("\n"));
}

/// Attached `up` follows a container through the restarts its policy
/// makes, as compose v2 does: every run's output, an `exited with code`
/// line per exit, and the end once it stops for good.
#[test]
fn attached_up_follows_restarts() {
    let d = setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    write(
        p,
        "compose.yaml",
        "name: rst\nservices:\n  a:\n    image: busybox\n    restart: on-failure:2\n    command: [\"sh\", \"-c\", \"n=$$(cat /n 2>/dev/null || echo 0); n=$$((n+1)); echo $$n > /n; echo run $$n; sleep 0.3; echo end $$n; exit 3\"]\n",
        false,
    );
    let out = compose(&d, p, &["up", "--no-color"]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let want = [
        "a-1  | run 1",
        "a-1  | end 1",
        "a-1 exited with code 3",
        "a-1  | run 2",
        "a-1  | end 2",
        "a-1 exited with code 3",
        "a-1  | run 3",
        "a-1  | end 3",
        "a-1 exited with code 3",
    ];
    let got: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("a-1"))
        .collect();
    assert_eq!(got, want, "{stdout}");
    ok(&compose(&d, p, &["down"]));
}

/// `logs -f` picks up containers started after it (a scale from another
/// terminal), prints an `exited with code` line per exit, and ends when
/// every container has stopped, as compose v2 does.
#[test]
fn logs_follow_picks_up_new_containers() {
    let d = setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    write(
        p,
        "compose.yaml",
        "name: lf\nservices:\n  w:\n    image: busybox\n    init: true\n    command: [\"sh\", \"-c\", \"echo hello from $$HOSTNAME; sleep 300\"]\n",
        false,
    );
    ok(&compose(&d, p, &["up", "-d"]));
    let mut child = Command::new(berth_bin())
        .args(["-H", &d.host(), "compose", "logs", "-f", "--no-color"])
        .current_dir(p)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn logs -f");
    let rx = line_reader(&mut child);
    let mut seen = Vec::new();
    read_until(&rx, "w-1  | hello from", &mut seen);
    ok(&compose(&d, p, &["up", "-d", "--scale", "w=2"]));
    read_until(&rx, "w-2  | hello from", &mut seen);
    ok(&compose(&d, p, &["stop", "-t", "1"]));
    read_until(&rx, "exited with code", &mut seen);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "logs -f did not end:\n{}",
            seen.join("\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    seen.extend(rx.try_iter());
    assert!(status.success(), "{}", seen.join("\n"));
    for name in ["w-1", "w-2"] {
        assert!(
            seen.iter()
                .any(|l| l.starts_with(&format!("{name} exited with code"))),
            "{name}: {}",
            seen.join("\n")
        );
    }
    ok(&compose(&d, p, &["down", "-t", "1"]));
}

/// `berth registry serve` on a loopback port, killed on drop.
struct LoopbackRegistry {
    child: std::process::Child,
    port: u16,
    _root: tempfile::TempDir,
}

impl LoopbackRegistry {
    fn start() -> LoopbackRegistry {
        let root = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let child = Command::new(berth_bin())
            .args([
                "registry",
                "serve",
                "--addr",
                &format!("127.0.0.1:{port}"),
                "--root",
            ])
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("registry serve");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(15), "no registry");
            std::thread::sleep(Duration::from_millis(30));
        }
        LoopbackRegistry {
            child,
            port,
            _root: root,
        }
    }

    /// The tags of a repository, as the registry lists them.
    fn tags(&self, repo: &str) -> String {
        http_get(
            &format!("127.0.0.1:{}", self.port),
            &format!("/v2/{repo}/tags/list"),
        )
        .unwrap_or_default()
    }
}

impl Drop for LoopbackRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `compose push` sends the images of services that are built and named
/// (others are skipped, as compose v2 does) to a loopback registry;
/// `compose pull` brings them back, skips what the pull policy or a
/// present tagged image says, and `up --no-build` runs what it pulled.
#[test]
fn pull_and_push_through_a_loopback_registry() {
    let d = setup();
    let reg = LoopbackRegistry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    let r = format!("127.0.0.1:{}", reg.port);
    write(
        p,
        "app/Dockerfile",
        "FROM busybox\nRUN echo built > /built\n",
        false,
    );
    write(
        p,
        "compose.yaml",
        &format!(
            "name: pp\nservices:\n  app:\n    build: ./app\n    image: {r}/pp/app:1\n    init: true\n    command: sleep 300\n  base:\n    image: {r}/pp/base:1\n    init: true\n    command: sleep 300\n  local:\n    image: busybox\n    pull_policy: never\n    init: true\n    command: sleep 300\n"
        ),
        false,
    );
    // base is published by hand: compose push leaves image-only services alone.
    let base = format!("{r}/pp/base:1");
    ok(&d.berth(&["tag", "busybox", &base]));
    ok(&d.berth(&["push", &base]));
    ok(&compose(&d, p, &["build"]));
    let out = compose(&d, p, &["push"]);
    ok(&out);
    let err = text(&out.stderr);
    for want in [
        "base  Skipped",
        "local  Skipped",
        &format!("Pushing {r}/pp/app:1: "),
    ] {
        assert!(err.contains(want), "{want:?} missing from:\n{err}");
    }
    assert!(
        reg.tags("pp/app").contains("\"1\""),
        "{}",
        reg.tags("pp/app")
    );
    assert!(!reg.tags("pp/busybox").contains("\"latest\""));

    // Gone locally, back from the registry.
    ok(&d.berth(&["rmi", &format!("{r}/pp/app:1"), &base]));
    let out = compose(&d, p, &["pull"]);
    ok(&out);
    let err = text(&out.stderr);
    for want in ["app  Pulled", "base  Pulled", "local  Skipped"] {
        assert!(err.contains(want), "{want:?} missing from:\n{err}");
    }
    assert!(!ok(&d.berth(&["images", "-q", &format!("{r}/pp/app:1")])).is_empty());
    // A tagged image already present is left alone with --policy missing.
    let out = compose(&d, p, &["pull", "--policy", "missing", "app"]);
    ok(&out);
    assert!(
        text(&out.stderr).contains("app  Skipped - Image is already present locally"),
        "{}",
        text(&out.stderr)
    );
    ok(&compose(&d, p, &["up", "-d", "--no-build"]));
    assert_eq!(
        ok(&compose(&d, p, &["exec", "-T", "app", "cat", "/built"])),
        "built\n"
    );
    ok(&compose(&d, p, &["down", "-t", "1"]));
    // A registry that is not there fails the push, unless told to go on.
    write(
        p,
        "compose.yaml",
        &format!(
            "name: pp\nservices:\n  app:\n    build: ./app\n    image: 127.0.0.1:{}/pp/app:1\n",
            free_port()
        ),
        false,
    );
    ok(&compose(&d, p, &["build"]));
    fails(&compose(&d, p, &["push"]));
    ok(&compose(&d, p, &["push", "--ignore-push-failures"]));
}

/// `compose events`: the project's container events as compose v2 prints
/// them, JSON lines with `--json` (keys sorted, compose's labels left
/// out of the attributes), the plain form otherwise, one-off containers
/// left out.
#[test]
fn events_json_and_plain() {
    let d = setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    write(
        p,
        "compose.yaml",
        "name: ev\nservices:\n  e:\n    image: busybox\n    init: true\n    command: sleep 300\n    labels:\n      team: blue\n",
        false,
    );
    let spawn = |json: bool| {
        let mut args = vec!["-H", d.host().leak(), "compose", "events"];
        if json {
            args.push("--json");
        }
        Command::new(berth_bin())
            .args(&args)
            .current_dir(p)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn events")
    };
    let mut js = spawn(true);
    let mut plain = spawn(false);
    let js_rx = line_reader(&mut js);
    let plain_rx = line_reader(&mut plain);
    std::thread::sleep(Duration::from_millis(500));
    ok(&compose(&d, p, &["up", "-d"]));
    ok(&compose(&d, p, &["run", "--rm", "e", "true"]));
    ok(&compose(&d, p, &["stop", "-t", "1"]));

    let mut seen = Vec::new();
    read_until(&js_rx, "\"action\":\"stop\"", &mut seen);
    let events: Vec<serde_json::Value> = seen
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let actions: Vec<&str> = events.iter().filter_map(|e| e["action"].as_str()).collect();
    for want in ["create", "start", "kill", "die", "stop"] {
        assert!(actions.contains(&want), "{want} missing: {actions:?}");
    }
    let start = events
        .iter()
        .find(|e| e["action"] == "start")
        .expect("start");
    // Go's json.Marshal of a map: keys sorted.
    let keys: Vec<&String> = start.as_object().expect("object").keys().collect();
    assert_eq!(
        keys,
        ["action", "attributes", "id", "service", "time", "type"],
        "{start}"
    );
    assert_eq!(start["type"], "container");
    assert_eq!(start["service"], "e");
    assert_eq!(start["attributes"]["name"], "ev-e-1");
    assert_eq!(start["attributes"]["image"], "busybox");
    assert_eq!(start["attributes"]["team"], "blue");
    assert!(start["attributes"]
        .as_object()
        .expect("attributes")
        .keys()
        .all(|k| !k.starts_with("com.docker.compose.")));
    let id = start["id"].as_str().expect("id").to_string();
    assert_eq!(id.len(), 64);
    // RFC 3339, as Go writes a time.
    let t = start["time"].as_str().expect("time");
    assert!(chrono::DateTime::parse_from_rfc3339(t).is_ok(), "{t}");
    // The one-off container of `run` is not reported.
    for e in &events {
        assert_eq!(e["id"], id.as_str(), "a one-off's event: {e}");
    }

    let mut lines = Vec::new();
    read_until(&plain_rx, " container stop ", &mut lines);
    // `2006-01-02 15:04:05.000000 container ACTION ID (k=v, …)`
    let parse = |l: &str| -> Option<(String, String, String)> {
        let (date, rest) = l.split_at_checked(26)?;
        chrono::NaiveDateTime::parse_from_str(date, "%Y-%m-%d %H:%M:%S%.6f").ok()?;
        let rest = rest.strip_prefix(" container ")?;
        let (action, rest) = rest.split_once(' ')?;
        let (id, rest) = rest.split_once(' ')?;
        let attrs = rest.strip_prefix('(')?.strip_suffix(')')?;
        Some((action.to_string(), id.to_string(), attrs.to_string()))
    };
    let events: Vec<&String> = lines.iter().filter(|l| !l.is_empty()).collect();
    // Each event is followed by an empty line (compose v2 prints the
    // event's own newline, then Println's).
    assert_eq!(events.len() * 2, lines.len() + 1, "{lines:?}");
    for l in &events {
        let (_, eid, attrs) = parse(l).unwrap_or_else(|| panic!("not an event line: {l:?}"));
        assert_eq!(eid, id, "{l}");
        assert!(!attrs.contains("com.docker.compose."), "{l}");
    }
    assert!(
        events
            .iter()
            .any(|l| l.contains(" container start ") && l.contains("name=ev-e-1")),
        "{lines:?}"
    );
    for mut c in [js, plain] {
        let _ = c.kill();
        let _ = c.wait();
    }
    ok(&compose(&d, p, &["down"]));
}

/// `--compatibility`: docker-compose 1.x's names (`project_service_1`,
/// `project_service_run_…`), shown so by ps and logs, and managed by
/// `berth compose` without the flag too (by labels).
#[test]
fn compatibility_names() {
    let d = setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    write(
        p,
        "compose.yaml",
        "name: compat\nservices:\n  w:\n    image: busybox\n    init: true\n    command: [\"sh\", \"-c\", \"echo up; sleep 300\"]\n",
        false,
    );
    let out = compose(&d, p, &["--compatibility", "up", "-d", "--scale", "w=2"]);
    ok(&out);
    assert!(
        text(&out.stderr).contains("Container compat_w_2  Started"),
        "{}",
        text(&out.stderr)
    );
    let mut names: Vec<String> = ok(&d.berth(&["ps", "--format", "{{.Names}}"]))
        .lines()
        .map(String::from)
        .collect();
    names.sort();
    assert_eq!(names, ["compat_w_1", "compat_w_2"]);
    assert_eq!(
        ok(&compose(
            &d,
            p,
            &["--compatibility", "ps", "--format", "{{.Name}}"]
        )),
        "compat_w_1\ncompat_w_2\n"
    );
    let logs = ok(&compose(
        &d,
        p,
        &["--compatibility", "logs", "--no-color", "--index", "2", "w"],
    ));
    assert_eq!(logs, "w_2  | up\n");
    let run = ok(&compose(
        &d,
        p,
        &["--compatibility", "run", "-d", "w", "sleep", "30"],
    ));
    let run_name = ok(&d.berth(&["inspect", "-f", "{{.Name}}", run.trim()]));
    assert!(run_name.trim().starts_with("/compat_w_run_"), "{run_name}");
    // Without the flag, the same containers (found by their labels) are
    // left running and scaled with the names they have.
    let out = compose(&d, p, &["up", "-d", "--scale", "w=3"]);
    ok(&out);
    assert!(
        text(&out.stderr).contains("Container compat_w_1  Running"),
        "{}",
        text(&out.stderr)
    );
    // Sorted by name, as compose v2 lists them.
    assert_eq!(
        ok(&compose(&d, p, &["ps", "--format", "{{.Name}}"])),
        "compat-w-3\ncompat_w_1\ncompat_w_2\n"
    );
    ok(&compose(&d, p, &["down", "-t", "1", "--remove-orphans"]));
    assert!(ok(&d.berth(&["ps", "-aq"])).is_empty());
}

/// `down` stops (then removes) the containers of independent services at
/// once, dependents before what they depend on, as compose v2 walks the
/// graph: four services whose PID 1 ignores SIGTERM (each stop waits its
/// full timeout) take two timeouts, not four.
#[test]
fn down_stops_independent_services_at_once_dependents_first() {
    let d = setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    write(
        p,
        "compose.yaml",
        "name: par\nservices:\n  a:\n    image: busybox\n    command: sleep 300\n  b:\n    image: busybox\n    command: sleep 300\n  app:\n    image: busybox\n    command: sleep 300\n    depends_on: [db]\n  db:\n    image: busybox\n    command: sleep 300\n",
        false,
    );
    ok(&compose(&d, p, &["up", "-d"]));
    let start = Instant::now();
    let out = compose(&d, p, &["down", "-t", "2"]);
    let took = start.elapsed();
    ok(&out);
    let err = text(&out.stderr);
    // Sequential stops would take 4 × 2 s; two levels take 2 × 2 s.
    assert!(
        took < Duration::from_millis(6500),
        "down took {took:?}:\n{err}"
    );
    assert!(took >= Duration::from_secs(4), "down took {took:?}:\n{err}");
    let at = |s: &str| {
        err.find(s)
            .unwrap_or_else(|| panic!("{s:?} missing:\n{err}"))
    };
    assert!(at("par-app-1  Stopped") < at("par-db-1  Stopping"), "{err}");
    assert!(at("par-a-1  Stopping") < at("par-b-1  Stopped"), "{err}");
    assert!(at("par-b-1  Stopping") < at("par-a-1  Stopped"), "{err}");
    assert!(ok(&d.berth(&["ps", "-aq"])).is_empty());
    assert!(!ok(&d.berth(&["network", "ls"])).contains("par_default"));
}
