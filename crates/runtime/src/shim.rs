//! `berth shim`: one per container, the part that needs libcontainer. It
//! creates the container (libcontainer forks, so this process stays
//! single-threaded), binds the container's socket, then execs `berth-shim`
//! (the small monitor of the berth-shim crate, installed beside `berth`),
//! which the container's init stays a child of. Without that program the
//! monitor runs in this process instead.
//!
//! The container is created first (its init waits), and only the daemon's
//! `{"op":"start"}` lets it run: the daemon attaches clients in between, so
//! not a byte of output is lost. The protocol is the berth-shim crate's.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::time::Duration;

use berth_shim::console_path;
use berth_shim::monitor::{JsonLog, ShimLog};
pub use berth_shim::monitor::{Monitor, Output};
pub use berth_shim::{connect, read_exit, socket_path, ExitStatus, StartReport};
use serde_json::Value;

/// Arguments of `berth shim` (its flags, or one JSON line on the stdin of
/// `berth shim --standby`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
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
    let Some((mut report, mut slog)) = detach_stdio(&args) else {
        return 2;
    };
    let _ = nix::unistd::setsid();
    // Orphans inside the container (and its init) are re-parented to us.
    // SAFETY: plain prctl with integer arguments.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
    let report_fd = report.as_raw_fd();
    match create(&args, &mut slog, report_fd, None) {
        Ok(monitor) => {
            // The monitor owns the report descriptor from here on.
            let _ = report.into_raw_fd();
            hand_over(monitor, &mut slog)
        }
        Err(failure) => {
            let _ = failure.write_line(&mut report);
            1
        }
    }
}

/// `berth shim --standby`: the shim of the next start, waiting for its
/// container's arguments (one JSON line on stdin; the end of stdin is the
/// daemon going away). `setup` runs once they are known (logging).
///
/// With `berth-shim` installed, the monitor is exec'd now, ahead of need,
/// and the container is created below it (see berth_shim::handover), so a
/// start waits for no exec. Three processes wait:
/// - this one (the daemon's child) reads the arguments and passes them on;
/// - its child execs `berth-shim --standby-fd`, a child subreaper;
/// - that one's child (this binary still) creates the container, hands it
///   over and exits, so the init becomes the monitor's child.
///
/// Each exits when the one it waits on goes. Without `berth-shim`, or when
/// the arguments cannot be passed on, this process runs the job itself as
/// `berth shim` always did ([`run`]).
pub fn standby(setup: impl FnOnce(&ShimArgs)) -> i32 {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    let Some(program) = monitor_program() else {
        return match read_args(std::io::stdin().as_raw_fd()) {
            Some(Ok(a)) => {
                setup(&a);
                run(a)
            }
            Some(Err(failure)) => report_failure(1, &failure),
            None => 0,
        };
    };
    let pairs = (|| -> nix::Result<_> {
        Ok((
            socketpair(
                AddressFamily::Unix,
                SockType::Stream,
                None,
                SockFlag::SOCK_CLOEXEC,
            )?,
            socketpair(
                AddressFamily::Unix,
                SockType::SeqPacket,
                None,
                SockFlag::SOCK_CLOEXEC,
            )?,
        ))
    })();
    let Ok(((args_tx, args_rx), (hand_tx, hand_rx))) = pairs else {
        return 2;
    };
    // SAFETY: single-threaded here; the child only forks, execs or runs
    // this module's code.
    match unsafe { nix::unistd::fork() } {
        Err(_) => 2,
        Ok(nix::unistd::ForkResult::Parent { .. }) => {
            drop((args_rx, hand_tx, hand_rx));
            pass_on_args(args_tx, setup)
        }
        Ok(nix::unistd::ForkResult::Child) => {
            drop(args_tx);
            let _ = nix::unistd::setsid();
            // SAFETY: plain prctl with integer arguments.
            unsafe {
                libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
            }
            // SAFETY: as above.
            match unsafe { nix::unistd::fork() } {
                Err(_) => 2,
                Ok(nix::unistd::ForkResult::Child) => {
                    drop(hand_rx);
                    create_for_monitor(args_rx, hand_tx, setup)
                }
                Ok(nix::unistd::ForkResult::Parent { .. }) => {
                    drop((args_rx, hand_tx));
                    become_monitor(&program, hand_rx)
                }
            }
        }
    }
}

/// Reads one line of [`ShimArgs`] from `fd`; `None` at its end.
fn read_args(fd: RawFd) -> Option<Result<ShimArgs, StartReport>> {
    use std::io::BufRead;
    // SAFETY: borrowed for this call; ManuallyDrop keeps it open after.
    let file = std::mem::ManuallyDrop::new(unsafe { File::from_raw_fd(fd) });
    let mut line = String::new();
    match std::io::BufReader::new(&*file).read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(
            serde_json::from_str(&line)
                .map_err(|e| StartReport::failed(format!("shim: bad arguments: {e}"))),
        ),
    }
}

