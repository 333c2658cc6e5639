//! How a created container passes from its creator to a monitor started
//! ahead of need.
//!
//! The creator (`berth shim`, in the big `berth` binary) runs libcontainer;
//! the monitor (`berth-shim`) must be an ancestor of the container's init so
//! that, as a child subreaper, it inherits the init when the creator exits.
//! When the monitor was exec'd before the container was asked for, the
//! creator sends it the container over a `SOCK_SEQPACKET` pair: one message
//! holding [`Monitor::to_args`] as JSON and, as `SCM_RIGHTS`, every
//! descriptor of [`Monitor::fds`] but the report (the monitor reports on its
//! own stdout). An end of the socket without a message means the creator
//! is gone: it reported the failure itself, or the daemon went away.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};

use crate::monitor::{Monitor, Output};

/// Largest message accepted (the arguments are a few hundred bytes).
const MAX_MESSAGE: usize = 64 * 1024;
/// Most descriptors a monitor takes besides its report.
const MAX_FDS: usize = 4;

/// Sends `monitor` to the monitor waiting on `sock`.
pub fn send(sock: BorrowedFd<'_>, monitor: &Monitor) -> std::io::Result<()> {
    let payload = serde_json::to_vec(&monitor.to_args()).map_err(std::io::Error::other)?;
    let fds: Vec<RawFd> = monitor.fds().into_iter().skip(1).collect();
    let iov = [IoSlice::new(&payload)];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
        .map_err(std::io::Error::from)?;
    Ok(())
}

/// Waits on `sock` for a container; `Ok(None)` when the creator went away
/// without sending one. The monitor's report goes to `report`.
pub fn receive(sock: BorrowedFd<'_>, report: RawFd) -> std::io::Result<Option<Monitor>> {
    // The message's length first (a seqpacket's whole length, with
    // MSG_TRUNC), so that the buffer is no larger than it: what the monitor
    // touches here stays in its resident size for the container's life.
    let size = loop {
        match nix::sys::socket::recv(
            sock.as_raw_fd(),
            &mut [0u8; 1],
            MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC,
        ) {
            Ok(n) => break n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    };
    if size == 0 {
        return Ok(None);
    }
    if size > MAX_MESSAGE {
        return Err(std::io::Error::other(format!(
            "handover message of {size} bytes (at most {MAX_MESSAGE})"
        )));
    }
    let mut buf = vec![0u8; size];
    let mut space = nix::cmsg_space!([RawFd; MAX_FDS]);
    let (len, fds) = loop {
        let mut iov = [IoSliceMut::new(&mut buf)];
        match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(msg) => {
                let mut fds = Vec::new();
                for c in msg.cmsgs().map_err(std::io::Error::from)? {
                    if let ControlMessageOwned::ScmRights(got) = c {
                        // SAFETY: the kernel just installed these descriptors
                        // in this process; nothing else owns them.
                        fds.extend(
                            got.into_iter()
                                .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                        );
                    }
                }
                break (msg.bytes, fds);
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    };
    let args: Vec<String> = serde_json::from_slice(&buf[..len])
        .map_err(|e| std::io::Error::other(format!("bad handover message: {e}")))?;
    let monitor = Monitor::from_args(&args).map_err(std::io::Error::other)?;
    monitor.with_fds(report, fds).map(Some)
}

impl Monitor {
    /// This monitor with its descriptors replaced, in the order of
    /// [`Monitor::fds`]: `report`, then `others`.
    fn with_fds(mut self, report: RawFd, others: Vec<OwnedFd>) -> std::io::Result<Monitor> {
        let wanted = self.fds().len() - 1;
        if others.len() != wanted {
            return Err(std::io::Error::other(format!(
                "handover carried {} descriptors, not {wanted}",
                others.len()
            )));
        }
        let mut it = others.into_iter().map(std::os::fd::IntoRawFd::into_raw_fd);
        // The count was checked above: every next() has a descriptor.
        let mut next = || it.next().unwrap_or(-1);
        self.report = report;
        self.listener = next();
        self.output = match self.output {
            Output::Pipes { .. } => Output::Pipes {
                stdout: next(),
                stderr: next(),
            },
            Output::Terminal { .. } => Output::Terminal { master: next() },
        };
        if self.stdin.is_some() {
            self.stdin = Some(next());
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsFd;
    use std::path::PathBuf;

    fn pipe() -> (std::fs::File, std::fs::File) {
        let (r, w) = nix::unistd::pipe().unwrap();
        (std::fs::File::from(r), std::fs::File::from(w))
    }

    fn pair() -> (OwnedFd, OwnedFd) {
        nix::sys::socket::socketpair(
            nix::sys::socket::AddressFamily::Unix,
            nix::sys::socket::SockType::SeqPacket,
            None,
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        )
        .unwrap()
    }

    #[test]
    fn a_container_crosses_with_its_descriptors() {
        let (a, b) = pair();
        let (out_r, mut out_w) = pipe();
        let (err_r, mut err_w) = pipe();
        let (in_r, in_w) = pipe();
        let listener =
            std::os::unix::net::UnixListener::bind(tempfile::tempdir().unwrap().path().join("s"))
                .unwrap();
        let sent = Monitor {
            id: "abc".into(),
            bundle: PathBuf::from("/b"),
            state_dir: PathBuf::from("/s"),
            cgroup_path: "/berth/abc".into(),
            pid: 4242,
            log_path: PathBuf::from("/l.log"),
            log_max_size: Some(10),
            log_max_files: 3,
            stdin_once: true,
            report: 1,
            listener: listener.as_raw_fd(),
            output: Output::Pipes {
                stdout: out_r.as_raw_fd(),
                stderr: err_r.as_raw_fd(),
            },
            stdin: Some(in_w.as_raw_fd()),
        };
        send(a.as_fd(), &sent).unwrap();
        let got = receive(b.as_fd(), 77).unwrap().unwrap();
        assert_eq!(
            (got.id.as_str(), got.pid, got.log_max_size, got.stdin_once),
            ("abc", 4242, Some(10), true)
        );
        assert_eq!(got.report, 77);
        // New numbers, same open files: what is written to the sender's
        // pipes is read from the received ends, and the other way round.
        let (stdout, stderr) = match got.output {
            Output::Pipes { stdout, stderr } => (stdout, stderr),
            Output::Terminal { .. } => panic!("pipes expected"),
        };
        assert_ne!(stdout, out_r.as_raw_fd());
        out_w.write_all(b"out").unwrap();
        err_w.write_all(b"err").unwrap();
        drop((out_w, err_w));
        let mut s = String::new();
        // SAFETY: received descriptors, owned by this test from here.
        unsafe { std::fs::File::from_raw_fd(stdout) }
            .read_to_string(&mut s)
            .unwrap();
        unsafe { std::fs::File::from_raw_fd(stderr) }
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "outerr");
        let mut stdin = unsafe { std::fs::File::from_raw_fd(got.stdin.unwrap()) };
        drop(in_w);
        stdin.write_all(b"in").unwrap();
        drop(stdin);
        let mut s = String::new();
        let mut in_r = in_r;
        in_r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "in");
        drop(unsafe { OwnedFd::from_raw_fd(got.listener) });
    }

    #[test]
    fn a_creator_that_leaves_sends_nothing() {
        let (a, b) = pair();
        drop(a);
        assert!(receive(b.as_fd(), 1).unwrap().is_none());
    }
}
