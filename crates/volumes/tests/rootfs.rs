//! Copy-up of image content into new volumes and mount points inside a
//! fake root filesystem, with hostile symlinks that must never lead out.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;

use berth_volumes::{copy_up, copy_up_in_root, safe_mountpoint, volume_subpath, ErrorKind};
use common::TestDir;

fn getxattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    let n = rustix::fs::lgetxattr(path, name, &mut buf[..]).ok()?;
    buf.truncate(n);
    Some(buf)
}

fn setxattr(path: &Path, name: &str, value: &[u8]) {
    rustix::fs::lsetxattr(path, name, value, rustix::fs::XattrFlags::empty()).unwrap();
}

fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
}

fn set_times(path: &Path, secs: i64) {
    let ts = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: secs,
            tv_nsec: 5,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: secs,
            tv_nsec: 7,
        },
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        path,
        &ts,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

/// A small image directory with every kind of entry.
fn make_source(src: &Path) {
    fs::create_dir_all(src.join("sub/deeper")).unwrap();
    fs::write(src.join("file"), b"content").unwrap();
    chown(&src.join("file"), 1000, 1001);
    fs::set_permissions(src.join("file"), fs::Permissions::from_mode(0o4751)).unwrap();
    fs::write(src.join("sub/deeper/big"), vec![7u8; 300_000]).unwrap();
    fs::hard_link(src.join("sub/deeper/big"), src.join("hardlink")).unwrap();
    symlink("/etc/passwd", src.join("abs-link")).unwrap();
    symlink("../..", src.join("sub/up-link")).unwrap();
    chown(&src.join("abs-link"), 42, 43);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        src.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o640),
        0,
    )
    .unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        src.join("null"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o666),
        rustix::fs::makedev(1, 3),
    )
    .unwrap();
    fs::set_permissions(src.join("null"), fs::Permissions::from_mode(0o666)).unwrap();
    fs::set_permissions(src.join("fifo"), fs::Permissions::from_mode(0o640)).unwrap();
    setxattr(&src.join("file"), "user.origin", b"image");
    setxattr(&src.join("sub"), "trusted.note", b"dir-xattr");
    setxattr(&src.join("fifo"), "trusted.kind", b"fifo");
    chown(&src.join("sub"), 7, 8);
    fs::set_permissions(src.join("sub"), fs::Permissions::from_mode(0o2770)).unwrap();
    set_times(&src.join("sub/deeper"), 1_000_000);
    set_times(&src.join("file"), 2_000_000);
    set_times(&src.join("abs-link"), 3_000_000);
    chown(src, 33, 34);
    fs::set_permissions(src, fs::Permissions::from_mode(0o1777)).unwrap();
}

