//! The engine: statuses and the transition function, the compiled form of an activated
//! definition, and each stage's step function over ports (store, clock, probes).
//!
//! Every stage takes only due work from its queue, decides each change with
//! [`transition`], and writes it conditionally: a stage run twice at once, or again after a
//! crash between two writes, changes nothing twice.

pub mod actions;
pub mod clock;
pub mod clusters;
pub mod compiled;
pub mod confine;
pub mod dependencies;
pub mod error;
pub mod objects;
pub mod operator;
pub mod pipelines;
pub mod resources;
pub mod retry;
pub mod scheduling;
pub mod status;
pub mod tasks;
pub mod timers;
pub mod wake;

use std::sync::{Arc, Mutex};

use chrono::{NaiveDateTime, TimeDelta};

pub use error::EngineError;
pub use status::{Event, PipelineState, Refused, Status, transition};

use self::{
    clock::{Clock, Random, millis},
    compiled::CompiledPipeline,
};
use crate::{
    cloud::{
        probe::Probe,
        secrets::{SecretKeeper, open_all, seal_all, secret_parameter_values, secret_values},
    },
    definition::{ApiDefinition, Definition},
    lru::Lru,
    store::{
        Item, RunStore, Write, keys,
        records::{
            self, AttemptRecord, DefinitionRecord, EventKind, EventRecord, InstanceRecord, PipelineRecord, Record,
            Stored, TaskRecord, WorkerGroupRecord,
        },
    },
};

/// How much one step may do, so that a Lambda finishes within its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Due items read from each queue shard per step.
    pub batch: usize,
    /// Instances one component may create per schedule step (backfill is resumable).
    pub instances_per_step: u32,
    /// How soon an instance blocked on something upstream is checked again. The minute
    /// schedule is the safety net; status changes wake stages sooner (DynamoDB Streams).
    pub recheck: TimeDelta,
    /// When set (by `sluice dev`), resources are simulated: a resource instance finishes as
    /// soon as its dependencies hold, launching nothing, and the work that runs on it goes
    /// to this worker group instead.
    pub simulated_resources: Option<String>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            batch: 100,
            instances_per_step: 100,
            recheck: TimeDelta::minutes(1),
            simulated_resources: None,
        }
    }
}

/// What one step did, for logs and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepReport {
    /// Due items looked at.
    pub examined: usize,
    /// Writes that took effect.
    pub changed: usize,
    /// Writes another worker won first (nothing written twice).
    pub lost_races: usize,
    /// Due items that could not be read as records, with why: left in place for a person
    /// to look at, and reported so that the functions log them.
    pub corrupt: Vec<String>,
    /// Work that went wrong in a way a person should read (an alarm SNS refused), with
    /// why; the functions log them.
    pub problems: Vec<String>,
}

impl StepReport {
    fn wrote(&mut self, written: bool) {
        if written {
            self.changed += 1;
        } else {
            self.lost_races += 1;
        }
    }

    pub fn add(&mut self, other: StepReport) {
        self.examined += other.examined;
        self.changed += other.changed;
        self.lost_races += other.lost_races;
        self.corrupt.extend(other.corrupt);
        self.problems.extend(other.problems);
    }
}

