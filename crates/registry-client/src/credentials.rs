//! Registry credentials: the [`Credentials`] the client authenticates with,
//! Docker's `AuthConfig` and the API's `X-Registry-Auth` / `X-Registry-Config`
//! headers (base64url JSON), and `~/.docker/config.json` read and written the
//! way the docker CLI does it (`auths` with base64 `auth`, `credsStore` and
//! `credHelpers` running `docker-credential-NAME get|store|erase`).

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::Digest as _;

use crate::endpoint::is_docker_hub;
use crate::Error;

/// The username a credential helper uses to say "the secret is an identity
/// token".
const TOKEN_USERNAME: &str = "<token>";
/// What credential helpers print when they have nothing for a server.
const NOT_FOUND_MESSAGE: &str = "credentials not found in native keychain";

/// Credentials for one registry.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// User name (Basic auth, and `account` at the token server).
    pub username: String,
    /// Password (or personal access token).
    pub password: String,
    /// OAuth2 refresh token from an earlier login (`identitytoken`).
    pub identity_token: String,
    /// A bearer token to send to the registry as is (`registrytoken`).
    pub registry_token: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |s: &str| if s.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &redact(&self.password))
            .field("identity_token", &redact(&self.identity_token))
            .field("registry_token", &redact(&self.registry_token))
            .finish()
    }
}

impl Credentials {
    /// User name and password.
    pub fn basic(username: &str, password: &str) -> Credentials {
        Credentials {
            username: username.to_owned(),
            password: password.to_owned(),
            ..Credentials::default()
        }
    }

    /// True when nothing is set (anonymous).
    pub fn is_empty(&self) -> bool {
        self.username.is_empty()
            && self.password.is_empty()
            && self.identity_token.is_empty()
            && self.registry_token.is_empty()
    }

    /// A short fingerprint identifying these credentials (for token caches;
    /// never the secrets themselves).
    pub(crate) fn cache_id(&self) -> String {
        let mut h = sha2::Sha256::new();
        for part in [
            &self.username,
            &self.password,
            &self.identity_token,
            &self.registry_token,
        ] {
            h.update(part.as_bytes());
            h.update([0u8]);
        }
        hex::encode(&h.finalize()[..16])
    }
}

/// Docker's `AuthConfig` (`X-Registry-Auth`, `POST /auth`, config.json
/// entries). Field names are matched case-insensitively on input, as Go does.
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuthConfig {
    /// User name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// Password.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub password: String,
    /// base64 of `username:password` (config.json form).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub auth: String,
    /// E-mail (deprecated, kept).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub email: String,
    /// The registry the entry is for.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub serveraddress: String,
    /// OAuth2 refresh token.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub identitytoken: String,
    /// Bearer token for the registry.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub registrytoken: String,
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("username", &self.username)
            .field("serveraddress", &self.serveraddress)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

impl<'de> Deserialize<'de> for AuthConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = Map::<String, Value>::deserialize(d)?;
        Ok(AuthConfig::from_map(&map))
    }
}

impl AuthConfig {
    fn from_map(map: &Map<String, Value>) -> AuthConfig {
        let mut a = AuthConfig::default();
        for (k, v) in map {
            let Some(v) = v.as_str() else { continue };
            let slot = match k.to_ascii_lowercase().as_str() {
                "username" => &mut a.username,
                "password" => &mut a.password,
                "auth" => &mut a.auth,
                "email" => &mut a.email,
                "serveraddress" => &mut a.serveraddress,
                "identitytoken" => &mut a.identitytoken,
                "registrytoken" => &mut a.registrytoken,
                _ => continue,
            };
            *slot = v.to_owned();
        }
        a
    }

    /// The credentials, decoding `auth` when no user name/password is given.
    pub fn credentials(&self) -> Result<Credentials, Error> {
        let (mut username, mut password) = (self.username.clone(), self.password.clone());
        if username.is_empty() && password.is_empty() && !self.auth.is_empty() {
            (username, password) = decode_auth(&self.auth)?;
        }
        Ok(Credentials {
            username,
            password,
            identity_token: self.identitytoken.clone(),
            registry_token: self.registrytoken.clone(),
        })
    }