#[test]
fn copy_up_keeps_everything() {
    let t = TestDir::new();
    let src = t.join("rootfs/data");
    make_source(&src);
    let vol = t.join("vol/_data");
    fs::create_dir_all(&vol).unwrap();

    assert!(copy_up(&src, &vol).unwrap());

    let m = |p: &str| fs::symlink_metadata(vol.join(p)).unwrap();
    // The volume root takes the source directory's owner and mode.
    assert_eq!(m("").mode() & 0o7777, 0o1777);
    assert_eq!((m("").uid(), m("").gid()), (33, 34));
    // Files: content, setuid mode after chown, owner, times, xattrs.
    assert_eq!(fs::read(vol.join("file")).unwrap(), b"content");
    assert_eq!(m("file").mode() & 0o7777, 0o4751);
    assert_eq!((m("file").uid(), m("file").gid()), (1000, 1001));
    assert_eq!((m("file").mtime(), m("file").mtime_nsec()), (2_000_000, 7));
    assert_eq!(
        getxattr(&vol.join("file"), "user.origin").as_deref(),
        Some(&b"image"[..])
    );
    // Directories.
    assert_eq!(m("sub").mode() & 0o7777, 0o2770);
    assert_eq!((m("sub").uid(), m("sub").gid()), (7, 8));
    assert_eq!(
        getxattr(&vol.join("sub"), "trusted.note").as_deref(),
        Some(&b"dir-xattr"[..])
    );
    assert_eq!(m("sub/deeper").mtime(), 1_000_000);
    assert_eq!(
        fs::read(vol.join("sub/deeper/big")).unwrap(),
        vec![7u8; 300_000]
    );
    // Hardlinks stay hardlinks.
    assert_eq!(m("hardlink").ino(), m("sub/deeper/big").ino());
    assert_eq!(m("hardlink").nlink(), 2);
    // Symlinks are copied as they are, never followed.
    assert!(m("abs-link").file_type().is_symlink());
    assert_eq!(
        fs::read_link(vol.join("abs-link")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert_eq!((m("abs-link").uid(), m("abs-link").gid()), (42, 43));
    assert_eq!(m("abs-link").mtime(), 3_000_000);
    assert_eq!(
        fs::read_link(vol.join("sub/up-link")).unwrap(),
        Path::new("../..")
    );
    // Special files.
    use std::os::unix::fs::FileTypeExt;
    assert!(m("fifo").file_type().is_fifo());
    assert_eq!(m("fifo").mode() & 0o7777, 0o640);
    assert_eq!(
        getxattr(&vol.join("fifo"), "trusted.kind").as_deref(),
        Some(&b"fifo"[..])
    );
    assert!(m("null").file_type().is_char_device());
    assert_eq!(m("null").rdev(), rustix::fs::makedev(1, 3));
    assert_eq!(m("null").mode() & 0o7777, 0o666);

    // A volume that is not empty is left alone.
    fs::write(src.join("later"), b"x").unwrap();
    assert!(!copy_up(&src, &vol).unwrap());
    assert!(!vol.join("later").exists());
    // A missing source copies nothing.
    let empty = t.join("vol2");
    fs::create_dir_all(&empty).unwrap();
    assert!(!copy_up(&t.join("rootfs/missing"), &empty).unwrap());
    assert_eq!(fs::read_dir(&empty).unwrap().count(), 0);
}

#[test]
fn copy_up_never_leaves_the_rootfs() {
    let t = TestDir::new();
    let rootfs = t.join("rootfs");
    fs::create_dir_all(rootfs.join("etc")).unwrap();
    fs::write(rootfs.join("etc/inside"), b"from the image").unwrap();
    // The "host": a directory outside the rootfs with a secret.
    let host = t.join("host-etc");
    fs::create_dir_all(&host).unwrap();
    fs::write(host.join("shadow"), b"secret").unwrap();
    // A malicious image: /data -> the host directory by absolute path,
    // /up -> ../../.. (climbing above the root), /etc2 -> /etc.
    symlink(&host, rootfs.join("data")).unwrap();
    symlink("../../../host-etc", rootfs.join("up")).unwrap();
    symlink("/etc", rootfs.join("etc2")).unwrap();

    // copy_up refuses a source whose last component is a symlink.
    let vol = t.join("v1");
    fs::create_dir_all(&vol).unwrap();
    let e = copy_up(&rootfs.join("data"), &vol).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidParameter);
    assert!(e.to_string().contains("symbolic link"), "{e}");
    assert_eq!(fs::read_dir(&vol).unwrap().count(), 0);

    // In-root resolution: the absolute link and the climbing link resolve
    // inside the rootfs, where nothing exists: nothing copied.
    assert!(!copy_up_in_root(&rootfs, "/data", &vol).unwrap());
    assert!(!copy_up_in_root(&rootfs, "/up", &vol).unwrap());
    assert_eq!(fs::read_dir(&vol).unwrap().count(), 0);
    // A link to /etc is the image's /etc.
    assert!(copy_up_in_root(&rootfs, "/etc2", &vol).unwrap());
    assert_eq!(fs::read(vol.join("inside")).unwrap(), b"from the image");
    assert!(!vol.join("shadow").exists());

    // A symlink inside the copied tree pointing at the host is copied as
    // a link; its target is not read.
    let src = rootfs.join("app");
    fs::create_dir_all(&src).unwrap();
    symlink(&host, src.join("escape")).unwrap();
    let vol2 = t.join("v2");
    fs::create_dir_all(&vol2).unwrap();
    assert!(copy_up_in_root(&rootfs, "/app", &vol2).unwrap());
    assert!(fs::symlink_metadata(vol2.join("escape"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read_dir(&vol2).unwrap().count(), 1);
    assert_eq!(fs::read(host.join("shadow")).unwrap(), b"secret");
}

#[test]
fn safe_mountpoint_stays_in_the_rootfs() {
    let t = TestDir::new();
    let rootfs = t.join("rootfs");
    fs::create_dir_all(rootfs.join("etc")).unwrap();
    // /data -> /etc as in a malicious image; the real /etc must not be used.
    symlink("/etc", rootfs.join("data")).unwrap();
    let before: Vec<_> = fs::read_dir("/etc")
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();

    let mt = safe_mountpoint(&rootfs, "/data", false).unwrap();
    assert_eq!(mt.in_root, "/etc");
    assert_eq!(mt.host_path, rootfs.join("etc"));
    let mt = safe_mountpoint(&rootfs, "/data/newdir/x", false).unwrap();
    assert_eq!(mt.in_root, "/etc/newdir/x");
    assert!(rootfs.join("etc/newdir/x").is_dir());
    assert!(!Path::new("/etc/newdir").exists());

    // A file bind target through the link: an empty file inside the root.
    let mt = safe_mountpoint(&rootfs, "/data/berth-test-file.conf", true).unwrap();
    assert_eq!(mt.in_root, "/etc/berth-test-file.conf");
    assert!(rootfs.join("etc/berth-test-file.conf").is_file());
    assert!(!Path::new("/etc/berth-test-file.conf").exists());
    // A file target that is itself a symlink to a host path climbing out.
    symlink(
        "../../../../../../etc/berth-test-other",
        rootfs.join("etc/lnk"),
    )
    .unwrap();
    let mt = safe_mountpoint(&rootfs, "/etc/lnk", true).unwrap();
    assert_eq!(mt.in_root, "/etc/berth-test-other");
    assert!(rootfs.join("etc/berth-test-other").is_file());
    assert!(!Path::new("/etc/berth-test-other").exists());

    let after: Vec<_> = fs::read_dir("/etc")
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after, "the host's /etc changed");

    // Mismatched kinds and bad paths.
    let e = safe_mountpoint(&rootfs, "/etc", true).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot mount a file on /etc: it is a directory in the container"
    );
    let e = safe_mountpoint(&rootfs, "/etc/berth-test-file.conf", false).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot mount a directory on /etc/berth-test-file.conf: it is not a directory in the container"
    );
    let e = safe_mountpoint(&rootfs, "relative", false).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid mount path: 'relative' mount path must be absolute"
    );
    symlink("loop2", rootfs.join("loop1")).unwrap();
    symlink("loop1", rootfs.join("loop2")).unwrap();
    let e = safe_mountpoint(&rootfs, "/loop1", true).unwrap_err();
    assert!(
        e.to_string().contains("too many levels of symbolic links"),
        "{e}"
    );
}

#[test]
fn subpaths_stay_in_the_volume() {
    let t = TestDir::new();
    let data = t.join("vol/_data");
    fs::create_dir_all(data.join("a/b")).unwrap();
    fs::write(data.join("a/file"), b"x").unwrap();
    symlink("/etc", data.join("link")).unwrap();
    assert_eq!(volume_subpath(&data, "a/b").unwrap(), data.join("a/b"));
    assert_eq!(
        volume_subpath(&data, "a/./file").unwrap(),
        data.join("a/file")
    );
    for bad in ["../x", "a/../../x", "/abs", ""] {
        let e = volume_subpath(&data, bad).unwrap_err();
        assert!(e.to_string().contains("escapes base"), "{bad}: {e}");
    }
    let e = volume_subpath(&data, "link").unwrap_err();
    assert!(e.to_string().starts_with("cannot access path"), "{e}");
    let e = volume_subpath(&data, "missing").unwrap_err();
    assert!(e.to_string().contains("no such file or directory"), "{e}");
}
