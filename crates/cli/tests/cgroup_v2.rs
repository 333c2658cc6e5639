//! Resource limits on cgroup v2, for real. This host mounts its cgroups as
//! v1 (a hybrid layout whose unified hierarchy holds no controller but
//! hugetlb, and controllers cannot move while v1 uses them), so the test
//! boots the distribution's kernel under qemu (software emulation) on a
//! cgroup2-only hierarchy with every controller, runs berth's daemon in it
//! (`tests/vm/scenario.sh`), and checks what the cgroup files, `inspect`,
//! `update`, `pause`, `stats`, an OOM kill, a pids limit, a daemon crash and
//! `rm` show there.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The newest installed kernel that has an overlay module: (image, version).
fn kernel() -> Option<(PathBuf, String)> {
    let mut found: Vec<(PathBuf, String)> = std::fs::read_dir("/boot")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let ver = name.strip_prefix("vmlinuz-")?.to_string();
            overlay_module(&ver).exists().then(|| (e.path(), ver))
        })
        .collect();
    found.sort_by(|a, b| a.1.cmp(&b.1));
    found.pop()
}

fn overlay_module(ver: &str) -> PathBuf {
    Path::new("/lib/modules")
        .join(ver)
        .join("kernel/fs/overlayfs/overlay.ko")
}

fn sh(cmd: &str, dir: &Path) {
    let st = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .status()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(st.success(), "{cmd} failed");
}

