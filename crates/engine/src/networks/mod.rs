//! Networks: Docker's `bridge`, `host` and `none` (present from the first
//! start), user-defined bridge and macvlan networks, their records in the
//! store (with their address allocations), and the API's network
//! operations (create, list, inspect, remove, prune, connect, disconnect).
//! What a container gets on a network (its interface, address, published
//! ports, embedded DNS) is in [`endpoints`].

pub mod endpoints;

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use berth_network::dns::NameTable;
use berth_network::ipam::{AddressPool, AddressSpace, IpamConfig, NetworkIpam};
use berth_store::Table;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{EngineError, Result};
use crate::images::now_rfc3339;
use crate::Engine;

/// Network records, by ID.
pub const NETWORKS: Table = Table("networks");

/// Networking settings of the daemon (`--bip`, `--fixed-cidr`,
/// `--default-address-pool`, `--userland-proxy`, `--iptables`, and berth's
/// `--net-prefix` for device and table names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// Names berth's devices and nftables table: the default bridge is
    /// `<prefix>0`, the table `<prefix>`.
    pub prefix: String,
    /// `--bip`: the default bridge's address and prefix (`172.17.0.1/16`).
    pub bip: Option<String>,
    /// `--fixed-cidr`: the range containers of `bridge` get addresses from.
    pub fixed_cidr: Option<String>,
    /// `--default-address-pool base=…,size=…`.
    pub pools: Vec<String>,
    /// `--userland-proxy` (default true).
    pub userland_proxy: bool,
    /// `--iptables` (default true): berth manages its nftables table.
    pub firewall: bool,
    /// `--ip-forward` (default true): set the host's `net.ipv4.ip_forward`.
    pub ip_forward: bool,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            prefix: "berth".into(),
            bip: None,
            fixed_cidr: None,
            pools: Vec::new(),
            userland_proxy: true,
            firewall: true,
            ip_forward: true,
        }
    }
}

/// A network, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetworkRecord {
    /// 64 hex characters.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// `bridge`, `macvlan`, `host` or `null`.
    pub driver: String,
    /// RFC 3339.
    pub created: String,
    /// `--internal`.
    pub internal: bool,
    /// `--attachable`.
    pub attachable: bool,
    /// Driver options (`-o`).
    pub options: BTreeMap<String, String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// IPAM configuration as the user gave it.
    pub ipam_config: Vec<IpamConfig>,
    /// Address allocation state (bridge and macvlan).
    pub ipam: Option<NetworkIpam>,
    /// The bridge device (bridge) or parent interface (macvlan).
    pub device: String,
    /// The bridge was the host's before the network named it
    /// (`-o com.docker.network.bridge.name=`): berth uses it, as Docker
    /// does, but never deletes it nor changes its sysctls beyond forwarding.
    #[serde(default)]
    pub user_bridge: bool,
}

impl NetworkRecord {
    /// Whether containers on it get an interface of their own.
    pub fn has_interfaces(&self) -> bool {
        matches!(self.driver.as_str(), "bridge" | "macvlan")
    }

    /// Docker's built-in networks cannot be removed.
    pub fn predefined(&self) -> bool {
        matches!(self.name.as_str(), "bridge" | "host" | "none")
    }
}

/// In-memory networking state: address pools, host ports, per-container
/// proxies and DNS servers, per-network name tables.
#[derive(Default)]
pub struct NetState {
    pub(crate) inner: Mutex<NetInner>,
    /// The nftables script last applied to berth's table (held while a new
    /// one is made and applied, so updates never cross): a container that
    /// changes nothing in the table costs no `nft` run.
    pub(crate) applied_rules: tokio::sync::Mutex<Option<String>>,
}

/// The state behind [`NetState`]'s lock.
#[derive(Default)]
pub(crate) struct NetInner {
    pub(crate) space: Option<AddressSpace>,
    pub(crate) ports: Option<berth_network::ports::PortAllocator>,
    pub(crate) running: HashMap<String, endpoints::RunningNet>,
    pub(crate) names: HashMap<String, Arc<NameTable>>,
}

