//! `berth-shim-exec` (and `berth shim-exec`): runs one more process inside
//! a running container, as `docker exec` does, with the container's whole
//! security setup: its namespaces and cgroups, its user, capabilities,
//! no-new-privileges and seccomp filter (libcontainer 0.7's tenant path
//! drops seccomp, so berth joins the container itself, the way runc's
//! `setns` init does). It runs as the small `berth-shim-exec` program so an
//! exec does not pay for loading the whole `berth` binary; a profile that
//! was not compiled (a notify action) needs `berth shim-exec`, which passes
//! libcontainer's loader to [`run`].
//!
//! The daemon starts it with the process's stdio on fds 0–2
//! (pipes it owns; ignored with a TTY) and a control socket on fd 3:
//! - daemon → shim: one JSON line, the [`ExecSpec`];
//! - shim → daemon: `{"pid":N}` once the program runs (with a TTY, the
//!   pseudo-terminal's master rides along as SCM_RIGHTS), or
//!   `{"error":…,"exit_code":126|127}` when it could not start;
//! - then `{"exit_code":N}` when it has ended.
//!
//! The shim stays the process's parent (outside the container) to collect
//! its status; the pseudo-terminal is allocated inside the container's
//! devpts, so `tty` prints `/dev/pts/N` there.

use std::ffi::CString;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use oci_spec::runtime::{LinuxSeccomp, Process};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::bpf::Filter;

/// What `berth shim-exec` runs and how.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecSpec {
    /// The container's init process, on the host (whose namespaces and
    /// cgroups are joined).
    pub pid: i32,
    /// Arguments, environment, working directory, user, capabilities,
    /// no-new-privileges and `terminal`, in the OCI shape.
    pub process: Process,
    /// The container's seccomp profile, when it was not compiled (see
    /// [`crate::filter`]).
    pub seccomp: Option<LinuxSeccomp>,
    /// The container's compiled seccomp filter (its bundle's
    /// [`crate::filter::FILE`]), loaded instead of `seccomp`.
    #[serde(default)]
    pub filter: Option<PathBuf>,
}

/// The control socket's fd in `berth shim-exec`.
pub const CONTROL_FD: RawFd = 3;

/// Namespaces joined, in order (mount last: it changes what paths mean).
const NAMESPACES: [(&str, CloneFlags); 5] = [
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

fn send_line(ctl: &UnixStream, v: &serde_json::Value, fd: Option<RawFd>) {
    let line = format!("{v}\n");
    let iov = [IoSlice::new(line.as_bytes())];
    let fds;
    let cmsgs: Vec<ControlMessage> = match fd {
        Some(f) => {
            fds = [f];
            vec![ControlMessage::ScmRights(&fds)]
        }
        None => Vec::new(),
    };
    let _ = sendmsg::<()>(ctl.as_raw_fd(), &iov, &cmsgs, MsgFlags::empty(), None);
}

/// Receives one message and the descriptor it carries, if any.
fn recv_fd(sock: RawFd) -> (Vec<u8>, Option<OwnedFd>) {
    let mut buf = vec![0u8; 4096];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let Ok(msg) = recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
    else {
        return (Vec::new(), None);
    };
    let mut fd = None;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::ScmRights(fds) = c {
                // SAFETY: the kernel just gave us these descriptors.
                fd = fds.first().map(|f| unsafe { OwnedFd::from_raw_fd(*f) });
            }
        }
    }
    let n = msg.bytes;
    buf.truncate(n);
    (buf, fd)
}

/// Loads a seccomp profile that was not compiled to BPF.
pub type ProfileLoader = fn(&LinuxSeccomp) -> Result<(), String>;

