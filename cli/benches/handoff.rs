//! Hand-off latency in `sluice dev`, stream-driven: a chain of 20 trivial shell commands
//! (`true`, each `dependsOn` the one before) run by the local runner, five times. For each
//! hand-off, the time from an upstream's FINISHED to its consumer's RUNNING, read from the
//! run records' own timestamps; and each chain's whole time from activation to its last
//! FINISHED. The stage tick is set to a minute, so only the stream moves the chain.
//! `cargo bench -p sluice-cli --bench handoff`; the figures go in the README.

mod support;

use std::time::{Duration, Instant};

use sluice::store::{
    Range, RunStore,
    dynamodb::DynamoStore,
    keys,
    records::{AttemptRecord, InstanceRecord, Stored},
};
use support::{Dev, between, chain_objects, percentiles};

const LENGTH: usize = 20;
const CHAINS: usize = 5;

#[tokio::main]
async fn main() {
    // sluice dev starts its own moto; the run records are read there.
    let dev = Dev::start(&["--tick", "60", "--poll-wait", "0"], None);
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&dev.emulator)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "bench",
        ))
        .load()
        .await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), "sluice-dev");
    let mut handoffs = Vec::new();
    let mut wholes = Vec::new();
    // Where a step's time goes: upstream FINISHED to the consumer's attempt (the dependency
    // stage, woken by the stream), attempt to claim (the runner's poll), claim to FINISHED
    // (running `true` and reporting it).
    let (mut to_attempt, mut to_claim, mut to_finish) = (Vec::new(), Vec::new(), Vec::new());
    let mut starts = Vec::new();
    for chain in 0..CHAINS {
        let created = dev.post(
            "CreatePipeline",
            &format!(r#"{{"name": "chain", "uniqueId": "chain-{chain}"}}"#),
        );
        let id = serde_json::from_str::<serde_json::Value>(&created).unwrap()["pipelineId"]
            .as_str()
            .unwrap()
            .to_owned();
        dev.post(
            "PutPipelineDefinition",
            &format!(
                r#"{{"pipelineId": "{id}", "pipelineObjects": {}}}"#,
                chain_objects(LENGTH)
            ),
        );
        let activated_at = chrono::Utc::now().naive_utc();
        dev.post("ActivatePipeline", &format!(r#"{{"pipelineId": "{id}"}}"#));
        let deadline = Instant::now() + Duration::from_secs(120);
        let instances = loop {
            let items = store
                .query(&keys::pipeline_pk(&id), &Range::prefix("INST#", 1000))
                .await
                .expect("reads the run table");
            let instances: Vec<InstanceRecord> = items
                .iter()
                .filter_map(|item| Stored::<InstanceRecord>::from_item(item).ok())
                .map(|stored| stored.record)
                .collect();
            let finished = instances.iter().filter(|instance| instance.ended_at.is_some()).count();
            if finished == LENGTH {
                break instances;
            }
            assert!(
                Instant::now() < deadline,
                "chain {chain}: {finished} of {LENGTH} finished in two minutes"
            );
            // Seldom enough not to load the emulator the chain runs on: the figures come
            // from the records' own timestamps, not from when this loop sees them.
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        let attempts: Vec<AttemptRecord> = store
            .query(&keys::pipeline_pk(&id), &Range::prefix("ATT#", 1000))
            .await
            .expect("reads the run table")
            .iter()
            .filter_map(|item| Stored::<AttemptRecord>::from_item(item).ok())
            .map(|stored| stored.record)
            .collect();
        let attempt = |n: usize| {
            attempts
                .iter()
                .find(|attempt| attempt.component_id == format!("Step{n}"))
                .expect("every step has its attempt")
        };
        let step = |n: usize| {
            instances
                .iter()
                .find(|instance| instance.component_id == format!("Step{n}"))
                .expect("every step has its instance")
        };
        for n in 1..LENGTH {
            let (upstream, consumer) = (step(n - 1), step(n));
            handoffs.push(between(
                upstream.ended_at.expect("ended"),
                consumer.started_at.expect("started"),
            ));
            let made = attempt(n);
            to_attempt.push(between(upstream.ended_at.expect("ended"), made.available_at));
            to_claim.push(between(made.available_at, made.claimed_at.expect("claimed")));
            to_finish.push(between(
                made.claimed_at.expect("claimed"),
                made.ended_at.expect("ended"),
            ));
        }
        wholes.push(between(activated_at, step(LENGTH - 1).ended_at.expect("ended")));
        starts.push(between(activated_at, attempt(0).available_at));
        if std::env::var_os("HANDOFF_STEPS").is_some() {
            let each: Vec<u128> = (1..LENGTH)
                .map(|n| {
                    between(
                        step(n - 1).ended_at.expect("ended"),
                        step(n).started_at.expect("started"),
                    )
                    .as_millis()
                })
                .collect();
            println!("chain {chain}: hand-offs in ms {each:?}");
        }
    }
    percentiles(
        &format!("hand-off, upstream FINISHED to consumer RUNNING ({CHAINS} chains of {LENGTH})"),
        handoffs,
    );
    percentiles("whole chain, activation to last FINISHED", wholes);
    percentiles("  the start: activation to the first step's attempt", starts);
    percentiles("  of a step: upstream FINISHED to consumer's attempt", to_attempt);
    percentiles("  of a step: attempt to claimed by the runner", to_claim);
    percentiles("  of a step: claimed to FINISHED", to_finish);
}
