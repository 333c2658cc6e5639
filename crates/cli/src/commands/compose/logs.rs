//! Container output as compose prints it: `compose logs` (every container
//! of the project at once, each line prefixed `web-1  | `, coloured on a
//! terminal), `compose events`, and the attached mode of `up`: attached to
//! the containers before they start (so no output is lost), it prints
//! until every container has stopped, stops the others on the first exit
//! (`--abort-on-container-exit`), returns the exit code `--exit-code-from`
//! asks for, and stops (then kills, on a second Ctrl-C) the project on
//! Ctrl-C.
//!
//! Followed output (`up` attached, `logs -f`) behaves as compose v2's: each
//! exit prints `NAME exited with code N`, a container that a restart
//! policy runs again is followed again (its log since the previous run
//! ended, so nothing is lost between the exit and the new start), and
//! containers of the project started meanwhile (`scale`, `up --scale`
//! from another terminal) are picked up from the daemon's `start` events;
//! it ends when every followed container has stopped for good.
//!
//! Streams are read by spawned tasks (which return nothing: `CmdError` is
//! not `Send`); they share one [`Printer`].

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_api::client::{body_stream, empty, json_stream};
use berth_api::{Client, ClientError};
use berth_compose::engine::{ONEOFF_LABEL, PROJECT_LABEL, SERVICE_LABEL};
use futures::{Stream, StreamExt};
use hyper::Method;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc::UnboundedSender;
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
    /// Colour code per container name (a colour each, in the order the
    /// names were registered).
    colors: BTreeMap<String, &'static str>,
    /// Width of the name column (the longest name plus one).
    width: usize,
    prefix: bool,
    color: bool,
    /// Stamp lines with the time they arrive (attached output; the
    /// daemon stamps `logs` itself).
    stamp: bool,
}

impl Printer {
    fn new(names: &[String], opts: AttachOpts, stamp: bool) -> Printer {
        let mut p = Printer {
            colors: BTreeMap::new(),
            width: 0,
            prefix: opts.prefix,
            color: opts.color,
            stamp: stamp && opts.timestamps,
        };
        for n in names {
            p.register(n);
        }
        p
    }

    /// Gives a container that joins later its colour; widens the column.
    fn register(&mut self, name: &str) {
        if !self.colors.contains_key(name) {
            let code = COLORS[self.colors.len() % COLORS.len()];
            self.colors.insert(name.to_string(), code);
            self.width = self.width.max(name.chars().count() + 1);
        }
    }

    fn prefix_of(&self, name: &str) -> String {
        if !self.prefix {
            return String::new();
        }
        let width = self.width;
        let text = format!("{name:<width$} | ");
        match self.colors.get(name) {
            Some(code) if self.color => format!("\x1b[{code}m{text}\x1b[0m"),
            _ => text,
        }
    }

