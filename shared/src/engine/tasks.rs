//! The runner protocol (reference §6.3) as engine operations: poll by worker group (one
//! attempt claimed with a lease, never handed out twice), report progress (extends the
//! lease, says whether the task was canceled), and set status (FINISHED, FAILED with the
//! error, or FALSE for a precondition not met).

use chrono::NaiveDateTime;

use super::{
    Engine, EngineError, Event, StepReport, apply,
    compiled::{ACKNOWLEDGE_WITHIN, CompiledPipeline, DEFAULT_REPORT_PROGRESS_TIMEOUT, after},
};
use crate::{
    cloud::probe::Probe,
    definition::{context::Runtime, shape::ApiField},
    engine::status::Status,
    store::{
        RunStore, StoreError, Write, keys,
        records::{
            self, AttemptKind, AttemptRecord, ComponentRecord, ErrorDetails, EventKind, InstanceRecord, PipelineRecord,
            Stored, TaskRecord, TaskRunnerRecord, WorkerGroupRecord, create,
        },
    },
    time::{add_or_max, format_datetime},
};

/// How many times an operation re-reads and tries again when another worker changed
/// what it depends on in between.
const CONTENTION_TRIES: usize = 8;

/// A task handed to a runner.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskAssignment {
    pub task_id: String,
    pub pipeline_id: String,
    /// `@<component>_<start>_Attempt=<n>`.
    pub attempt_id: String,
    pub instance_id: String,
    /// The object whose work this is: the component, or the precondition to check.
    pub object_id: String,
    pub kind: AttemptKind,
    /// The object's fields, evaluated for this run.
    pub fields: Vec<(String, String)>,
}

/// What a runner reports at the end of a task (SetTaskStatus's taskStatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    Finished,
    Failed,
    /// A precondition evaluated false.
    False,
}

/// The most fields a runner's progress reports keep on one attempt, and their bytes in
/// all: the attempt is one DynamoDB item of at most 400 KB.
pub const MAX_REPORTED_FIELDS: usize = 50;
pub const MAX_REPORTED_BYTES: usize = 64 * 1024;

