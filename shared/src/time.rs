//! Date-times as AWS Data Pipeline writes them: UTC, `YYYY-MM-DDTHH:MM:SS`, and the
//! arithmetic on them that never panics.
//!
//! chrono's `+` and `-` on date-times and durations panic outside its range (years
//! -262143 to 262142), and a definition can ask for any period. Sluice adds and scales
//! times only through [`checked_after`], [`add_or_max`] and [`scale_delay`].

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};
use thiserror::Error;

/// The one textual form AWS accepts in definitions and answers with.
pub const DATETIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S";

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("\"{text}\" is not a date-time: write it as YYYY-MM-DDTHH:MM:SS in UTC, for example 2026-01-31T06:00:00")]
pub struct DateTimeError {
    pub text: String,
}

/// Parses a definition date-time, exactly as AWS does: `YYYY-MM-DDTHH:MM:SS`, UTC, nothing else.
pub fn parse_datetime(text: &str) -> Result<NaiveDateTime, DateTimeError> {
    let error = || DateTimeError { text: text.to_owned() };
    // chrono accepts one-digit fields; AWS's form is fixed-width.
    if text.len() != 19 {
        return Err(error());
    }
    NaiveDateTime::parse_from_str(text, DATETIME_FORMAT).map_err(|_| error())
}

/// Parses a date-time typed by a person on the command line: the definition form, or the
/// same with a trailing `Z`, or a bare date (midnight).
pub fn parse_datetime_lenient(text: &str) -> Result<NaiveDateTime, DateTimeError> {
    let trimmed = text.trim().trim_end_matches(['Z', 'z']);
    if let Ok(datetime) = parse_datetime(trimmed) {
        return Ok(datetime);
    }
    if let Ok(datetime) = NaiveDateTime::parse_from_str(trimmed, "%Y-%m-%dT%H:%M") {
        return Ok(datetime);
    }
    NaiveDate::parse_from_str(trimmed, "%Y-%m-%d")
        .map(|date| date.and_time(NaiveTime::MIN))
        .map_err(|_| DateTimeError { text: text.to_owned() })
}

/// Formats a date-time the way AWS prints one: `2011-05-24T17:10:00`.
pub fn format_datetime(datetime: NaiveDateTime) -> String {
    datetime.format(DATETIME_FORMAT).to_string()
}

/// A date-time moved past the range chrono can represent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error(
    "{} moved by {by} is outside the date-times Sluice can represent (years -262143 to 262142)",
    format_datetime(*from)
)]
pub struct TimeOverflow {
    pub from: NaiveDateTime,
    pub by: TimeDelta,
}

/// `from + by`, or [`TimeOverflow`] when that is outside chrono's range.
pub fn checked_after(from: NaiveDateTime, by: TimeDelta) -> Result<NaiveDateTime, TimeOverflow> {
    from.checked_add_signed(by).ok_or(TimeOverflow { from, by })
}

/// `from + by`, held at the last (or, for a negative `by`, the first) date-time chrono can
/// represent: for a time to check again or to wait until, where past the end of time means
/// never.
pub fn add_or_max(from: NaiveDateTime, by: TimeDelta) -> NaiveDateTime {
    checked_after(from, by).unwrap_or(if by < TimeDelta::zero() {
        NaiveDateTime::MIN
    } else {
        NaiveDateTime::MAX
    })
}

