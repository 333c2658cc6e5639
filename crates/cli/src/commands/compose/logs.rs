//! Container output as compose prints it: `compose logs` (every container
//! of the project at once, each line prefixed `web-1  | `, coloured on a
//! terminal), `compose events`, and the attached mode of `up`: attached to
//! the containers before they start (so no output is lost), it prints
//! until every container has stopped, stops the others on the first exit
//! (`--abort-on-container-exit`), returns the exit code `--exit-code-from`
//! asks for, and stops (then kills, on a second Ctrl-C) the project on
//! Ctrl-C.
//!
//! Streams are read by spawned tasks (which return nothing: `CmdError` is
//! not `Send`); they share one [`Printer`].

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_api::client::{body_stream, empty, json_stream};
use berth_api::{Client, ClientError};
use berth_compose::engine::{PROJECT_LABEL, SERVICE_LABEL};
use futures::{Stream, StreamExt};
use hyper::Method;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::task::JoinHandle;

use super::args::{EventsArgs, LogsArgs};
use super::{lifecycle, Ctr, Ctx, OneOff};
use crate::commands::container::logs_query;
use crate::output::{query, CmdError};

/// Compose's rainbow: cyan, yellow, green, magenta, blue, then their
/// intense variants.
const COLORS: [&str; 10] = [
    "36", "33", "32", "35", "34", "36;1", "33;1", "32;1", "35;1", "34;1",
];

/// How lines are decorated.
#[derive(Debug, Clone, Copy)]
pub struct AttachOpts {
    /// ANSI colours on the prefixes.
    pub color: bool,
    /// The `name  | ` prefix.
    pub prefix: bool,
    /// Timestamps before each line.
    pub timestamps: bool,
}

/// Writes prefixed lines to stdout, one whole line at a time.
struct Printer {
    /// Prefix (coloured) and colour code per container name.
    prefixes: BTreeMap<String, (String, &'static str)>,
    color: bool,
    /// Stamp lines with the time they arrive (attached output; the
    /// daemon stamps `logs` itself).
    stamp: bool,
}

impl Printer {
    fn new(names: &[String], opts: AttachOpts, stamp: bool) -> Printer {
        let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0) + 1;
        let mut prefixes = BTreeMap::new();
        for (i, n) in names.iter().enumerate() {
            let code = COLORS[i % COLORS.len()];
            let text = if opts.prefix {
                format!("{n:<width$} | ")
            } else {
                String::new()
            };
            let text = if opts.color && !text.is_empty() {
                format!("\x1b[{code}m{text}\x1b[0m")
            } else {
                text
            };
            prefixes.insert(n.clone(), (text, code));
        }
        Printer {
            prefixes,
            color: opts.color,
            stamp: stamp && opts.timestamps,
        }
    }

    fn line(&self, name: &str, line: &[u8]) {
        let prefix = self.prefixes.get(name).map(|p| p.0.as_str()).unwrap_or("");
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(prefix.as_bytes());
        if self.stamp {
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
            let _ = write!(o, "{now} ");
        }
        let _ = o.write_all(line);
        let _ = o.write_all(b"\n");
        let _ = o.flush();
    }

    /// A status line (`web-1 exited with code 0`), in the container's colour.
    fn status(&self, name: &str, msg: &str) {
        let text = format!("{name} {msg}");
        let mut o = std::io::stdout().lock();
        match self.prefixes.get(name) {
            Some((_, code)) if self.color => {
                let _ = writeln!(o, "\x1b[{code}m{text}\x1b[0m");
            }
            _ => {
                let _ = writeln!(o, "{text}");
            }
        }
        let _ = o.flush();
    }
}

/// Splits a container's output into lines: demultiplexes Docker's framed
/// stream (8-byte headers) unless the container has a TTY, keeps partial
/// lines per stream until their newline.
struct LineSplitter {
    tty: bool,
    frames: Vec<u8>,
    /// Partial lines of stdout (0) and stderr (1).
    partial: [Vec<u8>; 2],
}

impl LineSplitter {
    fn new(tty: bool) -> LineSplitter {
        LineSplitter {
            tty,
            frames: Vec::new(),
            partial: [Vec::new(), Vec::new()],
        }
    }

