//! Test helpers: a temporary directory that unmounts anything left mounted
//! under it before it is deleted, even when a test fails.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A temporary directory; on drop, every mount below it is detached
/// (deepest first) and then the directory is removed.
pub struct TestDir {
    dir: Option<tempfile::TempDir>,
}

impl TestDir {
    pub fn new() -> TestDir {
        TestDir {
            dir: Some(
                tempfile::Builder::new()
                    .prefix("berth-volumes-test-")
                    .tempdir()
                    .unwrap(),
            ),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.as_ref().unwrap().path()
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.path().join(p)
    }
}

/// Mount points (unescaped) from /proc/self/mountinfo.
pub fn mounts() -> Vec<(String, String)> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mp = l.split(' ').nth(4)?.replace("\\040", " ");
            let fstype = l.split(" - ").nth(1)?.split(' ').next()?.to_string();
            Some((mp, fstype))
        })
        .collect()
}

/// The file system type mounted exactly at `path`, if any.
pub fn mounted_type(path: &Path) -> Option<String> {
    let want = path.display().to_string();
    mounts()
        .into_iter()
        .rev()
        .find(|(m, _)| *m == want)
        .map(|(_, t)| t)
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let base = self.path().display().to_string();
        let mut under: Vec<String> = mounts()
            .into_iter()
            .map(|(m, _)| m)
            .filter(|m| m.starts_with(&format!("{base}/")))
            .collect();
        under.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in under {
            let c = std::ffi::CString::new(m).unwrap();
            // SAFETY: a valid NUL-terminated path.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
        if let Some(d) = self.dir.take() {
            let _ = d.close();
        }
    }
}