/// `delay` times `factor`, between zero and `at_most` whatever the factor (an infinite or
/// NaN factor included): for backoff, where a delay times a large multiplier must still be
/// a delay.
pub fn scale_delay(delay: TimeDelta, factor: f64, at_most: TimeDelta) -> TimeDelta {
    let at_most = at_most.max(TimeDelta::zero());
    // Milliseconds: a TimeDelta's whole range, and f64 keeps them exact to 285 years.
    let millis = delay.num_milliseconds() as f64 * factor;
    if millis.is_nan() || millis <= 0.0 {
        return TimeDelta::zero();
    }
    if millis >= at_most.num_milliseconds() as f64 {
        return at_most;
    }
    // Below `at_most` here, so the cast is exact in range.
    TimeDelta::try_milliseconds(millis as i64).unwrap_or(at_most)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_the_aws_form() {
        let datetime = parse_datetime("2011-05-24T17:10:00").unwrap();
        assert_eq!(format_datetime(datetime), "2011-05-24T17:10:00");
    }

    #[test]
    fn refuses_other_forms_in_definitions() {
        for text in [
            "2011-05-24 17:10:00",
            "2011-5-24T17:10:00",
            "2011-05-24",
            "2011-05-24T17:10:00Z",
            "",
            "soon",
        ] {
            let error = parse_datetime(text).unwrap_err();
            assert!(error.to_string().contains("YYYY-MM-DDTHH:MM:SS"), "{text}");
        }
    }

    #[test]
    fn command_line_forms_are_lenient() {
        let expected = parse_datetime("2026-01-02T00:00:00").unwrap();
        for text in [
            "2026-01-02",
            "2026-01-02T00:00:00Z",
            "2026-01-02T00:00",
            " 2026-01-02T00:00:00 ",
        ] {
            assert_eq!(parse_datetime_lenient(text).unwrap(), expected, "{text}");
        }
        assert!(parse_datetime_lenient("tomorrow").is_err());
    }

    #[test]
    fn adding_past_the_end_of_time_is_an_error_or_the_end_never_a_panic() {
        // Given a date-time in chrono's last year and one in its first
        let late = NaiveDateTime::MAX - TimeDelta::days(1);
        let early = NaiveDateTime::MIN + TimeDelta::days(1);

        // When moving them past the ends, and by the longest TimeDelta there is
        let forward = checked_after(late, TimeDelta::days(2));
        let overflow = TimeOverflow {
            from: late,
            by: TimeDelta::days(2),
        };

        // Then checked_after names the overflow and add_or_max holds at the ends
        assert_eq!(forward, Err(overflow));
        assert!(overflow.to_string().contains("262142"), "{overflow}");
        assert_eq!(add_or_max(late, TimeDelta::days(2)), NaiveDateTime::MAX);
        assert_eq!(add_or_max(late, TimeDelta::MAX), NaiveDateTime::MAX);
        assert_eq!(add_or_max(early, -TimeDelta::days(2)), NaiveDateTime::MIN);
        assert_eq!(add_or_max(early, TimeDelta::MIN), NaiveDateTime::MIN);
        // And within range both are plain addition
        let start = parse_datetime("2026-01-31T06:00:00").unwrap();
        let later = parse_datetime("2026-01-31T06:05:00").unwrap();
        assert_eq!(checked_after(start, TimeDelta::minutes(5)), Ok(later));
        assert_eq!(add_or_max(later, -TimeDelta::minutes(5)), start);
    }

    #[test]
    fn a_scaled_delay_stays_between_zero_and_its_cap_whatever_the_factor() {
        let minute = TimeDelta::minutes(1);
        let cap = TimeDelta::days(3650);
        let cases = [
            (minute, 2.0, TimeDelta::minutes(2)),
            (minute, 1.5, TimeDelta::seconds(90)),
            (minute, 1e308, cap),
            (TimeDelta::MAX, 1e308, cap),
            (minute, f64::INFINITY, cap),
            (minute, f64::NAN, TimeDelta::zero()),
            (minute, f64::NEG_INFINITY, TimeDelta::zero()),
            (-minute, 2.0, TimeDelta::zero()),
            (TimeDelta::MIN, 1e308, TimeDelta::zero()),
        ];
        for (delay, factor, expected) in cases {
            assert_eq!(scale_delay(delay, factor, cap), expected, "{delay} × {factor}");
        }
        assert_eq!(
            scale_delay(minute, 2.0, -minute),
            TimeDelta::zero(),
            "a negative cap is zero"
        );
    }
}
