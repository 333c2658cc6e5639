//! `~/.docker/config.json` handling as the docker CLI does it: base64
//! `auth` entries, `credsStore` / `credHelpers` through a
//! `docker-credential-*` helper script written by the test, and bad input.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use berth_registry_client::credentials::convert_to_hostname;
use berth_registry_client::endpoint::auth_key;
use berth_registry_client::{AuthConfig, ConfigFile, Credentials};

fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("berth-regclient-creds-")
        .tempdir()
        .unwrap()
}

fn auth(user: &str, pass: &str) -> AuthConfig {
    AuthConfig::from_credentials("", &Credentials::basic(user, pass))
}

/// A credential helper keeping one JSON file per server in `<dir>/store`,
/// speaking the docker-credential-helpers protocol.
fn write_helper(dir: &Path, name: &str) {
    let script = r#"#!/bin/sh
store="$(dirname "$0")/store-NAME"
mkdir -p "$store"
key() { printf %s "$1" | od -An -tx1 | tr -d ' \n'; }
case "$1" in
  store)
    input=$(cat)
    server=$(printf %s "$input" | sed -n 's/.*"ServerURL":"\([^"]*\)".*/\1/p')
    printf %s "$input" > "$store/$(key "$server")"
    ;;
  get)
    server=$(cat)
    f="$store/$(key "$server")"
    if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi
    ;;
  erase)
    server=$(cat)
    f="$store/$(key "$server")"
    if [ -f "$f" ]; then rm "$f"; else echo "credentials not found in native keychain"; exit 1; fi
    ;;
  *) echo "unknown action $1"; exit 1 ;;
esac
"#
    .replace("NAME", name);
    let p = dir.join(format!("docker-credential-{name}"));
    std::fs::write(&p, script).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn file_store_round_trip_like_the_docker_cli() {
    let d = tmp();
    let path = d.path().join("docker/config.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        r#"{"auths":{},"psFormat":"table {{.ID}}","proxies":{"default":{"httpProxy":"x"}}}"#,
    )
    .unwrap();
    let mut cfg = ConfigFile::load(&path).unwrap();
    assert!(cfg.get("localhost:5000").unwrap().is_none());
    cfg.store("localhost:5000", &auth("alice", "pa:ss"))
        .unwrap();
    cfg.store(&auth_key("docker.io"), &auth("hubuser", "hubpw"))
        .unwrap();

    let raw = std::fs::read_to_string(&path).unwrap();
    let v: serde_json::Value = serde_json::from_str(&raw).unwrap();
    // base64 "alice:pa:ss", no plain-text fields, unknown keys kept, tabs.
    assert_eq!(
        v["auths"]["localhost:5000"],
        serde_json::json!({"auth": "YWxpY2U6cGE6c3M="})
    );
    assert!(v["auths"]["https://index.docker.io/v1/"]["auth"].is_string());
    assert_eq!(v["psFormat"], "table {{.ID}}");
    assert_eq!(v["proxies"]["default"]["httpProxy"], "x");
    assert!(raw.contains("\n\t\"auths\""), "{raw}");
    // The existing file's mode is kept, as the docker CLI does.
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);

    // A fresh load reads them back.
    let cfg = ConfigFile::load(&path).unwrap();
    let a = cfg.get("localhost:5000").unwrap().unwrap();
    assert_eq!(
        a.credentials().unwrap(),
        Credentials::basic("alice", "pa:ss")
    );
    assert_eq!(a.serveraddress, "localhost:5000");
    let hub = cfg.get("https://index.docker.io/v1/").unwrap().unwrap();
    assert_eq!(hub.username, "hubuser");

    // Erase removes only that entry.
    let mut cfg = cfg;
    cfg.erase("localhost:5000").unwrap();
    let cfg = ConfigFile::load(&path).unwrap();
    assert!(cfg.get("localhost:5000").unwrap().is_none());
    assert!(cfg.get("https://index.docker.io/v1/").unwrap().is_some());
    // Erasing what is not there is fine.
    let mut cfg = cfg;
    cfg.erase("never.example:5000").unwrap();
}

#[test]
fn legacy_keys_and_identity_tokens() {
    let d = tmp();
    let path = d.path().join("config.json");
    std::fs::write(
        &path,
        r#"{"auths":{"http://myreg:5000/v1/":{"auth":"dTpw"},"tokreg":{"identitytoken":"refresh-me"}}}"#,
    )
    .unwrap();
    let cfg = ConfigFile::load(&path).unwrap();
    let a = cfg.get("myreg:5000").unwrap().unwrap();
    assert_eq!((a.username.as_str(), a.password.as_str()), ("u", "p"));
    let t = cfg.get("tokreg").unwrap().unwrap();
    assert_eq!(t.credentials().unwrap().identity_token, "refresh-me");
    assert_eq!(
        convert_to_hostname("https://index.docker.io/v1/"),
        "index.docker.io"
    );
    // Storing under the modern key replaces the legacy one.
    let mut cfg = cfg;
    cfg.store("myreg:5000", &auth("new", "pw")).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let mut keys: Vec<&String> = v["auths"].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["myreg:5000", "tokreg"]);
}

