//! Parsing of docker's `--since` / `--until` values, ported from docker's
//! `api/types/time.GetTimestamp` and Go's `time.ParseDuration`.

use chrono::{FixedOffset, NaiveDate, Offset, TimeZone};

use crate::FormatError;

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// Parses a docker `--since` / `--until` value into a unix time in
/// nanoseconds.
///
/// Accepted forms (as docker's `GetTimestamp`):
/// - a Go duration relative to `now_nanos` (`"10m"`, `"1h30m"`,
///   `"2h45m3.5s"`); like docker the result is truncated to whole seconds;
/// - RFC 3339 date-times with or without fractional seconds and with or
///   without a zone (`"2024-01-02T15:04:05Z"`, `"2024-01-02T15:04:05.5+02:00"`,
///   `"2024-01-02T15:04"`, `"2024-01-02T15"`); zone-less values use the local
///   zone's current offset;
/// - dates (`"2024-01-02"`, `"2024-01-02Z"`, `"2024-01-02+01:00"`);
/// - unix seconds, optionally with a fraction (`"1700000000"`,
///   `"1700000000.123456789"`).
///
/// # Errors
/// [`FormatError::Time`] describing why the value could not be parsed.
pub fn parse_timestamp(s: &str, now_nanos: i128) -> Result<i128, FormatError> {
    if s != "0" {
        if let Ok(d) = parse_go_duration(s) {
            let t = now_nanos - i128::from(d);
            return Ok(t.div_euclid(NANOS_PER_SEC) * NANOS_PER_SEC);
        }
    }
    let parse_in_location = !s.contains(['z', 'Z', '+']) && s.matches('-').count() != 3;
    let time_part = if s.contains('.') {
        TimePart::Seconds
    } else if s.contains('T') {
        let mut colons = s.matches(':').count();
        if !parse_in_location && !s.contains(['z', 'Z']) && colons > 0 {
            colons -= 1;
        }
        match colons {
            0 => TimePart::Hour,
            1 => TimePart::Minute,
            _ => TimePart::Seconds,
        }
    } else {
        TimePart::None
    };
    let offset = if parse_in_location {
        let secs = now_nanos.div_euclid(NANOS_PER_SEC);
        let secs = i64::try_from(secs).unwrap_or(0);
        Some(
            chrono::Local
                .timestamp_opt(secs, 0)
                .single()
                .map(|t| t.offset().fix())
                .unwrap_or_else(|| chrono::Utc.fix()),
        )
    } else {
        None
    };
    match parse_layout(s, time_part, offset) {
        Ok(t) => Ok(t),
        Err(e) => {
            if s.contains('-') {
                return Err(FormatError::Time(format!("parsing time {s:?}: {e}")));
            }
            parse_unix(s).ok_or_else(|| {
                FormatError::Time(format!("failed to parse value as time or duration: {s:?}"))
            })
        }
    }
}

/// Which time-of-day fields the chosen layout has.
#[derive(Clone, Copy, PartialEq)]
enum TimePart {
    None,
    Hour,
    Minute,
    Seconds,
}

