//! Loading a compose project: finding the files (`-f`, `COMPOSE_FILE`,
//! the default names in the working directory or a parent, plus the
//! override file), the environment (process env over `.env` /
//! `--env-file`), the project name (flag, then `COMPOSE_PROJECT_NAME`,
//! then `name:`, then the directory), then per file: parse, interpolate,
//! validate against the schema, canonicalise, resolve `extends`, merge;
//! then defaults, path resolution, normalisation (default network,
//! implicit dependencies, resource names, `env_file`), typing, profiles
//! and consistency checks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::canonical::{canonicalize, resolve_paths};
use crate::dotenv::read_env_file;
use crate::error::{ComposeError, Result};
use crate::interpolate::interpolate_document;
use crate::merge::{merge_documents, merge_service};
use crate::model::{from_canonical, FileObject, Network, Project, Service, Volume};
use crate::yaml::{parse_documents, Document};

/// Compose file names looked for, in order of preference.
pub const DEFAULT_FILE_NAMES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

/// Override file names looked for beside the default file, in order of preference.
pub const DEFAULT_OVERRIDE_FILE_NAMES: [&str; 4] = [
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

/// What `load` needs to know; the fields mirror compose's global flags.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-f` files, in order (`-` reads [`LoadOptions::stdin`]). Empty: use
    /// `COMPOSE_FILE`, else the default names.
    pub files: Vec<PathBuf>,
    /// `--project-directory`; default: the directory of the first file.
    pub project_directory: Option<PathBuf>,
    /// Directory relative paths on the command line are resolved against,
    /// and where the search for default files starts.
    pub cwd: PathBuf,
    /// `-p`.
    pub project_name: Option<String>,
    /// The process environment (it takes precedence over `.env`).
    pub environment: BTreeMap<String, String>,
    /// `--env-file`; default: `.env` in the project directory when present.
    pub env_files: Vec<PathBuf>,
    /// `--profile`; empty: `COMPOSE_PROFILES`.
    pub profiles: Vec<String>,
    /// Content of the `-` file.
    pub stdin: Option<String>,
}

impl LoadOptions {
    /// Options for a process: its current directory and environment.
    pub fn from_process() -> Result<Self> {
        let cwd = std::env::current_dir().map_err(|source| ComposeError::Io {
            path: PathBuf::from("."),
            source,
        })?;
        Ok(LoadOptions {
            cwd,
            environment: std::env::vars().collect(),
            ..Default::default()
        })
    }
}

/// Compose's normalisation of a project name: lowercase, only
/// `[a-z0-9_-]` kept, leading `_` and `-` dropped.
pub fn normalize_project_name(name: &str) -> String {
    let kept: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    kept.trim_start_matches(['_', '-']).to_string()
}

fn check_project_name(name: &str) -> Result<String> {
    if name.is_empty() || normalize_project_name(name) != name {
        return Err(ComposeError::ProjectName(name.to_string()));
    }
    Ok(name.to_string())
}

