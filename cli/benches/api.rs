//! API request latency in `sluice dev`: p50 and p99 of DescribeObjects and PollForTask over
//! HTTP on loopback, with run records in DynamoDB on moto's server (which `sluice dev`
//! starts). `cargo bench -p sluice-cli --bench api`; the figures go in the README.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

const REQUESTS: usize = 500;

fn post(port: u16, target: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("sluice dev answers");
    let request = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: DataPipeline.{target}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("sends");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("reads");
    assert!(response.starts_with("HTTP/1.1 200"), "{target}: {response}");
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

fn percentiles(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |fraction: f64| samples[((samples.len() as f64 * fraction) as usize).min(samples.len() - 1)];
    println!(
        "{name}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} requests",
        at(0.50).as_secs_f64() * 1000.0,
        at(0.99).as_secs_f64() * 1000.0,
        samples[samples.len() - 1].as_secs_f64() * 1000.0,
        samples.len()
    );
}

fn measure(port: u16, target: &str, body: &str) -> Vec<Duration> {
    (0..REQUESTS)
        .map(|_| {
            let started = Instant::now();
            post(port, target, body);
            started.elapsed()
        })
        .collect()
}

fn main() {
    let port = TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut dev = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "dev",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--tick",
            "1",
            "--poll-wait",
            "0",
        ])
        .env_remove("AWS_ENDPOINT_URL")
        .stdout(Stdio::piped())
        .spawn()
        .expect("sluice dev starts");
    let mut lines = BufReader::new(dev.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.expect("reads").starts_with("Sluice dev is running") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});

    // A pipeline with one finished run to describe
    let created = post(port, "CreatePipeline", r#"{"name": "bench", "uniqueId": "bench-1"}"#);
    let id = serde_json::from_str::<serde_json::Value>(&created).unwrap()["pipelineId"]
        .as_str()
        .unwrap()
        .to_owned();
    let objects = r#"[
        {"id": "Default", "name": "Default", "fields": [{"key": "scheduleType", "stringValue": "ondemand"},
                                                          {"key": "workerGroup", "stringValue": "bench"}]},
        {"id": "Work", "name": "Work", "fields": [{"key": "type", "stringValue": "ShellCommandActivity"},
                                                  {"key": "command", "stringValue": "true"}]}]"#;
    post(
        port,
        "PutPipelineDefinition",
        &format!(r#"{{"pipelineId": "{id}", "pipelineObjects": {objects}}}"#),
    );
    post(port, "ActivatePipeline", &format!(r#"{{"pipelineId": "{id}"}}"#));
    let instance = loop {
        let query = post(
            port,
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
        measure(port, "DescribeObjects", &describe),
    );
    percentiles(
        "PollForTask (a worker group with nothing due)",
        measure(port, "PollForTask", r#"{"workerGroup": "idle", "hostname": "bench"}"#),
    );
    let _ = Command::new("kill").args(["-TERM", &dev.id().to_string()]).status();
    let _ = dev.wait();
}
