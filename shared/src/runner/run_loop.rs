//! The runner's loop: poll (backing off while idle), run tasks one at a time per worker
//! (`tasks` workers at once), report progress while a task runs and stop it when it is
//! canceled, and on shutdown stop the running command and hand its task back.
//!
//! Handing back means reporting FAILED with error id [`RUNNER_STOPPED`]: the attempt is
//! retried (as AWS retries a failed attempt) at once, instead of after its lease lapses,
//! which would wait up to `reportProgressTimeout` (15 minutes by default) and say nothing
//! about why.

use std::{future::Future, time::Duration};

use tokio::sync::watch;

use super::{
    Ended, Executor, RUNNER_STOPPED, Stop, Storage, Task, TaskOutcome, TaskSource, TaskStatus, executor::Execution,
};

/// What the loop needs to know; intervals are settings so that tests run in milliseconds.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub worker_group: String,
    pub hostname: String,
    /// Tasks run at once (AWS's `--tasks`); at least one.
    pub tasks: usize,
    /// The first wait after an empty poll, doubled on each further empty poll…
    pub idle_min: Duration,
    /// …up to this.
    pub idle_max: Duration,
    /// Between two progress reports of a running task (AWS suggests 60 s).
    pub progress_every: Duration,
    /// The runner's id in ReportTaskRunnerHeartbeat, unique per account.
    pub taskrunner_id: String,
    /// Between two heartbeats (AWS's Task Runner: 15 minutes); the first is at start.
    pub heartbeat_every: Duration,
    /// Ends an idle wait early: `sluice dev` pulls it when a status change may have made
    /// work, so a chain does not wait out the back-off.
    pub wake: Option<std::sync::Arc<tokio::sync::Notify>>,
}

/// When the first progress report of a task is due, however rarely the later ones are:
/// half of the 2 minutes AWS gives a runner to acknowledge a polled task.
const ACKNOWLEDGE_WITHIN: Duration = Duration::from_secs(60);

/// Resolves when `wake` is pulled; never without one.
async fn woken(wake: Option<&tokio::sync::Notify>) {
    match wake {
        Some(wake) => wake.notified().await,
        None => std::future::pending().await,
    }
}

impl RunSettings {
    pub fn new(worker_group: &str, hostname: &str) -> Self {
        Self {
            worker_group: worker_group.to_owned(),
            hostname: hostname.to_owned(),
            tasks: 1,
            idle_min: Duration::from_secs(1),
            idle_max: Duration::from_secs(30),
            progress_every: Duration::from_secs(60),
            taskrunner_id: format!("{hostname}-{}", std::process::id()),
            heartbeat_every: Duration::from_secs(15 * 60),
            wake: None,
        }
    }
}

/// What the loop did until it stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub finished: usize,
    /// FAILED activities and FALSE preconditions.
    pub failed: usize,
    pub canceled: usize,
    /// Tasks reported back with [`RUNNER_STOPPED`] at shutdown.
    pub handed_back: usize,
    /// The service answered a heartbeat with `terminate` (the resource it served ended).
    pub terminated: bool,
    /// Calls to the task source that failed, and logs that could not be written, each
    /// also printed to stderr when it happened.
    pub problems: Vec<String>,
}

impl RunSummary {
    fn add(&mut self, other: RunSummary) {
        self.finished = self.finished.saturating_add(other.finished);
        self.failed = self.failed.saturating_add(other.failed);
        self.canceled = self.canceled.saturating_add(other.canceled);
        self.handed_back = self.handed_back.saturating_add(other.handed_back);
        self.terminated |= other.terminated;
        self.problems.extend(other.problems);
    }

    fn problem(&mut self, message: String) {
        eprintln!("sluice runner: {message}");
        // A long-running runner keeps the latest problems, not all of them.
        if self.problems.len() >= 100 {
            self.problems.remove(0);
        }
        self.problems.push(message);
    }
}

/// Runs until `shutdown` resolves or a heartbeat is answered with `terminate`, then stops
/// what runs, hands it back and returns.
pub async fn run<Src, St>(
    source: &Src,
    executor: &Executor<'_, St>,
    settings: &RunSettings,
    shutdown: impl Future<Output = ()>,
) -> RunSummary
where
    Src: TaskSource,
    St: Storage,
{
    let (stop_all, stopping) = watch::channel(false);
    let workers: Vec<_> = (0..settings.tasks.max(1))
        .map(|_| worker(source, executor, settings, stopping.clone()))
        .collect();
    let all = async {
        let mut summary = RunSummary::default();
        for done in crate::concurrent::join_all(workers).await {
            summary.add(done);
        }
        summary
    };
    let terminated = heartbeats(source, settings);
    tokio::pin!(all, shutdown, terminated);
    tokio::select! {
        summary = &mut all => summary,
        () = &mut shutdown => {
            let _ = stop_all.send(true);
            all.await
        }
        () = &mut terminated => {
            eprintln!("sluice runner: the service asked this runner to terminate (its resource has ended)");
            let _ = stop_all.send(true);
            let mut summary = all.await;
            summary.terminated = true;
            summary
        }
    }
}

