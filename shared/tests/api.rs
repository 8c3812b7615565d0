//! The Data Pipeline API through `handle()`, with JSON bodies, on the memory store: each
//! operation's answers and errors, a full run, paging, secrets, limits, random bodies, and
//! every answer checked against botocore's model.

mod support;

use std::{collections::BTreeMap, process::Command};

use chrono::TimeDelta;
use proptest::prelude::*;
use serde_json::{Value, json};
use sluice::{
    api::{Api, handle, handle_long_polling},
    cloud::{probe::FakeProbe, secrets::FakeSecrets},
    engine::{
        Engine,
        clock::{ManualClock, SeededRandom},
    },
    store::memory::MemoryStore,
    time::parse_datetime,
};

struct World {
    store: MemoryStore,
    clock: ManualClock,
    random: SeededRandom,
    probe: FakeProbe,
    /// Every answer given, by operation, for the model check.
    answers: std::sync::Mutex<Vec<(String, Value)>>,
}

impl World {
    fn new() -> Self {
        Self {
            store: MemoryStore::new(),
            clock: ManualClock::new(parse_datetime("2026-01-01T00:00:00").unwrap()),
            random: SeededRandom::new(7),
            probe: FakeProbe::new(),
            answers: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// An engine that seals secrets, as a deployed one does (with KMS).
    fn engine(&self) -> Engine<'_, MemoryStore, FakeProbe> {
        Engine::new(&self.store, &self.clock, &self.random, &self.probe).with_secrets(&FakeSecrets)
    }

    async fn call(&self, operation: &str, body: Value) -> (u16, Value) {
        let api = Api::new(self.engine());
        let target = format!("DataPipeline.{operation}");
        let response = handle(&api, Some(&target), body.to_string().as_bytes()).await;
        let value: Value = serde_json::from_slice(&response.body).expect("every answer is JSON");
        if response.status == 200 {
            self.answers.lock().unwrap().push((operation.to_owned(), value.clone()));
        }
        (response.status, value)
    }

    async fn ok(&self, operation: &str, body: Value) -> Value {
        let (status, value) = self.call(operation, body).await;
        assert_eq!(status, 200, "{operation}: {value}");
        value
    }

    async fn error(&self, operation: &str, body: Value) -> (String, String) {
        let (status, value) = self.call(operation, body).await;
        assert_ne!(status, 200, "{operation} should fail: {value}");
        (
            value["__type"].as_str().unwrap().to_owned(),
            value["message"].as_str().unwrap().to_owned(),
        )
    }

    async fn tick(&self) {
        let engine = self.engine();
        engine.schedule_step().await.unwrap();
        engine.dependencies_step().await.unwrap();
        engine.watch_step().await.unwrap();
        engine.reap_step().await.unwrap();
    }

    async fn create(&self, name: &str) -> String {
        let answer = self.ok("CreatePipeline", json!({"name": name, "uniqueId": name})).await;
        answer["pipelineId"].as_str().unwrap().to_owned()
    }
}

fn field(key: &str, value: &str) -> Value {
    json!({"key": key, "stringValue": value})
}

fn reference(key: &str, id: &str) -> Value {
    json!({"key": key, "refValue": id})
}

/// An on-demand chain: A, then B after it; B has a secret field.
fn chain_objects() -> Value {
    json!([
        {"id": "Default", "name": "Default", "fields": [
            field("scheduleType", "ondemand"), field("workerGroup", "wg"), field("failureAndRerunMode", "cascade")]},
        {"id": "A", "name": "First", "fields": [
            field("type", "ShellCommandActivity"), field("command", "echo #{@scheduledStartTime}")]},
        {"id": "B", "name": "Second", "fields": [
            field("type", "ShellCommandActivity"), field("command", "echo b"), reference("dependsOn", "A"),
            field("*password", "hunter2")]},
    ])
}

#[tokio::test]
async fn create_pipeline_is_idempotent_on_name_and_unique_id() {
    let world = World::new();
    let first = world.create("orders").await;
    assert!(first.starts_with("df-") && first.len() == 23, "{first}");
    assert!(first[3..].chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
    assert_eq!(
        world.create("orders").await,
        first,
        "same name and uniqueId, same pipeline"
    );
    let other = world
        .ok("CreatePipeline", json!({"name": "orders", "uniqueId": "another"}))
        .await;
    assert_ne!(other["pipelineId"].as_str().unwrap(), first);
}

#[tokio::test]
async fn requests_with_missing_or_oversized_members_are_refused_naming_the_member() {
    let world = World::new();
    let (kind, message) = world.error("CreatePipeline", json!({"name": "a"})).await;
    assert_eq!(kind, "InvalidRequestException");
    assert!(message.contains("uniqueId"), "{message}");
    let (kind, message) = world
        .error("CreatePipeline", json!({"name": "a".repeat(1025), "uniqueId": "u"}))
        .await;
    assert_eq!(kind, "InvalidRequestException");
    assert!(message.contains("name"), "{message}");
    let tags: Vec<Value> = (0..11).map(|i| json!({"key": format!("k{i}"), "value": "v"})).collect();
    let (kind, message) = world
        .error("CreatePipeline", json!({"name": "a", "uniqueId": "u", "tags": tags}))
        .await;
    assert_eq!(kind, "InvalidRequestException");
    assert!(message.contains("tags"), "{message}");
    let (kind, message) = world.error("CreatePipeline", json!({"name": 5, "uniqueId": "u"})).await;
    assert_eq!(kind, "SerializationException");
    assert!(message.contains("name"), "{message}");
    let ids: Vec<String> = (0..26).map(|i| format!("df-{i}")).collect();
    let (kind, _) = world.error("DescribePipelines", json!({ "pipelineIds": ids })).await;
    assert_eq!(kind, "InvalidRequestException");
    let (kind, _) = world
        .error(
            "SetTaskStatus",
            json!({"taskId": "x".repeat(2049), "taskStatus": "FINISHED"}),
        )
        .await;
    assert_eq!(kind, "InvalidRequestException");
}

#[tokio::test]
async fn malformed_bodies_and_unknown_targets_get_the_protocol_errors() {
    let world = World::new();
    let api = Api::new(world.engine());
    let response = handle(&api, Some("DataPipeline.ListPipelines"), b"{not json").await;
    assert_eq!(response.status, 400);
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["__type"], "SerializationException");
    let response = handle(&api, Some("DataPipeline.Launch"), b"{}").await;
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["__type"], "UnknownOperationException");
    let response = handle(&api, None, b"{}").await;
    assert_eq!(response.status, 400);
    let response = handle(&api, Some("DataPipeline_20121129.ListPipelines"), b"").await;
    assert_eq!(
        response.status, 200,
        "the developer guide's prefix and an empty body are fine"
    );
}

