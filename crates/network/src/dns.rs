//! The embedded DNS server of user-defined networks, and the container's
//! `resolv.conf`.
//!
//! Docker's model: a container on a user-defined network gets
//! `nameserver 127.0.0.11` and `options ndots:0`, and a resolver listens at
//! 127.0.0.11:53 (UDP and TCP) *inside the container's namespace*.
//! [`bind_in_netns`] creates those two sockets from a thread that entered
//! the namespace (they stay in it); [`DnsServer::start`] then serves them
//! from the daemon's tokio runtime.
//!
//! The server answers from a [`Resolve`] implementation (the engine's view
//! of the container's networks; [`NameTable`] is a ready-made one):
//! A queries with every address of the name, rotated on each query (round
//! robin for aliases shared by several containers); AAAA with the name's
//! IPv6 addresses, or an empty NOERROR answer for a known IPv4-only name
//! (so clients do not fall back to the upstream); PTR for the networks'
//! addresses; MX for a known name with an empty NOERROR (implicit MX).
//! Other names are forwarded to the upstream servers (the host's, see
//! [`upstreams_from_resolv_conf`]), at most three tried, 4 s each, over the
//! client's transport; forwarding happens from the daemon's namespace.
//! Without upstreams (or with forwarding off, for `--internal` networks)
//! unknown names get SERVFAIL, except single-label names, which get
//! NXDOMAIN since no upstream could know them either.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::{netns, Error, Result};

/// Where the embedded server listens inside a container.
pub const EMBEDDED_DNS_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);
/// TTL of the answers for containers (Docker's).
pub const ANSWER_TTL: u32 = 600;
/// How long one upstream server is given.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(4);
/// At most this many upstream servers are tried per query.
pub const MAX_UPSTREAMS: usize = 3;
/// Docker's fallback nameservers when the host leaves none.
pub const FALLBACK_NAMESERVERS: [Ipv4Addr; 2] =
    [Ipv4Addr::new(8, 8, 8, 8), Ipv4Addr::new(8, 8, 4, 4)];

/// The parts of a resolv.conf that matter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvConf {
    /// `nameserver` lines, in order.
    pub nameservers: Vec<IpAddr>,
    /// The last `search` (or `domain`) line's domains.
    pub search: Vec<String>,
    /// `options` entries, in order.
    pub options: Vec<String>,
}

/// Parses resolv.conf content; unknown or malformed lines are ignored as
/// the C library does.
pub fn parse_resolv_conf(content: &str) -> ResolvConf {
    let mut rc = ResolvConf::default();
    for line in content.lines() {
        let line = line.split(['#', ';']).next().unwrap_or_default();
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(ip) = words.next().and_then(|w| {
                    // Drop an IPv6 zone (fe80::1%eth0).
                    w.split('%').next().and_then(|a| a.parse::<IpAddr>().ok())
                }) {
                    rc.nameservers.push(ip);
                }
            }
            Some("search") | Some("domain") => {
                rc.search = words.map(String::from).collect();
            }
            Some("options") => rc.options.extend(words.map(String::from)),
            _ => {}
        }
    }
    rc
}

/// The host's upstream servers for forwarding, port 53: all its
/// nameservers, loopback ones too (forwarding happens from the daemon's
/// namespace, where a local resolver such as systemd-resolved's 127.0.0.53
/// answers, as Docker 26+ forwards to them from the host's namespace);
/// 8.8.8.8 and 8.8.4.4 when it has none.
pub fn upstreams_from_resolv_conf(content: &str) -> Vec<SocketAddr> {
    upstreams_of(&parse_resolv_conf(content).nameservers)
}

/// [`upstreams_from_resolv_conf`] for nameservers already parsed.
fn upstreams_of(nameservers: &[IpAddr]) -> Vec<SocketAddr> {
    let fallback: Vec<IpAddr> = FALLBACK_NAMESERVERS
        .iter()
        .map(|ip| IpAddr::V4(*ip))
        .collect();
    let servers = if nameservers.is_empty() {
        &fallback
    } else {
        nameservers
    };
    servers.iter().map(|ip| SocketAddr::new(*ip, 53)).collect()
}

/// `--dns`, `--dns-search` and `--dns-option` of a container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsOverrides {
    /// `--dns`: replaces the host's nameservers.
    pub nameservers: Vec<IpAddr>,
    /// `--dns-search`: replaces the host's search domains (`.` alone: none).
    pub search: Vec<String>,
    /// `--dns-option`: replaces the host's options.
    pub options: Vec<String>,
}

