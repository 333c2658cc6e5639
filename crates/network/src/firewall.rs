//! berth's firewall: one nftables table of its own (`ip berth` in
//! production, a unique name in tests), rebuilt from the engine's desired
//! state and applied atomically with `nft -f -`. The script is
//!
//! ```text
//! add table ip NAME
//! delete table ip NAME
//! table ip NAME { ... }
//! ```
//!
//! which `nft` runs as one transaction: the table is replaced whole or not
//! at all, and no other table is ever flushed or touched.
//!
//! The layout follows Docker's nftables backend (moby 28, table
//! `docker-bridges`): base chains `filter-FORWARD`, `nat-PREROUTING`,
//! `nat-OUTPUT`, `nat-POSTROUTING` and `raw-PREROUTING` at Docker's
//! well-known priorities (`filter`, `dstnat`, `srcnat`, `raw`), verdict maps
//! keyed by interface name that jump to per-network chains:
//!
//! - `filter-forward-in-N` (packets *to* bridge N): established/related
//!   accepted; from the same bridge accepted (ICC) or dropped
//!   (`enable_icc=false`); published container ports accepted; everything
//!   else dropped. That last drop is the isolation between bridge networks
//!   and keeps unpublished ports closed to the outside. `--internal`
//!   networks drop anything from another interface.
//! - `filter-forward-out-N` (packets *from* bridge N): accepted, or for
//!   `--internal` networks dropped unless they stay on the bridge.
//! - `nat-postrouting-out-N`: masquerade traffic from the subnet leaving
//!   through another interface (not traffic between containers of the
//!   bridge).
//! - `nat-postrouting-in-N`: masquerade a container reaching its own
//!   published port (hairpin), the host's 127.0.0.0/8 clients DNATed to the
//!   bridge (their replies must come back to an address of the host), and
//!   without the userland proxy any traffic from the host's own addresses.
//! - `nat-prerouting-and-output`: DNAT of published ports, from prerouting
//!   (other hosts, other bridges) and from output (the host itself, to its
//!   local addresses). 127.0.0.0/8 is DNATed too towards bridges whose
//!   `route_localnet` is set ([`NetworkRules::loopback_dnat`]: the kernel
//!   path, faster than a proxy); elsewhere the userland proxy serves it.
//!   With the userland proxy, traffic from the container's own bridge is
//!   not DNATed (the proxy answers it), as in Docker.
//! - `raw-PREROUTING`: drops packets addressed straight to a container with
//!   published ports from any interface but its bridge, and packets for
//!   127.0.0.0/8 arriving from a bridge that routes it (`route_localnet`
//!   would otherwise open the host's loopback services to containers).
//!
//! **Forward hook and other tables.** An `accept` in one nftables base
//! chain does not stop another base chain on the same hook from dropping
//! the packet, so no priority lets berth override a host `FORWARD` chain
//! with policy drop (iptables-nft's `ip filter FORWARD`, ufw, firewalld…).
//! berth therefore does what Docker's nftables backend does: its chain sits
//! at priority `filter` and carries its own complete verdicts (it never
//! relies on a policy), and [`Firewall::forward_drop_chains`] detects a
//! foreign forward chain with policy drop so the engine can warn. For hosts
//! that keep such a policy, [`Firewall::iptables_accept_bridges`] adds
//! tagged `ACCEPT` rules for berth's bridges at the top of iptables'
//! `FORWARD` chain (what Docker's iptables backend does with its
//! `DOCKER-FORWARD` jump); berth's own table still drops what must be
//! dropped, since a drop in any base chain is final.
//!
//! **Sysctls.** [`enable_forwarding`] sets `net.ipv4.conf.<bridge>.forwarding`
//! (the input interface's flag decides for IPv4), the global
//! `net.ipv4.ip_forward` only when asked (ports published to other hosts),
//! and `route_localnet` on the bridge so that 127.0.0.1 can be DNATed.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use crate::link::validate_ifname;
use crate::{netns, Error, Result};

/// Transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP (DNAT only: the userland proxy does not carry it).
    Sctp,
}

impl Proto {
    /// `tcp`, `udp` or `sctp`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }

