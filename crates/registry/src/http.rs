//! The HTTP API: routing of `/v2/...` paths (repository names contain
//! slashes, so paths are split by hand from the end), authorization of each
//! route, and the handlers for blobs, uploads, manifests, tags, catalog,
//! referrers, the v1 search (`/v1/search`, what `docker search` asks) and
//! the token endpoint. Bodies are streamed: uploads go to the
//! staging file while being hashed, blobs are read from disk in chunks, and
//! only manifests (capped) are held in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::Response;
use berth_reference::Digest;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::{OwnedMutexGuard, Semaphore};

use crate::auth::{self, Auth, Claims, Decision, Identity, Need};
use crate::config::Config;
use crate::error::{ApiError, ApiResult, ErrorCode, RegistryError};
use crate::hash::{self, Hasher};
use crate::manifest;
use crate::names::{self, Reference};
use crate::storage::{PutManifestError, Storage};

/// How long a request body may stay silent before the upload is abandoned.
const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Default and largest page of the catalog.
const CATALOG_DEFAULT_N: usize = 100;
const CATALOG_MAX_N: usize = 1000;
/// Default and largest number of search results (Docker Hub's).
const SEARCH_DEFAULT_N: usize = 25;
const SEARCH_MAX_N: usize = 100;
/// Manifest bodies read into memory at once (each up to
/// `max_manifest_bytes`); further pushes wait.
const MANIFEST_BODIES: usize = 16;
/// Largest token request body (`POST /token`).
const TOKEN_FORM_MAX: usize = 64 * 1024;

/// Shared state of the server.
pub(crate) struct AppState {
    pub storage: Storage,
    pub auth: Auth,
    pub config: Config,
    pub tls: bool,
    pub inflight: Arc<Semaphore>,
    /// Bounds the manifests held in memory at once.
    manifest_bodies: Semaphore,
    upload_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl AppState {
    pub fn new(storage: Storage, auth: Auth, config: Config, tls: bool) -> AppState {
        AppState {
            storage,
            auth,
            inflight: Arc::new(Semaphore::new(config.max_concurrent_requests)),
            manifest_bodies: Semaphore::new(MANIFEST_BODIES),
            config,
            tls,
            upload_locks: Mutex::new(HashMap::new()),
        }
    }

    /// Serializes requests on one upload session.
    async fn lock_upload(self: &Arc<Self>, id: &str) -> UploadLock {
        let m = {
            let mut map = self.upload_locks.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(id.to_owned()).or_default().clone()
        };
        let guard = m.clone().lock_owned().await;
        UploadLock {
            guard: Some(guard),
            state: self.clone(),
            id: id.to_owned(),
            mutex: m,
        }
    }
}

struct UploadLock {
    guard: Option<OwnedMutexGuard<()>>,
    state: Arc<AppState>,
    id: String,
    mutex: Arc<tokio::sync::Mutex<()>>,
}

impl Drop for UploadLock {
    fn drop(&mut self) {
        self.guard.take();
        let mut map = self
            .state
            .upload_locks
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // The map's reference and ours: nobody else waits, forget the lock.
        if Arc::strong_count(&self.mutex) <= 2 {
            map.remove(&self.id);
        }
    }
}

/// Removes a staging upload unless disarmed (a monolithic upload that
/// failed, or whose request was dropped midway).
struct StagingGuard {
    storage: Storage,
    id: Option<String>,
}

impl Drop for StagingGuard {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            if let Err(e) = self.storage.remove_upload(&id) {
                tracing::warn!("registry: cleaning up upload {id}: {e}");
            }
        }
    }
}

/// Runs blocking storage work on the blocking pool.
async fn blocking<T, F>(f: F) -> ApiResult<T>
where
    F: FnOnce() -> Result<T, RegistryError> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(ApiError::from),
        Err(e) => Err(ApiError::internal("storage task", e)),
    }
}

/// The parsed target of a request.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Base,
    Catalog,
    Search,
    Token,
    Tags(String),
    Manifest(String, String),
    Blob(String, String),
    UploadStart(String),
    Upload(String, String),
    Referrers(String, String),
}

fn not_found() -> ApiError {
    ApiError::msg(ErrorCode::Unsupported, "no such endpoint").status(StatusCode::NOT_FOUND)
}

fn parse_route(path: &str) -> ApiResult<Route> {
    if path == "/token" {
        return Ok(Route::Token);
    }
    if path == "/v2" || path == "/v2/" {
        return Ok(Route::Base);
    }
    if path == "/v1/search" {
        return Ok(Route::Search);
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return Err(not_found());
    };
    if rest == "_catalog" {
        return Ok(Route::Catalog);
    }
    let named = |name: &str| -> ApiResult<String> {
        names::validate_name(name)?;
        Ok(name.to_owned())
    };
    let last_segment = |s: &str| -> ApiResult<String> {
        names::percent_decode(s).ok_or_else(|| {
            ApiError::msg(
                ErrorCode::NameInvalid,
                format!("malformed URL segment {s:?}"),
            )
        })
    };
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Ok(Route::Tags(named(name)?));
    }
    if let Some(name) = rest
        .strip_suffix("/blobs/uploads/")
        .or_else(|| rest.strip_suffix("/blobs/uploads"))
    {
        return Ok(Route::UploadStart(named(name)?));
    }
    let Some((head, last)) = rest.rsplit_once('/') else {
        return Err(not_found());
    };
    if let Some(name) = head.strip_suffix("/blobs/uploads") {
        return Ok(Route::Upload(named(name)?, last_segment(last)?));
    }
    if let Some(name) = head.strip_suffix("/blobs") {
        return Ok(Route::Blob(named(name)?, last_segment(last)?));
    }
    if let Some(name) = head.strip_suffix("/manifests") {
        return Ok(Route::Manifest(named(name)?, last_segment(last)?));
    }
    if let Some(name) = head.strip_suffix("/referrers") {
        return Ok(Route::Referrers(named(name)?, last_segment(last)?));
    }
    Err(not_found())
}

fn query_pairs(req: &Parts) -> Vec<(String, String)> {
    req.uri
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn query_get<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Entry point for every request.
pub(crate) async fn handle(state: Arc<AppState>, req: Request<Body>) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut resp = match state.inflight.clone().try_acquire_owned() {
        Ok(_permit) => match dispatch(&state, req).await {
            Ok(r) => r,
            Err(e) => e.into_response(),
        },
        Err(_) => ApiError::msg(
            ErrorCode::TooManyRequests,
            "too many requests in progress; retry shortly",
        )
        .header("retry-after", "1")
        .into_response(),
    };
    tracing::debug!("registry: {method} {path} -> {}", resp.status());
    resp.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    resp
}

