//! Authentication: htpasswd + Basic, the bearer token flow with the built-in
//! issuer, per-repository ACLs, and refusals that store nothing.

use std::path::Path;

use crate::common::*;
use berth_registry::{AclEntry, Config, TokenConfig};

/// alice: everything under team/ and alice/; bob: pull on team/*.
fn setup(c: &mut Config, dir: &Path, token: bool, anonymous_pull: bool) {
    let path = dir.join("htpasswd");
    let alice = bcrypt::hash("alice-pw", 4).unwrap();
    // htpasswd -B writes $2y$; make sure that form is accepted.
    let bob = bcrypt::hash("bob-pw", 4)
        .unwrap()
        .replacen("$2b$", "$2y$", 1);
    std::fs::write(
        &path,
        format!("# accounts\nalice:{alice}\nbob:{bob}\nmd5user:$apr1$xyz$abcdefghijklmnopqrstuv\n"),
    )
    .unwrap();
    c.auth.htpasswd = Some(path);
    c.auth.realm = "test-realm".into();
    c.auth.anonymous_pull = anonymous_pull;
    c.auth.acl = vec![
        AclEntry {
            account: "alice".into(),
            repositories: vec!["team/**".into(), "alice/**".into()],
            actions: vec!["*".into()],
        },
        AclEntry {
            account: "bob".into(),
            repositories: vec!["team/*".into()],
            actions: vec!["pull".into()],
        },
    ];
    if token {
        c.auth.token = Some(TokenConfig::default());
    }
}

#[tokio::test]
async fn basic_auth() {
    let mut reg = Registry::start_with(|c, d| setup(c, d, false, false)).await;
    // No credentials.
    let r = reg.get("/v2/").await;
    r.assert_error(401, "UNAUTHORIZED");
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"test-realm\"")
    );
    let r = reg.get("/v2/team/app/tags/list").await;
    r.assert_error(401, "UNAUTHORIZED");
    // Wrong password, unknown user, non-bcrypt entry.
    for (u, p) in [("alice", "nope"), ("mallory", "alice-pw"), ("md5user", "x")] {
        let r = reg
            .req("GET", "/v2/", &[("authorization", &basic(u, p))], ())
            .await;
        r.assert_error(401, "UNAUTHORIZED");
        assert!(r.header("www-authenticate").is_some());
    }
    // Right credentials.
    reg.auth = Some(basic("alice", "alice-pw"));
    assert_eq!(reg.get("/v2/").await.status, 200);
    let (_, md, _) = reg.push_image("team/app", "v1", &[data(1, 1000)]).await;
    // bob may pull team/app ...
    reg.auth = Some(basic("bob", "bob-pw"));
    let r = reg.get("/v2/team/app/manifests/v1").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("docker-content-digest"), Some(md.as_str()));
    // ... but not push there, nor read alice's repositories.
    let before = files_under(&reg.root);
    reg.req("POST", "/v2/team/app/blobs/uploads/", &[], ())
        .await
        .assert_error(403, "DENIED");
    reg.req(
        "POST",
        &format!("/v2/team/app/blobs/uploads/?digest={}", digest(b"x")),
        &[],
        &b"x"[..],
    )
    .await
    .assert_error(403, "DENIED");
    reg.req("DELETE", &format!("/v2/team/app/manifests/{md}"), &[], ())
        .await
        .assert_error(403, "DENIED");
    reg.get("/v2/alice/private/tags/list")
        .await
        .assert_error(403, "DENIED");
    assert_eq!(
        files_under(&reg.root),
        before,
        "a refused request changed storage"
    );
    // The catalog lists only what the caller may pull.
    reg.auth = Some(basic("alice", "alice-pw"));
    reg.push_blob("alice/private", b"secret").await;
    assert_eq!(
        reg.get("/v2/_catalog").await.json()["repositories"],
        serde_json::json!(["alice/private", "team/app"])
    );
    reg.auth = Some(basic("bob", "bob-pw"));
    assert_eq!(
        reg.get("/v2/_catalog").await.json()["repositories"],
        serde_json::json!(["team/app"])
    );
    // So does the v1 search.
    let found = reg.get("/v1/search?q=a").await.json();
    assert_eq!(found["num_results"], 1, "{found}");
    assert_eq!(found["results"][0]["name"], "team/app");
    reg.auth = None;
    assert_eq!(reg.get("/v1/search?q=a").await.status, 401);
}

