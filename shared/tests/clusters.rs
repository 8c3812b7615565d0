//! `EmrCluster`s and the EMR activities that run on them as steps (reference §2.4, §2.5),
//! through the engine with the compute port's in-memory EMR, where steps end on cue (moto's
//! never do); and the EMR adapter itself against moto's server.

mod support;

use chrono::TimeDelta;
use serde_json::{Value, json};
use sluice::{
    cloud::compute::{
        AwsCompute, BootstrapAction, ClusterConfiguration, ClusterLaunch, ClusterSpec, Compute, MachineState, Market,
        NodeGroup, StepSpec, StepState, emr::cluster_name,
    },
    engine::{
        Status,
        clusters::{COMMAND_RUNNER, split_escaped, step_specs},
        operator::InstanceCommand,
        tasks::TaskAssignment,
    },
    store::records::AttemptKind,
};
use support::{
    machines::{PIPELINE, START, World, assert_says},
    moto::Moto,
};

/// A pipeline whose `Hive` (an inline script) and then `Pig` (a script in S3) run on
/// `Cluster`, an EmrCluster with `cluster_fields` on top of a release label; `activity`
/// fields go on both activities.
async fn cluster_world(cluster_fields: Value, activity: Value) -> World {
    let mut cluster = json!({"id": "Cluster", "type": "EmrCluster", "releaseLabel": "emr-6.15.0",
                             "role": "DataPipelineDefaultRole", "resourceRole": "DataPipelineDefaultResourceRole"});
    for (key, value) in cluster_fields.as_object().cloned().unwrap_or_default() {
        cluster[key] = value;
    }
    let mut hive = json!({"id": "Hive", "type": "HiveActivity", "runsOn": {"ref": "Cluster"},
                          "input": {"ref": "In"}, "output": {"ref": "Out"},
                          "hiveScript": "INSERT OVERWRITE TABLE ${output1} SELECT * FROM ${input1};",
                          "scriptVariable": ["DAY=#{format(@scheduledStartTime, 'YYYY-MM-dd')}", "LIMIT=10"]});
    let mut pig = json!({"id": "Pig", "type": "PigActivity", "runsOn": {"ref": "Cluster"}, "dependsOn": {"ref": "Hive"},
                         "input": {"ref": "Out"}, "output": {"ref": "Summary"},
                         "scriptUri": "s3://scripts/summary.pig", "scriptVariable": "column1=First"});
    for (key, value) in activity.as_object().cloned().unwrap_or_default() {
        hive[key.clone()] = value.clone();
        pig[key] = value;
    }
    World::new(json!({"objects": [
        {"id": "Default", "scheduleType": "ondemand", "failureAndRerunMode": "cascade",
         "retryDelay": "2 minutes", "maximumRetries": "1"},
        cluster,
        {"id": "In", "type": "S3DataNode", "directoryPath": "s3://data/in/"},
        {"id": "Out", "type": "S3DataNode", "directoryPath": "s3://data/out/"},
        {"id": "Summary", "type": "S3DataNode", "directoryPath": "s3://data/summary/"},
        hive,
        pig,
    ]}))
    .await
}

/// The steps added so far, by name.
fn step_names(world: &World) -> Vec<String> {
    world
        .compute
        .added_steps()
        .into_iter()
        .map(|(_, step)| step.name)
        .collect()
}

/// The value of a field the attempt's runner reported.
fn reported(attempt: &sluice::store::records::AttemptRecord, key: &str) -> Option<String> {
    attempt
        .reported_fields
        .iter()
        .find(|field| field.key == key)
        .and_then(|field| field.string_value.clone())
}