/// A container's resolv.conf and the servers its embedded DNS forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerResolvConf {
    /// The file's content.
    pub content: String,
    /// Upstreams for the embedded server (empty without it).
    pub upstreams: Vec<SocketAddr>,
}

/// Builds a container's resolv.conf from the host's (`host`), as Docker
/// does. Without the embedded server (default bridge): the host's
/// nameservers minus loopback ones (or `--dns`), falling back to 8.8.8.8
/// and 8.8.4.4 only when none is left. With it (user-defined networks):
/// `nameserver 127.0.0.11`, the `--dns` servers or the host's (see
/// [`upstreams_from_resolv_conf`]) becoming the upstreams, and
/// `ndots:0` added unless an `ndots` option is already given.
pub fn container_resolv_conf(
    host: &str,
    overrides: &DnsOverrides,
    embedded_dns: bool,
) -> ContainerResolvConf {
    let hrc = parse_resolv_conf(host);
    let mut servers: Vec<IpAddr> = if overrides.nameservers.is_empty() {
        hrc.nameservers
            .iter()
            .copied()
            .filter(|ip| !ip.is_loopback())
            .collect()
    } else {
        overrides.nameservers.clone()
    };
    if servers.is_empty() {
        servers = FALLBACK_NAMESERVERS
            .iter()
            .map(|ip| IpAddr::V4(*ip))
            .collect();
    }
    let search: Vec<String> = if overrides.search.is_empty() {
        hrc.search.clone()
    } else if overrides.search.iter().all(|s| s == ".") {
        Vec::new()
    } else {
        overrides
            .search
            .iter()
            .filter(|s| *s != ".")
            .cloned()
            .collect()
    };
    let mut options = if overrides.options.is_empty() {
        hrc.options.clone()
    } else {
        overrides.options.clone()
    };
    let mut content = String::from("# Generated by berth.\n");
    let upstreams = if embedded_dns {
        content.push_str(&format!("nameserver {EMBEDDED_DNS_ADDR}\n"));
        if !options.iter().any(|o| o.starts_with("ndots:")) {
            options.push("ndots:0".to_string());
        }
        if overrides.nameservers.is_empty() {
            upstreams_of(&hrc.nameservers)
        } else {
            servers.iter().map(|ip| SocketAddr::new(*ip, 53)).collect()
        }
    } else {
        for s in &servers {
            content.push_str(&format!("nameserver {s}\n"));
        }
        Vec::new()
    };
    if !search.is_empty() {
        content.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        content.push_str(&format!("options {}\n", options.join(" ")));
    }
    ContainerResolvConf { content, upstreams }
}

/// Name resolution for the embedded server. Names are given lowercase,
/// without the trailing dot.
pub trait Resolve: Send + Sync + 'static {
    /// Every address of `name`, or `None` when the name is not known here
    /// (the query is then forwarded).
    fn lookup(&self, name: &str) -> Option<Vec<IpAddr>>;
    /// The name of `ip` for a PTR query, if it is one of the networks'.
    fn reverse(&self, ip: IpAddr) -> Option<String>;
}

#[derive(Default)]
struct Table {
    names: HashMap<String, Vec<IpAddr>>,
    ptr: HashMap<IpAddr, String>,
}

/// A thread-safe name table: container names, aliases and short IDs to
/// addresses, and addresses back to names.
#[derive(Default)]
pub struct NameTable {
    inner: RwLock<Table>,
}

impl NameTable {
    /// An empty table.
    pub fn new() -> NameTable {
        NameTable::default()
    }

    /// Adds `ip` to `name` (a name may have several addresses).
    pub fn add(&self, name: &str, ip: IpAddr) {
        let mut t = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let list = t.names.entry(normalize(name)).or_default();
        if !list.contains(&ip) {
            list.push(ip);
        }
    }

    /// Removes `ip` from `name`.
    pub fn remove(&self, name: &str, ip: IpAddr) {
        let mut t = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let key = normalize(name);
        if let Some(list) = t.names.get_mut(&key) {
            list.retain(|a| *a != ip);
            if list.is_empty() {
                t.names.remove(&key);
            }
        }
    }

