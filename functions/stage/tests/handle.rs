//! The stage functions' handling of every `events/<function>/` fixture, on the engine's
//! memory store: what each trigger wakes, what poison is skipped and why, which records a
//! stream batch asks to have delivered again (only those whose work retrying can fix), and
//! which errors reach the runtime.

use std::{path::PathBuf, sync::Mutex};

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
    stages::{Ports, Stage},
    store::{Item, Key, Range, RunStore, StoreError, Write, keys, memory::MemoryStore, records},
    time::parse_datetime,
};
use sluice_stage::{
    StageError, handle,
    trigger::{Record, Woken, read},
};

fn fixture(function: &str, name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../events/{function}/{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

const FUNCTIONS: [&str; 5] = ["scheduler", "preconditions", "resources", "activities", "actions"];
const PIPELINE: &str = "df-0EXAMPLE00000000000";

/// The records of a stream batch fixture.
fn batch(function: &str, name: &str) -> Vec<Record> {
    match read(&fixture(function, name)) {
        Woken::Batch(records) => records,
        other => panic!("{function}/{name}: {other:?}"),
    }
}

#[test]
fn every_function_reads_each_of_its_fixtures() {
    for function in FUNCTIONS {
        assert_eq!(read(&fixture(function, "scheduled-tick")), Woken::Tick);
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
            let records = batch(function, name);
            assert_eq!(records.len(), 1, "{function}/{name}");
            let change = records[0].change.as_ref().unwrap();
            assert_eq!(change.kind, kind);
            assert_eq!(change.old_status.as_deref(), old);
            assert_eq!(change.new_status.as_deref(), new);
            assert!(records[0].sequence_number.is_some(), "{function}/{name}");
        }
    }
}

#[test]
fn poison_records_carry_their_cause_and_the_rest_of_the_batch_is_kept() {
    let records = batch("preconditions", "stream-poison");
    let causes: Vec<_> = records.iter().map(|record| record.change.as_ref().err()).collect();
    assert_eq!(records.len(), 5, "{records:?}");
    assert!(causes[0].is_none() && causes[4].is_none(), "{causes:?}");
    assert!(
        causes[1].is_some_and(|cause| cause.starts_with("record 5: its Keys have no string")),
        "{causes:?}"
    );
    assert!(
        causes[2].is_some_and(|cause| cause.contains("eventID 4 delivered twice")),
        "{causes:?}"
    );
    assert!(
        causes[3].is_some_and(|cause| cause.contains("from aws:kinesis")),
        "{causes:?}"
    );
    // A record is named in log lines by its place, sequence number and keys
    assert_eq!(
        records[1].label(),
        r#"record 1 (sequence number none, keys {"id":{"N":"7"}})"#
    );
    let Woken::Nothing(why) = read(&fixture("scheduler", "not-an-event")) else {
        panic!("not-an-event woke something")
    };
    assert!(why.contains("neither an EventBridge scheduled event nor a DynamoDB Streams batch"));
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

    /// The fixtures' pipeline with `objects` (on demand, on worker group wg); activated,
    /// nothing created yet.
    async fn with_pipeline(self, objects: Value) -> Self {
        let mut all = vec![json!({"id": "Default", "scheduleType": "ondemand", "workerGroup": "wg"})];
        all.extend(objects.as_array().unwrap().iter().cloned());
        let definition = read_definition(&json!({ "objects": all }).to_string())
            .unwrap()
            .definition;
        let engine = self.engine();
        engine.create_pipeline(PIPELINE, "chain", "chain").await.unwrap();
        engine.put_definition(PIPELINE, &definition).await.unwrap();
        engine.activate(PIPELINE, &ActivateOptions::default()).await.unwrap();
        self
    }

    /// Extract, then Load.
    async fn with_chain(self) -> Self {
        self.with_pipeline(json!([
            {"id": "Extract", "type": "ShellCommandActivity", "command": "extract"},
            {"id": "Load", "type": "ShellCommandActivity", "command": "load", "dependsOn": {"ref": "Extract"}},
        ]))
        .await
    }

    /// Extract, then Load; and Clean, then Archive: what the malformed-among-good fixture
    /// speaks of.
    async fn with_two_chains(self) -> Self {
        self.with_pipeline(json!([
            {"id": "Extract", "type": "ShellCommandActivity", "command": "extract"},
            {"id": "Load", "type": "ShellCommandActivity", "command": "load", "dependsOn": {"ref": "Extract"}},
            {"id": "Clean", "type": "ShellCommandActivity", "command": "clean"},
            {"id": "Archive", "type": "ShellCommandActivity", "command": "archive", "dependsOn": {"ref": "Clean"}},
        ]))
        .await
    }

    async fn handle(&self, stage: Stage, function: &str, name: &str) -> Result<Value, StageError> {
        self.handle_event(stage, &fixture(function, name)).await
    }

    async fn handle_event(&self, stage: Stage, event: &Value) -> Result<Value, StageError> {
        let ports = Ports {
            notifier: &self.notifier,
            storage: &NoStorage,
            compute: &sluice::cloud::compute::FakeCompute::new(),
            boot: &sluice::engine::resources::Boot::default(),
        };
        handle(&self.engine(), stage, &ports, event, || true).await
    }

    /// The scheduler's tick and the preconditions' tick: the instances are made, and those
    /// that wait on nothing are ready for a runner.
    async fn ticked(self) -> Self {
        self.handle(Stage::Scheduler, "scheduler", "scheduled-tick")
            .await
            .unwrap();
        self.handle(Stage::Preconditions, "preconditions", "scheduled-tick")
            .await
            .unwrap();
        self
    }

    /// Runs every task waiting on wg to FINISHED, as a runner would; no stage is woken.
    async fn finish_tasks(&self) {
        let engine = self.engine();
        while let Some(task) = engine.poll_for_task("wg", None).await.unwrap() {
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
        }
    }

    async fn status(&self, component: &str) -> Option<Status> {
        let key = keys::instance(PIPELINE, component, parse_datetime("2026-01-01T06:00:00").unwrap());
        records::get::<records::InstanceRecord, _>(&self.store, &key)
            .await
            .unwrap()
            .map(|stored| stored.record.status)
    }
}

/// The sequence numbers a stream batch's answer asks to have delivered again.
fn batch_item_failures(answer: &Value) -> Vec<&str> {
    answer["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("not a partial batch response: {answer}"))
        .iter()
        .map(|failure| failure["itemIdentifier"].as_str().unwrap())
        .collect()
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
    world.finish_tasks().await;
    let answer = world
        .handle(Stage::Preconditions, "preconditions", "stream-status-change")
        .await
        .unwrap();
    assert_eq!(world.status("Load").await, Some(Status::WaitingForRunner), "{answer}");
    assert_eq!(answer, json!({ "batchItemFailures": [] }));
    // An insert and a removal wake nothing that changes the chain; every stage takes them
    for function in FUNCTIONS {
        for name in ["stream-insert", "stream-removal"] {
            let stage = Stage::ALL.into_iter().find(|stage| stage.name() == function).unwrap();
            let answer = world.handle(stage, function, name).await.unwrap();
            assert_eq!(batch_item_failures(&answer), Vec::<&str>::new(), "{function}/{name}");
        }
    }
    assert_eq!(world.status("Load").await, Some(Status::WaitingForRunner));
}

#[tokio::test]
async fn poison_and_strange_events_are_acknowledged() {
    let world = World::new(MemoryStore::new()).with_chain().await;
    for function in FUNCTIONS {
        let stage = Stage::ALL.into_iter().find(|stage| stage.name() == function).unwrap();
        // No record of the poison batch is delivered again: none can ever be read
        let answer = world.handle(stage, function, "stream-poison").await.unwrap();
        assert_eq!(batch_item_failures(&answer), Vec::<&str>::new(), "{function}: {answer}");
        let answer = world.handle(stage, function, "not-an-event").await.unwrap();
        assert_eq!(answer["skipped"].as_array().unwrap().len(), 1, "{function}: {answer}");
    }
}

#[tokio::test]
async fn a_malformed_record_among_good_ones_is_acknowledged_and_the_good_ones_work_is_done() {
    // Given Extract and Clean finished, their consumers still waiting
    let world = World::new(MemoryStore::new()).with_two_chains().await.ticked().await;
    world.finish_tasks().await;
    assert_eq!(world.status("Load").await, Some(Status::WaitingOnDependencies));
    assert_eq!(world.status("Archive").await, Some(Status::WaitingOnDependencies));

    // When a batch says so, with a record that is not a change between the two
    let answer = world
        .handle(Stage::Preconditions, "preconditions", "stream-malformed-among-good")
        .await
        .unwrap();

    // Then no record is to be delivered again, and both consumers are ready
    assert_eq!(answer, json!({ "batchItemFailures": [] }));
    assert_eq!(world.status("Archive").await, Some(Status::WaitingForRunner));
    assert_eq!(world.status("Load").await, Some(Status::WaitingForRunner));
}

/// A memory store that can be made to fail: reads of one item (as throttling of its
/// partition would), and reads of one stage's queue; it remembers the queues read.
struct Faulty {
    inner: MemoryStore,
    down_sk: Mutex<Option<String>>,
    down_queue: Option<&'static str>,
    queues_read: Mutex<Vec<String>>,
}

impl Faulty {
    fn new(down_queue: Option<&'static str>) -> Self {
        Self {
            inner: MemoryStore::new(),
            down_sk: Mutex::new(None),
            down_queue,
            queues_read: Mutex::new(Vec::new()),
        }
    }

    fn take_down(&self, sk: &str) {
        *self.down_sk.lock().unwrap() = Some(sk.to_owned());
    }

    fn check(&self, keys: &[Key]) -> Result<(), StoreError> {
        let down = self.down_sk.lock().unwrap();
        match keys.iter().find(|key| Some(&key.sk) == down.as_ref()) {
            Some(key) => Err(StoreError::Unavailable(format!("{} {} is throttled", key.pk, key.sk))),
            None => Ok(()),
        }
    }
}

impl RunStore for Faulty {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.check(std::slice::from_ref(key))?;
        self.inner.get(key).await
    }
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        self.check(keys)?;
        self.inner.get_many(keys).await
    }
    async fn write(&self, write: Write) -> Result<bool, StoreError> {
        self.inner.write(write).await
    }
    async fn transact(&self, writes: Vec<Write>) -> Result<bool, StoreError> {
        self.inner.transact(writes).await
    }
    async fn query(&self, pk: &str, range: &Range) -> Result<Vec<Item>, StoreError> {
        self.inner.query(pk, range).await
    }
    async fn due(&self, queue: &str, before: i64, limit: usize) -> Result<Vec<Item>, StoreError> {
        self.queues_read.lock().unwrap().push(queue.to_owned());
        if self.down_queue.is_some_and(|down| queue.starts_with(down)) {
            return Err(StoreError::Unavailable(format!("queue {queue} is throttled")));
        }
        self.inner.due(queue, before, limit).await
    }
}

