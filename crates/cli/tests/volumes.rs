//! Volumes as the seminar's labs 10–12 use them, through the real docker
//! CLI and berth's: named volumes outliving containers and shared between
//! them, anonymous ones from `-v /path` and the image's VOLUME, copy-up of
//! image content with its ownership, binds that are never filled, the
//! symlink escape attempt, `--read-only` with a writable volume, tmpfs,
//! `--volumes-from`, `rm -v` against plain `rm`, prune and `system df`.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn setup() -> Daemon {
    let d = Daemon::start();
    d.import_busybox("busybox:latest", &["CMD [\"sh\"]"]);
    d
}

#[test]
fn named_volumes_outlive_containers_and_are_shared() {
    let d = setup();
    // Lab 10, with the seminar's `--name`.
    assert_eq!(
        ok(&d.docker(&["volume", "create", "--name", "datos"])).trim(),
        "datos"
    );
    let mp = ok(&d.docker(&["volume", "inspect", "-f", "{{.Mountpoint}}", "datos"]));
    assert!(
        mp.trim().starts_with(&d.data_root().display().to_string()),
        "{mp}"
    );
    ok(&d.docker(&[
        "run",
        "--rm",
        "-v",
        "datos:/datos",
        "busybox",
        "sh",
        "-c",
        "echo persiste > /datos/f",
    ]));
    assert!(Path::new(mp.trim()).join("f").exists());
    assert_eq!(
        ok(&d.berth(&["run", "--rm", "-v", "datos:/x:ro", "busybox", "cat", "/x/f"])),
        "persiste\n"
    );
    let err = fails(&d.berth(&[
        "run",
        "--rm",
        "-v",
        "datos:/x:ro",
        "busybox",
        "touch",
        "/x/g",
    ]));
    assert!(err.contains("Read-only file system"), "{err}");
    // A volume named on first use is made then.
    ok(&d.docker(&["run", "--rm", "-v", "auto-made:/d", "busybox", "true"]));
    assert!(ok(&d.berth(&["volume", "ls", "-q"]))
        .lines()
        .any(|l| l == "auto-made"));
    // Two running containers share a volume.
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "writer",
        "-v",
        "datos:/v",
        "busybox",
        "sh",
        "-c",
        "while true; do date +%s > /v/now; sleep 0.2; done",
    ]));
    ok(&d.berth(&[
        "run", "-d", "--name", "reader", "-v", "datos:/v", "busybox", "sleep", "300",
    ]));
    std::thread::sleep(std::time::Duration::from_millis(600));
    let now = ok(&d.berth(&["exec", "reader", "cat", "/v/now"]));
    assert!(now.trim().parse::<u64>().is_ok(), "{now}");
    // In use: rm refuses, naming the containers.
    let err = fails(&d.docker(&["volume", "rm", "datos"]));
    assert!(err.contains("volume is in use"), "{err}");
    ok(&d.berth(&["rm", "-f", "writer", "reader"]));
    // Inspect, filters, labels.
    ok(&d.berth(&[
        "volume",
        "create",
        "--label",
        "lab=11",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=1m",
        "tmpvol",
    ]));
    let j = ok(&d.docker(&["volume", "inspect", "tmpvol"]));
    for k in [
        "\"Driver\": \"local\"",
        "\"Scope\": \"local\"",
        "\"lab\": \"11\"",
        "\"type\": \"tmpfs\"",
        "\"CreatedAt\"",
    ] {
        assert!(j.contains(k), "{k} in {j}");
    }
    assert_eq!(
        ok(&d.berth(&["volume", "ls", "-q", "-f", "label=lab=11"])).trim(),
        "tmpvol"
    );
    let df = ok(&d.berth(&[
        "run",
        "--rm",
        "-v",
        "tmpvol:/t",
        "busybox",
        "sh",
        "-c",
        "grep ' /t ' /proc/mounts | cut -d' ' -f3",
    ]));
    assert_eq!(df.trim(), "tmpfs");
    let err = fails(&d.berth(&["volume", "create", "-o", "bogus=1", "bad"]));
    assert!(err.contains("invalid option"), "{err}");
    let err = fails(&d.berth(&["volume", "create", "-d", "nfs-plugin", "bad2"]));
    assert!(err.contains("not found"), "{err}");
    assert!(!ok(&d.berth(&["volume", "ls", "-q"])).contains("bad"));
    // system df counts volumes, those in use and their sizes, for both CLIs.
    ok(&d.berth(&[
        "run",
        "--rm",
        "-v",
        "datos:/v",
        "busybox",
        "sh",
        "-c",
        "head -c 3000000 /dev/zero > /v/blob",
    ]));
    ok(&d.berth(&[
        "run", "-d", "--name", "holder", "-v", "datos:/v", "busybox", "sleep", "300",
    ]));
    let count = ok(&d.berth(&["volume", "ls", "-q"])).lines().count();
    let fmt = "{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Size}}";
    for cli_out in [
        ok(&d.berth(&["system", "df", "--format", fmt])),
        ok(&d.docker(&["system", "df", "--format", fmt])),
    ] {
        let row = cli_out
            .lines()
            .find(|l| l.starts_with("Local Volumes|"))
            .unwrap_or_else(|| panic!("no volume row in {cli_out}"));
        let f: Vec<&str> = row.split('|').collect();
        assert_eq!(f[1], count.to_string(), "{row}");
        assert_eq!(f[2], "1", "{row}");
        assert!(f[3].ends_with("MB") && f[3] >= "3", "{row}");
    }
    let verbose = ok(&d.docker(&["system", "df", "-v"]));
    assert!(
        verbose
            .lines()
            .any(|l| l.starts_with("datos ") && l.contains("3MB")),
        "{verbose}"
    );
    ok(&d.berth(&["rm", "-f", "holder"]));
    // Events of a volume's life.
    ok(&d.berth(&["volume", "rm", "tmpvol", "auto-made"]));
    let ev = ok(&d.berth(&[
        "events",
        "--since",
        "0",
        "--until",
        &format!("{}", now_secs() + 1),
        "--filter",
        "type=volume",
        "--format",
        "{{.Action}} {{.Actor.ID}}",
    ]));
    for a in [
        "create datos",
        "mount datos",
        "unmount datos",
        "destroy tmpvol",
    ] {
        assert!(ev.lines().any(|l| l == a), "no {a:?} in {ev}");
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn anonymous_volumes_copy_up_and_removal() {
    let d = setup();
    // An image with content (owned by www-data, 0640) in a VOLUME.
    ok(&d.berth(&["run", "--name", "base", "busybox", "sh", "-c",
        "mkdir -p /srv/data && echo seed > /srv/data/file && chown 33:33 /srv/data/file && chmod 640 /srv/data/file && ln -s file /srv/data/link"]));
    ok(&d.berth(&["commit", "-c", "VOLUME /srv/data", "base", "withdata"]));
    ok(&d.berth(&["rm", "base"]));
    // The image's VOLUME: an anonymous volume, filled from the image.
    ok(&d.docker(&["run", "--name", "a1", "withdata", "true"]));
    let name = ok(&d.berth(&["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", "a1"]));
    assert_eq!(name.trim().len(), 64, "{name}");
    let mp = ok(&d.berth(&["volume", "inspect", "-f", "{{.Mountpoint}}", name.trim()]));
    let f = Path::new(mp.trim()).join("file");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "seed\n");
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(&f).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (33, 33, 0o640));
    assert!(std::fs::symlink_metadata(Path::new(mp.trim()).join("link"))
        .unwrap()
        .file_type()
        .is_symlink());
    // A new named volume over image content is filled too; nocopy is not.
    let out = ok(&d.berth(&[
        "run",
        "--rm",
        "-v",
        "filled:/srv/data",
        "withdata",
        "stat",
        "-c",
        "%u %a",
        "/srv/data/file",
    ]));
    assert_eq!(out.trim(), "33 640");
    let out = ok(&d.berth(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,src=empty1,dst=/srv/data,volume-nocopy",
        "withdata",
        "ls",
        "/srv/data",
    ]));
    assert_eq!(out.trim(), "");
    // A bind mount is never filled.
    let host = tempfile::tempdir().unwrap();
    ok(&d.berth(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/srv/data", host.path().display()),
        "withdata",
        "true",
    ]));
    assert_eq!(std::fs::read_dir(host.path()).unwrap().count(), 0);
    // --mount of a missing host path is an error; -v makes the directory.
    let missing = host.path().join("not-there");
    let err = fails(&d.berth(&[
        "run",
        "--rm",
        "--mount",
        &format!("type=bind,src={},dst=/m", missing.display()),
        "busybox",
        "true",
    ]));
    assert!(err.contains("bind source path does not exist"), "{err}");
    ok(&d.berth(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/m", missing.display()),
        "busybox",
        "true",
    ]));
    assert!(missing.is_dir());
    // rm without -v keeps the anonymous volume; with -v it goes; --rm too.
    ok(&d.berth(&["rm", "a1"]));
    assert!(ok(&d.berth(&["volume", "ls", "-q"])).contains(name.trim()));
    ok(&d.docker(&["run", "--name", "a2", "-v", "/scratch", "busybox", "true"]));
    let anon2 = ok(&d.berth(&["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", "a2"]));
    ok(&d.docker(&["rm", "-v", "a2"]));
    assert!(!ok(&d.berth(&["volume", "ls", "-q"])).contains(anon2.trim()));
    ok(&d.berth(&[
        "run", "--rm", "-v", "/scratch", "-v", "kept:/k", "busybox", "true",
    ]));
    let vols = ok(&d.berth(&["volume", "ls", "-q"]));
    assert!(
        vols.lines().any(|l| l == "kept"),
        "named volumes are never removed by --rm: {vols}"
    );
    // Prune: anonymous only by default, all unused with -a.
    let out = ok(&d.berth(&["volume", "prune", "-f"]));
    assert!(out.contains(name.trim()), "{out}");
    assert!(ok(&d.berth(&["volume", "ls", "-q"]))
        .lines()
        .any(|l| l == "kept"));
    ok(&d.berth(&["volume", "prune", "-a", "-f"]));
    assert_eq!(ok(&d.berth(&["volume", "ls", "-q"])).trim(), "");
}

