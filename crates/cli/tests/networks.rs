//! Networking as the seminar's labs 13–17 use it, through the real docker
//! CLI and berth's: the default bridge, `none` and `host`, user networks
//! with a chosen subnet and names resolved by the embedded DNS, isolation
//! between networks, `connect`/`disconnect`, macvlan, published ports
//! (busybox httpd reached on 127.0.0.1 and on the container's address),
//! port conflicts, and a daemon restart keeping ports reachable. Traffic
//! goes only to 127.0.0.1 and to addresses on the test daemon's bridges.

mod common;

use std::process::Command;

use common::*;

fn inspect(d: &Daemon, name: &str, fmt: &str) -> String {
    ok(&d.berth(&["inspect", "-f", fmt, name]))
        .trim()
        .to_string()
}

fn setup() -> Daemon {
    let d = Daemon::start();
    d.import_busybox("busybox:latest", &["CMD [\"sh\"]", "EXPOSE 80"]);
    d
}

#[test]
fn bridge_none_host_and_published_ports() {
    let d = setup();
    // Lab 13: the default bridge network gives an address from its subnet.
    let nets = ok(&d.docker(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]));
    for n in ["bridge bridge", "host host", "none null"] {
        assert!(nets.contains(n), "{nets}");
    }
    let subnet = ok(&d.docker(&[
        "network",
        "inspect",
        "bridge",
        "-f",
        "{{(index .IPAM.Config 0).Subnet}}",
    ]));
    assert!(
        subnet.trim().starts_with(&format!("10.{}.", d.net_octet)),
        "{subnet}"
    );
    let out = ok(&d.docker(&[
        "run", "--rm", "busybox", "ip", "-o", "-4", "addr", "show", "eth0",
    ]));
    let prefix = subnet.trim().rsplit_once('.').unwrap().0.to_string();
    assert!(
        out.contains(&format!("inet {prefix}.")),
        "{out} not in {subnet}"
    );
    let route = ok(&d.berth(&["run", "--rm", "busybox", "ip", "route"]));
    assert!(route.starts_with("default via "), "{route}");
    // Lab 14: none has only the loopback interface.
    let out = ok(&d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ls",
        "/sys/class/net",
    ]));
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), vec!["lo"]);
    // Lab 15: host shares the host's interfaces and name.
    let out = ok(&d.docker(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "sh",
        "-c",
        "ls /sys/class/net; hostname",
    ]));
    let host_name = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    assert!(out.contains("eth0") || out.contains("lo"), "{out}");
    assert!(out.trim_end().ends_with(&host_name), "{out}");
    // Published ports: busybox httpd on a host port, and -P.
    let port = free_port();
    ok(&d.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "busybox",
        "sh",
        "-c",
        "echo hello-from-web > /var/www/index.html; httpd -f -p 80 -h /var/www",
    ]));
    let body = http_get(&format!("127.0.0.1:{port}"), "/index.html");
    assert_eq!(body.as_deref(), Some("hello-from-web\n"));
    let ip = inspect(&d, "web", "{{.NetworkSettings.IPAddress}}");
    assert!(ip.starts_with(&prefix), "{ip}");
    assert_eq!(
        http_get(&format!("{ip}:80"), "/index.html").as_deref(),
        Some("hello-from-web\n")
    );
    let ps = ok(&d.docker(&["ps", "--format", "{{.Names}} {{.Ports}}"]));
    assert!(
        ps.contains(&format!("web 127.0.0.1:{port}->80/tcp")),
        "{ps}"
    );
    assert_eq!(
        ok(&d.docker(&["port", "web"])).trim(),
        format!("80/tcp -> 127.0.0.1:{port}")
    );
    assert_eq!(
        ok(&d.berth(&["port", "web", "80"])).trim(),
        format!("127.0.0.1:{port}")
    );
    // The same port again: Docker's message, and nothing is left running.
    let err = fails(&d.docker(&[
        "run",
        "-d",
        "--name",
        "web2",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
    ]));
    assert!(err.contains("port is already allocated"), "{err}");
    assert_eq!(inspect(&d, "web2", "{{.State.Running}}"), "false");
    assert_eq!(inspect(&d, "web2", "{{.NetworkSettings.IPAddress}}"), "");
    // A port held by another process.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hp = held.local_addr().unwrap().port();
    let err = fails(&d.berth(&[
        "run",
        "-d",
        "-p",
        &format!("127.0.0.1:{hp}:80"),
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
    ]));
    assert!(err.contains("address already in use"), "{err}");
    drop(held);
    // -P publishes the image's EXPOSE list on ephemeral ports.
    ok(&d.berth(&[
        "run", "-d", "--name", "pub", "-P", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc",
    ]));
    let mapped = ok(&d.berth(&["port", "pub", "80/tcp"]));
    let hp: u16 = mapped.trim().rsplit(':').next().unwrap().parse().unwrap();
    assert!((32768..=60999).contains(&hp) || hp >= 1024, "{mapped}");
    assert!(http_get(&format!("127.0.0.1:{hp}"), "/hostname").is_some());
    // A restart of the daemon keeps the container reachable on its port.
    let mut d = d;
    d.restart();
    assert_eq!(
        http_get(&format!("127.0.0.1:{port}"), "/index.html").as_deref(),
        Some("hello-from-web\n"),
        "after a daemon restart"
    );
    // Stopping the container frees its port and its address.
    ok(&d.berth(&["stop", "-t", "1", "web"]));
    assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
    assert_eq!(inspect(&d, "web", "{{.NetworkSettings.IPAddress}}"), "");
    ok(&d.berth(&["rm", "-f", "web", "web2", "pub"]));
}

