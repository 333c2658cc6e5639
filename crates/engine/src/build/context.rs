//! The build context: where `COPY`/`ADD` read from, with `.dockerignore`
//! applied. Either a tar stream (what the docker CLI sends), extracted as
//! it arrives into a temporary directory — never held in memory — with
//! each file hashed while it is written; or a plain Dockerfile in place of
//! the tar (`docker build - < Dockerfile`); or, for berth's own CLI on the
//! same host, the client's directory read in place, whose files are hashed
//! once and then recognised by their identity (device, inode, size,
//! modification and change times).

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use berth_content::image::{looks_like_tar, Compression};
use berth_dockerfile::dockerignore::{read_dockerignore, MatchInfo, PatternMatcher, WalkDecision};

use super::fsutil::{self, ExtractOptions};
use crate::error::{EngineError, Result};

/// Largest Dockerfile (or `.dockerignore`) accepted.
const MAX_DOCKERFILE: u64 = 16 << 20;

/// Where the context comes from.
pub enum ContextInput<'a> {
    /// A tar stream (plain, gzip or zstd), or a Dockerfile alone.
    Stream(Box<dyn Read + Send + 'a>),
    /// A directory on this host (berth's CLI): read in place.
    Dir {
        /// Absolute path.
        path: PathBuf,
        /// Device and inode the client saw (checked, so a client in
        /// another mount namespace cannot point at a different directory).
        identity: Option<(u64, u64)>,
        /// The Dockerfile's text when it does not come from the directory
        /// (`-f -`, or a file outside the context).
        dockerfile: Option<String>,
    },
}

/// A context ready to be read.
pub struct BuildContext {
    root: PathBuf,
    temp: Option<PathBuf>,
    ignore: Option<PatternMatcher>,
    /// The Dockerfile's text.
    pub dockerfile: String,
    /// The name it was found under (for error messages).
    pub dockerfile_name: String,
}

impl Drop for BuildContext {
    fn drop(&mut self) {
        if let Some(t) = &self.temp {
            fsutil::forget_hashes(t);
            let _ = berth_snapshot::remove_tree(t);
        }
    }
}

