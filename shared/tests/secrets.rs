//! Secret values sealed with KMS, on moto's server: the adapter (a key made once by alias,
//! sealing bound to a pipeline, its errors), then the engine on the DynamoDB store with it,
//! checked by reading the run table back raw. And where secrets must not go: into the run
//! table of a deployment without a key, or into an EMR step's arguments.

mod support;

use serde_json::json;
use sluice::{
    api::{Api, handle},
    cloud::{
        probe::FakeProbe,
        secrets::{KmsSecrets, SecretError, SecretKeeper},
    },
    config::{KMS_KEY_VARIABLE, keeper},
    engine::{
        Engine,
        clock::{ManualClock, SeededRandom},
        clusters::{secret_in_steps, step_specs},
        tasks::TaskAssignment,
    },
    runner::Secrets,
    store::{
        dynamodb::{DynamoStore, create_table},
        memory::MemoryStore,
        records::AttemptKind,
    },
    time::parse_datetime,
};
use support::moto::Moto;

#[tokio::test]
async fn kms_seals_a_value_for_one_pipeline_and_names_what_went_wrong() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    // The key is made once and found by its alias after.
    let keeper = KmsSecrets::ensure_alias(&sdk, "alias/sluice-test").await.unwrap();
    let again = KmsSecrets::ensure_alias(&sdk, "alias/sluice-test").await.unwrap();
    assert_eq!(again.key_id(), "alias/sluice-test");

    let sealed = keeper.seal("df-1", "hunter2 ünïcode").await.unwrap();
    assert!(sealed.starts_with("sluice:kms:"), "{sealed}");
    assert!(!sealed.contains("hunter2"), "{sealed}");
    assert_ne!(
        keeper.seal("df-1", "hunter2 ünïcode").await.unwrap(),
        sealed,
        "KMS ciphertexts differ each time"
    );
    assert_eq!(again.open("df-1", &sealed).await.unwrap(), "hunter2 ünïcode");

    // Bound to its pipeline: another pipeline's id is another encryption context.
    let refused = keeper.open("df-2", &sealed).await.unwrap_err();
    assert!(
        matches!(&refused, SecretError::Refused { code, .. } if code == "InvalidCiphertextException"),
        "{refused}"
    );
    assert!(!refused.is_retryable());

    // A key that does not exist, a value too large, a value not sealed by Sluice.
    let missing = KmsSecrets::new(&sdk, "alias/no-such-key")
        .seal("df-1", "s3cret")
        .await
        .unwrap_err();
    assert!(
        matches!(&missing, SecretError::Refused { code, .. } if code == "NotFoundException"),
        "{missing}"
    );
    assert!(!missing.to_string().contains("s3cret"), "{missing}");
    let large = keeper.seal("df-1", &"x".repeat(4097)).await.unwrap_err();
    assert!(large.to_string().contains("4097 bytes"), "{large}");
    let malformed = keeper.open("df-1", "sluice:kms:not base64!").await.unwrap_err();
    assert!(malformed.to_string().contains("not in Sluice's form"), "{malformed}");
}

#[tokio::test]
async fn the_run_table_holds_no_secret_in_the_clear_and_the_runner_gets_them() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    create_table(&dynamodb, "runs").await.unwrap();
    let store = DynamoStore::new(dynamodb.clone(), "runs".to_owned());
    let keeper = KmsSecrets::ensure_alias(&sdk, "alias/sluice-runs").await.unwrap();
    let (clock, random, probe) = (
        ManualClock::new(parse_datetime("2026-01-01T00:00:00").unwrap()),
        SeededRandom::new(3),
        FakeProbe::new(),
    );
    let engine = || Engine::new(&store, &clock, &random, &probe).with_secrets(&keeper);
    let api = Api::new(engine());
    let call = |operation: &'static str, body: serde_json::Value| {
        let api = &api;
        async move {
            let response = handle(
                api,
                Some(&format!("DataPipeline.{operation}")),
                body.to_string().as_bytes(),
            )
            .await;
            let text = String::from_utf8_lossy(&response.body).into_owned();
            assert_eq!(response.status, 200, "{operation}: {text}");
            serde_json::from_str::<serde_json::Value>(&text).unwrap()
        }
    };
    let id = call("CreatePipeline", json!({"name": "db", "uniqueId": "db-1"})).await["pipelineId"]
        .as_str()
        .unwrap()
        .to_owned();
    call("PutPipelineDefinition", support::secrets::definition_with_secrets(&id)).await;
    call(
        "ActivatePipeline",
        json!({"pipelineId": id, "parameterValues": [{"id": "*myToken", "stringValue": "t0ken"}]}),
    )
    .await;
    engine().schedule_step().await.unwrap();
    engine().dependencies_step().await.unwrap();
    let polled = call("PollForTask", json!({"workerGroup": "wg"})).await;
    assert!(polled.to_string().contains("echo t0ken"), "{polled}");

    // The table, read back raw: sealed values, and neither secret anywhere.
    let scanned = dynamodb.scan().table_name("runs").send().await.unwrap();
    let raw = format!("{:?}", scanned.items());
    assert!(raw.contains("sluice:kms:"), "{raw}");
    for secret in ["hunter2", "t0ken", "d3fault"] {
        assert!(!raw.contains(secret), "{secret} is in the table in the clear");
    }
}

