//! The roles of `infra/template.yaml` against the code: every action a function's role
//! grants is one its code calls (through the AWS SDK in the files that function's stage
//! uses, or as a call implies: a TransactWriteItems needs PutItem, a RunInstances with
//! tags needs CreateTags), every SDK call of that code is granted, and no statement uses a
//! wildcard resource where AWS allows a narrower one.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The template as JSON (PyYAML reads it: the template keeps to long-form intrinsics).
fn template() -> Value {
    let path = format!("{ROOT}/infra/template.yaml");
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
            &path,
        ])
        .output()
        .expect("python3 with PyYAML (pip install awscli)");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("the template as JSON")
}

/// The IAM prefix of each SDK service Sluice uses, by botocore's service name.
const SERVICES: &[(&str, &str)] = &[
    ("dynamodb", "dynamodb"),
    ("s3", "s3"),
    ("ec2", "ec2"),
    ("emr", "elasticmapreduce"),
    ("sns", "sns"),
    ("rds", "rds"),
    ("redshift", "redshift"),
    ("kms", "kms"),
];

/// Each SDK operation's snake_case name (as the Rust SDK spells its methods) to its IAM
/// prefix and PascalCase name, from the service models botocore ships.
fn operations() -> BTreeMap<(String, String), String> {
    let services: Vec<&str> = SERVICES.iter().map(|(service, _)| *service).collect();
    let script = "import json, sys, botocore.session\n\
                  s = botocore.session.get_session()\n\
                  json.dump({name: s.get_service_model(name).operation_names for name in sys.argv[1:]}, sys.stdout)";
    let mut command = std::process::Command::new("python3");
    command.args(["-c", script]).args(&services);
    let output = command.output().expect("python3 with botocore (pip install awscli)");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let models: BTreeMap<String, Vec<String>> = serde_json::from_slice(&output.stdout).unwrap();
    let mut operations = BTreeMap::new();
    for (service, names) in models {
        let prefix = SERVICES
            .iter()
            .find(|(name, _)| *name == service)
            .map(|(_, prefix)| *prefix)
            .unwrap();
        for name in names {
            operations.insert((prefix.to_owned(), snake_case(&name)), name);
        }
    }
    operations
}

/// `DescribeDBInstances` as `describe_db_instances`, `ListObjectsV2` as `list_objects_v2`.
fn snake_case(name: &str) -> String {
    let characters: Vec<char> = name.chars().collect();
    let mut snake = String::new();
    for (index, character) in characters.iter().enumerate() {
        let previous = index.checked_sub(1).map(|before| characters[before]);
        let next = characters.get(index + 1);
        let boundary = character.is_uppercase()
            && previous.is_some_and(|previous| {
                previous.is_lowercase()
                    || previous.is_ascii_digit()
                    || (previous.is_uppercase() && next.is_some_and(|next| next.is_lowercase()))
            });
        if boundary {
            snake.push('_');
        }
        snake.extend(character.to_lowercase());
    }
    snake
}

