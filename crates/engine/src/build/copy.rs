//! `COPY` and `ADD`: sources from the context (`.dockerignore` applied,
//! never outside it), another stage or an image (`--from`), heredocs, and
//! for `ADD` local archives (extracted) and `http(s)://` URLs (downloaded);
//! Docker's destination rules (trailing `/`, existing directories, several
//! sources need a directory), `--chown` resolved in the image's own
//! `/etc/passwd` and `/etc/group`, `--chmod`, `--exclude`. Files are
//! written into a scratch overlay of the stage's image whose upper
//! directory becomes the step's layer. The cache key hashes the content
//! and metadata of every file read.

use std::fs;
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use berth_content::image::{looks_like_tar, Compression};
use berth_dockerfile::copy_rules::{
    check_multiple_sources, clean_context_path, contains_wildcards, file_destination, glob_match,
    resolve_dest, scoped_context_path, split_wildcards, Chmod, Chown,
};
use berth_dockerfile::dockerignore::PatternMatcher;
use berth_dockerfile::golang::{path_base, path_dir};
use berth_dockerfile::instructions::{Add, Copy, SourcesAndDest};
use berth_dockerfile::StageRef;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use super::fsutil::{self, CopyAttrs, ExtractOptions};
use super::{cache, Build, State};
use crate::error::{EngineError, Result};

/// The parts of `COPY`/`ADD` the copy needs.
pub(super) struct CopySpec<'a> {
    name: &'static str,
    paths: &'a SourcesAndDest,
    from: &'a str,
    chown: &'a str,
    chmod: &'a str,
    exclude: &'a [String],
    parents: bool,
    add: bool,
    unpack: Option<bool>,
    checksum: &'a str,
}

impl<'a> CopySpec<'a> {
    pub(super) fn from_copy(c: &'a Copy) -> Self {
        CopySpec {
            name: "COPY",
            paths: &c.paths,
            from: &c.from,
            chown: &c.chown,
            chmod: &c.chmod,
            exclude: &c.exclude,
            parents: c.parents,
            add: false,
            unpack: None,
            checksum: "",
        }
    }

    pub(super) fn from_add(a: &'a Add) -> Self {
        CopySpec {
            name: "ADD",
            paths: &a.paths,
            from: "",
            chown: &a.chown,
            chmod: &a.chmod,
            exclude: &a.exclude,
            parents: false,
            add: true,
            unpack: a.unpack,
            checksum: &a.checksum,
        }
    }
}

/// One source after wildcard expansion.
enum Src {
    /// A path of the context or of the `--from` image.
    Path {
        abs: PathBuf,
        /// Path relative to the source root (after following links).
        rel: String,
        /// The name it lands under (the source's own base name).
        name: String,
        is_dir: bool,
    },
    /// A downloaded file (`ADD http(s)://…`).
    Url {
        file: PathBuf,
        name: String,
        hash: String,
        /// From the answer's `Last-Modified`, when it had one.
        mtime: Option<SystemTime>,
    },
    /// A heredoc (`COPY <<EOF /x`).
    Inline { name: String, data: Vec<u8> },
}

/// A downloaded file, removed on drop.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

fn is_git(s: &str) -> bool {
    s.starts_with("git@") || s.starts_with("git://") || s.ends_with(".git") && is_url(s)
}

