//! Parsers for compose's short syntaxes and value formats: port specs
//! (`127.0.0.1:8080-8081:80-81/udp`), volume specs (`./data:/data:ro`),
//! shell-style command strings, Go durations (`1m30s`) and byte sizes
//! (`512m`), plus Go's `path.Clean`.

use serde_json::{json, Map, Value};

/// One published/exposed port in compose's long syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedPort {
    /// Container port.
    pub target: u16,
    /// Host port or host port range (`"8080"`, `"8000-8005"`), empty when
    /// the engine picks one.
    pub published: String,
    /// Host address to bind, empty for all.
    pub host_ip: String,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
}

fn parse_range(s: &str) -> Option<(u16, u16)> {
    let parse = |p: &str| -> Option<u16> {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok()
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (parse(a)?, parse(b)?);
            (a <= b).then_some((a, b))
        }
        None => parse(s).map(|p| (p, p)),
    }
}

fn valid_ip(ip: &str) -> bool {
    ip.parse::<std::net::IpAddr>().is_ok()
}

/// Parses a short-syntax port (`"80"`, `"8080:80"`, `"127.0.0.1:8080:80/udp"`,
/// `"3000-3005"`, `"[::1]:8080:80"`) into one entry per container port, as
/// Docker's `nat.ParsePortSpecs` does. Errors use Docker's texts.
pub fn parse_port(spec: &str) -> Result<Vec<ParsedPort>, String> {
    let (raw, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let parts: Vec<&str> = raw.split(':').collect();
    let n = parts.len();
    let container = parts[n - 1];
    let (mut ip, host) = match n {
        1 => (String::new(), ""),
        2 => (String::new(), parts[0]),
        3 => (parts[0].to_string(), parts[1]),
        _ => (parts[..n - 2].join(":"), parts[n - 2]),
    };
    if ip.starts_with('[') && ip.ends_with(']') && ip.len() >= 2 {
        ip = ip[1..ip.len() - 1].to_string();
    }
    if !ip.is_empty() && !valid_ip(&ip) {
        return Err(format!("invalid IP address: {ip}"));
    }
    if container.is_empty() {
        return Err(format!("no port specified: {spec}<empty>"));
    }
    let (cstart, cend) =
        parse_range(container).ok_or_else(|| format!("invalid containerPort: {container}"))?;
    let host_range = if host.is_empty() {
        None
    } else {
        Some(parse_range(host).ok_or_else(|| format!("invalid hostPort: {host}"))?)
    };
    let count = u32::from(cend - cstart) + 1;
    if let Some((hstart, hend)) = host_range {
        let hcount = u32::from(hend - hstart) + 1;
        if hcount != count && count != 1 {
            return Err(format!(
                "invalid ranges specified for container and host Ports: {container} and {host}"
            ));
        }
    }
    let mut out = Vec::new();
    for i in 0..count {
        // `i < count <= 65536` and `cstart + i <= cend`: no overflow.
        let target = cstart + i as u16;
        let published = match host_range {
            None => String::new(),
            Some((hs, he)) if u32::from(he - hs) + 1 == count => (hs + i as u16).to_string(),
            Some((hs, he)) => format!("{hs}-{he}"),
        };
        out.push(ParsedPort {
            target,
            published,
            host_ip: ip.clone(),
            protocol: proto.clone(),
        });
    }
    Ok(out)
}

/// A short-syntax port as compose's long syntax (JSON mapping).
pub(crate) fn port_to_long(p: &ParsedPort) -> Value {
    let mut m = Map::new();
    m.insert("mode".into(), json!("ingress"));
    if !p.host_ip.is_empty() {
        m.insert("host_ip".into(), json!(p.host_ip));
    }
    m.insert("target".into(), json!(p.target));
    if !p.published.is_empty() {
        m.insert("published".into(), json!(p.published));
    }
    m.insert("protocol".into(), json!(p.protocol));
    Value::Object(m)
}

fn is_file_path(source: &str) -> bool {
    source.starts_with(['.', '/', '~']) || source.starts_with("\\\\") || {
        let b = source.as_bytes();
        b.len() > 1 && b[0].is_ascii_alphabetic() && b[1] == b':'
    }
}

/// Parses a short-syntax service volume (`./src:/app:ro`, `data:/var/lib`,
/// `/anon`, `/host:/ctr:rw,z`) into compose's long syntax (JSON mapping).
pub fn parse_volume(spec: &str) -> Result<Value, String> {
    if spec.is_empty() {
        return Err("invalid empty volume spec".into());
    }
    let mut source = String::new();
    let target;
    let mut read_only = false;
    let mut nocopy = false;
    let mut propagation = String::new();
    let mut selinux = String::new();
    if spec.len() <= 2 {
        target = spec.to_string();
    } else {
        // Split on ':' outside `${...}` and keep Windows drive letters.
        let mut fields: Vec<String> = Vec::new();
        let mut buf = String::new();
        let mut depth = 0usize;
        let chars: Vec<char> = spec.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            if c == '$' && chars.get(i + 1) == Some(&'{') {
                depth += 1;
            } else if c == '}' && depth > 0 {
                depth -= 1;
            } else if c == ':' && depth == 0 {
                let drive = buf.len() == 1 && buf.chars().all(|b| b.is_ascii_alphabetic());
                if !drive {
                    fields.push(std::mem::take(&mut buf));
                    continue;
                }
            }
            buf.push(c);
        }
        fields.push(buf);
        if fields.iter().any(String::is_empty) {
            return Err(format!(
                "invalid spec: {spec}: empty section between colons"
            ));
        }
        match fields.len() {
            1 => target = fields.remove(0),
            2 | 3 => {
                source = fields[0].clone();
                target = fields[1].clone();
                if let Some(opts) = fields.get(2) {
                    for opt in opts.split(',') {
                        match opt {
                            "ro" => read_only = true,
                            "rw" => read_only = false,
                            "nocopy" => nocopy = true,
                            "rprivate" | "private" | "rshared" | "shared" | "rslave" | "slave" => {
                                propagation = opt.to_string()
                            }
                            "z" | "Z" => selinux = opt.to_string(),
                            _ => {}
                        }
                    }
                }
            }
            _ => return Err(format!("invalid spec: {spec}: too many colons")),
        }
    }
    let mut m = Map::new();
    let bind = is_file_path(&source);
    m.insert("type".into(), json!(if bind { "bind" } else { "volume" }));
    if !source.is_empty() {
        m.insert("source".into(), json!(source));
    }
    m.insert("target".into(), json!(clean_path(&target)));
    if read_only {
        m.insert("read_only".into(), json!(true));
    }
    if bind {
        let mut b = Map::new();
        if !propagation.is_empty() {
            b.insert("propagation".into(), json!(propagation));
        }
        b.insert("create_host_path".into(), json!(true));
        if !selinux.is_empty() {
            b.insert("selinux".into(), json!(selinux));
        }
        m.insert("bind".into(), Value::Object(b));
    } else {
        let mut v = Map::new();
        if nocopy {
            v.insert("nocopy".into(), json!(true));
        }
        m.insert("volume".into(), Value::Object(v));
    }
    Ok(Value::Object(m))
}

