//! What a definition must respect for Sluice to run it: its ids and worker groups become
//! parts of DynamoDB keys (at most 2048 bytes of partition key and 1024 of sort key, in
//! the table and in the `due` index), and what one step writes together must fit in one
//! transaction (100 items). Checked at validation, so a definition that would be refused
//! by the run table mid-run is refused before it is saved, naming the object and field.

use super::{inherit::Inheritance, issue::Issue, model::FieldValue};
use crate::store::{MAX_PK_BYTES, MAX_SK_BYTES, keys};

/// AWS Data Pipeline's limit on an identifier (not adjustable), which Sluice keeps: ids
/// are parts of run-record keys.
pub const ID_BYTES: usize = 256;
/// The longest worker group a runner can ask for work of (PollForTask's `workerGroup`).
pub const WORKER_GROUP_BYTES: usize = 1024;
/// The most preconditions one object may have: an instance's checks start together, in
/// one transaction with the instance (100 writes at most).
pub const PRECONDITIONS_PER_OBJECT: usize = 50;
/// The longest pipeline id the key budget allows for (Sluice makes ids of 23 bytes).
const PIPELINE_ID_BYTES: usize = 64;
/// `<15-digit time>#` before the item's key in a `due` index sort key.
const DUE_SORT_KEY_OVERHEAD: usize = 16;
/// `#YYYY-MM-DDTHH:MM:SS#0001` after a component id in an attempt's sort key.
const SCHEDULED_ATTEMPT_SUFFIX: usize = 25;

/// Errors for every object whose ids or worker group cannot be run-record keys.
pub fn errors(inheritance: &Inheritance<'_>) -> Vec<Issue> {
    let definition = inheritance.definition();
    let mut issues = Vec::new();
    for (index, object) in definition.objects.iter().enumerate() {
        if object.id.len() > ID_BYTES {
            issues.push(Issue::object(
                &object.id,
                format!(
                    "the id is {} bytes (UTF-8); ids are at most {ID_BYTES} bytes, as in AWS Data Pipeline",
                    object.id.len()
                ),
            ));
            continue;
        }
        let preconditions: Vec<&str> = inheritance
            .values(index, "precondition")
            .into_iter()
            .map(|value| match value {
                FieldValue::Ref(id) | FieldValue::String(id) => id.as_str(),
            })
            .collect();
        if preconditions.len() > PRECONDITIONS_PER_OBJECT {
            issues.push(Issue::field(
                &object.id,
                "precondition",
                format!(
                    "{} preconditions; Sluice checks at most {PRECONDITIONS_PER_OBJECT} on one object (they start \
                     together): gate the object on a data node or an upstream activity that holds the rest",
                    preconditions.len()
                ),
            ));
        }
        // The longest key the object's runs make: a precondition check's sort key names
        // both ids, and the `due` index's sort key holds the whole item key.
        let component = keys::escape(&object.id).len();
        let longest_precondition = preconditions
            .iter()
            .map(|id| keys::escape(id).len() + 1)
            .max()
            .unwrap_or(0);
        let sort_key = "PRECHECK#".len() + component + SCHEDULED_ATTEMPT_SUFFIX + longest_precondition;
        let due_sort_key = DUE_SORT_KEY_OVERHEAD + "PIPELINE#".len() + PIPELINE_ID_BYTES + 1 + sort_key;
        if sort_key > MAX_SK_BYTES || due_sort_key > MAX_SK_BYTES {
            issues.push(Issue::object(
                &object.id,
                format!(
                    "its run records' keys would be {due_sort_key} bytes with its preconditions' ids ('#' and '%' \
                     count three bytes each); DynamoDB allows {MAX_SK_BYTES}: shorten the ids"
                ),
            ));
        }
        if let Some(group) = inheritance.string(index, "workerGroup") {
            let queue = "runner#".len() + keys::escape(group).len();
            if group.len() > WORKER_GROUP_BYTES || queue > MAX_PK_BYTES {
                issues.push(Issue::field(
                    &object.id,
                    "workerGroup",
                    format!(
                        "the worker group is {} bytes (UTF-8); a runner can ask for the work of a worker group \
                         of at most {WORKER_GROUP_BYTES} bytes (PollForTask's limit)",
                        group.len()
                    ),
                ));
            }
        }
    }
    issues
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::read_definition;

    fn errors_of(objects: serde_json::Value) -> Vec<Issue> {
        let definition = read_definition(&serde_json::json!({ "objects": objects }).to_string())
            .unwrap()
            .definition;
        let (inheritance, _) = Inheritance::new(&definition);
        errors(&inheritance)
    }

    #[test]
    fn ids_and_worker_groups_are_measured_in_bytes() {
        // Given an id of 100 four-byte characters (400 bytes) and a worker group of 300
        // three-byte characters (900 bytes, allowed) on a Default that 400 more exceed
        let long_id = "𝄞".repeat(100);
        let issues = errors_of(serde_json::json!([
            {"id": "Default", "workerGroup": "€".repeat(300)},
            {"id": long_id, "type": "ShellCommandActivity", "command": "true"},
            {"id": "Wide", "type": "ShellCommandActivity", "command": "true", "workerGroup": "€".repeat(400)},
        ]));
        // Then the id and the 1,200-byte worker group are errors, each named
        let messages: Vec<(String, Option<String>, String)> = issues
            .iter()
            .map(|issue| {
                (
                    issue.id.clone().unwrap_or_default(),
                    issue.field.clone(),
                    issue.message.clone(),
                )
            })
            .collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert_eq!(messages[0].0, long_id);
        assert!(
            messages[0].2.starts_with("the id is 400 bytes (UTF-8)"),
            "{}",
            messages[0].2
        );
        assert_eq!(messages[1].0, "Wide");
        assert_eq!(messages[1].1.as_deref(), Some("workerGroup"));
        assert!(
            messages[1].2.starts_with("the worker group is 1200 bytes"),
            "{}",
            messages[1].2
        );
    }

    #[test]
    fn too_many_preconditions_and_keys_too_long_with_them_are_refused() {
        // Given an activity with 51 preconditions, and one whose 250-byte id of '#'s and its
        // precondition's make a check's key longer than DynamoDB's sort key
        let mut objects = vec![serde_json::json!({"id": "P", "type": "Exists"})];
        let many: Vec<serde_json::Value> = (0..51).map(|_| serde_json::json!({"ref": "P"})).collect();
        objects.push(
            serde_json::json!({"id": "Gated", "type": "ShellCommandActivity", "command": "true",
                                        "precondition": many}),
        );
        let hashes = "#".repeat(250);
        objects.push(serde_json::json!({"id": hashes.clone(), "type": "Exists"}));
        objects.push(
            serde_json::json!({"id": format!("A{hashes}"), "type": "ShellCommandActivity",
                                        "command": "true", "precondition": {"ref": hashes}}),
        );
        let issues = errors_of(serde_json::Value::Array(objects));
        assert_eq!(issues.len(), 2, "{issues:?}");
        assert_eq!(issues[0].id.as_deref(), Some("Gated"));
        assert!(
            issues[0]
                .message
                .starts_with("51 preconditions; Sluice checks at most 50")
        );
        assert!(
            issues[1].message.contains("DynamoDB allows 1024"),
            "{}",
            issues[1].message
        );
    }
}
