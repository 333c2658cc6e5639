//! Lexical handling of tar entry names and link targets.

/// Splits `name` into its cleaned components: empty and `.` components are
/// dropped (so leading `/` and `./` disappear) and `..` removes the previous
/// component. Returns `None` if a `..` would climb above the root.
pub(crate) fn clean(name: &[u8]) -> Option<Vec<&[u8]>> {
    clean_from(Vec::new(), name)
}

/// Like [`clean`], but starting from the already-clean components `base`.
pub(crate) fn clean_from<'a>(mut out: Vec<&'a [u8]>, name: &'a [u8]) -> Option<Vec<&'a [u8]>> {
    for comp in name.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    Some(out)
}

/// Joins components with `/`.
pub(crate) fn join(comps: &[&[u8]]) -> Vec<u8> {
    comps.join(&b'/')
}

/// Whether a symlink at `parent/…` pointing at `target` stays inside the
/// root. Absolute targets are interpreted against the layer root, where
/// `..` cannot climb above `/` (as the kernel resolves them inside the
/// container), so they are always inside; relative targets are joined
/// lexically to the symlink's directory and must not climb above the root.
pub(crate) fn symlink_stays_inside(parent: &[&[u8]], target: &[u8]) -> bool {
    if target.starts_with(b"/") {
        return true;
    }
    clean_from(parent.to_vec(), target).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Option<Vec<String>> {
        clean(s.as_bytes()).map(|v| {
            v.into_iter()
                .map(|x| String::from_utf8_lossy(x).into_owned())
                .collect()
        })
    }

    #[test]
    fn cleaning() {
        assert_eq!(c("./a/b/"), Some(vec!["a".into(), "b".into()]));
        assert_eq!(c("/a//./b"), Some(vec!["a".into(), "b".into()]));
        assert_eq!(c("a/../b"), Some(vec!["b".into()]));
        assert_eq!(c("."), Some(vec![]));
        assert_eq!(c("./"), Some(vec![]));
        assert_eq!(c(""), Some(vec![]));
        assert_eq!(c("../x"), None);
        assert_eq!(c("/../x"), None);
        assert_eq!(c("a/../../x"), None);
    }

    #[test]
    fn symlinks() {
        assert!(symlink_stays_inside(&[], b"/etc"));
        assert!(symlink_stays_inside(&[], b"/../../etc"));
        assert!(symlink_stays_inside(&[b"a", b"b"], b"../../c"));
        assert!(!symlink_stays_inside(&[b"a", b"b"], b"../../../c"));
        assert!(!symlink_stays_inside(&[], b".."));
        assert!(symlink_stays_inside(&[], b"x/.."));
    }
}
