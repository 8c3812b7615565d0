//! Run records: the `RunStore` port and its implementations.
//!
//! The port is deliberately small: items in one table keyed by `(pk, sk)`, each with a
//! version, an optional status and an optional place in a `due` work queue, and a JSON
//! body. Every write is conditional: creating requires the key to be free, replacing and
//! deleting require the expected version and status. Losing a race is `Ok(false)` ("someone
//! else did it"), never an error. The engine's typed records ([`records`]) sit on top.
//!
//! The `due` queues are a sparse index: an item is in a queue only while a stage owes it
//! work, so reading due work costs in proportion to due work, never to history.

pub mod counting;
pub mod dynamodb;
pub mod keys;
pub mod memory;
pub mod records;
pub mod stream;

use std::future::Future;

use thiserror::Error;

/// Where an item lives: partition key and sort key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// An item's place in a work queue: the queue (a stage and a shard, such as
/// `dependencies#3`) and when the work is due, in milliseconds since the epoch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Due {
    pub queue: String,
    pub at_millis: i64,
}

impl Due {
    /// The index sort key: the time, fixed-width so that strings sort as numbers, then the
    /// item's key so that equal times stay distinct.
    pub fn sort_key(&self, key: &Key) -> String {
        format!("{:015}#{}#{}", self.at_millis.max(0), key.pk, key.sk)
    }

    /// The largest sort key of an item due at or before `at_millis`.
    pub fn sort_key_bound(at_millis: i64) -> String {
        format!("{:015}#\u{10FFFF}", at_millis.max(0))
    }
}

/// One stored item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub key: Key,
    /// Starts at 1 and grows by one with every write; set by the store.
    pub version: u64,
    /// The record's status, if it has one, so that writes can be conditional on it.
    pub status: Option<String>,
    pub due: Option<Due>,
    /// When the item may be deleted (seconds since the epoch): DynamoDB's TTL.
    pub expires_at: Option<i64>,
    /// The record itself, as JSON.
    pub data: String,
}

/// What a conditional write expects to find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub version: u64,
    pub status: Option<String>,
}

impl Expected {
    /// Expects the item exactly as it was read.
    pub fn of(item: &Item) -> Self {
        Self {
            version: item.version,
            status: item.status.clone(),
        }
    }
}

/// A conditional write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Creates the item if its key is free; its version becomes 1.
    Create(Item),
    /// Replaces the item if it is as expected; its version becomes `expected.version + 1`.
    Replace { item: Item, expected: Expected },
    /// Deletes the item if it is as expected.
    Delete { key: Key, expected: Expected },
    /// Writes nothing; in a transaction, requires the item to be as expected.
    Check { key: Key, expected: Expected },
}

impl Write {
    pub fn key(&self) -> &Key {
        match self {
            Self::Create(item) | Self::Replace { item, .. } => &item.key,
            Self::Delete { key, .. } | Self::Check { key, .. } => key,
        }
    }
}

/// The most writes one transaction may hold (DynamoDB's TransactWriteItems limit).
pub const MAX_TRANSACTION_WRITES: usize = 100;

/// A sort-key range in one partition: `from <= sk < to`, ascending, at most `limit` items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    pub from: String,
    pub to: String,
    pub limit: usize,
}

