//! The values an expression computes with, how they print inside a string, and how a
//! function coerces the strings that field values and parameters usually are.

use std::fmt::{self, Write as _};

use chrono::{DateTime, TimeZone};
use chrono_tz::Tz;

use super::joda;
use crate::{schedule::Period, time};

/// An expression value. Field values and parameters are strings unless their slot or
/// parameter type says otherwise; functions coerce a string that spells a number or a
/// date-time where they need one.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Str(String),
    /// An instant with its zone: UTC unless `inTimeZone` moved it.
    DateTime(DateTime<Tz>),
    Period(Period),
    /// A multi-valued field or list parameter; operators apply element-wise.
    List(Vec<Value>),
}

/// How a value prints inside a string: see [`Value`]'s `Display`.
pub fn render(value: &Value) -> String {
    match value {
        Value::Str(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Appends `value` as it prints inside a string.
pub(super) fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Str(text) => out.push_str(text),
        other => {
            // Writing to a String cannot fail.
            let _ = write!(out, "{other}");
        }
    }
}

/// An integer as decimal; a float like Java's `Double.toString` (`4.0`, `0.5`, `1.0E7`);
/// a string as is; a UTC date-time as AWS prints it (`2011-05-24T17:10:00`) and one in
/// another zone in Joda's ISO form (`2011-05-24T10:10:00.000-07:00`); a period as
/// `3 hours`; a list as `["a", "b"]`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(number) => write!(f, "{number}"),
            Value::Float(number) => write_java_double(f, *number),
            Value::Str(text) => f.write_str(text),
            Value::DateTime(datetime) if datetime.timezone() == Tz::UTC => {
                f.write_str(&time::format_datetime(datetime.naive_utc()))
            }
            Value::DateTime(datetime) => {
                let mut text = String::with_capacity(29);
                joda::write_iso(&mut text, datetime);
                f.write_str(&text)
            }
            Value::Period(period) => write!(f, "{period}"),
            Value::List(items) => {
                f.write_char('[')?;
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    match item {
                        Value::Int(_) | Value::Float(_) | Value::List(_) => write!(f, "{item}")?,
                        other => write_quoted(f, &other.to_string())?,
                    }
                }
                f.write_char(']')
            }
        }
    }
}

