//! IP address management, as Docker's default IPAM driver does it: pure
//! logic, no system calls. It validates a network's IPAM configuration
//! (`--subnet`, `--ip-range`, `--gateway`, `--aux-address`) with Docker's
//! messages, hands out subnets from the daemon's address pools (skipping
//! subnets that overlap another network or a route of the host), and
//! allocates container addresses inside a network (gateway first, aux
//! addresses reserved, `--ip` honoured, serial allocation so a released
//! address is not reused at once). Every state type is `serde`, so the
//! engine persists it in its store.
//!
//! Only IPv4 is handled; IPv6 networks are not supported yet.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// Why an IPAM operation failed. The texts are Docker's, so clients that
/// match on them (compose, scripts) behave the same.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    /// The configuration of a network is invalid; each line names one
    /// problem (Docker's `ValidateIPAM`).
    #[error("invalid network config:\n{0}")]
    InvalidConfig(String),
    /// A requested subnet overlaps a subnet already in use.
    #[error("invalid pool request: Pool overlaps with other one on this address space")]
    PoolOverlap,
    /// Every predefined pool is used up (or overlaps host routes).
    #[error("all predefined address pools have been fully subnetted")]
    NoMoreSubnets,
    /// The network has no free address left.
    #[error("no available IPv4 addresses on this network's address pools")]
    NoAvailableAddresses,
    /// The requested address (`--ip`) is already taken.
    #[error("Address already in use")]
    AddressInUse,
    /// The requested address (`--ip`) lies outside the network's subnet.
    #[error("invalid address {0}: It does not belong to any of this network's subnets")]
    OutOfRange(Ipv4Addr),
    /// The gateway could not be reserved.
    #[error("failed to allocate gateway ({gateway}): {reason}")]
    Gateway {
        /// The requested gateway (may be empty when none was requested).
        gateway: String,
        /// Why it failed.
        reason: String,
    },
    /// An auxiliary address lies outside the subnet.
    #[error("auxiliary address: ({name}:{address}) must belong to the master pool: {subnet}")]
    AuxOutOfPool {
        /// The aux address's name.
        name: String,
        /// The address.
        address: String,
        /// The network's subnet.
        subnet: Ipv4Net,
    },
    /// An auxiliary address collides with another reservation.
    #[error("failed to allocate secondary ip address ({name}:{address}): Address already in use")]
    AuxInUse {
        /// The aux address's name.
        name: String,
        /// The address.
        address: String,
    },
    /// A `--default-address-pool` value could not be parsed.
    #[error("invalid default address pool {spec:?}: {reason}")]
    InvalidPool {
        /// The value as given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Only IPv4 subnets are supported.
    #[error("IPv6 networks are not supported yet ({0})")]
    Ipv6Unsupported(String),
}

/// One predefined address pool: `base` is split into subnets of prefix
/// length `size` (`--default-address-pool base=172.17.0.0/16,size=16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPool {
    /// The block subnets are taken from.
    pub base: Ipv4Net,
    /// The prefix length of each subnet handed out.
    pub size: u8,
}

impl AddressPool {
    /// Parses a `--default-address-pool` value: `base=CIDR,size=N`.
    pub fn parse(spec: &str) -> Result<AddressPool, IpamError> {
        let bad = |reason: &str| IpamError::InvalidPool {
            spec: spec.to_string(),
            reason: reason.to_string(),
        };
        let mut base = None;
        let mut size = None;
        for field in spec.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            let (key, value) = field
                .split_once('=')
                .ok_or_else(|| bad(&format!("field {field:?} must be a key=value pair")))?;
            match key.trim().to_ascii_lowercase().as_str() {
                "base" => {
                    let net: Ipv4Net = value
                        .trim()
                        .parse()
                        .map_err(|_| bad(&format!("base {value:?} is not an IPv4 CIDR block")))?;
                    base = Some(net.trunc());
                }
                "size" => {
                    let n: u8 = value
                        .trim()
                        .parse()
                        .map_err(|_| bad(&format!("size {value:?} is not a number")))?;
                    size = Some(n);
                }
                other => return Err(bad(&format!("unexpected key {other:?}"))),
            }
        }
        let base = base.ok_or_else(|| bad("base is required"))?;
        let size = size.ok_or_else(|| bad("size is required"))?;
        AddressPool::new(base, size).map_err(|reason| bad(&reason))
    }

    /// A pool from its parts; `size` must lie between the base's prefix
    /// length and 32.
    pub fn new(base: Ipv4Net, size: u8) -> Result<AddressPool, String> {
        if size > 32 || size < base.prefix_len() {
            return Err(format!(
                "size /{size} must lie between the base's prefix (/{}) and /32",
                base.prefix_len()
            ));
        }
        Ok(AddressPool {
            base: base.trunc(),
            size,
        })
    }
}

