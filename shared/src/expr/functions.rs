//! The function library of reference §4.3 plus `inTimeZone`, `plusPeriod` and
//! `minusPeriod`: names, signatures, and what each computes. Date-time semantics follow
//! Joda-Time in the value's own zone.

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike};
use chrono_tz::Tz;

use super::{ExprError, Value, joda};
use crate::schedule::{Period, PeriodUnit, resolve_local};

/// A library function. Names are case-sensitive, spelled as AWS spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Function {
    Day,
    DayOfYear,
    FirstOfMonth,
    Format,
    Hour,
    InTimeZone,
    MakeDate,
    MakeDateTime,
    Midnight,
    MinusDays,
    MinusHours,
    MinusMinutes,
    MinusMonths,
    MinusPeriod,
    MinusWeeks,
    MinusYears,
    Minute,
    Month,
    PlusDays,
    PlusHours,
    PlusMinutes,
    PlusMonths,
    PlusPeriod,
    PlusWeeks,
    PlusYears,
    Sunday,
    Year,
    Yesterday,
}

/// What a parameter must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    DateTime,
    Int,
    Text,
    Period,
}

/// One parameter: its kind and what it means, for signatures and error messages.
type Param = (Kind, &'static str);

const DATETIME: Param = (Kind::DateTime, "date-time");

/// Every function in alphabetical order, with its name and parameters.
const FUNCTIONS: [(Function, &str, &[Param]); 28] = [
    (Function::Day, "day", &[DATETIME]),
    (Function::DayOfYear, "dayOfYear", &[DATETIME]),
    (Function::FirstOfMonth, "firstOfMonth", &[DATETIME]),
    (Function::Format, "format", &[DATETIME, (Kind::Text, "pattern")]),
    (Function::Hour, "hour", &[DATETIME]),
    (Function::InTimeZone, "inTimeZone", &[DATETIME, (Kind::Text, "zone")]),
    (
        Function::MakeDate,
        "makeDate",
        &[(Kind::Int, "year"), (Kind::Int, "month"), (Kind::Int, "day")],
    ),
    (
        Function::MakeDateTime,
        "makeDateTime",
        &[
            (Kind::Int, "year"),
            (Kind::Int, "month"),
            (Kind::Int, "day"),
            (Kind::Int, "hour"),
            (Kind::Int, "minute"),
        ],
    ),
    (Function::Midnight, "midnight", &[DATETIME]),
    (Function::MinusDays, "minusDays", &[DATETIME, (Kind::Int, "days")]),
    (Function::MinusHours, "minusHours", &[DATETIME, (Kind::Int, "hours")]),
    (
        Function::MinusMinutes,
        "minusMinutes",
        &[DATETIME, (Kind::Int, "minutes")],
    ),
    (Function::MinusMonths, "minusMonths", &[DATETIME, (Kind::Int, "months")]),
    (
        Function::MinusPeriod,
        "minusPeriod",
        &[DATETIME, (Kind::Period, "period")],
    ),
    (Function::MinusWeeks, "minusWeeks", &[DATETIME, (Kind::Int, "weeks")]),
    (Function::MinusYears, "minusYears", &[DATETIME, (Kind::Int, "years")]),
    (Function::Minute, "minute", &[DATETIME]),
    (Function::Month, "month", &[DATETIME]),
    (Function::PlusDays, "plusDays", &[DATETIME, (Kind::Int, "days")]),
    (Function::PlusHours, "plusHours", &[DATETIME, (Kind::Int, "hours")]),
    (
        Function::PlusMinutes,
        "plusMinutes",
        &[DATETIME, (Kind::Int, "minutes")],
    ),
    (Function::PlusMonths, "plusMonths", &[DATETIME, (Kind::Int, "months")]),
    (
        Function::PlusPeriod,
        "plusPeriod",
        &[DATETIME, (Kind::Period, "period")],
    ),
    (Function::PlusWeeks, "plusWeeks", &[DATETIME, (Kind::Int, "weeks")]),
    (Function::PlusYears, "plusYears", &[DATETIME, (Kind::Int, "years")]),
    (Function::Sunday, "sunday", &[DATETIME]),
    (Function::Year, "year", &[DATETIME]),
    (Function::Yesterday, "yesterday", &[DATETIME]),
];

const NAMES: [&str; 28] = {
    let mut names = [""; 28];
    let mut index = 0;
    while index < FUNCTIONS.len() {
        names[index] = FUNCTIONS[index].1;
        index += 1;
    }
    names
};

/// The names of every function an expression can call, in alphabetical order.
pub fn function_names() -> &'static [&'static str] {
    &NAMES
}

