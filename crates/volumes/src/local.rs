//! The `local` driver's options (`type`, `device`, `o`, `size`): their
//! validation with Docker's messages, mount(8)-style option parsing into
//! mount(2) flags and data (moby/sys/mount), and mounting/unmounting a
//! volume's `_data` directory.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::path::Path;

use crate::error::{errno_text, Result, VolumeError};
use crate::units::ram_in_bytes;

/// The option keys the local driver accepts.
pub const VALID_OPTS: &[&str] = &["type", "o", "device", "size"];

/// File system types that need a network client berth does not have.
const NETWORK_TYPES: &[&str] = &["nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs"];

/// Checks local driver options as Docker's `validateOpts` does, plus a
/// clear refusal of network file systems (no NFS/CIFS support here).
pub fn validate_opts(opts: &BTreeMap<String, String>) -> Result<()> {
    if opts.is_empty() {
        return Ok(());
    }
    for k in opts.keys() {
        if !VALID_OPTS.contains(&k.as_str()) {
            return Err(VolumeError::invalid(format!("invalid option: {k:?}")));
        }
    }
    if let Some(val) = opts.get("size") {
        let size = ram_in_bytes(val).map_err(VolumeError::invalid)?;
        if size > 0 {
            return Err(VolumeError::invalid(
                "quota size requested but no quota support",
            ));
        }
    }
    // Docker walks a Go map here (random order); a fixed order keeps the
    // message stable.
    for (opt, required) in [
        ("device", &["type"][..]),
        ("type", &["device"][..]),
        ("o", &["device", "type"][..]),
    ] {
        if opts.contains_key(opt) {
            for r in required {
                if !opts.contains_key(*r) {
                    return Err(VolumeError::invalid(format!(
                        "missing required option: {r:?}"
                    )));
                }
            }
        }
    }
    let typ = opts.get("type").map(String::as_str).unwrap_or("");
    let o = opts.get("o").map(String::as_str).unwrap_or("");
    if NETWORK_TYPES.contains(&typ) || o.split(',').any(|x| x.starts_with("addr=")) {
        return Err(VolumeError::invalid(format!(
            "network volumes are not supported by berth (type={typ:?}, o={o:?}): there is no NFS/CIFS client; use type=tmpfs, a block device, or type=none with o=bind"
        )));
    }
    if let Some((k, _)) = opts.iter().find(|(_, v)| v.contains('\0')) {
        return Err(VolumeError::invalid(format!(
            "invalid value for option {k:?}: it contains a NUL byte"
        )));
    }
    Ok(())
}

/// Whether volumes with these options are mounted on use (`type` or
/// `device` given), as Docker's `needsMount`.
pub fn needs_mount(opts: &BTreeMap<String, String>) -> bool {
    opts.get("type").is_some_and(|t| !t.is_empty())
        || opts.get("device").is_some_and(|d| !d.is_empty())
}

const MS_PTYPES: libc::c_ulong =
    libc::MS_SHARED | libc::MS_PRIVATE | libc::MS_SLAVE | libc::MS_UNBINDABLE;

