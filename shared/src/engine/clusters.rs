//! `EmrCluster` instances and the work that runs on them (reference §2.4, §2.5): the
//! cluster is launched, watched and shut down like an `Ec2Resource`'s machine (see
//! `resources`), and the resources stage is its Task Runner. It polls the cluster's
//! worker group through the runner protocol, submits each task as EMR steps
//! (command-runner), and reports progress and the end through the same protocol, so
//! leases, retries, cancels and cascades work as they do for any runner.
//!
//! Steps are named after their attempt, and an attempt's steps are looked up by name
//! before any are added: a crash between AddJobFlowSteps and the next look never submits
//! them twice.

use super::{
    Engine, EngineError, StepReport,
    compiled::{CompiledPipeline, ComponentSpec},
    resources::{Fields, market_allows_spot},
    tasks::{TaskAssignment, TaskStatus},
};
use crate::{
    cloud::{
        compute::{
            BootstrapAction, ClusterConfiguration, ClusterLaunch, ClusterSpec, Compute, Market, NodeGroup, Step,
            StepSpec, StepState, emr::cluster_name,
        },
        probe::Probe,
    },
    definition::{context::Runtime, model::is_secret, shape::ApiField},
    engine::status::Status,
    runner::redact::Secrets,
    store::{
        RunStore,
        records::{AttemptRecord, ErrorDetails, InstanceRecord, MachineRecord},
    },
};

/// The EMR release of an `EmrCluster` that names neither `releaseLabel` nor `amiVersion`.
pub const DEFAULT_RELEASE_LABEL: &str = "emr-6.15.0";
/// The instance type of a cluster's nodes that the definition leaves out.
pub const DEFAULT_NODE_TYPE: &str = "m5.xlarge";
/// The applications of a release-label cluster that names none (AWS's default).
const DEFAULT_APPLICATIONS: &[&str] = &["Hadoop", "Hive", "Pig"];
/// EMR's runner of commands on the master node.
pub const COMMAND_RUNNER: &str = "command-runner.jar";
/// How many tasks one look at a cluster hands to it at most.
const TASKS_PER_LOOK: usize = 20;
/// How deep `EmrConfiguration`s may nest (a cycle in a definition must not loop).
const CONFIGURATION_DEPTH: usize = 8;

/// The activity types a cluster runs as steps.
pub const STEP_ACTIVITIES: &[&str] = &[
    "EmrActivity",
    "HiveActivity",
    "PigActivity",
    "HadoopActivity",
    "ShellCommandActivity",
];

/// Splits a `step` or `bootstrapAction` value at its commas; `\,` is a comma inside an
/// argument (reference §2.4).
pub fn split_escaped(value: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = value.chars().peekable();
    while let Some(char) = chars.next() {
        match char {
            '\\' if chars.peek() == Some(&',') => {
                chars.next();
                if let Some(part) = parts.last_mut() {
                    part.push(',');
                }
            }
            ',' => parts.push(String::new()),
            char => {
                if let Some(part) = parts.last_mut() {
                    part.push(char);
                }
            }
        }
    }
    parts.into_iter().map(|part| part.trim().to_owned()).collect()
}

/// A command run on the master node through `command-runner.jar`.
fn command_step(name: String, args: Vec<String>) -> StepSpec {
    StepSpec {
        name,
        jar: COMMAND_RUNNER.to_owned(),
        main_class: None,
        args,
        properties: Vec::new(),
    }
}

fn shell_step(name: String, command: &str, arguments: Vec<String>) -> StepSpec {
    let mut args = vec![
        "bash".to_owned(),
        "-c".to_owned(),
        command.to_owned(),
        "sluice".to_owned(),
    ];
    args.extend(arguments);
    command_step(name, args)
}

/// The name prefix shared by every step of an attempt.
pub fn step_prefix(attempt_id: &str) -> String {
    format!("{attempt_id} ")
}

