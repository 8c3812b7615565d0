//! The run table's DynamoDB stream, read as [`Change`]s: from a Lambda event's JSON
//! records, or from the DynamoDB Streams API (how `sluice dev` and the tests read moto's
//! stream, which nothing pushes). Only the keys, the `status` attribute and the work queue
//! matter; a record without keys is poison and is returned as an error naming it, never a panic.

use aws_sdk_dynamodbstreams::{
    Client,
    types::{AttributeValue, OperationType, Record, ShardIteratorType},
};
use serde_json::Value;

use super::{Key, StoreError};
use crate::engine::wake::{Change, ChangeKind};

const PK: &str = "pk";
const SK: &str = "sk";
const STATUS: &str = "status";
const DUE_PK: &str = "due_pk";

/// Reads one record of a DynamoDB Streams event (`Records[i]` of the Lambda event).
pub fn change_from_json(record: &Value) -> Result<Change, String> {
    let id = record["eventID"].as_str().unwrap_or("without an eventID");
    let kind = match record["eventName"].as_str() {
        Some("INSERT") => ChangeKind::Insert,
        Some("MODIFY") => ChangeKind::Modify,
        Some("REMOVE") => ChangeKind::Remove,
        Some(other) => {
            return Err(format!(
                "record {id}: eventName \"{other}\" is not INSERT, MODIFY or REMOVE"
            ));
        }
        None => return Err(format!("record {id}: no eventName")),
    };
    let stream = &record["dynamodb"];
    let string = |image: &Value, name: &str| image[name]["S"].as_str().map(str::to_owned);
    let keys = &stream["Keys"];
    let (Some(pk), Some(sk)) = (string(keys, PK), string(keys, SK)) else {
        return Err(format!("record {id}: its Keys have no string \"{PK}\" and \"{SK}\""));
    };
    Ok(Change {
        kind,
        key: Key::new(pk, sk),
        old_status: string(&stream["OldImage"], STATUS),
        new_status: string(&stream["NewImage"], STATUS),
        new_queue: string(&stream["NewImage"], DUE_PK),
    })
}

/// Reads one record from the DynamoDB Streams API.
pub fn change_from_record(record: &Record) -> Result<Change, String> {
    let id = record.event_id().unwrap_or("without an eventID");
    let kind = match record.event_name() {
        Some(OperationType::Insert) => ChangeKind::Insert,
        Some(OperationType::Modify) => ChangeKind::Modify,
        Some(OperationType::Remove) => ChangeKind::Remove,
        other => {
            return Err(format!(
                "record {id}: eventName {other:?} is not INSERT, MODIFY or REMOVE"
            ));
        }
    };
    let stream = record
        .dynamodb()
        .ok_or_else(|| format!("record {id}: no dynamodb section"))?;
    let string = |image: Option<&std::collections::HashMap<String, AttributeValue>>, name: &str| {
        image
            .and_then(|image| image.get(name))
            .and_then(|value| value.as_s().ok())
            .cloned()
    };
    let (Some(pk), Some(sk)) = (string(stream.keys(), PK), string(stream.keys(), SK)) else {
        return Err(format!("record {id}: its Keys have no string \"{PK}\" and \"{SK}\""));
    };
    Ok(Change {
        kind,
        key: Key::new(pk, sk),
        old_status: string(stream.old_image(), STATUS),
        new_status: string(stream.new_image(), STATUS),
        new_queue: string(stream.new_image(), DUE_PK),
    })
}

/// How a [`StreamReader`] keeps its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// Each read continues from the iterator the last one returned: DynamoDB's way.
    Iterators,
    /// Each read asks for a fresh iterator `lookback` records before the last one seen and
    /// drops records already delivered. moto needs it: a cancelled transaction restores a
    /// copy of the whole table, stream included, which orphans open iterators and hands out
    /// sequence numbers again.
    Reopen { lookback: u32 },
}

/// Event ids remembered to drop records delivered before.
const SEEN: usize = 20_000;