impl Range {
    /// Every sort key that starts with `prefix`.
    pub fn prefix(prefix: &str, limit: usize) -> Self {
        Self {
            from: prefix.to_owned(),
            to: format!("{prefix}\u{10FFFF}"),
            limit,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    /// The store could not be reached, or throttled: retrying later can help.
    #[error("the run store is unavailable ({0}); retrying later can help")]
    Unavailable(String),
    /// The store refused the request as malformed: retrying cannot help.
    #[error("the run store refused the request: {0}")]
    Rejected(String),
    /// A stored item could not be read back: retrying cannot help.
    #[error("a run record is malformed: {0}")]
    Corrupt(String),
    /// The item or one of its keys is larger than DynamoDB holds: refused before it is
    /// sent, and retrying cannot help.
    #[error("{0}")]
    TooLarge(String),
}

/// DynamoDB's limits, checked before a write is sent (by every store, so that what works
/// in simulation works in AWS).
pub const MAX_PK_BYTES: usize = 2048;
pub const MAX_SK_BYTES: usize = 1024;
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// The item's size as DynamoDB counts it: attribute names and values.
pub fn item_bytes(item: &Item) -> usize {
    let due = item.due.as_ref().map_or(0, |due| {
        "due_pk".len() + due.queue.len() + "due_sk".len() + due.sort_key(&item.key).len() + "due_at".len() + 8
    });
    "pk".len()
        + item.key.pk.len()
        + "sk".len()
        + item.key.sk.len()
        + "version".len()
        + 8
        + item.status.as_ref().map_or(0, |status| "status".len() + status.len())
        + due
        + item.expires_at.map_or(0, |_| "expires_at".len() + 8)
        + "data".len()
        + item.data.len()
}

/// Whether DynamoDB can hold the item: its keys, its index keys and its size.
pub fn check_limits(item: &Item) -> Result<(), StoreError> {
    let key = &item.key;
    let label = || format!("{} {}", clip_key(&key.pk), clip_key(&key.sk));
    if key.pk.len() > MAX_PK_BYTES || key.sk.len() > MAX_SK_BYTES {
        return Err(StoreError::TooLarge(format!(
            "the key of {} is {} bytes of pk and {} of sk; DynamoDB holds at most {MAX_PK_BYTES} and {MAX_SK_BYTES}",
            label(),
            key.pk.len(),
            key.sk.len()
        )));
    }
    if let Some(due) = &item.due {
        let sort_key = due.sort_key(key);
        if due.queue.len() > MAX_PK_BYTES || sort_key.len() > MAX_SK_BYTES {
            return Err(StoreError::TooLarge(format!(
                "an index key is at most {MAX_PK_BYTES} bytes of due_pk and {MAX_SK_BYTES} of due_sk; {} has {} and {}",
                label(),
                due.queue.len(),
                sort_key.len()
            )));
        }
    }
    let size = item_bytes(item);
    if size > MAX_ITEM_BYTES {
        return Err(StoreError::TooLarge(format!(
            "{} would be {size} bytes; DynamoDB holds at most {MAX_ITEM_BYTES} bytes (400 KB) per item",
            label()
        )));
    }
    Ok(())
}

/// A key cut short for a message: keys may hold ids of any length.
fn clip_key(text: &str) -> String {
    const SHOWN: usize = 120;
    if text.len() <= SHOWN {
        return text.to_owned();
    }
    let mut end = SHOWN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// The run records' store. Every write is conditional; `Ok(false)` means the condition
/// failed: another writer got there first, and nothing was written.
pub trait RunStore: Send + Sync {
    fn get(&self, key: &Key) -> impl Future<Output = Result<Option<Item>, StoreError>> + Send;

    /// Several items at once, in the order of `keys` (`None` where there is none; a key
    /// named twice is read once and answered twice). One request where the store can
    /// (DynamoDB's BatchGetItem); read one after another otherwise.
    fn get_many(&self, keys: &[Key]) -> impl Future<Output = Result<Vec<Option<Item>>, StoreError>> + Send {
        async move {
            let mut items = Vec::with_capacity(keys.len());
            for key in keys {
                items.push(self.get(key).await?);
            }
            Ok(items)
        }
    }

    fn write(&self, write: Write) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// All writes or none: `Ok(false)` when any condition fails.
    fn transact(&self, writes: Vec<Write>) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Items of one partition in a sort-key range.
    fn query(&self, pk: &str, range: &Range) -> impl Future<Output = Result<Vec<Item>, StoreError>> + Send;

    /// Items in `queue` due at or before `until_millis`, earliest first, at most `limit`.
    fn due(
        &self,
        queue: &str,
        until_millis: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Item>, StoreError>> + Send;
}
