//! Containers for real: namespaces, overlay root, cgroup limits, security
//! defaults, the lifecycle, the shim surviving daemon restarts — checked from
//! inside the container and from the host, through the berth and docker CLIs.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn setup() -> Daemon {
    let d = Daemon::start();
    d.import_busybox("busybox:latest", &[r#"CMD ["sh"]"#]);
    d
}

fn inspect(d: &Daemon, name: &str, fmt: &str) -> String {
    ok(&d.berth(&["inspect", "-f", fmt, name]))
        .trim()
        .to_string()
}

fn wait_for(mut f: impl FnMut() -> bool, secs: u64) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn run_output_exit_codes_and_errors() {
    let d = setup();
    let out = d.berth(&["run", "--rm", "busybox", "echo", "hello world"]);
    assert_eq!(ok(&out), "hello world\n");
    let out = d.berth(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(text(&out.stdout), "out\n");
    assert_eq!(text(&out.stderr), "err\n");
    // Docker's exit codes for a command that cannot run.
    let out = d.docker(&["run", "--rm", "busybox", "nonexistent"]);
    assert_eq!(out.status.code(), Some(127), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(r#"exec: "nonexistent": executable file not found in $PATH"#),
        "{}",
        text(&out.stderr)
    );
    let out = d.docker(&["run", "--rm", "busybox", "/etc/passwd"]);
    assert_eq!(out.status.code(), Some(126), "{}", text(&out.stderr));
    // --rm removed them all, failed starts included.
    assert_eq!(ok(&d.berth(&["ps", "-aq"])).trim(), "");
    // stdin piped through (-i), closed at EOF.
    let out = d.berth_stdin(&["run", "-i", "--rm", "busybox", "cat"], b"piped\n");
    assert_eq!(ok(&out), "piped\n");
    let out = d.docker_stdin(&["run", "-i", "--rm", "busybox", "wc", "-l"], b"a\nb\nc\n");
    assert_eq!(ok(&out).trim(), "3");
    // Bad input changes nothing.
    let err = fails(&d.berth(&["run", "--rm", "-m", "1k", "busybox", "true"]));
    assert!(err.contains("Minimum memory limit allowed is 6MB"), "{err}");
    let err = fails(&d.berth(&["run", "--rm", "--restart", "always", "busybox", "true"]));
    assert!(
        err.contains("Conflicting options: --restart and --rm"),
        "{err}"
    );
    let err = fails(&d.berth(&["run", "--cap-add", "BOGUS", "busybox", "true"]));
    assert!(err.contains("unknown capability"), "{err}");
    let err = fails(&d.docker(&["run", "--rm", "nosuchimage:1", "true"]));
    assert!(
        err.contains("Unable to find image 'nosuchimage:1' locally"),
        "{err}"
    );
    assert_eq!(ok(&d.berth(&["ps", "-aq"])).trim(), "");
}

#[test]
fn isolation_seen_from_inside() {
    let d = setup();
    let out = ok(&d.berth(&[
        "run",
        "--name",
        "iso",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo pid=$$; hostname; grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status; \
         awk '$2==\"/\" {print $3}' /proc/mounts; wc -c < /proc/timer_list; \
         touch /proc/sys/kernel/x 2>/dev/null && echo procsys-writable || echo procsys-ro; \
         ls /dev; ip link 2>/dev/null | grep -c '^[0-9]' || cat /proc/net/dev | tail -n +3 | wc -l",
    ]));
    let id = inspect(&d, "iso", "{{.Id}}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "pid=1", "{out}");
    assert_eq!(lines[1], &id[..12], "hostname is the short ID: {out}");
    assert!(
        out.contains("CapEff:\t00000000a80425fb"),
        "Docker's default capabilities: {out}"
    );
    assert!(out.contains("Seccomp:\t2"), "seccomp filter on: {out}");
    assert!(out.contains("NoNewPrivs:\t0"), "{out}");
    assert!(lines.contains(&"overlay"), "root is an overlay: {out}");
    assert!(lines.contains(&"0"), "/proc/timer_list is masked: {out}");
    assert!(out.contains("procsys-ro"), "{out}");
    for dev in [
        "null", "zero", "random", "urandom", "tty", "full", "pts", "shm",
    ] {
        assert!(lines.contains(&dev), "/dev/{dev} missing: {out}");
    }
    // Only the loopback interface: its own network namespace.
    assert_eq!(*lines.last().unwrap(), "1", "{out}");
    // Security flags change what the process gets.
    let out = ok(&d.berth(&[
        "run",
        "--rm",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "busybox",
        "grep",
        "-E",
        "^(CapEff|NoNewPrivs)",
        "/proc/self/status",
    ]));
    assert!(
        out.contains("CapEff:\t0000000000000000") && out.contains("NoNewPrivs:\t1"),
        "{out}"
    );
    let out = ok(&d.berth(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "grep",
        "^Seccomp:",
        "/proc/self/status",
    ]));
    assert_eq!(out.trim(), "Seccomp:\t0");
    let out = ok(&d.berth(&[
        "run",
        "--rm",
        "--privileged",
        "busybox",
        "grep",
        "^CapEff",
        "/proc/self/status",
    ]));
    assert!(
        !out.contains("00000000a80425fb") && !out.contains("0000000000000000"),
        "{out}"
    );
    // The default seccomp profile refuses what Docker refuses (unshare needs CAP_SYS_ADMIN).
    let out = d.berth(&["run", "--rm", "busybox", "unshare", "-n", "true"]);
    assert!(
        !out.status.success(),
        "unshare must be refused: {}",
        text(&out.stderr)
    );
    // Read-only root, user, env, workdir, entrypoint.
    let out = d.berth(&["run", "--rm", "--read-only", "busybox", "touch", "/x"]);
    assert!(
        text(&out.stderr).contains("Read-only file system"),
        "{}",
        text(&out.stderr)
    );
    let out = ok(&d.berth(&[
        "run",
        "--rm",
        "-u",
        "nobody",
        "-e",
        "A=1",
        "-w",
        "/tmp",
        "busybox",
        "sh",
        "-c",
        "id -u; echo $A; pwd",
    ]));
    assert_eq!(out, "65534\n1\n/tmp\n");
    let out = ok(&d.berth(&["run", "--rm", "-u", "1234:5678", "busybox", "id"]));
    assert_eq!(out.trim(), "uid=1234 gid=5678 groups=5678");
    // HOME as Docker sets it: the user's home in the image's /etc/passwd,
    // / for a user it does not list; one given with -e wins. An exec gets
    // its own user's.
    for (args, home) in [
        (&[][..], "/root"),
        (&["-u", "nobody"][..], "/home"),
        (&["-u", "1234"][..], "/"),
        (&["-e", "HOME=/data"][..], "/data"),
    ] {
        let mut cmd = vec!["run", "--rm"];
        cmd.extend_from_slice(args);
        cmd.extend_from_slice(&["busybox", "sh", "-c", "echo $HOME"]);
        assert_eq!(ok(&d.docker(&cmd)).trim(), home, "run {args:?}");
    }
    ok(&d.berth(&["run", "-d", "--name", "homes", "busybox", "sleep", "30"]));
    let out = ok(&d.docker(&["exec", "homes", "sh", "-c", "echo $HOME"]));
    assert_eq!(out.trim(), "/root");
    let out = ok(&d.docker(&["exec", "-u", "nobody", "homes", "sh", "-c", "echo $HOME"]));
    assert_eq!(out.trim(), "/home");
    ok(&d.berth(&["rm", "-f", "homes"]));
    // Without a network, the loopback is up with its address, as Docker's.
    let out = ok(&d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ip",
        "addr",
        "show",
        "lo",
    ]));
    assert!(
        out.contains(",UP") && out.contains("inet 127.0.0.1/8"),
        "{out}"
    );
    let out = ok(&d.berth(&[
        "run",
        "--rm",
        "--entrypoint",
        "echo",
        "busybox",
        "via",
        "entrypoint",
    ]));
    assert_eq!(out, "via entrypoint\n");
    let out = ok(&d.berth(&[
        "run",
        "--rm",
        "--hostname",
        "h1",
        "--add-host",
        "db:10.1.2.3",
        "--dns",
        "192.0.2.53",
        "busybox",
        "sh",
        "-c",
        "hostname; grep db /etc/hosts; cat /etc/resolv.conf",
    ]));
    assert!(
        out.starts_with("h1\n10.1.2.3\tdb\n") && out.contains("nameserver 192.0.2.53"),
        "{out}"
    );
    // --init: tini is PID 1 and the command runs under it.
    let out = ok(&d.berth(&[
        "run",
        "--rm",
        "--init",
        "busybox",
        "sh",
        "-c",
        "tr '\\0' ' ' < /proc/1/cmdline; echo; echo $$",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("/sbin/docker-init -- sh -c"), "{out}");
    assert_ne!(
        lines[1], "1",
        "the command is not PID 1 under --init: {out}"
    );
    let err = fails(&d.berth(&["run", "--rm", "-u", "ghost", "busybox", "true"]));
    assert!(err.contains("unable to find user ghost"), "{err}");
    // A bind mount and a tmpfs.
    let host = d.dir.path().join("shared");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("in.txt"), "from host").unwrap();
    let bind = format!("{}:/data", host.display());
    let out = ok(&d.berth(&["run", "--rm", "-v", &bind, "--tmpfs", "/scratch", "busybox", "sh", "-c", "cat /data/in.txt; echo back > /data/out.txt; awk '$2==\"/scratch\" {print $3}' /proc/mounts"]));
    assert_eq!(out, "from hosttmpfs\n");
    assert_eq!(
        std::fs::read_to_string(host.join("out.txt")).unwrap(),
        "back\n"
    );
}

#[test]
fn cgroup_limits_read_back_and_enforced() {
    let d = setup();
    let out = ok(&d.berth(&[
        "run", "--rm", "-m", "64m", "--memory-swap", "128m", "--cpus", "0.5", "--cpu-shares", "512", "--pids-limit", "40",
        "--cpuset-cpus", "0", "busybox", "sh", "-c",
        "cd /sys/fs/cgroup; cat memory/memory.limit_in_bytes memory/memory.memsw.limit_in_bytes cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us cpu/cpu.shares pids/pids.max cpuset/cpuset.cpus 2>&1",
    ]));
    let v: Vec<&str> = out.lines().collect();
    assert_eq!(v[0], (64u64 << 20).to_string(), "{out}");
    assert_eq!(v[2], "50000", "{out}");
    assert_eq!(v[3], "100000", "{out}");
    assert_eq!(v[4], "512", "{out}");
    assert_eq!(v[5], "40", "{out}");
    assert_eq!(v[6], "0", "{out}");
    // Visible in inspect as Docker shows them.
    ok(&d.berth(&[
        "create",
        "--name",
        "lim",
        "-m",
        "64m",
        "--cpus",
        "1.5",
        "--pids-limit",
        "7",
        "busybox",
        "true",
    ]));
    assert_eq!(
        inspect(
            &d,
            "lim",
            "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}"
        ),
        "67108864 1500000000 7"
    );
    // update changes limits live, read back from inside and in inspect.
    ok(&d.berth(&[
        "run", "-d", "--name", "upd", "-m", "64m", "busybox", "sleep", "1000",
    ]));
    ok(&d.docker(&[
        "update",
        "--memory",
        "96m",
        "--memory-swap",
        "192m",
        "--cpus",
        "0.25",
        "--pids-limit",
        "9",
        "upd",
    ]));
    assert_eq!(
        inspect(
            &d,
            "upd",
            "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}"
        ),
        "100663296 250000000 9"
    );
    let id = inspect(&d, "upd", "{{.Id}}");
    let read = |p: &str| {
        std::fs::read_to_string(format!("/sys/fs/cgroup/{p}"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    if std::path::Path::new("/sys/fs/cgroup/memory").is_dir() {
        assert_eq!(
            read(&format!("memory/berth/{id}/memory.limit_in_bytes")),
            "100663296"
        );
        assert_eq!(read(&format!("cpu/berth/{id}/cpu.cfs_quota_us")), "25000");
        assert_eq!(read(&format!("pids/berth/{id}/pids.max")), "9");
    }
    let err = fails(&d.berth(&["update", "--memory", "1k", "upd"]));
    assert!(err.contains("Minimum memory limit allowed is 6MB"), "{err}");
    assert_eq!(
        inspect(&d, "upd", "{{.HostConfig.Memory}}"),
        "100663296",
        "a refused update changes nothing"
    );
    // stats: memory and pids from the cgroup, the limit as set.
    let out = ok(&d.docker(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.MemUsage}} {{.PIDs}}",
        "upd",
    ]));
    let f: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(f[0], "upd", "{out}");
    assert_eq!(f[3], "96MiB", "the limit set by update: {out}");
    assert_eq!(f[4], "1", "{out}");
    let out = ok(&d.berth(&["stats", "--no-stream", "upd"]));
    assert!(
        out.starts_with("CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT"),
        "{out}"
    );
    ok(&d.berth(&["rm", "-f", "upd"]));
    // The pids limit holds: forks beyond it fail.
    let out = d.berth(&[
        "run",
        "--rm",
        "--pids-limit",
        "5",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8; do sleep 2 & done; wait; echo done",
    ]);
    assert!(
        text(&out.stderr).contains("can't fork")
            || text(&out.stderr).contains("Resource temporarily unavailable"),
        "{}",
        text(&out.stderr)
    );
    // An OOM kill shows as OOMKilled and 137.
    let out = d.berth(&[
        "run",
        "--name",
        "oom",
        "-m",
        "8m",
        "--memory-swap",
        "8m",
        "busybox",
        "sh",
        "-c",
        "tail /dev/zero",
    ]);
    assert_eq!(out.status.code(), Some(137), "{}", text(&out.stderr));
    assert_eq!(
        inspect(&d, "oom", "{{.State.OOMKilled}} {{.State.ExitCode}}"),
        "true 137"
    );
}

#[test]
fn lifecycle_with_the_docker_cli() {
    let d = setup();
    let id = ok(&d.docker(&["run", "-d", "--name", "web", "-l", "app=demo", "busybox", "sh", "-c", "trap 'echo bye; exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done"])).trim().to_string();
    assert_eq!(id.len(), 64);
    let ps = ok(&d.docker(&["ps"]));
    assert!(ps.starts_with("CONTAINER ID   IMAGE     COMMAND"), "{ps}");
    assert!(
        ps.contains(&id[..12]) && ps.contains("Up ") && ps.contains("web"),
        "{ps}"
    );
    let ps = ok(&d.docker(&[
        "ps",
        "--filter",
        "label=app=demo",
        "--format",
        "{{.Names}} {{.State}}",
    ]));
    assert_eq!(ps.trim(), "web running");
    assert!(wait_for(
        || ok(&d.docker(&["logs", "web"])).contains("tick 3"),
        10
    ));
    let logs = ok(&d.docker(&["logs", "--tail", "1", "web"]));
    assert_eq!(logs.lines().count(), 1);
    let logs = ok(&d.berth(&["logs", "-t", "web"]));
    assert!(logs.lines().next().unwrap().contains("Z tick 0"), "{logs}");
    // Name conflict: 409 naming the other container.
    let err = fails(&d.docker(&["run", "-d", "--name", "web", "busybox", "true"]));
    assert!(
        err.contains(&format!(
            "Conflict. The container name \"/web\" is already in use by container \"{id}\""
        )),
        "{err}"
    );
    // rm of a running container refuses.
    let err = fails(&d.docker(&["rm", "web"]));
    assert!(
        err.contains("cannot remove container \"/web\": container is running"),
        "{err}"
    );
    // top lists the container's processes (and only those).
    let top = ok(&d.docker(&["top", "web"]));
    assert!(
        top.starts_with("UID") && top.contains("PID") && top.contains("CMD"),
        "{top}"
    );
    assert!(top.contains("sh -c trap"), "{top}");
    assert!(!top.contains("berth daemon"), "{top}");
    // Pause freezes, unpause thaws.
    ok(&d.docker(&["pause", "web"]));
    assert_eq!(
        inspect(&d, "web", "{{.State.Status}} {{.State.Paused}}"),
        "paused true"
    );
    ok(&d.docker(&["unpause", "web"]));
    assert_eq!(inspect(&d, "web", "{{.State.Status}}"), "running");
    // Stop delivers SIGTERM (the trap runs) and records the exit.
    ok(&d.docker(&["stop", "web"]));
    assert_eq!(
        inspect(&d, "web", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 0"
    );
    assert!(ok(&d.docker(&["logs", "web"])).contains("bye"));
    // Restart, rename, wait, kill.
    ok(&d.docker(&["start", "web"]));
    assert_eq!(inspect(&d, "web", "{{.State.Running}}"), "true");
    ok(&d.docker(&["rename", "web", "web2"]));
    ok(&d.docker(&["kill", "web2"]));
    let out = ok(&d.docker(&["wait", "web2"]));
    assert_eq!(out.trim(), "137");
    // diff: what the writable layer changed, Docker's letters.
    ok(&d.berth(&[
        "run",
        "--name",
        "changer",
        "busybox",
        "sh",
        "-c",
        "touch /tmp/new; rm /etc/group",
    ]));
    let diff = ok(&d.docker(&["diff", "changer"]));
    assert_eq!(diff, "C /etc\nD /etc/group\nC /tmp\nA /tmp/new\n");
    ok(&d.berth(&["rm", "changer"]));
    // A container that changes nothing has no changes, and its own layer
    // stays empty: its mount points (/etc/hosts, ...) and /.dockerenv come
    // from the init layer below it, as Docker's.
    let out = ok(&d.berth(&[
        "run",
        "--name",
        "quiet",
        "busybox",
        "sh",
        "-c",
        "test -f /.dockerenv && echo dockerenv; readlink /etc/mtab; grep -c \"$(hostname)\" /etc/hosts",
    ]));
    assert_eq!(out, "dockerenv\n/proc/mounts\n1\n");
    assert_eq!(ok(&d.docker(&["diff", "quiet"])), "");
    let upper = d
        .data_root()
        .join("containers")
        .join(inspect(&d, "quiet", "{{.Id}}"))
        .join("upper");
    assert_eq!(std::fs::read_dir(&upper).unwrap().count(), 0, "{upper:?}");
    ok(&d.berth(&["rm", "quiet"]));
    // commit (lab 8): the changes become a layer of a new image.
    ok(&d.berth(&[
        "run",
        "--name",
        "maker",
        "busybox",
        "sh",
        "-c",
        "echo made > /hello; rm /etc/group; mkdir -p /srv/app",
    ]));
    let img = ok(&d.docker(&[
        "commit",
        "-m",
        "lab 8",
        "-c",
        "WORKDIR /srv/app",
        "-c",
        r#"CMD ["cat", "/hello"]"#,
        "maker",
        "mynginx:2.0",
    ]))
    .trim()
    .to_string();
    assert!(img.starts_with("sha256:"), "{img}");
    assert_eq!(ok(&d.docker(&["run", "--rm", "mynginx:2.0"])), "made\n");
    let out = ok(&d.berth(&[
        "run",
        "--rm",
        "mynginx:2.0",
        "sh",
        "-c",
        "pwd; test -e /etc/group && echo present || echo gone",
    ]));
    assert_eq!(out, "/srv/app\ngone\n");
    let hist = ok(&d.berth(&["history", "--format", "{{.Comment}}", "mynginx:2.0"]));
    assert_eq!(hist.lines().next(), Some("lab 8"), "{hist}");
    assert_eq!(inspect(&d, "mynginx:2.0", "{{len .RootFS.Layers}}"), "2");
    // A running container is paused while its changes are read (Docker's
    // pause/unpause events), unless --pause=false; it runs on afterwards.
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "while true; do date +%s%N > /tick.new; mv /tick.new /tick; sleep 0.01; done",
    ]));
    ok(&d.docker(&["commit", "ticker", "ticked:1"]));
    ok(&d.docker(&["commit", "--pause=false", "ticker", "ticked:2"]));
    let actions = d.event_actions(&[
        "container=ticker",
        "event=pause",
        "event=unpause",
        "event=commit",
    ]);
    assert_eq!(
        actions.lines().collect::<Vec<_>>(),
        ["pause", "unpause", "commit", "commit"],
        "{actions}"
    );
    assert_eq!(inspect(&d, "ticker", "{{.State.Status}}"), "running");
    let tick = |img: &str| ok(&d.berth(&["run", "--rm", img, "cat", "/tick"]));
    assert!(!tick("ticked:1").trim().is_empty());
    assert!(!tick("ticked:2").trim().is_empty());
    ok(&d.berth(&["rm", "-f", "ticker"]));
    // export: the whole filesystem of a stopped container, changes included.
    let tar = d.dir.path().join("maker.tar");
    ok(&d.docker(&["export", "-o", tar.to_str().unwrap(), "maker"]));
    let mut names = Vec::new();
    for e in tar::Archive::new(std::fs::File::open(&tar).unwrap())
        .entries()
        .unwrap()
    {
        names.push(e.unwrap().path().unwrap().display().to_string());
    }
    assert!(
        names.iter().any(|n| n == "hello") && names.iter().any(|n| n == "bin/busybox"),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n == "etc/group"),
        "deleted files are not exported"
    );
    assert!(
        mounts_with(&inspect(&d, "maker", "{{.Id}}")).is_empty(),
        "export left the rootfs mounted"
    );
    ok(&d.berth(&["rm", "maker"]));
    // A container's image cannot be removed under it.
    let err = fails(&d.docker(&["rmi", "busybox"]));
    assert!(
        err.contains("container") && err.contains("is using its referenced image"),
        "{err}"
    );
    // Removal leaves nothing behind: no mount, no cgroup, no directory.
    ok(&d.docker(&["rm", "web2"]));
    assert!(mounts_with(&id).is_empty(), "{:?}", mounts_with(&id));
    assert!(!std::path::Path::new(&format!("/sys/fs/cgroup/memory/berth/{id}")).exists());
    assert!(!d.data_root().join("containers").join(&id).exists());
    let err = fails(&d.docker(&["inspect", "web2"]));
    assert!(err.contains("No such object: web2"), "{err}");
}

