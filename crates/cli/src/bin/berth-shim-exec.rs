//! `berth-shim-exec`: runs one process in a running container for the
//! daemon (`exec`, health checks); see the berth-shim crate's `exec`.

fn main() {
    std::process::exit(berth_shim::exec_main());
}
