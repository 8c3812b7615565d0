//! What a `Schedule` object and a `scheduleType` field say, checked the way AWS checks them:
//! a fixed period, a start (a date-time or the first activation), and an optional end
//! (a date-time or a number of occurrences), or on-demand.

use std::fmt;

use chrono::NaiveDateTime;
use thiserror::Error;

use super::period::Period;
use crate::time::parse_datetime;

/// AWS refuses periods shorter than 15 minutes; Sluice allows down to 1 minute, so validation
/// compares against this only to warn.
pub const AWS_MIN_PERIOD_SECONDS: i64 = 15 * 60;
/// Sluice's own floor: the minute tick (EventBridge's finest rate) wakes the schedule stage.
pub const MIN_PERIOD_SECONDS: i64 = 60;

/// AWS refuses periods longer than 3 years (3 × 365 days, as [`Period::nominal_seconds`]
/// counts them); Sluice allows up to [`MAX_PERIOD`](super::MAX_PERIOD) (10 years), so
/// validation compares against this only to warn.
pub const AWS_MAX_PERIOD_SECONDS: i64 = 3 * 365 * 86_400;

/// The `period` value that, with [`ONDEMAND_ACTIVATION_TIME`], makes a Schedule on-demand.
pub const ONDEMAND_PERIOD: &str = "ONDEMAND_PERIOD";
/// The `startAt` value that, with [`ONDEMAND_PERIOD`], makes a Schedule on-demand.
pub const ONDEMAND_ACTIVATION_TIME: &str = "ONDEMAND_ACTIVATION_TIME";
/// The `startAt` value that starts a schedule when the pipeline is first activated.
pub const FIRST_ACTIVATION_DATE_TIME: &str = "FIRST_ACTIVATION_DATE_TIME";

/// A field of a `Schedule` object (or a `scheduleType`) that is missing, malformed or in
/// conflict with another, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("field \"{field}\": {message}")]
pub struct ScheduleError {
    /// The field as AWS spells it, for example `startDateTime`.
    pub field: &'static str,
    pub message: String,
}

impl ScheduleError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Where in its interval an instance runs (`scheduleType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScheduleType {
    /// At the start of the interval.
    Cron,
    /// At the end of the interval.
    Timeseries,
    /// Once per activation.
    Ondemand,
}

impl ScheduleType {
    /// Parses `cron`, `timeseries` or `ondemand` in any case (`CRON` and `ONDEMAND` appear in
    /// real definitions).
    pub fn parse(text: &str) -> Result<Self, ScheduleError> {
        if text.eq_ignore_ascii_case("cron") {
            Ok(Self::Cron)
        } else if text.eq_ignore_ascii_case("timeseries") {
            Ok(Self::Timeseries)
        } else if text.eq_ignore_ascii_case("ondemand") {
            Ok(Self::Ondemand)
        } else {
            Err(ScheduleError::new(
                "scheduleType",
                format!(
                    "\"{text}\" is not a schedule type: write \"cron\" (run at the start of each interval), \
                     \"timeseries\" (run at the end of each interval) or \"ondemand\" (run once per activation)"
                ),
            ))
        }
    }

    /// The name as AWS documents it, in lower case.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Cron => "cron",
            Self::Timeseries => "timeseries",
            Self::Ondemand => "ondemand",
        }
    }
}

impl fmt::Display for ScheduleType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ScheduleType {
    type Err = ScheduleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

/// When the first interval starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScheduleStart {
    /// `startDateTime`.
    At(NaiveDateTime),
    /// `startAt: FIRST_ACTIVATION_DATE_TIME`: the time the pipeline is first activated.
    FirstActivation,
}

/// When the schedule stops creating intervals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScheduleEnd {
    /// Until the pipeline is deactivated.
    Never,
    /// `endDateTime`: an interval is created only if it starts before this time.
    At(NaiveDateTime),
    /// `occurrences`: this many intervals, counted from the first.
    Occurrences(u32),
}

/// A periodic schedule: intervals `[start + n×period, start + (n+1)×period)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Schedule {
    pub period: Period,
    pub start: ScheduleStart,
    pub end: ScheduleEnd,
}

/// What a component's schedule amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScheduleSpec {
    Periodic(Schedule),
    /// One run per activation (`ONDEMAND_PERIOD` / `ONDEMAND_ACTIVATION_TIME`, or a pipeline
    /// whose `scheduleType` is `ondemand`).
    OnDemand,
}

