//! `cp` both ways with berth's CLI and the real docker CLI: files,
//! directories, `SRC/.`, tar streams, stopped containers, volumes, and
//! links that must not lead out of the container's root.

mod common;

use std::path::Path;

use common::*;

#[test]
fn copy_in_and_out() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest", &["CMD [\"sh\"]"]);
    ok(&d.berth(&["run", "-d", "--name", "box", "-v", "cpvol:/vol", "busybox", "sh", "-c",
        "mkdir -p /d/sub; echo a > /d/sub/a; ln -sfn /etc/passwd /d/link; echo v > /vol/v; ln -sfn /etc /out; sleep 300"]));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let host = tempfile::tempdir().unwrap();
    let h = host.path();
    for (cli, run) in [("berth", true), ("docker", false)] {
        let cp = |args: &[&str]| if run { d.berth(args) } else { d.docker(args) };
        let dir = h.join(cli);
        std::fs::create_dir_all(&dir).unwrap();
        // A file to a new name, a directory into an existing one.
        ok(&cp(&[
            "cp",
            "box:/d/sub/a",
            dir.join("renamed").to_str().unwrap(),
        ]));
        assert_eq!(std::fs::read_to_string(dir.join("renamed")).unwrap(), "a\n");
        ok(&cp(&["cp", "box:/d", dir.to_str().unwrap()]));
        assert_eq!(std::fs::read_to_string(dir.join("d/sub/a")).unwrap(), "a\n");
        // Links are copied as links, never followed to the host's files.
        let link = std::fs::read_link(dir.join("d/link")).unwrap();
        assert_eq!(link, Path::new("/etc/passwd"));
        // Contents only with SRC/.
        ok(&cp(&[
            "cp",
            "box:/d/sub/.",
            dir.join("flat").to_str().unwrap(),
        ]));
        assert!(dir.join("flat/a").is_file());
        // From a volume.
        ok(&cp(&["cp", "box:/vol/v", dir.join("v").to_str().unwrap()]));
        assert_eq!(std::fs::read_to_string(dir.join("v")).unwrap(), "v\n");
        // Into the container: a file into a directory, and renamed.
        std::fs::write(dir.join("local.txt"), format!("from-{cli}\n")).unwrap();
        ok(&cp(&[
            "cp",
            dir.join("local.txt").to_str().unwrap(),
            "box:/tmp/",
        ]));
        ok(&cp(&[
            "cp",
            dir.join("local.txt").to_str().unwrap(),
            &format!("box:/tmp/{cli}.txt"),
        ]));
        assert_eq!(
            ok(&d.berth(&["exec", "box", "cat", &format!("/tmp/{cli}.txt")])),
            format!("from-{cli}\n")
        );
        // A missing source: Docker's message, nothing written.
        let err = fails(&cp(&["cp", "box:/nope", dir.to_str().unwrap()]));
        assert!(
            err.contains("Could not find the file /nope in container box"),
            "{err}"
        );
    }
    // Through a link inside the container: lands in its own /etc.
    let marker = h.join(format!("berth-cp-{}", std::process::id()));
    std::fs::write(&marker, "x").unwrap();
    ok(&d.docker(&["cp", marker.to_str().unwrap(), "box:/out/"]));
    let name = marker.file_name().unwrap().to_string_lossy().to_string();
    assert!(
        !Path::new("/etc").join(&name).exists(),
        "cp escaped into the host's /etc"
    );
    ok(&d.berth(&["exec", "box", "test", "-f", &format!("/etc/{name}")]));
    // A tar stream out, and a stopped container.
    let out = d.berth(&["cp", "box:/d/sub", "-"]);
    assert!(out.status.success());
    let mut ar = tar::Archive::new(&out.stdout[..]);
    let names: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(names.contains(&"sub/a".to_string()), "{names:?}");
    ok(&d.berth(&["stop", "-t", "1", "box"]));
    ok(&d.docker(&[
        "cp",
        "box:/tmp/docker.txt",
        h.join("after-stop").to_str().unwrap(),
    ]));
    assert_eq!(
        std::fs::read_to_string(h.join("after-stop")).unwrap(),
        "from-docker\n"
    );
    ok(&d.berth(&["cp", h.join("after-stop").to_str().unwrap(), "box:/tmp/"]));
    ok(&d.berth(&["start", "box"]));
    ok(&d.berth(&["exec", "box", "test", "-f", "/tmp/after-stop"]));
    ok(&d.berth(&["rm", "-f", "box"]));
}

