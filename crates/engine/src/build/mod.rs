//! `docker build` (the classic builder's API, `POST /build`): a Dockerfile
//! and its context become an image, step by step, each step an image of
//! its own (the intermediate images `docker images -a` lists), reused from
//! the build cache when nothing it depends on changed.
//!
//! The parsing, expansion and scoping rules come from `berth-dockerfile`;
//! this module executes them: [`context`] reads the context, [`cache`]
//! keeps the step cache, `copy` does `COPY`/`ADD`, `run` runs `RUN` in a
//! container, `view` mounts scratch root file systems. Stages a target does
//! not need are skipped; stages that do not depend on each other run in
//! parallel, their output kept in the classic builder's order.

pub mod cache;
pub mod context;
mod copy;
mod fsutil;
mod run;
mod view;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use berth_content::image::{History, ImageConfig, RootFs};
use berth_dockerfile::args::{
    eval_meta_args, predefined_args, unused_build_args, unused_build_args_warning, BuildArgs,
    EnvList, Platform, StageScope,
};
use berth_dockerfile::exec_form::{default_shell, parse_expose, parse_signal, ImageCommand};
use berth_dockerfile::golang::quote_list;
use berth_dockerfile::instructions::{Instruction, InstructionKind, KeyValue};
use berth_dockerfile::shell_lex::Lex;
use berth_dockerfile::{Dockerfile, StageGraph, StageRef};
use serde_json::{json, Map, Value};

pub use context::ContextInput;

use crate::error::{EngineError, Result};
use crate::images::import::{check_platform, host_arch};
use crate::images::{now_rfc3339, short, target_reference, ImageRecord};
use crate::layers::StagedLayer;
use crate::Engine;

