//! A container on its networks: the endpoints chosen at create (which
//! networks, `--ip`, aliases), the addresses allocated before its start,
//! the plumbing once its network namespace exists (veth or macvlan
//! interfaces, published ports with their proxies, the embedded DNS
//! server of user networks), the teardown at its exit, and berth's
//! nftables table rebuilt from all of that.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use berth_network::dns::{DnsConfig, DnsServer, NameTable, Resolve};
use berth_network::firewall::{Firewall, NetworkRules, Proto, PublishedPort, Ruleset};
use berth_network::link::{BridgeConfig, EndpointConfig, Netlink};
use berth_network::ports::PortRequest;
use berth_network::proxy::PortProxy;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::NetworkRecord;
use crate::containers::{strings, ContainerRecord};
use crate::error::{EngineError, Result};
use crate::Engine;

/// A container's attachment to one network.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Endpoint {
    /// The network's ID.
    pub network_id: String,
    /// 64 hex characters, new at each start.
    pub endpoint_id: String,
    /// The address, while the container runs.
    pub ip: Option<Ipv4Addr>,
    /// The subnet's prefix length.
    pub prefix_len: u8,
    /// The network's gateway.
    pub gateway: Option<Ipv4Addr>,
    /// MAC address of the interface.
    pub mac: String,
    /// `--network-alias`.
    pub aliases: Vec<String>,
    /// `--ip`.
    pub requested_ip: Option<Ipv4Addr>,
    /// `--mac-address`.
    pub requested_mac: Option<String>,
    /// Interface name inside the container (`eth0`…).
    pub ifname: String,
    /// Host end of the veth pair.
    pub host_veth: String,
    /// `--link` entries (`name:alias`), default bridge only.
    #[serde(default)]
    pub links: Vec<String>,
    /// The link variables (`DB_PORT=tcp://…`) this start added to the
    /// container's `Env`, taken out again when it stops.
    #[serde(default)]
    pub link_env: Vec<String>,
}

/// What a running container holds on the host's side.
#[derive(Default)]
pub(crate) struct RunningNet {
    proxies: Vec<PortProxy>,
    ports: Vec<(Proto, Ipv4Addr, u16)>,
    pub(crate) published: Vec<PublishedPort>,
    dns: Option<DnsServer>,
}

/// Names on every user network a container is on.
struct Resolver(Vec<Arc<NameTable>>);

impl Resolve for Resolver {
    fn lookup(&self, name: &str) -> Option<Vec<IpAddr>> {
        let mut all = Vec::new();
        for t in &self.0 {
            if let Some(v) = t.lookup(name) {
                all.extend(v);
            }
        }
        (!all.is_empty()).then_some(all)
    }

    fn reverse(&self, ip: IpAddr) -> Option<String> {
        self.0.iter().find_map(|t| t.reverse(ip))
    }
}

fn err(e: berth_network::Error) -> EngineError {
    match &e {
        berth_network::Error::Ipam(_) | berth_network::Error::InvalidArgument(_) => {
            EngineError::invalid(e.to_string())
        }
        _ => EngineError::internal(e.to_string()),
    }
}

/// The published-port requests of a container: `PortBindings`, plus every
/// exposed port on an ephemeral host port with `-P`.
pub(crate) fn port_requests(rec: &ContainerRecord) -> Result<Vec<PortRequest>> {
    let hc = &rec.host_config;
    let mut out = Vec::new();
    let mut bound = std::collections::HashSet::new();
    if let Some(m) = hc["PortBindings"].as_object() {
        for (key, list) in m {
            let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
            bound.insert(format!("{port}/{proto}"));
            let bindings = list.as_array().cloned().unwrap_or_default();
            let bindings = if bindings.is_empty() {
                vec![json!({})]
            } else {
                bindings
            };
            for b in bindings {
                let ip = b["HostIp"].as_str().unwrap_or("");
                let hp = b["HostPort"].as_str().unwrap_or("");
                let mut spec = String::new();
                if !ip.is_empty() {
                    spec.push_str(ip);
                    spec.push(':');
                }
                if !hp.is_empty() || !ip.is_empty() {
                    spec.push_str(hp);
                    spec.push(':');
                }
                spec.push_str(&format!("{port}/{proto}"));
                let reqs = berth_network::ports::parse_publish(&spec).map_err(err)?;
                out.extend(reqs);
            }
        }
    }
    if hc["PublishAllPorts"].as_bool() == Some(true) {
        if let Some(m) = rec.config["ExposedPorts"].as_object() {
            for key in m.keys() {
                let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
                if bound.contains(&format!("{port}/{proto}")) {
                    continue;
                }
                out.extend(
                    berth_network::ports::parse_publish(&format!("{port}/{proto}")).map_err(err)?,
                );
            }
        }
    }
    Ok(out)
}

impl Engine {
    /// At create: the networks a container joins (its `NetworkMode` and
    /// `NetworkingConfig.EndpointsConfig`), checked and recorded.
    pub(crate) fn plan_endpoints(
        &self,
        host_config: &mut Value,
        networking: &Value,
    ) -> Result<BTreeMap<String, Endpoint>> {
        let mode = match host_config["NetworkMode"].as_str().unwrap_or("") {
            "" | "default" => "bridge".to_string(),
            m => m.to_string(),
        };
        let mut out = BTreeMap::new();
        let links = strings(host_config.get("Links"));
        if mode.starts_with("container:") {
            container_mode_conflicts(host_config)?;
        }
        if mode == "host" && !links.is_empty() {
            return Err(EngineError::invalid(
                "conflicting options: host type networking can't be used with links. This would result in undefined behavior",
            ));
        }
        if mode == "host" || mode == "none" || mode.starts_with("container:") {
            if let Some(m) = networking["EndpointsConfig"].as_object() {
                if m.keys()
                    .any(|k| k != &mode && k != "host" && k != "none" && k != "default")
                {
                    return Err(EngineError::invalid(
                        "conflicting options: cannot attach both user-defined and non-user-defined network-modes",
                    ));
                }
            }
            return Ok(out);
        }
        let primary = self.resolve_network(&mode)?;
        if primary.driver == "host" || primary.driver == "null" {
            host_config["NetworkMode"] = json!(primary.name);
            return Ok(out);
        }
        // Legacy links of the default bridge name existing containers
        // (Docker's registerLinks; on user networks names resolve anyway).
        if primary.name == "bridge" {
            for l in &links {
                let (target, _) = parse_link(l)?;
                self.link_target(target)?;
            }
        }
        host_config["NetworkMode"] = json!(primary.name);
        let mut wanted: Vec<(NetworkRecord, Value)> = vec![(primary.clone(), Value::Null)];
        if let Some(m) = networking["EndpointsConfig"].as_object() {
            for (name, cfg) in m {
                let name = if name == "default" {
                    "bridge"
                } else {
                    name.as_str()
                };
                let n = self.resolve_network(name)?;
                if n.id == primary.id {
                    wanted[0].1 = cfg.clone();
                } else {
                    wanted.push((n, cfg.clone()));
                }
            }
        }
        for (n, cfg) in wanted {
            let ip = cfg["IPAMConfig"]["IPv4Address"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<Ipv4Addr>()
                        .map_err(|_| EngineError::invalid(format!("invalid IPv4 address: {s}")))
                })
                .transpose()?;
            let aliases = strings(cfg.get("Aliases"));
            let links = strings(cfg.get("Links"))
                .into_iter()
                .chain(strings(host_config.get("Links")))
                .collect::<Vec<_>>();
            if n.name == "bridge" {
                if ip.is_some() {
                    return Err(EngineError::invalid(
                        "user specified IP address is supported on user defined networks only",
                    ));
                }
                if !aliases.is_empty() {
                    return Err(EngineError::invalid(
                        "network-scoped alias is supported only for containers in user defined networks",
                    ));
                }
            } else if !links.is_empty()
                && n.id == primary.id
                && strings(cfg.get("Links")).is_empty()
            {
                // Legacy links belong to the default bridge; on user
                // networks names resolve through DNS anyway.
            }
            if let (Some(ip), Some(ipam)) = (ip, n.ipam.as_ref()) {
                if !ipam.subnet.contains(&ip) {
                    return Err(EngineError::invalid(format!(
                        "invalid address {ip}: It does not belong to any of this network's subnets"
                    )));
                }
            }
            let mac = cfg["MacAddress"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(String::from);
            if let Some(m) = &mac {
                berth_network::link::parse_mac(m).map_err(err)?;
            }
            out.insert(
                n.name.clone(),
                Endpoint {
                    network_id: n.id.clone(),
                    aliases,
                    requested_ip: ip,
                    requested_mac: mac,
                    links: if n.name == "bridge" {
                        links
                    } else {
                        Vec::new()
                    },
                    ..Default::default()
                },
            );
        }
        Ok(out)
    }

