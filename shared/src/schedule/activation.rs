//! Activating a pipeline: where its schedules are picked up (a start timestamp skips earlier
//! intervals), and the one-day guard against accidental backfill.

use std::fmt;

use chrono::{NaiveDateTime, TimeDelta};

use super::spec::{ScheduleSpec, ScheduleType};
use crate::time::format_datetime;

/// How far before the activation time a component's first created interval may start before
/// activation is refused (unless backfill is allowed): exactly one day is allowed.
pub const BACKFILL_GUARD: TimeDelta = TimeDelta::days(1);

/// One `ActivatePipeline` call.
///
/// * `at`: when the pipeline is activated. `FIRST_ACTIVATION_DATE_TIME` schedules start here
///   and on-demand components run once here.
/// * `start_timestamp`: ActivatePipeline's `startTimestamp` (the CLI's `--from`). Intervals
///   that start before it are created as `SKIPPED`. Resuming a deactivated pipeline "after the
///   last completed run" is this with the end of that run's interval.
/// * `allow_backfill`: lifts the one-day guard. AWS refuses to activate a pipeline when a
///   component's first interval to be created (the first one not skipped) starts more than one
///   day before `at`, so that a start date in the past does not silently create and run every
///   missed instance. Sluice keeps the guard by default; with `allow_backfill` (the CLI's
///   `--allow-backfill`) it creates the missed instances and runs them to catch up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Activation {
    pub at: NaiveDateTime,
    pub start_timestamp: Option<NaiveDateTime>,
    pub allow_backfill: bool,
}

impl Activation {
    /// An activation at `at`, from the schedules' start, with the backfill guard on.
    pub const fn at(at: NaiveDateTime) -> Self {
        Self {
            at,
            start_timestamp: None,
            allow_backfill: false,
        }
    }

    /// Refuses the activation when `component`'s first interval not skipped starts more than
    /// one day before the activation time, unless backfill is allowed.
    pub fn check_backfill(
        &self,
        component: usize,
        schedule: &ScheduleSpec,
        schedule_type: ScheduleType,
    ) -> Result<(), BackfillError> {
        if self.allow_backfill || schedule_type == ScheduleType::Ondemand {
            return Ok(());
        }
        let ScheduleSpec::Periodic(schedule) = schedule else {
            return Ok(());
        };
        let mut intervals = schedule.intervals(self.at);
        if let Some(start_timestamp) = self.start_timestamp {
            intervals.seek(start_timestamp);
        }
        match intervals.next() {
            Some(first) if self.at.signed_duration_since(first.start) > BACKFILL_GUARD => Err(BackfillError {
                component,
                component_id: None,
                first_start: first.start,
                activated_at: self.at,
            }),
            _ => Ok(()),
        }
    }
}

/// Activation refused by the one-day backfill guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillError {
    /// Index of the component in the planned components.
    pub component: usize,
    /// The component's id, once the caller has named it with [`BackfillError::named`].
    pub component_id: Option<String>,
    /// Start of the component's first interval that would be created.
    pub first_start: NaiveDateTime,
    pub activated_at: NaiveDateTime,
}

impl BackfillError {
    /// Names the component (the planner knows only its index) for the message.
    pub fn named(mut self, component_id: impl Into<String>) -> Self {
        self.component_id = Some(component_id.into());
        self
    }
}

impl fmt::Display for BackfillError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.component_id {
            Some(id) => write!(f, "object \"{id}\"")?,
            None => write!(f, "component #{}", self.component)?,
        }
        write!(
            f,
            ": its first instance would be scheduled at {}, more than one day before the activation at {}, \
             so activating would backfill every missed interval: activate with --allow-backfill (through the API: \
             tag the pipeline sluice:allowBackfill=true) to run them, ",
            format_datetime(self.first_start),
            format_datetime(self.activated_at),
        )?;
        match self.activated_at.checked_sub_signed(BACKFILL_GUARD) {
            Some(earliest) => write!(
                f,
                "or start the schedule no earlier than {} (one day before activation), ",
                format_datetime(earliest)
            )?,
            None => write!(f, "or start the schedule no earlier than one day before activation, ")?,
        }
        write!(
            f,
            "or activate with a later start timestamp (--from) to skip the missed intervals"
        )
    }
}