fn read_limited(mut r: impl Read, what: &str) -> Result<String> {
    let mut buf = Vec::new();
    (&mut r)
        .take(MAX_DOCKERFILE + 1)
        .read_to_end(&mut buf)
        .map_err(|e| EngineError::invalid(format!("reading {what}: {e}")))?;
    if buf.len() as u64 > MAX_DOCKERFILE {
        return Err(EngineError::invalid(format!(
            "{what} is larger than {} MB",
            MAX_DOCKERFILE >> 20
        )));
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// The Dockerfile name a request gives, cleaned (`./Dockerfile` →
/// `Dockerfile`), `Dockerfile` by default.
pub fn dockerfile_name(name: &str) -> String {
    let n = fsutil::clean_entry_name(name).unwrap_or_default();
    if n.is_empty() {
        "Dockerfile".into()
    } else {
        n
    }
}

impl BuildContext {
    /// Prepares the context. `tmp_parent` is where a tar context is
    /// extracted (on the data root's file system).
    pub fn open(input: ContextInput<'_>, dockerfile: &str, tmp_parent: &Path) -> Result<Self> {
        let name = dockerfile_name(dockerfile);
        match input {
            ContextInput::Stream(r) => Self::from_stream(r, &name, tmp_parent),
            ContextInput::Dir {
                path,
                identity,
                dockerfile,
            } => Self::from_dir(&path, identity, dockerfile, &name),
        }
    }

    fn from_dir(
        path: &Path,
        identity: Option<(u64, u64)>,
        text: Option<String>,
        name: &str,
    ) -> Result<Self> {
        let meta = fs::metadata(path).map_err(|e| {
            EngineError::invalid(format!(
                "context directory {} is not visible to the daemon: {e}",
                path.display()
            ))
        })?;
        if !meta.is_dir() || identity.is_some_and(|(d, i)| (meta.dev(), meta.ino()) != (d, i)) {
            return Err(EngineError::invalid(format!(
                "context directory {} is not visible to the daemon: send the context as a tar stream",
                path.display()
            )));
        }
        let ignore = match fs::read(path.join(".dockerignore")) {
            Ok(b) => Some(compile_ignore(&String::from_utf8_lossy(&b))?),
            Err(_) => None,
        };
        let dockerfile = match text {
            Some(t) => t,
            None => {
                let found = berth_snapshot::mount::read_in_root(path, name, MAX_DOCKERFILE + 1)
                    .map_err(|e| EngineError::invalid(format!("reading {name}: {e}")))?;
                match found {
                    Some(b) if b.len() as u64 <= MAX_DOCKERFILE => {
                        String::from_utf8_lossy(&b).into_owned()
                    }
                    Some(_) => {
                        return Err(EngineError::invalid(format!(
                            "{name} is larger than {} MB",
                            MAX_DOCKERFILE >> 20
                        )))
                    }
                    None => return Err(missing_dockerfile(name)),
                }
            }
        };
        Ok(BuildContext {
            root: path.to_path_buf(),
            temp: None,
            ignore,
            dockerfile,
            dockerfile_name: name.to_string(),
        })
    }

    fn from_stream(r: Box<dyn Read + Send + '_>, name: &str, tmp_parent: &Path) -> Result<Self> {
        let mut input = BufReader::with_capacity(1 << 20, r);
        let head = input
            .fill_buf()
            .map_err(|e| EngineError::invalid(format!("reading the build context: {e}")))?
            .to_vec();
        let reader: Box<dyn Read + Send + '_> =
            match Compression::detect(&head) {
                Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(input)),
                Compression::Zstd => Box::new(
                    zstd::stream::read::Decoder::with_buffer(input)
                        .map_err(|e| EngineError::invalid(format!("zstd: {e}")))?,
                ),
                Compression::Bzip2 | Compression::Xz => return Err(EngineError::invalid(
                    "the build context is bzip2 or xz compressed: send it plain or gzip compressed",
                )),
                Compression::None => {
                    let zero = !head.is_empty() && head.iter().all(|b| *b == 0);
                    if !looks_like_tar(&head) && !zero {
                        // A Dockerfile alone (`docker build - < Dockerfile`).
                        let text = read_limited(input, "the Dockerfile")?;
                        let tmp = make_temp(tmp_parent)?;
                        return Ok(BuildContext {
                            root: tmp.clone(),
                            temp: Some(tmp),
                            ignore: None,
                            dockerfile: text,
                            dockerfile_name: name.to_string(),
                        });
                    }
                    Box::new(input)
                }
            };
        let tmp = make_temp(tmp_parent)?;
        let mut ctx = BuildContext {
            root: tmp.clone(),
            temp: Some(tmp.clone()),
            ignore: None,
            dockerfile: String::new(),
            dockerfile_name: name.to_string(),
        };
        let mut dockerfile: Option<String> = None;
        let mut ignore: Option<PatternMatcher> = None;
        let mut extracted: Vec<String> = Vec::new();
        // The Dockerfile and .dockerignore are read as they pass by (they
        // are small); .dockerignore applies to what follows it and, once
        // seen, to what was already written.
        let mut ar = tar::Archive::new(PadBlocks {
            inner: reader,
            count: 0,
            pad: None,
        });
        let entries = ar
            .entries()
            .map_err(|e| EngineError::invalid(format!("reading the build context: {e}")))?;
        for entry in entries {
            let mut entry = entry
                .map_err(|e| EngineError::invalid(format!("reading the build context: {e}")))?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).to_string();
            let Some(rel) = fsutil::clean_entry_name(&raw) else {
                return Err(EngineError::invalid(format!(
                    "invalid build context: the entry {raw} points outside the context"
                )));
            };
            if rel.is_empty() {
                continue;
            }
            let kind = entry.header().entry_type();
            if rel == name && kind.is_file() {
                let text = read_limited(&mut entry, name)?;
                dockerfile = Some(text.clone());
                if ignore
                    .as_ref()
                    .is_some_and(|m| m.matches_or_parent_matches(&rel))
                {
                    continue;
                }
                write_file_entry(&tmp, &rel, &entry, text.as_bytes())?;
                extracted.push(rel);
                continue;
            }
            if rel == ".dockerignore" && kind.is_file() {
                let text = read_limited(&mut entry, ".dockerignore")?;
                let m = compile_ignore(&text)?;
                // Apply it to what came before.
                for p in extracted.iter().rev() {
                    if m.matches_or_parent_matches(p) {
                        let _ = fsutil::remove_any(&tmp.join(p));
                    }
                }
                let excluded_itself = m.matches_or_parent_matches(&rel);
                ignore = Some(m);
                if !excluded_itself {
                    write_file_entry(&tmp, &rel, &entry, text.as_bytes())?;
                    extracted.push(rel);
                }
                continue;
            }
            if ignore
                .as_ref()
                .is_some_and(|m| m.matches_or_parent_matches(&rel))
            {
                continue;
            }
            // One entry at a time through the safe extractor.
            let mut single = tar::Builder::new(Vec::new());
            let mut h = entry.header().clone();
            if kind.is_file() {
                // Stream large files straight to disk instead.
                let size = h.size().unwrap_or(0);
                if size > 0 {
                    extract_file_streaming(&tmp, &rel, &mut entry)?;
                    extracted.push(rel);
                    continue;
                }
            }
            h.set_size(0);
            if let Some(link) = entry
                .link_name()
                .map_err(|e| EngineError::invalid(format!("reading the build context: {e}")))?
            {
                single
                    .append_link(&mut h, &rel, link)
                    .map_err(|e| EngineError::invalid(format!("reading the build context: {e}")))?;
            } else {
                single
                    .append_data(&mut h, &rel, std::io::empty())
                    .map_err(|e| EngineError::invalid(format!("reading the build context: {e}")))?;
            }
            let data = single
                .into_inner()
                .map_err(|e| EngineError::invalid(format!("reading the build context: {e}")))?;
            extract_into(&tmp, &data[..])?;
            extracted.push(rel);
        }
        ctx.dockerfile = dockerfile.ok_or_else(|| missing_dockerfile(name))?;
        ctx.ignore = None;
        Ok(ctx)
    }

    /// The directory files are read from.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether the context is read in place from the client's directory.
    pub fn is_local_dir(&self) -> bool {
        self.temp.is_none()
    }

    /// Whether `.dockerignore` leaves `rel` (or a parent of it) out.
    pub fn excluded(&self, rel: &str) -> bool {
        if rel.is_empty() {
            return false;
        }
        self.ignore
            .as_ref()
            .is_some_and(|m| m.matches_or_parent_matches(rel))
    }

    /// A filter for walking below `rel` (relative to the context root):
    /// given a path relative to `rel`, whether to leave it out.
    pub fn skipper(&self, rel: String) -> impl Fn(&str, bool) -> bool + '_ {
        move |child: &str, is_dir: bool| {
            let full = if rel.is_empty() {
                child.to_string()
            } else {
                format!("{rel}/{child}")
            };
            match &self.ignore {
                None => false,
                Some(m) => {
                    // Exceptions may re-include paths below an excluded
                    // directory: only skip a directory when no exception
                    // can match inside it.
                    let (d, _) = m.walk_decision(&full, is_dir, &MatchInfo::default());
                    match d {
                        WalkDecision::Include => false,
                        WalkDecision::SkipDir => true,
                        WalkDecision::Exclude => !is_dir,
                    }
                }
            }
        }
    }
}