#[tokio::test]
async fn calls_on_missing_and_deleted_pipelines_say_which() {
    let world = World::new();
    let (kind, _) = world
        .error("GetPipelineDefinition", json!({"pipelineId": "df-NONE"}))
        .await;
    assert_eq!(kind, "PipelineNotFoundException");
    let id = world.create("gone").await;
    world.ok("DeletePipeline", json!({ "pipelineId": id })).await;
    let (kind, _) = world.error("DescribePipelines", json!({ "pipelineIds": [id] })).await;
    assert_eq!(kind, "PipelineDeletedException");
    let (kind, _) = world.error("DeletePipeline", json!({ "pipelineId": id })).await;
    assert_eq!(
        kind, "PipelineNotFoundException",
        "the model lists no PipelineDeleted for DeletePipeline"
    );
    let listed = world.ok("ListPipelines", json!({})).await;
    assert_eq!(listed["pipelineIdList"], json!([]));
    assert_ne!(
        world.create("gone").await,
        id,
        "a deleted pipeline's name and uniqueId may be used again"
    );
}

#[tokio::test]
async fn put_saves_an_invalid_definition_and_reports_errors_per_object() {
    let world = World::new();
    let id = world.create("p").await;
    let objects = json!([{"id": "A", "name": "A", "fields": [field("type", "NoSuchType")]}]);
    let answer = world
        .ok(
            "PutPipelineDefinition",
            json!({"pipelineId": id, "pipelineObjects": objects}),
        )
        .await;
    assert_eq!(answer["errored"], true);
    let errors = answer["validationErrors"].as_array().unwrap();
    assert!(errors.iter().any(|error| error["id"] == "A"), "{answer}");
    let saved = world.ok("GetPipelineDefinition", json!({ "pipelineId": id })).await;
    assert_eq!(saved["pipelineObjects"][0]["id"], "A", "saved even with errors");
    let (kind, _) = world.error("ActivatePipeline", json!({ "pipelineId": id })).await;
    assert_eq!(kind, "InvalidRequestException");
    let both = json!([{"id": "A", "name": "A", "fields": [{"key": "x", "stringValue": "1", "refValue": "B"}]}]);
    let (kind, _) = world
        .error(
            "PutPipelineDefinition",
            json!({"pipelineId": id, "pipelineObjects": both}),
        )
        .await;
    assert_eq!(kind, "InvalidRequestException");
}

#[tokio::test]
async fn validate_writes_nothing() {
    let world = World::new();
    let id = world.create("p").await;
    let answer = world
        .ok(
            "ValidatePipelineDefinition",
            json!({"pipelineId": id, "pipelineObjects": chain_objects()}),
        )
        .await;
    assert_eq!(answer["errored"], false, "{answer}");
    let saved = world.ok("GetPipelineDefinition", json!({ "pipelineId": id })).await;
    assert_eq!(saved["pipelineObjects"], json!([]));
}

