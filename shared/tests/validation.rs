//! Validation, rule by rule: each test writes a small definition with one mistake and
//! checks that the finding names the object, the field and what to do.

use serde_json::{Value, json};
use sluice::definition::{ParameterValue, Report, parameters::ValueSource, read_definition, validate::validate};

fn report_with(definition: Value, values: &[(&str, &str)]) -> Report {
    let loaded = read_definition(&definition.to_string()).expect("the test definition reads");
    let given: Vec<ParameterValue> = values
        .iter()
        .map(|(id, value)| ParameterValue {
            id: (*id).into(),
            value: (*value).into(),
        })
        .collect();
    let mut report = loaded.report;
    report.extend(
        validate(
            &loaded.definition,
            &[ValueSource {
                name: "--param",
                values: &given,
            }],
        )
        .report,
    );
    report
}

fn validated(definition: Value) -> Report {
    report_with(definition, &[])
}

/// A valid pipeline to break: Default, a daily schedule, a node and an activity.
fn pipeline(extra: Vec<Value>) -> Value {
    let mut objects = vec![
        json!({"id": "Default", "scheduleType": "cron", "schedule": {"ref": "Daily"}, "workerGroup": "wg"}),
        json!({"id": "Daily", "type": "Schedule", "period": "1 day", "startDateTime": "2026-01-01T00:00:00"}),
        json!({"id": "In", "type": "S3DataNode", "directoryPath": "s3://bucket/in/"}),
        json!({"id": "Work", "type": "ShellCommandActivity", "command": "echo hi", "input": {"ref": "In"}}),
    ];
    objects.extend(extra);
    json!({ "objects": objects })
}

/// Replaces the object with `id` (or adds it).
fn with(id: &str, object: Value) -> Value {
    let mut definition = pipeline(vec![]);
    let objects = definition["objects"].as_array_mut().unwrap();
    match objects.iter_mut().find(|existing| existing["id"] == id) {
        Some(existing) => *existing = object,
        None => objects.push(object),
    }
    definition
}

#[track_caller]
fn assert_error(report: &Report, id: Option<&str>, field: Option<&str>, text: &str) {
    let found = report
        .errors
        .iter()
        .any(|issue| issue.id.as_deref() == id && issue.field.as_deref() == field && issue.message.contains(text));
    assert!(
        found,
        "no error on {id:?}.{field:?} containing {text:?}; errors: {:#?}",
        report.errors
    );
}

#[track_caller]
fn assert_warning(report: &Report, id: Option<&str>, field: Option<&str>, text: &str) {
    let found = report
        .warnings
        .iter()
        .any(|issue| issue.id.as_deref() == id && issue.field.as_deref() == field && issue.message.contains(text));
    assert!(
        found,
        "no warning on {id:?}.{field:?} containing {text:?}; warnings: {:#?}",
        report.warnings
    );
}

#[test]
fn the_base_pipeline_is_valid() {
    let report = validated(pipeline(vec![]));
    assert!(report.errors.is_empty() && report.warnings.is_empty(), "{report:#?}");
}

#[test]
fn an_unknown_type_is_an_error_with_a_suggestion() {
    let report = validated(with(
        "In",
        json!({"id": "In", "type": "S3DateNode", "directoryPath": "s3://b/"}),
    ));
    assert_error(
        &report,
        Some("In"),
        Some("type"),
        "\"S3DateNode\" is not an AWS Data Pipeline object type; did you mean \"S3DataNode\"?",
    );
}

#[test]
fn an_object_without_a_type_is_an_error_unless_it_is_a_parent() {
    let report = validated(pipeline(vec![json!({"id": "Loose", "myNote": "x"})]));
    assert_error(&report, Some("Loose"), None, "has no \"type\"");
    let report = validated(pipeline(vec![
        json!({"id": "Template", "command": "echo template"}),
        json!({"id": "Child", "type": "ShellCommandActivity", "parent": {"ref": "Template"}}),
    ]));
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
}

