//! Authentication and authorization: htpasswd (bcrypt) accounts, HTTP Basic,
//! the bearer token flow with a built-in issuer, and per-repository ACLs.
//!
//! Modes (from [`crate::AuthConfig`]):
//! - **none**: every request may do everything.
//! - **basic**: `Authorization: Basic` checked against the htpasswd file
//!   (re-read when it changes). Missing or wrong credentials get `401
//!   UNAUTHORIZED` with `WWW-Authenticate: Basic realm="..."`; a known user
//!   without the permission gets `403 DENIED`.
//! - **token**: the registry wants `Authorization: Bearer <token>` and
//!   answers `401` with `WWW-Authenticate: Bearer realm="...",service="...",
//!   scope="repository:<name>:<actions>"` (plus `error="insufficient_scope"`
//!   when a valid token lacks the access, as distribution does; the body's
//!   code is then `DENIED` for a known account). Tokens come from `GET
//!   /token?service=..&scope=..` (Basic credentials optional: anonymous
//!   requests get what `anonymous_pull` allows) or `POST /token` with the
//!   OAuth2 password grant (containerd).
//!
//! Tokens are JWTs signed with HMAC-SHA256 (`alg: HS256`) with the claims
//! `iss`, `sub` (account, empty for anonymous), `aud` (service), `iat`,
//! `nbf`, `exp`, `jti` and distribution's `access`:
//! `[{"type":"repository","name":"foo/bar","actions":["pull","push"]}]`.
//! The issuer grants the intersection of the requested scope and the ACL.
//!
//! ACL: with no rules every authenticated account may pull, push and delete
//! everywhere; with rules an account gets the union of the rules naming it
//! (or `*`) whose pattern matches. `anonymous_pull` lets everyone pull.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::config::{AclEntry, AuthConfig};
use crate::error::RegistryError;

/// Action bits.
pub const PULL: u8 = 1;
/// Push (upload blobs, put manifests).
pub const PUSH: u8 = 2;
/// Delete manifests, tags, blobs.
pub const DELETE: u8 = 4;
/// All actions.
pub const ALL: u8 = PULL | PUSH | DELETE;

/// Names of the bits in `actions`, in scope order.
pub fn action_names(actions: u8) -> Vec<&'static str> {
    let mut v = Vec::new();
    if actions & PULL != 0 {
        v.push("pull");
    }
    if actions & PUSH != 0 {
        v.push("push");
    }
    if actions & DELETE != 0 {
        v.push("delete");
    }
    v
}

fn action_bits(names: &[String]) -> u8 {
    names.iter().fold(0, |acc, a| {
        acc | match a.as_str() {
            "pull" => PULL,
            "push" => PUSH,
            "delete" => DELETE,
            "*" => ALL,
            _ => 0,
        }
    })
}

/// What a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// Only to be authenticated (`GET /v2/`).
    Login,
    /// Actions on a repository.
    Repo(String, u8),
    /// `registry:catalog:*`.
    Catalog,
}

impl Need {
    /// The scope string clients ask the token service for.
    pub fn scope(&self) -> Option<String> {
        match self {
            Need::Login => None,
            Need::Repo(name, actions) => Some(format!(
                "repository:{name}:{}",
                action_names(*actions).join(",")
            )),
            Need::Catalog => Some("registry:catalog:*".into()),
        }
    }
}

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// No credentials.
    Anonymous,
    /// A verified account.
    User(String),
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No or bad credentials: 401 with the challenge.
    Unauthorized {
        /// `error=` parameter for bearer challenges (`invalid_token`).
        error: Option<&'static str>,
        /// Detail for the response.
        reason: String,
    },
    /// Valid credentials lacking the permission.
    Denied {
        /// The account (None: anonymous).
        account: Option<String>,
    },
}

/// One entry of a token's `access` claim.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Access {
    /// `repository` or `registry`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Repository name, or `catalog`.
    pub name: String,
    /// Granted actions.
    pub actions: Vec<String>,
}

/// Claims of issued tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Account (empty: anonymous).
    pub sub: String,
    /// Audience: the service.
    pub aud: String,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Not before.
    pub nbf: u64,
    /// Issued at.
    pub iat: u64,
    /// Unique id.
    pub jti: String,
    /// Granted access.
    #[serde(default)]
    pub access: Vec<Access>,
}

