//! API request latency in `sluice dev`: p50 and p99 of DescribeObjects and PollForTask over
//! HTTP on loopback, with run records in DynamoDB on moto's server (which `sluice dev`
//! starts). `cargo bench -p sluice-cli --bench api`; the figures go in the README.

mod support;

use std::time::{Duration, Instant};

use support::{Dev, percentiles};

const REQUESTS: usize = 500;

fn measure(dev: &Dev, target: &str, body: &str) -> Vec<Duration> {
    (0..REQUESTS)
        .map(|_| {
            let started = Instant::now();
            dev.post(target, body);
            started.elapsed()
        })
        .collect()
}

fn main() {
    let dev = Dev::start(&["--poll-wait", "0"], None);

    // A pipeline with one finished run to describe
    let created = dev.post("CreatePipeline", r#"{"name": "bench", "uniqueId": "bench-1"}"#);
    let id = serde_json::from_str::<serde_json::Value>(&created).unwrap()["pipelineId"]
        .as_str()
        .unwrap()
        .to_owned();
    let objects = r#"[
        {"id": "Default", "name": "Default", "fields": [{"key": "scheduleType", "stringValue": "ondemand"},
                                                          {"key": "workerGroup", "stringValue": "bench"}]},
        {"id": "Work", "name": "Work", "fields": [{"key": "type", "stringValue": "ShellCommandActivity"},
                                                  {"key": "command", "stringValue": "true"}]}]"#;
    dev.post(
        "PutPipelineDefinition",
        &format!(r#"{{"pipelineId": "{id}", "pipelineObjects": {objects}}}"#),
    );
    dev.post("ActivatePipeline", &format!(r#"{{"pipelineId": "{id}"}}"#));
    let instance = loop {
        let query = dev.post(
            "QueryObjects",
            &format!(r#"{{"pipelineId": "{id}", "sphere": "INSTANCE"}}"#),
        );
        let ids = serde_json::from_str::<serde_json::Value>(&query).unwrap()["ids"].clone();
        if let Some(first) = ids
            .as_array()
            .and_then(|ids| ids.first())
            .and_then(|first| first.as_str())
        {
            break first.to_owned();
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let describe =
        format!(r#"{{"pipelineId": "{id}", "objectIds": ["{instance}", "Work"], "evaluateExpressions": true}}"#);
    percentiles(
        "DescribeObjects (an instance and its component)",
        measure(&dev, "DescribeObjects", &describe),
    );
    percentiles(
        "PollForTask (a worker group with nothing due)",
        measure(&dev, "PollForTask", r#"{"workerGroup": "idle", "hostname": "bench"}"#),
    );
}
