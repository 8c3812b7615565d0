//! The run store on DynamoDB: one table keyed by `pk`/`sk`, a sparse `due` index for the
//! work queues, and every write conditional on the key being free or on the expected
//! `version` and `status`. It keeps the rules of [`MemoryStore`](super::memory::MemoryStore)
//! exactly; the conformance suite (`tests/store_conformance.rs`) runs on both.
//!
//! Table layout (one item per record):
//!
//! | attribute | type | |
//! |---|---|---|
//! | `pk`, `sk` | S | the key |
//! | `version` | N | 1 on create, +1 on every replace |
//! | `status` | S | only when the record has one |
//! | `due_pk`, `due_sk` | S | only while the item is due: the queue and [`Due::sort_key`] (the `due` GSI's key) |
//! | `due_at` | N | only while the item is due: the due time exactly as written |
//! | `expires_at` | N | only when set: seconds since the epoch, the table's TTL attribute |
//! | `data` | S | the record as JSON |
//!
//! `due_at` is kept beside `due_sk` because the sort key clamps times before the epoch to
//! zero: the item reads back with the due time it was written with.
//!
//! Choices:
//! - A `Check` outside a transaction is a strongly consistent GetItem of `version` and
//!   `status`, compared here: it writes nothing, so a linearizable read decides it as well
//!   as a one-item transaction would, at a quarter of the cost (one read unit instead of two
//!   write units).
//! - A transaction that names no write succeeds without a request (DynamoDB refuses an
//!   empty TransactWriteItems); one that names an item twice is refused before sending.
//! - Reads with keys that no item can have (an empty `pk` or `sk`, an empty queue, an
//!   empty or inverted range, a limit of 0) answer "nothing" without a request, as the
//!   memory store does, instead of DynamoDB's ValidationException.
//! - A write that puts an item in a queue with an empty name is refused: DynamoDB cannot
//!   index an empty string.
//! - The SDK retries throttling and transient faults itself (its retry configuration is the
//!   client's); what is still failing then is [`StoreError::Unavailable`].
//! - A conditional PutItem whose response is lost and that the SDK then retries reports
//!   `Ok(false)` although the first attempt wrote: as with every conditional write, the
//!   caller reads the item again to learn who won. Transactions carry the SDK's automatic
//!   client request token, so their retries are idempotent.

use std::{
    collections::{HashMap, HashSet},
    fmt,
    str::FromStr,
    time::Duration,
};

use aws_sdk_dynamodb::{
    Client,
    config::http::HttpResponse,
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
    operation::transact_write_items::TransactWriteItemsError,
    types::{
        AttributeDefinition, AttributeValue, BillingMode, CancellationReason, ConditionCheck, Delete,
        GlobalSecondaryIndex, IndexStatus, KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType,
        Put, ScalarAttributeType, StreamSpecification, StreamViewType, TableDescription, TableStatus,
        TimeToLiveSpecification, TimeToLiveStatus, TransactWriteItem,
    },
};

use super::{Due, Expected, Item, Key, Range, RunStore, StoreError, Write};

/// The name of the global secondary index that holds the work queues.
pub const DUE_INDEX: &str = "due";

/// Attribute names, in one place.
mod attr {
    pub const PK: &str = "pk";
    pub const SK: &str = "sk";
    pub const VERSION: &str = "version";
    pub const STATUS: &str = "status";
    pub const DUE_PK: &str = "due_pk";
    pub const DUE_SK: &str = "due_sk";
    pub const DUE_AT: &str = "due_at";
    pub const EXPIRES_AT: &str = "expires_at";
    pub const DATA: &str = "data";
}

/// BatchGetItem takes at most this many keys.
const BATCH_GET_LIMIT: usize = 100;
/// Keys DynamoDB leaves unprocessed (throttling) are asked for again, this many times in
/// all, before the read is reported unavailable (retrying later can help).
const BATCH_GET_TRIES: usize = 4;

/// How long [`create_table`] waits for a new table and its index to become ACTIVE.
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(300);

