//! The engine, scenario by scenario, on the memory store with a virtual clock and the
//! simulation's cloud: each test drives the stages the way the functions will, and checks
//! statuses, attempts, `@waitingOn` and the events recorded for actions.

mod support;

use std::sync::{
    OnceLock,
    atomic::{AtomicUsize, Ordering},
};

use chrono::{NaiveDateTime, TimeDelta};
use serde_json::{Value, json};
use sluice::{
    cloud::probe::FakeProbe,
    definition::read_definition,
    engine::{
        Engine, EngineError, Limits, PipelineState, Status,
        clock::{Clock, ManualClock, SeededRandom},
        operator::{ComponentCommand, InstanceCommand},
        pipelines::ActivateOptions,
        tasks::TaskStatus,
        wake::{Change, ChangeKind},
    },
    store::{
        Range, RunStore,
        counting::CountingStore,
        dynamodb::{DynamoStore, create_table},
        keys,
        memory::MemoryStore,
        records::{
            self, AttemptRecord, DefinitionRecord, ErrorDetails, EventRecord, InstanceRecord, PipelineRecord, Stored,
        },
    },
    time::parse_datetime,
};
use support::moto::Moto;

fn at(text: &str) -> NaiveDateTime {
    parse_datetime(text).unwrap()
}

struct World<S> {
    store: CountingStore<S>,
    clock: ManualClock,
    random: SeededRandom,
    probe: FakeProbe,
}

impl<S: RunStore> World<S> {
    fn new(store: S, start: &str) -> Self {
        Self {
            store: CountingStore::new(store),
            clock: ManualClock::new(at(start)),
            random: SeededRandom::new(7),
            probe: FakeProbe::new(),
        }
    }

    fn engine(&self) -> Engine<'_, CountingStore<S>, FakeProbe> {
        self.engine_with(Limits {
            recheck: TimeDelta::minutes(1),
            ..Limits::default()
        })
    }

    fn engine_with(&self, limits: Limits) -> Engine<'_, CountingStore<S>, FakeProbe> {
        Engine::new(&self.store, &self.clock, &self.random, &self.probe).with_limits(limits)
    }

    async fn pipeline(&self, id: &str, definition: Value, options: ActivateOptions) {
        let engine = self.engine();
        let definition = read_definition(&definition.to_string()).unwrap().definition;
        assert!(engine.create_pipeline(id, id, id).await.unwrap());
        let report = engine.put_definition(id, &definition).await.unwrap();
        assert!(!report.errored(), "{report:#?}");
        engine.activate(id, &options).await.unwrap();
    }

    /// Every stage once, as the minute schedule runs them.
    async fn tick(&self) {
        let engine = self.engine();
        engine.schedule_step().await.unwrap();
        engine.dependencies_step().await.unwrap();
        engine.watch_step().await.unwrap();
        engine.reap_step().await.unwrap();
    }

    async fn advance(&self, minutes: i64) {
        self.clock.advance(TimeDelta::minutes(minutes));
        self.tick().await;
    }

    async fn instance(&self, pipeline: &str, component: &str, start: &str) -> InstanceRecord {
        let key = keys::instance(pipeline, component, at(start));
        records::get::<InstanceRecord, _>(&self.store, &key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no {component} at {start}"))
            .record
    }

    async fn status(&self, pipeline: &str, component: &str, start: &str) -> Status {
        self.instance(pipeline, component, start).await.status
    }

    async fn events(&self, pipeline: &str) -> Vec<EventRecord> {
        let items = self
            .store
            .query(&keys::pipeline_pk(pipeline), &Range::prefix("EVENT#", 1000))
            .await
            .unwrap();
        items
            .iter()
            .map(|item| Stored::<EventRecord>::from_item(item).unwrap().record)
            .collect()
    }

    async fn pipeline_state(&self, pipeline: &str) -> PipelineState {
        records::get::<PipelineRecord, _>(&self.store, &keys::pipeline(pipeline))
            .await
            .unwrap()
            .unwrap()
            .record
            .state
    }

    /// Polls and finishes (or fails) one task of the worker group; returns its task id.
    async fn run_task(&self, worker_group: &str, outcome: TaskStatus) -> String {
        let engine = self.engine();
        let task = engine
            .poll_for_task(worker_group, Some("runner-1"))
            .await
            .unwrap()
            .expect("a task");
        assert!(
            !engine
                .report_task_progress(&task.task_id, Some(worker_group))
                .await
                .unwrap()
        );
        let error = match outcome {
            TaskStatus::Finished => ErrorDetails::default(),
            _ => ErrorDetails {
                error_id: Some("Exit1".into()),
                error_message: Some("disk full".into()),
                error_stack_trace: None,
            },
        };
        engine
            .set_task_status(&task.task_id, Some(worker_group), outcome, error)
            .await
            .unwrap();
        task.task_id
    }
}

/// Runs each scenario on the memory store and on the DynamoDB store against moto.
macro_rules! on_both_stores {
    ($($scenario:ident),+ $(,)?) => {
        mod memory {
            $(#[tokio::test]
            async fn $scenario() {
                super::$scenario(super::MemoryStore::new()).await;
            })+
        }
        mod dynamodb {
            $(#[tokio::test]
            async fn $scenario() {
                super::$scenario(super::dynamo_store().await).await;
            })+
        }
    };
}

on_both_stores![
    an_activity_runs_from_creation_to_finished_and_records_its_success_once,
    a_chain_advances_in_order_and_says_what_it_waits_on,
    a_failed_attempt_retries_after_its_delay_then_fails_and_cascades,
    without_cascade_a_consumer_waits_and_says_why,
    a_runner_that_vanishes_loses_its_lease_and_the_attempt_is_retried,
    lateness_is_raised_once,
    a_system_precondition_is_checked_until_true_and_fails_at_its_timeout,
    max_active_instances_bounds_a_backfill,
    activation_refuses_a_backfill_of_more_than_a_day_and_skips_before_a_start_timestamp,
    operators_pause_cancel_and_mark_finished,
    a_shell_command_precondition_is_a_runner_task_checked_again_after_false,
    an_on_demand_pipeline_runs_once_per_activation,
    deactivating_without_cancel_drains_running_work_then_is_inactive,
    a_resource_runner_is_told_to_terminate_once_its_resource_has_ended,
    simulated_resources_finish_at_once_and_their_work_goes_to_the_named_group,
    progress_reports_carry_fields_that_show_on_the_attempt,
    an_alarm_is_published_once_with_the_instances_real_error_text,
    an_alarm_sns_fails_for_now_is_sent_later_and_one_it_refuses_is_recorded,
    a_terminate_action_on_lateness_cancels_the_instance_and_its_attempt,
    a_finish_wakes_its_consumers_at_once_through_a_data_node_and_only_once,
    new_instances_are_checked_at_once_unless_what_they_wait_for_is_new_too,
    attempts_made_ready_are_offered_as_they_are_written_and_retries_are_not,
    every_stage_runs_from_a_tick_or_a_batch_of_changes,
    a_schedule_step_writes_its_new_instances_together_and_a_crash_leftover_holds_nothing_back,
];

/// One moto server for this test binary; a fresh table for every scenario.
async fn dynamo_store() -> DynamoStore {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    static TABLES: AtomicUsize = AtomicUsize::new(0);
    let moto = MOTO.get_or_init(Moto::start);
    let client = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    let table = format!("runs-{}", TABLES.fetch_add(1, Ordering::Relaxed));
    create_table(&client, &table).await.unwrap();
    DynamoStore::new(client, table)
}

fn hourly(objects: Vec<Value>) -> Value {
    let mut all = vec![
        json!({"id": "Default", "scheduleType": "cron", "schedule": {"ref": "Hourly"}, "workerGroup": "wg",
               "failureAndRerunMode": "cascade", "maximumRetries": "1", "retryDelay": "5 minutes",
               "onFail": {"ref": "Alarm"}, "onSuccess": {"ref": "Alarm"}}),
        json!({"id": "Hourly", "type": "Schedule", "period": "1 hour", "startDateTime": "2026-01-01T00:00:00",
               "occurrences": "2"}),
        json!({"id": "Alarm", "type": "SnsAlarm", "role": "R", "topicArn": "arn:aws:sns:us-east-1:1:t",
               "subject": "#{node.name}", "message": "#{node.errorMessage}"}),
    ];
    all.extend(objects);
    json!({ "objects": all })
}

async fn an_activity_runs_from_creation_to_finished_and_records_its_success_once<S: RunStore>(store: S) {
    // Given an hourly activity activated at its start
    let world = World::new(store, "2026-01-01T00:00:00");
    world
        .pipeline(
            "df-1",
            hourly(vec![
                json!({"id": "Work", "type": "ShellCommandActivity", "command": "true"}),
            ]),
            ActivateOptions::default(),
        )
        .await;

    // When the stages run, the instance is created and becomes ready for a runner
    world.tick().await;
    let instance = world.instance("df-1", "Work", "2026-01-01T00:00:00").await;
    assert_eq!(instance.status, Status::WaitingForRunner);
    assert_eq!(instance.waiting_on.len(), 1);
    assert!(
        instance.waiting_on[0].starts_with("a runner polling worker group \"wg\"; none has polled yet"),
        "{:?}",
        instance.waiting_on
    );

    // And a runner takes it, reports progress and finishes it
    world.run_task("wg", TaskStatus::Finished).await;

    // Then it is FINISHED, its success recorded once for its action, and nothing else waits
    let instance = world.instance("df-1", "Work", "2026-01-01T00:00:00").await;
    assert_eq!(instance.status, Status::Finished);
    assert!(instance.started_at.is_some() && instance.ended_at.is_some());
    let events = world.events("df-1").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actions, ["Alarm"]);
    assert!(world.engine().poll_for_task("wg", None).await.unwrap().is_none());
    world.tick().await;
    assert_eq!(world.events("df-1").await.len(), 1, "recorded once");
}

