//! Typed instructions: argument rules, flags, errors with Docker's wording
//! and line numbers (BuildKit's `instructions/parse_test.go` and more), and
//! which words each instruction expands.

use std::collections::BTreeMap;
use std::time::Duration;

use berth_dockerfile::instructions::*;
use berth_dockerfile::mount::{MountType, ShareMode};
use berth_dockerfile::shell_lex::Lex;
use berth_dockerfile::{parse, ParseErrorKind};

fn one(line: &str) -> Instruction {
    let df = parse(&format!("FROM busybox\n{line}\n")).unwrap_or_else(|e| panic!("{line}: {e}"));
    df.stages[0].instructions[0].clone()
}

fn err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn argument_count_errors() {
    for cmd in ["MAINTAINER", "WORKDIR", "USER", "STOPSIGNAL"] {
        assert_eq!(
            err(&format!("FROM x\n{cmd}\n")),
            format!("dockerfile parse error on line 2: {cmd} requires exactly one argument")
        );
    }
    for cmd in [
        "ENV",
        "LABEL",
        "ONBUILD",
        "HEALTHCHECK",
        "EXPOSE",
        "VOLUME",
        "ARG",
    ] {
        assert_eq!(
            err(&format!("FROM x\n{cmd}\n")),
            format!("dockerfile parse error on line 2: {cmd} requires at least one argument")
        );
    }
    for cmd in ["ADD", "COPY"] {
        assert_eq!(
            err(&format!("FROM x\n{cmd} arg1\n")),
            format!("dockerfile parse error on line 2: {cmd} requires at least two arguments, but only one was provided. Destination could not be determined")
        );
    }
    assert!(err("COPY\t\n\t\tquux \\\n      bar").contains("COPY requires at least two arguments"));
}