    /// An `AuthConfig` for `credentials` at `server`.
    pub fn from_credentials(server: &str, c: &Credentials) -> AuthConfig {
        AuthConfig {
            username: c.username.clone(),
            password: c.password.clone(),
            serveraddress: server.to_owned(),
            identitytoken: c.identity_token.clone(),
            registrytoken: c.registry_token.clone(),
            ..AuthConfig::default()
        }
    }
}

/// Decodes config.json's `auth`: base64 of `user:password`.
fn decode_auth(auth: &str) -> Result<(String, String), Error> {
    let raw = decode_base64_lenient(auth).ok_or_else(|| {
        Error::Credentials("invalid auth configuration file: auth is not base64".into())
    })?;
    let s = String::from_utf8(raw).map_err(|_| {
        Error::Credentials("invalid auth configuration file: auth is not UTF-8".into())
    })?;
    match s.split_once(':') {
        Some((u, p)) => Ok((u.to_owned(), p.trim_end_matches('\0').to_owned())),
        None => Err(Error::Credentials(
            "invalid auth configuration file: auth is not user:password".into(),
        )),
    }
}

fn decode_base64_lenient(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    [URL_SAFE, URL_SAFE_NO_PAD, STANDARD, STANDARD_NO_PAD]
        .iter()
        .find_map(|e| e.decode(&s).ok())
}

/// Decodes the `X-Registry-Auth` header (base64url JSON `AuthConfig`; padded
/// or not, standard alphabet accepted too). Empty → default.
pub fn decode_registry_auth(header: &str) -> Result<AuthConfig, Error> {
    let header = header.trim();
    if header.is_empty() {
        return Ok(AuthConfig::default());
    }
    let raw = decode_base64_lenient(header).ok_or_else(|| {
        Error::InvalidInput("invalid X-Registry-Auth header: not base64url".into())
    })?;
    if raw.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(AuthConfig::default());
    }
    serde_json::from_slice::<AuthConfig>(&raw)
        .map_err(|e| Error::InvalidInput(format!("invalid X-Registry-Auth header: {e}")))
}

/// Encodes an `AuthConfig` for `X-Registry-Auth` (base64url JSON, padded,
/// as the docker CLI sends it).
pub fn encode_registry_auth(auth: &AuthConfig) -> String {
    let json = serde_json::to_vec(auth).unwrap_or_else(|_| b"{}".to_vec());
    base64::engine::general_purpose::URL_SAFE.encode(json)
}

/// Decodes `X-Registry-Config` (base64url JSON map from registry to
/// `AuthConfig`, sent by `docker build`).
pub fn decode_registry_config(header: &str) -> Result<BTreeMap<String, AuthConfig>, Error> {
    let header = header.trim();
    if header.is_empty() {
        return Ok(BTreeMap::new());
    }
    let raw = decode_base64_lenient(header).ok_or_else(|| {
        Error::InvalidInput("invalid X-Registry-Config header: not base64url".into())
    })?;
    serde_json::from_slice(&raw)
        .map_err(|e| Error::InvalidInput(format!("invalid X-Registry-Config header: {e}")))
}

/// Docker's `ConvertToHostname`: `https://index.docker.io/v1/` →
/// `index.docker.io`.
pub fn convert_to_hostname(server: &str) -> &str {
    let s = server
        .strip_prefix("http://")
        .or_else(|| server.strip_prefix("https://"))
        .unwrap_or(server);
    s.split('/').next().unwrap_or(s)
}

/// Docker's `ResolveAuthConfig`: the entry of `configs` for registry
/// `domain` (`https://index.docker.io/v1/` for Docker Hub), also under a
/// legacy key with scheme or path.
pub fn find_auth<'a>(
    configs: &'a BTreeMap<String, AuthConfig>,
    domain: &str,
) -> Option<&'a AuthConfig> {
    let key = crate::endpoint::auth_key(domain);
    if let Some(c) = configs.get(&key) {
        return Some(c);
    }
    if is_docker_hub(domain) {
        return None;
    }
    configs
        .iter()
        .find(|(k, _)| convert_to_hostname(k) == key)
        .map(|(_, v)| v)
}