#[tokio::test]
async fn a_full_run_through_the_api() {
    let world = World::new();
    let id = world.create("chain").await;
    let put = world
        .ok(
            "PutPipelineDefinition",
            json!({"pipelineId": id, "pipelineObjects": chain_objects()}),
        )
        .await;
    assert_eq!(put["errored"], false, "{put}");

    // Secrets are masked in the definition read back.
    let saved = world.ok("GetPipelineDefinition", json!({ "pipelineId": id })).await;
    assert!(saved.to_string().contains("********") && !saved.to_string().contains("hunter2"));

    world.ok("ActivatePipeline", json!({ "pipelineId": id })).await;
    let described = world.ok("DescribePipelines", json!({ "pipelineIds": [id] })).await;
    let fields = &described["pipelineDescriptionList"][0]["fields"];
    assert!(
        fields
            .as_array()
            .unwrap()
            .contains(&field("@pipelineState", "SCHEDULED"))
    );
    world.tick().await;

    // Poll: the task carries the attempt, A evaluated, and nothing masked.
    let polled = world
        .ok("PollForTask", json!({"workerGroup": "wg", "hostname": "runner-1"}))
        .await;
    let task = &polled["taskObject"];
    let task_id = task["taskId"].as_str().unwrap().to_owned();
    assert_eq!(task["attemptId"], "@A_2026-01-01T00:00:00_Attempt=1");
    assert_eq!(
        task["objects"]["A"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["key"] == "command")
            .unwrap()["stringValue"],
        "echo 2026-01-01T00:00:00"
    );
    let progress = world
        .ok(
            "ReportTaskProgress",
            json!({"taskId": task_id, "fields": [field("percentDone", "50")]}),
        )
        .await;
    assert_eq!(progress["canceled"], false);
    let attempt = world
        .ok(
            "DescribeObjects",
            json!({"pipelineId": id, "objectIds": ["@A_2026-01-01T00:00:00_Attempt=1"]}),
        )
        .await;
    assert!(
        attempt["pipelineObjects"][0]["fields"]
            .as_array()
            .unwrap()
            .contains(&field("percentDone", "50")),
        "the runner's fields show on the attempt: {attempt}"
    );
    let (kind, message) = world
        .error(
            "ReportTaskProgress",
            json!({"taskId": task_id, "fields": [field("@status", "FINISHED")]}),
        )
        .await;
    assert_eq!(kind, "InvalidRequestException");
    assert!(message.contains("\"@status\""), "{message}");
    let heartbeat = world
        .ok(
            "ReportTaskRunnerHeartbeat",
            json!({"taskrunnerId": "r1", "workerGroup": "wg"}),
        )
        .await;
    assert_eq!(heartbeat["terminate"], false);
    let (kind, _) = world
        .error(
            "SetTaskStatus",
            json!({"taskId": task_id, "taskStatus": "FAILED", "errorId": "Service_Oops"}),
        )
        .await;
    assert_eq!(kind, "InvalidRequestException");
    world
        .ok("SetTaskStatus", json!({"taskId": task_id, "taskStatus": "FINISHED"}))
        .await;
    let (kind, _) = world
        .error("ReportTaskProgress", json!({"taskId": "no-such-task"}))
        .await;
    assert_eq!(kind, "TaskNotFoundException");

    // B runs after A; its task carries its secret unmasked.
    world.clock.advance(TimeDelta::minutes(1));
    world.tick().await;
    let polled = world.ok("PollForTask", json!({"workerGroup": "wg"})).await;
    assert!(
        polled.to_string().contains("hunter2"),
        "a runner gets its secrets: {polled}"
    );
    let task_id = polled["taskObject"]["taskId"].as_str().unwrap().to_owned();
    world
        .ok(
            "SetTaskStatus",
            json!({"taskId": task_id, "taskStatus": "FAILED", "errorId": "Exit1", "errorMessage": "disk full"}),
        )
        .await;
    world.clock.advance(TimeDelta::minutes(30));
    world.tick().await;

    // Query and describe the runs.
    let finished = world
        .ok(
            "QueryObjects",
            json!({"pipelineId": id, "sphere": "INSTANCE", "query": {"selectors": [
                {"fieldName": "@status", "operator": {"type": "EQ", "values": ["FINISHED"]}}]}}),
        )
        .await;
    assert_eq!(finished["ids"], json!(["@A_2026-01-01T00:00:00"]));
    let attempts = world
        .ok(
            "QueryObjects",
            json!({"pipelineId": id, "sphere": "ATTEMPT", "query": {"selectors": [
                {"fieldName": "@componentParent", "operator": {"type": "REF_EQ", "values": ["B"]}}]}}),
        )
        .await;
    let attempt_ids = attempts["ids"].as_array().unwrap();
    assert!(!attempt_ids.is_empty(), "{attempts}");
    let described = world
        .ok(
            "DescribeObjects",
            json!({"pipelineId": id, "objectIds": ["B", attempt_ids[0], "@A_2026-01-01T00:00:00"],
                   "evaluateExpressions": true}),
        )
        .await;
    let text = described.to_string();
    assert!(!text.contains("hunter2") && text.contains("********"), "{text}");
    assert!(text.contains("disk full"), "the attempt's error is shown: {text}");
    let a = &described["pipelineObjects"][2];
    assert!(
        a["fields"].as_array().unwrap().contains(&field("@status", "FINISHED")),
        "{a}"
    );
    assert!(
        a["fields"]
            .as_array()
            .unwrap()
            .contains(&field("command", "echo 2026-01-01T00:00:00"))
    );
    let evaluated = world
        .ok(
            "EvaluateExpression",
            json!({"pipelineId": id, "objectId": "@B_2026-01-01T00:00:00",
                   "expression": "#{@scheduledStartTime} #{*password}"}),
        )
        .await;
    assert_eq!(evaluated["evaluatedExpression"], "2026-01-01T00:00:00 ********");
    let (kind, _) = world
        .error("DescribeObjects", json!({"pipelineId": id, "objectIds": ["Nope"]}))
        .await;
    assert_eq!(kind, "InvalidRequestException");

    // Operators: rerun the failed instance, pause a component.
    let failed = world
        .ok(
            "QueryObjects",
            json!({"pipelineId": id, "sphere": "INSTANCE", "query": {"selectors": [
                {"fieldName": "@componentParent", "operator": {"type": "REF_EQ", "values": ["B"]}}]}}),
        )
        .await;
    world
        .ok(
            "SetStatus",
            json!({"pipelineId": id, "objectIds": failed["ids"], "status": "TRY_CANCEL"}),
        )
        .await;
    world
        .ok(
            "SetStatus",
            json!({"pipelineId": id, "objectIds": failed["ids"], "status": "RERUN"}),
        )
        .await;
    world
        .ok(
            "SetStatus",
            json!({"pipelineId": id, "objectIds": ["A"], "status": "PAUSE"}),
        )
        .await;
    let (kind, _) = world
        .error(
            "SetStatus",
            json!({"pipelineId": id, "objectIds": ["A"], "status": "STOP"}),
        )
        .await;
    assert_eq!(kind, "InvalidRequestException");
    world
        .ok("DeactivatePipeline", json!({"pipelineId": id, "cancelActive": true}))
        .await;
    let described = world.ok("DescribePipelines", json!({ "pipelineIds": [id] })).await;
    assert!(
        described["pipelineDescriptionList"][0]["fields"]
            .as_array()
            .unwrap()
            .contains(&field("@pipelineState", "INACTIVE"))
    );
    world.ok("DeletePipeline", json!({ "pipelineId": id })).await;
    check_against_model(&world);
}