/// The run store on one DynamoDB table laid out as [`create_table`] creates it.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    /// A store on `table`, which must exist (see [`create_table`]).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_attributes(&item)))
            .condition_expression(condition.expression)
            .set_expression_attribute_names(Some(condition.names))
            .set_expression_attribute_values(non_empty(condition.values))
            .send()
            .await;
        conditional(result, "PutItem", &self.on_key(&item.key))
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(key)))
            .condition_expression(condition.expression)
            .set_expression_attribute_names(Some(condition.names))
            .set_expression_attribute_values(non_empty(condition.values))
            .send()
            .await;
        conditional(result, "DeleteItem", &self.on_key(key))
    }

    async fn check(&self, key: &Key, expected: &Expected) -> Result<bool, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(key)))
            .consistent_read(true)
            .projection_expression("#version, #status")
            .expression_attribute_names("#version", attr::VERSION)
            .expression_attribute_names("#status", attr::STATUS)
            .send()
            .await
            .map_err(|error| failure("GetItem", &self.on_key(key), error))?;
        let Some(attributes) = output.item else {
            return Ok(false);
        };
        let mut fields = Fields::new(attributes, key_label(key));
        let version: u64 = fields.required_number(attr::VERSION)?;
        let status = fields.optional_string(attr::STATUS)?;
        Ok(version == expected.version && status == expected.status)
    }

    fn transact_item(&self, write: Write) -> Result<TransactWriteItem, StoreError> {
        let built = |error| self.unbuildable("TransactWriteItems", error);
        // A creation and a replacement are the same conditional put: only the version
        // written and the condition on the stored item differ.
        let put = |item: Item, version: u64, condition: Condition| -> Result<TransactWriteItem, StoreError> {
            let item = Item { version, ..item };
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(to_attributes(&item)))
                .condition_expression(condition.expression)
                .set_expression_attribute_names(Some(condition.names))
                .set_expression_attribute_values(non_empty(condition.values))
                .build()
                .map_err(built)?;
            Ok(TransactWriteItem::builder().put(put).build())
        };
        Ok(match write {
            Write::Create(item) => put(item, 1, Condition::absent())?,
            // `transact` answered already when this cannot grow.
            Write::Replace { item, expected } => {
                put(item, expected.version.saturating_add(1), Condition::expected(&expected))?
            }
            Write::Delete { key, expected } => {
                let condition = Condition::expected(&expected);
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attributes(&key)))
                    .condition_expression(condition.expression)
                    .set_expression_attribute_names(Some(condition.names))
                    .set_expression_attribute_values(non_empty(condition.values))
                    .build()
                    .map_err(built)?;
                TransactWriteItem::builder().delete(delete).build()
            }
            Write::Check { key, expected } => {
                let condition = Condition::expected(&expected);
                let check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attributes(&key)))
                    .condition_expression(condition.expression)
                    .set_expression_attribute_names(Some(condition.names))
                    .set_expression_attribute_values(non_empty(condition.values))
                    .build()
                    .map_err(built)?;
                TransactWriteItem::builder().condition_check(check).build()
            }
        })
    }

    /// One query, page after page, until `limit` items or `stop` says an item is past the end.
    async fn query_pages(&self, query: Query<'_>) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let remaining = query.limit.saturating_sub(items.len());
            // One more than needed when the last item read may be the excluded upper bound.
            let wanted = if query.stop.is_some() {
                remaining.saturating_add(1)
            } else {
                remaining
            };
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(query.index.map(str::to_owned))
                .key_condition_expression(query.expression)
                .set_expression_attribute_names(Some(query.names.clone()))
                .set_expression_attribute_values(Some(query.values.clone()))
                .set_consistent_read(query.index.is_none().then_some(true))
                .scan_index_forward(true)
                .limit(i32::try_from(wanted).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|error| failure("Query", &query.label, error))?;
            for attributes in output.items.unwrap_or_default() {
                if let Some(stop) = query.stop
                    && sort_key_of(&attributes).is_some_and(|sk| sk >= stop)
                {
                    return Ok(items);
                }
                items.push(from_attributes(attributes)?);
                if items.len() >= query.limit {
                    return Ok(items);
                }
            }
            match output.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => return Ok(items),
            }
        }
    }

    fn on_key(&self, key: &Key) -> String {
        format!("{} in table {:?}", key_label(key), self.table)
    }

    fn unbuildable(&self, operation: &str, error: impl fmt::Display) -> StoreError {
        StoreError::Rejected(format!(
            "{operation} on table {:?} could not be built ({error}); this is a bug in Sluice, please report it",
            self.table
        ))
    }
}

/// A query's parts, for [`DynamoStore::query_pages`].
struct Query<'a> {
    index: Option<&'a str>,
    expression: &'a str,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
    limit: usize,
    /// Items whose sort key is at or past this are not returned (the port's ranges are
    /// half-open; DynamoDB's BETWEEN is inclusive).
    stop: Option<&'a str>,
    label: String,
}

