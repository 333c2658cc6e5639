//! `RUN --mount=…` and `RUN --device=…` values, parsed like BuildKit's
//! `instructions/commands_runmount.go` and `commands_rundevice.go`: CSV
//! fields, `type=bind|cache|tmpfs|secret|ssh`, per-type validation and
//! defaults, with BuildKit's error texts.

use crate::golang::{
    csv_fields, parse_bool, parse_uint, path_base, path_clean, path_join, ram_in_bytes,
    with_suggestion,
};

/// The kind of a `RUN --mount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MountType {
    /// A read-only (by default) view of the context or another stage.
    #[default]
    Bind,
    /// A persistent cache directory.
    Cache,
    /// A fresh tmpfs.
    Tmpfs,
    /// A build secret file (or environment variable).
    Secret,
    /// The SSH agent socket.
    Ssh,
}

impl MountType {
    /// The Dockerfile spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        }
    }
}

/// `sharing=` of a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareMode {
    /// Concurrent writers share the directory (the default).
    Shared,
    /// Each writer gets its own copy.
    Private,
    /// Writers wait for each other.
    Locked,
}

/// One parsed `--mount` value. Empty strings mean "not given", as in
/// BuildKit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mount {
    /// `type=`.
    pub mount_type: MountType,
    /// `from=`: stage name or image.
    pub from: String,
    /// `source=`/`src=`.
    pub source: String,
    /// `target=`/`dst=`/`destination=`.
    pub target: String,
    /// `ro`/`readonly` (defaults: read-only for bind, secret and ssh).
    pub read_only: bool,
    /// `size=` of a tmpfs, in bytes (0: unlimited).
    pub size_limit: i64,
    /// `id=` (cache id, secret id or ssh id).
    pub cache_id: String,
    /// `sharing=`.
    pub sharing: Option<ShareMode>,
    /// `required` (secret and ssh only).
    pub required: bool,
    /// `env=`: expose a secret as this environment variable.
    pub env: Option<String>,
    /// `mode=` (octal).
    pub mode: Option<u32>,
    /// `uid=`.
    pub uid: Option<u32>,
    /// `gid=`.
    pub gid: Option<u32>,
}

const MOUNT_TYPES: &[&str] = &["bind", "cache", "tmpfs", "secret", "ssh"];
const SHARE_MODES: &[&str] = &["shared", "private", "locked"];
const MOUNT_KEYS: &[&str] = &[
    "type",
    "from",
    "source",
    "target",
    "readonly",
    "id",
    "sharing",
    "required",
    "size",
    "mode",
    "uid",
    "gid",
    "src",
    "dst",
    "destination",
    "ro",
    "rw",
    "readwrite",
    "env",
];

/// What [`parse_mount`] does with values.
pub(crate) enum Expansion<'a> {
    /// Parse time: only `from=` is looked at (and must not use variables).
    Deferred,
    /// Expand every value with the given function, then validate.
    With(&'a mut dyn FnMut(&str) -> Result<String, String>),
}

/// Parses one `--mount` value with every value taken literally.
pub fn parse_mount_literal(val: &str) -> Result<Mount, String> {
    let mut ident = |s: &str| -> Result<String, String> { Ok(s.to_string()) };
    parse_mount(val, Expansion::With(&mut ident))
}

