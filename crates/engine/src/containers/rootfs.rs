//! A container's files: its overlay (image layers below, its own upper
//! directory above), the mount of that overlay while it runs, and the files
//! berth bind-mounts into it (`/etc/hostname`, `/etc/hosts`,
//! `/etc/resolv.conf`).

use std::fs;
use std::path::{Path, PathBuf};

use super::{strings, ContainerRecord};
use crate::error::{io_context, EngineError, Result};
use crate::images::{ImageRecord, IMAGES};
use crate::Engine;

/// Where a container's files live.
#[derive(Debug, Clone)]
pub struct ContainerDirs {
    /// `<data-root>/containers/<id>`.
    pub root: PathBuf,
    /// The container's writable layer.
    pub upper: PathBuf,
    /// overlayfs work directory.
    pub work: PathBuf,
    /// The mounted root filesystem.
    pub merged: PathBuf,
    /// json-file log.
    pub log: PathBuf,
    /// `<exec-root>/containers/<id>`: the OCI bundle and the shim's socket.
    pub bundle: PathBuf,
}

impl ContainerDirs {
    /// The layout for container `id`.
    pub fn new(data_root: &Path, exec_root: &Path, id: &str) -> Self {
        let root = data_root.join("containers").join(id);
        ContainerDirs {
            upper: root.join("upper"),
            work: root.join("work"),
            merged: root.join("merged"),
            log: root.join(format!("{id}-json.log")),
            bundle: exec_root.join("containers").join(id),
            root,
        }
    }
}

/// The host's resolvers, without loopback ones (which mean nothing inside a
/// container's own network namespace), as Docker does.
fn host_resolv_conf(dns: &[String], search: &[String], options: &[String]) -> String {
    let host = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut out = String::new();
    let mut servers = Vec::new();
    let mut searches = Vec::new();
    let mut opts = Vec::new();
    for l in host.lines() {
        let mut w = l.split_whitespace();
        match w.next() {
            Some("nameserver") => {
                if let Some(s) = w.next() {
                    if !s.starts_with("127.") && s != "::1" {
                        servers.push(s.to_string());
                    }
                }
            }
            Some("search") | Some("domain") => searches.extend(w.map(String::from)),
            Some("options") => opts.extend(w.map(String::from)),
            _ => {}
        }
    }
    if !dns.is_empty() {
        servers = dns.to_vec();
    }
    if servers.is_empty() {
        servers = vec!["8.8.8.8".into(), "8.8.4.4".into()];
    }
    if !search.is_empty() {
        searches = search.to_vec();
    }
    if !options.is_empty() {
        opts = options.to_vec();
    }
    if !searches.is_empty() && searches != ["."] {
        out.push_str(&format!("search {}\n", searches.join(" ")));
    }
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !opts.is_empty() {
        out.push_str(&format!("options {}\n", opts.join(" ")));
    }
    out
}

/// The container directory made ahead, in `<data-root>/containers`.
pub(crate) const READY_DIR: &str = ".ready";