#[tokio::test]
async fn basic_auth_anonymous_pull() {
    let mut reg = Registry::start_with(|c, d| setup(c, d, false, true)).await;
    reg.auth = Some(basic("alice", "alice-pw"));
    reg.push_image("team/app", "v1", &[data(1, 10)]).await;
    reg.auth = None;
    // /v2/ still challenges, so clients send credentials when they have them.
    reg.get("/v2/").await.assert_error(401, "UNAUTHORIZED");
    assert_eq!(reg.get("/v2/team/app/manifests/v1").await.status, 200);
    reg.req("POST", "/v2/team/app/blobs/uploads/", &[], ())
        .await
        .assert_error(401, "UNAUTHORIZED");
}

/// Parses `Bearer k="v",...`.
fn challenge(header: &str) -> std::collections::HashMap<String, String> {
    let rest = header.strip_prefix("Bearer ").expect("a Bearer challenge");
    let mut out = std::collections::HashMap::new();
    for part in rest.split("\",") {
        let (k, v) = part.split_once('=').unwrap();
        out.insert(k.to_owned(), v.trim_matches('"').to_owned());
    }
    out
}

async fn get_token(reg: &Registry, scope: &str, creds: Option<(&str, &str)>) -> Resp {
    let path = format!(
        "/token?service=berth-registry&scope={}",
        scope
            .replace(':', "%3A")
            .replace(',', "%2C")
            .replace('/', "%2F")
    );
    let headers: Vec<(&str, String)> = creds
        .map(|(u, p)| vec![("authorization", basic(u, p))])
        .unwrap_or_default();
    let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    reg.req("GET", &path, &h, ()).await
}