#[test]
fn required_fields_of_each_type_are_checked_including_inherited_ones() {
    // An S3DataNode names its data
    let report = validated(with("In", json!({"id": "In", "type": "S3DataNode"})));
    assert_error(
        &report,
        Some("In"),
        None,
        "S3DataNode needs at least one of \"filePath\", \"directoryPath\" or \"manifestFilePath\"",
    );
    // A ShellCommandActivity has exactly one of command and scriptUri
    let report = validated(with("Work", json!({"id": "Work", "type": "ShellCommandActivity"})));
    assert_error(&report, Some("Work"), None, "needs one of \"command\" or \"scriptUri\"");
    let report = validated(with(
        "Work",
        json!({"id": "Work", "type": "ShellCommandActivity", "command": "a", "scriptUri": "s3://b/x.sh"}),
    ));
    assert_error(
        &report,
        Some("Work"),
        None,
        "takes exactly one of \"command\" or \"scriptUri\"",
    );
    // A required field may come from a parent
    let report = validated(pipeline(vec![
        json!({"id": "Roles", "role": "R", "resourceRole": "RR"}),
        json!({"id": "Box", "type": "Ec2Resource", "parent": {"ref": "Roles"}}),
        json!({"id": "NoRoles", "type": "Ec2Resource"}),
    ]));
    assert_error(
        &report,
        Some("NoRoles"),
        Some("role"),
        "Ec2Resource needs the field \"role\"",
    );
    assert!(
        !report.errors.iter().any(|issue| issue.id.as_deref() == Some("Box")),
        "{:#?}",
        report.errors
    );
}

#[test]
fn a_reference_to_a_missing_object_is_an_error_with_a_suggestion() {
    let report = validated(with(
        "Work",
        json!({"id": "Work", "type": "ShellCommandActivity", "command": "x", "input": {"ref": "Inn"}}),
    ));
    assert_error(
        &report,
        Some("Work"),
        Some("input"),
        "refers to \"Inn\", which does not exist; did you mean \"In\"?",
    );
}

#[test]
fn references_must_point_at_the_right_kind_of_object() {
    let cases = [
        ("schedule", "Box", "a Schedule"),
        ("runsOn", "In", "a resource"),
        ("input", "Daily", "a data node"),
        ("output", "Work2", "a data node"),
        ("precondition", "In", "a precondition"),
        ("onFail", "Daily", "an action"),
        ("onSuccess", "In", "an action"),
        ("onLateAction", "Box", "an action"),
        ("dependsOn", "Daily", "an activity"),
    ];
    for (field, target, wanted) in cases {
        let report = validated(pipeline(vec![
            json!({"id": "Box", "type": "Ec2Resource", "role": "R", "resourceRole": "RR"}),
            json!({"id": "Work2", "type": "ShellCommandActivity", "command": "x", field: {"ref": target}}),
        ]));
        assert_error(
            &report,
            Some("Work2"),
            Some(field),
            &format!("refers to \"{target}\", which is a"),
        );
        assert_error(&report, Some("Work2"), Some(field), wanted);
    }
    let report = validated(pipeline(vec![
        json!({"id": "Table", "type": "SqlDataNode", "table": "t", "database": {"ref": "In"}}),
        json!({"id": "Node", "type": "S3DataNode", "filePath": "s3://b/f", "dataFormat": {"ref": "Daily"}}),
    ]));
    assert_error(&report, Some("Table"), Some("database"), "must refer to a database");
    assert_error(&report, Some("Node"), Some("dataFormat"), "must refer to a data format");
}

#[test]
fn a_string_where_a_reference_belongs_is_an_error_that_shows_the_fix() {
    let report = validated(with(
        "Work",
        json!({"id": "Work", "type": "ShellCommandActivity", "command": "x", "input": "In"}),
    ));
    assert_error(&report, Some("Work"), Some("input"), "write {\"ref\": \"In\"}");
}