    /// Parses `tcp`, `udp` or `sctp` (case-insensitive).
    pub fn parse(s: &str) -> Result<Proto> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            "sctp" => Ok(Proto::Sctp),
            _ => Err(Error::InvalidArgument(format!("invalid proto: {s}"))),
        }
    }
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The firewall view of one bridge network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRules {
    /// The bridge device.
    pub bridge: String,
    /// The network's subnet.
    pub subnet: Ipv4Net,
    /// `--internal`: no traffic in or out of the bridge.
    pub internal: bool,
    /// Inter-container communication on the bridge (Docker's default true).
    pub icc: bool,
    /// Masquerade traffic leaving the subnet (Docker's `ip_masquerade`,
    /// default true).
    pub masquerade: bool,
    /// The bridge has `route_localnet` set, so connections the host makes
    /// to 127.0.0.0/8 are DNATed to its containers in the kernel (and
    /// masqueraded towards the bridge) instead of going through the
    /// userland proxy; packets for 127.0.0.0/8 arriving from the bridge
    /// are dropped.
    pub loopback_dnat: bool,
}

impl NetworkRules {
    /// A network with Docker's defaults (ICC on, masquerade on, not internal).
    pub fn new(bridge: impl Into<String>, subnet: Ipv4Net) -> NetworkRules {
        NetworkRules {
            bridge: bridge.into(),
            subnet,
            internal: false,
            icc: true,
            masquerade: true,
            loopback_dnat: false,
        }
    }
}

/// One published port: host `host_ip:host_port/proto` → `container_ip:container_port`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    /// The bridge the container is on.
    pub bridge: String,
    /// Protocol.
    pub proto: Proto,
    /// Host address the port is published on; `None` for all addresses.
    pub host_ip: Option<Ipv4Addr>,
    /// Host port.
    pub host_port: u16,
    /// The container's address on the bridge.
    pub container_ip: Ipv4Addr,
    /// The container's port.
    pub container_port: u16,
}

/// Everything berth's table must do, rebuilt whole on each change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ruleset {
    /// The nftables table (family `ip`).
    pub table: String,
    /// Bridge networks.
    pub networks: Vec<NetworkRules>,
    /// Published ports.
    pub ports: Vec<PublishedPort>,
    /// Whether the userland proxy serves 127.0.0.1 and same-bridge traffic
    /// (Docker's default). When false, those are DNATed and masqueraded.
    pub userland_proxy: bool,
}

impl Ruleset {
    /// An empty ruleset for `table`, userland proxy on.
    pub fn new(table: impl Into<String>) -> Ruleset {
        Ruleset {
            table: table.into(),
            networks: Vec::new(),
            ports: Vec::new(),
            userland_proxy: true,
        }
    }

