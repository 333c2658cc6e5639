//! docker-compose 1.29's config hash as berth reproduces it
//! (`berth_compose::v1`), checked against docker-compose itself: for each
//! project of the table, the `config_dict` berth builds must be the one
//! docker-compose's own Python code builds (run through
//! `fixtures/v1_config_dict.py` with a mocked daemon), byte for byte, so
//! the hashes agree. Skipped (with SKIPPED) where docker-compose 1.29's
//! Python package is not installed.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use berth_compose::{load, v1};
use common::TestProject;

const IMAGE_ID: &str = "sha256:abababababababababababababababababababababababababababababababab";

/// The Python that runs docker-compose (Debian's package), if usable.
fn python() -> Option<String> {
    let py =
        std::env::var("BERTH_TEST_COMPOSE_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import compose.project"])
        .output()
        .ok()?
        .status
        .success();
    ok.then_some(py)
}

/// docker-compose's config_dict of each service, as JSON text.
fn oracle(
    py: &str,
    dir: &Path,
    name: &str,
    files: &[&str],
    env: &[(&str, &str)],
) -> BTreeMap<String, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1_config_dict.py");
    let mut cmd = Command::new(py);
    cmd.arg(script).arg(dir).arg(name).args(files).env_clear();
    cmd.env("HOME", "/home/tester");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run python");
    assert!(
        out.status.success(),
        "docker-compose failed on {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(s, j)| (s.to_string(), j.to_string()))
        .collect()
}

/// Loads the project as `berth compose` does and compares every service.
fn check(py: &str, case: &str, files: &[(&str, &str)], f_flags: &[&str], env: &[(&str, &str)]) {
    let p = TestProject::new(case, files);
    let mut opts = p.options();
    opts.project_name = Some(case.to_string());
    opts.files = f_flags.iter().map(|f| p.path(f)).collect();
    for (k, v) in env {
        opts.environment.insert(k.to_string(), v.to_string());
    }
    let project = load(opts).unwrap_or_else(|e| panic!("{case}: {e}"));
    let want = oracle(py, &p.dir, case, f_flags, env);
    assert!(!want.is_empty(), "{case}: no service from docker-compose");
    for (svc, json) in &want {
        let dict = v1::config_dict(&project, svc, Some(IMAGE_ID))
            .unwrap_or_else(|| panic!("{case}/{svc}: berth cannot compute the v1 config dict"));
        assert_eq!(&v1::py_json(&dict), json, "{case}/{svc}");
        let hash = v1::config_hash(&project, svc, Some(IMAGE_ID));
        assert_eq!(hash.map(|h| h.len()), Some(64));
    }
}

