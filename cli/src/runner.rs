//! `sluice runner`: a Task Runner for ShellCommandActivity and ShellCommandPrecondition
//! over the Data Pipeline API (AWS's or a Sluice endpoint), until SIGTERM or SIGINT.

use std::{collections::HashMap, time::Duration};

use aws_sdk_datapipeline::{
    Client,
    config::{Credentials, ProvideCredentials, Region},
    types::{PipelineObject, TaskObject, TaskStatus as ApiStatus},
};
use sluice::runner::{
    AwsStorage, Executor, ExecutorSettings, ObjectFields, RunSettings, SourceError, Task, TaskKind, TaskOutcome,
    TaskSource, TaskStatus, logs::parse_attempt_id, run,
};

use crate::Outcome;

#[derive(clap::Args)]
pub struct Args {
    /// The worker group to poll (exact match, as the objects' workerGroup says)
    #[arg(long)]
    worker_group: String,
    /// The Data Pipeline endpoint (default: SLUICE_ENDPOINT, else AWS's endpoint for the region)
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// The hostname reported with each poll (default: HOSTNAME, else the system's)
    #[arg(long)]
    hostname: Option<String>,
    /// How many tasks run at once
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    tasks: u16,
    /// The runner's id in heartbeats, unique per account (default: hostname and process id)
    #[arg(long)]
    taskrunner_id: Option<String>,
    /// Seconds between heartbeats (AWS's Task Runner: 900)
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..))]
    heartbeat_every: u64,
}

pub fn run_command(args: &Args) -> Outcome {
    let runtime = match crate::runtime() {
        Ok(runtime) => runtime,
        Err(outcome) => return outcome,
    };
    runtime.block_on(serve(args))
}

async fn serve(args: &Args) -> Outcome {
    let endpoint = args
        .endpoint
        .clone()
        .or_else(|| std::env::var("SLUICE_ENDPOINT").ok())
        .filter(|endpoint| !endpoint.trim().is_empty());
    let hostname = args.hostname.clone().unwrap_or_else(hostname);
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    let probe = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    if probe.region().is_none() {
        // Task Runner's own default.
        loader = loader.region(Region::new("us-east-1"));
    }
    if endpoint.is_some() && !has_credentials(&probe).await {
        eprintln!(
            "sluice runner: no AWS credentials configured; using dummy ones for the endpoint (S3 transfers will fail \
             unless the storage accepts them)"
        );
        loader = loader.credentials_provider(Credentials::new("sluice", "sluice", None, None, "sluice-dummy"));
    }
    let config = loader.load().await;
    let source = HttpTaskSource {
        client: Client::from_conf(crate::pipelines::api_config(&config, endpoint.as_deref())),
    };
    let storage = AwsStorage::new(&config);
    let executor = Executor::new(&storage, ExecutorSettings::default());
    let mut settings = RunSettings::new(&args.worker_group, &hostname);
    settings.tasks = usize::from(args.tasks);
    settings.heartbeat_every = Duration::from_secs(args.heartbeat_every);
    if let Some(id) = &args.taskrunner_id {
        settings.taskrunner_id.clone_from(id);
    }
    eprintln!(
        "sluice runner: polling worker group \"{}\" as {hostname} ({} task(s) at once); stop with Ctrl-C or SIGTERM",
        args.worker_group, settings.tasks
    );
    let summary = run(&source, &executor, &settings, shutdown_signal()).await;
    eprintln!(
        "sluice runner: stopped{}; {} finished, {} failed, {} canceled, {} handed back",
        if summary.terminated {
            " at the service's request"
        } else {
            ""
        },
        summary.finished,
        summary.failed,
        summary.canceled,
        summary.handed_back
    );
    Outcome::Success
}

async fn has_credentials(config: &aws_config::SdkConfig) -> bool {
    let Some(provider) = config.credentials_provider() else {
        return false;
    };
    tokio::time::timeout(Duration::from_secs(5), provider.provide_credentials())
        .await
        .is_ok_and(|credentials| credentials.is_ok())
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    eprintln!("sluice runner: stopping; the running tasks are stopped and handed back");
}

/// The Data Pipeline API's runner operations.
struct HttpTaskSource {
    client: Client,
}