/// The EMR steps that run one task, in order: pre-step commands, the work, post-step
/// commands. An error says what the definition lacks.
pub fn step_specs(task: &TaskAssignment) -> Result<Vec<StepSpec>, String> {
    let fields = Fields(task.fields.clone());
    let type_name = fields.first("type").unwrap_or("object without a type").to_owned();
    let object = &task.object_id;
    let variables = |flag: &str| -> Vec<String> {
        fields
            .values("scriptVariable")
            .into_iter()
            .flat_map(|variable| [flag.to_owned(), variable])
            .collect()
    };
    // Each piece of work: a label and its step, named once all are known.
    let mut work: Vec<(String, StepSpec)> = Vec::new();
    let unnamed = String::new;
    match type_name.as_str() {
        "EmrActivity" => {
            let steps = fields.values("step");
            if steps.is_empty() {
                return Err(format!("EmrActivity \"{object}\" has no step to run (field \"step\")"));
            }
            for command in fields.values("preStepCommand") {
                work.push(("preStepCommand".to_owned(), shell_step(unnamed(), &command, Vec::new())));
            }
            for step in steps {
                let mut parts = split_escaped(&step);
                let jar = parts.remove(0);
                if jar.is_empty() {
                    return Err(format!(
                        "EmrActivity \"{object}\": step \"{step}\" names no jar before its first comma"
                    ));
                }
                work.push((
                    "step".to_owned(),
                    StepSpec {
                        name: unnamed(),
                        jar,
                        main_class: None,
                        args: parts,
                        properties: Vec::new(),
                    },
                ));
            }
            for command in fields.values("postStepCommand") {
                work.push((
                    "postStepCommand".to_owned(),
                    shell_step(unnamed(), &command, Vec::new()),
                ));
            }
        }
        "HiveActivity" => {
            let mut args = vec![
                "hive-script".to_owned(),
                "--run-hive-script".to_owned(),
                "--args".to_owned(),
            ];
            match (fields.first("hiveScript"), fields.first("scriptUri")) {
                (Some(script), _) => args.extend(["-e".to_owned(), script.to_owned()]),
                (None, Some(uri)) => args.extend(["-f".to_owned(), uri.to_owned()]),
                (None, None) => {
                    return Err(format!(
                        "HiveActivity \"{object}\" has neither hiveScript nor scriptUri"
                    ));
                }
            }
            args.extend(variables("-d"));
            work.push(("hive".to_owned(), command_step(unnamed(), args)));
        }
        "PigActivity" => {
            let mut args = vec![
                "pig-script".to_owned(),
                "--run-pig-script".to_owned(),
                "--args".to_owned(),
            ];
            args.extend(variables("-p"));
            match (fields.first("script"), fields.first("scriptUri")) {
                (Some(script), _) => args.extend(["-e".to_owned(), script.to_owned()]),
                (None, Some(uri)) => args.extend(["-f".to_owned(), uri.to_owned()]),
                (None, None) => return Err(format!("PigActivity \"{object}\" has neither script nor scriptUri")),
            }
            work.push(("pig".to_owned(), command_step(unnamed(), args)));
        }
        "HadoopActivity" => {
            let jar = fields
                .first("jarUri")
                .ok_or_else(|| format!("HadoopActivity \"{object}\" has no jarUri"))?;
            let properties = fields
                .first("hadoopQueue")
                .map(|queue| vec![("mapreduce.job.queuename".to_owned(), queue.to_owned())])
                .unwrap_or_default();
            work.push((
                "hadoop".to_owned(),
                StepSpec {
                    name: unnamed(),
                    jar: jar.to_owned(),
                    main_class: fields.first("mainClass").map(str::to_owned),
                    args: fields.values("argument"),
                    properties,
                },
            ));
        }
        "ShellCommandActivity" => match (fields.first("command"), fields.first("scriptUri")) {
            (Some(command), _) => work.push((
                "command".to_owned(),
                shell_step(unnamed(), command, fields.values("scriptArgument")),
            )),
            (None, Some(uri)) => work.push((
                "script".to_owned(),
                shell_step(
                    unnamed(),
                    "aws s3 cp \"$1\" ./sluice-script && bash ./sluice-script",
                    vec![uri.to_owned()],
                ),
            )),
            (None, None) => {
                return Err(format!(
                    "ShellCommandActivity \"{object}\" has neither command nor scriptUri"
                ));
            }
        },
        other => {
            return Err(format!(
                "{other} \"{object}\" runs on an EmrCluster, which runs EMR steps only ({}); give it an \
                 Ec2Resource or a workerGroup instead",
                STEP_ACTIVITIES.join(", ")
            ));
        }
    }
    let count = work.len();
    Ok(work
        .into_iter()
        .enumerate()
        .map(|(index, (label, step))| StepSpec {
            name: format!("{}{}/{count} {label}", step_prefix(&task.attempt_id), index + 1),
            ..step
        })
        .collect())
}