#[test]
fn user_networks_dns_isolation_connect() {
    let d = setup();
    let subnet = format!("10.{}.77.0/24", d.net_octet);
    // Lab 16: a user network with a chosen subnet; names resolve there.
    ok(&d.docker(&[
        "network", "create", "--subnet", &subnet, "--label", "lab=16", "appnet",
    ]));
    ok(&d.docker(&["network", "create", "othernet"]));
    let err = fails(&d.docker(&["network", "create", "appnet"]));
    assert!(err.contains("already exists"), "{err}");
    let err = fails(&d.berth(&["network", "create", "--subnet", "300.1.1.0/24", "bad"]));
    assert!(!err.is_empty());
    assert!(!ok(&d.berth(&["network", "ls"])).contains(" bad "));
    ok(&d.docker(&[
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "appnet",
        "--network-alias",
        "store",
        "busybox",
        "sleep",
        "300",
    ]));
    ok(&d.docker(&[
        "run",
        "-d",
        "--name",
        "db2",
        "--network",
        "appnet",
        "--network-alias",
        "store",
        "busybox",
        "sleep",
        "300",
    ]));
    ok(&d.docker(&[
        "run",
        "-d",
        "--name",
        "app",
        "--network",
        "appnet",
        "--ip",
        &format!("10.{}.77.50", d.net_octet),
        "busybox",
        "sleep",
        "300",
    ]));
    assert_eq!(
        inspect(&d, "app", "{{.NetworkSettings.Networks.appnet.IPAddress}}"),
        format!("10.{}.77.50", d.net_octet)
    );
    let resolv = ok(&d.berth(&["exec", "app", "cat", "/etc/resolv.conf"]));
    assert!(resolv.contains("nameserver 127.0.0.11"), "{resolv}");
    let db_ip = inspect(&d, "db", "{{.NetworkSettings.Networks.appnet.IPAddress}}");
    let out = ok(&d.berth(&["exec", "app", "nslookup", "db"]));
    assert!(out.contains(&db_ip), "{out}");
    let short = &inspect(&d, "db", "{{.Id}}")[..12];
    let out = ok(&d.berth(&["exec", "app", "nslookup", short]));
    assert!(out.contains(&db_ip), "{out}");
    // Both holders of an alias answer.
    let db2_ip = inspect(&d, "db2", "{{.NetworkSettings.Networks.appnet.IPAddress}}");
    let out = ok(&d.berth(&["exec", "app", "nslookup", "store"]));
    assert!(out.contains(&db_ip) && out.contains(&db2_ip), "{out}");
    let out = ok(&d.berth(&["exec", "app", "ping", "-c", "1", "-W", "2", "db"]));
    assert!(out.contains("1 packets received"), "{out}");
    // The default bridge has no names.
    ok(&d.berth(&["run", "-d", "--name", "b1", "busybox", "sleep", "300"]));
    let out = d.berth(&["run", "--rm", "busybox", "nslookup", "b1"]);
    assert!(
        !out.status.success() || !text(&out.stdout).contains("Address"),
        "{}",
        text(&out.stdout)
    );
    // Isolation: othernet cannot reach appnet.
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "stranger",
        "--network",
        "othernet",
        "busybox",
        "sleep",
        "300",
    ]));
    let out = d.berth(&["exec", "stranger", "ping", "-c", "1", "-W", "1", &db_ip]);
    assert!(
        !out.status.success(),
        "isolation broken: {}",
        text(&out.stdout)
    );
    // Lab 17: connect adds a second interface; then the names resolve.
    ok(&d.docker(&[
        "network", "connect", "--alias", "visitor", "appnet", "stranger",
    ]));
    let ifs = ok(&d.berth(&["exec", "stranger", "ls", "/sys/class/net"]));
    assert_eq!(
        ifs.split_whitespace().collect::<Vec<_>>(),
        vec!["eth0", "eth1", "lo"]
    );
    let out = ok(&d.berth(&["exec", "stranger", "ping", "-c", "1", "-W", "2", "db"]));
    assert!(out.contains("1 packets received"), "{out}");
    let out = ok(&d.berth(&["exec", "app", "nslookup", "visitor"]));
    assert!(out.contains("Address"), "{out}");
    let listed = ok(&d.docker(&[
        "network",
        "inspect",
        "appnet",
        "-f",
        "{{range .Containers}}{{.Name}} {{end}}",
    ]));
    for c in ["db", "db2", "app", "stranger"] {
        assert!(listed.split_whitespace().any(|x| x == c), "{listed}");
    }
    ok(&d.docker(&["network", "disconnect", "appnet", "stranger"]));
    let ifs = ok(&d.berth(&["exec", "stranger", "ls", "/sys/class/net"]));
    assert_eq!(
        ifs.split_whitespace().collect::<Vec<_>>(),
        vec!["eth0", "lo"]
    );
    // A network in use cannot go; unused ones are pruned.
    let err = fails(&d.docker(&["network", "rm", "appnet"]));
    assert!(err.contains("active endpoints"), "{err}");
    let err = fails(&d.berth(&["network", "rm", "bridge"]));
    assert!(err.contains("pre-defined network"), "{err}");
    ok(&d.berth(&["network", "create", "unused"]));
    let pruned = ok(&d.berth(&["network", "prune", "-f"]));
    assert!(pruned.contains("unused"), "{pruned}");
    assert!(!pruned.contains("appnet"), "{pruned}");
    let filtered = ok(&d.berth(&["network", "ls", "-f", "label=lab=16", "-q"]));
    assert_eq!(filtered.lines().count(), 1, "{filtered}");
    ok(&d.berth(&["rm", "-f", "db", "db2", "app", "b1", "stranger"]));
    ok(&d.docker(&["network", "rm", "appnet", "othernet"]));
    // Events for networks.
    let events = d.event_actions(&["type=network"]);
    for a in ["create", "connect", "disconnect", "destroy"] {
        assert!(events.lines().any(|l| l == a), "no {a} in {events}");
    }
}

/// A link of the test's own (a veth pair, a bridge), removed on drop.
struct Link(String);

impl Drop for Link {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).status();
    }
}