#[test]
fn health_checks() {
    let d = setup();
    ok(&d.docker(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "test -f /tmp/ready",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "busybox",
        "sh",
        "-c",
        "sleep 1; touch /tmp/ready; sleep 1000",
    ]));
    assert_eq!(inspect(&d, "hc", "{{.State.Health.Status}}"), "starting");
    assert!(
        wait_for(
            || inspect(&d, "hc", "{{.State.Health.Status}}") == "healthy",
            15
        ),
        "{}",
        inspect(&d, "hc", "{{json .State.Health}}")
    );
    let ps = ok(&d.docker(&[
        "ps",
        "--filter",
        "health=healthy",
        "--format",
        "{{.Names}} {{.Status}}",
    ]));
    assert!(ps.starts_with("hc Up ") && ps.contains("(healthy)"), "{ps}");
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "sick",
        "--health-cmd",
        "echo nope; exit 1",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "busybox",
        "sleep",
        "1000",
    ]));
    assert!(wait_for(
        || inspect(&d, "sick", "{{.State.Health.Status}}") == "unhealthy",
        15
    ));
    let log = inspect(&d, "sick", "{{(index .State.Health.Log 0).Output}}");
    assert_eq!(log, "nope");
    assert!(
        inspect(&d, "sick", "{{.State.Health.FailingStreak}}")
            .parse::<u32>()
            .unwrap()
            >= 2
    );
    let until = (chrono::Utc::now().timestamp() + 1).to_string();
    let ev = ok(&d.berth(&[
        "events",
        "--since",
        "1m",
        "--until",
        &until,
        "--filter",
        "container=sick",
        "--format",
        "{{.Action}}",
    ]));
    assert!(ev.lines().any(|l| l == "health_status: unhealthy"), "{ev}");
}

