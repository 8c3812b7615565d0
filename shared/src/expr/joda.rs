//! Joda-Time `DateTimeFormat` patterns, the date formats of AWS Data Pipeline's `format`
//! function (reference §4.3). Not strftime and not java.time: `YYYY` is the year of era,
//! `hh` the 12-hour clock, `S` a truncated fraction of a second.
//!
//! A pattern is split into tokens exactly as Joda's `DateTimeFormat.parsePatternTo` does:
//! a run of one ASCII letter is a field, anything else (with `'quoted'` text and `''` for a
//! single quote) is literal. Unlike Joda, an unterminated quote is an error rather than
//! silently running to the end of the pattern.
//!
//! Text is English (Joda's text for the `en` locale): `Tue`/`Tuesday`, `May`, `AM`/`PM`,
//! `AD`/`BC`. Zone names come from the tz database through chrono-tz:
//! - `z`..`zzz` print the zone's abbreviation (`UTC`, `PST`, `PDT`, `CEST`); where the tz
//!   database has only a numeric abbreviation (`+04`), the offset is printed as Joda prints
//!   a zone without a name, `+04:00`.
//! - `zzzz` prints the long name Java gives the common abbreviations (`Coordinated
//!   Universal Time`, `Pacific Standard Time`, `Central European Summer Time`, …) and
//!   otherwise the offset, `+04:00`, as Joda does for a zone it has no name for.

use chrono::{DateTime, Datelike, NaiveDateTime, Offset, Timelike};
use chrono_tz::{OffsetComponents, OffsetName, Tz};

/// Formats `datetime` with a Joda-Time pattern, in the date-time's own zone.
pub fn format(datetime: &DateTime<Tz>, pattern: &str) -> Result<String, String> {
    let pattern = Pattern::compile(pattern)?;
    let mut out = String::with_capacity(pattern.len_hint());
    pattern.write(datetime, &mut out)?;
    Ok(out)
}

/// The local date-time in the value's zone, or `None` when the zone's offset takes it
/// outside the calendar chrono supports (chrono's own accessors would panic there).
pub(crate) fn local_time(datetime: &DateTime<Tz>) -> Option<NaiveDateTime> {
    datetime.naive_utc().checked_add_offset(datetime.offset().fix())
}

/// The error for a date-time [`local_time`] cannot represent.
pub(crate) const OUT_OF_RANGE: &str = "the date-time is outside the range of supported dates";

/// Checks a Joda-Time pattern without formatting anything: `Illegal pattern component: q`
/// for a letter Joda does not know, and an error for an unterminated quote.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    Pattern::compile(pattern).map(|_| ())
}

/// A compiled Joda-Time pattern: compile a literal pattern once, format with it many times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    /// One literal character, the usual separator: no allocation.
    Char(char),
    Literal(String),
    Field(Field, usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Era,
    CenturyOfEra,
    YearOfEra,
    Year,
    TwoDigitYear,
    Weekyear,
    TwoDigitWeekyear,
    WeekOfWeekyear,
    DayOfWeek,
    DayOfWeekShortText,
    DayOfWeekText,
    DayOfYear,
    MonthOfYear,
    MonthShortText,
    MonthText,
    DayOfMonth,
    HalfdayText,
    HourOfHalfday,
    ClockhourOfHalfday,
    HourOfDay,
    ClockhourOfDay,
    MinuteOfHour,
    SecondOfMinute,
    FractionOfSecond,
    ZoneShortName,
    ZoneLongName,
    OffsetCompact,
    OffsetWithColon,
    ZoneId,
}