impl Build<'_> {
    /// The image a `--from` names: a stage (by name or index) or an image.
    fn copy_from(&self, st_idx: usize, from: &str) -> Result<(String, Vec<String>)> {
        let dep = self.graph.nodes[st_idx]
            .deps
            .iter()
            .find(|d| d.reference == from)
            .map(|d| d.target.clone());
        let target = match dep {
            Some(t) => t,
            None => match self.df.stage_by_name(from) {
                Some(s) => StageRef::Stage(s.index),
                None => StageRef::Image(from.to_string()),
            },
        };
        match target {
            StageRef::Stage(i) => {
                let r = self.stage_result(i)?;
                Ok((r.image_id, r.config.rootfs.diff_ids))
            }
            StageRef::Image(name) if name == "scratch" => Ok((String::new(), Vec::new())),
            StageRef::Image(name) => {
                let rec = self.base_image(&name)?;
                Ok((rec.id, rec.layers))
            }
        }
    }

    pub(super) fn copy_step(&self, idx: usize, st: &mut State, spec: CopySpec<'_>) -> Result<()> {
        let name = spec.name;
        let failed = |m: String| EngineError::invalid(format!("{name} failed: {m}"));
        if spec.parents {
            return Err(EngineError::invalid(format!(
                "{name} --parents is not supported by this builder: copy each path to its own destination"
            )));
        }
        let chmod = if spec.chmod.is_empty() {
            None
        } else {
            Some(Chmod::parse(spec.chmod).map_err(EngineError::invalid)?)
        };
        let exclude = if spec.exclude.is_empty() {
            None
        } else {
            Some(
                PatternMatcher::new(spec.exclude)
                    .map_err(|e| EngineError::invalid(format!("invalid --exclude pattern: {e}")))?,
            )
        };
        let from_context = spec.from.is_empty();
        let mut _view = None;
        let (src_root, from_id) = if from_context {
            (self.ctx.root().to_path_buf(), String::new())
        } else {
            let (id, layers) = self.copy_from(idx, spec.from)?;
            let v = self.engine.mount_scratch(&layers)?;
            let root = v.root();
            _view = Some(v);
            (root, id)
        };
        let skip_of = |rel: &str| {
            let ctx_skip = self.ctx.skipper(rel.to_string());
            let rel = rel.to_string();
            let exclude = exclude.clone();
            move |child: &str, is_dir: bool| {
                (from_context && ctx_skip(child, is_dir))
                    || exclude.as_ref().is_some_and(|m| {
                        m.matches_or_parent_matches(child)
                            || m.matches_or_parent_matches(&join(&rel, child))
                    })
            }
        };
        let mut srcs: Vec<Src> = Vec::new();
        let mut downloads: Vec<TempFile> = Vec::new();
        for s in &spec.paths.sources {
            if spec.add && is_git(s) {
                return Err(failed(format!(
                    "{s}: adding a git repository is not supported by this builder: clone it into the context"
                )));
            }
            if spec.add && is_url(s) {
                let (file, hash, mtime) = self.download(s, spec.checksum)?;
                let url_path = s.split(['?', '#']).next().unwrap_or(s);
                let after_host = url_path.splitn(4, '/').nth(3).unwrap_or("");
                let base = path_base(&format!("/{after_host}"));
                if base.is_empty() || base == "/" || base == "." {
                    return Err(failed(format!(
                        "cannot determine filename from url: {s}: add it to a path ending in a file name"
                    )));
                }
                srcs.push(Src::Url {
                    file: file.clone(),
                    name: base,
                    hash,
                    mtime,
                });
                downloads.push(TempFile(file));
                continue;
            }
            if spec.add && !spec.checksum.is_empty() {
                return Err(EngineError::invalid(
                    "checksum can't be specified for non-HTTP(S) sources",
                ));
            }
            let rel = if from_context {
                clean_context_path(s).map_err(failed)?
            } else {
                scoped_context_path(s)
            };
            if contains_wildcards(&rel) {
                let found = glob_sources(&src_root, &rel, &|p, d| {
                    (from_context && self.ctx.skipper(String::new())(p, d))
                        || exclude
                            .as_ref()
                            .is_some_and(|m| m.matches_or_parent_matches(p))
                })
                .map_err(|e| failed(e.to_string()))?;
                if found.is_empty() {
                    return Err(failed("no source files were specified".into()));
                }
                srcs.extend(found);
                continue;
            }
            let missing = || {
                if from_context {
                    failed(format!(
                        "file not found in build context or excluded by .dockerignore: stat {s}: file does not exist"
                    ))
                } else {
                    failed(format!("stat {s}: file does not exist in {}", spec.from))
                }
            };
            if from_context && self.ctx.excluded(&rel) {
                return Err(missing());
            }
            let resolved = fsutil::resolve_in_root(&src_root, &rel)
                .map_err(|e| failed(format!("{s}: {e}")))?
                .ok_or_else(missing)?;
            if from_context && self.ctx.excluded(&resolved) {
                return Err(missing());
            }
            let abs = if resolved.is_empty() {
                src_root.clone()
            } else {
                src_root.join(&resolved)
            };
            let meta = fs::metadata(&abs).map_err(|_| missing())?;
            srcs.push(Src::Path {
                abs,
                name: path_base(&rel),
                rel: resolved,
                is_dir: meta.is_dir(),
            });
        }
        for c in &spec.paths.contents {
            srcs.push(Src::Inline {
                name: c.path.clone(),
                data: c.data.clone().into_bytes(),
            });
        }
        let dest = resolve_dest(&st.workdir(), &spec.paths.dest);
        check_multiple_sources(name, srcs.len(), &dest).map_err(EngineError::invalid)?;

        // The cache key: what the step reads, by content.
        let mut hashes = Vec::new();
        for s in &srcs {
            let h = match s {
                Src::Path {
                    abs, rel, is_dir, ..
                } => {
                    if from_context {
                        let skip = skip_of(rel);
                        let kind = if *is_dir { "dir" } else { "file" };
                        format!(
                            "{kind}:{}",
                            tree_hash(abs, &skip).map_err(|e| failed(format!("{rel}: {e}")))?
                        )
                    } else {
                        let mut hs = Sha256::new();
                        hs.update(from_id.as_bytes());
                        hs.update(b"\0");
                        hs.update(rel.as_bytes());
                        format!(
                            "{}:{}",
                            if *is_dir { "dir" } else { "file" },
                            hex::encode(hs.finalize())
                        )
                    }
                }
                Src::Url { hash, .. } => format!("file:{hash}"),
                Src::Inline { name: n, data } => {
                    let mut hs = Sha256::new();
                    hs.update(n.as_bytes());
                    hs.update(b"\0");
                    hs.update(data);
                    format!("file:{}", hex::encode(hs.finalize()))
                }
            };
            hashes.push(h);
        }
        let desc = if hashes.len() == 1 {
            hashes[0].clone()
        } else {
            format!(
                "multi:{}",
                hex::encode(Sha256::digest(hashes.join(",").as_bytes()))
            )
        };
        let key = cache::cache_key(&[
            json!(st.image_id),
            json!(name),
            json!(from_id),
            json!(spec.chown),
            json!(spec.chmod),
            json!(dest),
            json!(spec.exclude),
            json!(spec.unpack),
            json!(hashes),
            Value::Object(st.run.clone()),
        ]);
        if self.probe(idx, st, &key)? {
            return Ok(());
        }
        let chown_part = if spec.chown.is_empty() {
            String::new()
        } else {
            format!("--chown={} ", spec.chown)
        };
        let created_by = format!(
            "{} #(nop) {name} {chown_part}{desc} in {dest} ",
            st.shell().join(" ")
        );

        let mut scratch = self.engine.mount_scratch(&st.config.rootfs.diff_ids)?;
        let root = scratch.root();
        let owner = if spec.chown.is_empty() {
            // Files from the context belong to root; `--from` keeps owners.
            if from_context {
                Some((0, 0))
            } else {
                None
            }
        } else {
            let read = |p: &str| {
                berth_snapshot::mount::read_in_root(&root, p, 4 << 20)
                    .ok()
                    .flatten()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
            };
            let passwd = read("/etc/passwd");
            let group = read("/etc/group");
            Some(
                Chown::parse(spec.chown)
                    .resolve_strict(passwd.as_deref(), group.as_deref())
                    .map_err(EngineError::invalid)?,
            )
        };
        let attrs = CopyAttrs { owner, chmod };
        let dir_owner = owner.or(Some((0, 0)));
        for s in &srcs {
            let r = match s {
                Src::Path {
                    abs,
                    rel,
                    name: n,
                    is_dir,
                } => {
                    if *is_dir {
                        let skip = skip_of(rel);
                        place_dir(&root, &dest, abs, &attrs, dir_owner, &skip)
                    } else if spec.add && spec.unpack != Some(false) && is_archive(abs) {
                        extract_archive(
                            &root,
                            &dest,
                            abs,
                            owner.filter(|_| !spec.chown.is_empty()),
                            dir_owner,
                        )
                    } else {
                        place_file(&root, &dest, n, dir_owner, |dst| {
                            fsutil::copy_tree(abs, dst, &attrs, &|_, _| false)
                        })
                    }
                }
                Src::Url {
                    file,
                    name: n,
                    mtime,
                    ..
                } => place_file(&root, &dest, n, dir_owner, |dst| {
                    fs::copy(file, dst)?;
                    if let Some(t) = mtime {
                        fs::File::options()
                            .write(true)
                            .open(dst)?
                            .set_modified(*t)?;
                    }
                    let mode = attrs
                        .chmod
                        .as_ref()
                        .map(|c| c.apply(0o100600) & 0o7777)
                        .unwrap_or(0o600);
                    finish_new_file(dst, attrs.owner.unwrap_or((0, 0)), mode)
                }),
                Src::Inline { name: n, data } => place_file(&root, &dest, n, dir_owner, |dst| {
                    fs::write(dst, data)?;
                    let mode = attrs
                        .chmod
                        .as_ref()
                        .map(|c| c.apply(0o100644) & 0o7777)
                        .unwrap_or(0o644);
                    finish_new_file(dst, attrs.owner.unwrap_or((0, 0)), mode)
                }),
            };
            r.map_err(|e| failed(format!("copying to {dest}: {e}")))?;
        }
        drop(downloads);
        scratch.unmount()?;
        let layer = self.engine.stage_dir_layer(&scratch.upper(), false)?;
        drop(scratch);
        self.commit(
            st,
            layer,
            &created_by,
            &key,
            &format!("{name} {desc} in {dest}"),
        )
    }

    /// Downloads an `ADD` URL (http or https, redirects followed) into the
    /// build's temporary directory with the daemon's HTTP client and trust
    /// store; returns the file, the sha256 of its content (checked against
    /// `--checksum=sha256:…` when given) and the `Last-Modified` time.
    fn download(&self, url: &str, checksum: &str) -> Result<(PathBuf, String, Option<SystemTime>)> {
        let dir = self.engine.build_tmp();
        fs::create_dir_all(&dir)
            .map_err(|e| EngineError::internal(format!("creating {}: {e}", dir.display())))?;
        let path = dir.join(format!(
            "dl-{}-{}",
            std::process::id(),
            super::view::rand_hex()?
        ));
        let client = self.engine.registry_client()?;
        // The builder runs on a blocking thread, outside the runtime.
        let r = self.engine.rt.block_on(client.download(url, &path));
        let (hash, mtime) = match r {
            Ok(d) => (d.sha256, d.last_modified.as_deref().and_then(http_date)),
            Err(e) => {
                let _ = fs::remove_file(&path);
                return Err(EngineError::invalid(format!(
                    "ADD failed: downloading {url}: {e}"
                )));
            }
        };
        if !checksum.is_empty() {
            let want = checksum.strip_prefix("sha256:").unwrap_or(checksum);
            if want != hash {
                let _ = fs::remove_file(&path);
                return Err(EngineError::invalid(format!(
                    "ADD failed: digest mismatch for {url}: expected {checksum}, got sha256:{hash}"
                )));
            }
        }
        Ok((path, hash, mtime))
    }
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}/{b}")
    }
}

