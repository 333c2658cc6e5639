//! COPY/ADD rules (globs, destinations, --chown, --chmod, context paths)
//! and argv building (shell/exec form, RUN heredocs, ENTRYPOINT/CMD),
//! STOPSIGNAL and EXPOSE parsing.

use berth_dockerfile::copy_rules::*;
use berth_dockerfile::exec_form::*;
use berth_dockerfile::instructions::{CommandLine, InstructionKind};
use berth_dockerfile::parse;

#[test]
fn source_globs_use_go_filepath_match() {
    let cases = [
        ("*.go", "main.go", true),
        ("*.go", "cmd/main.go", false),
        ("**/*.go", "cmd/main.go", true),
        ("**/*.go", "a/b/main.go", false),
        ("src/*/x", "src/a/x", true),
        ("file[0-9].txt", "file7.txt", true),
        ("file[^0-9].txt", "file7.txt", false),
        ("a?c", "abc", true),
        ("a\\*c", "a*c", true),
    ];
    for (p, n, want) in cases {
        assert_eq!(glob_match(p, n), Ok(want), "{p} {n}");
    }
    assert!(glob_match("[a-", "a").is_err());
    assert!(
        contains_wildcards("a/*.go")
            && contains_wildcards("f[12]")
            && !contains_wildcards("a\\*b")
            && !contains_wildcards("plain")
    );
    assert_eq!(
        split_wildcards("src/*/x.go"),
        ("src".to_string(), "*/x.go".to_string())
    );
    assert_eq!(
        split_wildcards("/abs/dir/*.txt"),
        ("/abs/dir".to_string(), "*.txt".to_string())
    );
    assert_eq!(
        split_wildcards("plain/file"),
        ("plain/file".to_string(), String::new())
    );
}

#[test]
fn destinations() {
    assert_eq!(resolve_dest("/app", "."), "/app/");
    assert_eq!(resolve_dest("/app", ""), "/app/");
    assert_eq!(resolve_dest("/app", "sub/"), "/app/sub/");
    assert_eq!(resolve_dest("/app", "sub"), "/app/sub");
    assert_eq!(resolve_dest("/app", "../etc/x"), "/etc/x");
    // Absolute destinations are taken as written (BuildKit cleans later).
    assert_eq!(resolve_dest("/app", "/abs//dir/"), "/abs//dir/");
    assert_eq!(resolve_dest("/", "x/."), "/x/.");
    assert_eq!(resolve_dest("", "rel"), "/rel");
    assert!(dest_is_dir("/app/") && !dest_is_dir("/app"));
    assert_eq!(
        file_destination("/app/", "src/main.go", false),
        "/app/main.go"
    );
    assert_eq!(
        file_destination("/app", "src/main.go", true),
        "/app/main.go"
    );
    assert_eq!(
        file_destination("/app/bin", "src/main.go", false),
        "/app/bin"
    );

    assert_eq!(
        check_multiple_sources("COPY", 2, "/app").unwrap_err(),
        "When using COPY with more than one source file, the destination must be a directory and end with a /"
    );
    assert!(check_multiple_sources("ADD", 2, "/app/").is_ok());
    assert!(check_multiple_sources("COPY", 1, "/app").is_ok());

    assert_eq!(normalize_workdir("/", "app").unwrap(), "/app");
    assert_eq!(normalize_workdir("/app", "../src/./x/").unwrap(), "/src/x");
    assert_eq!(normalize_workdir("/app", "/abs").unwrap(), "/abs");
    assert!(normalize_workdir("/app", "").is_err());
}

#[test]
fn context_paths() {
    assert_eq!(clean_context_path("./a/../b").unwrap(), "b");
    assert_eq!(clean_context_path("/x/y/").unwrap(), "x/y");
    assert_eq!(clean_context_path(".").unwrap(), "");
    assert_eq!(
        clean_context_path("../x").unwrap_err(),
        "forbidden path outside the build context: ../x ()"
    );
    assert!(clean_context_path("a/../../x").is_err());
    // BuildKit clamps instead.
    assert_eq!(scoped_context_path("../x"), "x");
    assert_eq!(scoped_context_path("a/../../b/"), "b");
    assert_eq!(scoped_context_path("."), "");
}

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\n  app:x:1000:1001:App:/home/app:/bin/sh\nweird:x:notanumber:2\n";
const GROUP: &str = "root:x:0:\nstaff:x:50:app\n";

