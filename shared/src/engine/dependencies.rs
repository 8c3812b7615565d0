//! The dependencies stage: an instance waiting on its dependencies starts when its time
//! has come, every upstream instance (dependsOn, inputs, the activity producing a data
//! node, roll-ups) has finished, every precondition holds, and its component has room
//! under maxActiveInstances. Whatever it still waits for is written on it in words.

use std::collections::HashMap;

use chrono::NaiveDateTime;

use super::{
    Engine, EngineError, Event, PipelineState, Status, StepReport, apply,
    compiled::{CompiledPipeline, ComponentSpec, PreconditionKind, after},
    event_record,
};
use crate::{
    cloud::probe::{Check, Probe, Verdict},
    definition::{context::Runtime, schema::Category},
    schedule::instance_id,
    store::{
        Key, RunStore, Write, keys,
        records::{
            self, AttemptKind, AttemptRecord, ComponentRecord, ErrorDetails, EventKind, InstanceRecord, PipelineRecord,
            PreconditionState, Stored, create,
        },
    },
    time::{add_or_max, format_datetime},
};

/// How often an instance of an inactive pipeline or an unrunnable component looks again.
const IDLE_RECHECK: chrono::TimeDelta = chrono::TimeDelta::hours(1);

impl<S: RunStore, P: Probe> Engine<'_, S, P> {
    /// One pass over the instances due for a dependency check.
    pub async fn dependencies_step(&self) -> Result<StepReport, EngineError> {
        let mut report = StepReport::default();
        for item in self.due_items(keys::stages::DEPENDENCIES).await? {
            report.examined += 1;
            let outcome = match Stored::from_item(&item) {
                Ok(instance) => self.check_dependencies(instance, &mut report).await.map(drop),
                Err(error) => Err(error.into()),
            };
            self.confine(keys::stages::DEPENDENCIES, &item, outcome, &mut report)
                .await;
        }
        Ok(report)
    }

    /// Checks one waiting instance and writes what changed; returns the status written.
    pub async fn check_dependencies(
        &self,
        stored: Stored<InstanceRecord>,
        report: &mut StepReport,
    ) -> Result<Option<Status>, EngineError> {
        if stored.record.status != Status::WaitingOnDependencies {
            return Ok(None);
        }
        // The pipeline and the component's record in one request.
        let [pipeline, component] = records::get_each(
            self.store,
            [
                keys::pipeline(&stored.record.pipeline_id),
                keys::component(&stored.record.pipeline_id, &stored.record.component_id),
            ],
        )
        .await?;
        let read = ReadAhead {
            pipeline: records::decode(pipeline.as_ref())?,
            component: records::decode(component.as_ref())?,
            upstream: HashMap::new(),
        };
        self.check_read(stored, read, report).await
    }

    /// Checks the instance of `component_id` at `start`, if it waits on its dependencies,
    /// reading it, its pipeline, its component and the upstream instances at `upstream` in
    /// one request (a caller that knows the definition reads ahead what the check needs: a
    /// consumer woken by its upstream's end); returns the status written.
    pub(crate) async fn check_dependencies_at(
        &self,
        pipeline_id: &str,
        component_id: &str,
        start: NaiveDateTime,
        upstream: Vec<Key>,
        report: &mut StepReport,
    ) -> Result<Option<Status>, EngineError> {
        let mut wanted = vec![
            keys::instance(pipeline_id, component_id, start),
            keys::pipeline(pipeline_id),
            keys::component(pipeline_id, component_id),
        ];
        wanted.extend(upstream);
        let mut found = self.store.get_many(&wanted).await?.into_iter();
        let mut next = || found.next().flatten();
        let Some(stored) = records::decode::<InstanceRecord>(next().as_ref())? else {
            return Ok(None);
        };
        if stored.record.status != Status::WaitingOnDependencies {
            return Ok(None);
        }
        report.examined += 1;
        let pipeline = records::decode(next().as_ref())?;
        let component = records::decode(next().as_ref())?;
        let mut read = ReadAhead {
            pipeline,
            component,
            upstream: HashMap::new(),
        };
        for key in wanted.into_iter().skip(3) {
            read.upstream.insert(key, records::decode(next().as_ref())?);
        }
        self.check_read(stored, read, report).await
    }

    /// The check itself, over what was read for it.
    async fn check_read(
        &self,
        stored: Stored<InstanceRecord>,
        read: ReadAhead,
        report: &mut StepReport,
    ) -> Result<Option<Status>, EngineError> {
        let now = self.now();
        let ReadAhead {
            pipeline,
            component,
            upstream,
        } = read;
        let pipeline = pipeline.ok_or_else(|| EngineError::PipelineNotFound(stored.record.pipeline_id.clone()))?;
        let mut next = stored.record.clone();
        let mut writes = Vec::new();
        // A FINISHED pipeline has created all its instances; those still waiting run on.
        if !matches!(
            pipeline.record.state,
            PipelineState::Scheduled | PipelineState::Finished
        ) {
            next.waiting_on = vec![format!(
                "the pipeline is {}: nothing new starts until it is activated again",
                pipeline.record.state
            )];
            next.next_check_at = Some(add_or_max(now, IDLE_RECHECK));
            return self.commit(&stored, next, writes, report).await;
        }
        let compiled = self.compiled(&pipeline.record).await?;
        let Some(spec) = compiled.component(&next.component_id) else {
            next.waiting_on = vec![format!(
                "\"{}\" is not in the active definition; rerun or cancel this instance",
                next.component_id
            )];
            next.next_check_at = None;
            return self.commit(&stored, next, writes, report).await;
        };
        if let Some(event) = raise_late(&mut next, spec, now) {
            writes.push(create(&event)?);
        }
        if component.as_ref().is_some_and(|component| component.record.paused) {
            next.waiting_on = vec![format!(
                "component \"{}\" is paused (SetStatus RESUME starts it again)",
                spec.id
            )];
            next.next_check_at = Some(add_or_max(now, self.limits.recheck));
            return self.commit(&stored, next, writes, report).await;
        }
        if now < next.runs_at {
            next.waiting_on = vec![format!("its scheduled time, {}", format_datetime(next.runs_at))];
            next.next_check_at = Some(next.runs_at);
            return self.commit(&stored, next, writes, report).await;
        }
        match self.upstream(&compiled, spec, &next, upstream).await? {
            Upstream::Failed(failed) => {
                // failureAndRerunMode: cascade (reference §3.8).
                next.status = apply(next.status, Event::DependencyFailed)?;
                next.cascade_failed_on = Some(failed.clone());
                next.error = ErrorDetails {
                    error_id: Some("Sluice.CascadeFailed".into()),
                    error_message: Some(format!(
                        "{failed} failed, so this did not run (failureAndRerunMode cascade)"
                    )),
                    error_stack_trace: None,
                };
                self.end(&mut next, now, EventKind::Failure, &spec.on_fail, &mut writes)?;
                writes.extend(self.stop_attempts(&next, now).await?);
                return self.commit(&stored, next, writes, report).await;
            }
            Upstream::Waiting(reasons) => {
                next.waiting_on = reasons;
                next.next_check_at = Some(add_or_max(now, self.limits.recheck));
                return self.commit(&stored, next, writes, report).await;
            }
            Upstream::Ready => {}
        }
        match self.preconditions(&compiled, spec, &mut next, now, &mut writes).await? {
            Preconditions::Failed(message) => {
                next.status = apply(next.status, Event::PreconditionFailed)?;
                next.error = ErrorDetails {
                    error_id: Some("Sluice.PreconditionFailed".into()),
                    error_message: Some(message),
                    error_stack_trace: None,
                };
                self.end(&mut next, now, EventKind::Failure, &spec.on_fail, &mut writes)?;
                writes.extend(self.stop_attempts(&next, now).await?);
                return self.commit(&stored, next, writes, report).await;
            }
            Preconditions::Waiting { reasons, check_at } => {
                next.waiting_on = reasons;
                next.next_check_at = Some(check_at);
                return self.commit(&stored, next, writes, report).await;
            }
            Preconditions::Met => {}
        }
        match spec.category {
            Category::Activity => {
                self.start(&compiled, spec, component, stored, next, writes, report)
                    .await
            }
            Category::Resource if self.limits.simulated_resources.is_some() => {
                next.status = apply(next.status, Event::Ready)?;
                next.waiting_on = vec![];
                self.end(&mut next, now, EventKind::Success, &spec.on_success, &mut writes)?;
                self.commit(&stored, next, writes, report).await
            }
            // A machine only once work that runs on it is ready (reference §3.4).
            Category::Resource => match self
                .resource_wanted(&compiled, spec, next.scheduled_start, false)
                .await?
            {
                super::resources::Wanted::Now => {
                    let served = crate::schedule::resource_worker_group(
                        &next.pipeline_id,
                        &instance_id(&next.component_id, next.scheduled_start),
                    );
                    self.launch_resource(&mut next, served, &mut writes)?;
                    self.commit(&stored, next, writes, report).await
                }
                // Its work all ended without it (failed upstream, canceled): no machine.
                super::resources::Wanted::Never | super::resources::Wanted::TaskFailed(_) => {
                    next.status = apply(next.status, Event::Ready)?;
                    self.end(&mut next, now, EventKind::Success, &[], &mut writes)?;
                    self.commit(&stored, next, writes, report).await
                }
                super::resources::Wanted::Later(reasons) => {
                    next.waiting_on = reasons;
                    next.next_check_at = Some(add_or_max(now, self.limits.recheck));
                    self.commit(&stored, next, writes, report).await
                }
            },
            // A data node has no work: once its dependencies hold, its data is ready.
            _ => {
                next.status = apply(next.status, Event::Ready)?;
                self.end(&mut next, now, EventKind::Success, &spec.on_success, &mut writes)?;
                self.commit(&stored, next, writes, report).await
            }
        }
    }

    /// Moves a ready activity instance to WAITING_FOR_RUNNER with its first attempt of the
    /// run, if its component has room under maxActiveInstances.
    #[allow(clippy::too_many_arguments)]
    async fn start(
        &self,
        compiled: &CompiledPipeline,
        spec: &ComponentSpec,
        component: Option<Stored<ComponentRecord>>,
        stored: Stored<InstanceRecord>,
        mut next: InstanceRecord,
        mut writes: Vec<Write>,
        report: &mut StepReport,
    ) -> Result<Option<Status>, EngineError> {
        let now = self.now();
        let Some(component) = component else {
            next.waiting_on = vec!["the schedule stage has not set up this component yet".into()];
            next.next_check_at = Some(add_or_max(now, self.limits.recheck));
            return self.commit(&stored, next, writes, report).await;
        };
        if component.record.active >= spec.max_active_instances {
            next.waiting_on = vec![format!(
                "{} instances of \"{}\" are already active, its maxActiveInstances",
                component.record.active, spec.id
            )];
            next.next_check_at = Some(add_or_max(now, self.limits.recheck));
            return self.commit(&stored, next, writes, report).await;
        }
        let worker_group = self.worker_group(compiled, spec, next.scheduled_start);
        next.status = apply(next.status, Event::DependenciesMet)?;
        next.attempts += 1;
        next.worker_group = Some(worker_group.clone());
        next.waiting_on = vec![self.runner_wait(&worker_group).await?];
        next.next_check_at = None;
        let attempt = AttemptRecord::waiting(&next, next.attempts, AttemptKind::Activity, worker_group, now);
        let counted = ComponentRecord {
            active: component.record.active + 1,
            ..component.record.clone()
        };
        writes.push(create(&attempt)?);
        writes.push(component.replace(&counted)?);
        let resource = compiled
            .resource_of(spec, next.scheduled_start)
            .filter(|_| self.limits.simulated_resources.is_none())
            .map(|(resource, start)| (resource.id.clone(), start));
        let written = self.commit(&stored, next, writes, report).await?;
        // Work that runs on a resource is ready: the resource is looked at now, so its
        // machine is asked for at once rather than at its next check.
        if written.is_some()
            && let Some((resource, start)) = resource
        {
            Box::pin(self.check_dependencies_at(&compiled.pipeline_id, &resource, start, Vec::new(), report)).await?;
        }
        Ok(written)
    }

    /// Why a ready instance waits for a runner, in words: whether anyone polls its worker
    /// group, the silence AWS users met as WAITING_FOR_RUNNER.
    async fn runner_wait(&self, worker_group: &str) -> Result<String, EngineError> {
        if worker_group == super::compiled::SERVERLESS_WORKER_GROUP {
            return Ok("Sluice's activities function, which runs activities that name no runner".to_owned());
        }
        // What this process wrote down of the group's polls is the record (it changes once
        // a minute); only another process's runners need it read.
        let last = match self.poll_noted(worker_group) {
            Some(noted) => Some(noted),
            None => {
                let key = records::Record::key(&records::WorkerGroupRecord {
                    worker_group: worker_group.to_owned(),
                    last_poll_at: NaiveDateTime::default(),
                    last_hostname: None,
                });
                records::get::<records::WorkerGroupRecord, _>(self.store, &key)
                    .await?
                    .map(|last| last.record)
            }
        };
        Ok(match last {
            None => format!(
                "a runner polling worker group \"{worker_group}\"; none has polled yet (start one with `sluice runner --worker-group {worker_group}`; the name must match exactly)"
            ),
            Some(last) => format!(
                "a runner polling worker group \"{worker_group}\" (last poll at {}{})",
                format_datetime(last.last_poll_at),
                last.last_hostname
                    .map(|host| format!(" from {host}"))
                    .unwrap_or_default()
            ),
        })
    }

    /// Writes the instance (and whatever goes with it) in one conditional request.
    pub(crate) async fn commit(
        &self,
        stored: &Stored<InstanceRecord>,
        next: InstanceRecord,
        mut writes: Vec<Write>,
        report: &mut StepReport,
    ) -> Result<Option<Status>, EngineError> {
        if next == stored.record && writes.is_empty() {
            return Ok(None);
        }
        let status = next.status;
        writes.push(stored.replace(&next)?);
        let offered = self.tasks_made_ready(&writes);
        let written = if writes.len() == 1 {
            self.store.write(writes.remove(0)).await?
        } else {
            self.store.transact(writes).await?
        };
        report.wrote(written);
        if !written {
            return Ok(None);
        }
        for worker_group in offered {
            self.offer_task(&worker_group);
        }
        Ok(Some(status))
    }

    /// Ends a run: the end time, and the event for its actions.
    pub(crate) fn end(
        &self,
        instance: &mut InstanceRecord,
        now: NaiveDateTime,
        event: EventKind,
        actions: &[String],
        writes: &mut Vec<Write>,
    ) -> Result<(), EngineError> {
        instance.ended_at = Some(now);
        instance.waiting_on.clear();
        instance.next_check_at = None;
        if let Some(record) = event_record(instance, event, actions, now) {
            writes.push(create(&record)?);
        }
        Ok(())
    }

    async fn upstream(
        &self,
        compiled: &CompiledPipeline,
        spec: &ComponentSpec,
        instance: &InstanceRecord,
        mut read: HashMap<Key, Option<Stored<InstanceRecord>>>,
    ) -> Result<Upstream, EngineError> {
        let wanted = upstream_keys(compiled, spec, &instance.pipeline_id, instance.scheduled_start);
        // Whatever was not read ahead, in one request.
        let missing: Vec<Key> = wanted
            .iter()
            .map(|(_, key)| key)
            .filter(|key| !read.contains_key(*key))
            .cloned()
            .collect();
        if !missing.is_empty() {
            let found = self.store.get_many(&missing).await?;
            for (key, item) in missing.into_iter().zip(found) {
                read.insert(key, records::decode(item.as_ref())?);
            }
        }
        let mut reasons = Vec::new();
        for (id, key) in wanted {
            {
                match read.remove(&key).flatten().map(|found| found.record) {
                    None => reasons.push(format!("{id}, which has not been created yet")),
                    Some(found) if found.status.is_success() => {}
                    Some(found) if found.status.is_failure() && spec.cascade => return Ok(Upstream::Failed(id)),
                    Some(found) if found.status.is_failure() => reasons.push(format!(
                        "{id}, which is {}: this waits until it is rerun (with failureAndRerunMode cascade it would fail instead)",
                        found.status
                    )),
                    Some(found) => {
                        let why = found.waiting_on.first().map(|why| format!(", waiting on {why}")).unwrap_or_default();
                        reasons.push(format!("{id}, which is {}{why}", found.status));
                    }
                }
            }
        }
        Ok(if reasons.is_empty() {
            Upstream::Ready
        } else {
            Upstream::Waiting(reasons)
        })
    }

    /// Checks the instance's preconditions: system ones through the probe, runner ones as
    /// tasks. Updates their state on the instance.
    async fn preconditions(
        &self,
        compiled: &CompiledPipeline,
        spec: &ComponentSpec,
        instance: &mut InstanceRecord,
        now: NaiveDateTime,
        writes: &mut Vec<Write>,
    ) -> Result<Preconditions, EngineError> {
        let mut reasons = Vec::new();
        let mut check_at: Option<NaiveDateTime> = None;
        let runtime = Runtime::scheduled(instance.scheduled_start, Some(instance.scheduled_end));
        for precondition_id in &spec.preconditions {
            let Some(precondition) = compiled.preconditions.get(precondition_id) else {
                continue;
            };
            let position = match instance
                .preconditions
                .iter()
                .position(|state| &state.precondition_id == precondition_id)
            {
                Some(position) => position,
                None => {
                    instance.preconditions.push(PreconditionState {
                        precondition_id: precondition_id.clone(),
                        met: false,
                        last_result: "not checked yet".into(),
                        checks: 0,
                        first_checked_at: now,
                        last_checked_at: now,
                        pending_attempt: None,
                    });
                    instance.preconditions.len() - 1
                }
            };
            let state = &mut instance.preconditions[position];
            if state.met {
                continue;
            }
            if let Some(timeout) = precondition.timeout
                && now >= after(state.first_checked_at, timeout)
            {
                return Ok(Preconditions::Failed(format!(
                    "precondition \"{precondition_id}\" was not met within its preconditionTimeout of {timeout}: {}",
                    state.last_result
                )));
            }
            let delay = precondition.retry.retry_delay;
            let due = state.checks == 0 || now >= add_or_max(state.last_checked_at, delay);
            match precondition.kind {
                PreconditionKind::System if due => {
                    let check = system_check(compiled, precondition_id, &precondition.type_name, &spec.id, &runtime);
                    let verdict = match check {
                        Ok(check) => self.probe.check(&check).await.map_err(|error| error.to_string()),
                        Err(error) => Err(error),
                    };
                    state.checks += 1;
                    state.last_checked_at = now;
                    match verdict {
                        Ok(Verdict::True) => {
                            state.met = true;
                            state.last_result = format!("true at {}", format_datetime(now));
                            continue;
                        }
                        Ok(Verdict::False { reason }) => state.last_result = reason,
                        Err(error) => state.last_result = format!("could not be checked: {error}"),
                    }
                }
                PreconditionKind::Runner if state.pending_attempt.is_none() && due => {
                    instance.precondition_attempts += 1;
                    let number = instance.precondition_attempts;
                    let attempt = AttemptRecord::waiting(
                        instance,
                        number,
                        AttemptKind::Precondition {
                            precondition_id: precondition_id.clone(),
                        },
                        self.worker_group(compiled, spec, instance.scheduled_start),
                        now,
                    );
                    writes.push(create(&attempt)?);
                    let state = &mut instance.preconditions[position];
                    state.pending_attempt = Some(number);
                    state.last_result = format!("a runner of worker group \"{}\" is to check it", attempt.worker_group);
                }
                _ => {}
            }
            let state = &instance.preconditions[position];
            reasons.push(format!("precondition \"{precondition_id}\": {}", state.last_result));
            let again = if state.pending_attempt.is_some() {
                add_or_max(now, self.limits.recheck)
            } else {
                add_or_max(state.last_checked_at, delay)
            };
            let again = match precondition.timeout {
                Some(timeout) => again.min(after(state.first_checked_at, timeout)),
                None => again,
            };
            check_at = Some(check_at.map_or(again, |current| current.min(again)));
        }
        Ok(match check_at {
            None => Preconditions::Met,
            Some(check_at) => Preconditions::Waiting { reasons, check_at },
        })
    }
}