    /// The `nft -f` script that replaces the table atomically.
    pub fn render(&self) -> Result<String> {
        validate_table(&self.table)?;
        for n in &self.networks {
            validate_ifname(&n.bridge)?;
        }
        let index_of = |bridge: &str| self.networks.iter().position(|n| n.bridge == bridge);
        for p in &self.ports {
            if index_of(&p.bridge).is_none() {
                return Err(Error::InvalidArgument(format!(
                    "published port {}/{} refers to bridge {:?}, which is not in the ruleset",
                    p.host_port, p.proto, p.bridge
                )));
            }
        }
        let t = &self.table;
        let mut s = String::new();
        let _ = writeln!(s, "add table ip {t}");
        let _ = writeln!(s, "delete table ip {t}");
        let _ = writeln!(s, "table ip {t} {{");

        let map = |s: &mut String, name: &str, prefix: &str| {
            let _ = writeln!(s, "\tmap {name} {{\n\t\ttype ifname : verdict");
            if !self.networks.is_empty() {
                let elems: Vec<String> = self
                    .networks
                    .iter()
                    .enumerate()
                    .map(|(i, n)| format!("\"{}\" : jump {prefix}-{i}", n.bridge))
                    .collect();
                let _ = writeln!(s, "\t\telements = {{ {} }}", elems.join(", "));
            }
            let _ = writeln!(s, "\t}}");
        };
        map(&mut s, "filter-forward-in-jumps", "filter-forward-in");
        map(&mut s, "filter-forward-out-jumps", "filter-forward-out");
        map(&mut s, "nat-postrouting-in-jumps", "nat-postrouting-in");
        map(&mut s, "nat-postrouting-out-jumps", "nat-postrouting-out");

        s.push_str(
            "\tchain filter-FORWARD {\n\
             \t\ttype filter hook forward priority filter; policy accept;\n\
             \t\toifname vmap @filter-forward-in-jumps\n\
             \t\tiifname vmap @filter-forward-out-jumps\n\
             \t}\n",
        );
        s.push_str(
            "\tchain nat-PREROUTING {\n\
             \t\ttype nat hook prerouting priority dstnat; policy accept;\n\
             \t\tfib daddr type local jump nat-prerouting-and-output\n\
             \t}\n",
        );
        // 127.0.0.0/8 is DNATed from the output hook only towards bridges
        // with `route_localnet` (or without the proxy); the userland proxy
        // answers it elsewhere.
        let loopback_dnat = |bridge: &str| {
            !self.userland_proxy || index_of(bridge).is_some_and(|i| self.networks[i].loopback_dnat)
        };
        let output_match = if self.ports.iter().any(|p| loopback_dnat(&p.bridge)) {
            "fib daddr type local"
        } else {
            "ip daddr != 127.0.0.0/8 fib daddr type local"
        };
        let _ = writeln!(
            s,
            "\tchain nat-OUTPUT {{\n\
             \t\ttype nat hook output priority -100; policy accept;\n\
             \t\t{output_match} jump nat-prerouting-and-output\n\
             \t}}"
        );
        s.push_str(
            "\tchain nat-POSTROUTING {\n\
             \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
             \t\tiifname vmap @nat-postrouting-out-jumps\n\
             \t\toifname vmap @nat-postrouting-in-jumps\n\
             \t}\n",
        );

        // Ports of internal networks are not published (as in Docker).
        let live_ports: Vec<&PublishedPort> = self
            .ports
            .iter()
            .filter(|p| index_of(&p.bridge).is_some_and(|i| !self.networks[i].internal))
            .collect();

        s.push_str("\tchain nat-prerouting-and-output {\n");
        for p in &live_ports {
            let mut rule = String::from("\t\t");
            let loopback = loopback_dnat(&p.bridge);
            match p.host_ip.filter(|ip| !ip.is_unspecified()) {
                // Only the proxy can serve it.
                Some(ip) if ip.is_loopback() && !loopback => continue,
                Some(ip) => {
                    let _ = write!(rule, "ip daddr {ip} ");
                }
                None if !loopback => rule.push_str("ip daddr != 127.0.0.0/8 "),
                None => {}
            }
            if self.userland_proxy {
                let _ = write!(rule, "iifname != \"{}\" ", p.bridge);
            }
            let _ = writeln!(
                rule,
                "{proto} dport {hp} dnat to {cip}:{cp} comment \"DNAT\"",
                proto = p.proto,
                hp = p.host_port,
                cip = p.container_ip,
                cp = p.container_port
            );
            s.push_str(&rule);
        }
        s.push_str("\t}\n");

        s.push_str(
            "\tchain raw-PREROUTING {\n\
             \t\ttype filter hook prerouting priority raw; policy accept;\n",
        );
        for n in &self.networks {
            if n.loopback_dnat || !self.userland_proxy {
                // route_localnet would let a container reach the host's
                // loopback services by sending to 127.0.0.0/8 itself.
                let _ = writeln!(
                    s,
                    "\t\tiifname \"{}\" ip daddr 127.0.0.0/8 drop comment \"LOOPBACK FROM BRIDGE\"",
                    n.bridge
                );
            }
        }
        let mut seen: Vec<(Ipv4Addr, &str)> = Vec::new();
        for p in &live_ports {
            if !seen.contains(&(p.container_ip, p.bridge.as_str())) {
                seen.push((p.container_ip, p.bridge.as_str()));
                let _ = writeln!(
                    s,
                    "\t\tip daddr {} iifname != \"{}\" drop comment \"DROP DIRECT ACCESS\"",
                    p.container_ip, p.bridge
                );
            }
        }
        s.push_str("\t}\n");

