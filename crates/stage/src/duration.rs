//! Durations as kubectl users write them (`--timeout=5m`, `90s`, `1h30m`, `500ms`), and printed the
//! same way.
//!
//! The grammar is Go's `time.ParseDuration`, which is what every Kubernetes tool accepts, minus
//! negative values and the sub-millisecond units nobody uses for a deploy step. A bare number is
//! seconds, as in `kubectl wait --timeout=60`'s users' habit.

use std::time::Duration;

/// Parses `5m`, `1h30m`, `1.5h`, `90s`, `250ms` or a bare number of seconds.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration; write e.g. 90s, 5m or 1h30m".to_owned());
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total_nanos: u128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => {
                return Err(format!(
                    "invalid duration {text:?}: missing unit after {number:?}; use ms, s, m or h"
                ));
            }
            other => {
                return Err(format!(
                    "invalid duration {text:?}: unknown unit {other:?}; use ms, s, m or h"
                ));
            }
        };
        total_nanos = total_nanos
            .checked_add(scaled(number, unit_nanos).ok_or_else(|| {
                format!("invalid duration {text:?}: expected a number before {after:?}")
            })?)
            .ok_or_else(|| format!("invalid duration {text:?}: out of range"))?;
        rest = next;
    }
    let secs = u64::try_from(total_nanos / 1_000_000_000)
        .map_err(|_| format!("invalid duration {text:?}: out of range"))?;
    // The remainder of a division by 1e9 always fits in u32.
    let nanos = u32::try_from(total_nanos % 1_000_000_000).unwrap_or(0);
    Ok(Duration::new(secs, nanos))
}

/// `number` (digits with at most one decimal point) times `unit_nanos`, exactly, in integers:
/// floating point would turn `39.999s` into 39.998999… and lose a millisecond.
fn scaled(number: &str, unit_nanos: u128) -> Option<u128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') || fraction.len() > 9 {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let fraction_value: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().ok()?
    };
    let fraction_scale = 10u128.pow(u32::try_from(fraction.len()).ok()?);
    whole
        .checked_mul(unit_nanos)?
        .checked_add(fraction_value * unit_nanos / fraction_scale)
}

/// Formats like Go: `1h30m0s`, `5m0s`, `1.5s`, `250ms`; zero is `0s`.
pub fn format(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis == 0 {
        return "0s".to_owned();
    }
    if millis < 1000 {
        return format!("{millis}ms");
    }
    let hours = millis / 3_600_000;
    let minutes = millis / 60_000 % 60;
    let secs_millis = millis % 60_000;
    let seconds = if secs_millis.is_multiple_of(1000) {
        format!("{}s", secs_millis / 1000)
    } else {
        let s = format!("{}.{:03}", secs_millis / 1000, secs_millis % 1000);
        format!("{}s", s.trim_end_matches('0'))
    };
    match (hours, minutes) {
        (0, 0) => seconds,
        (0, m) => format!("{m}m{seconds}"),
        (h, m) => format!("{h}h{m}m{seconds}"),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn kubectl_style_values() {
        assert_eq!(parse("5m"), Ok(Duration::from_mins(5)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_mins(90)));
        assert_eq!(parse("1.5h"), Ok(Duration::from_mins(90)));
        assert_eq!(parse("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
    }

    #[test]
    fn errors_say_what_to_write() {
        assert!(parse("").unwrap_err().contains("90s"));
        assert!(parse("5 minutes").unwrap_err().contains("unknown unit"));
        assert!(parse("5m3").unwrap_err().contains("missing unit"));
        assert!(parse("m").unwrap_err().contains("expected a number"));
        assert!(parse("-5s").is_err());
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format(Duration::ZERO), "0s");
        assert_eq!(format(Duration::from_millis(250)), "250ms");
        assert_eq!(format(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format(Duration::from_mins(5)), "5m0s");
        assert_eq!(format(Duration::from_mins(90)), "1h30m0s");
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips_to_the_millisecond(ms in 0u64..10_000_000_000) {
            let d = Duration::from_millis(ms);
            prop_assert_eq!(parse(&format(d)).unwrap().as_millis(), d.as_millis());
        }
    }
}