/// The docker CLI's `-f -` context ends right after the last file's data
/// (no padding, no end-of-archive blocks): pad what is missing with zeros.
struct PadBlocks<R> {
    inner: R,
    count: u64,
    pad: Option<u64>,
}

impl<R: Read> Read for PadBlocks<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pad.is_none() {
            let n = self.inner.read(buf)?;
            if n > 0 || buf.is_empty() {
                self.count += n as u64;
                return Ok(n);
            }
            self.pad = Some((512 - self.count % 512) % 512 + 1024);
        }
        let left = self.pad.unwrap_or(0);
        let n = (left.min(buf.len() as u64)) as usize;
        buf[..n].fill(0);
        self.pad = Some(left - n as u64);
        Ok(n)
    }
}

fn missing_dockerfile(name: &str) -> EngineError {
    EngineError::invalid(format!(
        "Cannot locate specified Dockerfile: {name}: it is not in the build context (give its path with -f)"
    ))
}

fn compile_ignore(text: &str) -> Result<PatternMatcher> {
    let patterns = read_dockerignore(text);
    PatternMatcher::new(&patterns)
        .map_err(|e| EngineError::invalid(format!("invalid .dockerignore: {e}")))
}

fn make_temp(parent: &Path) -> Result<PathBuf> {
    fs::create_dir_all(parent)
        .map_err(|e| EngineError::internal(format!("creating {}: {e}", parent.display())))?;
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| EngineError::internal(format!("random: {e}")))?;
    let p = parent.join(format!("ctx-{}-{}", std::process::id(), hex::encode(b)));
    fs::create_dir(&p)
        .map_err(|e| EngineError::internal(format!("creating {}: {e}", p.display())))?;
    Ok(p)
}