/// Docker's default local address pools: 172.17.0.0/16 … 172.31.0.0/16
/// (one /16 each), then 192.168.0.0/16 split in /20.
pub fn default_pools() -> Vec<AddressPool> {
    let mut pools: Vec<AddressPool> = (17..=31)
        .map(|b| AddressPool {
            base: Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16).expect("valid prefix"),
            size: 16,
        })
        .collect();
    pools.push(AddressPool {
        base: Ipv4Net::new(Ipv4Addr::new(192, 168, 0, 0), 16).expect("valid prefix"),
        size: 20,
    });
    pools
}

/// The IPv4 IPAM configuration of one network, as the API gives it
/// (`IPAM.Config[]` entries; all strings so validation can report them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamConfig {
    /// `--subnet`; `None` picks one from the address pools.
    pub subnet: Option<String>,
    /// `--ip-range`: containers get addresses from this sub-block only.
    pub ip_range: Option<String>,
    /// `--gateway`; `None` takes the first free address.
    pub gateway: Option<String>,
    /// `--aux-address name=ip`: addresses never given to containers.
    pub aux_addresses: BTreeMap<String, String>,
}

fn parse_cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, len) = s.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    if len.is_empty() || len.len() > 2 || !len.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let len: u8 = len.parse().ok()?;
    (len <= 32).then_some((ip, len))
}

fn is_v6_cidr(s: &str) -> bool {
    s.split_once('/')
        .and_then(|(ip, _)| ip.parse::<std::net::Ipv6Addr>().ok())
        .is_some()
}

fn net(ip: Ipv4Addr, len: u8) -> Ipv4Net {
    Ipv4Net::new(ip, len).expect("prefix length checked")
}

/// Checks a network's IPAM configuration the way Docker's `ValidateIPAM`
/// does, collecting every problem (one `* ` line each when several).
pub fn validate(config: &IpamConfig) -> Result<(), IpamError> {
    let mut errs: Vec<String> = Vec::new();
    let subnet = match config.subnet.as_deref() {
        None => {
            // Without a subnet Docker accepts nothing else.
            if let Some(r) = &config.ip_range {
                errs.push(format!("invalid ip-range {r}: no subnet given"));
            }
            if let Some(g) = &config.gateway {
                errs.push(format!("invalid gateway {g}: no subnet given"));
            }
            for name in config.aux_addresses.keys() {
                errs.push(format!("invalid auxiliary address {name}: no subnet given"));
            }
            return finish(errs);
        }
        Some(s) => s,
    };
    if is_v6_cidr(subnet) {
        return Err(IpamError::Ipv6Unsupported(subnet.to_string()));
    }
    let Some((ip, len)) = parse_cidr(subnet) else {
        errs.push(format!(
            "invalid subnet {subnet}: invalid CIDR block notation"
        ));
        return finish(errs);
    };
    let subnet_net = net(ip, len).trunc();
    if subnet_net.addr() != ip {
        errs.push(format!(
            "invalid subnet {subnet}: it should be {subnet_net}"
        ));
    }
    if let Some(range) = config.ip_range.as_deref() {
        match parse_cidr(range) {
            None if is_v6_cidr(range) => errs.push(format!(
                "invalid ip-range {range}: parent subnet is an IPv4 block"
            )),
            None => errs.push(format!(
                "invalid ip-range {range}: invalid CIDR block notation"
            )),
            Some((rip, rlen)) => {
                let rnet = net(rip, rlen).trunc();
                if rlen < len {
                    errs.push(format!(
                        "invalid ip-range {range}: CIDR block is bigger than its parent subnet {subnet_net}"
                    ));
                }
                if rnet.addr() != rip {
                    errs.push(format!("invalid ip-range {range}: it should be {rnet}"));
                }
                if !overlaps(&subnet_net, &rnet) {
                    errs.push(format!(
                        "invalid ip-range {range}: parent subnet {subnet_net} doesn't contain ip-range"
                    ));
                }
            }
        }
    }
    let check_addr = |addr: &str| -> Option<String> {
        match addr.parse::<Ipv4Addr>() {
            Ok(a) if subnet_net.contains(&a) => None,
            Ok(_) => Some(format!(
                "parent subnet {subnet_net} doesn't contain this address"
            )),
            Err(_) if addr.parse::<std::net::Ipv6Addr>().is_ok() => {
                Some("parent subnet is an IPv4 block".to_string())
            }
            Err(_) => Some("invalid address".to_string()),
        }
    };
    if let Some(gw) = config.gateway.as_deref() {
        if let Some(e) = check_addr(gw) {
            errs.push(format!("invalid gateway {gw}: {e}"));
        }
    }
    for (name, addr) in &config.aux_addresses {
        if let Some(e) = check_addr(addr) {
            errs.push(format!("invalid auxiliary address {name}: {e}"));
        }
    }
    finish(errs)
}

