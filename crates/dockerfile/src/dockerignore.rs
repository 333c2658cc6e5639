//! `.dockerignore` files and path matching exactly like moby's
//! `patternmatcher` and `ignorefile` packages, plus the directory-skipping
//! rule of the context walker (`tonistiigi/fsutil`): `**`, `*`, `?`,
//! `[...]`, `\` escapes, leading `/` and `./` cleaned, `!` exceptions, last
//! match wins, and an excluded directory is still walked when an exception
//! could match inside it.
//!
//! Paths given to the matcher are relative to the context root and use `/`
//! (`src/main.rs`, not `./src/main.rs`).

use crate::golang::{filepath_match, path_clean, BadPattern};

/// Reads a `.dockerignore` (moby's `ignorefile.ReadAll`): strips a UTF-8
/// BOM, skips `#` comment lines and blank lines, trims whitespace, cleans
/// each pattern and removes a leading `/`, keeping the `!` prefix.
pub fn read_dockerignore(content: &str) -> Vec<String> {
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let mut out = Vec::new();
    for raw in content.lines() {
        if raw.starts_with('#') {
            continue;
        }
        let mut pattern = raw.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut p = String::new();
        if !pattern.is_empty() {
            p = path_clean(pattern);
            if p.len() > 1 && p.starts_with('/') {
                p.remove(0);
            }
        }
        if invert {
            p.insert(0, '!');
        }
        out.push(p);
    }
    out
}

/// An invalid pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// A lone `!`.
    #[error("illegal exclusion pattern: \"!\"")]
    IllegalExclusion,
    /// Malformed glob (`[a-`, trailing `\`).
    #[error("syntax error in pattern")]
    BadPattern,
}

impl From<BadPattern> for PatternError {
    fn from(_: BadPattern) -> Self {
        PatternError::BadPattern
    }
}

#[derive(Debug, Clone)]
enum MatchType {
    Exact,
    Prefix,
    Suffix,
    Regexp(regex::Regex),
}

/// One compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    cleaned: String,
    dirs: usize,
    exclusion: bool,
    match_type: MatchType,
}

impl Pattern {
    /// The cleaned pattern without the `!`.
    pub fn as_str(&self) -> &str {
        &self.cleaned
    }

    /// Whether this is an exception (`!pattern`).
    pub fn is_exclusion(&self) -> bool {
        self.exclusion
    }

    fn matches(&self, path: &str) -> bool {
        match &self.match_type {
            MatchType::Exact => path == self.cleaned,
            MatchType::Prefix => path.starts_with(&self.cleaned[..self.cleaned.len() - 2]),
            MatchType::Suffix => {
                let suffix = &self.cleaned[2..];
                if path.ends_with(suffix) {
                    return true;
                }
                suffix.starts_with('/') && path == &suffix[1..]
            }
            MatchType::Regexp(re) => re.is_match(path),
        }
    }

    fn compile(cleaned: &str) -> Result<MatchType, PatternError> {
        let mut reg = String::from("^");
        let mut detected = 0u8; // 0 exact, 1 prefix, 2 suffix, 3 regexp
        let chars: Vec<char> = cleaned.chars().collect();
        let mut i = 0usize;
        let mut n = 0usize;
        while i < chars.len() {
            let ch = chars[i];
            i += 1;
            if ch == '*' {
                if chars.get(i) == Some(&'*') {
                    i += 1;
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                    if i >= chars.len() {
                        if detected == 0 {
                            detected = 1;
                        } else {
                            reg.push_str(".*");
                            detected = 3;
                        }
                    } else {
                        reg.push_str("(.*/)?");
                        detected = 3;
                    }
                    if n == 0 {
                        detected = 2;
                    }
                } else {
                    reg.push_str("[^/]*");
                    detected = 3;
                }
            } else if ch == '?' {
                reg.push_str("[^/]");
                detected = 3;
            } else if ".+()|{}$".contains(ch) {
                reg.push('\\');
                reg.push(ch);
            } else if ch == '\\' {
                if i < chars.len() {
                    reg.push('\\');
                    reg.push(chars[i]);
                    i += 1;
                    detected = 3;
                } else {
                    reg.push('\\');
                }
            } else if ch == '[' || ch == ']' {
                reg.push(ch);
                detected = 3;
            } else {
                reg.push(ch);
            }
            n += 1;
        }
        Ok(match detected {
            0 => MatchType::Exact,
            1 => MatchType::Prefix,
            2 => MatchType::Suffix,
            _ => {
                reg.push('$');
                MatchType::Regexp(regex::Regex::new(&reg).map_err(|_| PatternError::BadPattern)?)
            }
        })
    }
}

/// A list of patterns, evaluated in order (moby's `PatternMatcher`).
#[derive(Debug, Clone)]
pub struct PatternMatcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

/// Per-pattern results for a directory, handed to its children
/// ([`PatternMatcher::matches_using_parent_results`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchInfo {
    parent_matched: Vec<bool>,
}

