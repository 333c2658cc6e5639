//! Directory-tree helpers that never follow symlinks: [`dir_size`] and
//! [`remove_tree`] (also used by the layer applier to replace a directory
//! with a non-directory).
//!
//! Both walk the tree with file descriptors, one open directory at a time,
//! climbing back up through `..` (checked against the device/inode we came
//! from), so arbitrarily deep trees need neither deep recursion nor one file
//! descriptor per level.

use std::collections::HashSet;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// (device, inode) of an open file.
fn file_id(fd: BorrowedFd<'_>) -> rustix::io::Result<(u64, u64)> {
    let st = rfs::fstat(fd)?;
    Ok((st.st_dev, st.st_ino))
}

/// One directory on the way down: its name in its parent (none for the top
/// of the walk), its identity, and the subdirectories still to visit.
struct Frame {
    name: Option<CString>,
    id: (u64, u64),
    pending: Vec<CString>,
}

/// Entries of the directory `fd` (without `.` and `..`), with their types
/// (never [`FileType::Unknown`]: such entries are `lstat`ed).
fn list(fd: BorrowedFd<'_>) -> rustix::io::Result<Vec<(CString, FileType)>> {
    let mut out = Vec::new();
    let mut dir = rfs::Dir::read_from(fd)?;
    while let Some(ent) = dir.read() {
        let ent = ent?;
        let name = ent.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        let mut ft = ent.file_type();
        if ft == FileType::Unknown {
            match rfs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => ft = FileType::from_raw_mode(st.st_mode),
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(e),
            }
        }
        out.push((name.to_owned(), ft));
    }
    Ok(out)
}

