//! `berth-compose`: the compose file model, as a pure library.
//!
//! [`load`] finds and reads compose files (compose v2 semantics: the
//! compose specification, file versions 2.x/3.x and versionless, the
//! `version` key ignored), interpolates variables, validates against the
//! specification's schema, merges several files and `extends`, and returns
//! a typed, normalised [`Project`]. [`engine`] turns services into Docker
//! Engine API create bodies with compose's names and labels ([`v1`]:
//! docker-compose 1.29's config hash, which berth writes), [`config`]
//! renders `docker compose config`, and [`Project::start_order`] and
//! friends order services by their dependencies.

mod canonical;
pub mod config;
mod dotenv;
pub mod engine;
mod error;
mod graph;
pub mod interpolate;
mod loader;
mod merge;
mod model;
mod schema;
pub mod syntax;
pub mod v1;
mod yaml;

pub use dotenv::{parse_env, read_env_file};
pub use error::{ComposeError, Result};
pub use loader::{
    load, normalize_project_name, LoadOptions, DEFAULT_FILE_NAMES, DEFAULT_OVERRIDE_FILE_NAMES,
};
pub use model::*;
