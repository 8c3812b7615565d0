//! Where each record lives in the one table (DESIGN.md §3), and the work queues.
//!
//! | record | pk | sk |
//! | --- | --- | --- |
//! | pipeline | `PIPELINE#<id>` | `META` |
//! | definition | `PIPELINE#<id>` | `DEF#<version>` |
//! | component | `PIPELINE#<id>` | `COMP#<componentId>` |
//! | instance | `PIPELINE#<id>` | `INST#<componentId>#<scheduledStart>` |
//! | attempt | `PIPELINE#<id>` | `ATT#<componentId>#<scheduledStart>#<n>` |
//! | event | `PIPELINE#<id>` | `EVENT#<componentId>#<scheduledStart>#<event>` |
//! | task | `TASK#<taskId>` | `TASK` |
//! | pipeline listing | `PIPELINES` | `<id>` |
//! | name + uniqueId | `UNIQUE#<name>#<uniqueId>` | `UNIQUE` |
//! | deleted pipeline | `PIPELINE#<id>` | `DELETED` |
//! | task runner | `TASKRUNNER#<taskrunnerId>` | `HEARTBEAT` |
//!
//! Ids are escaped (`%` and `#`) so that a `#` inside an id cannot cross a boundary.

use chrono::NaiveDateTime;

use super::Key;
use crate::time::format_datetime;

/// How many shards each stage's queue has: due work spreads over this many index
/// partitions, so one hot pipeline cannot throttle the rest.
pub const SHARDS: u32 = 4;

pub fn escape(id: &str) -> String {
    if id.contains(['%', '#']) {
        id.replace('%', "%25").replace('#', "%23")
    } else {
        id.to_owned()
    }
}

pub fn pipeline_pk(pipeline: &str) -> String {
    format!("PIPELINE#{}", escape(pipeline))
}

pub fn pipeline(pipeline: &str) -> Key {
    pipeline_in(&pipeline_pk(pipeline))
}

/// The pipeline record of the partition `pk` (`PIPELINE#<id>`), for a caller that holds a
/// key of that partition but not the id.
pub fn pipeline_in(pk: &str) -> Key {
    Key::new(pk, "META")
}

pub fn definition(pipeline: &str, version: u32) -> Key {
    Key::new(pipeline_pk(pipeline), format!("DEF#{version:010}"))
}

pub fn component(pipeline: &str, component: &str) -> Key {
    Key::new(pipeline_pk(pipeline), format!("COMP#{}", escape(component)))
}

/// The sort-key prefix of every component record of a pipeline.
pub const COMPONENT_PREFIX: &str = "COMP#";

pub fn instance_sk(component: &str, start: NaiveDateTime) -> String {
    format!("INST#{}#{}", escape(component), format_datetime(start))
}

pub fn instance(pipeline: &str, component: &str, start: NaiveDateTime) -> Key {
    Key::new(pipeline_pk(pipeline), instance_sk(component, start))
}

/// The sort-key prefix of every instance of a component.
pub fn instance_prefix(component: &str) -> String {
    format!("INST#{}#", escape(component))
}

/// The sort-key prefixes of an activity's attempts and of a runner's precondition checks.
pub const ATTEMPT_PREFIX: &str = "ATT#";
pub const PRECONDITION_ATTEMPT_PREFIX: &str = "PRECHECK#";

/// Whether `sk` is an attempt's (of either kind): the tasks runners are handed.
pub fn is_attempt(sk: &str) -> bool {
    sk.starts_with(ATTEMPT_PREFIX) || sk.starts_with(PRECONDITION_ATTEMPT_PREFIX)
}

pub fn attempt(pipeline: &str, component: &str, start: NaiveDateTime, number: u32) -> Key {
    Key::new(
        pipeline_pk(pipeline),
        format!(
            "{ATTEMPT_PREFIX}{}#{}#{number:04}",
            escape(component),
            format_datetime(start)
        ),
    )
}

/// A runner's check of one precondition of an instance.
pub fn precondition_attempt(
    pipeline: &str,
    component: &str,
    start: NaiveDateTime,
    precondition: &str,
    number: u32,
) -> Key {
    Key::new(
        pipeline_pk(pipeline),
        format!(
            "{PRECONDITION_ATTEMPT_PREFIX}{}#{}#{}#{number:04}",
            escape(component),
            format_datetime(start),
            escape(precondition)
        ),
    )
}

