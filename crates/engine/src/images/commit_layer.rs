//! Making layers and images out of directories: the code `docker commit`
//! and `docker build` share. A directory in overlay "diff" form (an overlay
//! upper directory: whiteouts as 0:0 character devices, opaque directories
//! marked by `trusted.overlay.opaque`) becomes a layer tar streamed through
//! a pipe into the same [`crate::layers::LayerStore::stage`] path `import`
//! uses; an image config, its optional new layer, its record and its tags
//! are then stored in one transaction ([`Engine::store_image`]).

use std::io;
use std::path::Path;

use berth_content::image::ImageConfig;
use berth_reference::Reference;

use super::{ImageRecord, IMAGES};
use crate::containers::commit::{write_diff_tar, OWN_MOUNT_POINTS};
use crate::error::{EngineError, Result};
use crate::events::attrs;
use crate::layers::{KeepBlob, StagedLayer};
use crate::Engine;

/// Whether `dir` holds any change worth a layer: anything but the empty
/// placeholders of the files berth bind-mounts (`/etc/hosts`, …).
pub fn dir_has_changes(dir: &Path) -> io::Result<bool> {
    fn walk(root: &Path, dir: &Path) -> io::Result<bool> {
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let p = e.path();
            let meta = std::fs::symlink_metadata(&p)?;
            let rel = p
                .strip_prefix(root)
                .map(|r| r.display().to_string())
                .unwrap_or_default();
            if OWN_MOUNT_POINTS.contains(&rel.as_str()) && meta.is_file() && meta.len() == 0 {
                continue;
            }
            return Ok(true);
        }
        Ok(false)
    }
    walk(dir, dir)
}

impl Engine {
    /// Turns a directory in overlay diff form into a staged layer (its
    /// blob is the uncompressed tar, as Docker stores built layers). With
    /// `keep_empty` false a directory without changes gives `None`: the
    /// step then records an empty layer in the history instead.
    pub(crate) fn stage_dir_layer(
        &self,
        dir: &Path,
        keep_empty: bool,
    ) -> Result<Option<StagedLayer>> {
        if !keep_empty
            && !dir_has_changes(dir)
                .map_err(|e| EngineError::internal(format!("reading {}: {e}", dir.display())))?
        {
            return Ok(None);
        }
        let (reader, writer) =
            io::pipe().map_err(|e| EngineError::internal(format!("pipe: {e}")))?;
        let src = dir.to_path_buf();
        let producer = std::thread::spawn(move || write_diff_tar(&src, writer));
        let staged = self
            .layers
            .stage(reader, KeepBlob::Uncompressed, None, true, |d| {
                self.layer_record(d)
            });
        let produced = producer.join();
        let staged = staged?;
        match produced {
            Ok(Ok(())) => Ok(Some(staged)),
            Ok(Err(e)) => {
                self.layers.discard(&staged);
                Err(EngineError::internal(format!(
                    "reading the changes in {}: {e}",
                    dir.display()
                )))
            }
            Err(_) => {
                self.layers.discard(&staged);
                Err(EngineError::internal(format!(
                    "reading the changes in {} failed",
                    dir.display()
                )))
            }
        }
    }

    /// Stores an image: its config blob (whose `rootfs.diff_ids` already
    /// list every layer, the staged one last), the staged layer if any, the
    /// record (with `parent`) and `tags`, all in one transaction. An image
    /// that already exists (same config bytes) is kept as it is. Publishes
    /// `tag` events. On failure the staged layer is dropped.
    pub(crate) fn store_image(
        &self,
        config: &ImageConfig,
        staged: Option<&StagedLayer>,
        parent: Option<&str>,
        tags: &[Reference],
    ) -> Result<String> {
        let bytes = serde_json::to_vec(config)
            .map_err(|e| EngineError::internal(format!("encoding image config: {e}")))?;
        let result = (|| -> Result<String> {
            let id = self.blobs.put(&bytes, None)?.to_string();
            let rec = ImageRecord {
                id: id.clone(),
                layers: config.rootfs.diff_ids.clone(),
                manifest: None,
                parent: parent.filter(|p| !p.is_empty()).map(String::from),
                last_tag_time: None,
                added: chrono::Utc::now().timestamp(),
            };
            let _g = self.image_lock.lock();
            if staged.is_some() {
                self.sync_data_root();
            }
            self.store.write(|tx| -> Result<()> {
                if let Some(s) = staged {
                    self.layers.adopt(tx, s)?;
                }
                if tx.get::<ImageRecord>(IMAGES, &id)?.is_none() {
                    tx.put(IMAGES, &id, &rec)?;
                }
                for t in tags {
                    self.set_ref(tx, t, &id)?;
                }
                Ok(())
            })?;
            Ok(id)
        })();
        match result {
            Ok(id) => {
                for t in tags {
                    self.events.publish(
                        "image",
                        "tag",
                        &id,
                        attrs([("name", t.familiar_string())]),
                    );
                }
                Ok(id)
            }
            Err(e) => {
                if let Some(s) = staged {
                    self.layers.discard(s);
                    self.drop_unreferenced_blobs(std::slice::from_ref(&s.record.blob));
                }
                Err(e)
            }
        }
    }
}
