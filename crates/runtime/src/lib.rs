//! The container runtime: turns a container's configuration into an OCI
//! runtime spec, and runs it from `berth shim`, one small single-threaded
//! process per container that owns the container's stdio, logs and exit
//! status (so containers outlive daemon restarts). The kernel work
//! (namespaces, pivot_root, cgroups, capabilities, seccomp) is done by
//! youki's libcontainer, which forks and therefore never runs inside the
//! multi-threaded daemon.

pub mod cgroups;
pub mod exec;
pub mod filter;
pub mod seccomp;
pub mod shim;
pub mod spec;
