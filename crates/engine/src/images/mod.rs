//! Images: records, name resolution, and the image operations of the API
//! (`ls`, `inspect`, `history`, `tag`, `rm`, `prune`). Import, load and save
//! live in their own modules.
//!
//! An image's ID is the sha256 of its config blob (Docker's graphdriver
//! store). Tags map full references (`docker.io/library/busybox:latest`) to
//! IDs; digest references (`name@sha256:…`) are kept the same way and shown
//! as `RepoDigests`.

pub mod archive;
pub mod changes;
pub mod commit_layer;
pub mod distribution;
pub mod import;
pub mod search;

use std::collections::{BTreeMap, HashSet};

use berth_content::image::ImageConfig;
use berth_reference::{is_hex_id_prefix, Reference};
use berth_store::{Table, Txn};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{EngineError, Result};
use crate::events::attrs;
use crate::layers::{chain_ids, parse_digest, LayerRecord, LAYERS};
use crate::Engine;

/// Table of image records, keyed by image ID.
pub const IMAGES: Table = Table("images");
/// Table of references (tags and digests) → image ID.
pub const REFS: Table = Table("refs");

/// What the store knows of one image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImageRecord {
    /// `sha256:` + hex of the config blob.
    pub id: String,
    /// Diff IDs of the layers, lowest first.
    pub layers: Vec<String>,
    /// Digest of a manifest blob kept for this image, if any.
    #[serde(default)]
    pub manifest: Option<String>,
    /// Parent image (set by commit and build).
    #[serde(default)]
    pub parent: Option<String>,
    /// When a tag was last added, RFC 3339.
    #[serde(default)]
    pub last_tag_time: Option<String>,
    /// When the image entered this store, unix seconds.
    pub added: i64,
}

/// The familiar tags and digest references of one image.
pub type ImageRefs = (Vec<String>, Vec<String>);

/// One line of `docker rmi` output.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub enum DeleteItem {
    /// A reference was removed.
    Untagged(String),
    /// An image or layer was removed.
    Deleted(String),
}

/// Filters of `GET /images/json` and `/images/prune`.
#[derive(Debug, Default, Clone)]
pub struct ImageFilters {
    /// `dangling=true|false`.
    pub dangling: Option<bool>,
    /// `reference=PATTERN` (any of).
    pub reference: Vec<String>,
    /// `label=KEY` or `label=KEY=VALUE` (all of).
    pub label: Vec<String>,
    /// `label!=…` (none of).
    pub label_not: Vec<String>,
    /// `before=IMAGE`.
    pub before: Option<String>,
    /// `since=IMAGE`.
    pub since: Option<String>,
    /// `until=TIMESTAMP` (unix seconds): images created before it.
    pub until: Option<i64>,
}

impl ImageFilters {
    /// Parses Docker's `filters` query parameter (a JSON map of lists, or
    /// the legacy map of `{"value": true}` maps).
    pub fn parse(
        raw: Option<&str>,
        allowed: &[&str],
    ) -> Result<(Self, BTreeMap<String, Vec<String>>)> {
        let map = parse_filters(raw)?;
        let mut f = ImageFilters::default();
        for (k, vals) in &map {
            if !allowed.contains(&k.as_str()) {
                return Err(EngineError::invalid(format!("invalid filter '{k}'")));
            }
            for v in vals {
                match k.as_str() {
                    "dangling" => {
                        f.dangling = Some(match v.to_ascii_lowercase().as_str() {
                            "true" | "1" => true,
                            "false" | "0" => false,
                            _ => {
                                return Err(EngineError::invalid(format!(
                                    "invalid filter 'dangling={v}'"
                                )))
                            }
                        })
                    }
                    "reference" => f.reference.push(v.clone()),
                    "label" => f.label.push(v.clone()),
                    "label!" => f.label_not.push(v.clone()),
                    "before" => f.before = Some(v.clone()),
                    "since" => f.since = Some(v.clone()),
                    "until" => f.until = Some(parse_until(v)?),
                    _ => {}
                }
            }
        }
        Ok((f, map))
    }
}

