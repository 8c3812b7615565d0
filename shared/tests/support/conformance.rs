//! The run store conformance suite: one set of checks that every `RunStore` must pass, so
//! that the memory store (simulation) and the DynamoDB store (production) keep the same
//! rules. Each check gets a fresh, empty store from the caller and says in its panic
//! message what went wrong; [`run_checks`] runs them one after another, isolates panics
//! and reports every failure by the check's name.
//!
//! Run one check alone with `CONFORMANCE_CHECK=<part of its name> cargo test ...`.

use std::{collections::BTreeSet, fmt::Debug, future::Future, pin::Pin, sync::Arc, time::Duration};

use sluice::store::{Due, Expected, Item, Key, Range, RunStore, StoreError, Write};
use tokio::sync::Barrier;

/// How long one check may take before it counts as failed (a hung request, a deadlock).
const CHECK_TIMEOUT: Duration = Duration::from_secs(120);

/// How many tasks race for the same item.
const RACERS: usize = 8;

pub type CheckFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One named check, run against a fresh store.
pub struct Check<S> {
    pub name: &'static str,
    pub run: fn(Arc<S>) -> CheckFuture,
}

/// Lists the checks once: the names come from the functions.
macro_rules! suite {
    ($($check:ident),+ $(,)?) => {
        /// Every check of the suite, in order.
        pub fn checks<S: RunStore + 'static>() -> Vec<Check<S>> {
            vec![$(Check {
                name: stringify!($check),
                run: |store| -> CheckFuture { Box::pin($check(store)) },
            }),+]
        }
    };
}

suite![
    versions_start_at_one_whatever_the_created_item_says,
    a_second_create_of_the_same_key_fails_and_leaves_the_item_unchanged,
    get_finds_only_the_exact_key,
    get_many_answers_every_key_in_order_past_one_request,
    replace_with_the_expected_version_and_status_succeeds_and_bumps_the_version,
    replace_with_a_stale_version_fails_and_writes_nothing,
    replace_with_another_status_fails_and_writes_nothing,
    replace_expecting_no_status_succeeds_only_on_an_item_without_one,
    replace_of_a_missing_item_fails_and_creates_nothing,
    replace_replaces_every_field,
    delete_with_the_expected_version_and_status_removes_the_item,
    delete_with_a_stale_version_or_another_status_fails_and_keeps_the_item,
    delete_of_a_missing_item_fails,
    check_succeeds_only_when_the_item_is_as_expected_and_writes_nothing,
    a_transaction_applies_all_its_writes,
    a_transaction_with_one_failing_condition_writes_nothing,
    a_transaction_naming_the_same_item_twice_is_rejected_and_writes_nothing,
    an_empty_transaction_succeeds,
    every_kind_of_write_with_an_empty_pk_or_sk_is_rejected,
    reads_with_an_empty_key_find_nothing,
    query_returns_a_half_open_range_in_ascending_order,
    query_stops_at_the_limit,
    query_from_a_sort_key_and_a_nul_starts_right_after_that_key,
    query_with_an_empty_lower_bound_starts_at_the_first_sort_key,
    query_of_an_empty_range_finds_nothing,
    query_excludes_other_partitions,
    query_by_prefix_returns_exactly_the_sort_keys_with_that_prefix,
    query_and_due_return_every_item_even_past_one_megabyte,
    due_lists_only_items_that_are_due,
    due_orders_items_by_time_then_key,
    due_includes_items_due_exactly_at_until_and_no_later_ones,
    due_stops_at_the_limit,
    due_returns_whole_items,
    an_item_leaves_its_queue_when_replaced_without_due,
    an_item_leaves_its_queue_when_deleted,
    an_item_moves_in_its_queue_when_its_due_time_changes,
    an_item_moves_to_another_queue_when_its_queue_changes,
    queues_do_not_mix,
    a_failed_transaction_leaves_the_queues_as_they_were,
    a_due_time_before_the_epoch_is_kept_and_sorts_first,
    concurrent_replaces_from_the_same_version_have_exactly_one_winner,
    concurrent_creates_of_the_same_key_have_exactly_one_winner,
    concurrent_transactions_on_the_same_item_have_at_most_one_winner,
    data_round_trips_arbitrary_json_text_including_unicode,
    keys_status_and_expiry_round_trip_exactly,
    an_inverted_range_finds_nothing,
    an_item_in_a_queue_without_a_name_is_rejected,
    items_past_dynamodb_limits_are_rejected_and_written_nowhere,
];

/// Runs every check of the suite, each on a store from `fresh`.
pub async fn run_all<S, F, Fut>(label: &str, fresh: F)
where
    S: RunStore + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    run_checks(label, checks(), fresh).await;
}

/// Runs `checks`, each on a store from `fresh`, and fails once at the end naming every
/// check that failed and why.
pub async fn run_checks<S, F, Fut>(label: &str, checks: Vec<Check<S>>, mut fresh: F)
where
    S: RunStore + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    let only = std::env::var("CONFORMANCE_CHECK").ok();
    let mut ran = 0_usize;
    let mut failures = Vec::new();
    for check in checks {
        if only.as_deref().is_some_and(|part| !check.name.contains(part)) {
            continue;
        }
        ran += 1;
        let store = Arc::new(fresh().await);
        let task = tokio::spawn((check.run)(store));
        let abort = task.abort_handle();
        let failure = match tokio::time::timeout(CHECK_TIMEOUT, task).await {
            Ok(Ok(())) => None,
            Ok(Err(error)) if error.is_panic() => Some(panic_message(error.into_panic())),
            Ok(Err(error)) => Some(error.to_string()),
            Err(_) => {
                abort.abort();
                Some(format!("did not finish within {CHECK_TIMEOUT:?}"))
            }
        };
        eprintln!(
            "{label}: {} ... {}",
            check.name,
            if failure.is_some() { "FAILED" } else { "ok" }
        );
        if let Some(failure) = failure {
            failures.push(format!("- {}: {failure}", check.name));
        }
    }
    assert!(ran > 0, "{label}: no check's name contains CONFORMANCE_CHECK={only:?}");
    assert!(
        failures.is_empty(),
        "{label}: {} of {ran} conformance checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(message) => (*message).to_owned(),
            Err(_) => "panicked with a value that is not a message".to_owned(),
        },
    }
}

// ---- helpers ------------------------------------------------------------------------------

