//! The container runtime: turns a container's configuration into an OCI
//! runtime spec, and creates it from `berth shim`, one process per
//! container that then becomes `berth-shim`, the small monitor that owns the
//! container's stdio, logs and exit status (so containers outlive daemon
//! restarts). The kernel work (namespaces, pivot_root, cgroups,
//! capabilities) is done by youki's libcontainer, which forks and therefore
//! never runs inside the multi-threaded daemon; seccomp profiles are
//! compiled once ([`filter`]).

pub mod cgroups;
pub mod exec;
pub mod filter;
pub mod netns;
pub mod seccomp;
pub mod shim;
pub mod spec;
