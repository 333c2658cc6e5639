//! berth's image registry: an OCI distribution spec v1.1 / Docker registry
//! HTTP API v2 server over a local directory (`berth registry serve`).
//!
//! - [`bind`] + [`Server::run`] (or [`serve`]) run the HTTP(S) server;
//!   [`Config`] comes from flags or [`Config::from_file`] (JSON).
//! - [`gc()`] / [`gc_with`] collect unreferenced blobs, also while the server
//!   runs.
//!
//! Modules: [`config`] (settings and file format), `http` (routing and
//! handlers), `server` (listener, TLS, shutdown), [`storage`] (on-disk
//! layout, crash-safe writes), [`manifest`] (manifest kinds and references),
//! [`auth`] (htpasswd, Basic, bearer tokens, ACL), [`mod@gc`], [`names`]
//! (what URLs may contain), [`hash`] (resumable hashing), [`error`] (spec
//! error codes).

pub mod auth;
pub mod config;
pub mod error;
pub mod gc;
pub mod hash;
mod http;
pub mod manifest;
pub mod names;
mod server;
pub mod storage;

pub use config::{AclEntry, AuthConfig, Config, TlsFiles, TokenConfig};
pub use error::{ApiError, ErrorCode, RegistryError};
pub use gc::{gc, gc_with, GcOptions, GcReport};
pub use server::{bind, serve, Server};