/// Parses `YYYY-MM-DD[THH[:MM[:SS[.frac]]]]` followed by a zone (`Z` or
/// `±hh:mm`) when `local` is `None`, or nothing when `local` is the offset to
/// interpret the wall-clock time in.
fn parse_layout(s: &str, part: TimePart, local: Option<FixedOffset>) -> Result<i128, String> {
    let mut rest = s;
    let year: i32 = take_digits(&mut rest, 4, 4, "year")?;
    expect(&mut rest, '-')?;
    let month: u32 = take_digits(&mut rest, 2, 2, "month")?;
    expect(&mut rest, '-')?;
    let day: u32 = take_digits(&mut rest, 2, 2, "day")?;
    let (mut hour, mut min, mut sec, mut nano) = (0u32, 0u32, 0u32, 0u32);
    if part != TimePart::None {
        expect(&mut rest, 'T')?;
        hour = take_digits(&mut rest, 1, 2, "hour")?;
        if part != TimePart::Hour {
            expect(&mut rest, ':')?;
            min = take_digits(&mut rest, 2, 2, "minute")?;
        }
        if part == TimePart::Seconds {
            expect(&mut rest, ':')?;
            sec = take_digits(&mut rest, 2, 2, "second")?;
        }
    }
    // Go accepts a fractional second after the seconds even when the layout
    // has none, and the `.999999999` layout element is optional.
    if part == TimePart::Seconds
        && (rest.starts_with('.') || rest.starts_with(','))
        && rest[1..].starts_with(|c: char| c.is_ascii_digit())
    {
        let frac: String = rest[1..].chars().take_while(char::is_ascii_digit).collect();
        rest = &rest[1 + frac.len()..];
        let mut padded: String = frac.chars().take(9).collect();
        while padded.len() < 9 {
            padded.push('0');
        }
        nano = padded
            .parse()
            .map_err(|_| "invalid fractional second".to_string())?;
    }
    let offset = match local {
        Some(off) => off,
        None => {
            if let Some(r) = rest.strip_prefix('Z') {
                rest = r;
                chrono::Utc.fix()
            } else {
                let sign = match rest.chars().next() {
                    Some('+') => 1,
                    Some('-') => -1,
                    _ => return Err("missing time zone".to_string()),
                };
                rest = &rest[1..];
                let oh: i32 = take_digits(&mut rest, 2, 2, "zone hour")?;
                expect(&mut rest, ':')?;
                let om: i32 = take_digits(&mut rest, 2, 2, "zone minute")?;
                FixedOffset::east_opt(sign * (oh * 3600 + om * 60))
                    .ok_or_else(|| "time zone offset out of range".to_string())?
            }
        }
    };
    if !rest.is_empty() {
        return Err(format!("extra text: {rest:?}"));
    }
    let date = NaiveDate::from_ymd_opt(year, month, day).ok_or("day out of range")?;
    let dt = date
        .and_hms_nano_opt(hour, min, sec, nano)
        .ok_or("time out of range")?;
    let t = offset
        .from_local_datetime(&dt)
        .single()
        .ok_or("invalid local time")?;
    Ok(i128::from(t.timestamp()) * NANOS_PER_SEC + i128::from(t.timestamp_subsec_nanos()))
}

/// Consumes between `min` and `max` ASCII digits from the front of `rest`.
fn take_digits<T: std::str::FromStr>(
    rest: &mut &str,
    min: usize,
    max: usize,
    what: &str,
) -> Result<T, String> {
    let n = rest
        .bytes()
        .take(max)
        .take_while(u8::is_ascii_digit)
        .count();
    if n < min {
        return Err(format!("cannot parse {rest:?} as {what}"));
    }
    let (digits, tail) = rest.split_at(n);
    *rest = tail;
    digits.parse().map_err(|_| format!("invalid {what}"))
}

/// Consumes the character `c` from the front of `rest`.
fn expect(rest: &mut &str, c: char) -> Result<(), String> {
    match rest.strip_prefix(c) {
        Some(r) => {
            *rest = r;
            Ok(())
        }
        None => Err(format!("cannot parse {rest:?} as {c:?}")),
    }
}

/// docker's `parseTimestamp`: `"<sec>"` or `"<sec>.<frac>"`.
fn parse_unix(s: &str) -> Option<i128> {
    let (sec, frac) = match s.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let sec: i64 = sec.parse().ok()?;
    let mut nanos: i128 = 0;
    if let Some(frac) = frac {
        let n: i64 = frac.parse().ok()?;
        // docker: nsec * 10^(9-len(frac)), computed in float64.
        nanos = (n as f64 * 10f64.powi(9 - frac.len() as i32)) as i128;
    }
    Some(i128::from(sec) * NANOS_PER_SEC + nanos)
}

