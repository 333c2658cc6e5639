//! Registry commands: `pull`, `push`, `login`, `logout`, `search` (through the
//! daemon, credentials in `~/.docker/config.json` as the docker CLI keeps
//! them), the progress display of pulls and pushes (docker's jsonmessage:
//! one line per layer, redrawn in place on a terminal), and
//! `registry serve` / `registry gc`, berth's own registry server.

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;

use berth_api::client::{empty, json_stream};
use berth_api::Client;
use berth_registry_client::credentials::{encode_registry_auth, AuthConfig, ConfigFile};
use futures::StreamExt;
use hyper::Method;
use serde_json::Value;

use super::container::Exit;
use crate::cli::{
    LoginArgs, LogoutArgs, PullArgs, PushArgs, RegistryGc, RegistryServe, SearchArgs,
};
use crate::output::{filters_json, is_tty, print_list, query, CmdError};

/// The registry part of an image name (`docker.io` for Docker Hub).
fn registry_of(image: &str) -> String {
    match berth_reference::Reference::parse_normalized(image) {
        Ok(r) => r.domain().to_string(),
        Err(_) => "docker.io".into(),
    }
}

/// The key credentials are stored under, as the docker CLI uses.
fn config_key(domain: &str) -> String {
    if domain == "docker.io" {
        "https://index.docker.io/v1/".into()
    } else {
        domain.to_string()
    }
}

/// The `X-Registry-Auth` header for `domain` (empty JSON when none).
fn auth_header(domain: &str) -> String {
    let auth = ConfigFile::load_default()
        .ok()
        .and_then(|c| c.get(&config_key(domain)).ok().flatten())
        .unwrap_or_default();
    encode_registry_auth(&auth)
}

/// Renders pull/push progress as docker's CLI does: on a terminal one line
/// per layer ID updated in place, otherwise one line per status change.
async fn render(resp: hyper::Response<hyper::body::Incoming>, quiet: bool) -> Result<(), CmdError> {
    render_to(resp, quiet, false).await
}

/// [`render`] to stdout, or to stderr (`run`'s implicit pull: stdout is
/// the container's).
async fn render_to(
    resp: hyper::Response<hyper::body::Incoming>,
    quiet: bool,
    stderr: bool,
) -> Result<(), CmdError> {
    let mut s = Box::pin(json_stream(resp));
    let tty = if stderr {
        is_tty(std::io::stderr())
    } else {
        is_tty(std::io::stdout())
    };
    let mut lines: HashMap<String, usize> = HashMap::new();
    let mut count = 0usize;
    let mut last_status: HashMap<String, String> = HashMap::new();
    while let Some(m) = s.next().await {
        let m: Value = m?;
        if let Some(err) = m["error"].as_str() {
            return Err(Exit(1, err.to_string()).into());
        }
        if quiet {
            continue;
        }
        let Some(status) = m["status"].as_str() else {
            continue;
        };
        let id = m["id"].as_str().unwrap_or("");
        let progress = m["progress"].as_str().unwrap_or("");
        let mut o: Box<dyn Write> = if stderr {
            Box::new(std::io::stderr().lock())
        } else {
            Box::new(std::io::stdout().lock())
        };
        if id.is_empty() {
            writeln!(o, "{status}")?;
            if tty {
                count += 1;
            }
            o.flush()?;
            continue;
        }
        let text = if progress.is_empty() {
            format!("{id}: {status}")
        } else {
            format!("{id}: {status} {progress}")
        };
        if tty {
            match lines.get(id) {
                Some(&line) => {
                    let up = count - line;
                    write!(o, "\x1b[{up}A\r\x1b[2K{text}\r\x1b[{up}B")?;
                }
                None => {
                    lines.insert(id.to_string(), count);
                    writeln!(o, "{text}")?;
                    count += 1;
                }
            }
        } else if last_status.get(id).map(String::as_str) != Some(status) {
            // Without a terminal, progress updates are not repeated.
            writeln!(o, "{id}: {status}")?;
            last_status.insert(id.to_string(), status.to_string());
        }
        o.flush()?;
    }
    Ok(())
}

/// Pulls `image` through the daemon (also used by `run` for a missing image).
pub async fn pull_image(
    client: &Client,
    image: &str,
    platform: Option<&str>,
    quiet: bool,
) -> Result<(), CmdError> {
    pull_image_to(client, image, platform, quiet, false).await
}