fn item(pk: &str, sk: &str) -> Item {
    Item {
        key: Key::new(pk, sk),
        version: 0,
        status: None,
        due: None,
        expires_at: None,
        data: format!(r#"{{"pk":"{pk}","sk":"{sk}"}}"#),
    }
}

fn with_status(item: Item, status: &str) -> Item {
    Item {
        status: Some(status.to_owned()),
        ..item
    }
}

fn with_data(item: Item, data: &str) -> Item {
    Item {
        data: data.to_owned(),
        ..item
    }
}

fn due_at(item: Item, queue: &str, at_millis: i64) -> Item {
    Item {
        due: Some(Due {
            queue: queue.to_owned(),
            at_millis,
        }),
        ..item
    }
}

fn expected(version: u64, status: Option<&str>) -> Expected {
    Expected {
        version,
        status: status.map(str::to_owned),
    }
}

fn replace(item: Item, expected: Expected) -> Write {
    Write::Replace { item, expected }
}

fn delete(key: &Key, expected: Expected) -> Write {
    Write::Delete {
        key: key.clone(),
        expected,
    }
}

fn check(key: &Key, expected: Expected) -> Write {
    Write::Check {
        key: key.clone(),
        expected,
    }
}

fn answered<T>(result: Result<T, StoreError>, doing: &str) -> T {
    result.unwrap_or_else(|error| panic!("{doing} failed instead of answering: {error}"))
}

async fn wrote<S: RunStore>(store: &S, write: Write) -> bool {
    let doing = format!("{write:?}");
    answered(store.write(write).await, &doing)
}

async fn transacted<S: RunStore>(store: &S, writes: Vec<Write>) -> bool {
    let doing = format!("the transaction {writes:?}");
    answered(store.transact(writes).await, &doing)
}

async fn read<S: RunStore>(store: &S, key: &Key) -> Option<Item> {
    answered(store.get(key).await, &format!("get {key:?}"))
}

async fn stored<S: RunStore>(store: &S, key: &Key) -> Item {
    read(store, key)
        .await
        .unwrap_or_else(|| panic!("{key:?} should be stored"))
}

/// Creates `item` (which must be new) and returns it as stored.
async fn create<S: RunStore>(store: &S, item: Item) -> Item {
    let key = item.key.clone();
    assert!(
        wrote(store, Write::Create(item)).await,
        "creating {key:?} in an empty place failed"
    );
    stored(store, &key).await
}

async fn query_sks<S: RunStore>(store: &S, pk: &str, range: &Range) -> Vec<String> {
    let items = answered(store.query(pk, range).await, &format!("query {pk:?} {range:?}"));
    items.into_iter().map(|item| item.key.sk).collect()
}

async fn due_sks<S: RunStore>(store: &S, queue: &str, until_millis: i64, limit: usize) -> Vec<String> {
    let doing = format!("due {queue:?} until {until_millis} limit {limit}");
    let items = answered(store.due(queue, until_millis, limit).await, &doing);
    items.into_iter().map(|item| item.key.sk).collect()
}

fn assert_rejected<T: Debug>(result: Result<T, StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::Rejected(_))),
        "{what} should be Rejected, got {result:?}"
    );
}

// ---- creating and reading -----------------------------------------------------------------

async fn versions_start_at_one_whatever_the_created_item_says<S: RunStore>(store: Arc<S>) {
    // Given an item that claims version 42 and uses every field
    let given = Item {
        version: 42,
        expires_at: Some(1_900_000_000),
        ..due_at(with_status(item("p", "a"), "PENDING"), "q", 1_000)
    };
    // When it is created
    let stored = create(&*store, given.clone()).await;
    // Then it is stored as given, at version 1
    assert_eq!(stored, Item { version: 1, ..given });
}

async fn a_second_create_of_the_same_key_fails_and_leaves_the_item_unchanged<S: RunStore>(store: Arc<S>) {
    let first = create(&*store, with_status(item("p", "a"), "FIRST")).await;
    let second = due_at(with_data(with_status(item("p", "a"), "SECOND"), "{}"), "q", 5);
    assert!(
        !wrote(&*store, Write::Create(second)).await,
        "a second create of the same key succeeded"
    );
    assert_eq!(stored(&*store, &first.key).await, first);
    assert_eq!(due_sks(&*store, "q", i64::MAX, 10).await, Vec::<String>::new());
}

async fn get_finds_only_the_exact_key<S: RunStore>(store: Arc<S>) {
    create(&*store, item("p", "a")).await;
    for (pk, sk) in [("p", "b"), ("p", "A"), ("P", "a"), ("q", "a"), ("p", "a "), ("p", "a#")] {
        assert_eq!(
            read(&*store, &Key::new(pk, sk)).await,
            None,
            "({pk:?}, {sk:?}) should not be found"
        );
    }
    assert!(read(&*store, &Key::new("p", "a")).await.is_some());
}

async fn get_many_answers_every_key_in_order_past_one_request<S: RunStore>(store: Arc<S>) {
    // Given two items
    create(&*store, item("p", "a")).await;
    create(&*store, item("p", "b")).await;
    // When they are asked for with a missing key, one key twice and an empty key
    let keys = [
        Key::new("p", "b"),
        Key::new("p", "x"),
        Key::new("p", "a"),
        Key::new("p", "b"),
        Key::new("", ""),
    ];
    let found = answered(store.get_many(&keys).await, "get_many");
    // Then every key is answered in its place
    let sks: Vec<Option<&str>> = found
        .iter()
        .map(|item| item.as_ref().map(|item| item.key.sk.as_str()))
        .collect();
    assert_eq!(sks, [Some("b"), None, Some("a"), Some("b"), None]);
    assert_eq!(found[2], Some(stored(&*store, &Key::new("p", "a")).await));
    // And more keys than one BatchGetItem takes are all answered
    let many: Vec<String> = (0..130).map(|n| format!("k{n:03}")).collect();
    let names: Vec<&str> = many.iter().map(String::as_str).collect();
    create_all(&*store, "q", &names).await;
    let keys: Vec<Key> = names.iter().map(|sk| Key::new("q", *sk)).collect();
    let found = answered(store.get_many(&keys).await, "get_many of 130 keys");
    assert_eq!(found.len(), 130);
    for (key, item) in keys.iter().zip(&found) {
        assert_eq!(item.as_ref().map(|item| &item.key), Some(key));
    }
    assert_eq!(answered(store.get_many(&[]).await, "get_many of nothing"), Vec::new());
}

