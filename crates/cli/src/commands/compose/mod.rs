//! `berth compose`: compose v2's commands over the Engine API, with the
//! project model of `berth-compose`. This module owns the shared context
//! (the loaded project, naming, progress output) and the dispatch; the
//! commands live in the submodules: `up` (create/up/scale and convergence),
//! `lifecycle` (start/stop/restart/kill/rm/pause/unpause/down), `show`
//! (config/ps/ls/images/top/port/events/version), `logs` (logs and the
//! attached output of `up`), `oneoff` (run/exec/cp) and `images`
//! (build/pull/push).
//!
//! Containers, networks and volumes are found by compose's labels
//! (`com.docker.compose.project`, `.service`, `.oneoff`,
//! `.container-number`), never by name, so projects created by
//! docker-compose 1.x (`project_service_1`) and by compose v2
//! (`project-service-1`) are managed alike.

mod args;
mod images;
mod lifecycle;
mod logs;
mod oneoff;
mod show;
mod up;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use berth_api::{Client, ClientError};
use berth_compose::engine::{
    Naming, CONTAINER_NUMBER_LABEL, ONEOFF_LABEL, PROJECT_LABEL, SERVICE_LABEL,
};
use berth_compose::{ComposeError, LoadOptions, Project};
use serde_json::Value;

pub use args::ComposeArgs;
use args::ComposeCmd;

use crate::output::{query, CmdError};

/// The compose version berth writes in `com.docker.compose.version` and
/// reports in `compose version`.
pub const COMPOSE_VERSION: &str = "2.29.7";

/// Which one-off (`compose run`) containers a listing includes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OneOff {
    /// Service containers only.
    Exclude,
    /// Both.
    Include,
}

/// A project container, from `GET /containers/json`.
#[derive(Debug, Clone)]
pub struct Ctr {
    /// Full ID.
    pub id: String,
    /// Name without the leading `/`.
    pub name: String,
    /// `com.docker.compose.service`.
    pub service: String,
    /// `com.docker.compose.container-number` (0 when missing).
    pub number: u32,
    /// `running`, `exited`, `created`, `paused`, `restarting`, `dead`.
    pub state: String,
    /// The container's labels.
    pub labels: BTreeMap<String, String>,
    /// The whole summary.
    pub raw: Value,
}

impl Ctr {
    fn from_summary(v: &Value) -> Ctr {
        let labels: BTreeMap<String, String> = v["Labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        Ctr {
            id: v["Id"].as_str().unwrap_or("").to_string(),
            name: v["Names"][0]
                .as_str()
                .unwrap_or("")
                .trim_start_matches('/')
                .to_string(),
            service: labels.get(SERVICE_LABEL).cloned().unwrap_or_default(),
            number: labels
                .get(CONTAINER_NUMBER_LABEL)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
            state: v["State"].as_str().unwrap_or("").to_string(),
            labels,
            raw: v.clone(),
        }
    }

    /// Whether the container runs (paused and restarting count as running).
    pub fn is_running(&self) -> bool {
        matches!(self.state.as_str(), "running" | "paused" | "restarting")
    }

    /// The name as compose shows it in log prefixes: without the project
    /// prefix (`web-1` for `proj-web-1`, `web_1` for `proj_web_1`).
    pub fn short_name(&self, project: &str) -> String {
        short_name(project, &self.name)
    }
}

/// A container name without its project prefix (`web-1` for
/// `proj-web-1`, `web_1` for `proj_web_1`).
pub fn short_name(project: &str, name: &str) -> String {
    for sep in ['-', '_'] {
        if let Some(rest) = name.strip_prefix(&format!("{project}{sep}")) {
            return rest.to_string();
        }
    }
    name.to_string()
}

/// Progress lines (`Container x  Started`) on stderr, as compose's plain
/// progress writer prints them.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    quiet: bool,
}

impl Progress {
    /// Prints `KIND NAME  STATUS`.
    pub fn event(&self, kind: &str, name: &str, status: &str) {
        if self.quiet {
            return;
        }
        let mut e = std::io::stderr().lock();
        let _ = writeln!(e, " {kind} {name}  {status}");
    }

    /// Prints `ID  STATUS` (a service, an image layer).
    pub fn item(&self, id: &str, status: &str) {
        if self.quiet {
            return;
        }
        let mut e = std::io::stderr().lock();
        let _ = writeln!(e, " {id}  {status}");
    }

    /// Prints a warning as compose does.
    pub fn warn(&self, msg: &str) {
        let mut e = std::io::stderr().lock();
        let _ = writeln!(e, "WARN[0000] {msg}");
    }
}

/// What every compose command works with.
pub struct Ctx {
    /// The daemon.
    pub client: Client,
    /// The global flags.
    pub args: ComposeArgs,
    /// The loaded project (a stub holding only the name when no compose
    /// file was found and `-p` was given).
    pub project: Project,
    /// Whether `project` comes from a compose file.
    pub has_file: bool,
    /// Container naming convention (`--compatibility`: v1's).
    pub naming: Naming,
    /// Progress output.
    pub progress: Progress,
    /// Why the compose file could not be loaded (reported by commands
    /// that need it).
    load_error: Option<String>,
}

