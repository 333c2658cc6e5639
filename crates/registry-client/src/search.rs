//! The v1 search answer (`GET /v1/search?q=TERM&n=LIMIT`), as Docker Hub
//! and berth's registry give it and as the Engine API passes it on.

use serde::{Deserialize, Serialize};

/// Docker's default number of search results.
pub const DEFAULT_SEARCH_LIMIT: u32 = 25;

/// One repository found.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SearchResult {
    /// Repository name (`alumno/busybox`, `busybox` for official images).
    #[serde(default)]
    pub name: String,
    /// Short description.
    #[serde(default)]
    pub description: String,
    /// Stars.
    #[serde(default)]
    pub star_count: u64,
    /// An official image.
    #[serde(default)]
    pub is_official: bool,
    /// An automated build (deprecated: Docker reports `false`).
    #[serde(default)]
    pub is_automated: bool,
}

/// A search answer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SearchResults {
    /// How many repositories match (may exceed `results`).
    #[serde(default)]
    pub num_results: u64,
    /// The term searched for.
    #[serde(default)]
    pub query: String,
    /// The repositories, at most the limit asked for.
    #[serde(default)]
    pub results: Vec<SearchResult>,
}
