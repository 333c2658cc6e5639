//! `docker cp` on the daemon's side: `HEAD`/`GET`/`PUT
//! /containers/{id}/archive`. Paths are resolved as if the container's root
//! were `/` (openat2 `RESOLVE_IN_ROOT`: no symlink leads out of it), through
//! its volumes and binds where the path lies under one, on a running or a
//! stopped container (whose root filesystem is mounted for the copy).

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};
use serde_json::{json, Value};

use super::ContainerRecord;
use crate::error::{EngineError, Result};
use crate::Engine;

/// Go's `os.FileMode` type bits, as the docker CLI reads them.
const MODE_DIR: u32 = 1 << 31;
const MODE_SYMLINK: u32 = 1 << 27;
const MODE_DEVICE: u32 = 1 << 26;
const MODE_PIPE: u32 = 1 << 25;
const MODE_SOCKET: u32 = 1 << 24;
const MODE_SETUID: u32 = 1 << 23;
const MODE_SETGID: u32 = 1 << 22;
const MODE_CHARDEV: u32 = 1 << 21;
const MODE_STICKY: u32 = 1 << 20;

fn go_mode(st_mode: u32) -> u32 {
    let mut m = st_mode & 0o777;
    match st_mode & libc::S_IFMT {
        libc::S_IFDIR => m |= MODE_DIR,
        libc::S_IFLNK => m |= MODE_SYMLINK,
        libc::S_IFBLK => m |= MODE_DEVICE,
        libc::S_IFCHR => m |= MODE_DEVICE | MODE_CHARDEV,
        libc::S_IFIFO => m |= MODE_PIPE,
        libc::S_IFSOCK => m |= MODE_SOCKET,
        _ => {}
    }
    if st_mode & libc::S_ISUID != 0 {
        m |= MODE_SETUID;
    }
    if st_mode & libc::S_ISGID != 0 {
        m |= MODE_SETGID;
    }
    if st_mode & libc::S_ISVTX != 0 {
        m |= MODE_STICKY;
    }
    m
}

fn no_such_path(rec: &ContainerRecord, path: &str) -> EngineError {
    EngineError::not_found(format!(
        "Could not find the file {path} in container {}",
        rec.name.trim_start_matches('/')
    ))
}

/// A path inside a container, resolved to a root on the host and the rest.
struct Located {
    root: PathBuf,
    inner: String,
    /// Unmount this root filesystem when done (a stopped container's).
    temp_mount: bool,
}

impl Engine {
    /// Where `path` of the container lives on the host: under one of its
    /// volumes or binds, else in its root filesystem (mounted if stopped).
    fn locate(&self, rec: &ContainerRecord, path: &str) -> Result<Located> {
        if !path.starts_with('/') {
            return Err(EngineError::invalid(format!(
                "invalid path {path}: it must be absolute"
            )));
        }
        let clean = berth_volumes::clean_path(path);
        let mut best: Option<(&berth_volumes::MountPoint, usize)> = None;
        for mp in rec.mounts.iter().filter(|m| m.kind != "tmpfs") {
            let d = mp.destination.trim_end_matches('/');
            let under = clean == d || clean.starts_with(&format!("{d}/"));
            if under && best.is_none_or(|(_, l)| d.len() > l) {
                best = Some((mp, d.len()));
            }
        }
        if let Some((mp, len)) = best {
            let source = if mp.kind == "volume" {
                self.volumes.data_path(&mp.name)
            } else {
                PathBuf::from(&mp.source)
            };
            let rest = clean[len..].trim_start_matches('/').to_string();
            return Ok(Located {
                root: source,
                inner: format!("/{rest}"),
                temp_mount: false,
            });
        }
        let dirs = self.container_dirs(&rec.id);
        let mounted = berth_snapshot::mount::is_mounted(&dirs.merged);
        if !mounted {
            self.mount_rootfs(rec)?;
        }
        Ok(Located {
            root: dirs.merged,
            inner: clean,
            temp_mount: !mounted && !rec.state.running,
        })
    }

    fn done_with(&self, rec: &ContainerRecord, l: &Located) {
        if l.temp_mount {
            // Only if it did not start meanwhile.
            if let Ok(now) = self.resolve_container(&rec.id) {
                if !now.state.running {
                    self.unmount_rootfs(&rec.id);
                }
            }
        }
    }

