//! The stage structure of a Dockerfile: [`parse`] groups typed instructions
//! into meta arguments and stages (BuildKit's `instructions.Parse`), and
//! [`StageGraph`] works out which stages a target needs — through
//! `FROM <stage>`, `COPY --from=<stage|index>` and `RUN --mount=from=<stage>`
//! — so an executor can skip the rest and run independent stages in
//! parallel ([`StageGraph::schedule`]).

use std::collections::BTreeSet;

use crate::error::{BuildError, ParseError};
use crate::golang::{parse_int, quote, with_suggestion};
use crate::instructions::{parse_node, Instruction, InstructionKind, Parsed};
use crate::parser::{parse_ast, Directive, Warning};
use crate::shell_lex::{EmptyEnv, EnvGetter, Lex};

/// A build stage: a `FROM` and the instructions up to the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Position among the stages (what `COPY --from=0` refers to).
    pub index: usize,
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    /// The base as written (`ubuntu:${VERSION}`, `builder`, `scratch`).
    pub base: String,
    /// `--platform` as written.
    pub platform: Option<String>,
    /// Instructions after the `FROM`.
    pub instructions: Vec<Instruction>,
    /// Line of the `FROM`.
    pub line: usize,
    /// Last line of the `FROM` instruction.
    pub end_line: usize,
    /// The `FROM` line, trimmed (`Step 1/5 : FROM busybox AS build`).
    pub original: String,
    /// Comments directly above the `FROM`.
    pub comments: Vec<String>,
}

impl Stage {
    /// The name BuildKit shows in progress output: the stage name, or
    /// `stage-N`.
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("stage-{}", self.index))
    }
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// Parser directives at the top (`syntax`, `escape`, `check`).
    pub directives: Vec<Directive>,
    /// The escape token (`\` unless `# escape=` says otherwise).
    pub escape_token: char,
    /// `ARG` instructions before the first `FROM`.
    pub meta_args: Vec<Instruction>,
    /// The stages, in order.
    pub stages: Vec<Stage>,
    /// Parser warnings (empty continuation lines).
    pub warnings: Vec<Warning>,
}

/// Parses Dockerfile text into meta arguments and stages.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    if text.is_empty() {
        return Err(ParseError::syntax(
            "the Dockerfile cannot be empty".into(),
            1,
            1,
        ));
    }
    let ast = parse_ast(text)?;
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for node in &ast.children {
        match parse_node(node)? {
            Parsed::From(from) => stages.push(Stage {
                index: stages.len(),
                name: from.name,
                base: from.image,
                platform: from.platform,
                instructions: Vec::new(),
                line: node.start_line,
                end_line: node.end_line,
                original: node.original.trim().to_string(),
                comments: node.comments.clone(),
            }),
            Parsed::Instruction(inst) => match stages.last_mut() {
                Some(stage) => stage.instructions.push(inst),
                None => {
                    if matches!(inst.kind, InstructionKind::Arg(_)) {
                        meta_args.push(inst);
                    } else {
                        return Err(ParseError::syntax(
                            "no build stage in current context".into(),
                            node.start_line,
                            node.end_line,
                        ));
                    }
                }
            },
        }
    }
    if stages.is_empty() {
        let line = ast.children.last().map(|n| n.end_line).unwrap_or(1);
        return Err(ParseError::syntax(
            "dockerfile contains no stages to build".into(),
            line,
            line,
        ));
    }
    Ok(Dockerfile {
        directives: ast.directives,
        escape_token: ast.escape_token,
        meta_args,
        stages,
        warnings: ast.warnings,
    })
}

/// Parses an `ONBUILD` trigger stored in a base image's config (`RUN echo
/// hi`) into the instruction a child build runs; `line` is the child's
/// `FROM` line, which errors point at.
pub fn parse_onbuild_trigger(expression: &str, line: usize) -> Result<Instruction, ParseError> {
    let ast = parse_ast(expression)?;
    if ast.children.len() != 1 {
        return Err(ParseError::syntax(
            "onbuild trigger should be a single expression".into(),
            line,
            line,
        ));
    }
    let mut node = ast.children[0].clone();
    node.start_line = line;
    node.end_line = line;
    match parse_node(&node)? {
        Parsed::Instruction(i) => Ok(i),
        Parsed::From(_) => Err(ParseError::instruction(
            "FROM isn't allowed as an ONBUILD trigger".into(),
            line,
            line,
        )),
    }
}

