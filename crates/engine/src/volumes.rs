//! Volumes in the engine: the API's volume operations over the volume store
//! (`berth-volumes`), and what containers do with them — mount points
//! planned at create (`-v`, `--mount`, the image's `VOLUME`s,
//! `--volumes-from`; named volumes made on first use, anonymous ones for
//! bare paths), volumes mounted and filled from the image at start (copy-up),
//! released at stop, anonymous ones removed with `rm -v` and `--rm`.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use berth_volumes::{CreateOptions, MountPoint, MountSpec, Volume, VolumeError, ANONYMOUS_LABEL};
use serde_json::{json, Value};

use crate::containers::{strings, ContainerRecord};
use crate::error::{EngineError, ErrorKind, Result};
use crate::Engine;

/// A volume error as an engine error (same status, same text).
pub(crate) fn verr(e: VolumeError) -> EngineError {
    let kind = match e.kind() {
        berth_volumes::ErrorKind::InvalidParameter => ErrorKind::InvalidArgument,
        berth_volumes::ErrorKind::NotFound => ErrorKind::NotFound,
        berth_volumes::ErrorKind::Conflict => ErrorKind::Conflict,
        berth_volumes::ErrorKind::System => ErrorKind::Internal,
    };
    EngineError::new(kind, e.message().to_string())
}

/// What runtime mounts a container's mount points become at start.
pub(crate) struct ResolvedMount {
    /// Host source (volume data, host path, or `tmpfs`).
    pub source: String,
    /// Destination inside the container.
    pub destination: String,
    /// `bind` or `tmpfs`.
    pub kind: String,
    /// Mount options.
    pub options: Vec<String>,
}

impl Engine {
    fn volume_event(&self, name: &str, action: &str, extra: &[(&str, String)]) {
        let mut a: BTreeMap<String, String> =
            crate::events::attrs([("driver", "local".to_string())]);
        for (k, v) in extra {
            a.insert((*k).to_string(), v.clone());
        }
        self.events.publish("volume", action, name, a);
    }

