//! `docker import`: a root filesystem tarball (plain, gzip or zstd) becomes a
//! one-layer image, with `--change` instructions and a commit message.

use std::io::Read;

use berth_content::image::{History, ImageConfig, RootFs};
use berth_reference::Reference;
use serde_json::{Map, Value};

use super::changes::apply_changes;
use super::{now_rfc3339, ImageRecord, IMAGES};
use crate::error::{EngineError, Result};
use crate::events::attrs;
use crate::layers::KeepBlob;
use crate::Engine;

/// Options of an import.
#[derive(Debug, Default, Clone)]
pub struct ImportOptions {
    /// Repository (may include a tag: `busybox:latest`).
    pub repo: Option<String>,
    /// Tag, when not part of `repo`.
    pub tag: Option<String>,
    /// `--change` lines.
    pub changes: Vec<String>,
    /// `--message`.
    pub message: Option<String>,
    /// `--platform` (only the host's own is accepted).
    pub platform: Option<String>,
}

/// The OCI architecture name of this host.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// Checks a `--platform` value against the host's.
pub fn check_platform(p: Option<&str>) -> Result<()> {
    let Some(p) = p.filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let mut parts = p.split('/');
    let os = parts.next().unwrap_or("");
    let arch = parts.next().unwrap_or(host_arch());
    if os != "linux" || arch != host_arch() {
        return Err(EngineError::invalid(format!(
            "platform \"{p}\" is not supported by this daemon: only linux/{} images can be made here",
            host_arch()
        )));
    }
    Ok(())
}

impl Engine {
    /// Imports a root filesystem tarball as a new image; returns its ID.
    pub fn import_image(&self, input: impl Read, opts: &ImportOptions) -> Result<String> {
        check_platform(opts.platform.as_deref())?;
        // Validate everything the user gave before reading a byte.
        let target = opts
            .repo
            .as_deref()
            .filter(|r| !r.is_empty())
            .map(|repo| crate::images::target_reference(repo, opts.tag.as_deref().unwrap_or("")))
            .transpose()?;
        let mut run_config = Map::new();
        apply_changes(&mut run_config, &opts.changes)?;

        let staged = self
            .layers
            .stage(input, KeepBlob::Uncompressed, None, false, |d| {
                self.layer_record(d)
            })?;
        let now = now_rfc3339();
        let comment = opts
            .message
            .clone()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "Imported from -".into());
        let config = ImageConfig {
            architecture: host_arch().into(),
            os: "linux".into(),
            created: Some(now.clone()),
            comment: Some(comment.clone()),
            config: Some(Value::Object(run_config)),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: vec![staged.record.diff_id.clone()],
            },
            history: vec![History {
                created: Some(now),
                comment: Some(comment),
                ..Default::default()
            }],
            ..Default::default()
        };
        let bytes = serde_json::to_vec(&config)
            .map_err(|e| EngineError::internal(format!("encoding image config: {e}")))?;
        let result = self.store_new_image(&bytes, &staged, vec![], None, target.as_ref());
        match result {
            Ok(id) => {
                self.events
                    .publish("image", "import", &id, attrs([("name", id.clone())]));
                Ok(id)
            }
            Err(e) => {
                self.layers.discard(&staged);
                self.drop_unreferenced_blobs(std::slice::from_ref(&staged.record.blob));
                Err(e)
            }
        }
    }

    /// Stores a new image made of `base_layers` plus one staged layer: its
    /// config blob, the layer, the record and its tag, in one transaction
    /// (the staged layer is moved into place only there). Publishes `tag`.
    pub(crate) fn store_new_image(
        &self,
        config: &[u8],
        staged: &crate::layers::StagedLayer,
        base_layers: Vec<String>,
        parent: Option<String>,
        target: Option<&Reference>,
    ) -> Result<String> {
        let id = self.blobs.put(config, None)?.to_string();
        let mut layers = base_layers;
        layers.push(staged.record.diff_id.clone());
        let rec = ImageRecord {
            id: id.clone(),
            layers,
            manifest: None,
            parent,
            last_tag_time: None,
            added: chrono::Utc::now().timestamp(),
        };
        {
            let _g = self.image_lock.lock();
            self.sync_data_root();
            self.store.write(|tx| -> Result<()> {
                self.layers.adopt(tx, staged)?;
                if tx.get::<ImageRecord>(IMAGES, &id)?.is_none() {
                    tx.put(IMAGES, &id, &rec)?;
                }
                if let Some(t) = target {
                    self.set_ref(tx, t, &id)?;
                }
                Ok(())
            })?;
        }
        if let Some(t) = target {
            self.events
                .publish("image", "tag", &id, attrs([("name", t.familiar_string())]));
        }
        Ok(id)
    }
}
