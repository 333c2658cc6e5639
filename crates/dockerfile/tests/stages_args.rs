//! ARG scoping (BuildKit's `dockerfile_args_test.go` scenarios), predefined
//! platform args, unused build args, and the stage dependency graph.

use berth_dockerfile::args::*;
use berth_dockerfile::instructions::InstructionKind;
use berth_dockerfile::shell_lex::{EnvGetter, Lex};
use berth_dockerfile::{parse, Dockerfile, StageRef};

fn build_args(pairs: &[(&str, &str)]) -> BuildArgs {
    let mut b = BuildArgs::new();
    for (k, v) in pairs {
        b.insert(k, v);
    }
    b
}

fn globals(df: &Dockerfile, ba: &BuildArgs) -> EnvList {
    let p = Platform::new("linux", "amd64", "");
    let pre = predefined_args(&p, &p, "", ba);
    eval_meta_args(&df.meta_args, pre, ba, &Lex::new(df.escape_token)).unwrap()
}

/// Runs the ENV/ARG instructions of a stage and returns the scope, the way
/// an executor would.
fn run_stage(
    df: &Dockerfile,
    idx: usize,
    globals: &EnvList,
    ba: &BuildArgs,
    image_env: &[&str],
) -> StageScope {
    let lex = Lex::new(df.escape_token);
    let mut scope = StageScope::new(image_env);
    for inst in &df.stages[idx].instructions {
        match &inst.kind {
            InstructionKind::Arg(defs) => {
                for d in defs {
                    scope.declare_arg(d, globals, ba, &lex).unwrap();
                }
            }
            InstructionKind::Env(_) => {
                let InstructionKind::Env(kv) = inst.expand(&lex, scope.env()).unwrap().kind else {
                    unreachable!()
                };
                let pairs: Vec<(String, String)> =
                    kv.into_iter().map(|k| (k.key, k.value)).collect();
                scope.apply_env(&pairs);
            }
            _ => {}
        }
    }
    scope
}

#[test]
fn multi_args_and_quoted_meta_args() {
    let df = parse("ARG a1=\"foo bar\" a2=box\nARG a3=\"$a2-foo\"\nFROM busy$a2 AS build\nARG a3 a4=\"123 456\" a1\nRUN echo -n \"$a1:$a3:$a4\" > /out\n").unwrap();
    let ba = BuildArgs::new();
    let g = globals(&df, &ba);
    assert_eq!(g.get("a1"), Some("foo bar"));
    assert_eq!(g.get("a3"), Some("box-foo"));
    let graph = df.graph(&g).unwrap();
    assert_eq!(graph.nodes[0].base, StageRef::Image("busybox".into()));
    let scope = run_stage(&df, 0, &g, &ba, &[]);
    let e = scope.env();
    assert_eq!(
        (e.get("a1"), e.get("a3"), e.get("a4")),
        (Some("foo bar"), Some("box-foo"), Some("123 456"))
    );
    assert_eq!(
        scope.image_env().get("a1"),
        None,
        "ARGs do not go into the image config"
    );
}

#[test]
fn arg_default_expansion_inside_stage() {
    let df = parse("ARG a1=\"box\"\nARG a2=\"$a1-foo\"\nFROM busy$a1 AS build\nARG a2\nARG a3=\"bar-$a2\"\nRUN echo -n $a3 > /out\n").unwrap();
    let ba = BuildArgs::new();
    let g = globals(&df, &ba);
    let scope = run_stage(&df, 0, &g, &ba, &[]);
    assert_eq!(scope.env().get("a3"), Some("bar-box-foo"));
}

#[test]
fn meta_args_only_visible_after_redeclaration() {
    let df = parse("ARG V=1\nFROM x\nENV A=${V:-unset}\nARG V\nENV B=$V\n").unwrap();
    let ba = BuildArgs::new();
    let g = globals(&df, &ba);
    let scope = run_stage(&df, 0, &g, &ba, &[]);
    assert_eq!(scope.env().get("A"), Some("unset"));
    assert_eq!(scope.env().get("B"), Some("1"));
}

