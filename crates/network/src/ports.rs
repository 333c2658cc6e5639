//! Published ports: parsing `-p [ip:][hostPort[-end]:]containerPort[-end][/proto]`
//! as Docker does, the daemon's host-port allocator (which ports berth has
//! handed out, ephemeral ports from the kernel's local port range), and
//! binding the host socket that reserves a port (as Docker 28 does before
//! handing the socket to its proxy) with Docker's messages:
//!
//! - `Bind for 0.0.0.0:8080 failed: port is already allocated` when berth
//!   itself already uses the port;
//! - `failed to bind host port for 0.0.0.0:8080:172.17.0.2:80/tcp: address
//!   already in use` when another process holds it.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use serde::{Deserialize, Serialize};

use crate::firewall::Proto;
use crate::{Error, Result};

/// One port binding request after parsing (ranges expanded: a host range
/// with a single container port stays a range to pick one port from).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRequest {
    /// Protocol.
    pub proto: Proto,
    /// Host address; `None` for all addresses.
    pub host_ip: Option<Ipv4Addr>,
    /// First acceptable host port; 0 for an ephemeral port.
    pub host_port: u16,
    /// Last acceptable host port (equal to `host_port` for a single port).
    pub host_port_end: u16,
    /// The container's port.
    pub container_port: u16,
}

fn parse_range(s: &str, what: &str) -> Result<(u16, u16)> {
    let bad = || Error::InvalidArgument(format!("invalid {what}: {s}"));
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a, b),
        None => (s, s),
    };
    let a: u16 = a.parse().map_err(|_| bad())?;
    let b: u16 = b.parse().map_err(|_| bad())?;
    if b < a || (what == "containerPort" && a == 0) {
        return Err(bad());
    }
    Ok((a, b))
}

/// Parses one `-p`/`--publish` value into binding requests, with Docker's
/// messages (`invalid containerPort: x`, `invalid hostPort: x`, `invalid
/// proto: x`, `invalid IP address: x`, …). IPv6 host addresses are refused.
pub fn parse_publish(spec: &str) -> Result<Vec<PortRequest>> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, Proto::parse(p)?),
        None => (spec, Proto::Tcp),
    };
    if rest.starts_with('[') {
        return Err(Error::InvalidArgument(format!(
            "IPv6 host addresses are not supported yet: {spec}"
        )));
    }
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [i, h, c] => (*i, *h, *c),
        _ => {
            return Err(Error::InvalidArgument(format!(
                "invalid port format for --publish: {spec}"
            )))
        }
    };
    let host_ip = if ip.is_empty() {
        None
    } else {
        Some(
            ip.parse::<Ipv4Addr>()
                .map_err(|_| Error::InvalidArgument(format!("invalid IP address: {ip}")))?,
        )
    };
    let (cs, ce) = parse_range(container, "containerPort")?;
    let (hs, he) = if host.is_empty() {
        (0, 0)
    } else {
        parse_range(host, "hostPort")?
    };
    let ccount = u32::from(ce - cs) + 1;
    let hcount = u32::from(he - hs) + 1;
    if !host.is_empty() && ccount > 1 && ccount != hcount {
        return Err(Error::InvalidArgument(format!(
            "invalid ranges specified for container and host Ports: {container} and {host}"
        )));
    }
    let mut out = Vec::new();
    for i in 0..ccount {
        let cp = cs + i as u16;
        let (h, hend) = if host.is_empty() {
            (0, 0)
        } else if ccount == 1 {
            (hs, he)
        } else {
            (hs + i as u16, hs + i as u16)
        };
        out.push(PortRequest {
            proto,
            host_ip,
            host_port: h,
            host_port_end: hend,
            container_port: cp,
        });
    }
    Ok(out)
}

/// The host ports berth has handed out, per protocol and address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortAllocator {
    ephemeral: (u16, u16),
    used: BTreeMap<Proto, BTreeMap<Ipv4Addr, BTreeSet<u16>>>,
}