impl Ctx {
    /// The project, or the loading error for commands that need a file.
    pub fn require_file(&self) -> Result<&Project, CmdError> {
        match &self.load_error {
            Some(e) => Err(e.clone().into()),
            None => Ok(&self.project),
        }
    }

    /// Project containers (all states when `all`), sorted by service and number.
    pub async fn containers(&self, all: bool, oneoff: OneOff) -> Result<Vec<Ctr>, CmdError> {
        let mut labels = vec![format!("{PROJECT_LABEL}={}", self.project.name)];
        match oneoff {
            OneOff::Exclude => labels.push(format!("{ONEOFF_LABEL}=False")),
            OneOff::Include => {}
        }
        let filters = serde_json::json!({ "label": labels }).to_string();
        let mut q = vec![("filters", filters.as_str())];
        if all {
            q.push(("all", "1"));
        }
        let list = self
            .client
            .get_json(&format!("/containers/json?{}", query(&q)))
            .await?;
        let mut out: Vec<Ctr> = list
            .as_array()
            .map(|a| a.iter().map(Ctr::from_summary).collect())
            .unwrap_or_default();
        out.sort_by(|a, b| {
            (a.service.as_str(), a.number, a.name.as_str()).cmp(&(
                b.service.as_str(),
                b.number,
                b.name.as_str(),
            ))
        });
        Ok(out)
    }

    /// Project containers of the given services (all when empty).
    pub async fn service_containers(
        &self,
        services: &[String],
        all: bool,
        oneoff: OneOff,
    ) -> Result<Vec<Ctr>, CmdError> {
        self.check_services(services)?;
        let list = self.containers(all, oneoff).await?;
        Ok(list
            .into_iter()
            .filter(|c| services.is_empty() || services.contains(&c.service))
            .collect())
    }

    /// The container of `service` that `--index` names (the lowest
    /// numbered when `index` is 0), among running containers unless `all`.
    pub async fn specified_container(
        &self,
        service: &str,
        index: u32,
        all: bool,
    ) -> Result<Ctr, CmdError> {
        let list = self
            .service_containers(&[service.to_string()], all, OneOff::Exclude)
            .await?;
        let found = if index > 0 {
            list.into_iter().find(|c| c.number == index)
        } else {
            list.into_iter().min_by_key(|c| (c.number == 0, c.number))
        };
        found.ok_or_else(|| match index {
            0 => format!("service {service:?} is not running").into(),
            n => format!("service {service:?} is not running container #{n}").into(),
        })
    }

    /// Fails for a service name the compose file does not define (only
    /// when a file was loaded).
    pub fn check_services(&self, services: &[String]) -> Result<(), CmdError> {
        if !self.has_file {
            return Ok(());
        }
        for s in services {
            if !self.project.services.contains_key(s)
                && !self.project.disabled_services.contains_key(s)
            {
                return Err(format!("no such service: {s}").into());
            }
        }
        Ok(())
    }

    /// Services in stop order (dependents first) for the given names
    /// (all known services when empty): from the file when there is one,
    /// else from the containers' labels.
    pub fn stop_order(&self, names: &[String], found: &[Ctr]) -> Vec<String> {
        let mut order: Vec<String> = if self.has_file {
            self.project.stop_order()
        } else {
            Vec::new()
        };
        for c in found {
            if !order.contains(&c.service) {
                order.push(c.service.clone());
            }
        }
        order
            .into_iter()
            .filter(|s| names.is_empty() || names.contains(s))
            .collect()
    }

    /// Whether to colour output (`--ansi`, else stdout is a terminal).
    pub fn ansi(&self) -> bool {
        match self.args.ansi.as_str() {
            "never" => false,
            "always" => true,
            _ => crate::output::is_tty(std::io::stdout()),
        }
    }

    /// How many operations run at once (`--parallel`).
    pub fn parallelism(&self) -> usize {
        if self.args.parallel > 0 {
            self.args.parallel as usize
        } else {
            64
        }
    }
}

/// Loads the project named by the global flags.
fn load(args: &ComposeArgs) -> Result<Project, ComposeError> {
    let mut opts = LoadOptions::from_process()?;
    opts.files = args.files.iter().map(PathBuf::from).collect();
    if args.files.iter().any(|f| f == "-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|source| {
            ComposeError::Io {
                path: PathBuf::from("-"),
                source,
            }
        })?;
        opts.stdin = Some(text);
    }
    opts.project_directory = args.project_directory.as_ref().map(PathBuf::from);
    opts.project_name = args.project_name.clone();
    opts.env_files = args.env_files.iter().map(PathBuf::from).collect();
    opts.profiles = args.profiles.clone();
    berth_compose::load(opts)
}