/// moby/sys/mount's flag table: `(name, clear, flag)`.
const FLAGS: &[(&str, bool, libc::c_ulong)] = &[
    ("defaults", false, 0),
    ("ro", false, libc::MS_RDONLY),
    ("rw", true, libc::MS_RDONLY),
    ("suid", true, libc::MS_NOSUID),
    ("nosuid", false, libc::MS_NOSUID),
    ("dev", true, libc::MS_NODEV),
    ("nodev", false, libc::MS_NODEV),
    ("exec", true, libc::MS_NOEXEC),
    ("noexec", false, libc::MS_NOEXEC),
    ("sync", false, libc::MS_SYNCHRONOUS),
    ("async", true, libc::MS_SYNCHRONOUS),
    ("dirsync", false, libc::MS_DIRSYNC),
    ("remount", false, libc::MS_REMOUNT),
    ("mand", false, libc::MS_MANDLOCK),
    ("nomand", true, libc::MS_MANDLOCK),
    ("atime", true, libc::MS_NOATIME),
    ("noatime", false, libc::MS_NOATIME),
    ("diratime", true, libc::MS_NODIRATIME),
    ("nodiratime", false, libc::MS_NODIRATIME),
    ("bind", false, libc::MS_BIND),
    ("rbind", false, libc::MS_BIND | libc::MS_REC),
    ("unbindable", false, libc::MS_UNBINDABLE),
    ("runbindable", false, libc::MS_UNBINDABLE | libc::MS_REC),
    ("private", false, libc::MS_PRIVATE),
    ("rprivate", false, libc::MS_PRIVATE | libc::MS_REC),
    ("shared", false, libc::MS_SHARED),
    ("rshared", false, libc::MS_SHARED | libc::MS_REC),
    ("slave", false, libc::MS_SLAVE),
    ("rslave", false, libc::MS_SLAVE | libc::MS_REC),
    ("relatime", false, libc::MS_RELATIME),
    ("norelatime", true, libc::MS_RELATIME),
    ("strictatime", false, libc::MS_STRICTATIME),
    ("nostrictatime", true, libc::MS_STRICTATIME),
];

/// Splits mount(8)-style options into mount(2) flags and the data string
/// for the file system (everything not in the flag table), as
/// moby/sys/mount's `parseOptions`: `"ro,size=1m,uid=1000"` →
/// `(MS_RDONLY, "size=1m,uid=1000")`.
pub fn parse_mount_options(options: &str) -> (libc::c_ulong, String) {
    let mut flags: libc::c_ulong = 0;
    let mut data = Vec::new();
    for o in options.split(',') {
        match FLAGS.iter().find(|(n, _, f)| *n == o && *f != 0) {
            Some((_, true, f)) => flags &= !f,
            Some((_, false, f)) => flags |= f,
            None => data.push(o),
        }
    }
    (flags, data.join(","))
}

fn cstr(s: &str, what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| VolumeError::invalid(format!("{what} contains a NUL byte")))
}

fn mount_error(op: &str, source: &str, target: &Path, flags: libc::c_ulong, data: &str) -> String {
    let e = std::io::Error::last_os_error();
    let mut out = format!("{op} ");
    if source.is_empty() {
        out.push_str(&target.display().to_string());
    } else {
        out.push_str(&format!("{source}:{}", target.display()));
    }
    if flags != 0 {
        out.push_str(&format!(", flags: {flags:#x}"));
    }
    if !data.is_empty() {
        out.push_str(&format!(", data: {data}"));
    }
    out.push_str(&format!(": {}", errno_text(&e)));
    out
}

fn sys_mount(
    source: &str,
    target: &Path,
    fstype: &str,
    flags: libc::c_ulong,
    data: &str,
) -> std::result::Result<(), ()> {
    let (Ok(s), Ok(t), Ok(f), Ok(d)) = (
        CString::new(source),
        CString::new(target.as_os_str().as_encoded_bytes()),
        CString::new(fstype),
        CString::new(data),
    ) else {
        return Err(());
    };
    let data_ptr = if data.is_empty() {
        std::ptr::null()
    } else {
        d.as_ptr() as *const libc::c_void
    };
    // SAFETY: all pointers are valid NUL-terminated strings (or NULL for
    // data) that live until the call returns.
    let rc = unsafe { libc::mount(s.as_ptr(), t.as_ptr(), f.as_ptr(), flags, data_ptr) };
    if rc == 0 {
        Ok(())
    } else {
        Err(())
    }
}