/// The engine over its ports. Cheap to build per invocation; what it remembers between
/// calls (compiled definitions, worker groups' polls, tasks handed out) is bounded
/// ([`COMPILED_REMEMBERED`], [`WORKER_GROUPS_REMEMBERED`], [`TASKS_REMEMBERED`]), least
/// recently used first out, so a long-lived engine (`sluice dev`, a warm Lambda) stays small.
pub struct Engine<'a, S, P> {
    pub store: &'a S,
    pub clock: &'a dyn Clock,
    pub random: &'a dyn Random,
    pub probe: &'a P,
    pub limits: Limits,
    /// Compiled definitions by (pipeline, version).
    compiled: Mutex<Lru<(String, u32), Arc<CompiledPipeline>>>,
    /// When this process last wrote down a poll of each worker group: a runner polls many
    /// times a minute, and the record only needs a line a minute.
    polls_noted: Mutex<Lru<String, WorkerGroupRecord>>,
    /// Told the worker group of each attempt this engine makes ready for a runner, as it
    /// writes it: a runner in the same process (`sluice dev`'s) starts at once instead of
    /// at its next poll. Deployed, runners are elsewhere and nothing is told.
    task_offered: Option<TaskOffered>,
    /// Told when a runner's report ends a task, once written: `sluice dev` reads the
    /// table's stream at once instead of at its next poll, so the consumers of a finished
    /// run start sooner. Deployed, the event-source mapping delivers the change.
    task_ended: Option<TaskEnded>,
    /// The tasks this engine handed out lately: a task record never changes, and the
    /// runner that polled one reports on it through the same process more often than not
    /// (`sluice dev`, a warm API function), so its reports skip one read.
    tasks_given: Mutex<Lru<String, TaskRecord>>,
    /// Seals secret values before they are stored and opens them for the work that needs
    /// them; without one, they are stored as given (tests, and `sluice dev --aws` without
    /// a key).
    secrets: Option<&'a dyn SecretKeeper>,
}

/// How many compiled definitions an engine keeps. A step over the due work of more
/// pipelines than this compiles again those it dropped; each definition is at most one
/// 400 KB item gzipped, so the bound also bounds the memory they take.
pub const COMPILED_REMEMBERED: usize = 128;
/// How many worker groups' last polls an engine remembers (a few hundred bytes each). One
/// it forgot costs its next poll one read.
pub const WORKER_GROUPS_REMEMBERED: usize = 1024;
/// How many handed-out tasks an engine remembers (a few hundred bytes each). One it forgot
/// costs its runner's next report one read.
pub const TASKS_REMEMBERED: usize = 1024;

/// See [`Engine::with_task_offered`].
pub type TaskOffered = Arc<dyn Fn(&str) + Send + Sync>;
/// See [`Engine::with_task_ended`].
pub type TaskEnded = Arc<dyn Fn() + Send + Sync>;

impl<'a, S: RunStore, P: Probe> Engine<'a, S, P> {
    pub fn new(store: &'a S, clock: &'a dyn Clock, random: &'a dyn Random, probe: &'a P) -> Self {
        Self {
            store,
            clock,
            random,
            probe,
            limits: Limits::default(),
            compiled: Mutex::new(Lru::new(COMPILED_REMEMBERED)),
            polls_noted: Mutex::new(Lru::new(WORKER_GROUPS_REMEMBERED)),
            task_offered: None,
            task_ended: None,
            tasks_given: Mutex::new(Lru::new(TASKS_REMEMBERED)),
            secrets: None,
        }
    }

    /// Seals secret values with `secrets` before they are stored (DESIGN.md §3).
    pub fn with_secrets(mut self, secrets: &'a dyn SecretKeeper) -> Self {
        self.secrets = Some(secrets);
        self
    }

    /// Seals `values` (secret values about to be stored) when the engine has a keeper.
    pub(crate) async fn seal_secrets(&self, pipeline_id: &str, values: Vec<&mut String>) -> Result<(), EngineError> {
        if let Some(keeper) = self.secrets {
            seal_all(keeper, pipeline_id, values).await?;
        }
        Ok(())
    }

    /// A stored definition with its secret values opened, for the work that needs them.
    pub(crate) async fn opened_definition(
        &self,
        pipeline_id: &str,
        mut definition: ApiDefinition,
    ) -> Result<ApiDefinition, EngineError> {
        open_all(self.secrets, pipeline_id, secret_values(&mut definition)).await?;
        Ok(definition)
    }