// ---- replace ------------------------------------------------------------------------------

async fn replace_with_the_expected_version_and_status_succeeds_and_bumps_the_version<S: RunStore>(store: Arc<S>) {
    // Given an item at version 1, RUNNING
    let first = create(&*store, with_status(item("p", "a"), "RUNNING")).await;
    // When it is replaced from what was read, twice
    let next = with_data(with_status(item("p", "a"), "FINISHED"), r#"{"done":true}"#);
    assert!(
        wrote(&*store, replace(next.clone(), Expected::of(&first))).await,
        "replace from version 1 failed"
    );
    let second = stored(&*store, &first.key).await;
    let last = with_status(item("p", "a"), "ARCHIVED");
    assert!(
        wrote(&*store, replace(last.clone(), Expected::of(&second))).await,
        "replace from version 2 failed"
    );
    // Then each replace stored the new item and grew the version by one
    assert_eq!(second, Item { version: 2, ..next });
    assert_eq!(stored(&*store, &first.key).await, Item { version: 3, ..last });
}

async fn replace_with_a_stale_version_fails_and_writes_nothing<S: RunStore>(store: Arc<S>) {
    let first = create(&*store, with_status(item("p", "a"), "RUNNING")).await;
    assert!(
        wrote(
            &*store,
            replace(with_status(item("p", "a"), "RUNNING"), Expected::of(&first))
        )
        .await
    );
    let now = stored(&*store, &first.key).await;
    for version in [0, 1, 3, u64::MAX] {
        let write = replace(
            with_data(with_status(item("p", "a"), "RUNNING"), "{}"),
            expected(version, Some("RUNNING")),
        );
        assert!(
            !wrote(&*store, write).await,
            "replace expecting version {version} of an item at 2 succeeded"
        );
    }
    assert_eq!(stored(&*store, &first.key).await, now);
}

async fn replace_with_another_status_fails_and_writes_nothing<S: RunStore>(store: Arc<S>) {
    let running = create(&*store, with_status(item("p", "a"), "RUNNING")).await;
    let plain = create(&*store, item("p", "b")).await;
    let attempts = [
        (&running, Some("WAITING_FOR_RUNNER")),
        (&running, Some("running")),
        (&running, Some("")),
        (&running, None),
        (&plain, Some("RUNNING")),
        (&plain, Some("")),
    ];
    for (target, status) in attempts {
        let write = replace(
            with_data(item(&target.key.pk, &target.key.sk), "{}"),
            expected(1, status),
        );
        assert!(
            !wrote(&*store, write).await,
            "replace of {:?} expecting status {status:?} succeeded",
            target.status
        );
    }
    assert_eq!(stored(&*store, &running.key).await, running);
    assert_eq!(stored(&*store, &plain.key).await, plain);
}

async fn replace_expecting_no_status_succeeds_only_on_an_item_without_one<S: RunStore>(store: Arc<S>) {
    let plain = create(&*store, item("p", "a")).await;
    assert!(wrote(&*store, replace(with_status(item("p", "a"), "SET"), expected(1, None))).await);
    assert_eq!(stored(&*store, &plain.key).await.status.as_deref(), Some("SET"));
    assert!(!wrote(&*store, replace(item("p", "a"), expected(2, None))).await);
    assert!(wrote(&*store, replace(item("p", "a"), expected(2, Some("SET")))).await);
    assert_eq!(
        stored(&*store, &plain.key).await,
        Item {
            version: 3,
            ..item("p", "a")
        }
    );
}

async fn replace_of_a_missing_item_fails_and_creates_nothing<S: RunStore>(store: Arc<S>) {
    for status in [None, Some("RUNNING")] {
        let write = replace(due_at(item("p", "ghost"), "q", 1), expected(1, status));
        assert!(
            !wrote(&*store, write).await,
            "replace of a missing item expecting {status:?} succeeded"
        );
    }
    assert_eq!(read(&*store, &Key::new("p", "ghost")).await, None);
    assert_eq!(due_sks(&*store, "q", i64::MAX, 10).await, Vec::<String>::new());
}

async fn replace_replaces_every_field<S: RunStore>(store: Arc<S>) {
    // Given an item with every optional field set
    let full = Item {
        expires_at: Some(2_000_000_000),
        ..due_at(with_status(item("p", "a"), "RUNNING"), "q", 10)
    };
    let first = create(&*store, full).await;
    // When it is replaced by one with none of them
    let bare = with_data(item("p", "a"), "[]");
    assert!(wrote(&*store, replace(bare.clone(), Expected::of(&first))).await);
    // Then none of the old fields remain
    assert_eq!(stored(&*store, &first.key).await, Item { version: 2, ..bare });
    // And when they are set again, they are all there
    let again = Item {
        expires_at: Some(7),
        ..due_at(with_status(item("p", "a"), "DONE"), "r", 20)
    };
    assert!(wrote(&*store, replace(again.clone(), expected(2, None))).await);
    assert_eq!(stored(&*store, &first.key).await, Item { version: 3, ..again });
}

// ---- delete and check ---------------------------------------------------------------------

async fn delete_with_the_expected_version_and_status_removes_the_item<S: RunStore>(store: Arc<S>) {
    let first = create(&*store, with_status(item("p", "a"), "DONE")).await;
    assert!(
        wrote(&*store, delete(&first.key, Expected::of(&first))).await,
        "delete as read failed"
    );
    assert_eq!(read(&*store, &first.key).await, None);
    // The key is free again: a new item starts over at version 1.
    let again = create(&*store, item("p", "a")).await;
    assert_eq!(again.version, 1);
}

async fn delete_with_a_stale_version_or_another_status_fails_and_keeps_the_item<S: RunStore>(store: Arc<S>) {
    let first = create(&*store, with_status(item("p", "a"), "DONE")).await;
    for (version, status) in [(2, Some("DONE")), (0, Some("DONE")), (1, Some("FAILED")), (1, None)] {
        let write = delete(&first.key, expected(version, status));
        assert!(
            !wrote(&*store, write).await,
            "delete expecting ({version}, {status:?}) succeeded"
        );
    }
    assert_eq!(stored(&*store, &first.key).await, first);
}

async fn delete_of_a_missing_item_fails<S: RunStore>(store: Arc<S>) {
    assert!(!wrote(&*store, delete(&Key::new("p", "ghost"), expected(1, None))).await);
    assert!(!wrote(&*store, delete(&Key::new("p", "ghost"), expected(1, Some("DONE")))).await);
}

async fn check_succeeds_only_when_the_item_is_as_expected_and_writes_nothing<S: RunStore>(store: Arc<S>) {
    let first = create(&*store, with_status(item("p", "a"), "RUNNING")).await;
    assert!(
        wrote(&*store, check(&first.key, Expected::of(&first))).await,
        "check as read failed"
    );
    for (version, status) in [(2, Some("RUNNING")), (1, Some("DONE")), (1, None)] {
        let write = check(&first.key, expected(version, status));
        assert!(
            !wrote(&*store, write).await,
            "check expecting ({version}, {status:?}) succeeded"
        );
    }
    assert!(
        !wrote(&*store, check(&Key::new("p", "ghost"), expected(1, None))).await,
        "check of a missing item"
    );
    assert_eq!(stored(&*store, &first.key).await, first, "a check changed the item");
    assert_eq!(
        read(&*store, &Key::new("p", "ghost")).await,
        None,
        "a check created an item"
    );
}

// ---- transactions -------------------------------------------------------------------------

async fn a_transaction_applies_all_its_writes<S: RunStore>(store: Arc<S>) {
    // Given three items
    let replaced = create(&*store, with_status(item("p", "replaced"), "RUNNING")).await;
    let deleted = create(&*store, item("p", "deleted")).await;
    let checked = create(&*store, with_status(item("p", "checked"), "DONE")).await;
    // When one transaction creates, replaces, deletes and checks
    let new_one = due_at(item("p", "created"), "q", 5);
    let next = due_at(with_status(item("p", "replaced"), "FINISHED"), "q", 6);
    let writes = vec![
        Write::Create(new_one.clone()),
        replace(next.clone(), Expected::of(&replaced)),
        delete(&deleted.key, Expected::of(&deleted)),
        check(&checked.key, Expected::of(&checked)),
    ];
    assert!(
        transacted(&*store, writes).await,
        "a transaction whose conditions all hold failed"
    );
    // Then every write happened
    assert_eq!(stored(&*store, &new_one.key).await, Item { version: 1, ..new_one });
    assert_eq!(stored(&*store, &replaced.key).await, Item { version: 2, ..next });
    assert_eq!(read(&*store, &deleted.key).await, None);
    assert_eq!(stored(&*store, &checked.key).await, checked);
    assert_eq!(due_sks(&*store, "q", i64::MAX, 10).await, ["created", "replaced"]);
}

async fn a_transaction_with_one_failing_condition_writes_nothing<S: RunStore>(store: Arc<S>) {
    // Given items that good writes can change
    let existing = create(&*store, with_status(item("p", "existing"), "RUNNING")).await;
    let victim = create(&*store, due_at(item("p", "victim"), "q", 1)).await;
    let keys = [
        existing.key.clone(),
        victim.key.clone(),
        Key::new("p", "new"),
        Key::new("p", "ghost"),
    ];
    let good = || {
        vec![
            Write::Create(due_at(item("p", "new"), "q", 2)),
            delete(&victim.key, Expected::of(&victim)),
        ]
    };
    let failing = [
        ("a create of an existing key", Write::Create(item("p", "existing"))),
        (
            "a replace from a stale version",
            replace(item("p", "existing"), expected(2, Some("RUNNING"))),
        ),
        (
            "a replace expecting another status",
            replace(item("p", "existing"), expected(1, Some("DONE"))),
        ),
        (
            "a replace of a missing item",
            replace(item("p", "ghost"), expected(1, None)),
        ),
        (
            "a delete expecting another status",
            delete(&existing.key, expected(1, None)),
        ),
        (
            "a check that does not hold",
            check(&existing.key, expected(2, Some("RUNNING"))),
        ),
        (
            "a check of a missing item",
            check(&Key::new("p", "ghost"), expected(1, None)),
        ),
    ];
    for (what, bad) in failing {
        // When a transaction of good writes also holds one whose condition fails
        for position in [0, 1, 2] {
            let mut writes = good();
            writes.insert(position, bad.clone());
            assert!(
                !transacted(&*store, writes).await,
                "a transaction with {what} succeeded"
            );
            // Then nothing at all was written
            for key in &keys {
                let expected_item = [&existing, &victim].into_iter().find(|item| &item.key == key).cloned();
                assert_eq!(
                    read(&*store, key).await,
                    expected_item,
                    "after a transaction with {what}"
                );
            }
            assert_eq!(
                due_sks(&*store, "q", i64::MAX, 10).await,
                ["victim"],
                "after a transaction with {what}"
            );
        }
    }
}

async fn a_transaction_naming_the_same_item_twice_is_rejected_and_writes_nothing<S: RunStore>(store: Arc<S>) {
    let first = create(&*store, item("p", "a")).await;
    let twice = [
        vec![
            replace(with_status(item("p", "a"), "ONE"), Expected::of(&first)),
            check(&first.key, Expected::of(&first)),
        ],
        vec![
            Write::Create(item("p", "new")),
            Write::Create(with_status(item("p", "new"), "TWICE")),
        ],
        vec![
            Write::Create(item("p", "other")),
            delete(&first.key, Expected::of(&first)),
            replace(item("p", "a"), Expected::of(&first)),
        ],
    ];
    for writes in twice {
        let doing = format!("{writes:?}");
        assert_rejected(store.transact(writes).await, &doing);
        assert_eq!(stored(&*store, &first.key).await, first, "after {doing}");
        assert_eq!(read(&*store, &Key::new("p", "new")).await, None, "after {doing}");
        assert_eq!(read(&*store, &Key::new("p", "other")).await, None, "after {doing}");
    }
}

async fn an_empty_transaction_succeeds<S: RunStore>(store: Arc<S>) {
    assert!(transacted(&*store, Vec::new()).await);
}

async fn every_kind_of_write_with_an_empty_pk_or_sk_is_rejected<S: RunStore>(store: Arc<S>) {
    for (pk, sk) in [("", "a"), ("p", ""), ("", "")] {
        let key = Key::new(pk, sk);
        let writes = [
            Write::Create(item(pk, sk)),
            replace(item(pk, sk), expected(1, None)),
            delete(&key, expected(1, None)),
            check(&key, expected(1, None)),
        ];
        for write in writes {
            let doing = format!("{write:?}");
            assert_rejected(store.write(write.clone()).await, &doing);
            let transaction = vec![Write::Create(item("p", "fine")), write];
            assert_rejected(
                store.transact(transaction).await,
                &format!("a transaction with {doing}"),
            );
        }
    }
    assert_eq!(
        read(&*store, &Key::new("p", "fine")).await,
        None,
        "a rejected transaction wrote"
    );
}

async fn reads_with_an_empty_key_find_nothing<S: RunStore>(store: Arc<S>) {
    create(&*store, item("p", "a")).await;
    for (pk, sk) in [("", "a"), ("p", ""), ("", "")] {
        assert_eq!(read(&*store, &Key::new(pk, sk)).await, None);
    }
    assert_eq!(
        query_sks(&*store, "", &Range::prefix("", 10)).await,
        Vec::<String>::new()
    );
    assert_eq!(due_sks(&*store, "", i64::MAX, 10).await, Vec::<String>::new());
}

// ---- query --------------------------------------------------------------------------------

async fn create_all<S: RunStore>(store: &S, pk: &str, sks: &[&str]) {
    for sk in sks {
        create(store, item(pk, sk)).await;
    }
}

fn range(from: &str, to: &str, limit: usize) -> Range {
    Range {
        from: from.to_owned(),
        to: to.to_owned(),
        limit,
    }
}

async fn query_returns_a_half_open_range_in_ascending_order<S: RunStore>(store: Arc<S>) {
    // Given sort keys created out of order
    create_all(&*store, "p", &["d", "b", "e", "a", "c", "bb"]).await;
    // When a range is read, Then `from` is in, `to` is out, and the order is ascending
    assert_eq!(query_sks(&*store, "p", &range("b", "d", 100)).await, ["b", "bb", "c"]);
    assert_eq!(query_sks(&*store, "p", &range("a", "b", 100)).await, ["a"]);
    assert_eq!(query_sks(&*store, "p", &range("aa", "bc", 100)).await, ["b", "bb"]);
    assert_eq!(query_sks(&*store, "p", &range("c", "z", 100)).await, ["c", "d", "e"]);
    assert_eq!(
        query_sks(&*store, "p", &range("f", "z", 100)).await,
        Vec::<String>::new()
    );
}

async fn query_stops_at_the_limit<S: RunStore>(store: Arc<S>) {
    create_all(&*store, "p", &["a", "b", "c", "d", "e"]).await;
    assert_eq!(query_sks(&*store, "p", &range("a", "z", 2)).await, ["a", "b"]);
    assert_eq!(query_sks(&*store, "p", &range("b", "e", 3)).await, ["b", "c", "d"]);
    assert_eq!(query_sks(&*store, "p", &range("b", "e", 1)).await, ["b"]);
    assert_eq!(query_sks(&*store, "p", &range("a", "z", 0)).await, Vec::<String>::new());
    assert_eq!(
        query_sks(&*store, "p", &range("a", "z", 5)).await,
        ["a", "b", "c", "d", "e"]
    );
    assert_eq!(
        query_sks(&*store, "p", &range("a", "z", usize::MAX)).await,
        ["a", "b", "c", "d", "e"]
    );
}

/// How a page goes on after the last record of the one before (QueryObjects' marker):
/// DynamoDB's ExclusiveStartKey, as a range from the key and a NUL.
async fn query_from_a_sort_key_and_a_nul_starts_right_after_that_key<S: RunStore>(store: Arc<S>) {
    create_all(
        &*store,
        "p",
        &["INST#a#1", "INST#a#1#", "INST#a#10", "INST#a#2", "INST#b#1"],
    )
    .await;
    assert_eq!(
        query_sks(&*store, "p", &range("INST#a#1\0", "INST#\u{10FFFF}", 3)).await,
        ["INST#a#1#", "INST#a#10", "INST#a#2"]
    );
    assert_eq!(
        query_sks(&*store, "p", &range("INST#a#2\0", "INST#\u{10FFFF}", 3)).await,
        ["INST#b#1"]
    );
}

async fn query_with_an_empty_lower_bound_starts_at_the_first_sort_key<S: RunStore>(store: Arc<S>) {
    create_all(&*store, "p", &["!", "a", "b"]).await;
    assert_eq!(query_sks(&*store, "p", &range("", "b", 10)).await, ["!", "a"]);
    assert_eq!(query_sks(&*store, "p", &range("", "\u{10FFFF}", 2)).await, ["!", "a"]);
}

async fn query_of_an_empty_range_finds_nothing<S: RunStore>(store: Arc<S>) {
    create_all(&*store, "p", &["a", "b"]).await;
    assert_eq!(
        query_sks(&*store, "p", &range("a", "a", 10)).await,
        Vec::<String>::new()
    );
    assert_eq!(query_sks(&*store, "p", &range("", "", 10)).await, Vec::<String>::new());
}

async fn query_excludes_other_partitions<S: RunStore>(store: Arc<S>) {
    create_all(&*store, "p", &["a", "b"]).await;
    create_all(&*store, "p2", &["a", "c"]).await;
    create_all(&*store, "P", &["a"]).await;
    create_all(&*store, "o", &["z"]).await;
    assert_eq!(query_sks(&*store, "p", &range("", "\u{10FFFF}", 100)).await, ["a", "b"]);
    assert_eq!(query_sks(&*store, "p2", &Range::prefix("", 100)).await, ["a", "c"]);
    assert_eq!(
        query_sks(&*store, "q", &Range::prefix("", 100)).await,
        Vec::<String>::new()
    );
}

async fn query_by_prefix_returns_exactly_the_sort_keys_with_that_prefix<S: RunStore>(store: Arc<S>) {
    // Given sort keys around the prefixes `INST#a#` and `INST#`
    let sks = [
        "ATT#a#1",
        "INS",
        "INST",
        "INST#",
        "INST#a",
        "INST#a#1",
        "INST#a#2",
        "INST#a#é",
        "INST#a#😀",
        "INST#b#1",
        "INST$",
        "INSTA",
        "META",
    ];
    create_all(&*store, "p", &sks).await;
    // Then a prefix reads exactly its keys, ascending (by code point, which is UTF-8 byte order)
    assert_eq!(
        query_sks(&*store, "p", &Range::prefix("INST#a#", 100)).await,
        ["INST#a#1", "INST#a#2", "INST#a#é", "INST#a#😀"]
    );
    assert_eq!(
        query_sks(&*store, "p", &Range::prefix("INST#", 100)).await,
        [
            "INST#",
            "INST#a",
            "INST#a#1",
            "INST#a#2",
            "INST#a#é",
            "INST#a#😀",
            "INST#b#1"
        ]
    );
    assert_eq!(
        query_sks(&*store, "p", &Range::prefix("INST#a#", 2)).await,
        ["INST#a#1", "INST#a#2"]
    );
    assert_eq!(
        query_sks(&*store, "p", &Range::prefix("ZZZ", 100)).await,
        Vec::<String>::new()
    );
    assert_eq!(query_sks(&*store, "p", &Range::prefix("", 100)).await, sks);
}

async fn query_and_due_return_every_item_even_past_one_megabyte<S: RunStore>(store: Arc<S>) {
    // Given 30 items of 100 kB each (DynamoDB answers a query in pages of at most 1 MB)
    let body = format!(r#"{{"padding":"{}"}}"#, "x".repeat(100_000));
    let mut sks = Vec::new();
    for n in 0..30 {
        let sk = format!("big#{n:02}");
        create(&*store, due_at(with_data(item("p", &sk), &body), "big", n)).await;
        sks.push(sk);
    }
    // When they are read in one query, Then all of them come back, in order
    let items = answered(
        store.query("p", &Range::prefix("big#", 1_000)).await,
        "a query over 3 MB",
    );
    assert_eq!(items.iter().map(|item| item.key.sk.clone()).collect::<Vec<_>>(), sks);
    assert!(
        items.iter().all(|item| item.data == body),
        "a large body came back changed"
    );
    assert_eq!(due_sks(&*store, "big", i64::MAX, 1_000).await, sks);
    assert_eq!(due_sks(&*store, "big", 24, 1_000).await.len(), 25);
}

// ---- due queues ---------------------------------------------------------------------------

async fn due_lists_only_items_that_are_due<S: RunStore>(store: Arc<S>) {
    create(&*store, due_at(item("p", "due"), "q", 10)).await;
    create(&*store, item("p", "idle")).await;
    create(&*store, with_status(item("p", "idle-with-status"), "DONE")).await;
    assert_eq!(due_sks(&*store, "q", i64::MAX, 100).await, ["due"]);
}

async fn due_orders_items_by_time_then_key<S: RunStore>(store: Arc<S>) {
    // Given items due at various times, created in no particular order
    create(&*store, due_at(item("p", "late"), "q", 3_000)).await;
    create(&*store, due_at(item("p", "b-early"), "q", 1_000)).await;
    create(&*store, due_at(item("p", "a-early"), "q", 1_000)).await;
    create(&*store, due_at(item("o", "z-early"), "q", 1_000)).await;
    create(&*store, due_at(item("p", "middle"), "q", 2_000)).await;
    create(&*store, due_at(item("p", "first"), "q", 999)).await;
    // Then the queue reads earliest first, and by key (pk, then sk) at equal times
    assert_eq!(
        due_sks(&*store, "q", i64::MAX, 100).await,
        ["first", "z-early", "a-early", "b-early", "middle", "late"]
    );
}

async fn due_includes_items_due_exactly_at_until_and_no_later_ones<S: RunStore>(store: Arc<S>) {
    for (sk, at) in [("a", 100), ("b", 200), ("c", 201), ("d", 10_000)] {
        create(&*store, due_at(item("p", sk), "q", at)).await;
    }
    assert_eq!(due_sks(&*store, "q", 200, 100).await, ["a", "b"]);
    assert_eq!(due_sks(&*store, "q", 199, 100).await, ["a"]);
    assert_eq!(due_sks(&*store, "q", 99, 100).await, Vec::<String>::new());
    assert_eq!(due_sks(&*store, "q", 0, 100).await, Vec::<String>::new());
    assert_eq!(due_sks(&*store, "q", -1, 100).await, Vec::<String>::new());
    assert_eq!(due_sks(&*store, "q", 10_000, 100).await, ["a", "b", "c", "d"]);
}

async fn due_stops_at_the_limit<S: RunStore>(store: Arc<S>) {
    for (sk, at) in [("a", 1), ("b", 2), ("c", 3), ("d", 4)] {
        create(&*store, due_at(item("p", sk), "q", at)).await;
    }
    assert_eq!(due_sks(&*store, "q", i64::MAX, 2).await, ["a", "b"]);
    assert_eq!(due_sks(&*store, "q", 3, 1).await, ["a"]);
    assert_eq!(due_sks(&*store, "q", i64::MAX, 0).await, Vec::<String>::new());
    assert_eq!(due_sks(&*store, "q", i64::MAX, usize::MAX).await, ["a", "b", "c", "d"]);
}

async fn due_returns_whole_items<S: RunStore>(store: Arc<S>) {
    let first = create(&*store, due_at(with_status(item("p", "a"), "WAITING"), "q", 5)).await;
    let next = Item {
        expires_at: Some(123),
        ..due_at(
            with_data(with_status(item("p", "a"), "RUNNING"), r#"{"n":"ü"}"#),
            "q",
            6,
        )
    };
    assert!(wrote(&*store, replace(next.clone(), Expected::of(&first))).await);
    let items = answered(store.due("q", i64::MAX, 10).await, "due q");
    assert_eq!(items, [Item { version: 2, ..next }]);
}

async fn an_item_leaves_its_queue_when_replaced_without_due<S: RunStore>(store: Arc<S>) {
    let first = create(&*store, due_at(item("p", "a"), "q", 5)).await;
    create(&*store, due_at(item("p", "b"), "q", 6)).await;
    assert!(wrote(&*store, replace(item("p", "a"), Expected::of(&first))).await);
    assert_eq!(due_sks(&*store, "q", i64::MAX, 10).await, ["b"]);
}

async fn an_item_leaves_its_queue_when_deleted<S: RunStore>(store: Arc<S>) {
    let first = create(&*store, due_at(item("p", "a"), "q", 5)).await;
    create(&*store, due_at(item("p", "b"), "q", 6)).await;
    assert!(wrote(&*store, delete(&first.key, Expected::of(&first))).await);
    assert_eq!(due_sks(&*store, "q", i64::MAX, 10).await, ["b"]);
}

async fn an_item_moves_in_its_queue_when_its_due_time_changes<S: RunStore>(store: Arc<S>) {
    // Given a, then b, in the queue
    let a = create(&*store, due_at(item("p", "a"), "q", 100)).await;
    create(&*store, due_at(item("p", "b"), "q", 200)).await;
    // When a is put off past b
    assert!(wrote(&*store, replace(due_at(item("p", "a"), "q", 300), Expected::of(&a))).await);
    // Then it is listed once, after b, and only once its new time has come
    assert_eq!(due_sks(&*store, "q", i64::MAX, 10).await, ["b", "a"]);
    assert_eq!(due_sks(&*store, "q", 250, 10).await, ["b"]);
    // And when it is brought forward again, it is first
    assert!(wrote(&*store, replace(due_at(item("p", "a"), "q", 50), expected(2, None))).await);
    assert_eq!(due_sks(&*store, "q", i64::MAX, 10).await, ["a", "b"]);
}

async fn an_item_moves_to_another_queue_when_its_queue_changes<S: RunStore>(store: Arc<S>) {
    let a = create(&*store, due_at(item("p", "a"), "dependencies#0", 100)).await;
    assert!(
        wrote(
            &*store,
            replace(due_at(item("p", "a"), "runner#wg-1", 100), Expected::of(&a))
        )
        .await
    );
    assert_eq!(
        due_sks(&*store, "dependencies#0", i64::MAX, 10).await,
        Vec::<String>::new()
    );
    assert_eq!(due_sks(&*store, "runner#wg-1", i64::MAX, 10).await, ["a"]);
}

async fn queues_do_not_mix<S: RunStore>(store: Arc<S>) {
    // Given queues whose names share prefixes
    for (sk, queue) in [
        ("in-a", "a"),
        ("in-ab", "ab"),
        ("in-a#1", "a#1"),
        ("in-A", "A"),
        ("in-a-too", "a"),
    ] {
        create(&*store, due_at(item("p", sk), queue, 1)).await;
    }
    // Then each queue lists only its own items
    assert_eq!(due_sks(&*store, "a", i64::MAX, 10).await, ["in-a", "in-a-too"]);
    assert_eq!(due_sks(&*store, "ab", i64::MAX, 10).await, ["in-ab"]);
    assert_eq!(due_sks(&*store, "a#1", i64::MAX, 10).await, ["in-a#1"]);
    assert_eq!(due_sks(&*store, "A", i64::MAX, 10).await, ["in-A"]);
    assert_eq!(due_sks(&*store, "b", i64::MAX, 10).await, Vec::<String>::new());
}

async fn a_failed_transaction_leaves_the_queues_as_they_were<S: RunStore>(store: Arc<S>) {
    let a = create(&*store, due_at(item("p", "a"), "q", 1)).await;
    let b = create(&*store, due_at(item("p", "b"), "q", 2)).await;
    let d = create(&*store, item("p", "d")).await;
    let writes = vec![
        replace(due_at(item("p", "a"), "other", 1), Expected::of(&a)),
        delete(&b.key, Expected::of(&b)),
        Write::Create(due_at(item("p", "c"), "q", 0)),
        check(&d.key, expected(9, None)),
    ];
    assert!(!transacted(&*store, writes).await);
    assert_eq!(due_sks(&*store, "q", i64::MAX, 10).await, ["a", "b"]);
    assert_eq!(due_sks(&*store, "other", i64::MAX, 10).await, Vec::<String>::new());
}

async fn a_due_time_before_the_epoch_is_kept_and_sorts_first<S: RunStore>(store: Arc<S>) {
    // Given an item due before the epoch (sort keys clamp it to 0)
    let early = create(&*store, due_at(item("p", "b-early"), "q", -5_000)).await;
    create(&*store, due_at(item("p", "a-zero"), "q", 0)).await;
    create(&*store, due_at(item("p", "c-later"), "q", 1)).await;
    // Then it reads back with its own time, and sorts with time 0, by key
    assert_eq!(early.due.map(|due| due.at_millis), Some(-5_000));
    assert_eq!(
        due_sks(&*store, "q", i64::MAX, 10).await,
        ["a-zero", "b-early", "c-later"]
    );
    assert_eq!(due_sks(&*store, "q", -10_000, 10).await, ["a-zero", "b-early"]);
}

// ---- races --------------------------------------------------------------------------------

async fn concurrent_replaces_from_the_same_version_have_exactly_one_winner<S: RunStore + 'static>(store: Arc<S>) {
    // Given an item at version 1
    let first = create(&*store, with_status(item("p", "a"), "WAITING")).await;
    // When several tasks replace it from version 1 at the same moment
    let barrier = Arc::new(Barrier::new(RACERS));
    let racers: Vec<_> = (0..RACERS)
        .map(|n| {
            let (store, barrier, expected) = (Arc::clone(&store), Arc::clone(&barrier), Expected::of(&first));
            tokio::spawn(async move {
                let mine = with_data(with_status(item("p", "a"), "RUNNING"), &format!(r#"{{"winner":{n}}}"#));
                barrier.wait().await;
                (n, store.write(replace(mine, expected)).await)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for racer in racers {
        let (n, result) = racer.await.unwrap_or_else(|error| panic!("a racer died: {error}"));
        if answered(result, &format!("racer {n}'s replace")) {
            winners.push(n);
        }
    }
    // Then exactly one won, and the item is its version 2
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let now = stored(&*store, &first.key).await;
    assert_eq!(now.version, 2);
    assert_eq!(now.data, format!(r#"{{"winner":{}}}"#, winners[0]));
}

async fn concurrent_creates_of_the_same_key_have_exactly_one_winner<S: RunStore + 'static>(store: Arc<S>) {
    let barrier = Arc::new(Barrier::new(RACERS));
    let racers: Vec<_> = (0..RACERS)
        .map(|n| {
            let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
            tokio::spawn(async move {
                let mine = due_at(with_data(item("p", "a"), &format!(r#"{{"winner":{n}}}"#)), "q", 1);
                barrier.wait().await;
                (n, store.write(Write::Create(mine)).await)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for racer in racers {
        let (n, result) = racer.await.unwrap_or_else(|error| panic!("a racer died: {error}"));
        if answered(result, &format!("racer {n}'s create")) {
            winners.push(n);
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let now = stored(&*store, &Key::new("p", "a")).await;
    assert_eq!((now.version, now.data), (1, format!(r#"{{"winner":{}}}"#, winners[0])));
    assert_eq!(due_sks(&*store, "q", i64::MAX, 10).await, ["a"]);
}

async fn concurrent_transactions_on_the_same_item_have_at_most_one_winner<S: RunStore + 'static>(store: Arc<S>) {
    // Given an item at version 1
    let first = create(&*store, item("p", "shared")).await;
    // When several transactions each replace it from version 1 and create their own item
    let barrier = Arc::new(Barrier::new(RACERS));
    let racers: Vec<_> = (0..RACERS)
        .map(|n| {
            let (store, barrier, expected) = (Arc::clone(&store), Arc::clone(&barrier), Expected::of(&first));
            tokio::spawn(async move {
                let writes = vec![
                    replace(with_data(item("p", "shared"), &format!("{n}")), expected),
                    Write::Create(item("p", &format!("own#{n}"))),
                ];
                barrier.wait().await;
                (n, store.transact(writes).await)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for racer in racers {
        let (n, result) = racer.await.unwrap_or_else(|error| panic!("a racer died: {error}"));
        match result {
            Ok(true) => winners.push(n),
            Ok(false) => {}
            // DynamoDB may cancel a transaction that meets another one in flight: retryable.
            Err(error) if error.is_retryable() => {}
            Err(error) => panic!("racer {n}'s transaction failed: {error}"),
        }
    }
    // Then at most one won; the item and the created items say which, and no loser wrote
    assert!(winners.len() <= 1, "winners: {winners:?}");
    let own: BTreeSet<String> = query_sks(&*store, "p", &Range::prefix("own#", 100))
        .await
        .into_iter()
        .collect();
    let expected_own: BTreeSet<String> = winners.iter().map(|n| format!("own#{n}")).collect();
    assert_eq!(own, expected_own);
    let now = stored(&*store, &first.key).await;
    match winners.first() {
        Some(n) => assert_eq!((now.version, now.data), (2, format!("{n}"))),
        None => assert_eq!(now, first),
    }
}

// ---- contents -----------------------------------------------------------------------------

async fn data_round_trips_arbitrary_json_text_including_unicode<S: RunStore>(store: Arc<S>) {
    let bodies = [
        String::new(),
        "{}".to_owned(),
        "null".to_owned(),
        r#"{"name":"Copy \"logs\"","path":"C:\\tmp\\x","tab":"\t","escaped":"\u0000\u001f\ud83d\ude00"}"#.to_owned(),
        "{\n  \"pretty\": [1, 2.5e-3, -0, true, false, null],\n\t\"raw control\": \"\r\"\n}".to_owned(),
        r#"{"greek":"αβγ","cjk":"数据管道","rtl":"שלום","emoji":"😀🚀👩‍👩‍👧","combining":"é","nbsp":"a b"}"#.to_owned(),
        format!(r#"{{"s":"{}"}}"#, "\u{10FFFF}\u{FFFD}\u{2028}".repeat(1_000)),
        format!(r#"{{"long":"{}"}}"#, "ž".repeat(150_000)),
    ];
    for (n, body) in bodies.iter().enumerate() {
        let sk = format!("body#{n}");
        let stored_item = create(&*store, with_data(item("p", &sk), body)).await;
        assert_eq!(&stored_item.data, body, "body {n} came back changed");
        // And replacing with it keeps it too
        assert!(
            wrote(
                &*store,
                replace(with_data(item("p", &sk), body), Expected::of(&stored_item))
            )
            .await
        );
        assert_eq!(
            &stored(&*store, &stored_item.key).await.data,
            body,
            "body {n} changed on replace"
        );
    }
}

async fn keys_status_and_expiry_round_trip_exactly<S: RunStore>(store: Arc<S>) {
    let cases = [
        (
            "PIPELINE#df-0123456789ABCDEF",
            "INST#Copy Logs#2024-01-01T00:00:00",
            "WAITING_ON_DEPENDENCIES",
            Some(i64::MAX),
        ),
        ("pipeline with spaces", " leading and trailing ", "", Some(-1)),
        ("ünïcödé", "数据#😀", "état", Some(0)),
        ("#", "#", "#", None),
        ("p", "\u{10FFFF}", "RUNNING", Some(1_700_000_000)),
    ];
    for (pk, sk, status, expires_at) in cases {
        let given = Item {
            expires_at,
            ..with_status(item(pk, sk), status)
        };
        let stored_item = create(&*store, given.clone()).await;
        assert_eq!(stored_item, Item { version: 1, ..given });
        assert_eq!(query_sks(&*store, pk, &Range::prefix(sk, 10)).await, [sk]);
    }
}

async fn an_inverted_range_finds_nothing<S: RunStore>(store: Arc<S>) {
    create_all(&*store, "p", &["a", "b", "c"]).await;
    assert_eq!(
        query_sks(&*store, "p", &range("c", "a", 10)).await,
        Vec::<String>::new()
    );
}

async fn an_item_in_a_queue_without_a_name_is_rejected<S: RunStore>(store: Arc<S>) {
    let outcome = store.write(Write::Create(due_at(item("p", "a"), "", 1))).await;
    assert!(matches!(outcome, Err(StoreError::Rejected(_))), "{outcome:?}");
    assert_eq!(store.get(&Key::new("p", "a")).await.unwrap(), None);
}

async fn items_past_dynamodb_limits_are_rejected_and_written_nowhere<S: RunStore>(store: Arc<S>) {
    // Given a key, a sort key and a body each past DynamoDB's limits
    let long_pk = item(&"p".repeat(2049), "a");
    let long_sk = item("p", &"s".repeat(1025));
    let big = Item {
        data: "x".repeat(400 * 1024 + 1),
        ..item("p", "big")
    };
    for oversized in [long_pk, long_sk, big] {
        let key = oversized.key.clone();
        // When it is written
        let outcome = store.write(Write::Create(oversized)).await;
        // Then the store refuses it before sending, as too large (DynamoDB would refuse it
        // too), and writes nothing
        assert!(matches!(outcome, Err(StoreError::TooLarge(_))), "{key:?}: {outcome:?}");
    }
    assert_eq!(
        query_sks(&*store, "p", &Range::prefix("", 10)).await,
        Vec::<String>::new()
    );
    // And a transaction of more than 100 writes is refused whole
    let writes: Vec<Write> = (0..101)
        .map(|index| Write::Create(item("t", &format!("{index:03}"))))
        .collect();
    let outcome = store.transact(writes).await;
    assert!(matches!(outcome, Err(StoreError::Rejected(_))), "{outcome:?}");
    assert_eq!(
        query_sks(&*store, "t", &Range::prefix("", 200)).await,
        Vec::<String>::new()
    );
}
