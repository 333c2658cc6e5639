//! Registry configuration: the [`Config`] the CLI builds from flags or reads
//! with [`Config::from_file`] from a JSON file.
//!
//! The file format (every field but `root` optional):
//!
//! ```json
//! {
//!   "addr": "0.0.0.0:5000",
//!   "root": "/var/lib/berth-registry",
//!   "tls": { "cert": "/etc/berth/registry.crt", "key": "/etc/berth/registry.key" },
//!   "auth": {
//!     "htpasswd": "/etc/berth/htpasswd",
//!     "realm": "berth-registry",
//!     "anonymous_pull": false,
//!     "token": {
//!       "realm": "https://registry.example.com/token",
//!       "service": "berth-registry",
//!       "issuer": "berth-registry",
//!       "secret_file": "/etc/berth/token.key",
//!       "expiration_secs": 300
//!     },
//!     "acl": [
//!       { "account": "alice", "repositories": ["alice/**", "shared/*"], "actions": ["pull", "push", "delete"] },
//!       { "account": "*", "repositories": ["public/**"], "actions": ["pull"] }
//!     ]
//!   },
//!   "max_manifest_bytes": 4194304,
//!   "delete_enabled": true,
//!   "max_concurrent_requests": 512
//! }
//! ```
//!
//! Authentication: no `auth.htpasswd` means no authentication; `htpasswd`
//! alone means HTTP Basic; `htpasswd` plus `token` means the bearer token
//! flow with the built-in issuer at `/token`. See [`crate::auth`].
//! Relative paths in the file are taken relative to the file's directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::RegistryError;

/// Default limit on the size of a manifest (the spec asks for at least 4 MiB).
pub const DEFAULT_MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// Everything the server needs to run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port (see [`crate::Server::local_addr`]).
    #[serde(default = "default_addr")]
    pub addr: SocketAddr,
    /// Storage directory (created if missing).
    pub root: PathBuf,
    /// Serve HTTPS with this certificate and key.
    #[serde(default)]
    pub tls: Option<TlsFiles>,
    /// Authentication and authorization.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Largest manifest accepted; bigger ones get `413`.
    #[serde(default = "default_max_manifest")]
    pub max_manifest_bytes: usize,
    /// Whether `DELETE` of manifests, tags and blobs is allowed (`405
    /// UNSUPPORTED` otherwise).
    #[serde(default = "default_true")]
    pub delete_enabled: bool,
    /// Requests served at once; more get `429 TOOMANYREQUESTS`.
    #[serde(default = "default_max_requests")]
    pub max_concurrent_requests: usize,
}

/// PEM files for TLS.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// Certificate chain (PEM), the server's certificate first.
    pub cert: PathBuf,
    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Authentication and per-repository permissions.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// htpasswd file with bcrypt entries (`htpasswd -B`). Without it, no
    /// authentication is done and everyone may do everything.
    #[serde(default)]
    pub htpasswd: Option<PathBuf>,
    /// Realm named in `WWW-Authenticate: Basic realm="..."`.
    #[serde(default = "default_realm")]
    pub realm: String,
    /// Let clients without credentials pull every repository.
    #[serde(default)]
    pub anonymous_pull: bool,
    /// Use the bearer token flow (with the built-in issuer) instead of
    /// Basic authentication.
    #[serde(default)]
    pub token: Option<TokenConfig>,
    /// Who may do what. Empty: every authenticated user may do everything.
    #[serde(default)]
    pub acl: Vec<AclEntry>,
}

/// The bearer token flow.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// URL of the token endpoint given to clients in the challenge. Default:
    /// `<scheme>://<Host header>/token`, this server's own issuer.
    #[serde(default)]
    pub realm: Option<String>,
    /// The `service` (token audience).
    #[serde(default = "default_service")]
    pub service: String,
    /// The `iss` of issued tokens.
    #[serde(default = "default_service")]
    pub issuer: String,
    /// File holding the HMAC key (at least 32 bytes). Default: a random key
    /// made at start-up, so tokens do not survive a restart.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Lifetime of issued tokens, in seconds.
    #[serde(default = "default_expiration")]
    pub expiration_secs: u64,
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig {
            realm: None,
            service: default_service(),
            issuer: default_service(),
            secret_file: None,
            expiration_secs: default_expiration(),
        }
    }
}

/// One access rule: `account` may do `actions` on repositories matching one
/// of `repositories`.
///
/// Patterns: `*` matches any run of characters within one path component,
/// `**` any run including `/`; everything else matches itself. Actions:
/// `pull`, `push`, `delete`, or `*` for all three. The account `*` stands
/// for every authenticated user.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclEntry {
    /// User name from the htpasswd file, or `*`.
    pub account: String,
    /// Repository name patterns.
    pub repositories: Vec<String>,
    /// Allowed actions.
    pub actions: Vec<String>,
}