#[derive(Default)]
struct HtpasswdCache {
    stamp: Option<(SystemTime, u64)>,
    entries: Vec<(String, String)>,
}

/// The authenticator built from [`AuthConfig`].
pub struct Auth {
    config: AuthConfig,
    htpasswd: Mutex<HtpasswdCache>,
    /// Verified (account, password, hash) triples, as HMACs with a process
    /// key, so bcrypt runs once per credential rather than per request.
    verified: Mutex<HashSet<Vec<u8>>>,
    cache_key: hmac::Key,
    token_key: hmac::Key,
}

const VERIFIED_CACHE_MAX: usize = 4096;
/// A bcrypt hash of a random password, checked for unknown users so that
/// they take as long as known ones.
const DUMMY_HASH: &str = "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy";

impl Auth {
    /// Builds the authenticator; loads the htpasswd file and token key.
    pub fn new(config: &AuthConfig) -> Result<Auth, RegistryError> {
        let cache_key = hmac::Key::new(hmac::HMAC_SHA256, &random_bytes::<32>()?);
        let token_key = match config.token.as_ref().and_then(|t| t.secret_file.as_ref()) {
            Some(path) => {
                let bytes = std::fs::read(path)
                    .map_err(|e| RegistryError::io("read token secret", path, e))?;
                if bytes.len() < 32 {
                    return Err(RegistryError::Config(format!(
                        "token secret {} is {} bytes; use at least 32 random bytes \
                         (e.g. head -c 32 /dev/urandom > {})",
                        path.display(),
                        bytes.len(),
                        path.display()
                    )));
                }
                hmac::Key::new(hmac::HMAC_SHA256, &bytes)
            }
            None => hmac::Key::new(hmac::HMAC_SHA256, &random_bytes::<32>()?),
        };
        let auth = Auth {
            config: config.clone(),
            htpasswd: Mutex::new(HtpasswdCache::default()),
            verified: Mutex::new(HashSet::new()),
            cache_key,
            token_key,
        };
        if let Some(path) = &config.htpasswd {
            auth.reload_htpasswd(path)?;
        }
        Ok(auth)
    }

    /// Whether authentication is configured at all.
    pub fn enabled(&self) -> bool {
        self.config.htpasswd.is_some()
    }

    /// Whether the bearer token flow is used.
    pub fn token_mode(&self) -> bool {
        self.config.token.is_some()
    }

    /// The token service name.
    pub fn service(&self) -> &str {
        self.config
            .token
            .as_ref()
            .map(|t| t.service.as_str())
            .unwrap_or("berth-registry")
    }

    /// The Basic realm.
    pub fn realm(&self) -> &str {
        &self.config.realm
    }

    /// The configured token realm, if set.
    pub fn token_realm(&self) -> Option<&str> {
        self.config.token.as_ref().and_then(|t| t.realm.as_deref())
    }