/// Mounts `device` of `fstype` with mount(8)-style `options` on `target`,
/// as moby/sys/mount's `Mount`: the initial mount, then a propagation
/// change if asked, then a read-only remount for `bind,ro`. Errors read
/// `failed to mount local volume: mount DEV:TARGET, flags: 0x..: <errno>`
/// with any `password=` hidden.
pub fn mount_volume(device: &str, target: &Path, fstype: &str, options: &str) -> Result<()> {
    cstr(device, "device")?;
    cstr(fstype, "type")?;
    cstr(options, "o")?;
    let (flags, data) = parse_mount_options(options);
    let hide = |msg: String| -> VolumeError {
        let msg = match options.split(',').find_map(|o| o.strip_prefix("password=")) {
            Some(p) if !p.is_empty() => {
                msg.replacen(&format!("password={p}"), "password=********", 1)
            }
            _ => msg,
        };
        VolumeError::system(format!("failed to mount local volume: {msg}"))
    };
    let oflags = flags & !MS_PTYPES;
    let is_remount = flags & libc::MS_REMOUNT != 0 || device.is_empty() || device == "none";
    if !is_remount || !data.is_empty() {
        sys_mount(device, target, fstype, oflags, &data)
            .map_err(|_| hide(mount_error("mount", device, target, oflags, &data)))?;
    }
    if flags & MS_PTYPES != 0 {
        let pflags = flags & (MS_PTYPES | libc::MS_REC | libc::MS_SILENT);
        sys_mount("", target, "", pflags, "")
            .map_err(|_| hide(mount_error("remount", "", target, pflags, "")))?;
    }
    let bro = libc::MS_BIND | libc::MS_RDONLY;
    if oflags & bro == bro {
        let f = oflags | libc::MS_REMOUNT;
        sys_mount("", target, "", f, "")
            .map_err(|_| hide(mount_error("remount-ro", "", target, f, "")))?;
    }
    Ok(())
}

/// Lazily unmounts `target`; "not mounted" is fine.
pub fn unmount_volume(target: &Path) -> Result<()> {
    let t = CString::new(target.as_os_str().as_encoded_bytes())
        .map_err(|_| VolumeError::invalid("path contains a NUL byte"))?;
    // SAFETY: `t` is a valid NUL-terminated path.
    let rc = unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH) };
    if rc == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOENT) => Ok(()),
        _ => Err(VolumeError::system(format!(
            "umount {}, flags: {:#x}: {}",
            target.display(),
            libc::MNT_DETACH,
            errno_text(&e)
        ))),
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount points listed in /proc/self/mountinfo.
pub fn mount_points() -> Vec<String> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    info.lines()
        .filter_map(|l| l.split(' ').nth(4).map(unescape))
        .collect()
}

/// Checks that a bind source can carry the propagation asked for, as
/// Docker does: `shared`/`rshared` need the mount holding the source to be
/// shared, `slave`/`rslave` shared or a slave. Other modes always can.
pub fn check_bind_propagation(source: &Path, propagation: &str) -> Result<()> {
    let want_shared = matches!(propagation, "shared" | "rshared");
    let want_slave = matches!(propagation, "slave" | "rslave");
    if !want_shared && !want_slave {
        return Ok(());
    }
    let path = std::fs::canonicalize(source)
        .map_err(|e| VolumeError::invalid(format!("bind source {}: {e}", source.display())))?;
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| VolumeError::system(format!("reading /proc/self/mountinfo: {e}")))?;
    // The mount holding `path`: the longest mount point that contains it
    // (the last one listed wins among equals: it is on top).
    let mut best: Option<(String, String)> = None;
    for line in info.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(point) = fields.get(4).map(|p| unescape(p)) else {
            continue;
        };
        let inside = point == "/"
            || path == Path::new(&point)
            || path.starts_with(format!("{}/", point.trim_end_matches('/')));
        if !inside {
            continue;
        }
        let optional: String = fields
            .iter()
            .skip(6)
            .take_while(|f| **f != "-")
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        if best.as_ref().is_none_or(|(b, _)| point.len() >= b.len()) {
            best = Some((point, optional));
        }
    }
    let (point, optional) = best.unwrap_or_else(|| ("/".into(), String::new()));
    let shared = optional.split(' ').any(|f| f.starts_with("shared:"));
    let slave = optional.split(' ').any(|f| f.starts_with("master:"));
    if want_shared && !shared {
        return Err(VolumeError::invalid(format!(
            "path {} is mounted on {point} but it is not a shared mount",
            source.display()
        )));
    }
    if want_slave && !shared && !slave {
        return Err(VolumeError::invalid(format!(
            "path {} is mounted on {point} but it is not a shared or slave mount",
            source.display()
        )));
    }
    Ok(())
}

