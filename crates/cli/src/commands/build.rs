//! `berth build` / `berth image build` / `berth builder build`, `berth
//! builder prune` and `berth system prune`.
//!
//! The context goes to the daemon as docker's classic builder sends it — a
//! tar of the directory with `.dockerignore` applied while walking, or
//! standard input (a tar or a Dockerfile alone) — except that on a local
//! unix socket berth names the directory instead (`contextdir`), and the
//! daemon reads it in place and only hashes files whose identity changed:
//! an unchanged 50 MB context is not sent again. A daemon that cannot see
//! the directory says so and the tar is sent after all.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use berth_api::client::{empty, json_stream, reader_body, ReqBody};
use berth_api::{Client, ClientError};
use berth_dockerfile::dockerignore::{read_dockerignore, MatchInfo, PatternMatcher, WalkDecision};
use clap::{ArgAction, Args, Subcommand};
use futures::StreamExt;
use hyper::Method;
use serde_json::{json, Value};

use crate::output::{filters_json, query, CmdError};

// `build [OPTIONS] PATH | -`.
#[derive(Args, Debug, Clone)]
pub struct BuildCli {
    /// Name and optionally a tag (name:tag); repeatable.
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
    /// Name of the Dockerfile (default: PATH/Dockerfile; - for stdin).
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Set build-time variables (KEY=VALUE, or KEY to take it from the environment).
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// Set the target build stage to build.
    #[arg(long = "target")]
    pub target: Option<String>,
    /// Do not use cache when building the image.
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the base images.
    #[arg(long = "pull")]
    pub pull: bool,
    /// Set metadata for an image (KEY=VALUE); repeatable.
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Set the networking mode for the RUN instructions during build.
    #[arg(long = "network")]
    pub network: Option<String>,
    /// Add a custom host-to-IP mapping (host:ip).
    #[arg(long = "add-host")]
    pub add_hosts: Vec<String>,
    /// Write the image ID to the file.
    #[arg(long = "iidfile")]
    pub iidfile: Option<String>,
    /// Suppress the build output and print image ID on success.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Set platform (only this host's own is supported).
    #[arg(long = "platform", env = "DOCKER_DEFAULT_PLATFORM")]
    pub platform: Option<String>,
    /// Type of progress output (auto, plain, tty).
    #[arg(long = "progress", default_value = "auto")]
    pub progress: String,
    /// Remove intermediate containers after a successful build (always done).
    #[arg(long = "rm", action = ArgAction::Set, default_value_t = true, num_args = 0..=1, default_missing_value = "true")]
    pub rm: bool,
    /// Always remove intermediate containers (always done).
    #[arg(long = "force-rm")]
    pub force_rm: bool,
    /// Build context: a directory, or - for a tar or a Dockerfile on stdin.
    pub context: String,
}

/// `builder …`.
#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)]
#[command(defer = true)]
pub enum BuilderCmd {
    /// Build an image from a Dockerfile.
    Build(BuildCli),
    /// Remove build cache.
    Prune(BuilderPrune),
}

// `builder prune`.
#[derive(Args, Debug, Clone)]
pub struct BuilderPrune {
    /// Remove all unused build cache, not just dangling ones.
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Do not prompt for confirmation.
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Provide filter values (e.g. until=24h).
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Amount of disk space to keep for cache (accepted, not used).
    #[arg(long = "keep-storage")]
    pub keep_storage: Option<String>,
}

