//! Seccomp filters compiled once and loaded as BPF.
//!
//! libseccomp turns a profile into a BPF program each time a filter is
//! loaded, and for Docker's default profile (three x86 ABIs) that costs about
//! 10 ms of every container start and every exec. The daemon compiles each
//! distinct profile once ([`compile`], cached), writes the program into the
//! container's bundle (`seccomp.bpf`, see [`prepare`]), and the shim and
//! `berth-shim-exec` load that program with one `seccomp(2)` call.
//!
//! The container's init is set up by libcontainer, which loads seccomp
//! before dropping capabilities (without no-new-privileges, loading a filter
//! needs `CAP_SYS_ADMIN`, as in runc). berth hands libcontainer a spec
//! without the profile and loads the program itself in [`FilterExecutor`],
//! just before the payload's `execve`. When the container may not keep
//! `CAP_SYS_ADMIN`, the spec given to libcontainer keeps it in the effective
//! and permitted sets only, which the executor drops right after loading:
//! the bounding set never holds it, so the payload ends with exactly the
//! capabilities Docker gives it.
//!
//! Profiles with a notify action (a seccomp agent) are left to libcontainer.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Seek};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator, Spec,
};
use serde_json::Value;

use berth_shim::bpf::LENDS_SYS_ADMIN;
pub use berth_shim::bpf::{path, Filter, FILE};
const SYS_ADMIN: &str = "CAP_SYS_ADMIN";

fn translate_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
        Arch::ScmpArchSh => ScmpArch::Sh,
    }
}

fn translate_action(action: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction, String> {
    let errno = errno.map(|e| e as i32).unwrap_or(libc::EPERM);
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(
            u16::try_from(errno)
                .map_err(|_| format!("seccomp: trace value {errno} is out of range"))?,
        ),
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    })
}

/// The comparison of one argument, read the way libcontainer 0.7 reads it:
/// for a masked comparison `valueTwo` is the mask and `value` the datum
/// (the profiles of [`crate::seccomp`] are written for that reading).
fn compare(
    index: u32,
    op: LinuxSeccompOperator,
    value: u64,
    value_two: Option<u64>,
) -> ScmpArgCompare {
    let op = match op {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(value_two.unwrap_or(0)),
    };
    ScmpArgCompare::new(index, op, value)
}

fn uses_notify(seccomp: &LinuxSeccomp) -> bool {
    seccomp.default_action() == LinuxSeccompAction::ScmpActNotify
        || seccomp
            .syscalls()
            .iter()
            .flatten()
            .any(|s| s.action() == LinuxSeccompAction::ScmpActNotify)
}

fn flags_of(seccomp: &LinuxSeccomp) -> u32 {
    seccomp
        .flags()
        .iter()
        .flatten()
        .map(|f| match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => 1,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => 2,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => 4,
            // Only meaningful with a notify listener, which is not ours.
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => 0,
        })
        .fold(0, |a, b| a | b)
}

