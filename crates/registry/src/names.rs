//! Validation of what clients put in URLs: repository names (the spec's
//! `<name>` grammar), tags, digests (sha256/sha384/sha512) and upload
//! session ids. Everything that later becomes a path on disk goes through
//! here first, so `..`, `/` in tags or odd characters never reach the
//! file system.

use berth_reference::Digest;

use crate::error::{ApiError, ErrorCode};

/// Longest repository name accepted (distribution's limit).
pub const NAME_MAX: usize = 255;

/// Checks a repository name against the spec's grammar:
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
pub fn validate_name(name: &str) -> Result<(), ApiError> {
    let fail = |why: &str| {
        Err(ApiError::msg(
            ErrorCode::NameInvalid,
            format!("invalid repository name {name:?}: {why}"),
        )
        .detail(serde_json::json!({ "name": name })))
    };
    if name.is_empty() {
        return fail("it is empty");
    }
    if name.len() > NAME_MAX {
        return fail("it is longer than 255 characters");
    }
    for component in name.split('/') {
        if !is_path_component(component) {
            return fail(
                "each path component must be lowercase letters and digits, \
                 separated by '.', '_', '__' or dashes",
            );
        }
    }
    Ok(())
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: '.', '_', '__' or '-'+, followed by an alnum.
        let start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == start || i >= b.len() || !alnum(b[i]) {
            return false;
        }
    }
    true
}

/// Checks a tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
}

/// Parses a digest given by a client; errors are `DIGEST_INVALID`.
pub fn parse_digest(s: &str) -> Result<Digest, ApiError> {
    Digest::parse(s).map_err(|e| {
        ApiError::msg(
            ErrorCode::DigestInvalid,
            format!("invalid digest {s:?}: {e}"),
        )
        .detail(serde_json::json!({ "digest": s }))
    })
}

/// A manifest reference from a URL: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// A tag.
    Tag(String),
    /// A digest.
    Digest(Digest),
}

impl Reference {
    /// Parses `<tag-or-digest>`: a `:` makes it a digest.
    pub fn parse(s: &str) -> Result<Reference, ApiError> {
        if s.contains(':') {
            return parse_digest(s).map(Reference::Digest);
        }
        if is_valid_tag(s) {
            Ok(Reference::Tag(s.to_owned()))
        } else {
            Err(ApiError::msg(
                ErrorCode::ManifestInvalid,
                format!(
                    "invalid tag {s:?}: a tag is up to 128 letters, digits, '_', '.' and '-', \
                     not starting with '.' or '-'"
                ),
            )
            .detail(serde_json::json!({ "tag": s })))
        }
    }
}

/// Checks an upload session id: the lowercase UUID form this server hands
/// out (`8-4-4-4-12` hex digits).
pub fn is_valid_upload_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
        })
}

/// A fresh random upload id in UUID (version 4) form.
pub fn new_upload_id() -> std::io::Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| std::io::Error::other(format!("random: {e}")))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// Decodes `%XX` escapes in one URL path segment; `None` if malformed or
/// not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_owned());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hexpair = b.get(i + 1..i + 3)?;
            let v = u8::from_str_radix(std::str::from_utf8(hexpair).ok()?, 16).ok()?;
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in [
            "a",
            "library/busybox",
            "a.b/c_d/e__f/g-h/i---j",
            "0/1/2",
            "foo.bar-baz_qux",
        ] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Foo",
            "foo/../bar",
            "..",
            "foo/",
            "/foo",
            "foo//bar",
            "foo/.bar",
            "foo-",
            "foo___bar",
            "foo._bar",
            "_foo",
            "foo bar",
            "foo/_manifests",
        ] {
            let e = validate_name(bad).unwrap_err();
            assert_eq!(e.code(), ErrorCode::NameInvalid, "{bad}");
        }
        assert!(validate_name(&"a".repeat(256)).is_err());
        assert!(validate_name(&"a".repeat(255)).is_ok());
    }

    #[test]
    fn tags_and_references() {
        assert!(is_valid_tag("latest"));
        assert!(is_valid_tag("_x.Y-1"));
        assert!(!is_valid_tag(".x"));
        assert!(!is_valid_tag("-x"));
        assert!(!is_valid_tag("a/b"));
        assert!(!is_valid_tag(&"a".repeat(129)));
        assert!(matches!(Reference::parse("v1"), Ok(Reference::Tag(_))));
        let d = format!("sha256:{}", "a".repeat(64));
        assert!(matches!(Reference::parse(&d), Ok(Reference::Digest(_))));
        assert_eq!(
            Reference::parse("sha256:zz").unwrap_err().code(),
            ErrorCode::DigestInvalid
        );
        assert_eq!(
            Reference::parse("..").unwrap_err().code(),
            ErrorCode::ManifestInvalid
        );
    }

    #[test]
    fn upload_ids() {
        let id = new_upload_id().unwrap();
        assert!(is_valid_upload_id(&id), "{id}");
        assert!(!is_valid_upload_id("../../etc/passwd"));
        assert!(!is_valid_upload_id(&id.to_uppercase()));
    }

    #[test]
    fn percent() {
        assert_eq!(percent_decode("sha256%3Aab").as_deref(), Some("sha256:ab"));
        assert_eq!(percent_decode("x%2").as_deref(), None);
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
    }
}
