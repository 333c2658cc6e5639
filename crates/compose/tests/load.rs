//! Loading projects from files on disk: discovery, environment, project
//! names, merging, extends, profiles, validation errors and the
//! seminar-style example projects.

mod common;

use berth_compose::{load, ComposeError, LoadOptions};
use common::{options_in, TestProject};
use serde_json::json;

const SEMINAR: &str = r#"
services:
  web:
    build: ./app
    ports:
      - "8080:80"
    environment:
      REDIS_HOST: redis
    depends_on:
      redis:
        condition: service_healthy
  redis:
    image: redis:7-alpine
    command: redis-server --appendonly yes
    volumes:
      - counter:/data
    healthcheck:
      test: ["CMD", "redis-cli", "ping"]
      interval: 5s
      timeout: 3s
      retries: 5
      start_period: 1m30s
volumes:
  counter:
"#;

#[test]
fn seminar_project() {
    let p = TestProject::new(
        "Seminar App",
        &[
            ("compose.yaml", SEMINAR),
            ("app/Dockerfile", "FROM busybox\n"),
        ],
    );
    let project = load(p.options()).unwrap();
    assert_eq!(project.name, "seminarapp");
    assert_eq!(project.working_dir, p.dir);
    assert_eq!(project.config_files, vec![p.path("compose.yaml")]);

    let web = &project.services["web"];
    let build = web.build.as_ref().unwrap();
    assert_eq!(build.context, p.path("app").display().to_string());
    assert_eq!(build.dockerfile.as_deref(), Some("Dockerfile"));
    assert_eq!(web.ports.len(), 1);
    assert_eq!(web.ports[0].target, 80);
    assert_eq!(web.ports[0].published.as_deref(), Some("8080"));
    assert_eq!(web.ports[0].protocol, "tcp");
    assert_eq!(web.depends_on["redis"].condition, "service_healthy");
    assert!(web.depends_on["redis"].required);
    assert_eq!(web.environment["REDIS_HOST"].as_deref(), Some("redis"));
    assert!(web.networks.contains_key("default"));

    let redis = &project.services["redis"];
    assert_eq!(
        redis.command.as_deref().unwrap(),
        ["redis-server", "--appendonly", "yes"]
    );
    assert_eq!(redis.volumes[0].kind, "volume");
    assert_eq!(redis.volumes[0].source.as_deref(), Some("counter"));
    assert_eq!(redis.volumes[0].target, "/data");
    let hc = redis.healthcheck.as_ref().unwrap();
    assert_eq!(hc.test, ["CMD", "redis-cli", "ping"]);
    assert_eq!(hc.interval.unwrap().seconds(), 5);
    assert_eq!(hc.start_period.unwrap().seconds(), 90);
    assert_eq!(hc.retries, Some(5));

    assert_eq!(project.volumes["counter"].name, "seminarapp_counter");
    assert_eq!(project.networks["default"].name, "seminarapp_default");
    assert_eq!(project.start_order(), ["redis", "web"]);
    assert_eq!(project.stop_order(), ["web", "redis"]);
}

#[test]
fn default_files_override_and_parent_discovery() {
    let p = TestProject::new(
        "proj",
        &[
            (
                "docker-compose.yml",
                "services:\n  a:\n    image: a:1\n    ports: ['80:80']\n",
            ),
            (
                "docker-compose.override.yml",
                "services:\n  a:\n    image: a:2\n    ports: ['81:81']\n",
            ),
            ("sub/dir/.keep", ""),
        ],
    );
    let project = load(options_in(&p.path("sub/dir"))).unwrap();
    assert_eq!(project.name, "proj");
    assert_eq!(project.config_files.len(), 2);
    let a = &project.services["a"];
    assert_eq!(a.image.as_deref(), Some("a:2"));
    assert_eq!(a.ports.len(), 2);

    let empty = TestProject::new("nothing", &[]);
    let err = load(empty.options()).unwrap_err();
    assert!(matches!(err, ComposeError::NoConfigFile { .. }), "{err}");
}