/// Sends a heartbeat now and every `heartbeat_every`; resolves when one is answered
/// with `terminate`. A failed heartbeat is reported and tried again at the next beat.
async fn heartbeats<Src: TaskSource>(source: &Src, settings: &RunSettings) {
    loop {
        match source
            .heartbeat(&settings.taskrunner_id, &settings.worker_group, &settings.hostname)
            .await
        {
            Ok(true) => return,
            Ok(false) => {}
            Err(error) => eprintln!("sluice runner: {error}"),
        }
        tokio::time::sleep(settings.heartbeat_every.max(Duration::from_millis(1))).await;
    }
}

async fn worker<Src: TaskSource, St: Storage>(
    source: &Src,
    executor: &Executor<'_, St>,
    settings: &RunSettings,
    mut stopping: watch::Receiver<bool>,
) -> RunSummary {
    let mut summary = RunSummary::default();
    let mut idle = settings.idle_min;
    loop {
        if *stopping.borrow() {
            return summary;
        }
        let polled = tokio::select! {
            polled = source.poll(&settings.worker_group, &settings.hostname) => polled,
            _ = stopping.wait_for(|stop| *stop) => return summary,
        };
        match polled {
            Ok(Some(task)) => {
                idle = settings.idle_min;
                run_task(source, executor, settings, &task, &mut stopping, &mut summary).await;
                continue;
            }
            Ok(None) => {}
            Err(error) => summary.problem(error.to_string()),
        }
        tokio::select! {
            () = tokio::time::sleep(idle) => {}
            () = woken(settings.wake.as_deref()) => idle = settings.idle_min,
            _ = stopping.wait_for(|stop| *stop) => return summary,
        }
        idle = idle.saturating_mul(2).min(settings.idle_max).max(settings.idle_min);
    }
}

async fn run_task<Src: TaskSource, St: Storage>(
    source: &Src,
    executor: &Executor<'_, St>,
    settings: &RunSettings,
    task: &Task,
    stopping: &mut watch::Receiver<bool>,
    summary: &mut RunSummary,
) {
    // The task starts at once: the poll has claimed it, and the acknowledgement AWS asks
    // for within 2 minutes is the first progress tick (or the end, for a short task). A
    // report before starting cost a chain of quick tasks three requests a step.
    let (stop_task, stop) = watch::channel(None);
    let execution = executor.execute(task, stop);
    tokio::pin!(execution);
    let every = settings.progress_every.max(Duration::from_millis(1));
    let first = every.min(ACKNOWLEDGE_WITHIN);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + first, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut asked: Option<Stop> = None;
    let Execution { ended, warnings } = loop {
        tokio::select! {
            execution = &mut execution => break execution,
            _ = ticks.tick(), if asked.is_none() => match source.progress(&task.task_id).await {
                Ok(true) => {
                    asked = Some(Stop::Canceled);
                    let _ = stop_task.send(asked);
                }
                Ok(false) => {}
                Err(error) => summary.problem(error.to_string()),
            },
            _ = stopping.wait_for(|stop| *stop), if asked.is_none() => {
                asked = Some(Stop::Shutdown);
                let _ = stop_task.send(asked);
            }
        }
    };
    for warning in warnings {
        summary.problem(format!("task {} ({}): {warning}", task.task_id, task.attempt_id));
    }
    let outcome = match ended {
        Ended::Outcome(outcome) => {
            if outcome.status == TaskStatus::Finished {
                summary.finished = summary.finished.saturating_add(1);
            } else {
                summary.failed = summary.failed.saturating_add(1);
            }
            outcome
        }
        Ended::Stopped(Stop::Canceled) => {
            summary.canceled = summary.canceled.saturating_add(1);
            return;
        }
        Ended::Stopped(Stop::Shutdown) => {
            summary.handed_back = summary.handed_back.saturating_add(1);
            TaskOutcome::failed(
                TaskStatus::Failed,
                RUNNER_STOPPED,
                format!(
                    "the runner on {} stopped while the task ran; the attempt is retried like a failed one",
                    settings.hostname
                ),
            )
        }
    };
    if let Err(error) = source.finish(&task.task_id, outcome).await {
        summary.problem(error.to_string());
    }
}
