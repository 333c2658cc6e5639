//! `docker load` and `docker save`: image archives in the docker-archive
//! format (`manifest.json` + layer tarballs, old and new layouts) and the OCI
//! image layout (`index.json` + `blobs/`), several images per archive.
//!
//! Load reads the archive once, as it streams in: every layer is hashed,
//! stored and unpacked in the same pass, whatever order the files come in;
//! the images are assembled from `manifest.json` or `index.json` at the end
//! and committed in one transaction, so an interrupted or invalid load leaves
//! nothing behind. Save writes the layout Docker 25+ writes, which both the
//! docker-archive and the OCI readers accept.

use std::collections::{BTreeMap, HashMap};
use std::io::{Cursor, Read, Write};

use berth_content::blobs::digest_of;
use berth_content::image::{
    looks_like_tar, ArchiveManifestEntry, Compression, Descriptor, ImageConfig, Index, Manifest,
    ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, MEDIA_DOCKER_LIST, MEDIA_DOCKER_MANIFEST,
    MEDIA_OCI_CONFIG, MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST,
};
use berth_content::Digest;
use berth_reference::Reference;
use serde_json::json;

use super::import::host_arch;
use super::{ImageRecord, IMAGES, REFS};
use crate::error::{EngineError, Result};
use crate::events::attrs;
use crate::layers::{parse_digest, KeepBlob, LayerRecord, StagedLayer, LAYERS};
use crate::Engine;

/// Largest non-layer file (config, manifest, index) read from an archive.
const MAX_METADATA_FILE: u64 = 32 << 20;

/// Progress of a load, reported after each layer.
#[derive(Debug, Clone)]
pub struct LoadProgress {
    /// First 12 hex characters of the layer's diff ID.
    pub id: String,
    /// Bytes of the layer blob read.
    pub bytes: u64,
}

struct PlannedImage {
    config: Vec<u8>,
    layers: Vec<String>,
    tags: Vec<Reference>,
    manifest: Option<Vec<u8>>,
}

fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

fn blob_path_digest(path: &str) -> Option<Digest> {
    let rest = path.strip_prefix("blobs/")?;
    let (alg, hex) = rest.split_once('/')?;
    Digest::parse(&format!("{alg}:{hex}")).ok()
}

fn invalid(msg: impl Into<String>) -> EngineError {
    EngineError::invalid(msg)
}

impl Engine {
    /// A layer record by diff ID.
    pub fn layer_record(&self, diff_id: &str) -> Option<LayerRecord> {
        self.store
            .get::<LayerRecord>(LAYERS, diff_id)
            .ok()
            .flatten()
    }

    /// Loads every image in an archive; returns the lines Docker prints
    /// ("Loaded image: busybox:latest", "Loaded image ID: sha256:…").
    pub fn load_images(
        &self,
        input: impl Read,
        progress: &mut dyn FnMut(LoadProgress),
    ) -> Result<Vec<String>> {
        let mut staged: HashMap<String, StagedLayer> = HashMap::new();
        let result = self.load_inner(input, progress, &mut staged);
        for s in staged.values() {
            self.layers.discard(s);
            self.layers.release(&s.record.diff_id);
            self.layers.release(&s.record.blob);
        }
        if result.is_err() {
            let blobs: Vec<String> = staged.values().map(|s| s.record.blob.clone()).collect();
            self.drop_unreferenced_blobs(&blobs);
        }
        result
    }