#[test]
fn compose_file_env_and_explicit_files() {
    let p = TestProject::new(
        "multi",
        &[
            ("base.yml", "services:\n  web:\n    image: nginx\n    command: [\"a\", \"b\"]\n    environment: [A=1, B=2]\n    labels: {x: '1'}\n    volumes: [./html:/usr/share/nginx/html, logs:/var/log]\nvolumes:\n  logs: {}\n"),
            ("prod.yml", "services:\n  web:\n    command: serve --prod\n    environment: {B: '3', C: '4'}\n    labels: [y=2]\n    volumes: [/srv/html:/usr/share/nginx/html:ro]\n"),
        ],
    );
    let mut o = p.options();
    o.environment
        .insert("COMPOSE_FILE".into(), "base.yml:prod.yml".into());
    let project = load(o).unwrap();
    let web = &project.services["web"];
    assert_eq!(web.command.as_deref().unwrap(), ["serve", "--prod"]);
    assert_eq!(web.environment["A"].as_deref(), Some("1"));
    assert_eq!(web.environment["B"].as_deref(), Some("3"));
    assert_eq!(web.environment["C"].as_deref(), Some("4"));
    assert_eq!(web.labels.len(), 2);
    assert_eq!(web.volumes.len(), 2);
    assert_eq!(web.volumes[0].source.as_deref(), Some("/srv/html"));
    assert!(web.volumes[0].read_only);

    // -f wins over COMPOSE_FILE; relative to cwd.
    let mut o = p.options();
    o.environment
        .insert("COMPOSE_FILE".into(), "prod.yml".into());
    o.files = vec!["base.yml".into()];
    let project = load(o).unwrap();
    assert_eq!(
        project.services["web"].command.as_deref().unwrap(),
        ["a", "b"]
    );
}

#[test]
fn reset_and_override_tags_across_files() {
    let p = TestProject::new(
        "tags",
        &[
            ("compose.yaml", "services:\n  web:\n    image: nginx\n    ports: ['80:80']\n    environment: {A: '1', B: '2'}\n"),
            ("compose.override.yaml", "services:\n  web:\n    ports: !reset []\n    environment: !override\n      C: '3'\n"),
        ],
    );
    let project = load(p.options()).unwrap();
    let web = &project.services["web"];
    assert!(web.ports.is_empty());
    assert_eq!(web.environment.keys().collect::<Vec<_>>(), ["C"]);
}

#[test]
fn dotenv_interpolation_and_precedence() {
    let p = TestProject::new(
        "envs",
        &[
            (".env", "TAG=from-dotenv\nPORT=8000\nCOMPOSE_PROFILES=debug\n"),
            ("compose.yaml", "services:\n  web:\n    image: \"app:${TAG}\"\n    ports: [\"${PORT}:80\"]\n    environment:\n      - FROM_SHELL\n      - UNSET_VAR\n      - LITERAL=$$HOME\n  debug:\n    image: busybox\n    profiles: [debug]\n"),
        ],
    );
    let mut o = p.options();
    o.environment.insert("PORT".into(), "9000".into());
    o.environment.insert("FROM_SHELL".into(), "shell".into());
    let project = load(o).unwrap();
    let web = &project.services["web"];
    assert_eq!(web.image.as_deref(), Some("app:from-dotenv"));
    assert_eq!(web.ports[0].published.as_deref(), Some("9000"));
    assert_eq!(web.environment["FROM_SHELL"].as_deref(), Some("shell"));
    assert_eq!(web.environment["UNSET_VAR"], None);
    assert_eq!(web.environment["LITERAL"].as_deref(), Some("$HOME"));
    // COMPOSE_PROFILES from .env activates the profile.
    assert!(project.services.contains_key("debug"));

    // --env-file replaces the default .env.
    p.write("other.env", "TAG=other\nPORT=1\n");
    let mut o = p.options();
    o.env_files = vec!["other.env".into()];
    let project = load(o).unwrap();
    assert_eq!(project.services["web"].image.as_deref(), Some("app:other"));
    assert!(!project.services.contains_key("debug"));

    let mut o = p.options();
    o.env_files = vec!["missing.env".into()];
    let err = load(o).unwrap_err();
    assert!(err.to_string().contains("missing.env"), "{err}");
}

#[test]
fn unset_variables_warn() {
    let p = TestProject::new(
        "warn",
        &[(
            "compose.yaml",
            "version: '3.8'\nservices:\n  a:\n    image: \"x:${NOPE}\"\n",
        )],
    );
    let project = load(p.options()).unwrap();
    assert_eq!(project.services["a"].image.as_deref(), Some("x:"));
    assert!(project
        .warnings
        .iter()
        .any(|w| w == "The \"NOPE\" variable is not set. Defaulting to a blank string."));
    assert!(project
        .warnings
        .iter()
        .any(|w| w.contains("the attribute `version` is obsolete")));
}