impl Default for PortAllocator {
    fn default() -> Self {
        PortAllocator::new()
    }
}

impl PortAllocator {
    /// An allocator whose ephemeral range is the kernel's
    /// `net.ipv4.ip_local_port_range` (32768–60999 if unreadable).
    pub fn new() -> PortAllocator {
        let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|s| {
                let mut it = s.split_whitespace().map(|p| p.parse::<u16>());
                match (it.next(), it.next()) {
                    (Some(Ok(a)), Some(Ok(b))) if a > 0 && a <= b => Some((a, b)),
                    _ => None,
                }
            })
            .unwrap_or((32768, 60999));
        PortAllocator::with_range(range.0, range.1)
    }

    /// An allocator with the given ephemeral range.
    pub fn with_range(first: u16, last: u16) -> PortAllocator {
        PortAllocator {
            ephemeral: (first.max(1), last.max(first.max(1))),
            used: BTreeMap::new(),
        }
    }

    /// Whether `port` is taken on `ip` (an unspecified address conflicts
    /// with every address, and the other way round).
    pub fn is_used(&self, proto: Proto, ip: Ipv4Addr, port: u16) -> bool {
        let Some(by_ip) = self.used.get(&proto) else {
            return false;
        };
        if ip.is_unspecified() {
            by_ip.values().any(|ports| ports.contains(&port))
        } else {
            [ip, Ipv4Addr::UNSPECIFIED]
                .iter()
                .any(|a| by_ip.get(a).is_some_and(|p| p.contains(&port)))
        }
    }

    /// Reserves `port` on `ip`, failing with Docker's "port is already
    /// allocated" message.
    pub fn request(&mut self, proto: Proto, ip: Ipv4Addr, port: u16) -> Result<()> {
        if port == 0 {
            return Err(Error::InvalidArgument("invalid hostPort: 0".into()));
        }
        if self.is_used(proto, ip, port) {
            return Err(Error::PortAllocated {
                host_ip: IpAddr::V4(ip),
                port,
            });
        }
        self.used
            .entry(proto)
            .or_default()
            .entry(ip)
            .or_default()
            .insert(port);
        Ok(())
    }

    /// Frees `port` on `ip`; returns whether it was reserved.
    pub fn release(&mut self, proto: Proto, ip: Ipv4Addr, port: u16) -> bool {
        let Some(by_ip) = self.used.get_mut(&proto) else {
            return false;
        };
        let Some(ports) = by_ip.get_mut(&ip) else {
            return false;
        };
        let removed = ports.remove(&port);
        if ports.is_empty() {
            by_ip.remove(&ip);
        }
        removed
    }

    /// Candidate ports for a request, in order (the ephemeral range for 0).
    fn candidates(&self, req: &PortRequest) -> std::ops::RangeInclusive<u16> {
        if req.host_port == 0 {
            self.ephemeral.0..=self.ephemeral.1
        } else {
            req.host_port..=req.host_port_end.max(req.host_port)
        }
    }
}

/// A bound host socket reserving a published port.
#[derive(Debug)]
pub enum HostSocket {
    /// A listening TCP socket.
    Tcp(std::net::TcpListener),
    /// A bound UDP socket.
    Udp(std::net::UdpSocket),
    /// SCTP ports are only DNATed; nothing is bound.
    None,
}

/// A published port whose host port is reserved (in the allocator and by a
/// bound socket). Release it with [`release`] when the container stops.
#[derive(Debug)]
pub struct BoundPort {
    /// Protocol.
    pub proto: Proto,
    /// Host address (`0.0.0.0` for all).
    pub host_ip: Ipv4Addr,
    /// The host port chosen.
    pub host_port: u16,
    /// The container's address.
    pub container_ip: Ipv4Addr,
    /// The container's port.
    pub container_port: u16,
    /// The socket holding the port (hand it to the proxy).
    pub socket: HostSocket,
}

