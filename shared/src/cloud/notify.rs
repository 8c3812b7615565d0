//! The notify port: where SnsAlarm actions publish. [`SnsNotifier`](super::sns::SnsNotifier)
//! is the AWS adapter; [`FakeNotifier`] keeps messages in memory for the engine's tests.

use std::{future::Future, sync::Mutex};

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum NotifyError {
    /// Throttling, server trouble or the network: the same request may succeed later.
    #[error("SNS {operation} {target}: {code} ({detail}); retrying later can help")]
    Unavailable {
        operation: &'static str,
        target: String,
        code: String,
        detail: String,
    },
    /// The topic, the request or the permissions are wrong: retrying cannot help.
    #[error("SNS {operation} {target}: {code} ({detail})")]
    Refused {
        operation: &'static str,
        target: String,
        code: String,
        detail: String,
    },
}

impl NotifyError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

/// Publishes alarm messages.
pub trait Notifier: Send + Sync {
    /// Publishes `message` with `subject` to the topic; answers the message id.
    fn publish(
        &self,
        topic_arn: &str,
        subject: &str,
        message: &str,
    ) -> impl Future<Output = Result<String, NotifyError>> + Send;
}

/// A message a [`FakeNotifier`] received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub topic_arn: String,
    pub subject: String,
    pub message: String,
}

/// Keeps what is published; a topic can be made to refuse (`NotFound`) or to fail for now
/// (`Throttling`).
#[derive(Debug, Default)]
pub struct FakeNotifier {
    published: Mutex<Vec<Published>>,
    refused: Mutex<Vec<String>>,
    unavailable: Mutex<Vec<String>>,
}

impl FakeNotifier {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn published(&self) -> Vec<Published> {
        self.published
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Publishing to `topic_arn` is refused from now on.
    pub fn refuse(&self, topic_arn: &str) {
        self.refused
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(topic_arn.to_owned());
    }

    /// Publishing to `topic_arn` fails retryably until [`FakeNotifier::heal`].
    pub fn make_unavailable(&self, topic_arn: &str) {
        self.unavailable
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(topic_arn.to_owned());
    }

    pub fn heal(&self) {
        self.unavailable
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
    }
}

impl Notifier for FakeNotifier {
    async fn publish(&self, topic_arn: &str, subject: &str, message: &str) -> Result<String, NotifyError> {
        let listed = |list: &Mutex<Vec<String>>| {
            list.lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .iter()
                .any(|topic| topic == topic_arn)
        };
        if listed(&self.refused) {
            return Err(NotifyError::Refused {
                operation: "Publish",
                target: topic_arn.to_owned(),
                code: "NotFound".to_owned(),
                detail: "Topic does not exist".to_owned(),
            });
        }
        if listed(&self.unavailable) {
            return Err(NotifyError::Unavailable {
                operation: "Publish",
                target: topic_arn.to_owned(),
                code: "Throttling".to_owned(),
                detail: "Rate exceeded".to_owned(),
            });
        }
        let mut published = self.published.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        published.push(Published {
            topic_arn: topic_arn.to_owned(),
            subject: subject.to_owned(),
            message: message.to_owned(),
        });
        Ok(format!("fake-{}", published.len()))
    }
}
