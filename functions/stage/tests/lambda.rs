//! The four stage binaries as real Lambdas: `cargo lambda watch` serves them, against run
//! records, a topic, a queue and a bucket on moto's server, and `cargo lambda invoke` wakes
//! them with the `events/` fixtures and with batches read from the table's own stream (moto
//! serves the stream but pushes nothing, so the test reads it as the event-source mapping
//! would). The test itself plays the Task Runner.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use chrono::Timelike;
use serde_json::{Value, json};
use sluice::{
    cloud::{AwsProbe, sns::SnsNotifier},
    definition::read_definition,
    engine::{
        Engine, Status,
        clock::{SeededRandom, SystemClock},
        pipelines::ActivateOptions,
        tasks::TaskStatus,
    },
    local::{LambdaWatch, MotoServer},
    store::{
        RunStore,
        dynamodb::{DynamoStore, create_table},
        keys,
        records::{self, ErrorDetails, InstanceRecord},
    },
    time::format_datetime,
};

const TABLE: &str = "runs";

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The AWS CLI against moto; its JSON answer.
/// The start of the one instance of `component` (an on-demand run starts at activation).
async fn items_start(store: &DynamoStore, pipeline: &str, component: &str) -> chrono::NaiveDateTime {
    store
        .query(&keys::pipeline_pk(pipeline), &sluice::store::Range::prefix("INST#", 10))
        .await
        .unwrap()
        .iter()
        .filter_map(|item| records::Stored::<InstanceRecord>::from_item(item).ok())
        .find(|stored| stored.record.component_id == component)
        .map(|stored| stored.record.scheduled_start)
        .unwrap_or_else(|| panic!("no {component} instance in {pipeline}"))
}

fn aws(moto: &MotoServer, args: &[&str]) -> Value {
    let output = Command::new("aws")
        .args(args)
        .args([
            "--endpoint-url",
            &moto.endpoint(),
            "--region",
            "us-east-1",
            "--output",
            "json",
        ])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .expect("the aws CLI (pip install awscli)");
    assert!(
        output.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    if text.trim().is_empty() {
        Value::Null
    } else {
        // `aws s3` answers in words, the other commands in JSON.
        serde_json::from_str(&text).unwrap_or(Value::String(text.into_owned()))
    }
}

/// The table's stream read through the DynamoDB Streams API, batch by batch.
struct Stream<'m> {
    moto: &'m MotoServer,
    iterator: String,
}

impl<'m> Stream<'m> {
    fn open(moto: &'m MotoServer) -> Self {
        let table = aws(moto, &["dynamodb", "describe-table", "--table-name", TABLE]);
        let arn = table["Table"]["LatestStreamArn"].as_str().unwrap().to_owned();
        let stream = aws(moto, &["dynamodbstreams", "describe-stream", "--stream-arn", &arn]);
        let shard = stream["StreamDescription"]["Shards"][0]["ShardId"]
            .as_str()
            .unwrap()
            .to_owned();
        let iterator = aws(
            moto,
            &[
                "dynamodbstreams",
                "get-shard-iterator",
                "--stream-arn",
                &arn,
                "--shard-id",
                &shard,
                "--shard-iterator-type",
                "LATEST",
            ],
        )["ShardIterator"]
            .as_str()
            .unwrap()
            .to_owned();
        Self { moto, iterator }
    }

    /// What arrived since the last batch, as a Lambda DynamoDB Streams event.
    fn batch(&mut self) -> Value {
        let page = aws(
            self.moto,
            &["dynamodbstreams", "get-records", "--shard-iterator", &self.iterator],
        );
        self.iterator = page["NextShardIterator"].as_str().unwrap().to_owned();
        json!({ "Records": page["Records"] })
    }
}