pub fn event(pipeline: &str, component: &str, start: NaiveDateTime, event: &str) -> Key {
    Key::new(
        pipeline_pk(pipeline),
        format!("EVENT#{}#{}#{event}", escape(component), format_datetime(start)),
    )
}

pub fn task(task_id: &str) -> Key {
    Key::new(format!("TASK#{}", escape(task_id)), "TASK")
}

/// The partition listing every pipeline (ListPipelines), one item per pipeline.
pub const PIPELINES_PK: &str = "PIPELINES";

/// A pipeline's item in the listing.
pub fn listing(pipeline: &str) -> Key {
    Key::new(PIPELINES_PK, escape(pipeline))
}

/// The pipeline created with this name and uniqueId (CreatePipeline's idempotency).
pub fn unique(name: &str, unique_id: &str) -> Key {
    Key::new(format!("UNIQUE#{}#{}", escape(name), escape(unique_id)), "UNIQUE")
}

/// What remains of a deleted pipeline: enough to answer PipelineDeletedException.
pub fn deleted(pipeline: &str) -> Key {
    Key::new(pipeline_pk(pipeline), "DELETED")
}

/// A task runner's last heartbeat.
pub fn task_runner(taskrunner_id: &str) -> Key {
    Key::new(format!("TASKRUNNER#{}", escape(taskrunner_id)), "HEARTBEAT")
}

/// The queue a pipeline's work goes to for `stage`: one of [`SHARDS`] shards, chosen by the
/// pipeline so that one pipeline's work stays in one shard.
pub fn queue(stage: &str, pipeline: &str) -> String {
    format!("{stage}#{}", shard_of(pipeline))
}

/// Every shard of a stage's queue.
pub fn queues(stage: &str) -> impl Iterator<Item = String> + '_ {
    (0..SHARDS).map(move |shard| format!("{stage}#{shard}"))
}

/// The queue runners of a worker group poll (PollForTask takes one exact worker group).
pub fn runner_queue(worker_group: &str) -> String {
    format!("runner#{}", escape(worker_group))
}

/// FNV-1a: stable across builds and platforms, unlike the standard hasher.
pub fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn shard_of(pipeline: &str) -> u32 {
    u32::try_from(fnv1a(pipeline) % u64::from(SHARDS)).unwrap_or(0)
}

/// Stage names, which are also queue-name prefixes.
pub mod stages {
    pub const SCHEDULE: &str = "schedule";
    pub const DEPENDENCIES: &str = "dependencies";
    pub const REAP: &str = "reap";
    pub const WATCH: &str = "watch";
    pub const ACTIONS: &str = "actions";
    /// Resource attempts: launch, watch and shut down their machines.
    pub const RESOURCES: &str = "resources";
    /// Deleted pipelines (their tombstones) whose records are still being removed.
    pub const PURGE: &str = "purge";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_datetime;

    #[test]
    fn ids_cannot_cross_key_boundaries() {
        let start = parse_datetime("2026-01-01T00:00:00").unwrap();
        let tricky = instance("df-1", "A#B", start);
        assert_eq!(tricky.sk, "INST#A%23B#2026-01-01T00:00:00");
        assert!(!tricky.sk.starts_with(&instance_prefix("A")));
        assert_eq!(escape("50%#"), "50%25%23");
    }

    #[test]
    fn a_pipeline_always_lands_in_the_same_shard() {
        assert_eq!(
            queue(stages::DEPENDENCIES, "df-123"),
            queue(stages::DEPENDENCIES, "df-123")
        );
        let shards: std::collections::BTreeSet<String> = (0..100)
            .map(|index| queue(stages::SCHEDULE, &format!("df-{index}")))
            .collect();
        assert_eq!(shards.len(), SHARDS as usize, "pipelines spread over every shard");
        assert_eq!(queues(stages::REAP).count(), SHARDS as usize);
    }

    #[test]
    fn sort_keys_keep_definition_versions_and_attempts_in_order() {
        assert!(definition("p", 9).sk < definition("p", 10).sk);
        let start = parse_datetime("2026-01-01T00:00:00").unwrap();
        assert!(attempt("p", "c", start, 9).sk < attempt("p", "c", start, 10).sk);
    }
}
