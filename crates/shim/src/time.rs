//! RFC 3339 timestamps in UTC with nanoseconds, as Docker's logs carry them
//! (without a date library: the shim stays small).

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, as `2006-01-02T15:04:05.999999999Z`.
pub fn now() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format_unix(d.as_secs() as i64, d.subsec_nanos())
}

/// Formats seconds and nanoseconds since the epoch (proleptic Gregorian,
/// Howard Hinnant's days-to-civil algorithm).
fn format_unix(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{SecondsFormat, TimeZone, Utc};

    #[test]
    fn matches_chrono_across_the_calendar() {
        // Leap days, century rules, month ends, the epoch and far dates.
        let mut secs: Vec<i64> = vec![0, 951_782_400, 951_868_799, 4_107_542_399, 1_709_164_800];
        secs.extend((0..2000).map(|i| i * 7_919_993 + 12_345));
        for s in secs {
            for nanos in [0, 1, 999_999_999, 123_456_789] {
                let want = Utc
                    .timestamp_opt(s, nanos)
                    .single()
                    .map(|t| t.to_rfc3339_opts(SecondsFormat::Nanos, true));
                assert_eq!(Some(format_unix(s, nanos)), want, "{s}.{nanos}");
            }
        }
    }

    #[test]
    fn now_is_parseable() {
        let n = now();
        assert!(chrono::DateTime::parse_from_rfc3339(&n).is_ok(), "{n}");
    }
}