// `system prune`.
#[derive(Args, Debug, Clone)]
pub struct SystemPrune {
    /// Remove all unused images not just dangling ones.
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Do not prompt for confirmation.
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Prune anonymous volumes.
    #[arg(long = "volumes")]
    pub volumes: bool,
    /// Provide filter values (e.g. label=<key>=<value>).
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

/// How the daemon gets the context.
enum Context {
    /// Stream standard input as it is.
    Stdin,
    /// A directory: named (local daemon) or sent as a tar.
    Dir {
        dir: PathBuf,
        /// The Dockerfile's path inside the directory.
        rel_dockerfile: String,
        /// The Dockerfile's text when it is not inside the directory.
        dockerfile_text: Option<String>,
    },
}

fn split_kv(s: &str) -> (String, Option<String>) {
    match s.split_once('=') {
        Some((k, v)) => (k.to_string(), Some(v.to_string())),
        None => (s.to_string(), None),
    }
}

fn prepare(a: &BuildCli) -> Result<Context, CmdError> {
    if a.context == "-" {
        if a.file.as_deref() == Some("-") {
            return Err(
                "invalid argument: can't use stdin for both build context and dockerfile".into(),
            );
        }
        return Ok(Context::Stdin);
    }
    if a.context.contains("://") || a.context.starts_with("git@") {
        return Err(format!(
            "unable to prepare context: remote contexts ({}) are not supported: clone or download it and build the directory",
            a.context
        )
        .into());
    }
    let dir = Path::new(&a.context);
    let meta = std::fs::metadata(dir)
        .map_err(|_| format!("unable to prepare context: path {:?} not found", a.context))?;
    if !meta.is_dir() {
        return Err(format!(
            "unable to prepare context: context must be a directory: {}",
            a.context
        )
        .into());
    }
    let dir = std::fs::canonicalize(dir)
        .map_err(|e| format!("unable to prepare context: {}: {e}", a.context))?;
    let (rel, text) = match a.file.as_deref() {
        Some("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| format!("reading the Dockerfile from stdin: {e}"))?;
            (".dockerfile.stdin".to_string(), Some(s))
        }
        Some(f) => {
            let p = std::env::current_dir()?.join(f);
            let p = std::fs::canonicalize(&p).map_err(|_| {
                format!("unable to prepare context: the Dockerfile ({f}) cannot be found")
            })?;
            match p.strip_prefix(&dir) {
                Ok(r) => (r.display().to_string(), None),
                Err(_) => {
                    let t = std::fs::read_to_string(&p)
                        .map_err(|e| format!("unable to open Dockerfile {f}: {e}"))?;
                    (".dockerfile.outside".to_string(), Some(t))
                }
            }
        }
        None => {
            let p = dir.join("Dockerfile");
            if !p.exists() && !dir.join("dockerfile").exists() {
                return Err(format!(
                    "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: no such file or directory",
                    p.display()
                )
                .into());
            }
            let name = if p.exists() {
                "Dockerfile"
            } else {
                "dockerfile"
            };
            (name.to_string(), None)
        }
    };
    Ok(Context::Dir {
        dir,
        rel_dockerfile: rel,
        dockerfile_text: text,
    })
}

fn build_query(a: &BuildCli, dockerfile: &str) -> Vec<(String, String)> {
    let mut q: Vec<(String, String)> = Vec::new();
    for t in &a.tags {
        q.push(("t".into(), t.clone()));
    }
    if !dockerfile.is_empty() {
        q.push(("dockerfile".into(), dockerfile.to_string()));
    }
    let mut args: BTreeMap<String, Option<String>> = BTreeMap::new();
    for b in &a.build_args {
        let (k, v) = split_kv(b);
        let v = v.or_else(|| std::env::var(&k).ok());
        args.insert(k, v);
    }
    if !args.is_empty() {
        q.push(("buildargs".into(), json!(args).to_string()));
    }
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    for l in &a.labels {
        let (k, v) = split_kv(l);
        labels.insert(k, v.unwrap_or_default());
    }
    if !labels.is_empty() {
        q.push(("labels".into(), json!(labels).to_string()));
    }
    if let Some(t) = &a.target {
        q.push(("target".into(), t.clone()));
    }
    if a.no_cache {
        q.push(("nocache".into(), "1".into()));
    }
    if a.pull {
        q.push(("pull".into(), "1".into()));
    }
    if a.quiet {
        q.push(("q".into(), "1".into()));
    }
    if let Some(n) = &a.network {
        q.push(("networkmode".into(), n.clone()));
    }
    if let Some(p) = a.platform.as_deref().filter(|p| !p.is_empty()) {
        q.push(("platform".into(), p.to_string()));
    }
    for h in &a.add_hosts {
        q.push(("extrahosts".into(), h.clone()));
    }
    q.push(("rm".into(), "1".into()));
    q
}

fn encode(q: &[(String, String)]) -> String {
    let pairs: Vec<(&str, &str)> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    query(&pairs)
}

/// Writes the context directory as a tar (`.dockerignore` applied while
/// walking; the Dockerfile and `.dockerignore` always go), owners 0:0 as
/// docker sends them, plus an extra Dockerfile when given.
fn write_context_tar(
    dir: &Path,
    rel_dockerfile: &str,
    extra: Option<(&str, &str)>,
    out: impl Write,
) -> std::io::Result<()> {
    let matcher = match std::fs::read_to_string(dir.join(".dockerignore")) {
        Ok(t) => Some(
            PatternMatcher::new(&read_dockerignore(&t))
                .map_err(|e| std::io::Error::other(format!("invalid .dockerignore: {e}")))?,
        ),
        Err(_) => None,
    };
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    fn walk<W: Write>(
        b: &mut tar::Builder<W>,
        root: &Path,
        rel: &str,
        info: &MatchInfo,
        m: Option<&PatternMatcher>,
        keep: &[&str],
    ) -> std::io::Result<()> {
        let abs = if rel.is_empty() {
            root.to_path_buf()
        } else {
            root.join(rel)
        };
        let mut names: Vec<String> = std::fs::read_dir(&abs)?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        for n in names {
            let child_rel = if rel.is_empty() {
                n.clone()
            } else {
                format!("{rel}/{n}")
            };
            let p = root.join(&child_rel);
            let meta = std::fs::symlink_metadata(&p)?;
            let (decision, child_info) = match m {
                Some(m) if !keep.contains(&child_rel.as_str()) => {
                    m.walk_decision(&child_rel, meta.is_dir(), info)
                }
                _ => (WalkDecision::Include, MatchInfo::default()),
            };
            if decision == WalkDecision::SkipDir {
                continue;
            }
            let mut h = tar::Header::new_gnu();
            h.set_metadata(&meta);
            h.set_uid(0);
            h.set_gid(0);
            if meta.is_dir() {
                if decision == WalkDecision::Include {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    b.append_data(&mut h, format!("{child_rel}/"), std::io::empty())?;
                }
                walk(b, root, &child_rel, &child_info, m, keep)?;
                continue;
            }
            if decision != WalkDecision::Include {
                continue;
            }
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&p)?;
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, &child_rel, target)?;
            } else if meta.is_file() {
                let f = std::fs::File::open(&p)?;
                b.append_data(&mut h, &child_rel, f)?;
            }
        }
        Ok(())
    }
    walk(
        &mut b,
        dir,
        "",
        &MatchInfo::default(),
        matcher.as_ref(),
        &[rel_dockerfile, ".dockerignore"],
    )?;
    if let Some((name, text)) = extra {
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        b.append_data(&mut h, name, text.as_bytes())?;
    }
    b.into_inner()?.flush()
}

