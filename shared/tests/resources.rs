//! `Ec2Resource`s through the engine with the compute port's in-memory EC2, where capacity
//! errors, slow boots and spot interruptions happen on cue (reference §2.5, §3.4, §3.7),
//! and the EC2 adapter itself against moto's server.

mod support;

use chrono::TimeDelta;
use serde_json::{Value, json};
use sluice::{
    cloud::compute::{AwsCompute, Compute, Launch, MachineSpec, MachineState, Market},
    engine::{
        Status,
        resources::launch_token,
        wake::{Change, ChangeKind},
    },
    store::{keys, records::AttemptKind},
};
use support::{
    machines::{PIPELINE, START, World, assert_says, boot},
    moto::Moto,
};

/// An on-demand pipeline: `Work` (a shell command) runs on `Box`, an Ec2Resource with
/// `box_fields` on top of an image and a type.
async fn box_world(box_fields: Value) -> World {
    let mut resource = json!({"id": "Box", "type": "Ec2Resource", "imageId": "ami-0sluice", "instanceType": "t3.micro",
                              "role": "DataPipelineDefaultRole", "resourceRole": "DataPipelineDefaultResourceRole"});
    for (key, value) in box_fields.as_object().cloned().unwrap_or_default() {
        resource[key] = value;
    }
    World::new(json!({"objects": [
        {"id": "Default", "scheduleType": "ondemand", "failureAndRerunMode": "cascade",
         "retryDelay": "2 minutes", "maximumRetries": "2"},
        resource,
        {"id": "Work", "type": "ShellCommandActivity", "command": "true", "runsOn": {"ref": "Box"}},
    ]}))
    .await
}

#[tokio::test]
async fn an_on_demand_machine_is_launched_for_ready_work_and_terminated_when_it_ends() {
    // Given Work on an on-demand Ec2Resource
    let world = box_world(
        json!({"securityGroupIds": "sg-1", "subnetId": "subnet-1", "keyPair": "ops",
                                 "region": "eu-west-1", "availabilityZone": "eu-west-1b"}),
    )
    .await;
    // When the tick makes Work ready, the Box is asked for at once and launched
    world.tick().await;
    let resource = world.instance("Box").await;
    assert_eq!(resource.status, Status::Running, "{:?}", resource.waiting_on);
    let launches = world.compute.launches();
    assert_eq!(launches.len(), 1);
    let launch = &launches[0];
    assert_eq!(launch.spec.market, Market::OnDemand);
    assert_eq!(launch.spec.instance_type, "t3.micro");
    assert_eq!(launch.spec.image_id, "ami-0sluice");
    assert_eq!(launch.spec.security_group_ids, ["sg-1"]);
    assert_eq!(launch.spec.subnet_id.as_deref(), Some("subnet-1"));
    assert_eq!(launch.spec.region.as_deref(), Some("eu-west-1"));
    assert_eq!(launch.spec.availability_zone.as_deref(), Some("eu-west-1b"));
    assert_eq!(
        launch.spec.instance_profile.as_deref(),
        Some("DataPipelineDefaultResourceRole")
    );
    // And the machine boots a runner of exactly this resource instance's worker group
    let group = world.group_of("Work").await;
    assert_eq!(group, format!("{PIPELINE}/@Box_2026-03-01T00:00:00"));
    assert!(
        launch.spec.user_data.contains(&format!("--worker-group '{group}'")),
        "{}",
        launch.spec.user_data
    );
    assert!(launch.spec.user_data.contains("s3://sluice-deploy/sluice"));
    // And everything launched is tagged with what it is for
    for tag in ["sluice:pipeline", "sluice:component", "sluice:instance"] {
        assert!(
            launch.tags.iter().any(|(key, _)| key == tag),
            "{tag} in {:?}",
            launch.tags
        );
    }
    // When the machine's runner does the work
    let task = world.claim_for("Work").await;
    world.finish(&task).await.unwrap();
    assert_eq!(world.instance("Work").await.status, Status::Finished);
    // Then the next look shuts the machine down, and it is gone (EC2 said so at once)
    world.advance(TimeDelta::minutes(1)).await;
    assert!(world.compute.alive().is_empty());
    let resource = world.instance("Box").await;
    assert_eq!(resource.status, Status::Finished);
    assert!(resource.ended_at.is_some());
    assert_eq!(world.compute.launches().len(), 1, "one machine in all");
}

