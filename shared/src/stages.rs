//! The four stage functions' work, whatever woke them: the minute tick (EventBridge) or a
//! batch of status changes (DynamoDB Streams). Each runs its engine steps in bounded
//! batches while its time lasts, leaving the rest to the next call; the Lambda handlers
//! and `sluice dev` only say which stage, what woke it and how much time is left.
//!
//! | stage | on a tick | on changes |
//! | --- | --- | --- |
//! | `scheduler` | schedule, reap, watch (lateness), purge (deleted pipelines' records) | the same: an activation or a rerun shows up as a change |
//! | `preconditions` | dependencies and system preconditions | the consumers of each instance that ended, and each new instance |
//! | `activities` | activities that name no runner | the same |
//! | `actions` | SnsAlarm and Terminate | the same |

use std::fmt;

use crate::{
    cloud::{compute::Compute, notify::Notifier, probe::Probe},
    engine::{
        Engine, EngineError, Status, StepReport,
        compiled::SERVERLESS_WORKER_GROUP,
        resources::Boot,
        wake::{Change, ChangeKind},
    },
    runner::{Storage, serverless::serverless_step},
    store::{RunStore, keys},
};

/// A stage function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Scheduler,
    Preconditions,
    Resources,
    Activities,
    Actions,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::Scheduler,
        Stage::Preconditions,
        Stage::Resources,
        Stage::Activities,
        Stage::Actions,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Scheduler => "scheduler",
            Self::Preconditions => "preconditions",
            Self::Resources => "resources",
            Self::Activities => "activities",
            Self::Actions => "actions",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What woke a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// The minute schedule.
    Tick,
    /// A batch of changes to run records.
    Changes(Vec<Change>),
}

impl Stage {
    /// Whether any of `changes` can give this stage work: a batch that concerns it wakes
    /// it, one that does not is acknowledged at once (in AWS, the event-source mapping's
    /// filter does the same before the function is even called).
    pub fn concerned_by(self, changes: &[Change]) -> bool {
        changes.iter().any(|change| {
            let sk = change.key.sk.as_str();
            let status_changed = change.old_status != change.new_status;
            match self {
                // An activation, a deactivation, a rerun: the pipeline's record changed.
                Stage::Scheduler => sk == "META" && status_changed,
                // An instance created, or one that ended (its consumers may start).
                Stage::Preconditions => sk.starts_with("INST#") && status_changed,
                // A resource attempt in the resources queue: asking for a machine, or
                // nudged. (Every other attempt change, a task's claim or end, is not its
                // business: waking it for those cost a chain of tasks a queue read a step.)
                Stage::Resources => {
                    sk.starts_with(keys::ATTEMPT_PREFIX)
                        && change.kind != ChangeKind::Remove
                        && change
                            .new_queue
                            .as_deref()
                            .is_some_and(|queue| queue.starts_with(&format!("{}#", keys::stages::RESOURCES)))
                }
                // A new attempt for an activity that names no runner (a record that does
                // not show its queue may be one).
                Stage::Activities => {
                    sk.starts_with(keys::ATTEMPT_PREFIX)
                        && change.kind == ChangeKind::Insert
                        && change
                            .new_queue
                            .as_deref()
                            .is_none_or(|queue| queue == keys::runner_queue(SERVERLESS_WORKER_GROUP))
                }
                // A success, failure or lateness recorded, or a retry rescheduled.
                Stage::Actions => sk.starts_with("EVENT#") && change.kind != ChangeKind::Remove,
            }
        })
    }
}

/// How many attempts the changes handed back to the runners (a task whose runner stopped
/// or lost its lease waits for one again): how many of a local runner's idle workers are
/// worth waking for them. New attempts are not counted: the stage that made them wakes a
/// worker as it makes them, and by the time the stream shows them they are taken.
pub fn tasks_handed_back(changes: &[Change]) -> usize {
    let waiting = Status::WaitingForRunner.as_str();
    changes
        .iter()
        .filter(|change| {
            keys::is_attempt(&change.key.sk)
                && change.kind == ChangeKind::Modify
                && change.new_status.as_deref() == Some(waiting)
                && change.old_status.as_deref() != Some(waiting)
        })
        .count()
}

/// What the stage does besides the engine: publish alarms, copy objects, launch machines.
pub struct Ports<'p, N, St, C> {
    pub notifier: &'p N,
    pub storage: &'p St,
    pub compute: &'p C,
    /// What launched machines need to become runners.
    pub boot: &'p Boot,
}

/// Steps repeated at most this often per call: each step takes a bounded batch.
const MAX_ROUNDS: usize = 50;

