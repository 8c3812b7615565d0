//! Where in its interval an instance runs: `cron` at the start, `timeseries` at the end, and
//! resources always at the start (they must be up before the work they serve).

use chrono::NaiveDateTime;

use super::{intervals::Interval, spec::ScheduleType};

/// When the instance of `interval` runs: at its start for `cron` and `ondemand`, at its end for
/// `timeseries`, and at its start for resources (`Ec2Resource`, `EmrCluster`) whatever their
/// schedule type (reference §3.4, §3.5).
pub fn runs_at(schedule_type: ScheduleType, is_resource: bool, interval: Interval) -> NaiveDateTime {
    match schedule_type {
        ScheduleType::Timeseries if !is_resource => interval.end,
        ScheduleType::Cron | ScheduleType::Timeseries | ScheduleType::Ondemand => interval.start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_datetime;

    fn at(text: &str) -> NaiveDateTime {
        parse_datetime(text).unwrap()
    }

    fn half_hour_from_22() -> Interval {
        Interval {
            start: at("2013-05-01T22:00:00"),
            end: at("2013-05-01T22:30:00"),
        }
    }

    #[test]
    fn cron_runs_at_the_start_of_the_interval() {
        assert_eq!(
            runs_at(ScheduleType::Cron, false, half_hour_from_22()),
            at("2013-05-01T22:00:00")
        );
    }

    #[test]
    fn timeseries_starting_at_22_with_a_30_minute_period_first_runs_at_22_30() {
        assert_eq!(
            runs_at(ScheduleType::Timeseries, false, half_hour_from_22()),
            at("2013-05-01T22:30:00")
        );
    }

    #[test]
    fn resources_run_at_the_start_of_the_interval_whatever_the_schedule_type() {
        for schedule_type in [ScheduleType::Cron, ScheduleType::Timeseries, ScheduleType::Ondemand] {
            assert_eq!(
                runs_at(schedule_type, true, half_hour_from_22()),
                at("2013-05-01T22:00:00"),
                "{schedule_type}"
            );
        }
    }

    #[test]
    fn ondemand_runs_at_the_start_of_its_interval() {
        assert_eq!(
            runs_at(ScheduleType::Ondemand, false, half_hour_from_22()),
            at("2013-05-01T22:00:00")
        );
    }
}
