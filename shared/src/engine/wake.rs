//! Waking on status changes, as DynamoDB Streams delivers them: when an instance ends, the
//! instances that wait for it are checked at once instead of at their next re-check, so a
//! chain advances within moments of each finish. The minute schedule stays the safety net.
//!
//! A change names a record by its key; the record is read again, so a duplicate, a late
//! or an out-of-order delivery only ever looks at the current state, and changes nothing
//! that another worker already did.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use chrono::NaiveDateTime;

use super::{Engine, EngineError, Status, StepReport, compiled::CompiledPipeline};
use crate::{
    cloud::probe::Probe,
    store::{
        Key, RunStore, StoreError, keys,
        records::{self, InstanceRecord, PipelineRecord, Stored},
    },
};

/// What happened to an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Insert,
    Modify,
    Remove,
}

/// One change to a run record, as much of a stream record as the stages need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    pub key: Key,
    pub old_status: Option<String>,
    pub new_status: Option<String>,
    /// The work queue the item is in after the change (the `due` index's partition), when
    /// the stream shows it: which stage owes the item work next.
    pub new_queue: Option<String>,
}

impl Change {
    /// An instance that has just ended (FINISHED, FAILED, CANCELED ...).
    fn is_instance_ending(&self) -> bool {
        let ended = |status: &Option<String>| {
            status
                .as_deref()
                .and_then(Status::parse)
                .is_some_and(Status::is_terminal)
        };
        self.kind != ChangeKind::Remove
            && self.key.sk.starts_with("INST#")
            && ended(&self.new_status)
            && !ended(&self.old_status)
    }
}

