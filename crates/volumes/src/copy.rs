//! Docker's volume copy-up: when a new, empty volume is mounted over a
//! directory of the image, that directory's content (files, directories,
//! symlinks, hardlinks, devices, FIFOs) is copied into the volume with
//! owners, modes, times and extended attributes.
//!
//! The source lies inside a container's root filesystem, which the image
//! controls, so every step works on directory file descriptors with `*at`
//! calls and `O_NOFOLLOW`: symlinks are copied as symlinks and never
//! followed, and nothing outside the source directory is read.

use std::collections::HashMap;
use std::ffi::{CStr, CString, OsStr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{
    self as rfs, AtFlags, FileType, Gid, Mode, OFlags, ResolveFlags, Stat, Timespec, Timestamps,
    Uid, XattrFlags,
};
use rustix::io::Errno;

use crate::error::{io_error, Result, VolumeError};

const DIR_RO: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Copies the directory `src` into the volume data directory
/// `volume_data` if the volume is empty, keeping owners, modes, times and
/// xattrs, and giving the volume's root the source directory's owner and
/// mode (as Docker does). Returns whether anything was copied: `false` when
/// the volume is not empty or `src` does not exist or is not a directory.
///
/// `src` must already be resolved inside the root filesystem (for example
/// a path from [`crate::safe_mountpoint`]): if its last component is a
/// symlink it is refused. [`copy_up_in_root`] does the resolution itself.
pub fn copy_up(src: &Path, volume_data: &Path) -> Result<bool> {
    let fd = match rfs::open(src, DIR_RO, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(false),
        // O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR (or ELOOP).
        Err(Errno::NOTDIR) | Err(Errno::LOOP) => {
            let is_link = rfs::statat(rfs::CWD, src, AtFlags::SYMLINK_NOFOLLOW)
                .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink);
            if is_link {
                return Err(VolumeError::invalid(format!(
                    "refusing to copy {} into a volume: it is a symbolic link (resolve it inside the container's root first)",
                    src.display()
                )));
            }
            return Ok(false);
        }
        Err(e) => return Err(io_error(format_args!("opening {}", src.display()), e)),
    };
    copy_from_fd(fd, volume_data)
}

/// Like [`copy_up`], with `path` (the mount destination in the container)
/// resolved inside `rootfs` as if it were `/`: symlinks in the image lead
/// at most to other places of the same root filesystem.
pub fn copy_up_in_root(rootfs: &Path, path: &str, volume_data: &Path) -> Result<bool> {
    let root = rfs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_error(format_args!("opening {}", rootfs.display()), e))?;
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    let fd = match rfs::openat2(
        &root,
        rel,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) | Err(Errno::NOTDIR) => return Ok(false),
        Err(e) => {
            return Err(io_error(
                format_args!("opening {path} in {}", rootfs.display()),
                e,
            ))
        }
    };
    copy_from_fd(fd, volume_data)
}

fn copy_from_fd(src: OwnedFd, volume_data: &Path) -> Result<bool> {
    let dst = rfs::open(volume_data, DIR_RO, Mode::empty()).map_err(|e| {
        io_error(
            format_args!("opening volume data {}", volume_data.display()),
            e,
        )
    })?;
    let mut dir = rfs::Dir::read_from(&dst)
        .map_err(|e| io_error(format_args!("reading {}", volume_data.display()), e))?;
    for ent in dir.by_ref() {
        let ent =
            ent.map_err(|e| io_error(format_args!("reading {}", volume_data.display()), e))?;
        let n = ent.file_name().to_bytes();
        if n != b"." && n != b".." {
            tracing::debug!(volume = %volume_data.display(), "copy-up skipped: the volume is not empty");
            return Ok(false);
        }
    }
    drop(dir);
    let st = rfs::fstat(&src).map_err(|e| io_error("reading the source directory", e))?;
    let mut c = Copier {
        dst_root: dst
            .try_clone()
            .map_err(|e| io_error("duplicating a descriptor", e))?,
        links: HashMap::new(),
    };
    c.copy_dir(src.as_fd(), dst.as_fd(), Path::new(""))?;
    c.fd_meta(src.as_fd(), dst.as_fd(), &st, Path::new("."))?;
    Ok(true)
}

struct Copier {
    dst_root: OwnedFd,
    /// Inodes with several links already copied: their path in the volume.
    links: HashMap<(u64, u64), PathBuf>,
}

fn times(st: &Stat) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: st.st_atime as _,
            tv_nsec: st.st_atime_nsec as _,
        },
        last_modification: Timespec {
            tv_sec: st.st_mtime as _,
            tv_nsec: st.st_mtime_nsec as _,
        },
    }
}

fn owner(st: &Stat) -> (Option<Uid>, Option<Gid>) {
    (
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    )
}

fn perm(st: &Stat) -> Mode {
    Mode::from_raw_mode(st.st_mode & 0o7777)
}