    fn with_net<T>(&self, f: impl FnOnce(&mut super::NetInner) -> T) -> Result<T> {
        let mut g = self
            .net
            .inner
            .lock()
            .map_err(|_| EngineError::internal("network state poisoned"))?;
        Ok(f(&mut g))
    }

    /// The networks a container is on, primary first.
    fn ordered_endpoints(&self, rec: &ContainerRecord) -> Vec<(String, Endpoint)> {
        let primary = rec.host_config["NetworkMode"].as_str().unwrap_or("");
        let mut v: Vec<(String, Endpoint)> = rec
            .endpoints
            .iter()
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect();
        v.sort_by_key(|(k, _)| (k != primary, k.clone()));
        v
    }

    /// Before a start: an address on each network (from its IPAM state,
    /// persisted), interface names, MACs. Nothing stays allocated on error.
    pub(crate) fn allocate_endpoints(&self, rec: &mut ContainerRecord) -> Result<()> {
        // `--network container:NAME`: the target's names, as Docker copies
        // them (its /etc/hosts and /etc/resolv.conf are shared once the
        // namespace exists, see `share_etc_files`).
        if let Some(target) = rec.host_config["NetworkMode"]
            .as_str()
            .and_then(|m| m.strip_prefix("container:"))
        {
            if let Ok(t) = self.resolve_container(target) {
                if t.id != rec.id {
                    rec.config["Hostname"] = t.config["Hostname"].clone();
                    rec.config["Domainname"] = t.config["Domainname"].clone();
                }
            }
        }
        self.set_link_env(rec)?;
        let _guard = self.network_lock.lock();
        let mut done: Vec<(String, Ipv4Addr)> = Vec::new();
        let result = (|| -> Result<()> {
            for (i, (name, ep)) in self.ordered_endpoints(rec).into_iter().enumerate() {
                // Docker looks a network up by the ID the container last
                // ran with, by name before its first start.
                let mut n = self.resolve_network(&ep.network_id).map_err(|_| {
                    let term = if rec.has_been_started {
                        ep.network_id.as_str()
                    } else {
                        name.as_str()
                    };
                    EngineError::not_found(format!(
                        "failed to set up container networking: network {term} not found"
                    ))
                })?;
                let ipam = n.ipam.as_mut().ok_or_else(|| {
                    EngineError::internal(format!("network {} has no addresses", n.name))
                })?;
                let ip = ipam
                    .allocate(ep.requested_ip)
                    .map_err(|e| EngineError::invalid(format!("{e}: {} ({})", n.name, n.id)))?;
                let prefix_len = ipam.prefix_len();
                let gateway = ipam.gateway;
                self.save_network(&n)?;
                done.push((n.id.clone(), ip));
                let mac = match &ep.requested_mac {
                    Some(m) => m.clone(),
                    None => berth_network::link::format_mac(&berth_network::link::mac_for_ip(ip)),
                };
                let e = rec
                    .endpoints
                    .get_mut(&name)
                    .ok_or_else(|| EngineError::internal("endpoint vanished while allocating"))?;
                e.ip = Some(ip);
                e.prefix_len = prefix_len;
                e.gateway = (n.driver == "bridge" || n.driver == "macvlan").then_some(gateway);
                e.mac = mac;
                e.ifname = format!("eth{i}");
                e.host_veth = berth_network::link::random_veth_name();
                e.endpoint_id = crate::containers::new_id()?;
            }
            Ok(())
        })();
        if result.is_err() {
            for (net, ip) in done {
                if let Ok(mut n) = self.resolve_network(&net) {
                    if let Some(ipam) = n.ipam.as_mut() {
                        ipam.release(ip);
                    }
                    let _ = self.save_network(&n);
                }
            }
            for e in rec.endpoints.values_mut() {
                e.ip = None;
            }
        }
        result
    }

    /// The lines of /etc/hosts naming the container on its networks.
    pub(crate) fn hosts_entries(&self, rec: &ContainerRecord, fqdn: &str) -> String {
        let mut out = String::new();
        for (name, ep) in self.ordered_endpoints(rec) {
            let Some(ip) = ep.ip else { continue };
            if name == "bridge" {
                // Docker's entry: the alias, the target's hostname, and its
                // name when the alias is not that name.
                for l in &ep.links {
                    let Ok((target, alias)) = parse_link(l) else {
                        continue;
                    };
                    let Ok(c) = self.link_target(target) else {
                        continue;
                    };
                    if let Some(tip) = c.endpoints.get("bridge").and_then(|e| e.ip) {
                        let cname = c.name.trim_start_matches('/');
                        let hostname = c.config["Hostname"].as_str().unwrap_or(&c.id[..12]);
                        let mut names = format!("{alias} {hostname}");
                        if alias != cname {
                            names.push(' ');
                            names.push_str(cname);
                        }
                        out.push_str(&format!("{tip}\t{names}\n"));
                    }
                }
            }
            out.push_str(&format!("{ip}\t{fqdn}\n"));
        }
        out
    }

    /// Whether the container is on a user-defined network (embedded DNS).
    pub(crate) fn uses_embedded_dns(&self, rec: &ContainerRecord) -> bool {
        rec.endpoints.keys().any(|k| k != "bridge")
    }

    /// Once the container's namespace exists (its init waits): interfaces,
    /// names, DNS, published ports and the firewall. Undone on error.
    pub(crate) fn plumb_endpoints(&self, rec: &ContainerRecord, pid: i64) -> Result<()> {
        self.share_etc_files(rec);
        if rec.endpoints.is_empty() {
            return Ok(());
        }
        let ns = PathBuf::from(format!("/proc/{pid}/ns/net"));
        let result = self.block_on_net(self.plumb(rec, &ns));
        if result.is_err() {
            self.unplumb(rec);
        }
        result
    }

