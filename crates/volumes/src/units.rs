//! go-units `RAMInBytes` (binary size suffixes), used by the local driver's
//! `size` option and `--mount tmpfs-size=`, and Go's `strconv.ParseBool`.

/// Parses a size with binary multiples as go-units `RAMInBytes` does:
/// `1024`, `64m`, `1.5g`, `2KiB`, `10 MB` (suffixes `b k m g t p`, an
/// optional `i` and `b`, any case). Errors carry go-units' text
/// (`invalid size: 'x'`, `invalid suffix: 'q'`).
pub fn ram_in_bytes(size: &str) -> Result<i64, String> {
    let sep = size.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ');
    let Some(sep) = sep else {
        return Err(format!("invalid size: '{size}'"));
    };
    let (num, sfx) = if size.as_bytes()[sep] != b' ' {
        (&size[..=sep], &size[sep + 1..])
    } else {
        (&size[..sep], &size[sep + 1..])
    };
    let value: f64 = num
        .parse()
        .map_err(|_| format!("strconv.ParseFloat: parsing \"{num}\": invalid syntax"))?;
    if value < 0.0 || value.is_nan() {
        return Err(format!("invalid size: '{size}'"));
    }
    if sfx.is_empty() {
        return Ok(value as i64);
    }
    let bad = || format!("invalid suffix: '{}'", sfx.to_lowercase());
    if sfx.len() > 3 {
        return Err(bad());
    }
    let lower = sfx.to_lowercase();
    let b = lower.as_bytes();
    if b[0] == b'b' {
        return if b.len() > 1 {
            Err(bad())
        } else {
            Ok(value as i64)
        };
    }
    let mul: f64 = match b[0] {
        b'k' => 1024.0,
        b'm' => 1024.0 * 1024.0,
        b'g' => 1024.0 * 1024.0 * 1024.0,
        b't' => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        b'p' => 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    match b.len() {
        2 if b[1] != b'b' => return Err(bad()),
        3 if &b[1..] != b"ib" => return Err(bad()),
        _ => {}
    }
    Ok((value * mul) as i64)
}

/// Go's `strconv.ParseBool`: `1 t T TRUE true True` and
/// `0 f F FALSE false False`.
pub fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_sizes() {
        for (s, want) in [
            ("32", 32),
            ("32b", 32),
            ("32B", 32),
            ("32k", 32 * 1024),
            ("32K", 32 * 1024),
            ("32kb", 32 * 1024),
            ("32Kib", 32 * 1024),
            ("32KIB", 32 * 1024),
            ("32Mb", 32 << 20),
            ("32Gb", 32 << 30),
            ("32GB", 32 << 30),
            ("32Tb", 32 << 40),
            ("32Pb", 32 << 50),
            ("32PB", 32 << 50),
            ("32P", 32 << 50),
            ("32.3", 32),
            ("32 m", 32 << 20),
            ("1.5g", 3 << 29),
            ("0", 0),
        ] {
            assert_eq!(ram_in_bytes(s), Ok(want), "{s}");
        }
        for (s, err) in [
            ("", "invalid size: ''"),
            ("hello", "invalid size: 'hello'"),
            ("-32", "invalid size: '-32'"),
            ("32bm", "invalid suffix: 'bm'"),
            ("32mbx", "invalid suffix: 'mbx'"),
            (
                "32mib2",
                "strconv.ParseFloat: parsing \"32mib2\": invalid syntax",
            ),
            ("32q", "invalid suffix: 'q'"),
            ("32kibx", "invalid suffix: 'kibx'"),
            ("32mx", "invalid suffix: 'mx'"),
        ] {
            assert_eq!(ram_in_bytes(s), Err(err.to_string()), "{s}");
        }
    }

    #[test]
    fn go_bools() {
        assert_eq!(parse_go_bool("True"), Some(true));
        assert_eq!(parse_go_bool("0"), Some(false));
        assert_eq!(parse_go_bool("yes"), None);
    }
}