/// The machine's initramfs: busybox, berth, berth-shim and berth-shim-exec (without debug info) and the
/// libraries it links, the overlay module, the busybox image and the
/// scripts.
fn initramfs(work: &Path, module: &Path) -> PathBuf {
    let root = work.join("root");
    for d in ["bin", "etc", "lib", "lib64", "usr/lib"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("busybox-static");
    for (bin, name) in [
        (common::berth_bin(), "berth"),
        (common::shim_bin(), "berth-shim"),
    ] {
        let st = Command::new("objcopy")
            .args(["--strip-debug", bin])
            .arg(root.join("bin").join(name))
            .status()
            .expect("objcopy (binutils)");
        assert!(st.success(), "objcopy {bin} failed");
    }
    // Shared libraries, at the paths the loader looks for them.
    let ldd = Command::new("ldd")
        .arg(common::berth_bin())
        .output()
        .unwrap();
    for lib in String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
    {
        let dest = root.join(lib.trim_start_matches('/'));
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(lib, &dest).unwrap_or_else(|e| panic!("copying {lib}: {e}"));
    }
    std::fs::copy(module, root.join("overlay.ko")).unwrap();
    std::fs::copy(common::busybox_tar(), root.join("busybox.tar")).unwrap();
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vm");
    for (from, to) in [("init.sh", "init"), ("scenario.sh", "scenario.sh")] {
        std::fs::copy(scripts.join(from), root.join(to)).unwrap();
    }
    std::fs::write(root.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
    std::fs::write(root.join("etc/resolv.conf"), "nameserver 127.0.0.1\n").unwrap();
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\n").unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
    let image = work.join("initramfs.cpio");
    sh(
        &format!(
            "find . | cpio -o -H newc --quiet > {}",
            image.to_string_lossy()
        ),
        &root,
    );
    image
}

/// Boots the machine; returns the `V2 key=value` findings and the whole
/// console output.
fn boot(kernel: &Path, initrd: &Path, work: &Path) -> (BTreeMap<String, String>, String) {
    let console = work.join("console.log");
    let mut qemu = Command::new("qemu-system-x86_64")
        .args(["-accel", "tcg", "-cpu", "max", "-m", "2048", "-smp", "2"])
        .args(["-display", "none", "-monitor", "none", "-no-reboot"])
        .arg("-serial")
        .arg(format!("file:{}", console.display()))
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", "console=ttyS0 panic=-1 quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qemu-system-x86_64 (package qemu-system-x86)");
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        if qemu.try_wait().ok().flatten().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = qemu.kill();
            let _ = qemu.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = String::from_utf8_lossy(&std::fs::read(&console).unwrap_or_default()).into_owned();
    let mut found = BTreeMap::new();
    for line in out.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(kv) = line.strip_prefix("V2 ") {
            if let Some((k, v)) = kv.split_once('=') {
                found.insert(k.to_string(), v.to_string());
            }
        }
    }
    (found, out)
}

#[test]
fn limits_update_pause_oom_and_crash_on_cgroup_v2() {
    let (image, ver) = kernel().expect(
        "no kernel in /boot with an overlay module: install linux-image-amd64 (scripts/install-deps.sh does)",
    );
    let work = tempfile::tempdir().unwrap();
    let initrd = initramfs(work.path(), &overlay_module(&ver));
    let (v, console) = boot(&image, &initrd, work.path());
    let get = |k: &str| -> &str {
        v.get(k)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("the machine never reported {k}; its console:\n{console}"))
    };
    assert_eq!(get("END"), "1", "{console}");
    // A cgroup2-only machine with the controllers a container needs.
    for c in ["cpuset", "cpu", "io", "memory", "pids"] {
        assert!(get("controllers").split(' ').any(|x| x == c), "{console}");
    }
    assert_eq!(get("cgroup_version"), "2", "{console}");
    assert_eq!(get("import"), "0", "{console}");
    assert_eq!(get("run_lim"), "0", "{console}");
    // Docker's (runc's) translations of the flags into v2 files.
    for (key, want) in [
        ("run.memory.max", "67108864"),
        ("run.memory.low", "33554432"),
        ("run.memory.swap.max", "33554432"),
        ("run.cpu.max", "50000 100000"),
        ("run.cpu.weight", "59"),
        ("run.io.weight", "default 2930"),
        ("run.cpuset.cpus", "0"),
        ("run.pids.max", "20"),
    ] {
        assert_eq!(get(key), want, "{key}: {console}");
    }
    assert_eq!(
        get("inspect"),
        "67108864 33554432 100663296 500000000 512 20 300",
        "{console}"
    );
    // The container sees its own cgroup as the root (cgroup namespace).
    assert_eq!(get("inner_cgroup"), "0::/", "{console}");
    assert_eq!(get("update"), "0", "{console}");
    for (key, want) in [
        ("update.memory.max", "134217728"),
        ("update.memory.low", "67108864"),
        ("update.memory.swap.max", "134217728"),
        ("update.cpu.max", "150000 100000"),
        ("update.cpu.weight", "100"),
        ("update.io.weight", "default 4950"),
        ("update.pids.max", "30"),
    ] {
        assert_eq!(get(key), want, "{key}: {console}");
    }
    assert_eq!(
        get("inspect_update"),
        "134217728 67108864 268435456 1500000000 1024 30 500",
        "{console}"
    );
    assert_eq!(get("paused"), "paused frozen 1", "{console}");
    assert_eq!(get("unpaused"), "running frozen 0", "{console}");
    let stats = get("stats");
    let (mem, pids) = stats.split_once('|').expect("stats format");
    assert!(mem.ends_with(" / 128MiB"), "memory limit in stats: {stats}");
    assert!(!mem.starts_with("0B"), "memory usage in stats: {stats}");
    assert_eq!(pids, "1", "{stats}");
    assert!(get("top").contains("sleep 1000"), "{console}");
    assert_eq!(get("oom_exit"), "137", "{console}");
    assert_eq!(get("oom_state"), "true 137", "{console}");
    assert_ne!(get("forks_refused"), "0", "{console}");
    assert_eq!(get("oom_cgroup_left"), "no", "{console}");
    assert_eq!(get("bad_exit"), "127", "{console}");
    assert_eq!(get("bad_cgroup_left"), "no", "{console}");
    assert_eq!(get("lim_cgroup_left"), "no", "{console}");
    assert_eq!(get("live_after_crash"), "alive", "{console}");
    assert!(get("live_state").starts_with("true "), "{console}");
    assert_eq!(get("live_memory_max"), "52428800", "{console}");
    assert_eq!(get("live_cgroup_left"), "no", "{console}");
    assert_eq!(get("leftover_cgroups"), "0", "{console}");
}