#[test]
fn a_dependency_cycle_is_an_error_naming_the_cycle() {
    let report = validated(pipeline(vec![
        json!({"id": "A", "type": "ShellCommandActivity", "command": "a", "dependsOn": {"ref": "B"}}),
        json!({"id": "B", "type": "ShellCommandActivity", "command": "b", "dependsOn": {"ref": "C"}}),
        json!({"id": "C", "type": "ShellCommandActivity", "command": "c", "dependsOn": {"ref": "A"}}),
    ]));
    assert_error(&report, Some("A"), None, "dependency cycle A → B → C → A");
    // Through data: an activity that reads its own output waits for itself
    let report = validated(pipeline(vec![
        json!({
            "id": "Loop", "type": "ShellCommandActivity", "command": "x", "input": {"ref": "Out"}, "output": {"ref": "Out"}
        }),
        json!({"id": "Out", "type": "S3DataNode", "filePath": "s3://b/o"}),
    ]));
    assert_error(&report, Some("Loop"), None, "dependency cycle Loop → Out → Loop");
}

#[test]
fn a_parent_cycle_is_an_error() {
    let report = validated(pipeline(vec![
        json!({"id": "P1", "parent": {"ref": "P2"}}),
        json!({"id": "P2", "parent": {"ref": "P1"}}),
    ]));
    assert_error(&report, Some("P1"), Some("parent"), "parent cycle P1 → P2 → P1");
}

#[test]
fn duplicate_ids_are_an_error() {
    let report = validated(pipeline(vec![
        json!({"id": "In", "type": "S3DataNode", "filePath": "s3://b/x"}),
    ]));
    assert_error(&report, Some("In"), None, "used by more than one object");
}

#[test]
fn schedules_are_checked_field_by_field() {
    let schedule = |fields: Value| {
        let mut object = json!({"id": "Daily", "type": "Schedule"});
        object
            .as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        validated(with("Daily", object))
    };
    let report = schedule(json!({"period": "1 fortnight", "startDateTime": "2026-01-01T00:00:00"}));
    assert_error(&report, Some("Daily"), Some("period"), "15 minutes");
    let report = schedule(json!({"period": "1 day", "startDateTime": "2026-01-01 00:00:00"}));
    assert_error(&report, Some("Daily"), Some("startDateTime"), "YYYY-MM-DDTHH:MM:SS");
    let report = schedule(json!({"period": "1 day"}));
    assert_error(&report, Some("Daily"), None, "startDateTime");
    let report = schedule(
        json!({"period": "1 day", "startDateTime": "2026-01-01T00:00:00", "startAt": "FIRST_ACTIVATION_DATE_TIME"}),
    );
    assert!(report.errored(), "both starts: {report:#?}");
    // Sluice runs periods down to a minute; AWS refused anything under 15
    let report = schedule(json!({"period": "5 minutes", "startDateTime": "2026-01-01T00:00:00"}));
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    assert_warning(
        &report,
        Some("Daily"),
        Some("period"),
        "shorter than AWS Data Pipeline's minimum of 15 minutes",
    );
}

#[test]
fn schedule_types_are_checked_and_ondemand_belongs_on_default() {
    let report = validated(with(
        "Default",
        json!({"id": "Default", "scheduleType": "hourly", "schedule": {"ref": "Daily"}, "workerGroup": "wg"}),
    ));
    assert_error(&report, Some("Default"), Some("scheduleType"), "cron");
    let report = validated(with(
        "Work",
        json!({"id": "Work", "type": "ShellCommandActivity", "command": "x", "scheduleType": "ondemand"}),
    ));
    assert_error(&report, Some("Work"), Some("scheduleType"), "Default object only");
    // An on-demand pipeline needs no schedule, and must have no other scheduleType
    let report = validated(json!({"objects": [
        {"id": "Default", "scheduleType": "ONDEMAND", "workerGroup": "wg"},
        {"id": "Work", "type": "ShellCommandActivity", "command": "x"},
        {"id": "Other", "type": "ShellCommandActivity", "command": "y", "scheduleType": "cron"},
    ]}));
    assert_error(&report, Some("Other"), Some("scheduleType"), "on-demand");
    assert!(
        !report.errors.iter().any(|issue| issue.id.as_deref() == Some("Work")),
        "{:#?}",
        report.errors
    );
}

