//! The run store in memory: for simulation and unit tests. It keeps the same rules as the
//! DynamoDB store (conditional writes, versions, sparse due queues) so that the
//! conformance suite passes on both.

use std::{
    collections::BTreeMap,
    sync::{Mutex, MutexGuard},
};

use super::{Due, Expected, Item, Key, MAX_TRANSACTION_WRITES, Range, RunStore, StoreError, Write, check_limits};

#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default, Clone)]
struct State {
    items: BTreeMap<(String, String), Item>,
    /// (queue, due sort key) → item key: the sparse index.
    due: BTreeMap<(String, String), (String, String)>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (every change is applied
        // whole below), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many items the store holds (for tests).
    pub fn len(&self) -> usize {
        self.state().items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every item, in key order (for tests and invariant checks).
    pub fn items(&self) -> Vec<Item> {
        self.state().items.values().cloned().collect()
    }
}

impl State {
    fn matches(&self, key: &Key, expected: &Expected) -> bool {
        self.items
            .get(&(key.pk.clone(), key.sk.clone()))
            .is_some_and(|item| item.version == expected.version && item.status == expected.status)
    }

    fn allowed(&self, write: &Write) -> bool {
        match write {
            Write::Create(item) => !self.items.contains_key(&(item.key.pk.clone(), item.key.sk.clone())),
            Write::Replace { item, expected } => self.matches(&item.key, expected),
            Write::Delete { key, expected } | Write::Check { key, expected } => self.matches(key, expected),
        }
    }

    fn apply(&mut self, write: Write) {
        match write {
            Write::Create(mut item) => {
                item.version = 1;
                self.put(item);
            }
            Write::Replace { mut item, expected } => {
                item.version = expected.version + 1;
                self.put(item);
            }
            Write::Delete { key, .. } => self.remove(&key),
            Write::Check { .. } => {}
        }
    }

    fn put(&mut self, item: Item) {
        self.remove(&item.key);
        if let Some(due) = &item.due {
            self.due.insert(
                (due.queue.clone(), due.sort_key(&item.key)),
                (item.key.pk.clone(), item.key.sk.clone()),
            );
        }
        self.items.insert((item.key.pk.clone(), item.key.sk.clone()), item);
    }

    fn remove(&mut self, key: &Key) {
        if let Some(old) = self.items.remove(&(key.pk.clone(), key.sk.clone()))
            && let Some(due) = &old.due
        {
            self.due.remove(&(due.queue.clone(), due.sort_key(&old.key)));
        }
    }
}

/// What the memory store refuses, as DynamoDB does.
fn check(write: &Write) -> Result<(), StoreError> {
    let key = write.key();
    if key.pk.is_empty() || key.sk.is_empty() {
        return Err(StoreError::Rejected(format!(
            "an item key needs a pk and an sk, got {key:?}"
        )));
    }
    match write {
        Write::Create(item) | Write::Replace { item, .. } => {
            if item.due.as_ref().is_some_and(|due| due.queue.is_empty()) {
                return Err(StoreError::Rejected(format!(
                    "{:?} is due in a queue without a name",
                    item.key
                )));
            }
            check_limits(item)
        }
        Write::Delete { key, .. } | Write::Check { key, .. } => check_limits(&Item {
            key: key.clone(),
            version: 0,
            status: None,
            due: None,
            expires_at: None,
            data: String::new(),
        }),
    }
}

impl RunStore for MemoryStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        Ok(self.state().items.get(&(key.pk.clone(), key.sk.clone())).cloned())
    }

    async fn write(&self, write: Write) -> Result<bool, StoreError> {
        check(&write)?;
        let mut state = self.state();
        if !state.allowed(&write) {
            return Ok(false);
        }
        state.apply(write);
        Ok(true)
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<bool, StoreError> {
        if writes.len() > MAX_TRANSACTION_WRITES {
            return Err(StoreError::Rejected(format!(
                "a transaction holds at most {MAX_TRANSACTION_WRITES} writes, not {}",
                writes.len()
            )));
        }
        for write in &writes {
            check(write)?;
        }
        let mut keys: Vec<&Key> = writes.iter().map(Write::key).collect();
        keys.sort();
        if keys.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(StoreError::Rejected("a transaction names the same item twice".into()));
        }
        let mut state = self.state();
        if !writes.iter().all(|write| state.allowed(write)) {
            return Ok(false);
        }
        for write in writes {
            state.apply(write);
        }
        Ok(true)
    }

    async fn query(&self, pk: &str, range: &Range) -> Result<Vec<Item>, StoreError> {
        if range.from >= range.to {
            return Ok(Vec::new());
        }
        let state = self.state();
        let from = (pk.to_owned(), range.from.clone());
        let to = (pk.to_owned(), range.to.clone());
        Ok(state
            .items
            .range(from..to)
            .take(range.limit)
            .map(|(_, item)| item.clone())
            .collect())
    }

    async fn due(&self, queue: &str, until_millis: i64, limit: usize) -> Result<Vec<Item>, StoreError> {
        let state = self.state();
        let from = (queue.to_owned(), String::new());
        let to = (queue.to_owned(), Due::sort_key_bound(until_millis));
        Ok(state
            .due
            .range(from..=to)
            .take(limit)
            .filter_map(|(_, key)| state.items.get(key).cloned())
            .collect())
    }
}