#[tokio::test]
async fn a_record_whose_work_the_store_cannot_do_is_reported_with_every_record_after_it() {
    // Given Extract and Clean finished, and Extract's instance on a partition the store
    // cannot read for now
    let world = World::new(Faulty::new(None)).with_two_chains().await.ticked().await;
    world.finish_tasks().await;
    world.store.take_down("INST#Extract#2026-01-01T06:00:00");

    // When the batch comes with one more record after Extract's (Clean's, delivered again)
    let mut event = fixture("preconditions", "stream-malformed-among-good");
    let mut again = event["Records"][0].clone();
    again["eventID"] = json!("14");
    again["dynamodb"]["SequenceNumber"] = json!("204");
    event["Records"].as_array_mut().unwrap().push(again);
    let answer = world.handle_event(Stage::Preconditions, &event).await.unwrap();

    // Then Extract's record (203) is reported with the one after it; the malformed record
    // before it is not, and Clean's work, before it, is done
    assert_eq!(batch_item_failures(&answer), ["203", "204"]);
    assert_eq!(world.status("Archive").await, Some(Status::WaitingForRunner));

    // And delivered again once the store is back, the rest is done
    *world.store.down_sk.lock().unwrap() = None;
    let answer = world.handle_event(Stage::Preconditions, &event).await.unwrap();
    assert_eq!(batch_item_failures(&answer), Vec::<&str>::new());
    assert_eq!(world.status("Load").await, Some(Status::WaitingForRunner));
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
    // A stream batch on it asks to have its record delivered again
    let answer = world
        .handle(Stage::Preconditions, "preconditions", "stream-status-change")
        .await
        .unwrap();
    assert_eq!(batch_item_failures(&answer), ["102"]);
}

#[tokio::test]
async fn a_tick_whose_schedule_step_fails_still_reaps_and_watches() {
    // Given a store whose scheduling queue cannot be read
    let world = World::new(Faulty::new(Some(keys::stages::SCHEDULE)));

    // When the scheduler's tick runs
    let error = world
        .handle(Stage::Scheduler, "scheduler", "scheduled-tick")
        .await
        .expect_err("the scheduling queue is down");

    // Then the error is the runtime's to retry, and the reaping and lateness queues were
    // read all the same
    assert!(error.to_string().contains("queue schedule#"), "{error}");
    let read = world.store.queues_read.lock().unwrap().clone();
    let read_of = |stage: &str| read.iter().any(|queue| queue.starts_with(&format!("{stage}#")));
    assert!(read_of(keys::stages::SCHEDULE), "{read:?}");
    assert!(read_of(keys::stages::REAP), "{read:?}");
    assert!(read_of(keys::stages::WATCH), "{read:?}");
}