/// A request body fed by a tar writer on its own thread.
fn tar_body(
    dir: PathBuf,
    rel: String,
    extra: Option<(String, String)>,
) -> Result<ReqBody, CmdError> {
    let (r, w) = std::io::pipe()?;
    std::thread::spawn(move || {
        let extra = extra.as_ref().map(|(a, b)| (a.as_str(), b.as_str()));
        if let Err(e) = write_context_tar(&dir, &rel, extra, w) {
            eprintln!("error while sending the build context: {e}");
        }
    });
    let fd: std::os::fd::OwnedFd = r.into();
    Ok(reader_body(tokio::fs::File::from_std(std::fs::File::from(
        fd,
    ))))
}

fn is_local(client: &Client) -> bool {
    let h = client.host();
    h.starts_with("unix://") || h.starts_with('/')
}

/// `build`.
pub async fn build(client: &Client, a: &BuildCli) -> Result<ExitCode, CmdError> {
    if !matches!(a.progress.as_str(), "auto" | "plain" | "tty" | "quiet") {
        return Err(format!(
            "invalid progress mode {:?}: use auto, plain or tty",
            a.progress
        )
        .into());
    }
    if let Some(f) = &a.iidfile {
        if let Err(e) = std::fs::remove_file(f) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(format!("Removing image ID file: {e}").into());
            }
        }
    }
    let ctx = prepare(a)?;
    let resp = match &ctx {
        Context::Stdin => {
            let q = build_query(a, a.file.as_deref().unwrap_or(""));
            client
                .request(
                    Method::POST,
                    &format!("/build?{}", encode(&q)),
                    reader_body(tokio::io::stdin()),
                    Some("application/x-tar"),
                )
                .await?
        }
        Context::Dir {
            dir,
            rel_dockerfile,
            dockerfile_text,
        } => {
            let mut sent = None;
            if is_local(client) && std::env::var_os("BERTH_BUILD_SEND_CONTEXT").is_none() {
                let meta = std::fs::metadata(dir)?;
                let mut q = build_query(
                    a,
                    if dockerfile_text.is_some() {
                        ""
                    } else {
                        rel_dockerfile
                    },
                );
                q.push(("contextdir".into(), dir.display().to_string()));
                q.push(("contextid".into(), format!("{}:{}", meta.dev(), meta.ino())));
                let body = match dockerfile_text {
                    Some(t) => {
                        berth_api::client::reader_body(std::io::Cursor::new(t.clone().into_bytes()))
                    }
                    None => empty(),
                };
                match client
                    .request(
                        Method::POST,
                        &format!("/build?{}", encode(&q)),
                        body,
                        Some("text/plain"),
                    )
                    .await
                {
                    Ok(r) => sent = Some(r),
                    Err(ClientError::Daemon { message, .. })
                        if message.contains("is not visible to the daemon") => {}
                    Err(e) => return Err(e.into()),
                }
            }
            match sent {
                Some(r) => r,
                None => {
                    let extra = dockerfile_text
                        .as_ref()
                        .map(|t| (rel_dockerfile.clone(), t.clone()));
                    let q = build_query(a, rel_dockerfile);
                    let body = tar_body(dir.clone(), rel_dockerfile.clone(), extra)?;
                    client
                        .request(
                            Method::POST,
                            &format!("/build?{}", encode(&q)),
                            body,
                            Some("application/x-tar"),
                        )
                        .await?
                }
            }
        }
    };
    let tty = match a.progress.as_str() {
        "tty" => true,
        "plain" | "quiet" => false,
        _ => std::io::stdout().is_terminal(),
    };
    let quiet = a.quiet || a.progress == "quiet";
    let mut s = Box::pin(json_stream(resp));
    let mut image_id = String::new();
    let mut quiet_out = String::new();
    let stdout = std::io::stdout();
    while let Some(m) = s.next().await {
        let m = m?;
        if let Some(err) = m["error"].as_str() {
            if quiet {
                eprint!("{quiet_out}");
            }
            let code = m["errorDetail"]["code"]
                .as_i64()
                .filter(|c| *c > 0)
                .unwrap_or(1);
            return Err(Box::new(super::container::Exit(
                code.clamp(1, 255) as u8,
                err.to_string(),
            )));
        }
        if let Some(id) = m["aux"]["ID"].as_str() {
            image_id = id.to_string();
            continue;
        }
        let Some(text) = m["stream"].as_str() else {
            continue;
        };
        if quiet {
            quiet_out.push_str(text);
            continue;
        }
        let mut o = stdout.lock();
        if tty {
            write!(o, "{}", colorize(text))?;
        } else {
            write!(o, "{text}")?;
        }
        o.flush()?;
    }
    if quiet {
        image_id = quiet_out.trim().to_string();
        println!("{image_id}");
    }
    if let Some(f) = &a.iidfile {
        if image_id.is_empty() {
            return Err(format!("Server did not provide an image ID. Cannot write {f}").into());
        }
        std::fs::write(f, &image_id)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `--progress=tty`: step lines in bold, the builder's own lines dimmed.
fn colorize(text: &str) -> String {
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        if line.starts_with("Step ") {
            out.push_str(&format!(
                "\u{1b}[1;34m{}\u{1b}[0m{}",
                line.trim_end_matches('\n'),
                if line.ends_with('\n') { "\n" } else { "" }
            ));
        } else if line.starts_with(" ---> ") || line.starts_with("Removing intermediate container")
        {
            out.push_str(&format!(
                "\u{1b}[2m{}\u{1b}[0m{}",
                line.trim_end_matches('\n'),
                if line.ends_with('\n') { "\n" } else { "" }
            ));
        } else {
            out.push_str(line);
        }
    }
    out
}

