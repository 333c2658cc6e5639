//! Seccomp profiles with Docker's semantics.
//!
//! Docker describes seccomp profiles in its own JSON dialect: an OCI
//! `LinuxSeccomp` extended with an `archMap` (architecture plus
//! sub-architectures), a deprecated singular `name` per rule, and
//! `includes` / `excludes` conditions on the container's capabilities, the
//! host architecture and the host kernel version. Before a container starts
//! the daemon resolves those conditions (moby's `setupSeccomp`) and hands
//! the runtime a plain OCI `LinuxSeccomp`. This module does the same:
//!
//! * [`default_profile`] is Docker's built-in default profile (an allow-list
//!   with `SCMP_ACT_ERRNO`/`EPERM` as the default action), kept here as a
//!   static Rust table (`DEFAULT_RULES`) and resolved for a capability set;
//! * [`from_docker_json`] parses a user profile (`--security-opt
//!   seccomp=profile.json`) and resolves it the same way.
//!
//! The result is consumed by youki's libcontainer through libseccomp.
//! libcontainer skips (with a warning) syscall names libseccomp cannot
//! resolve. The built-in table uses only names that Debian 12's libseccomp
//! (2.5.4-1+deb12u1, which knows syscalls up to Linux 6.7) resolves on x86_64
//! and aarch64; a few of them (`cachestat`, `fchmodat2`, `futex_requeue`,
//! `futex_wait`, `futex_wake`, `map_shadow_stack`) are unknown to upstream
//! 2.5.4 and are merely skipped there. The newer names of Docker's list
//! (`getxattrat`, `listmount`, `listxattrat`, `lsm_get_self_attr`,
//! `lsm_list_modules`, `lsm_set_self_attr`, `mseal`, `removexattrat`,
//! `riscv_hwprobe`, `setxattrat`, `statmount`, `uretprobe`) are left out.
//!
//! libcontainer 0.7 hands `SCMP_CMP_MASKED_EQ` operands to libseccomp the
//! other way round from runc: it uses `valueTwo` as the mask and `value` as
//! the datum, where the OCI specification (and runc) use `value` as the mask
//! and `valueTwo` as the datum. Given Docker's `clone` rule as written, the
//! filter libcontainer loads lets `clone` create namespaces. The profiles
//! returned here are meant for libcontainer, so `for_libcontainer` swaps the
//! two operands of every masked comparison (in the built-in profile and in
//! user profiles alike); the loaded rules then mean what Docker meant. The
//! `live_filter_*` tests load the default profile with libcontainer and
//! check this.

use std::collections::HashSet;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::OnceLock;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall,
};
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// `EPERM`: what the default profile returns for every syscall it does not allow.
const EPERM: u32 = libc::EPERM as u32;
/// `ENOSYS`: what the default profile returns for `clone3` without `CAP_SYS_ADMIN`,
/// so that glibc falls back to `clone`, whose flags the profile can inspect.
const ENOSYS: u32 = libc::ENOSYS as u32;

/// The namespace flags of `clone(2)`: `CLONE_NEWNS | CLONE_NEWCGROUP |
/// CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET`.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;

/// `AF_ALG` and `AF_VSOCK`: the socket families the default profile refuses.
const AF_ALG: u64 = 38;
const AF_VSOCK: u64 = 40;

/// Errors from [`from_docker_json`]. The messages follow Docker's.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// The profile is not valid JSON or does not have the expected shape.
    #[error("decoding seccomp profile failed: {0}")]
    Decode(#[from] serde_json::Error),
    /// A `minKernel` that is not `"<kernel>.<major>"`.
    #[error("decoding seccomp profile failed: invalid kernel version: {version:?}, expected \"<kernel>.<major>\"{reason}")]
    InvalidKernelVersion {
        /// The version as written in the profile.
        version: String,
        /// Extra detail, empty or starting with ": ".
        reason: String,
    },
    /// `defaultAction` or a rule's `action` is not an `SCMP_ACT_*` action.
    #[error("unknown seccomp action {0:?}")]
    UnknownAction(String),
    /// An `architectures` / `archMap` entry is not an `SCMP_ARCH_*` architecture.
    #[error("unknown seccomp architecture {0:?}")]
    UnknownArch(String),
    /// An argument's `op` is not an `SCMP_CMP_*` operator.
    #[error("unknown seccomp operator {0:?}")]
    UnknownOperator(String),
    /// A `flags` entry is not a `SECCOMP_FILTER_FLAG_*` flag.
    #[error("unknown seccomp filter flag {0:?}")]
    UnknownFlag(String),
    /// Both `architectures` and `archMap` were given.
    #[error(
        "both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'"
    )]
    ArchitecturesAndArchMap,
    /// A rule has both `name` and `names`.
    #[error(
        "both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'"
    )]
    NameAndNames,
    /// A rule depends on the kernel version and the host's could not be read.
    #[error("failed to read the kernel version: {0}")]
    KernelVersion(String),
}

/// Docker's default profile, given the container's effective capability set
/// (names like `"CAP_SYS_ADMIN"`), for the host architecture (x86_64, also
/// aarch64 when compiled there).
///
/// Like Docker: the default action is `SCMP_ACT_ERRNO` with `EPERM`; the
/// ordinary syscalls are allowed; privileged ones (`mount`, `bpf`, `ptrace`
/// before Linux 4.8, `reboot`, module loading, …) only with the capability
/// that would let them succeed; `clone` only without namespace flags and
/// `clone3` fails with `ENOSYS` unless `CAP_SYS_ADMIN`; `personality` only
/// with harmless personas; `socket` refuses `AF_ALG` and `AF_VSOCK`.
pub fn default_profile(capabilities: &[String]) -> LinuxSeccomp {
    // If the kernel version cannot be read, rules that need a newer kernel
    // (only `ptrace` & co. on >= 4.8) are left out: the stricter choice.
    let kernel = host_kernel().unwrap_or_default();
    let profile = builtin_profile();
    let resolved = resolve(
        profile,
        capabilities,
        host_arch(),
        |min| -> Result<bool, Infallible> { Ok(kernel >= min) },
    );
    match resolved {
        Ok(seccomp) => for_libcontainer(seccomp),
        Err(never) => match never {},
    }
}

