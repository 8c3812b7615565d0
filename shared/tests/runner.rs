//! The Task Runner against the engine on the memory store (through `EngineTaskSource`) and
//! S3 on moto: real `sh`/`bash` processes, each test in its own temporary folder.

mod support;

use std::{
    path::{Path, PathBuf},
    sync::{
        OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use aws_sdk_s3::{Client, primitives::ByteStream};
use chrono::{NaiveDateTime, TimeDelta};
use serde_json::{Value, json};
use sluice::{
    cloud::probe::FakeProbe,
    definition::read_definition,
    engine::{
        Engine, Limits, Status,
        clock::{ManualClock, SeededRandom},
        operator::InstanceCommand,
        pipelines::ActivateOptions,
    },
    runner::{
        AwsStorage, Ended, EngineTaskSource, Executor, ExecutorSettings, RUNNER_STOPPED, RunSettings, Task, TaskKind,
        TaskOutcome, TaskSource, TaskStatus, run,
    },
    store::{keys, memory::MemoryStore, records, records::InstanceRecord},
    time::parse_datetime,
};
use support::moto::Moto;
use tokio::sync::watch;

const START: &str = "2026-01-01T00:00:00";

fn at(text: &str) -> NaiveDateTime {
    parse_datetime(text).unwrap()
}

/// One moto server for this binary; a fresh bucket per test.
async fn s3() -> (AwsStorage, Client, String) {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    static BUCKETS: AtomicUsize = AtomicUsize::new(0);
    let moto = MOTO.get_or_init(Moto::start);
    let config = moto.sdk_config().await;
    let client = Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let bucket = format!("runner-{}", BUCKETS.fetch_add(1, Ordering::Relaxed));
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    (AwsStorage::new(&config), client, bucket)
}

async fn put(client: &Client, bucket: &str, key: &str, body: &str) {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.as_bytes().to_vec()))
        .send()
        .await
        .unwrap();
}

async fn get(client: &Client, bucket: &str, key: &str) -> String {
    let object = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|error| panic!("s3://{bucket}/{key}: {error:?}"));
    String::from_utf8(object.body.collect().await.unwrap().into_bytes().to_vec()).unwrap()
}

