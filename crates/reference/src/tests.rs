use super::*;

const HEX: &str = "7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa";

fn dg() -> String {
    format!("sha256:{HEX}")
}

/// (input, domain, path, tag, digest?, Display, familiar_name, familiar_string)
type NormCase = (
    String,
    &'static str,
    &'static str,
    Option<&'static str>,
    bool,
    String,
    &'static str,
    String,
);

#[test]
fn normalisation_table() {
    let d = dg();
    let cases: Vec<NormCase> = vec![
        (
            "busybox".into(),
            "docker.io",
            "library/busybox",
            None,
            false,
            "docker.io/library/busybox".into(),
            "busybox",
            "busybox".into(),
        ),
        (
            "busybox:latest".into(),
            "docker.io",
            "library/busybox",
            Some("latest"),
            false,
            "docker.io/library/busybox:latest".into(),
            "busybox",
            "busybox:latest".into(),
        ),
        (
            "user/app:1".into(),
            "docker.io",
            "user/app",
            Some("1"),
            false,
            "docker.io/user/app:1".into(),
            "user/app",
            "user/app:1".into(),
        ),
        (
            "docker.io/busybox".into(),
            "docker.io",
            "library/busybox",
            None,
            false,
            "docker.io/library/busybox".into(),
            "busybox",
            "busybox".into(),
        ),
        (
            "index.docker.io/busybox".into(),
            "docker.io",
            "library/busybox",
            None,
            false,
            "docker.io/library/busybox".into(),
            "busybox",
            "busybox".into(),
        ),
        (
            "index.docker.io/user/app".into(),
            "docker.io",
            "user/app",
            None,
            false,
            "docker.io/user/app".into(),
            "user/app",
            "user/app".into(),
        ),
        (
            "docker.io/library/busybox:1.36".into(),
            "docker.io",
            "library/busybox",
            Some("1.36"),
            false,
            "docker.io/library/busybox:1.36".into(),
            "busybox",
            "busybox:1.36".into(),
        ),
        (
            // nested path under library/ stays as is in familiar form
            "library/foo/bar".into(),
            "docker.io",
            "library/foo/bar",
            None,
            false,
            "docker.io/library/foo/bar".into(),
            "library/foo/bar",
            "library/foo/bar".into(),
        ),
        (
            format!("localhost:5000/x@{d}"),
            "localhost:5000",
            "x",
            None,
            true,
            format!("localhost:5000/x@{d}"),
            "localhost:5000/x",
            format!("localhost:5000/x@{d}"),
        ),
        (
            "localhost/foo".into(),
            "localhost",
            "foo",
            None,
            false,
            "localhost/foo".into(),
            "localhost/foo",
            "localhost/foo".into(),
        ),
        (
            "127.0.0.1:5000/alumno/busybox:custom".into(),
            "127.0.0.1:5000",
            "alumno/busybox",
            Some("custom"),
            false,
            "127.0.0.1:5000/alumno/busybox:custom".into(),
            "127.0.0.1:5000/alumno/busybox",
            "127.0.0.1:5000/alumno/busybox:custom".into(),
        ),
        (
            "example.com/foo".into(),
            "example.com",
            "foo",
            None,
            false,
            "example.com/foo".into(),
            "example.com/foo",
            "example.com/foo".into(),
        ),
        (
            "myregistry:5000/a/b/c:v2".into(),
            "myregistry:5000",
            "a/b/c",
            Some("v2"),
            false,
            "myregistry:5000/a/b/c:v2".into(),
            "myregistry:5000/a/b/c",
            "myregistry:5000/a/b/c:v2".into(),
        ),
        (
            "[::1]:5000/foo:bar".into(),
            "[::1]:5000",
            "foo",
            Some("bar"),
            false,
            "[::1]:5000/foo:bar".into(),
            "[::1]:5000/foo",
            "[::1]:5000/foo:bar".into(),
        ),
        (
            "[2001:db8::1]/repo".into(),
            "[2001:db8::1]",
            "repo",
            None,
            false,
            "[2001:db8::1]/repo".into(),
            "[2001:db8::1]/repo",
            "[2001:db8::1]/repo".into(),
        ),
        (
            // uppercase first element is a domain (splitDockerDomain)
            "Foo/bar".into(),
            "Foo",
            "bar",
            None,
            false,
            "Foo/bar".into(),
            "Foo/bar",
            "Foo/bar".into(),
        ),
        (
            format!("busybox@{d}"),
            "docker.io",
            "library/busybox",
            None,
            true,
            format!("docker.io/library/busybox@{d}"),
            "busybox",
            format!("busybox@{d}"),
        ),
        (
            format!("busybox:1@{d}"),
            "docker.io",
            "library/busybox",
            Some("1"),
            true,
            format!("docker.io/library/busybox:1@{d}"),
            "busybox",
            format!("busybox:1@{d}"),
        ),
        (
            "foo__bar/a-b--c_d.e:T_a.g-1".into(),
            "docker.io",
            "foo__bar/a-b--c_d.e",
            Some("T_a.g-1"),
            false,
            "docker.io/foo__bar/a-b--c_d.e:T_a.g-1".into(),
            "foo__bar/a-b--c_d.e",
            "foo__bar/a-b--c_d.e:T_a.g-1".into(),
        ),
        (
            // a bare "host:port" without a slash is name:tag
            "localhost:5000".into(),
            "docker.io",
            "library/localhost",
            Some("5000"),
            false,
            "docker.io/library/localhost:5000".into(),
            "localhost",
            "localhost:5000".into(),
        ),
        (
            // Docker quirk: an invalid domain falls back to a domain-less path
            "foo_bar.com/x".into(),
            "",
            "foo_bar.com/x",
            None,
            false,
            "foo_bar.com/x".into(),
            "foo_bar.com/x",
            "foo_bar.com/x".into(),
        ),
    ];
    for (input, domain, path, tag, has_digest, full, fam_name, fam_str) in cases {
        let r = Reference::parse_normalized(&input)
            .unwrap_or_else(|e| panic!("{input}: unexpected error {e}"));
        assert_eq!(r.domain(), domain, "{input}");
        assert_eq!(r.path(), path, "{input}");
        assert_eq!(r.tag(), tag, "{input}");
        assert_eq!(r.digest().is_some(), has_digest, "{input}");
        if has_digest {
            assert_eq!(r.digest().map(|d| d.to_string()), Some(dg()), "{input}");
        }
        assert_eq!(r.to_string(), full, "{input}");
        assert_eq!(r.familiar_name(), fam_name, "{input}");
        assert_eq!(r.familiar_string(), fam_str, "{input}");
        // round trips
        assert_eq!(
            Reference::parse_normalized(&full).as_ref(),
            Ok(&r),
            "{full}"
        );
        assert_eq!(input.parse::<Reference>().as_ref(), Ok(&r), "{input}");
    }
}

