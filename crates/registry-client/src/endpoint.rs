//! Which URLs serve a registry domain, as Docker decides: `docker.io` →
//! `https://registry-1.docker.io` (after any mirrors), HTTPS first; for
//! insecure registries (daemon.json `insecure-registries`, plus 127.0.0.0/8
//! always) TLS verification off and plain HTTP as a fallback.

use std::net::IpAddr;

use crate::Error;

/// Docker Hub's canonical domain in references.
pub const DOCKER_HUB_DOMAIN: &str = "docker.io";
/// Docker Hub's legacy index domain.
pub const DOCKER_HUB_INDEX: &str = "index.docker.io";
/// The host that serves Docker Hub's v2 API.
pub const DOCKER_HUB_REGISTRY: &str = "registry-1.docker.io";
/// The key docker CLI uses for Docker Hub in `config.json` and `AuthConfig`.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// One base URL to try for a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://host[:port]` or `http://host[:port]`, or a mirror's URL
    /// (which may have a path), without trailing slash.
    pub base: String,
    /// The host (and port) of `base`.
    pub host: String,
    /// TLS certificates are not verified (insecure registry).
    pub skip_verify: bool,
    /// A pull-through mirror of Docker Hub (never used for push).
    pub mirror: bool,
}

impl Endpoint {
    /// `base` + `/v2/` + `path`.
    pub fn v2(&self, path: &str) -> String {
        format!("{}/v2/{path}", self.base)
    }
}

/// True for the domains that mean Docker Hub.
pub fn is_docker_hub(domain: &str) -> bool {
    domain == DOCKER_HUB_DOMAIN || domain == DOCKER_HUB_INDEX
}

/// The key under which credentials for `domain` are stored
/// (`https://index.docker.io/v1/` for Docker Hub, the domain otherwise).
pub fn auth_key(domain: &str) -> String {
    if is_docker_hub(domain) || domain == DOCKER_HUB_REGISTRY {
        DOCKER_HUB_AUTH_KEY.to_owned()
    } else {
        domain.to_owned()
    }
}

/// A CIDR block (`10.0.0.0/8`, `fd00::/8`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = s.split_once('/')?;
        let addr: IpAddr = a.parse().ok()?;
        let prefix: u8 = p.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.prefix))
                };
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.prefix))
                };
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The insecure-registries setting, validated as dockerd does.
#[derive(Debug, Clone)]
pub(crate) struct Insecure {
    hosts: Vec<String>,
    cidrs: Vec<Cidr>,
}

impl Insecure {
    /// Parses daemon.json's `insecure-registries` entries (`host[:port]` or
    /// CIDR). With `loopback`, 127.0.0.0/8 is insecure too, as in Docker.
    pub(crate) fn parse(entries: &[String], loopback: bool) -> Result<Insecure, Error> {
        let mut out = Insecure {
            hosts: Vec::new(),
            cidrs: Vec::new(),
        };
        if loopback {
            out.cidrs.push(Cidr {
                addr: IpAddr::from([127, 0, 0, 0]),
                prefix: 8,
            });
        }
        for e in entries {
            let e = e.trim();
            if e.contains("://") {
                return Err(Error::Config(format!(
                    "insecure registry {e} should not contain '://'"
                )));
            }
            if e.contains('/') {
                match Cidr::parse(e) {
                    Some(c) => out.cidrs.push(c),
                    None => {
                        return Err(Error::Config(format!(
                            "insecure registry {e} is not a valid CIDR block or host[:port]"
                        )))
                    }
                }
                continue;
            }
            if e.is_empty() || !valid_host_port(e) {
                return Err(Error::Config(format!(
                    "insecure registry {e:?} is not valid: give host[:port] or a CIDR block"
                )));
            }
            out.hosts.push(e.to_owned());
        }
        Ok(out)
    }

    /// dockerd's `isSecureIndex`, negated: listed by name, or its address
    /// (looked up when a name) lies in one of the CIDR blocks.
    pub(crate) async fn is_insecure(&self, host_port: &str) -> bool {
        if is_docker_hub(host_port) || host_port == DOCKER_HUB_REGISTRY {
            return false;
        }
        if self.hosts.iter().any(|h| h == host_port) {
            return true;
        }
        let host = split_host(host_port);
        let ips: Vec<IpAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => match tokio::net::lookup_host((host, 0)).await {
                Ok(addrs) => addrs.map(|a| a.ip()).collect(),
                Err(_) => Vec::new(),
            },
        };
        ips.iter()
            .any(|ip| self.cidrs.iter().any(|c| c.contains(*ip)))
    }
}

/// The host of `host[:port]` / `[v6]:port`, without brackets.
pub(crate) fn split_host(host_port: &str) -> &str {
    if let Some(rest) = host_port.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host_port.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host_port,
    }
}