async fn a_chain_advances_in_order_and_says_what_it_waits_on<S: RunStore>(store: S) {
    let world = World::new(store, "2026-01-01T00:00:00");
    world
        .pipeline(
            "df-chain",
            hourly(vec![
                json!({"id": "A", "type": "ShellCommandActivity", "command": "a"}),
                json!({"id": "B", "type": "ShellCommandActivity", "command": "b", "dependsOn": {"ref": "A"}}),
            ]),
            ActivateOptions::default(),
        )
        .await;
    world.tick().await;
    let b = world.instance("df-chain", "B", "2026-01-01T00:00:00").await;
    assert_eq!(b.status, Status::WaitingOnDependencies);
    assert_eq!(b.waiting_on.len(), 1);
    assert!(
        b.waiting_on[0].starts_with(
            "@A_2026-01-01T00:00:00, which is WAITING_FOR_RUNNER, waiting on a runner polling worker group \"wg\""
        ),
        "{:?}",
        b.waiting_on
    );
    world.run_task("wg", TaskStatus::Finished).await;
    world.advance(1).await;
    assert_eq!(
        world.status("df-chain", "B", "2026-01-01T00:00:00").await,
        Status::WaitingForRunner
    );
    world.run_task("wg", TaskStatus::Finished).await;
    assert_eq!(
        world.status("df-chain", "B", "2026-01-01T00:00:00").await,
        Status::Finished
    );
}

async fn a_failed_attempt_retries_after_its_delay_then_fails_and_cascades<S: RunStore>(store: S) {
    let world = World::new(store, "2026-01-01T00:00:00");
    world
        .pipeline(
            "df-fail",
            hourly(vec![
                json!({"id": "A", "type": "ShellCommandActivity", "command": "a"}),
                json!({"id": "B", "type": "ShellCommandActivity", "command": "b", "dependsOn": {"ref": "A"}}),
            ]),
            ActivateOptions::default(),
        )
        .await;
    world.tick().await;
    world.run_task("wg", TaskStatus::Failed).await;
    // One retry (maximumRetries 1), not before its 5-minute delay
    let a = world.instance("df-fail", "A", "2026-01-01T00:00:00").await;
    assert_eq!(a.status, Status::WaitingForRunner);
    assert_eq!(a.attempts, 2);
    assert!(
        a.waiting_on[0].starts_with("retry 1 of 1 at 2026-01-01T00:05:00, after attempt 1 failed: disk full"),
        "{:?}",
        a.waiting_on
    );
    assert!(
        world.engine().poll_for_task("wg", None).await.unwrap().is_none(),
        "not before the delay"
    );
    world.advance(5).await;
    world.run_task("wg", TaskStatus::Failed).await;
    let a = world.instance("df-fail", "A", "2026-01-01T00:00:00").await;
    assert_eq!(a.status, Status::Failed);
    assert_eq!(a.error.error_message.as_deref(), Some("disk full"));
    // The consumer cascades, and each failure is recorded once
    world.advance(1).await;
    let b = world.instance("df-fail", "B", "2026-01-01T00:00:00").await;
    assert_eq!(b.status, Status::CascadeFailed);
    assert_eq!(b.cascade_failed_on.as_deref(), Some("@A_2026-01-01T00:00:00"));
    let failures = world.events("df-fail").await;
    assert_eq!(failures.len(), 2, "{failures:#?}");
    // Rerunning the root cause reruns its cascade-failed consumer
    world
        .engine()
        .set_instance_status("df-fail", &["@A_2026-01-01T00:00:00".into()], InstanceCommand::Rerun)
        .await
        .unwrap();
    assert_eq!(
        world.status("df-fail", "B", "2026-01-01T00:00:00").await,
        Status::WaitingOnDependencies
    );
    world.tick().await;
    let a = world.instance("df-fail", "A", "2026-01-01T00:00:00").await;
    assert_eq!(
        (a.status, a.attempts, a.run_first_attempt),
        (Status::WaitingForRunner, 3, 3)
    );
    world.run_task("wg", TaskStatus::Finished).await;
    world.advance(1).await;
    world.run_task("wg", TaskStatus::Finished).await;
    assert_eq!(
        world.status("df-fail", "B", "2026-01-01T00:00:00").await,
        Status::Finished
    );
}

async fn without_cascade_a_consumer_waits_and_says_why<S: RunStore>(store: S) {
    let world = World::new(store, "2026-01-01T00:00:00");
    let mut definition = hourly(vec![
        json!({"id": "A", "type": "ShellCommandActivity", "command": "a", "maximumRetries": "0"}),
        json!({"id": "B", "type": "ShellCommandActivity", "command": "b", "dependsOn": {"ref": "A"}}),
    ]);
    definition["objects"][0]["failureAndRerunMode"] = json!("none");
    world.pipeline("df-wait", definition, ActivateOptions::default()).await;
    world.tick().await;
    world.run_task("wg", TaskStatus::Failed).await;
    world.advance(1).await;
    let b = world.instance("df-wait", "B", "2026-01-01T00:00:00").await;
    assert_eq!(b.status, Status::WaitingOnDependencies);
    assert!(
        b.waiting_on[0].contains("which is FAILED: this waits until it is rerun"),
        "{:?}",
        b.waiting_on
    );
}

async fn a_runner_that_vanishes_loses_its_lease_and_the_attempt_is_retried<S: RunStore>(store: S) {
    let world = World::new(store, "2026-01-01T00:00:00");
    world
        .pipeline(
            "df-lease",
            hourly(vec![json!({"id": "A", "type": "ShellCommandActivity", "command": "a"})]),
            ActivateOptions::default(),
        )
        .await;
    world.tick().await;
    let task = world
        .engine()
        .poll_for_task("wg", Some("doomed-host"))
        .await
        .unwrap()
        .unwrap();
    // No acknowledgement within two minutes
    world.advance(3).await;
    let attempt: AttemptRecord = records::get(
        &world.store,
        &keys::attempt("df-lease", "A", at("2026-01-01T00:00:00"), 1),
    )
    .await
    .unwrap()
    .unwrap()
    .record;
    assert_eq!(attempt.status, Status::Failed);
    assert_eq!(attempt.error.error_id.as_deref(), Some("Sluice.NotAcknowledged"));
    assert!(
        attempt
            .error
            .error_message
            .as_deref()
            .unwrap()
            .contains("on doomed-host never acknowledged")
    );
    // The vanished runner comes back: its task is over
    assert!(
        world.engine().report_task_progress(&task.task_id, None).await.unwrap(),
        "canceled"
    );
    let late_report = world
        .engine()
        .set_task_status(&task.task_id, None, TaskStatus::Finished, ErrorDetails::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            late_report,
            EngineError::WrongStatus {
                status: Status::Failed,
                ..
            }
        ),
        "{late_report}"
    );
    let a = world.instance("df-lease", "A", "2026-01-01T00:00:00").await;
    assert_eq!((a.status, a.attempts), (Status::WaitingForRunner, 2));
}

async fn lateness_is_raised_once<S: RunStore>(store: S) {
    let world = World::new(store, "2026-01-01T00:00:00");
    let mut definition = hourly(vec![json!({"id": "A", "type": "ShellCommandActivity", "command": "a",
                                           "lateAfterTimeout": "10 minutes", "onLateAction": {"ref": "Alarm"}})]);
    definition["objects"][0].as_object_mut().unwrap().remove("onSuccess");
    world.pipeline("df-late", definition, ActivateOptions::default()).await;
    world.tick().await;
    for _ in 0..5 {
        world.advance(5).await;
    }
    let a = world.instance("df-late", "A", "2026-01-01T00:00:00").await;
    assert!(a.late_raised);
    let events = world.events("df-late").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event, records::EventKind::Late);
}

async fn a_system_precondition_is_checked_until_true_and_fails_at_its_timeout<S: RunStore>(store: S) {
    let world = World::new(store, "2026-01-01T00:00:00");
    world
        .pipeline(
            "df-pre",
            hourly(vec![
                json!({"id": "Ready", "type": "S3KeyExists", "role": "R", "retryDelay": "2 minutes",
                       "s3Key": "s3://bucket/#{format(node.@scheduledStartTime, 'HH')}/_SUCCESS",
                       "preconditionTimeout": "90 minutes"}),
                json!({"id": "A", "type": "ShellCommandActivity", "command": "a", "precondition": {"ref": "Ready"}}),
            ]),
            ActivateOptions::default(),
        )
        .await;
    world.probe.set_bucket("bucket", true);
    world.tick().await;
    let a = world.instance("df-pre", "A", "2026-01-01T00:00:00").await;
    assert_eq!(a.status, Status::WaitingOnDependencies);
    assert!(
        a.waiting_on[0].starts_with("precondition \"Ready\": "),
        "{:?}",
        a.waiting_on
    );
    assert!(
        a.waiting_on[0].contains("s3://bucket/00/_SUCCESS"),
        "{:?}",
        a.waiting_on
    );
    world.probe.set_object("s3://bucket/00/_SUCCESS", true).unwrap();
    world.advance(2).await;
    assert_eq!(
        world.status("df-pre", "A", "2026-01-01T00:00:00").await,
        Status::WaitingForRunner
    );
    // The next hour's marker never comes: FAILED at the timeout
    world.clock.set(at("2026-01-01T01:00:00"));
    world.tick().await;
    for _ in 0..50 {
        world.advance(2).await;
    }
    let a = world.instance("df-pre", "A", "2026-01-01T01:00:00").await;
    assert_eq!(a.status, Status::Failed);
    assert!(
        a.error
            .error_message
            .as_deref()
            .unwrap()
            .contains("was not met within its preconditionTimeout of 90 minutes")
    );
}

