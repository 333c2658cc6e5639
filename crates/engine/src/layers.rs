//! The layer store: each image layer is unpacked once into an overlayfs
//! "diff" directory, `<data-root>/overlay2/<diff-id hex>/diff`, next to the
//! blob it came from in the content store.
//!
//! Directories are keyed by diff ID rather than by chain ID: with overlayfs a
//! layer's directory holds only that layer's own changes (whiteouts included),
//! so its content does not depend on the layers below it, and one directory
//! serves every image that has the layer, at any position. Chain IDs are still
//! computed for the API (`RootFS`, `docker rmi` output).
//!
//! A layer is unpacked into a `tmp-*` directory and only renamed into place
//! by [`LayerStore::adopt`] when the image that needs it is committed; on
//! start-up everything without a record is swept away.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use berth_content::image::{looks_like_tar, Compression};
use berth_content::{BlobStore, Digest};
use berth_store::{Table, Txn};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{io_context, EngineError, Result};

/// Table of layer records, keyed by diff ID.
pub const LAYERS: Table = Table("layers");

/// What the store knows of one layer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LayerRecord {
    /// Digest of the uncompressed tar.
    pub diff_id: String,
    /// Digest of the blob kept in the content store (compressed or not).
    pub blob: String,
    /// Compression of that blob.
    pub compression: Compression,
    /// Size of the blob.
    pub blob_size: u64,
    /// Bytes of file content in the layer (its contribution to image size).
    pub size: u64,
}

/// Which bytes become the stored blob when a layer is unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepBlob {
    /// The input as received (load: keeps manifest digests valid).
    AsReceived,
    /// The decompressed tar (import: Docker stores the tar itself).
    Uncompressed,
}

/// A layer unpacked into a temporary directory, waiting for its image.
#[derive(Debug)]
pub struct StagedLayer {
    /// The record to commit.
    pub record: LayerRecord,
    /// Where it was unpacked (None when the layer was already in the store).
    pub tmp_dir: Option<PathBuf>,
}

/// Layer directories and in-flight leases.
pub struct LayerStore {
    root: PathBuf,
    blobs: BlobStore,
    /// Diff IDs and blob digests that an operation in progress relies on:
    /// never collected.
    leases: Mutex<HashMap<String, usize>>,
}

fn random_hex() -> Result<String> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| EngineError::internal(format!("random: {e}")))?;
    Ok(hex::encode(b))
}

/// The chain IDs of a list of diff IDs (OCI image spec).
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => format!(
                "sha256:{}",
                hex::encode(Sha256::digest(format!("{prev} {d}").as_bytes()))
            ),
        };
        out.push(next);
    }
    out
}

impl LayerStore {
    /// Opens the layer store under `root` (`<data-root>/overlay2`).
    pub fn open(root: &Path, blobs: BlobStore) -> Result<Self> {
        fs::create_dir_all(root).map_err(io_context(format!("creating {}", root.display())))?;
        Ok(LayerStore {
            root: root.to_path_buf(),
            blobs,
            leases: Mutex::new(HashMap::new()),
        })
    }

    /// The directory of a layer's content.
    pub fn diff_dir(&self, diff_id: &str) -> PathBuf {
        self.root
            .join(diff_id.trim_start_matches("sha256:"))
            .join("diff")
    }

    /// Takes a lease on a diff ID for the duration of an operation.
    pub fn lease(&self, diff_id: &str) {
        if let Ok(mut l) = self.leases.lock() {
            *l.entry(diff_id.to_string()).or_insert(0) += 1;
        }
    }

    /// Releases a lease taken with [`LayerStore::lease`].
    pub fn release(&self, diff_id: &str) {
        if let Ok(mut l) = self.leases.lock() {
            if let Some(n) = l.get_mut(diff_id) {
                *n -= 1;
                if *n == 0 {
                    l.remove(diff_id);
                }
            }
        }
    }

    /// Whether an operation in progress holds a lease on this key.
    pub fn is_leased(&self, key: &str) -> bool {
        self.leased(key)
    }

    fn leased(&self, diff_id: &str) -> bool {
        self.leases
            .lock()
            .map(|l| l.contains_key(diff_id))
            .unwrap_or(true)
    }

