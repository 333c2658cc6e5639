//! Interactive containers as a user at a terminal drives them: `run -ti`,
//! detach and re-attach, resize, Ctrl-C, `exec` (with a TTY and without),
//! piped stdin, several attached clients and one that vanishes — with
//! berth's CLI and the real docker CLI, on real pseudo-terminals.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn inspect(d: &Daemon, name: &str, fmt: &str) -> String {
    ok(&d.berth(&["inspect", "-f", fmt, name]))
        .trim()
        .to_string()
}

/// A CLI (berth or docker) pointed at the daemon under test.
struct Cli {
    name: &'static str,
    program: String,
    pre: Vec<String>,
    env: Vec<(String, String)>,
}

impl Cli {
    fn all(d: &Daemon) -> Vec<Cli> {
        vec![
            Cli {
                name: "berth",
                program: berth_bin().to_string(),
                pre: vec!["-H".into(), d.host()],
                env: vec![],
            },
            Cli {
                name: "docker",
                program: docker_bin(),
                pre: vec![],
                env: vec![
                    ("DOCKER_HOST".into(), d.host()),
                    (
                        "DOCKER_CONFIG".into(),
                        d.dir.path().join("docker-config").display().to_string(),
                    ),
                ],
            },
        ]
    }

    fn pty(&self, args: &[&str], rows: u16, cols: u16) -> Pty {
        let mut a: Vec<&str> = self.pre.iter().map(String::as_str).collect();
        a.extend_from_slice(args);
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        Pty::spawn(&self.program, &a, &env, rows, cols)
    }
}

#[test]
fn terminal_sessions_detach_reattach_resize_interrupt() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest", &["CMD [\"sh\"]"]);
    for cli in Cli::all(&d) {
        let name = format!("tty-{}", cli.name);
        let mut t = cli.pty(&["run", "-ti", "--name", &name, "busybox", "sh"], 24, 80);
        t.expect("# ");
        let out = t.run("tty; stty size; echo T=$TERM");
        assert!(out.contains("/dev/pts/0"), "{}: {out}", cli.name);
        assert!(out.contains("24 80"), "{}: initial size: {out}", cli.name);
        assert!(out.contains("T=xterm"), "{}: {out}", cli.name);
        // A resize of the local terminal follows into the container.
        t.resize(31, 101);
        std::thread::sleep(Duration::from_millis(400));
        let out = t.run("stty size");
        assert!(out.contains("31 101"), "{}: after resize: {out}", cli.name);
        // Ctrl-C reaches the container's foreground process.
        t.send("sleep 60; echo slept\r");
        std::thread::sleep(Duration::from_millis(500));
        let begun = Instant::now();
        t.send("\x03");
        let out = t.run("echo interrupted");
        assert!(out.contains("interrupted"), "{}: {out}", cli.name);
        assert!(begun.elapsed() < Duration::from_secs(30), "{}", cli.name);
        assert!(!out.contains("\nslept"), "{}: {out}", cli.name);
        // Job control: the shell has its own session and terminal.
        // Ctrl-P Ctrl-Q detaches: the CLI returns 0, the shell lives on.
        t.send("\x10\x11");
        assert_eq!(t.wait(), 0, "{}: detach", cli.name);
        assert_eq!(inspect(&d, &name, "{{.State.Running}}"), "true");
        // Attach again, and the shell's exit status becomes the CLI's.
        let mut t = cli.pty(&["attach", &name], 24, 80);
        std::thread::sleep(Duration::from_millis(300));
        t.send("echo back-$((6*7))\r");
        t.expect("back-42");
        t.send("exit 7\r");
        assert_eq!(t.wait(), 7, "{}: attach exit code", cli.name);
        assert_eq!(inspect(&d, &name, "{{.State.ExitCode}}"), "7");
        // start -a -i re-attaches to a new run of the stopped container.
        let mut t = cli.pty(&["start", "-a", "-i", &name], 24, 80);
        std::thread::sleep(Duration::from_millis(300));
        t.run("echo restarted");
        t.send("exit 3\r");
        assert_eq!(t.wait(), 3, "{}: start -a -i", cli.name);
        // Custom detach keys.
        let mut t = cli.pty(
            &[
                "run",
                "-ti",
                "--detach-keys",
                "ctrl-a,x",
                "--name",
                &format!("{name}-k"),
                "busybox",
                "sh",
            ],
            24,
            80,
        );
        t.expect("# ");
        t.send("\x01x");
        assert_eq!(t.wait(), 0, "{}: custom detach keys", cli.name);
        assert_eq!(
            inspect(&d, &format!("{name}-k"), "{{.State.Running}}"),
            "true"
        );
    }
}

