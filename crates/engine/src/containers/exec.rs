//! `docker exec`: exec instances (created, started, inspected, resized),
//! each run by a `berth shim-exec` process that joins the container with its
//! whole security setup (see `berth_runtime::exec`). Like Docker's, exec
//! instances live in the daemon's memory only.

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::Stdio;
use std::sync::Arc;

use berth_runtime::exec::{Control, ExecSpec};
use serde_json::{json, Value};

use super::spec::{group_ids, passwd_lookup, process_env, with_home};
use super::{strings, ContainerRecord};
use crate::error::{EngineError, Result};
use crate::Engine;

/// One exec instance.
#[derive(Debug, Clone)]
pub struct ExecRecord {
    /// 64 hex characters.
    pub id: String,
    /// The container it runs in.
    pub container_id: String,
    /// Docker's ExecConfig as created.
    pub config: Value,
    /// Started once (an exec runs only once).
    pub started: bool,
    /// Running now.
    pub running: bool,
    /// Exit code once ended.
    pub exit_code: Option<i64>,
    /// Host PID while running.
    pub pid: i64,
    /// The terminal's master, with a TTY (for resizes).
    pub master: Option<Arc<OwnedFd>>,
    /// Carries the exit code once the process has ended.
    pub exited: Arc<tokio::sync::watch::Sender<Option<i64>>>,
}

/// A `berth shim-exec` whose program runs.
pub(crate) struct Launched {
    child: std::process::Child,
    ctl: Control,
    pid: i64,
    master: Option<OwnedFd>,
}

/// What a started exec hands to the API: its stdio.
pub enum ExecIo {
    /// The pseudo-terminal's master: one raw stream both ways.
    Tty(OwnedFd),
    /// Pipes: the process's stdin (write end) and outputs (read ends), for
    /// the streams that were asked to attach.
    Pipes {
        /// Write end of stdin.
        stdin: Option<OwnedFd>,
        /// Read end of stdout.
        stdout: Option<OwnedFd>,
        /// Read end of stderr.
        stderr: Option<OwnedFd>,
    },
    /// Started detached: nothing to stream.
    Detached,
}

fn null() -> Result<Stdio> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map(Stdio::from)
        .map_err(|e| EngineError::internal(format!("opening /dev/null: {e}")))
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| EngineError::internal(format!("creating a pipe: {e}")))
}

fn cmd_line(cfg: &Value) -> String {
    strings(cfg.get("Cmd")).join(" ")
}

impl Engine {
    fn running_for_exec(&self, name: &str) -> Result<ContainerRecord> {
        let rec = self.resolve_container(name)?;
        if rec.state.paused {
            return Err(EngineError::conflict(format!(
                "Container {} is paused, unpause the container before exec",
                rec.id
            )));
        }
        if rec.state.restarting {
            return Err(EngineError::conflict(format!(
                "Container {} is restarting, wait until the container is running",
                rec.id
            )));
        }
        if !rec.state.running {
            return Err(EngineError::conflict(format!(
                "Container {} is not running",
                rec.id
            )));
        }
        Ok(rec)
    }

    fn exec_event(
        &self,
        rec: &ContainerRecord,
        action: &str,
        exec_id: &str,
        extra: &[(&str, String)],
    ) {
        let mut a: BTreeMap<String, String> =
            crate::events::attrs([("execID", exec_id.to_string())]);
        for (k, v) in extra {
            a.insert((*k).to_string(), v.clone());
        }
        self.container_event(rec, action, a);
    }

    /// `POST /containers/{id}/exec`: records an exec instance; returns its ID.
    pub fn create_exec(&self, name: &str, mut cfg: Value) -> Result<String> {
        let rec = self.running_for_exec(name)?;
        if strings(cfg.get("Cmd")).is_empty() {
            return Err(EngineError::invalid("No exec command specified"));
        }
        if let Some(keys) = cfg["DetachKeys"].as_str().filter(|k| !k.is_empty()) {
            crate::detach::parse_keys(keys)?;
        }
        if !cfg.is_object() {
            cfg = json!({});
        }
        let id = super::new_id()?;
        let exec = ExecRecord {
            id: id.clone(),
            container_id: rec.id.clone(),
            config: cfg.clone(),
            started: false,
            running: false,
            exit_code: None,
            pid: 0,
            master: None,
            exited: Arc::new(tokio::sync::watch::channel(None).0),
        };
        self.execs
            .lock()
            .map_err(|_| EngineError::internal("exec table poisoned"))?
            .insert(id.clone(), exec);
        self.exec_event(&rec, &format!("exec_create: {}", cmd_line(&cfg)), &id, &[]);
        Ok(id)
    }

