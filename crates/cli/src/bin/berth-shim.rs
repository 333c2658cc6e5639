//! `berth-shim`: the small per-container monitor `berth shim` execs into
//! once the container is created (see the berth-shim crate).

fn main() {
    std::process::exit(berth_shim::main());
}