async fn max_active_instances_bounds_a_backfill<S: RunStore>(store: S) {
    let world = World::new(store, "2026-01-01T05:00:00");
    let mut definition = hourly(vec![
        json!({"id": "A", "type": "ShellCommandActivity", "command": "a", "maxActiveInstances": "2"}),
    ]);
    definition["objects"][1]["occurrences"] = json!("5");
    world.pipeline("df-max", definition, ActivateOptions::default()).await;
    world.tick().await;
    let mut statuses = Vec::new();
    for hour in 0..5 {
        statuses.push(world.status("df-max", "A", &format!("2026-01-01T0{hour}:00:00")).await);
    }
    let first = world.instance("df-max", "A", "2026-01-01T00:00:00").await;
    assert_eq!(
        statuses
            .iter()
            .filter(|status| **status == Status::WaitingForRunner)
            .count(),
        2,
        "{statuses:?} {:?}",
        first.waiting_on
    );
    let waiting = world.instance("df-max", "A", "2026-01-01T04:00:00").await;
    assert!(
        waiting.waiting_on[0].contains("maxActiveInstances"),
        "{:?}",
        waiting.waiting_on
    );
    for _ in 0..5 {
        world.run_task("wg", TaskStatus::Finished).await;
        world.advance(1).await;
    }
    for hour in 0..5 {
        assert_eq!(
            world.status("df-max", "A", &format!("2026-01-01T0{hour}:00:00")).await,
            Status::Finished
        );
    }
    assert_eq!(world.pipeline_state("df-max").await, PipelineState::Finished);
}

async fn activation_refuses_a_backfill_of_more_than_a_day_and_skips_before_a_start_timestamp<S: RunStore>(store: S) {
    let world = World::new(store, "2026-01-03T00:00:00");
    let engine = world.engine();
    let definition =
        read_definition(&hourly(vec![json!({"id": "A", "type": "ShellCommandActivity", "command": "a"})]).to_string())
            .unwrap()
            .definition;
    engine.create_pipeline("df-old", "old", "u").await.unwrap();
    engine.put_definition("df-old", &definition).await.unwrap();
    let refused = engine
        .activate("df-old", &ActivateOptions::default())
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("object \"A\""), "{refused}");
    let options = ActivateOptions {
        start_timestamp: Some(at("2026-01-01T01:00:00")),
        allow_backfill: true,
        ..Default::default()
    };
    engine.activate("df-old", &options).await.unwrap();
    world.tick().await;
    assert_eq!(
        world.status("df-old", "A", "2026-01-01T00:00:00").await,
        Status::Skipped
    );
    assert_eq!(
        world.status("df-old", "A", "2026-01-01T01:00:00").await,
        Status::WaitingForRunner
    );
}

async fn operators_pause_cancel_and_mark_finished<S: RunStore>(store: S) {
    let world = World::new(store, "2026-01-01T00:00:00");
    world
        .pipeline(
            "df-op",
            hourly(vec![
                json!({"id": "A", "type": "ShellCommandActivity", "command": "a"}),
                json!({"id": "B", "type": "ShellCommandActivity", "command": "b", "dependsOn": {"ref": "A"}}),
            ]),
            ActivateOptions::default(),
        )
        .await;
    let engine = world.engine();
    world.tick().await;
    engine
        .set_component_status("df-op", &["B".into()], ComponentCommand::Pause)
        .await
        .unwrap();
    // A runner takes A, an operator cancels it: the runner learns on its next report
    let task = engine.poll_for_task("wg", None).await.unwrap().unwrap();
    engine
        .set_instance_status("df-op", &["@A_2026-01-01T00:00:00".into()], InstanceCommand::TryCancel)
        .await
        .unwrap();
    assert!(engine.report_task_progress(&task.task_id, None).await.unwrap());
    engine
        .set_task_status(&task.task_id, None, TaskStatus::Finished, ErrorDetails::default())
        .await
        .unwrap();
    assert_eq!(
        world.status("df-op", "A", "2026-01-01T00:00:00").await,
        Status::Canceled
    );
    // Marking it finished lets B go, once B is resumed
    engine
        .set_instance_status(
            "df-op",
            &["@A_2026-01-01T00:00:00".into()],
            InstanceCommand::MarkFinished,
        )
        .await
        .unwrap();
    world.advance(1).await;
    let b = world.instance("df-op", "B", "2026-01-01T00:00:00").await;
    assert!(b.waiting_on[0].contains("is paused"), "{:?}", b.waiting_on);
    engine
        .set_component_status("df-op", &["B".into()], ComponentCommand::Resume)
        .await
        .unwrap();
    world.advance(1).await;
    assert_eq!(
        world.status("df-op", "B", "2026-01-01T00:00:00").await,
        Status::WaitingForRunner
    );
    // Deactivating with cancelActive cancels what has not ended
    engine.deactivate("df-op", true).await.unwrap();
    assert_eq!(
        world.status("df-op", "B", "2026-01-01T00:00:00").await,
        Status::Canceled
    );
    assert_eq!(world.pipeline_state("df-op").await, PipelineState::Inactive);
}

#[tokio::test]
async fn bad_requests_get_typed_errors_and_change_nothing() {
    let world = World::new(MemoryStore::new(), "2026-01-01T00:00:00");
    world
        .pipeline(
            "df-bad",
            hourly(vec![json!({"id": "A", "type": "ShellCommandActivity", "command": "a"})]),
            ActivateOptions::default(),
        )
        .await;
    world.tick().await;
    let engine = world.engine();
    let before = world.store.inner().items();
    assert!(matches!(
        engine.activate("df-nope", &ActivateOptions::default()).await,
        Err(EngineError::PipelineNotFound(_))
    ));
    assert!(matches!(
        engine.report_task_progress("no-such-task", None).await,
        Err(EngineError::TaskNotFound(_))
    ));
    let outcome = engine
        .set_instance_status("df-bad", &["@A_2026-01-01T00:00:00".into()], InstanceCommand::Rerun)
        .await;
    assert!(
        matches!(
            outcome,
            Err(EngineError::WrongStatus {
                status: Status::WaitingForRunner,
                ..
            })
        ),
        "{outcome:?}"
    );
    let outcome = engine
        .set_instance_status("df-bad", &["A".into()], InstanceCommand::TryCancel)
        .await;
    assert!(matches!(outcome, Err(EngineError::InvalidRequest(_))));
    assert_eq!(world.store.inner().items(), before, "nothing changed");
    let task = engine.poll_for_task("wg", None).await.unwrap().unwrap();
    let wrong = engine
        .report_task_progress(&task.task_id, Some("other"))
        .await
        .unwrap_err();
    assert!(matches!(wrong, EngineError::WrongWorkerGroup { .. }), "{wrong}");
    let wrong = engine
        .set_task_status(&task.task_id, None, TaskStatus::False, ErrorDetails::default())
        .await
        .unwrap_err();
    assert!(matches!(wrong, EngineError::InvalidRequest(_)), "{wrong}");
    // A duplicate report is accepted and changes nothing
    engine
        .set_task_status(&task.task_id, None, TaskStatus::Finished, ErrorDetails::default())
        .await
        .unwrap();
    let after_first = world.store.inner().items();
    engine
        .set_task_status(&task.task_id, None, TaskStatus::Finished, ErrorDetails::default())
        .await
        .unwrap();
    assert_eq!(world.store.inner().items(), after_first);
}

#[tokio::test]
async fn a_task_is_never_handed_out_twice_to_concurrent_pollers() {
    let world = World::new(MemoryStore::new(), "2026-01-01T00:00:00");
    world
        .pipeline(
            "df-race",
            hourly(vec![json!({"id": "A", "type": "ShellCommandActivity", "command": "a"})]),
            ActivateOptions::default(),
        )
        .await;
    world.tick().await;
    let (first, second) = {
        let (one, two) = (world.engine(), world.engine());
        tokio::join!(one.poll_for_task("wg", Some("h1")), two.poll_for_task("wg", Some("h2")))
    };
    let handed: Vec<_> = [first.unwrap(), second.unwrap()].into_iter().flatten().collect();
    assert_eq!(handed.len(), 1);
}

async fn a_schedule_step_writes_its_new_instances_together_and_a_crash_leftover_holds_nothing_back<S: RunStore>(
    store: S,
) {
    // Given an hourly chain of two, activated at its first hour
    let world = World::new(store, "2026-01-01T00:00:00");
    let definition = hourly(vec![
        json!({"id": "A", "type": "ShellCommandActivity", "command": "a"}),
        json!({"id": "B", "type": "ShellCommandActivity", "command": "b", "dependsOn": {"ref": "A"}}),
    ]);
    world
        .pipeline("df-together", definition, ActivateOptions::default())
        .await;
    // When the schedule stage makes the first hour's instances
    world.store.reset();
    let report = world.engine().schedule_step().await.unwrap();
    // Then both instances, both cursors and the pipeline's next look took one request
    assert_eq!(world.store.requests().writes, 1, "{report:?}");
    assert_eq!(report.changed, 5, "{report:?}");
    world.status("df-together", "B", "2026-01-01T00:00:00").await;
    // And when a step crashed after making A's instance but before moving A's cursor
    // (the cursor is as if never written), the next step, an hour on
    let cursor = world
        .store
        .get(&keys::component("df-together", "A"))
        .await
        .unwrap()
        .unwrap();
    let forgotten = sluice::store::Write::Delete {
        key: cursor.key.clone(),
        expected: sluice::store::Expected::of(&cursor),
    };
    assert!(world.store.write(forgotten).await.unwrap());
    world.clock.advance(TimeDelta::hours(1));
    let report = world.engine().schedule_step().await.unwrap();
    // finds the leftover made already (a lost race, nothing written twice) and still makes
    // the second hour's instances and moves the cursor past them
    assert_eq!(report.lost_races, 1, "{report:?}");
    assert_eq!(
        world.status("df-together", "A", "2026-01-01T01:00:00").await,
        Status::WaitingOnDependencies
    );
    world.status("df-together", "B", "2026-01-01T01:00:00").await;
    world.clock.advance(TimeDelta::hours(1));
    let report = world.engine().schedule_step().await.unwrap();
    assert_eq!(report.lost_races, 0, "{report:?}");
}

