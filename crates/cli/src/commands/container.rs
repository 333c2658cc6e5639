//! Container commands: `run`, `create`, `start`, `stop`, `restart`, `kill`,
//! `rm`, `ps`, `logs`, `wait`, `rename`, `pause`, `unpause`, `container
//! inspect|prune`, as the docker CLI does them (same API calls, same output,
//! same exit codes: 125 for daemon errors, 126/127 when the command cannot
//! be run).

use std::io::Write;
use std::process::ExitCode;

use berth_api::client::empty;
use berth_api::{Client, ClientError};
use futures::StreamExt;
use hyper::Method;
use serde_json::json;

use super::container_opts::{create_body, ContainerOpts, RunOnly};
use super::interactive;
use crate::cli::{
    CommitArgs, ContainerPrune, CreateArgs, ExportArgs, KillArgs, LogsArgs, Names, OneContainer,
    PsArgs, RenameArgs, RmArgs, RunArgs, StartArgs, StatsArgs, StopArgs, TopArgs, UpdateArgs,
};
use crate::output::{filters_json, print_list, query, short_id, ts_param, CmdError};

/// An error with the exit code docker gives it.
#[derive(Debug)]
pub struct Exit(pub u8, pub String);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}

impl std::error::Error for Exit {}

/// docker's exit code for a failed start: 126 cannot execute, 127 not found.
fn start_exit_code(msg: &str) -> u8 {
    if msg.contains("executable file not found") || msg.contains("no such file or directory") {
        127
    } else if msg.contains("permission denied") {
        126
    } else {
        125
    }
}

async fn create(
    client: &Client,
    opts: &ContainerOpts,
    image: &str,
    command: &[String],
    run: Option<&RunOnly>,
) -> Result<String, CmdError> {
    let body =
        create_body(opts, image, command, run).map_err(|e| Exit(125, format!("berth: {e}")))?;
    if let Some(cid) = &opts.cidfile {
        if std::path::Path::new(cid).exists() {
            return Err(Exit(125, format!("berth: container ID file found, make sure the other container isn't running or delete {cid}")).into());
        }
    }
    let mut q: Vec<(&str, &str)> = Vec::new();
    if let Some(n) = &opts.name {
        q.push(("name", n));
    }
    if let Some(p) = &opts.platform {
        q.push(("platform", p));
    }
    let path = format!("/containers/create?{}", query(&q));
    let resp = match client.call_json(Method::POST, &path, Some(&body)).await {
        Ok(v) => v,
        Err(ClientError::Daemon {
            status: 404,
            message,
        }) if message.starts_with("No such image") => {
            let shown = berth_reference::Reference::parse_with_default_tag(image)
                .map(|r| r.familiar_string())
                .unwrap_or_else(|_| image.to_string());
            eprintln!("Unable to find image '{shown}' locally");
            if opts.pull == "never" {
                return Err(Exit(125, format!("Error response from daemon: {message}")).into());
            }
            if let Err(e) = super::registry::pull_image_to(
                client,
                &shown,
                opts.platform.as_deref(),
                false,
                true,
            )
            .await
            {
                return Err(Exit(125, format!("{e}")).into());
            }
            client
                .call_json(Method::POST, &path, Some(&body))
                .await
                .map_err(|e| Exit(125, e.to_string()))?
        }
        Err(e) => return Err(Exit(125, e.to_string()).into()),
    };
    for w in resp["Warnings"].as_array().cloned().unwrap_or_default() {
        if let Some(w) = w.as_str() {
            eprintln!("WARNING: {w}");
        }
    }
    let id = resp["Id"].as_str().unwrap_or("").to_string();
    if let Some(cid) = &opts.cidfile {
        std::fs::write(cid, &id).map_err(|e| {
            Exit(
                125,
                format!("berth: failed to write the container ID to the file: {e}"),
            )
        })?;
    }
    Ok(id)
}

pub async fn create_cmd(client: &Client, a: &CreateArgs) -> Result<ExitCode, CmdError> {
    let id = create(client, &a.opts, a.image(), a.command(), None).await?;
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}

/// Which streams to attach and how to wait.
pub struct Attach {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
    /// Wait for removal (`--rm`) rather than the next exit.
    pub removed: bool,
    /// `--detach-keys`.
    pub detach_keys: Option<String>,
    /// `--sig-proxy`.
    pub sig_proxy: bool,
}

