//! The registry client: endpoint selection and ping (with the HTTPS → HTTP
//! fallback of insecure registries and mirror fallback for Docker Hub), the
//! authenticated request loop, and the distribution API operations —
//! manifests, blobs (download with resume, upload monolithic or chunked,
//! cross-repository mount), tags, catalog, v1 search and login.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use berth_content::image::{
    MEDIA_DOCKER_LIST, MEDIA_DOCKER_MANIFEST, MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST,
};
use berth_reference::{Digest, Reference};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{
    HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
    LINK, LOCATION, RANGE, WWW_AUTHENTICATE,
};
use hyper::{Method, Request, Response, StatusCode, Uri};
use serde::Deserialize;

use crate::auth::{self, TokenCache};
use crate::blob::{self, BlobReader, BlobSource, UploadBody, UploadState};
use crate::challenge::{parse_challenges, Challenge};
use crate::credentials::Credentials;
use crate::endpoint::{self, Endpoint, Insecure, Mirror};
use crate::error;
use crate::transport::{self, go_method, Http, ReqBody, Timeouts};
use crate::verify::{self, BlobHasher};
use crate::Error;

/// Docker's schema-1 manifest media types (refused, as Docker does).
const MEDIA_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
const MEDIA_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
/// Largest error body read.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;
/// Redirects followed at most.
const MAX_REDIRECTS: usize = 10;
/// Pages of tags or catalog followed at most.
const MAX_PAGES: usize = 10_000;
const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

/// Settings of a [`Client`] (daemon.json's registry options and limits).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `insecure-registries`: `host[:port]` or CIDR blocks. 127.0.0.0/8 is
    /// always insecure.
    pub insecure_registries: Vec<String>,
    /// Treat 127.0.0.0/8 (and names resolving there) as insecure, as
    /// Docker always does. Turn off to require valid TLS on loopback too.
    pub loopback_insecure: bool,
    /// `registry-mirrors`: `http(s)://host[:port][/path]`, for Docker Hub
    /// pulls only; the origin is tried when a mirror fails.
    pub mirrors: Vec<String>,
    /// `User-Agent` of every request.
    pub user_agent: String,
    /// Network timeouts.
    pub timeouts: Timeouts,
    /// Extra CA certificates (PEM files) trusted besides the system's.
    pub ca_files: Vec<PathBuf>,
    /// Largest manifest accepted (and pushed), in bytes.
    pub max_manifest_size: u64,
    /// Blobs up to this size are uploaded in one `PUT`; larger ones in
    /// chunks.
    pub monolithic_upload_max: u64,
    /// Chunk size of chunked uploads.
    pub upload_chunk_size: u64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            insecure_registries: Vec::new(),
            loopback_insecure: true,
            mirrors: Vec::new(),
            user_agent: format!("berth/{}", env!("CARGO_PKG_VERSION")),
            timeouts: Timeouts::default(),
            ca_files: Vec::new(),
            max_manifest_size: 4 << 20,
            monolithic_upload_max: 64 << 20,
            upload_chunk_size: 32 << 20,
        }
    }
}

/// A repository at a registry: `docker.io` + `library/busybox`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Repository {
    domain: String,
    path: String,
}

impl Repository {
    /// A repository from its registry domain and path.
    pub fn new(domain: &str, path: &str) -> Repository {
        Repository {
            domain: domain.to_owned(),
            path: path.to_owned(),
        }
    }

    /// The repository of a reference (tag and digest ignored).
    pub fn from_reference(r: &Reference) -> Repository {
        Repository::new(r.domain(), r.path())
    }

    /// Registry domain (`docker.io`, `localhost:5000`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Repository path (`library/busybox`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Docker's familiar name (`busybox`, `localhost:5000/x`).
    pub fn familiar_name(&self) -> String {
        match Reference::parse(&format!("{}/{}", self.domain, self.path)) {
            Ok(r) => r.familiar_name(),
            Err(_) => format!("{}/{}", self.domain, self.path),
        }
    }
}

/// A manifest as fetched: verified bytes, digest and media type.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Digest of `bytes` (the one asked for when fetched by digest).
    pub digest: Digest,
    /// Media type (from `Content-Type`, or the manifest's own `mediaType`).
    pub media_type: String,
    /// The manifest bytes, exactly as served.
    pub bytes: Bytes,
}

impl Resolved {
    /// True for an OCI index or Docker manifest list.
    pub fn is_index(&self) -> bool {
        self.media_type == MEDIA_OCI_INDEX || self.media_type == MEDIA_DOCKER_LIST
    }

    /// Parses an index / manifest list.
    pub fn index(&self) -> Result<berth_content::image::Index, Error> {
        serde_json::from_slice(&self.bytes).map_err(|e| {
            Error::InvalidManifest(format!("invalid image index {}: {e}", self.digest))
        })
    }

    /// Parses an image manifest.
    pub fn manifest(&self) -> Result<berth_content::image::Manifest, Error> {
        serde_json::from_slice(&self.bytes)
            .map_err(|e| Error::InvalidManifest(format!("invalid manifest {}: {e}", self.digest)))
    }
}

/// What a `HEAD` on a manifest tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestInfo {
    /// Digest (from `Docker-Content-Digest`).
    pub digest: Digest,
    /// Media type.
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
}

/// Outcome of [`RepositoryClient::push_blob`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobPush {
    /// The registry had it already (`Layer already exists`).
    Exists,
    /// Uploaded in one `PUT`.
    Monolithic,
    /// Uploaded in `PATCH` chunks.
    Chunked,
}

/// What a ping of a registry found.
#[derive(Debug, Clone)]
pub struct Ping {
    /// The endpoint that answered.
    pub endpoint: Endpoint,
    /// Its authentication challenges (empty when `/v2/` answered 200).
    pub challenges: Vec<Challenge>,
}

/// Result of a successful [`Client::login`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// `Login Succeeded`.
    pub status: String,
    /// A refresh token to store instead of the password, when the token
    /// server gave one.
    pub identity_token: Option<String>,
}

struct Inner {
    http: Http,
    insecure: Insecure,
    mirrors: Vec<Mirror>,
    tokens: TokenCache,
    pings: Mutex<HashMap<String, Vec<Challenge>>>,
    config: ClientConfig,
}

/// The registry client. Cheap to clone; share one per daemon (it caches
/// connections, pings and tokens).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Which operations a request context is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Pull,
    Push,
}

/// An endpoint with what is needed to authenticate against it.
struct Ctx<'a> {
    ep: Endpoint,
    creds: Option<&'a Credentials>,
    scopes: Vec<String>,
}

/// A request body that can be sent again (after a refused token) or not.
enum ReqData {
    Empty,
    Bytes(Bytes),
    Once(Option<ReqBody>),
}

impl ReqData {
    fn take(&mut self) -> Option<ReqBody> {
        match self {
            ReqData::Empty => Some(transport::empty()),
            ReqData::Bytes(b) => Some(transport::full(b.clone())),
            ReqData::Once(b) => b.take(),
        }
    }

    fn retryable(&self) -> bool {
        !matches!(self, ReqData::Once(_))
    }
}

fn header_str<'a>(resp: &'a Response<Incoming>, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