impl PatternMatcher {
    /// Compiles patterns (as returned by [`read_dockerignore`]); blank
    /// patterns are skipped.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, PatternError> {
        let mut out = Vec::new();
        let mut exclusions = false;
        for p in patterns {
            let p = p.as_ref().trim();
            if p.is_empty() {
                continue;
            }
            let mut p = path_clean(p);
            let mut exclusion = false;
            if p.starts_with('!') {
                if p.len() == 1 {
                    return Err(PatternError::IllegalExclusion);
                }
                exclusion = true;
                exclusions = true;
                p.remove(0);
            }
            filepath_match(&p, ".")?;
            let match_type = Pattern::compile(&p)?;
            out.push(Pattern {
                dirs: p.split('/').count(),
                cleaned: p,
                exclusion,
                match_type,
            });
        }
        Ok(PatternMatcher {
            patterns: out,
            exclusions,
        })
    }

    /// The compiled patterns.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Whether any pattern is an exception (`!…`).
    pub fn has_exclusions(&self) -> bool {
        self.exclusions
    }

    /// Whether `file` is excluded: it, or one of its parent directories,
    /// matches a pattern, and no later exception matches (moby's
    /// `MatchesOrParentMatches`).
    pub fn matches_or_parent_matches(&self, file: &str) -> bool {
        let parent = crate::golang::path_dir(file);
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        let mut matched = false;
        for pattern in &self.patterns {
            if pattern.exclusion != matched {
                continue;
            }
            let mut m = pattern.matches(file);
            if !m && parent != "." {
                for i in 0..parent_dirs.len() {
                    if pattern.matches(&parent_dirs[..=i].join("/")) {
                        m = true;
                        break;
                    }
                }
            }
            if m {
                matched = !pattern.exclusion;
            }
        }
        matched
    }

    /// The deprecated single-parent variant (moby's `Matches`), kept for
    /// callers that need the old behaviour.
    pub fn matches(&self, file: &str) -> bool {
        let parent = crate::golang::path_dir(file);
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        let mut matched = false;
        for pattern in &self.patterns {
            if pattern.exclusion != matched {
                continue;
            }
            let mut m = pattern.matches(file);
            if !m && parent != "." && pattern.dirs <= parent_dirs.len() {
                m = pattern.matches(&parent_dirs[..pattern.dirs].join("/"));
            }
            if m {
                matched = !pattern.exclusion;
            }
        }
        matched
    }

    /// Matching during a walk: pass the [`MatchInfo`] of the parent
    /// directory (default for top-level entries) and keep the returned one
    /// for this entry's children (moby's `MatchesUsingParentResults`).
    pub fn matches_using_parent_results(
        &self,
        file: &str,
        parent: &MatchInfo,
    ) -> (bool, MatchInfo) {
        let have_parent = !parent.parent_matched.is_empty();
        let mut info = MatchInfo {
            parent_matched: vec![false; self.patterns.len()],
        };
        let mut matched = false;
        for (i, pattern) in self.patterns.iter().enumerate() {
            let mut m = have_parent && parent.parent_matched.get(i).copied().unwrap_or(false);
            if !m {
                if pattern.exclusion != matched {
                    continue;
                }
                m = pattern.matches(file);
                if !m && !have_parent {
                    let parent_path = crate::golang::path_dir(file);
                    if parent_path != "." {
                        let dirs: Vec<&str> = parent_path.split('/').collect();
                        for j in 0..dirs.len() {
                            if pattern.matches(&dirs[..=j].join("/")) {
                                m = true;
                                break;
                            }
                        }
                    }
                }
            }
            info.parent_matched[i] = m;
            if m {
                matched = !pattern.exclusion;
            }
        }
        (matched, info)
    }

    /// For an excluded directory: whether the walk may skip it entirely.
    /// It may unless an exception could match something inside it; when an
    /// exception uses wildcards before its last element, nothing can be
    /// skipped (fsutil's `onlyPrefixExcludeExceptions`).
    pub fn can_skip_dir(&self, dir: &str) -> bool {
        if !self.exclusions {
            return true;
        }
        let only_prefix = self.patterns.iter().filter(|p| p.exclusion).all(|p| {
            !pattern_without_trailing_glob(&p.cleaned).contains(['*', '[', ']', '?', '^', '\\'])
        });
        if !only_prefix {
            return false;
        }
        let dir_slash = format!("{dir}/");
        !self.patterns.iter().filter(|p| p.exclusion).any(|p| {
            format!("{}/", pattern_without_trailing_glob(&p.cleaned)).starts_with(&dir_slash)
        })
    }
}

fn pattern_without_trailing_glob(p: &str) -> &str {
    let p = p.strip_suffix("/**").unwrap_or(p);
    p.strip_suffix("/*").unwrap_or(p)
}

/// What a context walk should do with one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkDecision {
    /// Send it.
    Include,
    /// Leave it out but keep walking into it (directories with possible
    /// exceptions inside).
    Exclude,
    /// Leave it and everything below it out.
    SkipDir,
}

impl PatternMatcher {
    /// Decides one entry of a context walk, as fsutil does: `path` relative
    /// to the context, `is_dir` for directories, `parent` the [`MatchInfo`]
    /// returned for its directory. Returns the decision and the info to
    /// pass to this entry's children.
    pub fn walk_decision(
        &self,
        path: &str,
        is_dir: bool,
        parent: &MatchInfo,
    ) -> (WalkDecision, MatchInfo) {
        let (m, info) = self.matches_using_parent_results(path, parent);
        if !m {
            return (WalkDecision::Include, info);
        }
        if is_dir && self.can_skip_dir(path) {
            return (WalkDecision::SkipDir, info);
        }
        (WalkDecision::Exclude, info)
    }
}
