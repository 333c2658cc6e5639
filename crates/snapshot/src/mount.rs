//! Container root filesystems: overlayfs mounts of image layers under a
//! container's own upper directory, and reading files of a root filesystem
//! without following symlinks out of it.

use std::io::{self, Read};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::mount::{MountFlags, UnmountFlags};

/// What becomes of an overlay's upper layer after use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upper {
    /// Kept: the kernel syncs the upper filesystem at unmount and honours
    /// fsync inside.
    Kept,
    /// Thrown away after the unmount (a `--rm` container, a build step
    /// whose changes are copied out): mounted `volatile`, so the unmount
    /// does not sync the whole upper filesystem (a `syncfs` of the data
    /// root's disk, milliseconds on a busy one) and fsync inside is free.
    /// Kernels without the option (before 5.10) get a plain mount.
    Discarded,
}

/// Mounts an overlay: `lowers` top-most first (an empty list mounts an empty
/// root), `upper` and `work` on the same filesystem, at `target`.
pub fn mount_overlay(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
    empty: &Path,
    keep: Upper,
) -> io::Result<()> {
    let lower: Vec<String> = if lowers.is_empty() {
        vec![empty.display().to_string()]
    } else {
        lowers.iter().map(|p| p.display().to_string()).collect()
    };
    for p in lower
        .iter()
        .chain([upper.display().to_string(), work.display().to_string()].iter())
    {
        if p.contains(',') || p.contains(':') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("overlay path {p} contains ',' or ':'"),
            ));
        }
    }
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    if data.len() >= 4000 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "too many layers to mount ({}): the overlay option string is too long",
                lowers.len()
            ),
        ));
    }
    let cstr = |d: String| {
        std::ffi::CString::new(d).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "overlay options contain a NUL byte",
            )
        })
    };
    let mount = |d: &std::ffi::CStr| {
        rustix::mount::mount("overlay", target, "overlay", MountFlags::empty(), Some(d))
    };
    if keep == Upper::Discarded {
        // A volatile mount leaves work/work/incompat/volatile behind, and
        // the kernel refuses to mount over it again (its sign that the
        // upper layer may have missed writes): for a layer that is thrown
        // away anyway, that is no reason to fail.
        let _ = std::fs::remove_dir_all(work.join("work").join("incompat"));
        if mount(&cstr(format!("{data},volatile"))?).is_ok() {
            return Ok(());
        }
    }
    mount(&cstr(data)?).map_err(|e| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!("mounting overlay at {}: {e}", target.display()),
        )
    })
}

/// Unmounts `target` (lazily, so a busy mount still goes); a path that is
/// not a mount point is fine.
pub fn unmount(target: &Path) -> io::Result<()> {
    match rustix::mount::unmount(target, UnmountFlags::DETACH) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(io::Error::new(
            io::Error::from(e).kind(),
            format!("unmounting {}: {e}", target.display()),
        )),
    }
}

/// Whether `path` is a mount point: the root of a mount, as statx(2) tells
/// in one call (Linux 5.8+); on older kernels, whether
/// /proc/self/mountinfo lists it (a read that grows with every mount).
pub fn is_mounted(path: &Path) -> bool {
    use rustix::fs::{AtFlags, StatxAttributes, StatxFlags, CWD};
    if let Ok(st) = rustix::fs::statx(
        CWD,
        path,
        AtFlags::NO_AUTOMOUNT | AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::empty(),
    ) {
        if st.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT) {
            return st.stx_attributes.contains(StatxAttributes::MOUNT_ROOT);
        }
    }
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.display().to_string();
    info.lines()
        .any(|l| l.split(' ').nth(4) == Some(want.as_str()))
}