/// Go's `time.ParseDuration`, returning nanoseconds.
pub(crate) fn parse_go_duration(s: &str) -> Result<i64, String> {
    let orig = s;
    let invalid = || format!("time: invalid duration {orig:?}");
    let mut rest = s;
    let mut neg = false;
    if let Some(c) = rest.chars().next() {
        if c == '-' || c == '+' {
            neg = c == '-';
            rest = &rest[1..];
        }
    }
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_part = "";
        if let Some(r) = rest.strip_prefix('.') {
            let n = r.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &r[..n];
            rest = &r[n..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(rest.len(), |(i, _)| i);
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let mult: u128 = match unit {
            "" => return Err(format!("time: missing unit in duration {orig:?}")),
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(format!("time: unknown unit {unit:?} in duration {orig:?}")),
        };
        let int_val: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut v = int_val.checked_mul(mult).ok_or_else(invalid)?;
        if !frac_part.is_empty() {
            let digits = &frac_part[..frac_part.len().min(30)];
            let f: u128 = digits.parse().map_err(|_| invalid())?;
            let scale = 10u128.pow(digits.len() as u32);
            v += f.checked_mul(mult).ok_or_else(invalid)? / scale;
        }
        total = total.checked_add(v).ok_or_else(invalid)?;
        if total > i64::MAX as u128 + u128::from(neg) {
            return Err(invalid());
        }
    }
    let total = total as i128;
    Ok((if neg { -total } else { total }) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i128 = 1_700_000_000_500_000_000; // 2023-11-14T22:13:20.5Z

    fn local_offset_secs() -> i128 {
        let off = chrono::Local
            .timestamp_opt(1_700_000_000, 0)
            .single()
            .map(|t| t.offset().fix().local_minus_utc())
            .unwrap_or(0);
        i128::from(off)
    }

    #[test]
    fn durations() {
        assert_eq!(parse_go_duration("10m"), Ok(600_000_000_000));
        assert_eq!(parse_go_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration("2h45m3.5s"), Ok(9_903_500_000_000));
        assert_eq!(parse_go_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration("-1m"), Ok(-60_000_000_000));
        assert_eq!(parse_go_duration("300ms"), Ok(300_000_000));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(
            parse_go_duration("10"),
            Err("time: missing unit in duration \"10\"".to_string())
        );
        assert!(parse_go_duration("10x").is_err());
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration(".s").is_err());
    }

    #[test]
    fn relative() {
        let base = 1_700_000_000 * NANOS_PER_SEC;
        assert_eq!(
            parse_timestamp("10m", NOW).ok(),
            Some(base - 600 * NANOS_PER_SEC)
        );
        assert_eq!(
            parse_timestamp("1h30m", NOW).ok(),
            Some(base - 5400 * NANOS_PER_SEC)
        );
        // 20.5s - 3.5s = 17s: truncated to whole seconds like docker's Unix().
        assert_eq!(
            parse_timestamp("2h45m3.5s", NOW).ok(),
            Some(base - 9903 * NANOS_PER_SEC)
        );
    }

    #[test]
    fn rfc3339() {
        let t = 1_700_000_000 * NANOS_PER_SEC;
        assert_eq!(parse_timestamp("2023-11-14T22:13:20Z", NOW).ok(), Some(t));
        assert_eq!(
            parse_timestamp("2023-11-14T22:13:20.123456789Z", NOW).ok(),
            Some(t + 123_456_789)
        );
        assert_eq!(
            parse_timestamp("2023-11-14T23:13:20.5+01:00", NOW).ok(),
            Some(t + 500_000_000)
        );
        assert_eq!(
            parse_timestamp("2023-11-14T20:13:20-02:00", NOW).ok(),
            Some(t)
        );
        assert_eq!(
            parse_timestamp("2023-11-14T22:13Z", NOW).ok(),
            Some(t - 20 * NANOS_PER_SEC)
        );
        assert_eq!(
            parse_timestamp("2023-11-14T22Z", NOW).ok(),
            Some(t - 13 * 60 * NANOS_PER_SEC - 20 * NANOS_PER_SEC)
        );
        let midnight = 1_699_920_000 * NANOS_PER_SEC; // 2023-11-14T00:00:00Z
        assert_eq!(parse_timestamp("2023-11-14Z", NOW).ok(), Some(midnight));
        assert_eq!(
            parse_timestamp("2023-11-14+01:00", NOW).ok(),
            Some(midnight - 3600 * NANOS_PER_SEC)
        );
    }

    #[test]
    fn local_times() {
        let off = local_offset_secs() * NANOS_PER_SEC;
        let t = 1_700_000_000 * NANOS_PER_SEC;
        assert_eq!(
            parse_timestamp("2023-11-14T22:13:20", NOW).ok(),
            Some(t - off)
        );
        assert_eq!(
            parse_timestamp("2023-11-14T22:13:20.25", NOW).ok(),
            Some(t - off + 250_000_000)
        );
        assert_eq!(
            parse_timestamp("2023-11-14", NOW).ok(),
            Some(1_699_920_000 * NANOS_PER_SEC - off)
        );
    }

    #[test]
    fn unix() {
        assert_eq!(
            parse_timestamp("1700000000", NOW).ok(),
            Some(1_700_000_000 * NANOS_PER_SEC)
        );
        assert_eq!(
            parse_timestamp("1700000000.123456789", NOW).ok(),
            Some(1_700_000_000 * NANOS_PER_SEC + 123_456_789)
        );
        assert_eq!(
            parse_timestamp("1700000000.5", NOW).ok(),
            Some(1_700_000_000 * NANOS_PER_SEC + 500_000_000)
        );
        assert_eq!(parse_timestamp("0", NOW).ok(), Some(0));
    }

    #[test]
    fn errors() {
        let e = parse_timestamp("yesterday", NOW)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("failed to parse value as time or duration: \"yesterday\"")
        );
        let e = parse_timestamp("2023-13-01", NOW)
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.starts_with("parsing time \"2023-13-01\"")));
        assert!(parse_timestamp("2023-11-14T22:13:20Zjunk", NOW).is_err());
        assert!(parse_timestamp("", NOW).is_err());
    }
}
