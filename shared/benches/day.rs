//! A day of many pipelines on 15-minute schedules, on the memory store: every minute the
//! stages run as the tick runs them (each step repeated while it changes something) and a
//! runner takes and finishes every task. Prints the wall time, the requests each stage makes
//! per tick, and the writes the busiest `due` index partition takes in one tick (DynamoDB
//! allows 1,000 write units a second per partition).
//!
//! `DAY_PIPELINES` (10,000 by default) and `DAY_HOURS` (24) set the size.
//! `cargo bench -p sluice --bench day`; the figures go in the README.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use chrono::TimeDelta;
use serde_json::json;
use sluice::{
    cloud::probe::FakeProbe,
    definition::read_definition,
    engine::{
        Engine, Limits, StepReport,
        clock::{ManualClock, SeededRandom},
        pipelines::ActivateOptions,
        tasks::TaskStatus,
    },
    store::{Item, Key, Range, RunStore, StoreError, Write, memory::MemoryStore, records::ErrorDetails},
    time::parse_datetime,
};

/// The memory store, counting requests by the stage making them and writes by `due` queue.
#[derive(Default)]
struct Counted {
    inner: MemoryStore,
    stage: Mutex<&'static str>,
    requests: Mutex<HashMap<&'static str, u64>>,
    queue_writes: Mutex<HashMap<String, u64>>,
}

impl Counted {
    fn count(&self, writes: &[&Write]) {
        let stage = *self.stage.lock().unwrap();
        *self.requests.lock().unwrap().entry(stage).or_default() += 1;
        let mut queues = self.queue_writes.lock().unwrap();
        for write in writes {
            if let Write::Create(item) | Write::Replace { item, .. } = write
                && let Some(due) = &item.due
            {
                *queues.entry(due.queue.clone()).or_default() += 1;
            }
        }
    }

    fn take_queue_writes(&self) -> HashMap<String, u64> {
        std::mem::take(&mut *self.queue_writes.lock().unwrap())
    }
}

impl RunStore for Counted {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.count(&[]);
        self.inner.get(key).await
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        self.count(&[]);
        self.inner.get_many(keys).await
    }

    async fn write(&self, write: Write) -> Result<bool, StoreError> {
        self.count(&[&write]);
        self.inner.write(write).await
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<bool, StoreError> {
        self.count(&writes.iter().collect::<Vec<_>>());
        self.inner.transact(writes).await
    }

    async fn query(&self, pk: &str, range: &Range) -> Result<Vec<Item>, StoreError> {
        self.count(&[]);
        self.inner.query(pk, range).await
    }

    async fn due(&self, queue: &str, until_millis: i64, limit: usize) -> Result<Vec<Item>, StoreError> {
        self.count(&[]);
        self.inner.due(queue, until_millis, limit).await
    }
}

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

/// Repeats a step while it changes something, as a stage function does within its time.
async fn rounds<F, Fut>(store: &Counted, stage: &'static str, step: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = StepReport>,
{
    *store.stage.lock().unwrap() = stage;
    for _ in 0..1000 {
        if step().await.changed == 0 {
            break;
        }
    }
}

#[tokio::main]
async fn main() {
    let pipelines = setting("DAY_PIPELINES", 10_000);
    let hours = setting("DAY_HOURS", 24);
    let store = Counted::default();
    let clock = ManualClock::new(parse_datetime("2026-01-01T00:00:00").expect("a date-time"));
    let random = SeededRandom::new(1);
    let probe = FakeProbe::new();
    let engine = Engine::new(&store, &clock, &random, &probe).with_limits(Limits {
        recheck: TimeDelta::minutes(1),
        ..Limits::default()
    });
    let definition = read_definition(
        &json!({"objects": [
            {"id": "Default", "scheduleType": "cron", "schedule": {"ref": "Quarter"}, "workerGroup": "wg"},
            {"id": "Quarter", "type": "Schedule", "period": "15 minutes", "startAt": "FIRST_ACTIVATION_DATE_TIME"},
            {"id": "Export", "type": "ShellCommandActivity", "command": "export #{@scheduledStartTime}"}
        ]})
        .to_string(),
    )
    .expect("a definition")
    .definition;
    *store.stage.lock().unwrap() = "api";
    for n in 0..pipelines {
        let id = format!("df-{n:08}");
        engine.create_pipeline(&id, &id, &id).await.expect("created");
        engine.put_definition(&id, &definition).await.expect("saved");
        engine
            .activate(&id, &ActivateOptions::default())
            .await
            .expect("activated");
    }
    store.requests.lock().unwrap().clear();
    store.take_queue_writes();
    let started = Instant::now();
    let ticks = hours * 60;
    let mut busiest = (0_u64, String::new(), Duration::ZERO);
    let mut finished = 0_u64;
    for _ in 0..ticks {
        let tick = Instant::now();
        rounds(&store, "scheduler", || async {
            engine.schedule_step().await.expect("schedule")
        })
        .await;
        rounds(&store, "preconditions", || async {
            engine.dependencies_step().await.expect("dependencies")
        })
        .await;
        rounds(&store, "scheduler", || async {
            engine.watch_step().await.expect("watch")
        })
        .await;
        rounds(&store, "scheduler", || async {
            engine.reap_step().await.expect("reap")
        })
        .await;
        *store.stage.lock().unwrap() = "runner";
        while let Some(task) = engine.poll_for_task("wg", Some("runner")).await.expect("polled") {
            engine
                .set_task_status(&task.task_id, Some("wg"), TaskStatus::Finished, ErrorDetails::default())
                .await
                .expect("finished");
            finished += 1;
        }
        let took = tick.elapsed();
        for (queue, writes) in store.take_queue_writes() {
            if writes > busiest.0 {
                busiest = (writes, queue, took);
            }
        }
        clock.advance(TimeDelta::minutes(1));
    }
    let elapsed = started.elapsed();
    println!(
        "{pipelines} pipelines on 15-minute schedules, {hours} h simulated ({ticks} ticks): {finished} runs finished in \
         {:.1} s of wall time ({:.1} ms a tick)",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / ticks as f64
    );
    let mut requests: Vec<_> = store.requests.lock().unwrap().clone().into_iter().collect();
    requests.sort();
    for (stage, count) in requests {
        println!("  {stage}: {:.0} requests a tick", count as f64 / ticks as f64);
    }
    let (writes, queue, took) = busiest;
    println!(
        "  busiest due partition: {writes} writes in one tick to {queue} ({:.0} a second if spread over the \
         minute; DynamoDB takes 1,000 a second per partition; that tick took {:.0} ms here)",
        writes as f64 / 60.0,
        took.as_secs_f64() * 1000.0
    );
}