/// The docker CLI's `config.json`: the whole document is kept (unknown keys
/// survive a save); credentials live in `auths`, or in credential helpers.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    path: PathBuf,
    doc: Map<String, Value>,
    helper_dir: Option<PathBuf>,
}

/// What a credential helper prints and reads.
#[derive(Serialize, Deserialize)]
struct HelperCreds {
    #[serde(rename = "ServerURL", default)]
    server_url: String,
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

impl ConfigFile {
    /// `$DOCKER_CONFIG/config.json`, or `~/.docker/config.json`.
    pub fn default_path() -> Result<PathBuf, Error> {
        if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
            return Ok(PathBuf::from(dir).join("config.json"));
        }
        match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            Some(home) => Ok(PathBuf::from(home).join(".docker").join("config.json")),
            None => Err(Error::Credentials(
                "cannot find the docker config directory: set HOME or DOCKER_CONFIG".into(),
            )),
        }
    }

    /// Loads `path`; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<ConfigFile, Error> {
        let doc = match std::fs::read(path) {
            Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(b) => serde_json::from_slice::<Map<String, Value>>(&b).map_err(|e| {
                Error::Credentials(format!(
                    "loading config file {}: {e}; fix or remove the file",
                    path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(e) => {
                return Err(Error::Io {
                    what: format!("reading {}", path.display()),
                    source: e,
                })
            }
        };
        Ok(ConfigFile {
            path: path.to_owned(),
            doc,
            helper_dir: None,
        })
    }

    /// Loads the file at [`default_path`](Self::default_path).
    pub fn load_default() -> Result<ConfigFile, Error> {
        ConfigFile::load(&Self::default_path()?)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Looks for `docker-credential-*` programs in `dir` instead of `$PATH`.
    pub fn set_helper_dir(&mut self, dir: Option<PathBuf>) {
        self.helper_dir = dir;
    }

    /// `credsStore`, if set.
    pub fn creds_store(&self) -> Option<&str> {
        self.doc
            .get("credsStore")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The helper for `server` from `credHelpers`, else `credsStore`.
    pub fn helper_for(&self, server: &str) -> Option<&str> {
        if let Some(helpers) = self.doc.get("credHelpers").and_then(Value::as_object) {
            let host = convert_to_hostname(server);
            for k in [server, host] {
                if let Some(h) = helpers
                    .get(k)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                {
                    return Some(h);
                }
            }
        }
        self.creds_store()
    }

    /// The registries with an `auths` entry or a `credHelpers` entry.
    pub fn servers(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for key in ["auths", "credHelpers"] {
            if let Some(m) = self.doc.get(key).and_then(Value::as_object) {
                for k in m.keys() {
                    if !out.contains(k) {
                        out.push(k.clone());
                    }
                }
            }
        }
        out
    }

    fn auths(&self) -> Option<&Map<String, Value>> {
        self.doc.get("auths").and_then(Value::as_object)
    }

    fn auths_mut(&mut self) -> &mut Map<String, Value> {
        let entry = self
            .doc
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        match entry {
            Value::Object(m) => m,
            _ => unreachable!("auths was just made an object"),
        }
    }

    /// The `auths` key matching `server` (exact, or same host).
    fn auth_key_for(&self, server: &str) -> Option<String> {
        let auths = self.auths()?;
        if auths.contains_key(server) {
            return Some(server.to_owned());
        }
        let host = convert_to_hostname(server);
        auths
            .keys()
            .find(|k| convert_to_hostname(k) == host)
            .cloned()
    }

    fn file_get(&self, server: &str) -> Result<Option<AuthConfig>, Error> {
        let Some(key) = self.auth_key_for(server) else {
            return Ok(None);
        };
        let Some(Value::Object(entry)) = self.auths().and_then(|a| a.get(&key)) else {
            return Ok(None);
        };
        let mut a = AuthConfig::from_map(entry);
        if !a.auth.is_empty() {
            let (u, p) = decode_auth(&a.auth)?;
            a.username = u;
            a.password = p;
            a.auth.clear();
        }
        a.serveraddress = server.to_owned();
        Ok(Some(a))
    }

    /// The credentials stored for `server` (`https://index.docker.io/v1/`
    /// for Docker Hub, `host[:port]` otherwise); `None` when there are none.
    pub fn get(&self, server: &str) -> Result<Option<AuthConfig>, Error> {
        let Some(helper) = self.helper_for(server) else {
            return Ok(self.file_get(server)?.filter(|a| {
                !a.username.is_empty()
                    || !a.identitytoken.is_empty()
                    || !a.password.is_empty()
                    || !a.registrytoken.is_empty()
            }));
        };
        let out = match self.run_helper(helper, "get", server.as_bytes()) {
            Ok(out) => out,
            Err(HelperError::NotFound) => return Ok(None),
            Err(HelperError::Failed(msg)) => {
                return Err(Error::Credentials(format!(
                    "error getting credentials - {msg}"
                )))
            }
        };
        let c: HelperCreds = serde_json::from_slice(&out).map_err(|e| {
            Error::Credentials(format!(
                "error getting credentials - credential helper docker-credential-{helper} printed invalid JSON: {e}"
            ))
        })?;
        let mut a = AuthConfig {
            serveraddress: server.to_owned(),
            ..AuthConfig::default()
        };
        if let Ok(Some(f)) = self.file_get(server) {
            a.email = f.email;
        }
        if c.username == TOKEN_USERNAME {
            a.identitytoken = c.secret;
        } else {
            a.username = c.username;
            a.password = c.secret;
        }
        Ok(Some(a))
    }

    /// Stores credentials for `server` (in its helper, or base64 in `auths`)
    /// and saves the file.
    pub fn store(&mut self, server: &str, auth: &AuthConfig) -> Result<(), Error> {
        let mut entry = Map::new();
        if let Some(helper) = self.helper_for(server).map(str::to_owned) {
            let creds = if auth.identitytoken.is_empty() {
                HelperCreds {
                    server_url: server.to_owned(),
                    username: auth.username.clone(),
                    secret: auth.password.clone(),
                }
            } else {
                HelperCreds {
                    server_url: server.to_owned(),
                    username: TOKEN_USERNAME.to_owned(),
                    secret: auth.identitytoken.clone(),
                }
            };
            let input = serde_json::to_vec(&creds)
                .map_err(|e| Error::Credentials(format!("encoding credentials: {e}")))?;
            match self.run_helper(&helper, "store", &input) {
                Ok(_) => {}
                Err(HelperError::NotFound) => {
                    return Err(Error::Credentials(format!(
                    "error storing credentials - docker-credential-{helper}: {NOT_FOUND_MESSAGE}"
                )))
                }
                Err(HelperError::Failed(msg)) => {
                    return Err(Error::Credentials(format!(
                        "error storing credentials - {msg}"
                    )))
                }
            }
        } else {
            if !auth.username.is_empty() || !auth.password.is_empty() {
                let enc = base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", auth.username, auth.password));
                entry.insert("auth".into(), Value::String(enc));
            }
            if !auth.identitytoken.is_empty() {
                entry.insert(
                    "identitytoken".into(),
                    Value::String(auth.identitytoken.clone()),
                );
            }
            if !auth.registrytoken.is_empty() {
                entry.insert(
                    "registrytoken".into(),
                    Value::String(auth.registrytoken.clone()),
                );
            }
        }
        if !auth.email.is_empty() {
            entry.insert("email".into(), Value::String(auth.email.clone()));
        }
        let auths = self.auths_mut();
        let host = convert_to_hostname(server).to_owned();
        auths.retain(|k, _| k == server || convert_to_hostname(k) != host);
        auths.insert(server.to_owned(), Value::Object(entry));
        self.save()
    }

    /// Removes the credentials for `server` (helper and `auths`) and saves.
    /// Nothing stored is not an error.
    pub fn erase(&mut self, server: &str) -> Result<(), Error> {
        if let Some(helper) = self.helper_for(server).map(str::to_owned) {
            match self.run_helper(&helper, "erase", server.as_bytes()) {
                Ok(_) | Err(HelperError::NotFound) => {}
                Err(HelperError::Failed(msg)) => {
                    return Err(Error::Credentials(format!(
                        "error erasing credentials - {msg}"
                    )))
                }
            }
        }
        let host = convert_to_hostname(server).to_owned();
        if let Some(Value::Object(auths)) = self.doc.get_mut("auths") {
            auths.retain(|k, _| k != server && convert_to_hostname(k) != host);
        }
        self.save()
    }

    /// Writes the file as the docker CLI does: tab-indented JSON, mode 0600,
    /// through a temporary file renamed into place.
    pub fn save(&self) -> Result<(), Error> {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let io_err = |what: String| move |source| Error::Io { what, source };
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        self.doc
            .serialize(&mut ser)
            .map_err(|e| Error::Credentials(format!("encoding config file: {e}")))?;
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "config.json".into());
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let mode = std::fs::metadata(&self.path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0o600);
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&out)?;
            f.set_permissions(std::fs::Permissions::from_mode(mode))?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::Io {
                what: format!("writing {}", self.path.display()),
                source: e,
            }
        })
    }

    fn run_helper(&self, helper: &str, action: &str, input: &[u8]) -> Result<Vec<u8>, HelperError> {
        let program = format!("docker-credential-{helper}");
        let path = match &self.helper_dir {
            Some(d) => d.join(&program),
            None => PathBuf::from(&program),
        };
        let mut child = Command::new(&path)
            .arg(action)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                HelperError::Failed(if e.kind() == std::io::ErrorKind::NotFound {
                    format!("err: exec: \"{program}\": executable file not found in $PATH, out: ``")
                } else {
                    format!("err: exec: \"{program}\": {e}, out: ``")
                })
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            // A helper that exits without reading gives EPIPE; its exit
            // status tells what happened.
            let _ = stdin.write_all(input);
        }
        let out = child
            .wait_with_output()
            .map_err(|e| HelperError::Failed(format!("err: {e}, out: ``")))?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if text == NOT_FOUND_MESSAGE {
            return Err(HelperError::NotFound);
        }
        let status = match out.status.code() {
            Some(c) => format!("exit status {c}"),
            None => "killed by a signal".to_owned(),
        };
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        let shown = if text.is_empty() { stderr } else { text };
        Err(HelperError::Failed(format!(
            "err: {status}, out: `{shown}`"
        )))
    }
}

