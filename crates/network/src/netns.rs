//! Running code inside another network namespace.
//!
//! `setns(CLONE_NEWNET)` changes the namespace of the calling *thread*
//! only. Doing it on a tokio worker would leave that worker (and every task
//! later scheduled on it) in the container's namespace, so berth never does:
//! each call here spawns a fresh, short-lived OS thread, which opens the
//! namespace file (`/proc/<pid>/ns/net`, or a bind-mounted one such as
//! `/run/netns/<name>`), `setns`es into it, runs the closure and exits. The
//! thread is never reused.
//!
//! Sockets keep the namespace they were created in, whatever thread uses
//! them later. So the closure typically only *creates* sockets (a netlink
//! socket for [`crate::link::Netlink::in_netns`], the DNS server's UDP and
//! TCP sockets, a proxy listener) and hands them back; all I/O then happens
//! on the ordinary tokio runtime. `/proc/sys/net/...` files resolve to the
//! namespace of the thread that opens them, so per-namespace sysctls are
//! written from inside the closure too.

use std::fs::File;
use std::path::Path;

use nix::sched::{setns, CloneFlags};

use crate::Error;

/// Runs `f` on a new thread inside the network namespace at `ns`, blocking
/// the caller until it returns. Meant for short work (creating sockets,
/// writing sysctls); from async code prefer [`run_async`].
pub fn run<T, F>(ns: &Path, f: F) -> Result<T, Error>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let file = open(ns)?;
    let path = ns.to_path_buf();
    let handle = std::thread::Builder::new()
        .name("berth-netns".into())
        .spawn(move || enter(&file, &path).map(|()| f()))
        .map_err(|e| Error::io("spawning a thread to enter a network namespace", e))?;
    handle
        .join()
        .map_err(|_| Error::Other(format!("the thread working in {} panicked", ns.display())))?
}

/// Like [`run`], but awaits the thread's result without blocking the
/// async runtime.
pub async fn run_async<T, F>(ns: &Path, f: F) -> Result<T, Error>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let file = open(ns)?;
    let path = ns.to_path_buf();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("berth-netns".into())
        .spawn(move || {
            let _ = tx.send(enter(&file, &path).map(|()| f()));
        })
        .map_err(|e| Error::io("spawning a thread to enter a network namespace", e))?;
    rx.await
        .map_err(|_| Error::Other(format!("the thread working in {} panicked", ns.display())))?
}

fn open(ns: &Path) -> Result<File, Error> {
    File::open(ns).map_err(|e| {
        Error::io(
            format!(
                "opening network namespace {} (is the container running?)",
                ns.display()
            ),
            e,
        )
    })
}

fn enter(file: &File, path: &Path) -> Result<(), Error> {
    setns(file, CloneFlags::CLONE_NEWNET).map_err(|e| {
        Error::io(
            format!("entering network namespace {}", path.display()),
            std::io::Error::from(e),
        )
    })
}

/// Writes a sysctl under `/proc/sys` (e.g. `net/ipv4/conf/br0/forwarding`)
/// in the current namespace, unless it already holds `value`. Returns
/// whether it was changed.
pub fn write_sysctl(key: &str, value: &str) -> Result<bool, Error> {
    let path = Path::new("/proc/sys").join(key);
    let current = std::fs::read_to_string(&path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    if current.trim() == value {
        return Ok(false);
    }
    std::fs::write(&path, value)
        .map_err(|e| Error::io(format!("writing {value} to {}", path.display()), e))?;
    Ok(true)
}

/// Reads a sysctl under `/proc/sys` in the current namespace.
pub fn read_sysctl(key: &str) -> Result<String, Error> {
    let path = Path::new("/proc/sys").join(key);
    std::fs::read_to_string(&path)
        .map(|s| s.trim().to_string())
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))
}
