//! Applying one image layer (an uncompressed tar stream in the Docker/OCI
//! layer format) into an overlayfs "diff" directory, with the semantics of
//! moby's `pkg/archive` unpacker and overlay2 `ApplyDiff`.
//!
//! Safety model: the destination is opened once; the parent directory of
//! every entry is resolved with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`
//! from that handle, so symlinks created by the layer resolve as they would
//! inside the container and can never lead outside the destination. The
//! final component is then created with `*at` syscalls relative to the
//! parent handle, never following a symlink in that last component.

use std::ffi::{CStr, CString, OsStr};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{
    self as rfs, AtFlags, FileType, Gid, Mode, OFlags, ResolveFlags, Timespec, Timestamps, Uid,
    XattrFlags,
};
use rustix::io::Errno;

use tar::EntryType;

use crate::error::ApplyError;
use crate::names;
use crate::tree::remove_at;

/// Options for [`apply_layer`].
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Whether character and block device entries are created (`docker
    /// load`) or refused with [`ApplyError::DeviceNotAllowed`] (`docker
    /// import`). Whiteouts (which become 0:0 character devices) are always
    /// allowed.
    pub allow_devices: bool,
    /// Every entry is owned by this uid:gid instead of the archive's
    /// (`docker cp` without `-a` gives the container's root the files).
    pub owner: Option<(u32, u32)>,
    /// Refuse ([`ApplyError::KindChange`]) an entry that would replace a
    /// directory with a non-directory or the other way round, instead of
    /// replacing it as a layer does (`noOverwriteDirNonDir` of `docker cp`).
    pub no_overwrite_dir_non_dir: bool,
}

/// What [`apply_layer`] extracted.
#[derive(Debug, Default, Clone)]
pub struct ApplyStats {
    /// Number of tar entries read (after GNU long-name / PAX headers were
    /// folded into the entries they describe), including skipped ones.
    pub entries: u64,
    /// Total bytes of regular-file content written.
    pub content_bytes: u64,
}

/// Prefix of an AUFS/OCI whiteout entry.
const WH_PREFIX: &[u8] = b".wh.";
/// Prefix of AUFS metadata names (`.wh..wh.*`).
const WH_META_PREFIX: &[u8] = b".wh..wh.";
/// The opaque-directory marker.
const WH_OPAQUE: &[u8] = b".wh..wh..opq";
/// The overlayfs xattr marking a directory opaque.
const OPAQUE_XATTR: &CStr = c"trusted.overlay.opaque";
/// PAX record prefix carrying extended attributes.
const PAX_XATTR: &[u8] = b"SCHILY.xattr.";

/// Flags to open an existing directory for metadata changes.
const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);
/// Flags for a resolution-only directory handle.
const PATH_DIR_FLAGS: OFlags = OFlags::PATH.union(OFlags::DIRECTORY).union(OFlags::CLOEXEC);

/// Metadata of one entry, from its header and PAX records.
struct Meta {
    uid: Uid,
    gid: Gid,
    /// Permission bits including setuid/setgid/sticky.
    mode: Mode,
    times: Timestamps,
    xattrs: Vec<(CString, Vec<u8>)>,
}

/// The kinds of entries we create.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Fifo,
    Char,
    Block,
}

/// Extracts a tar layer read from `reader` into `dest` (an existing, empty
/// directory).
///
/// The archive is read sequentially exactly once, every entry's content is
/// consumed, and after the end-of-archive marker the reader is drained to
/// EOF, so a hashing tee around `reader` sees the whole stream. On error
/// `dest` is left partially filled (the caller removes it), but nothing is
/// ever created, modified or followed outside `dest`.
///
/// Semantics follow Docker's overlay2 driver: names are cleaned lexically
/// and refused if they climb above the root; `.wh.NAME` becomes an overlay
/// whiteout (a 0:0 character device `NAME`), `.wh..wh..opq` marks its
/// directory opaque (`trusted.overlay.opaque=y`), other `.wh..wh.*` names
/// are skipped; owners, modes (with setuid bits), times and `SCHILY.xattr.*`
/// extended attributes are applied; a later entry replaces an earlier one
/// (an existing directory is merged with a directory entry); missing parent
/// directories are created with mode 0755.
pub fn apply_layer<R: Read>(
    reader: R,
    dest: &Path,
    opts: &ApplyOptions,
) -> Result<ApplyStats, ApplyError> {
    let root = rfs::open(dest, DIR_FLAGS, Mode::empty())
        .map_err(io_err(".", "opening the layer directory"))?;
    let mut ap = Applier {
        root,
        opts,
        dirs: Vec::new(),
        stats: ApplyStats::default(),
        buf: vec![0u8; 64 * 1024],
    };
    let mut archive = tar::Archive::new(reader);
    let mut last: Option<String> = None;
    let entries = archive.entries().map_err(|source| ApplyError::Tar {
        context: "start of archive".into(),
        source,
    })?;
    for entry in entries {
        let mut entry = entry.map_err(|source| ApplyError::Tar {
            context: match &last {
                Some(name) => format!("header after entry {name:?}"),
                None => "first header".into(),
            },
            source,
        })?;
        ap.stats.entries += 1;
        last = Some(String::from_utf8_lossy(&entry.path_bytes()).into_owned());
        ap.entry(&mut entry)?;
    }
    ap.finish_dirs()?;
    let mut inner = archive.into_inner();
    io::copy(&mut inner, &mut io::sink()).map_err(|source| ApplyError::Tar {
        context: "data after the end of archive".into(),
        source,
    })?;
    Ok(ap.stats)
}

