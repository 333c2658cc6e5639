//! The volume store: named and anonymous volumes of the `local` driver
//! under `<data-root>/volumes`, laid out as Docker's (`<root>/<name>/_data`),
//! with crash-safe creation and removal and reference-counted mounts of
//! volumes that have `type`/`device` options.
//!
//! Metadata lives beside the data, in `<root>/<name>/volume.json` (name,
//! driver, labels, options, creation time). A volume is built complete in
//! `<root>/.tmp-<random>/` (data directory and metadata, fsynced) and then
//! renamed into place with `RENAME_NOREPLACE`, so after a SIGKILL either the
//! whole volume exists or only a `.tmp-*` directory does; removal renames
//! the volume to `<root>/.rm-<random>` before deleting it. `open` sweeps both
//! kinds of leftovers. Keeping metadata per volume (rather than in the
//! daemon's redb) keeps the store self-contained and each volume's state in
//! one atomic rename.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Local, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{io_error, Result, VolumeError};
use crate::local;

/// The driver this store implements.
pub const LOCAL_DRIVER: &str = "local";
/// The label Docker (23+) puts on anonymous volumes; `volume prune` without
/// `all=true` only removes volumes carrying it.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";
/// The data directory inside a volume's directory.
pub const DATA_DIR: &str = "_data";
/// The metadata file inside a volume's directory.
pub const META_FILE: &str = "volume.json";

const TMP_PREFIX: &str = ".tmp-";
const RM_PREFIX: &str = ".rm-";

/// `docker volume inspect`'s shape (the Engine API's `Volume` object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    /// Creation time, RFC 3339 with seconds, in the daemon's time zone.
    pub created_at: String,
    /// Always `local`.
    pub driver: String,
    /// User labels (`null` when created without any).
    pub labels: Option<BTreeMap<String, String>>,
    /// The host path of the data: `<root>/<name>/_data`.
    pub mountpoint: String,
    /// The volume's name.
    pub name: String,
    /// Driver options (`null` when created without any).
    pub options: Option<BTreeMap<String, String>>,
    /// Always `local`.
    pub scope: String,
    /// Driver status (the local driver has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<BTreeMap<String, serde_json::Value>>,
    /// Size and reference count, filled by the engine for `system df`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_data: Option<UsageData>,
}

/// The API's `UsageData` (`-1` when not computed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UsageData {
    /// Bytes used, or -1.
    pub size: i64,
    /// Containers referencing the volume, or -1.
    pub ref_count: i64,
}

impl Volume {
    /// Whether Docker considers it anonymous (it has [`ANONYMOUS_LABEL`]).
    pub fn is_anonymous(&self) -> bool {
        self.labels
            .as_ref()
            .is_some_and(|l| l.contains_key(ANONYMOUS_LABEL))
    }

    /// Whether it has driver options (such volumes are skipped by `prune`
    /// and by `system df` sizes, as Docker does).
    pub fn has_options(&self) -> bool {
        self.options.as_ref().is_some_and(|o| !o.is_empty())
    }

    /// The labels, empty when there are none.
    pub fn label_map(&self) -> BTreeMap<String, String> {
        self.labels.clone().unwrap_or_default()
    }
}

/// What to create: the body of `POST /volumes/create`, plus whether the
/// volume is an anonymous one made for a container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateOptions {
    /// The name; `None` or empty generates 64 hex characters.
    pub name: Option<String>,
    /// The driver; `None`, empty or `local`.
    pub driver: Option<String>,
    /// Driver options (`DriverOpts`), kept as given (`None` shows `null`).
    pub driver_opts: Option<BTreeMap<String, String>>,
    /// Labels, kept as given (`None` shows `null`).
    pub labels: Option<BTreeMap<String, String>>,
    /// Adds [`ANONYMOUS_LABEL`].
    pub anonymous: bool,
}

/// On-disk metadata (`volume.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Meta {
    name: String,
    driver: String,
    labels: Option<BTreeMap<String, String>>,
    options: Option<BTreeMap<String, String>>,
    /// RFC 3339, UTC, nanoseconds.
    created_at: String,
}

struct Entry {
    meta: Meta,
    /// Users of a volume that needs mounting (Docker's `active.count`).
    active: u64,
    /// Whether `_data` is mounted (Docker's `active.mounted`).
    mounted: bool,
}

impl Entry {
    fn opts(&self) -> BTreeMap<String, String> {
        self.meta.options.clone().unwrap_or_default()
    }
    fn needs_mount(&self) -> bool {
        self.meta.options.as_ref().is_some_and(local::needs_mount)
    }
}