    async fn plumb(&self, rec: &ContainerRecord, ns: &std::path::Path) -> Result<()> {
        let nl = Netlink::host().map_err(err)?;
        let mut tables = Vec::new();
        let mut first_bridge: Option<(String, Ipv4Addr)> = None;
        for (i, (name, ep)) in self.ordered_endpoints(rec).into_iter().enumerate() {
            let n = self.resolve_network(&ep.network_id)?;
            let ip = ep
                .ip
                .ok_or_else(|| EngineError::internal("endpoint without an address"))?;
            let cfg = EndpointConfig {
                ifname: ep.ifname.clone(),
                address: ip,
                prefix_len: ep.prefix_len,
                gateway: if i == 0 && !n.internal {
                    ep.gateway
                } else {
                    None
                },
                mac: Some(berth_network::link::parse_mac(&ep.mac).map_err(err)?),
                mtu: None,
                hairpin: !self.config.network.userland_proxy,
            };
            match n.driver.as_str() {
                "bridge" => {
                    self.ensure_bridge(&nl, &n).await?;
                    nl.attach_veth(&n.device, &ep.host_veth, ns, &cfg)
                        .await
                        .map_err(err)?;
                    if first_bridge.is_none() {
                        first_bridge = Some((n.device.clone(), ip));
                    }
                }
                "macvlan" => {
                    nl.attach_macvlan(&n.device, ns, &cfg).await.map_err(err)?;
                }
                _ => continue,
            }
            if name != "bridge" {
                let table = self.with_net(|inner| {
                    inner
                        .names
                        .entry(n.id.clone())
                        .or_insert_with(|| Arc::new(NameTable::new()))
                        .clone()
                })?;
                register_names(&table, rec, &ep.aliases, ip, &n.name);
                tables.push(table);
            }
        }
        let mut running = RunningNet::default();
        if !tables.is_empty() {
            let (udp, tcp) = berth_network::dns::bind_in_netns(
                ns,
                SocketAddr::new(IpAddr::V4(berth_network::dns::EMBEDDED_DNS_ADDR), 53),
            )
            .await
            .map_err(err)?;
            let server = DnsServer::start(
                udp,
                Some(tcp),
                Arc::new(Resolver(tables)),
                self.dns_config(rec),
            )
            .map_err(err)?;
            running.dns = Some(server);
        }
        // Published ports, towards the first bridge address.
        let requests = port_requests(rec)?;
        if !requests.is_empty() {
            if let Some((bridge, ip)) = first_bridge.clone() {
                for req in requests {
                    let bound = self.with_net(|inner| {
                        let alloc = inner
                            .ports
                            .get_or_insert_with(berth_network::ports::PortAllocator::new);
                        berth_network::ports::bind_port(alloc, &req, ip)
                    })?;
                    let mut bound = match bound {
                        Ok(b) => b,
                        Err(e) => {
                            self.with_net(|inner| {
                                inner.running.insert(rec.id.clone(), running);
                            })?;
                            return Err(EngineError::internal(format!(
                                "driver failed programming external connectivity on endpoint {} ({}): {e}",
                                rec.name.trim_start_matches('/'),
                                rec.endpoints.values().next().map(|e| e.endpoint_id.as_str()).unwrap_or("")
                            )));
                        }
                    };
                    running
                        .ports
                        .push((bound.proto, bound.host_ip, bound.host_port));
                    running.published.push(PublishedPort {
                        bridge: bridge.clone(),
                        proto: bound.proto,
                        host_ip: (!bound.host_ip.is_unspecified()).then_some(bound.host_ip),
                        host_port: bound.host_port,
                        container_ip: ip,
                        container_port: bound.container_port,
                    });
                    if self.config.network.userland_proxy {
                        if let Some(p) = PortProxy::start(&mut bound).map_err(err)? {
                            running.proxies.push(p);
                        }
                    }
                }
            }
        }
        self.with_net(|inner| {
            inner.running.insert(rec.id.clone(), running);
        })?;
        self.apply_firewall_async().await;
        Ok(())
    }

    async fn ensure_bridge(&self, nl: &Netlink, n: &NetworkRecord) -> Result<()> {
        let ipam = n
            .ipam
            .as_ref()
            .ok_or_else(|| EngineError::internal(format!("network {} has no subnet", n.name)))?;
        let mtu = n
            .options
            .get("com.docker.network.driver.mtu")
            .and_then(|m| m.parse().ok())
            .filter(|m| *m != 1500);
        nl.ensure_bridge(&BridgeConfig {
            name: n.device.clone(),
            mtu,
            address: Some((ipam.gateway, ipam.prefix_len())),
        })
        .await
        .map_err(err)?;
        // route_localnet on berth's own bridges lets the firewall DNAT the
        // host's 127.0.0.1 clients of published ports in the kernel; the
        // host's own bridges are left as they are (the proxy serves them).
        let fwd = berth_network::firewall::Forwarding {
            bridges: vec![n.device.clone()],
            global: self.config.network.ip_forward,
            route_localnet: self.config.network.firewall && !n.user_bridge,
        };
        if let Err(e) = berth_network::firewall::enable_forwarding(None, &fwd) {
            tracing::debug!("forwarding sysctls of {}: {e}", n.device);
        }
        Ok(())
    }

    /// Undoes [`Engine::plumb_endpoints`]: proxies, ports, DNS, names,
    /// host interfaces. The addresses stay allocated (see
    /// [`Engine::release_endpoints`]).
    fn unplumb(&self, rec: &ContainerRecord) {
        let running = self
            .with_net(|inner| {
                if let Some(alloc) = inner.ports.as_mut() {
                    if let Some(r) = inner.running.get(&rec.id) {
                        for (proto, ip, port) in &r.ports {
                            alloc.release(*proto, *ip, *port);
                        }
                    }
                }
                for ep in rec.endpoints.values() {
                    if let (Some(t), Some(ip)) = (inner.names.get(&ep.network_id), ep.ip) {
                        t.remove_address(IpAddr::V4(ip));
                    }
                }
                inner.running.remove(&rec.id)
            })
            .ok()
            .flatten();
        // The host ends of the veth pairs go with the container's network
        // namespace: the kernel destroys a dead namespace's devices in
        // batches, instead of one `RTM_DELLINK` each under rtnl (~20 ms,
        // serialized between stops). Names are new at each start, so a
        // restart never meets a dying one. Deleted here at once when the
        // namespace may outlive the container (others joined it) or when
        // the next start may reuse the address or MAC (`--ip`,
        // `--mac-address`); a watcher deletes whatever is still there after
        // a while, and daemon start sweeps what a crash left.
        let joined = !self.namespace_joiners(rec).is_empty();
        let (now, later): (Vec<&Endpoint>, Vec<&Endpoint>) = rec
            .endpoints
            .values()
            .filter(|e| !e.host_veth.is_empty())
            .partition(|e| joined || e.requested_ip.is_some() || e.requested_mac.is_some());
        let now: Vec<String> = now.iter().map(|e| e.host_veth.clone()).collect();
        let later: Vec<String> = later.iter().map(|e| e.host_veth.clone()).collect();
        self.block_on_net(async {
            if let Some(r) = running {
                for p in r.proxies {
                    p.stop().await;
                }
                if let Some(d) = r.dns {
                    d.stop().await;
                }
            }
            if !now.is_empty() {
                if let Ok(nl) = Netlink::host() {
                    for v in now {
                        let _ = nl.delete_link(&v).await;
                    }
                }
            }
            self.apply_firewall_async().await;
        });
        if !later.is_empty() {
            self.rt.spawn(delete_veths_left_behind(later));
        }
    }

    /// After an exit (or a failed start): everything of the container's on
    /// the host side goes, its addresses return to their networks.
    pub(crate) fn release_endpoints(&self, rec: &mut ContainerRecord) {
        if rec.endpoints.is_empty() {
            return;
        }
        self.unplumb(rec);
        strip_link_env(rec);
        let _guard = self.network_lock.lock();
        for ep in rec.endpoints.values_mut() {
            if let Some(ip) = ep.ip.take() {
                if let Ok(mut n) = self.resolve_network(&ep.network_id) {
                    if let Some(ipam) = n.ipam.as_mut() {
                        ipam.release(ip);
                    }
                    let _ = self.save_network(&n);
                }
            }
            ep.endpoint_id.clear();
            ep.gateway = None;
            ep.mac.clear();
            ep.host_veth.clear();
        }
        rec.ports.clear();
    }

