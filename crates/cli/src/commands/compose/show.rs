//! Read-only compose commands: `version`, `ls` (projects found by their
//! containers' labels), `config` (the resolved file, through
//! `berth_compose::config`), `ps`, `images`, `port` and `top`, printed as
//! compose v2 prints them (docker's tables and templates, through
//! `berth-format`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::ExitCode;

use berth_compose::engine::{v2_config_hash, CONFIG_FILES_LABEL, PROJECT_LABEL};
use serde_json::{json, Value};

use super::args::{ConfigArgs, ImagesArgs, LsArgs, PortArgs, PsArgs, VersionArgs};
use super::{Ctr, Ctx, OneOff, COMPOSE_VERSION};
use crate::commands::container::{ps_row, top as container_top};
use crate::output::{print_list, query, short_id, CmdError};
use berth_api::Client;

/// `compose version`.
pub fn version(a: &VersionArgs) -> Result<ExitCode, CmdError> {
    if a.short {
        println!("{COMPOSE_VERSION}");
    } else if a.format.as_deref() == Some("json") {
        println!("{}", json!({ "version": format!("v{COMPOSE_VERSION}") }));
    } else {
        println!("Docker Compose version v{COMPOSE_VERSION}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Compose's `combinedStatus`: `exited(1), running(2)`, states sorted.
fn combined_status(states: &[String]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for s in states {
        *counts.entry(s.as_str()).or_default() += 1;
    }
    counts
        .iter()
        .map(|(s, n)| format!("{s}({n})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `compose ls`: projects grouped by `com.docker.compose.project`.
pub async fn ls(client: &Client, a: &LsArgs) -> Result<ExitCode, CmdError> {
    let mut names_like: Vec<String> = Vec::new();
    for f in &a.filter {
        match f.split_once('=') {
            Some(("name", v)) => names_like.push(v.to_string()),
            _ => return Err(format!("invalid filter {f:?}: only name=... is supported").into()),
        }
    }
    let filters = json!({ "label": [PROJECT_LABEL] }).to_string();
    let mut q = vec![("filters", filters.as_str())];
    if a.all {
        q.push(("all", "1"));
    }
    let list = client
        .get_json(&format!("/containers/json?{}", query(&q)))
        .await?;
    // project → (states, config files)
    let mut projects: BTreeMap<String, (Vec<String>, BTreeSet<String>)> = BTreeMap::new();
    for c in list.as_array().cloned().unwrap_or_default() {
        let labels = &c["Labels"];
        let Some(p) = labels[PROJECT_LABEL].as_str() else {
            continue;
        };
        if !names_like.is_empty() && !names_like.iter().any(|n| p.contains(n.as_str())) {
            continue;
        }
        let e = projects.entry(p.to_string()).or_default();
        e.0.push(c["State"].as_str().unwrap_or("").to_string());
        if let Some(files) = labels[CONFIG_FILES_LABEL].as_str() {
            e.1.extend(files.split(',').filter(|f| !f.is_empty()).map(String::from));
        }
    }
    if a.quiet {
        for p in projects.keys() {
            println!("{p}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Value> = projects
        .iter()
        .map(|(name, (states, files))| {
            json!({
                "Name": name,
                "Status": combined_status(states),
                "ConfigFiles": files.iter().cloned().collect::<Vec<_>>().join(","),
            })
        })
        .collect();
    if a.format == "json" {
        println!("{}", Value::Array(rows));
        return Ok(ExitCode::SUCCESS);
    }
    let headers = json!({"Name": "NAME", "Status": "STATUS", "ConfigFiles": "CONFIG FILES"});
    print_list(
        Some(&a.format),
        "table {{.Name}}\t{{.Status}}\t{{.ConfigFiles}}",
        headers,
        &rows,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `compose config`.
pub fn config(ctx: &Ctx, a: &ConfigArgs) -> Result<ExitCode, CmdError> {
    let mut project = ctx.require_file()?.clone();
    if !a.only.is_empty() {
        let keep = project.services_to_start(&a.only, false)?;
        project.services.retain(|k, _| keep.contains(k));
    }
    if a.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    let lines = |v: Vec<String>| v.into_iter().map(|l| l + "\n").collect::<String>();
    let text = if a.services {
        lines(berth_compose::config::services(&project))
    } else if a.volumes {
        lines(berth_compose::config::volumes(&project))
    } else if a.images {
        lines(berth_compose::config::images(&project, ctx.naming))
    } else if a.profiles {
        let all: BTreeSet<String> = project
            .services
            .values()
            .chain(project.disabled_services.values())
            .flat_map(|s| s.profiles.iter().cloned())
            .collect();
        lines(all.into_iter().collect())
    } else if let Some(which) = &a.hash {
        let wanted: Vec<String> = if which == "*" {
            project.services.keys().cloned().collect()
        } else {
            which.split(',').map(|s| s.trim().to_string()).collect()
        };
        let mut out = String::new();
        for name in wanted {
            let s = project
                .services
                .get(&name)
                .ok_or_else(|| format!("no such service: {name}"))?;
            out.push_str(&format!("{name} {}\n", v2_config_hash(s)));
        }
        out
    } else {
        match a.format.as_str() {
            "json" => berth_compose::config::to_json(&project)? + "\n",
            "yaml" => berth_compose::config::to_yaml(&project)?,
            f => return Err(format!("unsupported format {f:?}").into()),
        }
    };
    match &a.output {
        Some(path) => std::fs::write(path, text).map_err(|e| format!("{path}: {e}"))?,
        None => {
            let mut o = std::io::stdout().lock();
            o.write_all(text.as_bytes())?;
            o.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The statuses `ps --status` accepts.
const STATUSES: [&str; 7] = [
    "paused",
    "restarting",
    "removing",
    "running",
    "dead",
    "created",
    "exited",
];

/// `Up 2 minutes (healthy)` → `healthy`.
fn health_of(status: &str) -> &'static str {
    ["starting", "unhealthy", "healthy"]
        .into_iter()
        .find(|h| status.contains(&format!("({h})")) || status.contains(&format!("(health: {h})")))
        .unwrap_or("")
}

/// `Exited (3) 2 seconds ago` → 3.
fn exit_code_of(status: &str) -> i64 {
    status
        .strip_prefix("Exited (")
        .and_then(|r| r.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// One `compose ps` row: docker's `ps` fields plus compose's own.
fn compose_row(ctx: &Ctx, c: &Ctr, no_trunc: bool) -> Value {
    let mut row = ps_row(&c.raw, no_trunc, false);
    let status = c.raw["Status"].as_str().unwrap_or("");
    let publishers: Vec<Value> = c.raw["Ports"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|p| {
            json!({
                "URL": p["IP"].as_str().unwrap_or(""),
                "TargetPort": p["PrivatePort"].as_u64().unwrap_or(0),
                "PublishedPort": p["PublicPort"].as_u64().unwrap_or(0),
                "Protocol": p["Type"].as_str().unwrap_or("tcp"),
            })
        })
        .collect();
    let mounts: Vec<&Value> = c.raw["Mounts"]
        .as_array()
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    let local_volumes = mounts.iter().filter(|m| m["Type"] == "volume").count();
    let mount_names: Vec<&str> = mounts
        .iter()
        .filter_map(|m| m["Name"].as_str().or_else(|| m["Source"].as_str()))
        .collect();
    if let Value::Object(m) = &mut row {
        m.insert("Name".into(), json!(c.name));
        m.insert("Project".into(), json!(ctx.project.name));
        m.insert("Service".into(), json!(c.service));
        m.insert("Health".into(), json!(health_of(status)));
        m.insert("ExitCode".into(), json!(exit_code_of(status)));
        m.insert("Publishers".into(), Value::Array(publishers));
        m.insert("LocalVolumes".into(), json!(local_volumes.to_string()));
        m.insert("Mounts".into(), json!(mount_names.join(",")));
    }
    row
}

/// `compose ps`.
pub async fn ps(ctx: &Ctx, a: &PsArgs) -> Result<ExitCode, CmdError> {
    let mut statuses: Vec<String> = a.status.clone();
    for f in &a.filter {
        match f.split_once('=') {
            Some(("status", v)) => statuses.push(v.to_string()),
            _ => return Err(format!("invalid filter {f:?}: only status=... is supported").into()),
        }
    }
    for s in &statuses {
        if !STATUSES.contains(&s.as_str()) {
            return Err(format!("invalid status {s:?}: use one of {}", STATUSES.join(", ")).into());
        }
    }
    let oneoff = if a.all {
        OneOff::Include
    } else {
        OneOff::Exclude
    };
    let mut list = ctx
        .service_containers(&a.services, a.all || !statuses.is_empty(), oneoff)
        .await?;
    if !statuses.is_empty() {
        list.retain(|c| statuses.contains(&c.state));
    }
    if !a.orphans && ctx.has_file {
        list.retain(|c| ctx.project.services.contains_key(&c.service));
    }
    list.sort_by(|x, y| x.name.cmp(&y.name));
    if a.quiet {
        for c in &list {
            println!("{}", c.id);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if a.services_only {
        let mut seen: Vec<&str> = Vec::new();
        for c in &list {
            if !seen.contains(&c.service.as_str()) {
                seen.push(&c.service);
                println!("{}", c.service);
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Value> = list
        .iter()
        .map(|c| compose_row(ctx, c, a.no_trunc))
        .collect();
    let headers = json!({
        "ID": "CONTAINER ID", "Name": "NAME", "Names": "NAMES", "Image": "IMAGE",
        "Command": "COMMAND", "Project": "PROJECT", "Service": "SERVICE",
        "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Status": "STATUS",
        "State": "STATE", "Health": "HEALTH", "ExitCode": "EXIT CODE",
        "Ports": "PORTS", "Publishers": "PUBLISHERS", "Labels": "LABELS",
        "LocalVolumes": "LOCAL VOLUMES", "Mounts": "MOUNTS", "Networks": "NETWORKS",
        "Size": "SIZE",
    });
    print_list(
        Some(&a.format),
        "table {{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}",
        headers,
        &rows,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `REPO:TAG` → (REPO, TAG); a digest or no tag gives `<none>` / `latest`.
fn split_repo_tag(r: &str) -> (String, String) {
    if let Some((repo, _)) = r.split_once('@') {
        return (repo.to_string(), "<none>".into());
    }
    match r.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
        _ => (r.to_string(), "latest".into()),
    }
}

/// `compose images`.
pub async fn images(ctx: &Ctx, a: &ImagesArgs) -> Result<ExitCode, CmdError> {
    let list = ctx
        .service_containers(&a.services, true, OneOff::Exclude)
        .await?;
    let mut inspected: BTreeMap<String, Value> = BTreeMap::new();
    let mut rows = Vec::new();
    for c in &list {
        let image_id = c.raw["ImageID"].as_str().unwrap_or("").to_string();
        let wanted = if image_id.is_empty() {
            c.raw["Image"].as_str().unwrap_or("").to_string()
        } else {
            image_id
        };
        if !inspected.contains_key(&wanted) {
            let v = ctx
                .client
                .get_json(&format!("/images/{wanted}/json"))
                .await
                .unwrap_or(Value::Null);
            inspected.insert(wanted.clone(), v);
        }
        let img = &inspected[&wanted];
        let id = img["Id"].as_str().unwrap_or(&wanted).to_string();
        let reference = img["RepoTags"][0]
            .as_str()
            .or_else(|| c.raw["Image"].as_str())
            .unwrap_or("");
        let (repo, tag) = split_repo_tag(reference);
        let size = img["Size"].as_u64().unwrap_or(0);
        rows.push(json!({
            "ContainerName": c.name,
            "Repository": repo,
            "Tag": tag,
            "ID": id.trim_start_matches("sha256:"),
            "ShortID": short_id(&id),
            "Size": size,
            "HumanSize": berth_format::human_size(size),
        }));
    }
    if a.quiet {
        let mut seen = BTreeSet::new();
        for r in &rows {
            let id = r["ID"].as_str().unwrap_or("");
            if seen.insert(id.to_string()) {
                println!("{id}");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    if a.format == "json" {
        let out: Vec<Value> = rows
            .iter()
            .map(|r| {
                json!({
                    "ID": r["ID"], "ContainerName": r["ContainerName"],
                    "Repository": r["Repository"], "Tag": r["Tag"], "Size": r["Size"],
                })
            })
            .collect();
        println!("{}", Value::Array(out));
        return Ok(ExitCode::SUCCESS);
    }
    let headers = json!({"ContainerName": "CONTAINER", "Repository": "REPOSITORY",
        "Tag": "TAG", "ShortID": "IMAGE ID", "HumanSize": "SIZE"});
    print_list(
        Some(&a.format),
        "table {{.ContainerName}}\t{{.Repository}}\t{{.Tag}}\t{{.ShortID}}\t{{.HumanSize}}",
        headers,
        &rows,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `compose port SERVICE PRIVATE_PORT`: the first public binding.
pub async fn port(ctx: &Ctx, a: &PortArgs) -> Result<ExitCode, CmdError> {
    let c = ctx.specified_container(&a.service, a.index, false).await?;
    let found = c.raw["Ports"].as_array().and_then(|ports| {
        ports.iter().find(|p| {
            p["PrivatePort"].as_u64() == Some(u64::from(a.private_port))
                && p["Type"].as_str().unwrap_or("tcp") == a.protocol
                && p["PublicPort"].as_u64().is_some()
        })
    });
    match found {
        Some(p) => {
            println!(
                "{}:{}",
                p["IP"].as_str().unwrap_or(""),
                p["PublicPort"].as_u64().unwrap_or(0)
            );
            Ok(ExitCode::SUCCESS)
        }
        None => Err(format!(
            "no port {}/{} for container {}",
            a.private_port, a.protocol, c.name
        )
        .into()),
    }
}

/// `compose top`: each running container's name, then its processes.
pub async fn top(ctx: &Ctx, services: &[String]) -> Result<ExitCode, CmdError> {
    let mut list = ctx
        .service_containers(services, false, OneOff::Include)
        .await?;
    list.sort_by(|x, y| x.name.cmp(&y.name));
    for c in list {
        println!("{}", c.name);
        let args = crate::cli::TopArgs {
            container: c.id.clone(),
            ps_args: Vec::new(),
        };
        container_top(&ctx.client, &args).await?;
        println!();
    }
    Ok(ExitCode::SUCCESS)
}
