//! Paths inside a container's root filesystem and inside a volume that are
//! safe to mount on: mount points created without following symlinks out
//! of the root (an image with `/data -> /etc` gets `<rootfs>/etc`, never the
//! host's `/etc`), and `volume-subpath` resolution that refuses symlinks
//! and `..`.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::error::{io_error, Result, VolumeError};
use crate::spec::clean_path;

/// A mount point made inside a root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountTarget {
    /// The resolved path as seen in the container (`/etc` for `/data`
    /// when the image has `/data -> /etc`): the OCI mount destination.
    pub in_root: String,
    /// The same path on the host: `<rootfs>/<in_root>`.
    pub host_path: PathBuf,
}

fn host_path(rootfs: &Path, in_root: &str) -> PathBuf {
    rootfs.join(in_root.trim_start_matches('/'))
}

fn open_in_root(rootfs: &Path, path: &str) -> Result<rustix::fd::OwnedFd> {
    let root = rfs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_error(format_args!("opening {}", rootfs.display()), e))?;
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    rfs::openat2(
        &root,
        rel,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(|e| io_error(format_args!("opening {path} in {}", rootfs.display()), e))
}

/// Creates the mount point `dest` (an absolute path in the container)
/// inside `rootfs`, resolving symlinks as if `rootfs` were `/`, and returns
/// where it ended up. With `is_file` (the bind source is a file) an empty
/// file (mode 0755, as runc) is made instead of a directory. Mounting a
/// directory over a file, or a file over a directory, is refused.
pub fn safe_mountpoint(rootfs: &Path, dest: &str, is_file: bool) -> Result<MountTarget> {
    if !dest.starts_with('/') {
        return Err(VolumeError::invalid(format!(
            "invalid mount path: '{dest}' mount path must be absolute"
        )));
    }
    if !is_file {
        let in_root = berth_snapshot::mount::mkdir_in_root(rootfs, dest, 0o755).map_err(|e| {
            VolumeError::system(format!("creating mount point {dest} in the container: {e}"))
        })?;
        let host = host_path(rootfs, &in_root);
        // `in_root` has no symlinks left: every component was resolved.
        if !std::fs::symlink_metadata(&host).is_ok_and(|m| m.is_dir()) {
            return Err(VolumeError::invalid(format!(
                "cannot mount a directory on {dest}: it is not a directory in the container"
            )));
        }
        return Ok(MountTarget {
            in_root,
            host_path: host,
        });
    }
    let mut path = clean_path(dest);
    for _ in 0..40 {
        if path == "/" {
            return Err(VolumeError::invalid(format!(
                "cannot mount a file on {dest}: it is a directory in the container"
            )));
        }
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
        let parent = if parent.is_empty() { "/" } else { parent };
        let parent = berth_snapshot::mount::mkdir_in_root(rootfs, parent, 0o755).map_err(|e| {
            VolumeError::system(format!("creating mount point {dest} in the container: {e}"))
        })?;
        let pfd = open_in_root(rootfs, &parent)?;
        let in_root = format!("{}/{name}", parent.trim_end_matches('/'));
        match rfs::statat(pfd.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW) {
            Err(Errno::NOENT) => {
                match rfs::openat(
                    pfd.as_fd(),
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o755),
                ) {
                    Ok(_) | Err(Errno::EXIST) => {}
                    Err(e) => {
                        return Err(io_error(
                            format_args!("creating mount point {dest} in the container"),
                            e,
                        ))
                    }
                }
                let host_path = host_path(rootfs, &in_root);
                return Ok(MountTarget { in_root, host_path });
            }
            Err(e) => {
                return Err(io_error(
                    format_args!("looking up mount point {dest} in the container"),
                    e,
                ))
            }
            Ok(st) => match FileType::from_raw_mode(st.st_mode) {
                FileType::Symlink => {
                    let target = rfs::readlinkat(pfd.as_fd(), name, Vec::new()).map_err(|e| {
                        io_error(
                            format_args!("reading symlink {in_root} in the container"),
                            e,
                        )
                    })?;
                    let target = target.to_string_lossy().into_owned();
                    path = if target.starts_with('/') {
                        clean_path(&target)
                    } else {
                        clean_path(&format!("{parent}/{target}"))
                    };
                }
                FileType::Directory => {
                    return Err(VolumeError::invalid(format!(
                        "cannot mount a file on {dest}: it is a directory in the container"
                    )))
                }
                _ => {
                    let host_path = host_path(rootfs, &in_root);
                    return Ok(MountTarget { in_root, host_path });
                }
            },
        }
    }
    Err(VolumeError::invalid(format!(
        "too many levels of symbolic links in {dest}"
    )))
}

/// Resolves `volume-subpath` inside a volume's data directory: `subpath`
/// must be relative, must not climb out with `..`, and no component may be
/// a symlink (as Docker's `safepath.Join`). Returns the host path.
pub fn volume_subpath(volume_data: &Path, subpath: &str) -> Result<PathBuf> {
    let cleaned = clean_path(subpath);
    if subpath.is_empty()
        || subpath.starts_with('/')
        || cleaned == ".."
        || cleaned.starts_with("../")
    {
        return Err(VolumeError::invalid(format!(
            "path {subpath} escapes base {}",
            volume_data.display()
        )));
    }
    let base = rfs::open(
        volume_data,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_error(format_args!("opening {}", volume_data.display()), e))?;
    rfs::openat2(
        &base,
        cleaned.as_str(),
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(|e| {
        io_error(
            format_args!(
                "cannot access path {}",
                volume_data.join(&cleaned).display()
            ),
            e,
        )
    })?;
    Ok(volume_data.join(cleaned))
}