/// Secret values are sealed before they are stored: a field (`*password`), a secret
/// parameter's default and an activation's value for it; the stored records hold none of
/// them, the runner's task carries them opened, and an engine without the key says so.
#[tokio::test]
async fn secrets_are_sealed_in_the_store_and_opened_only_for_the_runner() {
    let world = World::new();
    let id = world.create("secrets").await;
    let put = world
        .ok("PutPipelineDefinition", support::secrets::definition_with_secrets(&id))
        .await;
    assert_eq!(put["errored"], false, "{put}");
    world
        .ok(
            "ActivatePipeline",
            json!({"pipelineId": id, "parameterValues": [{"id": "*myToken", "stringValue": "act1vated"}]}),
        )
        .await;
    let stored = format!("{:?}", world.store.items());
    for secret in ["hunter2", "d3fault", "act1vated"] {
        assert!(!stored.contains(secret), "{secret} is stored in the clear: {stored}");
    }
    assert!(stored.contains("sluice:kms:"), "{stored}");
    // Answers mask them.
    let saved = world.ok("GetPipelineDefinition", json!({ "pipelineId": id })).await;
    assert!(!saved.to_string().contains("sluice:kms:"), "{saved}");
    assert!(saved.to_string().contains("********"), "{saved}");

    // The runner gets them opened: the command evaluated with the activation's value.
    world.tick().await;
    let polled = world.ok("PollForTask", json!({"workerGroup": "wg"})).await;
    assert!(polled.to_string().contains("echo act1vated"), "{polled}");

    // An engine without the key cannot open them, and says which setting it lacks.
    let unkeyed = Api::new(Engine::new(&world.store, &world.clock, &world.random, &world.probe));
    let response = handle(
        &unkeyed,
        Some("DataPipeline.EvaluateExpression"),
        json!({"pipelineId": id, "objectId": "Say", "expression": "#{command}"})
            .to_string()
            .as_bytes(),
    )
    .await;
    let body = String::from_utf8_lossy(&response.body);
    assert_eq!(response.status, 500, "{body}");
    assert!(body.contains("SLUICE_KMS_KEY_ID"), "{body}");
}

