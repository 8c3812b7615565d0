//! Secret values sealed with KMS, on moto's server: the adapter (a key made once by alias,
//! sealing bound to a pipeline, its errors), then the engine on the DynamoDB store with it,
//! checked by reading the run table back raw.

mod support;

use serde_json::json;
use sluice::{
    api::{Api, handle},
    cloud::{
        probe::FakeProbe,
        secrets::{KmsSecrets, SecretError, SecretKeeper},
    },
    engine::{
        Engine,
        clock::{ManualClock, SeededRandom},
    },
    store::dynamodb::{DynamoStore, create_table},
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