#[test]
fn build_args_win_over_defaults() {
    let df =
        parse("ARG V=1\nFROM img:$V\nARG V=2\nARG W=def\nARG Z\nENV E=$V-$W-${Z:-none}\n").unwrap();
    let ba = build_args(&[("V", "9"), ("Z", "z")]);
    let g = globals(&df, &ba);
    assert_eq!(df.graph(&g).unwrap().nodes[0].base_name, "img:9");
    let scope = run_stage(&df, 0, &g, &ba, &[]);
    assert_eq!(scope.env().get("E"), Some("9-def-z"));
}

#[test]
fn env_and_arg_last_writer_wins() {
    // ENV after ARG overrides it; the image config only has the ENV.
    let df = parse("FROM x\nARG CONT_IMG_VER\nENV CONT_IMG_VER=v1.0.0\nARG OTHER=a\n").unwrap();
    let ba = build_args(&[("CONT_IMG_VER", "v2.0.0")]);
    let g = globals(&df, &ba);
    let scope = run_stage(&df, 0, &g, &ba, &["PATH=/bin"]);
    assert_eq!(scope.env().get("CONT_IMG_VER"), Some("v1.0.0"));
    assert_eq!(
        scope.image_env().to_strings(),
        vec!["PATH=/bin", "CONT_IMG_VER=v1.0.0"]
    );
    // ${VAR:-default} in ENV with an ARG declared without value.
    let df = parse("FROM x\nARG my_arg\nENV my_arg \"my_arg=${my_arg:-def_val}\"\nENV my_trimmed_arg \"${my_arg%%e*}\"\n").unwrap();
    for (given, want, trimmed) in [
        (None, "my_arg=def_val", "my_arg=d"),
        (Some(""), "my_arg=def_val", "my_arg=d"),
        (Some("override"), "my_arg=override", "my_arg=ov"),
    ] {
        let ba = match given {
            Some(v) => build_args(&[("my_arg", v)]),
            None => BuildArgs::new(),
        };
        let g = globals(&df, &ba);
        let scope = run_stage(&df, 0, &g, &ba, &[]);
        assert_eq!(scope.env().get("my_arg"), Some(want), "{given:?}");
        assert_eq!(
            scope.env().get("my_trimmed_arg"),
            Some(trimmed),
            "{given:?}"
        );
    }
}

#[test]
fn predefined_platform_args() {
    let b = Platform::new("linux", "amd64", "");
    let t = Platform::parse("linux/arm/v7").unwrap();
    let pre = predefined_args(&b, &t, "final", &BuildArgs::new());
    assert_eq!(pre.get("BUILDPLATFORM"), Some("linux/amd64"));
    assert_eq!(pre.get("TARGETPLATFORM"), Some("linux/arm/v7"));
    assert_eq!(
        (
            pre.get("TARGETOS"),
            pre.get("TARGETARCH"),
            pre.get("TARGETVARIANT")
        ),
        (Some("linux"), Some("arm"), Some("v7"))
    );
    assert_eq!(pre.get("TARGETSTAGE"), Some("final"));
    assert_eq!(
        predefined_args(&b, &t, "", &BuildArgs::new()).get("TARGETSTAGE"),
        Some("default")
    );
    let pre = predefined_args(&b, &t, "", &build_args(&[("TARGETARCH", "riscv64")]));
    assert_eq!(pre.get("TARGETARCH"), Some("riscv64"));
    assert_eq!(
        Platform::parse("linux/x86_64").unwrap().format(),
        "linux/amd64"
    );
    assert_eq!(
        Platform::parse("linux/aarch64/v8").unwrap().format(),
        "linux/arm64"
    );

    // Usable in FROM directly; inside a stage only after `ARG NAME`.
    let df = parse("FROM --platform=$BUILDPLATFORM golang AS b\nENV X=${TARGETARCH:-none}\nARG TARGETARCH\nENV Y=$TARGETARCH\n").unwrap();
    let ba = BuildArgs::new();
    let pre = predefined_args(&b, &t, "", &ba);
    let g = eval_meta_args(&df.meta_args, pre, &ba, &Lex::default()).unwrap();
    assert_eq!(
        df.graph(&g).unwrap().nodes[0].platform.as_deref(),
        Some("linux/amd64")
    );
    let scope = run_stage(&df, 0, &g, &ba, &[]);
    assert_eq!(
        (scope.env().get("X"), scope.env().get("Y")),
        (Some("none"), Some("arm"))
    );
}