/// Attaches, starts, streams and waits: the heart of `run` and `start -a`.
pub async fn attach_start_wait(client: &Client, id: &str, a: Attach) -> Result<u8, CmdError> {
    let keys_text = interactive::detach_keys(a.detach_keys.as_deref());
    let keys =
        berth_engine::detach::keys_or_default(&keys_text).map_err(|e| Exit(125, e.message))?;
    if a.stdin && a.tty && !crate::output::is_tty(std::io::stdin()) {
        return Err(Exit(1, "the input device is not a TTY".into()).into());
    }
    let q = query(&[
        ("stream", "1"),
        ("stdin", if a.stdin { "1" } else { "0" }),
        ("stdout", if a.stdout { "1" } else { "0" }),
        ("stderr", if a.stderr { "1" } else { "0" }),
        ("detachKeys", &keys_text),
    ]);
    let attach_path = format!("/containers/{id}/attach?{q}");
    let cond = if a.removed { "removed" } else { "next-exit" };
    let wait_path = format!("/containers/{id}/wait?condition={cond}");
    // Like docker: the attach and the wait are both registered (their
    // headers are back) before the start, so no output and not even an
    // instant exit is missed; they are made side by side.
    let (conn, wait_resp) = tokio::join!(
        client.hijack(&attach_path, None),
        client.request(Method::POST, &wait_path, empty(), None)
    );
    let conn = conn?;
    let wait_resp = wait_resp.map_err(|e| Exit(125, e.to_string()))?;
    let waiter = tokio::spawn(async move { berth_api::client::read_json(wait_resp).await });
    let raw = (a.tty && a.stdin).then(interactive::RawTerminal::enable);
    let proxy = (a.sig_proxy && !a.tty).then(|| interactive::proxy_signals(client, id));
    if let Err(e) = client
        .call_json(Method::POST, &format!("/containers/{id}/start"), None)
        .await
    {
        drop(raw);
        if let Some(p) = &proxy {
            p.abort();
        }
        let msg = e.to_string();
        waiter.abort();
        return Err(Exit(start_exit_code(&msg), msg).into());
    }
    let resizer = a
        .tty
        .then(|| interactive::follow_resizes(client, format!("/containers/{id}/resize")));
    let session = interactive::stream(conn, a.stdin, a.tty, keys).await;
    for t in [resizer, proxy].into_iter().flatten() {
        t.abort();
    }
    drop(raw);
    if session == interactive::Session::Detached {
        waiter.abort();
        return Ok(0);
    }
    let status = match waiter.await {
        Ok(Ok(v)) => v["StatusCode"].as_i64().unwrap_or(0),
        Ok(Err(e)) => return Err(Exit(125, e.to_string()).into()),
        Err(_) => 0,
    };
    Ok(status.clamp(0, 255) as u8)
}

pub async fn run(client: &Client, a: &RunArgs) -> Result<ExitCode, CmdError> {
    let id = create(client, &a.opts, a.image(), a.command(), Some(&a.run)).await?;
    if a.run.detach {
        if let Err(e) = client
            .call_json(Method::POST, &format!("/containers/{id}/start"), None)
            .await
        {
            let msg = e.to_string();
            return Err(Exit(start_exit_code(&msg), msg).into());
        }
        println!("{id}");
        return Ok(ExitCode::SUCCESS);
    }
    let streams: Vec<String> = a.opts.attach.iter().map(|s| s.to_lowercase()).collect();
    let (stdin, stdout, stderr) = if streams.is_empty() {
        (a.opts.interactive, true, true)
    } else {
        (
            streams.iter().any(|s| s == "stdin"),
            streams.iter().any(|s| s == "stdout"),
            streams.iter().any(|s| s == "stderr"),
        )
    };
    let code = attach_start_wait(
        client,
        &id,
        Attach {
            stdin,
            stdout,
            stderr,
            tty: a.opts.tty,
            removed: a.opts.rm,
            detach_keys: a.run.detach_keys.clone(),
            sig_proxy: a.run.sig_proxy,
        },
    )
    .await?;
    Ok(ExitCode::from(code))
}