#[tokio::test]
async fn costs_one_write_per_transition_plus_one_for_creation() {
    // Given an activity whose instance was created (one write)
    let world = World::new(MemoryStore::new(), "2026-01-01T00:00:00");
    let mut definition = hourly(vec![json!({"id": "A", "type": "ShellCommandActivity", "command": "a"})]);
    definition["objects"][0].as_object_mut().unwrap().remove("onSuccess");
    world.pipeline("df-cost", definition, ActivateOptions::default()).await;
    let engine = world.engine();
    engine.schedule_step().await.unwrap();
    world.store.reset();
    // When it goes WAITING_ON_DEPENDENCIES → WAITING_FOR_RUNNER → RUNNING → FINISHED
    engine.dependencies_step().await.unwrap();
    let task = engine.poll_for_task("wg", None).await.unwrap().unwrap();
    engine
        .set_task_status(&task.task_id, None, TaskStatus::Finished, ErrorDetails::default())
        .await
        .unwrap();
    // Then three transitions took three write requests (the poll's once-a-minute note aside)
    let requests = world.store.requests();
    assert_eq!(requests.writes, 3 + 1, "{requests:?}");
    assert_eq!(world.clock.now(), at("2026-01-01T00:00:00"));
}

/// Reads made by one pass of every stage and one poll.
async fn reads_of_one_pass(world: &World<MemoryStore>) -> u64 {
    world.store.reset();
    world.tick().await;
    world.engine().poll_for_task("wg", None).await.unwrap();
    world.store.requests().reads
}

#[tokio::test]
async fn a_step_reads_no_more_with_100_000_finished_instances_than_with_none() {
    // Given the same pipeline twice, one with 100,000 finished instances of history
    let definition = || hourly(vec![json!({"id": "A", "type": "ShellCommandActivity", "command": "a"})]);
    let fresh = World::new(MemoryStore::new(), "2026-01-01T00:00:00");
    fresh.pipeline("df-h", definition(), ActivateOptions::default()).await;
    let busy = World::new(MemoryStore::new(), "2026-01-01T00:00:00");
    busy.pipeline("df-h", definition(), ActivateOptions::default()).await;
    let start = at("2010-01-01T00:00:00");
    for index in 0..100_000 {
        let begin = start + TimeDelta::hours(index);
        let finished = InstanceRecord {
            pipeline_id: "df-h".into(),
            component_id: "A".into(),
            type_name: "ShellCommandActivity".into(),
            scheduled_start: begin,
            scheduled_end: begin + TimeDelta::hours(1),
            runs_at: begin,
            status: Status::Finished,
            attempts: 1,
            run_first_attempt: 1,
            precondition_attempts: 0,
            reruns: 0,
            waiting_on: Vec::new(),
            next_check_at: None,
            worker_group: Some("wg".into()),
            preconditions: Vec::new(),
            late_deadline: None,
            late_raised: false,
            started_at: Some(begin),
            ended_at: Some(begin),
            error: ErrorDetails::default(),
            cascade_failed_on: None,
            created_at: begin,
        };
        assert!(
            busy.store
                .inner()
                .write(records::create(&finished).unwrap())
                .await
                .unwrap()
        );
    }

    // When every stage runs a pass over the same due work
    let (without, with) = (reads_of_one_pass(&fresh).await, reads_of_one_pass(&busy).await);

    // Then history costs nothing: the due queues hold only due work
    assert_eq!(with, without);
    assert!(busy.store.inner().len() > 100_000);
}

async fn a_shell_command_precondition_is_a_runner_task_checked_again_after_false<S: RunStore>(store: S) {
    let world = World::new(store, "2026-01-01T00:00:00");
    world
        .pipeline(
            "df-shell",
            hourly(vec![
                json!({"id": "Ready", "type": "ShellCommandPrecondition", "command": "test -f /data/ready",
                       "retryDelay": "3 minutes"}),
                json!({"id": "A", "type": "ShellCommandActivity", "command": "a", "precondition": {"ref": "Ready"}}),
            ]),
            ActivateOptions::default(),
        )
        .await;
    world.tick().await;
    let engine = world.engine();
    // The runner of the gated object's worker group gets the check as a task
    let check = engine.poll_for_task("wg", None).await.unwrap().unwrap();
    assert_eq!(check.object_id, "Ready");
    assert!(
        check
            .fields
            .contains(&("command".to_owned(), "test -f /data/ready".to_owned())),
        "{:?}",
        check.fields
    );
    engine
        .set_task_status(&check.task_id, None, TaskStatus::False, ErrorDetails::default())
        .await
        .unwrap();
    world.advance(1).await;
    let a = world.instance("df-shell", "A", "2026-01-01T00:00:00").await;
    assert_eq!(a.status, Status::WaitingOnDependencies);
    assert!(
        a.waiting_on[0].contains("false when a runner checked it"),
        "{:?}",
        a.waiting_on
    );
    assert!(
        engine.poll_for_task("wg", None).await.unwrap().is_none(),
        "not again before retryDelay"
    );
    world.advance(2).await;
    let again = engine.poll_for_task("wg", None).await.unwrap().unwrap();
    assert_eq!(again.object_id, "Ready");
    engine
        .set_task_status(&again.task_id, None, TaskStatus::Finished, ErrorDetails::default())
        .await
        .unwrap();
    world.advance(1).await;
    assert_eq!(
        world.status("df-shell", "A", "2026-01-01T00:00:00").await,
        Status::WaitingForRunner
    );
    // The checks are attempts of their own, apart from A's first attempt, now waiting
    assert_eq!(check.attempt_id, "@A.Ready_2026-01-01T00:00:00_Attempt=1");
    assert_eq!(again.attempt_id, "@A.Ready_2026-01-01T00:00:00_Attempt=2");
    let attempts = engine
        .query_objects("df-shell", sluice::engine::objects::Sphere::Attempt, &[])
        .await
        .unwrap();
    assert_eq!(
        attempts,
        [
            "@A_2026-01-01T00:00:00_Attempt=1",
            "@A.Ready_2026-01-01T00:00:00_Attempt=1",
            "@A.Ready_2026-01-01T00:00:00_Attempt=2"
        ]
    );
    let described = engine
        .describe_objects(
            "df-shell",
            &[check.attempt_id.clone(), "@A_2026-01-01T00:00:00_Attempt=1".into()],
            false,
        )
        .await
        .unwrap();
    let parent = |object: &sluice::definition::shape::ApiPipelineObject| {
        object
            .fields
            .iter()
            .find(|field| field.key == "@componentParent")
            .and_then(|field| field.ref_value.clone())
    };
    assert_eq!(parent(&described[0]).as_deref(), Some("Ready"));
    assert_eq!(parent(&described[1]).as_deref(), Some("A"));
}

async fn an_on_demand_pipeline_runs_once_per_activation<S: RunStore>(store: S) {
    let world = World::new(store, "2026-01-01T00:00:00");
    let definition = json!({"objects": [
        {"id": "Default", "scheduleType": "ondemand", "workerGroup": "wg"},
        {"id": "A", "type": "ShellCommandActivity", "command": "a"},
    ]});
    world.pipeline("df-od", definition, ActivateOptions::default()).await;
    world.tick().await;
    world.run_task("wg", TaskStatus::Finished).await;
    assert_eq!(
        world.status("df-od", "A", "2026-01-01T00:00:00").await,
        Status::Finished
    );
    world.advance(30).await;
    assert!(
        world.engine().poll_for_task("wg", None).await.unwrap().is_none(),
        "one run per activation"
    );
    world
        .engine()
        .activate("df-od", &ActivateOptions::default())
        .await
        .unwrap();
    world.tick().await;
    world.run_task("wg", TaskStatus::Finished).await;
    assert_eq!(
        world.status("df-od", "A", "2026-01-01T00:30:00").await,
        Status::Finished
    );
    assert_eq!(world.pipeline_state("df-od").await, PipelineState::Scheduled);
}

async fn deactivating_without_cancel_drains_running_work_then_is_inactive<S: RunStore>(store: S) {
    let world = World::new(store, "2026-01-01T00:00:00");
    world
        .pipeline(
            "df-drain",
            hourly(vec![json!({"id": "A", "type": "ShellCommandActivity", "command": "a"})]),
            ActivateOptions::default(),
        )
        .await;
    world.tick().await;
    let engine = world.engine();
    let task = engine.poll_for_task("wg", None).await.unwrap().unwrap();
    engine.deactivate("df-drain", false).await.unwrap();
    assert_eq!(world.pipeline_state("df-drain").await, PipelineState::Deactivating);
    world.advance(1).await;
    assert_eq!(
        world.pipeline_state("df-drain").await,
        PipelineState::Deactivating,
        "A is still running"
    );
    engine.report_task_progress(&task.task_id, None).await.unwrap();
    engine
        .set_task_status(&task.task_id, None, TaskStatus::Finished, ErrorDetails::default())
        .await
        .unwrap();
    world.advance(1).await;
    assert_eq!(world.pipeline_state("df-drain").await, PipelineState::Inactive);
    world.advance(60).await;
    assert!(
        engine.poll_for_task("wg", None).await.unwrap().is_none(),
        "nothing new starts"
    );
}