fn confirm(warning: &str) -> Result<bool, CmdError> {
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(matches!(line.trim().to_lowercase().as_str(), "y" | "yes"))
}

async fn prune_cache(client: &Client, filters: &[String]) -> Result<Value, CmdError> {
    let q = match filters_json(filters)? {
        Some(f) => format!("?{}", query(&[("filters", &f)])),
        None => String::new(),
    };
    Ok(client
        .call_json(Method::POST, &format!("/build/prune{q}"), None)
        .await?)
}

fn print_cache(v: &Value) -> u64 {
    let ids = v["CachesDeleted"].as_array().cloned().unwrap_or_default();
    if !ids.is_empty() {
        println!("Deleted build cache objects:");
        for i in ids {
            if let Some(s) = i.as_str() {
                println!(
                    "{}",
                    s.trim_start_matches("sha256:")
                        .chars()
                        .take(25)
                        .collect::<String>()
                );
            }
        }
        println!();
    }
    v["SpaceReclaimed"].as_u64().unwrap_or(0)
}

/// `builder prune`.
pub async fn builder_prune(client: &Client, a: &BuilderPrune) -> Result<ExitCode, CmdError> {
    if !a.force
        && !confirm(if a.all {
            "WARNING! This will remove all build cache."
        } else {
            "WARNING! This will remove all dangling build cache."
        })?
    {
        return Ok(ExitCode::SUCCESS);
    }
    let v = prune_cache(client, &a.filter).await?;
    let n = print_cache(&v);
    println!("Total reclaimed space: {}", berth_format::human_size(n));
    Ok(ExitCode::SUCCESS)
}