    /// At daemon start, for a container still running: its ports, proxies,
    /// names and DNS server again (what lived in the old daemon's memory).
    pub(crate) fn restore_endpoints(&self, rec: &ContainerRecord) {
        if rec.endpoints.is_empty() || rec.state.pid <= 0 {
            return;
        }
        let ns = PathBuf::from(format!("/proc/{}/ns/net", rec.state.pid));
        let result = self.block_on_net(async {
            // The interfaces are in place: only what lived in memory.
            let mut tables = Vec::new();
            let mut first_bridge = None;
            for (name, ep) in self.ordered_endpoints(rec) {
                let Ok(n) = self.resolve_network(&ep.network_id) else {
                    continue;
                };
                let Some(ip) = ep.ip else { continue };
                if n.driver == "bridge" && first_bridge.is_none() {
                    first_bridge = Some((n.device.clone(), ip));
                }
                if name != "bridge" {
                    let table = self.with_net(|inner| {
                        inner
                            .names
                            .entry(n.id.clone())
                            .or_insert_with(|| Arc::new(NameTable::new()))
                            .clone()
                    })?;
                    register_names(&table, rec, &ep.aliases, ip, &n.name);
                    tables.push(table);
                }
            }
            let mut running = RunningNet::default();
            if !tables.is_empty() {
                let (udp, tcp) = berth_network::dns::bind_in_netns(
                    &ns,
                    SocketAddr::new(IpAddr::V4(berth_network::dns::EMBEDDED_DNS_ADDR), 53),
                )
                .await
                .map_err(err)?;
                running.dns = Some(
                    DnsServer::start(
                        udp,
                        Some(tcp),
                        Arc::new(Resolver(tables)),
                        self.dns_config(rec),
                    )
                    .map_err(err)?,
                );
            }
            if let Some((bridge, ip)) = first_bridge {
                for req in port_requests(rec)? {
                    // The same host port as before, when the user let us choose.
                    let mut req = req;
                    if let Some(hp) = recorded_host_port(rec, &req) {
                        req.host_port = hp;
                        req.host_port_end = hp;
                    }
                    let bound = self.with_net(|inner| {
                        let alloc = inner
                            .ports
                            .get_or_insert_with(berth_network::ports::PortAllocator::new);
                        berth_network::ports::bind_port(alloc, &req, ip)
                    })?;
                    let Ok(mut bound) = bound else { continue };
                    running
                        .ports
                        .push((bound.proto, bound.host_ip, bound.host_port));
                    running.published.push(PublishedPort {
                        bridge: bridge.clone(),
                        proto: bound.proto,
                        host_ip: (!bound.host_ip.is_unspecified()).then_some(bound.host_ip),
                        host_port: bound.host_port,
                        container_ip: ip,
                        container_port: bound.container_port,
                    });
                    if self.config.network.userland_proxy {
                        if let Ok(Some(p)) = PortProxy::start(&mut bound) {
                            running.proxies.push(p);
                        }
                    }
                }
            }
            self.with_net(|inner| {
                inner.running.insert(rec.id.clone(), running);
            })?;
            Ok::<(), EngineError>(())
        });
        if let Err(e) = result {
            tracing::warn!(
                "restoring the networking of container {}: {e}",
                &rec.id[..12]
            );
        }
    }

    /// The host ports a running container holds, as Docker's
    /// `NetworkSettings.Ports` (`{"80/tcp": [{"HostIp","HostPort"}]}`).
    pub(crate) fn current_ports(&self, id: &str) -> BTreeMap<String, Vec<(String, String)>> {
        let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        let _ = self.with_net(|inner| {
            if let Some(r) = inner.running.get(id) {
                for p in &r.published {
                    out.entry(format!("{}/{}", p.container_port, p.proto))
                        .or_default()
                        .push((
                            p.host_ip.map(|i| i.to_string()).unwrap_or("0.0.0.0".into()),
                            p.host_port.to_string(),
                        ));
                }
            }
        });
        out
    }

    /// Rebuilds berth's nftables table from the networks and the running
    /// containers' published ports (blocking).
    /// Also lets the bridges through a foreign forward chain that drops by
    /// default: called when the set of bridges changes (daemon start,
    /// network create and remove), not for every container.
    pub fn apply_firewall(&self) {
        self.block_on_net(async {
            self.apply_firewall_async().await;
            let bridges = self.bridge_devices();
            self.sync_forward_accept(&bridges).await;
        });
    }

    /// The bridge devices of all bridge networks.
    fn bridge_devices(&self) -> Vec<String> {
        self.network_records()
            .unwrap_or_default()
            .into_iter()
            .filter(|n| n.driver == "bridge")
            .map(|n| n.device)
            .collect()
    }

    /// The bridges berth made (the host's own bridges that networks use
    /// are never deleted).
    fn own_bridge_devices(&self) -> Vec<String> {
        self.network_records()
            .unwrap_or_default()
            .into_iter()
            .filter(|n| n.driver == "bridge" && !n.user_bridge)
            .map(|n| n.device)
            .collect()
    }

    /// Hosts where iptables' `FORWARD` chain drops by default (as it does
    /// once Docker has run) would drop everything berth routes, whatever
    /// berth's own table says: like dockerd, berth then accepts its own
    /// bridges' traffic at the top of that chain with rules tagged with its
    /// table's name (its own table still isolates networks). The host's
    /// policy is left as it is; the rules go with the last bridge. A drop
    /// policy elsewhere is reported, not touched.
    async fn sync_forward_accept(&self, bridges: &[String]) {
        if !self.config.network.firewall {
            return;
        }
        let fw = Firewall::host();
        let tag = self.config.network.prefix.as_str();
        let drops = match fw.forward_drop_chains(tag).await {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!("looking for forward chains that drop: {e}");
                return;
            }
        };
        let iptables_drops = drops.iter().any(|c| c == "ip filter/FORWARD");
        let wanted: &[String] = if iptables_drops { bridges } else { &[] };
        match fw.iptables_accept_bridges(tag, wanted).await {
            Ok(_) => {}
            Err(e) if !wanted.is_empty() => tracing::warn!(
                "iptables' FORWARD policy is DROP and berth could not accept its bridges there \
                 ({e}); containers cannot reach beyond their bridge: install iptables or set \
                 the policy to ACCEPT"
            ),
            Err(_) => {}
        }
        for c in drops.iter().filter(|c| *c != "ip filter/FORWARD") {
            tracing::warn!(
                "the nftables chain {c} drops forwarded packets by default: \
                 traffic of berth's bridges may be dropped there"
            );
        }
    }

    /// Bridges named with berth's prefix that no network record owns: what
    /// a crash between making a bridge and recording its network leaves.
    /// Removed at daemon start.
    /// Also removes the veths left on berth's own bridges by containers
    /// that no longer run (a crash before their namespace's end was
    /// noticed).
    pub(crate) fn remove_stale_bridges(&self) {
        let prefix = self.config.network.prefix.clone();
        let known: Vec<String> = self
            .network_records()
            .unwrap_or_default()
            .into_iter()
            .map(|n| n.device)
            .collect();
        let own = self.own_bridge_devices();
        let in_use: std::collections::HashSet<String> = self
            .container_records()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.state.running)
            .flat_map(|c| c.endpoints.into_values().map(|e| e.host_veth))
            .collect();
        self.block_on_net(async move {
            let Ok(nl) = Netlink::host() else { return };
            let Ok(links) = nl.links().await else { return };
            let own_index: Vec<u32> = links
                .iter()
                .filter(|l| l.kind.as_deref() == Some("bridge") && own.contains(&l.name))
                .map(|l| l.index)
                .collect();
            for l in &links {
                let on_own_bridge = l.controller.is_some_and(|c| own_index.contains(&c));
                if l.kind.as_deref() == Some("veth") && on_own_bridge && !in_use.contains(&l.name) {
                    tracing::info!("removing stale veth {}", l.name);
                    let _ = nl.delete_link(&l.name).await;
                }
            }
            let Ok(stale) = nl.stale_links(&[prefix.as_str()]).await else {
                return;
            };
            for l in stale {
                if l.kind.as_deref() == Some("bridge") && !known.contains(&l.name) {
                    tracing::info!("removing stale bridge {}", l.name);
                    let _ = nl.delete_link(&l.name).await;
                }
            }
        });
    }

    /// Runs network work to its end from synchronous code, wherever it is
    /// called from (a plain thread of its own drives it on the runtime).
    pub(crate) fn block_on_net<T: Send>(
        &self,
        f: impl std::future::Future<Output = T> + Send,
    ) -> T {
        std::thread::scope(|s| {
            s.spawn(|| self.rt.block_on(f))
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    pub(crate) async fn apply_firewall_async(&self) {
        if !self.config.network.firewall {
            return;
        }
        let mut applied = self.net.applied_rules.lock().await;
        let mut rs = Ruleset::new(self.config.network.prefix.clone());
        rs.userland_proxy = self.config.network.userland_proxy;
        for n in self.network_records().unwrap_or_default() {
            if n.driver != "bridge" {
                continue;
            }
            let Some(ipam) = &n.ipam else { continue };
            let mut r = NetworkRules::new(n.device.clone(), ipam.subnet);
            r.internal = n.internal;
            r.icc = n
                .options
                .get("com.docker.network.bridge.enable_icc")
                .map(|v| v != "false")
                .unwrap_or(true);
            r.masquerade = n
                .options
                .get("com.docker.network.bridge.enable_ip_masquerade")
                .map(|v| v != "false")
                .unwrap_or(true);
            // Loopback clients go through DNAT where the bridge routes
            // 127.0.0.0/8 (set by `ensure_bridge`); elsewhere the proxy
            // still answers them.
            r.loopback_dnat = !n.user_bridge && route_localnet(&n.device);
            rs.networks.push(r);
        }
        let _ = self.with_net(|inner| {
            for r in inner.running.values() {
                rs.ports.extend(r.published.iter().cloned());
            }
        });
        // Ports on bridges that are not in the ruleset would be refused.
        let bridges: Vec<String> = rs.networks.iter().map(|n| n.bridge.clone()).collect();
        rs.ports.retain(|p| bridges.contains(&p.bridge));
        let fw = Firewall::host();
        if rs.networks.is_empty() {
            let _ = fw.remove(&rs.table).await;
            *applied = None;
            return;
        }
        let script = match rs.render() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("making berth's nftables table: {e}");
                return;
            }
        };
        if applied.as_deref() == Some(script.as_str()) {
            return;
        }
        match fw.apply(&rs).await {
            Ok(()) => *applied = Some(script),
            Err(e) => {
                *applied = None;
                tracing::warn!("updating berth's nftables table: {e}");
            }
        }
    }

    /// At daemon stop with nothing left running: berth's table and bridges
    /// go, so the host is as it was.
    pub fn network_shutdown(&self) {
        if self.any_container_running() {
            return;
        }
        let bridges = self.own_bridge_devices();
        let table = self.config.network.prefix.clone();
        let firewall = self.config.network.firewall;
        self.block_on_net(async {
            if firewall {
                let _ = Firewall::host().remove(&table).await;
                *self.net.applied_rules.lock().await = None;
                self.sync_forward_accept(&[]).await;
            }
            if let Ok(nl) = Netlink::host() {
                for b in bridges {
                    let _ = nl.delete_link(&b).await;
                }
            }
        });
    }
}