#[tokio::test]
async fn a_corrupt_due_record_is_reported_and_does_not_stop_the_queue() {
    // Given a due item that is not an instance, beside a real one
    let world = World::new(MemoryStore::new(), "2026-01-01T00:00:00");
    world
        .pipeline(
            "df-corrupt",
            hourly(vec![json!({"id": "A", "type": "ShellCommandActivity", "command": "a"})]),
            ActivateOptions::default(),
        )
        .await;
    world.engine().schedule_step().await.unwrap();
    let garbage = sluice::store::Item {
        key: sluice::store::Key::new(keys::pipeline_pk("df-corrupt"), "INST#broken"),
        version: 0,
        status: Some("WAITING_ON_DEPENDENCIES".into()),
        due: Some(sluice::store::Due {
            queue: keys::queue(keys::stages::DEPENDENCIES, "df-corrupt"),
            at_millis: 0,
        }),
        expires_at: None,
        data: "{not json".into(),
    };
    assert!(world.store.write(sluice::store::Write::Create(garbage)).await.unwrap());
    // When the dependencies stage runs
    let report = world.engine().dependencies_step().await.unwrap();
    // Then the real instance moves on and the broken one is reported, not lost
    assert_eq!(
        world.status("df-corrupt", "A", "2026-01-01T00:00:00").await,
        Status::WaitingForRunner
    );
    assert_eq!(report.corrupt.len(), 1);
    assert!(report.corrupt[0].contains("INST#broken"), "{:?}", report.corrupt);
    // and set aside for an hour, so that the next rounds start with other work
    let broken = world
        .store
        .get(&sluice::store::Key::new(keys::pipeline_pk("df-corrupt"), "INST#broken"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        broken.data, "{not json",
        "the record is kept as it was for a person to read"
    );
    assert_eq!(
        broken.due.unwrap().at_millis,
        at("2026-01-01T01:00:00").and_utc().timestamp_millis()
    );
}

#[tokio::test]
async fn a_rerun_cut_short_before_its_consumers_completes_when_asked_again() {
    // Given A failed and B cascade-failed on it
    let world = World::new(MemoryStore::new(), "2026-01-01T00:00:00");
    let mut definition = hourly(vec![
        json!({"id": "A", "type": "ShellCommandActivity", "command": "a", "maximumRetries": "0"}),
        json!({"id": "B", "type": "ShellCommandActivity", "command": "b", "dependsOn": {"ref": "A"}}),
    ]);
    definition["objects"][0].as_object_mut().unwrap().remove("onFail");
    world.pipeline("df-cut", definition, ActivateOptions::default()).await;
    world.tick().await;
    world.run_task("wg", TaskStatus::Failed).await;
    world.advance(1).await;
    assert_eq!(
        world.status("df-cut", "B", "2026-01-01T00:00:00").await,
        Status::CascadeFailed
    );
    // And a rerun of A that crashed after A was written, before B
    let key = keys::instance("df-cut", "A", at("2026-01-01T00:00:00"));
    let a: Stored<InstanceRecord> = records::get(&world.store, &key).await.unwrap().unwrap();
    let rerun = InstanceRecord {
        status: Status::WaitingOnDependencies,
        reruns: 1,
        run_first_attempt: 2,
        ..a.record.clone()
    };
    assert!(world.store.write(a.replace(&rerun).unwrap()).await.unwrap());
    // When the operator asks again
    world
        .engine()
        .set_instance_status("df-cut", &["@A_2026-01-01T00:00:00".into()], InstanceCommand::Rerun)
        .await
        .unwrap();
    // Then the cascade completes: B waits again instead of staying CASCADE_FAILED
    assert_eq!(
        world.status("df-cut", "B", "2026-01-01T00:00:00").await,
        Status::WaitingOnDependencies
    );
}

#[tokio::test]
async fn an_hourly_consumer_rolls_up_every_quarter_hour_of_its_producer() {
    // Given a 15-minute producer and an hourly consumer of its output (reference §3.6)
    let world = World::new(MemoryStore::new(), "2026-01-01T00:00:00");
    let definition = json!({"objects": [
        {"id": "Default", "scheduleType": "cron", "workerGroup": "wg", "failureAndRerunMode": "cascade"},
        {"id": "Quarterly", "type": "Schedule", "period": "15 minutes", "startDateTime": "2026-01-01T00:00:00", "occurrences": "4"},
        {"id": "Hourly", "type": "Schedule", "period": "1 hour", "startDateTime": "2026-01-01T00:00:00", "occurrences": "1"},
        {"id": "Produce", "type": "ShellCommandActivity", "command": "p", "schedule": {"ref": "Quarterly"}},
        {"id": "Summarise", "type": "ShellCommandActivity", "command": "s", "schedule": {"ref": "Hourly"},
         "dependsOn": {"ref": "Produce"}},
    ]});
    world
        .pipeline("df-rollup", definition, ActivateOptions::default())
        .await;
    for quarter in 0..4 {
        world.tick().await;
        world.run_task("wg", TaskStatus::Finished).await;
        if quarter < 3 {
            world.advance(1).await;
            let summary = world.instance("df-rollup", "Summarise", "2026-01-01T00:00:00").await;
            assert_eq!(
                summary.status,
                Status::WaitingOnDependencies,
                "after {} quarters",
                quarter + 1
            );
            assert!(
                summary.waiting_on.iter().all(|why| why.starts_with("@Produce_")),
                "{:?}",
                summary.waiting_on
            );
            world
                .clock
                .set(at("2026-01-01T00:00:00") + TimeDelta::minutes(15 * (quarter + 1)));
        }
    }
    // Then it starts once all four have finished
    world.advance(1).await;
    assert_eq!(
        world.status("df-rollup", "Summarise", "2026-01-01T00:00:00").await,
        Status::WaitingForRunner
    );
}

fn on_a_box() -> Value {
    json!({"objects": [
        {"id": "Default", "scheduleType": "ondemand"},
        {"id": "Box", "type": "Ec2Resource", "instanceType": "t3.micro",
         "role": "DataPipelineDefaultRole", "resourceRole": "DataPipelineDefaultResourceRole"},
        {"id": "Work", "type": "ShellCommandActivity", "command": "work", "runsOn": {"ref": "Box"}},
    ]})
}

async fn a_resource_runner_is_told_to_terminate_once_its_resource_has_ended<S: RunStore>(store: S) {
    // Given an activity that runs on an Ec2Resource, in two pipelines that name it alike
    let world = World::new(store, "2026-01-01T00:00:00");
    world.pipeline("df-box", on_a_box(), ActivateOptions::default()).await;
    world.pipeline("df-twin", on_a_box(), ActivateOptions::default()).await;
    world.tick().await;
    let engine = world.engine();
    // Then its work waits for the runner of that pipeline's resource instance
    let work = world.instance("df-box", "Work", "2026-01-01T00:00:00").await;
    let group = "df-box/@Box_2026-01-01T00:00:00";
    assert_eq!(work.worker_group.as_deref(), Some(group));
    let twin = world.instance("df-twin", "Work", "2026-01-01T00:00:00").await;
    assert_eq!(twin.worker_group.as_deref(), Some("df-twin/@Box_2026-01-01T00:00:00"));
    // And that runner's heartbeats say to keep going while the resource lives
    assert!(
        !engine
            .report_task_runner_heartbeat("tr-1", Some(group), Some("box"))
            .await
            .unwrap()
    );
    assert!(
        !engine
            .report_task_runner_heartbeat("tr-2", Some("wg"), None)
            .await
            .unwrap()
    );
    assert!(!engine.report_task_runner_heartbeat("tr-3", None, None).await.unwrap());
    // When the resource instance is canceled, its runner is told to terminate
    engine
        .set_instance_status(
            "df-box",
            &["@Box_2026-01-01T00:00:00".into()],
            InstanceCommand::TryCancel,
        )
        .await
        .unwrap();
    assert!(
        engine
            .report_task_runner_heartbeat("tr-1", Some(group), Some("box"))
            .await
            .unwrap()
    );
    // And the twin's runner, and the plain worker group's, are not
    let twin_group = "df-twin/@Box_2026-01-01T00:00:00";
    assert!(
        !engine
            .report_task_runner_heartbeat("tr-4", Some(twin_group), None)
            .await
            .unwrap()
    );
    assert!(
        !engine
            .report_task_runner_heartbeat("tr-2", Some("wg"), None)
            .await
            .unwrap()
    );
    // Once the twin's pipeline is deleted and its records purged, its runner is told too
    engine.delete_pipeline("df-twin").await.unwrap();
    engine.purge_step().await.unwrap();
    assert!(
        engine
            .report_task_runner_heartbeat("tr-4", Some(twin_group), None)
            .await
            .unwrap()
    );
}

async fn simulated_resources_finish_at_once_and_their_work_goes_to_the_named_group<S: RunStore>(store: S) {
    // Given resources simulated onto worker group "local" (as sluice dev does)
    let world = World::new(store, "2026-01-01T00:00:00");
    world.pipeline("df-sim", on_a_box(), ActivateOptions::default()).await;
    let engine = world.engine_with(Limits {
        simulated_resources: Some("local".into()),
        ..Limits::default()
    });
    engine.schedule_step().await.unwrap();
    engine.dependencies_step().await.unwrap();
    // Then the resource finished without launching anything, and the work waits on "local"
    let start = "2026-01-01T00:00:00";
    assert_eq!(world.status("df-sim", "Box", start).await, Status::Finished);
    let work = world.instance("df-sim", "Work", start).await;
    assert_eq!(work.worker_group.as_deref(), Some("local"));
    let task = engine
        .poll_for_task("local", Some("dev"))
        .await
        .unwrap()
        .expect("a task");
    assert_eq!(task.object_id, "Work");
    engine.report_task_progress(&task.task_id, None).await.unwrap();
    engine
        .set_task_status(&task.task_id, None, TaskStatus::Finished, ErrorDetails::default())
        .await
        .unwrap();
    assert_eq!(world.status("df-sim", "Work", start).await, Status::Finished);
}

async fn progress_reports_carry_fields_that_show_on_the_attempt<S: RunStore>(store: S) {
    use sluice::definition::shape::ApiField;
    let field = |key: &str, value: &str| ApiField {
        key: key.into(),
        string_value: Some(value.into()),
        ref_value: None,
    };
    let world = World::new(store, "2026-01-01T00:00:00");
    let definition = json!({"objects": [
        {"id": "Default", "scheduleType": "ondemand", "workerGroup": "wg"},
        {"id": "A", "type": "ShellCommandActivity", "command": "a"},
    ]});
    world
        .pipeline("df-progress", definition, ActivateOptions::default())
        .await;
    world.tick().await;
    let engine = world.engine();
    let task = engine.poll_for_task("wg", None).await.unwrap().unwrap();
    // When the runner reports progress with fields, twice, the second replacing one
    let first = [field("percentDone", "10"), field("phase", "extract")];
    assert!(
        !engine
            .report_task_progress_with(&task.task_id, None, &first)
            .await
            .unwrap()
    );
    let second = [field("percentDone", "60")];
    assert!(
        !engine
            .report_task_progress_with(&task.task_id, None, &second)
            .await
            .unwrap()
    );
    // Then the attempt shows the latest value of each
    let described = engine
        .describe_objects("df-progress", std::slice::from_ref(&task.attempt_id), false)
        .await
        .unwrap();
    let value = |key: &str| {
        described[0]
            .fields
            .iter()
            .filter(|field| field.key == key)
            .map(|field| field.string_value.clone().unwrap_or_default())
            .collect::<Vec<_>>()
    };
    assert_eq!(value("percentDone"), ["60"]);
    assert_eq!(value("phase"), ["extract"]);
    // And a field in the service's own namespace is refused, changing nothing
    let refused = engine
        .report_task_progress_with(&task.task_id, None, &[field("@status", "FINISHED")])
        .await;
    let Err(EngineError::InvalidRequest(message)) = refused else {
        panic!("expected a refusal, got {refused:?}")
    };
    assert!(message.contains("\"@status\""), "{message}");
    let attempt = engine
        .describe_objects("df-progress", std::slice::from_ref(&task.attempt_id), false)
        .await
        .unwrap();
    assert_eq!(attempt, described);
}

fn alarmed(objects: Vec<Value>, alarms: Vec<Value>) -> Value {
    let mut all = vec![
        json!({"id": "Default", "scheduleType": "ondemand", "workerGroup": "wg", "maximumRetries": "0",
               "failureAndRerunMode": "cascade", "role": "DataPipelineDefaultRole"}),
    ];
    all.extend(objects);
    all.extend(alarms);
    json!({ "objects": all })
}

async fn an_alarm_is_published_once_with_the_instances_real_error_text<S: RunStore>(store: S) {
    use sluice::cloud::notify::FakeNotifier;
    // Given an activity whose failure raises an SnsAlarm that quotes the node
    let world = World::new(store, "2026-01-01T00:00:00");
    let definition = alarmed(
        vec![
            json!({"id": "Load", "name": "Nightly load", "type": "ShellCommandActivity", "command": "load",
                    "onFail": {"ref": "Page"}, "onSuccess": {"ref": "Quiet"}, "*myToken": "s3cr3t"}),
        ],
        vec![
            json!({"id": "Page", "type": "SnsAlarm", "topicArn": "arn:aws:sns:us-east-1:1:oncall",
                   "subject": "#{node.name} #{node.@status}",
                   "message": "#{node.name} at #{node.@scheduledStartTime}: #{node.errorId} #{node.errorMessage} after #{node.@attemptCount} attempt(s)"}),
            json!({"id": "Quiet", "type": "SnsAlarm", "topicArn": "arn:aws:sns:us-east-1:1:quiet",
                   "subject": "#{node.name} is #{node.@status}",
                   "message": "error: '#{node.errorMessage}' (#{node.*myToken})"}),
        ],
    );
    world.pipeline("df-alarm", definition, ActivateOptions::default()).await;
    world.tick().await;
    world.run_task("wg", TaskStatus::Failed).await;
    // When the actions stage runs, twice, and a second engine runs it at the same time
    let notifier = FakeNotifier::new();
    let engine = world.engine();
    let report = engine.actions_step(&notifier).await.unwrap();
    assert_eq!(report.examined, 1, "{report:?}");
    engine.actions_step(&notifier).await.unwrap();
    world.clock.advance(TimeDelta::hours(1));
    engine.actions_step(&notifier).await.unwrap();
    // Then one message went out, every expression evaluated from the real instance
    let published = notifier.published();
    assert_eq!(published.len(), 1, "{published:#?}");
    assert_eq!(published[0].topic_arn, "arn:aws:sns:us-east-1:1:oncall");
    assert_eq!(published[0].subject, "Nightly load FAILED");
    assert_eq!(
        published[0].message,
        "Nightly load at 2026-01-01T00:00:00: Exit1 disk full after 1 attempt(s)"
    );
    let events = world.events("df-alarm").await;
    assert!(
        events.iter().all(|event| event.fired && event.errors.is_empty()),
        "{events:#?}"
    );
    // And a success alarm reads an empty error, never null
    world
        .engine()
        .set_instance_status(
            "df-alarm",
            &["@Load_2026-01-01T00:00:00".into()],
            InstanceCommand::Rerun,
        )
        .await
        .unwrap();
    world.tick().await;
    world.run_task("wg", TaskStatus::Finished).await;
    engine.actions_step(&notifier).await.unwrap();
    let published = notifier.published();
    assert_eq!(published.len(), 2, "{published:#?}");
    assert_eq!(published[1].topic_arn, "arn:aws:sns:us-east-1:1:quiet");
    assert_eq!(published[1].subject, "Nightly load is FINISHED");
    assert_eq!(
        published[1].message, "error: '' (********)",
        "no error is empty, not null; secrets masked"
    );
}

async fn an_alarm_sns_fails_for_now_is_sent_later_and_one_it_refuses_is_recorded<S: RunStore>(store: S) {
    use sluice::cloud::notify::FakeNotifier;
    let world = World::new(store, "2026-01-01T00:00:00");
    let definition = alarmed(
        vec![json!({"id": "A", "type": "ShellCommandActivity", "command": "a",
                    "onFail": [{"ref": "Gone"}, {"ref": "Busy"}]})],
        vec![
            json!({"id": "Gone", "type": "SnsAlarm", "topicArn": "arn:aws:sns:us-east-1:1:gone",
                   "subject": "s", "message": "m"}),
            json!({"id": "Busy", "type": "SnsAlarm", "topicArn": "arn:aws:sns:us-east-1:1:busy",
                   "subject": "#{node.name}", "message": "#{node.errorMessage}"}),
        ],
    );
    world.pipeline("df-busy", definition, ActivateOptions::default()).await;
    world.tick().await;
    world.run_task("wg", TaskStatus::Failed).await;
    let notifier = FakeNotifier::new();
    notifier.refuse("arn:aws:sns:us-east-1:1:gone");
    notifier.make_unavailable("arn:aws:sns:us-east-1:1:busy");
    let engine = world.engine();
    // When SNS refuses one topic and throttles the other
    let report = engine.actions_step(&notifier).await.unwrap();
    assert_eq!(report.problems.len(), 2, "{report:?}");
    let event = &world.events("df-busy").await[0];
    assert!(!event.fired);
    assert!(event.errors[0].contains("NotFound"), "{:?}", event.errors);
    assert!(event.errors[1].contains("Throttling") && event.errors[1].contains("trying again at 2026-01-01T00:00:30"));
    // Then nothing is sent again before the back-off, and once SNS recovers the other goes
    engine.actions_step(&notifier).await.unwrap();
    assert!(notifier.published().is_empty());
    notifier.heal();
    world.clock.advance(TimeDelta::seconds(30));
    engine.actions_step(&notifier).await.unwrap();
    let published = notifier.published();
    assert_eq!(
        published.len(),
        1,
        "the refused topic is not tried again: {published:#?}"
    );
    assert_eq!(published[0].message, "disk full");
    let event = &world.events("df-busy").await[0];
    assert!(event.fired);
    assert_eq!(event.done, ["Gone", "Busy"]);
}

async fn a_terminate_action_on_lateness_cancels_the_instance_and_its_attempt<S: RunStore>(store: S) {
    use sluice::cloud::notify::FakeNotifier;
    let world = World::new(store, "2026-01-01T00:00:00");
    // (Lateness applies to scheduled pipelines: AWS ignores lateAfterTimeout on demand.)
    let mut definition = alarmed(
        vec![
            json!({"id": "Slow", "type": "ShellCommandActivity", "command": "sleep 1000",
                   "lateAfterTimeout": "10 minutes", "onLateAction": [{"ref": "Kill"}, {"ref": "Tell"}]}),
            json!({"id": "Hourly", "type": "Schedule", "period": "1 hour", "startDateTime": "2026-01-01T00:00:00",
                   "occurrences": "1"}),
        ],
        vec![
            json!({"id": "Kill", "type": "Terminate"}),
            json!({"id": "Tell", "type": "SnsAlarm", "topicArn": "arn:aws:sns:us-east-1:1:t",
                   "subject": "late", "message": "#{node.name} was #{node.@status}"}),
        ],
    );
    definition["objects"][0]["scheduleType"] = json!("cron");
    definition["objects"][0]["schedule"] = json!({"ref": "Hourly"});
    world.pipeline("df-kill", definition, ActivateOptions::default()).await;
    world.tick().await;
    let engine = world.engine();
    let task = engine.poll_for_task("wg", None).await.unwrap().unwrap();
    engine.report_task_progress(&task.task_id, None).await.unwrap();
    // When it runs past lateAfterTimeout and the actions fire
    world.advance(11).await;
    let notifier = FakeNotifier::new();
    engine.actions_step(&notifier).await.unwrap();
    // Then the instance is canceled, its runner is told at its next report, and the alarm
    // that follows sees the canceled status
    assert_eq!(
        world.status("df-kill", "Slow", "2026-01-01T00:00:00").await,
        Status::Canceled
    );
    assert!(
        engine.report_task_progress(&task.task_id, None).await.unwrap(),
        "canceled"
    );
    let published = notifier.published();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].message, "Slow was CANCELED");
}

