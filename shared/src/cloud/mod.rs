//! The cloud as the engine sees it: ports for what Sluice asks of AWS, their AWS adapters
//! and the simulation's in-memory stand-ins.
//!
//! - [`probe`]: system-managed preconditions (`S3KeyExists`, `S3PrefixNotEmpty`,
//!   `DynamoDBTableExists`, `DynamoDBDataExists`), the [`Probe`] port and [`FakeProbe`].
//! - [`s3`], [`dynamodb`]: the AWS adapters, combined here into [`AwsProbe`].
//!
//! AWS SDK calls live only in the adapters; this module also turns the SDK's errors into
//! [`ProbeError`]s, keeping AWS's error codes because they decide what is retried.

pub mod compute;
pub mod dynamodb;
pub mod notify;
pub mod probe;
pub mod s3;
pub mod secrets;
pub mod sns;

use aws_config::SdkConfig;
use aws_sdk_s3::{
    config::http::HttpResponse,
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
};

pub use self::{
    dynamodb::DynamoDbProbe,
    probe::{Check, FakeProbe, Probe, ProbeError, S3Uri, S3UriError, TableRef, TableStatus, Target, Verdict},
    s3::S3Probe,
};

/// Answers system-managed preconditions with S3 and DynamoDB.
#[derive(Debug)]
pub struct AwsProbe {
    s3: S3Probe,
    dynamodb: DynamoDbProbe,
}

impl AwsProbe {
    /// Clients from one SDK configuration. With an endpoint override (moto, LocalStack),
    /// S3 uses path-style addressing; DynamoDB checks that name a region get a client for
    /// that region, built from the same configuration.
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            s3: S3Probe::new(config),
            dynamodb: DynamoDbProbe::new(config),
        }
    }
}

impl Probe for AwsProbe {
    async fn check(&self, check: &Check) -> Result<Verdict, ProbeError> {
        match check.target()? {
            Target::S3Key(location) => self.s3.key_exists(check, &location).await,
            Target::S3Prefix(location) => self.s3.prefix_not_empty(check, &location).await,
            Target::TableExists(table) => self.dynamodb.table_exists(check, &table).await,
            Target::DataExists(table) => self.dynamodb.data_exists(check, &table).await,
        }
    }
}

/// Which service answered: the advice for a refusal depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    S3,
    DynamoDb,
}

/// Turns an SDK error into a [`ProbeError`] for `check`.
pub(crate) fn sdk_error<E>(check: &Check, service: Service, error: &SdkError<E, HttpResponse>) -> ProbeError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let detail = || DisplayErrorContext(error).to_string();
    match error {
        SdkError::ConstructionFailure(_) => ProbeError::Misconfigured {
            check: check.to_string(),
            problem: detail(),
        },
        SdkError::DispatchFailure(dispatch) if dispatch.is_user() => ProbeError::Misconfigured {
            check: check.to_string(),
            problem: detail(),
        },
        SdkError::TimeoutError(_) => unreachable_service(check, service, "Timeout", detail()),
        SdkError::DispatchFailure(dispatch) if dispatch.is_timeout() => {
            unreachable_service(check, service, "Timeout", detail())
        }
        SdkError::DispatchFailure(_) => unreachable_service(check, service, "NetworkError", detail()),
        SdkError::ResponseError(response) => ProbeError::Unavailable {
            check: check.to_string(),
            code: "InvalidResponse".to_owned(),
            explanation: format!(
                "{} answered with HTTP {} and a response that could not be read: {}",
                service.name(),
                response.raw().status().as_u16(),
                detail()
            ),
        },
        SdkError::ServiceError(service_error) => classify(
            check,
            service,
            &Reply {
                code: error.code(),
                message: error.message(),
                status: Some(service_error.raw().status().as_u16()),
                bucket_region: bucket_region(error),
            },
        ),
        _ => unreachable_service(check, service, "UnknownError", detail()),
    }
}

fn unreachable_service(check: &Check, service: Service, code: &str, detail: String) -> ProbeError {
    ProbeError::Unavailable {
        check: check.to_string(),
        code: code.to_owned(),
        explanation: format!("could not reach {}: {detail}", service.name()),
    }
}

/// The region S3 says a bucket lives in, when it refused a request for being sent to the
/// wrong region (a redirect, or a 400 with the region header).
pub(crate) fn bucket_region<E>(error: &SdkError<E, HttpResponse>) -> Option<&str> {
    let raw = error.raw_response()?;
    if !matches!(raw.status().as_u16(), 301 | 307 | 400) {
        return None;
    }
    raw.headers()
        .get("x-amz-bucket-region")
        .filter(|region| !region.is_empty())
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Self::S3 => "S3",
            Self::DynamoDb => "DynamoDB",
        }
    }
}

/// What AWS answered, as far as classifying the failure needs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reply<'a> {
    pub code: Option<&'a str>,
    pub message: Option<&'a str>,
    pub status: Option<u16>,
    pub bucket_region: Option<&'a str>,
}