#[test]
fn instruction_errors() {
    let cases = [
        ("FROM x\nONBUILD FROM scratch", "dockerfile parse error on line 2: FROM isn't allowed as an ONBUILD trigger"),
        ("FROM x\nONBUILD MAINTAINER me", "dockerfile parse error on line 2: MAINTAINER isn't allowed as an ONBUILD trigger"),
        ("FROM x\nONBUILD ONBUILD RUN touch foobar", "dockerfile parse error on line 2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ("FROM x\nMAINTAINER --boo joe@example.com", "dockerfile parse error on line 2: unknown flag: --boo"),
        ("FROM x\nCOPY --form=a b c", "dockerfile parse error on line 2: unknown flag: --form (did you mean from?)"),
        ("FROM x\nCOPY --from b c", "dockerfile parse error on line 2: missing a value on flag: --from"),
        ("FROM x\nCOPY --link=maybe b c", "dockerfile parse error on line 2: expecting boolean value for flag --link, not: maybe"),
        ("FROM x\nCOPY --from=a --from=b c d", "dockerfile parse error on line 2: duplicate flag specified: --from"),
        ("FROM x\nRUN --network=bridge true", "dockerfile parse error on line 2: invalid network mode \"bridge\""),
        ("FROM x\nRUN --security=root true", "dockerfile parse error on line 2: security \"root\" is not valid"),
        ("FROM x\nRUN --mount=from=$X,target=/a true", "dockerfile parse error on line 2: 'from' doesn't support variable expansion, define alias stage instead"),
        ("FROM x\nRUN --mount=a\\\"b true", "dockerfile parse error on line 2: failed to parse csv mounts: parse error on line 1, column 2: bare \" in non-quoted-field"),
        ("FROM x\nSHELL /bin/bash -c", "dockerfile parse error on line 2: SHELL requires the arguments to be in JSON form"),
        ("FROM x\nSHELL []", "dockerfile parse error on line 2: SHELL requires at least one argument"),
        ("FROM x\nENV =x", "dockerfile parse error on line 2: ENV names can not be blank"),
        ("FROM x\nARG =x", "dockerfile parse error on line 2: ARG names can not be blank"),
        ("FROM x\nVOLUME [\"\"]", "dockerfile parse error on line 2: VOLUME specified can not be an empty string"),
        ("FROM x\nCOPY a <<EOF\nEOF", "dockerfile parse error on line 2: COPY cannot accept a heredoc as a destination"),
        ("FROM x\nHEALTHCHECK NONE x", "dockerfile parse error on line 2: HEALTHCHECK NONE takes no arguments"),
        ("FROM x\nHEALTHCHECK CMD", "dockerfile parse error on line 2: Missing command after HEALTHCHECK CMD"),
        ("FROM x\nHEALTHCHECK CONNECT TCP 7000", "dockerfile parse error on line 2: Unknown type \"CONNECT\" in HEALTHCHECK (try CMD)"),
        ("FROM x\nHEALTHCHECK --interval=50ns CMD a", "dockerfile parse error on line 2: Interval \"interval\" cannot be less than 1ms"),
        ("FROM x\nHEALTHCHECK --timeout=abc CMD a", "dockerfile parse error on line 2: time: invalid duration \"abc\""),
        ("FROM x\nHEALTHCHECK --retries=-1 CMD a", "dockerfile parse error on line 2: --retries cannot be negative (-1)"),
        ("FROM x\nHEALTHCHECK --retries=x CMD a", "dockerfile parse error on line 2: strconv.ParseInt: parsing \"x\": invalid syntax"),
        ("FROM x AS 1st", "dockerfile parse error on line 1: invalid name for build stage: \"1st\", name can't start with a number or contain symbols"),
        ("FROM x AS", "dockerfile parse error on line 1: FROM requires either one or three arguments"),
        ("FROM x y", "dockerfile parse error on line 1: FROM requires either one or three arguments"),
        ("FROM --platfrm=x y", "dockerfile parse error on line 1: unknown flag: --platfrm (did you mean platform?)"),
        ("RUN x", "no build stage in current context"),
        ("ARG A\nARG B", "dockerfile contains no stages to build"),
    ];
    for (text, want) in cases {
        assert_eq!(err(text), want, "{text:?}");
    }
}

#[test]
fn unknown_instruction() {
    let e = parse("FROM x\n\n\n\n\n\nFOOBAR x\n").unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::UnknownInstruction);
    assert_eq!(
        e.to_string(),
        "dockerfile parse error on line 7: unknown instruction: FOOBAR"
    );
    assert_eq!(
        e.located("Dockerfile"),
        "Dockerfile:7: unknown instruction: FOOBAR"
    );
    assert_eq!(
        err("FROM x\nRUNN x"),
        "dockerfile parse error on line 2: unknown instruction: RUNN (did you mean RUN?)"
    );
    assert_eq!(
        err("FROM x\nfoo bar"),
        "dockerfile parse error on line 2: unknown instruction: foo (did you mean from?)"
    );
    assert_eq!(
        err("FROM x\nFOOBAR"),
        "dockerfile parse error on line 2: unknown instruction: FOOBAR"
    );
    assert_eq!(
        err("FROM x\ncopyy a b"),
        "dockerfile parse error on line 2: unknown instruction: copyy (did you mean copy?)"
    );
}

#[test]
fn from_and_stages() {
    let df = parse(
        "ARG V=1\nFROM --platform=$BUILDPLATFORM golang:${V} AS Build\nRUN x\nfrom scratch\n",
    )
    .unwrap();
    assert_eq!(df.meta_args.len(), 1);
    let s = &df.stages[0];
    assert_eq!(
        (s.name.as_deref(), s.base.as_str(), s.platform.as_deref()),
        (Some("build"), "golang:${V}", Some("$BUILDPLATFORM"))
    );
    assert_eq!(
        s.original,
        "FROM --platform=$BUILDPLATFORM golang:${V} AS Build"
    );
    assert_eq!((s.line, df.stages[1].line), (2, 4));
    assert_eq!(df.stages[1].display_name(), "stage-1");
    assert_eq!(df.stage_by_name("BUILD").map(|s| s.index), Some(0));
}