pub(crate) fn parse_mount(val: &str, mut expansion: Expansion<'_>) -> Result<Mount, String> {
    let fields = csv_fields(val).map_err(|e| format!("failed to parse csv mounts: {e}"))?;
    let mut m = Mount::default();
    let mut ro_auto = true;
    let expanding = matches!(expansion, Expansion::With(_));
    let bad_value = |key: &str, value: &str| format!("invalid value for {key}: {value}");
    for field in fields {
        let (key, value, has_value) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), v.to_string(), true),
            None => (field.to_lowercase(), String::new(), false),
        };
        if !has_value {
            if !expanding {
                continue;
            }
            match key.as_str() {
                "readonly" | "ro" => {
                    m.read_only = true;
                    ro_auto = false;
                    continue;
                }
                "readwrite" | "rw" => {
                    m.read_only = false;
                    ro_auto = false;
                    continue;
                }
                "required" => {
                    if matches!(m.mount_type, MountType::Secret | MountType::Ssh) {
                        m.required = true;
                        continue;
                    }
                    return Err(format!(
                        "unexpected key '{key}' for mount type '{}'",
                        m.mount_type.as_str()
                    ));
                }
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
        }
        let value = match &mut expansion {
            Expansion::With(f) => f(&value)?,
            Expansion::Deferred => {
                if key != "from" {
                    continue;
                }
                if let Some(idx) = value.find('$') {
                    if idx != value.len() - 1 {
                        return Err(format!(
                            "'{key}' doesn't support variable expansion, define alias stage instead"
                        ));
                    }
                }
                value
            }
        };
        match key.as_str() {
            "type" => {
                m.mount_type = match value.to_lowercase().as_str() {
                    "bind" => MountType::Bind,
                    "cache" => MountType::Cache,
                    "tmpfs" => MountType::Tmpfs,
                    "secret" => MountType::Secret,
                    "ssh" => MountType::Ssh,
                    _ => {
                        return Err(with_suggestion(
                            format!("unsupported mount type {}", crate::golang::quote(&value)),
                            &value,
                            MOUNT_TYPES,
                            true,
                        ))
                    }
                }
            }
            "from" => m.from = value,
            "source" | "src" => m.source = value,
            "target" | "dst" | "destination" => m.target = value,
            "readonly" | "ro" => {
                m.read_only = parse_bool(&value).ok_or_else(|| bad_value(&key, &value))?;
                ro_auto = false;
            }
            "readwrite" | "rw" => {
                let rw = parse_bool(&value).ok_or_else(|| bad_value(&key, &value))?;
                m.read_only = !rw;
                ro_auto = false;
            }
            "required" => {
                if matches!(m.mount_type, MountType::Secret | MountType::Ssh) {
                    m.required = parse_bool(&value).ok_or_else(|| bad_value(&key, &value))?;
                } else {
                    return Err(format!(
                        "unexpected key '{key}' for mount type '{}'",
                        m.mount_type.as_str()
                    ));
                }
            }
            "size" => {
                if m.mount_type == MountType::Tmpfs {
                    m.size_limit = ram_in_bytes(&value).map_err(|_| bad_value(&key, &value))?;
                } else {
                    return Err(format!(
                        "unexpected key '{key}' for mount type '{}'",
                        m.mount_type.as_str()
                    ));
                }
            }
            "id" => m.cache_id = value,
            "sharing" => {
                m.sharing = Some(match value.to_lowercase().as_str() {
                    "shared" => ShareMode::Shared,
                    "private" => ShareMode::Private,
                    "locked" => ShareMode::Locked,
                    _ => {
                        return Err(with_suggestion(
                            format!("unsupported sharing value {}", crate::golang::quote(&value)),
                            &value,
                            SHARE_MODES,
                            true,
                        ))
                    }
                })
            }
            "mode" => {
                let v = parse_uint(&value, 8, 32)
                    .map_err(|_| format!("invalid value {value} for mode"))?;
                m.mode = Some(v as u32);
            }
            "uid" => {
                let v = parse_uint(&value, 10, 32)
                    .map_err(|_| format!("invalid value {value} for uid"))?;
                m.uid = Some(v as u32);
            }
            "gid" => {
                let v = parse_uint(&value, 10, 32)
                    .map_err(|_| format!("invalid value {value} for gid"))?;
                m.gid = Some(v as u32);
            }
            "env" => m.env = Some(value),
            _ => {
                return Err(with_suggestion(
                    format!("unexpected key '{key}' in '{field}'"),
                    &key,
                    MOUNT_KEYS,
                    true,
                ))
            }
        }
    }
    let file_info_allowed = matches!(
        m.mount_type,
        MountType::Secret | MountType::Ssh | MountType::Cache
    );
    if !file_info_allowed {
        let t = crate::golang::quote(m.mount_type.as_str());
        if m.mode.is_some() {
            return Err(format!("mode not allowed for {t} type mounts"));
        }
        if m.uid.is_some() {
            return Err(format!("uid not allowed for {t} type mounts"));
        }
        if m.gid.is_some() {
            return Err(format!("gid not allowed for {t} type mounts"));
        }
    }
    if ro_auto {
        m.read_only = !matches!(m.mount_type, MountType::Cache | MountType::Tmpfs);
    }
    if m.mount_type == MountType::Secret {
        if !m.from.is_empty() {
            return Err("secret mount should not have a from".into());
        }
        if m.sharing.is_some() {
            return Err("secret mount should not define sharing".into());
        }
        if m.source.is_empty() && m.target.is_empty() && m.cache_id.is_empty() {
            return Err("invalid secret mount. one of source, target required".into());
        }
        if !m.source.is_empty() && !m.cache_id.is_empty() {
            return Err("both source and id can't be set".into());
        }
    }
    if m.sharing.is_some() && m.mount_type != MountType::Cache {
        return Err(format!(
            "invalid cache sharing set for {} mount",
            m.mount_type.as_str()
        ));
    }
    Ok(m)
}

