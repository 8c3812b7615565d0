//! The schedule stage: turns each active pipeline's schedules into instances, each exactly
//! once per (pipeline, component, scheduledStartTime), backfill included but bounded per
//! step and resumable; marks intervals before a later start timestamp SKIPPED; ends a
//! pipeline whose schedules have all ended (FINISHED); completes a deactivation.

use std::collections::HashMap;

use chrono::{NaiveDateTime, TimeDelta};

use super::{
    Engine, EngineError, PipelineState, Status, StepReport,
    compiled::{CompiledPipeline, ComponentSpec, after},
};
use crate::{
    cloud::probe::Probe,
    definition::schema::Category,
    schedule::{ScheduleSpec, runs_at},
    store::{
        RunStore, Write,
        keys::stages,
        records::{ComponentRecord, InstanceRecord, PipelineRecord, Stored, create},
    },
    time::add_or_max,
};

impl<S: RunStore, P: Probe> Engine<'_, S, P> {
    /// One pass over the pipelines due for scheduling.
    pub async fn schedule_step(&self) -> Result<StepReport, EngineError> {
        let mut report = StepReport::default();
        for item in self.due_items(stages::SCHEDULE).await? {
            report.examined += 1;
            let outcome = match Stored::from_item(&item) {
                Ok(pipeline) => self.schedule_pipeline(pipeline, &mut report).await,
                Err(error) => Err(error.into()),
            };
            self.confine(stages::SCHEDULE, &item, outcome, &mut report).await;
        }
        Ok(report)
    }

    async fn schedule_pipeline(
        &self,
        pipeline: Stored<PipelineRecord>,
        report: &mut StepReport,
    ) -> Result<(), EngineError> {
        let now = self.now();
        let record = &pipeline.record;
        let components = self.components(&record.id).await?;
        if record.state == PipelineState::Deactivating {
            // Draining: done when nothing is active any more.
            let drained = components.iter().all(|component| component.record.active == 0);
            let next = PipelineRecord {
                state: if drained {
                    PipelineState::Inactive
                } else {
                    PipelineState::Deactivating
                },
                next_check_at: (!drained).then(|| add_or_max(now, self.limits.recheck)),
                ..record.clone()
            };
            report.wrote(self.store.write(pipeline.replace(&next)?).await?);
            return Ok(());
        }
        let compiled = self.compiled(record).await?;
        let existing: HashMap<&str, &Stored<ComponentRecord>> = components
            .iter()
            .map(|component| (component.record.component_id.as_str(), component))
            .collect();
        let mut next_check: Option<NaiveDateTime> = None;
        let mut every_schedule_ended = true;
        // Every new instance and cursor of the pipeline, written together at the end.
        let mut writes = Vec::new();
        for spec in &compiled.components {
            let stored = existing.get(spec.id.as_str()).copied();
            let mut cursor = self.cursor(&compiled, record, spec, stored);
            let due_again = if cursor.paused {
                // Look again while paused, so that work resumes with RESUME, and so that a
                // pipeline whose schedules have all ended finishes once it is resumed.
                Some(add_or_max(now, self.limits.recheck))
            } else {
                self.create_due_instances(&compiled, record, spec, &mut cursor, &mut writes)?
            };
            if let Some(at) = due_again {
                next_check = Some(next_check.map_or(at, |current| current.min(at)));
            }
            if cursor.next_start.is_some() || cursor.paused {
                every_schedule_ended = false;
            }
            match stored {
                Some(stored) if stored.record == cursor => {}
                Some(stored) => writes.push(stored.replace(&cursor)?),
                None => writes.push(create(&cursor)?),
            }
        }
        let finished = every_schedule_ended && !compiled.on_demand;
        let next = PipelineRecord {
            state: if finished {
                PipelineState::Finished
            } else {
                record.state
            },
            next_check_at: next_check,
            ..record.clone()
        };
        if next != *record {
            writes.push(pipeline.replace(&next)?);
        }
        self.write_together(writes, report).await
    }

    /// The component's cursor for this activation: resumed where it was, restarted for a
    /// new on-demand run, or new.
    fn cursor(
        &self,
        compiled: &CompiledPipeline,
        pipeline: &PipelineRecord,
        spec: &ComponentSpec,
        stored: Option<&Stored<ComponentRecord>>,
    ) -> ComponentRecord {
        let activation = pipeline.activated_at;
        match (stored, spec.schedule) {
            // An on-demand pipeline runs once per activation.
            (Some(stored), ScheduleSpec::OnDemand) if stored.record.activation != activation => ComponentRecord {
                next_start: activation,
                next_index: stored.record.next_index,
                activation,
                ..stored.record.clone()
            },
            (Some(stored), _) if stored.record.activation.is_some() => stored.record.clone(),
            // New, or only paused so far (SetStatus PAUSE before the first schedule step).
            (stored, schedule) => ComponentRecord {
                pipeline_id: pipeline.id.clone(),
                component_id: spec.id.clone(),
                paused: stored.is_some_and(|stored| stored.record.paused),
                next_start: match schedule {
                    ScheduleSpec::OnDemand => activation,
                    ScheduleSpec::Periodic(schedule) => schedule
                        .intervals(compiled.first_activated_at)
                        .next()
                        .map(|interval| interval.start),
                },
                next_index: 0,
                activation,
                active: 0,
            },
        }
    }

    /// The creations of the component's instances that are due, at most a batch, before
    /// its cursor's write; returns when the stage should come back for it.
    fn create_due_instances(
        &self,
        compiled: &CompiledPipeline,
        pipeline: &PipelineRecord,
        spec: &ComponentSpec,
        cursor: &mut ComponentRecord,
        writes: &mut Vec<Write>,
    ) -> Result<Option<NaiveDateTime>, EngineError> {
        let now = self.now();
        for _ in 0..self.limits.instances_per_step {
            let Some(start) = cursor.next_start else {
                return Ok(None);
            };
            if start > now {
                return Ok(Some(start));
            }
            let instance = new_instance(compiled, pipeline, spec, start, now);
            writes.push(create(&instance)?);
            cursor.next_index += 1;
            cursor.next_start = match spec.schedule {
                ScheduleSpec::OnDemand => None,
                ScheduleSpec::Periodic(schedule) => {
                    let mut intervals = schedule.intervals(compiled.first_activated_at);
                    intervals.seek(add_or_max(start, TimeDelta::seconds(1)));
                    intervals.next().map(|interval| interval.start)
                }
            };
        }
        // The batch is spent: come back at once for what is due, or when the next is.
        Ok(cursor.next_start.map(|start| start.max(now)))
    }
}