/// Parses a Docker-format seccomp profile JSON (what `--security-opt
/// seccomp=profile.json` gives: keys `defaultAction`, `defaultErrnoRet`,
/// `architectures` / `archMap`, `flags`, `syscalls[{names|name, action,
/// errnoRet, args[{index, value, valueTwo, op}], includes{caps, arches,
/// minKernel}, excludes{caps, arches, minKernel}}]`) and resolves includes /
/// excludes against `capabilities` and the host arch, as moby's
/// `seccomp.setupSeccomp` does.
///
/// A profile with neither `defaultAction` nor `syscalls` means "no seccomp"
/// to Docker; it is returned as a profile that allows everything.
pub fn from_docker_json(
    json: &[u8],
    capabilities: &[String],
) -> Result<LinuxSeccomp, SeccompError> {
    let raw: RawProfile = serde_json::from_slice(json)?;
    let profile = Profile::try_from(raw)?;
    let seccomp = resolve(profile, capabilities, host_arch(), |min| {
        let kernel = host_kernel().map_err(SeccompError::KernelVersion)?;
        Ok::<_, SeccompError>(kernel >= min)
    })?;
    Ok(for_libcontainer(seccomp))
}

// ---------------------------------------------------------------------------
// The resolved-in-memory form shared by the built-in table and JSON profiles.
// ---------------------------------------------------------------------------

/// A kernel version as Docker compares them: `"<kernel>.<major>"`, so
/// `5.10.0-21-amd64` is `(5, 10)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
struct KernelVersion(u64, u64);

/// A condition of a rule (`includes` or `excludes`).
#[derive(Debug, Default)]
struct Filter {
    caps: Vec<String>,
    arches: Vec<String>,
    min_kernel: Option<KernelVersion>,
}

/// A rule with its conditions.
#[derive(Debug)]
struct Rule {
    syscall: LinuxSyscall,
    includes: Filter,
    excludes: Filter,
}

/// A Docker profile before resolution.
#[derive(Debug)]
struct Profile {
    /// Everything but the syscalls, copied to the output as is.
    base: LinuxSeccomp,
    /// Architecture → sub-architectures; only the host's entry is used.
    arch_map: Vec<(Arch, Vec<Arch>)>,
    rules: Vec<Rule>,
}

/// moby's `setupSeccomp`: picks the host's `archMap` entry and keeps the
/// rules whose conditions hold. `kernel_at_least` answers "is the host kernel
/// at least this version?".
fn resolve<E>(
    profile: Profile,
    capabilities: &[String],
    arch: &str,
    mut kernel_at_least: impl FnMut(KernelVersion) -> Result<bool, E>,
) -> Result<LinuxSeccomp, E> {
    let caps: HashSet<String> = capabilities.iter().map(|c| normalize_cap(c)).collect();
    let has_cap = |c: &String| caps.contains(&normalize_cap(c));

    let mut seccomp = profile.base;
    let mut architectures = seccomp.architectures().clone().unwrap_or_default();
    if let Some(native) = seccomp_arch_of(arch) {
        if let Some((main, subs)) = profile.arch_map.iter().find(|(a, _)| *a == native) {
            architectures.push(*main);
            architectures.extend(subs.iter().copied());
        }
    }
    seccomp.set_architectures((!architectures.is_empty()).then_some(architectures));

    let mut syscalls = Vec::new();
    for rule in profile.rules {
        let ex = &rule.excludes;
        if ex.arches.iter().any(|a| a == arch) || ex.caps.iter().any(has_cap) {
            continue;
        }
        if let Some(min) = ex.min_kernel {
            if kernel_at_least(min)? {
                continue;
            }
        }
        let inc = &rule.includes;
        if !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == arch) {
            continue;
        }
        if !inc.caps.iter().all(has_cap) {
            continue;
        }
        if let Some(min) = inc.min_kernel {
            if !kernel_at_least(min)? {
                continue;
            }
        }
        syscalls.push(rule.syscall);
    }
    seccomp.set_syscalls(Some(syscalls));
    Ok(seccomp)
}

/// Whether masked comparisons are written for libcontainer's operand order
/// (see the module documentation).
const LIBCONTAINER_MASKED_EQ_ORDER: bool = true;

/// Adapts a resolved profile to libcontainer 0.7: swaps the operands of
/// `SCMP_CMP_MASKED_EQ` comparisons (see the module documentation).
fn for_libcontainer(mut seccomp: LinuxSeccomp) -> LinuxSeccomp {
    if !LIBCONTAINER_MASKED_EQ_ORDER {
        return seccomp;
    }
    if let Some(syscalls) = seccomp.syscalls().clone() {
        let syscalls = syscalls
            .into_iter()
            .map(|mut syscall| {
                if let Some(args) = syscall.args().clone() {
                    let args = args.into_iter().map(swap_masked_operands).collect();
                    syscall.set_args(Some(args));
                }
                syscall
            })
            .collect();
        seccomp.set_syscalls(Some(syscalls));
    }
    seccomp
}

fn swap_masked_operands(arg: LinuxSeccompArg) -> LinuxSeccompArg {
    if arg.op() != LinuxSeccompOperator::ScmpCmpMaskedEq {
        return arg;
    }
    let mask = arg.value();
    let datum = arg.value_two().unwrap_or(0);
    seccomp_arg(arg.index(), datum, Some(mask), arg.op())
}

/// `"sys_admin"`, `"SYS_ADMIN"` and `"CAP_SYS_ADMIN"` all name the same capability.
fn normalize_cap(cap: &str) -> String {
    let cap = cap.trim().to_ascii_uppercase();
    if cap.starts_with("CAP_") {
        cap
    } else {
        format!("CAP_{cap}")
    }
}

/// The host architecture as Docker names it in `includes.arches` /
/// `excludes.arches` (libseccomp's names: `amd64`, `arm64`, `x86`, …).
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "x86",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "powerpc" => "ppc",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "loongarch64" => "loongarch64",
        "mips64" if cfg!(target_endian = "little") => "mipsel64",
        "mips64" => "mips64",
        "mips" if cfg!(target_endian = "little") => "mipsel",
        "mips" => "mips",
        other => other,
    }
}

/// The seccomp architecture of a Docker architecture name, to pick the
/// host's `archMap` entry.
fn seccomp_arch_of(arch: &str) -> Option<Arch> {
    Some(match arch {
        "x86" => Arch::ScmpArchX86,
        "amd64" => Arch::ScmpArchX86_64,
        "arm" => Arch::ScmpArchArm,
        "arm64" => Arch::ScmpArchAarch64,
        "loongarch64" => Arch::ScmpArchLoongarch64,
        "mips" => Arch::ScmpArchMips,
        "mips64" => Arch::ScmpArchMips64,
        "mips64n32" => Arch::ScmpArchMips64n32,
        "mipsel" => Arch::ScmpArchMipsel,
        "mipsel64" => Arch::ScmpArchMipsel64,
        "mipsel64n32" => Arch::ScmpArchMipsel64n32,
        "ppc" => Arch::ScmpArchPpc,
        "ppc64" => Arch::ScmpArchPpc64,
        "ppc64le" => Arch::ScmpArchPpc64le,
        "riscv64" => Arch::ScmpArchRiscv64,
        "s390" => Arch::ScmpArchS390,
        "s390x" => Arch::ScmpArchS390x,
        _ => return None,
    })
}

