//! `cp`: copies between a container and the local filesystem (or a tar
//! stream on `-`), with the docker CLI's rules: into an existing
//! directory the source keeps its name; to a path that does not exist it
//! takes that name; `SRC/.` copies a directory's content.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use base64::Engine as _;
use berth_api::client::{empty, reader_body};
use berth_api::Client;
use futures::StreamExt;
use hyper::Method;
use serde_json::Value;

use super::container::Exit;
use crate::cli::CpArgs;
use crate::output::{query, CmdError};

/// `CONTAINER:PATH` → (container, path); local paths stay local (a path
/// with a `:` is local when it starts with `/` or `.`).
pub fn split_spec(s: &str) -> (Option<String>, String) {
    if s.starts_with('/') || s.starts_with('.') || s == "-" {
        return (None, s.to_string());
    }
    match s.split_once(':') {
        Some((c, p)) if !c.is_empty() && !c.contains('/') => (Some(c.to_string()), p.to_string()),
        _ => (None, s.to_string()),
    }
}

const MODE_DIR: u64 = 1 << 31;

async fn stat(client: &Client, container: &str, path: &str) -> Result<Option<Value>, CmdError> {
    let q = query(&[("path", path)]);
    match client
        .request(
            Method::HEAD,
            &format!("/containers/{container}/archive?{q}"),
            empty(),
            None,
        )
        .await
    {
        Ok(r) => {
            let v = r
                .headers()
                .get("X-Docker-Container-Path-Stat")
                .and_then(|h| h.to_str().ok())
                .and_then(|h| base64::engine::general_purpose::STANDARD.decode(h).ok())
                .and_then(|b| serde_json::from_slice(&b).ok());
            Ok(v)
        }
        Err(berth_api::ClientError::Daemon { status: 404, .. }) => Ok(None),
        Err(e) => Err(Exit(1, format!("Error response from daemon: {e}")).into()),
    }
}

/// `cp`.
pub async fn cp(client: &Client, a: &CpArgs) -> Result<ExitCode, CmdError> {
    let (sc, sp) = split_spec(&a.src);
    let (dc, dp) = split_spec(&a.dst);
    match (sc, dc) {
        (Some(c), None) => from_container(client, &c, &sp, &dp).await,
        (None, Some(c)) => to_container(client, &sp, &c, &dp, a.follow_link, a.archive).await,
        (Some(_), Some(_)) => {
            Err(Exit(1, "copying between containers is not supported".into()).into())
        }
        (None, None) => Err(Exit(1, "must specify at least one container source".into()).into()),
    }
}