#[test]
fn owners_with_and_without_archive_mode_and_no_kind_change() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest", &["CMD [\"sh\"]"]);
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "own",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /in/d; echo p > /in/plain; sleep 300",
    ]));
    for (name, user) in [("ownnum", "1001:1002"), ("ownname", "nobody")] {
        ok(&d.berth(&[
            "run", "-d", "--name", name, "-u", user, "busybox", "sleep", "300",
        ]));
    }
    let host = tempfile::tempdir().unwrap();
    let f = host.path().join("f.txt");
    std::fs::write(&f, "x\n").unwrap();
    std::os::unix::fs::chown(&f, Some(1234), Some(5678)).unwrap();
    let f = f.to_str().unwrap();
    for (cli, run) in [("berth", true), ("docker", false)] {
        let cp = |args: &[&str]| if run { d.berth(args) } else { d.docker(args) };
        let owner = |c: &str, p: &str| ok(&d.berth(&["exec", c, "stat", "-c", "%u:%g", p]));
        // The local owner is kept, with and without -a (as dockerd does).
        ok(&cp(&["cp", f, &format!("own:/in/{cli}-plain")]));
        assert_eq!(
            owner("own", &format!("/in/{cli}-plain")),
            "1234:5678\n",
            "{cli}"
        );
        ok(&cp(&["cp", "-a", f, &format!("own:/in/{cli}-archive")]));
        assert_eq!(
            owner("own", &format!("/in/{cli}-archive")),
            "1234:5678\n",
            "{cli}"
        );
        // With -a, a container that runs as a user gets the files as that user.
        for (name, want) in [("ownnum", "1001:1002\n"), ("ownname", "65534:65534\n")] {
            ok(&cp(&["cp", f, &format!("{name}:/tmp/{cli}-plain")]));
            assert_eq!(
                owner(name, &format!("/tmp/{cli}-plain")),
                "1234:5678\n",
                "{cli} {name}"
            );
            ok(&cp(&["cp", "-a", f, &format!("{name}:/tmp/{cli}-archive")]));
            assert_eq!(
                owner(name, &format!("/tmp/{cli}-archive")),
                want,
                "{cli} {name}"
            );
        }
        // A file never replaces a directory (nor a directory a file).
        std::fs::write(host.path().join("d"), "file\n").unwrap();
        let out = cp(&["cp", host.path().join("d").to_str().unwrap(), "own:/in/"]);
        assert!(!out.status.success(), "{cli}: a file over a directory");
        assert!(
            text(&out.stderr).contains("cannot overwrite directory"),
            "{cli}: {}",
            text(&out.stderr)
        );
        let dir_named_plain = host.path().join(cli).join("plain");
        std::fs::create_dir_all(&dir_named_plain).unwrap();
        let out = cp(&["cp", dir_named_plain.to_str().unwrap(), "own:/in/"]);
        assert!(!out.status.success(), "{cli}: a directory over a file");
        assert!(
            text(&out.stderr).contains("cannot overwrite non-directory"),
            "{cli}: {}",
            text(&out.stderr)
        );
        // Nothing changed.
        ok(&d.berth(&["exec", "own", "test", "-d", "/in/d"]));
        ok(&d.berth(&["exec", "own", "test", "-f", "/in/plain"]));
        std::fs::remove_file(host.path().join("d")).unwrap();
    }
}