#[test]
fn exec_with_a_terminal_and_without() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest", &["CMD [\"sh\"]"]);
    ok(&d.berth(&["run", "-d", "--name", "web", "busybox", "sleep", "1000"]));
    for cli in Cli::all(&d) {
        let mut t = cli.pty(&["exec", "-ti", "web", "sh"], 20, 70);
        t.expect("# ");
        let out = t.run("tty; stty size; cat /proc/1/comm");
        assert!(out.contains("/dev/pts/"), "{}: {out}", cli.name);
        assert!(out.contains("20 70"), "{}: {out}", cli.name);
        assert!(
            out.contains("\nsleep"),
            "{}: exec sees the container's PID 1: {out}",
            cli.name
        );
        t.send("exit 5\r");
        assert_eq!(t.wait(), 5, "{}: exec exit code", cli.name);
    }
    // Without a terminal, with both CLIs.
    for (out, who) in [
        (
            d.berth(&["exec", "web", "sh", "-c", "echo out; echo err >&2; exit 3"]),
            "berth",
        ),
        (
            d.docker(&["exec", "web", "sh", "-c", "echo out; echo err >&2; exit 3"]),
            "docker",
        ),
    ] {
        assert_eq!(out.status.code(), Some(3), "{who}");
        assert_eq!(text(&out.stdout), "out\n", "{who}");
        assert_eq!(text(&out.stderr), "err\n", "{who}");
    }
    // The output ends well before the process: the exit code still counts.
    let late = "exec >&- 2>&-; sleep 1.5; exit 4";
    for (out, who) in [
        (d.berth(&["exec", "web", "sh", "-c", late]), "berth"),
        (d.docker(&["exec", "web", "sh", "-c", late]), "docker"),
    ] {
        assert_eq!(out.status.code(), Some(4), "{who}");
    }
    let out = d.berth_stdin(&["exec", "-i", "web", "cat"], b"piped through\n");
    assert_eq!(ok(&out), "piped through\n");
    let out = d.docker_stdin(&["exec", "-i", "web", "wc", "-c"], &vec![b'x'; 300_000]);
    assert_eq!(ok(&out).trim(), "300000");
    // User, working directory and environment.
    let out = ok(&d.berth(&[
        "exec",
        "-u",
        "nobody",
        "-w",
        "/tmp",
        "-e",
        "FOO=bar",
        "web",
        "sh",
        "-c",
        "id -u; pwd; echo $FOO; echo $HOSTNAME",
    ]));
    let id12 = inspect(&d, "web", "{{.Id}}")[..12].to_string();
    assert_eq!(out, format!("65534\n/tmp\nbar\n{id12}\n"));
    // The container's security setup applies to exec'd processes too.
    let init = ok(&d.berth(&["exec", "web", "cat", "/proc/1/status"]));
    let me = ok(&d.berth(&["exec", "web", "cat", "/proc/self/status"]));
    let field = |s: &str, k: &str| {
        s.lines()
            .find(|l| l.starts_with(k))
            .unwrap_or_default()
            .to_string()
    };
    for k in [
        "CapInh:",
        "CapPrm:",
        "CapEff:",
        "CapBnd:",
        "CapAmb:",
        "Seccomp:",
        "NoNewPrivs:",
    ] {
        assert_eq!(field(&init, k), field(&me, k), "{k}");
    }
    assert_eq!(field(&me, "Seccomp:"), "Seccomp:\t2");
    // CAP_SYS_ADMIN (lent to the init only to load the filter) is nowhere.
    let has_sys_admin = |s: &str, k: &str| {
        let hex = field(s, k);
        let v = u64::from_str_radix(hex.rsplit('\t').next().unwrap_or("0"), 16).unwrap_or(0);
        v & (1 << 21) != 0
    };
    for k in ["CapPrm:", "CapEff:", "CapBnd:"] {
        assert!(!has_sys_admin(&me, k), "{k} {me}");
        assert!(!has_sys_admin(&init, k), "{k} {init}");
    }
    let privileged = ok(&d.berth(&["exec", "--privileged", "web", "cat", "/proc/self/status"]));
    assert_ne!(field(&privileged, "CapEff:"), field(&me, "CapEff:"));
    assert!(has_sys_admin(&privileged, "CapEff:"), "{privileged}");
    // The exec'd process is in the container's cgroup.
    let cg_init = ok(&d.berth(&["exec", "web", "cat", "/proc/1/cgroup"]));
    let cg_me = ok(&d.berth(&["exec", "web", "cat", "/proc/self/cgroup"]));
    assert_eq!(cg_init, cg_me);
    // Detached exec: runs on after the CLI has returned.
    ok(&d.berth(&[
        "exec",
        "-d",
        "web",
        "sh",
        "-c",
        "sleep 0.3; touch /tmp/done",
    ]));
    std::thread::sleep(Duration::from_millis(1200));
    ok(&d.berth(&["exec", "web", "test", "-f", "/tmp/done"]));
    // Errors, as Docker gives them.
    let out = d.docker(&["exec", "web", "no-such-program"]);
    assert_eq!(out.status.code(), Some(127));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(all.contains("executable file not found in $PATH"), "{all}");
    let out = d.berth(&["exec", "-w", "/nope", "web", "true"]);
    assert_eq!(out.status.code(), Some(126));
    // As Docker, the failure comes on the exec's output stream.
    assert!(
        text(&out.stdout).contains("chdir to cwd"),
        "{}",
        text(&out.stdout)
    );
    let out = d.berth(&["exec", "-u", "ghost", "web", "true"]);
    assert!(!out.status.success());
    assert_eq!(out.status.code(), Some(126));
    assert!(
        text(&out.stdout).contains("unable to find user ghost"),
        "{}",
        text(&out.stdout)
    );
    ok(&d.berth(&["pause", "web"]));
    let err = fails(&d.docker(&["exec", "web", "true"]));
    assert!(
        err.contains("is paused, unpause the container before exec"),
        "{err}"
    );
    ok(&d.berth(&["unpause", "web"]));
    ok(&d.berth(&["create", "--name", "idle", "busybox"]));
    let err = fails(&d.berth(&["exec", "idle", "true"]));
    assert!(err.contains("is not running"), "{err}");
    let err = fails(&d.berth(&["exec", "ghost-container", "true"]));
    assert!(err.contains("No such container: ghost-container"), "{err}");
    // Exec instances through the API: inspect, and no second start.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = d.client();
        let created = c
            .call_json(
                hyper::Method::POST,
                "/containers/web/exec",
                Some(&serde_json::json!({"Cmd": ["sh", "-c", "exit 9"], "AttachStdout": true})),
            )
            .await
            .unwrap();
        let id = created["Id"].as_str().unwrap().to_string();
        let before = c.get_json(&format!("/exec/{id}/json")).await.unwrap();
        assert_eq!(before["Running"], false);
        assert!(before["ExitCode"].is_null());
        assert_eq!(before["ProcessConfig"]["entrypoint"], "sh");
        c.call_json(
            hyper::Method::POST,
            &format!("/exec/{id}/start"),
            Some(&serde_json::json!({"Detach": true})),
        )
        .await
        .unwrap();
        let mut after = serde_json::Value::Null;
        for _ in 0..100 {
            after = c.get_json(&format!("/exec/{id}/json")).await.unwrap();
            if after["ExitCode"].as_i64().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(after["ExitCode"], 9);
        assert_eq!(after["Running"], false);
        let again = c
            .call_json(
                hyper::Method::POST,
                &format!("/exec/{id}/start"),
                Some(&serde_json::json!({"Detach": true})),
            )
            .await;
        assert!(again.unwrap_err().to_string().contains("has already run"));
        let none = c.get_json("/exec/0000/json").await;
        assert!(none
            .unwrap_err()
            .to_string()
            .contains("No such exec instance"));
        let bad = c
            .call_json(
                hyper::Method::POST,
                "/containers/web/exec",
                Some(&serde_json::json!({"Cmd": []})),
            )
            .await;
        assert!(bad
            .unwrap_err()
            .to_string()
            .contains("No exec command specified"));
    });
    // Events of an exec.
    let events = d.event_actions(&["container=web"]);
    for a in [
        "exec_create: sh -c exit 9",
        "exec_start: sh -c exit 9",
        "exec_die",
    ] {
        assert!(events.contains(a), "no {a:?} in:\n{events}");
    }
}