#[test]
fn env_and_label_forms() {
    let i = one("ENV a b c");
    assert_eq!(
        i.kind,
        InstructionKind::Env(vec![KeyValue {
            key: "a".into(),
            value: "b c".into(),
            legacy: true
        }])
    );
    let i = one("ENV a=1 b=\"x y\" c=d\\ e");
    let InstructionKind::Env(kv) = i.kind else {
        panic!()
    };
    let got: Vec<(&str, &str, bool)> = kv
        .iter()
        .map(|k| (k.key.as_str(), k.value.as_str(), k.legacy))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a", "1", false),
            ("b", "\"x y\"", false),
            ("c", "d\\ e", false)
        ]
    );
    let e = err("FROM x\nLABEL a=1 b");
    assert_eq!(
        e,
        "Syntax error - can't find = in \"b\". Must be of the form: name=value"
    );
}

#[test]
fn args_with_and_without_defaults() {
    let df = parse("# a the first\n# b is second\nARG a b=2 c=\nFROM x\n").unwrap();
    let InstructionKind::Arg(defs) = &df.meta_args[0].kind else {
        panic!()
    };
    let got: Vec<(&str, Option<&str>, &str)> = defs
        .iter()
        .map(|d| (d.key.as_str(), d.value.as_deref(), d.doc_comment.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a", None, "the first"),
            ("b", Some("2"), "is second"),
            ("c", Some(""), "")
        ]
    );
}

#[test]
fn run_cmd_entrypoint_shell() {
    let InstructionKind::Run(r) =
        one("RUN --mount=type=cache,target=/root/.cache --network=none echo  hi").kind
    else {
        panic!()
    };
    assert_eq!(r.cmd.args, vec!["echo  hi"]);
    assert!(r.cmd.prepend_shell);
    assert_eq!(r.network, NetworkMode::None);
    let mut used = r.flags_used.clone();
    used.sort();
    assert_eq!(used, vec!["mount", "network"]);
    let m = &r.mounts().unwrap()[0];
    assert_eq!(
        (m.mount_type, m.target.as_str(), m.read_only),
        (MountType::Cache, "/root/.cache", false)
    );

    let InstructionKind::Cmd(c) = one("CMD [\"a\", \"b c\"]").kind else {
        panic!()
    };
    assert_eq!(
        (c.args, c.prepend_shell),
        (vec!["a".to_string(), "b c".to_string()], false)
    );
    let InstructionKind::Entrypoint(c) = one("ENTRYPOINT ls -l").kind else {
        panic!()
    };
    assert_eq!((c.args, c.prepend_shell), (vec!["ls -l".to_string()], true));
    assert_eq!(
        one("SHELL [\"bash\", \"-ec\"]").kind,
        InstructionKind::Shell(vec!["bash".into(), "-ec".into()])
    );

    let InstructionKind::Run(r) = one("RUN <<EOF\necho hi\nEOF").kind else {
        panic!()
    };
    assert_eq!(r.cmd.files.len(), 1);
    assert_eq!(
        (r.cmd.files[0].name.as_str(), r.cmd.files[0].data.as_str()),
        ("EOF", "echo hi\n")
    );
}

#[test]
fn copy_and_add_flags() {
    let InstructionKind::Copy(c) = one("COPY --from=build --chown=1000:1000 --chmod=0755 --link --exclude=*.md --exclude=*.txt --parents a b /dst/").kind else { panic!() };
    assert_eq!(c.from, "build");
    assert_eq!(
        (c.chown.as_str(), c.chmod.as_str(), c.link, c.parents),
        ("1000:1000", "0755", true, true)
    );
    assert_eq!(c.exclude, vec!["*.md", "*.txt"]);
    assert_eq!(
        (c.paths.sources.clone(), c.paths.dest.as_str()),
        (vec!["a".to_string(), "b".to_string()], "/dst/")
    );

    let InstructionKind::Add(a) =
        one("ADD --keep-git-dir=false --checksum=sha256:abc --unpack https://x/y.tar /").kind
    else {
        panic!()
    };
    assert_eq!(
        (a.keep_git_dir, a.unpack, a.checksum.as_str()),
        (Some(false), Some(true), "sha256:abc")
    );
    let InstructionKind::Add(a) = one("ADD a /").kind else {
        panic!()
    };
    assert_eq!((a.keep_git_dir, a.unpack), (None, None));

    let df = parse("FROM x\nCOPY <<A <<-B src /dst/\nhello $X\nA\n\tworld\nB\n").unwrap();
    let InstructionKind::Copy(c) = &df.stages[0].instructions[0].kind else {
        panic!()
    };
    assert_eq!(c.paths.sources, vec!["src"]);
    let contents: Vec<(&str, &str)> = c
        .paths
        .contents
        .iter()
        .map(|s| (s.path.as_str(), s.data.as_str()))
        .collect();
    assert_eq!(contents, vec![("A", "hello $X\n"), ("B", "world\n")]);
    assert_eq!(df.stages[0].instructions[0].end_line, 6);
}