impl std::error::Error for BackfillError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        schedule::{Period, PeriodUnit, Schedule, ScheduleEnd, ScheduleStart},
        time::parse_datetime,
    };

    fn at(text: &str) -> NaiveDateTime {
        parse_datetime(text).unwrap()
    }

    fn hourly_from(start: &str) -> ScheduleSpec {
        ScheduleSpec::Periodic(Schedule {
            period: Period::new(1, PeriodUnit::Hours),
            start: ScheduleStart::At(at(start)),
            end: ScheduleEnd::Never,
        })
    }

    const ACTIVATED: &str = "2026-01-02T00:00:00";

    #[test]
    fn a_schedule_starting_exactly_one_day_back_may_be_activated() {
        let activation = Activation::at(at(ACTIVATED));
        let result = activation.check_backfill(0, &hourly_from("2026-01-01T00:00:00"), ScheduleType::Cron);
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn a_schedule_starting_one_day_and_one_second_back_is_refused() {
        // Given a schedule starting one second more than a day before activation
        let activation = Activation::at(at(ACTIVATED));

        // When checking the backfill guard
        let error = activation
            .check_backfill(3, &hourly_from("2025-12-31T23:59:59"), ScheduleType::Timeseries)
            .unwrap_err();

        // Then it names the component, its first start and the activation, and how to lift it
        assert_eq!(error.component, 3);
        assert_eq!(error.first_start, at("2025-12-31T23:59:59"));
        assert_eq!(error.activated_at, at(ACTIVATED));
        let message = error.named("HourlyCopy").to_string();
        for expected in [
            "object \"HourlyCopy\"",
            "2025-12-31T23:59:59",
            "2026-01-02T00:00:00",
            "--allow-backfill",
            "no earlier than 2026-01-01T00:00:00",
        ] {
            assert!(message.contains(expected), "{expected} not in {message}");
        }
    }

    #[test]
    fn an_unnamed_backfill_error_names_the_component_index() {
        let error = Activation::at(at(ACTIVATED))
            .check_backfill(7, &hourly_from("2020-01-01T00:00:00"), ScheduleType::Cron)
            .unwrap_err();
        assert!(error.to_string().starts_with("component #7: "), "{error}");
    }

    #[test]
    fn allow_backfill_lifts_the_guard() {
        let activation = Activation {
            allow_backfill: true,
            ..Activation::at(at(ACTIVATED))
        };
        let result = activation.check_backfill(0, &hourly_from("2000-01-01T00:00:00"), ScheduleType::Cron);
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn the_guard_applies_to_the_first_interval_not_skipped() {
        // Given a schedule from long ago, activated from a start timestamp
        let schedule = hourly_from("2020-01-01T00:00:00");
        let from = |timestamp: &str| Activation {
            start_timestamp: Some(at(timestamp)),
            ..Activation::at(at(ACTIVATED))
        };

        // Then skipping up to one day back is allowed, and up to a day and an hour back is not
        assert_eq!(
            from("2026-01-01T00:00:00").check_backfill(0, &schedule, ScheduleType::Cron),
            Ok(())
        );
        assert_eq!(
            from("2025-12-31T23:30:00").check_backfill(0, &schedule, ScheduleType::Cron),
            Ok(())
        );
        let error = from("2025-12-31T22:30:00")
            .check_backfill(0, &schedule, ScheduleType::Cron)
            .unwrap_err();
        assert_eq!(error.first_start, at("2025-12-31T23:00:00"));
    }

    #[test]
    fn on_demand_and_first_activation_schedules_never_backfill() {
        let activation = Activation::at(at(ACTIVATED));
        assert_eq!(
            activation.check_backfill(0, &ScheduleSpec::OnDemand, ScheduleType::Cron),
            Ok(())
        );
        assert_eq!(
            activation.check_backfill(0, &hourly_from("2000-01-01T00:00:00"), ScheduleType::Ondemand),
            Ok(())
        );
        let first_activation = ScheduleSpec::Periodic(Schedule {
            period: Period::new(1, PeriodUnit::Days),
            start: ScheduleStart::FirstActivation,
            end: ScheduleEnd::Never,
        });
        assert_eq!(
            activation.check_backfill(0, &first_activation, ScheduleType::Cron),
            Ok(())
        );
    }

    #[test]
    fn a_schedule_that_ended_long_ago_creates_nothing_and_is_not_refused() {
        let ended = ScheduleSpec::Periodic(Schedule {
            period: Period::new(1, PeriodUnit::Days),
            start: ScheduleStart::At(at("2020-01-01T00:00:00")),
            end: ScheduleEnd::Occurrences(3),
        });
        let activation = Activation {
            start_timestamp: Some(at("2025-01-01T00:00:00")),
            ..Activation::at(at(ACTIVATED))
        };
        assert_eq!(activation.check_backfill(0, &ended, ScheduleType::Cron), Ok(()));
    }
}
