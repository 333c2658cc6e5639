//! The builder: Dockerfiles built with berth's CLI and the real docker CLI
//! (classic builder path), run, and checked as a user would check them —
//! the container's output, the image's config and history, which steps
//! came from the cache after one file changed, multi-stage builds and
//! `--target`, `.dockerignore`, contexts on stdin, `COPY`/`ADD` rules,
//! `RUN` options, and errors that name the line and leave nothing behind.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// A build context directory, removed on drop.
struct Ctx(tempfile::TempDir);

impl Ctx {
    fn new(files: &[(&str, &str)]) -> Ctx {
        let d = tempfile::Builder::new()
            .prefix("berth-build-ctx-")
            .tempdir()
            .expect("tempdir");
        let c = Ctx(d);
        for (p, content) in files {
            c.write(p, content);
        }
        c
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn s(&self) -> String {
        self.path().display().to_string()
    }

    fn write(&self, p: &str, content: &str) {
        let full = self.path().join(p);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }
}

fn docker_build_env(d: &Daemon, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut c = Command::new(docker_bin());
    c.env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .env("DOCKER_BUILDKIT", "0")
        .env_remove("DOCKER_CONTEXT")
        .args(args);
    match stdin {
        None => c.stdin(Stdio::null()).output().expect("docker"),
        Some(input) => {
            let mut child = c
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("docker");
            let mut si = child.stdin.take().unwrap();
            let data = input.to_vec();
            let w = std::thread::spawn(move || {
                use std::io::Write;
                let _ = si.write_all(&data);
            });
            let out = child.wait_with_output().unwrap();
            let _ = w.join();
            out
        }
    }
}

fn berth_env(d: &Daemon, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(berth_bin());
    c.arg("-H").arg(d.host()).args(args).stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("berth")
}

fn inspect(d: &Daemon, image: &str) -> Value {
    let out = ok(&d.berth(&["image", "inspect", image]));
    let v: Value = serde_json::from_str(&out).expect("json");
    v[0].clone()
}

/// No build container, scratch mount or temporary directory is left.
#[track_caller]
fn nothing_left(d: &Daemon) {
    let ps = ok(&d.berth(&["ps", "-aq"]));
    assert!(ps.trim().is_empty(), "containers left: {ps}");
    let tmp = d.data_root().join("build").join("tmp");
    assert!(
        mounts_with(&tmp.display().to_string()).is_empty(),
        "scratch mounts left"
    );
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "temporary files left: {left:?}");
    assert!(
        mounts_with(&d.data_root().join("containers").display().to_string()).is_empty(),
        "container mounts left"
    );
}

fn steps_cached(out: &str) -> Vec<bool> {
    // For each "Step" line: whether " ---> Using cache" follows it.
    let lines: Vec<&str> = out.lines().collect();
    let mut res = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with("Step ") && !l.contains(" : FROM ") && !l.contains(" : ARG ") {
            res.push(lines.get(i + 1) == Some(&" ---> Using cache"));
        }
    }
    res
}

const APP: &str = r#"FROM busybox
ARG GREETING=hello
ARG UNUSED_DEFAULT=x
ENV APP_HOME=/app NAME="berth build"
WORKDIR $APP_HOME
COPY hello.txt ./
COPY conf/ conf/
RUN echo "$GREETING from $NAME" > out.txt && echo to-stderr >&2
EXPOSE 8080 9000-9001/udp
LABEL org.example.name="demo" version=1
HEALTHCHECK --interval=5s --retries=3 CMD cat /app/out.txt
STOPSIGNAL SIGUSR1
VOLUME ["/data"]
USER nobody
ENTRYPOINT ["/bin/cat"]
CMD ["out.txt"]
"#;