#[test]
fn healthcheck() {
    let InstructionKind::Healthcheck(h) = one("HEALTHCHECK --interval=5s --timeout=3s --start-period=1m --start-interval=2s --retries=3 CMD curl -f http://localhost/").kind else { panic!() };
    assert_eq!(h.test, vec!["CMD-SHELL", "curl -f http://localhost/"]);
    assert_eq!(
        (
            h.interval,
            h.timeout,
            h.start_period,
            h.start_interval,
            h.retries
        ),
        (
            Duration::from_secs(5),
            Duration::from_secs(3),
            Duration::from_secs(60),
            Duration::from_secs(2),
            3
        )
    );
    let InstructionKind::Healthcheck(h) = one("HEALTHCHECK CMD [\"/bin/check\", \"-q\"]").kind
    else {
        panic!()
    };
    assert_eq!(h.test, vec!["CMD", "/bin/check", "-q"]);
    let InstructionKind::Healthcheck(h) = one("HEALTHCHECK none").kind else {
        panic!()
    };
    assert_eq!(h.test, vec!["NONE"]);
    let InstructionKind::Healthcheck(h) = one("HEALTHCHECK --interval=0s CMD a").kind else {
        panic!()
    };
    assert_eq!(h.interval, Duration::ZERO);
}

#[test]
fn onbuild_keeps_expression_and_trigger() {
    let InstructionKind::Onbuild(o) = one("onbuild  RUN echo \"hi\"").kind else {
        panic!()
    };
    assert_eq!(o.expression, "RUN echo \"hi\"");
    assert_eq!(o.trigger.unwrap().name(), "RUN");
    let df = parse("FROM x\nONBUILD RUN <<EOF\necho hi\nEOF\n").unwrap();
    let InstructionKind::Onbuild(o) = &df.stages[0].instructions[0].kind else {
        panic!()
    };
    assert_eq!(o.expression, "RUN <<EOF\necho hi\nEOF");
    // Docker accepts an unknown trigger until a child image runs it.
    let InstructionKind::Onbuild(o) = one("ONBUILD FOO bar").kind else {
        panic!()
    };
    assert_eq!(
        o.trigger.unwrap_err().message(),
        "unknown instruction: FOO (did you mean FROM?)"
    );
    let t = berth_dockerfile::parse_onbuild_trigger("COPY --from=a /x /y", 3).unwrap();
    assert_eq!((t.name(), t.line), ("COPY", 3));
}

