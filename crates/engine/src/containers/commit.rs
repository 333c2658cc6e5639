//! `docker commit`: a container's writable layer (the overlay upper
//! directory, whiteouts turned back into `.wh.` entries) becomes a new layer
//! on top of its image, with the container's run config and `--change`s.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use berth_content::image::History;
use serde_json::{Map, Value};

use super::ContainerRecord;
use crate::error::{EngineError, Result};
use crate::events::attrs;
use crate::images::changes::apply_changes;
use crate::images::{now_rfc3339, ImageRecord, IMAGES};
use crate::Engine;

/// Options of a commit.
#[derive(Debug, Default, Clone)]
pub struct CommitOptions {
    /// Repository (may carry a tag).
    pub repo: Option<String>,
    /// Tag.
    pub tag: Option<String>,
    /// `-m`.
    pub comment: Option<String>,
    /// `-a`.
    pub author: Option<String>,
    /// Freeze the container while its layer is read (default true).
    pub pause: bool,
    /// `-c` Dockerfile instructions.
    pub changes: Vec<String>,
}

/// Files berth mounts over; empty placeholders of them are not the
/// container's changes.
pub(crate) const OWN_MOUNT_POINTS: &[&str] = &["etc/hostname", "etc/hosts", "etc/resolv.conf"];

/// Writes the upper directory as a layer tar (OCI whiteouts).
pub fn write_diff_tar(upper: &Path, out: impl Write) -> io::Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    walk(upper, upper, &mut b)?;
    b.into_inner()?.flush()
}

fn walk<W: Write>(root: &Path, dir: &Path, b: &mut tar::Builder<W>) -> io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        let rel = p
            .strip_prefix(root)
            .map_err(io::Error::other)?
            .to_path_buf();
        let rel_s = rel.display().to_string();
        let meta = std::fs::symlink_metadata(&p)?;
        if OWN_MOUNT_POINTS.contains(&rel_s.as_str()) && meta.is_file() && meta.len() == 0 {
            continue;
        }
        if meta.file_type().is_char_device() && meta.rdev() == 0 {
            // An overlay whiteout: the file was deleted.
            let name = rel
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let wh = rel.with_file_name(format!(".wh.{name}"));
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(0);
            h.set_mode(0o644);
            h.set_mtime(meta.mtime().max(0) as u64);
            h.set_uid(0);
            h.set_gid(0);
            b.append_data(&mut h, wh, io::empty())?;
            continue;
        }
        if meta.is_dir() {
            let mut h = tar::Header::new_gnu();
            h.set_metadata(&meta);
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            b.append_data(&mut h, &rel, io::empty())?;
            let opaque = rustix::fs::lgetxattr(&p, "trusted.overlay.opaque", &mut [0u8; 4])
                .map(|n| n >= 1)
                .unwrap_or(false);
            if opaque {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(0);
                h.set_mode(0o644);
                h.set_uid(0);
                h.set_gid(0);
                h.set_mtime(0);
                b.append_data(&mut h, rel.join(".wh..wh..opq"), io::empty())?;
            }
            walk(root, &p, b)?;
            continue;
        }
        b.append_path_with_name(&p, &rel)?;
    }
    Ok(())
}

/// The parts of a container's config an image keeps.
const KEPT: &[&str] = &[
    "User",
    "ExposedPorts",
    "Env",
    "Cmd",
    "Healthcheck",
    "ArgsEscaped",
    "Volumes",
    "WorkingDir",
    "Entrypoint",
    "OnBuild",
    "Labels",
    "StopSignal",
    "Shell",
];