/// What a dependency check needs read, read beforehand.
struct ReadAhead {
    pipeline: Option<Stored<PipelineRecord>>,
    component: Option<Stored<ComponentRecord>>,
    /// Upstream instances read ahead, by key (`None`: not there); the rest are read when
    /// the check needs them.
    upstream: HashMap<Key, Option<Stored<InstanceRecord>>>,
}

/// The upstream instances an instance of `spec` waits for, with their ids.
pub(crate) fn upstream_keys(
    compiled: &CompiledPipeline,
    spec: &ComponentSpec,
    pipeline_id: &str,
    scheduled_start: NaiveDateTime,
) -> Vec<(String, Key)> {
    let interval = spec.interval_at(scheduled_start);
    let mut wanted = Vec::new();
    for upstream_id in &spec.upstream {
        let Some(upstream) = compiled.component(upstream_id) else {
            continue;
        };
        for start in compiled.upstream_starts(upstream, interval) {
            wanted.push((
                instance_id(upstream_id, start),
                keys::instance(pipeline_id, upstream_id, start),
            ));
        }
    }
    wanted
}

enum Upstream {
    Ready,
    Waiting(Vec<String>),
    Failed(String),
}

enum Preconditions {
    Met,
    Waiting {
        reasons: Vec<String>,
        check_at: NaiveDateTime,
    },
    Failed(String),
}