#[test]
fn meta_arg_errors_carry_the_line() {
    let df = parse("ARG FOO=${FOO:?\"custom error\"}\nFROM busybox\n").unwrap();
    let ba = BuildArgs::new();
    let pre = predefined_args(&Platform::host(), &Platform::host(), "", &ba);
    let err = eval_meta_args(&df.meta_args, pre.clone(), &ba, &Lex::default()).unwrap_err();
    assert_eq!(err.line(), Some(1));
    assert!(err.message().contains("FOO: custom error"), "{err}");
    assert!(eval_meta_args(
        &df.meta_args,
        pre,
        &build_args(&[("FOO", "bar")]),
        &Lex::default()
    )
    .is_ok());
}

#[test]
fn path_default_and_proxy_env() {
    let scope = StageScope::new::<&str>(&[]);
    assert_eq!(scope.image_env().get("PATH"), Some(DEFAULT_PATH));
    let ba = build_args(&[("http_proxy", "hp"), ("NO_PROXY", "np"), ("FOO", "x")]);
    let run = scope.run_env(&ba);
    assert!(
        run.contains(&"HTTP_PROXY=hp".to_string()) && run.contains(&"http_proxy=hp".to_string())
    );
    assert!(run.contains(&"no_proxy=np".to_string()));
    assert!(
        !run.iter().any(|e| e.starts_with("FOO=")),
        "undeclared build args stay out of RUN"
    );
}

#[test]
fn run_history_lists_declared_args() {
    let df = parse("FROM x\nARG FOO\nARG BAR=1\nRUN make\n").unwrap();
    let ba = build_args(&[("FOO", "f")]);
    let g = globals(&df, &ba);
    let scope = run_stage(&df, 0, &g, &ba, &[]);
    let argv = vec!["/bin/sh".to_string(), "-c".to_string(), "make".to_string()];
    assert_eq!(scope.run_history(&argv), "|2 FOO=f BAR=1 /bin/sh -c make");
    assert_eq!(
        StageScope::new::<&str>(&[]).run_history(&argv),
        "/bin/sh -c make"
    );
}

#[test]
fn unused_build_args_warning_text() {
    let df = parse("ARG USED_META\nFROM x\nARG USED\n").unwrap();
    let ba = build_args(&[
        ("USED", "1"),
        ("USED_META", "1"),
        ("foo", "1"),
        ("bar", "2"),
        ("HTTP_PROXY", "p"),
    ]);
    let mut declared: Vec<&str> = Vec::new();
    for i in df.meta_args.iter().chain(df.stages[0].instructions.iter()) {
        if let InstructionKind::Arg(defs) = &i.kind {
            declared.extend(defs.iter().map(|d| d.key.as_str()));
        }
    }
    let unused = unused_build_args(&ba, declared);
    assert_eq!(unused, vec!["bar", "foo"]);
    assert_eq!(
        unused_build_args_warning(&unused).unwrap(),
        "[Warning] One or more build-args [bar foo] were not consumed"
    );
    assert_eq!(unused_build_args_warning(&[]), None);
}

const MULTI: &str = "\
FROM golang AS deps
RUN go mod download

FROM deps AS build
COPY --from=tools /bin/tool /bin/
RUN --mount=type=cache,target=/root/.cache --mount=from=assets,source=/a,target=/a go build

FROM alpine AS tools
RUN apk add tool

FROM node AS assets
RUN npm run build

FROM scratch AS unused
COPY --from=0 /x /x

FROM busybox AS final
COPY --from=build /app /app
COPY --from=nginx:latest /etc/nginx /etc/nginx
";