fn ended(pipeline: &str, component: &str, start: &str, old: &str, new: &str) -> Change {
    Change {
        kind: ChangeKind::Modify,
        key: keys::instance(pipeline, component, at(start)),
        old_status: Some(old.into()),
        new_status: Some(new.into()),
        new_queue: None,
    }
}

async fn a_finish_wakes_its_consumers_at_once_through_a_data_node_and_only_once<S: RunStore>(store: S) {
    // Given A, a data node it writes, and B that reads it, with A running
    let world = World::new(store, "2026-01-01T00:00:00");
    world
        .pipeline(
            "df-wake",
            hourly(vec![
                json!({"id": "A", "type": "ShellCommandActivity", "command": "a", "output": {"ref": "Staged"}}),
                json!({"id": "Staged", "type": "S3DataNode", "directoryPath": "s3://b/staged/"}),
                json!({"id": "B", "type": "ShellCommandActivity", "command": "b", "input": {"ref": "Staged"}}),
            ]),
            ActivateOptions::default(),
        )
        .await;
    world.tick().await;
    world.run_task("wg", TaskStatus::Finished).await;
    let start = "2026-01-01T00:00:00";
    assert_eq!(world.status("df-wake", "B", start).await, Status::WaitingOnDependencies);
    // When the stream says A finished, without any time passing
    let engine = world.engine();
    let change = ended("df-wake", "A", start, "RUNNING", "FINISHED");
    let report = engine.wake_consumers(std::slice::from_ref(&change)).await.unwrap();
    // Then the data node finished and B waits for a runner already
    assert_eq!(world.status("df-wake", "Staged", start).await, Status::Finished);
    assert_eq!(world.status("df-wake", "B", start).await, Status::WaitingForRunner);
    assert_eq!(report.examined, 2, "{report:?}");
    // And the same record delivered again changes nothing
    let again = engine.wake_consumers(&[change]).await.unwrap();
    assert_eq!(again.changed, 0, "{again:?}");
    // And changes that are not an instance ending, or name a record that is gone, are skipped
    let other = [
        Change {
            kind: ChangeKind::Insert,
            key: keys::pipeline("df-wake"),
            old_status: None,
            new_status: Some("SCHEDULED".into()),
            new_queue: None,
        },
        ended("df-wake", "A", start, "FINISHED", "FINISHED"),
        ended("df-gone", "X", start, "RUNNING", "FAILED"),
    ];
    let skipped = engine.wake_consumers(&other).await.unwrap();
    assert_eq!((skipped.examined, skipped.changed), (0, 0));
    assert_eq!(skipped.problems.len(), 1, "{skipped:?}");
    assert!(skipped.problems[0].contains("not in the table"), "{skipped:?}");
}