#[test]
fn restart_policies_and_prune() {
    let d = setup();
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 5",
    ]));
    assert!(
        wait_for(
            || inspect(&d, "flaky", "{{.State.Status}} {{.RestartCount}}") == "exited 2",
            20
        ),
        "{}",
        inspect(&d, "flaky", "{{.State.Status}} {{.RestartCount}}")
    );
    assert_eq!(inspect(&d, "flaky", "{{.State.ExitCode}}"), "5");
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "always",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 0.2",
    ]));
    assert!(wait_for(
        || inspect(&d, "always", "{{.RestartCount}}")
            .parse::<u32>()
            .unwrap_or(0)
            >= 2,
        20
    ));
    // A manual stop ends it.
    ok(&d.berth(&["stop", "-t", "1", "always"]));
    let n = inspect(&d, "always", "{{.RestartCount}}");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        inspect(&d, "always", "{{.RestartCount}} {{.State.Running}}"),
        format!("{n} false")
    );
    ok(&d.berth(&["create", "--name", "never", "busybox", "true"]));
    let out = ok(&d.berth(&["container", "prune", "-f"]));
    assert!(out.contains("Deleted Containers:"), "{out}");
    assert_eq!(ok(&d.berth(&["ps", "-aq"])).trim(), "");
}

#[test]
fn containers_outlive_a_daemon_restart_and_crash() {
    let mut d = setup();
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "long",
        "busybox",
        "sh",
        "-c",
        "echo started; sleep 1000",
    ]));
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "short",
        "busybox",
        "sh",
        "-c",
        "sleep 1; exit 4",
    ]));
    let pid = inspect(&d, "long", "{{.State.Pid}}");
    // SIGKILL the daemon: the containers run on under their shims.
    d.kill9();
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the container died with the daemon"
    );
    std::thread::sleep(Duration::from_millis(1500));
    d.spawn().unwrap();
    let long_id = inspect(&d, "long", "{{.Id}}");
    assert_eq!(
        inspect(&d, "long", "{{.State.Running}} {{.State.Pid}}"),
        format!("true {pid}"),
        "shim log:\n{}\ndaemon log:\n{}",
        std::fs::read_to_string(
            d.exec_root()
                .join("containers")
                .join(&long_id)
                .join("shim.log")
        )
        .unwrap_or_default(),
        d.log()
    );
    // The exit that happened while the daemon was down is known.
    assert_eq!(
        inspect(&d, "short", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 4"
    );
    // The restarted daemon still controls the running one.
    assert!(ok(&d.berth(&["logs", "long"])).contains("started"));
    ok(&d.berth(&["kill", "long"]));
    assert_eq!(ok(&d.berth(&["wait", "long"])).trim(), "137");
    // A clean restart too.
    ok(&d.berth(&["start", "long"]));
    let pid = inspect(&d, "long", "{{.State.Pid}}");
    // Long enough for the previous shim to have finished going away: what it
    // leaves behind must not cut the daemon off from the new one.
    std::thread::sleep(Duration::from_millis(200));
    d.restart();
    assert_eq!(
        inspect(&d, "long", "{{.State.Running}} {{.State.Pid}}"),
        format!("true {pid}"),
        "{}\ndaemon log:\n{}",
        inspect(
            &d,
            "long",
            "{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}"
        ),
        d.log()
    );
    ok(&d.berth(&["rm", "-f", "long", "short"]));
    // What a crash in the middle of a create leaves (directories, a mounted
    // overlay, a bundle, but no record) is gone after the next start.
    let ghost = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let gdir = d.data_root().join("containers").join(ghost);
    for sub in ["upper", "work", "merged", "lower"] {
        std::fs::create_dir_all(gdir.join(sub)).unwrap();
    }
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        gdir.join("lower").display(),
        gdir.join("upper").display(),
        gdir.join("work").display()
    );
    let st = std::process::Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &opts])
        .arg(gdir.join("merged"))
        .status()
        .unwrap();
    assert!(st.success());
    let gbundle = d.dir.path().join("run/containers").join(ghost);
    std::fs::create_dir_all(&gbundle).unwrap();
    d.restart();
    assert!(
        !gdir.exists(),
        "leftover container directory survived the restart"
    );
    assert!(!gbundle.exists(), "leftover bundle survived the restart");
    assert!(
        mounts_with(&gdir.display().to_string()).is_empty(),
        "leftover mount survived the restart"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || wait_for(
                || !std::path::Path::new(&format!("/proc/{pid}")).exists(),
                5
            )
    );
}

