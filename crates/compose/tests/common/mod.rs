//! Shared helpers for the integration tests: temporary project directories
//! (removed when dropped, even when a test fails) and load options that do
//! not depend on the machine's environment.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_compose::LoadOptions;

/// A temporary directory holding a project directory named `name`.
pub struct TestProject {
    _root: tempfile::TempDir,
    pub dir: PathBuf,
}

impl TestProject {
    pub fn new(name: &str, files: &[(&str, &str)]) -> Self {
        let root = tempfile::Builder::new()
            .prefix("berth-compose-test-")
            .tempdir()
            .unwrap();
        let dir = root.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let p = TestProject { _root: root, dir };
        for (path, content) in files {
            p.write(path, content);
        }
        p
    }

    pub fn write(&self, path: &str, content: &str) {
        let full = self.dir.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(full, content).unwrap();
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.join(p)
    }

    /// Options as if compose ran in the project directory with a minimal environment.
    pub fn options(&self) -> LoadOptions {
        options_in(&self.dir)
    }
}

pub fn options_in(dir: &Path) -> LoadOptions {
    LoadOptions {
        cwd: dir.to_path_buf(),
        environment: BTreeMap::from([("HOME".to_string(), "/home/tester".to_string())]),
        ..Default::default()
    }
}