/// The running kernel's version, read once.
fn host_kernel() -> Result<KernelVersion, String> {
    static KERNEL: OnceLock<Result<KernelVersion, String>> = OnceLock::new();
    KERNEL
        .get_or_init(|| {
            let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_err(|e| format!("reading /proc/sys/kernel/osrelease: {e}"))?;
            parse_release(release.trim())
        })
        .clone()
}

/// Parses a kernel release (`6.1.0-18-amd64`, `3.12-1-amd64`) into its
/// kernel version and major revision.
fn parse_release(release: &str) -> Result<KernelVersion, String> {
    let leading_number = |s: &str| -> Option<u64> {
        let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        s[..end].parse().ok()
    };
    let mut parts = release.splitn(2, '.');
    let kernel = parts.next().and_then(leading_number);
    let major = parts.next().and_then(leading_number);
    match (kernel, major) {
        (Some(kernel), Some(major)) => Ok(KernelVersion(kernel, major)),
        _ => Err(format!("failed to parse kernel version {release:?}")),
    }
}

/// Parses a profile's `minKernel` as Docker does: exactly `"<kernel>.<major>"`,
/// each part a number below 256, not `"0.0"`; an empty string is version 0.0
/// (always satisfied).
fn parse_min_kernel(version: &str) -> Result<KernelVersion, SeccompError> {
    let invalid = |reason: String| SeccompError::InvalidKernelVersion {
        version: version.to_string(),
        reason,
    };
    if version.is_empty() {
        return Ok(KernelVersion(0, 0));
    }
    let parts: Vec<&str> = version.splitn(3, '.').collect();
    let [kernel, major] = parts.as_slice() else {
        return Err(invalid(String::new()));
    };
    let number = |s: &str| {
        s.parse::<u8>()
            .map(u64::from)
            .map_err(|e| invalid(format!(": {e}")))
    };
    let parsed = KernelVersion(number(kernel)?, number(major)?);
    if parsed == KernelVersion(0, 0) {
        return Err(invalid(": version cannot be 0.0".to_string()));
    }
    Ok(parsed)
}

// ---------------------------------------------------------------------------
// Docker's JSON format.
// ---------------------------------------------------------------------------

/// A Docker seccomp profile as written. Unknown keys are ignored and `null`
/// is accepted wherever Go's decoder accepts it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProfile {
    #[serde(default)]
    default_action: Option<String>,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Option<Vec<String>>,
    #[serde(default)]
    arch_map: Option<Vec<RawArchMap>>,
    #[serde(default)]
    flags: Option<Vec<String>>,
    #[serde(default)]
    listener_path: Option<PathBuf>,
    #[serde(default)]
    listener_metadata: Option<String>,
    #[serde(default)]
    syscalls: Option<Vec<RawSyscall>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawArchMap {
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    sub_architectures: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSyscall {
    #[serde(default)]
    names: Option<Vec<String>>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<RawArg>>,
    #[serde(default)]
    includes: Option<RawFilter>,
    #[serde(default)]
    excludes: Option<RawFilter>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawArg {
    #[serde(default)]
    index: usize,
    #[serde(default)]
    value: u64,
    #[serde(default)]
    value_two: Option<u64>,
    #[serde(default)]
    op: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFilter {
    #[serde(default)]
    caps: Option<Vec<String>>,
    #[serde(default)]
    arches: Option<Vec<String>>,
    #[serde(default)]
    min_kernel: Option<String>,
}

/// Parses one of oci-spec's enums from its OCI spelling (`SCMP_ACT_ALLOW`, …).
fn parse_enum<T: DeserializeOwned>(
    value: &str,
    error: impl FnOnce(String) -> SeccompError,
) -> Result<T, SeccompError> {
    serde_json::from_value(serde_json::Value::String(value.to_string()))
        .map_err(|_| error(value.to_string()))
}

fn parse_arches(arches: Vec<String>) -> Result<Vec<Arch>, SeccompError> {
    arches
        .iter()
        .map(|a| parse_enum(a, SeccompError::UnknownArch))
        .collect()
}

impl TryFrom<RawFilter> for Filter {
    type Error = SeccompError;

    fn try_from(raw: RawFilter) -> Result<Self, SeccompError> {
        Ok(Filter {
            caps: raw.caps.unwrap_or_default(),
            arches: raw.arches.unwrap_or_default(),
            min_kernel: raw
                .min_kernel
                .as_deref()
                .map(parse_min_kernel)
                .transpose()?,
        })
    }
}

impl TryFrom<RawSyscall> for Rule {
    type Error = SeccompError;

    fn try_from(raw: RawSyscall) -> Result<Self, SeccompError> {
        let names = match (raw.name.filter(|n| !n.is_empty()), raw.names) {
            (Some(_), Some(names)) if !names.is_empty() => {
                return Err(SeccompError::NameAndNames);
            }
            (Some(name), _) => vec![name],
            (None, names) => names.unwrap_or_default(),
        };
        let action: LinuxSeccompAction = parse_enum(
            raw.action.as_deref().unwrap_or_default(),
            SeccompError::UnknownAction,
        )?;
        let args = raw
            .args
            .unwrap_or_default()
            .into_iter()
            .map(|arg| {
                let op = parse_enum(
                    arg.op.as_deref().unwrap_or_default(),
                    SeccompError::UnknownOperator,
                )?;
                Ok(seccomp_arg(arg.index, arg.value, arg.value_two, op))
            })
            .collect::<Result<Vec<_>, SeccompError>>()?;
        Ok(Rule {
            syscall: syscall(names, action, raw.errno_ret, args),
            includes: raw
                .includes
                .map(Filter::try_from)
                .transpose()?
                .unwrap_or_default(),
            excludes: raw
                .excludes
                .map(Filter::try_from)
                .transpose()?
                .unwrap_or_default(),
        })
    }
}

impl TryFrom<RawProfile> for Profile {
    type Error = SeccompError;

    fn try_from(raw: RawProfile) -> Result<Self, SeccompError> {
        let raw_syscalls = raw.syscalls.unwrap_or_default();
        let default_action = match raw.default_action.filter(|a| !a.is_empty()) {
            Some(action) => parse_enum(&action, SeccompError::UnknownAction)?,
            // Docker: no default action and no rules means no seccomp at all.
            None if raw_syscalls.is_empty() => LinuxSeccompAction::ScmpActAllow,
            None => return Err(SeccompError::UnknownAction(String::new())),
        };
        let architectures = raw.architectures.unwrap_or_default();
        let arch_map = raw.arch_map.unwrap_or_default();
        if !architectures.is_empty() && !arch_map.is_empty() {
            return Err(SeccompError::ArchitecturesAndArchMap);
        }

        let mut base = LinuxSeccomp::default();
        base.set_default_action(default_action);
        base.set_default_errno_ret(raw.default_errno_ret);
        let architectures = parse_arches(architectures)?;
        base.set_architectures((!architectures.is_empty()).then_some(architectures));
        let flags = raw
            .flags
            .unwrap_or_default()
            .iter()
            .map(|f| parse_enum::<LinuxSeccompFilterFlag>(f, SeccompError::UnknownFlag))
            .collect::<Result<Vec<_>, _>>()?;
        base.set_flags((!flags.is_empty()).then_some(flags));
        base.set_listener_path(raw.listener_path.filter(|p| !p.as_os_str().is_empty()));
        base.set_listener_metadata(raw.listener_metadata.filter(|m| !m.is_empty()));

        let arch_map = arch_map
            .into_iter()
            .map(|entry| {
                let arch = parse_enum(
                    entry.architecture.as_deref().unwrap_or_default(),
                    SeccompError::UnknownArch,
                )?;
                let subs = parse_arches(entry.sub_architectures.unwrap_or_default())?;
                Ok((arch, subs))
            })
            .collect::<Result<Vec<_>, SeccompError>>()?;
        let rules = raw_syscalls
            .into_iter()
            .map(Rule::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Profile {
            base,
            arch_map,
            rules,
        })
    }
}

fn seccomp_arg(
    index: usize,
    value: u64,
    value_two: Option<u64>,
    op: LinuxSeccompOperator,
) -> LinuxSeccompArg {
    let mut builder = LinuxSeccompArgBuilder::default()
        .index(index)
        .value(value)
        .op(op);
    if let Some(value_two) = value_two {
        builder = builder.value_two(value_two);
    }
    // The builder has a default for every field, so `build` cannot fail; the
    // fallback only satisfies the type.
    builder.build().unwrap_or_default()
}

fn syscall(
    names: Vec<String>,
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    args: Vec<LinuxSeccompArg>,
) -> LinuxSyscall {
    let mut syscall = LinuxSyscall::default();
    syscall.set_names(names);
    syscall.set_action(action);
    syscall.set_errno_ret(errno_ret);
    syscall.set_args((!args.is_empty()).then_some(args));
    syscall
}

// ---------------------------------------------------------------------------
// Docker's default profile, as data.
// ---------------------------------------------------------------------------

/// One rule of the built-in default profile.
struct DefaultRule {
    names: &'static [&'static str],
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    args: &'static [DefaultArg],
    includes: DefaultFilter,
    excludes: DefaultFilter,
}

/// An argument comparison, with OCI's meaning of `value` / `value_two`
/// (for `SCMP_CMP_MASKED_EQ`: `(arg & value) == value_two`).
struct DefaultArg {
    index: usize,
    value: u64,
    value_two: Option<u64>,
    op: LinuxSeccompOperator,
}

/// A rule condition: every capability, any of the architectures, at least
/// the kernel version.
struct DefaultFilter {
    caps: &'static [&'static str],
    arches: &'static [&'static str],
    min_kernel: Option<KernelVersion>,
}