#[test]
fn piped_streams_many_clients_and_a_vanishing_one() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest", &["CMD [\"sh\"]"]);
    // stdin EOF closes the container's stdin: cat ends, exit 0.
    let out = d.berth_stdin(&["run", "-i", "--rm", "busybox", "cat"], b"x\n");
    assert_eq!(ok(&out), "x\n");
    let out = d.docker_stdin(&["run", "-i", "--rm", "busybox", "cat"], b"y\n");
    assert_eq!(ok(&out), "y\n");
    // -a stdout: only stdout is attached.
    let out = d.berth(&[
        "run",
        "--rm",
        "-a",
        "stdout",
        "busybox",
        "sh",
        "-c",
        "echo o; echo e >&2",
    ]);
    assert_eq!(text(&out.stdout), "o\n");
    assert_eq!(text(&out.stderr), "");
    // Two clients attached at once; one is killed mid-stream.
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.1; done",
    ]));
    let attach = || {
        Command::new(berth_bin())
            .args(["-H", &d.host(), "attach", "--no-stdin", "ticker"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut a = attach();
    let mut b = attach();
    let mut ra = BufReader::new(a.stdout.take().unwrap());
    let mut rb = BufReader::new(b.stdout.take().unwrap());
    let mut line = String::new();
    ra.read_line(&mut line).unwrap();
    assert!(line.starts_with("tick "), "{line}");
    line.clear();
    rb.read_line(&mut line).unwrap();
    assert!(line.starts_with("tick "), "{line}");
    signal(a.id(), rustix::process::Signal::KILL);
    let _ = a.wait();
    // The other client and the container carry on.
    for _ in 0..5 {
        line.clear();
        rb.read_line(&mut line).unwrap();
        assert!(line.starts_with("tick "), "{line}");
    }
    assert_eq!(inspect(&d, "ticker", "{{.State.Running}}"), "true");
    let _ = b.kill();
    let _ = b.wait();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(inspect(&d, "ticker", "{{.State.Running}}"), "true");
    let logs = ok(&d.berth(&["logs", "--tail", "1", "ticker"]));
    assert!(logs.starts_with("tick "), "{logs}");
    ok(&d.berth(&["rm", "-f", "ticker"]));
}

#[test]
fn websocket_attach() {
    use futures::{SinkExt, StreamExt};
    let d = Daemon::start();
    d.import_busybox("busybox:latest", &["CMD [\"sh\"]"]);
    ok(&d.berth(&["run", "-d", "-i", "--name", "echoer", "busybox", "cat"]));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let stream = tokio::net::UnixStream::connect(&d.sock).await.unwrap();
        let req =
            "ws://localhost/v1.47/containers/echoer/attach/ws?stream=1&stdin=1&stdout=1&stderr=1";
        let (mut ws, resp) = tokio_tungstenite::client_async(req, stream).await.unwrap();
        assert_eq!(resp.status(), 101);
        ws.send(tokio_tungstenite::tungstenite::Message::Binary(
            b"over a websocket\n".to_vec().into(),
        ))
        .await
        .unwrap();
        let got = tokio::time::timeout(Duration::from_secs(10), async {
            let mut all = Vec::new();
            while let Some(Ok(m)) = ws.next().await {
                if let tokio_tungstenite::tungstenite::Message::Binary(b) = m {
                    all.extend_from_slice(&b);
                    if all.ends_with(b"\n") {
                        break;
                    }
                }
            }
            all
        })
        .await
        .unwrap();
        assert_eq!(got, b"over a websocket\n");
    });
    ok(&d.berth(&["rm", "-f", "echoer"]));
}

