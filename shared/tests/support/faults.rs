//! A run store that misbehaves on purpose, for the engine's simulation.
//!
//! [`FaultyStore`] wraps any [`RunStore`] and
//! - yields to the scheduler before every call (one to three times, at random), so that
//!   two calls joined with `tokio::join!` really interleave between their reads and
//!   writes, in a different order from one seed to the next;
//! - "crashes" after a write budget: once the budget is spent, every further write (and
//!   transaction) fails with `StoreError::Unavailable("injected crash")` until
//!   [`FaultyStore::reset`], as if the Lambda making them had died between two writes;
//! - fails reads at random, at a rate in per mille, when told to.
//!
//! Every random choice comes from a seeded [`SeededRandom`], so a run replays exactly.

use std::sync::{Mutex, MutexGuard};

use sluice::{
    engine::clock::{Random, SeededRandom},
    store::{Item, Key, Range, RunStore, StoreError, Write},
};

/// What a crash and an injected read failure answer.
pub const INJECTED_CRASH: &str = "injected crash";
pub const INJECTED_READ_FAILURE: &str = "injected read failure";

/// How often each fault happened, and how many calls went through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Crash budgets that ran out: a writer "died" between two writes.
    pub crashes: u64,
    /// Writes and transactions refused because the store had crashed.
    pub refused_writes: u64,
    /// Reads (get, query, due) failed at random.
    pub failed_reads: u64,
    /// Writes and transactions passed on to the wrapped store.
    pub writes: u64,
    /// Reads passed on to the wrapped store.
    pub reads: u64,
}

impl FaultCounts {
    pub fn add(&mut self, other: FaultCounts) {
        self.crashes += other.crashes;
        self.refused_writes += other.refused_writes;
        self.failed_reads += other.failed_reads;
        self.writes += other.writes;
        self.reads += other.reads;
    }
}

#[derive(Debug, Default)]
struct Faults {
    /// Writes still allowed before the crash; `None`: no crash planned.
    writes_left: Option<u32>,
    crashed: bool,
    read_failure_per_mille: u64,
    counts: FaultCounts,
}

/// A [`RunStore`] with injected faults. See the module documentation.
#[derive(Debug)]
pub struct FaultyStore<S> {
    inner: S,
    random: SeededRandom,
    faults: Mutex<Faults>,
}

impl<S: RunStore> FaultyStore<S> {
    /// A store that behaves until told otherwise; `seed` drives its random read failures.
    pub fn new(inner: S, seed: u64) -> Self {
        Self {
            inner,
            random: SeededRandom::new(seed),
            faults: Mutex::new(Faults::default()),
        }
    }

    /// The wrapped store, without faults: for invariant checks.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn faults(&self) -> MutexGuard<'_, Faults> {
        // Every change below is applied whole, so a poisoned lock still holds consistent data.
        self.faults.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Lets `writes` more writes (or transactions) through, then crashes.
    pub fn crash_after(&self, writes: u32) {
        let mut faults = self.faults();
        faults.writes_left = Some(writes);
        faults.crashed = false;
    }

    /// Fails each read with probability `per_mille` / 1000 (0 stops it).
    pub fn fail_reads(&self, per_mille: u64) {
        self.faults().read_failure_per_mille = per_mille.min(1000);
    }

    /// Ends every fault: no crash planned, none in effect, reads reliable.
    pub fn reset(&self) {
        let mut faults = self.faults();
        faults.writes_left = None;
        faults.crashed = false;
        faults.read_failure_per_mille = 0;
    }

    pub fn has_crashed(&self) -> bool {
        self.faults().crashed
    }

    pub fn counts(&self) -> FaultCounts {
        self.faults().counts
    }

    /// Lets other joined tasks run first: one to three times, so that their calls interleave
    /// in every order.
    async fn pause(&self) {
        for _ in 0..=self.random.next_u64() % 3 {
            tokio::task::yield_now().await;
        }
    }

    /// Whether a write may go through now; spends one write of the budget.
    fn admit_write(&self) -> Result<(), StoreError> {
        let mut faults = self.faults();
        if !faults.crashed && faults.writes_left == Some(0) {
            faults.crashed = true;
            faults.counts.crashes += 1;
        }
        if faults.crashed {
            faults.counts.refused_writes += 1;
            return Err(StoreError::Unavailable(INJECTED_CRASH.to_owned()));
        }
        if let Some(left) = faults.writes_left.as_mut() {
            *left -= 1;
        }
        faults.counts.writes += 1;
        Ok(())
    }

    /// Whether a read may go through now.
    fn admit_read(&self) -> Result<(), StoreError> {
        let mut faults = self.faults();
        if faults.read_failure_per_mille > 0 && self.random.next_u64() % 1000 < faults.read_failure_per_mille {
            faults.counts.failed_reads += 1;
            return Err(StoreError::Unavailable(INJECTED_READ_FAILURE.to_owned()));
        }
        faults.counts.reads += 1;
        Ok(())
    }
}