/// Whether a command can work from the containers' labels alone (with
/// `-p`) when no compose file is found.
fn works_without_file(cmd: &ComposeCmd) -> bool {
    matches!(
        cmd,
        ComposeCmd::Down(_)
            | ComposeCmd::Ps(_)
            | ComposeCmd::Logs(_)
            | ComposeCmd::Start(_)
            | ComposeCmd::Stop(_)
            | ComposeCmd::Restart(_)
            | ComposeCmd::Kill(_)
            | ComposeCmd::Rm(_)
            | ComposeCmd::Pause(_)
            | ComposeCmd::Unpause(_)
            | ComposeCmd::Top(_)
            | ComposeCmd::Images(_)
            | ComposeCmd::Port(_)
            | ComposeCmd::Events(_)
            | ComposeCmd::Exec(_)
            | ComposeCmd::Cp(_)
    )
}

/// Runs `berth compose …`.
pub async fn run(client: &Client, args: &ComposeArgs) -> Result<ExitCode, CmdError> {
    match &args.command {
        ComposeCmd::Version(v) => return show::version(v),
        ComposeCmd::Ls(a) => return show::ls(client, a).await,
        _ => {}
    }
    let naming = if args.compatibility {
        Naming::V1
    } else {
        Naming::V2
    };
    let progress = Progress {
        quiet: args.progress == "quiet",
    };
    let (project, has_file, load_error) = match load(args) {
        Ok(p) => (p, true, None),
        Err(e) => {
            let missing_file = matches!(e, ComposeError::NoConfigFile { .. });
            match (
                &args.project_name,
                missing_file && works_without_file(&args.command),
            ) {
                (Some(name), true) => {
                    let project = Project {
                        name: berth_compose::normalize_project_name(name),
                        ..Default::default()
                    };
                    (project, false, Some(e.to_string()))
                }
                _ => return Err(e.to_string().into()),
            }
        }
    };
    if has_file {
        for w in &project.warnings {
            progress.warn(w);
        }
    }
    let ctx = Ctx {
        client: client.clone(),
        args: args.clone(),
        project,
        has_file,
        naming,
        progress,
        load_error,
    };
    match &args.command {
        ComposeCmd::Build(a) => images::build(&ctx, a).await,
        ComposeCmd::Config(a) => show::config(&ctx, a),
        ComposeCmd::Cp(a) => oneoff::cp(&ctx, a).await,
        ComposeCmd::Create(a) => up::create(&ctx, a).await,
        ComposeCmd::Down(a) => lifecycle::down(&ctx, a).await,
        ComposeCmd::Events(a) => logs::events(&ctx, a).await,
        ComposeCmd::Exec(a) => oneoff::exec(&ctx, a).await,
        ComposeCmd::Images(a) => show::images(&ctx, a).await,
        ComposeCmd::Kill(a) => lifecycle::kill(&ctx, a).await,
        ComposeCmd::Logs(a) => logs::logs(&ctx, a).await,
        ComposeCmd::Pause(a) => lifecycle::simple(&ctx, &a.services, "pause").await,
        ComposeCmd::Unpause(a) => lifecycle::simple(&ctx, &a.services, "unpause").await,
        ComposeCmd::Port(a) => show::port(&ctx, a).await,
        ComposeCmd::Ps(a) => show::ps(&ctx, a).await,
        ComposeCmd::Pull(a) => images::pull(&ctx, a).await,
        ComposeCmd::Push(a) => images::push(&ctx, a).await,
        ComposeCmd::Restart(a) => lifecycle::restart(&ctx, a).await,
        ComposeCmd::Rm(a) => lifecycle::rm(&ctx, a).await,
        ComposeCmd::Run(a) => oneoff::run(&ctx, a).await,
        ComposeCmd::Scale(a) => up::scale(&ctx, a).await,
        ComposeCmd::Start(a) => lifecycle::start(&ctx, &a.services).await,
        ComposeCmd::Stop(a) => lifecycle::stop(&ctx, a).await,
        ComposeCmd::Top(a) => show::top(&ctx, &a.services).await,
        ComposeCmd::Up(a) => up::up(&ctx, a).await,
        ComposeCmd::Version(_) | ComposeCmd::Ls(_) => Ok(ExitCode::SUCCESS),
    }
}

/// Whether an API error is a 404.
pub fn is_not_found(e: &ClientError) -> bool {
    matches!(e, ClientError::Daemon { status: 404, .. })
}

/// Runs `f` over `items` with at most `limit` at once; returns the results
/// in the order of `items`.
pub async fn for_each<T, R, F, Fut>(items: Vec<T>, limit: usize, f: F) -> Vec<R>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = R>,
{
    use futures::StreamExt;
    let mut indexed: Vec<(usize, R)> = futures::stream::iter(items.into_iter().enumerate())
        .map(|(i, t)| {
            let fut = f(t);
            async move { (i, fut.await) }
        })
        .buffer_unordered(limit.max(1))
        .collect()
        .await;
    indexed.sort_by_key(|(i, _)| *i);
    indexed.into_iter().map(|(_, r)| r).collect()
}

/// The first error of a batch, after every operation has run.
pub fn first_error<R>(results: Vec<Result<R, CmdError>>) -> Result<Vec<R>, CmdError> {
    let mut out = Vec::with_capacity(results.len());
    let mut err = None;
    for r in results {
        match r {
            Ok(v) => out.push(v),
            Err(e) if err.is_none() => err = Some(e),
            Err(_) => {}
        }
    }
    match err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}