/// One engine step a stage runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Schedule,
    Reap,
    Watch,
    Dependencies,
    Resources,
    Sweep,
    Actions,
    Purge,
}

impl Stage {
    /// The steps `trigger` has this stage run, in order, round after round.
    fn steps(self, trigger: &Trigger) -> &'static [Step] {
        let tick = matches!(trigger, Trigger::Tick);
        match self {
            // A pipeline's record changed: its schedule may have new instances. Leases and
            // lateness are matters of time, for the tick.
            Stage::Scheduler if tick => &[Step::Schedule, Step::Reap, Step::Watch, Step::Purge],
            Stage::Scheduler => &[Step::Schedule],
            Stage::Preconditions => &[Step::Dependencies],
            // The tick also sweeps: nothing of Sluice's runs that its records disown.
            Stage::Resources if tick => &[Step::Resources, Step::Sweep],
            Stage::Resources => &[Step::Resources],
            Stage::Actions => &[Step::Actions],
            Stage::Activities => &[],
        }
    }
}

async fn run_step<S, P, N, St, C>(
    engine: &Engine<'_, S, P>,
    step: Step,
    ports: &Ports<'_, N, St, C>,
) -> Result<StepReport, EngineError>
where
    S: RunStore,
    P: Probe,
    N: Notifier,
    St: Storage,
    C: Compute,
{
    match step {
        Step::Schedule => engine.schedule_step().await,
        Step::Reap => engine.reap_step().await,
        Step::Watch => engine.watch_step().await,
        Step::Dependencies => engine.dependencies_step().await,
        Step::Resources => engine.resources_step(ports.compute, ports.boot).await,
        // What the sweep ended is not a reason for another round.
        Step::Sweep => engine.sweep_step(ports.compute).await.map(|swept| StepReport {
            problems: swept.problems,
            ..StepReport::default()
        }),
        Step::Actions => engine.actions_step(ports.notifier).await,
        Step::Purge => engine.purge_step().await,
    }
}

/// The error a stage returns when some of its steps failed: the first that retrying can
/// fix (the caller retries, and the others' work is idempotent), else the first.
fn first_failure(failures: Vec<EngineError>) -> Option<EngineError> {
    let retryable = failures.iter().position(EngineError::is_retryable);
    failures.into_iter().nth(retryable.unwrap_or(0))
}

