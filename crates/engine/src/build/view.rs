//! Working root file systems for build steps that need no container: an
//! overlay of an image's layers with a fresh upper directory, mounted under
//! `<data-root>/build/tmp/`. `COPY`/`ADD`/`WORKDIR` write into it and its
//! upper directory becomes the step's layer; `COPY --from` and bind mounts
//! read another stage's image through one. Everything is unmounted and
//! removed on drop; what a killed daemon left is swept at the next build.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{EngineError, Result};
use crate::Engine;

/// A mounted overlay of an image's layers.
pub struct Scratch {
    dir: PathBuf,
    mounted: bool,
}

impl Scratch {
    /// The root file system.
    pub fn root(&self) -> PathBuf {
        self.dir.join("merged")
    }

    /// The upper directory (the changes made through [`Scratch::root`]).
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }

    /// Unmounts the overlay (the upper directory stays until drop).
    pub fn unmount(&mut self) -> Result<()> {
        if self.mounted {
            berth_snapshot::mount::unmount(&self.root())
                .map_err(|e| EngineError::internal(e.to_string()))?;
            self.mounted = false;
        }
        Ok(())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = self.unmount();
        let _ = berth_snapshot::remove_tree(&self.dir);
    }
}

/// Random hex for temporary names.
pub(crate) fn rand_hex() -> Result<String> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| EngineError::internal(format!("random: {e}")))?;
    Ok(hex::encode(b))
}

impl Engine {
    /// `<data-root>/build/tmp`: contexts being read and scratch mounts.
    pub(crate) fn build_tmp(&self) -> PathBuf {
        let dir = self.config.data_root.join("build").join("tmp");
        static SWEPT: OnceLock<()> = OnceLock::new();
        SWEPT.get_or_init(|| sweep_tmp(&dir));
        dir
    }

    /// Mounts `layers` (lowest first) with an empty upper directory.
    pub(crate) fn mount_scratch(&self, layers: &[String]) -> Result<Scratch> {
        let tmp = self.build_tmp();
        let dir = tmp.join(format!("{}-{}", std::process::id(), rand_hex()?));
        let s = Scratch {
            dir: dir.clone(),
            mounted: false,
        };
        for sub in ["upper", "work", "merged"] {
            fs::create_dir_all(dir.join(sub)).map_err(|e| {
                EngineError::internal(format!("creating {}: {e}", dir.join(sub).display()))
            })?;
        }
        let lowers: Vec<PathBuf> = layers
            .iter()
            .rev()
            .map(|l| self.layers.diff_dir(l))
            .collect();
        for l in &lowers {
            if !l.is_dir() {
                return Err(EngineError::internal(format!(
                    "layer {} is missing from the store",
                    l.display()
                )));
            }
        }
        let empty = self.config.data_root.join("empty");
        fs::create_dir_all(&empty)
            .map_err(|e| EngineError::internal(format!("creating the empty layer: {e}")))?;
        let mut s = s;
        berth_snapshot::mount::mount_overlay(
            &lowers,
            &dir.join("upper"),
            &dir.join("work"),
            &dir.join("merged"),
            &empty,
            // The step's changes are read out of the upper directory into
            // a layer of their own; the directory itself goes.
            berth_snapshot::mount::Upper::Discarded,
        )
        .map_err(|e| EngineError::internal(e.to_string()))?;
        s.mounted = true;
        Ok(s)
    }
}

/// Removes what an earlier daemon process left in the build's temporary
/// directory (its mounts first).
fn sweep_tmp(dir: &Path) {
    let own = format!("{}-", std::process::id());
    let own_ctx = format!("ctx-{}-", std::process::id());
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with(&own) || name.starts_with(&own_ctx) {
            continue;
        }
        let p = e.path();
        let _ = berth_snapshot::mount::unmount(&p.join("merged"));
        let _ = berth_snapshot::remove_tree(&p);
    }
}
