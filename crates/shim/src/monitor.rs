//! The monitor: what a shim does once its container is created. It reports
//! the container's PID to the daemon, starts it when told, pumps its output
//! into the log and to attached clients, feeds its stdin, reaps it, records
//! how it ended, and removes its cgroup and runtime state.
//!
//! [`Monitor`] travels from `berth shim` to `berth-shim` as arguments
//! ([`Monitor::to_args`] / [`Monitor::from_args`]) with its descriptors
//! inherited across `execve`.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{now, write_json_line, ExitStatus, StartReport};

/// Where the container's output comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Output {
    /// Two pipes (read ends).
    Pipes {
        /// The container's stdout.
        stdout: RawFd,
        /// The container's stderr.
        stderr: RawFd,
    },
    /// A pseudo-terminal's master: one raw stream.
    Terminal {
        /// The master side.
        master: RawFd,
    },
}

/// Everything the monitor needs about a created container.
#[derive(Debug, Clone, PartialEq)]
pub struct Monitor {
    /// Container ID.
    pub id: String,
    /// Bundle directory (gets exit.json and shim.log).
    pub bundle: PathBuf,
    /// libcontainer's directory for this container (its `notify.sock`
    /// starts it; removed when the container ends).
    pub state_dir: PathBuf,
    /// The container's cgroup (`/berth/ID`), removed when it ends.
    pub cgroup_path: String,
    /// The container's init process, on the host.
    pub pid: i32,
    /// The json-file log (empty: keep none).
    pub log_path: PathBuf,
    /// Rotate the log past this size (bytes).
    pub log_max_size: Option<u64>,
    /// Keep this many log files in all.
    pub log_max_files: u32,
    /// Close stdin when the first attached client detaches.
    pub stdin_once: bool,
    /// Where the [`StartReport`] goes (the daemon reads it).
    pub report: RawFd,
    /// The listening socket at [`crate::socket_path`].
    pub listener: RawFd,
    /// The container's output.
    pub output: Output,
    /// The write side of the container's stdin, if it has one.
    pub stdin: Option<RawFd>,
}

impl Monitor {
    /// The descriptors the monitor owns (to keep across `execve`).
    pub fn fds(&self) -> Vec<RawFd> {
        let mut v = vec![self.report, self.listener];
        match self.output {
            Output::Pipes { stdout, stderr } => v.extend([stdout, stderr]),
            Output::Terminal { master } => v.push(master),
        }
        v.extend(self.stdin);
        v
    }