/// Walks the directory tree below `top` (an open directory) depth first,
/// calling `leaf(dirfd, name, type)` for each non-directory and
/// `dir_done(parentfd, name)` after each subdirectory's contents were
/// visited. `open_sub` opens a subdirectory (so the remover can fix up
/// permissions); a subdirectory that turned into something else is handed
/// to `leaf`, one that vanished is ignored.
fn walk(
    top: OwnedFd,
    mut open_sub: impl FnMut(BorrowedFd<'_>, &CStr) -> rustix::io::Result<OwnedFd>,
    mut leaf: impl FnMut(BorrowedFd<'_>, &CStr, FileType) -> rustix::io::Result<()>,
    mut dir_done: impl FnMut(BorrowedFd<'_>, &CStr) -> rustix::io::Result<()>,
) -> rustix::io::Result<()> {
    let visit =
        |fd: BorrowedFd<'_>,
         leaf: &mut dyn FnMut(BorrowedFd<'_>, &CStr, FileType) -> rustix::io::Result<()>|
         -> rustix::io::Result<Vec<CString>> {
            let mut subdirs = Vec::new();
            for (name, ft) in list(fd)? {
                if ft == FileType::Directory {
                    subdirs.push(name);
                } else {
                    leaf(fd, &name, ft)?;
                }
            }
            Ok(subdirs)
        };
    let mut cur = top;
    let mut frames = vec![Frame {
        name: None,
        id: file_id(cur.as_fd())?,
        pending: visit(cur.as_fd(), &mut leaf)?,
    }];
    while let Some(frame) = frames.last_mut() {
        if let Some(sub) = frame.pending.pop() {
            match open_sub(cur.as_fd(), &sub) {
                Ok(fd) => {
                    let pending = visit(fd.as_fd(), &mut leaf)?;
                    frames.push(Frame {
                        name: Some(sub),
                        id: file_id(fd.as_fd())?,
                        pending,
                    });
                    cur = fd;
                }
                Err(Errno::NOENT) => {}
                Err(Errno::NOTDIR) | Err(Errno::LOOP) => {
                    match rfs::statat(cur.as_fd(), &sub, AtFlags::SYMLINK_NOFOLLOW) {
                        Ok(st) => leaf(cur.as_fd(), &sub, FileType::from_raw_mode(st.st_mode))?,
                        Err(Errno::NOENT) => {}
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        } else {
            let name = frame.name.take();
            frames.pop();
            let (Some(name), Some(parent)) = (name, frames.last()) else {
                break;
            };
            let up = rfs::openat(cur.as_fd(), c"..", DIR_FLAGS, Mode::empty())?;
            if file_id(up.as_fd())? != parent.id {
                // The tree was moved under our feet: stop rather than act
                // on some unrelated directory.
                return Err(Errno::STALE);
            }
            dir_done(up.as_fd(), &name)?;
            cur = up;
        }
    }
    Ok(())
}

/// Splits `path` into an open handle on its parent directory and its final
/// component.
fn open_parent(path: &Path) -> io::Result<(OwnedFd, CString)> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: path has no final component", path.display()),
        )
    })?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let fd = rfs::open(
        parent,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    use std::os::unix::ffi::OsStrExt;
    let name = CString::new(name.as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    Ok((fd, name))
}

/// Disk usage (apparent size of regular files + symlinks, hardlinked inodes
/// counted once) of a directory tree, not following symlinks.
///
/// `path` itself may be a regular file or a symlink (its own size is
/// returned); directories, devices and FIFOs count as zero bytes.
pub fn dir_size(path: &Path) -> io::Result<u64> {
    let (parent, name) = open_parent(path)?;
    let st = rfs::statat(&parent, &name, AtFlags::SYMLINK_NOFOLLOW)?;
    let ft = FileType::from_raw_mode(st.st_mode);
    if ft != FileType::Directory {
        return Ok(match ft {
            FileType::RegularFile | FileType::Symlink => st.st_size as u64,
            _ => 0,
        });
    }
    let top = rfs::openat(&parent, &name, DIR_FLAGS, Mode::empty())?;
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut total = 0u64;
    walk(
        top,
        |fd, name| rfs::openat(fd, name, DIR_FLAGS, Mode::empty()),
        |fd, name, ft| {
            if ft != FileType::RegularFile && ft != FileType::Symlink {
                return Ok(());
            }
            let st = match rfs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(Errno::NOENT) => return Ok(()),
                Err(e) => return Err(e),
            };
            if st.st_nlink > 1 && !seen.insert((st.st_dev, st.st_ino)) {
                return Ok(());
            }
            total = total.saturating_add(st.st_size as u64);
            Ok(())
        },
        |_, _| Ok(()),
    )?;
    Ok(total)
}

/// Opens directory `name` in `parent` for removal, granting ourselves
/// `rwx` on it first if it lacks them (needed when not running as root).
fn open_for_removal(parent: BorrowedFd<'_>, name: &CStr) -> rustix::io::Result<OwnedFd> {
    let fd = match rfs::openat(parent, name, DIR_FLAGS, Mode::empty()) {
        Err(Errno::ACCESS) => {
            rfs::chmodat(parent, name, Mode::RWXU, AtFlags::empty())?;
            rfs::openat(parent, name, DIR_FLAGS, Mode::empty())?
        }
        r => r?,
    };
    let st = rfs::fstat(&fd)?;
    if st.st_mode & 0o700 != 0o700 {
        rfs::fchmod(&fd, Mode::from_raw_mode(st.st_mode | 0o700))?;
    }
    Ok(fd)
}

fn ignore_missing(r: rustix::io::Result<()>) -> rustix::io::Result<()> {
    match r {
        Err(Errno::NOENT) => Ok(()),
        r => r,
    }
}

/// Removes whatever `name` is in the directory `parent`: a non-directory is
/// unlinked (a symlink itself, never its target), a directory is emptied
/// recursively and removed. A missing `name` is not an error.
pub(crate) fn remove_at(parent: BorrowedFd<'_>, name: &CStr) -> rustix::io::Result<()> {
    let top = match open_for_removal(parent, name) {
        Ok(fd) => fd,
        Err(Errno::NOTDIR) | Err(Errno::LOOP) => {
            return ignore_missing(rfs::unlinkat(parent, name, AtFlags::empty()));
        }
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    walk(
        top,
        open_for_removal,
        |fd, name, _| ignore_missing(rfs::unlinkat(fd, name, AtFlags::empty())),
        |fd, name| ignore_missing(rfs::unlinkat(fd, name, AtFlags::REMOVEDIR)),
    )?;
    ignore_missing(rfs::unlinkat(parent, name, AtFlags::REMOVEDIR))
}

/// Removes a directory tree, even if it contains read-only dirs /
/// immutable-free files, without following symlinks out of it.
///
/// Symlinks inside the tree (and `path` itself, if it is one) are removed,
/// never followed. A `path` that does not exist is not an error.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    let (parent, name) = match open_parent(path) {
        Ok(x) => x,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    remove_at(parent.as_fd(), &name).map_err(|e| {
        let e = io::Error::from(e);
        io::Error::new(e.kind(), format!("removing {}: {e}", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, PermissionsExt};

    #[test]
    fn size_counts_files_symlinks_hardlinks_once() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("t");
        fs::create_dir_all(root.join("a/b/c")).unwrap();
        fs::write(root.join("f"), vec![0u8; 1000]).unwrap();
        fs::write(root.join("a/b/c/g"), vec![0u8; 24]).unwrap();
        fs::hard_link(root.join("f"), root.join("a/f2")).unwrap();
        symlink("0123456789", root.join("a/l")).unwrap();
        // Outside content reachable by a symlink must not be counted.
        fs::write(tmp.path().join("big"), vec![0u8; 50_000]).unwrap();
        symlink(tmp.path(), root.join("out")).unwrap();
        let out_len = tmp.path().as_os_str().len() as u64;
        assert_eq!(dir_size(&root).unwrap(), 1000 + 24 + 10 + out_len);
        assert_eq!(dir_size(&root.join("f")).unwrap(), 1000);
        assert!(dir_size(&root.join("missing")).is_err());
    }

    #[test]
    fn size_of_deep_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let top = rfs::open(tmp.path(), DIR_FLAGS, Mode::empty()).unwrap();
        let mut cur = top;
        // Deeper than PATH_MAX and than the default RLIMIT_NOFILE.
        for _ in 0..3000 {
            rfs::mkdirat(&cur, "dd", Mode::RWXU).unwrap();
            cur = rfs::openat(&cur, "dd", DIR_FLAGS, Mode::empty()).unwrap();
        }
        let f = rfs::openat(
            &cur,
            "f",
            OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC,
            Mode::RUSR | Mode::WUSR,
        )
        .unwrap();
        rustix::io::write(&f, b"hello").unwrap();
        drop((f, cur));
        assert_eq!(dir_size(&tmp.path().join("dd")).unwrap(), 5);
        remove_tree(&tmp.path().join("dd")).unwrap();
        assert!(!tmp.path().join("dd").exists());
    }

    #[test]
    fn remove_does_not_follow_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("keep"), "precious").unwrap();
        let root = tmp.path().join("t");
        fs::create_dir_all(root.join("ro/sub")).unwrap();
        fs::write(root.join("ro/sub/file"), "x").unwrap();
        symlink(&outside, root.join("ro/link")).unwrap();
        symlink(&outside, root.join("link2")).unwrap();
        fs::set_permissions(root.join("ro/sub"), fs::Permissions::from_mode(0o000)).unwrap();
        fs::set_permissions(root.join("ro"), fs::Permissions::from_mode(0o555)).unwrap();
        remove_tree(&root).unwrap();
        assert!(!root.exists());
        assert_eq!(
            fs::read_to_string(outside.join("keep")).unwrap(),
            "precious"
        );
        // Removing a missing path is fine; a symlink is removed, not followed.
        remove_tree(&root).unwrap();
        symlink(&outside, tmp.path().join("l")).unwrap();
        remove_tree(&tmp.path().join("l")).unwrap();
        assert!(outside.join("keep").exists());
        assert!(fs::symlink_metadata(tmp.path().join("l")).is_err());
    }
}
