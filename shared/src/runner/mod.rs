//! The Sluice Task Runner (`sluice runner`): polls a worker group for tasks, runs
//! `ShellCommandActivity` and `ShellCommandPrecondition` as local processes, reports progress
//! while they run and their outcome at the end (reference §6.3).
//!
//! The logic is independent of transport: a [`TaskSource`] hands out tasks (the engine
//! directly, [`EngineTaskSource`], or the Data Pipeline API over HTTP in the CLI), and a
//! [`Storage`] moves files to and from S3 (scripts, staging, logs).

pub mod copy;
pub mod dynamodb_copy;
pub mod engine_source;
pub mod executor;
pub mod logs;
pub mod redact;
pub mod run_loop;
pub mod serverless;
pub mod sql;
pub mod storage;

use std::future::Future;

pub use self::{
    engine_source::EngineTaskSource,
    executor::{Ended, Executor, ExecutorSettings, Stop},
    redact::Secrets,
    run_loop::{RunSettings, RunSummary, run},
    storage::{AwsStorage, Encryption, Storage, StorageError, TransferLimits},
};
pub use crate::engine::tasks::TaskStatus;

/// The error id of a task handed back because its runner stopped: the attempt fails and is
/// retried like any failed attempt, at once rather than after its lease lapses.
pub const RUNNER_STOPPED: &str = "Sluice.RunnerStopped";

/// Whether a task runs an activity or checks a precondition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    Activity,
    /// A precondition check: exit 0 means true (FINISHED), anything else false (FALSE).
    Precondition,
}

/// The evaluated fields of one object, multi-valued fields kept in order, one pair per value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectFields {
    pub id: String,
    pub fields: Vec<(String, String)>,
}

impl ObjectFields {
    /// The first value of `key`.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    /// Every value of `key`, in order.
    pub fn values(&self, key: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
            .collect()
    }
}

/// What a runner needs to do one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub task_id: String,
    pub pipeline_id: String,
    /// `@<component>_<scheduledStart>_Attempt=<n>`.
    pub attempt_id: String,
    /// The object whose work this is: the activity, or the precondition to check.
    pub object_id: String,
    pub kind: TaskKind,
    /// The object's `type`, such as `ShellCommandActivity`.
    pub type_name: String,
    /// The object's own fields, evaluated for this run (references give the referenced id).
    pub object: ObjectFields,
    /// Referenced objects the task needs (the data nodes of `input` and `output`), as
    /// PollForTask's `objects` map gives them. Missing ones make staging fail, not panic.
    pub referenced: Vec<ObjectFields>,
}

impl Task {
    pub fn field(&self, key: &str) -> Option<&str> {
        self.object.field(key)
    }

    pub fn values(&self, key: &str) -> Vec<&str> {
        self.object.values(key)
    }

    /// A referenced object by id.
    pub fn referenced(&self, id: &str) -> Option<&ObjectFields> {
        self.referenced.iter().find(|object| object.id == id)
    }
}

/// What a runner reports at the end of a task (SetTaskStatus).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskOutcome {
    pub status: TaskStatus,
    pub error_id: Option<String>,
    pub error_message: Option<String>,
    pub error_stack_trace: Option<String>,
}

impl TaskOutcome {
    pub fn finished() -> Self {
        Self {
            status: TaskStatus::Finished,
            error_id: None,
            error_message: None,
            error_stack_trace: None,
        }
    }

    /// A failure (or a false precondition) with its id and a message that is never empty.
    pub fn failed(status: TaskStatus, error_id: &str, message: String) -> Self {
        Self {
            status,
            error_id: Some(error_id.to_owned()),
            error_message: Some(message),
            error_stack_trace: None,
        }
    }
}

/// A call to the task source that did not go through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed: {message}")]
pub struct SourceError {
    /// `PollForTask`, `ReportTaskProgress` or `SetTaskStatus`.
    pub operation: &'static str,
    pub message: String,
}

/// Where tasks come from and where their progress and outcome go (reference §6.3).
pub trait TaskSource: Send + Sync {
    /// PollForTask: the next task of `worker_group`, or nothing.
    fn poll(
        &self,
        worker_group: &str,
        hostname: &str,
    ) -> impl Future<Output = Result<Option<Task>, SourceError>> + Send;

    /// ReportTaskProgress: `Ok(true)` when the task was canceled and must stop.
    fn progress(&self, task_id: &str) -> impl Future<Output = Result<bool, SourceError>> + Send;

    /// SetTaskStatus.
    fn finish(&self, task_id: &str, outcome: TaskOutcome) -> impl Future<Output = Result<(), SourceError>> + Send;

    /// ReportTaskRunnerHeartbeat: `Ok(true)` when the runner must terminate.
    fn heartbeat(
        &self,
        taskrunner_id: &str,
        worker_group: &str,
        hostname: &str,
    ) -> impl Future<Output = Result<bool, SourceError>> + Send;
}
