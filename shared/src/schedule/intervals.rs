//! The intervals a periodic schedule creates, computed lazily and without drift.

use std::iter::FusedIterator;

use chrono::NaiveDateTime;

use super::{
    period::Period,
    spec::{Schedule, ScheduleEnd, ScheduleStart},
};

/// One interval of a schedule: `[start, end)`, with `end = start + period`. An instance's
/// `@scheduledStartTime` and `@scheduledEndTime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Interval {
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
}

impl Schedule {
    /// The intervals of this schedule for a pipeline activated at `activated_at` (which is
    /// where a `FIRST_ACTIVATION_DATE_TIME` schedule starts).
    pub fn intervals(&self, activated_at: NaiveDateTime) -> Intervals {
        let first = match self.start {
            ScheduleStart::At(start) => start,
            ScheduleStart::FirstActivation => activated_at,
        };
        let (end, occurrences) = match self.end {
            ScheduleEnd::Never => (None, None),
            ScheduleEnd::At(end) => (Some(end), None),
            ScheduleEnd::Occurrences(count) => (None, Some(u64::from(count))),
        };
        Intervals {
            period: self.period,
            first,
            index: 0,
            next_start: Some(first),
            end,
            occurrences,
        }
    }
}

/// A lazy, constant-memory iterator over a schedule's intervals.
///
/// The n-th interval starts at `first + n×period`, computed from the first start in one step
/// (never by adding periods one after another), so monthly schedules clamp at month ends
/// without drifting: Jan 31, Feb 28, Mar 31, Apr 30, ...
///
/// An interval is created only while its start is before `endDateTime` and fewer than
/// `occurrences` have been created. Iteration also ends, without panicking, at the first
/// interval whose end is beyond the dates chrono can represent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intervals {
    period: Period,
    first: NaiveDateTime,
    /// Index of the next interval.
    index: u64,
    /// Start of the next interval; `None` once the schedule is exhausted.
    next_start: Option<NaiveDateTime>,
    end: Option<NaiveDateTime>,
    occurrences: Option<u64>,
}

impl Intervals {
    /// Moves forward so that the next interval is the first one starting at or after `at`,
    /// in O(log n) period additions however far away `at` is. Never moves backward.
    pub fn seek(&mut self, at: NaiveDateTime) {
        let Some(next_start) = self.next_start else {
            return;
        };
        if next_start >= at {
            return;
        }
        // Invariant: start(low) < at; start(high) >= at or is out of range. Starts grow
        // strictly with the index, and once out of range stay out of range.
        let is_at_or_after = |index: u64| match self.start_of(index) {
            Some(start) => start >= at,
            None => true,
        };
        let mut low = self.index;
        let mut step: u64 = 1;
        let mut high = loop {
            match low.checked_add(step) {
                Some(candidate) if is_at_or_after(candidate) => break candidate,
                Some(candidate) => {
                    low = candidate;
                    step = step.saturating_mul(2);
                }
                None => break u64::MAX,
            }
        };
        while let Some(gap) = high.checked_sub(low).filter(|gap| *gap > 1) {
            let middle = low.saturating_add(gap / 2);
            if is_at_or_after(middle) {
                high = middle;
            } else {
                low = middle;
            }
        }
        self.index = high;
        self.next_start = self.start_of(high);
    }

    /// Start of interval `index`, `None` when out of range.
    /// The interval that contains `at` (start <= at < end), if the schedule has one.
    pub fn containing(mut self, at: NaiveDateTime) -> Option<Interval> {
        self.seek(at);
        if self.next_start != Some(at) {
            let previous = self.index.checked_sub(1)?;
            self.index = previous;
            self.next_start = self.start_of(previous);
        }
        self.next().filter(|interval| interval.start <= at && at < interval.end)
    }

    /// Every interval that starts in `[from, to)`, at most `limit` of them.
    pub fn starting_within(mut self, from: NaiveDateTime, to: NaiveDateTime, limit: usize) -> Vec<Interval> {
        self.seek(from);
        self.take_while(|interval| interval.start < to).take(limit).collect()
    }

    fn start_of(&self, index: u64) -> Option<NaiveDateTime> {
        self.period.add_naive(self.first, i64::try_from(index).ok()?)
    }
}

impl Iterator for Intervals {
    type Item = Interval;

    fn next(&mut self) -> Option<Interval> {
        let start = self.next_start?;
        let exhausted =
            self.occurrences.is_some_and(|count| self.index >= count) || self.end.is_some_and(|end| start >= end);
        let next_index = self.index.checked_add(1);
        let end = next_index.and_then(|index| self.start_of(index));
        match (exhausted, next_index, end) {
            (false, Some(next_index), Some(end)) => {
                self.index = next_index;
                self.next_start = Some(end);
                Some(Interval { start, end })
            }
            _ => {
                self.next_start = None;
                None
            }
        }
    }
}