#[tokio::test]
async fn an_emr_cluster_runs_a_hive_and_a_pig_activity_as_steps_and_follows_them_to_the_end() {
    // Given a Hive then a Pig activity on an EmrCluster with spot core nodes, a bootstrap
    // action, a configuration and a log location
    let world = World::new(json!({"objects": [
        {"id": "Default", "scheduleType": "ondemand", "failureAndRerunMode": "cascade",
         "retryDelay": "2 minutes", "maximumRetries": "1"},
        {"id": "Cluster", "type": "EmrCluster", "releaseLabel": "emr-6.15.0", "applications": ["Hive", "Pig"],
         "masterInstanceType": "m5.xlarge", "coreInstanceType": "r5.xlarge", "coreInstanceCount": "2",
         "coreInstanceBidPrice": "0.30", "taskInstanceType": "c5.xlarge", "taskInstanceCount": "3",
         "taskInstanceBidPrice": "0.20", "keyPair": "ops", "subnetId": "subnet-1", "region": "us-west-2",
         "bootstrapAction": "s3://scripts/setup.sh,--mode,fast\\,safe",
         "configuration": {"ref": "YarnSite"}, "emrLogUri": "s3://logs/emr", "terminateAfter": "2 Hours",
         "role": "DataPipelineDefaultRole", "resourceRole": "DataPipelineDefaultResourceRole"},
        {"id": "YarnSite", "type": "EmrConfiguration", "classification": "yarn-site",
         "property": [{"ref": "Memory"}], "configuration": {"ref": "Nested"}},
        {"id": "Nested", "type": "EmrConfiguration", "classification": "export"},
        {"id": "Memory", "type": "Property", "key": "yarn.nodemanager.resource.memory-mb", "value": "11520"},
        {"id": "In", "type": "S3DataNode", "directoryPath": "s3://data/in/"},
        {"id": "Out", "type": "S3DataNode", "directoryPath": "s3://data/out/"},
        {"id": "Summary", "type": "S3DataNode", "directoryPath": "s3://data/summary/"},
        {"id": "Hive", "type": "HiveActivity", "runsOn": {"ref": "Cluster"}, "input": {"ref": "In"}, "output": {"ref": "Out"},
         "hiveScript": "INSERT OVERWRITE TABLE out SELECT * FROM in;",
         "scriptVariable": ["DAY=#{format(@scheduledStartTime, 'YYYY-MM-dd')}", "LIMIT=10"]},
        {"id": "Pig", "type": "PigActivity", "runsOn": {"ref": "Cluster"}, "dependsOn": {"ref": "Hive"},
         "input": {"ref": "Out"}, "output": {"ref": "Summary"},
         "scriptUri": "s3://scripts/summary.pig", "scriptVariable": "column1=First"},
    ]}))
    .await;
    // When the ticks make In, then Hive, ready (no stream here to cascade at once)
    world.tick().await;
    world.advance(TimeDelta::minutes(1)).await;
    // Then one cluster is launched as the definition says
    let launches = world.compute.cluster_launches();
    assert_eq!(launches.len(), 1);
    let spec = &launches[0].spec;
    assert_eq!(spec.release_label.as_deref(), Some("emr-6.15.0"));
    assert_eq!(spec.applications, ["Hive", "Pig"]);
    assert_eq!(spec.master.instance_type, "m5.xlarge");
    assert_eq!(spec.master.market, Market::OnDemand);
    let core = spec.core.as_ref().expect("core nodes");
    assert_eq!((core.instance_type.as_str(), core.count), ("r5.xlarge", 2));
    assert_eq!(
        core.market,
        Market::Spot {
            max_price: Some("0.30".to_owned())
        }
    );
    let task = spec.task.as_ref().expect("task nodes");
    assert_eq!((task.instance_type.as_str(), task.count), ("c5.xlarge", 3));
    assert_eq!(
        spec.bootstrap_actions,
        [BootstrapAction {
            path: "s3://scripts/setup.sh".to_owned(),
            args: vec!["--mode".to_owned(), "fast,safe".to_owned()],
        }]
    );
    assert_eq!(
        spec.configurations,
        [ClusterConfiguration {
            classification: "yarn-site".to_owned(),
            properties: vec![("yarn.nodemanager.resource.memory-mb".to_owned(), "11520".to_owned())],
            configurations: vec![ClusterConfiguration {
                classification: "export".to_owned(),
                properties: Vec::new(),
                configurations: Vec::new(),
            }],
        }]
    );
    assert_eq!(spec.log_uri.as_deref(), Some("s3://logs/emr"));
    assert_eq!(spec.region.as_deref(), Some("us-west-2"));
    assert_eq!(
        (spec.key_pair.as_deref(), spec.subnet_id.as_deref()),
        (Some("ops"), Some("subnet-1"))
    );
    assert_eq!(spec.job_flow_role, "DataPipelineDefaultResourceRole");
    assert_eq!(spec.service_role, "DataPipelineDefaultRole");
    for tag in [
        "sluice:pipeline",
        "sluice:component",
        "sluice:instance",
        "sluice:worker-group",
    ] {
        assert!(launches[0].tags.iter().any(|(key, _)| key == tag), "{tag}");
    }
    // And the running cluster took Hive's task at once as one command-runner step, named
    // after the attempt
    assert_eq!(world.instance("Cluster").await.status, Status::Running);
    let hive = world.instance("Hive").await;
    assert_eq!(hive.status, Status::Running);
    let steps = world.compute.added_steps();
    assert_eq!(steps.len(), 1, "{steps:?}");
    let (cluster_id, hive_step) = &steps[0];
    assert_eq!(hive_step.name, format!("@Hive_{START}_Attempt=1 1/1 hive"));
    assert_eq!(hive_step.jar, COMMAND_RUNNER);
    assert_eq!(
        hive_step.args,
        [
            "hive-script",
            "--run-hive-script",
            "--args",
            "-e",
            "INSERT OVERWRITE TABLE out SELECT * FROM in;",
            "-d",
            "DAY=2026-03-01",
            "-d",
            "LIMIT=10"
        ]
    );
    // And the attempt says where the step's log is, and which step it is
    let attempt = world.attempts("Hive").await.pop().unwrap();
    assert_eq!(attempt.hostname.as_deref(), Some(cluster_id.as_str()));
    let step_id = reported(&attempt, "emrStepIds").expect("the step ids are reported");
    assert_eq!(
        reported(&attempt, "emrStepLog").as_deref(),
        Some(format!("s3://logs/emr/{cluster_id}/steps/{step_id}/").as_str())
    );
    // When looks pass while the step runs, the task's lease is kept and nothing is added
    world.compute.end_steps("@Hive", &StepState::Running, None);
    world.minutes(10).await;
    assert_eq!(world.instance("Hive").await.status, Status::Running);
    assert_eq!(world.compute.added_steps().len(), 1);
    // When EMR completes the Hive step
    world.compute.end_steps("@Hive", &StepState::Completed, None);
    world.advance(TimeDelta::minutes(1)).await;
    // Then Hive has FINISHED, and Pig, ready now, runs as the next step on the same cluster
    assert_eq!(world.instance("Hive").await.status, Status::Finished);
    world.advance(TimeDelta::minutes(1)).await;
    assert_eq!(world.instance("Pig").await.status, Status::Running);
    let steps = world.compute.added_steps();
    assert_eq!(steps.len(), 2, "{steps:?}");
    let (pig_cluster, pig_step) = &steps[1];
    assert_eq!(pig_cluster, cluster_id);
    assert_eq!(pig_step.name, format!("@Pig_{START}_Attempt=1 1/1 pig"));
    assert_eq!(
        pig_step.args,
        [
            "pig-script",
            "--run-pig-script",
            "--args",
            "-p",
            "column1=First",
            "-f",
            "s3://scripts/summary.pig"
        ]
    );
    // When the Pig step completes too
    world.compute.end_steps("@Pig", &StepState::Completed, None);
    world.advance(TimeDelta::minutes(1)).await;
    world.advance(TimeDelta::minutes(1)).await;
    // Then both activities have FINISHED, the cluster is terminated, and the resource has
    // FINISHED: one cluster for both
    assert_eq!(world.instance("Pig").await.status, Status::Finished);
    assert_eq!(world.instance("Cluster").await.status, Status::Finished);
    assert!(world.compute.alive().is_empty(), "{:?}", world.compute.alive());
    assert_eq!(world.compute.cluster_launches().len(), 1);
    assert_eq!(world.compute.launches().len(), 0, "no EC2 machine");
}