/// [`pull_image`] with its progress on stderr when `stderr`.
pub async fn pull_image_to(
    client: &Client,
    image: &str,
    platform: Option<&str>,
    quiet: bool,
    stderr: bool,
) -> Result<(), CmdError> {
    let (name, tag) = split_name(image);
    // A name alone would pull every tag: `latest`, as the docker CLI asks.
    let tag = tag.unwrap_or_else(|| "latest".into());
    let mut q: Vec<(&str, &str)> = vec![("fromImage", &name), ("tag", &tag)];
    if let Some(p) = platform {
        q.push(("platform", p));
    }
    let header = auth_header(&registry_of(image));
    let resp = client
        .request_with_headers(
            Method::POST,
            &format!("/images/create?{}", query(&q)),
            empty(),
            None,
            &[("X-Registry-Auth", header)],
        )
        .await
        .map_err(|e| Exit(1, format!("Error response from daemon: {e}")))?;
    render_to(resp, quiet, stderr).await
}

/// `name:tag` / `name@digest` → (name, tag or digest).
fn split_name(image: &str) -> (String, Option<String>) {
    if let Some((n, d)) = image.split_once('@') {
        return (n.to_string(), Some(d.to_string()));
    }
    match image.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n.to_string(), Some(t.to_string())),
        _ => (image.to_string(), None),
    }
}

/// `pull`.
pub async fn pull(client: &Client, a: &PullArgs) -> Result<ExitCode, CmdError> {
    if a.all_tags {
        let (name, tag) = split_name(&a.image);
        if tag.is_some() {
            return Err(Exit(1, "tag can't be used with --all-tags/-a".into()).into());
        }
        let header = auth_header(&registry_of(&a.image));
        let resp = client
            .request_with_headers(
                Method::POST,
                &format!(
                    "/images/create?{}",
                    query(&[("fromImage", &name), ("tag", "")])
                ),
                empty(),
                None,
                &[("X-Registry-Auth", header)],
            )
            .await
            .map_err(|e| Exit(1, format!("Error response from daemon: {e}")))?;
        render(resp, a.quiet).await?;
        let repo = berth_reference::Reference::parse_normalized(&name)
            .map(|r| r.name_only().to_string())
            .unwrap_or(name);
        println!("{repo}");
        return Ok(ExitCode::SUCCESS);
    }
    if !a.quiet && split_name(&a.image).1.is_none() {
        println!("Using default tag: latest");
    }
    pull_image(client, &a.image, a.platform.as_deref(), a.quiet).await?;
    if a.quiet {
        println!("{}", with_default_tag(&a.image));
    } else {
        println!("{}", canonical(&a.image));
    }
    Ok(ExitCode::SUCCESS)
}

fn with_default_tag(image: &str) -> String {
    match berth_reference::Reference::parse_normalized(image) {
        Ok(r) if r.tag().is_none() && r.digest().is_none() => r
            .with_tag("latest")
            .map(|r| r.to_string())
            .unwrap_or_else(|_| image.into()),
        Ok(r) => r.to_string(),
        Err(_) => image.into(),
    }
}

fn canonical(image: &str) -> String {
    with_default_tag(image)
}

/// `POST /images/{name}/push` for `image` (its tag, `latest` when none;
/// every tag with `all_tags`) with the credentials of its registry; the
/// response streams the push's JSON progress.
pub(crate) async fn push_request(
    client: &Client,
    image: &str,
    all_tags: bool,
) -> Result<hyper::Response<hyper::body::Incoming>, CmdError> {
    let (name, tag) = split_name(image);
    let tag = if all_tags {
        if tag.is_some() {
            return Err(Exit(1, "tag can't be used with --all-tags/-a".into()).into());
        }
        String::new()
    } else {
        tag.unwrap_or_else(|| "latest".into())
    };
    let header = auth_header(&registry_of(image));
    Ok(client
        .request_with_headers(
            Method::POST,
            &format!("/images/{name}/push?{}", query(&[("tag", &tag)])),
            empty(),
            None,
            &[("X-Registry-Auth", header)],
        )
        .await
        .map_err(|e| Exit(1, format!("Error response from daemon: {e}")))?)
}

/// `push`.
pub async fn push(client: &Client, a: &PushArgs) -> Result<ExitCode, CmdError> {
    let resp = push_request(client, &a.image, a.all_tags).await?;
    render(resp, a.quiet).await?;
    Ok(ExitCode::SUCCESS)
}

