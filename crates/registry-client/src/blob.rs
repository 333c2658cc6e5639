//! Blob streams: [`BlobReader`] hashes a download while it is read and fails
//! at the end when the digest or size is wrong (or a pause is too long);
//! [`BlobSource`] and the upload body hash what is pushed and refuse to send
//! the last bytes when they do not match the declared digest.

use std::future::Future as _;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use berth_reference::Digest;
use bytes::Bytes;
use futures::Stream;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::verify::BlobHasher;
use crate::Error;

/// A blob download: implements [`AsyncRead`] and
/// `Stream<Item = io::Result<Bytes>>`.
///
/// Bytes are hashed as they pass; at the end of the body the digest and size
/// are checked and a mismatch is returned as an error (kind `InvalidData`,
/// wrapping [`Error::DigestMismatch`] / [`Error::SizeMismatch`]) instead of
/// the end of the stream. Never yields more bytes than the expected size.
pub struct BlobReader {
    body: Option<Incoming>,
    pending: Bytes,
    skip: u64,
    hasher: BlobHasher,
    expected: Digest,
    expected_size: Option<u64>,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    what: String,
    finished: bool,
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader")
            .field("what", &self.what)
            .field("offset", &self.hasher.len())
            .field("expected_size", &self.expected_size)
            .finish_non_exhaustive()
    }
}

impl BlobReader {
    pub(crate) fn new(
        body: Option<Incoming>,
        hasher: BlobHasher,
        expected: Digest,
        expected_size: Option<u64>,
        skip: u64,
        idle: Duration,
        what: String,
    ) -> BlobReader {
        BlobReader {
            body,
            pending: Bytes::new(),
            skip,
            hasher,
            expected,
            expected_size,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
            what,
            finished: false,
        }
    }

    /// Bytes of the blob received so far, including a resumed prefix.
    pub fn offset(&self) -> u64 {
        self.hasher.len()
    }

    /// The digest being checked.
    pub fn digest(&self) -> &Digest {
        &self.expected
    }

    fn fail(&mut self, e: Error) -> io::Error {
        self.finished = true;
        self.body = None;
        io::Error::new(io::ErrorKind::InvalidData, e)
    }