fn valid_host_port(s: &str) -> bool {
    let host = split_host(s);
    if host.is_empty() {
        return false;
    }
    if host.parse::<IpAddr>().is_ok() {
        return true;
    }
    host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

/// A validated registry mirror (daemon.json `registry-mirrors`).
#[derive(Debug, Clone)]
pub(crate) struct Mirror {
    /// Scheme, host and optional path, no trailing slash.
    pub(crate) base: String,
    pub(crate) host: String,
    pub(crate) https: bool,
}

/// dockerd's `ValidateMirror`: http(s), no query, fragment or user info.
pub(crate) fn parse_mirror(s: &str) -> Result<Mirror, Error> {
    let s = s.trim();
    let (scheme, rest) = s.split_once("://").ok_or_else(|| {
        Error::Config(format!(
            "invalid mirror: {s:?} is not a valid URI: give http(s)://host[:port]"
        ))
    })?;
    if scheme != "http" && scheme != "https" {
        return Err(Error::Config(format!(
            "invalid mirror: unsupported scheme {scheme:?} in {s:?}"
        )));
    }
    if rest.contains('?') || rest.contains('#') {
        return Err(Error::Config(format!(
            "invalid mirror: query or fragment at end of the URI {s:?}"
        )));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(Error::Config(format!(
            "invalid mirror: username/password not allowed in URI {:?}",
            format!(
                "{scheme}://xxxxx@{}",
                authority.rsplit('@').next().unwrap_or("")
            )
        )));
    }
    if authority.is_empty() || !valid_host_port(authority) {
        return Err(Error::Config(format!(
            "invalid mirror: {s:?} has no valid host"
        )));
    }
    let path = path.trim_end_matches('/');
    Ok(Mirror {
        base: format!("{scheme}://{authority}{path}"),
        host: authority.to_owned(),
        https: scheme == "https",
    })
}

/// The endpoints for `domain`, in the order Docker tries them.
pub(crate) async fn endpoints(
    domain: &str,
    push: bool,
    mirrors: &[Mirror],
    insecure: &Insecure,
) -> Vec<Endpoint> {
    let mut out = Vec::new();
    if is_docker_hub(domain) {
        if !push {
            for m in mirrors {
                out.push(Endpoint {
                    base: m.base.clone(),
                    host: m.host.clone(),
                    skip_verify: m.https && insecure.is_insecure(&m.host).await,
                    mirror: true,
                });
            }
        }
        out.push(Endpoint {
            base: format!("https://{DOCKER_HUB_REGISTRY}"),
            host: DOCKER_HUB_REGISTRY.to_owned(),
            skip_verify: false,
            mirror: false,
        });
        return out;
    }
    let insecure = insecure.is_insecure(domain).await;
    out.push(Endpoint {
        base: format!("https://{domain}"),
        host: domain.to_owned(),
        skip_verify: insecure,
        mirror: false,
    });
    if insecure {
        out.push(Endpoint {
            base: format!("http://{domain}"),
            host: domain.to_owned(),
            skip_verify: false,
            mirror: false,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[tokio::test]
    async fn docker_hub_mapping_and_mirrors() {
        let ins = Insecure::parse(&[], true).unwrap();
        let m = vec![parse_mirror("https://mirror.example.com/").unwrap()];
        let eps = endpoints("docker.io", false, &m, &ins).await;
        assert_eq!(eps.len(), 2);
        assert_eq!(eps[0].base, "https://mirror.example.com");
        assert!(eps[0].mirror);
        assert_eq!(eps[1].base, "https://registry-1.docker.io");
        assert!(!eps[1].skip_verify);
        let eps = endpoints("index.docker.io", true, &m, &ins).await;
        assert_eq!(eps.len(), 1, "no mirrors for push");
        assert_eq!(eps[0].v2(""), "https://registry-1.docker.io/v2/");
        // Mirrors are for Docker Hub only.
        let eps = endpoints("quay.io", false, &m, &ins).await;
        assert_eq!(eps.len(), 1);
        assert_eq!(eps[0].base, "https://quay.io");
    }

    #[tokio::test]
    async fn insecure_registries() {
        let ins = Insecure::parse(&s(&["myreg:5000", "10.1.0.0/16"]), true).unwrap();
        assert!(ins.is_insecure("myreg:5000").await);
        assert!(!ins.is_insecure("myreg:5001").await);
        assert!(ins.is_insecure("10.1.2.3:443").await);
        assert!(!ins.is_insecure("10.2.0.1").await);
        // Loopback is always insecure, localhost by lookup.
        assert!(ins.is_insecure("127.0.0.1:5000").await);
        assert!(ins.is_insecure("127.3.4.5").await);
        assert!(ins.is_insecure("localhost:5000").await);
        assert!(!ins.is_insecure("docker.io").await);
        let eps = endpoints("127.0.0.1:5000", false, &[], &ins).await;
        assert_eq!(
            eps.iter().map(|e| e.base.as_str()).collect::<Vec<_>>(),
            ["https://127.0.0.1:5000", "http://127.0.0.1:5000"]
        );
        assert!(eps[0].skip_verify);
        let strict = Insecure::parse(&[], false).unwrap();
        assert!(!strict.is_insecure("127.0.0.1:5000").await);
        let eps = endpoints("[::1]:5000", false, &[], &ins).await;
        assert_eq!(eps.len(), 1, "::1 is not in Docker's default insecure CIDR");
    }

    #[test]
    fn bad_config_is_refused() {
        let e = Insecure::parse(&s(&["http://x:5000"]), true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "insecure registry http://x:5000 should not contain '://'"
        );
        assert!(Insecure::parse(&s(&["10.0.0.0/40"]), true).is_err());
        assert!(Insecure::parse(&s(&["bad host"]), true).is_err());
        assert!(parse_mirror("ftp://m").is_err());
        assert!(parse_mirror("https://m/?x=1").is_err());
        let e = parse_mirror("https://u:p@m").unwrap_err().to_string();
        assert!(!e.contains(":p@"), "password leaked: {e}");
        assert!(parse_mirror("mirror.example.com").is_err());
        let m = parse_mirror("http://m:5000/prefix/").unwrap();
        assert_eq!(m.base, "http://m:5000/prefix");
        assert!(!m.https);
    }

    #[test]
    fn keys_and_hosts() {
        assert_eq!(auth_key("docker.io"), DOCKER_HUB_AUTH_KEY);
        assert_eq!(auth_key("localhost:5000"), "localhost:5000");
        assert_eq!(split_host("[::1]:5000"), "::1");
        assert_eq!(split_host("h:5000"), "h");
        assert_eq!(split_host("h"), "h");
    }
}