#[test]
fn macvlan_on_a_veth_end_and_cleanup_at_stop() {
    let d = setup();
    let parent = format!("{}m", d.net_prefix);
    let peer = format!("{}n", d.net_prefix);
    assert!(Command::new("ip")
        .args(["link", "add", &parent, "type", "veth", "peer", "name", &peer])
        .status()
        .unwrap()
        .success());
    let _veth = Link(parent.clone());
    let _ = Command::new("ip")
        .args(["link", "set", &parent, "up"])
        .status();
    let _ = Command::new("ip")
        .args(["link", "set", &peer, "up"])
        .status();
    let subnet = format!("10.{}.88.0/24", d.net_octet);
    ok(&d.docker(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "--subnet",
        &subnet,
        "-o",
        &format!("parent={parent}"),
        "mvnet",
    ]));
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "m1",
        "--network",
        "mvnet",
        "busybox",
        "sleep",
        "300",
    ]));
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "m2",
        "--network",
        "mvnet",
        "busybox",
        "sleep",
        "300",
    ]));
    let ip2 = inspect(&d, "m2", "{{.NetworkSettings.Networks.mvnet.IPAddress}}");
    assert!(ip2.starts_with(&format!("10.{}.88.", d.net_octet)), "{ip2}");
    let out = ok(&d.berth(&["exec", "m1", "ping", "-c", "1", "-W", "2", &ip2]));
    assert!(out.contains("1 packets received"), "{out}");
    let err = fails(&d.berth(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "-o",
        "parent=nosuchif0",
        "bad",
    ]));
    assert!(err.contains("parent interface was not found"), "{err}");
    ok(&d.berth(&["rm", "-f", "m1", "m2"]));
    ok(&d.berth(&["network", "rm", "mvnet"]));
    // A container on the default bridge creates the bridge and the table;
    // a clean stop with nothing running removes both.
    ok(&d.berth(&["run", "--rm", "busybox", "true"]));
    let table = Command::new("nft")
        .args(["list", "table", "ip", &d.net_prefix])
        .output()
        .unwrap();
    assert!(
        table.status.success(),
        "berth's table exists while the daemon runs"
    );
    let mut d = d;
    d.stop();
    let table = Command::new("nft")
        .args(["list", "table", "ip", &d.net_prefix])
        .output()
        .unwrap();
    assert!(
        !table.status.success(),
        "the table is gone after a clean stop"
    );
    let links = text(
        &Command::new("ip")
            .args(["-o", "link"])
            .output()
            .unwrap()
            .stdout,
    );
    assert!(
        !links.contains(&format!("{}0", d.net_prefix)),
        "the default bridge is gone: {links}"
    );
}

/// A new `--bip` at a later start re-addresses the default bridge (as
/// dockerd, which makes it anew each start); while containers run on it
/// (live restore) it keeps its addresses.
#[test]
fn default_bridge_follows_a_new_bip_after_a_restart() {
    let mut d = Daemon::unstarted(&[]);
    let o = d.net_octet;
    d.extra = vec!["--bip".into(), format!("10.{o}.98.1/24")];
    d.spawn().expect("daemon with --bip");
    d.import_busybox("busybox:latest", &["CMD [\"sh\"]"]);
    let addr = |d: &Daemon, args: &[&str]| {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(args);
        a.extend([
            "busybox",
            "sh",
            "-c",
            "ip -4 -o addr show eth0 | awk '{print $4}'; ip route | awk '/default/ {print $3}'",
        ]);
        ok(&d.berth(&a))
    };
    assert_eq!(
        addr(&d, &[]).lines().nth(1),
        Some(format!("10.{o}.98.1").as_str())
    );
    ok(&d.berth(&["create", "--name", "keeper", "busybox", "sleep", "1000"]));
    let ipam = |d: &Daemon| {
        ok(&d.docker(&[
            "network",
            "inspect",
            "-f",
            "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}",
            "bridge",
        ]))
        .trim()
        .to_string()
    };
    let id_before = ok(&d.berth(&["network", "inspect", "-f", "{{.Id}}", "bridge"]));
    d.stop();
    d.extra = vec!["--bip".into(), format!("10.{o}.97.1/24")];
    d.spawn().expect("restart with another --bip");
    assert_eq!(ipam(&d), format!("10.{o}.97.0/24 10.{o}.97.1"));
    assert_eq!(
        ok(&d.berth(&["network", "inspect", "-f", "{{.Id}}", "bridge"])),
        id_before
    );
    let out = addr(&d, &[]);
    assert!(out.starts_with(&format!("10.{o}.97.")), "{out}");
    assert_eq!(
        out.lines().nth(1),
        Some(format!("10.{o}.97.1").as_str()),
        "{out}"
    );
    // The bridge device carries the new gateway.
    let dev = text(
        &Command::new("ip")
            .args(["-4", "-o", "addr", "show", &format!("{}0", d.net_prefix)])
            .output()
            .unwrap()
            .stdout,
    );
    assert!(dev.contains(&format!("10.{o}.97.1/24")), "{dev}");
    assert!(!dev.contains(&format!("10.{o}.98.1")), "{dev}");
    // A container made before the change gets an address of the new subnet.
    ok(&d.berth(&["start", "keeper"]));
    let ip = ok(&d.berth(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "keeper"]));
    assert!(ip.starts_with(&format!("10.{o}.97.")), "{ip}");
    // With it running across a restart, the bridge keeps its addresses.
    d.stop();
    d.extra = vec!["--bip".into(), format!("10.{o}.96.1/24")];
    d.spawn().expect("restart with a container running");
    assert_eq!(ipam(&d), format!("10.{o}.97.0/24 10.{o}.97.1"));
    assert!(d
        .log()
        .contains("keeps its addresses while containers run on it (keeper)"));
    ok(&d.berth(&["rm", "-f", "keeper"]));
}

