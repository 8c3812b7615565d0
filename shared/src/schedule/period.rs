//! Periods such as `15 minutes`, `1 Day` or `3 months`: the step of a schedule and of the
//! `plusPeriod` expression function. Seconds are a Sluice extension for the fields that
//! wait (`retryDelay`, timeouts); a schedule still steps by a minute at least.

use std::fmt;

use chrono::{DateTime, Duration, Months, NaiveDateTime, Offset, TimeDelta, TimeZone};
use thiserror::Error;

/// The longest period Sluice accepts in a definition: a Schedule's `period` and every field
/// that waits (`retryDelay`, `retryMaximumDelay`, `attemptTimeout`, `reportProgressTimeout`,
/// `lateAfterTimeout`, `preconditionTimeout`, `initTimeout`, `terminateAfter`). Compared as
/// [`Period::nominal_seconds`] counts (a year of 365 days, a month of 30), so `120 months`
/// and `3650 days` are within it. Longer is a mistake (AWS stopped schedules at 3 years),
/// and it keeps every date Sluice computes far inside chrono's range.
pub const MAX_PERIOD: Period = Period::new(10, PeriodUnit::Years);

/// [`MAX_PERIOD`] as a length of time: the longest any wait, retries' backoff included, lasts.
pub const MAX_DELAY: TimeDelta = TimeDelta::seconds(MAX_PERIOD.nominal_seconds());

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PeriodUnit {
    Seconds,
    Minutes,
    Hours,
    Days,
    Weeks,
    Months,
    Years,
}

impl PeriodUnit {
    fn parse(word: &str) -> Option<Self> {
        let word = word.to_ascii_lowercase();
        let singular = word.strip_suffix('s').unwrap_or(&word);
        Some(match singular {
            "second" => Self::Seconds,
            "minute" => Self::Minutes,
            "hour" => Self::Hours,
            "day" => Self::Days,
            "week" => Self::Weeks,
            "month" => Self::Months,
            "year" => Self::Years,
            _ => return None,
        })
    }

    fn name(self, count: u32) -> &'static str {
        match (self, count == 1) {
            (Self::Seconds, true) => "second",
            (Self::Seconds, false) => "seconds",
            (Self::Minutes, true) => "minute",
            (Self::Minutes, false) => "minutes",
            (Self::Hours, true) => "hour",
            (Self::Hours, false) => "hours",
            (Self::Days, true) => "day",
            (Self::Days, false) => "days",
            (Self::Weeks, true) => "week",
            (Self::Weeks, false) => "weeks",
            (Self::Months, true) => "month",
            (Self::Months, false) => "months",
            (Self::Years, true) => "year",
            (Self::Years, false) => "years",
        }
    }
}

/// `N second(s)|minute(s)|hour(s)|day(s)|week(s)|month(s)|year(s)`, any case, N ≥ 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    pub count: u32,
    pub unit: PeriodUnit,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PeriodError {
    #[error(
        "\"{text}\" is not a period: write a whole number and a unit, for example \"15 minutes\", \"1 hour\", \"1 day\", \"2 weeks\", \"1 month\" or \"1 year\""
    )]
    Malformed { text: String },
    #[error("\"{text}\" is longer than the most Sluice allows ({MAX_PERIOD}): write {MAX_PERIOD} or less")]
    TooLong { text: String },
}

impl Period {
    pub const fn new(count: u32, unit: PeriodUnit) -> Self {
        Self { count, unit }
    }

