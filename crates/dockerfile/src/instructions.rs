//! Typed instructions, built from parser nodes exactly as BuildKit's
//! `frontend/dockerfile/instructions` package does: argument counts, flag
//! sets per instruction (unknown flags are errors naming the flag, with a
//! suggestion), `FROM … AS name` validation, `HEALTHCHECK` options,
//! `ONBUILD` restrictions, heredoc sources, and the per-instruction variable
//! expansion rules ([`Instruction::expand`]).

use std::time::Duration;

use crate::error::ParseError;
use crate::golang::{parse_duration, parse_int, quote, with_suggestion};
use crate::mount::{parse_device, parse_mount, Device, Expansion, Mount};
use crate::parser::{chomp_heredoc_content, parse_heredoc, Node};
use crate::shell_lex::{EnvGetter, Lex, LexError};

/// All instruction keywords, upper case.
pub const INSTRUCTIONS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// A `key=value` pair of `ENV` or `LABEL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key, quotes still in place until expansion.
    pub key: String,
    /// The value, quotes still in place until expansion.
    pub value: String,
    /// Written in the legacy `ENV key value` form (no `=`).
    pub legacy: bool,
}

/// One name of an `ARG` instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDef {
    /// The argument name.
    pub key: String,
    /// The default value, when given (`ARG a=1`; `ARG a=` is `Some("")`).
    pub value: Option<String>,
    /// The text after `# <key> ` in the comment block above, if any.
    pub doc_comment: String,
}

/// A heredoc used as an inline file by `RUN` (BuildKit's `ShellInlineFile`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineFile {
    /// Terminator word (`EOF`).
    pub name: String,
    /// Body as written.
    pub data: String,
    /// `<<-`: strip leading tabs.
    pub chomp: bool,
}

/// The command of `RUN`, `CMD` and `ENTRYPOINT` (`ShellDependantCmdLine`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandLine {
    /// Exec form: the argv. Shell form: one element, the command string.
    pub args: Vec<String>,
    /// Shell form: the current `SHELL` goes in front of `args`.
    pub prepend_shell: bool,
    /// Heredoc bodies (`RUN <<EOF`).
    pub files: Vec<InlineFile>,
}

/// `RUN --network=` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// The builder's network.
    #[default]
    Default,
    /// No network.
    None,
    /// The host's network (needs an entitlement).
    Host,
}

/// `RUN --security=` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Security {
    /// Normal confinement.
    #[default]
    Sandbox,
    /// Privileged (needs an entitlement).
    Insecure,
}

/// `RUN`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Run {
    /// What to run.
    pub cmd: CommandLine,
    /// The `--mount` values as written (expanded by [`Instruction::expand`]).
    pub mount_specs: Vec<String>,
    /// `from=` of each mount as written, for the stage graph (empty when
    /// absent).
    pub mount_froms: Vec<String>,
    /// `--network`.
    pub network: NetworkMode,
    /// `--security`.
    pub security: Security,
    /// `--device` values.
    pub devices: Vec<Device>,
    /// Names of the flags that were used.
    pub flags_used: Vec<String>,
}

impl Run {
    /// Parses the `--mount` values, taking every value literally (call
    /// [`Instruction::expand`] first to substitute variables).
    pub fn mounts(&self) -> Result<Vec<Mount>, String> {
        self.mount_specs
            .iter()
            .map(|s| crate::mount::parse_mount_literal(s))
            .collect()
    }
}

/// An inline file source of `COPY`/`ADD` (`COPY <<EOF /dst`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceContent {
    /// File name (the heredoc word).
    pub path: String,
    /// Content (leading tabs already removed for `<<-`).
    pub data: String,
    /// Whether variables in `data` are expanded.
    pub expand: bool,
}

/// Sources and destination of `COPY`/`ADD`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourcesAndDest {
    /// Destination as written.
    pub dest: String,
    /// Path (or URL) sources.
    pub sources: Vec<String>,
    /// Heredoc sources.
    pub contents: Vec<SourceContent>,
}

