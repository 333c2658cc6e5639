//! The Engine API bodies and labels generated for a loaded project, and
//! `docker compose config` output.

mod common;

use berth_compose::engine::{
    config_hash, container_create, container_name, hash_matches, network_create,
    oneoff_container_name, v2_config_hash, volume_create, ContainerOptions, Naming,
};
use berth_compose::{config, load};
use common::TestProject;
use serde_json::json;

const APP: &str = r#"
services:
  web:
    build: ./app
    ports: ["8080:80", "127.0.0.1:9000:9000/udp"]
    expose: ["7000-7001"]
    environment: {A: "1", EMPTY: ""}
    labels: {team: blue}
    depends_on:
      redis: {condition: service_healthy}
    volumes: ["./static:/static:ro", "counter:/counter", "/anon"]
    networks:
      default:
        aliases: [frontend]
    restart: on-failure:3
    mem_limit: 256m
    cpus: 1.5
    healthcheck:
      test: curl -f http://localhost/
      interval: 30s
      retries: 3
    stop_grace_period: 20s
    secrets: [token]
    tmpfs: ["/run:size=64m"]
  redis:
    image: redis:7
    volumes: ["counter:/data"]
    deploy:
      restart_policy: {condition: any}
  helper:
    image: busybox
    network_mode: "service:redis"
    volumes_from: ["redis:ro"]
volumes:
  counter:
    labels: {keep: "yes"}
  ext:
    external: true
secrets:
  token:
    file: ./token.txt
"#;

fn project() -> (TestProject, berth_compose::Project) {
    let p = TestProject::new("shop", &[("compose.yaml", APP)]);
    let project = load(p.options()).unwrap();
    (p, project)
}

#[test]
fn names() {
    let (_p, project) = project();
    let web = &project.services["web"];
    assert_eq!(container_name("shop", web, 1, Naming::V2), "shop-web-1");
    assert_eq!(container_name("shop", web, 2, Naming::V1), "shop_web_2");
    let mut named = web.clone();
    named.container_name = Some("custom".into());
    assert_eq!(container_name("shop", &named, 1, Naming::V2), "custom");
    assert_eq!(
        oneoff_container_name("shop", "web", "0123456789abcdef", Naming::V2),
        "shop-web-run-0123456789ab"
    );
    assert_eq!(web.image_or_default("shop", '-'), "shop-web");
    assert_eq!(web.image_or_default("shop", '_'), "shop_web");
}

#[test]
fn container_body() {
    let (p, project) = project();
    let web = &project.services["web"];
    let opts = ContainerOptions {
        number: 2,
        compose_version: "2.29.7".into(),
        image_digest: Some("sha256:abc".into()),
        ..Default::default()
    };
    let c = container_create(&project, web, &opts).unwrap();
    assert_eq!(c.name, "shop-web-2");
    let b = &c.body;
    assert_eq!(b["Image"], "shop-web");
    assert_eq!(b["Env"], json!(["A=1", "EMPTY="]));
    assert_eq!(
        b["ExposedPorts"],
        json!({"80/tcp": {}, "9000/udp": {}, "7000/tcp": {}, "7001/tcp": {}})
    );
    assert_eq!(
        b["Healthcheck"],
        json!({"Test": ["CMD-SHELL", "curl -f http://localhost/"], "Interval": 30_000_000_000i64, "Retries": 3})
    );
    assert_eq!(b["StopTimeout"], 20);
    assert_eq!(b["AttachStdout"], true);

    let labels = &b["Labels"];
    assert_eq!(labels["team"], "blue");
    assert_eq!(labels["com.docker.compose.project"], "shop");
    assert_eq!(labels["com.docker.compose.service"], "web");
    assert_eq!(labels["com.docker.compose.container-number"], "2");
    assert_eq!(labels["com.docker.compose.oneoff"], "False");
    assert_eq!(labels["com.docker.compose.version"], "2.29.7");
    assert_eq!(labels["com.docker.compose.image"], "sha256:abc");
    assert_eq!(
        labels["com.docker.compose.project.working_dir"],
        p.dir.display().to_string()
    );
    assert_eq!(
        labels["com.docker.compose.project.config_files"],
        p.path("compose.yaml").display().to_string()
    );
    assert_eq!(
        labels["com.docker.compose.depends_on"],
        "redis:service_healthy:false"
    );
    assert_eq!(
        labels["com.docker.compose.config-hash"],
        config_hash(&project, web, Some("sha256:abc"))
    );
    assert_eq!(config_hash(&project, web, None).len(), 64);

    let h = &b["HostConfig"];
    assert_eq!(
        h["Binds"],
        json!([
            format!("{}:/static:ro", p.path("static").display()),
            "shop_counter:/counter:rw"
        ])
    );
    assert_eq!(
        h["Mounts"],
        json!([
            {"Type": "volume", "Target": "/anon", "VolumeOptions": {}},
            {"Type": "bind", "Source": p.path("token.txt").display().to_string(), "Target": "/run/secrets/token", "ReadOnly": true}
        ])
    );
    assert_eq!(
        h["PortBindings"],
        json!({
            "80/tcp": [{"HostIp": "", "HostPort": "8080"}],
            "9000/udp": [{"HostIp": "127.0.0.1", "HostPort": "9000"}]
        })
    );
    assert_eq!(
        h["RestartPolicy"],
        json!({"Name": "on-failure", "MaximumRetryCount": 3})
    );
    assert_eq!(h["Memory"], 256 << 20);
    assert_eq!(h["NanoCpus"], 1_500_000_000i64);
    assert_eq!(h["Tmpfs"], json!({"/run": "size=64m"}));
    assert_eq!(h["NetworkMode"], "shop_default");
    assert_eq!(
        b["NetworkingConfig"],
        json!({"EndpointsConfig": {"shop_default": {"Aliases": ["shop-web-2", "web", "frontend"]}}})
    );
}

