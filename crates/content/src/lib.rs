//! Content-addressed storage for images: the sha256 blob store and the image
//! formats (image config, OCI/Docker manifests and indexes, docker-archive
//! manifest) as Docker and OCI define them.

pub mod blobs;
pub mod image;

pub use berth_reference::Digest;
pub use blobs::{BlobStore, BlobWriter, ContentError};
