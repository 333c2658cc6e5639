//! The registry's on-disk layout and its crash-safe primitives (blocking
//! file system calls; the HTTP layer runs them on the blocking pool).
//!
//! ```text
//! <root>/blobs/<alg>/<hex>                             content (blobs and manifests)
//! <root>/uploads/<uuid>/{info.json,data,state}         upload sessions (staging)
//! <root>/repositories/<name>/_layers/<alg>/<hex>       blob linked into the repository
//! <root>/repositories/<name>/_manifests/revisions/<alg>/<hex>   manifest in the repository (JSON meta)
//! <root>/repositories/<name>/_manifests/tags/<tag>     tag -> digest
//! <root>/repositories/<name>/_referrers/<alg>/<subject hex>/<alg>-<hex>  referrers descriptors
//! <root>/gc.lock                                       flock between pushes and gc's sweep
//! ```
//!
//! Repository path components cannot start with `_` (see
//! [`crate::names`]), so the `_layers`/`_manifests`/`_referrers` directories
//! never collide with nested repositories; temporary files start with `.`,
//! which tags cannot.
//!
//! Crash safety: blobs become visible only by `rename` of a fully written,
//! fsync'd, verified staging file; metadata files are written to a temporary
//! file, fsync'd and renamed, and new directories are fsync'd into their
//! parents. A crash leaves either the old state or the new one, plus at most
//! some staging data that garbage collection removes.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use berth_reference::Digest;
use serde::{Deserialize, Serialize};

use crate::error::RegistryError;
use crate::hash::Hasher;
use crate::manifest::Manifest;
use crate::names;

/// Adds the action and path to I/O errors.
pub(crate) trait Ctx<T> {
    fn ctx(self, action: &'static str, path: &Path) -> Result<T, RegistryError>;
}

impl<T> Ctx<T> for io::Result<T> {
    fn ctx(self, action: &'static str, path: &Path) -> Result<T, RegistryError> {
        self.map_err(|e| RegistryError::io(action, path, e))
    }
}

/// What is kept about a manifest in a repository.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionMeta {
    /// Media type the manifest is served with.
    pub media_type: String,
    /// Size of the manifest in bytes.
    pub size: u64,
    /// Digest of its `subject`, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// Saved information about an upload session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadInfo {
    /// Repository the upload belongs to.
    pub repo: String,
    /// Start time, seconds since the epoch.
    pub started: u64,
}

/// Why a manifest could not be stored.
#[derive(Debug)]
pub enum PutManifestError {
    /// Referenced blobs or child manifests are not in the repository.
    Missing(Vec<(String, &'static str)>),
    /// A descriptor's size differs from the stored blob's.
    SizeMismatch {
        /// Digest of the blob.
        digest: String,
        /// Size the manifest claims.
        declared: i64,
        /// Size of the stored blob.
        actual: u64,
    },
    /// Storage failed.
    Storage(RegistryError),
}

impl From<RegistryError> for PutManifestError {
    fn from(e: RegistryError) -> Self {
        PutManifestError::Storage(e)
    }
}

/// The storage directory.
#[derive(Debug, Clone)]
pub struct Storage {
    root: PathBuf,
}

/// An advisory lock on `gc.lock`, released on drop.
pub struct GcLock {
    _file: File,
}

impl Storage {
    /// Opens (creating if needed) the storage directory.
    pub fn open(root: &Path) -> Result<Storage, RegistryError> {
        let root = std::path::absolute(root).ctx("resolve storage directory", root)?;
        let s = Storage { root };
        for dir in [s.root.join("blobs"), s.uploads_dir(), s.repos_dir()] {
            ensure_dir(&dir).ctx("create directory", &dir)?;
        }
        Ok(s)
    }

    /// Opens an existing storage directory without creating anything (for
    /// garbage collection).
    pub fn open_existing(root: &Path) -> Result<Storage, RegistryError> {
        let root = &std::path::absolute(root).ctx("resolve storage directory", root)?;
        if !root.join("repositories").is_dir() && !root.join("blobs").is_dir() {
            return Err(RegistryError::Config(format!(
                "{} is not a registry storage directory (no blobs/ or repositories/ in it)",
                root.display()
            )));
        }
        Ok(Storage {
            root: root.to_path_buf(),
        })
    }

    /// The storage root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn uploads_dir(&self) -> PathBuf {
        self.root.join("uploads")
    }

    pub(crate) fn repos_dir(&self) -> PathBuf {
        self.root.join("repositories")
    }

    pub(crate) fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs")
    }