/// The store of local volumes under one root directory.
pub struct VolumeStore {
    root: PathBuf,
    volumes: Mutex<BTreeMap<String, Entry>>,
}

/// Checks a local volume name as Docker's local driver does.
pub fn validate_name(name: &str) -> Result<()> {
    if name.len() == 1 {
        return Err(VolumeError::invalid(
            "volume name is too short, names should be at least two alphanumeric characters",
        ));
    }
    let b = name.as_bytes();
    let ok = b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if !ok {
        return Err(VolumeError::invalid(format!(
            "{name:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )));
    }
    Ok(())
}

/// 64 random hex characters, as Docker's generated volume names.
pub fn generate_name() -> Result<String> {
    Ok(hex::encode(random_bytes::<32>()?))
}

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b)
        .map_err(|e| VolumeError::system(format!("reading random bytes: {e}")))?;
    Ok(b)
}

fn fsync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_error(format_args!("syncing {}", dir.display()), e))
}

fn format_created(stored: &str) -> String {
    match DateTime::parse_from_rfc3339(stored) {
        Ok(t) => t
            .with_timezone(&Local)
            .to_rfc3339_opts(SecondsFormat::Secs, true),
        Err(_) => stored.to_string(),
    }
}

impl VolumeStore {
    /// Opens (creating if needed) the store at `root` (`<data-root>/volumes`),
    /// sweeping what interrupted creations and removals left behind and
    /// noting which volumes with mount options are still mounted.
    pub fn open(root: &Path) -> Result<VolumeStore> {
        let root = std::path::absolute(root)
            .map_err(|e| io_error(format_args!("resolving {}", root.display()), e))?;
        if !root.is_dir() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o701)
                .create(&root)
                .map_err(|e| io_error(format_args!("creating {}", root.display()), e))?;
        }
        let mut volumes = BTreeMap::new();
        let dir = fs::read_dir(&root)
            .map_err(|e| io_error(format_args!("reading {}", root.display()), e))?;
        for ent in dir {
            let ent = ent.map_err(|e| io_error(format_args!("reading {}", root.display()), e))?;
            let Ok(name) = ent.file_name().into_string() else {
                continue;
            };
            let path = ent.path();
            if name.starts_with(TMP_PREFIX) || name.starts_with(RM_PREFIX) {
                if local::has_mounts_under(&path) {
                    tracing::warn!(path = %path.display(), "leftover volume directory still has mounts; not removing it");
                    continue;
                }
                if let Err(e) = berth_snapshot::remove_tree(&path) {
                    tracing::warn!(path = %path.display(), error = %e, "removing leftover volume directory");
                }
                continue;
            }
            let is_dir = fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
            if !is_dir {
                continue;
            }
            let meta_path = path.join(META_FILE);
            let meta: Meta = match fs::read(&meta_path) {
                Ok(b) => match serde_json::from_slice(&b) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(path = %meta_path.display(), error = %e, "skipping volume with unreadable metadata");
                        continue;
                    }
                },
                Err(_) => {
                    tracing::warn!(path = %path.display(), "skipping directory that is not a volume (no {META_FILE})");
                    continue;
                }
            };
            if meta.name != name || validate_name(&name).is_err() {
                tracing::warn!(path = %path.display(), "skipping volume whose metadata names another volume");
                continue;
            }
            let mut entry = Entry {
                meta,
                active: 0,
                mounted: false,
            };
            if entry.needs_mount() {
                entry.mounted = local::is_mounted(&path.join(DATA_DIR));
            }
            volumes.insert(name, entry);
        }
        Ok(VolumeStore {
            root,
            volumes: Mutex::new(volumes),
        })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/<name>/_data` (whether or not the volume exists).
    pub fn data_path(&self, name: &str) -> PathBuf {
        self.root.join(name).join(DATA_DIR)
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        match self.volumes.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn to_api(&self, e: &Entry) -> Volume {
        Volume {
            created_at: format_created(&e.meta.created_at),
            driver: e.meta.driver.clone(),
            labels: e.meta.labels.clone(),
            mountpoint: self.data_path(&e.meta.name).display().to_string(),
            name: e.meta.name.clone(),
            options: e.meta.options.clone(),
            scope: "local".into(),
            status: None,
            usage_data: None,
        }
    }

    /// Creates a volume, or returns the existing one of that name (Docker
    /// is idempotent here and ignores differing options and labels). The
    /// flag says whether it was created now (for the `create` event).
    ///
    /// Errors, with Docker's texts: an unknown driver (`create NAME: error
    /// looking up volume plugin foo: plugin "foo" not found`, 404), a bad
    /// name or option (400).
    pub fn create(&self, opts: CreateOptions) -> Result<(Volume, bool)> {
        let name = match opts.name.as_deref() {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => generate_name()?,
        };
        let driver = opts.driver.as_deref().unwrap_or("");
        if !driver.is_empty() && driver != LOCAL_DRIVER {
            return Err(VolumeError::not_found(format!(
                "create {name}: error looking up volume plugin {driver}: plugin {driver:?} not found"
            )));
        }
        let mut vols = self.lock();
        if let Some(e) = vols.get(&name) {
            return Ok((self.to_api(e), false));
        }
        validate_name(&name).map_err(|e| e.context(format_args!("create {name}")))?;
        if let Some(o) = &opts.driver_opts {
            local::validate_opts(o).map_err(|e| e.context(format_args!("create {name}")))?;
        }
        let mut labels = opts.labels.clone();
        if opts.anonymous {
            labels
                .get_or_insert_with(BTreeMap::new)
                .insert(ANONYMOUS_LABEL.to_string(), String::new());
        }
        let meta = Meta {
            name: name.clone(),
            driver: LOCAL_DRIVER.into(),
            labels,
            options: opts.driver_opts.clone(),
            created_at: Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true),
        };
        self.write_new(&meta)
            .map_err(|e| e.context(format_args!("create {name}")))?;
        let entry = Entry {
            meta,
            active: 0,
            mounted: false,
        };
        let v = self.to_api(&entry);
        vols.insert(name, entry);
        Ok((v, true))
    }

    /// Builds the volume in a temporary directory and renames it into place.
    fn write_new(&self, meta: &Meta) -> Result<()> {
        let tmp = self
            .root
            .join(format!("{TMP_PREFIX}{}", hex::encode(random_bytes::<8>()?)));
        let res = (|| -> Result<()> {
            let mk = |p: &Path, mode: u32| {
                fs::DirBuilder::new().mode(mode).create(p).map_err(|e| {
                    io_error(
                        format_args!("error while creating volume path '{}'", p.display()),
                        e,
                    )
                })?;
                // The umask may have taken bits away.
                fs::set_permissions(p, fs::Permissions::from_mode(mode))
                    .map_err(|e| io_error(format_args!("setting the mode of {}", p.display()), e))
            };
            mk(&tmp, 0o701)?;
            mk(&tmp.join(DATA_DIR), 0o755)?;
            let body = serde_json::to_vec(meta)
                .map_err(|e| VolumeError::system(format!("encoding volume metadata: {e}")))?;
            let mp = tmp.join(META_FILE);
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&mp)
                .map_err(|e| {
                    io_error(
                        format_args!("error while persisting volume metadata {}", mp.display()),
                        e,
                    )
                })?;
            f.write_all(&body).and_then(|_| f.sync_all()).map_err(|e| {
                io_error(
                    format_args!("error while persisting volume metadata {}", mp.display()),
                    e,
                )
            })?;
            fsync_dir(&tmp.join(DATA_DIR))?;
            fsync_dir(&tmp)?;
            let dest = self.root.join(&meta.name);
            match rustix::fs::renameat_with(
                rustix::fs::CWD,
                &tmp,
                rustix::fs::CWD,
                &dest,
                rustix::fs::RenameFlags::NOREPLACE,
            ) {
                Ok(()) => {}
                Err(rustix::io::Errno::EXIST) | Err(rustix::io::Errno::NOTEMPTY) => {
                    return Err(VolumeError::conflict(format!(
                        "{} already exists and is not a volume: remove it or choose another name",
                        dest.display()
                    )))
                }
                Err(e) => {
                    return Err(io_error(
                        format_args!("moving the new volume to {}", dest.display()),
                        e,
                    ))
                }
            }
            fsync_dir(&self.root)
        })();
        if res.is_err() {
            let _ = berth_snapshot::remove_tree(&tmp);
        }
        res
    }

    /// The volume called `name` (`get NAME: no such volume`, 404, if none).
    pub fn get(&self, name: &str) -> Result<Volume> {
        let vols = self.lock();
        vols.get(name)
            .map(|e| self.to_api(e))
            .ok_or_else(|| VolumeError::no_such_volume(name))
    }

    /// All volumes, sorted by name.
    pub fn list(&self) -> Vec<Volume> {
        self.lock().values().map(|e| self.to_api(e)).collect()
    }

    /// Removes a volume and its data. Reference counting by containers is
    /// the engine's job (it refuses with [`VolumeError::in_use`] first);
    /// here a volume whose mount is still in use (`mount` without
    /// `unmount`) is refused (`remove NAME: volume has active mounts`).
    /// `force` only makes a missing volume a success, as
    /// `DELETE /volumes/NAME?force=1` does.
    pub fn remove(&self, name: &str, force: bool) -> Result<()> {
        let mut vols = self.lock();
        let Some(entry) = vols.get_mut(name) else {
            if force {
                return Ok(());
            }
            return Err(VolumeError::no_such_volume(name));
        };
        let ctx = format!("remove {name}");
        if entry.active > 0 {
            return Err(VolumeError::system(format!(
                "{ctx}: volume has active mounts"
            )));
        }
        let dir = self.root.join(name);
        let data = dir.join(DATA_DIR);
        if entry.needs_mount() {
            local::unmount_volume(&data).map_err(|e| e.context(&ctx))?;
            entry.mounted = false;
        }
        if local::has_mounts_under(&dir) {
            return Err(VolumeError::system(format!(
                "{ctx}: something is still mounted under {}: unmount it first",
                dir.display()
            )));
        }
        let trash = self
            .root
            .join(format!("{RM_PREFIX}{}", hex::encode(random_bytes::<8>()?)));
        fs::rename(&dir, &trash).map_err(|e| {
            io_error(
                format_args!("{ctx}: error removing volume path '{}'", dir.display()),
                e,
            )
        })?;
        vols.remove(name);
        drop(vols);
        fsync_dir(&self.root)?;
        if let Err(e) = berth_snapshot::remove_tree(&trash) {
            tracing::warn!(path = %trash.display(), error = %e, "volume removed but its data could not all be deleted; it will be retried at the next start");
        }
        Ok(())
    }

    /// Makes the volume's data available and returns its path. Volumes with
    /// `type`/`device` options are mounted on `_data` by the first user and
    /// counted; plain volumes just return `_data`.
    pub fn mount(&self, name: &str) -> Result<PathBuf> {
        let mut vols = self.lock();
        let entry = vols
            .get_mut(name)
            .ok_or_else(|| VolumeError::no_such_volume(name))?;
        let data = self.root.join(name).join(DATA_DIR);
        if entry.needs_mount() {
            if !entry.mounted {
                let o = entry.opts();
                let get = |k: &str| o.get(k).map(String::as_str).unwrap_or("");
                if get("device").is_empty() {
                    return Err(VolumeError::system("missing device in volume options"));
                }
                local::mount_volume(get("device"), &data, get("type"), get("o"))?;
                entry.mounted = true;
            }
            entry.active += 1;
        }
        Ok(data)
    }

    /// Releases one [`mount`](Self::mount); the last user of a volume with
    /// mount options unmounts it. Extra calls are ignored.
    pub fn unmount(&self, name: &str) -> Result<()> {
        let mut vols = self.lock();
        let entry = vols
            .get_mut(name)
            .ok_or_else(|| VolumeError::no_such_volume(name))?;
        if !entry.needs_mount() {
            return Ok(());
        }
        if entry.active == 0 {
            tracing::warn!(volume = name, "unmount of a volume with no active mounts");
            return Ok(());
        }
        entry.active -= 1;
        if entry.active > 0 || !entry.mounted {
            return Ok(());
        }
        let data = self.root.join(name).join(DATA_DIR);
        match local::unmount_volume(&data) {
            Ok(()) => {
                entry.mounted = false;
                Ok(())
            }
            Err(e) if !local::is_mounted(&data) => {
                tracing::debug!(volume = name, error = %e, "unmount failed but nothing is mounted");
                entry.mounted = false;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Counts a user that was already using the volume before the daemon
    /// restarted (a live-restored container): the mount is assumed to be
    /// in place, as Docker's `LiveRestoreVolume`.
    pub fn live_restore(&self, name: &str) -> Result<()> {
        let mut vols = self.lock();
        let entry = vols
            .get_mut(name)
            .ok_or_else(|| VolumeError::no_such_volume(name))?;
        if entry.needs_mount() {
            entry.active += 1;
            entry.mounted = true;
        }
        Ok(())
    }

    /// How many users hold the volume's mount (always 0 for plain volumes).
    pub fn active_mounts(&self, name: &str) -> Result<u64> {
        let vols = self.lock();
        vols.get(name)
            .map(|e| e.active)
            .ok_or_else(|| VolumeError::no_such_volume(name))
    }

    /// Bytes used by the volume's data (regular files and symlinks,
    /// hardlinks once), for `system df` and `volume ls --format {{.Size}}`.
    pub fn size(&self, name: &str) -> Result<u64> {
        let data = {
            let vols = self.lock();
            if !vols.contains_key(name) {
                return Err(VolumeError::no_such_volume(name));
            }
            self.root.join(name).join(DATA_DIR)
        };
        berth_snapshot::dir_size(&data)
            .map_err(|e| io_error(format_args!("measuring {}", data.display()), e))
    }
}