impl Field {
    /// The field a run of `count` letters `letter` stands for, as Joda maps it.
    fn from_token(letter: char, count: usize) -> Option<Self> {
        Some(match letter {
            'G' => Self::Era,
            'C' => Self::CenturyOfEra,
            'Y' | 'y' if count == 2 => Self::TwoDigitYear,
            'Y' => Self::YearOfEra,
            'y' => Self::Year,
            'x' if count == 2 => Self::TwoDigitWeekyear,
            'x' => Self::Weekyear,
            'w' => Self::WeekOfWeekyear,
            'e' => Self::DayOfWeek,
            'E' if count >= 4 => Self::DayOfWeekText,
            'E' => Self::DayOfWeekShortText,
            'D' => Self::DayOfYear,
            'M' if count >= 4 => Self::MonthText,
            'M' if count == 3 => Self::MonthShortText,
            'M' => Self::MonthOfYear,
            'd' => Self::DayOfMonth,
            'a' => Self::HalfdayText,
            'K' => Self::HourOfHalfday,
            'h' => Self::ClockhourOfHalfday,
            'H' => Self::HourOfDay,
            'k' => Self::ClockhourOfDay,
            'm' => Self::MinuteOfHour,
            's' => Self::SecondOfMinute,
            'S' => Self::FractionOfSecond,
            'z' if count >= 4 => Self::ZoneLongName,
            'z' => Self::ZoneShortName,
            'Z' if count == 1 => Self::OffsetCompact,
            'Z' if count == 2 => Self::OffsetWithColon,
            'Z' => Self::ZoneId,
            _ => return None,
        })
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

impl Pattern {
    /// Compiles a pattern, with Joda's error for an unknown letter
    /// (`Illegal pattern component: q`).
    pub fn compile(pattern: &str) -> Result<Self, String> {
        let mut items: Vec<Item> = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(first) = chars.next() {
            if first.is_ascii_alphabetic() {
                let mut count = 1usize;
                while chars.next_if_eq(&first).is_some() {
                    count = count.saturating_add(1);
                }
                let field = Field::from_token(first, count).ok_or_else(|| {
                    let token: String = std::iter::repeat_n(first, count).collect();
                    format!("Illegal pattern component: {token}")
                })?;
                items.push(Item::Field(field, count));
                continue;
            }
            // Literal text: this character and what follows up to the next letter outside
            // quotes, as in Joda's `parseToken`.
            let mut text = String::new();
            let mut quoted = false;
            let mut current = first;
            loop {
                if current == '\'' {
                    if chars.next_if_eq(&'\'').is_some() {
                        text.push('\'');
                    } else {
                        quoted = !quoted;
                    }
                } else {
                    text.push(current);
                }
                match chars.peek() {
                    Some(next) if quoted || !next.is_ascii_alphabetic() => {
                        current = *next;
                        chars.next();
                    }
                    _ => break,
                }
            }
            if quoted {
                return Err(format!(
                    "Unterminated quote in pattern \"{pattern}\": close the literal text with ' (write '' for a quote)"
                ));
            }
            let mut single = text.chars();
            match (single.next(), single.next()) {
                (None, _) => {}
                (Some(c), None) => items.push(Item::Char(c)),
                _ => items.push(Item::Literal(text)),
            }
        }
        Ok(Self { items })
    }

    /// A guess at the formatted length, for sizing the output.
    pub fn len_hint(&self) -> usize {
        self.items
            .iter()
            .map(|item| match item {
                Item::Char(c) => c.len_utf8(),
                Item::Literal(text) => text.len(),
                Item::Field(_, count) => (*count).max(4),
            })
            .fold(0, usize::saturating_add)
    }

    /// Appends `datetime` formatted with this pattern to `out`; an error only for a
    /// date-time whose local time is outside the supported calendar.
    pub fn write(&self, datetime: &DateTime<Tz>, out: &mut String) -> Result<(), String> {
        let local = local_time(datetime).ok_or(OUT_OF_RANGE)?;
        for item in &self.items {
            match item {
                Item::Char(c) => out.push(*c),
                Item::Literal(text) => out.push_str(text),
                Item::Field(field, count) => write_field(*field, *count, datetime, &local, out),
            }
        }
        Ok(())
    }
}

fn write_field(field: Field, count: usize, datetime: &DateTime<Tz>, local: &NaiveDateTime, out: &mut String) {
    let year = i64::from(local.year());
    let hour = i64::from(local.hour());
    match field {
        Field::Era => out.push_str(if year > 0 { "AD" } else { "BC" }),
        Field::CenturyOfEra => push_padded(out, year_of_era(year) / 100, count),
        Field::YearOfEra => push_padded(out, year_of_era(year), count),
        Field::Year => push_padded(out, year, count),
        Field::TwoDigitYear => push_padded(out, year.abs() % 100, 2),
        Field::Weekyear => push_padded(out, i64::from(local.iso_week().year()), count),
        Field::TwoDigitWeekyear => push_padded(out, i64::from(local.iso_week().year()).abs() % 100, 2),
        Field::WeekOfWeekyear => push_padded(out, i64::from(local.iso_week().week()), count),
        Field::DayOfWeek => push_padded(out, i64::from(local.weekday().number_from_monday()), count),
        Field::DayOfWeekShortText | Field::DayOfWeekText => {
            let name = WEEKDAYS
                .get(local.weekday().num_days_from_monday() as usize)
                .copied()
                .unwrap_or_default();
            push_text(out, name, field == Field::DayOfWeekShortText);
        }
        Field::DayOfYear => push_padded(out, i64::from(local.ordinal()), count),
        Field::MonthOfYear => push_padded(out, i64::from(local.month()), count),
        Field::MonthShortText | Field::MonthText => {
            let name = MONTHS.get(local.month0() as usize).copied().unwrap_or_default();
            push_text(out, name, field == Field::MonthShortText);
        }
        Field::DayOfMonth => push_padded(out, i64::from(local.day()), count),
        Field::HalfdayText => out.push_str(if hour < 12 { "AM" } else { "PM" }),
        Field::HourOfHalfday => push_padded(out, hour % 12, count),
        Field::ClockhourOfHalfday => push_padded(out, if hour % 12 == 0 { 12 } else { hour % 12 }, count),
        Field::HourOfDay => push_padded(out, hour, count),
        Field::ClockhourOfDay => push_padded(out, if hour == 0 { 24 } else { hour }, count),
        Field::MinuteOfHour => push_padded(out, i64::from(local.minute()), count),
        Field::SecondOfMinute => push_padded(out, i64::from(local.second()), count),
        Field::FractionOfSecond => push_fraction(out, local.and_utc().timestamp_subsec_millis() % 1000, count),
        Field::ZoneShortName => push_short_zone_name(out, datetime),
        Field::ZoneLongName => push_long_zone_name(out, datetime),
        Field::OffsetCompact => push_offset(out, offset_seconds(datetime), false, false),
        Field::OffsetWithColon => push_offset(out, offset_seconds(datetime), true, false),
        Field::ZoneId => out.push_str(datetime.timezone().name()),
    }
}

/// Joda's year of era: 1 BC is year 0 in the proleptic calendar and year 1 of era BC.
fn year_of_era(year: i64) -> i64 {
    if year > 0 { year } else { 1 - year }
}

fn push_text(out: &mut String, name: &str, short: bool) {
    if short {
        out.push_str(name.get(..3).unwrap_or(name));
    } else {
        out.push_str(name);
    }
}

/// Appends `value` with at least `width` digits, a `-` before them when negative
/// (Joda's `FormatUtils.appendPaddedInteger`: `yyyy` of year -5 is `-0005`).
pub(crate) fn push_padded(out: &mut String, value: i64, width: usize) {
    if value < 0 {
        out.push('-');
    }
    let mut rest = value.unsigned_abs();
    let mut digits = [0u8; 20];
    let mut used = 0usize;
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
        used += 1;
        if rest == 0 {
            break;
        }
    }
    for _ in used..width {
        out.push('0');
    }
    for digit in digits.iter().skip(digits.len().saturating_sub(used)) {
        out.push(char::from(*digit));
    }
}

/// Joda's `Fraction` printer with `count` as both minimum and maximum digits: the
/// millisecond fraction truncated (not rounded) to `count` digits. Joda's quirks are kept:
/// above 15 digits its scaling overflows and it prints 15 digits; above 18 only zeros.
fn push_fraction(out: &mut String, millis: u32, count: usize) {
    if millis == 0 {
        for _ in 0..count {
            out.push('0');
        }
        return;
    }
    let mut max_digits = count;
    let scalar: i64 = loop {
        let scalar = match u32::try_from(max_digits) {
            Ok(digits @ 1..=18) => 10i64.pow(digits),
            _ => 1,
        };
        if 1000i64.checked_mul(scalar).is_some() {
            break scalar;
        }
        max_digits = max_digits.saturating_sub(1);
    };
    let scaled = i64::from(millis).saturating_mul(scalar) / 1000;
    push_padded(out, scaled, max_digits);
}

fn offset_seconds(datetime: &DateTime<Tz>) -> i32 {
    datetime.offset().fix().local_minus_utc()
}

/// `+HHMM` or `+HH:MM` (seconds only for `iso`, when not zero, as Joda's ISO printer does).
pub(crate) fn push_offset(out: &mut String, seconds: i32, colon: bool, iso: bool) {
    out.push(if seconds < 0 { '-' } else { '+' });
    let seconds = i64::from(seconds).abs();
    push_padded(out, seconds / 3600, 2);
    if colon {
        out.push(':');
    }
    push_padded(out, seconds / 60 % 60, 2);
    if iso && seconds % 60 != 0 {
        out.push(':');
        push_padded(out, seconds % 60, 2);
    }
}

fn push_short_zone_name(out: &mut String, datetime: &DateTime<Tz>) {
    match datetime.offset().abbreviation() {
        Some(name) if name.starts_with(|c: char| c.is_ascii_alphabetic()) => out.push_str(name),
        _ => push_offset(out, offset_seconds(datetime), true, true),
    }
}

fn push_long_zone_name(out: &mut String, datetime: &DateTime<Tz>) {
    let offset = datetime.offset();
    let zone = offset.tz_id();
    let daylight = !offset.dst_offset().is_zero();
    match long_zone_name(zone, offset.abbreviation().unwrap_or_default(), daylight) {
        Some(name) => out.push_str(name),
        None => push_offset(out, offset_seconds(datetime), true, true),
    }
}

/// Java's English long names for the zones people schedule pipelines in.
fn long_zone_name(zone: &str, abbreviation: &str, daylight: bool) -> Option<&'static str> {
    let by_zone = match zone {
        "Asia/Kolkata" | "Asia/Calcutta" => Some("India Standard Time"),
        "Asia/Jerusalem" | "Asia/Tel_Aviv" | "Israel" if daylight => Some("Israel Daylight Time"),
        "Asia/Jerusalem" | "Asia/Tel_Aviv" | "Israel" => Some("Israel Standard Time"),
        "Europe/Dublin" | "Eire" if daylight => Some("Irish Summer Time"),
        "Asia/Shanghai" | "Asia/Chongqing" | "Asia/Harbin" | "Asia/Macau" | "Asia/Taipei" | "PRC" | "ROC" => {
            Some("China Standard Time")
        }
        _ => None,
    };
    if by_zone.is_some() {
        return by_zone;
    }
    Some(match abbreviation {
        "UTC" => "Coordinated Universal Time",
        "GMT" => "Greenwich Mean Time",
        "BST" => "British Summer Time",
        "WET" => "Western European Time",
        "WEST" => "Western European Summer Time",
        "CET" => "Central European Time",
        "CEST" => "Central European Summer Time",
        "EET" => "Eastern European Time",
        "EEST" => "Eastern European Summer Time",
        "MSK" => "Moscow Standard Time",
        "EST" => "Eastern Standard Time",
        "EDT" => "Eastern Daylight Time",
        "CST" => "Central Standard Time",
        "CDT" => "Central Daylight Time",
        "MST" => "Mountain Standard Time",
        "MDT" => "Mountain Daylight Time",
        "PST" => "Pacific Standard Time",
        "PDT" => "Pacific Daylight Time",
        "AKST" => "Alaska Standard Time",
        "AKDT" => "Alaska Daylight Time",
        "HST" => "Hawaii Standard Time",
        "AST" => "Atlantic Standard Time",
        "ADT" => "Atlantic Daylight Time",
        "NST" => "Newfoundland Standard Time",
        "NDT" => "Newfoundland Daylight Time",
        "JST" => "Japan Standard Time",
        "KST" => "Korea Standard Time",
        "HKT" => "Hong Kong Time",
        "SAST" => "South Africa Standard Time",
        "AEST" => "Australian Eastern Standard Time",
        "AEDT" => "Australian Eastern Daylight Time",
        "ACST" => "Australian Central Standard Time",
        "ACDT" => "Australian Central Daylight Time",
        "AWST" => "Australian Western Standard Time",
        "NZST" => "New Zealand Standard Time",
        "NZDT" => "New Zealand Daylight Time",
        _ => return None,
    })
}

