//! The build cache: which image a build step produced, keyed by everything
//! the step's result depends on (the parent image, the instruction after
//! variable expansion, the build arguments in scope, and for `COPY`/`ADD`
//! the content and metadata of the files read). Kept in the engine's
//! metadata store, so it survives daemon restarts; `builder prune` (and
//! `system prune`) empties it and removes the intermediate images only it
//! kept alive.

use std::collections::HashSet;

use berth_store::Table;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::error::Result;
use crate::images::{ImageRecord, IMAGES, REFS};
use crate::layers::{LayerRecord, LAYERS};
use crate::Engine;

/// Table of cache entries, keyed by the step's cache key.
pub const BUILD_CACHE: Table = Table("build_cache");

/// One cached step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CacheEntry {
    /// The image the step produced.
    pub image: String,
    /// When it was recorded, unix seconds.
    pub created: i64,
    /// What the step was (`RUN /bin/sh -c make`), for `builder prune`.
    #[serde(default)]
    pub description: String,
}

/// The cache key of a step: sha256 over its parts (JSON-encoded, so no
/// two different part lists can collide).
pub fn cache_key(parts: &[Value]) -> String {
    let bytes = serde_json::to_vec(parts).unwrap_or_default();
    format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
}

/// What `builder prune` removed.
#[derive(Debug, Default, Clone)]
pub struct PruneReport {
    /// Cache keys removed.
    pub deleted: Vec<String>,
    /// Bytes of layers freed.
    pub reclaimed: u64,
}

impl Engine {
    /// The image a cached step produced, if the entry exists and its image
    /// is still stored.
    pub(crate) fn cache_lookup(&self, key: &str) -> Result<Option<ImageRecord>> {
        let Some(e) = self.store.get::<CacheEntry>(BUILD_CACHE, key)? else {
            return Ok(None);
        };
        let rec: Option<ImageRecord> = self.store.get(IMAGES, &e.image)?;
        Ok(rec.filter(|r| r.layers.iter().all(|l| self.layers.diff_dir(l).is_dir())))
    }

    /// Records a step's result.
    pub(crate) fn cache_store(&self, key: &str, image: &str, description: &str) -> Result<()> {
        let e = CacheEntry {
            image: image.to_string(),
            created: chrono::Utc::now().timestamp(),
            description: description.to_string(),
        };
        self.store.write(|tx| {
            tx.put(BUILD_CACHE, key, &e)
                .map_err(crate::EngineError::from)
        })
    }