#[tokio::test]
async fn an_empty_poll_is_held_until_work_arrives_or_the_wait_ends() {
    let world = World::new();
    let api = Api::new(world.engine());
    let target = Some("DataPipeline.PollForTask");
    let body = json!({"workerGroup": "wg"}).to_string();
    let waited = std::sync::Mutex::new(Vec::new());
    let pause = |step: std::time::Duration| {
        waited.lock().unwrap().push(step);
        async {}
    };
    // With nothing queued, the poll is held for the whole wait, then answers no task
    let wait = std::time::Duration::from_secs(2);
    let empty = handle_long_polling(&api, target, body.as_bytes(), wait, pause).await;
    assert_eq!((empty.status, empty.body.as_slice()), (200, b"{}".as_slice()));
    let held: std::time::Duration = waited.lock().unwrap().iter().sum();
    assert_eq!(held, wait);
    // Other operations, and a zero wait, answer at once
    waited.lock().unwrap().clear();
    handle_long_polling(&api, Some("DataPipeline.ListPipelines"), b"{}", wait, pause).await;
    handle_long_polling(&api, target, body.as_bytes(), std::time::Duration::ZERO, pause).await;
    assert!(waited.lock().unwrap().is_empty());
    // When work is queued while the poll is held, it is answered with the task at the next look
    let id = world.create("held").await;
    world
        .ok(
            "PutPipelineDefinition",
            json!({"pipelineId": id, "pipelineObjects": chain_objects()}),
        )
        .await;
    world.ok("ActivatePipeline", json!({ "pipelineId": id })).await;
    let ticked = std::sync::atomic::AtomicBool::new(false);
    let tick_once = |_step: std::time::Duration| async {
        if !ticked.swap(true, std::sync::atomic::Ordering::Relaxed) {
            world.tick().await;
        }
    };
    let answered = handle_long_polling(
        &api,
        target,
        body.as_bytes(),
        std::time::Duration::from_secs(90),
        tick_once,
    )
    .await;
    let answered: Value = serde_json::from_slice(&answered.body).unwrap();
    assert_eq!(
        answered["taskObject"]["attemptId"], "@A_2026-01-01T00:00:00_Attempt=1",
        "{answered}"
    );
}

#[tokio::test]
async fn list_pipelines_pages_with_a_marker() {
    let world = World::new();
    for index in 0..5 {
        world.create(&format!("p{index}")).await;
    }
    let mut api = Api::new(world.engine());
    api.page_size = 2;
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..10 {
        let body = match &marker {
            Some(marker) => json!({ "marker": marker }),
            None => json!({}),
        };
        let response = handle(&api, Some("DataPipeline.ListPipelines"), body.to_string().as_bytes()).await;
        let page: Value = serde_json::from_slice(&response.body).unwrap();
        let ids = page["pipelineIdList"].as_array().unwrap();
        assert!(ids.len() <= 2);
        seen.extend(ids.iter().map(|entry| entry["id"].as_str().unwrap().to_owned()));
        if page["hasMoreResults"] == false {
            break;
        }
        marker = page["marker"].as_str().map(str::to_owned);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5, "every pipeline exactly once: {seen:?}");
}

#[tokio::test]
async fn tags_are_added_replaced_removed_and_limited_to_ten() {
    let world = World::new();
    let id = world.create("tagged").await;
    world
        .ok(
            "AddTags",
            json!({"pipelineId": id, "tags": [{"key": "team", "value": "a"}]}),
        )
        .await;
    world
        .ok(
            "AddTags",
            json!({"pipelineId": id, "tags": [{"key": "team", "value": "b"}]}),
        )
        .await;
    let described = world.ok("DescribePipelines", json!({ "pipelineIds": [id] })).await;
    assert_eq!(
        described["pipelineDescriptionList"][0]["tags"],
        json!([{"key": "team", "value": "b"}])
    );
    let ten: Vec<Value> = (0..10).map(|i| json!({"key": format!("k{i}"), "value": "v"})).collect();
    let (kind, message) = world.error("AddTags", json!({"pipelineId": id, "tags": ten})).await;
    assert_eq!(kind, "InvalidRequestException");
    assert!(message.contains("at most 10"), "{message}");
    world
        .ok("RemoveTags", json!({"pipelineId": id, "tagKeys": ["team", "absent"]}))
        .await;
    let described = world.ok("DescribePipelines", json!({ "pipelineIds": [id] })).await;
    assert_eq!(described["pipelineDescriptionList"][0]["tags"], json!([]));
}

