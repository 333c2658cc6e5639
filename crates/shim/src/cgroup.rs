//! Cgroups named by the lines of /proc/PID/cgroup: where each lies under
//! /sys/fs/cgroup, and which files a process joins a container's through.
//!
//! Moving a whole thread group (a write to `cgroup.procs`) write-locks the
//! kernel's global threadgroup semaphore, and the first writer after a quiet
//! spell waits for an RCU grace period: 8-15 ms on these machines, more
//! than all the rest of an exec. A v1 `tasks` write of "0" moves just the
//! calling thread and takes no such lock, so a single-threaded process joins
//! v1 hierarchies through `tasks`; v2 has only `cgroup.procs`.

use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";

/// The (controllers, path) pairs of a /proc/PID/cgroup text; controllers
/// are empty for the v2 hierarchy.
pub fn memberships(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines().filter_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        Some((controllers, path))
    })
}

/// The directory of cgroup `path` in the hierarchy of `controllers`.
pub fn dir(controllers: &str, path: &str) -> PathBuf {
    let rel = path.trim_start_matches('/');
    if controllers.is_empty() {
        // The v2 hierarchy: the root itself on a v2 host, "unified" on a hybrid one.
        let unified = Path::new(ROOT).join("unified");
        return if unified.is_dir() {
            unified.join(rel)
        } else {
            Path::new(ROOT).join(rel)
        };
    }
    let first = controllers.split(',').next().unwrap_or(controllers);
    let mut d = Path::new(ROOT).join(first.trim_start_matches("name="));
    if !d.is_dir() {
        d = Path::new(ROOT).join(controllers);
    }
    d.join(rel)
}

/// The files through which a single-threaded process joins the cgroups of
/// `target` (a /proc/PID/cgroup text) that it is not in yet (`own`, its own
/// text), each to be written "0": v1's per-thread `tasks`, v2's
/// `cgroup.procs`.
pub fn join_files(target: &str, own: &str) -> Vec<PathBuf> {
    let current: Vec<(&str, &str)> = memberships(own).collect();
    memberships(target)
        .filter(|m| !current.contains(m))
        .map(|(controllers, path)| {
            let file = if controllers.is_empty() {
                "cgroup.procs"
            } else {
                "tasks"
            };
            dir(controllers, path).join(file)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_into_controllers_and_paths() {
        let text = "12:pids:/berth/abc\n1:name=systemd:/x\n0::/\n";
        let v: Vec<_> = memberships(text).collect();
        assert_eq!(
            v,
            [("pids", "/berth/abc"), ("name=systemd", "/x"), ("", "/")]
        );
        assert!(dir("pids", "/berth/abc").ends_with("pids/berth/abc"));
        assert!(dir("name=systemd", "/x").ends_with("systemd/x"));
        // Only the hierarchies not shared yet; v1 through `tasks`.
        let own = "12:pids:/\n1:name=systemd:/x\n0::/\n";
        let files = join_files(text, own);
        assert_eq!(files.len(), 1, "{files:?}");
        assert!(files[0].ends_with("pids/berth/abc/tasks"), "{files:?}");
    }
}