/// Flags whose effect only shows inside or around the container: IPC modes
/// and their /dev/shm, privileged devices, the stop signal, the cidfile and
/// log drivers — each checked where a user would look.
#[test]
fn ipc_devices_stop_signal_cidfile_and_log_drivers() {
    let d = setup();
    // --ipc shareable / container:NAME share one /dev/shm (and IPC ns).
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "donor",
        "--ipc",
        "shareable",
        "busybox",
        "sh",
        "-c",
        "echo from-donor > /dev/shm/note; sleep 1000",
    ]));
    assert!(wait_for(
        || d.berth(&["exec", "donor", "test", "-f", "/dev/shm/note"])
            .status
            .success(),
        10
    ));
    let out = ok(&d.docker(&[
        "run",
        "--rm",
        "--ipc",
        "container:donor",
        "busybox",
        "sh",
        "-c",
        "cat /dev/shm/note; readlink /proc/self/ns/ipc",
    ]));
    let donor_ns = ok(&d.berth(&["exec", "donor", "readlink", "/proc/self/ns/ipc"]));
    assert_eq!(out, format!("from-donor\n{donor_ns}"));
    // A private donor cannot be joined (Docker's hint).
    ok(&d.berth(&["run", "-d", "--name", "private", "busybox", "sleep", "1000"]));
    let err = fails(&d.berth(&[
        "run",
        "--rm",
        "--ipc",
        "container:private",
        "busybox",
        "true",
    ]));
    assert!(err.contains("non-shareable IPC"), "{err}");
    // --ipc none: no /dev/shm at all; the default has a private one.
    let mounts = ok(&d.berth(&[
        "run",
        "--rm",
        "--ipc",
        "none",
        "busybox",
        "cat",
        "/proc/mounts",
    ]));
    assert!(!mounts.contains(" /dev/shm "), "{mounts}");
    let mounts = ok(&d.berth(&["run", "--rm", "busybox", "cat", "/proc/mounts"]));
    assert!(mounts.contains(" /dev/shm "), "{mounts}");
    // The donor's host-side /dev/shm goes when it stops.
    let donor_id = inspect(&d, "donor", "{{.Id}}");
    ok(&d.berth(&["rm", "-f", "donor", "private"]));
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mountinfo.contains(&donor_id), "{mountinfo}");

    // --privileged: the host's devices appear; without it they do not.
    let host_dev = ["/dev/loop-control", "/dev/kmsg", "/dev/fuse", "/dev/loop0"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("a host device to look for");
    ok(&d.berth(&[
        "run",
        "--rm",
        "--privileged",
        "busybox",
        "test",
        "-e",
        host_dev,
    ]));
    let out = d.berth(&["run", "--rm", "busybox", "test", "-e", host_dev]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{host_dev} without --privileged"
    );

    // --stop-signal: stop sends it (the container's trap answers at once).
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "usr1",
        "--stop-signal",
        "USR1",
        "busybox",
        "sh",
        "-c",
        "trap 'echo got-usr1; exit 3' USR1; while :; do sleep 0.1; done",
    ]));
    assert_eq!(inspect(&d, "usr1", "{{.Config.StopSignal}}"), "USR1");
    let begun = Instant::now();
    ok(&d.docker(&["stop", "usr1"]));
    assert!(
        begun.elapsed() < Duration::from_secs(8),
        "stop waited for the kill"
    );
    assert_eq!(inspect(&d, "usr1", "{{.State.ExitCode}}"), "3");
    assert!(ok(&d.berth(&["logs", "usr1"])).contains("got-usr1"));

    // --cidfile: the full ID is written; an existing file refuses the run
    // before anything is created.
    let cid = d.dir.path().join("cid");
    let cid_s = cid.display().to_string();
    ok(&d.berth(&[
        "run",
        "-d",
        "--cidfile",
        &cid_s,
        "--name",
        "withcid",
        "busybox",
        "sleep",
        "1000",
    ]));
    assert_eq!(
        std::fs::read_to_string(&cid).unwrap(),
        inspect(&d, "withcid", "{{.Id}}")
    );
    let before = ok(&d.berth(&["ps", "-aq"]));
    for out in [
        d.berth(&["run", "--cidfile", &cid_s, "busybox", "true"]),
        d.docker(&["run", "--cidfile", &cid_s, "busybox", "true"]),
    ] {
        let err = fails(&out);
        assert!(err.contains("container ID file found"), "{err}");
    }
    assert_eq!(ok(&d.berth(&["ps", "-aq"])), before);

    // Log drivers: none keeps nothing and says logs cannot be read; unknown
    // drivers and bad options are refused at create, creating nothing.
    ok(&d.berth(&[
        "run",
        "--name",
        "quiet",
        "--log-driver",
        "none",
        "busybox",
        "echo",
        "hi",
    ]));
    let err = fails(&d.docker(&["logs", "quiet"]));
    assert!(err.contains("does not support reading"), "{err}");
    assert_eq!(
        inspect(&d, "quiet", "{{.HostConfig.LogConfig.Type}}"),
        "none"
    );
    let before = ok(&d.berth(&["ps", "-aq"]));
    let err = fails(&d.docker(&["run", "--log-driver", "nosuchdriver", "busybox", "true"]));
    assert!(err.contains("no log driver named 'nosuchdriver'"), "{err}");
    let err = fails(&d.berth(&["create", "--log-opt", "colour=blue", "busybox"]));
    assert!(err.contains("unknown log opt 'colour'"), "{err}");
    let err = fails(&d.berth(&[
        "create",
        "--log-opt",
        "max-file=0",
        "--log-opt",
        "max-size=1m",
        "busybox",
    ]));
    assert!(err.contains("max-file"), "{err}");
    assert_eq!(ok(&d.berth(&["ps", "-aq"])), before);
    ok(&d.berth(&["rm", "-f", "usr1", "withcid", "quiet"]));
}