/// Writes a date-time the way Joda's `DateTime.toString()` does:
/// `2011-05-24T10:10:00.000-07:00`, `Z` for a zero offset. An instant whose local time is
/// outside the supported calendar is written in UTC.
pub(crate) fn write_iso(out: &mut String, datetime: &DateTime<Tz>) {
    let (local, offset) = match local_time(datetime) {
        Some(local) => (local, offset_seconds(datetime)),
        None => (datetime.naive_utc(), 0),
    };
    push_padded(out, i64::from(local.year()), 4);
    out.push('-');
    push_padded(out, i64::from(local.month()), 2);
    out.push('-');
    push_padded(out, i64::from(local.day()), 2);
    out.push('T');
    push_padded(out, i64::from(local.hour()), 2);
    out.push(':');
    push_padded(out, i64::from(local.minute()), 2);
    out.push(':');
    push_padded(out, i64::from(local.second()), 2);
    out.push('.');
    push_padded(out, i64::from(local.and_utc().timestamp_subsec_millis() % 1000), 3);
    if offset == 0 {
        out.push('Z');
    } else {
        push_offset(out, offset, true, true);
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};

    use super::*;
    use crate::time::parse_datetime;

    fn utc(text: &str) -> DateTime<Tz> {
        Tz::UTC.from_utc_datetime(&parse_datetime(text).unwrap())
    }

    /// The guide's example instant, 2011-05-24T17:10:00 UTC (a Tuesday).
    fn example() -> DateTime<Tz> {
        utc("2011-05-24T17:10:00")
    }

    fn in_zone(text: &str, zone: Tz) -> DateTime<Tz> {
        utc(text).with_timezone(&zone)
    }

    fn formatted(datetime: &DateTime<Tz>, pattern: &str) -> String {
        format(datetime, pattern).unwrap_or_else(|error| format!("error: {error}"))
    }

    fn assert_formats(datetime: &DateTime<Tz>, cases: &[(&str, &str)]) {
        for (pattern, expected) in cases {
            assert_eq!(formatted(datetime, pattern), *expected, "pattern {pattern:?}");
        }
    }

    #[test]
    fn the_guides_example_prints_a_space_where_the_guide_shows_a_t() {
        assert_eq!(
            format(&example(), "YYYY-MM-dd HH:mm:ss z").unwrap(),
            "2011-05-24 17:10:00 UTC"
        );
    }

    #[test]
    fn the_sample_pipelines_patterns_format_as_aws_does() {
        assert_formats(
            &example(),
            &[
                ("YYYY-MM-dd-HH-mm-ss", "2011-05-24-17-10-00"),
                ("YYYY-MM-dd_hh.mm", "2011-05-24_05.10"),
                ("YYYY-MM", "2011-05"),
                ("YYYY-MM-dd'T'HH:mm:ss", "2011-05-24T17:10:00"),
            ],
        );
    }

    #[test]
    fn era_and_century_print_for_any_count() {
        assert_formats(
            &example(),
            &[("G", "AD"), ("GGGG", "AD"), ("C", "20"), ("CC", "20"), ("CCC", "020")],
        );
        let before_christ = Tz::UTC.from_utc_datetime(
            &NaiveDate::from_ymd_opt(-43, 3, 15)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap(),
        );
        // Proleptic year -43 is 44 BC.
        assert_formats(
            &before_christ,
            &[("G", "BC"), ("Y", "44"), ("y", "-43"), ("yyyy", "-0043"), ("yy", "43")],
        );
    }

    #[test]
    fn years_pad_to_the_count_except_two_letters_which_print_two_digits() {
        assert_formats(
            &example(),
            &[
                ("Y", "2011"),
                ("YY", "11"),
                ("YYY", "2011"),
                ("YYYY", "2011"),
                ("YYYYY", "02011"),
                ("y", "2011"),
                ("yy", "11"),
                ("yyyy", "2011"),
                ("yyyyyy", "002011"),
            ],
        );
        assert_formats(&utc("2005-03-01T00:00:00"), &[("yy", "05"), ("YY", "05")]);
    }

    #[test]
    fn weekyear_and_week_follow_iso_weeks() {
        assert_formats(
            &example(),
            &[("x", "2011"), ("xx", "11"), ("xxxx", "2011"), ("w", "21"), ("ww", "21")],
        );
        // 2011-01-01 is a Saturday in week 52 of weekyear 2010.
        assert_formats(
            &utc("2011-01-01T00:00:00"),
            &[("xxxx", "2010"), ("ww", "52"), ("yyyy", "2011")],
        );
        assert_formats(&utc("2011-01-03T00:00:00"), &[("w", "1"), ("ww", "01")]);
    }

    #[test]
    fn day_of_week_is_a_number_from_monday_or_english_text() {
        assert_formats(
            &example(),
            &[
                ("e", "2"),
                ("ee", "02"),
                ("E", "Tue"),
                ("EE", "Tue"),
                ("EEE", "Tue"),
                ("EEEE", "Tuesday"),
                ("EEEEE", "Tuesday"),
            ],
        );
        assert_formats(
            &utc("2011-05-22T00:00:00"),
            &[("e", "7"), ("EEEE", "Sunday"), ("EEE", "Sun")],
        );
    }

    #[test]
    fn day_of_year_month_and_day_of_month_pad_to_the_count() {
        assert_formats(
            &example(),
            &[
                ("D", "144"),
                ("DD", "144"),
                ("DDDD", "0144"),
                ("M", "5"),
                ("MM", "05"),
                ("MMM", "May"),
                ("MMMM", "May"),
                ("MMMMM", "May"),
                ("d", "24"),
                ("dd", "24"),
                ("ddd", "024"),
            ],
        );
        assert_formats(
            &utc("2011-09-05T00:00:00"),
            &[
                ("D", "248"),
                ("M", "9"),
                ("MMM", "Sep"),
                ("MMMM", "September"),
                ("d", "5"),
                ("dd", "05"),
            ],
        );
        assert_formats(&utc("2011-01-02T00:00:00"), &[("D", "2"), ("DDD", "002")]);
    }

    #[test]
    fn the_four_hour_fields_and_halfday_differ_as_joda_defines_them() {
        assert_formats(
            &example(),
            &[
                ("a", "PM"),
                ("aa", "PM"),
                ("K", "5"),
                ("KK", "05"),
                ("h", "5"),
                ("hh", "05"),
                ("H", "17"),
                ("HH", "17"),
                ("HHH", "017"),
                ("k", "17"),
                ("kk", "17"),
            ],
        );
        assert_formats(
            &utc("2011-05-24T00:05:00"),
            &[
                ("a", "AM"),
                ("K", "0"),
                ("h", "12"),
                ("H", "0"),
                ("HH", "00"),
                ("k", "24"),
            ],
        );
        assert_formats(
            &utc("2011-05-24T12:00:00"),
            &[("a", "PM"), ("K", "0"), ("h", "12"), ("H", "12"), ("k", "12")],
        );
    }

    #[test]
    fn minutes_seconds_and_fractions_pad_or_truncate_to_the_count() {
        assert_formats(
            &example(),
            &[
                ("m", "10"),
                ("mm", "10"),
                ("mmm", "010"),
                ("s", "0"),
                ("ss", "00"),
                ("S", "0"),
                ("SSS", "000"),
                ("SSSSSS", "000000"),
            ],
        );
        let with_millis = example() + chrono::Duration::milliseconds(987);
        assert_formats(
            &with_millis,
            &[
                ("S", "9"),
                ("SS", "98"),
                ("SSS", "987"),
                ("SSSS", "9870"),
                ("SSSSSSSSSSSSSSSSSS", "987000000000000"),
            ],
        );
        assert_formats(
            &(example() + chrono::Duration::milliseconds(5)),
            &[
                ("S", "0"),
                ("SS", "00"),
                ("SSS", "005"),
                ("SSSSSSSSSSSSSSSSSSS", "0000000000000000000"),
            ],
        );
    }

    #[test]
    fn zone_names_offsets_and_ids_in_utc() {
        assert_formats(
            &example(),
            &[
                ("z", "UTC"),
                ("zz", "UTC"),
                ("zzz", "UTC"),
                ("zzzz", "Coordinated Universal Time"),
                ("Z", "+0000"),
                ("ZZ", "+00:00"),
                ("ZZZ", "UTC"),
                ("ZZZZ", "UTC"),
            ],
        );
    }

    #[test]
    fn zone_names_offsets_and_ids_follow_daylight_saving() {
        let summer = in_zone("2011-05-24T17:10:00", chrono_tz::America::Los_Angeles);
        assert_formats(
            &summer,
            &[
                ("HH:mm z", "10:10 PDT"),
                ("zzzz", "Pacific Daylight Time"),
                ("Z", "-0700"),
                ("ZZ", "-07:00"),
                ("ZZZ", "America/Los_Angeles"),
            ],
        );
        let winter = in_zone("2011-12-24T17:10:00", chrono_tz::America::Los_Angeles);
        assert_formats(
            &winter,
            &[("z", "PST"), ("zzzz", "Pacific Standard Time"), ("Z", "-0800")],
        );
        let india = in_zone("2011-05-24T17:10:00", chrono_tz::Asia::Kolkata);
        assert_formats(
            &india,
            &[
                ("HH:mm", "22:40"),
                ("z", "IST"),
                ("zzzz", "India Standard Time"),
                ("Z", "+0530"),
            ],
        );
        let paris = in_zone("2011-05-24T17:10:00", chrono_tz::Europe::Paris);
        assert_formats(
            &paris,
            &[
                ("z", "CEST"),
                ("zzzz", "Central European Summer Time"),
                ("ZZ", "+02:00"),
            ],
        );
    }

    #[test]
    fn zones_without_a_name_print_their_offset() {
        let dubai = in_zone("2011-05-24T17:10:00", chrono_tz::Asia::Dubai);
        assert_formats(&dubai, &[("z", "+04:00"), ("zzzz", "+04:00"), ("ZZZ", "Asia/Dubai")]);
    }

    #[test]
    fn quoted_text_and_non_letters_print_as_themselves() {
        assert_formats(
            &example(),
            &[
                ("'T'", "T"),
                ("''", "'"),
                ("HH 'o''clock'", "17 o'clock"),
                ("'at' HH:mm", "at 17:10"),
                ("yyyy/MM/dd", "2011/05/24"),
                ("[dd] #1 é", "[24] #1 é"),
                ("''HH''", "'17'"),
                ("'year' yyyy", "year 2011"),
                ("", ""),
            ],
        );
    }

    #[test]
    fn unknown_letters_are_illegal_pattern_components() {
        for (pattern, token) in [
            ("q", "q"),
            ("YYYY-qq", "qq"),
            ("T", "T"),
            ("b", "b"),
            ("yyyy-MM-dd HH:mm:ss.SSSX", "X"),
        ] {
            assert_eq!(
                check_pattern(pattern),
                Err(format!("Illegal pattern component: {token}")),
                "{pattern}"
            );
            assert!(format(&example(), pattern).is_err());
        }
    }

    #[test]
    fn an_unterminated_quote_is_an_error() {
        for pattern in ["'T", "yyyy 'at", "'''"] {
            let error = check_pattern(pattern).unwrap_err();
            assert!(error.contains("Unterminated quote"), "{pattern}: {error}");
        }
    }

    #[test]
    fn every_valid_pattern_letter_passes_the_check() {
        for letter in "GCYxwweEDyMdaKhHkmsSzZ".chars() {
            for count in 1..=5 {
                let pattern: String = std::iter::repeat_n(letter, count).collect();
                assert_eq!(check_pattern(&pattern), Ok(()), "{pattern}");
            }
        }
    }

    #[test]
    fn joda_iso_form_shows_millis_and_offset() {
        let mut out = String::new();
        write_iso(
            &mut out,
            &in_zone("2011-05-24T17:10:00", chrono_tz::America::Los_Angeles),
        );
        assert_eq!(out, "2011-05-24T10:10:00.000-07:00");
        out.clear();
        write_iso(&mut out, &in_zone("2011-01-24T17:10:00", chrono_tz::Europe::London));
        assert_eq!(out, "2011-01-24T17:10:00.000Z");
    }

    #[test]
    fn padded_numbers_put_the_sign_before_the_zeros() {
        let mut out = String::new();
        push_padded(&mut out, -5, 4);
        push_padded(&mut out, i64::MIN, 1);
        assert_eq!(out, "-0005-9223372036854775808");
    }
}
