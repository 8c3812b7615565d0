//! Sluice's engine: AWS Data Pipeline definitions, the `#{...}` expression language,
//! schedules and (later) the run records and stages that execute them.
//!
//! Everything here is plain logic over injected ports; Lambda handlers and the `sluice`
//! command are thin adapters over it.

pub mod api;
pub mod cloud;
pub mod concurrent;
pub mod config;
pub mod data;
pub mod definition;
pub mod engine;
pub mod expr;
pub mod local;
pub mod lru;
pub mod plan;
pub mod runner;
pub mod schedule;
pub mod stages;
pub mod store;
pub mod suggest;
pub mod time;

/// An error with every cause under it, `outer: inner: innermost`: the AWS SDK's own
/// message is terse ("service error"), and the code that says why is in its sources.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        // SDK errors often repeat their source's text: say it once.
        let text = inner.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = inner.source();
    }
    message
}
