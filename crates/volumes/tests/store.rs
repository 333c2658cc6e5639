//! The volume store on a real file system: create/list/get/remove,
//! idempotent create, bad names and options, crash leftovers, and
//! reference-counted tmpfs and bind mounts checked in /proc/self/mountinfo.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;

use berth_volumes::{CreateOptions, ErrorKind, VolumeStore, ANONYMOUS_LABEL, DATA_DIR, META_FILE};
use common::{mounted_type, TestDir};

fn map(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn named(name: &str) -> CreateOptions {
    CreateOptions {
        name: Some(name.into()),
        ..Default::default()
    }
}

/// Everything in the store's root, sorted.
fn entries(store: &VolumeStore) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(store.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn create_get_list_remove() {
    let t = TestDir::new();
    let store = VolumeStore::open(&t.join("volumes")).unwrap();
    assert!(store.list().is_empty());

    let (v, created) = store
        .create(CreateOptions {
            name: Some("data".into()),
            driver: Some("local".into()),
            driver_opts: Some(BTreeMap::new()),
            labels: Some(map(&[("app", "web")])),
            anonymous: false,
        })
        .unwrap();
    assert!(created);
    assert_eq!(v.name, "data");
    assert_eq!(v.driver, "local");
    assert_eq!(v.scope, "local");
    assert_eq!(
        v.mountpoint,
        t.join("volumes/data/_data").display().to_string()
    );
    assert_eq!(v.labels, Some(map(&[("app", "web")])));
    assert_eq!(v.options, Some(BTreeMap::new()));
    assert!(!v.is_anonymous());
    // RFC 3339 with seconds, no fraction.
    let created_at = chrono::DateTime::parse_from_rfc3339(&v.created_at).unwrap();
    assert!(!v.created_at.contains('.'), "{}", v.created_at);
    assert!((chrono::Utc::now().timestamp() - created_at.timestamp()).abs() < 60);
    let data = t.join("volumes/data/_data");
    assert!(data.is_dir());
    assert_eq!(
        fs::metadata(&data).unwrap().permissions().mode() & 0o7777,
        0o755
    );
    assert_eq!(
        fs::metadata(t.join("volumes/data"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o701
    );

    // The inspect JSON has Docker's field names; Status/UsageData absent.
    let j = serde_json::to_value(&v).unwrap();
    let keys: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "CreatedAt",
            "Driver",
            "Labels",
            "Mountpoint",
            "Name",
            "Options",
            "Scope"
        ]
    );

    // Anonymous: 64 hex name, Docker's label, null options.
    let (anon, _) = store
        .create(CreateOptions {
            anonymous: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(anon.name.len(), 64);
    assert!(anon.name.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(anon.is_anonymous());
    assert_eq!(anon.labels, Some(map(&[(ANONYMOUS_LABEL, "")])));
    assert_eq!(
        serde_json::to_value(&anon).unwrap()["Options"],
        serde_json::Value::Null
    );

    let names: Vec<String> = store.list().into_iter().map(|v| v.name).collect();
    let mut want = vec![anon.name.clone(), "data".to_string()];
    want.sort();
    assert_eq!(names, want);
    assert_eq!(store.get("data").unwrap(), v);

    // Data survives a reopen, metadata too.
    fs::write(data.join("f"), b"hello").unwrap();
    drop(store);
    let store = VolumeStore::open(&t.join("volumes")).unwrap();
    assert_eq!(store.get("data").unwrap(), v);
    assert_eq!(store.size("data").unwrap(), 5);
    assert_eq!(store.list().len(), 2);

    // Remove.
    store.remove("data", false).unwrap();
    assert!(!t.join("volumes/data").exists());
    let e = store.get("data").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.to_string(), "get data: no such volume");
    let e = store.remove("data", false).unwrap_err();
    assert_eq!(e.to_string(), "get data: no such volume");
    store.remove("data", true).unwrap();
    store.remove(&anon.name, false).unwrap();
    assert!(store.list().is_empty());
    assert!(entries(&store).is_empty(), "{:?}", entries(&store));
    assert_eq!(store.size("data").unwrap_err().kind(), ErrorKind::NotFound);
}

#[test]
fn create_is_idempotent() {
    let t = TestDir::new();
    let store = VolumeStore::open(&t.join("volumes")).unwrap();
    let (a, created) = store
        .create(CreateOptions {
            labels: Some(map(&[("x", "1")])),
            ..named("same")
        })
        .unwrap();
    assert!(created);
    fs::write(t.join("volumes/same/_data/keep"), b"1").unwrap();
    // Same name again, even with other labels and options: Docker returns
    // the existing volume unchanged.
    let (b, created) = store
        .create(CreateOptions {
            labels: Some(map(&[("y", "2")])),
            driver_opts: Some(map(&[("bogus", "1")])),
            ..named("same")
        })
        .unwrap();
    assert!(!created);
    assert_eq!(a, b);
    assert!(t.join("volumes/same/_data/keep").exists());
    assert_eq!(store.list().len(), 1);

    // Another driver is refused, existing or not.
    for name in ["same", "other"] {
        let e = store
            .create(CreateOptions {
                driver: Some("nfsplugin".into()),
                ..named(name)
            })
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            format!("create {name}: error looking up volume plugin nfsplugin: plugin \"nfsplugin\" not found")
        );
    }
    assert_eq!(store.list().len(), 1);
}

#[test]
fn bad_names_and_options_change_nothing() {
    let t = TestDir::new();
    let store = VolumeStore::open(&t.join("volumes")).unwrap();
    let cases: Vec<(CreateOptions, String)> = vec![
        (
            named("x"),
            "create x: volume name is too short, names should be at least two alphanumeric characters".into(),
        ),
        (
            named("a/b"),
            "create a/b: \"a/b\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path".into(),
        ),
        (
            named("-ab"),
            "create -ab: \"-ab\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path".into(),
        ),
        (
            named(".."),
            "create ..: \"..\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path".into(),
        ),
        (
            CreateOptions {
                driver_opts: Some(map(&[("foo", "bar")])),
                ..named("good")
            },
            "create good: invalid option: \"foo\"".into(),
        ),
        (
            CreateOptions {
                driver_opts: Some(map(&[("type", "tmpfs")])),
                ..named("good")
            },
            "create good: missing required option: \"device\"".into(),
        ),
        (
            CreateOptions {
                driver_opts: Some(map(&[("size", "1g")])),
                ..named("good")
            },
            "create good: quota size requested but no quota support".into(),
        ),
    ];
    for (opts, want) in cases {
        let e = store.create(opts).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidParameter, "{e}");
        assert_eq!(e.to_string(), want);
    }
    let e = store
        .create(CreateOptions {
            driver_opts: Some(map(&[
                ("type", "nfs"),
                ("device", ":/x"),
                ("o", "addr=10.1.2.3"),
            ])),
            ..named("nfsvol")
        })
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidParameter);
    assert!(
        e.to_string()
            .starts_with("create nfsvol: network volumes are not supported"),
        "{e}"
    );
    assert!(store.list().is_empty());
    assert!(entries(&store).is_empty(), "{:?}", entries(&store));
}

#[test]
fn interrupted_create_and_remove_are_swept() {
    let t = TestDir::new();
    let root = t.join("volumes");
    let store = VolumeStore::open(&root).unwrap();
    store.create(named("kept")).unwrap();
    drop(store);
    // What a SIGKILL can leave: a half-built volume (no metadata yet, or
    // complete but not renamed) and a volume being deleted.
    fs::create_dir_all(root.join(".tmp-0011223344556677/_data")).unwrap();
    fs::create_dir_all(root.join(".tmp-8899aabbccddeeff/_data/sub")).unwrap();
    fs::write(
        root.join(".tmp-8899aabbccddeeff").join(META_FILE),
        br#"{"Name":"ghost","Driver":"local","Labels":null,"Options":null,"CreatedAt":"2024-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    fs::create_dir_all(root.join(".rm-0123456789abcdef/_data/deep/er")).unwrap();
    fs::write(root.join(".rm-0123456789abcdef/_data/deep/er/f"), b"x").unwrap();
    // A directory that is not a volume is neither listed nor deleted.
    fs::create_dir_all(root.join("stranger/_data")).unwrap();
    // Nor is a file.
    fs::write(root.join("metadata.db"), b"").unwrap();

    let store = VolumeStore::open(&root).unwrap();
    let names: Vec<String> = store.list().into_iter().map(|v| v.name).collect();
    assert_eq!(names, ["kept"]);
    assert_eq!(entries(&store), ["kept", "metadata.db", "stranger"]);
    assert_eq!(store.get("ghost").unwrap_err().kind(), ErrorKind::NotFound);

    // The stranger's name cannot be taken over by a new volume.
    let e = store.create(named("stranger")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(
        e.to_string().contains("already exists and is not a volume"),
        "{e}"
    );
    assert!(root.join("stranger/_data").is_dir());
    assert_eq!(entries(&store), ["kept", "metadata.db", "stranger"]);
}

#[test]
fn tmpfs_volume_is_mounted_once_and_refcounted() {
    let t = TestDir::new();
    let store = VolumeStore::open(&t.join("volumes")).unwrap();
    let opts = map(&[
        ("type", "tmpfs"),
        ("device", "tmpfs"),
        ("o", "size=1m,uid=1234,mode=0750"),
    ]);
    let (v, _) = store
        .create(CreateOptions {
            driver_opts: Some(opts.clone()),
            ..named("scratch")
        })
        .unwrap();
    assert_eq!(v.options, Some(opts));
    let data = t.join("volumes/scratch/_data");
    assert_eq!(mounted_type(&data), None, "created, not mounted");

    let p1 = store.mount("scratch").unwrap();
    assert_eq!(p1, data);
    assert_eq!(mounted_type(&data).as_deref(), Some("tmpfs"));
    let st = fs::metadata(&data).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(st.uid(), 1234);
    assert_eq!(st.mode() & 0o7777, 0o750);
    fs::write(data.join("f"), b"in tmpfs").unwrap();

    // A second container: no second mount, same content.
    let p2 = store.mount("scratch").unwrap();
    assert_eq!(p2, data);
    let count = common::mounts()
        .iter()
        .filter(|(m, _)| *m == data.display().to_string())
        .count();
    assert_eq!(count, 1);
    assert_eq!(store.active_mounts("scratch").unwrap(), 2);

    // In use: removal refused, nothing changed.
    let e = store.remove("scratch", true).unwrap_err();
    assert_eq!(e.to_string(), "remove scratch: volume has active mounts");
    assert_eq!(fs::read(data.join("f")).unwrap(), b"in tmpfs");

    store.unmount("scratch").unwrap();
    assert_eq!(
        mounted_type(&data).as_deref(),
        Some("tmpfs"),
        "one user left"
    );
    store.unmount("scratch").unwrap();
    assert_eq!(mounted_type(&data), None, "last user gone");
    assert!(
        !data.join("f").exists(),
        "tmpfs content went with the mount"
    );
    // Extra unmounts are harmless.
    store.unmount("scratch").unwrap();
    assert_eq!(store.active_mounts("scratch").unwrap(), 0);

    // A daemon restart while mounted: the new store knows it is mounted,
    // a live-restored user keeps it, and the last unmount unmounts.
    store.mount("scratch").unwrap();
    drop(store);
    let store = VolumeStore::open(&t.join("volumes")).unwrap();
    store.live_restore("scratch").unwrap();
    assert_eq!(store.active_mounts("scratch").unwrap(), 1);
    store.mount("scratch").unwrap();
    let count = common::mounts()
        .iter()
        .filter(|(m, _)| *m == data.display().to_string())
        .count();
    assert_eq!(count, 1, "not mounted twice after a restart");
    store.unmount("scratch").unwrap();
    store.unmount("scratch").unwrap();
    assert_eq!(mounted_type(&data), None);

    // Removing a volume that is mounted but unused (left by a previous
    // daemon) unmounts it first.
    store.mount("scratch").unwrap();
    drop(store);
    let store = VolumeStore::open(&t.join("volumes")).unwrap();
    assert_eq!(mounted_type(&data).as_deref(), Some("tmpfs"));
    store.remove("scratch", false).unwrap();
    assert_eq!(mounted_type(&data), None);
    assert!(!t.join("volumes/scratch").exists());
}

#[test]
fn bind_volume_and_mount_errors() {
    let t = TestDir::new();
    let host = t.join("host-dir");
    fs::create_dir_all(&host).unwrap();
    fs::write(host.join("precious"), b"keep me").unwrap();
    let store = VolumeStore::open(&t.join("volumes")).unwrap();
    store
        .create(CreateOptions {
            driver_opts: Some(map(&[
                ("type", "none"),
                ("device", &host.display().to_string()),
                ("o", "bind,ro"),
            ])),
            ..named("bound")
        })
        .unwrap();
    let data = store.mount("bound").unwrap();
    assert_eq!(fs::read(data.join("precious")).unwrap(), b"keep me");
    // `ro` took effect through the remount.
    let e = fs::write(data.join("new"), b"x").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EROFS));
    store.unmount("bound").unwrap();
    // Removing the volume never touches the bound host directory.
    store.remove("bound", false).unwrap();
    assert_eq!(fs::read(host.join("precious")).unwrap(), b"keep me");

    // A missing device: Docker's message, nothing mounted, count unchanged.
    let missing = t.join("nope");
    store
        .create(CreateOptions {
            driver_opts: Some(map(&[
                ("type", "none"),
                ("device", &missing.display().to_string()),
                ("o", "bind"),
            ])),
            ..named("broken")
        })
        .unwrap();
    let e = store.mount("broken").unwrap_err();
    let data = t.join("volumes/broken").join(DATA_DIR);
    assert_eq!(
        e.to_string(),
        format!(
            "failed to mount local volume: mount {}:{}, flags: {:#x}: no such file or directory",
            missing.display(),
            data.display(),
            libc::MS_BIND
        )
    );
    assert_eq!(store.active_mounts("broken").unwrap(), 0);
    assert_eq!(mounted_type(&data), None);
    store.remove("broken", false).unwrap();

    assert_eq!(
        store.mount("ghost").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // Plain volumes are not counted and just give their data path.
    store.create(named("plain")).unwrap();
    let p = store.mount("plain").unwrap();
    assert_eq!(p, t.join("volumes/plain/_data"));
    assert_eq!(store.active_mounts("plain").unwrap(), 0);
    store.unmount("plain").unwrap();
}

#[test]
fn concurrent_creates_of_one_name_make_one_volume() {
    let t = TestDir::new();
    let store = std::sync::Arc::new(VolumeStore::open(&t.join("volumes")).unwrap());
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let s = store.clone();
            std::thread::spawn(move || s.create(named("race")).unwrap())
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results.iter().filter(|(_, created)| *created).count(), 1);
    assert!(results.iter().all(|(v, _)| *v == results[0].0));
    assert_eq!(entries(&store), ["race"]);
}

/// Kills the child process (if still running) when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Not a test on its own: run by `sigkill_during_creates_leaves_no_partial_volume`
/// in a child process, it creates and removes volumes until killed.
#[test]
fn child_create_loop() {
    let Ok(root) = std::env::var("BERTH_VOLUMES_CHILD_ROOT") else {
        return;
    };
    let store = VolumeStore::open(std::path::Path::new(&root)).unwrap();
    for i in 0.. {
        let name = format!("v{i}");
        store
            .create(CreateOptions {
                labels: Some(map(&[("i", &i.to_string())])),
                ..named(&name)
            })
            .unwrap();
        fs::write(store.data_path(&name).join("f"), vec![1u8; 4096]).unwrap();
        if i % 3 == 0 {
            store.remove(&name, false).unwrap();
        }
    }
}

#[test]
fn sigkill_during_creates_leaves_no_partial_volume() {
    let t = TestDir::new();
    let root = t.join("volumes");
    let exe = std::env::current_exe().unwrap();
    for round in 0..6u64 {
        let child = std::process::Command::new(&exe)
            .args([
                "--exact",
                "child_create_loop",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("BERTH_VOLUMES_CHILD_ROOT", &root)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut child = Child(child);
        std::thread::sleep(std::time::Duration::from_millis(40 + round * 37));
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        drop(child);

        let store = VolumeStore::open(&root).unwrap();
        let vols = store.list();
        for v in &vols {
            // Every volume that is listed is whole: data dir and metadata.
            assert!(std::path::Path::new(&v.mountpoint).is_dir(), "{}", v.name);
            assert_eq!(v.labels.as_ref().unwrap()["i"], v.name[1..]);
        }
        // Nothing half-made or half-deleted is left behind.
        for e in entries(&store) {
            assert!(!e.starts_with('.'), "leftover {e} after round {round}");
            assert!(vols.iter().any(|v| v.name == e), "{e} is not a volume");
        }
        // Start the next round from scratch so names are reused.
        for v in vols {
            store.remove(&v.name, false).unwrap();
        }
    }
}