#[tokio::test]
async fn a_failed_step_fails_its_attempt_with_emrs_reason_and_log_and_the_retry_submits_new_steps() {
    // Given Hive on a cluster, with one retry
    let world = cluster_world(json!({}), json!({})).await;
    world.tick().await;
    world.advance(TimeDelta::minutes(1)).await;
    assert_eq!(step_names(&world).len(), 1);
    // When EMR fails its step, naming a log file
    world.compute.end_steps(
        "@Hive",
        &StepState::Failed {
            reason: "FAILED: SemanticException [Error 10001]: Table not found in".to_owned(),
        },
        Some("s3://logs/emr/steps/s-1/stderr.gz"),
    );
    world.advance(TimeDelta::minutes(1)).await;
    // Then the attempt has FAILED with EMR's reason and the log, and a retry waits
    let attempts = world.attempts("Hive").await;
    assert_eq!(attempts[0].status, Status::Failed);
    assert_eq!(attempts[0].error.error_id.as_deref(), Some("Sluice.EmrStepFailed"));
    assert_says(&attempts[0].error, "Table not found");
    assert_says(&attempts[0].error, "s3://logs/emr/steps/s-1/stderr.gz");
    assert_eq!(world.instance("Hive").await.status, Status::WaitingForRunner);
    // When the retry delay has passed, the retry is a new step, named after attempt 2
    world.minutes(3).await;
    let names = step_names(&world);
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[1].starts_with(&format!("@Hive_{START}_Attempt=2 ")), "{names:?}");
    world
        .compute
        .end_steps("@Hive_2026-03-01T00:00:00_Attempt=2", &StepState::Completed, None);
    world.advance(TimeDelta::minutes(1)).await;
    assert_eq!(world.instance("Hive").await.status, Status::Finished);
    assert_eq!(
        world.compute.cluster_launches().len(),
        1,
        "the retry ran on the same cluster"
    );
}

