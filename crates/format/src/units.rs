//! Human-readable units, ported from `github.com/docker/go-units` and Go's
//! `fmt` float formatting (`%g` / `%v`).

use std::time::Duration;

const DECIMAL_ABBRS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY_ABBRS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// go-units `HumanSizeWithPrecision(size, 3)` for an integer byte count:
/// decimal units `B`, `kB`, `MB`, ... printed with Go's `%.3g` (e.g.
/// `4260000` -> `"4.26MB"`, `0` -> `"0B"`, `999` -> `"999B"`, `1000` -> `"1kB"`).
///
/// Like Go, a value that rounds up to 1000 in its unit prints in exponent
/// form (`999_500` -> `"1e+03kB"`).
pub fn human_size(bytes: u64) -> String {
    human_size_f(bytes as f64)
}

/// go-units `HumanSizeWithPrecision(size, 3)` for a float byte count; see
/// [`human_size`].
pub fn human_size_f(bytes: f64) -> String {
    let (size, unit) = size_and_unit(bytes, 1000.0, &DECIMAL_ABBRS);
    format!("{}{}", go_format_g(size, Some(3)), unit)
}

/// go-units `BytesSize`: binary units `B`, `KiB`, `MiB`, `GiB`, ... printed
/// with Go's `%.4g` (what `docker stats` uses, e.g. `1536.0` -> `"1.5KiB"`).
pub fn bytes_size(bytes: f64) -> String {
    let (size, unit) = size_and_unit(bytes, 1024.0, &BINARY_ABBRS);
    format!("{}{}", go_format_g(size, Some(4)), unit)
}

