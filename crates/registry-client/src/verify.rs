//! Incremental content hashing for the digest algorithms Docker accepts
//! (sha256, sha384, sha512), used to verify blobs while they stream and to
//! carry the state of a partial download into a resumed one.

use berth_reference::Digest;
use sha2::{Digest as _, Sha256, Sha384, Sha512};

use crate::Error;

#[derive(Clone)]
enum State {
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

/// A running hash plus the number of bytes hashed.
///
/// To resume a broken blob download, hash the bytes already on disk with a
/// `BlobHasher` and pass it to
/// [`RepositoryClient::resume_blob`](crate::RepositoryClient::resume_blob):
/// the download continues at [`len`](Self::len) and the final digest still
/// covers the whole blob.
#[derive(Clone)]
pub struct BlobHasher {
    state: State,
    len: u64,
}

impl BlobHasher {
    /// A hasher for the algorithm of `digest`.
    pub fn for_digest(digest: &Digest) -> BlobHasher {
        let state = match digest.algorithm() {
            "sha384" => State::Sha384(Sha384::new()),
            "sha512" => State::Sha512(Sha512::new()),
            _ => State::Sha256(Sha256::new()),
        };
        BlobHasher { state, len: 0 }
    }

    /// A sha256 hasher.
    pub fn sha256() -> BlobHasher {
        BlobHasher {
            state: State::Sha256(Sha256::new()),
            len: 0,
        }
    }

    /// Hashes more bytes.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::Sha256(h) => h.update(data),
            State::Sha384(h) => h.update(data),
            State::Sha512(h) => h.update(data),
        }
        self.len += data.len() as u64;
    }

    /// Number of bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing was hashed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The algorithm name (`sha256`).
    pub fn algorithm(&self) -> &'static str {
        match self.state {
            State::Sha256(_) => "sha256",
            State::Sha384(_) => "sha384",
            State::Sha512(_) => "sha512",
        }
    }

    /// The digest of the bytes hashed so far (the hasher stays usable).
    pub fn digest(&self) -> Digest {
        let hex = match &self.state {
            State::Sha256(h) => hex::encode(h.clone().finalize()),
            State::Sha384(h) => hex::encode(h.clone().finalize()),
            State::Sha512(h) => hex::encode(h.clone().finalize()),
        };
        // Computed here: a lowercase hex of the algorithm's length always parses.
        Digest::parse(&format!("{}:{hex}", self.algorithm())).expect("computed digest is valid")
    }
}

/// The digest of `data` with the algorithm of `like` (sha256 when `None`).
pub fn digest_bytes(data: &[u8], like: Option<&Digest>) -> Digest {
    let mut h = match like {
        Some(d) => BlobHasher::for_digest(d),
        None => BlobHasher::sha256(),
    };
    h.update(data);
    h.digest()
}

/// Checks `data` against `expected`; `what` names it in the error.
pub(crate) fn check_bytes(what: &str, data: &[u8], expected: &Digest) -> Result<(), Error> {
    let actual = digest_bytes(data, Some(expected));
    if &actual != expected {
        return Err(Error::DigestMismatch {
            what: what.to_owned(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_incrementally() {
        let mut h = BlobHasher::sha256();
        h.update(b"hello ");
        let partial = h.clone();
        h.update(b"world");
        assert_eq!(h.len(), 11);
        assert_eq!(h.digest(), digest_bytes(b"hello world", None));
        let mut p = partial;
        p.update(b"world");
        assert_eq!(p.digest(), h.digest());
        assert_eq!(
            digest_bytes(b"", None).to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn other_algorithms() {
        let d512 = Digest::parse(&format!("sha512:{}", "0".repeat(128))).unwrap();
        let d = digest_bytes(b"x", Some(&d512));
        assert_eq!(d.algorithm(), "sha512");
        assert!(check_bytes("x", b"x", &d).is_ok());
        let err = check_bytes("manifest", b"y", &d).unwrap_err();
        assert!(err.to_string().starts_with("manifest: digest mismatch"));
    }
}