#[test]
fn symlink_escape_read_only_tmpfs_and_volumes_from() {
    let d = setup();
    // A hostile image: /data is a link to the host's idea of /etc.
    ok(&d.berth(&[
        "run",
        "--name",
        "evil",
        "busybox",
        "sh",
        "-c",
        "ln -s /etc /data",
    ]));
    ok(&d.berth(&["commit", "evil", "evil-image"]));
    ok(&d.berth(&["rm", "evil"]));
    let marker = format!("berth-escape-{}", std::process::id());
    ok(&d.docker(&[
        "run",
        "--rm",
        "-v",
        "trap:/data",
        "evil-image",
        "sh",
        "-c",
        &format!("touch /data/{marker}"),
    ]));
    assert!(
        !Path::new("/etc").join(&marker).exists(),
        "the mount escaped into the host's /etc"
    );
    // Inside the container it landed in its own /etc.
    let out = ok(&d.berth(&[
        "run",
        "--rm",
        "-v",
        "trap:/data",
        "evil-image",
        "ls",
        "/etc",
    ]));
    assert!(out.contains(&marker), "{out}");
    // --read-only rootfs with a writable volume and a tmpfs.
    let out = ok(&d.berth(&["run", "--rm", "--read-only", "-v", "rw:/w", "--mount", "type=tmpfs,dst=/scratch,tmpfs-size=1048576", "busybox", "sh", "-c",
        "touch /w/ok && echo vol-ok; touch /scratch/ok && echo tmp-ok; touch /nope 2>/dev/null || echo root-ro"]));
    assert_eq!(out, "vol-ok\ntmp-ok\nroot-ro\n");
    // --volumes-from shares another container's mounts (read-only here).
    ok(&d.berth(&[
        "run",
        "--name",
        "holder",
        "-v",
        "shared:/shared",
        "busybox",
        "sh",
        "-c",
        "echo from-holder > /shared/x",
    ]));
    let out = ok(&d.docker(&[
        "run",
        "--rm",
        "--volumes-from",
        "holder:ro",
        "busybox",
        "sh",
        "-c",
        "cat /shared/x; touch /shared/y 2>/dev/null || echo ro",
    ]));
    assert_eq!(out, "from-holder\nro\n");
    let mounts = ok(&d.berth(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.RW}}{{end}}",
        "holder",
    ]));
    assert_eq!(mounts.trim(), "volume shared /shared true");
    ok(&d.berth(&["rm", "holder"]));
}