    fn verify_end(&mut self) -> Result<(), io::Error> {
        self.finished = true;
        self.body = None;
        let got = self.hasher.len();
        if let Some(size) = self.expected_size {
            if got != size {
                let e = Error::SizeMismatch {
                    what: self.what.clone(),
                    expected: size,
                    actual: got,
                };
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
        let actual = self.hasher.digest();
        if actual != self.expected {
            let e = Error::DigestMismatch {
                what: self.what.clone(),
                expected: self.expected.to_string(),
                actual: actual.to_string(),
            };
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        Ok(())
    }

    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        loop {
            if self.finished {
                return Poll::Ready(None);
            }
            let Some(body) = self.body.as_mut() else {
                return Poll::Ready(self.verify_end().err().map(Err));
            };
            match Pin::new(body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    self.timer.as_mut().reset(Instant::now() + self.idle);
                    let Ok(mut data) = frame.into_data() else {
                        continue;
                    };
                    if self.skip > 0 {
                        let n = self.skip.min(data.len() as u64) as usize;
                        let _ = data.split_to(n);
                        self.skip -= n as u64;
                    }
                    if data.is_empty() {
                        continue;
                    }
                    if let Some(size) = self.expected_size {
                        let total = self.hasher.len() + data.len() as u64;
                        if total > size {
                            let e = Error::SizeMismatch {
                                what: self.what.clone(),
                                expected: size,
                                actual: total,
                            };
                            return Poll::Ready(Some(Err(self.fail(e))));
                        }
                    }
                    self.hasher.update(&data);
                    return Poll::Ready(Some(Ok(data)));
                }
                Poll::Ready(Some(Err(e))) => {
                    let what = self.what.clone();
                    self.finished = true;
                    self.body = None;
                    return Poll::Ready(Some(Err(io::Error::other(format!(
                        "{what}: connection broken after {} bytes: {e}; pull again to resume",
                        self.hasher.len()
                    )))));
                }
                Poll::Ready(None) => {
                    self.body = None;
                    continue;
                }
                Poll::Pending => {
                    if self.timer.as_mut().poll(cx).is_ready() {
                        let what = self.what.clone();
                        self.finished = true;
                        self.body = None;
                        return Poll::Ready(Some(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!(
                                "{what}: no data for {}s after {} bytes; check the network and pull again",
                                self.idle.as_secs(),
                                self.hasher.len()
                            ),
                        ))));
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Stream for BlobReader {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if !this.pending.is_empty() {
            return Poll::Ready(Some(Ok(std::mem::take(&mut this.pending))));
        }
        this.poll_chunk(cx)
    }
}

impl AsyncRead for BlobReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pending.is_empty() {
            match this.poll_chunk(cx) {
                Poll::Ready(Some(Ok(b))) => this.pending = b,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
        let n = this.pending.len().min(buf.remaining());
        buf.put_slice(&this.pending.split_to(n));
        Poll::Ready(Ok(()))
    }
}

type BoxRead = Box<dyn AsyncRead + Send + Unpin>;

enum SourceKind {
    File(PathBuf),
    Bytes(Bytes),
    Reader(Option<BoxRead>),
}

/// What [`RepositoryClient::push_blob`](crate::RepositoryClient::push_blob)
/// uploads. Files and bytes can be read again (fallback from a monolithic to
/// a chunked upload); a reader only once.
pub struct BlobSource(SourceKind);

impl BlobSource {
    /// A file (e.g. in the content store).
    pub fn file(path: impl Into<PathBuf>) -> BlobSource {
        BlobSource(SourceKind::File(path.into()))
    }

    /// Bytes in memory.
    pub fn bytes(b: impl Into<Bytes>) -> BlobSource {
        BlobSource(SourceKind::Bytes(b.into()))
    }

    /// A one-shot reader.
    pub fn reader(r: impl AsyncRead + Send + Unpin + 'static) -> BlobSource {
        BlobSource(SourceKind::Reader(Some(Box::new(r))))
    }

    pub(crate) fn reopenable(&self) -> bool {
        !matches!(self.0, SourceKind::Reader(_))
    }

    pub(crate) async fn open(&mut self) -> Result<BoxRead, Error> {
        match &mut self.0 {
            SourceKind::File(p) => {
                let f = tokio::fs::File::open(&*p).await.map_err(|e| Error::Io {
                    what: format!("opening {}", p.display()),
                    source: e,
                })?;
                Ok(Box::new(f))
            }
            SourceKind::Bytes(b) => Ok(Box::new(std::io::Cursor::new(b.clone()))),
            SourceKind::Reader(r) => r.take().ok_or_else(|| {
                Error::InvalidInput(
                    "the upload source was already read and cannot be read again".into(),
                )
            }),
        }
    }
}

/// Shared state of one upload across its request bodies.
pub(crate) struct UploadState {
    reader: BoxRead,
    hasher: BlobHasher,
    expected: Digest,
    size: u64,
    /// Why a body stopped early (local read failure or mismatch).
    pub(crate) failure: Option<Error>,
}

impl UploadState {
    pub(crate) fn new(reader: BoxRead, expected: &Digest, size: u64) -> Arc<Mutex<UploadState>> {
        Arc::new(Mutex::new(UploadState {
            reader,
            hasher: BlobHasher::for_digest(expected),
            expected: expected.clone(),
            size,
            failure: None,
        }))
    }

    /// Bytes sent so far.
    pub(crate) fn sent(&self) -> u64 {
        self.hasher.len()
    }
}

/// Takes the recorded failure of an upload, if any.
pub(crate) fn take_failure(state: &Arc<Mutex<UploadState>>) -> Option<Error> {
    state
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .failure
        .take()
}

const FRAME: usize = 64 * 1024;

/// One request body of an upload: the next `remaining` bytes of the source.
pub(crate) struct UploadBody {
    state: Arc<Mutex<UploadState>>,
    remaining: u64,
}

impl UploadBody {
    pub(crate) fn new(state: Arc<Mutex<UploadState>>, len: u64) -> UploadBody {
        UploadBody {
            state,
            remaining: len,
        }
    }
}

impl Body for UploadBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let mut st = this.state.lock().unwrap_or_else(|p| p.into_inner());
        let want = this.remaining.min(FRAME as u64) as usize;
        let mut buf = vec![0u8; want];
        let mut rb = ReadBuf::new(&mut buf);
        match Pin::new(&mut st.reader).poll_read(cx, &mut rb) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => {
                let msg = format!("reading the blob to upload: {e}");
                st.failure = Some(Error::Io {
                    what: "reading the blob to upload".into(),
                    source: e,
                });
                return Poll::Ready(Some(Err(io::Error::other(msg))));
            }
            Poll::Ready(Ok(())) => {}
        }
        let n = rb.filled().len();
        if n == 0 {
            let e = Error::SizeMismatch {
                what: format!("blob {} to upload", st.expected),
                expected: st.size,
                actual: st.hasher.len(),
            };
            let msg = e.to_string();
            st.failure = Some(e);
            return Poll::Ready(Some(Err(io::Error::other(msg))));
        }
        buf.truncate(n);
        st.hasher.update(&buf);
        this.remaining -= n as u64;
        if st.hasher.len() == st.size {
            let actual = st.hasher.digest();
            if actual != st.expected {
                let e = Error::DigestMismatch {
                    what: "blob to upload".into(),
                    expected: st.expected.to_string(),
                    actual: actual.to_string(),
                };
                let msg = e.to_string();
                st.failure = Some(e);
                return Poll::Ready(Some(Err(io::Error::other(msg))));
            }
        }
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}