/// Builds a closure turning an errno into [`ApplyError::Io`] for `name`.
fn io_err<'a>(name: &'a str, op: &'static str) -> impl FnOnce(Errno) -> ApplyError + 'a {
    move |e| ApplyError::Io {
        name: name.to_owned(),
        op,
        source: e.into(),
    }
}

/// Treats "extended attributes not supported" (and any failure to set
/// `security.selinux`, which depends on the host's policy) as success.
fn xattr_ok(key: &CStr, r: rustix::io::Result<()>) -> rustix::io::Result<()> {
    match r {
        Err(Errno::OPNOTSUPP) => Ok(()),
        Err(_) if key == c"security.selinux" => Ok(()),
        r => r,
    }
}

/// `openat2(root, path, O_PATH|O_DIRECTORY, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS)`,
/// retried on the `EAGAIN` the kernel returns when a rename raced with it.
fn open_in_root(root: BorrowedFd<'_>, path: &[u8]) -> rustix::io::Result<OwnedFd> {
    let mut tries = 0;
    loop {
        match rfs::openat2(
            root,
            path,
            PATH_DIR_FLAGS,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        ) {
            Err(Errno::AGAIN) if tries < 64 => tries += 1,
            r => return r,
        }
    }
}

/// A C string from a path component (tar names may carry a NUL only
/// through PAX records; such names are invalid).
fn cstr(bytes: &[u8]) -> rustix::io::Result<CString> {
    CString::new(bytes).map_err(|_| Errno::INVAL)
}

/// Makes room for a new `base` in `parent`: an existing non-directory is
/// unlinked, an existing directory is removed recursively unless
/// `keep_dir`. Returns whether an existing directory was kept.
fn make_room(parent: BorrowedFd<'_>, base: &[u8], keep_dir: bool) -> rustix::io::Result<bool> {
    match rfs::statat(parent, base, AtFlags::SYMLINK_NOFOLLOW) {
        Err(Errno::NOENT) => Ok(false),
        Err(e) => Err(e),
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
            if keep_dir {
                Ok(true)
            } else {
                remove_at(parent, &cstr(base)?)?;
                Ok(false)
            }
        }
        Ok(_) => {
            rfs::unlinkat(parent, base, AtFlags::empty())?;
            Ok(false)
        }
    }
}

/// Parses a PAX time record (`[-]SECONDS[.FRACTION]`). Times before the
/// epoch are clamped to it, as Docker does.
fn parse_pax_time(v: &[u8]) -> Option<Timespec> {
    let s = std::str::from_utf8(v).ok()?;
    if s.starts_with('-') {
        return Some(Timespec::default());
    }
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let tv_sec: i64 = secs.parse().ok()?;
    let mut nsec: i64 = 0;
    for (i, c) in frac.chars().take(9).enumerate() {
        let d = c.to_digit(10)? as i64;
        nsec += d * 10i64.pow(8 - i as u32);
    }
    Some(Timespec {
        tv_sec,
        tv_nsec: nsec as _,
    })
}

/// Parses a decimal PAX id record.
fn parse_pax_u64(v: &[u8]) -> Option<u64> {
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// Reads the metadata of `entry` (header fields overridden by PAX records).
fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>, name: &str) -> Result<Meta, ApplyError> {
    let tar_err = |source: io::Error| ApplyError::Tar {
        context: format!("entry {name:?}"),
        source,
    };
    let invalid = |reason: &str| ApplyError::InvalidEntry {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    let h = entry.header();
    let mut uid = h.uid().map_err(tar_err)?;
    let mut gid = h.gid().map_err(tar_err)?;
    let mode = h.mode().map_err(tar_err)? & 0o7777;
    let secs = |t: u64| Timespec {
        tv_sec: i64::try_from(t).unwrap_or(i64::MAX),
        tv_nsec: 0,
    };
    let mut mtime = secs(h.mtime().map_err(tar_err)?);
    let mut atime = h
        .as_gnu()
        .and_then(|g| g.atime().ok())
        .filter(|t| *t != 0)
        .map(secs);
    let mut xattrs = Vec::new();
    if let Some(pax) = entry.pax_extensions().map_err(tar_err)? {
        for ext in pax {
            let ext = ext.map_err(tar_err)?;
            let (key, value) = (ext.key_bytes(), ext.value_bytes());
            match key {
                b"uid" => uid = parse_pax_u64(value).ok_or_else(|| invalid("bad PAX uid"))?,
                b"gid" => gid = parse_pax_u64(value).ok_or_else(|| invalid("bad PAX gid"))?,
                b"mtime" => {
                    mtime = parse_pax_time(value).ok_or_else(|| invalid("bad PAX mtime"))?
                }
                b"atime" => atime = parse_pax_time(value),
                _ => {
                    if let Some(xname) = key.strip_prefix(PAX_XATTR) {
                        // overlayfs' own metadata is never taken from a
                        // layer (opaque dirs come from `.wh..wh..opq`).
                        if xname.starts_with(b"trusted.overlay.") {
                            continue;
                        }
                        let xname = CString::new(xname).map_err(|_| invalid("bad xattr name"))?;
                        xattrs.push((xname, value.to_vec()));
                    }
                }
            }
        }
    }
    let id = |v: u64, what: &str| -> Result<u32, ApplyError> {
        u32::try_from(v)
            .ok()
            .filter(|v| *v != u32::MAX)
            .ok_or_else(|| invalid(&format!("{what} {v} out of range")))
    };
    let last_access = match atime {
        Some(a) if a > mtime => a,
        _ => mtime,
    };
    Ok(Meta {
        uid: Uid::from_raw(id(uid, "uid")?),
        gid: Gid::from_raw(id(gid, "gid")?),
        mode: Mode::from_raw_mode(mode),
        times: Timestamps {
            last_access,
            last_modification: mtime,
        },
        xattrs,
    })
}

/// State of one [`apply_layer`] call.
struct Applier<'o> {
    root: OwnedFd,
    opts: &'o ApplyOptions,
    /// Directories whose times are set at the end: (path, depth, times).
    dirs: Vec<(Vec<u8>, usize, Timestamps)>,
    stats: ApplyStats,
    buf: Vec<u8>,
}