pub async fn start(client: &Client, a: &StartArgs) -> Result<ExitCode, CmdError> {
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            return Err(Exit(
                1,
                "berth: you cannot start and attach multiple containers at once".into(),
            )
            .into());
        }
        let c = client
            .get_json(&format!("/containers/{}/json", a.containers[0]))
            .await
            .map_err(|e| Exit(1, e.to_string()))?;
        let id = c["Id"].as_str().unwrap_or("").to_string();
        let tty = c["Config"]["Tty"].as_bool() == Some(true);
        let code = attach_start_wait(
            client,
            &id,
            Attach {
                stdin: a.interactive,
                stdout: true,
                stderr: true,
                tty,
                removed: false,
                detach_keys: a.detach_keys.clone(),
                sig_proxy: true,
            },
        )
        .await?;
        return Ok(ExitCode::from(code));
    }
    each(&a.containers, |c| async move {
        client
            .call_json(Method::POST, &format!("/containers/{c}/start"), None)
            .await?;
        println!("{c}");
        Ok(())
    })
    .await
}

/// Runs `f` for every container, printing errors and failing at the end if any failed.
async fn each<'a, F, Fut>(names: &'a [String], f: F) -> Result<ExitCode, CmdError>
where
    F: Fn(&'a str) -> Fut,
    Fut: std::future::Future<Output = Result<(), ClientError>>,
{
    let mut failed = false;
    for n in names {
        if let Err(e) = f(n).await {
            eprintln!("{e}");
            failed = true;
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn stop_query(a: &StopArgs) -> String {
    let mut q = Vec::new();
    let t = a.time.map(|t| t.to_string());
    if let Some(t) = &t {
        q.push(("t", t.as_str()));
    }
    if let Some(s) = &a.signal {
        q.push(("signal", s.as_str()));
    }
    query(&q)
}

pub async fn stop(client: &Client, a: &StopArgs, verb: &str) -> Result<ExitCode, CmdError> {
    let q = stop_query(a);
    each(&a.containers, |c| {
        let q = q.clone();
        async move {
            client
                .call_json(Method::POST, &format!("/containers/{c}/{verb}?{q}"), None)
                .await?;
            println!("{c}");
            Ok(())
        }
    })
    .await
}

pub async fn kill(client: &Client, a: &KillArgs) -> Result<ExitCode, CmdError> {
    let q = a
        .signal
        .as_deref()
        .map(|s| query(&[("signal", s)]))
        .unwrap_or_default();
    each(&a.containers, |c| {
        let q = q.clone();
        async move {
            client
                .call_json(Method::POST, &format!("/containers/{c}/kill?{q}"), None)
                .await?;
            println!("{c}");
            Ok(())
        }
    })
    .await
}

pub async fn rm(client: &Client, a: &RmArgs) -> Result<ExitCode, CmdError> {
    let mut q = Vec::new();
    if a.force {
        q.push(("force", "1"));
    }
    if a.volumes {
        q.push(("v", "1"));
    }
    if a.link {
        q.push(("link", "1"));
    }
    let q = query(&q);
    each(&a.containers, |c| {
        let q = q.clone();
        async move {
            client
                .call_json(Method::DELETE, &format!("/containers/{c}?{q}"), None)
                .await?;
            println!("{c}");
            Ok(())
        }
    })
    .await
}

pub async fn simple(client: &Client, a: &Names, verb: &str) -> Result<ExitCode, CmdError> {
    each(&a.containers, |c| async move {
        client
            .call_json(Method::POST, &format!("/containers/{c}/{verb}"), None)
            .await?;
        println!("{c}");
        Ok(())
    })
    .await
}

pub async fn wait(client: &Client, a: &Names) -> Result<ExitCode, CmdError> {
    each(&a.containers, |c| async move {
        let v = client
            .call_json(Method::POST, &format!("/containers/{c}/wait"), None)
            .await?;
        println!("{}", v["StatusCode"].as_i64().unwrap_or(0));
        Ok(())
    })
    .await
}

pub async fn rename(client: &Client, a: &RenameArgs) -> Result<ExitCode, CmdError> {
    let q = query(&[("name", &a.new_name)]);
    client
        .call_json(
            Method::POST,
            &format!("/containers/{}/rename?{q}", a.container),
            None,
        )
        .await?;
    Ok(ExitCode::SUCCESS)
}

fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!(
            "{}…",
            s.chars().take(max.saturating_sub(1)).collect::<String>()
        )
    }
}

/// One `docker ps` row (the fields its templates know) from a container
/// summary of `GET /containers/json`.
pub fn ps_row(c: &serde_json::Value, no_trunc: bool, size: bool) -> serde_json::Value {
    let id = c["Id"].as_str().unwrap_or("");
    let cmd = c["Command"].as_str().unwrap_or("");
    let names: Vec<String> = c["Names"]
        .as_array()
        .map(|n| {
            n.iter()
                .filter_map(|x| x.as_str())
                .map(|x| x.trim_start_matches('/').to_string())
                .collect()
        })
        .unwrap_or_default();
    let image = c["Image"].as_str().unwrap_or("");
    let image = if !no_trunc && image.starts_with("sha256:") {
        short_id(image)
    } else {
        image.to_string()
    };
    let size = if size {
        format!(
            "{} (virtual {})",
            berth_format::human_size(c["SizeRw"].as_u64().unwrap_or(0)),
            berth_format::human_size(c["SizeRootFs"].as_u64().unwrap_or(0))
        )
    } else {
        String::new()
    };
    let labels = c["Labels"].clone();
    json!({
        "ID": if no_trunc { id.to_string() } else { short_id(id) },
        "Image": image,
        "Command": if no_trunc { format!("\"{cmd}\"") } else { format!("\"{}\"", ellipsis(cmd, 20)) },
        "CreatedAt": chrono::DateTime::from_timestamp(c["Created"].as_i64().unwrap_or(0), 0)
            .map(|t| t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S %z %Z").to_string())
            .unwrap_or_default(),
        "RunningFor": berth_format::time_ago(c["Created"].as_i64().unwrap_or(0)),
        "Ports": super::network::ports_text(&c["Ports"]),
        "State": c["State"],
        "Status": c["Status"],
        "Size": size,
        "Names": names.join(","),
        "Labels": labels.as_object().map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect::<Vec<_>>().join(",")).unwrap_or_default(),
        "Mounts": "",
        "Networks": c["NetworkSettings"]["Networks"].as_object().map(|m| m.keys().cloned().collect::<Vec<_>>().join(",")).unwrap_or_default(),
    })
}

pub async fn ps(client: &Client, a: &PsArgs) -> Result<ExitCode, CmdError> {
    let mut q: Vec<(&str, String)> = Vec::new();
    let limit = if a.latest { 1 } else { a.last };
    if a.all || limit > 0 {
        q.push(("all", "1".into()));
    }
    if limit > 0 {
        q.push(("limit", limit.to_string()));
    }
    if a.size {
        q.push(("size", "1".into()));
    }
    if let Some(f) = filters_json(&a.filter)? {
        q.push(("filters", f));
    }
    let pairs: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let list = client
        .get_json(&format!("/containers/json?{}", query(&pairs)))
        .await?;
    let rows: Vec<serde_json::Value> = list
        .as_array()
        .map(|l| l.iter().map(|c| ps_row(c, a.no_trunc, a.size)).collect())
        .unwrap_or_default();
    if a.quiet {
        for r in rows {
            println!("{}", r["ID"].as_str().unwrap_or(""));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let headers = json!({"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
        "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS", "Size": "SIZE",
        "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS"});
    let default = if a.size {
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}"
    } else {
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
    };
    print_list(a.format.as_deref(), default, headers, &rows)?;
    Ok(ExitCode::SUCCESS)
}

/// The query of `GET /containers/{id}/logs` (both streams) for docker's
/// log flags.
pub fn logs_query(
    tail: &str,
    follow: bool,
    timestamps: bool,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<String, CmdError> {
    let mut q: Vec<(&str, String)> = vec![
        ("stdout", "1".into()),
        ("stderr", "1".into()),
        ("tail", tail.to_string()),
    ];
    if follow {
        q.push(("follow", "1".into()));
    }
    if timestamps {
        q.push(("timestamps", "1".into()));
    }
    if let Some(s) = since {
        q.push(("since", ts_param(s)?));
    }
    if let Some(u) = until {
        q.push(("until", ts_param(u)?));
    }
    let pairs: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Ok(query(&pairs))
}

pub async fn logs(client: &Client, a: &LogsArgs) -> Result<ExitCode, CmdError> {
    let c = client
        .get_json(&format!("/containers/{}/json", a.container))
        .await?;
    let tty = c["Config"]["Tty"].as_bool() == Some(true);
    let q = logs_query(
        &a.tail,
        a.follow,
        a.timestamps,
        a.since.as_deref(),
        a.until.as_deref(),
    )?;
    let resp = client
        .request(
            Method::GET,
            &format!("/containers/{}/logs?{q}", a.container),
            empty(),
            None,
        )
        .await?;
    let mut stream = Box::pin(berth_api::client::body_stream(resp));
    let mut buf: Vec<u8> = Vec::new();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if tty {
            stdout.lock().write_all(&chunk)?;
            continue;
        }
        buf.extend_from_slice(&chunk);
        while buf.len() >= 8 {
            let len = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
            if buf.len() < 8 + len {
                break;
            }
            let sid = buf[0];
            let data = buf[8..8 + len].to_vec();
            buf.drain(..8 + len);
            if sid == 2 {
                let mut e = stderr.lock();
                e.write_all(&data)?;
                e.flush()?;
            } else {
                let mut o = stdout.lock();
                o.write_all(&data)?;
                o.flush()?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn inspect(
    client: &Client,
    format: Option<&str>,
    names: &[String],
    size: bool,
) -> Result<ExitCode, CmdError> {
    let q = if size { "?size=1" } else { "" };
    super::inspect_objects(client, format, names, |n| {
        format!("/containers/{n}/json{q}")
    })
    .await
}

pub async fn prune(client: &Client, a: &ContainerPrune) -> Result<ExitCode, CmdError> {
    if !a.force {
        print!("WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ");
        std::io::stdout().flush()?;
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        if !matches!(line.trim().to_lowercase().as_str(), "y" | "yes") {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let q = match filters_json(&a.filter)? {
        Some(f) => format!("?{}", query(&[("filters", &f)])),
        None => String::new(),
    };
    let v = client
        .call_json(Method::POST, &format!("/containers/prune{q}"), None)
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
    println!(
        "Total reclaimed space: {}",
        berth_format::human_size(v["SpaceReclaimed"].as_u64().unwrap_or(0))
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn diff(client: &Client, a: &OneContainer) -> Result<ExitCode, CmdError> {
    let v = client
        .get_json(&format!("/containers/{}/changes", a.container))
        .await?;
    for c in v.as_array().cloned().unwrap_or_default() {
        let kind = match c["Kind"].as_u64() {
            Some(1) => "A",
            Some(2) => "D",
            _ => "C",
        };
        println!("{kind} {}", c["Path"].as_str().unwrap_or(""));
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn top(client: &Client, a: &TopArgs) -> Result<ExitCode, CmdError> {
    let mut path = format!("/containers/{}/top", a.container);
    if !a.ps_args.is_empty() {
        path.push_str(&format!("?{}", query(&[("ps_args", &a.ps_args.join(" "))])));
    }
    let v = client.get_json(&path).await?;
    let titles: Vec<String> = v["Titles"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    // Docker prints this through a tabwriter: one template cell per title.
    let keys: Vec<String> = (0..titles.len()).map(|i| format!("C{i}")).collect();
    let headers: serde_json::Map<String, serde_json::Value> = keys
        .iter()
        .cloned()
        .zip(titles.iter().map(|t| json!(t)))
        .collect();
    let rows: Vec<serde_json::Value> = v["Processes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            let cells = p.as_array().cloned().unwrap_or_default();
            let m: serde_json::Map<String, serde_json::Value> =
                keys.iter().cloned().zip(cells).collect();
            serde_json::Value::Object(m)
        })
        .collect();
    let format = format!(
        "table {}",
        keys.iter()
            .map(|k| format!("{{{{.{k}}}}}"))
            .collect::<Vec<_>>()
            .join("\t")
    );
    print_list(
        Some(&format),
        &format,
        serde_json::Value::Object(headers),
        &rows,
    )?;
    Ok(ExitCode::SUCCESS)
}

pub async fn update(client: &Client, a: &UpdateArgs) -> Result<ExitCode, CmdError> {
    let size = |flag: &str, v: &Option<String>| -> Result<Option<i64>, CmdError> {
        match v.as_deref() {
            None => Ok(None),
            Some("-1") => Ok(Some(-1)),
            Some(s) => super::container_opts::ram_in_bytes(s)
                .map(Some)
                .map_err(|e| {
                    Exit(
                        1,
                        format!("invalid argument \"{s}\" for \"{flag}\" flag: {e}"),
                    )
                    .into()
                }),
        }
    };
    let mut body = serde_json::Map::new();
    let mut put = |k: &str, v: Option<serde_json::Value>| {
        if let Some(v) = v {
            body.insert(k.to_string(), v);
        }
    };
    put("Memory", size("-m, --memory", &a.memory)?.map(|v| json!(v)));
    put(
        "MemorySwap",
        size("--memory-swap", &a.memory_swap)?.map(|v| json!(v)),
    );
    put(
        "MemoryReservation",
        size("--memory-reservation", &a.memory_reservation)?.map(|v| json!(v)),
    );
    if let Some(c) = &a.cpus {
        let n = super::container_opts::parse_cpus(c).map_err(|e| {
            Exit(
                1,
                format!("invalid argument \"{c}\" for \"--cpus\" flag: {e}"),
            )
        })?;
        put("NanoCpus", Some(json!(n)));
    }
    put("CpuShares", a.cpu_shares.map(|v| json!(v)));
    put("CpuPeriod", a.cpu_period.map(|v| json!(v)));
    put("CpuQuota", a.cpu_quota.map(|v| json!(v)));
    put("CpusetCpus", a.cpuset_cpus.as_ref().map(|v| json!(v)));
    put("CpusetMems", a.cpuset_mems.as_ref().map(|v| json!(v)));
    put("PidsLimit", a.pids_limit.map(|v| json!(v)));
    put("BlkioWeight", a.blkio_weight.map(|v| json!(v)));
    if let Some(r) = &a.restart {
        let (name, max) = match r.split_once(':') {
            Some((n, m)) => (
                n.to_string(),
                m.parse::<i64>()
                    .map_err(|_| Exit(1, format!("invalid restart policy format: {r}")))?,
            ),
            None => (r.clone(), 0),
        };
        put(
            "RestartPolicy",
            Some(json!({"Name": name, "MaximumRetryCount": max})),
        );
    }
    if body.is_empty() {
        return Err(Exit(
            1,
            "berth: you must provide one or more flags when using this command".into(),
        )
        .into());
    }
    let body = serde_json::Value::Object(body);
    each(&a.containers, |c| {
        let body = body.clone();
        async move {
            client
                .call_json(
                    Method::POST,
                    &format!("/containers/{c}/update"),
                    Some(&body),
                )
                .await?;
            println!("{c}");
            Ok(())
        }
    })
    .await
}

pub async fn commit(client: &Client, a: &CommitArgs) -> Result<ExitCode, CmdError> {
    let mut q: Vec<(&str, String)> = vec![("container", a.container.clone())];
    if let Some(r) = &a.repository {
        if let Err(e) = berth_reference::Reference::parse_normalized(r) {
            return Err(format!(
                "Error parsing reference: \"{r}\" is not a valid repository/tag: {e}"
            )
            .into());
        }
        let (repo, tag) = super::image::split_tag(r);
        q.push(("repo", repo.to_string()));
        if !tag.is_empty() {
            q.push(("tag", tag.to_string()));
        }
    }
    if let Some(m) = &a.message {
        q.push(("comment", m.clone()));
    }
    if let Some(au) = &a.author {
        q.push(("author", au.clone()));
    }
    q.push(("pause", if a.pause { "1".into() } else { "0".into() }));
    for c in &a.change {
        q.push(("changes", c.clone()));
    }
    let pairs: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let v = client
        .call_json(Method::POST, &format!("/commit?{}", query(&pairs)), None)
        .await?;
    println!("{}", v["Id"].as_str().unwrap_or(""));
    Ok(ExitCode::SUCCESS)
}

pub async fn export(client: &Client, a: &ExportArgs) -> Result<ExitCode, CmdError> {
    if a.output.is_none() && crate::output::is_tty(std::io::stdout()) {
        return Err("cowardly refusing to save to a terminal. Use the -o flag or redirect".into());
    }
    let resp = client
        .request(
            Method::GET,
            &format!("/containers/{}/export", a.container),
            empty(),
            None,
        )
        .await?;
    let stream = berth_api::client::body_stream(resp);
    crate::output::write_stream(stream, a.output.as_deref(), "failed to export container").await?;
    Ok(ExitCode::SUCCESS)
}

/// One `stats` row as the docker CLI computes it.
fn stats_row(v: &serde_json::Value, no_trunc: bool) -> serde_json::Value {
    let f = |p: &serde_json::Value| p.as_f64().unwrap_or(0.0);
    let cpu_delta = f(&v["cpu_stats"]["cpu_usage"]["total_usage"])
        - f(&v["precpu_stats"]["cpu_usage"]["total_usage"]);
    let sys_delta =
        f(&v["cpu_stats"]["system_cpu_usage"]) - f(&v["precpu_stats"]["system_cpu_usage"]);
    let cpus = f(&v["cpu_stats"]["online_cpus"]).max(1.0);
    let cpu = if cpu_delta > 0.0 && sys_delta > 0.0 {
        cpu_delta / sys_delta * cpus * 100.0
    } else {
        0.0
    };
    let stats = &v["memory_stats"]["stats"];
    let inactive = stats["total_inactive_file"]
        .as_f64()
        .or(stats["inactive_file"].as_f64())
        .unwrap_or(0.0);
    let usage = f(&v["memory_stats"]["usage"]);
    let used = if inactive < usage {
        usage - inactive
    } else {
        usage
    };
    let limit = f(&v["memory_stats"]["limit"]);
    let mem_pct = if limit > 0.0 {
        used / limit * 100.0
    } else {
        0.0
    };
    let (mut rd, mut wr) = (0u64, 0u64);
    for e in v["blkio_stats"]["io_service_bytes_recursive"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        match e["op"].as_str().map(|s| s.to_ascii_lowercase()).as_deref() {
            Some("read") => rd += e["value"].as_u64().unwrap_or(0),
            Some("write") => wr += e["value"].as_u64().unwrap_or(0),
            _ => {}
        }
    }
    let id = v["id"].as_str().unwrap_or("");
    let running = v["read"] != "0001-01-01T00:00:00Z";
    json!({
        "ID": if no_trunc { id.to_string() } else { short_id(id) },
        "Container": if no_trunc { id.to_string() } else { short_id(id) },
        "Name": v["name"].as_str().unwrap_or("").trim_start_matches('/'),
        "CPUPerc": if running { format!("{cpu:.2}%") } else { "--".into() },
        "MemUsage": if running { format!("{} / {}", berth_format::bytes_size(used), berth_format::bytes_size(limit)) } else { "-- / --".into() },
        "MemPerc": if running { format!("{mem_pct:.2}%") } else { "--".into() },
        "NetIO": if running { "0B / 0B".to_string() } else { "--".into() },
        "BlockIO": if running { format!("{} / {}", berth_format::human_size(rd), berth_format::human_size(wr)) } else { "--".into() },
        "PIDs": if running { v["pids_stats"]["current"].as_u64().unwrap_or(0).to_string() } else { "--".into() },
    })
}

pub async fn stats(client: &Client, a: &StatsArgs) -> Result<ExitCode, CmdError> {
    let names: Vec<String> = if a.containers.is_empty() {
        let q = if a.all { "?all=1" } else { "" };
        client
            .get_json(&format!("/containers/json{q}"))
            .await?
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c["Id"].as_str().map(String::from))
            .collect()
    } else {
        a.containers.clone()
    };
    let headers = json!({"ID": "CONTAINER ID", "Container": "CONTAINER", "Name": "NAME", "CPUPerc": "CPU %",
        "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS"});
    let default = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";
    loop {
        // One request per container, concurrently (each takes a second to
        // measure CPU use).
        let futs = names.iter().map(|n| async move {
            client
                .get_json(&format!("/containers/{n}/stats?stream=0"))
                .await
        });
        let results = futures::future::join_all(futs).await;
        let mut rows = Vec::new();
        for r in results {
            match r {
                Ok(v) => rows.push(stats_row(&v, a.no_trunc)),
                Err(e) if !a.containers.is_empty() => return Err(e.into()),
                Err(_) => {}
            }
        }
        if !a.no_stream {
            print!("\x1b[2J\x1b[H");
        }
        print_list(a.format.as_deref(), default, headers.clone(), &rows)?;
        if a.no_stream {
            return Ok(ExitCode::SUCCESS);
        }
    }
}