/// Parses the `filters` JSON of the Engine API.
pub fn parse_filters(raw: Option<&str>) -> Result<BTreeMap<String, Vec<String>>> {
    let mut out = BTreeMap::new();
    let Some(raw) = raw.filter(|s| !s.is_empty()) else {
        return Ok(out);
    };
    let v: Value = serde_json::from_str(raw)
        .map_err(|e| EngineError::invalid(format!("invalid filter: {e}")))?;
    let Value::Object(m) = v else {
        return Err(EngineError::invalid(
            "invalid filter: expected a JSON object",
        ));
    };
    for (k, vals) in m {
        let list: Vec<String> = match vals {
            Value::Array(a) => a
                .into_iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect(),
            Value::Object(o) => o
                .into_iter()
                .filter(|(_, b)| b.as_bool() == Some(true))
                .map(|(s, _)| s)
                .collect(),
            Value::String(s) => vec![s],
            _ => return Err(EngineError::invalid(format!("invalid filter '{k}'"))),
        };
        out.insert(k, list);
    }
    Ok(out)
}

/// Parses a filter's `until` (or `since`) value as Docker does: a Unix
/// timestamp, an RFC 3339 date, or a Go duration ago; whole seconds.
pub(crate) fn parse_until(v: &str) -> Result<i64> {
    if let Ok(n) = v.split('.').next().unwrap_or(v).parse::<i64>() {
        return Ok(n);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(t.timestamp());
    }
    if let Some(d) = parse_go_duration(v) {
        return Ok(chrono::Utc::now().timestamp() - d);
    }
    Err(EngineError::invalid(format!(
        "invalid filter 'until={v}': expected a timestamp or a duration such as 24h"
    )))
}

/// Parses a Go duration ("10m", "1h30m", "45s") into whole seconds.
pub fn parse_go_duration(s: &str) -> Option<i64> {
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push('s');
            chars.next();
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        total += n * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
        any = true;
    }
    if !num.is_empty() || !any {
        return None;
    }
    Some(total as i64)
}

/// Now, RFC 3339 with nanoseconds, UTC.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn created_secs(cfg: &ImageConfig) -> i64 {
    cfg.created
        .as_deref()
        .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

/// Docker's path.Match glob (`*`, `?`, `[...]`) for reference filters.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn m(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len())
                .take_while(|i| !n[..*i].contains(&'/'))
                .any(|i| m(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && n[0] != '/' && m(&p[1..], &n[1..]),
            Some('[') => {
                let Some(end) = p.iter().position(|c| *c == ']') else {
                    return false;
                };
                if n.is_empty() {
                    return false;
                }
                let class = &p[1..end];
                let (neg, class) = match class.first() {
                    Some('^') | Some('!') => (true, &class[1..]),
                    _ => (false, class),
                };
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        if class[i] <= n[0] && n[0] <= class[i + 2] {
                            hit = true;
                        }
                        i += 3;
                    } else {
                        if class[i] == n[0] {
                            hit = true;
                        }
                        i += 1;
                    }
                }
                hit != neg && m(&p[end + 1..], &n[1..])
            }
            Some('\\') if p.len() > 1 => !n.is_empty() && n[0] == p[1] && m(&p[2..], &n[1..]),
            Some(c) => !n.is_empty() && n[0] == *c && m(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    m(&p, &n)
}

impl Engine {
    /// Every image record.
    pub fn image_records(&self) -> Result<Vec<ImageRecord>> {
        Ok(self
            .store
            .list::<ImageRecord>(IMAGES)?
            .into_iter()
            .map(|(_, r)| r)
            .collect())
    }

    /// All references, as (full reference string, image ID).
    pub fn image_refs(&self) -> Result<Vec<(String, String)>> {
        Ok(self.store.list::<String>(REFS)?)
    }

    /// Reads and parses an image's config.
    pub fn image_config(&self, rec: &ImageRecord) -> Result<ImageConfig> {
        let bytes = self.blobs.read(&parse_digest(&rec.id)?)?;
        serde_json::from_slice(&bytes).map_err(|e| {
            EngineError::internal(format!("image {}: config is not valid JSON: {e}", rec.id))
        })
    }

