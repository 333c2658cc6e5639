//! File-system work of the builder, always relative to a root that plays
//! `/`: resolving paths with symlinks kept inside the root (Docker's
//! `FollowSymlinkInScope`), creating directories with an owner, copying
//! trees without following links, extracting tar archives safely, and
//! hashing file content (with a process-wide cache keyed by the file's
//! identity, so an unchanged build context is not read again).

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use sha2::{Digest as _, Sha256};

/// Splits a path into its non-empty components.
fn comps(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(String::from)
        .collect()
}

/// Resolves `path` inside `root` as if `root` were `/`: every symlink is
/// followed (an absolute target restarts at `root`, `..` stops at it).
/// Returns the resolved path relative to `root` (`""` for the root), or
/// `None` when something on the way does not exist.
pub fn resolve_in_root(root: &Path, path: &str) -> io::Result<Option<String>> {
    let mut todo: Vec<String> = comps(path).into_iter().rev().collect();
    let mut done: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            done.pop();
            continue;
        }
        let mut p = root.to_path_buf();
        p.extend(done.iter());
        p.push(&c);
        let meta = match fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => return Ok(None),
            Err(e) => return Err(e),
        };
        if meta.file_type().is_symlink() {
            links += 1;
            if links > 255 {
                return Err(io::Error::other(format!(
                    "too many levels of symbolic links in {path}"
                )));
            }
            let target = fs::read_link(&p)?.to_string_lossy().to_string();
            if target.starts_with('/') {
                done.clear();
            }
            for t in target.split('/').filter(|t| !t.is_empty()).rev() {
                todo.push(t.to_string());
            }
            continue;
        }
        if !meta.is_dir() && !todo.is_empty() {
            return Ok(None);
        }
        done.push(c);
    }
    Ok(Some(done.join("/")))
}

/// Creates directory `path` and its missing parents inside `root`
/// (symlinks resolved inside the root), owned by `owner` with `mode`.
/// Returns the resolved host path of the directory.
pub fn mkdir_all_in_root(
    root: &Path,
    path: &str,
    mode: u32,
    owner: Option<(u32, u32)>,
) -> io::Result<PathBuf> {
    let mut todo: Vec<String> = comps(path).into_iter().rev().collect();
    let mut done: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            done.pop();
            continue;
        }
        let mut p = root.to_path_buf();
        p.extend(done.iter());
        p.push(&c);
        match fs::symlink_metadata(&p) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > 255 {
                    return Err(io::Error::other(format!(
                        "too many levels of symbolic links in {path}"
                    )));
                }
                let target = fs::read_link(&p)?.to_string_lossy().to_string();
                if target.starts_with('/') {
                    done.clear();
                }
                for t in target.split('/').filter(|t| !t.is_empty()).rev() {
                    todo.push(t.to_string());
                }
                continue;
            }
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(io::Error::other(format!(
                    "cannot create directory /{}: a file of that name exists",
                    done.iter()
                        .chain([&c])
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("/")
                )))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&p)?;
                fs::set_permissions(&p, fs::Permissions::from_mode(mode))?;
                if let Some((u, g)) = owner {
                    std::os::unix::fs::lchown(&p, Some(u), Some(g))?;
                }
            }
            Err(e) => return Err(e),
        }
        done.push(c);
    }
    let mut p = root.to_path_buf();
    p.extend(done.iter());
    Ok(p)
}

/// Removes whatever is at `p` (a file, link or directory tree).
pub fn remove_any(p: &Path) -> io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => berth_snapshot::remove_tree(p),
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Sets the modification time of `p` without following a symlink.
pub fn set_mtime(p: &Path, secs: i64, nanos: i64) -> io::Result<()> {
    let ts = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: secs,
            tv_nsec: nanos as _,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: secs,
            tv_nsec: nanos as _,
        },
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        p,
        &ts,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(io::Error::from)
}

/// How copied files get their owner and mode.
#[derive(Debug, Clone, Default)]
pub struct CopyAttrs {
    /// Owner of everything copied (`None`: keep the source's).
    pub owner: Option<(u32, u32)>,
    /// `--chmod`.
    pub chmod: Option<berth_dockerfile::copy_rules::Chmod>,
}