/// The default bridge from dockerd's flags: `--fixed-cidr` alone is the
/// bridge's subnet (as dockerd makes it) and containers get addresses from it; a
/// bridge that a crash left without a network record goes at the next start.
#[test]
fn default_bridge_from_fixed_cidr_and_stale_bridges_after_a_crash() {
    let mut d = Daemon::unstarted(&[]);
    let fixed = format!("10.{}.99.128/25", d.net_octet);
    d.extra = vec!["--fixed-cidr".into(), fixed.clone()];
    d.spawn().expect("a daemon with --fixed-cidr alone starts");
    d.import_busybox("busybox:latest", &["CMD [\"sh\"]"]);
    let subnet = ok(&d.docker(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
        "bridge",
    ]));
    assert_eq!(subnet.trim(), fixed);
    let ip = ok(&d.berth(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "ip -4 -o addr show eth0 | awk '{print $4}'",
    ]));
    let prefix = format!("10.{}.99.", d.net_octet);
    let last: u32 = ip
        .trim()
        .strip_prefix(&prefix)
        .and_then(|r| r.strip_suffix("/25"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("address {ip} outside {fixed}"));
    assert!(last >= 128, "address {ip} outside {fixed}");
    // A bridge named as berth names them, with no network behind it.
    let stale = format!("{}stale", d.net_prefix);
    let made = Command::new("ip")
        .args(["link", "add", &stale, "type", "bridge"])
        .status()
        .unwrap();
    assert!(made.success());
    d.kill9();
    d.spawn().unwrap();
    let links = text(
        &Command::new("ip")
            .args(["-o", "link"])
            .output()
            .unwrap()
            .stdout,
    );
    assert!(!links.contains(&stale), "stale bridge kept: {links}");
    assert!(
        links.contains(&format!("{}0", d.net_prefix)),
        "the default bridge stays: {links}"
    );
}

/// The host ends of veth pairs enslaved to `bridge`.
fn veths_on(bridge: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["-o", "link", "show", "master", bridge])
        .output()
        .unwrap();
    text(&out.stdout)
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
        .filter(|n| n.starts_with("veth"))
        .collect()
}