#[test]
fn env_files_of_services() {
    let p = TestProject::new(
        "envfile",
        &[
            ("compose.yaml", "services:\n  a:\n    image: x\n    env_file:\n      - common.env\n      - path: ./optional.env\n        required: false\n    environment:\n      OVERRIDE: from-compose\n"),
            ("common.env", "# comment\nexport A=1\nOVERRIDE=from-file\nQUOTED=\"x y\"\nREF=${A}-${HOST_ONLY}\n"),
        ],
    );
    let mut o = p.options();
    o.environment.insert("HOST_ONLY".into(), "h".into());
    let project = load(o).unwrap();
    let env = &project.services["a"].environment;
    assert_eq!(env["A"].as_deref(), Some("1"));
    assert_eq!(env["OVERRIDE"].as_deref(), Some("from-compose"));
    assert_eq!(env["QUOTED"].as_deref(), Some("x y"));
    assert_eq!(env["REF"].as_deref(), Some("1-h"));
    assert_eq!(
        project.services["a"].env_file[0].path,
        p.path("common.env").display().to_string()
    );

    p.write(
        "compose.yaml",
        "services:\n  a:\n    image: x\n    env_file: nope.env\n",
    );
    let err = load(p.options()).unwrap_err().to_string();
    assert!(
        err.contains("env file") && err.contains("nope.env") && err.contains("not found"),
        "{err}"
    );
}

#[test]
fn profiles() {
    let yaml = "services:\n  app:\n    image: a\n  debug:\n    image: d\n    profiles: [debug]\n    depends_on: [app]\n  tools:\n    image: t\n    profiles: [tools, debug]\n";
    let p = TestProject::new("prof", &[("compose.yaml", yaml)]);
    let project = load(p.options()).unwrap();
    assert_eq!(project.services.keys().collect::<Vec<_>>(), ["app"]);
    assert_eq!(project.disabled_services.len(), 2);

    let mut o = p.options();
    o.profiles = vec!["debug".into()];
    let project = load(o).unwrap();
    assert_eq!(
        project.services.keys().collect::<Vec<_>>(),
        ["app", "debug", "tools"]
    );

    let mut o = p.options();
    o.profiles = vec!["*".into()];
    assert_eq!(load(o).unwrap().services.len(), 3);

    let mut project = load(p.options()).unwrap();
    project.enable_services(&["tools".into()]).unwrap();
    assert!(project.services.contains_key("tools"));
    assert!(project.services.contains_key("debug"));
    assert!(matches!(
        project.enable_services(&["nope".into()]),
        Err(ComposeError::NoSuchService(_))
    ));

    // A required dependency on a disabled service is an error.
    let p = TestProject::new(
        "prof2",
        &[("compose.yaml", "services:\n  app:\n    image: a\n    depends_on: [db]\n  db:\n    image: d\n    profiles: [db]\n")],
    );
    let err = load(p.options()).unwrap_err().to_string();
    assert!(
        err.contains("service \"app\" depends on undefined service \"db\""),
        "{err}"
    );
}

#[test]
fn extends_same_file_other_file_and_cycles() {
    let p = TestProject::new(
        "ext",
        &[
            ("compose.yaml", "services:\n  base:\n    image: base\n    environment: {A: '1'}\n    ports: ['80:80']\n  mid:\n    extends: base\n    environment: {B: '2'}\n  web:\n    extends:\n      service: mid\n    command: run\n  remote:\n    extends:\n      file: common/services.yml\n      service: shared\n    environment: [C=3]\n"),
            ("common/services.yml", "services:\n  shared:\n    build: ./ctx\n    volumes: ['./data:/data']\n    environment: [S=1]\n"),
        ],
    );
    let project = load(p.options()).unwrap();
    let web = &project.services["web"];
    assert_eq!(web.image.as_deref(), Some("base"));
    assert_eq!(web.environment["A"].as_deref(), Some("1"));
    assert_eq!(web.environment["B"].as_deref(), Some("2"));
    assert_eq!(web.command.as_deref().unwrap(), ["run"]);
    assert_eq!(web.ports.len(), 1);
    let remote = &project.services["remote"];
    assert_eq!(
        remote.build.as_ref().unwrap().context,
        p.path("common/ctx").display().to_string()
    );
    assert_eq!(
        remote.volumes[0].source.as_deref(),
        Some(p.path("common/data").display().to_string().as_str())
    );
    assert_eq!(remote.environment["S"].as_deref(), Some("1"));
    assert_eq!(remote.environment["C"].as_deref(), Some("3"));

    p.write(
        "compose.yaml",
        "services:\n  a:\n    image: x\n    extends: b\n  b:\n    image: y\n    extends: a\n",
    );
    let err = load(p.options()).unwrap_err().to_string();
    assert!(err.starts_with("Circular reference:"), "{err}");

    p.write("compose.yaml", "services:\n  a:\n    extends: nope\n");
    let err = load(p.options()).unwrap_err().to_string();
    assert!(err.contains("service \"nope\" not found"), "{err}");
}