/// The fields of a `Schedule` object, as already-evaluated strings (`None` when absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScheduleFields<'a> {
    pub period: Option<&'a str>,
    pub start_date_time: Option<&'a str>,
    pub start_at: Option<&'a str>,
    pub end_date_time: Option<&'a str>,
    pub occurrences: Option<&'a str>,
}

impl ScheduleSpec {
    /// Reads a `Schedule` object. `period` is required; `ONDEMAND_PERIOD` with
    /// `startAt: ONDEMAND_ACTIVATION_TIME` is on-demand; otherwise exactly one of
    /// `startDateTime` / `startAt: FIRST_ACTIVATION_DATE_TIME`, at most one of `endDateTime` /
    /// `occurrences` (a positive integer), and an `endDateTime` after `startDateTime`.
    ///
    /// Any period from 1 minute to [`MAX_PERIOD`](super::MAX_PERIOD) (10 years) is accepted;
    /// see [`aws_period_warning`] for the periods AWS would have refused.
    pub fn from_fields(fields: ScheduleFields<'_>) -> Result<Self, ScheduleError> {
        let period_text = fields.period.ok_or_else(|| {
            ScheduleError::new(
                "period",
                "is required: set it to how often the schedule repeats, for example \"15 minutes\" or \"1 day\", \
                 or to \"ONDEMAND_PERIOD\" with startAt \"ONDEMAND_ACTIVATION_TIME\" for one run per activation",
            )
        })?;
        let on_demand_period = period_text.eq_ignore_ascii_case(ONDEMAND_PERIOD);
        let on_demand_start = fields
            .start_at
            .is_some_and(|start_at| start_at.eq_ignore_ascii_case(ONDEMAND_ACTIVATION_TIME));
        if on_demand_period || on_demand_start {
            return on_demand(fields, on_demand_period, on_demand_start);
        }
        let period =
            Period::parse_within_limit(period_text).map_err(|error| ScheduleError::new("period", error.to_string()))?;
        if period.nominal_seconds() < MIN_PERIOD_SECONDS {
            return Err(ScheduleError::new(
                "period",
                format!("\"{period}\" is too short: Sluice runs schedules at most once a minute"),
            ));
        }
        let start = start(fields)?;
        let end = end(fields)?;
        if let (ScheduleStart::At(start), ScheduleEnd::At(end)) = (start, end)
            && end <= start
        {
            return Err(ScheduleError::new(
                "endDateTime",
                format!(
                    "{} is not after startDateTime {}: set an endDateTime later than the start, \
                     or remove it to run until the pipeline is deactivated",
                    crate::time::format_datetime(end),
                    crate::time::format_datetime(start),
                ),
            ));
        }
        Ok(Self::Periodic(Schedule { period, start, end }))
    }
}

fn on_demand(
    fields: ScheduleFields<'_>,
    on_demand_period: bool,
    on_demand_start: bool,
) -> Result<ScheduleSpec, ScheduleError> {
    if !on_demand_period {
        return Err(ScheduleError::new(
            "period",
            format!(
                "must be \"{ONDEMAND_PERIOD}\" when startAt is \"{ONDEMAND_ACTIVATION_TIME}\": set both for one run per activation, or neither"
            ),
        ));
    }
    if !on_demand_start {
        return Err(ScheduleError::new(
            "startAt",
            format!(
                "must be \"{ONDEMAND_ACTIVATION_TIME}\" when period is \"{ONDEMAND_PERIOD}\": set both for one run per activation, or neither"
            ),
        ));
    }
    let extras = [
        ("startDateTime", fields.start_date_time),
        ("endDateTime", fields.end_date_time),
        ("occurrences", fields.occurrences),
    ];
    if let Some((field, _)) = extras.into_iter().find(|(_, value)| value.is_some()) {
        return Err(ScheduleError::new(
            field,
            "does not apply to an on-demand schedule, which runs once per activation: remove it",
        ));
    }
    Ok(ScheduleSpec::OnDemand)
}