    /// Sets the name a PTR query for `ip` answers.
    pub fn set_reverse(&self, ip: IpAddr, name: &str) {
        let mut t = self.inner.write().unwrap_or_else(|e| e.into_inner());
        t.ptr.insert(ip, name.trim_end_matches('.').to_string());
    }

    /// Forgets `ip` everywhere (a container left the network).
    pub fn remove_address(&self, ip: IpAddr) {
        let mut t = self.inner.write().unwrap_or_else(|e| e.into_inner());
        t.ptr.remove(&ip);
        t.names.retain(|_, list| {
            list.retain(|a| *a != ip);
            !list.is_empty()
        });
    }
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Resolve for NameTable {
    fn lookup(&self, name: &str) -> Option<Vec<IpAddr>> {
        let t = self.inner.read().unwrap_or_else(|e| e.into_inner());
        t.names.get(name).cloned()
    }

    fn reverse(&self, ip: IpAddr) -> Option<String> {
        let t = self.inner.read().unwrap_or_else(|e| e.into_inner());
        t.ptr.get(&ip).cloned()
    }
}

/// Binds the UDP and TCP sockets of an embedded server at `addr` (normally
/// 127.0.0.11:53) inside the namespace at `ns`. Its `lo` must be up. The
/// sockets belong to that namespace for good.
pub async fn bind_in_netns(
    ns: &Path,
    addr: SocketAddr,
) -> Result<(std::net::UdpSocket, std::net::TcpListener)> {
    netns::run_async(ns, move || -> Result<_> {
        let udp = std::net::UdpSocket::bind(addr)
            .map_err(|e| Error::io(format!("binding the DNS server to udp {addr}"), e))?;
        let tcp = std::net::TcpListener::bind(addr)
            .map_err(|e| Error::io(format!("binding the DNS server to tcp {addr}"), e))?;
        Ok((udp, tcp))
    })
    .await?
}

/// Settings of one embedded server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    /// Servers unknown names are forwarded to.
    pub upstreams: Vec<SocketAddr>,
    /// Whether to forward at all (false for `--internal` networks).
    pub forward: bool,
}

struct Shared {
    resolver: Arc<dyn Resolve>,
    config: DnsConfig,
    rotation: AtomicUsize,
}

/// A running embedded DNS server. Dropping it stops it; [`DnsServer::stop`]
/// also waits for it.
pub struct DnsServer {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl DnsServer {
    /// Serves queries on `udp` and `tcp` (from [`bind_in_netns`], or any
    /// bound sockets) with `resolver`. Must be called inside a tokio runtime.
    pub fn start(
        udp: std::net::UdpSocket,
        tcp: Option<std::net::TcpListener>,
        resolver: Arc<dyn Resolve>,
        config: DnsConfig,
    ) -> Result<DnsServer> {
        udp.set_nonblocking(true)
            .map_err(|e| Error::io("making the DNS socket non-blocking", e))?;
        let udp =
            UdpSocket::from_std(udp).map_err(|e| Error::io("registering the DNS socket", e))?;
        let shared = Arc::new(Shared {
            resolver,
            config,
            rotation: AtomicUsize::new(0),
        });
        let (stop, rx) = watch::channel(false);
        let mut tasks = vec![tokio::spawn(udp_loop(
            Arc::new(udp),
            shared.clone(),
            rx.clone(),
        ))];
        if let Some(tcp) = tcp {
            tcp.set_nonblocking(true)
                .map_err(|e| Error::io("making the DNS listener non-blocking", e))?;
            let tcp = TcpListener::from_std(tcp)
                .map_err(|e| Error::io("registering the DNS listener", e))?;
            tasks.push(tokio::spawn(tcp_loop(tcp, shared, rx)));
        }
        Ok(DnsServer { stop, tasks })
    }

    /// Stops serving and closes the sockets.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn udp_loop(sock: Arc<UdpSocket>, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut inflight = JoinSet::new();
    let mut buf = vec![0u8; 4096];
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(_) = inflight.join_next(), if !inflight.is_empty() => {}
            got = sock.recv_from(&mut buf) => {
                let Ok((n, client)) = got else { continue };
                // Bound the work a flood can queue.
                if inflight.len() >= 1024 {
                    continue;
                }
                let query = buf[..n].to_vec();
                let sock = sock.clone();
                let shared = shared.clone();
                inflight.spawn(async move {
                    if let Some(resp) = handle(&shared, &query, false).await {
                        let _ = sock.send_to(&resp, client).await;
                    }
                });
            }
        }
    }
    inflight.shutdown().await;
}