/// What is wrong when a secret value would be in one of `specs`: EMR shows a step's jar,
/// class, arguments and properties to anyone who may describe the cluster (ListSteps, the
/// console) and keeps them after the cluster ends. Names the step, never the value.
pub fn secret_in_steps(task: &TaskAssignment, specs: &[StepSpec], secrets: &Secrets) -> Option<String> {
    let exposed = specs.iter().find(|spec| {
        std::iter::once(&spec.jar)
            .chain(&spec.main_class)
            .chain(&spec.args)
            .chain(spec.properties.iter().flat_map(|(key, value)| [key, value]))
            .any(|text| secrets.found_in(text))
    })?;
    let type_name = Fields(task.fields.clone())
        .first("type")
        .unwrap_or("object without a type")
        .to_owned();
    Some(format!(
        "{type_name} \"{}\": a secret value would be part of its EMR step \"{}\", and EMR shows a step's arguments \
         to anyone who may describe the cluster: Sluice adds no such step. Have the step read the secret on the \
         cluster (from AWS Secrets Manager or SSM Parameter Store, say) instead of passing it in the definition",
        task.object_id,
        exposed
            .name
            .strip_prefix(&step_prefix(&task.attempt_id))
            .unwrap_or(&exposed.name)
    ))
}

/// The secret values a task's steps must not hold: its `*` fields' and its pipeline's
/// secret parameters'.
fn secrets_of(task: &TaskAssignment, compiled: &CompiledPipeline) -> Secrets {
    let parameters = &compiled.parameters;
    let parameter_values = parameters
        .ids()
        .filter(|id| parameters.is_secret(id))
        .flat_map(|id| parameters.strings(id).unwrap_or_default());
    Secrets::new(
        task.fields
            .iter()
            .filter(|(key, _)| is_secret(key))
            .map(|(_, value)| value)
            .chain(parameter_values),
    )
}

/// The `EmrConfiguration` objects named by `ids`, resolved with their properties and
/// nested configurations.
fn configurations(
    compiled: &CompiledPipeline,
    runtime: &Runtime,
    ids: &[String],
    depth: usize,
) -> Result<Vec<ClusterConfiguration>, String> {
    if depth > CONFIGURATION_DEPTH {
        return Err(format!(
            "EmrConfiguration objects nest deeper than {CONFIGURATION_DEPTH} (a cycle?) at \"{}\"",
            ids.join(", ")
        ));
    }
    let mut resolved = Vec::new();
    for id in ids {
        let fields = Fields(compiled.evaluated_fields(id, runtime, None));
        let classification = fields
            .first("classification")
            .ok_or_else(|| format!("EmrConfiguration \"{id}\" has no classification"))?;
        let mut properties = Vec::new();
        for property in fields.values("property") {
            let property_fields = Fields(compiled.evaluated_fields(&property, runtime, None));
            match (property_fields.first("key"), property_fields.first("value")) {
                (Some(key), Some(value)) => properties.push((key.to_owned(), value.to_owned())),
                _ => return Err(format!("Property \"{property}\" of \"{id}\" needs both key and value")),
            }
        }
        resolved.push(ClusterConfiguration {
            classification: classification.to_owned(),
            properties,
            configurations: configurations(compiled, runtime, &fields.values("configuration"), depth + 1)?,
        });
    }
    Ok(resolved)
}

