//! What the five stage functions (`scheduler`, `preconditions`, `resources`, `activities`,
//! `actions`)
//! share: configuration and clients once per process, reading what woke them, the time
//! they have left, running their stage (`sluice::stages`) and logging what it did. Each
//! function's `main.rs` is one call to [`serve`].

pub mod batch;
pub mod trigger;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{
    LambdaEvent, service_fn,
    tracing::{error, info, warn},
};
use serde_json::{Value, json};
use sluice::{
    cloud::{
        compute::{AwsCompute, Compute},
        notify::Notifier,
        probe::Probe,
        sns::SnsNotifier,
    },
    config::Deps,
    engine::{Engine, StepReport},
    runner::{AwsStorage, Storage},
    stages::{Ports, Stage, Trigger, run_stage},
    store::RunStore,
};
use thiserror::Error;

use crate::{batch::Outcome, trigger::Woken};

/// Time kept back from the Lambda deadline for the last round of work to end before it:
/// this much, or a fifth of the time the call has, whichever is less (a function with the
/// default 3-second timeout still gets work done).
pub const MARGIN: Duration = Duration::from_secs(5);

/// Errors the runtime sees. Only those that retrying can fix are returned (the runtime then
/// retries the event); the others are logged and the event is acknowledged, so that one bad
/// record cannot block a stream shard. A stream batch says which of its records to deliver
/// again in its answer instead, and is an error only when it cannot name them.
#[derive(Debug, Error)]
pub enum StageError {
    #[error("{stage}: {message}; retrying can help")]
    Retryable { stage: Stage, message: String },
}

impl From<StageError> for lambda_runtime::Diagnostic {
    fn from(error: StageError) -> Self {
        Self {
            error_type: "Sluice.Retryable".to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// Runs `stage` as a Lambda function until the runtime stops it.
pub async fn serve(stage: Stage) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let deps = Deps::from_env().await?;
    let notifier = SnsNotifier::new(&deps.sdk);
    let storage = AwsStorage::new(&deps.sdk);
    let compute = AwsCompute::new(&deps.sdk).with_sweep_regions(sluice::config::sweep_regions_from_env());
    let engine = deps.engine();
    let ports = Ports {
        notifier: &notifier,
        storage: &storage,
        compute: &compute,
        boot: &deps.boot,
    };
    let (engine, ports) = (&engine, &ports);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let has_time = until_deadline(event.context.deadline);
        handle(engine, stage, ports, &event.payload, has_time).await
    }))
    .await
}

/// Deadlines before this (2001) are durations, not instants: `cargo lambda watch` sends the
/// function's timeout in the deadline's place.
const EPOCH_MILLIS_2001: u64 = 978_307_200_000;

/// A `has_time` for a Lambda deadline (milliseconds since the epoch), less the margin.
pub fn until_deadline(deadline_millis: u64) -> impl Fn() -> bool {
    let now = SystemTime::now();
    let deadline = if deadline_millis < EPOCH_MILLIS_2001 {
        now + Duration::from_millis(deadline_millis)
    } else {
        UNIX_EPOCH + Duration::from_millis(deadline_millis)
    };
    let remaining = deadline.duration_since(now).unwrap_or_default();
    let margin = MARGIN.min(remaining / 5);
    move || SystemTime::now() + margin < deadline
}