/// `COPY`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Copy {
    /// Sources and destination.
    pub paths: SourcesAndDest,
    /// `--from` (stage name, stage index or image); empty when absent.
    pub from: String,
    /// `--chown`; empty when absent.
    pub chown: String,
    /// `--chmod`; empty when absent.
    pub chmod: String,
    /// `--link`.
    pub link: bool,
    /// `--exclude` patterns.
    pub exclude: Vec<String>,
    /// `--parents`.
    pub parents: bool,
}

/// `ADD`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Add {
    /// Sources and destination.
    pub paths: SourcesAndDest,
    /// `--chown`; empty when absent.
    pub chown: String,
    /// `--chmod`; empty when absent.
    pub chmod: String,
    /// `--link`.
    pub link: bool,
    /// `--keep-git-dir`, when given.
    pub keep_git_dir: Option<bool>,
    /// `--checksum`; empty when absent.
    pub checksum: String,
    /// `--unpack`, when given.
    pub unpack: Option<bool>,
    /// `--exclude` patterns.
    pub exclude: Vec<String>,
}

/// `HEALTHCHECK`, as Docker's `HealthcheckConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", argv…]` or `["CMD-SHELL", command]`.
    pub test: Vec<String>,
    /// `--interval` (zero: inherit the default).
    pub interval: Duration,
    /// `--timeout`.
    pub timeout: Duration,
    /// `--start-period`.
    pub start_period: Duration,
    /// `--start-interval`.
    pub start_interval: Duration,
    /// `--retries`.
    pub retries: i32,
}

/// `ONBUILD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Onbuild {
    /// The trigger as stored in the image config (`RUN echo hi`).
    pub expression: String,
    /// The trigger, parsed. Docker only checks the trigger's keyword when
    /// the `ONBUILD` is read and reports other problems when a child image
    /// runs it, so an invalid trigger is kept here as its error.
    pub trigger: Result<Box<Instruction>, ParseError>,
}

/// `FROM`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct From {
    /// Base image or stage name as written (expanded with meta args later).
    pub image: String,
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    /// `--platform`, when given.
    pub platform: Option<String>,
}

/// The typed content of an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstructionKind {
    /// `FROM` (only seen through [`crate::Stage`]).
    From(From),
    /// `RUN`.
    Run(Run),
    /// `CMD`.
    Cmd(CommandLine),
    /// `ENTRYPOINT`.
    Entrypoint(CommandLine),
    /// `SHELL` (always exec form).
    Shell(Vec<String>),
    /// `COPY`.
    Copy(Copy),
    /// `ADD`.
    Add(Add),
    /// `WORKDIR`.
    Workdir(String),
    /// `ENV`.
    Env(Vec<KeyValue>),
    /// `ARG`.
    Arg(Vec<ArgDef>),
    /// `LABEL`.
    Label(Vec<KeyValue>),
    /// `EXPOSE` (sorted, as BuildKit stores them).
    Expose(Vec<String>),
    /// `USER`.
    User(String),
    /// `VOLUME`.
    Volume(Vec<String>),
    /// `HEALTHCHECK`.
    Healthcheck(Healthcheck),
    /// `STOPSIGNAL`.
    StopSignal(String),
    /// `ONBUILD`.
    Onbuild(Onbuild),
    /// `MAINTAINER`.
    Maintainer(String),
}

/// One instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// The typed content.
    pub kind: InstructionKind,
    /// The keyword as written (`RUN`, `run`).
    pub keyword: String,
    /// The instruction's text, trimmed (what `Step 3/10 : …` prints).
    pub original: String,
    /// First line (1-based).
    pub line: usize,
    /// Last line, heredoc bodies included.
    pub end_line: usize,
    /// Comments directly above.
    pub comments: Vec<String>,
}

impl std::fmt::Display for Instruction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.original)
    }
}

/// Why [`Instruction::expand`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// A word could not be expanded.
    #[error(transparent)]
    Lex(#[from] LexError),
    /// An expanded value is invalid (a `--mount` option, …).
    #[error("{0}")]
    Invalid(String),
}