#[test]
fn stage_graph_and_needed_stages() {
    // `tools` and `assets` come after `build`, so keep them first in a
    // variant that BuildKit can build.
    let df = parse(MULTI).unwrap();
    let g = df.graph(&EnvList::new()).unwrap();
    assert_eq!(g.nodes[1].base, StageRef::Stage(0));
    assert_eq!(g.direct_stage_deps(1), vec![0, 2, 3]);
    let final_idx = df.target_index(None).unwrap();
    assert_eq!(final_idx, 5);
    assert_eq!(g.stages_needed(final_idx), vec![0, 1, 2, 3, 5]);
    assert_eq!(
        g.stages_needed(df.target_index(Some("TOOLS")).unwrap()),
        vec![2]
    );
    assert_eq!(
        g.external_images(final_idx),
        vec!["alpine", "busybox", "golang", "nginx:latest", "node"]
    );
    // build needs later stages: BuildKit refuses that when it dispatches.
    let err = g.schedule(&df, final_idx).unwrap_err();
    assert_eq!(
        err.message(),
        "cannot copy from stage \"tools\", it needs to be defined before current stage \"build\""
    );
    assert_eq!(err.line(), Some(5));

    let ordered = "FROM alpine AS tools\nRUN t\nFROM node AS assets\nRUN a\nFROM golang AS deps\nRUN d\nFROM deps AS build\nCOPY --from=tools /t /t\nRUN --mount=from=assets,target=/a b\nFROM scratch AS unused\nFROM busybox\nCOPY --from=build /app /app\n";
    let df = parse(ordered).unwrap();
    let g = df.graph(&EnvList::new()).unwrap();
    let waves = g.schedule(&df, df.target_index(None).unwrap()).unwrap();
    assert_eq!(waves, vec![vec![0, 1, 2], vec![3], vec![5]]);
}

#[test]
fn stage_graph_errors() {
    let df = parse("FROM x AS a\nCOPY --from=a /x /y\n").unwrap();
    let err = df.graph(&EnvList::new()).unwrap_err();
    assert_eq!(err.message(), "circular dependency detected on stage: a");
    let df = parse("FROM x AS a\nCOPY --from=b /x /y\nFROM y AS b\nCOPY --from=a /x /y\n").unwrap();
    assert_eq!(
        df.graph(&EnvList::new()).unwrap_err().message(),
        "circular dependency detected on stage: a"
    );
    let df = parse("FROM x\nCOPY --from=5 /x /y\n").unwrap();
    assert_eq!(
        df.graph(&EnvList::new()).unwrap_err().message(),
        "invalid stage index 5"
    );
    let df = parse("ARG S=a\nFROM x\nCOPY --from=$S /x /y\n").unwrap();
    assert_eq!(
        df.graph(&EnvList::new()).unwrap_err().message(),
        "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround"
    );
    let df = parse("ARG B\nFROM $B\n").unwrap();
    let err = df.graph(&EnvList::new()).unwrap_err();
    assert_eq!(
        (err.message(), err.line()),
        ("base name ($B) should not be blank", Some(2))
    );
    let df = parse("FROM --platform=$P x\n").unwrap();
    assert_eq!(
        df.graph(&EnvList::new()).unwrap_err().message(),
        "empty platform value from expression $P"
    );
    let df = parse("FROM x AS build\nFROM y\n").unwrap();
    assert_eq!(
        df.target_index(Some("buidl")).unwrap_err().message(),
        "target stage \"buidl\" could not be found (did you mean build?)"
    );
    // FROM of a later stage name is an image, as in BuildKit.
    let df = parse("FROM later\nFROM x AS later\n").unwrap();
    assert_eq!(
        df.graph(&EnvList::new()).unwrap().nodes[0].base,
        StageRef::Image("later".into())
    );
}

#[test]
fn steps_like_the_classic_builder() {
    let df = parse("ARG V=1\nFROM busybox\nCOPY . /app\nRUN make \\\n  all\n").unwrap();
    let all: Vec<usize> = (0..df.stages.len()).collect();
    assert_eq!(
        df.steps(&all),
        vec![
            "Step 1/4 : ARG V=1",
            "Step 2/4 : FROM busybox",
            "Step 3/4 : COPY . /app",
            "Step 4/4 : RUN make   all"
        ]
    );
}
