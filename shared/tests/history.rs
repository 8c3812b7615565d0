//! Bounded work over history (issue 17): what a call costs follows what it asks for, not how
//! much history its pipeline has. QueryObjects and DescribeObjects read one page of records
//! in key order; DeletePipeline answers at once and the purge stage removes the records a
//! page at a time, picking up after a crash where it stopped. Costs are counted with
//! `CountingStore` (requests, and the items they read) on the memory store.

mod support;

use chrono::{NaiveDateTime, TimeDelta};
use serde_json::{Value, json};
use sluice::{
    api::{Api, handle},
    cloud::probe::FakeProbe,
    definition::read_definition,
    engine::{
        Engine, Limits,
        clock::{ManualClock, SeededRandom},
        objects::EXAMINED_PER_CALL,
        pipelines::{ActivateOptions, PURGE_GRACE, PURGE_PAGE},
        tasks::TaskStatus,
    },
    store::{
        Item, MAX_TRANSACTION_WRITES, RunStore,
        counting::{CountingStore, Requests},
        keys,
        memory::MemoryStore,
        records::{AttemptKind, AttemptRecord, ErrorDetails, InstanceRecord, Stored, create},
    },
    time::{format_datetime, parse_datetime},
};
use support::faults::FaultyStore;

fn at(text: &str) -> NaiveDateTime {
    parse_datetime(text).unwrap()
}

/// When the pipelines start: their history lies before it, 15 minutes apart.
const START: &str = "2026-03-01T00:00:00";

struct World<S> {
    store: CountingStore<S>,
    clock: ManualClock,
    random: SeededRandom,
    probe: FakeProbe,
}

impl<S: RunStore> World<S> {
    fn new(store: S) -> Self {
        Self {
            store: CountingStore::new(store),
            clock: ManualClock::new(at(START)),
            random: SeededRandom::new(17),
            probe: FakeProbe::new(),
        }
    }

