//! Tables for the `-v`, `--mount`, `HostConfig.Binds`, `HostConfig.Mounts`
//! and `--volumes-from` parsers, with Docker's (moby and docker/cli) cases
//! and error texts.

use std::collections::BTreeMap;
use std::path::Path;

use berth_volumes::{
    parse_bind, parse_mount_flag, parse_mount_spec, parse_volume_flag, parse_volumes_from,
    split_volume_flags, tmpfs_options, validate_mount_spec, BindOptions, DriverConfig, MountPoint,
    MountSpec, TmpfsOptions, VolumeOptions,
};

fn spec(kind: &str, source: &str, target: &str) -> MountSpec {
    MountSpec {
        kind: kind.into(),
        source: source.into(),
        target: target.into(),
        ..Default::default()
    }
}

#[test]
fn daemon_binds_valid() {
    for raw in [
        "/home",
        "/home:/home",
        "/home:/something/else",
        "/with space",
        "/home:/with space",
        "relative:/absolute-path",
        "hostPath:/containerPath:ro",
        "/hostPath:/containerPath:rw",
        "/rw:/ro",
        "/hostPath:/containerPath:shared",
        "/hostPath:/containerPath:rshared",
        "/hostPath:/containerPath:slave",
        "/hostPath:/containerPath:rslave",
        "/hostPath:/containerPath:private",
        "/hostPath:/containerPath:rprivate",
        "/hostPath:/containerPath:ro,shared",
        "/hostPath:/containerPath:ro,slave",
        "/hostPath:/containerPath:ro,private",
        "/hostPath:/containerPath:ro,z,shared",
        "/hostPath:/containerPath:ro,Z,slave",
        "/hostPath:/containerPath:Z,ro,slave",
        "/hostPath:/containerPath:slave,Z,ro",
        "/hostPath:/containerPath:Z,slave,ro",
        "/hostPath:/containerPath:slave,ro,Z",
        "/hostPath:/containerPath:rslave,ro,Z",
        "/hostPath:/containerPath:ro,rshared,Z",
        "/hostPath:/containerPath:ro,Z,rprivate",
        "/h:/c:cached",
        "/h:/c:delegated,ro",
        "name:/c:nocopy",
        "name:/c:ro,nocopy,z",
        // A bind's host path need not exist: Docker creates it.
        "/definitely/not/there/berth:/c",
    ] {
        if let Err(e) = parse_bind(raw, "local") {
            panic!("{raw:?} should parse: {e}");
        }
    }
}