impl<S: RunStore, P: Probe> Engine<'_, S, P> {
    /// For each instance the changes say has ended, checks at once the instances of its
    /// consumers that wait for it. Changes of other kinds are none of this stage's business;
    /// one for a record that is not there (deleted since) is reported and skipped.
    pub async fn wake_consumers(&self, changes: &[Change]) -> Result<StepReport, EngineError> {
        let mut report = StepReport::default();
        let mut checked: BTreeSet<(String, String, NaiveDateTime)> = BTreeSet::new();
        let mut ended: Vec<Key> = changes
            .iter()
            .filter(|change| change.is_instance_ending())
            .map(|change| change.key.clone())
            .collect();
        // A consumer that ends when checked (a data node whose producer finished) wakes its
        // own consumers in the same call, rather than one stream delivery later.
        while let Some(key) = ended.pop() {
            // The instance and its pipeline (the record of the same partition) at once.
            let [instance, pipeline] = records::get_each(self.store, [key.clone(), keys::pipeline_in(&key.pk)]).await?;
            let Some(instance) = records::decode::<InstanceRecord>(instance.as_ref())? else {
                report.problems.push(format!(
                    "a stream record for {}/{}, which is not in the table (deleted since): skipped",
                    key.pk, key.sk
                ));
                continue;
            };
            let instance = instance.record;
            let Some(pipeline) = records::decode::<PipelineRecord>(pipeline.as_ref())? else {
                continue;
            };
            let Ok(compiled) = self.compiled(&pipeline.record).await else {
                continue;
            };
            let Some(upstream) = compiled.component(&instance.component_id) else {
                continue;
            };
            let interval = upstream.interval_at(instance.scheduled_start);
            for downstream_id in &upstream.downstream {
                let Some(downstream) = compiled.component(downstream_id) else {
                    continue;
                };
                for start in compiled.downstream_starts(downstream, upstream, interval) {
                    let id = (instance.pipeline_id.clone(), downstream_id.clone(), start);
                    if !checked.insert(id) {
                        continue;
                    }
                    // The consumer, what it needs and what it waits for, in one read.
                    let upstream =
                        super::dependencies::upstream_keys(&compiled, downstream, &instance.pipeline_id, start)
                            .into_iter()
                            .map(|(_, key)| key)
                            .collect();
                    let checked = self
                        .check_dependencies_at(&instance.pipeline_id, downstream_id, start, upstream, &mut report)
                        .await;
                    let written = passed_over(checked, &mut report)?.flatten();
                    if written.is_some_and(Status::is_terminal) {
                        ended.push(keys::instance(&instance.pipeline_id, downstream_id, start));
                    }
                }
            }
            // Work on a resource ended: the resource looks now whether its machine can go
            // (after the consumers above, so a cluster also finds the next task ready).
            if self.limits.simulated_resources.is_none()
                && let Some((resource, start)) = compiled.resource_of(upstream, instance.scheduled_start)
            {
                let nudged = self
                    .nudge_resource(&instance.pipeline_id, &resource.id, start, &mut report)
                    .await;
                passed_over(nudged, &mut report)?;
            }
        }
        Ok(report)
    }

    /// Checks at once each instance the changes say was created waiting on its
    /// dependencies (a new run may be ready now rather than at the next tick). One whose
    /// upstream component got instances in the same changes is left alone: what it waits
    /// for cannot have ended yet, and its end wakes it (`wake_consumers`); checking all of a
    /// new chain's instances here would hold up the first step's hand-off.
    pub async fn check_new_instances(&self, changes: &[Change]) -> Result<StepReport, EngineError> {
        let mut report = StepReport::default();
        let keys: Vec<Key> = changes
            .iter()
            .filter(|change| {
                change.kind == ChangeKind::Insert
                    && change.key.sk.starts_with("INST#")
                    && change.new_status.as_deref() == Some(Status::WaitingOnDependencies.as_str())
            })
            .map(|change| change.key.clone())
            .collect();
        if keys.is_empty() {
            return Ok(report);
        }
        let mut created = Vec::with_capacity(keys.len());
        for item in self.store.get_many(&keys).await?.iter().flatten() {
            if let Some(instance) = passed_over(
                Stored::<InstanceRecord>::from_item(item).map_err(Into::into),
                &mut report,
            )? {
                created.push(instance);
            }
        }
        let new_components: BTreeSet<(String, String)> = created
            .iter()
            .map(|instance| {
                (
                    instance.record.pipeline_id.clone(),
                    instance.record.component_id.clone(),
                )
            })
            .collect();
        let mut compiled_of: BTreeMap<String, Option<Arc<CompiledPipeline>>> = BTreeMap::new();
        for instance in created {
            if instance.record.status != Status::WaitingOnDependencies
                || instance.record.next_check_at.is_some_and(|at| at > self.now())
            {
                continue;
            }
            let pipeline_id = instance.record.pipeline_id.clone();
            if !compiled_of.contains_key(&pipeline_id) {
                let compiled = match self.pipeline(&pipeline_id).await {
                    Ok(pipeline) => self.compiled(&pipeline.record).await.ok(),
                    Err(EngineError::PipelineNotFound(_)) => None,
                    Err(error) => return Err(error),
                };
                compiled_of.insert(pipeline_id.clone(), compiled);
            }
            let upstream_is_new = compiled_of
                .get(&pipeline_id)
                .and_then(|compiled| compiled.as_ref())
                .and_then(|compiled| compiled.component(&instance.record.component_id))
                .is_some_and(|spec| {
                    spec.upstream
                        .iter()
                        .any(|upstream| new_components.contains(&(pipeline_id.clone(), upstream.clone())))
                });
            if upstream_is_new {
                continue;
            }
            report.examined += 1;
            let checked = self.check_dependencies(instance, &mut report).await;
            passed_over(checked, &mut report)?;
        }
        Ok(report)
    }
}

/// The outcome of work a change woke early, which the tick would do anyway: a failure is
/// reported and passed over, so one bad item holds up no other change in the batch (the
/// item stays due, and the tick's round confines it, see `confine`). Only a store that
/// cannot be reached ends the batch, to be delivered again.
fn passed_over<T>(outcome: Result<T, EngineError>, report: &mut StepReport) -> Result<Option<T>, EngineError> {
    match outcome {
        Ok(value) => Ok(Some(value)),
        Err(EngineError::Store(error @ StoreError::Unavailable(_))) => Err(error.into()),
        Err(error) => {
            report
                .problems
                .push(format!("a change's work was passed over for the next tick: {error}"));
            Ok(None)
        }
    }
}
