//! Garbage collection, mark and sweep, safe while the server runs.
//!
//! Mark: every manifest of every repository (after optionally dropping
//! untagged ones) marks itself, its config, layers and child manifests.
//! Sweep: blobs not marked are deleted, together with the repository links
//! to them, except those modified within the grace period: blobs of pushes
//! in progress (uploaded, not yet referenced by a manifest) are recent, and
//! every push refreshes the time of the blobs its manifest references. The
//! sweep holds `gc.lock` exclusively while pushes take it shared around
//! their check-and-commit steps, so a manifest is never accepted against a
//! blob the sweep is deleting. Upload sessions untouched for longer than
//! `upload_max_age` are removed too (staging data is never a blob).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use berth_reference::Digest;

use crate::error::RegistryError;
use crate::manifest;
use crate::storage::{list_dir, remove_if_exists, Ctx, RevisionMeta, Storage};

/// Options of [`gc_with`].
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Report what would be deleted without deleting anything.
    pub dry_run: bool,
    /// Also delete manifests that no tag reaches (directly, as a child of a
    /// tagged index, or as a referrer of a kept manifest).
    pub delete_untagged: bool,
    /// Blobs and manifests modified more recently than this are kept even
    /// when unreferenced (pushes in progress).
    pub grace: Duration,
    /// Upload sessions idle for longer than this are removed.
    pub upload_max_age: Duration,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            dry_run: false,
            delete_untagged: false,
            grace: Duration::from_secs(60 * 60),
            upload_max_age: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// What a collection did (or, dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Digests of the blobs deleted.
    pub blobs_deleted: Vec<String>,
    /// Bytes those blobs held.
    pub bytes_freed: u64,
    /// Unreferenced blobs kept because they are recent.
    pub blobs_kept_recent: Vec<String>,
    /// Blobs referenced by some manifest.
    pub blobs_in_use: usize,
    /// Untagged manifests deleted, as (repository, digest).
    pub manifests_deleted: Vec<(String, String)>,
    /// Upload sessions removed.
    pub uploads_removed: Vec<String>,
}

/// Collects garbage in the registry at `root` with default options (one
/// hour of grace, untagged manifests kept).
pub fn gc(root: &Path, dry_run: bool) -> Result<GcReport, RegistryError> {
    gc_with(
        root,
        &GcOptions {
            dry_run,
            ..GcOptions::default()
        },
    )
}

/// Collects garbage with explicit options.
pub fn gc_with(root: &Path, opts: &GcOptions) -> Result<GcReport, RegistryError> {
    let storage = Storage::open_existing(root)?;
    let start = SystemTime::now();
    let cutoff = start
        .checked_sub(opts.grace)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut report = GcReport {
        dry_run: opts.dry_run,
        ..GcReport::default()
    };
    let mut marked: HashSet<String> = HashSet::new();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut refs_cache: HashMap<String, Vec<Digest>> = HashMap::new();

    for repo in storage.repositories()? {
        if opts.delete_untagged {
            // Under the lock: no tag can be pushed between the decision and
            // the deletion.
            let _lock = (!opts.dry_run).then(|| storage.gc_lock(true)).transpose()?;
            let revs = storage.revisions(&repo)?;
            for d in untagged(&storage, &repo, &revs, cutoff, &mut refs_cache)? {
                if !opts.dry_run {
                    storage.delete_manifest(&repo, &d)?;
                } else {
                    // A dry run still must not count the manifest as a root.
                    seen.insert((repo.clone(), d.to_string()));
                }
                report.manifests_deleted.push((repo.clone(), d.to_string()));
            }
        }
        mark_repo(&storage, &repo, &mut seen, &mut marked, &mut refs_cache)?;
    }

    // Sweep, excluding concurrent pushes from their check-and-commit steps.
    let _lock = if opts.dry_run {
        None
    } else {
        Some(storage.gc_lock(true)?)
    };
    // Manifests pushed while marking ran are marked now: with the lock held
    // none is half-written, and none can be added until the sweep is done.
    for repo in storage.repositories()? {
        mark_repo(&storage, &repo, &mut seen, &mut marked, &mut refs_cache)?;
    }
    let blobs = storage.blobs_dir();
    let mut deleted: HashSet<String> = HashSet::new();
    for alg in list_dir(&blobs).ctx("list blobs", &blobs)? {
        let dir = blobs.join(&alg);
        for name in list_dir(&dir).ctx("list blobs", &dir)? {
            let path = dir.join(&name);
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            let recent = meta.modified().map(|m| m > cutoff).unwrap_or(true);
            if name.starts_with(".tmp-") {
                // Left by an interrupted write.
                if !recent && !opts.dry_run {
                    let _ = fs::remove_file(&path);
                }
                continue;
            }
            let Ok(d) = Digest::parse(&format!("{alg}:{name}")) else {
                continue;
            };
            let key = d.to_string();
            if marked.contains(&key) {
                report.blobs_in_use += 1;
                continue;
            }
            if recent {
                report.blobs_kept_recent.push(key);
                continue;
            }
            if !opts.dry_run {
                remove_if_exists(&path).ctx("delete blob", &path)?;
            }
            report.bytes_freed += meta.len();
            deleted.insert(key.clone());
            report.blobs_deleted.push(key);
        }
    }
    if !opts.dry_run && !deleted.is_empty() {
        for repo in storage.repositories()? {
            let layers = storage.repo_dir(&repo).join("_layers");
            for alg in list_dir(&layers).ctx("list blob links", &layers)? {
                let dir = layers.join(&alg);
                for hex in list_dir(&dir).ctx("list blob links", &dir)? {
                    if deleted.contains(&format!("{alg}:{hex}")) {
                        let link = dir.join(&hex);
                        remove_if_exists(&link).ctx("remove blob link", &link)?;
                    }
                }
            }
        }
    }
    drop(_lock);

    // Stale upload sessions.
    let uploads = storage.uploads_dir();
    let upload_cutoff = start
        .checked_sub(opts.upload_max_age)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    for id in list_dir(&uploads).ctx("list uploads", &uploads)? {
        let dir = uploads.join(&id);
        let newest = ["data", "state", "info.json", ""]
            .iter()
            .filter_map(|f| fs::metadata(dir.join(f)).ok()?.modified().ok())
            .max();
        if newest.is_some_and(|t| t < upload_cutoff) {
            if !opts.dry_run {
                match fs::remove_dir_all(&dir) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(RegistryError::io("remove stale upload", &dir, e)),
                }
            }
            report.uploads_removed.push(id);
        }
    }
    report.blobs_deleted.sort();
    report.blobs_kept_recent.sort();
    Ok(report)
}