impl FusedIterator for Intervals {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{schedule::PeriodUnit, time::parse_datetime};

    fn at(text: &str) -> NaiveDateTime {
        parse_datetime(text).unwrap()
    }

    fn schedule(period: Period, start: &str, end: ScheduleEnd) -> Schedule {
        Schedule {
            period,
            start: ScheduleStart::At(at(start)),
            end,
        }
    }

    const MONTH: Period = Period::new(1, PeriodUnit::Months);
    const DAY: Period = Period::new(1, PeriodUnit::Days);
    const ACTIVATION: &str = "2026-01-01T00:00:00";

    #[test]
    fn each_interval_ends_where_the_next_begins() {
        // Given a 30-minute schedule from 22:00
        let schedule = schedule(
            Period::new(30, PeriodUnit::Minutes),
            "2013-05-01T22:00:00",
            ScheduleEnd::Never,
        );

        // When taking its first three intervals
        let intervals: Vec<_> = schedule.intervals(at(ACTIVATION)).take(3).collect();

        // Then they tile time from the start
        assert_eq!(
            intervals,
            [
                Interval {
                    start: at("2013-05-01T22:00:00"),
                    end: at("2013-05-01T22:30:00")
                },
                Interval {
                    start: at("2013-05-01T22:30:00"),
                    end: at("2013-05-01T23:00:00")
                },
                Interval {
                    start: at("2013-05-01T23:00:00"),
                    end: at("2013-05-01T23:30:00")
                },
            ]
        );
    }

    #[test]
    fn a_month_long_schedule_over_2013_yields_twelve_intervals() {
        let schedule = schedule(MONTH, "2013-01-01T00:00:00", ScheduleEnd::At(at("2014-01-01T00:00:00")));
        let intervals: Vec<_> = schedule.intervals(at(ACTIVATION)).collect();
        assert_eq!(intervals.len(), 12);
        assert_eq!(intervals.last().map(|last| last.end), Some(at("2014-01-01T00:00:00")));
    }

    #[test]
    fn monthly_from_january_31_clamps_and_does_not_drift() {
        let schedule = schedule(MONTH, "2013-01-31T10:00:00", ScheduleEnd::Never);
        let starts: Vec<_> = schedule.intervals(at(ACTIVATION)).take(5).map(|i| i.start).collect();
        assert_eq!(
            starts,
            [
                at("2013-01-31T10:00:00"),
                at("2013-02-28T10:00:00"),
                at("2013-03-31T10:00:00"),
                at("2013-04-30T10:00:00"),
                at("2013-05-31T10:00:00"),
            ]
        );
        let february = schedule.intervals(at(ACTIVATION)).nth(1).unwrap();
        assert_eq!(february.end, at("2013-03-31T10:00:00"));
    }

    #[test]
    fn occurrences_count_from_the_first_interval() {
        let schedule = schedule(DAY, "2013-01-01T00:00:00", ScheduleEnd::Occurrences(3));
        let starts: Vec<_> = schedule.intervals(at(ACTIVATION)).map(|i| i.start).collect();
        assert_eq!(
            starts,
            [
                at("2013-01-01T00:00:00"),
                at("2013-01-02T00:00:00"),
                at("2013-01-03T00:00:00")
            ]
        );
    }

    #[test]
    fn end_date_time_is_exclusive_and_only_limits_starts() {
        // Given a daily schedule ending exactly at the start of the third day
        let exact = schedule(DAY, "2013-01-01T00:00:00", ScheduleEnd::At(at("2013-01-03T00:00:00")));
        // Then the third day is not created
        assert_eq!(exact.intervals(at(ACTIVATION)).count(), 2);

        // Given an end one second after the third day starts
        let later = schedule(DAY, "2013-01-01T00:00:00", ScheduleEnd::At(at("2013-01-03T00:00:01")));
        // Then the third day is created and runs to its full end
        let last = later.intervals(at(ACTIVATION)).last().unwrap();
        assert_eq!(last.start, at("2013-01-03T00:00:00"));
        assert_eq!(last.end, at("2013-01-04T00:00:00"));
    }

    #[test]
    fn first_activation_starts_at_the_activation_time() {
        let schedule = Schedule {
            period: DAY,
            start: ScheduleStart::FirstActivation,
            end: ScheduleEnd::Occurrences(1),
        };
        let intervals: Vec<_> = schedule.intervals(at("2026-03-04T05:06:07")).collect();
        assert_eq!(
            intervals,
            [Interval {
                start: at("2026-03-04T05:06:07"),
                end: at("2026-03-05T05:06:07")
            }]
        );
    }