#[tokio::test]
async fn a_task_claimed_before_a_crash_is_submitted_once_on_the_next_look() {
    // Given a cluster booting while Hive waits for it
    let world = cluster_world(json!({}), json!({})).await;
    world.compute.boot_slowly();
    world.tick().await;
    world.advance(TimeDelta::minutes(1)).await;
    assert_eq!(world.instance("Cluster").await.status, Status::Activating);
    assert!(step_names(&world).is_empty());
    // When the stage claims Hive's task as the cluster's runner and crashes before
    // AddJobFlowSteps
    world.compute.boot_all();
    let cluster = world.machine_of("Cluster").await;
    let group = world.group_of("Hive").await;
    world
        .engine()
        .poll_for_task(&group, Some(&cluster))
        .await
        .unwrap()
        .expect("Hive's task");
    // Then the next look submits its steps, and the looks after it never again
    world.advance(TimeDelta::minutes(1)).await;
    assert_eq!(step_names(&world).len(), 1);
    world.minutes(3).await;
    assert_eq!(step_names(&world).len(), 1, "{:?}", step_names(&world));
    assert_eq!(world.instance("Hive").await.status, Status::Running);
}

#[tokio::test]
async fn an_interrupted_or_canceled_step_fails_the_attempt_and_cancels_the_attempts_other_steps() {
    // Given an EmrActivity with a pre-step command, two steps and a post-step command
    let world = World::new(json!({"objects": [
        {"id": "Default", "scheduleType": "ondemand", "maximumRetries": "0"},
        {"id": "Cluster", "type": "EmrCluster", "amiVersion": "3.8.0", "coreInstanceCount": "1"},
        {"id": "Export", "type": "EmrActivity", "runsOn": {"ref": "Cluster"},
         "preStepCommand": "echo starting",
         "step": ["s3://jars/export.jar,org.example.Export,s3://out/#{format(@scheduledStartTime, 'YYYY-MM-dd')}",
                  "command-runner.jar,spark-submit,--class,Pi,pi.jar,100"],
         "postStepCommand": "echo done"},
    ]}))
    .await;
    world.tick().await;
    // Then the four steps go in order, all named after the attempt
    let steps: Vec<StepSpec> = world.compute.added_steps().into_iter().map(|(_, step)| step).collect();
    let prefix = format!("@Export_{START}_Attempt=1");
    let names: Vec<&str> = steps.iter().map(|step| step.name.as_str()).collect();
    assert_eq!(
        names,
        [
            format!("{prefix} 1/4 preStepCommand"),
            format!("{prefix} 2/4 step"),
            format!("{prefix} 3/4 step"),
            format!("{prefix} 4/4 postStepCommand"),
        ]
    );
    assert_eq!(steps[1].jar, "s3://jars/export.jar");
    assert_eq!(steps[1].args, ["org.example.Export", "s3://out/2026-03-01"]);
    assert_eq!(steps[2].args, ["spark-submit", "--class", "Pi", "pi.jar", "100"]);
    assert_eq!(steps[0].args[..3], ["bash", "-c", "echo starting"]);
    // And a legacy AMI cluster names no applications
    let spec = &world.compute.cluster_launches()[0].spec;
    assert_eq!(
        (spec.ami_version.as_deref(), spec.release_label.as_deref()),
        (Some("3.8.0"), None)
    );
    assert!(spec.applications.is_empty());
    // When the first step completes and the second is interrupted
    world
        .compute
        .end_steps(&format!("{prefix} 1/4"), &StepState::Completed, None);
    world
        .compute
        .end_steps(&format!("{prefix} 2/4"), &StepState::Interrupted, None);
    world.advance(TimeDelta::minutes(1)).await;
    // Then the attempt fails saying so, and its steps that had not run are canceled
    let attempt = world.attempts("Export").await.pop().unwrap();
    assert_eq!(attempt.status, Status::Failed);
    assert_says(&attempt.error, "was interrupted");
    let cluster = world.machine_of("Cluster").await;
    let left = world.compute.steps(&cluster).await.unwrap();
    assert!(
        left.iter()
            .filter(|step| step.name.contains("3/4") || step.name.contains("4/4"))
            .all(|step| step.state == StepState::Cancelled),
        "{left:?}"
    );
    // And with its only work ended, the cluster goes
    world.advance(TimeDelta::minutes(1)).await;
    assert_eq!(world.instance("Export").await.status, Status::Failed);
    assert!(world.compute.alive().is_empty());
}

