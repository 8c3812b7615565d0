//! The service's errors as the wire shows them: `{"__type": "<Name>", "message": "..."}`,
//! the names botocore's model declares (plus the protocol's own `UnknownOperationException`
//! and `SerializationException`).

use std::fmt;

use crate::engine::EngineError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The `X-Amz-Target` names no operation.
    UnknownOperation,
    /// The body is not JSON, or a member has the wrong JSON type.
    Serialization,
    InvalidRequest,
    PipelineNotFound,
    PipelineDeleted,
    TaskNotFound,
    /// Something on our side failed.
    InternalService,
}

impl ErrorKind {
    /// The `__type` botocore matches on.
    pub fn type_name(self) -> &'static str {
        match self {
            Self::UnknownOperation => "UnknownOperationException",
            Self::Serialization => "SerializationException",
            Self::InvalidRequest => "InvalidRequestException",
            Self::PipelineNotFound => "PipelineNotFoundException",
            Self::PipelineDeleted => "PipelineDeletedException",
            Self::TaskNotFound => "TaskNotFoundException",
            Self::InternalService => "InternalServiceError",
        }
    }

    /// The HTTP status: the service's faults are 500, everything the caller can fix 400.
    pub fn status(self) -> u16 {
        match self {
            Self::InternalService => 500,
            _ => 400,
        }
    }
}

/// An error answer: its kind and a message that says what was wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }

    pub fn serialization(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Serialization, message)
    }

    /// The body botocore parses: `__type` and `message`.
    pub fn body(&self) -> Vec<u8> {
        serde_json::json!({"__type": self.kind.type_name(), "message": self.message})
            .to_string()
            .into_bytes()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.type_name(), self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        let message = error.to_string();
        let kind = match &error {
            EngineError::PipelineNotFound(_) => ErrorKind::PipelineNotFound,
            EngineError::TaskNotFound(_) | EngineError::WrongWorkerGroup { .. } => ErrorKind::TaskNotFound,
            EngineError::ObjectNotFound { .. }
            | EngineError::WrongStatus { .. }
            | EngineError::InvalidRequest(_)
            | EngineError::Compile(_) => ErrorKind::InvalidRequest,
            EngineError::Secret(crate::cloud::secrets::SecretError::TooLarge { .. }) => ErrorKind::InvalidRequest,
            // What a request asked to store is larger than the run table holds.
            EngineError::Store(crate::store::StoreError::TooLarge(_)) => ErrorKind::InvalidRequest,
            EngineError::Store(_) | EngineError::Probe(_) | EngineError::Secret(_) => ErrorKind::InternalService,
        };
        let message = match kind {
            ErrorKind::InternalService if error.is_retryable() => {
                format!("{message} (a temporary failure: retrying the call can help)")
            }
            ErrorKind::InternalService => format!("{message} (retrying will not help: report this to the operator)"),
            _ => message,
        };
        Self { kind, message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    #[test]
    fn engine_errors_map_to_the_service_errors_botocore_knows() {
        let cases = [
            (
                EngineError::PipelineNotFound("df-1".into()),
                "PipelineNotFoundException",
                400,
            ),
            (EngineError::TaskNotFound("t".into()), "TaskNotFoundException", 400),
            (
                EngineError::InvalidRequest("bad".into()),
                "InvalidRequestException",
                400,
            ),
            (
                EngineError::Store(StoreError::Unavailable("throttled".into())),
                "InternalServiceError",
                500,
            ),
        ];
        for (error, name, status) in cases {
            let mapped = ApiError::from(error);
            assert_eq!(mapped.kind.type_name(), name);
            assert_eq!(mapped.kind.status(), status);
        }
    }

    #[test]
    fn a_retryable_store_failure_says_retrying_can_help() {
        let mapped = ApiError::from(EngineError::Store(StoreError::Unavailable("throttled".into())));
        assert!(
            mapped.message.contains("retrying the call can help"),
            "{}",
            mapped.message
        );
    }

    #[test]
    fn the_error_body_has_the_members_botocore_reads() {
        let body: serde_json::Value = serde_json::from_slice(&ApiError::invalid("no").body()).unwrap();
        assert_eq!(body["__type"], "InvalidRequestException");
        assert_eq!(body["message"], "no");
    }
}
