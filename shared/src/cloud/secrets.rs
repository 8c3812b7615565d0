//! Secret values sealed before they are stored (DESIGN.md §3): every field whose key starts
//! with `*` (`*password`), the default and the values of every parameter whose id does
//! (`*myPassword`). The run table is encrypted at rest too; sealing each value with the
//! stack's KMS key besides means a read of the table (a backup, an export, a console)
//! shows no secret, and a sealed value opens only for the pipeline it was sealed for (its
//! id is the KMS encryption context).
//!
//! [`SecretKeeper`] is the port; [`KmsSecrets`] the AWS adapter; [`FakeSecrets`] the
//! engine tests' stand-in. A sealed value reads `sluice:kms:<base64 ciphertext>`.

use std::{future::Future, pin::Pin};

use aws_sdk_kms::{
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
    primitives::Blob,
};
use thiserror::Error;

use crate::definition::{ApiDefinition, ParameterValue, model::is_secret};

/// What a sealed value starts with.
pub const SEALED_PREFIX: &str = "sluice:kms:";

/// The encryption context key binding a sealed value to its pipeline.
const CONTEXT_KEY: &str = "sluice:pipeline";

/// KMS encrypts at most 4 KiB directly; a password, a key or a token is far smaller.
const MAX_SECRET_BYTES: usize = 4096;

#[derive(Debug, Error)]
pub enum SecretError {
    /// Throttling, server trouble or the network: the same request may succeed later.
    #[error("KMS {operation}: {code} ({detail}); retrying later can help")]
    Unavailable {
        operation: &'static str,
        code: String,
        detail: String,
    },
    /// The key, the permissions or the value are wrong: retrying cannot help.
    #[error("KMS {operation}: {code} ({detail})")]
    Refused {
        operation: &'static str,
        code: String,
        detail: String,
    },
    #[error(
        "a secret value of pipeline \"{0}\" is sealed with KMS, and this process has no key to open it: \
         set SLUICE_KMS_KEY_ID (the SAM template sets it to the stack's key)"
    )]
    NoKey(String),
    #[error("a secret value of pipeline \"{pipeline}\" is {bytes} bytes; KMS seals at most {MAX_SECRET_BYTES}")]
    TooLarge { pipeline: String, bytes: usize },
    #[error("a sealed secret value of pipeline \"{0}\" is not in Sluice's form (sluice:kms:<base64>)")]
    Malformed(String),
}

impl SecretError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

/// A boxed answer, so that the engine can hold any keeper behind a reference.
pub type SecretFuture<'a> = Pin<Box<dyn Future<Output = Result<String, SecretError>> + Send + 'a>>;

/// Seals and opens secret values, each bound to the pipeline it belongs to.
pub trait SecretKeeper: Send + Sync {
    /// `plaintext` sealed: a value that starts with [`SEALED_PREFIX`].
    fn seal<'a>(&'a self, pipeline_id: &'a str, plaintext: &'a str) -> SecretFuture<'a>;
    /// A value [`seal`](Self::seal) made for the same pipeline, opened.
    fn open<'a>(&'a self, pipeline_id: &'a str, sealed: &'a str) -> SecretFuture<'a>;
}

/// Whether `value` was sealed (an older record, or one written without a key, holds plain values).
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(SEALED_PREFIX)
}

/// Every secret value in a definition, to read or replace: what `masked`, `seal` and
/// `open` all walk, so that they cannot disagree on what is secret.
pub fn secret_values(definition: &mut ApiDefinition) -> Vec<&mut String> {
    let mut values = Vec::new();
    for object in &mut definition.pipeline_objects {
        for field in &mut object.fields {
            if is_secret(&field.key)
                && let Some(value) = field.string_value.as_mut()
            {
                values.push(value);
            }
        }
    }
    for parameter in &mut definition.parameter_objects {
        if is_secret(&parameter.id) {
            for attribute in &mut parameter.attributes {
                if attribute.key == "default" {
                    values.push(&mut attribute.string_value);
                }
            }
        }
    }
    for value in &mut definition.parameter_values {
        if is_secret(&value.id) {
            values.push(&mut value.string_value);
        }
    }
    values
}