#[test]
fn misc_instructions() {
    assert_eq!(
        one("EXPOSE 8080 80/udp 443").kind,
        InstructionKind::Expose(vec!["443".into(), "80/udp".into(), "8080".into()])
    );
    assert_eq!(
        one("VOLUME /a /b").kind,
        InstructionKind::Volume(vec!["/a".into(), "/b".into()])
    );
    assert_eq!(
        one("VOLUME [\"/a b\"]").kind,
        InstructionKind::Volume(vec!["/a b".into()])
    );
    assert_eq!(
        one("USER app:app").kind,
        InstructionKind::User("app:app".into())
    );
    assert_eq!(
        one("WORKDIR /a b").kind,
        InstructionKind::Workdir("/a b".into())
    );
    assert_eq!(
        one("STOPSIGNAL SIGKILL").kind,
        InstructionKind::StopSignal("SIGKILL".into())
    );
    assert_eq!(
        one("MAINTAINER me <me@x>").kind,
        InstructionKind::Maintainer("me <me@x>".into())
    );
    let i = one("run   echo \\\n   hi  ");
    assert_eq!(
        (i.keyword.as_str(), i.name(), i.original.as_str()),
        ("run", "RUN", "run   echo    hi")
    );
    assert_eq!(i.to_string(), "run   echo    hi");
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn expansion_rules_per_instruction() {
    let lex = Lex::new('\\');
    let e = env(&[
        ("A", "x y"),
        ("D", "/dst"),
        ("U", "1000"),
        ("P", "80 443"),
        ("T", "/cache"),
        ("ID", "c1"),
    ]);
    let exp = |line: &str| one(line).expand(&lex, &e).unwrap().kind;

    assert_eq!(
        exp("RUN echo $A"),
        one("RUN echo $A").kind,
        "RUN is left to the shell"
    );
    assert_eq!(exp("CMD echo $A"), one("CMD echo $A").kind);
    let InstructionKind::Env(kv) = exp("ENV B=\"$A\" C=${A:-z}") else {
        panic!()
    };
    assert_eq!((kv[0].value.as_str(), kv[1].value.as_str()), ("x y", "x y"));
    let InstructionKind::Copy(c) = exp("COPY --chown=$U:$U $A ${D}/") else {
        panic!()
    };
    assert_eq!(
        (
            c.chown.as_str(),
            c.paths.sources.clone(),
            c.paths.dest.as_str()
        ),
        ("1000:1000", vec!["x y".to_string()], "/dst/")
    );
    assert_eq!(
        exp("WORKDIR $D/app"),
        InstructionKind::Workdir("/dst/app".into())
    );
    assert_eq!(exp("USER ${U}"), InstructionKind::User("1000".into()));
    assert_eq!(
        exp("EXPOSE $P 8080"),
        InstructionKind::Expose(vec!["80".into(), "443".into(), "8080".into()])
    );
    assert_eq!(
        exp("VOLUME $D"),
        InstructionKind::Volume(vec!["/dst".into()])
    );
    let InstructionKind::Run(r) =
        exp("RUN --mount=type=cache,target=$T,id=$ID,sharing=locked make")
    else {
        panic!()
    };
    let m = &r.mounts().unwrap()[0];
    assert_eq!(
        (m.target.as_str(), m.cache_id.as_str(), m.sharing),
        ("/cache", "c1", Some(ShareMode::Locked))
    );

    // Heredoc sources expand unless the terminator is quoted; quotes stay.
    let df = parse("FROM x\nCOPY <<EOF <<'RAW' /d/\n\"$A\" \\$A\nEOF\n$A\nRAW\n").unwrap();
    let InstructionKind::Copy(c) = df.stages[0].instructions[0].expand(&lex, &e).unwrap().kind
    else {
        panic!()
    };
    assert_eq!(c.paths.contents[0].data, "\"x y\" $A\n");
    assert_eq!(c.paths.contents[1].data, "$A\n");

    let bad = one("WORKDIR ${A:?must be set}")
        .expand(&lex, &env(&[]))
        .unwrap_err();
    assert_eq!(
        bad.to_string(),
        "failed to process \"${A:?must be set}\": A: must be set"
    );
    let bad = one("RUN --mount=type=$A true")
        .expand(&lex, &e)
        .unwrap_err();
    assert_eq!(bad.to_string(), "unsupported mount type \"x y\"");
}

#[test]
fn which_instructions_expand() {
    for (line, expands) in [
        ("RUN a", true),
        ("CMD a", false),
        ("ENTRYPOINT a", false),
        ("SHELL [\"a\"]", false),
        ("HEALTHCHECK NONE", false),
        ("ONBUILD RUN a", false),
        ("COPY a b", true),
        ("ENV a=b", true),
    ] {
        assert_eq!(one(line).expands_variables(), expands, "{line}");
    }
}
