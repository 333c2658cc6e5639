//! `version`, `info`, `system df`, `events`.

use std::io::Write;
use std::process::ExitCode;

use berth_api::client::json_stream;
use berth_api::Client;
use futures::StreamExt;
use hyper::Method;
use serde_json::{json, Value};

use crate::cli::{DfArgs, EventsArgs};
use crate::output::{filters_json, print_each, print_list, query, ts_param, CmdError};

fn client_info() -> Value {
    json!({
        "Platform": {"Name": "berth"},
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": berth_api::client::CLIENT_API.trim_start_matches('v'),
        "DefaultAPIVersion": berth_api::client::CLIENT_API.trim_start_matches('v'),
        "GitCommit": option_env!("BERTH_GIT_COMMIT").unwrap_or("unknown"),
        "GoVersion": "rust",
        "Os": "linux",
        "Arch": berth_engine::images::import::host_arch(),
        "Context": "default",
    })
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub async fn version(client: &Client, format: Option<&str>) -> Result<ExitCode, CmdError> {
    let c = client_info();
    let server = client.get_json("/version").await;
    if let Some(f) = format {
        let doc = json!({"Client": c, "Server": server.as_ref().ok()});
        print_each(f, &[doc])?;
        return server.map(|_| ExitCode::SUCCESS).map_err(Into::into);
    }
    let mut out = String::new();
    out += "Client:\n";
    out += &format!(" Version:           {}\n", s(&c["Version"]));
    out += &format!(" API version:       {}\n", s(&c["ApiVersion"]));
    out += &format!(" Go version:        {}\n", s(&c["GoVersion"]));
    out += &format!(" Git commit:        {}\n", s(&c["GitCommit"]));
    out += &format!(" OS/Arch:           {}/{}\n", s(&c["Os"]), s(&c["Arch"]));
    out += &format!(" Context:           {}\n", s(&c["Context"]));
    print!("{out}");
    let v = server?;
    let mut out = String::new();
    out += &format!("\nServer: {}\n", s(&v["Platform"]["Name"]));
    if let Some(comps) = v["Components"].as_array() {
        for comp in comps {
            let d = &comp["Details"];
            out += &format!(" {}:\n", s(&comp["Name"]));
            out += &format!("  Version:          {}\n", s(&comp["Version"]));
            out += &format!(
                "  API version:      {} (minimum version {})\n",
                s(&d["ApiVersion"]),
                s(&d["MinAPIVersion"])
            );
            out += &format!("  Go version:       {}\n", s(&d["GoVersion"]));
            out += &format!("  Git commit:       {}\n", s(&d["GitCommit"]));
            out += &format!("  Built:            {}\n", s(&d["BuildTime"]));
            out += &format!("  OS/Arch:          {}/{}\n", s(&d["Os"]), s(&d["Arch"]));
            out += &format!("  Experimental:     {}\n", s(&d["Experimental"]));
        }
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

pub async fn info(client: &Client, format: Option<&str>) -> Result<ExitCode, CmdError> {
    let v = client.get_json("/info").await?;
    if let Some(f) = format {
        print_each(f, &[v])?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut o = String::new();
    o += "Client:\n";
    o += &format!(" Version:    {}\n", env!("CARGO_PKG_VERSION"));
    o += " Context:    default\n";
    o += &format!(" Debug Mode: {}\n\n", false);
    o += "Server:\n";
    o += &format!(" Containers: {}\n", s(&v["Containers"]));
    o += &format!("  Running: {}\n", s(&v["ContainersRunning"]));
    o += &format!("  Paused: {}\n", s(&v["ContainersPaused"]));
    o += &format!("  Stopped: {}\n", s(&v["ContainersStopped"]));
    o += &format!(" Images: {}\n", s(&v["Images"]));
    o += &format!(" Server Version: {}\n", s(&v["ServerVersion"]));
    o += &format!(" Storage Driver: {}\n", s(&v["Driver"]));
    for pair in v["DriverStatus"].as_array().cloned().unwrap_or_default() {
        o += &format!("  {}: {}\n", s(&pair[0]), s(&pair[1]));
    }
    o += &format!(" Logging Driver: {}\n", s(&v["LoggingDriver"]));
    o += &format!(" Cgroup Driver: {}\n", s(&v["CgroupDriver"]));
    o += &format!(" Cgroup Version: {}\n", s(&v["CgroupVersion"]));
    o += &format!(" Default Runtime: {}\n", s(&v["DefaultRuntime"]));
    o += &format!(" Swarm: {}\n", s(&v["Swarm"]["LocalNodeState"]));
    o += &format!(" Kernel Version: {}\n", s(&v["KernelVersion"]));
    o += &format!(" Operating System: {}\n", s(&v["OperatingSystem"]));
    o += &format!(" OSType: {}\n", s(&v["OSType"]));
    o += &format!(" Architecture: {}\n", s(&v["Architecture"]));
    o += &format!(" CPUs: {}\n", s(&v["NCPU"]));
    o += &format!(
        " Total Memory: {}\n",
        berth_format::bytes_size(v["MemTotal"].as_f64().unwrap_or(0.0))
    );
    o += &format!(" Name: {}\n", s(&v["Name"]));
    o += &format!(" ID: {}\n", s(&v["ID"]));
    o += &format!(" Docker Root Dir: {}\n", s(&v["DockerRootDir"]));
    o += &format!(" Debug Mode: {}\n", s(&v["Debug"]));
    let labels = v["Labels"].as_array().cloned().unwrap_or_default();
    if !labels.is_empty() {
        o += " Labels:\n";
        for l in labels {
            o += &format!("  {}\n", s(&l));
        }
    }
    o += &format!(" Experimental: {}\n", s(&v["ExperimentalBuild"]));
    o += &format!(" Live Restore Enabled: {}\n", s(&v["LiveRestoreEnabled"]));
    print!("{o}");
    Ok(ExitCode::SUCCESS)
}

pub async fn df(client: &Client, a: &DfArgs) -> Result<ExitCode, CmdError> {
    let v = client.get_json("/system/df").await?;
    let images = v["Images"].as_array().cloned().unwrap_or_default();
    let total: u64 = images.iter().filter_map(|i| i["Size"].as_u64()).sum();
    let active = images
        .iter()
        .filter(|i| i["Containers"].as_i64().unwrap_or(0) > 0)
        .count();
    let reclaim: u64 = images
        .iter()
        .filter(|i| i["Containers"].as_i64().unwrap_or(0) == 0)
        .filter_map(|i| i["Size"].as_u64())
        .sum();
    let rows = vec![
        json!({"Type": "Images", "TotalCount": images.len().to_string(), "Active": active.to_string(),
               "Size": berth_format::human_size(total), "Reclaimable": format!("{}{}", berth_format::human_size(reclaim), percent(reclaim, total))}),
        containers_row(&v),
        volumes_row(&v),
        build_cache_row(&v),
    ];
    let headers = json!({"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"});
    print_list(
        a.format.as_deref(),
        "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
        headers,
        &rows,
    )?;
    if a.verbose {
        println!("\nImages space usage:\n");
        let rows: Vec<Value> = images
            .iter()
            .map(|i| {
                let tag = i["RepoTags"].get(0).and_then(|t| t.as_str()).unwrap_or("<none>:<none>");
                let (repo, t) = tag.rsplit_once(':').unwrap_or((tag, "<none>"));
                json!({"Repository": repo, "Tag": t, "ID": crate::output::short_id(i["Id"].as_str().unwrap_or("")),
                       "CreatedSince": berth_format::time_ago(i["Created"].as_i64().unwrap_or(0)),
                       "Size": berth_format::human_size(i["Size"].as_u64().unwrap_or(0)),
                       "SharedSize": "0B", "UniqueSize": berth_format::human_size(i["Size"].as_u64().unwrap_or(0)),
                       "Containers": s(&i["Containers"])})
            })
            .collect();
        let headers = json!({"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "CreatedSince": "CREATED",
                             "Size": "SIZE", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "Containers": "CONTAINERS"});
        print_list(
            None,
            "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
            headers,
            &rows,
        )?;
    }
    if a.verbose {
        println!("\nLocal Volumes space usage:\n");
        let rows: Vec<Value> = v["Volumes"]
            .as_array()
            .map(|l| l.iter().map(|vol| json!({
                "Name": s(&vol["Name"]),
                "Links": s(&vol["UsageData"]["RefCount"]),
                "Size": vol["UsageData"]["Size"].as_u64().map(berth_format::human_size).unwrap_or_else(|| "N/A".into()),
            })).collect())
            .unwrap_or_default();
        let headers = json!({"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"});
        print_list(
            None,
            "table {{.Name}}\t{{.Links}}\t{{.Size}}",
            headers,
            &rows,
        )?;
        println!(
            "\nBuild cache usage: {}\n",
            build_cache_row(&v)["Size"].as_str().unwrap_or("0B")
        );
        let rows: Vec<Value> = v["BuildCache"]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|c| {
                        json!({
                            "ID": s(&c["ID"]),
                            "Type": s(&c["Type"]),
                            "Size": berth_format::human_size(c["Size"].as_u64().unwrap_or(0)),
                            "Created": s(&c["CreatedAt"]),
                            "Shared": s(&c["Shared"]),
                            "Description": s(&c["Description"]),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let headers = json!({"ID": "CACHE ID", "Type": "CACHE TYPE", "Size": "SIZE", "Created": "CREATED", "Shared": "SHARED", "Description": "DESCRIPTION"});
        print_list(
            None,
            "table {{.ID}}\t{{.Type}}\t{{.Size}}\t{{.Created}}\t{{.Shared}}\t{{.Description}}",
            headers,
            &rows,
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `system df`'s volume row: volumes in use by a container are active; the
/// others' size is reclaimable (sizes the daemon could not read are -1).
fn volumes_row(v: &Value) -> Value {
    let vols = v["Volumes"].as_array().cloned().unwrap_or_default();
    let size = |x: &Value| x["UsageData"]["Size"].as_i64().unwrap_or(0).max(0) as u64;
    let in_use = |x: &Value| x["UsageData"]["RefCount"].as_i64().unwrap_or(0) > 0;
    let total: u64 = vols.iter().map(size).sum();
    let reclaim: u64 = vols.iter().filter(|x| !in_use(x)).map(size).sum();
    json!({"Type": "Local Volumes", "TotalCount": vols.len().to_string(),
           "Active": vols.iter().filter(|x| in_use(x)).count().to_string(),
           "Size": berth_format::human_size(total),
           "Reclaimable": format!("{}{}", berth_format::human_size(reclaim), percent(reclaim, total))})
}

/// `system df`'s build-cache row: entries in use are active; shared ones
/// (their image is tagged) free nothing when pruned.
fn build_cache_row(v: &Value) -> Value {
    let cache = v["BuildCache"].as_array().cloned().unwrap_or_default();
    let size = |x: &Value| x["Size"].as_u64().unwrap_or(0);
    let total: u64 = cache.iter().map(size).sum();
    let reclaim: u64 = cache
        .iter()
        .filter(|x| {
            !x["InUse"].as_bool().unwrap_or(false) && !x["Shared"].as_bool().unwrap_or(false)
        })
        .map(size)
        .sum();
    json!({"Type": "Build Cache", "TotalCount": cache.len().to_string(),
           "Active": cache.iter().filter(|x| x["InUse"].as_bool().unwrap_or(false)).count().to_string(),
           "Size": berth_format::human_size(total),
           "Reclaimable": berth_format::human_size(reclaim)})
}

/// Docker's ` (NN%)` after a reclaimable size.
fn percent(part: u64, total: u64) -> String {
    (part * 100)
        .checked_div(total)
        .map(|p| format!(" ({p}%)"))
        .unwrap_or_default()
}

pub async fn events(client: &Client, a: &EventsArgs) -> Result<ExitCode, CmdError> {
    let mut params: Vec<(&str, String)> = Vec::new();
    if let Some(s) = &a.since {
        params.push(("since", ts_param(s)?));
    }
    if let Some(u) = &a.until {
        params.push(("until", ts_param(u)?));
    }
    if let Some(f) = filters_json(&a.filter)? {
        params.push(("filters", f));
    }
    let q: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let path = format!("/events?{}", query(&q));
    let resp = client
        .request(Method::GET, &path, berth_api::client::empty(), None)
        .await?;
    let mut stream = Box::pin(json_stream(resp));
    let stdout = std::io::stdout();
    while let Some(ev) = stream.next().await {
        let ev = ev?;
        let mut lock = stdout.lock();
        match a.format.as_deref() {
            Some(f) => {
                drop(lock);
                print_each(f, &[ev])?;
                continue;
            }
            None => {
                let nanos = ev["timeNano"].as_i64().unwrap_or(0);
                let t = chrono::DateTime::from_timestamp(
                    nanos.div_euclid(1_000_000_000),
                    nanos.rem_euclid(1_000_000_000) as u32,
                )
                .map(|t| {
                    t.with_timezone(&chrono::Local)
                        .format("%Y-%m-%dT%H:%M:%S%.9f%:z")
                        .to_string()
                })
                .unwrap_or_default();
                let attrs: Vec<String> = ev["Actor"]["Attributes"]
                    .as_object()
                    .map(|m| m.iter().map(|(k, v)| format!("{k}={}", s(v))).collect())
                    .unwrap_or_default();
                let attrs = if attrs.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", attrs.join(", "))
                };
                writeln!(
                    lock,
                    "{t} {} {} {}{attrs}",
                    s(&ev["Type"]),
                    s(&ev["Action"]),
                    s(&ev["Actor"]["ID"])
                )?;
                lock.flush()?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The `Containers` row of `system df`: writable layers, running ones active.
fn containers_row(df: &Value) -> Value {
    let list = df["Containers"].as_array().cloned().unwrap_or_default();
    let active = list.iter().filter(|c| c["State"] == "running").count();
    let size: u64 = list.iter().filter_map(|c| c["SizeRw"].as_u64()).sum();
    let reclaim: u64 = list
        .iter()
        .filter(|c| c["State"] != "running")
        .filter_map(|c| c["SizeRw"].as_u64())
        .sum();
    json!({
        "Type": "Containers",
        "TotalCount": list.len().to_string(),
        "Active": active.to_string(),
        "Size": berth_format::human_size(size),
        "Reclaimable": format!("{}{}", berth_format::human_size(reclaim), percent(reclaim, size)),
    })
}
