//! berth's per-container monitor and the protocol the daemon speaks to it.
//!
//! `berth shim` (in the big `berth` binary) creates a container through
//! libcontainer and then execs `berth-shim`, this crate's small binary, which
//! stays for the container's whole life: it owns the container's stdio
//! (written to the json-file log and to attached clients), its stdin and its
//! exit status (`exit.json`, written then renamed), reaps it and removes its
//! cgroup and runtime state when it ends. It serves the daemon on a socket
//! ([`socket_path`]), so a restarted daemon reconnects to running containers.
//! Keeping it a separate, small program keeps each container's overhead
//! small: libcontainer, tokio and the rest of the daemon are not mapped.
//!
//! Protocol on the socket: the client sends one JSON line, then
//! - `{"op":"start"}`: `{"ok":true}` once the process runs, or `{"error":…}`;
//! - `{"op":"wait"}`: one JSON line ([`ExitStatus`]) when the container has exited;
//! - `{"op":"kill","signal":N}`: `{"ok":true}` or `{"error":…}`;
//! - `{"op":"resize","h":N,"w":N}`: resizes the terminal;
//! - `{"op":"state"}`: `{"pid":N,"running":bool}`;
//! - `{"op":"attach","stdin":b,"stdout":b,"stderr":b}`: `{"ok":true}`, then
//!   the output streams in Docker's multiplexed framing (8-byte header, raw
//!   with a terminal); bytes the client sends go to the container's stdin,
//!   and its half-close closes stdin.

pub mod bpf;
pub mod cgroup;
pub mod exec;
pub mod handover;
pub mod monitor;
mod time;

use std::io::Write;
use std::os::fd::{BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use time::now;

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

/// What the shim reports on its stdout once the container is created (or
/// could not be).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartReport {
    /// PID of the container's init process, on the host.
    pub pid: Option<i32>,
    /// Why it could not start.
    pub error: Option<String>,
    /// Exit code Docker gives this failure (127 not found, 126 not executable).
    pub exit_code: Option<i32>,
}

impl StartReport {
    /// Writes the report as one line (see [`write_json_line`]).
    pub fn write_line(&self, out: &mut impl Write) -> std::io::Result<()> {
        write_json_line(out, self)
    }

    /// A start that failed for `error` (no exit code of Docker's own).
    pub fn failed(error: impl Into<String>) -> StartReport {
        StartReport {
            pid: None,
            error: Some(error.into()),
            exit_code: None,
        }
    }
}

/// The start error of a container log that cannot be opened.
pub fn log_open_error(path: &Path, e: &std::io::Error) -> StartReport {
    StartReport::failed(format!("opening the container log {}: {e}", path.display()))
}

/// Writes `v` as JSON and a newline, in one write: the reader (the daemon)
/// takes the line as soon as it arrives, and a line in pieces costs it a
/// wake-up per piece.
pub fn write_json_line(out: &mut impl Write, v: &impl Serialize) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(v).map_err(std::io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)
}

/// Reads `exit.json` from a bundle, if the container has ended.
pub fn read_exit(bundle: &Path) -> Option<ExitStatus> {
    let b = std::fs::read(bundle.join("exit.json")).ok()?;
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
pub fn console_path(bundle: &Path) -> PathBuf {
    socket_path(bundle).with_extension("tty")
}

/// Connects to a shim and sends one request; returns the connection for
/// reading the reply (or the attached streams).
pub fn connect(bundle: &Path, request: &Value) -> std::io::Result<UnixStream> {
    let mut s = UnixStream::connect(socket_path(bundle))?;
    writeln!(s, "{request}")?;
    Ok(s)
}

/// Sets a terminal's window size (`TIOCSWINSZ`) through its master.
pub fn resize_terminal(master: RawFd, height: u16, width: u16) -> std::io::Result<()> {
    let ws = libc::winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize we own for the duration of the call.
    if unsafe { libc::ioctl(master, libc::TIOCSWINSZ, &ws) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The `berth-shim` program: takes over a created container from `berth
/// shim` (see [`monitor::Monitor::to_args`]) and monitors it.
pub fn main() -> i32 {
    // One malloc arena for all threads: the monitor allocates little, and
    // per-thread arenas would each keep pages.
    // SAFETY: mallopt with integer arguments, before any thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }

    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, fd] = args.as_slice() {
        if flag == "--standby-fd" {
            return match fd.parse() {
                // SAFETY: the descriptor was inherited for this purpose and
                // stays open for the whole call.
                Ok(fd) => standby(unsafe { BorrowedFd::borrow_raw(fd) }, None),
                Err(_) => {
                    eprintln!("berth-shim: --standby-fd: {fd:?} is not a descriptor");
                    2
                }
            };
        }
    }
    match monitor::Monitor::from_args(&args) {
        Ok(m) => m.run(),
        Err(e) => {
            eprintln!("{e}");
            2
        }
    }
}

/// `berth-shim --standby-fd N`: a monitor started before its container
/// (see [`handover`]). Its stdout is the report to the daemon; the
/// container arrives on `sock`. Whoever started it made it a child
/// subreaper (the flag outlives the exec), so the container's init, created
/// by its child, becomes its own child when that creator exits. `note`, if
/// any, goes to the container's shim log (why this process monitors).
pub fn standby(sock: BorrowedFd<'_>, note: Option<&str>) -> i32 {
    use std::os::fd::{AsRawFd, IntoRawFd};
    let Ok(mut report) = detach_stdio() else {
        return 2;
    };
    let report_fd = report.as_raw_fd();
    match handover::receive(sock, report_fd) {
        // The monitor owns the report descriptor from here on.
        Ok(Some(m)) => {
            let _ = report.into_raw_fd();
            if let Some(note) = note {
                monitor::ShimLog::open(&m.bundle).say(note);
            }
            m.run()
        }
        // The creator reported its failure itself, or the daemon is gone.
        Ok(None) => 0,
        Err(e) => {
            let _ = StartReport::failed(format!("shim: taking over the container: {e}"))
                .write_line(&mut report);
            1
        }
    }
}

/// Moves stdout, which carries the start report to the daemon, to a
/// close-on-exec descriptor of its own (returned), and points the standard
/// descriptors at /dev/null: the daemon reads nothing else from them.
pub fn detach_stdio() -> std::io::Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    let fd = nix::fcntl::fcntl(1, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3))?;
    // SAFETY: fd was just duplicated and is owned by nothing else.
    let report = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..3 {
            let _ = nix::unistd::dup2(null.as_raw_fd(), fd);
        }
    }
    Ok(report)
}

/// The `berth-shim-exec` program: runs a process in a running container
/// ([`exec`]). A program of its own, so that the monitor, which stays for
/// the container's whole life, maps none of it.
pub fn exec_main() -> i32 {
    exec::run(None)
}