/// Setting an xattr the destination cannot hold is not an error (as
/// Docker's copy ignores `ENOTSUP`), nor is failing to set a SELinux label.
fn xattr_set_ok(name: &CStr, r: rustix::io::Result<()>) -> rustix::io::Result<()> {
    match r {
        Err(Errno::OPNOTSUPP) => Ok(()),
        Err(_) if name == c"security.selinux" => Ok(()),
        r => r,
    }
}

fn split_names(list: &[u8]) -> Vec<CString> {
    list.split(|b| *b == 0)
        .filter(|n| !n.is_empty())
        .filter_map(|n| CString::new(n).ok())
        .collect()
}

/// The xattrs of an open file or directory.
fn fd_xattrs(fd: BorrowedFd<'_>) -> rustix::io::Result<Vec<(CString, Vec<u8>)>> {
    let mut list = vec![0u8; 1024];
    let n = loop {
        match rfs::flistxattr(fd, &mut list[..]) {
            Ok(n) => break n,
            Err(Errno::RANGE) => list.resize(rfs::flistxattr_query(fd)?.max(list.len() * 2), 0),
            Err(Errno::OPNOTSUPP) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        }
    };
    let mut out = Vec::new();
    for name in split_names(&list[..n]) {
        let mut val = vec![0u8; 256];
        let len = loop {
            match rfs::fgetxattr(fd, name.as_c_str(), &mut val[..]) {
                Ok(len) => break Some(len),
                Err(Errno::RANGE) => {
                    let want = rfs::fgetxattr_query(fd, name.as_c_str())?;
                    val.resize(want.max(val.len() * 2), 0);
                }
                Err(Errno::NODATA) => break None,
                Err(e) => return Err(e),
            }
        };
        if let Some(len) = len {
            val.truncate(len);
            out.push((name, val));
        }
    }
    Ok(out)
}

/// The xattrs of a path without following it (symlinks, devices, FIFOs).
fn path_xattrs(path: &Path) -> rustix::io::Result<Vec<(CString, Vec<u8>)>> {
    let mut list = vec![0u8; 1024];
    let n = loop {
        match rfs::llistxattr(path, &mut list[..]) {
            Ok(n) => break n,
            Err(Errno::RANGE) => list.resize(rfs::llistxattr_query(path)?.max(list.len() * 2), 0),
            Err(Errno::OPNOTSUPP) | Err(Errno::PERM) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        }
    };
    let mut out = Vec::new();
    for name in split_names(&list[..n]) {
        let mut val = vec![0u8; 256];
        let len = loop {
            match rfs::lgetxattr(path, name.as_c_str(), &mut val[..]) {
                Ok(len) => break Some(len),
                Err(Errno::RANGE) => {
                    let want = rfs::lgetxattr_query(path, name.as_c_str())?;
                    val.resize(want.max(val.len() * 2), 0);
                }
                Err(Errno::NODATA) => break None,
                Err(e) => return Err(e),
            }
        };
        if let Some(len) = len {
            val.truncate(len);
            out.push((name, val));
        }
    }
    Ok(out)
}

/// `/proc/self/fd/DIR/NAME`: a path to `name` in an open directory that
/// l*xattr calls resolve without following `name` itself.
fn proc_path(dir: BorrowedFd<'_>, name: &CStr) -> PathBuf {
    let mut p = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    p.push(OsStr::from_bytes(name.to_bytes()));
    p
}

impl Copier {
    fn err(rel: &Path, what: &str, e: Errno) -> VolumeError {
        io_error(format_args!("copy-up of /{}: {what}", rel.display()), e)
    }

    /// Owner, mode, xattrs and times of an open file or directory.
    fn fd_meta(
        &self,
        src: BorrowedFd<'_>,
        dst: BorrowedFd<'_>,
        st: &Stat,
        rel: &Path,
    ) -> Result<()> {
        let (u, g) = owner(st);
        rfs::fchown(dst, u, g).map_err(|e| Self::err(rel, "changing owner", e))?;
        rfs::fchmod(dst, perm(st)).map_err(|e| Self::err(rel, "changing mode", e))?;
        for (name, val) in fd_xattrs(src).map_err(|e| Self::err(rel, "reading xattrs", e))? {
            xattr_set_ok(
                &name,
                rfs::fsetxattr(dst, name.as_c_str(), &val, XattrFlags::empty()),
            )
            .map_err(|e| Self::err(rel, "setting xattrs", e))?;
        }
        rfs::futimens(dst, &times(st)).map_err(|e| Self::err(rel, "setting times", e))
    }