/// A library function's signature as the guide writes it, `plusDays(DateTime, int days)`;
/// `None` for a name that is not a function.
pub fn function_signature(name: &str) -> Option<String> {
    Function::lookup(name).map(Function::signature)
}

impl Function {
    pub(super) fn lookup(name: &str) -> Option<Self> {
        FUNCTIONS
            .iter()
            .find(|(_, known, _)| *known == name)
            .map(|(function, _, _)| *function)
    }

    fn entry(self) -> (&'static str, &'static [Param]) {
        FUNCTIONS
            .iter()
            .find(|(function, _, _)| *function == self)
            .map_or(("", &[]), |(_, name, params)| (*name, *params))
    }

    pub(super) fn name(self) -> &'static str {
        self.entry().0
    }

    pub(super) fn arity(self) -> usize {
        self.entry().1.len()
    }

    /// `plusDays(DateTime, int days)`.
    pub(super) fn signature(self) -> String {
        let (name, params) = self.entry();
        let params: Vec<String> = params
            .iter()
            .map(|(kind, meaning)| match kind {
                Kind::DateTime => "DateTime".to_owned(),
                Kind::Int => format!("int {meaning}"),
                Kind::Text => format!("String {meaning}"),
                Kind::Period => format!("Period {meaning}"),
            })
            .collect();
        format!("{name}({})", params.join(", "))
    }

    /// The message for a name that is not a function, with the nearest name when one is
    /// close: `unknown function "formatt": did you mean "format"?`.
    pub(super) fn unknown(name: &str) -> String {
        match suggest(name) {
            Some(suggestion) => format!("unknown function \"{name}\": did you mean \"{suggestion}\"?"),
            None => format!(
                "unknown function \"{name}\": the functions are {}",
                function_names().join(", ")
            ),
        }
    }

    /// Applies the function to scalar arguments (lists are spread by the caller).
    /// `offsets` are where each argument starts, for errors about it; `at` is where the
    /// function's name is.
    pub(super) fn apply(self, args: &[Value], offsets: &[usize], at: usize) -> Result<Value, ExprError> {
        let args = Args {
            function: self,
            values: args,
            offsets,
            at,
        };
        let shifted = |unit: PeriodUnit, sign: i64| -> Result<Value, ExprError> {
            let datetime = args.datetime(0)?;
            let times = args.int(1)?.checked_mul(sign).ok_or_else(|| args.out_of_range())?;
            let result = Period::new(1, unit).add_zoned(&datetime, times);
            result.map(Value::DateTime).ok_or_else(|| args.out_of_range())
        };
        match self {
            Function::Day => Ok(Value::Int(i64::from(args.local(0)?.1.day()))),
            Function::DayOfYear => Ok(Value::Int(i64::from(args.local(0)?.1.ordinal()))),
            Function::Hour => Ok(Value::Int(i64::from(args.local(0)?.1.hour()))),
            Function::Minute => Ok(Value::Int(i64::from(args.local(0)?.1.minute()))),
            Function::Month => Ok(Value::Int(i64::from(args.local(0)?.1.month()))),
            Function::Year => Ok(Value::Int(i64::from(args.local(0)?.1.year()))),
            Function::FirstOfMonth => {
                let (datetime, local) = args.local(0)?;
                let first = local.date().with_day(1).map(|date| date.and_time(local.time()));
                args.in_zone(&datetime, first)
            }
            Function::Midnight => {
                let (datetime, local) = args.local(0)?;
                let start = local.date().and_time(NaiveTime::MIN);
                args.in_zone(&datetime, Some(start))
            }
            Function::Sunday => {
                let (datetime, local) = args.local(0)?;
                let back = Days::new(u64::from(local.weekday().num_days_from_sunday()));
                let sunday = local
                    .date()
                    .checked_sub_days(back)
                    .map(|date| date.and_time(local.time()));
                args.in_zone(&datetime, sunday)
            }
            Function::Yesterday => {
                let datetime = args.datetime(0)?;
                let result = Period::new(1, PeriodUnit::Days).add_zoned(&datetime, -1);
                result.map(Value::DateTime).ok_or_else(|| args.out_of_range())
            }
            Function::PlusMinutes => shifted(PeriodUnit::Minutes, 1),
            Function::PlusHours => shifted(PeriodUnit::Hours, 1),
            Function::PlusDays => shifted(PeriodUnit::Days, 1),
            Function::PlusWeeks => shifted(PeriodUnit::Weeks, 1),
            Function::PlusMonths => shifted(PeriodUnit::Months, 1),
            Function::PlusYears => shifted(PeriodUnit::Years, 1),
            Function::MinusMinutes => shifted(PeriodUnit::Minutes, -1),
            Function::MinusHours => shifted(PeriodUnit::Hours, -1),
            Function::MinusDays => shifted(PeriodUnit::Days, -1),
            Function::MinusWeeks => shifted(PeriodUnit::Weeks, -1),
            Function::MinusMonths => shifted(PeriodUnit::Months, -1),
            Function::MinusYears => shifted(PeriodUnit::Years, -1),
            Function::PlusPeriod | Function::MinusPeriod => {
                let datetime = args.datetime(0)?;
                let period = args.period(1)?;
                let times = if self == Function::PlusPeriod { 1 } else { -1 };
                let result = period.add_zoned(&datetime, times);
                result.map(Value::DateTime).ok_or_else(|| args.out_of_range())
            }
            Function::MakeDate | Function::MakeDateTime => {
                let year = args.int(0)?;
                let month = args.int(1)?;
                let day = args.int(2)?;
                let (hour, minute) = if self == Function::MakeDateTime {
                    (args.int(3)?, args.int(4)?)
                } else {
                    (0, 0)
                };
                make_datetime(year, month, day, hour, minute)
                    .map(|naive| Value::DateTime(Tz::UTC.from_utc_datetime(&naive)))
                    .ok_or_else(|| {
                        let what = if self == Function::MakeDate {
                            format!("{year}-{month:02}-{day:02}")
                        } else {
                            format!("{year}-{month:02}-{day:02} {hour:02}:{minute:02}")
                        };
                        ExprError::new(at, format!("{}: {what} is not a valid date and time", self.name()))
                    })
            }
            Function::InTimeZone => {
                let datetime = args.datetime(0)?;
                let name = args.text(1)?;
                let zone: Tz = name.parse().map_err(|_| {
                    args.error(
                        1,
                        format!(
                            "unknown time zone \"{name}\": write a tz database zone such as \"America/Los_Angeles\", \"Europe/Paris\" or \"UTC\" (names are case-sensitive)"
                        ),
                    )
                })?;
                let moved = datetime.with_timezone(&zone);
                match joda::local_time(&moved) {
                    Some(_) => Ok(Value::DateTime(moved)),
                    None => Err(args.out_of_range()),
                }
            }
            Function::Format => {
                let datetime = args.datetime(0)?;
                let pattern = args.text(1)?;
                let pattern = joda::Pattern::compile(pattern)
                    .map_err(|message| args.error(1, format!("invalid Joda-Time pattern: {message}")))?;
                format_with(&pattern, &datetime).map_err(|message| args.error(0, message))
            }
        }
    }
}

