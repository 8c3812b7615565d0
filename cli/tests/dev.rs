//! `sluice dev` driven the way users drive AWS Data Pipeline: the real `aws datapipeline`
//! CLI for the pipeline operations, and boto3 for a Task Runner's (poll, progress, status).
//! `sluice dev` starts its own emulator; the test starts `sluice dev` on a free port.

use std::{
    io::{BufRead, BufReader},
    net::TcpListener,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use serde_json::Value;

struct Dev {
    child: Child,
    endpoint: String,
    directory: std::path::PathBuf,
    /// What it printed on start, up to the line on how to stop it.
    banner: Vec<String>,
    /// What it prints after.
    output: mpsc::Receiver<String>,
}

impl Dev {
    fn start() -> Self {
        Self::start_with(None)
    }

    /// Starts `sluice dev` against the emulator at `endpoint`, or its own when `None`.
    fn start_with(endpoint: Option<&str>) -> Self {
        Self::launch(endpoint, &[], &[])
    }

    /// Starts `sluice dev` with more arguments and environment variables.
    fn launch(endpoint: Option<&str>, extra: &[&str], environment: &[(&str, &str)]) -> Self {
        Self::launch_on("127.0.0.1", endpoint, extra, environment)
    }

    /// Starts `sluice dev` listening on `ip` (a free port); `endpoint` stays on 127.0.0.1.
    fn launch_on(ip: &str, endpoint: Option<&str>, extra: &[&str], environment: &[(&str, &str)]) -> Self {
        let port = TcpListener::bind(("127.0.0.1", 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let directory = std::env::temp_dir().join(format!("sluice-dev-test-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
        command.args([
            "dev",
            "--listen",
            &format!("{ip}:{port}"),
            "--tick",
            "1",
            "--poll-wait",
            "2",
        ]);
        command.args(extra).envs(environment.iter().copied());
        match endpoint {
            Some(endpoint) => command.env("AWS_ENDPOINT_URL", endpoint),
            None => command.env_remove("AWS_ENDPOINT_URL"),
        };
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
        // Wait for the line that says it is up, reading on a thread so a hang cannot block.
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            // Keep draining after the start line: a closed pipe would stop sluice dev.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut banner = Vec::new();
        loop {
            let line = receiver
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("sluice dev did not say it was running within a minute: {banner:?}"));
            let last = line.starts_with("Stop with Ctrl-C");
            banner.push(line);
            if last {
                break;
            }
        }
        Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            directory,
            banner,
            output: receiver,
        }
    }

    /// The lines it printed after its banner, so far.
    fn lines(&self) -> Vec<String> {
        self.output.try_iter().collect()
    }

    /// `aws datapipeline <args> --endpoint-url ...`, its JSON answer (or `Null`).
    fn aws(&self, args: &[&str]) -> Value {
        let output = self.aws_raw(args);
        assert!(
            output.status.success(),
            "aws datapipeline {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8(output.stdout).unwrap();
        if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        }
    }

    fn aws_raw(&self, args: &[&str]) -> std::process::Output {
        Command::new("aws")
            .arg("datapipeline")
            .args(args)
            .args(["--endpoint-url", &self.endpoint, "--region", "us-east-1"])
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env_remove("AWS_PROFILE")
            .output()
            .expect("the aws CLI (pip install awscli)")
    }

    /// Creates a pipeline from `definition` (file format) with the AWS CLI, saves the
    /// definition and activates it; its id.
    fn activated(&self, name: &str, definition: &str) -> String {
        let file = self.directory.join(format!("{name}.json"));
        std::fs::write(&file, definition).unwrap();
        let unique = format!("{name}-1");
        let id = self.aws(&["create-pipeline", "--name", name, "--unique-id", &unique])["pipelineId"]
            .as_str()
            .unwrap()
            .to_owned();
        self.aws(&[
            "put-pipeline-definition",
            "--pipeline-id",
            &id,
            "--pipeline-definition",
            &format!("file://{}", file.display()),
        ]);
        self.aws(&["activate-pipeline", "--pipeline-id", &id]);
        id
    }

    /// Runs a Python snippet with a boto3 `client` for the endpoint; returns its stdout.
    fn boto3(&self, script: &str) -> String {
        let program = format!(
            "import boto3, json, time\nclient = boto3.client('datapipeline', endpoint_url='{}', region_name='us-east-1', aws_access_key_id='test', aws_secret_access_key='test')\n{script}",
            self.endpoint
        );
        let output = Command::new("python3")
            .args(["-c", &program])
            .output()
            .expect("python3 with boto3");
        assert!(
            output.status.success(),
            "boto3: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        // SIGTERM lets it stop its emulator; then make sure.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

const CHAIN: &str = r#"{
  "objects": [
    { "id": "Default", "scheduleType": "cron", "schedule": { "ref": "Hourly" }, "workerGroup": "wg",
      "failureAndRerunMode": "cascade" },
    { "id": "Hourly", "type": "Schedule", "period": "1 hour", "startAt": "FIRST_ACTIVATION_DATE_TIME" },
    { "id": "Extract", "type": "ShellCommandActivity", "command": "extract #{format(@scheduledStartTime, 'YYYY-MM-dd')}" },
    { "id": "Load", "type": "ShellCommandActivity", "command": "load", "dependsOn": { "ref": "Extract" } }
  ]
}"#;

#[test]
fn the_aws_cli_and_boto3_drive_a_pipeline_through_sluice_dev() {
    let dev = Dev::start();
    let definition = dev.directory.join("chain.json");
    std::fs::write(&definition, CHAIN).unwrap();

    // The pipeline operations, with the real AWS CLI
    let created = dev.aws(&["create-pipeline", "--name", "chain", "--unique-id", "chain-1"]);
    let id = created["pipelineId"].as_str().unwrap().to_owned();
    assert!(id.starts_with("df-"), "{created}");
    let again = dev.aws(&["create-pipeline", "--name", "chain", "--unique-id", "chain-1"]);
    assert_eq!(again["pipelineId"], created["pipelineId"], "idempotent on uniqueId");
    let put = dev.aws(&[
        "put-pipeline-definition",
        "--pipeline-id",
        &id,
        "--pipeline-definition",
        &format!("file://{}", definition.display()),
    ]);
    assert_eq!(put["errored"], false, "{put}");
    let got = dev.aws(&["get-pipeline-definition", "--pipeline-id", &id]);
    let ids: Vec<&str> = got["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|object| object["id"].as_str())
        .collect();
    assert!(ids.contains(&"Extract") && ids.contains(&"Load"), "{got}");
    dev.aws(&["activate-pipeline", "--pipeline-id", &id]);

    // A Task Runner's operations, with boto3: run both tasks of the chain
    let ran = dev.boto3(
        "done = []\n\
         deadline = time.time() + 60\n\
         while len(done) < 2 and time.time() < deadline:\n\
         \x20   task = client.poll_for_task(workerGroup='wg', hostname='boto3-runner').get('taskObject')\n\
         \x20   if not task:\n\
         \x20       time.sleep(0.5)\n\
         \x20       continue\n\
         \x20   progress = client.report_task_progress(taskId=task['taskId'], fields=[{'key': 'phase', 'stringValue': 'half'}])\n\
         \x20   assert progress['canceled'] is False\n\
         \x20   client.set_task_status(taskId=task['taskId'], taskStatus='FINISHED')\n\
         \x20   done.append(task['attemptId'])\n\
         beat = client.report_task_runner_heartbeat(taskrunnerId='boto3-runner-1', workerGroup='wg', hostname='boto3-runner')\n\
         assert beat['terminate'] is False, beat\n\
         started = time.time()\n\
         empty = client.poll_for_task(workerGroup='wg')\n\
         held = time.time() - started\n\
         assert 'taskObject' not in empty, empty\n\
         assert held >= 1.5, held\n\
         print(json.dumps(done))",
    );
    let attempts: Vec<String> = serde_json::from_str(ran.trim()).unwrap();
    assert_eq!(attempts.len(), 2, "{ran}");
    // The fields the runner reported show on its attempt
    let attempt = dev.aws(&["describe-objects", "--pipeline-id", &id, "--object-ids", &attempts[0]]);
    assert!(
        attempt["pipelineObjects"][0]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|field| field["key"] == "phase" && field["stringValue"] == "half"),
        "{attempt}"
    );
    assert!(
        attempts[0].starts_with("@Extract_") && attempts[1].starts_with("@Load_"),
        "{attempts:?}"
    );

    // The runs, as list-runs, describe-objects and query-objects see them
    let deadline = Instant::now() + Duration::from_secs(30);
    let finished = loop {
        let query = dev.aws(&[
            "query-objects",
            "--pipeline-id",
            &id,
            "--sphere",
            "INSTANCE",
            "--objects-query",
            r#"{"selectors":[{"fieldName":"@status","operator":{"type":"EQ","values":["FINISHED"]}}]}"#,
        ]);
        let ids: Vec<String> = query["ids"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|id| id.as_str().map(str::to_owned))
            .collect();
        if ids.len() == 2 || Instant::now() > deadline {
            break ids;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(finished.len(), 2, "{finished:?}");
    let runs = dev.aws_raw(&["list-runs", "--pipeline-id", &id]);
    let runs = String::from_utf8(runs.stdout).unwrap();
    assert_eq!(runs.matches("FINISHED").count(), 2, "{runs}");
    let extract = finished.iter().find(|id| id.starts_with("@Extract_")).unwrap().clone();
    let described = dev.aws(&["describe-objects", "--pipeline-id", &id, "--object-ids", &extract]);
    assert_eq!(described_field(&described, "@status"), "FINISHED", "{described}");

    // Operators: rerun, evaluate an expression, deactivate and delete
    dev.aws(&[
        "set-status",
        "--pipeline-id",
        &id,
        "--object-ids",
        &extract,
        "--status",
        "RERUN",
    ]);
    let described = dev.aws(&["describe-objects", "--pipeline-id", &id, "--object-ids", &extract]);
    let status = described_field(&described, "@status");
    assert_ne!(status, "FINISHED", "rerun");
    let evaluated = dev.aws(&[
        "evaluate-expression",
        "--pipeline-id",
        &id,
        "--object-id",
        "Extract",
        "--expression",
        "#{1 + 2} #{format(makeDate(2026,1,31),'YYYY-MM-dd')}",
    ]);
    assert_eq!(evaluated["evaluatedExpression"], "3 2026-01-31", "{evaluated}");
    dev.aws(&["deactivate-pipeline", "--pipeline-id", &id]);
    dev.aws(&["delete-pipeline", "--pipeline-id", &id]);
    let gone = dev.aws_raw(&["describe-pipelines", "--pipeline-ids", &id]);
    assert!(!gone.status.success());
    let message = String::from_utf8_lossy(&gone.stderr);
    assert!(
        message.contains("PipelineNotFoundException") || message.contains("PipelineDeletedException"),
        "{message}"
    );
}

#[test]
fn sluice_devs_local_runner_runs_shell_commands_and_reports_their_errors() {
    // Given sluice dev on an emulator the test can look into
    let moto = sluice::local::MotoServer::start().unwrap_or_else(|error| panic!("{error}"));
    let dev = Dev::start_with(Some(&moto.endpoint()));
    let id = dev.activated(
        "local",
        r#"{"objects": [
            {"id": "Default", "scheduleType": "ondemand", "pipelineLogUri": "s3://sluice-dev/logs/"},
            {"id": "Greet", "type": "ShellCommandActivity", "command": "echo hello $1", "scriptArgument": ["world"],
             "workerGroup": "local"},
            {"id": "Break", "type": "ShellCommandActivity", "command": "echo no disk >&2; exit 3",
             "maximumRetries": "0", "dependsOn": {"ref": "Greet"}, "workerGroup": "local"},
            {"id": "Box", "type": "Ec2Resource", "role": "DataPipelineDefaultRole",
             "resourceRole": "DataPipelineDefaultResourceRole"},
            {"id": "OnBox", "type": "ShellCommandActivity", "command": "echo on the box", "runsOn": {"ref": "Box"}},
            {"id": "SpotBox", "type": "Ec2Resource", "role": "DataPipelineDefaultRole", "spotBidPrice": "0.05",
             "resourceRole": "DataPipelineDefaultResourceRole", "instanceType": "m5.large"},
            {"id": "OnSpot", "type": "ShellCommandActivity", "command": "echo on spot", "runsOn": {"ref": "SpotBox"}}
        ]}"#,
    );
    // The local runner takes both tasks; the second fails with its exit status and stderr
    let deadline = Instant::now() + Duration::from_secs(60);
    let (status, error) = loop {
        let query = dev.aws(&["query-objects", "--pipeline-id", &id, "--sphere", "INSTANCE"]);
        let ids: Vec<&str> = query["ids"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|id| id.as_str())
            .collect();
        let broken = ids
            .iter()
            .find(|id| id.starts_with("@Break_"))
            .map(|id| (*id).to_owned());
        if let Some(broken) = broken {
            let described = dev.aws(&["describe-objects", "--pipeline-id", &id, "--object-ids", &broken]);
            let field = |key: &str| described_field(&described, key);
            if field("@status") == "FAILED" || Instant::now() > deadline {
                break (field("@status"), field("errorMessage"));
            }
        }
        assert!(Instant::now() < deadline, "no Break instance within a minute");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(status, "FAILED");
    assert!(error.contains("status 3") && error.contains("no disk"), "{error}");
    // The resource is launched on the emulator: a local runner stood in for its machine
    // and ran the work on it, and the machine was terminated once the work had ended
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let query = dev.aws(&["query-objects", "--pipeline-id", &id, "--sphere", "INSTANCE"]);
        let finished = |name: &str| {
            query["ids"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|id| id.as_str())
                .filter(|found| found.starts_with(&format!("@{name}_")))
                .any(|found| {
                    let described = dev.aws(&["describe-objects", "--pipeline-id", &id, "--object-ids", found]);
                    described_field(&described, "@status") == "FINISHED"
                })
        };
        if ["Box", "OnBox", "SpotBox", "OnSpot"].into_iter().all(finished) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the resources and their work did not finish: {query}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let machines = aws_at(
        &moto.endpoint(),
        &[
            "ec2",
            "describe-instances",
            "--filters",
            &format!("Name=tag:sluice:pipeline,Values={id}"),
        ],
    );
    let instances: Vec<&Value> = machines["Reservations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|reservation| reservation["Instances"].as_array().unwrap())
        .collect();
    assert_eq!(instances.len(), 2, "{machines}");
    for instance in &instances {
        assert_eq!(instance["State"]["Name"], "terminated", "{machines}");
        assert!(
            instance["Tags"].to_string().contains("sluice:worker-group"),
            "{machines}"
        );
    }
    let spot: Vec<&&Value> = instances
        .iter()
        .filter(|instance| instance["InstanceLifecycle"] == "spot")
        .collect();
    assert_eq!(spot.len(), 1, "{machines}");
    assert_eq!(spot[0]["InstanceType"], "m5.large");
    assert!(spot[0]["Tags"].to_string().contains("@SpotBox_"), "{machines}");
    assert!(
        dev.lines()
            .iter()
            .any(|line| line.contains("a local runner stands in for it")),
        "{:?}",
        dev.lines()
    );
    // sluice dev made its alarm topic in the emulator and said so
    let topic = "arn:aws:sns:us-east-1:123456789012:sluice-dev-alarms";
    assert!(
        dev.banner
            .iter()
            .any(|line| line.contains(&format!("alarm topic: {topic}"))),
        "{:?}",
        dev.banner
    );
    let topics = Command::new("aws")
        .args([
            "sns",
            "list-topics",
            "--endpoint-url",
            &moto.endpoint(),
            "--region",
            "us-east-1",
        ])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&topics.stdout).contains(topic));
    // And the commands' output is in the dev bucket, in AWS's log layout
    let listed = Command::new("aws")
        .args([
            "s3",
            "ls",
            "--recursive",
            "s3://sluice-dev/logs/",
            "--endpoint-url",
            &moto.endpoint(),
        ])
        .args(["--region", "us-east-1"])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains(&format!("logs/{id}/Greet/@Greet_")) && listed.contains("_Attempt=1/stdout"),
        "{listed}"
    );
}

/// An EmrCluster in `sluice dev`: the cluster is launched on the emulator's EMR, the Hive
/// and then the Pig activity go in as steps named after their attempts and are followed to
/// the end (moto's server as Sluice runs it completes a step a second after it starts: no
/// Hive runs), and the cluster is terminated once its work has ended.
#[test]
fn sluice_dev_runs_hive_then_pig_as_steps_on_an_emr_cluster_in_the_emulator() {
    let moto = sluice::local::MotoServer::start().unwrap_or_else(|error| panic!("{error}"));
    let dev = Dev::start_with(Some(&moto.endpoint()));
    let id = dev.activated(
        "emr",
        r#"{"objects": [
            {"id": "Default", "scheduleType": "ondemand", "pipelineLogUri": "s3://sluice-dev/logs/"},
            {"id": "Cluster", "type": "EmrCluster", "releaseLabel": "emr-6.15.0", "coreInstanceCount": "1",
             "coreInstanceBidPrice": "0.30", "terminateAfter": "2 Hours"},
            {"id": "In", "type": "S3DataNode", "directoryPath": "s3://sluice-dev/in/"},
            {"id": "Out", "type": "S3DataNode", "directoryPath": "s3://sluice-dev/out/"},
            {"id": "Summary", "type": "S3DataNode", "directoryPath": "s3://sluice-dev/summary/"},
            {"id": "Hive", "type": "HiveActivity", "runsOn": {"ref": "Cluster"}, "input": {"ref": "In"},
             "output": {"ref": "Out"}, "hiveScript": "SELECT 1;"},
            {"id": "Pig", "type": "PigActivity", "runsOn": {"ref": "Cluster"}, "dependsOn": {"ref": "Hive"},
             "input": {"ref": "Out"}, "output": {"ref": "Summary"}, "scriptUri": "s3://sluice-dev/summary.pig"}
        ]}"#,
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let objects = loop {
        let objects = described_objects(&dev, &id, "INSTANCE");
        let status = |name: &str| {
            objects
                .iter()
                .find(|(found, _)| found.starts_with(&format!("@{name}_")))
                .map(|(_, described)| described_field(described, "@status"))
                .unwrap_or_default()
        };
        if ["Cluster", "Hive", "Pig"]
            .into_iter()
            .all(|name| status(name) == "FINISHED")
        {
            break objects;
        }
        assert!(
            Instant::now() < deadline,
            "the cluster and its work did not finish within a minute: {objects:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(objects.len(), 6, "{objects:?}");
    // One cluster, terminated, with both steps COMPLETED, each named after its attempt
    let clusters = aws_at(&moto.endpoint(), &["emr", "list-clusters"]);
    let clusters = clusters["Clusters"].as_array().unwrap();
    assert_eq!(clusters.len(), 1, "{clusters:?}");
    assert!(
        clusters[0]["Name"].as_str().unwrap().contains("@Cluster_"),
        "{clusters:?}"
    );
    assert!(
        clusters[0]["Status"]["State"].as_str().unwrap().starts_with("TERMINAT"),
        "{clusters:?}"
    );
    let cluster_id = clusters[0]["Id"].as_str().unwrap();
    let steps = aws_at(&moto.endpoint(), &["emr", "list-steps", "--cluster-id", cluster_id]);
    let mut names: Vec<(String, String)> = steps["Steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| {
            (
                step["Name"].as_str().unwrap().to_owned(),
                step["Status"]["State"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names[0].0.starts_with("@Hive_") && names[0].0.ends_with("_Attempt=1 1/1 hive"),
        "{names:?}"
    );
    assert!(
        names[1].0.starts_with("@Pig_") && names[1].0.ends_with("_Attempt=1 1/1 pig"),
        "{names:?}"
    );
    assert!(names.iter().all(|(_, state)| state == "COMPLETED"), "{names:?}");
    // The Hive attempt says which step it ran and where EMR writes its log
    let attempts = described_objects(&dev, &id, "ATTEMPT");
    let hive = attempts
        .iter()
        .find(|(found, _)| found.starts_with("@Hive_"))
        .map(|(_, described)| described)
        .expect("Hive's attempt");
    assert_eq!(described_field(hive, "hostname"), cluster_id);
    let log = described_field(hive, "emrStepLog");
    assert!(
        log.starts_with(&format!("s3://sluice-dev/logs/{cluster_id}/steps/s-")),
        "{log}"
    );
}

/// The corpus's `LoadTsvFilesInS3ToRedshift` sample, read unchanged from ../shared/samples,
/// runs end to end in `sluice dev`: its Ec2Resource is launched on moto (a local runner
/// stands in for it) and its RedshiftCopyActivity loads a TSV object from moto's S3 into
/// the machine's PostgreSQL, standing in for Redshift, with OVERWRITE_EXISTING.
#[test]
fn the_corpus_s3_tsv_to_redshift_sample_runs_end_to_end_on_postgresql() {
    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/samples/aws-data-pipeline-samples/LoadTsvFilesInS3ToRedshift/LoadTsvFilesInS3ToRedshift.json"
    );
    let definition = std::fs::read_to_string(sample).unwrap_or_else(|error| panic!("{sample}: {error}"));
    let postgres =
        std::env::var("SLUICE_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let (_, rest) = postgres.split_once("://").unwrap();
    let (user, address) = rest.split_once('@').unwrap();
    let psql = |sql: &str| {
        let status = Command::new("psql")
            .args([postgres.as_str(), "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .status()
            .expect("psql");
        assert!(status.success(), "psql {sql}");
    };
    // The sample's table, in its schema (both named in the sample), holding a row the load
    // overwrites and one it keeps
    psql(
        "DROP SCHEMA IF EXISTS schemaNameInRedshift CASCADE; CREATE SCHEMA schemaNameInRedshift; \
         CREATE TABLE schemaNameInRedshift.DestRedshiftTableName (id integer PRIMARY KEY, city text, visits integer); \
         INSERT INTO schemaNameInRedshift.DestRedshiftTableName VALUES (1, 'old', 0), (9, 'kept', 9)",
    );
    let moto = sluice::local::MotoServer::start().unwrap_or_else(|error| panic!("{error}"));
    let emulator = moto.endpoint();
    aws_at(&emulator, &["s3", "mb", "s3://sluice-corpus-input"]);
    // The sample logs to a placeholder bucket; the emulator has it
    aws_at(&emulator, &["s3", "mb", "s3://insert-here-log-location-for-DPL"]);
    let tsv = std::env::temp_dir().join(format!("sluice-corpus-{}.tsv", std::process::id()));
    std::fs::write(&tsv, "1\tOslo\t10\n2\tLima\t\\N\n").unwrap();
    aws_at(
        &emulator,
        &[
            "s3",
            "cp",
            &tsv.display().to_string(),
            "s3://sluice-corpus-input/visits.tsv",
        ],
    );
    let group = aws_at(
        &emulator,
        &[
            "ec2",
            "create-security-group",
            "--group-name",
            "redshift-access",
            "--description",
            "sample",
        ],
    )["GroupId"]
        .as_str()
        .unwrap()
        .to_owned();
    let dev = Dev::start_with(Some(&emulator));
    let file = dev.directory.join("corpus.json");
    std::fs::write(&file, &definition).unwrap();
    let id = dev.aws(&["create-pipeline", "--name", "corpus-tsv", "--unique-id", "corpus-tsv-1"])["pipelineId"]
        .as_str()
        .unwrap()
        .to_owned();
    let connection = format!("jdbc:postgresql://{address}");
    let database = address.rsplit('/').next().unwrap_or("test").to_owned();
    let values = [
        format!("myRedshiftJdbcConnectStr={connection}"),
        format!("myRedshiftDbName={database}"),
        format!("myRedshiftUsername={user}"),
        "myRedshiftPassword=never-shown".to_owned(),
        "*myRedshiftPassword=never-shown".to_owned(),
        "myRedshiftTableName=DestRedshiftTableName".to_owned(),
        "myInputTsvFilesS3Loc=s3://sluice-corpus-input/visits.tsv".to_owned(),
        format!("myRedshiftSecurityGrpIds={group}"),
    ];
    let mut put = vec![
        "put-pipeline-definition".to_owned(),
        "--pipeline-id".to_owned(),
        id.clone(),
        "--pipeline-definition".to_owned(),
        format!("file://{}", file.display()),
        "--parameter-values".to_owned(),
    ];
    put.extend(values.iter().cloned());
    let put: Vec<&str> = put.iter().map(String::as_str).collect();
    let answer = dev.aws(&put);
    assert_eq!(answer["errored"], false, "{answer}");
    dev.aws(&["activate-pipeline", "--pipeline-id", &id]);
    // The load and its machine finish
    wait_until_finished(&dev, &id, &["RedshiftLoadActivity", "Ec2Instance"]);
    // OVERWRITE_EXISTING: row 1 replaced, row 2 added, row 9 kept
    let output = Command::new("psql")
        .args([
            postgres.as_str(),
            "-At",
            "-c",
            "SELECT id || ':' || city || ':' || coalesce(visits::text, 'null') FROM schemaNameInRedshift.DestRedshiftTableName ORDER BY id",
        ])
        .output()
        .expect("psql");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "1:Oslo:10\n2:Lima:null\n9:kept:9\n"
    );
    psql("DROP SCHEMA schemaNameInRedshift CASCADE");
    let _ = std::fs::remove_file(&tsv);
}

/// Waits (90 s at most) until the instances of every named object are FINISHED; fails at
/// once if one FAILED.
fn wait_until_finished(dev: &Dev, pipeline: &str, names: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let objects = described_objects(dev, pipeline, "INSTANCE");
        let status = |name: &str| {
            objects
                .iter()
                .find(|(found, _)| found.starts_with(&format!("@{name}_")))
                .map(|(_, described)| described_field(described, "@status"))
                .unwrap_or_default()
        };
        if names.iter().all(|name| status(name) == "FINISHED") {
            return;
        }
        assert!(
            Instant::now() < deadline && names.iter().all(|name| status(name) != "FAILED"),
            "the pipeline did not finish: {objects:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// `examples/dynamodb-backup.json`, modelled on the corpus's DynamoDB export samples (with
/// CopyActivity doing what their EMR export and import steps did), runs end to end in
/// `sluice dev`: a table on moto's DynamoDB is backed up to S3 in Data Pipeline's export
/// format under a dated folder, and restored into a table in another region.
#[test]
fn sluice_dev_backs_up_a_dynamodb_table_to_s3_and_restores_it_in_another_region() {
    let definition =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/dynamodb-backup.json")).unwrap();
    let moto = sluice::local::MotoServer::start().unwrap_or_else(|error| panic!("{error}"));
    let emulator = moto.endpoint();
    aws_at(&emulator, &["s3", "mb", "s3://sluice-backups"]);
    let key_schema = [
        "--attribute-definitions",
        "AttributeName=id,AttributeType=S",
        "--key-schema",
        "AttributeName=id,KeyType=HASH",
    ];
    let mut create = vec!["dynamodb", "create-table", "--table-name", "orders"];
    create.extend(key_schema);
    create.extend(["--provisioned-throughput", "ReadCapacityUnits=20,WriteCapacityUnits=20"]);
    aws_at(&emulator, &create);
    let mut restore = vec!["dynamodb", "create-table", "--table-name", "orders-restored"];
    restore.extend(key_schema);
    restore.extend(["--billing-mode", "PAY_PER_REQUEST", "--region", "eu-west-1"]);
    aws_at(&emulator, &restore);
    let items = [
        r#"{"id":{"S":"o-1"},"total":{"N":"12.5"},"lines":{"L":[{"S":"tea"},{"N":"2"}]},"paid":{"BOOL":true}}"#,
        r#"{"id":{"S":"o-2"},"note":{"S":"comma, quote \" and\nnewline"},"tags":{"SS":["gift","rush"]}}"#,
        r#"{"id":{"S":"o-3"},"customer":{"M":{"name":{"S":"Zoë"},"vip":{"NULL":true}}}}"#,
    ];
    for item in items {
        aws_at(
            &emulator,
            &["dynamodb", "put-item", "--table-name", "orders", "--item", item],
        );
    }
    let dev = Dev::start_with(Some(&emulator));
    let file = dev.directory.join("backup.json");
    std::fs::write(&file, &definition).unwrap();
    let id = dev.aws(&["create-pipeline", "--name", "backup", "--unique-id", "backup-1"])["pipelineId"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = dev.aws(&[
        "put-pipeline-definition",
        "--pipeline-id",
        &id,
        "--pipeline-definition",
        &format!("file://{}", file.display()),
        "--parameter-values",
        "myOutputS3Loc=s3://sluice-backups/orders",
        "myDDBTableName=orders",
        "myDDBRestoreTableName=orders-restored",
        "myDDBRestoreRegion=eu-west-1",
    ]);
    assert_eq!(answer["errored"], false, "{answer}");
    dev.aws(&["activate-pipeline", "--pipeline-id", &id]);
    wait_until_finished(&dev, &id, &["TableBackupActivity", "TableRestoreActivity"]);
    // The backup is one object of export lines in the dated folder
    let listed = aws_at(
        &emulator,
        &[
            "s3api",
            "list-objects-v2",
            "--bucket",
            "sluice-backups",
            "--prefix",
            "orders/",
        ],
    );
    let keys: Vec<&str> = listed["Contents"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|object| object["Key"].as_str())
        .filter(|key| !key.starts_with("orders/logs/"))
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let dated = keys[0].strip_prefix("orders/").unwrap();
    assert!(
        dated.len() == "2026-11-26-20-00-00/DDBSourceTable.json".len() && dated.ends_with("/DDBSourceTable.json"),
        "{dated}"
    );
    let local = dev.directory.join("backup.lines");
    aws_at(
        &emulator,
        &[
            "s3",
            "cp",
            &format!("s3://sluice-backups/{}", keys[0]),
            &local.display().to_string(),
        ],
    );
    let lines = std::fs::read_to_string(&local).unwrap();
    assert_eq!(lines.lines().count(), 3, "{lines}");
    assert!(lines.contains(r#""tags":{"sS":["gift","rush"]}"#), "{lines}");
    // The restored table in eu-west-1 holds the same items
    let scan = |table: &str, region: &str| {
        let mut found: Vec<Value> = aws_at(
            &emulator,
            &["dynamodb", "scan", "--table-name", table, "--region", region],
        )["Items"]
            .as_array()
            .unwrap()
            .clone();
        found.sort_by_key(|item| item["id"]["S"].as_str().unwrap_or_default().to_owned());
        found
    };
    assert_eq!(scan("orders-restored", "eu-west-1"), scan("orders", "us-east-1"));
    assert_eq!(scan("orders-restored", "eu-west-1").len(), 3);
}

/// A field (its string or its reference) of the one object a describe-objects answer holds.
fn described_field(described: &Value, key: &str) -> String {
    described["pipelineObjects"][0]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|field| field["key"] == key)
        .and_then(|field| field["stringValue"].as_str().or(field["refValue"].as_str()))
        .unwrap_or("")
        .to_owned()
}

#[test]
fn sluice_runner_works_a_worker_group_over_http_and_hands_its_task_back_on_sigterm() {
    // Given sluice dev on an emulator the test can look into, and a pipeline for worker
    // group "remote": a command, one that fails after it, and one that runs long
    let moto = sluice::local::MotoServer::start().unwrap_or_else(|error| panic!("{error}"));
    let dev = Dev::start_with(Some(&moto.endpoint()));
    let id = dev.activated(
        "remote",
        r#"{"objects": [
            {"id": "Default", "scheduleType": "ondemand", "workerGroup": "remote",
             "pipelineLogUri": "s3://sluice-dev/logs/"},
            {"id": "Say", "type": "ShellCommandActivity", "command": "echo from the runner $1",
             "scriptArgument": ["over http"]},
            {"id": "Fail", "type": "ShellCommandActivity", "command": "echo broken pipe >&2; exit 4",
             "maximumRetries": "0", "dependsOn": {"ref": "Say"}},
            {"id": "Slow", "type": "ShellCommandActivity", "command": "sleep 120", "maximumRetries": "1"}
        ]}"#,
    );

    // When `sluice runner` serves the worker group over the API
    let runner = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["runner", "--worker-group", "remote", "--endpoint", &dev.endpoint])
        .args(["--hostname", "http-runner", "--heartbeat-every", "1"])
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let instance = |component: &str| {
        let query = dev.aws(&["query-objects", "--pipeline-id", &id, "--sphere", "INSTANCE"]);
        query["ids"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|id| id.as_str())
            .find(|id| id.starts_with(&format!("@{component}_")))
            .map(|found| dev.aws(&["describe-objects", "--pipeline-id", &id, "--object-ids", found]))
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let (failed, slow) = loop {
        let failed = instance("Fail").filter(|fail| described_field(fail, "@status") == "FAILED");
        let slow = instance("Slow").filter(|slow| described_field(slow, "@status") == "RUNNING");
        if let (Some(failed), Some(slow)) = (failed, slow) {
            break (failed, slow);
        }
        assert!(
            Instant::now() < deadline,
            "the runner did not run Say and Fail and start Slow within a minute"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    // Then Say finished, Fail failed with its exit status and stderr, and Slow is running
    let say = instance("Say").unwrap();
    assert_eq!(described_field(&say, "@status"), "FINISHED", "{say}");
    let error = described_field(&failed, "errorMessage");
    assert!(error.contains("status 4") && error.contains("broken pipe"), "{error}");
    let head = described_field(&slow, "@headAttempt");
    let attempt = dev.aws(&["describe-objects", "--pipeline-id", &id, "--object-ids", &head]);
    assert_eq!(described_field(&attempt, "hostname"), "http-runner", "{attempt}");
    // And the commands' output is under pipelineLogUri in AWS's layout
    let listed = Command::new("aws")
        .args(["s3", "ls", "--recursive", "s3://sluice-dev/logs/"])
        .args(["--endpoint-url", &moto.endpoint(), "--region", "us-east-1"])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains(&format!("logs/{id}/Say/@Say_")) && listed.contains(&format!("logs/{id}/Fail/@Fail_")),
        "{listed}"
    );

    // When the runner gets SIGTERM while Slow runs
    let mut runner = runner;
    Command::new("kill")
        .args(["-TERM", &runner.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = runner.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the runner did not stop within 30 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // Then it exits cleanly, having handed Slow back: its next attempt waits for a runner
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut runner.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("1 handed back"), "{stderr}");
    let slow = instance("Slow").unwrap();
    assert_eq!(described_field(&slow, "@status"), "WAITING_FOR_RUNNER", "{slow}");
    assert_eq!(described_field(&slow, "errorId"), "Sluice.RunnerStopped", "{slow}");
}

/// `sluice <verb> --endpoint <dev>`: exit code and stdout.
fn sluice(dev: &Dev, args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .args(["--endpoint", &dev.endpoint])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "sluice {args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), stdout)
}

#[test]
fn the_sluice_verbs_drive_a_pipeline_through_sluice_dev() {
    let dev = Dev::start();
    let definition = dev.directory.join("verbs.json");
    std::fs::write(
        &definition,
        r#"{"objects": [
            {"id": "Default", "scheduleType": "ondemand", "workerGroup": "local"},
            {"id": "Say", "type": "ShellCommandActivity", "command": "echo said"}
        ]}"#,
    )
    .unwrap();
    let (_, created) = sluice(&dev, &["create", "verbs", "--unique-id", "verbs-1"]);
    let id = created.trim().to_owned();
    assert!(id.starts_with("df-"), "{created}");
    let (_, listed) = sluice(&dev, &["list"]);
    assert!(listed.contains(&id) && listed.contains("verbs"), "{listed}");
    sluice(&dev, &["put", &id, &definition.display().to_string()]);
    let (_, saved) = sluice(&dev, &["definition", &id]);
    assert!(saved.contains("\"Say\""), "{saved}");
    sluice(&dev, &["activate", &id]);
    // The local runner runs it; `runs` shows it FINISHED with its times
    let deadline = Instant::now() + Duration::from_secs(60);
    let runs = loop {
        let (_, runs) = sluice(&dev, &["runs", &id]);
        if runs.contains("FINISHED") || Instant::now() > deadline {
            break runs;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(runs.contains("FINISHED") && runs.contains("1 runs"), "{runs}");
    let instance = runs
        .lines()
        .find_map(|line| line.split_whitespace().find(|word| word.starts_with("@Say_")))
        .unwrap();
    sluice(&dev, &["rerun", &id, instance]);
    let (_, described) = sluice(&dev, &["describe", &id]);
    assert!(described.contains("@pipelineState"), "{described}");
    sluice(&dev, &["deactivate", &id]);
    sluice(&dev, &["delete", &id]);
    let (_, listed) = sluice(&dev, &["list"]);
    assert!(!listed.contains(&id), "{listed}");
}

/// `aws <args> --endpoint-url <endpoint>` for the emulator's services; its JSON answer.
fn aws_at(endpoint: &str, args: &[&str]) -> Value {
    // us-east-1 unless the call names its region.
    let region: &[&str] = if args.contains(&"--region") {
        &[]
    } else {
        &["--region", "us-east-1"]
    };
    let output = Command::new("aws")
        .args(args)
        .args(region)
        .args(["--endpoint-url", endpoint, "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("the aws CLI (pip install awscli)");
    assert!(
        output.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Every object of `sphere` in a pipeline, described: id to its fields.
fn described_objects(dev: &Dev, pipeline: &str, sphere: &str) -> std::collections::BTreeMap<String, Value> {
    let ids = dev.aws(&["query-objects", "--pipeline-id", pipeline, "--sphere", sphere])["ids"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut described = std::collections::BTreeMap::new();
    for id in ids {
        let id = id.as_str().unwrap().to_owned();
        let answer = dev.aws(&["describe-objects", "--pipeline-id", pipeline, "--object-ids", &id]);
        described.insert(id, answer);
    }
    described
}

#[test]
fn the_demo_runs_its_pipelines_to_the_end_with_retries_a_cascade_and_an_alarm() {
    // Given an emulator the test can look into, with its own queue on the alarm topic
    let moto = sluice::local::MotoServer::start().unwrap_or_else(|error| panic!("{error}"));
    let emulator = moto.endpoint();
    let topic = aws_at(&emulator, &["sns", "create-topic", "--name", "sluice-dev-alarms"])["TopicArn"]
        .as_str()
        .unwrap()
        .to_owned();
    let queue = aws_at(&emulator, &["sqs", "create-queue", "--queue-name", "test-alarms"])["QueueUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let queue_arn = aws_at(
        &emulator,
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
    aws_at(
        &emulator,
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

    // When the demo runs, starting sluice dev on that emulator
    let began = Instant::now();
    let demo = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "demo",
            "--examples",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/demo"),
        ])
        .env("AWS_ENDPOINT_URL", &emulator)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let took = began.elapsed();
    let printed = String::from_utf8_lossy(&demo.stdout).into_owned();
    // Then it ends well within two minutes, having printed the live changes, the runs
    // tables and the alarm it read back
    assert!(
        demo.status.success(),
        "sluice demo: {printed}\n{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    assert!(took < Duration::from_secs(120), "the demo took {took:?}");
    for expected in [
        "WAITING_ON_DEPENDENCIES",
        "== flaky-import",
        "== hive-rollup",
        "== nightly-report",
        "== sales-backfill",
        "== spot-crunch",
        "CASCADE_FAILED",
        "Machine time against the work's own time",
        "of the machine time was work",
        "SNS alarm read back from the queue:",
        "Subject: Sluice: Import the partner feed failed",
        "sales/day=",
    ] {
        assert!(printed.contains(expected), "no {expected:?} in {printed}");
    }

    // And the run records, read back through the API of a new sluice dev on the same
    // emulator, say how each pipeline ended
    let dev = Dev::start_with(Some(&emulator));
    let listed = dev.aws(&["list-pipelines"]);
    let pipeline = |name: &str| {
        listed["pipelineIdList"]
            .as_array()
            .unwrap()
            .iter()
            .find(|pipeline| pipeline["name"] == name)
            .and_then(|pipeline| pipeline["id"].as_str())
            .unwrap_or_else(|| panic!("no pipeline {name} in {listed}"))
            .to_owned()
    };
    let field = |described: &Value, key: &str| described_field(described, key);
    let by_component = |instances: &std::collections::BTreeMap<String, Value>, component: &str| {
        let mut found: Vec<Value> = instances
            .values()
            .filter(|described| field(described, "@componentParent") == component)
            .cloned()
            .collect();
        found.sort_by_key(|described| field(described, "@scheduledStartTime"));
        found
    };

    // The backfill copied three days, one instance per day, each after its export landed
    let backfill = described_objects(&dev, &pipeline("sales-backfill"), "INSTANCE");
    let copies = by_component(&backfill, "ArchiveSales");
    assert_eq!(copies.len(), 3, "{backfill:?}");
    let today = chrono::Utc::now().date_naive();
    for (copy, back) in copies.iter().zip([3u64, 2, 1]) {
        let day = today - chrono::Days::new(back);
        assert_eq!(field(copy, "@status"), "FINISHED", "{copy}");
        assert_eq!(field(copy, "@scheduledStartTime"), format!("{day}T00:00:00"));
    }
    for described in backfill.values() {
        assert_eq!(field(described, "@status"), "FINISHED", "{described}");
    }
    let archived = aws_at(
        &emulator,
        &[
            "s3api",
            "list-objects-v2",
            "--bucket",
            "sluice-demo-archive",
            "--prefix",
            "sales/",
        ],
    );
    let keys: Vec<&str> = archived["Contents"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|object| object["Key"].as_str())
        .collect();
    for back in [3u64, 2, 1] {
        let day = today - chrono::Days::new(back);
        assert!(
            keys.contains(&format!("sales/day={day}/orders.csv").as_str()),
            "{keys:?}"
        );
    }

    // The Hive then the Pig step ran on one EMR cluster, terminated when they were done
    let rollup = described_objects(&dev, &pipeline("hive-rollup"), "INSTANCE");
    for described in rollup.values() {
        assert_eq!(field(described, "@status"), "FINISHED", "{described}");
    }
    let [roll_up] = by_component(&rollup, "RollUp").try_into().unwrap();
    let [rank] = by_component(&rollup, "RankLeaders").try_into().unwrap();
    assert!(
        field(&rank, "@actualStartTime") >= field(&roll_up, "@actualEndTime"),
        "{rollup:?}"
    );

    // The chain ran in order on the local runner
    let report = described_objects(&dev, &pipeline("nightly-report"), "INSTANCE");
    let mut previous_end = String::new();
    for component in ["Extract", "Transform", "Load"] {
        let [step] = by_component(&report, component).try_into().unwrap();
        assert_eq!(field(&step, "@status"), "FINISHED", "{step}");
        assert!(field(&step, "@actualStartTime") >= previous_end, "{report:?}");
        previous_end = field(&step, "@actualEndTime");
    }

    // The crunch got a spot machine, ran both steps on it (a stand-in runner serving the
    // machine's worker group), and the machine was terminated once they had ended
    let crunch = pipeline("spot-crunch");
    let instances = described_objects(&dev, &crunch, "INSTANCE");
    for component in ["CrunchBox", "Crunch", "Publish"] {
        let [run] = by_component(&instances, component).try_into().unwrap();
        assert_eq!(field(&run, "@status"), "FINISHED", "{run}");
    }
    let machines = aws_at(
        &emulator,
        &[
            "ec2",
            "describe-instances",
            "--filters",
            &format!("Name=tag:sluice:pipeline,Values={crunch}"),
        ],
    );
    let [machine] = machines["Reservations"][0]["Instances"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .try_into()
        .unwrap();
    assert_eq!(machine["InstanceLifecycle"], "spot", "{machine}");
    assert_eq!(machine["State"]["Name"], "terminated", "{machine}");

    // The flaky import failed three times, waiting 4 s then 8 s between attempts, and its
    // consumer failed with it
    let flaky = pipeline("flaky-import");
    let instances = described_objects(&dev, &flaky, "INSTANCE");
    let [import] = by_component(&instances, "ImportPartnerFeed").try_into().unwrap();
    assert_eq!(field(&import, "@status"), "FAILED", "{import}");
    assert_eq!(field(&import, "@attemptCount"), "3", "{import}");
    assert!(
        field(&import, "errorMessage").contains("connection refused"),
        "{import}"
    );
    let [publish] = by_component(&instances, "PublishFeed").try_into().unwrap();
    assert_eq!(field(&publish, "@status"), "CASCADE_FAILED", "{publish}");
    let attempts = described_objects(&dev, &flaky, "ATTEMPT");
    let mut starts: Vec<chrono::NaiveDateTime> = attempts
        .values()
        .filter(|described| field(described, "@componentParent") == "ImportPartnerFeed")
        .map(|described| sluice::time::parse_datetime(&field(described, "@actualStartTime")).unwrap())
        .collect();
    starts.sort();
    assert_eq!(starts.len(), 3, "{attempts:?}");
    // Times have whole seconds: a 4 s wait shows as 3 s at least.
    assert!((starts[1] - starts[0]).num_seconds() >= 3, "{starts:?}");
    assert!((starts[2] - starts[1]).num_seconds() >= 7, "{starts:?}");

    // And the alarm reached the test's own queue too, every expression evaluated
    let received = aws_at(
        &emulator,
        &[
            "sqs",
            "receive-message",
            "--queue-url",
            &queue,
            "--max-number-of-messages",
            "10",
        ],
    );
    let [message] = received["Messages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .try_into()
        .unwrap();
    let envelope: Value = serde_json::from_str(message["Body"].as_str().unwrap()).unwrap();
    assert_eq!(envelope["Subject"], "Sluice: Import the partner feed failed");
    let text = envelope["Message"].as_str().unwrap();
    let instance_id = import["pipelineObjects"][0]["id"].as_str().unwrap();
    assert_eq!(
        text,
        format!(
            "Import the partner feed ({instance_id}) is FAILED after its retries: {}",
            field(&import, "errorMessage")
        )
    );
    assert!(!text.contains("null"), "{text}");
}

/// The credentials of the signature tests: a key pair `sluice dev --require-signature`
/// checks against and the proxy signs with, as a user's own would be.
const SIGNED: [(&str, &str); 4] = [
    ("AWS_ACCESS_KEY_ID", "AKIDSLUICEPROXYTEST"),
    ("AWS_SECRET_ACCESS_KEY", "sluice-proxy-test-secret"),
    ("AWS_REGION", "us-east-1"),
    ("AWS_DEFAULT_REGION", "us-east-1"),
];

/// `aws datapipeline <args> --endpoint-url <endpoint>` with `environment`: the process's output.
fn aws_signed(endpoint: &str, environment: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    Command::new("aws")
        .arg("datapipeline")
        .args(args)
        .args(["--endpoint-url", endpoint, "--output", "json"])
        .env_remove("AWS_PROFILE")
        .envs(environment.iter().copied())
        .output()
        .expect("the aws CLI (pip install awscli)")
}

/// `sluice proxy` in front of `endpoint` on a free loopback port: the child and its URL.
fn start_proxy(endpoint: &str) -> (Child, String) {
    let port = TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "proxy",
            "--endpoint",
            endpoint,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env_remove("AWS_PROFILE")
        .envs(SIGNED)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let line = receiver
        .recv_timeout(Duration::from_secs(30))
        .expect("sluice proxy says it is running");
    assert!(line.starts_with("Sluice proxy is running: http://127.0.0.1:"), "{line}");
    // Keep draining so a full pipe never blocks it.
    std::thread::spawn(move || receiver.into_iter().for_each(drop));
    (child, format!("http://127.0.0.1:{port}"))
}

/// The deployed API checks signatures made for `lambda` (a function URL with AWS_IAM);
/// `sluice dev --require-signature lambda` checks them the same way. The AWS CLI and boto3
/// sign for `datapipeline`, so they are refused directly and served through `sluice proxy`,
/// which forwards only what was signed with the credentials it holds; the sluice verbs sign
/// for `lambda` themselves.
#[test]
fn the_aws_cli_and_boto3_reach_an_api_that_checks_signatures_through_sluice_proxy() {
    let dev = Dev::launch(None, &["--require-signature", "lambda"], &SIGNED);
    assert!(
        dev.banner
            .iter()
            .any(|line| line.contains("requests must be signed for \"lambda\"")),
        "{:?}",
        dev.banner
    );

    // Directly: the CLI's signature is for datapipeline, and an unsigned request is refused.
    let direct = aws_signed(&dev.endpoint, &SIGNED, &["list-pipelines"]);
    let stderr = String::from_utf8_lossy(&direct.stderr);
    assert!(!direct.status.success());
    assert!(
        stderr.contains("InvalidSignatureException")
            && stderr.contains("Credential should be scoped to correct service: 'lambda'"),
        "{stderr}"
    );
    let unsigned = aws_signed(&dev.endpoint, &SIGNED, &["list-pipelines", "--no-sign-request"]);
    let stderr = String::from_utf8_lossy(&unsigned.stderr);
    assert!(stderr.contains("MissingAuthenticationTokenException"), "{stderr}");

    // Through the proxy: the whole pipeline life cycle with the real CLI.
    let (mut proxy, proxied) = start_proxy(&dev.endpoint);
    let definition = dev.directory.join("proxied.json");
    std::fs::write(&definition, CHAIN).unwrap();
    let json = |output: std::process::Output| -> Value {
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
    };
    let created = json(aws_signed(
        &proxied,
        &SIGNED,
        &["create-pipeline", "--name", "proxied", "--unique-id", "proxied-1"],
    ));
    let id = created["pipelineId"].as_str().unwrap().to_owned();
    let put = json(aws_signed(
        &proxied,
        &SIGNED,
        &[
            "put-pipeline-definition",
            "--pipeline-id",
            &id,
            "--pipeline-definition",
            &format!("file://{}", definition.display()),
        ],
    ));
    assert_eq!(put["errored"], false, "{put}");
    let got = json(aws_signed(
        &proxied,
        &SIGNED,
        &["get-pipeline-definition", "--pipeline-id", &id],
    ));
    assert!(
        got["objects"].as_array().is_some_and(|objects| objects.len() > 2),
        "{got}"
    );
    json(aws_signed(
        &proxied,
        &SIGNED,
        &["activate-pipeline", "--pipeline-id", &id],
    ));
    // The API's own errors come back as it gave them.
    let missing = aws_signed(
        &proxied,
        &SIGNED,
        &["describe-pipelines", "--pipeline-ids", "df-NOSUCHPIPELINE"],
    );
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("PipelineNotFoundException") && stderr.contains("df-NOSUCHPIPELINE"),
        "{stderr}"
    );

    // boto3 through the service's endpoint variable, and a caller without the secret.
    let boto3 = |secret: &str, script: &str| {
        Command::new("python3")
            .args([
                "-c",
                &format!("import boto3, json\nclient = boto3.client('datapipeline')\n{script}"),
            ])
            .env_remove("AWS_PROFILE")
            .envs(SIGNED)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_ENDPOINT_URL_DATA_PIPELINE", &proxied)
            .env("AWS_MAX_ATTEMPTS", "1")
            .output()
            .expect("python3 with boto3")
    };
    let listed = boto3(
        SIGNED[1].1,
        "print(json.dumps([p['id'] for p in client.list_pipelines()['pipelineIdList']]))",
    );
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.contains(&id), "{listed}");
    let stranger = boto3(
        "not-the-secret",
        "client.create_pipeline(name='stranger', uniqueId='stranger-1')",
    );
    let stderr = String::from_utf8_lossy(&stranger.stderr);
    assert!(
        stderr.contains("InvalidSignatureException") && stderr.contains("does not match"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("not-the-secret") && !stderr.contains(SIGNED[1].1),
        "{stderr}"
    );
    let names = json(aws_signed(&proxied, &SIGNED, &["list-pipelines"]));
    assert!(
        !names.to_string().contains("stranger"),
        "nothing was forwarded: {names}"
    );

    // The sluice verbs sign for lambda themselves (SLUICE_SIGNING_NAME, as for a custom domain).
    let verbs = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["list", "--endpoint", &dev.endpoint])
        .env_remove("AWS_PROFILE")
        .envs(SIGNED)
        .env("SLUICE_SIGNING_NAME", "lambda")
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&verbs.stdout);
    assert!(
        verbs.status.success() && listed.contains(&id),
        "{listed}{}",
        String::from_utf8_lossy(&verbs.stderr)
    );
    let _ = proxy.kill();
    let _ = proxy.wait();

    // A proxy whose API cannot be reached says so; one asked to listen beyond loopback refuses.
    let closed = TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (mut nowhere, nowhere_url) = start_proxy(&format!("http://127.0.0.1:{closed}"));
    let unreachable = aws_signed(
        &nowhere_url,
        &[SIGNED[0], SIGNED[1], SIGNED[2], SIGNED[3], ("AWS_MAX_ATTEMPTS", "1")],
        &["list-pipelines"],
    );
    let stderr = String::from_utf8_lossy(&unreachable.stderr);
    assert!(
        stderr.contains(&format!("sluice proxy could not reach http://127.0.0.1:{closed}")),
        "{stderr}"
    );
    let _ = nowhere.kill();
    let _ = nowhere.wait();
    let open = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["proxy", "--endpoint", &dev.endpoint, "--listen", "0.0.0.0:0"])
        .envs(SIGNED)
        .output()
        .unwrap();
    assert_eq!(open.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&open.stderr).contains("loopback only"));
}

/// A ListPipelines call written by hand to `endpoint` with `host` as its Host header: the
/// status code and the body.
fn list_pipelines_with_host(endpoint: &str, host: &str) -> (u16, Value) {
    raw_call_to(endpoint, host, "ListPipelines", b"{}")
}

/// DNS rebinding: a web page whose domain is made to resolve to 127.0.0.1 can have the
/// browser send requests to sluice dev, but they carry the page's name as their Host.
#[test]
fn sluice_dev_refuses_a_request_addressed_to_another_host_and_answers_its_own() {
    // Given sluice dev on a loopback port
    let dev = Dev::start();
    let authority = dev.endpoint.trim_start_matches("http://").to_owned();

    // When a call comes with Host: evil.example
    let (status, body) = list_pipelines_with_host(&dev.endpoint, "evil.example");
    // Then it is refused in the API's error shape, naming the Host and the addresses it answers
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["__type"], "InvalidRequestException", "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("Host \"evil.example\" is not an address this server answers")
            && message.contains(&format!("http://{authority}")),
        "{message}"
    );
    let (status, body) = list_pipelines_with_host(&dev.endpoint, &authority.replace("127.0.0.1", "evil.example"));
    assert_eq!(status, 400, "{body}");

    // And the same call addressed to sluice dev itself is answered
    let (status, body) = list_pipelines_with_host(&dev.endpoint, &authority);
    assert_eq!(status, 200, "{body}");
    assert!(body["pipelineIdList"].is_array(), "{body}");
    let (status, body) = list_pipelines_with_host(&dev.endpoint, &authority.replace("127.0.0.1", "localhost"));
    assert_eq!(status, 200, "{body}");

    // And the AWS CLI (through localhost), boto3 and the Rust SDK (the sluice verbs) still work
    let id = Command::new("aws")
        .args([
            "datapipeline",
            "create-pipeline",
            "--name",
            "hosts",
            "--unique-id",
            "hosts-1",
        ])
        .args(["--endpoint-url", &dev.endpoint.replace("127.0.0.1", "localhost")])
        .args(["--region", "us-east-1", "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("the aws CLI (pip install awscli)");
    assert!(id.status.success(), "{}", String::from_utf8_lossy(&id.stderr));
    let id = serde_json::from_slice::<Value>(&id.stdout).unwrap()["pipelineId"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = dev.boto3("print(json.dumps([p['id'] for p in client.list_pipelines()['pipelineIdList']]))");
    assert!(listed.contains(&id), "{listed}");
    let (_, listed) = sluice(&dev, &["list"]);
    assert!(listed.contains(&id), "{listed}");
}

#[test]
fn sluice_dev_listens_beyond_loopback_only_when_requests_must_be_signed() {
    // Given no --require-signature, When sluice dev is asked to listen on every address
    let open = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["dev", "--listen", "0.0.0.0:0"])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    // Then it refuses before starting anything, saying why and what to do
    let stderr = String::from_utf8_lossy(&open.stderr);
    assert_eq!(open.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--listen 0.0.0.0:0: ")
            && stderr.contains("listens on loopback only (127.0.0.1:PORT)")
            && stderr.contains("--require-signature"),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&open.stdout).contains("running"));

    // Given --require-signature, When it is asked the same, Then it serves, and signed calls
    // reach it (here through 127.0.0.1)
    let dev = Dev::launch_on("0.0.0.0", None, &["--require-signature", "lambda"], &SIGNED);
    assert!(
        dev.banner
            .iter()
            .any(|line| line.contains("API (Data Pipeline protocol): http://0.0.0.0:")),
        "{:?}",
        dev.banner
    );
    let verbs = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["list", "--endpoint", &dev.endpoint])
        .env_remove("AWS_PROFILE")
        .envs(SIGNED)
        .env("SLUICE_SIGNING_NAME", "lambda")
        .output()
        .unwrap();
    assert!(
        verbs.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verbs.stdout),
        String::from_utf8_lossy(&verbs.stderr)
    );
    let (status, body) = list_pipelines_with_host(&dev.endpoint, "rebound.example");
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("InvalidRequestException")),
        "{body}"
    );
}

/// One request a careless user or an attacker might send, and the exact answer it gets.
struct Hostile {
    name: &'static str,
    operation: &'static str,
    body: Vec<u8>,
    /// The error type, or `None` for a definition saved with validation errors (200).
    error: Option<&'static str>,
    /// The exact message (or, for a definition, its first validation error).
    message: String,
}

fn hostile(name: &'static str, operation: &'static str, body: Value, error: &'static str, message: &str) -> Hostile {
    Hostile {
        name,
        operation,
        body: body.to_string().into_bytes(),
        error: Some(error),
        message: message.to_owned(),
    }
}

/// A definition that `PutPipelineDefinition` saves as errored, with its first error.
fn refused_definition(name: &'static str, pipeline: &str, objects: Vec<Value>, first_error: &str) -> Hostile {
    Hostile {
        name,
        operation: "PutPipelineDefinition",
        body: serde_json::json!({"pipelineId": pipeline, "pipelineObjects": objects})
            .to_string()
            .into_bytes(),
        error: None,
        message: first_error.to_owned(),
    }
}

/// A raw Data Pipeline call over HTTP: its status and JSON answer.
fn raw_call(endpoint: &str, operation: &str, body: &[u8]) -> (u16, Value) {
    raw_call_to(endpoint, endpoint.trim_start_matches("http://"), operation, body)
}

/// [`raw_call`] with the `Host` header given.
fn raw_call_to(endpoint: &str, host: &str, operation: &str, body: &[u8]) -> (u16, Value) {
    use std::io::{Read as _, Write as _};
    let address = endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-amz-json-1.1\r\n\
         X-Amz-Target: DataPipeline.{operation}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    // A server may answer (and close) before it has read a body it refuses.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response to {operation}: {response:.300}"));
    (
        status,
        serde_json::from_str(body).unwrap_or(Value::String(body.to_owned())),
    )
}

fn api_object(id: &str, fields: &[(&str, &str)]) -> Value {
    let fields: Vec<Value> = fields
        .iter()
        .map(|(key, value)| match key.strip_prefix('&') {
            Some(key) => serde_json::json!({"key": key, "refValue": value}),
            None => serde_json::json!({"key": key, "stringValue": value}),
        })
        .collect();
    serde_json::json!({"id": id, "name": id, "fields": fields})
}

/// Issue 17: every class of hostile input (sizes, counts, nesting, amplification, overflow,
/// encodings, malformed members of every operation) gets its exact answer from `sluice dev`,
/// which keeps serving, while a healthy pipeline activated first finishes on time beside them.
#[test]
fn hostile_input_gets_exact_answers_and_a_healthy_pipeline_finishes_beside_it() {
    use serde_json::json;
    // Given sluice dev, a healthy on-demand chain on its own runner, and a pipeline to aim at
    let dev = Dev::start();
    let healthy = dev.activated(
        "healthy",
        r#"{"objects": [
            {"id": "Default", "scheduleType": "ondemand", "workerGroup": "local"},
            {"id": "First", "type": "ShellCommandActivity", "command": "true"},
            {"id": "Second", "type": "ShellCommandActivity", "command": "true", "dependsOn": {"ref": "First"}}
        ]}"#,
    );
    let started = Instant::now();
    let (_, created) = raw_call(
        &dev.endpoint,
        "CreatePipeline",
        br#"{"name": "target", "uniqueId": "target"}"#,
    );
    let target = created["pipelineId"].as_str().unwrap().to_owned();
    let default = api_object("Default", &[("scheduleType", "ondemand"), ("workerGroup", "nobody")]);
    let activity = |id: &str, more: &[(&str, &str)]| {
        let mut fields = vec![("type", "ShellCommandActivity"), ("command", "true")];
        fields.extend_from_slice(more);
        api_object(id, &fields)
    };
    let long_id = "A".repeat(300);
    let amplifying: Vec<(String, String)> = (0..12)
        .map(|level| (format!("myL{level}"), format!("#{{myL{}}}", level + 1).repeat(100)))
        .chain([("myL12".to_owned(), "x".to_owned())])
        .collect();
    let mut amplified: Vec<(&str, &str)> = vec![("type", "ShellCommandActivity"), ("command", "#{myL0}")];
    amplified.extend(amplifying.iter().map(|(key, value)| (key.as_str(), value.as_str())));
    let preconditions: Vec<(&str, &str)> = std::iter::repeat_n(("&precondition", "Ready"), 51).collect();
    let mut gated = vec![("type", "ShellCommandActivity"), ("command", "true")];
    gated.extend(preconditions);
    let tags = |count: usize| -> Value {
        (0..count)
            .map(|n| json!({"key": format!("k{n}"), "value": "v"}))
            .collect()
    };
    let cases = vec![
        // Malformed bodies and members
        hostile(
            "missing member",
            "CreatePipeline",
            json!({"uniqueId": "x"}),
            "InvalidRequestException",
            "member \"name\" is required",
        ),
        hostile(
            "empty member",
            "ValidatePipelineDefinition",
            json!({"pipelineId": target, "pipelineObjects": [{"id": "A", "name": "A", "fields": [{"key": "", "stringValue": "v"}]}]}),
            "InvalidRequestException",
            "member \"pipelineObjects[0].fields[0].key\" must not be empty",
        ),
        hostile(
            "wrong type",
            "CreatePipeline",
            json!({"name": 7, "uniqueId": "x"}),
            "SerializationException",
            "member \"name\" must be a string, not a number",
        ),
        Hostile {
            name: "not JSON",
            operation: "CreatePipeline",
            body: b"{not json".to_vec(),
            error: Some("SerializationException"),
            message: "the request body is not valid JSON: key must be a string at line 1 column 2".into(),
        },
        Hostile {
            name: "a list for a body",
            operation: "ListPipelines",
            body: b"[1, 2]".to_vec(),
            error: Some("SerializationException"),
            message: "member \"the request body\" must be an object, not a list".into(),
        },
        Hostile {
            name: "nested 10,000 deep",
            operation: "CreatePipeline",
            body: [b"[".repeat(10_000), b"]".repeat(10_000)].concat(),
            error: Some("SerializationException"),
            message: "the request body is not valid JSON: recursion limit exceeded at line 1 column 128".into(),
        },
        hostile(
            "control character",
            "CreatePipeline",
            json!({"name": "a\u{1}b", "uniqueId": "x"}),
            "InvalidRequestException",
            "member \"name\" contains the character U+0001, which is not allowed",
        ),
        // Sizes, counted in bytes
        hostile(
            "name of 1,025 bytes",
            "CreatePipeline",
            json!({"name": "n".repeat(1025), "uniqueId": "x"}),
            "InvalidRequestException",
            "member \"name\" is 1025 bytes long (UTF-8); at most 1024 are allowed",
        ),
        hostile(
            "multibyte name",
            "CreatePipeline",
            json!({"name": "𝄞".repeat(300), "uniqueId": "x"}),
            "InvalidRequestException",
            "member \"name\" is 1200 bytes long (UTF-8); at most 1024 are allowed",
        ),
        hostile(
            "name and unique id too long for one key",
            "CreatePipeline",
            json!({"name": "#".repeat(700), "uniqueId": "#".repeat(700)}),
            "InvalidRequestException",
            "members \"name\" and \"uniqueId\" are 700 and 700 bytes long; together they must be at most 2040 bytes ('#' and '%' count three)",
        ),
        Hostile {
            name: "a 7 MB body",
            operation: "CreatePipeline",
            body: [&b"{\"name\":\""[..], &b"x".repeat(7 << 20), b"\"}"].concat(),
            error: Some("InvalidRequestException"),
            message: "the request body is 7340043 bytes; at most 6291456 (6 MB, Lambda's limit) are accepted".into(),
        },
        hostile(
            "pipeline id of 2,000 bytes",
            "DeactivatePipeline",
            json!({"pipelineId": "d".repeat(2000)}),
            "InvalidRequestException",
            "member \"pipelineId\" is 2000 bytes long (UTF-8); at most 1024 are allowed",
        ),
        hostile(
            "worker group of 1,025 bytes",
            "PollForTask",
            json!({"workerGroup": "w".repeat(1025)}),
            "InvalidRequestException",
            "member \"workerGroup\" is 1025 bytes long (UTF-8); at most 1024 are allowed",
        ),
        hostile(
            "worker group too long once escaped",
            "PollForTask",
            json!({"workerGroup": "#".repeat(1000)}),
            "InvalidRequestException",
            "member \"workerGroup\" is 1000 bytes long, 3000 with its '#' and '%' counted three times; it names a run record, so at most 2036 are allowed",
        ),
        hostile(
            "task runner id too long once escaped",
            "ReportTaskRunnerHeartbeat",
            json!({"taskrunnerId": "%".repeat(1000)}),
            "InvalidRequestException",
            "member \"taskrunnerId\" is 1000 bytes long, 3000 with its '#' and '%' counted three times; it names a run record, so at most 2037 are allowed",
        ),
        hostile(
            "tag key of 129 bytes",
            "AddTags",
            json!({"pipelineId": target, "tags": [{"key": "k".repeat(129), "value": "v"}]}),
            "InvalidRequestException",
            "member \"tags[0].key\" is 129 bytes long (UTF-8); at most 128 are allowed",
        ),
        // Counts
        hostile(
            "11 tags",
            "CreatePipeline",
            json!({"name": "t", "uniqueId": "t", "tags": tags(11)}),
            "InvalidRequestException",
            "member \"tags\" has 11 items; at most 10 are allowed",
        ),
        hostile(
            "11 tags added",
            "AddTags",
            json!({"pipelineId": target, "tags": tags(11)}),
            "InvalidRequestException",
            "member \"tags\" has 11 items; at most 10 are allowed",
        ),
        hostile(
            "51 tag keys",
            "RemoveTags",
            json!({"pipelineId": target, "tagKeys": vec!["k"; 51]}),
            "InvalidRequestException",
            "member \"tagKeys\" has 51 items; at most 50 are allowed",
        ),
        hostile(
            "1,001 fields on an object",
            "PutPipelineDefinition",
            json!({"pipelineId": target, "pipelineObjects": [{"id": "A", "name": "A",
                "fields": (0..1001).map(|n| json!({"key": format!("myF{n}"), "stringValue": "v"})).collect::<Vec<_>>()}]}),
            "InvalidRequestException",
            "member \"pipelineObjects[0].fields\" has 1001 items; at most 1000 are allowed",
        ),
        hostile(
            "1,001 parameter values",
            "ActivatePipeline",
            json!({"pipelineId": target, "parameterValues": vec![json!({"id": "myP", "stringValue": "v"}); 1001]}),
            "InvalidRequestException",
            "member \"parameterValues\" has 1001 items; at most 1000 are allowed",
        ),
        hostile(
            "26 pipelines described",
            "DescribePipelines",
            json!({"pipelineIds": (0..26).map(|n| format!("df-{n}")).collect::<Vec<_>>()}),
            "InvalidRequestException",
            "member \"pipelineIds\" has 26 items; at most 25 are allowed",
        ),
        hostile(
            "26 objects described",
            "DescribeObjects",
            json!({"pipelineId": target, "objectIds": (0..26).map(|n| format!("o{n}")).collect::<Vec<_>>()}),
            "InvalidRequestException",
            "member \"objectIds\" has 26 items; at most 25 are allowed",
        ),
        hostile(
            "11 selectors",
            "QueryObjects",
            json!({"pipelineId": target, "sphere": "INSTANCE", "query": {"selectors":
                vec![json!({"fieldName": "@status", "operator": {"type": "EQ", "values": ["X"]}}); 11]}}),
            "InvalidRequestException",
            "member \"query.selectors\" has 11 items; at most 10 are allowed",
        ),
        hostile(
            "a page of none",
            "QueryObjects",
            json!({"pipelineId": target, "sphere": "COMPONENT", "limit": 0}),
            "InvalidRequestException",
            "member \"limit\" is 0; it must be between 1 and 1000",
        ),
        hostile(
            "a page of a trillion",
            "QueryObjects",
            json!({"pipelineId": target, "sphere": "COMPONENT", "limit": 1_000_000_000_000_i64}),
            "InvalidRequestException",
            "member \"limit\" is 1000000000000; it must be between 1 and 1000",
        ),
        hostile(
            "1,001 ids to pause",
            "SetStatus",
            json!({"pipelineId": target, "objectIds": vec!["A"; 1001], "status": "PAUSE"}),
            "InvalidRequestException",
            "member \"objectIds\" has 1001 items; at most 1000 are allowed",
        ),
        hostile(
            "51 reported fields",
            "ReportTaskProgress",
            json!({"taskId": "t", "fields": (0..51).map(|n| json!({"key": format!("k{n}"), "stringValue": "v"})).collect::<Vec<_>>()}),
            "InvalidRequestException",
            "member \"fields\" has 51 items; at most 50 are allowed",
        ),
        // Values out of range
        hostile(
            "a start a billion years on",
            "ActivatePipeline",
            json!({"pipelineId": target, "startTimestamp": 1e15}),
            "InvalidRequestException",
            "member \"startTimestamp\" (1000000000000000) is not a time Sluice can represent",
        ),
        hostile(
            "unknown version",
            "GetPipelineDefinition",
            json!({"pipelineId": target, "version": "bogus"}),
            "InvalidRequestException",
            "member \"version\" is \"bogus\"; it is \"latest\" or \"active\"",
        ),
        hostile(
            "unknown sphere",
            "QueryObjects",
            json!({"pipelineId": target, "sphere": "BOGUS"}),
            "InvalidRequestException",
            "member \"sphere\" is \"BOGUS\"; it is COMPONENT, INSTANCE or ATTEMPT",
        ),
        hostile(
            "unknown status",
            "SetStatus",
            json!({"pipelineId": target, "objectIds": ["A"], "status": "EXPLODE"}),
            "InvalidRequestException",
            "member \"status\" is \"EXPLODE\": components take PAUSE or RESUME, instances TRY_CANCEL, RERUN or MARK_FINISHED",
        ),
        hostile(
            "unknown task status",
            "SetTaskStatus",
            json!({"taskId": "t", "taskStatus": "BOGUS"}),
            "InvalidRequestException",
            "member \"taskStatus\" is \"BOGUS\"; it is FINISHED, FAILED or FALSE",
        ),
        // What does not exist
        hostile(
            "no such pipeline",
            "DescribePipelines",
            json!({"pipelineIds": ["df-NOPE"]}),
            "PipelineNotFoundException",
            "pipeline \"df-NOPE\" does not exist",
        ),
        hostile(
            "no such task",
            "ReportTaskProgress",
            json!({"taskId": "nope"}),
            "TaskNotFoundException",
            "task \"nope\" does not exist, or has ended long ago",
        ),
        hostile(
            "a task id no task can have",
            "SetTaskStatus",
            json!({"taskId": "#".repeat(2000), "taskStatus": "FINISHED"}),
            "TaskNotFoundException",
            &format!("task \"{}\" does not exist, or has ended long ago", "#".repeat(2000)),
        ),
        hostile(
            "activating an errored definition",
            "ActivatePipeline",
            json!({"pipelineId": target}),
            "InvalidRequestException",
            &format!("pipeline \"{target}\" has no definition to activate"),
        ),
        // Definitions that validate as errored, naming the object, the field and the limit
        refused_definition(
            "an id of 300 bytes",
            &target,
            vec![default.clone(), activity(&long_id, &[])],
            "the id is 300 bytes (UTF-8); ids are at most 256 bytes, as in AWS Data Pipeline",
        ),
        refused_definition(
            "a worker group of 2,000 bytes",
            &target,
            vec![default.clone(), activity("A", &[("workerGroup", &"w".repeat(2000))])],
            "workerGroup: the worker group is 2000 bytes (UTF-8); a runner can ask for the work of a worker group of at most 1024 bytes (PollForTask's limit)",
        ),
        refused_definition(
            "51 preconditions",
            &target,
            vec![
                default.clone(),
                api_object("Ready", &[("type", "Exists")]),
                api_object("A", &gated),
            ],
            "precondition: 51 preconditions; Sluice checks at most 50 on one object (they start together): gate the object on a data node or an upstream activity that holds the rest",
        ),
        refused_definition(
            "a retry delay past the calendar",
            &target,
            vec![default.clone(), activity("A", &[("retryDelay", "999999999 years")])],
            "retryDelay: \"999999999 years\" is longer than the most Sluice allows (10 years): write 10 years or less",
        ),
        refused_definition(
            "a parent of itself",
            &target,
            vec![default.clone(), activity("A", &[("&parent", "A")])],
            "parent: parent cycle A → A: an object cannot inherit from itself",
        ),
        refused_definition(
            "references that multiply to 100^12",
            &target,
            vec![default.clone(), api_object("A", &amplified)],
            "command: evaluating it builds a value longer than 1 MiB (1048576 bytes), in field \"myL8\" of object \"A\": field values that repeat references to each other multiply in length; simplify the references",
        ),
    ];
    assert!(cases.len() >= 40, "{} cases", cases.len());
    // When each is sent
    let mut wrong = Vec::new();
    for case in &cases {
        let (status, answer) = raw_call(&dev.endpoint, case.operation, &case.body);
        let got = match case.error {
            Some(_) => (
                status,
                answer["__type"].as_str().map(str::to_owned),
                answer["message"].as_str().map(str::to_owned),
            ),
            None => (
                status,
                None,
                answer["validationErrors"][0]["errors"][0].as_str().map(str::to_owned),
            ),
        };
        let expected = (
            if case.error.is_some() { 400 } else { 200 },
            case.error.map(str::to_owned),
            Some(case.message.clone()),
        );
        if got != expected {
            wrong.push(format!("{}: expected {expected:?}\n  got {got:?}", case.name));
        }
        // Then sluice dev is still serving
        let (status, _) = raw_call(&dev.endpoint, "ListPipelines", b"{}");
        assert_eq!(status, 200, "sluice dev stopped serving after {}", case.name);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // And the healthy pipeline finished, on time
    wait_until_finished(&dev, &healthy, &["First", "Second"]);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(60), "the healthy pipeline took {took:?}");
}

/// Starts `sluice dev` on `emulator` as `Dev::launch` does, with what it logs (its stderr)
/// going to `log`.
fn launch_logging_to(emulator: &str, log: &std::path::Path) -> Dev {
    let port = TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let directory = std::env::temp_dir().join(format!("sluice-dev-test-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "dev",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--tick",
            "1",
            "--poll-wait",
            "2",
        ])
        .env("AWS_ENDPOINT_URL", emulator)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let mut banner = Vec::new();
    while !banner
        .last()
        .is_some_and(|line: &String| line.starts_with("Stop with Ctrl-C"))
    {
        let line = receiver
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("sluice dev did not say it was running within a minute: {banner:?}"));
        banner.push(line);
    }
    Dev {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
        directory,
        banner,
        output: receiver,
    }
}

/// Makes the run table through the AWS CLI, with the layout sluice's `create_table` gives it.
fn create_run_table(emulator: &str, table: &str) {
    aws_at(
        emulator,
        &[
            "dynamodb",
            "create-table",
            "--table-name",
            table,
            "--billing-mode",
            "PAY_PER_REQUEST",
            "--attribute-definitions",
            "AttributeName=pk,AttributeType=S",
            "AttributeName=sk,AttributeType=S",
            "AttributeName=due_pk,AttributeType=S",
            "AttributeName=due_sk,AttributeType=S",
            "--key-schema",
            "AttributeName=pk,KeyType=HASH",
            "AttributeName=sk,KeyType=RANGE",
            "--global-secondary-indexes",
            r#"[{"IndexName": "due", "Projection": {"ProjectionType": "ALL"},
                 "KeySchema": [{"AttributeName": "due_pk", "KeyType": "HASH"},
                               {"AttributeName": "due_sk", "KeyType": "RANGE"}]}]"#,
            "--stream-specification",
            "StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES",
        ],
    );
}

/// Waits (60 s at most) until `log` has a line that `wanted` accepts; that line.
fn logged(log: &std::path::Path, what: &str, wanted: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(line) = text.lines().find(|line| wanted(line)) {
            return line.to_owned();
        }
        assert!(Instant::now() < deadline, "sluice dev never logged {what}:\n{text}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_failing_stage_is_logged_and_run_again_while_the_api_serves_and_later_pipelines_finish() {
    // Given sluice dev on an emulator the test can look into, its stderr in a file
    let moto = sluice::local::MotoServer::start().unwrap_or_else(|error| panic!("{error}"));
    let emulator = moto.endpoint();
    let log = std::env::temp_dir().join(format!("sluice-dev-restarts-{}.log", std::process::id()));
    let dev = launch_logging_to(&emulator, &log);

    // When its run table is deleted under it
    aws_at(&emulator, &["dynamodb", "delete-table", "--table-name", "sluice-dev"]);

    // Then each stage's failure is logged with the stage's name, its error and when it
    // runs again
    let failed = logged(&log, "a stage's failure", |line| {
        line.starts_with("sluice dev: scheduler failed: ") && line.contains("; it runs again in ")
    });
    assert!(failed.contains("ResourceNotFoundException"), "{failed}");
    // And the stage waits longer after each failure in a row
    logged(&log, "a second wait", |line| {
        line.starts_with("sluice dev: scheduler failed: ") && line.ends_with("; it runs again in 2 s")
    });
    // And the API keeps answering meanwhile, in its own error shape
    let authority = dev.endpoint.trim_start_matches("http://").to_owned();
    let (status, body) = list_pipelines_with_host(&dev.endpoint, &authority);
    assert!(status >= 400 && body["__type"].is_string(), "{status} {body}");

    // When the table is made again
    create_run_table(&emulator, "sluice-dev");

    // Then the stages run again, and a pipeline activated afterwards runs to the end on the
    // local runner
    let id = dev.activated(
        "after",
        r#"{"objects": [
            {"id": "Default", "scheduleType": "ondemand", "workerGroup": "local"},
            {"id": "Hello", "type": "ShellCommandActivity", "command": "echo hello"},
            {"id": "Again", "type": "ShellCommandActivity", "command": "echo again", "dependsOn": {"ref": "Hello"}}
        ]}"#,
    );
    wait_until_finished(&dev, &id, &["Hello", "Again"]);
    logged(&log, "the scheduler running again", |line| {
        line == "sluice dev: scheduler runs again"
    });
    let _ = std::fs::remove_file(&log);
}