        for (i, n) in self.networks.iter().enumerate() {
            let br = &n.bridge;
            let ports: Vec<&&PublishedPort> =
                live_ports.iter().filter(|p| p.bridge == *br).collect();
            // Into the bridge.
            let _ = writeln!(
                s,
                "\tchain filter-forward-in-{i} {{\n\
                 \t\tct state established,related accept"
            );
            if n.internal {
                let _ = writeln!(
                    s,
                    "\t\tiifname != \"{br}\" drop comment \"INTERNAL NETWORK INGRESS\""
                );
            }
            let icc = if n.icc { "accept" } else { "drop" };
            let _ = writeln!(s, "\t\tiifname \"{br}\" {icc} comment \"ICC\"");
            for p in &ports {
                let _ = writeln!(
                    s,
                    "\t\tip daddr {} {} dport {} accept",
                    p.container_ip, p.proto, p.container_port
                );
            }
            let _ = writeln!(s, "\t\tdrop comment \"UNPUBLISHED PORT DROP\"\n\t}}");
            // Out of the bridge.
            let _ = writeln!(
                s,
                "\tchain filter-forward-out-{i} {{\n\
                 \t\tct state established,related accept"
            );
            if n.internal {
                let _ = writeln!(
                    s,
                    "\t\toifname != \"{br}\" drop comment \"INTERNAL NETWORK EGRESS\""
                );
            } else {
                let _ = writeln!(s, "\t\taccept comment \"OUTGOING\"");
            }
            let _ = writeln!(s, "\t}}");
            // NAT into the bridge.
            let _ = writeln!(s, "\tchain nat-postrouting-in-{i} {{");
            if !n.internal {
                if !self.userland_proxy {
                    let _ = writeln!(
                        s,
                        "\t\tfib saddr type local masquerade comment \"MASQUERADE FROM HOST\""
                    );
                } else if n.loopback_dnat {
                    // The host's 127.0.0.1 clients of published ports: the
                    // container answers the bridge's address instead.
                    let _ = writeln!(
                        s,
                        "\t\tip saddr 127.0.0.0/8 masquerade comment \"MASQUERADE LOOPBACK\""
                    );
                }
                for p in &ports {
                    let _ = writeln!(
                        s,
                        "\t\tip saddr {c} ip daddr {c} {proto} dport {cp} masquerade comment \"MASQ TO OWN PORT\"",
                        c = p.container_ip,
                        proto = p.proto,
                        cp = p.container_port
                    );
                }
            }
            let _ = writeln!(s, "\t}}");
            // NAT out of the bridge.
            let _ = writeln!(s, "\tchain nat-postrouting-out-{i} {{");
            if n.masquerade && !n.internal {
                let _ = writeln!(
                    s,
                    "\t\toifname != \"{br}\" ip saddr {} masquerade comment \"MASQUERADE\"",
                    n.subnet.trunc()
                );
            }
            let _ = writeln!(s, "\t}}");
        }
        s.push_str("}\n");
        Ok(s)
    }
}

/// Checks an nftables table name: a letter, then letters, digits, `_` or
/// `-`, at most 64 characters.
pub fn validate_table(name: &str) -> Result<()> {
    let mut bytes = name.bytes();
    let ok = name.len() <= 64
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "invalid nftables table name {name:?}: use a letter then letters, digits, '_' or '-'"
        )))
    }
}

/// Where firewall commands run: the host's namespace or another one (tests
/// use a private "host" namespace).
#[derive(Debug, Clone, Default)]
pub struct Firewall {
    netns: Option<PathBuf>,
}

