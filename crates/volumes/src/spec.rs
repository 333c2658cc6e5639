//! Mount specifications in their CLI and API forms, parsed with Docker's
//! rules and error texts:
//!
//! - `-v` on the client (docker/cli `volumespec.Parse`): [`parse_volume_flag`]
//!   and [`split_volume_flags`] (binds → `HostConfig.Binds`, anonymous
//!   volumes → `Config.Volumes`);
//! - `-v` on the daemon (moby `linuxParser.ParseMountRaw`): [`parse_bind`];
//! - `--mount` on the client (docker/cli `MountOpt.Set`): [`parse_mount_flag`];
//! - `HostConfig.Mounts[]` on the daemon (`ParseMountSpec`):
//!   [`parse_mount_spec`], [`validate_mount_spec`];
//! - `--volumes-from` ([`parse_volumes_from`]) and tmpfs mount data
//!   ([`tmpfs_options`]).
//!
//! [`MountSpec`] serializes to the API's `Mount` object.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, VolumeError};
use crate::units::ram_in_bytes;

/// Mount type names of the API.
pub mod types {
    /// A host path.
    pub const BIND: &str = "bind";
    /// A named or anonymous volume.
    pub const VOLUME: &str = "volume";
    /// A tmpfs.
    pub const TMPFS: &str = "tmpfs";
    /// A Windows named pipe.
    pub const NPIPE: &str = "npipe";
    /// A Swarm cluster volume.
    pub const CLUSTER: &str = "cluster";
    /// An image's root filesystem.
    pub const IMAGE: &str = "image";
}

/// Propagation modes valid on Linux.
pub const PROPAGATIONS: &[&str] = &[
    "private", "rprivate", "slave", "rslave", "shared", "rshared",
];
/// The default propagation of binds.
pub const DEFAULT_PROPAGATION: &str = "rprivate";

/// Go decodes JSON `null` into a zero value: do the same for every field.
fn null_default<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn is_false(b: &bool) -> bool {
    !*b
}
fn is_zero(n: &i64) -> bool {
    *n == 0
}
fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

/// The API's `Mount` (`HostConfig.Mounts[]`), with Go's `omitempty`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountSpec {
    /// `bind`, `volume`, `tmpfs`, … (kept as given; see [`types`]).
    #[serde(
        rename = "Type",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub kind: String,
    /// Host path (bind), volume name (volume, empty = anonymous).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub source: String,
    /// Path in the container.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub target: String,
    /// Read-only mount.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "is_false"
    )]
    pub read_only: bool,
    /// `default`, `consistent`, `cached`, `delegated` (ignored on Linux).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub consistency: String,
    /// Options of binds.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub bind_options: Option<BindOptions>,
    /// Options of volumes.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub volume_options: Option<VolumeOptions>,
    /// Options of image mounts.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub image_options: Option<ImageOptions>,
    /// Options of tmpfs mounts.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub tmpfs_options: Option<TmpfsOptions>,
    /// Swarm cluster volume options (kept only to refuse them).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub cluster_options: Option<serde_json::Value>,
}

/// The API's `BindOptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BindOptions {
    /// One of [`PROPAGATIONS`].
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub propagation: String,
    /// `bind-recursive=disabled`: no submounts.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "is_false"
    )]
    pub non_recursive: bool,
    /// `bind-create-src`: create a missing host path.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "is_false"
    )]
    pub create_mountpoint: bool,
    /// `bind-recursive=writable`: submounts of a read-only bind stay writable.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "is_false"
    )]
    pub read_only_non_recursive: bool,
    /// `bind-recursive=readonly`: submounts read-only or fail.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "is_false"
    )]
    pub read_only_force_recursive: bool,
}

/// The API's `VolumeOptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeOptions {
    /// Do not copy the image's content into a new volume.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "is_false"
    )]
    pub no_copy: bool,
    /// Labels of a volume created for this mount.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// Mount only this path inside the volume.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub subpath: String,
    /// Driver of a volume created for this mount.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub driver_config: Option<DriverConfig>,
}

/// The API's `Driver` (`VolumeOptions.DriverConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DriverConfig {
    /// Driver name.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    /// Driver options.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub options: BTreeMap<String, String>,
}

