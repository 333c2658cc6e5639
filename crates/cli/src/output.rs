//! Printing helpers shared by the commands: docker's JSON indentation,
//! list rendering through `berth-format`, and terminal checks.

use std::io::Write;

use serde::Serialize;
use serde_json::Value;

/// Boxed error for command results.
pub type CmdError = Box<dyn std::error::Error>;

/// JSON indented with four spaces, as `docker inspect` prints it.
pub fn pretty(v: &Value) -> String {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    if v.serialize(&mut ser).is_err() {
        return v.to_string();
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Renders a list with `format` (or the default table), as docker does.
pub fn print_list(
    format: Option<&str>,
    default: &str,
    headers: Value,
    rows: &[Value],
) -> Result<(), CmdError> {
    let f = match format {
        None | Some("") | Some("table") => default,
        Some(f) => f,
    };
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    berth_format::render_list(f, &headers, rows, &mut lock)?;
    lock.flush()?;
    Ok(())
}

/// Renders one template per value (`inspect -f`, `version -f`).
pub fn print_each(template: &str, items: &[Value]) -> Result<(), CmdError> {
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    if template == "json" {
        for i in items {
            writeln!(lock, "{i}")?;
        }
        return Ok(());
    }
    berth_format::render_each(template, items, &mut lock)?;
    lock.flush()?;
    Ok(())
}

/// Whether a file descriptor is a terminal.
pub fn is_tty(fd: impl std::os::fd::AsFd) -> bool {
    rustix::termios::isatty(fd)
}

/// The first 12 hex characters of an ID.
pub fn short_id(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

/// Turns `-f key=value` flags into the API's `filters` JSON.
pub fn filters_json(filters: &[String]) -> Result<Option<String>, CmdError> {
    if filters.is_empty() {
        return Ok(None);
    }
    let mut map: serde_json::Map<String, Value> = serde_json::Map::new();
    for f in filters {
        let Some((k, v)) = f.split_once('=') else {
            return Err(format!("bad format of filter (expected name=value): {f}").into());
        };
        let entry = map
            .entry(k.trim().to_lowercase())
            .or_insert_with(|| Value::Object(Default::default()));
        if let Value::Object(m) = entry {
            m.insert(v.to_string(), Value::Bool(true));
        }
    }
    Ok(Some(Value::Object(map).to_string()))
}

/// Encodes query parameters.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// A `--since`/`--until` value (timestamp or duration) as the API's
/// `seconds.nanoseconds`.
pub fn ts_param(v: &str) -> Result<String, CmdError> {
    let now = chrono::Utc::now();
    let now_ns =
        i128::from(now.timestamp()) * 1_000_000_000 + i128::from(now.timestamp_subsec_nanos());
    let t = berth_format::parse_timestamp(v, now_ns)?;
    Ok(format!(
        "{}.{:09}",
        t.div_euclid(1_000_000_000),
        t.rem_euclid(1_000_000_000)
    ))
}

/// Writes a streamed response to a file (through a temporary name, renamed
/// at the end, so a failure never leaves a truncated file under the name
/// asked for) or to stdout.
pub async fn write_stream(
    stream: impl futures::Stream<Item = Result<bytes::Bytes, berth_api::ClientError>>,
    path: Option<&str>,
    what: &str,
) -> Result<(), CmdError> {
    use futures::StreamExt;
    let mut stream = Box::pin(stream);
    match path {
        Some(path) => {
            let tmp = format!("{path}.berth-tmp");
            let mut f = std::fs::File::create(&tmp).map_err(|e| format!("{what}: {tmp}: {e}"))?;
            let r: Result<(), CmdError> = async {
                while let Some(chunk) = stream.next().await {
                    f.write_all(&chunk.map_err(|e| format!("{what}: {e}"))?)?;
                }
                f.sync_all()?;
                Ok(())
            }
            .await;
            if let Err(e) = r {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            std::fs::rename(&tmp, path).map_err(|e| format!("{what}: {path}: {e}"))?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut o = stdout.lock();
            while let Some(chunk) = stream.next().await {
                o.write_all(&chunk.map_err(|e| format!("{what}: {e}"))?)?;
            }
            o.flush()?;
        }
    }
    Ok(())
}
