//! The crate's error type: every failure of loading, validating or
//! converting a compose project, with compose's wording where compose has one.

use std::path::PathBuf;

/// Everything that can go wrong while loading or converting a compose project.
///
/// The `Display` text is what a user sees; it names the file and/or the
/// path inside the file (`services.web.image`) that is at fault.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// No compose file was given and none of the default names exists.
    #[error("no configuration file provided: not found (looked for {candidates} in {dir} and its parents)")]
    NoConfigFile {
        /// Directory where the search started.
        dir: PathBuf,
        /// The names that were looked for.
        candidates: String,
    },
    /// A file (compose file, env file, extended file) could not be read.
    #[error("failed to read {path}: {source}")]
    Io {
        /// The file that could not be read.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The YAML of a compose file is malformed.
    #[error("failed to parse {file}: {message}")]
    Parse {
        /// The file being parsed.
        file: String,
        /// What the parser said.
        message: String,
    },
    /// Variable substitution failed (bad `${` syntax, `${X:?msg}` unset...).
    #[error("{0}")]
    Interpolation(String),
    /// The file does not follow the compose specification's schema.
    #[error("validating {file}: {message}")]
    Schema {
        /// The file that holds the offending value.
        file: String,
        /// `services.web Additional property imagee is not allowed`...
        message: String,
    },
    /// An env file (`.env`, `--env-file`, `env_file:`) is malformed.
    #[error("failed to read {path}: {message}")]
    EnvFile {
        /// The env file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The project is inconsistent (undefined network or volume, service
    /// without image nor build, conflicting options...).
    #[error("{0}")]
    Invalid(String),
    /// `depends_on` (or links, `network_mode: service:`...) form a cycle.
    #[error("dependency cycle detected: {0}")]
    Cycle(String),
    /// The project name given with `-p` or `COMPOSE_PROJECT_NAME` is not valid.
    #[error("invalid project name {0:?}: must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number")]
    ProjectName(String),
    /// A service named on the command line does not exist.
    #[error("no such service: {0}")]
    NoSuchService(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = ComposeError> = std::result::Result<T, E>;

/// Renders a path inside a compose document the way compose prints it:
/// keys joined with dots, sequence indexes as `[N]` (`services.web.ports[0]`).
pub(crate) fn render_path(path: &[String]) -> String {
    let mut out = String::new();
    for seg in path {
        if seg.starts_with('[') {
            out.push_str(seg);
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

/// Whether a concrete path matches a pattern: `*` matches any key or index,
/// `[]` matches any sequence index, anything else matches itself.
pub(crate) fn path_matches(path: &[String], pattern: &[&str]) -> bool {
    path.len() == pattern.len()
        && path.iter().zip(pattern).all(|(seg, pat)| match *pat {
            "*" => true,
            "[]" => seg.starts_with('['),
            p => seg == p,
        })
}