#[test]
fn project_name_rules() {
    let p = TestProject::new(
        "Dir.Name_X",
        &[("compose.yaml", "services:\n  a:\n    image: x\n")],
    );
    assert_eq!(load(p.options()).unwrap().name, "dirname_x");

    let mut o = p.options();
    o.environment
        .insert("COMPOSE_PROJECT_NAME".into(), "fromenv".into());
    assert_eq!(load(o.clone()).unwrap().name, "fromenv");
    o.project_name = Some("flag".into());
    assert_eq!(load(o).unwrap().name, "flag");

    let mut o = p.options();
    o.project_name = Some("Bad Name".into());
    let err = load(o).unwrap_err();
    assert!(
        matches!(err, ComposeError::ProjectName(ref n) if n == "Bad Name"),
        "{err}"
    );
    let mut o = p.options();
    o.environment
        .insert("COMPOSE_PROJECT_NAME".into(), "UPPER".into());
    assert!(matches!(load(o).unwrap_err(), ComposeError::ProjectName(_)));

    p.write("compose.yaml", "name: \"My ${SUFFIX:-Proj}\"\nservices:\n  a:\n    image: x\n    environment: [N=$COMPOSE_PROJECT_NAME]\n");
    let project = load(p.options()).unwrap();
    assert_eq!(project.name, "myproj");
    assert_eq!(
        project.services["a"].environment["N"].as_deref(),
        Some("myproj")
    );

    let p = TestProject::new(
        "___",
        &[("compose.yaml", "services:\n  a:\n    image: x\n")],
    );
    assert!(load(p.options())
        .unwrap_err()
        .to_string()
        .contains("project name must not be empty"));
}

fn load_err(yaml: &str) -> String {
    let p = TestProject::new("errs", &[("compose.yaml", yaml)]);
    let err = load(p.options()).unwrap_err();
    err.to_string()
        .replace(&p.path("compose.yaml").display().to_string(), "FILE")
}

