//! Planning an activation: every instance each component's schedule creates, merged into one
//! time-ordered stream, lazily and in memory proportional to the number of components.

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, binary_heap::PeekMut},
    iter::FusedIterator,
};

use chrono::NaiveDateTime;

use super::{
    activation::{Activation, BackfillError},
    intervals::{Interval, Intervals},
    placement::runs_at,
    spec::{ScheduleSpec, ScheduleType},
};

/// What the planner needs to know about one component (an activity, data node or resource).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlanComponent {
    pub schedule: ScheduleSpec,
    pub schedule_type: ScheduleType,
    /// `Ec2Resource` or `EmrCluster`: instances run at the start of their interval.
    pub is_resource: bool,
}

impl PlanComponent {
    /// A component runs once per activation when its schedule is on-demand or its
    /// `scheduleType` is `ondemand` (a pipeline may be on-demand with no Schedule at all).
    pub fn is_on_demand(&self) -> bool {
        self.schedule == ScheduleSpec::OnDemand || self.schedule_type == ScheduleType::Ondemand
    }
}

/// One instance of a component, as an activation creates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlannedInstance {
    /// Index into the planned components.
    pub component: usize,
    /// `@scheduledStartTime`.
    pub scheduled_start: NaiveDateTime,
    /// `@scheduledEndTime`.
    pub scheduled_end: NaiveDateTime,
    /// When the instance becomes due (see [`runs_at`](super::runs_at)).
    pub runs_at: NaiveDateTime,
    /// Created as `SKIPPED`: its interval starts before the activation's start timestamp.
    pub skipped: bool,
}

/// Plans an activation: checks the one-day backfill guard for every component (reporting the
/// first component, by index, that fails it), then returns every instance whose
/// `scheduled_start` is before `until`, ordered by `scheduled_start` and then by component
/// index.
///
/// A periodic component yields one instance per interval of its schedule (see
/// [`Intervals`]). Intervals that start before the activation's `start_timestamp` are
/// yielded with `skipped` set. An on-demand component (see [`PlanComponent::is_on_demand`])
/// yields a single instance with `scheduled_start = scheduled_end = runs_at =` the activation
/// time, as AWS gives an on-demand run the activation time as its `@scheduledStartTime`;
/// it is never skipped, and like any other instance it is yielded only if the activation is
/// before `until`.
pub fn plan(
    components: &[PlanComponent],
    activation: &Activation,
    until: NaiveDateTime,
) -> Result<Plan, BackfillError> {
    for (index, component) in components.iter().enumerate() {
        if !component.is_on_demand() {
            activation.check_backfill(index, &component.schedule, component.schedule_type)?;
        }
    }
    let mut cursors = Vec::with_capacity(components.len());
    let mut heap = BinaryHeap::with_capacity(components.len());
    for (index, component) in components.iter().enumerate() {
        let (first, intervals) = match component.schedule {
            ScheduleSpec::Periodic(schedule) if !component.is_on_demand() => {
                let mut intervals = schedule.intervals(activation.at);
                (intervals.next(), Some(intervals))
            }
            _ => {
                let run = Interval {
                    start: activation.at,
                    end: activation.at,
                };
                (Some(run), None)
            }
        };
        cursors.push(Cursor {
            intervals,
            schedule_type: component.schedule_type,
            is_resource: component.is_resource,
        });
        if let Some(first) = first.filter(|first| first.start < until) {
            heap.push(Reverse(Entry {
                start: first.start,
                component: index,
                end: first.end,
            }));
        }
    }
    Ok(Plan {
        cursors,
        heap,
        until,
        skip_before: activation.start_timestamp,
    })
}

/// The instances of an activation, in order (see [`plan`]). A k-way merge of the components'
/// schedules: memory is O(number of components) and nothing is allocated per instance.
#[derive(Debug, Clone)]
pub struct Plan {
    cursors: Vec<Cursor>,
    /// The next interval of every component that has one before `until`.
    heap: BinaryHeap<Reverse<Entry>>,
    until: NaiveDateTime,
    skip_before: Option<NaiveDateTime>,
}