    /// The pipeline's definition `version`, compiled with its secrets opened.
    pub(crate) async fn compile_stored(
        &self,
        pipeline: &PipelineRecord,
        version: u32,
        definition: ApiDefinition,
    ) -> Result<CompiledPipeline, EngineError> {
        let definition = self.opened_definition(&pipeline.id, definition).await?;
        let definition =
            Definition::try_from(definition).map_err(|error| EngineError::InvalidRequest(error.to_string()))?;
        let mut values = pipeline.parameter_values.clone();
        open_all(self.secrets, &pipeline.id, secret_parameter_values(&mut values)).await?;
        let first = pipeline
            .first_activated_at
            .or(pipeline.activated_at)
            .unwrap_or(pipeline.created_at);
        Ok(CompiledPipeline::compile(
            &pipeline.id,
            version,
            definition,
            &values,
            first,
        )?)
    }

    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Calls `offered` with the worker group of each attempt this engine makes ready for a
    /// runner, once written.
    pub fn with_task_offered(mut self, offered: TaskOffered) -> Self {
        self.task_offered = Some(offered);
        self
    }

    /// Calls `ended` each time a runner's SetTaskStatus ends a task, once written.
    pub fn with_task_ended(mut self, ended: TaskEnded) -> Self {
        self.task_ended = Some(ended);
        self
    }

    fn offer_task(&self, worker_group: &str) {
        if let Some(offered) = &self.task_offered {
            offered(worker_group);
        }
    }

    /// The worker groups of the attempts `writes` create ready for a runner now (an
    /// activity's attempt, a runner precondition's check; not a retry that waits out its
    /// delay). Read only when someone is to be told.
    fn tasks_made_ready(&self, writes: &[Write]) -> Vec<String> {
        if self.task_offered.is_none() {
            return Vec::new();
        }
        let now = self.now();
        writes
            .iter()
            .filter_map(|write| match write {
                Write::Create(item) if keys::is_attempt(&item.key.sk) => Stored::<AttemptRecord>::from_item(item).ok(),
                _ => None,
            })
            .filter(|attempt| attempt.record.status == Status::WaitingForRunner && attempt.record.available_at <= now)
            .map(|attempt| attempt.record.worker_group)
            .collect()
    }

    fn remember_task(&self, task: &TaskRecord) {
        let mut given = self.tasks_given.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        given.insert(task.task_id.clone(), task.clone());
    }

    fn task_given(&self, task_id: &str) -> Option<TaskRecord> {
        let mut given = self.tasks_given.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        given.get(task_id).cloned()
    }

    pub fn now(&self) -> NaiveDateTime {
        self.clock.now()
    }

    async fn pipeline(&self, id: &str) -> Result<Stored<PipelineRecord>, EngineError> {
        records::get(self.store, &keys::pipeline(id))
            .await?
            .ok_or_else(|| EngineError::PipelineNotFound(id.to_owned()))
    }