impl Instruction {
    /// The instruction name in upper case (`RUN`).
    pub fn name(&self) -> &'static str {
        match &self.kind {
            InstructionKind::From(_) => "FROM",
            InstructionKind::Run(_) => "RUN",
            InstructionKind::Cmd(_) => "CMD",
            InstructionKind::Entrypoint(_) => "ENTRYPOINT",
            InstructionKind::Shell(_) => "SHELL",
            InstructionKind::Copy(_) => "COPY",
            InstructionKind::Add(_) => "ADD",
            InstructionKind::Workdir(_) => "WORKDIR",
            InstructionKind::Env(_) => "ENV",
            InstructionKind::Arg(_) => "ARG",
            InstructionKind::Label(_) => "LABEL",
            InstructionKind::Expose(_) => "EXPOSE",
            InstructionKind::User(_) => "USER",
            InstructionKind::Volume(_) => "VOLUME",
            InstructionKind::Healthcheck(_) => "HEALTHCHECK",
            InstructionKind::StopSignal(_) => "STOPSIGNAL",
            InstructionKind::Onbuild(_) => "ONBUILD",
            InstructionKind::Maintainer(_) => "MAINTAINER",
        }
    }

    /// Whether Docker expands variables in this instruction at all. `RUN`,
    /// `CMD`, `ENTRYPOINT`, `SHELL`, `HEALTHCHECK`, `ONBUILD` and
    /// `MAINTAINER` are left to the shell (or stored as written); `RUN`
    /// still expands its `--mount` options.
    pub fn expands_variables(&self) -> bool {
        !matches!(
            self.kind,
            InstructionKind::Cmd(_)
                | InstructionKind::Entrypoint(_)
                | InstructionKind::Shell(_)
                | InstructionKind::Healthcheck(_)
                | InstructionKind::Onbuild(_)
                | InstructionKind::Maintainer(_)
        )
    }

    /// Substitutes variables the way BuildKit's dispatcher does before
    /// executing the instruction:
    /// `ENV`/`LABEL` keys and values, `COPY`/`ADD` sources, destination,
    /// `--chown`, `--chmod` (and `ADD --checksum`), heredoc sources whose
    /// terminator is unquoted (quotes kept, `\` escapes), `WORKDIR`, `USER`,
    /// each `VOLUME`, `STOPSIGNAL`, `RUN --mount` values, and `EXPOSE`
    /// (the only instruction whose words may expand into several). `ARG`
    /// is returned unchanged: its defaults are expanded when declared
    /// ([`crate::args::StageScope::declare_arg`]).
    pub fn expand(&self, lex: &Lex, env: &dyn EnvGetter) -> Result<Instruction, ExpandError> {
        let word = |w: &str| lex.process_word(w, env);
        let mut out = self.clone();
        match &mut out.kind {
            InstructionKind::Env(kvs) | InstructionKind::Label(kvs) => {
                for kv in kvs.iter_mut() {
                    kv.key = word(&kv.key)?;
                    kv.value = word(&kv.value)?;
                }
            }
            InstructionKind::Copy(c) => {
                c.chown = word(&c.chown)?;
                c.chmod = word(&c.chmod)?;
                expand_sources(&mut c.paths, lex, env)?;
            }
            InstructionKind::Add(a) => {
                a.chown = word(&a.chown)?;
                a.chmod = word(&a.chmod)?;
                a.checksum = word(&a.checksum)?;
                expand_sources(&mut a.paths, lex, env)?;
            }
            InstructionKind::Workdir(p)
            | InstructionKind::User(p)
            | InstructionKind::StopSignal(p) => {
                *p = word(p)?;
            }
            InstructionKind::Volume(v) => {
                for p in v.iter_mut() {
                    *p = word(p)?;
                }
            }
            InstructionKind::Expose(ports) => {
                let mut all = Vec::new();
                for p in ports.iter() {
                    all.extend(lex.process_words(p, env)?);
                }
                *ports = all;
            }
            InstructionKind::Run(r) => {
                let mut f = |s: &str| lex.process_word(s, env).map_err(|e| e.to_string());
                let mut specs = Vec::new();
                for spec in &r.mount_specs {
                    let m =
                        parse_mount(spec, Expansion::With(&mut f)).map_err(ExpandError::Invalid)?;
                    specs.push(mount_to_spec(&m));
                }
                r.mount_specs = specs;
            }
            _ => {}
        }
        Ok(out)
    }
}