/// `system prune`: stopped containers, unused networks, dangling (or, with
/// `-a`, unused) images, the build cache (and anonymous volumes).
pub async fn system_prune(client: &Client, a: &SystemPrune) -> Result<ExitCode, CmdError> {
    if !a.force {
        let mut w = String::from("WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n");
        if a.volumes {
            w.push_str("  - all anonymous volumes not used by at least one container\n");
        }
        w.push_str(if a.all {
            "  - all images without at least one container associated to them\n"
        } else {
            "  - all dangling images\n"
        });
        w.push_str("  - unused build cache\n");
        if !confirm(&w)? {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let fq = |extra: &[String]| -> Result<String, CmdError> {
        let mut f = a.filter.clone();
        f.extend(extra.iter().cloned());
        Ok(match filters_json(&f)? {
            Some(f) => format!("?{}", query(&[("filters", &f)])),
            None => String::new(),
        })
    };
    let mut total = 0u64;
    let v = client
        .call_json(
            Method::POST,
            &format!("/containers/prune{}", fq(&[])?),
            None,
        )
        .await?;
    let ids = v["ContainersDeleted"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !ids.is_empty() {
        println!("Deleted Containers:");
        for i in ids {
            println!("{}", i.as_str().unwrap_or(""));
        }
        println!();
    }
    total += v["SpaceReclaimed"].as_u64().unwrap_or(0);
    let v = client
        .call_json(Method::POST, &format!("/networks/prune{}", fq(&[])?), None)
        .await?;
    let nets = v["NetworksDeleted"].as_array().cloned().unwrap_or_default();
    if !nets.is_empty() {
        println!("Deleted Networks:");
        for n in nets {
            println!("{}", n.as_str().unwrap_or(""));
        }
        println!();
    }
    if a.volumes {
        let v = client
            .call_json(Method::POST, &format!("/volumes/prune{}", fq(&[])?), None)
            .await?;
        let vols = v["VolumesDeleted"].as_array().cloned().unwrap_or_default();
        if !vols.is_empty() {
            println!("Deleted Volumes:");
            for n in vols {
                println!("{}", n.as_str().unwrap_or(""));
            }
            println!();
        }
        total += v["SpaceReclaimed"].as_u64().unwrap_or(0);
    }
    let img_extra = if a.all {
        vec!["dangling=false".to_string()]
    } else {
        Vec::new()
    };
    let v = client
        .call_json(
            Method::POST,
            &format!("/images/prune{}", fq(&img_extra)?),
            None,
        )
        .await?;
    let items = v["ImagesDeleted"].as_array().cloned().unwrap_or_default();
    if !items.is_empty() {
        println!("Deleted Images:");
        for i in items {
            if let Some(u) = i["Untagged"].as_str() {
                println!("untagged: {u}");
            }
            if let Some(d) = i["Deleted"].as_str() {
                println!("deleted: {d}");
            }
        }
        println!();
    }
    total += v["SpaceReclaimed"].as_u64().unwrap_or(0);
    let until: Vec<String> = a
        .filter
        .iter()
        .filter(|f| f.starts_with("until="))
        .cloned()
        .collect();
    let v = prune_cache(client, &until).await?;
    total += print_cache(&v);
    println!("Total reclaimed space: {}", berth_format::human_size(total));
    Ok(ExitCode::SUCCESS)
}
