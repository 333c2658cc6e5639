//! `network` commands (`create`, `ls`, `inspect`, `rm`, `prune`,
//! `connect`, `disconnect`) and `port`, as the docker CLI does them.

use std::io::Write;
use std::process::ExitCode;

use berth_api::Client;
use hyper::Method;
use serde_json::{json, Value};

use super::container::Exit;
use crate::cli::{
    NetworkConnect, NetworkCreate, NetworkDisconnect, NetworkLs, NetworkPrune, NetworkRm, PortArgs,
};
use crate::output::{filters_json, print_list, query, short_id, CmdError};

fn kv_map(list: &[String], what: &str) -> Result<serde_json::Map<String, Value>, CmdError> {
    let mut m = serde_json::Map::new();
    for kv in list {
        match kv.split_once('=') {
            Some((k, v)) => {
                m.insert(k.to_string(), json!(v));
            }
            None if what == "label" => {
                m.insert(kv.clone(), json!(""));
            }
            None => return Err(Exit(125, format!("invalid {what}: {kv} (want key=value)")).into()),
        }
    }
    Ok(m)
}

/// `network create`.
pub async fn create(client: &Client, a: &NetworkCreate) -> Result<ExitCode, CmdError> {
    if a.subnet.len() > 1 || a.gateway.len() > 1 || a.ip_range.len() > 1 {
        return Err(Exit(1, "berth supports one IPv4 subnet per network".into()).into());
    }
    if (!a.gateway.is_empty() || !a.ip_range.is_empty() || !a.aux_address.is_empty())
        && a.subnet.is_empty()
    {
        return Err(Exit(
            1,
            "every ip-range or gateway must have a corresponding subnet".into(),
        )
        .into());
    }
    let mut ipam_cfg = Vec::new();
    if let Some(s) = a.subnet.first() {
        let mut c = json!({"Subnet": s});
        if let Some(g) = a.gateway.first() {
            c["Gateway"] = json!(g);
        }
        if let Some(r) = a.ip_range.first() {
            c["IPRange"] = json!(r);
        }
        if !a.aux_address.is_empty() {
            c["AuxiliaryAddresses"] = Value::Object(kv_map(&a.aux_address, "aux-address")?);
        }
        ipam_cfg.push(c);
    }
    let body = json!({
        "Name": a.name,
        "Driver": a.driver,
        "Internal": a.internal,
        "Attachable": a.attachable,
        "EnableIPv6": a.ipv6,
        "IPAM": {"Driver": a.ipam_driver, "Config": ipam_cfg, "Options": {}},
        "Options": Value::Object(kv_map(&a.opt, "option")?),
        "Labels": Value::Object(kv_map(&a.label, "label")?),
    });
    let v = client
        .call_json(Method::POST, "/networks/create", Some(&body))
        .await
        .map_err(|e| Exit(1, format!("Error response from daemon: {e}")))?;
    println!("{}", v["Id"].as_str().unwrap_or(""));
    Ok(ExitCode::SUCCESS)
}

