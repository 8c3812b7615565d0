//! AWS JSON 1.1: `POST /` with `X-Amz-Target: DataPipeline.<Operation>` (or the developer
//! guide's `DataPipeline_20121129.<Operation>`) and a JSON body; the answer is JSON with
//! content type `application/x-amz-json-1.1`, or an error `{"__type", "message"}`.
//! Nothing a caller sends can make this panic.

use serde::Serialize;
use serde_json::Value;

use super::{
    error::{ApiError, ErrorKind},
    operations::{Api, to_json},
    types::{Members, Request},
};
use crate::{cloud::probe::Probe, store::RunStore};

pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The target prefixes accepted: the model's, and the developer guide's.
const PREFIXES: [&str; 2] = ["DataPipeline.", "DataPipeline_20121129."];

/// The 19 operations, by their wire names.
pub const OPERATIONS: [&str; 19] = [
    "ActivatePipeline",
    "AddTags",
    "CreatePipeline",
    "DeactivatePipeline",
    "DeletePipeline",
    "DescribeObjects",
    "DescribePipelines",
    "EvaluateExpression",
    "GetPipelineDefinition",
    "ListPipelines",
    "PollForTask",
    "PutPipelineDefinition",
    "QueryObjects",
    "RemoveTags",
    "ReportTaskProgress",
    "ReportTaskRunnerHeartbeat",
    "SetStatus",
    "SetTaskStatus",
    "ValidatePipelineDefinition",
];

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn content_type(&self) -> &'static str {
        CONTENT_TYPE
    }

    fn error(error: &ApiError) -> Self {
        Self {
            status: error.kind.status(),
            body: error.body(),
        }
    }
}

/// The operation a target names, if any.
pub fn operation(target: Option<&str>) -> Result<&'static str, ApiError> {
    let target = target.ok_or_else(|| {
        ApiError::new(
            ErrorKind::UnknownOperation,
            "the X-Amz-Target header is missing: send DataPipeline.<Operation>",
        )
    })?;
    PREFIXES
        .iter()
        .find_map(|prefix| target.strip_prefix(prefix))
        .and_then(|name| OPERATIONS.iter().copied().find(|known| *known == name))
        .ok_or_else(|| {
            ApiError::new(
                ErrorKind::UnknownOperation,
                format!(
                    "X-Amz-Target \"{}\" names no operation: send DataPipeline.<Operation>, such as \
                     DataPipeline.ListPipelines",
                    target.chars().take(200).collect::<String>()
                ),
            )
        })
}

/// Reads, runs and answers one request.
pub async fn handle<S: RunStore, P: Probe>(api: &Api<'_, S, P>, target: Option<&str>, body: &[u8]) -> Response {
    match dispatch(api, target, body).await {
        Ok(value) => Response {
            status: 200,
            body: value.to_string().into_bytes(),
        },
        Err(error) => Response::error(&error),
    }
}

/// The largest request body the API reads: a Lambda function's synchronous payload limit,
/// so `sluice dev` refuses what the deployed API could not receive.
pub const MAX_REQUEST_BYTES: usize = 6 * 1024 * 1024;

/// How often a held PollForTask looks for work again.
pub const LONG_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// Like [`handle`], with PollForTask's long poll: AWS holds a poll that finds no task for
/// up to 90 seconds, answering as soon as work arrives, so runners need not poll in a
/// tight loop. `wait` is how long to hold (zero answers at once, as the Lambda does: it
/// must not pay to wait); `pause` is the injected sleep.
pub async fn handle_long_polling<S, P, F, Fut>(
    api: &Api<'_, S, P>,
    target: Option<&str>,
    body: &[u8],
    wait: std::time::Duration,
    pause: F,
) -> Response
where
    S: RunStore,
    P: Probe,
    F: Fn(std::time::Duration) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let is_poll = operation(target).is_ok_and(|name| name == "PollForTask");
    let mut held = std::time::Duration::ZERO;
    loop {
        let response = handle(api, target, body).await;
        // An empty answer is `{}`: no taskObject.
        let found_nothing = response.status == 200 && response.body == b"{}";
        if !is_poll || !found_nothing || held >= wait {
            return response;
        }
        let step = LONG_POLL_INTERVAL.min(wait - held);
        pause(step).await;
        held += step;
    }
}

fn read<T: Request>(body: &Value) -> Result<T, ApiError> {
    T::read(&Members::root(body)?)
}

fn answer<T: Serialize>(result: Result<T, ApiError>) -> Result<Value, ApiError> {
    to_json(&result?)
}

async fn dispatch<S: RunStore, P: Probe>(
    api: &Api<'_, S, P>,
    target: Option<&str>,
    body: &[u8],
) -> Result<Value, ApiError> {
    let operation = operation(target)?;
    if body.len() > MAX_REQUEST_BYTES {
        return Err(ApiError::invalid(format!(
            "the request body is {} bytes; at most {MAX_REQUEST_BYTES} (6 MB, Lambda's limit) are accepted",
            body.len()
        )));
    }
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(serde_json::Map::new())
    } else {
        serde_json::from_slice(body)
            .map_err(|error| ApiError::serialization(format!("the request body is not valid JSON: {error}")))?
    };
    match operation {
        "CreatePipeline" => answer(api.create_pipeline(read(&body)?).await),
        "PutPipelineDefinition" => answer(api.put_pipeline_definition(read(&body)?).await),
        "GetPipelineDefinition" => answer(api.get_pipeline_definition(read(&body)?).await),
        "ValidatePipelineDefinition" => answer(api.validate_pipeline_definition(read(&body)?).await),
        "ActivatePipeline" => answer(api.activate_pipeline(read(&body)?).await),
        "DeactivatePipeline" => answer(api.deactivate_pipeline(read(&body)?).await),
        "DescribePipelines" => answer(api.describe_pipelines(read(&body)?).await),
        "ListPipelines" => answer(api.list_pipelines(read(&body)?).await),
        "DeletePipeline" => answer(api.delete_pipeline(read(&body)?).await),
        "PollForTask" => answer(api.poll_for_task(read(&body)?).await),
        "ReportTaskProgress" => answer(api.report_task_progress(read(&body)?).await),
        "SetTaskStatus" => answer(api.set_task_status(read(&body)?).await),
        "ReportTaskRunnerHeartbeat" => answer(api.report_task_runner_heartbeat(read(&body)?).await),
        "SetStatus" => answer(api.set_status(read(&body)?).await),
        "DescribeObjects" => answer(api.describe_objects(read(&body)?).await),
        "QueryObjects" => answer(api.query_objects(read(&body)?).await),
        "EvaluateExpression" => answer(api.evaluate_expression(read(&body)?).await),
        "AddTags" => answer(api.add_tags(read(&body)?).await),
        "RemoveTags" => answer(api.remove_tags(read(&body)?).await),
        other => Err(ApiError::new(
            ErrorKind::UnknownOperation,
            format!("operation \"{other}\" is not served"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_target_prefixes_name_the_operation() {
        assert_eq!(operation(Some("DataPipeline.ListPipelines")).unwrap(), "ListPipelines");
        assert_eq!(
            operation(Some("DataPipeline_20121129.CreatePipeline")).unwrap(),
            "CreatePipeline"
        );
    }

    #[test]
    fn a_missing_or_unknown_target_is_an_unknown_operation() {
        for target in [
            None,
            Some(""),
            Some("DataPipeline.Nope"),
            Some("ListPipelines"),
            Some("S3.ListPipelines"),
        ] {
            assert_eq!(
                operation(target).unwrap_err().kind,
                ErrorKind::UnknownOperation,
                "{target:?}"
            );
        }
    }
}