#[test]
fn daemon_binds_invalid() {
    let spec_err = |raw: &str| format!("invalid volume specification: '{raw}'");
    let cases: Vec<(&str, String)> = vec![
        ("", spec_err("")),
        (":", spec_err(":")),
        ("/tmp:", spec_err("/tmp:")),
        (":test", spec_err(":test")),
        (":/test", spec_err(":/test")),
        ("tmp:", spec_err("tmp:")),
        (":test:", spec_err(":test:")),
        ("::", spec_err("::")),
        (":::", spec_err(":::")),
        ("/tmp:::", spec_err("/tmp:::")),
        (":/tmp::", spec_err(":/tmp::")),
        ("/path:rw", spec_err("/path:rw")),
        ("/path:ro", spec_err("/path:ro")),
        ("/rw:rw", spec_err("/rw:rw")),
        ("path:ro", spec_err("path:ro")),
        ("/path:shared", spec_err("/path:shared")),
        ("a:b:c:d", spec_err("a:b:c:d")),
        ("/path:/path:sw", "invalid mode: sw".into()),
        ("/path:/path:rwz", "invalid mode: rwz".into()),
        ("/tmp:/tmp4:foo", "invalid mode: foo".into()),
        ("/x:/y:xyz", "invalid mode: xyz".into()),
        ("/path:/path:ro,rshared,rslave", "invalid mode: ro,rshared,rslave".into()),
        ("/path:/path:ro,z,rshared,rslave", "invalid mode: ro,z,rshared,rslave".into()),
        ("/path:/path:ro,rw", "invalid mode: ro,rw".into()),
        ("/path:/path:z,Z", "invalid mode: z,Z".into()),
        ("/path:/path:nocopy,nocopy", "invalid mode: nocopy,nocopy".into()),
        ("/path:/path:cached,delegated", "invalid mode: cached,delegated".into()),
        (
            "./",
            "invalid volume specification: './': invalid mount config for type \"volume\": invalid mount path: './' mount path must be absolute".into(),
        ),
        (
            "../",
            "invalid volume specification: '../': invalid mount config for type \"volume\": invalid mount path: '../' mount path must be absolute".into(),
        ),
        (
            "/:../",
            "invalid volume specification: '/:../': invalid mount config for type \"bind\": invalid mount path: '../' mount path must be absolute".into(),
        ),
        (
            "/:path",
            "invalid volume specification: '/:path': invalid mount config for type \"bind\": invalid mount path: 'path' mount path must be absolute".into(),
        ),
        (
            "/tmp:tmp",
            "invalid volume specification: '/tmp:tmp': invalid mount config for type \"bind\": invalid mount path: 'tmp' mount path must be absolute".into(),
        ),
        (
            "/",
            "invalid volume specification: '/': invalid mount config for type \"volume\": invalid specification: destination can't be '/'".into(),
        ),
        (
            "/host:/",
            "invalid volume specification: '/host:/': invalid mount config for type \"bind\": invalid specification: destination can't be '/'".into(),
        ),
        (
            "name:/absolute-path:shared",
            "invalid volume specification: 'name:/absolute-path:shared': invalid mount config for type \"volume\": field BindOptions must not be specified".into(),
        ),
    ];
    for p in ["rshared", "slave", "rslave", "private", "rprivate"] {
        let raw = format!("name:/absolute-path:{p}");
        assert!(
            parse_bind(&raw, "")
                .unwrap_err()
                .to_string()
                .contains("field BindOptions must not be specified"),
            "{raw}"
        );
    }
    for (raw, want) in cases {
        match parse_bind(raw, "local") {
            Ok(mp) => panic!("{raw:?} should fail, got {mp:?}"),
            Err(e) => {
                assert_eq!(e.to_string(), want, "{raw:?}");
                assert_eq!(e.kind().http_status(), 400);
            }
        }
    }
}