/// Codes that retrying later can fix: throttling, server trouble, expired credentials
/// (fresh ones are fetched on the next attempt).
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "BandwidthLimitExceeded",
    "SlowDown",
    "PriorRequestNotComplete",
    "TransactionInProgressException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
    "InvalidEndpointException",
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
];

const ACCESS_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "AllAccessDisabled",
    "Forbidden",
];

const CREDENTIAL_CODES: &[&str] = &[
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "InvalidToken",
];

/// Decides retryable or not, and explains, from AWS's code (or, for S3's body-less HEAD
/// answers, the HTTP status).
pub(crate) fn classify(check: &Check, service: Service, reply: &Reply<'_>) -> ProbeError {
    let code = match (reply.code, reply.status) {
        (Some(code), _) if !code.is_empty() => code.to_owned(),
        (_, Some(status)) => code_of_status(status),
        (_, None) => "UnknownError".to_owned(),
    };
    let server_side = reply.status.is_some_and(|status| status == 429 || status >= 500);
    let retryable = RETRYABLE_CODES.contains(&code.as_str()) || server_side;
    let explanation = explain(check, service, &code, reply, retryable);
    if retryable {
        ProbeError::Unavailable {
            check: check.to_string(),
            code,
            explanation,
        }
    } else {
        ProbeError::Refused {
            check: check.to_string(),
            code,
            explanation,
        }
    }
}

/// S3 answers HEAD requests without a body, so without a code: name the status as S3 would.
fn code_of_status(status: u16) -> String {
    match status {
        301 => "PermanentRedirect".to_owned(),
        307 => "TemporaryRedirect".to_owned(),
        400 => "BadRequest".to_owned(),
        403 => "AccessDenied".to_owned(),
        404 => "NotFound".to_owned(),
        429 => "TooManyRequests".to_owned(),
        500 => "InternalError".to_owned(),
        503 => "ServiceUnavailable".to_owned(),
        other => format!("HTTP{other}"),
    }
}