fn challenges_of(resp: &Response<Incoming>) -> Vec<Challenge> {
    parse_challenges(
        resp.headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}

fn content_length(resp: &Response<Incoming>) -> Option<u64> {
    header_str(resp, CONTENT_LENGTH.as_str()).and_then(|v| v.trim().parse().ok())
}

fn is_redirect(s: StatusCode) -> bool {
    matches!(s.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// Strips parameters from a media type (`application/json; charset=utf-8`).
fn bare_media_type(s: &str) -> String {
    s.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The media type of manifest bytes served with a generic or no
/// `Content-Type`: the `mediaType` field, else the shape.
fn sniff_media_type(bytes: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(rename = "schemaVersion", default)]
        schema_version: Option<u32>,
        #[serde(rename = "mediaType", default)]
        media_type: Option<String>,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
        #[serde(default)]
        config: Option<serde_json::Value>,
        #[serde(default)]
        signatures: Option<serde_json::Value>,
    }
    let p: Probe = serde_json::from_slice(bytes).ok()?;
    if let Some(mt) = p.media_type.filter(|m| !m.is_empty()) {
        return Some(mt);
    }
    if p.schema_version == Some(1) {
        return Some(if p.signatures.is_some() {
            MEDIA_SCHEMA1_SIGNED.to_owned()
        } else {
            MEDIA_SCHEMA1.to_owned()
        });
    }
    if p.manifests.is_some() {
        return Some(MEDIA_OCI_INDEX.to_owned());
    }
    if p.config.is_some() {
        return Some(MEDIA_OCI_MANIFEST.to_owned());
    }
    None
}

/// The `<url>` of a `Link: <url>; rel="next"` header.
fn next_link(value: &str) -> Option<String> {
    for part in value.split(',') {
        let part = part.trim();
        let (url, params) = part.split_once(';').unwrap_or((part, ""));
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        if is_next {
            return Some(url.to_owned());
        }
    }
    None
}

fn parse_content_digest(resp: &Response<Incoming>) -> Option<Digest> {
    header_str(resp, DOCKER_CONTENT_DIGEST).and_then(|v| Digest::parse(v.trim()).ok())
}

impl Client {
    /// The HTTP connections (for [`Client::download`]).
    pub(crate) fn http(&self) -> &Http {
        &self.inner.http
    }

    /// A client with `config` (validated: mirrors, insecure registries,
    /// CA files).
    pub fn new(config: ClientConfig) -> Result<Client, Error> {
        let insecure = Insecure::parse(&config.insecure_registries, config.loopback_insecure)?;
        let mirrors = config
            .mirrors
            .iter()
            .map(|m| endpoint::parse_mirror(m))
            .collect::<Result<Vec<_>, _>>()?;
        if config.upload_chunk_size == 0 {
            return Err(Error::Config("the upload chunk size must not be 0".into()));
        }
        let http = Http::new(&config.ca_files, &config.user_agent, config.timeouts)?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                insecure,
                mirrors,
                tokens: TokenCache::default(),
                pings: Mutex::new(HashMap::new()),
                config,
            }),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// A handle for operations on `repo` with `creds` (`None`: anonymous).
    pub fn repository(&self, repo: &Repository, creds: Option<Credentials>) -> RepositoryClient {
        RepositoryClient {
            client: self.clone(),
            repo: repo.clone(),
            creds,
            mirrors: tokio::sync::OnceCell::new(),
            origin: tokio::sync::OnceCell::new(),
            dead_mirrors: Mutex::new(Vec::new()),
        }
    }

    /// Fetches the manifest `reference` names (its digest if it has one,
    /// else its tag, else `latest`).
    pub async fn resolve(
        &self,
        reference: &Reference,
        creds: Option<&Credentials>,
    ) -> Result<Resolved, Error> {
        let target = match (reference.digest(), reference.tag()) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.to_owned(),
            (None, None) => berth_reference::DEFAULT_TAG.to_owned(),
        };
        self.repository(&Repository::from_reference(reference), creds.cloned())
            .fetch_manifest(&target)
            .await
    }

    /// The endpoints of `domain` in the order they are tried (for messages
    /// and diagnostics).
    pub async fn endpoints(&self, domain: &str, push: bool) -> Vec<Endpoint> {
        endpoint::endpoints(domain, push, &self.inner.mirrors, &self.inner.insecure).await
    }

    /// Pings `domain` (`GET /v2/`) on its endpoints in order and reports the
    /// first that answers.
    pub async fn ping(&self, domain: &str) -> Result<Ping, Error> {
        let mut last = None;
        for ep in self.endpoints(domain, true).await {
            match self.ping_endpoint(&ep).await {
                Ok(challenges) => {
                    return Ok(Ping {
                        endpoint: ep,
                        challenges,
                    })
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Config(format!("no endpoint for registry {domain}"))))
    }

    async fn ping_endpoint(&self, ep: &Endpoint) -> Result<Vec<Challenge>, Error> {
        if let Some(c) = self.cached_ping(ep) {
            return Ok(c);
        }
        let url = ep.v2("");
        let req = Request::get(transport::parse_uri(&url)?)
            .body(transport::empty())
            .map_err(|e| Error::InvalidInput(format!("building request for {url}: {e}")))?;
        let resp = self.inner.http.send(ep.skip_verify, req).await?;
        let challenges = if resp.status() == StatusCode::UNAUTHORIZED {
            challenges_of(&resp)
        } else {
            Vec::new()
        };
        // Drain (bounded) so the connection can be reused.
        let _ = transport::read_limited(
            resp.into_body(),
            ERROR_BODY_LIMIT,
            self.inner.http.timeouts.idle,
            "ping answer",
        )
        .await;
        self.remember_ping(ep, &challenges);
        Ok(challenges)
    }

    fn cached_ping(&self, ep: &Endpoint) -> Option<Vec<Challenge>> {
        let pings = self.inner.pings.lock().unwrap_or_else(|p| p.into_inner());
        pings.get(&ep.base).cloned()
    }

    fn remember_ping(&self, ep: &Endpoint, challenges: &[Challenge]) {
        let mut pings = self.inner.pings.lock().unwrap_or_else(|p| p.into_inner());
        if pings.len() > 256 {
            pings.clear();
        }
        pings.insert(ep.base.clone(), challenges.to_vec());
    }

    /// The first origin endpoint of `domain` (no mirrors) that answers a
    /// ping: HTTPS, then HTTP for an insecure registry.
    async fn select_origin(&self, domain: &str) -> Result<Endpoint, Error> {
        let mut last = None;
        for ep in self.endpoints(domain, true).await {
            match self.ping_endpoint(&ep).await {
                Ok(_) => return Ok(ep),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Config(format!("no endpoint for registry {domain}"))))
    }

    /// The `Authorization` header for a request in `ctx`, if any.
    async fn authorization(
        &self,
        ctx: &Ctx<'_>,
        challenges: &[Challenge],
        method: &str,
        url: &str,
    ) -> Result<Option<HeaderValue>, Error> {
        if let Some(c) = ctx.creds.filter(|c| !c.registry_token.is_empty()) {
            return auth::bearer_header(&c.registry_token).map(Some);
        }
        if let Some(bearer) = challenges.iter().find(|c| c.is_bearer()) {
            let token = self
                .inner
                .tokens
                .token(
                    &self.inner.http,
                    ctx.ep.skip_verify,
                    bearer,
                    &ctx.scopes,
                    ctx.creds,
                )
                .await
                .map_err(|e| as_request_error(e, method, url))?;
            return auth::bearer_header(&token).map(Some);
        }
        if challenges.iter().any(Challenge::is_basic) {
            if let Some(c) = ctx
                .creds
                .filter(|c| !c.username.is_empty() || !c.password.is_empty())
            {
                return auth::basic_header(&c.username, &c.password).map(Some);
            }
        }
        Ok(None)
    }

    /// Sends a request with authentication; a 401 answer to a fresh token
    /// or new challenge is retried once when the body can be sent again.
    async fn execute(
        &self,
        ctx: &Ctx<'_>,
        method: Method,
        url: &str,
        headers: &[(HeaderName, HeaderValue)],
        mut data: ReqData,
    ) -> Result<Response<Incoming>, Error> {
        let gm = go_method(&method);
        // An upload's body goes out before the answer: allow for it at a
        // slow but steady rate on top of the response timeout.
        let upload_len = headers
            .iter()
            .find(|(k, _)| k == CONTENT_LENGTH)
            .and_then(|(_, v)| v.to_str().ok()?.parse::<u64>().ok())
            .unwrap_or(0);
        let limit = self.inner.http.timeouts.response
            + std::time::Duration::from_secs(upload_len / transport::MIN_UPLOAD_RATE);
        let mut challenges = self.ping_endpoint(&ctx.ep).await?;
        let mut auth = self.authorization(ctx, &challenges, &gm, url).await?;
        let mut retried = false;
        loop {
            let body = data.take().ok_or_else(|| {
                Error::InvalidInput("request body already sent and cannot be sent again".into())
            })?;
            let mut req = Request::builder()
                .method(method.clone())
                .uri(transport::parse_uri(url)?);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            if let Some(a) = &auth {
                req = req.header(AUTHORIZATION, a);
            }
            let req = req
                .body(body)
                .map_err(|e| Error::InvalidInput(format!("building request for {url}: {e}")))?;
            let resp = self
                .inner
                .http
                .send_within(ctx.ep.skip_verify, req, limit)
                .await?;
            if resp.status() != StatusCode::UNAUTHORIZED || retried || !data.retryable() {
                return Ok(resp);
            }
            let fresh = challenges_of(&resp);
            if fresh.is_empty() {
                return Ok(resp);
            }
            if let Some(b) = challenges.iter().find(|c| c.is_bearer()) {
                self.inner.tokens.forget(b, &ctx.scopes, ctx.creds);
            }
            let changed = challenge_keys(&fresh) != challenge_keys(&challenges);
            if changed {
                self.remember_ping(&ctx.ep, &fresh);
            }
            let was_bearer = auth
                .as_ref()
                .and_then(|a| a.to_str().ok())
                .is_some_and(|a| a.starts_with("Bearer "));
            let insufficient = fresh
                .iter()
                .any(|c| c.is_bearer() && c.param("error") == Some("insufficient_scope"));
            let static_token = ctx.creds.is_some_and(|c| !c.registry_token.is_empty());
            // Retry when the registry now asks for something else, or when a
            // (possibly expired) token was refused; a refused password or a
            // token without the needed scope would only be refused again.
            let token_may_work = was_bearer && !insufficient && !static_token;
            if !changed && !token_may_work {
                return Ok(resp);
            }
            let new_auth = self.authorization(ctx, &fresh, &gm, url).await?;
            if new_auth.is_none() {
                return Ok(resp);
            }
            drop(resp);
            challenges = fresh;
            auth = new_auth;
            retried = true;
        }
    }

    /// Turns a non-success answer into an error.
    async fn error_of(
        &self,
        ctx: &Ctx<'_>,
        method: &Method,
        url: &str,
        resp: Response<Incoming>,
    ) -> Error {
        let status = resp.status();
        let challenges = challenges_of(&resp);
        let gm = go_method(method);
        if status == StatusCode::UNAUTHORIZED
            && challenges.iter().any(Challenge::is_basic)
            && !challenges.iter().any(Challenge::is_bearer)
            && ctx
                .creds
                .is_none_or(|c| c.username.is_empty() && c.password.is_empty())
            && ctx.creds.is_none_or(|c| c.registry_token.is_empty())
        {
            return Error::NoBasicAuthCredentials {
                method: gm,
                url: url.to_owned(),
            };
        }
        let body = transport::read_limited(
            resp.into_body(),
            ERROR_BODY_LIMIT,
            self.inner.http.timeouts.idle,
            "error answer",
        )
        .await
        .unwrap_or_default();
        error::from_response(&gm, url, status, &challenges, &body)
    }

    /// `GET`/`HEAD` following redirects (blob storage); authorization is
    /// only sent to the registry's own host.
    async fn get_following(
        &self,
        ctx: &Ctx<'_>,
        method: Method,
        url: &str,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<(Response<Incoming>, String), Error> {
        let mut resp = self
            .execute(ctx, method.clone(), url, headers, ReqData::Empty)
            .await?;
        let mut current = url.to_owned();
        let registry_authority = transport::parse_uri(url)?
            .authority()
            .map(|a| a.to_string());
        for _ in 0..MAX_REDIRECTS {
            if !is_redirect(resp.status()) {
                return Ok((resp, current));
            }
            let Some(loc) = header_str(&resp, LOCATION.as_str()).map(str::to_owned) else {
                return Ok((resp, current));
            };
            let base: Uri = transport::parse_uri(&current)?;
            let next = transport::resolve_url(&base, &loc)?;
            let next_s = next.to_string();
            drop(resp);
            if next.authority().map(|a| a.to_string()) == registry_authority {
                resp = self
                    .execute(ctx, method.clone(), &next_s, headers, ReqData::Empty)
                    .await?;
            } else {
                let mut req = Request::builder().method(method.clone()).uri(next);
                for (k, v) in headers {
                    req = req.header(k, v);
                }
                let req = req.body(transport::empty()).map_err(|e| {
                    Error::InvalidInput(format!("building request for {next_s}: {e}"))
                })?;
                resp = self.inner.http.send(ctx.ep.skip_verify, req).await?;
            }
            current = next_s;
        }
        Err(Error::InvalidInput(format!(
            "{} \"{url}\": stopped after {MAX_REDIRECTS} redirects",
            go_method(&method)
        )))
    }

    /// Logs in to `domain` as `docker login` does (`GET /v2/` with the
    /// credentials, through the token server when the registry uses one).
    pub async fn login(&self, domain: &str, creds: &Credentials) -> Result<Login, Error> {
        let mut last = None;
        for ep in self.endpoints(domain, true).await {
            match self.login_endpoint(&ep, creds).await {
                Ok(l) => return Ok(l),
                Err(e) if e.is_transport() => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Config(format!("no endpoint for registry {domain}"))))
    }

    async fn login_endpoint(&self, ep: &Endpoint, creds: &Credentials) -> Result<Login, Error> {
        let url = ep.v2("");
        let get = |auth: Option<HeaderValue>| {
            let url = url.clone();
            async move {
                let mut req = Request::get(transport::parse_uri(&url)?);
                if let Some(a) = auth {
                    req = req.header(AUTHORIZATION, a);
                }
                let req = req
                    .body(transport::empty())
                    .map_err(|e| Error::InvalidInput(format!("building request: {e}")))?;
                self.inner.http.send(ep.skip_verify, req).await
            }
        };
        let resp = get(None).await?;
        let challenges = challenges_of(&resp);
        let status = resp.status();
        drop(resp);
        self.remember_ping(ep, &challenges);
        let ok = |identity_token| Login {
            status: "Login Succeeded".into(),
            identity_token,
        };
        if status == StatusCode::OK {
            return Ok(ok(None));
        }
        let failed = |s: StatusCode| Error::LoginFailed {
            url: url.clone(),
            status: error::status_text(s),
        };
        if status != StatusCode::UNAUTHORIZED {
            return Err(failed(status));
        }
        let (auth, identity) = if let Some(b) = challenges.iter().find(|c| c.is_bearer()) {
            let t = auth::fetch_token(&self.inner.http, ep.skip_verify, b, &[], Some(creds), true)
                .await
                .map_err(|e| as_request_error(e, "Get", &url))?;
            (auth::bearer_header(&t.token)?, t.refresh_token)
        } else if challenges.iter().any(Challenge::is_basic) {
            if creds.username.is_empty() && creds.password.is_empty() {
                return Err(Error::NoBasicAuthCredentials {
                    method: "Get".into(),
                    url,
                });
            }
            (auth::basic_header(&creds.username, &creds.password)?, None)
        } else {
            return Err(failed(status));
        };
        let resp = get(Some(auth)).await?;
        if resp.status() == StatusCode::OK {
            Ok(ok(identity))
        } else {
            Err(failed(resp.status()))
        }
    }

    /// The repositories of `domain` (`GET /v2/_catalog`, all pages).
    pub async fn catalog(
        &self,
        domain: &str,
        creds: Option<&Credentials>,
    ) -> Result<Vec<String>, Error> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            repositories: Option<Vec<String>>,
        }
        let ep = self.select_origin(domain).await?;
        let ctx = Ctx {
            ep,
            creds,
            scopes: vec!["registry:catalog:*".into()],
        };
        let first = ctx.ep.v2("_catalog");
        let pages = self.paged(&ctx, &first, "catalog").await?;
        let mut out = Vec::new();
        for body in pages {
            let p: Page = serde_json::from_slice(&body).map_err(|e| {
                Error::InvalidInput(format!("invalid catalog answer from {}: {e}", ctx.ep.host))
            })?;
            out.extend(p.repositories.unwrap_or_default());
        }
        Ok(out)
    }

    /// Searches `domain`'s repositories for `term` as the Docker daemon
    /// does (`GET /v1/search?q=TERM&n=LIMIT`; Docker Hub's index for
    /// `docker.io`), authenticating as for the catalog.
    pub async fn search(
        &self,
        domain: &str,
        term: &str,
        limit: u32,
        creds: Option<&Credentials>,
    ) -> Result<crate::SearchResults, Error> {
        let ep = if endpoint::is_docker_hub(domain) {
            Endpoint {
                base: format!("https://{}", endpoint::DOCKER_HUB_INDEX),
                host: endpoint::DOCKER_HUB_INDEX.to_owned(),
                skip_verify: false,
                mirror: false,
            }
        } else {
            self.select_origin(domain).await?
        };
        let ctx = Ctx {
            ep,
            creds,
            scopes: vec!["registry:catalog:*".into()],
        };
        let url = transport::with_query(
            &format!("{}/v1/search", ctx.ep.base),
            &[("q", term), ("n", &limit.to_string())],
        );
        let resp = self
            .execute(&ctx, Method::GET, &url, &[], ReqData::Empty)
            .await?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED {
            return Err(self.error_of(&ctx, &Method::GET, &url, resp).await);
        }
        if status != StatusCode::OK {
            return Err(Error::SearchStatus(status.as_u16()));
        }
        let body = transport::read_limited(
            resp.into_body(),
            16 << 20,
            self.inner.http.timeouts.idle,
            "search answer",
        )
        .await?;
        serde_json::from_slice(&body).map_err(|e| {
            Error::InvalidInput(format!(
                "error decoding search results from {}: {e}",
                ctx.ep.host
            ))
        })
    }

    /// Bodies of every page of a paginated listing (`Link: rel="next"`).
    async fn paged(&self, ctx: &Ctx<'_>, first: &str, what: &str) -> Result<Vec<Bytes>, Error> {
        let mut url = first.to_owned();
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let resp = self
                .execute(ctx, Method::GET, &url, &[], ReqData::Empty)
                .await?;
            if !resp.status().is_success() {
                return Err(self.error_of(ctx, &Method::GET, &url, resp).await);
            }
            let next = header_str(&resp, LINK.as_str()).and_then(next_link);
            let body = transport::read_limited(
                resp.into_body(),
                16 << 20,
                self.inner.http.timeouts.idle,
                what,
            )
            .await?;
            out.push(body);
            match next {
                Some(n) => {
                    let resolved = transport::resolve_url(&transport::parse_uri(&url)?, &n)?;
                    let resolved = resolved.to_string();
                    if resolved == url {
                        break;
                    }
                    url = resolved;
                }
                None => return Ok(out),
            }
        }
        Ok(out)
    }
}

