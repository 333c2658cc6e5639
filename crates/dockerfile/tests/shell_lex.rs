//! BuildKit's `shell/envVarTest`, `shell/wordsTest` and `lex_test.go` tables,
//! adapted to Rust: expansion results and errors must match `shell.Lex`.

use std::collections::BTreeMap;

use berth_dockerfile::shell_lex::{EmptyEnv, Lex};

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// (input, expected or None for an error) with PWD=/home SHELL=bash KOREAN=한국어 NULL=""
const ENV_VAR_TEST: &[(&str, Option<&str>)] = &[
    (r#"hello"#, Some(r#"hello"#)),
    (r#"he'll'o"#, Some(r#"hello"#)),
    (r#"he'llo"#, None),
    (r#"he\'llo"#, Some(r#"he'llo"#)),
    (r#"he\\'llo"#, None),
    (r#"abc\tdef"#, Some(r#"abctdef"#)),
    (r#""abc\tdef""#, Some(r#"abc\tdef"#)),
    (r#""abc\\tdef""#, Some(r#"abc\tdef"#)),
    (r#"'abc\tdef'"#, Some(r#"abc\tdef"#)),
    (r#"hello\"#, Some(r#"hello"#)),
    (r#"hello\\"#, Some(r#"hello\"#)),
    (r#""hello"#, None),
    (r#""hello\""#, None),
    (r#""hel'lo""#, Some(r#"hel'lo"#)),
    (r#"'hello"#, None),
    (r#"'hello\'"#, Some(r#"hello\"#)),
    (r#"'hello\there'"#, Some(r#"hello\there"#)),
    (r#"'hello\\there'"#, Some(r#"hello\\there"#)),
    (r#""''""#, Some(r#"''"#)),
    (r#"$."#, Some(r#"$."#)),
    (r#"he$1x"#, Some(r#"hex"#)),
    (r#"he$.x"#, Some(r#"he$.x"#)),
    (r#"he$pwd."#, Some(r#"he."#)),
    (r#"he$PWD"#, Some(r#"he/home"#)),
    (r#"he\$PWD"#, Some(r#"he$PWD"#)),
    (r#"he\\$PWD"#, Some(r#"he\/home"#)),
    (r#""he\$PWD""#, Some(r#"he$PWD"#)),
    (r#""he\\$PWD""#, Some(r#"he\/home"#)),
    (r#"\${}"#, Some(r#"${}"#)),
    (r#"\${}aaa"#, Some(r#"${}aaa"#)),
    (r#"he\${}"#, Some(r#"he${}"#)),
    (r#"he\${}xx"#, Some(r#"he${}xx"#)),
    (r#"${}"#, None),
    (r#"${}aaa"#, None),
    (r#"he${}"#, None),
    (r#"he${}xx"#, None),
    (r#"he${hi}"#, Some(r#"he"#)),
    (r#"he${hi}xx"#, Some(r#"hexx"#)),
    (r#"he${PWD}"#, Some(r#"he/home"#)),
    (r#"he${.}"#, None),
    (r#"he${XXX:-000}xx"#, Some(r#"he000xx"#)),
    (r#"he${PWD:-000}xx"#, Some(r#"he/homexx"#)),
    (r#"he${XXX:-$PWD}xx"#, Some(r#"he/homexx"#)),
    (r#"he${XXX:-${PWD:-yyy}}xx"#, Some(r#"he/homexx"#)),
    (r#"he${XXX:-${YYY:-yyy}}xx"#, Some(r#"heyyyxx"#)),
    (r#"he${XXX:YYY}"#, None),
    (r#"he${XXX?}"#, None),
    (r#"he${XXX:?}"#, None),
    (r#"he${PWD?}"#, Some(r#"he/home"#)),
    (r#"he${PWD:?}"#, Some(r#"he/home"#)),
    (r#"he${NULL?}"#, Some(r#"he"#)),
    (r#"he${NULL:?}"#, None),
    (r#"he${XXX:+${PWD}}xx"#, Some(r#"hexx"#)),
    (r#"he${PWD:+${XXX}}xx"#, Some(r#"hexx"#)),
    (r#"he${PWD:+${SHELL}}xx"#, Some(r#"hebashxx"#)),
    (r#"he${XXX:+000}xx"#, Some(r#"hexx"#)),
    (r#"he${PWD:+000}xx"#, Some(r#"he000xx"#)),
    (r#"'he${XX}'"#, Some(r#"he${XX}"#)),
    (r#""he${PWD}""#, Some(r#"he/home"#)),
    (r#""he'$PWD'""#, Some(r#"he'/home'"#)),
    (r#""$PWD""#, Some(r#"/home"#)),
    (r#"'$PWD'"#, Some(r#"$PWD"#)),
    (r#"'\$PWD'"#, Some(r#"\$PWD"#)),
    (r#"'"hello"'"#, Some(r#""hello""#)),
    (r#"he\$PWD"#, Some(r#"he$PWD"#)),
    (r#""he\$PWD""#, Some(r#"he$PWD"#)),
    (r#"'he\$PWD'"#, Some(r#"he\$PWD"#)),
    (r#"he${PWD"#, None),
    (r#"he${PWD:=000}xx"#, None),
    (r#"he${PWD:+${PWD}:}xx"#, Some(r#"he/home:xx"#)),
    (r#"he${XXX:-\$PWD:}xx"#, Some(r#"he$PWD:xx"#)),
    (r#"he${XXX:-\${PWD}z}xx"#, Some(r#"he${PWDz}xx"#)),
    (r#"안녕하세요"#, Some(r#"안녕하세요"#)),
    (r#"안'녕'하세요"#, Some(r#"안녕하세요"#)),
    (r#"안'녕하세요"#, None),
    (r#"안녕\'하세요"#, Some(r#"안녕'하세요"#)),
    (r#"안\\'녕하세요"#, None),
    (r#"안녕\t하세요"#, Some(r#"안녕t하세요"#)),
    (r#""안녕\t하세요""#, Some(r#"안녕\t하세요"#)),
    (r#"'안녕\t하세요"#, None),
    (r#"안녕하세요\"#, Some(r#"안녕하세요"#)),
    (r#"안녕하세요\\"#, Some(r#"안녕하세요\"#)),
    (r#""안녕하세요"#, None),
    (r#""안녕하세요\""#, None),
    (r#""안녕'하세요""#, Some(r#"안녕'하세요"#)),
    (r#"'안녕하세요"#, None),
    (r#"'안녕하세요\'"#, Some(r#"안녕하세요\"#)),
    (r#"안녕$1x"#, Some(r#"안녕x"#)),
    (r#"안녕$.x"#, Some(r#"안녕$.x"#)),
    (r#"안녕$pwd."#, Some(r#"안녕."#)),
    (r#"안녕$PWD"#, Some(r#"안녕/home"#)),
    (r#"안녕\$PWD"#, Some(r#"안녕$PWD"#)),
    (r#"안녕\\$PWD"#, Some(r#"안녕\/home"#)),
    (r#"안녕\${}"#, Some(r#"안녕${}"#)),
    (r#"안녕\${}xx"#, Some(r#"안녕${}xx"#)),
    (r#"안녕${}"#, None),
    (r#"안녕${}xx"#, None),
    (r#"안녕${hi}"#, Some(r#"안녕"#)),
    (r#"안녕${hi}xx"#, Some(r#"안녕xx"#)),
    (r#"안녕${PWD}"#, Some(r#"안녕/home"#)),
    (r#"안녕${.}"#, None),
    (r#"안녕${XXX:-000}xx"#, Some(r#"안녕000xx"#)),
    (r#"안녕${PWD:-000}xx"#, Some(r#"안녕/homexx"#)),
    (r#"안녕${XXX:-$PWD}xx"#, Some(r#"안녕/homexx"#)),
    (r#"안녕${XXX:-${PWD:-yyy}}xx"#, Some(r#"안녕/homexx"#)),
    (r#"안녕${XXX:-${YYY:-yyy}}xx"#, Some(r#"안녕yyyxx"#)),
    (r#"안녕${XXX:YYY}"#, None),
    (r#"안녕${XXX:+${PWD}}xx"#, Some(r#"안녕xx"#)),
    (r#"안녕${PWD:+${XXX}}xx"#, Some(r#"안녕xx"#)),
    (r#"안녕${PWD:+${SHELL}}xx"#, Some(r#"안녕bashxx"#)),
    (r#"안녕${XXX:+000}xx"#, Some(r#"안녕xx"#)),
    (r#"안녕${PWD:+000}xx"#, Some(r#"안녕000xx"#)),
    (r#"'안녕${XX}'"#, Some(r#"안녕${XX}"#)),
    (r#""안녕${PWD}""#, Some(r#"안녕/home"#)),
    (r#""안녕'$PWD'""#, Some(r#"안녕'/home'"#)),
    (r#"'"안녕"'"#, Some(r#""안녕""#)),
    (r#"안녕\$PWD"#, Some(r#"안녕$PWD"#)),
    (r#""안녕\$PWD""#, Some(r#"안녕$PWD"#)),
    (r#"'안녕\$PWD'"#, Some(r#"안녕\$PWD"#)),
    (r#"안녕${PWD"#, None),
    (r#"안녕${PWD:=000}xx"#, None),
    (r#"안녕${PWD:+${PWD}:}xx"#, Some(r#"안녕/home:xx"#)),
    (r#"안녕${XXX:-\$PWD:}xx"#, Some(r#"안녕$PWD:xx"#)),
    (r#"안녕${XXX:-\${PWD}z}xx"#, Some(r#"안녕${PWDz}xx"#)),
    (r#"$KOREAN"#, Some(r#"한국어"#)),
    (r#"안녕$KOREAN"#, Some(r#"안녕한국어"#)),
    (r#"${{aaa}"#, None),
    (r#"${aaa}}"#, Some(r#"}"#)),
    (r#"${aaa"#, None),
    (r#"${{aaa:-bbb}"#, None),
    (r#"${aaa:-bbb}}"#, Some(r#"bbb}"#)),
    (r#"${aaa:-bbb"#, None),
    (r#"${aaa:-bbb}"#, Some(r#"bbb"#)),
    (r#"${aaa:-${bbb:-ccc}}"#, Some(r#"ccc"#)),
    (r#"${aaa:-bbb ${foo}"#, None),
    (r#"${aaa:-bbb {foo}"#, Some(r#"bbb {foo"#)),
    (r#"${:}"#, None),
    (r#"${:-bbb}"#, None),
    (r#"${:+bbb}"#, None),
    (r#"$1"#, Some(r#""#)),
    (r#"${1}"#, Some(r#""#)),
    (r#"${1:+bbb}"#, Some(r#""#)),
    (r#"${1:-bbb}"#, Some(r#"bbb"#)),
    (r#"$2"#, Some(r#""#)),
    (r#"${2}"#, Some(r#""#)),
    (r#"${2:+bbb}"#, Some(r#""#)),
    (r#"${2:-bbb}"#, Some(r#"bbb"#)),
    (r#"$3"#, Some(r#""#)),
    (r#"${3}"#, Some(r#""#)),
    (r#"${3:+bbb}"#, Some(r#""#)),
    (r#"${3:-bbb}"#, Some(r#"bbb"#)),
    (r#"$4"#, Some(r#""#)),
    (r#"${4}"#, Some(r#""#)),
    (r#"${4:+bbb}"#, Some(r#""#)),
    (r#"${4:-bbb}"#, Some(r#"bbb"#)),
    (r#"$5"#, Some(r#""#)),
    (r#"${5}"#, Some(r#""#)),
    (r#"${5:+bbb}"#, Some(r#""#)),
    (r#"${5:-bbb}"#, Some(r#"bbb"#)),
    (r#"$6"#, Some(r#""#)),
    (r#"${6}"#, Some(r#""#)),
    (r#"${6:+bbb}"#, Some(r#""#)),
    (r#"${6:-bbb}"#, Some(r#"bbb"#)),
    (r#"$7"#, Some(r#""#)),
    (r#"${7}"#, Some(r#""#)),
    (r#"${7:+bbb}"#, Some(r#""#)),
    (r#"${7:-bbb}"#, Some(r#"bbb"#)),
    (r#"$8"#, Some(r#""#)),
    (r#"${8}"#, Some(r#""#)),
    (r#"${8:+bbb}"#, Some(r#""#)),
    (r#"${8:-bbb}"#, Some(r#"bbb"#)),
    (r#"$9"#, Some(r#""#)),
    (r#"${9}"#, Some(r#""#)),
    (r#"${9:+bbb}"#, Some(r#""#)),
    (r#"${9:-bbb}"#, Some(r#"bbb"#)),
    (r#"$999"#, Some(r#""#)),
    (r#"${999}"#, Some(r#""#)),
    (r#"${999:+bbb}"#, Some(r#""#)),
    (r#"${999:-bbb}"#, Some(r#"bbb"#)),
    (r#"$999aaa"#, Some(r#"aaa"#)),
    (r#"${999}aaa"#, Some(r#"aaa"#)),
    (r#"${999:+bbb}aaa"#, Some(r#"aaa"#)),
    (r#"${999:-bbb}aaa"#, Some(r#"bbbaaa"#)),
    (r#"$001"#, Some(r#""#)),
    (r#"${001}"#, Some(r#""#)),
    (r#"${001:+bbb}"#, Some(r#""#)),
    (r#"${001:-bbb}"#, Some(r#"bbb"#)),
    (r#"$001aaa"#, Some(r#"aaa"#)),
    (r#"${001}aaa"#, Some(r#"aaa"#)),
    (r#"${001:+bbb}aaa"#, Some(r#"aaa"#)),
    (r#"${001:-bbb}aaa"#, Some(r#"bbbaaa"#)),
    (r#"$@"#, Some(r#""#)),
    (r#"${@}"#, Some(r#""#)),
    (r#"${@:+bbb}"#, Some(r#""#)),
    (r#"${@:-bbb}"#, Some(r#"bbb"#)),
    (r#"$@@@"#, Some(r#"@@"#)),
    (r#"$@aaa"#, Some(r#"aaa"#)),
    (r#"${@}aaa"#, Some(r#"aaa"#)),
    (r#"${@:+bbb}aaa"#, Some(r#"aaa"#)),
    (r#"${@:-bbb}aaa"#, Some(r#"bbbaaa"#)),
    (r#"$*"#, Some(r#""#)),
    (r#"${*}"#, Some(r#""#)),
    (r#"${*:+bbb}"#, Some(r#""#)),
    (r#"${*:-bbb}"#, Some(r#"bbb"#)),
    (r#"$#"#, Some(r#""#)),
    (r#"${#}"#, Some(r#""#)),
    (r#"${#:+bbb}"#, Some(r#""#)),
    (r#"${#:-bbb}"#, Some(r#"bbb"#)),
    (r#"$?"#, Some(r#""#)),
    (r#"${?}"#, Some(r#""#)),
    (r#"${?:+bbb}"#, Some(r#""#)),
    (r#"${?:-bbb}"#, Some(r#"bbb"#)),
    (r#"$-"#, Some(r#""#)),
    (r#"${-}"#, Some(r#""#)),
    (r#"${-:+bbb}"#, Some(r#""#)),
    (r#"${-:-bbb}"#, Some(r#"bbb"#)),
    (r#"$$"#, Some(r#""#)),
    (r#"${$}"#, Some(r#""#)),
    (r#"${$:+bbb}"#, Some(r#""#)),
    (r#"${$:-bbb}"#, Some(r#"bbb"#)),
    (r#"$!"#, Some(r#""#)),
    (r#"${!}"#, Some(r#""#)),
    (r#"${!:+bbb}"#, Some(r#""#)),
    (r#"${!:-bbb}"#, Some(r#"bbb"#)),
    (r#"$0"#, Some(r#""#)),
    (r#"${0}"#, Some(r#""#)),
    (r#"${0:+bbb}"#, Some(r#""#)),
    (r#"${0:-bbb}"#, Some(r#"bbb"#)),
];

/// (ENV lines so far, input, expected words joined by "," or "error")
/// ENV lines in effect, input, expected words.
type WordsCase = (
    &'static [(&'static str, &'static str)],
    &'static str,
    &'static str,
);

const WORDS_TEST: &[WordsCase] = &[
    (&[], r#"hello"#, r#"hello"#),
    (&[], r#"hello${hi}bye"#, r#"hellobye"#),
    (&[(r#"hi"#, r#"hi"#)], r#"hello${hi}bye"#, r#"hellohibye"#),
    (
        &[(r#"hi"#, r#"hi"#), (r#"space"#, r#"abc  def"#)],
        r#"hello${space}bye"#,
        r#"helloabc,defbye"#,
    ),
    (
        &[(r#"hi"#, r#"hi"#), (r#"space"#, r#"abc  def"#)],
        r#"hello"${space}"bye"#,
        r#"helloabc  defbye"#,
    ),
    (
        &[(r#"hi"#, r#"hi"#), (r#"space"#, r#"abc  def"#)],
        r#"hello "${space}"bye"#,
        r#"hello,abc  defbye"#,
    ),
    (
        &[
            (r#"hi"#, r#"hi"#),
            (r#"space"#, r#"abc  def"#),
            (r#"leading"#, r#"  ab c"#),
        ],
        r#"hello${leading}def"#,
        r#"hello,ab,cdef"#,
    ),
    (
        &[
            (r#"hi"#, r#"hi"#),
            (r#"space"#, r#"abc  def"#),
            (r#"leading"#, r#"  ab c"#),
        ],
        r#"hello"${leading}" def"#,
        r#"hello  ab c,def"#,
    ),
    (
        &[
            (r#"hi"#, r#"hi"#),
            (r#"space"#, r#"abc  def"#),
            (r#"leading"#, r#"  ab c"#),
        ],
        r#"hello"${leading}""#,
        r#"hello  ab c"#,
    ),
    (
        &[
            (r#"hi"#, r#"hi"#),
            (r#"space"#, r#"abc  def"#),
            (r#"leading"#, r#"  ab c"#),
        ],
        r#"hello${leading}"#,
        r#"hello,ab,c"#,
    ),
    (
        &[
            (r#"hi"#, r#"hi"#),
            (r#"space"#, r#"abc  def"#),
            (r#"leading"#, r#"  ab c"#),
            (r#"trailing"#, r#"ab c   "#),
        ],
        r#"hello${trailing}"#,
        r#"helloab,c"#,
    ),
    (
        &[
            (r#"hi"#, r#"hi"#),
            (r#"space"#, r#"abc  def"#),
            (r#"leading"#, r#"  ab c"#),
            (r#"trailing"#, r#"ab c   "#),
        ],
        r#"hello${trailing}d"#,
        r#"helloab,c,d"#,
    ),
    (
        &[
            (r#"hi"#, r#"hi"#),
            (r#"space"#, r#"abc  def"#),
            (r#"leading"#, r#"  ab c"#),
            (r#"trailing"#, r#"ab c   "#),
        ],
        r#"hello"${trailing}"d"#,
        r#"helloab c   d"#,
    ),
    (
        &[
            (r#"hi"#, r#"hi"#),
            (r#"space"#, r#"abc  def"#),
            (r#"leading"#, r#"  ab c"#),
            (r#"trailing"#, r#"ab c   "#),
        ],
        r#"hel"lo${trailing}""#,
        r#"helloab c   "#,
    ),
    (
        &[
            (r#"hi"#, r#"hi"#),
            (r#"space"#, r#"abc  def"#),
            (r#"leading"#, r#"  ab c"#),
            (r#"trailing"#, r#"ab c   "#),
        ],
        r#"hello" there  ""#,
        r#"hello there  "#,
    ),
    (
        &[
            (r#"hi"#, r#"hi"#),
            (r#"space"#, r#"abc  def"#),
            (r#"leading"#, r#"  ab c"#),
            (r#"trailing"#, r#"ab c   "#),
        ],
        r#"hello there"#,
        r#"hello,there"#,
    ),
    (
        &[
            (r#"hi"#, r#"hi"#),
            (r#"space"#, r#"abc  def"#),
            (r#"leading"#, r#"  ab c"#),
            (r#"trailing"#, r#"ab c   "#),
        ],
        r#"hello\ there"#,
        r#"hello there"#,
    ),
    (
        &[
            (r#"hi"#, r#"hi"#),
            (r#"space"#, r#"abc  def"#),
            (r#"leading"#, r#"  ab c"#),
            (r#"trailing"#, r#"ab c   "#),
        ],
        r#"hello" there"#,
        r#"error"#,
    ),
    (
        &[
            (r#"hi"#, r#"hi"#),
            (r#"space"#, r#"abc  def"#),
            (r#"leading"#, r#"  ab c"#),
            (r#"trailing"#, r#"ab c   "#),
        ],
        r#"hello\" there"#,
        r#"hello",there"#,
    ),
    (
        &[
            (r#"hi"#, r#"hi"#),
            (r#"space"#, r#"abc  def"#),
            (r#"leading"#, r#"  ab c"#),
            (r#"trailing"#, r#"ab c   "#),
        ],
        r#"hello"\\there""#,
        r#"hello\there"#,
    ),
    (
        &[
            (r#"hi"#, r#"hi"#),
            (r#"space"#, r#"abc  def"#),
            (r#"leading"#, r#"  ab c"#),
            (r#"trailing"#, r#"ab c   "#),
        ],
        r#"hello"\there""#,
        r#"hello\there"#,
    ),
    (
        &[
            (r#"hi"#, r#"hi"#),
            (r#"space"#, r#"abc  def"#),
            (r#"leading"#, r#"  ab c"#),
            (r#"trailing"#, r#"ab c   "#),
        ],
        r#"hello'\\there'"#,
        r#"hello\\there"#,
    ),
    (
        &[
            (r#"hi"#, r#"hi"#),
            (r#"space"#, r#"abc  def"#),
            (r#"leading"#, r#"  ab c"#),
            (r#"trailing"#, r#"ab c   "#),
        ],
        r#"hello'\there'"#,
        r#"hello\there"#,
    ),
    (
        &[
            (r#"hi"#, r#"hi"#),
            (r#"space"#, r#"abc  def"#),
            (r#"leading"#, r#"  ab c"#),
            (r#"trailing"#, r#"ab c   "#),
        ],
        r#"hello'$there'"#,
        r#"hello$there"#,
    ),
];

#[test]
fn env_var_test_table() {
    let lex = Lex::new('\\');
    let e = env(&[
        ("PWD", "/home"),
        ("SHELL", "bash"),
        ("KOREAN", "한국어"),
        ("NULL", ""),
    ]);
    for (input, want) in ENV_VAR_TEST {
        let got = lex.process_word(input, &e);
        match want {
            Some(w) => assert_eq!(got.as_deref(), Ok(*w), "{input}"),
            None => assert!(got.is_err(), "{input} should fail, got {got:?}"),
        }
    }
}

#[test]
fn words_test_table() {
    for raw_and_skip in [false, true] {
        let mut lex = Lex::new('\\');
        lex.raw_quotes = raw_and_skip;
        lex.skip_unset_env = raw_and_skip;
        for (envs, input, want) in WORDS_TEST {
            let e = env(envs);
            let got = match lex.process_words(input, &e) {
                Ok(w) => w.join(","),
                Err(_) => "error".to_string(),
            };
            if raw_and_skip {
                // The second pass of BuildKit's test only checks that the
                // number of words and errors agree.
                assert_eq!(
                    got.split(',').count(),
                    want.split(',').count(),
                    "{input} (raw)"
                );
            } else {
                assert_eq!(got, *want, "{input}");
            }
        }
    }
}

#[test]
fn mandatory_variables() {
    let lex = Lex::new('\\');
    let set = env(&[("VAR", "plain"), ("ARG", "x")]);
    let empty = env(&[("VAR", ""), ("ARG", "x")]);
    let unset = env(&[("ARG", "x")]);
    let no_empty = "${VAR:?message here$ARG}";
    let no_unset = "${VAR?message here$ARG}";
    assert_eq!(lex.process_word(no_empty, &set).unwrap(), "plain");
    assert!(lex
        .process_word(no_empty, &empty)
        .unwrap_err()
        .to_string()
        .contains("message herex"));
    assert!(lex
        .process_word(no_empty, &unset)
        .unwrap_err()
        .to_string()
        .contains("message herex"));
    assert_eq!(lex.process_word(no_unset, &set).unwrap(), "plain");
    assert_eq!(lex.process_word(no_unset, &empty).unwrap(), "");
    assert_eq!(
        lex.process_word(no_unset, &unset).unwrap_err().to_string(),
        r#"failed to process "${VAR?message here$ARG}": VAR: message herex"#
    );
    assert_eq!(
        lex.process_word("${X:?}", &unset).unwrap_err().to_string(),
        r#"failed to process "${X:?}": X: is not allowed to be unset"#
    );
}

#[test]
fn error_messages() {
    let lex = Lex::new('\\');
    let cases = [
        ("he${}", "syntax error: bad substitution"),
        ("${aaa", "unsupported modifier (\u{fffd}) in substitution"),
        ("${aaa:-b", "syntax error: missing '}'"),
        (
            "'abc",
            "unexpected end of statement while looking for matching single-quote",
        ),
        (
            "\"abc",
            "unexpected end of statement while looking for matching double-quote",
        ),
        ("${x:=1}", "unsupported modifier (:=) in substitution"),
        ("${x:#a}", "unsupported modifier (:#) in substitution"),
        ("${x/a", "syntax error: missing '/' in ${}"),
    ];
    for (input, msg) in cases {
        let err = lex.process_word(input, &EmptyEnv).unwrap_err();
        assert_eq!(err.message, msg, "{input}");
    }
}

/// (input, env, expected or None, matched, unmatched)
type MatchCase = (
    &'static str,
    &'static [(&'static str, &'static str)],
    Option<&'static str>,
    &'static [&'static str],
    &'static [&'static str],
);

#[test]
fn process_with_matches() {
    let fb: &[(&str, &str)] = &[("FOO", "xxx"), ("BAR", "")];
    let cases: &[MatchCase] = &[
        ("x", &[("DUMMY", "dummy")], Some("x"), &[], &[]),
        (
            "x ${UNUSED}",
            &[("DUMMY", "dummy")],
            Some("x "),
            &[],
            &["UNUSED"],
        ),
        ("x ${FOO}", &[("FOO", "y")], Some("x y"), &["FOO"], &[]),
        (
            "${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}",
            fb,
            Some("xxx  ccc"),
            &["BAR", "FOO"],
            &["BAZ"],
        ),
        (
            "${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}",
            fb,
            Some("xxx bbb ccc"),
            &["BAR", "FOO"],
            &["BAZ"],
        ),
        ("${FOO:-}", fb, Some("xxx"), &["FOO"], &[]),
        ("${FOO:-}", &[], Some(""), &[], &["FOO"]),
        (
            "${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}",
            fb,
            Some("aaa bbb "),
            &["BAR", "FOO"],
            &["BAZ"],
        ),
        (
            "${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}",
            fb,
            Some("aaa  "),
            &["BAR", "FOO"],
            &["BAZ"],
        ),
        ("${FOO?aaa}", fb, Some("xxx"), &["FOO"], &[]),
        ("${BAR?bbb}", fb, Some(""), &["BAR"], &[]),
        ("${BAZ?ccc}", fb, None, &[], &[]),
        ("${FOO:?aaa}", fb, Some("xxx"), &["FOO"], &[]),
        ("${BAR:?bbb}", fb, None, &[], &[]),
        ("${BAZ:?ccc}", fb, None, &[], &[]),
        ("${BAZ:?}", fb, None, &[], &[]),
        ("${FOO=aaa}", fb, None, &[], &[]),
        ("${FOO=:aaa}", fb, None, &[], &[]),
        ("${FOO=}", &[], None, &[], &[]),
        (
            "${FOO#()[]{\\}^$.\\*\\?|\\\\}",
            &[("FOO", "()[]{}^$.*?|\\x")],
            Some("x"),
            &["FOO"],
            &[],
        ),
        (
            "${FOO%%\\**}",
            &[("FOO", "xx**")],
            Some("xx"),
            &["FOO"],
            &[],
        ),
        ("${FOO#*x*y}", &[("FOO", "xxyy")], Some("y"), &["FOO"], &[]),
        ("${FOO#*}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
        (
            "${FOO#$BAR}",
            &[("FOO", "xxyy"), ("BAR", "x")],
            Some("xyy"),
            &["BAR", "FOO"],
            &[],
        ),
        (
            "${FOO#$BAR}",
            &[("FOO", "xxyy"), ("BAR", "")],
            Some("xxyy"),
            &["BAR", "FOO"],
            &[],
        ),
        ("${FOO#}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
        ("${FOO##*x}", &[("FOO", "xxyy")], Some("yy"), &["FOO"], &[]),
        ("${FOO##}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
        ("${FOO#?\\?}", &[("FOO", "???y")], Some("?y"), &["FOO"], &[]),
        (
            "${ABC:-.}${FOO%x}${ABC:-.}",
            &[("FOO", "xxyy")],
            Some(".xxyy."),
            &["FOO"],
            &["ABC"],
        ),
        (
            "${FOO%%\\**\\*}",
            &[("FOO", "a***yy*")],
            Some("a"),
            &["FOO"],
            &[],
        ),
        ("${FOO%}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
        (
            "${FOO%%$BAR}",
            &[("FOO", "xxyy"), ("BAR", "")],
            Some("xxyy"),
            &["BAR", "FOO"],
            &[],
        ),
        ("${FOO:#}", &[], None, &[], &[]),
        ("${FOO:##}", &[], None, &[], &[]),
        ("${FOO:%}", &[], None, &[], &[]),
        ("${FOO:%%}", &[], None, &[], &[]),
        (
            "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
            &[("FOO", "/foo*/*/*.txt"), ("NEEDLE", "\\*/")],
            Some("/foo.*/*.txt - /foo..*.txt"),
            &["FOO", "NEEDLE"],
            &[],
        ),
        (
            "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
            &[("FOO", "/tmp/tmp/bar.txt"), ("NEEDLE", "/tmp")],
            Some("/tmp/bar.txt - /bar.txt"),
            &["FOO", "NEEDLE"],
            &[],
        ),
        (
            "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
            &[
                ("FOO", "/a/foo/b/c.txt"),
                ("NEEDLE", "/?/"),
                ("REPLACEMENT", "/"),
            ],
            Some("/foo/b/c.txt - /foo/c.txt"),
            &["FOO", "NEEDLE", "REPLACEMENT"],
            &[],
        ),
        (
            "${FOO/$NEEDLE/$REPLACEMENT}",
            &[
                ("FOO", "http://google.de"),
                ("NEEDLE", "http://"),
                ("REPLACEMENT", "https://"),
            ],
            Some("https://google.de"),
            &["FOO", "NEEDLE", "REPLACEMENT"],
            &[],
        ),
        (
            "${FOO//\\//\\/}",
            &[("FOO", "/tmp/foo.txt")],
            Some("\\/tmp\\/foo.txt"),
            &["FOO"],
            &[],
        ),
        (
            "${FOO/$BAR/ww}",
            &[("FOO", "xxyy"), ("BAR", "")],
            Some("wwxxyy"),
            &["BAR", "FOO"],
            &[],
        ),
        ("${FOO//ww}", &[("FOO", "xxyy")], None, &[], &[]),
        ("${FOO//}", &[("FOO", "xxyy")], None, &[], &[]),
        ("${FOO///}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
        ("${FOO///}", &[], Some(""), &[], &["FOO"]),
    ];
    let lex = Lex::new('\\');
    for (input, envs, want, matched, unmatched) in cases {
        let got = lex.process_word_with_matches(input, &env(envs));
        match want {
            None => assert!(got.is_err(), "{input}: {got:?}"),
            Some(w) => {
                let r = got.unwrap_or_else(|e| panic!("{input}: {e}"));
                assert_eq!(r.result, *w, "{input}");
                assert_eq!(
                    r.matched.iter().map(String::as_str).collect::<Vec<_>>(),
                    *matched,
                    "{input}"
                );
                assert_eq!(
                    r.unmatched.iter().map(String::as_str).collect::<Vec<_>>(),
                    *unmatched,
                    "{input}"
                );
            }
        }
    }
}

#[test]
fn platform_release_names() {
    let lex = Lex::new('\\');
    let word =
        "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz";
    let e = env(&[
        ("VERSION", "v1.2.3"),
        ("TARGETOS", "linux"),
        ("TARGETARCH", "arm"),
        ("TARGETVARIANT", "v7"),
    ]);
    assert_eq!(
        lex.process_word(word, &e).unwrap(),
        "something-v1.2.3.linux-arm-v7.tar.gz"
    );
    let e = env(&[
        ("VERSION", "v1.2.3"),
        ("TARGETOS", "linux"),
        ("TARGETARCH", "arm64"),
        ("TARGETVARIANT", ""),
    ]);
    assert_eq!(
        lex.process_word(word, &e).unwrap(),
        "something-v1.2.3.linux-arm64.tar.gz"
    );
    let e = env(&[
        ("VERSION", "v1.2.3"),
        ("TARGETOS", "linux"),
        ("TARGETARCH", "arm64"),
    ]);
    assert_eq!(
        lex.process_word(word, &e).unwrap(),
        "something-v1.2.3.linux-arm64.tar.gz"
    );
}

#[test]
fn backtick_escape_and_raw_modes() {
    let mut lex = Lex::new('`');
    let e = env(&[("X", "1")]);
    assert_eq!(lex.process_word("a`$X\\b", &e).unwrap(), "a$X\\b");
    assert_eq!(lex.process_word("\"`\"q`\"\"", &e).unwrap(), "\"q\"");
    lex.skip_unset_env = true;
    assert_eq!(
        lex.process_word("$X ${Y} ${Z:-d}", &e).unwrap(),
        "1 ${Y} ${Z:-d}"
    );
    let mut lex = Lex::new('\\');
    lex.raw_quotes = true;
    lex.raw_escapes = true;
    assert_eq!(
        lex.process_word("'a b' \"$X\" \\c", &e).unwrap(),
        "'a b' \"1\" \\c"
    );
    let mut lex = Lex::new('\\');
    lex.skip_process_quotes = true;
    assert_eq!(lex.process_word("'$X' \"$X\"", &e).unwrap(), "'1' \"1\"");
}

#[test]
fn words_share_buildkits_buffer_quirk() {
    // BuildKit's word splitter shares one buffer with nested ${...}
    // expansions, so text before such an expansion is dropped.
    let lex = Lex::new('\\');
    assert_eq!(
        lex.process_words("ab${x:-c}d", &EmptyEnv).unwrap(),
        vec!["cd"]
    );
    assert_eq!(
        lex.process_words("ab ${x:-c d}e f", &EmptyEnv).unwrap(),
        vec!["ab", "c", "de", "f"]
    );
    let e = env(&[("P", "80 443")]);
    assert_eq!(
        lex.process_words("$P 8080", &e).unwrap(),
        vec!["80", "443", "8080"]
    );
}
