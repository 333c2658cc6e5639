//! The pure rules of `COPY`/`ADD`: source globs (Go's `filepath.Match`,
//! `**` not special), destination resolution against `WORKDIR`, the
//! several-sources-need-a-directory rule, `--chown` parsing and resolution
//! against `/etc/passwd` and `/etc/group` contents, `--chmod` (octal or
//! symbolic, as BuildKit accepts), and cleaning context paths.

use crate::golang::{filepath_match, parse_uint, path_clean, path_join, BadPattern, NumError};

/// Whether a source path uses wildcards (`*`, `?`, `[`; `\` escapes).
pub fn contains_wildcards(name: &str) -> bool {
    let b = name.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'*' | b'?' | b'[' => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// Splits a source into the literal directory prefix and the part that
/// has wildcards (fsutil's `splitWildcards`): `src/*/x.go` gives
/// `("src", "*/x.go")`; no wildcards gives `(path, "")`.
pub fn split_wildcards(p: &str) -> (String, String) {
    let joined = if p.is_empty() {
        String::new()
    } else {
        path_clean(p)
    };
    let mut p1: Vec<&str> = Vec::new();
    let mut p2: Vec<&str> = Vec::new();
    let mut found = false;
    for part in joined.split('/') {
        if !found && contains_wildcards(part) {
            found = true;
        }
        let part = if part.is_empty() { "/" } else { part };
        if found {
            p2.push(part);
        } else {
            p1.push(part);
        }
    }
    (path_join(&p1), path_join(&p2))
}

/// Whether a context-relative path matches a source glob (Go's
/// `filepath.Match`: `*` stops at `/`, `**` is two stars).
pub fn glob_match(pattern: &str, path: &str) -> Result<bool, BadPattern> {
    filepath_match(pattern, path)
}

/// Cleans a source path to a path relative to the context root and
/// refuses paths that leave it: `./a/../b` gives `b`, `/x` gives `x`,
/// `../x` is an error worded like the classic builder's
/// (`forbidden path outside the build context: ../x ()`).
///
/// BuildKit itself clamps such paths at the root instead
/// ([`scoped_context_path`]).
pub fn clean_context_path(p: &str) -> Result<String, String> {
    let trimmed = p.strip_prefix('/').unwrap_or(p);
    let cleaned = path_clean(trimmed);
    if cleaned == ".." || cleaned.starts_with("../") {
        return Err(format!("forbidden path outside the build context: {p} ()"));
    }
    Ok(if cleaned == "." {
        String::new()
    } else {
        cleaned
    })
}

/// BuildKit's reading of a source path: cleaned as an absolute path, so
/// `..` cannot go above the context root (`../x` is `x`). Returns the path
/// relative to the root (`""` for the root itself).
pub fn scoped_context_path(p: &str) -> String {
    let abs = path_join(&["/", p]);
    abs.trim_start_matches('/').to_string()
}

/// Resolves a destination against the working directory as BuildKit does
/// (`pathRelativeToWorkingDir`): absolute destinations are cleaned,
/// relative ones joined with `workdir`; a trailing `/` (or `/.`) is kept
/// because it means "into this directory". `.` and `""` mean the working
/// directory itself (`/app/`).
pub fn resolve_dest(workdir: &str, dest: &str) -> String {
    let dest = if dest == "." || dest.is_empty() {
        "./"
    } else {
        dest
    };
    normalize_path(workdir, dest, true)
}

/// BuildKit's `system.NormalizePath` for Linux.
pub fn normalize_path(parent: &str, new_path: &str, keep_slash: bool) -> String {
    let mut parent = if parent.is_empty() {
        "/".to_string()
    } else {
        parent.to_string()
    };
    if !parent.starts_with('/') {
        parent = path_join(&["/", &parent]);
    }
    let orig = new_path;
    let mut p = if new_path.is_empty() {
        parent.clone()
    } else {
        new_path.to_string()
    };
    if !p.starts_with('/') {
        p = path_join(&[&parent, &p]);
    }
    if keep_slash {
        if orig.ends_with('/') && !p.ends_with('/') {
            p.push('/');
        } else if orig.ends_with("/.") {
            if p != "/" {
                p.push('/');
            }
            p.push('.');
        }
    }
    p
}

/// The new working directory after `WORKDIR path` (BuildKit's
/// `NormalizeWorkdir`): relative paths are joined with the current one.
pub fn normalize_workdir(current: &str, path: &str) -> Result<String, String> {
    if path.is_empty() {
        return Err("normalizing workdir: cannot normalize empty path".into());
    }
    Ok(normalize_path(current, path, false))
}

/// Whether a destination names a directory (ends with `/`).
pub fn dest_is_dir(dest: &str) -> bool {
    dest.ends_with('/')
}

/// The classic builder's rule: several sources (after wildcard expansion)
/// need a directory destination ending in `/`.
pub fn check_multiple_sources(
    cmd_name: &str,
    resolved_sources: usize,
    dest: &str,
) -> Result<(), String> {
    if resolved_sources > 1 && !dest_is_dir(dest) {
        return Err(format!(
            "When using {cmd_name} with more than one source file, the destination must be a directory and end with a /"
        ));
    }
    Ok(())
}

/// Where one source file lands: inside `dest` when it names a directory
/// (trailing `/`) or is an existing directory, else at `dest` itself.
pub fn file_destination(dest: &str, source: &str, dest_exists_as_dir: bool) -> String {
    if dest_is_dir(dest) || dest_exists_as_dir {
        let base = crate::golang::path_base(source);
        path_join(&[dest, &base])
    } else {
        path_clean(dest)
    }
}

/// One side of a `--chown` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdSpec {
    /// A numeric id (`root` counts as 0).
    Id(u32),
    /// A name to look up.
    Name(String),
}