    fn exec_record(&self, id: &str) -> Result<ExecRecord> {
        self.execs
            .lock()
            .map_err(|_| EngineError::internal("exec table poisoned"))?
            .get(id)
            .cloned()
            .ok_or_else(|| EngineError::not_found(format!("No such exec instance: {id}")))
    }

    fn update_exec(&self, id: &str, f: impl FnOnce(&mut ExecRecord)) {
        if let Ok(mut m) = self.execs.lock() {
            if let Some(e) = m.get_mut(id) {
                f(e);
            }
        }
    }

    /// `GET /exec/{id}/json`.
    pub fn inspect_exec(&self, id: &str) -> Result<Value> {
        let e = self.exec_record(id)?;
        let c = &e.config;
        let cmd = strings(c.get("Cmd"));
        Ok(json!({
            "ID": e.id,
            "Running": e.running,
            "ExitCode": e.exit_code,
            "ProcessConfig": {
                "tty": c["Tty"].as_bool().unwrap_or(false),
                "entrypoint": cmd.first().cloned().unwrap_or_default(),
                "arguments": cmd.iter().skip(1).cloned().collect::<Vec<_>>(),
                "privileged": c["Privileged"].as_bool().unwrap_or(false),
                "user": c["User"].as_str().unwrap_or(""),
            },
            "OpenStdin": c["AttachStdin"].as_bool().unwrap_or(false),
            "OpenStderr": c["AttachStderr"].as_bool().unwrap_or(false),
            "OpenStdout": c["AttachStdout"].as_bool().unwrap_or(false),
            "CanRemove": false,
            "ContainerID": e.container_id,
            "DetachKeys": c["DetachKeys"].as_str().unwrap_or(""),
            "Pid": e.pid,
        }))
    }

    /// The detach keys an exec was created with (empty for the default).
    pub fn exec_detach_keys(&self, id: &str) -> Result<String> {
        Ok(self.exec_record(id)?.config["DetachKeys"]
            .as_str()
            .unwrap_or("")
            .to_string())
    }

    /// Whether the exec runs with a TTY.
    pub fn exec_tty(&self, id: &str) -> Result<bool> {
        Ok(self.exec_record(id)?.config["Tty"].as_bool() == Some(true))
    }

    /// The process description `berth shim-exec` runs, from the container's
    /// own OCI spec with the exec's command, environment, user and TTY.
    fn exec_spec(&self, rec: &ContainerRecord, cfg: &Value) -> Result<ExecSpec> {
        let bundle = self.bundle_dir(&rec.id);
        let spec: Value = std::fs::read(bundle.join("config.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| {
                EngineError::internal(format!(
                    "container {} has no runtime configuration: restart it",
                    rec.id
                ))
            })?;
        let mut process = spec["process"].clone();
        process["args"] = json!(strings(cfg.get("Cmd")));
        process["terminal"] = json!(cfg["Tty"].as_bool() == Some(true));
        if let Some(w) = cfg["WorkingDir"].as_str().filter(|w| !w.is_empty()) {
            process["cwd"] = json!(w);
        }
        // HOME as the container's process got it, or the exec user's.
        let mut home = strings(spec["process"].get("env"))
            .iter()
            .find_map(|e| e.strip_prefix("HOME=").map(str::to_string))
            .unwrap_or_else(|| "/".into());
        if let Some(u) = cfg["User"].as_str().filter(|u| !u.is_empty()) {
            let rootfs = self.container_dirs(&rec.id).merged;
            let user = passwd_lookup(&rootfs, u)?;
            let mut extra = user.groups;
            for g in group_ids(&rootfs, &strings(rec.host_config.get("GroupAdd")))? {
                if !extra.contains(&g) {
                    extra.push(g);
                }
            }
            process["user"] = json!({"uid": user.uid, "gid": user.gid, "additionalGids": extra});
            home = user.home;
        }
        process["env"] = json!(with_home(
            process_env(
                &rec.config,
                &rec.id,
                &super::spec::link_env(rec),
                &strings(cfg.get("Env")),
            ),
            &home
        ));
        if cfg["Privileged"].as_bool() == Some(true) {
            let all = super::spec::host_capabilities();
            process["capabilities"] = json!({
                "bounding": all, "effective": all, "permitted": all,
                "inheritable": all, "ambient": all,
            });
        }
        if let Some(o) = process.as_object_mut() {
            // Limits and the OOM score are the container's already.
            o.remove("rlimits");
            o.remove("oomScoreAdj");
            o.remove("consoleSize");
        }
        let filter = berth_runtime::filter::path(&bundle);
        let v = json!({
            "pid": rec.state.pid,
            "process": process,
            "seccomp": spec["linux"]["seccomp"],
            "filter": filter.exists().then_some(filter),
        });
        serde_json::from_value(v)
            .map_err(|e| EngineError::internal(format!("building the exec process: {e}")))
    }