/// What an authorized request may rely on.
struct Caller {
    identity: Identity,
    claims: Option<Claims>,
}

impl Caller {
    fn can(&self, auth: &Auth, need: &Need) -> bool {
        if let Some(c) = &self.claims {
            return auth::claims_cover(c, need);
        }
        match need {
            Need::Login => true,
            Need::Catalog => auth.catalog_allowed(&self.identity),
            Need::Repo(name, actions) => auth.permitted(&self.identity, name) & actions == *actions,
        }
    }
}

async fn dispatch(state: &Arc<AppState>, req: Request<Body>) -> ApiResult<Response> {
    let (req, body) = req.into_parts();
    let route = parse_route(req.uri.path())?;
    let method = req.method.clone();
    let is_get = method == Method::GET || method == Method::HEAD;
    let need = match &route {
        Route::Token => return token(state, &req, body).await,
        Route::Base | Route::Catalog | Route::Search | Route::Tags(_) | Route::Referrers(..)
            if !is_get =>
        {
            return Err(unsupported_method(&method));
        }
        Route::Base => Need::Login,
        Route::Catalog | Route::Search => Need::Catalog,
        Route::Tags(name) | Route::Referrers(name, _) => Need::Repo(name.clone(), auth::PULL),
        Route::Manifest(name, _) | Route::Blob(name, _) => {
            if is_get {
                Need::Repo(name.clone(), auth::PULL)
            } else if method == Method::DELETE {
                Need::Repo(name.clone(), auth::DELETE)
            } else if method == Method::PUT && matches!(route, Route::Manifest(..)) {
                Need::Repo(name.clone(), auth::PULL | auth::PUSH)
            } else {
                return Err(unsupported_method(&method));
            }
        }
        Route::UploadStart(name) | Route::Upload(name, _) => {
            Need::Repo(name.clone(), auth::PULL | auth::PUSH)
        }
    };
    let caller = authorize(state, &req.headers, &need).await?;
    match route {
        Route::Base => {
            let mut r = Response::new(Body::from("{}"));
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(2));
            Ok(r)
        }
        Route::Catalog => catalog(state, &caller, &req).await,
        Route::Search => search(state, &caller, &req).await,
        Route::Tags(name) => tags_list(state, &name, &req).await,
        Route::Referrers(name, digest) => referrers(state, &name, &digest, &req).await,
        Route::Manifest(name, reference) => match method {
            Method::GET | Method::HEAD => get_manifest(state, &name, &reference, &req).await,
            Method::PUT => put_manifest(state, &name, &reference, &req, body).await,
            _ => delete_manifest(state, &name, &reference).await,
        },
        Route::Blob(name, digest) => match method {
            Method::GET | Method::HEAD => get_blob(state, &name, &digest, &req).await,
            _ => delete_blob(state, &name, &digest).await,
        },
        Route::UploadStart(name) => {
            if method != Method::POST {
                return Err(unsupported_method(&method));
            }
            start_upload(state, &caller, &name, &req, body).await
        }
        Route::Upload(name, id) => match method {
            Method::GET | Method::HEAD => upload_status(state, &name, &id).await,
            Method::PATCH => patch_upload(state, &name, &id, &req, body).await,
            Method::PUT => finish_upload(state, &name, &id, &req, body).await,
            Method::DELETE => cancel_upload(state, &name, &id).await,
            _ => Err(unsupported_method(&method)),
        },
        Route::Token => Err(not_found()),
    }
}

fn unsupported_method(m: &Method) -> ApiError {
    ApiError::msg(
        ErrorCode::Unsupported,
        format!("method {m} is not supported on this endpoint"),
    )
}

// ---- authorization ------------------------------------------------------------

async fn authorize(state: &Arc<AppState>, headers: &HeaderMap, need: &Need) -> ApiResult<Caller> {
    let auth = &state.auth;
    if !auth.enabled() {
        return Ok(Caller {
            identity: Identity::Anonymous,
            claims: None,
        });
    }
    let authz = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let decision = if auth.token_mode() {
        match authz.and_then(auth::parse_bearer) {
            None => Decision::Unauthorized {
                error: None,
                reason: "a bearer token is required".into(),
            },
            Some(tok) => match auth.verify_token(tok) {
                Err(why) => Decision::Unauthorized {
                    error: Some("invalid_token"),
                    reason: why,
                },
                Ok(claims) => {
                    let identity = if claims.sub.is_empty() {
                        Identity::Anonymous
                    } else {
                        Identity::User(claims.sub.clone())
                    };
                    let caller = Caller {
                        identity: identity.clone(),
                        claims: Some(claims),
                    };
                    if caller.can(auth, need) {
                        return Ok(caller);
                    }
                    Decision::Denied {
                        account: match identity {
                            Identity::User(u) => Some(u),
                            Identity::Anonymous => None,
                        },
                    }
                }
            },
        }
    } else {
        match authz.and_then(auth::parse_basic) {
            None => {
                let caller = Caller {
                    identity: Identity::Anonymous,
                    claims: None,
                };
                if *need != Need::Login && caller.can(auth, need) {
                    return Ok(caller);
                }
                Decision::Unauthorized {
                    error: None,
                    reason: "credentials are required".into(),
                }
            }
            Some((user, password)) => {
                if !auth.check_password(&user, &password).await {
                    Decision::Unauthorized {
                        error: None,
                        reason: "invalid username or password".into(),
                    }
                } else {
                    let caller = Caller {
                        identity: Identity::User(user.clone()),
                        claims: None,
                    };
                    if caller.can(auth, need) {
                        return Ok(caller);
                    }
                    Decision::Denied {
                        account: Some(user),
                    }
                }
            }
        }
    };
    Err(refusal(state, headers, need, decision))
}