#[tokio::test]
async fn query_objects_pages_with_limit_and_marker() {
    let world = World::new();
    let id = world.create("many").await;
    world
        .ok(
            "PutPipelineDefinition",
            json!({"pipelineId": id, "pipelineObjects": chain_objects()}),
        )
        .await;
    let first = world
        .ok(
            "QueryObjects",
            json!({"pipelineId": id, "sphere": "COMPONENT", "limit": 2}),
        )
        .await;
    assert_eq!(first["ids"], json!(["Default", "A"]));
    assert_eq!(first["hasMoreResults"], true);
    let second = world
        .ok(
            "QueryObjects",
            json!({"pipelineId": id, "sphere": "COMPONENT", "limit": 2, "marker": first["marker"]}),
        )
        .await;
    assert_eq!(second["ids"], json!(["B"]));
    assert_eq!(second["hasMoreResults"], false);
    let (kind, _) = world
        .error("QueryObjects", json!({"pipelineId": id, "sphere": "PIPELINE"}))
        .await;
    assert_eq!(kind, "InvalidRequestException");
    let selectors: Vec<Value> = (0..11)
        .map(|_| json!({"fieldName": "name", "operator": {"type": "EQ", "values": ["A"]}}))
        .collect();
    let (kind, _) = world
        .error(
            "QueryObjects",
            json!({"pipelineId": id, "sphere": "COMPONENT", "query": {"selectors": selectors}}),
        )
        .await;
    assert_eq!(kind, "InvalidRequestException");
}

/// Every member of every answer given exists in the model's output shape. Needs the
/// botocore model, read through python3; skipped (saying so) when python3 is absent.
fn check_against_model(world: &World) {
    let script = "import botocore,gzip,os,sys;\
        p=os.path.join(os.path.dirname(botocore.__file__),'data','datapipeline','2012-10-29','service-2.json.gz');\
        sys.stdout.write(gzip.open(p).read().decode())";
    let Ok(output) = Command::new("python3").args(["-c", script]).output() else {
        eprintln!("python3 is absent: the botocore model check is skipped");
        return;
    };
    if !output.status.success() {
        eprintln!("botocore is not installed: the model check is skipped");
        return;
    }
    let model: Value = serde_json::from_slice(&output.stdout).unwrap();
    let answers = world.answers.lock().unwrap().clone();
    let mut checked = BTreeMap::new();
    for (operation, answer) in answers {
        let Some(shape) = model["operations"][&operation]["output"]["shape"].as_str() else {
            assert_eq!(answer, json!({}), "{operation} has no output shape, so answers {{}}");
            continue;
        };
        conforms(&model, shape, &answer, &operation);
        *checked.entry(operation).or_insert(0) += 1;
    }
    assert!(checked.len() >= 13, "most operations were checked: {checked:?}");
}

fn conforms(model: &Value, shape: &str, value: &Value, path: &str) {
    let definition = &model["shapes"][shape];
    match definition["type"].as_str().unwrap() {
        "structure" => {
            let object = value.as_object().unwrap_or_else(|| panic!("{path}: not an object"));
            for (member, inner) in object {
                let member_shape = definition["members"][member]["shape"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{path}.{member} is not in the model's {shape}"));
                conforms(model, member_shape, inner, &format!("{path}.{member}"));
            }
            for required in definition["required"].as_array().into_iter().flatten() {
                assert!(
                    object.contains_key(required.as_str().unwrap()),
                    "{path} lacks {required}"
                );
            }
        }
        "list" => {
            for (index, item) in value.as_array().unwrap().iter().enumerate() {
                conforms(
                    model,
                    definition["member"]["shape"].as_str().unwrap(),
                    item,
                    &format!("{path}[{index}]"),
                );
            }
        }
        "map" => {
            for (key, item) in value.as_object().unwrap() {
                conforms(
                    model,
                    definition["value"]["shape"].as_str().unwrap(),
                    item,
                    &format!("{path}.{key}"),
                );
            }
        }
        "string" => assert!(value.is_string(), "{path}: not a string"),
        "boolean" => assert!(value.is_boolean(), "{path}: not a boolean"),
        "integer" | "timestamp" => assert!(value.is_number(), "{path}: not a number"),
        other => panic!("{path}: unexpected shape type {other}"),
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|x| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)),
        "[ -~\\x00-\\x1f]{0,20}".prop_map(Value::String),
        Just(Value::String("df-NONE".into())),
        Just(Value::String("@A_2026-01-01T00:00:00".into())),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("pipelineId".to_owned()),
                    Just("name".to_owned()),
                    Just("uniqueId".to_owned()),
                    Just("pipelineObjects".to_owned()),
                    Just("objectIds".to_owned()),
                    Just("taskId".to_owned()),
                    Just("workerGroup".to_owned()),
                    Just("sphere".to_owned()),
                    Just("query".to_owned()),
                    Just("tags".to_owned()),
                    "[a-z]{1,8}"
                ],
                inner,
                0..5
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_requests_never_panic_and_errors_are_well_formed(
        operation in prop::sample::select(sluice::api::protocol::OPERATIONS.to_vec()),
        other_target in prop::option::of("[A-Za-z._0-9]{0,30}"),
        body in json_value(),
        raw in prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let world = World::new();
        let api = Api::new(world.engine());
        let target = other_target.unwrap_or_else(|| format!("DataPipeline.{operation}"));
        let bytes = raw.unwrap_or_else(|| body.to_string().into_bytes());
        let response = runtime.block_on(handle(&api, Some(&target), &bytes));
        let answer: Value = serde_json::from_slice(&response.body).unwrap();
        if response.status == 200 {
            prop_assert!(answer.is_object());
        } else {
            prop_assert!(response.status == 400 || response.status == 500);
            prop_assert!(answer["__type"].is_string(), "{}", answer);
            prop_assert!(answer["message"].is_string(), "{}", answer);
        }
    }
}

