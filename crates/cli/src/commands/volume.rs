//! `volume` commands (`create`, `ls`, `inspect`, `rm`, `prune`), as the
//! docker CLI does them.

use std::io::Write;
use std::process::ExitCode;

use berth_api::Client;
use hyper::Method;
use serde_json::{json, Value};

use super::container::Exit;
use crate::cli::{VolumeCreate, VolumeLs, VolumePrune, VolumeRm};
use crate::output::{filters_json, print_list, query, CmdError};

fn kv(list: &[String]) -> serde_json::Map<String, Value> {
    list.iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) => (k.to_string(), json!(v)),
            None => (s.clone(), json!("")),
        })
        .collect()
}

/// `volume create`.
pub async fn create(client: &Client, a: &VolumeCreate) -> Result<ExitCode, CmdError> {
    let name = match (&a.name_flag, &a.name) {
        (Some(f), Some(p)) if f != p => {
            return Err(Exit(
                1,
                format!("conflicting options: cannot specify a volume-name through both --name and as a positional arg ({f} and {p})"),
            )
            .into())
        }
        (Some(f), _) => f.clone(),
        (None, Some(p)) => p.clone(),
        (None, None) => String::new(),
    };
    let body = json!({
        "Name": name,
        "Driver": a.driver,
        "DriverOpts": Value::Object(kv(&a.opt)),
        "Labels": Value::Object(kv(&a.label)),
    });
    let v = client
        .call_json(Method::POST, "/volumes/create", Some(&body))
        .await
        .map_err(|e| Exit(1, format!("Error response from daemon: {e}")))?;
    println!("{}", v["Name"].as_str().unwrap_or(""));
    Ok(ExitCode::SUCCESS)
}

/// `volume ls`.
pub async fn ls(client: &Client, a: &VolumeLs) -> Result<ExitCode, CmdError> {
    let mut path = "/volumes".to_string();
    if let Some(f) = filters_json(&a.filter)? {
        path.push_str(&format!("?{}", query(&[("filters", &f)])));
    }
    let v = client.get_json(&path).await?;
    let mut rows: Vec<Value> = v["Volumes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|v| {
            let labels = v["Labels"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, x)| format!("{k}={}", x.as_str().unwrap_or("")))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            json!({
                "Name": v["Name"], "Driver": v["Driver"], "Scope": v["Scope"],
                "Mountpoint": v["Mountpoint"], "Labels": labels, "CreatedAt": v["CreatedAt"],
            })
        })
        .collect();
    rows.sort_by(|x, y| x["Name"].as_str().cmp(&y["Name"].as_str()));
    if a.quiet {
        for r in rows {
            println!("{}", r["Name"].as_str().unwrap_or(""));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let headers = json!({"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE",
        "Mountpoint": "MOUNTPOINT", "Labels": "LABELS", "CreatedAt": "CREATED AT"});
    print_list(
        a.format.as_deref(),
        "table {{.Driver}}\t{{.Name}}",
        headers,
        &rows,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `volume inspect`.
pub async fn inspect(
    client: &Client,
    format: Option<&str>,
    names: &[String],
) -> Result<ExitCode, CmdError> {
    super::inspect_objects(client, format, names, |n| format!("/volumes/{n}")).await
}

/// `volume rm`.
pub async fn rm(client: &Client, a: &VolumeRm) -> Result<ExitCode, CmdError> {
    let mut failed = false;
    for n in &a.volumes {
        let q = if a.force { "?force=1" } else { "" };
        match client
            .request(
                Method::DELETE,
                &format!("/volumes/{n}{q}"),
                berth_api::client::empty(),
                None,
            )
            .await
        {
            Ok(_) => println!("{n}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
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

/// `volume prune`.
pub async fn prune(client: &Client, a: &VolumePrune) -> Result<ExitCode, CmdError> {
    if !a.force {
        let what = if a.all {
            "WARNING! This will remove all local volumes not used by at least one container."
        } else {
            "WARNING! This will remove anonymous local volumes not used by at least one container."
        };
        print!("{what}\nAre you sure you want to continue? [y/N] ");
        std::io::stdout().flush()?;
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        if !matches!(line.trim().to_lowercase().as_str(), "y" | "yes") {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let mut filters = a.filter.clone();
    if a.all {
        filters.push("all=true".into());
    }
    let mut path = "/volumes/prune".to_string();
    if let Some(f) = filters_json(&filters)? {
        path.push_str(&format!("?{}", query(&[("filters", &f)])));
    }
    let v = client.call_json(Method::POST, &path, None).await?;
    let removed: Vec<String> = v["VolumesDeleted"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if !removed.is_empty() {
        println!("Deleted Volumes:");
        for n in &removed {
            println!("{n}");
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        berth_format::human_size(v["SpaceReclaimed"].as_u64().unwrap_or(0))
    );
    Ok(ExitCode::SUCCESS)
}