/// One shard's place.
struct Place {
    shard_id: String,
    /// The shard's first sequence number: a look back never goes before it.
    first_sequence: Option<u128>,
    iterator: Option<String>,
    last_sequence: Option<String>,
}

/// A reader of a table's stream from its latest position, shard by shard, as Lambda's
/// event-source mapping would: each [`StreamReader::next_batch`] returns what arrived
/// since the last call.
pub struct StreamReader {
    client: Client,
    stream_arn: String,
    follow: Follow,
    places: Vec<Place>,
    seen: std::collections::HashSet<String>,
    seen_order: std::collections::VecDeque<String>,
    /// Reads since the shards were last listed.
    reads: u32,
}

/// Shards are listed again every this many reads (new shards are rare; reads are often).
const DISCOVER_EVERY: u32 = 40;

fn unavailable(what: &str, error: impl std::error::Error) -> StoreError {
    let message = crate::error_chain(&error);
    StoreError::Unavailable(format!("{what}: {message}"))
}

impl StreamReader {
    /// Starts at the stream's current end: only changes from now on are read.
    pub async fn open(client: Client, stream_arn: String, follow: Follow) -> Result<Self, StoreError> {
        let mut reader = Self {
            client,
            stream_arn,
            follow,
            places: Vec::new(),
            seen: std::collections::HashSet::new(),
            seen_order: std::collections::VecDeque::new(),
            reads: 0,
        };
        match follow {
            Follow::Iterators => reader.discover(ShardIteratorType::Latest).await?,
            Follow::Reopen { .. } => {
                // Read what is there to learn where it ends; none of it is delivered.
                reader.discover(ShardIteratorType::TrimHorizon).await?;
                for _ in 0..10_000 {
                    let (changes, poison) = reader.next_batch().await?;
                    if changes.is_empty() && poison.is_empty() {
                        break;
                    }
                }
            }
        }
        Ok(reader)
    }

    /// Adds a place for each shard not seen yet, at `position`.
    async fn discover(&mut self, position: ShardIteratorType) -> Result<(), StoreError> {
        let described = self
            .client
            .describe_stream()
            .stream_arn(&self.stream_arn)
            .send()
            .await
            .map_err(|error| unavailable("DescribeStream", error))?;
        let shards = described
            .stream_description()
            .map(|description| description.shards().to_vec())
            .unwrap_or_default();
        for shard in shards {
            let Some(shard_id) = shard.shard_id() else { continue };
            if self.places.iter().any(|place| place.shard_id == shard_id) {
                continue;
            }
            let iterator = self.iterator(shard_id, position.clone(), None).await?;
            let first_sequence = shard
                .sequence_number_range()
                .and_then(|range| range.starting_sequence_number())
                .and_then(|first| first.parse::<u128>().ok());
            self.places.push(Place {
                shard_id: shard_id.to_owned(),
                first_sequence,
                iterator,
                last_sequence: None,
            });
        }
        Ok(())
    }

    async fn iterator(
        &self,
        shard_id: &str,
        position: ShardIteratorType,
        sequence: Option<String>,
    ) -> Result<Option<String>, StoreError> {
        let iterator = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(shard_id)
            .shard_iterator_type(position)
            .set_sequence_number(sequence)
            .send()
            .await
            .map_err(|error| unavailable("GetShardIterator", error))?;
        Ok(iterator.shard_iterator().map(str::to_owned))
    }

    /// Remembers `id`; false when it was delivered before.
    fn first_time(&mut self, id: &str) -> bool {
        if !self.seen.insert(id.to_owned()) {
            return false;
        }
        self.seen_order.push_back(id.to_owned());
        if self.seen_order.len() > SEEN
            && let Some(oldest) = self.seen_order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        true
    }