impl Engine {
    /// The container a legacy link names, following `--network
    /// container:` to the container that owns the namespace, with Docker's
    /// messages for a missing target and one on the host's network.
    fn link_target(&self, name: &str) -> Result<ContainerRecord> {
        let missing = |n: &str| {
            EngineError::invalid(format!(
                "could not get container for {n}: No such container: {n}"
            ))
        };
        let mut c = self.resolve_container(name).map_err(|_| missing(name))?;
        let mut hops = 0;
        while let Some(next) = c.host_config["NetworkMode"]
            .as_str()
            .and_then(|m| m.strip_prefix("container:"))
            .map(String::from)
        {
            hops += 1;
            if hops > 16 {
                break;
            }
            c = self.resolve_container(&next).map_err(|_| missing(&next))?;
        }
        if c.host_config["NetworkMode"].as_str() == Some("host") {
            return Err(EngineError::invalid(
                "conflicting options: host type networking can't be used with links. This would result in undefined behavior",
            ));
        }
        Ok(c)
    }

    /// At start: every linked container must run on the default bridge
    /// (Docker's messages otherwise); their link variables are kept on the
    /// endpoint for this run, and the process environment puts them before
    /// the container's own `Env` (which wins, as in Docker), leaving
    /// `Config.Env` as the user wrote it.
    fn set_link_env(&self, rec: &mut ContainerRecord) -> Result<()> {
        strip_link_env(rec);
        let Some(ep) = rec.endpoints.get("bridge") else {
            return Ok(());
        };
        let me = rec.name.trim_start_matches('/').to_string();
        let mut vars = Vec::new();
        for l in ep.links.clone() {
            let (target, alias) = parse_link(&l)?;
            // A linked container removed since is no longer linked.
            let Ok(child) = self.link_target(target) else {
                continue;
            };
            let link_name = format!("/{me}/{alias}");
            if !child.state.running {
                return Err(EngineError::internal(format!(
                    "Cannot link to a non running container: {} AS {link_name}",
                    child.name
                )));
            }
            let Some(child_ip) = child.endpoints.get("bridge").and_then(|e| e.ip) else {
                return Err(EngineError::internal(format!(
                    "Cannot link to {}, as it does not belong to the default network",
                    child.name
                )));
            };
            let ports: Vec<String> = child.config["ExposedPorts"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            vars.extend(link_env_vars(
                &link_name,
                child_ip,
                &strings(child.config.get("Env")),
                &ports,
            ));
        }
        let mut added: Vec<String> = Vec::new();
        for v in vars {
            let key = v.split('=').next().unwrap_or("");
            if !added.iter().any(|a| a.split('=').next() == Some(key)) {
                added.push(v);
            }
        }
        if let Some(ep) = rec.endpoints.get_mut("bridge") {
            ep.link_env = added;
        }
        Ok(())
    }

    /// `--network container:NAME` shares the target's /etc/hosts and
    /// /etc/resolv.conf as Docker does: their content is copied into the
    /// joining container's files in place (they are bind-mounted), once
    /// its namespace exists and again whenever the target's change.
    fn share_etc_files(&self, rec: &ContainerRecord) {
        let Some(target) = rec.host_config["NetworkMode"]
            .as_str()
            .and_then(|m| m.strip_prefix("container:"))
        else {
            return;
        };
        let Ok(t) = self.resolve_container(target) else {
            return;
        };
        let from = self.container_dirs(&t.id).root;
        let to = self.container_dirs(&rec.id).root;
        for f in ["hosts", "resolv.conf"] {
            if let Ok(content) = std::fs::read(from.join(f)) {
                if let Err(e) = std::fs::write(to.join(f), content) {
                    tracing::warn!(
                        "sharing /etc/{f} of {} with {}: {e}",
                        &t.id[..12],
                        &rec.id[..12]
                    );
                }
            }
        }
    }

    /// The running containers that joined `target`'s network namespace.
    fn namespace_joiners(&self, target: &ContainerRecord) -> Vec<ContainerRecord> {
        self.container_records()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.state.running && c.id != target.id)
            .filter(|c| {
                c.host_config["NetworkMode"]
                    .as_str()
                    .and_then(|m| m.strip_prefix("container:"))
                    .and_then(|t| self.resolve_container(t).ok())
                    .is_some_and(|t| t.id == target.id)
            })
            .collect()
    }
}

/// How long the kernel gets to destroy a stopped container's veth with its
/// namespace before berth deletes it itself.
const VETH_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Waits for host veth ends to vanish with their namespace, and deletes
/// those still there after [`VETH_GRACE`] (a namespace kept alive by
/// something else).
async fn delete_veths_left_behind(mut veths: Vec<String>) {
    let deadline = tokio::time::Instant::now() + VETH_GRACE;
    // sysfs, not netlink: looking does not take the rtnl lock the kernel
    // needs to destroy them.
    let exists = |v: &String| std::path::Path::new("/sys/class/net").join(v).exists();
    while !veths.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        veths.retain(exists);
    }
    if veths.is_empty() {
        return;
    }
    if let Ok(nl) = Netlink::host() {
        for v in veths {
            tracing::debug!("veth {v} outlived its namespace: deleting it");
            let _ = nl.delete_link(&v).await;
        }
    }
}

