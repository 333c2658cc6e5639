//! Kernel tests (run as root): real bridges, veth pairs, namespaces, nft
//! tables, the port proxy and the DNS server. Every device, namespace and
//! table is uniquely named and removed by guards; traffic only goes to
//! loopback or to addresses the tests put on their own devices.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;

use berth_network::dns::{self, DnsConfig, DnsServer, NameTable};
use berth_network::firewall::{
    enable_forwarding, Firewall, Forwarding, NetworkRules, Proto, PublishedPort, Ruleset,
};
use berth_network::ipam::NetworkIpam;
use berth_network::link::{self, BridgeConfig, EndpointConfig, Netlink};
use berth_network::ports::{bind_port, parse_publish, PortAllocator};
use berth_network::proxy::PortProxy;
use common::*;

fn endpoint(net: &NetworkIpam, ip: Ipv4Addr) -> EndpointConfig {
    EndpointConfig {
        ifname: "eth0".into(),
        address: ip,
        prefix_len: net.prefix_len(),
        gateway: Some(net.gateway),
        mac: None,
        mtu: None,
        hairpin: false,
    }
}

/// A bridge in the host with the network's gateway address.
async fn bridge(nl: &Netlink, net: &NetworkIpam) -> LinkGuard {
    let name = unique("bt");
    let guard = LinkGuard(name.clone());
    nl.ensure_bridge(&BridgeConfig {
        name: name.clone(),
        mtu: None,
        address: Some((net.gateway, net.prefix_len())),
    })
    .await
    .unwrap();
    guard
}

/// A "container": a namespace connected to `br` with the next address.
async fn container(nl: &Netlink, br: &str, net: &mut NetworkIpam) -> (Ns, LinkGuard, Ipv4Addr) {
    let ns = Ns::new();
    let ip = net.allocate(None).unwrap();
    let veth = unique("vt");
    let guard = LinkGuard(veth.clone());
    nl.attach_veth(br, &veth, &ns.path(), &endpoint(net, ip))
        .await
        .unwrap();
    (ns, guard, ip)
}

