//! Helpers for the kernel tests: unique names, and guards that delete every
//! namespace, link, nft table and process a test made, even when it fails.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use berth_network::ipam::{AddressPool, AddressSpace, IpamConfig, NetworkIpam};
use berth_network::link::Netlink;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique short name: `prefix` + pid + counter (at most 15 characters).
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut s = format!("{prefix}{:x}x{n:x}", std::process::id());
    s.truncate(15);
    s
}

fn run(cmd: &str, args: &[&str]) -> std::process::Output {
    Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {cmd}: {e}"))
}

/// Runs a command, panicking with its stderr when it fails.
pub fn must(cmd: &str, args: &[&str]) -> String {
    let out = run(cmd, args);
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A named network namespace (`ip netns add`), deleted on drop.
pub struct Ns {
    pub name: String,
}

impl Ns {
    pub fn new() -> Ns {
        let name = unique("bn");
        must("ip", &["netns", "add", &name]);
        Ns { name }
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/run/netns/{}", self.name))
    }

    /// Runs a command inside the namespace; returns whether it succeeded.
    pub fn exec_ok(&self, args: &[&str]) -> bool {
        let mut a = vec!["netns", "exec", &self.name];
        a.extend(args);
        run("ip", &a).status.success()
    }

    /// Runs a command inside the namespace and returns its stdout.
    pub fn exec(&self, args: &[&str]) -> String {
        let mut a = vec!["netns", "exec", &self.name];
        a.extend(args);
        must("ip", &a)
    }

    /// One ping (2 s) from inside the namespace.
    pub fn ping(&self, ip: Ipv4Addr) -> bool {
        self.exec_ok(&["busybox", "ping", "-c", "1", "-W", "2", &ip.to_string()])
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "del", &self.name]);
    }
}

/// A link in the host namespace, deleted on drop.
pub struct LinkGuard(pub String);

impl Drop for LinkGuard {
    fn drop(&mut self) {
        let _ = run("ip", &["link", "del", &self.0]);
    }
}

/// An nft table in the host namespace, deleted on drop.
pub struct TableGuard(pub String);

impl Drop for TableGuard {
    fn drop(&mut self) {
        let _ = run("nft", &["delete", "table", "ip", &self.0]);
    }
}

/// A child process, killed on drop.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn spawn(cmd: &str, args: &[&str]) -> ChildGuard {
    ChildGuard(
        Command::new(cmd)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// One address space for every test of the binary, drawing /24s from
/// 10.213.0.0/16 and avoiding the host's routes, so tests running in
/// parallel never share a subnet.
static SPACE: Mutex<Option<AddressSpace>> = Mutex::new(None);

pub async fn new_subnet(id: &str) -> NetworkIpam {
    let routes = Netlink::host().unwrap().ipv4_routes().await.unwrap();
    let mut guard = SPACE.lock().unwrap();
    let space = guard.get_or_insert_with(|| {
        AddressSpace::new(vec![
            AddressPool::parse("base=10.213.0.0/16,size=24").unwrap()
        ])
    });
    space
        .create_network(id, &IpamConfig::default(), &routes)
        .unwrap()
}

/// Connects with a blocking TCP client from a thread inside `ns` (or the
/// host when `None`) and returns what the server sent before closing.
pub fn tcp_fetch(ns: Option<&Path>, addr: SocketAddr) -> std::io::Result<String> {
    let work = move || -> std::io::Result<String> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    };
    match ns {
        None => work(),
        Some(ns) => berth_network::netns::run(ns, work).unwrap(),
    }
}

/// Sends one datagram from inside `ns` (or the host) and waits 3 s for the
/// answer.
pub fn udp_exchange(
    ns: Option<&Path>,
    addr: SocketAddr,
    payload: Vec<u8>,
) -> std::io::Result<Vec<u8>> {
    let work = move || -> std::io::Result<Vec<u8>> {
        let s = UdpSocket::bind("0.0.0.0:0")?;
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        s.send_to(&payload, addr)?;
        let mut buf = vec![0u8; 65535];
        let (n, _) = s.recv_from(&mut buf)?;
        buf.truncate(n);
        Ok(buf)
    };
    match ns {
        None => work(),
        Some(ns) => berth_network::netns::run(ns, work).unwrap(),
    }
}

/// A TCP server inside `ns` on `port` that answers each connection with
/// `hello from <peer address>` and closes it. Runs until the test ends.
pub fn hello_server(ns: &Path, ip: Ipv4Addr, port: u16) {
    let listener = berth_network::netns::run(ns, move || std::net::TcpListener::bind((ip, port)))
        .unwrap()
        .unwrap();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let peer = conn
                .peer_addr()
                .map(|p| p.ip().to_string())
                .unwrap_or_default();
            let _ = conn.write_all(format!("hello from {peer}").as_bytes());
        }
    });
}

/// A UDP echo server inside `ns` on `port` (prefixes replies with `echo:`).
pub fn udp_echo_server(ns: &Path, ip: Ipv4Addr, port: u16) {
    let sock = berth_network::netns::run(ns, move || UdpSocket::bind((ip, port)))
        .unwrap()
        .unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, peer)) = sock.recv_from(&mut buf) {
            let mut out = b"echo:".to_vec();
            out.extend_from_slice(&buf[..n]);
            let _ = sock.send_to(&out, peer);
        }
    });
}