#[test]
fn build_run_and_config() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest", &[r#"CMD ["sh"]"#]);
    let c = Ctx::new(&[
        ("Dockerfile", APP),
        ("hello.txt", "hello file\n"),
        ("conf/a.conf", "a=1\n"),
        ("conf/sub/b.conf", "b=2\n"),
    ]);
    let out = ok(&d.berth(&[
        "build",
        "-t",
        "demo:1",
        "-t",
        "demo:latest",
        "--build-arg",
        "GREETING=hi",
        "--build-arg",
        "NOT_DECLARED=1",
        "--label",
        "extra=yes",
        "--progress=plain",
        &c.s(),
    ]));
    assert!(out.contains("Step 1/17 : FROM busybox"), "{out}");
    assert!(out.contains(" ---> Running in "), "{out}");
    assert!(out.contains("to-stderr"), "{out}");
    assert!(out.contains("Removing intermediate container"), "{out}");
    assert!(
        out.contains("[Warning] One or more build-args [NOT_DECLARED] were not consumed"),
        "{out}"
    );
    assert!(out.contains("Successfully tagged demo:1\n"), "{out}");
    assert!(out.contains("Successfully tagged demo:latest\n"), "{out}");
    let built = out
        .lines()
        .find_map(|l| l.strip_prefix("Successfully built "))
        .unwrap()
        .to_string();
    assert_eq!(built.len(), 12);
    // What the image does when run.
    let run = ok(&d.berth(&["run", "--rm", "demo:1"]));
    assert_eq!(run, "hi from berth build\n");
    let files = ok(&d.berth(&[
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        "demo:1",
        "-c",
        "id -u; pwd; cat hello.txt conf/a.conf conf/sub/b.conf; stat -c '%u:%g %a' hello.txt conf",
    ]));
    assert_eq!(
        files,
        "65534\n/app\nhello file\na=1\nb=2\n0:0 644\n0:0 755\n"
    );
    // The config.
    let img = inspect(&d, "demo:1");
    assert!(img["Id"].as_str().unwrap().contains(&built));
    let cfg = &img["Config"];
    assert_eq!(cfg["WorkingDir"], "/app");
    assert_eq!(cfg["User"], "nobody");
    assert_eq!(cfg["Entrypoint"], serde_json::json!(["/bin/cat"]));
    assert_eq!(cfg["Cmd"], serde_json::json!(["out.txt"]));
    assert_eq!(cfg["StopSignal"], "SIGUSR1");
    assert_eq!(cfg["Volumes"], serde_json::json!({"/data": {}}));
    assert_eq!(
        cfg["ExposedPorts"],
        serde_json::json!({"8080/tcp": {}, "9000/udp": {}, "9001/udp": {}})
    );
    assert_eq!(cfg["Labels"]["org.example.name"], "demo");
    assert_eq!(cfg["Labels"]["version"], "1");
    assert_eq!(cfg["Labels"]["extra"], "yes");
    assert_eq!(
        cfg["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "cat /app/out.txt"])
    );
    assert_eq!(cfg["Healthcheck"]["Interval"], 5_000_000_000u64);
    assert_eq!(cfg["Healthcheck"]["Retries"], 3);
    let env: Vec<String> = serde_json::from_value(cfg["Env"].clone()).unwrap();
    assert!(env.contains(&"APP_HOME=/app".to_string()), "{env:?}");
    assert!(env.contains(&"NAME=berth build".to_string()), "{env:?}");
    assert!(env.iter().any(|e| e.starts_with("PATH=")), "{env:?}");
    assert!(
        !env.iter().any(|e| e.starts_with("GREETING")),
        "ARG leaked into Env: {env:?}"
    );
    // Layers: busybox + WORKDIR + 2 COPY + RUN; metadata steps add none.
    let layers = img["RootFS"]["Layers"].as_array().unwrap().len();
    assert_eq!(layers, 5, "{img}");
    let hist = ok(&d.berth(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}|{{.Size}}",
        "demo:1",
    ]));
    let lines: Vec<&str> = hist.lines().collect();
    assert_eq!(lines.len(), 17, "{hist}");
    assert!(lines[0].contains("#(nop)  LABEL extra=yes|0B"), "{hist}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("#(nop)  ENV APP_HOME=/app NAME=berth build|0B")),
        "{hist}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("|2 GREETING=hi UNUSED_DEFAULT=x /bin/sh -c echo")),
        "{hist}"
    );
    assert!(
        lines.iter().any(|l| l.contains("#(nop) COPY file:")),
        "{hist}"
    );
    assert!(
        lines.iter().any(|l| l.contains("#(nop) COPY dir:")),
        "{hist}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(r#"#(nop)  CMD ["out.txt"]"#)),
        "{hist}"
    );
    // The raw config: metadata steps are empty layers.
    let hist_json = ok(&d.berth(&["image", "inspect", "-f", "{{json .RootFS}}", "demo:1"]));
    assert!(hist_json.contains("sha256:"), "{hist_json}");
    // Intermediate images are kept (images -a) but hidden from images.
    let all = ok(&d.berth(&["images", "-aq"]));
    let top = ok(&d.berth(&["images", "-q"]));
    assert!(all.lines().count() >= 17, "{all}");
    assert_eq!(top.lines().count(), 2, "{top}");
    nothing_left(&d);
}

