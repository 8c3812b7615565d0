//! The actions stage: fires each recorded success, failure and lateness once
//! (`onSuccess`, `onFail`, `onLateAction`). **SnsAlarm** publishes its `subject` and
//! `message`, evaluated with `node` set to the instance (`#{node.errorMessage}` reads the
//! real error, never `null`); **Terminate** cancels the instance and what it runs.
//!
//! An event is claimed before anything is published (a conditional write), so two workers
//! never fire it both; each fired action is written down at once, so a retry after a
//! failure or a crash never fires it twice. A publish that failed for now is tried again
//! after a back-off; one SNS refuses is recorded with its error on the event.

use chrono::TimeDelta;

use super::{Engine, EngineError, Event, StepReport, compiled::CompiledPipeline, objects::alarm_runtime};
use crate::{
    cloud::{
        notify::{Notifier, NotifyError},
        probe::Probe,
    },
    definition::context::Runtime,
    store::{
        RunStore, keys,
        records::{self, EventKind, EventRecord, InstanceRecord, Stored},
    },
    time::{add_or_max, format_datetime},
};

/// How long a worker holds an event it fires; after a crash, another fires it then.
const CLAIM: TimeDelta = TimeDelta::minutes(5);
/// The wait before publishing again after SNS failed for now, doubled per failure.
const RETRY_FIRST: TimeDelta = TimeDelta::seconds(30);
const RETRY_MAX: TimeDelta = TimeDelta::minutes(15);
/// An event whose publishes keep failing for now is given up after this many tries.
const MAX_TRIES: u32 = 8;

/// What firing one action came to.
enum Fired {
    Done,
    /// Failed for good: recorded on the event, the other actions still fire.
    Refused(String),
    /// Failed for now: the event is tried again later.
    Later(String),
}