/// Crash injection: the daemon is SIGKILLed while clients are in the middle
/// of creating, starting and removing containers (at a different moment
/// each round). After a restart every container is in a state the user
/// can act on, `rm -f` removes them all, and nothing is left behind: no
/// mount, no cgroup, no shim or container process.
#[test]
fn daemon_killed_during_create_start_and_rm() {
    let mut d = setup();
    let host = d.host();
    let run_all = |names: Vec<String>, args: &'static [&'static str]| {
        names
            .into_iter()
            .map(|n| {
                let host = host.clone();
                std::thread::spawn(move || {
                    let mut a = vec!["-H".to_string(), host];
                    for x in args {
                        a.push(x.replace("NAME", &n));
                    }
                    std::process::Command::new(berth_bin())
                        .args(&a)
                        .stdout(std::process::Stdio::null())
                        .stderr(std::process::Stdio::null())
                        .status()
                })
            })
            .collect::<Vec<_>>()
    };
    let mut seen_ids = Vec::new();
    for (round, delay_ms) in [5u64, 40, 120].into_iter().enumerate() {
        // Kill during create/start.
        let names: Vec<String> = (0..6).map(|i| format!("crash{round}-{i}")).collect();
        let runs = run_all(
            names.clone(),
            &[
                "run", "-d", "--name", "NAME", "-m", "64m", "busybox", "sleep", "1000",
            ],
        );
        std::thread::sleep(Duration::from_millis(delay_ms));
        d.kill9();
        for r in runs {
            let _ = r.join();
        }
        d.spawn().expect("the daemon restarts after a crash");
        // Whatever exists is usable: running ones answer exec, others start.
        let ids: Vec<String> = ok(&d.berth(&["ps", "-aq", "--no-trunc"]))
            .lines()
            .map(String::from)
            .collect();
        for id in &ids {
            let running = inspect(&d, id, "{{.State.Running}}") == "true";
            if running {
                ok(&d.berth(&["exec", id, "true"]));
            } else {
                ok(&d.berth(&["start", id]));
            }
        }
        // Kill during rm.
        let rms = run_all(ids.clone(), &["rm", "-f", "NAME"]);
        std::thread::sleep(Duration::from_millis(delay_ms / 2));
        d.kill9();
        for r in rms {
            let _ = r.join();
        }
        d.spawn().expect("the daemon restarts after a crash");
        let left: Vec<String> = ok(&d.berth(&["ps", "-aq", "--no-trunc"]))
            .lines()
            .map(String::from)
            .collect();
        if !left.is_empty() {
            let mut a = vec!["rm", "-f"];
            a.extend(left.iter().map(String::as_str));
            ok(&d.berth(&a));
        }
        assert_eq!(ok(&d.berth(&["ps", "-aq"])), "", "round {round}");
        seen_ids.extend(ids);
    }
    assert!(
        !seen_ids.is_empty(),
        "no container survived any crash to be checked"
    );
    // Nothing of any of them is left.
    let root = d.data_root().join("containers");
    assert!(
        mounts_with(&root.display().to_string()).is_empty(),
        "mounts left: {:?}",
        mounts_with(&root.display().to_string())
    );
    for id in &seen_ids {
        for ctrl in ["memory", "pids", "cpu", "freezer"] {
            let p = format!("/sys/fs/cgroup/{ctrl}/berth/{id}");
            assert!(
                wait_for(|| !std::path::Path::new(&p).exists(), 5),
                "cgroup {p} left behind"
            );
        }
        assert!(!root.join(id).exists(), "directory of {id} left");
    }
    // Processes (a shim, an init) of any of them: none, once the last
    // shim has finished exiting.
    let leftover = || -> Vec<String> {
        let procs = std::process::Command::new("ps")
            .args(["-eo", "args"])
            .output()
            .unwrap();
        text(&procs.stdout)
            .lines()
            .filter(|l| seen_ids.iter().any(|id| l.contains(id.as_str())))
            .map(String::from)
            .collect()
    };
    assert!(
        wait_for(|| leftover().is_empty(), 5),
        "processes left: {:?}\n{}",
        leftover(),
        d.log()
    );
    let bundles = d.dir.path().join("run/containers");
    let left = std::fs::read_dir(&bundles).map(|r| r.count()).unwrap_or(0);
    assert_eq!(left, 0, "bundles left in {}", bundles.display());
}

