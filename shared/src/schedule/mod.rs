//! Schedules: periods, `cron` / `timeseries` / `ondemand` placement, and lazy
//! materialisation of the instances an activation creates.
//!
//! * [`ScheduleSpec::from_fields`] reads a `Schedule` object; [`ScheduleType::parse`] a
//!   `scheduleType`.
//! * [`Schedule::intervals`] walks a schedule's intervals lazily, without drift.
//! * [`runs_at`] places an instance in its interval.
//! * [`plan`] checks the one-day backfill guard of an [`Activation`] and merges every
//!   component's instances into one ordered stream.
//! * [`instance_id`] and [`attempt_id`] name instances and attempts as AWS does.

mod activation;
mod ids;
mod intervals;
mod period;
mod placement;
mod plan;
mod spec;

pub use activation::{Activation, BACKFILL_GUARD, BackfillError};
pub use ids::{attempt_id, instance_id, parse_resource_worker_group, resource_worker_group};
pub use intervals::{Interval, Intervals};
pub use period::{MAX_DELAY, MAX_PERIOD, Period, PeriodError, PeriodUnit, resolve_local};
pub use placement::runs_at;
pub use plan::{Plan, PlanComponent, PlannedInstance, plan};
pub use spec::{
    AWS_MAX_PERIOD_SECONDS, AWS_MIN_PERIOD_SECONDS, FIRST_ACTIVATION_DATE_TIME, ONDEMAND_ACTIVATION_TIME,
    ONDEMAND_PERIOD, Schedule, ScheduleEnd, ScheduleError, ScheduleFields, ScheduleSpec, ScheduleStart, ScheduleType,
    aws_period_warning,
};
