//! The lifecycle of a container: start (through a `berth shim`), stop,
//! kill, restart, remove, wait, the monitor that learns of exits, restart
//! policies, and recovery of running containers when the daemon restarts.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_runtime::shim::{self, ExitStatus, StartReport};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::sync::watch;

use super::spec::signal_number;
use super::{ContainerRecord, CONTAINERS};
use crate::error::{io_context, EngineError, ErrorKind, Result};
use crate::events::attrs;
use crate::images::now_rfc3339;
use crate::Engine;

/// What waiters see of a container: bumped on every state change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gen {
    /// Change counter.
    pub seq: u64,
    /// Running now.
    pub running: bool,
    /// Exits seen so far.
    pub exits: u64,
    /// Exit code of the last exit.
    pub exit_code: i64,
    /// The shim has created the container and waits for attaches + start.
    pub created_in_shim: bool,
    /// The record is gone.
    pub removed: bool,
}

/// A wait in progress (see [`Engine::wait_handle`]).
pub struct WaitHandle {
    id: String,
    rx: watch::Receiver<Gen>,
    start: Gen,
    running_now: bool,
    exit_code: i64,
    condition: WaitCondition,
}

/// `wait` conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    /// Return at once if not running, else at the next exit.
    NotRunning,
    /// The next exit.
    NextExit,
    /// Removal.
    Removed,
}

impl WaitCondition {
    /// Parses `?condition=`.
    pub fn parse(s: Option<&str>) -> Result<Self> {
        match s.unwrap_or("") {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            other => Err(EngineError::invalid(format!(
                "invalid condition: \"{other}\""
            ))),
        }
    }
}

fn restart_delay(n: u64) -> Duration {
    let ms = 100u64.saturating_mul(1u64 << n.min(10));
    Duration::from_millis(ms.min(60_000))
}

impl Engine {
    fn watch_sender(&self, id: &str) -> watch::Sender<Gen> {
        let mut w = self.watches.lock().unwrap_or_else(|p| p.into_inner());
        w.entry(id.to_string())
            .or_insert_with(|| {
                // A new channel starts from the recorded state (after a
                // daemon restart nothing has been announced yet).
                let running = self
                    .store
                    .get::<ContainerRecord>(CONTAINERS, id)
                    .ok()
                    .flatten()
                    .is_some_and(|r| r.state.running);
                watch::channel(Gen {
                    running,
                    ..Gen::default()
                })
                .0
            })
            .clone()
    }

    /// Subscribes to a container's state changes.
    pub fn watch_container(&self, id: &str) -> watch::Receiver<Gen> {
        self.watch_sender(id).subscribe()
    }

    fn notify(&self, rec: &ContainerRecord, f: impl FnOnce(&mut Gen)) {
        let tx = self.watch_sender(&rec.id);
        tx.send_modify(|g| {
            g.seq += 1;
            g.running = rec.state.running;
            f(g);
        });
    }

    /// Once a start's process runs (or its start failed): the next start's
    /// shim and directory are made in the background.
    fn prepare_next_start(self: &Arc<Self>) {
        self.replenish_standby();
        self.replenish_ready_dir();
    }

    fn set_state(&self, rec: &ContainerRecord) -> Result<()> {
        self.save_container(rec)
    }

    fn shim_request(&self, id: &str, req: &Value, timeout: Duration) -> Result<Value> {
        let bundle = self.bundle_dir(id);
        let mut s = shim::connect(&bundle, req).map_err(|e| {
            EngineError::internal(format!("cannot reach the shim of container {id}: {e}"))
        })?;
        s.set_read_timeout(Some(timeout)).ok();
        let mut line = String::new();
        BufReader::new(&mut s)
            .read_line(&mut line)
            .map_err(|e| EngineError::internal(format!("shim of container {id}: {e}")))?;
        serde_json::from_str(line.trim()).map_err(|e| {
            EngineError::internal(format!("shim of container {id}: bad reply {line:?}: {e}"))
        })
    }

    /// `POST /containers/{id}/start`.
    pub fn start_container(self: &Arc<Self>, name: &str) -> Result<()> {
        let rec = self.resolve_container(name)?;
        if rec.state.running && !rec.state.restarting {
            return Err(EngineError::new(
                ErrorKind::NotModified,
                "container already started",
            ));
        }
        if rec.state.status == "removing" {
            return Err(EngineError::conflict(format!(
                "container {} is marked for removal and cannot be started",
                rec.id
            )));
        }
        let mut rec = rec;
        rec.manually_stopped = false;
        match self.launch(&mut rec) {
            Ok(()) => Ok(()),
            Err((e, code)) => {
                self.prepare_next_start();
                self.release_endpoints(&mut rec);
                self.release_mounts(&rec);
                self.unmount_rootfs(&rec.id);
                rec.state.running = false;
                rec.state.restarting = false;
                rec.state.pid = 0;
                rec.state.error = e.message.clone();
                if let Some(c) = code {
                    rec.state.exit_code = c;
                }
                if rec.state.status != "exited" {
                    rec.state.status = if rec.has_been_started {
                        "exited".into()
                    } else {
                        "created".into()
                    };
                }
                let _ = self.set_state(&rec);
                self.notify(&rec, |g| g.created_in_shim = false);
                if rec.host_config["AutoRemove"].as_bool() == Some(true) {
                    let _ = self.remove_container(&rec.id, true, true);
                }
                Err(e)
            }
        }
    }