fn start(fields: ScheduleFields<'_>) -> Result<ScheduleStart, ScheduleError> {
    match (fields.start_date_time, fields.start_at) {
        (Some(_), Some(_)) => Err(ScheduleError::new(
            "startAt",
            "conflicts with startDateTime: a schedule starts either at a date-time or at first activation; \
             remove one of them",
        )),
        (None, None) => Err(ScheduleError::new(
            "startDateTime",
            format!(
                "is required: set startDateTime to a UTC date-time such as 2026-01-31T06:00:00, \
                 or startAt to \"{FIRST_ACTIVATION_DATE_TIME}\""
            ),
        )),
        (Some(text), None) => parse_datetime(text)
            .map(ScheduleStart::At)
            .map_err(|error| ScheduleError::new("startDateTime", error.to_string())),
        (None, Some(text)) if text.eq_ignore_ascii_case(FIRST_ACTIVATION_DATE_TIME) => {
            Ok(ScheduleStart::FirstActivation)
        }
        (None, Some(text)) => Err(ScheduleError::new(
            "startAt",
            format!(
                "\"{text}\" is not a start: write \"{FIRST_ACTIVATION_DATE_TIME}\", \
                 or use startDateTime for a fixed start"
            ),
        )),
    }
}

fn end(fields: ScheduleFields<'_>) -> Result<ScheduleEnd, ScheduleError> {
    match (fields.end_date_time, fields.occurrences) {
        (Some(_), Some(_)) => Err(ScheduleError::new(
            "occurrences",
            "conflicts with endDateTime: a schedule ends either at a date-time or after a number of runs; \
             remove one of them",
        )),
        (None, None) => Ok(ScheduleEnd::Never),
        (Some(text), None) => parse_datetime(text)
            .map(ScheduleEnd::At)
            .map_err(|error| ScheduleError::new("endDateTime", error.to_string())),
        (None, Some(text)) => parse_occurrences(text).map(ScheduleEnd::Occurrences),
    }
}

fn parse_occurrences(text: &str) -> Result<u32, ScheduleError> {
    let error = || {
        ScheduleError::new(
            "occurrences",
            format!(
                "\"{text}\" is not a number of runs: write a whole number from 1 to {}, for example \"1\"",
                u32::MAX
            ),
        )
    };
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(error());
    }
    match text.parse::<u32>() {
        Ok(count) if count > 0 => Ok(count),
        _ => Err(error()),
    }
}