#[test]
fn a_runnable_object_without_a_schedule_is_an_error() {
    let report = validated(json!({"objects": [
        {"id": "Default", "workerGroup": "wg"},
        {"id": "Work", "type": "ShellCommandActivity", "command": "x"},
    ]}));
    assert_error(&report, Some("Work"), None, "has no schedule");
}

#[test]
fn expressions_that_do_not_parse_or_call_unknown_functions_are_errors_with_columns() {
    let report = validated(with(
        "Work",
        json!({"id": "Work", "type": "ShellCommandActivity", "command": "echo #{format(@scheduledStartTime, 'YYYY'"}),
    ));
    assert_error(&report, Some("Work"), Some("command"), "expression error at column");
    let report = validated(with(
        "Work",
        json!({"id": "Work", "type": "ShellCommandActivity", "command": "echo #{formatt(@scheduledStartTime, 'YYYY')}"}),
    ));
    assert_error(&report, Some("Work"), Some("command"), "did you mean \"format\"");
}

#[test]
fn references_inside_expressions_must_name_something() {
    let report = validated(with(
        "Work",
        json!({
            "id": "Work", "type": "ShellCommandActivity", "input": {"ref": "In"},
            "command": "cp #{input.directoryPat} #{@scheduledStartTim} #{nmae}"
        }),
    ));
    assert_error(
        &report,
        Some("Work"),
        Some("command"),
        "\"input\" refers to \"In\", which has no field \"directoryPat\"; did you mean \"directoryPath\"?",
    );
    assert_error(
        &report,
        Some("Work"),
        Some("command"),
        "@scheduledStartTim is not a runtime field; did you mean \"@scheduledStartTime\"?",
    );
    assert_error(
        &report,
        Some("Work"),
        Some("command"),
        "\"nmae\" is neither a field of this object nor a parameter; did you mean \"name\"?",
    );
    // node is for preconditions and actions only
    let report = validated(with(
        "Work",
        json!({"id": "Work", "type": "ShellCommandActivity", "command": "#{node.name}"}),
    ));
    assert_error(
        &report,
        Some("Work"),
        Some("command"),
        "`node` is only defined inside a precondition or an action",
    );
    let report = validated(pipeline(vec![json!({
        "id": "Ready", "type": "S3KeyExists", "role": "R", "s3Key": "#{node.directoryPath}/_SUCCESS"
    })]));
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
}

#[test]
fn an_undeclared_my_reference_is_a_warning_since_activation_may_supply_it() {
    let report = validated(with(
        "Work",
        json!({"id": "Work", "type": "ShellCommandActivity", "command": "echo #{myGreeting}"}),
    ));
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    assert_warning(&report, Some("Work"), Some("command"), "--param myGreeting=");
}

#[test]
fn typed_fields_are_checked_also_when_a_parameter_fills_them() {
    let definition = |value: &str| {
        json!({
            "objects": [
                {"id": "Default", "scheduleType": "cron", "schedule": {"ref": "Daily"}},
                {"id": "Daily", "type": "Schedule", "period": "1 day", "startDateTime": "2026-01-01T00:00:00"},
                {"id": "Box", "type": "Ec2Resource", "role": "R", "resourceRole": "RR",
                 "terminateAfter": "#{myTerminateAfter}", "maximumRetries": "three",
                 "associatePublicIpAddress": "yes", "actionOnResourceFailure": "retryAl"},
            ],
            "parameters": [{"id": "myTerminateAfter", "type": "String", "default": value}],
        })
    };
    let report = validated(definition("2 hours"));
    assert!(
        !report
            .errors
            .iter()
            .any(|issue| issue.field.as_deref() == Some("terminateAfter")),
        "{:#?}",
        report.errors
    );
    assert_error(
        &report,
        Some("Box"),
        Some("maximumRetries"),
        "\"three\" is not a whole number",
    );
    assert_error(
        &report,
        Some("Box"),
        Some("associatePublicIpAddress"),
        "\"yes\" is not a boolean",
    );
    assert_error(
        &report,
        Some("Box"),
        Some("actionOnResourceFailure"),
        "did you mean \"retryall\"?",
    );
    let report = report_with(definition("2 hours"), &[]);
    assert!(
        !report
            .errors
            .iter()
            .any(|issue| issue.field.as_deref() == Some("terminateAfter"))
    );
    let report = validated(definition("two hours"));
    assert_error(
        &report,
        Some("Box"),
        Some("terminateAfter"),
        "\"two hours\" is not a period",
    );
}