/// What identifies a set of challenges (scheme, realm, service), ignoring
/// per-request parameters such as `scope` and `error`.
fn challenge_keys(c: &[Challenge]) -> Vec<(String, String, String)> {
    c.iter()
        .map(|c| {
            (
                c.scheme.clone(),
                c.param("realm").unwrap_or("").to_owned(),
                c.param("service").unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// Token-server errors shown against the registry request, as Docker does.
fn as_request_error(e: Error, method: &str, url: &str) -> Error {
    match e {
        Error::Registry { status, errors, .. } => Error::Registry {
            status,
            method: method.to_owned(),
            url: url.to_owned(),
            errors,
        },
        Error::UnexpectedStatus { status, body, .. } => Error::Auth(format!(
            "{method} \"{url}\": getting a token failed: {status}{}",
            if body.is_empty() {
                String::new()
            } else {
                format!(": {body}")
            }
        )),
        other => other,
    }
}

/// Operations on one repository, with one set of credentials. Share it
/// (`Arc`) across concurrent layer transfers of one pull or push.
pub struct RepositoryClient {
    client: Client,
    repo: Repository,
    creds: Option<Credentials>,
    mirrors: tokio::sync::OnceCell<Vec<Endpoint>>,
    origin: tokio::sync::OnceCell<Endpoint>,
    dead_mirrors: Mutex<Vec<String>>,
}

impl std::fmt::Debug for RepositoryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepositoryClient")
            .field("repo", &self.repo)
            .finish_non_exhaustive()
    }
}

impl RepositoryClient {
    /// The repository.
    pub fn repository(&self) -> &Repository {
        &self.repo
    }

    fn scopes(&self, access: Access) -> Vec<String> {
        let actions = match access {
            Access::Pull => "pull",
            Access::Push => "pull,push",
        };
        vec![format!("repository:{}:{actions}", self.repo.path)]
    }

    /// The registry's own endpoint (pinged once per handle).
    async fn origin(&self) -> Result<Endpoint, Error> {
        self.origin
            .get_or_try_init(|| self.client.select_origin(&self.repo.domain))
            .await
            .cloned()
    }

    /// The `i`-th endpoint to pull from: the live mirrors (Docker Hub
    /// only), then the origin, which is only contacted when reached.
    async fn pull_endpoint(&self, i: usize) -> Result<Option<Endpoint>, Error> {
        let mirrors = self
            .mirrors
            .get_or_init(|| async {
                self.client
                    .endpoints(&self.repo.domain, false)
                    .await
                    .into_iter()
                    .filter(|e| e.mirror)
                    .collect()
            })
            .await;
        let dead = self
            .dead_mirrors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let live: Vec<&Endpoint> = mirrors.iter().filter(|m| !dead.contains(&m.base)).collect();
        match i.cmp(&live.len()) {
            std::cmp::Ordering::Less => Ok(Some(live[i].clone())),
            std::cmp::Ordering::Equal => self.origin().await.map(Some),
            std::cmp::Ordering::Greater => Ok(None),
        }
    }

    /// Notes a mirror failure (an unreachable mirror is skipped from then on).
    fn mirror_failed(&self, ep: &Endpoint, e: &Error) {
        tracing::info!("registry mirror {}: {e}; trying the next endpoint", ep.base);
        if e.is_transport() {
            self.dead_mirrors
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(ep.base.clone());
        }
    }

    fn ctx(&self, ep: Endpoint, access: Access) -> Ctx<'_> {
        Ctx {
            ep,
            creds: self.creds.as_ref(),
            scopes: self.scopes(access),
        }
    }

    async fn push_ctx(&self) -> Result<Ctx<'_>, Error> {
        let ep = self.origin().await?;
        Ok(self.ctx(ep, Access::Push))
    }

    fn familiar(&self, reference: &str) -> String {
        let sep = if reference.contains(':') { '@' } else { ':' };
        format!("{}{sep}{reference}", self.repo.familiar_name())
    }

    /// Docker's pull-error texts for the first registry error.
    fn translate_pull_error(&self, e: Error, reference: &str) -> Error {
        let Error::Registry { errors, .. } = &e else {
            return e;
        };
        let Some(first) = errors.first().cloned() else {
            return e;
        };
        match first.code.as_str() {
            "DENIED" => Error::PullAccessDenied {
                name: self.repo.familiar_name(),
                cause: first,
            },
            "MANIFEST_UNKNOWN" => Error::ManifestNotFound {
                reference: self.familiar(reference),
                cause: first,
            },
            "NAME_UNKNOWN" => Error::RepositoryNotFound {
                name: self.repo.familiar_name(),
                cause: first,
            },
            _ => e,
        }
    }

    /// Fetches a manifest by tag or digest (`GET /v2/NAME/manifests/REF`,
    /// accepting OCI index, Docker list, OCI manifest, Docker schema 2),
    /// verifies its bytes against the digest asked for and against
    /// `Docker-Content-Digest`, and caps its size.
    pub async fn fetch_manifest(&self, reference: &str) -> Result<Resolved, Error> {
        let expected = self.check_manifest_reference(reference)?;
        let mut last = None;
        let mut i = 0;
        while let Some(ep) = self.pull_endpoint(i).await? {
            i += 1;
            let mirror = ep.mirror;
            let ctx = self.ctx(ep, Access::Pull);
            match self
                .fetch_manifest_on(&ctx, reference, expected.as_ref())
                .await
            {
                Ok(r) => return Ok(r),
                Err(e) if mirror => {
                    self.mirror_failed(&ctx.ep, &e);
                    last = Some(e);
                }
                Err(e) => return Err(self.translate_pull_error(e, reference)),
            }
        }
        Err(last.unwrap_or_else(|| Error::Config("no registry endpoint".into())))
    }

    fn check_manifest_reference(&self, reference: &str) -> Result<Option<Digest>, Error> {
        if reference.contains(':') {
            Digest::parse(reference).map(Some).map_err(|e| {
                Error::InvalidInput(format!("invalid manifest digest {reference:?}: {e}"))
            })
        } else {
            berth_reference::validate_tag(reference)
                .map_err(|e| Error::InvalidInput(format!("invalid tag {reference:?}: {e}")))?;
            Ok(None)
        }
    }

    fn accept_headers() -> Vec<(HeaderName, HeaderValue)> {
        [
            MEDIA_OCI_INDEX,
            MEDIA_DOCKER_LIST,
            MEDIA_OCI_MANIFEST,
            MEDIA_DOCKER_MANIFEST,
        ]
        .iter()
        .map(|m| (ACCEPT, HeaderValue::from_static(m)))
        .collect()
    }

    async fn fetch_manifest_on(
        &self,
        ctx: &Ctx<'_>,
        reference: &str,
        expected: Option<&Digest>,
    ) -> Result<Resolved, Error> {
        let url = ctx
            .ep
            .v2(&format!("{}/manifests/{reference}", self.repo.path));
        let (resp, url) = self
            .client
            .get_following(ctx, Method::GET, &url, &Self::accept_headers())
            .await?;
        if !resp.status().is_success() {
            return Err(self.client.error_of(ctx, &Method::GET, &url, resp).await);
        }
        let limit = self.client.inner.config.max_manifest_size;
        let what = format!(
            "manifest for {} from {}",
            self.familiar(reference),
            ctx.ep.host
        );
        if content_length(&resp).is_some_and(|n| n > limit) {
            return Err(Error::TooLarge { what, limit });
        }
        let header_digest = parse_content_digest(&resp);
        let content_type = header_str(&resp, CONTENT_TYPE.as_str())
            .map(bare_media_type)
            .unwrap_or_default();
        let bytes = transport::read_limited(
            resp.into_body(),
            limit,
            self.client.inner.http.timeouts.idle,
            &what,
        )
        .await?;
        let digest = match expected {
            Some(d) => {
                verify::check_bytes(&what, &bytes, d)?;
                d.clone()
            }
            None => verify::digest_bytes(&bytes, header_digest.as_ref()),
        };
        if let Some(h) = header_digest {
            if h.algorithm() == digest.algorithm() && h != digest {
                return Err(Error::DigestMismatch {
                    what: format!("{what} (Docker-Content-Digest)"),
                    expected: h.to_string(),
                    actual: digest.to_string(),
                });
            }
        }
        let media_type = match content_type.as_str() {
            "" | "application/json" | "text/plain" | "application/octet-stream" => {
                sniff_media_type(&bytes).unwrap_or(content_type)
            }
            _ => content_type,
        };
        if media_type == MEDIA_SCHEMA1 || media_type == MEDIA_SCHEMA1_SIGNED {
            return Err(Error::InvalidManifest(format!(
                "Docker Image Format v1 and Docker Image manifest version 2, schema 1 support has been removed. Suggest the author of {} to upgrade the image to the OCI Format or Docker Image manifest v2, schema 2. More information at https://docs.docker.com/go/deprecated-image-specs/",
                self.familiar(reference)
            )));
        }
        Ok(Resolved {
            digest,
            media_type,
            bytes,
        })
    }

    /// `HEAD` on a manifest: its digest, media type and size without the
    /// body; `None` when the registry does not have it.
    pub async fn head_manifest(&self, reference: &str) -> Result<Option<ManifestInfo>, Error> {
        self.check_manifest_reference(reference)?;
        let mut last = None;
        let mut i = 0;
        while let Some(ep) = self.pull_endpoint(i).await? {
            i += 1;
            let mirror = ep.mirror;
            let ctx = self.ctx(ep, Access::Pull);
            let url = ctx
                .ep
                .v2(&format!("{}/manifests/{reference}", self.repo.path));
            let r = async {
                let (resp, url) = self
                    .client
                    .get_following(&ctx, Method::HEAD, &url, &Self::accept_headers())
                    .await?;
                if resp.status() == StatusCode::NOT_FOUND {
                    return Ok(None);
                }
                if !resp.status().is_success() {
                    return Err(self.client.error_of(&ctx, &Method::HEAD, &url, resp).await);
                }
                let media_type = header_str(&resp, CONTENT_TYPE.as_str())
                    .map(bare_media_type)
                    .unwrap_or_default();
                let size = content_length(&resp).unwrap_or(0);
                match parse_content_digest(&resp) {
                    Some(digest) => Ok(Some(ManifestInfo {
                        digest,
                        media_type,
                        size,
                    })),
                    None => {
                        // No digest header: fetch the manifest to know it.
                        let r = self.fetch_manifest_on(&ctx, reference, None).await?;
                        Ok(Some(ManifestInfo {
                            size: r.bytes.len() as u64,
                            digest: r.digest,
                            media_type: r.media_type,
                        }))
                    }
                }
            }
            .await;
            match r {
                Ok(v) => return Ok(v),
                Err(e) if mirror => {
                    self.mirror_failed(&ctx.ep, &e);
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Config("no registry endpoint".into())))
    }

    /// Downloads a blob; the reader verifies digest and size (when given).
    pub async fn fetch_blob(
        &self,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<BlobReader, Error> {
        self.resume_blob(digest, size, BlobHasher::for_digest(digest))
            .await
    }

    /// Continues a download after the `partial.len()` bytes hashed into
    /// `partial` (`Range: bytes=N-`; a registry that ignores the range is
    /// handled by skipping). The reader yields only the remaining bytes and
    /// verifies the whole blob's digest at the end.
    pub async fn resume_blob(
        &self,
        digest: &Digest,
        size: Option<u64>,
        partial: BlobHasher,
    ) -> Result<BlobReader, Error> {
        let offset = partial.len();
        let what = format!("blob {digest} from {}", self.repo.domain);
        if partial.algorithm() != digest.algorithm() {
            return Err(Error::InvalidInput(format!(
                "resuming {what}: the partial hash is {}, the digest {}",
                partial.algorithm(),
                digest.algorithm()
            )));
        }
        let idle = self.client.inner.http.timeouts.idle;
        if let Some(s) = size {
            if offset > s {
                return Err(Error::InvalidInput(format!(
                    "resuming {what} at byte {offset}: it has only {s} bytes"
                )));
            }
            if offset == s {
                return Ok(BlobReader::new(
                    None,
                    partial,
                    digest.clone(),
                    size,
                    0,
                    idle,
                    what,
                ));
            }
        }
        let mut last = None;
        let mut i = 0;
        while let Some(ep) = self.pull_endpoint(i).await? {
            i += 1;
            let mirror = ep.mirror;
            let ctx = self.ctx(ep, Access::Pull);
            match self
                .fetch_blob_on(&ctx, digest, size, partial.clone(), &what)
                .await
            {
                Ok(r) => return Ok(r),
                Err(e) if mirror => {
                    self.mirror_failed(&ctx.ep, &e);
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Config("no registry endpoint".into())))
    }

    async fn fetch_blob_on(
        &self,
        ctx: &Ctx<'_>,
        digest: &Digest,
        size: Option<u64>,
        partial: BlobHasher,
        what: &str,
    ) -> Result<BlobReader, Error> {
        let offset = partial.len();
        let url = ctx.ep.v2(&format!("{}/blobs/{digest}", self.repo.path));
        let mut headers = Vec::new();
        if offset > 0 {
            let v = HeaderValue::from_str(&format!("bytes={offset}-"))
                .map_err(|_| Error::InvalidInput("bad range".into()))?;
            headers.push((RANGE, v));
        }
        let (resp, url) = self
            .client
            .get_following(ctx, Method::GET, &url, &headers)
            .await?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            let e = self.client.error_of(ctx, &Method::GET, &url, resp).await;
            return Err(match e.registry_code() {
                Some("BLOB_UNKNOWN") | None => Error::BlobUnknown {
                    digest: digest.to_string(),
                    registry: ctx.ep.host.clone(),
                },
                _ => e,
            });
        }
        if !status.is_success() {
            return Err(self.client.error_of(ctx, &Method::GET, &url, resp).await);
        }
        let skip = if status == StatusCode::PARTIAL_CONTENT {
            let start = header_str(&resp, CONTENT_RANGE.as_str())
                .and_then(|v| v.trim().strip_prefix("bytes "))
                .and_then(|v| v.split('-').next())
                .and_then(|v| v.trim().parse::<u64>().ok());
            if start != Some(offset) {
                return Err(Error::InvalidInput(format!(
                    "{what}: asked for bytes from {offset}, the registry sent a range starting at {}",
                    start.map_or("an unknown offset".to_owned(), |s| s.to_string())
                )));
            }
            0
        } else {
            offset
        };
        if let (Some(s), Some(len)) = (size, content_length(&resp)) {
            let expected_len = if status == StatusCode::PARTIAL_CONTENT {
                s - offset
            } else {
                s
            };
            if len != expected_len {
                return Err(Error::SizeMismatch {
                    what: what.to_owned(),
                    expected: s,
                    actual: len + (s - expected_len),
                });
            }
        }
        Ok(BlobReader::new(
            Some(resp.into_body()),
            partial,
            digest.clone(),
            size,
            skip,
            self.client.inner.http.timeouts.idle,
            what.to_owned(),
        ))
    }

    /// `HEAD` on a blob: its size when the registry has it.
    pub async fn blob_exists(&self, digest: &Digest) -> Result<Option<u64>, Error> {
        let ep = self.origin().await?;
        let ctx = self.ctx(ep, Access::Pull);
        self.blob_exists_on(&ctx, digest).await
    }

    async fn blob_exists_on(&self, ctx: &Ctx<'_>, digest: &Digest) -> Result<Option<u64>, Error> {
        let url = ctx.ep.v2(&format!("{}/blobs/{digest}", self.repo.path));
        let (resp, url) = self
            .client
            .get_following(ctx, Method::HEAD, &url, &[])
            .await?;
        match resp.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => Ok(Some(content_length(&resp).unwrap_or(0))),
            _ => Err(self.client.error_of(ctx, &Method::HEAD, &url, resp).await),
        }
    }

    /// Starts an upload session: the upload URL and the registry's minimum
    /// chunk length (`OCI-Chunk-Min-Length`).
    async fn start_upload(
        &self,
        ctx: &Ctx<'_>,
        query: &[(&str, &str)],
    ) -> Result<(Response<Incoming>, String), Error> {
        let url = transport::with_query(
            &ctx.ep.v2(&format!("{}/blobs/uploads/", self.repo.path)),
            query,
        );
        let resp = self
            .client
            .execute(
                ctx,
                Method::POST,
                &url,
                &[(CONTENT_LENGTH, HeaderValue::from_static("0"))],
                ReqData::Empty,
            )
            .await?;
        Ok((resp, url))
    }

    fn upload_location(&self, resp: &Response<Incoming>, url: &str) -> Result<String, Error> {
        let loc = header_str(resp, LOCATION.as_str()).ok_or_else(|| {
            Error::InvalidInput(format!(
                "the registry started an upload at {url} without a Location header"
            ))
        })?;
        Ok(transport::resolve_url(&transport::parse_uri(url)?, loc)?.to_string())
    }

    async fn cancel_upload(&self, ctx: &Ctx<'_>, location: &str) {
        if let Ok(r) = self
            .client
            .execute(ctx, Method::DELETE, location, &[], ReqData::Empty)
            .await
        {
            drop(r);
        }
    }

    /// Uploads a blob unless the registry has it: `POST` an upload, then one
    /// `PUT` for blobs up to `monolithic_upload_max` (falling back to chunks
    /// when the registry refuses it and the source can be read again), else
    /// `PATCH` chunks and a final `PUT`. The bytes are hashed as they are
    /// sent; a mismatch with `digest` or `size` stops the upload before the
    /// registry can commit it.
    pub async fn push_blob(
        &self,
        digest: &Digest,
        size: u64,
        mut source: BlobSource,
    ) -> Result<BlobPush, Error> {
        let ctx = self.push_ctx().await?;
        if let Some(have) = self.blob_exists_on(&ctx, digest).await? {
            if have == size || have == 0 {
                return Ok(BlobPush::Exists);
            }
        }
        let (resp, url) = self.start_upload(&ctx, &[]).await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(self.client.error_of(&ctx, &Method::POST, &url, resp).await);
        }
        let location = self.upload_location(&resp, &url)?;
        let min_chunk = header_str(&resp, "oci-chunk-min-length")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        drop(resp);
        let cfg = &self.client.inner.config;
        if size <= cfg.monolithic_upload_max {
            match self
                .put_monolithic(&ctx, &location, digest, size, &mut source)
                .await
            {
                Ok(()) => return Ok(BlobPush::Monolithic),
                Err((e, fallback)) => {
                    self.cancel_upload(&ctx, &location).await;
                    if !(fallback && source.reopenable()) {
                        return Err(e);
                    }
                    tracing::info!("monolithic upload refused ({e}); retrying in chunks");
                }
            }
            let (resp, url) = self.start_upload(&ctx, &[]).await?;
            if resp.status() != StatusCode::ACCEPTED {
                return Err(self.client.error_of(&ctx, &Method::POST, &url, resp).await);
            }
            let location = self.upload_location(&resp, &url)?;
            drop(resp);
            return self
                .put_chunked(&ctx, location, digest, size, source, min_chunk)
                .await
                .map(|()| BlobPush::Chunked);
        }
        self.put_chunked(&ctx, location, digest, size, source, min_chunk)
            .await
            .map(|()| BlobPush::Chunked)
    }

    /// One `PUT ?digest=` with the whole blob. On error, says whether a
    /// chunked upload is worth trying.
    async fn put_monolithic(
        &self,
        ctx: &Ctx<'_>,
        location: &str,
        digest: &Digest,
        size: u64,
        source: &mut BlobSource,
    ) -> Result<(), (Error, bool)> {
        let reader = source.open().await.map_err(|e| (e, false))?;
        let state = UploadState::new(reader, digest, size);
        let url = transport::with_query(location, &[("digest", &digest.to_string())]);
        let body = http_body_util::BodyExt::boxed_unsync(UploadBody::new(state.clone(), size));
        let headers = [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (CONTENT_LENGTH, HeaderValue::from(size)),
        ];
        let r = self
            .client
            .execute(ctx, Method::PUT, &url, &headers, ReqData::Once(Some(body)))
            .await;
        if let Some(f) = blob::take_failure(&state) {
            return Err((f, false));
        }
        let resp = r.map_err(|e| (e, false))?;
        let status = resp.status();
        if status == StatusCode::CREATED || status.is_success() {
            return self.check_committed(&resp, digest).map_err(|e| (e, false));
        }
        let fallback = matches!(status.as_u16(), 400 | 405 | 411 | 413 | 416 | 501);
        let e = self.client.error_of(ctx, &Method::PUT, &url, resp).await;
        let fallback = fallback
            && !matches!(
                e.registry_code(),
                Some("DIGEST_INVALID" | "SIZE_INVALID" | "UNAUTHORIZED" | "DENIED")
            );
        Err((e, fallback))
    }

    fn check_committed(&self, resp: &Response<Incoming>, digest: &Digest) -> Result<(), Error> {
        if let Some(h) = parse_content_digest(resp) {
            if h.algorithm() == digest.algorithm() && &h != digest {
                return Err(Error::DigestMismatch {
                    what: format!("blob committed to {}", self.repo.domain),
                    expected: digest.to_string(),
                    actual: h.to_string(),
                });
            }
        }
        Ok(())
    }

    async fn put_chunked(
        &self,
        ctx: &Ctx<'_>,
        mut location: String,
        digest: &Digest,
        size: u64,
        mut source: BlobSource,
        min_chunk: u64,
    ) -> Result<(), Error> {
        let reader = match source.open().await {
            Ok(r) => r,
            Err(e) => {
                self.cancel_upload(ctx, &location).await;
                return Err(e);
            }
        };
        let state = UploadState::new(reader, digest, size);
        let chunk = self
            .client
            .inner
            .config
            .upload_chunk_size
            .max(min_chunk)
            .max(1);
        let result = async {
            let mut offset = 0u64;
            while offset < size {
                let len = chunk.min(size - offset);
                let body =
                    http_body_util::BodyExt::boxed_unsync(UploadBody::new(state.clone(), len));
                let range = format!("{offset}-{}", offset + len - 1);
                let headers = [
                    (
                        CONTENT_TYPE,
                        HeaderValue::from_static("application/octet-stream"),
                    ),
                    (CONTENT_LENGTH, HeaderValue::from(len)),
                    (
                        CONTENT_RANGE,
                        HeaderValue::from_str(&range)
                            .map_err(|_| Error::InvalidInput("bad range".into()))?,
                    ),
                ];
                let r = self
                    .client
                    .execute(
                        ctx,
                        Method::PATCH,
                        &location,
                        &headers,
                        ReqData::Once(Some(body)),
                    )
                    .await;
                if let Some(f) = blob::take_failure(&state) {
                    return Err(f);
                }
                let resp = r?;
                if resp.status() != StatusCode::ACCEPTED && !resp.status().is_success() {
                    return Err(self
                        .client
                        .error_of(ctx, &Method::PATCH, &location, resp)
                        .await);
                }
                if let Some(end) = header_str(&resp, RANGE.as_str())
                    .and_then(|v| v.rsplit('-').next())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                {
                    if end != offset + len - 1 {
                        return Err(Error::SizeMismatch {
                            what: format!("chunked upload of {digest} to {}", self.repo.domain),
                            expected: offset + len,
                            actual: end + 1,
                        });
                    }
                }
                if let Some(loc) = header_str(&resp, LOCATION.as_str()) {
                    location =
                        transport::resolve_url(&transport::parse_uri(&location)?, loc)?.to_string();
                }
                offset += len;
            }
            let sent = state.lock().unwrap_or_else(|p| p.into_inner()).sent();
            if sent != size {
                return Err(Error::SizeMismatch {
                    what: format!("blob {digest} to upload"),
                    expected: size,
                    actual: sent,
                });
            }
            if size == 0 {
                // Nothing was streamed: check the empty blob's digest here.
                verify::check_bytes("blob to upload", b"", digest)?;
            }
            let url = transport::with_query(&location, &[("digest", &digest.to_string())]);
            let resp = self
                .client
                .execute(
                    ctx,
                    Method::PUT,
                    &url,
                    &[(CONTENT_LENGTH, HeaderValue::from_static("0"))],
                    ReqData::Empty,
                )
                .await?;
            if !resp.status().is_success() {
                return Err(self.client.error_of(ctx, &Method::PUT, &url, resp).await);
            }
            self.check_committed(&resp, digest)
        }
        .await;
        if result.is_err() {
            self.cancel_upload(ctx, &location).await;
        }
        result
    }

    /// Cross-repository mount (`POST …/uploads/?mount=DIGEST&from=REPO`) on
    /// the same registry: true when mounted, false when the registry would
    /// rather have it uploaded (the session it opened is cancelled).
    pub async fn mount_blob(&self, from_path: &str, digest: &Digest) -> Result<bool, Error> {
        let mut ctx = self.push_ctx().await?;
        ctx.scopes.push(format!("repository:{from_path}:pull"));
        let d = digest.to_string();
        let (resp, url) = self
            .start_upload(&ctx, &[("mount", &d), ("from", from_path)])
            .await?;
        match resp.status() {
            StatusCode::CREATED => Ok(true),
            StatusCode::ACCEPTED => {
                if let Ok(loc) = self.upload_location(&resp, &url) {
                    drop(resp);
                    self.cancel_upload(&ctx, &loc).await;
                }
                Ok(false)
            }
            _ => Err(self.client.error_of(&ctx, &Method::POST, &url, resp).await),
        }
    }

    /// Uploads a manifest under a tag or its digest and returns its digest
    /// (checked against `Docker-Content-Digest`).
    pub async fn push_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<Digest, Error> {
        let limit = self.client.inner.config.max_manifest_size;
        if bytes.len() as u64 > limit {
            return Err(Error::TooLarge {
                what: "manifest to push".into(),
                limit,
            });
        }
        let expected = self.check_manifest_reference(reference)?;
        let digest = verify::digest_bytes(&bytes, expected.as_ref());
        if let Some(e) = &expected {
            if e != &digest {
                return Err(Error::DigestMismatch {
                    what: "manifest to push".into(),
                    expected: e.to_string(),
                    actual: digest.to_string(),
                });
            }
        }
        let ctype = HeaderValue::from_str(media_type)
            .map_err(|_| Error::InvalidInput(format!("invalid media type {media_type:?}")))?;
        let ctx = self.push_ctx().await?;
        let url = ctx
            .ep
            .v2(&format!("{}/manifests/{reference}", self.repo.path));
        let resp = self
            .client
            .execute(
                &ctx,
                Method::PUT,
                &url,
                &[(CONTENT_TYPE, ctype)],
                ReqData::Bytes(bytes),
            )
            .await?;
        if !resp.status().is_success() {
            return Err(self.client.error_of(&ctx, &Method::PUT, &url, resp).await);
        }
        if let Some(h) = parse_content_digest(&resp) {
            if h.algorithm() == digest.algorithm() && h != digest {
                return Err(Error::DigestMismatch {
                    what: format!("manifest pushed to {}", self.repo.domain),
                    expected: digest.to_string(),
                    actual: h.to_string(),
                });
            }
        }
        Ok(digest)
    }

    /// Every tag of the repository (`GET /v2/NAME/tags/list`, all pages).
    pub async fn tags(&self) -> Result<Vec<String>, Error> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut last = None;
        let mut i = 0;
        while let Some(ep) = self.pull_endpoint(i).await? {
            i += 1;
            let mirror = ep.mirror;
            let ctx = self.ctx(ep, Access::Pull);
            let first = ctx.ep.v2(&format!("{}/tags/list", self.repo.path));
            match self.client.paged(&ctx, &first, "tag list").await {
                Ok(pages) => {
                    let mut out = Vec::new();
                    for body in pages {
                        let p: Page = serde_json::from_slice(&body).map_err(|e| {
                            Error::InvalidInput(format!(
                                "invalid tag list from {}: {e}",
                                ctx.ep.host
                            ))
                        })?;
                        out.extend(p.tags.unwrap_or_default());
                    }
                    return Ok(out);
                }
                Err(e) if mirror => {
                    self.mirror_failed(&ctx.ep, &e);
                    last = Some(e);
                }
                Err(e) => return Err(self.translate_pull_error(e, "latest")),
            }
        }
        Err(last.unwrap_or_else(|| Error::Config("no registry endpoint".into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_media_types() {
        assert_eq!(
            next_link(r#"</v2/_catalog?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/_catalog?last=b&n=2")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
        assert_eq!(
            bare_media_type("Application/JSON; charset=utf-8"),
            "application/json"
        );
        assert_eq!(
            sniff_media_type(br#"{"schemaVersion":2,"manifests":[]}"#).as_deref(),
            Some(MEDIA_OCI_INDEX)
        );
        assert_eq!(
            sniff_media_type(br#"{"schemaVersion":2,"config":{},"layers":[]}"#).as_deref(),
            Some(MEDIA_OCI_MANIFEST)
        );
        assert_eq!(
            sniff_media_type(br#"{"schemaVersion":1,"signatures":[]}"#).as_deref(),
            Some(MEDIA_SCHEMA1_SIGNED)
        );
        assert_eq!(sniff_media_type(b"nonsense"), None);
    }

    #[test]
    fn familiar_names() {
        assert_eq!(
            Repository::new("docker.io", "library/busybox").familiar_name(),
            "busybox"
        );
        assert_eq!(
            Repository::new("127.0.0.1:5000", "a/b").familiar_name(),
            "127.0.0.1:5000/a/b"
        );
    }

    #[test]
    fn bad_config_is_refused() {
        let e = Client::new(ClientConfig {
            mirrors: vec!["ftp://x".into()],
            ..ClientConfig::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("unsupported scheme"), "{e}");
        let e = Client::new(ClientConfig {
            insecure_registries: vec!["https://x".into()],
            ..ClientConfig::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("should not contain"), "{e}");
    }
}