#[test]
fn cache_hits_misses_restart_and_prune() {
    let mut d = Daemon::start();
    d.import_busybox("busybox:latest", &[]);
    let c = Ctx::new(&[
        (
            "Dockerfile",
            "FROM busybox\nENV A=1\nCOPY one.txt /one\nRUN cat /one > /copy1\nCOPY two.txt /two\nRUN cat /two > /copy2\nCMD [\"cat\", \"/copy1\", \"/copy2\"]\n",
        ),
        ("one.txt", "one\n"),
        ("two.txt", "two\n"),
    ]);
    let first = ok(&d.berth(&["build", "-t", "cached", &c.s()]));
    assert_eq!(steps_cached(&first), vec![false; 6], "{first}");
    let id1 = inspect(&d, "cached")["Id"].clone();
    // Unchanged: every step from the cache, same image.
    let second = ok(&d.berth(&["build", "-t", "cached", &c.s()]));
    assert_eq!(steps_cached(&second), vec![true; 6], "{second}");
    assert!(!second.contains("Running in"), "{second}");
    assert_eq!(inspect(&d, "cached")["Id"], id1);
    // A changed file rebuilds from the step that reads it on.
    c.write("two.txt", "TWO\n");
    let third = ok(&d.berth(&["build", "-t", "cached", &c.s()]));
    assert_eq!(
        steps_cached(&third),
        vec![true, true, true, false, false, false],
        "{third}"
    );
    assert_eq!(ok(&d.berth(&["run", "--rm", "cached"])), "one\nTWO\n");
    // Touching a file without changing it keeps the cache (content counts).
    let p = c.path().join("one.txt");
    let f = std::fs::File::options().write(true).open(&p).unwrap();
    f.set_modified(std::time::SystemTime::now() + Duration::from_secs(60))
        .unwrap();
    drop(f);
    let fourth = ok(&d.berth(&["build", "-t", "cached", &c.s()]));
    assert_eq!(steps_cached(&fourth), vec![true; 6], "{fourth}");
    // The docker CLI sends a tar: the same content hits the same cache.
    let via_docker = ok(&docker_build_env(
        &d,
        &["build", "-t", "cached", &c.s()],
        None,
    ));
    assert_eq!(steps_cached(&via_docker), vec![true; 6], "{via_docker}");
    // A build arg in scope of a RUN is part of its key.
    c.write("Dockerfile", "FROM busybox\nARG V=1\nRUN echo $V > /v\n");
    ok(&d.berth(&["build", "-t", "argc", &c.s()]));
    let same = ok(&d.berth(&["build", "-t", "argc", "--build-arg", "V=1", &c.s()]));
    assert_eq!(steps_cached(&same), vec![true], "{same}");
    let other = ok(&d.berth(&["build", "-t", "argc", "--build-arg", "V=2", &c.s()]));
    assert_eq!(steps_cached(&other), vec![false], "{other}");
    // --no-cache rebuilds everything.
    let nc = ok(&d.berth(&["build", "--no-cache", "-t", "argc", &c.s()]));
    assert_eq!(steps_cached(&nc), vec![false], "{nc}");
    // The cache survives a daemon restart.
    d.restart();
    let after = ok(&d.berth(&["build", "-t", "argc", "--build-arg", "V=2", &c.s()]));
    assert_eq!(steps_cached(&after), vec![true], "{after}");
    // builder prune empties it and drops intermediate images nothing else
    // keeps; tagged images stay.
    let before = ok(&d.berth(&["images", "-aq"])).lines().count();
    let pruned = ok(&d.berth(&["builder", "prune", "-f"]));
    assert!(pruned.contains("Deleted build cache objects:"), "{pruned}");
    assert!(pruned.contains("Total reclaimed space:"), "{pruned}");
    let after_prune = ok(&d.berth(&["images", "-aq"])).lines().count();
    assert!(after_prune < before, "{before} -> {after_prune}");
    assert_eq!(ok(&d.berth(&["run", "--rm", "cached"])), "one\nTWO\n");
    let rebuilt = ok(&d.berth(&["build", "-t", "argc", "--build-arg", "V=2", &c.s()]));
    assert_eq!(steps_cached(&rebuilt), vec![false], "{rebuilt}");
    // system prune takes the build cache too.
    let sp = ok(&d.berth(&["system", "prune", "-f"]));
    assert!(sp.contains("Deleted build cache objects:"), "{sp}");
    let again = ok(&d.berth(&["build", "-t", "argc", "--build-arg", "V=2", &c.s()]));
    assert_eq!(steps_cached(&again), vec![false], "{again}");
    nothing_left(&d);
}

#[test]
fn multistage_target_and_parallel_stages() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest", &[]);
    let c = Ctx::new(&[(
        "Dockerfile",
        r#"ARG BASE=busybox
FROM ${BASE} AS one
RUN sleep 2 && echo built-one > /one.txt
FROM busybox AS two
RUN sleep 2 && echo built-two > /two.txt
FROM busybox AS unused
RUN echo UNUSED-STAGE-RAN && false
FROM one AS final
COPY --from=two /two.txt /from-two.txt
COPY --from=0 /one.txt /from-zero.txt
CMD ["cat", "/one.txt", "/from-two.txt", "/from-zero.txt"]
"#,
    )]);
    let t0 = Instant::now();
    let out = ok(&d.berth(&["build", "-t", "ms", &c.s()]));
    let took = t0.elapsed();
    assert!(!out.contains("UNUSED-STAGE-RAN"), "{out}");
    assert!(!out.contains(": FROM busybox AS unused"), "{out}");
    // Two independent two-second stages ran side by side.
    assert!(took < Duration::from_millis(3800), "took {took:?}:\n{out}");
    // Output keeps the file's order.
    let p1 = out.find("FROM ${BASE} AS one").unwrap();
    let p2 = out.find("FROM busybox AS two").unwrap();
    let p3 = out.find("FROM one AS final").unwrap();
    assert!(p1 < p2 && p2 < p3, "{out}");
    assert!(out.contains("Step 1/9 : ARG BASE=busybox"), "{out}");
    assert_eq!(
        ok(&d.berth(&["run", "--rm", "ms"])),
        "built-one\nbuilt-two\nbuilt-one\n"
    );
    // --target builds only what that stage needs.
    let t = ok(&d.berth(&["build", "--target", "two", "-t", "ms:two", &c.s()]));
    assert!(t.contains("Step 2/3 : FROM busybox AS two"), "{t}");
    assert!(!t.contains("AS one"), "{t}");
    let e = fails(&d.berth(&["build", "--target", "nope", &c.s()]));
    assert!(
        e.contains("target stage \"nope\" could not be found"),
        "{e}"
    );
    nothing_left(&d);
}