#[test]
fn enumerations_match_without_regard_to_case_as_aws_did() {
    let report = validated(with(
        "Default",
        json!({"id": "Default", "scheduleType": "CRON", "schedule": {"ref": "Daily"}, "workerGroup": "wg",
               "failureAndRerunMode": "CASCADE"}),
    ));
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
}

#[test]
fn sluice_extensions_and_aws_limits_are_warnings() {
    let report = validated(with(
        "Work",
        json!({"id": "Work", "type": "ShellCommandActivity", "command": "x", "retryDelay": "30 fortnights"}),
    ));
    assert_error(&report, Some("Work"), Some("retryDelay"), "not a period");
    // Seconds are Sluice's, for waits: AWS had no such unit and a 2-minute floor
    let report = validated(with(
        "Work",
        json!({"id": "Work", "type": "ShellCommandActivity", "command": "x", "retryDelay": "30 seconds"}),
    ));
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    assert_warning(&report, Some("Work"), Some("retryDelay"), "2-minute minimum");
    // A schedule still steps by a minute at least
    let report = validated(json!({"objects": [
        {"id": "Default", "scheduleType": "cron", "schedule": {"ref": "Often"}, "workerGroup": "wg"},
        {"id": "Often", "type": "Schedule", "period": "30 seconds", "startAt": "FIRST_ACTIVATION_DATE_TIME"},
        {"id": "Work", "type": "ShellCommandActivity", "command": "x"}
    ]}));
    assert_error(&report, Some("Often"), Some("period"), "at most once a minute");
    let report = validated(pipeline(vec![json!({
        "id": "Eager", "type": "ShellCommandActivity", "command": "x",
        "retryDelay": "1 minute", "maximumRetries": "10", "filepath": "s3://b/x"
    })]));
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    assert_warning(&report, Some("Eager"), Some("retryDelay"), "2-minute minimum");
    assert_warning(&report, Some("Eager"), Some("maximumRetries"), "AWS allows at most 5");
    assert_warning(
        &report,
        Some("Eager"),
        Some("filepath"),
        "ShellCommandActivity has no field \"filepath\"",
    );
    // An activity with no runner runs inside Sluice's activities function
    let report = validated(json!({"objects": [
        {"id": "Default", "scheduleType": "cron", "schedule": {"ref": "Daily"}},
        {"id": "Daily", "type": "Schedule", "period": "1 day", "startDateTime": "2026-01-01T00:00:00"},
        {"id": "In", "type": "S3DataNode", "directoryPath": "s3://b/in/"},
        {"id": "Out", "type": "S3DataNode", "directoryPath": "s3://b/out/"},
        {"id": "Copy", "type": "CopyActivity", "input": {"ref": "In"}, "output": {"ref": "Out"}},
    ]}));
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    assert_warning(&report, Some("Copy"), None, "neither \"runsOn\" nor \"workerGroup\"");
}

