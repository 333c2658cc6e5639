//! Build arguments and environment scoping, following BuildKit's Dockerfile
//! frontend:
//!
//! * predefined platform arguments (`BUILDPLATFORM`, `TARGETARCH`, …,
//!   `TARGETSTAGE`) are global: usable in `FROM` and, inside a stage, after
//!   `ARG NAME` without a value;
//! * meta arguments (`ARG` before the first `FROM`) are evaluated in order
//!   with `--build-arg` overrides and are visible in `FROM` only, until a
//!   stage redeclares them;
//! * inside a stage an `ARG` takes, in order: the `--build-arg` value, its
//!   expanded default, or the global value; it then joins the environment
//!   used for expansion and for `RUN` (not the image config), and the last
//!   of `ENV`/`ARG` to set a name wins there;
//! * proxy arguments (`HTTP_PROXY`, …) reach `RUN` without being declared
//!   and never count as unused;
//! * [`unused_build_args`] words Docker's
//!   `[Warning] One or more build-args [foo] were not consumed`.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::BuildError;
use crate::golang::{path_join, quote};
use crate::instructions::{ArgDef, Instruction, InstructionKind};
use crate::shell_lex::{EnvGetter, Lex};

/// The `PATH` Docker puts in a stage whose image has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Build arguments that are allowed without an `ARG` and never reported as
/// unused (moby's `builtinAllowedBuildArgs`).
pub const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// An ordered environment: setting an existing key replaces it in place,
/// new keys go to the end (the image config's `Env` rules).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvList(Vec<(String, String)>);

impl EnvList {
    /// An empty list.
    pub fn new() -> Self {
        EnvList(Vec::new())
    }

    /// Reads `KEY=value` strings (a bare `KEY` gets an empty value).
    pub fn from_strings<S: AsRef<str>>(items: &[S]) -> Self {
        let mut e = EnvList::new();
        for item in items {
            let (k, v) = item.as_ref().split_once('=').unwrap_or((item.as_ref(), ""));
            e.set(k, v);
        }
        e
    }

    /// Sets `key` (replacing an existing entry in place).
    pub fn set(&mut self, key: &str, value: &str) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value.to_string(),
            None => self.0.push((key.to_string(), value.to_string())),
        }
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &str) {
        self.0.retain(|(k, _)| k != key);
    }

    /// Whether `key` is set.
    pub fn contains(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `KEY=value` strings, in order.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }
}

impl EnvGetter for EnvList {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    fn keys(&self) -> Vec<String> {
        self.0.iter().map(|(k, _)| k.clone()).collect()
    }
}

/// An OCI platform, for the predefined platform arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`, …
    pub architecture: String,
    /// `v7`, `v8`, … (may be empty).
    pub variant: String,
    /// OS version (Windows only, usually empty).
    pub os_version: String,
}

impl Platform {
    /// `linux/amd64` style platform, variant optional.
    pub fn new(os: &str, architecture: &str, variant: &str) -> Self {
        Platform {
            os: os.into(),
            architecture: architecture.into(),
            variant: variant.into(),
            os_version: String::new(),
        }
    }

    /// The platform this program runs on (`linux/amd64`, `linux/arm64`, …).
    pub fn host() -> Self {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => "arm",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            other => other,
        };
        let variant = if arch == "arm" { "v7" } else { "" };
        Platform::new(std::env::consts::OS, arch, variant)
    }

    /// Parses `os/arch[/variant]` (containerd's `platforms.Parse` for the
    /// common Linux spellings, normalising `x86_64`/`aarch64`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split('/').collect();
        if parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(format!("{}: invalid argument", quote(s)));
        }
        let norm_arch = |a: &str, v: &str| -> (String, String) {
            match a.to_lowercase().as_str() {
                "x86_64" | "x86-64" | "amd64" => (
                    "amd64".into(),
                    if v == "v1" { String::new() } else { v.into() },
                ),
                "aarch64" | "arm64" => (
                    "arm64".into(),
                    if v == "v8" { String::new() } else { v.into() },
                ),
                "armhf" => ("arm".into(), "v7".into()),
                "armel" => ("arm".into(), "v6".into()),
                "arm" => (
                    "arm".into(),
                    if v.is_empty() { "v7".into() } else { v.into() },
                ),
                "i386" => ("386".into(), v.into()),
                other => (other.into(), v.into()),
            }
        };
        match parts.as_slice() {
            [os] => Ok(Platform {
                os: os.to_lowercase(),
                ..Platform::host()
            }),
            [os, arch] => {
                let (a, v) = norm_arch(arch, "");
                Ok(Platform::new(&os.to_lowercase(), &a, &v))
            }
            [os, arch, variant] => {
                let (a, v) = norm_arch(arch, variant);
                Ok(Platform::new(&os.to_lowercase(), &a, &v))
            }
            _ => Err(format!("{}: invalid argument", quote(s))),
        }
    }

    /// containerd's `platforms.Format`: `linux/arm/v7`.
    pub fn format(&self) -> String {
        if self.os.is_empty() {
            return "unknown".into();
        }
        path_join(&[&self.os, &self.architecture, &self.variant])
    }

    /// containerd's `platforms.FormatAll` (adds the OS version).
    pub fn format_all(&self) -> String {
        if self.os.is_empty() {
            return "unknown".into();
        }
        let os = if self.os_version.is_empty() {
            self.os.clone()
        } else {
            format!("{}({})", self.os, self.os_version)
        };
        path_join(&[&os, &self.architecture, &self.variant])
    }
}

