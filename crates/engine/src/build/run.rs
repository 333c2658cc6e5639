//! `RUN`: a container from the stage's current image with the step's
//! environment, user, working directory, shell and network, its output
//! streamed into the build's messages (stderr in red, as the classic
//! builder shows it), run to completion; its changes become the step's
//! layer, and the container goes — also when the command fails, so no
//! container or mount is left behind. `--mount=type=cache|bind|tmpfs` are
//! bind mounts of persistent cache directories, of the context or another
//! stage, and tmpfs mounts.

use std::fs;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use berth_dockerfile::exec_form::run_plan;
use berth_dockerfile::instructions::{NetworkMode, Run, Security};
use berth_dockerfile::mount::MountType;
use berth_dockerfile::StageRef;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use super::view::Scratch;
use super::{cache, fsutil, Build, State};
use crate::containers::lifecycle::WaitCondition;
use crate::containers::CreateOptions;
use crate::error::{EngineError, Result};
use crate::images::short;
use crate::Engine;

/// Removes the build container (and what its mounts needed) on drop.
struct ContainerGuard<'a> {
    engine: &'a Arc<Engine>,
    id: Option<String>,
    _views: Vec<Scratch>,
    temps: Vec<PathBuf>,
}

impl Drop for ContainerGuard<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            if let Err(e) = self.engine.remove_container(&id, true, true) {
                tracing::warn!("removing build container {id}: {e}");
            }
        }
        for t in &self.temps {
            let _ = berth_snapshot::remove_tree(t);
        }
    }
}