/// Expands a source with wildcards (Go's `filepath.Match` on paths
/// relative to the source root; a matching directory is taken whole).
fn glob_sources(
    root: &Path,
    pattern: &str,
    skip: &dyn Fn(&str, bool) -> bool,
) -> std::io::Result<Vec<Src>> {
    let (prefix, _) = split_wildcards(pattern);
    let depth = pattern.split('/').count();
    let mut out = Vec::new();
    let start = if prefix.is_empty() || prefix == "." {
        String::new()
    } else {
        prefix.trim_start_matches('/').to_string()
    };
    let mut stack = vec![start];
    while let Some(dir) = stack.pop() {
        let abs = if dir.is_empty() {
            root.to_path_buf()
        } else {
            root.join(&dir)
        };
        let Ok(rd) = fs::read_dir(&abs) else { continue };
        let mut names: Vec<String> = rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        let mut subdirs = Vec::new();
        for n in names {
            let rel = join(&dir, &n);
            let p = root.join(&rel);
            let meta = fs::symlink_metadata(&p)?;
            if skip(&rel, meta.is_dir()) {
                continue;
            }
            if glob_match(pattern, &rel).unwrap_or(false) {
                let target = fs::metadata(&p).ok();
                let Some(target) = target else { continue };
                let resolved = fsutil::resolve_in_root(root, &rel)?.unwrap_or(rel.clone());
                out.push(Src::Path {
                    abs: root.join(&resolved),
                    rel: resolved,
                    name: n.clone(),
                    is_dir: target.is_dir(),
                });
                continue;
            }
            if meta.is_dir() && rel.split('/').count() < depth {
                subdirs.push(rel);
            }
        }
        for d in subdirs.into_iter().rev() {
            stack.push(d);
        }
    }
    Ok(out)
}