#[test]
fn name_forms() {
    let r = Reference::parse_normalized("busybox:1").unwrap();
    assert_eq!(r.name(), "docker.io/library/busybox");
    let r = Reference::parse_normalized("localhost:5000/a/b:1").unwrap();
    assert_eq!(r.name(), "localhost:5000/a/b");
    assert_eq!(r.familiar_name(), "localhost:5000/a/b");
}

#[test]
fn errors_table() {
    let hex64 = HEX.to_string();
    let long_name = "a".repeat(248); // "library/" + 248 = 256 > 255
    let ok_name = "a".repeat(247); // "library/" + 247 = 255
    let cases: Vec<(String, ReferenceError, &str)> = vec![
        (
            "Busybox".into(),
            ReferenceError::NameNotLowercase("library/Busybox".into()),
            "invalid reference format: repository name (library/Busybox) must be lowercase",
        ),
        (
            "foo/Bar:tag".into(),
            ReferenceError::NameNotLowercase("foo/Bar".into()),
            "invalid reference format: repository name (foo/Bar) must be lowercase",
        ),
        (
            "docker.io/Foo".into(),
            ReferenceError::NameNotLowercase("library/Foo".into()),
            "invalid reference format: repository name (library/Foo) must be lowercase",
        ),
        (
            "".into(),
            ReferenceError::InvalidFormat,
            "invalid reference format",
        ),
        (
            "busybox:".into(),
            ReferenceError::InvalidFormat,
            "invalid reference format",
        ),
        (
            "busybox:bad!tag".into(),
            ReferenceError::InvalidFormat,
            "invalid reference format",
        ),
        (
            "foo-_bar".into(),
            ReferenceError::InvalidFormat,
            "invalid reference format",
        ),
        (
            "foo___bar".into(),
            ReferenceError::InvalidFormat,
            "invalid reference format",
        ),
        (
            "foo..bar".into(),
            ReferenceError::InvalidFormat,
            "invalid reference format",
        ),
        (
            "-foo".into(),
            ReferenceError::InvalidFormat,
            "invalid reference format",
        ),
        (
            "foo/".into(),
            ReferenceError::InvalidFormat,
            "invalid reference format",
        ),
        (
            "foo//bar".into(),
            ReferenceError::InvalidFormat,
            "invalid reference format",
        ),
        (
            "example.com:port/foo".into(),
            ReferenceError::InvalidFormat,
            "invalid reference format",
        ),
        (
            "[fe80::1%eth0]:5000/foo".into(),
            ReferenceError::InvalidFormat,
            "invalid reference format",
        ),
        (
            "-bad.com/foo".into(),
            ReferenceError::InvalidFormat,
            "invalid reference format",
        ),
        (
            "busybox@sha256:abc".into(),
            ReferenceError::InvalidFormat,
            "invalid reference format",
        ),
        (
            format!("busybox:{}", "t".repeat(129)),
            ReferenceError::InvalidFormat,
            "invalid reference format",
        ),
        (
            long_name,
            ReferenceError::NameTooLong,
            "repository name must not be more than 255 characters",
        ),
        (
            hex64.clone(),
            ReferenceError::IdentifierAsName(hex64.clone()),
            "invalid repository name (7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa), cannot specify 64-byte hexadecimal strings",
        ),
        (
            format!("busybox@sha256:{}", HEX.to_uppercase()),
            ReferenceError::DigestInvalidFormat,
            "invalid checksum digest format",
        ),
        (
            format!("busybox@sha256:{}", &HEX[..40]),
            ReferenceError::DigestInvalidLength,
            "invalid checksum digest length",
        ),
        (
            format!("busybox@md5:{HEX}"),
            ReferenceError::DigestUnsupported,
            "unsupported digest algorithm",
        ),
    ];
    for (input, err, text) in cases {
        let got = Reference::parse_normalized(&input);
        assert_eq!(got, Err(err), "{input}");
        if let Err(e) = got {
            assert_eq!(e.to_string(), text, "{input}");
        }
    }
    assert!(Reference::parse_normalized(&ok_name).is_ok());
    // a 63-char hex string is an ordinary name
    assert!(Reference::parse_normalized(&HEX[..63]).is_ok());
}