/// Waits up to `secs` for `cond`.
fn eventually(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(secs) {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    cond()
}

/// `--network container:NAME` shares the target's /etc/hosts,
/// /etc/resolv.conf and hostname (so the embedded DNS answers in the shared
/// namespace), follows later changes of the target's files, and refuses
/// Docker's conflicting options.
#[test]
fn container_network_mode_shares_hosts_resolv_and_hostname() {
    let d = setup();
    let subnet = format!("10.{}.93.0/24", d.net_octet);
    ok(&d.docker(&["network", "create", "--subnet", &subnet, "shnet"]));
    ok(&d.docker(&["network", "create", "shnet2"]));
    ok(&d.docker(&[
        "run",
        "-d",
        "--name",
        "nsowner",
        "--network",
        "shnet",
        "--add-host",
        "extra.example:10.1.2.3",
        "busybox",
        "sleep",
        "300",
    ]));
    ok(&d.docker(&[
        "run",
        "-d",
        "--name",
        "nsjoiner",
        "--network",
        "container:nsowner",
        "busybox",
        "sleep",
        "300",
    ]));
    let cat = |c: &str, f: &str| ok(&d.berth(&["exec", c, "cat", f]));
    let hosts = cat("nsowner", "/etc/hosts");
    assert!(hosts.contains("extra.example"), "{hosts}");
    assert_eq!(cat("nsjoiner", "/etc/hosts"), hosts);
    let resolv = cat("nsowner", "/etc/resolv.conf");
    assert!(resolv.contains("nameserver 127.0.0.11"), "{resolv}");
    assert_eq!(cat("nsjoiner", "/etc/resolv.conf"), resolv);
    assert_eq!(
        ok(&d.berth(&["exec", "nsjoiner", "hostname"])),
        ok(&d.berth(&["exec", "nsowner", "hostname"]))
    );
    assert_eq!(
        inspect(&d, "nsjoiner", "{{.Config.Hostname}}"),
        inspect(&d, "nsowner", "{{.Config.Hostname}}")
    );
    // inspect names the target's files, as Docker's does.
    for f in ["{{.HostsPath}}", "{{.ResolvConfPath}}", "{{.HostnamePath}}"] {
        assert_eq!(inspect(&d, "nsjoiner", f), inspect(&d, "nsowner", f), "{f}");
    }
    // The embedded DNS server answers in the shared namespace.
    let ip = inspect(
        &d,
        "nsowner",
        "{{.NetworkSettings.Networks.shnet.IPAddress}}",
    );
    let out = ok(&d.berth(&["exec", "nsjoiner", "nslookup", "nsowner"]));
    assert!(out.contains(&ip), "{out}");
    // A change of the target's file is seen by the joiner too.
    ok(&d.docker(&["network", "connect", "shnet2", "nsowner"]));
    let hosts2 = cat("nsowner", "/etc/hosts");
    assert_ne!(hosts2, hosts);
    assert_eq!(cat("nsjoiner", "/etc/hosts"), hosts2);
    // Options the shared namespace cannot honour are refused at create.
    for (flag, value, msg) in [
        (
            "--dns",
            "10.1.1.1",
            "conflicting options: dns and the network mode",
        ),
        (
            "--add-host",
            "a.example:10.1.1.1",
            "conflicting options: custom host-to-IP mapping and the network mode",
        ),
        (
            "-p",
            "127.0.0.1::80",
            "conflicting options: port publishing and the container type network mode",
        ),
        (
            "--link",
            "nsowner:o",
            "conflicting options: container type network can't be used with links",
        ),
        (
            "--hostname",
            "mine",
            "conflicting options: hostname and the network mode",
        ),
        (
            "--expose",
            "80",
            "conflicting options: port exposing and the container type network mode",
        ),
    ] {
        let err = fails(&d.docker(&[
            "create",
            "--network",
            "container:nsowner",
            flag,
            value,
            "busybox",
        ]));
        assert!(err.contains(msg), "{flag}: {err}");
    }
    ok(&d.berth(&["rm", "-f", "nsjoiner", "nsowner"]));
    ok(&d.berth(&["network", "rm", "shnet", "shnet2"]));
}

/// Legacy `--link` on the default bridge: a missing or stopped target is
/// refused with Docker's messages; the linking container gets Docker's
/// link variables (ports, ranges, name, the target's env) for the run
/// only, and the /etc/hosts entry `IP\tALIAS HOSTNAME NAME`.
#[test]
fn legacy_links_env_hosts_and_refusals() {
    let d = setup();
    let err = fails(&d.docker(&["run", "--rm", "--link", "nosuch:db", "busybox", "true"]));
    assert!(
        err.contains("could not get container for nosuch: No such container: nosuch"),
        "{err}"
    );
    ok(&d.docker(&[
        "run",
        "-d",
        "--name",
        "linkdb",
        "-e",
        "DBPASS=secret",
        "--expose",
        "81",
        "--expose",
        "82",
        "--expose",
        "53/udp",
        "busybox",
        "sleep",
        "300",
    ]));
    let ip = inspect(&d, "linkdb", "{{.NetworkSettings.IPAddress}}");
    let host = inspect(&d, "linkdb", "{{.Config.Hostname}}");
    let out = ok(&d.docker(&[
        "run",
        "--name",
        "linkweb",
        "--link",
        "linkdb:db-1",
        "busybox",
        "sh",
        "-c",
        "env; echo ===; cat /etc/hosts",
    ]));
    let (env, hosts) = out.split_once("===").unwrap();
    let env: Vec<&str> = env.lines().collect();
    for want in [
        format!("DB_1_PORT=tcp://{ip}:80"),
        format!("DB_1_PORT_80_TCP=tcp://{ip}:80"),
        format!("DB_1_PORT_80_TCP_ADDR={ip}"),
        "DB_1_PORT_80_TCP_PORT=80".to_string(),
        "DB_1_PORT_80_TCP_PROTO=tcp".to_string(),
        format!("DB_1_PORT_82_TCP=tcp://{ip}:82"),
        format!("DB_1_PORT_80_TCP_START=tcp://{ip}:80"),
        "DB_1_PORT_80_TCP_PORT_START=80".to_string(),
        format!("DB_1_PORT_80_TCP_END=tcp://{ip}:82"),
        "DB_1_PORT_80_TCP_PORT_END=82".to_string(),
        format!("DB_1_PORT_53_UDP=udp://{ip}:53"),
        "DB_1_NAME=/linkweb/db-1".to_string(),
        "DB_1_ENV_DBPASS=secret".to_string(),
    ] {
        assert!(env.contains(&want.as_str()), "{want} not in {env:?}");
    }
    assert!(
        !env.iter().any(|v| v.starts_with("DB_1_ENV_PATH=")),
        "{env:?}"
    );
    assert!(
        hosts.contains(&format!("{ip}\tdb-1 {host} linkdb\n")),
        "{hosts}"
    );
    // The variables belong to the run, not to the container's config.
    let cfg_env = inspect(&d, "linkweb", "{{json .Config.Env}}");
    assert!(!cfg_env.contains("DB_1_"), "{cfg_env}");
    // Also while it runs (a commit would not capture them); an exec'd
    // process gets them, as in Docker.
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "linklive",
        "--link",
        "linkdb:db-1",
        "busybox",
        "sleep",
        "1000",
    ]));
    let cfg_env = inspect(&d, "linklive", "{{json .Config.Env}}");
    assert!(!cfg_env.contains("DB_1_"), "{cfg_env}");
    let env = ok(&d.berth(&["exec", "linklive", "env"]));
    assert!(env.contains("DB_1_NAME=/linklive/db-1"), "{env}");
    ok(&d.berth(&["rm", "-f", "linklive"]));
    // A link to a container that does not run: Docker's message at start.
    ok(&d.berth(&["create", "--name", "linkoff", "busybox", "true"]));
    let err = fails(&d.docker(&[
        "run",
        "--name",
        "linkweb2",
        "--link",
        "linkoff:off",
        "busybox",
        "true",
    ]));
    assert!(
        err.contains("Cannot link to a non running container: /linkoff AS /linkweb2/off"),
        "{err}"
    );
    ok(&d.berth(&["rm", "-f", "linkdb", "linkweb", "linkweb2", "linkoff"]));
}

/// `network rm` of a network only stopped containers are on succeeds (they
/// hold no endpoint); the stopped container keeps its settings and its
/// start then fails with Docker's message; `disconnect -f` drops the stale
/// network. A running container still blocks the removal.
#[test]
fn network_rm_with_only_stopped_containers() {
    let d = setup();
    ok(&d.docker(&["network", "create", "rmnet"]));
    let net_id = ok(&d.docker(&["network", "inspect", "-f", "{{.Id}}", "rmnet"]))
        .trim()
        .to_string();
    ok(&d.docker(&[
        "run",
        "-d",
        "--name",
        "rmlive",
        "--network",
        "rmnet",
        "busybox",
        "sleep",
        "300",
    ]));
    ok(&d.docker(&[
        "run",
        "--name",
        "rmstopped",
        "--network",
        "rmnet",
        "busybox",
        "true",
    ]));
    let err = fails(&d.docker(&["network", "rm", "rmnet"]));
    assert!(
        err.contains("error while removing network: network rmnet has active endpoints (rmlive)"),
        "{err}"
    );
    ok(&d.berth(&["rm", "-f", "rmlive"]));
    assert_eq!(ok(&d.docker(&["network", "rm", "rmnet"])).trim(), "rmnet");
    // The stopped container still names the network it was on.
    assert_eq!(
        inspect(
            &d,
            "rmstopped",
            "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.NetworkID}}{{end}}"
        ),
        format!("rmnet={net_id}")
    );
    let err = fails(&d.docker(&["start", "rmstopped"]));
    assert!(
        err.contains(&format!(
            "failed to set up container networking: network {net_id} not found"
        )),
        "{err}"
    );
    assert_eq!(inspect(&d, "rmstopped", "{{.State.Running}}"), "false");
    // What Docker's users do then: drop it and join another network.
    ok(&d.docker(&["network", "disconnect", "-f", "rmnet", "rmstopped"]));
    ok(&d.docker(&["network", "connect", "bridge", "rmstopped"]));
    ok(&d.docker(&["start", "-a", "rmstopped"]));
    // prune too removes a network only stopped containers are on.
    ok(&d.docker(&["network", "create", "prunenet"]));
    ok(&d.docker(&[
        "run",
        "--name",
        "prunec",
        "--network",
        "prunenet",
        "busybox",
        "true",
    ]));
    let pruned = ok(&d.docker(&["network", "prune", "-f"]));
    assert!(pruned.contains("prunenet"), "{pruned}");
    ok(&d.berth(&["rm", "-f", "rmstopped", "prunec"]));
}

