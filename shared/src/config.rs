//! Configuration read once at a function's cold start, and the clients built from it.

use thiserror::Error;

use crate::{
    cloud::AwsProbe,
    engine::{
        Engine,
        clock::{SeededRandom, SystemClock},
    },
    store::dynamodb::DynamoStore,
};

/// The environment variable naming the run table.
pub const TABLE_VARIABLE: &str = "SLUICE_TABLE";

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{0} is not set: the function's environment must name the run table (the SAM template sets it)")]
    Missing(&'static str),
}

/// Everything the engine needs, built once per process. AWS endpoints follow the SDK's
/// own settings, `AWS_ENDPOINT_URL` included, so the same binary runs against an emulator.
pub struct Deps {
    /// The SDK configuration the clients were built from, for the stages' other clients.
    pub sdk: aws_config::SdkConfig,
    pub store: DynamoStore,
    pub probe: AwsProbe,
    pub clock: SystemClock,
    pub random: SeededRandom,
}

impl Deps {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let table = std::env::var(TABLE_VARIABLE).map_err(|_| ConfigError::Missing(TABLE_VARIABLE))?;
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Ok(Self {
            store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table),
            probe: AwsProbe::new(&sdk),
            clock: SystemClock,
            random: SeededRandom::from_entropy(),
            sdk,
        })
    }

    pub fn engine(&self) -> Engine<'_, DynamoStore, AwsProbe> {
        Engine::new(&self.store, &self.clock, &self.random, &self.probe)
    }
}
