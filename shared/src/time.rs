//! Date-times as AWS Data Pipeline writes them: UTC, `YYYY-MM-DDTHH:MM:SS`.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
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
}