/// go-units `getSizeAndUnit`: divide by `base` while the value is at least
/// `base` and a bigger unit exists.
fn size_and_unit(mut size: f64, base: f64, abbrs: &[&'static str]) -> (f64, &'static str) {
    let mut i = 0;
    while size >= base && i < abbrs.len() - 1 {
        size /= base;
        i += 1;
    }
    (size, abbrs[i])
}

/// go-units `HumanDuration`: "Less than a second", "1 second", "N seconds",
/// "About a minute", "N minutes", "About an hour", "N hours", "N days",
/// "N weeks", "N months", "N years" (with go-units' rounding rules).
pub fn human_duration(d: Duration) -> String {
    const HOUR: f64 = 3600.0;
    const DAY: f64 = 24.0 * HOUR;
    const WEEK: f64 = 7.0 * DAY;
    const MONTH: f64 = 30.0 * DAY;
    const YEAR: f64 = 365.0 * DAY;
    let secs_f = d.as_secs_f64();
    // go-units roundDuration: int(float64(d)/float64(unit) + 0.5)
    let round = |unit: f64| (secs_f / unit + 0.5) as i64;
    let seconds = d.as_secs();
    if seconds < 1 {
        return "Less than a second".to_string();
    }
    if seconds == 1 {
        return "1 second".to_string();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = seconds / 60;
    if minutes == 1 {
        return "About a minute".to_string();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = round(HOUR);
    if hours == 1 {
        return "About an hour".to_string();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if secs_f < 2.0 * WEEK {
        return format!("{} days", round(DAY));
    }
    if secs_f < 2.0 * MONTH {
        return format!("{} weeks", round(WEEK));
    }
    if secs_f < 2.0 * YEAR {
        return format!("{} months", round(MONTH));
    }
    format!("{} years", round(YEAR))
}

/// docker's `CreatedSince` / `RunningFor`: [`human_duration`] of the time
/// elapsed since `unix_secs` (clamped at zero for future times) + `" ago"`.
pub fn time_ago(unix_secs: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let elapsed = now.saturating_sub(unix_secs).max(0);
    format!(
        "{} ago",
        human_duration(Duration::from_secs(elapsed as u64))
    )
}

/// Formats `f` like Go's `fmt` verb `%.<prec>g` (`prec` significant
/// digits, trailing zeros removed, exponent form when the decimal exponent
/// is < -4 or >= `prec`), or like `%v` when `prec` is `None` (shortest
/// round-trip digits, exponent form when the exponent is < -4 or >= 6, e.g.
/// `1e+06`).
pub(crate) fn go_format_g(f: f64, prec: Option<usize>) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let (raw, eprec) = match prec {
        Some(p) => {
            let p = p.max(1);
            (format!("{:.*e}", p - 1, f), p as i32)
        }
        None => (format!("{f:e}"), 6),
    };
    let (mantissa, exp) = match raw.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (raw.as_str(), 0),
    };
    let neg = mantissa.starts_with('-');
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if digits == "0" {
        out.push('0');
        return out;
    }
    if exp < -4 || exp >= eprec {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.unsigned_abs()));
    } else {
        let dp = exp + 1; // position of the decimal point within `digits`
        if dp <= 0 {
            out.push_str("0.");
            out.push_str(&"0".repeat(dp.unsigned_abs() as usize));
            out.push_str(&digits);
        } else {
            let dp = dp as usize;
            if dp >= digits.len() {
                out.push_str(&digits);
                out.push_str(&"0".repeat(dp - digits.len()));
            } else {
                out.push_str(&digits[..dp]);
                out.push('.');
                out.push_str(&digits[dp..]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_size_table() {
        let cases: &[(u64, &str)] = &[
            (0, "0B"),
            (1, "1B"),
            (999, "999B"),
            (1000, "1kB"),
            (1024, "1.02kB"),
            (1234, "1.23kB"),
            (4_260_000, "4.26MB"),
            (1_234_567, "1.23MB"),
            (187_000_000, "187MB"),
            (7_380_000, "7.38MB"),
            (10_000_000, "10MB"),
            (999_499, "999kB"),
            (999_500, "1e+03kB"),
            (1_000_000_000, "1GB"),
            (1_500_000_000_000, "1.5TB"),
            (u64::MAX, "18.4EB"),
        ];
        for (n, want) in cases {
            assert_eq!(human_size(*n), *want, "human_size({n})");
        }
        assert_eq!(human_size_f(12.5), "12.5B");
    }

    #[test]
    fn bytes_size_table() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0B"),
            (1023.0, "1023B"),
            (1024.0, "1KiB"),
            (1536.0, "1.5KiB"),
            (1_048_576.0, "1MiB"),
            (3_456_789.0, "3.297MiB"),
            (1_073_741_824.0, "1GiB"),
            (2.5 * 1_099_511_627_776.0, "2.5TiB"),
        ];
        for (n, want) in cases {
            assert_eq!(bytes_size(*n), *want, "bytes_size({n})");
        }
    }

    #[test]
    fn human_duration_table() {
        let s = Duration::from_secs;
        let cases: &[(Duration, &str)] = &[
            (Duration::from_millis(0), "Less than a second"),
            (Duration::from_millis(999), "Less than a second"),
            (s(1), "1 second"),
            (Duration::from_millis(1999), "1 second"),
            (s(2), "2 seconds"),
            (s(59), "59 seconds"),
            (s(60), "About a minute"),
            (s(119), "About a minute"),
            (s(120), "2 minutes"),
            (s(59 * 60 + 59), "59 minutes"),
            (s(3600), "About an hour"),
            (s(3600 + 29 * 60), "About an hour"),
            (s(3600 + 30 * 60), "2 hours"),
            (s(47 * 3600), "47 hours"),
            (s(47 * 3600 + 30 * 60), "2 days"),
            (s(13 * 86400), "13 days"),
            (s(14 * 86400 - 1), "14 days"),
            (s(14 * 86400), "2 weeks"),
            (s(59 * 86400), "8 weeks"),
            (s(60 * 86400), "2 months"),
            (s(364 * 86400), "12 months"),
            (s(2 * 365 * 86400 - 1), "24 months"),
            (s(2 * 365 * 86400), "2 years"),
            (s(10 * 365 * 86400), "10 years"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(*d), *want, "human_duration({d:?})");
        }
    }

    #[test]
    fn time_ago_suffix() {
        let now = chrono::Utc::now().timestamp();
        assert_eq!(time_ago(now - 3 * 3600), "3 hours ago");
        assert_eq!(time_ago(now + 100), "Less than a second ago");
    }

    #[test]
    fn go_g_formatting() {
        assert_eq!(go_format_g(1e6, None), "1e+06");
        assert_eq!(go_format_g(123456.0, None), "123456");
        assert_eq!(go_format_g(1.5, None), "1.5");
        assert_eq!(go_format_g(0.0001, None), "0.0001");
        assert_eq!(go_format_g(0.00001, None), "1e-05");
        assert_eq!(go_format_g(-2.25, None), "-2.25");
        assert_eq!(go_format_g(100.0, Some(3)), "100");
        assert_eq!(go_format_g(1000.0, Some(3)), "1e+03");
        assert_eq!(go_format_g(123456.0, Some(4)), "1.235e+05");
        assert_eq!(go_format_g(0.0, Some(3)), "0");
    }
}