fn finish(errs: Vec<String>) -> Result<(), IpamError> {
    match errs.len() {
        0 => Ok(()),
        1 => Err(IpamError::InvalidConfig(errs[0].clone())),
        _ => Err(IpamError::InvalidConfig(format!("* {}", errs.join("\n* ")))),
    }
}

fn first(n: &Ipv4Net) -> u32 {
    u32::from(n.network())
}

fn last(n: &Ipv4Net) -> u32 {
    u32::from(n.broadcast())
}

/// Whether two blocks share at least one address.
pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    first(a) <= last(b) && first(b) <= last(a)
}

/// The daemon's IPv4 address space: which subnet each network holds, and
/// the predefined pools new networks draw from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressSpace {
    pools: Vec<AddressPool>,
    /// Network ID → its subnet.
    networks: BTreeMap<String, Ipv4Net>,
}

impl Default for AddressSpace {
    fn default() -> Self {
        AddressSpace::new(default_pools())
    }
}

impl AddressSpace {
    /// An empty address space drawing from `pools` (Docker's defaults when
    /// empty). Pools are used in the order given.
    pub fn new(pools: Vec<AddressPool>) -> AddressSpace {
        let pools = if pools.is_empty() {
            default_pools()
        } else {
            pools
        };
        AddressSpace {
            pools,
            networks: BTreeMap::new(),
        }
    }

    /// The predefined pools.
    pub fn pools(&self) -> &[AddressPool] {
        &self.pools
    }

    /// Replaces the predefined pools (daemon restarted with other
    /// `--default-address-pool` values); existing networks keep their subnets.
    pub fn set_pools(&mut self, pools: Vec<AddressPool>) {
        self.pools = if pools.is_empty() {
            default_pools()
        } else {
            pools
        };
    }

    /// Subnets in use, by network ID.
    pub fn networks(&self) -> &BTreeMap<String, Ipv4Net> {
        &self.networks
    }

    /// Reserves a subnet for `network_id`: `requested` (which must not
    /// overlap another network: host routes are not checked, as in Docker)
    /// or the first subnet of the pools that overlaps neither another
    /// network nor any of `reserved` (the host's routes and nameservers).
    pub fn allocate_subnet(
        &mut self,
        network_id: &str,
        requested: Option<Ipv4Net>,
        reserved: &[Ipv4Net],
    ) -> Result<Ipv4Net, IpamError> {
        let subnet = match requested {
            Some(req) => {
                let req = req.trunc();
                if self.networks.values().any(|n| overlaps(n, &req)) {
                    return Err(IpamError::PoolOverlap);
                }
                req
            }
            None => self.find_free(reserved)?,
        };
        self.networks.insert(network_id.to_string(), subnet);
        Ok(subnet)
    }