fn absolute_from(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// Adds the variables of an env file to `env` without overriding any.
fn apply_env_file(env: &mut BTreeMap<String, String>, path: &Path) -> Result<()> {
    let mut vars = BTreeMap::new();
    let current = env.clone();
    let lookup = move |k: &str| current.get(k).cloned();
    read_env_file(path, &lookup, &mut vars)?;
    for (k, v) in vars {
        env.entry(k).or_insert(v);
    }
    Ok(())
}

/// Loads `.env` from `dir` when it exists and is a file.
fn apply_default_dotenv(env: &mut BTreeMap<String, String>, dir: &Path) -> Result<()> {
    let path = dir.join(".env");
    if path.is_file() {
        apply_env_file(env, &path)?;
    }
    Ok(())
}

fn find_default_files(start: &Path) -> Result<Vec<PathBuf>> {
    let mut dir = Some(start);
    while let Some(d) = dir {
        if let Some(name) = DEFAULT_FILE_NAMES.iter().find(|n| d.join(n).is_file()) {
            let mut files = vec![d.join(name)];
            if let Some(o) = DEFAULT_OVERRIDE_FILE_NAMES
                .iter()
                .find(|n| d.join(n).is_file())
            {
                files.push(d.join(o));
            }
            return Ok(files);
        }
        dir = d.parent();
    }
    Err(ComposeError::NoConfigFile {
        dir: start.to_path_buf(),
        candidates: DEFAULT_FILE_NAMES.join(", "),
    })
}

/// A compose file read from disk (or stdin).
struct SourceFile {
    /// Absolute path (or `-`).
    path: PathBuf,
    docs: Vec<Document>,
}

fn read_source(path: &Path, stdin: Option<&str>) -> Result<SourceFile> {
    let text = if path == Path::new("-") {
        stdin.unwrap_or_default().to_string()
    } else {
        std::fs::read_to_string(path).map_err(|source| ComposeError::Io {
            path: path.to_path_buf(),
            source,
        })?
    };
    let docs = parse_documents(&text, &path.display().to_string())?;
    Ok(SourceFile {
        path: path.to_path_buf(),
        docs,
    })
}

/// State shared by the per-file steps.
struct Ctx<'a> {
    env: &'a BTreeMap<String, String>,
    home: Option<String>,
    warnings: Vec<String>,
}

impl Ctx<'_> {
    /// Interpolates, validates and canonicalises one document.
    fn prepare(&mut self, doc: &mut Document, file: &Path) -> Result<()> {
        let env = self.env;
        let lookup = |k: &str| env.get(k).cloned();
        let mut unset = Vec::new();
        interpolate_document(&mut doc.value, &lookup, &mut unset)?;
        for v in unset {
            let w = format!("The {v:?} variable is not set. Defaulting to a blank string.");
            if !self.warnings.contains(&w) {
                self.warnings.push(w);
            }
        }
        crate::schema::validate(&doc.value).map_err(|message| ComposeError::Schema {
            file: file.display().to_string(),
            message,
        })?;
        if let Value::Object(m) = &mut doc.value {
            if m.contains_key("include") {
                return Err(ComposeError::Invalid(format!(
                    "{}: `include` is not supported yet; merge the files with -f instead",
                    file.display()
                )));
            }
            if m.shift_remove("version").is_some() {
                self.warnings.push(format!(
                    "{}: the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion",
                    file.display()
                ));
            }
        }
        canonicalize(&mut doc.value)
    }

    /// Loads the services of a file named by `extends.file`, with paths
    /// resolved against that file's directory.
    fn load_extends_file(&mut self, file: &Path) -> Result<Map<String, Value>> {
        let src = read_source(file, None)?;
        let mut merged = Value::Object(Map::new());
        for mut doc in src.docs {
            self.prepare(&mut doc, file)?;
            merged = merge_documents(merged, doc.value, &doc.resets, &doc.overrides);
        }
        let dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
        resolve_paths(&mut merged, &dir, self.home.as_deref());
        match merged.get("services") {
            Some(Value::Object(s)) => Ok(s.clone()),
            _ => Ok(Map::new()),
        }
    }

    /// Replaces every service having `extends` by the merge of its base and
    /// itself. `file` is the file the services come from.
    fn apply_extends(&mut self, services: &mut Map<String, Value>, file: &Path) -> Result<()> {
        let names: Vec<String> = services.keys().cloned().collect();
        for name in names {
            let mut stack = Vec::new();
            let resolved = self.extend_one(&name, services, file, &mut stack)?;
            services.insert(name, resolved);
        }
        Ok(())
    }

    fn extend_one(
        &mut self,
        name: &str,
        services: &Map<String, Value>,
        file: &Path,
        stack: &mut Vec<(PathBuf, String)>,
    ) -> Result<Value> {
        let Some(svc) = services.get(name).cloned() else {
            return Err(ComposeError::Invalid(format!(
                "cannot extend service in {}: service {name:?} not found",
                file.display()
            )));
        };
        let Some(ext) = svc.get("extends").cloned() else {
            return Ok(svc);
        };
        let key = (file.to_path_buf(), name.to_string());
        if stack.contains(&key) {
            let mut lines = vec!["Circular reference:".to_string()];
            for (i, (f, s)) in stack.iter().chain(std::iter::once(&key)).enumerate() {
                let prefix = if i == 0 { "" } else { "extends " };
                lines.push(format!("  {prefix}{s} in {}", f.display()));
            }
            return Err(ComposeError::Invalid(lines.join("\n")));
        }
        stack.push(key);
        let base_name = ext
            .get("service")
            .and_then(Value::as_str)
            .ok_or_else(|| ComposeError::Invalid(format!("extends.{name}.service is required")))?
            .to_string();
        let base = match ext.get("file").and_then(Value::as_str) {
            Some(other) => {
                let other_path =
                    absolute_from(file.parent().unwrap_or(Path::new("/")), Path::new(other));
                let other_services = self.load_extends_file(&other_path)?;
                if !other_services.contains_key(&base_name) {
                    return Err(ComposeError::Invalid(format!(
                        "cannot extend service {name:?} in {}: service {base_name:?} not found in {}",
                        file.display(),
                        other_path.display()
                    )));
                }
                self.extend_one(&base_name, &other_services, &other_path, stack)?
            }
            None => {
                if !services.contains_key(&base_name) {
                    return Err(ComposeError::Invalid(format!(
                        "cannot extend service {name:?} in {}: service {base_name:?} not found",
                        file.display()
                    )));
                }
                self.extend_one(&base_name, services, file, stack)?
            }
        };
        stack.pop();
        let mut merged = merge_service(base, svc);
        if let Value::Object(m) = &mut merged {
            m.shift_remove("extends");
        }
        Ok(merged)
    }
}