/// An "outside host": a namespace linked to the host by a veth pair with a
/// /30 from the test pool; returns (ns, guard, host side ip, outside ip).
async fn outside(nl: &Netlink) -> (Ns, LinkGuard, Ipv4Addr, Ipv4Addr) {
    let net = new_subnet(&unique("out")).await;
    let ns = Ns::new();
    let host_if = unique("bo");
    let guard = LinkGuard(host_if.clone());
    let peer = unique("bp");
    nl.create_veth(&host_if, &peer).await.unwrap();
    let host_ip = net.gateway;
    let out_ip = Ipv4Addr::from(u32::from(host_ip) + 1);
    nl.add_address(&host_if, host_ip, net.prefix_len())
        .await
        .unwrap();
    nl.set_up(&host_if).await.unwrap();
    must("ip", &["link", "set", &peer, "netns", &ns.name]);
    ns.exec(&["ip", "link", "set", &peer, "name", "eth0"]);
    ns.exec(&[
        "ip",
        "addr",
        "add",
        &format!("{out_ip}/{}", net.prefix_len()),
        "dev",
        "eth0",
    ]);
    ns.exec(&["ip", "link", "set", "eth0", "up"]);
    ns.exec(&["ip", "link", "set", "lo", "up"]);
    (ns, guard, host_ip, out_ip)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_veth_ping_and_cleanup() {
    let nl = Netlink::host().unwrap();
    let mut net = new_subnet("ping").await;
    let br = bridge(&nl, &net).await;
    // Reusing an existing bridge is fine (daemon restart).
    nl.ensure_bridge(&BridgeConfig {
        name: br.0.clone(),
        mtu: None,
        address: Some((net.gateway, net.prefix_len())),
    })
    .await
    .unwrap();
    let (c1, v1, ip1) = container(&nl, &br.0, &mut net).await;
    let (c2, _v2, ip2) = container(&nl, &br.0, &mut net).await;

    assert!(c1.ping(ip2), "container to container on one bridge");
    assert!(c2.ping(net.gateway), "container to its gateway");

    // Inside c1: eth0 with Docker's MAC, the address, lo up, default route.
    let inner = Netlink::in_netns(&c1.path()).await.unwrap();
    let eth0 = inner.link("eth0").await.unwrap().expect("eth0 exists");
    assert_eq!(eth0.mac, Some(link::mac_for_ip(ip1)));
    assert!(eth0.up);
    assert_eq!(
        inner.addresses("eth0").await.unwrap(),
        vec![format!("{ip1}/{}", net.prefix_len()).parse().unwrap()]
    );
    assert!(inner.link("lo").await.unwrap().unwrap().up);
    let routes = c1.exec(&["ip", "route"]);
    assert!(
        routes.contains(&format!("default via {}", net.gateway)),
        "{routes}"
    );

    // The host end is enslaved to the bridge and listed as stale-able.
    let host_end = nl.link(&v1.0).await.unwrap().unwrap();
    let br_index = nl.link(&br.0).await.unwrap().unwrap().index;
    assert_eq!(host_end.controller, Some(br_index));
    let stale = nl.stale_links(&[&br.0, &v1.0]).await.unwrap();
    let names: Vec<_> = stale.iter().map(|l| l.name.as_str()).collect();
    assert!(
        names.contains(&br.0.as_str()) && names.contains(&v1.0.as_str()),
        "{names:?}"
    );
    // The bridge's own subnet is now a host route IPAM must avoid.
    assert!(nl.ipv4_routes().await.unwrap().contains(&net.subnet));

    // Detaching removes both ends.
    assert!(nl.detach_veth(&v1.0).await.unwrap());
    assert!(nl.link(&v1.0).await.unwrap().is_none());
    assert!(inner.link("eth0").await.unwrap().is_none());
    assert!(!nl.detach_veth(&v1.0).await.unwrap());
    assert!(!c2.ping(ip1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_failures_leave_nothing_behind() {
    let nl = Netlink::host().unwrap();
    let mut net = new_subnet("fail").await;
    let ns = Ns::new();
    let ip = net.allocate(None).unwrap();
    let veth = unique("vf");
    let _g = LinkGuard(veth.clone());
    // No such bridge.
    let e = nl
        .attach_veth("btnosuchbr0", &veth, &ns.path(), &endpoint(&net, ip))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("btnosuchbr0"), "{e}");
    assert!(nl.link(&veth).await.unwrap().is_none());
    // A bridge exists but the namespace does not: the veth is removed.
    let br = bridge(&nl, &net).await;
    let e = nl
        .attach_veth(
            &br.0,
            &veth,
            std::path::Path::new("/run/netns/berth-missing-ns"),
            &endpoint(&net, ip),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("berth-missing-ns"), "{e}");
    assert!(nl.link(&veth).await.unwrap().is_none());
    // Bad names are refused before anything is created.
    let e = nl
        .attach_veth(&br.0, "bad name", &ns.path(), &endpoint(&net, ip))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("invalid interface name"), "{e}");
    // A non-bridge link cannot be used as a bridge.
    let e = nl
        .ensure_bridge(&BridgeConfig {
            name: "lo".into(),
            mtu: None,
            address: None,
        })
        .await
        .unwrap_err();
    assert!(e.to_string().contains("cannot use lo as a bridge"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nft_isolation_masquerade_and_internal() {
    let nl = Netlink::host().unwrap();
    let fw = Firewall::host();
    let mut net_a = new_subnet("iso-a").await;
    let mut net_b = new_subnet("iso-b").await;
    let mut net_i = new_subnet("iso-i").await;
    let br_a = bridge(&nl, &net_a).await;
    let br_b = bridge(&nl, &net_b).await;
    let br_i = bridge(&nl, &net_i).await;
    let (a1, _va1, _ip_a1) = container(&nl, &br_a.0, &mut net_a).await;
    let (a2, _va2, ip_a2) = container(&nl, &br_a.0, &mut net_a).await;
    let (b1, _vb1, ip_b1) = container(&nl, &br_b.0, &mut net_b).await;
    let (i1, _vi1, _ip_i1) = container(&nl, &br_i.0, &mut net_i).await;
    let (x, vx, host_x, ip_x) = outside(&nl).await;
    // The outside host can answer the internal network directly.
    x.exec(&[
        "ip",
        "route",
        "add",
        &net_i.subnet.to_string(),
        "via",
        &host_x.to_string(),
    ]);
    enable_forwarding(
        None,
        &Forwarding {
            // The outside link forwards replies back (whatever the host's
            // ip_forward says).
            bridges: vec![br_a.0.clone(), br_b.0.clone(), br_i.0.clone(), vx.0.clone()],
            global: false,
            route_localnet: false,
        },
    )
    .unwrap();

    // Without berth's rules: bridges reach each other, nothing is NATed.
    assert!(a1.ping(ip_b1), "plain routing between bridges");
    assert!(
        !a1.ping(ip_x),
        "no masquerade yet: the outside host has no route back"
    );
    assert!(i1.ping(ip_x), "internal network not yet enforced");

    let table = unique("bt_t");
    let _t = TableGuard(table.clone());
    let mut internal = NetworkRules::new(&br_i.0, net_i.subnet);
    internal.internal = true;
    let mut rs = Ruleset::new(&table);
    rs.networks = vec![
        NetworkRules::new(&br_a.0, net_a.subnet),
        NetworkRules::new(&br_b.0, net_b.subnet),
        internal,
    ];
    fw.apply(&rs).await.unwrap();
    let listed = fw.list(&table).await.unwrap().expect("table exists");
    assert!(listed.contains("masquerade"), "{listed}");

    assert!(a1.ping(ip_a2), "same bridge still talks (ICC)");
    assert!(!a1.ping(ip_b1), "bridges are isolated");
    assert!(!b1.ping(ip_a2), "isolation both ways");
    assert!(a1.ping(ip_x), "masqueraded to the outside");
    assert!(!i1.ping(ip_x), "internal network cannot leave its bridge");
    assert!(a2.ping(net_a.gateway));

    // Applying again replaces the table atomically (no duplicate rules).
    fw.apply(&rs).await.unwrap();
    let again = fw.list(&table).await.unwrap().unwrap();
    assert_eq!(again.matches("MASQUERADE").count(), 2, "{again}");

    // A bad ruleset fails and leaves the applied one untouched.
    let mut bad = rs.clone();
    bad.networks[0].bridge = "bad\"name".into();
    assert!(fw.apply(&bad).await.is_err());
    assert!(!a1.ping(ip_b1));

    assert!(fw.remove(&table).await.unwrap());
    assert!(!fw.remove(&table).await.unwrap());
    assert!(fw.list(&table).await.unwrap().is_none());
    assert!(a1.ping(ip_b1), "removing the table lifts the isolation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_port_dnat_proxy_and_hairpin() {
    let nl = Netlink::host().unwrap();
    let fw = Firewall::host();
    let mut net = new_subnet("pub").await;
    let br = bridge(&nl, &net).await;
    let (c1, v1, ip1) = container(&nl, &br.0, &mut net).await;
    let (x, vx, host_x, ip_x) = outside(&nl).await;
    x.exec(&["ip", "route", "add", "default", "via", &host_x.to_string()]);
    // Per-interface flags only: the host's global setting is left alone.
    enable_forwarding(
        None,
        &Forwarding {
            bridges: vec![br.0.clone(), vx.0.clone()],
            global: false,
            route_localnet: false,
        },
    )
    .unwrap();
    hello_server(&c1.path(), ip1, 80);
    udp_echo_server(&c1.path(), ip1, 5353);

    // Reserve host ports (ephemeral) on all addresses, TCP and UDP.
    let mut alloc = PortAllocator::new();
    let mut tcp = bind_port(&mut alloc, &parse_publish("80").unwrap()[0], ip1).unwrap();
    let mut udp = bind_port(&mut alloc, &parse_publish("5353/udp").unwrap()[0], ip1).unwrap();
    let hp = tcp.host_port;
    let hpu = udp.host_port;
    let table = unique("bt_p");
    let _t = TableGuard(table.clone());
    let mut rs = Ruleset::new(&table);
    rs.networks = vec![NetworkRules::new(&br.0, net.subnet)];
    rs.ports = vec![
        PublishedPort {
            bridge: br.0.clone(),
            proto: Proto::Tcp,
            host_ip: None,
            host_port: hp,
            container_ip: ip1,
            container_port: 80,
        },
        PublishedPort {
            bridge: br.0.clone(),
            proto: Proto::Udp,
            host_ip: None,
            host_port: hpu,
            container_ip: ip1,
            container_port: 5353,
        },
    ];
    fw.apply(&rs).await.unwrap();
    let proxy = PortProxy::start(&mut tcp).unwrap().unwrap();
    let uproxy = PortProxy::start(&mut udp).unwrap().unwrap();

    let local = |ip: Ipv4Addr, port: u16| SocketAddr::V4(SocketAddrV4::new(ip, port));
    // 127.0.0.1 goes through the userland proxy (source: the gateway).
    let got = tokio::task::spawn_blocking(move || tcp_fetch(None, local(Ipv4Addr::LOCALHOST, hp)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, format!("hello from {}", net.gateway));
    let echo = tokio::task::spawn_blocking(move || {
        udp_exchange(None, local(Ipv4Addr::LOCALHOST, hpu), b"ping".to_vec())
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(echo, b"echo:ping");
    // Another host reaches the port through prerouting DNAT, unmasqueraded.
    let xp = x.path();
    let got = tokio::task::spawn_blocking(move || tcp_fetch(Some(&xp), local(host_x, hp)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, format!("hello from {ip_x}"));
    // Unpublished ports stay closed to the outside, direct access is dropped.
    let xp = x.path();
    assert!(
        tokio::task::spawn_blocking(move || tcp_fetch(Some(&xp), local(ip1, 80)))
            .await
            .unwrap()
            .is_err()
    );

    // Stopping the proxy frees 127.0.0.1, while the bridge address is still
    // DNATed by the output chain.
    proxy.stop().await;
    uproxy.stop().await;
    assert!(
        tokio::task::spawn_blocking(move || tcp_fetch(None, local(Ipv4Addr::LOCALHOST, hp)))
            .await
            .unwrap()
            .is_err()
    );
    let gw = net.gateway;
    let got = tokio::task::spawn_blocking(move || tcp_fetch(None, local(gw, hp)))
        .await
        .unwrap()
        .unwrap();
    assert!(got.starts_with("hello from "), "{got}");
    // The host port can be bound again once released.
    berth_network::ports::release(&mut alloc, tcp);
    drop(std::net::TcpListener::bind(("0.0.0.0", hp)).unwrap());

    // Without the userland proxy: the container reaching its own published
    // port through the gateway is DNATed back to itself and masqueraded.
    rs.userland_proxy = false;
    fw.apply(&rs).await.unwrap();
    nl.set_hairpin(&v1.0, true).await.unwrap();
    let cp = c1.path();
    let got = tokio::task::spawn_blocking(move || tcp_fetch(Some(&cp), local(gw, hp)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, format!("hello from {gw}"), "hairpin is masqueraded");
    assert!(fw.remove(&table).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_refuses_ports_held_elsewhere_and_closes_connections_on_stop() {
    let mut alloc = PortAllocator::new();
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = other.local_addr().unwrap().port();
    let req = parse_publish(&format!("127.0.0.1:{port}:80")).unwrap()[0];
    let e = bind_port(&mut alloc, &req, Ipv4Addr::new(172, 17, 0, 2)).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("failed to bind host port for 127.0.0.1:{port}:172.17.0.2:80/tcp: address already in use")
    );
    // A proxy to a local echo server: data flows, stop closes everything.
    let target = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let taddr = target.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = target.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let mut bound = bind_port(
        &mut alloc,
        &parse_publish("127.0.0.1::9").unwrap()[0],
        Ipv4Addr::LOCALHOST,
    )
    .unwrap();
    let front = match std::mem::replace(&mut bound.socket, berth_network::ports::HostSocket::None) {
        berth_network::ports::HostSocket::Tcp(l) => l,
        _ => unreachable!(),
    };
    let proxy = PortProxy::tcp(front, taddr).unwrap();
    let addr = proxy.local_addr();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    c.write_all(b"abc").await.unwrap();
    let mut buf = [0u8; 3];
    c.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"abc");
    proxy.stop().await;
    let mut rest = Vec::new();
    let n = tokio::time::timeout(std::time::Duration::from_secs(3), c.read_to_end(&mut rest))
        .await
        .expect("connection closed by stop")
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// A fake upstream DNS server on 127.0.0.1 answering every A query with
/// 192.0.2.99 (nothing is ever sent to that address).
async fn fake_upstream() -> SocketAddr {
    use hickory_proto::op::{Message, MessageType, ResponseCode};
    use hickory_proto::rr::{rdata::A, RData, Record};
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, peer)) = sock.recv_from(&mut buf).await {
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut r = Message::response(q.metadata.id, q.metadata.op_code);
            r.metadata.message_type = MessageType::Response;
            r.metadata.response_code = ResponseCode::NoError;
            r.add_queries(q.queries.clone());
            let name = q.queries[0].name().clone();
            r.add_answer(Record::from_rdata(
                name,
                60,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 99))),
            ));
            let _ = sock.send_to(&r.to_vec().unwrap(), peer).await;
        }
    });
    addr
}

fn dns_query(name: &str, rt: hickory_proto::rr::RecordType) -> Vec<u8> {
    use hickory_proto::op::{Message, Query};
    use hickory_proto::rr::Name;
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rt));
    m.to_vec().unwrap()
}

fn answers(raw: &[u8]) -> (hickory_proto::op::ResponseCode, Vec<String>) {
    let m = hickory_proto::op::Message::from_vec(raw).unwrap();
    let list = m.answers.iter().map(|r| r.data.to_string()).collect();
    (m.metadata.response_code, list)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_dns_inside_a_namespace() {
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::RecordType;
    let ns = Ns::new();
    Netlink::in_netns(&ns.path())
        .await
        .unwrap()
        .set_up("lo")
        .await
        .unwrap();
    let dns_addr = SocketAddr::new(IpAddr::V4(dns::EMBEDDED_DNS_ADDR), 53);
    let (udp, tcp) = dns::bind_in_netns(&ns.path(), dns_addr).await.unwrap();
    let table = Arc::new(NameTable::new());
    let web: IpAddr = "10.213.250.2".parse().unwrap();
    table.add("web", web);
    table.add("3f2a1b4c5d6e", web);
    table.set_reverse(web, "web.mynet");
    for ip in ["10.213.250.3", "10.213.250.4"] {
        table.add("svc", ip.parse().unwrap());
    }
    let upstream = fake_upstream().await;
    let server = DnsServer::start(
        udp,
        Some(tcp),
        table.clone(),
        DnsConfig {
            upstreams: vec![upstream],
            forward: true,
        },
    )
    .unwrap();
    let p = ns.path();
    let ask = move |name: &str, rt: RecordType| {
        let q = dns_query(name, rt);
        let p = p.clone();
        async move {
            tokio::task::spawn_blocking(move || udp_exchange(Some(&p), dns_addr, q))
                .await
                .unwrap()
                .unwrap()
        }
    };
    assert_eq!(
        answers(&ask("web.", RecordType::A).await),
        (ResponseCode::NoError, vec!["10.213.250.2".into()])
    );
    assert_eq!(
        answers(&ask("3F2A1B4C5D6E.", RecordType::A).await).1,
        vec!["10.213.250.2".to_string()]
    );
    let (code, v6) = answers(&ask("web.", RecordType::AAAA).await);
    assert_eq!((code, v6.len()), (ResponseCode::NoError, 0));
    // Round robin over the shared alias.
    let first = answers(&ask("svc.", RecordType::A).await).1;
    let second = answers(&ask("svc.", RecordType::A).await).1;
    assert_eq!(first.len(), 2);
    assert_ne!(first[0], second[0], "{first:?} then {second:?}");
    let (code, ptr) = answers(&ask("2.250.213.10.in-addr.arpa.", RecordType::PTR).await);
    assert_eq!(
        (code, ptr),
        (ResponseCode::NoError, vec!["web.mynet.".to_string()])
    );
    // Other names go to the upstream.
    assert_eq!(
        answers(&ask("example.com.", RecordType::A).await).1,
        vec!["192.0.2.99".to_string()]
    );

    // TCP works too.
    let p = ns.path();
    let q = dns_query("web.", RecordType::A);
    let raw = tokio::task::spawn_blocking(move || {
        berth_network::netns::run(&p, move || -> std::io::Result<Vec<u8>> {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(dns_addr)?;
            s.set_read_timeout(Some(std::time::Duration::from_secs(3)))?;
            let mut out = (q.len() as u16).to_be_bytes().to_vec();
            out.extend_from_slice(&q);
            s.write_all(&out)?;
            let mut l = [0u8; 2];
            s.read_exact(&mut l)?;
            let mut buf = vec![0u8; u16::from_be_bytes(l) as usize];
            s.read_exact(&mut buf)?;
            Ok(buf)
        })
        .unwrap()
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(answers(&raw).1, vec!["10.213.250.2".to_string()]);

    // busybox's resolver inside the namespace sees the same names.
    let n = ns.name.clone();
    let out = tokio::task::spawn_blocking(move || {
        must(
            "ip",
            &[
                "netns",
                "exec",
                &n,
                "busybox",
                "nslookup",
                "web",
                "127.0.0.11",
            ],
        )
    })
    .await
    .unwrap();
    assert!(out.contains("10.213.250.2"), "{out}");

    // A container leaving the network disappears from DNS.
    table.remove_address(web);
    // (it is forwarded now: the fake upstream answers everything).
    assert_eq!(
        answers(&ask("web.", RecordType::A).await).1,
        vec!["192.0.2.99".to_string()]
    );
    server.stop().await;

    // Internal networks: nothing is forwarded.
    let (udp, tcp) = dns::bind_in_netns(&ns.path(), dns_addr).await.unwrap();
    let server = DnsServer::start(
        udp,
        Some(tcp),
        table,
        DnsConfig {
            upstreams: vec![upstream],
            forward: false,
        },
    )
    .unwrap();
    assert_eq!(
        answers(&ask("example.com.", RecordType::A).await).0,
        ResponseCode::ServFail
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn macvlan_on_a_test_veth() {
    let nl = Netlink::host().unwrap();
    let mut net = new_subnet("mvl").await;
    let parent = unique("bm");
    let peer = unique("bq");
    let _g = LinkGuard(parent.clone());
    nl.create_veth(&parent, &peer).await.unwrap();
    nl.set_up(&parent).await.unwrap();
    nl.set_up(&peer).await.unwrap();
    let c1 = Ns::new();
    let c2 = Ns::new();
    let ip1 = net.allocate(None).unwrap();
    let ip2 = net.allocate(None).unwrap();
    let mut cfg1 = endpoint(&net, ip1);
    cfg1.gateway = None;
    let mut cfg2 = endpoint(&net, ip2);
    cfg2.gateway = None;
    cfg2.mac = Some(link::parse_mac("02:aa:bb:cc:dd:ee").unwrap());
    let mac1 = nl.attach_macvlan(&parent, &c1.path(), &cfg1).await.unwrap();
    nl.attach_macvlan(&parent, &c2.path(), &cfg2).await.unwrap();
    assert_eq!(mac1, link::mac_for_ip(ip1));
    let inner2 = Netlink::in_netns(&c2.path()).await.unwrap();
    let eth0 = inner2.link("eth0").await.unwrap().unwrap();
    assert_eq!(eth0.kind.as_deref(), Some("macvlan"));
    assert_eq!(eth0.mac, Some([0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee]));
    assert!(c1.ping(ip2), "macvlan siblings in bridge mode talk");
    assert!(link::remove_container_interface(&c2.path(), "eth0")
        .await
        .unwrap());
    assert!(inner2.link("eth0").await.unwrap().is_none());
    assert!(!c1.ping(ip2));
    // A missing parent is a clear error and creates nothing.
    let e = nl
        .attach_macvlan("btnoparent0", &c2.path(), &cfg2)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("btnoparent0"), "{e}");
    assert!(inner2.links().await.unwrap().iter().all(|l| l.name == "lo"));
}

/// Everything inside a private "host" namespace whose iptables FORWARD
/// policy is DROP: berth's table alone cannot let traffic through; the
/// tagged iptables accepts do, while berth's isolation still holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_drop_policy_in_another_table() {
    let host = Ns::new();
    let hp = host.path();
    let nl = Netlink::in_netns(&hp).await.unwrap();
    let fw = Firewall::in_netns(&hp);
    let mut net_a = new_subnet("fd-a").await;
    let mut net_b = new_subnet("fd-b").await;
    let br_a = unique("bt");
    let br_b = unique("bt");
    for (br, net) in [(&br_a, &net_a), (&br_b, &net_b)] {
        nl.ensure_bridge(&BridgeConfig {
            name: br.clone(),
            mtu: None,
            address: Some((net.gateway, net.prefix_len())),
        })
        .await
        .unwrap();
    }
    let attach = |br: String, net: &mut NetworkIpam| {
        let ip = net.allocate(None).unwrap();
        let cfg = endpoint(net, ip);
        let nl = nl.clone();
        async move {
            let ns = Ns::new();
            nl.attach_veth(&br, &unique("vt"), &ns.path(), &cfg)
                .await
                .unwrap();
            (ns, ip)
        }
    };
    let (a1, _ip_a1) = attach(br_a.clone(), &mut net_a).await;
    let (_b1, ip_b1) = attach(br_b.clone(), &mut net_b).await;
    // An outside namespace linked to the private host.
    let out = new_subnet("fd-x").await;
    let x = Ns::new();
    let (hx, px) = (unique("bo"), unique("bp"));
    nl.create_veth(&hx, &px).await.unwrap();
    nl.add_address(&hx, out.gateway, out.prefix_len())
        .await
        .unwrap();
    nl.set_up(&hx).await.unwrap();
    host.exec(&["ip", "link", "set", &px, "netns", &x.name]);
    let ip_x = Ipv4Addr::from(u32::from(out.gateway) + 1);
    x.exec(&[
        "ip",
        "addr",
        "add",
        &format!("{ip_x}/{}", out.prefix_len()),
        "dev",
        &px,
    ]);
    x.exec(&["ip", "link", "set", &px, "up"]);

    // Start from forwarding off in the private host.
    host.exec(&["sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward"]);
    let changed = enable_forwarding(
        Some(&hp),
        &Forwarding {
            bridges: vec![br_a.clone(), br_b.clone()],
            global: true,
            route_localnet: true,
        },
    )
    .unwrap();
    assert!(
        changed.contains(&"net/ipv4/ip_forward".to_string()),
        "{changed:?}"
    );
    assert!(
        changed.contains(&format!("net/ipv4/conf/{br_a}/route_localnet")),
        "{changed:?}"
    );
    assert_eq!(
        berth_network::netns::run(&hp, move || berth_network::netns::read_sysctl(
            "net/ipv4/ip_forward"
        ))
        .unwrap()
        .unwrap(),
        "1"
    );
    host.exec(&["iptables", "-P", "FORWARD", "DROP"]);

    let table = "berth";
    let mut rs = Ruleset::new(table);
    rs.networks = vec![
        NetworkRules::new(&br_a, net_a.subnet),
        NetworkRules::new(&br_b, net_b.subnet),
    ];
    fw.apply(&rs).await.unwrap();
    let drops = fw.forward_drop_chains(table).await.unwrap();
    assert_eq!(drops, vec!["ip filter/FORWARD".to_string()]);
    assert!(
        !a1.ping(ip_x),
        "a foreign FORWARD drop policy wins over berth's accept"
    );

    let tag = "berth-test";
    assert_eq!(
        fw.iptables_accept_bridges(tag, &[br_a.clone(), br_b.clone()])
            .await
            .unwrap(),
        4
    );
    // Calling again replaces (does not duplicate) the rules.
    assert_eq!(
        fw.iptables_accept_bridges(tag, &[br_a.clone(), br_b.clone()])
            .await
            .unwrap(),
        4
    );
    let rules = host.exec(&["iptables", "-S", "FORWARD"]);
    assert_eq!(rules.matches(tag).count(), 4, "{rules}");
    assert!(a1.ping(ip_x), "accepted by iptables, masqueraded by berth");
    assert!(!a1.ping(ip_b1), "berth's isolation still applies");

    assert_eq!(fw.iptables_accept_bridges(tag, &[]).await.unwrap(), 0);
    assert!(!host.exec(&["iptables", "-S", "FORWARD"]).contains(tag));
    assert!(!a1.ping(ip_x));
    assert!(fw.remove(table).await.unwrap());
    // Everything else vanishes with the private namespaces.
}

/// Two starts on a new network make its bridge at the same moment: both
/// succeed, on the one bridge.
#[tokio::test]
async fn concurrent_ensure_bridge_on_one_name() {
    let host = Ns::new();
    let nl = Netlink::in_netns(&host.path()).await.unwrap();
    let net = new_subnet("race").await;
    let name = unique("bt");
    let cfg = BridgeConfig {
        name: name.clone(),
        mtu: None,
        address: Some((net.gateway, net.prefix_len())),
    };
    for _ in 0..5 {
        let (a, b) = tokio::join!(nl.ensure_bridge(&cfg), nl.ensure_bridge(&cfg));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a, b, "one bridge");
        assert!(nl.delete_link(&name).await.unwrap());
    }
    // Everything else goes with the private namespace.
}