async fn new_instances_are_checked_at_once_unless_what_they_wait_for_is_new_too<S: RunStore>(store: S) {
    // Given a chain A <- B <- C whose instances the schedule stage has just created
    let world = World::new(store, "2026-01-01T00:00:00");
    world
        .pipeline(
            "df-new",
            hourly(vec![
                json!({"id": "A", "type": "ShellCommandActivity", "command": "a"}),
                json!({"id": "B", "type": "ShellCommandActivity", "command": "b", "dependsOn": {"ref": "A"}}),
                json!({"id": "C", "type": "ShellCommandActivity", "command": "c", "dependsOn": {"ref": "B"}}),
            ]),
            ActivateOptions::default(),
        )
        .await;
    let engine = world.engine();
    engine.schedule_step().await.unwrap();
    let start = "2026-01-01T00:00:00";
    // Each says what it waits for before any check
    assert_eq!(
        world.instance("df-new", "A", start).await.waiting_on,
        ["its first check, due now"]
    );
    assert_eq!(
        world.instance("df-new", "B", start).await.waiting_on,
        ["the runs it depends on (A)"]
    );
    // When the stream shows the three created in one batch
    let created = |component: &str| Change {
        kind: ChangeKind::Insert,
        key: keys::instance("df-new", component, at(start)),
        old_status: None,
        new_status: Some("WAITING_ON_DEPENDENCIES".into()),
        new_queue: None,
    };
    let report = engine
        .check_new_instances(&[created("A"), created("B"), created("C")])
        .await
        .unwrap();
    // Then only A, which waits for nothing new, is checked, and it is ready for a runner
    assert_eq!(report.examined, 1, "{report:?}");
    assert_eq!(world.status("df-new", "A", start).await, Status::WaitingForRunner);
    assert_eq!(world.status("df-new", "B", start).await, Status::WaitingOnDependencies);
    // And B alone in a batch (its upstream is not new there) is checked, and says why it waits
    let report = engine.check_new_instances(&[created("B")]).await.unwrap();
    assert_eq!(report.examined, 1, "{report:?}");
    let waiting = world.instance("df-new", "B", start).await.waiting_on.join(" ");
    assert!(waiting.contains("@A_2026-01-01T00:00:00"), "{waiting}");
}

async fn attempts_made_ready_are_offered_as_they_are_written_and_retries_are_not<S: RunStore>(store: S) {
    // Given a runner precondition gating A, and B with nothing before it
    let world = World::new(store, "2026-01-01T00:00:00");
    world
        .pipeline(
            "df-offer",
            hourly(vec![
                json!({"id": "Ready", "type": "ShellCommandPrecondition", "command": "true"}),
                json!({"id": "A", "type": "ShellCommandActivity", "command": "a", "precondition": {"ref": "Ready"}}),
                json!({"id": "B", "type": "ShellCommandActivity", "command": "b", "workerGroup": "other"}),
            ]),
            ActivateOptions::default(),
        )
        .await;
    let offered = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let told = offered.clone();
    let engine = world
        .engine()
        .with_task_offered(std::sync::Arc::new(move |group: &str| {
            told.lock().unwrap().push(group.to_owned())
        }));
    // When the stages make the precondition's check and B's attempt
    engine.schedule_step().await.unwrap();
    engine.dependencies_step().await.unwrap();
    // Then each was offered to its worker group as it was written
    let mut groups = offered.lock().unwrap().clone();
    groups.sort();
    assert_eq!(groups, ["other", "wg"]);
    // And a failed attempt's retry, which waits out its delay, is not offered
    offered.lock().unwrap().clear();
    let task = engine.poll_for_task("other", None).await.unwrap().unwrap();
    engine
        .set_task_status(&task.task_id, None, TaskStatus::Failed, ErrorDetails::default())
        .await
        .unwrap();
    assert!(offered.lock().unwrap().is_empty(), "{:?}", offered.lock().unwrap());
}

async fn every_stage_runs_from_a_tick_or_a_batch_of_changes<S: RunStore>(store: S) {
    use sluice::{
        cloud::notify::FakeNotifier,
        stages::{Ports, Stage, Trigger, run_stage},
    };
    // Given an on-demand chain whose failure raises an alarm
    let world = World::new(store, "2026-01-01T00:00:00");
    let definition = alarmed(
        vec![
            json!({"id": "A", "type": "ShellCommandActivity", "command": "a", "onFail": {"ref": "Page"}}),
            json!({"id": "B", "type": "ShellCommandActivity", "command": "b", "dependsOn": {"ref": "A"}}),
        ],
        vec![
            json!({"id": "Page", "type": "SnsAlarm", "topicArn": "arn:aws:sns:us-east-1:1:t",
                    "subject": "#{node.name}", "message": "#{node.errorMessage}"}),
        ],
    );
    world
        .pipeline("df-stages", definition, ActivateOptions::default())
        .await;
    let notifier = FakeNotifier::new();
    let storage = sluice::runner::storage::NoStorage;
    let compute = sluice::cloud::compute::FakeCompute::new();
    let boot = sluice::engine::resources::Boot::default();
    let ports = Ports {
        notifier: &notifier,
        storage: &storage,
        compute: &compute,
        boot: &boot,
    };
    let engine = world.engine();
    let always = || true;
    // The scheduler's tick creates the instances; the preconditions' tick starts A
    run_stage(&engine, Stage::Scheduler, &Trigger::Tick, &ports, always)
        .await
        .unwrap();
    run_stage(&engine, Stage::Preconditions, &Trigger::Tick, &ports, always)
        .await
        .unwrap();
    let start = "2026-01-01T00:00:00";
    assert_eq!(world.status("df-stages", "A", start).await, Status::WaitingForRunner);
    // A fails; the preconditions stage, woken by the change, cascades B at once
    world.run_task("wg", TaskStatus::Failed).await;
    let changes = Trigger::Changes(vec![ended("df-stages", "A", start, "RUNNING", "FAILED")]);
    run_stage(&engine, Stage::Preconditions, &changes, &ports, always)
        .await
        .unwrap();
    assert_eq!(world.status("df-stages", "B", start).await, Status::CascadeFailed);
    // The actions stage is not concerned by an instance's change, but by its failure's
    // event record; with no time left, a stage does nothing
    run_stage(&engine, Stage::Actions, &changes, &ports, always)
        .await
        .unwrap();
    assert!(notifier.published().is_empty());
    let failures = world.events("df-stages").await;
    let event = failures.iter().find(|event| event.component_id == "A").unwrap();
    let recorded = Trigger::Changes(vec![Change {
        kind: ChangeKind::Insert,
        key: sluice::store::records::Record::key(event),
        old_status: None,
        new_status: Some("RECORDED".into()),
        new_queue: None,
    }]);
    let nothing = run_stage(&engine, Stage::Actions, &recorded, &ports, || false)
        .await
        .unwrap();
    assert_eq!(nothing.examined, 0);
    run_stage(&engine, Stage::Actions, &recorded, &ports, always)
        .await
        .unwrap();
    assert_eq!(notifier.published().len(), 1);
    assert_eq!(notifier.published()[0].message, "disk full");
    // The activities stage has nothing of its own to run here
    let activities = run_stage(&engine, Stage::Activities, &Trigger::Tick, &ports, always)
        .await
        .unwrap();
    assert_eq!(activities.examined, 0);
}

