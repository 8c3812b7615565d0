//! The engine's cost, counted and timed: DynamoDB requests per activity instance from
//! creation to FINISHED, the time of one schedule step and one dependencies step over
//! 10,000 due instances on the memory store, and the first page of a pipeline's runs
//! (QueryObjects, DescribeObjects) with 100 runs of history against 100,000 (issue 17: the
//! cost of a call follows what it asks for, not the size of history).
//!
//! `cargo bench -p sluice --bench engine`; the figures go in the README.

use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, TimeDelta};
use criterion::{BatchSize, Criterion};
use serde_json::{Value, json};
use sluice::{
    api::{Api, handle},
    cloud::probe::FakeProbe,
    definition::read_definition,
    engine::{
        Engine, Limits, Status,
        clock::{ManualClock, SeededRandom},
        pipelines::ActivateOptions,
        tasks::TaskStatus,
    },
    store::{
        MAX_TRANSACTION_WRITES, RunStore,
        counting::{CountingStore, Requests},
        keys,
        memory::MemoryStore,
        records::{ErrorDetails, InstanceRecord, Stored, create},
    },
    time::parse_datetime,
};

fn at(text: &str) -> NaiveDateTime {
    parse_datetime(text).expect("a date-time")
}

struct World {
    store: CountingStore<MemoryStore>,
    clock: ManualClock,
    random: SeededRandom,
    probe: FakeProbe,
}

impl World {
    fn new(now: &str) -> Self {
        Self {
            store: CountingStore::new(MemoryStore::new()),
            clock: ManualClock::new(at(now)),
            random: SeededRandom::new(1),
            probe: FakeProbe::new(),
        }
    }

    fn engine(&self, limits: Limits) -> Engine<'_, CountingStore<MemoryStore>, FakeProbe> {
        Engine::new(&self.store, &self.clock, &self.random, &self.probe).with_limits(limits)
    }
}

/// `components` activities on a 15-minute schedule that started `backlog` intervals ago.
fn backlog_pipeline(components: usize, backlog: i64) -> (World, sluice::definition::Definition) {
    let now = at("2026-01-02T00:00:00");
    let start = now - TimeDelta::minutes(15 * backlog) + TimeDelta::seconds(1);
    let mut objects = vec![
        json!({"id": "Default", "scheduleType": "cron", "schedule": {"ref": "Quarterly"}, "workerGroup": "wg",
               "maxActiveInstances": "100000"}),
        json!({"id": "Quarterly", "type": "Schedule", "period": "15 minutes",
               "startDateTime": start.format("%Y-%m-%dT%H:%M:%S").to_string()}),
    ];
    for index in 0..components {
        objects.push(json!({"id": format!("Step{index}"), "type": "ShellCommandActivity", "command": "true"}));
    }
    let definition = read_definition(&json!({ "objects": objects }).to_string())
        .expect("reads")
        .definition;
    (World::new("2026-01-02T00:00:00"), definition)
}

async fn activate(world: &World, definition: &sluice::definition::Definition, limits: Limits) {
    let engine = world.engine(limits);
    engine
        .create_pipeline("df-bench", "bench", "bench")
        .await
        .expect("creates");
    engine.put_definition("df-bench", definition).await.expect("saves");
    let options = ActivateOptions {
        allow_backfill: true,
        ..ActivateOptions::default()
    };
    engine.activate("df-bench", &options).await.expect("activates");
}

const WIDE: Limits = Limits {
    batch: 10_000,
    instances_per_step: 100,
    recheck: TimeDelta::minutes(1),
    simulated_resources: None,
};