    fn feed(&mut self, chunk: &[u8], out: &mut dyn FnMut(&[u8])) {
        if self.tty {
            Self::lines(&mut self.partial[0], chunk, out);
            return;
        }
        self.frames.extend_from_slice(chunk);
        while self.frames.len() >= 8 {
            let len = u32::from_be_bytes([
                self.frames[4],
                self.frames[5],
                self.frames[6],
                self.frames[7],
            ]) as usize;
            if self.frames.len() < 8 + len {
                break;
            }
            let which = usize::from(self.frames[0] == 2);
            let data: Vec<u8> = self.frames.drain(..8 + len).skip(8).collect();
            Self::lines(&mut self.partial[which], &data, out);
        }
    }

    fn lines(partial: &mut Vec<u8>, data: &[u8], out: &mut dyn FnMut(&[u8])) {
        partial.extend_from_slice(data);
        while let Some(pos) = partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = partial.drain(..=pos).collect();
            let line = &line[..line.len() - 1];
            out(line.strip_suffix(b"\r").unwrap_or(line));
        }
    }

    /// Whatever is left without a final newline.
    fn finish(&mut self, out: &mut dyn FnMut(&[u8])) {
        for p in &mut self.partial {
            if !p.is_empty() {
                out(p);
                p.clear();
            }
        }
    }
}

/// Prints a stream of output chunks as `name`'s lines.
async fn print_chunks(
    printer: Arc<Mutex<Printer>>,
    name: String,
    tty: bool,
    chunks: impl Stream<Item = Result<bytes::Bytes, ClientError>>,
) {
    let mut chunks = Box::pin(chunks);
    let mut split = LineSplitter::new(tty);
    let mut emit = |line: &[u8]| {
        if let Ok(p) = printer.lock() {
            p.line(&name, line);
        }
    };
    while let Some(Ok(chunk)) = chunks.next().await {
        split.feed(&chunk, &mut emit);
    }
    split.finish(&mut emit);
}

/// Whether a container has a TTY (its output is then not framed).
async fn has_tty(client: &Client, id: &str) -> Result<bool, ClientError> {
    let v = client.get_json(&format!("/containers/{id}/json")).await?;
    Ok(v["Config"]["Tty"] == true)
}

/// `compose logs`.
pub async fn logs(ctx: &Ctx, a: &LogsArgs) -> Result<ExitCode, CmdError> {
    let mut list = ctx
        .service_containers(&a.services, true, OneOff::Exclude)
        .await?;
    if a.index > 0 {
        list.retain(|c| c.number == a.index);
    }
    let q = logs_query(
        &a.tail,
        a.follow,
        a.timestamps,
        a.since.as_deref(),
        a.until.as_deref(),
    )?;
    let names: Vec<String> = list
        .iter()
        .map(|c| c.short_name(&ctx.project.name))
        .collect();
    let printer = Arc::new(Mutex::new(Printer::new(
        &names,
        AttachOpts {
            color: ctx.ansi() && !a.no_color,
            prefix: !a.no_log_prefix,
            timestamps: a.timestamps,
        },
        false,
    )));
    let mut tasks = Vec::new();
    for (c, name) in list.iter().zip(names) {
        let tty = has_tty(&ctx.client, &c.id).await?;
        let resp = ctx
            .client
            .request(
                Method::GET,
                &format!("/containers/{}/logs?{q}", c.id),
                empty(),
                None,
            )
            .await?;
        tasks.push(tokio::spawn(print_chunks(
            printer.clone(),
            name,
            tty,
            body_stream(resp),
        )));
    }
    for t in tasks {
        let _ = t.await;
    }
    Ok(ExitCode::SUCCESS)
}