/// No condition.
const ANY: DefaultFilter = DefaultFilter {
    caps: &[],
    arches: &[],
    min_kernel: None,
};

/// Condition: the container has these capabilities.
const fn caps(caps: &'static [&'static str]) -> DefaultFilter {
    DefaultFilter {
        caps,
        arches: &[],
        min_kernel: None,
    }
}

/// Condition: the host is one of these architectures.
const fn arches(arches: &'static [&'static str]) -> DefaultFilter {
    DefaultFilter {
        caps: &[],
        arches,
        min_kernel: None,
    }
}

/// Allow these syscalls unconditionally.
const fn allow(names: &'static [&'static str]) -> DefaultRule {
    DefaultRule {
        names,
        action: LinuxSeccompAction::ScmpActAllow,
        errno_ret: None,
        args: &[],
        includes: ANY,
        excludes: ANY,
    }
}

/// Allow these syscalls when the container has all of `capabilities`.
const fn allow_with(
    capabilities: &'static [&'static str],
    names: &'static [&'static str],
) -> DefaultRule {
    DefaultRule {
        includes: caps(capabilities),
        ..allow(names)
    }
}

/// Allow these syscalls on these host architectures.
const fn allow_on(
    host_arches: &'static [&'static str],
    names: &'static [&'static str],
) -> DefaultRule {
    DefaultRule {
        includes: arches(host_arches),
        ..allow(names)
    }
}

/// Allow `name` when one argument compares as given.
const fn allow_if(name: &'static [&'static str], args: &'static [DefaultArg]) -> DefaultRule {
    DefaultRule {
        args,
        ..allow(name)
    }
}

const fn arg(index: usize, op: LinuxSeccompOperator, value: u64) -> DefaultArg {
    DefaultArg {
        index,
        value,
        value_two: None,
        op,
    }
}

/// `(arg[index] & mask) == 0`.
const fn arg_has_none_of(index: usize, mask: u64) -> DefaultArg {
    DefaultArg {
        index,
        value: mask,
        value_two: Some(0),
        op: LinuxSeccompOperator::ScmpCmpMaskedEq,
    }
}

use LinuxSeccompOperator::{ScmpCmpEq as EQ, ScmpCmpGt as GT, ScmpCmpLt as LT};

/// The architectures each host architecture runs (Docker's `archMap`).
const DEFAULT_ARCH_MAP: &[(Arch, &[Arch])] = &[
    (
        Arch::ScmpArchX86_64,
        &[Arch::ScmpArchX86, Arch::ScmpArchX32],
    ),
    (Arch::ScmpArchAarch64, &[Arch::ScmpArchArm]),
    (
        Arch::ScmpArchMips64,
        &[Arch::ScmpArchMips, Arch::ScmpArchMips64n32],
    ),
    (
        Arch::ScmpArchMips64n32,
        &[Arch::ScmpArchMips, Arch::ScmpArchMips64],
    ),
    (
        Arch::ScmpArchMipsel64,
        &[Arch::ScmpArchMipsel, Arch::ScmpArchMipsel64n32],
    ),
    (
        Arch::ScmpArchMipsel64n32,
        &[Arch::ScmpArchMipsel, Arch::ScmpArchMipsel64],
    ),
    (Arch::ScmpArchS390x, &[Arch::ScmpArchS390]),
    (Arch::ScmpArchRiscv64, &[]),
    (Arch::ScmpArchLoongarch64, &[]),
];

/// Syscalls every container may make. Names of syscalls that do not exist
/// on an architecture (the `*32` / `*64` / `*_time64` variants) are fine:
/// libseccomp applies them where they exist.
const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "cachestat",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
];