fn default_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5000))
}
fn default_max_manifest() -> usize {
    DEFAULT_MAX_MANIFEST_BYTES
}
fn default_true() -> bool {
    true
}
fn default_max_requests() -> usize {
    512
}
fn default_realm() -> String {
    "berth-registry".to_owned()
}
fn default_service() -> String {
    "berth-registry".to_owned()
}
fn default_expiration() -> u64 {
    300
}

impl Config {
    /// A configuration with defaults: no TLS, no authentication, deletes
    /// allowed, 4 MiB manifests.
    pub fn new(addr: SocketAddr, root: impl Into<PathBuf>) -> Config {
        Config {
            addr,
            root: root.into(),
            tls: None,
            auth: AuthConfig::default(),
            max_manifest_bytes: DEFAULT_MAX_MANIFEST_BYTES,
            delete_enabled: true,
            max_concurrent_requests: default_max_requests(),
        }
    }

    /// Reads a JSON configuration file (format in the module docs).
    pub fn from_file(path: &Path) -> Result<Config, RegistryError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| RegistryError::io("read configuration file", path, e))?;
        let mut config: Config = serde_json::from_str(&text)
            .map_err(|e| RegistryError::Config(format!("{}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut config.root);
        if let Some(tls) = &mut config.tls {
            fix(&mut tls.cert);
            fix(&mut tls.key);
        }
        if let Some(h) = &mut config.auth.htpasswd {
            fix(h);
        }
        if let Some(t) = &mut config.auth.token {
            if let Some(s) = &mut t.secret_file {
                fix(s);
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks values that the types alone do not.
    pub fn validate(&self) -> Result<(), RegistryError> {
        if self.root.as_os_str().is_empty() {
            return Err(RegistryError::Config("root must not be empty".into()));
        }
        if self.max_manifest_bytes == 0 {
            return Err(RegistryError::Config(
                "max_manifest_bytes must be greater than 0".into(),
            ));
        }
        if self.max_concurrent_requests == 0 {
            return Err(RegistryError::Config(
                "max_concurrent_requests must be greater than 0".into(),
            ));
        }
        if self.auth.token.is_some() && self.auth.htpasswd.is_none() {
            return Err(RegistryError::Config(
                "auth.token needs auth.htpasswd: the built-in token issuer checks \
                 credentials against it"
                    .into(),
            ));
        }
        if !self.auth.acl.is_empty() && self.auth.htpasswd.is_none() {
            return Err(RegistryError::Config(
                "auth.acl needs auth.htpasswd: without authentication there are no accounts".into(),
            ));
        }
        for (i, rule) in self.auth.acl.iter().enumerate() {
            if rule.account.is_empty() {
                return Err(RegistryError::Config(format!(
                    "auth.acl[{i}].account must not be empty"
                )));
            }
            for a in &rule.actions {
                if !matches!(a.as_str(), "pull" | "push" | "delete" | "*") {
                    return Err(RegistryError::Config(format!(
                        "auth.acl[{i}]: unknown action {a:?} (use pull, push, delete or *)"
                    )));
                }
            }
        }
        if let Some(t) = &self.auth.token {
            if t.expiration_secs == 0 {
                return Err(RegistryError::Config(
                    "auth.token.expiration_secs must be greater than 0".into(),
                ));
            }
            if t.service.contains('"') || t.realm.as_deref().is_some_and(|r| r.contains('"')) {
                return Err(RegistryError::Config(
                    "auth.token.service and realm must not contain '\"'".into(),
                ));
            }
        }
        if self.auth.realm.contains('"') {
            return Err(RegistryError::Config(
                "auth.realm must not contain '\"'".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_file_with_defaults_and_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.json");
        std::fs::write(
            &path,
            r#"{"addr":"127.0.0.1:0","root":"data","auth":{"htpasswd":"htpasswd","token":{}}}"#,
        )
        .unwrap();
        let c = Config::from_file(&path).unwrap();
        assert_eq!(c.root, dir.path().join("data"));
        assert_eq!(
            c.auth.htpasswd.as_deref(),
            Some(&*dir.path().join("htpasswd"))
        );
        assert_eq!(c.max_manifest_bytes, DEFAULT_MAX_MANIFEST_BYTES);
        assert!(c.delete_enabled);
        let t = c.auth.token.unwrap();
        assert_eq!(t.service, "berth-registry");
        assert_eq!(t.expiration_secs, 300);
    }

    #[test]
    fn rejects_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        for (text, needle) in [
            (r#"{"root":"x","bogus":1}"#, "unknown field"),
            (r#"{"addr":"nope","root":"x"}"#, "r.json"),
            (r#"{"root":"x","auth":{"token":{}}}"#, "needs auth.htpasswd"),
            (
                r#"{"root":"x","auth":{"htpasswd":"h","acl":[{"account":"a","repositories":["*"],"actions":["fly"]}]}}"#,
                "unknown action",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let e = Config::from_file(&path).unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
        let e = Config::from_file(&dir.path().join("missing.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.json"), "{e}");
    }
}