    /// Finds an image by full or short ID, `sha256:` ID, name[:tag] or
    /// name@digest, as Docker does.
    pub fn resolve_image(&self, name: &str) -> Result<ImageRecord> {
        let not_found = || {
            let shown = Reference::parse_with_default_tag(name)
                .map(|r| r.familiar_string())
                .unwrap_or_else(|_| name.to_string());
            EngineError::not_found(format!("No such image: {shown}"))
        };
        if name.is_empty() {
            return Err(not_found());
        }
        if let Some(hex) = name.strip_prefix("sha256:") {
            if hex.len() == 64 {
                return self.store.get(IMAGES, name)?.ok_or_else(not_found);
            }
            if is_hex_id_prefix(hex) {
                return self.image_by_prefix(hex)?.ok_or_else(not_found);
            }
            return Err(not_found());
        }
        if name.len() == 64 && is_hex_id_prefix(name) {
            return self
                .store
                .get(IMAGES, &format!("sha256:{name}"))?
                .ok_or_else(not_found);
        }
        if let Ok(r) = Reference::parse_with_default_tag(name) {
            if let Some(id) = self.store.get::<String>(REFS, &r.to_string())? {
                if let Some(rec) = self.store.get(IMAGES, &id)? {
                    return Ok(rec);
                }
            }
            // name:tag@digest: the digest decides.
            if r.tag().is_some() && r.digest().is_some() {
                if let Some(d) = r.digest() {
                    let by_digest = r.name_only().with_digest(d.clone());
                    if let Some(id) = self.store.get::<String>(REFS, &by_digest.to_string())? {
                        if let Some(rec) = self.store.get(IMAGES, &id)? {
                            return Ok(rec);
                        }
                    }
                }
            }
        }
        if is_hex_id_prefix(name) {
            if let Some(rec) = self.image_by_prefix(name)? {
                return Ok(rec);
            }
        }
        Err(not_found())
    }

    fn image_by_prefix(&self, hex: &str) -> Result<Option<ImageRecord>> {
        let mut found: Option<ImageRecord> = None;
        for rec in self.image_records()? {
            if rec.id.trim_start_matches("sha256:").starts_with(hex) {
                if found.is_some() {
                    return Err(EngineError::invalid(format!(
                        "image ID prefix {hex} is ambiguous: give more characters"
                    )));
                }
                found = Some(rec);
            }
        }
        Ok(found)
    }

    /// Tags and digests of each image: (RepoTags, RepoDigests) in familiar form.
    pub fn refs_by_image(&self) -> Result<BTreeMap<String, ImageRefs>> {
        let mut out: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
        for (r, id) in self.image_refs()? {
            let Ok(parsed) = Reference::parse_normalized(&r) else {
                continue;
            };
            let e = out.entry(id).or_default();
            if parsed.digest().is_some() {
                e.1.push(parsed.familiar_string());
            } else {
                e.0.push(parsed.familiar_string());
            }
        }
        Ok(out)
    }

    fn image_size(&self, rec: &ImageRecord) -> Result<u64> {
        let mut size = 0;
        for l in &rec.layers {
            if let Some(lr) = self.store.get::<LayerRecord>(LAYERS, l)? {
                size += lr.size;
            }
        }
        Ok(size)
    }