fn expand_sources(p: &mut SourcesAndDest, lex: &Lex, env: &dyn EnvGetter) -> Result<(), LexError> {
    for s in p.sources.iter_mut() {
        *s = lex.process_word(s, env)?;
    }
    p.dest = lex.process_word(&p.dest, env)?;
    let mut raw = Lex::new('\\');
    raw.skip_process_quotes = true;
    for c in p.contents.iter_mut() {
        if c.expand {
            c.data = raw.process_word(&c.data, env)?;
        }
    }
    Ok(())
}

/// Re-serialises a parsed mount so [`Run::mounts`] reads it back unchanged.
fn mount_to_spec(m: &Mount) -> String {
    let csv = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut f = vec![format!("type={}", m.mount_type.as_str())];
    let mut kv = |k: &str, v: &str| {
        if !v.is_empty() {
            f.push(csv(&format!("{k}={v}")));
        }
    };
    kv("from", &m.from);
    kv("source", &m.source);
    kv("target", &m.target);
    kv("id", &m.cache_id);
    if let Some(s) = m.sharing {
        kv(
            "sharing",
            match s {
                crate::mount::ShareMode::Shared => "shared",
                crate::mount::ShareMode::Private => "private",
                crate::mount::ShareMode::Locked => "locked",
            },
        );
    }
    if let Some(e) = &m.env {
        f.push(csv(&format!("env={e}")));
    }
    if let Some(v) = m.mode {
        f.push(format!("mode={v:o}"));
    }
    if let Some(v) = m.uid {
        f.push(format!("uid={v}"));
    }
    if let Some(v) = m.gid {
        f.push(format!("gid={v}"));
    }
    if m.size_limit > 0 {
        f.push(format!("size={}", m.size_limit));
    }
    if matches!(
        m.mount_type,
        crate::mount::MountType::Secret | crate::mount::MountType::Ssh
    ) {
        f.push(format!("required={}", m.required));
    }
    f.push(format!("readonly={}", m.read_only));
    f.join(",")
}

// ---------------------------------------------------------------------------
// Builder flags (BuildKit's BFlags)

#[derive(Clone, Copy, PartialEq, Eq)]
enum FlagType {
    Bool,
    Str,
    Strings,
}

struct Flag {
    name: &'static str,
    ty: FlagType,
    value: String,
    values: Vec<String>,
    used: bool,
}

struct BFlags<'a> {
    args: &'a [String],
    flags: Vec<Flag>,
}

impl<'a> BFlags<'a> {
    fn new(args: &'a [String]) -> Self {
        BFlags {
            args,
            flags: Vec::new(),
        }
    }

    fn add(&mut self, name: &'static str, ty: FlagType, def: &str) {
        self.flags.push(Flag {
            name,
            ty,
            value: def.to_string(),
            values: Vec::new(),
            used: false,
        });
    }

    fn get(&self, name: &str) -> Option<&Flag> {
        self.flags.iter().find(|f| f.name == name)
    }

    fn string(&self, name: &str) -> String {
        self.get(name).map(|f| f.value.clone()).unwrap_or_default()
    }

    fn is_true(&self, name: &str) -> bool {
        self.get(name).is_some_and(|f| f.value == "true")
    }

    fn used_bool(&self, name: &str) -> Option<bool> {
        self.get(name)
            .and_then(|f| f.used.then(|| f.value == "true"))
    }

    fn strings(&self, name: &str) -> Vec<String> {
        self.get(name).map(|f| f.values.clone()).unwrap_or_default()
    }

    fn used(&self) -> Vec<String> {
        self.flags
            .iter()
            .filter(|f| f.used)
            .map(|f| f.name.to_string())
            .collect()
    }