#[derive(Debug, Clone)]
struct Cursor {
    /// The component's remaining intervals; `None` for an on-demand component's single run.
    intervals: Option<Intervals>,
    schedule_type: ScheduleType,
    is_resource: bool,
}

/// A component's next interval. Ordered by start, then component index (unique together, so
/// `end` never decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    start: NaiveDateTime,
    component: usize,
    end: NaiveDateTime,
}

impl Iterator for Plan {
    type Item = PlannedInstance;

    fn next(&mut self) -> Option<PlannedInstance> {
        loop {
            let mut top = self.heap.peek_mut()?;
            let Reverse(entry) = *top;
            let Some(cursor) = self.cursors.get_mut(entry.component) else {
                // Every entry comes from a cursor; drop one that somehow does not.
                PeekMut::pop(top);
                continue;
            };
            let interval = Interval {
                start: entry.start,
                end: entry.end,
            };
            let instance = PlannedInstance {
                component: entry.component,
                scheduled_start: entry.start,
                scheduled_end: entry.end,
                runs_at: runs_at(cursor.schedule_type, cursor.is_resource, interval),
                skipped: cursor.intervals.is_some() && self.skip_before.is_some_and(|from| entry.start < from),
            };
            match cursor.intervals.as_mut().and_then(Iterator::next) {
                Some(next) if next.start < self.until => {
                    *top = Reverse(Entry {
                        start: next.start,
                        component: entry.component,
                        end: next.end,
                    });
                }
                _ => {
                    PeekMut::pop(top);
                }
            }
            return Some(instance);
        }
    }
}

impl FusedIterator for Plan {}

#[cfg(test)]
mod tests {

    use chrono::TimeDelta;
    use proptest::prelude::*;

    use super::*;
    use crate::{
        schedule::{Period, PeriodUnit, Schedule, ScheduleEnd, ScheduleStart},
        time::parse_datetime,
    };

    fn at(text: &str) -> NaiveDateTime {
        parse_datetime(text).unwrap()
    }

    fn periodic(period: Period, start: &str, end: ScheduleEnd) -> ScheduleSpec {
        ScheduleSpec::Periodic(Schedule {
            period,
            start: ScheduleStart::At(at(start)),
            end,
        })
    }

    fn component(schedule: ScheduleSpec, schedule_type: ScheduleType) -> PlanComponent {
        PlanComponent {
            schedule,
            schedule_type,
            is_resource: false,
        }
    }

    fn backfilling(at_: &str) -> Activation {
        Activation {
            allow_backfill: true,
            ..Activation::at(at(at_))
        }
    }

    const HOUR: Period = Period::new(1, PeriodUnit::Hours);
    const HALF_HOUR: Period = Period::new(30, PeriodUnit::Minutes);

    #[test]
    fn instances_are_ordered_by_start_then_by_component() {
        // Given an hourly and a half-hourly component starting together
        let components = [
            component(
                periodic(HOUR, "2026-01-01T00:00:00", ScheduleEnd::Never),
                ScheduleType::Cron,
            ),
            component(
                periodic(HALF_HOUR, "2026-01-01T00:00:00", ScheduleEnd::Never),
                ScheduleType::Cron,
            ),
        ];

        // When planning the first two hours
        let instances: Vec<_> = plan(
            &components,
            &Activation::at(at("2026-01-01T00:00:00")),
            at("2026-01-01T02:00:00"),
        )
        .unwrap()
        .map(|instance| (instance.scheduled_start, instance.component))
        .collect();

        // Then they come by start, and the lower index first on a tie
        assert_eq!(
            instances,
            [
                (at("2026-01-01T00:00:00"), 0),
                (at("2026-01-01T00:00:00"), 1),
                (at("2026-01-01T00:30:00"), 1),
                (at("2026-01-01T01:00:00"), 0),
                (at("2026-01-01T01:00:00"), 1),
                (at("2026-01-01T01:30:00"), 1),
            ]
        );
    }