    /// Path of a blob's content.
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs").join(d.algorithm()).join(d.hex())
    }

    pub(crate) fn repo_dir(&self, repo: &str) -> PathBuf {
        self.repos_dir().join(repo)
    }

    fn layer_link(&self, repo: &str, d: &Digest) -> PathBuf {
        self.repo_dir(repo)
            .join("_layers")
            .join(d.algorithm())
            .join(d.hex())
    }

    fn revision_path(&self, repo: &str, d: &Digest) -> PathBuf {
        self.repo_dir(repo)
            .join("_manifests/revisions")
            .join(d.algorithm())
            .join(d.hex())
    }

    fn tags_dir(&self, repo: &str) -> PathBuf {
        self.repo_dir(repo).join("_manifests/tags")
    }

    fn referrers_dir(&self, repo: &str, subject: &Digest) -> PathBuf {
        self.repo_dir(repo)
            .join("_referrers")
            .join(subject.algorithm())
            .join(subject.hex())
    }

    fn upload_dir(&self, id: &str) -> PathBuf {
        self.uploads_dir().join(id)
    }

    /// Path of an upload's staged data.
    pub fn upload_data(&self, id: &str) -> PathBuf {
        self.upload_dir(id).join("data")
    }

    /// Takes the garbage collection lock: shared for pushes (many at once),
    /// exclusive for gc's sweep. Blocks until granted.
    pub fn gc_lock(&self, exclusive: bool) -> Result<GcLock, RegistryError> {
        let path = self.root.join("gc.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .ctx("open lock file", &path)?;
        let op = if exclusive {
            rustix::fs::FlockOperation::LockExclusive
        } else {
            rustix::fs::FlockOperation::LockShared
        };
        rustix::fs::flock(&file, op)
            .map_err(io::Error::from)
            .ctx("lock", &path)?;
        Ok(GcLock { _file: file })
    }

    // ---- blobs -------------------------------------------------------------

    /// Size of a blob if it is linked into `repo` and its content exists.
    pub fn blob_in_repo(&self, repo: &str, d: &Digest) -> Result<Option<u64>, RegistryError> {
        let link = self.layer_link(repo, d);
        if !exists(&link).ctx("check blob link", &link)? {
            return Ok(None);
        }
        self.blob_size(d)
    }

    /// Size of a stored blob, if present.
    pub fn blob_size(&self, d: &Digest) -> Result<Option<u64>, RegistryError> {
        let path = self.blob_path(d);
        match fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(RegistryError::io("stat blob", &path, e)),
        }
    }

    /// Links an existing blob into `repo` (refreshing its time so a running
    /// gc keeps it). Returns its size, or `None` when the blob is absent.
    /// Call with the gc lock held (shared).
    pub fn link_blob(&self, repo: &str, d: &Digest) -> Result<Option<u64>, RegistryError> {
        let Some(size) = self.blob_size(d)? else {
            return Ok(None);
        };
        touch(&self.blob_path(d));
        let link = self.layer_link(repo, d);
        create_marker(&link).ctx("link blob into repository", &link)?;
        Ok(Some(size))
    }

    /// Moves verified staged content into place as blob `d` and links it
    /// into `repo`. The staged file is fsync'd first; when the blob already
    /// exists the staged copy is dropped. Returns the blob's size.
    pub fn commit_blob(&self, staged: &Path, d: &Digest, repo: &str) -> Result<u64, RegistryError> {
        File::open(staged)
            .and_then(|f| f.sync_all())
            .ctx("flush staged upload", staged)?;
        let _lock = self.gc_lock(false)?;
        let target = self.blob_path(d);
        if self.blob_size(d)?.is_some() {
            let _ = fs::remove_file(staged);
            touch(&target);
        } else {
            let parent = parent_of(&target);
            ensure_dir(parent).ctx("create directory", parent)?;
            fs::rename(staged, &target).ctx("move upload into the blob store", &target)?;
            sync_dir(parent).ctx("flush directory", parent)?;
        }
        let link = self.layer_link(repo, d);
        create_marker(&link).ctx("link blob into repository", &link)?;
        self.blob_size(d)?
            .ok_or_else(|| RegistryError::Corrupt(format!("blob {d} vanished after commit")))
    }

    /// Unlinks a blob from `repo`; `false` if it was not linked.
    pub fn unlink_blob(&self, repo: &str, d: &Digest) -> Result<bool, RegistryError> {
        let link = self.layer_link(repo, d);
        remove_if_exists(&link).ctx("unlink blob", &link)
    }

    // ---- uploads ----------------------------------------------------------

    /// Starts an upload session for `repo`; returns its id.
    pub fn create_upload(&self, repo: &str) -> Result<String, RegistryError> {
        let id = names::new_upload_id().ctx("make upload id", &self.uploads_dir())?;
        let dir = self.upload_dir(&id);
        fs::create_dir(&dir).ctx("create upload directory", &dir)?;
        let info = UploadInfo {
            repo: repo.to_owned(),
            started: now_secs(),
        };
        let info_path = dir.join("info.json");
        let bytes = serde_json::to_vec(&info).unwrap_or_default();
        fs::write(&info_path, bytes).ctx("write upload info", &info_path)?;
        let data = dir.join("data");
        File::create(&data).ctx("create upload data", &data)?;
        Ok(id)
    }

    /// The upload session `id` if it exists and belongs to `repo`.
    pub fn upload_info(&self, repo: &str, id: &str) -> Result<Option<UploadInfo>, RegistryError> {
        if !names::is_valid_upload_id(id) {
            return Ok(None);
        }
        let path = self.upload_dir(id).join("info.json");
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(RegistryError::io("read upload info", &path, e)),
        };
        let Ok(info) = serde_json::from_slice::<UploadInfo>(&bytes) else {
            return Ok(None);
        };
        // Without its data (moved into the blob store by a commit that a
        // crash interrupted) the session is over.
        if info.repo != repo || !self.upload_data(id).is_file() {
            return Ok(None);
        }
        Ok(Some(info))
    }

    /// The committed size of an upload and its saved hash state. Data past
    /// the saved size (a write that was cut off) is truncated away; without
    /// a usable saved state the hash is `None` and must be recomputed.
    pub fn upload_state(&self, id: &str) -> Result<(u64, Option<Hasher>), RegistryError> {
        let data = self.upload_data(id);
        let len = fs::metadata(&data).ctx("stat upload data", &data)?.len();
        let state_path = self.upload_dir(id).join("state");
        let saved = match fs::read_to_string(&state_path) {
            Ok(s) => Some(s),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(RegistryError::io("read upload state", &state_path, e)),
        };
        let parsed = saved.as_deref().and_then(|s| {
            let (size, hash) = s.trim().split_once('\n')?;
            Some((size.parse::<u64>().ok()?, Hasher::restore(hash)?))
        });
        match parsed {
            Some((size, hasher)) if size <= len => {
                if size < len {
                    OpenOptions::new()
                        .write(true)
                        .open(&data)
                        .and_then(|f| f.set_len(size))
                        .ctx("truncate upload data", &data)?;
                }
                Ok((size, Some(hasher)))
            }
            _ if len == 0 => Ok((0, Hasher::new("sha256"))),
            _ => Ok((len, None)),
        }
    }

    /// Records the committed size and hash state of an upload.
    pub fn save_upload_state(
        &self,
        id: &str,
        size: u64,
        hasher: Option<&Hasher>,
    ) -> Result<(), RegistryError> {
        let path = self.upload_dir(id).join("state");
        match hasher {
            Some(h) => {
                let text = format!("{size}\n{}\n", h.save());
                atomic_write(&path, text.as_bytes(), false).ctx("save upload state", &path)
            }
            None => remove_if_exists(&path)
                .map(|_| ())
                .ctx("remove upload state", &path),
        }
    }

    /// Truncates an upload's data back to `size` (after a refused chunk).
    pub fn truncate_upload(&self, id: &str, size: u64) -> Result<(), RegistryError> {
        let data = self.upload_data(id);
        OpenOptions::new()
            .write(true)
            .open(&data)
            .and_then(|f| f.set_len(size))
            .ctx("truncate upload data", &data)
    }

    /// Removes an upload session; `false` if it did not exist.
    pub fn remove_upload(&self, id: &str) -> Result<bool, RegistryError> {
        if !names::is_valid_upload_id(id) {
            return Ok(false);
        }
        let dir = self.upload_dir(id);
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(RegistryError::io("remove upload", &dir, e)),
        }
    }

    // ---- manifests ----------------------------------------------------------

    /// Stores a manifest in `repo`, after checking (with the gc lock held)
    /// that everything it references is there, and points `tags` at it.
    pub fn put_manifest(
        &self,
        repo: &str,
        digest: &Digest,
        body: &[u8],
        manifest: &Manifest,
        tags: &[String],
    ) -> Result<(), PutManifestError> {
        let _lock = self.gc_lock(false)?;
        let mut missing = Vec::new();
        for (d, declared) in &manifest.blobs {
            match self.blob_in_repo(repo, d)? {
                None => missing.push((d.to_string(), "blob")),
                Some(actual) => {
                    if u64::try_from(*declared).ok() != Some(actual) {
                        return Err(PutManifestError::SizeMismatch {
                            digest: d.to_string(),
                            declared: *declared,
                            actual,
                        });
                    }
                    touch(&self.blob_path(d));
                }
            }
        }
        for d in &manifest.children {
            if self.revision(repo, d)?.is_none() || self.blob_size(d)?.is_none() {
                missing.push((d.to_string(), "manifest"));
            } else {
                touch(&self.blob_path(d));
            }
        }
        if !missing.is_empty() {
            return Err(PutManifestError::Missing(missing));
        }
        // The manifest's own bytes, content-addressed.
        let blob = self.blob_path(digest);
        if self.blob_size(digest)?.is_some() {
            touch(&blob);
        } else {
            atomic_write(&blob, body, true).ctx("store manifest", &blob)?;
        }
        let meta = RevisionMeta {
            media_type: manifest.media_type.clone(),
            size: body.len() as u64,
            subject: manifest.subject.as_ref().map(|d| d.to_string()),
        };
        if let Some(subject) = &manifest.subject {
            let mut desc = serde_json::Map::new();
            desc.insert("mediaType".into(), manifest.media_type.clone().into());
            desc.insert("size".into(), (body.len() as u64).into());
            desc.insert("digest".into(), digest.to_string().into());
            if let Some(at) = &manifest.artifact_type {
                desc.insert("artifactType".into(), at.clone().into());
            }
            if let Some(a) = &manifest.annotations {
                desc.insert(
                    "annotations".into(),
                    serde_json::to_value(a).unwrap_or_default(),
                );
            }
            let path = self.referrers_dir(repo, subject).join(format!(
                "{}-{}",
                digest.algorithm(),
                digest.hex()
            ));
            let bytes = serde_json::to_vec(&desc).unwrap_or_default();
            atomic_write(&path, &bytes, true).ctx("record referrer", &path)?;
        }
        let rev = self.revision_path(repo, digest);
        let bytes = serde_json::to_vec(&meta).unwrap_or_default();
        atomic_write(&rev, &bytes, true).ctx("record manifest", &rev)?;
        for tag in tags {
            let path = self.tags_dir(repo).join(tag);
            atomic_write(&path, digest.to_string().as_bytes(), true).ctx("write tag", &path)?;
        }
        Ok(())
    }

    /// The metadata of manifest `d` in `repo`, if it is there.
    pub fn revision(&self, repo: &str, d: &Digest) -> Result<Option<RevisionMeta>, RegistryError> {
        let path = self.revision_path(repo, d);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(RegistryError::io("read manifest record", &path, e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| RegistryError::Corrupt(format!("{}: {e}", path.display())))
    }

    /// The digest a tag points to.
    pub fn tag(&self, repo: &str, tag: &str) -> Result<Option<Digest>, RegistryError> {
        let path = self.tags_dir(repo).join(tag);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(RegistryError::io("read tag", &path, e)),
        };
        Digest::parse(text.trim())
            .map(Some)
            .map_err(|e| RegistryError::Corrupt(format!("{}: {e}", path.display())))
    }

    /// Reads manifest `d` of `repo`: its metadata and bytes.
    pub fn manifest(
        &self,
        repo: &str,
        d: &Digest,
    ) -> Result<Option<(RevisionMeta, Vec<u8>)>, RegistryError> {
        let Some(meta) = self.revision(repo, d)? else {
            return Ok(None);
        };
        let path = self.blob_path(d);
        match fs::read(&path) {
            Ok(b) => Ok(Some((meta, b))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(RegistryError::io("read manifest", &path, e)),
        }
    }

    /// Deletes manifest `d` from `repo` with the tags pointing to it and its
    /// referrers entry; `false` if it was not there.
    pub fn delete_manifest(&self, repo: &str, d: &Digest) -> Result<bool, RegistryError> {
        let Some(meta) = self.revision(repo, d)? else {
            return Ok(false);
        };
        let digest_text = d.to_string();
        for tag in self.tags(repo)? {
            if self
                .tag(repo, &tag)?
                .is_some_and(|t| t.to_string() == digest_text)
            {
                let path = self.tags_dir(repo).join(&tag);
                remove_if_exists(&path).ctx("remove tag", &path)?;
            }
        }
        let rev = self.revision_path(repo, d);
        remove_if_exists(&rev).ctx("remove manifest record", &rev)?;
        if let Some(subject) = meta.subject.as_deref().and_then(|s| Digest::parse(s).ok()) {
            let path =
                self.referrers_dir(repo, &subject)
                    .join(format!("{}-{}", d.algorithm(), d.hex()));
            remove_if_exists(&path).ctx("remove referrer", &path)?;
        }
        Ok(true)
    }

    /// Deletes a tag; `false` if it did not exist.
    pub fn delete_tag(&self, repo: &str, tag: &str) -> Result<bool, RegistryError> {
        let path = self.tags_dir(repo).join(tag);
        remove_if_exists(&path).ctx("remove tag", &path)
    }

    /// The tags of `repo`, sorted.
    pub fn tags(&self, repo: &str) -> Result<Vec<String>, RegistryError> {
        let dir = self.tags_dir(repo);
        let mut out = Vec::new();
        for name in list_dir(&dir).ctx("list tags", &dir)? {
            if names::is_valid_tag(&name) {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Every manifest digest of `repo` with its metadata.
    pub fn revisions(&self, repo: &str) -> Result<BTreeMap<String, RevisionMeta>, RegistryError> {
        let base = self.repo_dir(repo).join("_manifests/revisions");
        let mut out = BTreeMap::new();
        for alg in list_dir(&base).ctx("list manifests", &base)? {
            let dir = base.join(&alg);
            for hex in list_dir(&dir).ctx("list manifests", &dir)? {
                let Ok(d) = Digest::parse(&format!("{alg}:{hex}")) else {
                    continue;
                };
                if let Some(meta) = self.revision(repo, &d)? {
                    out.insert(d.to_string(), meta);
                }
            }
        }
        Ok(out)
    }

    /// Whether `repo` exists (something was ever pushed to it).
    pub fn repo_exists(&self, repo: &str) -> bool {
        let dir = self.repo_dir(repo);
        dir.join("_manifests").is_dir() || dir.join("_layers").is_dir()
    }

    /// All repositories, sorted.
    pub fn repositories(&self) -> Result<Vec<String>, RegistryError> {
        let mut out = Vec::new();
        let base = self.repos_dir();
        let mut stack = vec![(base.clone(), String::new())];
        while let Some((dir, prefix)) = stack.pop() {
            let entries = list_dir(&dir).ctx("list repositories", &dir)?;
            let mut is_repo = false;
            for name in entries {
                if name == "_manifests" || name == "_layers" {
                    is_repo = true;
                    continue;
                }
                if name.starts_with('_') || name.starts_with('.') {
                    continue;
                }
                let path = dir.join(&name);
                if path.is_dir() {
                    let full = if prefix.is_empty() {
                        name
                    } else {
                        format!("{prefix}/{name}")
                    };
                    stack.push((path, full));
                }
            }
            if is_repo && !prefix.is_empty() && names::validate_name(&prefix).is_ok() {
                out.push(prefix);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Descriptors of the manifests in `repo` whose subject is `subject`.
    pub fn referrers(
        &self,
        repo: &str,
        subject: &Digest,
    ) -> Result<Vec<serde_json::Value>, RegistryError> {
        let dir = self.referrers_dir(repo, subject);
        let mut out = Vec::new();
        for name in list_dir(&dir).ctx("list referrers", &dir)? {
            if name.starts_with('.') {
                continue;
            }
            let Some((alg, hex)) = name.split_once('-') else {
                continue;
            };
            let Ok(d) = Digest::parse(&format!("{alg}:{hex}")) else {
                continue;
            };
            // A referrer whose manifest is gone (deleted, or a crash between
            // the two removals) is not listed.
            if self.revision(repo, &d)?.is_none() {
                continue;
            }
            let path = dir.join(&name);
            let bytes = match fs::read(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(RegistryError::io("read referrer", &path, e)),
            };
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                out.push(v);
            }
        }
        out.sort_by(|a, b| a["digest"].as_str().cmp(&b["digest"].as_str()));
        Ok(out)
    }
}

// ---- helpers ----------------------------------------------------------------

/// Seconds since the epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn parent_of(p: &Path) -> &Path {
    match p.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        Some(_) => Path::new("."),
        None => Path::new("/"),
    }
}

fn exists(p: &Path) -> io::Result<bool> {
    match fs::symlink_metadata(p) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Sets a file's modification time to now (best effort: gc's grace period
/// relies on it, a failure only makes a blob look older).
pub(crate) fn touch(p: &Path) {
    if let Ok(f) = File::open(p) {
        let _ = f.set_modified(SystemTime::now());
    }
}

/// Lists the names in a directory; a missing directory is empty.
pub(crate) fn list_dir(dir: &Path) -> io::Result<Vec<String>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in rd {
        if let Ok(name) = entry?.file_name().into_string() {
            out.push(name);
        }
    }
    Ok(out)
}

pub(crate) fn remove_if_exists(p: &Path) -> io::Result<bool> {
    match fs::remove_file(p) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// fsyncs a directory so entries created or renamed in it survive a crash.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates a directory and its missing parents, fsyncing each new entry
/// into its parent.
pub(crate) fn ensure_dir(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        ensure_dir(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(()),
        Err(e) => return Err(e),
    }
    sync_dir(parent_of(dir))
}

/// Creates an empty marker file (and its directory) durably, if missing.
fn create_marker(p: &Path) -> io::Result<()> {
    if exists(p)? {
        return Ok(());
    }
    let parent = parent_of(p);
    ensure_dir(parent)?;
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(p)?;
    sync_dir(parent)
}

/// Writes a file atomically: temporary file in the same directory, (fsync),
/// rename, (fsync of the directory).
pub(crate) fn atomic_write(p: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    let parent = parent_of(p);
    ensure_dir(parent)?;
    let mut rnd = [0u8; 8];
    getrandom::fill(&mut rnd).map_err(|e| io::Error::other(format!("random: {e}")))?;
    let tmp = parent.join(format!(".tmp-{}", hex::encode(rnd)));
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        if durable {
            f.sync_all()?;
        }
        fs::rename(&tmp, p)?;
        if durable {
            sync_dir(parent)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher_of(data: &[u8]) -> Hasher {
        let mut h = Hasher::new("sha256").unwrap();
        h.update(data);
        h
    }

    #[test]
    fn upload_state_recovers_from_cut_writes() {
        let dir = tempfile::tempdir().unwrap();
        let s = Storage::open(dir.path()).unwrap();
        let id = s.create_upload("repo").unwrap();
        assert!(s.upload_info("repo", &id).unwrap().is_some());
        assert!(s.upload_info("other", &id).unwrap().is_none());
        // 5 bytes committed, then a write of 3 more was cut before the
        // state was saved: the extra bytes are dropped.
        fs::write(s.upload_data(&id), b"hello123").unwrap();
        s.save_upload_state(&id, 5, Some(&hasher_of(b"hello")))
            .unwrap();
        let (size, h) = s.upload_state(&id).unwrap();
        assert_eq!(size, 5);
        assert_eq!(fs::read(s.upload_data(&id)).unwrap(), b"hello");
        assert_eq!(h.unwrap().finish(), hasher_of(b"hello").finish());
        // The state claims more than the data holds: no hash, size from disk.
        s.save_upload_state(&id, 50, Some(&hasher_of(b"hello")))
            .unwrap();
        let (size, h) = s.upload_state(&id).unwrap();
        assert_eq!(size, 5);
        assert!(h.is_none());
        // Data gone (a commit moved it, then a crash): the session is over.
        fs::remove_file(s.upload_data(&id)).unwrap();
        assert!(s.upload_info("repo", &id).unwrap().is_none());
        assert!(s.remove_upload(&id).unwrap());
        assert!(!s.remove_upload("../../etc").unwrap());
    }

    #[test]
    fn commit_dedups_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let s = Storage::open(dir.path()).unwrap();
        let d = crate::hash::digest_bytes("sha256", b"blob").unwrap();
        for repo in ["a", "b"] {
            let id = s.create_upload(repo).unwrap();
            fs::write(s.upload_data(&id), b"blob").unwrap();
            assert_eq!(s.commit_blob(&s.upload_data(&id), &d, repo).unwrap(), 4);
            s.remove_upload(&id).unwrap();
            assert_eq!(s.blob_in_repo(repo, &d).unwrap(), Some(4));
        }
        assert_eq!(s.blob_in_repo("c", &d).unwrap(), None);
        assert!(s.unlink_blob("a", &d).unwrap());
        assert_eq!(s.blob_in_repo("a", &d).unwrap(), None);
        assert_eq!(s.blob_in_repo("b", &d).unwrap(), Some(4));
        assert_eq!(s.repositories().unwrap(), ["a", "b"]);
        // No temporary files left anywhere.
        let mut stack = vec![dir.path().to_path_buf()];
        while let Some(p) = stack.pop() {
            for e in fs::read_dir(&p).unwrap().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                assert!(!name.starts_with(".tmp-"), "{}", e.path().display());
                if e.path().is_dir() {
                    stack.push(e.path());
                }
            }
        }
    }
}