#[test]
fn shared_namespaces_and_restart_policy() {
    let (_p, project) = project();
    let helper = &project.services["helper"];
    let c = container_create(&project, helper, &ContainerOptions::default()).unwrap();
    assert_eq!(
        c.body["HostConfig"]["NetworkMode"],
        "container:shop-redis-1"
    );
    assert_eq!(
        c.body["HostConfig"]["VolumesFrom"],
        json!(["shop-redis-1:ro"])
    );
    assert!(c.body.get("NetworkingConfig").is_none());
    assert_eq!(project.start_order(), ["redis", "helper", "web"]);

    let redis = &project.services["redis"];
    let c = container_create(&project, redis, &ContainerOptions::default()).unwrap();
    assert_eq!(
        c.body["HostConfig"]["RestartPolicy"],
        json!({"Name": "always", "MaximumRetryCount": 0})
    );

    let c = container_create(
        &project,
        redis,
        &ContainerOptions {
            naming: Naming::V1,
            oneoff: true,
            use_network_aliases: false,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(c.name, "shop_redis_1");
    assert_eq!(c.body["Labels"]["com.docker.compose.oneoff"], "True");
    assert_eq!(
        c.body["NetworkingConfig"]["EndpointsConfig"]["shop_default"]["Aliases"],
        json!(["shop_redis_1"])
    );
}

#[test]
fn config_hash_tracks_relevant_changes_only() {
    let (_p, project) = project();
    let web = project.services["web"].clone();
    let base = v2_config_hash(&web);
    assert_eq!(base, v2_config_hash(&web.clone()));

    let mut changed = web.clone();
    changed.image = Some("other".into());
    assert_ne!(v2_config_hash(&changed), base);

    let mut changed = web.clone();
    changed.environment.insert("B".into(), Some("2".into()));
    assert_ne!(v2_config_hash(&changed), base);

    // Not part of the hash: scale, depends_on, build, profiles, pull_policy.
    let mut same = web.clone();
    same.scale = Some(3);
    same.depends_on.clear();
    same.build = None;
    same.profiles = vec!["x".into()];
    same.pull_policy = Some("always".into());
    assert_eq!(v2_config_hash(&same), base);
}

#[test]
fn written_hash_is_docker_compose_v1s_and_either_is_accepted() {
    let (_p, project) = project();
    let web = &project.services["web"];
    let v1 = config_hash(&project, web, Some("sha256:abc"));
    assert_eq!(
        Some(v1.clone()),
        berth_compose::v1::config_hash(&project, "web", Some("sha256:abc"))
    );
    assert_ne!(v1, v2_config_hash(web));
    // The image is part of docker-compose 1.29's hash.
    assert_ne!(v1, config_hash(&project, web, Some("sha256:def")));
    for label in [v1.as_str(), v2_config_hash(web).as_str()] {
        assert!(hash_matches(Some(label), &project, web, Some("sha256:abc")));
    }
    assert!(!hash_matches(Some("0"), &project, web, Some("sha256:abc")));
    assert!(!hash_matches(None, &project, web, Some("sha256:abc")));
}

#[test]
fn network_and_volume_bodies() {
    let (_p, project) = project();
    let n = network_create(&project, "default", "2.29.7").unwrap();
    assert_eq!(n["Name"], "shop_default");
    assert_eq!(n["Driver"], "bridge");
    assert_eq!(n["Labels"]["com.docker.compose.network"], "default");
    assert_eq!(n["Labels"]["com.docker.compose.project"], "shop");
    assert_eq!(n["Labels"]["com.docker.compose.version"], "2.29.7");

    let v = volume_create(&project, "counter", "2.29.7").unwrap();
    assert_eq!(
        v,
        json!({
            "Name": "shop_counter",
            "Driver": "local",
            "DriverOpts": {},
            "Labels": {
                "keep": "yes",
                "com.docker.compose.project": "shop",
                "com.docker.compose.version": "2.29.7",
                "com.docker.compose.volume": "counter"
            }
        })
    );
    assert!(volume_create(&project, "ext", "2.29.7").is_none());
    assert_eq!(project.volumes["ext"].name, "ext");
    assert!(network_create(&project, "missing", "x").is_none());
}

#[test]
fn config_output() {
    let (p, project) = project();
    let yaml = config::to_yaml(&project).unwrap();
    // Deterministic.
    assert_eq!(yaml, config::to_yaml(&load(p.options()).unwrap()).unwrap());
    assert!(
        yaml.starts_with("name: shop\nservices:\n  helper:\n"),
        "{yaml}"
    );
    for needle in [
        "    ports:\n    - mode: ingress\n      target: 80\n      published: '8080'\n      protocol: tcp\n",
        "      interval: 30s\n",
        "    stop_grace_period: 20s\n",
        "    mem_limit: '268435456'\n",
        "networks:\n  default:\n    name: shop_default\n",
        "  counter:\n    name: shop_counter\n",
        "      redis:\n        condition: service_healthy\n        required: true\n",
    ] {
        assert!(yaml.contains(needle), "missing {needle:?} in\n{yaml}");
    }
    // The YAML is a valid compose file that loads to the same project.
    let again = TestProject::new("shop", &[("compose.yaml", &yaml), ("token.txt", "t")]);
    let reloaded = load(again.options()).unwrap();
    assert_eq!(
        reloaded.services["web"].ports,
        project.services["web"].ports
    );
    assert_eq!(
        reloaded.services["web"].environment,
        project.services["web"].environment
    );

    let json_out = config::to_json(&project).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json_out).unwrap();
    assert_eq!(v["services"]["web"]["restart"], "on-failure:3");

    assert_eq!(config::services(&project), ["redis", "helper", "web"]);
    assert_eq!(config::volumes(&project), ["counter", "ext"]);
    assert_eq!(
        config::images(&project, Naming::V2),
        ["busybox", "redis:7", "shop-web"]
    );
}

#[test]
fn links_and_external_links() {
    let p = TestProject::new(
        "lnk",
        &[(
            "compose.yaml",
            "services:\n  db:\n    image: postgres\n  web:\n    image: x\n    links: [\"db:database\"]\n    external_links: [\"legacy_redis:redis\"]\n",
        )],
    );
    let project = load(p.options()).unwrap();
    let web = &project.services["web"];
    // links imply a dependency (restart: true)
    assert!(web.depends_on["db"].restart);
    let links = berth_compose::engine::service_links(&project, web, 1, Naming::V2, &|svc| {
        vec![format!("lnk-{svc}-1")]
    });
    assert_eq!(
        links,
        ["lnk-db-1:database", "lnk-db-1:db-1", "lnk-db-1:lnk-db-1"]
    );
    let opts = ContainerOptions {
        links: links.clone(),
        ..Default::default()
    };
    let c = container_create(&project, web, &opts).unwrap();
    let mut want = links;
    want.push("legacy_redis:redis".into());
    assert_eq!(c.body["HostConfig"]["Links"], json!(want));
}