#[test]
fn dockerignore_in_every_transport() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest", &[]);
    let c = Ctx::new(&[
        (
            "Dockerfile",
            "FROM busybox\nCOPY . /ctx\nRUN cd /ctx && find . -type f | sort\n",
        ),
        (
            ".dockerignore",
            "# comment\n**/*.log\n!keep.log\nsecret/\nDockerfile\n",
        ),
        ("a.txt", "a"),
        ("keep.log", "k"),
        ("drop.log", "d"),
        ("sub/deep/x.log", "x"),
        ("sub/deep/y.txt", "y"),
        ("secret/key", "s"),
    ]);
    let expect = "./.dockerignore\n./a.txt\n./keep.log\n./sub/deep/y.txt\n";
    let check = |out: &str| {
        assert!(out.contains(expect), "{out}");
        assert!(
            !out.contains("drop.log") && !out.contains("secret") && !out.contains("x.log"),
            "{out}"
        );
        assert!(!out.contains("./Dockerfile"), "{out}");
    };
    check(&ok(&d.berth(&["build", "--no-cache", &c.s()])));
    check(&ok(&berth_env(
        &d,
        &["build", "--no-cache", &c.s()],
        &[("BERTH_BUILD_SEND_CONTEXT", "1")],
    )));
    check(&ok(&docker_build_env(
        &d,
        &["build", "--no-cache", &c.s()],
        None,
    )));
    // A source excluded by .dockerignore is "not found".
    c.write("Dockerfile", "FROM busybox\nCOPY drop.log /x\n");
    let e = fails(&d.berth(&["build", &c.s()]));
    assert!(
        e.contains("Dockerfile:2: COPY drop.log /x: COPY failed: file not found in build context or excluded by .dockerignore"),
        "{e}"
    );
    nothing_left(&d);
}

#[test]
fn errors_name_the_line_and_leave_nothing_behind() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest", &[]);
    let c = Ctx::new(&[("f.txt", "f")]);
    let cases: &[(&str, &str, i32)] = &[
        ("FROM busybox\nFOOBAR x\n", "dockerfile parse error on line 2: unknown instruction: FOOBAR", 1),
        ("FROM busybox\nCOPY --bogus=1 f.txt /x\n", "dockerfile parse error on line 2: unknown flag: --bogus", 1),
        ("FROM busybox\n\nCOPY missing.txt /x\n", "Dockerfile:3: COPY missing.txt /x: COPY failed: file not found in build context", 1),
        ("FROM busybox\nRUN echo out && exit 3\n", "Dockerfile:2: RUN echo out && exit 3: The command '/bin/sh -c echo out && exit 3' returned a non-zero code: 3", 3),
        ("FROM busybox\nCOPY ../etc/passwd /x\n", "COPY failed: forbidden path outside the build context: ../etc/passwd", 1),
        ("FROM busybox\nCOPY f.txt f.txt /notadir\n", "When using COPY with more than one source file, the destination must be a directory and end with a /", 1),
        ("FROM busybox\nSTOPSIGNAL NOPE\n", "Dockerfile:2: STOPSIGNAL NOPE: invalid signal: NOPE", 1),
        ("FROM busybox\nCOPY --chown=nobody2 f.txt /x\n", "can't find uid for user nobody2", 1),
    ];
    for (df, msg, code) in cases {
        c.write("Dockerfile", df);
        for out in [
            d.berth(&["build", "-t", "broken", &c.s()]),
            docker_build_env(&d, &["build", "-t", "broken", &c.s()], None),
        ] {
            let e = fails(&out);
            assert!(e.contains(msg), "{df}: {e}");
            assert_eq!(out.status.code(), Some(*code), "{df}: {e}");
        }
        nothing_left(&d);
    }
    // No image was tagged by the failed builds.
    assert!(fails(&d.berth(&["image", "inspect", "broken"])).contains("No such image"));
    // A base image that is nowhere.
    c.write("Dockerfile", "FROM no-such-image-here:1\n");
    let e = fails(&d.berth(&["build", &c.s()]));
    assert!(e.contains("Dockerfile:1: FROM no-such-image-here:1"), "{e}");
    // Only the host's platform.
    c.write("Dockerfile", "FROM busybox\n");
    let e = fails(&d.berth(&["build", "--platform", "linux/s390x", &c.s()]));
    assert!(
        e.contains("platform \"linux/s390x\" is not supported"),
        "{e}"
    );
}