/// What an `EmrCluster` asks EMR for, on attempt `number_in_run` of its run.
#[allow(clippy::too_many_arguments)]
pub(crate) fn cluster_request(
    compiled: &CompiledPipeline,
    spec: &ComponentSpec,
    fields: &Fields,
    runtime: &Runtime,
    token: String,
    worker_group: &str,
    tags: Vec<(String, String)>,
    number_in_run: u32,
) -> Result<ClusterLaunch, String> {
    let spot_allowed = market_allows_spot(fields, spec, number_in_run);
    let market = |bid_key: &str| match fields.first(bid_key) {
        Some(bid) if spot_allowed => Market::Spot {
            max_price: Some(bid.to_owned()),
        },
        _ => Market::OnDemand,
    };
    let count = |key: &str, default: i32| -> Result<i32, String> {
        match fields.first(key) {
            None => Ok(default),
            Some(value) => value
                .parse::<i32>()
                .ok()
                .filter(|count| *count >= 0)
                .ok_or_else(|| format!("\"{}\" field {key} is \"{value}\", not a count of instances", spec.id)),
        }
    };
    let group_configurations = |key: &str| configurations(compiled, runtime, &fields.values(key), 0);
    let master_type = fields
        .first("masterInstanceType")
        .unwrap_or(DEFAULT_NODE_TYPE)
        .to_owned();
    let master = NodeGroup {
        instance_type: master_type.clone(),
        count: 1,
        market: market("masterInstanceBidPrice"),
        configurations: group_configurations("masterGroupConfiguration")?,
    };
    // Core and task nodes: `<role>InstanceType` (the master's by default), count, bid and
    // configuration; none when the count is 0.
    let nodes = |role: &str, default_count: i32| -> Result<Option<NodeGroup>, String> {
        let count = count(&format!("{role}InstanceCount"), default_count)?;
        if count == 0 {
            return Ok(None);
        }
        Ok(Some(NodeGroup {
            instance_type: fields
                .first(&format!("{role}InstanceType"))
                .unwrap_or(&master_type)
                .to_owned(),
            count,
            market: market(&format!("{role}InstanceBidPrice")),
            configurations: group_configurations(&format!("{role}GroupConfiguration"))?,
        }))
    };
    let core = nodes("core", 1)?;
    let task = nodes("task", 0)?;
    let ami_version = fields.first("amiVersion").map(str::to_owned);
    let release_label = match (fields.first("releaseLabel"), &ami_version) {
        (Some(label), _) => Some(label.to_owned()),
        (None, Some(_)) => None,
        (None, None) => Some(DEFAULT_RELEASE_LABEL.to_owned()),
    };
    // Applications belong to release labels; legacy AMIs install through steps.
    let applications = if release_label.is_some() {
        let named = fields.values("applications");
        let named: Vec<String> = named
            .iter()
            .flat_map(|value| value.split(','))
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .collect();
        if named.is_empty() {
            DEFAULT_APPLICATIONS.iter().map(|name| (*name).to_owned()).collect()
        } else {
            named
        }
    } else {
        Vec::new()
    };
    let bootstrap_actions = fields
        .values("bootstrapAction")
        .iter()
        .map(|action| {
            let mut parts = split_escaped(action);
            let path = parts.remove(0);
            BootstrapAction { path, args: parts }
        })
        .collect();
    Ok(ClusterLaunch {
        spec: ClusterSpec {
            release_label,
            ami_version,
            applications,
            master,
            core,
            task,
            bootstrap_actions,
            configurations: configurations(compiled, runtime, &fields.values("configuration"), 0)?,
            log_uri: fields
                .first("emrLogUri")
                .or_else(|| fields.first("pipelineLogUri"))
                .map(str::to_owned),
            key_pair: fields.first("keyPair").map(str::to_owned),
            subnet_id: fields.first("subnetId").map(str::to_owned),
            availability_zone: fields.first("availabilityZone").map(str::to_owned),
            region: fields.first("region").map(str::to_owned),
            master_security_group: fields.first("emrManagedMasterSecurityGroupId").map(str::to_owned),
            slave_security_group: fields.first("emrManagedSlaveSecurityGroupId").map(str::to_owned),
            service_access_security_group: fields.first("serviceAccessSecurityGroupId").map(str::to_owned),
            additional_master_security_groups: fields.all("additionalMasterSecurityGroupIds"),
            additional_slave_security_groups: fields.all("additionalSlaveSecurityGroupIds"),
            job_flow_role: fields
                .first("resourceRole")
                .unwrap_or("DataPipelineDefaultResourceRole")
                .to_owned(),
            service_role: fields.first("role").unwrap_or("DataPipelineDefaultRole").to_owned(),
            name: cluster_name(&token, worker_group),
        },
        token,
        tags,
    })
}

fn field(key: &str, value: String) -> ApiField {
    ApiField {
        key: key.to_owned(),
        string_value: Some(value),
        ref_value: None,
    }
}

/// The `@emrStepLog`-style fields a task reports while its steps run: where EMR writes
/// their logs, and which steps they are.
fn step_fields(steps: &[&Step], cluster_id: &str, log_uri: Option<&str>) -> Vec<ApiField> {
    let mut fields = vec![field(
        "emrStepIds",
        steps.iter().map(|step| step.id.as_str()).collect::<Vec<_>>().join(","),
    )];
    let log = steps.iter().find_map(|step| step.log_file.clone()).or_else(|| {
        log_uri.and_then(|uri| {
            steps
                .first()
                .map(|step| format!("{}/{cluster_id}/steps/{}/", uri.trim_end_matches('/'), step.id))
        })
    });
    fields.extend(log.map(|log| field("emrStepLog", log)));
    fields
}