    fn find_free(&self, reserved: &[Ipv4Net]) -> Result<Ipv4Net, IpamError> {
        // Default routes say nothing about which subnets are in use.
        let taken: Vec<Ipv4Net> = self
            .networks
            .values()
            .copied()
            .chain(reserved.iter().copied().filter(|r| r.prefix_len() > 0))
            .collect();
        for pool in &self.pools {
            let step: u64 = 1u64 << (32 - u32::from(pool.size));
            let end = u64::from(last(&pool.base));
            let mut cand = u64::from(first(&pool.base));
            while cand + step - 1 <= end {
                let c = net(Ipv4Addr::from(cand as u32), pool.size);
                match taken.iter().filter(|t| overlaps(t, &c)).map(last).max() {
                    None => return Ok(c),
                    Some(taken_end) => {
                        // Jump past the overlapping block, to the next
                        // aligned candidate.
                        let after = u64::from(taken_end.max(last(&c))) + 1;
                        cand = after.div_ceil(step) * step;
                    }
                }
            }
        }
        Err(IpamError::NoMoreSubnets)
    }

    /// Releases the subnet of `network_id`; returns it if there was one.
    pub fn release_subnet(&mut self, network_id: &str) -> Option<Ipv4Net> {
        self.networks.remove(network_id)
    }

    /// Validates `config`, reserves its subnet and builds the network's
    /// address state (gateway and aux addresses reserved). Nothing is
    /// kept when any step fails.
    pub fn create_network(
        &mut self,
        network_id: &str,
        config: &IpamConfig,
        reserved: &[Ipv4Net],
    ) -> Result<NetworkIpam, IpamError> {
        validate(config)?;
        let requested = match config.subnet.as_deref() {
            Some(s) => {
                let (ip, len) = parse_cidr(s).ok_or_else(|| {
                    IpamError::InvalidConfig(format!(
                        "invalid subnet {s}: invalid CIDR block notation"
                    ))
                })?;
                Some(net(ip, len))
            }
            None => None,
        };
        let subnet = self.allocate_subnet(network_id, requested, reserved)?;
        match NetworkIpam::new(subnet, config) {
            Ok(n) => Ok(n),
            Err(e) => {
                self.networks.remove(network_id);
                Err(e)
            }
        }
    }
}

/// The addresses of one network: subnet, optional ip-range, gateway, aux
/// addresses and the container addresses handed out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkIpam {
    /// The network's subnet.
    pub subnet: Ipv4Net,
    /// Container addresses come from this block (within `subnet`).
    pub ip_range: Option<Ipv4Net>,
    /// The gateway (the bridge's address).
    pub gateway: Ipv4Addr,
    /// Aux addresses by name (never given to containers).
    pub aux_addresses: BTreeMap<String, Ipv4Addr>,
    /// Container addresses in use.
    allocated: BTreeSet<Ipv4Addr>,
    /// The last address handed out: the next search starts after it.
    last: Option<Ipv4Addr>,
}