impl Build<'_> {
    pub(super) fn run_step(&self, idx: usize, st: &mut State, r: &Run) -> Result<()> {
        if r.security == Security::Insecure {
            return Err(EngineError::forbidden(
                "RUN --security=insecure is not allowed by this daemon",
            ));
        }
        if !r.devices.is_empty() {
            return Err(EngineError::invalid(
                "RUN --device is not supported by this builder",
            ));
        }
        let plan = run_plan(&st.cmd.shell, &r.cmd).map_err(EngineError::invalid)?;
        let history = st.scope.run_history(&plan.argv);
        let mounts = r.mounts().map_err(EngineError::invalid)?;
        let key = cache::cache_key(&[
            json!(st.image_id),
            json!("RUN"),
            json!(history),
            json!(r.mount_specs),
            json!(self.bind_inputs(idx, &mounts)?),
            json!(plan.script.as_ref().map(|s| (&s.path, &s.data))),
            Value::Object(st.run.clone()),
        ]);
        if self.probe(idx, st, &key)? {
            return Ok(());
        }
        self.ensure_image(st)?;
        let engine = self.engine;
        let mut guard = ContainerGuard {
            engine,
            id: None,
            _views: Vec::new(),
            temps: Vec::new(),
        };
        let workdir = st.workdir();
        let mut binds: Vec<String> = Vec::new();
        let mut tmpfs = serde_json::Map::new();
        for m in &mounts {
            let target = m
                .absolute_target(if workdir.is_empty() { "/" } else { &workdir })
                .map_err(EngineError::invalid)?;
            match m.mount_type {
                MountType::Tmpfs => {
                    let mut o = String::from("exec");
                    if m.size_limit > 0 {
                        o.push_str(&format!(",size={}", m.size_limit));
                    }
                    tmpfs.insert(target, json!(o));
                }
                MountType::Cache => {
                    let id = m.cache_key();
                    let dir = engine
                        .config
                        .data_root
                        .join("build")
                        .join("cache-mounts")
                        .join(hex::encode(Sha256::digest(id.as_bytes())));
                    if !dir.exists() {
                        fs::create_dir_all(&dir).map_err(|e| {
                            EngineError::internal(format!("creating cache mount {id}: {e}"))
                        })?;
                        use std::os::unix::fs::PermissionsExt;
                        let _ = fs::set_permissions(
                            &dir,
                            fs::Permissions::from_mode(m.mode.unwrap_or(0o755)),
                        );
                        let _ = std::os::unix::fs::lchown(
                            &dir,
                            Some(m.uid.unwrap_or(0)),
                            Some(m.gid.unwrap_or(0)),
                        );
                    }
                    binds.push(format!("{}:{target}:rw", dir.display()));
                }
                MountType::Bind => {
                    let (root, from_context) = if m.from.is_empty() {
                        (self.ctx.root().to_path_buf(), true)
                    } else {
                        let layers: Vec<String> =
                            self.mount_source(idx, &m.from)?.unwrap_or_default();
                        let v = engine.mount_scratch(&layers)?;
                        let root = v.root();
                        guard._views.push(v);
                        (root, false)
                    };
                    let src = if from_context {
                        berth_dockerfile::copy_rules::clean_context_path(&m.source)
                            .map_err(EngineError::invalid)?
                    } else {
                        berth_dockerfile::copy_rules::scoped_context_path(&m.source)
                    };
                    let resolved = fsutil::resolve_in_root(&root, &src)
                        .map_err(|e| EngineError::invalid(format!("mount source {src}: {e}")))?
                        .filter(|r| !(from_context && self.ctx.excluded(r)))
                        .ok_or_else(|| {
                            EngineError::invalid(format!(
                                "failed to compute cache key: \"/{src}\": not found"
                            ))
                        })?;
                    let mut host = root.join(&resolved);
                    if !m.read_only {
                        // Writes to a read-write bind mount are thrown away:
                        // it gets a copy.
                        let tmp = engine.build_tmp().join(format!(
                            "bind-{}-{}",
                            std::process::id(),
                            super::view::rand_hex()?
                        ));
                        fs::create_dir_all(&tmp).map_err(|e| {
                            EngineError::internal(format!("creating {}: {e}", tmp.display()))
                        })?;
                        guard.temps.push(tmp.clone());
                        let dst = tmp.join("src");
                        fsutil::copy_tree(&host, &dst, &fsutil::CopyAttrs::default(), &|_, _| {
                            false
                        })
                        .map_err(|e| EngineError::internal(format!("copying {src}: {e}")))?;
                        host = dst;
                    }
                    binds.push(format!(
                        "{}:{target}:{}",
                        host.display(),
                        if m.read_only { "ro" } else { "rw" }
                    ));
                }
                MountType::Secret | MountType::Ssh => {
                    if m.required {
                        return Err(EngineError::invalid(format!(
                            "RUN --mount=type={} is not supported by this builder (no build session)",
                            m.mount_type.as_str()
                        )));
                    }
                }
            }
        }
        if let Some(script) = &plan.script {
            let tmp = engine.build_tmp().join(format!(
                "script-{}-{}",
                std::process::id(),
                super::view::rand_hex()?
            ));
            fs::create_dir_all(&tmp)
                .map_err(|e| EngineError::internal(format!("creating {}: {e}", tmp.display())))?;
            guard.temps.push(tmp.clone());
            let f = tmp.join("script");
            fs::write(&f, &script.data)
                .map_err(|e| EngineError::internal(format!("writing the heredoc script: {e}")))?;
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(&f, fs::Permissions::from_mode(0o755));
            binds.push(format!("{}:{}:ro", f.display(), script.path));
        }
        let network = match r.network {
            NetworkMode::None => "none".to_string(),
            NetworkMode::Host => "host".to_string(),
            NetworkMode::Default => match self.opts.network_mode.as_str() {
                "" | "default" => "bridge".to_string(),
                m => m.to_string(),
            },
        };
        let env = st.scope.run_env(&self.args);
        let body = json!({
            "Image": st.image_id,
            "Cmd": plan.argv,
            "Entrypoint": [""],
            "Env": env,
            "User": st.run.get("User").cloned().unwrap_or(json!("")),
            "WorkingDir": workdir,
            "Healthcheck": {"Test": ["NONE"]},
            "Labels": {},
            "AttachStdout": true,
            "AttachStderr": true,
            "HostConfig": {
                "NetworkMode": network,
                "Binds": binds,
                "Tmpfs": tmpfs,
                "ExtraHosts": self.opts.extra_hosts,
                "LogConfig": {"Type": "json-file", "Config": {}},
            },
        });
        let (id, warnings) = engine.create_container(&body, &CreateOptions::default())?;
        guard.id = Some(id.clone());
        for w in warnings {
            self.say(idx, format!(" ---> [Warning] {w}\n"));
        }
        self.say(idx, format!(" ---> Running in {}\n", short(&id)));
        let code = self.run_container(idx, &id)?;
        if code != 0 {
            return Err(EngineError::invalid(format!(
                "The command '{}' returned a non-zero code: {code}",
                history
            ))
            .with_exit_code(code));
        }
        let upper = engine.container_dirs(&id).upper;
        prune_copy_ups(engine, &st.config.rootfs.diff_ids, &upper);
        let layer = engine.stage_dir_layer(&upper, false)?;
        drop(guard);
        self.say(
            idx,
            format!("Removing intermediate container {}\n", short(&id)),
        );
        self.commit(st, layer, &history, &key, &format!("RUN {history}"))
    }

    /// The layers of a `RUN --mount=from=` source (a stage or an image).
    /// What the step's bind mounts read, for its cache key: the content of
    /// a context path (as COPY hashes it), or the layers of the stage or
    /// image mounted. A changed file or a rebuilt stage is a cache miss.
    fn bind_inputs(
        &self,
        idx: usize,
        mounts: &[berth_dockerfile::mount::Mount],
    ) -> Result<Vec<Value>> {
        let mut inputs = Vec::new();
        for m in mounts
            .iter()
            .filter(|m| matches!(m.mount_type, MountType::Bind))
        {
            if !m.from.is_empty() {
                inputs.push(json!(self.mount_source(idx, &m.from)?));
                continue;
            }
            let src = berth_dockerfile::copy_rules::clean_context_path(&m.source)
                .map_err(EngineError::invalid)?;
            let root = self.ctx.root();
            let resolved = fsutil::resolve_in_root(root, &src)
                .map_err(|e| EngineError::invalid(format!("mount source {src}: {e}")))?
                .filter(|r| !self.ctx.excluded(r));
            // A missing source is reported when the mount is made.
            let Some(rel) = resolved else {
                inputs.push(Value::Null);
                continue;
            };
            let skip = self.ctx.skipper(rel.clone());
            let hash = super::copy::tree_hash(&root.join(&rel), &skip)
                .map_err(|e| EngineError::internal(format!("hashing mount source {src}: {e}")))?;
            inputs.push(json!(hash));
        }
        Ok(inputs)
    }

    fn mount_source(&self, idx: usize, from: &str) -> Result<Option<Vec<String>>> {
        let target = self.graph.nodes[idx]
            .deps
            .iter()
            .find(|d| d.reference == from)
            .map(|d| d.target.clone())
            .unwrap_or_else(|| StageRef::Image(from.to_string()));
        match target {
            StageRef::Stage(i) => Ok(Some(self.stage_result(i)?.config.rootfs.diff_ids)),
            StageRef::Image(n) if n == "scratch" => Ok(None),
            StageRef::Image(n) => Ok(Some(self.base_image(&n)?.layers)),
        }
    }

    /// Starts the container with its output attached, streams the output
    /// and returns the exit code.
    fn run_container(&self, idx: usize, id: &str) -> Result<i64> {
        let engine = self.engine;
        let guard = engine.attach_guard(id);
        let e2 = engine.clone();
        let id2 = id.to_string();
        let attach = engine
            .rt
            .spawn(async move { e2.attach_stream(&id2, false, true, true, guard).await });
        let started = engine.start_container(id);
        let stream = engine
            .rt
            .block_on(attach)
            .map_err(|e| EngineError::internal(format!("attaching to the build container: {e}")));
        started?;
        let stream = stream??;
        let mut s = stream
            .into_std()
            .map_err(|e| EngineError::internal(format!("attaching to the build container: {e}")))?;
        let _ = s.set_nonblocking(false);
        let mut header = [0u8; 8];
        loop {
            if s.read_exact(&mut header).is_err() {
                break;
            }
            let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
            let mut buf = vec![0u8; len];
            if s.read_exact(&mut buf).is_err() {
                break;
            }
            let text = String::from_utf8_lossy(&buf).into_owned();
            if header[0] == 2 {
                self.say(idx, format!("\u{1b}[91m{text}\u{1b}[0m"));
            } else {
                self.say(idx, text);
            }
        }
        let e3 = engine.clone();
        let id3 = id.to_string();
        engine
            .rt
            .block_on(async move { e3.wait_container(&id3, WaitCondition::NotRunning).await })
    }
}