/// Restart policies across a daemon crash: containers whose process died
/// while the daemon was down come back as their policy says, a container
/// stopped by hand before stays stopped, and one without a policy keeps its
/// exit code.
#[test]
fn restart_policies_are_honoured_after_a_daemon_restart() {
    let mut d = setup();
    for (name, policy) in [
        ("pol-always", "always"),
        ("pol-unless", "unless-stopped"),
        ("pol-unless-stopped", "unless-stopped"),
        ("pol-onfail", "on-failure"),
        ("pol-no", "no"),
    ] {
        ok(&d.berth(&[
            "run",
            "-d",
            "--name",
            name,
            "--restart",
            policy,
            "busybox",
            "sleep",
            "1000",
        ]));
    }
    ok(&d.docker(&["stop", "-t", "0", "pol-unless-stopped"]));
    let pids: Vec<(String, String)> = ["pol-always", "pol-unless", "pol-onfail", "pol-no"]
        .iter()
        .map(|n| (n.to_string(), inspect(&d, n, "{{.State.Pid}}")))
        .collect();
    d.kill9();
    // Their processes die while no daemon watches.
    for (_, pid) in &pids {
        signal(pid.parse().unwrap(), rustix::process::Signal::KILL);
    }
    for (_, pid) in &pids {
        let p = format!("/proc/{pid}");
        assert!(wait_for(|| !std::path::Path::new(&p).exists(), 5));
    }
    d.spawn().unwrap();
    for n in ["pol-always", "pol-unless", "pol-onfail"] {
        assert!(
            wait_for(|| inspect(&d, n, "{{.State.Running}}") == "true", 10),
            "{n} did not come back: {}",
            inspect(&d, n, "{{.State.Status}} {{.State.ExitCode}}")
        );
        let new_pid = inspect(&d, n, "{{.State.Pid}}");
        assert!(
            pids.iter().all(|(_, p)| *p != new_pid),
            "{n} kept its old pid"
        );
        assert_eq!(inspect(&d, n, "{{.RestartCount}}"), "1", "{n}");
    }
    assert_eq!(
        inspect(&d, "pol-no", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 137"
    );
    assert_eq!(
        inspect(&d, "pol-unless-stopped", "{{.State.Status}}"),
        "exited"
    );
    ok(&d.berth(&[
        "rm",
        "-f",
        "pol-always",
        "pol-unless",
        "pol-unless-stopped",
        "pol-onfail",
        "pol-no",
    ]));
}

/// `ps` as a user filters and formats it, with berth's CLI and the docker
/// CLI giving the same answers: name, id, label, status, exited, ancestor,
/// before, since, health filters; -n, -l, -q, --no-trunc, -s, --format.
#[test]
fn ps_filters_and_formats() {
    let d = setup();
    d.import_busybox("other:1", &[r#"CMD ["sh"]"#]);
    let out = d.berth(&[
        "run", "--name", "psa", "-l", "tier=db", "busybox", "sh", "-c", "exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    ok(&d.berth(&[
        "run", "-d", "--name", "psb", "-l", "tier=web", "busybox", "sleep", "1000",
    ]));
    ok(&d.berth(&["create", "--name", "psc", "other:1", "true"]));
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "psd",
        "--health-cmd",
        "true",
        "--health-interval",
        "1s",
        "other:1",
        "sleep",
        "1000",
    ]));
    assert!(wait_for(
        || inspect(&d, "psd", "{{.State.Health.Status}}") == "healthy",
        20
    ));
    let names = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["ps", "--format", "{{.Names}}"];
        a.extend_from_slice(args);
        let b = ok(&d.berth(&a));
        let k = ok(&d.docker(&a));
        assert_eq!(b, k, "berth and docker differ on ps {args:?}");
        let mut v: Vec<String> = b.lines().map(String::from).collect();
        v.sort();
        v
    };
    assert_eq!(names(&[]), ["psb", "psd"]);
    assert_eq!(names(&["-a"]), ["psa", "psb", "psc", "psd"]);
    assert_eq!(names(&["-a", "--filter", "name=psb"]), ["psb"]);
    assert_eq!(names(&["-a", "--filter", "label=tier"]), ["psa", "psb"]);
    assert_eq!(names(&["-a", "--filter", "label=tier=db"]), ["psa"]);
    assert_eq!(names(&["-a", "--filter", "status=exited"]), ["psa"]);
    assert_eq!(names(&["-a", "--filter", "status=created"]), ["psc"]);
    assert_eq!(names(&["-a", "--filter", "exited=3"]), ["psa"]);
    assert_eq!(
        names(&["-a", "--filter", "ancestor=other:1"]),
        ["psc", "psd"]
    );
    assert_eq!(names(&["-a", "--filter", "before=psc"]), ["psa", "psb"]);
    assert_eq!(names(&["-a", "--filter", "since=psb"]), ["psc", "psd"]);
    assert_eq!(names(&["--filter", "health=healthy"]), ["psd"]);
    assert_eq!(names(&["--filter", "health=none"]), ["psb"]);
    let id = inspect(&d, "psb", "{{.Id}}");
    assert_eq!(names(&["--filter", &format!("id={}", &id[..10])]), ["psb"]);
    assert_eq!(names(&["-a", "-n", "2"]), ["psc", "psd"]);
    assert_eq!(names(&["-a", "-l"]), ["psd"]);
    // Several filters of one kind are ORed, of different kinds ANDed.
    assert_eq!(
        names(&["-a", "--filter", "name=psa", "--filter", "name=psc"]),
        ["psa", "psc"]
    );
    assert_eq!(
        names(&["-a", "--filter", "label=tier", "--filter", "status=running"]),
        ["psb"]
    );
    // -q and --no-trunc give IDs; -s adds the size column.
    let q = ok(&d.berth(&["ps", "-q", "--filter", "name=psb"]));
    assert_eq!(q.trim(), &id[..12]);
    let full = ok(&d.docker(&["ps", "-q", "--no-trunc", "--filter", "name=psb"]));
    assert_eq!(full.trim(), id);
    let sized = ok(&d.docker(&["ps", "-s", "--filter", "name=psb"]));
    assert!(
        sized.lines().next().unwrap_or("").contains("SIZE"),
        "{sized}"
    );
    let row = ok(&d.berth(&[
        "ps",
        "--filter",
        "name=psb",
        "--format",
        "{{.Names}}|{{.Image}}|{{.Labels}}|{{.Status}}",
    ]));
    assert!(row.starts_with("psb|busybox|tier=web|Up "), "{row}");
    // The Label method, in rows and in a table header, as the docker CLI prints it.
    let fmt = "table {{.Names}}\t{{.Label \"tier\"}}\t{{.Label \"com.example.no-such_key\"}}|";
    let ours = ok(&d.berth(&["ps", "--filter", "name=psb", "--format", fmt]));
    let theirs = ok(&d.docker(&["ps", "--filter", "name=psb", "--format", fmt]));
    assert_eq!(ours, theirs);
    assert!(ours.starts_with("NAMES"), "{ours}");
    assert!(
        ours.lines().nth(1).unwrap_or("").starts_with("psb"),
        "{ours}"
    );
    assert!(
        ours.contains("tier") && ours.contains("no such key"),
        "{ours}"
    );
    assert!(ours.lines().nth(1).unwrap_or("").contains("web"), "{ours}");
    // A bad filter is refused with Docker's message.
    let err = fails(&d.docker(&["ps", "--filter", "colour=blue"]));
    assert!(err.contains("invalid filter 'colour'"), "{err}");
    ok(&d.berth(&["rm", "-f", "psa", "psb", "psc", "psd"]));
}

