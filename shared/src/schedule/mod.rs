//! Schedules: periods, `cron` / `timeseries` / `ondemand` placement, and lazy
//! materialisation of the instances an activation creates.

mod period;

pub use period::{Period, PeriodError, PeriodUnit, resolve_local};
