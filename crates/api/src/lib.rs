//! The Docker Engine API: the HTTP server the daemon runs (routes mapped onto
//! the engine, version prefixes, Docker's error shape) and the typed client
//! the `berth` CLI and the tests use.

pub mod client;
pub mod error;
pub mod hijack;
pub mod query;
pub mod routes;
pub mod server;
pub mod stream;
pub mod version;

pub use client::{Client, ClientError};
pub use server::serve;