/// The program watching container `name`: the parent of its init.
fn monitor_of(d: &Daemon, name: &str) -> (u32, std::path::PathBuf) {
    let pid = inspect(d, name, "{{.State.Pid}}");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("init's stat");
    // Fields after the command's closing parenthesis: state, ppid, ...
    let after = &stat[stat.rfind(')').expect("stat format") + 2..];
    let ppid: u32 = after.split(' ').nth(1).unwrap().parse().unwrap();
    let exe = std::fs::read_link(format!("/proc/{ppid}/exe")).expect("monitor's exe");
    (ppid, exe)
}

fn cgroup_dirs(id: &str) -> Vec<String> {
    std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|e| e.path().join("berth").join(id))
        .filter(|p| p.is_dir())
        .map(|p| p.display().to_string())
        .collect()
}

#[test]
fn each_container_is_watched_by_the_small_shim() {
    let d = setup();
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "watched",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; trap 'exit 7' TERM; while true; do sleep 0.1; done",
    ]));
    let id = inspect(&d, "watched", "{{.Id}}");
    let (_, exe) = monitor_of(&d, "watched");
    assert_eq!(
        exe,
        std::fs::canonicalize(shim_bin()).unwrap(),
        "the container's parent is berth-shim, not the berth binary"
    );
    assert!(wait_for(
        || text(&d.berth(&["logs", "watched"]).stdout) == "out\n",
        10
    ));
    assert_eq!(text(&d.berth(&["logs", "watched"]).stderr), "err\n");
    assert_eq!(ok(&d.berth(&["exec", "watched", "echo", "in"])), "in\n");
    // An exec's process is watched by berth-shim-exec (not the berth binary).
    let marker = format!("{}", 100_000 + std::process::id() % 100_000);
    ok(&d.berth(&["exec", "-d", "watched", "sleep", &marker]));
    let mut exec_parent = None;
    assert!(wait_for(
        || {
            let out = std::process::Command::new("pgrep")
                .args(["-f", &format!("^sleep {marker}$")])
                .output()
                .unwrap();
            let Some(pid) = text(&out.stdout).lines().next().map(str::to_string) else {
                return false;
            };
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = stat
                .rfind(')')
                .and_then(|i| stat[i + 2..].split(' ').nth(1).map(str::to_string));
            exec_parent = ppid.and_then(|p| std::fs::read_link(format!("/proc/{p}/exe")).ok());
            exec_parent.is_some()
        },
        10
    ));
    assert_eq!(
        exec_parent,
        Some(std::fs::canonicalize(shim_exec_bin()).unwrap())
    );
    assert!(
        !cgroup_dirs(&id).is_empty(),
        "a running container has its cgroup"
    );
    ok(&d.berth(&["stop", "watched"]));
    assert_eq!(inspect(&d, "watched", "{{.State.ExitCode}}"), "7");
    // Its cgroup and libcontainer's state go with it.
    assert!(cgroup_dirs(&id).is_empty(), "{:?}", cgroup_dirs(&id));
    assert!(!d.exec_root().join("runtime").join(&id).exists());
    // It starts again under a new monitor.
    ok(&d.berth(&["start", "watched"]));
    assert!(wait_for(
        || inspect(&d, "watched", "{{.State.Running}}") == "true",
        10
    ));
    ok(&d.berth(&["rm", "-f", "watched"]));

    // What a --pid host container leaves behind is ended with it.
    let out = ok(&d.berth(&[
        "run",
        "--rm",
        "--pid",
        "host",
        "busybox",
        "sh",
        "-c",
        "sleep 1000 & echo $!",
    ]));
    let orphan = out.trim().to_string();
    assert!(orphan.parse::<u32>().is_ok(), "{out}");
    let gone = || {
        std::fs::read_to_string(format!("/proc/{orphan}/stat"))
            .map(|s| !s.contains("sleep") || s.contains(") Z "))
            .unwrap_or(true)
    };
    assert!(
        wait_for(gone, 10),
        "the container's orphan {orphan} lives on"
    );
}

#[test]
fn without_berth_shim_the_shim_monitors_in_place() {
    // berth installed alone: a hard link in a directory without berth-shim.
    let bin = std::path::Path::new(berth_bin());
    let dir = tempfile::tempdir_in(bin.parent().unwrap()).unwrap();
    let alone = dir.path().join("berth");
    std::fs::hard_link(bin, &alone).unwrap();
    let mut d = Daemon::unstarted(&[]);
    d.program = alone.clone();
    d.spawn().expect("daemon from a lone berth");
    d.import_busybox("busybox:latest", &[r#"CMD ["sh"]"#]);
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "lone",
        "busybox",
        "sh",
        "-c",
        "echo hi; sleep 1000",
    ]));
    let (_, exe) = monitor_of(&d, "lone");
    assert_eq!(exe, alone, "monitored by berth itself");
    // exec falls back to `berth shim-exec`.
    assert_eq!(ok(&d.berth(&["exec", "lone", "echo", "in"])), "in\n");
    assert!(wait_for(|| ok(&d.berth(&["logs", "lone"])) == "hi\n", 10));
    let out = d.berth(&["run", "--rm", "busybox", "sh", "-c", "exit 5"]);
    assert_eq!(out.status.code(), Some(5));
    ok(&d.berth(&["rm", "-f", "lone"]));
}

/// The standby `berth shim` children of the daemon (see the engine's
/// `containers::standby`).
fn standby_shims(d: &Daemon) -> Vec<u32> {
    children(d.pid().expect("daemon running"), b"shim\0--standby\0")
}

/// The parent of a process.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rfind(')')
        .and_then(|i| stat[i + 2..].split(' ').nth(1))
        .and_then(|p| p.parse::<u32>().ok())
}

/// The children of `parent` whose command line ends with `tail`.
fn children(parent: u32, tail: &[u8]) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            cmd.ends_with(tail) && parent_of(*pid) == Some(parent)
        })
        .collect()
}

/// The `berth-shim` monitor waiting below a standby shim, and the creator
/// waiting below that monitor.
fn standby_monitor_and_creator(standby: u32) -> Option<(u32, u32)> {
    let monitor = std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).to_string();
            cmd.contains("berth-shim\0--standby-fd\0") && parent_of(*pid) == Some(standby)
        })?;
    let creator = *children(monitor, b"shim\0--standby\0").first()?;
    Some((monitor, creator))
}