/// The output of one command run by [`Firewall`].
struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Firewall {
    /// Commands run in the daemon's own namespace.
    pub fn host() -> Firewall {
        Firewall { netns: None }
    }

    /// Commands run inside the namespace at `ns`.
    pub fn in_netns(ns: impl Into<PathBuf>) -> Firewall {
        Firewall {
            netns: Some(ns.into()),
        }
    }

    /// The namespace commands run in (`None`: the caller's).
    pub fn netns(&self) -> Option<&Path> {
        self.netns.as_deref()
    }

    async fn run(&self, program: &str, args: &[&str], stdin: Option<&str>) -> Result<Output> {
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // Kept open until the child has been spawned.
        let ns_file = match &self.netns {
            Some(ns) => Some(std::fs::File::open(ns).map_err(|e| {
                Error::io(format!("opening network namespace {}", ns.display()), e)
            })?),
            None => None,
        };
        if let Some(f) = &ns_file {
            let fd = f.as_raw_fd();
            // SAFETY: the closure runs in the forked child before exec and
            // only makes the async-signal-safe setns(2) system call.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().map_err(|e| {
            Error::io(
                format!("running {program} (is it installed? Debian: apt-get install nftables / iptables)"),
                e,
            )
        })?;
        drop(ns_file);
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes())
                .await
                .map_err(|e| Error::io(format!("writing to {program}"), e))?;
            drop(pipe);
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| Error::io(format!("waiting for {program}"), e))?;
        Ok(Output {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }

    /// Replaces berth's table with `ruleset`, atomically.
    pub async fn apply(&self, ruleset: &Ruleset) -> Result<()> {
        let script = ruleset.render()?;
        let out = self.run("nft", &["-f", "-"], Some(&script)).await?;
        if !out.ok {
            return Err(Error::Firewall(format!(
                "applying nftables table {}: {}",
                ruleset.table, out.stderr
            )));
        }
        Ok(())
    }

    /// Deletes berth's table `table`; `Ok(false)` when it did not exist.
    pub async fn remove(&self, table: &str) -> Result<bool> {
        validate_table(table)?;
        if self.list(table).await?.is_none() {
            return Ok(false);
        }
        let out = self
            .run("nft", &["delete", "table", "ip", table], None)
            .await?;
        if !out.ok {
            return Err(Error::Firewall(format!(
                "deleting nftables table {table}: {}",
                out.stderr
            )));
        }
        Ok(true)
    }

    /// The table as `nft list table ip NAME` prints it, `None` if absent.
    pub async fn list(&self, table: &str) -> Result<Option<String>> {
        validate_table(table)?;
        let out = self
            .run("nft", &["list", "table", "ip", table], None)
            .await?;
        if out.ok {
            Ok(Some(out.stdout))
        } else if out.stderr.contains("No such file or directory") {
            Ok(None)
        } else {
            Err(Error::Firewall(format!(
                "listing nftables table {table}: {}",
                out.stderr
            )))
        }
    }

    /// Base chains of *other* tables on the forward hook whose policy is
    /// drop, as `family table/chain` (e.g. `ip filter/FORWARD`, which is
    /// iptables-nft's `FORWARD` chain). Such a chain drops berth's traffic
    /// whatever berth's table accepts; see [`Self::iptables_accept_bridges`].
    pub async fn forward_drop_chains(&self, own_table: &str) -> Result<Vec<String>> {
        let out = self.run("nft", &["-j", "list", "chains"], None).await?;
        if !out.ok {
            return Err(Error::Firewall(format!(
                "listing nftables chains: {}",
                out.stderr
            )));
        }
        let v: serde_json::Value = serde_json::from_str(&out.stdout)
            .map_err(|e| Error::Firewall(format!("parsing `nft -j list chains` output: {e}")))?;
        let mut found = Vec::new();
        for item in v["nftables"].as_array().into_iter().flatten() {
            let c = &item["chain"];
            if c.is_null() {
                continue;
            }
            let family = c["family"].as_str().unwrap_or_default();
            let table = c["table"].as_str().unwrap_or_default();
            if c["hook"].as_str() == Some("forward")
                && c["policy"].as_str() == Some("drop")
                && matches!(family, "ip" | "inet")
                && !(family == "ip" && table == own_table)
            {
                found.push(format!(
                    "{family} {table}/{}",
                    c["name"].as_str().unwrap_or_default()
                ));
            }
        }
        Ok(found)
    }

    /// Makes iptables' `FORWARD` chain accept traffic to and from `bridges`
    /// with rules tagged `--comment TAG` at the top of the chain, replacing
    /// the rules of an earlier call with the same tag (an empty list removes
    /// them). For hosts whose `FORWARD` policy is drop; berth's nftables
    /// table still applies its own drops. Returns the number of rules added.
    pub async fn iptables_accept_bridges(&self, tag: &str, bridges: &[String]) -> Result<usize> {
        validate_table(tag)?;
        for b in bridges {
            validate_ifname(b)?;
        }
        let out = self.run("iptables", &["-w", "-S", "FORWARD"], None).await?;
        if !out.ok {
            return Err(Error::Firewall(format!(
                "listing iptables FORWARD rules: {}",
                out.stderr
            )));
        }
        for line in out.stdout.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let tagged = words.windows(2).any(|w| w[0] == "--comment" && w[1] == tag);
            if words.first() == Some(&"-A") && tagged {
                let mut args = vec!["-w", "-D"];
                args.extend(&words[1..]);
                let del = self.run("iptables", &args, None).await?;
                if !del.ok {
                    return Err(Error::Firewall(format!(
                        "removing iptables rule `{line}`: {}",
                        del.stderr
                    )));
                }
            }
        }
        let mut added = 0;
        for b in bridges {
            for dir in ["-i", "-o"] {
                let args = [
                    "-w",
                    "-I",
                    "FORWARD",
                    "1",
                    dir,
                    b,
                    "-m",
                    "comment",
                    "--comment",
                    tag,
                    "-j",
                    "ACCEPT",
                ];
                let r = self.run("iptables", &args, None).await?;
                if !r.ok {
                    return Err(Error::Firewall(format!(
                        "adding iptables FORWARD accept for {b}: {}",
                        r.stderr
                    )));
                }
                added += 1;
            }
        }
        Ok(added)
    }
}