impl CopyAttrs {
    fn apply(&self, p: &Path, src: &fs::Metadata) -> io::Result<()> {
        let (u, g) = self.owner.unwrap_or((src.uid(), src.gid()));
        std::os::unix::fs::lchown(p, Some(u), Some(g))?;
        if !src.file_type().is_symlink() {
            let mode = match &self.chmod {
                Some(c) => c.apply(src.mode()) & 0o7777,
                None => src.mode() & 0o7777,
            };
            fs::set_permissions(p, fs::Permissions::from_mode(mode))?;
        }
        set_mtime(p, src.mtime(), src.mtime_nsec())
    }
}

/// Copies `src` (file, symlink or directory, never followed) to `dst`. A
/// directory is merged into an existing directory at `dst`; anything else
/// at `dst` is replaced. `skip` tells which entries below a directory to
/// leave out (paths relative to `src`).
pub fn copy_tree(
    src: &Path,
    dst: &Path,
    attrs: &CopyAttrs,
    skip: &dyn Fn(&str, bool) -> bool,
) -> io::Result<()> {
    copy_rec(src, dst, "", attrs, skip)
}

fn copy_rec(
    src: &Path,
    dst: &Path,
    rel: &str,
    attrs: &CopyAttrs,
    skip: &dyn Fn(&str, bool) -> bool,
) -> io::Result<()> {
    let meta = fs::symlink_metadata(src)?;
    let ft = meta.file_type();
    if ft.is_dir() {
        match fs::symlink_metadata(dst) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                fs::remove_file(dst)?;
                fs::create_dir(dst)?;
            }
            Err(_) => fs::create_dir(dst)?,
        }
        let mut names: Vec<_> = fs::read_dir(src)?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort();
        for n in names {
            let name = n.to_string_lossy().to_string();
            let child_rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let child = src.join(&n);
            let is_dir = fs::symlink_metadata(&child)
                .map(|m| m.is_dir())
                .unwrap_or(false);
            if skip(&child_rel, is_dir) {
                continue;
            }
            copy_rec(&child, &dst.join(&n), &child_rel, attrs, skip)?;
        }
        return attrs.apply(dst, &meta);
    }
    if let Ok(m) = fs::symlink_metadata(dst) {
        if m.is_dir() {
            return Err(io::Error::other(format!(
                "cannot overwrite directory {} with non-directory",
                dst.display()
            )));
        }
        fs::remove_file(dst)?;
    }
    if ft.is_symlink() {
        let target = fs::read_link(src)?;
        std::os::unix::fs::symlink(&target, dst)?;
    } else if ft.is_file() {
        fs::copy(src, dst)?;
    } else {
        // Sockets, fifos and devices are not copied, as in Docker.
        return Ok(());
    }
    attrs.apply(dst, &meta)
}