fn api_error(operation: &'static str, error: impl std::error::Error) -> SourceError {
    let message = sluice::error_chain(&error);
    SourceError { operation, message }
}

impl TaskSource for HttpTaskSource {
    async fn poll(&self, worker_group: &str, hostname: &str) -> Result<Option<Task>, SourceError> {
        let output = self
            .client
            .poll_for_task()
            .worker_group(worker_group)
            .hostname(hostname)
            .send()
            .await
            .map_err(|error| api_error("PollForTask", error))?;
        Ok(output.task_object().and_then(task_from_object))
    }

    async fn progress(&self, task_id: &str) -> Result<bool, SourceError> {
        let output = self
            .client
            .report_task_progress()
            .task_id(task_id)
            .send()
            .await
            .map_err(|error| api_error("ReportTaskProgress", error))?;
        Ok(output.canceled())
    }

    async fn heartbeat(&self, taskrunner_id: &str, worker_group: &str, hostname: &str) -> Result<bool, SourceError> {
        let output = self
            .client
            .report_task_runner_heartbeat()
            .taskrunner_id(taskrunner_id)
            .worker_group(worker_group)
            .hostname(hostname)
            .send()
            .await
            .map_err(|error| api_error("ReportTaskRunnerHeartbeat", error))?;
        Ok(output.terminate())
    }

    async fn finish(&self, task_id: &str, outcome: TaskOutcome) -> Result<(), SourceError> {
        let status = match outcome.status {
            TaskStatus::Finished => ApiStatus::Finished,
            TaskStatus::Failed => ApiStatus::Failed,
            TaskStatus::False => ApiStatus::False,
        };
        self.client
            .set_task_status()
            .task_id(task_id)
            .task_status(status)
            .set_error_id(outcome.error_id)
            .set_error_message(outcome.error_message)
            .set_error_stack_trace(outcome.error_stack_trace)
            .send()
            .await
            .map_err(|error| api_error("SetTaskStatus", error))?;
        Ok(())
    }
}

fn fields_of(object: &PipelineObject) -> ObjectFields {
    ObjectFields {
        id: object.id().to_owned(),
        fields: object
            .fields()
            .iter()
            .filter_map(|field| {
                field
                    .string_value()
                    .or(field.ref_value())
                    .map(|value| (field.key().to_owned(), value.to_owned()))
            })
            .collect(),
    }
}

/// A task from PollForTask's task object: the attempt's object (by attempt id, else the one
/// shell command object), with the other objects as its referenced ones. `None` without
/// a task id.
fn task_from_object(object: &TaskObject) -> Option<Task> {
    let task_id = object.task_id()?.to_owned();
    let attempt_id = object.attempt_id().unwrap_or_default().to_owned();
    let empty = HashMap::new();
    let objects = object.objects().unwrap_or(&empty);
    let is_shell = |fields: &ObjectFields| {
        matches!(
            fields.field("type"),
            Some("ShellCommandActivity" | "ShellCommandPrecondition")
        )
    };
    let mut all: Vec<ObjectFields> = objects.values().map(fields_of).collect();
    all.sort_by(|a, b| a.id.cmp(&b.id));
    // The attempt names the object whose work it is.
    let parent = all
        .iter()
        .find(|fields| fields.id == attempt_id)
        .and_then(|attempt| attempt.field("@componentParent"))
        .map(str::to_owned);
    let main = all
        .iter()
        .position(|fields| Some(&fields.id) == parent.as_ref() && fields.field("type").is_some())
        .or_else(|| {
            all.iter()
                .position(|fields| fields.id == attempt_id && fields.field("type").is_some())
        })
        .or_else(|| all.iter().position(is_shell))
        .or_else(|| all.iter().position(|fields| fields.id == attempt_id));
    let main = match main {
        Some(index) => all.remove(index),
        None => ObjectFields::default(),
    };
    let type_name = main.field("type").unwrap_or_default().to_owned();
    let kind = if type_name.ends_with("Precondition") {
        TaskKind::Precondition
    } else {
        TaskKind::Activity
    };
    let object_id = if main.id.is_empty() || main.id == attempt_id {
        parse_attempt_id(&attempt_id)
            .map(|parts| parts.component_id.to_owned())
            .unwrap_or_else(|| main.id.clone())
    } else {
        main.id.clone()
    };
    Some(Task {
        task_id,
        pipeline_id: object.pipeline_id().unwrap_or_default().to_owned(),
        attempt_id,
        object_id,
        kind,
        type_name,
        object: main,
        referenced: all,
    })
}