/// A parsed `--chown=user[:group]` (BuildKit's `llb.WithUser`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chown {
    /// The user part.
    pub user: IdSpec,
    /// The group part, when given.
    pub group: Option<IdSpec>,
}

fn id_spec(s: &str) -> IdSpec {
    if s == "root" {
        return IdSpec::Id(0);
    }
    match crate::golang::parse_int(s, 32) {
        Ok(v) => IdSpec::Id(v as u32),
        Err(_) => IdSpec::Name(s.to_string()),
    }
}

impl Chown {
    /// Parses `user`, `user:group`, `1000:1000`, `:group` is a user named
    /// `""` as in BuildKit.
    pub fn parse(spec: &str) -> Self {
        let (u, g) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec, None),
        };
        Chown {
            user: id_spec(u),
            group: g.map(id_spec),
        }
    }

    /// Resolves to `(uid, gid)` the way BuildKit's file operations do: a
    /// numeric user alone sets both ids; a user name takes its uid and
    /// primary gid from `passwd`; a group name its gid from `group`.
    /// Unknown names resolve to 0, as in BuildKit; use
    /// [`Chown::resolve_strict`] to refuse them.
    pub fn resolve(&self, passwd: Option<&str>, group: Option<&str>) -> (u32, u32) {
        let (mut uid, mut gid) = (0, 0);
        match &self.user {
            IdSpec::Id(id) => {
                uid = *id;
                gid = *id;
            }
            IdSpec::Name(n) => {
                if let Some(u) = passwd.and_then(|p| find_passwd(p, n)) {
                    uid = u.1;
                    gid = u.2;
                }
            }
        }
        match &self.group {
            None => {}
            Some(IdSpec::Id(id)) => gid = *id,
            Some(IdSpec::Name(n)) => {
                if let Some(g) = group.and_then(|g| find_group(g, n)) {
                    gid = g;
                }
            }
        }
        (uid, gid)
    }

    /// Like [`Chown::resolve`] but unknown names are errors, worded like
    /// the classic builder (`unable to convert uid/gid chown string to host
    /// mapping: can't find uid for user nobody2: no such user: nobody2`).
    pub fn resolve_strict(
        &self,
        passwd: Option<&str>,
        group: Option<&str>,
    ) -> Result<(u32, u32), String> {
        let prefix = "unable to convert uid/gid chown string to host mapping";
        if let IdSpec::Name(n) = &self.user {
            if passwd.and_then(|p| find_passwd(p, n)).is_none() {
                return Err(format!(
                    "{prefix}: can't find uid for user {n}: no such user: {n}"
                ));
            }
        }
        if let Some(IdSpec::Name(n)) = &self.group {
            if group.and_then(|g| find_group(g, n)).is_none() {
                return Err(format!(
                    "{prefix}: can't find gid for group {n}: no such group: {n}"
                ));
            }
        }
        Ok(self.resolve(passwd, group))
    }
}

