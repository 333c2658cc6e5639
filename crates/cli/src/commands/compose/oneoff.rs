//! Commands that work inside or beside a service's containers: `compose
//! run` (a one-off container with compose's `oneoff` labels, after the
//! service's dependencies are up), `compose exec` and `compose cp` (the
//! service's container picked by `--index`, then berth's own `exec` and
//! `cp`).

use std::io::Read;
use std::process::ExitCode;

use berth_compose::engine::{
    container_create, oneoff_container_name, ContainerOptions, SLUG_LABEL,
};
use berth_compose::syntax::{parse_port, parse_volume, shell_split};
use berth_compose::{Port, ServiceVolume};
use hyper::Method;
use serde_json::json;

use super::args::{CpArgs, CreateOpts, ExecArgs, RunArgs};
use super::{up, Ctx, COMPOSE_VERSION};
use crate::commands::container::{attach_start_wait, Attach};
use crate::commands::{cp, interactive};
use crate::output::{is_tty, CmdError};

/// A random 64-hex-digit slug, as compose gives each one-off container.
fn new_slug() -> Result<String, CmdError> {
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// `KEY=VALUE`, or `KEY` taken from the environment (left out when unset).
fn env_pair(e: &str) -> Option<(String, String)> {
    match e.split_once('=') {
        Some((k, v)) => Some((k.to_string(), v.to_string())),
        None => std::env::var(e).ok().map(|v| (e.to_string(), v)),
    }
}

/// `compose run SERVICE [COMMAND...]`.
pub async fn run(ctx: &Ctx, a: &RunArgs) -> Result<ExitCode, CmdError> {
    let project = ctx.require_file()?;
    let (name, command) = a
        .cmd
        .split_first()
        .ok_or("compose run requires a service name")?;
    let mut service = project
        .services
        .get(name)
        .cloned()
        .ok_or_else(|| format!("no such service: {name}"))?;
    let opts = CreateOpts {
        build: a.build,
        pull: a.pull.clone(),
        remove_orphans: a.remove_orphans,
        ..Default::default()
    };
    let image_id = up::prepare_run(ctx, name, &opts, a.no_deps).await?;

    // The service as this run overrides it.
    if !command.is_empty() {
        service.command = Some(command.to_vec());
    }
    if let Some(ep) = &a.entrypoint {
        service.entrypoint = Some(shell_split(ep).map_err(|e| format!("--entrypoint: {e}"))?);
        if command.is_empty() {
            service.command = None;
        }
    }
    for e in &a.env {
        if let Some((k, v)) = env_pair(e) {
            service.environment.insert(k, Some(v));
        }
    }
    for l in &a.labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        service.labels.insert(k.to_string(), v.to_string());
    }
    if let Some(u) = &a.user {
        service.user = Some(u.clone());
    }
    if let Some(w) = &a.workdir {
        service.working_dir = Some(w.clone());
    }
    for v in &a.volumes {
        let mut long = parse_volume(v).map_err(|e| format!("invalid volume {v:?}: {e}"))?;
        if let Some(src) = long["source"].as_str().filter(|s| s.starts_with('.')) {
            long["source"] = json!(project.working_dir.join(src).display().to_string());
        }
        let vol: ServiceVolume =
            serde_json::from_value(long).map_err(|e| format!("invalid volume {v:?}: {e}"))?;
        service.volumes.push(vol);
    }
    let mut published: Vec<Port> = if a.service_ports {
        service.ports.clone()
    } else {
        Vec::new()
    };
    for p in &a.publish {
        for parsed in parse_port(p).map_err(|e| format!("invalid port {p:?}: {e}"))? {
            published.push(Port {
                mode: "ingress".into(),
                host_ip: Some(parsed.host_ip).filter(|s| !s.is_empty()),
                target: parsed.target,
                published: Some(parsed.published).filter(|s| !s.is_empty()),
                protocol: parsed.protocol,
                ..Default::default()
            });
        }
    }
    service.ports = published.clone();
    let tty = !a.no_tty && (a.tty || is_tty(std::io::stdin()));
    let stdin = !a.detach;
    service.tty = tty;
    service.stdin_open = stdin;
    // One-off containers never restart.
    service.restart = None;
    if let Some(d) = &mut service.deploy {
        d.restart_policy = None;
    }

    let slug = new_slug()?;
    let cname = a
        .name
        .clone()
        .unwrap_or_else(|| oneoff_container_name(&project.name, name, &slug, ctx.naming));
    let copts = ContainerOptions {
        number: 0,
        oneoff: true,
        naming: ctx.naming,
        compose_version: COMPOSE_VERSION.into(),
        image_digest: image_id,
        env_files: up::env_file_labels(ctx),
        use_network_aliases: a.use_aliases,
        auto_remove: a.rm,
        attach_stdin: stdin,
        name: Some(cname.clone()),
        ..Default::default()
    };
    let cc = container_create(project, &service, &copts)?;
    let mut body = cc.body;
    body["Labels"][SLUG_LABEL] = json!(slug);
    // `container_create` publishes nothing for one-off containers: the
    // ports this run asks for are bound here.
    for p in &published {
        let key = format!("{}/{}", p.target, p.protocol);
        let binding = json!({
            "HostIp": p.host_ip.clone().unwrap_or_default(),
            "HostPort": p.published.clone().unwrap_or_default(),
        });
        match body["HostConfig"]["PortBindings"][&key].as_array_mut() {
            Some(list) => list.push(binding),
            None => body["HostConfig"]["PortBindings"][&key] = json!([binding]),
        }
    }
    let id = up::post_create(ctx, &cc.name, &body).await?;
    if a.detach {
        ctx.client
            .call_json(Method::POST, &format!("/containers/{id}/start"), None)
            .await
            .map_err(|e| format!("Container {cname}: {e}"))?;
        println!("{cname}");
        return Ok(ExitCode::SUCCESS);
    }
    let code = attach_start_wait(
        &ctx.client,
        &id,
        Attach {
            stdin,
            stdout: true,
            stderr: true,
            tty,
            removed: a.rm,
            detach_keys: None,
            sig_proxy: true,
        },
    )
    .await?;
    Ok(ExitCode::from(code))
}

