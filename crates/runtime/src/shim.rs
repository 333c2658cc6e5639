//! `berth shim`: one per container. It starts the container through
//! libcontainer (which forks, so this process stays single-threaded until the
//! container runs), then owns everything the container leaves behind: its
//! stdout/stderr (written to the json-file log and to attached clients), its
//! stdin, and its exit status (`exit.json`, written then renamed). It serves
//! the daemon on its socket (see [`socket_path`]), so a restarted daemon
//! reconnects to running containers.
//!
//! The container is created first (its init waits), the socket opens, and
//! only `{"op":"start"}` lets it run: the daemon attaches clients in between,
//! so not a byte of output is lost.
//!
//! Protocol on the socket: the client sends one JSON line, then
//! - `{"op":"start"}`: `{"ok":true}` once the process runs, or `{"error":…}`;
//! - `{"op":"wait"}`: one JSON line back when the container has exited;
//! - `{"op":"kill","signal":N}`: `{"ok":true}` or `{"error":…}`;
//! - `{"op":"state"}`: `{"pid":N,"running":bool}`;
//! - `{"op":"attach","stdin":b,"stdout":b,"stderr":b}`: the output streams
//!   follow in Docker's multiplexed framing (8-byte header); bytes the client
//!   sends go to the container's stdin, and its half-close closes stdin.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Arguments of `berth shim`.
#[derive(Debug, Clone)]
pub struct ShimArgs {
    /// Container ID.
    pub id: String,
    /// Bundle directory (holds config.json; gets exit.json and shim.log).
    pub bundle: PathBuf,
    /// libcontainer's state root.
    pub state_root: PathBuf,
    /// The json-file log (empty: keep none).
    pub log_path: PathBuf,
    /// Rotate the log past this size (bytes).
    pub log_max_size: Option<u64>,
    /// Keep this many log files in all.
    pub log_max_files: u32,
    /// Keep the container's stdin open for attach.
    pub stdin: bool,
    /// Close stdin when the first attached client detaches.
    pub stdin_once: bool,
    /// Give the container a pseudo-terminal (its stdio, one raw stream).
    pub tty: bool,
}

/// How a container ended (`exit.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ExitStatus {
    /// Exit code (128+signal when killed).
    pub exit_code: i32,
    /// The cgroup's OOM killer fired.
    pub oom_killed: bool,
    /// When, RFC 3339.
    pub finished_at: String,
}

/// What the shim reports on its stdout once the container runs (or fails).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartReport {
    /// PID of the container's init process, on the host.
    pub pid: Option<i32>,
    /// Why it could not start.
    pub error: Option<String>,
    /// Exit code Docker gives this failure (127 not found, 126 not executable).
    pub exit_code: Option<i32>,
}

/// Reads `exit.json` from a bundle, if the container has ended.
pub fn read_exit(bundle: &Path) -> Option<ExitStatus> {
    let b = fs::read(bundle.join("exit.json")).ok()?;
    serde_json::from_slice(&b).ok()
}

/// The shim's socket path in a bundle.
/// Unix socket paths are limited to 107 bytes, so the socket lives in a
/// short directory beside the bundles (`<exec-root>/s/<16 hex>.sock`), not in
/// the bundle itself.
pub fn socket_path(bundle: &Path) -> PathBuf {
    let name: String = bundle
        .file_name()
        .map(|n| n.to_string_lossy().chars().take(16).collect())
        .unwrap_or_default();
    let base = bundle.parent().and_then(|p| p.parent()).unwrap_or(bundle);
    base.join("s").join(format!("{name}.sock"))
}

