//! The tests' emulator: moto's server on a free loopback port for one test binary (the
//! library's [`MotoServer`]), failing the test with what to install when it cannot start.

use sluice::local::MotoServer;

pub struct Moto(MotoServer);

impl Moto {
    pub fn start() -> Self {
        Self(MotoServer::start().unwrap_or_else(|error| panic!("{error}")))
    }

    pub fn endpoint(&self) -> String {
        self.0.endpoint()
    }

    /// An SDK configuration pointed at this server, with dummy credentials.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        self.0.sdk_config().await
    }

    /// Every message SNS received so far.
    pub fn sns_messages(&self) -> Vec<sluice::local::PublishedMessage> {
        self.0.sns_messages().unwrap_or_else(|error| panic!("{error}"))
    }

    /// Wipes every service's state.
    pub fn reset(&self) {
        self.0.reset().unwrap_or_else(|error| panic!("{error}"));
    }
}