    /// Command-line arguments for `berth-shim`.
    pub fn to_args(&self) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "--id".into(),
            self.id.clone(),
            "--bundle".into(),
            self.bundle.display().to_string(),
            "--state-dir".into(),
            self.state_dir.display().to_string(),
            "--cgroup".into(),
            self.cgroup_path.clone(),
            "--pid".into(),
            self.pid.to_string(),
            "--log".into(),
            self.log_path.display().to_string(),
            "--log-max-file".into(),
            self.log_max_files.to_string(),
            "--report-fd".into(),
            self.report.to_string(),
            "--listener-fd".into(),
            self.listener.to_string(),
        ];
        if let Some(n) = self.log_max_size {
            a.extend(["--log-max-size".into(), n.to_string()]);
        }
        match self.output {
            Output::Pipes { stdout, stderr } => a.extend([
                "--stdout-fd".into(),
                stdout.to_string(),
                "--stderr-fd".into(),
                stderr.to_string(),
            ]),
            Output::Terminal { master } => a.extend(["--master-fd".into(), master.to_string()]),
        }
        if let Some(fd) = self.stdin {
            a.extend(["--stdin-fd".into(), fd.to_string()]);
        }
        if self.stdin_once {
            a.push("--stdin-once".into());
        }
        a
    }

    /// Parses what [`Monitor::to_args`] wrote.
    pub fn from_args(args: &[String]) -> Result<Monitor, String> {
        let mut it = args.iter();
        let mut m = Monitor {
            id: String::new(),
            bundle: PathBuf::new(),
            state_dir: PathBuf::new(),
            cgroup_path: String::new(),
            pid: 0,
            log_path: PathBuf::new(),
            log_max_size: None,
            log_max_files: 1,
            stdin_once: false,
            report: -1,
            listener: -1,
            output: Output::Pipes {
                stdout: -1,
                stderr: -1,
            },
            stdin: None,
        };
        let (mut stdout, mut stderr, mut master) = (None, None, None);
        while let Some(flag) = it.next() {
            if flag == "--stdin-once" {
                m.stdin_once = true;
                continue;
            }
            let value = it
                .next()
                .ok_or_else(|| format!("berth-shim: {flag} needs a value"))?;
            let num = |v: &str| -> Result<i64, String> {
                v.parse()
                    .map_err(|_| format!("berth-shim: {flag}: {v:?} is not a number"))
            };
            match flag.as_str() {
                "--id" => m.id = value.clone(),
                "--bundle" => m.bundle = value.into(),
                "--state-dir" => m.state_dir = value.into(),
                "--cgroup" => m.cgroup_path = value.clone(),
                "--pid" => m.pid = num(value)? as i32,
                "--log" => m.log_path = value.into(),
                "--log-max-size" => m.log_max_size = Some(num(value)? as u64),
                "--log-max-file" => m.log_max_files = num(value)?.max(1) as u32,
                "--report-fd" => m.report = num(value)? as RawFd,
                "--listener-fd" => m.listener = num(value)? as RawFd,
                "--stdout-fd" => stdout = Some(num(value)? as RawFd),
                "--stderr-fd" => stderr = Some(num(value)? as RawFd),
                "--master-fd" => master = Some(num(value)? as RawFd),
                "--stdin-fd" => m.stdin = Some(num(value)? as RawFd),
                other => return Err(format!("berth-shim: unknown flag {other}")),
            }
        }
        m.output = match (stdout, stderr, master) {
            (Some(stdout), Some(stderr), None) => Output::Pipes { stdout, stderr },
            (None, None, Some(master)) => Output::Terminal { master },
            _ => return Err("berth-shim: give --stdout-fd and --stderr-fd, or --master-fd".into()),
        };
        if m.id.is_empty() || m.pid <= 0 || m.report < 0 || m.listener < 0 {
            return Err("berth-shim: --id, --pid, --report-fd and --listener-fd are required (it is started by `berth shim`, not by hand)".into());
        }
        Ok(m)
    }
}

/// The shim's own log (`shim.log` in the bundle), kept by the creator and
/// the monitor alike.
pub struct ShimLog(Option<File>);

impl ShimLog {
    /// Opens (appends to) the bundle's `shim.log`; without it, says nothing.
    pub fn open(bundle: &Path) -> ShimLog {
        ShimLog(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(bundle.join("shim.log"))
                .ok(),
        )
    }

    /// Appends one timestamped line.
    pub fn say(&mut self, msg: &str) {
        if let Some(f) = self.0.as_mut() {
            let _ = writeln!(f, "{} {msg}", now());
        }
    }
}

/// The json-file log writer, with rotation.
pub struct JsonLog {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    max_size: Option<u64>,
    max_files: u32,
}