/// A volume with mount options (tmpfs here) is mounted while any container
/// uses it: two users, a daemon crash and restart between, a start that
/// fails, and the mount goes only with its last user.
#[test]
fn mounted_volumes_are_counted_across_a_daemon_crash() {
    let mut d = setup();
    ok(&d.berth(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=2m",
        "shm",
    ]));
    let data = d.data_root().join("volumes/shm/_data");
    let mounted = || !mounts_with(&format!(" {} ", data.display())).is_empty();
    for name in ["one", "two"] {
        ok(&d.berth(&[
            "run", "-d", "--name", name, "-v", "shm:/s", "busybox", "sleep", "300",
        ]));
    }
    ok(&d.berth(&["exec", "one", "sh", "-c", "echo kept > /s/f"]));
    assert!(mounted());
    d.kill9();
    d.spawn().unwrap();
    // A start that fails after the volume was mounted (its bind source
    // vanished since create) takes nothing from the others.
    let gone = d.data_root().join("gone-src");
    std::fs::create_dir_all(&gone).unwrap();
    let mount = format!("type=bind,src={},dst=/x", gone.display());
    ok(&d.berth(&[
        "create", "--name", "bad", "-v", "shm:/s", "--mount", &mount, "busybox", "true",
    ]));
    std::fs::remove_dir(&gone).unwrap();
    fails(&d.berth(&["start", "bad"]));
    ok(&d.berth(&["stop", "-t", "0", "one"]));
    assert!(mounted(), "the volume stays mounted for its other user");
    assert_eq!(ok(&d.berth(&["exec", "two", "cat", "/s/f"])).trim(), "kept");
    ok(&d.berth(&["stop", "-t", "0", "two"]));
    assert!(!mounted(), "the last user's stop unmounts the volume");
    ok(&d.berth(&["rm", "one", "two", "bad"]));
    ok(&d.berth(&["volume", "rm", "shm"]));
}