impl Dockerfile {
    /// The value of a parser directive (`syntax`, `escape`, `check`).
    pub fn directive(&self, name: &str) -> Option<&str> {
        self.directives
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.value.as_str())
    }

    /// The stage with this name (case-insensitive; a later stage with the
    /// same name wins, as in BuildKit).
    pub fn stage_by_name(&self, name: &str) -> Option<&Stage> {
        let lower = name.to_lowercase();
        self.stages
            .iter()
            .rev()
            .find(|s| s.name.as_deref() == Some(lower.as_str()))
    }

    /// The stage at `index`.
    pub fn stage(&self, index: usize) -> Option<&Stage> {
        self.stages.get(index)
    }

    /// Resolves a `--target` (case-insensitive name; the last stage when
    /// `None`), with BuildKit's error and suggestion.
    pub fn target_index(&self, target: Option<&str>) -> Result<usize, BuildError> {
        let Some(t) = target.filter(|t| !t.is_empty()) else {
            return self
                .stages
                .len()
                .checked_sub(1)
                .ok_or_else(|| BuildError::new("dockerfile contains no stages to build", None));
        };
        match self.stage_by_name(t) {
            Some(s) => Ok(s.index),
            None => {
                let names: Vec<String> =
                    self.stages.iter().filter_map(|s| s.name.clone()).collect();
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                Err(BuildError::new(
                    with_suggestion(
                        format!("target stage {} could not be found", quote(t)),
                        t,
                        &refs,
                        true,
                    ),
                    None,
                ))
            }
        }
    }

    /// Number of `Step N/M` lines the classic builder prints: one per meta
    /// `ARG`, per `FROM` and per instruction of the stages built.
    pub fn step_count(&self, stages: &[usize]) -> usize {
        self.meta_args.len()
            + stages
                .iter()
                .filter_map(|i| self.stages.get(*i))
                .map(|s| 1 + s.instructions.len())
                .sum::<usize>()
    }

    /// The `Step N/M : TEXT` lines of the classic builder for the given
    /// stages, in order.
    pub fn steps(&self, stages: &[usize]) -> Vec<String> {
        let total = self.step_count(stages);
        let mut texts: Vec<&str> = self.meta_args.iter().map(|i| i.original.as_str()).collect();
        for s in stages.iter().filter_map(|i| self.stages.get(*i)) {
            texts.push(&s.original);
            texts.extend(s.instructions.iter().map(|i| i.original.as_str()));
        }
        texts
            .iter()
            .enumerate()
            .map(|(n, t)| format!("Step {}/{} : {}", n + 1, total, t))
            .collect()
    }

    /// Builds the stage dependency graph. `globals` are the evaluated meta
    /// and predefined arguments ([`crate::args::eval_meta_args`]), used to
    /// expand `FROM` lines exactly as BuildKit does.
    pub fn graph(&self, globals: &dyn EnvGetter) -> Result<StageGraph, BuildError> {
        let lex = Lex::new(self.escape_token);
        let mut nodes: Vec<StageNode> = Vec::new();
        for (i, st) in self.stages.iter().enumerate() {
            let base = lex
                .process_word(&st.base, globals)
                .map_err(|e| BuildError::new(e.to_string(), Some(st.line)))?;
            if base.is_empty() {
                return Err(BuildError::new(
                    format!("base name ({}) should not be blank", st.base),
                    Some(st.line),
                ));
            }
            let platform = match &st.platform {
                None => None,
                Some(p) => {
                    let r = lex.process_word(p, globals).map_err(|e| {
                        BuildError::new(
                            format!("failed to process arguments for platform : {e}"),
                            Some(st.line),
                        )
                    })?;
                    if r.is_empty() {
                        return Err(BuildError::new(
                            format!("empty platform value from expression {p}"),
                            Some(st.line),
                        ));
                    }
                    Some(r)
                }
            };
            // `FROM <name>` refers to an earlier stage by its exact
            // (lower-case) name; anything else is an image.
            let base_ref = match self.stages[..i]
                .iter()
                .rev()
                .find(|s| s.name.as_deref() == Some(base.as_str()))
            {
                Some(s) => StageRef::Stage(s.index),
                None => StageRef::Image(base.clone()),
            };
            nodes.push(StageNode {
                index: i,
                base: base_ref,
                base_name: base,
                platform,
                deps: Vec::new(),
            });
        }
        for (i, st) in self.stages.iter().enumerate() {
            for inst in &st.instructions {
                for dep in self.instruction_deps(inst)? {
                    nodes[i].deps.push(dep);
                }
            }
        }
        let graph = StageGraph { nodes };
        graph.check_cycles(self)?;
        Ok(graph)
    }

    /// The dependencies one instruction adds (`COPY --from`, `RUN --mount
    /// from=`, and the same inside an `ONBUILD` trigger run by a child).
    pub fn instruction_deps(&self, inst: &Instruction) -> Result<Vec<Dependency>, BuildError> {
        let mut out = Vec::new();
        match &inst.kind {
            InstructionKind::Copy(c) if !c.from.is_empty() => {
                let expanded = Lex::new(self.escape_token).process_word(&c.from, &EmptyEnv);
                if expanded.as_deref() != Ok(c.from.as_str()) {
                    return Err(BuildError::new(
                        "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround",
                        Some(inst.line),
                    ));
                }
                let target = match parse_int(&c.from, 64) {
                    Ok(n) => {
                        if n < 0 || n as usize >= self.stages.len() {
                            return Err(BuildError::new(
                                format!("invalid stage index {n}"),
                                Some(inst.line),
                            ));
                        }
                        StageRef::Stage(n as usize)
                    }
                    Err(_) => match self.stage_by_name(&c.from) {
                        Some(s) => StageRef::Stage(s.index),
                        None => StageRef::Image(c.from.clone()),
                    },
                };
                out.push(Dependency {
                    kind: DependencyKind::CopyFrom,
                    target,
                    reference: c.from.clone(),
                    mount_target: String::new(),
                    line: inst.line,
                });
            }
            InstructionKind::Run(r) => {
                for (idx, from) in r.mount_froms.iter().enumerate() {
                    if from.is_empty() {
                        continue;
                    }
                    let target = match self.stage_by_name(from) {
                        Some(s) => StageRef::Stage(s.index),
                        None => StageRef::Image(from.clone()),
                    };
                    let mount_target = r
                        .mount_specs
                        .get(idx)
                        .and_then(|s| crate::mount::parse_mount_literal(s).ok())
                        .map(|m| m.target)
                        .unwrap_or_default();
                    out.push(Dependency {
                        kind: DependencyKind::MountFrom,
                        target,
                        reference: from.clone(),
                        mount_target,
                        line: inst.line,
                    });
                }
            }
            _ => {}
        }
        Ok(out)
    }
}