/// The secret values among an activation's parameter values.
pub fn secret_parameter_values(values: &mut [ParameterValue]) -> Vec<&mut String> {
    values
        .iter_mut()
        .filter(|value| is_secret(&value.id))
        .map(|value| &mut value.value)
        .collect()
}

/// Seals each of `values` that is not sealed yet.
pub async fn seal_all(
    keeper: &dyn SecretKeeper,
    pipeline_id: &str,
    values: Vec<&mut String>,
) -> Result<(), SecretError> {
    for value in values {
        if !is_sealed(value) {
            *value = keeper.seal(pipeline_id, value).await?;
        }
    }
    Ok(())
}

/// Opens each of `values` that is sealed; with no keeper, a sealed value is an error
/// naming the setting, never a secret passed on still sealed.
pub async fn open_all(
    keeper: Option<&dyn SecretKeeper>,
    pipeline_id: &str,
    values: Vec<&mut String>,
) -> Result<(), SecretError> {
    for value in values {
        if is_sealed(value) {
            let keeper = keeper.ok_or_else(|| SecretError::NoKey(pipeline_id.to_owned()))?;
            *value = keeper.open(pipeline_id, value).await?;
        }
    }
    Ok(())
}

/// Seals with a KMS key (`Encrypt`) and opens with whatever key sealed (`Decrypt`: the
/// ciphertext names its key).
#[derive(Debug, Clone)]
pub struct KmsSecrets {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl KmsSecrets {
    pub fn new(config: &aws_config::SdkConfig, key_id: impl Into<String>) -> Self {
        Self {
            client: aws_sdk_kms::Client::new(config),
            key_id: key_id.into(),
        }
    }

    /// The keeper for `SLUICE_KMS_KEY_ID`, when it is set.
    pub fn from_env(config: &aws_config::SdkConfig) -> Option<Self> {
        std::env::var(crate::config::KMS_KEY_VARIABLE)
            .ok()
            .filter(|key| !key.trim().is_empty())
            .map(|key| Self::new(config, key.trim()))
    }

    /// The key named by `alias` (`alias/...`), created with its alias when missing: what
    /// `sluice dev` seals with on an emulator, where no stack made one.
    pub async fn ensure_alias(config: &aws_config::SdkConfig, alias: &str) -> Result<Self, SecretError> {
        let client = aws_sdk_kms::Client::new(config);
        match client.describe_key().key_id(alias).send().await {
            Ok(_) => {
                return Ok(Self {
                    client,
                    key_id: alias.to_owned(),
                });
            }
            Err(error) if error.code() == Some("NotFoundException") => {}
            Err(error) => return Err(kms_error("DescribeKey", &error)),
        }
        let created = client
            .create_key()
            .description("Sluice: seals secret field values (sluice dev)")
            .send()
            .await
            .map_err(|error| kms_error("CreateKey", &error))?;
        let key_id = created
            .key_metadata()
            .map(|metadata| metadata.key_id().to_owned())
            .ok_or_else(|| answered_without("CreateKey", "the key's metadata"))?;
        client
            .create_alias()
            .alias_name(alias)
            .target_key_id(&key_id)
            .send()
            .await
            .map_err(|error| kms_error("CreateAlias", &error))?;
        Ok(Self {
            client,
            key_id: alias.to_owned(),
        })
    }

