//! Network devices through netlink (the `rtnetlink` crate): bridges, veth
//! pairs whose container end is made in the container's namespace, macvlan
//! devices, addresses, routes, and listing links to clean up after a crash.
//!
//! A [`Netlink`] is a netlink socket bound to one network namespace: the
//! host's ([`Netlink::host`]) or a container's ([`Netlink::in_netns`]). The
//! latter socket is created by a short-lived thread that `setns`es into the
//! namespace (see [`crate::netns`]); the socket stays in that namespace and
//! is then driven by the caller's tokio runtime like any other, so no
//! runtime thread ever changes namespace.
//!
//! Connecting a container ([`Netlink::attach_veth`]): create `vethXXXX` in
//! the host with a temporary peer made directly in the container's
//! namespace (moving a link between namespaces waits for an RCU grace
//! period, 10-30 ms here), enslave the host end to the bridge and bring it
//! up, and in the namespace rename the peer (`eth0`), set its MAC (`02:42:` + the IPv4 address,
//! Docker's derivation), MTU and address, bring it and `lo` up and add the
//! default route via the gateway. Any failure removes what was created.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use futures::TryStreamExt;
use ipnet::Ipv4Net;
use netlink_packet_route::link::{
    InfoData, InfoVeth, LinkAttribute, LinkFlags, LinkInfo as NlLinkInfo, LinkMessage, MacVlanMode,
};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteHeader, RouteType};
use rtnetlink::{
    Handle, LinkBridge, LinkBridgePort, LinkMacVlan, LinkMessageBuilder, LinkUnspec, LinkVeth,
    RouteMessageBuilder,
};

use crate::{netns, Error, Result};

/// Longest interface name the kernel accepts (IFNAMSIZ - 1).
pub const MAX_IFNAME: usize = 15;

/// Checks an interface name: 1–15 characters from `[A-Za-z0-9_.-]`. This
/// is stricter than the kernel so names are also safe inside nft rules.
pub fn validate_ifname(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_IFNAME
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "invalid interface name {name:?}: use 1 to {MAX_IFNAME} characters from [A-Za-z0-9_.-]"
        )))
    }
}

/// Docker's MAC address for a container address: `02:42:` followed by the
/// four bytes of the IPv4 address.
pub fn mac_for_ip(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// Formats a MAC address as `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses `aa:bb:cc:dd:ee:ff` (`--mac-address`).
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let bad = || Error::InvalidArgument(format!("invalid MAC address: {s}"));
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        if p.len() != 2 {
            return Err(bad());
        }
        mac[i] = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    Ok(mac)
}

/// A link as listed by [`Netlink::links`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// Link kind (`bridge`, `veth`, `macvlan`, …), when it has one.
    pub kind: Option<String>,
    /// Index of the bridge (or other controller) it is enslaved to.
    pub controller: Option<u32>,
    /// Whether it is administratively up.
    pub up: bool,
    /// Its MAC address, for Ethernet-like links.
    pub mac: Option<[u8; 6]>,
    /// Its MTU.
    pub mtu: Option<u32>,
}

fn link_info(msg: &LinkMessage) -> LinkInfo {
    let mut info = LinkInfo {
        index: msg.header.index,
        name: String::new(),
        kind: None,
        controller: None,
        up: msg.header.flags.contains(LinkFlags::Up),
        mac: None,
        mtu: None,
    };
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => info.name = n.clone(),
            LinkAttribute::Controller(c) => info.controller = Some(*c),
            LinkAttribute::Mtu(m) => info.mtu = Some(*m),
            LinkAttribute::Address(a) if a.len() == 6 => {
                let mut mac = [0u8; 6];
                mac.copy_from_slice(a);
                info.mac = Some(mac);
            }
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let NlLinkInfo::Kind(k) = i {
                        info.kind = Some(k.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    info
}

/// What a bridge network's device looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    /// Device name (`docker0`-like `berth0`, or `br-<id12>`).
    pub name: String,
    /// MTU (`com.docker.network.driver.mtu`); kernel default when `None`.
    pub mtu: Option<u32>,
    /// The gateway address and the subnet's prefix length, put on the
    /// bridge; `None` for a bridge without an address.
    pub address: Option<(Ipv4Addr, u8)>,
}

/// How a container's interface is configured inside its namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    /// Name inside the container (`eth0`, `eth1`, …).
    pub ifname: String,
    /// The container's address.
    pub address: Ipv4Addr,
    /// The subnet's prefix length.
    pub prefix_len: u8,
    /// Default route via this gateway (`None`: no default route, as for
    /// `--internal` networks or a second network).
    pub gateway: Option<Ipv4Addr>,
    /// MAC address; Docker's derivation from the address when `None`.
    pub mac: Option<[u8; 6]>,
    /// MTU; the kernel's default when `None`.
    pub mtu: Option<u32>,
    /// Hairpin mode on the host end's bridge port, so a container can reach
    /// itself through DNAT on the host. Docker sets it when the userland
    /// proxy is off; with `br_netfilter` the DNATed frame is bridged back
    /// out of the port it came in through.
    pub hairpin: bool,
}

