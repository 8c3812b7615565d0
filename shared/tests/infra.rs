//! `infra/template.yaml` against the emulator: its data plane (the KMS key, the run table,
//! the artifacts bucket, the alarm topic, the roles and log groups: everything but the
//! functions, which need an account) deployed into moto's CloudFormation, and the run store
//! conformance suite run against tables the template created, so the table the template
//! declares and the one the code expects cannot drift apart.

mod support;

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{ProjectionType, StreamViewType, TimeToLiveStatus};
use serde_json::{Map, Value};
use sluice::store::dynamodb::{DUE_INDEX, DynamoStore, create_table};
use support::{conformance, moto::Moto};

const TEMPLATE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/template.yaml");

/// The template as JSON (PyYAML, which the AWS CLI brings, reads it: the template keeps to
/// long-form intrinsic functions for that).
fn template() -> Value {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
            TEMPLATE,
        ])
        .output()
        .expect("python3 with PyYAML (pip install awscli)");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("the template as JSON")
}

/// Every resource id a value refers to (`Ref`, `Fn::GetAtt`, `${Name}` in `Fn::Sub`).
fn references(value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::Object(object) => {
            for (key, inner) in object {
                match (key.as_str(), inner) {
                    ("Ref", Value::String(name)) => {
                        found.insert(name.clone());
                    }
                    ("Fn::GetAtt", Value::Array(parts)) => {
                        if let Some(Value::String(name)) = parts.first() {
                            found.insert(name.clone());
                        }
                    }
                    ("Fn::Sub", Value::String(text)) => {
                        for piece in text.split("${").skip(1) {
                            let name = piece.split(['}', '.']).next().unwrap_or_default();
                            found.insert(name.to_owned());
                        }
                    }
                    _ => {}
                }
                references(inner, found);
            }
        }
        Value::Array(values) => values.iter().for_each(|inner| references(inner, found)),
        _ => {}
    }
}

/// The template without its functions and what depends on them: plain CloudFormation an
/// emulator can deploy.
fn data_plane(template: &Value) -> Value {
    let resources = template["Resources"].as_object().expect("Resources");
    let mut kept: Map<String, Value> = resources
        .iter()
        .filter(|(_, resource)| {
            !resource["Type"]
                .as_str()
                .unwrap_or_default()
                .starts_with("AWS::Serverless::")
        })
        .map(|(name, resource)| (name.clone(), resource.clone()))
        .collect();
    // Drop whatever refers to something dropped, until nothing does.
    loop {
        let names: BTreeSet<String> = kept.keys().cloned().collect();
        let dangling: Vec<String> = kept
            .iter()
            .filter(|(_, resource)| {
                let mut found = BTreeSet::new();
                references(resource, &mut found);
                found.iter().any(|name| {
                    !names.contains(name) && !name.starts_with("AWS::") && template["Parameters"].get(name).is_none()
                })
            })
            .map(|(name, _)| name.clone())
            .collect();
        if dangling.is_empty() {
            break;
        }
        for name in dangling {
            kept.remove(&name);
        }
    }
    let mut plane = serde_json::json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": template["Parameters"],
        "Conditions": template["Conditions"],
        "Resources": kept,
    });
    // Outputs only of what is kept.
    let names: BTreeSet<String> = plane["Resources"]
        .as_object()
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default();
    let outputs: Map<String, Value> = template["Outputs"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, output)| {
            let mut found = BTreeSet::new();
            references(output, &mut found);
            found
                .iter()
                .all(|name| names.contains(name) || name.starts_with("AWS::"))
        })
        .map(|(name, output)| (name.clone(), output.clone()))
        .collect();
    plane["Outputs"] = Value::Object(outputs);
    plane
}