/// The API's `ImageOptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageOptions {
    /// Mount only this path of the image.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub subpath: String,
}

/// The API's `TmpfsOptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TmpfsOptions {
    /// Size limit in bytes.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "is_zero"
    )]
    pub size_bytes: i64,
    /// Permission bits of the tmpfs root (Go `os.FileMode`, a number).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "is_zero_u32"
    )]
    pub mode: u32,
    /// Extra options: `[["exec"]]`, `[["noexec"]]`.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub options: Vec<Vec<String>>,
}

/// A mount as the daemon understood it (moby's `MountPoint`): what the
/// engine resolves into a volume, a host path or a tmpfs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountPoint {
    /// `bind`, `volume`, `tmpfs`, `image`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Host path of a bind (cleaned); empty for volumes until resolved.
    pub source: String,
    /// Path in the container (cleaned).
    pub destination: String,
    /// Read-write.
    #[serde(rename = "RW")]
    pub rw: bool,
    /// Volume name (empty for an anonymous volume).
    pub name: String,
    /// Volume driver asked for (empty = default).
    pub driver: String,
    /// The `-v` mode string as given (`ro,z`), empty for `--mount`.
    pub mode: String,
    /// Propagation of binds (default `rprivate`).
    pub propagation: String,
    /// Copy the image's content into an empty volume (not `nocopy`).
    pub copy_data: bool,
    /// The mount as an API object.
    pub spec: MountSpec,
}

/// What `-v` means to the docker CLI (`volumespec.Parse`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeFlag {
    /// `bind` (source is a path) or `volume`.
    pub kind: String,
    /// Host path or volume name; empty for an anonymous volume.
    pub source: String,
    /// Path in the container.
    pub target: String,
    /// `ro` was given.
    pub read_only: bool,
    /// `nocopy` was given.
    pub no_copy: bool,
    /// The propagation given, if any.
    pub propagation: Option<String>,
}

fn is_windows_drive(buffer: &[char], c: char) -> bool {
    c == ':' && buffer.len() == 1 && buffer[0].is_alphabetic()
}

/// Parses one `-v` value as the docker CLI does before sending it
/// (`invalid spec: SPEC: too many colons`, `… empty section between
/// colons`, `invalid empty volume spec`). Unknown options are ignored here;
/// the daemon ([`parse_bind`]) refuses them.
pub fn parse_volume_flag(spec: &str) -> Result<VolumeFlag, String> {
    let mut v = VolumeFlag::default();
    match spec.len() {
        0 => return Err("invalid empty volume spec".into()),
        1 | 2 => {
            v.target = spec.to_string();
            v.kind = types::VOLUME.into();
            return Ok(v);
        }
        _ => {}
    }
    const END: char = '\0';
    let mut buffer: Vec<char> = Vec::new();
    let populate_type = |v: &mut VolumeFlag| {
        v.kind = if v.source.is_empty() || !is_file_path(&v.source) {
            types::VOLUME.into()
        } else {
            types::BIND.into()
        };
    };
    for c in spec.chars().chain(std::iter::once(END)) {
        if is_windows_drive(&buffer, c) {
            buffer.push(c);
        } else if c == ':' || c == END {
            let s: String = buffer.iter().collect();
            let err = if buffer.is_empty() {
                Some("empty section between colons")
            } else if v.source.is_empty() && c == END {
                v.target = s;
                None
            } else if v.source.is_empty() {
                v.source = s;
                None
            } else if v.target.is_empty() {
                v.target = s;
                None
            } else if c == ':' {
                Some("too many colons")
            } else {
                for o in s.split(',') {
                    match o {
                        "ro" => v.read_only = true,
                        "rw" => v.read_only = false,
                        "nocopy" => v.no_copy = true,
                        o if PROPAGATIONS.contains(&o) => v.propagation = Some(o.into()),
                        _ => {}
                    }
                }
                None
            };
            if let Some(e) = err {
                populate_type(&mut v);
                return Err(format!("invalid spec: {spec}: {e}"));
            }
            buffer.clear();
        } else {
            buffer.push(c);
        }
    }
    populate_type(&mut v);
    Ok(v)
}