/// Whether `net.ipv4.conf.<dev>.route_localnet` is set.
fn route_localnet(dev: &str) -> bool {
    berth_network::link::validate_ifname(dev).is_ok()
        && std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{dev}/route_localnet"))
            .is_ok_and(|v| v.trim() == "1")
}

/// Splits a legacy link, `NAME[:ALIAS]` or the stored `/NAME:/ME/ALIAS`,
/// into the target and the alias (Docker's `ParseLink`).
fn parse_link(link: &str) -> Result<(&str, &str)> {
    if link.is_empty() {
        return Err(EngineError::invalid("empty string specified for links"));
    }
    let parts: Vec<&str> = link.splitn(3, ':').collect();
    let (name, alias) = match parts.as_slice() {
        [n] => (*n, *n),
        [n, a] => (*n, *a),
        _ => {
            return Err(EngineError::invalid(format!(
                "bad format for links: {link}"
            )))
        }
    };
    let name = name.trim_start_matches('/');
    let alias = alias.rsplit('/').next().unwrap_or(alias);
    if name.is_empty() || alias.is_empty() {
        return Err(EngineError::invalid(format!(
            "bad format for links: {link}"
        )));
    }
    Ok((name, alias))
}

/// The rest of Docker's `validateNetContainerMode`, on the create request
/// itself (what the image adds does not count): a container that joins
/// another's network namespace takes its name and has no ports or MAC
/// address of its own; one on the host's network has no MAC address.
pub(crate) fn joined_network_conflicts(body: &serde_json::Map<String, Value>) -> Result<()> {
    let mode = body
        .get("HostConfig")
        .and_then(|h| h["NetworkMode"].as_str())
        .unwrap_or("");
    let joined = mode.starts_with("container:");
    let given = |k: &str| match body.get(k) {
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Object(m)) => !m.is_empty(),
        _ => false,
    };
    if joined && given("Hostname") {
        return Err(EngineError::invalid(
            "conflicting options: hostname and the network mode",
        ));
    }
    if joined {
        if let Some(hc) = body.get("HostConfig") {
            container_mode_conflicts(hc)?;
        }
    }
    let msg = if (joined || mode == "host") && given("MacAddress") {
        "conflicting options: mac-address and the network mode"
    } else if joined && given("ExposedPorts") {
        "conflicting options: port exposing and the container type network mode"
    } else {
        return Ok(());
    };
    Err(EngineError::invalid(msg))
}

/// Forgets the link variables of an earlier run.
fn strip_link_env(rec: &mut ContainerRecord) {
    if let Some(ep) = rec.endpoints.get_mut("bridge") {
        ep.link_env.clear();
    }
}

/// Docker's conflicts for `--network container:NAME` (its `validateNetContainerMode`).
fn container_mode_conflicts(hc: &Value) -> Result<()> {
    let set = |k: &str| hc[k].as_array().is_some_and(|a| !a.is_empty());
    let msg = if set("Links") {
        "conflicting options: container type network can't be used with links. This would result in undefined behavior"
    } else if set("Dns") {
        "conflicting options: dns and the network mode"
    } else if set("ExtraHosts") {
        "conflicting options: custom host-to-IP mapping and the network mode"
    } else if hc["PortBindings"]
        .as_object()
        .is_some_and(|m| !m.is_empty())
        || hc["PublishAllPorts"].as_bool() == Some(true)
    {
        "conflicting options: port publishing and the container type network mode"
    } else {
        return Ok(());
    };
    Err(EngineError::invalid(msg))
}

/// The environment of a legacy link (Docker 28's `links.Link.ToEnv`):
/// `ALIAS_PORT`, per exposed port `ALIAS_PORT_80_TCP{,_ADDR,_PORT,_PROTO}`,
/// `_START`/`_END` variables for consecutive ranges, `ALIAS_NAME=/me/alias`
/// and the target's own variables as `ALIAS_ENV_*` (but `HOME` and `PATH`).
/// `exposed` holds `PORT/PROTO` keys.
pub(crate) fn link_env_vars(
    link_name: &str,
    child_ip: Ipv4Addr,
    child_env: &[String],
    exposed: &[String],
) -> Vec<String> {
    let short = link_name.rsplit('/').next().unwrap_or(link_name);
    let alias = short.to_uppercase().replace('-', "_");
    let mut ports: Vec<(u32, String)> = exposed
        .iter()
        .filter_map(|k| {
            let (p, proto) = k.split_once('/').unwrap_or((k.as_str(), "tcp"));
            Some((p.parse().ok()?, proto.to_ascii_lowercase()))
        })
        .collect();
    // TCP first, then by protocol name; by number within a protocol.
    ports.sort_by(|a, b| {
        let rank = |p: &(u32, String)| (p.1 != "tcp", p.1.clone(), p.0);
        rank(a).cmp(&rank(b))
    });
    let mut env = Vec::new();
    let (mut start, mut end) = (None::<(u32, String)>, None::<(u32, String)>);
    for (i, p) in ports.iter().enumerate() {
        let (num, proto) = (p.0, &p.1);
        if i == 0 {
            start = Some(p.clone());
            end = Some(p.clone());
            env.push(format!("{alias}_PORT={proto}://{child_ip}:{num}"));
        }
        let prefix = format!("{alias}_PORT_{num}_{}", proto.to_uppercase());
        env.push(format!("{prefix}={proto}://{child_ip}:{num}"));
        env.push(format!("{prefix}_ADDR={child_ip}"));
        env.push(format!("{prefix}_PORT={num}"));
        env.push(format!("{prefix}_PROTO={proto}"));
        if let Some(e) = &end {
            if num == e.0 + 1 && *proto == e.1 {
                end = Some(p.clone());
                if i < ports.len() - 1 {
                    continue;
                }
            }
        }
        if let (Some(s), Some(e)) = (&start, &end) {
            if s != e {
                let prefix = format!("{alias}_PORT_{}_{}", s.0, s.1.to_uppercase());
                env.push(format!("{prefix}_START={}://{child_ip}:{}", s.1, s.0));
                env.push(format!("{prefix}_PORT_START={}", s.0));
                env.push(format!("{prefix}_END={}://{child_ip}:{}", e.1, e.0));
                env.push(format!("{prefix}_PORT_END={}", e.0));
            }
        }
        start = Some(p.clone());
        end = Some(p.clone());
    }
    env.push(format!("{alias}_NAME={link_name}"));
    for kv in child_env {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        if k == "HOME" || k == "PATH" {
            continue;
        }
        env.push(format!("{alias}_ENV_{k}={v}"));
    }
    env
}

/// A container's names on a network's DNS table: its name, short ID and
/// aliases, and the reverse name `NAME.NETWORK`.
fn register_names(
    table: &NameTable,
    rec: &ContainerRecord,
    aliases: &[String],
    ip: Ipv4Addr,
    network: &str,
) {
    let cname = rec.name.trim_start_matches('/');
    let addr = IpAddr::V4(ip);
    table.add(cname, addr);
    table.add(&rec.id[..12], addr);
    for a in aliases {
        table.add(a, addr);
    }
    table.set_reverse(addr, &format!("{cname}.{network}"));
}

/// The host port recorded for a request before a daemon restart.
fn recorded_host_port(rec: &ContainerRecord, req: &PortRequest) -> Option<u16> {
    let key = format!("{}/{}", req.container_port, req.proto);
    rec.ports
        .get(&key)?
        .iter()
        .find_map(|(_, hp)| hp.parse().ok())
}