    /// `POST /exec/{id}/start`: runs the exec's process; returns its stdio.
    /// Blocking (spawns `berth shim-exec` and waits until the program runs).
    pub fn start_exec(
        self: &Arc<Self>,
        id: &str,
        detach: bool,
        console: Option<(u16, u16)>,
    ) -> Result<ExecIo> {
        let exec = self.exec_record(id)?;
        if exec.started {
            return Err(EngineError::conflict(format!(
                "Error: Exec command {id} has already run"
            )));
        }
        self.update_exec(id, |e| e.started = true);
        let result = self.run_exec(id, exec, detach, console);
        if let Err(e) = &result {
            // 127 for a missing program, 126 for anything else, as Docker.
            let code = e.exit_code.unwrap_or(126);
            self.update_exec(id, |x| {
                x.exit_code = Some(code);
                x.exited.send_replace(Some(code));
            });
        }
        result
    }

    fn run_exec(
        self: &Arc<Self>,
        id: &str,
        exec: ExecRecord,
        detach: bool,
        console: Option<(u16, u16)>,
    ) -> Result<ExecIo> {
        let rec = self.running_for_exec(&exec.container_id)?;
        let cfg = exec.config.clone();
        let tty = cfg["Tty"].as_bool() == Some(true);
        let spec = self.exec_spec(&rec, &cfg)?;
        let want = |k: &str| !detach && cfg[k].as_bool() == Some(true);
        let (mut in_w, mut out_r, mut err_r) = (None, None, None);
        let (stdin, stdout, stderr) = if tty {
            (null()?, null()?, null()?)
        } else {
            let stdin = if want("AttachStdin") {
                let (r, w) = pipe()?;
                in_w = Some(w);
                Stdio::from(r)
            } else {
                null()?
            };
            let stdout = if want("AttachStdout") {
                let (r, w) = pipe()?;
                out_r = Some(r);
                Stdio::from(w)
            } else {
                null()?
            };
            let stderr = if want("AttachStderr") {
                let (r, w) = pipe()?;
                err_r = Some(r);
                Stdio::from(w)
            } else {
                null()?
            };
            (stdin, stdout, stderr)
        };
        let Launched {
            mut child,
            mut ctl,
            pid,
            master,
        } = self.launch_exec(&spec, stdin, stdout, stderr)?;
        let master = master.map(Arc::new);
        if let (Some(m), Some((h, w))) = (master.as_ref(), console) {
            let _ = berth_runtime::exec::resize_terminal(m.as_raw_fd(), h, w);
        }
        self.update_exec(id, |e| {
            e.running = true;
            e.pid = pid;
            e.master = master.clone();
        });
        self.exec_event(&rec, &format!("exec_start: {}", cmd_line(&cfg)), id, &[]);
        let engine = self.clone();
        let exec_id = id.to_string();
        std::thread::spawn(move || {
            let code = ctl
                .next_message()
                .and_then(|(m, _)| m["exit_code"].as_i64())
                .unwrap_or(255);
            let _ = child.wait();
            engine.update_exec(&exec_id, |e| {
                e.running = false;
                e.exit_code = Some(code);
                e.master = None;
                e.exited.send_replace(Some(code));
            });
            engine.exec_event(
                &rec,
                "exec_die",
                &exec_id,
                &[("exitCode", code.to_string())],
            );
        });
        if detach {
            return Ok(ExecIo::Detached);
        }
        if tty {
            let m = master
                .as_ref()
                .ok_or_else(|| EngineError::internal("the exec's terminal did not arrive"))?;
            let dup = m
                .try_clone()
                .map_err(|e| EngineError::internal(format!("duplicating the terminal: {e}")))?;
            return Ok(ExecIo::Tty(dup));
        }
        Ok(ExecIo::Pipes {
            stdin: in_w.take(),
            stdout: out_r.take(),
            stderr: err_r.take(),
        })
    }