fn refusal(state: &AppState, headers: &HeaderMap, need: &Need, decision: Decision) -> ApiError {
    let auth = &state.auth;
    let detail = need.scope().map(|s| serde_json::json!({ "scope": s }));
    let with_detail = |e: ApiError| match &detail {
        Some(d) => e.detail(d.clone()),
        None => e,
    };
    if auth.token_mode() {
        let (code, message, error) = match &decision {
            Decision::Unauthorized { error, reason } => (
                ErrorCode::Unauthorized,
                format!("authentication required: {reason}"),
                *error,
            ),
            Decision::Denied { account: Some(_) } => (
                ErrorCode::Denied,
                ErrorCode::Denied.default_message().to_owned(),
                Some("insufficient_scope"),
            ),
            Decision::Denied { account: None } => (
                ErrorCode::Unauthorized,
                "authentication required".to_owned(),
                Some("insufficient_scope"),
            ),
        };
        let mut challenge = format!(
            "Bearer realm=\"{}\",service=\"{}\"",
            token_realm(state, headers),
            auth.service()
        );
        if let Some(scope) = need.scope() {
            challenge.push_str(&format!(",scope=\"{scope}\""));
        }
        if let Some(err) = error {
            challenge.push_str(&format!(",error=\"{err}\""));
        }
        return with_detail(
            ApiError::msg(code, message)
                .status(StatusCode::UNAUTHORIZED)
                .header("www-authenticate", challenge),
        );
    }
    match decision {
        Decision::Denied { .. } => with_detail(ApiError::new(ErrorCode::Denied)),
        Decision::Unauthorized { reason, .. } => with_detail(
            ApiError::msg(
                ErrorCode::Unauthorized,
                format!("authentication required: {reason}"),
            )
            .header(
                "www-authenticate",
                format!("Basic realm=\"{}\"", auth.realm()),
            ),
        ),
    }
}

/// The token realm: configured, or this server's `/token` as seen by the
/// client (Host header).
fn token_realm(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(r) = state.auth.token_realm() {
        return r.to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b".-:[]_".contains(&c))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| state.config.addr.to_string());
    let scheme = if state.tls { "https" } else { "http" };
    format!("{scheme}://{host}/token")
}

// ---- token endpoint -------------------------------------------------------------

async fn token(state: &Arc<AppState>, req: &Parts, body: Body) -> ApiResult<Response> {
    let auth = &state.auth;
    if !auth.token_mode() {
        return Err(not_found());
    }
    let basic_challenge = format!("Basic realm=\"{}\"", auth.realm());
    let bad_credentials = || {
        ApiError::msg(ErrorCode::Unauthorized, "incorrect username or password")
            .header("www-authenticate", basic_challenge.clone())
    };
    let (identity, scopes, oauth) = match req.method {
        Method::GET => {
            let q = query_pairs(req);
            let scopes: Vec<String> = q
                .iter()
                .filter(|(k, _)| k == "scope")
                .map(|(_, v)| v.clone())
                .collect();
            let authz = req
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            let identity = match authz {
                None => Identity::Anonymous,
                Some(h) => match auth::parse_basic(h) {
                    Some((u, p)) if auth.check_password(&u, &p).await => Identity::User(u),
                    _ => return Err(bad_credentials()),
                },
            };
            (identity, scopes, false)
        }
        Method::POST => {
            let body = read_limited(body, TOKEN_FORM_MAX).await.map_err(|_| {
                ApiError::msg(ErrorCode::Unsupported, "token request body too large")
                    .status(StatusCode::BAD_REQUEST)
            })?;
            let form: Vec<(String, String)> = form_urlencoded::parse(&body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            if query_get(&form, "grant_type") != Some("password") {
                let mut r = json_response(
                    StatusCode::BAD_REQUEST,
                    &serde_json::json!({
                        "error": "unsupported_grant_type",
                        "error_description": "only the password grant is supported"
                    }),
                );
                r.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                return Ok(r);
            }
            let user = query_get(&form, "username").unwrap_or("");
            let pass = query_get(&form, "password").unwrap_or("");
            if !auth.check_password(user, pass).await {
                return Err(bad_credentials());
            }
            let scopes = form
                .iter()
                .filter(|(k, _)| k == "scope")
                .map(|(_, v)| v.clone())
                .collect();
            (Identity::User(user.to_owned()), scopes, true)
        }
        ref m => return Err(unsupported_method(m)),
    };
    let access = auth.grant(&identity, &scopes);
    let scope_text = access
        .iter()
        .map(|a| format!("{}:{}:{}", a.kind, a.name, a.actions.join(",")))
        .collect::<Vec<_>>()
        .join(" ");
    let account = match &identity {
        Identity::User(u) => Some(u.as_str()),
        Identity::Anonymous => None,
    };
    let (tok, expires) = auth
        .issue_token(account, access)
        .map_err(|e| ApiError::internal("issue token", e))?;
    let issued_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let body = if oauth {
        serde_json::json!({
            "access_token": tok, "token": tok, "expires_in": expires,
            "issued_at": issued_at, "scope": scope_text,
        })
    } else {
        serde_json::json!({
            "token": tok, "access_token": tok, "expires_in": expires, "issued_at": issued_at,
        })
    };
    let mut r = json_response(StatusCode::OK, &body);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

// ---- helpers ------------------------------------------------------------------------

fn json_response(status: StatusCode, v: &serde_json::Value) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    let len = body.len();
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
}

fn hv(s: &str) -> ApiResult<HeaderValue> {
    HeaderValue::from_str(s).map_err(|e| ApiError::internal("response header", e))
}

fn empty(status: StatusCode, headers: &[(&'static str, String)]) -> ApiResult<Response> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    for (k, v) in headers {
        h.append(*k, hv(v)?);
    }
    Ok(r)
}

/// Reads a whole body up to `max` bytes; `Err(())` when it is longer or
/// broken.
async fn read_limited(body: Body, max: usize) -> Result<Vec<u8>, ()> {
    let mut out = Vec::new();
    let mut stream = body.into_data_stream();
    loop {
        match tokio::time::timeout(BODY_IDLE_TIMEOUT, stream.next()).await {
            Ok(Some(Ok(chunk))) => {
                if out.len() + chunk.len() > max {
                    return Err(());
                }
                out.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(out),
            _ => return Err(()),
        }
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse().ok())
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Parses an upload `Content-Range`: `start-end` (the spec's form), also
/// `bytes start-end[/total]` as some clients send.
fn parse_content_range(s: &str) -> Option<(u64, u64)> {
    let s = s.trim();
    let s = s
        .strip_prefix("bytes=")
        .or_else(|| s.strip_prefix("bytes "))
        .unwrap_or(s);
    let s = s.split('/').next()?;
    let (a, b) = s.split_once('-')?;
    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then_some((a, b))
}

/// A `Range: bytes=...` request on content of `size` bytes: `Ok(None)` to
/// serve everything (no or ignorable header), `Ok(Some((start, end)))`
/// inclusive, `Err(())` when unsatisfiable.
fn parse_range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(h) = header else {
        return Ok(None);
    };
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None); // multiple ranges: serve the whole blob
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return Ok(None);
        };
        if n == 0 || size == 0 {
            return Err(());
        }
        return Ok(Some((size.saturating_sub(n), size - 1)));
    }
    let Ok(start) = a.parse::<u64>() else {
        return Ok(None);
    };
    let end = if b.is_empty() {
        size.saturating_sub(1)
    } else {
        match b.parse::<u64>() {
            Ok(e) if e >= start => e.min(size.saturating_sub(1)),
            _ => return Ok(None),
        }
    };
    if start >= size {
        return Err(());
    }
    Ok(Some((start, end)))
}

// ---- blobs ------------------------------------------------------------------------

async fn get_blob(
    state: &Arc<AppState>,
    name: &str,
    digest: &str,
    req: &Parts,
) -> ApiResult<Response> {
    let d = names::parse_digest(digest)?;
    let storage = state.storage.clone();
    let (n, dd) = (name.to_owned(), d.clone());
    let size = blocking(move || storage.blob_in_repo(&n, &dd))
        .await?
        .ok_or_else(|| {
            ApiError::msg(
                ErrorCode::BlobUnknown,
                format!("blob {d} is not in repository {name}"),
            )
            .detail(serde_json::json!({ "digest": d.to_string() }))
        })?;
    let range = match parse_range(header_str(&req.headers, header::RANGE), size) {
        Ok(r) => r,
        Err(()) => {
            return Err(ApiError::msg(
                ErrorCode::RangeInvalid,
                format!("requested range is outside the blob's {size} bytes"),
            )
            .header("content-range", format!("bytes */{size}")))
        }
    };
    let (start, len, status) = match range {
        Some((s, e)) => (s, e - s + 1, StatusCode::PARTIAL_CONTENT),
        None => (0, size, StatusCode::OK),
    };
    let body = if req.method == Method::HEAD {
        Body::empty()
    } else {
        let path = state.storage.blob_path(&d);
        let mut f = tokio::fs::File::open(&path)
            .await
            .map_err(|e| ApiError::internal(&format!("open blob {d}"), e))?;
        if start > 0 {
            f.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(|e| ApiError::internal(&format!("seek blob {d}"), e))?;
        }
        let stream = tokio_util::io::ReaderStream::with_capacity(f.take(len), 64 * 1024);
        Body::from_stream(stream)
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert("docker-content-digest", hv(&d.to_string())?);
    h.insert(header::ETAG, hv(&format!("\"{d}\""))?);
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=31536000"),
    );
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(
            header::CONTENT_RANGE,
            hv(&format!("bytes {start}-{}/{size}", start + len - 1))?,
        );
    }
    Ok(r)
}

