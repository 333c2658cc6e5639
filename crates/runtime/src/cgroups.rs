//! A container's cgroup outside libcontainer's start: which hierarchy the
//! host has (v1 or unified v2), Docker's (runc's) translations of its
//! v1-shaped limits into v2 files, and live changes of a running
//! container's limits (`docker update`) on either hierarchy, and the head
//! start the daemon gives the kernel's migration grace period.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::spec::Resources;

const ROOT: &str = "/sys/fs/cgroup";

/// The cgroup of container `id`, relative to each hierarchy's root (the
/// OCI spec's `cgroupsPath`).
pub fn container_path(id: &str) -> String {
    format!("/berth/{id}")
}

/// Starts, on a thread of its own, the RCU grace period that the next
/// `cgroup.procs` write must wait for, so that it overlaps the work before
/// a container's start writes its intermediate process there, and keeps
/// the way open while containers keep starting.
///
/// The kernel's global threadgroup semaphore makes its first writer after a
/// quiet spell wait one grace period (8-15 ms on these machines), and keeps
/// the way open for writers in the next period or so. libcontainer joins a
/// new container's cgroups that way ~10 ms into a start; a no-op move of the
/// daemon into its own cgroup at the create and start requests has then
/// paid the wait already. The thread repeats the move every few
/// milliseconds until a second has passed without a request, so starts in
/// a burst (a `run` loop, `compose up`) never meet the wait; meanwhile forks
/// and exits take the semaphore's slower path, the trade the kernel's
/// `favordynmods` makes for good. One thread at a time; failures are
/// ignored (nothing depends on it but speed). A host booted with
/// `cgroup_favordynmods=true` has no such wait.
pub fn begin_migration_grace_period() {
    /// How long the way is kept open after the last request.
    const KEEP_OPEN_MS: u64 = 1000;
    /// Well under a grace period, so the way never closes in between.
    const RENEW: std::time::Duration = std::time::Duration::from_millis(4);
    static RUNNING: AtomicBool = AtomicBool::new(false);
    static BASE: OnceLock<std::time::Instant> = OnceLock::new();
    static LAST_MS: AtomicU64 = AtomicU64::new(0);
    // The daemon's own cgroup.procs (in any hierarchy: the semaphore is
    // global), found once: the no-op move leaves the daemon where it is.
    static OWN_PROCS: OnceLock<Option<PathBuf>> = OnceLock::new();
    let Some(procs) = OWN_PROCS.get_or_init(|| {
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let found = berth_shim::cgroup::memberships(&own)
            .map(|(controllers, path)| {
                berth_shim::cgroup::dir(controllers, path).join("cgroup.procs")
            })
            .find(|f| f.exists());
        found
    }) else {
        return;
    };
    let now_ms = || {
        BASE.get_or_init(std::time::Instant::now)
            .elapsed()
            .as_millis() as u64
    };
    LAST_MS.store(now_ms(), Ordering::Release);
    if RUNNING.swap(true, Ordering::AcqRel) {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("cgroup-gp".into())
        .spawn(move || {
            use std::os::unix::fs::FileExt;
            let me = std::process::id().to_string();
            // Opened once: a lookup in cgroupfs at every renewal cost about
            // as much as the move itself.
            let Ok(file) = std::fs::OpenOptions::new().write(true).open(procs) else {
                RUNNING.store(false, Ordering::Release);
                return;
            };
            loop {
                let _ = file.write_at(me.as_bytes(), 0);
                if now_ms().saturating_sub(LAST_MS.load(Ordering::Acquire)) > KEEP_OPEN_MS {
                    break;
                }
                std::thread::sleep(RENEW);
            }
            RUNNING.store(false, Ordering::Release);
        });
    if spawned.is_err() {
        RUNNING.store(false, Ordering::Release);
    }
}

/// Whether /sys/fs/cgroup is a unified (cgroup v2) hierarchy.
#[allow(clippy::unnecessary_cast)] // f_type is not i64 on every target
pub fn is_unified() -> bool {
    matches!(nix::sys::statfs::statfs(ROOT), Ok(s) if s.filesystem_type().0 as i64 == 0x6367_7270)
}

/// `cpu.weight` (1–10000) for v1 `cpu.shares` (2–262144), as current runc
/// and libcontainer convert at start (a curve that maps Docker's default
/// 1024 shares to v2's default weight 100).
pub fn cpu_weight(shares: u64) -> u64 {
    match shares {
        0 => 0,
        1..=2 => 1,
        262_144.. => 10_000,
        _ => {
            let l = (shares as f64).log2();
            let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
            (10f64.powf(exponent).ceil() as u64).clamp(1, 10_000)
        }
    }
}

/// `io.weight` (1–10000) for a v1 blkio weight (10–1000), as runc converts.
pub fn io_weight(blkio: u16) -> u64 {
    if blkio == 0 {
        return 0;
    }
    1 + (u64::from(blkio.clamp(10, 1000)) - 10) * 9999 / 990
}

/// `memory.swap.max` for Docker's memory+swap total: the swap alone.
pub fn swap_max(memory: Option<i64>, memory_swap: i64) -> String {
    match (memory, memory_swap) {
        (_, s) if s < 0 => "max".into(),
        (Some(m), s) if m > 0 => (s - m).max(0).to_string(),
        (_, s) => s.to_string(),
    }
}

/// The directory of the cgroup at `path` (e.g. `/berth/ID`) for `controller`
/// (ignored on v2).
fn dir(path: &str, controller: &str, unified: bool) -> PathBuf {
    let rel = path.trim_start_matches('/');
    if unified {
        Path::new(ROOT).join(rel)
    } else {
        Path::new(ROOT).join(controller).join(rel)
    }
}

fn write(file: PathBuf, value: &str) -> Result<(), String> {
    std::fs::write(&file, value).map_err(|e| format!("writing {value} to {}: {e}", file.display()))
}

/// Sets a v2 cgroup's I/O weight as runc does: `io.bfq.weight` when the BFQ
/// scheduler offers it, else `io.weight`. Without either (no io
/// controller) the weight is discarded, with Docker's warning as the error.
pub fn set_io_weight_v2(path: &str, blkio: u16) -> Result<(), String> {
    let d = dir(path, "", true);
    let bfq = d.join("io.bfq.weight");
    if bfq.exists() {
        return write(bfq, &blkio.to_string());
    }
    let io = d.join("io.weight");
    if io.exists() {
        return write(io, &format!("default {}", io_weight(blkio)));
    }
    Err("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.".into())
}

/// Changes the limits of the running container whose cgroup is at `path`
/// to `r` (the fields set in it), on whichever hierarchy the host has.
/// `pids_limit` of 0 or less lifts the limit.
pub fn update(path: &str, r: &Resources) -> Result<(), String> {
    if is_unified() {
        update_v2(path, r)
    } else {
        update_v1(path, r)
    }
}

fn update_v2(path: &str, r: &Resources) -> Result<(), String> {
    let f = |name: &str| dir(path, "", true).join(name);
    if let Some(m) = r.memory.filter(|m| *m != 0) {
        // Growing past the old swap total is fine on v2: the files are
        // independent.
        write(f("memory.max"), &limit(m))?;
    }
    if let Some(s) = r.memory_swap.filter(|s| *s != 0) {
        write(f("memory.swap.max"), &swap_max(r.memory, s))?;
    }
    if let Some(m) = r.memory_reservation.filter(|m| *m != 0) {
        write(f("memory.low"), &limit(m))?;
    }
    if let Some(q) = r.cpu_quota.filter(|q| *q != 0) {
        let period = r.cpu_period.unwrap_or(100_000);
        write(f("cpu.max"), &format!("{} {period}", limit(q)))?;
    } else if let Some(p) = r.cpu_period.filter(|p| *p != 0) {
        write(f("cpu.max"), &format!("max {p}"))?;
    }
    if let Some(s) = r.cpu_shares.filter(|s| *s != 0) {
        write(f("cpu.weight"), &cpu_weight(s).to_string())?;
    }
    if let Some(c) = &r.cpuset_cpus {
        write(f("cpuset.cpus"), c)?;
    }
    if let Some(m) = &r.cpuset_mems {
        write(f("cpuset.mems"), m)?;
    }
    if let Some(p) = r.pids_limit {
        write(f("pids.max"), &limit(p))?;
    }
    if let Some(w) = r.blkio_weight.filter(|w| *w != 0) {
        set_io_weight_v2(path, w)?;
    }
    Ok(())
}

fn update_v1(path: &str, r: &Resources) -> Result<(), String> {
    let f = |ctrl: &str, name: &str| dir(path, ctrl, false).join(name);
    if let Some(m) = r.memory.filter(|m| *m != 0) {
        // The memsw limit can never be below the memory limit: raise it
        // first when growing, set it again after when shrinking (runc).
        let swap = r.memory_swap.filter(|s| *s != 0).unwrap_or(m);
        let memsw = f("memory", "memory.memsw.limit_in_bytes");
        let has_swap_accounting = memsw.exists();
        if has_swap_accounting {
            let _ = write(memsw.clone(), &limit(swap));
        }
        write(f("memory", "memory.limit_in_bytes"), &limit(m))?;
        if has_swap_accounting {
            write(memsw, &limit(swap))?;
        }
    }
    if let Some(m) = r.memory_reservation.filter(|m| *m != 0) {
        write(f("memory", "memory.soft_limit_in_bytes"), &limit(m))?;
    }
    if let Some(p) = r.cpu_period.filter(|p| *p != 0) {
        write(f("cpu", "cpu.cfs_period_us"), &p.to_string())?;
    }
    if let Some(q) = r.cpu_quota.filter(|q| *q != 0) {
        write(f("cpu", "cpu.cfs_quota_us"), &q.to_string())?;
    }
    if let Some(s) = r.cpu_shares.filter(|s| *s != 0) {
        write(f("cpu", "cpu.shares"), &s.to_string())?;
    }
    if let Some(c) = &r.cpuset_cpus {
        write(f("cpuset", "cpuset.cpus"), c)?;
    }
    if let Some(m) = &r.cpuset_mems {
        write(f("cpuset", "cpuset.mems"), m)?;
    }
    if let Some(p) = r.pids_limit {
        write(f("pids", "pids.max"), &limit(p))?;
    }
    if let Some(w) = r.blkio_weight.filter(|w| *w != 0) {
        let file = f("blkio", "blkio.weight");
        // Kernels without CFQ have no blkio.weight: Docker discards it.
        if file.exists() {
            write(file, &w.to_string())?;
        }
    }
    Ok(())
}

/// A limit's text: a positive number, or "max" for none.
fn limit(n: i64) -> String {
    if n > 0 {
        n.to_string()
    } else {
        "max".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head start moves the daemon nowhere: every hierarchy's path is
    /// the same after it.
    #[test]
    fn the_grace_period_head_start_leaves_the_process_where_it_was() {
        let keepers = || {
            std::fs::read_dir("/proc/self/task")
                .unwrap()
                .flatten()
                .filter(|t| {
                    std::fs::read_to_string(t.path().join("comm"))
                        .is_ok_and(|c| c.trim() == "cgroup-gp")
                })
                .count()
        };
        let before = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        begin_migration_grace_period();
        begin_migration_grace_period();
        std::thread::sleep(std::time::Duration::from_millis(300));
        // One thread keeps the way open while requests come…
        assert_eq!(keepers(), 1);
        assert_eq!(
            std::fs::read_to_string("/proc/self/cgroup").unwrap(),
            before
        );
        // …and goes a second after the last one.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while keepers() > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(keepers(), 0, "the keeper thread outlived its second");
        assert_eq!(
            std::fs::read_to_string("/proc/self/cgroup").unwrap(),
            before
        );
    }

    #[test]
    fn conversions_match_runc() {
        assert_eq!(cpu_weight(1024), 100);
        assert_eq!(cpu_weight(512), 59);
        assert_eq!(cpu_weight(2), 1);
        assert_eq!(cpu_weight(262_144), 10_000);
        assert_eq!(io_weight(10), 1);
        assert_eq!(io_weight(500), 4950);
        assert_eq!(io_weight(1000), 10_000);
        assert_eq!(swap_max(Some(64 << 20), 96 << 20), (32 << 20).to_string());
        assert_eq!(swap_max(Some(64 << 20), -1), "max");
    }
}
