//! A definition with every kind of secret value: a `*password` field, a secret parameter
//! (`*myToken`, default `d3fault`) that a command uses, for the sealing tests.

use serde_json::{Value, json};

/// The PutPipelineDefinition body for `pipeline_id`.
pub fn definition_with_secrets(pipeline_id: &str) -> Value {
    let field = |key: &str, value: &str| json!({"key": key, "stringValue": value});
    json!({"pipelineId": pipeline_id,
        "pipelineObjects": [
            {"id": "Default", "name": "Default", "fields": [
                field("scheduleType", "ondemand"), field("workerGroup", "wg")]},
            {"id": "Db", "name": "Db", "fields": [
                field("type", "JdbcDatabase"), field("connectionString", "jdbc:postgresql://db/x"),
                field("jdbcDriverClass", "org.postgresql.Driver"), field("username", "etl"),
                field("*password", "hunter2")]},
            {"id": "Say", "name": "Say", "fields": [
                field("type", "ShellCommandActivity"), field("command", "echo #{*myToken}")]}],
        "parameterObjects": [{"id": "*myToken", "attributes": [
            {"key": "type", "stringValue": "String"}, {"key": "default", "stringValue": "d3fault"}]}]})
}
