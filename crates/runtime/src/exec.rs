//! `berth shim-exec`: the exec of the berth-shim crate ([`berth_shim::exec`]),
//! run from the `berth` binary with libcontainer's seccomp loader for a
//! profile that was not compiled to BPF (one with a notify action). The
//! daemon prefers `berth-shim-exec`, which does not load the whole binary.

pub use berth_shim::exec::{Control, ExecSpec, CONTROL_FD};
pub use berth_shim::resize_terminal;

/// Loads an uncompiled profile with libcontainer (libseccomp).
fn load_profile(s: &oci_spec::runtime::LinuxSeccomp) -> Result<(), String> {
    libcontainer::seccomp::initialize_seccomp(s)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Runs `berth shim-exec`; returns its exit code. Must run in a fresh,
/// single-threaded process.
pub fn run() -> i32 {
    berth_shim::exec::run(Some(load_profile))
}
