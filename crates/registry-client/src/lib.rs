//! `berth-registry-client`: a client for the Docker registry v2 / OCI
//! distribution API (Docker Hub, distribution, berth's own registry).
//!
//! * [`Client`] holds the HTTP connections (hyper 1 + rustls), the daemon's
//!   registry settings ([`ClientConfig`]: insecure registries, mirrors, CA
//!   files, timeouts) and caches pings and bearer tokens.
//! * [`RepositoryClient`] does the work on one repository with one set of
//!   [`Credentials`]: manifests ([`RepositoryClient::fetch_manifest`]),
//!   blobs (streamed, verified, resumable downloads; monolithic or chunked
//!   uploads; cross-repository mounts), tags.
//! * [`Client::search`] asks a registry's v1 search (`docker search`).
//! * [`Client::download`] fetches any http(s) URL into a file (Dockerfile
//!   `ADD <url>`) with the same trust store.
//! * [`credentials`] reads and writes `~/.docker/config.json` and credential
//!   helpers, and decodes the API's `X-Registry-Auth` header.
//!
//! Everything received is verified: manifests against the digest asked for
//! and `Docker-Content-Digest` (and capped in size), blobs against their
//! digest and size while they stream.

mod auth;
mod blob;
pub mod challenge;
mod client;
pub mod credentials;
pub mod download;
pub mod endpoint;
mod error;
pub mod search;
mod transport;
mod verify;

pub use blob::{BlobReader, BlobSource};
pub use client::{
    BlobPush, Client, ClientConfig, Login, ManifestInfo, Ping, Repository, RepositoryClient,
    Resolved,
};
pub use credentials::{AuthConfig, ConfigFile, Credentials};
pub use download::Download;
pub use endpoint::Endpoint;
pub use error::{Error, ErrorKind, RegistryError};
pub use search::{SearchResult, SearchResults};
pub use transport::Timeouts;
pub use verify::{digest_bytes, BlobHasher};

pub use berth_reference::{Digest, Reference};