#[cfg(test)]
mod tests {
    use aws_sdk_datapipeline::types::Field;

    use super::*;

    fn object(id: &str, fields: &[(&str, &str)], refs: &[(&str, &str)]) -> PipelineObject {
        let mut all: Vec<Field> = fields
            .iter()
            .map(|(k, v)| Field::builder().key(*k).string_value(*v).build().unwrap())
            .collect();
        all.extend(
            refs.iter()
                .map(|(k, v)| Field::builder().key(*k).ref_value(*v).build().unwrap()),
        );
        PipelineObject::builder()
            .id(id)
            .name(id)
            .set_fields(Some(all))
            .build()
            .unwrap()
    }

    #[test]
    fn a_task_object_becomes_a_task_with_its_data_nodes_referenced() {
        // Given a task object with the activity and its input data node
        let attempt = "@Work_2026-01-01T00:00:00_Attempt=1";
        let task = TaskObject::builder()
            .task_id("t-1")
            .pipeline_id("df-1")
            .attempt_id(attempt)
            .objects(
                "Work",
                object(
                    "Work",
                    &[
                        ("type", "ShellCommandActivity"),
                        ("command", "echo $1"),
                        ("scriptArgument", "a"),
                    ],
                    &[("input", "In")],
                ),
            )
            .objects(
                "In",
                object("In", &[("type", "S3DataNode"), ("directoryPath", "s3://b/in")], &[]),
            )
            .build();
        // When it is read
        let task = task_from_object(&task).unwrap();
        // Then the activity is the task's object and the data node is referenced
        assert_eq!(task.object_id, "Work");
        assert_eq!(task.kind, TaskKind::Activity);
        assert_eq!(task.field("command"), Some("echo $1"));
        assert_eq!(task.values("input"), ["In"]);
        assert_eq!(
            task.referenced("In").and_then(|node| node.field("directoryPath")),
            Some("s3://b/in")
        );
    }

    #[test]
    fn a_precondition_task_object_is_a_precondition_check() {
        let task = TaskObject::builder()
            .task_id("t-2")
            .attempt_id("@Ready_2026-01-01T00:00:00_Attempt=1")
            .objects(
                "@Ready_2026-01-01T00:00:00_Attempt=1",
                object(
                    "@Ready_2026-01-01T00:00:00_Attempt=1",
                    &[("type", "ShellCommandPrecondition"), ("command", "true")],
                    &[],
                ),
            )
            .build();
        let task = task_from_object(&task).unwrap();
        assert_eq!(task.kind, TaskKind::Precondition);
        assert_eq!(task.object_id, "Ready");
    }

    #[test]
    fn a_precondition_check_is_the_object_its_attempt_names_even_beside_a_shell_activity() {
        // Given a check of precondition Ready on behalf of activity A, both shell commands
        let attempt = "@A.Ready_2026-01-01T00:00:00_Attempt=1";
        let task = TaskObject::builder()
            .task_id("t-3")
            .attempt_id(attempt)
            .objects(attempt, object(attempt, &[], &[("@componentParent", "Ready")]))
            .objects(
                "A",
                object("A", &[("type", "ShellCommandActivity"), ("command", "work")], &[]),
            )
            .objects(
                "Ready",
                object(
                    "Ready",
                    &[("type", "ShellCommandPrecondition"), ("command", "test -f x")],
                    &[],
                ),
            )
            .build();
        // Then the task is the precondition's check
        let task = task_from_object(&task).unwrap();
        assert_eq!(task.object_id, "Ready");
        assert_eq!(task.kind, TaskKind::Precondition);
        assert_eq!(task.field("command"), Some("test -f x"));
    }

    #[test]
    fn a_task_object_without_a_task_id_is_no_task() {
        assert_eq!(task_from_object(&TaskObject::builder().build()), None);
    }
}