/// The seminar's lab 1 Dockerfile, on a busybox base, through the real
/// docker CLI.
#[test]
fn docker_cli_builds_lab1() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest", &[]);
    let c = Ctx::new(&[
        (
            "Dockerfile",
            "FROM busybox\nRUN mkdir -p /var/www/html && echo 'built by RUN' > /var/www/built.txt\nCOPY index.html /var/www/html/\nWORKDIR /var/www/html\nEXPOSE 80\nCMD [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/var/www/html\"]\n",
        ),
        ("index.html", "<h1>Hello from lab 1</h1>\n"),
    ]);
    let out = ok(&docker_build_env(
        &d,
        &["build", "-t", "lab1:v1", &c.s()],
        None,
    ));
    assert!(
        out.contains("Sending build context to Docker daemon"),
        "{out}"
    );
    assert!(out.contains("Step 1/6 : FROM busybox"), "{out}");
    assert!(out.contains("Successfully tagged lab1:v1"), "{out}");
    let cfg = ok(&d.docker(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Cmd}} {{.Config.WorkingDir}} {{json .Config.ExposedPorts}}",
        "lab1:v1",
    ]));
    assert_eq!(
        cfg.trim(),
        r#"["httpd","-f","-p","80","-h","/var/www/html"] /var/www/html {"80/tcp":{}}"#
    );
    let page = ok(&d.docker(&[
        "run",
        "--rm",
        "lab1:v1",
        "cat",
        "index.html",
        "../built.txt",
    ]));
    assert_eq!(page, "<h1>Hello from lab 1</h1>\nbuilt by RUN\n");
    // The server runs as the image says.
    let id = ok(&d.docker(&["run", "-d", "lab1:v1"])).trim().to_string();
    let mut served = String::new();
    for _ in 0..50 {
        let o = d.docker(&["exec", &id, "wget", "-qO-", "http://127.0.0.1/"]);
        if o.status.success() {
            served = text(&o.stdout);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(served, "<h1>Hello from lab 1</h1>\n");
    ok(&d.docker(&["rm", "-f", &id]));
    let hist = ok(&d.docker(&["history", "--format", "{{.CreatedBy}}", "lab1:v1"]));
    assert!(
        hist.lines().next().unwrap().contains("CMD [\"httpd\""),
        "{hist}"
    );
    // Quiet and --iidfile.
    let iid = d.dir.path().join("iid");
    let q = ok(&docker_build_env(
        &d,
        &["build", "-q", "--iidfile", iid.to_str().unwrap(), &c.s()],
        None,
    ));
    let written = std::fs::read_to_string(&iid).unwrap();
    assert!(q.trim().starts_with("sha256:"), "{q}");
    assert_eq!(written.trim(), q.trim());
    let full = ok(&d.docker(&["image", "inspect", "-f", "{{.Id}}", "lab1:v1"]));
    assert_eq!(full.trim(), written.trim());
    // Without DOCKER_BUILDKIT=0 the CLI still takes the classic path.
    let plain = ok(&d.docker(&["build", "-t", "lab1:v2", &c.s()]));
    assert!(plain.contains("Successfully tagged lab1:v2"), "{plain}");
    nothing_left(&d);
}

#[test]
fn contexts_on_stdin_and_dockerfile_elsewhere() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest", &[]);
    // A Dockerfile alone on stdin.
    let out = ok(&d.berth_stdin(
        &["build", "-t", "s1", "-"],
        b"FROM busybox\nRUN echo from-stdin\n",
    ));
    assert!(out.contains("from-stdin"), "{out}");
    let out = ok(&docker_build_env(
        &d,
        &["build", "-t", "s2", "-"],
        Some(b"FROM busybox\nCMD [\"echo\", \"s2\"]\n"),
    ));
    assert!(out.contains("Successfully tagged s2:latest"), "{out}");
    assert_eq!(ok(&d.berth(&["run", "--rm", "s2"])), "s2\n");
    // A tar on stdin, plain and gzip-compressed, with -f naming the file.
    let tar = tar_of(&[
        (
            "build/Custom.df",
            b"FROM busybox\nCOPY data.txt /d\nCMD [\"cat\", \"/d\"]\n",
        ),
        ("data.txt", b"tar data\n"),
    ]);
    ok(&d.berth_stdin(&["build", "-f", "build/Custom.df", "-t", "s3", "-"], &tar));
    assert_eq!(ok(&d.berth(&["run", "--rm", "s3"])), "tar data\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    let gz = gz.finish().unwrap();
    ok(&d.berth_stdin(&["build", "-f", "build/Custom.df", "-t", "s4", "-"], &gz));
    assert_eq!(ok(&d.berth(&["run", "--rm", "s4"])), "tar data\n");
    // -f - with a directory context, and -f outside the context.
    let c = Ctx::new(&[("data.txt", "dir data\n")]);
    let df = b"FROM busybox\nCOPY data.txt /d\nCMD [\"cat\", \"/d\"]\n";
    ok(&d.berth_stdin(&["build", "-f", "-", "-t", "s5", &c.s()], df));
    assert_eq!(ok(&d.berth(&["run", "--rm", "s5"])), "dir data\n");
    ok(&docker_build_env(
        &d,
        &["build", "-f", "-", "-t", "s6", &c.s()],
        Some(df),
    ));
    assert_eq!(ok(&d.berth(&["run", "--rm", "s6"])), "dir data\n");
    let outside = d.dir.path().join("Outside.df");
    std::fs::write(&outside, df).unwrap();
    for env in [&[][..], &[("BERTH_BUILD_SEND_CONTEXT", "1")][..]] {
        ok(&berth_env(
            &d,
            &["build", "-f", outside.to_str().unwrap(), "-t", "s7", &c.s()],
            env,
        ));
        assert_eq!(ok(&d.berth(&["run", "--rm", "s7"])), "dir data\n");
    }
    let e = fails(&d.berth_stdin(&["build", "-f", "-", "-"], df));
    assert!(
        e.contains("can't use stdin for both build context and dockerfile"),
        "{e}"
    );
    let e = fails(&d.berth(&["build", "/no/such/dir"]));
    assert!(e.contains("unable to prepare context"), "{e}");
    nothing_left(&d);
}

/// A one-shot HTTP server on 127.0.0.1 serving `body` at any path.
fn serve_once(body: &'static [u8]) -> (String, std::thread::JoinHandle<()>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        use std::io::{Read, Write};
        l.set_nonblocking(false).unwrap();
        if let Ok((mut s, _)) = l.accept() {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            // The whole request first, as a real server reads it.
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(body);
        }
    });
    (format!("http://127.0.0.1:{port}/files/remote.txt"), h)
}