fn is_file_path(source: &str) -> bool {
    match source.as_bytes().first() {
        Some(b'.' | b'/' | b'~') => return true,
        None => return false,
        _ => {}
    }
    let chars: Vec<char> = source.chars().collect();
    if chars.len() == 1 {
        return false;
    }
    if source.starts_with("\\\\") {
        return true;
    }
    is_windows_drive(&chars[..1], chars[1])
}

/// Splits the `-v` values of `run`/`create` as the docker CLI does: those
/// with a source go to `HostConfig.Binds` (a relative `./x` host path made
/// absolute against `cwd`), the others (anonymous volumes) to
/// `Config.Volumes`, keyed by the whole value.
pub fn split_volume_flags(
    specs: &[String],
    cwd: &Path,
) -> Result<(Vec<String>, Vec<String>), String> {
    let mut binds = Vec::new();
    let mut volumes = Vec::new();
    for spec in specs {
        let parsed = parse_volume_flag(spec)?;
        if parsed.source.is_empty() {
            if !volumes.contains(spec) {
                volumes.push(spec.clone());
            }
            continue;
        }
        let mut bind = spec.clone();
        if parsed.kind == types::BIND {
            if let Some((host, rest)) = spec.split_once(':') {
                if !host.starts_with('/') && host.starts_with('.') {
                    bind = format!(
                        "{}:{rest}",
                        clean_path(&cwd.join(host).display().to_string())
                    );
                }
            }
        }
        if !binds.contains(&bind) {
            binds.push(bind);
        }
    }
    Ok((binds, volumes))
}

/// Go's `path.Clean` for slash paths.
pub fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

fn valid_mount_mode(mode: &str) -> bool {
    if mode.is_empty() {
        return true;
    }
    let (mut rw, mut label, mut prop, mut copy, mut cons) = (0, 0, 0, 0, 0);
    for o in mode.split(',') {
        match o {
            "rw" | "ro" => rw += 1,
            "z" | "Z" => label += 1,
            o if PROPAGATIONS.contains(&o) => prop += 1,
            "nocopy" => copy += 1,
            "consistent" | "cached" | "delegated" => cons += 1,
            _ => return false,
        }
    }
    rw <= 1 && label <= 1 && prop <= 1 && copy <= 1 && cons <= 1
}

fn mode_propagation(mode: &str) -> Option<String> {
    mode.split(',')
        .find(|o| PROPAGATIONS.contains(o))
        .map(String::from)
}

fn invalid_spec(raw: &str) -> String {
    format!("invalid volume specification: '{raw}'")
}

