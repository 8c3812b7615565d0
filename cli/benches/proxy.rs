//! What `sluice proxy` adds to a call: ListPipelines through the AWS SDK straight to a
//! `sluice dev` that checks signatures, against the same call through the proxy (which
//! checks the caller's signature, signs again and forwards). p50 and p99 over 500 calls.
//! `cargo bench -p sluice-cli --bench proxy`; the figures go in the README.

mod support;

use std::{
    io::{BufRead, BufReader},
    net::TcpListener,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use support::{Dev, percentiles};

const CALLS: usize = 500;
const KEY: (&str, &str) = ("AKIDSLUICEBENCH", "sluice-bench-secret");

fn client(runtime: &tokio::runtime::Runtime, endpoint: &str) -> aws_sdk_datapipeline::Client {
    let config = runtime.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(aws_sdk_datapipeline::config::Credentials::new(
                KEY.0, KEY.1, None, None, "bench",
            ))
            .load(),
    );
    aws_sdk_datapipeline::Client::new(&config)
}

fn measure(runtime: &tokio::runtime::Runtime, client: &aws_sdk_datapipeline::Client) -> Vec<Duration> {
    (0..CALLS)
        .map(|_| {
            let started = Instant::now();
            runtime
                .block_on(client.list_pipelines().send())
                .expect("ListPipelines answers");
            started.elapsed()
        })
        .collect()
}

fn main() {
    let environment = [
        ("AWS_ACCESS_KEY_ID", KEY.0),
        ("AWS_SECRET_ACCESS_KEY", KEY.1),
        ("AWS_REGION", "us-east-1"),
    ];
    // The SDK signs for datapipeline; sluice dev checks exactly that, as a function URL
    // checks lambda, so both paths pay for one signature check at the API.
    let dev = Dev::start_with_env(&["--require-signature", "datapipeline"], None, &environment);
    let direct = format!("http://127.0.0.1:{}", dev.port);
    let port = TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut proxy = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["proxy", "--endpoint", &direct, "--signing-name", "datapipeline"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .envs(environment)
        .stdout(Stdio::piped())
        .spawn()
        .expect("sluice proxy starts");
    let mut lines = BufReader::new(proxy.stdout.take().unwrap()).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    assert!(first.starts_with("Sluice proxy is running"), "{first}");
    std::thread::spawn(move || for _ in lines {});

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let straight = client(&runtime, &direct);
    let proxied = client(&runtime, &format!("http://127.0.0.1:{port}"));
    // Warm both paths (connections, credentials) before measuring.
    let _warm = (measure(&runtime, &straight), measure(&runtime, &proxied));
    percentiles("ListPipelines, SDK straight to the API", measure(&runtime, &straight));
    percentiles("ListPipelines, SDK through sluice proxy", measure(&runtime, &proxied));
    let _ = proxy.kill();
    let _ = proxy.wait();
}