fn atoi_lenient(s: &str) -> u32 {
    s.trim().parse::<i64>().map(|v| v as u32).unwrap_or(0)
}

/// Looks up `name` in passwd content: `(name, uid, gid)` of the first entry.
pub fn find_passwd(content: &str, name: &str) -> Option<(String, u32, u32)> {
    content
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f[0] == name).then(|| {
                (
                    f[0].to_string(),
                    f.get(2).map(|s| atoi_lenient(s)).unwrap_or(0),
                    f.get(3).map(|s| atoi_lenient(s)).unwrap_or(0),
                )
            })
        })
}

/// Looks up a group name in group content: its gid.
pub fn find_group(content: &str, name: &str) -> Option<u32> {
    content
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f[0] == name).then(|| f.get(2).map(|s| atoi_lenient(s)).unwrap_or(0))
        })
}

/// A parsed `--chmod` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chmod {
    /// An octal mode, at most `07777`.
    Octal(u32),
    /// A symbolic mode (`u+x,go-w`) applied to each file's current mode.
    Symbolic(SymbolicMode),
}

impl Chmod {
    /// Parses like BuildKit: octal first, else chmod(1) symbolic syntax.
    pub fn parse(s: &str) -> Result<Self, String> {
        let non_octal = || {
            format!(
                "invalid chmod parameter: '{s}'. it should be octal string and between 0 and 07777"
            )
        };
        match parse_uint(s, 8, 32) {
            Ok(v) if v > 0o7777 => Err(non_octal()),
            Ok(v) => Ok(Chmod::Octal(v as u32)),
            Err(_) => match SymbolicMode::parse(s) {
                Ok(m) => Ok(Chmod::Symbolic(m)),
                Err(ModeError::Numeric) => Err(non_octal()),
                Err(ModeError::Syntax) => Err("invalid syntax".into()),
            },
        }
    }