#[tokio::test]
async fn a_pipeline_tagged_to_allow_backfill_activates_three_days_back_and_one_not_tagged_is_told_how() {
    let world = World::new();
    let objects = json!([
        {"id": "Default", "name": "Default", "fields": [
            field("scheduleType", "cron"), reference("schedule", "Daily"), field("workerGroup", "wg")]},
        {"id": "Daily", "name": "Daily", "fields": [
            field("type", "Schedule"), field("period", "1 day"), field("startDateTime", "2025-12-29T00:00:00")]},
        {"id": "A", "name": "A", "fields": [field("type", "ShellCommandActivity"), field("command", "a")]},
    ]);
    // Without the tag, AWS's one-day guard refuses, and says how to lift it
    let plain = world.create("plain").await;
    world
        .ok(
            "PutPipelineDefinition",
            json!({"pipelineId": plain, "pipelineObjects": objects}),
        )
        .await;
    let (kind, message) = world.error("ActivatePipeline", json!({"pipelineId": plain})).await;
    assert_eq!(kind, "InvalidRequestException");
    assert!(message.contains("sluice:allowBackfill=true"), "{message}");
    // With it, the pipeline activates and the schedule stage creates the four days
    let tagged = world
        .ok(
            "CreatePipeline",
            json!({"name": "backfill", "uniqueId": "backfill",
                   "tags": [{"key": "sluice:allowBackfill", "value": "true"}]}),
        )
        .await["pipelineId"]
        .as_str()
        .unwrap()
        .to_owned();
    world
        .ok(
            "PutPipelineDefinition",
            json!({"pipelineId": tagged, "pipelineObjects": objects}),
        )
        .await;
    world.ok("ActivatePipeline", json!({"pipelineId": tagged})).await;
    world.tick().await;
    let instances = world
        .ok("QueryObjects", json!({"pipelineId": tagged, "sphere": "INSTANCE"}))
        .await;
    assert_eq!(instances["ids"].as_array().unwrap().len(), 4, "{instances}");
}

/// `count` on-demand activities on worker group `wg`, each with a distinct command.
fn many_activities(count: usize) -> Vec<Value> {
    let mut objects = vec![json!({"id": "Default", "name": "Default", "fields": [
        field("scheduleType", "ondemand"), field("workerGroup", "wg")]})];
    objects.extend((0..count).map(|n| {
        json!({"id": format!("Step{n:05}"), "name": format!("Step {n}"), "fields": [
            field("type", "ShellCommandActivity"),
            field("command", &format!("aws s3 cp s3://bucket/input/{n}.csv s3://bucket/output/ --quiet"))]})
    }));
    objects
}

#[tokio::test]
async fn a_definition_of_several_thousand_objects_is_stored_activated_and_run() {
    // Given a pipeline of 5,000 activities (AWS's default limit is 100; accounts raised it):
    // about 1 MB of JSON, more than a DynamoDB item holds
    let world = World::new();
    let id = world.create("large").await;
    let objects = many_activities(4999);
    assert!(json!(objects).to_string().len() > 400 * 1024);
    // When it is put, read back and activated
    let put = world
        .ok(
            "PutPipelineDefinition",
            json!({"pipelineId": id, "pipelineObjects": objects}),
        )
        .await;
    assert_eq!(put["errored"], json!(false), "{put}");
    let got = world.ok("GetPipelineDefinition", json!({"pipelineId": id})).await;
    assert_eq!(got["pipelineObjects"].as_array().unwrap().len(), 5000);
    assert_eq!(got["pipelineObjects"][4999]["id"], json!("Step04998"));
    world.ok("ActivatePipeline", json!({"pipelineId": id})).await;
    // Then the stages make its runs, and a runner gets their tasks
    for _ in 0..60 {
        world.tick().await;
    }
    let task = world.ok("PollForTask", json!({"workerGroup": "wg"})).await;
    assert_eq!(task["taskObject"]["pipelineId"], json!(id), "{task}");
}

