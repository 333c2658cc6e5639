//! Content digests (`algorithm:hex`), validated like
//! `github.com/opencontainers/go-digest`.

use std::fmt;
use std::str::FromStr;

use crate::grammar;
use crate::ReferenceError;

/// The algorithms go-digest registers, with the length of their hex encoding.
const ALGORITHMS: [(&str, usize); 3] = [("sha256", 64), ("sha384", 96), ("sha512", 128)];

/// A validated content digest such as `sha256:<64 lowercase hex>`.
///
/// Docker (go-digest) accepts `sha256`, `sha384` and `sha512`, each with a
/// lowercase hex encoding of exactly the hash size; so does this type.
/// Everything berth computes itself is `sha256`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: String,
    hex: String,
}

impl Digest {
    /// Parses and validates `algorithm:hex` (go-digest `Parse`).
    ///
    /// Errors, in go-digest's order: no algorithm or no encoded part →
    /// `invalid checksum digest format`; unknown algorithm →
    /// `unsupported digest algorithm` (or the format error when the string is
    /// not even digest-shaped); wrong hex length →
    /// `invalid checksum digest length`; non-lowercase-hex →
    /// `invalid checksum digest format`.
    pub fn parse(s: &str) -> Result<Digest, ReferenceError> {
        let (algorithm, hex) = match s.find(':') {
            Some(i) if i > 0 && i + 1 < s.len() => (&s[..i], &s[i + 1..]),
            _ => return Err(ReferenceError::DigestInvalidFormat),
        };
        let Some(&(_, hex_len)) = ALGORITHMS.iter().find(|(name, _)| *name == algorithm) else {
            return Err(if grammar::is_oci_digest_syntax(s) {
                ReferenceError::DigestUnsupported
            } else {
                ReferenceError::DigestInvalidFormat
            });
        };
        if hex.len() != hex_len {
            return Err(ReferenceError::DigestInvalidLength);
        }
        if !grammar::is_lower_hex(hex) {
            return Err(ReferenceError::DigestInvalidFormat);
        }
        Ok(Digest {
            algorithm: algorithm.to_owned(),
            hex: hex.to_owned(),
        })
    }

    /// Builds a `sha256` digest from its 64-character lowercase hex encoding.
    pub fn sha256_hex(hex: &str) -> Result<Digest, ReferenceError> {
        Digest::parse(&format!("sha256:{hex}"))
    }

    /// The algorithm, e.g. `sha256`.
    pub fn algorithm(&self) -> &str {
        &self.algorithm
    }

    /// The lowercase hex encoding (without the `algorithm:` prefix).
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

impl FromStr for Digest {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}