/// Marks the manifests of `repo` not yet `seen` and what they reference.
fn mark_repo(
    storage: &Storage,
    repo: &str,
    seen: &mut HashSet<(String, String)>,
    marked: &mut HashSet<String>,
    cache: &mut HashMap<String, Vec<Digest>>,
) -> Result<(), RegistryError> {
    for digest in storage.revisions(repo)?.into_keys() {
        if !seen.insert((repo.to_owned(), digest.clone())) {
            continue;
        }
        let Ok(d) = Digest::parse(&digest) else {
            continue;
        };
        for r in references(storage, &d, cache)? {
            marked.insert(r.to_string());
        }
        marked.insert(digest);
    }
    Ok(())
}

/// The digests a stored manifest references (cached per collection).
fn references(
    storage: &Storage,
    d: &Digest,
    cache: &mut HashMap<String, Vec<Digest>>,
) -> Result<Vec<Digest>, RegistryError> {
    if let Some(v) = cache.get(&d.to_string()) {
        return Ok(v.clone());
    }
    let path = storage.blob_path(d);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!("registry gc: manifest {d} has no content; skipping it");
            Vec::new()
        }
        Err(e) => return Err(RegistryError::io("read manifest", &path, e)),
    };
    let refs = if bytes.is_empty() {
        Vec::new()
    } else {
        // Refuse to guess: a manifest that cannot be read could reference
        // anything, so stop rather than delete what it may need.
        manifest::references(&bytes)
            .map_err(|e| {
                RegistryError::Corrupt(format!(
                    "manifest {d} cannot be parsed ({e}); gc stopped without deleting anything"
                ))
            })?
            .0
    };
    cache.insert(d.to_string(), refs.clone());
    Ok(refs)
}

/// Manifests of `repo` that no tag reaches and that are older than
/// `cutoff`.
fn untagged(
    storage: &Storage,
    repo: &str,
    revs: &BTreeMap<String, RevisionMeta>,
    cutoff: SystemTime,
    cache: &mut HashMap<String, Vec<Digest>>,
) -> Result<Vec<Digest>, RegistryError> {
    let mut kept: HashSet<String> = HashSet::new();
    let mut queue: VecDeque<String> = VecDeque::new();
    for tag in storage.tags(repo)? {
        if let Some(d) = storage.tag(repo, &tag)? {
            queue.push_back(d.to_string());
        }
    }
    // Recently pushed manifests (children pushed before their index,
    // referrers pushed before...) are kept.
    for digest in revs.keys() {
        let Ok(d) = Digest::parse(digest) else {
            continue;
        };
        if fs::metadata(storage.blob_path(&d))
            .and_then(|m| m.modified())
            .map(|m| m > cutoff)
            .unwrap_or(true)
        {
            queue.push_back(digest.clone());
        }
    }
    loop {
        while let Some(digest) = queue.pop_front() {
            if !revs.contains_key(&digest) || !kept.insert(digest.clone()) {
                continue;
            }
            let Ok(d) = Digest::parse(&digest) else {
                continue;
            };
            for child in references(storage, &d, cache)? {
                queue.push_back(child.to_string());
            }
        }
        // Referrers of kept manifests are kept too.
        for (digest, meta) in revs {
            if !kept.contains(digest) && meta.subject.as_ref().is_some_and(|s| kept.contains(s)) {
                queue.push_back(digest.clone());
            }
        }
        if queue.is_empty() {
            break;
        }
    }
    Ok(revs
        .keys()
        .filter(|d| !kept.contains(*d))
        .filter_map(|d| Digest::parse(d).ok())
        .collect())
}