impl RunStore for DynamoStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        if !could_exist(key) {
            return Ok(None);
        }
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| failure("GetItem", &self.on_key(key), error))?;
        output.item.map(from_attributes).transpose()
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        // BatchGetItem refuses a key named twice, and an empty key part.
        let mut seen = HashSet::new();
        let wanted: Vec<&Key> = keys
            .iter()
            .filter(|key| could_exist(key))
            .filter(|key| seen.insert((key.pk.as_str(), key.sk.as_str())))
            .collect();
        let mut found: HashMap<(String, String), Item> = HashMap::with_capacity(wanted.len());
        for chunk in wanted.chunks(BATCH_GET_LIMIT) {
            let on = format!("{} items in table {:?}", chunk.len(), self.table);
            let mut pending: Vec<HashMap<String, AttributeValue>> =
                chunk.iter().map(|key| key_attributes(key)).collect();
            for _ in 0..BATCH_GET_TRIES {
                if pending.is_empty() {
                    break;
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .consistent_read(true)
                    .build()
                    .map_err(|error| self.unbuildable("BatchGetItem", error))?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|error| failure("BatchGetItem", &on, error))?;
                let answered = output.responses.and_then(|mut tables| tables.remove(&self.table));
                for attributes in answered.unwrap_or_default() {
                    let item = from_attributes(attributes)?;
                    found.insert((item.key.pk.clone(), item.key.sk.clone()), item);
                }
                pending = output
                    .unprocessed_keys
                    .and_then(|mut tables| tables.remove(&self.table))
                    .map(|left| left.keys)
                    .unwrap_or_default();
            }
            if !pending.is_empty() {
                return Err(StoreError::Unavailable(format!(
                    "DynamoDB BatchGetItem on {on} left {} keys unprocessed after {BATCH_GET_TRIES} tries \
                     (throttled); try again",
                    pending.len()
                )));
            }
        }
        Ok(keys
            .iter()
            .map(|key| found.get(&(key.pk.clone(), key.sk.clone())).cloned())
            .collect())
    }

    async fn write(&self, write: Write) -> Result<bool, StoreError> {
        validate(&write)?;
        match write {
            Write::Create(item) => self.put(Item { version: 1, ..item }, Condition::absent()).await,
            Write::Replace { item, expected } => {
                // No item can hold the largest version (it would have to be replaced from
                // it), so the condition cannot hold: the same answer as the memory store.
                let Some(version) = expected.version.checked_add(1) else {
                    return Ok(false);
                };
                self.put(Item { version, ..item }, Condition::expected(&expected)).await
            }
            Write::Delete { key, expected } => self.delete(&key, Condition::expected(&expected)).await,
            Write::Check { key, expected } => self.check(&key, &expected).await,
        }
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<bool, StoreError> {
        for write in &writes {
            validate(write)?;
        }
        let mut seen = HashSet::with_capacity(writes.len());
        if let Some(twice) = writes.iter().map(Write::key).find(|key| !seen.insert(*key)) {
            return Err(StoreError::Rejected(format!(
                "a transaction names {} twice; DynamoDB allows one write per item in a transaction",
                key_label(twice)
            )));
        }
        if writes.is_empty() {
            return Ok(true);
        }
        if writes
            .iter()
            .any(|write| matches!(write, Write::Replace { expected, .. } if expected.version == u64::MAX))
        {
            // As in `write`: no item holds the largest version, so this condition fails.
            return Ok(false);
        }
        let keys: Vec<Key> = writes.iter().map(|write| write.key().clone()).collect();
        let items = writes
            .into_iter()
            .map(|write| self.transact_item(write))
            .collect::<Result<Vec<_>, _>>()?;
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = error.as_service_error()
                {
                    return cancellation(cancelled.cancellation_reasons(), &keys, &self.table);
                }
                let label = format!("a transaction of {} writes on table {:?}", keys.len(), self.table);
                Err(failure("TransactWriteItems", &label, error))
            }
        }
    }

    async fn query(&self, pk: &str, range: &Range) -> Result<Vec<Item>, StoreError> {
        if pk.is_empty() || pk.len() > super::MAX_PK_BYTES || range.limit == 0 || range.from >= range.to {
            return Ok(Vec::new());
        }
        let mut values = HashMap::from([
            (":pk".to_owned(), AttributeValue::S(pk.to_owned())),
            (":to".to_owned(), AttributeValue::S(range.to.clone())),
        ]);
        // DynamoDB refuses an empty string as a key value; every sort key is >= "", so the
        // lower bound then goes.
        let expression = if range.from.is_empty() {
            "#pk = :pk AND #sk < :to"
        } else {
            values.insert(":from".to_owned(), AttributeValue::S(range.from.clone()));
            "#pk = :pk AND #sk BETWEEN :from AND :to"
        };
        self.query_pages(Query {
            index: None,
            expression,
            names: names(&[("#pk", attr::PK), ("#sk", attr::SK)]),
            values,
            limit: range.limit,
            stop: (!range.from.is_empty()).then_some(range.to.as_str()),
            label: format!(
                "partition {pk:?} from {:?} to {:?} in table {:?}",
                range.from, range.to, self.table
            ),
        })
        .await
    }

    async fn due(&self, queue: &str, until_millis: i64, limit: usize) -> Result<Vec<Item>, StoreError> {
        if queue.is_empty() || queue.len() > super::MAX_PK_BYTES || limit == 0 {
            return Ok(Vec::new());
        }
        self.query_pages(Query {
            index: Some(DUE_INDEX),
            expression: "#due_pk = :queue AND #due_sk <= :bound",
            names: names(&[("#due_pk", attr::DUE_PK), ("#due_sk", attr::DUE_SK)]),
            values: HashMap::from([
                (":queue".to_owned(), AttributeValue::S(queue.to_owned())),
                (
                    ":bound".to_owned(),
                    AttributeValue::S(Due::sort_key_bound(until_millis)),
                ),
            ]),
            limit,
            stop: None,
            label: format!(
                "queue {queue:?} until {until_millis} in index {DUE_INDEX:?} of table {:?}",
                self.table
            ),
        })
        .await
    }
}

/// Creates `table` as Sluice needs it: on-demand billing, `pk`/`sk` string keys, the sparse
/// `due` index (`due_pk`/`due_sk`, every attribute projected), a stream with new and old
/// images, and TTL on `expires_at`. Idempotent: an existing table with that layout is kept
/// as it is (its items too); one with another key schema or without the index is refused.
/// Returns once the table and its index are ACTIVE.
pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
    let unbuildable = |error| {
        StoreError::Rejected(format!(
            "CreateTable for table {table:?} could not be built ({error}); this is a bug in Sluice, please report it"
        ))
    };
    let string_attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(unbuildable)
    };
    let key_element = |name: &str, key_type: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(key_type)
            .build()
            .map_err(unbuildable)
    };
    let index = GlobalSecondaryIndex::builder()
        .index_name(DUE_INDEX)
        .key_schema(key_element(attr::DUE_PK, KeyType::Hash)?)
        .key_schema(key_element(attr::DUE_SK, KeyType::Range)?)
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .build()
        .map_err(unbuildable)?;
    let stream = StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::NewAndOldImages)
        .build()
        .map_err(unbuildable)?;
    let created = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(string_attribute(attr::PK)?)
        .attribute_definitions(string_attribute(attr::SK)?)
        .attribute_definitions(string_attribute(attr::DUE_PK)?)
        .attribute_definitions(string_attribute(attr::DUE_SK)?)
        .key_schema(key_element(attr::PK, KeyType::Hash)?)
        .key_schema(key_element(attr::SK, KeyType::Range)?)
        .global_secondary_indexes(index)
        .stream_specification(stream)
        .send()
        .await;
    match created {
        Ok(_) => {}
        // Someone (perhaps an earlier run) created it: check its layout below.
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) => {}
        Err(error) => return Err(failure("CreateTable", &format!("table {table:?}"), error)),
    }
    wait_until_active(client, table).await?;
    enable_ttl(client, table).await
}

