//! The Data Pipeline API behind a Lambda function URL (AWS_IAM auth checks the SigV4
//! signature every AWS client sends). The handler only turns the request into an API call
//! and the answer back.

use lambda_http::{Body, Error, Request, Response, run, service_fn};
use sluice::{
    api::{Api, handle},
    cloud::probe::Probe,
    config::Deps,
    store::RunStore,
};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let deps = Deps::from_env().await?;
    let api = Api::new(deps.engine());
    let api = &api;
    run(service_fn(
        move |request: Request| async move { answer(api, request).await },
    ))
    .await
}

/// One function URL request, answered in AWS's JSON 1.1 protocol.
async fn answer<S: RunStore, P: Probe>(api: &Api<'_, S, P>, request: Request) -> Result<Response<Body>, Error> {
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let response = handle(api, target.as_deref(), request.body().as_ref()).await;
    Ok(Response::builder()
        .status(response.status)
        .header("content-type", response.content_type())
        .body(Body::from(response.body))?)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use sluice::{
        cloud::probe::FakeProbe,
        engine::{
            Engine,
            clock::{ManualClock, SeededRandom},
        },
        store::memory::MemoryStore,
        time::parse_datetime,
    };

    use super::*;

    fn fixture(name: &str) -> Request {
        let path = format!("{}/../../events/api/{name}.json", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
        lambda_http::request::from_str(&text).unwrap_or_else(|error| panic!("{path}: {error}"))
    }

    async fn answered(name: &str) -> (u16, Value) {
        let (store, clock, random, probe) = (
            MemoryStore::new(),
            ManualClock::new(parse_datetime("2026-01-01T00:00:00").unwrap()),
            SeededRandom::new(1),
            FakeProbe::new(),
        );
        let api = Api::new(Engine::new(&store, &clock, &random, &probe));
        let response = answer(&api, fixture(name)).await.unwrap();
        assert_eq!(response.headers()["content-type"], "application/x-amz-json-1.1");
        let status = response.status().as_u16();
        (status, serde_json::from_slice(response.body().as_ref()).unwrap())
    }

    #[tokio::test]
    async fn a_function_url_request_is_answered_in_the_data_pipeline_protocol() {
        let (status, body) = answered("create-pipeline").await;
        assert_eq!(status, 200, "{body}");
        assert!(body["pipelineId"].as_str().unwrap().starts_with("df-"), "{body}");
        let (status, body) = answered("list-pipelines").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["pipelineIdList"], serde_json::json!([]));
    }

    #[tokio::test]
    async fn bad_requests_get_aws_error_shapes() {
        let (status, body) = answered("unknown-target").await;
        assert_eq!(
            (status, body["__type"].as_str()),
            (400, Some("UnknownOperationException")),
            "{body}"
        );
        let (status, body) = answered("malformed-body").await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["message"].as_str().is_some_and(|message| !message.is_empty()),
            "{body}"
        );
        let (status, body) = answered("describe-unknown-pipeline").await;
        assert_eq!(
            (status, body["__type"].as_str()),
            (400, Some("PipelineNotFoundException")),
            "{body}"
        );
    }
}