impl Engine {
    /// `POST /commit`: returns the new image's ID.
    pub fn commit_container(
        &self,
        name: &str,
        opts: &CommitOptions,
        overrides: Option<&Value>,
    ) -> Result<String> {
        let rec: ContainerRecord = self.resolve_container(name)?;
        let target = opts
            .repo
            .as_deref()
            .filter(|r| !r.is_empty())
            .map(|repo| crate::images::target_reference(repo, opts.tag.as_deref().unwrap_or("")))
            .transpose()?;
        let mut run: Map<String, Value> = Map::new();
        for k in KEPT {
            if let Some(v) = rec.config.get(*k).filter(|v| !v.is_null()) {
                run.insert((*k).to_string(), v.clone());
            }
        }
        if let Some(Value::Object(o)) = overrides {
            for (k, v) in o {
                if KEPT.contains(&k.as_str()) && !v.is_null() {
                    run.insert(k.clone(), v.clone());
                }
            }
        }
        apply_changes(&mut run, &opts.changes)?;
        let base: ImageRecord = self
            .store
            .get(IMAGES, &rec.image_id)?
            .ok_or_else(|| EngineError::not_found(format!("No such image: {}", rec.image)))?;
        let mut cfg = self.image_config(&base)?;
        let upper = self.container_dirs(&rec.id).upper;
        let freeze = opts.pause && rec.state.running && !rec.state.paused;
        // Paused while its changes are read (as Docker, with its events).
        if freeze {
            self.freeze_id(&rec.id, true)?;
            self.container_event(&rec, "pause", BTreeMap::new());
        }
        let staged = self.stage_dir_layer(&upper, true);
        if freeze {
            let _ = self.freeze_id(&rec.id, false);
            self.container_event(&rec, "unpause", BTreeMap::new());
        }
        let staged = staged?
            .ok_or_else(|| EngineError::internal("the container's changes gave no layer"))?;
        let now = now_rfc3339();
        cfg.created = Some(now.clone());
        cfg.author = opts.author.clone().filter(|a| !a.is_empty()).or(cfg.author);
        cfg.comment = opts.comment.clone().filter(|c| !c.is_empty());
        cfg.config = Some(Value::Object(run));
        cfg.rootfs.diff_ids.push(staged.record.diff_id.clone());
        let created_by = std::iter::once(rec.path.clone())
            .chain(rec.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        cfg.history.push(History {
            created: Some(now),
            created_by: Some(created_by),
            author: opts.author.clone().filter(|a| !a.is_empty()),
            comment: opts.comment.clone().filter(|c| !c.is_empty()),
            empty_layer: false,
        });
        cfg.extra.remove("container");
        cfg.extra.remove("container_config");
        let tags: Vec<_> = target.iter().cloned().collect();
        let id = self.store_image(&cfg, Some(&staged), Some(&base.id), &tags)?;
        let mut extra: BTreeMap<String, String> = attrs([("imageID", id.clone())]);
        if let Some(c) = &opts.comment {
            extra.insert("comment".into(), c.clone());
        }
        if let Some(t) = &target {
            extra.insert("imageRef".into(), t.familiar_string());
            self.events
                .publish("image", "tag", &id, attrs([("name", t.familiar_string())]));
        }
        self.container_event(&rec, "commit", extra);
        Ok(id)
    }
}

impl Engine {
    /// `GET /containers/{id}/export`: the container's whole filesystem as a
    /// tar, written to `out` (the root filesystem is mounted for the time it
    /// takes when the container is not running).
    pub fn export_container(&self, name: &str, out: impl Write) -> Result<()> {
        let rec = self.resolve_container(name)?;
        let was_mounted = berth_snapshot::mount::is_mounted(&self.container_dirs(&rec.id).merged);
        let root = self.mount_rootfs(&rec)?;
        let r = (|| -> io::Result<()> {
            let mut b = tar::Builder::new(out);
            b.follow_symlinks(false);
            let mut entries: Vec<_> = std::fs::read_dir(&root)?
                .flatten()
                .map(|e| e.path())
                .collect();
            entries.sort();
            for p in entries {
                let rel = p
                    .strip_prefix(&root)
                    .map_err(io::Error::other)?
                    .to_path_buf();
                let meta = std::fs::symlink_metadata(&p)?;
                if meta.is_dir() {
                    b.append_dir_all(&rel, &p)?;
                } else {
                    b.append_path_with_name(&p, &rel)?;
                }
            }
            b.into_inner()?.flush()
        })();
        if !was_mounted && !rec.state.running {
            self.unmount_rootfs(&rec.id);
        }
        r.map_err(|e| EngineError::internal(format!("exporting container {}: {e}", rec.id)))?;
        self.container_event(&rec, "export", BTreeMap::new());
        Ok(())
    }
}