    #[test]
    fn timeseries_instances_run_at_the_end_and_cron_and_resources_at_the_start() {
        // Given the reference's example: start 22:00, 30-minute period
        let schedule = periodic(HALF_HOUR, "2013-05-01T22:00:00", ScheduleEnd::Occurrences(1));
        let components = [
            component(schedule, ScheduleType::Cron),
            component(schedule, ScheduleType::Timeseries),
            PlanComponent {
                is_resource: true,
                ..component(schedule, ScheduleType::Timeseries)
            },
        ];

        // When planning it
        let runs: Vec<_> = plan(&components, &backfilling("2026-01-01T00:00:00"), NaiveDateTime::MAX)
            .unwrap()
            .map(|instance| (instance.component, instance.runs_at))
            .collect();

        // Then cron runs at 22:00, timeseries at 22:30, and the timeseries resource at 22:00
        assert_eq!(
            runs,
            [
                (0, at("2013-05-01T22:00:00")),
                (1, at("2013-05-01T22:30:00")),
                (2, at("2013-05-01T22:00:00")),
            ]
        );
    }

    #[test]
    fn intervals_before_the_start_timestamp_are_skipped() {
        // Given a daily schedule activated from a start timestamp on its third day
        let components = [component(
            periodic(
                Period::new(1, PeriodUnit::Days),
                "2026-01-01T00:00:00",
                ScheduleEnd::Never,
            ),
            ScheduleType::Cron,
        )];
        let activation = Activation {
            start_timestamp: Some(at("2026-01-02T12:00:00")),
            ..Activation::at(at("2026-01-04T00:00:00"))
        };

        // When planning up to the activation
        let instances: Vec<_> = plan(&components, &activation, at("2026-01-04T00:00:00"))
            .unwrap()
            .map(|instance| (instance.scheduled_start, instance.skipped))
            .collect();

        // Then the intervals starting before the timestamp are skipped, the rest are not
        assert_eq!(
            instances,
            [
                (at("2026-01-01T00:00:00"), true),
                (at("2026-01-02T00:00:00"), true),
                (at("2026-01-03T00:00:00"), false),
            ]
        );
    }

    #[test]
    fn the_backfill_guard_refuses_the_plan_and_names_the_first_offender() {
        let components = [
            component(
                periodic(HOUR, "2026-01-01T00:00:00", ScheduleEnd::Never),
                ScheduleType::Cron,
            ),
            component(
                periodic(HOUR, "2025-12-30T23:59:59", ScheduleEnd::Never),
                ScheduleType::Cron,
            ),
            component(
                periodic(HOUR, "2025-01-01T00:00:00", ScheduleEnd::Never),
                ScheduleType::Cron,
            ),
        ];
        let activation = Activation::at(at("2026-01-02T00:00:00"));

        let error = plan(&components, &activation, at("2026-01-03T00:00:00")).unwrap_err();

        assert_eq!(error.component, 1);
        assert_eq!(error.first_start, at("2025-12-30T23:59:59"));
        // And allowing backfill plans every missed hour
        let allowed = Activation {
            allow_backfill: true,
            ..activation
        };
        let instances = plan(&components, &allowed, at("2026-01-02T00:00:00")).unwrap();
        assert_eq!(instances.filter(|instance| instance.component == 1).count(), 49);
    }

    #[test]
    fn an_on_demand_component_runs_once_at_activation() {
        // Given an on-demand schedule and an ondemand schedule type without a schedule of its own
        let components = [
            component(ScheduleSpec::OnDemand, ScheduleType::Cron),
            component(
                periodic(HOUR, "2000-01-01T00:00:00", ScheduleEnd::Never),
                ScheduleType::Ondemand,
            ),
        ];
        let activation = Activation {
            start_timestamp: Some(at("2030-01-01T00:00:00")),
            ..Activation::at(at("2026-01-02T03:04:05"))
        };

        // When planning far ahead
        let instances: Vec<_> = plan(&components, &activation, NaiveDateTime::MAX).unwrap().collect();

        // Then each runs once, at activation, not skipped
        let expected = |component| PlannedInstance {
            component,
            scheduled_start: at("2026-01-02T03:04:05"),
            scheduled_end: at("2026-01-02T03:04:05"),
            runs_at: at("2026-01-02T03:04:05"),
            skipped: false,
        };
        assert_eq!(instances, [expected(0), expected(1)]);
    }