impl EndpointConfig {
    /// The MAC the interface gets.
    pub fn effective_mac(&self) -> [u8; 6] {
        self.mac.unwrap_or_else(|| mac_for_ip(self.address))
    }
}

static TEMP_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A temporary, unique interface name for a device that is about to be
/// moved and renamed (`bt` + pid + counter, at most 15 characters).
fn temp_ifname(prefix: &str) -> String {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = format!("{prefix}{:x}{:x}", std::process::id(), n);
    name.truncate(MAX_IFNAME);
    name
}

/// A random `veth` name for the host end of a container's veth pair, as
/// Docker names them (`veth` + 7 hex digits).
pub fn random_veth_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(TEMP_COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    format!("veth{:07x}", h.finish() & 0x0fff_ffff)
}

/// A netlink connection bound to one network namespace.
#[derive(Clone)]
pub struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// A connection in the caller's (the host's) namespace. Must be called
    /// inside a tokio runtime; the connection task is spawned on it.
    pub fn host() -> Result<Netlink> {
        let (conn, handle, _) =
            rtnetlink::new_connection().map_err(|e| Error::io("opening a netlink socket", e))?;
        tokio::spawn(conn);
        Ok(Netlink { handle })
    }

    /// A connection inside the namespace at `ns` (`/proc/PID/ns/net` or a
    /// bind-mounted namespace file). The socket is created by a thread that
    /// entered the namespace; it is driven by the current tokio runtime.
    pub async fn in_netns(ns: &Path) -> Result<Netlink> {
        let fd: OwnedFd = netns::run_async(ns, || {
            // SAFETY: plain socket(2) call; the result is checked.
            let fd = unsafe {
                libc::socket(
                    libc::AF_NETLINK,
                    libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                    libc::NETLINK_ROUTE,
                )
            };
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: fd was just returned by socket(2) and is owned here.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        })
        .await?
        .map_err(|e| Error::io(format!("opening a netlink socket in {}", ns.display()), e))?;
        // SAFETY: the fd is a valid, owned netlink socket; ownership moves
        // into the TokioSocket (we are inside a runtime, as required).
        let socket =
            unsafe { <rtnetlink::sys::TokioSocket as FromRawFd>::from_raw_fd(fd.into_raw_fd()) };
        let (conn, handle, _) = rtnetlink::from_socket(socket);
        tokio::spawn(conn);
        Ok(Netlink { handle })
    }

    /// The underlying rtnetlink handle, for operations not wrapped here.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// The link called `name`, if any.
    pub async fn link(&self, name: &str) -> Result<Option<LinkInfo>> {
        validate_ifname(name)?;
        let mut stream = self.handle.link().get().match_name(name).execute();
        match stream.try_next().await {
            Ok(Some(msg)) => Ok(Some(link_info(&msg))),
            Ok(None) => Ok(None),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::ENODEV => Ok(None),
            Err(e) => Err(Error::netlink(format!("looking up link {name}"), e)),
        }
    }

    async fn index_of(&self, name: &str) -> Result<u32> {
        self.link(name)
            .await?
            .map(|l| l.index)
            .ok_or_else(|| Error::Netlink {
                context: format!("looking up link {name}"),
                reason: "no such device".into(),
                errno: Some(libc::ENODEV),
            })
    }

    /// Every link of the namespace.
    pub async fn links(&self) -> Result<Vec<LinkInfo>> {
        let msgs: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|e| Error::netlink("listing links", e))?;
        Ok(msgs.iter().map(link_info).collect())
    }

    /// Links whose names start with one of `prefixes` (e.g. `["berth",
    /// "br-", "veth"]`): candidates for cleanup after a crash. A `veth` is
    /// only listed when it is enslaved to one of the listed bridges or to
    /// nothing, so veths of other software are left alone.
    pub async fn stale_links(&self, prefixes: &[&str]) -> Result<Vec<LinkInfo>> {
        let all = self.links().await?;
        let ours: Vec<&LinkInfo> = all
            .iter()
            .filter(|l| prefixes.iter().any(|p| l.name.starts_with(p)))
            .collect();
        let bridges: Vec<u32> = ours
            .iter()
            .filter(|l| l.kind.as_deref() == Some("bridge"))
            .map(|l| l.index)
            .collect();
        Ok(ours
            .into_iter()
            .filter(|l| {
                l.kind.as_deref() != Some("veth")
                    || l.controller.is_none_or(|c| bridges.contains(&c))
            })
            .cloned()
            .collect())
    }

    /// Deletes the link `name`; `Ok(false)` when it did not exist.
    /// Deleting one end of a veth pair deletes both.
    pub async fn delete_link(&self, name: &str) -> Result<bool> {
        let Some(link) = self.link(name).await? else {
            return Ok(false);
        };
        match self.handle.link().del(link.index).execute().await {
            Ok(()) => Ok(true),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::ENODEV => Ok(false),
            Err(e) => Err(Error::netlink(format!("deleting link {name}"), e)),
        }
    }

    /// Brings the link `name` up.
    pub async fn set_up(&self, name: &str) -> Result<()> {
        let index = self.index_of(name).await?;
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|e| Error::netlink(format!("bringing {name} up"), e))
    }

    /// Adds `ip/prefix_len` to the link `name` (replacing an identical one).
    pub async fn add_address(&self, name: &str, ip: Ipv4Addr, prefix_len: u8) -> Result<()> {
        let index = self.index_of(name).await?;
        self.handle
            .address()
            .add(index, IpAddr::V4(ip), prefix_len)
            .replace()
            .execute()
            .await
            .map_err(|e| Error::netlink(format!("adding address {ip}/{prefix_len} to {name}"), e))
    }

    /// IPv4 addresses of the link `name`, as `ip/prefix`.
    pub async fn addresses(&self, name: &str) -> Result<Vec<Ipv4Net>> {
        use netlink_packet_route::address::AddressAttribute;
        let index = self.index_of(name).await?;
        let msgs: Vec<_> = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute()
            .try_collect()
            .await
            .map_err(|e| Error::netlink(format!("listing addresses of {name}"), e))?;
        let mut out = Vec::new();
        for m in msgs {
            if m.header.index != index {
                continue;
            }
            for a in &m.attributes {
                if let AddressAttribute::Address(IpAddr::V4(ip)) = a {
                    if let Ok(n) = Ipv4Net::new(*ip, m.header.prefix_len) {
                        out.push(n);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The destinations of the main table's IPv4 unicast routes, default
    /// route excluded: what new subnets must not overlap.
    pub async fn ipv4_routes(&self) -> Result<Vec<Ipv4Net>> {
        let msgs: Vec<_> = self
            .handle
            .route()
            .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
            .execute()
            .try_collect()
            .await
            .map_err(|e| Error::netlink("listing routes", e))?;
        let mut out = Vec::new();
        for m in msgs {
            if m.header.table != RouteHeader::RT_TABLE_MAIN
                || m.header.kind != RouteType::Unicast
                || m.header.destination_prefix_length == 0
            {
                continue;
            }
            for a in &m.attributes {
                if let RouteAttribute::Destination(RouteAddress::Inet(ip)) = a {
                    if let Ok(n) = Ipv4Net::new(*ip, m.header.destination_prefix_length) {
                        out.push(n.trunc());
                    }
                }
            }
        }
        Ok(out)
    }

    /// Creates (or reuses, after a restart) the bridge `cfg.name`, puts the
    /// gateway address on it and brings it up. Returns its index. An
    /// existing link of that name that is not a bridge is an error.
    pub async fn ensure_bridge(&self, cfg: &BridgeConfig) -> Result<u32> {
        validate_ifname(&cfg.name)?;
        let name = &cfg.name;
        let index = match self.link(name).await? {
            Some(l) if l.kind.as_deref() == Some("bridge") => l.index,
            Some(l) => {
                return Err(Error::InvalidArgument(format!(
                    "cannot use {name} as a bridge: a {} link of that name exists",
                    l.kind.as_deref().unwrap_or("non-bridge")
                )))
            }
            None => {
                let mut b = LinkBridge::new(name);
                if let Some(mtu) = cfg.mtu {
                    b = b.mtu(mtu);
                }
                match self.handle.link().add(b.build()).execute().await {
                    Ok(()) => {}
                    // Made meanwhile by a concurrent start on the same
                    // network: use it if it is a bridge.
                    Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EEXIST => {
                        match self.link(name).await? {
                            Some(l) if l.kind.as_deref() == Some("bridge") => {}
                            _ => {
                                return Err(Error::InvalidArgument(format!(
                                    "cannot use {name} as a bridge: a non-bridge link of that name exists"
                                )))
                            }
                        }
                    }
                    Err(e) => return Err(Error::netlink(format!("creating bridge {name}"), e)),
                }
                self.index_of(name).await?
            }
        };
        if let Some(mtu) = cfg.mtu {
            self.handle
                .link()
                .set(LinkUnspec::new_with_index(index).mtu(mtu).build())
                .execute()
                .await
                .map_err(|e| Error::netlink(format!("setting MTU {mtu} on {name}"), e))?;
        }
        if let Some((ip, len)) = cfg.address {
            self.add_address(name, ip, len).await?;
        }
        self.set_up(name).await?;
        Ok(index)
    }

    /// Sets hairpin mode on the bridge port `port` (a link enslaved to a
    /// bridge): frames may leave through the port they came in by.
    pub async fn set_hairpin(&self, port: &str, on: bool) -> Result<()> {
        let index = self.index_of(port).await?;
        self.handle
            .link()
            .set_port(LinkBridgePort::new(index).hairpin(on).build())
            .execute()
            .await
            .map_err(|e| Error::netlink(format!("setting hairpin mode on {port}"), e))
    }

    /// Creates a veth pair `name` / `peer` in this namespace, both down.
    pub async fn create_veth(&self, name: &str, peer: &str) -> Result<()> {
        validate_ifname(name)?;
        validate_ifname(peer)?;
        self.handle
            .link()
            .add(LinkVeth::new(name, peer).build())
            .execute()
            .await
            .map_err(|e| Error::netlink(format!("creating veth pair {name}/{peer}"), e))
    }

    /// Connects a container to a bridge: creates the veth pair
    /// `host_ifname` / temporary peer with the peer made right in the
    /// namespace at `ns`, enslaves and raises the host end, and configures
    /// the peer there
    /// (see [`configure_endpoint`]). On failure nothing is left behind.
    /// Returns the container interface's MAC.
    pub async fn attach_veth(
        &self,
        bridge: &str,
        host_ifname: &str,
        ns: &Path,
        cfg: &EndpointConfig,
    ) -> Result<[u8; 6]> {
        validate_ifname(bridge)?;
        validate_ifname(host_ifname)?;
        validate_ifname(&cfg.ifname)?;
        let bridge_index = self.index_of(bridge).await?;
        let peer = temp_ifname("bt");
        // The peer is born in the container's namespace: moving a link
        // between namespaces waits for an RCU grace period (10-30 ms here).
        let file = std::fs::File::open(ns)
            .map_err(|e| Error::io(format!("opening network namespace {}", ns.display()), e))?;
        let peer_msg = LinkMessageBuilder::<LinkUnspec>::new()
            .name(peer.clone())
            .setns_by_fd(file.as_raw_fd())
            .build();
        self.handle
            .link()
            .add(
                LinkVeth::new(host_ifname, &peer)
                    .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg)))
                    .build(),
            )
            .execute()
            .await
            .map_err(|e| {
                Error::netlink(
                    format!(
                        "creating veth pair {host_ifname}/{peer} into {}",
                        ns.display()
                    ),
                    e,
                )
            })?;
        let result = async {
            let host_index = self.index_of(host_ifname).await?;
            let mut set = LinkUnspec::new_with_index(host_index).controller(bridge_index);
            if let Some(mtu) = cfg.mtu {
                set = set.mtu(mtu);
            }
            self.handle
                .link()
                .set(set.up().build())
                .execute()
                .await
                .map_err(|e| {
                    Error::netlink(format!("attaching {host_ifname} to bridge {bridge}"), e)
                })?;
            if cfg.hairpin {
                self.set_hairpin(host_ifname, true).await?;
            }
            configure_endpoint(ns, &peer, cfg).await
        }
        .await;
        if result.is_err() {
            // Deleting the host end removes the peer wherever it is.
            let _ = self.delete_link(host_ifname).await;
        }
        result
    }

    /// Gives a container a macvlan interface (mode bridge) on the host
    /// interface `parent`, made in the namespace at `ns` and configured
    /// there. On failure nothing is left behind. Returns its MAC.
    pub async fn attach_macvlan(
        &self,
        parent: &str,
        ns: &Path,
        cfg: &EndpointConfig,
    ) -> Result<[u8; 6]> {
        validate_ifname(parent)?;
        validate_ifname(&cfg.ifname)?;
        let parent_index = self.index_of(parent).await?;
        let tmp = temp_ifname("bm");
        // Made right in the namespace (a move would wait for RCU).
        let file = std::fs::File::open(ns)
            .map_err(|e| Error::io(format!("opening network namespace {}", ns.display()), e))?;
        let mut b =
            LinkMacVlan::new(&tmp, parent_index, MacVlanMode::Bridge).setns_by_fd(file.as_raw_fd());
        if let Some(mtu) = cfg.mtu {
            b = b.mtu(mtu);
        }
        self.handle
            .link()
            .add(b.build())
            .execute()
            .await
            .map_err(|e| Error::netlink(format!("creating a macvlan device on {parent}"), e))?;
        match configure_endpoint(ns, &tmp, cfg).await {
            Ok(mac) => Ok(mac),
            Err(e) => {
                if let Ok(inner) = Netlink::in_netns(ns).await {
                    let _ = inner.delete_link(&tmp).await;
                    let _ = inner.delete_link(&cfg.ifname).await;
                }
                Err(e)
            }
        }
    }

    /// Removes a container's bridge endpoint by deleting the host end of its
    /// veth pair (which deletes the container end too). `Ok(false)` when it
    /// was already gone (e.g. the container's namespace died with it).
    pub async fn detach_veth(&self, host_ifname: &str) -> Result<bool> {
        self.delete_link(host_ifname).await
    }
}

/// Removes the interface `ifname` (a macvlan, or a veth end) from inside the
/// namespace at `ns`. `Ok(false)` when it does not exist.
pub async fn remove_container_interface(ns: &Path, ifname: &str) -> Result<bool> {
    let inner = Netlink::in_netns(ns).await?;
    inner.delete_link(ifname).await
}

/// Inside the namespace at `ns`: renames `current` to `cfg.ifname`, sets
/// MAC, MTU and address, brings it and `lo` up and adds the default route
/// via the gateway. Returns the MAC.
pub async fn configure_endpoint(ns: &Path, current: &str, cfg: &EndpointConfig) -> Result<[u8; 6]> {
    let inner = Netlink::in_netns(ns).await?;
    let index = inner.index_of(current).await?;
    let mac = cfg.effective_mac();
    let mut set = LinkUnspec::new_with_index(index)
        .name(cfg.ifname.clone())
        .address(mac.to_vec());
    if let Some(mtu) = cfg.mtu {
        set = set.mtu(mtu);
    }
    inner
        .handle
        .link()
        .set(set.build())
        .execute()
        .await
        .map_err(|e| {
            Error::netlink(
                format!("renaming {current} to {} in {}", cfg.ifname, ns.display()),
                e,
            )
        })?;
    inner
        .handle
        .address()
        .add(index, IpAddr::V4(cfg.address), cfg.prefix_len)
        .replace()
        .execute()
        .await
        .map_err(|e| {
            Error::netlink(
                format!(
                    "adding {}/{} to {}",
                    cfg.address, cfg.prefix_len, cfg.ifname
                ),
                e,
            )
        })?;
    inner
        .handle
        .link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(|e| Error::netlink(format!("bringing {} up", cfg.ifname), e))?;
    inner.set_up("lo").await?;
    if let Some(gw) = cfg.gateway {
        inner
            .handle
            .route()
            .add(
                RouteMessageBuilder::<Ipv4Addr>::new()
                    .gateway(gw)
                    .output_interface(index)
                    .build(),
            )
            .replace()
            .execute()
            .await
            .map_err(|e| Error::netlink(format!("adding the default route via {gw}"), e))?;
    }
    Ok(mac)
}