    /// Unpacks one layer from `input`, storing its blob as `keep` says and
    /// checking the blob against `expected_blob` when given. The caller
    /// commits the result with [`LayerStore::adopt`] or drops it with
    /// [`LayerStore::discard`].
    pub fn stage(
        &self,
        input: impl Read,
        keep: KeepBlob,
        expected_blob: Option<&Digest>,
        allow_devices: bool,
        known: impl Fn(&str) -> Option<LayerRecord>,
    ) -> Result<StagedLayer> {
        let mut input = BufReader::with_capacity(1 << 20, input);
        let head = input
            .fill_buf()
            .map_err(|e| EngineError::invalid(format!("reading layer: {e}")))?
            .to_vec();
        let compression = Compression::detect(&head);
        match compression {
            Compression::Bzip2 | Compression::Xz => {
                return Err(EngineError::invalid(format!(
                    "{} compressed archives are not supported: decompress it first or use gzip or zstd",
                    if compression == Compression::Xz { "xz" } else { "bzip2" }
                )))
            }
            Compression::None if !head.is_empty() && !looks_like_tar(&head) && !head.iter().all(|b| *b == 0) => {
                return Err(EngineError::invalid(
                    "archive/tar: invalid tar header: the input is not a tar archive (nor gzip or zstd compressed)",
                ))
            }
            _ => {}
        }
        let tmp_dir = self.root.join(format!("tmp-{}", random_hex()?));
        let diff = tmp_dir.join("diff");
        fs::create_dir_all(&diff).map_err(io_context(format!("creating {}", diff.display())))?;
        let result = self.unpack(input, compression, keep, &diff, allow_devices);
        let (blob, _, diff_id, size) = match result {
            Ok(v) => v,
            Err(e) => {
                let _ = berth_snapshot::remove_tree(&tmp_dir);
                return Err(e);
            }
        };
        let (blob, blob_size) = match blob.commit(expected_blob) {
            Ok(v) => v,
            Err(e) => {
                let _ = berth_snapshot::remove_tree(&tmp_dir);
                return Err(e.into());
            }
        };
        // None: the blob is the uncompressed tar, so its digest is the diff ID.
        let diff_id = diff_id.unwrap_or_else(|| blob.clone()).to_string();
        let record = LayerRecord {
            diff_id: diff_id.clone(),
            blob: blob.to_string(),
            compression: if keep == KeepBlob::Uncompressed {
                Compression::None
            } else {
                compression
            },
            blob_size,
            size,
        };
        if let Some(existing) = known(&diff_id) {
            if self.diff_dir(&diff_id).is_dir() {
                let _ = berth_snapshot::remove_tree(&tmp_dir);
                let record = if self.blobs.contains(&parse_digest(&existing.blob)?) {
                    existing
                } else {
                    record
                };
                return Ok(StagedLayer {
                    record,
                    tmp_dir: None,
                });
            }
        }
        Ok(StagedLayer {
            record,
            tmp_dir: Some(tmp_dir),
        })
    }

