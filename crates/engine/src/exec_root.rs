//! The daemon's exec root: the state of what runs now (container bundles,
//! shim sockets, libcontainer's state). None of it may outlive a reboot,
//! none of it needs a disk, and every container start and exit writes and
//! removes a dozen files there: it lives on a tmpfs. Where the host keeps
//! it on one already (`/run` on most systems) nothing is done; elsewhere the
//! daemon mounts a tmpfs of its own there, once: a restarted daemon finds
//! its containers' state on the tmpfs the first one mounted.

use std::path::Path;

use rustix::mount::MountFlags;

/// The source name of the tmpfs berth mounts, which tells it from the host's.
const MOUNT_SOURCE: &str = "berth-exec-root";

/// `statfs` type of tmpfs (and of ramfs, which serves as well).
const TMPFS_MAGIC: i64 = 0x0102_1994;
const RAMFS_MAGIC: i64 = 0x8584_58f6;

/// How [`prepare_exec_root`] found or left the exec root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecRoot {
    /// On a tmpfs already (the host's, or the one an earlier daemon mounted).
    InMemory,
    /// A tmpfs was mounted on it now.
    Mounted,
    /// Left on disk: it holds the state of containers (a daemon that did not
    /// mount a tmpfs ran them), or the mount failed; the reason is given.
    OnDisk(&'static str),
}

/// Whether `dir` lies on a tmpfs.
#[allow(clippy::unnecessary_cast)] // f_type is not i64 on every target
pub fn in_memory(dir: &Path) -> bool {
    rustix::fs::statfs(dir).is_ok_and(|s| {
        let t = s.f_type as i64;
        t == TMPFS_MAGIC || t == RAMFS_MAGIC
    })
}

/// Whether a directory of `dir` holds any entry (running containers' state).
fn holds_state(dir: &Path) -> bool {
    ["containers", "runtime"]
        .iter()
        .any(|sub| std::fs::read_dir(dir.join(sub)).is_ok_and(|mut rd| rd.next().is_some()))
}

/// Creates the exec root and puts it on a tmpfs (see the module comment).
pub fn prepare_exec_root(dir: &Path) -> std::io::Result<ExecRoot> {
    std::fs::create_dir_all(dir).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("failed to create the exec root {}: {e}", dir.display()),
        )
    })?;
    if in_memory(dir) {
        return Ok(ExecRoot::InMemory);
    }
    if holds_state(dir) {
        // Mounting over it would hide the sockets of running containers.
        return Ok(ExecRoot::OnDisk("it holds the state of running containers"));
    }
    match rustix::mount::mount(
        MOUNT_SOURCE,
        dir,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV,
        Some(c"mode=0711"),
    ) {
        Ok(()) => Ok(ExecRoot::Mounted),
        Err(_) => Ok(ExecRoot::OnDisk("a tmpfs could not be mounted there")),
    }
}

/// Unmounts the tmpfs a daemon mounted on `dir` (one whose source is
/// berth's), for a daemon that stops with no container running: a clean
/// stop leaves the host's mounts as it found them. What is on it then is
/// what a reboot would lose too (bundles of stopped containers, made again
/// at their next start). Returns whether a mount was taken away.
pub fn release_exec_root(dir: &Path) -> bool {
    if !own_tmpfs_at(dir) {
        return false;
    }
    rustix::mount::unmount(dir, rustix::mount::UnmountFlags::empty())
        .or_else(|_| rustix::mount::unmount(dir, rustix::mount::UnmountFlags::DETACH))
        .is_ok()
}

/// Whether the mount at `dir` is a tmpfs [`prepare_exec_root`] mounted.
fn own_tmpfs_at(dir: &Path) -> bool {
    let Ok(dir) = dir.canonicalize() else {
        return false;
    };
    let want = dir.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|info| {
        info.lines().any(|l| {
            // Fields: id parent dev root mountpoint opts [optional…] - fstype source super
            let mut halves = l.splitn(2, " - ");
            let (Some(head), Some(tail)) = (halves.next(), halves.next()) else {
                return false;
            };
            let mut tail = tail.split(' ');
            head.split(' ').nth(4) == Some(want.as_str())
                && tail.next() == Some("tmpfs")
                && tail.next() == Some(MOUNT_SOURCE)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mounts_at(dir: &Path) -> usize {
        let want = dir.display().to_string();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter(|l| l.split(' ').nth(4) == Some(want.as_str()))
            .count()
    }

    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            while rustix::mount::unmount(self.0, rustix::mount::UnmountFlags::DETACH).is_ok() {}
        }
    }

    #[test]
    fn an_empty_exec_root_goes_on_one_tmpfs_and_stays_there() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        let _guard = Unmount(&dir);
        if in_memory(tmp.path()) {
            assert_eq!(prepare_exec_root(&dir).unwrap(), ExecRoot::InMemory);
            return;
        }
        assert_eq!(prepare_exec_root(&dir).unwrap(), ExecRoot::Mounted);
        assert!(in_memory(&dir));
        std::fs::create_dir_all(dir.join("containers/abc")).unwrap();
        // A restarted daemon keeps the tmpfs and what is on it.
        assert_eq!(prepare_exec_root(&dir).unwrap(), ExecRoot::InMemory);
        assert_eq!(mounts_at(&dir), 1);
        assert!(dir.join("containers/abc").is_dir());
        // A clean stop takes it away, once.
        assert!(release_exec_root(&dir));
        assert_eq!(mounts_at(&dir), 0);
        assert!(!release_exec_root(&dir));
    }

    #[test]
    fn a_tmpfs_not_mounted_by_berth_is_never_released() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        std::fs::create_dir_all(&dir).unwrap();
        let _guard = Unmount(&dir);
        rustix::mount::mount("host-tmpfs", &dir, "tmpfs", MountFlags::empty(), None).unwrap();
        assert_eq!(prepare_exec_root(&dir).unwrap(), ExecRoot::InMemory);
        assert!(!release_exec_root(&dir));
        assert_eq!(mounts_at(&dir), 1);
    }

    #[test]
    fn an_exec_root_with_containers_on_disk_is_left_as_it_is() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        let _guard = Unmount(&dir);
        if in_memory(tmp.path()) {
            return;
        }
        std::fs::create_dir_all(dir.join("containers/abc")).unwrap();
        assert!(matches!(
            prepare_exec_root(&dir).unwrap(),
            ExecRoot::OnDisk(_)
        ));
        assert_eq!(mounts_at(&dir), 0);
        assert!(dir.join("containers/abc").is_dir());
        // Empty directories alone (a daemon stopped with nothing running)
        // hold nothing to hide.
        std::fs::remove_dir(dir.join("containers/abc")).unwrap();
        std::fs::create_dir_all(dir.join("runtime")).unwrap();
        assert_eq!(prepare_exec_root(&dir).unwrap(), ExecRoot::Mounted);
    }
}