#[tokio::test]
async fn bearer_token_flow() {
    let mut reg = Registry::start_with(|c, d| setup(c, d, true, true)).await;
    // The ping challenges with realm and service.
    let r = reg.get("/v2/").await;
    r.assert_error(401, "UNAUTHORIZED");
    let ch = challenge(r.header("www-authenticate").unwrap());
    assert_eq!(ch["realm"], format!("http://{}/token", reg.addr));
    assert_eq!(ch["service"], "berth-registry");
    assert!(!ch.contains_key("scope"));
    // A push attempt names the scope it needs.
    let r = reg
        .req("POST", "/v2/team/app/blobs/uploads/", &[], ())
        .await;
    r.assert_error(401, "UNAUTHORIZED");
    let ch = challenge(r.header("www-authenticate").unwrap());
    assert_eq!(ch["scope"], "repository:team/app:pull,push");

    // Wrong credentials at the token endpoint.
    let r = get_token(
        &reg,
        "repository:team/app:pull,push",
        Some(("alice", "bad")),
    )
    .await;
    r.assert_error(401, "UNAUTHORIZED");
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic "));

    // alice gets push, and pushes with the token.
    let r = get_token(
        &reg,
        "repository:team/app:pull,push",
        Some(("alice", "alice-pw")),
    )
    .await;
    assert_eq!(r.status, 200);
    let v = r.json();
    let token = v["token"].as_str().unwrap().to_owned();
    assert_eq!(v["access_token"], v["token"]);
    assert_eq!(v["expires_in"], 300);
    assert!(v["issued_at"].as_str().unwrap().ends_with('Z'));
    reg.auth = Some(format!("Bearer {token}"));
    assert_eq!(reg.get("/v2/").await.status, 200);
    let (manifest, md, _) = reg.push_image("team/app", "v1", &[data(2, 5000)]).await;
    // The token covers team/app only.
    let r = reg
        .req("POST", "/v2/team/other/blobs/uploads/", &[], ())
        .await;
    r.assert_error(401, "DENIED");
    let ch = challenge(r.header("www-authenticate").unwrap());
    assert_eq!(ch["error"], "insufficient_scope");
    assert_eq!(ch["scope"], "repository:team/other:pull,push");

    // bob asks for push but the ACL grants pull only.
    let r = get_token(
        &reg,
        "repository:team/app:pull,push",
        Some(("bob", "bob-pw")),
    )
    .await;
    let bob = r.json()["token"].as_str().unwrap().to_owned();
    reg.auth = Some(format!("Bearer {bob}"));
    let r = reg.get("/v2/team/app/manifests/v1").await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], &manifest[..]);
    let before = files_under(&reg.root);
    let r = reg
        .req("POST", "/v2/team/app/blobs/uploads/", &[], ())
        .await;
    r.assert_error(401, "DENIED");
    assert_eq!(
        challenge(r.header("www-authenticate").unwrap())["error"],
        "insufficient_scope"
    );
    reg.req("DELETE", &format!("/v2/team/app/manifests/{md}"), &[], ())
        .await
        .assert_error(401, "DENIED");
    assert_eq!(files_under(&reg.root), before);

    // Anonymous tokens: pull allowed (anonymous_pull), push not.
    reg.auth = None;
    let r = get_token(&reg, "repository:team/app:pull,push", None).await;
    assert_eq!(r.status, 200);
    let anon = r.json()["token"].as_str().unwrap().to_owned();
    reg.auth = Some(format!("Bearer {anon}"));
    assert_eq!(reg.get("/v2/team/app/manifests/v1").await.status, 200);
    reg.req("POST", "/v2/team/app/blobs/uploads/", &[], ())
        .await
        .assert_error(401, "UNAUTHORIZED");

    // Tampered and foreign tokens.
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged_sig = "AAAA";
    parts[2] = forged_sig;
    reg.auth = Some(format!("Bearer {}", parts.join(".")));
    let r = reg.get("/v2/team/app/manifests/v1").await;
    r.assert_error(401, "UNAUTHORIZED");
    assert_eq!(
        challenge(r.header("www-authenticate").unwrap())["error"],
        "invalid_token"
    );
    reg.auth = Some(basic("alice", "alice-pw"));
    reg.get("/v2/team/app/manifests/v1")
        .await
        .assert_error(401, "UNAUTHORIZED");

    // OAuth2 password grant (containerd).
    reg.auth = None;
    let form = "grant_type=password&username=alice&password=alice-pw&service=berth-registry&scope=repository%3Ateam%2Fapp%3Apull&client_id=test";
    let r = reg
        .req(
            "POST",
            "/token",
            &[("content-type", "application/x-www-form-urlencoded")],
            form,
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["scope"], "repository:team/app:pull");
    let t = r.json()["access_token"].as_str().unwrap().to_owned();
    reg.auth = Some(format!("Bearer {t}"));
    assert_eq!(reg.get("/v2/team/app/manifests/v1").await.status, 200);
    reg.auth = None;
    let bad = "grant_type=password&username=alice&password=x&scope=repository%3Ateam%2Fapp%3Apull";
    reg.req("POST", "/token", &[], bad)
        .await
        .assert_error(401, "UNAUTHORIZED");
    let r = reg
        .req(
            "POST",
            "/token",
            &[],
            "grant_type=refresh_token&refresh_token=x",
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "unsupported_grant_type");

    // Catalog scope.
    let r = get_token(&reg, "registry:catalog:*", Some(("bob", "bob-pw"))).await;
    reg.auth = Some(format!("Bearer {}", r.json()["token"].as_str().unwrap()));
    assert_eq!(
        reg.get("/v2/_catalog").await.json()["repositories"],
        serde_json::json!(["team/app"])
    );
}

#[tokio::test]
async fn token_endpoint_only_in_token_mode() {
    let reg = Registry::start().await;
    assert_eq!(reg.get("/token?scope=repository:x:pull").await.status, 404);
}