/// `search`: the daemon asks the registry the term names; docker's table
/// (NAME DESCRIPTION STARS OFFICIAL, `[OK]` for official images).
pub async fn search(client: &Client, a: &SearchArgs) -> Result<ExitCode, CmdError> {
    if a.filter.iter().any(|f| f.starts_with("is-automated")) {
        eprintln!("WARNING: the \"is-automated\" filter is deprecated, and searching for \"is-automated=true\" will not yield any results in future.");
    }
    let mut q: Vec<(&str, String)> = vec![("term", a.term.clone())];
    if a.limit > 0 {
        q.push(("limit", a.limit.to_string()));
    }
    if let Some(f) = filters_json(&a.filter)? {
        q.push(("filters", f));
    }
    let pairs: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (index, _) = berth_engine::images::search::split_search_term(&a.term);
    let resp = client
        .request_with_headers(
            Method::GET,
            &format!("/images/search?{}", query(&pairs)),
            empty(),
            None,
            &[("X-Registry-Auth", auth_header(&index))],
        )
        .await
        .map_err(|e| Exit(1, format!("Error response from daemon: {e}")))?;
    let found = berth_api::client::read_json(resp).await?;
    // docker 28 has no IsAutomated field any more (deprecated).
    let ok = |b: bool| if b { "[OK]" } else { "" };
    let rows: Vec<Value> = found
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let desc = r["description"]
                .as_str()
                .unwrap_or("")
                .replace(['\n', '\r'], " ");
            let desc = if a.no_trunc {
                desc
            } else {
                berth_format::ellipsis(&desc, 45)
            };
            serde_json::json!({
                "Name": r["name"],
                "Description": desc,
                "StarCount": r["star_count"].as_u64().unwrap_or(0).to_string(),
                "IsOfficial": ok(r["is_official"].as_bool().unwrap_or(false)),
            })
        })
        .collect();
    let headers = serde_json::json!({"Name": "NAME", "Description": "DESCRIPTION",
        "StarCount": "STARS", "IsOfficial": "OFFICIAL"});
    print_list(
        a.format.as_deref(),
        "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}",
        headers,
        &rows,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `login`.
pub async fn login(client: &Client, a: &LoginArgs) -> Result<ExitCode, CmdError> {
    let server = a.server.clone().unwrap_or_else(|| "docker.io".into());
    let domain = berth_engine::images::distribution::normalize_server(&server);
    let mut username = a.username.clone().unwrap_or_default();
    let mut password = a.password.clone().unwrap_or_default();
    if a.password_stdin {
        if a.username.is_none() {
            return Err(Exit(1, "Must provide --username with --password-stdin".into()).into());
        }
        let mut s = String::new();
        std::io::stdin().read_line(&mut s)?;
        password = s.trim_end_matches(['\n', '\r']).to_string();
    }
    if username.is_empty() {
        if !is_tty(std::io::stdin()) {
            return Err(Exit(
                1,
                "Error: Cannot perform an interactive login from a non TTY device".into(),
            )
            .into());
        }
        print!("Username: ");
        std::io::stdout().flush()?;
        let mut s = String::new();
        std::io::stdin().read_line(&mut s)?;
        username = s.trim().to_string();
    }
    if password.is_empty() {
        if !is_tty(std::io::stdin()) {
            return Err(Exit(
                1,
                "Error: Cannot perform an interactive login from a non TTY device".into(),
            )
            .into());
        }
        print!("Password: ");
        std::io::stdout().flush()?;
        let _raw = super::interactive::RawTerminal::enable();
        let mut s = String::new();
        std::io::stdin().read_line(&mut s)?;
        drop(_raw);
        println!();
        password = s.trim_end_matches(['\n', '\r']).to_string();
    } else if a.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    let body = serde_json::json!({
        "username": username,
        "password": password,
        "serveraddress": config_key(&domain),
    });
    let v = client
        .call_json(Method::POST, "/auth", Some(&body))
        .await
        .map_err(|e| Exit(1, format!("Error response from daemon: {e}")))?;
    let mut cfg = ConfigFile::load_default().map_err(|e| Exit(1, e.to_string()))?;
    let token = v["IdentityToken"].as_str().unwrap_or("").to_string();
    let auth = AuthConfig {
        username: username.clone(),
        password: if token.is_empty() {
            password
        } else {
            String::new()
        },
        identitytoken: token,
        serveraddress: config_key(&domain),
        ..Default::default()
    };
    cfg.store(&config_key(&domain), &auth)
        .map_err(|e| Exit(1, format!("Error saving credentials: {e}")))?;
    println!("Login Succeeded");
    Ok(ExitCode::SUCCESS)
}

/// `logout`.
pub async fn logout(_client: &Client, a: &LogoutArgs) -> Result<ExitCode, CmdError> {
    let server = a.server.clone().unwrap_or_else(|| "docker.io".into());
    let domain = berth_engine::images::distribution::normalize_server(&server);
    let key = config_key(&domain);
    let mut cfg = ConfigFile::load_default().map_err(|e| Exit(1, e.to_string()))?;
    if cfg.get(&key).ok().flatten().is_none() {
        println!("Not logged in to {key}");
        return Ok(ExitCode::SUCCESS);
    }
    println!("Removing login credentials for {key}");
    cfg.erase(&key)
        .map_err(|e| Exit(1, format!("Error removing credentials: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

/// `registry serve`: berth's own registry, until SIGTERM/SIGINT.
pub fn serve(a: &RegistryServe) -> ExitCode {
    let config = match build_config(a) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berth registry: {e}");
            return ExitCode::from(1);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth registry: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(async move {
        let server = berth_registry::bind(config).await?;
        eprintln!(
            "berth registry listening on {}://{}",
            if server.is_tls() { "https" } else { "http" },
            server.local_addr()
        );
        let shutdown = async {
            use tokio::signal::unix::{signal, SignalKind};
            match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(mut t), Ok(mut i)) => {
                    tokio::select! {
                        _ = t.recv() => {}
                        _ = i.recv() => {}
                    }
                }
                _ => std::future::pending::<()>().await,
            }
        };
        server.run(shutdown).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth registry: {e}");
            ExitCode::from(1)
        }
    }
}

fn build_config(a: &RegistryServe) -> Result<berth_registry::Config, String> {
    let mut c = match &a.config {
        Some(p) => {
            berth_registry::Config::from_file(std::path::Path::new(p)).map_err(|e| e.to_string())?
        }
        None => {
            let addr = a.addr.clone().unwrap_or_else(|| "127.0.0.1:5000".into());
            let addr = addr.parse().map_err(|_| {
                format!("invalid --addr {addr}: want HOST:PORT (e.g. 127.0.0.1:5000)")
            })?;
            let root = a
                .root
                .clone()
                .unwrap_or_else(|| "/var/lib/berth-registry".into());
            berth_registry::Config::new(addr, std::path::PathBuf::from(root))
        }
    };
    if let Some(addr) = &a.addr {
        c.addr = addr
            .parse()
            .map_err(|_| format!("invalid --addr {addr}: want HOST:PORT"))?;
    }
    if let Some(r) = &a.root {
        c.root = r.into();
    }
    match (&a.tls_cert, &a.tls_key) {
        (Some(cert), Some(key)) => {
            c.tls = Some(berth_registry::TlsFiles {
                cert: cert.into(),
                key: key.into(),
            })
        }
        (None, None) => {}
        _ => return Err("--tls-cert and --tls-key go together".into()),
    }
    if let Some(h) = &a.htpasswd {
        c.auth.htpasswd = Some(h.into());
    }
    c.validate().map_err(|e| e.to_string())?;
    Ok(c)
}

/// `registry gc`.
pub fn gc(a: &RegistryGc) -> ExitCode {
    let opts = berth_registry::GcOptions {
        dry_run: a.dry_run,
        delete_untagged: a.delete_untagged,
        ..Default::default()
    };
    match berth_registry::gc_with(std::path::Path::new(&a.root), &opts) {
        Ok(r) => {
            for b in &r.blobs_deleted {
                println!(
                    "{}blob eligible for deletion: {b}",
                    if a.dry_run { "" } else { "deleted " }
                );
            }
            for (repo, m) in &r.manifests_deleted {
                println!("manifest eligible for deletion: {repo}@{m}");
            }
            println!(
                "{} blobs {}, {} bytes {}",
                r.blobs_deleted.len(),
                if a.dry_run {
                    "would be deleted"
                } else {
                    "deleted"
                },
                r.bytes_freed,
                if a.dry_run { "would be freed" } else { "freed" }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("berth registry gc: {e}");
            ExitCode::from(1)
        }
    }
}