    #[test]
    fn until_is_exclusive() {
        let components = [component(
            periodic(HOUR, "2026-01-01T00:00:00", ScheduleEnd::Never),
            ScheduleType::Cron,
        )];
        let activation = Activation::at(at("2026-01-01T00:00:00"));
        let count = plan(&components, &activation, at("2026-01-01T03:00:00"))
            .unwrap()
            .count();
        assert_eq!(count, 3);
        let nothing = plan(&components, &activation, at("2026-01-01T00:00:00"))
            .unwrap()
            .count();
        assert_eq!(nothing, 0);
    }

    #[test]
    fn a_month_long_schedule_over_2013_plans_twelve_instances_with_clamped_months() {
        let components = [component(
            periodic(
                Period::new(1, PeriodUnit::Months),
                "2013-01-31T00:00:00",
                ScheduleEnd::Never,
            ),
            ScheduleType::Cron,
        )];
        let starts: Vec<_> = plan(
            &components,
            &backfilling("2026-01-01T00:00:00"),
            at("2014-01-01T00:00:00"),
        )
        .unwrap()
        .map(|instance| instance.scheduled_start)
        .collect();
        assert_eq!(starts.len(), 12);
        assert_eq!(starts.get(1), Some(&at("2013-02-28T00:00:00")));
        assert_eq!(starts.get(11), Some(&at("2013-12-31T00:00:00")));
    }

    #[test]
    fn an_empty_pipeline_plans_nothing() {
        let mut instances = plan(&[], &Activation::at(at("2026-01-01T00:00:00")), NaiveDateTime::MAX).unwrap();
        assert_eq!(instances.next(), None);
    }

    #[test]
    fn plans_a_year_of_fifteen_minute_instances_for_a_hundred_components() {
        // Given 100 components with a year of 15-minute intervals, at staggered starts
        let components: Vec<_> = (0..100)
            .map(|index| {
                let start = at("2025-01-01T00:00:00") + TimeDelta::minutes(index % 15);
                component(
                    ScheduleSpec::Periodic(Schedule {
                        period: Period::new(15, PeriodUnit::Minutes),
                        start: ScheduleStart::At(start),
                        end: ScheduleEnd::Never,
                    }),
                    ScheduleType::Timeseries,
                )
            })
            .collect();
        let activation = backfilling("2026-01-01T00:00:00");

        // When planning the whole year
        let instances = plan(&components, &activation, at("2026-01-01T00:00:00")).unwrap();

        // Then every instance is there, in order (the speed is measured by `cargo bench`)
        let mut count = 0_u64;
        let mut previous = None;
        for instance in instances {
            let key = (instance.scheduled_start, instance.component);
            assert!(previous < Some(key));
            previous = Some(key);
            count += 1;
        }
        assert_eq!(count, 100 * 365 * 96);
    }

    fn arbitrary_period() -> impl Strategy<Value = Period> {
        let unit = prop_oneof![
            Just(PeriodUnit::Minutes),
            Just(PeriodUnit::Hours),
            Just(PeriodUnit::Days),
            Just(PeriodUnit::Weeks),
            Just(PeriodUnit::Months),
            Just(PeriodUnit::Years),
        ];
        (1..=u32::MAX, unit).prop_map(|(count, unit)| Period::new(count, unit))
    }