/// Drops what running the container copied up without changing it: the
/// `/etc` directory that only holds the empty mount points of
/// `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`.
fn prune_copy_ups(engine: &Engine, layers: &[String], upper: &std::path::Path) {
    use std::os::unix::fs::MetadataExt;
    let etc = upper.join("etc");
    let Ok(meta) = fs::symlink_metadata(&etc) else {
        return;
    };
    if !meta.is_dir() {
        return;
    }
    for f in ["hostname", "hosts", "resolv.conf"] {
        let p = etc.join(f);
        if fs::symlink_metadata(&p).is_ok_and(|m| m.is_file() && m.len() == 0) {
            let _ = fs::remove_file(&p);
        }
    }
    let empty = fs::read_dir(&etc)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false);
    let opaque = rustix::fs::lgetxattr(&etc, "trusted.overlay.opaque", &mut [0u8; 4])
        .map(|n| n >= 1)
        .unwrap_or(false);
    if !empty || opaque {
        return;
    }
    let lower = layers
        .iter()
        .rev()
        .map(|l| engine.layers.diff_dir(l).join("etc"))
        .find_map(|p| fs::symlink_metadata(&p).ok());
    let same = match lower {
        Some(l) => {
            l.is_dir() && l.mode() == meta.mode() && l.uid() == meta.uid() && l.gid() == meta.gid()
        }
        None => false,
    };
    if same {
        let _ = fs::remove_dir(&etc);
    }
}