impl NetworkIpam {
    /// Address state for `subnet` with `config`'s ip-range, gateway and
    /// aux addresses (the subnet in `config` is ignored: `subnet` is the
    /// one allocated). The config should have gone through [`validate`].
    pub fn new(subnet: Ipv4Net, config: &IpamConfig) -> Result<NetworkIpam, IpamError> {
        let subnet = subnet.trunc();
        let ip_range = match config.ip_range.as_deref() {
            None => None,
            Some(r) => {
                let (ip, len) = parse_cidr(r).ok_or_else(|| {
                    IpamError::InvalidConfig(format!(
                        "invalid ip-range {r}: invalid CIDR block notation"
                    ))
                })?;
                let r = net(ip, len).trunc();
                // A range wider than the subnet means the whole subnet.
                if r.prefix_len() <= subnet.prefix_len() {
                    None
                } else {
                    Some(r)
                }
            }
        };
        let mut n = NetworkIpam {
            subnet,
            ip_range,
            gateway: Ipv4Addr::UNSPECIFIED,
            aux_addresses: BTreeMap::new(),
            allocated: BTreeSet::new(),
            last: None,
        };
        let gw_text = config.gateway.clone().unwrap_or_default();
        let gateway = match config.gateway.as_deref() {
            Some(g) => {
                let ip: Ipv4Addr = g.parse().map_err(|_| IpamError::Gateway {
                    gateway: g.to_string(),
                    reason: "invalid address".to_string(),
                })?;
                if !n.subnet.contains(&ip) {
                    return Err(IpamError::Gateway {
                        gateway: g.to_string(),
                        reason: IpamError::OutOfRange(ip).to_string(),
                    });
                }
                if n.is_reserved(ip) {
                    return Err(IpamError::Gateway {
                        gateway: g.to_string(),
                        reason: IpamError::AddressInUse.to_string(),
                    });
                }
                ip
            }
            None => n.find_free().ok_or_else(|| IpamError::Gateway {
                gateway: gw_text.clone(),
                reason: IpamError::NoAvailableAddresses.to_string(),
            })?,
        };
        n.gateway = gateway;
        for (name, addr) in &config.aux_addresses {
            let ip: Ipv4Addr = addr.parse().map_err(|_| {
                IpamError::InvalidConfig(format!(
                    "invalid auxiliary address {name}: invalid address"
                ))
            })?;
            if !n.subnet.contains(&ip) {
                return Err(IpamError::AuxOutOfPool {
                    name: name.clone(),
                    address: addr.clone(),
                    subnet: n.subnet,
                });
            }
            if n.is_reserved(ip) {
                return Err(IpamError::AuxInUse {
                    name: name.clone(),
                    address: addr.clone(),
                });
            }
            n.aux_addresses.insert(name.clone(), ip);
        }
        Ok(n)
    }

    /// The subnet's prefix length (for `ip/len` on interfaces).
    pub fn prefix_len(&self) -> u8 {
        self.subnet.prefix_len()
    }

    /// Container addresses in use.
    pub fn allocated(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.allocated.iter().copied()
    }

    fn is_network_or_broadcast(&self, ip: Ipv4Addr) -> bool {
        // /31 and /32 have no network or broadcast address (RFC 3021).
        self.subnet.prefix_len() < 31
            && (ip == self.subnet.network() || ip == self.subnet.broadcast())
    }

    /// Whether `ip` cannot be handed out: network or broadcast address,
    /// gateway, aux address or already allocated.
    pub fn is_reserved(&self, ip: Ipv4Addr) -> bool {
        self.is_network_or_broadcast(ip)
            || (self.gateway == ip && !self.gateway.is_unspecified())
            || self.aux_addresses.values().any(|a| *a == ip)
            || self.allocated.contains(&ip)
    }

    /// The next free address of the range (or subnet), searching serially
    /// after the last one handed out and wrapping around.
    fn find_free(&self) -> Option<Ipv4Addr> {
        let block = self.ip_range.unwrap_or(self.subnet);
        let lo = first(&block);
        let hi = last(&block);
        let start = match self.last {
            Some(l) if (lo..hi).contains(&u32::from(l)) => u32::from(l) + 1,
            _ => lo,
        };
        let free = |a: u32| !self.is_reserved(Ipv4Addr::from(a));
        (start..=hi)
            .find(|a| free(*a))
            .or_else(|| (lo..start).find(|a| free(*a)))
            .map(Ipv4Addr::from)
    }

    /// Allocates a container address: `preferred` (`--ip`, anywhere in the
    /// subnet) or the next free one of the ip-range.
    pub fn allocate(&mut self, preferred: Option<Ipv4Addr>) -> Result<Ipv4Addr, IpamError> {
        let ip = match preferred {
            Some(ip) => {
                if !self.subnet.contains(&ip) {
                    return Err(IpamError::OutOfRange(ip));
                }
                if self.is_reserved(ip) {
                    return Err(IpamError::AddressInUse);
                }
                ip
            }
            None => self.find_free().ok_or(IpamError::NoAvailableAddresses)?,
        };
        self.allocated.insert(ip);
        if preferred.is_none() {
            self.last = Some(ip);
        }
        Ok(ip)
    }

