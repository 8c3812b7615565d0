//! Time-driven stages: reaping attempts whose runner stopped reporting or that ran past
//! attemptTimeout, and raising lateness (lateAfterTimeout) once per instance.

use super::{Engine, EngineError, StepReport, dependencies::raise_late};
use crate::{
    cloud::probe::Probe,
    engine::status::Status,
    store::{
        RunStore, keys,
        records::{self, AttemptRecord, ErrorDetails, InstanceRecord, Stored, create},
    },
    time::format_datetime,
};

impl<S: RunStore, P: Probe> Engine<'_, S, P> {
    /// Fails running attempts whose lease lapsed or whose attemptTimeout passed; each
    /// failure retries or fails its instance as a reported failure would.
    pub async fn reap_step(&self) -> Result<StepReport, EngineError> {
        let mut report = StepReport::default();
        let now = self.now();
        for item in self.due_items(keys::stages::REAP).await? {
            report.examined += 1;
            let outcome = match Stored::from_item(&item) {
                Ok(attempt) => self.reap(attempt, now, &mut report).await,
                Err(error) => Err(error.into()),
            };
            self.confine(keys::stages::REAP, &item, outcome, &mut report).await;
        }
        Ok(report)
    }

    /// Fails one running attempt if its lease lapsed or its attemptTimeout passed.
    async fn reap(
        &self,
        attempt: Stored<AttemptRecord>,
        now: chrono::NaiveDateTime,
        report: &mut StepReport,
    ) -> Result<(), EngineError> {
        let record = &attempt.record;
        if record.status != Status::Running || record.reap_at().is_none_or(|at| at > now) {
            return Ok(());
        }
        let (error_id, message) = match (record.deadline, record.lease_until) {
            (Some(deadline), _) if deadline <= now => (
                "Sluice.AttemptTimeout",
                format!(
                    "the attempt ran past its attemptTimeout, at {}",
                    format_datetime(deadline)
                ),
            ),
            (_, Some(lease)) if record.last_progress_at.is_none() => (
                "Sluice.NotAcknowledged",
                format!(
                    "the runner{} never acknowledged the task; its lease lapsed at {}",
                    host(record),
                    format_datetime(lease)
                ),
            ),
            (_, lease) => (
                "Sluice.RunnerLost",
                format!(
                    "the runner{} stopped reporting progress; its lease lapsed at {}",
                    host(record),
                    lease.map(format_datetime).unwrap_or_default()
                ),
            ),
        };
        let error = ErrorDetails {
            error_id: Some(error_id.into()),
            error_message: Some(message),
            error_stack_trace: None,
        };
        self.fail_attempt(&attempt, error, report).await?;
        Ok(())
    }

    /// Raises lateness for waiting-for-runner and running instances past their
    /// lateAfterTimeout (waiting-on-dependencies ones are raised by that stage).
    pub async fn watch_step(&self) -> Result<StepReport, EngineError> {
        let mut report = StepReport::default();
        let now = self.now();
        for item in self.due_items(keys::stages::WATCH).await? {
            report.examined += 1;
            let outcome = match Stored::from_item(&item) {
                Ok(instance) => self.raise_lateness(instance, now, &mut report).await,
                Err(error) => Err(error.into()),
            };
            self.confine(keys::stages::WATCH, &item, outcome, &mut report).await;
        }
        Ok(report)
    }

    async fn raise_lateness(
        &self,
        instance: Stored<InstanceRecord>,
        now: chrono::NaiveDateTime,
        report: &mut StepReport,
    ) -> Result<(), EngineError> {
        let pipeline = self.pipeline(&instance.record.pipeline_id).await?;
        let compiled = self.compiled(&pipeline.record).await?;
        let Some(spec) = compiled.component(&instance.record.component_id) else {
            return Ok(());
        };
        let mut next = instance.record.clone();
        let Some(event) = raise_late(&mut next, spec, now) else {
            if next != instance.record {
                report.wrote(self.store.write(instance.replace(&next)?).await?);
            }
            return Ok(());
        };
        let written = self
            .store
            .transact(vec![create(&event)?, instance.replace(&next)?])
            .await?;
        report.wrote(written);
        Ok(())
    }
}

fn host(attempt: &AttemptRecord) -> String {
    attempt
        .hostname
        .as_deref()
        .map(|hostname| format!(" on {hostname}"))
        .unwrap_or_default()
}

/// Reads one instance (for operators and tests).
pub async fn instance<S: RunStore>(
    store: &S,
    pipeline: &str,
    component: &str,
    start: chrono::NaiveDateTime,
) -> Result<Option<Stored<InstanceRecord>>, EngineError> {
    Ok(records::get(store, &keys::instance(pipeline, component, start)).await?)
}