/// Where a stage dependency points.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum StageRef {
    /// Another stage, by index.
    Stage(usize),
    /// An image to pull (or `scratch`).
    Image(String),
}

/// How a stage depends on another stage or image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DependencyKind {
    /// `COPY --from=`.
    CopyFrom,
    /// `RUN --mount=from=`.
    MountFrom,
}

/// One `COPY --from` or `RUN --mount=from=` edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// Which instruction made it.
    pub kind: DependencyKind,
    /// What it points to.
    pub target: StageRef,
    /// The reference as written (`builder`, `0`, `alpine`).
    pub reference: String,
    /// For mounts: the mount target (for error messages).
    pub mount_target: String,
    /// Line of the instruction.
    pub line: usize,
}

/// One stage in the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageNode {
    /// Stage index.
    pub index: usize,
    /// The base after expansion: an earlier stage or an image.
    pub base: StageRef,
    /// The expanded base name.
    pub base_name: String,
    /// The expanded `--platform`.
    pub platform: Option<String>,
    /// `COPY --from` / `RUN --mount=from=` edges.
    pub deps: Vec<Dependency>,
}

/// Stage dependencies of a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageGraph {
    /// One node per stage, by index.
    pub nodes: Vec<StageNode>,
}

impl StageGraph {
    /// Stages `index` needs directly (base stage and stage dependencies),
    /// sorted and without duplicates.
    pub fn direct_stage_deps(&self, index: usize) -> Vec<usize> {
        let Some(n) = self.nodes.get(index) else {
            return Vec::new();
        };
        let mut set = BTreeSet::new();
        if let StageRef::Stage(b) = n.base {
            set.insert(b);
        }
        for d in &n.deps {
            if let StageRef::Stage(s) = d.target {
                set.insert(s);
            }
        }
        set.into_iter().collect()
    }