/// `bind-propagation=rshared`: a mount made inside the container under a
/// shared bind shows on the host, as with Docker; the default (rprivate)
/// keeps it inside.
#[test]
fn bind_propagation_reaches_the_host_when_shared() {
    let d = setup();
    let base = d.data_root().join("prop-src");
    std::fs::create_dir_all(base.join("sub")).unwrap();
    let b = base.display().to_string();
    // A mount of its own, private first: refused at start, as Docker
    // refuses it; then shared (what `rshared` needs).
    let mount = |args: &[&str]| {
        assert!(Command::new("mount").args(args).status().unwrap().success());
    };
    mount(&["--bind", &b, &b]);
    mount(&["--make-private", &b]);
    let out = d.docker(&[
        "run",
        "--rm",
        "--mount",
        &format!("type=bind,src={b},dst=/m,bind-propagation=rshared"),
        "busybox",
        "true",
    ]);
    let err = fails(&out);
    assert!(err.contains("but it is not a shared mount"), "{err}");
    mount(&["--make-shared", &b]);
    let sub = format!("{b}/sub");
    let seen_on_host = || !mounts_with(&format!(" {sub} ")).is_empty();
    for (prop, expect) in [("rshared", true), ("rprivate", false)] {
        let name = format!("prop-{prop}");
        ok(&d.berth(&[
            "run",
            "-d",
            "--name",
            &name,
            "--privileged",
            "--mount",
            &format!("type=bind,src={b},dst=/m,bind-propagation={prop}"),
            "busybox",
            "sh",
            "-c",
            "mount -t tmpfs none /m/sub && touch /m/sub/made && sleep 300",
        ]));
        let start = std::time::Instant::now();
        while !seen_on_host() && start.elapsed() < std::time::Duration::from_secs(3) {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(seen_on_host(), expect, "{prop}");
        ok(&d.berth(&["rm", "-f", &name]));
        if seen_on_host() {
            let _ = Command::new("umount").arg(&sub).status();
        }
    }
    let _ = Command::new("umount").arg(&b).status();
}

/// Volume listing filters and formats, `--mount` read-only and
/// `volume-opt`, and `volume rm -f`, through both CLIs.
#[test]
fn volume_filters_mount_options_and_forced_removal() {
    let d = setup();
    let p = &d.net_prefix;
    let (used, idle, opt) = (format!("{p}-used"), format!("{p}-idle"), format!("{p}-opt"));
    ok(&d.berth(&["volume", "create", &idle]));
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "user",
        "-v",
        &format!("{used}:/u"),
        "busybox",
        "sleep",
        "300",
    ]));
    let names = |out: String| -> Vec<String> {
        let mut v: Vec<String> = out
            .lines()
            .filter(|l| l.starts_with(p.as_str()))
            .map(String::from)
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        names(ok(&d.docker(&[
            "volume",
            "ls",
            "-q",
            "--filter",
            "dangling=true"
        ]))),
        vec![idle.clone()]
    );
    assert_eq!(
        names(ok(&d.berth(&[
            "volume",
            "ls",
            "-q",
            "--filter",
            "dangling=false"
        ]))),
        vec![used.clone()]
    );
    assert_eq!(
        names(ok(&d.berth(&[
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("name={p}-i")
        ]))),
        vec![idle.clone()]
    );
    assert_eq!(
        names(ok(&d.docker(&[
            "volume",
            "ls",
            "-q",
            "--filter",
            "driver=local"
        ]))),
        vec![idle.clone(), used.clone()]
    );
    let fmt = ok(&d.berth(&[
        "volume",
        "ls",
        "--format",
        "{{.Name}} {{.Driver}}",
        "-f",
        &format!("name={used}"),
    ]));
    assert_eq!(fmt.trim(), format!("{used} local"));
    // --mount readonly: the container cannot write.
    let out = d.berth(&[
        "run",
        "--rm",
        "--mount",
        &format!("type=volume,src={used},dst=/r,readonly"),
        "busybox",
        "touch",
        "/r/x",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("Read-only file system"),
        "{}",
        text(&out.stderr)
    );
    // volume-opt: the local driver's options, on first use.
    let fs = ok(&d.docker(&[
        "run", "--rm", "--mount",
        &format!("type=volume,src={opt},dst=/o,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-opt=o=size=1m"),
        "busybox", "sh", "-c", "grep ' /o ' /proc/mounts | cut -d' ' -f3",
    ]));
    assert_eq!(fs.trim(), "tmpfs");
    let j = ok(&d.berth(&["volume", "inspect", "-f", "{{.Options.type}}", &opt]));
    assert_eq!(j.trim(), "tmpfs");
    // rm -f: a missing volume is no error; one in use still is.
    ok(&d.berth(&["volume", "rm", "-f", &format!("{p}-never-made")]));
    ok(&d.docker(&["volume", "rm", "-f", &format!("{p}-never-made")]));
    let err = fails(&d.berth(&["volume", "rm", "-f", &used]));
    assert!(err.contains("volume is in use"), "{err}");
    ok(&d.berth(&["rm", "-f", "user"]));
    ok(&d.berth(&["volume", "rm", &used, &idle, &opt]));
}