impl Engine {
    /// Docker's `NetworkSettings` of a container (inspect).
    pub fn network_settings_json(&self, rec: &ContainerRecord) -> Value {
        let mut networks = serde_json::Map::new();
        for (name, ep) in self.ordered_endpoints(rec) {
            networks.insert(
                name.clone(),
                json!({
                    "IPAMConfig": ep.requested_ip.map(|ip| json!({"IPv4Address": ip.to_string()})),
                    "Links": if ep.links.is_empty() { Value::Null } else { json!(ep.links) },
                    "Aliases": if ep.aliases.is_empty() { Value::Null } else { json!(ep.aliases) },
                    "MacAddress": ep.mac,
                    "DriverOpts": null,
                    "GwPriority": 0,
                    "NetworkID": ep.network_id,
                    "EndpointID": ep.endpoint_id,
                    "Gateway": ep.gateway.map(|g| g.to_string()).unwrap_or_default(),
                    "IPAddress": ep.ip.map(|i| i.to_string()).unwrap_or_default(),
                    "IPPrefixLen": if ep.ip.is_some() { ep.prefix_len } else { 0 },
                    "IPv6Gateway": "",
                    "GlobalIPv6Address": "",
                    "GlobalIPv6PrefixLen": 0,
                    "DNSNames": if name == "bridge" || ep.ip.is_none() { Value::Null } else {
                        let mut n = vec![rec.name.trim_start_matches('/').to_string(), rec.id[..12].to_string()];
                        n.extend(ep.aliases.iter().cloned());
                        json!(n)
                    },
                }),
            );
        }
        let mut ports = serde_json::Map::new();
        if let Some(m) = rec.config["ExposedPorts"].as_object() {
            for k in m.keys() {
                let key = if k.contains('/') {
                    k.clone()
                } else {
                    format!("{k}/tcp")
                };
                ports.insert(key, Value::Null);
            }
        }
        if let Some(m) = rec.host_config["PortBindings"].as_object() {
            for k in m.keys() {
                let key = if k.contains('/') {
                    k.clone()
                } else {
                    format!("{k}/tcp")
                };
                ports.entry(key).or_insert(Value::Null);
            }
        }
        if rec.state.running {
            for (k, list) in &rec.ports {
                ports.insert(
                    k.clone(),
                    json!(list
                        .iter()
                        .map(|(ip, port)| json!({"HostIp": ip, "HostPort": port}))
                        .collect::<Vec<_>>()),
                );
            }
        }
        let bridge = rec.endpoints.get("bridge");
        let field = |f: &dyn Fn(&Endpoint) -> Value, default: Value| -> Value {
            bridge.map(f).unwrap_or(default)
        };
        json!({
            "Bridge": "",
            "SandboxID": if rec.state.running { rec.id.clone() } else { String::new() },
            "SandboxKey": if rec.state.running && rec.state.pid > 0 { format!("/proc/{}/ns/net", rec.state.pid) } else { String::new() },
            "Ports": ports,
            "HairpinMode": false,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "SecondaryIPAddresses": null,
            "SecondaryIPv6Addresses": null,
            "EndpointID": field(&|e| json!(e.endpoint_id), json!("")),
            "Gateway": field(&|e| json!(e.gateway.map(|g| g.to_string()).unwrap_or_default()), json!("")),
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "IPAddress": field(&|e| json!(e.ip.map(|i| i.to_string()).unwrap_or_default()), json!("")),
            "IPPrefixLen": field(&|e| json!(if e.ip.is_some() { e.prefix_len } else { 0 }), json!(0)),
            "IPv6Gateway": "",
            "MacAddress": field(&|e| json!(e.mac), json!("")),
            "Networks": networks,
        })
    }

    /// The `Ports` list of `GET /containers/json`.
    pub fn ps_ports(&self, rec: &ContainerRecord) -> Value {
        let mut out = Vec::new();
        let mut published = std::collections::HashSet::new();
        if rec.state.running {
            for (k, list) in &rec.ports {
                let (port, proto) = k.split_once('/').unwrap_or((k.as_str(), "tcp"));
                let port: u64 = port.parse().unwrap_or(0);
                published.insert(k.clone());
                for (ip, hp) in list {
                    out.push(json!({
                        "IP": ip,
                        "PrivatePort": port,
                        "PublicPort": hp.parse::<u64>().unwrap_or(0),
                        "Type": proto,
                    }));
                }
            }
        }
        if let Some(m) = rec.config["ExposedPorts"].as_object() {
            for k in m.keys() {
                let key = if k.contains('/') {
                    k.clone()
                } else {
                    format!("{k}/tcp")
                };
                if published.contains(&key) {
                    continue;
                }
                let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
                out.push(json!({"PrivatePort": port.parse::<u64>().unwrap_or(0), "Type": proto}));
            }
        }
        json!(out)
    }

    /// The `NetworkSettings.Networks` summary of `GET /containers/json`.
    pub fn ps_networks(&self, rec: &ContainerRecord) -> Value {
        let v = self.network_settings_json(rec);
        json!({"Networks": v["Networks"]})
    }
}

impl Engine {
    /// The embedded DNS server for a running container on user networks.
    async fn start_dns(
        &self,
        rec: &ContainerRecord,
        ns: &std::path::Path,
    ) -> Result<Option<DnsServer>> {
        let tables: Vec<Arc<NameTable>> = self.with_net(|inner| {
            rec.endpoints
                .iter()
                .filter(|(name, _)| *name != "bridge")
                .filter_map(|(_, ep)| inner.names.get(&ep.network_id).cloned())
                .collect()
        })?;
        if tables.is_empty() {
            return Ok(None);
        }
        let (udp, tcp) = berth_network::dns::bind_in_netns(
            ns,
            SocketAddr::new(IpAddr::V4(berth_network::dns::EMBEDDED_DNS_ADDR), 53),
        )
        .await
        .map_err(err)?;
        let server = DnsServer::start(
            udp,
            Some(tcp),
            Arc::new(Resolver(tables)),
            self.dns_config(rec),
        )
        .map_err(err)?;
        Ok(Some(server))
    }

    /// How a container's embedded DNS server forwards names it does not
    /// know: to the container's `--dns` servers, else the host's (loopback
    /// resolvers included: forwarding is done from the daemon's namespace);
    /// not at all when every network the container is
    /// on is `--internal`, as Docker does.
    fn dns_config(&self, rec: &ContainerRecord) -> DnsConfig {
        let dns: Vec<SocketAddr> = strings(rec.host_config.get("Dns"))
            .iter()
            .filter_map(|s| s.parse::<IpAddr>().ok())
            .map(|ip| SocketAddr::new(ip, 53))
            .collect();
        let upstreams = if dns.is_empty() {
            let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            berth_network::dns::upstreams_from_resolv_conf(&host)
        } else {
            dns
        };
        let forward = rec.endpoints.values().any(|ep| {
            self.resolve_network(&ep.network_id)
                .map(|n| !n.internal)
                .unwrap_or(false)
        });
        DnsConfig { upstreams, forward }
    }

    /// Rewrites a running container's /etc/hosts in place (it is
    /// bind-mounted: a rename would not be seen).
    fn refresh_hosts(&self, rec: &ContainerRecord) {
        let d = self.container_dirs(&rec.id);
        let path = d.root.join("hosts");
        let Ok(old) = std::fs::read_to_string(&path) else {
            return;
        };
        let hostname = rec.config["Hostname"]
            .as_str()
            .unwrap_or(&rec.id[..12])
            .to_string();
        let domain = rec.config["Domainname"].as_str().unwrap_or("");
        let fqdn = if domain.is_empty() {
            hostname.clone()
        } else {
            format!("{hostname}.{domain} {hostname}")
        };
        let mut kept: String = old
            .lines()
            .filter(|l| !l.ends_with(&format!("\t{fqdn}")))
            .map(|l| format!("{l}\n"))
            .collect();
        let own = self.hosts_entries(rec, &fqdn);
        kept.push_str(if own.is_empty() { "" } else { &own });
        let _ = std::fs::write(&path, kept);
        for joiner in self.namespace_joiners(rec) {
            self.share_etc_files(&joiner);
        }
    }