impl<S: RunStore, P: Probe> Engine<'_, S, P> {
    /// The resources stage as the Task Runner of a running cluster: follows the steps of
    /// the tasks it runs to their end, then takes the tasks that are ready for it.
    pub(crate) async fn run_steps<C: Compute>(
        &self,
        compute: &C,
        fields: &Fields,
        resource: &AttemptRecord,
        machine: &MachineRecord,
        report: &mut StepReport,
    ) -> Result<(), EngineError> {
        let steps = match compute.steps(&machine.id).await {
            Ok(steps) => steps,
            Err(error) => {
                report
                    .problems
                    .push(format!("cluster {} of {}: {error}", machine.id, resource.id()));
                return Ok(());
            }
        };
        let log_uri = fields.first("emrLogUri").or_else(|| fields.first("pipelineLogUri"));
        let (_, open) = self.open_work_on(resource, &[Status::Running]).await?;
        // Steps of attempts that ended without them (canceled, timed out, taken back) must
        // not hold the cluster: EMR runs one step at a time.
        let running: Vec<String> = open
            .iter()
            .filter_map(|(_, task)| task.as_ref())
            .filter(|task| task.record.hostname.as_deref() == Some(machine.id.as_str()))
            .map(|task| task.record.id())
            .collect();
        let orphans: Vec<String> = steps
            .iter()
            .filter(|step| !step.state.is_over())
            .filter(|step| {
                step.name
                    .split_once(' ')
                    .is_some_and(|(attempt, _)| !running.iter().any(|id| id == attempt))
            })
            .map(|step| step.id.clone())
            .collect();
        if !orphans.is_empty() {
            match compute.cancel_steps(&machine.id, &orphans).await {
                Ok(()) => report.changed += 1,
                Err(error) => report.problems.push(format!(
                    "cluster {}: the steps of ended attempts could not be canceled: {error}",
                    machine.id
                )),
            }
        }
        for (instance, task) in open {
            let Some(task) = task else { continue };
            let (Some(task_id), true) = (
                task.record.task_id.clone(),
                task.record.hostname.as_deref() == Some(machine.id.as_str()),
            ) else {
                continue;
            };
            let prefix = step_prefix(&task.record.id());
            let mine: Vec<&Step> = steps.iter().filter(|step| step.name.starts_with(&prefix)).collect();
            if mine.is_empty() {
                // Claimed, but the steps never reached EMR (a crash, or EMR refused):
                // submit them now.
                let assignment = self.assignment_of(&instance.record, &task.record, &task_id).await?;
                self.submit(compute, machine, &resource.worker_group, &assignment, log_uri, report)
                    .await?;
                continue;
            }
            self.follow(compute, machine, &task.record, &task_id, &mine, log_uri, report)
                .await?;
        }
        for _ in 0..TASKS_PER_LOOK {
            let Some(task) = self.poll_for_task(&resource.worker_group, Some(&machine.id)).await? else {
                break;
            };
            self.submit(compute, machine, &resource.worker_group, &task, log_uri, report)
                .await?;
        }
        Ok(())
    }

    /// A claimed task read back as a runner received it.
    async fn assignment_of(
        &self,
        instance: &InstanceRecord,
        attempt: &AttemptRecord,
        task_id: &str,
    ) -> Result<TaskAssignment, EngineError> {
        let pipeline = self.pipeline(&attempt.pipeline_id).await?;
        let compiled = self.compiled(&pipeline.record).await?;
        let runtime = Runtime::scheduled(instance.scheduled_start, Some(instance.scheduled_end));
        Ok(TaskAssignment {
            task_id: task_id.to_owned(),
            pipeline_id: attempt.pipeline_id.clone(),
            attempt_id: attempt.id(),
            instance_id: instance.id(),
            object_id: attempt.component_id.clone(),
            kind: attempt.kind.clone(),
            fields: compiled.evaluated_fields(&attempt.component_id, &runtime, None),
        })
    }

    /// Adds the task's steps to the cluster (unless a look before this one already did)
    /// and reports where their logs go; a task that cannot become steps fails, saying why.
    async fn submit<C: Compute>(
        &self,
        compute: &C,
        machine: &MachineRecord,
        worker_group: &str,
        task: &TaskAssignment,
        log_uri: Option<&str>,
        report: &mut StepReport,
    ) -> Result<(), EngineError> {
        let worker_group = Some(worker_group);
        let pipeline = self.pipeline(&task.pipeline_id).await?;
        let compiled = self.compiled(&pipeline.record).await?;
        let specs = step_specs(task).map_err(|problem| ("Sluice.NotAnEmrStep", problem));
        let specs = specs.and_then(
            |specs| match secret_in_steps(task, &specs, &secrets_of(task, &compiled)) {
                Some(problem) => Err(("Sluice.SecretInStep", problem)),
                None => Ok(specs),
            },
        );
        let specs = match specs {
            Ok(specs) => specs,
            Err((error_id, problem)) => {
                let error = ErrorDetails {
                    error_id: Some(error_id.to_owned()),
                    error_message: Some(problem),
                    error_stack_trace: None,
                };
                self.set_task_status(&task.task_id, worker_group, TaskStatus::Failed, error)
                    .await?;
                report.changed += 1;
                return Ok(());
            }
        };
        let ids = match compute.add_steps(&machine.id, &specs).await {
            Ok(ids) => ids,
            Err(error) => {
                // The task stays claimed; the next look finds no step and submits again,
                // and a lapsed lease hands it back if the cluster never takes it.
                report
                    .problems
                    .push(format!("{} on cluster {}: {error}", task.attempt_id, machine.id));
                return Ok(());
            }
        };
        let added: Vec<Step> = ids
            .into_iter()
            .zip(&specs)
            .map(|(id, spec)| Step {
                id,
                name: spec.name.clone(),
                state: StepState::Pending,
                log_file: None,
            })
            .collect();
        let added: Vec<&Step> = added.iter().collect();
        self.report_task_progress_with(&task.task_id, worker_group, &step_fields(&added, &machine.id, log_uri))
            .await?;
        report.changed += 1;
        Ok(())
    }

    /// The task's steps: all COMPLETED ends it FINISHED; one FAILED, CANCELLED or
    /// INTERRUPTED ends it FAILED with EMR's reason and log (the steps after it are
    /// canceled); otherwise its lease is extended, and a cancel asked for stops its steps.
    #[allow(clippy::too_many_arguments)]
    async fn follow<C: Compute>(
        &self,
        compute: &C,
        machine: &MachineRecord,
        attempt: &AttemptRecord,
        task_id: &str,
        steps: &[&Step],
        log_uri: Option<&str>,
        report: &mut StepReport,
    ) -> Result<(), EngineError> {
        let worker_group = Some(attempt.worker_group.as_str());
        let unfinished: Vec<String> = steps
            .iter()
            .filter(|step| !step.state.is_over())
            .map(|step| step.id.clone())
            .collect();
        let failed = steps.iter().find(|step| {
            matches!(
                step.state,
                StepState::Failed { .. } | StepState::Cancelled | StepState::Interrupted
            )
        });
        if let Some(failed) = failed {
            if !unfinished.is_empty() {
                let _ = compute.cancel_steps(&machine.id, &unfinished).await;
            }
            let why = match &failed.state {
                StepState::Failed { reason } => format!("failed: {reason}"),
                StepState::Cancelled => "was canceled".to_owned(),
                _ => "was interrupted".to_owned(),
            };
            let log = failed.log_file.clone().or_else(|| {
                log_uri.map(|uri| format!("{}/{}/steps/{}/", uri.trim_end_matches('/'), machine.id, failed.id))
            });
            let error = ErrorDetails {
                error_id: Some("Sluice.EmrStepFailed".to_owned()),
                error_message: Some(format!(
                    "EMR step \"{}\" ({}) on cluster {} {why}{}",
                    failed.name,
                    failed.id,
                    machine.id,
                    log.map(|log| format!("; its log: {log}")).unwrap_or_default()
                )),
                error_stack_trace: None,
            };
            self.report_task_progress_with(task_id, worker_group, &step_fields(steps, &machine.id, log_uri))
                .await?;
            self.set_task_status(task_id, worker_group, TaskStatus::Failed, error)
                .await?;
            report.changed += 1;
            return Ok(());
        }
        if unfinished.is_empty() {
            self.set_task_status(task_id, worker_group, TaskStatus::Finished, ErrorDetails::default())
                .await?;
            report.changed += 1;
            return Ok(());
        }
        let stop = self
            .report_task_progress_with(task_id, worker_group, &step_fields(steps, &machine.id, log_uri))
            .await?;
        if stop {
            // Canceled (or ended) meanwhile: its steps go too.
            let _ = compute.cancel_steps(&machine.id, &unfinished).await;
        }
        Ok(())
    }
}