impl JsonLog {
    /// Opens (creates) the log at `path`; an empty path keeps no log (the
    /// `none` driver).
    pub fn open(path: &Path, max_size: Option<u64>, max_files: u32) -> std::io::Result<JsonLog> {
        if path.as_os_str().is_empty() {
            return Ok(JsonLog {
                path: PathBuf::new(),
                file: None,
                size: 0,
                max_size: None,
                max_files: 1,
            });
        }
        if let Some(d) = path.parent() {
            fs::create_dir_all(d)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(JsonLog {
            path: path.to_path_buf(),
            file: Some(file),
            size,
            max_size,
            max_files: max_files.max(1),
        })
    }

    /// Appends one entry (a line, or a piece of a long one).
    pub fn write(&mut self, stream: &str, line: &[u8]) {
        let entry = json!({"log": String::from_utf8_lossy(line), "stream": stream, "time": now()});
        let mut bytes = serde_json::to_vec(&entry).unwrap_or_default();
        bytes.push(b'\n');
        if let Some(max) = self.max_size {
            if self.size > 0 && self.size + bytes.len() as u64 > max {
                self.rotate();
            }
        }
        if let Some(f) = self.file.as_mut() {
            if f.write_all(&bytes).is_ok() {
                self.size += bytes.len() as u64;
            }
        }
    }

    fn rotate(&mut self) {
        self.file = None;
        let name = |i: u32| PathBuf::from(format!("{}.{i}", self.path.display()));
        if self.max_files <= 1 {
            let _ = fs::remove_file(&self.path);
        } else {
            let _ = fs::remove_file(name(self.max_files - 1));
            for i in (1..self.max_files - 1).rev() {
                let _ = fs::rename(name(i), name(i + 1));
            }
            let _ = fs::rename(&self.path, name(1));
        }
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .ok();
        self.size = 0;
    }
}

/// Shared state between the monitor's threads.
struct Shared {
    log: Mutex<JsonLog>,
    clients: Mutex<Vec<(UnixStream, bool, bool)>>,
    exit: Mutex<Option<ExitStatus>>,
    exited: Condvar,
    stdin: Mutex<Option<File>>,
    pid: i32,
    /// libcontainer's directory for the container (its `notify.sock`).
    state_dir: PathBuf,
    /// Taken by the one `start`, which tells the main thread how it went.
    start_tx: Mutex<Option<StartSender>>,
    /// The terminal's master, for resizes.
    master: Option<RawFd>,
}

type StartSender = Sender<Result<(), String>>;

fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + data.len());
    out.extend_from_slice(&[stream, 0, 0, 0]);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// Threads of the monitor need little stack.
fn spawn<F: FnOnce() + Send + 'static>(f: F) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().stack_size(128 << 10).spawn(f)
}

/// Copies a terminal's output to attached clients as it comes (a prompt
/// has no newline) and into the log a line at a time.
fn pump_tty(shared: Arc<Shared>, mut master: File) {
    let mut buf = vec![0u8; 32 << 10];
    let mut line: Vec<u8> = Vec::new();
    loop {
        // EIO once the last process holding the terminal has gone.
        let n = match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let data = &buf[..n];
        if let Ok(mut clients) = shared.clients.lock() {
            clients.retain_mut(|(c, out, _)| !*out || c.write_all(data).is_ok());
        }
        line.extend_from_slice(data);
        let mut start = 0;
        while let Some(pos) = line[start..].iter().position(|b| *b == b'\n') {
            if let Ok(mut l) = shared.log.lock() {
                l.write("stdout", &line[start..start + pos + 1]);
            }
            start += pos + 1;
        }
        line.drain(..start);
        if line.len() >= 16 << 10 {
            if let Ok(mut l) = shared.log.lock() {
                l.write("stdout", &line);
            }
            line.clear();
        }
    }
    if !line.is_empty() {
        if let Ok(mut l) = shared.log.lock() {
            l.write("stdout", &line);
        }
    }
}

/// Copies one output pipe into the log and to attached clients, a line at a
/// time for the log (as Docker's json-file does).
fn pump(shared: Arc<Shared>, pipe: File, stream: &'static str) {
    let id: u8 = if stream == "stdout" { 1 } else { 2 };
    let mut r = BufReader::with_capacity(64 << 10, pipe);
    let mut line = Vec::new();
    loop {
        line.clear();
        // Lines longer than 16 KiB are split, as Docker does.
        let n = match (&mut r).take(16 << 10).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let data = &line[..n];
        if let Ok(mut l) = shared.log.lock() {
            l.write(stream, data);
        }
        if let Ok(mut clients) = shared.clients.lock() {
            let f = frame(id, data);
            clients.retain_mut(|(c, out, err)| {
                let wanted = if id == 1 { *out } else { *err };
                !wanted || c.write_all(&f).is_ok()
            });
        }
    }
}