#[test]
fn copy_and_add_rules() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest", &[]);
    let c = Ctx::new(&[
        ("a.txt", "A\n"),
        ("b.txt", "B\n"),
        ("src/x.go", "x"),
        ("src/y.go", "y"),
        ("src/z.md", "z"),
        ("dir/inner/f", "f\n"),
    ]);
    std::os::unix::fs::symlink("/etc/passwd", c.path().join("dir/link")).unwrap();
    std::os::unix::fs::symlink("../a.txt", c.path().join("dir/rel")).unwrap();
    let mut tb = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o600);
    h.set_uid(1234);
    h.set_gid(1234);
    tb.append_data(&mut h, "pkg/owned.txt", &b"pkg\n"[..])
        .unwrap();
    let t = tb.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &t).unwrap();
    std::fs::write(c.path().join("pkg.tar.gz"), gz.finish().unwrap()).unwrap();
    let (url, server) = serve_once(b"downloaded\n");
    c.write(
        "Dockerfile",
        &format!(
            r#"FROM busybox
COPY a.txt b.txt /multi/
COPY a.txt /renamed.txt
COPY src/*.go /gofiles/
COPY dir /copied
ADD pkg.tar.gz /unpacked/
COPY pkg.tar.gz /not-unpacked/
ADD {url} /downloads/
COPY --chown=www-data --chmod=600 a.txt /owned/
COPY --chown=1000:2000 b.txt /numeric.txt
COPY <<EOF /inline.txt
inline content
EOF
RUN cd / && find multi renamed.txt gofiles copied unpacked not-unpacked downloads owned numeric.txt inline.txt | sort && cat copied/inner/f inline.txt downloads/remote.txt && readlink copied/link && readlink copied/rel && stat -c '%n %u:%g %a' owned/a.txt numeric.txt unpacked/pkg/owned.txt downloads/remote.txt
"#
        ),
    );
    let out = ok(&d.berth(&["build", "-t", "copies", &c.s()]));
    server.join().unwrap();
    for want in [
        "multi/a.txt\n",
        "multi/b.txt\n",
        "renamed.txt\n",
        "gofiles/x.go\n",
        "gofiles/y.go\n",
        "copied/inner/f\n",
        "unpacked/pkg/owned.txt\n",
        "not-unpacked/pkg.tar.gz\n",
        "downloads/remote.txt\n",
        "f\ninline content\ndownloaded\n",
        "/etc/passwd\n../a.txt\n",
        "owned/a.txt 33:33 600\n",
        "numeric.txt 1000:2000 644\n",
        "unpacked/pkg/owned.txt 1234:1234 600\n",
        "downloads/remote.txt 0:0 600\n",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    assert!(!out.contains("gofiles/z.md"), "{out}");
    // A symlink in the context that points outside is copied as a link,
    // never followed to the host's file.
    let host_passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let inside = ok(&d.berth(&["run", "--rm", "copies", "cat", "/copied/link"]));
    assert_ne!(inside, host_passwd);
    // A wildcard that matches nothing.
    c.write("Dockerfile", "FROM busybox\nCOPY *.nothing /x/\n");
    let e = fails(&d.berth(&["build", &c.s()]));
    assert!(
        e.contains("COPY failed: no source files were specified"),
        "{e}"
    );
    nothing_left(&d);
}

/// A one-shot HTTPS server on 127.0.0.1 with certificate `cert`, answering
/// `status` and `body` (with a `Last-Modified`) at any path. The handshake may fail
/// (an untrusting client): the thread then just ends.
fn serve_tls_once(
    cert: &rcgen::CertifiedKey<rcgen::KeyPair>,
    status: &'static str,
    body: &'static [u8],
) -> (String, std::thread::JoinHandle<()>) {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der())),
        )
        .unwrap();
    let config = std::sync::Arc::new(config);
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let Ok((s, _)) = l.accept() else { return };
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let conn = rustls::ServerConnection::new(config).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, s);
        let mut req = Vec::new();
        let mut buf = [0u8; 4096];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            match tls.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => req.extend_from_slice(&buf[..n]),
            }
        }
        let _ = write!(
            tls,
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = tls.write_all(body);
        let _ = tls.flush();
        tls.conn.send_close_notify();
        let _ = tls.flush();
    });
    (format!("https://127.0.0.1:{port}/files/secure.txt"), h)
}

#[test]
fn add_https_url() {
    let certs = tempfile::tempdir().unwrap();
    let trusted = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let ca = certs.path().join("ca.pem");
    std::fs::write(&ca, trusted.cert.pem()).unwrap();
    // The daemon trusts the test's certificate through SSL_CERT_FILE (its
    // own environment only; the host's trust store is left alone).
    let mut d = Daemon::unstarted(&[]);
    d.env
        .push(("SSL_CERT_FILE".into(), ca.display().to_string()));
    d.spawn().expect("daemon did not start");
    d.import_busybox("busybox:latest", &[]);
    let c = Ctx::new(&[]);
    let (url, server) = serve_tls_once(&trusted, "200 OK", b"over tls\n");
    c.write(
        "Dockerfile",
        &format!(
            "FROM busybox\nADD {url} /dl/\nRUN cat /dl/secure.txt && stat -c '%n %u:%g %a %Y' /dl/secure.txt\n"
        ),
    );
    let out = ok(&d.berth(&["build", "--no-cache", "-t", "tls-add", &c.s()]));
    server.join().unwrap();
    assert!(out.contains("over tls\n"), "{out}");
    // Mode 0600, root, mtime from Last-Modified (784111777).
    assert!(out.contains("/dl/secure.txt 0:0 600 784111777\n"), "{out}");
    // Anything but 200 is an error naming the status.
    let (url, server) = serve_tls_once(&trusted, "404 Not Found", b"gone\n");
    c.write("Dockerfile", &format!("FROM busybox\nADD {url} /dl/\n"));
    let e = fails(&d.berth(&["build", "--no-cache", &c.s()]));
    server.join().unwrap();
    assert!(
        e.contains(&format!("failed to GET {url} with status 404 Not Found")),
        "{e}"
    );
    // A certificate the daemon does not trust fails the build, naming the
    // URL and the reason.
    let untrusted = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let (url, server) = serve_tls_once(&untrusted, "200 OK", b"never\n");
    c.write("Dockerfile", &format!("FROM busybox\nADD {url} /dl/\n"));
    let e = fails(&d.berth(&["build", "--no-cache", &c.s()]));
    server.join().unwrap();
    assert!(e.contains(&url), "{e}");
    assert!(e.contains("certificate signed by unknown authority"), "{e}");
    nothing_left(&d);
}

#[test]
fn run_options_shell_mounts_network_and_heredocs() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest", &[]);
    let c = Ctx::new(&[("data/in.txt", "from context\n")]);
    c.write(
        "Dockerfile",
        r#"FROM busybox
SHELL ["/bin/sh", "-e", "-c"]
RUN ["/bin/echo", "exec form"]
RUN --network=none cat /proc/net/dev | grep -c : | sed 's/^/ifaces=/'
RUN --mount=type=cache,target=/cache echo run >> /cache/log && echo "cache lines: $(wc -l < /cache/log)"
RUN --mount=type=tmpfs,target=/scratch touch /scratch/t && ls /scratch
RUN --mount=type=bind,source=data,target=/mnt/data cat /mnt/data/in.txt
RUN <<EOT
#!/bin/sh
echo "script as $0"
EOT
RUN echo "proxy=$HTTP_PROXY"
RUN ls /cache /scratch 2>&1 | head -2 || true
"#,
    );
    let out = ok(&d.berth(&[
        "build",
        "--build-arg",
        "HTTP_PROXY=http://proxy.example:3128",
        "-t",
        "runs",
        &c.s(),
    ]));
    for want in [
        "exec form\n",
        "ifaces=1\n",
        "cache lines: 1\n",
        "\nt\n",
        "from context\n",
        "script as /dev/pipes/EOT\n",
        "proxy=http://proxy.example:3128\n",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    // Proxy values are not in the history; the cache mount persists.
    let hist = ok(&d.berth(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        "runs",
    ]));
    assert!(!hist.contains("proxy.example"), "{hist}");
    let again = ok(&d.berth(&["build", "--no-cache", "-t", "runs", &c.s()]));
    assert!(again.contains("cache lines: 2\n"), "{again}");
    // The bind mount's source is part of the step's cache key: unchanged,
    // everything is cached; changed, that RUN (and what follows) runs again.
    let cached = ok(&d.berth(&["build", "-t", "runs", &c.s()]));
    assert!(steps_cached(&cached).iter().all(|c| *c), "{cached}");
    c.write("data/in.txt", "changed in context\n");
    let changed = ok(&d.berth(&["build", "-t", "runs", &c.s()]));
    assert!(changed.contains("changed in context\n"), "{changed}");
    assert_eq!(
        steps_cached(&changed),
        vec![true, true, true, true, true, false, false, false, false],
        "{changed}"
    );
    // Mount points made for the step do not hold the mounted content.
    let ls = ok(&d.berth(&[
        "run",
        "--rm",
        "runs",
        "sh",
        "-c",
        "ls -A /cache /scratch /mnt/data 2>/dev/null | wc -w",
    ]));
    assert_eq!(ls.trim(), "3", "only the three headers, no content: {ls}");
    // --network none for the whole build.
    c.write(
        "Dockerfile",
        "FROM busybox\nRUN cat /proc/net/dev | grep -c : \n",
    );
    let n = ok(&d.berth(&["build", "--no-cache", "--network", "none", &c.s()]));
    assert!(n.contains("\n1\n"), "{n}");
    nothing_left(&d);
}

#[test]
fn quiet_iidfile_and_dangling_results() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest", &[]);
    let c = Ctx::new(&[("Dockerfile", "FROM busybox\nRUN echo noisy\nLABEL x=y\n")]);
    let iid: PathBuf = d.dir.path().join("iid.txt");
    let out = ok(&d.berth(&["build", "-q", "--iidfile", iid.to_str().unwrap(), &c.s()]));
    assert!(!out.contains("noisy"), "{out}");
    let id = out.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{out}");
    assert_eq!(std::fs::read_to_string(&iid).unwrap(), id);
    // Untagged results are listed as <none> and can be run by ID.
    let ls = ok(&d.berth(&["images"]));
    assert!(ls.contains("<none>"), "{ls}");
    ok(&d.berth(&["run", "--rm", id, "true"]));
    // A quiet build that fails shows what happened.
    c.write(
        "Dockerfile",
        "FROM busybox\nRUN echo shown-on-failure && false\n",
    );
    let e = fails(&d.berth(&["build", "-q", &c.s()]));
    assert!(e.contains("shown-on-failure"), "{e}");
    assert!(e.contains("returned a non-zero code: 1"), "{e}");
    nothing_left(&d);
}

/// ONBUILD triggers run in the child's build, MAINTAINER sets the author,
/// `FROM scratch` with `COPY --from=` an image (not a stage), and FROM by
/// image ID: with berth's CLI and the docker CLI's classic builder.
#[test]
fn onbuild_maintainer_scratch_and_copy_from_an_image() {
    let d = Daemon::start();
    let bb = d.import_busybox("busybox:latest", &[]);
    let parent = Ctx::new(&[(
        "Dockerfile",
        "FROM busybox\nMAINTAINER Alumno <alumno@example.com>\nONBUILD RUN echo onbuild-ran > /onbuild.txt\n",
    )]);
    ok(&d.berth(&["build", "-t", "parent:1", &parent.s()]));
    let fmt = "{{.Author}}|{{json .Config.OnBuild}}";
    assert_eq!(
        ok(&d.docker(&["inspect", "-f", fmt, "parent:1"])).trim(),
        r#"Alumno <alumno@example.com>|["RUN echo onbuild-ran > /onbuild.txt"]"#
    );
    let child = Ctx::new(&[("Dockerfile", "FROM parent:1\nRUN cat /onbuild.txt\n")]);
    let mut cmd = std::process::Command::new(docker_bin());
    cmd.args(["-H", &d.host(), "build", "-t", "child:1", &child.s()])
        .env("DOCKER_BUILDKIT", "0");
    let out = ok(&cmd.output().unwrap());
    assert!(out.contains("# Executing 1 build trigger"), "{out}");
    assert!(out.contains("onbuild-ran"), "{out}");
    // Triggers run once: the child does not pass them on.
    assert_eq!(
        ok(&d.berth(&["inspect", "-f", "{{json .Config.OnBuild}}", "child:1"])).trim(),
        "null"
    );
    // FROM scratch, a file from an image, and FROM by image ID.
    let scratch = Ctx::new(&[(
        "Dockerfile",
        &format!(
            "FROM scratch AS tiny\nCOPY --from=busybox /bin/busybox /busybox\nCMD [\"/busybox\", \"echo\", \"from scratch\"]\n\
             FROM {bb}\nRUN echo by-id\n"
        ),
    )]);
    let out = ok(&d.berth(&["build", "--target", "tiny", "-t", "tiny:1", &scratch.s()]));
    assert!(!out.contains("by-id"), "only the target stage: {out}");
    assert_eq!(
        ok(&d.berth(&["run", "--rm", "--network", "none", "tiny:1"])).trim(),
        "from scratch"
    );
    assert_eq!(
        ok(&d.berth(&["inspect", "-f", "{{len .RootFS.Layers}}", "tiny:1"])).trim(),
        "1"
    );
    let out = ok(&d.berth(&["build", "-t", "byid:1", &scratch.s()]));
    assert!(out.contains("by-id"), "{out}");
    nothing_left(&d);
}