    /// The pipeline's active definition, compiled (once per engine).
    async fn compiled(&self, pipeline: &PipelineRecord) -> Result<Arc<CompiledPipeline>, EngineError> {
        let version = pipeline.active_version.ok_or_else(|| {
            EngineError::InvalidRequest(format!("pipeline \"{}\" has never been activated", pipeline.id))
        })?;
        let cache_key = (pipeline.id.clone(), version);
        if let Some(found) = self.lock_cache().get(&cache_key).cloned() {
            return Ok(found);
        }
        let record: Stored<DefinitionRecord> = records::get(self.store, &keys::definition(&pipeline.id, version))
            .await?
            .ok_or_else(|| {
                EngineError::InvalidRequest(format!(
                    "pipeline \"{}\" has no definition version {version}",
                    pipeline.id
                ))
            })?;
        let compiled = Arc::new(self.compile_stored(pipeline, version, record.record.definition).await?);
        self.lock_cache().insert(cache_key, compiled.clone());
        Ok(compiled)
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, Lru<(String, u32), Arc<CompiledPipeline>>> {
        self.compiled.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The worker group an instance's attempts go to (see `CompiledPipeline::worker_group`),
    /// or the simulated resources' group for work that runs on a resource.
    fn worker_group(
        &self,
        compiled: &CompiledPipeline,
        spec: &compiled::ComponentSpec,
        start: NaiveDateTime,
    ) -> String {
        match &self.limits.simulated_resources {
            Some(group) if spec.runs_on.is_some() => group.clone(),
            _ => compiled.worker_group(spec, start),
        }
    }

    /// Writes `writes` in as few transactions as DynamoDB allows, in order. A transaction
    /// refused (an instance a crashed step already made, a record another worker changed)
    /// is written again one write at a time, so each write that can still take effect does:
    /// a new instance that exists already must not hold back its component's cursor.
    async fn write_together(&self, writes: Vec<Write>, report: &mut StepReport) -> Result<(), EngineError> {
        let mut writes = writes.into_iter().peekable();
        while writes.peek().is_some() {
            let chunk: Vec<Write> = writes.by_ref().take(crate::store::MAX_TRANSACTION_WRITES).collect();
            let count = chunk.len();
            if count > 1 && self.store.transact(chunk.clone()).await? {
                report.changed += count;
                continue;
            }
            for write in chunk {
                report.wrote(self.store.write(write).await?);
            }
        }
        Ok(())
    }

    /// Due items of every shard of a stage's queue, earliest first within each shard.
    async fn due_items(&self, stage: &str) -> Result<Vec<Item>, EngineError> {
        let now = millis(self.now());
        let queues: Vec<String> = keys::queues(stage).collect();
        // The shards are read at once: one round trip, not one per shard.
        let pages = crate::concurrent::join_all(
            queues
                .iter()
                .map(|queue| self.store.due(queue, now, self.limits.batch))
                .collect(),
        )
        .await;
        let mut items = Vec::new();
        for page in pages {
            items.extend(page?);
        }
        Ok(items)
    }
}

/// The event record for one run of an instance, if the component has actions for it.
fn event_record(
    instance: &InstanceRecord,
    event: EventKind,
    actions: &[String],
    now: NaiveDateTime,
) -> Option<EventRecord> {
    (!actions.is_empty()).then(|| EventRecord {
        pipeline_id: instance.pipeline_id.clone(),
        component_id: instance.component_id.clone(),
        scheduled_start: instance.scheduled_start,
        run: instance.reruns,
        event,
        actions: actions.to_vec(),
        recorded_at: now,
        fired: false,
        claimed_until: None,
        done: Vec::new(),
        errors: Vec::new(),
        retries: 0,
    })
}

/// Applies an event to a record's status through the one transition function.
fn apply(status: Status, event: Event) -> Result<Status, EngineError> {
    transition(status, event).map_err(|refused| EngineError::InvalidRequest(refused.to_string()))
}

/// Reads the records behind items, skipping any that no longer parse (a corrupt record
/// must not stop the queue) but reporting each.
fn parse_all<T: Record>(items: &[Item], report: &mut StepReport) -> Vec<Stored<T>> {
    items
        .iter()
        .filter_map(|item| match Stored::from_item(item) {
            Ok(stored) => Some(stored),
            Err(error) => {
                report.corrupt.push(error.to_string());
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        cloud::probe::FakeProbe,
        definition::read_definition,
        engine::{
            clock::{ManualClock, SeededRandom},
            pipelines::ActivateOptions,
        },
        store::memory::MemoryStore,
        time::parse_datetime,
    };

    struct Ports {
        store: MemoryStore,
        clock: ManualClock,
        random: SeededRandom,
        probe: FakeProbe,
    }

    impl Ports {
        fn new() -> Self {
            Self {
                store: MemoryStore::new(),
                clock: ManualClock::new(parse_datetime("2026-01-01T00:00:00").unwrap()),
                random: SeededRandom::new(3),
                probe: FakeProbe::new(),
            }
        }

        fn engine(&self) -> Engine<'_, MemoryStore, FakeProbe> {
            Engine::new(&self.store, &self.clock, &self.random, &self.probe)
        }
    }

    async fn activated(engine: &Engine<'_, MemoryStore, FakeProbe>, id: &str) -> PipelineRecord {
        let text = r#"{"objects": [{"id": "Default", "scheduleType": "ondemand", "workerGroup": "wg"},
            {"id": "A", "type": "ShellCommandActivity", "command": "true"}]}"#;
        let definition = read_definition(text).unwrap().definition;
        engine.create_pipeline(id, id, id).await.unwrap();
        engine.put_definition(id, &definition).await.unwrap();
        engine.activate(id, &ActivateOptions::default()).await.unwrap();
        engine.pipeline(id).await.unwrap().record
    }

    #[tokio::test]
    async fn compiled_definitions_are_kept_for_the_most_recently_used_pipelines_only() {
        // Given one more activated pipeline than the engine keeps compiled
        let ports = Ports::new();
        let engine = ports.engine();
        let mut pipelines = Vec::new();
        for index in 0..=COMPILED_REMEMBERED {
            pipelines.push(activated(&engine, &format!("df-{index:04}")).await);
        }
        // When each is compiled in turn, the first used again before the last comes
        for (index, pipeline) in pipelines.iter().enumerate() {
            if index == COMPILED_REMEMBERED {
                engine.compiled(&pipelines[0]).await.unwrap();
            }
            engine.compiled(pipeline).await.unwrap();
            assert!(engine.lock_cache().len() <= COMPILED_REMEMBERED);
        }
        // Then the second, unused longest, was dropped, and the first is still there
        let cache = engine.lock_cache();
        assert_eq!(cache.len(), COMPILED_REMEMBERED);
        assert!(cache.contains(&("df-0000".to_owned(), 1)));
        assert!(!cache.contains(&("df-0001".to_owned(), 1)));
        assert!(cache.contains(&(format!("df-{COMPILED_REMEMBERED:04}"), 1)));
    }

    #[tokio::test]
    async fn worker_groups_polls_are_remembered_for_the_most_recently_polled_groups_only() {
        // Given an engine polled by one more worker group than it remembers, the first
        // group polling again before the last
        let ports = Ports::new();
        let engine = ports.engine();
        for index in 0..=WORKER_GROUPS_REMEMBERED {
            if index == WORKER_GROUPS_REMEMBERED {
                engine.poll_for_task("group-0", None).await.unwrap();
            }
            engine.poll_for_task(&format!("group-{index}"), None).await.unwrap();
            assert!(engine.polls_noted.lock().unwrap().len() <= WORKER_GROUPS_REMEMBERED);
        }
        // Then the second group, polled longest ago, is the one forgotten
        assert!(engine.poll_noted("group-0").is_some());
        assert!(engine.poll_noted("group-1").is_none());
        assert!(
            engine
                .poll_noted(&format!("group-{WORKER_GROUPS_REMEMBERED}"))
                .is_some()
        );
        assert_eq!(engine.polls_noted.lock().unwrap().len(), WORKER_GROUPS_REMEMBERED);
    }

    #[test]
    fn tasks_handed_out_are_remembered_for_the_most_recently_used_only() {
        let ports = Ports::new();
        let engine = ports.engine();
        let task = |index: usize| TaskRecord {
            task_id: format!("task-{index}"),
            worker_group: "wg".into(),
            claimed_at: parse_datetime("2026-01-01T00:00:00").unwrap(),
            attempt_pk: "PIPELINE#df-1".into(),
            attempt_sk: format!("ATT#A#2026-01-01T00:00:00#{index:04}"),
        };
        // Given one more task handed out than the engine remembers, the first reported on
        // before the last is handed out
        for index in 0..=TASKS_REMEMBERED {
            if index == TASKS_REMEMBERED {
                assert!(engine.task_given("task-0").is_some());
            }
            engine.remember_task(&task(index));
            assert!(engine.tasks_given.lock().unwrap().len() <= TASKS_REMEMBERED);
        }
        // Then the second is forgotten, the first and the last are not
        assert_eq!(engine.task_given("task-0"), Some(task(0)));
        assert!(engine.task_given("task-1").is_none());
        assert!(engine.task_given(&format!("task-{TASKS_REMEMBERED}")).is_some());
    }
}