/// Parses a `HostConfig.Binds` entry on the daemon (moby's
/// `ParseMountRaw`): `NAME:/path[:MODE]`, `/host:/path[:MODE]` or `/path`,
/// with `volume_driver` from `HostConfig.VolumeDriver`. Errors:
/// `invalid volume specification: 'SPEC'`, `invalid mode: MODE`, and
/// `invalid volume specification: 'SPEC': invalid mount config for type …`.
/// The host path of a bind need not exist (Docker creates it).
pub fn parse_bind(raw: &str, volume_driver: &str) -> Result<MountPoint> {
    let arr: Vec<&str> = raw.splitn(4, ':').collect();
    if arr[0].is_empty() {
        return Err(VolumeError::invalid(invalid_spec(raw)));
    }
    let mut spec = MountSpec::default();
    let mut mode = "";
    match arr.len() {
        1 => spec.target = arr[0].into(),
        2 => {
            if valid_mount_mode(arr[1]) {
                return Err(VolumeError::invalid(invalid_spec(raw)));
            }
            spec.source = arr[0].into();
            spec.target = arr[1].into();
        }
        3 => {
            spec.source = arr[0].into();
            spec.target = arr[1].into();
            mode = arr[2];
        }
        _ => return Err(VolumeError::invalid(invalid_spec(raw))),
    }
    if !valid_mount_mode(mode) {
        return Err(VolumeError::invalid(format!("invalid mode: {mode}")));
    }
    spec.kind = if spec.source.starts_with('/') {
        types::BIND.into()
    } else {
        types::VOLUME.into()
    };
    spec.read_only = mode.split(',').any(|o| o == "ro");
    if !volume_driver.is_empty() && spec.kind == types::VOLUME {
        spec.volume_options = Some(VolumeOptions {
            driver_config: Some(DriverConfig {
                name: volume_driver.into(),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    if mode.split(',').any(|o| o == "nocopy") {
        spec.volume_options
            .get_or_insert_with(Default::default)
            .no_copy = true;
    }
    if let Some(p) = mode_propagation(mode) {
        spec.bind_options = Some(BindOptions {
            propagation: p,
            ..Default::default()
        });
    }
    let mut mp = mount_point(spec, false)
        .map_err(|e| VolumeError::invalid(format!("{}: {}", invalid_spec(raw), e.message())))?;
    mp.mode = mode.into();
    Ok(mp)
}

fn extra_field(name: &str) -> String {
    format!("field {name} must not be specified")
}

fn missing_field(name: &str) -> String {
    format!("field {name} must not be empty")
}

/// Docker's `bind source path does not exist: PATH`, for the engine when
/// it checks a bind's host path.
pub fn bind_source_missing(path: &str) -> VolumeError {
    VolumeError::invalid(format!(
        "invalid mount config for type \"bind\": bind source path does not exist: {path}"
    ))
}

fn not_root_and_absolute(p: &str) -> Result<(), String> {
    let p = p.replace('\\', "/");
    if clean_path(&p) == "/" {
        return Err("invalid specification: destination can't be '/'".into());
    }
    if !p.starts_with('/') {
        return Err(format!(
            "invalid mount path: '{p}' mount path must be absolute"
        ));
    }
    Ok(())
}

/// Go's `filepath.IsLocal`: relative, not empty, no `..` escaping.
fn is_local(p: &str) -> bool {
    if p.is_empty() || p.starts_with('/') {
        return false;
    }
    let c = clean_path(p);
    c != ".." && !c.starts_with("../")
}

/// Validates a `HostConfig.Mounts[]` entry as moby's
/// `validateMountConfig`; with `check_bind_source`, a bind's host path
/// must exist unless `CreateMountpoint`. Errors read `invalid mount config
/// for type "TYPE": …`.
pub fn validate_mount_spec(m: &MountSpec, check_bind_source: bool) -> Result<()> {
    validate_impl(m, check_bind_source).map_err(|e| {
        VolumeError::invalid(format!("invalid mount config for type {:?}: {e}", m.kind))
    })
}

fn validate_impl(m: &MountSpec, check_bind_source: bool) -> Result<(), String> {
    let k = m.kind.as_str();
    if k != types::BIND && m.bind_options.is_some() {
        return Err(extra_field("BindOptions"));
    }
    if k != types::VOLUME && m.volume_options.is_some() {
        return Err(extra_field("VolumeOptions"));
    }
    if k != types::IMAGE && m.image_options.is_some() {
        return Err(extra_field("ImageOptions"));
    }
    if k != types::TMPFS && m.tmpfs_options.is_some() {
        return Err(extra_field("TmpfsOptions"));
    }
    if k != types::CLUSTER && m.cluster_options.is_some() {
        return Err(extra_field("ClusterOptions"));
    }
    if m.target.is_empty() {
        return Err(missing_field("Target"));
    }
    not_root_and_absolute(&m.target)?;
    match k {
        types::BIND => {
            if m.source.is_empty() {
                return Err(missing_field("Source"));
            }
            if let Some(o) = &m.bind_options {
                if !o.propagation.is_empty() && !PROPAGATIONS.contains(&o.propagation.as_str()) {
                    return Err(format!("invalid propagation mode: {}", o.propagation));
                }
            }
            let src = m.source.replace('\\', "/");
            if !src.starts_with('/') {
                return Err(format!(
                    "invalid mount path: '{src}' mount path must be absolute"
                ));
            }
            if check_bind_source {
                let create = m.bind_options.as_ref().is_some_and(|o| o.create_mountpoint);
                match std::fs::metadata(&m.source) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        if !create {
                            return Err(format!("bind source path does not exist: {}", m.source));
                        }
                    }
                    Err(e) => {
                        return Err(format!(
                            "stat {}: {}",
                            m.source,
                            crate::error::errno_text(&e)
                        ))
                    }
                }
            }
        }
        types::VOLUME => {
            if let Some(o) = &m.volume_options {
                if !o.subpath.is_empty() {
                    if m.source.is_empty() {
                        return Err("must not set Subpath when using anonymous volumes".into());
                    }
                    if !is_local(&o.subpath) {
                        return Err("subpath must be a relative path within the volume".into());
                    }
                }
            }
        }
        types::TMPFS => {
            if !m.source.is_empty() {
                return Err(extra_field("Source"));
            }
            tmpfs_options(m.tmpfs_options.as_ref(), m.read_only)?;
        }
        types::IMAGE => {
            if m.source.is_empty() {
                return Err(missing_field("Source"));
            }
            if let Some(o) = &m.image_options {
                if !o.subpath.is_empty() && !is_local(&o.subpath) {
                    return Err("subpath must be a relative path within the volume".into());
                }
            }
        }
        _ => return Err("mount type unknown".into()),
    }
    Ok(())
}

fn mount_point(spec: MountSpec, check_bind_source: bool) -> Result<MountPoint> {
    validate_mount_spec(&spec, check_bind_source)?;
    let mut mp = MountPoint {
        rw: !spec.read_only,
        destination: clean_path(&spec.target),
        kind: spec.kind.clone(),
        ..Default::default()
    };
    match spec.kind.as_str() {
        types::VOLUME => {
            mp.name = spec.source.clone();
            mp.copy_data = true;
            if let Some(o) = &spec.volume_options {
                if let Some(d) = &o.driver_config {
                    mp.driver = d.name.clone();
                }
                if o.no_copy {
                    mp.copy_data = false;
                }
            }
        }
        types::BIND => {
            mp.source = clean_path(&spec.source);
            mp.propagation = spec
                .bind_options
                .as_ref()
                .map(|o| o.propagation.clone())
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| DEFAULT_PROPAGATION.into());
        }
        types::IMAGE => {
            mp.source = spec.source.clone();
            mp.propagation = DEFAULT_PROPAGATION.into();
        }
        _ => {}
    }
    mp.spec = spec;
    Ok(mp)
}

/// Parses a `HostConfig.Mounts[]` entry on the daemon (moby's
/// `ParseMountSpec`): validation including that a bind's host path exists.
pub fn parse_mount_spec(spec: &MountSpec) -> Result<MountPoint> {
    mount_point(spec.clone(), true)
}

/// Parses `--volumes-from CONTAINER[:ro|rw]` (moby's `ParseVolumesFrom`):
/// the container and the mode (`rw` by default).
pub fn parse_volumes_from(spec: &str) -> Result<(String, String)> {
    if spec.is_empty() {
        return Err(VolumeError::invalid(
            "volumes-from specification cannot be an empty string",
        ));
    }
    let (id, mode) = spec.split_once(':').unwrap_or((spec, ""));
    if mode.is_empty() {
        return Ok((id.into(), "rw".into()));
    }
    let bad = || VolumeError::invalid(format!("invalid mode: {mode}"));
    if !valid_mount_mode(mode) || mode_propagation(mode).is_some() {
        return Err(bad());
    }
    if mode.split(',').any(|o| o == "nocopy") {
        return Err(bad());
    }
    Ok((id.into(), mode.into()))
}

/// The tmpfs mount data of a `tmpfs` mount (moby's
/// `ConvertTmpfsOptions`): `ro`, `mode=OCTAL`, `size=N[kmg]`, `exec`/`noexec`.
pub fn tmpfs_options(opt: Option<&TmpfsOptions>, read_only: bool) -> Result<String, String> {
    let mut raw: Vec<String> = Vec::new();
    if read_only {
        raw.push("ro".into());
    }
    if let Some(o) = opt {
        if o.mode != 0 {
            raw.push(format!("mode={:o}", o.mode));
        }
        if o.size_bytes != 0 {
            let mut size = o.size_bytes;
            let mut suffix = "";
            for (s, d) in [("g", 1i64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
                if size % d == 0 {
                    size /= d;
                    suffix = s;
                    break;
                }
            }
            raw.push(format!("size={size}{suffix}"));
        }
        for opt in &o.options {
            if opt.is_empty() || opt.len() > 2 {
                return Err("invalid option array length".into());
            }
            if opt[0] != "exec" && opt[0] != "noexec" {
                return Err(format!("invalid option: {}", opt[0]));
            }
            raw.push(if opt.len() == 1 {
                opt[0].clone()
            } else {
                format!("{}={}", opt[0], opt[1])
            });
        }
    }
    Ok(raw.join(","))
}

/// Splits one CSV record as Go's `encoding/csv` reader (default settings)
/// does for a `--mount` value.
fn csv_fields(value: &str) -> Result<Vec<String>, String> {
    let b: Vec<char> = value.chars().collect();
    let mut fields = Vec::new();
    let mut i = 0;
    let col = |chars: &[char], i: usize| chars[..i].iter().map(|c| c.len_utf8()).sum::<usize>() + 1;
    loop {
        let mut field = String::new();
        if i < b.len() && b[i] == '"' {
            i += 1;
            loop {
                if i >= b.len() {
                    return Err(format!(
                        "parse error on line 1, column {}: extraneous or missing \" in quoted-field",
                        col(&b, i)
                    ));
                }
                if b[i] == '"' {
                    if i + 1 < b.len() && b[i + 1] == '"' {
                        field.push('"');
                        i += 2;
                        continue;
                    }
                    i += 1;
                    if i < b.len() && b[i] != ',' && b[i] != '\n' && b[i] != '\r' {
                        return Err(format!(
                            "parse error on line 1, column {}: extraneous or missing \" in quoted-field",
                            col(&b, i) - 1
                        ));
                    }
                    break;
                }
                field.push(b[i]);
                i += 1;
            }
        } else {
            while i < b.len() && b[i] != ',' && b[i] != '\n' {
                if b[i] == '"' {
                    return Err(format!(
                        "parse error on line 1, column {}: bare \" in non-quoted-field",
                        col(&b, i)
                    ));
                }
                field.push(b[i]);
                i += 1;
            }
            if field.ends_with('\r') && (i >= b.len() || b[i] == '\n') {
                field.pop();
            }
        }
        fields.push(field);
        if i < b.len() && b[i] == ',' {
            i += 1;
            continue;
        }
        break;
    }
    Ok(fields)
}

fn parse_bool_value(key: &str, val: &str, has_value: bool) -> Result<bool, String> {
    if !has_value {
        return Ok(true);
    }
    match val {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(format!(
            "invalid value for '{key}': invalid boolean value ({val:?}): must be one of \"true\", \"1\", \"false\", or \"0\" (default \"true\")"
        )),
    }
}

/// Parses one `--mount` value as the docker CLI does (`MountOpt.Set`):
/// `type=volume|bind|tmpfs|image`, `src|source`, `dst|destination|target`,
/// `readonly|ro[=BOOL]`, `consistency`, `bind-propagation`,
/// `bind-recursive`, `bind-create-src`, `volume-subpath`, `volume-nocopy`,
/// `volume-label`, `volume-driver`, `volume-opt`, `image-subpath`,
/// `tmpfs-size`, `tmpfs-mode`, with the CLI's error texts. A relative
/// source starting with `.` is made absolute against `cwd`.
pub fn parse_mount_flag(value: &str, cwd: &Path) -> Result<MountSpec, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("value is empty".into());
    }
    let fields = csv_fields(value)?;
    let mut m = MountSpec {
        kind: types::VOLUME.into(),
        ..Default::default()
    };
    fn vol(m: &mut MountSpec) -> &mut VolumeOptions {
        m.volume_options.get_or_insert_with(Default::default)
    }
    fn drv(m: &mut MountSpec) -> &mut DriverConfig {
        vol(m).driver_config.get_or_insert_with(Default::default)
    }
    fn bind(m: &mut MountSpec) -> &mut BindOptions {
        m.bind_options.get_or_insert_with(Default::default)
    }
    fn tmpfs(m: &mut MountSpec) -> &mut TmpfsOptions {
        m.tmpfs_options.get_or_insert_with(Default::default)
    }
    fn set_on_map(map: &mut BTreeMap<String, String>, kv: &str) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        if !k.is_empty() {
            map.insert(k.into(), v.into());
        }
    }
    for field in &fields {
        let (key, val, has_value) = match field.split_once('=') {
            Some((k, v)) => (k, v, true),
            None => (field.as_str(), "", false),
        };
        let tk = key.trim();
        if tk != key {
            return Err(format!(
                "invalid option '{tk}' in '{field}': option should not have whitespace"
            ));
        }
        if has_value {
            let tv = val.trim();
            if tv.is_empty() {
                return Err(format!("invalid value for '{key}': value is empty"));
            }
            if tv != val {
                return Err(format!(
                    "invalid value for '{key}' in '{field}': value should not have whitespace"
                ));
            }
        }
        let key = key.to_lowercase();
        if !has_value
            && !matches!(
                key.as_str(),
                "readonly" | "ro" | "volume-nocopy" | "bind-nonrecursive" | "bind-create-src"
            )
        {
            return Err(format!("invalid field '{field}' must be a key=value pair"));
        }
        match key.as_str() {
            "type" => m.kind = val.to_lowercase(),
            "source" | "src" => {
                m.source = val.into();
                if !val.starts_with('/') && val.starts_with('.') {
                    m.source = clean_path(&cwd.join(val).display().to_string());
                }
            }
            "target" | "dst" | "destination" => m.target = val.into(),
            "readonly" | "ro" => m.read_only = parse_bool_value(&key, val, has_value)?,
            "consistency" => m.consistency = val.to_lowercase(),
            "bind-propagation" => bind(&mut m).propagation = val.to_lowercase(),
            "bind-nonrecursive" => {
                return Err(
                    "bind-nonrecursive is deprecated, use bind-recursive=disabled instead".into(),
                )
            }
            "bind-recursive" => match val {
                "enabled" => {}
                "disabled" => bind(&mut m).non_recursive = true,
                "writable" => bind(&mut m).read_only_non_recursive = true,
                "readonly" => bind(&mut m).read_only_force_recursive = true,
                _ => {
                    return Err(format!(
                        "invalid value for {key}: {val} (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")"
                    ))
                }
            },
            "bind-create-src" => {
                bind(&mut m).create_mountpoint = parse_bool_value(&key, val, has_value)?
            }
            "volume-subpath" => vol(&mut m).subpath = val.into(),
            "volume-nocopy" => vol(&mut m).no_copy = parse_bool_value(&key, val, has_value)?,
            "volume-label" => set_on_map(&mut vol(&mut m).labels, val),
            "volume-driver" => drv(&mut m).name = val.into(),
            "volume-opt" => set_on_map(&mut drv(&mut m).options, val),
            "image-subpath" => {
                m.image_options.get_or_insert_with(Default::default).subpath = val.into()
            }
            "tmpfs-size" => {
                tmpfs(&mut m).size_bytes =
                    ram_in_bytes(val).map_err(|_| format!("invalid value for {key}: {val}"))?
            }
            "tmpfs-mode" => {
                tmpfs(&mut m).mode = u32::from_str_radix(val, 8)
                    .map_err(|_| format!("invalid value for {key}: {val}"))?
            }
            _ => return Err(format!("unknown option '{key}' in '{field}'")),
        }
    }
    validate_mount_flag(&m)?;
    Ok(m)
}

/// The CLI's `validateMountOptions`.
fn validate_mount_flag(m: &MountSpec) -> Result<(), String> {
    if m.kind.is_empty() {
        return Err("type is required".into());
    }
    if m.target.is_empty() {
        return Err("target is required".into());
    }
    let k = m.kind.as_str();
    let mix = |what: &str| {
        Err(format!(
            "cannot mix '{what}-*' options with mount type '{k}'"
        ))
    };
    if k != types::BIND && m.bind_options.is_some() {
        return mix("bind");
    }
    if k != types::VOLUME && m.volume_options.is_some() {
        return mix("volume");
    }
    if k != types::IMAGE && m.image_options.is_some() {
        return mix("image");
    }
    if k != types::TMPFS && m.tmpfs_options.is_some() {
        return mix("tmpfs");
    }
    if let Some(b) = &m.bind_options {
        if b.read_only_non_recursive && !m.read_only {
            return Err("option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction".into());
        }
        if b.read_only_force_recursive {
            if !m.read_only {
                return Err("option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction".into());
            }
            if b.propagation != "rprivate" {
                return Err("option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction".into());
            }
        }
    }
    Ok(())
}