fn new_instance(
    compiled: &CompiledPipeline,
    pipeline: &PipelineRecord,
    spec: &ComponentSpec,
    start: NaiveDateTime,
    now: NaiveDateTime,
) -> InstanceRecord {
    let interval = spec.interval_at(start);
    let skipped = pipeline.start_timestamp.is_some_and(|from| start < from);
    let runs_at = runs_at(spec.schedule_type, spec.category == Category::Resource, interval);
    let late_deadline = spec
        .late_after_timeout
        .filter(|_| !compiled.on_demand)
        .map(|period| after(start, period));
    InstanceRecord {
        pipeline_id: pipeline.id.clone(),
        component_id: spec.id.clone(),
        type_name: spec.type_name.clone(),
        scheduled_start: interval.start,
        scheduled_end: interval.end,
        runs_at,
        status: if skipped {
            Status::Skipped
        } else {
            Status::WaitingOnDependencies
        },
        attempts: 0,
        run_first_attempt: 1,
        precondition_attempts: 0,
        reruns: 0,
        // What it waits for until its first check says more exactly.
        waiting_on: if skipped {
            Vec::new()
        } else if runs_at > now {
            vec![format!("its scheduled time, {}", crate::time::format_datetime(runs_at))]
        } else if spec.upstream.is_empty() {
            vec!["its first check, due now".to_owned()]
        } else {
            vec![format!("the runs it depends on ({})", spec.upstream.join(", "))]
        },
        next_check_at: (!skipped).then_some(runs_at),
        worker_group: None,
        preconditions: Vec::new(),
        late_deadline,
        late_raised: false,
        started_at: None,
        ended_at: skipped.then_some(now),
        error: Default::default(),
        cascade_failed_on: None,
        created_at: now,
    }
}
