//! Streaming content hashers for the digest algorithms the registry accepts
//! (sha256, sha384, sha512), whose intermediate state can be saved to disk
//! so a chunked upload resumes hashing where it stopped instead of reading
//! the whole staged file again.

use std::io::Read;
use std::path::Path;

use berth_reference::Digest;
use sha2::digest::common::hazmat::{SerializableState, SerializedState};
use sha2::{Digest as _, Sha256, Sha384, Sha512};

/// A running hash of one of the supported algorithms.
#[derive(Clone)]
pub enum Hasher {
    /// sha256 (the default).
    Sha256(Sha256),
    /// sha384.
    Sha384(Sha384),
    /// sha512.
    Sha512(Sha512),
}

impl Hasher {
    /// A fresh hasher for `algorithm` (`sha256`, `sha384`, `sha512`).
    pub fn new(algorithm: &str) -> Option<Hasher> {
        match algorithm {
            "sha256" => Some(Hasher::Sha256(Sha256::new())),
            "sha384" => Some(Hasher::Sha384(Sha384::new())),
            "sha512" => Some(Hasher::Sha512(Sha512::new())),
            _ => None,
        }
    }

    /// The algorithm's name.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Hasher::Sha256(_) => "sha256",
            Hasher::Sha384(_) => "sha384",
            Hasher::Sha512(_) => "sha512",
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Digest {
        let (alg, hex) = match self {
            Hasher::Sha256(h) => ("sha256", hex::encode(h.finalize())),
            Hasher::Sha384(h) => ("sha384", hex::encode(h.finalize())),
            Hasher::Sha512(h) => ("sha512", hex::encode(h.finalize())),
        };
        // A freshly computed lowercase hex digest of the right length always
        // parses; fall back to sha256 of nothing would be wrong, so build it
        // through the parser and only then unwrap the impossible case.
        match Digest::parse(&format!("{alg}:{hex}")) {
            Ok(d) => d,
            Err(_) => unreachable!("computed digests are well-formed"),
        }
    }

    /// The internal state, hex-encoded with its algorithm (`alg:hex`).
    pub fn save(&self) -> String {
        let state = match self {
            Hasher::Sha256(h) => hex::encode(h.serialize()),
            Hasher::Sha384(h) => hex::encode(h.serialize()),
            Hasher::Sha512(h) => hex::encode(h.serialize()),
        };
        format!("{}:{state}", self.algorithm())
    }

    /// Restores a state written by [`Hasher::save`]; `None` if it is not one.
    pub fn restore(saved: &str) -> Option<Hasher> {
        let (alg, state) = saved.split_once(':')?;
        let bytes = hex::decode(state).ok()?;
        match alg {
            "sha256" => {
                let s = SerializedState::<Sha256>::try_from(&bytes[..]).ok()?;
                Sha256::deserialize(&s).ok().map(Hasher::Sha256)
            }
            "sha384" => {
                let s = SerializedState::<Sha384>::try_from(&bytes[..]).ok()?;
                Sha384::deserialize(&s).ok().map(Hasher::Sha384)
            }
            "sha512" => {
                let s = SerializedState::<Sha512>::try_from(&bytes[..]).ok()?;
                Sha512::deserialize(&s).ok().map(Hasher::Sha512)
            }
            _ => None,
        }
    }
}

/// The digest of bytes in memory.
pub fn digest_bytes(algorithm: &str, data: &[u8]) -> Option<Digest> {
    let mut h = Hasher::new(algorithm)?;
    h.update(data);
    Some(h.finish())
}

/// Hashes a file by streaming it (blocking); returns the digest and size.
pub fn digest_file(algorithm: &str, path: &Path) -> std::io::Result<(Digest, u64)> {
    let mut h = Hasher::new(algorithm).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("unsupported digest algorithm {algorithm}"),
        )
    })?;
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        total += n as u64;
    }
    Ok((h.finish(), total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_restore_continues_the_hash() {
        for alg in ["sha256", "sha384", "sha512"] {
            let mut a = Hasher::new(alg).unwrap();
            a.update(b"hello ");
            let saved = a.save();
            let mut b = Hasher::restore(&saved).unwrap();
            b.update(b"world");
            assert_eq!(b.finish(), digest_bytes(alg, b"hello world").unwrap());
        }
        assert!(Hasher::restore("sha256:00").is_none());
        assert!(Hasher::restore("md5:00").is_none());
    }

    #[test]
    fn known_sha256() {
        assert_eq!(
            digest_bytes("sha256", b"").unwrap().to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