/// Runs `stage` for `trigger` while `has_time()` allows another round. A step that fails
/// holds up none of the others (a pipeline that cannot be scheduled stops no reaping): it
/// sits out the call's later rounds, the others go on, and its error is returned once they
/// are done (the first that retrying can fix, else the first). The report lists what was
/// skipped and why.
pub async fn run_stage<S, P, N, St, C>(
    engine: &Engine<'_, S, P>,
    stage: Stage,
    trigger: &Trigger,
    ports: &Ports<'_, N, St, C>,
    has_time: impl Fn() -> bool,
) -> Result<StepReport, EngineError>
where
    S: RunStore,
    P: Probe,
    N: Notifier,
    St: Storage,
    C: Compute,
{
    let mut report = StepReport::default();
    if let Trigger::Changes(changes) = trigger {
        if !stage.concerned_by(changes) {
            return Ok(report);
        }
        // A status change wakes exactly what it concerns; the tick does the full pass.
        if stage == Stage::Preconditions {
            let mut failures = Vec::new();
            for woken in [
                engine.wake_consumers(changes).await,
                engine.check_new_instances(changes).await,
            ] {
                match woken {
                    Ok(done) => report.add(done),
                    Err(error) => failures.push(error),
                }
            }
            return first_failure(failures).map_or(Ok(report), Err);
        }
    }
    if stage == Stage::Activities {
        // Boxed: the copy's future is deep, and the functions' own futures nest it further.
        let done = Box::pin(serverless_step(engine, ports.storage, &has_time)).await;
        report.examined += done.finished + done.failed;
        report.changed += done.finished + done.failed;
        report.problems.extend(done.problems);
        return Ok(report);
    }
    let steps = stage.steps(trigger);
    let mut failed: Vec<Step> = Vec::new();
    let mut failures = Vec::new();
    for _ in 0..MAX_ROUNDS {
        if !has_time() {
            break;
        }
        let mut round = StepReport::default();
        for &step in steps {
            if failed.contains(&step) {
                continue;
            }
            match run_step(engine, step, ports).await {
                Ok(done) => round.add(done),
                Err(error) => {
                    failed.push(step);
                    failures.push(error);
                }
            }
        }
        // A round that changed nothing found no more due work that it could do now.
        let more = round.changed > 0;
        report.add(round);
        if !more {
            break;
        }
    }
    first_failure(failures).map_or(Ok(report), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Key;

    fn change(kind: ChangeKind, sk: &str, old: Option<&str>, new: Option<&str>) -> Change {
        Change {
            kind,
            key: Key::new("PIPELINE#df-1", sk),
            old_status: old.map(str::to_owned),
            new_status: new.map(str::to_owned),
            new_queue: None,
        }
    }

    #[test]
    fn a_stage_whose_steps_failed_returns_the_first_error_retrying_can_fix() {
        use crate::store::StoreError;
        let refused = || EngineError::InvalidRequest("refused".into());
        let throttled = |queue: &str| EngineError::Store(StoreError::Unavailable(format!("{queue} throttled")));
        // Given a step refused for good before two that retrying can fix, the first of those
        let chosen = first_failure(vec![refused(), throttled("reap"), throttled("watch")]);
        assert_eq!(
            chosen.map(|error| error.to_string()),
            Some(throttled("reap").to_string())
        );
        // Given none that retrying can fix, the first
        let chosen = first_failure(vec![refused(), EngineError::InvalidRequest("second".into())]);
        assert_eq!(chosen.map(|error| error.to_string()), Some("refused".to_owned()));
        assert!(first_failure(Vec::new()).is_none());
    }

    #[test]
    fn only_attempts_handed_back_to_the_runners_are_offered_tasks() {
        let attempt = "ATT#Step#2026-01-01T00:00:00#0001";
        let changes = [
            // An activity's attempt and a precondition's check handed back: two tasks
            change(ChangeKind::Modify, attempt, Some("RUNNING"), Some("WAITING_FOR_RUNNER")),
            change(
                ChangeKind::Modify,
                "PRECHECK#Step#2026-01-01T00:00:00#Ready#0001",
                Some("RUNNING"),
                Some("WAITING_FOR_RUNNER"),
            ),
            // Not counted: a new attempt (its stage woke a worker), a progress report on a
            // waiting attempt, a claim, an instance, a removal
            change(ChangeKind::Insert, attempt, None, Some("WAITING_FOR_RUNNER")),
            change(
                ChangeKind::Modify,
                attempt,
                Some("WAITING_FOR_RUNNER"),
                Some("WAITING_FOR_RUNNER"),
            ),
            change(ChangeKind::Modify, attempt, Some("WAITING_FOR_RUNNER"), Some("RUNNING")),
            change(
                ChangeKind::Insert,
                "INST#Step#2026-01-01T00:00:00",
                None,
                Some("WAITING_FOR_RUNNER"),
            ),
            change(ChangeKind::Remove, attempt, Some("WAITING_FOR_RUNNER"), None),
        ];
        assert_eq!(tasks_handed_back(&changes), 2);
        assert_eq!(tasks_handed_back(&[]), 0);
    }

    #[test]
    fn the_activities_stage_wakes_only_for_attempts_queued_for_the_lambda_itself() {
        let attempt = "ATT#Step#2026-01-01T00:00:00#0001";
        let queued = |queue: Option<&str>| Change {
            new_queue: queue.map(str::to_owned),
            ..change(ChangeKind::Insert, attempt, None, Some("WAITING_FOR_RUNNER"))
        };
        // An attempt for a runner's worker group is the runner's to take
        assert!(!Stage::Activities.concerned_by(&[queued(Some(&keys::runner_queue("local")))]));
        // One queued for the Lambda, or one whose stream record does not show its queue, wakes it
        assert!(Stage::Activities.concerned_by(&[queued(Some(&keys::runner_queue(SERVERLESS_WORKER_GROUP)))]));
        assert!(Stage::Activities.concerned_by(&[queued(None)]));
        // A claim or an end is not new work
        let claimed = change(ChangeKind::Modify, attempt, Some("WAITING_FOR_RUNNER"), Some("RUNNING"));
        assert!(!Stage::Activities.concerned_by(std::slice::from_ref(&claimed)));
        // Nor the resources stage's: only attempts in its queue are
        assert!(!Stage::Resources.concerned_by(&[claimed]));
        let ended = change(ChangeKind::Modify, attempt, Some("RUNNING"), Some("FINISHED"));
        assert!(!Stage::Resources.concerned_by(&[ended]));
        let launch = Change {
            new_queue: Some(keys::queue(keys::stages::RESOURCES, "df-1")),
            ..change(
                ChangeKind::Insert,
                "ATT#Box#2026-01-01T00:00:00#0001",
                None,
                Some("CREATING"),
            )
        };
        assert!(Stage::Resources.concerned_by(&[launch]));
    }
}