    fn parse(&mut self) -> Result<(), String> {
        for a in self.args {
            if a == "--" {
                return Ok(());
            }
            if !a.starts_with("--") {
                return Err(format!("arg should start with -- : {a}"));
            }
            let (flag_name, value, has_value) = match a.split_once('=') {
                Some((n, v)) => (n, v, true),
                None => (a.as_str(), "", false),
            };
            let arg = &flag_name[2..];
            let names: Vec<&str> = self.flags.iter().map(|f| f.name).collect();
            let Some(flag) = self.flags.iter_mut().find(|f| f.name == arg) else {
                return Err(with_suggestion(
                    format!("unknown flag: {flag_name}"),
                    arg,
                    &names,
                    true,
                ));
            };
            if flag.used && flag.ty != FlagType::Strings {
                return Err(format!("duplicate flag specified: {flag_name}"));
            }
            flag.used = true;
            match flag.ty {
                FlagType::Bool => {
                    if has_value && value.is_empty() {
                        return Err(format!("missing a value on flag: {flag_name}"));
                    }
                    match value.to_lowercase().as_str() {
                        "true" | "" => flag.value = "true".into(),
                        "false" => flag.value = "false".into(),
                        _ => {
                            return Err(format!(
                                "expecting boolean value for flag {flag_name}, not: {value}"
                            ))
                        }
                    }
                }
                FlagType::Str => {
                    if !has_value {
                        return Err(format!("missing a value on flag: {flag_name}"));
                    }
                    flag.value = value.to_string();
                }
                FlagType::Strings => {
                    if !has_value {
                        return Err(format!("missing a value on flag: {flag_name}"));
                    }
                    flag.values.push(value.to_string());
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Parsing

fn err_exactly_one(cmd: &str) -> String {
    format!("{cmd} requires exactly one argument")
}

fn err_at_least_one(cmd: &str) -> String {
    format!("{cmd} requires at least one argument")
}

fn err_no_destination(cmd: &str) -> String {
    format!("{cmd} requires at least two arguments, but only one was provided. Destination could not be determined")
}

/// What a node turns into: a stage start or an instruction.
pub(crate) enum Parsed {
    From(From),
    Instruction(Instruction),
}

/// Types one parser node (BuildKit's `ParseInstruction`); errors carry the
/// node's lines.
pub(crate) fn parse_node(node: &Node) -> Result<Parsed, ParseError> {
    let err = |m: String| ParseError::instruction(m, node.start_line, node.end_line);
    let args = node.args();
    let mut flags = BFlags::new(&node.flags);
    let lower = node.value.to_lowercase();
    let kind = match lower.as_str() {
        "env" => {
            flags.parse().map_err(err)?;
            InstructionKind::Env(parse_kvps(&args, "ENV").map_err(err)?)
        }
        "maintainer" => {
            if args.len() != 1 {
                return Err(err(err_exactly_one("MAINTAINER")));
            }
            flags.parse().map_err(err)?;
            InstructionKind::Maintainer(args[0].clone())
        }
        "label" => {
            flags.parse().map_err(err)?;
            InstructionKind::Label(parse_kvps(&args, "LABEL").map_err(err)?)
        }
        "add" => {
            if args.len() < 2 {
                return Err(err(err_no_destination("ADD")));
            }
            flags.add("chown", FlagType::Str, "");
            flags.add("chmod", FlagType::Str, "");
            flags.add("link", FlagType::Bool, "false");
            flags.add("keep-git-dir", FlagType::Bool, "false");
            flags.add("checksum", FlagType::Str, "");
            flags.add("unpack", FlagType::Bool, "false");
            flags.add("exclude", FlagType::Strings, "");
            flags.parse().map_err(err)?;
            let paths = parse_sources_and_dest(node, &args, "ADD").map_err(err)?;
            InstructionKind::Add(Add {
                paths,
                chown: flags.string("chown"),
                chmod: flags.string("chmod"),
                link: flags.is_true("link"),
                keep_git_dir: flags.used_bool("keep-git-dir"),
                checksum: flags.string("checksum"),
                unpack: flags.used_bool("unpack"),
                exclude: flags.strings("exclude"),
            })
        }
        "copy" => {
            if args.len() < 2 {
                return Err(err(err_no_destination("COPY")));
            }
            flags.add("chown", FlagType::Str, "");
            flags.add("from", FlagType::Str, "");
            flags.add("chmod", FlagType::Str, "");
            flags.add("link", FlagType::Bool, "false");
            flags.add("exclude", FlagType::Strings, "");
            flags.add("parents", FlagType::Bool, "false");
            flags.parse().map_err(err)?;
            let paths = parse_sources_and_dest(node, &args, "COPY").map_err(err)?;
            InstructionKind::Copy(Copy {
                paths,
                from: flags.string("from"),
                chown: flags.string("chown"),
                chmod: flags.string("chmod"),
                link: flags.is_true("link"),
                exclude: flags.strings("exclude"),
                parents: flags.is_true("parents"),
            })
        }
        "from" => {
            let name = parse_build_stage_name(&args).map_err(err)?;
            flags.add("platform", FlagType::Str, "");
            flags.parse().map_err(err)?;
            let platform = flags.string("platform");
            return Ok(Parsed::From(From {
                image: args[0].clone(),
                name,
                platform: (!platform.is_empty()).then_some(platform),
            }));
        }
        "onbuild" => {
            if args.is_empty() {
                return Err(err(err_at_least_one("ONBUILD")));
            }
            flags.parse().map_err(err)?;
            let trigger = args[0].trim().to_uppercase();
            match trigger.as_str() {
                "ONBUILD" => {
                    return Err(err(
                        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()
                    ))
                }
                "MAINTAINER" | "FROM" => {
                    return Err(err(format!(
                        "{trigger} isn't allowed as an ONBUILD trigger"
                    )))
                }
                _ => {}
            }
            let mut expression = strip_onbuild_prefix(&node.original);
            for h in &node.heredocs {
                expression.push('\n');
                expression.push_str(&h.content);
                expression.push_str(&h.name);
            }
            let Some(sub) = &node.sub else {
                return Err(err(err_at_least_one("ONBUILD")));
            };
            let mut sub_node = (**sub).clone();
            sub_node.heredocs = node.heredocs.clone();
            sub_node.start_line = node.start_line;
            sub_node.end_line = node.end_line;
            let trigger = match parse_node(&sub_node) {
                Ok(Parsed::Instruction(i)) => Ok(Box::new(i)),
                Ok(Parsed::From(_)) => Err(err("FROM isn't allowed as an ONBUILD trigger".into())),
                Err(e) => Err(e),
            };
            InstructionKind::Onbuild(Onbuild {
                expression,
                trigger,
            })
        }
        "workdir" => {
            if args.len() != 1 {
                return Err(err(err_exactly_one("WORKDIR")));
            }
            flags.parse().map_err(err)?;
            InstructionKind::Workdir(args[0].clone())
        }
        "run" => {
            flags.add("device", FlagType::Strings, "");
            flags.add("mount", FlagType::Strings, "");
            flags.add("network", FlagType::Str, "default");
            flags.add("security", FlagType::Str, "sandbox");
            flags.parse().map_err(err)?;
            let mut run = Run {
                cmd: shell_dependent(node, &args),
                flags_used: flags.used(),
                ..Run::default()
            };
            for d in flags.strings("device") {
                run.devices.push(parse_device(&d).map_err(err)?);
            }
            for spec in flags.strings("mount") {
                let m = parse_mount(&spec, Expansion::Deferred).map_err(err)?;
                run.mount_froms.push(m.from);
                run.mount_specs.push(spec);
            }
            run.network = match flags.string("network").as_str() {
                "default" => NetworkMode::Default,
                "none" => NetworkMode::None,
                "host" => NetworkMode::Host,
                other => return Err(err(format!("invalid network mode {}", quote(other)))),
            };
            run.security = match flags.string("security").as_str() {
                "sandbox" => Security::Sandbox,
                "insecure" => Security::Insecure,
                other => return Err(err(format!("security {} is not valid", quote(other)))),
            };
            InstructionKind::Run(run)
        }
        "cmd" => {
            flags.parse().map_err(err)?;
            InstructionKind::Cmd(shell_dependent(node, &args))
        }
        "entrypoint" => {
            flags.parse().map_err(err)?;
            InstructionKind::Entrypoint(shell_dependent(node, &args))
        }
        "healthcheck" => {
            InstructionKind::Healthcheck(parse_healthcheck(node, &args, &mut flags).map_err(err)?)
        }
        "expose" => {
            if args.is_empty() {
                return Err(err(err_at_least_one("EXPOSE")));
            }
            flags.parse().map_err(err)?;
            let mut ports = args.clone();
            ports.sort();
            InstructionKind::Expose(ports)
        }
        "user" => {
            if args.len() != 1 {
                return Err(err(err_exactly_one("USER")));
            }
            flags.parse().map_err(err)?;
            InstructionKind::User(args[0].clone())
        }
        "volume" => {
            if args.is_empty() {
                return Err(err(err_at_least_one("VOLUME")));
            }
            flags.parse().map_err(err)?;
            let mut vols = Vec::new();
            for v in &args {
                let v = v.trim();
                if v.is_empty() {
                    return Err(err("VOLUME specified can not be an empty string".into()));
                }
                vols.push(v.to_string());
            }
            InstructionKind::Volume(vols)
        }
        "stopsignal" => {
            if args.len() != 1 {
                return Err(err(err_exactly_one("STOPSIGNAL")));
            }
            InstructionKind::StopSignal(args[0].clone())
        }
        "arg" => {
            if args.is_empty() {
                return Err(err(err_at_least_one("ARG")));
            }
            let mut defs = Vec::new();
            for a in &args {
                let (key, value) = match a.split_once('=') {
                    Some((k, v)) => {
                        if k.is_empty() {
                            return Err(err("ARG names can not be blank".into()));
                        }
                        (k.to_string(), Some(v.to_string()))
                    }
                    None => (a.clone(), None),
                };
                let doc_comment = doc_comment(&node.comments, &key);
                defs.push(ArgDef {
                    key,
                    value,
                    doc_comment,
                });
            }
            InstructionKind::Arg(defs)
        }
        "shell" => {
            flags.parse().map_err(err)?;
            let shell = handle_json_args(&args, node.json);
            if shell.is_empty() {
                return Err(err(err_at_least_one("SHELL")));
            }
            if !node.json {
                return Err(err("SHELL requires the arguments to be in JSON form".into()));
            }
            InstructionKind::Shell(shell)
        }
        _ => {
            let msg = with_suggestion(
                format!("unknown instruction: {}", node.value),
                &node.value,
                INSTRUCTIONS,
                false,
            );
            return Err(ParseError::unknown(msg, node.start_line, node.end_line));
        }
    };
    Ok(Parsed::Instruction(Instruction {
        kind,
        keyword: node.value.clone(),
        original: node.original.trim().to_string(),
        line: node.start_line,
        end_line: node.end_line,
        comments: node.comments.clone(),
    }))
}

fn strip_onbuild_prefix(original: &str) -> String {
    // `(?i)^\s*ONBUILD\s*`
    let s = original.trim_start_matches(['\t', '\n', '\x0c', '\r', ' ']);
    if s.len() >= 7 && s[..7].eq_ignore_ascii_case("onbuild") {
        return s[7..]
            .trim_start_matches(['\t', '\n', '\x0c', '\r', ' '])
            .to_string();
    }
    original.to_string()
}

fn doc_comment(comments: &[String], name: &str) -> String {
    if name.is_empty() {
        return String::new();
    }
    let prefix = format!("{name} ");
    comments
        .iter()
        .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
        .unwrap_or_default()
}

fn parse_kvps(args: &[String], cmd: &str) -> Result<Vec<KeyValue>, String> {
    if args.is_empty() {
        return Err(err_at_least_one(cmd));
    }
    if !args.chunks_exact(3).remainder().is_empty() {
        return Err(format!("Bad input to {cmd}, too many arguments"));
    }
    let mut out = Vec::new();
    for c in args.chunks(3) {
        if c[0].is_empty() {
            return Err(format!("{cmd} names can not be blank"));
        }
        out.push(KeyValue {
            key: c[0].clone(),
            value: c[1].clone(),
            legacy: c[2].is_empty(),
        });
    }
    Ok(out)
}

fn parse_sources_and_dest(
    node: &Node,
    args: &[String],
    cmd: &str,
) -> Result<SourcesAndDest, String> {
    let (srcs, dest) = args.split_at(args.len() - 1);
    let dest = dest[0].clone();
    if matches!(parse_heredoc(&dest), Ok(Some(_))) {
        return Err(format!("{cmd} cannot accept a heredoc as a destination"));
    }
    let mut out = SourcesAndDest {
        dest,
        ..SourcesAndDest::default()
    };
    for src in srcs {
        match parse_heredoc(src) {
            Ok(Some(h)) => {
                let body = node
                    .heredocs
                    .iter()
                    .rev()
                    .find(|d| d.name == h.name)
                    .map(|d| d.content.clone())
                    .unwrap_or_default();
                let data = if h.chomp {
                    chomp_heredoc_content(&body)
                } else {
                    body
                };
                out.contents.push(SourceContent {
                    path: h.name,
                    data,
                    expand: h.expand,
                });
            }
            _ => out.sources.push(src.clone()),
        }
    }
    Ok(out)
}

fn handle_json_args(args: &[String], json: bool) -> Vec<String> {
    if args.is_empty() {
        return Vec::new();
    }
    if json {
        return args.to_vec();
    }
    vec![args.join(" ")]
}

fn shell_dependent(node: &Node, args: &[String]) -> CommandLine {
    CommandLine {
        args: handle_json_args(args, node.json),
        prepend_shell: !node.json,
        files: node
            .heredocs
            .iter()
            .map(|h| InlineFile {
                name: h.name.clone(),
                data: h.content.clone(),
                chomp: h.chomp,
            })
            .collect(),
    }
}

fn parse_build_stage_name(args: &[String]) -> Result<Option<String>, String> {
    if args.len() == 3 && args[1].eq_ignore_ascii_case("as") {
        let name = args[2].to_lowercase();
        let mut chars = name.chars();
        let valid = matches!(chars.next(), Some('a'..='z'))
            && chars.all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
            });
        if !valid {
            return Err(format!(
                "invalid name for build stage: {}, name can't start with a number or contain symbols",
                quote(&args[2])
            ));
        }
        return Ok(Some(name));
    }
    if args.len() != 1 {
        return Err("FROM requires either one or three arguments".into());
    }
    Ok(None)
}

fn parse_opt_interval(name: &str, value: &str) -> Result<Duration, String> {
    if value.is_empty() {
        return Ok(Duration::ZERO);
    }
    let d = parse_duration(value)?;
    if d == 0 {
        return Ok(Duration::ZERO);
    }
    if d < 1_000_000 {
        return Err(format!("Interval {} cannot be less than 1ms", quote(name)));
    }
    Ok(Duration::from_nanos(d as u64))
}

fn parse_healthcheck(
    node: &Node,
    args: &[String],
    flags: &mut BFlags<'_>,
) -> Result<Healthcheck, String> {
    if args.is_empty() {
        return Err(err_at_least_one("HEALTHCHECK"));
    }
    let typ = args[0].to_uppercase();
    let rest = &args[1..];
    if typ == "NONE" {
        if !rest.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        return Ok(Healthcheck {
            test: vec![typ],
            ..Healthcheck::default()
        });
    }
    flags.add("interval", FlagType::Str, "");
    flags.add("timeout", FlagType::Str, "");
    flags.add("start-period", FlagType::Str, "");
    flags.add("start-interval", FlagType::Str, "");
    flags.add("retries", FlagType::Str, "");
    flags.parse()?;
    let mut hc = Healthcheck::default();
    if typ != "CMD" {
        return Err(format!(
            "Unknown type {} in HEALTHCHECK (try CMD)",
            quote(&typ)
        ));
    }
    let cmd = handle_json_args(rest, node.json);
    if cmd.is_empty() {
        return Err("Missing command after HEALTHCHECK CMD".into());
    }
    let test_type = if node.json { "CMD" } else { "CMD-SHELL" };
    hc.test = std::iter::once(test_type.to_string()).chain(cmd).collect();
    hc.interval = parse_opt_interval("interval", &flags.string("interval"))?;
    hc.timeout = parse_opt_interval("timeout", &flags.string("timeout"))?;
    hc.start_period = parse_opt_interval("start-period", &flags.string("start-period"))?;
    hc.start_interval = parse_opt_interval("start-interval", &flags.string("start-interval"))?;
    let retries = flags.string("retries");
    if !retries.is_empty() {
        let r = parse_int(&retries, 32).map_err(|e| e.message("ParseInt", &retries))?;
        if r < 0 {
            return Err(format!("--retries cannot be negative ({r})"));
        }
        hc.retries = r as i32;
    }
    Ok(hc)
}