    /// The mode a file gets: `mode` is its current mode with the file type
    /// bits (`0o040000` for directories).
    pub fn apply(&self, mode: u32) -> u32 {
        match self {
            Chmod::Octal(m) => (mode & !0o7777) | m,
            Chmod::Symbolic(s) => s.apply(mode),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModeError {
    Syntax,
    Numeric,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BitCmd {
    cmd: u8,
    cmd2: u8,
    bits: u32,
}

const CMD2_CLEAR: u8 = 1;
const CMD2_SET: u8 = 2;
const CMD2_GBITS: u8 = 4;
const CMD2_OBITS: u8 = 8;
const CMD2_UBITS: u8 = 16;
const IS_UID: u32 = 0o4000;
const IS_GID: u32 = 0o2000;
const IS_TXT: u32 = 0o1000;
const RWXU: u32 = 0o700;
const RWXG: u32 = 0o070;
const RWXO: u32 = 0o007;
const STANDARD: u32 = IS_UID | IS_GID | RWXU | RWXG | RWXO;

/// A symbolic mode (BSD `setmode` semantics, as `tonistiigi/dchapes-mode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolicMode {
    cmds: Vec<BitCmd>,
}

impl SymbolicMode {
    fn parse(s: &str) -> Result<Self, ModeError> {
        let mut m = SymbolicMode { cmds: Vec::new() };
        let b = s.as_bytes();
        if b.is_empty() {
            return Err(ModeError::Syntax);
        }
        if b[0].is_ascii_digit() {
            let v = match parse_uint(s, 8, 16) {
                Ok(v) => v as u32,
                Err(NumError::Syntax) | Err(NumError::Range) => return Err(ModeError::Numeric),
            };
            if v & !(STANDARD | IS_TXT) != 0 {
                return Err(ModeError::Syntax);
            }
            m.addcmd(b'=', STANDARD | IS_TXT, v, 0);
            return Ok(m);
        }
        let mask: u32 = !0;
        let mut pos = 0usize;
        let mut equal_op_done = false;
        loop {
            let mut who: u32 = 0;
            loop {
                if pos >= b.len() {
                    return Err(ModeError::Syntax);
                }
                match b[pos] {
                    b'a' => who |= STANDARD,
                    b'u' => who |= IS_UID | RWXU,
                    b'g' => who |= IS_GID | RWXG,
                    b'o' => who |= RWXO,
                    _ => break,
                }
                pos += 1;
            }
            'getop: loop {
                if pos >= b.len() {
                    return Err(ModeError::Syntax);
                }
                let op = b[pos];
                pos += 1;
                match op {
                    b'+' | b'-' => {}
                    b'=' => equal_op_done = false,
                    _ => return Err(ModeError::Syntax),
                }
                who &= !IS_TXT;
                let mut perm: u32 = 0;
                let mut perm_x: u32 = 0;
                loop {
                    let c = b.get(pos).copied().unwrap_or(0);
                    match c {
                        b'r' => perm |= 0o444,
                        b's' => {
                            if who == 0 || who & !RWXO != 0 {
                                perm |= IS_UID | IS_GID;
                            }
                        }
                        b't' => {
                            if who == 0 || who & !RWXO != 0 {
                                who |= IS_TXT;
                                perm |= IS_TXT;
                            }
                        }
                        b'w' => perm |= 0o222,
                        b'X' => {
                            if op == b'+' {
                                perm_x = 0o111;
                            }
                        }
                        b'x' => perm |= 0o111,
                        b'u' | b'g' | b'o' => {
                            if perm != 0 {
                                m.addcmd(op, who, perm, mask);
                                perm = 0;
                            }
                            if op == b'=' {
                                equal_op_done = true;
                            }
                            if perm_x != 0 {
                                m.addcmd(b'X', who, perm_x, mask);
                                perm_x = 0;
                            }
                            m.addcmd(c, who, u32::from(op), mask);
                        }
                        _ => {
                            if perm != 0 || (op == b'=' && !equal_op_done) {
                                if op == b'=' {
                                    equal_op_done = true;
                                }
                                m.addcmd(op, who, perm, mask);
                            }
                            if perm_x != 0 {
                                m.addcmd(b'X', who, perm_x, mask);
                            }
                            break;
                        }
                    }
                    pos += 1;
                }
                if pos >= b.len() {
                    m.compress();
                    return Ok(m);
                }
                if b[pos] != b',' {
                    continue 'getop;
                }
                pos += 1;
                break;
            }
        }
    }

    fn addcmd(&mut self, op: u8, who: u32, oparg: u32, mask: u32) {
        let mut c = BitCmd {
            cmd: 0,
            cmd2: 0,
            bits: 0,
        };
        let mut op = op;
        match op {
            b'=' | b'+' | b'-' | b'X' => {
                if op == b'=' {
                    c.cmd = b'-';
                    c.bits = if who != 0 { who } else { STANDARD };
                    self.cmds.push(c);
                    op = b'+';
                }
                c.cmd = op;
                c.bits = if who != 0 { who & oparg } else { mask & oparg };
            }
            _ => {
                c.cmd = op;
                if who != 0 {
                    if who & 0o400 != 0 {
                        c.cmd2 |= CMD2_UBITS;
                    }
                    if who & 0o040 != 0 {
                        c.cmd2 |= CMD2_GBITS;
                    }
                    if who & 0o004 != 0 {
                        c.cmd2 |= CMD2_OBITS;
                    }
                    c.bits = !0;
                } else {
                    c.cmd2 = CMD2_UBITS | CMD2_GBITS | CMD2_OBITS;
                    c.bits = mask;
                }
                match oparg as u8 {
                    b'+' => c.cmd2 |= CMD2_SET,
                    b'-' => c.cmd2 |= CMD2_CLEAR,
                    b'=' => c.cmd2 |= CMD2_SET | CMD2_CLEAR,
                    _ => {}
                }
            }
        }
        self.cmds.push(c);
    }

    fn compress(&mut self) {
        let mut out: Vec<BitCmd> = Vec::new();
        let mut i = 0;
        while i < self.cmds.len() {
            let c = self.cmds[i];
            if !matches!(c.cmd, b'+' | b'-' | b'X') {
                out.push(c);
                i += 1;
                continue;
            }
            let (mut setbits, mut clrbits, mut xbits) = (0u32, 0u32, 0u32);
            while i < self.cmds.len() {
                let c = self.cmds[i];
                match c.cmd {
                    b'-' => {
                        clrbits |= c.bits;
                        setbits &= !c.bits;
                        xbits &= !c.bits;
                    }
                    b'+' => {
                        setbits |= c.bits;
                        clrbits &= !c.bits;
                        xbits &= !c.bits;
                    }
                    b'X' => xbits |= c.bits & !setbits,
                    _ => break,
                }
                i += 1;
            }
            for (cmd, bits) in [(b'-', clrbits), (b'+', setbits), (b'X', xbits)] {
                if bits != 0 {
                    out.push(BitCmd { cmd, cmd2: 0, bits });
                }
            }
        }
        self.cmds = out;
    }

    /// Applies the mode to `mode` (file type bits included).
    pub fn apply(&self, mode: u32) -> u32 {
        let omode = mode & 0o7777;
        let is_dir = mode & 0o170000 == 0o040000;
        let mut newmode = omode;
        for c in &self.cmds {
            let common = |newmode: &mut u32, value: u32| {
                if c.cmd2 & CMD2_CLEAR != 0 {
                    let clrval = if c.cmd2 & CMD2_SET != 0 { RWXO } else { value };
                    if c.cmd2 & CMD2_UBITS != 0 {
                        *newmode &= !((clrval << 6) & c.bits);
                    }
                    if c.cmd2 & CMD2_GBITS != 0 {
                        *newmode &= !((clrval << 3) & c.bits);
                    }
                    if c.cmd2 & CMD2_OBITS != 0 {
                        *newmode &= !(clrval & c.bits);
                    }
                }
                if c.cmd2 & CMD2_SET != 0 {
                    if c.cmd2 & CMD2_UBITS != 0 {
                        *newmode |= (value << 6) & c.bits;
                    }
                    if c.cmd2 & CMD2_GBITS != 0 {
                        *newmode |= (value << 3) & c.bits;
                    }
                    if c.cmd2 & CMD2_OBITS != 0 {
                        *newmode |= value & c.bits;
                    }
                }
            };
            match c.cmd {
                b'u' => {
                    let v = (newmode & RWXU) >> 6;
                    common(&mut newmode, v);
                }
                b'g' => {
                    let v = (newmode & RWXG) >> 3;
                    common(&mut newmode, v);
                }
                b'o' => {
                    let v = newmode & RWXO;
                    common(&mut newmode, v);
                }
                b'+' => newmode |= c.bits,
                b'-' => newmode &= !c.bits,
                b'X' if omode & 0o111 != 0 || is_dir => newmode |= c.bits,
                _ => {}
            }
        }
        (mode & !0o7777) | (newmode & 0o7777)
    }
}