#[test]
fn aws_size_limits_are_warnings() {
    let mut many: Vec<Value> = (0..100)
        .map(|index| json!({"id": format!("Node{index}"), "type": "S3DataNode", "filePath": "s3://b/x"}))
        .collect();
    let mut wide = serde_json::Map::new();
    wide.insert("id".into(), json!("Wide"));
    wide.insert("type".into(), json!("S3DataNode"));
    wide.insert("filePath".into(), json!("s3://b/".to_owned() + &"x".repeat(15_400)));
    for index in 0..50 {
        wide.insert(format!("myField{index}"), json!("v"));
    }
    many.push(Value::Object(wide));
    let report = validated(pipeline(many));
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    assert_warning(&report, None, None, "AWS allows at most 100 per pipeline");
    assert_warning(&report, Some("Wide"), None, "AWS allows 50 per object");
    assert_warning(&report, Some("Wide"), Some("filePath"), "AWS allows 10240 per field");
    assert_warning(&report, Some("Wide"), None, "AWS allows 15360 per object");
}

#[test]
fn parameter_problems_name_the_parameter() {
    let definition = json!({
        "objects": [{"id": "Default", "scheduleType": "ondemand", "workerGroup": "#{myGroup}"},
                    {"id": "Work", "type": "ShellCommandActivity", "command": "sleep #{mySeconds}"}],
        "parameters": [
            {"id": "myGroup", "type": "String", "allowedValues": ["blue", "green"]},
            {"id": "mySeconds", "type": "Integer"},
        ],
    });
    let report = report_with(definition.clone(), &[("myGroup", "red"), ("mySeconds", "ten")]);
    assert_error(
        &report,
        Some("myGroup"),
        None,
        "\"red\" is not one of the allowed values: blue, green",
    );
    assert_error(&report, Some("mySeconds"), None, "\"ten\" is not an Integer");
    let report = report_with(definition, &[("myGroup", "blue")]);
    assert_error(&report, Some("mySeconds"), None, "required and has no value");
}

#[test]
fn secret_values_never_appear_in_findings() {
    let report = report_with(
        json!({
            "objects": [
                {"id": "Default", "scheduleType": "ondemand", "workerGroup": "wg"},
                {"id": "Db", "type": "JdbcDatabase", "connectionString": "jdbc:x", "jdbcDriverClass": "D",
                 "username": "u", "*password": {"ref": "hunter2"}},
                {"id": "Box", "type": "Ec2Resource", "role": "R", "resourceRole": "RR",
                 "maximumRetries": "#{*myRetries}"},
            ],
            "parameters": [{"id": "*myRetries", "type": "String"}],
        }),
        &[("*myRetries", "s3cr3t")],
    );
    let everything = format!("{report:?}");
    assert!(!everything.contains("s3cr3t"), "{everything}");
    assert_error(
        &report,
        Some("Box"),
        Some("maximumRetries"),
        "the value is not a whole number",
    );
}

#[test]
fn a_dynamodb_data_node_cannot_use_the_exists_precondition() {
    let report = validated(pipeline(vec![
        json!({"id": "There", "type": "Exists"}),
        json!({"id": "Table", "type": "DynamoDBDataNode", "tableName": "t", "precondition": {"ref": "There"}}),
    ]));
    assert_error(
        &report,
        Some("Table"),
        Some("precondition"),
        "use DynamoDBTableExists or DynamoDBDataExists",
    );
}

#[test]
fn objects_without_a_schedule_type_get_one_warning_saying_where_they_run() {
    let report = validated(json!({"objects": [
        {"id": "Default", "schedule": {"ref": "Daily"}, "workerGroup": "wg"},
        {"id": "Daily", "type": "Schedule", "period": "1 day", "startDateTime": "2026-01-01T00:00:00"},
        {"id": "A", "type": "ShellCommandActivity", "command": "a"},
        {"id": "B", "type": "ShellCommandActivity", "command": "b"},
    ]}));
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    assert_warning(
        &report,
        None,
        None,
        "2 objects (A, ...) set no scheduleType: Sluice runs them at the end of each interval",
    );
}

