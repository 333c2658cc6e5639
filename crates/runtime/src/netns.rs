//! A network namespace made ahead of need. Making one is the costliest
//! namespace the kernel creates for a container (about 1.5 ms of its start
//! here, most of the namespace work), so the waiting creator of the next
//! container (`berth shim --standby`) makes it while no start waits, with
//! its loopback up as Docker's sandboxes have it, and returns to its own.
//! When the container's spec asks for a new network namespace, the spec is
//! pointed at the one made ahead and the runtime joins it (a `setns`)
//! instead of making one. A container on the host's network, or on
//! another container's, leaves it unused; it goes with the creator.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sched::{setns, unshare, CloneFlags};
use serde_json::{json, Value};

/// A new network namespace, held by a descriptor of this process.
#[derive(Debug)]
pub struct ReadyNetns {
    fd: File,
}

impl ReadyNetns {
    /// Makes a new network namespace with `lo` up. The calling thread is
    /// back in its own namespace when this returns, whatever happened.
    pub fn make() -> io::Result<ReadyNetns> {
        let own = File::open("/proc/thread-self/ns/net")?;
        unshare(CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
        let made = loopback_up().and_then(|()| File::open("/proc/thread-self/ns/net"));
        setns(own.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| {
            io::Error::other(format!("returning to the creator's network namespace: {e}"))
        })?;
        Ok(ReadyNetns { fd: made? })
    }

    /// A path that opens this namespace while this process lives.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            self.fd.as_raw_fd()
        ))
    }

    /// Points `spec`'s request for a new network namespace (a `network`
    /// entry without a path) at this one. False when it asks for none.
    pub fn use_in(&self, spec: &mut Value) -> bool {
        let Some(entries) = spec["linux"]["namespaces"].as_array_mut() else {
            return false;
        };
        let Some(entry) = entries
            .iter_mut()
            .find(|n| n["type"] == "network" && n["path"].as_str().unwrap_or("").is_empty())
        else {
            return false;
        };
        entry["path"] = json!(self.path());
        true
    }
}

/// Brings the loopback interface of the calling thread's network namespace
/// up (the kernel gives it 127.0.0.1/8 and ::1 then).
fn loopback_up() -> io::Result<()> {
    let (sock, mut req) = loopback_flags()?;
    // SAFETY: the flags member is the one SIOCGIFFLAGS filled in.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads the ifreq we own.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A socket of the calling thread's network namespace and the flags of its
/// `lo` (SIOCGIFFLAGS).
fn loopback_flags() -> io::Result<(OwnedFd, libc::ifreq)> {
    // SAFETY: plain socket(2); the descriptor is owned at once.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a new descriptor nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ifreq is plain data; all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS writes into the ifreq we own.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((sock, req))
}

/// Writes `spec` as the bundle's `config.json` (write, then rename).
pub fn rewrite_spec(bundle: &Path, spec: &Value) -> io::Result<()> {
    let path = bundle.join("config.json");
    let tmp = bundle.join("config.json.shim");
    std::fs::write(&tmp, serde_json::to_vec(spec).map_err(io::Error::from)?)?;
    std::fs::rename(&tmp, &path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn ns_inode(path: &Path) -> u64 {
        std::fs::metadata(path).unwrap().ino()
    }

    #[test]
    fn made_apart_from_the_callers_own_with_loopback_up() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        // A thread of its own: the namespace changes apply to it only.
        std::thread::spawn(|| {
            let own = ns_inode(Path::new("/proc/thread-self/ns/net"));
            let ready = ReadyNetns::make().unwrap();
            assert_eq!(ns_inode(Path::new("/proc/thread-self/ns/net")), own);
            let made = ns_inode(&ready.path());
            assert_ne!(made, own);
            // Its lo is up, seen from inside.
            let f = File::open(ready.path()).unwrap();
            std::thread::spawn(move || {
                setns(f.as_fd(), CloneFlags::CLONE_NEWNET).unwrap();
                let (_sock, req) = loopback_flags().unwrap();
                // SAFETY: the member SIOCGIFFLAGS filled in.
                let flags = unsafe { req.ifr_ifru.ifru_flags };
                assert_ne!(flags & libc::IFF_UP as libc::c_short, 0);
            })
            .join()
            .unwrap();
        })
        .join()
        .unwrap();
    }

    #[test]
    fn only_a_request_for_a_new_namespace_is_pointed_at_it() {
        let ready = ReadyNetns {
            fd: File::open("/dev/null").unwrap(),
        };
        let mut fresh = json!({"linux": {"namespaces": [{"type": "pid"}, {"type": "network"}]}});
        assert!(ready.use_in(&mut fresh));
        assert_eq!(fresh["linux"]["namespaces"][1]["path"], json!(ready.path()));
        assert_eq!(fresh["linux"]["namespaces"][0], json!({"type": "pid"}));
        let mut joined = json!({"linux": {"namespaces": [
            {"type": "network", "path": "/proc/42/ns/net"}]}});
        let before = joined.clone();
        assert!(!ready.use_in(&mut joined));
        assert_eq!(joined, before);
        let mut host = json!({"linux": {"namespaces": [{"type": "pid"}]}});
        assert!(!ready.use_in(&mut host));
    }
}