    /// The key values are sealed with, as configured (an ARN, an id or an alias).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    async fn encrypt(&self, pipeline_id: &str, plaintext: &str) -> Result<String, SecretError> {
        if plaintext.len() > MAX_SECRET_BYTES {
            return Err(SecretError::TooLarge {
                pipeline: pipeline_id.to_owned(),
                bytes: plaintext.len(),
            });
        }
        let sealed = self
            .client
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(plaintext.as_bytes()))
            .encryption_context(CONTEXT_KEY, pipeline_id)
            .send()
            .await
            .map_err(|error| kms_error("Encrypt", &error))?;
        let blob = sealed
            .ciphertext_blob()
            .ok_or_else(|| answered_without("Encrypt", "a ciphertext"))?;
        Ok(format!(
            "{SEALED_PREFIX}{}",
            aws_smithy_types::base64::encode(blob.as_ref())
        ))
    }

    async fn decrypt(&self, pipeline_id: &str, sealed: &str) -> Result<String, SecretError> {
        let ciphertext = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|encoded| aws_smithy_types::base64::decode(encoded).ok())
            .ok_or_else(|| SecretError::Malformed(pipeline_id.to_owned()))?;
        let opened = self
            .client
            .decrypt()
            .ciphertext_blob(Blob::new(ciphertext))
            .encryption_context(CONTEXT_KEY, pipeline_id)
            .send()
            .await
            .map_err(|error| kms_error("Decrypt", &error))?;
        let plaintext = opened
            .plaintext()
            .ok_or_else(|| answered_without("Decrypt", "a plaintext"))?;
        String::from_utf8(plaintext.as_ref().to_vec()).map_err(|_| SecretError::Malformed(pipeline_id.to_owned()))
    }
}

impl SecretKeeper for KmsSecrets {
    fn seal<'a>(&'a self, pipeline_id: &'a str, plaintext: &'a str) -> SecretFuture<'a> {
        Box::pin(self.encrypt(pipeline_id, plaintext))
    }

    fn open<'a>(&'a self, pipeline_id: &'a str, sealed: &'a str) -> SecretFuture<'a> {
        Box::pin(self.decrypt(pipeline_id, sealed))
    }
}

/// An answer that lacks what the operation always returns.
fn answered_without(operation: &'static str, what: &str) -> SecretError {
    SecretError::Refused {
        operation,
        code: "InvalidResponse".to_owned(),
        detail: format!("KMS answered without {what}"),
    }
}

/// KMS's codes that retrying later can fix.
const RETRYABLE: &[&str] = &[
    "ThrottlingException",
    "KMSInternalException",
    "DependencyTimeoutException",
    "KeyUnavailableException",
    "InternalFailure",
    "ServiceUnavailable",
];