    /// Every stage that leads to `target`, `target` included, in ascending
    /// order (BuildKit's reachable stages).
    pub fn stages_needed(&self, target: usize) -> Vec<usize> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![target];
        while let Some(i) = stack.pop() {
            if i >= self.nodes.len() || !seen.insert(i) {
                continue;
            }
            stack.extend(self.direct_stage_deps(i));
        }
        seen.into_iter().collect()
    }

    /// Images (not stages, not `scratch`) the needed stages pull: bases,
    /// `COPY --from=<image>` and `RUN --mount=from=<image>`.
    pub fn external_images(&self, target: usize) -> Vec<String> {
        let mut set = BTreeSet::new();
        for i in self.stages_needed(target) {
            let n = &self.nodes[i];
            if let StageRef::Image(img) = &n.base {
                set.insert(img.clone());
            }
            for d in &n.deps {
                if let StageRef::Image(img) = &d.target {
                    set.insert(img.clone());
                }
            }
        }
        set.remove("scratch");
        set.into_iter().collect()
    }

    /// Checks that the needed stages only depend on stages defined before
    /// them (BuildKit builds stages in file order) and groups them into
    /// waves: every stage of a wave only needs stages of earlier waves, so
    /// the stages of one wave can run in parallel.
    pub fn schedule(&self, df: &Dockerfile, target: usize) -> Result<Vec<Vec<usize>>, BuildError> {
        let needed = self.stages_needed(target);
        for &i in &needed {
            for d in &self.nodes[i].deps {
                if let StageRef::Stage(s) = d.target {
                    if s >= i {
                        let cur = df
                            .stages
                            .get(i)
                            .map(Stage::display_name)
                            .unwrap_or_default();
                        let msg = match d.kind {
                            DependencyKind::CopyFrom => format!(
                                "cannot copy from stage {}, it needs to be defined before current stage {}",
                                quote(&d.reference),
                                quote(&cur)
                            ),
                            DependencyKind::MountFrom => format!(
                                "cannot mount from stage {} to {}, stage needs to be defined before current command",
                                quote(&d.reference),
                                quote(&d.mount_target)
                            ),
                        };
                        return Err(BuildError::new(msg, Some(d.line)));
                    }
                }
            }
        }
        let mut level = vec![0usize; self.nodes.len()];
        for &i in &needed {
            level[i] = self
                .direct_stage_deps(i)
                .iter()
                .map(|d| level[*d] + 1)
                .max()
                .unwrap_or(0);
        }
        let depth = needed.iter().map(|i| level[*i]).max().unwrap_or(0);
        let mut waves = vec![Vec::new(); depth + 1];
        for &i in &needed {
            waves[level[i]].push(i);
        }
        Ok(waves)
    }

    fn check_cycles(&self, df: &Dockerfile) -> Result<(), BuildError> {
        // BuildKit only follows COPY --from / --mount edges here.
        fn visit(
            g: &StageGraph,
            i: usize,
            visited: &mut BTreeSet<usize>,
            path: &mut BTreeSet<usize>,
            lines: &mut Vec<usize>,
        ) -> bool {
            if !visited.insert(i) {
                return false;
            }
            path.insert(i);
            for d in &g.nodes[i].deps {
                if let StageRef::Stage(s) = d.target {
                    lines.push(d.line);
                    if path.contains(&s) || visit(g, s, visited, path, lines) {
                        return true;
                    }
                    lines.pop();
                }
            }
            path.remove(&i);
            false
        }
        let mut visited = BTreeSet::new();
        for i in 0..self.nodes.len() {
            let mut path = BTreeSet::new();
            let mut lines = Vec::new();
            if visit(self, i, &mut visited, &mut path, &mut lines) {
                return Err(BuildError::new(
                    format!(
                        "circular dependency detected on stage: {}",
                        df.stages
                            .get(i)
                            .map(Stage::display_name)
                            .unwrap_or_default()
                    ),
                    lines.first().copied(),
                ));
            }
        }
        Ok(())
    }
}