/// What the hash cache remembers of a file.
#[derive(Clone, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileId {
    fn of(m: &fs::Metadata) -> Self {
        FileId {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

const HASH_CACHE_MAX: usize = 1 << 20;

fn hash_cache() -> &'static Mutex<HashMap<PathBuf, (FileId, String)>> {
    static C: OnceLock<Mutex<HashMap<PathBuf, (FileId, String)>>> = OnceLock::new();
    C.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The sha256 (hex) of a regular file's content. Files whose device,
/// inode, size, modification and change times are unchanged since they
/// were last hashed are not read again.
pub fn file_sha256(p: &Path, meta: &fs::Metadata) -> io::Result<String> {
    let id = FileId::of(meta);
    if let Ok(c) = hash_cache().lock() {
        if let Some((cid, h)) = c.get(p) {
            if *cid == id {
                return Ok(h.clone());
            }
        }
    }
    let mut f = fs::File::open(p)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let hex = hex::encode(h.finalize());
    if let Ok(mut c) = hash_cache().lock() {
        if c.len() >= HASH_CACHE_MAX {
            c.clear();
        }
        c.insert(p.to_path_buf(), (id, hex.clone()));
    }
    Ok(hex)
}

/// Records a hash computed while a file was written (tar extraction), so
/// that hashing it later needs no read.
pub fn remember_hash(p: &Path, hex: &str) {
    if let Ok(meta) = fs::symlink_metadata(p) {
        if let Ok(mut c) = hash_cache().lock() {
            if c.len() >= HASH_CACHE_MAX {
                c.clear();
            }
            c.insert(p.to_path_buf(), (FileId::of(&meta), hex.to_string()));
        }
    }
}

/// Forgets the hashes of files under `dir` (a temporary context that goes).
pub fn forget_hashes(dir: &Path) {
    if let Ok(mut c) = hash_cache().lock() {
        c.retain(|p, _| !p.starts_with(dir));
    }
}

/// A writer that hashes what goes through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// The hex digest and the writer.
    pub fn finish(self) -> (String, W) {
        (hex::encode(self.hasher.finalize()), self.inner)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(b)?;
        self.hasher.update(&b[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Options of [`extract_tar`].
pub struct ExtractOptions<'a> {
    /// Directory (inside `root`) the archive's entries go under.
    pub prefix: String,
    /// Keep the archive's owners (else `owner` or root).
    pub keep_owner: bool,
    /// Owner override (`ADD --chown`).
    pub owner: Option<(u32, u32)>,
    /// Called with each entry's cleaned path and whether it is a
    /// directory; false leaves the entry out.
    pub filter: &'a mut dyn FnMut(&str, bool) -> bool,
    /// Called for each regular file written: its cleaned path, host path
    /// and content hash.
    pub on_file: &'a mut dyn FnMut(&str, &Path, &str),
}

/// Cleans an archive entry name: `./a//b/` gives `a/b`; names that climb
/// out (`../x`) give `None`.
pub fn clean_entry_name(name: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    Some(out.join("/"))
}

/// Extracts a tar stream under `root/prefix`, never writing outside `root`
/// (parents are resolved inside it), hashing regular files as they are
/// written. Device nodes are skipped.
pub fn extract_tar(input: impl Read, root: &Path, opts: &mut ExtractOptions<'_>) -> io::Result<()> {
    let mut ar = tar::Archive::new(input);
    let mut dir_times: Vec<(PathBuf, i64)> = Vec::new();
    for entry in ar.entries()? {
        let mut entry = entry?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).to_string();
        let Some(name) = clean_entry_name(&raw) else {
            return Err(io::Error::other(format!(
                "archive entry {raw} points outside the destination"
            )));
        };
        if name.is_empty() {
            continue;
        }
        let kind = entry.header().entry_type();
        let is_dir = kind.is_dir();
        if !(opts.filter)(&name, is_dir) {
            continue;
        }
        let full_rel = if opts.prefix.is_empty() {
            name.clone()
        } else {
            format!("{}/{}", opts.prefix.trim_matches('/'), name)
        };
        let (parent, base) = match full_rel.rsplit_once('/') {
            Some((p, b)) => (p.to_string(), b.to_string()),
            None => (String::new(), full_rel.clone()),
        };
        let pdir = mkdir_all_in_root(root, &parent, 0o755, opts.owner)?;
        let dst = pdir.join(&base);
        let h = entry.header();
        let mode = h.mode().unwrap_or(0o644) & 0o7777;
        let mtime = h.mtime().unwrap_or(0) as i64;
        let (uid, gid) = if let Some(o) = opts.owner {
            o
        } else if opts.keep_owner {
            (h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32)
        } else {
            (0, 0)
        };
        match kind {
            tar::EntryType::Directory => {
                match fs::symlink_metadata(&dst) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        fs::remove_file(&dst)?;
                        fs::create_dir(&dst)?;
                    }
                    Err(_) => fs::create_dir(&dst)?,
                }
                fs::set_permissions(&dst, fs::Permissions::from_mode(mode))?;
                std::os::unix::fs::lchown(&dst, Some(uid), Some(gid))?;
                dir_times.push((dst, mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                remove_any(&dst)?;
                let f = fs::File::create(&dst)?;
                let mut w = HashingWriter::new(io::BufWriter::with_capacity(256 << 10, f));
                io::copy(&mut entry, &mut w)?;
                let (hex, bw) = w.finish();
                bw.into_inner().map_err(|e| e.into_error())?;
                fs::set_permissions(&dst, fs::Permissions::from_mode(mode))?;
                std::os::unix::fs::lchown(&dst, Some(uid), Some(gid))?;
                set_mtime(&dst, mtime, 0)?;
                (opts.on_file)(&name, &dst, &hex);
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()?
                    .map(|l| l.to_path_buf())
                    .unwrap_or_default();
                remove_any(&dst)?;
                std::os::unix::fs::symlink(&target, &dst)?;
                std::os::unix::fs::lchown(&dst, Some(uid), Some(gid))?;
                set_mtime(&dst, mtime, 0)?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name()?
                    .map(|l| l.to_string_lossy().to_string())
                    .unwrap_or_default();
                let Some(t) = clean_entry_name(&target) else {
                    return Err(io::Error::other(format!(
                        "archive link {raw} points outside the destination"
                    )));
                };
                let t_rel = if opts.prefix.is_empty() {
                    t
                } else {
                    format!("{}/{}", opts.prefix.trim_matches('/'), t)
                };
                let (tp, tb) = match t_rel.rsplit_once('/') {
                    Some((p, b)) => (p.to_string(), b.to_string()),
                    None => (String::new(), t_rel.clone()),
                };
                let Some(tparent) = resolve_in_root(root, &tp)? else {
                    return Err(io::Error::other(format!(
                        "archive link {raw}: its target {target} is not in the archive"
                    )));
                };
                let src = root.join(tparent).join(tb);
                remove_any(&dst)?;
                fs::hard_link(&src, &dst)?;
            }
            _ => {}
        }
    }
    for (p, t) in dir_times.into_iter().rev() {
        let _ = set_mtime(&p, t, 0);
    }
    Ok(())
}

/// The first bytes of a file, to tell archives from other files.
pub fn file_head(p: &Path, n: usize) -> io::Result<Vec<u8>> {
    let mut f = fs::File::open(p)?;
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        let r = f.read(&mut buf[got..])?;
        if r == 0 {
            break;
        }
        got += r;
    }
    buf.truncate(got);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names() {
        assert_eq!(clean_entry_name("./a//b/").as_deref(), Some("a/b"));
        assert_eq!(clean_entry_name("a/../b").as_deref(), Some("b"));
        assert_eq!(clean_entry_name("../x"), None);
        assert_eq!(
            clean_entry_name("/etc/passwd").as_deref(),
            Some("etc/passwd")
        );
    }

    #[test]
    fn resolution_stays_in_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        fs::create_dir_all(root.join("a/b")).unwrap();
        std::os::unix::fs::symlink("/a", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../..", root.join("a/up")).unwrap();
        fs::write(root.join("a/b/f"), "x").unwrap();
        assert_eq!(
            resolve_in_root(root, "abs/b/f").unwrap().as_deref(),
            Some("a/b/f")
        );
        assert_eq!(resolve_in_root(root, "a/up").unwrap().as_deref(), Some(""));
        assert_eq!(
            resolve_in_root(root, "a/up/a/b").unwrap().as_deref(),
            Some("a/b")
        );
        assert_eq!(resolve_in_root(root, "nope/x").unwrap(), None);
        let made = mkdir_all_in_root(root, "abs/new/deep", 0o750, None).unwrap();
        assert_eq!(made, root.join("a/new/deep"));
        assert!(root.join("a/new/deep").is_dir());
    }

    #[test]
    fn extraction_cannot_escape() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        fs::create_dir(&root).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, "evil", d.path()).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        b.append_data(&mut h, "evil/pwned", &b"hi"[..]).unwrap();
        let data = b.into_inner().unwrap();
        let mut filter = |_: &str, _: bool| true;
        let mut seen = Vec::new();
        let mut on_file = |n: &str, _: &Path, h: &str| seen.push((n.to_string(), h.to_string()));
        extract_tar(
            &data[..],
            &root,
            &mut ExtractOptions {
                prefix: String::new(),
                keep_owner: false,
                owner: None,
                filter: &mut filter,
                on_file: &mut on_file,
            },
        )
        .unwrap();
        assert!(!d.path().join("pwned").exists());
        let inside = root.join(d.path().strip_prefix("/").unwrap()).join("pwned");
        assert_eq!(fs::read(inside).unwrap(), b"hi");
        assert_eq!(seen[0].0, "evil/pwned");
    }
}