#[test]
fn values_read_from_secrets_are_never_quoted_whatever_the_path() {
    // Given a secret parameter and a secret field, read into fields that reject them
    let definition = json!({
        "objects": [
            {"id": "Default", "scheduleType": "cron", "schedule": {"ref": "Daily"}, "workerGroup": "wg"},
            {"id": "Daily", "type": "Schedule", "period": "#{*myPassword}", "startDateTime": "2026-01-01T00:00:00"},
            {"id": "Later", "type": "Schedule", "period": "1 day", "startDateTime": "#{myPassword}"},
            {"id": "Db", "type": "JdbcDatabase", "connectionString": "jdbc:x", "jdbcDriverClass": "D",
             "username": "u", "*password": "hunter2"},
            {"id": "Work", "type": "ShellCommandActivity", "command": "x", "myDb": {"ref": "Db"},
             "maximumRetries": "#{myPassword}", "attemptTimeout": "#{ *myPassword}",
             "lateAfterTimeout": "#{myDb.*password}", "schedule": {"ref": "Later"}},
            {"id": "Secretive", "type": "JdbcDatabase", "connectionString": "jdbc:x", "jdbcDriverClass": "D",
             "username": "u", "*password": "#{hunter2}", "*token": "x#{hunter2 y}", "*pin": 987654},
        ],
        "parameters": [{"id": "*myPassword", "type": "String"}],
    });
    // When it is validated
    let report = report_with(definition, &[("*myPassword", "s3cr3t-value")]);
    // Then every mistake is reported, and no secret appears anywhere
    let everything = format!("{report:?}");
    for secret in ["s3cr3t-value", "hunter2", "987654"] {
        assert!(!everything.contains(secret), "{secret} leaked: {everything}");
    }
    assert_error(
        &report,
        Some("Work"),
        Some("maximumRetries"),
        "the value is not a whole number",
    );
    assert_error(
        &report,
        Some("Work"),
        Some("attemptTimeout"),
        "the value is not a period",
    );
    assert_error(
        &report,
        Some("Work"),
        Some("lateAfterTimeout"),
        "the value is not a period",
    );
    assert_error(&report, Some("Daily"), Some("period"), "comes from a secret");
    assert_error(&report, Some("Later"), Some("startDateTime"), "comes from a secret");
    assert_error(&report, Some("Secretive"), Some("*token"), "expression error at column");
}

#[test]
fn a_secret_field_of_ones_own_is_kept_without_a_warning_and_an_unknown_secret_is_flagged() {
    let report = validated(with(
        "Work",
        json!({"id": "Work", "type": "ShellCommandActivity", "command": "echo hi", "*myToken": "s3cr3t",
               "*passwrd": "x"}),
    ));
    assert!(
        !report
            .warnings
            .iter()
            .any(|issue| issue.field.as_deref() == Some("*myToken")),
        "{report:#?}"
    );
    assert_warning(&report, Some("Work"), Some("*passwrd"), "has no field \"*passwrd\"");
    assert!(!format!("{report:?}").contains("s3cr3t"), "the secret is never quoted");
}

#[test]
fn work_that_has_no_emr_step_form_is_warned_about_on_an_emr_cluster() {
    let report = validated(pipeline(vec![
        json!({"id": "Cluster", "type": "EmrCluster"}),
        json!({"id": "Out", "type": "S3DataNode", "directoryPath": "s3://bucket/out/"}),
        json!({"id": "Copy", "type": "CopyActivity", "input": {"ref": "In"}, "output": {"ref": "Out"},
               "runsOn": {"ref": "Cluster"}}),
        json!({"id": "Step", "type": "EmrActivity", "step": "command-runner.jar,echo,hi", "runsOn": {"ref": "Cluster"}}),
    ]));
    assert_warning(
        &report,
        Some("Copy"),
        Some("runsOn"),
        "CopyActivity runs on an EmrCluster, where Sluice runs EMR steps only",
    );
    assert!(
        !report.warnings.iter().any(|issue| issue.id.as_deref() == Some("Step")),
        "{:?}",
        report.warnings
    );
}
