//! A DynamoDB Streams batch, answered with a partial batch response (the event-source
//! mappings' `FunctionResponseTypes: [ReportBatchItemFailures]`): a record that can never
//! succeed is logged and acknowledged, and only work that retrying can fix is delivered
//! again. A shard is delivered in order and Lambda resumes from the earliest record
//! reported, so the first record to retry is reported with every record after it.

use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use sluice::{
    cloud::{compute::Compute, notify::Notifier, probe::Probe},
    engine::{Engine, StepReport},
    runner::Storage,
    stages::{Ports, Stage, Trigger, run_stage},
    store::RunStore,
};

use crate::trigger::Record;

/// What became of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Its work is done, or the stage had none to do for it.
    Done,
    /// It can never succeed: it cannot be read, it came twice, or its work failed in a way
    /// retrying cannot fix. Logged and acknowledged.
    GivenUp(String),
    /// Its work failed in a way retrying can fix (the store unavailable), it had no time
    /// left, or a record before it is retried: delivered again.
    Retry(String),
}

/// The first record to retry has no sequence number to report it by: the whole batch is
/// delivered again (what Lambda does with an error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unnamed {
    pub index: usize,
    pub why: String,
}

/// The partial batch response for records in stream order, each with its sequence number
/// and outcome: the first record to retry and every record after it. Later records without
/// a sequence number cannot be named, and need not be (Lambda resumes from the earliest).
pub fn batch_item_failures(records: &[(Option<&str>, &Outcome)]) -> Result<DynamoDbEventResponse, Unnamed> {
    let mut response = DynamoDbEventResponse::default();
    let Some(first) = records
        .iter()
        .position(|(_, outcome)| matches!(outcome, Outcome::Retry(_)))
    else {
        return Ok(response);
    };
    if records[first].0.is_none() {
        let why = match records[first].1 {
            Outcome::Retry(why) => why.clone(),
            _ => String::new(),
        };
        return Err(Unnamed { index: first, why });
    }
    for (sequence_number, _) in &records[first..] {
        if let Some(sequence_number) = sequence_number {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some((*sequence_number).to_owned());
            response.batch_item_failures.push(failure);
        }
    }
    Ok(response)
}

/// Runs `stage` for a batch: all its changes at once, as the stage prefers; if that fails,
/// record by record in order (the work reads current state, so what the first run did is
/// not done twice), to find which records' work fails. Records after one to retry are not
/// run: they are delivered again anyway. The outcomes line up with `records`.
pub async fn run_batch<S, P, N, St, C>(
    engine: &Engine<'_, S, P>,
    stage: Stage,
    ports: &Ports<'_, N, St, C>,
    records: &[Record],
    has_time: impl Fn() -> bool,
) -> (Vec<Outcome>, StepReport)
where
    S: RunStore,
    P: Probe,
    N: Notifier,
    St: Storage,
    C: Compute,
{
    let unread = |record: &Record| match &record.change {
        Ok(_) => None,
        Err(why) => Some(Outcome::GivenUp(why.clone())),
    };
    let changes = records
        .iter()
        .filter_map(|record| record.change.as_ref().ok().cloned())
        .collect();
    // Boxed: the engine's futures are deep, and the runtime's would nest them further.
    let together = Box::pin(run_stage(engine, stage, &Trigger::Changes(changes), ports, &has_time)).await;
    let failure = match together {
        Ok(report) => {
            let outcomes = records.iter().map(|record| unread(record).unwrap_or(Outcome::Done));
            return (outcomes.collect(), report);
        }
        Err(failure) => failure,
    };
    lambda_runtime::tracing::warn!(
        stage = stage.name(),
        "the batch's work failed ({failure}); its records are run one at a time to find whose work fails"
    );
    let mut report = StepReport::default();
    let mut outcomes = Vec::with_capacity(records.len());
    let mut retrying = false;
    for record in records {
        let outcome = match (&record.change, retrying) {
            (Err(why), _) => Outcome::GivenUp(why.clone()),
            (Ok(_), true) => Outcome::Retry("a record before it is delivered again".to_owned()),
            (Ok(_), false) if !has_time() => Outcome::Retry("the call ran out of time before it".to_owned()),
            (Ok(change), false) => {
                let one = Trigger::Changes(vec![change.clone()]);
                match Box::pin(run_stage(engine, stage, &one, ports, &has_time)).await {
                    Ok(done) => {
                        report.add(done);
                        Outcome::Done
                    }
                    Err(error) if error.is_retryable() => Outcome::Retry(error.to_string()),
                    Err(error) => Outcome::GivenUp(error.to_string()),
                }
            }
        };
        retrying |= matches!(outcome, Outcome::Retry(_));
        outcomes.push(outcome);
    }
    (outcomes, report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reported(records: &[(Option<&str>, Outcome)]) -> Result<Vec<String>, Unnamed> {
        let records: Vec<_> = records.iter().map(|(sequence, outcome)| (*sequence, outcome)).collect();
        let response = batch_item_failures(&records)?;
        Ok(response
            .batch_item_failures
            .into_iter()
            .map(|failure| failure.item_identifier.unwrap())
            .collect())
    }

    fn retry() -> Outcome {
        Outcome::Retry("the run store is unavailable".into())
    }

    fn given_up() -> Outcome {
        Outcome::GivenUp("its Keys have no string \"pk\" and \"sk\"".into())
    }

    #[test]
    fn a_batch_whose_work_is_done_or_given_up_reports_no_failures() {
        // Given records done, and records that can never succeed among them
        let records = [(Some("1"), Outcome::Done), (Some("2"), given_up()), (None, given_up())];
        // Then Lambda is told the whole batch succeeded: nothing is delivered again
        assert_eq!(reported(&records), Ok(vec![]));
        assert_eq!(reported(&[]), Ok(vec![]));
    }

    #[test]
    fn the_first_record_to_retry_is_reported_with_every_record_after_it() {
        // Given a record to retry between records done and given up
        let records = [
            (Some("101"), Outcome::Done),
            (Some("102"), given_up()),
            (Some("103"), retry()),
            (Some("104"), Outcome::Done),
            (Some("105"), given_up()),
            (Some("106"), retry()),
        ];
        // Then it and everything after it are reported, whatever became of them, since a
        // shard is delivered again from the earliest record reported
        assert_eq!(
            reported(&records),
            Ok(vec!["103".to_owned(), "104".into(), "105".into(), "106".into()])
        );
    }

    #[test]
    fn later_records_without_a_sequence_number_are_left_out_of_the_report() {
        let records = [(Some("7"), retry()), (None, Outcome::Done), (Some("9"), Outcome::Done)];
        assert_eq!(reported(&records), Ok(vec!["7".to_owned(), "9".into()]));
    }

    #[test]
    fn a_record_to_retry_without_a_sequence_number_has_the_whole_batch_delivered_again() {
        // Given the first record to retry cannot be named (an empty identifier would fail
        // the whole batch anyway, as Lambda documents)
        let records = [(Some("1"), Outcome::Done), (None, retry()), (Some("3"), retry())];
        // Then the batch is not answered with a partial response
        assert_eq!(
            reported(&records),
            Err(Unnamed {
                index: 1,
                why: "the run store is unavailable".into()
            })
        );
    }
}