/// `network rm -f` of a network that does not exist succeeds silently, as
/// with the docker CLI; without `-f` it fails with Docker's message.
#[test]
fn network_rm_force_of_a_missing_network_is_silent() {
    let d = Daemon::start();
    for out in [
        d.berth(&["network", "rm", "-f", "nosuchnet"]),
        d.docker(&["network", "rm", "-f", "nosuchnet"]),
    ] {
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "");
        assert_eq!(text(&out.stderr), "");
    }
    let out = d.berth(&["network", "rm", "nosuchnet"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        "Error response from daemon: network nosuchnet not found"
    );
    // -f still reports other failures, and removes what exists.
    ok(&d.berth(&["network", "create", "forcenet"]));
    let out = d.berth(&["network", "rm", "-f", "nosuchnet", "forcenet", "bridge"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "forcenet\n");
    assert!(
        text(&out.stderr).contains("bridge is a pre-defined network"),
        "{}",
        text(&out.stderr)
    );
}

/// `network prune --filter until=…` keeps networks created after the
/// instant (timestamps and durations), and label filters select as
/// Docker's (`label` all of them, `label!` none).
#[test]
fn network_prune_until_and_label_filters() {
    let d = Daemon::start();
    ok(&d.berth(&["network", "create", "--label", "tier=a", "oldnet"]));
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let cut = unix_now();
    std::thread::sleep(std::time::Duration::from_millis(1200));
    ok(&d.berth(&["network", "create", "--label", "tier=b", "newnet"]));
    ok(&d.berth(&[
        "network", "create", "--label", "tier=b", "--label", "x", "newx",
    ]));
    // Nothing is an hour old.
    let out = ok(&d.docker(&["network", "prune", "-f", "--filter", "until=1h"]));
    assert_eq!(out.trim(), "");
    let out = ok(&d.berth(&[
        "network",
        "prune",
        "-f",
        "--filter",
        &format!("until={cut}"),
    ]));
    assert_eq!(out.trim(), "Deleted Networks:\noldnet");
    // label!: excluded only when every given label matches.
    let out = ok(&d.docker(&[
        "network",
        "prune",
        "-f",
        "--filter",
        "label!=tier=b",
        "--filter",
        "label!=x",
    ]));
    assert_eq!(out.trim(), "Deleted Networks:\nnewnet");
    let out = ok(&d.berth(&["network", "prune", "-f", "--filter", "label=tier=a"]));
    assert_eq!(out.trim(), "");
    let out = ok(&d.berth(&["network", "prune", "-f", "--filter", "label=x"]));
    assert_eq!(out.trim(), "Deleted Networks:\nnewx");
    let err = fails(&d.docker(&[
        "network", "prune", "-f", "--filter", "until=1h", "--filter", "until=2h",
    ]));
    assert!(
        err.contains("more than one until filter specified"),
        "{err}"
    );
}

/// Two free, consecutive runs of host ports on 127.0.0.1: `n` from the
/// first port.
fn free_run(n: u16) -> u16 {
    loop {
        let p = free_port();
        if p > 60000 {
            continue;
        }
        let held: Vec<_> = (0..n)
            .map_while(|i| std::net::TcpListener::bind(("127.0.0.1", p + i)).ok())
            .collect();
        if held.len() == n as usize {
            return p;
        }
    }
}

/// `ps` collapses consecutive ports as the docker CLI does (ranges of
/// exposed ports, and of ports published on the same host port), and
/// `port` lists them in the docker CLI's order: berth's output equals the
/// docker CLI's on the same container.
#[test]
fn ps_and_port_show_port_ranges_as_docker_does() {
    let d = setup();
    let p = free_run(3);
    let q = free_run(2);
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "ranges",
        "-p",
        &format!("127.0.0.1:{p}-{}:{p}-{}", p + 2, p + 2),
        "-p",
        &format!("127.0.0.1:{q}-{}:80-81", q + 1),
        "--expose",
        "90-92",
        "--expose",
        "7/udp",
        "busybox",
        "sleep",
        "300",
    ]));
    let want = format!(
        "7/udp, 90-92/tcp, 127.0.0.1:{p}-{e}->{p}-{e}/tcp, 127.0.0.1:{q}->80/tcp, 127.0.0.1:{q1}->81/tcp",
        e = p + 2,
        q1 = q + 1
    );
    let fmt = ["ps", "--filter", "name=ranges", "--format", "{{.Ports}}"];
    assert_eq!(ok(&d.docker(&fmt)).trim(), want);
    assert_eq!(ok(&d.berth(&fmt)).trim(), want);
    let table = ok(&d.berth(&["ps", "--filter", "name=ranges"]));
    assert!(table.contains(&want), "{table}");
    assert_eq!(
        ok(&d.berth(&["port", "ranges"])),
        ok(&d.docker(&["port", "ranges"]))
    );
    assert_eq!(
        ok(&d.berth(&["port", "ranges", "81"])),
        ok(&d.docker(&["port", "ranges", "81"]))
    );
    ok(&d.berth(&["rm", "-f", "ranges"]));
}

