//! Operator controls (reference §3.9): SetStatus RERUN (with cascade rerun), TRY_CANCEL
//! and MARK_FINISHED on instances; PAUSE and RESUME on components.

use chrono::NaiveDateTime;

use super::{Engine, EngineError, Event, StepReport, apply, pipelines::is_active, tasks::release};
use crate::{
    cloud::probe::Probe,
    engine::status::Status,
    store::{
        RunStore, Write, keys,
        records::{self, AttemptRecord, ComponentRecord, ErrorDetails, InstanceRecord, Stored},
    },
    time::parse_datetime,
};

const TRIES: usize = 8;
/// Cascade reruns follow at most this many levels downstream.
const MAX_CASCADE_DEPTH: usize = 64;

/// A store transaction holds at most this many writes (DynamoDB's limit).
const MAX_TRANSACTION_WRITES: usize = 100;

/// The record of an ended instance starting a new run.
fn rerun_record(record: &InstanceRecord, now: NaiveDateTime) -> Result<InstanceRecord, EngineError> {
    Ok(InstanceRecord {
        status: apply(record.status, Event::Rerun)?,
        run_first_attempt: record.attempts + 1,
        reruns: record.reruns + 1,
        waiting_on: vec!["a rerun was requested; its dependencies are checked again".into()],
        next_check_at: Some(now),
        preconditions: Vec::new(),
        late_raised: false,
        ended_at: None,
        error: ErrorDetails::default(),
        cascade_failed_on: None,
        ..record.clone()
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceCommand {
    Rerun,
    TryCancel,
    MarkFinished,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComponentCommand {
    Pause,
    Resume,
}

/// Splits `@<component>_<scheduledStartTime>` into its parts.
pub fn parse_instance_id(id: &str) -> Result<(String, NaiveDateTime), EngineError> {
    let invalid = || {
        EngineError::InvalidRequest(format!(
            "\"{id}\" is not an instance id: instance ids look like @<objectId>_2026-01-01T00:00:00"
        ))
    };
    let rest = id.strip_prefix('@').ok_or_else(invalid)?;
    let (component, start) = rest.rsplit_once('_').ok_or_else(invalid)?;
    let start = parse_datetime(start).map_err(|_| invalid())?;
    if component.is_empty() {
        return Err(invalid());
    }
    Ok((component.to_owned(), start))
}

impl<S: RunStore, P: Probe> Engine<'_, S, P> {
    /// SetStatus on instances. Every id is checked before anything changes.
    pub async fn set_instance_status(
        &self,
        pipeline: &str,
        instance_ids: &[String],
        command: InstanceCommand,
    ) -> Result<StepReport, EngineError> {
        self.pipeline(pipeline).await?;
        let parsed = instance_ids
            .iter()
            .map(|id| parse_instance_id(id))
            .collect::<Result<Vec<_>, _>>()?;
        for (component, start) in &parsed {
            if super::timers::instance(self.store, pipeline, component, *start)
                .await?
                .is_none()
            {
                return Err(EngineError::ObjectNotFound {
                    pipeline: pipeline.to_owned(),
                    object: super::super::schedule::instance_id(component, *start),
                });
            }
        }
        let mut report = StepReport::default();
        for (component, start) in parsed {
            match command {
                InstanceCommand::Rerun => self.rerun(pipeline, &component, start, &mut report).await?,
                InstanceCommand::TryCancel => {
                    self.stop(pipeline, &component, start, Event::Cancel, &mut report)
                        .await?;
                }
                InstanceCommand::MarkFinished => {
                    self.stop(pipeline, &component, start, Event::MarkFinished, &mut report)
                        .await?;
                }
            }
        }
        Ok(report)
    }

    pub(crate) async fn cancel_instances(&self, pipeline: &str, instance_ids: &[String]) -> Result<(), EngineError> {
        let mut report = StepReport::default();
        for id in instance_ids {
            let (component, start) = parse_instance_id(id)?;
            self.stop(pipeline, &component, start, Event::Cancel, &mut report)
                .await?;
        }
        Ok(())
    }

    /// Reruns an ended instance: it waits on its dependencies again as a new run, its
    /// retries counted afresh. With cascade, its CASCADE_FAILED consumers (and theirs)
    /// rerun too, all in one transaction: a crash cannot strand half a cascade, and the
    /// dependencies stage cannot fail a consumer again between two of the writes.
    async fn rerun(
        &self,
        pipeline: &str,
        component: &str,
        start: NaiveDateTime,
        report: &mut StepReport,
    ) -> Result<(), EngineError> {
        let stored = self.pipeline(pipeline).await?;
        let compiled = self.compiled(&stored.record).await?;
        for _ in 0..TRIES {
            let now = self.now();
            let Some(target) = super::timers::instance(self.store, pipeline, component, start).await? else {
                return Ok(());
            };
            let status = target.record.status;
            // Already waiting again (asked twice): only its cascade may still need doing.
            if !status.is_terminal() && status != Status::WaitingOnDependencies {
                return Err(EngineError::WrongStatus {
                    object: target.record.id(),
                    status,
                    action: "rerun",
                });
            }
            let mut reruns: Vec<Stored<InstanceRecord>> = Vec::new();
            let mut frontier = vec![(component.to_owned(), start)];
            if status.is_terminal() {
                reruns.push(target);
            }
            // Breadth first through consumers that cascade-failed, as far as they go.
            for _ in 0..MAX_CASCADE_DEPTH {
                let mut next_frontier = Vec::new();
                for (upstream_id, upstream_start) in frontier {
                    let Some(upstream) = compiled.component(&upstream_id) else {
                        continue;
                    };
                    let interval = upstream.interval_at(upstream_start);
                    for downstream_id in &upstream.downstream {
                        let Some(downstream) = compiled.component(downstream_id).filter(|spec| spec.cascade) else {
                            continue;
                        };
                        for consumer_start in compiled.downstream_starts(downstream, upstream, interval) {
                            let found =
                                super::timers::instance(self.store, pipeline, downstream_id, consumer_start).await?;
                            let Some(found) = found.filter(|found| found.record.status == Status::CascadeFailed) else {
                                continue;
                            };
                            if reruns.iter().any(|queued| queued.record.id() == found.record.id()) {
                                continue;
                            }
                            next_frontier.push((downstream_id.clone(), consumer_start));
                            reruns.push(found);
                        }
                    }
                }
                if next_frontier.is_empty() {
                    break;
                }
                frontier = next_frontier;
            }
            if reruns.is_empty() {
                return Ok(());
            }
            let writes = reruns
                .iter()
                .map(|instance| Ok(instance.replace(&rerun_record(&instance.record, now)?)?))
                .collect::<Result<Vec<Write>, EngineError>>()?;
            if writes.len() > MAX_TRANSACTION_WRITES {
                return Err(EngineError::InvalidRequest(format!(
                    "rerunning {} with its cascade would change {} instances at once; rerun fewer at a time",
                    component,
                    writes.len()
                )));
            }
            let count = writes.len();
            if self.store.transact(writes).await? {
                report.changed += count;
                return Ok(());
            }
            report.lost_races += 1;
        }
        Err(EngineError::Store(crate::store::StoreError::Unavailable(format!(
            "{component}: its records kept changing while being rerun; try again"
        ))))
    }

    /// Cancels or marks finished an instance, with its outstanding attempts.
    pub(crate) async fn stop(
        &self,
        pipeline: &str,
        component: &str,
        start: NaiveDateTime,
        event: Event,
        report: &mut StepReport,
    ) -> Result<(), EngineError> {
        for _ in 0..TRIES {
            let now = self.now();
            let Some(instance) = super::timers::instance(self.store, pipeline, component, start).await? else {
                return Ok(());
            };
            let record = &instance.record;
            if record.status.is_terminal() && event == Event::Cancel {
                return Ok(());
            }
            let mut next = record.clone();
            next.status = apply(record.status, event)?;
            next.ended_at = Some(now);
            next.waiting_on.clear();
            next.next_check_at = None;
            let mut writes: Vec<Write> = Vec::new();
            if is_active(record.status) {
                let stored: Option<Stored<ComponentRecord>> =
                    records::get(self.store, &keys::component(pipeline, component)).await?;
                writes.extend(release(&stored)?);
            }
            writes.extend(self.stop_attempts(record, now).await?);
            writes.push(instance.replace(&next)?);
            if self.store.transact(writes).await? {
                report.changed += 1;
                return Ok(());
            }
            report.lost_races += 1;
        }
        Err(EngineError::Store(crate::store::StoreError::Unavailable(format!(
            "{component}: its records kept changing while being stopped; try again"
        ))))
    }

    /// The instance's current attempt and pending precondition checks, canceled (with the
    /// instance, or when it fails): a runner holding one learns it from its next progress
    /// report.
    pub(crate) async fn stop_attempts(
        &self,
        instance: &InstanceRecord,
        now: NaiveDateTime,
    ) -> Result<Vec<Write>, EngineError> {
        let mut keys_to_stop = Vec::new();
        if instance.attempts >= instance.run_first_attempt {
            keys_to_stop.push(keys::attempt(
                &instance.pipeline_id,
                &instance.component_id,
                instance.scheduled_start,
                instance.attempts,
            ));
        }
        for state in &instance.preconditions {
            if let Some(number) = state.pending_attempt {
                keys_to_stop.push(keys::precondition_attempt(
                    &instance.pipeline_id,
                    &instance.component_id,
                    instance.scheduled_start,
                    &state.precondition_id,
                    number,
                ));
            }
        }
        let mut writes = Vec::new();
        for key in keys_to_stop {
            let Some(attempt) = records::get::<AttemptRecord, _>(self.store, &key).await? else {
                continue;
            };
            if attempt.record.status.is_terminal() {
                continue;
            }
            let canceled = AttemptRecord {
                status: apply(attempt.record.status, Event::Cancel)?,
                cancel_requested: true,
                ended_at: Some(now),
                ..attempt.record.clone()
            };
            writes.push(attempt.replace(&canceled)?);
        }
        Ok(writes)
    }

    /// SetStatus PAUSE / RESUME on components: a paused component creates no instances
    /// and starts none; its waiting instances say so.
    pub async fn set_component_status(
        &self,
        pipeline: &str,
        component_ids: &[String],
        command: ComponentCommand,
    ) -> Result<StepReport, EngineError> {
        let stored = self.pipeline(pipeline).await?;
        let compiled = self.compiled(&stored.record).await?;
        for id in component_ids {
            if compiled.component(id).is_none() {
                return Err(EngineError::ObjectNotFound {
                    pipeline: pipeline.to_owned(),
                    object: id.clone(),
                });
            }
        }
        let mut report = StepReport::default();
        for id in component_ids {
            for _ in 0..TRIES {
                let key = keys::component(pipeline, id);
                let paused = command == ComponentCommand::Pause;
                let written = match records::get::<ComponentRecord, _>(self.store, &key).await? {
                    Some(component) if component.record.paused == paused => true,
                    Some(component) => {
                        let next = ComponentRecord {
                            paused,
                            ..component.record.clone()
                        };
                        self.store.write(component.replace(&next)?).await?
                    }
                    None => {
                        // Not scheduled yet: the schedule stage will find it paused.
                        let record = ComponentRecord {
                            pipeline_id: pipeline.to_owned(),
                            component_id: id.clone(),
                            paused,
                            next_start: None,
                            next_index: 0,
                            activation: None,
                            active: 0,
                        };
                        self.store.write(records::create(&record)?).await?
                    }
                };
                if written {
                    report.changed += 1;
                    break;
                }
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_parse_as_aws_writes_them() {
        let (component, start) = parse_instance_id("@Copy_Logs_2026-01-31T06:00:00").unwrap();
        assert_eq!(component, "Copy_Logs");
        assert_eq!(start, parse_datetime("2026-01-31T06:00:00").unwrap());
        for bad in [
            "Copy_2026-01-31T06:00:00",
            "@Copy",
            "@_2026-01-31T06:00:00",
            "@Copy_yesterday",
            "",
        ] {
            assert!(
                parse_instance_id(bad)
                    .unwrap_err()
                    .to_string()
                    .contains("not an instance id"),
                "{bad}"
            );
        }
    }
}