#[tokio::test]
async fn a_canceled_task_has_its_running_step_canceled_and_the_cluster_goes() {
    // Given Hive's step running on its cluster
    let world = cluster_world(json!({}), json!({})).await;
    world.tick().await;
    world.advance(TimeDelta::minutes(1)).await;
    world.compute.end_steps("@Hive", &StepState::Running, None);
    // When an operator cancels Hive (and so Pig, which waits on it)
    world
        .engine()
        .set_instance_status(
            PIPELINE,
            &[format!("@Hive_{START}"), format!("@Pig_{START}")],
            InstanceCommand::TryCancel,
        )
        .await
        .unwrap();
    world.advance(TimeDelta::minutes(1)).await;
    // Then its step is canceled on the cluster rather than left holding it, and with no
    // work left the cluster is terminated
    let cluster = world.machine_of("Cluster").await;
    let steps = world.compute.steps(&cluster).await.unwrap();
    assert!(steps.iter().all(|step| step.state == StepState::Cancelled), "{steps:?}");
    world.advance(TimeDelta::minutes(1)).await;
    assert!(world.compute.alive().is_empty());
    assert_eq!(world.instance("Cluster").await.status, Status::Finished);
}

#[tokio::test]
async fn work_that_is_not_an_emr_step_fails_on_a_cluster_saying_what_to_run_it_on() {
    let world = World::new(json!({"objects": [
        {"id": "Default", "scheduleType": "ondemand", "maximumRetries": "0"},
        {"id": "Cluster", "type": "EmrCluster"},
        {"id": "In", "type": "S3DataNode", "filePath": "s3://data/in.csv"},
        {"id": "Out", "type": "S3DataNode", "filePath": "s3://data/out.csv"},
        {"id": "Copy", "type": "CopyActivity", "runsOn": {"ref": "Cluster"}, "input": {"ref": "In"}, "output": {"ref": "Out"}},
    ]}))
    .await;
    world.tick().await;
    world.advance(TimeDelta::minutes(1)).await;
    let attempt = world.attempts("Copy").await.pop().unwrap();
    assert_eq!(attempt.status, Status::Failed);
    assert_eq!(attempt.error.error_id.as_deref(), Some("Sluice.NotAnEmrStep"));
    assert_says(&attempt.error, "CopyActivity \"Copy\" runs on an EmrCluster");
    assert!(step_names(&world).is_empty());
    // The default cluster: a release label with Hive and Pig
    let spec = &world.compute.cluster_launches()[0].spec;
    assert_eq!(spec.release_label.as_deref(), Some("emr-6.15.0"));
    assert_eq!(spec.applications, ["Hadoop", "Hive", "Pig"]);
}

#[tokio::test]
async fn a_cluster_defined_wrong_fails_naming_the_field_and_its_work_fails_with_it() {
    let world = World::new(json!({"objects": [
        {"id": "Default", "scheduleType": "ondemand", "maximumRetries": "0"},
        {"id": "Cluster", "type": "EmrCluster",
         "coreInstanceCount": "#{format(@scheduledStartTime, 'YYYY')}x"},
        {"id": "Work", "type": "ShellCommandActivity", "runsOn": {"ref": "Cluster"}, "command": "true"},
    ]}))
    .await;
    world.tick().await;
    let resource = world.instance("Cluster").await;
    assert_eq!(resource.status, Status::Failed);
    assert_eq!(resource.error.error_id.as_deref(), Some("Sluice.ResourceMisconfigured"));
    // (validation refuses a literal that is no count; an expression can still evaluate to one)
    assert_says(
        &resource.error,
        "\"Cluster\" field coreInstanceCount is \"2026x\", not a count",
    );
    assert!(world.compute.cluster_launches().is_empty());
    assert_eq!(world.instance("Work").await.status, Status::Failed);
}

