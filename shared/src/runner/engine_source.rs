//! The engine itself as a task source, for `sluice dev` and tests: PollForTask,
//! ReportTaskProgress and SetTaskStatus as direct calls.
//!
//! The engine's `TaskAssignment` carries the object's own fields only; the data nodes of
//! `input` and `output` (needed for staging) are evaluated here from the pipeline's active
//! definition, as PollForTask's `objects` map would give them. The values of the secret
//! parameters the task's fields hold come along as `*` fields of an object named after
//! the attempt, so that the runner masks them ([`super::redact`]).

use std::sync::{Arc, Mutex};

use super::{ObjectFields, SourceError, Task, TaskKind, TaskOutcome, TaskSource};
use crate::{
    cloud::probe::Probe,
    definition::{context::Runtime, parameters::ParameterValues},
    engine::{Engine, compiled::CompiledPipeline, operator::parse_instance_id, tasks::TaskAssignment},
    lru::Lru,
    store::{
        RunStore, keys,
        records::{self, AttemptKind, DefinitionRecord, ErrorDetails, InstanceRecord, PipelineRecord},
    },
};

/// Tasks straight from an engine.
pub struct EngineTaskSource<'e, 'a, S, P> {
    engine: &'e Engine<'a, S, P>,
    /// The definitions of the pipelines whose tasks it ran lately, compiled.
    compiled: Mutex<Lru<(String, u32), Arc<CompiledPipeline>>>,
}

/// How many compiled definitions a task source keeps: a runner works for few pipelines at a
/// time, and one it dropped is compiled again at its next task.
pub const COMPILED_REMEMBERED: usize = 16;

/// The fields whose objects come with a task.
const REFERENCES: &[&str] = &["input", "output", "database", "dataFormat"];

impl<'e, 'a, S: RunStore, P: Probe> EngineTaskSource<'e, 'a, S, P> {
    pub fn new(engine: &'e Engine<'a, S, P>) -> Self {
        Self {
            engine,
            compiled: Mutex::new(Lru::new(COMPILED_REMEMBERED)),
        }
    }

    /// The evaluated fields of the objects the activity's work needs (its `input`,
    /// `output` and `database`, and what those name in turn); those that cannot be read
    /// are left out (the work then says which is missing).
    async fn referenced(&self, assignment: &TaskAssignment, compiled: &CompiledPipeline) -> Vec<ObjectFields> {
        if assignment.kind != AttemptKind::Activity {
            return Vec::new();
        }
        let ids: Vec<String> = assignment
            .fields
            .iter()
            .filter(|(key, _)| REFERENCES.contains(&key.as_str()))
            .map(|(_, id)| id.clone())
            .collect();
        if ids.is_empty() {
            return Vec::new();
        }
        let Some(runtime) = self.runtime(assignment).await else {
            return Vec::new();
        };
        // The objects those name in turn (a data node's database and format), once each.
        let mut pending = ids;
        let mut objects: Vec<ObjectFields> = Vec::new();
        while let Some(id) = pending.pop() {
            if objects.iter().any(|object| object.id == id) {
                continue;
            }
            let fields = compiled.evaluated_fields(&id, &runtime, None);
            if fields.is_empty() {
                continue;
            }
            pending.extend(
                fields
                    .iter()
                    .filter(|(key, _)| REFERENCES.contains(&key.as_str()))
                    .map(|(_, id)| id.clone()),
            );
            objects.push(ObjectFields { id, fields });
        }
        objects
    }

    /// The times of the run the assignment belongs to.
    async fn runtime(&self, assignment: &TaskAssignment) -> Option<Runtime> {
        let (component, start) = parse_instance_id(&assignment.instance_id).ok()?;
        let key = keys::instance(&assignment.pipeline_id, &component, start);
        let instance = records::get::<InstanceRecord, _>(self.engine.store, &key)
            .await
            .ok()??
            .record;
        Some(Runtime::scheduled(
            instance.scheduled_start,
            Some(instance.scheduled_end),
        ))
    }

