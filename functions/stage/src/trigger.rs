//! What woke a stage function: an EventBridge scheduled event (the minute tick) or a
//! DynamoDB Streams batch, read record by record. A record that cannot be read, or one
//! delivered twice in the batch, carries why it is skipped, and the rest of the batch goes
//! on; an event of neither kind wakes nothing and says so.

use std::collections::HashSet;

use serde_json::Value;
use sluice::{engine::wake::Change, store::stream::change_from_json};

/// What an event asks of a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Woken {
    /// The minute schedule.
    Tick,
    /// A DynamoDB Streams batch, its records in stream order.
    Batch(Vec<Record>),
    /// Neither: nothing to do, and why.
    Nothing(String),
}

/// One record of a stream batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its place in the batch, from 0.
    pub index: usize,
    /// `dynamodb.SequenceNumber`: what a partial batch response names it by.
    pub sequence_number: Option<String>,
    /// The change it records, or why it is skipped (it can never be read, or it came twice).
    pub change: Result<Change, String>,
    /// The item's keys as the record gives them, for log lines about it.
    keys: String,
}

impl Record {
    /// The record for a log line: `record 1 (sequence number 202, keys {"id":{"N":"7"}})`.
    pub fn label(&self) -> String {
        let sequence = self.sequence_number.as_deref().unwrap_or("none");
        format!("record {} (sequence number {sequence}, keys {})", self.index, self.keys)
    }
}

/// The first characters of some JSON, for a message about it.
fn excerpt(value: &Value, chars: usize) -> String {
    let text = value.to_string();
    match text.char_indices().nth(chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

pub fn read(event: &Value) -> Woken {
    if let Some(records) = event.get("Records").and_then(Value::as_array) {
        let mut seen = HashSet::new();
        let records = records
            .iter()
            .enumerate()
            .map(|(index, record)| Record {
                index,
                sequence_number: record["dynamodb"]["SequenceNumber"].as_str().map(str::to_owned),
                change: change_of(record, &mut seen),
                keys: excerpt(&record["dynamodb"]["Keys"], 300),
            })
            .collect();
        return Woken::Batch(records);
    }
    let scheduled = event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
        || matches!(
            event.get("source").and_then(Value::as_str),
            Some("aws.events" | "aws.scheduler")
        );
    if scheduled {
        return Woken::Tick;
    }
    Woken::Nothing(format!(
        "the event is neither an EventBridge scheduled event nor a DynamoDB Streams batch, so it wakes nothing: {}",
        excerpt(event, 200)
    ))
}

/// The change a record gives, or why it is skipped.
fn change_of(record: &Value, seen: &mut HashSet<String>) -> Result<Change, String> {
    if let Some(source) = record.get("eventSource").and_then(Value::as_str)
        && source != "aws:dynamodb"
    {
        return Err(format!("from {source}, not a DynamoDB stream"));
    }
    if let Some(id) = record.get("eventID").and_then(Value::as_str)
        && !seen.insert(id.to_owned())
    {
        return Err(format!("eventID {id} delivered twice in the batch"));
    }
    change_from_json(record)
}