/// Overwrites the pipeline's first stored definition with JSON that is no definition record,
/// as a bad restore or a hand edit of the table might.
async fn damage_definition<S: RunStore>(world: &World<S>, pipeline: &str) {
    let key = keys::definition(pipeline, 1);
    let stored = world.store.get(&key).await.unwrap().unwrap();
    let damaged = sluice::store::Item {
        data: "{\"pipeline_id\": 7}".into(),
        ..stored.clone()
    };
    let expected = sluice::store::Expected::of(&stored);
    let write = sluice::store::Write::Replace {
        item: damaged,
        expected,
    };
    assert!(world.store.write(write).await.unwrap());
}

/// A two-step chain that must finish beside whatever else runs.
fn healthy_chain() -> Value {
    hourly(vec![
        json!({"id": "First", "type": "ShellCommandActivity", "command": "true"}),
        json!({"id": "Second", "type": "ShellCommandActivity", "command": "true", "dependsOn": {"ref": "First"}}),
    ])
}

/// Runs the chain's two steps as a runner of `wg` would, ticking with a batch of one due
/// item per queue shard, so that a poison item would be first in line every round.
async fn the_chain_finishes_beside<S: RunStore>(world: &World<S>, pipeline: &str) {
    let one_at_a_time = Limits {
        batch: 1,
        recheck: TimeDelta::minutes(1),
        ..Limits::default()
    };
    // Rounds of each step, as a stage function repeats them while they change something.
    let tick = || async {
        world.clock.advance(TimeDelta::minutes(1));
        let engine = world.engine_with(one_at_a_time.clone());
        for _ in 0..10 {
            engine.schedule_step().await.unwrap();
            engine.dependencies_step().await.unwrap();
            engine.watch_step().await.unwrap();
            engine.reap_step().await.unwrap();
        }
    };
    tick().await;
    tick().await;
    world.run_task("wg", TaskStatus::Finished).await;
    tick().await;
    world.run_task("wg", TaskStatus::Finished).await;
    assert_eq!(
        world.status(pipeline, "First", "2026-01-01T00:00:00").await,
        Status::Finished
    );
    assert_eq!(
        world.status(pipeline, "Second", "2026-01-01T00:00:00").await,
        Status::Finished
    );
}

#[tokio::test]
async fn a_pipeline_whose_definition_cannot_be_read_fails_alone_and_says_why() {
    // Given a pipeline whose stored definition was damaged after activation, in the same
    // schedule queue shard as a healthy chain activated after it
    let world = World::new(MemoryStore::new(), "2026-01-01T00:00:00");
    world
        .pipeline("df-poison", healthy_chain(), ActivateOptions::default())
        .await;
    damage_definition(&world, "df-poison").await;
    world
        .pipeline("df-healthy", healthy_chain(), ActivateOptions::default())
        .await;
    // When the stages run one due item at a time
    // Then the healthy chain finishes as if the poison were not there
    the_chain_finishes_beside(&world, "df-healthy").await;
    // and the poisoned pipeline is out of the schedule, saying why
    let poison = records::get::<PipelineRecord, _>(&world.store, &keys::pipeline("df-poison"))
        .await
        .unwrap()
        .unwrap()
        .record;
    assert_eq!(poison.next_check_at, None);
    let why = poison.error_message.expect("the reason is on the pipeline");
    assert!(why.contains("a run record is malformed"), "{why}");
    assert!(why.contains("DEF#0000000001"), "{why}");
}

#[tokio::test]
async fn an_instance_whose_records_cannot_be_written_fails_alone_with_the_stores_reason() {
    // Given a pipeline whose worker group is too long to be a DynamoDB index key (validation
    // refuses such a definition; this one was stored before that check), and a healthy chain
    let world = World::new(MemoryStore::new(), "2026-01-01T00:00:00");
    world
        .pipeline(
            "df-long",
            hourly(vec![
                json!({"id": "Long", "type": "ShellCommandActivity", "command": "true", "workerGroup": "short"}),
            ]),
            ActivateOptions::default(),
        )
        .await;
    let stored = records::get::<DefinitionRecord, _>(&world.store, &keys::definition("df-long", 1))
        .await
        .unwrap()
        .unwrap();
    let mut old = stored.record.clone();
    for object in &mut old.definition.pipeline_objects {
        for field in &mut object.fields {
            if field.string_value.as_deref() == Some("short") {
                field.string_value = Some("w".repeat(3000));
            }
        }
    }
    assert!(world.store.write(stored.replace(&old).unwrap()).await.unwrap());
    world
        .pipeline("df-healthy", healthy_chain(), ActivateOptions::default())
        .await;
    // When the stages run one due item at a time
    // Then the healthy chain finishes
    the_chain_finishes_beside(&world, "df-healthy").await;
    // and the instance that cannot be queued for a runner is FAILED with the store's reason
    let long = world.instance("df-long", "Long", "2026-01-01T00:00:00").await;
    assert_eq!(long.status, Status::Failed);
    assert_eq!(long.error.error_id.as_deref(), Some("Sluice.Unrunnable"));
    let message = long.error.error_message.unwrap();
    assert!(message.contains("an index key is at most 2048 bytes"), "{message}");
    assert!(message.len() < 2200, "the message is clipped: {} bytes", message.len());
    // and its onFail alarm is recorded, to go out with that text
    let events = world.events("df-long").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].actions, vec!["Alarm".to_owned()]);
}

#[tokio::test]
async fn an_item_whose_work_fails_for_now_is_set_aside_with_backoff_and_says_why() {
    // Given an instance whose check fails for a reason retrying may fix: its pipeline's
    // secrets cannot be opened yet (a sealed value and no key to open it with)
    let world = World::new(MemoryStore::new(), "2026-01-01T00:00:00");
    world
        .pipeline("df-healthy", healthy_chain(), ActivateOptions::default())
        .await;
    let engine = world.engine();
    engine.schedule_step().await.unwrap();
    let key = keys::instance("df-healthy", "First", at("2026-01-01T00:00:00"));
    let item = world.store.get(&key).await.unwrap().unwrap();
    // When its work fails with a retryable error
    let mut report = sluice::engine::StepReport::default();
    let unavailable = EngineError::Store(sluice::store::StoreError::Unavailable("throttled".into()));
    engine
        .confine("dependencies", &item, Err(unavailable), &mut report)
        .await;
    // Then it is due again after the recheck interval with jitter, says why, and is still waiting
    let set_aside = world.store.get(&key).await.unwrap().unwrap();
    let due = set_aside.due.as_ref().unwrap().at_millis;
    let start = at("2026-01-01T00:00:00").and_utc().timestamp_millis();
    assert!((start + 60_000..=start + 90_000).contains(&due), "{due}");
    let instance = world.instance("df-healthy", "First", "2026-01-01T00:00:00").await;
    assert_eq!(instance.status, Status::WaitingOnDependencies);
    assert!(
        instance.waiting_on[0].starts_with("Sluice could not process it (once)"),
        "{:?}",
        instance.waiting_on
    );
    assert!(instance.waiting_on[0].contains("throttled"));
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    // When it fails again, it waits twice as long
    engine
        .confine(
            "dependencies",
            &set_aside,
            Err(EngineError::Store(sluice::store::StoreError::Unavailable(
                "throttled".into(),
            ))),
            &mut report,
        )
        .await;
    let again = world.store.get(&key).await.unwrap().unwrap();
    let due = again.due.as_ref().unwrap().at_millis;
    assert!((start + 120_000..=start + 180_000).contains(&due), "{due}");
    assert_eq!(sluice::engine::confine::set_aside_of(&again).unwrap().times, 2);
    // And once its work succeeds, the record no longer carries the error
    world.clock.advance(TimeDelta::minutes(5));
    engine.dependencies_step().await.unwrap();
    let written = world.store.get(&key).await.unwrap().unwrap();
    assert_eq!(sluice::engine::confine::set_aside_of(&written), None);
    assert_eq!(
        world.status("df-healthy", "First", "2026-01-01T00:00:00").await,
        Status::WaitingForRunner
    );
}

#[tokio::test]
async fn a_task_that_cannot_be_handed_out_does_not_keep_its_worker_group_from_the_rest() {
    // Given an attempt at the head of worker group wg's queue whose pipeline's definition was
    // damaged after it was queued, and a healthy attempt behind it
    let world = World::new(MemoryStore::new(), "2026-01-01T00:00:00");
    world
        .pipeline("df-poison", healthy_chain(), ActivateOptions::default())
        .await;
    world.tick().await;
    world.clock.advance(TimeDelta::seconds(1));
    world
        .pipeline("df-healthy", healthy_chain(), ActivateOptions::default())
        .await;
    world.tick().await;
    damage_definition(&world, "df-poison").await;
    // When a runner of wg polls
    let task = world.engine().poll_for_task("wg", Some("runner-1")).await.unwrap();
    // Then it gets the healthy task, and the poisoned one failed alone, saying why
    assert_eq!(task.expect("the healthy task").pipeline_id, "df-healthy");
    let poisoned = world.instance("df-poison", "First", "2026-01-01T00:00:00").await;
    assert_eq!(poisoned.status, Status::Failed);
    assert!(
        poisoned
            .error
            .error_message
            .unwrap()
            .contains("a run record is malformed"),
        "the reason is on the instance"
    );
}