    /// Spawns `berth shim-exec` for `spec` with the given stdio and waits
    /// until the program runs (or could not start).
    pub(crate) fn launch_exec(
        &self,
        spec: &ExecSpec,
        stdin: Stdio,
        stdout: Stdio,
        stderr: Stdio,
    ) -> Result<Launched> {
        // v1 hierarchies are joined through the cheap per-thread `tasks`;
        // a v2 host's join waits for the grace period: give it a head start.
        if berth_runtime::cgroups::is_unified() {
            berth_runtime::cgroups::begin_migration_grace_period();
        }
        // The small berth-shim-exec unless the profile still needs libseccomp.
        let small = berth_runtime::shim::exec_program().filter(|_| spec.seccomp.is_none());
        let mut cmd = match small {
            Some(p) => std::process::Command::new(p),
            None => {
                let mut c = std::process::Command::new("/proc/self/exe");
                c.arg("shim-exec");
                c
            }
        };
        cmd.stdin(stdin).stdout(stdout).stderr(stderr);
        let (ours, theirs) = UnixStream::pair()
            .map_err(|e| EngineError::internal(format!("creating a socket pair: {e}")))?;
        let fd = theirs.as_raw_fd();
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                if fd == berth_runtime::exec::CONTROL_FD {
                    let flags = libc::fcntl(fd, libc::F_GETFD);
                    libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
                } else if libc::dup2(fd, berth_runtime::exec::CONTROL_FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| EngineError::internal(format!("starting berth shim-exec: {e}")))?;
        drop(theirs);
        drop(cmd);
        let mut ctl = Control::new(ours);
        let first = ctl.send(spec).ok().and_then(|_| ctl.next_message());
        let Some((msg, master)) = first else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(EngineError::internal(
                "berth shim-exec ended without a word: see the daemon log",
            ));
        };
        if let Some(err) = msg["error"].as_str() {
            let _ = child.wait();
            let code = msg["exit_code"].as_i64().unwrap_or(126);
            return Err(EngineError::invalid(err.to_string()).with_exit_code(code));
        }
        Ok(Launched {
            child,
            ctl,
            pid: msg["pid"].as_i64().unwrap_or(0),
            master,
        })
    }

    /// Runs a command in a running container and waits for it, keeping the
    /// first 4 KiB of its output (health checks). `-1` with the reason when
    /// it could not run or overran `timeout`.
    pub(crate) async fn run_captured(
        self: &Arc<Self>,
        id: &str,
        cmd: &[String],
        timeout: std::time::Duration,
    ) -> (i64, String) {
        let engine = self.clone();
        let id = id.to_string();
        let cfg = json!({"Cmd": cmd});
        let pid = Arc::new(std::sync::atomic::AtomicI64::new(0));
        let pid2 = pid.clone();
        let work = tokio::task::spawn_blocking(move || -> Result<(i64, String)> {
            let rec = engine.running_for_exec(&id)?;
            let spec = engine.exec_spec(&rec, &cfg)?;
            let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
                .map_err(|e| EngineError::internal(format!("creating a pipe: {e}")))?;
            let w2 = w
                .try_clone()
                .map_err(|e| EngineError::internal(format!("duplicating a pipe: {e}")))?;
            let null = std::fs::File::open("/dev/null")
                .map_err(|e| EngineError::internal(format!("opening /dev/null: {e}")))?;
            let mut l = engine.launch_exec(&spec, null.into(), w.into(), w2.into())?;
            pid2.store(l.pid, std::sync::atomic::Ordering::SeqCst);
            let mut out = Vec::new();
            let mut r = std::fs::File::from(r);
            let _ = std::io::Read::read_to_end(&mut std::io::Read::take(&mut r, 4096), &mut out);
            let _ = std::io::copy(&mut r, &mut std::io::sink());
            let code = l
                .ctl
                .next_message()
                .and_then(|(m, _)| m["exit_code"].as_i64())
                .unwrap_or(-1);
            let _ = l.child.wait();
            Ok((code, String::from_utf8_lossy(&out).into_owned()))
        });
        match tokio::time::timeout(timeout, work).await {
            Ok(Ok(Ok(r))) => r,
            Ok(Ok(Err(e))) => (-1, e.message),
            Ok(Err(e)) => (-1, format!("the health check could not run: {e}")),
            Err(_) => {
                let p = pid.load(std::sync::atomic::Ordering::SeqCst);
                if p > 0 {
                    let _ = rustix::process::kill_process(
                        rustix::process::Pid::from_raw(p as i32)
                            .unwrap_or(rustix::process::Pid::INIT),
                        rustix::process::Signal::KILL,
                    );
                }
                (
                    -1,
                    format!("Health check exceeded timeout ({}s)", timeout.as_secs_f64()),
                )
            }
        }
    }

    /// Resolves when the exec has ended (its exit code is recorded), so a
    /// client that inspects it right after its stream closes sees the code.
    pub async fn exec_ended(&self, id: &str) {
        let Ok(e) = self.exec_record(id) else { return };
        let mut rx = e.exited.subscribe();
        let _ = rx.wait_for(|c| c.is_some()).await;
    }

    /// A client left an exec's session with the detach keys: the
    /// `exec_detach` event, as Docker logs it (the process runs on).
    pub fn exec_detached(&self, id: &str) {
        let Ok(e) = self.exec_record(id) else { return };
        if let Ok(rec) = self.resolve_container(&e.container_id) {
            self.exec_event(&rec, "exec_detach", id, &[]);
        }
    }

    /// `POST /exec/{id}/resize`.
    pub fn resize_exec(&self, id: &str, height: u16, width: u16) -> Result<()> {
        let e = self.exec_record(id)?;
        if let Some(m) = e.master {
            berth_runtime::exec::resize_terminal(m.as_raw_fd(), height, width).map_err(|err| {
                EngineError::internal(format!("resizing the terminal of exec {id}: {err}"))
            })?;
        }
        Ok(())
    }

    /// `POST /containers/{id}/resize`: a TTY container's window size.
    pub fn resize_container(&self, name: &str, height: u16, width: u16) -> Result<()> {
        let rec = self.resolve_container(name)?;
        if !rec.state.running {
            return Err(EngineError::conflict(format!(
                "Container {} is not running",
                rec.id
            )));
        }
        let conn = berth_runtime::shim::connect(
            &self.bundle_dir(&rec.id),
            &json!({"op": "resize", "h": height, "w": width}),
        )
        .map_err(|e| EngineError::internal(format!("resizing container {}: {e}", rec.id)))?;
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(conn), &mut line);
        let reply: Value = serde_json::from_str(line.trim()).unwrap_or(Value::Null);
        if let Some(err) = reply["error"].as_str() {
            return Err(EngineError::internal(format!(
                "resizing container {}: {err}",
                rec.id
            )));
        }
        self.container_event(
            &rec,
            "resize",
            crate::events::attrs([("height", height.to_string()), ("width", width.to_string())]),
        );
        Ok(())
    }

    /// Forgets the exec instances of a container (at its removal).
    pub(crate) fn forget_execs(&self, container_id: &str) {
        if let Ok(mut m) = self.execs.lock() {
            m.retain(|_, e| e.container_id != container_id);
        }
    }
}
