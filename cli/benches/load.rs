//! Load held in `sluice dev`: many pipelines of ten `true` steps (each `dependsOn` the one
//! before), all activated at once and run by the local runner. Prints the time from the
//! first activation to the last FINISHED, tasks per second, and the hand-off (an upstream's
//! FINISHED to its consumer's RUNNING) p50/p99 under that load, read from the run records'
//! own timestamps. `LOAD_PIPELINES` sets how many (100 by default).
//! `cargo bench -p sluice-cli --bench load`; the figures go in the README.

mod support;

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use sluice::store::{
    Range, RunStore,
    dynamodb::DynamoStore,
    keys,
    records::{InstanceRecord, Stored},
};
use support::{Dev, between, chain_objects, percentiles};

const STEPS: usize = 10;

#[tokio::main]
async fn main() {
    let pipelines: usize = std::env::var("LOAD_PIPELINES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(100);
    let dev = Dev::start(&["--poll-wait", "0"], None);
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&dev.emulator)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "bench",
        ))
        .load()
        .await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), "sluice-dev");
    // Every pipeline defined first, then all activated at once.
    let objects = chain_objects(STEPS);
    let ids: Vec<String> = (0..pipelines)
        .map(|n| {
            let created = dev.post(
                "CreatePipeline",
                &format!(r#"{{"name": "load", "uniqueId": "load-{n}"}}"#),
            );
            let id = serde_json::from_str::<serde_json::Value>(&created).unwrap()["pipelineId"]
                .as_str()
                .unwrap()
                .to_owned();
            dev.post(
                "PutPipelineDefinition",
                &format!(r#"{{"pipelineId": "{id}", "pipelineObjects": {objects}}}"#),
            );
            id
        })
        .collect();
    let first_activation = chrono::Utc::now().naive_utc();
    let clock = Instant::now();
    for id in &ids {
        dev.post("ActivatePipeline", &format!(r#"{{"pipelineId": "{id}"}}"#));
    }
    let activating = clock.elapsed();
    // Watched seldom, and each pipeline only until it is done, so that watching does not
    // load the emulator the work runs on: the figures come from the records' timestamps.
    let mut unfinished: BTreeSet<&String> = ids.iter().collect();
    let mut instances: Vec<InstanceRecord> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(900);
    while !unfinished.is_empty() {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut done = Vec::new();
        for id in &unfinished {
            let items = store
                .query(&keys::pipeline_pk(id), &Range::prefix("INST#", 100))
                .await
                .expect("reads the run table");
            let found: Vec<InstanceRecord> = items
                .iter()
                .filter_map(|item| Stored::<InstanceRecord>::from_item(item).ok())
                .map(|stored| stored.record)
                .collect();
            if found.iter().filter(|instance| instance.ended_at.is_some()).count() == STEPS {
                done.push(*id);
                instances.extend(found);
            }
        }
        for id in done {
            unfinished.remove(id);
        }
        assert!(
            Instant::now() < deadline,
            "{} of {pipelines} pipelines unfinished after 15 minutes",
            unfinished.len()
        );
    }
    let last = instances
        .iter()
        .filter_map(|instance| instance.ended_at)
        .max()
        .expect("instances ended");
    let total = between(first_activation, last);
    let tasks = pipelines * STEPS;
    let mut handoffs = Vec::new();
    for id in &ids {
        let step = |n: usize| {
            instances
                .iter()
                .find(|instance| &instance.pipeline_id == id && instance.component_id == format!("Step{n}"))
                .expect("every step has its instance")
        };
        for n in 1..STEPS {
            handoffs.push(between(
                step(n - 1).ended_at.expect("ended"),
                step(n).started_at.expect("started"),
            ));
        }
    }
    println!(
        "{pipelines} pipelines of {STEPS} steps ({tasks} tasks): activated in {:.2} s; first activation to last \
         FINISHED {:.2} s, {:.1} tasks/s",
        activating.as_secs_f64(),
        total.as_secs_f64(),
        tasks as f64 / total.as_secs_f64()
    );
    percentiles("hand-off under load, upstream FINISHED to consumer RUNNING", handoffs);
}
