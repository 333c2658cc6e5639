//! moby `patternmatcher` and `ignorefile` behaviour (their test tables,
//! adapted) plus the context walker's directory-skipping rule.

use berth_dockerfile::dockerignore::*;

/// (pattern, path, excluded) from moby's `TestMatches`.
const MATCHES: &[(&str, &str, bool)] = &[
    ("**", "file", true),
    ("**", "file/", true),
    ("**/", "file", true),
    ("**/", "file/", true),
    ("**", "/", true),
    ("**/", "/", true),
    ("**", "dir/file", true),
    ("**/", "dir/file", true),
    ("**", "dir/file/", true),
    ("**/", "dir/file/", true),
    ("**/**", "dir/file", true),
    ("**/**", "dir/file/", true),
    ("dir/**", "dir/file", true),
    ("dir/**", "dir/file/", true),
    ("dir/**", "dir/dir2/file", true),
    ("dir/**", "dir/dir2/file/", true),
    ("**/dir", "dir", true),
    ("**/dir", "dir/file", true),
    ("**/dir2/*", "dir/dir2/file", true),
    ("**/dir2/*", "dir/dir2/file/", true),
    ("**/dir2/**", "dir/dir2/dir3/file", true),
    ("**/dir2/**", "dir/dir2/dir3/file/", true),
    ("**file", "file", true),
    ("**file", "dir/file", true),
    ("**/file", "dir/file", true),
    ("**file", "dir/dir/file", true),
    ("**/file", "dir/dir/file", true),
    ("**/file*", "dir/dir/file", true),
    ("**/file*", "dir/dir/file.txt", true),
    ("**/file*txt", "dir/dir/file.txt", true),
    ("**/file*.txt", "dir/dir/file.txt", true),
    ("**/file*.txt*", "dir/dir/file.txt", true),
    ("**/**/*.txt", "dir/dir/file.txt", true),
    ("**/**/*.txt2", "dir/dir/file.txt", false),
    ("**/*.txt", "file.txt", true),
    ("**/**/*.txt", "file.txt", true),
    ("a**/*.txt", "a/file.txt", true),
    ("a**/*.txt", "a/dir/file.txt", true),
    ("a**/*.txt", "a/dir/dir/file.txt", true),
    ("a/*.txt", "a/dir/file.txt", false),
    ("a/*.txt", "a/file.txt", true),
    ("a/*.txt**", "a/file.txt", true),
    ("a[b-d]e", "ae", false),
    ("a[b-d]e", "ace", true),
    ("a[b-d]e", "aae", false),
    ("a[^b-d]e", "aze", true),
    (".*", ".foo", true),
    (".*", "foo", false),
    ("abc.def", "abcdef", false),
    ("abc.def", "abc.def", true),
    ("abc.def", "abcZdef", false),
    ("abc?def", "abcZdef", true),
    ("abc?def", "abcdef", false),
    ("a\\\\", "a\\", true),
    ("**/foo/bar", "foo/bar", true),
    ("**/foo/bar", "dir/foo/bar", true),
    ("**/foo/bar", "dir/dir2/foo/bar", true),
    ("abc/**", "abc", false),
    ("abc/**", "abc/def", true),
    ("abc/**", "abc/def/ghi", true),
    ("**/.foo", ".foo", true),
    ("**/.foo", "bar.foo", false),
    ("a(b)c/def", "a(b)c/def", true),
    ("a(b)c/def", "a(b)c/xyz", false),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
    (
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        true,
    ),
    (
        "dist/*.whl",
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        true,
    ),
    ("a\\*b", "a*b", true),
];

#[test]
fn moby_matches_table() {
    for (pattern, path, want) in MATCHES {
        let pm = PatternMatcher::new(&[*pattern]).unwrap();
        assert_eq!(
            pm.matches_or_parent_matches(path),
            *want,
            "pattern {pattern:?} path {path:?}"
        );
        // Walking down to the path with parent results gives the same.
        let parts: Vec<&str> = path.split('/').collect();
        let mut info = MatchInfo::default();
        let mut got = false;
        for i in 0..parts.len() {
            let (m, next) = pm.matches_using_parent_results(&parts[..=i].join("/"), &info);
            got = m;
            info = next;
        }
        assert_eq!(got, *want, "walk: pattern {pattern:?} path {path:?}");
    }
}