fn kms_error<E>(operation: &'static str, error: &SdkError<E, aws_sdk_kms::config::http::HttpResponse>) -> SecretError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    // The message of a KMS error never holds the plaintext: it is not echoed back.
    let detail = DisplayErrorContext(error).to_string();
    match error {
        SdkError::ServiceError(_) => {
            let code = error.code().unwrap_or("UnknownError").to_owned();
            let detail = error.message().map_or(detail, str::to_owned);
            if RETRYABLE.contains(&code.as_str()) {
                SecretError::Unavailable {
                    operation,
                    code,
                    detail,
                }
            } else {
                SecretError::Refused {
                    operation,
                    code,
                    detail,
                }
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            SecretError::Unavailable {
                operation,
                code: "NetworkError".to_owned(),
                detail,
            }
        }
        _ => SecretError::Refused {
            operation,
            code: "Misconfigured".to_owned(),
            detail,
        },
    }
}

/// The engine tests' keeper: "seals" by reversing and tagging with the pipeline, so a
/// stored value shows neither the secret nor opens for another pipeline.
#[derive(Debug, Default)]
pub struct FakeSecrets;

impl SecretKeeper for FakeSecrets {
    fn seal<'a>(&'a self, pipeline_id: &'a str, plaintext: &'a str) -> SecretFuture<'a> {
        let reversed: String = plaintext.chars().rev().collect();
        Box::pin(std::future::ready(Ok(format!(
            "{SEALED_PREFIX}{}",
            aws_smithy_types::base64::encode(format!("{pipeline_id}\n{reversed}"))
        ))))
    }

    fn open<'a>(&'a self, pipeline_id: &'a str, sealed: &'a str) -> SecretFuture<'a> {
        let opened = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|encoded| aws_smithy_types::base64::decode(encoded).ok())
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| {
                let (pipeline, reversed) = text.split_once('\n')?;
                (pipeline == pipeline_id).then(|| reversed.chars().rev().collect())
            })
            .ok_or_else(|| SecretError::Refused {
                operation: "Decrypt",
                code: "InvalidCiphertextException".to_owned(),
                detail: format!("not sealed for pipeline \"{pipeline_id}\""),
            });
        Box::pin(std::future::ready(opened))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::shape::{
        ApiField, ApiParameterAttribute, ApiParameterObject, ApiParameterValue, ApiPipelineObject,
    };

    fn definition() -> ApiDefinition {
        ApiDefinition {
            pipeline_objects: vec![ApiPipelineObject {
                id: "Db".to_owned(),
                name: "Db".to_owned(),
                fields: vec![
                    ApiField {
                        key: "username".to_owned(),
                        string_value: Some("etl".to_owned()),
                        ref_value: None,
                    },
                    ApiField {
                        key: "*password".to_owned(),
                        string_value: Some("hunter2".to_owned()),
                        ref_value: None,
                    },
                ],
            }],
            parameter_objects: vec![ApiParameterObject {
                id: "*myToken".to_owned(),
                attributes: vec![
                    ApiParameterAttribute {
                        key: "type".to_owned(),
                        string_value: "String".to_owned(),
                    },
                    ApiParameterAttribute {
                        key: "default".to_owned(),
                        string_value: "t0ken".to_owned(),
                    },
                ],
            }],
            parameter_values: vec![
                ApiParameterValue {
                    id: "*myToken".to_owned(),
                    string_value: "v4lue".to_owned(),
                },
                ApiParameterValue {
                    id: "myBucket".to_owned(),
                    string_value: "plain".to_owned(),
                },
            ],
        }
    }

    #[tokio::test]
    async fn every_secret_value_is_sealed_and_opens_again_and_nothing_else_changes() {
        let original = definition();
        let mut stored = original.clone();
        seal_all(&FakeSecrets, "df-1", secret_values(&mut stored))
            .await
            .unwrap();
        let text = serde_json::to_string(&stored).unwrap();
        for secret in ["hunter2", "t0ken", "v4lue", "2retnuh"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(text.contains("\"etl\"") && text.contains("\"plain\"") && text.contains("String"));
        assert_eq!(
            secret_values(&mut stored)
                .iter()
                .filter(|value| is_sealed(value))
                .count(),
            3,
            "the field, the parameter's default, the value of the secret parameter"
        );
        // Sealing twice changes nothing more.
        let again = stored.clone();
        seal_all(&FakeSecrets, "df-1", secret_values(&mut stored))
            .await
            .unwrap();
        assert_eq!(stored, again);
        open_all(Some(&FakeSecrets), "df-1", secret_values(&mut stored))
            .await
            .unwrap();
        assert_eq!(stored, original);
    }

    #[tokio::test]
    async fn a_sealed_value_without_a_keeper_or_for_another_pipeline_is_an_error() {
        let mut stored = definition();
        seal_all(&FakeSecrets, "df-1", secret_values(&mut stored))
            .await
            .unwrap();
        let error = open_all(None, "df-1", secret_values(&mut stored.clone()))
            .await
            .unwrap_err();
        assert!(error.to_string().contains("SLUICE_KMS_KEY_ID"), "{error}");
        let error = open_all(Some(&FakeSecrets), "df-2", secret_values(&mut stored))
            .await
            .unwrap_err();
        assert!(!error.is_retryable());
        // Plain values (records written before sealing) pass through unchanged.
        let mut plain = definition();
        open_all(None, "df-1", secret_values(&mut plain)).await.unwrap();
        assert_eq!(plain, definition());
    }
}