/// sha256 over a file or a tree: names, types, modes, sizes, link targets
/// and content hashes (owners and times are not part of it, as in Docker).
pub(super) fn tree_hash(abs: &Path, skip: &dyn Fn(&str, bool) -> bool) -> std::io::Result<String> {
    let mut h = Sha256::new();
    fn entry(
        h: &mut Sha256,
        p: &Path,
        rel: &str,
        skip: &dyn Fn(&str, bool) -> bool,
    ) -> std::io::Result<()> {
        let meta = fs::symlink_metadata(p)?;
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            "d"
        } else if ft.is_symlink() {
            "l"
        } else if ft.is_file() {
            "f"
        } else {
            "o"
        };
        let extra = if ft.is_symlink() {
            fs::read_link(p)?.to_string_lossy().to_string()
        } else if ft.is_file() {
            fsutil::file_sha256(p, &meta)?
        } else {
            String::new()
        };
        let size = if ft.is_file() { meta.len() } else { 0 };
        writeln!(
            HashWrite(h),
            "{rel}\0{kind}\0{:o}\0{size}\0{extra}",
            meta.mode() & 0o7777
        )?;
        if ft.is_dir() {
            let mut names: Vec<_> = fs::read_dir(p)?.flatten().map(|e| e.file_name()).collect();
            names.sort();
            for n in names {
                let name = n.to_string_lossy().to_string();
                let child_rel = join(rel, &name);
                let child = p.join(&n);
                let is_dir = fs::symlink_metadata(&child)
                    .map(|m| m.is_dir())
                    .unwrap_or(false);
                if skip(&child_rel, is_dir) {
                    continue;
                }
                entry(h, &child, &child_rel, skip)?;
            }
        }
        Ok(())
    }
    // A single file is hashed through what it resolves to.
    let meta = fs::metadata(abs)?;
    if meta.is_file() {
        let c = fsutil::file_sha256(abs, &meta)?;
        writeln!(
            HashWrite(&mut h),
            "\0f\0{:o}\0{}\0{c}",
            meta.mode() & 0o7777,
            meta.len()
        )?;
    } else {
        entry(&mut h, abs, "", skip)?;
    }
    Ok(hex::encode(h.finalize()))
}