#[tokio::test]
async fn a_booting_machine_is_activating_until_it_runs() {
    let world = box_world(json!({})).await;
    world.compute.boot_slowly();
    world.tick().await;
    let resource = world.instance("Box").await;
    assert_eq!(resource.status, Status::Activating);
    assert!(resource.waiting_on[0].contains("to boot"), "{:?}", resource.waiting_on);
    world.compute.boot_all();
    world.advance(TimeDelta::seconds(15)).await;
    assert_eq!(world.instance("Box").await.status, Status::Running);
}

#[tokio::test]
async fn the_end_of_its_work_wakes_the_resource_at_once_and_a_slow_stop_is_shutting_down() {
    // Given Work running on the Box, whose next look is a minute away, and an EC2 that
    // takes its time to stop machines
    let world = box_world(json!({})).await;
    world.tick().await;
    world.compute.stop_slowly();
    let task = world.claim_for("Work").await;
    world.finish(&task).await.unwrap();
    // When the stream shows Work's end to the preconditions stage, and the Box's nudged
    // attempt to the resources stage, with no time passing
    let engine = world.engine();
    let ended = Change {
        kind: ChangeKind::Modify,
        key: keys::instance(PIPELINE, "Work", world.start()),
        old_status: Some("RUNNING".into()),
        new_status: Some("FINISHED".into()),
        new_queue: None,
    };
    engine.wake_consumers(&[ended]).await.unwrap();
    engine.resources_step(&world.compute, &boot()).await.unwrap();
    // Then its machine is being stopped already
    let resource = world.instance("Box").await;
    assert_eq!(resource.status, Status::ShuttingDown);
    assert!(
        resource.waiting_on[0].contains("to terminate"),
        "{:?}",
        resource.waiting_on
    );
    // And once EC2 has stopped it, the resource has finished
    world.compute.stop_all();
    world.advance(TimeDelta::seconds(15)).await;
    assert_eq!(world.instance("Box").await.status, Status::Finished);
}

#[tokio::test]
async fn a_machine_that_never_boots_is_replaced_after_init_timeout() {
    let world = box_world(json!({"initTimeout": "5 minutes"})).await;
    world.compute.boot_slowly();
    world.tick().await;
    let first = world.machine_of("Box").await;
    world.advance(TimeDelta::minutes(6)).await;
    assert_eq!(
        world.compute.machine_state(&first),
        MachineState::Terminated {
            reason: Some("Client.UserInitiatedShutdown: User initiated shutdown".to_owned())
        }
    );
    let resource = world.instance("Box").await;
    assert_eq!(resource.status, Status::Creating);
    assert!(
        resource.waiting_on[0].contains("initTimeout"),
        "{:?}",
        resource.waiting_on
    );
}

#[tokio::test]
async fn spot_capacity_errors_are_retried_with_backoff_until_a_machine_is_had() {
    // Given a spot resource and EC2 without spot capacity for the first two launches
    let world = box_world(json!({"spotBidPrice": "0.05"})).await;
    world
        .compute
        .fail_spot(&["InsufficientInstanceCapacity", "SpotMaxPriceTooLow"]);
    // When the tick asks for a machine, the first launch fails and a retry is scheduled
    world.tick().await;
    let resource = world.instance("Box").await;
    assert_eq!(resource.status, Status::Creating);
    assert!(
        resource.waiting_on[0].contains("launch 2 of 3")
            && resource.waiting_on[0].contains("InsufficientInstanceCapacity"),
        "{:?}",
        resource.waiting_on
    );
    // Not before its delay
    world.advance(TimeDelta::seconds(30)).await;
    assert_eq!(world.attempts("Box").await.len(), 2);
    assert!(world.compute.launches().is_empty());
    // Then the second fails too, and the third gets a spot machine
    world.minutes(12).await;
    let resource = world.instance("Box").await;
    assert_eq!(resource.status, Status::Running, "{:?}", resource.waiting_on);
    let attempts = world.attempts("Box").await;
    assert_eq!(attempts.len(), 3);
    assert_eq!(attempts[0].status, Status::Failed);
    assert_eq!(attempts[1].error.error_id.as_deref(), Some("SpotMaxPriceTooLow"));
    let launches = world.compute.launches();
    assert_eq!(launches.len(), 1);
    assert_eq!(
        launches[0].spec.market,
        Market::Spot {
            max_price: Some("0.05".to_owned())
        }
    );
    // And the work runs on it
    let task = world.claim_for("Work").await;
    world.finish(&task).await.unwrap();
    assert_eq!(world.instance("Work").await.status, Status::Finished);
}