    fn engine(&self) -> Engine<'_, CountingStore<S>, FakeProbe> {
        Engine::new(&self.store, &self.clock, &self.random, &self.probe).with_limits(Limits::default())
    }

    /// An API call as a client makes it, and what it cost the store.
    async fn call(&self, operation: &str, body: Value) -> (Value, Requests) {
        let api = Api::new(self.engine());
        self.store.reset();
        let target = format!("DataPipeline.{operation}");
        let response = handle(&api, Some(&target), body.to_string().as_bytes()).await;
        let cost = self.store.requests();
        let value: Value = serde_json::from_slice(&response.body).unwrap();
        (value, cost)
    }

    async fn ok(&self, operation: &str, body: Value) -> (Value, Requests) {
        let (value, cost) = self.call(operation, body).await;
        assert!(value.get("__type").is_none(), "{operation}: {value}");
        (value, cost)
    }

    /// A pipeline of two activities every 15 minutes from [`START`] ("Copy", and "Load"
    /// after it), activated and scheduled once, with `history` finished runs of Copy
    /// before it (every hundredth FAILED, every tenth with its attempt) and `loads` of
    /// Load.
    async fn pipeline_with_history(&self, id: &str, history: usize, loads: usize) {
        let engine = self.engine();
        let definition = json!({"objects": [
            {"id": "Default", "scheduleType": "cron", "schedule": {"ref": "Every15"}, "workerGroup": "wg"},
            {"id": "Every15", "type": "Schedule", "period": "15 minutes", "startDateTime": START},
            {"id": "Copy", "type": "ShellCommandActivity", "command": "copy"},
            {"id": "Load", "type": "ShellCommandActivity", "command": "load", "dependsOn": {"ref": "Copy"}},
        ]});
        let definition = read_definition(&definition.to_string()).unwrap().definition;
        assert!(engine.create_pipeline(id, id, id).await.unwrap());
        assert!(!engine.put_definition(id, &definition).await.unwrap().errored());
        engine.activate(id, &ActivateOptions::default()).await.unwrap();
        engine.schedule_step().await.unwrap();
        let template = self.instance(id, "Copy", at(START)).await.expect("scheduled");
        let mut writes = Vec::new();
        for (component, count) in [("Copy", history), ("Load", loads)] {
            for index in 1..=count {
                let start = at(START) - TimeDelta::minutes(15 * i64::try_from(index).unwrap());
                let failed = index % 100 == 0;
                let record = InstanceRecord {
                    component_id: component.to_owned(),
                    scheduled_start: start,
                    scheduled_end: start + TimeDelta::minutes(15),
                    runs_at: start + TimeDelta::minutes(15),
                    status: if failed {
                        sluice::engine::Status::Failed
                    } else {
                        sluice::engine::Status::Finished
                    },
                    attempts: 1,
                    next_check_at: None,
                    waiting_on: Vec::new(),
                    started_at: Some(start + TimeDelta::minutes(15)),
                    ended_at: Some(start + TimeDelta::minutes(16)),
                    ..template.clone()
                };
                if index % 10 == 0 {
                    let mut attempt =
                        AttemptRecord::waiting(&record, 1, AttemptKind::Activity, "wg".into(), record.runs_at);
                    attempt.status = record.status;
                    attempt.ended_at = record.ended_at;
                    writes.push(create(&attempt).unwrap());
                }
                writes.push(create(&record).unwrap());
            }
        }
        for chunk in writes.chunks(MAX_TRANSACTION_WRITES) {
            assert!(self.store.transact(chunk.to_vec()).await.unwrap());
        }
    }

    async fn instance(&self, pipeline: &str, component: &str, start: NaiveDateTime) -> Option<InstanceRecord> {
        let item = self
            .store
            .get(&keys::instance(pipeline, component, start))
            .await
            .unwrap()?;
        Some(Stored::<InstanceRecord>::from_item(&item).unwrap().record)
    }

    /// Every item of the pipeline's partition.
    async fn partition(&self, pipeline: &str) -> Vec<Item> {
        let everything = sluice::store::Range::prefix("", usize::MAX);
        self.store
            .query(&keys::pipeline_pk(pipeline), &everything)
            .await
            .unwrap()
    }

    /// Every id QueryObjects answers across its pages, each call's cost, and the pages.
    async fn query_all(&self, pipeline: &str, query: Value) -> (Vec<String>, Vec<Requests>) {
        let mut ids = Vec::new();
        let mut costs = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let mut body = query.clone();
            body["pipelineId"] = json!(pipeline);
            if let Some(marker) = &marker {
                body["marker"] = json!(marker);
            }
            let (page, cost) = self.ok("QueryObjects", body).await;
            costs.push(cost);
            ids.extend(
                page["ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|id| id.as_str().unwrap().to_owned()),
            );
            if page["hasMoreResults"] == false {
                assert!(page.get("marker").is_none_or(Value::is_null), "{page}");
                return (ids, costs);
            }
            marker = Some(page["marker"].as_str().unwrap().to_owned());
            assert!(costs.len() < 1_000, "paging does not end");
        }
    }
}

fn run_id(component: &str, start: NaiveDateTime) -> String {
    format!("@{component}_{}", format_datetime(start))
}

/// Copy's runs, oldest first (key order), then the one scheduled at [`START`].
fn copy_ids(history: usize) -> Vec<String> {
    let mut ids: Vec<String> = (1..=history)
        .rev()
        .map(|index| {
            run_id(
                "Copy",
                at(START) - TimeDelta::minutes(15 * i64::try_from(index).unwrap()),
            )
        })
        .collect();
    ids.push(run_id("Copy", at(START)));
    ids
}