fn schedule_and_dependency_steps(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("engine");
    group.sample_size(10);
    group.bench_function(
        "schedule step creating 10,000 due instances (100 components x 100)",
        |b| {
            b.iter_batched(
                || {
                    let (world, definition) = backlog_pipeline(100, 100);
                    runtime.block_on(activate(&world, &definition, WIDE));
                    world
                },
                |world| {
                    runtime.block_on(async {
                        let report = world.engine(WIDE).schedule_step().await.expect("steps");
                        assert!(report.changed >= 10_000, "{report:?}");
                    });
                    world
                },
                BatchSize::PerIteration,
            );
        },
    );
    group.bench_function("dependencies step over 10,000 due instances", |b| {
        b.iter_batched(
            || {
                let (world, definition) = backlog_pipeline(100, 100);
                runtime.block_on(async {
                    activate(&world, &definition, WIDE).await;
                    world.engine(WIDE).schedule_step().await.expect("steps");
                });
                world
            },
            |world| {
                runtime.block_on(async {
                    let report = world.engine(WIDE).dependencies_step().await.expect("steps");
                    assert_eq!(report.examined, 10_000, "{report:?}");
                });
                world
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

/// Requests from an instance's creation to FINISHED, counted per step, not timed.
fn requests_per_instance() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let (world, definition) = backlog_pipeline(1, 1);
    runtime.block_on(async {
        let limits = Limits::default();
        activate(&world, &definition, limits.clone()).await;
        let engine = world.engine(limits);
        // A runner has polled already: its once-a-minute note is not part of the run.
        engine.poll_for_task("wg", Some("bench")).await.expect("polls");
        let mut lines = Vec::new();
        let mut measure = |step: &str| {
            let requests = world.store.requests();
            lines.push(format!("{step}: {} reads, {} writes", requests.reads, requests.writes));
            world.store.reset();
        };
        world.store.reset();
        engine.schedule_step().await.expect("steps");
        measure("schedule step (creates the instance; sets up the component; moves the pipeline's next check)");
        engine.dependencies_step().await.expect("steps");
        measure("WAITING_ON_DEPENDENCIES -> WAITING_FOR_RUNNER (with its attempt)");
        let task = engine
            .poll_for_task("wg", Some("bench"))
            .await
            .expect("polls")
            .expect("a task");
        measure("poll: WAITING_FOR_RUNNER -> RUNNING (attempt, task and instance in one transaction)");
        engine
            .report_task_progress(&task.task_id, Some("wg"))
            .await
            .expect("reports");
        measure("progress report (extends the lease)");
        engine
            .set_task_status(&task.task_id, Some("wg"), TaskStatus::Finished, ErrorDetails::default())
            .await
            .expect("finishes");
        measure("RUNNING -> FINISHED (attempt, instance and component in one transaction)");
        println!("requests per activity instance, step by step:");
        for line in lines {
            println!("  {line}");
        }
    });
}

/// The runs of history the first-page figures compare.
const HISTORIES: [usize; 2] = [100, 100_000];

/// A pipeline of one activity every 15 minutes from 2026-01-02, its first run scheduled and
/// `history` finished runs before it (every hundredth FAILED), written straight to the store.
fn pipeline_with_history(runtime: &tokio::runtime::Runtime, history: usize) -> World {
    let world = World::new("2026-01-02T00:00:00");
    runtime.block_on(async {
        let engine = world.engine(Limits::default());
        let definition = json!({"objects": [
            {"id": "Default", "scheduleType": "cron", "schedule": {"ref": "Every15"}, "workerGroup": "wg"},
            {"id": "Every15", "type": "Schedule", "period": "15 minutes", "startDateTime": "2026-01-02T00:00:00"},
            {"id": "Copy", "type": "ShellCommandActivity", "command": "copy"},
        ]});
        let definition = read_definition(&definition.to_string()).expect("reads").definition;
        engine
            .create_pipeline("df-bench", "bench", "bench")
            .await
            .expect("creates");
        engine.put_definition("df-bench", &definition).await.expect("saves");
        engine
            .activate("df-bench", &ActivateOptions::default())
            .await
            .expect("activates");
        engine.schedule_step().await.expect("steps");
        let first = at("2026-01-02T00:00:00");
        let item = world
            .store
            .get(&keys::instance("df-bench", "Copy", first))
            .await
            .expect("reads")
            .expect("the first run is scheduled");
        let template = Stored::<InstanceRecord>::from_item(&item).expect("parses").record;
        let mut writes = Vec::with_capacity(history);
        for index in 1..=history {
            let start = first - TimeDelta::minutes(15 * i64::try_from(index).expect("fits"));
            let record = InstanceRecord {
                scheduled_start: start,
                scheduled_end: start + TimeDelta::minutes(15),
                runs_at: start + TimeDelta::minutes(15),
                status: if index % 100 == 0 {
                    Status::Failed
                } else {
                    Status::Finished
                },
                attempts: 1,
                next_check_at: None,
                waiting_on: Vec::new(),
                started_at: Some(start + TimeDelta::minutes(15)),
                ended_at: Some(start + TimeDelta::minutes(16)),
                ..template.clone()
            };
            writes.push(create(&record).expect("fits an item"));
        }
        for chunk in writes.chunks(MAX_TRANSACTION_WRITES) {
            assert!(world.store.transact(chunk.to_vec()).await.expect("writes"));
        }
    });
    world
}

/// One API call as the API function makes it (an engine per request), and its answer.
async fn api_call(world: &World, operation: &str, body: &Value) -> Value {
    let api = Api::new(world.engine(Limits::default()));
    let target = format!("DataPipeline.{operation}");
    let response = handle(&api, Some(&target), body.to_string().as_bytes()).await;
    assert_eq!(response.status, 200, "{operation}");
    serde_json::from_slice(&response.body).expect("JSON")
}

/// The calls of the first page of `sluice runs`: its QueryObjects (the default page of 100,
/// and one selecting FAILED runs), and DescribeObjects of the first 25 runs.
fn first_page_calls() -> Vec<(&'static str, &'static str, Value)> {
    let first_25: Vec<String> = (1..=25_i64)
        .rev()
        .map(|index| {
            let start = at("2026-01-02T00:00:00") - TimeDelta::minutes(15 * index);
            format!("@Copy_{}", start.format("%Y-%m-%dT%H:%M:%S"))
        })
        .collect();
    vec![
        (
            "QueryObjects INSTANCE, first page of 100",
            "QueryObjects",
            json!({"pipelineId": "df-bench", "sphere": "INSTANCE"}),
        ),
        (
            "QueryObjects INSTANCE @status = FAILED, first page",
            "QueryObjects",
            json!({"pipelineId": "df-bench", "sphere": "INSTANCE", "query": {"selectors": [
                {"fieldName": "@status", "operator": {"type": "EQ", "values": ["FAILED"]}}]}}),
        ),
        (
            "DescribeObjects of 25 runs",
            "DescribeObjects",
            json!({"pipelineId": "df-bench", "objectIds": first_25}),
        ),
    ]
}

/// The first page's calls timed by criterion, with 100 runs of history and with 100,000.
fn first_page_of_runs(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("history");
    for history in HISTORIES {
        let world = pipeline_with_history(&runtime, history);
        for (name, operation, body) in first_page_calls() {
            group.bench_function(format!("{name}, {history} runs of history"), |b| {
                b.iter(|| runtime.block_on(api_call(&world, operation, &body)));
            });
        }
    }
    group.finish();
}

/// The first page's calls, p50 of 200 and the items each reads, with 100 runs of history
/// and with 100,000; then what deleting the larger pipeline costs, and its purge.
fn first_page_figures() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let mut figures: Vec<(String, usize, Duration, Requests)> = Vec::new();
    let mut largest = None;
    for history in HISTORIES {
        let world = pipeline_with_history(&runtime, history);
        for (name, operation, body) in first_page_calls() {
            world.store.reset();
            runtime.block_on(api_call(&world, operation, &body));
            let cost = world.store.requests();
            let mut times: Vec<Duration> = (0..200)
                .map(|_| {
                    let started = Instant::now();
                    runtime.block_on(api_call(&world, operation, &body));
                    started.elapsed()
                })
                .collect();
            times.sort();
            figures.push((name.to_owned(), history, times[times.len() / 2], cost));
        }
        largest = Some(world);
    }
    println!("the first page of runs, by runs of history (p50 of 200 calls; items read per call):");
    for (name, history, p50, cost) in &figures {
        println!(
            "  {name}, {history} runs: p50 {p50:?}, {} items in {} reads",
            cost.items_read, cost.reads
        );
    }
    for (name, _, _) in first_page_calls() {
        let of = |history: usize| {
            figures
                .iter()
                .find(|(named, runs, _, _)| named == name && *runs == history)
                .map(|(_, _, p50, _)| p50.as_secs_f64())
                .unwrap_or_default()
        };
        println!(
            "  {name}: 100,000 runs take {:.2}x the time of 100",
            of(HISTORIES[1]) / of(HISTORIES[0]).max(f64::MIN_POSITIVE)
        );
    }
    let Some(world) = largest else { return };
    runtime.block_on(async {
        world.store.reset();
        let started = Instant::now();
        api_call(&world, "DeletePipeline", &json!({"pipelineId": "df-bench"})).await;
        let took = started.elapsed();
        let cost = world.store.requests();
        println!(
            "  DeletePipeline with 100,000 runs: {took:?}, {} items in {} reads, {} writes",
            cost.items_read, cost.reads, cost.writes
        );
        let engine = world.engine(Limits::default());
        world.store.reset();
        let started = Instant::now();
        let mut steps = 0;
        while engine.purge_step().await.expect("purges").changed > 0 {
            steps += 1;
        }
        let cost = world.store.requests();
        println!(
            "  then {steps} purge steps in {:?}: {} reads, {} writes, {} items read",
            started.elapsed(),
            cost.reads,
            cost.writes,
            cost.items_read
        );
    });
}

fn main() {
    requests_per_instance();
    first_page_figures();
    let mut criterion = Criterion::default().configure_from_args();
    schedule_and_dependency_steps(&mut criterion);
    first_page_of_runs(&mut criterion);
    criterion.final_summary();
}