/// Formats with an already compiled pattern.
pub(super) fn format_with(pattern: &joda::Pattern, datetime: &DateTime<Tz>) -> Result<Value, String> {
    let mut out = String::with_capacity(pattern.len_hint());
    pattern.write(datetime, &mut out)?;
    Ok(Value::Str(out))
}

fn make_datetime(year: i64, month: i64, day: i64, hour: i64, minute: i64) -> Option<NaiveDateTime> {
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(year).ok()?,
        u32::try_from(month).ok()?,
        u32::try_from(day).ok()?,
    )?;
    let time = NaiveTime::from_hms_opt(u32::try_from(hour).ok()?, u32::try_from(minute).ok()?, 0)?;
    Some(date.and_time(time))
}

/// The arguments of one call, with coercions that report which argument was wrong.
struct Args<'a> {
    function: Function,
    values: &'a [Value],
    offsets: &'a [usize],
    at: usize,
}

impl Args<'_> {
    fn value(&self, index: usize) -> Result<&Value, ExprError> {
        self.values.get(index).ok_or_else(|| {
            ExprError::new(
                self.at,
                format!("{}: argument {} is missing", self.function.name(), index + 1),
            )
        })
    }

    fn error(&self, index: usize, message: String) -> ExprError {
        let offset = self.offsets.get(index).copied().unwrap_or(self.at);
        ExprError::new(offset, format!("{}: {message}", self.function.name()))
    }

    fn wrong(&self, index: usize, expected: &str) -> ExprError {
        let meaning = self
            .function
            .entry()
            .1
            .get(index)
            .map_or("value", |(_, meaning)| *meaning);
        let found = self
            .values
            .get(index)
            .map_or_else(|| "nothing".to_owned(), Value::describe);
        self.error(
            index,
            format!(
                "argument {} (the {meaning}) must be {expected}, but it is {found}",
                index + 1
            ),
        )
    }

    /// A date-time argument with its local time in its zone. One whose local time is
    /// outside the calendar is refused here, so that chrono's accessors (which panic on
    /// such a value) are never reached with it.
    fn local(&self, index: usize) -> Result<(DateTime<Tz>, NaiveDateTime), ExprError> {
        let datetime = self.value(index)?.to_datetime().ok_or_else(|| {
            self.wrong(
                index,
                "a date-time such as @scheduledStartTime or \"2011-05-24T17:10:00\"",
            )
        })?;
        match joda::local_time(&datetime) {
            Some(local) => Ok((datetime, local)),
            None => Err(self.error(index, joda::OUT_OF_RANGE.to_owned())),
        }
    }

    fn datetime(&self, index: usize) -> Result<DateTime<Tz>, ExprError> {
        self.local(index).map(|(datetime, _)| datetime)
    }

    fn int(&self, index: usize) -> Result<i64, ExprError> {
        self.value(index)?
            .to_int()
            .ok_or_else(|| self.wrong(index, "a whole number"))
    }

    fn text(&self, index: usize) -> Result<&str, ExprError> {
        match self.value(index)? {
            Value::Str(text) => Ok(text),
            _ => Err(self.wrong(index, "text in quotes")),
        }
    }

    fn period(&self, index: usize) -> Result<Period, ExprError> {
        self.value(index)?
            .to_period()
            .ok_or_else(|| self.wrong(index, "a period such as \"1 day\" or \"3 hours\""))
    }

    fn out_of_range(&self) -> ExprError {
        ExprError::new(
            self.at,
            format!(
                "{}: the result is outside the range of supported dates",
                self.function.name()
            ),
        )
    }

    /// A local date-time in the zone of `like`, resolved as Joda does across DST changes.
    fn in_zone(&self, like: &DateTime<Tz>, local: Option<NaiveDateTime>) -> Result<Value, ExprError> {
        local
            .and_then(|local| resolve_local(&like.timezone(), local))
            .map(Value::DateTime)
            .ok_or_else(|| self.out_of_range())
    }
}