#[tokio::test]
async fn a_definition_too_large_to_store_is_refused_up_front_naming_the_limit() {
    // Given 600 objects each carrying 1,000 bytes that do not compress (a digest-like
    // string), about 600 KB even gzipped
    let world = World::new();
    let id = world.create("too-large").await;
    let mut state: u64 = 7;
    let mut noise = || {
        (0..1000)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                char::from(b'!' + ((state >> 33) % 90) as u8)
            })
            .collect::<String>()
    };
    let mut objects = many_activities(599);
    for object in objects.iter_mut().skip(1) {
        object["fields"]
            .as_array_mut()
            .unwrap()
            .push(field("myNoise", &noise()));
    }
    // When it is put
    let (kind, message) = world
        .error(
            "PutPipelineDefinition",
            json!({"pipelineId": id, "pipelineObjects": objects}),
        )
        .await;
    // Then it is refused as a bad request, saying how large it is and what Sluice stores
    assert_eq!(kind, "InvalidRequestException");
    assert!(message.starts_with("the definition of 600 objects is "), "{message}");
    assert!(
        message.contains("Sluice stores a definition of at most 408576 bytes gzipped"),
        "{message}"
    );
    // and nothing was saved
    let (kind, _) = world.error("ActivatePipeline", json!({"pipelineId": id})).await;
    assert_eq!(kind, "InvalidRequestException");
}

#[tokio::test]
async fn query_objects_pages_components_that_match_a_selector_from_its_marker() {
    // Given the chain's definition, saved and activated, with B paused
    let world = World::new();
    let id = world.create("selected").await;
    world
        .ok(
            "PutPipelineDefinition",
            json!({"pipelineId": id, "pipelineObjects": chain_objects()}),
        )
        .await;
    world.ok("ActivatePipeline", json!({"pipelineId": id})).await;
    world
        .ok(
            "SetStatus",
            json!({"pipelineId": id, "objectIds": ["B"], "status": "PAUSE"}),
        )
        .await;
    // When a client asks for the ShellCommandActivities one at a time
    let activities = json!({"selectors": [
        {"fieldName": "type", "operator": {"type": "EQ", "values": ["ShellCommandActivity"]}}]});
    let first = world
        .ok(
            "QueryObjects",
            json!({"pipelineId": id, "sphere": "COMPONENT", "limit": 1, "query": activities}),
        )
        .await;
    // Then the first page has A, and its marker leads to B and no more
    assert_eq!(first["ids"], json!(["A"]));
    assert_eq!(first["hasMoreResults"], true);
    let second = world
        .ok(
            "QueryObjects",
            json!({"pipelineId": id, "sphere": "COMPONENT", "limit": 1, "query": activities,
                   "marker": first["marker"]}),
        )
        .await;
    assert_eq!(second["ids"], json!(["B"]));
    assert_eq!(second["hasMoreResults"], false);
    // And a component's @status reads its record: only B is PAUSED
    let paused = world
        .ok(
            "QueryObjects",
            json!({"pipelineId": id, "sphere": "COMPONENT", "query": {"selectors": [
                {"fieldName": "@status", "operator": {"type": "EQ", "values": ["PAUSED"]}}]}}),
        )
        .await;
    assert_eq!(paused["ids"], json!(["B"]));
}

#[tokio::test]
async fn a_deleted_pipeline_answers_deleted_at_once_and_a_purge_step_removes_its_records() {
    // Given a pipeline that has run
    let world = World::new();
    let id = world.create("purged").await;
    world
        .ok(
            "PutPipelineDefinition",
            json!({"pipelineId": id, "pipelineObjects": chain_objects()}),
        )
        .await;
    world.ok("ActivatePipeline", json!({"pipelineId": id})).await;
    world.tick().await;
    let pk = sluice::store::keys::pipeline_pk(&id);
    let of_pipeline = || world.store.items().into_iter().filter(|item| item.key.pk == pk).count();
    assert!(of_pipeline() > 3, "{}", of_pipeline());
    // When it is deleted
    world.ok("DeletePipeline", json!({ "pipelineId": id })).await;
    // Then every call on it says so at once
    for (operation, body) in [
        ("DescribeObjects", json!({"pipelineId": id, "objectIds": ["A"]})),
        ("QueryObjects", json!({"pipelineId": id, "sphere": "INSTANCE"})),
        ("GetPipelineDefinition", json!({"pipelineId": id})),
    ] {
        let (kind, _) = world.error(operation, body).await;
        assert_eq!(kind, "PipelineDeletedException", "{operation}");
    }
    // And a purge step removes its records, all but the tombstone that says so
    world.engine().purge_step().await.unwrap();
    let left: Vec<String> = world
        .store
        .items()
        .into_iter()
        .filter(|item| item.key.pk == pk)
        .map(|item| item.key.sk)
        .collect();
    assert_eq!(left, ["DELETED"]);
    let (kind, _) = world.error("DescribePipelines", json!({ "pipelineIds": [id] })).await;
    assert_eq!(kind, "PipelineDeletedException");
}