/// Docker's default profile (moby `profiles/seccomp`), as rules. The
/// default action (not listed) is `SCMP_ACT_ERRNO` with `EPERM`.
const DEFAULT_RULES: &[DefaultRule] = &[
    allow(ALLOWED),
    // Since Linux 4.8 seccomp is checked again after a tracer changes a
    // syscall, so ptrace can no longer bypass the filter.
    DefaultRule {
        includes: DefaultFilter {
            min_kernel: Some(KernelVersion(4, 8)),
            ..ANY
        },
        ..allow(&["process_vm_readv", "process_vm_writev", "ptrace"])
    },
    // socket(2) for every address family but AF_ALG (38) and AF_VSOCK (40).
    allow_if(&["socket"], &[arg(0, LT, AF_ALG)]),
    allow_if(&["socket"], &[arg(0, EQ, AF_ALG + 1)]),
    allow_if(&["socket"], &[arg(0, GT, AF_VSOCK)]),
    // personality(2) only for PER_LINUX, PER_LINUX32 (and their
    // UNAME26 variants) and for querying (0xffffffff).
    allow_if(&["personality"], &[arg(0, EQ, 0x0)]),
    allow_if(&["personality"], &[arg(0, EQ, 0x0008)]),
    allow_if(&["personality"], &[arg(0, EQ, 0x20000)]),
    allow_if(&["personality"], &[arg(0, EQ, 0x20008)]),
    allow_if(&["personality"], &[arg(0, EQ, 0xffff_ffff)]),
    allow_on(&["ppc64le"], &["sync_file_range2", "swapcontext"]),
    allow_on(
        &["arm", "arm64"],
        &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ],
    ),
    allow_on(&["amd64", "x32"], &["arch_prctl"]),
    allow_on(&["amd64", "x32", "x86"], &["modify_ldt"]),
    allow_on(
        &["s390", "s390x"],
        &[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ],
    ),
    allow_on(&["riscv64"], &["riscv_flush_icache"]),
    allow_with(&["CAP_DAC_READ_SEARCH"], &["open_by_handle_at"]),
    allow_with(
        &["CAP_SYS_ADMIN"],
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    // clone(2) without namespace flags; s390 passes the flags second.
    DefaultRule {
        excludes: DefaultFilter {
            caps: &["CAP_SYS_ADMIN"],
            arches: &["s390", "s390x"],
            min_kernel: None,
        },
        ..allow_if(&["clone"], &[arg_has_none_of(0, CLONE_NAMESPACE_FLAGS)])
    },
    DefaultRule {
        includes: arches(&["s390", "s390x"]),
        excludes: caps(&["CAP_SYS_ADMIN"]),
        ..allow_if(&["clone"], &[arg_has_none_of(1, CLONE_NAMESPACE_FLAGS)])
    },
    // clone3(2) passes its flags in memory, out of seccomp's reach: make it
    // look unimplemented so that libc falls back to clone(2).
    DefaultRule {
        action: LinuxSeccompAction::ScmpActErrno,
        errno_ret: Some(ENOSYS),
        excludes: caps(&["CAP_SYS_ADMIN"]),
        ..allow(&["clone3"])
    },
    allow_with(&["CAP_SYS_BOOT"], &["reboot"]),
    allow_with(&["CAP_SYS_CHROOT"], &["chroot"]),
    allow_with(
        &["CAP_SYS_MODULE"],
        &["delete_module", "init_module", "finit_module"],
    ),
    allow_with(&["CAP_SYS_PACCT"], &["acct"]),
    allow_with(
        &["CAP_SYS_PTRACE"],
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    allow_with(&["CAP_SYS_RAWIO"], &["iopl", "ioperm"]),
    allow_with(
        &["CAP_SYS_TIME"],
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
    ),
    allow_with(&["CAP_SYS_TTY_CONFIG"], &["vhangup"]),
    allow_with(
        &["CAP_SYS_NICE"],
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    allow_with(&["CAP_SYSLOG"], &["syslog"]),
    allow_with(&["CAP_BPF"], &["bpf"]),
    allow_with(&["CAP_PERFMON"], &["perf_event_open"]),
];

fn owned(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_string()).collect()
}

impl From<&DefaultFilter> for Filter {
    fn from(filter: &DefaultFilter) -> Self {
        Filter {
            caps: owned(filter.caps),
            arches: owned(filter.arches),
            min_kernel: filter.min_kernel,
        }
    }
}

/// The built-in profile in the form [`resolve`] takes.
fn builtin_profile() -> Profile {
    let mut base = LinuxSeccomp::default();
    base.set_default_action(LinuxSeccompAction::ScmpActErrno);
    base.set_default_errno_ret(Some(EPERM));
    let rules = DEFAULT_RULES
        .iter()
        .map(|rule| {
            let args = rule
                .args
                .iter()
                .map(|a| seccomp_arg(a.index, a.value, a.value_two, a.op))
                .collect();
            Rule {
                syscall: syscall(owned(rule.names), rule.action, rule.errno_ret, args),
                includes: Filter::from(&rule.includes),
                excludes: Filter::from(&rule.excludes),
            }
        })
        .collect();
    Profile {
        base,
        arch_map: DEFAULT_ARCH_MAP
            .iter()
            .map(|(arch, subs)| (*arch, subs.to_vec()))
            .collect(),
        rules,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    /// Docker's default capability set.
    fn docker_default_caps() -> Vec<String> {
        caps(crate::spec::DEFAULT_CAPABILITIES)
    }

    fn rules_for<'a>(seccomp: &'a LinuxSeccomp, name: &str) -> Vec<&'a LinuxSyscall> {
        seccomp
            .syscalls()
            .iter()
            .flatten()
            .filter(|s| s.names().iter().any(|n| n == name))
            .collect()
    }

    /// Allowed without any argument condition.
    fn allows_unconditionally(seccomp: &LinuxSeccomp, name: &str) -> bool {
        rules_for(seccomp, name).iter().any(|s| {
            s.action() == LinuxSeccompAction::ScmpActAllow
                && s.args().as_ref().is_none_or(|a| a.is_empty())
        })
    }

    fn mentions(seccomp: &LinuxSeccomp, name: &str) -> bool {
        !rules_for(seccomp, name).is_empty()
    }

    /// The comparisons of the conditional allow rules for `name`, in OCI
    /// meaning (masked operands swapped back from libcontainer's order).
    fn allowed_args(seccomp: &LinuxSeccomp, name: &str) -> Vec<Vec<LinuxSeccompArg>> {
        rules_for(seccomp, name)
            .iter()
            .filter(|s| s.action() == LinuxSeccompAction::ScmpActAllow)
            .filter_map(|s| s.args().clone())
            .map(|args| args.into_iter().map(swap_masked_operands).collect())
            .collect()
    }

    #[test]
    fn default_profile_basics() {
        let p = default_profile(&docker_default_caps());
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(p.default_errno_ret(), Some(1));
        for name in ["read", "write", "openat", "execve", "exit_group", "chown"] {
            assert!(allows_unconditionally(&p, name), "{name}");
        }
        // CAP_SYS_CHROOT is in Docker's default set.
        assert!(allows_unconditionally(&p, "chroot"));
        #[cfg(target_arch = "x86_64")]
        {
            assert_eq!(
                p.architectures().as_deref(),
                Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
            );
            assert!(allows_unconditionally(&p, "arch_prctl"));
            assert!(allows_unconditionally(&p, "modify_ldt"));
            assert!(!mentions(&p, "cacheflush"));
        }
        #[cfg(target_arch = "aarch64")]
        {
            assert_eq!(
                p.architectures().as_deref(),
                Some(&[Arch::ScmpArchAarch64, Arch::ScmpArchArm][..])
            );
            assert!(allows_unconditionally(&p, "cacheflush"));
            assert!(!mentions(&p, "arch_prctl"));
        }
    }

    #[test]
    fn default_profile_without_sys_admin() {
        let p = default_profile(&docker_default_caps());
        for name in [
            "mount",
            "umount2",
            "setns",
            "unshare",
            "bpf",
            "pivot_root",
            "reboot",
            "init_module",
            "kcmp",
            "iopl",
            "settimeofday",
            "syslog",
            "acct",
            "vhangup",
            "mbind",
            "open_by_handle_at",
            "perf_event_open",
        ] {
            assert!(!allows_unconditionally(&p, name), "{name} allowed");
        }
        // clone only without namespace flags.
        assert!(!allows_unconditionally(&p, "clone"));
        #[cfg(not(target_arch = "s390x"))]
        {
            let expected = seccomp_arg(
                0,
                CLONE_NAMESPACE_FLAGS,
                Some(0),
                LinuxSeccompOperator::ScmpCmpMaskedEq,
            );
            assert_eq!(allowed_args(&p, "clone"), vec![vec![expected]]);
            assert_eq!(CLONE_NAMESPACE_FLAGS, 2_114_060_288);
        }
        // clone3 fails with ENOSYS.
        let clone3 = rules_for(&p, "clone3");
        assert_eq!(clone3.len(), 1);
        assert_eq!(clone3[0].action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(clone3[0].errno_ret(), Some(38));
    }

    #[test]
    fn default_profile_with_sys_admin() {
        let mut capabilities = docker_default_caps();
        capabilities.push("CAP_SYS_ADMIN".to_string());
        let p = default_profile(&capabilities);
        for name in [
            "mount", "umount2", "setns", "unshare", "clone", "clone3", "bpf",
        ] {
            assert!(allows_unconditionally(&p, name), "{name} not allowed");
        }
        assert!(allowed_args(&p, "clone").is_empty(), "no masked clone rule");
        assert!(rules_for(&p, "clone3")
            .iter()
            .all(|s| s.action() == LinuxSeccompAction::ScmpActAllow));
        // Capability names are accepted without the prefix too.
        let p = default_profile(&caps(&["sys_admin"]));
        assert!(allows_unconditionally(&p, "mount"));
    }

    #[test]
    fn default_profile_personality_and_socket() {
        let p = default_profile(&[]);
        let values: Vec<u64> = allowed_args(&p, "personality")
            .iter()
            .map(|args| {
                assert_eq!(args.len(), 1);
                assert_eq!(args[0].index(), 0);
                assert_eq!(args[0].op(), LinuxSeccompOperator::ScmpCmpEq);
                args[0].value()
            })
            .collect();
        assert_eq!(values, vec![0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff]);
        assert!(!allows_unconditionally(&p, "personality"));

        assert!(!allows_unconditionally(&p, "socket"));
        let socket: Vec<(LinuxSeccompOperator, u64)> = allowed_args(&p, "socket")
            .iter()
            .map(|args| (args[0].op(), args[0].value()))
            .collect();
        use LinuxSeccompOperator::*;
        assert_eq!(
            socket,
            vec![(ScmpCmpLt, 38), (ScmpCmpEq, 39), (ScmpCmpGt, 40)]
        );
    }

    #[test]
    fn default_profile_capability_gated() {
        let none = default_profile(&[]);
        let gated = [
            ("CAP_SYS_PTRACE", "kcmp"),
            ("CAP_SYS_PTRACE", "pidfd_getfd"),
            ("CAP_SYS_PTRACE", "process_madvise"),
            ("CAP_SYS_MODULE", "init_module"),
            ("CAP_SYS_MODULE", "finit_module"),
            ("CAP_SYS_MODULE", "delete_module"),
            ("CAP_SYS_BOOT", "reboot"),
            ("CAP_SYS_CHROOT", "chroot"),
            ("CAP_SYS_TIME", "settimeofday"),
            ("CAP_SYS_TIME", "clock_settime"),
            ("CAP_SYS_NICE", "mbind"),
            ("CAP_SYS_NICE", "set_mempolicy"),
            ("CAP_SYSLOG", "syslog"),
            ("CAP_SYS_PACCT", "acct"),
            ("CAP_SYS_RAWIO", "iopl"),
            ("CAP_SYS_RAWIO", "ioperm"),
            ("CAP_SYS_TTY_CONFIG", "vhangup"),
            ("CAP_DAC_READ_SEARCH", "open_by_handle_at"),
            ("CAP_BPF", "bpf"),
            ("CAP_PERFMON", "perf_event_open"),
        ];
        for (cap, name) in gated {
            assert!(!mentions(&none, name), "{name} without {cap}");
            let with = default_profile(&caps(&[cap]));
            assert!(allows_unconditionally(&with, name), "{name} with {cap}");
        }
        // Docker allows name_to_handle_at to everyone (only open_by_handle_at
        // needs CAP_DAC_READ_SEARCH).
        assert!(allows_unconditionally(&none, "name_to_handle_at"));
    }

    #[test]
    fn ptrace_needs_cap_sys_ptrace_or_linux_4_8() {
        let with = default_profile(&caps(&["CAP_SYS_PTRACE"]));
        assert!(allows_unconditionally(&with, "ptrace"));
        assert!(allows_unconditionally(&with, "process_vm_readv"));

        // Docker allows ptrace to every container on Linux >= 4.8, where
        // seccomp can no longer be bypassed by a tracer.
        let resolve_on = |kernel: KernelVersion| {
            let Ok(p) = resolve(builtin_profile(), &[], "amd64", |min| {
                Ok::<_, Infallible>(kernel >= min)
            });
            p
        };
        assert!(!mentions(&resolve_on(KernelVersion(4, 4)), "ptrace"));
        assert!(allows_unconditionally(
            &resolve_on(KernelVersion(4, 8)),
            "ptrace"
        ));
        assert!(allows_unconditionally(
            &resolve_on(KernelVersion(6, 1)),
            "ptrace"
        ));
        let host_allows = host_kernel().is_ok_and(|k| k >= KernelVersion(4, 8));
        assert_eq!(
            allows_unconditionally(&default_profile(&[]), "ptrace"),
            host_allows
        );
    }

    #[test]
    fn default_profile_other_arches() {
        let Ok(arm) = resolve(builtin_profile(), &[], "arm64", |_| {
            Ok::<_, Infallible>(true)
        });
        assert_eq!(
            arm.architectures().as_deref(),
            Some(&[Arch::ScmpArchAarch64, Arch::ScmpArchArm][..])
        );
        assert!(allows_unconditionally(&arm, "cacheflush"));
        assert!(!mentions(&arm, "arch_prctl"));

        let Ok(s390) = resolve(builtin_profile(), &[], "s390x", |_| {
            Ok::<_, Infallible>(true)
        });
        let clone = rules_for(&s390, "clone");
        assert_eq!(clone.len(), 1);
        assert_eq!(clone[0].args().as_ref().map(|a| a[0].index()), Some(1));
    }

    #[test]
    fn default_profile_names_are_unique_per_rule() {
        for rule in DEFAULT_RULES {
            let set: HashSet<_> = rule.names.iter().collect();
            assert_eq!(set.len(), rule.names.len(), "duplicate in {:?}", rule.names);
        }
        assert!(ALLOWED.len() > 300);
        for name in [
            "mount",
            "ptrace",
            "clone",
            "clone3",
            "socket",
            "personality",
            "bpf",
        ] {
            assert!(!ALLOWED.contains(&name), "{name} must be conditional");
        }
    }

    #[test]
    fn serialises_as_oci() {
        let p = default_profile(&docker_default_caps());
        let json = serde_json::to_string(&p).expect("serialise");
        assert!(
            json.contains(r#""defaultAction":"SCMP_ACT_ERRNO""#),
            "{json}"
        );
        assert!(json.contains(r#""defaultErrnoRet":1"#));
        assert!(json.contains(r#""SCMP_CMP_MASKED_EQ""#));
        #[cfg(target_arch = "x86_64")]
        assert!(json
            .contains(r#""architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"]"#));
        let back: LinuxSeccomp = serde_json::from_str(&json).expect("valid OCI");
        assert_eq!(back, p);
    }

    const PROFILE: &str = r#"{
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
            {"architecture": "SCMP_ARCH_RISCV64", "subArchitectures": null}
        ],
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "comment": "basics"},
            {"name": "getpid", "action": "SCMP_ACT_ALLOW"},
            {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
             "excludes": {"caps": ["CAP_FOWNER"]}},
            {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
            {"names": ["cacheflush"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}},
            {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
            {"names": ["uselib"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "200.1"}},
            {"names": ["kill"], "action": "SCMP_ACT_LOG", "excludes": {"minKernel": "3.0"}},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}
        ]
    }"#;

    fn names(p: &LinuxSeccomp) -> Vec<String> {
        p.syscalls()
            .iter()
            .flatten()
            .flat_map(|s| s.names().clone())
            .collect()
    }

    #[test]
    fn docker_json_without_caps() {
        let p = from_docker_json(PROFILE.as_bytes(), &[]).expect("parse");
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(p.default_errno_ret(), Some(1));
        let mut expected = vec!["read", "write", "getpid", "chmod"];
        if host_arch() == "amd64" {
            expected.push("arch_prctl");
        }
        if host_arch() == "arm64" {
            expected.push("cacheflush");
        }
        expected.extend(["ptrace", "personality", "clone"]);
        assert_eq!(names(&p), expected);
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            p.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
        );

        let chmod = rules_for(&p, "chmod")[0];
        assert_eq!(chmod.action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(chmod.errno_ret(), Some(13));
        assert_eq!(
            allowed_args(&p, "personality"),
            vec![vec![seccomp_arg(
                0,
                8,
                None,
                LinuxSeccompOperator::ScmpCmpEq
            )]]
        );
        assert_eq!(
            allowed_args(&p, "clone"),
            vec![vec![seccomp_arg(
                0,
                CLONE_NAMESPACE_FLAGS,
                Some(0),
                LinuxSeccompOperator::ScmpCmpMaskedEq
            )]]
        );
    }

    #[test]
    fn docker_json_with_caps() {
        let p = from_docker_json(PROFILE.as_bytes(), &caps(&["CAP_SYS_ADMIN", "CAP_FOWNER"]))
            .expect("parse");
        let names = names(&p);
        assert!(names.contains(&"mount".to_string()));
        assert!(!names.contains(&"chmod".to_string()));
    }

    #[test]
    fn docker_json_architectures_and_flags() {
        let json = br#"{"defaultAction":"SCMP_ACT_KILL_PROCESS",
            "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_AARCH64"],
            "flags":["SECCOMP_FILTER_FLAG_LOG"],
            "syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#;
        let p = from_docker_json(json, &[]).expect("parse");
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActKillProcess);
        assert_eq!(
            p.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchAarch64][..])
        );
        assert_eq!(
            p.flags().as_deref(),
            Some(&[LinuxSeccompFilterFlag::SeccompFilterFlagLog][..])
        );
    }

    #[test]
    fn docker_json_empty_means_unconfined() {
        let p = from_docker_json(b"{}", &[]).expect("parse");
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActAllow);
        assert_eq!(p.syscalls().as_deref(), Some(&[][..]));
    }

    #[test]
    fn docker_json_errors() {
        let err = |json: &str| {
            from_docker_json(json.as_bytes(), &[])
                .expect_err(json)
                .to_string()
        };
        assert!(err("{not json").starts_with("decoding seccomp profile failed: "));
        assert!(err(r#"{"syscalls": 3}"#).starts_with("decoding seccomp profile failed: "));
        assert_eq!(
            err(r#"{"defaultAction": "SCMP_ACT_BOGUS"}"#),
            r#"unknown seccomp action "SCMP_ACT_BOGUS""#
        );
        assert_eq!(
            err(
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "ALLOW"}]}"#
            ),
            r#"unknown seccomp action "ALLOW""#
        );
        assert_eq!(
            err(r#"{"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}"#),
            r#"unknown seccomp action """#
        );
        assert_eq!(
            err(r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_VAX"]}"#),
            r#"unknown seccomp architecture "SCMP_ARCH_VAX""#
        );
        assert!(err(r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "EQ"}]}]}"#)
            .starts_with("unknown seccomp operator"));
        assert!(err(r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}"#)
            .contains("use either 'architectures' or 'archMap'"));
        assert!(err(r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW"}]}"#)
            .contains("use either 'name' or 'names'"));
        for bad in ["4", "4.8.1", "a.b", "0.0", "300.1"] {
            let json = format!(
                r#"{{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {{"minKernel": "{bad}"}}}}]}}"#
            );
            assert!(err(&json).contains("invalid kernel version"), "{bad}");
        }
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(parse_release("6.1.0-18-amd64"), Ok(KernelVersion(6, 1)));
        assert_eq!(parse_release("3.12-1-amd64"), Ok(KernelVersion(3, 12)));
        assert_eq!(parse_release("6.18.44-fc-v669"), Ok(KernelVersion(6, 18)));
        assert!(parse_release("garbage").is_err());
        assert!(KernelVersion(5, 10) >= KernelVersion(4, 8));
        assert!(KernelVersion(4, 10) >= KernelVersion(4, 8));
        assert!(KernelVersion(4, 7) < KernelVersion(4, 8));
        assert!(KernelVersion(3, 20) < KernelVersion(4, 8));
    }

    /// Loads the default profile with libcontainer into a fresh thread (the
    /// filter and no_new_privs only apply to the calling thread) and checks
    /// what the kernel then answers to a few syscalls. `None` when this
    /// sandbox does not let us load a filter.
    fn probe_live(
        capabilities: Vec<String>,
        loader: Loader,
    ) -> Option<Vec<(&'static str, i64, i32)>> {
        std::thread::spawn(move || {
            let profile = default_profile(&capabilities);
            // SAFETY: prctl(PR_SET_NO_NEW_PRIVS) only sets a flag of this thread.
            if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
                return None;
            }
            match loader {
                Loader::Libcontainer => {
                    libcontainer::seccomp::initialize_seccomp(&profile).ok()?;
                }
                // berth's own path: compiled once, loaded as BPF.
                Loader::Compiled => {
                    let filter = crate::filter::compiled(&profile).ok()??;
                    filter.load().ok()?;
                }
            }
            let mut results = Vec::new();
            let mut call = |what: &'static str, f: &dyn Fn() -> i64| {
                let ret = f();
                let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
                results.push((what, ret, if ret < 0 { errno } else { 0 }));
                ret
            };
            // SAFETY (all blocks below): raw syscalls with harmless
            // arguments; a forked child exits at once.
            let fork_like = |flags: i64| {
                let ret = unsafe { libc::syscall(libc::SYS_clone, flags, 0, 0, 0, 0) };
                if ret == 0 {
                    unsafe { libc::_exit(0) };
                }
                if ret > 0 {
                    unsafe { libc::waitpid(ret as i32, std::ptr::null_mut(), 0) };
                }
                ret
            };
            call("getpid", &|| unsafe { libc::syscall(libc::SYS_getpid) });
            call("clone", &|| fork_like(libc::SIGCHLD as i64));
            call("clone_newuts", &|| {
                fork_like(libc::SIGCHLD as i64 | libc::CLONE_NEWUTS as i64)
            });
            call("clone3", &|| unsafe {
                libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize)
            });
            call("unshare0", &|| unsafe {
                libc::syscall(libc::SYS_unshare, 0)
            });
            call("personality_query", &|| unsafe {
                libc::syscall(libc::SYS_personality, 0xffff_ffffu64)
            });
            call("personality_bad", &|| unsafe {
                libc::syscall(libc::SYS_personality, 0x0040000u64)
            });
            for (what, family) in [
                ("socket_unix", libc::AF_UNIX),
                ("socket_alg", libc::AF_ALG),
                ("socket_vsock", libc::AF_VSOCK),
            ] {
                let fd = call(what, &|| unsafe {
                    libc::syscall(libc::SYS_socket, family, libc::SOCK_STREAM, 0)
                });
                if fd >= 0 {
                    unsafe { libc::close(fd as i32) };
                }
            }
            Some(results)
        })
        .join()
        .ok()
        .flatten()
    }

    /// Who loads the profile in [`probe_live`].
    #[derive(Clone, Copy, Debug)]
    enum Loader {
        Libcontainer,
        Compiled,
    }

    fn outcome(results: &[(&'static str, i64, i32)], what: &str) -> (i64, i32) {
        results
            .iter()
            .find(|(w, _, _)| *w == what)
            .map(|(_, r, e)| (*r, *e))
            .unwrap_or((i64::MIN, 0))
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn live_filter_without_sys_admin() {
        for loader in [Loader::Libcontainer, Loader::Compiled] {
            live_filter_without_sys_admin_by(loader);
        }
    }

    fn live_filter_without_sys_admin_by(loader: Loader) {
        let Some(r) = probe_live(docker_default_caps(), loader) else {
            panic!("{loader:?} could not load the default profile");
        };
        assert!(outcome(&r, "getpid").0 > 0, "{r:?}");
        assert!(outcome(&r, "clone").0 > 0, "plain clone refused: {r:?}");
        assert_eq!(outcome(&r, "clone_newuts"), (-1, libc::EPERM), "{r:?}");
        assert_eq!(outcome(&r, "clone3"), (-1, libc::ENOSYS), "{r:?}");
        assert_eq!(outcome(&r, "unshare0"), (-1, libc::EPERM), "{r:?}");
        assert!(outcome(&r, "personality_query").0 >= 0, "{r:?}");
        assert_eq!(outcome(&r, "personality_bad"), (-1, libc::EPERM), "{r:?}");
        assert!(outcome(&r, "socket_unix").0 >= 0, "{r:?}");
        assert_eq!(outcome(&r, "socket_alg"), (-1, libc::EPERM), "{r:?}");
        assert_eq!(outcome(&r, "socket_vsock"), (-1, libc::EPERM), "{r:?}");
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn live_filter_with_sys_admin() {
        for loader in [Loader::Libcontainer, Loader::Compiled] {
            live_filter_with_sys_admin_by(loader);
        }
    }

    fn live_filter_with_sys_admin_by(loader: Loader) {
        let mut capabilities = docker_default_caps();
        capabilities.push("CAP_SYS_ADMIN".to_string());
        let Some(r) = probe_live(capabilities, loader) else {
            panic!("{loader:?} could not load the profile");
        };
        assert!(outcome(&r, "clone").0 > 0, "{r:?}");
        assert_eq!(outcome(&r, "unshare0"), (0, 0), "{r:?}");
        // The kernel itself rejects a null clone_args of size 0.
        assert_eq!(outcome(&r, "clone3"), (-1, libc::EINVAL), "{r:?}");
    }
}