/// A JSON string literal.
fn write_quoted(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in text.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c.is_control() => write!(f, "\\u{:04x}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// Java's `Double.toString`: shortest digits that round-trip, plain notation with at
/// least one decimal for 1e-3 ≤ |x| < 1e7, otherwise `d.dddE±n`.
fn write_java_double(f: &mut fmt::Formatter<'_>, number: f64) -> fmt::Result {
    if number.is_nan() {
        return f.write_str("NaN");
    }
    if number.is_infinite() {
        return f.write_str(if number > 0.0 { "Infinity" } else { "-Infinity" });
    }
    let magnitude = number.abs();
    if magnitude == 0.0 || (1e-3..1e7).contains(&magnitude) {
        let plain = number.to_string();
        f.write_str(&plain)?;
        if !plain.contains('.') {
            f.write_str(".0")?;
        }
        return Ok(());
    }
    let scientific = format!("{number:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    f.write_str(mantissa)?;
    if !mantissa.contains('.') {
        f.write_str(".0")?;
    }
    write!(f, "E{exponent}")
}

impl Value {
    /// A date-time in UTC, the zone of every date-time until `inTimeZone` moves it.
    pub fn utc(datetime: chrono::NaiveDateTime) -> Self {
        Value::DateTime(Tz::UTC.from_utc_datetime(&datetime))
    }

    /// The value as a whole number: an integer, a float without a fraction, or a string
    /// that spells an integer (`"3"`).
    pub(super) fn to_int(&self) -> Option<i64> {
        match self {
            Value::Int(number) => Some(*number),
            Value::Float(number) if number.fract() == 0.0 && number.abs() < 9.2e18 => Some(*number as i64),
            Value::Str(text) => text.parse().ok(),
            _ => None,
        }
    }

    /// The value as a date-time: a date-time, or a string in AWS's form
    /// (`2011-05-24T17:10:00`, UTC).
    pub(super) fn to_datetime(&self) -> Option<DateTime<Tz>> {
        match self {
            Value::DateTime(datetime) => Some(*datetime),
            Value::Str(text) => time::parse_datetime(text)
                .ok()
                .map(|naive| Tz::UTC.from_utc_datetime(&naive)),
            _ => None,
        }
    }

    /// The value as a period: a period, or a string that spells one (`"3 hours"`).
    pub(super) fn to_period(&self) -> Option<Period> {
        match self {
            Value::Period(period) => Some(*period),
            Value::Str(text) => Period::parse(text).ok(),
            _ => None,
        }
    }

    /// The value as a number for arithmetic: numbers, and strings that spell one.
    pub(super) fn to_number(&self) -> Option<Number> {
        match self {
            Value::Int(number) => Some(Number::Int(*number)),
            Value::Float(number) => Some(Number::Float(*number)),
            Value::Str(text) => parse_number(text),
            _ => None,
        }
    }

    /// A phrase naming the value for an error message: `the text "abc"`.
    pub(super) fn describe(&self) -> String {
        match self {
            Value::Int(number) => format!("the whole number {number}"),
            Value::Float(_) => format!("the number {self}"),
            Value::Str(text) => {
                let mut shown: String = text.chars().take(60).collect();
                if shown.len() < text.len() {
                    shown.push('…');
                }
                format!("the text \"{shown}\"")
            }
            Value::DateTime(_) => format!("the date-time {self}"),
            Value::Period(period) => format!("the period \"{period}\""),
            Value::List(items) => format!("a list of {} values", items.len()),
        }
    }
}

/// A number operand: integer arithmetic stays integral, as in Java.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    pub(super) fn as_f64(self) -> f64 {
        match self {
            Number::Int(number) => number as f64,
            Number::Float(number) => number,
        }
    }
}

/// Parses `"12"`, `"-3"`, `"1.5"`, `".5"`, `"1e3"`; not `"NaN"`, `"inf"` or `" 1"`.
fn parse_number(text: &str) -> Option<Number> {
    if let Ok(number) = text.parse::<i64>() {
        return Some(Number::Int(number));
    }
    let numeric = !text.is_empty()
        && text.chars().any(|c| c.is_ascii_digit())
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    if !numeric {
        return None;
    }
    text.parse::<f64>()
        .ok()
        .filter(|number| number.is_finite())
        .map(Number::Float)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        schedule::{Period, PeriodUnit},
        time::parse_datetime,
    };

    fn datetime(text: &str) -> Value {
        Value::utc(parse_datetime(text).unwrap())
    }

    #[test]
    fn integers_strings_and_periods_render_plainly() {
        assert_eq!(render(&Value::Int(-42)), "-42");
        assert_eq!(render(&Value::Str("s3://bucket/key".into())), "s3://bucket/key");
        assert_eq!(render(&Value::Period(Period::new(3, PeriodUnit::Hours))), "3 hours");
    }

    #[test]
    fn floats_render_like_javas_double_to_string() {
        let cases = [
            (4.0, "4.0"),
            (0.5, "0.5"),
            (-0.5, "-0.5"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0e7, "1.0E7"),
            (9_999_999.0, "9999999.0"),
            (1.0e-4, "1.0E-4"),
            (0.001, "0.001"),
            (1.2345e10, "1.2345E10"),
            (-2.5e-5, "-2.5E-5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for (number, expected) in cases {
            assert_eq!(render(&Value::Float(number)), expected, "{number:?}");
        }
    }

    #[test]
    fn a_utc_date_time_renders_in_aws_form_and_a_zoned_one_in_joda_iso_form() {
        let instant = datetime("2011-05-24T17:10:00");
        assert_eq!(render(&instant), "2011-05-24T17:10:00");
        let Value::DateTime(utc) = instant else {
            panic!("a date-time")
        };
        let pacific = Value::DateTime(utc.with_timezone(&chrono_tz::America::Los_Angeles));
        assert_eq!(render(&pacific), "2011-05-24T10:10:00.000-07:00");
    }

    #[test]
    fn a_list_renders_as_a_bracketed_list_with_quoted_text() {
        let list = Value::List(vec![
            Value::Str("a".into()),
            Value::Str("say \"hi\"".into()),
            Value::Int(1),
            Value::Float(0.5),
            Value::List(vec![Value::Str("b".into())]),
            datetime("2011-05-24T17:10:00"),
        ]);
        assert_eq!(
            render(&list),
            r#"["a", "say \"hi\"", 1, 0.5, ["b"], "2011-05-24T17:10:00"]"#
        );
        assert_eq!(render(&Value::List(Vec::new())), "[]");
    }

    #[test]
    fn strings_that_spell_numbers_dates_and_periods_coerce() {
        assert_eq!(Value::Str("3".into()).to_int(), Some(3));
        assert_eq!(Value::Float(3.0).to_int(), Some(3));
        assert_eq!(Value::Float(3.5).to_int(), None);
        assert_eq!(Value::Str(" 3".into()).to_int(), None);
        assert_eq!(Value::Str("1.5".into()).to_number(), Some(Number::Float(1.5)));
        assert_eq!(Value::Str(".5".into()).to_number(), Some(Number::Float(0.5)));
        assert_eq!(Value::Str("NaN".into()).to_number(), None);
        assert_eq!(Value::Str("inf".into()).to_number(), None);
        assert_eq!(Value::Str("1e999".into()).to_number(), None);
        assert_eq!(
            Value::Str("2011-05-24T17:10:00".into()).to_datetime(),
            datetime("2011-05-24T17:10:00").to_datetime()
        );
        assert_eq!(Value::Str("tomorrow".into()).to_datetime(), None);
        assert_eq!(
            Value::Str("3 hours".into()).to_period(),
            Some(Period::new(3, PeriodUnit::Hours))
        );
    }

    #[test]
    fn long_text_is_shortened_in_error_descriptions() {
        let long = Value::Str("x".repeat(100));
        assert_eq!(long.describe(), format!("the text \"{}…\"", "x".repeat(60)));
    }
}
