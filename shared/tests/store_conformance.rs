//! The run store conformance suite on both stores: the memory store, and the DynamoDB store
//! against one moto server that this test binary starts on a free port (a fresh table per
//! check). Then what only the DynamoDB store has: its table, its attributes, its errors.

mod support;

use std::{collections::HashMap, net::TcpListener, sync::Arc};

use aws_sdk_dynamodb::{
    Client,
    types::{
        AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        StreamViewType, TimeToLiveStatus,
    },
};
use sluice::store::{
    Due, Expected, Item, Key, Range, RunStore, StoreError, Write,
    dynamodb::{DUE_INDEX, DynamoStore, create_table},
    memory::MemoryStore,
};
use support::{
    conformance::{self, Check, CheckFuture},
    moto::Moto,
};

/// Checks that DynamoDB passes by its documentation but moto's emulation cannot, with why.
/// None since Sluice serves moto's requests one at a time (`local/moto_server.py`): moto
/// 5.2's threaded server let two conditional puts, or two transactions, racing for one item
/// both succeed. The mechanism stays for the next emulator that needs it.
const MOTO_CANNOT: &[(&str, &str)] = &[];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_store_passes_the_conformance_suite() {
    conformance::run_all("memory", || async { MemoryStore::new() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dynamodb_store_passes_the_conformance_suite_and_its_own_checks_on_moto() {
    // Given one moto server for this test binary, and a fresh table for every check
    let moto = Moto::start();
    let client = Client::new(&moto.sdk_config().await);
    let mut tables = 0_u32;
    let fresh = || {
        tables += 1;
        fresh_store(client.clone(), format!("runs-{tables}"))
    };
    // When every check runs but those moto cannot pass, Then every check passes
    let mut checks = conformance::checks();
    for (name, _) in MOTO_CANNOT {
        assert!(
            checks.iter().any(|check| check.name == *name),
            "MOTO_CANNOT names no check {name:?}"
        );
    }
    checks.retain(|check| {
        let skip = MOTO_CANNOT.iter().find(|(name, _)| *name == check.name);
        if let Some((name, why)) = skip {
            eprintln!("dynamodb: {name} ... not run on moto: {why}");
        }
        skip.is_none()
    });
    checks.extend(dynamodb_checks());
    conformance::run_checks("dynamodb", checks, fresh).await;
}

#[tokio::test]
async fn a_store_that_cannot_reach_dynamodb_is_unavailable_and_says_why() {
    // Given a client pointed at a loopback port where nothing listens, without retries
    let port = TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|error| panic!("no free loopback port: {error}"));
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let client = Client::new(&config);
    let store = DynamoStore::new(client.clone(), "runs");
    // When each operation is tried, Then each is retryable and names the operation
    let results = [
        ("GetItem", store.get(&Key::new("p", "a")).await.map(|_| ())),
        ("PutItem", store.write(Write::Create(item("p", "a"))).await.map(|_| ())),
        (
            "TransactWriteItems",
            store.transact(vec![Write::Create(item("p", "a"))]).await.map(|_| ()),
        ),
        ("Query", store.query("p", &Range::prefix("", 10)).await.map(|_| ())),
        ("Query", store.due("q", 0, 10).await.map(|_| ())),
        ("CreateTable", create_table(&client, "runs").await),
    ];
    for (operation, result) in results {
        match result {
            Err(error @ StoreError::Unavailable(_)) => {
                assert!(error.to_string().contains(operation), "{error}");
            }
            other => panic!("{operation} on an unreachable endpoint should be Unavailable, got {other:?}"),
        }
    }
}

async fn fresh_store(client: Client, table: String) -> DynamoStore {
    create_table(&client, &table)
        .await
        .unwrap_or_else(|error| panic!("creating table {table:?} failed: {error}"));
    DynamoStore::new(client, table)
}

fn item(pk: &str, sk: &str) -> Item {
    Item {
        key: Key::new(pk, sk),
        version: 0,
        status: None,
        due: None,
        expires_at: None,
        data: "{}".to_owned(),
    }
}

macro_rules! dynamodb_checks {
    ($($check:ident),+ $(,)?) => {
        fn dynamodb_checks() -> Vec<Check<DynamoStore>> {
            vec![$(Check {
                name: stringify!($check),
                run: |store| -> CheckFuture { Box::pin($check(store)) },
            }),+]
        }
    };
}

dynamodb_checks![
    create_table_again_keeps_the_table_and_its_items,
    create_table_refuses_a_table_laid_out_otherwise,
    the_table_has_on_demand_billing_the_due_index_a_stream_and_ttl_on_expires_at,
    items_are_stored_in_the_documented_layout_and_leave_the_index_when_no_longer_due,
    items_written_by_hand_without_the_store_s_attributes_read_as_corrupt,
    a_missing_table_is_rejected_with_the_sdk_s_error_code,
    an_inverted_query_range_finds_nothing,
    an_item_due_in_a_queue_with_an_empty_name_is_rejected,
    concurrent_writes_answer_every_racer_and_leave_one_racer_s_item,
];

async fn raw_item(store: &DynamoStore, key: &Key) -> HashMap<String, AttributeValue> {
    store
        .client()
        .get_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S(key.pk.clone()))
        .key("sk", AttributeValue::S(key.sk.clone()))
        .consistent_read(true)
        .send()
        .await
        .unwrap_or_else(|error| panic!("raw GetItem failed: {error:?}"))
        .item
        .unwrap_or_else(|| panic!("{key:?} should be stored"))
}

async fn put_raw(store: &DynamoStore, attributes: &[(&str, AttributeValue)]) {
    let mut request = store.client().put_item().table_name(store.table());
    for (name, value) in attributes {
        request = request.item(*name, value.clone());
    }
    request
        .send()
        .await
        .unwrap_or_else(|error| panic!("raw PutItem failed: {error:?}"));
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: &str) -> AttributeValue {
    AttributeValue::N(value.to_owned())
}

async fn create_table_again_keeps_the_table_and_its_items(store: Arc<DynamoStore>) {
    // Given a table with an item
    assert_eq!(store.write(Write::Create(item("p", "a"))).await, Ok(true));
    // When the table is created again, twice
    for _ in 0..2 {
        let again = create_table(store.client(), store.table()).await;
        // Then that is fine, and the item is still there
        assert_eq!(again, Ok(()));
    }
    assert_eq!(
        store
            .get(&Key::new("p", "a"))
            .await
            .map(|item| item.map(|item| item.version)),
        Ok(Some(1))
    );
}

async fn create_table_refuses_a_table_laid_out_otherwise(store: Arc<DynamoStore>) {
    let client = store.client();
    let definition = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap_or_else(|error| panic!("{error}"))
    };
    let key = |name: &str, key_type: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(key_type)
            .build()
            .unwrap_or_else(|error| panic!("{error}"))
    };
    // Given a table keyed by `id`, and one keyed by pk/sk but without the due index
    client
        .create_table()
        .table_name("keyed-by-id")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(definition("id"))
        .key_schema(key("id", KeyType::Hash))
        .send()
        .await
        .unwrap_or_else(|error| panic!("{error:?}"));
    client
        .create_table()
        .table_name("no-index")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(definition("pk"))
        .attribute_definitions(definition("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .send()
        .await
        .unwrap_or_else(|error| panic!("{error:?}"));
    // When Sluice is asked to create tables by those names, Then it refuses and says why
    for (table, why) in [("keyed-by-id", "key schema"), ("no-index", "no index named \"due\"")] {
        match create_table(client, table).await {
            Err(StoreError::Rejected(message)) => {
                assert!(message.contains(why), "{message}");
                assert!(message.contains(table), "{message}");
            }
            other => panic!("create_table on {table} should be refused, got {other:?}"),
        }
    }
}

async fn the_table_has_on_demand_billing_the_due_index_a_stream_and_ttl_on_expires_at(store: Arc<DynamoStore>) {
    let described = store
        .client()
        .describe_table()
        .table_name(store.table())
        .send()
        .await
        .unwrap_or_else(|error| panic!("{error:?}"));
    let table = described.table.unwrap_or_else(|| panic!("no table description"));
    let billing = table.billing_mode_summary().and_then(|summary| summary.billing_mode());
    assert_eq!(billing, Some(&BillingMode::PayPerRequest));
    let stream = table.stream_specification().unwrap_or_else(|| panic!("no stream"));
    assert!(stream.stream_enabled());
    assert_eq!(stream.stream_view_type(), Some(&StreamViewType::NewAndOldImages));
    let index_names: Vec<_> = table
        .global_secondary_indexes()
        .iter()
        .map(|index| index.index_name())
        .collect();
    assert_eq!(index_names, [Some(DUE_INDEX)]);
    let ttl = store
        .client()
        .describe_time_to_live()
        .table_name(store.table())
        .send()
        .await
        .unwrap_or_else(|error| panic!("{error:?}"));
    let ttl = ttl
        .time_to_live_description()
        .unwrap_or_else(|| panic!("no TTL description"));
    assert_eq!(ttl.attribute_name(), Some("expires_at"));
    assert!(matches!(
        ttl.time_to_live_status(),
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
    ));
}

async fn items_are_stored_in_the_documented_layout_and_leave_the_index_when_no_longer_due(store: Arc<DynamoStore>) {
    // Given an item that is due, with a status and an expiry
    let due = Due {
        queue: "dependencies#3".to_owned(),
        at_millis: 1_700_000_000_000,
    };
    let given = Item {
        status: Some("WAITING_ON_DEPENDENCIES".to_owned()),
        due: Some(due.clone()),
        expires_at: Some(1_800_000_000),
        data: r#"{"a":1}"#.to_owned(),
        ..item("PIPELINE#df-1", "INST#Copy#1")
    };
    assert_eq!(store.write(Write::Create(given.clone())).await, Ok(true));
    // Then DynamoDB holds exactly the documented attributes
    let raw = raw_item(&store, &given.key).await;
    let expected = HashMap::from([
        ("pk".to_owned(), s("PIPELINE#df-1")),
        ("sk".to_owned(), s("INST#Copy#1")),
        ("version".to_owned(), n("1")),
        ("status".to_owned(), s("WAITING_ON_DEPENDENCIES")),
        ("due_pk".to_owned(), s("dependencies#3")),
        ("due_sk".to_owned(), s(&due.sort_key(&given.key))),
        ("due_at".to_owned(), n("1700000000000")),
        ("expires_at".to_owned(), n("1800000000")),
        ("data".to_owned(), s(r#"{"a":1}"#)),
    ]);
    assert_eq!(raw, expected);
    // When it is replaced without due, status or expiry
    let plain = Item {
        data: "[]".to_owned(),
        ..item("PIPELINE#df-1", "INST#Copy#1")
    };
    let replaced = store
        .write(Write::Replace {
            item: plain,
            expected: Expected::of(&Item {
                version: 1,
                ..given.clone()
            }),
        })
        .await;
    assert_eq!(replaced, Ok(true));
    // Then the sparse attributes are gone, so the item is out of the index
    let raw = raw_item(&store, &given.key).await;
    let mut names: Vec<&str> = raw.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["data", "pk", "sk", "version"]);
    assert_eq!(raw.get("version"), Some(&n("2")));
}

async fn items_written_by_hand_without_the_store_s_attributes_read_as_corrupt(store: Arc<DynamoStore>) {
    // Given items that another program wrote: one without a version, one due with a bad version
    put_raw(&store, &[("pk", s("p")), ("sk", s("no-version")), ("data", s("{}"))]).await;
    put_raw(
        &store,
        &[
            ("pk", s("p")),
            ("sk", s("bad-version")),
            ("version", s("one")),
            ("due_pk", s("q")),
            ("due_sk", s("000000000000001#p#bad-version")),
            ("due_at", n("1")),
            ("data", s("{}")),
        ],
    )
    .await;
    // When they are read in every way, Then each read is Corrupt and names the item and attribute
    let reads = [
        store.get(&Key::new("p", "no-version")).await.map(|_| ()),
        store.query("p", &Range::prefix("no-", 10)).await.map(|_| ()),
        store.get(&Key::new("p", "bad-version")).await.map(|_| ()),
        store.due("q", i64::MAX, 10).await.map(|_| ()),
    ];
    for (n, result) in reads.into_iter().enumerate() {
        match result {
            Err(StoreError::Corrupt(message)) => {
                assert!(message.contains("`version`"), "read {n}: {message}");
                assert!(message.contains("pk \"p\""), "read {n}: {message}");
            }
            other => panic!("read {n} should be Corrupt, got {other:?}"),
        }
    }
    // And a check against the item with no version is Corrupt too, not a guess
    let checked = store
        .write(Write::Check {
            key: Key::new("p", "no-version"),
            expected: Expected {
                version: 1,
                status: None,
            },
        })
        .await;
    assert!(matches!(checked, Err(StoreError::Corrupt(_))), "{checked:?}");
}

async fn a_missing_table_is_rejected_with_the_sdk_s_error_code(store: Arc<DynamoStore>) {
    let missing = DynamoStore::new(store.client().clone(), "no-such-table");
    let results = [
        missing.get(&Key::new("p", "a")).await.map(|_| ()),
        missing.write(Write::Create(item("p", "a"))).await.map(|_| ()),
        missing.transact(vec![Write::Create(item("p", "a"))]).await.map(|_| ()),
        missing.query("p", &Range::prefix("", 10)).await.map(|_| ()),
        missing.due("q", 0, 10).await.map(|_| ()),
    ];
    for (n, result) in results.into_iter().enumerate() {
        match result {
            Err(StoreError::Rejected(message)) => {
                assert!(
                    message.contains("ResourceNotFoundException"),
                    "operation {n}: {message}"
                );
                assert!(message.contains("no-such-table"), "operation {n}: {message}");
            }
            other => panic!("operation {n} on a missing table should be Rejected, got {other:?}"),
        }
    }
}

// The memory store panics on this range (BTreeMap::range with start > end); see the report.
async fn an_inverted_query_range_finds_nothing(store: Arc<DynamoStore>) {
    assert_eq!(store.write(Write::Create(item("p", "b"))).await, Ok(true));
    let inverted = Range {
        from: "c".to_owned(),
        to: "a".to_owned(),
        limit: 10,
    };
    assert_eq!(store.query("p", &inverted).await, Ok(Vec::new()));
}

async fn an_item_due_in_a_queue_with_an_empty_name_is_rejected(store: Arc<DynamoStore>) {
    let unnamed = Item {
        due: Some(Due {
            queue: String::new(),
            at_millis: 1,
        }),
        ..item("p", "a")
    };
    let created = store.write(Write::Create(unnamed.clone())).await;
    assert!(matches!(created, Err(StoreError::Rejected(_))), "{created:?}");
    let transacted = store.transact(vec![Write::Create(unnamed)]).await;
    assert!(matches!(transacted, Err(StoreError::Rejected(_))), "{transacted:?}");
    assert_eq!(store.get(&Key::new("p", "a")).await, Ok(None));
}

/// What moto can show of a race (see `MOTO_CANNOT`): every racer gets an answer, not an
/// error, someone wins, and the item is one winner's.
async fn concurrent_writes_answer_every_racer_and_leave_one_racer_s_item(store: Arc<DynamoStore>) {
    const RACERS: usize = 8;
    for round in ["create", "replace"] {
        // Given (for the replace round) the item the creators left, at version 1
        let before = store.get(&Key::new("p", "a")).await;
        let expected = match before {
            Ok(Some(ref item)) => Some(Expected::of(item)),
            Ok(None) => None,
            Err(error) => panic!("reading the item before the {round} round failed: {error}"),
        };
        // When several tasks write it at the same moment
        let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
        let racers: Vec<_> = (0..RACERS)
            .map(|n| {
                let (store, barrier, expected) = (Arc::clone(&store), Arc::clone(&barrier), expected.clone());
                tokio::spawn(async move {
                    let mine = Item {
                        data: format!("{n}"),
                        ..item("p", "a")
                    };
                    let write = match expected {
                        Some(expected) => Write::Replace { item: mine, expected },
                        None => Write::Create(mine),
                    };
                    barrier.wait().await;
                    (n, store.write(write).await)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for racer in racers {
            let (n, result) = racer.await.unwrap_or_else(|error| panic!("a racer died: {error}"));
            match result {
                Ok(true) => winners.push(format!("{n}")),
                Ok(false) => {}
                Err(error) => panic!("{round} racer {n} got an error instead of an answer: {error}"),
            }
        }
        // Then someone won, and the item is a winner's, one version on
        let after = store.get(&Key::new("p", "a")).await;
        let Ok(Some(after)) = after else {
            panic!("after the {round} round the item should be stored, got {after:?}");
        };
        assert!(!winners.is_empty(), "nobody won the {round} round");
        assert!(
            winners.contains(&after.data),
            "{round}: {:?} is no winner's ({winners:?})",
            after.data
        );
        let version = if round == "create" { 1 } else { 2 };
        assert_eq!(after.version, version, "{round}");
    }
}