/// Options of a build (the query of `POST /build`).
#[derive(Debug, Default, Clone)]
pub struct BuildOptions {
    /// `-t` references.
    pub tags: Vec<String>,
    /// `-f`: the Dockerfile's path in the context (`Dockerfile` when empty).
    pub dockerfile: String,
    /// `--build-arg`: a `None` value names an argument whose variable was
    /// unset on the client (reported as unused when no ARG takes it).
    pub build_args: BTreeMap<String, Option<String>>,
    /// `--target`.
    pub target: Option<String>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--pull`: look for a newer base image (needs a registry).
    pub pull: bool,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
    /// `--network` for `RUN` (`default`/`bridge`, `none`, `host`, a
    /// network name).
    pub network_mode: String,
    /// `--platform` (only the host's own).
    pub platform: Option<String>,
    /// `--add-host`.
    pub extra_hosts: Vec<String>,
}

/// Where a build's messages go: Docker's JSON messages
/// (`{"stream":"Step 1/3 : FROM busybox\n"}`, `{"aux":{"ID":…}}`).
pub trait BuildOutput: Send + Sync {
    /// One message.
    fn message(&self, msg: Value);
}

/// Keeps the output of stages built in parallel in the order the classic
/// builder prints them: the stage whose turn it is streams, the others are
/// held back until it finishes.
struct Ordered<'a> {
    sink: &'a dyn BuildOutput,
    st: Mutex<OrderState>,
}

struct OrderState {
    order: Vec<usize>,
    pos: usize,
    held: HashMap<usize, Vec<Value>>,
    done: HashSet<usize>,
}

impl Ordered<'_> {
    fn emit(&self, stage: usize, msg: Value) {
        let Ok(mut st) = self.st.lock() else { return };
        if st.order.get(st.pos) == Some(&stage) {
            self.sink.message(msg);
        } else {
            st.held.entry(stage).or_default().push(msg);
        }
    }

    fn finish(&self, stage: usize) {
        let Ok(mut st) = self.st.lock() else { return };
        st.done.insert(stage);
        while let Some(cur) = st.order.get(st.pos).copied() {
            if !st.done.contains(&cur) {
                break;
            }
            st.pos += 1;
            if let Some(next) = st.order.get(st.pos).copied() {
                for m in st.held.remove(&next).unwrap_or_default() {
                    self.sink.message(m);
                }
            }
        }
    }

    /// Everything held back, in order (before an error is reported).
    fn flush_all(&self) {
        let Ok(mut st) = self.st.lock() else { return };
        let order = st.order.clone();
        for s in order.into_iter().skip(st.pos + 1) {
            for m in st.held.remove(&s).unwrap_or_default() {
                self.sink.message(m);
            }
        }
        st.pos = st.order.len();
    }
}

/// The result of a stage, for later stages (`FROM <stage>`, `COPY --from`).
#[derive(Clone)]
struct StageResult {
    image_id: String,
    config: ImageConfig,
    scope: StageScope,
}

/// A stage while it is built.
struct State {
    /// Current image (`""` before the first step of a `FROM scratch`).
    image_id: String,
    config: ImageConfig,
    run: Map<String, Value>,
    scope: StageScope,
    cmd: ImageCommand,
}

impl State {
    fn shell(&self) -> Vec<String> {
        if self.cmd.shell.is_empty() {
            default_shell()
        } else {
            self.cmd.shell.clone()
        }
    }

    fn workdir(&self) -> String {
        self.run
            .get("WorkingDir")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    }

    fn sync_command(&mut self) {
        let opt = |v: &Option<Vec<String>>| match v {
            Some(v) => json!(v),
            None => Value::Null,
        };
        self.run.insert("Cmd".into(), opt(&self.cmd.cmd));
        self.run
            .insert("Entrypoint".into(), opt(&self.cmd.entrypoint));
        if self.cmd.shell.is_empty() {
            self.run.remove("Shell");
        } else {
            self.run.insert("Shell".into(), json!(self.cmd.shell));
        }
    }
}

/// What every stage of one build shares.
struct Build<'a> {
    engine: &'a Arc<Engine>,
    opts: &'a BuildOptions,
    ctx: context::BuildContext,
    df: Dockerfile,
    graph: StageGraph,
    lex: Lex,
    globals: EnvList,
    args: BuildArgs,
    out: Ordered<'a>,
    total: usize,
    first_step: HashMap<usize, usize>,
    target: usize,
    results: Mutex<HashMap<usize, StageResult>>,
    failed: AtomicBool,
    declared: Mutex<HashSet<String>>,
}

/// A located build error: `Dockerfile:5: RUN false: message`.
fn located(file: &str, inst: &Instruction, e: EngineError) -> EngineError {
    let first = inst.original.lines().next().unwrap_or("").trim();
    EngineError {
        kind: e.kind,
        message: format!("{file}:{}: {first}: {}", inst.line, e.message),
        exit_code: e.exit_code,
    }
}

fn kv_text(kvs: &[KeyValue]) -> String {
    kvs.iter()
        .map(|kv| format!("{}={}", kv.key, kv.value))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Engine {
    /// `POST /build`: builds the Dockerfile of `input`, streaming the
    /// classic builder's messages to `out`; returns the image ID.
    pub fn build_image(
        self: &Arc<Self>,
        input: ContextInput<'_>,
        opts: &BuildOptions,
        out: &dyn BuildOutput,
    ) -> Result<String> {
        let tags = opts
            .tags
            .iter()
            .map(|t| target_reference(t, ""))
            .collect::<Result<Vec<_>>>()?;
        check_platform(opts.platform.as_deref())?;
        let ctx = context::BuildContext::open(input, &opts.dockerfile, &self.build_tmp())?;
        let file = ctx.dockerfile_name.clone();
        let df = berth_dockerfile::parse(&ctx.dockerfile)
            .map_err(|e| EngineError::invalid(e.to_string()))?;
        let mut args = BuildArgs::new();
        for (k, v) in &opts.build_args {
            if let Some(v) = v {
                args.insert(k, v);
            }
        }
        let host = Platform::host();
        let lex = Lex::new(df.escape_token);
        let target_name = opts.target.clone().unwrap_or_default();
        let predefined = predefined_args(&host, &host, &target_name, &args);
        let globals = eval_meta_args(&df.meta_args, predefined, &args, &lex)
            .map_err(|e| EngineError::invalid(e.located(&file)))?;
        let graph = df
            .graph(&globals)
            .map_err(|e| EngineError::invalid(e.located(&file)))?;
        let target = df
            .target_index(opts.target.as_deref())
            .map_err(|e| EngineError::invalid(e.located(&file)))?;
        let waves = graph
            .schedule(&df, target)
            .map_err(|e| EngineError::invalid(e.located(&file)))?;
        let needed = graph.stages_needed(target);
        for i in &needed {
            if let Some(p) = &graph.nodes[*i].platform {
                check_platform(Some(p)).map_err(|e| {
                    EngineError::invalid(format!("{file}:{}: {}", df.stages[*i].line, e.message))
                })?;
            }
        }
        let total = df.step_count(&needed) + opts.labels.len();
        let mut first_step = HashMap::new();
        let mut n = df.meta_args.len() + 1;
        for i in &needed {
            first_step.insert(*i, n);
            n += 1 + df.stages[*i].instructions.len();
        }
        let mut declared: HashSet<String> = HashSet::new();
        for m in &df.meta_args {
            if let InstructionKind::Arg(defs) = &m.kind {
                declared.extend(defs.iter().map(|d| d.key.clone()));
            }
        }
        for (i, m) in df.meta_args.iter().enumerate() {
            out.message(json!({"stream": format!("Step {}/{} : {}\n", i + 1, total, m.original)}));
        }
        let b = Build {
            engine: self,
            opts,
            ctx,
            graph,
            lex,
            globals,
            args,
            out: Ordered {
                sink: out,
                st: Mutex::new(OrderState {
                    order: needed.clone(),
                    pos: 0,
                    held: HashMap::new(),
                    done: HashSet::new(),
                }),
            },
            total,
            first_step,
            target,
            results: Mutex::new(HashMap::new()),
            failed: AtomicBool::new(false),
            declared: Mutex::new(declared),
            df,
        };
        for wave in &waves {
            let errors: Vec<(usize, EngineError)> = if wave.len() == 1 {
                match b.build_stage(wave[0]) {
                    Ok(()) => Vec::new(),
                    Err(e) => vec![(wave[0], e)],
                }
            } else {
                std::thread::scope(|s| {
                    let handles: Vec<_> = wave
                        .iter()
                        .map(|&i| {
                            let b = &b;
                            (i, s.spawn(move || b.build_stage(i)))
                        })
                        .collect();
                    handles
                        .into_iter()
                        .filter_map(|(i, h)| match h.join() {
                            Ok(Ok(())) => None,
                            Ok(Err(e)) => Some((i, e)),
                            Err(_) => Some((i, EngineError::internal("a build stage panicked"))),
                        })
                        .collect()
                })
            };
            if let Some((_, e)) = errors.into_iter().min_by_key(|(i, _)| *i) {
                b.out.flush_all();
                return Err(e);
            }
        }
        let result = b
            .results
            .lock()
            .ok()
            .and_then(|r| r.get(&target).cloned())
            .ok_or_else(|| EngineError::internal("the target stage left no result"))?;
        if result.image_id.is_empty() {
            return Err(EngineError::invalid(
                "No image was generated. Is your Dockerfile empty?",
            ));
        }
        if !tags.is_empty() {
            self.tag_built(&result.image_id, &tags)?;
        }
        let declared = b.declared.lock().map(|d| d.clone()).unwrap_or_default();
        let given = BuildArgs::from_map(
            opts.build_args
                .keys()
                .map(|k| (k.clone(), String::new()))
                .collect(),
        );
        let unused = unused_build_args(&given, declared.iter().map(String::as_str));
        if let Some(w) = unused_build_args_warning(&unused) {
            out.message(json!({"stream": format!("{w}\n")}));
        }
        out.message(json!({"stream": format!("Successfully built {}\n", short(&result.image_id))}));
        for t in &tags {
            out.message(
                json!({"stream": format!("Successfully tagged {}\n", t.familiar_string())}),
            );
        }
        Ok(result.image_id)
    }

    /// Points the build's tags at its image (no write when they already do).
    fn tag_built(&self, id: &str, tags: &[berth_reference::Reference]) -> Result<()> {
        let mut todo = Vec::new();
        for t in tags {
            let cur: Option<String> = self.store.get(crate::images::REFS, &t.to_string())?;
            if cur.as_deref() != Some(id) {
                todo.push(t.clone());
            }
        }
        if !todo.is_empty() {
            let _g = self.image_lock.lock();
            self.store.write(|tx| -> Result<()> {
                for t in &todo {
                    self.set_ref(tx, t, id)?;
                }
                Ok(())
            })?;
        }
        for t in tags {
            self.events.publish(
                "image",
                "tag",
                id,
                crate::events::attrs([("name", t.familiar_string())]),
            );
        }
        Ok(())
    }
}

impl Build<'_> {
    fn say(&self, stage: usize, text: impl Into<String>) {
        self.out.emit(stage, json!({"stream": text.into()}));
    }

    fn step_line(&self, stage: usize, n: usize, text: &str) {
        self.say(stage, format!("Step {n}/{} : {text}\n", self.total));
    }

    fn stage_result(&self, i: usize) -> Result<StageResult> {
        self.results
            .lock()
            .ok()
            .and_then(|r| r.get(&i).cloned())
            .ok_or_else(|| EngineError::internal(format!("stage {i} has not been built")))
    }

    fn build_stage(&self, idx: usize) -> Result<()> {
        let r = self.build_stage_inner(idx);
        if r.is_err() {
            self.failed.store(true, Ordering::SeqCst);
        }
        self.out.finish(idx);
        r
    }

    fn build_stage_inner(&self, idx: usize) -> Result<()> {
        let stage = &self.df.stages[idx];
        let node = &self.graph.nodes[idx];
        let file = &self.ctx.dockerfile_name;
        let mut step = self.first_step.get(&idx).copied().unwrap_or(1);
        self.step_line(idx, step, &stage.original);
        step += 1;
        let at_from = |e: EngineError| EngineError {
            message: format!("{file}:{}: {}: {}", stage.line, stage.original, e.message),
            ..e
        };
        let mut state = match &node.base {
            StageRef::Stage(b) => {
                let parent = self.stage_result(*b)?;
                let cfg = parent.config.clone();
                let run = cfg
                    .config
                    .as_ref()
                    .and_then(|c| c.as_object())
                    .cloned()
                    .unwrap_or_default();
                State {
                    image_id: parent.image_id.clone(),
                    cmd: command_of(&run),
                    run,
                    config: cfg,
                    scope: StageScope::from_stage(&parent.scope),
                }
            }
            StageRef::Image(name) if name == "scratch" => {
                let cfg = ImageConfig {
                    architecture: host_arch().into(),
                    os: "linux".into(),
                    rootfs: RootFs {
                        kind: "layers".into(),
                        diff_ids: Vec::new(),
                    },
                    ..Default::default()
                };
                let scope = StageScope::new::<&str>(&[]);
                let mut run = Map::new();
                run.insert("Env".into(), json!(scope.image_env().to_strings()));
                State {
                    image_id: String::new(),
                    cmd: command_of(&run),
                    run,
                    config: cfg,
                    scope,
                }
            }
            StageRef::Image(name) => {
                let rec = self.base_image(name).map_err(at_from)?;
                let cfg = self.engine.image_config(&rec).map_err(at_from)?;
                let mut run = cfg
                    .config
                    .as_ref()
                    .and_then(|c| c.as_object())
                    .cloned()
                    .unwrap_or_default();
                let env = crate::containers::strings(run.get("Env"));
                let scope = StageScope::new(&env);
                run.insert("Env".into(), json!(scope.image_env().to_strings()));
                State {
                    image_id: rec.id.clone(),
                    cmd: command_of(&run),
                    run,
                    config: cfg,
                    scope,
                }
            }
        };
        if !state.image_id.is_empty() {
            self.say(idx, format!(" ---> {}\n", short(&state.image_id)));
        }
        // ONBUILD triggers of the base run as part of the FROM step.
        let triggers = crate::containers::strings(state.run.get("OnBuild"));
        if !triggers.is_empty() {
            self.say(
                idx,
                format!(
                    "# Executing {} build trigger{}\n",
                    triggers.len(),
                    if triggers.len() == 1 { "" } else { "s" }
                ),
            );
            state.run.remove("OnBuild");
            for t in &triggers {
                let inst = berth_dockerfile::parse_onbuild_trigger(t, stage.line)
                    .map_err(|e| EngineError::invalid(format!("{file}:{}: {e}", stage.line)))?;
                self.dispatch(idx, &mut state, &inst)
                    .map_err(|e| located(file, &inst, e))?;
                self.say(idx, format!(" ---> {}\n", short(&state.image_id)));
            }
        }
        let mut instructions: Vec<Instruction> = stage.instructions.clone();
        if idx == self.target {
            for (k, v) in &self.opts.labels {
                instructions.push(Instruction {
                    kind: InstructionKind::Label(vec![KeyValue {
                        key: k.clone(),
                        value: v.clone(),
                        legacy: false,
                    }]),
                    keyword: "LABEL".into(),
                    original: format!("LABEL {k}={v}"),
                    line: stage.end_line,
                    end_line: stage.end_line,
                    comments: Vec::new(),
                });
            }
        }
        for (n, inst) in instructions.iter().enumerate() {
            if self.failed.load(Ordering::SeqCst) {
                return Err(EngineError::internal(
                    "the build was stopped by another stage's failure",
                ));
            }
            self.step_line(idx, step, &inst.original);
            step += 1;
            // --label values are taken literally.
            let inst = if n >= stage.instructions.len() {
                inst.clone()
            } else if inst.expands_variables() {
                inst.expand(&self.lex, state.scope.env())
                    .map_err(|e| located(file, inst, EngineError::invalid(e.to_string())))?
            } else {
                inst.clone()
            };
            self.dispatch(idx, &mut state, &inst)
                .map_err(|e| located(file, &inst, e))?;
            if !state.image_id.is_empty() {
                self.say(idx, format!(" ---> {}\n", short(&state.image_id)));
            }
        }
        if !state.image_id.is_empty() {
            self.out
                .emit(idx, json!({"aux": {"ID": state.image_id.clone()}}));
        }
        if let Ok(mut d) = self.declared.lock() {
            d.extend(state.scope.declared_args().iter().map(|(k, _)| k.clone()));
        }
        if let Ok(mut r) = self.results.lock() {
            r.insert(
                idx,
                StageResult {
                    image_id: state.image_id,
                    config: state.config,
                    scope: state.scope,
                },
            );
        }
        Ok(())
    }

    /// The base image of a stage: local, or pulled when missing or with
    /// `--pull`.
    fn base_image(&self, name: &str) -> Result<ImageRecord> {
        match self.engine.resolve_image(name) {
            Ok(r) if !self.opts.pull => Ok(r),
            found => {
                match self.engine.pull_for_build(name) {
                    Ok(()) => self.engine.resolve_image(name),
                    Err(pull_err) => match found {
                        // --pull with no registry reachable: the local copy.
                        Ok(r) => Ok(r),
                        Err(_) => Err(pull_err),
                    },
                }
            }
        }
    }

    /// Executes one (expanded) instruction.
    fn dispatch(&self, idx: usize, st: &mut State, inst: &Instruction) -> Result<()> {
        match &inst.kind {
            InstructionKind::Env(kvs) => {
                let pairs: Vec<(String, String)> = kvs
                    .iter()
                    .map(|kv| (kv.key.clone(), kv.value.clone()))
                    .collect();
                st.scope.apply_env(&pairs);
                st.run
                    .insert("Env".into(), json!(st.scope.image_env().to_strings()));
                self.commit_meta(idx, st, &format!("ENV {}", kv_text(kvs)))
            }
            InstructionKind::Arg(defs) => {
                let mut parts = Vec::new();
                for d in defs {
                    let v = st
                        .scope
                        .declare_arg(d, &self.globals, &self.args, &self.lex)
                        .map_err(|e| EngineError::invalid(e.message().to_string()))?;
                    parts.push(match (&d.value, v) {
                        (Some(_), Some(v)) => format!("{}={v}", d.key),
                        _ => d.key.clone(),
                    });
                }
                self.commit_meta(idx, st, &format!("ARG {}", parts.join(" ")))
            }
            InstructionKind::Label(kvs) => {
                let labels = st.run.entry("Labels").or_insert_with(|| json!({}));
                if !labels.is_object() {
                    *labels = json!({});
                }
                for kv in kvs {
                    labels[&kv.key] = json!(kv.value);
                }
                self.commit_meta(idx, st, &format!("LABEL {}", kv_text(kvs)))
            }
            InstructionKind::Expose(ports) => {
                let keys = parse_expose(ports).map_err(EngineError::invalid)?;
                let e = st.run.entry("ExposedPorts").or_insert_with(|| json!({}));
                if !e.is_object() {
                    *e = json!({});
                }
                for k in keys {
                    e[&k] = json!({});
                }
                self.commit_meta(idx, st, &format!("EXPOSE {}", ports.join(" ")))
            }
            InstructionKind::Cmd(c) => {
                st.cmd.apply_cmd(c);
                st.sync_command();
                let argv = st.cmd.cmd.clone().unwrap_or_default();
                self.commit_meta(idx, st, &format!("CMD {}", quote_list(&argv)))
            }
            InstructionKind::Entrypoint(c) => {
                st.cmd.apply_entrypoint(c);
                st.sync_command();
                let argv = st.cmd.entrypoint.clone().unwrap_or_default();
                self.commit_meta(idx, st, &format!("ENTRYPOINT {}", quote_list(&argv)))
            }
            InstructionKind::Shell(sh) => {
                st.cmd.apply_shell(sh);
                st.sync_command();
                self.commit_meta(idx, st, &format!("SHELL {}", quote_list(sh)))
            }
            InstructionKind::User(u) => {
                st.run.insert("User".into(), json!(u));
                self.commit_meta(idx, st, &format!("USER {u}"))
            }
            InstructionKind::Volume(vols) => {
                let v = st.run.entry("Volumes").or_insert_with(|| json!({}));
                if !v.is_object() {
                    *v = json!({});
                }
                for p in vols {
                    v[p] = json!({});
                }
                self.commit_meta(idx, st, &format!("VOLUME [{}]", vols.join(" ")))
            }
            InstructionKind::StopSignal(s) => {
                parse_signal(s).map_err(EngineError::invalid)?;
                st.run.insert("StopSignal".into(), json!(s));
                self.commit_meta(idx, st, &format!("STOPSIGNAL {s}"))
            }
            InstructionKind::Healthcheck(h) => {
                let mut v = Map::new();
                v.insert("Test".into(), json!(h.test));
                for (k, d) in [
                    ("Interval", h.interval),
                    ("Timeout", h.timeout),
                    ("StartPeriod", h.start_period),
                    ("StartInterval", h.start_interval),
                ] {
                    if !d.is_zero() {
                        v.insert(k.into(), json!(d.as_nanos() as u64));
                    }
                }
                if h.retries != 0 {
                    v.insert("Retries".into(), json!(h.retries));
                }
                st.run.insert("Healthcheck".into(), Value::Object(v));
                let text = inst
                    .original
                    .split_once(char::is_whitespace)
                    .map(|x| x.1.trim())
                    .unwrap_or("");
                self.commit_meta(idx, st, &format!("HEALTHCHECK {text}"))
            }
            InstructionKind::Onbuild(o) => {
                if let Err(e) = &o.trigger {
                    return Err(EngineError::invalid(e.message().to_string()));
                }
                let list = st.run.entry("OnBuild").or_insert_with(|| json!([]));
                if !list.is_array() {
                    *list = json!([]);
                }
                if let Some(a) = list.as_array_mut() {
                    a.push(json!(o.expression));
                }
                self.commit_meta(idx, st, &format!("ONBUILD {}", o.expression))
            }
            InstructionKind::Maintainer(m) => {
                st.config.author = Some(m.clone());
                self.commit_meta(idx, st, &format!("MAINTAINER {m}"))
            }
            InstructionKind::Workdir(p) => {
                let wd = berth_dockerfile::copy_rules::normalize_workdir(&st.workdir(), p)
                    .map_err(EngineError::invalid)?;
                st.run.insert("WorkingDir".into(), json!(wd));
                self.workdir_step(idx, st, &wd)
            }
            InstructionKind::Run(r) => self.run_step(idx, st, r),
            InstructionKind::Copy(c) => self.copy_step(idx, st, copy::CopySpec::from_copy(c)),
            InstructionKind::Add(a) => self.copy_step(idx, st, copy::CopySpec::from_add(a)),
            InstructionKind::From(_) => Err(EngineError::invalid("FROM is not allowed here")),
        }
    }

    /// Looks a step up in the cache; on a hit the state moves to the cached
    /// image and ` ---> Using cache` is printed.
    fn probe(&self, idx: usize, st: &mut State, key: &str) -> Result<bool> {
        if self.opts.no_cache {
            return Ok(false);
        }
        let Some(rec) = self.engine.cache_lookup(key)? else {
            return Ok(false);
        };
        st.config = self.engine.image_config(&rec)?;
        st.image_id = rec.id;
        self.say(idx, " ---> Using cache\n");
        Ok(true)
    }

    /// A step that only changes the image config: a new image without a
    /// layer (history `empty_layer: true`).
    fn commit_meta(&self, idx: usize, st: &mut State, text: &str) -> Result<()> {
        let key = cache::cache_key(&[
            json!(st.image_id),
            json!("meta"),
            json!(text),
            Value::Object(st.run.clone()),
            json!(st.config.author),
        ]);
        if self.probe(idx, st, &key)? {
            return Ok(());
        }
        let created_by = format!("{} #(nop)  {text}", st.shell().join(" "));
        self.commit(st, None, &created_by, &key, text)
    }

    /// Stores the step's image (with `layer` when the step changed files)
    /// and records it in the cache.
    fn commit(
        &self,
        st: &mut State,
        layer: Option<StagedLayer>,
        created_by: &str,
        key: &str,
        description: &str,
    ) -> Result<()> {
        let now = now_rfc3339();
        let mut cfg = st.config.clone();
        cfg.created = Some(now.clone());
        cfg.config = Some(Value::Object(st.run.clone()));
        cfg.extra.remove("container");
        cfg.extra.remove("container_config");
        cfg.comment = None;
        if cfg.architecture.is_empty() {
            cfg.architecture = host_arch().into();
        }
        if cfg.os.is_empty() {
            cfg.os = "linux".into();
        }
        if let Some(l) = &layer {
            cfg.rootfs.diff_ids.push(l.record.diff_id.clone());
        }
        cfg.history.push(History {
            created: Some(now),
            created_by: Some(created_by.to_string()),
            author: cfg.author.clone(),
            comment: None,
            empty_layer: layer.is_none(),
        });
        let parent = (!st.image_id.is_empty()).then_some(st.image_id.as_str());
        let id = self.engine.store_image(&cfg, layer.as_ref(), parent, &[])?;
        self.engine.cache_store(key, &id, description)?;
        st.image_id = id;
        st.config = cfg;
        Ok(())
    }

    /// `WORKDIR`: creates the directory (a layer only when it was new).
    fn workdir_step(&self, idx: usize, st: &mut State, wd: &str) -> Result<()> {
        let key = cache::cache_key(&[
            json!(st.image_id),
            json!("WORKDIR"),
            json!(wd),
            Value::Object(st.run.clone()),
        ]);
        if self.probe(idx, st, &key)? {
            return Ok(());
        }
        let mut scratch = self.engine.mount_scratch(&st.config.rootfs.diff_ids)?;
        fsutil::mkdir_all_in_root(&scratch.root(), wd, 0o755, None).map_err(|e| {
            EngineError::invalid(format!("creating the working directory {wd}: {e}"))
        })?;
        scratch.unmount()?;
        let layer = self.engine.stage_dir_layer(&scratch.upper(), false)?;
        let created_by = format!("{} #(nop) WORKDIR {wd}", st.shell().join(" "));
        self.commit(st, layer, &created_by, &key, &format!("WORKDIR {wd}"))
    }

    /// Makes sure the stage's current state is a stored image (a `FROM
    /// scratch` stage has none before its first step).
    fn ensure_image(&self, st: &mut State) -> Result<()> {
        if !st.image_id.is_empty() {
            return Ok(());
        }
        let mut cfg = st.config.clone();
        cfg.config = Some(Value::Object(st.run.clone()));
        cfg.created = Some(now_rfc3339());
        st.image_id = self.engine.store_image(&cfg, None, None, &[])?;
        Ok(())
    }
}

/// The command part of a run config.
fn command_of(run: &Map<String, Value>) -> ImageCommand {
    let list = |k: &str| -> Option<Vec<String>> {
        run.get(k).and_then(|v| v.as_array()).map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
    };
    ImageCommand::from_image(
        list("Shell").unwrap_or_default(),
        list("Entrypoint"),
        list("Cmd"),
    )
}

impl Engine {
    /// Pulls a base image for a build when a registry is configured.
    fn pull_for_build(self: &Arc<Self>, name: &str) -> Result<()> {
        let r = berth_reference::Reference::parse_with_default_tag(name)
            .map_err(|e| EngineError::invalid(e.to_string()))?;
        let engine = self.clone();
        let progress: crate::images::distribution::Progress = Arc::new(|_| {});
        self.rt
            .block_on(async move { engine.pull_image(&r, None, None, progress).await })
    }
}