impl<S: RunStore, P: Probe> Engine<'_, S, P> {
    /// One pass over the events due for their actions.
    pub async fn actions_step<N: Notifier>(&self, notifier: &N) -> Result<StepReport, EngineError> {
        let mut report = StepReport::default();
        for item in self.due_items(keys::stages::ACTIONS).await? {
            report.examined += 1;
            let outcome = match Stored::from_item(&item) {
                Ok(event) => self.fire(event, notifier, &mut report).await.map(drop),
                Err(error) => Err(error.into()),
            };
            self.confine(keys::stages::ACTIONS, &item, outcome, &mut report).await;
        }
        Ok(report)
    }

    /// Fires one event's actions, unless another worker holds it or it has fired.
    pub async fn fire<N: Notifier>(
        &self,
        stored: Stored<EventRecord>,
        notifier: &N,
        report: &mut StepReport,
    ) -> Result<(), EngineError> {
        let now = self.now();
        let event = &stored.record;
        if event.fired || event.claimed_until.is_some_and(|until| until > now) {
            return Ok(());
        }
        let claimed = EventRecord {
            claimed_until: Some(add_or_max(now, CLAIM)),
            ..event.clone()
        };
        let write = stored.replace(&claimed)?;
        let won = self.store.write(write).await?;
        report.wrote(won);
        if !won {
            return Ok(());
        }
        let key = records::Record::key(&claimed);
        let Some(mut held) = records::get::<EventRecord, _>(self.store, &key).await? else {
            return Ok(());
        };
        let compiled = match self.pipeline(&claimed.pipeline_id).await {
            Ok(pipeline) => Some(self.compiled(&pipeline.record).await?),
            Err(EngineError::PipelineNotFound(_)) => None,
            Err(error) => return Err(error),
        };
        let mut later = None;
        for action in &claimed.actions {
            if held.record.done.contains(action) {
                continue;
            }
            // Read for each action: a Terminate before an alarm changes what it says.
            let instance = super::timers::instance(
                self.store,
                &claimed.pipeline_id,
                &claimed.component_id,
                claimed.scheduled_start,
            )
            .await?
            .map(|stored| stored.record);
            let fired = match (&compiled, &instance) {
                (Some(compiled), Some(instance)) => {
                    self.fire_action(compiled, &claimed, instance, action, notifier, report)
                        .await?
                }
                _ => Fired::Refused(format!(
                    "action \"{action}\": the pipeline or the instance {} is gone",
                    crate::schedule::instance_id(&claimed.component_id, claimed.scheduled_start)
                )),
            };
            let mut next = held.record.clone();
            match fired {
                Fired::Done => next.done.push(action.clone()),
                Fired::Refused(error) => {
                    next.done.push(action.clone());
                    next.errors.push(error);
                }
                Fired::Later(error) => {
                    later = Some(error);
                    break;
                }
            }
            // Written before the next action, so a crash never fires this one again.
            let write = held.replace(&next)?;
            if !self.store.write(write).await? {
                report.lost_races += 1;
                return Ok(());
            }
            report.changed += 1;
            held = records::get::<EventRecord, _>(self.store, &key)
                .await?
                .ok_or_else(|| EngineError::InvalidRequest(format!("event {} vanished while firing", key.sk)))?;
        }
        let mut next = held.record.clone();
        match later {
            Some(error) if next.retries + 1 < MAX_TRIES => {
                let wait = RETRY_FIRST
                    .checked_mul(2_i32.saturating_pow(next.retries))
                    .unwrap_or(RETRY_MAX)
                    .min(RETRY_MAX);
                next.retries += 1;
                next.errors.push(format!(
                    "{error}; trying again at {}",
                    format_datetime(add_or_max(now, wait))
                ));
                next.claimed_until = Some(add_or_max(now, wait));
            }
            Some(error) => {
                next.errors.push(format!("{error}; given up after {MAX_TRIES} tries"));
                next.fired = true;
                next.claimed_until = None;
            }
            None => {
                next.fired = true;
                next.claimed_until = None;
            }
        }
        for error in next.errors.iter().skip(claimed.errors.len()) {
            report.problems.push(format!("{}: {error}", key.sk));
        }
        let write = held.replace(&next)?;
        let written = self.store.write(write).await?;
        report.wrote(written);
        Ok(())
    }

    async fn fire_action<N: Notifier>(
        &self,
        compiled: &CompiledPipeline,
        event: &EventRecord,
        instance: &InstanceRecord,
        action: &str,
        notifier: &N,
        report: &mut StepReport,
    ) -> Result<Fired, EngineError> {
        let node_runtime = alarm_runtime(instance, &event.pipeline_id);
        let node = Some((event.component_id.as_str(), &node_runtime));
        let empty = Runtime::default();
        let field = |key: &str| compiled.evaluate_field(action, key, &empty, node);
        let type_name = match field("type") {
            Ok(Some(type_name)) => type_name,
            Ok(None) | Err(_) => {
                return Ok(Fired::Refused(format!(
                    "action \"{action}\" is not an object of the active definition"
                )));
            }
        };
        match type_name.as_str() {
            "SnsAlarm" => {
                let topic = match field("topicArn") {
                    Ok(Some(topic)) if !topic.trim().is_empty() => topic,
                    Ok(_) => return Ok(Fired::Refused(format!("SnsAlarm \"{action}\" has no topicArn"))),
                    Err(error) => return Ok(Fired::Refused(format!("SnsAlarm \"{action}\": {error}"))),
                };
                let subject = alarm_text(compiled, action, "subject", &empty, node, || {
                    default_subject(event, instance)
                });
                let message = alarm_text(compiled, action, "message", &empty, node, || {
                    default_message(event, instance)
                });
                Ok(match notifier.publish(&topic, &subject, &message).await {
                    Ok(_) => Fired::Done,
                    Err(error @ NotifyError::Unavailable { .. }) => {
                        Fired::Later(format!("SnsAlarm \"{action}\": {error}"))
                    }
                    Err(error) => Fired::Refused(format!("SnsAlarm \"{action}\": {error}")),
                })
            }
            "Terminate" => {
                self.stop_for_action(event, report).await?;
                Ok(Fired::Done)
            }
            other => Ok(Fired::Refused(format!(
                "action \"{action}\" is a {other}; actions are SnsAlarm or Terminate"
            ))),
        }
    }

    /// Terminate: the instance and what it runs are canceled (nothing, if it has ended).
    async fn stop_for_action(&self, event: &EventRecord, report: &mut StepReport) -> Result<(), EngineError> {
        self.stop(
            &event.pipeline_id,
            &event.component_id,
            event.scheduled_start,
            Event::Cancel,
            report,
        )
        .await
    }
}

/// A field of an alarm evaluated for the instance, secrets masked. A field that cannot be evaluated is
/// sent as written with the reason, and a missing one gets Sluice's own text: an alarm
/// never goes out empty or saying `null`.
fn alarm_text(
    compiled: &CompiledPipeline,
    action: &str,
    key: &str,
    runtime: &Runtime,
    node: Option<(&str, &Runtime)>,
    default: impl FnOnce() -> String,
) -> String {
    // An alarm goes to people: secrets in it are masked, as in every answer.
    match compiled.evaluate_field_masking(action, key, runtime, node, true) {
        Ok(Some(text)) if !text.trim().is_empty() => text,
        Ok(_) => default(),
        Err(error) => {
            let raw = compiled
                .definition
                .object(action)
                .and_then(|object| object.string(key))
                .unwrap_or_default();
            format!("{raw} [Sluice could not evaluate this {key}: {error}]")
        }
    }
}

fn happened(event: &EventRecord) -> &'static str {
    match event.event {
        EventKind::Success => "succeeded",
        EventKind::Failure => "failed",
        EventKind::Late => "is late",
    }
}

fn default_subject(event: &EventRecord, instance: &InstanceRecord) -> String {
    format!("Sluice: {} {}", instance.id(), happened(event))
}

fn default_message(event: &EventRecord, instance: &InstanceRecord) -> String {
    let mut message = format!(
        "{} of pipeline {} {} (status {}).",
        instance.id(),
        event.pipeline_id,
        happened(event),
        instance.status
    );
    if let Some(error) = &instance.error.error_message {
        message.push_str(&format!("\nError: {error}"));
    }
    message
}