    fn reload_htpasswd(&self, path: &PathBuf) -> Result<(), RegistryError> {
        let meta =
            std::fs::metadata(path).map_err(|e| RegistryError::io("stat htpasswd", path, e))?;
        let stamp = (
            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            meta.len(),
        );
        let mut cache = self.htpasswd.lock().unwrap_or_else(|p| p.into_inner());
        if cache.stamp == Some(stamp) {
            return Ok(());
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| RegistryError::io("read htpasswd", path, e))?;
        let mut entries = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, hash)) = line.split_once(':') else {
                tracing::warn!("{}:{}: not user:hash, ignored", path.display(), n + 1);
                continue;
            };
            if !(hash.starts_with("$2y$") || hash.starts_with("$2a$") || hash.starts_with("$2b$")) {
                tracing::warn!(
                    "{}:{}: only bcrypt entries (htpasswd -B) are supported, {user:?} ignored",
                    path.display(),
                    n + 1
                );
                continue;
            }
            entries.push((user.to_owned(), hash.to_owned()));
        }
        cache.entries = entries;
        cache.stamp = Some(stamp);
        drop(cache);
        self.verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        Ok(())
    }

    /// Checks a user name and password against the htpasswd file (bcrypt
    /// runs on the blocking pool).
    pub async fn check_password(&self, user: &str, password: &str) -> bool {
        let Some(path) = &self.config.htpasswd else {
            return false;
        };
        if let Err(e) = self.reload_htpasswd(path) {
            tracing::error!("registry: {e}; keeping the accounts loaded before");
        }
        let hash = {
            let cache = self.htpasswd.lock().unwrap_or_else(|p| p.into_inner());
            cache
                .entries
                .iter()
                .find(|(u, _)| u == user)
                .map(|(_, h)| h.clone())
        };
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let mut ctx = hmac::Context::with_key(&self.cache_key);
        for part in [
            user.as_bytes(),
            b"\0",
            password.as_bytes(),
            b"\0",
            hash.as_bytes(),
        ] {
            ctx.update(part);
        }
        let key = ctx.sign().as_ref().to_vec();
        if known
            && self
                .verified
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&key)
        {
            return true;
        }
        let password = password.to_owned();
        let ok =
            tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
        if ok && known {
            let mut v = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            if v.len() >= VERIFIED_CACHE_MAX {
                v.clear();
            }
            v.insert(key);
            return true;
        }
        false
    }

    /// The actions `identity` may do on `repo` per the ACL.
    pub fn permitted(&self, identity: &Identity, repo: &str) -> u8 {
        match identity {
            Identity::Anonymous => {
                if !self.enabled() {
                    ALL
                } else if self.config.anonymous_pull {
                    PULL
                } else {
                    0
                }
            }
            Identity::User(user) => {
                let base = if self.config.anonymous_pull { PULL } else { 0 };
                if self.config.acl.is_empty() {
                    return ALL;
                }
                self.config
                    .acl
                    .iter()
                    .filter(|r| r.account == *user || r.account == "*")
                    .filter(|r| rule_matches(r, repo))
                    .fold(base, |acc, r| acc | action_bits(&r.actions))
            }
        }
    }

    /// Whether `identity` may list the catalog.
    pub fn catalog_allowed(&self, identity: &Identity) -> bool {
        match identity {
            Identity::Anonymous => !self.enabled() || self.config.anonymous_pull,
            Identity::User(_) => true,
        }
    }

    // ---- tokens -------------------------------------------------------------

    /// Issues a token for `account` with the granted `access`; returns it
    /// with its lifetime in seconds.
    pub fn issue_token(
        &self,
        account: Option<&str>,
        access: Vec<Access>,
    ) -> Result<(String, u64), RegistryError> {
        let t = self.config.token.clone().unwrap_or_default();
        let now = crate::storage::now_secs();
        let claims = Claims {
            iss: t.issuer.clone(),
            sub: account.unwrap_or("").to_owned(),
            aud: t.service.clone(),
            exp: now + t.expiration_secs,
            nbf: now.saturating_sub(10),
            iat: now,
            jti: hex::encode(random_bytes::<16>()?),
            access,
        };
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let signing_input = format!("{header}.{payload}");
        let sig = hmac::sign(&self.token_key, signing_input.as_bytes());
        Ok((
            format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())),
            t.expiration_secs,
        ))
    }

    /// Verifies a token's signature, issuer, audience and validity period.
    pub fn verify_token(&self, token: &str) -> Result<Claims, String> {
        let t = self.config.token.clone().unwrap_or_default();
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("malformed token".into());
        };
        let header = URL_SAFE_NO_PAD
            .decode(h)
            .map_err(|_| "malformed token header")?;
        let header: serde_json::Value =
            serde_json::from_slice(&header).map_err(|_| "malformed token header")?;
        if header["alg"] != "HS256" {
            return Err("unsupported token algorithm".into());
        }
        let sig = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| "malformed token signature")?;
        hmac::verify(&self.token_key, format!("{h}.{p}").as_bytes(), &sig)
            .map_err(|_| "token signature is not valid")?;
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or("malformed token claims")?;
        let now = crate::storage::now_secs();
        if claims.iss != t.issuer || claims.aud != t.service {
            return Err("token was issued for another service".into());
        }
        if claims.exp <= now {
            return Err("token has expired".into());
        }
        if claims.nbf > now + 60 {
            return Err("token is not valid yet".into());
        }
        Ok(claims)
    }

    /// The access granted for a token request: each scope intersected with
    /// what the identity may do.
    pub fn grant(&self, identity: &Identity, scopes: &[String]) -> Vec<Access> {
        let mut out: Vec<Access> = Vec::new();
        for scope in scopes.iter().flat_map(|s| s.split(' ')) {
            let Some((kind, rest)) = scope.split_once(':') else {
                continue;
            };
            let Some((name, actions)) = rest.rsplit_once(':') else {
                continue;
            };
            let wanted: Vec<String> = actions.split(',').map(str::to_owned).collect();
            match kind {
                "repository" => {
                    if crate::names::validate_name(name).is_err() {
                        continue;
                    }
                    let granted = action_bits(&wanted) & self.permitted(identity, name);
                    if granted == 0 {
                        continue;
                    }
                    let names: Vec<String> = action_names(granted)
                        .into_iter()
                        .map(str::to_owned)
                        .collect();
                    match out
                        .iter_mut()
                        .find(|a| a.kind == "repository" && a.name == name)
                    {
                        Some(a) => {
                            for n in names {
                                if !a.actions.contains(&n) {
                                    a.actions.push(n);
                                }
                            }
                        }
                        None => out.push(Access {
                            kind: "repository".into(),
                            name: name.to_owned(),
                            actions: names,
                        }),
                    }
                }
                "registry"
                    if name == "catalog"
                        && wanted.iter().any(|a| a == "*")
                        && self.catalog_allowed(identity)
                        && !out.iter().any(|a| a.kind == "registry") =>
                {
                    out.push(Access {
                        kind: "registry".into(),
                        name: "catalog".into(),
                        actions: vec!["*".into()],
                    });
                }
                _ => {}
            }
        }
        out
    }
}