    #[test]
    fn an_end_before_first_activation_yields_nothing() {
        let schedule = Schedule {
            period: DAY,
            start: ScheduleStart::FirstActivation,
            end: ScheduleEnd::At(at("2020-01-01T00:00:00")),
        };
        assert_eq!(schedule.intervals(at(ACTIVATION)).next(), None);
    }

    #[test]
    fn an_interval_beyond_chronos_range_ends_the_iteration() {
        // Given a yearly schedule starting a year before chrono's last representable year
        let last_year = chrono::Datelike::year(&NaiveDateTime::MAX);
        let start = chrono::NaiveDate::from_ymd_opt(last_year - 1, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        let schedule = Schedule {
            period: Period::new(1, PeriodUnit::Years),
            start: ScheduleStart::At(start),
            end: ScheduleEnd::Never,
        };

        // When iterating it
        let mut intervals = schedule.intervals(at(ACTIVATION));

        // Then the only interval whose end is representable is created, and then it stops for good
        assert_eq!(intervals.next().map(|i| i.start), Some(start));
        assert_eq!(intervals.next(), None);
        assert_eq!(intervals.next(), None);
    }

    #[test]
    fn seek_lands_on_the_first_interval_at_or_after_a_time() {
        let schedule = schedule(
            Period::new(15, PeriodUnit::Minutes),
            "2013-01-01T00:00:00",
            ScheduleEnd::Never,
        );
        let mut intervals = schedule.intervals(at(ACTIVATION));

        intervals.seek(at("2013-01-01T00:20:00"));
        assert_eq!(intervals.clone().next().unwrap().start, at("2013-01-01T00:30:00"));

        intervals.seek(at("2023-06-01T12:45:00"));
        assert_eq!(intervals.clone().next().unwrap().start, at("2023-06-01T12:45:00"));

        // Seeking backward does nothing
        intervals.seek(at("2013-01-01T00:00:00"));
        assert_eq!(intervals.next().unwrap().start, at("2023-06-01T12:45:00"));
        assert_eq!(intervals.next().unwrap().start, at("2023-06-01T13:00:00"));
    }

    #[test]
    fn seek_keeps_month_clamping_and_limits() {
        let monthly = schedule(MONTH, "2013-01-31T00:00:00", ScheduleEnd::Occurrences(4));
        let mut intervals = monthly.intervals(at(ACTIVATION));
        intervals.seek(at("2013-03-01T00:00:00"));
        let starts: Vec<_> = intervals.map(|i| i.start).collect();
        assert_eq!(starts, [at("2013-03-31T00:00:00"), at("2013-04-30T00:00:00")]);

        let mut past_the_end = monthly.intervals(at(ACTIVATION));
        past_the_end.seek(at("2099-01-01T00:00:00"));
        assert_eq!(past_the_end.next(), None);
    }

    #[test]
    fn seek_beyond_chronos_range_exhausts_the_iteration() {
        let schedule = schedule(
            Period::new(u32::MAX, PeriodUnit::Years),
            "2013-01-01T00:00:00",
            ScheduleEnd::Never,
        );
        let mut intervals = schedule.intervals(at(ACTIVATION));
        intervals.seek(NaiveDateTime::MAX);
        assert_eq!(intervals.next(), None);
    }

    #[test]
    fn finds_the_interval_containing_a_time_and_those_starting_within_a_window() {
        let hourly = Schedule {
            period: Period::new(1, PeriodUnit::Hours),
            start: ScheduleStart::At(parse_datetime("2026-01-01T00:00:00").unwrap()),
            end: ScheduleEnd::Occurrences(5),
        };
        let at = |text| parse_datetime(text).unwrap();
        let activation = at("2026-01-01T00:00:00");
        let containing = hourly
            .intervals(activation)
            .containing(at("2026-01-01T02:30:00"))
            .unwrap();
        assert_eq!(
            (containing.start, containing.end),
            (at("2026-01-01T02:00:00"), at("2026-01-01T03:00:00"))
        );
        assert_eq!(
            hourly
                .intervals(activation)
                .containing(at("2026-01-01T02:00:00"))
                .unwrap()
                .start,
            at("2026-01-01T02:00:00")
        );
        assert_eq!(
            hourly.intervals(activation).containing(at("2025-12-31T23:00:00")),
            None,
            "before the first"
        );
        assert_eq!(
            hourly.intervals(activation).containing(at("2026-01-01T05:00:00")),
            None,
            "after the last"
        );
        let within =
            hourly
                .intervals(activation)
                .starting_within(at("2026-01-01T00:30:00"), at("2026-01-01T03:00:00"), 32);
        let starts: Vec<_> = within.iter().map(|interval| interval.start).collect();
        assert_eq!(starts, [at("2026-01-01T01:00:00"), at("2026-01-01T02:00:00")]);
    }
}