/// Builds the BPF program of `seccomp` with libseccomp, with the rules
/// libcontainer would add (names libseccomp does not know are skipped;
/// rules with the default action are redundant and left out).
fn build(seccomp: &LinuxSeccomp) -> Result<Vec<u8>, String> {
    let fail = |what: &str, e: libseccomp::error::SeccompError| format!("seccomp: {what}: {e}");
    let default = translate_action(seccomp.default_action(), seccomp.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).map_err(|e| fail("new filter", e))?;
    // A binary tree of syscall numbers instead of a linear list: a filtered
    // syscall walks ~log2(n) comparisons instead of up to n (personality(2)
    // 0.94 -> 0.71 us here), and the kernel's per-syscall cache pass at load
    // halves (Docker's profile: 1.5 -> 0.7 ms per start and per exec).
    ctx.set_ctl_optimize(2)
        .map_err(|e| fail("choosing the binary-tree layout", e))?;
    for &arch in seccomp.architectures().iter().flatten() {
        ctx.add_arch(translate_arch(arch))
            .map_err(|e| fail(&format!("adding architecture {arch:?}"), e))?;
    }
    for rule in seccomp.syscalls().iter().flatten() {
        let action = translate_action(rule.action(), rule.errno_ret())?;
        if action == default {
            continue;
        }
        for name in rule.names() {
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                continue;
            };
            let comparators: Vec<ScmpArgCompare> = rule
                .args()
                .iter()
                .flatten()
                .map(|a| compare(a.index() as u32, a.op(), a.value(), a.value_two()))
                .collect();
            let mut indexes: Vec<usize> = rule.args().iter().flatten().map(|a| a.index()).collect();
            indexes.sort_unstable();
            indexes.dedup();
            let added = if comparators.is_empty() {
                ctx.add_rule(action, sc)
            } else if indexes.len() < comparators.len() {
                // One argument compared twice: one rule per comparison, as runc.
                comparators
                    .iter()
                    .try_for_each(|c| {
                        ctx.add_rule_conditional(action, sc, std::slice::from_ref(c))
                            .map(|_| ())
                    })
                    .map(|_| &mut ctx)
            } else {
                ctx.add_rule_conditional(action, sc, &comparators)
            };
            added.map_err(|e| fail(&format!("rule for {name}"), e))?;
        }
    }
    // libseccomp 2.5 exports to a file descriptor only: a memfd.
    // SAFETY: memfd_create with a static name; the fd is owned at once.
    let raw = unsafe { libc::memfd_create(c"berth-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
    if raw < 0 {
        return Err(format!("seccomp: memfd: {}", io::Error::last_os_error()));
    }
    // SAFETY: raw is a fresh fd nothing else owns.
    let mut file = fs::File::from(unsafe { OwnedFd::from_raw_fd(raw) });
    ctx.export_bpf(&file)
        .map_err(|e| fail("exporting the program", e))?;
    let mut program = Vec::new();
    file.rewind()
        .and_then(|_| file.read_to_end(&mut program))
        .map_err(|e| format!("seccomp: reading the program back: {e}"))?;
    if program.is_empty() || program.len() % 8 != 0 {
        return Err(format!(
            "seccomp: libseccomp exported {} bytes, not a program",
            program.len()
        ));
    }
    Ok(program)
}

/// The BPF program of `seccomp`, compiled once per distinct profile for the
/// life of the process; `None` for a profile with a notify action.
pub fn compile(seccomp: &LinuxSeccomp) -> Result<Option<Arc<Vec<u8>>>, String> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Vec<u8>>>>> = OnceLock::new();
    if uses_notify(seccomp) {
        return Ok(None);
    }
    let key = serde_json::to_string(seccomp).map_err(|e| format!("seccomp: {e}"))?;
    let cache = CACHE.get_or_init(Default::default);
    if let Some(p) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(Some(p));
    }
    let program = Arc::new(build(seccomp)?);
    if let Ok(mut c) = cache.lock() {
        // A handful of profiles in practice; a runaway set is simply dropped.
        if c.len() >= 64 {
            c.clear();
        }
        c.insert(key, program.clone());
    }
    Ok(Some(program))
}

fn names(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

/// Compiles the seccomp profile of `spec` (an OCI runtime spec) into
/// `bundle`'s [`FILE`] and takes the profile out of the spec that
/// libcontainer will read; when the container may not keep `CAP_SYS_ADMIN`
/// (and no-new-privileges is off), the spec's effective and permitted sets
/// get it until the filter is loaded. Without a profile (or with a notify
/// action) any old program is removed and the spec is left as it is.
pub fn prepare(bundle: &Path, spec: &mut Value) -> Result<(), String> {
    let file = path(bundle);
    let seccomp: Option<LinuxSeccomp> = match spec.pointer("/linux/seccomp") {
        None | Some(Value::Null) => None,
        Some(v) => {
            Some(serde_json::from_value(v.clone()).map_err(|e| format!("seccomp profile: {e}"))?)
        }
    };
    let compiled = match &seccomp {
        Some(s) => compiled(s)?,
        None => None,
    };
    let Some(mut filter) = compiled else {
        return match fs::remove_file(&file) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(format!("removing {}: {e}", file.display()))
            }
            _ => Ok(()),
        };
    };
    let nnp = spec.pointer("/process/noNewPrivileges") == Some(&Value::Bool(true));
    if let Some(caps) = spec.pointer_mut("/process/capabilities").filter(|_| !nnp) {
        let lacking: Vec<&str> = ["effective", "permitted"]
            .into_iter()
            .filter(|set| !names(&caps[*set]).any(|c| c == SYS_ADMIN))
            .collect();
        for set in &lacking {
            let mut list: Vec<Value> = caps[*set].as_array().cloned().unwrap_or_default();
            list.push(SYS_ADMIN.into());
            caps[*set] = Value::Array(list);
        }
        if !lacking.is_empty() {
            filter.options |= LENDS_SYS_ADMIN;
        }
    }
    if let Some(linux) = spec.get_mut("linux").and_then(Value::as_object_mut) {
        linux.remove("seccomp");
    }
    let tmp = bundle.join(format!("{FILE}.tmp"));
    fs::write(&tmp, filter.to_bytes())
        .and_then(|_| fs::rename(&tmp, &file))
        .map_err(|e| format!("writing {}: {e}", file.display()))
}

/// The compiled filter of `seccomp` ([`compile`]); `None` for a profile
/// with a notify action.
pub fn compiled(seccomp: &LinuxSeccomp) -> Result<Option<Filter>, String> {
    Ok(compile(seccomp)?.map(|program| Filter {
        flags: flags_of(seccomp),
        options: 0,
        program,
    }))
}

/// libcontainer's executor with the compiled filter loaded just before the
/// payload's `execve`.
#[derive(Clone)]
pub struct FilterExecutor(pub Option<Filter>);