/// `compose events`: the project's container events.
pub async fn events(ctx: &Ctx, a: &EventsArgs) -> Result<ExitCode, CmdError> {
    ctx.check_services(&a.services)?;
    let filters = json!({
        "type": ["container"],
        "label": [format!("{PROJECT_LABEL}={}", ctx.project.name)],
    })
    .to_string();
    let resp = ctx
        .client
        .request(
            Method::GET,
            &format!("/events?{}", query(&[("filters", &filters)])),
            empty(),
            None,
        )
        .await?;
    let mut stream = Box::pin(json_stream(resp));
    while let Some(ev) = stream.next().await {
        let ev = ev?;
        let attrs = ev["Actor"]["Attributes"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let service = attrs
            .get(SERVICE_LABEL)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if !a.services.is_empty() && !a.services.contains(&service) {
            continue;
        }
        let shown: BTreeMap<&String, &str> = attrs
            .iter()
            .filter(|(k, _)| !k.starts_with("com.docker.compose."))
            .map(|(k, v)| (k, v.as_str().unwrap_or("")))
            .collect();
        let nanos = ev["timeNano"].as_i64().unwrap_or(0);
        let t = chrono::DateTime::from_timestamp(
            nanos.div_euclid(1_000_000_000),
            nanos.rem_euclid(1_000_000_000) as u32,
        )
        .unwrap_or_default()
        .with_timezone(&chrono::Local);
        let id = ev["Actor"]["ID"].as_str().unwrap_or("");
        let action = ev["Action"].as_str().unwrap_or("");
        let mut o = std::io::stdout().lock();
        if a.json {
            writeln!(
                o,
                "{}",
                json!({
                    "time": t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                    "type": "container",
                    "service": service,
                    "id": id,
                    "action": action,
                    "attributes": shown,
                })
            )?;
        } else {
            let attrs: Vec<String> = shown.iter().map(|(k, v)| format!("{k}={v}")).collect();
            writeln!(
                o,
                "{} container {action} {id} ({})",
                t.format("%Y-%m-%d %H:%M:%S%.6f"),
                attrs.join(", ")
            )?;
        }
        o.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// When attached `up` ends.
#[derive(Debug, Clone, Default)]
pub struct UntilOpts {
    /// `--abort-on-container-exit`: stop everything on the first exit.
    pub abort_on_exit: bool,
    /// `--abort-on-container-failure`: stop everything on the first
    /// non-zero exit.
    pub abort_on_failure: bool,
    /// `--exit-code-from SERVICE`.
    pub exit_code_from: Option<String>,
    /// Stop timeout (`-t`).
    pub timeout: Option<i64>,
    /// Services in stop order.
    pub order: Vec<String>,
}

/// The output of `up`'s containers, attached before they start.
pub struct Attached {
    printer: Arc<Mutex<Printer>>,
    /// Printing tasks by container ID.
    tasks: BTreeMap<String, JoinHandle<()>>,
    /// Ctrl-C, caught from before the containers start.
    sigint: tokio::signal::unix::Signal,
}

/// Attaches to one container; a task prints its output until it ends.
async fn attach_one(
    client: &Client,
    printer: Arc<Mutex<Printer>>,
    id: &str,
    name: String,
) -> Result<JoinHandle<()>, ClientError> {
    let tty = has_tty(client, id).await?;
    let q = query(&[
        ("stream", "1"),
        ("stdin", "0"),
        ("stdout", "1"),
        ("stderr", "1"),
    ]);
    let conn = client
        .hijack(&format!("/containers/{id}/attach?{q}"), None)
        .await?;
    let chunks = futures::stream::unfold(conn, |mut conn| async move {
        let mut b = vec![0u8; 32 << 10];
        match conn.read(&mut b).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                b.truncate(n);
                Some((Ok(bytes::Bytes::from(b)), conn))
            }
        }
    });
    Ok(tokio::spawn(print_chunks(printer, name, tty, chunks)))
}

/// Waits until a container has stopped for good (not restarting); sends
/// its ID and exit code.
async fn watch_exit(
    client: Client,
    id: String,
    tx: tokio::sync::mpsc::UnboundedSender<(String, i64)>,
) {
    loop {
        let resp = client
            .request(
                Method::POST,
                &format!("/containers/{id}/wait?condition=not-running"),
                empty(),
                None,
            )
            .await;
        let code = match resp {
            Ok(r) => berth_api::client::read_json(r)
                .await
                .ok()
                .and_then(|v| v["StatusCode"].as_i64())
                .unwrap_or(0),
            Err(_) => 0,
        };
        let again = match client.get_json(&format!("/containers/{id}/json")).await {
            Ok(v) => v["State"]["Running"] == true || v["State"]["Restarting"] == true,
            Err(_) => false,
        };
        if !again {
            let _ = tx.send((id, code));
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Attached {
    /// Attaches to the containers (ID, name) before they are started.
    pub async fn start(
        ctx: &Ctx,
        list: Vec<(String, String)>,
        opts: AttachOpts,
    ) -> Result<Attached, CmdError> {
        let names: Vec<String> = list
            .iter()
            .map(|(_, n)| super::short_name(&ctx.project.name, n))
            .collect();
        let sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        let printer = Arc::new(Mutex::new(Printer::new(&names, opts, true)));
        let mut tasks = BTreeMap::new();
        for ((id, _), name) in list.iter().zip(names) {
            let task = attach_one(&ctx.client, printer.clone(), id, name).await;
            match task {
                Ok(t) => {
                    tasks.insert(id.clone(), t);
                }
                Err(e) => {
                    for t in tasks.values() {
                        t.abort();
                    }
                    return Err(e.into());
                }
            }
        }
        Ok(Attached {
            printer,
            tasks,
            sigint,
        })
    }

    /// Stops printing.
    pub fn cancel(self) {
        for t in self.tasks.values() {
            t.abort();
        }
    }

    /// Lets a container's output drain (its stream ends with it).
    async fn drain(&mut self, id: &str) {
        if let Some(t) = self.tasks.remove(id) {
            let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
        }
    }

    /// Prints until every container in `all` has stopped; handles the
    /// abort flags and Ctrl-C. Returns the exit code for `up`.
    pub async fn wait(mut self, ctx: &Ctx, all: &[Ctr], o: UntilOpts) -> Result<u8, CmdError> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut alive: BTreeMap<String, Ctr> = BTreeMap::new();
        for c in all {
            alive.insert(c.id.clone(), c.clone());
            tokio::spawn(watch_exit(ctx.client.clone(), c.id.clone(), tx.clone()));
        }
        drop(tx);
        let mut aborting = false;
        let mut interrupted = false;
        let mut code: i64 = 0;
        let mut from_code: Option<i64> = None;
        while !alive.is_empty() {
            let stop_now = tokio::select! {
                ev = rx.recv() => {
                    let Some((id, exit)) = ev else { break };
                    let Some(c) = alive.remove(&id) else { continue };
                    self.drain(&id).await;
                    if !aborting && !interrupted {
                        if let Ok(p) = self.printer.lock() {
                            p.status(&c.short_name(&ctx.project.name), &format!("exited with code {exit}"));
                        }
                    }
                    if o.exit_code_from.as_deref() == Some(c.service.as_str()) && from_code.is_none() {
                        from_code = Some(exit);
                    }
                    let trigger = o.abort_on_exit || (o.abort_on_failure && exit != 0);
                    if trigger && !aborting && !interrupted {
                        aborting = true;
                        code = exit;
                        println!("Aborting on container exit...");
                        true
                    } else {
                        false
                    }
                }
                _ = self.sigint.recv() => {
                    interrupted = true;
                    eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
                    true
                }
            };
            if stop_now {
                let mut list: Vec<Ctr> = alive.values().cloned().collect();
                list.sort_by_key(|c| o.order.iter().position(|s| *s == c.service));
                let stopping = lifecycle::stop_containers(ctx, list.clone(), o.timeout);
                tokio::select! {
                    r = stopping => {
                        if let Err(e) = r {
                            ctx.progress.warn(&e.to_string());
                        }
                    }
                    _ = self.sigint.recv() => {
                        for c in &list {
                            ctx.progress.event("Container", &c.name, "Killing");
                            let _ = ctx
                                .client
                                .request(Method::POST, &format!("/containers/{}/kill", c.id), empty(), None)
                                .await;
                            ctx.progress.event("Container", &c.name, "Killed");
                        }
                    }
                }
            }
        }
        for (_, t) in std::mem::take(&mut self.tasks) {
            let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
        }
        if interrupted {
            return Ok(130);
        }
        if let Some(svc) = &o.exit_code_from {
            let code = match from_code {
                Some(c) => c,
                None => {
                    let mut found = 0;
                    for c in all.iter().filter(|c| &c.service == svc) {
                        let v = ctx
                            .client
                            .get_json(&format!("/containers/{}/json", c.id))
                            .await?;
                        found = v["State"]["ExitCode"].as_i64().unwrap_or(0);
                    }
                    found
                }
            };
            return Ok(code.clamp(0, 255) as u8);
        }
        Ok(code.clamp(0, 255) as u8)
    }
}