    /// `POST /build/prune`: removes cache entries (with `until`, only those
    /// older than that many seconds), the cache mounts of `RUN
    /// --mount=type=cache`, and the intermediate images that nothing but
    /// the cache kept: untagged, used by no container, and not the base of
    /// an image that stays.
    pub fn prune_build_cache(&self, older_than: Option<i64>) -> Result<PruneReport> {
        let now = chrono::Utc::now().timestamp();
        let entries: Vec<(String, CacheEntry)> = self.store.list(BUILD_CACHE)?;
        let chosen: Vec<(String, CacheEntry)> = entries
            .into_iter()
            .filter(|(_, e)| older_than.is_none_or(|s| now - e.created >= s))
            .collect();
        let mut report = PruneReport::default();
        if chosen.is_empty() && older_than.is_some() {
            return Ok(report);
        }
        let candidates: HashSet<String> = chosen.iter().map(|(_, e)| e.image.clone()).collect();
        let in_use: HashSet<String> = self
            .container_records()?
            .into_iter()
            .map(|c| c.image_id)
            .collect();
        let (removed_layers, removed_images) = {
            let _g = self.image_lock.lock();
            self.store
                .write(|tx| -> Result<(Vec<LayerRecord>, Vec<String>)> {
                    for (k, _) in &chosen {
                        tx.delete(BUILD_CACHE, k)?;
                    }
                    let refs: Vec<(String, String)> = tx.list(REFS)?;
                    let tagged: HashSet<String> = refs.into_iter().map(|(_, id)| id).collect();
                    let left: Vec<(String, CacheEntry)> = tx.list(BUILD_CACHE)?;
                    let still_cached: HashSet<String> =
                        left.into_iter().map(|(_, e)| e.image).collect();
                    let images: Vec<(String, ImageRecord)> = tx.list(IMAGES)?;
                    let mut removable: HashSet<String> = candidates
                        .iter()
                        .filter(|id| {
                            !tagged.contains(*id)
                                && !in_use.contains(*id)
                                && !still_cached.contains(*id)
                        })
                        .cloned()
                        .collect();
                    // An image stays when an image that stays is built on it;
                    // repeat until nothing changes.
                    loop {
                        let keep: HashSet<String> = images
                            .iter()
                            .filter(|(id, _)| !removable.contains(id))
                            .filter_map(|(_, r)| r.parent.clone())
                            .collect();
                        let before = removable.len();
                        removable.retain(|id| !keep.contains(id));
                        if removable.len() == before {
                            break;
                        }
                    }
                    let mut gone_layers = Vec::new();
                    let mut gone = Vec::new();
                    for id in &removable {
                        if let Some(r) = tx.get::<ImageRecord>(IMAGES, id)? {
                            tx.delete(IMAGES, id)?;
                            gone_layers.extend(r.layers.clone());
                            gone.push(id.clone());
                        }
                    }
                    let remaining: Vec<(String, ImageRecord)> = tx.list(IMAGES)?;
                    let used: HashSet<&String> = remaining
                        .iter()
                        .flat_map(|(_, r)| r.layers.iter())
                        .collect();
                    let mut out = Vec::new();
                    let mut seen = HashSet::new();
                    for l in gone_layers {
                        if used.contains(&l) || !seen.insert(l.clone()) {
                            continue;
                        }
                        if let Some(rec) = tx.get::<LayerRecord>(LAYERS, &l)? {
                            tx.delete(LAYERS, &l)?;
                            out.push(rec);
                        }
                    }
                    Ok((out, gone))
                })?
        };
        for l in &removed_layers {
            report.reclaimed += l.size;
            self.layers.remove_files(l);
        }
        for id in &removed_images {
            if let Ok(d) = crate::layers::parse_digest(id) {
                let _ = self.blobs.delete(&d);
            }
        }
        if older_than.is_none() {
            let mounts = self.config.data_root.join("build").join("cache-mounts");
            if mounts.exists() {
                report.reclaimed += berth_snapshot::dir_size(&mounts).unwrap_or(0);
                let _ = berth_snapshot::remove_tree(&mounts);
            }
        }
        report.deleted = chosen.into_iter().map(|(k, _)| k).collect();
        Ok(report)
    }

    /// The build cache as `GET /system/df` lists it (Docker's `BuildCache`
    /// records): one per cached step. A step's size is that of the layer it
    /// made, counted once; steps whose image is tagged are `Shared` (removing
    /// them frees nothing).
    pub fn build_cache_usage(&self) -> Result<Vec<Value>> {
        let entries: Vec<(String, CacheEntry)> = self.store.list(BUILD_CACHE)?;
        let refs: HashSet<String> = self.image_refs()?.into_iter().map(|(_, id)| id).collect();
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(entries.len());
        for (key, e) in &entries {
            let mut size = 0;
            if let Some(r) = self.store.get::<ImageRecord>(IMAGES, &e.image)? {
                if let Some(l) = r.layers.last() {
                    if seen.insert(l.clone()) {
                        size = self.layer_record(l).map(|x| x.size).unwrap_or(0);
                    }
                }
            }
            let created = chrono::DateTime::from_timestamp(e.created, 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default();
            out.push(json!({
                "ID": key.trim_start_matches("sha256:").get(..25).unwrap_or(key),
                "Parents": [],
                "Type": "regular",
                "Description": e.description,
                "InUse": false,
                "Shared": refs.contains(&e.image),
                "Size": size,
                "CreatedAt": created,
                "LastUsedAt": created,
                "UsageCount": 1,
            }));
        }
        Ok(out)
    }
}
