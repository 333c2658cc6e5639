//! The token dance (distribution's token handler): asks the realm of a
//! `Bearer` challenge for a token for the scopes an operation needs —
//! `GET realm?service=…&scope=…` with Basic credentials when known,
//! anonymous otherwise, or the OAuth2 `refresh_token` grant when an identity
//! token is known — and caches tokens per (realm, service, scopes,
//! credentials) until `expires_in` runs out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Method, Request, StatusCode};
use serde::Deserialize;

use crate::challenge::{parse_challenges, Challenge};
use crate::credentials::Credentials;
use crate::transport::{self, go_method, Http};
use crate::Error;

/// distribution's `minimumTokenLifetimeSeconds`.
const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// Largest token-server answer read.
const TOKEN_BODY_LIMIT: u64 = 1 << 20;
/// Tokens are dropped this long before they expire.
const EXPIRY_SLACK: Duration = Duration::from_secs(5);
/// Entries kept at most (old ones are purged past this).
const CACHE_MAX: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TokenKey {
    realm: String,
    service: String,
    scopes: String,
    who: String,
}

/// A cache of bearer tokens.
#[derive(Default)]
pub(crate) struct TokenCache {
    map: Mutex<HashMap<TokenKey, (String, Instant)>>,
}

/// A token server's answer.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) token: String,
    pub(crate) refresh_token: Option<String>,
    expires_in: Duration,
}

#[derive(Deserialize)]
struct TokenBody {
    #[serde(default)]
    token: String,
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
}

fn key(challenge: &Challenge, scopes: &[String], creds: Option<&Credentials>) -> TokenKey {
    let mut s = scopes.to_vec();
    s.sort();
    TokenKey {
        realm: challenge.param("realm").unwrap_or("").to_owned(),
        service: challenge.param("service").unwrap_or("").to_owned(),
        scopes: s.join(" "),
        who: creds.map(Credentials::cache_id).unwrap_or_default(),
    }
}

impl TokenCache {
    fn get(&self, k: &TokenKey) -> Option<String> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(k)
            .filter(|(_, exp)| Instant::now() + EXPIRY_SLACK < *exp)
            .map(|(t, _)| t.clone())
    }

    fn put(&self, k: TokenKey, token: &Token) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= CACHE_MAX {
            let now = Instant::now();
            map.retain(|_, (_, exp)| *exp > now);
            if map.len() >= CACHE_MAX {
                map.clear();
            }
        }
        map.insert(k, (token.token.clone(), Instant::now() + token.expires_in));
    }

    /// Drops a cached token (it was refused).
    pub(crate) fn forget(
        &self,
        challenge: &Challenge,
        scopes: &[String],
        creds: Option<&Credentials>,
    ) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&key(challenge, scopes, creds));
    }

    /// A token for `scopes` from the cache or the realm of `challenge`.
    pub(crate) async fn token(
        &self,
        http: &Http,
        skip_verify: bool,
        challenge: &Challenge,
        scopes: &[String],
        creds: Option<&Credentials>,
    ) -> Result<String, Error> {
        let k = key(challenge, scopes, creds);
        if let Some(t) = self.get(&k) {
            return Ok(t);
        }
        let t = fetch_token(http, skip_verify, challenge, scopes, creds, false).await?;
        self.put(k, &t);
        Ok(t.token)
    }
}

/// Basic credentials as a header value.
pub(crate) fn basic_header(user: &str, password: &str) -> Result<HeaderValue, Error> {
    let enc = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    HeaderValue::from_str(&format!("Basic {enc}"))
        .map_err(|_| Error::InvalidInput("credentials contain invalid characters".into()))
}

/// A bearer token as a header value.
pub(crate) fn bearer_header(token: &str) -> Result<HeaderValue, Error> {
    HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| Error::Auth("the token server sent a token with invalid characters".into()))
}

/// Asks the realm of `challenge` for a token (`offline` asks for a refresh
/// token too, as `docker login` does).
pub(crate) async fn fetch_token(
    http: &Http,
    skip_verify: bool,
    challenge: &Challenge,
    scopes: &[String],
    creds: Option<&Credentials>,
    offline: bool,
) -> Result<Token, Error> {
    let realm = challenge.param("realm").unwrap_or("");
    if realm.is_empty() {
        return Err(Error::Auth(
            "the registry's Bearer challenge has no realm; cannot get a token".into(),
        ));
    }
    if !(realm.starts_with("https://") || realm.starts_with("http://")) {
        return Err(Error::Auth(format!(
            "the registry's token realm {realm:?} is not an http(s) URL"
        )));
    }
    let service = challenge.param("service").unwrap_or("");
    if let Some(c) = creds.filter(|c| !c.identity_token.is_empty()) {
        match fetch_oauth(http, skip_verify, realm, service, scopes, c, offline).await {
            Ok(Some(t)) => return Ok(t),
            Ok(None) => {} // no OAuth endpoint: fall back to GET
            Err(e) => return Err(e),
        }
    }
    let mut q: Vec<(&str, &str)> = Vec::new();
    if !service.is_empty() {
        q.push(("service", service));
    }
    for s in scopes {
        q.push(("scope", s));
    }
    let basic = creds.filter(|c| !c.username.is_empty() || !c.password.is_empty());
    if let Some(c) = basic {
        if !c.username.is_empty() {
            q.push(("account", &c.username));
        }
    }
    if offline {
        q.push(("offline_token", "true"));
        q.push(("client_id", "docker"));
    }
    let url = transport::with_query(realm, &q);
    let mut req = Request::builder()
        .method(Method::GET)
        .uri(transport::parse_uri(&url)?);
    if let Some(c) = basic {
        req = req.header(AUTHORIZATION, basic_header(&c.username, &c.password)?);
    }
    let req = req
        .body(transport::empty())
        .map_err(|e| Error::InvalidInput(format!("building token request: {e}")))?;
    let resp = http.send(skip_verify, req).await?;
    read_token(http, resp, &Method::GET, &url).await
}

