//! What the `sluice dev` benchmarks share: starting it, speaking the API, percentiles.

#![allow(dead_code)] // each bench uses a different part

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    time::Duration,
};

/// `sluice dev` on a free port, stopped when dropped.
pub struct Dev {
    child: Child,
    pub port: u16,
    /// The emulator's endpoint, as `sluice dev` printed it.
    pub emulator: String,
}

impl Dev {
    /// Starts `sluice dev` with `args`, against `emulator` when given (else its own moto).
    pub fn start(args: &[&str], emulator: Option<&str>) -> Self {
        Self::start_with_env(args, emulator, &[])
    }

    /// [`Dev::start`] with environment variables for `sluice dev`.
    pub fn start_with_env(args: &[&str], emulator: Option<&str>, environment: &[(&str, &str)]) -> Self {
        let port = TcpListener::bind(("127.0.0.1", 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
        command
            .args(["dev", "--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .envs(environment.iter().copied());
        match emulator {
            Some(endpoint) => command.env("AWS_ENDPOINT_URL", endpoint),
            None => command.env_remove("AWS_ENDPOINT_URL"),
        };
        let mut child = command.stdout(Stdio::piped()).spawn().expect("sluice dev starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut emulator = String::new();
        for line in lines.by_ref() {
            let line = line.expect("reads");
            if let Some(rest) = line.trim().strip_prefix("AWS emulator: ") {
                emulator = rest.split_whitespace().next().unwrap_or_default().to_owned();
            }
            if line.starts_with("Stop with Ctrl-C") {
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Self { child, port, emulator }
    }

    /// One API call; the answer's body (the call must succeed).
    pub fn post(&self, target: &str, body: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("sluice dev answers");
        let request = format!(
            "POST / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nX-Amz-Target: DataPipeline.{target}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
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
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// An on-demand chain of `steps` `true` commands on the local runner's worker group, each
/// `dependsOn` the one before, as API pipeline objects.
pub fn chain_objects(steps: usize) -> String {
    let mut objects = vec![
        r#"{"id": "Default", "name": "Default", "fields": [{"key": "scheduleType", "stringValue": "ondemand"},
            {"key": "workerGroup", "stringValue": "local"}]}"#
            .to_owned(),
    ];
    for step in 0..steps {
        let depends = if step == 0 {
            String::new()
        } else {
            format!(r#", {{"key": "dependsOn", "refValue": "Step{}"}}"#, step - 1)
        };
        objects.push(format!(
            r#"{{"id": "Step{step}", "name": "Step{step}", "fields": [{{"key": "type", "stringValue": "ShellCommandActivity"}},
                {{"key": "command", "stringValue": "true"}}{depends}]}}"#
        ));
    }
    format!("[{}]", objects.join(","))
}

/// The time between two record timestamps (zero if they are out of order).
pub fn between(from: chrono::NaiveDateTime, to: chrono::NaiveDateTime) -> Duration {
    (to - from).to_std().unwrap_or_default()
}

/// Prints p50, p99 and max of `samples`.
pub fn percentiles(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |fraction: f64| samples[((samples.len() as f64 * fraction) as usize).min(samples.len() - 1)];
    println!(
        "{name}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} samples",
        at(0.50).as_secs_f64() * 1000.0,
        at(0.99).as_secs_f64() * 1000.0,
        samples[samples.len() - 1].as_secs_f64() * 1000.0,
        samples.len()
    );
}