#[tokio::test]
async fn spot_clusters_that_find_no_capacity_are_retried_and_the_last_attempt_is_on_demand() {
    // Given spot core nodes, one retry, and the last attempt on demand
    let world = cluster_world(
        json!({"coreInstanceBidPrice": "0.30", "useOnDemandOnLastAttempt": "true"}),
        json!({}),
    )
    .await;
    world.compute.fail_spot(&["InsufficientInstanceCapacity"]);
    world.tick().await;
    world.advance(TimeDelta::minutes(1)).await;
    // Then the first launch found no spot capacity and the resource waits to retry
    let attempts = world.attempts("Cluster").await;
    assert_eq!(attempts[0].status, Status::Failed);
    assert_says(&attempts[0].error, "no spot capacity");
    // When the retry comes, it is on demand, and the work runs
    world.minutes(3).await;
    let launches = world.compute.cluster_launches();
    assert_eq!(launches.len(), 1, "the spot launch failed before starting anything");
    assert!(!launches[0].spec.any_spot(), "{:?}", launches[0].spec.core);
    assert_eq!(world.instance("Hive").await.status, Status::Running);
}

#[tokio::test]
async fn with_action_on_task_failure_terminate_a_failed_task_ends_its_resource_and_the_rest_of_its_work() {
    // Given two independent activities on a cluster whose tasks failing terminates it
    let world = World::new(json!({"objects": [
        {"id": "Default", "scheduleType": "ondemand", "maximumRetries": "0"},
        {"id": "Cluster", "type": "EmrCluster", "actionOnTaskFailure": "terminate"},
        {"id": "Breaks", "type": "ShellCommandActivity", "runsOn": {"ref": "Cluster"}, "command": "exit 3"},
        {"id": "Slow", "type": "ShellCommandActivity", "runsOn": {"ref": "Cluster"}, "command": "sleep 600"},
    ]}))
    .await;
    world.tick().await;
    assert_eq!(step_names(&world).len(), 2);
    // When one task's step fails
    world.compute.end_steps(
        "@Breaks",
        &StepState::Failed {
            reason: "exit status 3".to_owned(),
        },
        None,
    );
    world.advance(TimeDelta::minutes(1)).await;
    world.advance(TimeDelta::minutes(1)).await;
    // Then the cluster is terminated and the resource FAILED, saying why, and the other
    // task fails with it
    let resource = world.instance("Cluster").await;
    assert_eq!(resource.status, Status::Failed);
    assert_says(&resource.error, "actionOnTaskFailure is terminate");
    assert!(world.compute.alive().is_empty());
    assert_eq!(world.instance("Slow").await.status, Status::Failed);
    assert_says(&world.instance("Slow").await.error, "actionOnTaskFailure is terminate");
}

#[tokio::test]
async fn with_action_on_task_failure_continue_the_resource_keeps_running_its_other_work() {
    let world = World::new(json!({"objects": [
        {"id": "Default", "scheduleType": "ondemand", "maximumRetries": "0"},
        {"id": "Cluster", "type": "EmrCluster", "actionOnTaskFailure": "continue"},
        {"id": "Breaks", "type": "ShellCommandActivity", "runsOn": {"ref": "Cluster"}, "command": "exit 3"},
        {"id": "Slow", "type": "ShellCommandActivity", "runsOn": {"ref": "Cluster"}, "command": "sleep 600",
         "scriptArgument": ["a b", "c"]},
    ]}))
    .await;
    world.tick().await;
    let steps = world.compute.added_steps();
    let slow = steps
        .iter()
        .find(|(_, step)| step.name.starts_with("@Slow"))
        .expect("Slow's step");
    assert_eq!(slow.1.args, ["bash", "-c", "sleep 600", "sluice", "a b", "c"]);
    world.compute.end_steps(
        "@Breaks",
        &StepState::Failed {
            reason: "exit status 3".to_owned(),
        },
        None,
    );
    world.minutes(2).await;
    assert_eq!(world.instance("Breaks").await.status, Status::Failed);
    assert_eq!(world.instance("Cluster").await.status, Status::Running);
    assert_eq!(world.instance("Slow").await.status, Status::Running);
    world.compute.end_steps("@Slow", &StepState::Completed, None);
    world.minutes(2).await;
    assert_eq!(world.instance("Slow").await.status, Status::Finished);
    assert_eq!(world.instance("Cluster").await.status, Status::Finished);
    assert!(world.compute.alive().is_empty());
}