/// Loads, merges, validates and normalises a compose project.
pub fn load(options: LoadOptions) -> Result<Project> {
    let cwd = options.cwd.clone();
    let mut env = options.environment.clone();

    // `.env` (or --env-file) next to where compose runs, before the files
    // are known: it may set COMPOSE_FILE, COMPOSE_PROFILES...
    let explicit_env_files: Vec<PathBuf> = options
        .env_files
        .iter()
        .map(|p| absolute_from(&cwd, p))
        .collect();
    let first_dir = options
        .project_directory
        .as_ref()
        .map(|d| absolute_from(&cwd, d))
        .unwrap_or_else(|| cwd.clone());
    if explicit_env_files.is_empty() {
        apply_default_dotenv(&mut env, &first_dir)?;
    } else {
        for f in &explicit_env_files {
            apply_env_file(&mut env, f)?;
        }
    }

    let files: Vec<PathBuf> = if !options.files.is_empty() {
        options
            .files
            .iter()
            .map(|f| {
                if f == Path::new("-") {
                    f.clone()
                } else {
                    absolute_from(&cwd, f)
                }
            })
            .collect()
    } else if let Some(list) = env.get("COMPOSE_FILE").filter(|s| !s.is_empty()) {
        let sep = env
            .get("COMPOSE_PATH_SEPARATOR")
            .filter(|s| !s.is_empty())
            .cloned()
            .unwrap_or_else(|| ":".into());
        list.split(sep.as_str())
            .filter(|s| !s.is_empty())
            .map(|f| absolute_from(&cwd, Path::new(f)))
            .collect()
    } else {
        find_default_files(&first_dir)?
    };

    let working_dir = match &options.project_directory {
        Some(d) => absolute_from(&cwd, d),
        None => match files.first() {
            Some(f) if f != Path::new("-") => f.parent().unwrap_or(Path::new("/")).to_path_buf(),
            _ => cwd.clone(),
        },
    };
    if explicit_env_files.is_empty() && working_dir != first_dir {
        apply_default_dotenv(&mut env, &working_dir)?;
    }

    let profiles: Vec<String> = if options.profiles.is_empty() {
        env.get("COMPOSE_PROFILES")
            .map(|p| {
                p.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    } else {
        options.profiles.clone()
    };

    let mut sources = Vec::new();
    for f in &files {
        sources.push(read_source(f, options.stdin.as_deref())?);
    }

    // Project name: -p > COMPOSE_PROJECT_NAME > `name:` > directory.
    let name = if let Some(n) = options.project_name.as_deref().filter(|n| !n.is_empty()) {
        check_project_name(n)?
    } else if let Some(n) = env.get("COMPOSE_PROJECT_NAME").filter(|n| !n.is_empty()) {
        check_project_name(n)?
    } else {
        let mut from_yaml = None;
        for src in &sources {
            for doc in &src.docs {
                if let Some(Value::String(n)) = doc.value.get("name") {
                    let lookup = |k: &str| env.get(k).cloned();
                    let n = crate::interpolate::substitute(n, &lookup, &mut Vec::new()).map_err(
                        |e| {
                            ComposeError::Interpolation(format!(
                                "error while interpolating name: {e}"
                            ))
                        },
                    )?;
                    from_yaml = Some(normalize_project_name(&n));
                }
            }
        }
        match from_yaml.filter(|n| !n.is_empty()) {
            Some(n) => n,
            None => {
                let base = working_dir
                    .file_name()
                    .map(|b| b.to_string_lossy().to_string())
                    .unwrap_or_default();
                normalize_project_name(&base)
            }
        }
    };
    if name.is_empty() {
        return Err(ComposeError::Invalid(
            "project name must not be empty: use -p or COMPOSE_PROJECT_NAME".into(),
        ));
    }
    env.insert("COMPOSE_PROJECT_NAME".into(), name.clone());

    let home = env
        .get("HOME")
        .cloned()
        .or_else(|| std::env::var("HOME").ok());
    let mut ctx = Ctx {
        env: &env,
        home,
        warnings: Vec::new(),
    };
    let mut dict = Value::Object(Map::new());
    let mut raw_documents = Vec::new();
    for src in sources {
        for mut doc in src.docs {
            raw_documents.push(crate::v1::RawDocument {
                file: src.path.clone(),
                value: doc.value.clone(),
            });
            ctx.prepare(&mut doc, &src.path)?;
            if let Some(Value::Object(services)) = doc.value.get_mut("services") {
                let mut s = std::mem::take(services);
                let file = if src.path == Path::new("-") {
                    working_dir.join("-")
                } else {
                    src.path.clone()
                };
                ctx.apply_extends(&mut s, &file)?;
                *services = s;
            }
            dict = merge_documents(dict, doc.value, &doc.resets, &doc.overrides);
        }
    }
    let warnings = std::mem::take(&mut ctx.warnings);
    let home = ctx.home.clone();
    drop(ctx);

    if dict.as_object().is_none_or(Map::is_empty) {
        return Err(ComposeError::Invalid("empty compose file".into()));
    }
    if let Value::Object(m) = &mut dict {
        m.shift_remove("name");
    }
    set_defaults(&mut dict);
    resolve_paths(&mut dict, &working_dir, home.as_deref());
    normalize(&mut dict, &name);

    let mut project = to_project(dict, &env)?;
    project.name = name;
    project.working_dir = working_dir;
    project.config_files = files;
    project.environment = env;
    project.warnings = warnings;
    project.raw_documents = raw_documents;
    project.apply_profiles(profiles);
    check_consistency(&project)?;
    Ok(project)
}

/// Defaults compose sets before validation: build context/dockerfile,
/// secret targets, pull policy alias.
fn set_defaults(dict: &mut Value) {
    let Some(Value::Object(services)) = dict.get_mut("services") else {
        return;
    };
    for svc in services.values_mut() {
        if let Some(Value::Object(b)) = svc.get_mut("build") {
            b.entry("context").or_insert(json!("."));
            if !b.contains_key("dockerfile_inline") {
                b.entry("dockerfile").or_insert(json!("Dockerfile"));
            }
        }
        if let Some(Value::Array(secrets)) = svc.get_mut("secrets") {
            for s in secrets {
                if let Value::Object(m) = s {
                    if !m.contains_key("target") {
                        let src = m.get("source").and_then(Value::as_str).unwrap_or("");
                        let t = format!("/run/secrets/{src}");
                        m.insert("target".into(), json!(t));
                    }
                }
            }
        }
    }
}

/// compose-go's `Normalize`: default network, implicit dependencies,
/// resource names.
fn normalize(dict: &mut Value, project: &str) {
    let Value::Object(top) = dict else {
        return;
    };
    let mut uses_default = false;
    if let Some(Value::Object(services)) = top.get_mut("services") {
        for svc in services.values_mut() {
            let Value::Object(s) = svc else { continue };
            if !s.contains_key("network_mode") {
                match s.get("networks") {
                    Some(Value::Object(n)) if !n.is_empty() => {
                        if n.contains_key("default") {
                            uses_default = true;
                        }
                    }
                    _ => {
                        s.insert("networks".into(), json!({"default": null}));
                        uses_default = true;
                    }
                }
            }
            let mut deps = match s.get("depends_on") {
                Some(Value::Object(d)) => d.clone(),
                _ => Map::new(),
            };
            let mut implicit = |svc: &str, restart: bool| {
                if !deps.contains_key(svc) {
                    deps.insert(
                        svc.to_string(),
                        json!({"condition": "service_started", "restart": restart, "required": true}),
                    );
                }
            };
            if let Some(Value::Array(links)) = s.get("links") {
                for l in links.iter().filter_map(Value::as_str) {
                    implicit(l.split(':').next().unwrap_or(l), true);
                }
            }
            for ns in ["network_mode", "ipc", "pid", "uts", "cgroup"] {
                if let Some(shared) = s
                    .get(ns)
                    .and_then(Value::as_str)
                    .and_then(|v| v.strip_prefix("service:"))
                {
                    implicit(shared, true);
                }
            }
            if let Some(Value::Array(from)) = s.get("volumes_from") {
                for v in from.iter().filter_map(Value::as_str) {
                    if !v.starts_with("container:") {
                        implicit(v.split(':').next().unwrap_or(v), false);
                    }
                }
            }
            if !deps.is_empty() {
                s.insert("depends_on".into(), Value::Object(deps));
            }
        }
    }
    if uses_default {
        let nets = top
            .entry("networks")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(n) = nets {
            n.entry("default").or_insert(json!({}));
        }
    }
    for kind in ["networks", "volumes", "secrets", "configs"] {
        if let Some(Value::Object(items)) = top.get_mut(kind) {
            for (key, item) in items.iter_mut() {
                if item.is_null() {
                    *item = json!({});
                }
                if let Value::Object(m) = item {
                    if m.get("name").is_none_or(Value::is_null) {
                        let external = m.get("external") == Some(&json!(true));
                        let n = if external {
                            key.clone()
                        } else {
                            format!("{project}_{key}")
                        };
                        m.insert("name".into(), json!(n));
                    }
                }
            }
        }
    }
}

fn resolve_service_environment(svc: &mut Service, env: &BTreeMap<String, String>) -> Result<()> {
    for (k, v) in svc.environment.iter_mut() {
        if v.is_none() {
            *v = env.get(k).cloned();
        }
    }
    if !svc.env_file.is_empty() {
        let mut from_files: BTreeMap<String, String> = BTreeMap::new();
        let service_env = svc.environment.clone();
        for f in &svc.env_file {
            let path = PathBuf::from(&f.path);
            if !path.exists() {
                if f.required {
                    return Err(ComposeError::Invalid(format!(
                        "env file {} not found: stat {}: no such file or directory",
                        f.path, f.path
                    )));
                }
                continue;
            }
            let lookup = |k: &str| {
                env.get(k)
                    .cloned()
                    .or_else(|| service_env.get(k).cloned().flatten())
            };
            match f.format.as_deref() {
                None | Some("") => read_env_file(&path, &lookup, &mut from_files)?,
                Some("raw") => read_raw_env_file(&path, &mut from_files)?,
                Some(other) => {
                    return Err(ComposeError::Invalid(format!(
                        "services.{}.env_file: unsupported env_file format {other:?}",
                        svc.name
                    )))
                }
            }
        }
        let mut merged: BTreeMap<String, Option<String>> =
            from_files.into_iter().map(|(k, v)| (k, Some(v))).collect();
        merged.extend(std::mem::take(&mut svc.environment));
        svc.environment = merged;
    }
    if let Some(b) = &mut svc.build {
        b.args = std::mem::take(&mut b.args)
            .into_iter()
            .filter_map(|(k, v)| match v {
                Some(v) => Some((k, Some(v))),
                None => env.get(&k).map(|e| (k, Some(e.clone()))),
            })
            .collect();
    }
    Ok(())
}

/// `format: raw` env files: `KEY=VALUE` lines taken literally (no quotes,
/// no interpolation); blank lines and `#` comments skipped.
fn read_raw_env_file(path: &Path, out: &mut BTreeMap<String, String>) -> Result<()> {
    let text = std::fs::read_to_string(path).map_err(|source| ComposeError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some((k, v)) => out.insert(k.trim().to_string(), v.to_string()),
            None => out.insert(line.trim().to_string(), String::new()),
        };
    }
    Ok(())
}

fn to_project(dict: Value, env: &BTreeMap<String, String>) -> Result<Project> {
    let Value::Object(top) = dict else {
        return Err(ComposeError::Invalid(
            "top-level object must be a mapping".into(),
        ));
    };
    let mut project = Project::default();
    for (key, value) in top {
        match key.as_str() {
            "services" => {
                if let Value::Object(services) = value {
                    for (name, v) in services {
                        let mut svc: Service = from_canonical(&format!("services.{name}"), v)?;
                        svc.name = name.clone();
                        resolve_service_environment(&mut svc, env)?;
                        project.services.insert(name, svc);
                    }
                }
            }
            "networks" => {
                if let Value::Object(items) = value {
                    for (k, v) in items {
                        let n: Network = from_canonical(&format!("networks.{k}"), v)?;
                        project.networks.insert(k, n);
                    }
                }
            }
            "volumes" => {
                if let Value::Object(items) = value {
                    for (k, v) in items {
                        let n: Volume = from_canonical(&format!("volumes.{k}"), v)?;
                        project.volumes.insert(k, n);
                    }
                }
            }
            "secrets" | "configs" => {
                if let Value::Object(items) = value {
                    for (k, v) in items {
                        let mut o: FileObject = from_canonical(&format!("{key}.{k}"), v)?;
                        if let Some(var) = &o.environment {
                            if let Some(val) = env.get(var) {
                                o.content = Some(val.clone());
                            }
                        }
                        if key == "secrets" {
                            project.secrets.insert(k, o);
                        } else {
                            project.configs.insert(k, o);
                        }
                    }
                }
            }
            k if k.starts_with("x-") => {
                project.extensions.insert(key, value);
            }
            _ => {}
        }
    }
    Ok(project)
}

impl Project {
    /// Splits services into active ones and [`Project::disabled_services`]
    /// for the given profiles (`*` activates all); services without
    /// profiles are always active.
    pub fn apply_profiles(&mut self, profiles: Vec<String>) {
        let mut all = std::mem::take(&mut self.services);
        all.append(&mut self.disabled_services);
        for (name, svc) in all {
            let active = svc.profiles.is_empty()
                || profiles
                    .iter()
                    .any(|p| p == "*" || svc.profiles.contains(p));
            if active {
                self.services.insert(name, svc);
            } else {
                self.disabled_services.insert(name, svc);
            }
        }
        self.profiles = profiles;
    }

    /// Activates services named on the command line even when their
    /// profiles are not active (as `docker compose up SERVICE` does), by
    /// activating their profiles too. Unknown names are an error.
    pub fn enable_services(&mut self, names: &[String]) -> Result<()> {
        let mut profiles = self.profiles.clone();
        for n in names {
            if self.services.contains_key(n) {
                continue;
            }
            match self.disabled_services.get(n) {
                Some(s) => profiles.extend(s.profiles.iter().cloned()),
                None => return Err(ComposeError::NoSuchService(n.clone())),
            }
        }
        let set: BTreeSet<String> = profiles.into_iter().collect();
        self.apply_profiles(set.into_iter().collect());
        check_consistency(self)
    }
}

fn invalid(msg: String) -> ComposeError {
    ComposeError::Invalid(format!("{msg}: invalid compose project"))
}

/// compose-go's `checkConsistency` on the active services.
pub(crate) fn check_consistency(p: &Project) -> Result<()> {
    for (name, s) in &p.services {
        if s.build.is_none() && s.image.as_deref().unwrap_or("").is_empty() {
            return Err(invalid(format!(
                "service {name:?} has neither an image nor a build context specified"
            )));
        }
        if let Some(b) = &s.build {
            if b.dockerfile.is_some() && b.dockerfile_inline.is_some() {
                return Err(invalid(format!(
                    "service {name:?} declares mutualy exclusive dockerfile and dockerfile_inline"
                )));
            }
        }
        if s.network_mode.is_some() && !s.networks.is_empty() {
            return Err(invalid(format!(
                "service {name} declares mutually exclusive `network_mode` and `networks`"
            )));
        }
        for net in s.networks.keys() {
            if !p.networks.contains_key(net) {
                return Err(invalid(format!(
                    "service {name:?} refers to undefined network {net}"
                )));
            }
        }
        if let Some(hc) = &s.healthcheck {
            if let Some(first) = hc.test.first() {
                if !matches!(first.as_str(), "CMD" | "CMD-SHELL" | "NONE") {
                    return Err(ComposeError::Invalid(format!(
                        "services.{name}.healthcheck.test must start either by \"CMD\", \"CMD-SHELL\" or \"NONE\""
                    )));
                }
            }
        }
        for (dep, cfg) in &s.depends_on {
            if p.services.contains_key(dep) {
                continue;
            }
            if p.disabled_services.contains_key(dep) && !cfg.required {
                continue;
            }
            return Err(invalid(format!(
                "service {name:?} depends on undefined service {dep:?}"
            )));
        }
        if let Some(shared) = s
            .network_mode
            .as_deref()
            .and_then(|m| m.strip_prefix("service:"))
        {
            if !p.services.contains_key(shared) {
                return Err(ComposeError::Invalid(format!(
                    "service {shared:?} not found for network_mode 'service:{shared}'"
                )));
            }
        }
        for v in &s.volumes {
            if v.kind == "volume" {
                if let Some(src) = v.source.as_deref().filter(|s| !s.is_empty()) {
                    if !p.volumes.contains_key(src) {
                        return Err(invalid(format!(
                            "service {name:?} refers to undefined volume {src}"
                        )));
                    }
                }
            }
        }
        for c in &s.configs {
            if !p.configs.contains_key(&c.source) {
                return Err(invalid(format!(
                    "service {name:?} refers to undefined config {}",
                    c.source
                )));
            }
        }
        for c in &s.secrets {
            if !p.secrets.contains_key(&c.source) {
                return Err(invalid(format!(
                    "service {name:?} refers to undefined secret {}",
                    c.source
                )));
            }
        }
        if let Some(b) = &s.build {
            for c in &b.secrets {
                if !p.secrets.contains_key(&c.source) {
                    return Err(invalid(format!(
                        "service {name:?} refers to undefined build secret {}",
                        c.source
                    )));
                }
            }
        }
        let replicas = s.deploy.as_ref().and_then(|d| d.replicas);
        if let (Some(scale), Some(r)) = (s.scale, replicas) {
            if scale != r {
                return Err(invalid(format!(
                    "services.{name}: can't set distinct values on 'scale' and 'deploy.replicas'"
                )));
            }
        }
        if s.scale.is_some_and(|x| x < 0) {
            return Err(ComposeError::Invalid(format!(
                "services.{name}.scale: must be greater than or equal to 0"
            )));
        }
        if replicas.is_some_and(|x| x < 0) {
            return Err(ComposeError::Invalid(format!(
                "services.{name}.deploy.replicas: must be greater than or equal to 0"
            )));
        }
        let limits = s.deploy.as_ref().and_then(|d| d.resources.limits.as_ref());
        if let (Some(c), Some(l)) = (s.cpus, limits.and_then(|l| l.cpus)) {
            if (c - l).abs() > f64::EPSILON {
                return Err(invalid(format!(
                    "services.{name}: can't set distinct values on 'cpus' and 'deploy.resources.limits.cpus'"
                )));
            }
        }
        if let (Some(m), Some(l)) = (s.mem_limit, limits.and_then(|l| l.memory)) {
            if m != l {
                return Err(invalid(format!(
                    "services.{name}: can't set distinct values on 'mem_limit' and 'deploy.resources.limits.memory'"
                )));
            }
        }
        if s.replicas() > 1 && s.container_name.is_some() {
            let attr = if s.scale.is_some() {
                "scale"
            } else {
                "deploy.replicas"
            };
            return Err(invalid(format!(
                "services.{name}: can't set container_name and {attr} as container name must be unique"
            )));
        }
        let mut mounts: BTreeMap<String, String> = BTreeMap::new();
        for (i, t) in s.tmpfs.iter().enumerate() {
            let loc = format!("services.{name}.tmpfs[{i}]");
            let path = t.split(':').next().unwrap_or(t).to_string();
            if let Some(prev) = mounts.get(&path) {
                return Err(ComposeError::Invalid(format!(
                    "{loc}: target {path} already mounted as {prev}"
                )));
            }
            mounts.insert(path, loc);
        }
        for (i, v) in s.volumes.iter().enumerate() {
            let loc = format!("services.{name}.volumes[{i}]");
            if let Some(prev) = mounts.get(&v.target) {
                return Err(ComposeError::Invalid(format!(
                    "{loc}: target {} already mounted as {prev}",
                    v.target
                )));
            }
            mounts.insert(v.target.clone(), loc);
        }
    }
    let mut container_names: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, s) in &p.services {
        if let Some(c) = s.container_name.as_deref() {
            if let Some(other) = container_names.insert(c, name) {
                return Err(ComposeError::Invalid(format!(
                    "services.{name}: container name {c:?} is already in use by service {other}"
                )));
            }
        }
    }
    for (kind, items) in [("secret", &p.secrets), ("config", &p.configs)] {
        for (name, o) in items {
            if o.external || o.driver.is_some() {
                continue;
            }
            let set = [
                o.file.is_some(),
                o.environment.is_some(),
                o.content.is_some() && o.environment.is_none(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if set == 0 {
                return Err(invalid(format!(
                    "{kind} {name:?} must declare either `file` or `environment`"
                )));
            }
        }
    }
    crate::graph::check_cycles(p)
}