    /// Any period, however long: a count beyond `u32` is [`PeriodError::TooLong`], since
    /// it is longer than [`MAX_PERIOD`] in any unit.
    pub fn parse(text: &str) -> Result<Self, PeriodError> {
        let malformed = || PeriodError::Malformed { text: text.to_owned() };
        let mut words = text.split_whitespace();
        let (Some(count), Some(unit), None) = (words.next(), words.next(), words.next()) else {
            return Err(malformed());
        };
        let unit = PeriodUnit::parse(unit).ok_or_else(malformed)?;
        let digits = count.strip_prefix('+').unwrap_or(count);
        if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(malformed());
        }
        let count = match digits.parse::<u32>() {
            Ok(0) => return Err(malformed()),
            Ok(count) => count,
            // Only digits, so too many of them.
            Err(_) => return Err(PeriodError::TooLong { text: text.to_owned() }),
        };
        Ok(Self { count, unit })
    }

    /// A period a definition may hold: at most [`MAX_PERIOD`].
    pub fn parse_within_limit(text: &str) -> Result<Self, PeriodError> {
        let period = Self::parse(text)?;
        if period.nominal_seconds() > MAX_PERIOD.nominal_seconds() {
            return Err(PeriodError::TooLong { text: text.to_owned() });
        }
        Ok(period)
    }

    /// Length in seconds, counting a month as 30 days and a year as 365: for comparing a
    /// period against limits, never for date arithmetic. At most `u32::MAX` years, far inside
    /// `i64`.
    pub const fn nominal_seconds(self) -> i64 {
        let unit = match self.unit {
            PeriodUnit::Seconds => 1,
            PeriodUnit::Minutes => 60,
            PeriodUnit::Hours => 3_600,
            PeriodUnit::Days => 86_400,
            PeriodUnit::Weeks => 7 * 86_400,
            PeriodUnit::Months => 30 * 86_400,
            PeriodUnit::Years => 365 * 86_400,
        };
        // `i64::from` is not const; widening u32 to i64 is lossless.
        self.count as i64 * unit
    }

    /// The period as a length of time, counted from 1970-01-01 (so a month is 31 days and a
    /// year 365): how long a wait such as `retryDelay` lasts. [`TimeDelta::MAX`] for a period
    /// longer than chrono can count, which a definition cannot hold (see [`MAX_PERIOD`]).
    pub fn as_delay(self) -> TimeDelta {
        let origin = DateTime::UNIX_EPOCH.naive_utc();
        self.add_naive(origin, 1)
            .map_or(TimeDelta::MAX, |end| end.signed_duration_since(origin))
    }

    /// `datetime` plus `times` periods (negative: minus), computed from `datetime` in one
    /// step so that months never drift: Jan 31 plus one month is Feb 28 (or 29), plus two
    /// months is Mar 31, as Joda-Time computes it. `None` when the result is out of range.
    pub fn add_naive(self, datetime: NaiveDateTime, times: i64) -> Option<NaiveDateTime> {
        let steps = times.checked_mul(i64::from(self.count))?;
        match self.unit {
            PeriodUnit::Seconds => datetime.checked_add_signed(Duration::try_seconds(steps)?),
            PeriodUnit::Minutes => datetime.checked_add_signed(Duration::try_minutes(steps)?),
            PeriodUnit::Hours => datetime.checked_add_signed(Duration::try_hours(steps)?),
            PeriodUnit::Days => datetime.checked_add_signed(Duration::try_days(steps)?),
            PeriodUnit::Weeks => datetime.checked_add_signed(Duration::try_weeks(steps)?),
            PeriodUnit::Months => add_months(datetime, steps),
            PeriodUnit::Years => add_months(datetime, steps.checked_mul(12)?),
        }
    }

    /// Like [`Period::add_naive`] on a zoned date-time, with Joda's rules: minutes and hours
    /// (and seconds) are exact durations; days and longer move the local date and keep the
    /// local time
    /// (a local time that a DST change skips moves forward by the gap). An exact duration may
    /// end where the local time is past chrono's calendar (expressions print such an instant
    /// in UTC); a step by days or longer from there is `None`.
    pub fn add_zoned<Tz: TimeZone>(self, datetime: &DateTime<Tz>, times: i64) -> Option<DateTime<Tz>> {
        match self.unit {
            PeriodUnit::Seconds | PeriodUnit::Minutes | PeriodUnit::Hours => {
                let utc = self.add_naive(datetime.naive_utc(), times)?;
                Some(datetime.timezone().from_utc_datetime(&utc))
            }
            _ => {
                let local = self.add_naive(local_time(datetime)?, times)?;
                resolve_local(&datetime.timezone(), local)
            }
        }
    }
}

/// A zoned date-time's local time, `None` where its offset takes it outside chrono's range.
fn local_time<Tz: TimeZone>(datetime: &DateTime<Tz>) -> Option<NaiveDateTime> {
    datetime.naive_utc().checked_add_offset(datetime.offset().fix())
}