fn serve_client(shared: Arc<Shared>, mut conn: UnixStream, stdin_once: bool) {
    let mut reader = match conn.try_clone() {
        Ok(c) => BufReader::new(c),
        Err(_) => return,
    };
    let mut req = String::new();
    if reader.read_line(&mut req).is_err() {
        return;
    }
    let req: Value = serde_json::from_str(req.trim()).unwrap_or(Value::Null);
    match req["op"].as_str().unwrap_or("") {
        "start" => {
            // Started here, in the client's thread, and answered at once;
            // the main thread learns of it after.
            let Some(done) = shared.start_tx.lock().ok().and_then(|mut g| g.take()) else {
                let _ = write_json_line(
                    &mut conn,
                    &json!({"error": "the container was already started"}),
                );
                return;
            };
            let started = start_container(&shared.state_dir)
                .map_err(|e| format!("failed to start the container: {e}"));
            let reply = match &started {
                Ok(()) => json!({"ok": true}),
                Err(e) => json!({"error": e}),
            };
            let _ = write_json_line(&mut conn, &reply);
            let _ = done.send(started);
        }
        "wait" => {
            let mut guard = match shared.exit.lock() {
                Ok(g) => g,
                Err(_) => return,
            };
            while guard.is_none() {
                guard = match shared.exited.wait(guard) {
                    Ok(g) => g,
                    Err(_) => return,
                };
            }
            let status = guard.clone().unwrap_or_default();
            drop(guard);
            let _ = write_json_line(&mut conn, &status);
        }
        "kill" => {
            let sig = req["signal"].as_i64().unwrap_or(15) as i32;
            let r = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(shared.pid),
                nix::sys::signal::Signal::try_from(sig).ok(),
            );
            let reply = match r {
                Ok(()) => json!({"ok": true}),
                Err(e) => json!({"error": e.to_string()}),
            };
            let _ = write_json_line(&mut conn, &reply);
        }
        "resize" => {
            let h = req["h"].as_u64().unwrap_or(0).min(u16::MAX as u64) as u16;
            let w = req["w"].as_u64().unwrap_or(0).min(u16::MAX as u64) as u16;
            let reply = match shared.master {
                Some(m) => match crate::resize_terminal(m, h, w) {
                    Ok(()) => json!({"ok": true}),
                    Err(e) => json!({"error": e.to_string()}),
                },
                None => json!({"ok": true}),
            };
            let _ = write_json_line(&mut conn, &reply);
        }
        "state" => {
            let running = shared.exit.lock().map(|g| g.is_none()).unwrap_or(false);
            let _ = write_json_line(&mut conn, &json!({"pid": shared.pid, "running": running}));
        }
        "attach" => {
            let want_out = req["stdout"].as_bool().unwrap_or(true);
            let want_err = req["stderr"].as_bool().unwrap_or(true);
            let want_in = req["stdin"].as_bool().unwrap_or(false);
            if want_out || want_err {
                if let (Ok(c), Ok(mut clients)) = (conn.try_clone(), shared.clients.lock()) {
                    clients.push((c, want_out, want_err));
                }
            }
            if write_json_line(&mut conn, &json!({"ok": true})).is_err() {
                return;
            }
            if want_in {
                // On the heap: a frame this large would be touched (stack
                // probes) by every client thread, attached or not.
                let mut buf = vec![0u8; 32 << 10];
                loop {
                    let n = match reader.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let ok = match shared.stdin.lock() {
                        Ok(mut s) => match s.as_mut() {
                            Some(f) => f.write_all(&buf[..n]).is_ok(),
                            None => false,
                        },
                        Err(_) => false,
                    };
                    if !ok {
                        break;
                    }
                }
                // A terminal's stdin stays open (as Docker's): a detached
                // shell waits for the next attach.
                if stdin_once && shared.master.is_none() {
                    if let Ok(mut s) = shared.stdin.lock() {
                        *s = None;
                    }
                }
            }
        }
        _ => {
            let _ = write_json_line(&mut conn, &json!({"error": "unknown request"}));
        }
    }
}

