//! moto's server (`moto_server`, PyPI `moto[server]`) on a free loopback port, stopped when
//! dropped: what `sluice dev` starts when `AWS_ENDPOINT_URL` is not set, and what the tests
//! start for themselves. Never a fixed port, never a server someone started by hand.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use thiserror::Error;

/// The one command that installs the emulator.
pub const INSTALL: &str = "python3 -m pip install 'moto[server]'";

/// moto's server, started by a Python that exits when this process does (a server kept in
/// a static, as tests do, is never dropped), with Sluice's fixes to moto's DynamoDB.
const WATCHED_MOTO: &str = include_str!("moto_server.py");

#[derive(Debug, Error)]
pub enum EmulatorError {
    #[error("cannot start {program} ({reason}): install it with `{INSTALL}`")]
    NotInstalled { program: String, reason: String },
    #[error("moto_server did not start: {0} (is it installed? `{INSTALL}`)")]
    DidNotStart(String),
    #[error("moto_server did not answer: {0}")]
    NoAnswer(String),
}

pub struct MotoServer {
    child: Child,
    port: u16,
}

impl MotoServer {
    /// Starts a server on a free loopback port and waits until it answers. The program is
    /// `moto_server`, or `MOTO_SERVER` when set.
    pub fn start() -> Result<Self, EmulatorError> {
        match std::env::var("MOTO_SERVER") {
            Ok(program) => Self::start_program(&program, &[]),
            Err(_) => Self::start_program("python3", &["-c", WATCHED_MOTO]),
        }
    }

    /// Starts `program` (with `arguments` before moto's own) as moto's server.
    pub fn start_program(program: &str, arguments: &[&str]) -> Result<Self, EmulatorError> {
        let mut last_error = String::new();
        // A port found free can be taken before moto binds it: try a few.
        for _ in 0..5 {
            let port = free_port().map_err(|error| EmulatorError::DidNotStart(format!("no free port: {error}")))?;
            let child = Command::new(program)
                .args(arguments)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|error| EmulatorError::NotInstalled {
                    program: program.to_owned(),
                    reason: error.to_string(),
                })?;
            let mut server = Self { child, port };
            match server.wait_ready(Duration::from_secs(30)) {
                Ok(()) => return Ok(server),
                Err(error) => last_error = error,
            }
        }
        Err(EmulatorError::DidNotStart(last_error))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An SDK configuration pointed at this server, with dummy credentials.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test", "test", None, None, "moto",
            ))
            .load()
            .await
    }

    /// Wipes every service's state.
    pub fn reset(&self) -> Result<(), EmulatorError> {
        let response = self
            .request("POST", "/moto-api/reset")
            .map_err(EmulatorError::NoAnswer)?;
        if response.starts_with("HTTP/1.1 200") {
            Ok(())
        } else {
            Err(EmulatorError::NoAnswer(format!(
                "reset answered {}",
                response.lines().next().unwrap_or("")
            )))
        }
    }

    /// Every message published to SNS so far, read from moto's state dump: how tests see
    /// what an alarm said without subscribing anything.
    pub fn sns_messages(&self) -> Result<Vec<PublishedMessage>, EmulatorError> {
        let response = self
            .request("GET", "/moto-api/data.json")
            .map_err(EmulatorError::NoAnswer)?;
        let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        let state: serde_json::Value = serde_json::from_str(body)
            .map_err(|error| EmulatorError::NoAnswer(format!("moto's state dump is not JSON: {error}")))?;
        let topics = state["sns"]["Topic"].as_array().cloned().unwrap_or_default();
        Ok(topics
            .iter()
            .flat_map(|topic| {
                let topic_arn = topic["arn"].as_str().unwrap_or_default().to_owned();
                topic["sent_notifications"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |sent| PublishedMessage {
                        topic_arn: topic_arn.clone(),
                        message_id: sent[0].as_str().unwrap_or_default().to_owned(),
                        message: sent[1].as_str().unwrap_or_default().to_owned(),
                        subject: sent[2].as_str().map(str::to_owned),
                    })
            })
            .collect())
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("moto_server exited with {status}"));
            }
            if self
                .request("GET", "/moto-api/")
                .is_ok_and(|response| response.starts_with("HTTP/1.1"))
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        Err(format!("no answer on port {} within {timeout:?}", self.port))
    }

    fn request(&self, method: &str, path: &str) -> Result<String, String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).map_err(|error| error.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|error| error.to_string())?;
        let request =
            format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .map_err(|error| error.to_string())?;
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .map_err(|error| error.to_string())?;
        Ok(response)
    }
}

/// A message moto's SNS received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedMessage {
    pub topic_arn: String,
    pub message_id: String,
    pub message: String,
    pub subject: Option<String>,
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> std::io::Result<u16> {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_says_how_to_install_it() {
        let Err(error) = MotoServer::start_program("/nonexistent/moto_server", &[]) else {
            panic!("started a program that does not exist");
        };
        assert!(matches!(error, EmulatorError::NotInstalled { .. }), "{error}");
        assert!(error.to_string().contains(INSTALL), "{error}");
    }

    #[test]
    fn starts_answers_and_resets() {
        let server = MotoServer::start().unwrap_or_else(|error| panic!("{error}"));
        assert!(server.endpoint().starts_with("http://127.0.0.1:"));
        server.reset().unwrap_or_else(|error| panic!("{error}"));
    }
}

#[cfg(test)]
mod watched {
    use super::*;

    fn answers(port: u16) -> bool {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    }

    #[test]
    fn the_server_exits_when_its_starter_does() {
        // Given moto started the watched way by a shell that exits three seconds later
        let port = free_port().unwrap();
        let mut starter = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "python3 -c \"$0\" -H 127.0.0.1 -p {port} >/dev/null 2>&1 & sleep 3"
            ))
            .arg(WATCHED_MOTO)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(3);
        while !answers(port) {
            assert!(Instant::now() < deadline, "moto did not start on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        // When the starter exits
        starter.wait().unwrap();
        // Then moto stops answering within a few seconds
        let deadline = Instant::now() + Duration::from_secs(10);
        while answers(port) {
            assert!(Instant::now() < deadline, "moto on port {port} outlived its starter");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
