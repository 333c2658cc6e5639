//! Image references and content digests, parsed and normalised exactly like
//! Docker (`github.com/distribution/reference` and
//! `github.com/opencontainers/go-digest`).
//!
//! Grammar (hand-written, no regex engine):
//!
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [domain '/'] remote-name
//! domain           := host [':' port-number]
//! host             := domain-name | '[' IPv6address ']'
//! domain-name      := domain-component ['.' domain-component]*
//! domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//! port-number      := /[0-9]+/
//! remote-name      := path-component ['/' path-component]*
//! path-component   := /[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*/
//! tag              := /[\w][\w.-]{0,127}/
//! digest           := algorithm ":" hex
//! identifier       := /[a-f0-9]{64}/
//! ```
//!
//! [`Reference::parse_normalized`] is Docker's `ParseNormalizedNamed`:
//! `busybox` becomes `docker.io/library/busybox`, `index.docker.io` is
//! rewritten to `docker.io`, and the familiar forms
//! ([`Reference::familiar_name`], [`Reference::familiar_string`]) undo that.
//! Error messages are Docker's own, word for word.

mod digest;
mod grammar;

use std::fmt;
use std::str::FromStr;

pub use digest::Digest;

/// Docker Hub's canonical domain.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// Docker Hub's legacy ("Docker Index") domain, rewritten to [`DEFAULT_DOMAIN`].
pub const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// Namespace of official images on Docker Hub.
pub const OFFICIAL_REPO_PREFIX: &str = "library/";
/// Tag added by [`Reference::parse_with_default_tag`].
pub const DEFAULT_TAG: &str = "latest";
/// Maximum length of a repository path (`RepositoryNameTotalLengthMax`).
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;

const LOCALHOST: &str = "localhost";

/// Errors from parsing references, tags and digests. The `Display` texts are
/// Docker's (distribution/reference and go-digest) error strings.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    /// `ErrReferenceInvalidFormat`.
    #[error("invalid reference format")]
    InvalidFormat,
    /// `ErrTagInvalidFormat` (from `WithTag`).
    #[error("invalid tag format")]
    InvalidTagFormat,
    /// Uppercase in the repository path, as reported by `ParseNormalizedNamed`;
    /// carries the offending remote name (e.g. `library/Busybox`).
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    NameNotLowercase(String),
    /// `ErrNameContainsUppercase` (from the non-normalising `Parse`).
    #[error("repository name must be lowercase")]
    NameContainsUppercase,
    /// `ErrNameEmpty`.
    #[error("repository name must have at least one component")]
    NameEmpty,
    /// `ErrNameTooLong`: the path (without domain) exceeds 255 characters.
    #[error("repository name must not be more than 255 characters")]
    NameTooLong,
    /// A full 64-hex identifier was given where a name was expected.
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    IdentifierAsName(String),
    /// go-digest `ErrDigestInvalidFormat`.
    #[error("invalid checksum digest format")]
    DigestInvalidFormat,
    /// go-digest `ErrDigestInvalidLength`.
    #[error("invalid checksum digest length")]
    DigestInvalidLength,
    /// go-digest `ErrDigestUnsupported`.
    #[error("unsupported digest algorithm")]
    DigestUnsupported,
}