    /// The changes since the last call, and the records that could not be read (each
    /// named with why).
    pub async fn next_batch(&mut self) -> Result<(Vec<Change>, Vec<String>), StoreError> {
        self.reads += 1;
        if self.reads >= DISCOVER_EVERY {
            self.reads = 0;
            self.discover(ShardIteratorType::TrimHorizon).await?;
        }
        let mut changes = Vec::new();
        let mut poison = Vec::new();
        for index in 0..self.places.len() {
            let current = match (self.follow, &self.places[index].last_sequence) {
                (Follow::Reopen { lookback }, Some(last)) => {
                    let first = self.places[index].first_sequence.unwrap_or(0);
                    let from = last
                        .parse::<u128>()
                        .map(|last| last.saturating_sub(u128::from(lookback)).max(first).to_string())
                        .unwrap_or_else(|_| last.clone());
                    let shard_id = self.places[index].shard_id.clone();
                    self.iterator(&shard_id, ShardIteratorType::AtSequenceNumber, Some(from))
                        .await?
                }
                _ => self.places[index].iterator.clone(),
            };
            let Some(current) = current else { continue };
            let page = self
                .client
                .get_records()
                .shard_iterator(current)
                .send()
                .await
                .map_err(|error| unavailable("GetRecords", error))?;
            for record in page.records() {
                if let Some(sequence) = record.dynamodb().and_then(|stream| stream.sequence_number()) {
                    let place = &mut self.places[index];
                    let later = place
                        .last_sequence
                        .as_ref()
                        .is_none_or(|last| (sequence.len(), sequence) > (last.len(), last.as_str()));
                    if later {
                        place.last_sequence = Some(sequence.to_owned());
                    }
                }
                if let Some(id) = record.event_id()
                    && !self.first_time(id)
                {
                    continue;
                }
                match change_from_record(record) {
                    Ok(change) => changes.push(change),
                    Err(problem) => poison.push(problem),
                }
            }
            self.places[index].iterator = page.next_shard_iterator().map(str::to_owned);
        }
        Ok((changes, poison))
    }
}

/// The ARN of `table`'s stream.
pub async fn stream_arn(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Result<String, StoreError> {
    let described = dynamodb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|error| unavailable("DescribeTable", error))?;
    described
        .table()
        .and_then(|table| table.latest_stream_arn())
        .map(str::to_owned)
        .ok_or_else(|| StoreError::Rejected(format!("table {table} has no stream; create it with create_table")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_lambda_stream_record_becomes_a_change_with_both_statuses() {
        let record = json!({"eventID": "1", "eventName": "MODIFY", "eventSource": "aws:dynamodb",
            "dynamodb": {"Keys": {"pk": {"S": "PIPELINE#df-1"}, "sk": {"S": "INST#A#2026-01-01T00:00:00"}},
                         "OldImage": {"status": {"S": "RUNNING"}},
                         "NewImage": {"status": {"S": "FINISHED"}, "version": {"N": "4"}}}});
        let change = change_from_json(&record).unwrap();
        assert_eq!(change.kind, ChangeKind::Modify);
        assert_eq!(change.key, Key::new("PIPELINE#df-1", "INST#A#2026-01-01T00:00:00"));
        assert_eq!(change.old_status.as_deref(), Some("RUNNING"));
        assert_eq!(change.new_status.as_deref(), Some("FINISHED"));
    }

    #[test]
    fn poison_records_are_errors_that_name_the_record() {
        for (record, expected) in [
            (
                json!({"eventID": "7", "eventName": "MODIFY", "dynamodb": {"Keys": {"pk": {"N": "1"}}}}),
                "record 7: its Keys",
            ),
            (
                json!({"eventID": "8", "eventName": "TRUNCATE"}),
                "record 8: eventName \"TRUNCATE\"",
            ),
            (json!({"eventName": "INSERT"}), "record without an eventID: its Keys"),
            (json!("not even an object"), "record without an eventID: no eventName"),
        ] {
            let error = change_from_json(&record).unwrap_err();
            assert!(error.starts_with(expected), "{error}");
        }
    }
}
