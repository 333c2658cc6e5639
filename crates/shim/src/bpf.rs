//! A container's compiled seccomp filter as its bundle holds it
//! (`seccomp.bpf`): the daemon writes it (berth-runtime compiles profiles
//! with libseccomp), and whatever starts a process in the container loads it
//! with one `seccomp(2)` call.
//!
//! Layout: `BERTHBPF`, the `SECCOMP_FILTER_FLAG_*` flags (u32 LE), options
//! (u32 LE, bit 0: `CAP_SYS_ADMIN` was lent for the load), then the program's
//! `struct sock_filter` entries, 8 bytes each.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use oci_spec::runtime::{Capability, LinuxCapabilities};

/// The program's file in a bundle.
pub const FILE: &str = "seccomp.bpf";
/// First bytes of [`FILE`].
const MAGIC: &[u8; 8] = b"BERTHBPF";
/// [`Filter`] option: `CAP_SYS_ADMIN` was lent to the spec for the load.
pub const LENDS_SYS_ADMIN: u32 = 1;

/// Path of the compiled filter in `bundle`.
pub fn path(bundle: &Path) -> PathBuf {
    bundle.join(FILE)
}

/// A compiled filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// `SECCOMP_FILTER_FLAG_*` for `seccomp(2)`.
    pub flags: u32,
    /// [`LENDS_SYS_ADMIN`] or 0.
    pub options: u32,
    /// The BPF program: `struct sock_filter` entries, 8 bytes each.
    pub program: Arc<Vec<u8>>,
}

fn has(list: &Option<HashSet<Capability>>, cap: Capability) -> bool {
    list.as_ref().is_some_and(|l| l.contains(&cap))
}

impl Filter {
    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(16 + self.program.len());
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&self.flags.to_le_bytes());
        b.extend_from_slice(&self.options.to_le_bytes());
        b.extend_from_slice(&self.program);
        b
    }

    /// Reads `bundle`'s compiled filter; `None` when it has none.
    pub fn read(bundle: &Path) -> io::Result<Option<Filter>> {
        Filter::read_file(&path(bundle))
    }

    /// Reads a compiled filter from `file`; `None` when there is none.
    pub fn read_file(file: &Path) -> io::Result<Option<Filter>> {
        let b = match fs::read(file) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let bad = || {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} is not a berth seccomp program: restart the container",
                    file.display()
                ),
            )
        };
        if b.len() < 24 || &b[..8] != MAGIC || (b.len() - 16) % 8 != 0 {
            return Err(bad());
        }
        let word = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        Ok(Some(Filter {
            flags: word(8),
            options: word(12),
            program: Arc::new(b[16..].to_vec()),
        }))
    }

    /// Loads the filter into the calling thread (`seccomp(2)`).
    pub fn load(&self) -> io::Result<()> {
        let len = u16::try_from(self.program.len() / 8)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "seccomp program too long"))?;
        let prog = libc::sock_fprog {
            len,
            filter: self.program.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: prog points at `len` sock_filter entries that outlive the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                self.flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Whether the spec was lent `CAP_SYS_ADMIN` for the load.
    pub fn lends_sys_admin(&self) -> bool {
        self.options & LENDS_SYS_ADMIN != 0
    }

    /// Takes back from `caps` what was lent: `CAP_SYS_ADMIN` in the
    /// effective and permitted sets while the bounding set lacks it (a
    /// process given it for real, e.g. `exec --privileged`, keeps it).
    pub fn restore(&self, caps: &mut LinuxCapabilities) {
        let admin = Capability::SysAdmin;
        if !self.lends_sys_admin() || has(caps.bounding(), admin) {
            return;
        }
        if let Some(mut l) = caps.effective().clone() {
            l.remove(&admin);
            caps.set_effective(Some(l));
        }
        if let Some(mut l) = caps.permitted().clone() {
            l.remove(&admin);
            caps.set_permitted(Some(l));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Filter::read(dir.path()).unwrap(), None);
        let f = Filter {
            flags: 2,
            options: LENDS_SYS_ADMIN,
            program: Arc::new(vec![6, 0, 0, 0, 0, 0, 0xff, 0x7f]),
        };
        fs::write(path(dir.path()), f.to_bytes()).unwrap();
        assert_eq!(Filter::read(dir.path()).unwrap(), Some(f));
        fs::write(path(dir.path()), b"BERTHBPF\0\0\0\0\0\0\0\0abc").unwrap();
        let e = Filter::read(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("not a berth seccomp program") && e.contains("restart"),
            "{e}"
        );
    }
}