/// Reads the OOM-kill counter of the container's memory cgroup (v1 and v2).
fn oom_kills(cgroup_path: &str) -> u64 {
    let rel = cgroup_path.trim_start_matches('/');
    let candidates = [
        format!("/sys/fs/cgroup/memory/{rel}/memory.oom_control"),
        format!("/sys/fs/cgroup/{rel}/memory.events"),
    ];
    for p in candidates {
        if let Ok(s) = fs::read_to_string(&p) {
            if let Some(n) = s
                .lines()
                .find_map(|l| l.strip_prefix("oom_kill "))
                .and_then(|v| v.trim().parse().ok())
            {
                return n;
            }
        }
    }
    0
}

/// Lets a created container run: libcontainer's init waits on its
/// `notify.sock` for these words (reached through /proc/self/fd, as the
/// full path may pass the 107 bytes a socket path can have).
fn start_container(state_dir: &Path) -> Result<(), String> {
    let dir = File::open(state_dir)
        .map_err(|e| format!("opening the runtime state {}: {e}", state_dir.display()))?;
    let sock = format!("/proc/self/fd/{}/notify.sock", dir.as_raw_fd());
    let mut s = UnixStream::connect(&sock)
        .map_err(|e| format!("reaching the container's init ({sock}): {e}"))?;
    s.write_all(b"start container")
        .map_err(|e| format!("starting the container's init: {e}"))
}

/// The container's cgroup directories: in each v1 hierarchy and in the v2
/// one (`/sys/fs/cgroup` itself on a unified host).
fn cgroup_dirs(cgroup_path: &str) -> Vec<PathBuf> {
    let rel = cgroup_path.trim_start_matches('/');
    if rel.is_empty() {
        return Vec::new();
    }
    let root = Path::new("/sys/fs/cgroup");
    let mut dirs = vec![root.join(rel)];
    if let Ok(rd) = fs::read_dir(root) {
        dirs.extend(rd.flatten().map(|e| e.path().join(rel)));
    }
    dirs.retain(|d| d.is_dir());
    dirs
}

/// Kills what is left in the container's cgroup (processes of a `--pid
/// host` container outlive its init) and removes the cgroup, as
/// libcontainer's forced delete does.
fn remove_cgroup(cgroup_path: &str, slog: &mut ShimLog) {
    let deadline = Instant::now() + Duration::from_secs(5);
    // Most often every process is gone and no cgroup was made below: one
    // rmdir a hierarchy, nothing read.
    let mut dirs = cgroup_dirs(cgroup_path);
    dirs.retain(|d| fs::remove_dir(d).is_err() && d.exists());
    if dirs.is_empty() {
        return;
    }
    loop {
        let dirs = cgroup_dirs(cgroup_path);
        if dirs.is_empty() {
            return;
        }
        for d in &dirs {
            if let Ok(procs) = fs::read_to_string(d.join("cgroup.procs")) {
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
            remove_tree(d);
        }
        // Orphans re-parented to us.
        while let Ok(s) = nix::sys::wait::waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG))
        {
            if s == nix::sys::wait::WaitStatus::StillAlive {
                break;
            }
        }
        if cgroup_dirs(cgroup_path).is_empty() {
            return;
        }
        if Instant::now() > deadline {
            let left: Vec<String> = cgroup_dirs(cgroup_path)
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            slog.say(&format!("cgroup not removed: {}", left.join(", ")));
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Removes a cgroup directory and the ones below it (rmdir, depth first).
fn remove_tree(d: &Path) {
    if let Ok(rd) = fs::read_dir(d) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&e.path());
            }
        }
    }
    let _ = fs::remove_dir(d);
}

/// Takes ownership of an inherited descriptor.
fn own(fd: RawFd) -> File {
    // SAFETY: the creator handed this descriptor to the monitor alone.
    unsafe { File::from_raw_fd(fd) }
}