/// Where libcontainer hands a TTY container's terminal to its shim.
fn console_path(bundle: &Path) -> PathBuf {
    socket_path(bundle).with_extension("tty")
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

struct ShimLog(Option<File>);

impl ShimLog {
    fn say(&mut self, msg: &str) {
        if let Some(f) = self.0.as_mut() {
            let _ = writeln!(f, "{} {msg}", now());
        }
    }
}

/// The json-file log writer, with rotation.
struct JsonLog {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    max_size: Option<u64>,
    max_files: u32,
}

impl JsonLog {
    fn open(path: &Path, max_size: Option<u64>, max_files: u32) -> std::io::Result<JsonLog> {
        // No path: the `none` log driver, nothing is kept.
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

    fn write(&mut self, stream: &str, line: &[u8]) {
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

/// Shared state between the shim's threads.
struct Shared {
    log: Mutex<JsonLog>,
    clients: Mutex<Vec<(UnixStream, bool, bool)>>,
    exit: Mutex<Option<ExitStatus>>,
    exited: Condvar,
    stdin: Mutex<Option<File>>,
    pid: i32,
    start_tx: Mutex<Option<StartSender>>,
    /// The terminal's master, for resizes.
    master: Option<OwnedFd>,
}

type StartSender = std::sync::mpsc::Sender<std::sync::mpsc::Sender<Result<(), String>>>;

fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + data.len());
    out.extend_from_slice(&[stream, 0, 0, 0]);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
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

/// Receives the terminal master libcontainer sends on the console socket.
fn receive_console(listener: &UnixListener) -> std::io::Result<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    listener.set_nonblocking(true)?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let conn = loop {
        match listener.accept() {
            Ok((c, _)) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if std::time::Instant::now() > deadline {
                    return Err(std::io::Error::other("the terminal never arrived"));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e),
        }
    };
    conn.set_nonblocking(false)?;
    let mut buf = [0u8; 64];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(std::io::Error::from)?;
    for c in msg.cmsgs().map_err(std::io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel just gave us this descriptor.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(std::io::Error::other("no terminal in the console message"))
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
            let (tx, rx) = std::sync::mpsc::channel();
            let sent = shared
                .start_tx
                .lock()
                .ok()
                .and_then(|mut g| g.take())
                .map(|s| s.send(tx).is_ok())
                .unwrap_or(false);
            let reply = if !sent {
                json!({"error": "the container was already started"})
            } else {
                match rx.recv() {
                    Ok(Ok(())) => json!({"ok": true}),
                    Ok(Err(e)) => json!({"error": e}),
                    Err(_) => json!({"error": "the shim stopped"}),
                }
            };
            let _ = writeln!(conn, "{reply}");
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
            let _ = writeln!(
                conn,
                "{}",
                serde_json::to_string(&status).unwrap_or_default()
            );
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
            let _ = writeln!(conn, "{reply}");
        }
        "resize" => {
            let h = req["h"].as_u64().unwrap_or(0).min(u16::MAX as u64) as u16;
            let w = req["w"].as_u64().unwrap_or(0).min(u16::MAX as u64) as u16;
            let reply = match shared.master.as_ref() {
                Some(m) => match crate::exec::resize_terminal(m.as_raw_fd(), h, w) {
                    Ok(()) => json!({"ok": true}),
                    Err(e) => json!({"error": e.to_string()}),
                },
                None => json!({"ok": true}),
            };
            let _ = writeln!(conn, "{reply}");
        }
        "state" => {
            let running = shared.exit.lock().map(|g| g.is_none()).unwrap_or(false);
            let _ = writeln!(conn, "{}", json!({"pid": shared.pid, "running": running}));
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
            if writeln!(conn, "{}", json!({"ok": true})).is_err() {
                return;
            }
            if want_in {
                let mut buf = [0u8; 32 << 10];
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
            let _ = writeln!(conn, "{}", json!({"error": "unknown request"}));
        }
    }
}

fn pipe() -> std::io::Result<(File, OwnedFd)> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(std::io::Error::from)?;
    Ok((File::from(r), w))
}

/// Maps a libcontainer start error to Docker's wording and exit code.
fn start_error(msg: &str) -> (String, i32) {
    if let Some(rest) = msg.split("executable '").nth(1) {
        let name = rest.split('\'').next().unwrap_or("");
        if msg.contains("not found") {
            return (
                format!("failed to create task for container: unable to start container process: exec: \"{name}\": executable file not found in $PATH: unknown"),
                127,
            );
        }
        if msg.contains("permissions") {
            return (
                format!("failed to create task for container: unable to start container process: exec: \"{name}\": permission denied: unknown"),
                126,
            );
        }
    }
    (format!("failed to create task for container: {msg}"), 128)
}

/// Reads the OOM-kill counter of the container's memory cgroup (v1 and v2).
fn oom_kills(cgroup_path: &str) -> u64 {
    let rel = cgroup_path.trim_start_matches('/');
    let candidates = [
        (
            format!("/sys/fs/cgroup/memory/{rel}/memory.oom_control"),
            "oom_kill ",
        ),
        (format!("/sys/fs/cgroup/{rel}/memory.events"), "oom_kill "),
    ];
    for (p, key) in candidates {
        if let Ok(s) = fs::read_to_string(&p) {
            if let Some(n) = s
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().parse().ok())
            {
                return n;
            }
        }
    }
    0
}