    /// The active definition of the assignment's pipeline, compiled (once per version).
    async fn compiled(&self, assignment: &TaskAssignment) -> Option<Arc<CompiledPipeline>> {
        let store = self.engine.store;
        let pipeline = records::get::<PipelineRecord, _>(store, &keys::pipeline(&assignment.pipeline_id))
            .await
            .ok()??
            .record;
        let version = pipeline.active_version?;
        let cache_key = (pipeline.id.clone(), version);
        let cached = self.lock().get(&cache_key).cloned();
        if let Some(compiled) = cached {
            return Some(compiled);
        }
        let record = records::get::<DefinitionRecord, _>(store, &keys::definition(&pipeline.id, version))
            .await
            .ok()??
            .record;
        let compiled = Arc::new(
            self.engine
                .compile_stored(&pipeline, version, record.definition)
                .await
                .ok()?,
        );
        self.lock().insert(cache_key, compiled.clone());
        Some(compiled)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru<(String, u32), Arc<CompiledPipeline>>> {
        self.compiled.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Adds to `task` the values of the secret parameters its fields hold, as `*<id>` fields
/// of an object named after the attempt: how a runner learns what to mask. Values no field
/// holds stay out.
pub fn with_secret_parameters(task: &mut Task, parameters: &ParameterValues) {
    let held = |value: &str| {
        std::iter::once(&task.object)
            .chain(&task.referenced)
            .flat_map(|object| &object.fields)
            .any(|(_, field)| field.contains(value))
    };
    let fields: Vec<(String, String)> = parameters
        .ids()
        .filter(|id| parameters.is_secret(id))
        .flat_map(|id| {
            let key = format!("*{}", id.trim_start_matches('*'));
            parameters
                .strings(id)
                .unwrap_or_default()
                .iter()
                .filter(|value| !value.is_empty() && held(value))
                .map(move |value| (key.clone(), value.clone()))
        })
        .collect();
    if !fields.is_empty() {
        task.referenced.push(ObjectFields {
            id: task.attempt_id.clone(),
            fields,
        });
    }
}

/// A task from the engine's assignment and the referenced objects.
pub fn task_from_assignment(assignment: TaskAssignment, referenced: Vec<ObjectFields>) -> Task {
    let kind = match assignment.kind {
        AttemptKind::Activity | AttemptKind::Resource => TaskKind::Activity,
        AttemptKind::Precondition { .. } => TaskKind::Precondition,
    };
    let type_name = assignment
        .fields
        .iter()
        .find(|(key, _)| key == "type")
        .map(|(_, value)| value.clone())
        .unwrap_or_default();
    Task {
        task_id: assignment.task_id,
        pipeline_id: assignment.pipeline_id,
        attempt_id: assignment.attempt_id,
        object_id: assignment.object_id.clone(),
        kind,
        type_name,
        object: ObjectFields {
            id: assignment.object_id,
            fields: assignment.fields,
        },
        referenced,
    }
}

fn source_error(operation: &'static str, error: impl std::fmt::Display) -> SourceError {
    SourceError {
        operation,
        message: error.to_string(),
    }
}

impl<S: RunStore, P: Probe> TaskSource for EngineTaskSource<'_, '_, S, P> {
    async fn poll(&self, worker_group: &str, hostname: &str) -> Result<Option<Task>, SourceError> {
        let Some(assignment) = self
            .engine
            .poll_for_task(worker_group, Some(hostname))
            .await
            .map_err(|error| source_error("PollForTask", error))?
        else {
            return Ok(None);
        };
        let compiled = self.compiled(&assignment).await;
        let referenced = match &compiled {
            Some(compiled) => self.referenced(&assignment, compiled).await,
            None => Vec::new(),
        };
        let mut task = task_from_assignment(assignment, referenced);
        if let Some(compiled) = &compiled {
            with_secret_parameters(&mut task, &compiled.parameters);
        }
        Ok(Some(task))
    }

    async fn progress(&self, task_id: &str) -> Result<bool, SourceError> {
        self.engine
            .report_task_progress(task_id, None)
            .await
            .map_err(|error| source_error("ReportTaskProgress", error))
    }

    async fn heartbeat(&self, taskrunner_id: &str, worker_group: &str, hostname: &str) -> Result<bool, SourceError> {
        self.engine
            .report_task_runner_heartbeat(taskrunner_id, Some(worker_group), Some(hostname))
            .await
            .map_err(|error| source_error("ReportTaskRunnerHeartbeat", error))
    }

    async fn finish(&self, task_id: &str, outcome: TaskOutcome) -> Result<(), SourceError> {
        let error = ErrorDetails {
            error_id: outcome.error_id,
            error_message: outcome.error_message,
            error_stack_trace: outcome.error_stack_trace,
        };
        self.engine
            .set_task_status(task_id, None, outcome.status, error)
            .await
            .map_err(|error| source_error("SetTaskStatus", error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        cloud::probe::FakeProbe,
        definition::read_definition,
        engine::clock::{Clock, ManualClock, SeededRandom},
        store::memory::MemoryStore,
        time::parse_datetime,
    };

    #[test]
    fn compiled_definitions_are_kept_for_the_most_recently_used_pipelines_only() {
        // Given a task source and a compiled definition
        let (store, probe) = (MemoryStore::new(), FakeProbe::new());
        let clock = ManualClock::new(parse_datetime("2026-01-01T00:00:00").unwrap());
        let random = SeededRandom::new(1);
        let engine = Engine::new(&store, &clock, &random, &probe);
        let source = EngineTaskSource::new(&engine);
        let text = r#"{"objects": [{"id": "A", "type": "ShellCommandActivity", "command": "true",
            "scheduleType": "ondemand", "workerGroup": "wg"}]}"#;
        let definition = read_definition(text).unwrap().definition;
        let compiled = Arc::new(CompiledPipeline::compile("df-1", 1, definition, &[], clock.now()).unwrap());
        // When one more pipeline's is kept than it holds, the first used again before the last
        for index in 0..=COMPILED_REMEMBERED {
            if index == COMPILED_REMEMBERED {
                assert!(source.lock().get(&("df-0".to_owned(), 1)).is_some());
            }
            source.lock().insert((format!("df-{index}"), 1), compiled.clone());
            assert!(source.lock().len() <= COMPILED_REMEMBERED);
        }
        // Then the second, used longest ago, is the one dropped
        let cache = source.lock();
        assert!(cache.contains(&("df-0".to_owned(), 1)));
        assert!(!cache.contains(&("df-1".to_owned(), 1)));
        assert_eq!(cache.len(), COMPILED_REMEMBERED);
    }
}
