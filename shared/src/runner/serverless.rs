//! The activities stage: runs, inside the `activities` function, the activities whose
//! definition names no runner (no `runsOn`, no `workerGroup`: a Sluice extension that
//! `validate` warns about): `CopyActivity` (between S3, SQL and DynamoDB data nodes),
//! `SqlActivity` and `RedshiftCopyActivity`; any other activity there fails at once with an error that says which runner to give it, instead of
//! waiting for a runner that will never come.

use std::time::Duration;

use tokio::sync::watch;

use super::{EngineTaskSource, Executor, Storage, TaskOutcome, TaskSource, TaskStatus, executor::Ended};
use crate::{
    cloud::probe::Probe,
    engine::{Engine, compiled::SERVERLESS_WORKER_GROUP},
    store::RunStore,
};

/// The activities the `activities` function runs itself when they name no runner.
pub const SERVERLESS_TYPES: &[&str] = &["CopyActivity", "SqlActivity", "RedshiftCopyActivity"];

/// The error id of an activity that needs a runner but names none.
pub const NEEDS_RUNNER: &str = "Sluice.NeedsRunner";

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerlessReport {
    pub finished: usize,
    pub failed: usize,
    /// Calls that failed, with why: logged by the function.
    pub problems: Vec<String>,
}

/// Runs due serverless tasks one after another while `has_time` says there is time for
/// another; the rest waits for the next call.
pub async fn serverless_step<S, P, St>(
    engine: &Engine<'_, S, P>,
    storage: &St,
    has_time: impl Fn() -> bool,
) -> ServerlessReport
where
    S: RunStore,
    P: Probe,
    St: Storage,
{
    let source = EngineTaskSource::new(engine);
    let executor = Executor::new(storage, super::ExecutorSettings::default());
    let mut report = ServerlessReport::default();
    while has_time() {
        let task = match source.poll(SERVERLESS_WORKER_GROUP, "sluice-activities").await {
            Ok(Some(task)) => task,
            Ok(None) => break,
            Err(error) => {
                report.problems.push(error.to_string());
                break;
            }
        };
        // Acknowledge at once: the task is ours (AWS: within 2 minutes).
        match source.progress(&task.task_id).await {
            Ok(false) => {}
            Ok(true) => continue,
            Err(error) => {
                report.problems.push(error.to_string());
                continue;
            }
        }
        let outcome = if SERVERLESS_TYPES.contains(&task.type_name.as_str()) {
            let (_keep, stop) = watch::channel(None);
            match executor.execute(&task, stop).await.ended {
                Ended::Outcome(outcome) => outcome,
                Ended::Stopped(_) => continue,
            }
        } else {
            TaskOutcome::failed(
                TaskStatus::Failed,
                NEEDS_RUNNER,
                format!(
                    "{} \"{}\" needs a machine to run on: give it a workerGroup (and start `sluice runner \
                     --worker-group NAME`) or a runsOn resource; without either, Sluice runs only CopyActivity, \
                     SqlActivity and RedshiftCopyActivity itself",
                    if task.type_name.is_empty() {
                        "object"
                    } else {
                        &task.type_name
                    },
                    task.object_id
                ),
            )
        };
        if outcome.status == TaskStatus::Finished {
            report.finished += 1;
        } else {
            report.failed += 1;
        }
        if let Err(error) = source.finish(&task.task_id, outcome).await {
            report.problems.push(error.to_string());
        }
    }
    report
}

/// A `has_time` for a deadline `budget` from now, keeping `margin` for the last task.
pub fn until(budget: Duration, margin: Duration) -> impl Fn() -> bool {
    let deadline = std::time::Instant::now() + budget.saturating_sub(margin);
    move || std::time::Instant::now() < deadline
}