#[test]
fn multi_pattern_exceptions() {
    let cases: &[(&[&str], &str, bool)] = &[
        (&["**", "!util/docker/web"], "util/docker/web/foo", false),
        (
            &["**", "!util/docker/web", "util/docker/web/foo"],
            "util/docker/web/foo",
            true,
        ),
        (
            &[
                "**",
                "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            ],
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            false,
        ),
        (
            &["**", "!dist/*.whl"],
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            false,
        ),
        (&["*.go", "!main.go"], "main.go", false),
        (&["*.go", "!main.go"], "lib.go", true),
        (&["!main.go", "*.go"], "main.go", true),
        (&["docs"], "docs/a/b.md", true),
        (&["docs", "!docs/keep.md"], "docs/keep.md", false),
        (&["docs", "!docs/keep.md"], "docs/other.md", true),
    ];
    for (patterns, path, want) in cases {
        let pm = PatternMatcher::new(patterns).unwrap();
        assert_eq!(
            pm.matches_or_parent_matches(path),
            *want,
            "{patterns:?} {path}"
        );
    }
}

#[test]
fn single_parent_matches_quirk() {
    // The deprecated Matches only looks at one parent level.
    let pm = PatternMatcher::new(&["docs"]).unwrap();
    assert!(pm.matches("docs/a"));
    let pm = PatternMatcher::new(&["docs/a"]).unwrap();
    assert!(pm.matches("docs/a/b/c"));
}

#[test]
fn pattern_errors() {
    assert_eq!(
        PatternMatcher::new(&["!"]).unwrap_err(),
        PatternError::IllegalExclusion
    );
    assert_eq!(
        PatternMatcher::new(&["["]).unwrap_err(),
        PatternError::BadPattern
    );
    assert_eq!(
        PatternMatcher::new(&["a\\"]).unwrap_err(),
        PatternError::BadPattern
    );
    assert_eq!(
        PatternError::IllegalExclusion.to_string(),
        "illegal exclusion pattern: \"!\""
    );
    assert!(PatternMatcher::new(&["", "  "])
        .unwrap()
        .patterns()
        .is_empty());
}

#[test]
fn read_dockerignore_file() {
    let content = "\u{feff}# comment\n\n  /docs/  \n./build\n!  /docs/keep.md\nfoo/../bar\n *.tmp\r\n# another\n  # not a comment\n!\n";
    assert_eq!(
        read_dockerignore(content),
        vec![
            "docs",
            "build",
            "!docs/keep.md",
            "bar",
            "*.tmp",
            "# not a comment",
            "!"
        ]
    );
    assert_eq!(read_dockerignore("/\n"), vec!["/"]);
}

#[test]
fn directory_skipping() {
    let pm = PatternMatcher::new(&["node_modules", "docs"]).unwrap();
    let (d, _) = pm.walk_decision("node_modules", true, &MatchInfo::default());
    assert_eq!(d, WalkDecision::SkipDir);

    // An exception inside keeps the directory walked, its other files out.
    let pm = PatternMatcher::new(&["docs", "!docs/keep.md"]).unwrap();
    let (d, info) = pm.walk_decision("docs", true, &MatchInfo::default());
    assert_eq!(d, WalkDecision::Exclude);
    assert_eq!(
        pm.walk_decision("docs/keep.md", false, &info).0,
        WalkDecision::Include
    );
    assert_eq!(
        pm.walk_decision("docs/other.md", false, &info).0,
        WalkDecision::Exclude
    );
    assert!(pm.can_skip_dir("src"));
    assert!(!pm.can_skip_dir("docs"));

    // A wildcard exception means nothing can be skipped.
    let pm = PatternMatcher::new(&["*", "!**/*.go"]).unwrap();
    assert!(!pm.can_skip_dir("vendor"));
    assert_eq!(
        pm.walk_decision("vendor", true, &MatchInfo::default()).0,
        WalkDecision::Exclude
    );
    // A trailing glob on the exception still allows prefix skipping.
    let pm = PatternMatcher::new(&["build", "!build/keep/**"]).unwrap();
    assert!(!pm.can_skip_dir("build"));
    assert!(!pm.can_skip_dir("build/keep"));
    assert!(pm.can_skip_dir("build/other"));
}
