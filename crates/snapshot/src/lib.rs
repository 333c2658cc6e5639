//! Layer storage for berth: applying image layers (tar streams in the
//! Docker/OCI layer format) into overlayfs "diff" directories, and the
//! small filesystem helpers that go with them ([`dir_size`],
//! [`remove_tree`]).
//!
//! Everything here works on file descriptors with `*at` syscalls and
//! `openat2(RESOLVE_IN_ROOT)`, so that a hostile layer can never make us
//! write, follow or delete anything outside the directory we were given.

#![warn(missing_docs)]

mod apply;
mod error;
mod names;
mod tree;

pub mod init_layer;
pub mod mount;

pub use apply::{apply_layer, ApplyOptions, ApplyStats};
pub use error::ApplyError;
pub use tree::{dir_size, remove_tree};