/// A temporary folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "sluice-runner-test-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// The executor's folder for task working folders, which must be empty after a task.
    fn work_root(&self) -> PathBuf {
        let root = self.0.join("work");
        std::fs::create_dir_all(&root).unwrap();
        root
    }

    fn assert_work_cleaned(&self) {
        let left: Vec<_> = std::fs::read_dir(self.0.join("work")).unwrap().collect();
        assert!(left.is_empty(), "task folders left behind: {left:?}");
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct World {
    store: MemoryStore,
    clock: ManualClock,
    random: SeededRandom,
    probe: FakeProbe,
}

impl World {
    /// A pipeline with `objects` (hourly, worker group "wg", no retries), created and ready
    /// for a runner.
    async fn new(objects: Vec<Value>) -> Self {
        Self::with_default(
            json!({"id": "Default", "scheduleType": "cron", "schedule": {"ref": "Hourly"}, "workerGroup": "wg",
                   "failureAndRerunMode": "cascade", "maximumRetries": "0", "retryDelay": "5 minutes"}),
            objects,
        )
        .await
    }

    /// The same with another `Default` object.
    async fn with_default(default: Value, objects: Vec<Value>) -> Self {
        Self::with_parameters(default, objects, json!([])).await
    }

    /// The same with `parameters` declared.
    async fn with_parameters(default: Value, objects: Vec<Value>, parameters: Value) -> Self {
        let world = Self {
            store: MemoryStore::new(),
            clock: ManualClock::new(at(START)),
            random: SeededRandom::new(7),
            probe: FakeProbe::new(),
        };
        let mut all = vec![
            default,
            json!({"id": "Hourly", "type": "Schedule", "period": "1 hour", "startDateTime": START,
                   "occurrences": "1"}),
        ];
        all.extend(objects);
        let definition = read_definition(&json!({ "objects": all, "parameters": parameters }).to_string())
            .unwrap()
            .definition;
        let engine = world.engine();
        assert!(engine.create_pipeline("df-run", "df-run", "df-run").await.unwrap());
        let report = engine.put_definition("df-run", &definition).await.unwrap();
        assert!(!report.errored(), "{report:#?}");
        engine.activate("df-run", &ActivateOptions::default()).await.unwrap();
        world.tick().await;
        world
    }

    fn engine(&self) -> Engine<'_, MemoryStore, FakeProbe> {
        Engine::new(&self.store, &self.clock, &self.random, &self.probe).with_limits(Limits {
            recheck: TimeDelta::minutes(1),
            ..Limits::default()
        })
    }

    async fn tick(&self) {
        let engine = self.engine();
        engine.schedule_step().await.unwrap();
        engine.dependencies_step().await.unwrap();
        engine.watch_step().await.unwrap();
        engine.reap_step().await.unwrap();
    }

    async fn instance(&self, component: &str) -> InstanceRecord {
        let key = keys::instance("df-run", component, at(START));
        records::get::<InstanceRecord, _>(&self.store, &key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no instance of {component}"))
            .record
    }
}

fn executor_settings(temp: &TempDir) -> ExecutorSettings {
    ExecutorSettings {
        work_root: temp.work_root(),
        grace: Duration::from_secs(2),
        ..ExecutorSettings::default()
    }
}

/// Polls one task, runs it to its end and reports the outcome, as one turn of the loop.
async fn run_next(world: &World, storage: &AwsStorage, temp: &TempDir) -> (Task, TaskOutcome) {
    let engine = world.engine();
    let source = EngineTaskSource::new(&engine);
    let task = source.poll("wg", "test-host").await.unwrap().expect("a task for wg");
    assert!(!source.progress(&task.task_id).await.unwrap());
    let executor = Executor::new(storage, executor_settings(temp));
    let (_keep, stop) = watch::channel(None);
    let execution = executor.execute(&task, stop).await;
    assert!(execution.warnings.is_empty(), "{:?}", execution.warnings);
    let Ended::Outcome(outcome) = execution.ended else {
        panic!("the task was stopped: {:?}", execution.ended)
    };
    source.finish(&task.task_id, outcome.clone()).await.unwrap();
    temp.assert_work_cleaned();
    (task, outcome)
}

fn fast(settings: RunSettings) -> RunSettings {
    RunSettings {
        idle_min: Duration::from_millis(10),
        idle_max: Duration::from_millis(50),
        progress_every: Duration::from_millis(50),
        ..settings
    }
}

/// Waits (up to 20 s) until `path` exists.
async fn appears(path: &Path) {
    for _ in 0..400 {
        if path.exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} never appeared", path.display());
}

/// Whether any process of the group `pgid` runs: a zombie (exited, not yet reaped by
/// whoever inherited it once its shell died) runs nothing.
fn group_alive(pgid: &str) -> bool {
    pgid.parse::<u32>()
        .is_ok_and(|pgid| group_members(pgid).iter().any(|(_, state)| state != "Z"))
}

/// Whether the group `pgid` has stopped running within 5 s (the kernel may take a moment to
/// end a process it sent SIGKILL).
async fn group_ended(pgid: &str) -> bool {
    for _ in 0..100 {
        if !group_alive(pgid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Every process in the group `pgid` with its state (`R`, `S`, `Z`...), from
/// `/proc/<pid>/stat`.
fn group_members(pgid: u32) -> Vec<(u32, String)> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...: comm may hold spaces, so read after its ')'
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace()
            .collect();
        if fields.get(2).and_then(|group| group.parse::<u32>().ok()) == Some(pgid) {
            members.push((pid, fields[0].to_owned()));
        }
    }
    members
}

#[tokio::test]
async fn a_command_that_succeeds_finishes_and_its_logs_land_in_aws_layout() {
    // Given an activity that writes to stdout and stderr, with a pipelineLogUri
    let (storage, client, bucket) = s3().await;
    let temp = TempDir::new("success");
    let world = World::new(vec![json!({"id": "Work", "type": "ShellCommandActivity",
        "command": "echo hello; echo warning >&2", "pipelineLogUri": format!("s3://{bucket}/logs/")})])
    .await;

    // When the loop runs until the instance has finished
    let engine = world.engine();
    let source = EngineTaskSource::new(&engine);
    let executor = Executor::new(&storage, executor_settings(&temp));
    let settings = fast(RunSettings::new("wg", "test-host"));
    let done = async {
        while world.instance("Work").await.status != Status::Finished {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let summary = tokio::time::timeout(Duration::from_secs(30), run(&source, &executor, &settings, done))
        .await
        .expect("the loop stops on shutdown");

    // Then it finished once, and stdout/stderr are under the attempt's folder
    assert_eq!(summary.finished, 1, "{summary:?}");
    let folder = format!("logs/df-run/Work/@Work_{START}/@Work_{START}_Attempt=1");
    assert_eq!(get(&client, &bucket, &format!("{folder}/stdout")).await, "hello\n");
    assert_eq!(get(&client, &bucket, &format!("{folder}/stderr")).await, "warning\n");
    temp.assert_work_cleaned();
}

#[tokio::test]
async fn a_failing_command_fails_with_its_exit_status_and_the_end_of_stderr() {
    // Given an activity that fails after writing to stderr, without retries
    let (storage, _, _) = s3().await;
    let temp = TempDir::new("failure");
    let world = World::new(vec![json!({"id": "Work", "type": "ShellCommandActivity",
        "command": "echo first >&2; echo 'disk full' >&2; exit 3"})])
    .await;

    // When it runs
    let (_, outcome) = run_next(&world, &storage, &temp).await;

    // Then it is FAILED with the status and stderr's last lines in the message
    assert_eq!(outcome.status, TaskStatus::Failed);
    let message = outcome.error_message.unwrap();
    assert!(message.contains("exited with status 3"), "{message}");
    assert!(message.ends_with("first\ndisk full"), "{message}");
    let instance = world.instance("Work").await;
    assert_eq!(instance.status, Status::Failed);
    assert!(
        instance
            .error
            .error_message
            .is_some_and(|message| message.contains("disk full"))
    );
}

#[tokio::test]
async fn script_arguments_arrive_as_positional_parameters_and_stdout_may_be_a_local_file() {
    // Given a command printing its arguments, stdout to a local file
    let (storage, _, _) = s3().await;
    let temp = TempDir::new("arguments");
    let out = temp.path().join("logs/out.txt");
    let world = World::new(vec![json!({"id": "Work", "type": "ShellCommandActivity",
        "command": "printf '%s|%s|%s' \"$#\" \"$1\" \"$2\"", "scriptArgument": ["a b", "#{format(@scheduledStartTime,'YYYY')}"],
        "stdout": out.display().to_string()})])
    .await;

    // When it runs
    let (task, outcome) = run_next(&world, &storage, &temp).await;

    // Then each value is one argument, in order, evaluated
    assert_eq!(task.kind, TaskKind::Activity);
    assert_eq!(outcome.status, TaskStatus::Finished, "{outcome:?}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "2|a b|2026");
}

#[tokio::test]
async fn a_script_from_s3_is_downloaded_and_run() {
    // Given a script with a shebang in S3
    let (storage, client, bucket) = s3().await;
    put(
        &client,
        &bucket,
        "scripts/hello.sh",
        "#!/bin/sh\necho \"from script $1\"\n",
    )
    .await;
    let temp = TempDir::new("script");
    let out = temp.path().join("out.txt");
    let world = World::new(vec![json!({"id": "Work", "type": "ShellCommandActivity",
        "scriptUri": format!("s3://{bucket}/scripts/hello.sh"), "scriptArgument": "x",
        "stdout": out.display().to_string()})])
    .await;

    // When it runs
    let (_, outcome) = run_next(&world, &storage, &temp).await;

    // Then it ran (with the argument, which AWS would not pass)
    assert_eq!(outcome.status, TaskStatus::Finished, "{outcome:?}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "from script x\n");
}

#[tokio::test]
async fn a_missing_script_fails_the_task_with_a_message_that_names_it() {
    let (storage, _, bucket) = s3().await;
    let temp = TempDir::new("missing");
    let world = World::new(vec![json!({"id": "Work", "type": "ShellCommandActivity",
        "scriptUri": format!("s3://{bucket}/nope.sh")})])
    .await;
    let (_, outcome) = run_next(&world, &storage, &temp).await;
    assert_eq!(outcome.status, TaskStatus::Failed);
    let message = outcome.error_message.unwrap();
    assert!(
        message.contains("scriptUri") && message.contains("nope.sh"),
        "{message}"
    );
}

#[tokio::test]
async fn staging_downloads_inputs_and_uploads_outputs_of_s3_data_nodes() {
    // Given an input folder and an input file in S3, and an output folder
    let (storage, client, bucket) = s3().await;
    put(&client, &bucket, "in/2026/a.txt", "alpha\n").await;
    put(&client, &bucket, "in/2026/sub/b.txt", "beta\n").await;
    put(&client, &bucket, "in/20260/not-mine.txt", "no\n").await;
    put(&client, &bucket, "single/c.txt", "gamma\n").await;
    let temp = TempDir::new("staging");
    let world = World::new(vec![
        json!({"id": "In", "type": "S3DataNode",
               "directoryPath": format!("s3://{bucket}/in/#{{format(@scheduledStartTime,'YYYY')}}")}),
        json!({"id": "One", "type": "S3DataNode", "filePath": format!("s3://{bucket}/single/c.txt")}),
        json!({"id": "Out", "type": "S3DataNode", "directoryPath": format!("s3://{bucket}/out/")}),
        json!({"id": "Work", "type": "ShellCommandActivity", "stage": "true",
               "input": [{"ref": "In"}, {"ref": "One"}], "output": {"ref": "Out"},
               "command": "cat ${INPUT1_STAGING_DIR}/a.txt ${INPUT1_STAGING_DIR}/sub/b.txt ${INPUT2_STAGING_DIR}/c.txt > ${OUTPUT1_STAGING_DIR}/joined.txt; ls ${INPUT1_STAGING_DIR} > ${OUTPUT1_STAGING_DIR}/listing.txt"}),
    ])
    .await;

    // When it runs
    let (_, outcome) = run_next(&world, &storage, &temp).await;

    // Then the output folder holds what the command wrote
    assert_eq!(outcome.status, TaskStatus::Finished, "{outcome:?}");
    assert_eq!(get(&client, &bucket, "out/joined.txt").await, "alpha\nbeta\ngamma\n");
    assert_eq!(get(&client, &bucket, "out/listing.txt").await, "a.txt\nsub\n");
}

#[tokio::test]
async fn a_failed_command_uploads_no_staged_output() {
    let (storage, client, bucket) = s3().await;
    let temp = TempDir::new("no-upload");
    let world = World::new(vec![
        json!({"id": "Out", "type": "S3DataNode", "directoryPath": format!("s3://{bucket}/out")}),
        json!({"id": "Work", "type": "ShellCommandActivity", "stage": "true", "output": {"ref": "Out"},
               "command": "echo partial > ${OUTPUT1_STAGING_DIR}/x.txt; exit 1"}),
    ])
    .await;
    let (_, outcome) = run_next(&world, &storage, &temp).await;
    assert_eq!(outcome.status, TaskStatus::Failed);
    let listed = client.list_objects_v2().bucket(&bucket).send().await.unwrap();
    assert!(listed.contents().is_empty(), "{listed:?}");
}

#[tokio::test]
async fn a_shell_precondition_is_true_on_exit_zero_and_false_otherwise() {
    for (command, expected, instance_status) in [
        ("test 1 -eq 1", TaskStatus::Finished, Status::WaitingForRunner),
        (
            "echo 'not there' >&2; test -f /definitely/missing",
            TaskStatus::False,
            Status::WaitingOnDependencies,
        ),
    ] {
        // Given an activity gated by a shell precondition
        let (storage, _, _) = s3().await;
        let temp = TempDir::new("precondition");
        let world = World::new(vec![
            json!({"id": "Ready", "type": "ShellCommandPrecondition", "command": command}),
            json!({"id": "Work", "type": "ShellCommandActivity", "command": "true",
                   "precondition": {"ref": "Ready"}}),
        ])
        .await;

        // When the runner checks it
        let (task, outcome) = run_next(&world, &storage, &temp).await;

        // Then the check answers, and the gated activity runs only when it is true
        assert_eq!(task.kind, TaskKind::Precondition);
        assert_eq!(task.object_id, "Ready");
        assert_eq!(outcome.status, expected, "{command}: {outcome:?}");
        if expected == TaskStatus::False {
            assert!(
                outcome
                    .error_message
                    .as_deref()
                    .is_some_and(|m| m.contains("not there"))
            );
        }
        world.clock.advance(TimeDelta::minutes(1));
        world.tick().await;
        assert_eq!(world.instance("Work").await.status, instance_status, "{command}");
    }
}

#[tokio::test]
async fn canceling_a_running_task_kills_its_processes_and_reports_nothing() {
    // Given a long command that records its process group
    let (storage, _, _) = s3().await;
    let temp = TempDir::new("cancel");
    let pid_file = temp.path().join("pid");
    let world = World::new(vec![json!({"id": "Work", "type": "ShellCommandActivity",
        "command": format!("echo $$ > {}; sleep 30; echo never", pid_file.display())})])
    .await;
    let engine = world.engine();
    let source = EngineTaskSource::new(&engine);
    let executor = Executor::new(&storage, executor_settings(&temp));
    let settings = fast(RunSettings::new("wg", "test-host"));

    // When an operator cancels it while it runs, and the runner then stops
    let cancel_then_stop = async {
        appears(&pid_file).await;
        let pgid = std::fs::read_to_string(&pid_file).unwrap().trim().to_owned();
        assert!(group_alive(&pgid));
        engine
            .set_instance_status("df-run", &[format!("@Work_{START}")], InstanceCommand::TryCancel)
            .await
            .unwrap();
        for _ in 0..200 {
            if !group_alive(&pgid) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        pgid
    };
    let (pgid_tx, pgid_rx) = tokio::sync::oneshot::channel();
    let shutdown = async {
        let pgid = cancel_then_stop.await;
        let _ = pgid_tx.send(pgid);
        // Let the loop settle after the kill before stopping it.
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let summary = tokio::time::timeout(Duration::from_secs(30), run(&source, &executor, &settings, shutdown))
        .await
        .expect("the loop stops");

    // Then the process group is gone, the task counted as canceled, not handed back
    let pgid = pgid_rx.await.unwrap();
    assert!(group_ended(&pgid).await, "the command still runs");
    assert_eq!(summary.canceled, 1, "{summary:?}");
    assert_eq!(summary.handed_back, 0, "{summary:?}");
    assert_eq!(world.instance("Work").await.status, Status::Canceled);
    temp.assert_work_cleaned();
}

#[tokio::test]
async fn shutdown_stops_the_command_and_hands_the_task_back_for_a_retry() {
    // Given a long command with one retry allowed
    let (storage, _, _) = s3().await;
    let temp = TempDir::new("shutdown");
    let pid_file = temp.path().join("pid");
    let world = World::new(vec![
        json!({"id": "Work", "type": "ShellCommandActivity", "maximumRetries": "1",
        "command": format!("echo $$ > {}; sleep 30", pid_file.display())}),
    ])
    .await;
    let engine = world.engine();
    let source = EngineTaskSource::new(&engine);
    let executor = Executor::new(&storage, executor_settings(&temp));
    let settings = fast(RunSettings::new("wg", "test-host"));

    // When the runner is told to stop while the command runs
    let summary = tokio::time::timeout(
        Duration::from_secs(30),
        run(&source, &executor, &settings, appears(&pid_file)),
    )
    .await
    .expect("the loop stops promptly");

    // Then the command is gone and the attempt failed with RUNNER_STOPPED, to be retried
    let pgid = std::fs::read_to_string(&pid_file).unwrap().trim().to_owned();
    assert!(group_ended(&pgid).await, "the command still runs");
    assert_eq!(summary.handed_back, 1, "{summary:?}");
    let instance = world.instance("Work").await;
    assert_eq!(instance.status, Status::WaitingForRunner, "{instance:?}");
    assert_eq!(instance.attempts, 2);
    assert_eq!(instance.error.error_id.as_deref(), Some(RUNNER_STOPPED));
    temp.assert_work_cleaned();
}

#[tokio::test]
async fn an_idle_runner_stops_at_once_on_shutdown() {
    let (storage, _, _) = s3().await;
    let temp = TempDir::new("idle");
    let world = World::new(vec![]).await;
    let engine = world.engine();
    let source = EngineTaskSource::new(&engine);
    let executor = Executor::new(&storage, executor_settings(&temp));
    let settings = RunSettings {
        tasks: 3,
        ..RunSettings::new("wg", "test-host")
    };
    let summary = tokio::time::timeout(
        Duration::from_secs(5),
        run(
            &source,
            &executor,
            &settings,
            tokio::time::sleep(Duration::from_millis(100)),
        ),
    )
    .await
    .expect("an idle runner stops without waiting out its back-off");
    assert_eq!(summary, Default::default());
}

#[tokio::test]
async fn a_runner_on_a_resource_stops_when_a_heartbeat_says_its_resource_has_ended() {
    // Given a runner serving the worker group of a resource instance (asked for by the
    // work that runs on it), heartbeating often
    let (storage, _, _) = s3().await;
    let temp = TempDir::new("terminate");
    let world = World::new(vec![
        json!({"id": "Box", "type": "Ec2Resource", "role": "DataPipelineDefaultRole",
               "resourceRole": "DataPipelineDefaultResourceRole"}),
        json!({"id": "Work", "type": "ShellCommandActivity", "command": "true", "runsOn": {"ref": "Box"}}),
    ])
    .await;
    let engine = world.engine();
    let source = EngineTaskSource::new(&engine);
    let executor = Executor::new(&storage, executor_settings(&temp));
    let box_instance = format!("@Box_{START}");
    let settings = RunSettings {
        heartbeat_every: Duration::from_millis(20),
        ..fast(RunSettings::new(&format!("df-run/{box_instance}"), "box-host"))
    };
    // When the resource instance is canceled while the runner runs (and no shutdown comes)
    let cancel = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        world
            .engine()
            .set_instance_status(
                "df-run",
                std::slice::from_ref(&box_instance),
                InstanceCommand::TryCancel,
            )
            .await
            .unwrap();
        std::future::pending::<()>().await;
    };
    let summary = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::select! {
            summary = run(&source, &executor, &settings, std::future::pending()) => summary,
            () = cancel => unreachable!("cancel never ends"),
        }
    })
    .await
    .expect("the runner stops at the service's request");
    // Then it stopped by itself, at the service's request
    assert!(summary.terminated, "{summary:?}");
    assert_eq!(world.instance("Box").await.status, Status::Canceled);
}

/// A world whose activities name no runner: Sluice's activities stage runs them.
async fn serverless_world(objects: Vec<Value>) -> World {
    let world = World::with_default(
        json!({"id": "Default", "scheduleType": "cron", "schedule": {"ref": "Hourly"}, "maximumRetries": "0"}),
        objects,
    )
    .await;
    // Data nodes finish in the first pass; the copies that read them start in the next.
    world.clock.advance(TimeDelta::minutes(1));
    world.tick().await;
    world
}

fn all_the_time() -> bool {
    true
}

#[tokio::test]
async fn the_activities_stage_copies_a_directory_between_s3_data_nodes() {
    // Given objects under a dated input folder, and a copy with no runner
    let (storage, client, bucket) = s3().await;
    for key in [
        "in/2026-01-01/a.csv",
        "in/2026-01-01/sub/b.csv",
        "in/2026-01-02/later.csv",
    ] {
        put(&client, &bucket, key, key).await;
    }
    let world = serverless_world(vec![
        json!({"id": "Day", "type": "S3DataNode",
               "directoryPath": format!("s3://{bucket}/in/#{{format(@scheduledStartTime, 'YYYY-MM-dd')}}")}),
        json!({"id": "Out", "type": "S3DataNode",
               "directoryPath": format!("s3://{bucket}/out/#{{format(@scheduledStartTime, 'YYYY-MM-dd')}}/")}),
        json!({"id": "Copy", "type": "CopyActivity", "input": {"ref": "Day"}, "output": {"ref": "Out"}}),
    ])
    .await;
    let engine = world.engine();
    // When the activities stage runs
    let report = sluice::runner::serverless::serverless_step(&engine, &storage, all_the_time).await;
    // Then the day's objects were copied, keeping their paths, and the copy FINISHED
    assert_eq!((report.finished, report.failed), (1, 0), "{report:?}");
    assert_eq!(
        get(&client, &bucket, "out/2026-01-01/a.csv").await,
        "in/2026-01-01/a.csv"
    );
    assert_eq!(
        get(&client, &bucket, "out/2026-01-01/sub/b.csv").await,
        "in/2026-01-01/sub/b.csv"
    );
    assert!(
        client
            .head_object()
            .bucket(&bucket)
            .key("out/2026-01-01/later.csv")
            .send()
            .await
            .is_err()
    );
    assert_eq!(world.instance("Copy").await.status, Status::Finished);
}

#[tokio::test]
async fn the_activities_stage_copies_a_file_into_a_folder_and_explains_what_it_cannot_run() {
    let (storage, client, bucket) = s3().await;
    put(&client, &bucket, "drop/orders.csv", "1,2,3").await;
    let world = serverless_world(vec![
        json!({"id": "File", "type": "S3DataNode", "filePath": format!("s3://{bucket}/drop/orders.csv")}),
        json!({"id": "Archive", "type": "S3DataNode", "directoryPath": format!("s3://{bucket}/archive")}),
        json!({"id": "Empty", "type": "S3DataNode", "directoryPath": format!("s3://{bucket}/nothing/")}),
        json!({"id": "Copy", "type": "CopyActivity", "input": {"ref": "File"}, "output": {"ref": "Archive"}}),
        json!({"id": "CopyNothing", "type": "CopyActivity", "input": {"ref": "Empty"}, "output": {"ref": "Archive"}}),
        json!({"id": "Shell", "type": "ShellCommandActivity", "command": "echo needs a machine"}),
    ])
    .await;
    let engine = world.engine();
    let report = sluice::runner::serverless::serverless_step(&engine, &storage, all_the_time).await;
    assert_eq!((report.finished, report.failed), (1, 2), "{report:?}");
    assert_eq!(get(&client, &bucket, "archive/orders.csv").await, "1,2,3");
    let nothing = world.instance("CopyNothing").await;
    assert_eq!(nothing.status, Status::Failed);
    let message = nothing.error.error_message.unwrap_or_default();
    assert!(message.contains("nothing to copy under s3://"), "{message}");
    let shell = world.instance("Shell").await;
    assert_eq!(shell.status, Status::Failed);
    assert_eq!(shell.error.error_id.as_deref(), Some("Sluice.NeedsRunner"));
    assert!(
        shell
            .error
            .error_message
            .unwrap_or_default()
            .contains("give it a workerGroup"),
        "the error says what to do"
    );
}

#[tokio::test]
async fn the_activities_stage_stops_when_its_time_is_up() {
    let (storage, client, bucket) = s3().await;
    put(&client, &bucket, "one/x", "x").await;
    let world = serverless_world(vec![
        json!({"id": "In", "type": "S3DataNode", "filePath": format!("s3://{bucket}/one/x")}),
        json!({"id": "Out1", "type": "S3DataNode", "filePath": format!("s3://{bucket}/two/x")}),
        json!({"id": "Out2", "type": "S3DataNode", "filePath": format!("s3://{bucket}/three/x")}),
        json!({"id": "A", "type": "CopyActivity", "input": {"ref": "In"}, "output": {"ref": "Out1"}}),
        json!({"id": "B", "type": "CopyActivity", "input": {"ref": "In"}, "output": {"ref": "Out2"}}),
    ])
    .await;
    let engine = world.engine();
    // With time for one task only, one runs and the other waits for the next call
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let once = || calls.fetch_add(1, Ordering::Relaxed) == 0;
    let report = sluice::runner::serverless::serverless_step(&engine, &storage, once).await;
    assert_eq!(report.finished, 1, "{report:?}");
    let report = sluice::runner::serverless::serverless_step(&engine, &storage, all_the_time).await;
    assert_eq!(report.finished, 1, "{report:?}");
    assert_eq!(world.instance("A").await.status, Status::Finished);
    assert_eq!(world.instance("B").await.status, Status::Finished);
}

#[tokio::test]
async fn the_activities_stage_runs_a_sql_activity_with_its_database_and_its_secret() {
    // Given a SqlActivity with no runner on the machine's PostgreSQL, its password a
    // `*password` field (loopback trusts it, so any password logs in), its script evaluated
    let url =
        std::env::var("SLUICE_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let (_, rest) = url.split_once("://").unwrap();
    let (user, address) = rest.split_once('@').unwrap();
    let table = format!("sluice_serverless_{}", std::process::id());
    let (storage, _, _) = s3().await;
    let world = serverless_world(vec![
        json!({"id": "Warehouse", "type": "JdbcDatabase", "connectionString": format!("jdbc:postgresql://{address}"),
               "jdbcDriverClass": "org.postgresql.Driver", "username": user, "*password": "not-for-logs"}),
        json!({"id": "Load", "type": "SqlActivity", "database": {"ref": "Warehouse"},
               "script": format!("CREATE TABLE {table} (day text); INSERT INTO {table} VALUES (?), ('#{{format(@scheduledStartTime, 'YYYY-MM-dd')}}');"),
               "scriptArgument": "first"}),
        json!({"id": "Broken", "type": "SqlActivity", "database": {"ref": "Warehouse"},
               "script": format!("SELECT 1; SELECT * FROM {table}_missing")}),
    ])
    .await;
    let engine = world.engine();
    // When the activities stage runs
    let report = sluice::runner::serverless::serverless_step(&engine, &storage, all_the_time).await;
    // Then the script ran with the argument and the evaluated day, and the broken one
    // failed naming its statement, with no password in any message
    assert_eq!((report.finished, report.failed), (1, 1), "{report:?}");
    assert_eq!(world.instance("Load").await.status, Status::Finished);
    let broken = world.instance("Broken").await;
    let message = broken.error.error_message.unwrap_or_default();
    assert!(message.contains("statement 2 of 2"), "{message}");
    assert!(!message.contains("not-for-logs"), "{message}");
    let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await.unwrap();
    let days: Vec<String> = sqlx::query_scalar(&format!("SELECT day FROM {table} ORDER BY day"))
        .fetch_all(&mut db)
        .await
        .unwrap();
    assert_eq!(days, ["2026-01-01", "first"]);
    sqlx::Executor::execute(&mut db, sqlx::raw_sql(&format!("DROP TABLE {table}")))
        .await
        .unwrap();
}

/// A secret parameter for the secret tests, long enough to be masked wherever it occurs.
const TOKEN: &str = "s3cr3t-t0ken-42";

/// A pipeline like [`World::new`]'s with the secret parameter `*myToken` (= [`TOKEN`]).
async fn world_with_token(objects: Vec<Value>) -> World {
    World::with_parameters(
        json!({"id": "Default", "scheduleType": "cron", "schedule": {"ref": "Hourly"}, "workerGroup": "wg",
               "failureAndRerunMode": "cascade", "maximumRetries": "0", "retryDelay": "5 minutes"}),
        objects,
        json!([{"id": "*myToken", "type": "String", "default": TOKEN}]),
    )
    .await
}

/// The command line of every process in the process group `pgid`, and the environment of
/// those besides the group's leader (the shell, which was handed the command).
fn group_processes(pgid: u32) -> Vec<(u32, String, String)> {
    group_members(pgid)
        .into_iter()
        .map(|(pid, _)| {
            let read = |name: &str| {
                std::fs::read(format!("/proc/{pid}/{name}"))
                    .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
                    .unwrap_or_default()
            };
            let environ = if pid == pgid { String::new() } else { read("environ") };
            (pid, read("cmdline"), environ)
        })
        .collect()
}

#[tokio::test]
async fn a_secret_a_command_prints_is_masked_in_its_error_logs_and_alarm_and_is_on_no_command_line() {
    use sluice::cloud::notify::FakeNotifier;
    // Given a command that gets a secret parameter in its text and as an argument, prints
    // it to stdout and stderr, and fails while a child process runs
    let (storage, client, bucket) = s3().await;
    let temp = TempDir::new("secret");
    let pid_file = temp.path().join("pid");
    let command = format!(
        "echo $$ > {pid}.tmp && mv {pid}.tmp {pid}; echo \"stdout: #{{*myToken}} $1\"; \
         echo \"stderr: #{{*myToken}}\" >&2; sleep 2; exit 4",
        pid = pid_file.display()
    );
    let world = world_with_token(vec![
        json!({"id": "Work", "type": "ShellCommandActivity", "command": command,
               "scriptArgument": "#{*myToken}", "pipelineLogUri": format!("s3://{bucket}/logs/"),
               "onFail": {"ref": "Page"}}),
        json!({"id": "Page", "type": "SnsAlarm", "topicArn": "arn:aws:sns:us-east-1:1:oncall", "role": "R",
               "subject": "#{node.name} failed", "message": "#{node.errorMessage}"}),
    ])
    .await;
    let engine = world.engine();
    let source = EngineTaskSource::new(&engine);
    let task = source.poll("wg", "test-host").await.unwrap().expect("a task for wg");
    assert!(
        task.object.field("command").unwrap().contains(TOKEN),
        "the runner gets the value"
    );

    // When it runs, its processes looked at while it sleeps
    let executor = Executor::new(&storage, executor_settings(&temp));
    let (_keep, stop) = watch::channel(None);
    let (execution, processes) = tokio::join!(executor.execute(&task, stop), async {
        appears(&pid_file).await;
        let pgid: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        group_processes(pgid)
    });

    // Then no command line of the command's processes holds the secret, nor the
    // environment its children inherit
    assert!(processes.len() >= 2, "the shell and its sleep: {processes:?}");
    for (pid, cmdline, environ) in &processes {
        assert!(!cmdline.contains(TOKEN), "/proc/{pid}/cmdline: {cmdline}");
        assert!(!environ.contains(TOKEN), "/proc/{pid}/environ holds the secret");
    }
    assert!(
        processes
            .iter()
            .any(|(_, cmdline, _)| cmdline.contains("SLUICE_COMMAND"))
    );
    // And the outcome, its stderr tail included, has it masked
    let Ended::Outcome(outcome) = execution.ended else {
        panic!("stopped: {:?}", execution.ended)
    };
    assert!(execution.warnings.is_empty(), "{:?}", execution.warnings);
    assert_eq!(outcome.status, TaskStatus::Failed);
    let message = outcome.error_message.clone().unwrap();
    assert!(message.contains("exited with status 4"), "{message}");
    assert!(message.ends_with("stderr: ********"), "{message}");
    source.finish(&task.task_id, outcome).await.unwrap();
    let recorded = world.instance("Work").await.error.error_message.unwrap_or_default();
    assert!(
        recorded.contains("stderr: ********") && !recorded.contains(TOKEN),
        "{recorded}"
    );
    // And so do the logs uploaded to S3
    let folder = "logs/df-run/Work/@Work_2026-01-01T00:00:00/@Work_2026-01-01T00:00:00_Attempt=1";
    assert_eq!(
        get(&client, &bucket, &format!("{folder}/stdout")).await,
        "stdout: ******** ********\n"
    );
    assert_eq!(
        get(&client, &bucket, &format!("{folder}/stderr")).await,
        "stderr: ********\n"
    );
    // And the alarm that quotes the error
    let notifier = FakeNotifier::new();
    world.engine().actions_step(&notifier).await.unwrap();
    let published = notifier.published();
    assert_eq!(published.len(), 1, "{published:#?}");
    assert!(
        published[0].message.ends_with("stderr: ********"),
        "{}",
        published[0].message
    );
    assert!(!format!("{published:?}").contains(TOKEN), "{published:#?}");
    temp.assert_work_cleaned();
}

#[tokio::test]
async fn a_secret_argument_reaches_a_script_from_the_environment_and_a_shebang_script_is_refused_it() {
    // Given two scripts in S3 printing their first argument, one with a #! line
    let (storage, client, bucket) = s3().await;
    put(&client, &bucket, "plain.sh", "printf '%s|%s' \"$1\" \"$#\"\n").await;
    put(&client, &bucket, "shebang.sh", "#!/bin/sh\nprintf '%s' \"$1\"\n").await;
    let temp = TempDir::new("secret-script");
    let out = temp.path().join("out.txt");
    let world = world_with_token(vec![
        json!({"id": "Plain", "type": "ShellCommandActivity", "scriptUri": format!("s3://{bucket}/plain.sh"),
               "scriptArgument": ["#{*myToken}"], "stdout": out.display().to_string()}),
        json!({"id": "Shebang", "type": "ShellCommandActivity", "scriptUri": format!("s3://{bucket}/shebang.sh"),
               "scriptArgument": ["#{*myToken}"]}),
    ])
    .await;

    // When both run
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        let (task, outcome) = run_next(&world, &storage, &temp).await;
        outcomes.push((task.object_id, outcome));
    }
    outcomes.sort_by(|a, b| a.0.cmp(&b.0));

    // Then the plain script got it as $1, and its log has it masked
    let (_, plain) = &outcomes[0];
    assert_eq!(plain.status, TaskStatus::Finished, "{plain:?}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "********|1");
    // And the #! script, whose interpreter would show it on its command line, was not run
    let (_, shebang) = &outcomes[1];
    assert_eq!(shebang.status, TaskStatus::Failed);
    assert_eq!(shebang.error_id.as_deref(), Some("Sluice.SetupFailed"));
    let message = shebang.error_message.as_deref().unwrap();
    assert!(message.contains("scriptArgument 1 holds a secret value"), "{message}");
    assert!(!message.contains(TOKEN), "{message}");
}