/// Go's `path.Clean` for slash-separated paths.
pub fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return String::new();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Splits a command string into words as a POSIX shell would (single and
/// double quotes, backslash escapes), without any expansion.
pub fn shell_split(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(n) => cur.push(n),
                    None => return Err(format!("invalid command line string: {s:?}")),
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(n) => cur.push(n),
                        None => return Err(format!("invalid command line string: {s:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(n @ ('"' | '\\' | '$' | '`')) => cur.push(n),
                            Some('\n') => {}
                            Some(n) => {
                                cur.push('\\');
                                cur.push(n);
                            }
                            None => return Err(format!("invalid command line string: {s:?}")),
                        },
                        Some(n) => cur.push(n),
                        None => return Err(format!("invalid command line string: {s:?}")),
                    }
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

const NANOS: [(&str, f64); 8] = [
    ("ns", 1.0),
    ("us", 1e3),
    ("µs", 1e3),
    ("μs", 1e3),
    ("ms", 1e6),
    ("s", 1e9),
    ("m", 60e9),
    ("h", 3600e9),
];

/// Parses a Go duration (`1m30s`, `1.5h`, `300ms`, `0`) into nanoseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let err = || format!("time: invalid duration {s:?}");
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(err());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        if num.is_empty() || num == "." {
            return Err(err());
        }
        let value: f64 = num.parse().map_err(|_| err())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let mult = NANOS
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, m)| *m)
            .ok_or_else(|| {
                if unit.is_empty() {
                    format!("time: missing unit in duration {s:?}")
                } else {
                    format!("time: unknown unit {unit:?} in duration {s:?}")
                }
            })?;
        total += value * mult;
        rest = &rest[unit_len..];
    }
    if total > i64::MAX as f64 {
        return Err(err());
    }
    let n = total.round() as i64;
    Ok(if neg { -n } else { n })
}

fn fmt_frac(mut v: u64, prec: u32) -> String {
    // v has `prec` decimal digits of fraction; drop trailing zeros.
    let mut digits = Vec::new();
    let mut print = false;
    for _ in 0..prec {
        let d = v % 10;
        print = print || d != 0;
        if print {
            digits.push(char::from(b'0' + d as u8));
        }
        v /= 10;
    }
    let frac: String = digits.into_iter().rev().collect();
    if frac.is_empty() {
        v.to_string()
    } else {
        format!("{v}.{frac}")
    }
}

/// Formats nanoseconds as Go's `time.Duration.String()` does (`1m30s`).
pub fn format_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let neg = nanos < 0;
    let u = nanos.unsigned_abs();
    let body = if u < 1_000 {
        format!("{u}ns")
    } else if u < 1_000_000 {
        format!("{}µs", fmt_frac(u, 3))
    } else if u < 1_000_000_000 {
        format!("{}ms", fmt_frac(u, 6))
    } else {
        let secs_part = u % 60_000_000_000;
        let mins = u / 60_000_000_000;
        let mut s = format!("{}s", fmt_frac(secs_part, 9));
        if mins > 0 {
            s = format!("{}m{s}", mins % 60);
            if mins >= 60 {
                s = format!("{}h{s}", mins / 60);
            }
        }
        s
    };
    if neg {
        format!("-{body}")
    } else {
        body
    }
}

/// Parses a byte size as docker/go-units `RAMInBytes` does (`512m`, `1g`,
/// `1.5GB`, `100k`, `1024`): binary multiples, optional `b`/`ib` suffix.
pub fn parse_bytes(s: &str) -> Result<i64, String> {
    let err = || format!("invalid size: '{s}'");
    let t = s.trim();
    let num_len = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(num_len);
    if num.is_empty() {
        return Err(err());
    }
    let value: f64 = num.parse().map_err(|_| err())?;
    let unit = unit.trim_start().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024f64.powi(2),
        "g" => 1024f64.powi(3),
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(err()),
    };
    let bytes = value * mult;
    if bytes > i64::MAX as f64 {
        return Err(err());
    }
    Ok(bytes as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(target: u16, published: &str, ip: &str, proto: &str) -> ParsedPort {
        ParsedPort {
            target,
            published: published.into(),
            host_ip: ip.into(),
            protocol: proto.into(),
        }
    }

    #[test]
    fn short_ports() {
        assert_eq!(parse_port("80").unwrap(), vec![port(80, "", "", "tcp")]);
        assert_eq!(
            parse_port("8080:80").unwrap(),
            vec![port(80, "8080", "", "tcp")]
        );
        assert_eq!(
            parse_port("127.0.0.1:8080:80/udp").unwrap(),
            vec![port(80, "8080", "127.0.0.1", "udp")]
        );
        assert_eq!(
            parse_port("127.0.0.1::80").unwrap(),
            vec![port(80, "", "127.0.0.1", "tcp")]
        );
        assert_eq!(
            parse_port("[::1]:8080:80").unwrap(),
            vec![port(80, "8080", "::1", "tcp")]
        );
        assert_eq!(parse_port("3000-3002").unwrap().len(), 3);
        assert_eq!(
            parse_port("9090-9091:8080-8081").unwrap(),
            vec![port(8080, "9090", "", "tcp"), port(8081, "9091", "", "tcp")]
        );
        assert_eq!(
            parse_port("9090-9095:80").unwrap(),
            vec![port(80, "9090-9095", "", "tcp")]
        );
    }

    #[test]
    fn bad_ports() {
        let table = [
            ("80/xyz", "invalid proto: xyz"),
            ("abc", "invalid containerPort: abc"),
            ("8080:", "no port specified: 8080:<empty>"),
            ("x:80", "invalid hostPort: x"),
            ("127.0.1:8080:80", "invalid IP address: 127.0.1"),
            (
                "1-3:1-2",
                "invalid ranges specified for container and host Ports: 1-2 and 1-3",
            ),
            ("70000", "invalid containerPort: 70000"),
            ("5-3", "invalid containerPort: 5-3"),
        ];
        for (spec, want) in table {
            assert_eq!(parse_port(spec).unwrap_err(), want, "spec {spec}");
        }
    }

    #[test]
    fn short_volumes() {
        let v = parse_volume("./data:/data:ro").unwrap();
        assert_eq!(v["type"], "bind");
        assert_eq!(v["source"], "./data");
        assert_eq!(v["target"], "/data");
        assert_eq!(v["read_only"], true);
        assert_eq!(v["bind"]["create_host_path"], true);
        let v = parse_volume("named:/x/").unwrap();
        assert_eq!(v["type"], "volume");
        assert_eq!(v["source"], "named");
        assert_eq!(v["target"], "/x");
        let v = parse_volume("/anon").unwrap();
        assert_eq!(v["type"], "volume");
        assert!(v.get("source").is_none());
        assert_eq!(v["target"], "/anon");
        let v = parse_volume("~/src:/src:rw,z,rshared").unwrap();
        assert_eq!(v["type"], "bind");
        assert_eq!(v["bind"]["selinux"], "z");
        assert_eq!(v["bind"]["propagation"], "rshared");
        let v = parse_volume("vol:/data:nocopy").unwrap();
        assert_eq!(v["volume"]["nocopy"], true);
        assert!(parse_volume("/a:/b:ro:x")
            .unwrap_err()
            .contains("too many colons"));
        assert!(parse_volume("/a::b").unwrap_err().contains("empty section"));
        assert!(parse_volume("").is_err());
    }

    #[test]
    fn clean() {
        for (i, o) in [
            ("/a/b/../c/", "/a/c"),
            ("a//b/./c", "a/b/c"),
            ("/..", "/"),
            ("../x", "../x"),
            ("", ""),
            (".", "."),
        ] {
            assert_eq!(clean_path(i), o);
        }
    }

    #[test]
    fn shell_words() {
        assert_eq!(
            shell_split(r#"sh -c "echo \"hi\" $HOME" 'a b' c\ d"#).unwrap(),
            vec!["sh", "-c", "echo \"hi\" $HOME", "a b", "c d"]
        );
        assert_eq!(shell_split("  ").unwrap(), Vec::<String>::new());
        assert_eq!(shell_split("''").unwrap(), vec![""]);
        assert!(shell_split("echo 'oops").is_err());
    }

    #[test]
    fn durations() {
        for (s, n) in [
            ("1m30s", 90_000_000_000i64),
            ("10s", 10_000_000_000),
            ("1.5h", 5_400_000_000_000),
            ("300ms", 300_000_000),
            ("0", 0),
            ("1h2m3s4ms", 3_723_004_000_000),
            ("2us", 2_000),
        ] {
            assert_eq!(parse_duration(s).unwrap(), n, "{s}");
        }
        for s in ["", "10", "1x", "s", "1.2.3s"] {
            assert!(parse_duration(s).is_err(), "{s}");
        }
        for (n, s) in [
            (90_000_000_000i64, "1m30s"),
            (10_000_000_000, "10s"),
            (5_400_000_000_000, "1h30m0s"),
            (1_500_000_000, "1.5s"),
            (300_000_000, "300ms"),
            (0, "0s"),
            (2_000, "2µs"),
            (5, "5ns"),
        ] {
            assert_eq!(format_duration(n), s);
        }
    }

    #[test]
    fn bytes() {
        for (s, n) in [
            ("512m", 512 * 1024 * 1024i64),
            ("1g", 1 << 30),
            ("1GB", 1 << 30),
            ("100k", 102_400),
            ("1024", 1024),
            ("1.5g", 3 << 29),
            ("64MiB", 64 << 20),
        ] {
            assert_eq!(parse_bytes(s).unwrap(), n, "{s}");
        }
        assert_eq!(parse_bytes("12x").unwrap_err(), "invalid size: '12x'");
        assert!(parse_bytes("m").is_err());
    }
}
