//! Service images: `compose build` (through berth's `build` command, one
//! service after the other), `compose pull` and `compose push` (all
//! services at once, with compose v2's per-service progress and skips;
//! push only for services that are built and named), and what
//! `up`/`create`/`run` do before creating containers: build or pull the
//! images the pull policy asks for, and note each image's ID for the
//! `com.docker.compose.image` label.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use berth_compose::{Project, Service};

use super::args::{BuildArgs, CreateOpts, PullArgs, PushArgs};
use super::{is_not_found, Ctx};
use crate::commands::build::BuildCli;
use crate::output::CmdError;

/// The image a service runs (its `image:`, else the name compose gives a
/// built image).
pub fn image_of(ctx: &Ctx, project: &Project, service: &Service) -> String {
    service.image_or_default(&project.name, ctx.naming.separator())
}

/// The image's ID, or `None` when the daemon does not have it.
pub async fn image_id(ctx: &Ctx, image: &str) -> Result<Option<String>, CmdError> {
    match ctx
        .client
        .get_json(&format!("/images/{}/json", image_path(image)))
        .await
    {
        Ok(v) => Ok(v["Id"].as_str().map(String::from)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// An image reference as a path segment (`/` kept, as the API routes take it).
fn image_path(image: &str) -> String {
    image.replace('?', "%3F").replace('#', "%23")
}

/// Builds one service's image.
async fn build_service(
    ctx: &Ctx,
    project: &Project,
    service: &Service,
    no_cache: bool,
    pull: bool,
    quiet: bool,
    extra_args: &[String],
) -> Result<(), CmdError> {
    let Some(b) = &service.build else {
        return Ok(());
    };
    let image = image_of(ctx, project, service);
    let mut tags = vec![image];
    tags.extend(b.tags.iter().cloned());
    let mut build_args: Vec<String> = b
        .args
        .iter()
        .map(|(k, v)| match v {
            Some(v) => format!("{k}={v}"),
            None => k.clone(),
        })
        .collect();
    build_args.extend(extra_args.iter().cloned());
    let mut _inline = None;
    let file = match (&b.dockerfile_inline, &b.dockerfile) {
        (Some(text), _) => {
            let tmp = tempfile_with(text)?;
            let p = tmp.path().display().to_string();
            _inline = Some(tmp);
            Some(p)
        }
        (None, Some(f)) => {
            let p = Path::new(&b.context).join(f);
            Some(p.display().to_string())
        }
        (None, None) => None,
    };
    let labels: Vec<String> = b.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let cli = BuildCli {
        tags,
        file,
        build_args,
        target: b.target.clone(),
        no_cache: no_cache || b.no_cache,
        pull: pull || b.pull,
        labels,
        network: b.network.clone(),
        add_hosts: b.extra_hosts.clone(),
        iidfile: None,
        quiet,
        platform: b
            .platforms
            .first()
            .cloned()
            .or_else(|| service.platform.clone()),
        progress: if ctx.args.progress == "quiet" {
            "quiet".into()
        } else {
            "auto".into()
        },
        rm: true,
        force_rm: false,
        context: b.context.clone(),
    };
    ctx.progress.event("Service", &service.name, "Building");
    let code = crate::commands::build::build(&ctx.client, &cli)
        .await
        .map_err(|e| format!("failed to build service {:?}: {e}", service.name))?;
    if code != ExitCode::SUCCESS {
        return Err(format!("failed to build service {:?}", service.name).into());
    }
    ctx.progress.event("Service", &service.name, "Built");
    Ok(())
}

/// A temporary file holding `text` (an inline Dockerfile).
fn tempfile_with(text: &str) -> Result<tempfile_lite::TempFile, CmdError> {
    tempfile_lite::TempFile::new(text)
}

mod tempfile_lite {
    //! A file in the temporary directory, removed on drop.
    use std::path::{Path, PathBuf};

    use crate::output::CmdError;

    /// The file.
    pub struct TempFile(PathBuf);

    impl TempFile {
        /// Writes `text` to a fresh file.
        pub fn new(text: &str) -> Result<TempFile, CmdError> {
            let name = format!(
                "berth-compose-dockerfile-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0)
            );
            let p = std::env::temp_dir().join(name);
            std::fs::write(&p, text)
                .map_err(|e| format!("cannot write the inline Dockerfile: {e}"))?;
            Ok(TempFile(p))
        }

        /// Its path.
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// Pulls a service's image; progress on stderr as compose v2 reports it
/// (`SERVICE  Pulling`, `SERVICE  Pulled`).
async fn pull_image(ctx: &Ctx, service: &str, image: &str, quiet: bool) -> Result<(), CmdError> {
    if !quiet {
        ctx.progress.item(service, "Pulling");
    }
    let pulled = crate::commands::registry::pull_image_to(&ctx.client, image, None, true, true)
        .await
        .map_err(|e| format!("failed to pull image {image} for service {service:?}: {e}"));
    if !quiet {
        ctx.progress
            .item(service, if pulled.is_ok() { "Pulled" } else { "Error" });
    }
    pulled.map_err(CmdError::from)
}

/// Builds or pulls what the selected services need; returns each
/// service's image ID.
pub async fn ensure_images(
    ctx: &Ctx,
    project: &Project,
    selected: &[String],
    opts: &CreateOpts,
) -> Result<BTreeMap<String, String>, CmdError> {
    let mut ids = BTreeMap::new();
    for name in selected {
        let Some(service) = project.services.get(name) else {
            continue;
        };
        let image = image_of(ctx, project, service);
        let flag_policy = match opts.pull.as_str() {
            "policy" | "" => None,
            p => Some(p.to_string()),
        };
        let policy = flag_policy
            .or_else(|| service.pull_policy.clone())
            .unwrap_or_else(|| "missing".into());
        let mut id = image_id(ctx, &image).await?;
        let can_build = service.build.is_some();
        let must_build = can_build
            && !opts.no_build
            && (opts.build || policy == "build" || (id.is_none() && policy != "always"));
        if must_build {
            build_service(ctx, project, service, false, false, false, &[]).await?;
            id = image_id(ctx, &image).await?;
        } else if policy == "always" || (id.is_none() && !can_build && policy != "never") {
            pull_image(ctx, name, &image, opts.quiet_pull).await?;
            id = image_id(ctx, &image).await?;
        }
        match id {
            Some(id) => {
                ids.insert(name.clone(), id);
            }
            None if can_build => {
                return Err(format!(
                    "service {name:?} has neither an image nor a build context specified: image {image} not found and --no-build given"
                )
                .into())
            }
            None => {
                return Err(format!(
                    "service {name:?}: image {image} not found (pull policy {policy})"
                )
                .into())
            }
        }
    }
    Ok(ids)
}

/// The named services (all when none) in start order, with their
/// dependencies when `with_deps`.
fn selected(
    ctx: &Ctx,
    project: &Project,
    services: &[String],
    with_deps: bool,
) -> Result<Vec<String>, CmdError> {
    if with_deps {
        return Ok(project.services_to_start(services, false)?);
    }
    ctx.check_services(services)?;
    Ok(project
        .start_order()
        .into_iter()
        .filter(|s| services.is_empty() || services.contains(s))
        .collect())
}

/// `compose build`.
pub async fn build(ctx: &Ctx, a: &BuildArgs) -> Result<ExitCode, CmdError> {
    let project = ctx.require_file()?;
    let names = selected(ctx, project, &a.services, a.with_dependencies)?;
    for name in names {
        let Some(service) = project.services.get(&name) else {
            continue;
        };
        if service.build.is_none() {
            continue;
        }
        build_service(
            ctx,
            project,
            service,
            a.no_cache,
            a.pull,
            a.quiet,
            &a.build_args,
        )
        .await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether compose v2's `missing` policy finds the image present: named
/// with an explicit tag other than `latest`, and on the daemon.
async fn tagged_and_present(ctx: &Ctx, image: &str) -> Result<bool, CmdError> {
    let tagged = berth_reference::Reference::parse_normalized(image)
        .ok()
        .and_then(|r| r.tag().map(|t| t != "latest"))
        .unwrap_or(false);
    Ok(tagged && image_id(ctx, image).await?.is_some())
}

/// `compose pull`: every selected service's image at once, with compose
/// v2's progress and skips (no image, pull policy `never`/`build`, a
/// tagged image already present under `missing`, `--ignore-buildable`,
/// an image another service pulls).
pub async fn pull(ctx: &Ctx, a: &PullArgs) -> Result<ExitCode, CmdError> {
    let project = ctx.require_file()?;
    if let Some(p) = a.policy.as_deref() {
        if p != "missing" && p != "always" {
            return Err(format!("invalid --policy option {p:?}").into());
        }
    }
    let names = selected(ctx, project, &a.services, a.include_deps)?;
    let skip = |name: &str, why: &str| {
        if !a.quiet {
            ctx.progress.item(name, why);
        }
    };
    let mut being_pulled: BTreeMap<String, String> = BTreeMap::new();
    let mut todo: Vec<(String, String, bool)> = Vec::new();
    for name in names {
        let Some(service) = project.services.get(&name) else {
            continue;
        };
        let Some(image) = service.image.clone().filter(|i| !i.is_empty()) else {
            skip(&name, "Skipped - No image to be pulled");
            continue;
        };
        let policy = a
            .policy
            .clone()
            .or_else(|| service.pull_policy.clone())
            .unwrap_or_default();
        match policy.as_str() {
            "never" | "build" => {
                skip(&name, "Skipped");
                continue;
            }
            "missing" | "if_not_present" if tagged_and_present(ctx, &image).await? => {
                skip(&name, "Skipped - Image is already present locally");
                continue;
            }
            _ => {}
        }
        if a.ignore_buildable && service.build.is_some() {
            skip(&name, "Skipped - Image can be built");
            continue;
        }
        if let Some(other) = being_pulled.get(&image) {
            skip(
                &name,
                &format!("Skipped - Image is already being pulled by {other}"),
            );
            continue;
        }
        being_pulled.insert(image.clone(), name.clone());
        todo.push((name, image, service.build.is_some()));
    }
    let results = super::for_each(
        todo,
        ctx.parallelism(),
        |(name, image, buildable)| async move {
            let r = pull_image(ctx, &name, &image, a.quiet).await;
            (name, buildable, r)
        },
    )
    .await;
    let mut must_build = Vec::new();
    let mut first_err = None;
    for (name, buildable, r) in results {
        let Err(e) = r else { continue };
        if buildable {
            // compose: a buildable image that cannot be pulled is built later.
            must_build.push(name);
        } else if a.ignore_pull_failures {
            ctx.progress.warn(&e.to_string());
        } else if first_err.is_none() {
            first_err = Some(e);
        }
    }
    if !must_build.is_empty() {
        eprintln!(
            "WARNING: Some service image(s) must be built from source by running:\n    docker compose build {}",
            must_build.join(" ")
        );
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// Pushes one tag, reporting each layer as compose v2 does
/// (`Pushing TAG: LAYER  STATUS`).
async fn push_tag(ctx: &Ctx, tag: &str, quiet: bool) -> Result<(), CmdError> {
    use futures::StreamExt;
    let resp = crate::commands::registry::push_request(&ctx.client, tag, false).await?;
    let mut stream = Box::pin(berth_api::client::json_stream(resp));
    while let Some(m) = stream.next().await {
        let m = m?;
        if let Some(err) = m["errorDetail"]["message"]
            .as_str()
            .or_else(|| m["error"].as_str())
        {
            return Err(err.to_string().into());
        }
        let (Some(id), Some(status)) = (m["id"].as_str(), m["status"].as_str()) else {
            continue;
        };
        if !quiet && !status.is_empty() {
            ctx.progress.item(&format!("Pushing {tag}: {id}"), status);
        }
    }
    Ok(())
}

/// `compose push`: the images of services that are both built and named
/// (`image:` and `build.tags`), as compose v2 pushes them; the others are
/// skipped.
pub async fn push(ctx: &Ctx, a: &PushArgs) -> Result<ExitCode, CmdError> {
    let project = ctx.require_file()?;
    let names = selected(ctx, project, &a.services, a.include_deps)?;
    let mut tags: Vec<(String, String)> = Vec::new();
    for name in names {
        let Some(service) = project.services.get(&name) else {
            continue;
        };
        let image = service.image.clone().filter(|i| !i.is_empty());
        let (Some(build), Some(image)) = (&service.build, image) else {
            if !a.quiet {
                ctx.progress.item(&name, "Skipped");
            }
            continue;
        };
        tags.push((name.clone(), image));
        for t in &build.tags {
            tags.push((name.clone(), t.clone()));
        }
    }
    let results = super::for_each(tags, ctx.parallelism(), |(name, tag)| async move {
        let r = push_tag(ctx, &tag, a.quiet).await;
        (name, tag, r)
    })
    .await;
    for (name, tag, r) in results {
        let Err(e) = r else { continue };
        if a.ignore_push_failures {
            eprintln!("Pushing {name}: {e}");
        } else {
            return Err(format!("failed to push {tag}: {e}").into());
        }
    }
    Ok(ExitCode::SUCCESS)
}