/// After a start the daemon has the next start's `berth shim` waiting; the
/// next start hands its container to that one (which becomes its monitor:
/// the waiting process itself is gone) and starts another; a standby killed
/// meanwhile is replaced by a fresh shim, unseen by the user.
#[test]
fn the_next_start_finds_its_shim_started_ahead() {
    let d = setup();
    assert_eq!(
        ok(&d.berth(&["run", "--rm", "busybox", "echo", "one"])),
        "one\n"
    );
    assert!(
        wait_for(|| standby_shims(&d).len() == 1, 5),
        "no standby shim"
    );
    let first = standby_shims(&d)[0];
    assert_eq!(
        ok(&d.berth(&["run", "--rm", "busybox", "echo", "two"])),
        "two\n"
    );
    assert!(
        wait_for(
            || !std::path::Path::new(&format!("/proc/{first}")).exists(),
            5
        ),
        "the standby shim {first} did not serve the start"
    );
    assert!(wait_for(|| standby_shims(&d).len() == 1, 5));
    let second = standby_shims(&d)[0];
    assert_ne!(second, first);
    // Below it wait the container's monitor (`berth-shim`, exec'd ahead)
    // and the creator below that; the next container's init is the child
    // of that very monitor.
    assert!(
        wait_for(|| standby_monitor_and_creator(second).is_some(), 5),
        "no monitor waiting below the standby shim {second}"
    );
    let (monitor, creator) = standby_monitor_and_creator(second).unwrap();
    // The creator holds the network namespace it made ahead (and stays in
    // the host's own); the container gets that very one.
    let host_net = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_eq!(
        std::fs::read_link(format!("/proc/{creator}/ns/net")).unwrap(),
        host_net
    );
    let held: Vec<std::path::PathBuf> = std::fs::read_dir(format!("/proc/{creator}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|l| l.to_string_lossy().starts_with("net:["))
        .collect();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_ne!(held[0], host_net);
    let id = ok(&d.berth(&["run", "-d", "busybox", "sleep", "30"]))
        .trim()
        .to_string();
    let init: u32 = ok(&d.berth(&["inspect", "-f", "{{.State.Pid}}", &id]))
        .trim()
        .parse()
        .unwrap();
    assert_eq!(parent_of(init), Some(monitor));
    assert_eq!(
        std::fs::read_link(format!("/proc/{init}/ns/net")).unwrap(),
        held[0]
    );
    // Its network works there as ever (default bridge: an address).
    let out = ok(&d.berth(&["exec", &id, "ip", "-4", "addr", "show", "eth0"]));
    assert!(out.contains("inet "), "{out}");
    assert!(
        wait_for(
            || !std::path::Path::new(&format!("/proc/{creator}")).exists(),
            5
        ),
        "the creator {creator} stayed after its handover"
    );
    ok(&d.berth(&["rm", "-f", &id]));
    assert!(
        wait_for(
            || !std::path::Path::new(&format!("/proc/{monitor}")).exists(),
            5
        ),
        "the monitor {monitor} outlived its container"
    );
    assert!(wait_for(|| standby_shims(&d).len() == 1, 5));
    let second = standby_shims(&d)[0];
    // Killed while it waits: the next start still runs, and docker sees no
    // difference.
    signal(second, rustix::process::Signal::KILL);
    let out = d.docker(&["run", "--rm", "busybox", "sh", "-c", "echo three; exit 4"]);
    assert_eq!(text(&out.stdout), "three\n");
    assert_eq!(out.status.code(), Some(4));
    assert!(wait_for(|| standby_shims(&d).len() == 1, 5));
    // A stopped daemon leaves none behind: neither the standby nor the
    // monitor and creator below it.
    let last = standby_shims(&d)[0];
    assert!(wait_for(|| standby_monitor_and_creator(last).is_some(), 5));
    let (monitor, creator) = standby_monitor_and_creator(last).unwrap();
    let mut d = d;
    d.stop();
    for pid in [last, monitor, creator] {
        assert!(
            wait_for(
                || !std::path::Path::new(&format!("/proc/{pid}")).exists(),
                5
            ),
            "the standby's process {pid} outlived the daemon"
        );
    }
}

/// The next container's directory is made ahead, after a start: a create
/// only renames it. A daemon restart keeps it and sweeps the half-made one
/// a crash could leave.
#[test]
fn the_next_containers_directory_is_made_ahead() {
    use std::os::unix::fs::MetadataExt;
    let mut d = setup();
    let containers = d.data_root().join("containers");
    let ready = containers.join(".ready");
    assert_eq!(
        ok(&d.berth(&["run", "--rm", "busybox", "echo", "one"])),
        "one\n"
    );
    assert!(wait_for(|| ready.join("merged").is_dir(), 5), "none made");
    let ino = std::fs::metadata(&ready).unwrap().ino();
    let id = ok(&d.docker(&["create", "busybox", "cat", "/etc/hostname"]))
        .trim()
        .to_string();
    assert_eq!(std::fs::metadata(containers.join(&id)).unwrap().ino(), ino);
    // Its /etc files, made empty ahead, hold the container's own.
    assert_eq!(
        ok(&d.docker(&["start", "-a", &id])),
        format!("{}\n", &id[..12])
    );
    assert!(wait_for(|| ready.join("merged").is_dir(), 5));
    let half = containers.join(".ready-1-2");
    std::fs::create_dir_all(half.join("upper")).unwrap();
    let ino = std::fs::metadata(&ready).unwrap().ino();
    d.restart();
    assert!(!half.exists(), "a half-made directory outlived the restart");
    assert_eq!(std::fs::metadata(&ready).unwrap().ino(), ino);
    ok(&d.berth(&["rm", &id]));
}

/// `--rm`: the rootfs of such a container is mounted `volatile` (nothing
/// of it is synced, it is thrown away), one without `--rm` is not; at its
/// end the container is gone at once (record, directories, mounts), also
/// when the daemon is killed around its end.
#[test]
fn an_auto_removed_container_leaves_nothing() {
    let mut d = setup();
    let rm_id = ok(&d.berth(&["run", "-d", "--rm", "busybox", "sleep", "30"]))
        .trim()
        .to_string();
    let kept_id = ok(&d.berth(&["run", "-d", "busybox", "sleep", "30"]))
        .trim()
        .to_string();
    let rootfs_options = |id: &str| -> String {
        let merged = d.data_root().join("containers").join(id).join("merged");
        mounts_with(&format!(" {} ", merged.display())).join("\n")
    };
    assert!(
        rootfs_options(&rm_id).contains("volatile"),
        "{}",
        rootfs_options(&rm_id)
    );
    assert!(
        !rootfs_options(&kept_id).contains("volatile"),
        "{}",
        rootfs_options(&kept_id)
    );
    // Writes inside work as anywhere (fsync included).
    ok(&d.berth(&["exec", &rm_id, "sh", "-c", "echo x > /f && sync && cat /f"]));
    ok(&d.berth(&["rm", "-f", &kept_id]));
    ok(&d.berth(&["kill", &rm_id]));
    assert!(wait_for(
        || ok(&d.berth(&["ps", "-aq"])).trim().is_empty(),
        10
    ));
    let gone = |d: &Daemon, id: &str| {
        !d.data_root().join("containers").join(id).exists()
            && !d.exec_root().join("containers").join(id).exists()
            && mounts_with(id).is_empty()
    };
    assert!(wait_for(|| gone(&d, &rm_id), 5), "leftovers of {rm_id}");
    // The daemon killed while --rm containers end, at various points: after
    // its restart none is listed and nothing of them is left.
    let mut ids = Vec::new();
    for (round, delay_ms) in [150u64, 250, 400].into_iter().enumerate() {
        let batch: Vec<String> = (0..3)
            .map(|_| {
                ok(&d.berth(&["run", "-d", "--rm", "busybox", "sleep", "0.2"]))
                    .trim()
                    .to_string()
            })
            .collect();
        std::thread::sleep(Duration::from_millis(delay_ms));
        d.kill9();
        d.spawn().expect("the daemon restarts after a crash");
        assert!(
            wait_for(|| ok(&d.berth(&["ps", "-aq"])).trim().is_empty(), 10),
            "round {round}: {}",
            ok(&d.berth(&["ps", "-a"]))
        );
        ids.extend(batch);
    }
    for id in &ids {
        assert!(wait_for(|| gone(&d, id), 5), "leftovers of {id}");
    }
}
