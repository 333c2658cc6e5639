//! The sha256 blob store: `<root>/sha256/<hex>`, written through a temporary
//! file that is verified and renamed into place, so a blob is either complete
//! and correct or absent.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use berth_reference::Digest;
use sha2::{Digest as _, Sha256};

/// Errors of the blob store.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// The content read did not hash to the digest it was announced with.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The announced digest.
        expected: String,
        /// The digest of the bytes actually received.
        actual: String,
    },
    /// The blob is not in the store.
    #[error("blob {0} not found in the content store")]
    NotFound(String),
    /// A filesystem error, with the path it happened on.
    #[error("content store: {path}: {err}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The error.
        err: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ContentError + '_ {
    move |err| ContentError::Io {
        path: path.to_path_buf(),
        err,
    }
}

/// Hex-encoded sha256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The digest of `data`.
pub fn digest_of(data: &[u8]) -> Digest {
    // A freshly computed sha256 hex string is always a valid digest.
    Digest::sha256_hex(&sha256_hex(data)).unwrap_or_else(|_| unreachable!())
}

/// A directory of blobs named by their sha256 digest.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

impl BlobStore {
    /// Opens the store rooted at `root`, creating it if needed and removing
    /// temporary files left by an interrupted write.
    pub fn open(root: &Path) -> Result<Self, ContentError> {
        let s = BlobStore {
            root: root.to_path_buf(),
        };
        fs::create_dir_all(s.root.join("sha256")).map_err(io_err(root))?;
        let tmp = s.root.join("tmp");
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
        }
        fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
        Ok(s)
    }

    /// Where the blob with this digest lives (whether or not it exists).
    pub fn path(&self, d: &Digest) -> PathBuf {
        self.root.join(d.algorithm()).join(d.hex())
    }

    /// Whether the blob is present.
    pub fn contains(&self, d: &Digest) -> bool {
        self.path(d).is_file()
    }

    /// Size of a stored blob.
    pub fn size(&self, d: &Digest) -> Result<u64, ContentError> {
        let p = self.path(d);
        match fs::metadata(&p) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(ContentError::NotFound(d.to_string()))
            }
            Err(e) => Err(io_err(&p)(e)),
        }
    }

    /// Starts writing a new blob.
    pub fn writer(&self) -> Result<BlobWriter, ContentError> {
        let mut rnd = [0u8; 12];
        getrandom::fill(&mut rnd).map_err(|e| ContentError::Io {
            path: self.root.clone(),
            err: io::Error::other(e.to_string()),
        })?;
        let tmp = self.root.join("tmp").join(hex::encode(rnd));
        let file = File::create(&tmp).map_err(io_err(&tmp))?;
        Ok(BlobWriter {
            store: self.clone(),
            tmp,
            file: Some(io::BufWriter::with_capacity(1 << 20, file)),
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// Stores `data`, checking it against `expected` when given.
    pub fn put(&self, data: &[u8], expected: Option<&Digest>) -> Result<Digest, ContentError> {
        let mut w = self.writer()?;
        w.write_all(data).map_err(|err| ContentError::Io {
            path: w.tmp.clone(),
            err,
        })?;
        Ok(w.commit(expected)?.0)
    }

    /// Reads a whole blob into memory (for small blobs: configs, manifests).
    pub fn read(&self, d: &Digest) -> Result<Vec<u8>, ContentError> {
        let p = self.path(d);
        match fs::read(&p) {
            Ok(v) => Ok(v),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(ContentError::NotFound(d.to_string()))
            }
            Err(e) => Err(io_err(&p)(e)),
        }
    }

    /// Opens a blob for streaming.
    pub fn open_blob(&self, d: &Digest) -> Result<File, ContentError> {
        let p = self.path(d);
        match File::open(&p) {
            Ok(v) => Ok(v),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(ContentError::NotFound(d.to_string()))
            }
            Err(e) => Err(io_err(&p)(e)),
        }
    }

    /// Removes a blob; a missing blob is not an error.
    pub fn delete(&self, d: &Digest) -> Result<(), ContentError> {
        let p = self.path(d);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&p)(e)),
        }
    }

    /// Every blob in the store.
    pub fn list(&self) -> Result<Vec<Digest>, ContentError> {
        let dir = self.root.join("sha256");
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let e = e.map_err(io_err(&dir))?;
            if let Some(name) = e.file_name().to_str() {
                if let Ok(d) = Digest::sha256_hex(name) {
                    out.push(d);
                }
            }
        }
        Ok(out)
    }
}

