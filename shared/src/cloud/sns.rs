//! The SNS adapter: the topic `sluice dev` makes for alarms, and publishing an
//! `SnsAlarm`'s subject and message.

use aws_config::SdkConfig;
use aws_sdk_sns::{
    Client,
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
};

use super::notify::{Notifier, NotifyError};

/// SNS's own limit on a subject (and it must be one line of printable ASCII).
pub const MAX_SUBJECT: usize = 100;

/// Codes of SNS refusals that are worth asking again.
const RETRYABLE: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "KMSThrottling",
];

fn classify<E>(
    operation: &'static str,
    target: &str,
    error: &SdkError<E, aws_sdk_sns::config::http::HttpResponse>,
) -> NotifyError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let detail = DisplayErrorContext(error).to_string();
    let status = error.raw_response().map(|raw| raw.status().as_u16());
    let code = error.code().map(str::to_owned);
    let server_side = status.is_some_and(|status| status == 429 || status >= 500);
    let transport = matches!(error, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_));
    let code_text = code.clone().unwrap_or_else(|| match status {
        Some(status) => format!("HTTP{status}"),
        None => "NetworkError".to_owned(),
    });
    let retryable = server_side || transport || code.as_deref().is_some_and(|code| RETRYABLE.contains(&code));
    let target = target.to_owned();
    if retryable {
        NotifyError::Unavailable {
            operation,
            target,
            code: code_text,
            detail,
        }
    } else {
        NotifyError::Refused {
            operation,
            target,
            code: code_text,
            detail,
        }
    }
}

/// A subject SNS accepts: one line, printable ASCII, at most 100 characters. Anything
/// else is replaced or cut rather than letting the alarm be refused.
pub fn sns_subject(subject: &str) -> String {
    let cleaned: String = subject
        .chars()
        .map(|character| {
            if character.is_ascii_graphic() || character == ' ' {
                character
            } else {
                ' '
            }
        })
        .collect();
    let trimmed = cleaned.trim();
    match trimmed.char_indices().nth(MAX_SUBJECT) {
        Some((cut, _)) => trimmed[..cut].to_owned(),
        None => trimmed.to_owned(),
    }
}

#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: Client,
}

impl SnsNotifier {
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            client: Client::new(config),
        }
    }

    /// The ARN of topic `name`, creating it if missing (CreateTopic is idempotent).
    pub async fn ensure_topic(&self, name: &str) -> Result<String, NotifyError> {
        let created = self
            .client
            .create_topic()
            .name(name)
            .send()
            .await
            .map_err(|error| classify("CreateTopic", name, &error))?;
        created.topic_arn.ok_or_else(|| NotifyError::Refused {
            operation: "CreateTopic",
            target: name.to_owned(),
            code: "NoTopicArn".to_owned(),
            detail: "SNS answered without the topic's ARN".to_owned(),
        })
    }
}

impl Notifier for SnsNotifier {
    /// Publishes one message; answers SNS's message id.
    async fn publish(&self, topic_arn: &str, subject: &str, message: &str) -> Result<String, NotifyError> {
        let subject = sns_subject(subject);
        let published = self
            .client
            .publish()
            .topic_arn(topic_arn)
            .set_subject((!subject.is_empty()).then_some(subject))
            .message(message)
            .send()
            .await
            .map_err(|error| classify("Publish", topic_arn, &error))?;
        Ok(published.message_id.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_become_one_printable_line_of_at_most_100_characters() {
        assert_eq!(sns_subject("Failed: Copy\nat 2026-01-01"), "Failed: Copy at 2026-01-01");
        assert_eq!(sns_subject("  tabs\tand é  "), "tabs and");
        assert_eq!(sns_subject(&"x".repeat(150)).len(), MAX_SUBJECT);
        assert_eq!(sns_subject(""), "");
    }
}