async fn wait_until_active(client: &Client, table: &str) -> Result<(), StoreError> {
    let started = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(100);
    loop {
        let described = client.describe_table().table_name(table).send().await;
        let last_seen = match described {
            Ok(output) => match output.table {
                Some(description) => {
                    check_layout(&description, table)?;
                    if is_active(&description) {
                        return Ok(());
                    }
                    format!("status {:?}", description.table_status)
                }
                None => "no description".to_owned(),
            },
            // DescribeTable can lag just after CreateTable.
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                "not found yet".to_owned()
            }
            Err(error) => return Err(failure("DescribeTable", &format!("table {table:?}"), error)),
        };
        if started.elapsed() >= ACTIVE_TIMEOUT {
            return Err(StoreError::Unavailable(format!(
                "table {table:?} did not become ACTIVE within {} s (last seen: {last_seen}); \
                 check it in the DynamoDB console and run again",
                ACTIVE_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

fn is_active(description: &TableDescription) -> bool {
    description.table_status() == Some(&TableStatus::Active)
        && description
            .global_secondary_indexes()
            .iter()
            .all(|index| index.index_status() == Some(&IndexStatus::Active))
}

/// Refuses an existing table that the store cannot use.
fn check_layout(description: &TableDescription, table: &str) -> Result<(), StoreError> {
    let has_keys = |schema: &[KeySchemaElement], hash: &str, range: &str| {
        schema.len() == 2
            && schema
                .iter()
                .any(|element| element.attribute_name() == hash && element.key_type() == &KeyType::Hash)
            && schema
                .iter()
                .any(|element| element.attribute_name() == range && element.key_type() == &KeyType::Range)
    };
    let refuse = |what: &str| {
        StoreError::Rejected(format!(
            "table {table:?} exists but {what}; Sluice needs keys `{}` (hash) and `{}` (range) and an index \
             {DUE_INDEX:?} on `{}` (hash) and `{}` (range) projecting every attribute: choose another table \
             name or recreate this one",
            attr::PK,
            attr::SK,
            attr::DUE_PK,
            attr::DUE_SK
        ))
    };
    if !has_keys(description.key_schema(), attr::PK, attr::SK) {
        return Err(refuse("its key schema differs"));
    }
    let Some(index) = description
        .global_secondary_indexes()
        .iter()
        .find(|index| index.index_name() == Some(DUE_INDEX))
    else {
        return Err(refuse("it has no index named \"due\""));
    };
    if !has_keys(index.key_schema(), attr::DUE_PK, attr::DUE_SK) {
        return Err(refuse("its \"due\" index has other keys"));
    }
    let projects_all = index
        .projection()
        .and_then(Projection::projection_type)
        .is_some_and(|projection| projection == &ProjectionType::All);
    if !projects_all {
        return Err(refuse("its \"due\" index does not project every attribute"));
    }
    Ok(())
}

async fn enable_ttl(client: &Client, table: &str) -> Result<(), StoreError> {
    let described = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|error| failure("DescribeTimeToLive", &format!("table {table:?}"), error))?;
    if let Some(ttl) = described.time_to_live_description() {
        let on = matches!(
            ttl.time_to_live_status(),
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        );
        match ttl.attribute_name() {
            Some(attr::EXPIRES_AT) if on => return Ok(()),
            Some(other) if on => {
                return Err(StoreError::Rejected(format!(
                    "table {table:?} expires items by attribute {other:?}; Sluice writes {:?}: disable TTL on \
                     the table or choose another table name",
                    attr::EXPIRES_AT
                )));
            }
            _ => {}
        }
    }
    let specification = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(attr::EXPIRES_AT)
        .build()
        .map_err(|error| {
            StoreError::Rejected(format!(
                "UpdateTimeToLive for table {table:?} could not be built ({error}); this is a bug in Sluice"
            ))
        })?;
    let updated = client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(specification)
        .send()
        .await;
    match updated {
        Ok(_) => Ok(()),
        // Another creator enabled it between our two requests.
        Err(error)
            if error
                .message()
                .is_some_and(|message| message.contains("already enabled")) =>
        {
            Ok(())
        }
        Err(error) => Err(failure("UpdateTimeToLive", &format!("table {table:?}"), error)),
    }
}

/// A condition expression with its attribute names and values.
#[derive(Debug, PartialEq)]
struct Condition {
    expression: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Condition {
    /// The key is free.
    fn absent() -> Self {
        Self {
            expression: "attribute_not_exists(#pk)".to_owned(),
            names: names(&[("#pk", attr::PK)]),
            values: HashMap::new(),
        }
    }

    /// The item exists with the expected version and status (or no status).
    fn expected(expected: &Expected) -> Self {
        let mut values = HashMap::from([(":version".to_owned(), AttributeValue::N(expected.version.to_string()))]);
        let expression = match &expected.status {
            Some(status) => {
                values.insert(":status".to_owned(), AttributeValue::S(status.clone()));
                "#version = :version AND #status = :status"
            }
            None => "#version = :version AND attribute_not_exists(#status)",
        };
        Self {
            expression: expression.to_owned(),
            names: names(&[("#version", attr::VERSION), ("#status", attr::STATUS)]),
            values,
        }
    }
}

fn names(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(placeholder, name)| ((*placeholder).to_owned(), (*name).to_owned()))
        .collect()
}

/// DynamoDB refuses an empty ExpressionAttributeValues map.
fn non_empty(values: HashMap<String, AttributeValue>) -> Option<HashMap<String, AttributeValue>> {
    (!values.is_empty()).then_some(values)
}

/// Whether an item can have this key: an empty part, or one longer than DynamoDB's limits
/// (an id of a thousand multibyte characters in a request), is answered "nothing"
/// without a request, as the memory store answers it.
fn could_exist(key: &Key) -> bool {
    !key.pk.is_empty()
        && !key.sk.is_empty()
        && key.pk.len() <= super::MAX_PK_BYTES
        && key.sk.len() <= super::MAX_SK_BYTES
}

/// What the store refuses before sending, as the memory store does.
fn validate(write: &Write) -> Result<(), StoreError> {
    let key = write.key();
    if key.pk.is_empty() || key.sk.is_empty() {
        return Err(StoreError::Rejected(format!(
            "an item key needs a pk and an sk, got {key:?}"
        )));
    }
    if let Write::Create(item) | Write::Replace { item, .. } = write {
        if item.due.as_ref().is_some_and(|due| due.queue.is_empty()) {
            return Err(StoreError::Rejected(format!(
                "{} is due in a queue with an empty name; name the queue (such as `dependencies#3`)",
                key_label(key)
            )));
        }
        super::check_limits(item)?;
    }
    Ok(())
}

/// What a cancelled transaction means: a failed condition is `Ok(false)`; anything else is
/// an error that names the write and DynamoDB's reason.
fn cancellation(reasons: &[CancellationReason], keys: &[Key], table: &str) -> Result<bool, StoreError> {
    if reasons
        .iter()
        .any(|reason| reason.code() == Some("ConditionalCheckFailed"))
    {
        return Ok(false);
    }
    let failed: Vec<(usize, &CancellationReason)> = reasons
        .iter()
        .enumerate()
        .filter(|(_, reason)| !matches!(reason.code(), None | Some("None")))
        .collect();
    if failed.is_empty() {
        return Err(StoreError::Unavailable(format!(
            "DynamoDB cancelled a transaction of {} writes on table {table:?} without a reason \
             (TransactionCanceledException)",
            keys.len()
        )));
    }
    let described: Vec<String> = failed
        .iter()
        .map(|(index, reason)| {
            let which = keys.get(*index).map_or_else(|| format!("write {index}"), key_label);
            let code = reason.code().unwrap_or("unknown");
            match reason.message() {
                Some(message) => format!("{which}: {code} ({message})"),
                None => format!("{which}: {code}"),
            }
        })
        .collect();
    let message = format!(
        "DynamoDB cancelled a transaction of {} writes on table {table:?} (TransactionCanceledException): {}",
        keys.len(),
        described.join("; ")
    );
    let retryable = failed.iter().all(|(_, reason)| {
        matches!(
            reason.code(),
            Some("TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded")
        )
    });
    if retryable {
        Err(StoreError::Unavailable(message))
    } else {
        Err(StoreError::Rejected(message))
    }
}

/// Error codes that retrying later can fix.
const RETRYABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "TransactionInProgressException",
    "ReplicatedWriteConflictException",
];

/// Whether a service error is worth retrying: throttling, conflicts and 5xx.
fn is_retryable(code: Option<&str>, http_status: u16) -> bool {
    http_status >= 500 || code.is_some_and(|code| RETRYABLE_CODES.contains(&code))
}

/// An SDK failure as a store error, keeping the SDK's error code.
/// A conditional write's answer: written, not written because its condition did not hold
/// (a lost race, not an error), or a failure.
fn conditional<O, E>(
    result: Result<O, SdkError<E, HttpResponse>>,
    operation: &str,
    on: &str,
) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(error) if error.code() == Some("ConditionalCheckFailedException") => Ok(false),
        Err(error) => Err(failure(operation, on, error)),
    }
}

fn failure<E>(operation: &str, on: &str, error: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match &error {
        SdkError::ServiceError(service) => {
            let code = service.err().code();
            let status = service.raw().status().as_u16();
            let message = format!(
                "DynamoDB {operation} on {on} failed with {} (HTTP {status}): {}",
                code.unwrap_or("an unnamed error"),
                service.err().message().unwrap_or("no message")
            );
            if is_retryable(code, status) {
                StoreError::Unavailable(message)
            } else if code == Some("ResourceNotFoundException") {
                StoreError::Rejected(format!(
                    "{message}; create the table first (sluice's create_table makes it as the store needs it)"
                ))
            } else {
                StoreError::Rejected(message)
            }
        }
        SdkError::ConstructionFailure(_) => StoreError::Rejected(format!(
            "DynamoDB {operation} on {on} could not be built: {}",
            DisplayErrorContext(&error)
        )),
        // Timeouts, dispatch failures (no connection, no credentials), unreadable answers.
        _ => StoreError::Unavailable(format!(
            "DynamoDB {operation} on {on} failed: {}",
            DisplayErrorContext(&error)
        )),
    }
}

fn key_label(key: &Key) -> String {
    format!("item (pk {:?}, sk {:?})", key.pk, key.sk)
}

fn key_attributes(key: &Key) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (attr::PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (attr::SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

fn sort_key_of(attributes: &HashMap<String, AttributeValue>) -> Option<&str> {
    match attributes.get(attr::SK) {
        Some(AttributeValue::S(sk)) => Some(sk),
        _ => None,
    }
}

/// An item as DynamoDB attributes, exactly as [`from_attributes`] reads it back.
fn to_attributes(item: &Item) -> HashMap<String, AttributeValue> {
    let mut attributes = key_attributes(&item.key);
    attributes.insert(attr::VERSION.to_owned(), AttributeValue::N(item.version.to_string()));
    if let Some(status) = &item.status {
        attributes.insert(attr::STATUS.to_owned(), AttributeValue::S(status.clone()));
    }
    if let Some(due) = &item.due {
        attributes.insert(attr::DUE_PK.to_owned(), AttributeValue::S(due.queue.clone()));
        attributes.insert(attr::DUE_SK.to_owned(), AttributeValue::S(due.sort_key(&item.key)));
        attributes.insert(attr::DUE_AT.to_owned(), AttributeValue::N(due.at_millis.to_string()));
    }
    if let Some(expires_at) = item.expires_at {
        attributes.insert(attr::EXPIRES_AT.to_owned(), AttributeValue::N(expires_at.to_string()));
    }
    attributes.insert(attr::DATA.to_owned(), AttributeValue::S(item.data.clone()));
    attributes
}

/// An item read from DynamoDB; anything missing or of the wrong type is
/// [`StoreError::Corrupt`], never a panic.
fn from_attributes(attributes: HashMap<String, AttributeValue>) -> Result<Item, StoreError> {
    let mut fields = Fields::new(attributes, "an item".to_owned());
    let pk = fields.required_string(attr::PK)?;
    let sk = fields.required_string(attr::SK)?;
    let key = Key::new(pk, sk);
    fields.label = key_label(&key);
    let version = fields.required_number(attr::VERSION)?;
    let status = fields.optional_string(attr::STATUS)?;
    let queue = fields.optional_string(attr::DUE_PK)?;
    let at_millis = fields.optional_number(attr::DUE_AT)?;
    let due = match (queue, at_millis) {
        (Some(queue), Some(at_millis)) => Some(Due { queue, at_millis }),
        (None, None) => None,
        (Some(_), None) => return Err(fields.corrupt(attr::DUE_AT, "is missing although `due_pk` is set")),
        (None, Some(_)) => return Err(fields.corrupt(attr::DUE_PK, "is missing although `due_at` is set")),
    };
    let expires_at = fields.optional_number(attr::EXPIRES_AT)?;
    let data = fields.required_string(attr::DATA)?;
    Ok(Item {
        key,
        version,
        status,
        due,
        expires_at,
        data,
    })
}

/// Reads typed attributes out of one item, naming the item and attribute when one is wrong.
struct Fields {
    attributes: HashMap<String, AttributeValue>,
    label: String,
}

impl Fields {
    fn new(attributes: HashMap<String, AttributeValue>, label: String) -> Self {
        Self { attributes, label }
    }

    fn corrupt(&self, name: &str, problem: &str) -> StoreError {
        StoreError::Corrupt(format!(
            "{}: attribute `{name}` {problem}; only Sluice should write this table: delete or repair the item",
            self.label
        ))
    }

    fn optional_string(&mut self, name: &str) -> Result<Option<String>, StoreError> {
        match self.attributes.remove(name) {
            None => Ok(None),
            Some(AttributeValue::S(value)) => Ok(Some(value)),
            Some(other) => Err(self.corrupt(name, &format!("should be a string, found {}", type_name(&other)))),
        }
    }

    fn required_string(&mut self, name: &str) -> Result<String, StoreError> {
        self.optional_string(name)?
            .ok_or_else(|| self.corrupt(name, "is missing"))
    }

    fn optional_number<T: FromStr>(&mut self, name: &str) -> Result<Option<T>, StoreError> {
        match self.attributes.remove(name) {
            None => Ok(None),
            Some(AttributeValue::N(text)) => text
                .parse()
                .map(Some)
                .map_err(|_| self.corrupt(name, &format!("should be a whole number in range, found {text:?}"))),
            Some(other) => Err(self.corrupt(name, &format!("should be a number, found {}", type_name(&other)))),
        }
    }

    fn required_number<T: FromStr>(&mut self, name: &str) -> Result<T, StoreError> {
        self.optional_number(name)?
            .ok_or_else(|| self.corrupt(name, "is missing"))
    }
}

fn type_name(value: &AttributeValue) -> &'static str {
    match value {
        AttributeValue::B(_) => "binary (B)",
        AttributeValue::Bool(_) => "a boolean (BOOL)",
        AttributeValue::Bs(_) => "a binary set (BS)",
        AttributeValue::L(_) => "a list (L)",
        AttributeValue::M(_) => "a map (M)",
        AttributeValue::N(_) => "a number (N)",
        AttributeValue::Ns(_) => "a number set (NS)",
        AttributeValue::Null(_) => "NULL",
        AttributeValue::S(_) => "a string (S)",
        AttributeValue::Ss(_) => "a string set (SS)",
        _ => "an unknown type",
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::{error::ErrorMetadata, operation::get_item::GetItemError};
    use proptest::prelude::*;

    use super::*;

    fn full_item() -> Item {
        Item {
            key: Key::new("PIPELINE#df-1", "INST#Copy#2024-01-01T00:00:00"),
            version: 7,
            status: Some("WAITING_ON_DEPENDENCIES".to_owned()),
            due: Some(Due {
                queue: "dependencies#3".to_owned(),
                at_millis: 1_700_000_000_123,
            }),
            expires_at: Some(1_800_000_000),
            data: r#"{"name":"Copy","note":"naïve ☃"}"#.to_owned(),
        }
    }

    fn bare_item() -> Item {
        Item {
            key: Key::new("p", "s"),
            version: 1,
            status: None,
            due: None,
            expires_at: None,
            data: String::new(),
        }
    }

    fn corrupt_message(result: Result<Item, StoreError>) -> String {
        match result {
            Err(StoreError::Corrupt(message)) => message,
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    fn service_failure(code: &str, http_status: u16) -> StoreError {
        let error = GetItemError::generic(
            ErrorMetadata::builder()
                .code(code)
                .message("what the service said")
                .build(),
        );
        let status = http_status
            .try_into()
            .unwrap_or_else(|_| panic!("{http_status} is no HTTP status"));
        let raw = HttpResponse::new(status, "".into());
        failure(
            "GetItem",
            "item (pk \"p\", sk \"s\")",
            SdkError::service_error(error, raw),
        )
    }

    #[test]
    fn an_item_with_every_field_reads_back_unchanged() {
        // Given an item that uses every optional field
        let item = full_item();
        // When it is written as attributes and read back
        let read = from_attributes(to_attributes(&item));
        // Then it is the same item
        assert_eq!(read, Ok(item));
    }

    #[test]
    fn an_item_with_no_optional_field_reads_back_unchanged_and_writes_no_optional_attribute() {
        let item = bare_item();
        let attributes = to_attributes(&item);
        let mut names: Vec<&str> = attributes.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["data", "pk", "sk", "version"]);
        assert_eq!(from_attributes(attributes), Ok(item));
    }

    #[test]
    fn the_attributes_follow_the_table_layout() {
        let item = full_item();
        let attributes = to_attributes(&item);
        let string = |name: &str| match attributes.get(name) {
            Some(AttributeValue::S(value)) => value.clone(),
            other => panic!("{name} should be a string, found {other:?}"),
        };
        let number = |name: &str| match attributes.get(name) {
            Some(AttributeValue::N(value)) => value.clone(),
            other => panic!("{name} should be a number, found {other:?}"),
        };
        assert_eq!(string("pk"), item.key.pk);
        assert_eq!(string("sk"), item.key.sk);
        assert_eq!(number("version"), "7");
        assert_eq!(string("status"), "WAITING_ON_DEPENDENCIES");
        assert_eq!(string("due_pk"), "dependencies#3");
        let due = item.due.as_ref().unwrap_or_else(|| panic!("the item is due"));
        assert_eq!(string("due_sk"), due.sort_key(&item.key));
        assert_eq!(number("due_at"), "1700000000123");
        assert_eq!(number("expires_at"), "1800000000");
        assert_eq!(string("data"), item.data);
    }

    #[test]
    fn a_due_time_before_the_epoch_reads_back_as_written() {
        let item = Item {
            due: Some(Due {
                queue: "q".to_owned(),
                at_millis: -5,
            }),
            ..bare_item()
        };
        assert_eq!(from_attributes(to_attributes(&item)), Ok(item));
    }

    #[test]
    fn every_missing_required_attribute_makes_the_item_corrupt_and_is_named() {
        for name in ["pk", "sk", "version", "data"] {
            // Given a good item without one required attribute
            let mut attributes = to_attributes(&full_item());
            attributes.remove(name);
            // When it is read
            let message = corrupt_message(from_attributes(attributes));
            // Then the error names the attribute
            assert!(message.contains(&format!("`{name}` is missing")), "{name}: {message}");
        }
    }

    #[test]
    fn a_version_that_is_not_a_whole_number_makes_the_item_corrupt() {
        for text in ["1.5", "-1", "abc", "", "1e3", "99999999999999999999999"] {
            let mut attributes = to_attributes(&bare_item());
            attributes.insert("version".to_owned(), AttributeValue::N(text.to_owned()));
            let message = corrupt_message(from_attributes(attributes));
            assert!(message.contains("item (pk \"p\", sk \"s\")"), "{message}");
            assert!(message.contains("`version`"), "{message}");
        }
    }

    #[test]
    fn an_attribute_of_the_wrong_type_makes_the_item_corrupt() {
        let wrong = [
            ("pk", AttributeValue::N("1".to_owned())),
            ("sk", AttributeValue::Bool(true)),
            ("version", AttributeValue::S("1".to_owned())),
            ("status", AttributeValue::Null(true)),
            ("due_pk", AttributeValue::L(Vec::new())),
            ("due_at", AttributeValue::S("1".to_owned())),
            ("expires_at", AttributeValue::Ss(Vec::new())),
            ("data", AttributeValue::M(HashMap::new())),
        ];
        for (name, value) in wrong {
            let mut attributes = to_attributes(&full_item());
            attributes.insert(name.to_owned(), value);
            let message = corrupt_message(from_attributes(attributes));
            assert!(message.contains(&format!("`{name}`")), "{name}: {message}");
        }
    }

    #[test]
    fn a_queue_without_its_due_time_or_a_due_time_without_its_queue_is_corrupt() {
        for name in ["due_at", "due_pk"] {
            let mut attributes = to_attributes(&full_item());
            attributes.remove(name);
            let message = corrupt_message(from_attributes(attributes));
            assert!(message.contains(&format!("`{name}` is missing")), "{message}");
        }
    }

    #[test]
    fn every_placeholder_of_a_condition_is_used_and_every_one_used_is_defined() {
        let conditions = [
            Condition::absent(),
            Condition::expected(&Expected {
                version: 3,
                status: Some("RUNNING".to_owned()),
            }),
            Condition::expected(&Expected {
                version: 3,
                status: None,
            }),
        ];
        for condition in conditions {
            for placeholder in condition.names.keys().chain(condition.values.keys()) {
                assert!(
                    condition.expression.contains(placeholder.as_str()),
                    "{placeholder} is not used in {}",
                    condition.expression
                );
            }
            let used = condition
                .expression
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '#' || c == ':'))
                .filter(|word| word.starts_with('#') || word.starts_with(':'));
            for placeholder in used {
                let defined = condition.names.contains_key(placeholder) || condition.values.contains_key(placeholder);
                assert!(defined, "{placeholder} is not defined for {}", condition.expression);
            }
        }
    }

    #[test]
    fn an_expected_status_of_none_requires_the_status_to_be_absent() {
        let condition = Condition::expected(&Expected {
            version: 9,
            status: None,
        });
        assert_eq!(
            condition.expression,
            "#version = :version AND attribute_not_exists(#status)"
        );
        assert_eq!(
            condition.values.get(":version"),
            Some(&AttributeValue::N("9".to_owned()))
        );
    }

    #[test]
    fn writes_with_an_empty_key_or_an_unnamed_queue_are_rejected_before_sending() {
        let empty_pk = Write::Check {
            key: Key::new("", "s"),
            expected: Expected {
                version: 1,
                status: None,
            },
        };
        assert!(matches!(validate(&empty_pk), Err(StoreError::Rejected(_))));
        let unnamed_queue = Write::Create(Item {
            due: Some(Due {
                queue: String::new(),
                at_millis: 0,
            }),
            ..bare_item()
        });
        let Err(StoreError::Rejected(message)) = validate(&unnamed_queue) else {
            panic!("an unnamed queue should be rejected");
        };
        assert!(message.contains("empty name"), "{message}");
        assert_eq!(validate(&Write::Create(full_item())), Ok(()));
    }

    fn reason(code: &str) -> CancellationReason {
        CancellationReason::builder()
            .code(code)
            .message(format!("because {code}"))
            .build()
    }

    #[test]
    fn a_transaction_cancelled_by_a_failed_condition_is_a_lost_race() {
        let keys = [Key::new("p", "a"), Key::new("p", "b")];
        let reasons = [reason("None"), reason("ConditionalCheckFailed")];
        assert_eq!(cancellation(&reasons, &keys, "runs"), Ok(false));
    }

    #[test]
    fn a_transaction_cancelled_by_a_conflict_is_retryable_and_names_the_item() {
        let keys = [Key::new("p", "a"), Key::new("p", "b")];
        let reasons = [reason("TransactionConflict"), reason("None")];
        let Err(StoreError::Unavailable(message)) = cancellation(&reasons, &keys, "runs") else {
            panic!("a conflict should be retryable");
        };
        assert!(
            message.contains("item (pk \"p\", sk \"a\"): TransactionConflict"),
            "{message}"
        );
        assert!(!message.contains("sk \"b\""), "{message}");
    }

    #[test]
    fn a_transaction_cancelled_by_a_validation_error_is_rejected_with_the_reason() {
        let keys = [Key::new("p", "a")];
        let reasons = [reason("ValidationError")];
        let Err(StoreError::Rejected(message)) = cancellation(&reasons, &keys, "runs") else {
            panic!("a validation error should not be retryable");
        };
        assert!(
            message.contains("ValidationError (because ValidationError)"),
            "{message}"
        );
        assert!(message.contains("TransactionCanceledException"), "{message}");
    }

    #[test]
    fn a_transaction_cancelled_without_reasons_is_retryable() {
        let result = cancellation(&[], &[Key::new("p", "a")], "runs");
        assert!(matches!(result, Err(StoreError::Unavailable(_))), "{result:?}");
    }

    #[test]
    fn throttling_and_server_errors_are_retryable_and_keep_the_sdk_code() {
        for (code, status) in [
            ("ThrottlingException", 400),
            ("ProvisionedThroughputExceededException", 400),
            ("RequestLimitExceeded", 400),
            ("TransactionConflictException", 400),
            ("InternalServerError", 500),
            ("SomethingNew", 503),
        ] {
            let error = service_failure(code, status);
            assert!(error.is_retryable(), "{code}: {error}");
            assert!(error.to_string().contains(code), "{error}");
            assert!(error.to_string().contains("what the service said"), "{error}");
        }
    }

    #[test]
    fn validation_and_other_client_errors_are_rejected_and_keep_the_sdk_code() {
        for code in [
            "ValidationException",
            "AccessDeniedException",
            "ResourceNotFoundException",
        ] {
            let error = service_failure(code, 400);
            assert!(matches!(error, StoreError::Rejected(_)), "{code}: {error}");
            assert!(error.to_string().contains(code), "{error}");
        }
        assert!(
            service_failure("ResourceNotFoundException", 400)
                .to_string()
                .contains("create the table")
        );
    }

    #[test]
    fn timeouts_and_dispatch_failures_are_retryable() {
        let timeout: SdkError<GetItemError, HttpResponse> = SdkError::timeout_error("took too long");
        assert!(failure("GetItem", "x", timeout).is_retryable());
        let refused = aws_sdk_dynamodb::error::ConnectorError::io("connection refused".into());
        let dispatch: SdkError<GetItemError, HttpResponse> = SdkError::dispatch_failure(refused);
        let error = failure("GetItem", "x", dispatch);
        assert!(error.is_retryable(), "{error}");
        assert!(error.to_string().contains("connection refused"), "{error}");
    }

    fn attribute_value() -> impl Strategy<Value = AttributeValue> {
        prop_oneof![
            ".{0,12}".prop_map(AttributeValue::S),
            "[-0-9.eE+]{0,24}".prop_map(AttributeValue::N),
            any::<bool>().prop_map(AttributeValue::Bool),
            any::<bool>().prop_map(AttributeValue::Null),
            Just(AttributeValue::L(Vec::new())),
            Just(AttributeValue::M(HashMap::new())),
        ]
    }

    fn attribute_name() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "pk",
                "sk",
                "version",
                "status",
                "due_pk",
                "due_sk",
                "due_at",
                "expires_at",
                "data"
            ])
            .prop_map(str::to_owned),
            "[a-z_]{1,8}",
        ]
    }

    fn item() -> impl Strategy<Value = Item> {
        (
            ".{1,10}",
            ".{1,10}",
            any::<u64>(),
            proptest::option::of(".{0,10}"),
            proptest::option::of((".{1,10}", any::<i64>())),
            proptest::option::of(any::<i64>()),
            ".{0,40}",
        )
            .prop_map(|(pk, sk, version, status, due, expires_at, data)| Item {
                key: Key::new(pk, sk),
                version,
                status,
                due: due.map(|(queue, at_millis)| Due { queue, at_millis }),
                expires_at,
                data,
            })
    }

    proptest! {
        #[test]
        fn reading_any_attributes_never_panics(
            attributes in prop::collection::hash_map(attribute_name(), attribute_value(), 0..12),
        ) {
            let result = from_attributes(attributes);
            prop_assert!(matches!(result, Ok(_) | Err(StoreError::Corrupt(_))), "{:?}", result);
        }

        #[test]
        fn reading_a_good_item_with_one_attribute_changed_never_panics(
            name in attribute_name(),
            value in attribute_value(),
        ) {
            let mut attributes = to_attributes(&full_item());
            attributes.insert(name, value);
            let result = from_attributes(attributes);
            prop_assert!(matches!(result, Ok(_) | Err(StoreError::Corrupt(_))), "{:?}", result);
        }

        #[test]
        fn every_item_reads_back_unchanged(item in item()) {
            prop_assert_eq!(from_attributes(to_attributes(&item)), Ok(item));
        }
    }
}