#[tokio::test]
async fn an_ec2_resource_also_honours_action_on_task_failure_terminate() {
    let world = World::new(json!({"objects": [
        {"id": "Default", "scheduleType": "ondemand", "maximumRetries": "0"},
        {"id": "Box", "type": "Ec2Resource", "imageId": "ami-0sluice", "actionOnTaskFailure": "terminate",
         "role": "DataPipelineDefaultRole", "resourceRole": "DataPipelineDefaultResourceRole"},
        {"id": "Breaks", "type": "ShellCommandActivity", "runsOn": {"ref": "Box"}, "command": "exit 3"},
        {"id": "Other", "type": "ShellCommandActivity", "runsOn": {"ref": "Box"}, "command": "true"},
    ]}))
    .await;
    world.tick().await;
    let group = world.group_of("Breaks").await;
    let engine = world.engine();
    let task = engine.poll_for_task(&group, Some("ip-1")).await.unwrap().unwrap();
    let failed = if task.object_id == "Breaks" {
        task
    } else {
        engine.poll_for_task(&group, Some("ip-1")).await.unwrap().unwrap()
    };
    engine
        .set_task_status(
            &failed.task_id,
            None,
            sluice::engine::tasks::TaskStatus::Failed,
            sluice::store::records::ErrorDetails::default(),
        )
        .await
        .unwrap();
    world.advance(TimeDelta::minutes(1)).await;
    assert_eq!(world.instance("Box").await.status, Status::Failed);
    assert!(world.compute.alive().is_empty());
    assert_eq!(world.instance("Other").await.status, Status::Failed);
}

#[test]
fn step_values_split_at_commas_that_are_not_escaped() {
    assert_eq!(split_escaped("a.jar,x\\,y, z"), ["a.jar", "x,y", "z"]);
    assert_eq!(split_escaped("only.jar"), ["only.jar"]);
    let task = |fields: &[(&str, &str)]| TaskAssignment {
        task_id: "t".to_owned(),
        pipeline_id: PIPELINE.to_owned(),
        attempt_id: "@A_2026-03-01T00:00:00_Attempt=1".to_owned(),
        instance_id: "@A_2026-03-01T00:00:00".to_owned(),
        object_id: "A".to_owned(),
        kind: AttemptKind::Activity,
        fields: fields
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect(),
    };
    let hadoop = step_specs(&task(&[
        ("type", "HadoopActivity"),
        ("jarUri", "s3://jars/wc.jar"),
        ("mainClass", "WordCount"),
        ("argument", "s3://in"),
        ("argument", "s3://out"),
        ("hadoopQueue", "etl"),
    ]))
    .unwrap();
    assert_eq!(hadoop.len(), 1);
    assert_eq!(hadoop[0].jar, "s3://jars/wc.jar");
    assert_eq!(hadoop[0].main_class.as_deref(), Some("WordCount"));
    assert_eq!(hadoop[0].args, ["s3://in", "s3://out"]);
    assert_eq!(
        hadoop[0].properties,
        [("mapreduce.job.queuename".to_owned(), "etl".to_owned())]
    );
    for (fields, says) in [
        (vec![("type", "HadoopActivity")], "has no jarUri"),
        (vec![("type", "EmrActivity")], "has no step"),
        (vec![("type", "HiveActivity")], "neither hiveScript nor scriptUri"),
        (vec![("type", "PigActivity")], "neither script nor scriptUri"),
        (vec![("type", "EmrActivity"), ("step", ",arg")], "names no jar"),
    ] {
        let problem = step_specs(&task(&fields)).unwrap_err();
        assert!(problem.contains(says), "{problem}");
    }
}

