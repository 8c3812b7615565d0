//! What can go wrong in an engine call, split into what retrying can fix and what it
//! cannot. Bad input gets a typed error that says what was wrong; nothing is changed.

use thiserror::Error;

use super::{compiled::CompileError, status::Status};
use crate::{
    cloud::{probe::ProbeError, secrets::SecretError},
    store::StoreError,
};

#[derive(Debug, Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("pipeline \"{0}\" does not exist")]
    PipelineNotFound(String),
    #[error("task \"{0}\" does not exist, or has ended long ago")]
    TaskNotFound(String),
    #[error("task \"{task_id}\" belongs to worker group \"{owner}\", not \"{given}\"")]
    WrongWorkerGroup {
        task_id: String,
        owner: String,
        given: String,
    },
    #[error("object \"{object}\" of pipeline \"{pipeline}\" does not exist")]
    ObjectNotFound { pipeline: String, object: String },
    #[error("\"{object}\" is {status}, so it cannot be {action}")]
    WrongStatus {
        object: String,
        status: Status,
        action: &'static str,
    },
    #[error("{0}")]
    InvalidRequest(String),
    #[error("the active definition cannot run: {0}")]
    Compile(#[from] CompileError),
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error(transparent)]
    Secret(#[from] SecretError),
}

impl EngineError {
    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Store(error) => error.is_retryable(),
            Self::Probe(error) => error.is_retryable(),
            Self::Secret(error) => error.is_retryable(),
            _ => false,
        }
    }
}