fn extract_into(root: &Path, data: &[u8]) -> Result<()> {
    let mut filter = |_: &str, _: bool| true;
    let mut on_file = |_: &str, _: &Path, _: &str| {};
    fsutil::extract_tar(
        data,
        root,
        &mut ExtractOptions {
            prefix: String::new(),
            keep_owner: false,
            owner: None,
            filter: &mut filter,
            on_file: &mut on_file,
        },
    )
    .map_err(|e| EngineError::invalid(format!("extracting the build context: {e}")))
}

fn write_file_entry<R: Read>(
    root: &Path,
    rel: &str,
    entry: &tar::Entry<'_, R>,
    data: &[u8],
) -> Result<()> {
    let mut h = entry.header().clone();
    h.set_size(data.len() as u64);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append_data(&mut h, rel, data)
        .map_err(|e| EngineError::invalid(format!("reading the build context: {e}")))?;
    let bytes = b
        .into_inner()
        .map_err(|e| EngineError::invalid(format!("reading the build context: {e}")))?;
    extract_into(root, &bytes)?;
    if let Some(p) = fsutil::resolve_in_root(root, rel).ok().flatten() {
        let hex = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(data));
        fsutil::remember_hash(&root.join(p), &hex);
    }
    Ok(())
}

/// Writes one regular file of the context tar to disk as it streams by,
/// hashing it on the way.
fn extract_file_streaming<R: Read>(
    root: &Path,
    rel: &str,
    entry: &mut tar::Entry<'_, R>,
) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let err = |e: std::io::Error| {
        EngineError::invalid(format!("extracting the build context: {rel}: {e}"))
    };
    let (parent, base) = match rel.rsplit_once('/') {
        Some((p, b)) => (p, b),
        None => ("", rel),
    };
    let pdir = fsutil::mkdir_all_in_root(root, parent, 0o755, None).map_err(err)?;
    let dst = pdir.join(base);
    fsutil::remove_any(&dst).map_err(err)?;
    let mode = entry.header().mode().unwrap_or(0o644) & 0o7777;
    let mtime = entry.header().mtime().unwrap_or(0) as i64;
    let f = fs::File::create(&dst).map_err(err)?;
    let mut w = fsutil::HashingWriter::new(std::io::BufWriter::with_capacity(256 << 10, f));
    std::io::copy(entry, &mut w).map_err(err)?;
    let (hex, bw) = w.finish();
    bw.into_inner().map_err(|e| err(e.into_error()))?;
    fs::set_permissions(&dst, fs::Permissions::from_mode(mode)).map_err(err)?;
    fsutil::set_mtime(&dst, mtime, 0).map_err(err)?;
    fsutil::remember_hash(&dst, &hex);
    Ok(())
}