/// Runs the shim; returns the process exit code. The process forks first:
/// the parent returns at once (so the daemon can reap it) and the child,
/// re-parented away from the daemon, carries on.
pub fn run(args: ShimArgs) -> i32 {
    // SAFETY: the shim is a fresh, single-threaded process here.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { .. }) => return 0,
        Ok(nix::unistd::ForkResult::Child) => {}
        Err(_) => return 2,
    }
    // Our stdout carries the start report to the daemon; keep it apart.
    let report_fd = match nix::fcntl::fcntl(1, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3)) {
        Ok(fd) => fd,
        Err(_) => return 2,
    };
    // SAFETY: report_fd was just duplicated and is owned by nothing else.
    let mut report = unsafe { File::from_raw_fd(report_fd) };
    let mut slog = ShimLog(
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(args.bundle.join("shim.log"))
            .ok(),
    );
    let send = |report: &mut File, r: &StartReport| {
        let _ = writeln!(report, "{}", serde_json::to_string(r).unwrap_or_default());
    };
    let _ = nix::unistd::setsid();
    // Orphans inside the container (and its init) are re-parented to us.
    // SAFETY: plain prctl with integer arguments.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
    if let Ok(null) = OpenOptions::new().read(true).write(true).open("/dev/null") {
        for fd in 0..3 {
            let _ = nix::unistd::dup2(null.as_raw_fd(), fd);
        }
    }
    let config: Value =
        match fs::read(args.bundle.join("config.json")).map(|b| serde_json::from_slice(&b)) {
            Ok(Ok(v)) => v,
            _ => {
                send(
                    &mut report,
                    &StartReport {
                        pid: None,
                        error: Some("shim: cannot read config.json".into()),
                        exit_code: None,
                    },
                );
                return 1;
            }
        };
    let cgroup_path = config["linux"]["cgroupsPath"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let log = match JsonLog::open(&args.log_path, args.log_max_size, args.log_max_files) {
        Ok(l) => l,
        Err(e) => {
            send(
                &mut report,
                &StartReport {
                    pid: None,
                    error: Some(format!(
                        "opening the container log {}: {e}",
                        args.log_path.display()
                    )),
                    exit_code: None,
                },
            );
            return 1;
        }
    };
    let pipes = (|| -> std::io::Result<_> { Ok((pipe()?, pipe()?, pipe()?)) })();
    let ((out_r, out_w), (err_r, err_w), (in_r, in_w)) = match pipes {
        Ok(p) => p,
        Err(e) => {
            send(
                &mut report,
                &StartReport {
                    pid: None,
                    error: Some(format!("creating pipes: {e}")),
                    exit_code: None,
                },
            );
            return 1;
        }
    };
    // in_r is the container's stdin: the read end of our pipe. in_r is a
    // File; the write end (OwnedFd) stays with us.
    let (stdin_for_container, stdin_writer): (OwnedFd, Option<File>) = if args.stdin {
        (OwnedFd::from(in_r), Some(File::from(in_w)))
    } else {
        drop(in_w);
        drop(in_r);
        match OpenOptions::new().read(true).open("/dev/null") {
            Ok(f) => (OwnedFd::from(f), None),
            Err(e) => {
                send(
                    &mut report,
                    &StartReport {
                        pid: None,
                        error: Some(format!("opening /dev/null: {e}")),
                        exit_code: None,
                    },
                );
                return 1;
            }
        }
    };
    // A TTY container's terminal is made inside it (its own devpts) and
    // handed to us on a console socket.
    let console = if args.tty {
        let path = console_path(&args.bundle);
        if let Some(dir) = path.parent() {
            let _ = fs::create_dir_all(dir);
        }
        let _ = fs::remove_file(&path);
        match UnixListener::bind(&path) {
            Ok(l) => Some((l, path)),
            Err(e) => {
                send(
                    &mut report,
                    &StartReport {
                        pid: None,
                        error: Some(format!("console socket {}: {e}", path.display())),
                        exit_code: None,
                    },
                );
                return 1;
            }
        }
    } else {
        None
    };
    let console_sock = console.as_ref().map(|(_, p)| p.clone());
    let filter = match crate::filter::Filter::read(&args.bundle) {
        Ok(f) => f,
        Err(e) => {
            send(
                &mut report,
                &StartReport {
                    pid: None,
                    error: Some(format!("seccomp filter: {e}")),
                    exit_code: None,
                },
            );
            return 1;
        }
    };
    let built = libcontainer::container::builder::ContainerBuilder::new(
        args.id.clone(),
        libcontainer::syscall::syscall::SyscallType::Linux,
    )
    .with_root_path(&args.state_root)
    .map(|b| {
        b.with_stdin(stdin_for_container)
            .with_stdout(out_w)
            .with_stderr(err_w)
            .with_console_socket(console_sock)
            .with_executor(crate::filter::FilterExecutor(filter))
    })
    .and_then(|b| {
        b.as_init(&args.bundle)
            .with_systemd(false)
            .with_detach(true)
            .build()
    });
    let mut container = match built {
        Ok(c) => c,
        Err(e) => {
            let (msg, code) = start_error(&format!("{e:?}"));
            slog.say(&format!("create failed: {e:?}"));
            send(
                &mut report,
                &StartReport {
                    pid: None,
                    error: Some(msg),
                    exit_code: Some(code),
                },
            );
            return 1;
        }
    };
    let pid = match container.pid() {
        Some(p) => p.as_raw(),
        None => {
            let _ = container.delete(true);
            send(
                &mut report,
                &StartReport {
                    pid: None,
                    error: Some("the container has no process".into()),
                    exit_code: None,
                },
            );
            return 1;
        }
    };
    let sock_path = socket_path(&args.bundle);
    if let Some(dir) = sock_path.parent() {
        let _ = fs::create_dir_all(dir);
    }
    let _ = fs::remove_file(&sock_path);
    let listener = match UnixListener::bind(&sock_path) {
        Ok(l) => l,
        Err(e) => {
            let _ = container.kill(nix::sys::signal::Signal::SIGKILL, true);
            let _ = container.delete(true);
            send(
                &mut report,
                &StartReport {
                    pid: None,
                    error: Some(format!("shim socket {}: {e}", sock_path.display())),
                    exit_code: None,
                },
            );
            return 1;
        }
    };
    let master = match console {
        Some((listener, path)) => {
            let got = receive_console(&listener);
            let _ = fs::remove_file(&path);
            match got {
                Ok(m) => Some(m),
                Err(e) => {
                    let _ = container.kill(nix::sys::signal::Signal::SIGKILL, true);
                    let _ = container.delete(true);
                    send(
                        &mut report,
                        &StartReport {
                            pid: None,
                            error: Some(format!("setting up the container's terminal: {e}")),
                            exit_code: None,
                        },
                    );
                    return 1;
                }
            }
        }
        None => None,
    };
    // With a terminal, stdin goes to its master and output comes from it.
    let mut stdin_writer = stdin_writer;
    let mut tty_out = None;
    if let Some(m) = master.as_ref() {
        let dup = |m: &OwnedFd| m.try_clone().ok().map(File::from);
        if stdin_writer.is_some() {
            stdin_writer = dup(m);
        }
        tty_out = dup(m);
    }
    let (start_tx, start_rx) = std::sync::mpsc::channel();
    let shared = Arc::new(Shared {
        log: Mutex::new(log),
        clients: Mutex::new(Vec::new()),
        exit: Mutex::new(None),
        exited: Condvar::new(),
        stdin: Mutex::new(stdin_writer),
        pid,
        start_tx: Mutex::new(Some(start_tx)),
        master,
    });
    // From here on, threads are safe: libcontainer is done forking.
    let pumps: Vec<_> = match tty_out {
        Some(m) => {
            drop((out_r, err_r));
            let s = shared.clone();
            vec![std::thread::spawn(move || pump_tty(s, m))]
        }
        None => [(out_r, "stdout"), (err_r, "stderr")]
            .into_iter()
            .map(|(p, name)| {
                let s = shared.clone();
                std::thread::spawn(move || pump(s, p, name))
            })
            .collect(),
    };
    {
        let s = shared.clone();
        let once = args.stdin_once;
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || serve_client(s, conn, once));
            }
        });
    }
    send(
        &mut report,
        &StartReport {
            pid: Some(pid),
            error: None,
            exit_code: None,
        },
    );
    drop(report);
    slog.say(&format!("container {} created, pid {pid}", args.id));
    // Wait for the daemon's go (bounded: a daemon that died meanwhile must
    // not leave a created container behind forever).
    let reply: std::result::Result<std::sync::mpsc::Sender<Result<(), String>>, _> =
        start_rx.recv_timeout(Duration::from_secs(120));
    match reply {
        Ok(reply) => match container.start() {
            Ok(()) => {
                let _ = reply.send(Ok(()));
                slog.say("started");
            }
            Err(e) => {
                let (msg, _) = start_error(&format!("{e:?}"));
                let _ = reply.send(Err(msg));
                let _ = container.kill(nix::sys::signal::Signal::SIGKILL, true);
            }
        },
        Err(_) => {
            slog.say("never told to start: giving up");
            let _ = container.kill(nix::sys::signal::Signal::SIGKILL, true);
        }
    }

    // What creating the container allocated is not needed any more: give it
    // back, so a long-running shim stays small.
    // SAFETY: malloc_trim only releases free heap memory.
    unsafe {
        libc::malloc_trim(0);
    }
    // Reap: the init's status is the container's; others are orphans.
    let code = loop {
        match nix::sys::wait::waitpid(None, None) {
            Ok(nix::sys::wait::WaitStatus::Exited(p, c)) if p.as_raw() == pid => break c,
            Ok(nix::sys::wait::WaitStatus::Signaled(p, sig, _)) if p.as_raw() == pid => {
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
    for p in pumps {
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while !p.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let status = ExitStatus {
        exit_code: code,
        oom_killed: oom_kills(&cgroup_path) > 0,
        finished_at: now(),
    };
    let tmp = args.bundle.join("exit.json.tmp");
    if fs::write(&tmp, serde_json::to_vec(&status).unwrap_or_default())
        .and_then(|_| fs::rename(&tmp, args.bundle.join("exit.json")))
        .is_err()
    {
        slog.say("cannot write exit.json");
    }
    if let Err(e) = container.delete(true) {
        slog.say(&format!("delete: {e:?}"));
    }
    // Take the socket's name away before anyone learns of the exit: once
    // they do, a new shim for the same container may bind that name, and
    // removing it later would cut the new shim off.
    let _ = fs::remove_file(&sock_path);
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
    slog.say(&format!("container {} exited with {code}", args.id));
    0
}

/// Connects to a shim and sends one request; returns the connection for
/// reading the reply (or the attached streams).
pub fn connect(bundle: &Path, request: &Value) -> std::io::Result<UnixStream> {
    let mut s = UnixStream::connect(socket_path(bundle))?;
    writeln!(s, "{request}")?;
    Ok(s)
}
