//! The `berth shim` of the next container start, started ahead of need.
//!
//! Every start runs a `berth shim`: it creates the container through
//! libcontainer, and `berth-shim`, the small monitor, watches it. Starting
//! those programs is an exec of the daemon's whole binary and one of the
//! monitor's, costing milliseconds that a start would wait for. So once a
//! start's process runs, the daemon starts the next shim, which execs the
//! monitor at once and waits, idle, for its container on its stdin (one
//! JSON line of [`ShimArgs`]; see `berth_runtime::shim::standby`). A start
//! takes it if it is there, and starts one itself otherwise (the first
//! start, or many at once). A standby that died meanwhile is noticed before
//! use, and one exits by itself when the daemon goes (its stdin ends).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use berth_runtime::shim::ShimArgs;

use crate::error::{EngineError, Result};
use crate::Engine;

/// The standby shim, if one is ready, and whether one is being started.
#[derive(Default)]
pub struct Standby {
    ready: Mutex<Option<Child>>,
    starting: AtomicBool,
}

/// Starts a `berth shim --standby` of the daemon's own binary (even if
/// the file was replaced on disk since).
fn spawn_standby() -> std::io::Result<Child> {
    Command::new("/proc/self/exe")
        .args(["shim", "--standby"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
}

/// Hands `job` to a waiting shim. A shim that cannot take it (it died)
/// is reaped, and has begun nothing.
fn send(mut child: Child, job: &str) -> std::io::Result<Child> {
    let sent = match child.stdin.take() {
        Some(mut stdin) => stdin.write_all(job.as_bytes()),
        None => Err(std::io::Error::other("the shim has no stdin")),
    };
    if let Err(e) = sent {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    Ok(child)
}

/// The report line of a shim that took its job. The process the daemon
/// started passes the job on and exits; the monitor below it reports once
/// the container is created (or the creator, that it could not be).
fn report(mut child: Child) -> std::io::Result<String> {
    let stdout = child.stdout.take();
    let _ = child.wait();
    let mut line = String::new();
    if let Some(out) = stdout {
        BufReader::new(out).take(1 << 20).read_line(&mut line)?;
    }
    Ok(line)
}

impl Engine {
    /// Runs the shim of one container start; returns its report line.
    pub(crate) fn run_shim(self: &Arc<Self>, args: &ShimArgs) -> Result<String> {
        let job = serde_json::to_string(args)
            .map(|j| j + "\n")
            .map_err(|e| EngineError::internal(format!("encoding the shim's arguments: {e}")))?;
        let failed = |e: std::io::Error| EngineError::internal(format!("starting the shim: {e}"));
        let child = match self.take_standby().map(|c| send(c, &job)) {
            Some(Ok(child)) => child,
            // None waiting, or one that died before it could take the job
            // (so it began nothing): a fresh shim.
            _ => spawn_standby()
                .and_then(|c| send(c, &job))
                .map_err(failed)?,
        };
        // The next standby is started by the caller once this start is
        // done (see replenish_standby).
        report(child).map_err(failed)
    }

    /// The standby shim, if one is there and alive.
    fn take_standby(&self) -> Option<Child> {
        let mut child = self.standby.ready.lock().ok()?.take()?;
        match child.try_wait() {
            Ok(None) => Some(child),
            _ => None,
        }
    }

    /// Starts the next standby shim in the background, unless one is ready
    /// or being started. A start calls it once its process runs, not right
    /// after taking the standby: the new one's exec and forks would compete
    /// for the CPU with the rest of that start (measured: 0.5-1 ms slower).
    pub(crate) fn replenish_standby(self: &Arc<Self>) {
        if self.is_closing()
            || self
                .standby
                .ready
                .lock()
                .map(|r| r.is_some())
                .unwrap_or(true)
            || self.standby.starting.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let engine = self.clone();
        let spawned = std::thread::Builder::new()
            .name("shim-standby".into())
            .spawn(move || {
                match spawn_standby() {
                    Ok(child) => {
                        if let Ok(mut ready) = engine.standby.ready.lock() {
                            if ready.is_none() && !engine.is_closing() {
                                *ready = Some(child);
                            } else {
                                // One too many: its stdin ends, it exits.
                                let mut child = child;
                                drop(child.stdin.take());
                                let _ = child.wait();
                            }
                        }
                    }
                    Err(e) => tracing::warn!("starting a standby shim: {e}"),
                }
                engine.standby.starting.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.standby.starting.store(false, Ordering::Release);
        }
    }
}