#[tokio::test]
async fn the_first_page_of_runs_reads_as_many_items_with_5000_runs_of_history_as_with_50() {
    // Given two pipelines alike but for their history: 50 runs and 5,000
    let world = World::new(MemoryStore::new());
    world.pipeline_with_history("df-short", 50, 0).await;
    world.pipeline_with_history("df-long", 5_000, 0).await;
    let mut costs = Vec::new();
    for id in ["df-short", "df-long"] {
        // When a client asks for the first page of runs, as `sluice runs` does, and
        // describes the first 25
        let (page, query) = world
            .ok(
                "QueryObjects",
                json!({"pipelineId": id, "sphere": "INSTANCE", "limit": 25}),
            )
            .await;
        assert_eq!(page["ids"].as_array().unwrap().len(), 25);
        assert_eq!(page["hasMoreResults"], true);
        let (described, describe) = world
            .ok("DescribeObjects", json!({"pipelineId": id, "objectIds": page["ids"]}))
            .await;
        assert_eq!(described["pipelineObjects"].as_array().unwrap().len(), 25);
        costs.push((query, describe));
    }
    // Then each call reads the same items, whatever the history: the pipeline, a page and
    // the one past it (whether there is more); the pipeline, its definition and the 25
    let (short, long) = (costs[0], costs[1]);
    assert_eq!(short, long, "the same cost with 100 times the history");
    assert_eq!(long.0.items_read, 1 + 25 + 1, "{long:?}");
    assert_eq!(long.1.items_read, 1 + 1 + 25, "{long:?}");
}

#[tokio::test]
async fn query_objects_pages_through_every_run_once_in_key_order_a_page_a_call() {
    // Given a pipeline with 5,000 runs of Copy and 20 of Load
    let world = World::new(MemoryStore::new());
    world.pipeline_with_history("df-runs", 5_000, 20).await;
    // When a client pages through its instances 1,000 at a time
    let (ids, costs) = world
        .query_all("df-runs", json!({"sphere": "INSTANCE", "limit": 1000}))
        .await;
    // Then it gets Copy's runs in key order, then Load's, each once, and no call read
    // more than a page and the record past it
    let mut expected = copy_ids(5_000);
    expected.extend(
        (1..=20)
            .rev()
            .map(|index| run_id("Load", at(START) - TimeDelta::minutes(15 * index))),
    );
    expected.push(run_id("Load", at(START)));
    assert_eq!(ids.len(), expected.len());
    assert_eq!(ids, expected);
    assert_eq!(costs.len(), 6, "5,022 runs in pages of 1,000");
    for cost in &costs {
        assert!(cost.items_read <= 1 + 1000 + 1, "{cost:?}");
    }
    // And a @componentParent selector reads only that component's runs
    let (loads, costs) = world
        .query_all(
            "df-runs",
            json!({"sphere": "INSTANCE", "query": {"selectors": [
                {"fieldName": "@componentParent", "operator": {"type": "REF_EQ", "values": ["Load"]}}]}}),
        )
        .await;
    assert_eq!(loads, expected[5_001..]);
    assert_eq!(costs.len(), 1);
    assert!(costs[0].items_read <= 1 + 21, "{:?}", costs[0]);
}