/// Whether a token's claims cover `need`.
pub fn claims_cover(claims: &Claims, need: &Need) -> bool {
    match need {
        Need::Login => true,
        Need::Catalog => claims
            .access
            .iter()
            .any(|a| a.kind == "registry" && a.name == "catalog"),
        Need::Repo(name, actions) => {
            let have = claims
                .access
                .iter()
                .filter(|a| a.kind == "repository" && a.name == *name)
                .fold(0, |acc, a| acc | action_bits(&a.actions));
            have & actions == *actions
        }
    }
}

/// Decodes `Authorization: Basic ...` into user and password.
pub fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(rest.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

/// The token of `Authorization: Bearer ...`.
pub fn parse_bearer(header: &str) -> Option<&str> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

fn rule_matches(rule: &AclEntry, repo: &str) -> bool {
    rule.repositories
        .iter()
        .any(|p| glob(p.as_bytes(), repo.as_bytes()))
}

/// `*` matches within a path component, `**` across components.
pub fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.first() {
        None => text.is_empty(),
        Some(b'*') if pattern.get(1) == Some(&b'*') => {
            let rest = &pattern[2..];
            (0..=text.len()).any(|i| glob(rest, &text[i..]))
        }
        Some(b'*') => {
            let rest = &pattern[1..];
            for i in 0..=text.len() {
                if glob(rest, &text[i..]) {
                    return true;
                }
                if i < text.len() && text[i] == b'/' {
                    break;
                }
            }
            false
        }
        Some(&c) => text.first() == Some(&c) && glob(&pattern[1..], &text[1..]),
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N], RegistryError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b)
        .map_err(|e| RegistryError::Config(format!("no randomness available: {e}")))?;
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TokenConfig;

    #[test]
    fn globs() {
        assert!(glob(b"alice/*", b"alice/app"));
        assert!(!glob(b"alice/*", b"alice/app/x"));
        assert!(glob(b"alice/**", b"alice/app/x"));
        assert!(glob(b"*", b"busybox"));
        assert!(!glob(b"*", b"a/b"));
        assert!(glob(b"**", b"a/b"));
        assert!(glob(b"lib*/x", b"library/x"));
        assert!(!glob(b"alice", b"alice2"));
    }

    fn auth(acl: Vec<AclEntry>, anonymous_pull: bool) -> Auth {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("htpasswd");
        std::fs::write(&path, "").unwrap();
        let config = AuthConfig {
            htpasswd: Some(path),
            realm: "r".into(),
            anonymous_pull,
            token: Some(TokenConfig::default()),
            acl,
        };
        Auth::new(&config).unwrap()
    }

    #[test]
    fn acl_and_grants() {
        let a = auth(
            vec![
                AclEntry {
                    account: "alice".into(),
                    repositories: vec!["alice/**".into()],
                    actions: vec!["*".into()],
                },
                AclEntry {
                    account: "*".into(),
                    repositories: vec!["public/*".into()],
                    actions: vec!["pull".into()],
                },
            ],
            false,
        );
        let alice = Identity::User("alice".into());
        let bob = Identity::User("bob".into());
        assert_eq!(a.permitted(&alice, "alice/x/y"), ALL);
        assert_eq!(a.permitted(&bob, "alice/x"), 0);
        assert_eq!(a.permitted(&bob, "public/x"), PULL);
        assert_eq!(a.permitted(&Identity::Anonymous, "public/x"), 0);
        let g = a.grant(
            &bob,
            &["repository:public/x:pull,push repository:alice/x:pull".into()],
        );
        assert_eq!(
            g,
            vec![Access {
                kind: "repository".into(),
                name: "public/x".into(),
                actions: vec!["pull".into()]
            }]
        );
    }

    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let a = auth(vec![], true);
        let access = vec![Access {
            kind: "repository".into(),
            name: "foo".into(),
            actions: vec!["pull".into()],
        }];
        let (tok, _) = a.issue_token(Some("alice"), access).unwrap();
        let c = a.verify_token(&tok).unwrap();
        assert_eq!(c.sub, "alice");
        assert!(claims_cover(&c, &Need::Repo("foo".into(), PULL)));
        assert!(!claims_cover(&c, &Need::Repo("foo".into(), PULL | PUSH)));
        assert!(!claims_cover(&c, &Need::Repo("bar".into(), PULL)));
        // Flip a character of the payload.
        let mut parts: Vec<String> = tok.split('.').map(str::to_owned).collect();
        let fake = serde_json::json!({"iss":"berth-registry","sub":"root","aud":"berth-registry",
            "exp": u64::MAX, "nbf": 0, "iat": 0, "jti": "x",
            "access":[{"type":"repository","name":"foo","actions":["push"]}]});
        parts[1] = URL_SAFE_NO_PAD.encode(fake.to_string());
        assert!(a.verify_token(&parts.join(".")).is_err());
        // A token from another key.
        let other = auth(vec![], true);
        let (tok2, _) = other.issue_token(None, vec![]).unwrap();
        assert!(a.verify_token(&tok2).is_err());
        assert!(a.verify_token("garbage").is_err());
    }

    #[test]
    fn dummy_hash_is_a_valid_bcrypt_hash() {
        assert_eq!(bcrypt::verify("x", DUMMY_HASH).ok(), Some(false));
    }

    #[tokio::test]
    async fn htpasswd_reload_and_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("htpasswd");
        let hash = bcrypt::hash("pw", 4).unwrap();
        std::fs::write(&path, format!("u:{hash}\n")).unwrap();
        let a = Auth::new(&AuthConfig {
            htpasswd: Some(path.clone()),
            ..AuthConfig::default()
        })
        .unwrap();
        assert!(a.check_password("u", "pw").await);
        assert!(a.check_password("u", "pw").await, "cached");
        assert!(!a.check_password("u", "nope").await);
        assert!(!a.check_password("v", "pw").await);
        // The file changes: the old password stops working at once.
        let hash2 = bcrypt::hash("pw2", 4).unwrap();
        std::fs::write(&path, format!("u:{hash2}\nv:{hash2}\n")).unwrap();
        assert!(!a.check_password("u", "pw").await);
        assert!(a.check_password("v", "pw2").await);
    }

    #[test]
    fn basic_header() {
        let h = format!("Basic {}", STANDARD.encode("u:p:q"));
        assert_eq!(parse_basic(&h), Some(("u".into(), "p:q".into())));
        assert_eq!(parse_basic("Bearer x"), None);
        assert_eq!(parse_bearer("Bearer abc"), Some("abc"));
    }
}