/// A warning when AWS Data Pipeline would have refused `period` (shorter than 15 minutes or
/// longer than 3 years), which Sluice accepts.
pub fn aws_period_warning(period: Period) -> Option<String> {
    let seconds = period.nominal_seconds();
    if seconds < AWS_MIN_PERIOD_SECONDS {
        Some(format!(
            "period \"{period}\" is shorter than AWS Data Pipeline's minimum of 15 minutes: \
             Sluice runs it, but this definition will not activate on AWS"
        ))
    } else if seconds > AWS_MAX_PERIOD_SECONDS {
        Some(format!(
            "period \"{period}\" is longer than AWS Data Pipeline's maximum of 3 years: \
             Sluice runs it, but this definition will not activate on AWS"
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::PeriodUnit;

    fn at(text: &str) -> NaiveDateTime {
        parse_datetime(text).unwrap()
    }

    fn fields<'a>(period: &'a str) -> ScheduleFields<'a> {
        ScheduleFields {
            period: Some(period),
            ..ScheduleFields::default()
        }
    }

    #[test]
    fn schedule_types_parse_in_any_case() {
        for (text, expected) in [
            ("cron", ScheduleType::Cron),
            ("CRON", ScheduleType::Cron),
            ("Cron", ScheduleType::Cron),
            ("timeseries", ScheduleType::Timeseries),
            ("TIMESERIES", ScheduleType::Timeseries),
            ("ondemand", ScheduleType::Ondemand),
            ("ONDEMAND", ScheduleType::Ondemand),
        ] {
            assert_eq!(ScheduleType::parse(text).unwrap(), expected, "{text}");
            assert_eq!(text.parse::<ScheduleType>().unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn schedule_types_print_as_aws_documents_them() {
        assert_eq!(ScheduleType::Cron.as_str(), "cron");
        assert_eq!(ScheduleType::Timeseries.to_string(), "timeseries");
        assert_eq!(ScheduleType::Ondemand.as_str(), "ondemand");
    }

    #[test]
    fn an_unknown_schedule_type_names_the_field_and_lists_the_allowed_values() {
        for text in ["", "daily", "time series", " cron", "on-demand"] {
            let error = ScheduleType::parse(text).unwrap_err();
            assert_eq!(error.field, "scheduleType");
            for allowed in ["\"cron\"", "\"timeseries\"", "\"ondemand\""] {
                assert!(error.message.contains(allowed), "{text}: {error}");
            }
        }
    }

    #[test]
    fn a_schedule_with_a_start_date_and_no_end_runs_forever() {
        // Given a daily schedule from a fixed date
        let spec = ScheduleSpec::from_fields(ScheduleFields {
            start_date_time: Some("2013-01-01T00:00:00"),
            ..fields("1 Day")
        });

        // Then it is periodic, starts then and never ends
        assert_eq!(
            spec.unwrap(),
            ScheduleSpec::Periodic(Schedule {
                period: Period::new(1, PeriodUnit::Days),
                start: ScheduleStart::At(at("2013-01-01T00:00:00")),
                end: ScheduleEnd::Never,
            })
        );
    }

    #[test]
    fn first_activation_start_is_read_in_any_case() {
        for start_at in ["FIRST_ACTIVATION_DATE_TIME", "first_activation_date_time"] {
            let spec = ScheduleSpec::from_fields(ScheduleFields {
                start_at: Some(start_at),
                occurrences: Some("1"),
                ..fields("1 day")
            })
            .unwrap();
            assert_eq!(
                spec,
                ScheduleSpec::Periodic(Schedule {
                    period: Period::new(1, PeriodUnit::Days),
                    start: ScheduleStart::FirstActivation,
                    end: ScheduleEnd::Occurrences(1),
                })
            );
        }
    }

    #[test]
    fn an_end_date_time_is_kept() {
        let spec = ScheduleSpec::from_fields(ScheduleFields {
            start_date_time: Some("2013-01-01T00:00:00"),
            end_date_time: Some("2014-01-01T00:00:00"),
            ..fields("1 month")
        })
        .unwrap();
        let ScheduleSpec::Periodic(schedule) = spec else {
            panic!("expected a periodic schedule, got {spec:?}");
        };
        assert_eq!(schedule.end, ScheduleEnd::At(at("2014-01-01T00:00:00")));
    }

    #[test]
    fn ondemand_period_with_ondemand_activation_time_is_on_demand() {
        let spec = ScheduleSpec::from_fields(ScheduleFields {
            start_at: Some("ONDEMAND_ACTIVATION_TIME"),
            ..fields("ONDEMAND_PERIOD")
        });
        assert_eq!(spec.unwrap(), ScheduleSpec::OnDemand);
    }

    #[test]
    fn half_an_on_demand_schedule_is_refused_on_the_missing_half() {
        let no_start = ScheduleSpec::from_fields(fields("ONDEMAND_PERIOD")).unwrap_err();
        assert_eq!(no_start.field, "startAt");
        assert!(no_start.message.contains("ONDEMAND_ACTIVATION_TIME"), "{no_start}");

        let wrong_start = ScheduleSpec::from_fields(ScheduleFields {
            start_at: Some("FIRST_ACTIVATION_DATE_TIME"),
            ..fields("ONDEMAND_PERIOD")
        })
        .unwrap_err();
        assert_eq!(wrong_start.field, "startAt");

        let wrong_period = ScheduleSpec::from_fields(ScheduleFields {
            start_at: Some("ONDEMAND_ACTIVATION_TIME"),
            ..fields("1 day")
        })
        .unwrap_err();
        assert_eq!(wrong_period.field, "period");
        assert!(wrong_period.message.contains("ONDEMAND_PERIOD"), "{wrong_period}");
    }

    #[test]
    fn an_on_demand_schedule_refuses_start_and_end_fields() {
        for (field, with) in [
            (
                "startDateTime",
                ScheduleFields {
                    start_date_time: Some("2013-01-01T00:00:00"),
                    ..ScheduleFields::default()
                },
            ),
            (
                "endDateTime",
                ScheduleFields {
                    end_date_time: Some("2013-01-01T00:00:00"),
                    ..ScheduleFields::default()
                },
            ),
            (
                "occurrences",
                ScheduleFields {
                    occurrences: Some("1"),
                    ..ScheduleFields::default()
                },
            ),
        ] {
            let error = ScheduleSpec::from_fields(ScheduleFields {
                period: Some("ONDEMAND_PERIOD"),
                start_at: Some("ONDEMAND_ACTIVATION_TIME"),
                ..with
            })
            .unwrap_err();
            assert_eq!(error.field, field);
            assert!(error.message.contains("remove it"), "{error}");
        }
    }

    #[test]
    fn a_missing_period_is_refused_on_period() {
        let error = ScheduleSpec::from_fields(ScheduleFields {
            start_date_time: Some("2013-01-01T00:00:00"),
            ..ScheduleFields::default()
        })
        .unwrap_err();
        assert_eq!(error.field, "period");
        assert!(error.message.contains("is required"), "{error}");
    }

    #[test]
    fn a_malformed_period_is_refused_on_period_with_examples() {
        let error = ScheduleSpec::from_fields(ScheduleFields {
            start_date_time: Some("2013-01-01T00:00:00"),
            ..fields("15 Period")
        })
        .unwrap_err();
        assert_eq!(error.field, "period");
        assert!(error.message.contains("15 minutes"), "{error}");
    }

    #[test]
    fn a_start_is_required_and_only_one() {
        let neither = ScheduleSpec::from_fields(fields("1 day")).unwrap_err();
        assert_eq!(neither.field, "startDateTime");
        assert!(neither.message.contains("FIRST_ACTIVATION_DATE_TIME"), "{neither}");

        let both = ScheduleSpec::from_fields(ScheduleFields {
            start_date_time: Some("2013-01-01T00:00:00"),
            start_at: Some("FIRST_ACTIVATION_DATE_TIME"),
            ..fields("1 day")
        })
        .unwrap_err();
        assert_eq!(both.field, "startAt");
        assert!(both.message.contains("remove one"), "{both}");
    }

    #[test]
    fn malformed_starts_are_refused_on_their_field() {
        let date = ScheduleSpec::from_fields(ScheduleFields {
            start_date_time: Some("2013-01-01 00:00:00"),
            ..fields("1 day")
        })
        .unwrap_err();
        assert_eq!(date.field, "startDateTime");
        assert!(date.message.contains("YYYY-MM-DDTHH:MM:SS"), "{date}");

        let start_at = ScheduleSpec::from_fields(ScheduleFields {
            start_at: Some("NOW"),
            ..fields("1 day")
        })
        .unwrap_err();
        assert_eq!(start_at.field, "startAt");
        assert!(start_at.message.contains("FIRST_ACTIVATION_DATE_TIME"), "{start_at}");
    }

    #[test]
    fn end_date_time_and_occurrences_are_mutually_exclusive() {
        let error = ScheduleSpec::from_fields(ScheduleFields {
            start_date_time: Some("2013-01-01T00:00:00"),
            end_date_time: Some("2013-02-01T00:00:00"),
            occurrences: Some("3"),
            ..fields("1 day")
        })
        .unwrap_err();
        assert_eq!(error.field, "occurrences");
        assert!(error.message.contains("endDateTime"), "{error}");
    }

    #[test]
    fn occurrences_must_be_a_positive_whole_number() {
        for text in ["0", "-1", "+3", "1.5", "", " 3", "three", "4294967296"] {
            let error = ScheduleSpec::from_fields(ScheduleFields {
                start_at: Some("FIRST_ACTIVATION_DATE_TIME"),
                occurrences: Some(text),
                ..fields("1 day")
            })
            .unwrap_err();
            assert_eq!(error.field, "occurrences", "{text}");
            assert!(error.message.contains("whole number"), "{text}: {error}");
        }
    }

    #[test]
    fn the_end_must_come_after_the_start() {
        for end in ["2013-01-01T00:00:00", "2012-12-31T23:59:59"] {
            let error = ScheduleSpec::from_fields(ScheduleFields {
                start_date_time: Some("2013-01-01T00:00:00"),
                end_date_time: Some(end),
                ..fields("1 day")
            })
            .unwrap_err();
            assert_eq!(error.field, "endDateTime", "{end}");
            assert!(error.message.contains("2013-01-01T00:00:00"), "{error}");
        }
        let malformed = ScheduleSpec::from_fields(ScheduleFields {
            start_date_time: Some("2013-01-01T00:00:00"),
            end_date_time: Some("tomorrow"),
            ..fields("1 day")
        })
        .unwrap_err();
        assert_eq!(malformed.field, "endDateTime");
    }

    #[test]
    fn errors_print_the_field_first() {
        let error = ScheduleSpec::from_fields(ScheduleFields::default()).unwrap_err();
        assert!(error.to_string().starts_with("field \"period\": "), "{error}");
    }

    #[test]
    fn periods_aws_would_refuse_draw_a_warning_but_are_accepted() {
        // Given a 1-minute schedule
        let spec = ScheduleSpec::from_fields(ScheduleFields {
            start_at: Some("FIRST_ACTIVATION_DATE_TIME"),
            ..fields("1 minute")
        });
        // Then Sluice accepts it
        assert!(spec.is_ok());
        // And warns about the 15-minute and 3-year limits only outside them
        let warn = |count, unit| aws_period_warning(Period::new(count, unit));
        assert!(warn(14, PeriodUnit::Minutes).unwrap().contains("15 minutes"));
        assert_eq!(warn(15, PeriodUnit::Minutes), None);
        assert_eq!(warn(3, PeriodUnit::Years), None);
        assert_eq!(warn(36, PeriodUnit::Months), None);
        assert!(warn(4, PeriodUnit::Years).unwrap().contains("3 years"));
        assert!(warn(157, PeriodUnit::Weeks).is_some());
    }

    #[test]
    fn a_schedule_steps_by_a_minute_at_least() {
        // Given schedules of seconds (seconds are for waits such as retryDelay)
        for period in ["59 seconds", "1 second"] {
            let error = ScheduleSpec::from_fields(ScheduleFields {
                start_at: Some("FIRST_ACTIVATION_DATE_TIME"),
                ..fields(period)
            })
            .unwrap_err();
            // Then the period is refused, saying why
            assert_eq!(error.field, "period");
            assert!(error.to_string().contains("at most once a minute"), "{error}");
        }
        // And 60 seconds is a minute
        assert!(
            ScheduleSpec::from_fields(ScheduleFields {
                start_at: Some("FIRST_ACTIVATION_DATE_TIME"),
                ..fields("60 seconds")
            })
            .is_ok()
        );
    }

    #[test]
    fn a_schedule_steps_by_ten_years_at_most() {
        // Given schedules at the limit and past it, however far
        let read = |period| {
            ScheduleSpec::from_fields(ScheduleFields {
                start_at: Some("FIRST_ACTIVATION_DATE_TIME"),
                ..fields(period)
            })
        };
        // Then ten years is accepted, and anything longer refused on "period"
        assert!(read("10 years").is_ok());
        for period in [
            "11 years",
            "999999999 years",
            "2147483647 months",
            "9223372036854775807 seconds",
        ] {
            let error = read(period).unwrap_err();
            assert_eq!(error.field, "period");
            assert_eq!(
                error.message,
                format!("\"{period}\" is longer than the most Sluice allows (10 years): write 10 years or less")
            );
        }
    }
}