    /// `HEAD /containers/{id}/archive`: Docker's path stat (for the
    /// `X-Docker-Container-Path-Stat` header).
    pub fn container_path_stat(&self, name: &str, path: &str) -> Result<Value> {
        let rec = self.resolve_container(name)?;
        let l = self.locate(&rec, path)?;
        let r = stat_in_root(&l.root, &l.inner).ok_or_else(|| no_such_path(&rec, path));
        self.done_with(&rec, &l);
        let (st, target) = r?;
        let base = if path.ends_with("/.") {
            ".".to_string()
        } else {
            Path::new(&l.inner)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "/".into())
        };
        Ok(json!({
            "name": base,
            "size": st.st_size,
            "mode": go_mode(st.st_mode),
            "mtime": chrono::DateTime::from_timestamp(st.st_mtime, st.st_mtime_nsec as u32)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
                .unwrap_or_default(),
            "linkTarget": target,
        }))
    }

    /// `GET /containers/{id}/archive`: a tar of `path` (named by its base
    /// name; a directory with everything in it; links are not followed).
    pub fn container_archive(&self, name: &str, path: &str, out: impl Write) -> Result<()> {
        let rec = self.resolve_container(name)?;
        let l = self.locate(&rec, path)?;
        let r = (|| -> Result<()> {
            let (parent, base) =
                open_parent(&l.root, &l.inner).ok_or_else(|| no_such_path(&rec, path))?;
            let mut b = tar::Builder::new(out);
            b.follow_symlinks(false);
            let name = if base.is_empty() {
                ".".to_string()
            } else {
                base.clone()
            };
            // `DIR/.` names the content: entries are `./…`, as Docker's.
            let tar_name = if path.ends_with("/.") {
                ".".to_string()
            } else if base.is_empty() {
                Path::new(&l.inner)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| ".".into())
            } else {
                base.clone()
            };
            add_entry(&mut b, &parent, &name, &tar_name).map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    no_such_path(&rec, path)
                } else {
                    EngineError::internal(format!("archiving {path}: {e}"))
                }
            })?;
            b.finish()
                .map_err(|e| EngineError::internal(format!("archiving {path}: {e}")))
        })();
        self.done_with(&rec, &l);
        r
    }

    /// `PUT /containers/{id}/archive`: extracts a tar into the directory
    /// `path` of the container.
    pub fn container_extract(
        &self,
        name: &str,
        path: &str,
        input: impl Read,
        no_overwrite_dir_non_dir: bool,
        copy_uid_gid: bool,
    ) -> Result<()> {
        let rec = self.resolve_container(name)?;
        if rec.host_config["ReadonlyRootfs"].as_bool() == Some(true)
            && !rec.mounts.iter().any(|m| {
                m.rw && (berth_volumes::clean_path(path) == m.destination
                    || berth_volumes::clean_path(path).starts_with(&format!("{}/", m.destination)))
            })
        {
            return Err(EngineError::forbidden(
                "container rootfs is marked read-only",
            ));
        }
        let l = self.locate(&rec, path)?;
        let r =
            (|| -> Result<()> {
                let dir = open_in_root(&l.root, &l.inner, OFlags::PATH | OFlags::DIRECTORY)
                    .map_err(|e| match e {
                        rustix::io::Errno::NOTDIR => EngineError::invalid(format!(
                            "extraction point is not a directory: {path}"
                        )),
                        _ => no_such_path(&rec, path),
                    })?;
                drop(dir);
                // The directory exists: its path with the links in it resolved
                // inside the root (nothing is created).
                let resolved = berth_snapshot::mount::mkdir_in_root(&l.root, &l.inner, 0o755)
                    .map_err(|e| EngineError::invalid(format!("resolving {path}: {e}")))?;
                let target = l.root.join(resolved.trim_start_matches('/'));
                // The archive's owners are kept (as Docker, whatever its docs
                // say); with `cp -a` a container that runs as a user gets the
                // files as that user, resolved in its own /etc/passwd (Docker
                // looks the name up on the host and fails on "uid:gid").
                let owner = match rec.config["User"].as_str().filter(|u| !u.is_empty()) {
                    Some(user) if copy_uid_gid => {
                        let u = super::spec::passwd_lookup(&l.root, user)?;
                        Some((u.uid, u.gid))
                    }
                    _ => None,
                };
                berth_snapshot::apply_layer(
                    input,
                    &target,
                    &berth_snapshot::ApplyOptions {
                        allow_devices: false,
                        owner,
                        no_overwrite_dir_non_dir,
                    },
                )
                .map_err(|e| EngineError::invalid(format!("extracting into {path}: {e}")))?;
                Ok(())
            })();
        self.done_with(&rec, &l);
        r
    }
}