/// `--build-arg` values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildArgs(BTreeMap<String, String>);

impl BuildArgs {
    /// No build arguments.
    pub fn new() -> Self {
        BuildArgs::default()
    }

    /// From `name → value` pairs (callers drop `--build-arg NAME` entries
    /// whose variable is unset in the client environment).
    pub fn from_map(map: BTreeMap<String, String>) -> Self {
        BuildArgs(map)
    }

    /// Adds or replaces one argument.
    pub fn insert(&mut self, key: &str, value: &str) {
        self.0.insert(key.into(), value.into());
    }

    /// The value given for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// All names given.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// The proxy environment for `RUN`: for each proxy argument given (any
    /// case), both the upper- and lower-case variables, as BuildKit does.
    pub fn proxy_env(&self) -> Vec<String> {
        let mut http = None;
        let mut https = None;
        let mut ftp = None;
        let mut no = None;
        let mut all = None;
        for (k, v) in &self.0 {
            match k.to_lowercase().as_str() {
                "http_proxy" => http = Some(v),
                "https_proxy" => https = Some(v),
                "ftp_proxy" => ftp = Some(v),
                "no_proxy" => no = Some(v),
                "all_proxy" => all = Some(v),
                _ => {}
            }
        }
        let mut out = Vec::new();
        for (name, v) in [
            ("HTTP_PROXY", http),
            ("HTTPS_PROXY", https),
            ("FTP_PROXY", ftp),
            ("NO_PROXY", no),
            ("ALL_PROXY", all),
        ] {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                out.push(format!("{name}={v}"));
                out.push(format!("{}={v}", name.to_lowercase()));
            }
        }
        out
    }
}

/// The predefined global arguments (BuildKit's `defaultArgs`): build and
/// target platform parts and `TARGETSTAGE`, each overridable by a build arg
/// of the same name.
pub fn predefined_args(
    build: &Platform,
    target: &Platform,
    target_stage: &str,
    build_args: &BuildArgs,
) -> EnvList {
    let stage = if target_stage.is_empty() {
        "default"
    } else {
        target_stage
    };
    let pairs = [
        ("BUILDPLATFORM", build.format()),
        ("BUILDOS", build.os.clone()),
        ("BUILDOSVERSION", build.os_version.clone()),
        ("BUILDARCH", build.architecture.clone()),
        ("BUILDVARIANT", build.variant.clone()),
        ("TARGETPLATFORM", target.format_all()),
        ("TARGETOS", target.os.clone()),
        ("TARGETOSVERSION", target.os_version.clone()),
        ("TARGETARCH", target.architecture.clone()),
        ("TARGETVARIANT", target.variant.clone()),
        ("TARGETSTAGE", stage.to_string()),
    ];
    let mut env = EnvList::new();
    for (k, v) in pairs {
        let v = build_args.get(k).map(str::to_string).unwrap_or(v);
        env.set(k, &v);
    }
    env
}

/// Evaluates the meta arguments (BuildKit's `buildMetaArgs`): each takes
/// its build arg, else its default expanded with the globals so far; names
/// without either stay unset. Returns the global environment for `FROM`
/// lines and for `ARG NAME` inside stages.
pub fn eval_meta_args(
    meta_args: &[Instruction],
    predefined: EnvList,
    build_args: &BuildArgs,
    lex: &Lex,
) -> Result<EnvList, BuildError> {
    let mut args = predefined;
    for inst in meta_args {
        let InstructionKind::Arg(defs) = &inst.kind else {
            continue;
        };
        for def in defs {
            let value = match build_args.get(&def.key) {
                Some(v) => Some(v.to_string()),
                None => match &def.value {
                    Some(d) => Some(
                        lex.process_word(d, &args)
                            .map_err(|e| BuildError::new(e.to_string(), Some(inst.line)))?,
                    ),
                    None => None,
                },
            };
            if let Some(v) = value {
                args.set(&def.key, &v);
            }
        }
    }
    Ok(args)
}