impl Mount {
    /// Where the mount appears in the container: relative targets are
    /// joined with the working directory; `/` is refused (`invalid mount
    /// target "/"`).
    pub fn absolute_target(&self, workdir: &str) -> Result<String, String> {
        let cleaned = path_clean(&self.target);
        let target = if cleaned.starts_with('/') {
            self.target.clone()
        } else {
            path_join(&["/", workdir, &self.target])
        };
        if target == "/" {
            return Err(format!(
                "invalid mount target {}",
                crate::golang::quote(&target)
            ));
        }
        Ok(target)
    }

    /// The cache key of a cache mount: `id=`, or the cleaned target.
    pub fn cache_key(&self) -> String {
        if self.cache_id.is_empty() {
            path_clean(&self.target)
        } else {
            self.cache_id.clone()
        }
    }

    /// The secret id of a secret mount: `source=`, `id=`, or the target's
    /// base name.
    pub fn secret_id(&self) -> Result<String, String> {
        let id = if !self.source.is_empty() {
            self.source.clone()
        } else {
            self.cache_id.clone()
        };
        if id.is_empty() {
            if self.target.is_empty() {
                return Err("one of source, target required".into());
            }
            return Ok(path_base(&self.target));
        }
        Ok(id)
    }

    /// Where a secret file goes: the target, or `/run/secrets/<id>`; `None`
    /// when the secret only becomes an environment variable (`env=` without
    /// `target=`).
    pub fn secret_target(&self) -> Result<Option<String>, String> {
        let id = self.secret_id()?;
        if !self.target.is_empty() {
            return Ok(Some(self.target.clone()));
        }
        if self.env.is_none() {
            return Ok(Some(format!("/run/secrets/{}", path_base(&id))));
        }
        Ok(None)
    }

    /// The agent id of an ssh mount (`default` unless `id=`); ssh mounts
    /// take no source (`ssh does not support source`).
    pub fn ssh_id(&self) -> Result<String, String> {
        if !self.source.is_empty() {
            return Err("ssh does not support source".into());
        }
        Ok(if self.cache_id.is_empty() {
            "default".into()
        } else {
            self.cache_id.clone()
        })
    }
}

/// One `RUN --device` value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Device {
    /// CDI device name.
    pub name: String,
    /// Fail when the device is missing.
    pub required: bool,
}

/// Parses one `--device` value (BuildKit's `ParseDevice`).
pub fn parse_device(val: &str) -> Result<Device, String> {
    let fields = csv_fields(val).map_err(|e| format!("failed to parse csv devices: {e}"))?;
    let mut d = Device::default();
    for field in fields {
        let (key, value, has_value) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), v.to_string(), true),
            None => (field.to_lowercase(), String::new(), false),
        };
        if !has_value {
            if key == "required" {
                d.required = true;
                continue;
            }
            if d.name.is_empty() {
                d.name = field;
                continue;
            }
            return Err(format!("invalid field '{field}' must be a key=value pair"));
        }
        match key.as_str() {
            "name" => {
                if !d.name.is_empty() {
                    return Err(format!("device name already set to {}", d.name));
                }
                d.name = value;
            }
            "required" => {
                d.required = parse_bool(&value)
                    .ok_or_else(|| format!("invalid value for {key}: {value}"))?;
            }
            _ => {
                if d.name.is_empty() {
                    d.name = field;
                    continue;
                }
                return Err(with_suggestion(
                    format!("unexpected key '{key}' in '{field}'"),
                    &key,
                    &["name", "required"],
                    true,
                ));
            }
        }
    }
    Ok(d)
}