    /// Releases a container address; returns whether it was allocated.
    pub fn release(&mut self, ip: Ipv4Addr) -> bool {
        self.allocated.remove(&ip)
    }

    /// Whether `ip` is allocated to a container.
    pub fn is_allocated(&self, ip: Ipv4Addr) -> bool {
        self.allocated.contains(&ip)
    }
}

/// Blocks to keep out of automatic subnet allocation besides routes: the
/// host's nameservers (as /32), as Docker does, parsed from resolv.conf
/// content.
pub fn nameserver_blocks(resolv_conf: &str) -> Vec<Ipv4Net> {
    crate::dns::parse_resolv_conf(resolv_conf)
        .nameservers
        .iter()
        .filter_map(|ns| match ns {
            std::net::IpAddr::V4(v4) => Some(net(*v4, 32)),
            std::net::IpAddr::V6(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(subnet: Option<&str>) -> IpamConfig {
        IpamConfig {
            subnet: subnet.map(String::from),
            ..Default::default()
        }
    }

    fn n(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn default_pools_follow_docker() {
        let mut space = AddressSpace::default();
        assert_eq!(
            space.allocate_subnet("bridge", None, &[]).unwrap(),
            n("172.17.0.0/16")
        );
        assert_eq!(
            space.allocate_subnet("net1", None, &[]).unwrap(),
            n("172.18.0.0/16")
        );
        for i in 19..=31 {
            assert_eq!(
                space.allocate_subnet(&format!("n{i}"), None, &[]).unwrap(),
                n(&format!("172.{i}.0.0/16"))
            );
        }
        assert_eq!(
            space.allocate_subnet("a", None, &[]).unwrap(),
            n("192.168.0.0/20")
        );
        assert_eq!(
            space.allocate_subnet("b", None, &[]).unwrap(),
            n("192.168.16.0/20")
        );
    }

    #[test]
    fn pool_exhaustion_reports_docker_message_and_release_frees() {
        let pool = AddressPool::parse("base=10.10.0.0/23,size=24").unwrap();
        let mut space = AddressSpace::new(vec![pool]);
        assert_eq!(
            space.allocate_subnet("a", None, &[]).unwrap(),
            n("10.10.0.0/24")
        );
        assert_eq!(
            space.allocate_subnet("b", None, &[]).unwrap(),
            n("10.10.1.0/24")
        );
        let err = space.allocate_subnet("c", None, &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "all predefined address pools have been fully subnetted"
        );
        assert!(!space.networks().contains_key("c"));
        assert_eq!(space.release_subnet("a"), Some(n("10.10.0.0/24")));
        assert_eq!(
            space.allocate_subnet("c", None, &[]).unwrap(),
            n("10.10.0.0/24")
        );
    }

    #[test]
    fn skips_subnets_overlapping_host_routes() {
        let mut space = AddressSpace::default();
        // A host route inside 172.17/16 and one covering 172.18-19.
        let routes = [
            n("0.0.0.0/0"),
            n("172.17.5.0/24"),
            n("172.18.0.0/15"),
            n("192.0.2.0/24"),
        ];
        assert_eq!(
            space.allocate_subnet("x", None, &routes).unwrap(),
            n("172.20.0.0/16")
        );
        // 192.168 pool: a route on 192.168.0.0/24 skips the first /20.
        let mut space = AddressSpace::new(vec![
            AddressPool::parse("base=192.168.0.0/16,size=20").unwrap()
        ]);
        assert_eq!(
            space
                .allocate_subnet("y", None, &[n("192.168.0.0/24"), n("192.168.17.0/24")])
                .unwrap(),
            n("192.168.32.0/20")
        );
    }

    #[test]
    fn requested_subnet_overlap_is_refused() {
        let mut space = AddressSpace::default();
        space
            .allocate_subnet("a", Some(n("10.1.0.0/16")), &[])
            .unwrap();
        let err = space
            .allocate_subnet("b", Some(n("10.1.2.0/24")), &[])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid pool request: Pool overlaps with other one on this address space"
        );
        assert_eq!(space.networks().len(), 1);
        // Dynamic allocation avoids the user's subnet too.
        space
            .allocate_subnet("c", Some(n("172.17.0.0/16")), &[])
            .unwrap();
        assert_eq!(
            space.allocate_subnet("d", None, &[]).unwrap(),
            n("172.18.0.0/16")
        );
    }

    #[test]
    fn gateway_first_then_serial_allocation() {
        let mut space = AddressSpace::default();
        let mut net = space
            .create_network("id", &cfg(Some("10.5.0.0/29")), &[])
            .unwrap();
        assert_eq!(net.gateway, ip("10.5.0.1"));
        assert_eq!(net.allocate(None).unwrap(), ip("10.5.0.2"));
        assert_eq!(net.allocate(None).unwrap(), ip("10.5.0.3"));
        assert!(net.release(ip("10.5.0.2")));
        // Serial: the released address is not reused before the others.
        assert_eq!(net.allocate(None).unwrap(), ip("10.5.0.4"));
        assert_eq!(net.allocate(None).unwrap(), ip("10.5.0.5"));
        assert_eq!(net.allocate(None).unwrap(), ip("10.5.0.6"));
        assert_eq!(net.allocate(None).unwrap(), ip("10.5.0.2"));
        // .7 is the broadcast address, .0 the network address.
        let err = net.allocate(None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no available IPv4 addresses on this network's address pools"
        );
    }

    #[test]
    fn explicit_ip_conflicts_and_range() {
        let mut space = AddressSpace::default();
        let mut net = space
            .create_network("id", &cfg(Some("10.6.0.0/24")), &[])
            .unwrap();
        assert_eq!(
            net.allocate(Some(ip("10.6.0.50"))).unwrap(),
            ip("10.6.0.50")
        );
        assert_eq!(
            net.allocate(Some(ip("10.6.0.50"))).unwrap_err().to_string(),
            "Address already in use"
        );
        assert_eq!(
            net.allocate(Some(ip("10.6.0.1"))).unwrap_err(),
            IpamError::AddressInUse,
            "the gateway is taken"
        );
        assert_eq!(
            net.allocate(Some(ip("10.7.0.5"))).unwrap_err().to_string(),
            "invalid address 10.7.0.5: It does not belong to any of this network's subnets"
        );
        // Automatic allocation skips the explicitly taken address.
        for _ in 0..48 {
            net.allocate(None).unwrap();
        }
        assert_eq!(net.allocate(None).unwrap(), ip("10.6.0.51"));
    }

    #[test]
    fn aux_addresses_and_gateway_are_never_handed_out() {
        let mut space = AddressSpace::default();
        let mut config = cfg(Some("10.8.0.0/29"));
        config.gateway = Some("10.8.0.6".into());
        config
            .aux_addresses
            .insert("router".into(), "10.8.0.1".into());
        config
            .aux_addresses
            .insert("printer".into(), "10.8.0.3".into());
        let mut net = space.create_network("id", &config, &[]).unwrap();
        assert_eq!(net.gateway, ip("10.8.0.6"));
        let got: Vec<_> = (0..3).map(|_| net.allocate(None).unwrap()).collect();
        assert_eq!(got, vec![ip("10.8.0.2"), ip("10.8.0.4"), ip("10.8.0.5")]);
        assert!(net.allocate(None).is_err());
        assert_eq!(
            net.allocate(Some(ip("10.8.0.3"))),
            Err(IpamError::AddressInUse)
        );
    }

    #[test]
    fn ip_range_limits_automatic_addresses() {
        let mut space = AddressSpace::default();
        let mut config = cfg(Some("10.9.0.0/16"));
        config.ip_range = Some("10.9.5.0/30".into());
        config.gateway = Some("10.9.0.1".into());
        let mut net = space.create_network("id", &config, &[]).unwrap();
        let got: Vec<_> = (0..4).map(|_| net.allocate(None).unwrap()).collect();
        assert_eq!(
            got,
            vec![
                ip("10.9.5.0"),
                ip("10.9.5.1"),
                ip("10.9.5.2"),
                ip("10.9.5.3")
            ]
        );
        assert_eq!(net.allocate(None), Err(IpamError::NoAvailableAddresses));
        // --ip may still pick any address of the subnet.
        assert_eq!(
            net.allocate(Some(ip("10.9.200.1"))).unwrap(),
            ip("10.9.200.1")
        );
    }

    #[test]
    fn validation_messages_match_docker() {
        let e = validate(&cfg(Some("10.0.0.1/8"))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid network config:\ninvalid subnet 10.0.0.1/8: it should be 10.0.0.0/8"
        );
        let e = validate(&cfg(Some("300.1.1.1/8"))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid network config:\ninvalid subnet 300.1.1.1/8: invalid CIDR block notation"
        );
        let mut c = cfg(Some("10.0.0.0/24"));
        c.gateway = Some("10.0.1.1".into());
        c.ip_range = Some("10.0.0.0/16".into());
        let e = validate(&c).unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid network config:\n* invalid ip-range 10.0.0.0/16: CIDR block is bigger than its parent subnet 10.0.0.0/24\n* invalid gateway 10.0.1.1: parent subnet 10.0.0.0/24 doesn't contain this address"
        );
        let mut c = cfg(Some("10.0.0.0/24"));
        c.aux_addresses.insert("a".into(), "bogus".into());
        assert_eq!(
            validate(&c).unwrap_err().to_string(),
            "invalid network config:\ninvalid auxiliary address a: invalid address"
        );
        assert!(validate(&cfg(Some("10.0.0.0/24"))).is_ok());
        assert!(validate(&cfg(None)).is_ok());
        assert!(matches!(
            validate(&cfg(Some("fd00::/64"))),
            Err(IpamError::Ipv6Unsupported(_))
        ));
    }

    #[test]
    fn failed_create_keeps_nothing() {
        let mut space = AddressSpace::default();
        let mut c = cfg(Some("10.0.0.0/24"));
        c.gateway = Some("10.0.0.0".into()); // the network address
        let e = space.create_network("id", &c, &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "failed to allocate gateway (10.0.0.0): Address already in use"
        );
        assert!(space.networks().is_empty());
        let mut c = cfg(Some("10.0.0.0/24"));
        c.aux_addresses.insert("gw".into(), "10.0.0.1".into());
        let e = space.create_network("id", &c, &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "failed to allocate secondary ip address (gw:10.0.0.1): Address already in use"
        );
        assert!(space.networks().is_empty());
    }

    #[test]
    fn pool_option_parsing() {
        let p = AddressPool::parse("base=10.10.0.0/16,size=24").unwrap();
        assert_eq!(p.base, n("10.10.0.0/16"));
        assert_eq!(p.size, 24);
        assert!(AddressPool::parse("base=10.10.0.0/16").is_err());
        assert!(AddressPool::parse("base=10.10.0.0/16,size=8").is_err());
        assert!(AddressPool::parse("size=24").is_err());
        let e = AddressPool::parse("base=nope,size=24")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an IPv4 CIDR block"), "{e}");
    }

    #[test]
    fn state_round_trips_through_json() {
        let mut space = AddressSpace::default();
        let mut net = space.create_network("id", &cfg(None), &[]).unwrap();
        net.allocate(None).unwrap();
        let s = serde_json::to_string(&(&space, &net)).unwrap();
        let (space2, mut net2): (AddressSpace, NetworkIpam) = serde_json::from_str(&s).unwrap();
        assert_eq!(space2, space);
        assert_eq!(net2, net);
        // The serial cursor survives.
        assert_eq!(net2.allocate(None).unwrap(), ip("172.17.0.3"));
    }

    #[test]
    fn point_to_point_subnets() {
        let mut space = AddressSpace::default();
        let mut net = space
            .create_network("p", &cfg(Some("10.99.0.0/31")), &[])
            .unwrap();
        assert_eq!(net.gateway, ip("10.99.0.0"));
        assert_eq!(net.allocate(None).unwrap(), ip("10.99.0.1"));
        assert!(net.allocate(None).is_err());
    }
}
