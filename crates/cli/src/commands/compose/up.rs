//! `compose up`, `create` and `scale`: checks made before anything is
//! created (published port clashes, scaled services with a fixed container
//! name), images (built or pulled as the pull policy says), the project's
//! networks and volumes, orphan containers, and the convergence of each
//! service towards its desired state — unchanged containers are left as
//! they are, containers whose `com.docker.compose.config-hash` (or image)
//! differs are recreated under the same name, replicas are added or
//! removed to match the scale — then the start in dependency order
//! (waiting for `service_healthy` / `service_completed_successfully`
//! dependencies), `--wait`, and the attached output.
//!
//! Services of one dependency level are handled concurrently, and so are
//! the replicas of a service.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use berth_compose::engine::{
    container_create, hash_matches, network_create, service_links, volume_create, ContainerOptions,
    CONFIG_HASH_LABEL, IMAGE_LABEL, NETWORK_LABEL, PROJECT_LABEL,
};
use berth_compose::{Project, Service};
use hyper::Method;
use serde_json::{json, Value};

use super::args::{CreateArgs, CreateOpts, ScaleArgs, UpArgs};
use super::{
    first_error, for_each, images, is_not_found, lifecycle, logs, Ctr, Ctx, OneOff, COMPOSE_VERSION,
};
use crate::output::{query, CmdError};

/// What `up`/`create`/`scale` converge.
struct Plan {
    /// The project with `--scale` applied.
    project: Project,
    /// Selected services (with their dependencies unless `--no-deps`), in start order.
    selected: Vec<String>,
    /// Creation options.
    opts: CreateOpts,
    /// `-t`: stop timeout when recreating.
    timeout: Option<i64>,
}

/// Applies `--scale SERVICE=NUM` flags to the project.
fn apply_scale(project: &mut Project, flags: &[String]) -> Result<(), CmdError> {
    for f in flags {
        let (svc, n) = f
            .split_once('=')
            .ok_or_else(|| format!("invalid --scale value {f:?}: expected SERVICE=NUM"))?;
        let n: i64 = n
            .parse()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| format!("invalid --scale value {f:?}: NUM must be a number >= 0"))?;
        let s = project
            .services
            .get_mut(svc)
            .ok_or_else(|| format!("no such service: {svc}"))?;
        s.scale = Some(n);
        if let Some(d) = &mut s.deploy {
            d.replicas = Some(n);
        }
    }
    Ok(())
}