#[test]
fn non_normalising_parse() {
    assert_eq!(Reference::parse(""), Err(ReferenceError::NameEmpty));
    assert_eq!(
        ReferenceError::NameEmpty.to_string(),
        "repository name must have at least one component"
    );
    assert_eq!(
        Reference::parse("docker.io/Foo"),
        Err(ReferenceError::NameContainsUppercase)
    );
    assert_eq!(
        ReferenceError::NameContainsUppercase.to_string(),
        "repository name must be lowercase"
    );
    let r = Reference::parse("foo").unwrap();
    assert_eq!((r.domain(), r.path()), ("", "foo"));
    assert_eq!(r.to_string(), "foo");
    let r = Reference::parse("foo/bar:1").unwrap();
    assert_eq!((r.domain(), r.path(), r.tag()), ("foo", "bar", Some("1")));
}

#[test]
fn default_tag() {
    let d = dg();
    let cases = [
        (
            "busybox".to_string(),
            "docker.io/library/busybox:latest".to_string(),
        ),
        ("busybox:1".into(), "docker.io/library/busybox:1".into()),
        (
            format!("busybox@{d}"),
            format!("docker.io/library/busybox@{d}"),
        ),
        ("localhost:5000/x".into(), "localhost:5000/x:latest".into()),
    ];
    for (input, want) in cases {
        let r = Reference::parse_with_default_tag(&input).unwrap();
        assert_eq!(r.to_string(), want, "{input}");
    }
    assert!(Reference::parse_normalized("busybox")
        .unwrap()
        .is_name_only());
}