    /// Names of the containers (IDs) using each volume.
    fn volume_users(&self) -> Result<BTreeMap<String, Vec<String>>> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for c in self.container_records()? {
            for mp in &c.mounts {
                if mp.kind == "volume" && !mp.name.is_empty() {
                    m.entry(mp.name.clone()).or_default().push(c.id.clone());
                }
            }
        }
        Ok(m)
    }

    /// `POST /volumes/create`.
    pub fn create_volume(&self, body: &Value) -> Result<Value> {
        let map = |v: &Value| -> Option<BTreeMap<String, String>> {
            v.as_object().map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
        };
        let (v, created) = self
            .volumes
            .create(CreateOptions {
                name: body["Name"].as_str().map(String::from),
                driver: body["Driver"].as_str().map(String::from),
                driver_opts: map(&body["DriverOpts"]),
                labels: map(&body["Labels"]),
                anonymous: false,
            })
            .map_err(verr)?;
        if created {
            self.volume_event(&v.name, "create", &[]);
        }
        Ok(volume_json(&v))
    }

    /// `GET /volumes/{name}`.
    pub fn inspect_volume(&self, name: &str) -> Result<Value> {
        Ok(volume_json(&self.volumes.get(name).map_err(verr)?))
    }

    /// `GET /volumes` (filters: dangling, name, label, driver).
    pub fn list_volumes(&self, filters: Option<&str>) -> Result<Vec<Value>> {
        let f = crate::images::parse_filters(filters)?;
        let filters = berth_volumes::Filters::for_list(&f).map_err(verr)?;
        let users = self.volume_users()?;
        Ok(self
            .volumes
            .list()
            .iter()
            .filter(|v| filters.matches_with_use(v, users.contains_key(&v.name)))
            .map(volume_json)
            .collect())
    }

    /// `DELETE /volumes/{name}`.
    pub fn remove_volume(&self, name: &str, force: bool) -> Result<()> {
        if let Some(ids) = self.volume_users()?.get(name) {
            return Err(verr(VolumeError::in_use(name, ids)));
        }
        match self.volumes.remove(name, force) {
            Ok(()) => {
                self.volume_event(name, "destroy", &[]);
                Ok(())
            }
            Err(e) => Err(verr(e)),
        }
    }

    /// `POST /volumes/prune`: unused anonymous volumes (all with `all=true`).
    pub fn prune_volumes(
        &self,
        filters: Option<&str>,
        old_api: bool,
    ) -> Result<(Vec<String>, u64)> {
        let f = crate::images::parse_filters(filters)?;
        let filters = berth_volumes::Filters::for_prune(&f, old_api).map_err(verr)?;
        let users = self.volume_users()?;
        let mut removed = Vec::new();
        let mut space = 0;
        for v in self.volumes.list() {
            if !filters.prunes(&v, users.contains_key(&v.name)) {
                continue;
            }
            let size = self.volumes.size(&v.name).unwrap_or(0);
            if self.volumes.remove(&v.name, false).is_ok() {
                self.volume_event(&v.name, "destroy", &[]);
                removed.push(v.name.clone());
                space += size;
            }
        }
        Ok((removed, space))
    }

    /// Volumes with their sizes and reference counts (`system df`).
    pub fn volumes_usage(&self) -> Result<Vec<Value>> {
        let users = self.volume_users()?;
        Ok(self
            .volumes
            .list()
            .iter()
            .map(|v| {
                let mut j = volume_json(v);
                j["UsageData"] = json!({
                    "Size": self.volumes.size(&v.name).map(|s| s as i64).unwrap_or(-1),
                    "RefCount": users.get(&v.name).map(|u| u.len()).unwrap_or(0),
                });
                j
            })
            .collect())
    }

    /// At create: the container's mount points, with the volumes they name
    /// made now (named on first use, anonymous for bare paths and the
    /// image's `VOLUME`s). On error, volumes made here are removed again.
    pub(crate) fn plan_mounts(
        &self,
        config: &Value,
        host_config: &Value,
    ) -> Result<Vec<MountPoint>> {
        let mut points: Vec<MountPoint> = Vec::new();
        let driver = host_config["VolumeDriver"].as_str().unwrap_or("");
        for b in strings(host_config.get("Binds")) {
            points.push(berth_volumes::parse_bind(&b, driver).map_err(verr)?);
        }
        if let Some(list) = host_config["Mounts"].as_array() {
            for m in list {
                let spec: MountSpec = serde_json::from_value(m.clone())
                    .map_err(|e| EngineError::invalid(format!("invalid mount config: {e}")))?;
                berth_volumes::validate_mount_spec(&spec, true).map_err(verr)?;
                points.push(berth_volumes::parse_mount_spec(&spec).map_err(verr)?);
            }
        }
        let mut seen = HashSet::new();
        for p in &points {
            if !seen.insert(p.destination.clone()) {
                return Err(EngineError::invalid(format!(
                    "Duplicate mount point: {}",
                    p.destination
                )));
            }
        }
        // --volumes-from: the other container's mount points.
        for vf in strings(host_config.get("VolumesFrom")) {
            let (name, mode) = berth_volumes::parse_volumes_from(&vf).map_err(verr)?;
            let other = self.resolve_container(&name)?;
            for mp in &other.mounts {
                if seen.contains(&mp.destination) {
                    continue;
                }
                let mut m = mp.clone();
                if mode == "ro" {
                    m.rw = false;
                } else if mode == "rw" {
                    m.rw = true;
                }
                seen.insert(m.destination.clone());
                points.push(m);
            }
        }
        // The image's (and the container's) VOLUMEs not covered otherwise.
        let tmpfs: Vec<String> = host_config["Tmpfs"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        if let Some(m) = config["Volumes"].as_object() {
            for dest in m.keys() {
                let dest = berth_volumes::clean_path(dest);
                if seen.contains(&dest) || tmpfs.contains(&dest) {
                    continue;
                }
                seen.insert(dest.clone());
                points.push(MountPoint {
                    kind: "volume".into(),
                    destination: dest,
                    rw: true,
                    driver: "local".into(),
                    copy_data: true,
                    ..Default::default()
                });
            }
        }
        // Make the volumes now (as Docker does at create).
        let mut made = Vec::new();
        for p in points.iter_mut().filter(|p| p.kind == "volume") {
            let anonymous = p.name.is_empty();
            let labels = p
                .spec
                .volume_options
                .as_ref()
                .map(|o| o.labels.clone())
                .filter(|l| !l.is_empty());
            let opts = p
                .spec
                .volume_options
                .as_ref()
                .and_then(|o| o.driver_config.as_ref())
                .map(|d| d.options.clone())
                .filter(|o| !o.is_empty());
            let r = self.volumes.create(CreateOptions {
                name: (!anonymous).then(|| p.name.clone()),
                driver: (!p.driver.is_empty()).then(|| p.driver.clone()),
                driver_opts: opts,
                labels,
                anonymous,
            });
            match r {
                Ok((v, created)) => {
                    if created {
                        self.volume_event(&v.name, "create", &[]);
                        made.push(v.name.clone());
                    }
                    p.name = v.name.clone();
                    p.source = v.mountpoint.clone();
                }
                Err(e) => {
                    for n in &made {
                        let _ = self.volumes.remove(n, true);
                    }
                    return Err(verr(e));
                }
            }
        }
        Ok(points)
    }

    /// At start: each mount point as a runtime mount, volumes mounted (and
    /// filled from the image when new and empty), mount points created
    /// inside the root filesystem without following links out of it.
    pub(crate) fn resolve_mounts(
        &self,
        rec: &ContainerRecord,
        rootfs: &Path,
    ) -> Result<Vec<ResolvedMount>> {
        let mut out = Vec::new();
        for mp in &rec.mounts {
            let (source, is_file) = match mp.kind.as_str() {
                "volume" => {
                    let data = self.volumes.mount(&mp.name).map_err(verr)?;
                    self.hold_volume(&rec.id, &mp.name);
                    if mp.copy_data {
                        // Only an empty volume is filled, once.
                        let _ = berth_volumes::copy_up_in_root(rootfs, &mp.destination, &data)
                            .map_err(verr)?;
                    }
                    self.volume_event(
                        &mp.name,
                        "mount",
                        &[
                            ("container", rec.id.clone()),
                            ("destination", mp.destination.clone()),
                            ("read/write", mp.rw.to_string()),
                            ("propagation", String::new()),
                        ],
                    );
                    (data.display().to_string(), false)
                }
                "bind" => {
                    let src = Path::new(&mp.source);
                    if src.exists() {
                        berth_volumes::check_bind_propagation(src, &mp.propagation)
                            .map_err(verr)?;
                    }
                    match std::fs::metadata(src) {
                        Ok(m) => (mp.source.clone(), !m.is_dir()),
                        Err(_) if from_mount_flag(rec, &mp.destination) => {
                            // --mount never creates the host path.
                            return Err(verr(berth_volumes::bind_source_missing(&mp.source)));
                        }
                        Err(_) => {
                            // -v creates a missing host directory, as Docker.
                            std::fs::create_dir_all(src).map_err(|e| {
                                EngineError::invalid(format!(
                                    "error while creating mount source path '{}': {e}",
                                    mp.source
                                ))
                            })?;
                            (mp.source.clone(), false)
                        }
                    }
                }
                "tmpfs" => {
                    let target = berth_volumes::safe_mountpoint(rootfs, &mp.destination, false)
                        .map_err(verr)?;
                    let opts = berth_volumes::tmpfs_options(mp.spec.tmpfs_options.as_ref(), !mp.rw)
                        .map_err(EngineError::invalid)?;
                    let mut options: Vec<String> =
                        vec!["nosuid".into(), "nodev".into(), "noexec".into()];
                    options.extend(opts.split(',').filter(|o| !o.is_empty()).map(String::from));
                    out.push(ResolvedMount {
                        source: "tmpfs".into(),
                        destination: target.in_root,
                        kind: "tmpfs".into(),
                        options,
                    });
                    continue;
                }
                other => {
                    return Err(EngineError::invalid(format!(
                        "mount type {other} is not supported by berth"
                    )))
                }
            };
            let target =
                berth_volumes::safe_mountpoint(rootfs, &mp.destination, is_file).map_err(verr)?;
            let mut options = vec!["rbind".to_string()];
            options.push(if mp.rw { "rw".into() } else { "ro".into() });
            options.push(if mp.propagation.is_empty() {
                "rprivate".into()
            } else {
                mp.propagation.clone()
            });
            out.push(ResolvedMount {
                source,
                destination: target.in_root,
                kind: "bind".into(),
                options,
            });
        }
        Ok(out)
    }

    /// At stop: volumes released (those with mount options unmounted when
    /// their last user goes).
    /// Only what this container's start mounted is released, once: a start
    /// that failed half-way, or a second call, takes nothing from the
    /// volume's other users.
    pub(crate) fn release_mounts(&self, rec: &ContainerRecord) {
        let held = self
            .volume_holds
            .lock()
            .ok()
            .and_then(|mut h| h.remove(&rec.id))
            .unwrap_or_default();
        for name in held {
            if self.volumes.unmount(&name).is_ok() {
                self.volume_event(&name, "unmount", &[("container", rec.id.clone())]);
            }
        }
    }

    /// Records that container `id` holds volume `name` mounted.
    fn hold_volume(&self, id: &str, name: &str) {
        if let Ok(mut h) = self.volume_holds.lock() {
            h.entry(id.to_string()).or_default().push(name.to_string());
        }
    }

    /// After a daemon restart, for a container that kept running: its
    /// volumes count it as a user again (their mounts are still in place),
    /// so a volume shared with another container is not unmounted under
    /// it, and its own stop unmounts what it used.
    pub(crate) fn restore_mounts(&self, rec: &ContainerRecord) {
        for mp in rec.mounts.iter().filter(|m| m.kind == "volume") {
            if self.volumes.live_restore(&mp.name).is_ok() {
                self.hold_volume(&rec.id, &mp.name);
            }
        }
    }

    /// With `rm -v` and `--rm`: the container's anonymous volumes no other
    /// container uses (named volumes are never removed).
    pub(crate) fn remove_anonymous_volumes(&self, rec: &ContainerRecord) {
        let users = self.volume_users().unwrap_or_default();
        for mp in rec.mounts.iter().filter(|m| m.kind == "volume") {
            let Ok(v) = self.volumes.get(&mp.name) else {
                continue;
            };
            if !v.label_map().contains_key(ANONYMOUS_LABEL) {
                continue;
            }
            if users
                .get(&mp.name)
                .is_some_and(|ids| ids.iter().any(|id| id != &rec.id))
            {
                continue;
            }
            if self.volumes.remove(&mp.name, false).is_ok() {
                self.volume_event(&mp.name, "destroy", &[]);
            }
        }
    }

    /// Docker's `Mounts` of `inspect`.
    pub fn mounts_json(&self, rec: &ContainerRecord) -> Value {
        json!(rec
            .mounts
            .iter()
            .map(|m| {
                let mut j = json!({
                    "Type": m.kind,
                    "Source": m.source,
                    "Destination": m.destination,
                    "Mode": m.mode,
                    "RW": m.rw,
                    "Propagation": if m.kind == "bind" {
                        if m.propagation.is_empty() { "rprivate".to_string() } else { m.propagation.clone() }
                    } else {
                        String::new()
                    },
                });
                if m.kind == "volume" {
                    j["Name"] = json!(m.name);
                    j["Driver"] = json!(if m.driver.is_empty() { "local" } else { &m.driver });
                    j["Mode"] = json!(if m.mode.is_empty() { "z".to_string() } else { m.mode.clone() });
                }
                j
            })
            .collect::<Vec<_>>())
    }
}

/// Whether a destination came from `HostConfig.Mounts` (`--mount`), whose
/// binds never create their source.
fn from_mount_flag(rec: &ContainerRecord, dest: &str) -> bool {
    rec.host_config["Mounts"].as_array().is_some_and(|l| {
        l.iter().any(|m| {
            m["Target"]
                .as_str()
                .map(berth_volumes::clean_path)
                .as_deref()
                == Some(dest)
        })
    })
}

/// Docker's JSON for a volume.
pub fn volume_json(v: &Volume) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}
