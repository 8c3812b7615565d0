//! The engine: statuses and the transition function, the compiled form of an activated
//! definition, and each stage's step function over ports (store, clock, probes).

pub mod clock;
pub mod compiled;
pub mod retry;
pub mod status;

pub use status::{Event, PipelineState, Refused, Status, transition};