fn deletes_disabled() -> ApiError {
    ApiError::msg(
        ErrorCode::Unsupported,
        "deletes are disabled on this registry (delete_enabled is false)",
    )
}

async fn delete_blob(state: &Arc<AppState>, name: &str, digest: &str) -> ApiResult<Response> {
    if !state.config.delete_enabled {
        return Err(deletes_disabled());
    }
    let d = names::parse_digest(digest)?;
    let storage = state.storage.clone();
    let (n, dd) = (name.to_owned(), d.clone());
    if !blocking(move || storage.unlink_blob(&n, &dd)).await? {
        return Err(ApiError::msg(
            ErrorCode::BlobUnknown,
            format!("blob {d} is not in repository {name}"),
        ));
    }
    empty(
        StatusCode::ACCEPTED,
        &[("docker-content-digest", d.to_string())],
    )
}

// ---- uploads ------------------------------------------------------------------------

fn upload_location(name: &str, id: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

fn upload_headers(name: &str, id: &str, size: u64) -> Vec<(&'static str, String)> {
    vec![
        ("location", upload_location(name, id)),
        ("range", format!("0-{}", size.saturating_sub(1))),
        ("docker-upload-uuid", id.to_owned()),
    ]
}

fn blob_created(name: &str, d: &Digest) -> ApiResult<Response> {
    empty(
        StatusCode::CREATED,
        &[
            ("location", format!("/v2/{name}/blobs/{d}")),
            ("docker-content-digest", d.to_string()),
        ],
    )
}

fn upload_unknown(id: &str) -> ApiError {
    ApiError::msg(
        ErrorCode::BlobUploadUnknown,
        format!("upload {id} is unknown: it finished, was cancelled or expired; start a new one"),
    )
}

async fn start_upload(
    state: &Arc<AppState>,
    caller: &Caller,
    name: &str,
    req: &Parts,
    body: Body,
) -> ApiResult<Response> {
    let q = query_pairs(req);
    let algorithm = match query_get(&q, "digest-algorithm") {
        None => "sha256".to_owned(),
        Some(a) if Hasher::new(a).is_some() => a.to_owned(),
        Some(a) => {
            return Err(ApiError::msg(
                ErrorCode::DigestInvalid,
                format!("unsupported digest algorithm {a:?} (use sha256, sha384 or sha512)"),
            ))
        }
    };
    // Cross-repository mount.
    if let (Some(mount), Some(from)) = (query_get(&q, "mount"), query_get(&q, "from")) {
        let d = names::parse_digest(mount)?;
        let allowed = names::validate_name(from).is_ok()
            && caller.can(&state.auth, &Need::Repo(from.to_owned(), auth::PULL));
        if allowed {
            let storage = state.storage.clone();
            let (n, f, dd) = (name.to_owned(), from.to_owned(), d.clone());
            let mounted = blocking(move || {
                if storage.blob_in_repo(&f, &dd)?.is_none() {
                    return Ok(false);
                }
                let _lock = storage.gc_lock(false)?;
                Ok(storage.link_blob(&n, &dd)?.is_some())
            })
            .await?;
            if mounted {
                return blob_created(name, &d);
            }
        }
        // Not mountable: fall back to a new upload session (202).
    } else if let Some(digest) = query_get(&q, "digest") {
        let d = names::parse_digest(digest)?;
        return monolithic_upload(state, name, d, req, body).await;
    }
    let storage = state.storage.clone();
    let n = name.to_owned();
    let alg = algorithm.clone();
    let id = blocking(move || {
        let id = storage.create_upload(&n)?;
        let h = Hasher::new(&alg);
        storage.save_upload_state(&id, 0, h.as_ref())?;
        Ok(id)
    })
    .await?;
    empty(StatusCode::ACCEPTED, &upload_headers(name, &id, 0))
}

/// `POST .../blobs/uploads/?digest=`: the whole blob in one request.
async fn monolithic_upload(
    state: &Arc<AppState>,
    name: &str,
    d: Digest,
    req: &Parts,
    body: Body,
) -> ApiResult<Response> {
    let storage = state.storage.clone();
    let n = name.to_owned();
    let id = blocking(move || storage.create_upload(&n)).await?;
    let guard = StagingGuard {
        storage: state.storage.clone(),
        id: Some(id.clone()),
    };
    let declared = content_length(&req.headers);
    let mut hasher = Hasher::new(d.algorithm());
    let path = state.storage.upload_data(&id);
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .await
        .map_err(|e| ApiError::internal("open upload data", e))?;
    let (written, result) = append_body(body, &mut file, &mut hasher, None).await;
    drop(file);
    match result {
        Ok(()) => {}
        Err(BodyError::Io(e)) => return Err(ApiError::internal("write upload data", e)),
        Err(e) => return Err(e.into_api()),
    }
    if declared.is_some_and(|n| n != written) {
        return Err(size_invalid(format!(
            "received {written} bytes but Content-Length said {}",
            declared.unwrap_or(0)
        )));
    }
    let computed = hasher
        .map(Hasher::finish)
        .ok_or_else(|| ApiError::internal("hash upload", "no hasher"))?;
    if computed != d {
        return Err(digest_mismatch(&d));
    }
    let storage = state.storage.clone();
    let (n, dd) = (name.to_owned(), d.clone());
    let staged = path.clone();
    blocking(move || storage.commit_blob(&staged, &dd, &n)).await?;
    // The data moved into the blob store; the guard removes the rest.
    drop(guard);
    blob_created(name, &d)
}

fn digest_mismatch(d: &Digest) -> ApiError {
    ApiError::msg(
        ErrorCode::DigestInvalid,
        format!("uploaded content does not match digest {d}; nothing was stored"),
    )
    .detail(serde_json::json!({ "digest": d.to_string() }))
}

fn size_invalid(message: String) -> ApiError {
    ApiError::msg(ErrorCode::SizeInvalid, message)
}

enum BodyError {
    /// More bytes than the declared range.
    TooLong,
    /// The client's stream broke or went silent.
    Client(String),
    /// Writing the staging file failed.
    Io(std::io::Error),
}

impl BodyError {
    fn into_api(self) -> ApiError {
        match self {
            BodyError::TooLong => {
                size_invalid("request body is longer than its Content-Range".into())
            }
            BodyError::Client(why) => ApiError::msg(
                ErrorCode::BlobUploadInvalid,
                format!("upload interrupted: {why}"),
            ),
            BodyError::Io(e) => ApiError::internal("write upload data", e),
        }
    }
}

/// Streams a request body to the end of `file`, hashing what was written.
/// Returns the number of bytes written (all of them hashed) and how it
/// ended. After an `Io` error the file may hold a partial chunk past the
/// returned count.
async fn append_body(
    body: Body,
    file: &mut tokio::fs::File,
    hasher: &mut Option<Hasher>,
    limit: Option<u64>,
) -> (u64, Result<(), BodyError>) {
    let mut stream = body.into_data_stream();
    let mut written = 0u64;
    let result = loop {
        let chunk = match tokio::time::timeout(BODY_IDLE_TIMEOUT, stream.next()).await {
            Err(_) => break Err(BodyError::Client("no data received for 120 seconds".into())),
            Ok(None) => break Ok(()),
            Ok(Some(Err(e))) => break Err(BodyError::Client(e.to_string())),
            Ok(Some(Ok(c))) => c,
        };
        if limit.is_some_and(|l| written + chunk.len() as u64 > l) {
            break Err(BodyError::TooLong);
        }
        if let Err(e) = file.write_all(&chunk).await {
            break Err(BodyError::Io(e));
        }
        if let Some(h) = hasher.as_mut() {
            h.update(&chunk);
        }
        written += chunk.len() as u64;
    };
    if let Err(e) = file.flush().await {
        if result.is_ok() {
            return (written, Err(BodyError::Io(e)));
        }
    }
    (written, result)
}

async fn upload_status(state: &Arc<AppState>, name: &str, id: &str) -> ApiResult<Response> {
    let _lock = state.lock_upload(id).await;
    let storage = state.storage.clone();
    let (n, i) = (name.to_owned(), id.to_owned());
    let size = blocking(move || {
        if storage.upload_info(&n, &i)?.is_none() {
            return Ok(None);
        }
        Ok(Some(storage.upload_state(&i)?.0))
    })
    .await?
    .ok_or_else(|| upload_unknown(id))?;
    empty(StatusCode::NO_CONTENT, &upload_headers(name, id, size))
}

async fn cancel_upload(state: &Arc<AppState>, name: &str, id: &str) -> ApiResult<Response> {
    let _lock = state.lock_upload(id).await;
    let storage = state.storage.clone();
    let (n, i) = (name.to_owned(), id.to_owned());
    let removed = blocking(move || {
        if storage.upload_info(&n, &i)?.is_none() {
            return Ok(false);
        }
        storage.remove_upload(&i)
    })
    .await?;
    if !removed {
        return Err(upload_unknown(id));
    }
    empty(StatusCode::NO_CONTENT, &[])
}

/// Appends one chunk (the body of a PATCH or of the closing PUT) to an
/// upload, checking `Content-Range`. Returns the new size and hash state.
/// A refused chunk leaves the upload as it was; an interrupted one keeps
/// what arrived (the client can ask for the status and resume).
async fn append_chunk(
    state: &Arc<AppState>,
    name: &str,
    id: &str,
    req: &Parts,
    body: Body,
    closing: bool,
) -> ApiResult<(u64, Option<Hasher>)> {
    let storage = state.storage.clone();
    let (n, i) = (name.to_owned(), id.to_owned());
    let loaded = blocking(move || {
        if storage.upload_info(&n, &i)?.is_none() {
            return Ok(None);
        }
        Ok(Some(storage.upload_state(&i)?))
    })
    .await?;
    let Some((size, mut hasher)) = loaded else {
        return Err(upload_unknown(id));
    };
    let headers = &req.headers;
    let declared_len = content_length(headers);
    let range = match header_str(headers, header::CONTENT_RANGE) {
        None => None,
        Some(cr) => match parse_content_range(cr) {
            Some(r) => Some(r),
            None => {
                return Err(ApiError::msg(
                    ErrorCode::RangeInvalid,
                    format!("malformed Content-Range {cr:?}: expected <start>-<end>"),
                )
                .status(StatusCode::BAD_REQUEST))
            }
        },
    };
    if let Some((start, end)) = range {
        if start != size {
            let mut e = ApiError::msg(
                ErrorCode::RangeInvalid,
                format!(
                    "chunk starts at byte {start} but the upload has {size} bytes; \
                     chunks must be sent in order (GET the upload for its status)"
                ),
            );
            for (k, v) in upload_headers(name, id, size) {
                e = e.header(k, v);
            }
            return Err(e);
        }
        if declared_len.is_some_and(|l| l != end - start + 1) {
            return Err(size_invalid(format!(
                "Content-Range {start}-{end} is {} bytes but Content-Length is {}",
                end - start + 1,
                declared_len.unwrap_or(0)
            )));
        }
    }
    if closing && declared_len == Some(0) && range.is_none() {
        return Ok((size, hasher));
    }
    let path = state.storage.upload_data(id);
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .await
        .map_err(|e| ApiError::internal("open upload data", e))?;
    file.seek(std::io::SeekFrom::Start(size))
        .await
        .map_err(|e| ApiError::internal("seek upload data", e))?;
    let before = hasher.clone();
    let limit = range.map(|(s, e)| e - s + 1);
    let (written, result) = append_body(body, &mut file, &mut hasher, limit).await;
    drop(file);
    let expected = limit.or(declared_len);
    let refusal = match result {
        Ok(()) if expected.is_some_and(|x| x != written) => Some(size_invalid(format!(
            "received {written} bytes but the request announced {}",
            expected.unwrap_or(0)
        ))),
        Ok(()) => None,
        Err(BodyError::Client(why)) => {
            // Keep what arrived: resumable.
            let storage = state.storage.clone();
            let i = id.to_owned();
            let h = hasher.clone();
            blocking(move || storage.save_upload_state(&i, size + written, h.as_ref())).await?;
            return Err(BodyError::Client(why).into_api());
        }
        Err(e) => Some(e.into_api()),
    };
    if let Some(err) = refusal {
        let storage = state.storage.clone();
        let i = id.to_owned();
        blocking(move || {
            storage.truncate_upload(&i, size)?;
            storage.save_upload_state(&i, size, before.as_ref())
        })
        .await?;
        return Err(err);
    }
    let new_size = size + written;
    let storage = state.storage.clone();
    let i = id.to_owned();
    let h = hasher.clone();
    blocking(move || storage.save_upload_state(&i, new_size, h.as_ref())).await?;
    Ok((new_size, hasher))
}

async fn patch_upload(
    state: &Arc<AppState>,
    name: &str,
    id: &str,
    req: &Parts,
    body: Body,
) -> ApiResult<Response> {
    let _lock = state.lock_upload(id).await;
    let (size, _) = append_chunk(state, name, id, req, body, false).await?;
    empty(StatusCode::ACCEPTED, &upload_headers(name, id, size))
}

async fn finish_upload(
    state: &Arc<AppState>,
    name: &str,
    id: &str,
    req: &Parts,
    body: Body,
) -> ApiResult<Response> {
    let q = query_pairs(req);
    let Some(digest) = query_get(&q, "digest") else {
        return Err(ApiError::msg(
            ErrorCode::DigestInvalid,
            "the closing PUT needs the blob's digest: ?digest=<algorithm>:<hex>",
        ));
    };
    let d = names::parse_digest(digest)?;
    let _lock = state.lock_upload(id).await;
    let (_, hasher) = append_chunk(state, name, id, req, body, true).await?;
    let path = state.storage.upload_data(id);
    let from_state = hasher
        .filter(|h| h.algorithm() == d.algorithm())
        .map(Hasher::finish);
    let mut matches = from_state.as_ref() == Some(&d);
    if !matches {
        // No saved state for this algorithm, or it disagrees: hash the file.
        let (alg, p) = (d.algorithm().to_owned(), path.clone());
        let computed = blocking(move || {
            hash::digest_file(&alg, &p).map_err(|e| RegistryError::io("hash upload", &p, e))
        })
        .await?;
        matches = computed.0 == d;
    }
    if !matches {
        let storage = state.storage.clone();
        let i = id.to_owned();
        blocking(move || storage.remove_upload(&i)).await?;
        return Err(digest_mismatch(&d));
    }
    let storage = state.storage.clone();
    let (n, i, dd) = (name.to_owned(), id.to_owned(), d.clone());
    blocking(move || {
        storage.commit_blob(&path, &dd, &n)?;
        storage.remove_upload(&i)
    })
    .await?;
    blob_created(name, &d)
}

// ---- manifests ------------------------------------------------------------------------

async fn resolve(state: &Arc<AppState>, name: &str, reference: &str) -> ApiResult<Digest> {
    let r = Reference::parse(reference)?;
    let unknown = || {
        ApiError::msg(
            ErrorCode::ManifestUnknown,
            format!("manifest {reference} is not in repository {name}"),
        )
        .detail(serde_json::json!({ "name": name, "reference": reference }))
    };
    match r {
        Reference::Tag(t) => {
            let storage = state.storage.clone();
            let n = name.to_owned();
            blocking(move || storage.tag(&n, &t))
                .await?
                .ok_or_else(unknown)
        }
        Reference::Digest(d) => Ok(d),
    }
}

async fn get_manifest(
    state: &Arc<AppState>,
    name: &str,
    reference: &str,
    req: &Parts,
) -> ApiResult<Response> {
    let d = resolve(state, name, reference).await?;
    let storage = state.storage.clone();
    let (n, dd) = (name.to_owned(), d.clone());
    let (meta, bytes) = blocking(move || storage.manifest(&n, &dd))
        .await?
        .ok_or_else(|| {
            ApiError::msg(
                ErrorCode::ManifestUnknown,
                format!("manifest {reference} is not in repository {name}"),
            )
        })?;
    let etag = format!("\"{d}\"");
    let not_modified = header_str(&req.headers, header::IF_NONE_MATCH)
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let len = bytes.len();
    let mut r = if not_modified {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else if req.method == Method::HEAD {
        Response::new(Body::empty())
    } else {
        Response::new(Body::from(bytes))
    };
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, hv(&meta.media_type)?);
    if !not_modified {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    h.insert("docker-content-digest", hv(&d.to_string())?);
    h.insert(header::ETAG, hv(&etag)?);
    Ok(r)
}

async fn put_manifest(
    state: &Arc<AppState>,
    name: &str,
    reference: &str,
    req: &Parts,
    body: Body,
) -> ApiResult<Response> {
    let r = Reference::parse(reference)?;
    let q = query_pairs(req);
    let mut tags = Vec::new();
    let mut extra_tags = Vec::new();
    match &r {
        Reference::Tag(t) => tags.push(t.clone()),
        Reference::Digest(_) => {
            for (k, v) in &q {
                if k == "tag" {
                    if !names::is_valid_tag(v) {
                        return Err(ApiError::msg(
                            ErrorCode::ManifestInvalid,
                            format!("invalid tag {v:?} in ?tag="),
                        ));
                    }
                    if !extra_tags.contains(v) {
                        extra_tags.push(v.clone());
                    }
                }
            }
        }
    }
    tags.extend(extra_tags.iter().cloned());
    let max = state.config.max_manifest_bytes;
    let too_big = || {
        ApiError::msg(
            ErrorCode::ManifestInvalid,
            format!("manifest is larger than this registry's limit of {max} bytes"),
        )
        .status(StatusCode::PAYLOAD_TOO_LARGE)
    };
    if content_length(&req.headers).is_some_and(|l| l > max as u64) {
        return Err(too_big());
    }
    let content_type = header_str(&req.headers, header::CONTENT_TYPE)
        .unwrap_or("")
        .to_owned();
    let _permit = state
        .manifest_bodies
        .acquire()
        .await
        .map_err(|e| ApiError::internal("manifest buffer", e))?;
    let body = read_limited(body, max).await.map_err(|_| too_big())?;
    let algorithm = match &r {
        Reference::Digest(d) => d.algorithm().to_owned(),
        Reference::Tag(_) => "sha256".to_owned(),
    };
    let digest = hash::digest_bytes(&algorithm, &body)
        .ok_or_else(|| ApiError::internal("hash manifest", "unsupported algorithm"))?;
    if let Reference::Digest(d) = &r {
        if *d != digest {
            return Err(ApiError::msg(
                ErrorCode::DigestInvalid,
                format!("manifest digest is {digest}, not {d} as given in the URL"),
            )
            .detail(serde_json::json!({ "digest": d.to_string() })));
        }
    }
    let m = manifest::parse(&body, &content_type)?;
    let storage = state.storage.clone();
    let (n, dd, mm) = (name.to_owned(), digest.clone(), m.clone());
    let result =
        tokio::task::spawn_blocking(move || storage.put_manifest(&n, &dd, &body, &mm, &tags))
            .await
            .map_err(|e| ApiError::internal("storage task", e))?;
    match result {
        Ok(()) => {}
        Err(PutManifestError::Missing(missing)) => {
            let mut iter = missing.into_iter();
            let Some((first, kind)) = iter.next() else {
                return Err(ApiError::internal("store manifest", "missing list empty"));
            };
            let msg = |d: &str, kind: &str| {
                format!("manifest references {kind} {d}, which is not in repository {name}; push it first")
            };
            let mut e = ApiError::msg(ErrorCode::ManifestBlobUnknown, msg(&first, kind))
                .detail(serde_json::json!({ "digest": first }));
            for (d, kind) in iter {
                e = e.also(
                    ErrorCode::ManifestBlobUnknown,
                    msg(&d, kind),
                    Some(serde_json::json!({ "digest": d })),
                );
            }
            return Err(e);
        }
        Err(PutManifestError::SizeMismatch {
            digest,
            declared,
            actual,
        }) => {
            return Err(ApiError::msg(
                ErrorCode::ManifestInvalid,
                format!("descriptor of {digest} says {declared} bytes but the blob has {actual}"),
            ))
        }
        Err(PutManifestError::Storage(e)) => return Err(ApiError::from(e)),
    }
    let mut headers = vec![
        ("location", format!("/v2/{name}/manifests/{digest}")),
        ("docker-content-digest", digest.to_string()),
    ];
    if let Some(s) = &m.subject {
        headers.push(("oci-subject", s.to_string()));
    }
    if !extra_tags.is_empty() {
        headers.push(("oci-tag", extra_tags.join(", ")));
    }
    empty(StatusCode::CREATED, &headers)
}

async fn delete_manifest(
    state: &Arc<AppState>,
    name: &str,
    reference: &str,
) -> ApiResult<Response> {
    if !state.config.delete_enabled {
        return Err(deletes_disabled());
    }
    let r = Reference::parse(reference)?;
    let storage = state.storage.clone();
    let n = name.to_owned();
    let deleted = match r {
        Reference::Tag(t) => blocking(move || storage.delete_tag(&n, &t)).await?,
        Reference::Digest(d) => blocking(move || storage.delete_manifest(&n, &d)).await?,
    };
    if !deleted {
        return Err(ApiError::msg(
            ErrorCode::ManifestUnknown,
            format!("manifest {reference} is not in repository {name}"),
        ));
    }
    empty(StatusCode::ACCEPTED, &[])
}

// ---- discovery -------------------------------------------------------------------------

fn parse_n(q: &[(String, String)]) -> ApiResult<Option<usize>> {
    match query_get(q, "n") {
        None | Some("") => Ok(None),
        Some(v) => v.parse::<usize>().map(Some).map_err(|_| {
            ApiError::msg(
                ErrorCode::PaginationNumberInvalid,
                format!("n={v:?} is not a number of results"),
            )
        }),
    }
}

fn next_link(path: &str, last: &str, n: usize) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("last", last)
        .append_pair("n", &n.to_string())
        .finish();
    format!("<{path}?{query}>; rel=\"next\"")
}

/// Pages a sorted list: entries after `last`, at most `n`; the Link header
/// when more follow.
fn page(
    all: Vec<String>,
    last: Option<&str>,
    n: Option<usize>,
    path: &str,
) -> (Vec<String>, Option<String>) {
    let mut rest: Vec<String> = match last {
        Some(l) if !l.is_empty() => all.into_iter().filter(|t| t.as_str() > l).collect(),
        _ => all,
    };
    let Some(n) = n else {
        return (rest, None);
    };
    if n == 0 {
        return (Vec::new(), None);
    }
    if rest.len() > n {
        rest.truncate(n);
        let link = rest.last().map(|l| next_link(path, l, n));
        return (rest, link);
    }
    (rest, None)
}

async fn tags_list(state: &Arc<AppState>, name: &str, req: &Parts) -> ApiResult<Response> {
    let q = query_pairs(req);
    let n = parse_n(&q)?;
    let storage = state.storage.clone();
    let nm = name.to_owned();
    let tags = blocking(move || {
        if !storage.repo_exists(&nm) {
            return Ok(None);
        }
        storage.tags(&nm).map(Some)
    })
    .await?
    .ok_or_else(|| {
        ApiError::msg(
            ErrorCode::NameUnknown,
            format!("repository {name} is not known to this registry"),
        )
        .detail(serde_json::json!({ "name": name }))
    })?;
    let (tags, link) = page(
        tags,
        query_get(&q, "last"),
        n,
        &format!("/v2/{name}/tags/list"),
    );
    let mut r = json_response(
        StatusCode::OK,
        &serde_json::json!({ "name": name, "tags": tags }),
    );
    if let Some(l) = link {
        r.headers_mut().insert(header::LINK, hv(&l)?);
    }
    Ok(r)
}

async fn catalog(state: &Arc<AppState>, caller: &Caller, req: &Parts) -> ApiResult<Response> {
    let q = query_pairs(req);
    let n = parse_n(&q)?.unwrap_or(CATALOG_DEFAULT_N).min(CATALOG_MAX_N);
    let storage = state.storage.clone();
    let mut repos = blocking(move || storage.repositories()).await?;
    if state.auth.enabled() {
        // Only what the caller may pull (a catalog token names no
        // repositories, so the ACL decides for token holders too).
        repos.retain(|r| state.auth.permitted(&caller.identity, r) & auth::PULL != 0);
    }
    let (repos, link) = page(repos, query_get(&q, "last"), Some(n), "/v2/_catalog");
    let mut r = json_response(
        StatusCode::OK,
        &serde_json::json!({ "repositories": repos }),
    );
    if let Some(l) = link {
        r.headers_mut().insert(header::LINK, hv(&l)?);
    }
    Ok(r)
}

/// `GET /v1/search?q=TERM&n=N`: the repositories whose names contain the
/// term (case-insensitive), in Docker Hub's answer shape.
async fn search(state: &Arc<AppState>, caller: &Caller, req: &Parts) -> ApiResult<Response> {
    let q = query_pairs(req);
    let term = query_get(&q, "q").unwrap_or("").to_lowercase();
    let n = parse_n(&q)?
        .filter(|n| *n > 0)
        .unwrap_or(SEARCH_DEFAULT_N)
        .min(SEARCH_MAX_N);
    let storage = state.storage.clone();
    let mut repos = blocking(move || storage.repositories()).await?;
    if state.auth.enabled() {
        repos.retain(|r| state.auth.permitted(&caller.identity, r) & auth::PULL != 0);
    }
    repos.retain(|r| r.contains(&term));
    let total = repos.len();
    let results: Vec<serde_json::Value> = repos
        .into_iter()
        .take(n)
        .map(|name| {
            serde_json::json!({
                "name": name,
                "description": "",
                "star_count": 0,
                "is_official": false,
                "is_automated": false,
            })
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({
            "num_pages": 1,
            "num_results": total,
            "page": 1,
            "page_size": n,
            "query": query_get(&q, "q").unwrap_or(""),
            "results": results,
        }),
    ))
}

async fn referrers(
    state: &Arc<AppState>,
    name: &str,
    digest: &str,
    req: &Parts,
) -> ApiResult<Response> {
    let d = names::parse_digest(digest)?;
    let q = query_pairs(req);
    let filter = query_get(&q, "artifactType").map(str::to_owned);
    let storage = state.storage.clone();
    let n = name.to_owned();
    let mut list = blocking(move || storage.referrers(&n, &d)).await?;
    if let Some(f) = &filter {
        list.retain(|v| v["artifactType"].as_str() == Some(f.as_str()));
    }
    let body = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest::OCI_INDEX,
        "manifests": list,
    });
    let mut r = json_response(StatusCode::OK, &body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(manifest::OCI_INDEX),
    );
    if filter.is_some() {
        r.headers_mut().insert(
            "oci-filters-applied",
            HeaderValue::from_static("artifactType"),
        );
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(parse_route("/v2/").unwrap(), Route::Base);
        assert_eq!(parse_route("/v2/_catalog").unwrap(), Route::Catalog);
        assert_eq!(
            parse_route("/v2/a/b/tags/list").unwrap(),
            Route::Tags("a/b".into())
        );
        assert_eq!(
            parse_route(&format!("/v2/a/blobs/{d}")).unwrap(),
            Route::Blob("a".into(), d.clone())
        );
        assert_eq!(
            parse_route("/v2/a/b/blobs/uploads/").unwrap(),
            Route::UploadStart("a/b".into())
        );
        assert_eq!(
            parse_route("/v2/a/blobs/uploads/x").unwrap(),
            Route::Upload("a".into(), "x".into())
        );
        assert_eq!(
            parse_route("/v2/a/manifests/sha256%3Aab").unwrap(),
            Route::Manifest("a".into(), "sha256:ab".into())
        );
        assert_eq!(
            parse_route(&format!("/v2/blobs/referrers/{d}")).unwrap(),
            Route::Referrers("blobs".into(), d)
        );
        assert_eq!(
            parse_route("/v2/a/../b/manifests/x").unwrap_err().code(),
            ErrorCode::NameInvalid
        );
        assert_eq!(
            parse_route("/v2/A/manifests/x").unwrap_err().code(),
            ErrorCode::NameInvalid
        );
        assert!(parse_route("/v1/x").is_err());
        assert_eq!(parse_route("/v1/search").unwrap(), Route::Search);
        assert!(parse_route("/v2/a/other/x").is_err());
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-4"), 10), Ok(Some((0, 4))));
        assert_eq!(parse_range(Some("bytes=5-"), 10), Ok(Some((5, 9))));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Ok(Some((7, 9))));
        assert_eq!(parse_range(Some("bytes=-30"), 10), Ok(Some((0, 9))));
        assert_eq!(parse_range(Some("bytes=8-100"), 10), Ok(Some((8, 9))));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Err(()));
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), Ok(None));
        assert_eq!(parse_range(Some("items=0-1"), 10), Ok(None));
        assert_eq!(parse_content_range("0-9"), Some((0, 9)));
        assert_eq!(parse_content_range("bytes 10-19/100"), Some((10, 19)));
        assert_eq!(parse_content_range("9-0"), None);
        assert_eq!(parse_content_range("x"), None);
    }

    #[test]
    fn paging() {
        let all: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let (p, l) = page(all.clone(), None, Some(2), "/v2/x/tags/list");
        assert_eq!(p, ["a", "b"]);
        assert_eq!(l.unwrap(), "</v2/x/tags/list?last=b&n=2>; rel=\"next\"");
        let (p, l) = page(all.clone(), Some("b"), Some(2), "/p");
        assert_eq!(p, ["c", "d"]);
        assert!(l.is_none());
        let (p, l) = page(all.clone(), None, Some(0), "/p");
        assert!(p.is_empty() && l.is_none());
        let (p, _) = page(all, Some("a"), None, "/p");
        assert_eq!(p, ["b", "c", "d"]);
    }
}