/// Makes the next container's directory in `containers` (its layer
/// directories and empty /etc files) unless one is ready: built under a
/// name of its own, then renamed to [`READY_DIR`]. Creating a directory or
/// a file is the costly part on some disks (ext4 without a journal skips
/// every recently deleted inode to find a free one: 0.2-0.3 ms each once
/// containers come and go); a create then only renames. Leftovers of a
/// crash are container directories no record names, swept at start.
pub(crate) fn make_ready_dir(containers: &Path) -> std::io::Result<()> {
    let ready = containers.join(READY_DIR);
    if ready.exists() {
        return Ok(());
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let tmp = containers.join(format!("{READY_DIR}-{}-{nanos}", std::process::id()));
    let made = (|| {
        fs::create_dir_all(containers)?;
        fs::create_dir(&tmp)?;
        for d in ["upper", "work", "merged"] {
            fs::create_dir(tmp.join(d))?;
        }
        for f in ETC_FILES {
            fs::File::create(tmp.join(f))?;
        }
        fs::rename(&tmp, &ready)
    })();
    if made.is_err() {
        // Another one got there first, or the disk refused: the next
        // create makes its directories itself.
        let _ = berth_snapshot::remove_tree(&tmp);
    }
    made
}

/// The files berth bind-mounts at `/etc/<name>` of a container, kept in
/// its directory.
const ETC_FILES: [&str; 3] = ["hostname", "hosts", "resolv.conf"];

impl Engine {
    /// Makes the next container's directory in the background, once a
    /// start has been answered (see [`make_ready_dir`]).
    pub(crate) fn replenish_ready_dir(&self) {
        use std::sync::atomic::Ordering;
        if self.ready_dir_busy.swap(true, Ordering::AcqRel) {
            return;
        }
        let containers = self.config.data_root.join("containers");
        let busy = self.ready_dir_busy.clone();
        let spawned = std::thread::Builder::new()
            .name("ready-dir".into())
            .spawn(move || {
                if let Err(e) = make_ready_dir(&containers) {
                    tracing::debug!("making the next container's directory: {e}");
                }
                busy.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.ready_dir_busy.store(false, Ordering::Release);
        }
    }

    /// Creates a container's directories (at create time).
    pub(crate) fn prepare_rootfs(&self, rec: &ContainerRecord, _image: &ImageRecord) -> Result<()> {
        let d = self.container_dirs(&rec.id);
        // The directory made ahead becomes the container's in one rename.
        if fs::rename(d.root.with_file_name(READY_DIR), &d.root).is_ok() {
            return Ok(());
        }
        for p in [&d.upper, &d.work, &d.merged] {
            fs::create_dir_all(p).map_err(io_context(format!("creating {}", p.display())))?;
        }
        Ok(())
    }

    /// Mounts the container's root filesystem (idempotent).
    pub(crate) fn mount_rootfs(&self, rec: &ContainerRecord) -> Result<PathBuf> {
        let d = self.container_dirs(&rec.id);
        if berth_snapshot::mount::is_mounted(&d.merged) {
            return Ok(d.merged);
        }
        let image: ImageRecord = self
            .store
            .get(IMAGES, &rec.image_id)?
            .ok_or_else(|| EngineError::not_found(format!("No such image: {}", rec.image)))?;
        let image_layers: Vec<PathBuf> = image
            .layers
            .iter()
            .rev()
            .map(|l| self.layers.diff_dir(l))
            .collect();
        for l in &image_layers {
            if !l.is_dir() {
                return Err(EngineError::internal(format!(
                    "layer {} of image {} is missing from the store",
                    l.display(),
                    rec.image
                )));
            }
        }
        // The init layer on top: the mount points every container has
        // (made once per data root; see berth_snapshot::init_layer).
        let lowers: Vec<PathBuf> = std::iter::once(self.config.data_root.join("init"))
            .chain(image_layers)
            .collect();
        let empty = self.config.data_root.join("empty");
        for p in [&d.upper, &d.work, &d.merged] {
            fs::create_dir_all(p).map_err(io_context(format!("creating {}", p.display())))?;
        }
        // A `--rm` container's changes go with it: no sync at its end.
        let keep = if rec.host_config["AutoRemove"].as_bool() == Some(true) {
            berth_snapshot::mount::Upper::Discarded
        } else {
            berth_snapshot::mount::Upper::Kept
        };
        berth_snapshot::mount::mount_overlay(&lowers, &d.upper, &d.work, &d.merged, &empty, keep)
            .map_err(|e| EngineError::internal(e.to_string()))?;
        Ok(d.merged)
    }

    /// Unmounts the container's root filesystem (when it stops).
    pub(crate) fn unmount_rootfs(&self, id: &str) {
        let d = self.container_dirs(id);
        if let Err(e) = berth_snapshot::mount::unmount(&d.merged) {
            tracing::warn!("{e}");
        }
    }

    /// `--ipc shareable`: the container's /dev/shm as a tmpfs on the host
    /// (`<container dir>/shm`, as Docker keeps it), so that containers
    /// started with `--ipc container:NAME` can bind the same one.
    pub(crate) fn mount_shared_shm(&self, id: &str, size: u64) -> Result<std::path::PathBuf> {
        let dir = self.container_dirs(id).root.join("shm");
        if berth_snapshot::mount::is_mounted(&dir) {
            return Ok(dir);
        }
        fs::create_dir_all(&dir).map_err(io_context(format!("creating {}", dir.display())))?;
        let data = std::ffi::CString::new(format!("mode=1777,size={}", size.max(4096)))
            .map_err(|_| EngineError::internal("the /dev/shm options held a NUL"))?;
        rustix::mount::mount(
            "shm",
            &dir,
            "tmpfs",
            rustix::mount::MountFlags::NOSUID
                | rustix::mount::MountFlags::NODEV
                | rustix::mount::MountFlags::NOEXEC,
            data.as_c_str(),
        )
        .map_err(|e| {
            EngineError::internal(format!("mounting /dev/shm at {}: {e}", dir.display()))
        })?;
        Ok(dir)
    }

    /// Takes away the host-side /dev/shm of a shareable container (when it
    /// stops, or is removed); nothing when it has none.
    pub(crate) fn unmount_shared_shm(&self, id: &str) {
        let dir = self.container_dirs(id).root.join("shm");
        if let Err(e) = berth_snapshot::mount::unmount(&dir) {
            tracing::warn!("{e}");
        }
    }

    /// Writes `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf` for the
    /// container (bind-mounted at start).
    pub(crate) fn write_etc_files(&self, rec: &ContainerRecord) -> Result<()> {
        let d = self.container_dirs(&rec.id);
        let hostname = rec.config["Hostname"]
            .as_str()
            .unwrap_or(&rec.id[..12])
            .to_string();
        let domain = rec.config["Domainname"].as_str().unwrap_or("");
        let hc = &rec.host_config;
        let host_net = hc["NetworkMode"].as_str() == Some("host");
        // In place: the container is not running, and they are written
        // again at every start (a torn one after a crash is rewritten);
        // while it runs they are bind-mounted, so updates must be in place
        // anyway. No new inode when the directory was made ahead.
        let write = |name: &str, content: String| -> Result<()> {
            let p = d.root.join(name);
            fs::write(&p, content).map_err(io_context(format!("writing {}", p.display())))
        };
        if host_net {
            let h = fs::read_to_string("/etc/hostname").unwrap_or_else(|_| format!("{hostname}\n"));
            write("hostname", h)?;
            write(
                "hosts",
                fs::read_to_string("/etc/hosts").unwrap_or_default(),
            )?;
            write(
                "resolv.conf",
                fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
            )?;
            return Ok(());
        }
        write("hostname", format!("{hostname}\n"))?;
        let fqdn = if domain.is_empty() {
            hostname.clone()
        } else {
            format!("{hostname}.{domain} {hostname}")
        };
        let mut hosts = String::from(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
        );
        for h in strings(hc.get("ExtraHosts")) {
            let (name, ip) = match h
                .split_once('=')
                .or_else(|| h.rsplit_once(':').filter(|_| !h.contains('=')))
            {
                Some((n, ip)) => (n.to_string(), ip.trim_matches(['[', ']']).to_string()),
                None => continue,
            };
            let ip = if ip == "host-gateway" {
                "127.0.0.1".to_string()
            } else {
                ip
            };
            hosts.push_str(&format!("{ip}\t{name}\n"));
        }
        // The container's own names: its addresses on its networks, or
        // loopback without any.
        let own = self.hosts_entries(rec, &fqdn);
        if own.is_empty() {
            hosts.push_str(&format!("127.0.1.1\t{fqdn}\n"));
        } else {
            hosts.push_str(&own);
        }
        write("hosts", hosts)?;
        let resolv = if self.uses_embedded_dns(rec) {
            let overrides = berth_network::dns::DnsOverrides {
                nameservers: Vec::new(),
                search: strings(hc.get("DnsSearch")),
                options: strings(hc.get("DnsOptions")),
            };
            let host = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            berth_network::dns::container_resolv_conf(&host, &overrides, true).content
        } else {
            host_resolv_conf(
                &strings(hc.get("Dns")),
                &strings(hc.get("DnsSearch")),
                &strings(hc.get("DnsOptions")),
            )
        };
        write("resolv.conf", resolv)?;
        Ok(())
    }

    /// Removes everything a container has on disk.
    pub(crate) fn remove_container_files(&self, id: &str) -> Result<()> {
        let d = self.container_dirs(id);
        self.unmount_rootfs(id);
        self.unmount_shared_shm(id);
        let _ = fs::remove_file(berth_runtime::shim::socket_path(&d.bundle));
        for p in [&d.root, &d.bundle] {
            if p.exists() {
                berth_snapshot::remove_tree(p)
                    .map_err(io_context(format!("removing {}", p.display())))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_containers_directory_is_made_whole_once() {
        let root = tempfile::tempdir().unwrap();
        let containers = root.path().join("containers");
        make_ready_dir(&containers).unwrap();
        let ready = containers.join(READY_DIR);
        for d in ["upper", "work", "merged"] {
            assert!(ready.join(d).is_dir(), "{d}");
        }
        for f in ETC_FILES {
            assert_eq!(fs::read(ready.join(f)).unwrap(), b"", "{f}");
        }
        // One is ready: left as it is, and nothing else is made.
        fs::write(ready.join("hosts"), "mark").unwrap();
        make_ready_dir(&containers).unwrap();
        assert_eq!(fs::read(ready.join("hosts")).unwrap(), b"mark");
        let names: Vec<_> = fs::read_dir(&containers)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(READY_DIR)]);
    }

    #[test]
    fn resolv_conf_overrides() {
        let r = host_resolv_conf(
            &["1.1.1.1".into()],
            &["example.com".into()],
            &["ndots:2".into()],
        );
        assert_eq!(
            r,
            "search example.com\nnameserver 1.1.1.1\noptions ndots:2\n"
        );
        let r = host_resolv_conf(&[], &[], &[]);
        assert!(r.contains("nameserver"), "{r}");
        assert!(!r.contains("nameserver 127."), "{r}");
    }
}
