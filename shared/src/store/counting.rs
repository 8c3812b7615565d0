//! A store wrapper that counts requests: how the engine's cost is measured, not guessed.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{Item, Key, Range, RunStore, StoreError, Write};

/// Requests made so far, as DynamoDB would bill them: one per call (a transaction is one
/// request, whatever it writes); and the items those reads returned, which is what a read
/// costs in capacity and time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requests {
    pub reads: u64,
    pub writes: u64,
    pub items_read: u64,
}

#[derive(Debug, Default)]
pub struct CountingStore<S> {
    inner: S,
    reads: AtomicU64,
    writes: AtomicU64,
    items_read: AtomicU64,
}

impl<S> CountingStore<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            reads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            items_read: AtomicU64::new(0),
        }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    pub fn requests(&self) -> Requests {
        Requests {
            reads: self.reads.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            items_read: self.items_read.load(Ordering::Relaxed),
        }
    }

    pub fn reset(&self) {
        self.reads.store(0, Ordering::Relaxed);
        self.writes.store(0, Ordering::Relaxed);
        self.items_read.store(0, Ordering::Relaxed);
    }

    fn read<T>(&self, found: Result<T, StoreError>, items: impl Fn(&T) -> usize) -> Result<T, StoreError> {
        if let Ok(found) = &found {
            let count = u64::try_from(items(found)).unwrap_or(u64::MAX);
            self.items_read.fetch_add(count, Ordering::Relaxed);
        }
        found
    }
}

impl<S: RunStore> RunStore for CountingStore<S> {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.read(self.inner.get(key).await, |found| usize::from(found.is_some()))
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        // One request per hundred keys, as BatchGetItem takes them.
        let requests = u64::try_from(keys.len().div_ceil(100)).unwrap_or(u64::MAX);
        self.reads.fetch_add(requests, Ordering::Relaxed);
        self.read(self.inner.get_many(keys).await, |found| found.iter().flatten().count())
    }

    async fn write(&self, write: Write) -> Result<bool, StoreError> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.write(write).await
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<bool, StoreError> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.transact(writes).await
    }

    async fn query(&self, pk: &str, range: &Range) -> Result<Vec<Item>, StoreError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.read(self.inner.query(pk, range).await, Vec::len)
    }

    async fn due(&self, queue: &str, until_millis: i64, limit: usize) -> Result<Vec<Item>, StoreError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.read(self.inner.due(queue, until_millis, limit).await, Vec::len)
    }
}