#[tokio::test]
async fn a_selector_the_key_order_cannot_serve_examines_a_bounded_number_of_runs_a_call_and_finds_every_match() {
    // Given 5,000 runs of which one in a hundred FAILED
    let world = World::new(MemoryStore::new());
    world.pipeline_with_history("df-failing", 5_000, 0).await;
    // When a client asks for the FAILED ones, page after page
    let (ids, costs) = world
        .query_all(
            "df-failing",
            json!({"sphere": "INSTANCE", "query": {"selectors": [
                {"fieldName": "@status", "operator": {"type": "EQ", "values": ["FAILED"]}}]}}),
        )
        .await;
    // Then it gets every one of the 50, oldest first
    let expected: Vec<String> = (1..=50)
        .rev()
        .map(|index| run_id("Copy", at(START) - TimeDelta::minutes(15 * 100 * index)))
        .collect();
    assert_eq!(ids, expected);
    // And no call examined more than its bound, however many it had to pass over
    assert!(costs.len() >= 5_000 / EXAMINED_PER_CALL, "{}", costs.len());
    for cost in &costs {
        assert!(cost.items_read <= 1 + EXAMINED_PER_CALL as u64 + 1, "{cost:?}");
    }
    // And attempts page the same way, joined to their instances by key where a selector
    // needs the instance (its @scheduledEndTime)
    let (attempts, costs) = world
        .query_all(
            "df-failing",
            json!({"sphere": "ATTEMPT", "limit": 100, "query": {"selectors": [
                {"fieldName": "@scheduledEndTime", "operator": {"type": "GE", "values": ["2026-02-20T00:00:00"]}}]}}),
        )
        .await;
    let recent = (1..=5_000)
        .filter(|index| index % 10 == 0)
        .filter(|index| at(START) - TimeDelta::minutes(15 * (index - 1)) >= at("2026-02-20T00:00:00"))
        .count();
    assert_eq!(attempts.len(), recent);
    assert!(attempts.iter().all(|id| id.ends_with("_Attempt=1")), "{attempts:?}");
    for cost in &costs {
        assert!(cost.items_read <= 1 + 2 * (EXAMINED_PER_CALL as u64 + 1), "{cost:?}");
    }
}