impl Applier<'_> {
    /// Opens directory `comps` (relative to the root, resolved inside it).
    /// With `create`, missing directories are created (0755), as Docker
    /// does for the parents of an entry.
    fn resolve_dir(&self, comps: &[&[u8]], create: bool) -> rustix::io::Result<OwnedFd> {
        if comps.is_empty() {
            return rfs::openat(&self.root, c".", PATH_DIR_FLAGS, Mode::empty());
        }
        match open_in_root(self.root.as_fd(), &names::join(comps)) {
            Err(Errno::NOENT) if create => {}
            r => return r,
        }
        let mut cur = rfs::openat(&self.root, c".", PATH_DIR_FLAGS, Mode::empty())?;
        for (i, comp) in comps.iter().enumerate() {
            cur = match open_in_root(self.root.as_fd(), &names::join(&comps[..=i])) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => {
                    // `cur` was resolved inside the root, and `comp` is a
                    // single component: the new directory is inside too.
                    rfs::mkdirat(&cur, *comp, Mode::from_raw_mode(0o755))?;
                    let fd = rfs::openat(&cur, *comp, DIR_FLAGS, Mode::empty())?;
                    rfs::fchmod(&fd, Mode::from_raw_mode(0o755))?;
                    fd
                }
                Err(e) => return Err(e),
            };
        }
        Ok(cur)
    }

    /// Processes one tar entry.
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), ApplyError> {
        let raw_name = entry.path_bytes().into_owned();
        let etype = entry.header().entry_type();
        let kind = match etype {
            // A pre-POSIX regular file whose name ends in '/' is a directory.
            EntryType::Regular if etype.as_byte() == 0 && raw_name.ends_with(b"/") => Kind::Dir,
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => Kind::File,
            EntryType::Directory => Kind::Dir,
            EntryType::Symlink => Kind::Symlink,
            EntryType::Link => Kind::Hardlink,
            EntryType::Fifo => Kind::Fifo,
            EntryType::Char => Kind::Char,
            EntryType::Block => Kind::Block,
            // Global PAX headers and unknown types are ignored, as by Docker;
            // their content is skipped by the archive iterator.
            _ => return Ok(()),
        };
        let comps = names::clean(&raw_name).ok_or_else(|| ApplyError::InvalidEntry {
            name: String::from_utf8_lossy(&raw_name).into_owned(),
            reason: "path escapes the layer root".into(),
        })?;
        let name = String::from_utf8_lossy(&names::join(&comps)).into_owned();
        let mut meta = read_meta(entry, &name)?;
        if let Some((uid, gid)) = self.opts.owner {
            meta.uid = Uid::from_raw(uid);
            meta.gid = Gid::from_raw(gid);
        }

        let Some((base, parent_comps)) = comps.split_last() else {
            // The root itself: only a directory entry means anything.
            if kind == Kind::Dir {
                self.fd_meta(self.root.as_fd(), &meta, &name)?;
                self.dirs.push((Vec::new(), 0, meta.times));
            }
            return Ok(());
        };
        let base: &[u8] = base;
        // AUFS metadata directories at the root (`.wh..wh.plnk` and the
        // like) are not part of the image.
        if comps[0].starts_with(WH_META_PREFIX) && !(comps.len() == 1 && base == WH_OPAQUE) {
            return Ok(());
        }
        let parent = self
            .resolve_dir(parent_comps, true)
            .map_err(io_err(&name, "opening parent directory"))?;
        let parent = parent.as_fd();

        if let Some(orig) = base.strip_prefix(WH_PREFIX) {
            return self.whiteout(parent, orig, &meta, &name);
        }
        if self.opts.no_overwrite_dir_non_dir {
            if let Ok(st) = rfs::statat(parent, base, AtFlags::SYMLINK_NOFOLLOW) {
                let was_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
                if was_dir != (kind == Kind::Dir) {
                    let what = |dir: bool| if dir { "directory" } else { "non-directory" };
                    return Err(ApplyError::KindChange {
                        name,
                        existing: what(was_dir),
                        new: what(!was_dir),
                    });
                }
            }
        }

        match kind {
            Kind::File => {
                make_room(parent, base, false)
                    .map_err(io_err(&name, "replacing existing entry"))?;
                let fd = rfs::openat(
                    parent,
                    base,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(io_err(&name, "creating file"))?;
                let mut file = File::from(fd);
                self.copy_content(entry, &mut file, &name)?;
                self.fd_meta(file.as_fd(), &meta, &name)?;
                rfs::futimens(&file, &meta.times).map_err(io_err(&name, "setting times"))?;
            }
            Kind::Dir => {
                let kept = make_room(parent, base, true)
                    .map_err(io_err(&name, "replacing existing entry"))?;
                if !kept {
                    rfs::mkdirat(parent, base, Mode::RWXU)
                        .map_err(io_err(&name, "creating directory"))?;
                }
                let fd = rfs::openat(parent, base, DIR_FLAGS, Mode::empty())
                    .map_err(io_err(&name, "opening directory"))?;
                self.fd_meta(fd.as_fd(), &meta, &name)?;
                self.dirs
                    .push((names::join(&comps), comps.len(), meta.times));
            }
            Kind::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                if !names::symlink_stays_inside(parent_comps, &target) {
                    return Err(ApplyError::SymlinkEscape {
                        name,
                        target: String::from_utf8_lossy(&target).into_owned(),
                    });
                }
                make_room(parent, base, false)
                    .map_err(io_err(&name, "replacing existing entry"))?;
                rfs::symlinkat(target.as_slice(), parent, base)
                    .map_err(io_err(&name, "creating symlink"))?;
                self.at_meta(parent, base, &meta, &name, false)?;
            }
            Kind::Hardlink => self.hardlink(entry, parent, base, &meta, &name)?,
            Kind::Fifo | Kind::Char | Kind::Block => {
                let ft = match kind {
                    Kind::Fifo => FileType::Fifo,
                    Kind::Char => FileType::CharacterDevice,
                    _ => FileType::BlockDevice,
                };
                if ft != FileType::Fifo && !self.opts.allow_devices {
                    return Err(ApplyError::DeviceNotAllowed { name });
                }
                let dev = if ft == FileType::Fifo {
                    0
                } else {
                    let h = entry.header();
                    let tar_err = |source| ApplyError::Tar {
                        context: format!("entry {name:?}"),
                        source,
                    };
                    let major = h.device_major().map_err(tar_err)?.unwrap_or(0);
                    let minor = h.device_minor().map_err(tar_err)?.unwrap_or(0);
                    rfs::makedev(major, minor)
                };
                make_room(parent, base, false)
                    .map_err(io_err(&name, "replacing existing entry"))?;
                rfs::mknodat(parent, base, ft, Mode::from_raw_mode(0o600), dev)
                    .map_err(io_err(&name, "creating special file"))?;
                self.at_meta(parent, base, &meta, &name, true)?;
            }
        }
        Ok(())
    }

    /// Copies a regular file's content from the archive.
    fn copy_content<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        file: &mut File,
        name: &str,
    ) -> Result<(), ApplyError> {
        loop {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(ApplyError::Tar {
                        context: format!("content of entry {name:?}"),
                        source,
                    })
                }
            };
            file.write_all(&self.buf[..n])
                .map_err(|source| ApplyError::Io {
                    name: name.to_owned(),
                    op: "writing file content",
                    source,
                })?;
            self.stats.content_bytes += n as u64;
        }
    }

    /// Owner, xattrs, then mode (chown clears setuid bits, so chmod comes
    /// last) on an open file or directory.
    fn fd_meta(&self, fd: BorrowedFd<'_>, meta: &Meta, name: &str) -> Result<(), ApplyError> {
        rfs::fchown(fd, Some(meta.uid), Some(meta.gid)).map_err(io_err(name, "changing owner"))?;
        for (key, value) in &meta.xattrs {
            xattr_ok(
                key,
                rfs::fsetxattr(fd, key.as_c_str(), value, XattrFlags::empty()),
            )
            .map_err(io_err(name, "setting extended attribute"))?;
        }
        rfs::fchmod(fd, meta.mode).map_err(io_err(name, "changing mode"))
    }

    /// Owner, xattrs, mode (if `chmod`) and times of `base` in `parent`,
    /// without following it if it is a symlink.
    fn at_meta(
        &self,
        parent: BorrowedFd<'_>,
        base: &[u8],
        meta: &Meta,
        name: &str,
        chmod: bool,
    ) -> Result<(), ApplyError> {
        rfs::chownat(
            parent,
            base,
            Some(meta.uid),
            Some(meta.gid),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(io_err(name, "changing owner"))?;
        if !meta.xattrs.is_empty() {
            // There is no lsetxattrat(2) on older kernels: go through the
            // parent's /proc magic link; `base` is one component and
            // lsetxattr does not follow it.
            let mut path = PathBuf::from(format!("/proc/self/fd/{}", parent.as_raw_fd()));
            path.push(OsStr::from_bytes(base));
            for (key, value) in &meta.xattrs {
                xattr_ok(
                    key,
                    rfs::lsetxattr(&path, key.as_c_str(), value, XattrFlags::empty()),
                )
                .map_err(io_err(name, "setting extended attribute"))?;
            }
        }
        if chmod {
            // Only used on entries we just created that are not symlinks.
            rfs::chmodat(parent, base, meta.mode, AtFlags::empty())
                .map_err(io_err(name, "changing mode"))?;
        }
        rfs::utimensat(parent, base, &meta.times, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(io_err(name, "setting times"))
    }

    /// A hardlink to an entry already extracted from this layer.
    fn hardlink<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        parent: BorrowedFd<'_>,
        base: &[u8],
        meta: &Meta,
        name: &str,
    ) -> Result<(), ApplyError> {
        let target = entry
            .link_name_bytes()
            .map(|t| t.into_owned())
            .unwrap_or_default();
        let bad = |reason: &str| ApplyError::InvalidHardlink {
            name: name.to_owned(),
            target: String::from_utf8_lossy(&target).into_owned(),
            reason: reason.to_owned(),
        };
        let tcomps = names::clean(&target).ok_or_else(|| bad("target escapes the layer root"))?;
        let Some((tbase, tparent)) = tcomps.split_last() else {
            return Err(bad("target is the layer root"));
        };
        let tdir = match self.resolve_dir(tparent, false) {
            Ok(fd) => fd,
            Err(Errno::NOENT) | Err(Errno::NOTDIR) => {
                return Err(bad("target does not exist in this layer"))
            }
            Err(e) => return Err(io_err(name, "resolving link target")(e)),
        };
        let tst = match rfs::statat(&tdir, *tbase, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Err(bad("target does not exist in this layer")),
            Err(e) => return Err(io_err(name, "resolving link target")(e)),
        };
        let tft = FileType::from_raw_mode(tst.st_mode);
        if tft == FileType::Directory {
            return Err(bad("target is a directory"));
        }
        let same = matches!(
            rfs::statat(parent, base, AtFlags::SYMLINK_NOFOLLOW),
            Ok(st) if st.st_dev == tst.st_dev && st.st_ino == tst.st_ino
        );
        if !same {
            make_room(parent, base, false).map_err(io_err(name, "replacing existing entry"))?;
            rfs::linkat(&tdir, *tbase, parent, base, AtFlags::empty())
                .map_err(io_err(name, "creating hardlink"))?;
        }
        // Like Docker, the link's header metadata is applied to the shared
        // inode; mode, xattrs and times only if it is not a symlink.
        if tft == FileType::Symlink {
            rfs::chownat(
                parent,
                base,
                Some(meta.uid),
                Some(meta.gid),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(io_err(name, "changing owner"))
        } else {
            self.at_meta(parent, base, meta, name, true)
        }
    }

    /// A `.wh.ORIG` entry: `orig` becomes an overlay whiteout, or, for
    /// `.wh..wh..opq`, the directory is marked opaque.
    fn whiteout(
        &mut self,
        parent: BorrowedFd<'_>,
        orig: &[u8],
        meta: &Meta,
        name: &str,
    ) -> Result<(), ApplyError> {
        if orig.starts_with(WH_PREFIX) {
            if orig == &WH_OPAQUE[WH_PREFIX.len()..] {
                let dir = rfs::openat(parent, c".", DIR_FLAGS, Mode::empty())
                    .map_err(io_err(name, "opening directory"))?;
                rfs::fsetxattr(&dir, OPAQUE_XATTR, b"y", XattrFlags::empty())
                    .map_err(io_err(name, "marking directory opaque"))?;
            }
            return Ok(());
        }
        if orig.is_empty() {
            return Err(ApplyError::InvalidEntry {
                name: name.to_owned(),
                reason: "whiteout of an empty name".into(),
            });
        }
        make_room(parent, orig, false).map_err(io_err(name, "replacing existing entry"))?;
        rfs::mknodat(
            parent,
            orig,
            FileType::CharacterDevice,
            Mode::empty(),
            rfs::makedev(0, 0),
        )
        .map_err(io_err(name, "creating whiteout"))?;
        rfs::chownat(
            parent,
            orig,
            Some(meta.uid),
            Some(meta.gid),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(io_err(name, "changing owner"))
    }

    /// Sets directory times last (adding children changes them), deepest
    /// first; a directory that was since replaced or removed is skipped.
    fn finish_dirs(&mut self) -> Result<(), ApplyError> {
        let mut dirs = std::mem::take(&mut self.dirs);
        // Stable: for a directory listed twice, the later entry wins.
        dirs.sort_by_key(|d| std::cmp::Reverse(d.1));
        for (path, _, times) in &dirs {
            let name = String::from_utf8_lossy(path).into_owned();
            let set = rfs::futimens;
            if path.is_empty() {
                set(&self.root, times).map_err(io_err(&name, "setting times"))?;
                continue;
            }
            let comps: Vec<&[u8]> = path.split(|b| *b == b'/').collect();
            let Some((base, parent_comps)) = comps.split_last() else {
                continue;
            };
            let parent = match self.resolve_dir(parent_comps, false) {
                Ok(fd) => fd,
                Err(Errno::NOENT) | Err(Errno::NOTDIR) => continue,
                Err(e) => return Err(io_err(&name, "opening parent directory")(e)),
            };
            let fd = match rfs::openat(&parent, *base, DIR_FLAGS, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT) | Err(Errno::NOTDIR) | Err(Errno::LOOP) => continue,
                Err(e) => return Err(io_err(&name, "opening directory")(e)),
            };
            set(&fd, times).map_err(io_err(&name, "setting times"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    use tar::{Builder, Header};

    const MTIME: u64 = 1_600_000_000;

    /// A header with `name` written verbatim (bypassing tar's checks).
    fn header(kind: EntryType, name: &str, mode: u32, size: u64) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        let slot = &mut h.as_old_mut().name;
        slot.fill(0);
        slot[..name.len()].copy_from_slice(name.as_bytes());
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(MTIME);
        h.set_size(size);
        h.set_cksum();
        h
    }

    struct Tar(Builder<Vec<u8>>);

    impl Tar {
        fn new() -> Self {
            Tar(Builder::new(Vec::new()))
        }
        fn add(&mut self, h: Header, data: &[u8]) -> &mut Self {
            self.0.append(&h, data).unwrap();
            self
        }
        fn file(&mut self, name: &str, data: &str, mode: u32) -> &mut Self {
            let h = header(EntryType::Regular, name, mode, data.len() as u64);
            self.add(h, data.as_bytes())
        }
        fn dir(&mut self, name: &str, mode: u32) -> &mut Self {
            self.add(header(EntryType::Directory, name, mode, 0), b"")
        }
        fn link(&mut self, kind: EntryType, name: &str, target: &str) -> &mut Self {
            let mut h = header(kind, name, 0o777, 0);
            h.set_link_name_literal(target).unwrap();
            h.set_cksum();
            self.add(h, b"")
        }
        fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
            let mut data = Vec::new();
            for (k, v) in records {
                let body_len = k.len() + v.len() + 3; // ' ', '=', '\n'
                let mut len = body_len + 1;
                while len != body_len + len.to_string().len() {
                    len = body_len + len.to_string().len();
                }
                data.extend_from_slice(format!("{len} {k}=").as_bytes());
                data.extend_from_slice(v);
                data.push(b'\n');
            }
            let h = header(EntryType::XHeader, "PaxHeader", 0o644, data.len() as u64);
            self.add(h, &data)
        }
        fn finish(&mut self) -> Vec<u8> {
            self.0.finish().unwrap();
            self.0.get_ref().clone()
        }
    }

    struct Env {
        tmp: tempfile::TempDir,
        dest: PathBuf,
    }

    fn env() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("diff");
        fs::create_dir(&dest).unwrap();
        Env { tmp, dest }
    }

    fn apply(e: &Env, tar: &[u8], allow_devices: bool) -> Result<ApplyStats, ApplyError> {
        apply_layer(
            tar,
            &e.dest,
            &ApplyOptions {
                allow_devices,
                ..Default::default()
            },
        )
    }

    fn getxattr(path: &Path, name: &str) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 256];
        let n = rfs::lgetxattr(path, name, &mut buf).ok()?;
        buf.truncate(n);
        Some(buf)
    }

    #[test]
    fn files_dirs_modes_owners_times_xattrs() {
        let e = env();
        let mut t = Tar::new();
        let mut h = header(EntryType::Directory, "./etc/", 0o750, 0);
        h.set_uid(1000);
        h.set_gid(1001);
        h.set_mtime(1_000_000_000);
        h.set_cksum();
        t.add(h, b"");
        t.pax(&[
            ("SCHILY.xattr.user.foo", b"bar"),
            ("SCHILY.xattr.trusted.overlay.redirect", b"/x"),
            ("mtime", b"1234567890.5"),
        ]);
        let mut h = header(EntryType::Regular, "etc/hosts", 0o640, 5);
        h.set_uid(5);
        h.set_gid(6);
        h.set_cksum();
        t.add(h, b"hello");
        // setuid + non-root owner: chown would clear the bit.
        let mut h = header(EntryType::Regular, "/usr/bin/su", 0o4755, 2);
        h.set_uid(1234);
        h.set_gid(1234);
        h.set_cksum();
        t.add(h, b"su");
        t.dir("tmp", 0o1777);
        t.add(header(EntryType::Fifo, "tmp/fifo", 0o620, 0), b"");
        let tar = t.finish();
        let stats = apply(&e, &tar, false).unwrap();
        assert_eq!(stats.entries, 5);
        assert_eq!(stats.content_bytes, 7);

        let etc = fs::symlink_metadata(e.dest.join("etc")).unwrap();
        assert!(etc.is_dir());
        assert_eq!(etc.mode() & 0o7777, 0o750);
        assert_eq!((etc.uid(), etc.gid()), (1000, 1001));
        assert_eq!(etc.mtime(), 1_000_000_000, "dir mtime set after children");

        let hosts = e.dest.join("etc/hosts");
        let md = fs::symlink_metadata(&hosts).unwrap();
        assert_eq!(fs::read(&hosts).unwrap(), b"hello");
        assert_eq!(md.mode() & 0o7777, 0o640);
        assert_eq!((md.uid(), md.gid()), (5, 6));
        assert_eq!((md.mtime(), md.mtime_nsec()), (1_234_567_890, 500_000_000));
        assert_eq!(getxattr(&hosts, "user.foo").as_deref(), Some(&b"bar"[..]));
        assert_eq!(getxattr(&hosts, "trusted.overlay.redirect"), None);

        let su = fs::symlink_metadata(e.dest.join("usr/bin/su")).unwrap();
        assert_eq!(su.mode() & 0o7777, 0o4755);
        assert_eq!(su.uid(), 1234);
        assert_eq!(su.mtime(), MTIME as i64);
        // Implied parents: 0755, root-owned.
        let usr = fs::symlink_metadata(e.dest.join("usr/bin")).unwrap();
        assert_eq!(usr.mode() & 0o7777, 0o755);
        assert_eq!(usr.uid(), 0);

        let tmp = fs::symlink_metadata(e.dest.join("tmp")).unwrap();
        assert_eq!(tmp.mode() & 0o7777, 0o1777);
        let fifo = fs::symlink_metadata(e.dest.join("tmp/fifo")).unwrap();
        assert!(fifo.file_type().is_fifo());
        assert_eq!(fifo.mode() & 0o7777, 0o620);
    }

    #[test]
    fn root_entry_sets_root_metadata() {
        let e = env();
        let mut t = Tar::new();
        t.dir("./", 0o700).file("a", "x", 0o644);
        apply(&e, &t.finish(), false).unwrap();
        let md = fs::metadata(&e.dest).unwrap();
        assert_eq!(md.mode() & 0o7777, 0o700);
        assert_eq!(md.mtime(), MTIME as i64);
    }

    #[test]
    fn symlinks_hardlinks_whiteouts_opaque() {
        let e = env();
        let mut t = Tar::new();
        t.dir("bin", 0o755)
            .file("bin/busybox", "bb", 0o755)
            .link(EntryType::Symlink, "bin/sh", "/bin/busybox")
            .link(EntryType::Symlink, "bin/rel", "../bin/busybox")
            .link(EntryType::Link, "bin/ls", "./bin/busybox")
            .link(EntryType::Link, "bin/ls2", "/bin/busybox")
            .add(header(EntryType::Regular, "etc/.wh.passwd", 0o644, 0), b"")
            .dir("var", 0o755)
            .add(
                header(EntryType::Regular, "var/.wh..wh..opq", 0o644, 0),
                b"",
            )
            .add(
                header(EntryType::Regular, ".wh..wh.plnk/123", 0o644, 0),
                b"",
            );
        apply(&e, &t.finish(), false).unwrap();
        let d = &e.dest;
        assert_eq!(
            fs::read_link(d.join("bin/sh")).unwrap(),
            Path::new("/bin/busybox")
        );
        assert_eq!(
            fs::read_link(d.join("bin/rel")).unwrap(),
            Path::new("../bin/busybox")
        );
        let bb = fs::metadata(d.join("bin/busybox")).unwrap();
        let ls = fs::metadata(d.join("bin/ls")).unwrap();
        assert_eq!(bb.ino(), ls.ino());
        assert_eq!(bb.nlink(), 3);
        let wh = fs::symlink_metadata(d.join("etc/passwd")).unwrap();
        assert!(wh.file_type().is_char_device());
        assert_eq!(wh.rdev(), 0);
        assert!(!d.join("etc/.wh.passwd").exists());
        assert_eq!(
            getxattr(&d.join("var"), "trusted.overlay.opaque").as_deref(),
            Some(&b"y"[..])
        );
        assert!(fs::symlink_metadata(d.join("var/.wh..wh..opq")).is_err());
        assert!(fs::symlink_metadata(d.join(".wh..wh.plnk")).is_err());
    }

    #[test]
    fn dotdot_name_refused_nothing_outside() {
        for name in ["../evil", "/../evil", "a/../../evil", "./../evil"] {
            let e = env();
            let mut t = Tar::new();
            t.file(name, "pwned", 0o644);
            let err = apply(&e, &t.finish(), false).unwrap_err();
            assert!(
                err.to_string().contains("path escapes the layer root"),
                "{err}"
            );
            assert!(matches!(err, ApplyError::InvalidEntry { .. }));
            assert!(!e.tmp.path().join("evil").exists());
        }
        let e = env();
        let mut t = Tar::new();
        t.file("../x", "pwned", 0o644);
        let err = apply(&e, &t.finish(), false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid tar entry \"../x\": path escapes the layer root"
        );
    }

    #[test]
    fn symlink_escape_refused() {
        let e = env();
        let mut t = Tar::new();
        t.link(EntryType::Symlink, "a", "../../..");
        let err = apply(&e, &t.finish(), false).unwrap_err();
        assert!(matches!(err, ApplyError::SymlinkEscape { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "invalid symlink \"a\" -> \"../../..\": target escapes the layer root"
        );
        assert!(fs::symlink_metadata(e.dest.join("a")).is_err());

        let e = env();
        let mut t = Tar::new();
        t.link(EntryType::Symlink, "x/y/a", "../../../etc");
        assert!(apply(&e, &t.finish(), false).is_err());
        let e = env();
        let mut t = Tar::new();
        t.link(EntryType::Symlink, "x/y/a", "../../etc");
        apply(&e, &t.finish(), false).unwrap();
    }

    #[test]
    fn absolute_symlink_is_resolved_inside_the_root() {
        let e = env();
        // If the symlink were followed on the host, it would hit this dir.
        let outside = e.tmp.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("passwd"), "host").unwrap();
        let abs = outside.to_str().unwrap();
        let mut t = Tar::new();
        t.link(EntryType::Symlink, "a", abs);
        // Create the in-root counterpart of the host path...
        let mut prefix = String::new();
        for comp in abs.trim_start_matches('/').split('/') {
            prefix.push_str(comp);
            prefix.push('/');
            t.dir(&prefix, 0o755);
        }
        // ...then write through the symlink, as a file and via a hardlink,
        // and through a symlinked directory in the middle of a path.
        t.file("a/passwd", "layer", 0o644)
            .link(EntryType::Symlink, "b", "a")
            .file("b/sub/new", "n", 0o644)
            .link(EntryType::Link, "hl", "a/passwd")
            .link(EntryType::Symlink, "dangling", "/nonexistent/dir");
        apply(&e, &t.finish(), false).unwrap();
        assert_eq!(fs::read_to_string(outside.join("passwd")).unwrap(), "host");
        assert!(!outside.join("sub").exists());
        let inside = e.dest.join(abs.trim_start_matches('/'));
        assert_eq!(fs::read_to_string(inside.join("passwd")).unwrap(), "layer");
        assert_eq!(fs::read_to_string(inside.join("sub/new")).unwrap(), "n");
        assert_eq!(fs::read_to_string(e.dest.join("hl")).unwrap(), "layer");

        // Through a dangling absolute symlink: an error, nothing outside.
        let mut t = Tar::new();
        t.link(EntryType::Symlink, "d", abs)
            .file("d/passwd", "x", 0o644);
        let e2 = env();
        assert!(apply(&e2, &t.finish(), false).is_err());
        assert_eq!(fs::read_to_string(outside.join("passwd")).unwrap(), "host");
    }

    #[test]
    fn symlink_to_etc_then_file() {
        let e = env();
        let mut t = Tar::new();
        t.dir("etc", 0o755)
            .link(EntryType::Symlink, "a", "/etc")
            .file("a/passwd", "root:x:0:0", 0o644);
        apply(&e, &t.finish(), false).unwrap();
        assert_eq!(
            fs::read_to_string(e.dest.join("etc/passwd")).unwrap(),
            "root:x:0:0"
        );
    }

    #[test]
    fn hardlink_checks() {
        let e = env();
        let mut t = Tar::new();
        t.link(EntryType::Link, "x", "../../x");
        let err = apply(&e, &t.finish(), false).unwrap_err();
        assert!(matches!(err, ApplyError::InvalidHardlink { .. }), "{err}");
        assert!(err.to_string().contains("escapes the layer root"), "{err}");

        let e = env();
        let mut t = Tar::new();
        t.link(EntryType::Link, "x", "missing");
        let err = apply(&e, &t.finish(), false).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");

        // A hardlink through a symlink pointing outside stays inside.
        let e = env();
        let outside = e.tmp.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("secret"), "s").unwrap();
        let mut t = Tar::new();
        t.link(EntryType::Symlink, "l", outside.to_str().unwrap())
            .link(EntryType::Link, "x", "l/secret");
        let err = apply(&e, &t.finish(), false).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        assert_eq!(fs::metadata(outside.join("secret")).unwrap().nlink(), 1);
    }

    #[test]
    fn devices() {
        let mut t = Tar::new();
        let mut h = header(EntryType::Char, "dev/null", 0o666, 0);
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
        h.set_cksum();
        t.add(h, b"");
        let tar = t.finish();
        let e = env();
        let err = apply(&e, &tar, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "device node \"dev/null\" is not allowed in an imported layer"
        );
        let e = env();
        apply(&e, &tar, true).unwrap();
        let md = fs::symlink_metadata(e.dest.join("dev/null")).unwrap();
        assert!(md.file_type().is_char_device());
        assert_eq!(md.rdev(), rfs::makedev(1, 3));
        assert_eq!(md.mode() & 0o7777, 0o666);
    }

    #[test]
    fn later_entries_replace_earlier_ones() {
        let e = env();
        let outside = e.tmp.path().join("outside");
        fs::write(&outside, "host").unwrap();
        let mut t = Tar::new();
        t.file("f", "one", 0o644)
            .file("f", "two", 0o600)
            .file("d/inner", "x", 0o644)
            .file("d", "now a file", 0o644)
            .file("g", "file", 0o644)
            .dir("g", 0o711)
            .link(EntryType::Symlink, "s", outside.to_str().unwrap())
            .file("s", "replaced", 0o644)
            .dir("keep", 0o700)
            .file("keep/child", "c", 0o644)
            .dir("keep", 0o755);
        apply(&e, &t.finish(), false).unwrap();
        let d = &e.dest;
        assert_eq!(fs::read_to_string(d.join("f")).unwrap(), "two");
        assert_eq!(fs::metadata(d.join("f")).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs::read_to_string(d.join("d")).unwrap(), "now a file");
        assert!(fs::metadata(d.join("g")).unwrap().is_dir());
        assert_eq!(fs::read_to_string(d.join("s")).unwrap(), "replaced");
        assert_eq!(fs::read_to_string(&outside).unwrap(), "host");
        assert_eq!(fs::read_to_string(d.join("keep/child")).unwrap(), "c");
        let keep = fs::metadata(d.join("keep")).unwrap();
        assert_eq!(keep.permissions().mode() & 0o777, 0o755);
    }

    #[test]
    fn unknown_entries_are_skipped() {
        let e = env();
        let mut t = Tar::new();
        t.add(
            header(EntryType::XGlobalHeader, "pax_global_header", 0o644, 17),
            b"17 comment=abcd\n",
        );
        t.add(header(EntryType::new(b'Z'), "weird", 0o644, 3), b"xyz");
        t.file("ok", "fine", 0o644);
        let stats = apply(&e, &t.finish(), false).unwrap();
        assert_eq!(stats.entries, 3);
        assert_eq!(fs::read_to_string(e.dest.join("ok")).unwrap(), "fine");
        assert!(!e.dest.join("weird").exists());
    }

    /// Counts the bytes read through it.
    struct Counting<R> {
        inner: R,
        n: u64,
    }

    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.n += n as u64;
            Ok(n)
        }
    }

    #[test]
    fn stream_is_fully_consumed() {
        let e = env();
        let mut t = Tar::new();
        t.file("a", &"x".repeat(1000), 0o644)
            .file("skipped/.wh..wh.other", "ignored content", 0o644)
            .add(header(EntryType::new(b'Z'), "weird", 0o644, 700), &[7; 700]);
        let mut tar = t.finish();
        // Real tar writers pad to a 10 KiB record.
        tar.resize(tar.len().div_ceil(10240) * 10240 + 10240, 0);
        let mut r = Counting {
            inner: &tar[..],
            n: 0,
        };
        apply_layer(&mut r, &e.dest, &ApplyOptions::default()).unwrap();
        assert_eq!(r.n, tar.len() as u64);
    }

    #[test]
    fn truncated_archive_is_an_error() {
        let e = env();
        let mut t = Tar::new();
        t.file("a", &"x".repeat(3000), 0o644);
        let tar = t.finish();
        let err = apply(&e, &tar[..1024], false).unwrap_err();
        assert!(matches!(err, ApplyError::Tar { .. }), "{err}");
    }
}