/// Runs an exec; returns the process's exit code. Must run in a fresh,
/// single-threaded process. `load_profile` loads a profile that was not
/// compiled (`None`: such a container cannot be exec'd here).
pub fn run(load_profile: Option<ProfileLoader>) -> i32 {
    // SAFETY: fd 3 is the control socket the daemon handed us.
    let ctl = unsafe { UnixStream::from_raw_fd(CONTROL_FD) };
    let _ = nix::fcntl::fcntl(
        CONTROL_FD,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    let mut line = String::new();
    {
        let mut r = BufReader::new(&ctl);
        if r.read_line(&mut line).is_err() {
            return 2;
        }
    }
    let spec: ExecSpec = match serde_json::from_str(line.trim()) {
        Ok(s) => s,
        Err(e) => {
            send_line(
                &ctl,
                &json!({"error": format!("bad exec request: {e}"), "exit_code": 126}),
                None,
            );
            return 2;
        }
    };
    match launch(spec, load_profile) {
        Ok((child, master)) => {
            send_line(
                &ctl,
                &json!({"pid": child}),
                master.as_ref().map(|m| m.as_raw_fd()),
            );
            drop(master);
            let code = wait_for(child);
            send_line(&ctl, &json!({"exit_code": code}), None);
            0
        }
        Err((msg, code)) => {
            send_line(&ctl, &json!({"error": msg, "exit_code": code}), None);
            1
        }
    }
}

fn wait_for(pid: i32) -> i32 {
    loop {
        match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None) {
            Ok(nix::sys::wait::WaitStatus::Exited(_, c)) => return c,
            Ok(nix::sys::wait::WaitStatus::Signaled(_, s, _)) => return 128 + s as i32,
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return 255,
        }
    }
}

/// The Docker-style message for a process that could not start.
fn oci_error(what: &str) -> String {
    format!(
        "OCI runtime exec failed: exec failed: unable to start container process: {what}: unknown"
    )
}

type Launched = (i32, Option<OwnedFd>);

/// Forks the process into the container; returns its host PID (and the
/// terminal's master) once it has exec'd its program.
fn launch(
    mut spec: ExecSpec,
    load_profile: Option<ProfileLoader>,
) -> Result<Launched, (String, i32)> {
    let init = spec.pid;
    if !Path::new(&format!("/proc/{init}")).exists() {
        return Err((format!("container process {init} is not running"), 126));
    }
    let fail = |what: String| (oci_error(&what), 126);
    let filter = match spec.filter.as_deref() {
        Some(file) => Filter::read_file(file).map_err(|e| fail(format!("seccomp filter: {e}")))?,
        None => None,
    };
    if let (Some(f), Some(mut caps)) = (&filter, spec.process.capabilities().clone()) {
        f.restore(&mut caps);
        spec.process.set_capabilities(Some(caps));
    }
    let spec = &spec;
    // Namespaces to join: those of the container that are not ours.
    let mut joins = Vec::new();
    for (name, flag) in NAMESPACES {
        let theirs = format!("/proc/{init}/ns/{name}");
        let ours = format!("/proc/self/ns/{name}");
        if fs::read_link(&theirs).ok() == fs::read_link(&ours).ok() {
            continue;
        }
        let f = File::open(&theirs).map_err(|e| fail(format!("opening {theirs}: {e}")))?;
        joins.push((OwnedFd::from(f), flag));
    }
    let pid_ns = format!("/proc/{init}/ns/pid");
    if fs::read_link(&pid_ns).ok() != fs::read_link("/proc/self/ns/pid").ok() {
        let f = File::open(&pid_ns).map_err(|e| fail(format!("opening {pid_ns}: {e}")))?;
        // Children of this process are born in the container's PID namespace.
        nix::sched::setns(&f, CloneFlags::CLONE_NEWPID)
            .map_err(|e| fail(format!("joining the PID namespace: {e}")))?;
    }
    // The cgroup files the child writes itself into, chosen before the fork.
    let cgroup_files = crate::cgroup::join_files(
        &fs::read_to_string(format!("/proc/{init}/cgroup")).unwrap_or_default(),
        &fs::read_to_string("/proc/self/cgroup").unwrap_or_default(),
    );
    let (err_r, err_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| fail(format!("pipe: {e}")))?;
    let (tty_parent, tty_child) = nix::sys::socket::socketpair(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::Stream,
        None,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| fail(format!("socketpair: {e}")))?;
    // SAFETY: this process is single-threaded (berth shim-exec).
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            drop(err_r);
            drop(tty_parent);
            let mut err_w = File::from(err_w);
            let why = child(
                spec,
                filter.as_ref(),
                load_profile,
                &cgroup_files,
                joins,
                tty_child.as_raw_fd(),
            );
            let _ = err_w.write_all(why.as_bytes());
            // SAFETY: leaving the forked child without running destructors.
            unsafe { libc::_exit(127) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            drop(err_w);
            drop(tty_child);
            drop(joins);
            let mut why = String::new();
            let _ = File::from(err_r).read_to_string(&mut why);
            let master = if spec.process.terminal() == Some(true) && why.is_empty() {
                recv_fd(tty_parent.as_raw_fd()).1
            } else {
                None
            };
            if !why.is_empty() {
                let _ = wait_for(child.as_raw());
                let code = if why.starts_with("127 ") { 127 } else { 126 };
                return Err((oci_error(why.get(4..).unwrap_or(&why)), code));
            }
            Ok((child.as_raw(), master))
        }
        Err(e) => Err(fail(format!("fork: {e}"))),
    }
}