fn parse_ip(s: &str, what: &str) -> Result<Ipv4Addr> {
    s.parse()
        .map_err(|_| EngineError::invalid(format!("invalid {what}: {s}")))
}

impl Engine {
    /// All network records.
    pub fn network_records(&self) -> Result<Vec<NetworkRecord>> {
        let mut v: Vec<NetworkRecord> = self
            .store
            .list::<NetworkRecord>(NETWORKS)?
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        v.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
        Ok(v)
    }

    /// Finds a network by full ID, name, or unique ID prefix (Docker's order).
    pub fn resolve_network(&self, name: &str) -> Result<NetworkRecord> {
        let all = self.network_records()?;
        if let Some(n) = all.iter().find(|n| n.id == name) {
            return Ok(n.clone());
        }
        if let Some(n) = all.iter().find(|n| n.name == name) {
            return Ok(n.clone());
        }
        let by_prefix: Vec<&NetworkRecord> = if name.is_empty() {
            Vec::new()
        } else {
            all.iter().filter(|n| n.id.starts_with(name)).collect()
        };
        match by_prefix.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(EngineError::not_found(format!("network {name} not found"))),
            _ => Err(EngineError::invalid(format!(
                "network {name} is ambiguous ({} matches found on name)",
                by_prefix.len()
            ))),
        }
    }

    pub(crate) fn save_network(&self, n: &NetworkRecord) -> Result<()> {
        self.store.write(|tx| tx.put(NETWORKS, &n.id, n))?;
        Ok(())
    }

    fn address_pools(&self) -> Result<Vec<AddressPool>> {
        if self.config.network.pools.is_empty() {
            return Ok(berth_network::ipam::default_pools());
        }
        self.config
            .network
            .pools
            .iter()
            .map(|p| AddressPool::parse(p).map_err(|e| EngineError::invalid(e.to_string())))
            .collect()
    }

    /// Device names of bridges of this daemon's networks.
    pub(crate) fn bridge_name(&self, id: &str, name: &str) -> String {
        let prefix = &self.config.network.prefix;
        if name == "bridge" {
            return format!("{prefix}0");
        }
        let mut n = if prefix == "berth" {
            format!("br-{}", &id[..12])
        } else {
            format!("{prefix}{}", &id[..12])
        };
        n.truncate(15);
        n
    }

    /// Loads the address space (pools and the subnets in use) and makes the
    /// predefined networks on first start. Called by `Engine::open`.
    pub(crate) fn init_networks(&self) -> Result<()> {
        let mut space = AddressSpace::new(self.address_pools()?);
        let mut records = self.network_records()?;
        let readdressed = self.readdress_default_bridge(&mut records)?;
        for n in &records {
            if let Some(ipam) = &n.ipam {
                space
                    .allocate_subnet(&n.id, Some(ipam.subnet), &[])
                    .map_err(|e| EngineError::internal(format!("network {}: {e}", n.name)))?;
            }
        }
        if let Some(mut n) = readdressed {
            let cfg = n.ipam_config.first().cloned().unwrap_or_default();
            berth_network::ipam::validate(&cfg).map_err(|e| EngineError::invalid(e.to_string()))?;
            n.ipam = Some(
                space
                    .create_network(&n.id, &cfg, &self.host_routes())
                    .map_err(|e| EngineError::invalid(e.to_string()))?,
            );
            self.save_network(&n)?;
            records.push(n);
        }
        if let Ok(mut inner) = self.net.inner.lock() {
            inner.space = Some(space);
            inner.ports = Some(berth_network::ports::PortAllocator::new());
            for n in &records {
                inner.names.insert(n.id.clone(), Arc::new(NameTable::new()));
            }
        }
        for (name, driver) in [("bridge", "bridge"), ("host", "host"), ("none", "null")] {
            if records.iter().any(|n| n.name == name) {
                continue;
            }
            let ipam = if name == "bridge" {
                self.default_bridge_ipam()?
            } else {
                Vec::new()
            };
            let mut options = BTreeMap::new();
            if name == "bridge" {
                for (k, v) in [
                    ("com.docker.network.bridge.default_bridge", "true"),
                    ("com.docker.network.bridge.enable_icc", "true"),
                    ("com.docker.network.bridge.enable_ip_masquerade", "true"),
                    ("com.docker.network.bridge.host_binding_ipv4", "0.0.0.0"),
                    ("com.docker.network.driver.mtu", "1500"),
                ] {
                    options.insert(k.to_string(), v.to_string());
                }
            }
            self.create_network_record(name, driver, ipam, options, BTreeMap::new(), false, false)?;
        }
        Ok(())
    }

    /// The default bridge's IPAM configuration from `--bip` and
    /// `--fixed-cidr` (empty: a subnet from the address pools).
    fn default_bridge_ipam(&self) -> Result<Vec<IpamConfig>> {
        let mut ipam = Vec::new();
        if let Some(bip) = &self.config.network.bip {
            let (gw, len) = bip.split_once('/').ok_or_else(|| {
                EngineError::invalid(format!("invalid --bip {bip}: want ADDRESS/PREFIX"))
            })?;
            let gw_ip = parse_ip(gw, "bip")?;
            let len: u8 = len
                .parse()
                .map_err(|_| EngineError::invalid(format!("invalid --bip {bip}")))?;
            let net = ipnet::Ipv4Net::new(gw_ip, len)
                .map_err(|_| EngineError::invalid(format!("invalid --bip {bip}")))?
                .trunc();
            ipam.push(IpamConfig {
                subnet: Some(net.to_string()),
                ip_range: self.config.network.fixed_cidr.clone(),
                gateway: Some(gw_ip.to_string()),
                aux_addresses: BTreeMap::new(),
            });
        } else if let Some(fixed) = &self.config.network.fixed_cidr {
            // As dockerd: without --bip, the bridge's subnet is the
            // network of --fixed-cidr.
            let net: ipnet::Ipv4Net = fixed.parse().map_err(|_| {
                EngineError::invalid(format!("invalid --fixed-cidr {fixed}: want ADDRESS/PREFIX"))
            })?;
            ipam.push(IpamConfig {
                subnet: Some(net.trunc().to_string()),
                ip_range: Some(fixed.clone()),
                gateway: None,
                aux_addresses: BTreeMap::new(),
            });
        }
        Ok(ipam)
    }

    /// At start-up, a default bridge made under other `--bip` /
    /// `--fixed-cidr` flags takes the new addresses (as dockerd, which makes
    /// it anew at each start): same network ID, new subnet, its device
    /// removed so it is made again with the new gateway. While containers
    /// run on it (live restore) it keeps its addresses until a later start.
    fn readdress_default_bridge(
        &self,
        records: &mut Vec<NetworkRecord>,
    ) -> Result<Option<NetworkRecord>> {
        let Some(pos) = records
            .iter()
            .position(|n| n.name == "bridge" && n.driver == "bridge")
        else {
            return Ok(None);
        };
        let wanted = self.default_bridge_ipam()?;
        if records[pos].ipam_config == wanted {
            return Ok(None);
        }
        let running: Vec<String> = self
            .network_members(&records[pos])?
            .iter()
            .filter(|(c, _)| c.state.running)
            .map(|(c, _)| c.name.trim_start_matches('/').to_string())
            .collect();
        if !running.is_empty() {
            tracing::warn!(
                "the default bridge keeps its addresses while containers run on it ({}): the new --bip/--fixed-cidr apply at the next start without them",
                running.join(", ")
            );
            return Ok(None);
        }
        let mut n = records.remove(pos);
        tracing::info!("default bridge: new addresses from --bip/--fixed-cidr");
        self.delete_bridge_device(&n);
        n.ipam_config = wanted;
        n.ipam = None;
        Ok(Some(n))
    }

    /// Deletes a bridge network's device, unless the bridge was the host's
    /// before the network named it.
    fn delete_bridge_device(&self, n: &NetworkRecord) {
        if n.driver != "bridge" || n.user_bridge {
            return;
        }
        let dev = n.device.clone();
        self.block_on_net(async move {
            if let Ok(nl) = berth_network::link::Netlink::host() {
                let _ = nl.delete_link(&dev).await;
            }
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn create_network_record(
        &self,
        name: &str,
        driver: &str,
        ipam_config: Vec<IpamConfig>,
        options: BTreeMap<String, String>,
        labels: BTreeMap<String, String>,
        internal: bool,
        attachable: bool,
    ) -> Result<NetworkRecord> {
        let id = crate::containers::new_id()?;
        let mut device = String::new();
        let mut ipam = None;
        if driver == "bridge" || driver == "macvlan" {
            let cfg = ipam_config.first().cloned().unwrap_or_default();
            berth_network::ipam::validate(&cfg).map_err(|e| EngineError::invalid(e.to_string()))?;
            let reserved = self.host_routes();
            let mut inner = self
                .net
                .inner
                .lock()
                .map_err(|_| EngineError::internal("network state poisoned"))?;
            let space = inner
                .space
                .as_mut()
                .ok_or_else(|| EngineError::internal("networking is not initialised"))?;
            let n = space
                .create_network(&id, &cfg, &reserved)
                .map_err(|e| EngineError::invalid(e.to_string()))?;
            inner.names.insert(id.clone(), Arc::new(NameTable::new()));
            ipam = Some(n);
            device = if driver == "bridge" {
                options
                    .get("com.docker.network.bridge.name")
                    .cloned()
                    .unwrap_or_else(|| self.bridge_name(&id, name))
            } else {
                options.get("parent").cloned().unwrap_or_default()
            };
        }
        let mut user_bridge = false;
        if driver == "bridge" {
            let refuse = |e: EngineError| {
                self.release_subnet(&id);
                Err(e)
            };
            // Docker's check: two networks cannot share a bridge.
            if let Some(other) = self
                .network_records()
                .unwrap_or_default()
                .into_iter()
                .find(|n| n.driver == "bridge" && n.device == device)
            {
                return refuse(EngineError::forbidden(format!(
                    "cannot create network {id} ({device}): conflicts with network {} ({device}): networks have same bridge name",
                    other.id
                )));
            }
            // A bridge of the host's own is used as it is and left alone
            // when the network goes; any other device of that name is refused.
            if options.contains_key("com.docker.network.bridge.name") {
                let sys = std::path::Path::new("/sys/class/net").join(&device);
                if sys.join("bridge").is_dir() {
                    user_bridge = true;
                } else if sys.exists() {
                    return refuse(EngineError::invalid(format!(
                        "cannot use {device} as the network's bridge: the host has a network interface of that name that is not a bridge"
                    )));
                }
            }
        }
        let rec = NetworkRecord {
            id: id.clone(),
            name: name.to_string(),
            driver: driver.to_string(),
            created: now_rfc3339(),
            internal,
            attachable,
            options,
            labels,
            ipam_config,
            ipam,
            device,
            user_bridge,
        };
        if let Err(e) = self.save_network(&rec) {
            self.release_subnet(&id);
            return Err(e);
        }
        Ok(rec)
    }

    fn release_subnet(&self, id: &str) {
        if let Ok(mut inner) = self.net.inner.lock() {
            if let Some(space) = inner.space.as_mut() {
                space.release_subnet(id);
            }
            inner.names.remove(id);
        }
    }

    /// The host's routes (their subnets are not handed out).
    fn host_routes(&self) -> Vec<ipnet::Ipv4Net> {
        // /proc/net/route: Iface Destination Gateway Flags … Mask (hex, LE).
        let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
        let hex = |s: &str| {
            u32::from_str_radix(s, 16)
                .ok()
                .map(|v| Ipv4Addr::from(v.swap_bytes()))
        };
        let routes: Vec<ipnet::Ipv4Net> = text
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let dest = hex(f.get(1)?)?;
                let mask = hex(f.get(7)?)?;
                let len = u32::from(mask).leading_ones() as u8;
                (len > 0)
                    .then(|| ipnet::Ipv4Net::new(dest, len).ok())
                    .flatten()
            })
            .collect();
        // Our own bridges' routes are our own subnets: already accounted.
        let own: Vec<ipnet::Ipv4Net> = self
            .network_records()
            .unwrap_or_default()
            .iter()
            .filter_map(|n| n.ipam.as_ref().map(|i| i.subnet))
            .collect();
        routes.into_iter().filter(|r| !own.contains(r)).collect()
    }

    /// `POST /networks/create`.
    pub fn create_network(&self, body: &Value) -> Result<(String, String)> {
        let name = body["Name"].as_str().unwrap_or("").to_string();
        if name.is_empty() {
            return Err(EngineError::invalid("network name is required"));
        }
        if !crate::containers::valid_name(&name) {
            return Err(EngineError::invalid(format!(
                "invalid network name \"{name}\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let driver = body["Driver"]
            .as_str()
            .filter(|d| !d.is_empty())
            .unwrap_or("bridge");
        match driver {
            "bridge" | "macvlan" => {}
            "host" | "null" => {
                return Err(EngineError::forbidden(format!(
                    "only one instance of \"{driver}\" network is allowed"
                )))
            }
            d => return Err(EngineError::not_found(format!("plugin \"{d}\" not found"))),
        }
        if body["EnableIPv6"].as_bool() == Some(true) {
            return Err(EngineError::invalid(
                "IPv6 networks are not supported by berth yet",
            ));
        }
        let _guard = self.network_lock.lock();
        if self.network_records()?.iter().any(|n| n.name == name) {
            return Err(EngineError::conflict(format!(
                "network with name {name} already exists"
            )));
        }
        let map = |v: &Value| -> BTreeMap<String, String> {
            v.as_object()
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                        .collect()
                })
                .unwrap_or_default()
        };
        let options = map(&body["Options"]);
        if driver == "macvlan" {
            let parent = options.get("parent").cloned().unwrap_or_default();
            if parent.is_empty() {
                return Err(EngineError::invalid(
                    "macvlan needs a parent interface: -o parent=IFACE",
                ));
            }
            let exists = berth_network::link::validate_ifname(&parent).is_ok()
                && std::path::Path::new("/sys/class/net")
                    .join(&parent)
                    .exists();
            if !exists {
                return Err(EngineError::invalid(format!(
                    "-o parent interface was not found on the host: {parent}"
                )));
            }
        }
        if let Some(b) = options.get("com.docker.network.bridge.name") {
            berth_network::link::validate_ifname(b)
                .map_err(|e| EngineError::invalid(e.to_string()))?;
        }
        let mut ipam_config = Vec::new();
        if let Some(list) = body["IPAM"]["Config"].as_array() {
            for c in list {
                ipam_config.push(IpamConfig {
                    subnet: c["Subnet"]
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .map(String::from),
                    ip_range: c["IPRange"]
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .map(String::from),
                    gateway: c["Gateway"]
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .map(String::from),
                    aux_addresses: map(&c["AuxiliaryAddresses"]),
                });
            }
        }
        if ipam_config.len() > 1 {
            return Err(EngineError::invalid(
                "berth supports one IPv4 subnet per network",
            ));
        }
        let rec = self.create_network_record(
            &name,
            driver,
            ipam_config,
            options,
            map(&body["Labels"]),
            body["Internal"].as_bool() == Some(true),
            body["Attachable"].as_bool() == Some(true),
        )?;
        if rec.driver == "bridge" {
            self.apply_firewall();
        }
        self.network_event(&rec, "create", &[]);
        Ok((rec.id, String::new()))
    }

    /// Publishes a network event (Docker's attributes: name, type).
    pub(crate) fn network_event(&self, n: &NetworkRecord, action: &str, extra: &[(&str, String)]) {
        let mut a: BTreeMap<String, String> =
            crate::events::attrs([("name", n.name.clone()), ("type", n.driver.clone())]);
        for (k, v) in extra {
            a.insert((*k).to_string(), v.clone());
        }
        self.events.publish("network", action, &n.id, a);
    }

    /// Containers (ID, name, endpoint) attached to a network.
    fn network_members(
        &self,
        n: &NetworkRecord,
    ) -> Result<Vec<(crate::containers::ContainerRecord, endpoints::Endpoint)>> {
        Ok(self
            .container_records()?
            .into_iter()
            .filter_map(|c| {
                let ep = c.endpoints.get(&n.name).cloned()?;
                (ep.network_id == n.id).then_some((c, ep))
            })
            .collect())
    }

    /// Docker's JSON for a network (`GET /networks/{id}`).
    pub fn network_json(&self, n: &NetworkRecord, verbose_members: bool) -> Result<Value> {
        let mut containers = serde_json::Map::new();
        if verbose_members {
            for (c, ep) in self.network_members(n)? {
                if !c.state.running || ep.ip.is_none() {
                    continue;
                }
                containers.insert(
                    c.id.clone(),
                    json!({
                        "Name": c.name.trim_start_matches('/'),
                        "EndpointID": ep.endpoint_id,
                        "MacAddress": ep.mac,
                        "IPv4Address": ep.ip.map(|ip| format!("{ip}/{}", ep.prefix_len)).unwrap_or_default(),
                        "IPv6Address": "",
                    }),
                );
            }
        }
        let config: Vec<Value> = match &n.ipam {
            Some(i) => {
                let mut c =
                    json!({"Subnet": i.subnet.to_string(), "Gateway": i.gateway.to_string()});
                if let Some(r) = i.ip_range {
                    c["IPRange"] = json!(r.to_string());
                }
                if !i.aux_addresses.is_empty() {
                    c["AuxiliaryAddresses"] = json!(i
                        .aux_addresses
                        .iter()
                        .map(|(k, v)| (k.clone(), json!(v.to_string())))
                        .collect::<serde_json::Map<_, _>>());
                }
                vec![c]
            }
            None => Vec::new(),
        };
        Ok(json!({
            "Name": n.name,
            "Id": n.id,
            "Created": n.created,
            "Scope": "local",
            "Driver": n.driver,
            "EnableIPv4": true,
            "EnableIPv6": false,
            "IPAM": {"Driver": "default", "Options": null, "Config": config},
            "Internal": n.internal,
            "Attachable": n.attachable,
            "Ingress": false,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": false,
            "Containers": containers,
            "Options": n.options,
            "Labels": n.labels,
        }))
    }

    /// `GET /networks`, with Docker's filters (driver, id, label, name,
    /// scope, type, dangling).
    pub fn list_networks(&self, filters: Option<&str>) -> Result<Vec<Value>> {
        let f = crate::images::parse_filters(filters)?;
        for k in f.keys() {
            if !["driver", "id", "label", "name", "scope", "type", "dangling"].contains(&k.as_str())
            {
                return Err(EngineError::invalid(format!("invalid filter '{k}'")));
            }
        }
        // Only running containers hold endpoints.
        let used: std::collections::HashSet<String> = self
            .container_records()?
            .iter()
            .filter(|c| c.state.running)
            .flat_map(|c| {
                c.endpoints
                    .values()
                    .map(|e| e.network_id.clone())
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut out = Vec::new();
        for n in self.network_records()? {
            let ok = |k: &str, pred: &dyn Fn(&str) -> bool| -> bool {
                f.get(k)
                    .map(|vals| vals.iter().any(|v| pred(v)))
                    .unwrap_or(true)
            };
            let label_ok = labels_match(f.get("label"), &n.labels);
            if !(ok("driver", &|v| v == n.driver)
                && ok("id", &|v| n.id.starts_with(v))
                && ok("name", &|v| n.name.contains(v))
                && ok("scope", &|v| v == "local")
                && ok("type", &|v| {
                    (v == "builtin") == n.predefined() && (v == "builtin" || v == "custom")
                })
                && ok("dangling", &|v| {
                    let dangling = !n.predefined() && !used.contains(&n.id);
                    (v == "true" || v == "1") == dangling
                })
                && label_ok)
            {
                continue;
            }
            out.push(self.network_json(&n, false)?);
        }
        Ok(out)
    }

    /// `DELETE /networks/{id}`.
    pub fn remove_network(&self, name: &str) -> Result<()> {
        let _guard = self.network_lock.lock();
        let n = self.resolve_network(name)?;
        if n.predefined() {
            return Err(EngineError::forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                n.name
            )));
        }
        // Only running containers hold an endpoint (as in Docker): a
        // stopped container keeps its settings for the network, and its
        // next start fails with "network … not found".
        let active: Vec<String> = self
            .network_members(&n)?
            .iter()
            .filter(|(c, _)| c.state.running)
            .map(|(c, _)| c.name.trim_start_matches('/').to_string())
            .collect();
        if !active.is_empty() {
            return Err(EngineError::forbidden(format!(
                "error while removing network: network {} has active endpoints ({})",
                n.name,
                active.join(", ")
            )));
        }
        self.delete_bridge_device(&n);
        self.store.write(|tx| tx.delete(NETWORKS, &n.id))?;
        self.release_subnet(&n.id);
        self.network_event(&n, "destroy", &[]);
        self.apply_firewall();
        Ok(())
    }

    /// `POST /networks/prune`: removes user networks without running
    /// containers (stopped ones hold no endpoint, as in Docker), with
    /// Docker's filters: `until` (created at or before a timestamp or a
    /// duration ago), `label` (all must match) and `label!` (excluded when
    /// all match).
    pub fn prune_networks(&self, filters: Option<&str>) -> Result<Vec<String>> {
        let f = crate::images::parse_filters(filters)?;
        for k in f.keys() {
            if !["until", "label", "label!"].contains(&k.as_str()) {
                return Err(EngineError::invalid(format!("invalid filter '{k}'")));
            }
        }
        let until = match f.get("until").map(Vec::as_slice) {
            None | Some([]) => None,
            Some([one]) => Some(crate::images::parse_until(one)?),
            Some(_) => {
                return Err(EngineError::invalid("more than one until filter specified"));
            }
        };
        let mut removed = Vec::new();
        for n in self.network_records()? {
            if n.predefined() {
                continue;
            }
            if let Some(until) = until {
                // Docker keeps networks created after the instant.
                let created = chrono::DateTime::parse_from_rfc3339(&n.created)
                    .map(|t| t.timestamp_nanos_opt().unwrap_or(i64::MAX))
                    .unwrap_or(i64::MAX);
                if created > until.saturating_mul(1_000_000_000) {
                    continue;
                }
            }
            if !labels_match(f.get("label"), &n.labels)
                || f.get("label!")
                    .is_some_and(|v| !v.is_empty() && labels_match(Some(v), &n.labels))
            {
                continue;
            }
            if self
                .network_members(&n)?
                .iter()
                .any(|(c, _)| c.state.running)
            {
                continue;
            }
            if self.remove_network(&n.id).is_ok() {
                removed.push(n.name.clone());
            }
        }
        Ok(removed)
    }
}

/// Docker's `MatchKVList`: every `key` or `key=value` of the filter is among
/// the labels (no filter matches everything; no labels match no filter).
fn labels_match(filter: Option<&Vec<String>>, labels: &BTreeMap<String, String>) -> bool {
    let Some(vals) = filter.filter(|v| !v.is_empty()) else {
        return true;
    };
    vals.iter().all(|v| match v.split_once('=') {
        Some((k, val)) => labels.get(k).map(String::as_str) == Some(val),
        None => labels.contains_key(v.as_str()),
    })
}