    fn small_period() -> impl Strategy<Value = Period> {
        let unit = prop_oneof![
            Just(PeriodUnit::Minutes),
            Just(PeriodUnit::Hours),
            Just(PeriodUnit::Days),
            Just(PeriodUnit::Months),
        ];
        (1..=90u32, unit).prop_map(|(count, unit)| Period::new(count, unit))
    }

    /// Any representable date-time, including chrono's extremes.
    fn any_datetime() -> impl Strategy<Value = NaiveDateTime> {
        let min = NaiveDateTime::MIN.and_utc().timestamp();
        let max = NaiveDateTime::MAX.and_utc().timestamp();
        prop_oneof![
            Just(NaiveDateTime::MIN),
            Just(NaiveDateTime::MAX),
            (min..=max).prop_map(move |seconds| {
                chrono::DateTime::from_timestamp(seconds, 0)
                    .map(|datetime| datetime.naive_utc())
                    .unwrap_or(NaiveDateTime::MAX)
            }),
            (max - 10_000_000_000..=max).prop_map(move |seconds| {
                chrono::DateTime::from_timestamp(seconds, 0)
                    .map(|datetime| datetime.naive_utc())
                    .unwrap_or(NaiveDateTime::MAX)
            }),
        ]
    }

    /// A date-time within a few days of 2026-01-01.
    fn near_2026() -> impl Strategy<Value = NaiveDateTime> {
        (0..5 * 86_400i64).prop_map(|seconds| at("2026-01-01T00:00:00") + TimeDelta::seconds(seconds))
    }

    fn schedule_end(start: NaiveDateTime) -> impl Strategy<Value = ScheduleEnd> {
        prop_oneof![
            Just(ScheduleEnd::Never),
            (1..50u32).prop_map(ScheduleEnd::Occurrences),
            (1..6 * 86_400i64).prop_map(move |seconds| ScheduleEnd::At(start + TimeDelta::seconds(seconds))),
        ]
    }

    fn small_component() -> impl Strategy<Value = PlanComponent> {
        let schedule_type = prop_oneof![
            Just(ScheduleType::Cron),
            Just(ScheduleType::Timeseries),
            Just(ScheduleType::Ondemand),
        ];
        let start = prop_oneof![
            near_2026().prop_map(ScheduleStart::At),
            Just(ScheduleStart::FirstActivation)
        ];
        (
            small_period(),
            start,
            near_2026(),
            schedule_type,
            any::<bool>(),
            any::<bool>(),
        )
            .prop_flat_map(|(period, start, end_base, schedule_type, is_resource, on_demand)| {
                schedule_end(end_base).prop_map(move |end| PlanComponent {
                    schedule: if on_demand {
                        ScheduleSpec::OnDemand
                    } else {
                        ScheduleSpec::Periodic(Schedule { period, start, end })
                    },
                    schedule_type,
                    is_resource,
                })
            })
    }

    /// The plan computed the obvious way: every interval by repeated addition from the first,
    /// filtered and sorted.
    fn naive_plan(components: &[PlanComponent], activation: &Activation, until: NaiveDateTime) -> Vec<PlannedInstance> {
        let mut instances = Vec::new();
        for (index, component) in components.iter().enumerate() {
            if component.is_on_demand() {
                if activation.at < until {
                    instances.push(PlannedInstance {
                        component: index,
                        scheduled_start: activation.at,
                        scheduled_end: activation.at,
                        runs_at: activation.at,
                        skipped: false,
                    });
                }
                continue;
            }
            let ScheduleSpec::Periodic(schedule) = component.schedule else {
                continue;
            };
            let first = match schedule.start {
                ScheduleStart::At(start) => start,
                ScheduleStart::FirstActivation => activation.at,
            };
            for n in 0.. {
                let start = schedule.period.add_naive(first, n).unwrap();
                let end = schedule.period.add_naive(first, n + 1).unwrap();
                let ended = match schedule.end {
                    ScheduleEnd::Never => false,
                    ScheduleEnd::At(end) => start >= end,
                    ScheduleEnd::Occurrences(count) => n >= i64::from(count),
                };
                if ended || start >= until {
                    break;
                }
                let runs_at = if component.schedule_type == ScheduleType::Timeseries && !component.is_resource {
                    end
                } else {
                    start
                };
                instances.push(PlannedInstance {
                    component: index,
                    scheduled_start: start,
                    scheduled_end: end,
                    runs_at,
                    skipped: activation.start_timestamp.is_some_and(|from| start < from),
                });
            }
        }
        instances.sort_by_key(|instance| (instance.scheduled_start, instance.component));
        instances
    }

