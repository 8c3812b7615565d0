//! `cargo lambda watch` serving the workspace's Lambda binaries on a free loopback port,
//! with their environment pointed at an emulator: how the Lambda-level tests run the real
//! binaries. Stopped when dropped.

use std::{
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

/// The one command that installs cargo-lambda.
pub const INSTALL_CARGO_LAMBDA: &str = "python3 -m pip install cargo-lambda";

pub struct LambdaWatch {
    child: Child,
    port: u16,
}

impl LambdaWatch {
    /// Serves the functions of `workspace` (only `package`'s when given), each started with
    /// `SLUICE_TABLE=table` and dummy credentials for the emulator at `endpoint`.
    pub fn start(workspace: &Path, package: Option<&str>, endpoint: &str, table: &str) -> Result<Self, String> {
        Self::start_with(workspace, package, endpoint, table, &[])
    }

    /// [`LambdaWatch::start`], with more environment variables for every function (the
    /// machines' boot settings, say).
    pub fn start_with(
        workspace: &Path,
        package: Option<&str>,
        endpoint: &str,
        table: &str,
        more: &[(&str, &str)],
    ) -> Result<Self, String> {
        let port = TcpListener::bind(("127.0.0.1", 0))
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .map_err(|error| format!("no free port: {error}"))?;
        let mut environment = format!(
            "SLUICE_TABLE={table},AWS_ENDPOINT_URL={endpoint},AWS_ACCESS_KEY_ID=test,AWS_SECRET_ACCESS_KEY=test,\
             AWS_REGION=us-east-1"
        );
        for (name, value) in more {
            environment.push_str(&format!(",{name}={value}"));
        }
        let mut command = Command::new("cargo");
        command
            .args(["lambda", "watch", "--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(port.to_string())
            .args(["--env-var", &environment]);
        if let Some(package) = package {
            command.args(["--package", package]);
        }
        let child = command
            .current_dir(workspace)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| {
                format!("cannot start cargo lambda ({error}): install it with `{INSTALL_CARGO_LAMBDA}`")
            })?;
        Ok(Self { child, port })
    }

    /// The port of the emulated Runtime and Invoke APIs (and of function URLs).
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for LambdaWatch {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        std::thread::sleep(Duration::from_millis(500));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