#[test]
fn chown() {
    let cases = [
        ("1000", (1000, 1000)),
        ("1000:50", (1000, 50)),
        ("root", (0, 0)),
        ("app", (1000, 1001)),
        ("app:staff", (1000, 50)),
        ("app:7", (1000, 7)),
        ("0:staff", (0, 50)),
        ("nobody", (0, 0)),
        ("weird", (0, 2)),
    ];
    for (spec, want) in cases {
        assert_eq!(
            Chown::parse(spec).resolve(Some(PASSWD), Some(GROUP)),
            want,
            "{spec}"
        );
    }
    assert_eq!(Chown::parse("app").resolve(None, None), (0, 0));
    assert_eq!(
        Chown::parse("ghost:staff").resolve_strict(Some(PASSWD), Some(GROUP)).unwrap_err(),
        "unable to convert uid/gid chown string to host mapping: can't find uid for user ghost: no such user: ghost"
    );
    assert_eq!(
        Chown::parse("app:nogroup").resolve_strict(Some(PASSWD), Some(GROUP)).unwrap_err(),
        "unable to convert uid/gid chown string to host mapping: can't find gid for group nogroup: no such group: nogroup"
    );
    assert_eq!(
        Chown::parse("app:staff").resolve_strict(Some(PASSWD), Some(GROUP)),
        Ok((1000, 50))
    );
}

#[test]
fn chmod() {
    let file = 0o100644;
    let dir = 0o040755;
    assert_eq!(Chmod::parse("755").unwrap(), Chmod::Octal(0o755));
    assert_eq!(Chmod::parse("0644").unwrap().apply(0o100777), 0o100644);
    assert_eq!(Chmod::parse("u+x").unwrap().apply(file), 0o100744);
    assert_eq!(Chmod::parse("go-r,u+x").unwrap().apply(file), 0o100700);
    // `X` only counts with `+` (BSD setmode).
    assert_eq!(Chmod::parse("a=rX").unwrap().apply(dir), 0o040444);
    assert_eq!(Chmod::parse("a=r,a+X").unwrap().apply(file), 0o100444);
    assert_eq!(Chmod::parse("a=r,a+X").unwrap().apply(dir), 0o040555);
    assert_eq!(Chmod::parse("g=u").unwrap().apply(0o100640), 0o100660);
    assert_eq!(Chmod::parse("u+s,+t").unwrap().apply(file), 0o105644);
    let non_octal =
        "invalid chmod parameter: '17777'. it should be octal string and between 0 and 07777";
    assert_eq!(Chmod::parse("17777").unwrap_err(), non_octal);
    assert!(Chmod::parse("0999")
        .unwrap_err()
        .starts_with("invalid chmod parameter: '0999'"));
    assert_eq!(Chmod::parse("u+q").unwrap_err(), "invalid syntax");
    assert_eq!(Chmod::parse("").unwrap_err(), "invalid syntax");
}

fn cl(args: &[&str], shell: bool) -> CommandLine {
    CommandLine {
        args: args.iter().map(|s| s.to_string()).collect(),
        prepend_shell: shell,
        files: Vec::new(),
    }
}

#[test]
fn shell_and_exec_form() {
    let def: Vec<String> = Vec::new();
    assert_eq!(
        exec_form(&def, &cl(&["echo $HOME"], true)),
        vec!["/bin/sh", "-c", "echo $HOME"]
    );
    assert_eq!(
        exec_form(&def, &cl(&["echo", "$HOME"], false)),
        vec!["echo", "$HOME"]
    );
    let bash = vec!["bash".to_string(), "-ec".to_string()];
    assert_eq!(
        exec_form(&bash, &cl(&["make all"], true)),
        vec!["bash", "-ec", "make all"]
    );
    assert_eq!(shell_form(&def, &[]), vec!["/bin/sh", "-c", ""]);
}