    /// `POST /networks/{id}/connect`.
    pub fn connect_network(&self, network: &str, container: &str, cfg: &Value) -> Result<()> {
        let n = self.resolve_network(network)?;
        let mut rec = self.resolve_container(container)?;
        let mode = rec.host_config["NetworkMode"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if mode == "host" || mode == "none" || mode.starts_with("container:") {
            return Err(EngineError::forbidden(
                "container sharing network namespace with another container or host cannot be connected to any other network",
            ));
        }
        if n.driver == "host" || n.driver == "null" {
            return Err(EngineError::forbidden(format!(
                "container cannot be disconnected from host network or connected to {} network",
                n.name
            )));
        }
        if rec.endpoints.values().any(|e| e.network_id == n.id) {
            return Err(EngineError::forbidden(format!(
                "endpoint with name {} already exists in network {}",
                rec.name.trim_start_matches('/'),
                n.name
            )));
        }
        let mut hc = json!({"NetworkMode": n.name});
        let planned =
            self.plan_endpoints(&mut hc, &json!({"EndpointsConfig": {n.name.clone(): cfg}}))?;
        let Some(mut ep) = planned.get(&n.name).cloned() else {
            return Err(EngineError::internal("planning the endpoint failed"));
        };
        if rec.state.running && rec.state.pid > 0 {
            let _guard = self.network_lock.lock();
            let mut nrec = self.resolve_network(&n.id)?;
            let ipam = nrec.ipam.as_mut().ok_or_else(|| {
                EngineError::internal(format!("network {} has no addresses", n.name))
            })?;
            let ip = ipam
                .allocate(ep.requested_ip)
                .map_err(|e| EngineError::invalid(format!("{e}: {} ({})", n.name, n.id)))?;
            ep.prefix_len = ipam.prefix_len();
            ep.gateway = Some(ipam.gateway);
            self.save_network(&nrec)?;
            drop(_guard);
            ep.ip = Some(ip);
            ep.mac = ep.requested_mac.clone().unwrap_or_else(|| {
                berth_network::link::format_mac(&berth_network::link::mac_for_ip(ip))
            });
            let used: Vec<String> = rec.endpoints.values().map(|e| e.ifname.clone()).collect();
            ep.ifname = (0..)
                .map(|i| format!("eth{i}"))
                .find(|n| !used.contains(n))
                .unwrap_or_else(|| "eth9".into());
            ep.host_veth = berth_network::link::random_veth_name();
            ep.endpoint_id = crate::containers::new_id()?;
            let ns = PathBuf::from(format!("/proc/{}/ns/net", rec.state.pid));
            let cfg = EndpointConfig {
                ifname: ep.ifname.clone(),
                address: ip,
                prefix_len: ep.prefix_len,
                gateway: None,
                mac: Some(berth_network::link::parse_mac(&ep.mac).map_err(err)?),
                mtu: None,
                hairpin: !self.config.network.userland_proxy,
            };
            let attached = self.block_on_net(async {
                let nl = Netlink::host().map_err(err)?;
                if n.driver == "bridge" {
                    self.ensure_bridge(&nl, &n).await?;
                    nl.attach_veth(&n.device, &ep.host_veth, &ns, &cfg)
                        .await
                        .map_err(err)?;
                } else {
                    nl.attach_macvlan(&n.device, &ns, &cfg).await.map_err(err)?;
                }
                Ok::<(), EngineError>(())
            });
            if let Err(e) = attached {
                let _g = self.network_lock.lock();
                if let Ok(mut nrec) = self.resolve_network(&n.id) {
                    if let Some(ipam) = nrec.ipam.as_mut() {
                        ipam.release(ip);
                    }
                    let _ = self.save_network(&nrec);
                }
                return Err(e);
            }
            if n.name != "bridge" {
                let table = self.with_net(|inner| {
                    inner
                        .names
                        .entry(n.id.clone())
                        .or_insert_with(|| Arc::new(NameTable::new()))
                        .clone()
                })?;
                let addr = IpAddr::V4(ip);
                table.add(rec.name.trim_start_matches('/'), addr);
                table.add(&rec.id[..12], addr);
                for a in &ep.aliases {
                    table.add(a, addr);
                }
            }
            rec.endpoints.insert(n.name.clone(), ep);
            // The DNS server again, with this network's names.
            let old =
                self.with_net(|inner| inner.running.get_mut(&rec.id).and_then(|r| r.dns.take()))?;
            let dns = self.block_on_net(async {
                if let Some(d) = old {
                    d.stop().await;
                }
                self.start_dns(&rec, &ns).await
            })?;
            self.with_net(|inner| {
                inner.running.entry(rec.id.clone()).or_default().dns = dns;
            })?;
            self.save_container(&rec)?;
            self.refresh_hosts(&rec);
        } else {
            rec.endpoints.insert(n.name.clone(), ep);
            self.save_container(&rec)?;
        }
        self.network_event(&n, "connect", &[("container", rec.id.clone())]);
        Ok(())
    }

    /// `POST /networks/{id}/disconnect`. With `force`, a network that no
    /// longer exists is dropped from a container's settings (what is left
    /// of a network removed while the container was stopped).
    pub fn disconnect_network(&self, network: &str, container: &str, force: bool) -> Result<()> {
        let n = match self.resolve_network(network) {
            Ok(n) => n,
            Err(e) if force && e.kind == crate::error::ErrorKind::NotFound => {
                let mut rec = self.resolve_container(container)?;
                let stale = rec
                    .endpoints
                    .iter()
                    .find(|(name, ep)| {
                        (*name == network || ep.network_id == network)
                            && self.resolve_network(&ep.network_id).is_err()
                    })
                    .map(|(name, _)| name.clone());
                let Some(stale) = stale else { return Err(e) };
                rec.endpoints.remove(&stale);
                self.save_container(&rec)?;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let mut rec = self.resolve_container(container)?;
        if n.driver == "host" {
            return Err(EngineError::forbidden(
                "container cannot be disconnected from host network or connected to host network",
            ));
        }
        let Some((name, ep)) = rec
            .endpoints
            .iter()
            .find(|(_, e)| e.network_id == n.id)
            .map(|(k, e)| (k.clone(), e.clone()))
        else {
            return Err(EngineError::forbidden(format!(
                "container {} is not connected to network {}",
                rec.id, n.name
            )));
        };
        if rec.state.running && rec.state.pid > 0 {
            let ns = PathBuf::from(format!("/proc/{}/ns/net", rec.state.pid));
            let ifname = ep.ifname.clone();
            let veth = ep.host_veth.clone();
            self.block_on_net(async {
                let _ = berth_network::link::remove_container_interface(&ns, &ifname).await;
                if let Ok(nl) = Netlink::host() {
                    if !veth.is_empty() {
                        let _ = nl.delete_link(&veth).await;
                    }
                }
            });
            if let Some(ip) = ep.ip {
                let _ = self.with_net(|inner| {
                    if let Some(t) = inner.names.get(&n.id) {
                        t.remove_address(IpAddr::V4(ip));
                    }
                });
                let _g = self.network_lock.lock();
                if let Ok(mut nrec) = self.resolve_network(&n.id) {
                    if let Some(ipam) = nrec.ipam.as_mut() {
                        ipam.release(ip);
                    }
                    let _ = self.save_network(&nrec);
                }
            }
            rec.endpoints.remove(&name);
            let old =
                self.with_net(|inner| inner.running.get_mut(&rec.id).and_then(|r| r.dns.take()))?;
            let dns = self.block_on_net(async {
                if let Some(d) = old {
                    d.stop().await;
                }
                self.start_dns(&rec, &ns).await
            })?;
            self.with_net(|inner| {
                inner.running.entry(rec.id.clone()).or_default().dns = dns;
            })?;
            self.save_container(&rec)?;
            self.refresh_hosts(&rec);
        } else {
            rec.endpoints.remove(&name);
            self.save_container(&rec)?;
        }
        self.network_event(&n, "disconnect", &[("container", rec.id.clone())]);
        Ok(())
    }
}