/// The user's own terminal around a session: its settings come back after
/// `run -ti`, the shell's exit status is the command's, job control works
/// inside, detach keys come from the CLI's config file, and detaching is
/// an event; an exec's terminal follows resizes and detaches too.
#[test]
fn terminal_restore_job_control_config_keys_and_detach_events() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest", &["CMD [\"sh\"]"]);
    let config = d.dir.path().join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    for cli in Cli::all(&d) {
        // Settings before and after, taken by the user's shell around the CLI.
        let state = d.dir.path().join(format!("stty-{}", cli.name));
        let mut cmdline: Vec<String> = vec![cli.program.clone()];
        cmdline.extend(cli.pre.iter().cloned());
        let script = format!(
            "stty -g > {s}.before; {cli} run -ti --rm busybox sh; echo rc=$?; stty -g > {s}.after",
            s = state.display(),
            cli = cmdline.join(" ")
        );
        let mut env: Vec<(&str, &str)> = cli
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let cfg = config.display().to_string();
        env.push(("DOCKER_CONFIG", &cfg));
        let mut t = Pty::spawn("/bin/sh", &["-c", &script], &env, 24, 80);
        t.expect("# ");
        // Job control: a foreground job stops with Ctrl-Z and resumes.
        t.send("sleep 100\r");
        std::thread::sleep(Duration::from_millis(500));
        t.send("\x1a");
        t.expect("Stopped");
        let out = t.run("jobs");
        assert!(out.contains("sleep 100"), "{}: jobs: {out}", cli.name);
        // Back to the foreground, then ended with Ctrl-C.
        t.send("fg\r");
        std::thread::sleep(Duration::from_millis(400));
        t.send("\x03");
        let out = t.run("jobs");
        assert!(
            !out.contains("[1]"),
            "{}: jobs after fg, ^C: {out}",
            cli.name
        );
        t.send("exit 4\r");
        t.expect("rc=4");
        assert_eq!(t.wait(), 0, "{}", cli.name);
        let before = std::fs::read_to_string(format!("{}.before", state.display())).unwrap();
        let after = std::fs::read_to_string(format!("{}.after", state.display())).unwrap();
        assert_eq!(before, after, "{}: the terminal was not restored", cli.name);

        // Detach keys from the CLI's config file (both CLIs read it).
        std::fs::write(config.join("config.json"), r#"{"detachKeys": "ctrl-e,e"}"#).unwrap();
        let name = format!("cfgkeys-{}", cli.name);
        let mut t = Pty::spawn(
            &cli.program,
            &[
                cli.pre.iter().map(String::as_str).collect::<Vec<_>>(),
                vec!["run", "-ti", "--name", &name, "busybox", "sh"],
            ]
            .concat(),
            &env,
            24,
            80,
        );
        t.expect("# ");
        // The default keys are now ordinary input.
        t.send("\x10\x11");
        t.run("echo still-here");
        t.send("\x05e");
        assert_eq!(t.wait(), 0, "{}: config detach keys", cli.name);
        assert_eq!(inspect(&d, &name, "{{.State.Running}}"), "true");
        std::fs::remove_file(config.join("config.json")).unwrap();

        // exec -ti follows a resize, and detaches as an event.
        let mut t = cli.pty(&["exec", "-ti", &name, "sh"], 20, 70);
        t.expect("# ");
        t.resize(33, 99);
        std::thread::sleep(Duration::from_millis(400));
        let out = t.run("stty size");
        assert!(out.contains("33 99"), "{}: exec resize: {out}", cli.name);
        t.send("\x10\x11");
        let code = t.wait();
        if cli.name == "docker" {
            // The docker CLI itself ends an exec session on the keys, with
            // "read escape sequence" and status 1; nothing reaches the daemon.
            assert!(code == 0 || code == 1, "docker: exec detach: {code}");
            ok(&d.berth(&["rm", "-f", &name]));
            continue;
        }
        assert_eq!(code, 0, "{}: exec detach", cli.name);
        let events = d.event_actions(&[&format!("container={name}")]);
        assert!(
            events.lines().any(|l| l == "detach"),
            "{}: no detach event in:\n{events}",
            cli.name
        );
        assert!(
            events.lines().any(|l| l == "exec_detach"),
            "{}: no exec_detach event in:\n{events}",
            cli.name
        );
        ok(&d.berth(&["rm", "-f", &name]));
    }
}