#[tokio::test]
async fn the_last_attempt_is_on_demand_with_use_on_demand_on_last_attempt() {
    let world =
        box_world(json!({"spotBidPrice": "0.05", "useOnDemandOnLastAttempt": "true", "maximumRetries": "1"})).await;
    world
        .compute
        .fail_spot(&["InsufficientInstanceCapacity", "InsufficientInstanceCapacity"]);
    world.tick().await;
    world.minutes(5).await;
    let resource = world.instance("Box").await;
    assert_eq!(resource.status, Status::Running, "{:?}", resource.waiting_on);
    let launches = world.compute.launches();
    assert_eq!(launches.len(), 1);
    assert_eq!(launches[0].spec.market, Market::OnDemand);
    assert!(
        !world
            .compute
            .find(&launches[0].token, None)
            .await
            .unwrap()
            .unwrap()
            .spot
    );
}

#[tokio::test]
async fn spot_falls_back_to_on_demand_after_the_failures_the_extension_allows() {
    let world = box_world(json!({"marketType": "spot", "onDemandAfterSpotFailures": "1"})).await;
    world.compute.fail_spot(&["InsufficientInstanceCapacity"]);
    world.tick().await;
    world.minutes(5).await;
    assert_eq!(world.instance("Box").await.status, Status::Running);
    assert_eq!(world.compute.launches()[0].spec.market, Market::OnDemand);
}

#[tokio::test]
async fn a_resource_whose_launches_all_fail_fails_and_says_why() {
    let world = box_world(json!({"spotBidPrice": "0.05", "maximumRetries": "1"})).await;
    world
        .compute
        .fail_spot(&["InsufficientInstanceCapacity", "MaxSpotInstanceCountExceeded"]);
    world.tick().await;
    world.minutes(5).await;
    let resource = world.instance("Box").await;
    assert_eq!(resource.status, Status::Failed);
    assert_eq!(resource.error.error_id.as_deref(), Some("MaxSpotInstanceCountExceeded"));
    assert_says(&resource.error, "no spot capacity");
    // And the work that was waiting for it fails with it, rather than wait for ever
    let work = world.instance("Work").await;
    assert_eq!(work.status, Status::Failed);
    assert_eq!(work.error.error_id.as_deref(), Some("Sluice.ResourceFailed"));
    assert_says(&work.error, "no spot capacity");
}

#[tokio::test]
async fn a_spot_interruption_mid_task_reruns_the_task_on_a_new_machine_without_a_duplicate_finish() {
    // Given Work running on a spot machine
    let world = box_world(json!({"spotBidPrice": "0.05"})).await;
    world.tick().await;
    let first_machine = world.machine_of("Box").await;
    let first_task = world.claim_for("Work").await;
    assert_eq!(world.instance("Work").await.status, Status::Running);
    // When EC2 takes the machine back
    world.compute.interrupt(&first_machine);
    world.advance(TimeDelta::minutes(1)).await;
    // Then the resource asks for a new machine, saying why
    let resource = world.instance("Box").await;
    assert_eq!(resource.status, Status::Creating, "{:?}", resource.waiting_on);
    assert_eq!(resource.error.error_id.as_deref(), Some("Sluice.SpotInterruption"));
    // And the task it ran is taken back for the next machine's runner
    let work = world.instance("Work").await;
    assert_eq!(work.status, Status::WaitingForRunner, "{:?}", work.waiting_on);
    // When the retry's time comes, a second machine runs and its runner finishes the work
    world.minutes(5).await;
    assert_eq!(world.instance("Box").await.status, Status::Running);
    let second_machine = world.machine_of("Box").await;
    assert_ne!(second_machine, first_machine);
    let second_task = world.claim_for("Work").await;
    world.finish(&second_task).await.unwrap();
    assert_eq!(world.instance("Work").await.status, Status::Finished);
    // And the first runner's late report changes nothing
    assert!(world.finish(&first_task).await.is_err());
    let work_attempts = world.attempts("Work").await;
    assert_eq!(
        work_attempts
            .iter()
            .filter(|attempt| attempt.status == Status::Finished)
            .count(),
        1
    );
    // And the second machine is shut down when the work is done
    world.advance(TimeDelta::minutes(1)).await;
    assert_eq!(world.instance("Box").await.status, Status::Finished);
    assert!(world.compute.alive().is_empty());
}