#[test]
fn config_dict_matches_docker_compose_1_29() {
    let Some(py) = python() else {
        eprintln!("SKIPPED: docker-compose 1.29's Python package is not installed");
        return;
    };
    // The shared-project test's file, and the seminar's lab.
    check(
        &py,
        "shared",
        &[(
            "docker-compose.yml",
            "version: \"3.8\"\nservices:\n  web:\n    image: busybox\n    init: true\n    command: httpd -f -p 80 -h /\n  worker:\n    image: busybox\n    init: true\n    command: sh -c 'echo working; sleep 300'\n    volumes:\n      - data:/data\nvolumes:\n  data:\n",
        )],
        &[],
        &[],
    );
    check(
        &py,
        "lab",
        &[(
            "docker-compose.yml",
            r#"services:
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
      - "127.0.0.1:8080:80"
    depends_on:
      - web
volumes:
  counter:
"#,
        )],
        &[],
        &[],
    );
    // Most keys of a service, short and long syntaxes, interpolation,
    // env_file and the environment, secrets, networks with aliases.
    check(
        &py,
        "wide",
        &[
            (
                "docker-compose.yml",
                r#"version: "3.8"
services:
  app:
    build:
      context: ./app
      args:
        GREETING: hola
        FROM_ENV:
      labels: [a=b]
    image: ${REGISTRY:-127.0.0.1:5000}/app:${TAG}
    command: ["sh", "-c", "sleep 1000"]
    entrypoint: /bin/sh
    environment:
      A: 1
      B: "two"
      C:
      D: ${DVAL}
    env_file: [./app.env]
    ports:
      - 8080:80
      - "127.0.0.1:9000-9001:9000-9001/udp"
      - target: 443
        published: "8443"
        protocol: tcp
        mode: host
      - 7000
    expose: ["5000", 5001]
    volumes:
      - ./data:/data
      - cache:/cache:ro
      - /anon
      - type: bind
        source: ./conf
        target: /etc/conf
        read_only: true
      - type: volume
        source: cache
        target: /cache2
        volume:
          nocopy: true
      - type: tmpfs
        target: /tmp
        tmpfs:
          size: 1000
    networks:
      front:
        aliases: [app-alias]
      back:
    labels:
      com.example.team: blue
      com.example.n: "7"
    restart: on-failure:3
    healthcheck:
      test: ["CMD", "true"]
      interval: 30s
      timeout: 1m30s
      start_period: 1.5s
      retries: 3
    stop_grace_period: 20s
    stop_signal: SIGINT
    user: "1000:1000"
    working_dir: /srv
    hostname: apphost
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    privileged: false
    read_only: true
    tmpfs: /run
    dns: 1.1.1.1
    dns_search: [example.com]
    extra_hosts: ["somehost:162.242.195.82"]
    sysctls:
      net.core.somaxconn: 1024
    ulimits:
      nofile: {soft: 1024, hard: 2048}
      nproc: 65535
    logging:
      driver: json-file
      options: {max-size: 10m}
    secrets:
      - token
      - source: other
        target: other.txt
    depends_on:
      db:
        condition: service_healthy
    init: true
    shm_size: 64m
    security_opt: ["no-new-privileges:true", "label=disable"]
    stdin_open: true
    tty: true
    x-extra: whatever
  db:
    image: busybox
    network_mode: host
    deploy:
      resources:
        limits: {memory: 256m, cpus: "0.5"}
        reservations: {memory: 128m}
      restart_policy:
        condition: on-failure
        max_attempts: 4
  side:
    image: busybox
    network_mode: service:db
    ipc: host
    links: [db, "app:application"]
    volumes_from: [app, "db:ro"]
networks:
  front:
  back:
    name: custom-back
volumes:
  cache:
secrets:
  token:
    file: ./token.txt
  other:
    file: ./other.txt
"#,
            ),
            ("app.env", "FROM_FILE=yes\nA=overridden-by-environment\n"),
            ("token.txt", "t\n"),
            ("other.txt", "o\n"),
            ("app/Dockerfile", "FROM busybox\n"),
        ],
        &[],
        &[
            ("TAG", "v1"),
            ("DVAL", "dee"),
            ("C", "from-env"),
            ("FROM_ENV", "fe"),
        ],
    );
    // An override file: docker-compose merges every service (lists sorted
    // and deduplicated, ports by target, volumes by container path).
    check(
        &py,
        "merged",
        &[
            (
                "docker-compose.yml",
                r#"version: "3.8"
services:
  web:
    image: busybox
    command: sleep 100
    environment: [A=1, B=2]
    ports: ["8080:80", "9090:90"]
    volumes: ["./b:/b", "./a:/a"]
    cap_add: [SYS_PTRACE, NET_ADMIN]
    labels: [x=1]
    networks: [default]
  other:
    image: busybox
    command: ["sleep", "100"]
    dns: 8.8.8.8
"#,
            ),
            (
                "docker-compose.override.yml",
                r#"version: "3.8"
services:
  web:
    environment:
      B: "3"
      C: "4"
    ports: ["7070:70"]
    volumes: ["./c:/a:ro"]
    cap_add: [NET_ADMIN, CHOWN]
    labels: {y: "2"}
    healthcheck:
      test: ["CMD", "true"]
      interval: 10s
"#,
            ),
        ],
        &[],
        &[],
    );
    // extends within the file.
    check(
        &py,
        "ext",
        &[(
            "docker-compose.yml",
            r#"version: "3.8"
services:
  base:
    image: busybox
    environment: {A: "1"}
    volumes: ["./x:/x"]
  child:
    extends: base
    command: sleep 5
    environment: {B: "2"}
"#,
        )],
        &[],
        &[],
    );
}