fn explain(check: &Check, service: Service, code: &str, reply: &Reply<'_>, retryable: bool) -> String {
    let message = reply.message.filter(|message| !message.is_empty());
    if ACCESS_CODES.contains(&code) {
        return match (service, check) {
            (Service::S3, Check::S3KeyExists { .. }) => "the role cannot read the bucket; Data Pipeline users often \
                 saw this as a precondition that never became true; grant s3:GetObject and s3:ListBucket \
                 (without s3:ListBucket, S3 answers a missing key with AccessDenied)"
                .to_owned(),
            (Service::S3, _) => "the role cannot read the bucket; Data Pipeline users often saw this as a \
                 precondition that never became true; grant s3:ListBucket"
                .to_owned(),
            (Service::DynamoDb, _) => "the role cannot read the table; Data Pipeline users often saw this as a \
                 precondition that never became true; grant dynamodb:DescribeTable (and dynamodb:Scan for \
                 DynamoDBDataExists)"
                .to_owned(),
        };
    }
    if CREDENTIAL_CODES.contains(&code) {
        return "AWS did not accept Sluice's credentials; check the credentials and the machine's clock".to_owned();
    }
    if let Some(region) = reply.bucket_region {
        return format!("S3 says the bucket is in region {region}, and the request could not be answered there");
    }
    if matches!(
        code,
        "PermanentRedirect" | "TemporaryRedirect" | "AuthorizationHeaderMalformed"
    ) {
        return "the bucket is in another region than the one Sluice asked".to_owned();
    }
    if retryable {
        return match message {
            Some(message) => format!("{} is throttling or failing for now: {message}", service.name()),
            None => format!("{} is throttling or failing for now", service.name()),
        };
    }
    match message {
        Some(message) => format!("{} refused the request: {message}", service.name()),
        None => format!("{} refused the request without a message", service.name()),
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::{
        error::{ConnectorError, ErrorMetadata},
        operation::head_object::HeadObjectError,
        primitives::SdkBody,
    };

    use super::*;

    fn key_check() -> Check {
        Check::S3KeyExists {
            s3_key: "s3://b1k/k".to_owned(),
        }
    }

    fn table_check() -> Check {
        Check::DynamoDBTableExists {
            table: "orders".to_owned(),
            region: None,
        }
    }

    fn reply(code: Option<&'static str>, status: u16) -> Reply<'static> {
        Reply {
            code,
            message: None,
            status: Some(status),
            bucket_region: None,
        }
    }

    fn response(status: u16) -> HttpResponse {
        HttpResponse::new(
            status.try_into().unwrap_or_else(|error| panic!("{error:?}")),
            SdkBody::empty(),
        )
    }

    #[test]
    fn a_head_403_is_access_denied_and_not_retryable() {
        // Given S3's body-less 403 to a HeadObject
        // When it is classified
        let error = classify(&key_check(), Service::S3, &reply(None, 403));
        // Then it reads as the brief's AccessDenied sentence and is final
        assert!(!error.is_retryable());
        assert_eq!(error.code(), Some("AccessDenied"));
        assert!(
            error.to_string().starts_with(
                "S3KeyExists s3://b1k/k: AccessDenied (the role cannot read the bucket; Data Pipeline users \
                 often saw this as a precondition that never became true"
            ),
            "{error}"
        );
    }

    #[test]
    fn throttling_and_server_errors_are_retryable() {
        for (code, status) in [
            (Some("ThrottlingException"), 400),
            (Some("ProvisionedThroughputExceededException"), 400),
            (Some("SlowDown"), 503),
            (None, 500),
            (None, 503),
            (None, 429),
            (Some("SomethingNew"), 502),
            (Some("ExpiredToken"), 400),
        ] {
            let error = classify(&table_check(), Service::DynamoDb, &reply(code, status));
            assert!(error.is_retryable(), "{code:?} {status}: {error}");
            assert!(error.to_string().ends_with("retrying later can help"), "{error}");
        }
    }

    #[test]
    fn refusals_are_not_retryable_and_keep_the_code() {
        for (code, status, expected) in [
            (Some("AccessDeniedException"), 400, "grant dynamodb:DescribeTable"),
            (Some("UnrecognizedClientException"), 400, "credentials"),
            (Some("ValidationException"), 400, "DynamoDB refused the request"),
            (None, 301, "another region"),
        ] {
            let error = classify(&table_check(), Service::DynamoDb, &reply(code, status));
            assert!(!error.is_retryable(), "{code:?} {status}: {error}");
            assert!(error.to_string().contains(expected), "{error}");
        }
    }

    #[test]
    fn an_aws_message_is_kept_when_there_is_no_better_explanation() {
        let error = classify(
            &table_check(),
            Service::DynamoDb,
            &Reply {
                code: Some("ValidationException"),
                message: Some("1 validation error detected"),
                status: Some(400),
                bucket_region: None,
            },
        );
        assert_eq!(
            error.to_string(),
            "DynamoDBTableExists orders: ValidationException (DynamoDB refused the request: 1 validation error \
             detected)"
        );
    }

    #[test]
    fn a_service_error_keeps_its_code_through_the_sdk_type() {
        // Given an SDK service error with a code, as a HeadObject would return it
        let error = SdkError::service_error(
            HeadObjectError::generic(ErrorMetadata::builder().code("SlowDown").message("Reduce").build()),
            response(503),
        );
        // When it becomes a probe error
        let probe_error = sdk_error(&key_check(), Service::S3, &error);
        // Then the code survives and it is retryable
        assert_eq!(probe_error.code(), Some("SlowDown"));
        assert!(probe_error.is_retryable());
    }

    #[test]
    fn network_trouble_is_retryable() {
        let error: SdkError<HeadObjectError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::io("connection refused".into()));
        let probe_error = sdk_error(&key_check(), Service::S3, &error);
        assert!(probe_error.is_retryable());
        assert_eq!(probe_error.code(), Some("NetworkError"));
        assert!(probe_error.to_string().contains("could not reach S3"), "{probe_error}");
    }

    #[test]
    fn a_timeout_is_retryable() {
        let error: SdkError<HeadObjectError, HttpResponse> = SdkError::timeout_error("operation timed out");
        let probe_error = sdk_error(&key_check(), Service::S3, &error);
        assert!(probe_error.is_retryable());
        assert_eq!(probe_error.code(), Some("Timeout"));
    }

    #[test]
    fn a_request_that_cannot_be_built_is_a_configuration_problem() {
        let error: SdkError<HeadObjectError, HttpResponse> = SdkError::construction_failure("no region configured");
        let probe_error = sdk_error(&key_check(), Service::S3, &error);
        assert!(!probe_error.is_retryable());
        assert!(
            probe_error.to_string().contains("check Sluice's AWS configuration"),
            "{probe_error}"
        );
    }

    #[test]
    fn a_wrong_region_answer_names_the_bucket_region() {
        // Given S3's redirect for a bucket in another region
        let mut raw = response(301);
        raw.headers_mut().insert("x-amz-bucket-region", "eu-west-1");
        let error = SdkError::service_error(HeadObjectError::generic(ErrorMetadata::builder().build()), raw);
        // Then the region is read from the header
        assert_eq!(bucket_region(&error), Some("eu-west-1"));
        let probe_error = sdk_error(&key_check(), Service::S3, &error);
        assert!(!probe_error.is_retryable());
        assert!(probe_error.to_string().contains("region eu-west-1"), "{probe_error}");
    }

    #[test]
    fn a_region_header_on_a_success_or_not_found_is_not_a_redirect() {
        let mut raw = response(404);
        raw.headers_mut().insert("x-amz-bucket-region", "eu-west-1");
        let error = SdkError::service_error(HeadObjectError::generic(ErrorMetadata::builder().build()), raw);
        assert_eq!(bucket_region(&error), None);
    }
}