    /// Owner, mode (unless a symlink), xattrs and times of `name` in `dst`.
    fn at_meta(
        &self,
        src: BorrowedFd<'_>,
        dst: BorrowedFd<'_>,
        name: &CStr,
        st: &Stat,
        chmod: bool,
        rel: &Path,
    ) -> Result<()> {
        let (u, g) = owner(st);
        rfs::chownat(dst, name, u, g, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| Self::err(rel, "changing owner", e))?;
        if chmod {
            // Only used on entries we just created that are not symlinks.
            rfs::chmodat(dst, name, perm(st), AtFlags::empty())
                .map_err(|e| Self::err(rel, "changing mode", e))?;
        }
        let xattrs =
            path_xattrs(&proc_path(src, name)).map_err(|e| Self::err(rel, "reading xattrs", e))?;
        if !xattrs.is_empty() {
            let dpath = proc_path(dst, name);
            for (key, val) in xattrs {
                xattr_set_ok(
                    &key,
                    rfs::lsetxattr(&dpath, key.as_c_str(), &val, XattrFlags::empty()),
                )
                .map_err(|e| Self::err(rel, "setting xattrs", e))?;
            }
        }
        rfs::utimensat(dst, name, &times(st), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| Self::err(rel, "setting times", e))
    }

    fn copy_dir(&mut self, src: BorrowedFd<'_>, dst: BorrowedFd<'_>, rel: &Path) -> Result<()> {
        let mut names = Vec::new();
        {
            let dir =
                rfs::Dir::read_from(src).map_err(|e| Self::err(rel, "reading directory", e))?;
            for ent in dir {
                let ent = ent.map_err(|e| Self::err(rel, "reading directory", e))?;
                let n = ent.file_name();
                if n.to_bytes() != b"." && n.to_bytes() != b".." {
                    names.push(n.to_owned());
                }
            }
        }
        for name in names {
            let child = rel.join(OsStr::from_bytes(name.to_bytes()));
            let st = match rfs::statat(src, name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(Self::err(&child, "reading metadata", e)),
            };
            match FileType::from_raw_mode(st.st_mode) {
                FileType::Directory => {
                    rfs::mkdirat(dst, name.as_c_str(), Mode::RWXU)
                        .map_err(|e| Self::err(&child, "creating directory", e))?;
                    let s = rfs::openat(src, name.as_c_str(), DIR_RO, Mode::empty())
                        .map_err(|e| Self::err(&child, "opening directory", e))?;
                    let d = rfs::openat(dst, name.as_c_str(), DIR_RO, Mode::empty())
                        .map_err(|e| Self::err(&child, "opening directory", e))?;
                    self.copy_dir(s.as_fd(), d.as_fd(), &child)?;
                    self.fd_meta(s.as_fd(), d.as_fd(), &st, &child)?;
                }
                FileType::RegularFile => self.copy_file(src, dst, &name, &st, &child)?,
                FileType::Symlink => {
                    let target = rfs::readlinkat(src, name.as_c_str(), Vec::new())
                        .map_err(|e| Self::err(&child, "reading symlink", e))?;
                    rfs::symlinkat(target.as_c_str(), dst, name.as_c_str())
                        .map_err(|e| Self::err(&child, "creating symlink", e))?;
                    self.at_meta(src, dst, &name, &st, false, &child)?;
                }
                ft @ (FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo) => {
                    rfs::mknodat(
                        dst,
                        name.as_c_str(),
                        ft,
                        Mode::RUSR | Mode::WUSR,
                        st.st_rdev as _,
                    )
                    .map_err(|e| Self::err(&child, "creating special file", e))?;
                    self.at_meta(src, dst, &name, &st, true, &child)?;
                }
                // Sockets (and anything unknown) are skipped, as tar does.
                _ => {}
            }
        }
        Ok(())
    }

    fn copy_file(
        &mut self,
        src: BorrowedFd<'_>,
        dst: BorrowedFd<'_>,
        name: &CStr,
        st: &Stat,
        rel: &Path,
    ) -> Result<()> {
        #[allow(clippy::unnecessary_cast)]
        let key = (st.st_dev as u64, st.st_ino as u64);
        if st.st_nlink > 1 {
            if let Some(first) = self.links.get(&key) {
                let parent = first.parent().unwrap_or(Path::new(""));
                let base = first.file_name().unwrap_or_default();
                let pfd = if parent.as_os_str().is_empty() {
                    self.dst_root
                        .try_clone()
                        .map_err(|e| io_error("duplicating a descriptor", e))?
                } else {
                    rfs::openat2(
                        &self.dst_root,
                        parent,
                        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                        Mode::empty(),
                        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
                    )
                    .map_err(|e| Self::err(rel, "opening hardlink target", e))?
                };
                rfs::linkat(&pfd, base, dst, name, AtFlags::empty())
                    .map_err(|e| Self::err(rel, "creating hardlink", e))?;
                return Ok(());
            }
        }
        let s = rfs::openat(
            src,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Self::err(rel, "opening file", e))?;
        let d = rfs::openat(
            dst,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::RUSR | Mode::WUSR,
        )
        .map_err(|e| Self::err(rel, "creating file", e))?;
        let mut sf = std::fs::File::from(s);
        let mut df = std::fs::File::from(d);
        std::io::copy(&mut sf, &mut df).map_err(|e| {
            io_error(
                format_args!("copy-up of /{}: copying data", rel.display()),
                e,
            )
        })?;
        self.fd_meta(sf.as_fd(), df.as_fd(), st, rel)?;
        if st.st_nlink > 1 {
            self.links.insert(key, rel.to_path_buf());
        }
        Ok(())
    }
}