impl<S: RunStore> RunStore for FaultyStore<S> {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.pause().await;
        self.admit_read()?;
        self.inner.get(key).await
    }

    async fn write(&self, write: Write) -> Result<bool, StoreError> {
        self.pause().await;
        self.admit_write()?;
        self.inner.write(write).await
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<bool, StoreError> {
        self.pause().await;
        self.admit_write()?;
        self.inner.transact(writes).await
    }

    async fn query(&self, pk: &str, range: &Range) -> Result<Vec<Item>, StoreError> {
        self.pause().await;
        self.admit_read()?;
        self.inner.query(pk, range).await
    }

    async fn due(&self, queue: &str, until_millis: i64, limit: usize) -> Result<Vec<Item>, StoreError> {
        self.pause().await;
        self.admit_read()?;
        self.inner.due(queue, until_millis, limit).await
    }
}

#[cfg(test)]
mod tests {
    use sluice::store::{Expected, memory::MemoryStore};

    use super::*;

    fn item(sk: &str) -> Item {
        Item {
            key: Key::new("PK", sk),
            version: 0,
            status: None,
            due: None,
            expires_at: None,
            data: "{}".to_owned(),
        }
    }

    #[tokio::test]
    async fn a_crash_lets_the_budget_through_then_refuses_every_write_until_healed() {
        // Given a store that may write twice before crashing
        let store = FaultyStore::new(MemoryStore::new(), 1);
        store.crash_after(2);

        // When three writes and a transaction follow
        let first = store.write(Write::Create(item("a"))).await;
        let second = store.write(Write::Create(item("b"))).await;
        let third = store.write(Write::Create(item("c"))).await;
        let transaction = store.transact(vec![Write::Create(item("d"))]).await;

        // Then the first two are written and the rest refused as a crash
        assert_eq!((first, second), (Ok(true), Ok(true)));
        assert_eq!(third, Err(StoreError::Unavailable(INJECTED_CRASH.to_owned())));
        assert_eq!(transaction, Err(StoreError::Unavailable(INJECTED_CRASH.to_owned())));
        assert!(store.has_crashed());
        assert_eq!(store.inner().len(), 2);
        assert_eq!(
            store.get(&Key::new("PK", "a")).await.map(|found| found.is_some()),
            Ok(true)
        );

        // And once healed, writes go through again
        store.reset();
        assert_eq!(store.write(Write::Create(item("c"))).await, Ok(true));
        let counts = store.counts();
        assert_eq!((counts.crashes, counts.refused_writes, counts.writes), (1, 2, 3));
    }

    #[tokio::test]
    async fn a_budget_of_zero_crashes_before_the_first_write() {
        let store = FaultyStore::new(MemoryStore::new(), 1);
        store.crash_after(0);
        let refused = store
            .write(Write::Delete {
                key: Key::new("PK", "a"),
                expected: Expected {
                    version: 1,
                    status: None,
                },
            })
            .await;
        assert_eq!(refused, Err(StoreError::Unavailable(INJECTED_CRASH.to_owned())));
        assert!(store.inner().is_empty());
    }

    #[tokio::test]
    async fn reads_fail_at_the_rate_asked_and_the_same_seed_fails_the_same_reads() {
        // Given two stores with the same seed failing half their reads
        let (one, two) = (
            FaultyStore::new(MemoryStore::new(), 9),
            FaultyStore::new(MemoryStore::new(), 9),
        );
        one.fail_reads(500);
        two.fail_reads(500);

        // When each is read 200 times
        let mut outcomes = (Vec::new(), Vec::new());
        for _ in 0..200 {
            outcomes.0.push(one.get(&Key::new("PK", "a")).await.is_ok());
            outcomes.1.push(two.due("queue", 0, 10).await.is_ok());
        }

        // Then about half failed, the same ones on both, and healing ends it
        assert_eq!(outcomes.0, outcomes.1);
        let failed = outcomes.0.iter().filter(|ok| !**ok).count();
        assert!((60..140).contains(&failed), "{failed} of 200 failed");
        one.reset();
        assert_eq!(one.query("PK", &Range::prefix("", 10)).await, Ok(Vec::new()));
        assert_eq!(one.counts().failed_reads, failed as u64);
    }

    #[tokio::test]
    async fn two_joined_calls_interleave_at_every_store_call() {
        // Given a store that yields before each call
        let store = FaultyStore::new(MemoryStore::new(), 3);
        let order = Mutex::new(Vec::new());
        let worker = |name: &'static str| {
            let (store, order) = (&store, &order);
            async move {
                for index in 0..3 {
                    let _ = store.get(&Key::new("PK", format!("{name}{index}"))).await;
                    order.lock().unwrap().push(name);
                }
            }
        };

        // When two workers run joined on one thread
        tokio::join!(worker("a"), worker("b"));

        // Then neither ran all its calls before the other started
        let order = order.into_inner().unwrap();
        assert_ne!(order, ["a", "a", "a", "b", "b", "b"]);
        assert_ne!(order, ["b", "b", "b", "a", "a", "a"]);
    }
}