    /// Mounts, writes the bundle, runs the shim, lets attaches connect,
    /// starts the process; on failure returns the error and Docker's exit
    /// code for it.
    /// A launch the daemon did not finish (killed between the shim's create
    /// and start) leaves a shim waiting over a created container, and
    /// libcontainer's state for it: both are ended here, so the container
    /// can be started afresh (libcontainer refuses an ID whose state exists).
    fn clear_stale_launch(&self, id: &str) {
        let bundle = self.bundle_dir(id);
        let sock = shim::socket_path(&bundle);
        if std::os::unix::net::UnixStream::connect(&sock).is_ok() {
            tracing::info!(
                "container {}: ending a launch a crash interrupted",
                &id[..12.min(id.len())]
            );
            let _ = self.shim_request(
                id,
                &json!({"op": "kill", "signal": 9}),
                Duration::from_secs(2),
            );
            let _ = self.shim_request(id, &json!({"op": "start"}), Duration::from_secs(2));
            let deadline = Instant::now() + Duration::from_secs(3);
            while std::os::unix::net::UnixStream::connect(&sock).is_ok()
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let state = self.config.exec_root.join("runtime").join(id);
        if state.exists() {
            if let Err(e) = std::fs::remove_dir_all(&state) {
                tracing::warn!("removing stale runtime state {}: {e}", state.display());
            }
        }
    }

    fn launch(
        self: &Arc<Self>,
        rec: &mut ContainerRecord,
    ) -> std::result::Result<(), (EngineError, Option<i64>)> {
        let plain = |e: EngineError| (e, None);
        // The kernel's wait for the cgroup join runs while the rootfs,
        // network and bundle are made (see begin_migration_grace_period).
        berth_runtime::cgroups::begin_migration_grace_period();
        self.clear_stale_launch(&rec.id);
        let dirs = self.container_dirs(&rec.id);
        let rootfs = self.mount_rootfs(rec).map_err(plain)?;
        // Addresses first: /etc/hosts names the container by them; the
        // record keeps them before anything uses them (a container without
        // a network changes nothing, and skips the durable write).
        let before = serde_json::to_vec(&*rec).ok();
        self.allocate_endpoints(rec).map_err(plain)?;
        if before.is_none() || serde_json::to_vec(&*rec).ok() != before {
            self.save_container(rec).map_err(plain)?;
        }
        self.write_etc_files(rec).map_err(plain)?;
        let spec = self.runtime_spec(rec, &rootfs).map_err(plain)?;
        let mut oci = berth_runtime::spec::build(&spec);
        berth_runtime::spec::validate(&oci).map_err(|e| plain(EngineError::internal(e)))?;
        std::fs::create_dir_all(&dirs.bundle)
            .map_err(io_context(format!("creating {}", dirs.bundle.display())))
            .map_err(plain)?;
        // The seccomp profile goes to the bundle compiled (once per profile).
        berth_runtime::filter::prepare(&dirs.bundle, &mut oci)
            .map_err(|e| plain(EngineError::internal(e)))?;
        let _ = std::fs::remove_file(dirs.bundle.join("exit.json"));
        let _ = std::fs::remove_file(shim::socket_path(&dirs.bundle));
        let cfg_path = dirs.bundle.join("config.json");
        let tmp = dirs.bundle.join("config.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&oci).unwrap_or_default())
            .and_then(|_| std::fs::rename(&tmp, &cfg_path))
            .map_err(io_context(format!("writing {}", cfg_path.display())))
            .map_err(plain)?;
        // Without a log path the shim keeps no log: the `none` driver.
        let log_cfg = &rec.host_config["LogConfig"]["Config"];
        let line = self
            .run_shim(&shim::ShimArgs {
                id: rec.id.clone(),
                bundle: dirs.bundle.clone(),
                state_root: self.config.exec_root.join("runtime"),
                log_path: if rec.host_config["LogConfig"]["Type"] == "none" {
                    std::path::PathBuf::new()
                } else {
                    dirs.log.clone()
                },
                log_max_size: log_cfg["max-size"].as_str().and_then(super::spec::log_size),
                log_max_files: log_cfg["max-file"]
                    .as_str()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1),
                stdin: rec.config["OpenStdin"].as_bool() == Some(true),
                stdin_once: rec.config["OpenStdin"].as_bool() == Some(true)
                    && rec.config["StdinOnce"].as_bool() == Some(true),
                tty: rec.config["Tty"].as_bool() == Some(true),
            })
            .map_err(plain)?;
        let report: StartReport = serde_json::from_str(line.trim()).map_err(|_| {
            plain(EngineError::internal(format!(
                "the shim of container {} failed before reporting (see {})",
                rec.id,
                dirs.bundle.join("shim.log").display()
            )))
        })?;
        if let Some(err) = report.error {
            let code = report.exit_code.map(i64::from);
            let kind = if matches!(code, Some(126) | Some(127)) {
                ErrorKind::InvalidArgument
            } else {
                ErrorKind::Internal
            };
            return Err((EngineError::new(kind, err), code));
        }
        let pid = report.pid.unwrap_or(0);
        // Its network namespace exists now: interfaces, ports, DNS.
        if let Err(e) = self.plumb_endpoints(rec, i64::from(pid)) {
            // The init never runs: kill it and let the shim collect it.
            let _ = self.shim_request(
                &rec.id,
                &json!({"op": "kill", "signal": 9}),
                Duration::from_secs(5),
            );
            let _ = self.shim_request(&rec.id, &json!({"op": "start"}), Duration::from_secs(5));
            return Err(plain(e));
        }
        if let Some(w) = rec.host_config["BlkioWeight"].as_u64().filter(|w| *w > 0) {
            if berth_runtime::cgroups::is_unified() {
                let path = berth_runtime::cgroups::container_path(&rec.id);
                if let Err(e) = berth_runtime::cgroups::set_io_weight_v2(&path, w as u16) {
                    tracing::warn!("container {}: {e}", rec.id);
                }
            }
        }
        // Let waiting attaches connect before the process runs.
        self.notify(rec, |g| g.created_in_shim = true);
        self.attaches_settled(&rec.id, Duration::from_secs(5));
        // The exit watch is asked for before the start, so that even a
        // process that ends at once is seen ending (not only found ended).
        let watch = shim::connect(&dirs.bundle, &json!({"op": "wait"})).ok();
        let reply = self
            .shim_request(&rec.id, &json!({"op": "start"}), Duration::from_secs(60))
            .map_err(plain);
        self.prepare_next_start();
        let reply = reply?;
        if let Some(e) = reply["error"].as_str() {
            return Err((EngineError::internal(e.to_string()), None));
        }
        rec.state = super::State {
            status: "running".into(),
            running: true,
            pid: i64::from(pid),
            started_at: now_rfc3339(),
            finished_at: rec.state.finished_at.clone(),
            exit_code: 0,
            health: rec
                .config
                .get("Healthcheck")
                .filter(|h| !h.is_null())
                .map(|_| json!({"Status": "starting", "FailingStreak": 0, "Log": []})),
            ..Default::default()
        };
        rec.has_been_started = true;
        rec.ports = self.current_ports(&rec.id);
        self.set_state(rec).map_err(plain)?;
        self.notify(rec, |g| g.created_in_shim = false);
        self.container_event(rec, "start", BTreeMap::new());
        self.spawn_monitor_with(&rec.id, watch);
        self.spawn_health(&rec.id);
        Ok(())
    }

    /// Waits (at most `timeout`) until no attach to `id` is still waiting
    /// for its start.
    fn attaches_settled(&self, id: &str, timeout: Duration) {
        let Ok(m) = self.attach_pending.lock() else {
            return;
        };
        let _ = self
            .attach_settled
            .wait_timeout_while(m, timeout, |m| m.get(id).is_some_and(|n| *n > 0));
    }

    /// Counts an attach that waits for the container's start.
    pub fn attach_waiting(&self, id: &str, delta: isize) {
        if let Ok(mut m) = self.attach_pending.lock() {
            let n = m.entry(id.to_string()).or_insert(0);
            *n = (*n as isize + delta).max(0) as usize;
            if *n == 0 {
                m.remove(id);
                self.attach_settled.notify_all();
            }
        }
    }

    /// Watches the shim of a running container; handles its exit.
    pub(crate) fn spawn_monitor(self: &Arc<Self>, id: &str) {
        self.spawn_monitor_with(id, None);
    }

    /// [`Engine::spawn_monitor`] with a `wait` request already sent on
    /// `watch` (made before the start).
    fn spawn_monitor_with(
        self: &Arc<Self>,
        id: &str,
        watch: Option<std::os::unix::net::UnixStream>,
    ) {
        let engine = self.clone();
        let id = id.to_string();
        let bundle = self.bundle_dir(&id);
        self.rt.spawn(async move {
            let sock = shim::socket_path(&bundle);
            let mut watch = watch
                .and_then(|w| w.set_nonblocking(true).ok().map(|_| w))
                .and_then(|w| tokio::net::UnixStream::from_std(w).ok());
            let status = loop {
                let pre = watch.take();
                let answer = async {
                    let s = match pre {
                        Some(s) => s,
                        None => {
                            let mut s = tokio::net::UnixStream::connect(&sock).await.ok()?;
                            s.write_all(b"{\"op\":\"wait\"}\n").await.ok()?;
                            s
                        }
                    };
                    let mut r = tokio::io::BufReader::new(s);
                    let mut line = String::new();
                    r.read_line(&mut line).await.ok()?;
                    serde_json::from_str::<ExitStatus>(line.trim()).ok()
                }
                .await;
                if engine.is_closing() {
                    // The runtime is closing our connections: the container
                    // lives on; the next daemon watches it again.
                    return;
                }
                if let Some(s) = answer {
                    break s;
                }
                // No answer: the shim is gone (its exit record says how the
                // container ended), unless it still accepts connections.
                if let Some(s) = shim::read_exit(&bundle) {
                    break s;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                if let Some(s) = shim::read_exit(&bundle) {
                    break s;
                }
                if std::os::unix::net::UnixStream::connect(&sock).is_err() || engine.is_closing() {
                    break ExitStatus {
                        exit_code: 255,
                        oom_killed: false,
                        finished_at: now_rfc3339(),
                    };
                }
            };
            if engine.is_closing() {
                return;
            }
            let e = engine.clone();
            let _ = tokio::task::spawn_blocking(move || e.on_exit(&id, status)).await;
        });
    }

    /// Records an exit and applies the restart policy or `--rm`.
    pub(crate) fn on_exit(self: &Arc<Self>, id: &str, status: ExitStatus) {
        if self.is_closing() {
            return;
        }
        let Ok(mut rec) = self.resolve_container(id) else {
            return;
        };
        if !rec.state.running {
            return;
        }
        self.release_endpoints(&mut rec);
        self.release_mounts(&rec);
        self.unmount_rootfs(id);
        self.unmount_shared_shm(id);
        rec.state.running = false;
        rec.state.paused = false;
        rec.state.pid = 0;
        rec.state.exit_code = i64::from(status.exit_code);
        rec.state.oom_killed = status.oom_killed;
        rec.state.finished_at = status.finished_at.clone();
        rec.state.status = "exited".into();
        if let Some(h) = rec.state.health.as_mut() {
            h["Status"] = json!("unhealthy");
        }
        if status.oom_killed {
            self.container_event(&rec, "oom", BTreeMap::new());
        }
        let duration = chrono::DateTime::parse_from_rfc3339(&rec.state.started_at)
            .map(|t| (chrono::Utc::now().timestamp() - t.timestamp()).max(0))
            .unwrap_or(0);
        self.container_event(
            &rec,
            "die",
            attrs([
                ("exitCode", status.exit_code.to_string()),
                ("execDuration", duration.to_string()),
            ]),
        );
        let policy = rec.host_config["RestartPolicy"]["Name"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let max = rec.host_config["RestartPolicy"]["MaximumRetryCount"]
            .as_u64()
            .unwrap_or(0);
        let restart = !rec.manually_stopped
            && match policy.as_str() {
                "always" | "unless-stopped" => true,
                "on-failure" => status.exit_code != 0 && (max == 0 || rec.restart_count < max),
                _ => false,
            };
        let auto_remove = rec.host_config["AutoRemove"].as_bool() == Some(true);
        if restart {
            rec.state.restarting = true;
            rec.state.status = "restarting".into();
            rec.state.running = true;
            let delay = restart_delay(if duration >= 10 { 0 } else { rec.restart_count });
            rec.restart_count += 1;
            let _ = self.set_state(&rec);
            self.notify(&rec, |g| {
                g.exits += 1;
                g.exit_code = i64::from(status.exit_code);
            });
            let engine = self.clone();
            let id = id.to_string();
            self.rt.spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = tokio::task::spawn_blocking(move || {
                    let Ok(rec) = engine.resolve_container(&id) else {
                        return;
                    };
                    if !rec.state.restarting {
                        return;
                    }
                    if let Err(e) = engine.start_container(&id) {
                        tracing::warn!("restarting container {id}: {e}");
                    }
                })
                .await;
            });
            return;
        }
        rec.state.restarting = false;
        if auto_remove {
            // `--rm`: the record goes in one write (no "exited", no
            // "removing" state in between), seen at once and made durable
            // once the waiters are answered (the removal's too); then the
            // files go. A crash before it is durable finds the container
            // running with its exit recorded by the shim, and removes it at
            // the next start; one after finds files no record names, and
            // sweeps them (sweep_container_leftovers).
            match self.store.write_deferred(|tx| tx.delete(CONTAINERS, id)) {
                Ok(_) => {
                    self.notify(&rec, |g| {
                        g.exits += 1;
                        g.exit_code = i64::from(status.exit_code);
                    });
                    self.forget_container(&rec, true);
                    if let Err(e) = self.store.flush() {
                        tracing::warn!("auto-removing container {id}: {e}");
                    }
                    if let Err(e) = self.remove_container_files(id) {
                        tracing::warn!("auto-removing container {id}: {e}");
                    }
                    return;
                }
                Err(e) => tracing::warn!("auto-removing container {id}: {e}"),
            }
        }
        let _ = self.set_state(&rec);
        self.notify(&rec, |g| {
            g.exits += 1;
            g.exit_code = i64::from(status.exit_code);
        });
        if auto_remove {
            if let Err(e) = self.remove_container(id, true, true) {
                tracing::warn!("auto-removing container {id}: {e}");
            }
        }
    }

    fn wait_until(&self, id: &str, timeout: Duration, pred: impl Fn(&Gen) -> bool) -> bool {
        let mut rx = self.watch_container(id);
        let rt = self.rt.clone();
        rt.block_on(async {
            tokio::time::timeout(timeout, rx.wait_for(|g| pred(g)))
                .await
                .is_ok_and(|r| r.is_ok())
        })
    }

    /// Sends a signal to the container's init through its shim.
    fn signal(&self, rec: &ContainerRecord, sig: i32) -> Result<()> {
        let reply = self.shim_request(
            &rec.id,
            &json!({"op": "kill", "signal": sig}),
            Duration::from_secs(10),
        )?;
        if let Some(e) = reply["error"].as_str() {
            return Err(EngineError::internal(format!(
                "Cannot kill container: {}: {e}",
                rec.id
            )));
        }
        Ok(())
    }

    /// `POST /containers/{id}/stop`: the stop signal, then SIGKILL after the
    /// timeout. Returns false when it was not running (304).
    pub fn stop_container(
        self: &Arc<Self>,
        name: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<bool> {
        let mut rec = self.resolve_container(name)?;
        if rec.state.restarting {
            rec.manually_stopped = true;
            rec.state.restarting = false;
            rec.state.running = false;
            rec.state.status = "exited".into();
            self.set_state(&rec)?;
            self.notify(&rec, |_| {});
            self.container_event(&rec, "stop", BTreeMap::new());
            return Ok(true);
        }
        if !rec.state.running {
            return Ok(false);
        }
        rec.manually_stopped = true;
        self.set_state(&rec)?;
        let sig_name = signal
            .map(String::from)
            .or_else(|| {
                rec.config["StopSignal"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .map(String::from)
            })
            .unwrap_or_else(|| "SIGTERM".into());
        let sig = signal_number(&sig_name)
            .ok_or_else(|| EngineError::invalid(format!("Invalid signal: {sig_name}")))?;
        let secs = timeout
            .or_else(|| rec.config["StopTimeout"].as_i64())
            .unwrap_or(10);
        let exits = self.watch_container(&rec.id).borrow().exits;
        if rec.state.paused {
            let _ = self.unpause_container(&rec.id);
        }
        self.container_event(&rec, "kill", attrs([("signal", sig.to_string())]));
        let _ = self.signal(&rec, sig);
        let gone = |g: &Gen| g.exits > exits || !g.running;
        let stopped = secs >= 0 && self.wait_until(&rec.id, Duration::from_secs(secs as u64), gone);
        if !stopped {
            self.container_event(&rec, "kill", attrs([("signal", "9".to_string())]));
            let _ = self.signal(&rec, 9);
            if !self.wait_until(&rec.id, Duration::from_secs(30), gone) {
                return Err(EngineError::internal(format!(
                    "container {} did not stop after SIGKILL",
                    rec.id
                )));
            }
        }
        if let Ok(rec) = self.resolve_container(&rec.id) {
            self.container_event(&rec, "stop", BTreeMap::new());
        }
        Ok(true)
    }

    /// `POST /containers/{id}/kill`.
    pub fn kill_container(self: &Arc<Self>, name: &str, signal: Option<&str>) -> Result<()> {
        let mut rec = self.resolve_container(name)?;
        let sig_name = signal.filter(|s| !s.is_empty()).unwrap_or("SIGKILL");
        let sig = signal_number(sig_name)
            .ok_or_else(|| EngineError::invalid(format!("Invalid signal: {sig_name}")))?;
        // During a start, the process may run (and be heard from, as by a
        // CLI that proxies signals) before it is recorded running: the
        // kill waits for the start to end, as Docker's waits for the
        // container's lock.
        if !rec.state.running && self.watch_container(&rec.id).borrow().created_in_shim {
            self.wait_until(&rec.id, Duration::from_secs(60), |g| !g.created_in_shim);
            rec = self.resolve_container(&rec.id)?;
        }
        if !rec.state.running || rec.state.restarting {
            return Err(EngineError::conflict(format!(
                "Cannot kill container: {name}: container {} is not running",
                rec.id
            )));
        }
        if sig == 9 || sig == 15 {
            rec.manually_stopped = true;
            self.set_state(&rec)?;
        }
        self.container_event(&rec, "kill", attrs([("signal", sig.to_string())]));
        self.signal(&rec, sig)
    }

    /// `POST /containers/{id}/restart`.
    pub fn restart_container(
        self: &Arc<Self>,
        name: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<()> {
        let rec = self.resolve_container(name)?;
        self.stop_container(&rec.id, timeout, signal)?;
        self.start_container(&rec.id)?;
        if let Ok(rec) = self.resolve_container(&rec.id) {
            self.container_event(&rec, "restart", BTreeMap::new());
        }
        Ok(())
    }

    /// `DELETE /containers/{id}`.
    pub fn remove_container(
        self: &Arc<Self>,
        name: &str,
        force: bool,
        volumes: bool,
    ) -> Result<()> {
        let mut rec = self.resolve_container(name)?;
        if rec.state.running && !rec.state.restarting {
            if !force {
                return Err(EngineError::conflict(format!(
                    "cannot remove container \"{}\": container is running: stop the container before removing or force remove",
                    rec.name
                )));
            }
            rec.manually_stopped = true;
            self.set_state(&rec)?;
            let exits = self.watch_container(&rec.id).borrow().exits;
            self.container_event(&rec, "kill", attrs([("signal", "9".to_string())]));
            let _ = self.signal(&rec, 9);
            if !self.wait_until(&rec.id, Duration::from_secs(30), |g| {
                g.exits > exits || !g.running
            }) {
                return Err(EngineError::internal(format!(
                    "container {} did not die after SIGKILL",
                    rec.id
                )));
            }
            rec = self.resolve_container(&rec.id)?;
        }
        rec.state.status = "removing".into();
        rec.state.restarting = false;
        self.set_state(&rec)?;
        if let Err(e) = self.remove_container_files(&rec.id) {
            rec.state.status = "dead".into();
            rec.state.dead = true;
            let _ = self.set_state(&rec);
            return Err(e);
        }
        self.store.write(|tx| tx.delete(CONTAINERS, &rec.id))?;
        self.forget_container(&rec, volumes);
        Ok(())
    }

    /// What follows the deletion of a container's record: its anonymous
    /// volumes (with `volumes`), execs, the `destroy` event, and the
    /// waiters for its removal.
    fn forget_container(&self, rec: &ContainerRecord, volumes: bool) {
        if volumes {
            self.remove_anonymous_volumes(rec);
        }
        self.forget_execs(&rec.id);
        self.container_event(rec, "destroy", BTreeMap::new());
        let tx = self.watch_sender(&rec.id);
        tx.send_modify(|g| {
            g.seq += 1;
            g.running = false;
            g.removed = true;
        });
        if let Ok(mut w) = self.watches.lock() {
            w.remove(&rec.id);
        }
    }

    /// `POST /containers/{id}/wait`: the exit code once `condition` holds.
    pub async fn wait_container(
        self: &Arc<Self>,
        name: &str,
        condition: WaitCondition,
    ) -> Result<i64> {
        let h = self.wait_handle(name, condition)?;
        self.wait_finish(h).await
    }

    /// The first half of a wait: resolves the container and subscribes to
    /// its state at once (so an exit right after cannot be missed).
    pub fn wait_handle(&self, name: &str, condition: WaitCondition) -> Result<WaitHandle> {
        // Snapshot the change counter before reading the record: an exit is
        // saved before it is announced, so it is either in the record we read
        // or counted after our snapshot.
        let id = self.resolve_container(name)?.id;
        let rx = self.watch_container(&id);
        let start = rx.borrow().clone();
        let rec = self.resolve_container(&id)?;
        Ok(WaitHandle {
            id: rec.id,
            rx,
            start,
            running_now: rec.state.running,
            exit_code: rec.state.exit_code,
            condition,
        })
    }

    /// The second half of a wait: the exit code once the condition holds.
    pub async fn wait_finish(self: &Arc<Self>, h: WaitHandle) -> Result<i64> {
        let WaitHandle {
            id,
            mut rx,
            start,
            running_now,
            exit_code,
            condition,
        } = h;
        match condition {
            WaitCondition::NotRunning if !running_now => Ok(exit_code),
            WaitCondition::NotRunning | WaitCondition::NextExit => {
                let g = rx
                    .wait_for(|g| g.exits > start.exits || g.removed)
                    .await
                    .map_err(|_| EngineError::internal("daemon shutting down"))?
                    .clone();
                if g.exits > start.exits {
                    return Ok(g.exit_code);
                }
                Ok(self
                    .resolve_container(&id)
                    .map(|r| r.state.exit_code)
                    .unwrap_or(g.exit_code))
            }
            WaitCondition::Removed => {
                let mut last = exit_code;
                loop {
                    let g = rx.borrow().clone();
                    if g.exits > start.exits {
                        last = g.exit_code;
                    }
                    if g.removed {
                        return Ok(last);
                    }
                    if rx.changed().await.is_err() {
                        return Ok(last);
                    }
                }
            }
        }
    }

    /// At daemon start: reconnects to the shims of running containers,
    /// records the exits that happened meanwhile, and starts containers
    /// whose restart policy asks for it.
    pub fn recover_containers(self: &Arc<Self>) {
        let Ok(recs) = self.container_records() else {
            return;
        };
        self.sweep_container_leftovers(&recs);
        self.replenish_ready_dir();
        for rec in recs {
            if rec.state.status == "removing" {
                // Killed in the middle of a removal: finish it, the
                // container's processes first.
                self.clear_stale_launch(&rec.id);
                if self.remove_container_files(&rec.id).is_ok() {
                    let _ = self.store.write(|tx| tx.delete(CONTAINERS, &rec.id));
                    self.container_event(&rec, "destroy", BTreeMap::new());
                }
                continue;
            }
            let bundle = self.bundle_dir(&rec.id);
            if rec.state.running || rec.state.restarting {
                if shim_reachable(&bundle, rec.state.pid) {
                    tracing::info!(
                        "container {} is still running; watching it again",
                        &rec.id[..12]
                    );
                    self.restore_endpoints(&rec);
                    self.restore_mounts(&rec);
                    self.spawn_monitor(&rec.id);
                    self.spawn_health(&rec.id);
                    continue;
                }
                let status = shim::read_exit(&bundle).unwrap_or_else(|| {
                    tracing::warn!(
                        "container {}: its shim is gone without an exit record (see {})",
                        &rec.id[..12],
                        bundle.join("shim.log").display()
                    );
                    ExitStatus {
                        exit_code: 255,
                        oom_killed: false,
                        finished_at: now_rfc3339(),
                    }
                });
                let mut r = rec.clone();
                r.state.running = true;
                r.state.restarting = false;
                let _ = self.set_state(&r);
                self.on_exit(&rec.id, status);
                continue;
            }
            self.clear_stale_launch(&rec.id);
            let policy = rec.host_config["RestartPolicy"]["Name"]
                .as_str()
                .unwrap_or("");
            let wanted = rec.has_been_started
                && (policy == "always" || (policy == "unless-stopped" && !rec.manually_stopped));
            if wanted && rec.state.status == "exited" {
                if let Err(e) = self.start_container(&rec.id) {
                    tracing::warn!("starting container {} at daemon start: {e}", &rec.id[..12]);
                }
            }
        }
        // berth's table, rebuilt from what runs now (stale rules of a
        // crashed daemon go with the old table), and bridges of networks a
        // crash kept from being recorded.
        self.remove_stale_bridges();
        self.apply_firewall();
    }

    /// Removes container directories and bundles that no record names: a
    /// create or remove interrupted by a crash leaves them.
    fn sweep_container_leftovers(&self, recs: &[ContainerRecord]) {
        let known: std::collections::HashSet<&str> = recs.iter().map(|r| r.id.as_str()).collect();
        for dir in [
            self.config.data_root.join("containers"),
            self.config.exec_root.join("containers"),
        ] {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                // The directory made ahead for the next container is whole
                // (renamed into place once made): kept.
                if known.contains(name.as_str()) || name == super::rootfs::READY_DIR {
                    continue;
                }
                tracing::info!("removing leftovers of container {name}");
                if let Err(err) = self.remove_container_files(&name) {
                    tracing::warn!("{err}");
                }
            }
        }
    }

    /// `POST /containers/{id}/pause` (cgroup freezer).
    pub fn pause_container(self: &Arc<Self>, name: &str) -> Result<()> {
        let mut rec = self.resolve_container(name)?;
        if !rec.state.running {
            return Err(EngineError::conflict(format!(
                "Container {} is not running",
                rec.id
            )));
        }
        if rec.state.paused {
            return Err(EngineError::conflict(format!(
                "Container {} is already paused",
                rec.id
            )));
        }
        self.freeze_id(&rec.id, true)?;
        rec.state.paused = true;
        rec.state.status = "paused".into();
        self.set_state(&rec)?;
        self.container_event(&rec, "pause", BTreeMap::new());
        Ok(())
    }

    /// `POST /containers/{id}/unpause`.
    pub fn unpause_container(self: &Arc<Self>, name: &str) -> Result<()> {
        let mut rec = self.resolve_container(name)?;
        if !rec.state.paused {
            return Err(EngineError::conflict(format!(
                "Container {} is not paused",
                rec.id
            )));
        }
        self.freeze_id(&rec.id, false)?;
        rec.state.paused = false;
        rec.state.status = "running".into();
        self.set_state(&rec)?;
        self.container_event(&rec, "unpause", BTreeMap::new());
        Ok(())
    }

    /// Freezes or thaws a container's cgroup.
    pub(crate) fn freeze_id(&self, id: &str, frozen: bool) -> Result<()> {
        let v1 = format!("/sys/fs/cgroup/freezer/berth/{id}/freezer.state");
        let v2 = format!("/sys/fs/cgroup/berth/{id}/cgroup.freeze");
        let r = if std::path::Path::new(&v1).exists() {
            std::fs::write(&v1, if frozen { "FROZEN" } else { "THAWED" })
        } else {
            std::fs::write(&v2, if frozen { "1" } else { "0" })
        };
        r.map_err(|e| EngineError::internal(format!("freezing container {id}: {e}")))
    }
}

/// Counts an attach waiting for its container to start; uncounted on drop.
pub struct AttachGuard {
    engine: Arc<Engine>,
    id: String,
    active: bool,
}

impl AttachGuard {
    fn release(&mut self) {
        if self.active {
            self.engine.attach_waiting(&self.id, -1);
            self.active = false;
        }
    }
}

impl Drop for AttachGuard {
    fn drop(&mut self) {
        self.release();
    }
}

impl Engine {
    /// Registers an attach that may have to wait for the container's start.
    pub fn attach_guard(self: &Arc<Self>, id: &str) -> AttachGuard {
        self.attach_waiting(id, 1);
        AttachGuard {
            engine: self.clone(),
            id: id.to_string(),
            active: true,
        }
    }

    /// Connects to the container's shim for its stdio. A container that is
    /// not running yet is waited for: the attach joins between the shim's
    /// create and start, so it sees all the output.
    pub async fn attach_stream(
        self: &Arc<Self>,
        id: &str,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        mut guard: AttachGuard,
    ) -> Result<tokio::net::UnixStream> {
        let mut rx = self.watch_container(id);
        let rec = self.resolve_container(id)?;
        if !rec.state.running || rec.state.restarting {
            let g = rx
                .wait_for(|g| g.created_in_shim || g.removed)
                .await
                .map_err(|_| EngineError::internal("daemon shutting down"))?
                .clone();
            if g.removed {
                return Err(EngineError::not_found(format!("No such container: {id}")));
            }
        }
        let bundle = self.bundle_dir(id);
        let mut s = tokio::net::UnixStream::connect(shim::socket_path(&bundle))
            .await
            .map_err(|e| EngineError::internal(format!("attaching to container {id}: {e}")))?;
        let req = json!({"op": "attach", "stdin": stdin, "stdout": stdout, "stderr": stderr});
        s.write_all(format!("{req}\n").as_bytes())
            .await
            .map_err(|e| EngineError::internal(format!("attaching to container {id}: {e}")))?;
        // The acknowledgement line, read a byte at a time so nothing of the
        // stream that follows is consumed.
        let mut ack = Vec::new();
        loop {
            let mut b = [0u8; 1];
            let n = tokio::io::AsyncReadExt::read(&mut s, &mut b)
                .await
                .map_err(|e| EngineError::internal(format!("attaching to container {id}: {e}")))?;
            if n == 0 || b[0] == b'\n' || ack.len() > 4096 {
                break;
            }
            ack.push(b[0]);
        }
        guard.release();
        Ok(s)
    }

    /// `POST /containers/prune`: removes stopped containers.
    pub fn prune_containers(self: &Arc<Self>, filters: Option<&str>) -> Result<(Vec<String>, u64)> {
        let f = crate::images::parse_filters(filters)?;
        for k in f.keys() {
            if !["until", "label", "label!"].contains(&k.as_str()) {
                return Err(EngineError::invalid(format!("invalid filter '{k}'")));
            }
        }
        let until = f
            .get("until")
            .and_then(|v| v.first())
            .map(|u| {
                crate::images::parse_go_duration(u)
                    .map(|d| chrono::Utc::now().timestamp() - d)
                    .or_else(|| u.parse().ok())
            })
            .map(|o| o.ok_or_else(|| EngineError::invalid("invalid filter 'until'")))
            .transpose()?;
        let mut ids = Vec::new();
        let mut space = 0;
        for c in self.container_records()? {
            if c.state.running {
                continue;
            }
            let created = chrono::DateTime::parse_from_rfc3339(&c.created)
                .map(|t| t.timestamp())
                .unwrap_or(0);
            if until.is_some_and(|u| created >= u) {
                continue;
            }
            let labels = c.config.get("Labels").cloned().unwrap_or(json!({}));
            let has = |l: &String| match l.split_once('=') {
                Some((k, v)) => labels.get(k).and_then(|x| x.as_str()) == Some(v),
                None => labels.get(l.as_str()).is_some(),
            };
            if !f.get("label").is_none_or(|ls| ls.iter().all(has))
                || f.get("label!").is_some_and(|ls| ls.iter().any(has))
            {
                continue;
            }
            space += berth_snapshot::dir_size(&self.container_dirs(&c.id).upper).unwrap_or(0);
            self.remove_container(&c.id, false, false)?;
            ids.push(c.id);
        }
        self.events.publish(
            "container",
            "prune",
            "",
            attrs([("reclaimed", space.to_string())]),
        );
        Ok((ids, space))
    }
}

/// One change in a container's filesystem (`docker diff`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    /// Path inside the container.
    pub path: String,
    /// 0 modified, 1 added, 2 deleted (Docker's `Kind`).
    pub kind: u8,
}

impl Engine {
    /// `GET /containers/{id}/changes`: what the container's writable layer
    /// changed relative to its image.
    pub fn container_changes(&self, name: &str) -> Result<Vec<Change>> {
        use std::os::unix::fs::FileTypeExt;
        use std::os::unix::fs::MetadataExt;
        let rec = self.resolve_container(name)?;
        let image: Option<crate::images::ImageRecord> =
            self.store.get(crate::images::IMAGES, &rec.image_id)?;
        let lowers: Vec<std::path::PathBuf> = image
            .map(|i| {
                i.layers
                    .iter()
                    .rev()
                    .map(|l| self.layers.diff_dir(l))
                    .collect()
            })
            .unwrap_or_default();
        let in_image = |rel: &str| {
            lowers
                .iter()
                .any(|l| std::fs::symlink_metadata(l.join(rel)).is_ok())
        };
        let upper = self.container_dirs(&rec.id).upper;
        let mut out = Vec::new();
        let mut stack = vec![upper.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                let rel = p
                    .strip_prefix(&upper)
                    .map(|r| r.display().to_string())
                    .unwrap_or_default();
                let Ok(meta) = std::fs::symlink_metadata(&p) else {
                    continue;
                };
                // Empty mount points the runtime made for berth's own files
                // (Docker's init layer) are not changes of the container.
                let mount_point = matches!(
                    rel.as_str(),
                    "etc/hostname" | "etc/hosts" | "etc/resolv.conf"
                );
                if mount_point && meta.is_file() && meta.len() == 0 && !in_image(&rel) {
                    continue;
                }
                let whiteout = meta.file_type().is_char_device() && meta.rdev() == 0;
                let kind = if whiteout {
                    2
                } else if in_image(&rel) {
                    0
                } else {
                    1
                };
                out.push(Change {
                    path: format!("/{rel}"),
                    kind,
                });
                if meta.is_dir() && !whiteout {
                    stack.push(p);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// `GET /containers/{id}/top`: the container's processes, as the host's
    /// `ps` shows them (`ps_args`, default `-ef`), limited to its cgroup.
    pub fn container_top(
        &self,
        name: &str,
        ps_args: Option<&str>,
    ) -> Result<(Vec<String>, Vec<Vec<String>>)> {
        let rec = self.resolve_container(name)?;
        if !rec.state.running {
            return Err(EngineError::conflict(format!(
                "container {} is not running",
                rec.id
            )));
        }
        let procs = [
            format!("/sys/fs/cgroup/pids/berth/{}/cgroup.procs", rec.id),
            format!("/sys/fs/cgroup/memory/berth/{}/cgroup.procs", rec.id),
            format!("/sys/fs/cgroup/berth/{}/cgroup.procs", rec.id),
        ];
        let pids: Vec<String> = procs
            .iter()
            .find_map(|p| std::fs::read_to_string(p).ok())
            .map(|s| {
                s.lines()
                    .map(|l| l.trim().to_string())
                    .filter(|l| !l.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let args: Vec<String> = ps_args
            .filter(|a| !a.is_empty())
            .unwrap_or("-ef")
            .split_whitespace()
            .map(String::from)
            .collect();
        let out = std::process::Command::new("ps")
            .args(&args)
            .output()
            .map_err(|e| EngineError::internal(format!("running ps: {e}")))?;
        if !out.status.success() {
            return Err(EngineError::internal(format!(
                "ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let header = lines.next().unwrap_or("");
        let titles: Vec<String> = header.split_whitespace().map(String::from).collect();
        let pid_col = titles
            .iter()
            .position(|t| t == "PID")
            .ok_or_else(|| EngineError::invalid("Couldn't find PID field in ps output"))?;
        let mut rows = Vec::new();
        for l in lines {
            let fields: Vec<&str> = l.split_whitespace().collect();
            if fields
                .get(pid_col)
                .is_some_and(|p| pids.iter().any(|x| x == p))
            {
                // The last title takes the rest of the line (the command).
                let mut row: Vec<String> = fields
                    .iter()
                    .take(titles.len() - 1)
                    .map(|s| s.to_string())
                    .collect();
                row.push(
                    fields
                        .get(titles.len() - 1..)
                        .map(|r| r.join(" "))
                        .unwrap_or_default(),
                );
                rows.push(row);
            }
        }
        Ok((titles, rows))
    }
}

impl Engine {
    /// `POST /containers/{id}/update`: changes resource limits (live for a
    /// running container, through its cgroup) and the restart policy.
    pub fn update_container(self: &Arc<Self>, name: &str, body: &Value) -> Result<Vec<String>> {
        let mut rec = self.resolve_container(name)?;
        let Value::Object(changes) = body else {
            return Err(EngineError::invalid(
                "invalid JSON: the body must be an object",
            ));
        };
        const FIELDS: &[&str] = &[
            "Memory",
            "MemorySwap",
            "MemoryReservation",
            "NanoCpus",
            "CpuShares",
            "CpuPeriod",
            "CpuQuota",
            "CpusetCpus",
            "CpusetMems",
            "PidsLimit",
            "BlkioWeight",
            "RestartPolicy",
            "KernelMemory",
            "CpuRealtimePeriod",
            "CpuRealtimeRuntime",
            "OomKillDisable",
        ];
        let mut hc = rec.host_config.clone();
        for (k, v) in changes {
            let zero = v.is_null() || v.as_i64() == Some(0) || v.as_str() == Some("");
            if !FIELDS.contains(&k.as_str()) || (zero && k != "PidsLimit") {
                continue;
            }
            hc[k] = v.clone();
        }
        if hc["NanoCpus"].as_i64().unwrap_or(0) != 0 && changes.contains_key("NanoCpus") {
            hc["CpuQuota"] = json!(0);
            hc["CpuPeriod"] = json!(0);
        }
        if hc["Memory"].as_i64().unwrap_or(0) > 0
            && changes.contains_key("Memory")
            && !changes.contains_key("MemorySwap")
            && hc["MemorySwap"].as_i64().unwrap_or(0) > 0
            && hc["MemorySwap"].as_i64() < hc["Memory"].as_i64()
        {
            return Err(EngineError::invalid(
                "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time",
            ));
        }
        super::spec::validate_host_config(&mut hc)?;
        if rec.state.running {
            self.apply_limits(&rec.id, &hc)?;
        }
        rec.host_config = hc;
        self.set_state(&rec)?;
        self.container_event(&rec, "update", BTreeMap::new());
        Ok(Vec::new())
    }

    /// Writes limits into a running container's cgroup (v1 or v2 files).
    fn apply_limits(&self, id: &str, hc: &Value) -> Result<()> {
        let mut r = super::spec::resources(hc)?;
        // Here 0 or -1 means "lift the limit", not "leave it".
        r.pids_limit = hc["PidsLimit"].as_i64();
        berth_runtime::cgroups::update(&berth_runtime::cgroups::container_path(id), &r)
            .map_err(|e| EngineError::internal(format!("updating container {id}: {e}")))
    }
}

/// Whether the shim of a container recorded as running still answers. A
/// shim busy under load may miss a first connection; while the container's
/// init still lives, it is given a few more tries (2 s at most) before the
/// container is taken for dead.
fn shim_reachable(bundle: &std::path::Path, pid: i64) -> bool {
    let sock = shim::socket_path(bundle);
    for _ in 0..20 {
        if std::os::unix::net::UnixStream::connect(&sock).is_ok() {
            return true;
        }
        let init_alive = pid > 0 && std::path::Path::new(&format!("/proc/{pid}")).exists();
        if !init_alive || shim::read_exit(bundle).is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}
