//! Hand-written recognisers for the productions of Docker's reference grammar
//! (`github.com/distribution/reference/regexp.go`). Every function matches its
//! production *anchored*, i.e. against the whole input.

/// `alphanumeric := [a-z0-9]+` (a single character of it).
fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `path-component := [a-z0-9]+ (?: (?:[._]|__|[-]+) [a-z0-9]+ )*`
pub(crate) fn is_path_component(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        // One run of alphanumerics is mandatory here.
        let start = i;
        while i < b.len() && is_lower_alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        // Then a separator: ".", "_", "__" or one or more "-".
        let sep_start = i;
        while i < b.len() && !is_lower_alnum(b[i]) {
            i += 1;
        }
        let sep = &s[sep_start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|c| c == b'-');
        if !ok {
            return false;
        }
    }
}

/// `remote-name := path-component ('/' path-component)*`
pub(crate) fn is_remote_name(s: &str) -> bool {
    s.split('/').all(is_path_component)
}

/// `domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`
fn is_domain_component(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        }
        _ => false,
    }
}

/// `domain-name := domain-component ('.' domain-component)*`
fn is_domain_name(s: &str) -> bool {
    s.split('.').all(is_domain_component)
}

/// `port := [0-9]+`
fn is_port(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())
}

/// `domain := host (':' port)?` where `host := domain-name | '[' [a-fA-F0-9:]+ ']'`.
pub(crate) fn is_domain_and_port(s: &str) -> bool {
    if let Some(rest) = s.strip_prefix('[') {
        let Some(close) = rest.find(']') else {
            return false;
        };
        let inner = &rest[..close];
        let after = &rest[close + 1..];
        let inner_ok =
            !inner.is_empty() && inner.bytes().all(|c| c.is_ascii_hexdigit() || c == b':');
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(is_port);
        return inner_ok && port_ok;
    }
    match s.split_once(':') {
        Some((host, port)) => is_domain_name(host) && is_port(port),
        None => is_domain_name(s),
    }
}

/// `tag := [\w][\w.-]{0,127}`
pub(crate) fn is_tag(s: &str) -> bool {
    let b = s.as_bytes();
    let word = |c: &u8| c.is_ascii_alphanumeric() || *c == b'_';
    match b.first() {
        Some(first) if word(first) && b.len() <= 128 => {
            b[1..].iter().all(|c| word(c) || *c == b'.' || *c == b'-')
        }
        _ => false,
    }
}

/// `digest := [A-Za-z][A-Za-z0-9]* ([-_+.][A-Za-z][A-Za-z0-9]*)* ':' [[:xdigit:]]{32,}`
/// (the reference grammar's digest; stricter checks happen in `Digest::parse`).
pub(crate) fn is_reference_digest(s: &str) -> bool {
    let Some((alg, hex)) = s.split_once(':') else {
        return false;
    };
    let hex_ok = hex.len() >= 32 && hex.bytes().all(|c| c.is_ascii_hexdigit());
    let alg_ok = alg.split(['-', '_', '+', '.']).all(|comp| {
        let b = comp.as_bytes();
        b.first().is_some_and(u8::is_ascii_alphabetic) && b.iter().all(u8::is_ascii_alphanumeric)
    });
    hex_ok && alg_ok
}

/// go-digest's `DigestRegexpAnchored`:
/// `^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$`
pub(crate) fn is_oci_digest_syntax(s: &str) -> bool {
    let Some((alg, enc)) = s.split_once(':') else {
        return false;
    };
    let alg_ok = alg
        .split(['.', '+', '_', '-'])
        .all(|comp| !comp.is_empty() && comp.bytes().all(is_lower_alnum));
    let enc_ok = !enc.is_empty()
        && enc
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'=' | b'_' | b'-'));
    alg_ok && enc_ok
}

/// `identifier := [a-f0-9]{64}`
pub(crate) fn is_identifier(s: &str) -> bool {
    s.len() == 64 && is_lower_hex(s)
}

/// Non-empty and only `[a-f0-9]`.
pub(crate) fn is_lower_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

/// The pieces of a reference string accepted by `ReferenceRegexp`, with the
/// name already split the way `anchoredNameRegexp` captures it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Matched<'a> {
    pub domain: &'a str,
    pub path: &'a str,
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

/// Anchored match of
/// `^((?:domain '/')? remote-name) (?:':' tag)? (?:'@' digest)?$`,
/// returning the same captures Go's leftmost-first matcher would.
pub(crate) fn match_reference(s: &str) -> Option<Matched<'_>> {
    // Neither the name, the tag nor the digest grammar admit '@', so an '@'
    // can only be the digest separator.
    let (rest, digest) = match s.split_once('@') {
        Some((rest, digest)) => {
            if !is_reference_digest(digest) {
                return None;
            }
            (rest, Some(digest))
        }
        None => (s, None),
    };
    // A ':' can appear in the name only inside the domain, which is always
    // followed by a '/'. Any ':' after the last '/' therefore starts the tag,
    // and since a tag has no ':' it must be the last one.
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => {
            let colon = last_slash + i;
            let tag = &rest[colon + 1..];
            if !is_tag(tag) {
                return None;
            }
            (&rest[..colon], Some(tag))
        }
        None => (rest, None),
    };
    // The optional domain group is greedy: prefer "domain/remote-name".
    if let Some((domain, path)) = name.split_once('/') {
        if is_domain_and_port(domain) && is_remote_name(path) {
            return Some(Matched {
                domain,
                path,
                tag,
                digest,
            });
        }
    }
    if is_remote_name(name) {
        return Some(Matched {
            domain: "",
            path: name,
            tag,
            digest,
        });
    }
    None
}