enum HelperError {
    NotFound,
    Failed(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x_registry_auth_round_trip_and_leniency() {
        let a = AuthConfig {
            username: "u".into(),
            password: "p?>".into(),
            serveraddress: "localhost:5000".into(),
            ..AuthConfig::default()
        };
        let enc = encode_registry_auth(&a);
        assert_eq!(decode_registry_auth(&enc).unwrap(), a);
        // Unpadded and standard alphabet, capitalised keys (Go is case-insensitive).
        let raw = r#"{"Username":"x","Password":"y","ServerAddress":"r"}"#;
        let std = base64::engine::general_purpose::STANDARD_NO_PAD.encode(raw);
        let d = decode_registry_auth(&std).unwrap();
        assert_eq!((d.username.as_str(), d.password.as_str()), ("x", "y"));
        assert_eq!(decode_registry_auth("").unwrap(), AuthConfig::default());
        // "auth" only.
        let raw = r#"{"auth":"dXNlcjpwYXNz"}"#;
        let d =
            decode_registry_auth(&base64::engine::general_purpose::URL_SAFE.encode(raw)).unwrap();
        assert_eq!(d.credentials().unwrap(), Credentials::basic("user", "pass"));
        let e = decode_registry_auth("!!!").unwrap_err().to_string();
        assert!(e.starts_with("invalid X-Registry-Auth header"), "{e}");
        let e = decode_registry_auth(&base64::engine::general_purpose::URL_SAFE.encode("[1]"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("invalid X-Registry-Auth header"), "{e}");
    }

    #[test]
    fn x_registry_config_and_lookup() {
        let raw = r#"{"https://index.docker.io/v1/":{"username":"hub"},"http://myreg:5000/v1/":{"username":"mine"}}"#;
        let enc = base64::engine::general_purpose::URL_SAFE.encode(raw);
        let m = decode_registry_config(&enc).unwrap();
        assert_eq!(find_auth(&m, "docker.io").unwrap().username, "hub");
        assert_eq!(find_auth(&m, "myreg:5000").unwrap().username, "mine");
        assert!(find_auth(&m, "other").is_none());
    }

    #[test]
    fn debug_redacts_secrets() {
        let c = Credentials::basic("me", "hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