    fn line(&self, name: &str, line: &[u8]) {
        let prefix = self.prefix_of(name);
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
        match self.colors.get(name) {
            Some(code) if self.color => {
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

/// Follows one container's log (`since` an RFC 3339 time, `q` the other
/// parameters); a task prints it until the stream ends.
async fn follow_log(
    client: &Client,
    printer: Arc<Mutex<Printer>>,
    id: &str,
    name: String,
    q: &str,
) -> Result<JoinHandle<()>, ClientError> {
    let tty = has_tty(client, id).await?;
    let resp = client
        .request(
            Method::GET,
            &format!("/containers/{id}/logs?{q}"),
            empty(),
            None,
        )
        .await?;
    Ok(tokio::spawn(print_chunks(
        printer,
        name,
        tty,
        body_stream(resp),
    )))
}

/// What the watchers of followed containers report.
#[derive(Debug)]
enum Happening {
    /// A run ended with `code`; `restarting`: a restart policy runs it again.
    Exit {
        id: String,
        code: i64,
        restarting: bool,
    },
    /// A new run began (a restart); its output is in the log since `since`.
    Restarted { id: String, since: String },
    /// A container of the project not followed yet was started.
    Started { id: String },
    /// The container went away without another exit (stopped while
    /// waiting for its restart, removed).
    Gone { id: String },
}

/// A container's `State`, or `None` once it is gone.
async fn state(client: &Client, id: &str) -> Option<Value> {
    client
        .get_json(&format!("/containers/{id}/json"))
        .await
        .ok()
        .map(|v| v["State"].clone())
}

/// Reports each exit of a container (and whether it will run again), each
/// new run a restart policy begins, until it stops for good.
async fn watch_runs(client: Client, id: String, tx: UnboundedSender<Happening>) {
    let Some(st) = state(&client, &id).await else {
        let _ = tx.send(Happening::Gone { id });
        return;
    };
    let mut run_started = st["StartedAt"].as_str().unwrap_or("").to_string();
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
        let Some(st) = state(&client, &id).await else {
            let _ = tx.send(Happening::Exit {
                id,
                code,
                restarting: false,
            });
            return;
        };
        let again = st["Running"] == true || st["Restarting"] == true;
        let finished = st["FinishedAt"].as_str().unwrap_or("").to_string();
        if tx
            .send(Happening::Exit {
                id: id.clone(),
                code,
                restarting: again,
            })
            .is_err()
            || !again
        {
            return;
        }
        // Until the next run begins (or the restart is called off).
        loop {
            let Some(st) = state(&client, &id).await else {
                let _ = tx.send(Happening::Gone { id });
                return;
            };
            let started = st["StartedAt"].as_str().unwrap_or("");
            if started != run_started && st["Restarting"] != true {
                run_started = started.to_string();
                let _ = tx.send(Happening::Restarted {
                    id: id.clone(),
                    since: finished.clone(),
                });
                break;
            }
            if st["Running"] != true && st["Restarting"] != true {
                let _ = tx.send(Happening::Gone { id });
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Reports project containers that start and are not in `known` (only
/// those of `services` when it is not empty); one-off containers are left
/// out.
async fn watch_starts(
    client: Client,
    project: String,
    services: Vec<String>,
    known: BTreeSet<String>,
    tx: UnboundedSender<Happening>,
) {
    let filters = json!({
        "type": ["container"],
        "event": ["start"],
        "label": [format!("{PROJECT_LABEL}={project}"), format!("{ONEOFF_LABEL}=False")],
    })
    .to_string();
    let Ok(resp) = client
        .request(
            Method::GET,
            &format!("/events?{}", query(&[("filters", &filters)])),
            empty(),
            None,
        )
        .await
    else {
        return;
    };
    let mut known = known;
    let mut stream = Box::pin(json_stream(resp));
    while let Some(Ok(ev)) = stream.next().await {
        let id = ev["Actor"]["ID"].as_str().unwrap_or("").to_string();
        let service = ev["Actor"]["Attributes"][SERVICE_LABEL]
            .as_str()
            .unwrap_or("");
        if id.is_empty() || known.contains(&id) {
            continue;
        }
        if !services.is_empty() && !services.iter().any(|s| s == service) {
            continue;
        }
        known.insert(id.clone());
        if tx.send(Happening::Started { id }).is_err() {
            return;
        }
    }
}

/// The output stream currently printing a container's output.
struct Output {
    task: JoinHandle<()>,
}

/// Followed containers: their output streams, their watchers' reports and
/// who is still expected to stop.
struct Follower {
    printer: Arc<Mutex<Printer>>,
    outputs: BTreeMap<String, Output>,
    /// Short names by container ID.
    names: BTreeMap<String, String>,
    /// Containers not stopped for good yet.
    alive: BTreeMap<String, Ctr>,
    /// `timestamps=1` on followed logs.
    timestamps: bool,
    tx: UnboundedSender<Happening>,
    rx: tokio::sync::mpsc::UnboundedReceiver<Happening>,
    /// The events watcher (aborted on drop).
    starts: Option<JoinHandle<()>>,
}

impl Drop for Follower {
    fn drop(&mut self) {
        if let Some(t) = &self.starts {
            t.abort();
        }
    }
}

impl Follower {
    fn new(printer: Arc<Mutex<Printer>>, timestamps: bool) -> Follower {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        Follower {
            printer,
            outputs: BTreeMap::new(),
            names: BTreeMap::new(),
            alive: BTreeMap::new(),
            timestamps,
            tx,
            rx,
            starts: None,
        }
    }

    /// Watches `c` until it stops for good.
    fn watch(&mut self, ctx: &Ctx, c: &Ctr) {
        self.names
            .insert(c.id.clone(), c.short_name(&ctx.project.name));
        self.alive.insert(c.id.clone(), c.clone());
        tokio::spawn(watch_runs(
            ctx.client.clone(),
            c.id.clone(),
            self.tx.clone(),
        ));
    }

    /// Picks up project containers of `services` started from now on.
    fn watch_starts(&mut self, ctx: &Ctx, services: Vec<String>, known: BTreeSet<String>) {
        self.starts = Some(tokio::spawn(watch_starts(
            ctx.client.clone(),
            ctx.project.name.clone(),
            services,
            known,
            self.tx.clone(),
        )));
    }

    /// Follows a container's log since `since` unless a stream still
    /// prints it.
    async fn follow(&mut self, ctx: &Ctx, id: &str, since: &str) {
        if self.outputs.get(id).is_some_and(|o| !o.task.is_finished()) {
            return;
        }
        let Some(name) = self.names.get(id).cloned() else {
            return;
        };
        let mut q = vec![("stdout", "1"), ("stderr", "1"), ("follow", "1")];
        if !since.is_empty() {
            q.push(("since", since));
        }
        if self.timestamps {
            q.push(("timestamps", "1"));
        }
        let q = query(&q);
        if let Ok(task) = follow_log(&ctx.client, self.printer.clone(), id, name, &q).await {
            self.outputs.insert(id.to_string(), Output { task });
        }
    }

    /// A container started by someone else: watched, and its log followed
    /// from its creation.
    async fn adopt(&mut self, ctx: &Ctx, id: &str) -> Option<Ctr> {
        let v = ctx
            .client
            .get_json(&format!("/containers/{id}/json"))
            .await
            .ok()?;
        let labels = v["Config"]["Labels"].clone();
        let c = Ctr::from_summary(&json!({
            "Id": v["Id"],
            "Names": [v["Name"]],
            "State": v["State"]["Status"],
            "Labels": labels,
        }));
        let name = c.short_name(&ctx.project.name);
        if let Ok(mut p) = self.printer.lock() {
            p.register(&name);
        }
        self.watch(ctx, &c);
        let created = v["Created"].as_str().unwrap_or("").to_string();
        self.follow(ctx, id, &created).await;
        Some(c)
    }

    /// Lets a container's output drain: an attach and a followed log both
    /// end with the run (the daemon ends a log follow at the run's
    /// exit, as Docker's does), so the run's last lines come before its
    /// exit line; a restart follows the next run afresh.
    async fn drain(&mut self, id: &str) {
        if let Some(o) = self.outputs.remove(id) {
            let _ = tokio::time::timeout(Duration::from_secs(2), o.task).await;
        }
    }

    /// Prints a status line for a container.
    fn status(&self, id: &str, msg: &str) {
        if let (Some(name), Ok(p)) = (self.names.get(id), self.printer.lock()) {
            p.status(name, msg);
        }
    }

    /// Waits for every output stream to end (at most 2 s each).
    async fn finish(&mut self) {
        for (_, o) in std::mem::take(&mut self.outputs) {
            let _ = tokio::time::timeout(Duration::from_secs(2), o.task).await;
        }
    }

    fn abort(&mut self) {
        for o in self.outputs.values() {
            o.task.abort();
        }
    }
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
    let mut follower = Follower::new(printer.clone(), a.timestamps);
    // With -f: the running containers are watched for exits and restarts,
    // and containers started later are picked up (from before the logs
    // are read, so none is missed).
    let running: Vec<Ctr> = list.iter().filter(|c| c.is_running()).cloned().collect();
    if a.follow && !running.is_empty() && a.index == 0 {
        let known = list.iter().map(|c| c.id.clone()).collect();
        follower.watch_starts(ctx, a.services.clone(), known);
    }
    for (c, name) in list.iter().zip(names) {
        let task = follow_log(&ctx.client, printer.clone(), &c.id, name, &q).await?;
        follower.outputs.insert(c.id.clone(), Output { task });
    }
    if !a.follow || running.is_empty() {
        follower.finish().await;
        return Ok(ExitCode::SUCCESS);
    }
    for c in &running {
        follower.watch(ctx, c);
    }
    while !follower.alive.is_empty() {
        let Some(h) = follower.rx.recv().await else {
            break;
        };
        match h {
            Happening::Exit {
                id,
                code,
                restarting,
            } => {
                if !follower.alive.contains_key(&id) {
                    continue;
                }
                follower.drain(&id).await;
                follower.status(&id, &format!("exited with code {code}"));
                if !restarting {
                    follower.alive.remove(&id);
                }
            }
            Happening::Restarted { id, since } => follower.follow(ctx, &id, &since).await,
            Happening::Started { id } => {
                follower.adopt(ctx, &id).await;
            }
            Happening::Gone { id } => {
                follower.alive.remove(&id);
            }
        }
    }
    follower.finish().await;
    Ok(ExitCode::SUCCESS)
}

/// A time as Go's `time.Time` marshals to JSON: RFC 3339 with the
/// fraction's trailing zeros dropped, `Z` for UTC, else the offset.
fn go_rfc3339_nano(t: &chrono::DateTime<chrono::Local>) -> String {
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    let frac = if nanos == 0 {
        String::new()
    } else {
        format!(".{nanos:09}").trim_end_matches('0').to_string()
    };
    let offset = t.offset().local_minus_utc();
    let zone = if offset == 0 {
        "Z".to_string()
    } else {
        t.format("%:z").to_string()
    };
    format!("{base}{frac}{zone}")
}

/// `compose events`: the project's container events as compose v2 prints
/// them (one-off containers and compose's own labels left out): with
/// `--json` one object a line, keys sorted as Go marshals a map; else
/// `2006-01-02 15:04:05.000000 container ACTION ID (k=v, …)` and an empty
/// line (compose prints the event's newline and then its own).
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
        if ev["Type"] != "container" {
            continue;
        }
        let attrs = ev["Actor"]["Attributes"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        if attrs.get(ONEOFF_LABEL).and_then(Value::as_str) == Some("True") {
            continue;
        }
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
        let nanos = ev["timeNano"]
            .as_i64()
            .filter(|n| *n != 0)
            .unwrap_or_else(|| ev["time"].as_i64().unwrap_or(0) * 1_000_000_000);
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
            // Inserted in sorted order: Go's json.Marshal sorts map keys.
            let mut m = serde_json::Map::new();
            m.insert("action".into(), json!(action));
            m.insert("attributes".into(), json!(shown));
            m.insert("id".into(), json!(id));
            m.insert("service".into(), json!(service));
            m.insert("time".into(), json!(go_rfc3339_nano(&t)));
            m.insert("type".into(), json!("container"));
            writeln!(o, "{}", Value::Object(m))?;
        } else {
            let attrs: Vec<String> = shown.iter().map(|(k, v)| format!("{k}={v}")).collect();
            writeln!(
                o,
                "{} container {action} {id} ({})\n",
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
    follower: Follower,
    /// Services whose containers started later are picked up.
    services: Vec<String>,
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

impl Attached {
    /// Attaches to the containers (ID, name) of `services` before they are
    /// started; containers of those services started later are picked up.
    pub async fn start(
        ctx: &Ctx,
        list: Vec<(String, String)>,
        services: Vec<String>,
        opts: AttachOpts,
    ) -> Result<Attached, CmdError> {
        let names: Vec<String> = list
            .iter()
            .map(|(_, n)| super::short_name(&ctx.project.name, n))
            .collect();
        let sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        let printer = Arc::new(Mutex::new(Printer::new(&names, opts, true)));
        let mut follower = Follower::new(printer.clone(), false);
        for ((id, _), name) in list.iter().zip(names) {
            match attach_one(&ctx.client, printer.clone(), id, name.clone()).await {
                Ok(task) => {
                    follower.names.insert(id.clone(), name);
                    follower.outputs.insert(id.clone(), Output { task });
                }
                Err(e) => {
                    follower.abort();
                    return Err(e.into());
                }
            }
        }
        Ok(Attached {
            follower,
            services,
            sigint,
        })
    }

    /// Stops printing.
    pub fn cancel(mut self) {
        self.follower.abort();
    }

    /// Prints until every container in `all` has stopped; handles the
    /// abort flags and Ctrl-C. Returns the exit code for `up`.
    pub async fn wait(mut self, ctx: &Ctx, all: &[Ctr], o: UntilOpts) -> Result<u8, CmdError> {
        if !self.services.is_empty() {
            let known: BTreeSet<String> = all.iter().map(|c| c.id.clone()).collect();
            self.follower
                .watch_starts(ctx, self.services.clone(), known);
        }
        for c in all {
            self.follower.watch(ctx, c);
        }
        let mut aborting = false;
        let mut interrupted = false;
        let mut code: i64 = 0;
        let mut from_code: Option<i64> = None;
        while !self.follower.alive.is_empty() {
            let stop_now = tokio::select! {
                h = self.follower.rx.recv() => {
                    let Some(h) = h else { break };
                    match h {
                        Happening::Exit { id, code: exit, restarting } => {
                            let Some(c) = self.follower.alive.get(&id).cloned() else { continue };
                            if !restarting {
                                self.follower.alive.remove(&id);
                            }
                            self.follower.drain(&id).await;
                            if !aborting && !interrupted {
                                if let Ok(p) = self.follower.printer.lock() {
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
                        Happening::Restarted { id, since } => {
                            if !aborting && !interrupted {
                                self.follower.follow(ctx, &id, &since).await;
                            }
                            false
                        }
                        Happening::Started { id } => {
                            if !aborting && !interrupted {
                                self.follower.adopt(ctx, &id).await;
                            }
                            false
                        }
                        Happening::Gone { id } => {
                            self.follower.alive.remove(&id);
                            false
                        }
                    }
                }
                _ = self.sigint.recv() => {
                    interrupted = true;
                    eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
                    true
                }
            };
            if stop_now {
                let mut list: Vec<Ctr> = self.follower.alive.values().cloned().collect();
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
        self.follower.finish().await;
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