/// Waits until `input` is readable (`Some(true)`) or `peer`, a socket
/// nothing is sent on, has closed or said anything (`Some(false)`): the
/// process on its other end is gone. `None` if poll itself failed.
fn wait_readable(input: RawFd, peer: RawFd) -> Option<bool> {
    loop {
        let mut fds = [
            libc::pollfd {
                fd: input,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: peer,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: poll reads and writes the two pollfd entries we own.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return None;
        }
        if fds[1].revents != 0 {
            return Some(false);
        }
        if fds[0].revents != 0 {
            return Some(true);
        }
    }
}

/// Waits for the job's arguments on `input` while the process at the
/// other end of `peer` lives. `Err` is the code to exit with: 1 when that
/// process is gone (nothing could carry the job on) or the arguments are
/// bad (reported), 0 when `input` ended (the daemon went away), 2 when
/// poll failed.
fn await_args(input: RawFd, peer: RawFd) -> Result<ShimArgs, i32> {
    match wait_readable(input, peer) {
        Some(true) => {}
        Some(false) => return Err(1),
        None => return Err(2),
    }
    match read_args(input) {
        None => Err(0),
        Some(Err(failure)) => Err(report_failure(1, &failure)),
        Some(Ok(a)) => Ok(a),
    }
}

/// Writes `failure` as the report on stdout; returns `code`.
fn report_failure(code: i32, failure: &StartReport) -> i32 {
    let _ = failure.write_line(&mut std::io::stdout());
    code
}

/// The daemon's child: waits for the arguments on stdin and passes them to
/// the creator. If the creator has gone (so the monitor too), it exits, and
/// the daemon sees this standby dead before giving it a job; a job it took
/// but could not pass on, it runs itself.
fn pass_on_args(to_creator: OwnedFd, setup: impl FnOnce(&ShimArgs)) -> i32 {
    let args = match await_args(std::io::stdin().as_raw_fd(), to_creator.as_raw_fd()) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let line = serde_json::to_string(&args).unwrap_or_default() + "\n";
    let mut tx = File::from(to_creator);
    if tx.write_all(line.as_bytes()).is_ok() {
        return 0;
    }
    // The creator went away just now: do the job here, the old way.
    drop(tx);
    setup(&args);
    run(args)
}

/// The monitor's process before it is one: execs `berth-shim` waiting on
/// `from_creator` (this process's children, and its subreaper flag, survive
/// the exec). If the exec fails, the monitor runs here.
fn become_monitor(program: &std::path::Path, from_creator: OwnedFd) -> i32 {
    use std::os::fd::AsFd;
    // SAFETY: clearing FD_CLOEXEC on a descriptor this process owns.
    unsafe { libc::fcntl(from_creator.as_raw_fd(), libc::F_SETFD, 0) };
    let err = std::process::Command::new(program)
        .arg("--standby-fd")
        .arg(from_creator.as_raw_fd().to_string())
        .exec();
    berth_shim::standby(
        from_creator.as_fd(),
        Some(&format!(
            "cannot run {}: {err}; monitoring in this process",
            program.display()
        )),
    )
}

/// The creator below a waiting monitor: waits for the arguments, creates
/// the container and hands it over (or reports why it could not).
fn create_for_monitor(
    from_daemon: OwnedFd,
    to_monitor: OwnedFd,
    setup: impl FnOnce(&ShimArgs),
) -> i32 {
    use std::os::fd::AsFd;
    // Made while no start waits (see crate::netns); without one, the
    // runtime makes the container's namespace as usual.
    let netns = crate::netns::ReadyNetns::make().ok();
    // libcontainer's processes reach /proc through one private procfs
    // mount, cached once made: made here, they inherit it.
    let _ = pathrs::procfs::ProcfsHandle::new();
    let args = match await_args(from_daemon.as_raw_fd(), to_monitor.as_raw_fd()) {
        Ok(a) => a,
        Err(code) => return code,
    };
    drop(from_daemon);
    setup(&args);
    let (mut report, mut slog) = match detach_stdio(&args) {
        Some(r) => r,
        None => return 2,
    };
    match create(&args, &mut slog, report.as_raw_fd(), netns.as_ref()) {
        Ok(monitor) => match berth_shim::handover::send(to_monitor.as_fd(), &monitor) {
            Ok(()) => 0,
            Err(e) => {
                slog.say(&format!("handing the container over: {e}"));
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(monitor.pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                let _ =
                    StartReport::failed(format!("shim: handing the container to its monitor: {e}"))
                        .write_line(&mut report);
                1
            }
        },
        Err(failure) => {
            let _ = failure.write_line(&mut report);
            1
        }
    }
}

/// Moves stdout (the report to the daemon) to a descriptor of its own and
/// points the standard descriptors at /dev/null; opens the shim log.
fn detach_stdio(args: &ShimArgs) -> Option<(File, ShimLog)> {
    let slog = ShimLog::open(&args.bundle);
    let report = berth_shim::detach_stdio().ok()?;
    Some((report, slog))
}

/// Creates the container (its init waits) and what its monitor needs; on
/// failure, what to report to the daemon.
fn create(
    args: &ShimArgs,
    slog: &mut ShimLog,
    report: RawFd,
    netns: Option<&crate::netns::ReadyNetns>,
) -> Result<Monitor, StartReport> {
    let mut config: Value =
        match fs::read(args.bundle.join("config.json")).map(|b| serde_json::from_slice(&b)) {
            Ok(Ok(v)) => v,
            _ => {
                return Err(StartReport::failed("shim: cannot read config.json"));
            }
        };
    if let Some(ns) = netns {
        // The spec on disk then names the namespace the container got; if
        // it cannot be rewritten, the runtime makes one as it would have.
        if ns.use_in(&mut config) {
            if let Err(e) = crate::netns::rewrite_spec(&args.bundle, &config) {
                slog.say(&format!("using the network namespace made ahead: {e}"));
            }
        }
    }
    let cgroup_path = config["linux"]["cgroupsPath"]
        .as_str()
        .unwrap_or("")
        .to_string();
    // Checked here, before anything is created; the monitor reopens it.
    match JsonLog::open(&args.log_path, args.log_max_size, args.log_max_files) {
        Ok(_) => {}
        Err(e) => {
            return Err(berth_shim::log_open_error(&args.log_path, &e));
        }
    };
    let pipes = (|| -> std::io::Result<_> { Ok((pipe()?, pipe()?, pipe()?)) })();
    let ((out_r, out_w), (err_r, err_w), (in_r, in_w)) = match pipes {
        Ok(p) => p,
        Err(e) => {
            return Err(StartReport::failed(format!("creating pipes: {e}")));
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
                return Err(StartReport::failed(format!("opening /dev/null: {e}")));
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
                return Err(StartReport::failed(format!(
                    "console socket {}: {e}",
                    path.display()
                )));
            }
        }
    } else {
        None
    };
    let console_sock = console.as_ref().map(|(_, p)| p.clone());
    let filter = match crate::filter::Filter::read(&args.bundle) {
        Ok(f) => f,
        Err(e) => {
            return Err(StartReport::failed(format!("seccomp filter: {e}")));
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
            return Err(StartReport {
                pid: None,
                error: Some(msg),
                exit_code: Some(code),
            });
        }
    };
    let pid = match container.pid() {
        Some(p) => p.as_raw(),
        None => {
            let _ = container.delete(true);
            return Err(StartReport::failed("the container has no process"));
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
            return Err(StartReport::failed(format!(
                "shim socket {}: {e}",
                sock_path.display()
            )));
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
                    return Err(StartReport::failed(format!(
                        "setting up the container's terminal: {e}"
                    )));
                }
            }
        }
        None => None,
    };
    // With a terminal, stdin goes to its master and output comes from it.
    let fd = |f: File| f.into_raw_fd();
    let (output, stdin) = match master {
        Some(m) => {
            let stdin = stdin_writer
                .is_some()
                .then(|| m.try_clone().ok().map(|d| d.into_raw_fd()))
                .flatten();
            drop((out_r, err_r));
            (
                Output::Terminal {
                    master: m.into_raw_fd(),
                },
                stdin,
            )
        }
        None => (
            Output::Pipes {
                stdout: fd(out_r),
                stderr: fd(err_r),
            },
            stdin_writer.map(fd),
        ),
    };
    let monitor = Monitor {
        id: args.id.clone(),
        bundle: args.bundle.clone(),
        state_dir: args.state_root.join(&args.id),
        cgroup_path,
        pid,
        log_path: args.log_path.clone(),
        log_max_size: args.log_max_size,
        log_max_files: args.log_max_files,
        stdin_once: args.stdin_once,
        report,
        listener: listener.into_raw_fd(),
        output,
        stdin,
    };
    // libcontainer's handle is not needed any more: the monitor starts,
    // reaps and deletes the container itself.
    drop(container);
    Ok(monitor)
}

/// A program installed beside this one's own binary (the daemon's too).
fn sibling_program(name: &str) -> Option<PathBuf> {
    let exe = fs::read_link("/proc/self/exe").ok()?;
    let p = exe.parent()?.join(name);
    p.is_file().then_some(p)
}

/// `berth-shim`, the monitor, beside `berth`.
pub fn monitor_program() -> Option<PathBuf> {
    sibling_program("berth-shim")
}

/// `berth-shim-exec`, the small exec program, beside `berth`.
pub fn exec_program() -> Option<PathBuf> {
    sibling_program("berth-shim-exec")
}

/// Execs `berth-shim` with the monitor's descriptors (children survive
/// `execve`, and so does the subreaper flag); runs the monitor here when
/// that program is missing or cannot run.
fn hand_over(monitor: Monitor, slog: &mut ShimLog) -> i32 {
    if let Some(program) = monitor_program() {
        for fd in monitor.fds() {
            // SAFETY: clearing FD_CLOEXEC on descriptors this process owns.
            unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
        }
        let err = std::process::Command::new(&program)
            .args(monitor.to_args())
            .exec();
        slog.say(&format!(
            "cannot run {}: {err}; monitoring in this process",
            program.display()
        ));
    }
    monitor.run()
}