/// `--sig-proxy`: without a terminal the CLI passes the signals it gets to
/// the container (whose exit status it returns); with `--sig-proxy=false`
/// the container does not hear them.
#[test]
fn signals_are_proxied_unless_told_not_to() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest", &["CMD [\"sh\"]"]);
    let script = "trap 'echo got-int; exit 9' INT; echo ready; while :; do sleep 0.1; done";
    for cli in Cli::all(&d) {
        for proxy in [true, false] {
            let name = format!("sp-{}-{proxy}", cli.name);
            let flag = format!("--sig-proxy={proxy}");
            let mut cmd = Command::new(&cli.program);
            cmd.args(&cli.pre)
                .args(["run", &flag, "--name", &name, "busybox", "sh", "-c", script])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null());
            for (k, v) in &cli.env {
                cmd.env(k, v);
            }
            let mut child = cmd.spawn().unwrap();
            // A signal that never reaches the container must fail the test,
            // not hang it: the CLI is killed after a minute.
            let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let watchdog = {
                let (done, pid) = (done.clone(), child.id());
                std::thread::spawn(move || {
                    for _ in 0..600 {
                        if done.load(std::sync::atomic::Ordering::Acquire) {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    signal(pid, rustix::process::Signal::KILL);
                })
            };
            let mut out = BufReader::new(child.stdout.take().unwrap());
            let mut line = String::new();
            out.read_line(&mut line).unwrap();
            assert_eq!(line, "ready\n", "{name}");
            signal(child.id(), rustix::process::Signal::INT);
            if proxy {
                line.clear();
                out.read_line(&mut line).unwrap();
                assert_eq!(line, "got-int\n", "{name}");
                let st = child.wait().unwrap();
                assert_eq!(st.code(), Some(9), "{name}");
                assert_eq!(inspect(&d, &name, "{{.State.ExitCode}}"), "9");
            } else {
                // The container does not hear it (the CLI may stay or go:
                // docker's wants three).
                std::thread::sleep(Duration::from_millis(800));
                assert_eq!(inspect(&d, &name, "{{.State.Running}}"), "true", "{name}");
                let logs = ok(&d.berth(&["logs", &name]));
                assert!(!logs.contains("got-int"), "{name}: {logs}");
                let _ = child.kill();
                let _ = child.wait();
            }
            done.store(true, std::sync::atomic::Ordering::Release);
            let _ = watchdog.join();
            ok(&d.berth(&["rm", "-f", &name]));
        }
    }
}