    /// `GET /images/json`: image summaries, newest first.
    pub fn list_images(
        &self,
        filters: &ImageFilters,
        all: bool,
        api: (u32, u32),
    ) -> Result<Vec<Value>> {
        let records = self.image_records()?;
        let refs = self.refs_by_image()?;
        let parents: HashSet<String> = records.iter().filter_map(|r| r.parent.clone()).collect();
        let bound = |name: &Option<String>| -> Result<Option<i64>> {
            match name {
                Some(n) => {
                    let r = self.resolve_image(n)?;
                    Ok(Some(created_secs(&self.image_config(&r)?)))
                }
                None => Ok(None),
            }
        };
        let before = bound(&filters.before)?;
        let since = bound(&filters.since)?;
        let mut out = Vec::new();
        for rec in &records {
            let (tags, digests) = refs.get(&rec.id).cloned().unwrap_or_default();
            let cfg = self.image_config(rec)?;
            let created = created_secs(&cfg);
            let dangling = tags.is_empty();
            if !all && dangling && parents.contains(&rec.id) && filters.dangling.is_none() {
                continue;
            }
            if let Some(d) = filters.dangling {
                if d != dangling {
                    continue;
                }
            }
            if before.is_some_and(|b| created >= b) || since.is_some_and(|s| created <= s) {
                continue;
            }
            if filters.until.is_some_and(|u| created >= u) {
                continue;
            }
            let labels = config_labels(&cfg);
            if !filters.label.iter().all(|l| label_matches(&labels, l)) {
                continue;
            }
            if filters.label_not.iter().any(|l| label_matches(&labels, l)) {
                continue;
            }
            let mut shown_tags = tags.clone();
            if !filters.reference.is_empty() {
                shown_tags.retain(|t| {
                    filters.reference.iter().any(|p| {
                        let name = t.rsplit_once(':').map(|(n, _)| n).unwrap_or(t);
                        glob_match(p, t) || glob_match(p, name)
                    })
                });
                if shown_tags.is_empty() {
                    continue;
                }
            }
            let size = self.image_size(rec)?;
            let mut v = json!({
                "Id": rec.id,
                "ParentId": rec.parent.clone().unwrap_or_default(),
                "RepoTags": shown_tags,
                "RepoDigests": digests,
                "Created": created,
                "Size": size,
                "SharedSize": -1,
                "Labels": labels,
                "Containers": -1,
            });
            if api < (1, 44) {
                v["VirtualSize"] = json!(size);
            }
            out.push((created, v));
        }
        out.sort_by_key(|b| std::cmp::Reverse(b.0));
        Ok(out.into_iter().map(|(_, v)| v).collect())
    }