/// The nearest function name, when it is close enough to be a likely typo.
fn suggest(name: &str) -> Option<&'static str> {
    crate::suggest::closest(name, function_names().iter().copied())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{
        Evaluated, evaluate_str,
        tests::{MapContext, datetime, error, one},
    };

    /// Evaluates `text` with `myDateTime` set to `at` (UTC).
    fn at(at: &str, text: &str) -> String {
        let context = MapContext::new().with("myDateTime", datetime(at));
        match evaluate_str(text, &context) {
            Ok(Evaluated::One(value)) => value,
            other => panic!("{text}: expected one value, got {other:?}"),
        }
    }

    /// The guide's example, `myDateTime` = 2011-05-24T17:10:00 UTC.
    fn example(text: &str) -> String {
        at("2011-05-24T17:10:00", text)
    }

    #[test]
    fn field_functions_match_the_guides_example() {
        let cases = [
            ("#{day(myDateTime)}", "24"),
            ("#{dayOfYear(myDateTime)}", "144"),
            ("#{hour(myDateTime)}", "17"),
            ("#{minute(myDateTime)}", "10"),
            ("#{month(myDateTime)}", "5"),
            ("#{year(myDateTime)}", "2011"),
        ];
        for (text, expected) in cases {
            assert_eq!(example(text), expected, "{text}");
        }
    }

    #[test]
    fn date_functions_match_the_guides_example() {
        let cases = [
            ("#{firstOfMonth(myDateTime)}", "2011-05-01T17:10:00"),
            ("#{midnight(myDateTime)}", "2011-05-24T00:00:00"),
            ("#{sunday(myDateTime)}", "2011-05-22T17:10:00"),
            ("#{yesterday(myDateTime)}", "2011-05-23T17:10:00"),
            ("#{makeDate(2011,5,24)}", "2011-05-24T00:00:00"),
            ("#{makeDateTime(2011,5,24,14,21)}", "2011-05-24T14:21:00"),
            (
                "#{format(myDateTime,'YYYY-MM-dd HH:mm:ss z')}",
                "2011-05-24 17:10:00 UTC",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(example(text), expected, "{text}");
        }
    }

    #[test]
    fn plus_and_minus_move_by_each_unit() {
        let cases = [
            ("#{plusMinutes(myDateTime, 50)}", "2011-05-24T18:00:00"),
            ("#{plusHours(myDateTime, 7)}", "2011-05-25T00:10:00"),
            ("#{plusDays(myDateTime, 8)}", "2011-06-01T17:10:00"),
            ("#{plusWeeks(myDateTime, 1)}", "2011-05-31T17:10:00"),
            ("#{plusMonths(myDateTime, 1)}", "2011-06-24T17:10:00"),
            ("#{plusYears(myDateTime, 1)}", "2012-05-24T17:10:00"),
            ("#{minusMinutes(myDateTime, 30)}", "2011-05-24T16:40:00"),
            ("#{minusHours(myDateTime, 18)}", "2011-05-23T23:10:00"),
            ("#{minusDays(myDateTime, 24)}", "2011-04-30T17:10:00"),
            ("#{minusWeeks(myDateTime, 2)}", "2011-05-10T17:10:00"),
            ("#{minusMonths(myDateTime, 5)}", "2010-12-24T17:10:00"),
            ("#{minusYears(myDateTime, 11)}", "2000-05-24T17:10:00"),
            ("#{plusDays(myDateTime, -1)}", "2011-05-23T17:10:00"),
            ("#{minusDays(myDateTime, -1)}", "2011-05-25T17:10:00"),
        ];
        for (text, expected) in cases {
            assert_eq!(example(text), expected, "{text}");
        }
    }

    #[test]
    fn month_arithmetic_clamps_to_the_end_of_the_month_like_joda() {
        assert_eq!(
            at("2011-01-31T10:00:00", "#{plusMonths(myDateTime, 1)}"),
            "2011-02-28T10:00:00"
        );
        assert_eq!(
            at("2012-01-31T10:00:00", "#{plusMonths(myDateTime, 1)}"),
            "2012-02-29T10:00:00"
        );
        assert_eq!(
            at("2011-03-31T10:00:00", "#{minusMonths(myDateTime, 1)}"),
            "2011-02-28T10:00:00"
        );
        assert_eq!(
            at("2012-02-29T10:00:00", "#{plusYears(myDateTime, 1)}"),
            "2013-02-28T10:00:00"
        );
    }

    #[test]
    fn sunday_of_a_sunday_is_the_same_day_and_first_of_month_keeps_the_time() {
        assert_eq!(
            at("2011-05-22T08:00:00", "#{sunday(myDateTime)}"),
            "2011-05-22T08:00:00"
        );
        assert_eq!(
            at("2011-05-21T08:00:00", "#{sunday(myDateTime)}"),
            "2011-05-15T08:00:00"
        );
        assert_eq!(
            at("2011-05-01T08:00:00", "#{firstOfMonth(myDateTime)}"),
            "2011-05-01T08:00:00"
        );
    }

    #[test]
    fn periods_add_and_subtract_from_text() {
        assert_eq!(example("#{plusPeriod(myDateTime, '1 day')}"), "2011-05-25T17:10:00");
        assert_eq!(example("#{minusPeriod(myDateTime, '3 hours')}"), "2011-05-24T14:10:00");
        assert_eq!(
            example("#{plusPeriod(myDateTime, \"2 Months\")}"),
            "2011-07-24T17:10:00"
        );
        assert_eq!(
            example("#{myDateTime.minusPeriod('15 minutes')}"),
            "2011-05-24T16:55:00"
        );
    }

    #[test]
    fn in_time_zone_moves_the_zone_and_later_functions_work_in_it() {
        let pacific = "inTimeZone(myDateTime, 'America/Los_Angeles')";
        let cases = [
            (format!("#{{{pacific}}}"), "2011-05-24T10:10:00.000-07:00"),
            (
                format!("#{{format({pacific}, 'YYYY-MM-dd HH:mm z')}}"),
                "2011-05-24 10:10 PDT",
            ),
            (format!("#{{hour({pacific})}}"), "10"),
            (format!("#{{midnight({pacific})}}"), "2011-05-24T00:00:00.000-07:00"),
            (
                format!("#{{plusDays({pacific}, 200)}}"),
                "2011-12-10T10:10:00.000-08:00",
            ),
            (
                format!("#{{plusHours({pacific}, 24 * 200)}}"),
                "2011-12-10T09:10:00.000-08:00",
            ),
            (format!("#{{{pacific}.sunday()}}"), "2011-05-22T10:10:00.000-07:00"),
            ("#{inTimeZone(myDateTime, 'UTC')}".to_owned(), "2011-05-24T17:10:00"),
        ];
        for (text, expected) in cases {
            assert_eq!(example(&text), expected, "{text}");
        }
    }

    #[test]
    fn midnight_in_a_zone_whose_day_starts_in_a_gap_moves_forward_like_joda() {
        // Given 2014-10-19 in São Paulo, where clocks jumped from 00:00 to 01:00
        let text = "#{midnight(inTimeZone(myDateTime, 'America/Sao_Paulo'))}";
        // When its midnight is asked for
        // Then the day starts at 01:00
        assert_eq!(at("2014-10-19T15:00:00", text), "2014-10-19T01:00:00.000-02:00");
    }

    #[test]
    fn strings_that_spell_dates_numbers_and_periods_are_coerced() {
        assert_eq!(
            example("#{plusDays('2011-05-24T17:10:00', '2')}"),
            "2011-05-26T17:10:00"
        );
        assert_eq!(example("#{plusDays(myDateTime, myCount)}"), "2011-05-27T17:10:00");
        assert_eq!(example("#{plusDays(myDateTime, 2.0)}"), "2011-05-26T17:10:00");
        assert_eq!(example("#{makeDate('2011', '5', '24')}"), "2011-05-24T00:00:00");
    }

    #[test]
    fn wrong_argument_types_name_the_function_and_the_argument() {
        let cases = [
            (
                "#{plusDays(myName, 1)}",
                11,
                "plusDays: argument 1 (the date-time) must be a date-time such as @scheduledStartTime or \"2011-05-24T17:10:00\", but it is the text \"daily\"",
            ),
            (
                "#{plusDays(@scheduledStartTime, 1.5)}",
                32,
                "plusDays: argument 2 (the days) must be a whole number, but it is the number 1.5",
            ),
            (
                "#{format(@scheduledStartTime, 5)}",
                30,
                "format: argument 2 (the pattern) must be text in quotes, but it is the whole number 5",
            ),
            (
                "#{plusPeriod(@scheduledStartTime, '1 fortnight')}",
                34,
                "plusPeriod: argument 2 (the period) must be a period such as \"1 day\" or \"3 hours\", but it is the text \"1 fortnight\"",
            ),
            (
                "#{myName.day()}",
                2,
                "day: argument 1 (the date-time) must be a date-time",
            ),
        ];
        for (text, offset, message) in cases {
            let error = error(text);
            assert_eq!(error.offset, offset, "{text}: {error}");
            assert!(error.message.starts_with(message), "{text}: {error}");
        }
    }

    #[test]
    fn impossible_dates_unknown_zones_and_bad_patterns_are_errors() {
        let cases = [
            (
                "#{makeDate(2011, 2, 30)}",
                2,
                "makeDate: 2011-02-30 is not a valid date and time",
            ),
            (
                "#{makeDateTime(2011, 5, 24, 25, 0)}",
                2,
                "makeDateTime: 2011-05-24 25:00 is not a valid",
            ),
            (
                "#{makeDate(99999999999, 1, 1)}",
                2,
                "makeDate: 99999999999-01-01 is not a valid",
            ),
            (
                "#{inTimeZone(@scheduledStartTime, 'Mars/Olympus')}",
                34,
                "inTimeZone: unknown time zone \"Mars/Olympus\"",
            ),
            (
                "#{plusYears(@scheduledStartTime, 999999999)}",
                2,
                "plusYears: the result is outside the range",
            ),
            (
                "#{minusDays(@scheduledStartTime, -9223372036854775807 - 1)}",
                2,
                "minusDays: the result is outside",
            ),
            (
                "#{format(@scheduledStartTime, 'YYYY' + 'q')}",
                30,
                "format: invalid Joda-Time pattern: Illegal pattern component: q",
            ),
        ];
        for (text, offset, message) in cases {
            let error = error(text);
            assert_eq!(error.offset, offset, "{text}: {error}");
            assert!(error.message.starts_with(message), "{text}: {error}");
        }
    }

    #[test]
    fn a_pattern_computed_at_run_time_formats_too() {
        let context = MapContext::new().with("myPattern", crate::expr::Value::Str("dd/MM".into()));
        assert_eq!(
            evaluate_str("#{format(@scheduledStartTime, myPattern)}", &context),
            Ok(Evaluated::One("24/05".into()))
        );
        assert_eq!(one("#{format(@scheduledStartTime, 'YYYY' + '-MM')}"), "2011-05");
    }

    #[test]
    fn there_are_twenty_eight_functions_in_alphabetical_order() {
        let names = function_names();
        assert_eq!(names.len(), 28);
        let mut sorted = names.to_vec();
        sorted.sort_by_key(|name| name.to_lowercase());
        assert_eq!(names, sorted.as_slice());
        for name in names {
            let function = Function::lookup(name).unwrap();
            assert_eq!(function.name(), *name);
            assert!(function.arity() >= 1);
        }
    }

    #[test]
    fn names_are_case_sensitive() {
        assert_eq!(Function::lookup("plusDays"), Some(Function::PlusDays));
        assert_eq!(Function::lookup("PlusDays"), None);
        assert_eq!(Function::lookup("plusdays"), None);
    }

    #[test]
    fn signatures_name_the_parameters() {
        assert_eq!(Function::PlusDays.signature(), "plusDays(DateTime, int days)");
        assert_eq!(Function::Format.signature(), "format(DateTime, String pattern)");
        assert_eq!(
            Function::MakeDateTime.signature(),
            "makeDateTime(int year, int month, int day, int hour, int minute)"
        );
    }

    #[test]
    fn typos_get_the_nearest_name() {
        assert_eq!(suggest("formatt"), Some("format"));
        assert_eq!(suggest("plusday"), Some("plusDays"));
        assert_eq!(suggest("PlusDays"), Some("plusDays"));
        assert_eq!(suggest("dayofyear"), Some("dayOfYear"));
        assert_eq!(suggest("inTimezone"), Some("inTimeZone"));
        assert_eq!(suggest("foo"), None);
        assert_eq!(suggest("concatenate"), None);
        assert_eq!(
            Function::unknown("formatt"),
            "unknown function \"formatt\": did you mean \"format\"?"
        );
        assert!(Function::unknown("foo").contains("the functions are day, dayOfYear,"));
    }
}
