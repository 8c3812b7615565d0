//! The `api` binary as a real Lambda: `cargo lambda watch` serves it, and requests reach it
//! through its local function URL — raw, and from the real AWS CLI — with run records in
//! DynamoDB on moto's server, which the test starts on a free port.

use std::{
    io::{Read, Write},
    net::TcpStream,
    process::Command,
    time::{Duration, Instant},
};

use sluice::{
    local::{LambdaWatch, MotoServer},
    store::dynamodb::create_table,
};

/// POSTs a Data Pipeline request to the function URL; the status line and the body.
fn post(port: u16, target: &str, body: &str) -> std::io::Result<(String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(600)))?;
    let request = format!(
        "POST /lambda-url/api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: {target}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response.lines().next().unwrap_or("").to_owned();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cargo_lambda_serves_the_api_function_behind_its_function_url() {
    // Given run records on moto, and the function served by cargo lambda watch
    let moto = MotoServer::start().unwrap_or_else(|error| panic!("{error}"));
    let client = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    create_table(&client, "runs").await.unwrap();
    let watch = LambdaWatch::start(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")),
        Some("sluice-api"),
        &moto.endpoint(),
        "runs",
    )
    .unwrap_or_else(|error| panic!("{error}"));
    let port = watch.port();

    // When a CreatePipeline request arrives at the function URL (the first builds the function)
    let deadline = Instant::now() + Duration::from_secs(600);
    let (status, body) = loop {
        match post(
            port,
            "DataPipeline.CreatePipeline",
            r#"{"name": "nightly", "uniqueId": "nightly-1"}"#,
        ) {
            Ok(answer) => break answer,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(500)),
            Err(error) => panic!("the function URL never answered: {error}"),
        }
    };

    // Then the function answers in the Data Pipeline protocol, and its record is in DynamoDB
    assert!(status.contains("200"), "{status}: {body}");
    let created: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = created["pipelineId"].as_str().unwrap().to_owned();
    let (status, body) = post(port, "DataPipeline.LaunchRockets", "{}").unwrap();
    assert!(
        status.contains("400") && body.contains("UnknownOperationException"),
        "{status}: {body}"
    );

    // And the real AWS CLI talks to the same function URL
    let output = Command::new("aws")
        .args(["datapipeline", "list-pipelines", "--region", "us-east-1"])
        .args(["--endpoint-url", &format!("http://127.0.0.1:{port}/lambda-url/api")])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .expect("the aws CLI (pip install awscli)");
    let listed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(listed.contains(&id), "{listed}");
}