/// `compose exec SERVICE COMMAND...`: berth's `exec` in the service's
/// container.
pub async fn exec(ctx: &Ctx, a: &ExecArgs) -> Result<ExitCode, CmdError> {
    let (service, command) = a
        .cmd
        .split_first()
        .ok_or("compose exec requires a service and a command")?;
    if command.is_empty() {
        return Err("compose exec requires at least 2 arguments: SERVICE COMMAND".into());
    }
    let c = ctx.specified_container(service, a.index, false).await?;
    let tty = !a.no_tty && is_tty(std::io::stdin());
    let args = crate::cli::ExecArgs {
        detach: a.detach,
        detach_keys: None,
        env: a.env.clone(),
        env_file: Vec::new(),
        interactive: !a.detach,
        privileged: a.privileged,
        tty,
        user: a.user.clone(),
        workdir: a.workdir.clone(),
        container: c.id,
        command: command.to_vec(),
    };
    interactive::exec(&ctx.client, &args).await
}

/// `SERVICE:PATH` with the service's container ID in place of the
/// service; local paths unchanged.
async fn resolve_spec(ctx: &Ctx, spec: &str, index: u32) -> Result<String, CmdError> {
    match cp::split_spec(spec) {
        (Some(service), path) => {
            let c = ctx.specified_container(&service, index, true).await?;
            Ok(format!("{}:{path}", c.id))
        }
        (None, _) => Ok(spec.to_string()),
    }
}

/// `compose cp`: berth's `cp` with services in place of containers.
pub async fn cp(ctx: &Ctx, a: &CpArgs) -> Result<ExitCode, CmdError> {
    let args = crate::cli::CpArgs {
        archive: a.archive,
        follow_link: a.follow_link,
        quiet: false,
        src: resolve_spec(ctx, &a.src, a.index).await?,
        dst: resolve_spec(ctx, &a.dst, a.index).await?,
    };
    cp::cp(&ctx.client, &args).await
}