/// A named image reference: domain, path, optional tag and optional digest.
///
/// `Display` gives the fully qualified form, e.g.
/// `docker.io/library/busybox:latest` or `name:tag@sha256:…` when both are set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Docker's `ParseNormalizedNamed`.
    ///
    /// * `busybox` → `docker.io/library/busybox`
    /// * `user/app:1` → `docker.io/user/app:1`
    /// * `index.docker.io/x` and `docker.io/x` → `docker.io/library/x`
    /// * `localhost:5000/x@sha256:…`, `127.0.0.1:5000/alumno/busybox:custom`,
    ///   `[::1]:5000/x` keep their domain.
    ///
    /// The first `/`-separated element is a domain only when it contains `.`
    /// or `:`, is `localhost`, or contains uppercase letters. A 64-character
    /// lowercase hex string is rejected as a name.
    pub fn parse_normalized(s: &str) -> Result<Reference, ReferenceError> {
        if grammar::is_identifier(s) {
            return Err(ReferenceError::IdentifierAsName(s.to_owned()));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote = remainder
            .split_once(':')
            .map_or(remainder.as_str(), |(remote, _)| remote);
        if remote.to_lowercase() != remote {
            return Err(ReferenceError::NameNotLowercase(remote.to_owned()));
        }
        Reference::parse(&format!("{domain}/{remainder}"))
    }

    /// [`parse_normalized`](Self::parse_normalized), then Docker's
    /// `TagNameOnly`: adds tag `latest` when there is neither tag nor digest.
    pub fn parse_with_default_tag(s: &str) -> Result<Reference, ReferenceError> {
        let mut r = Reference::parse_normalized(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_owned());
        }
        Ok(r)
    }

    /// Docker's non-normalising `Parse`: no default domain, no `library/`.
    /// The domain is empty when the name has none (`foo` → domain `""`,
    /// path `foo`; `foo/bar` → domain `foo`, path `bar`).
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        let Some(m) = grammar::match_reference(s) else {
            if s.is_empty() {
                return Err(ReferenceError::NameEmpty);
            }
            if grammar::match_reference(&s.to_lowercase()).is_some() {
                return Err(ReferenceError::NameContainsUppercase);
            }
            return Err(ReferenceError::InvalidFormat);
        };
        if m.path.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::NameTooLong);
        }
        let digest = m.digest.map(Digest::parse).transpose()?;
        Ok(Reference {
            domain: m.domain.to_owned(),
            path: m.path.to_owned(),
            tag: m.tag.map(str::to_owned),
            digest,
        })
    }

    /// The registry domain, e.g. `docker.io` or `localhost:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// True when there is neither tag nor digest (Docker's `IsNameOnly`).
    pub fn is_name_only(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }

    /// Fully qualified name without tag or digest: `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        if self.domain.is_empty() {
            self.path.clone()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// Docker's `FamiliarName`: `busybox`, `user/app`, `localhost:5000/x`.
    pub fn familiar_name(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.name();
        }
        match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
            Some(rest) if !rest.contains('/') => rest.to_owned(),
            _ => self.path.clone(),
        }
    }

    /// Docker's `FamiliarString`: `busybox:latest`, `busybox@sha256:…`,
    /// `busybox:1@sha256:…`.
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar_name();
        self.push_suffix(&mut s);
        s
    }

    /// The same name with `tag` (validated with [`validate_tag`]); any digest
    /// is dropped.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        validate_tag(tag)?;
        Ok(Reference {
            tag: Some(tag.to_owned()),
            ..self.name_only()
        })
    }

    /// The same name with digest `d`; any tag is dropped.
    pub fn with_digest(&self, d: Digest) -> Reference {
        Reference {
            digest: Some(d),
            ..self.name_only()
        }
    }

    /// The name alone, without tag or digest (Docker's `TrimNamed`).
    pub fn name_only(&self) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: None,
        }
    }

    fn push_suffix(&self, s: &mut String) {
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        self.push_suffix(&mut s);
        f.write_str(&s)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    /// Same as [`Reference::parse_normalized`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse_normalized(s)
    }
}

/// Docker's `splitDockerDomain`: split a familiar name into domain and
/// remainder (which may still carry `:tag` / `@digest`), applying the
/// `docker.io` / `library/` defaults.
fn split_docker_domain(name: &str) -> (String, String) {
    let Some((maybe_domain, maybe_remote)) = name.split_once('/') else {
        // Single element ("ubuntu", "ubuntu:latest"): never a domain.
        return (
            DEFAULT_DOMAIN.to_owned(),
            format!("{OFFICIAL_REPO_PREFIX}{name}"),
        );
    };
    let (domain, remote) = if maybe_domain == LOCALHOST
        || maybe_domain.contains(['.', ':'])
        || maybe_domain.to_lowercase() != maybe_domain
    {
        (maybe_domain, maybe_remote)
    } else {
        (DEFAULT_DOMAIN, name)
    };
    let domain = if domain == LEGACY_DEFAULT_DOMAIN {
        DEFAULT_DOMAIN
    } else {
        domain
    };
    let remote = if domain == DEFAULT_DOMAIN && !remote.contains('/') {
        format!("{OFFICIAL_REPO_PREFIX}{remote}")
    } else {
        remote.to_owned()
    };
    (domain.to_owned(), remote)
}

/// Docker's rule for a tag: `[\w][\w.-]{0,127}`. Fails with
/// `invalid tag format`.
pub fn validate_tag(tag: &str) -> Result<(), ReferenceError> {
    if grammar::is_tag(tag) {
        Ok(())
    } else {
        Err(ReferenceError::InvalidTagFormat)
    }
}

/// Is `s` a 1..=64 character lowercase-hex string that could be (a prefix of)
/// an image or container ID? A full 64-hex string is never a valid name
/// (see [`ReferenceError::IdentifierAsName`]).
pub fn is_hex_id_prefix(s: &str) -> bool {
    s.len() <= 64 && grammar::is_lower_hex(s)
}

#[cfg(test)]
mod tests;
