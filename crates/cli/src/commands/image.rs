//! `image ls|rm|tag|load|save|import|history|inspect|prune` and their short
//! forms (`images`, `rmi`, `tag`, `load`, `save`, `import`, `history`).

use std::io::Write;
use std::process::ExitCode;

use berth_api::client::{empty, json_stream, reader_body};
use berth_api::Client;
use futures::StreamExt;
use hyper::Method;
use serde_json::json;

use crate::cli::{
    ImageHistory, ImageImport, ImageLoad, ImageLs, ImagePrune, ImageRm, ImageSave, ImageTag,
};
use crate::output::{filters_json, is_tty, print_list, query, short_id, CmdError};

fn enc(s: &str) -> String {
    // Image names go in the path as they are (docker does not escape ':' or '/').
    s.replace('%', "%25")
        .replace('?', "%3F")
        .replace('#', "%23")
        .replace(' ', "%20")
}

pub async fn ls(client: &Client, a: &ImageLs) -> Result<ExitCode, CmdError> {
    let mut filters = a.filter.clone();
    if let Some(r) = &a.repository {
        filters.push(format!("reference={r}"));
    }
    let mut q: Vec<(&str, String)> = Vec::new();
    if a.all {
        q.push(("all", "1".into()));
    }
    if a.digests {
        q.push(("digests", "1".into()));
    }
    if let Some(f) = filters_json(&filters)? {
        q.push(("filters", f));
    }
    let pairs: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let list = client
        .get_json(&format!("/images/json?{}", query(&pairs)))
        .await?;
    let mut rows = Vec::new();
    for img in list.as_array().cloned().unwrap_or_default() {
        let id = img["Id"].as_str().unwrap_or("").to_string();
        let shown_id = if a.no_trunc {
            id.clone()
        } else {
            short_id(&id)
        };
        let created = img["Created"].as_i64().unwrap_or(0);
        let size = img["Size"].as_u64().unwrap_or(0);
        let tags: Vec<String> = img["RepoTags"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let digests: Vec<String> = img["RepoDigests"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let mut pairs: Vec<(String, String, String)> = Vec::new();
        for t in tags.iter().filter(|t| *t != "<none>:<none>") {
            let (repo, tag) = t.rsplit_once(':').unwrap_or((t, "<none>"));
            let digest = digests
                .iter()
                .find(|d| d.split('@').next() == Some(repo))
                .and_then(|d| d.split_once('@').map(|(_, x)| x.to_string()))
                .unwrap_or_else(|| "<none>".into());
            pairs.push((repo.to_string(), tag.to_string(), digest));
        }
        if pairs.is_empty() {
            for d in &digests {
                if let Some((repo, dg)) = d.split_once('@') {
                    pairs.push((repo.to_string(), "<none>".into(), dg.to_string()));
                }
            }
        }
        if pairs.is_empty() {
            pairs.push(("<none>".into(), "<none>".into(), "<none>".into()));
        }
        for (repo, tag, digest) in pairs {
            rows.push(json!({
                "ID": shown_id,
                "Repository": repo,
                "Tag": tag,
                "Digest": digest,
                "CreatedSince": berth_format::time_ago(created),
                "CreatedAt": chrono::DateTime::from_timestamp(created, 0)
                    .map(|t| t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S %z %Z").to_string())
                    .unwrap_or_default(),
                "Size": berth_format::human_size(size),
                "VirtualSize": berth_format::human_size(size),
                "SharedSize": "N/A",
                "UniqueSize": "N/A",
                "Containers": "N/A",
            }));
        }
    }
    let headers = json!({
        "ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
        "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "VirtualSize": "SIZE",
        "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "Containers": "CONTAINERS",
    });
    if a.quiet {
        let mut seen = std::collections::HashSet::new();
        for r in &rows {
            let id = r["ID"].as_str().unwrap_or("");
            if seen.insert(id.to_string()) {
                println!("{id}");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let default = if a.digests {
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    print_list(a.format.as_deref(), default, headers, &rows)?;
    Ok(ExitCode::SUCCESS)
}

pub async fn rm(client: &Client, a: &ImageRm) -> Result<ExitCode, CmdError> {
    let mut failed = false;
    for name in &a.images {
        let mut q = Vec::new();
        if a.force {
            q.push(("force", "1"));
        }
        if a.no_prune {
            q.push(("noprune", "1"));
        }
        let path = format!("/images/{}?{}", enc(name), query(&q));
        match client.call_json(Method::DELETE, &path, None).await {
            Ok(items) => {
                for i in items.as_array().cloned().unwrap_or_default() {
                    if let Some(u) = i["Untagged"].as_str() {
                        println!("Untagged: {u}");
                    }
                    if let Some(d) = i["Deleted"].as_str() {
                        println!("Deleted: {d}");
                    }
                }
            }
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

/// Splits `repo[:tag]` (a ':' after the last '/' starts the tag).
pub fn split_tag(s: &str) -> (&str, &str) {
    let slash = s.rfind('/').map(|i| i + 1).unwrap_or(0);
    match s[slash..].rfind(':') {
        Some(i) if !s.contains('@') => (&s[..slash + i], &s[slash + i + 1..]),
        _ => (s, ""),
    }
}

pub async fn tag(client: &Client, a: &ImageTag) -> Result<ExitCode, CmdError> {
    if let Err(e) = berth_reference::Reference::parse_normalized(&a.target) {
        return Err(format!(
            "Error parsing reference: \"{}\" is not a valid repository/tag: {e}",
            a.target
        )
        .into());
    }
    let (repo, tag) = split_tag(&a.target);
    let path = format!(
        "/images/{}/tag?{}",
        enc(&a.source),
        query(&[("repo", repo), ("tag", tag)])
    );
    client.call_json(Method::POST, &path, None).await?;
    Ok(ExitCode::SUCCESS)
}

/// Prints a stream of JSON messages the way docker's jsonmessage does for a
/// plain (non-progress) output; returns an error for an `error` message.
async fn print_messages(
    resp: hyper::Response<hyper::body::Incoming>,
    quiet: bool,
) -> Result<(), CmdError> {
    let mut s = Box::pin(json_stream(resp));
    let tty = is_tty(std::io::stdout());
    let stdout = std::io::stdout();
    while let Some(m) = s.next().await {
        let m = m?;
        if let Some(err) = m["error"].as_str() {
            return Err(err.to_string().into());
        }
        let mut o = stdout.lock();
        if let Some(line) = m["stream"].as_str() {
            write!(o, "{line}")?;
        } else if let Some(status) = m["status"].as_str() {
            if quiet {
                continue;
            }
            let id = m["id"].as_str().unwrap_or("");
            if m["progressDetail"]["total"].is_u64() && !tty {
                continue;
            }
            let prog = m["progressDetail"]["total"]
                .as_u64()
                .map(|t| format!(" {}", berth_format::human_size(t)))
                .unwrap_or_default();
            if id.is_empty() {
                writeln!(o, "{status}{prog}")?;
            } else {
                writeln!(o, "{id}: {status}{prog}")?;
            }
        }
        o.flush()?;
    }
    Ok(())
}

pub async fn load(client: &Client, a: &ImageLoad) -> Result<ExitCode, CmdError> {
    let body = match &a.input {
        Some(p) => {
            let f = tokio::fs::File::open(p)
                .await
                .map_err(|e| format!("open {p}: {e}"))?;
            reader_body(f)
        }
        None => {
            if is_tty(std::io::stdin()) {
                return Err("requested load from stdin, but stdin is empty".into());
            }
            reader_body(tokio::io::stdin())
        }
    };
    let q = if a.quiet { "?quiet=1" } else { "?quiet=0" };
    let resp = client
        .request(
            Method::POST,
            &format!("/images/load{q}"),
            body,
            Some("application/x-tar"),
        )
        .await?;
    print_messages(resp, a.quiet).await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn save(client: &Client, a: &ImageSave) -> Result<ExitCode, CmdError> {
    if a.output.is_none() && is_tty(std::io::stdout()) {
        return Err("cowardly refusing to save to a terminal. Use the -o flag or redirect".into());
    }
    let q: Vec<(&str, &str)> = a.images.iter().map(|n| ("names", n.as_str())).collect();
    let resp = client
        .request(
            Method::GET,
            &format!("/images/get?{}", query(&q)),
            empty(),
            None,
        )
        .await?;
    let stream = berth_api::client::body_stream(resp);
    crate::output::write_stream(stream, a.output.as_deref(), "failed to save image").await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn import(client: &Client, a: &ImageImport) -> Result<ExitCode, CmdError> {
    let body = if a.file == "-" {
        reader_body(tokio::io::stdin())
    } else if a.file.contains("://") {
        return Err(format!(
            "importing from a URL ({}) is not supported: download it and import the file",
            a.file
        )
        .into());
    } else {
        let f = tokio::fs::File::open(&a.file)
            .await
            .map_err(|e| format!("open {}: {e}", a.file))?;
        reader_body(f)
    };
    let mut q: Vec<(&str, &str)> = vec![("fromSrc", "-")];
    let (repo, tag) = a.repository.as_deref().map(split_tag).unwrap_or(("", ""));
    if !repo.is_empty() {
        q.push(("repo", repo));
    }
    if !tag.is_empty() {
        q.push(("tag", tag));
    }
    if let Some(m) = &a.message {
        q.push(("message", m));
    }
    if let Some(p) = &a.platform {
        q.push(("platform", p));
    }
    for c in &a.change {
        q.push(("changes", c));
    }
    let resp = client
        .request(
            Method::POST,
            &format!("/images/create?{}", query(&q)),
            body,
            Some("application/x-tar"),
        )
        .await?;
    print_messages(resp, false).await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn history(client: &Client, a: &ImageHistory) -> Result<ExitCode, CmdError> {
    let v = client
        .get_json(&format!("/images/{}/history", enc(&a.image)))
        .await?;
    let mut rows = Vec::new();
    for h in v.as_array().cloned().unwrap_or_default() {
        let id = h["Id"].as_str().unwrap_or("");
        let id = if id == "<missing>" || a.no_trunc {
            id.to_string()
        } else {
            short_id(id)
        };
        let created = h["Created"].as_i64().unwrap_or(0);
        let by = h["CreatedBy"].as_str().unwrap_or("").replace('\t', " ");
        let by = if a.no_trunc || by.chars().count() <= 45 {
            by
        } else {
            format!("{}…", by.chars().take(44).collect::<String>())
        };
        let size = h["Size"].as_u64().unwrap_or(0);
        rows.push(json!({
            "ID": id,
            "CreatedSince": if a.human { berth_format::time_ago(created) } else {
                chrono::DateTime::from_timestamp(created, 0).map(|t| t.to_rfc3339()).unwrap_or_default()
            },
            "CreatedAt": chrono::DateTime::from_timestamp(created, 0).map(|t| t.to_rfc3339()).unwrap_or_default(),
            "CreatedBy": by,
            "Size": if a.human { berth_format::human_size(size) } else { size.to_string() },
            "Comment": h["Comment"].as_str().unwrap_or(""),
        }));
    }
    if a.quiet {
        for r in rows {
            println!("{}", r["ID"].as_str().unwrap_or(""));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let headers = json!({"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"});
    print_list(
        a.format.as_deref(),
        "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
        headers,
        &rows,
    )?;
    Ok(ExitCode::SUCCESS)
}

pub async fn inspect(
    client: &Client,
    format: Option<&str>,
    names: &[String],
) -> Result<ExitCode, CmdError> {
    super::inspect_objects(client, format, names, |n| {
        format!("/images/{}/json", enc(n))
    })
    .await
}

pub async fn prune(client: &Client, a: &ImagePrune) -> Result<ExitCode, CmdError> {
    if !a.force {
        let warning = if a.all {
            "WARNING! This will remove all images without at least one container associated to them."
        } else {
            "WARNING! This will remove all dangling images."
        };
        print!("{warning}\nAre you sure you want to continue? [y/N] ");
        std::io::stdout().flush()?;
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        if !matches!(line.trim().to_lowercase().as_str(), "y" | "yes") {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let mut filters = a.filter.clone();
    if a.all {
        filters.push("dangling=false".into());
    }
    let q = match filters_json(&filters)? {
        Some(f) => format!("?{}", query(&[("filters", &f)])),
        None => String::new(),
    };
    let v = client
        .call_json(Method::POST, &format!("/images/prune{q}"), None)
        .await?;
    let items = v["ImagesDeleted"].as_array().cloned().unwrap_or_default();
    if !items.is_empty() {
        println!("Deleted Images:");
        for i in items {
            if let Some(u) = i["Untagged"].as_str() {
                println!("untagged: {u}");
            }
            if let Some(d) = i["Deleted"].as_str() {
                println!("deleted: {d}");
            }
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        berth_format::human_size(v["SpaceReclaimed"].as_u64().unwrap_or(0))
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::split_tag;

    #[test]
    fn tags() {
        assert_eq!(split_tag("busybox"), ("busybox", ""));
        assert_eq!(split_tag("busybox:1"), ("busybox", "1"));
        assert_eq!(
            split_tag("127.0.0.1:5000/a/b:custom"),
            ("127.0.0.1:5000/a/b", "custom")
        );
        assert_eq!(split_tag("127.0.0.1:5000/a/b"), ("127.0.0.1:5000/a/b", ""));
    }
}