/// `network ls`.
pub async fn ls(client: &Client, a: &NetworkLs) -> Result<ExitCode, CmdError> {
    let mut path = "/networks".to_string();
    if let Some(f) = filters_json(&a.filter)? {
        path.push_str(&format!("?{}", query(&[("filters", &f)])));
    }
    let v = client.get_json(&path).await?;
    let mut rows: Vec<Value> = v
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|n| {
            let id = n["Id"].as_str().unwrap_or("");
            let labels = n["Labels"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            json!({
                "ID": if a.no_trunc { id.to_string() } else { short_id(id) },
                "Name": n["Name"],
                "Driver": n["Driver"],
                "Scope": n["Scope"],
                "IPv6": n["EnableIPv6"].as_bool().unwrap_or(false).to_string(),
                "Internal": n["Internal"].as_bool().unwrap_or(false).to_string(),
                "Labels": labels,
                "CreatedAt": n["Created"],
            })
        })
        .collect();
    rows.sort_by(|x, y| x["Name"].as_str().cmp(&y["Name"].as_str()));
    if a.quiet {
        for r in rows {
            println!("{}", r["ID"].as_str().unwrap_or(""));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let headers = json!({"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
        "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT"});
    print_list(
        a.format.as_deref(),
        "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
        headers,
        &rows,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `network inspect`.
pub async fn inspect(
    client: &Client,
    format: Option<&str>,
    names: &[String],
) -> Result<ExitCode, CmdError> {
    super::inspect_objects(client, format, names, |n| format!("/networks/{n}")).await
}

/// `network rm`.
pub async fn rm(client: &Client, a: &NetworkRm) -> Result<ExitCode, CmdError> {
    let mut failed = false;
    for n in &a.networks {
        match client
            .request(
                Method::DELETE,
                &format!("/networks/{n}"),
                berth_api::client::empty(),
                None,
            )
            .await
        {
            // Error statuses come back as `Err` (see `Client::request`).
            Ok(_) => println!("{n}"),
            // `-f`: a network that does not exist is not an error (the
            // docker CLI skips it silently).
            Err(berth_api::ClientError::Daemon { status: 404, .. }) if a.force => {}
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `network prune`.
pub async fn prune(client: &Client, a: &NetworkPrune) -> Result<ExitCode, CmdError> {
    if !a.force {
        print!("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ");
        std::io::stdout().flush()?;
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        if !matches!(line.trim().to_lowercase().as_str(), "y" | "yes") {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let mut path = "/networks/prune".to_string();
    if let Some(f) = filters_json(&a.filter)? {
        path.push_str(&format!("?{}", query(&[("filters", &f)])));
    }
    let v = client.call_json(Method::POST, &path, None).await?;
    let removed: Vec<String> = v["NetworksDeleted"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if !removed.is_empty() {
        println!("Deleted Networks:");
        for n in removed {
            println!("{n}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `network connect`.
pub async fn connect(client: &Client, a: &NetworkConnect) -> Result<ExitCode, CmdError> {
    let mut ep = json!({"Aliases": a.alias, "Links": a.link});
    if let Some(ip) = &a.ip {
        ep["IPAMConfig"] = json!({"IPv4Address": ip});
    }
    let body = json!({"Container": a.container, "EndpointConfig": ep});
    client
        .call_json(
            Method::POST,
            &format!("/networks/{}/connect", a.network),
            Some(&body),
        )
        .await
        .map_err(|e| Exit(1, format!("Error response from daemon: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

/// `network disconnect`.
pub async fn disconnect(client: &Client, a: &NetworkDisconnect) -> Result<ExitCode, CmdError> {
    let body = json!({"Container": a.container, "Force": a.force});
    client
        .call_json(
            Method::POST,
            &format!("/networks/{}/disconnect", a.network),
            Some(&body),
        )
        .await
        .map_err(|e| Exit(1, format!("Error response from daemon: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

/// Docker's `ps` PORTS text (the docker CLI's `DisplayablePorts`):
/// `0.0.0.0:8080->80/tcp, 443/tcp`. Consecutive ports of one protocol and
/// address collapse into a range (`80-82/tcp`, and `0.0.0.0:8000-8002->8000-8002/tcp`
/// when each is published on the same host port); a port published on
/// another host port is listed on its own, after the ranges.
pub fn ports_text(ports: &Value) -> String {
    struct Port {
        ip: Option<std::net::IpAddr>,
        private: u64,
        public: u64,
        proto: String,
    }
    let mut list: Vec<Port> = ports
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|p| Port {
            ip: p["IP"].as_str().and_then(|s| s.parse().ok()),
            private: p["PrivatePort"].as_u64().unwrap_or(0),
            public: p["PublicPort"].as_u64().unwrap_or(0),
            proto: p["Type"].as_str().unwrap_or("tcp").to_string(),
        })
        .collect();
    list.sort_by(|a, b| {
        (a.private, a.ip, a.public, &a.proto).cmp(&(b.private, b.ip, b.public, &b.proto))
    });
    let host_port = |ip: &std::net::IpAddr, port: String| match ip {
        std::net::IpAddr::V6(_) => format!("[{ip}]:{port}"),
        std::net::IpAddr::V4(_) => format!("{ip}:{port}"),
    };
    let form = |key: &(Option<std::net::IpAddr>, String), first: u64, last: u64| {
        let mut group = first.to_string();
        if first != last {
            group = format!("{group}-{last}");
        }
        match &key.0 {
            Some(ip) => format!("{}->{group}/{}", host_port(ip, group.clone()), key.1),
            None => format!("{group}/{}", key.1),
        }
    };
    let mut groups: Vec<((Option<std::net::IpAddr>, String), u64, u64)> = Vec::new();
    let mut result = Vec::new();
    let mut mappings = Vec::new();
    for p in &list {
        if let Some(ip) = &p.ip {
            if p.public != p.private {
                mappings.push(format!(
                    "{}->{}/{}",
                    host_port(ip, p.public.to_string()),
                    p.private,
                    p.proto
                ));
                continue;
            }
        }
        let key = (p.ip, p.proto.clone());
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            None => groups.push((key, p.private, p.private)),
            Some((_, _, last)) if p.private == *last + 1 => *last = p.private,
            Some((k, first, last)) => {
                result.push(form(k, *first, *last));
                (*first, *last) = (p.private, p.private);
            }
        }
    }
    for (k, first, last) in &groups {
        result.push(form(k, *first, *last));
    }
    result.extend(mappings);
    result.join(", ")
}

/// `port CONTAINER [PRIVATE_PORT[/PROTO]]`.
pub async fn port(client: &Client, a: &PortArgs) -> Result<ExitCode, CmdError> {
    let c = client
        .get_json(&format!("/containers/{}/json", a.container))
        .await
        .map_err(|e| Exit(1, format!("Error response from daemon: {e}")))?;
    let ports = c["NetworkSettings"]["Ports"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    if let Some(want) = &a.port {
        let key = if want.contains('/') {
            want.clone()
        } else {
            format!("{want}/tcp")
        };
        let Some(list) = ports
            .get(&key)
            .and_then(|v| v.as_array())
            .filter(|l| !l.is_empty())
        else {
            return Err(Exit(
                1,
                format!(
                    "Error: No public port '{key}' published for {}",
                    a.container
                ),
            )
            .into());
        };
        let mut out: Vec<String> = list.iter().map(host_port).collect();
        out.sort_by(|a, b| natural_cmp(a, b));
        println!("{}", out.join("\n"));
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = Vec::new();
    for (k, list) in &ports {
        for b in list.as_array().map(Vec::as_slice).unwrap_or_default() {
            out.push(format!("{k} -> {}", host_port(b)));
        }
    }
    // The docker CLI's order: a natural sort of the lines.
    out.sort_by(|a, b| natural_cmp(a, b));
    if !out.is_empty() {
        println!("{}", out.join("\n"));
    }
    Ok(ExitCode::SUCCESS)
}

/// `HostIp:HostPort` of a port binding (`[::1]:80` for IPv6).
fn host_port(b: &Value) -> String {
    let ip = b["HostIp"].as_str().unwrap_or("");
    let port = b["HostPort"].as_str().unwrap_or("");
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// Natural order (the docker CLI's `sortorder.NaturalLess`): runs of
/// digits compare as numbers and sort before other bytes, which compare
/// byte by byte.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (da, db) = (a[i].is_ascii_digit(), b[j].is_ascii_digit());
        if da != db {
            // Digits sort before anything else.
            return if da {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        if da {
            let si = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let (na, nb) = (&a[si..i], &b[sj..j]);
            let strip = |n: &[u8]| -> usize { n.iter().take_while(|c| **c == b'0').count() };
            let (ta, tb) = (&na[strip(na)..], &nb[strip(nb)..]);
            let ord = ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb));
            if ord != Ordering::Equal {
                return ord;
            }
            let ord = na.len().cmp(&nb.len());
            if ord != Ordering::Equal {
                return ord;
            }
        } else {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
    }
    a.len().cmp(&b.len())
}