/// Forwarding settings for berth's bridges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forwarding {
    /// Interfaces (berth's bridges) whose `forwarding` flag is set.
    pub bridges: Vec<String>,
    /// Also set the global `net.ipv4.ip_forward` when it is 0 (needed for
    /// traffic entering from other interfaces, e.g. published ports).
    pub global: bool,
    /// Set `route_localnet` on the bridges (DNAT from 127.0.0.1).
    pub route_localnet: bool,
}

/// Applies `fwd` in the namespace at `ns` (the caller's when `None`).
/// Returns the sysctl keys that were changed.
pub fn enable_forwarding(ns: Option<&Path>, fwd: &Forwarding) -> Result<Vec<String>> {
    for b in &fwd.bridges {
        validate_ifname(b)?;
    }
    let fwd = fwd.clone();
    let work = move || -> Result<Vec<String>> {
        let mut changed = Vec::new();
        let mut set = |key: String| -> Result<()> {
            if netns::write_sysctl(&key, "1")? {
                changed.push(key);
            }
            Ok(())
        };
        // Writing ip_forward resets every interface's flag, so it goes first.
        if fwd.global {
            set("net/ipv4/ip_forward".to_string())?;
        }
        for b in &fwd.bridges {
            set(format!("net/ipv4/conf/{b}/forwarding"))?;
            if fwd.route_localnet {
                set(format!("net/ipv4/conf/{b}/route_localnet"))?;
            }
        }
        Ok(changed)
    };
    match ns {
        None => work(),
        Some(ns) => netns::run(ns, work)?,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(proxy: bool) -> Ruleset {
        let mut rs = Ruleset::new("berth_t");
        rs.userland_proxy = proxy;
        rs.networks
            .push(NetworkRules::new("br-a", "172.18.0.0/16".parse().unwrap()));
        let mut internal = NetworkRules::new("br-i", "172.19.0.0/16".parse().unwrap());
        internal.internal = true;
        rs.networks.push(internal);
        rs.ports.push(PublishedPort {
            bridge: "br-a".into(),
            proto: Proto::Tcp,
            host_ip: None,
            host_port: 8080,
            container_ip: "172.18.0.2".parse().unwrap(),
            container_port: 80,
        });
        rs.ports.push(PublishedPort {
            bridge: "br-i".into(),
            proto: Proto::Udp,
            host_ip: Some("127.0.0.1".parse().unwrap()),
            host_port: 53,
            container_ip: "172.19.0.2".parse().unwrap(),
            container_port: 53,
        });
        rs
    }

    #[test]
    fn renders_docker_like_table() {
        let s = sample(true).render().unwrap();
        assert!(s.starts_with("add table ip berth_t\ndelete table ip berth_t\ntable ip berth_t {"));
        assert!(
            s.contains("\"br-a\" : jump filter-forward-in-0, \"br-i\" : jump filter-forward-in-1")
        );
        assert!(
            s.contains("iifname != \"br-a\" tcp dport 8080 dnat to 172.18.0.2:80 comment \"DNAT\"")
        );
        // The internal network's port is not published.
        assert!(!s.contains("udp dport 53"));
        assert!(s.contains("oifname != \"br-a\" ip saddr 172.18.0.0/16 masquerade"));
        assert!(!s.contains("ip saddr 172.19.0.0/16 masquerade"));
        assert!(s.contains("iifname != \"br-i\" drop comment \"INTERNAL NETWORK INGRESS\""));
        assert!(s.contains("oifname != \"br-i\" drop comment \"INTERNAL NETWORK EGRESS\""));
        assert!(s.contains("ip daddr != 127.0.0.0/8 fib daddr type local jump"));
        assert!(s.contains("ip saddr 172.18.0.2 ip daddr 172.18.0.2 tcp dport 80 masquerade"));
        assert!(s.contains("ip daddr 172.18.0.2 iifname != \"br-a\" drop"));
    }

    #[test]
    fn no_proxy_dnats_loopback_and_same_bridge() {
        let s = sample(false).render().unwrap();
        assert!(s.contains("\t\tfib daddr type local jump nat-prerouting-and-output"));
        assert!(s.contains("\t\ttcp dport 8080 dnat to 172.18.0.2:80"));
        assert!(s.contains("fib saddr type local masquerade"));
    }

    #[test]
    fn empty_ruleset_and_bad_names() {
        let s = Ruleset::new("berth").render().unwrap();
        assert!(!s.contains("elements"));
        let mut rs = Ruleset::new("bad name");
        assert!(rs.render().is_err());
        rs.table = "ok".into();
        rs.networks
            .push(NetworkRules::new("br\"x", "10.0.0.0/24".parse().unwrap()));
        assert!(rs.render().is_err());
        let mut rs = Ruleset::new("ok");
        rs.ports.push(sample(true).ports[0].clone());
        let e = rs.render().unwrap_err().to_string();
        assert!(e.contains("not in the ruleset"), "{e}");
    }

    #[test]
    fn loopback_dnat_where_the_bridge_routes_localnet() {
        let mut rs = sample(true);
        rs.networks[0].loopback_dnat = true;
        rs.ports.push(PublishedPort {
            bridge: "br-a".into(),
            proto: Proto::Tcp,
            host_ip: Some(Ipv4Addr::LOCALHOST),
            host_port: 9090,
            container_ip: "172.18.0.3".parse().unwrap(),
            container_port: 90,
        });
        let s = rs.render().unwrap();
        // Every local destination reaches the DNAT chain, 127.0.0.1 included.
        assert!(s.contains("\t\tfib daddr type local jump nat-prerouting-and-output"));
        assert!(!s.contains("ip daddr != 127.0.0.0/8 fib daddr"));
        assert!(s.contains(
            "\t\tiifname != \"br-a\" tcp dport 8080 dnat to 172.18.0.2:80 comment \"DNAT\""
        ));
        assert!(s.contains("ip daddr 127.0.0.1 iifname != \"br-a\" tcp dport 9090 dnat"));
        assert!(s.contains("ip saddr 127.0.0.0/8 masquerade comment \"MASQUERADE LOOPBACK\""));
        assert!(s.contains("iifname \"br-a\" ip daddr 127.0.0.0/8 drop"));
        // A bridge without route_localnet keeps loopback for the proxy.
        rs.networks[0].loopback_dnat = false;
        let s = rs.render().unwrap();
        assert!(s.contains("ip daddr != 127.0.0.0/8 iifname != \"br-a\" tcp dport 8080 dnat"));
        assert!(!s.contains("dport 9090"));
        assert!(!s.contains("MASQUERADE LOOPBACK"));
        assert!(!s.contains("ip daddr 127.0.0.0/8 drop"));
    }

    #[test]
    fn icc_disabled_drops_same_bridge() {
        let mut rs = Ruleset::new("t");
        let mut n = NetworkRules::new("br0", "10.1.0.0/24".parse().unwrap());
        n.icc = false;
        rs.networks.push(n);
        let s = rs.render().unwrap();
        assert!(s.contains("iifname \"br0\" drop comment \"ICC\""));
    }
}