async fn fetch_oauth(
    http: &Http,
    skip_verify: bool,
    realm: &str,
    service: &str,
    scopes: &[String],
    creds: &Credentials,
    offline: bool,
) -> Result<Option<Token>, Error> {
    // Built in its own scope: the serializer is not `Send` and must not
    // live across an await.
    let body = {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "refresh_token");
        form.append_pair("refresh_token", &creds.identity_token);
        form.append_pair("service", service);
        form.append_pair("client_id", "docker");
        if !scopes.is_empty() {
            form.append_pair("scope", &scopes.join(" "));
        }
        if offline {
            form.append_pair("access_type", "offline");
        }
        form.finish()
    };
    let req = Request::builder()
        .method(Method::POST)
        .uri(transport::parse_uri(realm)?)
        .header(
            CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(transport::full(body.into()))
        .map_err(|e| Error::InvalidInput(format!("building token request: {e}")))?;
    let resp = http.send(skip_verify, req).await?;
    if matches!(
        resp.status(),
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
    ) {
        return Ok(None);
    }
    read_token(http, resp, &Method::POST, realm).await.map(Some)
}

async fn read_token(
    http: &Http,
    resp: hyper::Response<hyper::body::Incoming>,
    method: &Method,
    url: &str,
) -> Result<Token, Error> {
    let status = resp.status();
    let challenges: Vec<Challenge> = parse_challenges(
        resp.headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    let body = transport::read_limited(
        resp.into_body(),
        TOKEN_BODY_LIMIT,
        http.timeouts.idle,
        "token server answer",
    )
    .await?;
    if !status.is_success() {
        return Err(crate::error::from_response(
            &go_method(method),
            url,
            status,
            &challenges,
            &body,
        ));
    }
    let parsed: TokenBody = serde_json::from_slice(&body).map_err(|e| {
        Error::Auth(format!(
            "unable to decode token response from {}: {e}",
            strip_query(url)
        ))
    })?;
    let token = if parsed.token.is_empty() {
        parsed.access_token
    } else {
        parsed.token
    };
    if token.is_empty() {
        return Err(Error::Auth(format!(
            "authorization server {} did not include a token in the response",
            strip_query(url)
        )));
    }
    let expires_in = parsed
        .expires_in
        .map(Duration::from_secs)
        .unwrap_or(MIN_TOKEN_LIFETIME)
        .max(MIN_TOKEN_LIFETIME);
    Ok(Token {
        token,
        refresh_token: parsed.refresh_token.filter(|t| !t.is_empty()),
        expires_in,
    })
}

fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_separate_credentials_and_scopes() {
        let ch = &parse_challenges([r#"Bearer realm="https://a/t",service="s""#])[0];
        let alice = Credentials::basic("alice", "pw");
        let bob = Credentials::basic("bob", "pw");
        let pull = vec!["repository:x:pull".to_owned()];
        let push = vec!["repository:x:pull,push".to_owned()];
        let cache = TokenCache::default();
        let tok = Token {
            token: "T".into(),
            refresh_token: None,
            expires_in: Duration::from_secs(300),
        };
        cache.put(key(ch, &pull, Some(&alice)), &tok);
        assert_eq!(cache.get(&key(ch, &pull, Some(&alice))), Some("T".into()));
        assert_eq!(cache.get(&key(ch, &pull, Some(&bob))), None);
        assert_eq!(cache.get(&key(ch, &pull, None)), None);
        assert_eq!(cache.get(&key(ch, &push, Some(&alice))), None);
        cache.forget(ch, &pull, Some(&alice));
        assert_eq!(cache.get(&key(ch, &pull, Some(&alice))), None);
        // Expired tokens are not served.
        let short = Token {
            expires_in: Duration::from_secs(1),
            ..tok
        };
        cache.put(key(ch, &pull, None), &short);
        assert_eq!(cache.get(&key(ch, &pull, None)), None);
    }

    #[test]
    fn basic_header_encoding() {
        assert_eq!(
            basic_header("user", "p:w").unwrap(),
            HeaderValue::from_static("Basic dXNlcjpwOnc=")
        );
    }
}