#[test]
fn validation_errors() {
    let table = [
        (
            "services:\n  web:\n    imagee: nginx\n",
            "validating FILE: services.web Additional property imagee is not allowed",
        ),
        (
            "services:\n  web:\n    image: nginx\n    networks: [front]\n",
            "service \"web\" refers to undefined network front: invalid compose project",
        ),
        (
            "services:\n  web:\n    image: nginx\n    volumes: ['data:/data']\n",
            "service \"web\" refers to undefined volume data: invalid compose project",
        ),
        (
            "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [c]\n  c:\n    image: x\n    depends_on: [a]\n",
            "dependency cycle detected: a -> b -> c -> a",
        ),
        (
            "services:\n  web:\n    image: \"${TAG:?TAG must be set}\"\n",
            "error while interpolating services.web.image: required variable TAG is missing a value: TAG must be set",
        ),
        (
            "services:\n  web:\n    image: \"${\"\n",
            "invalid interpolation format for services.web.image: \"${\". You may need to escape any $ with another $.",
        ),
        (
            "services:\n  web:\n    restart: always\n",
            "service \"web\" has neither an image nor a build context specified: invalid compose project",
        ),
        (
            "services:\n  web:\n    image: x\n    container_name: fixed\n    scale: 2\n",
            "services.web: can't set container_name and scale as container name must be unique: invalid compose project",
        ),
        (
            "services:\n  web:\n    image: x\n    ports: ['80:80:80:80/tcpx']\n",
            "services.web.ports[0]: invalid proto: tcpx",
        ),
        (
            "services:\n  web:\n    image: x\n    ports: ['99999:80']\n",
            "services.web.ports[0]: invalid hostPort: 99999",
        ),
        (
            "services:\n  web:\n    image: x\n    depends_on: [db]\n",
            "service \"web\" depends on undefined service \"db\": invalid compose project",
        ),
        (
            "services:\n  web:\n    image: x\n    privileged: maybe\n",
            "error while interpolating services.web.privileged: failed to cast to expected type: invalid boolean: maybe",
        ),
        (
            "services:\n  web:\n    image: x\n    ports: 80\n",
            "validating FILE: services.web.ports must be a list",
        ),
        (
            "services:\n  web:\n    image: x\n    secrets: [s]\n",
            "service \"web\" refers to undefined secret s: invalid compose project",
        ),
        (
            "services:\n  web:\n    image: x\n    network_mode: host\n    networks: [default]\n",
            "service web declares mutually exclusive `network_mode` and `networks`: invalid compose project",
        ),
        (
            "services:\n  web:\n    image: x\n    healthcheck:\n      test: [\"BOGUS\"]\n",
            "services.web.healthcheck.test must start either by \"CMD\", \"CMD-SHELL\" or \"NONE\"",
        ),
        ("", "empty compose file"),
        (
            "include: [other.yml]\nservices:\n  a:\n    image: x\n",
            "FILE: `include` is not supported yet",
        ),
        ("services: [a\n", "failed to parse FILE"),
    ];
    for (yaml, want) in table {
        let got = load_err(yaml);
        assert!(
            got.starts_with(want),
            "yaml:\n{yaml}\n got: {got}\nwant: {want}"
        );
    }
}

#[test]
fn error_names_the_file_that_has_the_typo() {
    let p = TestProject::new(
        "typo",
        &[
            ("a.yml", "services:\n  web:\n    image: x\n"),
            ("b.yml", "services:\n  web:\n    enviroment: [A=1]\n"),
        ],
    );
    let mut o = p.options();
    o.files = vec!["a.yml".into(), "b.yml".into()];
    let err = load(o).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "validating {}: services.web Additional property enviroment is not allowed",
            p.path("b.yml").display()
        )
    );
}

#[test]
fn file_versions() {
    let v2 = "version: '2.4'\nservices:\n  db:\n    image: postgres\n    mem_limit: 512m\n    cpu_shares: 512\n    cpus: 0.5\n    volumes_from: [data]\n  data:\n    image: busybox\n";
    let p = TestProject::new("v2", &[("docker-compose.yml", v2)]);
    let project = load(p.options()).unwrap();
    let db = &project.services["db"];
    assert_eq!(db.mem_limit.unwrap().0, 512 << 20);
    assert_eq!(db.cpu_shares, Some(512));
    assert_eq!(db.cpus, Some(0.5));
    assert!(db.depends_on.contains_key("data"));

    let v3 = "version: \"3.8\"\nservices:\n  web:\n    image: nginx\n    deploy:\n      replicas: 2\n      resources:\n        limits: {cpus: '0.25', memory: 64M}\n      restart_policy: {condition: on-failure, max_attempts: 3, delay: 5s}\nnetworks:\n  default:\n    external:\n      name: shared\n";
    let p = TestProject::new("v3", &[("docker-compose.yml", v3)]);
    let project = load(p.options()).unwrap();
    let web = &project.services["web"];
    assert_eq!(web.replicas(), 2);
    let limits = web
        .deploy
        .as_ref()
        .unwrap()
        .resources
        .limits
        .as_ref()
        .unwrap();
    assert_eq!(limits.cpus, Some(0.25));
    assert_eq!(limits.memory.unwrap().0, 64 << 20);
    assert_eq!(project.networks["default"].name, "shared");
    assert!(project.networks["default"].external);
}