/// What each function's code calls through the SDK: the files its stage's port lives in,
/// and the services those files' clients speak to.
/// A source file, and the IAM prefixes of the services its SDK clients speak to.
type CodeFile = (&'static str, &'static [&'static str]);

fn function_code() -> Vec<(&'static str, Vec<CodeFile>)> {
    const STORE: CodeFile = ("shared/src/store/dynamodb.rs", &["dynamodb"]);
    vec![
        // The API seals secret values as definitions are put and activated (Encrypt); every
        // function opens them to compile a pipeline (Decrypt, which the table's key needs anyway).
        ("ApiRole", vec![STORE, ("shared/src/cloud/secrets.rs", &["kms"])]),
        ("SchedulerRole", vec![STORE]),
        (
            "PreconditionsRole",
            vec![
                STORE,
                ("shared/src/cloud/s3.rs", &["s3"]),
                ("shared/src/cloud/dynamodb.rs", &["dynamodb"]),
            ],
        ),
        (
            "ResourcesRole",
            vec![
                STORE,
                ("shared/src/cloud/compute/ec2.rs", &["ec2"]),
                ("shared/src/cloud/compute/emr.rs", &["elasticmapreduce"]),
            ],
        ),
        (
            "ActivitiesRole",
            vec![
                STORE,
                ("shared/src/runner/storage.rs", &["s3", "dynamodb", "rds", "redshift"]),
            ],
        ),
        ("ActionsRole", vec![STORE, ("shared/src/cloud/sns.rs", &["sns"])]),
    ]
}

/// Calls in those files that only `sluice dev` and the demo make, setting up what the
/// template creates in an account (the run table, the alarm topic): no function makes them.
const SETUP_ONLY: &[(&str, &[&str])] = &[
    (
        "shared/src/store/dynamodb.rs",
        &[
            "dynamodb:CreateTable",
            "dynamodb:DescribeTable",
            "dynamodb:DescribeTimeToLive",
            "dynamodb:UpdateTimeToLive",
        ],
    ),
    ("shared/src/cloud/sns.rs", &["sns:CreateTopic"]),
    (
        "shared/src/cloud/secrets.rs",
        &["kms:CreateAlias", "kms:CreateKey", "kms:DescribeKey"],
    ),
];

/// The IAM actions an SDK call needs, where they are not the call's own name.
fn actions_of(call: &str) -> Vec<String> {
    let needs: &[&str] = match call {
        // A transaction needs each kind of write it holds (and its condition checks).
        "dynamodb:TransactWriteItems" => &[
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:ConditionCheckItem",
        ],
        "s3:HeadObject" => &["s3:GetObject"],
        "s3:ListObjectsV2" | "s3:HeadBucket" => &["s3:ListBucket"],
        "s3:CopyObject" | "s3:UploadPartCopy" => &["s3:GetObject", "s3:PutObject"],
        "s3:CreateMultipartUpload" | "s3:UploadPart" | "s3:CompleteMultipartUpload" => &["s3:PutObject"],
        // Tags on launch, and the instance profile or EMR roles a launch passes.
        "ec2:RunInstances" => &["ec2:RunInstances", "ec2:CreateTags", "iam:PassRole"],
        "elasticmapreduce:RunJobFlow" => &["elasticmapreduce:RunJobFlow", "iam:PassRole"],
        _ => return vec![call.to_owned()],
    };
    needs.iter().map(|action| (*action).to_owned()).collect()
}

/// What every role may do besides its code's calls: write its own logs, use the key the
/// table is encrypted with, and (the stages) let Lambda read the table's stream for them.
fn always(role: &str) -> BTreeSet<String> {
    let mut actions: BTreeSet<String> = [
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "kms:Decrypt",
        "kms:GenerateDataKey",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    if role != "ApiRole" {
        actions.extend(
            [
                "dynamodb:DescribeStream",
                "dynamodb:GetRecords",
                "dynamodb:GetShardIterator",
                "dynamodb:ListStreams",
            ]
            .map(str::to_owned),
        );
    }
    actions
}

/// The SDK calls in `file`: method calls named like an operation of one of `services`.
fn calls_in(file: &str, services: &[&str], operations: &BTreeMap<(String, String), String>) -> BTreeSet<String> {
    let path = format!("{ROOT}/{file}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
    // Only the code, not its tests.
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut calls = BTreeSet::new();
    for piece in code.split('.').skip(1) {
        let name: String = piece
            .chars()
            .take_while(|character| character.is_ascii_lowercase() || character.is_ascii_digit() || *character == '_')
            .collect();
        if name.is_empty() || !piece[name.len()..].starts_with("()") {
            continue;
        }
        for service in services {
            if let Some(operation) = operations.get(&((*service).to_owned(), name.clone())) {
                calls.insert(format!("{service}:{operation}"));
            }
        }
    }
    calls
}

/// Each statement of a role's inline policies: (actions, resources).
fn statements(role: &Value) -> Vec<(Vec<String>, Vec<Value>)> {
    let as_list = |value: &Value| match value {
        Value::Array(values) => values.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    };
    role["Properties"]["Policies"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|policy| {
            policy["PolicyDocument"]["Statement"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|statement| {
            let actions = as_list(&statement["Action"])
                .iter()
                .filter_map(|action| action.as_str().map(str::to_owned))
                .collect();
            (actions, as_list(&statement["Resource"]))
        })
        .collect()
}

/// Actions whose resource AWS cannot narrow (or narrows only by condition).
const NO_RESOURCE_LEVEL: &[&str] = &[
    "ec2:DescribeInstances",
    "ec2:RunInstances",
    "ec2:CreateTags",
    "elasticmapreduce:RunJobFlow",
    "elasticmapreduce:ListClusters",
];

#[test]
fn every_role_grants_what_its_functions_code_calls_and_nothing_else() {
    let template = template();
    let operations = operations();
    let resources = template["Resources"].as_object().unwrap();
    let mut problems = Vec::new();
    for (role_name, files) in function_code() {
        let role = &resources[role_name];
        let mut calls = BTreeSet::new();
        for (file, services) in &files {
            let mut found = calls_in(file, services, &operations);
            if let Some((_, setup)) = SETUP_ONLY.iter().find(|(setup_file, _)| setup_file == file) {
                found.retain(|call| !setup.contains(&call.as_str()));
            }
            assert!(!found.is_empty(), "{file}: no SDK call found; is the scan still right?");
            calls.extend(found);
        }
        let needed: BTreeSet<String> = calls.iter().flat_map(|call| actions_of(call)).collect();
        let granted: BTreeSet<String> = statements(role).into_iter().flat_map(|(actions, _)| actions).collect();
        let allowed: BTreeSet<String> = needed.union(&always(role_name)).cloned().collect();
        for action in granted.difference(&allowed) {
            problems.push(format!("{role_name} grants {action}, which its code never calls"));
        }
        for action in needed.difference(&granted) {
            problems.push(format!("{role_name} lacks {action}, which its code calls"));
        }
        for (actions, resources) in statements(role) {
            let wildcard = resources.iter().any(|resource| resource.as_str() == Some("*"));
            for action in actions
                .iter()
                .filter(|action| wildcard && !NO_RESOURCE_LEVEL.contains(&action.as_str()))
            {
                problems.push(format!(
                    "{role_name} grants {action} on every resource (\"*\"), where AWS allows a narrower one"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn operation_names_become_the_sdks_method_names() {
    assert_eq!(snake_case("DescribeDBInstances"), "describe_db_instances");
    assert_eq!(snake_case("ListObjectsV2"), "list_objects_v2");
    assert_eq!(snake_case("BatchWriteItem"), "batch_write_item");
    assert_eq!(snake_case("RunJobFlow"), "run_job_flow");
}

#[test]
fn a_grant_nothing_calls_and_a_wildcard_resource_are_caught() {
    // The check itself: a role that grants s3:DeleteObject on "*" fails on both counts
    let role = serde_json::json!({
        "Properties": {"Policies": [{"PolicyDocument": {"Statement": [
            {"Effect": "Allow", "Action": ["s3:DeleteObject"], "Resource": "*"}
        ]}}]}
    });
    let statements = statements(&role);
    assert_eq!(statements.len(), 1);
    let (actions, resources) = &statements[0];
    assert_eq!(actions, &["s3:DeleteObject".to_owned()]);
    assert_eq!(resources, &[Value::from("*")]);
    let operations = operations();
    let calls = calls_in("shared/src/runner/storage.rs", &["s3"], &operations);
    assert!(
        calls.contains("s3:GetObject") && !calls.contains("s3:DeleteObject"),
        "{calls:?}"
    );
}