#[test]
fn with_tag_digest_name_only() {
    let digest = Digest::parse(&dg()).unwrap();
    let r = Reference::parse_normalized(&format!("busybox:1@{}", dg())).unwrap();

    let t = r.with_tag("2").unwrap();
    assert_eq!(t.to_string(), "docker.io/library/busybox:2");
    assert_eq!(t.digest(), None);

    assert_eq!(r.with_tag("bad tag"), Err(ReferenceError::InvalidTagFormat));
    assert_eq!(
        ReferenceError::InvalidTagFormat.to_string(),
        "invalid tag format"
    );

    let plain = Reference::parse_normalized("busybox:1").unwrap();
    let dd = plain.with_digest(digest.clone());
    assert_eq!(dd.tag(), None);
    assert_eq!(dd.digest(), Some(&digest));
    assert_eq!(dd.familiar_string(), format!("busybox@{}", dg()));

    let n = r.name_only();
    assert_eq!(n.to_string(), "docker.io/library/busybox");
    assert!(n.is_name_only());
}

#[test]
fn tags() {
    let max = format!("a{}", "b".repeat(127));
    let over = format!("a{}", "b".repeat(128));
    assert_eq!(max.len(), 128);
    let cases: Vec<(&str, bool)> = vec![
        ("latest", true),
        ("1.0", true),
        ("_x", true),
        ("A-b.C_d", true),
        (&max, true),
        (&over, false),
        ("", false),
        (".x", false),
        ("-x", false),
        ("a:b", false),
        ("a/b", false),
        ("a@b", false),
        ("é", false),
    ];
    for (tag, ok) in cases {
        assert_eq!(validate_tag(tag).is_ok(), ok, "{tag:?}");
        let r = Reference::parse_normalized(&format!("busybox:{tag}"));
        assert_eq!(r.is_ok(), ok, "busybox:{tag}");
    }
}

#[test]
fn separators() {
    let cases = [
        ("a__b", true),
        ("a_b", true),
        ("a.b", true),
        ("a-b", true),
        ("a---b", true),
        ("a___b", false),
        ("a._b", false),
        ("a-.b", false),
        ("a_-b", false),
        ("a.", false),
        ("a_", false),
        ("a-", false),
        ("_a", false),
        (".a", false),
        ("0", true),
    ];
    for (comp, ok) in cases {
        assert_eq!(grammar::is_path_component(comp), ok, "{comp}");
        let r = Reference::parse_normalized(&format!("user/{comp}"));
        assert_eq!(r.is_ok(), ok, "user/{comp}");
    }
}

#[test]
fn domains() {
    let cases = [
        ("localhost", true),
        ("localhost:5000", true),
        ("a.b.c", true),
        ("a-b.c", true),
        ("A.Example.COM:443", true),
        ("127.0.0.1", true),
        ("[::1]", true),
        ("[::1]:80", true),
        ("[2001:DB8::1]", true),
        ("[]", false),
        ("[::1", false),
        ("[::1]:", false),
        ("[::1]x", false),
        ("[::g]", false),
        ("a.-b", false),
        ("a-.b", false),
        ("a..b", false),
        ("a:", false),
        ("a:1:2", false),
        ("a_b.com", false),
        ("", false),
    ];
    for (dom, ok) in cases {
        assert_eq!(grammar::is_domain_and_port(dom), ok, "{dom}");
    }
}