async fn tcp_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            got = listener.accept() => {
                let Ok((stream, _)) = got else { continue };
                let shared = shared.clone();
                conns.spawn(serve_tcp(stream, shared));
            }
        }
    }
    conns.shutdown().await;
}

async fn serve_tcp(mut stream: TcpStream, shared: Arc<Shared>) {
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if stream.read_exact(&mut query).await.is_err() {
            return;
        }
        let Some(resp) = handle(&shared, &query, true).await else {
            return;
        };
        let Ok(rlen) = u16::try_from(resp.len()) else {
            return;
        };
        let mut out = rlen.to_be_bytes().to_vec();
        out.extend_from_slice(&resp);
        if stream.write_all(&out).await.is_err() {
            return;
        }
    }
}

fn reply(query: &Message, code: ResponseCode) -> Message {
    let mut m = Message::response(query.metadata.id, query.metadata.op_code);
    m.metadata.message_type = MessageType::Response;
    m.metadata.recursion_desired = query.metadata.recursion_desired;
    m.metadata.recursion_available = true;
    m.metadata.checking_disabled = query.metadata.checking_disabled;
    m.metadata.response_code = code;
    m.add_queries(query.queries.iter().cloned());
    m
}

fn encode(mut m: Message, max: usize) -> Option<Vec<u8>> {
    let mut bytes = m.to_vec().ok()?;
    while bytes.len() > max && !m.answers.is_empty() {
        m.answers.pop();
        m.metadata.truncation = true;
        bytes = m.to_vec().ok()?;
    }
    Some(bytes)
}

/// Answers one query (raw bytes in, raw bytes out); `None` to stay silent.
async fn handle(shared: &Shared, raw: &[u8], tcp: bool) -> Option<Vec<u8>> {
    let query = match Message::from_vec(raw) {
        Ok(q) => q,
        Err(_) => {
            // Answer FORMERR when at least the ID can be read.
            if raw.len() < 12 {
                return None;
            }
            let id = u16::from_be_bytes([raw[0], raw[1]]);
            let m = Message::error_msg(id, OpCode::Query, ResponseCode::FormErr);
            return m.to_vec().ok();
        }
    };
    if query.metadata.message_type != MessageType::Query {
        return None;
    }
    let max = if tcp {
        usize::from(u16::MAX)
    } else {
        usize::from(query.max_payload())
    };
    if query.metadata.op_code != OpCode::Query {
        return encode(reply(&query, ResponseCode::NotImp), max);
    }
    if query.queries.len() != 1 {
        return encode(reply(&query, ResponseCode::FormErr), max);
    }
    let q = &query.queries[0];
    let qname = q.name().clone();
    let name = normalize(&qname.to_ascii());
    match q.query_type() {
        RecordType::A | RecordType::AAAA => {
            if let Some(addrs) = shared.resolver.lookup(&name) {
                let want_v4 = q.query_type() == RecordType::A;
                let mut records: Vec<Record> = addrs
                    .iter()
                    .filter_map(|ip| match (ip, want_v4) {
                        (IpAddr::V4(v4), true) => Some(RData::A(A(*v4))),
                        (IpAddr::V6(v6), false) => Some(RData::AAAA(AAAA(*v6))),
                        _ => None,
                    })
                    .map(|rd| Record::from_rdata(qname.clone(), ANSWER_TTL, rd))
                    .collect();
                if records.len() > 1 {
                    let k = shared.rotation.fetch_add(1, Ordering::Relaxed) % records.len();
                    records.rotate_left(k);
                }
                let mut m = reply(&query, ResponseCode::NoError);
                m.add_answers(records);
                return encode(m, max);
            }
        }
        RecordType::PTR => {
            if let Ok(net) = qname.parse_arpa_name() {
                let full = match net {
                    ipnet::IpNet::V4(n) => n.prefix_len() == 32,
                    ipnet::IpNet::V6(n) => n.prefix_len() == 128,
                };
                if full {
                    if let Some(host) = shared.resolver.reverse(net.addr()) {
                        if let Ok(target) = Name::from_ascii(format!("{host}.")) {
                            let mut m = reply(&query, ResponseCode::NoError);
                            m.add_answer(Record::from_rdata(
                                qname.clone(),
                                ANSWER_TTL,
                                RData::PTR(PTR(target)),
                            ));
                            return encode(m, max);
                        }
                    }
                }
            }
        }
        RecordType::MX if shared.resolver.lookup(&name).is_some() => {
            return encode(reply(&query, ResponseCode::NoError), max);
        }
        _ => {}
    }
    let upstreams: Vec<SocketAddr> = if shared.config.forward {
        shared
            .config
            .upstreams
            .iter()
            .take(MAX_UPSTREAMS)
            .copied()
            .collect()
    } else {
        Vec::new()
    };
    if upstreams.is_empty() {
        let single_label = !name.is_empty() && !name.contains('.');
        let code = if single_label {
            ResponseCode::NXDomain
        } else {
            ResponseCode::ServFail
        };
        return encode(reply(&query, code), max);
    }
    let mut last: Option<Vec<u8>> = None;
    for up in upstreams {
        let got = if tcp {
            forward_tcp(raw, up).await
        } else {
            forward_udp(raw, up).await
        };
        let resp = match got {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!("dns: upstream {up} failed for {name}: {e}");
                continue;
            }
        };
        let Ok(parsed) = Message::from_vec(&resp) else {
            continue;
        };
        if parsed.metadata.id != query.metadata.id {
            continue;
        }
        match parsed.metadata.response_code {
            ResponseCode::NoError => return Some(resp),
            ResponseCode::NXDomain if parsed.metadata.authoritative => return Some(resp),
            _ => last = Some(resp),
        }
    }
    match last {
        Some(r) => Some(r),
        None => encode(reply(&query, ResponseCode::ServFail), max),
    }
}