/// Services grouped by dependency level (a service comes after all it
/// depends on); services of a level do not depend on each other.
fn levels(project: &Project, selected: &[String]) -> Vec<Vec<String>> {
    let mut level: BTreeMap<String, usize> = BTreeMap::new();
    // `selected` is in start order: dependencies are seen first.
    for s in selected {
        let l = project
            .services
            .get(s)
            .map(|svc| {
                svc.depends_on
                    .keys()
                    .filter_map(|d| level.get(d))
                    .map(|l| l + 1)
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        level.insert(s.clone(), l);
    }
    let depth = level.values().copied().max().map(|m| m + 1).unwrap_or(0);
    let mut out = vec![Vec::new(); depth];
    for s in selected {
        if let Some(l) = level.get(s) {
            out[*l].push(s.clone());
        }
    }
    out
}

/// A published host port: (host IP, port, protocol).
type HostPort = (String, u16, String);

fn published_ports(service: &Service) -> Vec<HostPort> {
    let mut out = Vec::new();
    for p in &service.ports {
        let Some(published) = p.published.as_deref().filter(|s| !s.is_empty()) else {
            continue;
        };
        let (a, b) = match published.split_once('-') {
            Some((a, b)) => (a.parse::<u16>().ok(), b.parse::<u16>().ok()),
            None => (published.parse::<u16>().ok(), published.parse::<u16>().ok()),
        };
        // A range gives the engine a choice: no fixed port to clash on.
        if let (Some(a), Some(b)) = (a, b) {
            if a == b && a != 0 {
                let ip = p.host_ip.clone().unwrap_or_default();
                out.push((ip, a, p.protocol.clone()));
            }
        }
    }
    out
}

fn ips_overlap(a: &str, b: &str) -> bool {
    let any = |ip: &str| ip.is_empty() || ip == "0.0.0.0" || ip == "::";
    any(a) || any(b) || a == b
}

fn show_port(p: &HostPort) -> String {
    if p.0.is_empty() {
        format!("{}/{}", p.1, p.2)
    } else {
        format!("{}:{}/{}", p.0, p.1, p.2)
    }
}

/// Checks the selected services' fixed host ports: two services (or two
/// replicas) asking for the same one, a port another container already
/// publishes, or (local daemon) a port another program holds.
async fn check_ports(ctx: &Ctx, plan: &Plan, observed: &[Ctr]) -> Result<(), CmdError> {
    let mut wanted: Vec<(String, HostPort)> = Vec::new();
    for name in &plan.selected {
        let Some(s) = plan.project.services.get(name) else {
            continue;
        };
        let ports = published_ports(s);
        if s.replicas() > 1 {
            if let Some(p) = ports.first() {
                return Err(format!(
                    "port clash: service {name:?} has {} replicas but publishes the fixed host port {}: only one container can bind it; publish a range or drop the host port",
                    s.replicas(),
                    show_port(p)
                )
                .into());
            }
        }
        for p in ports {
            if let Some((other, q)) = wanted
                .iter()
                .find(|(_, q)| q.1 == p.1 && q.2 == p.2 && ips_overlap(&q.0, &p.0))
            {
                return Err(format!(
                    "port clash: services {other:?} and {name:?} both publish host port {} ({}): change one of them",
                    show_port(&p),
                    show_port(q)
                )
                .into());
            }
            wanted.push((name.clone(), p));
        }
    }
    if wanted.is_empty() {
        return Ok(());
    }
    // Ports the project's own containers hold are theirs to keep.
    let own: BTreeSet<&str> = observed.iter().map(|c| c.id.as_str()).collect();
    let mut own_ports: Vec<HostPort> = Vec::new();
    let running = ctx.client.get_json("/containers/json").await?;
    for c in running.as_array().cloned().unwrap_or_default() {
        let id = c["Id"].as_str().unwrap_or("");
        for p in c["Ports"].as_array().cloned().unwrap_or_default() {
            let Some(public) = p["PublicPort"].as_u64() else {
                continue;
            };
            let hp: HostPort = (
                p["IP"].as_str().unwrap_or("").to_string(),
                public as u16,
                p["Type"].as_str().unwrap_or("tcp").to_string(),
            );
            if own.contains(id) {
                own_ports.push(hp);
                continue;
            }
            if let Some((svc, w)) = wanted
                .iter()
                .find(|(_, w)| w.1 == hp.1 && w.2 == hp.2 && ips_overlap(&w.0, &hp.0))
            {
                let cname = c["Names"][0].as_str().unwrap_or(id).trim_start_matches('/');
                return Err(format!(
                    "port clash: service {svc:?} publishes host port {}, which container {cname} already publishes: stop it or change the port",
                    show_port(w)
                )
                .into());
            }
        }
    }
    if ctx.client.host().starts_with("unix://") || ctx.client.host().starts_with('/') {
        for (svc, p) in &wanted {
            if p.2 != "tcp" || own_ports.iter().any(|o| o.1 == p.1 && o.2 == p.2) {
                continue;
            }
            let ip = if p.0.is_empty() {
                "0.0.0.0"
            } else {
                p.0.as_str()
            };
            let Ok(addr) = ip.parse::<std::net::IpAddr>() else {
                continue;
            };
            if let Err(e) = std::net::TcpListener::bind((addr, p.1)) {
                if e.kind() == std::io::ErrorKind::AddrInUse {
                    return Err(format!(
                        "port clash: service {svc:?} publishes host port {}, which another program on this host already uses",
                        show_port(p)
                    )
                    .into());
                }
            }
        }
    }
    Ok(())
}

/// Creates the project's networks that do not exist yet.
async fn ensure_networks(ctx: &Ctx, project: &Project) -> Result<(), CmdError> {
    for (key, net) in &project.networks {
        let found = match ctx
            .client
            .get_json(&format!("/networks/{}", net.name))
            .await
        {
            Ok(v) => Some(v),
            Err(e) if is_not_found(&e) => None,
            Err(e) => return Err(e.into()),
        };
        if net.external {
            if found.is_none() {
                return Err(format!(
                    "network {} declared as external, but could not be found",
                    net.name
                )
                .into());
            }
            continue;
        }
        if let Some(v) = found {
            let labels = &v["Labels"];
            match labels[PROJECT_LABEL].as_str() {
                Some(p) if p == project.name => {
                    if let Some(k) = labels[NETWORK_LABEL].as_str().filter(|k| k != key) {
                        return Err(format!(
                            "network {} was found but has incorrect label {NETWORK_LABEL} set to {k:?}",
                            net.name
                        )
                        .into());
                    }
                }
                _ => ctx.progress.warn(&format!(
                    "a network with name {} exists but was not created for project {:?}.\nSet `external: true` to use an existing network",
                    net.name, project.name
                )),
            }
            continue;
        }
        let Some(body) = network_create(project, key, COMPOSE_VERSION) else {
            continue;
        };
        ctx.progress.event("Network", &net.name, "Creating");
        match ctx
            .client
            .call_json(Method::POST, "/networks/create", Some(&body))
            .await
        {
            Ok(_) => ctx.progress.event("Network", &net.name, "Created"),
            // Created meanwhile by a concurrent `up`.
            Err(berth_api::ClientError::Daemon { status: 409, .. }) => {}
            Err(e) => {
                return Err(format!("failed to create network {}: {e}", net.name).into());
            }
        }
    }
    Ok(())
}

/// Creates the project's volumes that do not exist yet.
async fn ensure_volumes(ctx: &Ctx, project: &Project) -> Result<(), CmdError> {
    for (key, vol) in &project.volumes {
        let found = match ctx.client.get_json(&format!("/volumes/{}", vol.name)).await {
            Ok(v) => Some(v),
            Err(e) if is_not_found(&e) => None,
            Err(e) => return Err(e.into()),
        };
        if vol.external {
            if found.is_none() {
                return Err(format!("external volume \"{}\" not found", vol.name).into());
            }
            continue;
        }
        if let Some(v) = found {
            match v["Labels"][PROJECT_LABEL].as_str() {
                Some(p) if p == project.name => {}
                Some(p) => ctx.progress.warn(&format!(
                    "volume \"{}\" already exists but was created for project \"{p}\" (expected \"{}\"). Use `external: true` to use an existing volume",
                    vol.name, project.name
                )),
                None => ctx.progress.warn(&format!(
                    "volume \"{}\" already exists but was not created by Docker Compose. Use `external: true` to use an existing volume",
                    vol.name
                )),
            }
            continue;
        }
        let Some(body) = volume_create(project, key, COMPOSE_VERSION) else {
            continue;
        };
        ctx.progress
            .event("Volume", &format!("\"{}\"", vol.name), "Creating");
        ctx.client
            .call_json(Method::POST, "/volumes/create", Some(&body))
            .await
            .map_err(|e| format!("failed to create volume {}: {e}", vol.name))?;
        ctx.progress
            .event("Volume", &format!("\"{}\"", vol.name), "Created");
    }
    Ok(())
}

/// Stops and removes containers (orphans, surplus replicas).
pub async fn stop_and_remove(
    ctx: &Ctx,
    list: &[Ctr],
    timeout: Option<i64>,
    volumes: bool,
) -> Result<(), CmdError> {
    lifecycle::stop_and_remove(ctx, list.to_vec(), timeout, volumes).await
}

/// Anonymous volumes of the container being replaced, mounted again at the
/// same places (compose keeps their data across a recreate).
fn inherit_volumes(body: &mut Value, old: &Value, project: &Project) {
    let named: BTreeSet<&str> = project.volumes.values().map(|v| v.name.as_str()).collect();
    let mut inherited: Vec<(String, String)> = Vec::new();
    for m in old["Mounts"].as_array().cloned().unwrap_or_default() {
        if m["Type"] != "volume" {
            continue;
        }
        let (Some(name), Some(dest)) = (m["Name"].as_str(), m["Destination"].as_str()) else {
            continue;
        };
        if named.contains(name) {
            continue;
        }
        inherited.push((name.to_string(), dest.to_string()));
    }
    if inherited.is_empty() {
        return;
    }
    let host = &mut body["HostConfig"];
    let binds: Vec<String> = host["Binds"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|b| b.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let mut mounts: Vec<Value> = host["Mounts"].as_array().cloned().unwrap_or_default();
    for (name, dest) in inherited {
        if binds
            .iter()
            .any(|b| b.split(':').nth(1) == Some(dest.as_str()))
        {
            continue;
        }
        match mounts.iter_mut().find(|m| m["Target"] == dest.as_str()) {
            Some(m) if m["Type"] == "volume" && m.get("Source").is_none() => {
                m["Source"] = json!(name);
            }
            Some(_) => {}
            None => mounts.push(json!({"Type": "volume", "Source": name, "Target": dest})),
        }
    }
    host["Mounts"] = Value::Array(mounts);
}

/// Creates replica `number` of a service; returns (ID, name).
#[allow(clippy::too_many_arguments)]
async fn create_container(
    ctx: &Ctx,
    project: &Project,
    service: &Service,
    number: u32,
    image_id: Option<String>,
    links: Vec<String>,
    inherit: Option<&Value>,
    name_override: Option<String>,
) -> Result<(String, String), CmdError> {
    let opts = ContainerOptions {
        number,
        naming: ctx.naming,
        compose_version: COMPOSE_VERSION.into(),
        image_digest: image_id,
        env_files: env_file_labels(ctx),
        links,
        name: name_override,
        ..Default::default()
    };
    let cc = container_create(project, service, &opts)?;
    let mut body = cc.body;
    if let Some(old) = inherit {
        inherit_volumes(&mut body, old, project);
    }
    ctx.progress.event("Container", &cc.name, "Creating");
    let id = post_create(ctx, &cc.name, &body).await?;
    ctx.progress.event("Container", &cc.name, "Created");
    Ok((id, cc.name))
}

/// `POST /containers/create?name=NAME`; prints the daemon's warnings and
/// returns the new container's ID.
pub(super) async fn post_create(ctx: &Ctx, name: &str, body: &Value) -> Result<String, CmdError> {
    let resp = ctx
        .client
        .call_json(
            Method::POST,
            &format!("/containers/create?{}", query(&[("name", name)])),
            Some(body),
        )
        .await
        .map_err(|e| format!("Container {name}: {e}"))?;
    for w in resp["Warnings"].as_array().cloned().unwrap_or_default() {
        if let Some(w) = w.as_str().filter(|w| !w.is_empty()) {
            ctx.progress.warn(w);
        }
    }
    Ok(resp["Id"].as_str().unwrap_or("").to_string())
}

/// `--env-file` paths, absolute, for the `environment_file` label.
pub(super) fn env_file_labels(ctx: &Ctx) -> Vec<String> {
    let cwd = std::env::current_dir().unwrap_or_default();
    ctx.args
        .env_files
        .iter()
        .map(|f| cwd.join(f).display().to_string())
        .collect()
}

/// Replaces a container: stop, rename out of the way, create the new one
/// under the old name and number (inheriting anonymous volumes), remove
/// the old one.
#[allow(clippy::too_many_arguments)]
async fn recreate(
    ctx: &Ctx,
    project: &Project,
    service: &Service,
    old: &Ctr,
    image_id: Option<String>,
    links: Vec<String>,
    timeout: Option<i64>,
    renew_anon: bool,
) -> Result<(String, String), CmdError> {
    ctx.progress.event("Container", &old.name, "Recreate");
    let inspect = ctx
        .client
        .get_json(&format!("/containers/{}/json", old.id))
        .await?;
    if old.is_running() {
        let t = timeout
            .or_else(|| service.stop_grace_period.map(|g| g.seconds()))
            .map(|t| format!("?t={t}"))
            .unwrap_or_default();
        ctx.client
            .call_json(
                Method::POST,
                &format!("/containers/{}/stop{t}", old.id),
                None,
            )
            .await?;
    }
    let short: String = old.id.chars().take(12).collect();
    let tmp = format!("{short}_{}", old.name);
    ctx.client
        .call_json(
            Method::POST,
            &format!("/containers/{}/rename?{}", old.id, query(&[("name", &tmp)])),
            None,
        )
        .await?;
    let number = if old.number > 0 { old.number } else { 1 };
    let created = create_container(
        ctx,
        project,
        service,
        number,
        image_id,
        links,
        (!renew_anon).then_some(&inspect),
        Some(old.name.clone()),
    )
    .await?;
    ctx.client
        .call_json(
            Method::DELETE,
            &format!("/containers/{}?force=1", old.id),
            None,
        )
        .await?;
    ctx.progress.event("Container", &old.name, "Recreated");
    Ok(created)
}

/// A container after convergence: (ID, name, whether it must be started).
type Converged = (String, String, bool);

/// Converges one service: recreates diverged containers, removes surplus
/// replicas, creates missing ones.
#[allow(clippy::too_many_arguments)]
async fn converge_service(
    ctx: &Ctx,
    plan: &Plan,
    service: &Service,
    observed: &[Ctr],
    image_id: Option<String>,
    names: &BTreeMap<String, Vec<String>>,
) -> Result<Vec<Converged>, CmdError> {
    let project = &plan.project;
    let scale = service.replicas().max(0) as usize;
    let mut existing: Vec<Ctr> = observed
        .iter()
        .filter(|c| c.service == service.name)
        .cloned()
        .collect();
    existing.sort_by_key(|c| (c.number == 0, c.number));
    let surplus: Vec<Ctr> = if existing.len() > scale {
        existing.split_off(scale)
    } else {
        Vec::new()
    };
    if !surplus.is_empty() {
        let timeout = plan
            .timeout
            .or_else(|| service.stop_grace_period.map(|g| g.seconds()));
        stop_and_remove(ctx, &surplus, timeout, false).await?;
    }
    let links_for = |number: u32| {
        service_links(project, service, number, ctx.naming, &|svc: &str| {
            names.get(svc).cloned().unwrap_or_default()
        })
    };
    let kept = for_each(existing.clone(), ctx.parallelism(), |c| {
        let image_id = image_id.clone();
        async move {
            let hash_differs = !hash_matches(
                c.labels.get(CONFIG_HASH_LABEL).map(String::as_str),
                project,
                service,
                image_id.as_deref(),
            );
            let image_differs = match (c.labels.get(IMAGE_LABEL), &image_id) {
                (Some(have), Some(want)) => have != want,
                _ => false,
            };
            let must = plan.opts.force_recreate
                || (!plan.opts.no_recreate && (hash_differs || image_differs));
            if must {
                let (id, name) = recreate(
                    ctx,
                    project,
                    service,
                    &c,
                    image_id,
                    links_for(c.number),
                    plan.timeout,
                    plan.opts.renew_anon_volumes,
                )
                .await?;
                return Ok::<Converged, CmdError>((id, name, true));
            }
            if c.is_running() {
                ctx.progress.event("Container", &c.name, "Running");
                return Ok((c.id.clone(), c.name.clone(), false));
            }
            Ok((c.id.clone(), c.name.clone(), true))
        }
    })
    .await;
    let mut out = first_error(kept)?;
    let mut next = existing.iter().map(|c| c.number).max().unwrap_or(0) + 1;
    let mut numbers = Vec::new();
    while out.len() + numbers.len() < scale {
        numbers.push(next);
        next += 1;
    }
    let created = for_each(numbers, ctx.parallelism(), |n| {
        let image_id = image_id.clone();
        async move {
            let (id, name) =
                create_container(ctx, project, service, n, image_id, links_for(n), None, None)
                    .await?;
            Ok::<Converged, CmdError>((id, name, true))
        }
    })
    .await;
    out.extend(first_error(created)?);
    Ok(out)
}

/// Everything up to the start: checks, images, networks, volumes,
/// orphans, convergence. Returns the converged containers by service.
async fn converge(ctx: &Ctx, plan: &Plan) -> Result<BTreeMap<String, Vec<Converged>>, CmdError> {
    let project = &plan.project;
    for name in &plan.selected {
        if let Some(s) = project.services.get(name) {
            if s.replicas() > 1 && s.container_name.as_deref().is_some_and(|n| !n.is_empty()) {
                return Err(format!(
                    "WARNING: The {:?} service is using the custom container name {:?}. Docker requires each container to have a unique name. Remove the custom name to scale the service",
                    name,
                    s.container_name.clone().unwrap_or_default()
                )
                .into());
            }
        }
    }
    let observed = ctx.containers(true, OneOff::Exclude).await?;
    check_ports(ctx, plan, &observed).await?;
    let image_ids = images::ensure_images(ctx, project, &plan.selected, &plan.opts).await?;
    ensure_networks(ctx, project).await?;
    ensure_volumes(ctx, project).await?;
    let orphans: Vec<Ctr> = observed
        .iter()
        .filter(|c| {
            !project.services.contains_key(&c.service)
                && !project.disabled_services.contains_key(&c.service)
        })
        .cloned()
        .collect();
    if !orphans.is_empty() {
        if plan.opts.remove_orphans {
            stop_and_remove(ctx, &orphans, plan.timeout, false).await?;
        } else {
            let names: Vec<&str> = orphans.iter().map(|c| c.name.as_str()).collect();
            ctx.progress.warn(&format!(
                "Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                names.join(" ")
            ));
        }
    }
    let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in &observed {
        names
            .entry(c.service.clone())
            .or_default()
            .push(c.name.clone());
    }
    let mut done: BTreeMap<String, Vec<Converged>> = BTreeMap::new();
    for level in levels(project, &plan.selected) {
        let results = for_each(level.clone(), ctx.parallelism(), |svc| {
            let names = &names;
            let image_ids = &image_ids;
            let observed = &observed;
            async move {
                let Some(service) = project.services.get(&svc) else {
                    return Ok((svc, Vec::new()));
                };
                let r = converge_service(
                    ctx,
                    plan,
                    service,
                    observed,
                    image_ids.get(&svc).cloned(),
                    names,
                )
                .await?;
                Ok::<_, CmdError>((svc, r))
            }
        })
        .await;
        for (svc, list) in first_error(results)? {
            names.insert(svc.clone(), list.iter().map(|c| c.1.clone()).collect());
            done.insert(svc, list);
        }
    }
    Ok(done)
}

/// Waits until a dependency's condition holds.
async fn wait_dependency(
    ctx: &Ctx,
    dependant: &str,
    dep: &str,
    condition: &str,
    required: bool,
    containers: &[Converged],
) -> Result<(), CmdError> {
    if condition == "service_started" || containers.is_empty() {
        if containers.is_empty() && required && condition != "service_started" {
            return Err(format!("{dependant} is missing dependency {dep}").into());
        }
        return Ok(());
    }
    for (id, name, _) in containers {
        ctx.progress.event("Container", name, "Waiting");
        loop {
            let v = ctx
                .client
                .get_json(&format!("/containers/{id}/json"))
                .await?;
            let state = &v["State"];
            match condition {
                "service_healthy" => {
                    if v["Config"]["Healthcheck"].is_null() && state["Health"].is_null() {
                        return Err(format!("dependency failed to start: container {name} has no healthcheck configured").into());
                    }
                    match state["Health"]["Status"].as_str() {
                        Some("healthy") => {
                            ctx.progress.event("Container", name, "Healthy");
                            break;
                        }
                        Some("unhealthy") => {
                            if !required {
                                break;
                            }
                            return Err(format!(
                                "dependency failed to start: container {name} is unhealthy"
                            )
                            .into());
                        }
                        _ => {}
                    }
                    if state["Running"] == false && state["Restarting"] != true {
                        return Err(format!(
                            "dependency failed to start: container {name} exited ({})",
                            state["ExitCode"]
                        )
                        .into());
                    }
                }
                _ => {
                    // service_completed_successfully
                    if state["Running"] == false && state["Restarting"] != true {
                        let code = state["ExitCode"].as_i64().unwrap_or(0);
                        if code == 0 {
                            ctx.progress.event("Container", name, "Exited");
                            break;
                        }
                        if !required {
                            break;
                        }
                        return Err(format!(
                            "service {dep:?} didn't complete successfully: exit {code}"
                        )
                        .into());
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

/// Starts the converged containers, level by level.
async fn start_all(
    ctx: &Ctx,
    plan: &Plan,
    done: &BTreeMap<String, Vec<Converged>>,
) -> Result<(), CmdError> {
    for level in levels(&plan.project, &plan.selected) {
        let results = for_each(level, ctx.parallelism(), |svc| async move {
            let Some(service) = plan.project.services.get(&svc) else {
                return Ok(());
            };
            for (dep, cond) in &service.depends_on {
                // Dependencies left out (`--no-deps`) are not waited for.
                let Some(list) = done.get(dep) else { continue };
                wait_dependency(ctx, &svc, dep, &cond.condition, cond.required, list).await?;
            }
            let list = done.get(&svc).cloned().unwrap_or_default();
            let started = for_each(list, ctx.parallelism(), |(id, name, must)| async move {
                if !must {
                    return Ok(());
                }
                ctx.progress.event("Container", &name, "Starting");
                ctx.client
                    .call_json(Method::POST, &format!("/containers/{id}/start"), None)
                    .await
                    .map_err(|e| format!("Container {name}: {e}"))?;
                ctx.progress.event("Container", &name, "Started");
                Ok::<(), CmdError>(())
            })
            .await;
            first_error(started).map(|_| ())
        })
        .await;
        first_error(results)?;
    }
    Ok(())
}

/// `--wait`: every selected service's containers running (and healthy
/// when they have a health check).
async fn wait_running(
    ctx: &Ctx,
    done: &BTreeMap<String, Vec<Converged>>,
    timeout: Option<u64>,
) -> Result<(), CmdError> {
    let deadline = timeout.map(|t| Instant::now() + Duration::from_secs(t));
    for list in done.values() {
        for (id, name, _) in list {
            ctx.progress.event("Container", name, "Waiting");
            loop {
                let v = ctx
                    .client
                    .get_json(&format!("/containers/{id}/json"))
                    .await?;
                let st = &v["State"];
                let running = st["Running"] == true;
                match st["Health"]["Status"].as_str() {
                    Some("healthy") if running => break,
                    Some("unhealthy") => {
                        return Err(format!("container {name} is unhealthy").into())
                    }
                    None | Some("") if running => break,
                    _ => {}
                }
                if !running && st["Restarting"] != true {
                    return Err(format!(
                        "container {name} exited ({})",
                        st["ExitCode"].as_i64().unwrap_or(0)
                    )
                    .into());
                }
                if deadline.is_some_and(|d| Instant::now() > d) {
                    return Err(format!(
                        "timeout waiting for container {name} to be running|healthy"
                    )
                    .into());
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            ctx.progress.event("Container", name, "Healthy");
        }
    }
    Ok(())
}

fn plan(
    ctx: &Ctx,
    opts: &CreateOpts,
    services: &[String],
    no_deps: bool,
) -> Result<Plan, CmdError> {
    let mut project = ctx.require_file()?.clone();
    if opts.build && opts.no_build {
        return Err("--build and --no-build are incompatible".into());
    }
    if opts.force_recreate && opts.no_recreate {
        return Err("--force-recreate and --no-recreate are incompatible".into());
    }
    apply_scale(&mut project, &opts.scale)?;
    let selected = project.services_to_start(services, no_deps)?;
    Ok(Plan {
        project,
        selected,
        opts: opts.clone(),
        timeout: None,
    })
}

/// `compose create`.
pub async fn create(ctx: &Ctx, a: &CreateArgs) -> Result<ExitCode, CmdError> {
    let plan = plan(ctx, &a.opts, &a.services, false)?;
    converge(ctx, &plan).await?;
    Ok(ExitCode::SUCCESS)
}

/// `compose up`.
pub async fn up(ctx: &Ctx, a: &UpArgs) -> Result<ExitCode, CmdError> {
    let abort = a.abort_on_container_exit || a.exit_code_from.is_some();
    if a.detach && (abort || a.abort_on_container_failure) {
        return Err("--abort-on-container-exit and -d cannot be combined.".into());
    }
    let mut plan = plan(ctx, &a.opts, &a.services, a.no_deps)?;
    plan.timeout = a.timeout;
    if let Some(s) = &a.exit_code_from {
        if !plan.project.services.contains_key(s) {
            return Err(format!("no such service: {s}").into());
        }
    }
    let done = converge(ctx, &plan).await?;
    if a.no_start {
        return Ok(ExitCode::SUCCESS);
    }
    let attached = !a.detach && !a.wait;
    // Attached: follow the output from before the start, so nothing is missed.
    let printer = if attached {
        let wanted: Vec<String> = if !a.attach.is_empty() {
            a.attach.clone()
        } else if a.services.is_empty() || a.attach_dependencies {
            plan.selected.clone()
        } else {
            a.services.clone()
        };
        let wanted: Vec<String> = wanted
            .into_iter()
            .filter(|s| !a.no_attach.contains(s))
            .filter(|s| {
                plan.project
                    .services
                    .get(s)
                    .is_none_or(|svc| svc.attach != Some(false))
            })
            .collect();
        let list: Vec<(String, String)> = done
            .iter()
            .filter(|(svc, _)| wanted.contains(svc))
            .flat_map(|(_, l)| l.iter().map(|(id, name, _)| (id.clone(), name.clone())))
            .collect();
        Some(
            logs::Attached::start(
                ctx,
                list,
                wanted,
                logs::AttachOpts {
                    color: ctx.ansi() && !a.no_color,
                    prefix: !a.no_log_prefix,
                    timestamps: a.timestamps,
                },
            )
            .await?,
        )
    } else {
        None
    };
    if let Err(e) = start_all(ctx, &plan, &done).await {
        if let Some(p) = printer {
            p.cancel();
        }
        return Err(e);
    }
    if a.wait {
        wait_running(ctx, &done, a.wait_timeout).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let Some(printer) = printer else {
        return Ok(ExitCode::SUCCESS);
    };
    let all: Vec<Ctr> = ctx
        .containers(true, OneOff::Exclude)
        .await?
        .into_iter()
        .filter(|c| plan.selected.contains(&c.service))
        .collect();
    let code = printer
        .wait(
            ctx,
            &all,
            logs::UntilOpts {
                abort_on_exit: abort,
                abort_on_failure: a.abort_on_container_failure,
                exit_code_from: a.exit_code_from.clone(),
                timeout: a.timeout,
                order: ctx.stop_order(&plan.selected, &all),
            },
        )
        .await?;
    Ok(ExitCode::from(code))
}

/// `compose scale SERVICE=NUM...` (v1's `scale`, v2's `scale`): adds or
/// removes replicas; existing containers are not recreated.
pub async fn scale(ctx: &Ctx, a: &ScaleArgs) -> Result<ExitCode, CmdError> {
    let mut services = Vec::new();
    for p in &a.pairs {
        let (svc, _) = p
            .split_once('=')
            .ok_or_else(|| format!("invalid scale value {p:?}: expected SERVICE=NUM"))?;
        services.push(svc.to_string());
    }
    let opts = CreateOpts {
        no_recreate: true,
        scale: a.pairs.clone(),
        pull: "policy".into(),
        ..Default::default()
    };
    let plan = plan(ctx, &opts, &services, a.no_deps)?;
    let done = converge(ctx, &plan).await?;
    start_all(ctx, &plan, &done).await?;
    Ok(ExitCode::SUCCESS)
}

/// What `compose run` needs before it creates its container: the
/// project's networks and volumes, the service's dependencies created and
/// started (unless `no_deps`) and their conditions met, and the service's
/// image built or pulled. Returns the image ID.
pub(super) async fn prepare_run(
    ctx: &Ctx,
    service: &str,
    opts: &CreateOpts,
    no_deps: bool,
) -> Result<Option<String>, CmdError> {
    let project = ctx.require_file()?.clone();
    let selected: Vec<String> = if no_deps {
        Vec::new()
    } else {
        project
            .services_to_start(&[service.to_string()], false)?
            .into_iter()
            .filter(|s| s != service)
            .collect()
    };
    let plan = Plan {
        project,
        selected,
        opts: opts.clone(),
        timeout: None,
    };
    let done = converge(ctx, &plan).await?;
    start_all(ctx, &plan, &done).await?;
    if let Some(svc) = plan.project.services.get(service) {
        for (dep, cond) in &svc.depends_on {
            let Some(list) = done.get(dep) else { continue };
            wait_dependency(ctx, service, dep, &cond.condition, cond.required, list).await?;
        }
    }
    let ids = images::ensure_images(ctx, &plan.project, &[service.to_string()], opts).await?;
    Ok(ids.get(service).cloned())
}