async fn from_container(
    client: &Client,
    c: &str,
    src: &str,
    dst: &str,
) -> Result<ExitCode, CmdError> {
    let Some(st) = stat(client, c, src).await? else {
        return Err(Exit(
            1,
            format!("Error response from daemon: Could not find the file {src} in container {c}"),
        )
        .into());
    };
    let q = query(&[("path", src)]);
    let resp = client
        .request(
            Method::GET,
            &format!("/containers/{c}/archive?{q}"),
            empty(),
            None,
        )
        .await
        .map_err(|e| Exit(1, format!("Error response from daemon: {e}")))?;
    let mut body = Box::pin(berth_api::client::body_stream(resp));
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        bytes.extend_from_slice(&chunk.map_err(|e| Exit(1, e.to_string()))?);
    }
    if dst == "-" {
        use std::io::Write;
        std::io::stdout().write_all(&bytes)?;
        return Ok(ExitCode::SUCCESS);
    }
    let is_dir = st["mode"].as_u64().unwrap_or(0) & MODE_DIR != 0;
    let contents_only = src.ends_with("/.");
    let dst_path = PathBuf::from(dst);
    let dst_is_dir = dst_path.is_dir();
    if is_dir && dst_path.exists() && !dst_is_dir {
        return Err(Exit(1, format!("cannot copy a directory to a file: {dst}")).into());
    }
    if dst.ends_with('/') && !dst_is_dir {
        return Err(Exit(1, format!("destination directory {dst} must exist")).into());
    }
    let unpack = move || -> std::io::Result<()> {
        if contents_only {
            // Entries are `./…`: the content goes straight into DST.
            std::fs::create_dir_all(&dst_path)?;
            let mut ar = tar::Archive::new(&bytes[..]);
            ar.set_preserve_permissions(true);
            return ar.unpack(&dst_path);
        }
        if dst_is_dir {
            let mut ar = tar::Archive::new(&bytes[..]);
            ar.set_preserve_permissions(true);
            return ar.unpack(&dst_path);
        }
        // Unpack beside the destination, then move the top entry into place.
        let parent = dst_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let tmp = tempfile::Builder::new()
            .prefix(".berth-cp-")
            .tempdir_in(&parent)?;
        let mut ar = tar::Archive::new(&bytes[..]);
        ar.set_preserve_permissions(true);
        ar.unpack(tmp.path())?;
        let top = std::fs::read_dir(tmp.path())?
            .next()
            .transpose()?
            .map(|e| e.path())
            .ok_or_else(|| std::io::Error::other("the archive was empty"))?;
        std::fs::rename(&top, &dst_path)
    };
    tokio::task::spawn_blocking(unpack)
        .await
        .map_err(|e| Exit(1, e.to_string()))?
        .map_err(|e| Exit(1, format!("copying to {dst}: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

async fn to_container(
    client: &Client,
    src: &str,
    c: &str,
    dst: &str,
    follow: bool,
    keep_owners: bool,
) -> Result<ExitCode, CmdError> {
    let (target_dir, archive) = if src == "-" {
        (dst.to_string(), None)
    } else {
        let meta = if follow {
            std::fs::metadata(src)
        } else {
            std::fs::symlink_metadata(src)
        }
        .map_err(|e| Exit(1, format!("lstat {src}: {e}")))?;
        let st = stat(client, c, dst).await?;
        let base = Path::new(src.trim_end_matches("/."))
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| ".".into());
        let dst_is_dir = st
            .as_ref()
            .is_some_and(|s| s["mode"].as_u64().unwrap_or(0) & MODE_DIR != 0);
        let contents_only = src.ends_with("/.");
        let (dir, name) = if dst_is_dir && !contents_only {
            (dst.to_string(), base)
        } else {
            if st.is_some() && meta.is_dir() && !dst_is_dir {
                return Err(Exit(1, format!("cannot copy a directory to a file: {dst}")).into());
            }
            if st.is_none() && dst.ends_with('/') {
                return Err(Exit(1, format!("Error response from daemon: Could not find the file {dst} in container {c}")).into());
            }
            let p = Path::new(dst.trim_end_matches('/'));
            let parent = p
                .parent()
                .map(|x| x.to_string_lossy().into_owned())
                .filter(|x| !x.is_empty())
                .unwrap_or_else(|| "/".into());
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if contents_only && dst_is_dir {
                (dst.to_string(), String::new())
            } else {
                (parent, name)
            }
        };
        let src_path = PathBuf::from(src.trim_end_matches("/."));
        let tmp = tempfile::NamedTempFile::new().map_err(|e| Exit(1, e.to_string()))?;
        let file = tmp.reopen().map_err(|e| Exit(1, e.to_string()))?;
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let mut b = tar::Builder::new(file);
            b.follow_symlinks(follow);
            if meta.is_dir() {
                if name.is_empty() {
                    b.append_dir_all(".", &src_path)?;
                } else {
                    b.append_dir_all(&name, &src_path)?;
                }
            } else {
                b.append_path_with_name(&src_path, &name)?;
            }
            b.finish()
        })
        .await
        .map_err(|e| Exit(1, e.to_string()))?
        .map_err(|e| Exit(1, format!("archiving {src}: {e}")))?;
        (dir, Some(tmp))
    };
    let body = match &archive {
        Some(tmp) => {
            let f = tokio::fs::File::open(tmp.path())
                .await
                .map_err(|e| Exit(1, e.to_string()))?;
            reader_body(f)
        }
        None => reader_body(tokio::io::stdin()),
    };
    let mut q = vec![
        ("path", target_dir.as_str()),
        ("noOverwriteDirNonDir", "true"),
    ];
    if keep_owners {
        q.push(("copyUIDGID", "true"));
    }
    let q = query(&q);
    client
        .request(
            Method::PUT,
            &format!("/containers/{c}/archive?{q}"),
            body,
            Some("application/x-tar"),
        )
        .await
        .map_err(|e| Exit(1, format!("Error response from daemon: {e}")))?;
    Ok(ExitCode::SUCCESS)
}