    fn load_inner(
        &self,
        input: impl Read,
        progress: &mut dyn FnMut(LoadProgress),
        staged: &mut HashMap<String, StagedLayer>,
    ) -> Result<Vec<String>> {
        let by_blob: HashMap<String, LayerRecord> = self
            .store
            .list::<LayerRecord>(LAYERS)?
            .into_iter()
            .map(|(_, r)| (r.blob.clone(), r))
            .collect();
        let mut files: HashMap<String, Vec<u8>> = HashMap::new();
        let mut links: HashMap<String, String> = HashMap::new();
        let mut archive = tar::Archive::new(input);
        let entries = archive
            .entries()
            .map_err(|e| invalid(format!("invalid archive: {e}")))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| invalid(format!("invalid archive: {e}")))?;
            let raw_path = entry
                .path()
                .map_err(|e| invalid(format!("invalid archive entry name: {e}")))?
                .to_string_lossy()
                .to_string();
            let path = clean_path(&raw_path);
            match entry.header().entry_type() {
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    if let Ok(Some(target)) = entry.link_name() {
                        let t = target.to_string_lossy().to_string();
                        let resolved = if entry.header().entry_type() == tar::EntryType::Symlink {
                            let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                            clean_path(&format!("{dir}/{t}"))
                        } else {
                            clean_path(&t)
                        };
                        links.insert(path, resolved);
                    }
                    continue;
                }
                tar::EntryType::Regular | tar::EntryType::Continuous => {}
                _ => continue,
            }
            let size = entry.size();
            let mut head = Vec::with_capacity(512);
            (&mut entry)
                .take(512)
                .read_to_end(&mut head)
                .map_err(|e| invalid(format!("reading {path} from the archive: {e}")))?;
            let layerish = looks_like_tar(&head)
                || (head.len() >= 512 && head.iter().all(|b| *b == 0))
                || matches!(
                    Compression::detect(&head),
                    Compression::Gzip | Compression::Zstd
                );
            let expected = blob_path_digest(&path);
            if !layerish {
                if size > MAX_METADATA_FILE {
                    std::io::copy(&mut entry, &mut std::io::sink())
                        .map_err(|e| invalid(format!("reading {path} from the archive: {e}")))?;
                    continue;
                }
                let mut data = head;
                entry
                    .read_to_end(&mut data)
                    .map_err(|e| invalid(format!("reading {path} from the archive: {e}")))?;
                if let Some(d) = &expected {
                    let actual = digest_of(&data);
                    if &actual != d {
                        return Err(invalid(format!(
                            "invalid archive: {path} has digest {actual}, not the {d} its name says"
                        )));
                    }
                }
                files.insert(path, data);
                continue;
            }
            // A layer. Skip the work when the very same blob is already here.
            if let Some(d) = &expected {
                if let Some(rec) = by_blob.get(&d.to_string()) {
                    if self.blobs.contains(d) && self.layers.diff_dir(&rec.diff_id).is_dir() {
                        std::io::copy(&mut entry, &mut std::io::sink()).map_err(|e| {
                            invalid(format!("reading {path} from the archive: {e}"))
                        })?;
                        self.layers.lease(&rec.diff_id);
                        self.layers.lease(&rec.blob);
                        staged.insert(
                            path,
                            StagedLayer {
                                record: rec.clone(),
                                tmp_dir: None,
                            },
                        );
                        continue;
                    }
                }
            }
            let reader = Cursor::new(head).chain(&mut entry);
            let layer = self
                .layers
                .stage(reader, KeepBlob::AsReceived, expected.as_ref(), true, |d| {
                    self.layer_record(d)
                })
                .map_err(|e| EngineError::new(e.kind, format!("{path}: {}", e.message)))?;
            self.layers.lease(&layer.record.diff_id);
            self.layers.lease(&layer.record.blob);
            progress(LoadProgress {
                id: layer
                    .record
                    .diff_id
                    .trim_start_matches("sha256:")
                    .chars()
                    .take(12)
                    .collect(),
                bytes: size,
            });
            if let Some(old) = staged.insert(path, layer) {
                self.layers.discard(&old);
                self.layers.release(&old.record.diff_id);
                self.layers.release(&old.record.blob);
            }
        }
        let resolve = |p: &str| -> String {
            let mut p = clean_path(p);
            for _ in 0..8 {
                match links.get(&p) {
                    Some(t) => p = t.clone(),
                    None => break,
                }
            }
            p
        };
        let plans = if let Some(mj) = files.get("manifest.json") {
            let entries: Vec<ArchiveManifestEntry> = serde_json::from_slice(mj)
                .map_err(|e| invalid(format!("invalid archive: manifest.json: {e}")))?;
            let mut plans = Vec::new();
            for e in entries {
                let cfg_path = resolve(&e.config);
                let config = files.get(&cfg_path).cloned().ok_or_else(|| {
                    invalid(format!(
                        "invalid archive: {} named in manifest.json is missing",
                        e.config
                    ))
                })?;
                let mut layers = Vec::new();
                for l in &e.layers {
                    let p = resolve(l);
                    let s = staged.get(&p).ok_or_else(|| {
                        invalid(format!(
                            "invalid archive: layer {l} named in manifest.json is missing"
                        ))
                    })?;
                    layers.push(s.record.diff_id.clone());
                }
                let mut tags = Vec::new();
                for t in &e.repo_tags {
                    tags.push(Reference::parse_with_default_tag(t)?);
                }
                plans.push(PlannedImage {
                    config,
                    layers,
                    tags,
                    manifest: None,
                });
            }
            plans
        } else if let Some(ij) = files.get("index.json") {
            let index: Index = serde_json::from_slice(ij)
                .map_err(|e| invalid(format!("invalid archive: index.json: {e}")))?;
            let mut plans = Vec::new();
            for desc in &index.manifests {
                self.plan_oci(desc, &files, staged, &mut plans, 0)?;
            }
            plans
        } else {
            return Err(invalid(
                "invalid archive: it has neither a manifest.json (docker-archive) nor an index.json (OCI layout)",
            ));
        };
        if plans.is_empty() {
            return Err(invalid("invalid archive: it names no image"));
        }
        self.commit_loaded(plans, staged)
    }

    fn plan_oci(
        &self,
        desc: &Descriptor,
        files: &HashMap<String, Vec<u8>>,
        staged: &HashMap<String, StagedLayer>,
        plans: &mut Vec<PlannedImage>,
        depth: usize,
    ) -> Result<()> {
        if depth > 4 {
            return Err(invalid("invalid archive: indexes nested too deep"));
        }
        let d = Digest::parse(&desc.digest)
            .map_err(|e| invalid(format!("invalid archive: {}: {e}", desc.digest)))?;
        let path = format!("blobs/{}/{}", d.algorithm(), d.hex());
        let bytes = files.get(&path).ok_or_else(|| {
            invalid(format!(
                "invalid archive: {path} named in index.json is missing"
            ))
        })?;
        let tags: Vec<Reference> = desc
            .annotations
            .as_ref()
            .and_then(|a| {
                a.get(ANNOTATION_IMAGE_NAME)
                    .and_then(|v| v.as_str())
                    .or_else(|| {
                        a.get(ANNOTATION_REF_NAME)
                            .and_then(|v| v.as_str())
                            .filter(|s| s.contains(':'))
                    })
            })
            .and_then(|n| Reference::parse_with_default_tag(n).ok())
            .into_iter()
            .collect();
        match desc.media_type.as_str() {
            MEDIA_OCI_INDEX | MEDIA_DOCKER_LIST => {
                let idx: Index = serde_json::from_slice(bytes)
                    .map_err(|e| invalid(format!("invalid archive: {path}: {e}")))?;
                let pick = idx.manifests.iter().find(|m| {
                    m.platform
                        .as_ref()
                        .is_some_and(|p| p.os == "linux" && p.architecture == host_arch())
                });
                let Some(pick) = pick.or(idx.manifests.first()) else {
                    return Ok(());
                };
                let mut sub = Vec::new();
                self.plan_oci(pick, files, staged, &mut sub, depth + 1)?;
                for mut p in sub {
                    p.tags.extend(tags.iter().cloned());
                    plans.push(p);
                }
                Ok(())
            }
            MEDIA_OCI_MANIFEST | MEDIA_DOCKER_MANIFEST => {
                let m: Manifest = serde_json::from_slice(bytes)
                    .map_err(|e| invalid(format!("invalid archive: {path}: {e}")))?;
                let cd = Digest::parse(&m.config.digest)
                    .map_err(|e| invalid(format!("invalid archive: {e}")))?;
                let config = files
                    .get(&format!("blobs/{}/{}", cd.algorithm(), cd.hex()))
                    .cloned()
                    .ok_or_else(|| {
                        invalid(format!(
                            "invalid archive: config {} is missing",
                            m.config.digest
                        ))
                    })?;
                let mut layers = Vec::new();
                for l in &m.layers {
                    let ld = Digest::parse(&l.digest)
                        .map_err(|e| invalid(format!("invalid archive: {e}")))?;
                    let s = staged
                        .get(&format!("blobs/{}/{}", ld.algorithm(), ld.hex()))
                        .ok_or_else(|| {
                            invalid(format!("invalid archive: layer {} is missing", l.digest))
                        })?;
                    layers.push(s.record.diff_id.clone());
                }
                plans.push(PlannedImage {
                    config,
                    layers,
                    tags,
                    manifest: Some(bytes.clone()),
                });
                Ok(())
            }
            other => Err(invalid(format!(
                "invalid archive: unsupported media type {other} in index.json"
            ))),
        }
    }

    fn commit_loaded(
        &self,
        plans: Vec<PlannedImage>,
        staged: &HashMap<String, StagedLayer>,
    ) -> Result<Vec<String>> {
        // Check every image before storing anything.
        let mut ready = Vec::new();
        for p in plans {
            let cfg: ImageConfig = serde_json::from_slice(&p.config)
                .map_err(|e| invalid(format!("invalid archive: image config is not valid: {e}")))?;
            if cfg.rootfs.diff_ids.len() != p.layers.len() {
                return Err(invalid(format!(
                    "invalid archive: the image config lists {} layers but the archive gives {}",
                    cfg.rootfs.diff_ids.len(),
                    p.layers.len()
                )));
            }
            for (i, (want, got)) in cfg.rootfs.diff_ids.iter().zip(&p.layers).enumerate() {
                if want != got {
                    return Err(invalid(format!(
                        "invalid archive: layer {} has diff ID {got}, but the image config expects {want}",
                        i + 1
                    )));
                }
            }
            ready.push(p);
        }
        let mut stored = Vec::new();
        let result = self.commit_ready(&ready, staged, &mut stored);
        if result.is_err() {
            let ids: Vec<String> = stored
                .iter()
                .flat_map(|(i, m)| std::iter::once(i.clone()).chain(m.clone()))
                .collect();
            self.drop_unreferenced_blobs(&ids);
        }
        result
    }

    fn commit_ready(
        &self,
        ready: &[PlannedImage],
        staged: &HashMap<String, StagedLayer>,
        stored: &mut Vec<(String, Option<String>)>,
    ) -> Result<Vec<String>> {
        for p in ready {
            let id = self.blobs.put(&p.config, None)?.to_string();
            let manifest = match &p.manifest {
                Some(m) => Some(self.blobs.put(m, None)?.to_string()),
                None => None,
            };
            stored.push((id, manifest));
        }
        let _g = self.image_lock.lock();
        self.sync_data_root();
        let mut lines = Vec::new();
        let mut events: Vec<(String, String)> = Vec::new();
        self.store.write(|tx| -> Result<()> {
            for s in staged.values() {
                if ready.iter().any(|p| p.layers.contains(&s.record.diff_id)) {
                    self.layers.adopt(tx, s)?;
                }
            }
            for (p, (id, manifest)) in ready.iter().zip(stored.iter()) {
                let rec = match tx.get::<ImageRecord>(IMAGES, id)? {
                    Some(mut r) => {
                        if r.manifest.is_none() {
                            r.manifest = manifest.clone();
                        }
                        r
                    }
                    None => ImageRecord {
                        id: id.clone(),
                        layers: p.layers.clone(),
                        manifest: manifest.clone(),
                        parent: None,
                        last_tag_time: None,
                        added: chrono::Utc::now().timestamp(),
                    },
                };
                tx.put(IMAGES, id, &rec)?;
                events.push(("load".into(), id.clone()));
                if p.tags.is_empty() {
                    lines.push(format!("Loaded image ID: {id}"));
                }
                for t in &p.tags {
                    if let Some(old) = tx.get::<String>(REFS, &t.to_string())? {
                        if &old != id {
                            lines.push(format!(
                                "The image {} already exists, renaming the old one with ID {old} to empty string",
                                t.familiar_string()
                            ));
                        }
                    }
                    self.set_ref(tx, t, id)?;
                    events.push(("tag".into(), format!("{id} {}", t.familiar_string())));
                    lines.push(format!("Loaded image: {}", t.familiar_string()));
                }
            }
            Ok(())
        })?;
        for (action, what) in events {
            let (id, name) = what.split_once(' ').unwrap_or((&what, &what));
            self.events
                .publish("image", &action, id, attrs([("name", name.to_string())]));
        }
        Ok(lines)
    }

    /// Resolves the images `docker save` names, before anything is written.
    /// A repository name without tag selects all its tags.
    pub fn plan_save(&self, names: &[String]) -> Result<Vec<(ImageRecord, Vec<Reference>)>> {
        if names.is_empty() {
            return Err(invalid("no image names given: say which images to save"));
        }
        let refs = self.image_refs()?;
        let mut out: BTreeMap<String, (ImageRecord, Vec<Reference>)> = BTreeMap::new();
        let mut order = Vec::new();
        for name in names {
            let mut selected: Vec<(String, Option<Reference>)> = Vec::new();
            if let Ok(r) = Reference::parse_normalized(name) {
                if r.tag().is_none() && r.digest().is_none() {
                    for (full, id) in &refs {
                        if let Ok(x) = Reference::parse_normalized(full) {
                            if x.name() == r.name() && x.tag().is_some() {
                                selected.push((id.clone(), Some(x)));
                            }
                        }
                    }
                }
            }
            if selected.is_empty() {
                let rec = self.resolve_image(name)?;
                let tag = Reference::parse_with_default_tag(name)
                    .ok()
                    .filter(|r| r.digest().is_none())
                    .filter(|r| {
                        refs.iter()
                            .any(|(f, id)| *f == r.to_string() && *id == rec.id)
                    });
                selected.push((rec.id.clone(), tag));
            }
            for (id, tag) in selected {
                if !out.contains_key(&id) {
                    let rec: ImageRecord = self
                        .store
                        .get(IMAGES, &id)?
                        .ok_or_else(|| EngineError::not_found(format!("No such image: {name}")))?;
                    out.insert(id.clone(), (rec, Vec::new()));
                    order.push(id.clone());
                }
                if let (Some(t), Some(e)) = (tag, out.get_mut(&id)) {
                    if !e.1.contains(&t) {
                        e.1.push(t);
                    }
                }
            }
        }
        Ok(order.into_iter().filter_map(|id| out.remove(&id)).collect())
    }

    /// Writes the planned images as one archive (OCI layout + docker-archive
    /// `manifest.json`). Takes leases so nothing is removed meanwhile.
    pub fn write_save(
        &self,
        plan: &[(ImageRecord, Vec<Reference>)],
        out: impl Write,
    ) -> Result<()> {
        for (rec, _) in plan {
            for l in &rec.layers {
                self.layers.lease(l);
            }
        }
        let r = self.write_save_inner(plan, out);
        for (rec, _) in plan {
            for l in &rec.layers {
                self.layers.release(l);
            }
        }
        if r.is_ok() {
            for (rec, _) in plan {
                self.events
                    .publish("image", "save", &rec.id, attrs([("name", rec.id.clone())]));
            }
        }
        r
    }

    fn write_save_inner(
        &self,
        plan: &[(ImageRecord, Vec<Reference>)],
        out: impl Write,
    ) -> Result<()> {
        let werr = |e: std::io::Error| EngineError::internal(format!("writing the archive: {e}"));
        let mut tar = tar::Builder::new(out);
        let mut written: std::collections::HashSet<String> = Default::default();
        let dir = |tar: &mut tar::Builder<_>, name: &str| -> Result<()> {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            tar.append_data(&mut h, name, std::io::empty())
                .map_err(werr)
        };
        dir(&mut tar, "blobs/")?;
        dir(&mut tar, "blobs/sha256/")?;
        let add_bytes = |tar: &mut tar::Builder<_>,
                         written: &mut std::collections::HashSet<String>,
                         name: &str,
                         data: &[u8]|
         -> Result<()> {
            if !written.insert(name.to_string()) {
                return Ok(());
            }
            let mut h = tar::Header::new_ustar();
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            tar.append_data(&mut h, name, data).map_err(werr)
        };
        let mut manifest_json = Vec::new();
        let mut index_entries = Vec::new();
        for (rec, tags) in plan {
            let cfg_d = parse_digest(&rec.id)?;
            let cfg = self.blobs.read(&cfg_d)?;
            let cfg_path = format!("blobs/sha256/{}", cfg_d.hex());
            add_bytes(&mut tar, &mut written, &cfg_path, &cfg)?;
            let mut layer_paths = Vec::new();
            let mut layer_descs = Vec::new();
            for l in &rec.layers {
                let lr: LayerRecord = self.store.get(LAYERS, l)?.ok_or_else(|| {
                    EngineError::internal(format!("image {}: layer {l} has no record", rec.id))
                })?;
                let bd = parse_digest(&lr.blob)?;
                let p = format!("blobs/sha256/{}", bd.hex());
                if written.insert(p.clone()) {
                    let f = self.blobs.open_blob(&bd)?;
                    let mut h = tar::Header::new_ustar();
                    h.set_mode(0o644);
                    h.set_size(lr.blob_size);
                    tar.append_data(&mut h, &p, f.take(lr.blob_size))
                        .map_err(werr)?;
                }
                layer_paths.push(p);
                layer_descs.push(json!({
                    "mediaType": lr.compression.oci_media_type(),
                    "digest": lr.blob,
                    "size": lr.blob_size,
                }));
            }
            let manifest = match rec.manifest.as_deref().map(parse_digest).transpose()? {
                Some(d) if self.blobs.contains(&d) => self.blobs.read(&d)?,
                _ => serde_json::to_vec(&json!({
                    "schemaVersion": 2,
                    "mediaType": MEDIA_OCI_MANIFEST,
                    "config": {"mediaType": MEDIA_OCI_CONFIG, "digest": rec.id, "size": cfg.len()},
                    "layers": layer_descs,
                }))
                .map_err(|e| EngineError::internal(format!("encoding manifest: {e}")))?,
            };
            let md = digest_of(&manifest);
            add_bytes(
                &mut tar,
                &mut written,
                &format!("blobs/sha256/{}", md.hex()),
                &manifest,
            )?;
            let media = serde_json::from_slice::<serde_json::Value>(&manifest)
                .ok()
                .and_then(|v| v["mediaType"].as_str().map(String::from))
                .unwrap_or_else(|| MEDIA_OCI_MANIFEST.to_string());
            if tags.is_empty() {
                index_entries.push(
                    json!({"mediaType": media, "digest": md.to_string(), "size": manifest.len()}),
                );
            }
            for t in tags {
                index_entries.push(json!({
                    "mediaType": media,
                    "digest": md.to_string(),
                    "size": manifest.len(),
                    "annotations": {
                        ANNOTATION_IMAGE_NAME: t.to_string(),
                        ANNOTATION_REF_NAME: t.tag().unwrap_or("latest"),
                    }
                }));
            }
            manifest_json.push(json!({
                "Config": cfg_path,
                "RepoTags": tags.iter().map(|t| t.familiar_string()).collect::<Vec<_>>(),
                "Layers": layer_paths,
            }));
        }
        let index =
            json!({"schemaVersion": 2, "mediaType": MEDIA_OCI_INDEX, "manifests": index_entries});
        let enc = |v: &serde_json::Value| {
            serde_json::to_vec(v).map_err(|e| EngineError::internal(format!("encoding: {e}")))
        };
        add_bytes(&mut tar, &mut written, "index.json", &enc(&index)?)?;
        add_bytes(
            &mut tar,
            &mut written,
            "manifest.json",
            &enc(&json!(manifest_json))?,
        )?;
        add_bytes(
            &mut tar,
            &mut written,
            "oci-layout",
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )?;
        tar.finish().map_err(werr)?;
        tar.into_inner().map_err(werr)?.flush().map_err(werr)?;
        Ok(())
    }
}