/// Maps a local time to an instant the way Joda does: the earlier offset in an overlap,
/// and a time inside a gap moved forward by the gap (02:30 in a one-hour spring-forward gap
/// becomes 03:30), which is the local time read with the offset in force before the gap.
pub fn resolve_local<Tz: TimeZone>(zone: &Tz, local: NaiveDateTime) -> Option<DateTime<Tz>> {
    match zone.from_local_datetime(&local) {
        chrono::LocalResult::Single(datetime) => Some(datetime),
        chrono::LocalResult::Ambiguous(earlier, _) => Some(earlier),
        chrono::LocalResult::None => {
            // Around a gap the offset rises from `before` to `after`. Reading the local time
            // as UTC and then shifting by the offset found there lands on each side of the
            // transition once (as Joda's convertLocalToUTC does), whatever the offsets' signs;
            // the smaller of the two offsets is `before`.
            let offset_at = |utc: NaiveDateTime| zone.offset_from_utc_datetime(&utc).fix().local_minus_utc();
            let as_utc = offset_at(local);
            let shifted = offset_at(local.checked_sub_signed(Duration::try_seconds(i64::from(as_utc))?)?);
            let before = as_utc.min(shifted);
            let utc = local.checked_sub_signed(Duration::try_seconds(i64::from(before))?)?;
            Some(zone.from_utc_datetime(&utc))
        }
    }
}

fn add_months(datetime: NaiveDateTime, months: i64) -> Option<NaiveDateTime> {
    let magnitude = Months::new(u32::try_from(months.unsigned_abs()).ok()?);
    let date = if months >= 0 {
        datetime.date().checked_add_months(magnitude)?
    } else {
        datetime.date().checked_sub_months(magnitude)?
    };
    // chrono clamps the day to the month's end, as Joda does.
    Some(date.and_time(datetime.time()))
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.count, self.unit.name(self.count))
    }
}

impl std::str::FromStr for Period {
    type Err = PeriodError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_datetime;