#[test]
fn digest_round_trip_and_errors() {
    let d = Digest::parse(&dg()).unwrap();
    assert_eq!(d.algorithm(), "sha256");
    assert_eq!(d.hex(), HEX);
    assert_eq!(d.to_string(), dg());
    assert_eq!(dg().parse::<Digest>(), Ok(d.clone()));
    assert_eq!(Digest::sha256_hex(HEX), Ok(d.clone()));

    let sha512 = format!("sha512:{}", "ab".repeat(64));
    assert_eq!(Digest::parse(&sha512).map(|d| d.to_string()), Ok(sha512));

    let cases: Vec<(String, ReferenceError)> = vec![
        ("".into(), ReferenceError::DigestInvalidFormat),
        ("sha256".into(), ReferenceError::DigestInvalidFormat),
        ("sha256:".into(), ReferenceError::DigestInvalidFormat),
        (format!(":{HEX}"), ReferenceError::DigestInvalidFormat),
        (
            format!("sha256:{}", HEX.to_uppercase()),
            ReferenceError::DigestInvalidFormat,
        ),
        (
            format!("sha256:{}z", &HEX[..63]),
            ReferenceError::DigestInvalidFormat,
        ),
        ("sha256:abc".into(), ReferenceError::DigestInvalidLength),
        (
            format!("sha256:{HEX}0"),
            ReferenceError::DigestInvalidLength,
        ),
        (format!("md5:{HEX}"), ReferenceError::DigestUnsupported),
        (
            format!("sha256+b64:{HEX}"),
            ReferenceError::DigestUnsupported,
        ),
        (format!("SHA256:{HEX}"), ReferenceError::DigestInvalidFormat),
        (format!("md5:{HEX}!"), ReferenceError::DigestInvalidFormat),
    ];
    for (input, err) in cases {
        assert_eq!(Digest::parse(&input), Err(err), "{input}");
    }
    assert_eq!(
        Digest::sha256_hex("abc"),
        Err(ReferenceError::DigestInvalidLength)
    );
    assert_eq!(
        ReferenceError::DigestUnsupported.to_string(),
        "unsupported digest algorithm"
    );
    assert_eq!(
        ReferenceError::DigestInvalidFormat.to_string(),
        "invalid checksum digest format"
    );

    // ordering / hashing derive sanity
    let a = Digest::sha256_hex(&"0".repeat(64)).unwrap();
    assert!(a < d);
}

#[test]
fn hex_id_prefix() {
    let cases: Vec<(String, bool)> = vec![
        ("a".into(), true),
        ("0123abcdef".into(), true),
        (HEX.into(), true),
        (format!("{HEX}0"), false),
        ("".into(), false),
        ("ABC".into(), false),
        ("abg".into(), false),
        ("sha256:abc".into(), false),
        ("busybox".into(), false),
    ];
    for (s, ok) in cases {
        assert_eq!(is_hex_id_prefix(&s), ok, "{s}");
    }
}

#[test]
fn match_reference_captures() {
    use grammar::{match_reference, Matched};
    assert_eq!(
        match_reference("a:5000/b:c"),
        Some(Matched {
            domain: "a:5000",
            path: "b",
            tag: Some("c"),
            digest: None
        })
    );
    assert_eq!(
        match_reference("a/b"),
        Some(Matched {
            domain: "a",
            path: "b",
            tag: None,
            digest: None
        })
    );
    assert_eq!(match_reference("a/b:c:d"), None);
    assert_eq!(match_reference("a/b@x@y"), None);
}

#[test]
fn uppercase_single_component_is_refused() {
    let e = crate::Reference::parse_normalized("Busybox").unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid reference format: repository name (library/Busybox) must be lowercase"
    );
}
