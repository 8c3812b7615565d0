//! What woke a stage function: an EventBridge scheduled event (the minute tick) or a
//! DynamoDB Streams batch. A stream record that cannot be read, or one delivered twice in
//! the batch, is skipped with its cause and the rest of the batch goes on; an event of
//! neither kind wakes nothing and says so.

use std::collections::HashSet;

use serde_json::Value;
use sluice::{stages::Trigger, store::stream::change_from_json};

/// A trigger, and what was skipped on the way, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub trigger: Option<Trigger>,
    pub skipped: Vec<String>,
}

/// The first characters of an event, for a message about it.
fn excerpt(event: &Value) -> String {
    let text = event.to_string();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

pub fn read(event: &Value) -> Read {
    if let Some(records) = event.get("Records").and_then(Value::as_array) {
        let mut seen = HashSet::new();
        let mut changes = Vec::new();
        let mut skipped = Vec::new();
        for (index, record) in records.iter().enumerate() {
            if let Some(source) = record.get("eventSource").and_then(Value::as_str)
                && source != "aws:dynamodb"
            {
                skipped.push(format!("record {index}: from {source}, not a DynamoDB stream: skipped"));
                continue;
            }
            if let Some(id) = record.get("eventID").and_then(Value::as_str)
                && !seen.insert(id.to_owned())
            {
                skipped.push(format!(
                    "record {index}: eventID {id} delivered twice in the batch: skipped"
                ));
                continue;
            }
            match change_from_json(record) {
                Ok(change) => changes.push(change),
                Err(problem) => skipped.push(format!("record {index}: {problem}: skipped")),
            }
        }
        return Read {
            trigger: Some(Trigger::Changes(changes)),
            skipped,
        };
    }
    let scheduled = event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
        || matches!(
            event.get("source").and_then(Value::as_str),
            Some("aws.events" | "aws.scheduler")
        );
    if scheduled {
        return Read {
            trigger: Some(Trigger::Tick),
            skipped: Vec::new(),
        };
    }
    Read {
        trigger: None,
        skipped: vec![format!(
            "the event is neither an EventBridge scheduled event nor a DynamoDB Streams batch, so it wakes \
             nothing: {}",
            excerpt(event)
        )],
    }
}