/// `-o com.docker.network.bridge.name=` naming a bridge the host already
/// has: used as Docker uses it (containers reach each other and a
/// published 127.0.0.1 port through it), never deleted (network rm, daemon
/// stop); a second network on the same bridge and a device that is not a
/// bridge are refused.
#[test]
fn host_bridge_named_by_option_is_used_not_deleted() {
    let d = setup();
    let name = format!("u{}", &d.net_prefix[1..]);
    assert!(Command::new("ip")
        .args(["link", "add", &name, "type", "bridge"])
        .status()
        .unwrap()
        .success());
    let _bridge = Link(name.clone());
    let opt = format!("com.docker.network.bridge.name={name}");
    let subnet = format!("10.{}.94.0/24", d.net_octet);
    ok(&d.docker(&[
        "network", "create", "--subnet", &subnet, "-o", &opt, "hostbr",
    ]));
    let err = fails(&d.docker(&["network", "create", "-o", &opt, "hostbr2"]));
    assert!(err.contains("networks have same bridge name"), "{err}");
    let veth = format!("x{}", &d.net_prefix[1..]);
    let peer = format!("y{}", &d.net_prefix[1..]);
    assert!(Command::new("ip")
        .args(["link", "add", &veth, "type", "veth", "peer", "name", &peer])
        .status()
        .unwrap()
        .success());
    let _veth = Link(veth.clone());
    let err = fails(&d.docker(&[
        "network",
        "create",
        "-o",
        &format!("com.docker.network.bridge.name={veth}"),
        "notabridge",
    ]));
    assert!(err.contains("not a bridge"), "{err}");
    let port = free_port();
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "hb1",
        "--network",
        "hostbr",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "busybox",
        "sh",
        "-c",
        "echo on-host-bridge > /var/www/index.html; httpd -f -p 80 -h /var/www",
    ]));
    assert_eq!(
        http_get(&format!("127.0.0.1:{port}"), "/index.html").as_deref(),
        Some("on-host-bridge\n")
    );
    let ip = inspect(&d, "hb1", "{{.NetworkSettings.Networks.hostbr.IPAddress}}");
    let out = ok(&d.berth(&[
        "run",
        "--rm",
        "--network",
        "hostbr",
        "busybox",
        "ping",
        "-c",
        "1",
        "-W",
        "2",
        &ip,
    ]));
    assert!(out.contains("1 packets received"), "{out}");
    // berth leaves route_localnet of the host's bridge alone.
    let rl = std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{name}/route_localnet"))
        .unwrap_or_default();
    assert_eq!(rl.trim(), "0");
    ok(&d.berth(&["rm", "-f", "hb1"]));
    ok(&d.docker(&["network", "rm", "hostbr"]));
    assert!(std::path::Path::new("/sys/class/net").join(&name).exists());
    // Nor does a clean stop delete it.
    ok(&d.docker(&[
        "network", "create", "--subnet", &subnet, "-o", &opt, "hostbr",
    ]));
    ok(&d.berth(&["run", "--rm", "--network", "hostbr", "busybox", "true"]));
    let mut d = d;
    d.stop();
    assert!(std::path::Path::new("/sys/class/net").join(&name).exists());
}

/// A port published on 127.0.0.1 goes through nftables DNAT (the bridge
/// routes 127.0.0.0/8, the host's loopback clients are masqueraded towards
/// it, loopback packets from the bridge are dropped): it answers even while
/// the daemon, and with it the userland proxy, is down. With
/// `--iptables=false` the proxy still serves it.
#[test]
fn loopback_clients_of_published_ports_go_through_dnat() {
    let mut d = setup();
    let port = free_port();
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "lo-web",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "busybox",
        "sh",
        "-c",
        "echo via-dnat > /var/www/index.html; httpd -f -p 80 -h /var/www",
    ]));
    assert_eq!(
        http_get(&format!("127.0.0.1:{port}"), "/index.html").as_deref(),
        Some("via-dnat\n")
    );
    let bridge = format!("{}0", d.net_prefix);
    let rl = std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet"))
        .unwrap();
    assert_eq!(rl.trim(), "1");
    let table = text(
        &Command::new("nft")
            .args(["list", "table", "ip", &d.net_prefix])
            .output()
            .unwrap()
            .stdout,
    );
    assert!(
        table.contains(&format!(
            "ip daddr 127.0.0.1 iifname != \"{bridge}\" tcp dport {port} dnat to"
        )),
        "{table}"
    );
    assert!(table.contains("MASQUERADE LOOPBACK"), "{table}");
    assert!(
        table.contains(&format!("iifname \"{bridge}\" ip daddr 127.0.0.0/8 drop")),
        "{table}"
    );
    // The kernel path does not need the daemon.
    d.kill9();
    assert_eq!(
        http_get(&format!("127.0.0.1:{port}"), "/index.html").as_deref(),
        Some("via-dnat\n"),
        "127.0.0.1 while the daemon is down"
    );
    d.spawn().unwrap();
    ok(&d.berth(&["rm", "-f", "lo-web"]));
    drop(d);
    // Without berth's firewall the userland proxy answers.
    let d = Daemon::start_with(&["--iptables=false"]);
    d.import_busybox("busybox:latest", &["CMD [\"sh\"]"]);
    let port = free_port();
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "lo-proxy",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "busybox",
        "sh",
        "-c",
        "echo via-proxy > /var/www/index.html; httpd -f -p 80 -h /var/www",
    ]));
    assert_eq!(
        http_get(&format!("127.0.0.1:{port}"), "/index.html").as_deref(),
        Some("via-proxy\n")
    );
    ok(&d.berth(&["rm", "-f", "lo-proxy"]));
}

