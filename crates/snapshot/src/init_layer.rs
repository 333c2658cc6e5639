//! The init layer: the mount points and files every container has whatever
//! its image holds (Docker's init layer: `/etc/hosts`, `/etc/hostname`,
//! `/etc/resolv.conf`, `/proc`, `/sys`, `/dev/pts`, ...). Docker makes one
//! per container; their contents are all the same, so berth makes one
//! directory per data root and mounts it as every container's top-most
//! lower layer. A start then creates nothing in the container's own
//! layer for its mount points (on a disk where each new inode can cost a
//! fraction of a millisecond), and, lying below the upper layer, they are
//! not changes of the container (`diff`, `commit`).

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// What the layer holds, as Docker's: directories, empty files, symlinks.
enum Entry {
    Dir(&'static str),
    File(&'static str),
    Link(&'static str, &'static str),
}

const ENTRIES: &[Entry] = &[
    Entry::Dir("dev"),
    Entry::Dir("dev/pts"),
    Entry::Dir("dev/shm"),
    Entry::File("dev/console"),
    Entry::Dir("proc"),
    Entry::Dir("sys"),
    Entry::Dir("etc"),
    Entry::File("etc/resolv.conf"),
    Entry::File("etc/hosts"),
    Entry::File("etc/hostname"),
    Entry::Link("etc/mtab", "/proc/mounts"),
    Entry::File(".dockerenv"),
];

/// Makes the init layer at `dir`. A new one is built aside, synced and
/// renamed into place, so a crash leaves either no layer or a whole one
/// (the leftovers of an interrupted build are removed). One that lacks
/// entries (made by an older berth) gets them added in place: it may be a
/// lower layer of running containers, so nothing in it is ever removed.
pub fn ensure(dir: &Path) -> io::Result<()> {
    let context = |what: &Path| {
        let what = what.display().to_string();
        move |e: io::Error| io::Error::new(e.kind(), format!("making the init layer {what}: {e}"))
    };
    if dir.exists() {
        return fill(dir).map_err(context(dir));
    }
    let parent = dir
        .parent()
        .ok_or_else(|| io::Error::other(format!("{} has no parent", dir.display())))?;
    let name = dir
        .file_name()
        .ok_or_else(|| io::Error::other(format!("{} has no name", dir.display())))?;
    let tmp = parent.join(format!(".{}.tmp", name.to_string_lossy()));
    if tmp.exists() {
        crate::remove_tree(&tmp).map_err(context(&tmp))?;
    }
    fs::DirBuilder::new()
        .mode(0o755)
        .create(&tmp)
        .and_then(|()| fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)))
        .and_then(|()| fill(&tmp))
        .map_err(context(&tmp))?;
    fs::rename(&tmp, dir).map_err(context(dir))?;
    File::open(parent)?.sync_all()
}

/// Makes the entries `dir` lacks, synced (nothing when none is lacking);
/// an entry of the wrong kind is an error.
fn fill(dir: &Path) -> io::Result<()> {
    let mut made = false;
    for e in ENTRIES {
        let (rel, want) = match e {
            Entry::Dir(p) => (p, "a directory"),
            Entry::File(p) => (p, "a file"),
            Entry::Link(p, _) => (p, "a symlink"),
        };
        let path = dir.join(rel);
        if let Ok(m) = fs::symlink_metadata(&path) {
            let right = match e {
                Entry::Dir(_) => m.is_dir(),
                Entry::File(_) => m.is_file(),
                Entry::Link(_, _) => m.file_type().is_symlink(),
            };
            if right {
                continue;
            }
            return Err(io::Error::other(format!(
                "{} is not {want}: remove it and start the daemon again",
                path.display()
            )));
        }
        match e {
            Entry::Dir(_) => {
                fs::DirBuilder::new().mode(0o755).create(&path)?;
                // The mode is the layer's whatever the umask.
                fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
            }
            Entry::File(_) => {
                let f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o755)
                    .open(&path)?;
                f.set_permissions(fs::Permissions::from_mode(0o755))?;
                f.sync_all()?;
            }
            Entry::Link(_, to) => std::os::unix::fs::symlink(to, &path)?,
        }
        made = true;
    }
    // A whole layer (every daemon start but the first) needs no sync.
    if made {
        for d in ["dev", "etc", "."] {
            File::open(dir.join(d))?.sync_all()?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn made_once_and_completed_in_place() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("init");
        ensure(&dir).unwrap();
        for f in [
            "etc/hosts",
            "etc/hostname",
            "etc/resolv.conf",
            ".dockerenv",
            "dev/console",
        ] {
            let m = fs::symlink_metadata(dir.join(f)).unwrap();
            assert!(m.is_file() && m.len() == 0, "{f}");
            assert_eq!(m.mode() & 0o777, 0o755, "{f}");
        }
        for d in ["proc", "sys", "dev/pts", "dev/shm", "etc"] {
            assert!(dir.join(d).is_dir(), "{d}");
        }
        assert_eq!(
            fs::read_link(dir.join("etc/mtab")).unwrap(),
            Path::new("/proc/mounts")
        );
        // Left as it is when whole (same inode).
        let ino = fs::metadata(dir.join("etc/hosts")).unwrap().ino();
        ensure(&dir).unwrap();
        assert_eq!(fs::metadata(dir.join("etc/hosts")).unwrap().ino(), ino);
        // A missing entry is added, the others left as they are; no build
        // directory stays.
        fs::remove_file(dir.join("etc/hostname")).unwrap();
        ensure(&dir).unwrap();
        assert!(dir.join("etc/hostname").is_file());
        assert_eq!(fs::metadata(dir.join("etc/hosts")).unwrap().ino(), ino);
        let names: Vec<_> = fs::read_dir(root.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("init")]);
    }

    #[test]
    fn an_entry_of_the_wrong_kind_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("init");
        ensure(&dir).unwrap();
        fs::remove_dir(dir.join("proc")).unwrap();
        fs::write(dir.join("proc"), "").unwrap();
        let e = ensure(&dir).unwrap_err().to_string();
        assert!(e.contains("proc is not a directory: remove it"), "{e}");
    }

    #[test]
    fn leftovers_of_an_interrupted_build_go() {
        let root = tempfile::tempdir().unwrap();
        let tmp = root.path().join(".init.tmp");
        fs::create_dir_all(tmp.join("etc")).unwrap();
        fs::write(tmp.join("etc/hosts"), "half").unwrap();
        ensure(&root.path().join("init")).unwrap();
        assert!(!tmp.exists());
        assert_eq!(fs::read(root.path().join("init/etc/hosts")).unwrap(), b"");
    }
}