#[test]
fn daemon_binds_split() {
    let mp = parse_bind("/tmp:/tmp1", "").unwrap();
    assert_eq!(
        mp,
        MountPoint {
            kind: "bind".into(),
            source: "/tmp".into(),
            destination: "/tmp1".into(),
            rw: true,
            propagation: "rprivate".into(),
            spec: spec("bind", "/tmp", "/tmp1"),
            ..Default::default()
        }
    );
    let mp = parse_bind("/tmp//x/../y/:/tmp2/:ro,rshared", "").unwrap();
    assert_eq!(mp.source, "/tmp/y");
    assert_eq!(mp.destination, "/tmp2");
    assert!(!mp.rw);
    assert_eq!(mp.mode, "ro,rshared");
    assert_eq!(mp.propagation, "rshared");
    assert!(mp.spec.read_only);
    assert_eq!(
        mp.spec.bind_options,
        Some(BindOptions {
            propagation: "rshared".into(),
            ..Default::default()
        })
    );

    let mp = parse_bind("name:/named1", "").unwrap();
    assert_eq!(
        mp,
        MountPoint {
            kind: "volume".into(),
            destination: "/named1".into(),
            rw: true,
            name: "name".into(),
            copy_data: true,
            spec: spec("volume", "name", "/named1"),
            ..Default::default()
        }
    );
    let mp = parse_bind("name:/named2", "external").unwrap();
    assert_eq!(mp.driver, "external");
    assert_eq!(
        mp.spec.volume_options,
        Some(VolumeOptions {
            driver_config: Some(DriverConfig {
                name: "external".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
    );
    let mp = parse_bind("name:/named3:ro,nocopy", "").unwrap();
    assert!(!mp.rw && !mp.copy_data);
    assert_eq!(mp.mode, "ro,nocopy");
    assert!(mp.spec.volume_options.as_ref().unwrap().no_copy);
    // A name with a slash is a volume (its creation will refuse the name).
    let mp = parse_bind("local/name:/tmp:rw", "").unwrap();
    assert_eq!(
        (mp.kind.as_str(), mp.name.as_str(), mp.rw),
        ("volume", "local/name", true)
    );
    // Anonymous.
    let mp = parse_bind("/data", "").unwrap();
    assert_eq!(
        (mp.kind.as_str(), mp.name.as_str(), mp.copy_data),
        ("volume", "", true)
    );
    // A driver does not apply to binds.
    let mp = parse_bind("/h:/c", "external").unwrap();
    assert_eq!(mp.spec.volume_options, None);
    // The API JSON of the spec.
    let mp = parse_bind("v:/c:ro,nocopy", "local").unwrap();
    assert_eq!(
        serde_json::to_string(&mp.spec).unwrap(),
        r#"{"Type":"volume","Source":"v","Target":"/c","ReadOnly":true,"VolumeOptions":{"NoCopy":true,"DriverConfig":{"Name":"local"}}}"#
    );
}

#[test]
fn cli_volume_flag() {
    let ok: &[(&str, &str, &str, &str, bool, bool)] = &[
        // spec, kind, source, target, read_only, no_copy
        ("/data", "volume", "", "/data", false, false),
        ("/a", "volume", "", "/a", false, false),
        ("a", "volume", "", "a", false, false),
        ("name:/data", "volume", "name", "/data", false, false),
        ("name:/data:ro", "volume", "name", "/data", true, false),
        (
            "name:/data:ro,nocopy",
            "volume",
            "name",
            "/data",
            true,
            true,
        ),
        ("/host:/data", "bind", "/host", "/data", false, false),
        ("./rel:/data:rw", "bind", "./rel", "/data", false, false),
        ("~/x:/data", "bind", "~/x", "/data", false, false),
        (
            "/host:/data:ro,rshared",
            "bind",
            "/host",
            "/data",
            true,
            false,
        ),
        ("/host:/data:bogus", "bind", "/host", "/data", false, false),
        (
            "c:/windows:/data",
            "bind",
            "c:/windows",
            "/data",
            false,
            false,
        ),
        // A one-letter source is read as a Windows drive, as the docker CLI
        // does; the daemon then refuses it.
        ("a:b:c:d", "bind", "a:b", "c:d", false, false),
    ];
    for (s, kind, source, target, ro, nocopy) in ok {
        let v = parse_volume_flag(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(
            (
                v.kind.as_str(),
                v.source.as_str(),
                v.target.as_str(),
                v.read_only,
                v.no_copy
            ),
            (*kind, *source, *target, *ro, *nocopy),
            "{s}"
        );
    }
    assert_eq!(
        parse_volume_flag("/host:/data:ro,rshared")
            .unwrap()
            .propagation
            .as_deref(),
        Some("rshared")
    );
    for (s, err) in [
        ("", "invalid empty volume spec"),
        ("vol:/b:ro:x", "invalid spec: vol:/b:ro:x: too many colons"),
        ("/a:/b:ro:x", "invalid spec: /a:/b:ro:x: too many colons"),
        (
            ":/data",
            "invalid spec: :/data: empty section between colons",
        ),
        (
            "/a::/b",
            "invalid spec: /a::/b: empty section between colons",
        ),
        (
            "/a:/b:",
            "invalid spec: /a:/b:: empty section between colons",
        ),
    ] {
        assert_eq!(parse_volume_flag(s).unwrap_err(), err, "{s:?}");
    }
}

#[test]
fn cli_split_volume_flags() {
    let specs: Vec<String> = [
        "/anon",
        "named:/n",
        "./rel/../dir:/r:ro",
        "/abs:/a",
        "/anon",
        "named:/n",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (binds, volumes) = split_volume_flags(&specs, Path::new("/work/dir")).unwrap();
    assert_eq!(binds, ["named:/n", "/work/dir/dir:/r:ro", "/abs:/a"]);
    assert_eq!(volumes, ["/anon"]);
    let e = split_volume_flags(&["vol:/b:ro:x".to_string()], Path::new("/")).unwrap_err();
    assert_eq!(e, "invalid spec: vol:/b:ro:x: too many colons");
}

#[test]
fn cli_mount_flag_valid() {
    let cwd = Path::new("/home/user");
    let m = |v: &str| parse_mount_flag(v, cwd).unwrap_or_else(|e| panic!("{v}: {e}"));

    assert_eq!(
        m("target=/target,source=/foo"),
        spec("volume", "/foo", "/target")
    );
    assert_eq!(m("type=bind,src=/h,dst=/c"), spec("bind", "/h", "/c"));
    assert_eq!(
        m("type=BIND,source=/h,destination=/c"),
        spec("bind", "/h", "/c")
    );
    assert_eq!(m("type=bind,src=.,target=/c").source, "/home/user");
    assert_eq!(m("type=bind,src=./a/../b,target=/c").source, "/home/user/b");
    assert_eq!(m("type=bind,src=../x,target=/c").source, "/home/x");
    assert_eq!(m("type=volume,src=vol,target=/c").source, "vol");
    assert!(m("type=volume,target=/c,readonly").read_only);
    assert!(m("type=volume,target=/c,ro=true").read_only);
    assert!(m("type=volume,target=/c,ro=1").read_only);
    assert!(!m("type=volume,target=/c,readonly=false").read_only);
    assert!(!m("type=volume,target=/c,readonly=0").read_only);
    assert_eq!(m("target=/c,consistency=Cached").consistency, "cached");
    // Quoted CSV fields.
    assert_eq!(m(r#""type=bind","src=/a,b",target=/c"#).source, "/a,b");
    assert_eq!(m(r#"type=bind,"src=/a""q",target=/c"#).source, "/a\"q");

    let b = m("type=bind,src=/h,target=/c,bind-propagation=RSHARED,bind-create-src");
    assert_eq!(
        b.bind_options,
        Some(BindOptions {
            propagation: "rshared".into(),
            create_mountpoint: true,
            ..Default::default()
        })
    );
    assert!(
        m("type=bind,src=/h,target=/c,bind-recursive=disabled")
            .bind_options
            .unwrap()
            .non_recursive
    );
    assert_eq!(
        m("type=bind,src=/h,target=/c,bind-recursive=enabled").bind_options,
        None
    );
    assert!(
        m("type=bind,src=/h,target=/c,readonly,bind-recursive=writable")
            .bind_options
            .unwrap()
            .read_only_non_recursive
    );
    assert!(
        m("type=bind,src=/h,target=/c,readonly,bind-recursive=readonly,bind-propagation=rprivate")
            .bind_options
            .unwrap()
            .read_only_force_recursive
    );

    let v = m("type=volume,target=/foo,volume-label=foo=foo-value,volume-label=bar,volume-driver=local,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-opt=o=size=1m,volume-nocopy,volume-subpath=sub/dir");
    let mut labels = BTreeMap::new();
    labels.insert("foo".to_string(), "foo-value".to_string());
    labels.insert("bar".to_string(), String::new());
    let mut opts = BTreeMap::new();
    opts.insert("type".to_string(), "tmpfs".to_string());
    opts.insert("device".to_string(), "tmpfs".to_string());
    opts.insert("o".to_string(), "size=1m".to_string());
    assert_eq!(
        v.volume_options,
        Some(VolumeOptions {
            no_copy: true,
            labels,
            subpath: "sub/dir".into(),
            driver_config: Some(DriverConfig {
                name: "local".into(),
                options: opts,
            }),
        })
    );
    // Empty label keys are dropped, as the CLI does.
    assert_eq!(
        m("type=volume,target=/foo,volume-label==foo-value").volume_options,
        Some(VolumeOptions::default())
    );
    assert!(
        !m("target=/c,volume-nocopy=false")
            .volume_options
            .unwrap()
            .no_copy
    );

    let t = m("type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1770");
    assert_eq!(
        t.tmpfs_options,
        Some(TmpfsOptions {
            size_bytes: 64 << 20,
            mode: 0o1770,
            options: vec![],
        })
    );
    assert_eq!(
        serde_json::to_string(&t).unwrap(),
        r#"{"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":67108864,"Mode":1016}}"#
    );
    let i = m("type=image,src=alpine,target=/img,image-subpath=etc");
    assert_eq!(i.image_options.unwrap().subpath, "etc");
}

#[test]
fn cli_mount_flag_errors() {
    let cwd = Path::new("/");
    let bool_err = |k: &str, v: &str| {
        format!("invalid value for '{k}': invalid boolean value (\"{v}\"): must be one of \"true\", \"1\", \"false\", or \"0\" (default \"true\")")
    };
    let cases: Vec<(&str, String)> = vec![
        ("", "value is empty".into()),
        ("   ", "value is empty".into()),
        ("type=volume,target=/foo,bogus=foo", "unknown option 'bogus' in 'bogus=foo'".into()),
        ("type=volume, src=/foo,target=/foo", "invalid option 'src' in ' src=/foo': option should not have whitespace".into()),
        ("type=volume,src =/foo,target=/foo", "invalid option 'src' in 'src =/foo': option should not have whitespace".into()),
        ("type=volume,src=,target=/foo", "invalid value for 'src': value is empty".into()),
        ("type=volume,src= /foo,target=/foo", "invalid value for 'src' in 'src= /foo': value should not have whitespace".into()),
        ("type=volume,src=/foo ,target=/foo", "invalid value for 'src' in 'src=/foo ': value should not have whitespace".into()),
        ("type=volume,target=/foo,bogus", "invalid field 'bogus' must be a key=value pair".into()),
        ("type=tmpfs,target=/foo,tmpfs-size=foo", "invalid value for tmpfs-size: foo".into()),
        ("type=tmpfs,target=/foo,tmpfs-mode=foo", "invalid value for tmpfs-mode: foo".into()),
        ("type=tmpfs,target=/foo,tmpfs-mode=999", "invalid value for tmpfs-mode: 999".into()),
        ("type=volume,target=/foo,source=/foo,bind-propagation=rprivate", "cannot mix 'bind-*' options with mount type 'volume'".into()),
        ("type=bind,target=/foo,source=/foo,volume-nocopy=true", "cannot mix 'volume-*' options with mount type 'bind'".into()),
        ("type=bind,target=/foo,source=/foo,tmpfs-size=1m", "cannot mix 'tmpfs-*' options with mount type 'bind'".into()),
        ("type=volume,target=/foo,image-subpath=x", "cannot mix 'image-*' options with mount type 'volume'".into()),
        ("type=volume,source=foo", "target is required".into()),
        ("type=,target=/foo", "invalid value for 'type': value is empty".into()),
        ("readonly=,target=/x", "invalid value for 'readonly': value is empty".into()),
        ("readonly= true,target=/x", "invalid value for 'readonly' in 'readonly= true': value should not have whitespace".into()),
        ("readonly=no,target=/x", bool_err("readonly", "no")),
        ("ro=yes,target=/x", bool_err("ro", "yes")),
        ("volume-nocopy=no,target=/x", bool_err("volume-nocopy", "no")),
        ("type=bind,src=/a,target=/x,bind-create-src=no", bool_err("bind-create-src", "no")),
        ("type=bind,src=/a,target=/x,bind-nonrecursive", "bind-nonrecursive is deprecated, use bind-recursive=disabled instead".into()),
        ("type=bind,src=/a,target=/x,bind-recursive=maybe", "invalid value for bind-recursive: maybe (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")".into()),
        ("type=bind,src=/a,target=/x,bind-recursive=writable", "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction".into()),
        ("type=bind,src=/a,target=/x,bind-recursive=readonly", "option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction".into()),
        ("type=bind,src=/a,target=/x,ro,bind-recursive=readonly", "option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction".into()),
        ("type=bind,src=/a\"b,target=/x", "parse error on line 1, column 17: bare \" in non-quoted-field".into()),
        ("\"type=bind,target=/x", "parse error on line 1, column 21: extraneous or missing \" in quoted-field".into()),
    ];
    for (v, want) in cases {
        assert_eq!(parse_mount_flag(v, cwd).unwrap_err(), want, "{v:?}");
    }
}

#[test]
fn daemon_mount_specs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().display().to_string();
    let mp = parse_mount_spec(&spec("bind", &dir, "/tmp1")).unwrap();
    assert_eq!(
        mp,
        MountPoint {
            kind: "bind".into(),
            source: dir.clone(),
            destination: "/tmp1".into(),
            rw: true,
            propagation: "rprivate".into(),
            spec: spec("bind", &dir, "/tmp1"),
            ..Default::default()
        }
    );
    let ro_anon = MountSpec {
        read_only: true,
        ..spec("volume", "", "/data/anonymous-read-only-volume")
    };
    let mp = parse_mount_spec(&ro_anon).unwrap();
    assert_eq!((mp.rw, mp.copy_data, mp.name.as_str()), (false, true, ""));
    let t = MountSpec {
        tmpfs_options: Some(TmpfsOptions {
            size_bytes: 1 << 20,
            ..Default::default()
        }),
        ..spec("tmpfs", "", "/t")
    };
    assert_eq!(parse_mount_spec(&t).unwrap().kind, "tmpfs");
    // Create the host path on demand.
    let create = MountSpec {
        bind_options: Some(BindOptions {
            create_mountpoint: true,
            ..Default::default()
        }),
        ..spec("bind", "/tmp/definitely-no-such-path-berth", "/x")
    };
    assert!(parse_mount_spec(&create).is_ok());

    let vol_opts = |subpath: &str| {
        Some(VolumeOptions {
            subpath: subpath.into(),
            ..Default::default()
        })
    };
    let cases: Vec<(MountSpec, &str)> = vec![
        (
            spec("bind", "/tmp/definitely-no-such-path-berth", "/x"),
            r#"invalid mount config for type "bind": bind source path does not exist: /tmp/definitely-no-such-path-berth"#,
        ),
        (
            spec("invalid", "", "/data/invalid-type"),
            r#"invalid mount config for type "invalid": mount type unknown"#,
        ),
        (
            spec("bind", "", "/x"),
            r#"invalid mount config for type "bind": field Source must not be empty"#,
        ),
        (
            spec("bind", "rel", "/x"),
            r#"invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute"#,
        ),
        (
            spec("volume", "v", ""),
            r#"invalid mount config for type "volume": field Target must not be empty"#,
        ),
        (
            spec("volume", "v", "/"),
            r#"invalid mount config for type "volume": invalid specification: destination can't be '/'"#,
        ),
        (
            spec("volume", "v", "/a/.."),
            r#"invalid mount config for type "volume": invalid specification: destination can't be '/'"#,
        ),
        (
            spec("volume", "v", "rel"),
            r#"invalid mount config for type "volume": invalid mount path: 'rel' mount path must be absolute"#,
        ),
        (
            spec("tmpfs", "src", "/t"),
            r#"invalid mount config for type "tmpfs": field Source must not be specified"#,
        ),
        (
            spec("image", "", "/i"),
            r#"invalid mount config for type "image": field Source must not be empty"#,
        ),
        (
            MountSpec {
                bind_options: Some(BindOptions::default()),
                ..spec("volume", "v", "/x")
            },
            r#"invalid mount config for type "volume": field BindOptions must not be specified"#,
        ),
        (
            MountSpec {
                volume_options: Some(VolumeOptions::default()),
                ..spec("bind", "/", "/x")
            },
            r#"invalid mount config for type "bind": field VolumeOptions must not be specified"#,
        ),
        (
            MountSpec {
                tmpfs_options: Some(TmpfsOptions::default()),
                ..spec("volume", "v", "/x")
            },
            r#"invalid mount config for type "volume": field TmpfsOptions must not be specified"#,
        ),
        (
            MountSpec {
                bind_options: Some(BindOptions {
                    propagation: "bogus".into(),
                    ..Default::default()
                }),
                ..spec("bind", "/", "/x")
            },
            r#"invalid mount config for type "bind": invalid propagation mode: bogus"#,
        ),
        (
            MountSpec {
                volume_options: vol_opts("sub"),
                ..spec("volume", "", "/x")
            },
            r#"invalid mount config for type "volume": must not set Subpath when using anonymous volumes"#,
        ),
        (
            MountSpec {
                volume_options: vol_opts("../etc"),
                ..spec("volume", "v", "/x")
            },
            r#"invalid mount config for type "volume": subpath must be a relative path within the volume"#,
        ),
        (
            MountSpec {
                volume_options: vol_opts("/etc"),
                ..spec("volume", "v", "/x")
            },
            r#"invalid mount config for type "volume": subpath must be a relative path within the volume"#,
        ),
        (
            MountSpec {
                tmpfs_options: Some(TmpfsOptions {
                    options: vec![vec!["INVALID".into()]],
                    ..Default::default()
                }),
                ..spec("tmpfs", "", "/t")
            },
            r#"invalid mount config for type "tmpfs": invalid option: INVALID"#,
        ),
    ];
    for (m, want) in cases {
        let e = parse_mount_spec(&m).unwrap_err();
        assert_eq!(e.to_string(), want, "{m:?}");
        assert_eq!(e.kind().http_status(), 400);
    }
    // Without the existence check, a missing bind source is fine.
    validate_mount_spec(
        &spec("bind", "/tmp/definitely-no-such-path-berth", "/x"),
        false,
    )
    .unwrap();

    // The API JSON round-trips, with Go's omitempty.
    let json = r#"{"Type":"bind","Source":"/h","Target":"/c","ReadOnly":true,"BindOptions":{"Propagation":"rslave","CreateMountpoint":true}}"#;
    let parsed: MountSpec = serde_json::from_str(json).unwrap();
    assert_eq!(parsed.bind_options.as_ref().unwrap().propagation, "rslave");
    assert_eq!(serde_json::to_string(&parsed).unwrap(), json);
    let parsed: MountSpec = serde_json::from_str(r#"{"Type":"volume","Target":"/x","VolumeOptions":{"NoCopy":false,"Labels":{},"DriverConfig":{"Name":"","Options":null}}}"#)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        parsed.volume_options.unwrap().driver_config.unwrap().name,
        ""
    );
}

#[test]
fn tmpfs_mount_data() {
    let o = |size: i64, mode: u32, opts: &[&[&str]]| TmpfsOptions {
        size_bytes: size,
        mode,
        options: opts
            .iter()
            .map(|o| o.iter().map(|s| s.to_string()).collect())
            .collect(),
    };
    assert_eq!(
        tmpfs_options(Some(&o(1 << 20, 0o700, &[])), false).unwrap(),
        "mode=700,size=1m"
    );
    assert_eq!(tmpfs_options(None, true).unwrap(), "ro");
    assert_eq!(
        tmpfs_options(Some(&o(0, 0, &[&["exec"]])), true).unwrap(),
        "ro,exec"
    );
    assert_eq!(
        tmpfs_options(Some(&o(3 << 30, 0, &[])), false).unwrap(),
        "size=3g"
    );
    assert_eq!(
        tmpfs_options(Some(&o(1536, 0, &[])), false).unwrap(),
        "size=1536"
    );
    assert_eq!(
        tmpfs_options(Some(&o(3 << 20, 0, &[])), false).unwrap(),
        "size=3m"
    );
    assert_eq!(
        tmpfs_options(Some(&o(1000, 0, &[])), false).unwrap(),
        "size=1000"
    );
    assert_eq!(
        tmpfs_options(Some(&o(0, 0, &[&["INVALID"]])), false).unwrap_err(),
        "invalid option: INVALID"
    );
    assert_eq!(
        tmpfs_options(Some(&o(0, 0, &[&[]])), false).unwrap_err(),
        "invalid option array length"
    );
    assert_eq!(
        tmpfs_options(Some(&o(0, 0, &[&["exec", "a", "b"]])), false).unwrap_err(),
        "invalid option array length"
    );
}

#[test]
fn volumes_from() {
    assert_eq!(
        parse_volumes_from("web").unwrap(),
        ("web".into(), "rw".into())
    );
    assert_eq!(
        parse_volumes_from("web:ro").unwrap(),
        ("web".into(), "ro".into())
    );
    assert_eq!(
        parse_volumes_from("web:ro,z").unwrap(),
        ("web".into(), "ro,z".into())
    );
    assert_eq!(
        parse_volumes_from("").unwrap_err().to_string(),
        "volumes-from specification cannot be an empty string"
    );
    for bad in ["web:rshared", "web:nocopy", "web:xyz", "web:ro,rw"] {
        let mode = bad.split_once(':').unwrap().1;
        assert_eq!(
            parse_volumes_from(bad).unwrap_err().to_string(),
            format!("invalid mode: {mode}"),
            "{bad}"
        );
    }
}