struct HashWrite<'a>(&'a mut Sha256);

impl Write for HashWrite<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.update(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn rel_of(dest: &str) -> String {
    dest.trim_start_matches('/')
        .trim_end_matches('/')
        .to_string()
}

/// Copies a directory's content into `dest` (created if needed).
fn place_dir(
    root: &Path,
    dest: &str,
    src: &Path,
    attrs: &CopyAttrs,
    dir_owner: Option<(u32, u32)>,
    skip: &dyn Fn(&str, bool) -> bool,
) -> std::io::Result<()> {
    let existed = fsutil::resolve_in_root(root, &rel_of(dest))?.is_some();
    let dst = fsutil::mkdir_all_in_root(root, &rel_of(dest), 0o755, dir_owner)?;
    if existed {
        // An existing directory keeps its own metadata: only the content
        // is copied.
        let mut names: Vec<_> = fs::read_dir(src)?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for n in names {
            let name = n.to_string_lossy().to_string();
            let child = src.join(&n);
            let is_dir = fs::symlink_metadata(&child)
                .map(|m| m.is_dir())
                .unwrap_or(false);
            if skip(&name, is_dir) {
                continue;
            }
            let prefixed = |c: &str, d: bool| skip(&join(&name, c), d);
            fsutil::copy_tree(&child, &dst.join(&n), attrs, &prefixed)?;
        }
        Ok(())
    } else {
        fsutil::copy_tree(src, &dst, attrs, skip)
    }
}

/// Puts one file at its destination: inside `dest` when it ends with `/`
/// or is an existing directory, else at `dest`.
fn place_file(
    root: &Path,
    dest: &str,
    name: &str,
    dir_owner: Option<(u32, u32)>,
    write: impl FnOnce(&Path) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let exists_dir = match fsutil::resolve_in_root(root, &rel_of(dest))? {
        Some(r) => root.join(r).is_dir(),
        None => false,
    };
    let target = file_destination(dest, name, exists_dir);
    let parent = path_dir(&target);
    let pdir = fsutil::mkdir_all_in_root(root, &parent, 0o755, dir_owner)?;
    let dst = pdir.join(path_base(&target));
    if let Ok(m) = fs::symlink_metadata(&dst) {
        if m.is_dir() {
            return Err(std::io::Error::other(format!(
                "cannot overwrite directory {target} with a file"
            )));
        }
        fs::remove_file(&dst)?;
    }
    write(&dst)
}

fn finish_new_file(p: &Path, owner: (u32, u32), mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::os::unix::fs::lchown(p, Some(owner.0), Some(owner.1))?;
    fs::set_permissions(p, fs::Permissions::from_mode(mode))
}

/// Whether `ADD` extracts this file: a tar archive, plain or compressed.
fn is_archive(p: &Path) -> bool {
    let Ok(head) = fsutil::file_head(p, 1024) else {
        return false;
    };
    match Compression::detect(&head) {
        Compression::None => looks_like_tar(&head),
        _ => true,
    }
}

/// `ADD archive.tar.gz /dest`: the archive's entries go under `dest`, with
/// their own owners unless `--chown` says otherwise.
fn extract_archive(
    root: &Path,
    dest: &str,
    src: &Path,
    owner: Option<(u32, u32)>,
    dir_owner: Option<(u32, u32)>,
) -> std::io::Result<()> {
    let dst = fsutil::mkdir_all_in_root(root, &rel_of(dest), 0o755, dir_owner)?;
    let prefix = dst
        .strip_prefix(root)
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let f = BufReader::new(fs::File::open(src)?);
    let head = fsutil::file_head(src, 1024)?;
    let reader: Box<dyn Read> = match Compression::detect(&head) {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(f)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(f)?),
        Compression::Bzip2 | Compression::Xz => {
            return Err(std::io::Error::other(format!(
                "{}: bzip2 and xz archives are not supported: use gzip or zstd",
                src.display()
            )))
        }
        Compression::None => Box::new(f),
    };
    let mut filter = |_: &str, _: bool| true;
    let mut on_file = |_: &str, _: &Path, _: &str| {};
    fsutil::extract_tar(
        reader,
        root,
        &mut ExtractOptions {
            prefix,
            keep_owner: owner.is_none(),
            owner,
            filter: &mut filter,
            on_file: &mut on_file,
        },
    )
}

/// An HTTP date (`Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT`).
fn http_date(v: &str) -> Option<SystemTime> {
    let t = chrono::DateTime::parse_from_rfc2822(v.trim()).ok()?;
    Some(SystemTime::from(t.with_timezone(&chrono::Utc)))
}
