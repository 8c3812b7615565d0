//! Configuration read once at a function's cold start, and the clients built from it.

use thiserror::Error;

use crate::{
    cloud::{
        AwsProbe,
        secrets::{KmsSecrets, SecretError, SecretFuture, SecretKeeper},
    },
    engine::{
        Engine,
        clock::{OsRandom, SystemClock},
        resources::Boot,
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
    pub random: OsRandom,
    /// What launched machines need to become runners.
    pub boot: Boot,
    /// Seals secret values with the stack's key (`SLUICE_KMS_KEY_ID`); without one, the
    /// engine is given [`WithoutKey`], and stores no secret.
    pub secrets: Option<KmsSecrets>,
}

/// The keeper of a deployment without a KMS key (`SLUICE_KMS_KEY_ID` unset): it seals
/// nothing, so a definition or an activation that carries a secret value is refused, and
/// nothing of it stored, instead of the secret going into the run table in the clear.
/// Values sealed before cannot be opened either. Tests and `sluice dev` build their engines
/// themselves, with a key of their own or none.
#[derive(Debug, Default, Clone, Copy)]
pub struct WithoutKey;

impl SecretKeeper for WithoutKey {
    fn seal<'a>(&'a self, _pipeline_id: &'a str, plaintext: &'a str) -> SecretFuture<'a> {
        let answer = if plaintext.is_empty() {
            Ok(String::new())
        } else {
            Err(SecretError::Refused {
                operation: "Encrypt",
                code: "NoKeyConfigured".to_owned(),
                detail: format!(
                    "{KMS_KEY_VARIABLE} is not set, so this deployment has no KMS key to seal secret values (*fields \
                     and *parameters) with, and stores none: set {KMS_KEY_VARIABLE} on the functions to a KMS key's \
                     id, ARN or alias (the SAM template sets the stack's key), or leave the secret values out"
                ),
            })
        };
        Box::pin(std::future::ready(answer))
    }

    fn open<'a>(&'a self, pipeline_id: &'a str, _sealed: &'a str) -> SecretFuture<'a> {
        Box::pin(std::future::ready(Err(SecretError::NoKey(pipeline_id.to_owned()))))
    }
}

/// The KMS key secret values are sealed with (the stack's key).
pub const KMS_KEY_VARIABLE: &str = "SLUICE_KMS_KEY_ID";
/// Where machines get the `sluice` binary (`s3://...`).
pub const RUNNER_BINARY_VARIABLE: &str = "SLUICE_RUNNER_BINARY_URI";
/// The API address machines' runners poll.
pub const API_URL_VARIABLE: &str = "SLUICE_API_URL";
/// The image of an Ec2Resource that names none.
pub const DEFAULT_IMAGE_VARIABLE: &str = "SLUICE_DEFAULT_IMAGE_ID";
/// The instance type of an Ec2Resource that names none.
pub const DEFAULT_INSTANCE_TYPE_VARIABLE: &str = "SLUICE_DEFAULT_INSTANCE_TYPE";
/// Regions besides Sluice's own that resources launch in (`region`), comma-separated: the
/// machine sweep looks there too.
pub const REGIONS_VARIABLE: &str = "SLUICE_REGIONS";

/// The regions of [`REGIONS_VARIABLE`].
pub fn sweep_regions_from_env() -> Vec<String> {
    std::env::var(REGIONS_VARIABLE)
        .unwrap_or_default()
        .split(',')
        .map(|region| region.trim().to_owned())
        .filter(|region| !region.is_empty())
        .collect()
}

/// The machines' boot settings from the environment; unset ones stay unset (a launch that
/// needs one then fails naming the variable).
pub fn boot_from_env() -> Boot {
    let set = |name: &str| std::env::var(name).ok().filter(|value| !value.trim().is_empty());
    let defaults = Boot::default();
    Boot {
        runner_binary_uri: set(RUNNER_BINARY_VARIABLE),
        api_url: set(API_URL_VARIABLE),
        default_image_id: set(DEFAULT_IMAGE_VARIABLE),
        default_instance_type: set(DEFAULT_INSTANCE_TYPE_VARIABLE).unwrap_or(defaults.default_instance_type),
        instance_profiles: defaults.instance_profiles,
    }
}

impl Deps {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let table = std::env::var(TABLE_VARIABLE).map_err(|_| ConfigError::Missing(TABLE_VARIABLE))?;
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Ok(Self {
            store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table),
            probe: AwsProbe::new(&sdk),
            clock: SystemClock,
            random: OsRandom,
            boot: boot_from_env(),
            secrets: KmsSecrets::from_env(&sdk),
            sdk,
        })
    }

    /// The engine over these clients, sealing with the stack's key; without one, storing
    /// no secret at all ([`WithoutKey`]).
    pub fn engine(&self) -> Engine<'_, DynamoStore, AwsProbe> {
        let engine = Engine::new(&self.store, &self.clock, &self.random, &self.probe);
        engine.with_secrets(keeper(self.secrets.as_ref()))
    }
}

/// What a deployed engine seals with: the key when there is one, else [`WithoutKey`].
pub fn keeper(key: Option<&KmsSecrets>) -> &dyn SecretKeeper {
    match key {
        Some(key) => key,
        None => &WithoutKey,
    }
}