#[tokio::test]
async fn with_retrynone_an_interruption_fails_the_task_it_ran_and_the_resource_is_still_replaced() {
    let world = box_world(json!({"spotBidPrice": "0.05", "actionOnResourceFailure": "retrynone"})).await;
    world.tick().await;
    let machine = world.machine_of("Box").await;
    world.claim_for("Work").await;
    world.compute.interrupt(&machine);
    world.advance(TimeDelta::minutes(1)).await;
    let work = world.instance("Work").await;
    assert_eq!(work.status, Status::Failed, "{:?}", work.waiting_on);
    assert_eq!(work.error.error_id.as_deref(), Some("Sluice.ResourceFailed"));
    assert_says(&work.error, "spot interruption");
    // The resource's retry finds no work left, and finishes without a second machine
    assert_eq!(world.instance("Box").await.status, Status::Creating);
    world.minutes(5).await;
    assert_eq!(world.instance("Box").await.status, Status::Finished);
    assert_eq!(world.compute.launches().len(), 1);
}

#[tokio::test]
async fn terminate_after_times_the_resource_out_and_terminates_its_machine() {
    let world = box_world(json!({"terminateAfter": "1 hour"})).await;
    world.tick().await;
    let machine = world.machine_of("Box").await;
    world.claim_for("Work").await;
    world.advance(TimeDelta::minutes(61)).await;
    let resource = world.instance("Box").await;
    assert_eq!(resource.status, Status::TimedOut);
    assert_says(&resource.error, "terminateAfter");
    assert!(world.compute.machine_state(&machine).is_gone());
    // And the task that was running on it fails with it
    let work = world.instance("Work").await;
    assert_eq!(work.status, Status::Failed);
    assert_says(&work.error, "timed out");
    // No further launch: TIMEDOUT takes no resource retries
    world.advance(TimeDelta::minutes(5)).await;
    assert_eq!(world.compute.launches().len(), 1);
}

/// terminateAfter through the EC2 adapter on moto: the machine the resources stage
/// launched there is terminated, and the resource is TIMEDOUT.
#[tokio::test]
async fn on_moto_terminate_after_gives_timedout_and_a_terminated_instance() {
    let moto = Moto::start();
    let compute = AwsCompute::new(&moto.sdk_config().await);
    let world = box_world(json!({"terminateAfter": "30 minutes", "imageId": "ami-12c6146b",
                                 "spotBidPrice": "0.05"}))
    .await;
    let boot = sluice::engine::resources::Boot {
        instance_profiles: false,
        ..boot()
    };
    let look = |minutes: i64| {
        let world = &world;
        let compute = &compute;
        let boot = &boot;
        async move {
            world.clock.advance(TimeDelta::minutes(minutes));
            let engine = world.engine();
            engine.schedule_step().await.unwrap();
            engine.dependencies_step().await.unwrap();
            engine.resources_step(compute, boot).await.unwrap();
            engine.reap_step().await.unwrap();
        }
    };
    look(0).await;
    look(1).await;
    let machine = world.machine_of("Box").await;
    assert!(machine.starts_with("i-"), "{machine}");
    assert!(!compute.state(&machine).await.unwrap().is_gone());
    // Its runner takes the work, which outlives terminateAfter
    let task = world.claim_for("Work").await;
    for _ in 0..31 {
        // The runner keeps its lease meanwhile (it is alive, just slow)
        let _ = world.engine().report_task_progress(&task, None).await;
        look(1).await;
    }
    let resource = world.instance("Box").await;
    assert_eq!(resource.status, Status::TimedOut, "{:?}", resource.waiting_on);
    let described = moto_instance_state(&moto, &machine).await;
    assert_eq!(described, "terminated");
}