#[test]
fn run_heredocs() {
    let df = parse("FROM x\nRUN <<EOF\necho hi\nEOF\nRUN <<-EOF\n\t#!/usr/bin/env python3\n\tprint(1)\nEOF\nRUN cat <<A > /a && cat <<B\na\nA\nb\nB\nRUN [\"echo\", \"hi\"]\n").unwrap();
    let plans: Vec<RunPlan> = df.stages[0]
        .instructions
        .iter()
        .map(|i| match &i.kind {
            InstructionKind::Run(r) => run_plan(&[], &r.cmd).unwrap(),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(plans[0].argv, vec!["/bin/sh", "-c", "echo hi\n"]);
    assert_eq!(plans[0].script, None);
    assert_eq!(plans[1].argv, vec!["/bin/sh", "-c", "/dev/pipes/EOF"]);
    let script = plans[1].script.clone().unwrap();
    assert_eq!(
        (script.path.as_str(), script.data.as_str()),
        ("/dev/pipes/EOF", "#!/usr/bin/env python3\nprint(1)\n")
    );
    assert_eq!(
        plans[2].argv,
        vec!["/bin/sh", "-c", "cat <<A > /a && cat <<B\na\nA\nb\nB"]
    );
    assert_eq!(plans[3].argv, vec!["echo", "hi"]);
}

#[test]
fn entrypoint_and_cmd() {
    // An ENTRYPOINT drops the CMD inherited from the base image...
    let mut c = ImageCommand::from_image(vec![], None, Some(vec!["nginx".into()]));
    c.apply_entrypoint(&cl(&["/entry.sh"], false));
    assert_eq!(c.cmd, None);
    assert_eq!(c.argv(), vec!["/entry.sh"]);
    // ...but not one set earlier in the same stage.
    let mut c = ImageCommand::from_image(vec![], None, Some(vec!["old".into()]));
    c.apply_cmd(&cl(&["--help"], false));
    c.apply_entrypoint(&cl(&["app"], false));
    assert_eq!(c.argv(), vec!["app", "--help"]);
    // Shell form goes through SHELL; a shell-form ENTRYPOINT makes CMD mere $0.
    let mut c = ImageCommand::default();
    c.apply_shell(&["/bin/bash".into(), "-c".into()]);
    c.apply_entrypoint(&cl(&["exec app"], true));
    c.apply_cmd(&cl(&["ignored"], false));
    assert_eq!(c.argv(), vec!["/bin/bash", "-c", "exec app", "ignored"]);
    // ENTRYPOINT [] clears it.
    c.apply_entrypoint(&cl(&[], false));
    assert_eq!(c.entrypoint, None);
}

#[test]
fn stop_signals() {
    assert_eq!(parse_signal("SIGKILL"), Ok(9));
    assert_eq!(parse_signal("term"), Ok(15));
    assert_eq!(parse_signal("9"), Ok(9));
    assert_eq!(parse_signal("SIGRTMIN+3"), Ok(37));
    assert_eq!(parse_signal("RTMAX-1"), Ok(63));
    assert_eq!(parse_signal("0").unwrap_err(), "invalid signal: 0");
    assert_eq!(
        parse_signal("SIGFOO").unwrap_err(),
        "invalid signal: SIGFOO"
    );
}

#[test]
fn expose_specs() {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        parse_expose(&s(&["80", "53/UDP", "8000-8002/tcp"])).unwrap(),
        s(&["80/tcp", "53/udp", "8000/tcp", "8001/tcp", "8002/tcp"])
    );
    assert_eq!(parse_expose(&s(&["8080:80"])).unwrap(), s(&["80/tcp"]));
    assert_eq!(
        parse_expose(&s(&["80/xyz"])).unwrap_err(),
        "invalid port: \"80/xyz\": invalid proto: xyz"
    );
    assert_eq!(
        parse_expose(&s(&["abc"])).unwrap_err(),
        "invalid containerPort: abc"
    );
    assert_eq!(
        parse_expose(&s(&["70000"])).unwrap_err(),
        "invalid containerPort: 70000"
    );
    assert_eq!(
        parse_expose(&s(&["90-80"])).unwrap_err(),
        "invalid containerPort: 90-80"
    );
}