async fn forward_udp(raw: &[u8], up: SocketAddr) -> std::io::Result<Vec<u8>> {
    let bind: SocketAddr = if up.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(bind).await?;
    sock.connect(up).await?;
    sock.send(raw).await?;
    let mut buf = vec![0u8; 65535];
    let n = tokio::time::timeout(UPSTREAM_TIMEOUT, sock.recv(&mut buf))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer"))??;
    buf.truncate(n);
    Ok(buf)
}

async fn forward_tcp(raw: &[u8], up: SocketAddr) -> std::io::Result<Vec<u8>> {
    let work = async {
        let mut s = TcpStream::connect(up).await?;
        let len = u16::try_from(raw.len())
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "query too big"))?;
        let mut out = len.to_be_bytes().to_vec();
        out.extend_from_slice(raw);
        s.write_all(&out).await?;
        let mut l = [0u8; 2];
        s.read_exact(&mut l).await?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(l))];
        s.read_exact(&mut buf).await?;
        Ok(buf)
    };
    tokio::time::timeout(UPSTREAM_TIMEOUT, work)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "# host file\nnameserver 127.0.0.53\nnameserver 10.0.0.2 # corp\n\
                        nameserver ::1\nsearch corp.example lan\noptions edns0 timeout:2\n";

    #[test]
    fn parses_resolv_conf() {
        let rc = parse_resolv_conf(HOST);
        assert_eq!(rc.nameservers.len(), 3);
        assert_eq!(rc.search, vec!["corp.example", "lan"]);
        assert_eq!(rc.options, vec!["edns0", "timeout:2"]);
        let all: Vec<SocketAddr> = rc
            .nameservers
            .iter()
            .map(|ip| SocketAddr::new(*ip, 53))
            .collect();
        assert!(all.contains(&"127.0.0.53:53".parse().unwrap()));
        assert_eq!(upstreams_from_resolv_conf(HOST), all);
        // A host without nameservers: Google DNS, as Docker.
        assert_eq!(
            upstreams_from_resolv_conf("search lan\n"),
            vec![
                "8.8.8.8:53".parse::<SocketAddr>().unwrap(),
                "8.8.4.4:53".parse().unwrap()
            ]
        );
    }

    #[test]
    fn default_bridge_file_drops_loopback_servers() {
        let rc = container_resolv_conf(HOST, &DnsOverrides::default(), false);
        assert_eq!(
            rc.content,
            "# Generated by berth.\nnameserver 10.0.0.2\nsearch corp.example lan\noptions edns0 timeout:2\n"
        );
        assert!(rc.upstreams.is_empty());
        // Only loopback servers: Google DNS, as Docker does.
        let rc = container_resolv_conf("nameserver 127.0.0.53\n", &DnsOverrides::default(), false);
        assert_eq!(
            rc.content,
            "# Generated by berth.\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
    }

    #[test]
    fn user_network_file_uses_embedded_server() {
        let rc = container_resolv_conf(HOST, &DnsOverrides::default(), true);
        assert_eq!(
            rc.content,
            "# Generated by berth.\nnameserver 127.0.0.11\nsearch corp.example lan\noptions edns0 timeout:2 ndots:0\n"
        );
        // The host's loopback resolver is an upstream too: the daemon
        // forwards from its own namespace, where it answers.
        assert_eq!(rc.upstreams, upstreams_from_resolv_conf(HOST));
        let rc = container_resolv_conf("nameserver 127.0.0.53\n", &DnsOverrides::default(), true);
        assert_eq!(
            rc.upstreams,
            vec!["127.0.0.53:53".parse::<SocketAddr>().unwrap()]
        );
    }

    #[test]
    fn overrides_replace_host_values() {
        let o = DnsOverrides {
            nameservers: vec!["1.1.1.1".parse().unwrap()],
            search: vec![".".into()],
            options: vec!["ndots:2".into()],
        };
        let rc = container_resolv_conf(HOST, &o, true);
        assert_eq!(
            rc.content,
            "# Generated by berth.\nnameserver 127.0.0.11\noptions ndots:2\n"
        );
        assert_eq!(
            rc.upstreams,
            vec!["1.1.1.1:53".parse::<SocketAddr>().unwrap()]
        );
        let rc = container_resolv_conf(HOST, &o, false);
        assert!(rc.content.contains("nameserver 1.1.1.1\n"));
        assert!(!rc.content.contains("10.0.0.2"));
    }

    #[test]
    fn name_table_add_remove() {
        let t = NameTable::new();
        let a: IpAddr = "10.0.0.2".parse().unwrap();
        let b: IpAddr = "10.0.0.3".parse().unwrap();
        t.add("Web", a);
        t.add("web.", b);
        t.add("web", b);
        assert_eq!(t.lookup("web"), Some(vec![a, b]));
        t.remove("web", a);
        assert_eq!(t.lookup("web"), Some(vec![b]));
        t.set_reverse(b, "web.net.");
        assert_eq!(t.reverse(b).as_deref(), Some("web.net"));
        t.remove_address(b);
        assert_eq!(t.lookup("web"), None);
        assert_eq!(t.reverse(b), None);
    }

    fn query(name: &str, rt: RecordType) -> Vec<u8> {
        let mut m = Message::query();
        m.metadata.id = 4242;
        m.metadata.recursion_desired = true;
        m.add_query(hickory_proto::op::Query::query(
            Name::from_ascii(name).unwrap(),
            rt,
        ));
        m.to_vec().unwrap()
    }

    fn shared(t: NameTable, upstreams: Vec<SocketAddr>) -> Shared {
        Shared {
            resolver: Arc::new(t),
            config: DnsConfig {
                upstreams,
                forward: true,
            },
            rotation: AtomicUsize::new(0),
        }
    }

    #[tokio::test]
    async fn answers_known_names_and_fails_unknown_without_upstream() {
        let t = NameTable::new();
        t.add("db", "10.1.0.5".parse().unwrap());
        let s = shared(t, vec![]);
        let r = Message::from_vec(
            &handle(&s, &query("db.", RecordType::A), false)
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(r.metadata.id, 4242);
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        assert!(r.metadata.recursion_available);
        assert_eq!(r.answers.len(), 1);
        assert_eq!(r.answers[0].data, RData::A(A("10.1.0.5".parse().unwrap())));
        // Known name, no IPv6: empty NOERROR.
        let r = Message::from_vec(
            &handle(&s, &query("db.", RecordType::AAAA), false)
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        assert!(r.answers.is_empty());
        let r = Message::from_vec(
            &handle(&s, &query("nope.example.", RecordType::A), false)
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
        let r = Message::from_vec(
            &handle(&s, &query("nope.", RecordType::A), false)
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
        // Garbage with a readable ID: FORMERR.
        let r = handle(&s, &[0x12, 0x34, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0xff], false)
            .await
            .unwrap();
        let r = Message::from_vec(&r).unwrap();
        assert_eq!(r.metadata.id, 0x1234);
        assert_eq!(r.metadata.response_code, ResponseCode::FormErr);
        assert!(handle(&s, &[1, 2, 3], false).await.is_none());
    }
}