/// In the forked child: enters the container and execs the program. Returns
/// only on failure, with `"CODE message"`.
fn child(
    spec: &ExecSpec,
    filter: Option<&Filter>,
    load_profile: Option<ProfileLoader>,
    cgroup_files: &[PathBuf],
    joins: Vec<(OwnedFd, CloneFlags)>,
    tty: RawFd,
) -> String {
    let p = &spec.process;
    let load_seccomp = || -> Result<(), String> {
        let r = match filter {
            Some(f) => f.load().map_err(|e| e.to_string()),
            None => match (&spec.seccomp, load_profile) {
                (Some(s), Some(load)) => load(s),
                (Some(_), None) => {
                    Err("this container's profile was not compiled: berth shim-exec runs it".into())
                }
                (None, _) => Ok(()),
            },
        };
        r.map_err(|e| format!("126 loading the seccomp filter: {e}"))
    };
    // Cgroups first, through the host's /sys/fs/cgroup; best effort for
    // each hierarchy (some are not mounted). This forked child is
    // single-threaded, so v1's per-thread `tasks` join moves all of it.
    for file in cgroup_files {
        let _ = fs::write(file, b"0");
    }
    for (fd, flag) in &joins {
        if let Err(e) = nix::sched::setns(fd, *flag) {
            return format!("126 joining the container's namespaces: {e}");
        }
    }
    drop(joins);
    if p.terminal() == Some(true) {
        if let Err(e) = open_terminal(tty) {
            return format!("126 setting up the terminal: {e}");
        }
    } else if let Err(e) = nix::unistd::setsid() {
        return format!("126 setsid: {e}");
    }
    // SAFETY: closing the socket the terminal went through; fd is ours.
    unsafe { libc::close(tty) };
    let nnp = p.no_new_privileges() == Some(true);
    if nnp {
        // SAFETY: plain prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return format!(
                "126 setting no_new_privs: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: do it
    // while we still have it (as runc does).
    if !nnp {
        if let Err(e) = load_seccomp() {
            return e;
        }
    }
    let user = p.user();
    let gids: Vec<nix::unistd::Gid> = user
        .additional_gids()
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .map(|g| nix::unistd::Gid::from_raw(*g))
        .collect();
    if let Err(e) = nix::unistd::setgroups(&gids) {
        return format!("126 setgroups: {e}");
    }
    if let Err(e) = set_id(user.uid(), user.gid()) {
        return format!("126 setting uid {} and gid {}: {e}", user.uid(), user.gid());
    }
    if let Err(e) = reset_effective() {
        return format!("126 capabilities: {e}");
    }
    if let Some(caps) = p.capabilities() {
        if let Err(e) = drop_privileges(caps) {
            return format!("126 capabilities: {e}");
        }
    }
    let cwd = p.cwd();
    if let Err(e) = nix::unistd::chdir(cwd) {
        return format!(
            "126 chdir to cwd (\"{}\") set in config.json failed: {}",
            cwd.display(),
            e.desc().to_lowercase()
        );
    }
    if nnp {
        if let Err(e) = load_seccomp() {
            return e;
        }
    }
    let env: Vec<String> = p.env().clone().unwrap_or_default();
    let args: Vec<String> = p.args().clone().unwrap_or_default();
    let Some(prog) = args.first() else {
        return "126 no command given".into();
    };
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    let exe = match find_program(prog, path) {
        Some(x) => x,
        None => {
            return format!("127 exec: \"{prog}\": executable file not found in $PATH");
        }
    };
    let c = |s: &str| CString::new(s.as_bytes()).unwrap_or_default();
    let cargs: Vec<CString> = args.iter().map(|a| c(a)).collect();
    let cenv: Vec<CString> = env.iter().map(|a| c(a)).collect();
    let err = match nix::unistd::execve(&c(&exe), &cargs, &cenv) {
        Ok(_) => return String::new(),
        Err(e) => e,
    };
    match err {
        nix::errno::Errno::ENOENT => format!("127 exec: \"{prog}\": no such file or directory"),
        nix::errno::Errno::EACCES => format!("126 exec: \"{prog}\": permission denied"),
        e => format!("126 exec: \"{prog}\": {}", e.desc().to_lowercase()),
    }
}

/// Switches to `uid`:`gid` keeping the capabilities (as runc and
/// libcontainer do: the effective set is made whole again for a non-root
/// user, and the process's own sets are given afterwards).
fn set_id(uid: u32, gid: u32) -> Result<(), String> {
    let keep = |on: libc::c_ulong| {
        // SAFETY: plain prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, on, 0, 0, 0) } != 0 {
            return Err(format!(
                "keeping capabilities: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    };
    keep(1)?;
    let g = nix::unistd::Gid::from_raw(gid);
    nix::unistd::setresgid(g, g, g).map_err(|e| e.to_string())?;
    let u = nix::unistd::Uid::from_raw(uid);
    nix::unistd::setresuid(u, u, u).map_err(|e| e.to_string())?;
    if uid != 0 {
        reset_effective()?;
    }
    keep(0)
}

/// The effective set made equal to the permitted one.
fn reset_effective() -> Result<(), String> {
    let permitted = caps::read(None, caps::CapSet::Permitted).map_err(|e| e.to_string())?;
    caps::set(None, caps::CapSet::Effective, &permitted).map_err(|e| e.to_string())
}

/// The process's capability sets as the spec gives them (bounding first,
/// as libcontainer and runc do); a set the spec leaves out is left alone,
/// the bounding set becomes empty.
fn drop_privileges(c: &oci_spec::runtime::LinuxCapabilities) -> Result<(), String> {
    let to_set = |l: &Option<std::collections::HashSet<oci_spec::runtime::Capability>>| {
        l.iter()
            .flatten()
            .filter_map(cap_of)
            .collect::<caps::CapsHashSet>()
    };
    // The bounding set can only lose capabilities, one at a time.
    let bounding = caps::read(None, caps::CapSet::Bounding).map_err(|e| e.to_string())?;
    for cap in bounding.difference(&to_set(c.bounding())) {
        caps::drop(None, caps::CapSet::Bounding, *cap).map_err(|e| format!("bounding set: {e}"))?;
    }
    for (set, list, name) in [
        (caps::CapSet::Effective, c.effective(), "effective"),
        (caps::CapSet::Permitted, c.permitted(), "permitted"),
        (caps::CapSet::Inheritable, c.inheritable(), "inheritable"),
    ] {
        if list.is_some() {
            caps::set(None, set, &to_set(list)).map_err(|e| format!("{name} set: {e}"))?;
        }
    }
    if c.ambient().is_some() {
        // Raised one by one, each as far as the kernel allows (as runc).
        caps::clear(None, caps::CapSet::Ambient).map_err(|e| format!("ambient set: {e}"))?;
        for cap in to_set(c.ambient()) {
            let _ = caps::raise(None, caps::CapSet::Ambient, cap);
        }
    }
    Ok(())
}

/// The capabilities library's name of an OCI capability.
fn cap_of(cap: &oci_spec::runtime::Capability) -> Option<caps::Capability> {
    serde_json::to_value(cap).ok()?.as_str()?.parse().ok()
}

/// Finds a program as Go's exec.LookPath does (what runc uses).
fn find_program(prog: &str, path: &str) -> Option<String> {
    if prog.contains('/') {
        return Some(prog.to_string());
    }
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let cand = Path::new(dir).join(prog);
        if let Ok(m) = fs::metadata(&cand) {
            if m.is_file() && m.permissions().mode() & 0o111 != 0 {
                return Some(cand.to_string_lossy().into_owned());
            }
        }
    }
    None
}

/// Allocates a pseudo-terminal from the container's devpts, makes it the
/// controlling terminal and stdio, and sends its master through `sock`.
fn open_terminal(sock: RawFd) -> nix::Result<()> {
    use nix::fcntl::OFlag;
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)?;
    nix::pty::grantpt(&master)?;
    nix::pty::unlockpt(&master)?;
    let name = nix::pty::ptsname_r(&master)?;
    let slave = nix::fcntl::open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY,
        nix::sys::stat::Mode::empty(),
    )?;
    nix::unistd::setsid()?;
    // SAFETY: ioctl on a descriptor we own.
    if unsafe { libc::ioctl(slave, libc::TIOCSCTTY, 0) } < 0 {
        return Err(nix::errno::Errno::last());
    }
    for fd in 0..3 {
        nix::unistd::dup2(slave, fd)?;
    }
    if slave > 2 {
        let _ = nix::unistd::close(slave);
    }
    let iov = [IoSlice::new(b"pty")];
    let fds = [master.as_raw_fd()];
    sendmsg::<()>(
        sock,
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )?;
    Ok(())
}

pub use crate::resize_terminal;

/// The daemon's side of the control socket: messages, one JSON line each,
/// with the descriptor one may carry.
pub struct Control {
    sock: UnixStream,
    pending: Vec<u8>,
    fd: Option<OwnedFd>,
}

impl Control {
    /// Wraps the daemon's end of the socket pair.
    pub fn new(sock: UnixStream) -> Control {
        Control {
            sock,
            pending: Vec::new(),
            fd: None,
        }
    }

    /// Sends the request (the first and only line the daemon writes).
    pub fn send(&mut self, spec: &ExecSpec) -> std::io::Result<()> {
        let line = serde_json::to_string(spec).map_err(std::io::Error::other)?;
        self.sock.write_all(line.as_bytes())?;
        self.sock.write_all(b"\n")
    }

    /// The next message, or `None` once the shim has gone.
    pub fn next_message(&mut self) -> Option<(serde_json::Value, Option<OwnedFd>)> {
        loop {
            if let Some(pos) = self.pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=pos).collect();
                let v = serde_json::from_slice(&line).ok()?;
                return Some((v, self.fd.take()));
            }
            let (bytes, fd) = recv_fd(self.sock.as_raw_fd());
            if bytes.is_empty() {
                return None;
            }
            if fd.is_some() {
                self.fd = fd;
            }
            self.pending.extend_from_slice(&bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_names_map_to_the_library() {
        use oci_spec::runtime::Capability as C;
        assert_eq!(cap_of(&C::Chown), Some(caps::Capability::CAP_CHOWN));
        assert_eq!(cap_of(&C::SysAdmin), Some(caps::Capability::CAP_SYS_ADMIN));
        assert_eq!(
            cap_of(&C::NetBindService),
            Some(caps::Capability::CAP_NET_BIND_SERVICE)
        );
        assert_eq!(
            cap_of(&C::AuditWrite),
            Some(caps::Capability::CAP_AUDIT_WRITE)
        );
    }

    #[test]
    fn lookpath() {
        assert_eq!(find_program("/x/y", "").as_deref(), Some("/x/y"));
        assert_eq!(
            find_program("sh", "/nonexistent:/bin").as_deref(),
            Some("/bin/sh")
        );
        assert_eq!(find_program("no-such-program-here", "/bin:/usr/bin"), None);
    }
}
