//! Container logs: the json-file driver's files (written by the shim,
//! rotated as `<id>-json.log.N`), read back with Docker's `since`, `until`,
//! `tail` and `timestamps`, and followed as they grow.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One log line.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// 1 stdout, 2 stderr.
    pub stream: u8,
    /// RFC 3339 with nanoseconds.
    pub time: String,
    /// Unix nanoseconds of `time`.
    pub nanos: i128,
    /// The bytes, newline included.
    pub line: Vec<u8>,
}

#[derive(Deserialize)]
struct Raw {
    log: String,
    stream: String,
    time: String,
}

/// Which lines to read.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Include stdout.
    pub stdout: bool,
    /// Include stderr.
    pub stderr: bool,
    /// Only lines at or after this time (unix ns).
    pub since: Option<i128>,
    /// Only lines at or before this time (unix ns), as Docker cuts.
    pub until: Option<i128>,
    /// Only the last N lines.
    pub tail: Option<usize>,
}

fn parse_line(l: &str) -> Option<LogEntry> {
    let r: Raw = serde_json::from_str(l).ok()?;
    let t = chrono::DateTime::parse_from_rfc3339(&r.time).ok()?;
    Some(LogEntry {
        stream: if r.stream == "stderr" { 2 } else { 1 },
        nanos: i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos()),
        time: r.time,
        line: r.log.into_bytes(),
    })
}

/// The log files of a container, oldest first.
pub fn log_files(log: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<(u32, PathBuf)> = Vec::new();
    if let (Some(dir), Some(name)) = (log.parent(), log.file_name().and_then(|n| n.to_str())) {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let f = e.file_name().to_string_lossy().to_string();
                if let Some(n) = f
                    .strip_prefix(&format!("{name}."))
                    .and_then(|n| n.parse::<u32>().ok())
                {
                    rotated.push((n, e.path()));
                }
            }
        }
    }
    rotated.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    let mut out: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    out.push(log.to_path_buf());
    out
}

fn keep(e: &LogEntry, o: &LogOptions) -> bool {
    (e.stream == 1 && o.stdout || e.stream == 2 && o.stderr)
        && o.since.is_none_or(|s| e.nanos >= s)
        && o.until.is_none_or(|u| e.nanos <= u)
}

/// Reads the complete lines of `file` from where it stands, keeping those
/// `o` selects into `out`; returns the bytes consumed (a partial last line,
/// still being written, is left for later).
fn read_lines(file: File, o: &LogOptions, out: &mut Vec<LogEntry>) -> u64 {
    let mut r = BufReader::new(file);
    let mut line = String::new();
    let mut read = 0u64;
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(n) if n > 0 && line.ends_with('\n') => {
                read += n as u64;
                if let Some(e) = parse_line(line.trim_end()) {
                    if keep(&e, o) {
                        out.push(e);
                    }
                }
            }
            _ => return read,
        }
    }
}

/// Reads what the log holds now; returns the entries and the position in
/// the current file to follow from.
pub fn read_logs(log: &Path, o: &LogOptions) -> (Vec<LogEntry>, u64) {
    let mut out = Vec::new();
    let mut pos = 0;
    let files = log_files(log);
    for (i, f) in files.iter().enumerate() {
        let Ok(file) = File::open(f) else { continue };
        let read = read_lines(file, o, &mut out);
        if i + 1 == files.len() {
            pos = read;
        }
    }
    if let Some(t) = o.tail {
        let skip = out.len().saturating_sub(t);
        out.drain(..skip);
    }
    (out, pos)
}

/// Reads complete lines added to the current log file after `pos`; returns
/// them and the new position (restarting at 0 when the file was rotated).
pub fn read_more(log: &Path, pos: u64, o: &LogOptions) -> (Vec<LogEntry>, u64) {
    let Ok(mut file) = File::open(log) else {
        return (Vec::new(), pos);
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = if len < pos { 0 } else { pos };
    if file.seek(SeekFrom::Start(start)).is_err() {
        return (Vec::new(), pos);
    }
    let mut out = Vec::new();
    let read = read_lines(file, o, &mut out);
    (out, start + read)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(stream: &str, t: &str, msg: &str) -> String {
        format!(
            "{}\n",
            serde_json::json!({"log": msg, "stream": stream, "time": t})
        )
    }

    #[test]
    fn reads_filters_tails_and_follows() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("c-json.log");
        std::fs::write(
            log.with_extension("log.1"),
            line("stdout", "2024-01-01T00:00:00Z", "old\n"),
        )
        .unwrap();
        let body = line("stdout", "2024-01-01T00:00:01Z", "a\n")
            + &line("stderr", "2024-01-01T00:00:02Z", "b\n");
        std::fs::write(&log, &body).unwrap();
        let all = LogOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let (e, pos) = read_logs(&log, &all);
        assert_eq!(
            e.iter()
                .map(|x| String::from_utf8_lossy(&x.line).to_string())
                .collect::<Vec<_>>(),
            vec!["old\n", "a\n", "b\n"]
        );
        assert_eq!(pos, body.len() as u64);
        let (e, _) = read_logs(
            &log,
            &LogOptions {
                stdout: true,
                ..Default::default()
            },
        );
        assert_eq!(e.len(), 2);
        let (e, _) = read_logs(
            &log,
            &LogOptions {
                tail: Some(1),
                ..all.clone()
            },
        );
        assert_eq!(e[0].line, b"b\n");
        let since = 1_704_067_202i128 * 1_000_000_000;
        let (e, _) = read_logs(
            &log,
            &LogOptions {
                since: Some(since),
                ..all.clone()
            },
        );
        assert_eq!(e.len(), 1);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .unwrap()
            .write_all(line("stdout", "2024-01-01T00:00:03Z", "c\n").as_bytes())
            .unwrap();
        let (e, _) = read_more(&log, pos, &all);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].line, b"c\n");
    }
    use std::io::Write;
}