/// Runs the AWS CLI against the emulator at `endpoint`; its JSON answer.
fn aws(endpoint: &str, args: &[&str]) -> Value {
    let output = std::process::Command::new("aws")
        .args(args)
        .args(["--endpoint-url", endpoint, "--region", "us-east-1", "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("the aws CLI (pip install awscli)");
    assert!(
        output.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
}

/// Deploys the data plane as stack `name` with `NamePrefix` = `prefix` (through the AWS
/// CLI, as a user would); the stack's outputs.
fn deploy(endpoint: &str, plane: &Value, name: &str, prefix: &str) -> Map<String, Value> {
    let body = std::env::temp_dir().join(format!("sluice-plane-{}-{name}.json", std::process::id()));
    std::fs::write(&body, plane.to_string()).unwrap();
    aws(
        endpoint,
        &[
            "cloudformation",
            "create-stack",
            "--stack-name",
            name,
            "--template-body",
            &format!("file://{}", body.display()),
            "--parameters",
            &format!("ParameterKey=NamePrefix,ParameterValue={prefix}"),
            "--capabilities",
            "CAPABILITY_NAMED_IAM",
        ],
    );
    let _ = std::fs::remove_file(&body);
    for _ in 0..100 {
        let described = aws(endpoint, &["cloudformation", "describe-stacks", "--stack-name", name]);
        let stack = &described["Stacks"][0];
        match stack["StackStatus"].as_str() {
            Some("CREATE_COMPLETE") => {
                return stack["Outputs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|output| {
                        (
                            output["OutputKey"].as_str().unwrap_or_default().to_owned(),
                            output["OutputValue"].clone(),
                        )
                    })
                    .collect();
            }
            Some("CREATE_IN_PROGRESS") => std::thread::sleep(std::time::Duration::from_millis(100)),
            other => panic!("stack {name}: {other:?} {}", stack["StackStatusReason"]),
        }
    }
    panic!("stack {name} was not created in 10 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_templates_data_plane_deploys_and_its_table_passes_the_store_conformance_suite() {
    let template = template();
    let plane = data_plane(&template);
    let kept: BTreeSet<&str> = plane["Resources"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    // Given the data plane: everything but the functions, their URL and the runner's role
    for wanted in [
        "Key",
        "KeyAlias",
        "RunTable",
        "ArtifactsBucket",
        "ArtifactsBucketPolicy",
        "AlarmTopic",
        "ApiRole",
        "SchedulerRole",
        "PreconditionsRole",
        "ActivitiesRole",
        "ActionsRole",
        "EmrServiceRole",
        "EmrJobFlowRole",
        "EmrJobFlowInstanceProfile",
        "ApiLogs",
    ] {
        assert!(kept.contains(wanted), "{wanted} is part of the data plane: {kept:?}");
    }
    // When it is deployed into moto's CloudFormation
    let moto = Moto::start();
    let endpoint = moto.endpoint();
    let config = moto.sdk_config().await;
    let outputs = deploy(&endpoint, &plane, "sluice", "sluice");
    // Then the table is the one the code expects: keys, the due index, the stream, TTL
    let table = outputs["RunTableName"].as_str().expect("RunTableName").to_owned();
    assert_eq!(table, "sluice-runs");
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let described = dynamodb.describe_table().table_name(&table).send().await.unwrap();
    let description = described.table().unwrap();
    let due = description
        .global_secondary_indexes()
        .iter()
        .find(|index| index.index_name() == Some(DUE_INDEX))
        .expect("the due index");
    assert_eq!(
        due.projection().and_then(|projection| projection.projection_type()),
        Some(&ProjectionType::All)
    );
    assert_eq!(
        description
            .stream_specification()
            .and_then(|stream| stream.stream_view_type()),
        Some(&StreamViewType::NewAndOldImages)
    );
    let ttl = dynamodb
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some("expires_at"));
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    let backups = dynamodb
        .describe_continuous_backups()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let recovery = backups
        .continuous_backups_description()
        .and_then(|description| description.point_in_time_recovery_description())
        .and_then(|description| description.point_in_time_recovery_status());
    assert_eq!(
        recovery,
        Some(&aws_sdk_dynamodb::types::PointInTimeRecoveryStatus::Enabled)
    );
    // (create_table accepts a table only if its layout is Sluice's, and changes nothing)
    create_table(&dynamodb, &table).await.unwrap();
    // And the bucket, topic and key exist
    let bucket = outputs["ArtifactsBucketName"].as_str().unwrap();
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    )
    .head_bucket()
    .bucket(bucket)
    .send()
    .await
    .unwrap();
    let topic = outputs["AlarmTopicArn"].as_str().unwrap();
    assert!(topic.ends_with(":sluice-alarms"), "{topic}");
    // And the store conformance suite passes on tables the template declares: one stack
    // holding a copy of its RunTable (and the key it is encrypted with) for every check
    let count = conformance::checks::<DynamoStore>().len();
    let mut resources = Map::new();
    resources.insert("Key".to_owned(), plane["Resources"]["Key"].clone());
    for number in 1..=count {
        let mut table = plane["Resources"]["RunTable"].clone();
        table["Properties"]["TableName"] = Value::from(format!("conformance-runs-{number}"));
        resources.insert(format!("RunTable{number}"), table);
    }
    let tables = serde_json::json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": plane["Parameters"],
        "Resources": resources,
    });
    deploy(&endpoint, &tables, "conformance", "conformance");
    let mut next = 0usize;
    let fresh = || {
        next += 1;
        let store = DynamoStore::new(dynamodb.clone(), format!("conformance-runs-{next}"));
        async move { store }
    };
    conformance::run_all("template", fresh).await;
}

/// `sam build` builds with `--release`; scripts/deploy gives the release profile the lambda
/// profile's settings through `CARGO_PROFILE_RELEASE_*`. Both must say the same, or a deploy
/// would ship other binaries than the ones CI builds and the README measures.
#[test]
fn the_deploy_script_builds_with_the_lambda_profiles_settings() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let manifest = std::fs::read_to_string(format!("{root}/Cargo.toml")).expect("Cargo.toml");
    let section = manifest
        .split("[profile.lambda]")
        .nth(1)
        .expect("Cargo.toml has [profile.lambda]")
        .split("\n[")
        .next()
        .unwrap_or_default();
    let profile: BTreeSet<(String, String)> = section
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().trim_matches('"').to_owned()))
        .filter(|(key, _)| key != "inherits")
        .collect();
    let script = std::fs::read_to_string(format!("{root}/scripts/deploy")).expect("scripts/deploy");
    let exported: BTreeSet<(String, String)> = script
        .lines()
        .filter_map(|line| line.trim().strip_prefix("export CARGO_PROFILE_RELEASE_"))
        .filter_map(|setting| setting.split_once('='))
        .map(|(key, value)| (key.to_lowercase().replace('_', "-"), value.trim_matches('"').to_owned()))
        .collect();
    assert!(!profile.is_empty(), "no settings read from [profile.lambda]");
    assert_eq!(
        exported, profile,
        "scripts/deploy's release settings against [profile.lambda]"
    );
}