#[tokio::test]
async fn a_marker_from_another_sphere_or_made_up_is_refused() {
    let world = World::new(MemoryStore::new());
    world.pipeline_with_history("df-marked", 30, 0).await;
    let (page, _) = world
        .ok(
            "QueryObjects",
            json!({"pipelineId": "df-marked", "sphere": "INSTANCE", "limit": 10}),
        )
        .await;
    let marker = page["marker"].as_str().unwrap();
    for (sphere, marker) in [
        ("ATTEMPT", marker),
        ("COMPONENT", marker),
        ("INSTANCE", "42"),
        ("INSTANCE", "x:y"),
    ] {
        let (answer, _) = world
            .call(
                "QueryObjects",
                json!({"pipelineId": "df-marked", "sphere": sphere, "marker": marker}),
            )
            .await;
        assert_eq!(
            answer["__type"], "InvalidRequestException",
            "{sphere} {marker}: {answer}"
        );
        assert!(
            answer["message"].as_str().unwrap().contains("start again without one"),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn deleting_a_pipeline_with_5000_runs_answers_at_once_and_purge_steps_remove_every_record() {
    // Given a pipeline with 5,000 runs of history and one run claimed by a runner
    let world = World::new(MemoryStore::new());
    world.pipeline_with_history("df-gone", 5_000, 0).await;
    let engine = world.engine();
    engine.dependencies_step().await.unwrap();
    let task = engine.poll_for_task("wg", None).await.unwrap().expect("a task");
    assert!(world.store.get(&keys::task(&task.task_id)).await.unwrap().is_some());
    let before = world.partition("df-gone").await.len();
    assert!(before > 5_500, "{before}");
    // When it is deleted
    let (_, cost) = world.ok("DeletePipeline", json!({"pipelineId": "df-gone"})).await;
    // Then the call read and wrote a handful of items, not its history
    assert!(cost.items_read <= 4 && cost.reads <= 2 && cost.writes == 1, "{cost:?}");
    // And calls on it say it was deleted; it is listed no more
    let (answer, _) = world
        .call("QueryObjects", json!({"pipelineId": "df-gone", "sphere": "INSTANCE"}))
        .await;
    assert_eq!(answer["__type"], "PipelineDeletedException", "{answer}");
    let (answer, _) = world
        .call("DescribePipelines", json!({"pipelineIds": ["df-gone"]}))
        .await;
    assert_eq!(answer["__type"], "PipelineDeletedException", "{answer}");
    let (answer, _) = world.call("DeletePipeline", json!({"pipelineId": "df-gone"})).await;
    assert_eq!(answer["__type"], "PipelineNotFoundException", "{answer}");
    let (listed, _) = world.ok("ListPipelines", json!({})).await;
    assert_eq!(listed["pipelineIdList"], json!([]));
    // When purge steps run, each removing a bounded page
    let mut steps = 0;
    loop {
        world.store.reset();
        let report = engine.purge_step().await.unwrap();
        let cost = world.store.requests();
        // The tombstone from its queue, a page and one more (the tombstone may be among
        // them), and the task records of the attempts in the page
        assert!(cost.items_read <= (PURGE_PAGE + 3) as u64, "{cost:?}");
        assert!(cost.writes <= 2, "{cost:?}");
        steps += 1;
        if report.examined == 0 {
            break;
        }
        assert!(steps < 200, "the purge does not end");
    }
    // Then nothing of it is left but its tombstone, its task record included
    assert!(steps >= before / PURGE_PAGE, "{steps}");
    let left: Vec<String> = world
        .partition("df-gone")
        .await
        .into_iter()
        .map(|item| item.key.sk)
        .collect();
    assert_eq!(left, ["DELETED"]);
    assert!(world.store.get(&keys::task(&task.task_id)).await.unwrap().is_none());
    // And the runner's report finds no task
    let ended = engine
        .set_task_status(&task.task_id, None, TaskStatus::Finished, ErrorDetails::default())
        .await;
    assert!(ended.is_err(), "{ended:?}");
    // And once the grace period is over, a last look finds nothing more and ends the purge
    world.clock.advance(PURGE_GRACE);
    let report = engine.purge_step().await.unwrap();
    assert_eq!((report.examined, report.changed), (1, 1), "{report:?}");
    world.clock.advance(TimeDelta::days(1));
    assert_eq!(engine.purge_step().await.unwrap().examined, 0);
    let (answer, _) = world
        .call("DescribePipelines", json!({"pipelineIds": ["df-gone"]}))
        .await;
    assert_eq!(answer["__type"], "PipelineDeletedException", "{answer}");
}

#[tokio::test]
async fn a_purge_cut_short_by_a_crash_loses_nothing_and_finishes_later() {
    // Given a deleted pipeline with 1,000 runs and another pipeline beside it
    let world = World::new(FaultyStore::new(MemoryStore::new(), 5));
    world.pipeline_with_history("df-crashed", 1_000, 0).await;
    world.pipeline_with_history("df-kept", 10, 0).await;
    let kept = world.partition("df-kept").await;
    let engine = world.engine();
    engine.delete_pipeline("df-crashed").await.unwrap();
    // When the store "crashes" after two pages, as the third is written
    world.store.inner().crash_after(2);
    for _ in 0..2 {
        let report = engine.purge_step().await.unwrap();
        assert_eq!(report.changed, PURGE_PAGE, "{report:?}");
    }
    let report = engine.purge_step().await.unwrap();
    assert!(!report.problems.is_empty(), "the failed page is reported: {report:?}");
    assert!(world.store.inner().has_crashed());
    let partial = world.partition("df-crashed").await.len();
    assert!(partial > 1, "{partial}");
    // Then, once the store is back, later steps take up where it stopped and finish
    world.store.inner().reset();
    let mut steps = 0;
    while world.partition("df-crashed").await.len() > 1 {
        world.clock.advance(TimeDelta::minutes(5));
        engine.purge_step().await.unwrap();
        steps += 1;
        assert!(steps < 100, "the purge does not finish");
    }
    let left: Vec<String> = world
        .partition("df-crashed")
        .await
        .into_iter()
        .map(|item| item.key.sk)
        .collect();
    assert_eq!(left, ["DELETED"]);
    // And nothing of the other pipeline was touched
    assert_eq!(world.partition("df-kept").await, kept);
}