/// The host ends of veths go with the container's namespace: nothing is
/// left on the bridge after many stops at once or `rm -f`, restarts work
/// at once (with a fixed `--ip` too), `network disconnect` removes the
/// interface at once, and a container that ended while the daemon was
/// down leaves no veth after the daemon's next start.
#[test]
fn veths_go_with_the_namespace_and_restarts_work_at_once() {
    let mut d = setup();
    let subnet = format!("10.{}.95.0/24", d.net_octet);
    ok(&d.berth(&["network", "create", "--subnet", &subnet, "vnet"]));
    let id = ok(&d.berth(&["network", "inspect", "-f", "{{.Id}}", "vnet"]));
    // berth's name for a user bridge: the prefix and the ID, 15 at most.
    let mut bridge = format!("{}{}", d.net_prefix, &id.trim()[..12]);
    bridge.truncate(15);
    let names: Vec<String> = (0..6).map(|i| format!("v{i}")).collect();
    for n in &names {
        ok(&d.berth(&[
            "run",
            "-d",
            "--name",
            n,
            "--network",
            "vnet",
            "busybox",
            "sleep",
            "300",
        ]));
    }
    assert_eq!(veths_on(&bridge).len(), 6);
    let mut args = vec!["stop", "-t", "0"];
    args.extend(names.iter().map(String::as_str));
    ok(&d.berth(&args));
    assert!(
        eventually(10, || veths_on(&bridge).is_empty()),
        "left behind: {:?}",
        veths_on(&bridge)
    );
    // Restarts at once, on a dynamic and on a fixed address.
    let fixed = format!("10.{}.95.200", d.net_octet);
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "vfixed",
        "--network",
        "vnet",
        "--ip",
        &fixed,
        "busybox",
        "sleep",
        "300",
    ]));
    for _ in 0..3 {
        ok(&d.berth(&["restart", "-t", "0", "v0", "vfixed"]));
        let out = ok(&d.berth(&["exec", "v0", "ping", "-c", "1", "-W", "2", &fixed]));
        assert!(out.contains("1 packets received"), "{out}");
        let v0 = inspect(&d, "v0", "{{.NetworkSettings.Networks.vnet.IPAddress}}");
        let out = ok(&d.berth(&["exec", "vfixed", "ping", "-c", "1", "-W", "2", &v0]));
        assert!(out.contains("1 packets received"), "{out}");
    }
    assert!(
        eventually(10, || veths_on(&bridge).len() == 2),
        "{:?}",
        veths_on(&bridge)
    );
    // disconnect removes the interface while the container runs.
    ok(&d.berth(&["network", "disconnect", "vnet", "v0"]));
    assert_eq!(veths_on(&bridge).len(), 1);
    ok(&d.berth(&["rm", "-f", "v0", "vfixed"]));
    assert!(
        eventually(10, || veths_on(&bridge).is_empty()),
        "{:?}",
        veths_on(&bridge)
    );
    // A container ending while the daemon is down.
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "vcrash",
        "--network",
        "vnet",
        "busybox",
        "sleep",
        "300",
    ]));
    let pid: i32 = inspect(&d, "vcrash", "{{.State.Pid}}").parse().unwrap();
    d.kill9();
    signal(pid as u32, rustix::process::Signal::KILL);
    d.spawn().unwrap();
    assert!(
        eventually(10, || veths_on(&bridge).is_empty()),
        "{:?}",
        veths_on(&bridge)
    );
    assert_eq!(inspect(&d, "vcrash", "{{.State.Running}}"), "false");
    ok(&d.berth(&["start", "vcrash"]));
    assert_eq!(veths_on(&bridge).len(), 1);
    ok(&d.berth(&["rm", "-f", "vcrash"]));
}

/// A one-answer DNS server on `addr`: every A query gets `answer`. Returns
/// how many queries it answered (read after `stop` is set).
fn fake_upstream(
    addr: std::net::SocketAddr,
    answer: [u8; 4],
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<usize> {
    let sock = std::net::UdpSocket::bind(addr).expect("bind the fake upstream");
    sock.set_read_timeout(Some(std::time::Duration::from_millis(100)))
        .unwrap();
    std::thread::spawn(move || {
        let mut served = 0;
        let mut buf = [0u8; 512];
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            if n < 12 {
                continue;
            }
            // Header: same ID, response + recursion available, 1 question, 1 answer.
            let mut r = buf[..2].to_vec();
            r.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
            r.extend_from_slice(&buf[12..n]);
            // The answer: a pointer to the question's name, A, IN, TTL 60.
            r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
            r.extend_from_slice(&answer);
            let _ = sock.send_to(&r, from);
            served += 1;
        }
        served
    })
}

/// The embedded DNS server forwards to a loopback resolver (systemd-resolved's
/// 127.0.0.53, or `--dns 127.x`) from the daemon's namespace, where it
/// answers, as Docker 26+ does; the container itself never sees it.
#[test]
fn embedded_dns_forwards_to_a_loopback_resolver() {
    let d = setup();
    let pid = std::process::id();
    let ip = format!(
        "127.{}.{}.{}",
        100 + pid % 100,
        (pid / 100) % 250 + 1,
        d.net_octet
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let server = fake_upstream(
        format!("{ip}:53").parse().unwrap(),
        [10, 9, 8, 7],
        stop.clone(),
    );
    let net = format!("{}up", d.net_prefix);
    ok(&d.berth(&["network", "create", &net]));
    let out = d.berth(&[
        "run",
        "--rm",
        "--network",
        &net,
        "--dns",
        &ip,
        "busybox",
        "sh",
        "-c",
        "cat /etc/resolv.conf; nslookup far.example.test",
    ]);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let served = server.join().unwrap();
    let out_text = text(&out.stdout);
    assert!(out_text.contains("nameserver 127.0.0.11"), "{out_text}");
    assert!(
        out_text.contains("10.9.8.7"),
        "{out_text}{}",
        text(&out.stderr)
    );
    assert!(served >= 1, "the loopback upstream was never asked");
    ok(&d.berth(&["network", "rm", &net]));
}