impl BoundPort {
    /// The target of the binding.
    pub fn target(&self) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(self.container_ip, self.container_port))
    }

    /// Docker's text for the binding: `0.0.0.0:8080:172.17.0.2:80/tcp`.
    pub fn describe(&self) -> String {
        format!(
            "{}:{}:{}:{}/{}",
            self.host_ip, self.host_port, self.container_ip, self.container_port, self.proto
        )
    }
}

fn go_reason(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EADDRINUSE) => "address already in use".into(),
        Some(libc::EADDRNOTAVAIL) => "cannot assign requested address".into(),
        Some(libc::EACCES) => "permission denied".into(),
        _ => e.to_string(),
    }
}

fn bind_socket(proto: Proto, addr: SocketAddrV4) -> io::Result<HostSocket> {
    match proto {
        Proto::Tcp => std::net::TcpListener::bind(addr).map(HostSocket::Tcp),
        Proto::Udp => std::net::UdpSocket::bind(addr).map(HostSocket::Udp),
        Proto::Sctp => Ok(HostSocket::None),
    }
}

/// Reserves a host port for `req` towards `container_ip`: in `alloc`, then
/// by binding the host socket. A single requested port that is in use fails
/// with Docker's message; ranges and ephemeral requests move on to the next
/// free port. Nothing stays reserved on failure.
pub fn bind_port(
    alloc: &mut PortAllocator,
    req: &PortRequest,
    container_ip: Ipv4Addr,
) -> Result<BoundPort> {
    let ip = req.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
    let single = req.host_port != 0 && req.host_port_end <= req.host_port;
    let mut last_err = None;
    for port in alloc.candidates(req) {
        if let Err(e) = alloc.request(req.proto, ip, port) {
            if single {
                return Err(e);
            }
            last_err = Some(e);
            continue;
        }
        match bind_socket(req.proto, SocketAddrV4::new(ip, port)) {
            Ok(socket) => {
                return Ok(BoundPort {
                    proto: req.proto,
                    host_ip: ip,
                    host_port: port,
                    container_ip,
                    container_port: req.container_port,
                    socket,
                })
            }
            Err(e) => {
                alloc.release(req.proto, ip, port);
                let err = Error::PortBind {
                    binding: format!(
                        "{ip}:{port}:{container_ip}:{}/{}",
                        req.container_port, req.proto
                    ),
                    reason: go_reason(&e),
                };
                if single || e.raw_os_error() != Some(libc::EADDRINUSE) {
                    return Err(err);
                }
                last_err = Some(err);
            }
        }
    }
    Err(last_err.unwrap_or_else(|| {
        Error::Other(format!(
            "no free host port in {}-{} for {}",
            req.host_port, req.host_port_end, req.proto
        ))
    }))
}