#[tokio::test]
async fn a_deployment_without_a_kms_key_refuses_secret_values_naming_the_setting_and_stores_none() {
    // Given the API a deployed function serves when SLUICE_KMS_KEY_ID is not set
    let store = MemoryStore::new();
    let (clock, random, probe) = (
        ManualClock::new(parse_datetime("2026-01-01T00:00:00").unwrap()),
        SeededRandom::new(5),
        FakeProbe::new(),
    );
    let api = Api::new(Engine::new(&store, &clock, &random, &probe).with_secrets(keeper(None)));
    let call = |operation: &'static str, body: serde_json::Value| {
        let api = &api;
        async move {
            let response = handle(
                api,
                Some(&format!("DataPipeline.{operation}")),
                body.to_string().as_bytes(),
            )
            .await;
            let text = String::from_utf8_lossy(&response.body).into_owned();
            (
                response.status,
                serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            )
        }
    };
    let (_, created) = call("CreatePipeline", json!({"name": "db", "uniqueId": "db-1"})).await;
    let id = created["pipelineId"].as_str().unwrap().to_owned();
    let before = store.items();

    // When a definition with a *password and a secret parameter is put
    let (status, refused) = call("PutPipelineDefinition", support::secrets::definition_with_secrets(&id)).await;

    // Then it is refused as the operator's fault, naming the setting, and nothing is stored
    assert_eq!(status, 500, "{refused}");
    assert_eq!(refused["__type"], "InternalServiceError", "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains(KMS_KEY_VARIABLE), "{message}");
    assert!(message.contains("retrying will not help"), "{message}");
    assert_eq!(store.items(), before, "nothing of the definition was stored");

    // And an activation that brings a secret value is refused the same way
    let mut plain = support::secrets::definition_with_secrets(&id);
    plain["pipelineObjects"]
        .as_array_mut()
        .unwrap()
        .retain(|object| object["id"] != "Db");
    let attributes = plain["parameterObjects"][0]["attributes"].as_array_mut().unwrap();
    attributes.retain(|attribute| attribute["key"] != "default");
    attributes.push(json!({"key": "optional", "stringValue": "true"}));
    let (status, put) = call("PutPipelineDefinition", plain).await;
    assert_eq!(status, 200, "a definition without secret values is stored: {put}");
    assert_eq!(put["errored"], false, "{put}");
    let before = store.items();
    let (status, refused) = call(
        "ActivatePipeline",
        json!({"pipelineId": id, "parameterValues": [{"id": "*myToken", "stringValue": "t0ken"}]}),
    )
    .await;
    assert_eq!(status, 500, "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains(KMS_KEY_VARIABLE),
        "{refused}"
    );
    assert_eq!(store.items(), before, "the pipeline was not activated");
    let raw = format!("{:?}", store.items());
    for secret in ["hunter2", "t0ken", "d3fault"] {
        assert!(!raw.contains(secret), "{secret} is in the store");
    }
}

fn emr_task(fields: &[(&str, &str)]) -> TaskAssignment {
    TaskAssignment {
        task_id: "t".to_owned(),
        pipeline_id: "df-emr".to_owned(),
        attempt_id: "@Rollup_2026-03-01T00:00:00_Attempt=1".to_owned(),
        instance_id: "@Rollup_2026-03-01T00:00:00".to_owned(),
        object_id: "Rollup".to_owned(),
        kind: AttemptKind::Activity,
        fields: fields
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect(),
    }
}

#[test]
fn a_secret_value_never_becomes_an_emr_step_argument() {
    // Given a HiveActivity whose script variable took a secret parameter's value
    let secrets = Secrets::new(["s3cr3t-t0ken"]);
    let task = emr_task(&[
        ("type", "HiveActivity"),
        ("hiveScript", "SELECT 1"),
        ("scriptVariable", "TOKEN=s3cr3t-t0ken"),
    ]);
    let specs = step_specs(&task).unwrap();

    // When its steps are checked before they are added
    let problem = secret_in_steps(&task, &specs, &secrets).expect("the step is refused");

    // Then the step is named, and the value is not
    assert!(
        problem.contains("\"Rollup\"") && problem.contains("1/1 hive"),
        "{problem}"
    );
    assert!(!problem.contains("s3cr3t"), "{problem}");
    // A shell command on the cluster, and an EMR step's own arguments, the same
    for fields in [
        vec![
            ("type", "ShellCommandActivity"),
            ("command", "curl -H 'X: s3cr3t-t0ken' x"),
        ],
        vec![("type", "EmrActivity"), ("step", "s3://j/a.jar,--key,s3cr3t-t0ken")],
    ] {
        let task = emr_task(&fields);
        let specs = step_specs(&task).unwrap();
        assert!(secret_in_steps(&task, &specs, &secrets).is_some(), "{fields:?}");
    }
    // Steps without secrets go ahead
    let task = emr_task(&[("type", "HiveActivity"), ("hiveScript", "SELECT 1")]);
    assert_eq!(secret_in_steps(&task, &step_specs(&task).unwrap(), &secrets), None);
}