    #[allow(clippy::type_complexity)]
    fn unpack(
        &self,
        input: BufReader<impl Read>,
        compression: Compression,
        keep: KeepBlob,
        diff: &Path,
        allow_devices: bool,
    ) -> Result<(berth_content::BlobWriter, u64, Option<Digest>, u64)> {
        use berth_content::blobs::{HashingReader, TeeReader};
        let opts = berth_snapshot::ApplyOptions {
            allow_devices,
            ..Default::default()
        };
        let writer = self.blobs.writer()?;
        match keep {
            KeepBlob::AsReceived => {
                let tee = TeeReader::new(input, writer);
                let (diff_id, stats, tee) = match compression {
                    Compression::Gzip => {
                        let mut h = HashingReader::new(flate2::read::MultiGzDecoder::new(tee));
                        let stats = berth_snapshot::apply_layer(&mut h, diff, &opts)?;
                        drain(&mut h)?;
                        let (d, _, dec) = h.finish();
                        (Some(d), stats, dec.into_inner())
                    }
                    Compression::Zstd => {
                        let dec = zstd::stream::read::Decoder::with_buffer(BufReader::new(tee))
                            .map_err(|e| EngineError::invalid(format!("zstd: {e}")))?;
                        let mut h = HashingReader::new(dec);
                        let stats = berth_snapshot::apply_layer(&mut h, diff, &opts)?;
                        drain(&mut h)?;
                        let (d, _, dec) = h.finish();
                        (Some(d), stats, dec.finish().into_inner())
                    }
                    _ => {
                        // The blob is the tar itself: its digest is the diff ID.
                        let mut tee = tee;
                        let stats = berth_snapshot::apply_layer(&mut tee, diff, &opts)?;
                        drain(&mut tee)?;
                        (None, stats, tee)
                    }
                };
                let (mut rest, writer) = tee.into_parts();
                // Whatever follows the compressed stream belongs to the blob too.
                let mut writer = writer;
                std::io::copy(&mut rest, &mut writer)
                    .map_err(|e| EngineError::invalid(format!("reading layer: {e}")))?;
                let size = writer.size();
                Ok((writer, size, diff_id, stats.content_bytes))
            }
            KeepBlob::Uncompressed => {
                let raw: Box<dyn Read> = match compression {
                    Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(input)),
                    Compression::Zstd => Box::new(
                        zstd::stream::read::Decoder::with_buffer(input)
                            .map_err(|e| EngineError::invalid(format!("zstd: {e}")))?,
                    ),
                    _ => Box::new(input),
                };
                // The blob is the decompressed tar: its digest is the diff ID.
                let mut tee = TeeReader::new(raw, writer);
                let stats = berth_snapshot::apply_layer(&mut tee, diff, &opts)?;
                drain(&mut tee)?;
                let (_, writer) = tee.into_parts();
                let size = writer.size();
                Ok((writer, size, None, stats.content_bytes))
            }
        }
    }

    /// Moves a staged layer into place inside the image's transaction and
    /// records it. Must run while holding the engine's image lock.
    pub fn adopt(&self, tx: &mut Txn, staged: &StagedLayer) -> Result<()> {
        let id = &staged.record.diff_id;
        let existing: Option<LayerRecord> = tx.get(LAYERS, id)?;
        let dest = self.diff_dir(id);
        if let Some(tmp) = &staged.tmp_dir {
            if existing.is_some() && dest.is_dir() {
                let _ = berth_snapshot::remove_tree(tmp);
            } else {
                let parent = dest.parent().unwrap_or(&self.root).to_path_buf();
                if parent.exists() {
                    berth_snapshot::remove_tree(&parent)
                        .map_err(io_context(format!("removing stale {}", parent.display())))?;
                }
                fs::rename(tmp, &parent).map_err(io_context(format!(
                    "moving layer into {}",
                    parent.display()
                )))?;
            }
        }
        if existing.is_none()
            || existing
                .as_ref()
                .map(|e| e.blob != staged.record.blob)
                .unwrap_or(false)
        {
            let keep_old = existing
                .as_ref()
                .map(|e| {
                    parse_digest(&e.blob)
                        .map(|d| self.blobs.contains(&d))
                        .unwrap_or(false)
                })
                .unwrap_or(false);
            if !keep_old {
                tx.put(LAYERS, id, &staged.record)?;
            }
        }
        Ok(())
    }

    /// Drops a staged layer that no image took.
    pub fn discard(&self, staged: &StagedLayer) {
        if let Some(tmp) = &staged.tmp_dir {
            let _ = berth_snapshot::remove_tree(tmp);
        }
    }

    /// Removes a layer's directory and blob once no image uses it. The record
    /// must already be deleted in a committed transaction.
    pub fn remove_files(&self, rec: &LayerRecord) {
        if self.leased(&rec.diff_id) {
            return;
        }
        let dir = self.root.join(rec.diff_id.trim_start_matches("sha256:"));
        if let Err(e) = berth_snapshot::remove_tree(&dir) {
            tracing::warn!("removing layer directory {}: {e}", dir.display());
        }
        if let Ok(d) = parse_digest(&rec.blob) {
            let _ = self.blobs.delete(&d);
        }
    }

    /// Start-up sweep: removes unpacked directories that no record names.
    pub fn sweep(&self, known: &std::collections::HashSet<String>) -> Result<usize> {
        let mut removed = 0;
        let entries = fs::read_dir(&self.root)
            .map_err(io_context(format!("reading {}", self.root.display())))?;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if !known.contains(&format!("sha256:{name}")) {
                let _ = berth_snapshot::remove_tree(&e.path());
                removed += 1;
            }
        }
        Ok(removed)
    }
}

fn drain(r: &mut impl Read) -> Result<()> {
    std::io::copy(r, &mut std::io::sink())
        .map(|_| ())
        .map_err(|e| EngineError::invalid(format!("reading layer: {e}")))
}

/// Parses a digest string kept in a record.
pub fn parse_digest(s: &str) -> Result<Digest> {
    Digest::parse(s)
        .map_err(|e| EngineError::internal(format!("corrupt record: digest {s:?}: {e}")))
}