/// Reads a file of a root filesystem, resolving `path` as if `root` were
/// `/` (symlinks cannot lead out). Returns `Ok(None)` when it does not exist.
pub fn read_in_root(root: &Path, path: &str, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let dir = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let rel = path.trim_start_matches('/');
    match rustix::fs::openat2(
        dir.as_fd(),
        rel,
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    ) {
        Ok(fd) => {
            let mut f = std::fs::File::from(fd);
            let mut out = Vec::new();
            (&mut f).take(limit).read_to_end(&mut out)?;
            Ok(Some(out))
        }
        Err(rustix::io::Errno::NOENT) | Err(rustix::io::Errno::NOTDIR) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Creates directory `path` (and parents) inside `root`, following symlinks
/// as if `root` were `/` (an absolute link target restarts at `root`, `..`
/// stops at it), and returns the resolved path inside the root (e.g. a
/// mount point `/data` whose image has `/data -> /etc` resolves to `/etc`).
/// Nothing outside `root` is ever created or followed.
pub fn mkdir_in_root(root: &Path, path: &str, mode: u32) -> io::Result<String> {
    let mut todo: Vec<String> = path
        .split('/')
        .filter(|c| !c.is_empty())
        .map(String::from)
        .rev()
        .collect();
    let mut done: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(comp) = todo.pop() {
        match comp.as_str() {
            "." => continue,
            ".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        let dir = open_dir(root, &done)?;
        match rustix::fs::statat(
            dir.as_fd(),
            comp.as_str(),
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        ) {
            Ok(st) => {
                let kind = rustix::fs::FileType::from_raw_mode(st.st_mode);
                if kind == rustix::fs::FileType::Symlink {
                    links += 1;
                    if links > 40 {
                        return Err(io::Error::other(format!(
                            "too many levels of symbolic links in {path}"
                        )));
                    }
                    let target = rustix::fs::readlinkat(dir.as_fd(), comp.as_str(), Vec::new())?;
                    let target = target.to_string_lossy().to_string();
                    if target.starts_with('/') {
                        done.clear();
                    }
                    for c in target.split('/').filter(|c| !c.is_empty()).rev() {
                        todo.push(c.to_string());
                    }
                    continue;
                }
                if kind != rustix::fs::FileType::Directory && !todo.is_empty() {
                    return Err(io::Error::other(format!(
                        "{path}: /{} is not a directory",
                        done.join("/")
                    )));
                }
                done.push(comp);
            }
            Err(rustix::io::Errno::NOENT) => {
                match rustix::fs::mkdirat(dir.as_fd(), comp.as_str(), Mode::from_raw_mode(mode)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                done.push(comp);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(format!("/{}", done.join("/")))
}

fn open_dir(root: &Path, comps: &[String]) -> io::Result<rustix::fd::OwnedFd> {
    let mut dir = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    for c in comps {
        dir = rustix::fs::openat(
            dir.as_fd(),
            c.as_str(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_in_root_does_not_escape() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/passwd"), b"inside").unwrap();
        std::fs::write(dir.path().join("secret"), b"outside").unwrap();
        std::os::unix::fs::symlink("../../secret", root.join("etc/link")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("abs")).unwrap();
        assert_eq!(
            read_in_root(&root, "/etc/passwd", 100).unwrap().unwrap(),
            b"inside"
        );
        // ../../secret resolves to /secret inside the root: absent.
        assert_eq!(read_in_root(&root, "/etc/link", 100).unwrap(), None);
        // An absolute link resolves inside the root too.
        assert_eq!(
            read_in_root(&root, "/abs", 100).unwrap().unwrap(),
            b"inside"
        );
        assert_eq!(read_in_root(&root, "/nope", 100).unwrap(), None);
    }

    #[test]
    fn mkdir_in_root_stays_inside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("data")).unwrap();
        let got = mkdir_in_root(&root, "/data/x/y", 0o755).unwrap();
        assert!(
            !outside.join("x").exists(),
            "followed a symlink out of the root"
        );
        assert!(root.join("data").is_symlink());
        assert_eq!(got, format!("{}/x/y", outside.display()));
        assert!(root.join(got.trim_start_matches('/')).is_dir());
        // A relative link climbing above the root stops at it.
        std::os::unix::fs::symlink("../../../etc", root.join("up")).unwrap();
        assert_eq!(mkdir_in_root(&root, "/up/z", 0o755).unwrap(), "/etc/z");
        assert!(root.join("etc/z").is_dir());
    }

    /// A temporary directory with the named subdirectories made.
    fn scratch<const N: usize>(names: [&str; N]) -> (tempfile::TempDir, [PathBuf; N]) {
        let dir = tempfile::tempdir().unwrap();
        let paths = names.map(|n| {
            let x = dir.path().join(n);
            std::fs::create_dir_all(&x).unwrap();
            x
        });
        (dir, paths)
    }

    #[test]
    fn overlay_mount_and_unmount() {
        let (_dir, [l1, l2, up, wk, mnt, empty]) =
            scratch(["l1", "l2", "up", "wk", "mnt", "empty"]);
        std::fs::write(l1.join("a"), b"top").unwrap();
        std::fs::write(l2.join("a"), b"bottom").unwrap();
        std::fs::write(l2.join("b"), b"b").unwrap();
        mount_overlay(
            &[l1.clone(), l2.clone()],
            &up,
            &wk,
            &mnt,
            &empty,
            Upper::Kept,
        )
        .unwrap();
        assert!(is_mounted(&mnt));
        assert!(!is_mounted(&l1) && !is_mounted(&mnt.join("nothing-here")));
        assert!(!super_options(&mnt).contains("volatile"));
        assert_eq!(std::fs::read(mnt.join("a")).unwrap(), b"top");
        std::fs::write(mnt.join("c"), b"new").unwrap();
        unmount(&mnt).unwrap();
        assert!(!is_mounted(&mnt));
        assert_eq!(std::fs::read(up.join("c")).unwrap(), b"new");
        assert!(!l1.join("c").exists());
        unmount(&mnt).unwrap();
    }

    /// The options the kernel shows for the mount at `target`.
    fn super_options(target: &Path) -> String {
        let want = target.display().to_string();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .find(|l| l.split(' ').nth(4) == Some(want.as_str()))
            .map(|l| l.rsplit(' ').next().unwrap_or("").to_string())
            .unwrap_or_default()
    }

    #[test]
    fn a_discarded_upper_is_mounted_volatile_and_again_after_unmount() {
        let (_dir, [l1, up, wk, mnt, empty]) = scratch(["l1", "up", "wk", "mnt", "empty"]);
        std::fs::write(l1.join("a"), b"low").unwrap();
        for round in 0..2 {
            mount_overlay(
                std::slice::from_ref(&l1),
                &up,
                &wk,
                &mnt,
                &empty,
                Upper::Discarded,
            )
            .unwrap();
            assert!(
                super_options(&mnt).contains("volatile"),
                "round {round}: {}",
                super_options(&mnt)
            );
            // The kernel marks the work directory; the next mount clears it.
            assert!(wk.join("work/incompat/volatile").is_dir());
            assert_eq!(std::fs::read(mnt.join("a")).unwrap(), b"low");
            std::fs::write(mnt.join(format!("new{round}")), b"x").unwrap();
            unmount(&mnt).unwrap();
            assert!(!is_mounted(&mnt));
        }
        assert!(up.join("new0").exists() && up.join("new1").exists());
        // A kept upper mounts over a work directory a volatile mount used
        // only once it is cleared: the discarded mount clears it itself.
        std::fs::remove_dir_all(wk.join("work/incompat")).unwrap();
        mount_overlay(
            std::slice::from_ref(&l1),
            &up,
            &wk,
            &mnt,
            &empty,
            Upper::Kept,
        )
        .unwrap();
        unmount(&mnt).unwrap();
    }
}