fn open_in_root(root: &Path, inner: &str, flags: OFlags) -> rustix::io::Result<OwnedFd> {
    let dir = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let rel = inner.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    rustix::fs::openat2(
        dir.as_fd(),
        rel,
        flags | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
}

/// The parent directory of `inner` (resolved in root) and its base name
/// (empty for the root itself).
fn open_parent(root: &Path, inner: &str) -> Option<(OwnedFd, String)> {
    let p = Path::new(inner);
    match (p.parent(), p.file_name()) {
        (Some(parent), Some(base)) => {
            let fd = open_in_root(
                root,
                &parent.to_string_lossy(),
                OFlags::PATH | OFlags::DIRECTORY,
            )
            .ok()?;
            Some((fd, base.to_string_lossy().into_owned()))
        }
        _ => open_in_root(root, "/", OFlags::PATH | OFlags::DIRECTORY)
            .ok()
            .map(|fd| (fd, String::new())),
    }
}

fn stat_in_root(root: &Path, inner: &str) -> Option<(rustix::fs::Stat, String)> {
    let (parent, base) = open_parent(root, inner)?;
    let name = if base.is_empty() { "." } else { base.as_str() };
    let st = rustix::fs::statat(parent.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
    let target = if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
        rustix::fs::readlinkat(parent.as_fd(), name, Vec::new())
            .map(|t| t.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        String::new()
    };
    Some((st, target))
}

/// Appends an entry keeping `name` exactly (the tar crate would drop a
/// leading `./`, which Docker's clients rely on for `DIR/.` copies).
fn append_raw<W: Write, R: Read>(
    b: &mut tar::Builder<W>,
    h: &mut tar::Header,
    name: &str,
    data: R,
) -> std::io::Result<()> {
    let bytes = name.as_bytes();
    if bytes.len() < 100 {
        let field = &mut h.as_old_mut().name;
        field.fill(0);
        field[..bytes.len()].copy_from_slice(bytes);
        h.set_cksum();
        b.append(h, data)
    } else {
        b.append_data(h, name, data)
    }
}

/// Adds `name` (relative to `dir`) to the archive as `tar_name`, recursing
/// into directories, never following symlinks.
fn add_entry<W: Write>(
    b: &mut tar::Builder<W>,
    dir: &OwnedFd,
    name: &str,
    tar_name: &str,
) -> std::io::Result<()> {
    let st = rustix::fs::statat(dir.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW)?;
    let mut h = tar::Header::new_gnu();
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    h.set_mtime(st.st_mtime.max(0) as u64);
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            append_raw(b, &mut h, &format!("{tar_name}/"), std::io::empty())?;
            let sub = rustix::fs::openat(
                dir.as_fd(),
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let mut names: Vec<String> = Vec::new();
            let rd = rustix::fs::Dir::read_from(&sub)?;
            for e in rd {
                let e = e?;
                let n = e.file_name().to_string_lossy().into_owned();
                if n != "." && n != ".." {
                    names.push(n);
                }
            }
            names.sort();
            for n in names {
                add_entry(b, &sub, &n, &format!("{tar_name}/{n}"))?;
            }
        }
        libc::S_IFLNK => {
            let target = rustix::fs::readlinkat(dir.as_fd(), name, Vec::new())?;
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            if h.set_link_name(target.to_string_lossy().as_ref()).is_ok() {
                append_raw(b, &mut h, tar_name, std::io::empty())?;
            } else {
                b.append_link(&mut h, tar_name, target.to_string_lossy().as_ref())?;
            }
        }
        libc::S_IFREG => {
            let fd = rustix::fs::openat(
                dir.as_fd(),
                name,
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let f = std::fs::File::from(fd);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(st.st_size as u64);
            append_raw(b, &mut h, tar_name, f.take(st.st_size as u64))?;
        }
        libc::S_IFIFO => {
            h.set_entry_type(tar::EntryType::Fifo);
            h.set_size(0);
            append_raw(b, &mut h, tar_name, std::io::empty())?;
        }
        libc::S_IFCHR | libc::S_IFBLK => {
            h.set_entry_type(if st.st_mode & libc::S_IFMT == libc::S_IFCHR {
                tar::EntryType::Char
            } else {
                tar::EntryType::Block
            });
            h.set_device_major(rustix::fs::major(st.st_rdev))?;
            h.set_device_minor(rustix::fs::minor(st.st_rdev))?;
            h.set_size(0);
            append_raw(b, &mut h, tar_name, std::io::empty())?;
        }
        _ => {}
    }
    Ok(())
}