/// Handles one event. A tick runs the stage and answers with what it did; a stream batch
/// answers with a partial batch response (`batchItemFailures`, see [`batch`]), which is all
/// Lambda reads from it, and logs the rest; an event of neither kind is acknowledged.
pub async fn handle<S, P, N, St, C>(
    engine: &Engine<'_, S, P>,
    stage: Stage,
    ports: &Ports<'_, N, St, C>,
    event: &Value,
    has_time: impl Fn() -> bool,
) -> Result<Value, StageError>
where
    S: RunStore,
    P: Probe,
    N: Notifier,
    St: Storage,
    C: Compute,
{
    match trigger::read(event) {
        Woken::Nothing(why) => {
            warn!(stage = stage.name(), "{why}");
            Ok(json!({ "stage": stage.name(), "skipped": [why] }))
        }
        Woken::Tick => tick(engine, stage, ports, has_time).await,
        Woken::Batch(records) => {
            let (outcomes, report) = batch::run_batch(engine, stage, ports, &records, has_time).await;
            log_report(stage, &report);
            log_outcomes(stage, &records, &outcomes);
            let named: Vec<_> = records
                .iter()
                .zip(&outcomes)
                .map(|(record, outcome)| (record.sequence_number.as_deref(), outcome))
                .collect();
            match batch::batch_item_failures(&named) {
                Ok(response) => Ok(serde_json::to_value(response).unwrap_or_else(|_| json!({}))),
                Err(unnamed) => Err(StageError::Retryable {
                    stage,
                    message: format!(
                        "{}: {}; it has no dynamodb.SequenceNumber to report it by, so the whole batch is \
                         delivered again",
                        records[unnamed.index].label(),
                        unnamed.why
                    ),
                }),
            }
        }
    }
}

/// The minute tick: every step of the stage runs (one that fails holds up none of the
/// others), and an error that retrying can fix is returned for the runtime to retry.
async fn tick<S, P, N, St, C>(
    engine: &Engine<'_, S, P>,
    stage: Stage,
    ports: &Ports<'_, N, St, C>,
    has_time: impl Fn() -> bool,
) -> Result<Value, StageError>
where
    S: RunStore,
    P: Probe,
    N: Notifier,
    St: Storage,
    C: Compute,
{
    // Boxed: the engine's futures are deep, and the runtime's would nest them further.
    match Box::pin(run_stage(engine, stage, &Trigger::Tick, ports, has_time)).await {
        Ok(report) => {
            log_report(stage, &report);
            Ok(json!({
                "stage": stage.name(),
                "examined": report.examined,
                "changed": report.changed,
                "lostRaces": report.lost_races,
                "problems": report.problems,
                "skipped": report.corrupt,
            }))
        }
        Err(failure) if failure.is_retryable() => Err(StageError::Retryable {
            stage,
            message: failure.to_string(),
        }),
        Err(failure) => {
            error!(stage = stage.name(), "{failure}");
            Ok(json!({ "stage": stage.name(), "error": failure.to_string(), "retryable": false }))
        }
    }
}

fn log_report(stage: Stage, report: &StepReport) {
    for corrupt in &report.corrupt {
        warn!(stage = stage.name(), "skipped a record it cannot read: {corrupt}");
    }
    for problem in &report.problems {
        warn!(stage = stage.name(), "{problem}");
    }
    info!(
        stage = stage.name(),
        examined = report.examined,
        changed = report.changed,
        lost_races = report.lost_races,
        "done"
    );
}

/// Each record given up, with its key and sequence number, and the first to be delivered
/// again (with how many follow it).
fn log_outcomes(stage: Stage, records: &[trigger::Record], outcomes: &[Outcome]) {
    let mut retried = records
        .iter()
        .zip(outcomes)
        .skip_while(|(_, outcome)| !matches!(outcome, Outcome::Retry(_)));
    if let Some((first, Outcome::Retry(why))) = retried.next() {
        let after = retried.count();
        warn!(
            stage = stage.name(),
            "{}: {why}: reported as a batch item failure with the {after} record(s) after it, to be delivered again",
            first.label()
        );
    }
    for (record, outcome) in records.iter().zip(outcomes) {
        if let Outcome::GivenUp(why) = outcome {
            warn!(
                stage = stage.name(),
                "{}: {why}: acknowledged, not delivered again (it can never succeed)",
                record.label()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_left_comes_from_a_deadline_or_from_cargo_lambdas_timeout() {
        let in_a_minute = SystemTime::now() + Duration::from_secs(60);
        let millis = |at: SystemTime| u64::try_from(at.duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap();
        assert!(until_deadline(millis(in_a_minute))());
        assert!(!until_deadline(millis(SystemTime::now() - Duration::from_secs(1)))());
        // cargo lambda watch: a 600-second timeout where the deadline should be
        assert!(until_deadline(600_000)());
        assert!(!until_deadline(0)());
    }
}