    proptest! {
        #[test]
        fn the_plan_matches_a_naive_computation_and_is_sorted(
            components in proptest::collection::vec(small_component(), 0..6),
            activated in near_2026(),
            start_timestamp in proptest::option::of(near_2026()),
            horizon in 0..10 * 86_400i64,
        ) {
            // Given small schedules around an activation, with backfill allowed
            let activation = Activation { at: activated, start_timestamp, allow_backfill: true };
            let until = at("2026-01-01T00:00:00") + TimeDelta::seconds(horizon);

            // When planning
            let planned: Vec<_> = plan(&components, &activation, until).unwrap().collect();

            // Then it is sorted by start then component, and equals the naive plan
            let sorted = planned.windows(2).all(|pair| {
                (pair[0].scheduled_start, pair[0].component) < (pair[1].scheduled_start, pair[1].component)
            });
            prop_assert!(sorted, "not sorted: {:?}", planned);
            prop_assert_eq!(planned, naive_plan(&components, &activation, until));
        }

        #[test]
        fn the_backfill_guard_agrees_with_the_first_instance_not_skipped(
            components in proptest::collection::vec(small_component(), 1..4),
            activated in near_2026(),
            start_timestamp in proptest::option::of(near_2026()),
        ) {
            // Given a plan with the guard on
            let activation = Activation { at: activated, start_timestamp, allow_backfill: false };
            let result = plan(&components, &activation, NaiveDateTime::MAX);

            // Then it is refused exactly when some component's first unskipped start is over a day back
            let allowed = Activation { allow_backfill: true, ..activation };
            let everything = naive_plan(&components, &allowed, at("2026-02-01T00:00:00"));
            let offender = (0..components.len()).find(|&index| {
                everything
                    .iter()
                    .find(|instance| instance.component == index && !instance.skipped)
                    .is_some_and(|first| activated - first.scheduled_start > TimeDelta::days(1))
            });
            prop_assert_eq!(result.err().map(|error| error.component), offender);
        }

        #[test]
        fn planning_never_panics_on_any_period_or_date(
            periods in proptest::collection::vec(arbitrary_period(), 1..4),
            starts in proptest::collection::vec(any_datetime(), 4),
            activated in any_datetime(),
            start_timestamp in proptest::option::of(any_datetime()),
            until in any_datetime(),
            allow_backfill in any::<bool>(),
            first_activation in any::<bool>(),
        ) {
            let components: Vec<_> = periods
                .iter()
                .zip(&starts)
                .map(|(&period, &start)| PlanComponent {
                    schedule: ScheduleSpec::Periodic(Schedule {
                        period,
                        start: if first_activation { ScheduleStart::FirstActivation } else { ScheduleStart::At(start) },
                        end: ScheduleEnd::Never,
                    }),
                    schedule_type: ScheduleType::Timeseries,
                    is_resource: false,
                })
                .collect();
            let activation = Activation { at: activated, start_timestamp, allow_backfill };
            if let Ok(instances) = plan(&components, &activation, until) {
                // Every yielded instance is within range and ordered; stop early on dense schedules.
                let mut previous = None;
                for instance in instances.take(1_000) {
                    prop_assert!(instance.scheduled_start < instance.scheduled_end);
                    prop_assert!(instance.scheduled_start < until);
                    let key = (instance.scheduled_start, instance.component);
                    prop_assert!(previous.is_none_or(|previous| previous < key));
                    previous = Some(key);
                }
            }
        }
    }
}