/// A blob being written: bytes are hashed as they arrive; [`BlobWriter::commit`]
/// verifies the digest and renames the file into place. Dropping the writer
/// without committing removes the temporary file.
pub struct BlobWriter {
    store: BlobStore,
    tmp: PathBuf,
    file: Option<io::BufWriter<File>>,
    hasher: Sha256,
    size: u64,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob writer already committed"))?;
        let n = f.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Finishes the blob: checks it against `expected` (if any) and moves it
    /// into the store. Returns its digest and size.
    pub fn commit(mut self, expected: Option<&Digest>) -> Result<(Digest, u64), ContentError> {
        let f = self.file.take();
        if let Some(f) = f {
            let file = f.into_inner().map_err(|e| ContentError::Io {
                path: self.tmp.clone(),
                err: e.into_error(),
            })?;
            drop(file);
        }
        let hasher = std::mem::take(&mut self.hasher);
        let hex = hex::encode(hasher.finalize());
        let actual = Digest::sha256_hex(&hex).unwrap_or_else(|_| unreachable!());
        if let Some(exp) = expected {
            if exp != &actual {
                return Err(ContentError::DigestMismatch {
                    expected: exp.to_string(),
                    actual: actual.to_string(),
                });
            }
        }
        let dst = self.store.path(&actual);
        fs::rename(&self.tmp, &dst).map_err(io_err(&dst))?;
        Ok((actual, self.size))
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.file.is_some() || self.tmp.exists() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// A reader that hashes everything read through it (to compute a layer's
/// diff ID while it is being extracted).
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The digest of everything read, and the wrapped reader.
    pub fn finish(self) -> (Digest, u64, R) {
        let hex = hex::encode(self.hasher.finalize());
        (
            Digest::sha256_hex(&hex).unwrap_or_else(|_| unreachable!()),
            self.count,
            self.inner,
        )
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A reader that copies everything read through it into a writer (to store a
/// blob while it is being extracted, in one pass over the input).
pub struct TeeReader<R, W> {
    inner: R,
    sink: W,
}

impl<R: Read, W: Write> TeeReader<R, W> {
    /// Wraps `inner`, copying into `sink`.
    pub fn new(inner: R, sink: W) -> Self {
        TeeReader { inner, sink }
    }

    /// The wrapped reader and the sink.
    pub fn into_parts(self) -> (R, W) {
        (self.inner, self.sink)
    }
}

impl<R: Read, W: Write> Read for TeeReader<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sink.write_all(&buf[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_read_verify() {
        let dir = tempfile::tempdir().unwrap();
        let s = BlobStore::open(dir.path()).unwrap();
        let d = s.put(b"hello", None).unwrap();
        assert_eq!(
            d.to_string(),
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(s.read(&d).unwrap(), b"hello");
        assert!(s.contains(&d));
        assert_eq!(s.list().unwrap(), vec![d.clone()]);
        s.delete(&d).unwrap();
        assert!(!s.contains(&d));
        assert!(matches!(s.read(&d), Err(ContentError::NotFound(_))));
    }

    #[test]
    fn wrong_digest_is_refused_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = BlobStore::open(dir.path()).unwrap();
        let wrong = digest_of(b"other");
        let err = s.put(b"hello", Some(&wrong)).unwrap_err();
        assert!(err.to_string().contains("digest mismatch"), "{err}");
        assert!(s.list().unwrap().is_empty());
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn dropped_writer_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = BlobStore::open(dir.path()).unwrap();
        let mut w = s.writer().unwrap();
        w.write_all(b"partial").unwrap();
        drop(w);
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        assert!(s.list().unwrap().is_empty());
    }

    #[test]
    fn tee_and_hash() {
        let mut out = Vec::new();
        let mut r = HashingReader::new(TeeReader::new(&b"abc"[..], &mut out));
        let mut sink = Vec::new();
        r.read_to_end(&mut sink).unwrap();
        let (d, n, _) = r.finish();
        assert_eq!(n, 3);
        assert_eq!(d, digest_of(b"abc"));
        assert_eq!(out, b"abc");
    }
}