/// `cargo lambda invoke FUNCTION --data-file FILE`: the function's answer.
fn invoke(port: u16, function: &str, file: &Path) -> Value {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let output = Command::new("cargo")
            .args(["lambda", "invoke", function, "--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &port.to_string(), "--data-file"])
            .arg(file)
            .current_dir(workspace())
            .output()
            .expect("cargo lambda (pip install cargo-lambda)");
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        if output.status.success() {
            return serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("{function}: {error}: {stdout}"));
        }
        // The first invoke waits for the watcher to be up and to build the function.
        let starting = stderr.contains("Connection refused") || stderr.contains("error sending request");
        assert!(
            starting && Instant::now() < deadline,
            "invoking {function} failed: {stdout}{stderr}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Writes an event to a file for `--data-file`.
fn event_file(directory: &Path, name: &str, event: &Value) -> PathBuf {
    let path = directory.join(format!("{name}.json"));
    std::fs::write(&path, event.to_string()).unwrap();
    path
}

fn fixture(function: &str, name: &str) -> PathBuf {
    workspace().join(format!("events/{function}/{name}.json"))
}

async fn status(store: &DynamoStore, pipeline: &str, component: &str, start: chrono::NaiveDateTime) -> Status {
    records::get::<InstanceRecord, _>(store, &keys::instance(pipeline, component, start))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no instance of {component}"))
        .record
        .status
}

async fn pipeline(engine: &Engine<'_, DynamoStore, AwsProbe>, id: &str, definition: Value) {
    let definition = read_definition(&definition.to_string()).unwrap().definition;
    engine.create_pipeline(id, id, id).await.unwrap();
    let report = engine.put_definition(id, &definition).await.unwrap();
    assert!(!report.errored(), "{report:#?}");
    engine.activate(id, &ActivateOptions::default()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stage_lambdas_run_a_cascade_an_alarm_a_terminate_and_a_machine_from_ticks_and_stream_batches() {
    // Given moto with the run table, an alarm topic feeding a queue, and a bucket
    let moto = MotoServer::start().unwrap_or_else(|error| panic!("{error}"));
    let config = moto.sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    create_table(&dynamodb, TABLE).await.unwrap();
    let topic = SnsNotifier::new(&config).ensure_topic("alarms").await.unwrap();
    let queue = aws(&moto, &["sqs", "create-queue", "--queue-name", "inbox"])["QueueUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let queue_arn = aws(
        &moto,
        &[
            "sqs",
            "get-queue-attributes",
            "--queue-url",
            &queue,
            "--attribute-names",
            "QueueArn",
        ],
    )["Attributes"]["QueueArn"]
        .as_str()
        .unwrap()
        .to_owned();
    aws(
        &moto,
        &[
            "sns",
            "subscribe",
            "--topic-arn",
            &topic,
            "--protocol",
            "sqs",
            "--notification-endpoint",
            &queue_arn,
        ],
    );
    aws(&moto, &["s3", "mb", "s3://lake"]);
    let source = std::env::temp_dir().join(format!("sluice-lambda-test-{}", std::process::id()));
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("orders.csv"), "1,2,3\n").unwrap();
    aws(
        &moto,
        &[
            "s3",
            "cp",
            &source.join("orders.csv").display().to_string(),
            "s3://lake/in/orders.csv",
        ],
    );

    // And three pipelines: a chain whose first step fails and alarms, an hourly step that
    // runs late and is terminated, and a copy that names no runner
    let store = DynamoStore::new(dynamodb.clone(), TABLE.to_owned());
    let (clock, random, probe) = (SystemClock, SeededRandom::new(11), AwsProbe::new(&config));
    let engine = Engine::new(&store, &clock, &random, &probe);
    pipeline(
        &engine,
        "df-CHAIN",
        json!({"objects": [
            {"id": "Default", "scheduleType": "ondemand", "workerGroup": "wg", "maximumRetries": "0",
             "failureAndRerunMode": "cascade", "role": "DataPipelineDefaultRole"},
            {"id": "Extract", "name": "Nightly extract", "type": "ShellCommandActivity", "command": "extract",
             "onFail": {"ref": "Page"}},
            {"id": "Load", "type": "ShellCommandActivity", "command": "load", "dependsOn": {"ref": "Extract"}},
            {"id": "Page", "type": "SnsAlarm", "topicArn": topic,
             "subject": "#{node.name} #{node.@status}", "message": "#{node.name} failed: #{node.errorMessage}"},
        ]}),
    )
    .await;
    let late = sluice::engine::clock::Clock::now(&clock) - chrono::TimeDelta::minutes(30);
    let late = late.with_nanosecond(0).unwrap_or(late);
    let late_start = format_datetime(late);
    pipeline(
        &engine,
        "df-LATE",
        json!({"objects": [
            {"id": "Default", "scheduleType": "cron", "schedule": {"ref": "Hourly"}, "workerGroup": "slow"},
            {"id": "Hourly", "type": "Schedule", "period": "1 hour", "startDateTime": late_start, "occurrences": "1"},
            {"id": "Slow", "type": "ShellCommandActivity", "command": "sleep 3600", "lateAfterTimeout": "1 minute",
             "onLateAction": {"ref": "Kill"}},
            {"id": "Kill", "type": "Terminate"},
        ]}),
    )
    .await;
    pipeline(
        &engine,
        "df-COPY",
        json!({"objects": [
            {"id": "Default", "scheduleType": "ondemand"},
            {"id": "In", "type": "S3DataNode", "filePath": "s3://lake/in/orders.csv"},
            {"id": "Out", "type": "S3DataNode", "directoryPath": "s3://lake/out/"},
            {"id": "Copy", "type": "CopyActivity", "input": {"ref": "In"}, "output": {"ref": "Out"}},
        ]}),
    )
    .await;

    // And a pipeline whose work runs on an Ec2Resource, whose role exists in the emulator
    aws(
        &moto,
        &[
            "iam",
            "create-instance-profile",
            "--instance-profile-name",
            "DataPipelineDefaultResourceRole",
        ],
    );
    pipeline(
        &engine,
        "df-BOX",
        json!({"objects": [
            {"id": "Default", "scheduleType": "ondemand", "role": "DataPipelineDefaultRole",
             "resourceRole": "DataPipelineDefaultResourceRole"},
            {"id": "Box", "type": "Ec2Resource", "imageId": "ami-12c6146b", "instanceType": "t3.micro"},
            {"id": "OnBox", "type": "ShellCommandActivity", "command": "true", "runsOn": {"ref": "Box"}},
        ]}),
    )
    .await;

    // And the pipeline the events/ fixtures speak of: two chains of a day's run on
    // 2026-01-01 at 06:00 (a backfill)
    let fixtures_pipeline = "df-0EXAMPLE00000000000";
    let definition = json!({"objects": [
        {"id": "Default", "scheduleType": "cron", "schedule": {"ref": "Day"}, "workerGroup": "fixture"},
        {"id": "Day", "type": "Schedule", "period": "1 day", "startDateTime": "2026-01-01T06:00:00", "occurrences": "1"},
        {"id": "Extract", "type": "ShellCommandActivity", "command": "extract"},
        {"id": "Load", "type": "ShellCommandActivity", "command": "load", "dependsOn": {"ref": "Extract"}},
        {"id": "Clean", "type": "ShellCommandActivity", "command": "clean"},
        {"id": "Archive", "type": "ShellCommandActivity", "command": "archive", "dependsOn": {"ref": "Clean"}},
    ]});
    let definition = read_definition(&definition.to_string()).unwrap().definition;
    engine
        .create_pipeline(fixtures_pipeline, "fixtures", "fixtures")
        .await
        .unwrap();
    engine.put_definition(fixtures_pipeline, &definition).await.unwrap();
    let backfill = ActivateOptions {
        allow_backfill: true,
        ..ActivateOptions::default()
    };
    engine.activate(fixtures_pipeline, &backfill).await.unwrap();
    let fixtures_day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
        .unwrap()
        .and_hms_opt(6, 0, 0)
        .unwrap();

    // When cargo lambda watch serves the functions
    let watch = LambdaWatch::start_with(
        &workspace(),
        None,
        &moto.endpoint(),
        TABLE,
        &[
            ("SLUICE_RUNNER_BINARY_URI", "s3://sluice-deploy/sluice"),
            ("SLUICE_API_URL", "https://sluice-api.example"),
        ],
    )
    .unwrap_or_else(|error| panic!("{error}"));
    let port = watch.port();
    let mut stream = Stream::open(&moto);

    // Then the scheduler's tick creates the instances and the preconditions' tick readies them
    let tick = fixture("scheduler", "scheduled-tick");
    let scheduled = invoke(port, "scheduler", &tick);
    assert!(scheduled["changed"].as_u64().unwrap() >= 3, "{scheduled}");
    invoke(port, "preconditions", &fixture("preconditions", "scheduled-tick"));
    // An on-demand run starts at its activation: read it from Extract's instance.
    let items = store
        .query(
            &keys::pipeline_pk("df-CHAIN"),
            &sluice::store::Range::prefix("INST#", 10),
        )
        .await
        .unwrap();
    let start = items
        .iter()
        .filter_map(|item| records::Stored::<InstanceRecord>::from_item(item).ok())
        .find(|stored| stored.record.component_id == "Extract")
        .map(|stored| stored.record.scheduled_start)
        .expect("Extract's instance");
    assert_eq!(
        status(&store, "df-CHAIN", "Extract", start).await,
        Status::WaitingForRunner
    );

    // And when the fixtures' Extract and Clean have finished on their runner, a batch with
    // a malformed record between their two records is answered with no record to deliver
    // again, and the work of both is done: Load and Archive are ready
    for _ in 0..2 {
        let task = engine
            .poll_for_task("fixture", Some("test-runner"))
            .await
            .unwrap()
            .expect("Extract's and Clean's tasks");
        engine
            .set_task_status(&task.task_id, None, TaskStatus::Finished, ErrorDetails::default())
            .await
            .unwrap();
    }
    for waiting in ["Load", "Archive"] {
        assert_eq!(
            status(&store, fixtures_pipeline, waiting, fixtures_day).await,
            Status::WaitingOnDependencies
        );
    }
    let answer = invoke(
        port,
        "preconditions",
        &fixture("preconditions", "stream-malformed-among-good"),
    );
    assert_eq!(answer, json!({ "batchItemFailures": [] }));
    for ready in ["Load", "Archive"] {
        assert_eq!(
            status(&store, fixtures_pipeline, ready, fixtures_day).await,
            Status::WaitingForRunner,
            "{ready}"
        );
    }

    // And when Extract fails on its runner, a stream batch alone cascades Load
    let task = engine
        .poll_for_task("wg", Some("test-runner"))
        .await
        .unwrap()
        .expect("Extract's task");
    engine.report_task_progress(&task.task_id, None).await.unwrap();
    let error = ErrorDetails {
        error_id: Some("Exit1".into()),
        error_message: Some("disk full on /data".into()),
        error_stack_trace: None,
    };
    engine
        .set_task_status(&task.task_id, None, TaskStatus::Failed, error)
        .await
        .unwrap();
    let batch = stream.batch();
    let batch_file = event_file(&source, "batch-failure", &batch);
    let woken = invoke(port, "preconditions", &batch_file);
    assert_eq!(
        status(&store, "df-CHAIN", "Load", start).await,
        Status::CascadeFailed,
        "{woken}"
    );

    // And the actions function, woken by the same batch (every function's event-source
    // mapping gets every batch), sends the alarm with its text evaluated, which arrives in
    // the subscribed queue
    let fired = invoke(port, "actions", &batch_file);
    let deadline = Instant::now() + Duration::from_secs(30);
    let message = loop {
        let received = aws(
            &moto,
            &[
                "sqs",
                "receive-message",
                "--queue-url",
                &queue,
                "--wait-time-seconds",
                "1",
            ],
        );
        if let Some(body) = received["Messages"][0]["Body"].as_str() {
            break serde_json::from_str::<Value>(body).unwrap();
        }
        assert!(Instant::now() < deadline, "no alarm in the queue: {fired}");
    };
    assert_eq!(message["Subject"], "Nightly extract FAILED", "{message}");
    assert_eq!(
        message["Message"], "Nightly extract failed: disk full on /data",
        "{message}"
    );

    // And the late hourly step is terminated by its Terminate action
    invoke(port, "scheduler", &tick);
    invoke(port, "preconditions", &fixture("preconditions", "scheduled-tick"));
    invoke(port, "actions", &fixture("actions", "scheduled-tick"));
    assert_eq!(status(&store, "df-LATE", "Slow", late).await, Status::Canceled);

    // And the activities function copies the object for the copy that names no runner
    invoke(port, "activities", &fixture("activities", "scheduled-tick"));
    let copied = aws(
        &moto,
        &["s3api", "head-object", "--bucket", "lake", "--key", "out/orders.csv"],
    );
    assert_eq!(copied["ContentLength"], 6, "{copied}");

    // And the resources function, woken by the same batch (it shows the Box's launch
    // attempt, made when the preconditions' tick readied OnBox), launches its machine in
    // the emulator, tagged for the Box's worker group
    let box_start = items_start(&store, "df-BOX", "Box").await;
    assert_eq!(status(&store, "df-BOX", "Box", box_start).await, Status::Creating);
    let launched = invoke(port, "resources", &batch_file);
    assert!(
        matches!(
            status(&store, "df-BOX", "Box", box_start).await,
            Status::Activating | Status::Running
        ),
        "{launched}"
    );
    let machines = aws(
        &moto,
        &[
            "ec2",
            "describe-instances",
            "--filters",
            "Name=tag:sluice:pipeline,Values=df-BOX",
        ],
    );
    let machine = &machines["Reservations"][0]["Instances"][0];
    let machine_id = machine["InstanceId"].as_str().expect("a machine").to_owned();
    assert!(
        machine["Tags"]
            .to_string()
            .contains(&format!("df-BOX/@Box_{}", format_datetime(box_start))),
        "{machine}"
    );
    // And once the machine's runner has done the work (here the test, as that worker
    // group), the stream batches alone shut the machine down
    let group = format!("df-BOX/@Box_{}", format_datetime(box_start));
    let task = engine
        .poll_for_task(&group, Some(&machine_id))
        .await
        .unwrap()
        .expect("OnBox's task for the machine's runner");
    engine
        .set_task_status(&task.task_id, None, TaskStatus::Finished, ErrorDetails::default())
        .await
        .unwrap();
    let ended = event_file(&source, "batch-work-ended", &stream.batch());
    invoke(port, "preconditions", &ended);
    let nudged = event_file(&source, "batch-nudged", &stream.batch());
    let shut = invoke(port, "resources", &nudged);
    let box_status = status(&store, "df-BOX", "Box", box_start).await;
    assert!(
        matches!(box_status, Status::ShuttingDown | Status::Finished),
        "{box_status}: {shut}"
    );
    let state = aws(&moto, &["ec2", "describe-instances", "--instance-ids", &machine_id]);
    let state = state["Reservations"][0]["Instances"][0]["State"]["Name"].clone();
    assert!(state == "terminated" || state == "shutting-down", "{state}");

    // And poison and strange events are acknowledged: no record is delivered again
    for function in ["scheduler", "preconditions", "resources", "activities", "actions"] {
        let answer = invoke(port, function, &fixture(function, "stream-poison"));
        assert_eq!(answer, json!({ "batchItemFailures": [] }), "{function}");
        let answer = invoke(port, function, &fixture(function, "not-an-event"));
        assert_eq!(
            answer["skipped"].as_array().map(Vec::len),
            Some(1),
            "{function}: {answer}"
        );
    }
    let _ = std::fs::remove_dir_all(&source);
}
