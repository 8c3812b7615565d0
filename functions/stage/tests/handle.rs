//! The stage functions' handling of every `events/<function>/` fixture, on the engine's
//! memory store: what each trigger wakes, what poison is skipped and why, and which errors
//! reach the runtime (only those retrying can fix).

use std::path::PathBuf;

use serde_json::{Value, json};
use sluice::{
    cloud::{notify::FakeNotifier, probe::FakeProbe},
    definition::read_definition,
    engine::{
        Engine, Status,
        clock::{ManualClock, SeededRandom},
        pipelines::ActivateOptions,
        wake::ChangeKind,
    },
    runner::storage::NoStorage,
    stages::{Ports, Stage, Trigger},
    store::{Item, Key, Range, RunStore, StoreError, Write, keys, memory::MemoryStore, records},
    time::parse_datetime,
};
use sluice_stage::{StageError, handle, trigger::read};

fn fixture(function: &str, name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../events/{function}/{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

const FUNCTIONS: [&str; 5] = ["scheduler", "preconditions", "resources", "activities", "actions"];
const PIPELINE: &str = "df-0EXAMPLE00000000000";

#[test]
fn every_function_reads_each_of_its_fixtures() {
    for function in FUNCTIONS {
        assert_eq!(read(&fixture(function, "scheduled-tick")).trigger, Some(Trigger::Tick));
        // The resources function's fixtures are a resource attempt's: asking for a
        // machine, shutting it down, expiring.
        let (created, changed) = if function == "resources" {
            ("CREATING", "SHUTTING_DOWN")
        } else {
            ("WAITING_ON_DEPENDENCIES", "FINISHED")
        };
        for (name, kind, old, new) in [
            ("stream-insert", ChangeKind::Insert, None, Some(created)),
            (
                "stream-status-change",
                ChangeKind::Modify,
                Some("RUNNING"),
                Some(changed),
            ),
            ("stream-removal", ChangeKind::Remove, Some("FINISHED"), None),
        ] {
            let read = read(&fixture(function, name));
            let Some(Trigger::Changes(changes)) = read.trigger else {
                panic!("{function}/{name}: {read:?}")
            };
            assert_eq!(changes.len(), 1, "{function}/{name}");
            assert_eq!(changes[0].kind, kind);
            assert_eq!(changes[0].old_status.as_deref(), old);
            assert_eq!(changes[0].new_status.as_deref(), new);
            assert!(read.skipped.is_empty());
        }
    }
}

#[test]
fn poison_records_are_skipped_with_their_cause_and_the_rest_of_the_batch_is_kept() {
    let read = read(&fixture("preconditions", "stream-poison"));
    let Some(Trigger::Changes(changes)) = read.trigger else {
        panic!("{read:?}")
    };
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(read.skipped.len(), 3, "{:?}", read.skipped);
    assert!(
        read.skipped[0].starts_with("record 1: record 5: its Keys have no string"),
        "{:?}",
        read.skipped
    );
    assert!(
        read.skipped[1].contains("eventID 4 delivered twice"),
        "{:?}",
        read.skipped
    );
    assert!(read.skipped[2].contains("from aws:kinesis"), "{:?}", read.skipped);
    let nothing = sluice_stage::trigger::read(&fixture("scheduler", "not-an-event"));
    assert_eq!(nothing.trigger, None);
    assert!(nothing.skipped[0].contains("neither an EventBridge scheduled event nor a DynamoDB Streams batch"));
}

struct World<S> {
    store: S,
    clock: ManualClock,
    random: SeededRandom,
    probe: FakeProbe,
    notifier: FakeNotifier,
}

impl<S: RunStore> World<S> {
    fn new(store: S) -> Self {
        Self {
            store,
            clock: ManualClock::new(parse_datetime("2026-01-01T06:00:00").unwrap()),
            random: SeededRandom::new(3),
            probe: FakeProbe::new(),
            notifier: FakeNotifier::new(),
        }
    }

    fn engine(&self) -> Engine<'_, S, FakeProbe> {
        Engine::new(&self.store, &self.clock, &self.random, &self.probe)
    }

    /// The fixtures' pipeline: Extract, then Load; activated, nothing created yet.
    async fn with_chain(self) -> Self {
        let definition = json!({"objects": [
            {"id": "Default", "scheduleType": "ondemand", "workerGroup": "wg"},
            {"id": "Extract", "type": "ShellCommandActivity", "command": "extract"},
            {"id": "Load", "type": "ShellCommandActivity", "command": "load", "dependsOn": {"ref": "Extract"}},
        ]});
        let definition = read_definition(&definition.to_string()).unwrap().definition;
        let engine = self.engine();
        engine.create_pipeline(PIPELINE, "chain", "chain").await.unwrap();
        engine.put_definition(PIPELINE, &definition).await.unwrap();
        engine.activate(PIPELINE, &ActivateOptions::default()).await.unwrap();
        self
    }

    async fn handle(&self, stage: Stage, function: &str, name: &str) -> Result<Value, StageError> {
        let ports = Ports {
            notifier: &self.notifier,
            storage: &NoStorage,
            compute: &sluice::cloud::compute::FakeCompute::new(),
            boot: &sluice::engine::resources::Boot::default(),
        };
        handle(&self.engine(), stage, &ports, &fixture(function, name), || true).await
    }

    async fn status(&self, component: &str) -> Option<Status> {
        let key = keys::instance(PIPELINE, component, parse_datetime("2026-01-01T06:00:00").unwrap());
        records::get::<records::InstanceRecord, _>(&self.store, &key)
            .await
            .unwrap()
            .map(|stored| stored.record.status)
    }
}

#[tokio::test]
async fn a_tick_and_a_status_change_move_the_fixtures_pipeline_along() {
    let world = World::new(MemoryStore::new()).with_chain().await;
    // The scheduler's tick creates the instances; the preconditions' tick readies Extract
    let answer = world
        .handle(Stage::Scheduler, "scheduler", "scheduled-tick")
        .await
        .unwrap();
    assert!(answer["changed"].as_u64().unwrap() > 0, "{answer}");
    world
        .handle(Stage::Preconditions, "preconditions", "scheduled-tick")
        .await
        .unwrap();
    assert_eq!(world.status("Extract").await, Some(Status::WaitingForRunner));
    // Extract finishes; the status-change fixture wakes Load with no time passing
    let engine = world.engine();
    let task = engine.poll_for_task("wg", None).await.unwrap().unwrap();
    engine.report_task_progress(&task.task_id, None).await.unwrap();
    engine
        .set_task_status(
            &task.task_id,
            None,
            sluice::engine::tasks::TaskStatus::Finished,
            Default::default(),
        )
        .await
        .unwrap();
    let answer = world
        .handle(Stage::Preconditions, "preconditions", "stream-status-change")
        .await
        .unwrap();
    assert_eq!(world.status("Load").await, Some(Status::WaitingForRunner), "{answer}");
    // An insert and a removal wake nothing that changes the chain; every stage takes them
    for function in FUNCTIONS {
        for name in ["stream-insert", "stream-removal"] {
            let stage = Stage::ALL.into_iter().find(|stage| stage.name() == function).unwrap();
            world.handle(stage, function, name).await.unwrap();
        }
    }
    assert_eq!(world.status("Load").await, Some(Status::WaitingForRunner));
}

#[tokio::test]
async fn poison_and_strange_events_are_acknowledged_with_what_was_skipped() {
    let world = World::new(MemoryStore::new()).with_chain().await;
    for function in FUNCTIONS {
        let stage = Stage::ALL.into_iter().find(|stage| stage.name() == function).unwrap();
        let answer = world.handle(stage, function, "stream-poison").await.unwrap();
        assert_eq!(answer["skipped"].as_array().unwrap().len(), 3, "{function}: {answer}");
        let answer = world.handle(stage, function, "not-an-event").await.unwrap();
        assert_eq!(answer["skipped"].as_array().unwrap().len(), 1, "{function}: {answer}");
    }
    // The preconditions stage also says the record for a pipeline that is gone was skipped
    let answer = world
        .handle(Stage::Preconditions, "preconditions", "stream-poison")
        .await
        .unwrap();
    let problems = answer["problems"].to_string();
    assert!(problems.contains("not in the table"), "{answer}");
}

/// A run store that is down: every call fails as throttling would.
struct DownStore;

impl RunStore for DownStore {
    async fn get(&self, _: &Key) -> Result<Option<Item>, StoreError> {
        Err(StoreError::Unavailable("throttled".into()))
    }
    async fn write(&self, _: Write) -> Result<bool, StoreError> {
        Err(StoreError::Unavailable("throttled".into()))
    }
    async fn transact(&self, _: Vec<Write>) -> Result<bool, StoreError> {
        Err(StoreError::Unavailable("throttled".into()))
    }
    async fn query(&self, _: &str, _: &Range) -> Result<Vec<Item>, StoreError> {
        Err(StoreError::Unavailable("throttled".into()))
    }
    async fn due(&self, _: &str, _: i64, _: usize) -> Result<Vec<Item>, StoreError> {
        Err(StoreError::Unavailable("throttled".into()))
    }
}

#[tokio::test]
async fn a_store_that_is_down_is_an_error_the_runtime_retries() {
    let world = World::new(DownStore);
    let error = world
        .handle(Stage::Scheduler, "scheduler", "scheduled-tick")
        .await
        .expect_err("the store is down");
    assert!(
        error.to_string().starts_with("scheduler: the run store is unavailable"),
        "{error}"
    );
    assert!(error.to_string().ends_with("retrying can help"), "{error}");
}