/// Frees a binding: the allocator entry, and the socket (dropped).
pub fn release(alloc: &mut PortAllocator, bound: BoundPort) {
    alloc.release(bound.proto, bound.host_ip, bound.host_port);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_publish_forms() {
        let r = parse_publish("80").unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].host_port, r[0].container_port, r[0].proto),
            (0, 80, Proto::Tcp)
        );
        let r = parse_publish("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(r[0].host_ip, Some(Ipv4Addr::LOCALHOST));
        assert_eq!((r[0].host_port, r[0].host_port_end), (8080, 8080));
        assert_eq!(r[0].proto, Proto::Udp);
        let r = parse_publish("127.0.0.1::80").unwrap();
        assert_eq!(r[0].host_port, 0);
        let r = parse_publish("8080-8082:80-82").unwrap();
        assert_eq!(
            r.iter()
                .map(|p| (p.host_port, p.container_port))
                .collect::<Vec<_>>(),
            vec![(8080, 80), (8081, 81), (8082, 82)]
        );
        let r = parse_publish("8000-8010:80").unwrap();
        assert_eq!(
            (r[0].host_port, r[0].host_port_end, r[0].container_port),
            (8000, 8010, 80)
        );
    }

    #[test]
    fn bad_publish_specs_say_why() {
        let msg = |s| parse_publish(s).unwrap_err().to_string();
        assert_eq!(msg("80/icmp"), "invalid proto: icmp");
        assert_eq!(msg("x:80"), "invalid hostPort: x");
        assert_eq!(msg("8080:x"), "invalid containerPort: x");
        assert_eq!(msg("1.2.3:8080:80"), "invalid IP address: 1.2.3");
        assert_eq!(
            msg("8080-8081:80-82"),
            "invalid ranges specified for container and host Ports: 80-82 and 8080-8081"
        );
        assert_eq!(msg("0"), "invalid containerPort: 0");
    }

    #[test]
    fn allocator_conflicts_follow_addresses() {
        let mut a = PortAllocator::with_range(40000, 40001);
        a.request(Proto::Tcp, Ipv4Addr::LOCALHOST, 8080).unwrap();
        // UDP is separate; another address is separate.
        a.request(Proto::Udp, Ipv4Addr::LOCALHOST, 8080).unwrap();
        a.request(Proto::Tcp, Ipv4Addr::new(127, 0, 0, 2), 8080)
            .unwrap();
        let e = a
            .request(Proto::Tcp, Ipv4Addr::UNSPECIFIED, 8080)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Bind for 0.0.0.0:8080 failed: port is already allocated"
        );
        let e = a
            .request(Proto::Tcp, Ipv4Addr::LOCALHOST, 8080)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Bind for 127.0.0.1:8080 failed: port is already allocated"
        );
        assert!(a.release(Proto::Tcp, Ipv4Addr::LOCALHOST, 8080));
        assert!(!a.release(Proto::Tcp, Ipv4Addr::LOCALHOST, 8080));
    }

    #[test]
    fn binding_a_port_held_by_another_process_fails_like_docker() {
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = other.local_addr().unwrap().port();
        let mut alloc = PortAllocator::new();
        let req = parse_publish(&format!("127.0.0.1:{port}:80")).unwrap()[0];
        let e = bind_port(&mut alloc, &req, Ipv4Addr::new(172, 17, 0, 2)).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("failed to bind host port for 127.0.0.1:{port}:172.17.0.2:80/tcp: address already in use")
        );
        // Nothing stays reserved.
        assert!(!alloc.is_used(Proto::Tcp, Ipv4Addr::LOCALHOST, port));
    }

    #[test]
    fn ranges_skip_busy_ports_and_ephemeral_ports_work() {
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let busy = other.local_addr().unwrap().port();
        let mut alloc = PortAllocator::new();
        let req = PortRequest {
            proto: Proto::Tcp,
            host_ip: Some(Ipv4Addr::LOCALHOST),
            host_port: busy,
            host_port_end: busy.saturating_add(20),
            container_port: 80,
        };
        let b = bind_port(&mut alloc, &req, Ipv4Addr::new(10, 0, 0, 2)).unwrap();
        assert_ne!(b.host_port, busy);
        assert!(alloc.is_used(Proto::Tcp, Ipv4Addr::LOCALHOST, b.host_port));
        // The same single port again: berth's own message.
        let again = PortRequest {
            host_port: b.host_port,
            host_port_end: b.host_port,
            ..req
        };
        let e = bind_port(&mut alloc, &again, Ipv4Addr::new(10, 0, 0, 3)).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "Bind for 127.0.0.1:{} failed: port is already allocated",
                b.host_port
            )
        );
        let port = b.host_port;
        release(&mut alloc, b);
        assert!(!alloc.is_used(Proto::Tcp, Ipv4Addr::LOCALHOST, port));
        let eph = parse_publish("127.0.0.1::53/udp").unwrap()[0];
        let b = bind_port(&mut alloc, &eph, Ipv4Addr::new(10, 0, 0, 2)).unwrap();
        assert!(b.host_port >= alloc.ephemeral.0 && b.host_port <= alloc.ephemeral.1);
        assert!(matches!(b.socket, HostSocket::Udp(_)));
        assert_eq!(
            b.describe(),
            format!("127.0.0.1:{}:10.0.0.2:53/udp", b.host_port)
        );
    }
}
