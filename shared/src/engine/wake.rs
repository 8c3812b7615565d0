//! Waking on status changes, as DynamoDB Streams delivers them: when an instance ends, the
//! instances that wait for it are checked at once instead of at their next re-check, so a
//! chain advances within moments of each finish. The minute schedule stays the safety net.
//!
//! A change names a record by its key; the record is read again, so a duplicate, a late
//! or an out-of-order delivery only ever looks at the current state, and changes nothing
//! that another worker already did.

use std::collections::BTreeSet;

use chrono::NaiveDateTime;

use super::{Engine, EngineError, Status, StepReport};
use crate::{
    cloud::probe::Probe,
    store::{
        Key, RunStore, keys,
        records::{self, InstanceRecord, PipelineRecord},
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
                    let Some(consumer) =
                        super::timers::instance(self.store, &instance.pipeline_id, downstream_id, start).await?
                    else {
                        continue;
                    };
                    if consumer.record.status != Status::WaitingOnDependencies {
                        continue;
                    }
                    let consumer_key = records::Record::key(&consumer.record);
                    report.examined += 1;
                    self.check_dependencies(consumer, &mut report).await?;
                    let now_ended = records::get::<InstanceRecord, _>(self.store, &consumer_key)
                        .await?
                        .is_some_and(|checked| checked.record.status.is_terminal());
                    if now_ended {
                        ended.push(consumer_key);
                    }
                }
            }
        }
        Ok(report)
    }

    /// Checks at once each instance the changes say was created waiting on its
    /// dependencies (a new run may be ready now rather than at the next tick).
    pub async fn check_new_instances(&self, changes: &[Change]) -> Result<StepReport, EngineError> {
        let mut report = StepReport::default();
        let created = changes.iter().filter(|change| {
            change.kind == ChangeKind::Insert
                && change.key.sk.starts_with("INST#")
                && change.new_status.as_deref() == Some(Status::WaitingOnDependencies.as_str())
        });
        for change in created {
            if let Some(instance) = records::get::<InstanceRecord, _>(self.store, &change.key).await?
                && instance.record.status == Status::WaitingOnDependencies
                && instance.record.next_check_at.is_none_or(|at| at <= self.now())
            {
                report.examined += 1;
                self.check_dependencies(instance, &mut report).await?;
            }
        }
        Ok(report)
    }
}