#[test]
fn long_syntax_and_misc_fields() {
    let yaml = r#"
services:
  web:
    image: nginx
    ports:
      - target: 80
        published: "8080"
        host_ip: 127.0.0.1
        protocol: udp
        mode: host
      - "3000-3002:4000-4002"
    expose: ["9000", 9001]
    volumes:
      - type: bind
        source: ./conf
        target: /etc/nginx/conf.d
        read_only: true
      - type: volume
        source: data
        target: /data
        volume: {nocopy: true}
      - type: tmpfs
        target: /cache
        tmpfs: {size: 10m}
    networks:
      front:
        aliases: [www]
        ipv4_address: 172.28.0.10
        priority: 10
      back:
    labels: [a=b]
    sysctls: {net.core.somaxconn: 1024}
    ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 512}
    extra_hosts: ["host.docker.internal:host-gateway"]
    logging: {driver: json-file, options: {max-size: 10m, max-file: 3}}
    tmpfs: /run
    cap_add: [NET_ADMIN]
    user: "1000:1000"
    working_dir: /app
    init: true
    stop_signal: SIGINT
    stop_grace_period: 1m
    entrypoint: ["/docker-entrypoint.sh"]
    x-custom: {any: thing}
networks:
  front:
    ipam:
      config: [{subnet: 172.28.0.0/16, gateway: 172.28.0.1}]
  back:
    internal: true
volumes:
  data:
    driver_opts: {type: none, o: bind, device: ./vol}
x-top: 1
"#;
    let p = TestProject::new("long", &[("compose.yaml", yaml)]);
    let project = load(p.options()).unwrap();
    let web = &project.services["web"];
    assert_eq!(web.ports.len(), 4);
    assert_eq!(web.ports[0].host_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(web.ports[0].mode, "host");
    assert_eq!(web.ports[3].target, 4002);
    assert_eq!(web.ports[3].published.as_deref(), Some("3002"));
    assert_eq!(web.expose, ["9000", "9001"]);
    assert_eq!(
        web.volumes[0].source.as_deref(),
        Some(p.path("conf").display().to_string().as_str())
    );
    assert!(web.volumes[0].read_only);
    assert!(web.volumes[1].volume.as_ref().unwrap().nocopy);
    assert_eq!(
        web.volumes[2].tmpfs.as_ref().unwrap().size.unwrap().0,
        10 << 20
    );
    assert_eq!(web.networks_by_priority(), ["front", "back"]);
    assert_eq!(web.sysctls["net.core.somaxconn"], "1024");
    assert_eq!(web.ulimits["nofile"].soft_hard(), (1024, 2048));
    assert_eq!(web.ulimits["nproc"].soft_hard(), (512, 512));
    assert_eq!(web.logging.as_ref().unwrap().options["max-file"], "3");
    assert_eq!(web.tmpfs, ["/run"]);
    assert_eq!(web.stop_grace_period.unwrap().seconds(), 60);
    assert_eq!(web.extras["x-custom"], json!({"any": "thing"}));
    assert_eq!(project.extensions["x-top"], json!(1));
    assert_eq!(
        project.networks["front"].ipam.as_ref().unwrap().config[0]
            .subnet
            .as_deref(),
        Some("172.28.0.0/16")
    );
    assert!(project.networks["back"].internal);
    assert_eq!(
        project.volumes["data"].driver_opts["device"],
        p.path("vol").display().to_string()
    );
}

#[test]
fn stdin_file() {
    let p = TestProject::new("stdin", &[]);
    let o = LoadOptions {
        files: vec!["-".into()],
        stdin: Some("services:\n  a:\n    image: x\n".into()),
        ..p.options()
    };
    let project = load(o).unwrap();
    assert_eq!(project.name, "stdin");
    assert!(project.services.contains_key("a"));
}

#[test]
fn env_file_formats() {
    let p = TestProject::new(
        "rawenv",
        &[
            ("compose.yaml", "services:\n  a:\n    image: x\n    cpus: 2\n    env_file:\n      - path: raw.env\n        format: raw\n"),
            ("raw.env", "# c\nA=\"quoted\" $HOME\nB\n"),
        ],
    );
    let project = load(p.options()).unwrap();
    let a = &project.services["a"];
    assert_eq!(a.environment["A"].as_deref(), Some("\"quoted\" $HOME"));
    assert_eq!(a.environment["B"].as_deref(), Some(""));
    assert_eq!(a.cpus, Some(2.0));

    p.write("compose.yaml", "services:\n  a:\n    image: x\n    env_file:\n      - path: raw.env\n        format: weird\n");
    let err = load(p.options()).unwrap_err().to_string();
    assert!(
        err.contains("unsupported env_file format \"weird\""),
        "{err}"
    );
}