/// Raises lateness once: `lateAfterTimeout` after the scheduled start, while unfinished.
pub(crate) fn raise_late(
    instance: &mut InstanceRecord,
    spec: &ComponentSpec,
    now: NaiveDateTime,
) -> Option<records::EventRecord> {
    let deadline = instance.late_deadline?;
    if instance.late_raised || now < deadline || instance.status.is_terminal() {
        return None;
    }
    // Raised once, recorded on the instance even when no action listens.
    instance.late_raised = true;
    event_record(instance, EventKind::Late, &spec.on_late, now)
}

/// The system precondition's check, its fields evaluated for this run with `node` the
/// object it gates.
fn system_check(
    compiled: &CompiledPipeline,
    precondition: &str,
    type_name: &str,
    node: &str,
    runtime: &Runtime,
) -> Result<Check, String> {
    let field = |key: &str| -> Result<String, String> {
        compiled
            .evaluate_field(precondition, key, runtime, Some((node, runtime)))?
            .ok_or_else(|| format!("{type_name} \"{precondition}\" has no {key}"))
    };
    let region = compiled
        .evaluate_field(precondition, "region", runtime, Some((node, runtime)))
        .ok()
        .flatten();
    Ok(match type_name {
        "S3KeyExists" => Check::S3KeyExists {
            s3_key: field("s3Key")?,
        },
        "S3PrefixNotEmpty" => Check::S3PrefixNotEmpty {
            s3_prefix: field("s3Prefix")?,
        },
        "DynamoDBTableExists" => Check::DynamoDBTableExists {
            table: field("tableName")?,
            region,
        },
        "DynamoDBDataExists" => Check::DynamoDBDataExists {
            table: field("tableName")?,
            region,
        },
        other => return Err(format!("\"{other}\" is not a precondition Sluice checks itself")),
    })
}