/// The environment of one stage while it is being built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageScope {
    env: EnvList,
    image_env: EnvList,
    declared: Vec<(String, Option<String>)>,
}

impl StageScope {
    /// Starts a stage on an image whose config has `image_env`
    /// (`KEY=value` strings). A missing `PATH` gets Docker's default, in
    /// the image config too.
    pub fn new<S: AsRef<str>>(image_env: &[S]) -> Self {
        let mut image = EnvList::from_strings(image_env);
        if !image.contains("PATH") {
            image.set("PATH", DEFAULT_PATH);
        }
        StageScope {
            env: image.clone(),
            image_env: image,
            declared: Vec::new(),
        }
    }

    /// Starts a stage `FROM` another stage: it inherits that stage's
    /// environment and declared arguments.
    pub fn from_stage(parent: &StageScope) -> Self {
        parent.clone()
    }

    /// The environment for expanding this stage's instructions and for
    /// `RUN` (image env, `ENV`, declared `ARG`s).
    pub fn env(&self) -> &EnvList {
        &self.env
    }

    /// The environment that goes into the image config (no `ARG`s).
    pub fn image_env(&self) -> &EnvList {
        &self.image_env
    }

    /// Arguments declared in this stage so far, with their values.
    pub fn declared_args(&self) -> &[(String, Option<String>)] {
        &self.declared
    }

    /// Applies an expanded `ENV` instruction.
    pub fn apply_env(&mut self, pairs: &[(String, String)]) {
        for (k, v) in pairs {
            self.env.set(k, v);
            self.image_env.set(k, v);
        }
    }

    /// Declares one `ARG` (BuildKit's `dispatchArg`) and returns the value
    /// it ends up with. The build arg wins; else the default, expanded
    /// with the current environment; else the global value (meta or
    /// predefined argument); else the argument is declared without value.
    pub fn declare_arg(
        &mut self,
        def: &ArgDef,
        globals: &dyn EnvGetter,
        build_args: &BuildArgs,
        lex: &Lex,
    ) -> Result<Option<String>, BuildError> {
        let given = build_args.get(&def.key);
        let value = if let Some(v) = given {
            Some(v.to_string())
        } else if let Some(d) = &def.value {
            Some(
                lex.process_word(d, &self.env)
                    .map_err(|e| BuildError::new(e.to_string(), None))?,
            )
        } else {
            globals.get(&def.key).map(str::to_string)
        };
        if let Some(v) = &value {
            if !matches!(
                def.key.as_str(),
                "BUILDKIT_SBOM_SCAN_CONTEXT" | "BUILDKIT_SBOM_SCAN_STAGE"
            ) {
                self.env.set(&def.key, v);
            }
        }
        self.declared.push((def.key.clone(), value.clone()));
        Ok(value)
    }

    /// The process environment of a `RUN`: the stage environment followed
    /// by the proxy variables from the build args.
    pub fn run_env(&self, build_args: &BuildArgs) -> Vec<String> {
        let mut out = self.env.to_strings();
        out.extend(build_args.proxy_env());
        out
    }

    /// The image history text of a `RUN` (BuildKit's `runCommandString`):
    /// `|2 A=1 B=2 /bin/sh -c make` when arguments were declared.
    pub fn run_history(&self, argv: &[String]) -> String {
        let mut entries: Vec<(String, String)> = Vec::new();
        for (k, v) in &self.declared {
            let val = self
                .env
                .get(k)
                .map(str::to_string)
                .unwrap_or_else(|| v.clone().unwrap_or_default());
            match entries.iter_mut().find(|(ek, _)| ek == k) {
                Some(e) => e.1 = val,
                None => entries.push((k.clone(), val)),
            }
        }
        let mut parts: Vec<String> = Vec::new();
        if !entries.is_empty() {
            parts.push(format!("|{}", entries.len()));
            parts.extend(entries.into_iter().map(|(k, v)| format!("{k}={v}")));
        }
        parts.extend(argv.iter().cloned());
        parts.join(" ")
    }
}

/// Build args that no `ARG` of the meta section or of the built stages
/// declared, proxy arguments excepted, sorted.
pub fn unused_build_args<'a>(
    build_args: &BuildArgs,
    declared: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let declared: BTreeSet<&str> = declared.into_iter().collect();
    build_args
        .keys()
        .filter(|k| !declared.contains(k) && !PROXY_ARGS.contains(k))
        .map(str::to_string)
        .collect()
}

/// Docker's warning line for unused build args, or `None` when all were
/// used: `[Warning] One or more build-args [foo bar] were not consumed`.
pub fn unused_build_args_warning(unused: &[String]) -> Option<String> {
    if unused.is_empty() {
        return None;
    }
    Some(format!(
        "[Warning] One or more build-args [{}] were not consumed",
        unused.join(" ")
    ))
}
