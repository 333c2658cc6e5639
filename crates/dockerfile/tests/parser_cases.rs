//! BuildKit's own parser cases (`frontend/dockerfile/parser/testfiles`,
//! `parser_test.go`, `parser_heredoc_test.go`, `directives_test.go`) adapted to
//! Rust: each Dockerfile must dump to the S-expressions BuildKit produces, and
//! the error cases must fail the same way.

use berth_dockerfile::parser::{parse_ast, Heredoc};
use berth_dockerfile::{parse, ParseErrorKind};

/// (case, Dockerfile, BuildKit dump)
const DUMP_CASES: &[(&str, &str, &str)] = &[
    (
        "escape",
        r#"#escape = `

FROM image
LABEL maintainer foo@bar.com
ENV GOPATH `
\go"#,
        r#"(from "image")
(label "maintainer" "foo@bar.com" "")
(env "GOPATH" "\\go" "")"#,
    ),
    (
        "escapes",
        r#"FROM ubuntu:14.04
LABEL maintainer Erik \\Hollensbe <erik@hollensbe.org>\"

RUN apt-get \update && \
  apt-get \"install znc -y
ADD \conf\\" /.znc

RUN foo \

bar \

baz

CMD [ "\/usr\\\"/bin/znc", "-f", "-r" ]
"#,
        r#"(from "ubuntu:14.04")
(label "maintainer" "Erik \\\\Hollensbe <erik@hollensbe.org>\\\"" "")
(run "apt-get \\update &&   apt-get \\\"install znc -y")
(add "\\conf\\\\\"" "/.znc")
(run "foo bar baz")
(cmd "/usr\\\"/bin/znc" "-f" "-r")"#,
    ),
    (
        "continue-at-eof",
        r#"FROM alpine:3.5

RUN something \"#,
        r#"(from "alpine:3.5")
(run "something")"#,
    ),
    (
        "continueIndent",
        r#"FROM ubuntu:14.04

RUN echo hello\
  world\
  goodnight  \
  moon\
  light\
ning
RUN echo hello  \
  world
RUN echo hello  \
world
RUN echo hello \
goodbye\
frog
RUN echo hello  \  
world
RUN echo hi \
 \
 world \
\
 good\
\
night
RUN echo goodbye\
frog
RUN echo good\
bye\
frog

RUN echo hello \
# this is a comment

# this is a comment with a blank line surrounding it

this is some more useful stuff
"#,
        r#"(from "ubuntu:14.04")
(run "echo hello  world  goodnight    moon  lightning")
(run "echo hello    world")
(run "echo hello  world")
(run "echo hello goodbyefrog")
(run "echo hello  world")
(run "echo hi   world  goodnight")
(run "echo goodbyefrog")
(run "echo goodbyefrog")
(run "echo hello this is some more useful stuff")"#,
    ),
    (
        "env",
        r#"FROM ubuntu
ENV name value
ENV name=value
ENV name=value name2=value2
ENV name="value value1"
ENV name=value\ value2
ENV name="value'quote space'value2"
ENV name='value"double quote"value2'
ENV name=value\ value2 name2=value2\ value3
ENV name="a\"b"
ENV name="a\'b"
ENV name='a\'b'
ENV name='a\'b''
ENV name='a\"b'
ENV name="''"
# don't put anything after the next line - it must be the last line of the
# Dockerfile and it must end with \
ENV name=value \
    name1=value1 \
    name2="value2a \
           value2b" \
    name3="value3a\n\"value3b\"" \
	name4="value4a\\nvalue4b" \
"#,
        r#"(from "ubuntu")
(env "name" "value" "")
(env "name" "value" "=")
(env "name" "value" "=" "name2" "value2" "=")
(env "name" "\"value value1\"" "=")
(env "name" "value\\ value2" "=")
(env "name" "\"value'quote space'value2\"" "=")
(env "name" "'value\"double quote\"value2'" "=")
(env "name" "value\\ value2" "=" "name2" "value2\\ value3" "=")
(env "name" "\"a\\\"b\"" "=")
(env "name" "\"a\\'b\"" "=")
(env "name" "'a\\'b'" "=")
(env "name" "'a\\'b''" "=")
(env "name" "'a\\\"b'" "=")
(env "name" "\"''\"" "=")
(env "name" "value" "=" "name1" "value1" "=" "name2" "\"value2a            value2b\"" "=" "name3" "\"value3a\\n\\\"value3b\\\"\"" "=" "name4" "\"value4a\\\\nvalue4b\"" "=")"#,
    ),
    (
        "flags",
        r#"FROM scratch
COPY foo /tmp/
COPY --user=me foo /tmp/
COPY --doit=true foo /tmp/
COPY --user=me --doit=true foo /tmp/
COPY --doit=true -- foo /tmp/
COPY -- foo /tmp/
CMD --doit [ "a", "b" ]
CMD --doit=true -- [ "a", "b" ]
CMD --doit -- [ ]
"#,
        r#"(from "scratch")
(copy "foo" "/tmp/")
(copy ["--user=me"] "foo" "/tmp/")
(copy ["--doit=true"] "foo" "/tmp/")
(copy ["--user=me" "--doit=true"] "foo" "/tmp/")
(copy ["--doit=true"] "foo" "/tmp/")
(copy "foo" "/tmp/")
(cmd ["--doit"] "a" "b")
(cmd ["--doit=true"] "a" "b")
(cmd ["--doit"])"#,
    ),
    (
        "health",
        r#"FROM debian
ADD check.sh main.sh /app/
CMD /app/main.sh
HEALTHCHECK
HEALTHCHECK --interval=5s --timeout=3s --retries=3 \
  CMD /app/check.sh --quiet
HEALTHCHECK CMD
HEALTHCHECK   CMD   a b
HEALTHCHECK --timeout=3s CMD ["foo"]
HEALTHCHECK CONNECT TCP 7000
HEALTHCHECK --start-period=0s --start-interval=0s --interval=5s --timeout=0s --retries=0 CMD ["foo"]
"#,
        r#"(from "debian")
(add "check.sh" "main.sh" "/app/")
(cmd "/app/main.sh")
(healthcheck)
(healthcheck ["--interval=5s" "--timeout=3s" "--retries=3"] "CMD" "/app/check.sh --quiet")
(healthcheck "CMD")
(healthcheck "CMD" "a b")
(healthcheck ["--timeout=3s"] "CMD" "foo")
(healthcheck "CONNECT" "TCP 7000")
(healthcheck ["--start-period=0s" "--start-interval=0s" "--interval=5s" "--timeout=0s" "--retries=0"] "CMD" "foo")"#,
    ),
    (
        "json",
        r#"CMD []
CMD [""]
CMD ["a"]
CMD ["a","b"]
CMD [ "a", "b" ]
CMD [	"a",	"b"	]
CMD	[	"a",	"b"	]	
CMD ["abc 123", "♥", "☃", "\" \\ \/ \b \f \n \r \t \u0000"]
"#,
        r#"(cmd)
(cmd "")
(cmd "a")
(cmd "a" "b")
(cmd "a" "b")
(cmd "a" "b")
(cmd "a" "b")
(cmd "abc 123" "♥" "☃" "\" \\ / \b \f \n \r \t \x00")"#,
    ),
    (
        "escape-after-comment",
        r#"# Comment here. Should not be looking for the following parser directive.
# Hence the following line will be ignored, and the subsequent backslash
# continuation will be the default.
# escape = `

FROM image
LABEL maintainer foo@bar.com
ENV GOPATH \
\go"#,
        r#"(from "image")
(label "maintainer" "foo@bar.com" "")
(env "GOPATH" "\\go" "")"#,
    ),
    (
        "escape-nonewline",
        r#"# escape = `
# There is no white space line after the directives. This still succeeds, but goes
# against best practices.
FROM image
LABEL maintainer foo@bar.com
ENV GOPATH `
\go
"#,
        r#"(from "image")
(label "maintainer" "foo@bar.com" "")
(env "GOPATH" "\\go" "")"#,
    ),
    (
        "escape-with-syntax",
        r#"# syntax = docker/dockerfile
# escape = `

FROM `
    image
"#,
        r#"(from "image")"#,
    ),
    (
        "jeztah-invalid-json-json-inside-string-double",
        r#"CMD "[\"echo\", \"Phew, I just managed to escaped those double quotes\"]"
"#,
        r#"(cmd "\"[\\\"echo\\\", \\\"Phew, I just managed to escaped those double quotes\\\"]\"")"#,
    ),
    (
        "jeztah-invalid-json-single-quotes",
        r#"CMD ['echo','single quotes are invalid JSON']
"#,
        r#"(cmd "['echo','single quotes are invalid JSON']")"#,
    ),
    (
        "jeztah-invalid-json-unterminated-bracket",
        r#"CMD ["echo", "Please, close the brackets when you're done"
"#,
        r#"(cmd "[\"echo\", \"Please, close the brackets when you're done\"")"#,
    ),
    (
        "jeztah-invalid-json-unterminated-string",
        r#"CMD ["echo", "look ma, no quote!]
"#,
        r#"(cmd "[\"echo\", \"look ma, no quote!]")"#,
    ),
    (
        "kartar-entrypoint-oddities",
        r#"FROM ubuntu:14.04
LABEL maintainer James Turnbull "james@example.com"
ENV REFRESHED_AT 2014-06-01
RUN apt-get update
RUN apt-get --no-install-recommends install -y redis-server redis-tools
EXPOSE 6379
ENTRYPOINT [ "/usr/bin/redis-server" ]
"#,
        r#"(from "ubuntu:14.04")
(label "maintainer" "James Turnbull \"james@example.com\"" "")
(env "REFRESHED_AT" "2014-06-01" "")
(run "apt-get update")
(run "apt-get --no-install-recommends install -y redis-server redis-tools")
(expose "6379")
(entrypoint "/usr/bin/redis-server")"#,
    ),
    (
        "ADD-COPY-with-JSON",
        r#"FROM	ubuntu:14.04
LABEL	maintainer	Seongyeol Lim <seongyeol37@gmail.com>

COPY	.	/go/src/github.com/docker/docker
ADD		.	/
ADD		null /
COPY	nullfile /tmp
ADD		[ "vimrc", "/tmp" ]
COPY	[ "bashrc", "/tmp" ]
COPY	[ "test file", "/tmp" ]
ADD		[ "test file", "/tmp/test file" ]
"#,
        r#"(from "ubuntu:14.04")
(label "maintainer" "Seongyeol Lim <seongyeol37@gmail.com>" "")
(copy "." "/go/src/github.com/docker/docker")
(add "." "/")
(add "null" "/")
(copy "nullfile" "/tmp")
(add "vimrc" "/tmp")
(copy "bashrc" "/tmp")
(copy "test file" "/tmp")
(add "test file" "/tmp/test file")"#,
    ),
    (
        "args",
        r#"ARG foo bar=baz
FROM ubuntu
ARG abc="123 456" def
"#,
        r#"(arg "foo" "bar=baz")
(from "ubuntu")
(arg "abc=\"123 456\"" "def")"#,
    ),
    (
        "lk4d4-the-edge-case-generator",
        r#"FROM busybox:buildroot-2014.02

LABEL maintainer docker <docker@docker.io>

ONBUILD RUN ["echo", "test"]
ONBUILD RUN echo test
ONBUILD COPY . /


# RUN Commands \
# linebreak in comment \
RUN ["ls", "-la"]
RUN ["echo", "'1234'"]
RUN echo "1234"
RUN echo 1234
RUN echo '1234' && \
    echo "456" && \
    echo 789
RUN    sh -c 'echo root:testpass \
        > /tmp/passwd'
RUN mkdir -p /test /test2 /test3/test

# ENV \
ENV SCUBA 1 DUBA 3
ENV SCUBA "1 DUBA 3"

# CMD \
CMD ["echo", "test"]
CMD echo test
CMD echo "test"
CMD echo 'test'
CMD echo 'test' | wc -

#EXPOSE\
EXPOSE 3000
EXPOSE 9000 5000 6000

USER docker
USER docker:root

VOLUME ["/test"]
VOLUME ["/test", "/test2"]
VOLUME /test3

WORKDIR /test

ADD . /
COPY . copy
"#,
        r#"(from "busybox:buildroot-2014.02")
(label "maintainer" "docker <docker@docker.io>" "")
(onbuild (run "echo" "test"))
(onbuild (run "echo test"))
(onbuild (copy "." "/"))
(run "ls" "-la")
(run "echo" "'1234'")
(run "echo \"1234\"")
(run "echo 1234")
(run "echo '1234' &&     echo \"456\" &&     echo 789")
(run "sh -c 'echo root:testpass         > /tmp/passwd'")
(run "mkdir -p /test /test2 /test3/test")
(env "SCUBA" "1 DUBA 3" "")
(env "SCUBA" "\"1 DUBA 3\"" "")
(cmd "echo" "test")
(cmd "echo test")
(cmd "echo \"test\"")
(cmd "echo 'test'")
(cmd "echo 'test' | wc -")
(expose "3000")
(expose "9000" "5000" "6000")
(user "docker")
(user "docker:root")
(volume "/test")
(volume "/test" "/test2")
(volume "/test3")
(workdir "/test")
(add "." "/")
(copy "." "copy")"#,
    ),
    (
        "mail",
        r#"FROM ubuntu:14.04

RUN apt-get update -qy && apt-get install mutt offlineimap vim-nox abook elinks curl tmux cron zsh -y
ADD .muttrc /
ADD .offlineimaprc /
ADD .tmux.conf /
ADD mutt /.mutt
ADD vim /.vim
ADD vimrc /.vimrc
ADD crontab /etc/crontab
RUN chmod 644 /etc/crontab
RUN mkdir /Mail
RUN mkdir /.offlineimap
RUN echo "export TERM=screen-256color" >/.zshenv

CMD setsid cron; tmux -2
"#,
        r#"(from "ubuntu:14.04")
(run "apt-get update -qy && apt-get install mutt offlineimap vim-nox abook elinks curl tmux cron zsh -y")
(add ".muttrc" "/")
(add ".offlineimaprc" "/")
(add ".tmux.conf" "/")
(add "mutt" "/.mutt")
(add "vim" "/.vim")
(add "vimrc" "/.vimrc")
(add "crontab" "/etc/crontab")
(run "chmod 644 /etc/crontab")
(run "mkdir /Mail")
(run "mkdir /.offlineimap")
(run "echo \"export TERM=screen-256color\" >/.zshenv")
(cmd "setsid cron; tmux -2")"#,
    ),
    (
        "multiple-volumes",
        r#"FROM foo

VOLUME /opt/nagios/var /opt/nagios/etc /opt/nagios/libexec /var/log/apache2 /usr/share/snmp/mibs
"#,
        r#"(from "foo")
(volume "/opt/nagios/var" "/opt/nagios/etc" "/opt/nagios/libexec" "/var/log/apache2" "/usr/share/snmp/mibs")"#,
    ),
    (
        "brimstone-consuldock",
        r#"#escape=\
FROM brimstone/ubuntu:14.04

LABEL maintainer brimstone@the.narro.ws

# TORUN -v /var/run/docker.sock:/var/run/docker.sock

ENV GOPATH /go

# Set our command
ENTRYPOINT ["/usr/local/bin/consuldock"]

# Install the packages we need, clean up after them and us
RUN apt-get update \
	&& dpkg -l | awk '/^ii/ {print $2}' > /tmp/dpkg.clean \
    && apt-get --no-install-recommends install -y git golang ca-certificates \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists \

	&& go get -v github.com/brimstone/consuldock \
    && mv $GOPATH/bin/consuldock /usr/local/bin/consuldock \

	&& dpkg -l | awk '/^ii/ {print $2}' > /tmp/dpkg.dirty \
	&& apt-get remove --purge -y $(diff /tmp/dpkg.clean /tmp/dpkg.dirty | awk '/^>/ {print $2}') \
	&& rm /tmp/dpkg.* \
	&& rm -rf $GOPATH
"#,
        r#"(from "brimstone/ubuntu:14.04")
(label "maintainer" "brimstone@the.narro.ws" "")
(env "GOPATH" "/go" "")
(entrypoint "/usr/local/bin/consuldock")
(run "apt-get update \t&& dpkg -l | awk '/^ii/ {print $2}' > /tmp/dpkg.clean     && apt-get --no-install-recommends install -y git golang ca-certificates     && apt-get clean     && rm -rf /var/lib/apt/lists \t&& go get -v github.com/brimstone/consuldock     && mv $GOPATH/bin/consuldock /usr/local/bin/consuldock \t&& dpkg -l | awk '/^ii/ {print $2}' > /tmp/dpkg.dirty \t&& apt-get remove --purge -y $(diff /tmp/dpkg.clean /tmp/dpkg.dirty | awk '/^>/ {print $2}') \t&& rm /tmp/dpkg.* \t&& rm -rf $GOPATH")"#,
    ),
];

#[test]
fn buildkit_testfiles_dump_identically() {
    for (name, dockerfile, want) in DUMP_CASES {
        let ast = parse_ast(dockerfile).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(ast.dump(), *want, "case {name}");
    }
}

#[test]
fn negative_testfiles_fail() {
    let cases: &[(&str, &str)] = &[
        ("", "the Dockerfile cannot be empty"),
        (
            "# only a comment\n\n   # another\n",
            "file with no instructions",
        ),
        ("FROM busybox\nENV PATH", "ENV must have two arguments"),
        (
            "CMD [ \"echo\", [ \"nested json\" ] ]",
            "when using JSON array syntax, arrays must be comprised of strings only",
        ),
    ];
    for (text, msg) in cases {
        let err = parse(text).unwrap_err();
        assert_eq!(err.message(), *msg, "{text:?}");
        assert_eq!(err.kind(), ParseErrorKind::Syntax);
        assert_eq!(
            err.to_string(),
            *msg,
            "syntax errors keep BuildKit's bare text"
        );
    }
}

#[test]
fn line_numbers_span_continuations_comments_and_heredocs() {
    let text = "# comment\n\n\n\nFROM brimstone/golang:onbuild\n\n\n\n\nRUN echo \\\n    hello\n\n\n\n\nCOPY <<EOF /a\nline1\n\nline3\nEOF\nENV x=1 \\\n  # inner comment\n  y=2\n";
    let ast = parse_ast(text).unwrap();
    let lines: Vec<(usize, usize)> = ast
        .children
        .iter()
        .map(|c| (c.start_line, c.end_line))
        .collect();
    assert_eq!(lines, vec![(5, 5), (10, 11), (16, 20), (21, 23)]);
    assert_eq!(ast.children[3].dump(), r#"env "x" "1" "=" "y" "2" "=""#);
}

#[test]
fn empty_continuation_lines_warn() {
    let text = "\nFROM alpine:3.6\n\nRUN valid \\\n    continuation\n\nRUN something \\\n\n    following \\\n\n    more\n\nRUN another \\\n\n    thing\n\nRUN non-indented \\\n# this is a comment\n   after-comment\n\nRUN indented \\\n    # this is an indented comment\n    comment\n\t";
    let ast = parse_ast(text).unwrap();
    assert_eq!(ast.warnings.len(), 2);
    assert_eq!(
        ast.warnings[0].short,
        "Empty continuation line found in: RUN something     following     more"
    );
    assert_eq!(
        ast.warnings[1].short,
        "Empty continuation line found in: RUN another     thing"
    );
    assert_eq!(ast.warnings[0].line, 11);
}

#[test]
fn overlong_line_is_refused() {
    let text = format!("FROM image\nLABEL test={}\n", "a".repeat(65536));
    let err = parse_ast(&text).unwrap_err();
    assert_eq!(
        err.message(),
        "dockerfile line greater than max allowed size of 65535"
    );
}

#[test]
fn directives() {
    let ast = parse_ast("#escape=\\\n# key = FOO bar\n\n# smth\nFROM x\n").unwrap();
    assert_eq!(ast.directives.len(), 1);
    assert_eq!(
        (
            ast.directives[0].name.as_str(),
            ast.directives[0].value.as_str()
        ),
        ("escape", "\\")
    );

    // Names are case-insensitive; the first non-directive comment ends them.
    let ast = parse_ast("# EScape=`\n# KEY = FOO bar\n# syntax=late\nFROM x\n").unwrap();
    assert_eq!(ast.escape_token, '`');
    assert_eq!(ast.directives.len(), 1);

    let df =
        parse("# syntax = docker/dockerfile:1.7 // opts\n# check=skip=all\n#escape=`\nFROM x\n")
            .unwrap();
    assert_eq!(
        df.directive("syntax"),
        Some("docker/dockerfile:1.7 // opts")
    );
    assert_eq!(df.directive("check"), Some("skip=all"));
    assert_eq!(df.escape_token, '`');

    // A blank line before the directive turns it into a comment.
    assert_eq!(
        parse_ast("\n# escape=`\nFROM x\n").unwrap().escape_token,
        '\\'
    );
    // BOM is ignored.
    assert_eq!(
        parse_ast("\u{feff}# escape=`\nFROM x\n")
            .unwrap()
            .escape_token,
        '`'
    );

    let err = parse_ast("# escape=`\n# escape=\\\nFROM x\n").unwrap_err();
    assert_eq!(
        err.message(),
        "only one escape parser directive can be used"
    );
    assert_eq!(err.line(), 2);
    let err = parse_ast("# escape=x\nFROM x\n").unwrap_err();
    assert_eq!(
        err.message(),
        "invalid escape token 'x' does not match ` or \\"
    );
}

#[test]
fn detect_syntax_like_buildkit() {
    use berth_dockerfile::parser::detect_directive;
    let got = detect_directive(
        "syntax",
        "# syntax = dockerfile:experimental // opts\nFROM busybox\n",
    )
    .unwrap();
    assert_eq!(
        got,
        (
            "dockerfile:experimental".into(),
            "dockerfile:experimental // opts".into(),
            1
        )
    );
    let got = detect_directive(
        "syntax",
        "#!/bin/sh\n# syntax = dockerfile:experimental\nFROM busybox\n",
    )
    .unwrap();
    assert_eq!((got.0.as_str(), got.2), ("dockerfile:experimental", 2));
    assert_eq!(
        detect_directive(
            "syntax",
            "#!/bin/sh\n\n# syntax = dockerfile:experimental\n"
        ),
        None
    );
    assert_eq!(detect_directive("syntax", "FROM busybox\nRUN ls\n"), None);
    assert_eq!(
        detect_directive("syntax", "//syntax=foo\n//key=value")
            .unwrap()
            .0,
        "foo"
    );
    assert_eq!(
        detect_directive("syntax", "#!/bin/sh\n//syntax=x")
            .unwrap()
            .0,
        "x"
    );
    assert_eq!(
        detect_directive("syntax", "{\"syntax\": \"foo\", \"bar\": [\"abc\"]}")
            .unwrap()
            .0,
        "foo"
    );
    assert_eq!(detect_directive("syntax", "{\"syntax\": \"foo\""), None);
    assert_eq!(
        detect_directive("syntax", "{\"syntax\": \"foo\"}\n# syntax=bar"),
        None
    );
    assert_eq!(
        detect_directive("check", "#check = skip=all // opts\nFROM busybox\n")
            .unwrap()
            .0,
        "skip=all"
    );
    assert_eq!(
        detect_directive("check", "//check=skip=all\n//key=value"),
        None
    );
}

fn hd(name: &str, content: &str, expand: bool, chomp: bool, fd: u64) -> Heredoc {
    Heredoc {
        name: name.into(),
        file_descriptor: fd,
        expand,
        chomp,
        content: content.into(),
    }
}

#[test]
fn heredocs_like_buildkit() {
    let text = "\nFROM alpine:3.6\n\nENV NAME=me\n\nRUN ls\n\nUSER <<INVALID\nINVALID\n\nRUN <<EMPTY\nEMPTY\n\nRUN 3<<EMPTY2\nEMPTY2\n\nRUN \"<<NOHEREDOC\"\n\nRUN <<INDENT\n\tfoo\n\tbar\nINDENT\n\nRUN <<-UNINDENT\n\tbaz\n\tquux\nUNINDENT\n\nRUN <<-UNINDENT2\n\tbaz\n\tquux\n\tUNINDENT2\n\nRUN <<-EXPAND\n\texpand $NAME\nEXPAND\n\nRUN <<-'NOEXPAND'\n\tdon't expand $NAME\nNOEXPAND\n\nRUN <<COMMENT\n# internal comment\necho hello world\necho foo bar # trailing comment\nCOMMENT\n\nRUN --mount=type=cache,target=/foo <<MOUNT\necho hello\nMOUNT\n\nCOPY <<FILE1 <<FILE2 /dest\ncontent 1\nFILE1\ncontent 2\nFILE2\n\nCOPY <<X <<Y /dest\nY\nX\nX\nY\n\nRUN <<COMPLEX python3\nprint('hello world')\nCOMPLEX\n\nRUN <<eo'f'\necho foo\neof\n\nRUN <<eo\\'f\necho foo\neo'f\n\nRUN <<'e'o\\'f\necho foo\neo'f\n\nRUN <<'one two'\necho bar\none two\n\nRUN <<$EOF\n$EOF\n\nRUN <<  EOF\nEOF\n\nRUN <<  EOF  > foo\nEOF\n\t";
    let ast = parse_ast(text).unwrap();
    let want: Vec<Vec<Heredoc>> = vec![
        vec![],
        vec![],
        vec![],
        vec![],
        vec![hd("EMPTY", "", true, false, 0)],
        vec![hd("EMPTY2", "", true, false, 3)],
        vec![],
        vec![hd("INDENT", "\tfoo\n\tbar\n", true, false, 0)],
        vec![hd("UNINDENT", "\tbaz\n\tquux\n", true, true, 0)],
        vec![hd("UNINDENT2", "\tbaz\n\tquux\n", true, true, 0)],
        vec![hd("EXPAND", "\texpand $NAME\n", true, true, 0)],
        vec![hd("NOEXPAND", "\tdon't expand $NAME\n", false, true, 0)],
        vec![hd(
            "COMMENT",
            "# internal comment\necho hello world\necho foo bar # trailing comment\n",
            true,
            false,
            0,
        )],
        vec![hd("MOUNT", "echo hello\n", true, false, 0)],
        vec![
            hd("FILE1", "content 1\n", true, false, 0),
            hd("FILE2", "content 2\n", true, false, 0),
        ],
        vec![
            hd("X", "Y\n", true, false, 0),
            hd("Y", "X\n", true, false, 0),
        ],
        vec![hd("COMPLEX", "print('hello world')\n", true, false, 0)],
        vec![hd("eof", "echo foo\n", false, false, 0)],
        vec![hd("eo'f", "echo foo\n", true, false, 0)],
        vec![hd("eo'f", "echo foo\n", false, false, 0)],
        vec![hd("one two", "echo bar\n", false, false, 0)],
        vec![hd("$EOF", "", true, false, 0)],
        vec![hd("EOF", "", true, false, 0)],
        vec![hd("EOF", "", true, false, 0)],
    ];
    for (i, w) in want.iter().enumerate() {
        assert_eq!(
            &ast.children[i + 1].heredocs,
            w,
            "instruction {} ({})",
            i + 1,
            ast.children[i + 1].original
        );
    }
    // USER cannot take a heredoc, so its "body" lines are instructions.
    assert_eq!(ast.children[4].value, "INVALID");
}

#[test]
fn exec_form_never_has_heredocs() {
    let ast = parse_ast("FROM alpine:3.6\nRUN [\"whoami\"]\nRUN [\"<<EOF\"]\nRUN [\"<<'EOF'\"]\n")
        .unwrap();
    assert!(ast.children.iter().all(|c| c.heredocs.is_empty()));
    assert_eq!(ast.children.len(), 4);
}

#[test]
fn unterminated_heredoc_names_its_lines() {
    let err = parse("FROM x\nRUN <<EOF\necho hi\n").unwrap_err();
    assert_eq!(err.message(), "unterminated heredoc");
    assert_eq!((err.line(), err.end_line()), (2, 3));
}

#[test]
fn json_versus_shell_form() {
    let cases: &[(&str, &str)] = &[
        ("CMD [\"a\", \"b\"]", r#"cmd "a" "b""#),
        ("CMD ['a', 'b']", r#"cmd "['a', 'b']""#),
        ("CMD [\"a\", \"b\"", r#"cmd "[\"a\", \"b\"""#),
        ("CMD [\"a\"] trailing", r#"cmd "[\"a\"] trailing""#),
        ("CMD echo [\"a\"]", r#"cmd "echo [\"a\"]""#),
        ("COPY [\"a b\", \"/c\"]", r#"copy "a b" "/c""#),
        ("COPY a   b\t c", r#"copy "a" "b" "c""#),
        ("VOLUME [\"/a\", \"/b\"]", r#"volume "/a" "/b""#),
        ("VOLUME /a /b", r#"volume "/a" "/b""#),
        (
            "SHELL [\"powershell\", \"-command\"]",
            r#"shell "powershell" "-command""#,
        ),
        ("ENTRYPOINT [\"\\u00e9\"]", r#"entrypoint "é""#),
    ];
    for (line, want) in cases {
        let ast = parse_ast(&format!("FROM x\n{line}\n")).unwrap();
        assert_eq!(ast.children[1].dump(), *want, "{line}");
    }
}

#[test]
fn onbuild_dump_and_flags() {
    let ast = parse_ast("FROM x\nONBUILD COPY --from=a b c\nONBUILD RUN echo hi\n").unwrap();
    assert_eq!(
        ast.children[1].dump(),
        r#"onbuild (copy ["--from=a"] "b" "c")"#
    );
    assert_eq!(ast.children[2].dump(), r#"onbuild (run "echo hi")"#);
    assert_eq!(ast.children[1].args(), vec!["COPY", "b", "c"]);
}

#[test]
fn builder_flags_extraction() {
    let cases: &[(&str, &str)] = &[
        (
            "COPY --chown=\"a b\" x y",
            r#"copy ["--chown=a b"] "x" "y""#,
        ),
        ("COPY --chown='a b' x y", r#"copy ["--chown=a b"] "x" "y""#),
        ("COPY --a=1 -- --b=2 y", r#"copy ["--a=1"] "--b=2" "y""#),
        ("COPY -- x y", r#"copy "x" "y""#),
        (
            "RUN --mount=type=cache,target=/x\\ y z",
            r#"run ["--mount=type=cache,target=/x y"] "z""#,
        ),
        ("RUN -x", r#"run "-x""#),
    ];
    for (line, want) in cases {
        let ast = parse_ast(&format!("FROM x\n{line}\n")).unwrap();
        assert_eq!(ast.children[1].dump(), *want, "{line}");
    }
}

#[test]
fn comments_and_escape_edge_cases() {
    // A `#` after an instruction is not a comment.
    let ast = parse_ast("FROM x\nRUN echo hi # not a comment\n").unwrap();
    assert_eq!(ast.children[1].dump(), r#"run "echo hi # not a comment""#);
    // An escaped escape at the end of a line does not continue it.
    let ast = parse_ast("FROM x\nRUN echo a\\\\\nRUN b\n").unwrap();
    assert_eq!(ast.children.len(), 3);
    // Comments directly above an instruction are kept with it.
    let ast = parse_ast("# first\n# second\nFROM x\n\n#\nRUN a\n").unwrap();
    assert_eq!(ast.children[0].comments, vec!["first", "second"]);
    assert!(
        ast.children[1].comments.is_empty(),
        "an empty comment line resets the block"
    );
    // Windows line endings.
    let ast = parse_ast("FROM x\r\nRUN a \\\r\n  b\r\n").unwrap();
    assert_eq!(ast.children[1].dump(), r#"run "a   b""#);
}
