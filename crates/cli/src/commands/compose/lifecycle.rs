//! Container lifecycle over a project: `compose start`, `stop`,
//! `restart`, `kill`, `rm`, `pause`, `unpause` and `down` (containers by
//! dependency level — dependents stop first, dependencies start first,
//! every container of a level at once; `down` removes each container as
//! soon as it has stopped — then the project's networks, and on request
//! its volumes and images). Containers are found by their labels, so the
//! commands also manage what docker-compose 1.x created, and work from
//! `-p` alone when there is no compose file.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::process::ExitCode;

use berth_compose::engine::PROJECT_LABEL;
use hyper::Method;

use super::args::{DownArgs, KillArgs, RestartArgs, RmArgs, StopArgs};
use super::{first_error, for_each, is_not_found, Ctr, Ctx, OneOff};
use crate::output::{query, CmdError};

/// Groups containers into dependency levels whose containers can all be
/// handled at once, as compose v2 walks the graph: to start, a service
/// comes one level after the deepest service it depends on; to stop
/// (`stop`), one level after the deepest service depending on it, so
/// dependents stop first. Services the file does not know (orphans, or no
/// file at all) are in the first level.
fn levels(ctx: &Ctx, list: Vec<Ctr>, stop: bool) -> Vec<Vec<Ctr>> {
    let services = &ctx.project.services;
    // Edges to follow: dependencies to start, dependents to stop.
    let next = |s: &str| -> Vec<String> {
        if !ctx.has_file {
            return Vec::new();
        }
        if stop {
            services
                .iter()
                .filter(|(_, svc)| svc.depends_on.contains_key(s))
                .map(|(n, _)| n.clone())
                .collect()
        } else {
            services
                .get(s)
                .map(|svc| {
                    svc.depends_on
                        .keys()
                        .filter(|d| services.contains_key(*d))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default()
        }
    };
    fn depth(
        s: &str,
        next: &dyn Fn(&str) -> Vec<String>,
        memo: &mut BTreeMap<String, usize>,
        seen: &mut BTreeSet<String>,
    ) -> usize {
        if let Some(d) = memo.get(s) {
            return *d;
        }
        // A cycle is refused when the file loads; stay finite anyway.
        if !seen.insert(s.to_string()) {
            return 0;
        }
        let d = next(s)
            .iter()
            .map(|n| depth(n, next, memo, seen) + 1)
            .max()
            .unwrap_or(0);
        memo.insert(s.to_string(), d);
        d
    }
    let mut memo = BTreeMap::new();
    let mut groups: BTreeMap<usize, Vec<Ctr>> = BTreeMap::new();
    for c in list {
        let d = depth(&c.service, &next, &mut memo, &mut BTreeSet::new());
        groups.entry(d).or_default().push(c);
    }
    groups.into_values().collect()
}

/// The stop timeout of a container's service (`-t` first).
fn timeout_for(ctx: &Ctx, c: &Ctr, flag: Option<i64>) -> Option<i64> {
    flag.or_else(|| {
        ctx.project
            .services
            .get(&c.service)
            .and_then(|s| s.stop_grace_period)
            .map(|g| g.seconds())
    })
}

/// The named services plus those depending on them (when a file says so).
fn with_dependents(ctx: &Ctx, services: &[String]) -> Vec<String> {
    if services.is_empty() || !ctx.has_file {
        return services.to_vec();
    }
    let mut out: Vec<String> = services.to_vec();
    for s in services {
        for d in ctx.project.dependents_of(s) {
            if !out.contains(&d) {
                out.push(d);
            }
        }
    }
    out
}

/// One API call on a container between two progress events (`Stopping`,
/// `Stopped`); with `missing_ok`, a container already gone counts as done.
async fn container_call(
    ctx: &Ctx,
    c: &Ctr,
    (method, path): (Method, &str),
    (doing, done): (&str, &str),
    missing_ok: bool,
) -> Result<(), CmdError> {
    ctx.progress.event("Container", &c.name, doing);
    match ctx.client.call_json(method, path, None).await {
        Ok(_) => {}
        Err(e) if missing_ok && is_not_found(&e) => {}
        Err(e) => return Err(format!("Container {}: {e}", c.name).into()),
    }
    ctx.progress.event("Container", &c.name, done);
    Ok(())
}

/// Stops one container if it runs, with its service's grace period unless
/// `timeout` says otherwise.
async fn stop_one(ctx: &Ctx, c: &Ctr, timeout: Option<i64>) -> Result<(), CmdError> {
    if !c.is_running() {
        return Ok(());
    }
    let t = timeout_for(ctx, c, timeout)
        .map(|t| format!("?t={t}"))
        .unwrap_or_default();
    let path = format!("/containers/{}/stop{t}", c.id);
    container_call(ctx, c, (Method::POST, &path), ("Stopping", "Stopped"), true).await
}

/// Removes one container (forced), its anonymous volumes too with `volumes`.
async fn remove_one(ctx: &Ctx, c: &Ctr, volumes: bool) -> Result<(), CmdError> {
    let q = query(&[("force", "1"), ("v", if volumes { "1" } else { "0" })]);
    let path = format!("/containers/{}?{q}", c.id);
    container_call(
        ctx,
        c,
        (Method::DELETE, &path),
        ("Removing", "Removed"),
        true,
    )
    .await
}

/// Stops containers, dependents first, each group concurrently.
pub(super) async fn stop_containers(
    ctx: &Ctx,
    list: Vec<Ctr>,
    timeout: Option<i64>,
) -> Result<(), CmdError> {
    for group in levels(ctx, list, true) {
        let results = for_each(group, ctx.parallelism(), |c| async move {
            stop_one(ctx, &c, timeout).await
        })
        .await;
        first_error(results)?;
    }
    Ok(())
}

/// `compose start`.
pub async fn start(ctx: &Ctx, services: &[String]) -> Result<ExitCode, CmdError> {
    let list = ctx
        .service_containers(services, true, OneOff::Exclude)
        .await?;
    if list.is_empty() {
        return Err(match services.first() {
            Some(s) => format!("service {s:?} has no container to start").into(),
            None => "no container to start".into(),
        });
    }
    for group in levels(ctx, list, false) {
        let results = for_each(group, ctx.parallelism(), |c| async move {
            if c.is_running() {
                return Ok(());
            }
            let path = format!("/containers/{}/start", c.id);
            container_call(
                ctx,
                &c,
                (Method::POST, &path),
                ("Starting", "Started"),
                false,
            )
            .await
        })
        .await;
        first_error(results)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `compose stop`.
pub async fn stop(ctx: &Ctx, a: &StopArgs) -> Result<ExitCode, CmdError> {
    let services = with_dependents(ctx, &a.services);
    let list = ctx
        .service_containers(&services, false, OneOff::Include)
        .await?;
    stop_containers(ctx, list, a.timeout).await?;
    Ok(ExitCode::SUCCESS)
}

/// `compose restart`.
pub async fn restart(ctx: &Ctx, a: &RestartArgs) -> Result<ExitCode, CmdError> {
    let services = if a.no_deps {
        a.services.clone()
    } else {
        with_dependents(ctx, &a.services)
    };
    let list = ctx
        .service_containers(&services, true, OneOff::Exclude)
        .await?;
    for group in levels(ctx, list, false) {
        let results = for_each(group, ctx.parallelism(), |c| async move {
            let t = timeout_for(ctx, &c, a.timeout)
                .map(|t| format!("?t={t}"))
                .unwrap_or_default();
            let path = format!("/containers/{}/restart{t}", c.id);
            container_call(
                ctx,
                &c,
                (Method::POST, &path),
                ("Restarting", "Started"),
                false,
            )
            .await
        })
        .await;
        first_error(results)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `compose kill`.
pub async fn kill(ctx: &Ctx, a: &KillArgs) -> Result<ExitCode, CmdError> {
    let mut list = ctx
        .service_containers(&a.services, false, OneOff::Exclude)
        .await?;
    if !a.remove_orphans && ctx.has_file {
        list.retain(|c| ctx.project.services.contains_key(&c.service));
    }
    if list.is_empty() {
        return Err("no container to kill".into());
    }
    let results = for_each(list, ctx.parallelism(), |c| async move {
        let path = format!(
            "/containers/{}/kill?{}",
            c.id,
            query(&[("signal", &a.signal)])
        );
        container_call(ctx, &c, (Method::POST, &path), ("Killing", "Killed"), false).await
    })
    .await;
    first_error(results)?;
    Ok(ExitCode::SUCCESS)
}

/// Removes containers (already stopped, or forced).
pub(super) async fn remove_containers(
    ctx: &Ctx,
    list: Vec<Ctr>,
    volumes: bool,
) -> Result<(), CmdError> {
    let results = for_each(list, ctx.parallelism(), |c| async move {
        remove_one(ctx, &c, volumes).await
    })
    .await;
    first_error(results).map(|_| ())
}

/// Stops and removes containers, dependents first: each container is
/// removed as soon as it has stopped (one pipeline per container, every
/// container of a dependency level at once), as compose v2's `down` does.
pub(super) async fn stop_and_remove(
    ctx: &Ctx,
    list: Vec<Ctr>,
    timeout: Option<i64>,
    volumes: bool,
) -> Result<(), CmdError> {
    for group in levels(ctx, list, true) {
        let results = for_each(group, ctx.parallelism(), |c| async move {
            stop_one(ctx, &c, timeout).await?;
            remove_one(ctx, &c, volumes).await
        })
        .await;
        first_error(results)?;
    }
    Ok(())
}

/// `compose rm`.
pub async fn rm(ctx: &Ctx, a: &RmArgs) -> Result<ExitCode, CmdError> {
    let all = ctx
        .service_containers(&a.services, true, OneOff::Include)
        .await?;
    if a.stop {
        let running: Vec<Ctr> = all.iter().filter(|c| c.is_running()).cloned().collect();
        stop_containers(ctx, running, None).await?;
    }
    let list: Vec<Ctr> = if a.stop {
        all
    } else {
        all.into_iter().filter(|c| !c.is_running()).collect()
    };
    if list.is_empty() {
        eprintln!("No stopped containers");
        return Ok(ExitCode::SUCCESS);
    }
    if !a.force {
        let names: Vec<&str> = list.iter().map(|c| c.name.as_str()).collect();
        eprint!("Going to remove {}\nAre you sure? [yN] ", names.join(", "));
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
            return Ok(ExitCode::SUCCESS);
        }
    }
    remove_containers(ctx, list, a.volumes).await?;
    Ok(ExitCode::SUCCESS)
}

/// `compose pause` / `unpause`.
pub async fn simple(ctx: &Ctx, services: &[String], verb: &str) -> Result<ExitCode, CmdError> {
    let list = ctx
        .service_containers(services, false, OneOff::Exclude)
        .await?;
    let (doing, done) = if verb == "pause" {
        ("Pausing", "Paused")
    } else {
        ("Unpausing", "Unpaused")
    };
    let results = for_each(list, ctx.parallelism(), |c| async move {
        let paused = c.state == "paused";
        if (verb == "pause") == paused {
            return Ok(());
        }
        let path = format!("/containers/{}/{verb}", c.id);
        container_call(ctx, &c, (Method::POST, &path), (doing, done), false).await
    })
    .await;
    first_error(results)?;
    Ok(ExitCode::SUCCESS)
}

/// `compose down`.
pub async fn down(ctx: &Ctx, a: &DownArgs) -> Result<ExitCode, CmdError> {
    if let Some(r) = &a.rmi {
        if r != "local" && r != "all" {
            return Err(
                format!("invalid value for --rmi: {r:?} (use \"local\" or \"all\")").into(),
            );
        }
    }
    let project = &ctx.project;
    let all = ctx
        .service_containers(&a.services, true, OneOff::Include)
        .await?;
    let (mut list, orphans): (Vec<Ctr>, Vec<Ctr>) = all.into_iter().partition(|c| {
        !ctx.has_file
            || project.services.contains_key(&c.service)
            || project.disabled_services.contains_key(&c.service)
    });
    if !orphans.is_empty() {
        if a.remove_orphans {
            list.extend(orphans);
        } else {
            let names: Vec<&str> = orphans.iter().map(|c| c.name.as_str()).collect();
            ctx.progress.warn(&format!(
                "Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                names.join(" ")
            ));
        }
    }
    let images: BTreeSet<String> = match a.rmi.as_deref() {
        Some(mode) => {
            let mut set = BTreeSet::new();
            for c in &list {
                if let Some(img) = c.raw["Image"].as_str() {
                    set.insert(img.to_string());
                }
            }
            if ctx.has_file {
                for s in project.services.values() {
                    if !a.services.is_empty() && !a.services.contains(&s.name) {
                        continue;
                    }
                    set.insert(super::images::image_of(ctx, project, s));
                }
            }
            let sep = ctx.naming.separator();
            let local = |img: &str| {
                // Images compose named itself (no `image:` in the file).
                ctx.has_file
                    && project.services.values().any(|s| {
                        s.image.as_deref().is_none_or(str::is_empty)
                            && (img == format!("{}{sep}{}", project.name, s.name)
                                || img == format!("{}{sep}{}:latest", project.name, s.name))
                    })
            };
            set.into_iter()
                .filter(|i| mode == "all" || local(i))
                .collect()
        }
        None => BTreeSet::new(),
    };
    stop_and_remove(ctx, list, a.timeout, a.volumes).await?;
    if !a.services.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    // Networks: the project's (one listing, by label), those of the file
    // only when there is one; removed all at once.
    let f = serde_json::json!({"label": [format!("{PROJECT_LABEL}={}", project.name)]}).to_string();
    let listed = ctx
        .client
        .get_json(&format!("/networks?{}", query(&[("filters", &f)])))
        .await?;
    let ours: BTreeSet<String> = listed
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|n| n["Labels"][PROJECT_LABEL].as_str() == Some(project.name.as_str()))
        .filter_map(|n| n["Name"].as_str().map(String::from))
        .collect();
    let networks: Vec<String> = if ctx.has_file {
        project
            .networks
            .values()
            .filter(|n| !n.external && ours.contains(&n.name))
            .map(|n| n.name.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    } else {
        ours.into_iter().collect()
    };
    for_each(networks, ctx.parallelism(), |n| async move {
        ctx.progress.event("Network", &n, "Removing");
        match ctx
            .client
            .call_json(Method::DELETE, &format!("/networks/{n}"), None)
            .await
        {
            Ok(_) => ctx.progress.event("Network", &n, "Removed"),
            Err(e) if is_not_found(&e) => {}
            Err(e) => ctx.progress.warn(&format!("network {n}: {e}")),
        }
    })
    .await;
    // Volumes.
    if a.volumes {
        let mut volumes: Vec<String> = Vec::new();
        if ctx.has_file {
            for v in project.volumes.values() {
                if !v.external {
                    volumes.push(v.name.clone());
                }
            }
        } else {
            let f = serde_json::json!({"label": [format!("{PROJECT_LABEL}={}", project.name)]})
                .to_string();
            let v = ctx
                .client
                .get_json(&format!("/volumes?{}", query(&[("filters", &f)])))
                .await?;
            for vol in v["Volumes"].as_array().cloned().unwrap_or_default() {
                if let Some(name) = vol["Name"].as_str() {
                    volumes.push(name.to_string());
                }
            }
        }
        for v in volumes {
            match ctx.client.get_json(&format!("/volumes/{v}")).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => continue,
                Err(e) => return Err(e.into()),
            }
            ctx.progress.event("Volume", &v, "Removing");
            match ctx
                .client
                .call_json(Method::DELETE, &format!("/volumes/{v}"), None)
                .await
            {
                Ok(_) => ctx.progress.event("Volume", &v, "Removed"),
                Err(e) if is_not_found(&e) => {}
                Err(e) => ctx.progress.warn(&format!("volume {v}: {e}")),
            }
        }
    }
    for img in images {
        ctx.progress.event("Image", &img, "Removing");
        match ctx
            .client
            .call_json(Method::DELETE, &format!("/images/{img}"), None)
            .await
        {
            Ok(_) => ctx.progress.event("Image", &img, "Removed"),
            Err(e) if is_not_found(&e) => {}
            Err(e) => ctx.progress.warn(&format!("image {img}: {e}")),
        }
    }
    Ok(ExitCode::SUCCESS)
}