#[test]
fn creds_store_and_cred_helpers() {
    let d = tmp();
    write_helper(d.path(), "teststore");
    write_helper(d.path(), "special");
    let path = d.path().join("config.json");
    std::fs::write(
        &path,
        r#"{"credsStore":"teststore","credHelpers":{"special.example:5000":"special"}}"#,
    )
    .unwrap();
    let mut cfg = ConfigFile::load(&path).unwrap();
    cfg.set_helper_dir(Some(d.path().to_owned()));
    assert_eq!(cfg.helper_for("localhost:5000"), Some("teststore"));
    assert_eq!(cfg.helper_for("special.example:5000"), Some("special"));

    assert!(cfg.get("localhost:5000").unwrap().is_none());
    cfg.store("localhost:5000", &auth("carol", "pw1")).unwrap();
    let got = cfg.get("localhost:5000").unwrap().unwrap();
    assert_eq!(
        got.credentials().unwrap(),
        Credentials::basic("carol", "pw1")
    );
    // The secret is in the helper, config.json only names the server.
    let raw = std::fs::read_to_string(&path).unwrap();
    assert!(!raw.contains("pw1"), "{raw}");
    let v: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(v["auths"]["localhost:5000"], serde_json::json!({}));

    // Identity tokens travel as username "<token>".
    let tok = AuthConfig {
        identitytoken: "refresh-123".into(),
        ..AuthConfig::default()
    };
    cfg.store("special.example:5000", &tok).unwrap();
    assert!(d.path().join("store-special").read_dir().unwrap().count() == 1);
    assert!(d.path().join("store-teststore").read_dir().unwrap().count() == 1);
    let got = cfg.get("special.example:5000").unwrap().unwrap();
    assert_eq!(got.identitytoken, "refresh-123");
    assert_eq!(got.username, "");

    cfg.erase("localhost:5000").unwrap();
    assert!(cfg.get("localhost:5000").unwrap().is_none());
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert!(v["auths"].get("localhost:5000").is_none());
    // Erasing again: the helper says "not found", which is not an error.
    cfg.erase("localhost:5000").unwrap();
}

#[test]
fn missing_or_failing_helper_is_a_clear_error() {
    let d = tmp();
    let path = d.path().join("config.json");
    std::fs::write(&path, r#"{"credsStore":"absent"}"#).unwrap();
    let mut cfg = ConfigFile::load(&path).unwrap();
    cfg.set_helper_dir(Some(d.path().to_owned()));
    let e = cfg.get("r:5000").unwrap_err().to_string();
    assert!(
        e.contains("docker-credential-absent") && e.contains("executable file not found"),
        "{e}"
    );
    let before = std::fs::read(&path).unwrap();
    assert!(cfg.store("r:5000", &auth("a", "b")).is_err());
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "config changed after a failed store"
    );

    let broken = d.path().join("docker-credential-broken");
    std::fs::write(&broken, "#!/bin/sh\necho 'keychain locked'\nexit 3\n").unwrap();
    std::fs::set_permissions(&broken, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(&path, r#"{"credsStore":"broken"}"#).unwrap();
    let mut cfg = ConfigFile::load(&path).unwrap();
    cfg.set_helper_dir(Some(d.path().to_owned()));
    let e = cfg.get("r:5000").unwrap_err().to_string();
    assert_eq!(
        e,
        "error getting credentials - err: exit status 3, out: `keychain locked`"
    );
}

#[test]
fn corrupt_config_is_refused_and_left_alone() {
    let d = tmp();
    let path = d.path().join("config.json");
    std::fs::write(&path, "{not json").unwrap();
    let e = ConfigFile::load(&path).unwrap_err().to_string();
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{not json");
    std::fs::write(&path, r#"{"auths":{"r":{"auth":"%%%"}}}"#).unwrap();
    let cfg = ConfigFile::load(&path).unwrap();
    let e = cfg.get("r").unwrap_err().to_string();
    assert!(e.contains("invalid auth configuration file"), "{e}");
    // A missing file is an empty configuration, created on first store.
    let fresh = d.path().join("new/config.json");
    let mut cfg = ConfigFile::load(&fresh).unwrap();
    assert!(cfg.servers().is_empty());
    cfg.store("x:1", &auth("u", "p")).unwrap();
    assert_eq!(ConfigFile::load(&fresh).unwrap().servers(), ["x:1"]);
    // A new file holding secrets is private.
    let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}