/// Whether `path` is a mount point.
pub fn is_mounted(path: &Path) -> bool {
    let want = path.display().to_string();
    mount_points().contains(&want)
}

/// Whether anything is mounted at or below `dir`.
pub fn has_mounts_under(dir: &Path) -> bool {
    let want = dir.display().to_string();
    let prefix = format!("{}/", want.trim_end_matches('/'));
    mount_points()
        .iter()
        .any(|m| *m == want || m.starts_with(&prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn option_validation_matches_docker() {
        let ok: &[&[(&str, &str)]] = &[
            &[],
            &[("type", "tmpfs"), ("device", "tmpfs")],
            &[
                ("type", "tmpfs"),
                ("device", "tmpfs"),
                ("o", "size=1m,uid=1000"),
            ],
            &[("type", "none"), ("device", "/srv/x"), ("o", "bind")],
            &[("size", "0")],
        ];
        for o in ok {
            assert_eq!(validate_opts(&opts(o)), Ok(()), "{o:?}");
        }
        let bad: &[(&[(&str, &str)], &str)] = &[
            (&[("foo", "bar")], "invalid option: \"foo\""),
            (&[("type", "tmpfs")], "missing required option: \"device\""),
            (&[("device", "tmpfs")], "missing required option: \"type\""),
            (&[("o", "size=1m")], "missing required option: \"device\""),
            (
                &[("o", "size=1m"), ("device", "x")],
                "missing required option: \"type\"",
            ),
            (
                &[("size", "10m")],
                "quota size requested but no quota support",
            ),
            (&[("size", "ten")], "invalid size: 'ten'"),
        ];
        for (o, want) in bad {
            let e = validate_opts(&opts(o)).unwrap_err();
            assert_eq!(e.message(), *want, "{o:?}");
            assert_eq!(e.kind(), crate::ErrorKind::InvalidParameter);
        }
        let e = validate_opts(&opts(&[
            ("type", "nfs"),
            ("device", ":/export"),
            ("o", "addr=10.0.0.1,rw"),
        ]))
        .unwrap_err();
        assert!(
            e.message().contains("network volumes are not supported"),
            "{e}"
        );
        let e = validate_opts(&opts(&[
            ("type", "ext4"),
            ("device", "/dev/x"),
            ("o", "addr=1.2.3.4"),
        ]))
        .unwrap_err();
        assert!(e.message().contains("no NFS/CIFS client"), "{e}");
    }

    #[test]
    fn mount_option_parsing() {
        assert_eq!(parse_mount_options(""), (0, String::new()));
        assert_eq!(
            parse_mount_options("ro,size=1m,uid=1000"),
            (libc::MS_RDONLY, "size=1m,uid=1000".into())
        );
        assert_eq!(parse_mount_options("ro,rw"), (0, String::new()));
        assert_eq!(
            parse_mount_options("bind,ro"),
            (libc::MS_BIND | libc::MS_RDONLY, String::new())
        );
        assert_eq!(
            parse_mount_options("rbind,nosuid,nodev,noexec,defaults"),
            (
                libc::MS_BIND | libc::MS_REC | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                "defaults".into()
            )
        );
        assert!(needs_mount(&opts(&[
            ("type", "tmpfs"),
            ("device", "tmpfs")
        ])));
        assert!(!needs_mount(&opts(&[("size", "0")])));
    }

    #[test]
    fn mountinfo_unescape() {
        assert_eq!(unescape(r"/a\040b"), "/a b");
        assert_eq!(unescape(r"/a\\b"), r"/a\\b");
        assert_eq!(unescape(r"/x\01"), r"/x\01");
    }
}