/// `logs -f` follows until the container ends (both CLIs), `--tail 0 -f`
/// shows only what comes next, and `--since`/`--until` cut by time.
#[test]
fn logs_follow_until_exit_and_cut_by_time() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest", &["CMD [\"sh\"]"]);
    for cli in Cli::all(&d) {
        let name = format!("follow-{}", cli.name);
        ok(&d.berth(&[
            "run",
            "-d",
            "--name",
            &name,
            "busybox",
            "sh",
            "-c",
            "echo first; sleep 1; echo second; sleep 0.5; echo third >&2",
        ]));
        let mut cmd = Command::new(&cli.program);
        cmd.args(&cli.pre).args(["logs", "-f", &name]);
        for (k, v) in &cli.env {
            cmd.env(k, v);
        }
        let begun = Instant::now();
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", cli.name);
        // It waited for the lines still to come and ended with the container.
        assert_eq!(text(&out.stdout), "first\nsecond\n", "{}", cli.name);
        assert_eq!(text(&out.stderr), "third\n", "{}", cli.name);
        assert!(
            begun.elapsed() >= Duration::from_millis(900),
            "{}",
            cli.name
        );
        assert_eq!(inspect(&d, &name, "{{.State.Running}}"), "false");
    }
    // --tail 0 -f: only new lines.
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "later",
        "busybox",
        "sh",
        "-c",
        "echo old; sleep 1.5; echo new",
    ]));
    std::thread::sleep(Duration::from_millis(700));
    let out = ok(&d.berth(&["logs", "-f", "--tail", "0", "later"]));
    assert_eq!(out, "new\n");
    // --since / --until by timestamps the log itself records.
    let stamped = ok(&d.berth(&["logs", "-t", "later"]));
    let times: Vec<&str> = stamped
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(times.len(), 2, "{stamped}");
    let until = ok(&d.docker(&["logs", "--until", times[0], "later"]));
    assert_eq!(until, "old\n");
    let since = ok(&d.docker(&["logs", "--since", times[1], "later"]));
    assert_eq!(since, "new\n");
    let err = fails(&d.berth(&["logs", "--since", "yesterday-ish", "later"]));
    assert!(err.contains("yesterday-ish"), "{err}");
    // Rotation: max-size and max-file bound the files on disk; logs reads
    // across the rotated files in order.
    ok(&d.berth(&[
        "run",
        "--name",
        "rotated",
        "--log-opt",
        "max-size=2k",
        "--log-opt",
        "max-file=3",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 400 ]; do i=$((i+1)); echo line-$i; done",
    ]));
    let path = inspect(&d, "rotated", "{{.LogPath}}");
    let dir = std::path::Path::new(&path).parent().unwrap();
    let files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("-json.log"))
        .collect();
    assert!((2..=3).contains(&files.len()), "rotated into {files:?}");
    for f in &files {
        let size = std::fs::metadata(dir.join(f)).unwrap().len();
        assert!(size <= 2048 + 200, "{f} is {size} bytes");
    }
    let logs = ok(&d.berth(&["logs", "rotated"]));
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(lines.last(), Some(&"line-400"), "{logs}");
    assert!(
        !lines.contains(&"line-1"),
        "the oldest lines are rotated away"
    );
    let n: Vec<u32> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("line-")?.parse().ok())
        .collect();
    assert!(
        n.windows(2).all(|w| w[1] == w[0] + 1),
        "out of order: {logs}"
    );
    let tail = ok(&d.docker(&["logs", "--tail", "3", "rotated"]));
    assert_eq!(tail, "line-398\nline-399\nline-400\n");
    let err = fails(&d.berth(&["run", "--log-opt", "max-size=lots", "busybox", "true"]));
    assert!(err.contains("max-size"), "{err}");
}