impl Monitor {
    /// Runs the monitor until the container has ended; returns the
    /// process's exit code.
    pub fn run(self) -> i32 {
        let mut slog = ShimLog::open(&self.bundle);
        let mut report = own(self.report);
        // SAFETY: the listener was bound by the creator and handed over.
        let listener = unsafe { UnixListener::from_raw_fd(self.listener) };
        let send = |report: &mut File, r: &StartReport| {
            let _ = r.write_line(report);
        };
        let log = match JsonLog::open(&self.log_path, self.log_max_size, self.log_max_files) {
            Ok(l) => l,
            Err(e) => {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(self.pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                send(&mut report, &crate::log_open_error(&self.log_path, &e));
                return 1;
            }
        };
        let master = match self.output {
            Output::Terminal { master } => Some(OwnedFd::from(own(master))),
            Output::Pipes { .. } => None,
        };
        let (start_tx, start_rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            log: Mutex::new(log),
            clients: Mutex::new(Vec::new()),
            exit: Mutex::new(None),
            exited: Condvar::new(),
            stdin: Mutex::new(self.stdin.map(own)),
            pid: self.pid,
            state_dir: self.state_dir.clone(),
            start_tx: Mutex::new(Some(start_tx)),
            master: master.as_ref().map(|m| m.as_raw_fd()),
        });
        // Each pump says when its stream has ended.
        let (drained_tx, drained) = mpsc::channel::<()>();
        let mut pumps = 0;
        match self.output {
            Output::Terminal { .. } => {
                if let Some(m) = master.as_ref().and_then(|m| m.try_clone().ok()) {
                    let s = shared.clone();
                    let done = drained_tx.clone();
                    pumps += usize::from(
                        spawn(move || {
                            pump_tty(s, File::from(m));
                            let _ = done.send(());
                        })
                        .is_ok(),
                    );
                }
            }
            Output::Pipes { stdout, stderr } => {
                for (fd, name) in [(stdout, "stdout"), (stderr, "stderr")] {
                    let s = shared.clone();
                    let pipe = own(fd);
                    let done = drained_tx.clone();
                    pumps += usize::from(
                        spawn(move || {
                            pump(s, pipe, name);
                            let _ = done.send(());
                        })
                        .is_ok(),
                    );
                }
            }
        }
        drop(drained_tx);
        {
            let s = shared.clone();
            let once = self.stdin_once;
            let _ = spawn(move || {
                for conn in listener.incoming().flatten() {
                    let s = s.clone();
                    let _ = spawn(move || serve_client(s, conn, once));
                }
            });
        }
        send(
            &mut report,
            &StartReport {
                pid: Some(self.pid),
                error: None,
                exit_code: None,
            },
        );
        drop(report);
        slog.say(&format!("container {} created, pid {}", self.id, self.pid));
        // Wait for the daemon's go (bounded: a daemon that died meanwhile must
        // not leave a created container behind forever).
        let failed = match start_rx.recv_timeout(Duration::from_secs(120)) {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some("never told to start: giving up".to_string()),
        };
        match failed {
            None => slog.say("started"),
            Some(e) => {
                slog.say(&e);
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(self.pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        // What the hand-over and the start allocated is free now: give it
        // back, as this process stays for the container's whole life.
        // SAFETY: malloc_trim only releases free heap memory.
        unsafe { libc::malloc_trim(0) };
        // Reap: the init's status is the container's; others are orphans.
        let code = loop {
            match nix::sys::wait::waitpid(None, None) {
                Ok(nix::sys::wait::WaitStatus::Exited(p, c)) if p.as_raw() == self.pid => break c,
                Ok(nix::sys::wait::WaitStatus::Signaled(p, sig, _)) if p.as_raw() == self.pid => {
                    break 128 + sig as i32
                }
                Ok(_) => continue,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    slog.say(&format!("waitpid: {e}"));
                    break 255;
                }
            }
        };
        // Let the output drain (bounded: a process outside the PID namespace may
        // hold the pipes open).
        let deadline = Instant::now() + Duration::from_secs(2);
        for _ in 0..pumps {
            let left = deadline.saturating_duration_since(Instant::now());
            if drained.recv_timeout(left).is_err() {
                break;
            }
        }
        let status = ExitStatus {
            exit_code: code,
            oom_killed: oom_kills(&self.cgroup_path) > 0,
            finished_at: now(),
        };
        let tmp = self.bundle.join("exit.json.tmp");
        if fs::write(&tmp, serde_json::to_vec(&status).unwrap_or_default())
            .and_then(|_| fs::rename(&tmp, self.bundle.join("exit.json")))
            .is_err()
        {
            slog.say("cannot write exit.json");
        }
        remove_cgroup(&self.cgroup_path, &mut slog);
        if let Err(e) = fs::remove_dir_all(&self.state_dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                slog.say(&format!("removing {}: {e}", self.state_dir.display()));
            }
        }
        // Take the socket's name away before anyone learns of the exit: once
        // they do, a new shim for the same container may bind that name, and
        // removing it later would cut the new shim off.
        let _ = fs::remove_file(crate::socket_path(&self.bundle));
        if let Ok(mut g) = shared.exit.lock() {
            *g = Some(status);
        }
        shared.exited.notify_all();
        // Close attached streams so clients see the end.
        if let Ok(mut clients) = shared.clients.lock() {
            for (c, _, _) in clients.drain(..) {
                let _ = c.shutdown(std::net::Shutdown::Both);
            }
        }
        // Give waiters a moment to read the status, then go.
        std::thread::sleep(Duration::from_millis(50));
        slog.say(&format!("container {} exited with {code}", self.id));
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(output: Output, stdin: Option<RawFd>) -> Monitor {
        Monitor {
            id: "abc".into(),
            bundle: "/run/berth/containers/abc".into(),
            state_dir: "/run/berth/runtime/abc".into(),
            cgroup_path: "/berth/abc".into(),
            pid: 4242,
            log_path: "/var/lib/berth/containers/abc/abc-json.log".into(),
            log_max_size: Some(1 << 20),
            log_max_files: 3,
            stdin_once: true,
            report: 3,
            listener: 4,
            output,
            stdin,
        }
    }

    #[test]
    fn arguments_round_trip() {
        for m in [
            sample(
                Output::Pipes {
                    stdout: 5,
                    stderr: 6,
                },
                Some(7),
            ),
            sample(Output::Terminal { master: 5 }, None),
        ] {
            assert_eq!(Monitor::from_args(&m.to_args()), Ok(m.clone()));
            assert!(m.fds().contains(&5));
        }
    }

    #[test]
    fn bad_arguments_say_what_is_wrong() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let e = Monitor::from_args(&args(&["--pid", "x"])).unwrap_err();
        assert!(e.contains("--pid") && e.contains("not a number"), "{e}");
        let e = Monitor::from_args(&args(&["--id"])).unwrap_err();
        assert!(e.contains("needs a value"), "{e}");
        let e = Monitor::from_args(&args(&[
            "--id",
            "a",
            "--pid",
            "1",
            "--report-fd",
            "3",
            "--listener-fd",
            "4",
        ]))
        .unwrap_err();
        assert!(e.contains("--stdout-fd"), "{e}");
        let e = Monitor::from_args(&args(&["--stdout-fd", "5", "--stderr-fd", "6"])).unwrap_err();
        assert!(e.contains("not by hand"), "{e}");
        let e = Monitor::from_args(&args(&["--bogus", "1"])).unwrap_err();
        assert!(e.contains("unknown flag --bogus"), "{e}");
    }

    #[test]
    fn json_log_rotates_and_keeps_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut log = JsonLog::open(&path, Some(200), 3).unwrap();
        for i in 0..20 {
            log.write("stdout", format!("line {i}\n").as_bytes());
        }
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["c-json.log", "c-json.log.1", "c-json.log.2"]);
        let last = fs::read_to_string(&path).unwrap();
        let entry: Value = serde_json::from_str(last.lines().last().unwrap()).unwrap();
        assert_eq!(entry["log"], "line 19\n");
        assert_eq!(entry["stream"], "stdout");
        for n in &names {
            assert!(
                fs::metadata(dir.path().join(n)).unwrap().len() <= 200,
                "{n}"
            );
        }
    }

    #[test]
    fn no_log_path_keeps_nothing() {
        let mut log = JsonLog::open(Path::new(""), None, 1).unwrap();
        log.write("stdout", b"x\n");
        assert!(log.file.is_none());
    }
}