/// The state moto gives an instance, read with EC2's own client rather than the adapter.
async fn moto_instance_state(moto: &Moto, id: &str) -> String {
    let ec2 = aws_sdk_ec2::Client::new(&moto.sdk_config().await);
    let answer = ec2.describe_instances().instance_ids(id).send().await.unwrap();
    answer.reservations()[0].instances()[0]
        .state()
        .and_then(|state| state.name())
        .map(|name| name.as_str().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_crash_right_after_the_launch_does_not_launch_a_second_machine() {
    // Given the Box's launch attempt, made by a step that crashed right after RunInstances
    // (the machine exists, the record does not say so)
    let world = box_world(json!({})).await;
    let engine = world.engine();
    engine.schedule_step().await.unwrap();
    engine.dependencies_step().await.unwrap();
    let attempt = world.attempts("Box").await.remove(0);
    assert_eq!(attempt.kind, AttemptKind::Resource);
    assert!(attempt.machine.is_none());
    let spec = MachineSpec {
        instance_type: "t3.micro".to_owned(),
        image_id: "ami-0sluice".to_owned(),
        subnet_id: None,
        security_group_ids: Vec::new(),
        security_groups: Vec::new(),
        key_pair: None,
        associate_public_ip_address: None,
        availability_zone: None,
        region: None,
        instance_profile: None,
        user_data: String::new(),
        market: Market::OnDemand,
    };
    let before = world
        .compute
        .launch(&Launch {
            token: launch_token(&attempt),
            spec,
            tags: Vec::new(),
        })
        .await
        .unwrap();
    // When the resources stage runs again
    engine.resources_step(&world.compute, &boot()).await.unwrap();
    // Then it adopts that machine
    assert_eq!(world.compute.launches().len(), 1);
    assert_eq!(world.machine_of("Box").await, before.id);
    assert_eq!(world.instance("Box").await.status, Status::Running);
}

#[tokio::test]
async fn a_resource_whose_work_ended_without_it_finishes_without_a_machine() {
    // Given the Box's work canceled before it was ever ready
    let world = box_world(json!({})).await;
    let engine = world.engine();
    engine.schedule_step().await.unwrap();
    engine
        .set_instance_status(
            PIPELINE,
            &[format!("@Work_{START}")],
            sluice::engine::operator::InstanceCommand::TryCancel,
        )
        .await
        .unwrap();
    // When its dependencies are checked
    world.tick().await;
    // Then it finishes, and nothing was launched
    assert_eq!(world.instance("Box").await.status, Status::Finished);
    assert!(world.compute.launches().is_empty());
}

#[tokio::test]
async fn a_resource_that_cannot_be_launched_as_defined_fails_naming_what_is_missing() {
    let world = box_world(json!({"imageId": ""})).await;
    world.tick().await;
    let resource = world.instance("Box").await;
    assert_eq!(resource.status, Status::Failed);
    assert_says(&resource.error, "imageId");
}

#[tokio::test]
async fn the_sweep_terminates_machines_the_records_disown_and_keeps_the_current_one() {
    // Given the Box running on its machine
    let world = box_world(json!({})).await;
    world.tick().await;
    let current = world.machine_of("Box").await;
    let group = world.group_of("Work").await;
    // And two machines the records do not know: one from an earlier attempt of the Box,
    // one for a pipeline that is gone
    let stray = |token: &str, group: &str| Launch {
        token: token.to_owned(),
        spec: world.compute.launches()[0].spec.clone(),
        tags: vec![("sluice:worker-group".to_owned(), group.to_owned())],
    };
    let earlier = world.compute.launch(&stray("sluice-earlier", &group)).await.unwrap();
    let orphan = world
        .compute
        .launch(&stray("sluice-orphan", "df-gone/@Box_2026-01-01T00:00:00"))
        .await
        .unwrap();
    // When the sweep runs
    let report = world.engine().sweep_step(&world.compute).await.unwrap();
    // Then both strays are terminated, saying why, and the current machine runs on
    assert_eq!(world.compute.alive(), [current]);
    assert!(world.compute.machine_state(&earlier.id).is_gone());
    assert!(world.compute.machine_state(&orphan.id).is_gone());
    assert_eq!(report.changed, 2, "{report:?}");
    assert!(
        report
            .problems
            .iter()
            .any(|problem| problem.contains("earlier attempt"))
            && report
                .problems
                .iter()
                .any(|problem| problem.contains("not in the run table")),
        "{:?}",
        report.problems
    );
    // And the current machine goes the usual way, once its work is done
    let task = world.claim_for("Work").await;
    world.finish(&task).await.unwrap();
    world.advance(TimeDelta::minutes(1)).await;
    assert_eq!(world.instance("Box").await.status, Status::Finished);
    assert!(world.compute.alive().is_empty());
}

/// The EC2 adapter against moto: on demand and spot launches, the token lookup, state and
/// termination.
#[tokio::test]
async fn the_ec2_adapter_launches_finds_watches_and_terminates_on_moto() {
    let moto = Moto::start();
    let compute = AwsCompute::new(&moto.sdk_config().await);
    let spec = |market: Market| MachineSpec {
        instance_type: "t3.micro".to_owned(),
        image_id: "ami-12c6146b".to_owned(),
        subnet_id: None,
        security_group_ids: Vec::new(),
        security_groups: Vec::new(),
        key_pair: None,
        associate_public_ip_address: None,
        availability_zone: None,
        region: None,
        instance_profile: None,
        user_data: "#!/bin/bash\necho hello\n".to_owned(),
        market,
    };
    let tags = vec![("sluice:pipeline".to_owned(), "df-moto".to_owned())];
    // Nothing is found for a token never launched
    assert_eq!(compute.find("sluice-never", None).await.unwrap(), None);
    // An on-demand launch, found again by its token
    let on_demand = compute
        .launch(&Launch {
            token: "sluice-0000000000000001".to_owned(),
            spec: spec(Market::OnDemand),
            tags: tags.clone(),
        })
        .await
        .unwrap();
    assert!(!on_demand.spot);
    let found = compute
        .find("sluice-0000000000000001", None)
        .await
        .unwrap()
        .expect("found by its token");
    assert_eq!(found.id, on_demand.id);
    assert!(matches!(
        compute.state(&on_demand.id).await.unwrap(),
        MachineState::Pending | MachineState::Running
    ));
    // A spot launch
    let spot = compute
        .launch(&Launch {
            token: "sluice-0000000000000002".to_owned(),
            spec: spec(Market::Spot {
                max_price: Some("0.05".to_owned()),
            }),
            tags,
        })
        .await
        .unwrap();
    assert!(spot.spot, "{spot:?}");
    assert_ne!(spot.id, on_demand.id);
    // Terminated, and terminating again (or an unknown id) is not an error
    compute.terminate(&on_demand.id).await.unwrap();
    assert!(compute.state(&on_demand.id).await.unwrap().is_gone());
    compute.terminate(&on_demand.id).await.unwrap();
    assert_eq!(
        compute.state("i-0123456789abcdef0").await.unwrap(),
        MachineState::Unknown
    );
    compute.terminate("i-0123456789abcdef0").await.unwrap();
    // In another region (`region`): launched there, known by a region-qualified id, found,
    // watched, swept and terminated there
    let tags = vec![
        ("sluice:pipeline".to_owned(), "df-moto".to_owned()),
        (
            "sluice:worker-group".to_owned(),
            "df-moto/@Far_2026-03-01T00:00:00".to_owned(),
        ),
    ];
    let far = compute
        .launch(&Launch {
            token: "sluice-0000000000000003".to_owned(),
            spec: MachineSpec {
                region: Some("eu-west-1".to_owned()),
                ..spec(Market::OnDemand)
            },
            tags,
        })
        .await
        .unwrap();
    assert!(far.id.starts_with("eu-west-1:i-"), "{far:?}");
    let found = compute
        .find("sluice-0000000000000003", Some("eu-west-1"))
        .await
        .unwrap()
        .expect("found in its region");
    assert_eq!(found.id, far.id);
    assert_eq!(compute.find("sluice-0000000000000003", None).await.unwrap(), None);
    assert!(!compute.state(&far.id).await.unwrap().is_gone());
    let swept = compute.alive_tagged().await.unwrap();
    assert!(swept.iter().any(|tagged| tagged.machine.id == far.id), "{swept:?}");
    compute.terminate(&far.id).await.unwrap();
    assert!(compute.state(&far.id).await.unwrap().is_gone());
    // A process that did not launch there sweeps it when told of the region
    let other = AwsCompute::new(&moto.sdk_config().await).with_sweep_regions(["eu-west-1".to_owned()]);
    let far_again = other
        .launch(&Launch {
            token: "sluice-0000000000000004".to_owned(),
            spec: MachineSpec {
                region: Some("eu-west-1".to_owned()),
                ..spec(Market::OnDemand)
            },
            tags: vec![("sluice:pipeline".to_owned(), "df-moto".to_owned())],
        })
        .await
        .unwrap();
    let fresh = AwsCompute::new(&moto.sdk_config().await).with_sweep_regions(["eu-west-1".to_owned()]);
    let swept = fresh.alive_tagged().await.unwrap();
    assert!(
        swept.iter().any(|tagged| tagged.machine.id == far_again.id),
        "{swept:?}"
    );
}
