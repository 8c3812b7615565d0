//! The engine's cost, counted and timed: DynamoDB requests per activity instance from
//! creation to FINISHED, and the time of one schedule step and one dependencies step over
//! 10,000 due instances on the memory store.
//!
//! `cargo bench -p sluice --bench engine`; the figures go in the README.

use chrono::{NaiveDateTime, TimeDelta};
use criterion::{BatchSize, Criterion};
use serde_json::json;
use sluice::{
    cloud::probe::FakeProbe,
    definition::read_definition,
    engine::{
        Engine, Limits,
        clock::{ManualClock, SeededRandom},
        pipelines::ActivateOptions,
        tasks::TaskStatus,
    },
    store::{counting::CountingStore, memory::MemoryStore, records::ErrorDetails},
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

fn main() {
    requests_per_instance();
    let mut criterion = Criterion::default().configure_from_args();
    schedule_and_dependency_steps(&mut criterion);
    criterion.final_summary();
}