    #[test]
    fn parses_every_unit_in_any_case_and_number() {
        let cases = [
            ("15 minutes", Period::new(15, PeriodUnit::Minutes)),
            ("15 Minutes", Period::new(15, PeriodUnit::Minutes)),
            ("1 minute", Period::new(1, PeriodUnit::Minutes)),
            ("10 seconds", Period::new(10, PeriodUnit::Seconds)),
            ("1 Second", Period::new(1, PeriodUnit::Seconds)),
            ("1 Hour", Period::new(1, PeriodUnit::Hours)),
            ("2 HOURS", Period::new(2, PeriodUnit::Hours)),
            ("1 Day", Period::new(1, PeriodUnit::Days)),
            ("1 days", Period::new(1, PeriodUnit::Days)),
            ("2 weeks", Period::new(2, PeriodUnit::Weeks)),
            ("1 month", Period::new(1, PeriodUnit::Months)),
            ("3 years", Period::new(3, PeriodUnit::Years)),
            ("  4   hours ", Period::new(4, PeriodUnit::Hours)),
        ];
        for (text, expected) in cases {
            assert_eq!(Period::parse(text).unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_period() {
        for text in [
            "",
            "15",
            "minutes",
            "0 minutes",
            "-1 days",
            "1.5 hours",
            "1 fortnight",
            "1 day 2 hours",
            "ONDEMAND_PERIOD",
        ] {
            let error = Period::parse(text).unwrap_err();
            assert!(error.to_string().contains("15 minutes"), "{text}: {error}");
        }
    }

    #[test]
    fn prints_singular_and_plural() {
        assert_eq!(Period::new(1, PeriodUnit::Days).to_string(), "1 day");
        assert_eq!(Period::new(15, PeriodUnit::Minutes).to_string(), "15 minutes");
    }

    #[test]
    fn month_steps_clamp_like_joda_without_drifting() {
        let january_31 = parse_datetime("2013-01-31T10:00:00").unwrap();
        let month = Period::new(1, PeriodUnit::Months);
        assert_eq!(
            month.add_naive(january_31, 1),
            Some(parse_datetime("2013-02-28T10:00:00").unwrap())
        );
        assert_eq!(
            month.add_naive(january_31, 2),
            Some(parse_datetime("2013-03-31T10:00:00").unwrap())
        );
        assert_eq!(
            month.add_naive(january_31, -2),
            Some(parse_datetime("2012-11-30T10:00:00").unwrap())
        );
        let leap_day = parse_datetime("2012-02-29T00:00:00").unwrap();
        assert_eq!(
            Period::new(1, PeriodUnit::Years).add_naive(leap_day, 1),
            Some(parse_datetime("2013-02-28T00:00:00").unwrap())
        );
    }

    #[test]
    fn zoned_days_keep_local_time_across_dst() {
        let zone = chrono_tz::America::New_York;
        let before = resolve_local(&zone, parse_datetime("2026-03-07T12:00:00").unwrap()).unwrap();
        let after = Period::new(1, PeriodUnit::Days).add_zoned(&before, 1).unwrap();
        assert_eq!(after.naive_local(), parse_datetime("2026-03-08T12:00:00").unwrap());
        let hours = Period::new(24, PeriodUnit::Hours).add_zoned(&before, 1).unwrap();
        assert_eq!(hours.naive_local(), parse_datetime("2026-03-08T13:00:00").unwrap());
    }

    #[test]
    fn a_local_time_in_a_spring_forward_gap_moves_forward_by_the_gap_as_in_joda() {
        // Given local times inside one-hour gaps, west and east of Greenwich
        let cases = [
            (
                chrono_tz::America::New_York,
                "2026-03-08T02:30:15",
                "2026-03-08T03:30:15",
                -4,
            ),
            (
                chrono_tz::Europe::Berlin,
                "2026-03-29T02:30:15",
                "2026-03-29T03:30:15",
                2,
            ),
            (
                chrono_tz::Australia::Lord_Howe,
                "2026-10-04T02:15:00",
                "2026-10-04T02:45:00",
                11,
            ),
        ];
        for (zone, local, expected, offset_hours) in cases {
            // When resolving them
            let resolved = resolve_local(&zone, parse_datetime(local).unwrap()).unwrap();

            // Then they move forward by the gap, into the later offset
            assert_eq!(
                resolved.naive_local(),
                parse_datetime(expected).unwrap(),
                "{zone} {local}"
            );
            let seconds = resolved.offset().fix().local_minus_utc();
            assert_eq!(seconds, offset_hours * 3600, "{zone}");
        }
    }

    #[test]
    fn zoned_days_landing_in_a_gap_move_forward_by_the_gap() {
        let zone = chrono_tz::America::New_York;
        let before = resolve_local(&zone, parse_datetime("2026-03-07T02:30:00").unwrap()).unwrap();
        let after = Period::new(1, PeriodUnit::Days).add_zoned(&before, 1).unwrap();
        assert_eq!(after.naive_local(), parse_datetime("2026-03-08T03:30:00").unwrap());
    }

    proptest::proptest! {
        #[test]
        fn zoned_arithmetic_never_panics_at_any_date_and_adding_nothing_changes_nothing(
            seconds in chrono::NaiveDateTime::MIN.and_utc().timestamp()..=chrono::NaiveDateTime::MAX.and_utc().timestamp(),
            times in proptest::prelude::any::<i64>(),
            count in 1..=u32::MAX,
        ) {
            let local = chrono::DateTime::from_timestamp(seconds, 0).map(|utc| utc.naive_utc()).unwrap_or_default();
            for zone in [chrono_tz::America::New_York, chrono_tz::Australia::Lord_Howe, chrono_tz::UTC] {
                if let Some(resolved) = resolve_local(&zone, local) {
                    let _ = Period::new(count, PeriodUnit::Days).add_zoned(&resolved, times);
                    let _ = Period::new(count, PeriodUnit::Minutes).add_zoned(&resolved, times % 1_000);
                    // And adding nothing is the identity
                    proptest::prop_assert_eq!(Period::new(count, PeriodUnit::Hours).add_zoned(&resolved, 0), Some(resolved));
                }
            }
        }
    }

    #[test]
    fn huge_periods_parse_or_are_too_long_and_never_panic() {
        // Given counts far beyond any date chrono can hold
        let too_many_digits = Period::parse("9223372036854775807 seconds").unwrap_err();
        let years = Period::parse("999999999 years").unwrap();
        let months = Period::parse("2147483647 months").unwrap();

        // Then a count beyond u32 is too long, and the others are too long for a definition
        assert_eq!(
            too_many_digits.to_string(),
            "\"9223372036854775807 seconds\" is longer than the most Sluice allows (10 years): write 10 years or less"
        );
        assert_eq!(
            Period::parse_within_limit("999999999 years").unwrap_err().to_string(),
            "\"999999999 years\" is longer than the most Sluice allows (10 years): write 10 years or less"
        );
        assert!(matches!(
            Period::parse_within_limit("2147483647 months"),
            Err(PeriodError::TooLong { .. })
        ));
        // And as lengths of time and as steps they are out of range, not a panic
        assert_eq!(years.as_delay(), TimeDelta::MAX);
        assert_eq!(months.as_delay(), TimeDelta::MAX);
        let near_the_end = parse_datetime("9999-12-31T23:59:59").unwrap();
        assert_eq!(years.add_naive(near_the_end, 1), None);
        assert_eq!(months.add_naive(near_the_end, -1), None);
    }

    #[test]
    fn the_limit_is_ten_years_counted_as_365_day_years_and_30_day_months() {
        for text in [
            "10 years",
            "120 months",
            "121 months",
            "521 weeks",
            "3650 days",
            "315360000 seconds",
        ] {
            assert!(Period::parse_within_limit(text).is_ok(), "{text}");
        }
        for text in [
            "11 years",
            "122 months",
            "522 weeks",
            "3651 days",
            "87601 hours",
            "315360001 seconds",
        ] {
            assert!(
                matches!(Period::parse_within_limit(text), Err(PeriodError::TooLong { .. })),
                "{text}"
            );
        }
        assert_eq!(MAX_DELAY, TimeDelta::days(3650));
        assert_eq!(
            Period::new(10, PeriodUnit::Years).as_delay(),
            TimeDelta::days(3652),
            "two leap days from 1970"
        );
    }

    proptest::proptest! {
        #[test]
        fn no_text_makes_parsing_panic_and_a_period_within_the_limit_fits_after_any_aws_date(
            text in "[+-]?[0-9]{0,25} ?(second|minute|hour|day|week|month|year|[A-Za-z]{0,8})s?",
        ) {
            if let Ok(period) = Period::parse(&text) {
                let _ = period.as_delay();
            }
            if let Ok(period) = Period::parse_within_limit(&text) {
                // The latest date-time a definition can write, plus the longest wait
                let last = parse_datetime("9999-12-31T23:59:59").unwrap();
                proptest::prop_assert!(period.add_naive(last, 1).is_some(), "{}", period);
                proptest::prop_assert!(period.as_delay() <= TimeDelta::days(10 * 366), "{}", period);
            }
        }
    }

    #[test]
    fn zoned_days_from_a_local_time_past_the_calendar_are_none_not_a_panic() {
        // Given an hour before chrono's last UTC date-time, in a zone nine hours ahead, and
        // nine hours before that
        let zone = chrono_tz::Asia::Tokyo;
        let last_hour = NaiveDateTime::MAX.checked_sub_signed(Duration::hours(1)).unwrap();
        let past_the_calendar = zone.from_utc_datetime(&last_hour);
        let earlier = zone.from_utc_datetime(&last_hour.checked_sub_signed(Duration::hours(9)).unwrap());

        // When stepping by hours to where the local time is past the calendar
        let stepped = Period::new(9, PeriodUnit::Hours).add_zoned(&earlier, 1);

        // Then hours are exact, wherever the local time lands
        assert_eq!(stepped, Some(past_the_calendar));
        // And days or months from there, which move the local date, are None
        assert_eq!(Period::new(1, PeriodUnit::Days).add_zoned(&past_the_calendar, 0), None);
        assert_eq!(
            Period::new(1, PeriodUnit::Months).add_zoned(&past_the_calendar, -1),
            None
        );
    }

    #[test]
    fn out_of_range_is_none_not_a_panic() {
        let datetime = parse_datetime("2026-01-01T00:00:00").unwrap();
        assert_eq!(
            Period::new(u32::MAX, PeriodUnit::Years).add_naive(datetime, i64::MAX),
            None
        );
        assert_eq!(
            Period::new(u32::MAX, PeriodUnit::Minutes).add_naive(datetime, i64::MAX),
            None
        );
    }
}