impl<S: RunStore, P: Probe> Engine<'_, S, P> {
    /// Hands the oldest due attempt of `worker_group` to the caller, or nothing.
    pub async fn poll_for_task(
        &self,
        worker_group: &str,
        hostname: Option<&str>,
    ) -> Result<Option<TaskAssignment>, EngineError> {
        let now = self.now();
        self.note_poll(worker_group, hostname, now).await?;
        let due = self
            .store
            .due(
                &keys::runner_queue(worker_group),
                super::clock::millis(now),
                self.limits.batch,
            )
            .await?;
        let mut report = StepReport::default();
        for item in &due {
            let claimed = match Stored::<AttemptRecord>::from_item(item) {
                Ok(attempt)
                    if attempt.record.status != Status::WaitingForRunner
                        || attempt.record.worker_group != worker_group =>
                {
                    continue;
                }
                Ok(attempt) => self.claim(attempt, hostname, now).await,
                Err(error) => Err(error.into()),
            };
            match claimed {
                Ok(Some(assignment)) => return Ok(Some(assignment)),
                Ok(None) => {}
                Err(EngineError::Store(unavailable @ StoreError::Unavailable(_))) => return Err(unavailable.into()),
                // One attempt that cannot be handed out (its pipeline gone or unreadable)
                // must not keep its worker group's runners from the rest of the queue.
                Err(error) => self.confine("runner", item, Err(error), &mut report).await,
            }
        }
        Ok(None)
    }

    async fn claim(
        &self,
        attempt: Stored<AttemptRecord>,
        hostname: Option<&str>,
        now: NaiveDateTime,
    ) -> Result<Option<TaskAssignment>, EngineError> {
        let instance_key = keys::instance(
            &attempt.record.pipeline_id,
            &attempt.record.component_id,
            attempt.record.scheduled_start,
        );
        // The pipeline and the instance in one request.
        let [pipeline, instance] =
            records::get_each(self.store, [keys::pipeline(&attempt.record.pipeline_id), instance_key]).await?;
        let pipeline = records::decode::<PipelineRecord>(pipeline.as_ref())?
            .ok_or_else(|| EngineError::PipelineNotFound(attempt.record.pipeline_id.clone()))?;
        let compiled = self.compiled(&pipeline.record).await?;
        let spec = compiled.component(&attempt.record.component_id);
        let Some(instance) = records::decode::<InstanceRecord>(instance.as_ref())? else {
            return Ok(None);
        };
        let task_id = self.random.token();
        let claimed = AttemptRecord {
            status: apply(attempt.record.status, Event::Claimed)?,
            task_id: Some(task_id.clone()),
            hostname: hostname.map(str::to_owned),
            claimed_at: Some(now),
            lease_until: Some(add_or_max(now, ACKNOWLEDGE_WITHIN)),
            deadline: spec
                .and_then(|spec| spec.attempt_timeout)
                .map(|timeout| after(now, timeout)),
            ..attempt.record.clone()
        };
        let task = TaskRecord {
            task_id: task_id.clone(),
            worker_group: attempt.record.worker_group.clone(),
            claimed_at: now,
            attempt_pk: claimed.key_of().pk,
            attempt_sk: claimed.key_of().sk,
        };
        let mut writes = vec![attempt.replace(&claimed)?, create(&task)?];
        match &attempt.record.kind {
            AttemptKind::Activity => {
                if instance.record.status != Status::WaitingForRunner {
                    return Ok(None);
                }
                let running = InstanceRecord {
                    status: apply(instance.record.status, Event::Claimed)?,
                    started_at: instance.record.started_at.or(Some(now)),
                    waiting_on: Vec::new(),
                    ..instance.record.clone()
                };
                writes.push(instance.replace(&running)?);
            }
            // The gated instance keeps waiting; only the check runs.
            AttemptKind::Precondition { .. } => writes.push(instance.check()),
            // A machine is the resources stage's, never a runner's task.
            AttemptKind::Resource => return Ok(None),
        }
        if !self.store.transact(writes).await? {
            return Ok(None);
        }
        self.remember_task(&task);
        let object_id = match &claimed.kind {
            AttemptKind::Activity | AttemptKind::Resource => claimed.component_id.clone(),
            AttemptKind::Precondition { precondition_id } => precondition_id.clone(),
        };
        let runtime = Runtime::scheduled(instance.record.scheduled_start, Some(instance.record.scheduled_end));
        let node = match claimed.kind {
            AttemptKind::Precondition { .. } => Some((claimed.component_id.as_str(), &runtime)),
            AttemptKind::Activity | AttemptKind::Resource => None,
        };
        Ok(Some(TaskAssignment {
            task_id,
            pipeline_id: claimed.pipeline_id.clone(),
            attempt_id: claimed.id(),
            instance_id: instance.record.id(),
            fields: compiled.evaluated_fields(&object_id, &runtime, node),
            object_id,
            kind: claimed.kind,
        }))
    }

    /// Remembers when a worker group last polled, at most once a minute, so that waiting
    /// runs can say whether anyone is polling for them.
    async fn note_poll(
        &self,
        worker_group: &str,
        hostname: Option<&str>,
        now: NaiveDateTime,
    ) -> Result<(), EngineError> {
        let fresh = |at: NaiveDateTime| now - at < chrono::TimeDelta::minutes(1);
        if self
            .poll_noted(worker_group)
            .is_some_and(|noted| fresh(noted.last_poll_at))
        {
            return Ok(());
        }
        let record = WorkerGroupRecord {
            worker_group: worker_group.to_owned(),
            last_poll_at: now,
            last_hostname: hostname.map(str::to_owned),
        };
        let key = records::Record::key(&record);
        let noted = match records::get::<WorkerGroupRecord, _>(self.store, &key).await? {
            Some(stored) if fresh(stored.record.last_poll_at) => stored.record,
            Some(stored) => {
                self.store.write(stored.replace(&record)?).await?;
                record
            }
            None => {
                self.store.write(create(&record)?).await?;
                record
            }
        };
        self.polls_noted
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(worker_group.to_owned(), noted);
        Ok(())
    }

    /// The worker group's poll record as this process last wrote or read it, if it did.
    pub(crate) fn poll_noted(&self, worker_group: &str) -> Option<WorkerGroupRecord> {
        self.polls_noted
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(worker_group)
            .cloned()
    }

    /// ReportTaskRunnerHeartbeat: records that the runner lives, and answers whether it
    /// should exit (`terminate`). A runner serving a resource instance (its worker group
    /// names one) exits once that instance has ended or its pipeline is gone; runners of
    /// plain worker groups are the user's to stop.
    pub async fn report_task_runner_heartbeat(
        &self,
        taskrunner_id: &str,
        worker_group: Option<&str>,
        hostname: Option<&str>,
    ) -> Result<bool, EngineError> {
        let record = TaskRunnerRecord {
            taskrunner_id: taskrunner_id.to_owned(),
            worker_group: worker_group.map(str::to_owned),
            hostname: hostname.map(str::to_owned),
            last_heartbeat_at: self.now(),
        };
        let write = match records::get::<TaskRunnerRecord, _>(self.store, &records::Record::key(&record)).await? {
            Some(stored) => stored.replace(&record)?,
            None => create(&record)?,
        };
        // A heartbeat racing another of the same runner: either one is the news.
        self.store.write(write).await?;
        let Some((pipeline_id, instance_id)) = worker_group.and_then(crate::schedule::parse_resource_worker_group)
        else {
            return Ok(false);
        };
        let Ok((component, start)) = super::operator::parse_instance_id(instance_id) else {
            return Ok(false);
        };
        let instance =
            records::get::<InstanceRecord, _>(self.store, &keys::instance(pipeline_id, &component, start)).await?;
        Ok(match instance {
            Some(instance) => instance.record.status.is_terminal(),
            None => self.is_deleted(pipeline_id).await?,
        })
    }

    /// ReportTaskProgress: extends the task's lease. `Ok(true)` means the task was
    /// canceled (or has ended): the runner should stop.
    pub async fn report_task_progress(&self, task_id: &str, worker_group: Option<&str>) -> Result<bool, EngineError> {
        self.report_task_progress_with(task_id, worker_group, &[]).await
    }

    /// ReportTaskProgress with the runner's `fields`: each replaces the attempt's reported
    /// field of the same key. Keys starting with `@` are the service's and are refused.
    pub async fn report_task_progress_with(
        &self,
        task_id: &str,
        worker_group: Option<&str>,
        fields: &[ApiField],
    ) -> Result<bool, EngineError> {
        if let Some(field) = fields.iter().find(|field| field.key.starts_with('@')) {
            return Err(EngineError::InvalidRequest(format!(
                "field \"{}\" of ReportTaskProgress: keys starting with @ are set by the service, not by runners",
                field.key
            )));
        }
        for _ in 0..CONTENTION_TRIES {
            let (_, attempt, pipeline) = self.task(task_id, worker_group).await?;
            if attempt.record.status.is_terminal() || attempt.record.cancel_requested {
                return Ok(true);
            }
            if attempt.record.status != Status::Running {
                return Err(EngineError::WrongStatus {
                    object: attempt.record.id(),
                    status: attempt.record.status,
                    action: "given progress",
                });
            }
            let now = self.now();
            let pipeline = pipeline.ok_or_else(|| EngineError::PipelineNotFound(attempt.record.pipeline_id.clone()))?;
            let compiled = self.compiled(&pipeline.record).await?;
            let timeout = compiled
                .component(&attempt.record.component_id)
                .and_then(|spec| spec.report_progress_timeout);
            let lease_until = timeout.map_or(add_or_max(now, DEFAULT_REPORT_PROGRESS_TIMEOUT), |timeout| {
                after(now, timeout)
            });
            let mut reported_fields = attempt.record.reported_fields.clone();
            for field in fields {
                reported_fields.retain(|kept| kept.key != field.key);
                reported_fields.push(field.clone());
            }
            let reported_bytes: usize = reported_fields
                .iter()
                .map(|field| field.key.len() + field.string_value.as_ref().map_or(0, String::len))
                .sum();
            if reported_fields.len() > MAX_REPORTED_FIELDS || reported_bytes > MAX_REPORTED_BYTES {
                return Err(EngineError::InvalidRequest(format!(
                    "ReportTaskProgress member \"fields\": the attempt would keep {} reported fields of {reported_bytes} \
                     bytes; at most {MAX_REPORTED_FIELDS} fields of {MAX_REPORTED_BYTES} bytes in all are kept",
                    reported_fields.len()
                )));
            }
            let extended = AttemptRecord {
                lease_until: Some(lease_until),
                last_progress_at: Some(now),
                reported_fields,
                ..attempt.record.clone()
            };
            if self.store.write(attempt.replace(&extended)?).await? {
                return Ok(false);
            }
        }
        Err(contention(task_id))
    }

    /// SetTaskStatus: ends the task. A report for a task that has already ended the same
    /// way (a duplicate) or was canceled changes nothing.
    pub async fn set_task_status(
        &self,
        task_id: &str,
        worker_group: Option<&str>,
        status: TaskStatus,
        error: ErrorDetails,
    ) -> Result<(), EngineError> {
        for _ in 0..CONTENTION_TRIES {
            let (_, attempt, _) = self.task(task_id, worker_group).await?;
            let current = attempt.record.status;
            if current.is_terminal() {
                let same = matches!(
                    (current, status),
                    (Status::Finished, TaskStatus::Finished)
                        | (Status::Failed, TaskStatus::Failed | TaskStatus::False)
                        | (Status::Canceled, _)
                        | (Status::MarkFinished, _)
                );
                return if same {
                    Ok(())
                } else {
                    Err(EngineError::WrongStatus {
                        object: attempt.record.id(),
                        status: current,
                        action: "reported again",
                    })
                };
            }
            if current != Status::Running {
                return Err(EngineError::WrongStatus {
                    object: attempt.record.id(),
                    status: current,
                    action: "reported",
                });
            }
            let mut report = StepReport::default();
            let done = match (&attempt.record.kind, status) {
                (AttemptKind::Activity, TaskStatus::Finished) => self.finish_attempt(&attempt, &mut report).await?,
                (AttemptKind::Activity, TaskStatus::Failed) => {
                    self.fail_attempt(&attempt, error.clone(), &mut report).await?
                }
                (AttemptKind::Activity, TaskStatus::False) => {
                    return Err(EngineError::InvalidRequest(
                        "FALSE is the answer of a precondition; an activity reports FINISHED or FAILED".into(),
                    ));
                }
                (AttemptKind::Resource, _) => {
                    return Err(EngineError::InvalidRequest(
                        "a resource's attempt is its machine, not a runner's task".into(),
                    ));
                }
                (AttemptKind::Precondition { .. }, status) => {
                    let met = status == TaskStatus::Finished;
                    self.end_precondition_check(&attempt, met, error.clone(), &mut report)
                        .await?
                }
            };
            if done {
                if let Some(ended) = &self.task_ended {
                    ended();
                }
                return Ok(());
            }
        }
        Err(contention(task_id))
    }

    async fn task(
        &self,
        task_id: &str,
        worker_group: Option<&str>,
    ) -> Result<(TaskRecord, Stored<AttemptRecord>, Option<Stored<PipelineRecord>>), EngineError> {
        let task = match self.task_given(task_id) {
            Some(task) => task,
            None => {
                records::get::<TaskRecord, _>(self.store, &keys::task(task_id))
                    .await?
                    .ok_or_else(|| EngineError::TaskNotFound(task_id.to_owned()))?
                    .record
            }
        };
        if let Some(given) = worker_group
            && given != task.worker_group
        {
            return Err(EngineError::WrongWorkerGroup {
                task_id: task_id.to_owned(),
                owner: task.worker_group.clone(),
                given: given.to_owned(),
            });
        }
        // The attempt and its pipeline in one request: every caller needs both.
        let [attempt, pipeline] =
            records::get_each(self.store, [task.attempt_key(), keys::pipeline_in(&task.attempt_pk)]).await?;
        let attempt = records::decode::<AttemptRecord>(attempt.as_ref())?
            .ok_or_else(|| EngineError::TaskNotFound(task_id.to_owned()))?;
        let pipeline = records::decode::<PipelineRecord>(pipeline.as_ref())?;
        Ok((task, attempt, pipeline))
    }

    /// The attempt succeeded: so does its instance. `Ok(false)` when something changed in
    /// between and the caller should read again.
    pub(crate) async fn finish_attempt(
        &self,
        attempt: &Stored<AttemptRecord>,
        report: &mut StepReport,
    ) -> Result<bool, EngineError> {
        let now = self.now();
        let (compiled, instance, component) = self.attempt_context(attempt).await?;
        if instance.record.status != Status::Running {
            // Canceled or marked finished since the attempt was read: read again.
            return Ok(false);
        }
        let finished = AttemptRecord {
            status: apply(attempt.record.status, Event::Succeeded)?,
            ended_at: Some(now),
            ..attempt.record.clone()
        };
        let mut writes = vec![attempt.replace(&finished)?];
        let mut next = instance.record.clone();
        next.status = apply(next.status, Event::Succeeded)?;
        let on_success = compiled
            .component(&next.component_id)
            .map(|spec| spec.on_success.clone())
            .unwrap_or_default();
        self.end(&mut next, now, EventKind::Success, &on_success, &mut writes)?;
        writes.extend(release(&component)?);
        writes.push(instance.replace(&next)?);
        let written = self.store.transact(writes).await?;
        report.wrote(written);
        Ok(written)
    }

    /// The attempt failed: another attempt after the retry delay, or the instance fails
    /// when its retries are spent. `Ok(false)` when something changed in between.
    pub(crate) async fn fail_attempt(
        &self,
        attempt: &Stored<AttemptRecord>,
        error: ErrorDetails,
        report: &mut StepReport,
    ) -> Result<bool, EngineError> {
        if let AttemptKind::Precondition { .. } = attempt.record.kind {
            return self.end_precondition_check(attempt, false, error, report).await;
        }
        let now = self.now();
        let (compiled, instance, component) = self.attempt_context(attempt).await?;
        if instance.record.status != Status::Running {
            // Canceled or marked finished since the attempt was read: read again.
            return Ok(false);
        }
        let policy = compiled
            .component(&attempt.record.component_id)
            .map(|spec| spec.retry)
            .unwrap_or_default();
        let number_in_run = attempt.record.number.saturating_sub(instance.record.run_first_attempt) + 1;
        let retry = policy.retries_after(number_in_run);
        let failed = AttemptRecord {
            status: apply(attempt.record.status, Event::AttemptFailed { retry: false })?,
            ended_at: Some(now),
            error: error.clone(),
            ..attempt.record.clone()
        };
        let mut writes = vec![attempt.replace(&failed)?];
        let mut next = instance.record.clone();
        next.status = apply(next.status, Event::AttemptFailed { retry })?;
        next.error = error.clone();
        let message = error.error_message.clone().unwrap_or_else(|| "no error message".into());
        if retry {
            let available_at = policy.retry_at(now, number_in_run + 1, self.random);
            next.attempts = attempt.record.number + 1;
            next.waiting_on = vec![format!(
                "retry {number_in_run} of {} at {}, after attempt {} failed: {message}",
                policy.maximum_retries,
                format_datetime(available_at),
                attempt.record.number
            )];
            let retry_attempt = AttemptRecord::waiting(
                &next,
                next.attempts,
                attempt.record.kind.clone(),
                attempt.record.worker_group.clone(),
                available_at,
            );
            writes.push(create(&retry_attempt)?);
        } else {
            let on_fail = compiled
                .component(&next.component_id)
                .map(|spec| spec.on_fail.clone())
                .unwrap_or_default();
            self.end(&mut next, now, EventKind::Failure, &on_fail, &mut writes)?;
            writes.extend(release(&component)?);
        }
        writes.push(instance.replace(&next)?);
        let written = self.store.transact(writes).await?;
        report.wrote(written);
        Ok(written)
    }

    /// A runner's precondition check ended: met, or not (checked again after retryDelay).
    async fn end_precondition_check(
        &self,
        attempt: &Stored<AttemptRecord>,
        met: bool,
        error: ErrorDetails,
        report: &mut StepReport,
    ) -> Result<bool, EngineError> {
        let AttemptKind::Precondition { precondition_id } = &attempt.record.kind else {
            return Ok(true);
        };
        let now = self.now();
        let event = if met {
            Event::Succeeded
        } else {
            Event::AttemptFailed { retry: false }
        };
        let ended = AttemptRecord {
            status: apply(attempt.record.status, event)?,
            ended_at: Some(now),
            error: error.clone(),
            ..attempt.record.clone()
        };
        let instance_key = keys::instance(
            &attempt.record.pipeline_id,
            &attempt.record.component_id,
            attempt.record.scheduled_start,
        );
        let Some(instance) = records::get::<InstanceRecord, _>(self.store, &instance_key).await? else {
            return Ok(self.store.write(attempt.replace(&ended)?).await?);
        };
        let mut next = instance.record.clone();
        if let Some(state) = next.preconditions.iter_mut().find(|state| {
            &state.precondition_id == precondition_id && state.pending_attempt == Some(attempt.record.number)
        }) {
            state.pending_attempt = None;
            state.met = met;
            state.checks += 1;
            state.last_checked_at = now;
            state.last_result = if met {
                format!("true at {}", format_datetime(now))
            } else {
                let detail = error
                    .error_message
                    .map(|message| format!(": {message}"))
                    .unwrap_or_default();
                format!("false when a runner checked it at {}{detail}", format_datetime(now))
            };
            if next.status == Status::WaitingOnDependencies {
                next.next_check_at = Some(now);
            }
        }
        let written = self
            .store
            .transact(vec![attempt.replace(&ended)?, instance.replace(&next)?])
            .await?;
        report.wrote(written);
        Ok(written)
    }

    async fn attempt_context(
        &self,
        attempt: &Stored<AttemptRecord>,
    ) -> Result<
        (
            std::sync::Arc<CompiledPipeline>,
            Stored<InstanceRecord>,
            Option<Stored<ComponentRecord>>,
        ),
        EngineError,
    > {
        let record = &attempt.record;
        // The three records in one request.
        let wanted = [
            keys::pipeline(&record.pipeline_id),
            keys::instance(&record.pipeline_id, &record.component_id, record.scheduled_start),
            keys::component(&record.pipeline_id, &record.component_id),
        ];
        let [pipeline, instance, component] = records::get_each(self.store, wanted).await?;
        let pipeline = records::decode::<PipelineRecord>(pipeline.as_ref())?
            .ok_or_else(|| EngineError::PipelineNotFound(record.pipeline_id.clone()))?;
        let compiled = self.compiled(&pipeline.record).await?;
        let instance =
            records::decode::<InstanceRecord>(instance.as_ref())?.ok_or_else(|| EngineError::ObjectNotFound {
                pipeline: record.pipeline_id.clone(),
                object: record.component_id.clone(),
            })?;
        let component = records::decode(component.as_ref())?;
        Ok((compiled, instance, component))
    }
}

/// One fewer active instance of the component.
pub(crate) fn release(component: &Option<Stored<ComponentRecord>>) -> Result<Option<Write>, EngineError> {
    let Some(component) = component else { return Ok(None) };
    let released = ComponentRecord {
        active: component.record.active.saturating_sub(1),
        ..component.record.clone()
    };
    Ok(Some(component.replace(&released)?))
}

fn contention(task_id: &str) -> EngineError {
    EngineError::Store(crate::store::StoreError::Unavailable(format!(
        "task \"{task_id}\": its records kept changing while being updated; try again"
    )))
}

impl AttemptRecord {
    fn key_of(&self) -> crate::store::Key {
        records::Record::key(self)
    }
}