    /// `GET /images/{name}/json`: Docker's `ImageInspect`.
    pub fn inspect_image(&self, name: &str) -> Result<Value> {
        let rec = self.resolve_image(name)?;
        let cfg = self.image_config(&rec)?;
        let refs = self.refs_by_image()?;
        let (tags, digests) = refs.get(&rec.id).cloned().unwrap_or_default();
        let size = self.image_size(&rec)?;
        let dirs: Vec<String> = rec
            .layers
            .iter()
            .rev()
            .map(|l| self.layers.diff_dir(l).display().to_string())
            .collect();
        let graph = match dirs.split_first() {
            Some((top, lower)) if !lower.is_empty() => json!({
                "Name": "overlay2",
                "Data": {
                    "LowerDir": lower.join(":"),
                    "MergedDir": top.replace("/diff", "/merged"),
                    "UpperDir": top,
                    "WorkDir": top.replace("/diff", "/work"),
                }
            }),
            Some((top, _)) => json!({
                "Name": "overlay2",
                "Data": {
                    "MergedDir": top.replace("/diff", "/merged"),
                    "UpperDir": top,
                    "WorkDir": top.replace("/diff", "/work"),
                }
            }),
            None => json!({"Name": "overlay2", "Data": null}),
        };
        Ok(json!({
            "Id": rec.id,
            "RepoTags": tags,
            "RepoDigests": digests,
            "Parent": rec.parent.clone().unwrap_or_default(),
            "Comment": cfg.comment.clone().unwrap_or_default(),
            "Created": cfg.created.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
            "DockerVersion": cfg.extra.get("docker_version").and_then(|v| v.as_str()).unwrap_or(""),
            "Author": cfg.author.clone().unwrap_or_default(),
            "Config": full_config(cfg.config.as_ref()),
            "Architecture": cfg.architecture,
            "Variant": cfg.variant,
            "Os": cfg.os,
            "Size": size,
            "VirtualSize": size,
            "GraphDriver": graph,
            "RootFS": {"Type": "layers", "Layers": cfg.rootfs.diff_ids},
            "Metadata": {"LastTagTime": rec.last_tag_time.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into())},
        }))
    }

    /// `GET /images/{name}/history`: newest step first.
    pub fn image_history(&self, name: &str) -> Result<Vec<Value>> {
        let rec = self.resolve_image(name)?;
        let cfg = self.image_config(&rec)?;
        let refs = self.refs_by_image()?;
        let tags = refs.get(&rec.id).map(|t| t.0.clone()).unwrap_or_default();
        let mut layer_sizes = Vec::new();
        for l in &rec.layers {
            layer_sizes.push(
                self.store
                    .get::<LayerRecord>(LAYERS, l)?
                    .map(|r| r.size)
                    .unwrap_or(0),
            );
        }
        let mut out = Vec::new();
        let mut li = 0;
        let history = if cfg.history.is_empty() {
            rec.layers.iter().map(|_| Default::default()).collect()
        } else {
            cfg.history.clone()
        };
        let n = history.len();
        for (i, h) in history.iter().enumerate() {
            let size = if h.empty_layer {
                0
            } else {
                let s = layer_sizes.get(li).copied().unwrap_or(0);
                li += 1;
                s
            };
            let created = h
                .created
                .as_deref()
                .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                .map(|t| t.timestamp())
                .unwrap_or(0);
            let top = i + 1 == n;
            out.push(json!({
                "Id": if top { rec.id.clone() } else { "<missing>".to_string() },
                "Created": created,
                "CreatedBy": h.created_by.clone().unwrap_or_default(),
                "Tags": if top { json!(tags) } else { Value::Null },
                "Size": size,
                "Comment": h.comment.clone().unwrap_or_default(),
            }));
        }
        out.reverse();
        Ok(out)
    }

    /// `POST /images/{name}/tag`.
    pub fn tag_image(&self, source: &str, repo: &str, tag: &str) -> Result<()> {
        let rec = self.resolve_image(source)?;
        let target = target_reference(repo, tag)?;
        let _g = self.image_lock.lock();
        self.store
            .write(|tx| -> Result<()> { self.set_ref(tx, &target, &rec.id) })?;
        self.events.publish(
            "image",
            "tag",
            &rec.id,
            attrs([("name", target.familiar_string())]),
        );
        Ok(())
    }

    /// Points `r` at image `id` inside a transaction, updating the image's
    /// last tag time.
    pub(crate) fn set_ref(&self, tx: &mut Txn, r: &Reference, id: &str) -> Result<()> {
        tx.put(REFS, &r.to_string(), &id.to_string())?;
        if r.digest().is_none() {
            if let Some(mut rec) = tx.get::<ImageRecord>(IMAGES, id)? {
                rec.last_tag_time = Some(now_rfc3339());
                tx.put(IMAGES, id, &rec)?;
            }
        }
        Ok(())
    }

    /// Which container (if any) uses an image, and whether it runs.
    fn image_user(&self, id: &str) -> Result<Option<(String, bool)>> {
        self.container_using_image(id)
    }

    /// `DELETE /images/{name}`: untags, and deletes the image when its last
    /// reference goes (Docker's rules, lab 3 of the seminar).
    pub fn remove_image(&self, name: &str, force: bool, prune: bool) -> Result<Vec<DeleteItem>> {
        let rec = self.resolve_image(name)?;
        let _g = self.image_lock.lock();
        let all_refs: Vec<(String, String)> = self
            .image_refs()?
            .into_iter()
            .filter(|(_, id)| *id == rec.id)
            .collect();
        let tags: Vec<&String> = all_refs
            .iter()
            .map(|(r, _)| r)
            .filter(|r| !r.contains('@'))
            .collect();
        // Was a reference named (rather than an ID)?
        let named = Reference::parse_with_default_tag(name)
            .ok()
            .map(|r| r.to_string())
            .filter(|r| all_refs.iter().any(|(x, _)| x == r));
        let mut items = Vec::new();
        let mut untag: Vec<String> = Vec::new();
        let delete_image;
        if let Some(r) = &named {
            if let Some((user, _)) = self.image_user(&rec.id)? {
                if !force && tags.len() <= 1 {
                    return Err(EngineError::conflict(format!(
                        "conflict: unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image {}",
                        short(&user),
                        short(&rec.id)
                    )));
                }
            }
            untag.push(r.clone());
            let remaining = tags.iter().filter(|t| **t != r).count();
            delete_image = remaining == 0;
            if delete_image {
                // The image's digest references go with its last tag.
                untag.extend(all_refs.iter().map(|(x, _)| x.clone()).filter(|x| x != r));
            }
        } else {
            if tags.len() > 1 && !force {
                return Err(EngineError::conflict(format!(
                    "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                    short(&rec.id)
                )));
            }
            if let Some((user, running)) = self.image_user(&rec.id)? {
                if running {
                    return Err(EngineError::conflict(format!(
                        "conflict: unable to delete {} (cannot be forced) - image is being used by running container {}",
                        short(&rec.id),
                        short(&user)
                    )));
                }
                if !force {
                    return Err(EngineError::conflict(format!(
                        "conflict: unable to delete {} (must be forced) - image is being used by stopped container {}",
                        short(&rec.id),
                        short(&user)
                    )));
                }
            }
            untag.extend(all_refs.iter().map(|(x, _)| x.clone()));
            delete_image = true;
        }
        let has_children = self
            .image_records()?
            .iter()
            .any(|r| r.parent.as_deref() == Some(rec.id.as_str()));
        if delete_image && has_children && named.is_none() {
            return Err(EngineError::conflict(format!(
                "conflict: unable to delete {} (cannot be forced) - image has dependent child images",
                short(&rec.id)
            )));
        }
        // A container's root filesystem needs the image's layers: the image
        // stays (untagged) while any container uses it.
        let used = self.image_user(&rec.id)?.is_some();
        let delete_image = delete_image && !has_children && !used;
        let removed_layers = self.store.write(|tx| -> Result<Vec<LayerRecord>> {
            for r in &untag {
                tx.delete(REFS, r)?;
            }
            if !delete_image {
                return Ok(Vec::new());
            }
            tx.delete(IMAGES, &rec.id)?;
            self.unreferenced_layers(tx, &rec.layers)
        })?;
        for r in &untag {
            let shown = Reference::parse_normalized(r)
                .map(|x| x.familiar_string())
                .unwrap_or_else(|_| r.clone());
            self.events
                .publish("image", "untag", &rec.id, attrs([("name", shown.clone())]));
            items.push(DeleteItem::Untagged(shown));
        }
        if delete_image {
            if let Ok(d) = parse_digest(&rec.id) {
                let _ = self.blobs.delete(&d);
            }
            if let Some(m) = rec.manifest.as_deref().and_then(|m| parse_digest(m).ok()) {
                let _ = self.blobs.delete(&m);
            }
            self.events.publish(
                "image",
                "delete",
                &rec.id,
                attrs([("name", rec.id.clone())]),
            );
            items.push(DeleteItem::Deleted(rec.id.clone()));
            let chains = chain_ids(&rec.layers);
            for (l, chain) in rec.layers.iter().zip(chains).rev() {
                if let Some(lr) = removed_layers.iter().find(|x| &x.diff_id == l) {
                    self.layers.remove_files(lr);
                    items.push(DeleteItem::Deleted(chain));
                }
            }
        }
        let _ = prune;
        Ok(items)
    }

    /// Within a transaction that has just removed an image, deletes the
    /// records of those of `layers` that no other image uses and returns them.
    pub(crate) fn unreferenced_layers(
        &self,
        tx: &mut Txn,
        layers: &[String],
    ) -> Result<Vec<LayerRecord>> {
        let images: Vec<(String, ImageRecord)> = tx.list(IMAGES)?;
        let used: HashSet<&String> = images.iter().flat_map(|(_, r)| r.layers.iter()).collect();
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for l in layers {
            if used.contains(l) || !seen.insert(l.clone()) {
                continue;
            }
            if let Some(rec) = tx.get::<LayerRecord>(LAYERS, l)? {
                tx.delete(LAYERS, l)?;
                out.push(rec);
            }
        }
        Ok(out)
    }

    /// `POST /images/prune`: removes dangling images (all unused ones with
    /// `dangling=false`), returning the deleted items and bytes reclaimed.
    pub fn prune_images(&self, filters: &ImageFilters) -> Result<(Vec<DeleteItem>, u64)> {
        let all = filters.dangling == Some(false);
        let mut f = filters.clone();
        f.dangling = if all { None } else { Some(true) };
        let candidates = self.list_images(&f, true, (1, 47))?;
        let mut items = Vec::new();
        let mut reclaimed = 0u64;
        for c in candidates {
            let Some(id) = c["Id"].as_str() else { continue };
            if self.image_user(id)?.is_some() {
                continue;
            }
            let before = self.layer_bytes()?;
            match self.remove_image(id, true, true) {
                Ok(mut it) => {
                    reclaimed += before.saturating_sub(self.layer_bytes()?);
                    items.append(&mut it);
                }
                Err(e)
                    if e.kind == crate::ErrorKind::Conflict
                        || e.kind == crate::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        self.events.publish(
            "image",
            "prune",
            "",
            attrs([("reclaimed", reclaimed.to_string())]),
        );
        Ok((items, reclaimed))
    }

    /// Bytes of all stored layers.
    pub fn layer_bytes(&self) -> Result<u64> {
        Ok(self
            .store
            .list::<LayerRecord>(LAYERS)?
            .iter()
            .map(|(_, r)| r.size)
            .sum())
    }
}

/// The reference a tag, import or commit writes: `repo` (which may carry a
/// tag, never a digest) with `tag`, or `latest` when neither gives one.
pub(crate) fn target_reference(repo: &str, tag: &str) -> Result<Reference> {
    if repo.is_empty() {
        return Err(EngineError::invalid(
            "repository name must have at least one component",
        ));
    }
    let target = Reference::parse_normalized(repo)?;
    if target.digest().is_some() {
        return Err(EngineError::invalid(
            "refusing to create a tag with a digest reference",
        ));
    }
    if !tag.is_empty() {
        if target.tag().is_some() {
            return Err(EngineError::invalid(format!(
                "invalid reference format: {repo}:{tag} has two tags"
            )));
        }
        return Ok(target.with_tag(tag)?);
    }
    if target.tag().is_none() {
        return Ok(target.with_tag("latest")?);
    }
    Ok(target)
}

/// The first 12 hex characters of an ID.
pub fn short(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

fn config_labels(cfg: &ImageConfig) -> Value {
    cfg.config
        .as_ref()
        .and_then(|c| c.get("Labels"))
        .filter(|l| l.is_object())
        .cloned()
        .unwrap_or_else(|| json!({}))
}

fn label_matches(labels: &Value, filter: &str) -> bool {
    match filter.split_once('=') {
        Some((k, v)) => labels.get(k).and_then(|x| x.as_str()) == Some(v),
        None => labels.get(filter).is_some(),
    }
}

/// The image's run config with every field Docker shows, defaults filled in.
pub fn full_config(c: Option<&Value>) -> Value {
    let mut base = json!({
        "Hostname": "", "Domainname": "", "User": "",
        "AttachStdin": false, "AttachStdout": false, "AttachStderr": false,
        "Tty": false, "OpenStdin": false, "StdinOnce": false,
        "Env": null, "Cmd": null, "Image": "", "Volumes": null,
        "WorkingDir": "", "Entrypoint": null, "OnBuild": null, "Labels": null,
    });
    if let (Some(Value::Object(src)), Value::Object(dst)) = (c, &mut base) {
        for (k, v) in src {
            dst.insert(k.clone(), v.clone());
        }
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globbing() {
        assert!(glob_match("busy*", "busybox"));
        assert!(glob_match("busybox:*", "busybox:latest"));
        assert!(!glob_match("busy*", "library/busybox"));
        assert!(glob_match("*/busybox", "library/busybox"));
        assert!(glob_match("b?sybox", "busybox"));
        assert!(glob_match("[a-c]usybox", "busybox"));
        assert!(!glob_match("[^b]usybox", "busybox"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_go_duration("1h30m"), Some(5400));
        assert_eq!(parse_go_duration("10s"), Some(10));
        assert_eq!(parse_go_duration("x"), None);
        assert_eq!(parse_go_duration("10"), None);
    }

    #[test]
    fn filters_parse() {
        let (f, _) = ImageFilters::parse(
            Some(r#"{"dangling":["true"],"label":{"a=b":true}}"#),
            &["dangling", "label"],
        )
        .unwrap();
        assert_eq!(f.dangling, Some(true));
        assert_eq!(f.label, vec!["a=b"]);
        let e = ImageFilters::parse(Some(r#"{"nope":["1"]}"#), &["dangling"]).unwrap_err();
        assert_eq!(e.message, "invalid filter 'nope'");
        assert!(ImageFilters::parse(Some("{bad"), &[]).is_err());
    }
}