/// The EMR adapter against moto: a cluster with spot groups, found again by its token,
/// steps added and listed, and termination.
#[tokio::test]
async fn the_emr_adapter_launches_finds_steps_and_terminates_on_moto() {
    let moto = Moto::start();
    let compute = AwsCompute::new(&moto.sdk_config().await);
    let group = |instance_type: &str, count: i32, market: Market| NodeGroup {
        instance_type: instance_type.to_owned(),
        count,
        market,
        configurations: Vec::new(),
    };
    let token = "sluice-00000000000000e1";
    let worker_group = "df-moto/@Cluster_2026-03-01T00:00:00";
    let launch = ClusterLaunch {
        token: token.to_owned(),
        spec: ClusterSpec {
            release_label: Some("emr-6.15.0".to_owned()),
            ami_version: None,
            applications: vec!["Hive".to_owned(), "Pig".to_owned()],
            master: group("m5.xlarge", 1, Market::OnDemand),
            core: Some(group(
                "m5.xlarge",
                2,
                Market::Spot {
                    max_price: Some("0.30".to_owned()),
                },
            )),
            task: None,
            bootstrap_actions: vec![BootstrapAction {
                path: "s3://scripts/setup.sh".to_owned(),
                args: vec!["--fast".to_owned()],
            }],
            configurations: vec![ClusterConfiguration {
                classification: "yarn-site".to_owned(),
                properties: vec![("yarn.nodemanager.resource.memory-mb".to_owned(), "11520".to_owned())],
                configurations: Vec::new(),
            }],
            log_uri: Some("s3://logs/emr".to_owned()),
            key_pair: None,
            subnet_id: None,
            availability_zone: None,
            region: None,
            master_security_group: None,
            slave_security_group: None,
            service_access_security_group: None,
            additional_master_security_groups: Vec::new(),
            additional_slave_security_groups: Vec::new(),
            job_flow_role: "DataPipelineDefaultResourceRole".to_owned(),
            service_role: "DataPipelineDefaultRole".to_owned(),
            name: cluster_name(token, worker_group),
        },
        tags: vec![("sluice:pipeline".to_owned(), "df-moto".to_owned())],
    };
    // Nothing is found for a token never launched
    assert_eq!(compute.find_cluster("sluice-never", None).await.unwrap(), None);
    let cluster = compute.launch_cluster(&launch).await.unwrap();
    assert!(cluster.id.starts_with("j-"), "{cluster:?}");
    assert!(cluster.spot);
    // Found again by its token; the sweep sees it with the worker group it serves
    let found = compute
        .find_cluster(token, None)
        .await
        .unwrap()
        .expect("found by its token");
    assert_eq!(found.id, cluster.id);
    let alive = compute.alive_tagged().await.unwrap();
    let tagged = alive
        .iter()
        .find(|tagged| tagged.machine.id == cluster.id)
        .expect("the sweep sees it");
    assert_eq!(tagged.worker_group.as_deref(), Some(worker_group));
    assert_eq!(tagged.token.as_deref(), Some(token));
    assert_eq!(compute.state(&cluster.id).await.unwrap(), MachineState::Running);
    // Steps go in with the names they are found again by
    let step = |name: &str| StepSpec {
        name: name.to_owned(),
        jar: COMMAND_RUNNER.to_owned(),
        main_class: None,
        args: vec!["hive-script".to_owned(), "--run-hive-script".to_owned()],
        properties: vec![("mapreduce.job.queuename".to_owned(), "etl".to_owned())],
    };
    let ids = compute
        .add_steps(&cluster.id, &[step("@Hive_1 1/2 hive"), step("@Hive_1 2/2 hive")])
        .await
        .unwrap();
    assert_eq!(ids.len(), 2);
    let steps = compute.steps(&cluster.id).await.unwrap();
    assert_eq!(steps.len(), 2);
    for id in &ids {
        let listed = steps.iter().find(|step| &step.id == id).expect("listed");
        assert!(listed.name.starts_with("@Hive_1 "));
        assert!(
            matches!(listed.state, StepState::Pending | StepState::Running),
            "{listed:?}"
        );
    }
    // The second is canceled before it runs; the first runs on (moto's server as Sluice
    // runs it completes a step a second after it starts)
    compute.cancel_steps(&cluster.id, &ids[1..]).await.unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let steps = compute.steps(&cluster.id).await.unwrap();
    let state = |id: &str| steps.iter().find(|step| step.id == id).unwrap().state.clone();
    assert_eq!(state(&ids[1]), StepState::Cancelled, "{steps:?}");
    assert_eq!(state(&ids[0]), StepState::Completed, "{steps:?}");
    // Terminated, and terminating again is not an error; an ended cluster is not alive
    compute.terminate(&cluster.id).await.unwrap();
    assert!(compute.state(&cluster.id).await.unwrap().is_gone());
    compute.terminate(&cluster.id).await.unwrap();
    assert_eq!(compute.find_cluster(token, None).await.unwrap(), None);
    assert!(
        compute
            .alive_tagged()
            .await
            .unwrap()
            .iter()
            .all(|tagged| tagged.machine.id != cluster.id)
    );
}