impl libcontainer::workload::Executor for FilterExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), libcontainer::workload::ExecutorError> {
        if let Some(f) = &self.0 {
            let fail = |e: String| libcontainer::workload::ExecutorError::Other(e);
            f.load()
                .map_err(|e| fail(format!("loading the seccomp filter: {e}")))?;
            if f.lends_sys_admin() {
                for set in [caps::CapSet::Effective, caps::CapSet::Permitted] {
                    caps::drop(None, set, caps::Capability::CAP_SYS_ADMIN)
                        .map_err(|e| fail(format!("dropping {SYS_ADMIN}: {e}")))?;
                }
            }
        }
        libcontainer::workload::default::get_executor().exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), libcontainer::workload::ExecutorValidationError> {
        libcontainer::workload::default::get_executor().validate(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{Capability, LinuxCapabilities};
    use std::collections::HashSet;

    fn has(list: &Option<HashSet<Capability>>, cap: Capability) -> bool {
        list.as_ref().is_some_and(|l| l.contains(&cap))
    }

    use serde_json::json;

    fn docker_caps() -> Vec<String> {
        [
            "CAP_CHOWN",
            "CAP_KILL",
            "CAP_SETUID",
            "CAP_SETGID",
            "CAP_NET_BIND_SERVICE",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn spec(nnp: bool) -> Value {
        let caps = docker_caps();
        json!({
            "process": {
                "noNewPrivileges": nnp,
                "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            },
            "linux": {"seccomp": crate::seccomp::default_profile(&caps)},
        })
    }

    #[test]
    fn prepare_compiles_the_profile_and_lends_sys_admin() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spec(false);
        prepare(dir.path(), &mut s).unwrap();
        assert!(
            s["linux"].get("seccomp").is_none(),
            "libcontainer must not load it: {s}"
        );
        for set in ["effective", "permitted"] {
            assert!(
                names(&s["process"]["capabilities"][set]).any(|c| c == SYS_ADMIN),
                "{set}: {s}"
            );
        }
        assert!(!names(&s["process"]["capabilities"]["bounding"]).any(|c| c == SYS_ADMIN));
        let f = Filter::read(dir.path()).unwrap().expect("a program");
        assert!(f.lends_sys_admin());
        assert_eq!(f.program.len() % 8, 0);
        let profile = crate::seccomp::default_profile(&docker_caps());
        assert_eq!(f.program, compiled(&profile).unwrap().unwrap().program);
        // What was lent is taken back from an exec's capabilities...
        let mut caps: LinuxCapabilities =
            serde_json::from_value(s["process"]["capabilities"].clone()).unwrap();
        f.restore(&mut caps);
        assert!(!has(caps.effective(), Capability::SysAdmin));
        assert!(!has(caps.permitted(), Capability::SysAdmin));
        assert!(has(caps.effective(), Capability::Chown));
        // ...but not from one that really has it (exec --privileged).
        let all: HashSet<Capability> = [Capability::SysAdmin, Capability::Chown].into();
        let mut privileged = LinuxCapabilities::default();
        privileged
            .set_bounding(Some(all.clone()))
            .set_effective(Some(all.clone()));
        privileged.set_permitted(Some(all.clone()));
        f.restore(&mut privileged);
        assert_eq!(privileged.effective().as_ref(), Some(&all));
    }

    #[test]
    fn prepare_with_no_new_privileges_lends_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spec(true);
        prepare(dir.path(), &mut s).unwrap();
        assert!(!names(&s["process"]["capabilities"]["effective"]).any(|c| c == SYS_ADMIN));
        assert!(!Filter::read(dir.path()).unwrap().unwrap().lends_sys_admin());
    }

    #[test]
    fn no_profile_or_a_notify_profile_is_left_to_libcontainer() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spec(false);
        prepare(dir.path(), &mut s).unwrap();
        assert!(path(dir.path()).exists());
        // Unconfined: the old program goes.
        let mut unconfined = spec(false);
        unconfined["linux"]
            .as_object_mut()
            .unwrap()
            .remove("seccomp");
        let before = unconfined.clone();
        prepare(dir.path(), &mut unconfined).unwrap();
        assert_eq!(unconfined, before);
        assert!(!path(dir.path()).exists());
        assert!(Filter::read(dir.path()).unwrap().is_none());
        // A seccomp agent's profile stays in the spec.
        let mut notify = spec(false);
        notify["linux"]["seccomp"]["syscalls"][0]["action"] = json!("SCMP_ACT_NOTIFY");
        let before = notify.clone();
        prepare(dir.path(), &mut notify).unwrap();
        assert_eq!(notify, before);
        assert!(!path(dir.path()).exists());
    }

    #[test]
    fn a_bad_profile_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spec(false);
        s["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_NOPE"});
        let e = prepare(dir.path(), &mut s).unwrap_err();
        assert!(e.contains("seccomp profile"), "{e}");
    }
}
