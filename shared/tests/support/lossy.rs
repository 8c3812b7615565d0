//! A run store whose answers DynamoDB could give under load, for the simulation's fleet.
//!
//! [`LossyStore`] wraps any [`RunStore`] and, at rates in per mille, three distinct faults:
//! - throttling: the call fails with `StoreError::Unavailable` before reaching the store
//!   (reads and writes);
//! - a transaction conflict: a write or transaction answers `Ok(false)` without writing,
//!   as a conditional write that lost to another writer would;
//! - a lost answer: the write or transaction is performed, then the caller is told
//!   `StoreError::Unavailable`, as when the response of a request that succeeded is lost.
//!
//! Every random choice comes from a seeded [`SeededRandom`], so a run replays exactly.

use std::sync::{Mutex, MutexGuard};

use sluice::{
    engine::clock::{Random, SeededRandom},
    store::{Item, Key, Range, RunStore, StoreError, Write},
};

pub const THROTTLED: &str = "injected throttling";
pub const ANSWER_LOST: &str = "injected lost answer";

/// Rates of each fault, in per mille.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rates {
    pub throttle: u64,
    pub conflict: u64,
    pub lost_answer: u64,
}

/// How often each fault happened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LossCounts {
    pub throttled: u64,
    pub conflicts: u64,
    pub lost_answers: u64,
    pub writes: u64,
}

impl LossCounts {
    pub fn add(&mut self, other: LossCounts) {
        self.throttled += other.throttled;
        self.conflicts += other.conflicts;
        self.lost_answers += other.lost_answers;
        self.writes += other.writes;
    }
}

#[derive(Debug, Default)]
struct State {
    rates: Rates,
    counts: LossCounts,
}

/// A [`RunStore`] that throttles, conflicts and loses answers. See the module documentation.
#[derive(Debug)]
pub struct LossyStore<S> {
    inner: S,
    random: SeededRandom,
    state: Mutex<State>,
}

enum Fate {
    Throttle,
    Conflict,
    LoseAnswer,
    Pass,
}

impl<S: RunStore> LossyStore<S> {
    pub fn new(inner: S, seed: u64) -> Self {
        Self {
            inner,
            random: SeededRandom::new(seed),
            state: Mutex::new(State::default()),
        }
    }

    /// The wrapped store, without faults: for invariant checks and fault-free callers.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn set_rates(&self, rates: Rates) {
        self.state().rates = rates;
    }

    pub fn counts(&self) -> LossCounts {
        self.state().counts
    }

    fn roll(&self, rate: u64) -> bool {
        rate > 0 && self.random.next_u64() % 1000 < rate
    }

    fn read_fate(&self) -> Result<(), StoreError> {
        let rate = self.state().rates.throttle;
        if self.roll(rate) {
            self.state().counts.throttled += 1;
            return Err(StoreError::Unavailable(THROTTLED.to_owned()));
        }
        Ok(())
    }

    fn write_fate(&self, creates: bool) -> Fate {
        let rates = self.state().rates;
        let fate = if self.roll(rates.throttle) {
            Fate::Throttle
        } else if !creates && self.roll(rates.conflict) {
            Fate::Conflict
        } else if self.roll(rates.lost_answer) {
            Fate::LoseAnswer
        } else {
            Fate::Pass
        };
        let mut state = self.state();
        match fate {
            Fate::Throttle => state.counts.throttled += 1,
            Fate::Conflict => state.counts.conflicts += 1,
            Fate::LoseAnswer => state.counts.lost_answers += 1,
            Fate::Pass => state.counts.writes += 1,
        }
        fate
    }

    /// `creates`: whether the request creates an item. A conflict answers `Ok(false)` only
    /// for requests that change or check existing items: for a create, `Ok(false)` says the
    /// key is taken, which would be a lie no real store tells when nothing is there.
    async fn written(
        &self,
        creates: bool,
        write: impl Future<Output = Result<bool, StoreError>>,
    ) -> Result<bool, StoreError> {
        match self.write_fate(creates) {
            Fate::Throttle => Err(StoreError::Unavailable(THROTTLED.to_owned())),
            Fate::Conflict => Ok(false),
            Fate::LoseAnswer => {
                // Performed; only the answer is lost.
                let _ = write.await;
                Err(StoreError::Unavailable(ANSWER_LOST.to_owned()))
            }
            Fate::Pass => write.await,
        }
    }
}

impl<S: RunStore> RunStore for LossyStore<S> {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.read_fate()?;
        self.inner.get(key).await
    }

    async fn write(&self, write: Write) -> Result<bool, StoreError> {
        let creates = matches!(write, Write::Create(_));
        self.written(creates, self.inner.write(write)).await
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<bool, StoreError> {
        let creates = writes.iter().any(|write| matches!(write, Write::Create(_)));
        self.written(creates, self.inner.transact(writes)).await
    }

    async fn query(&self, pk: &str, range: &Range) -> Result<Vec<Item>, StoreError> {
        self.read_fate()?;
        self.inner.query(pk, range).await
    }

    async fn due(&self, queue: &str, until_millis: i64, limit: usize) -> Result<Vec<Item>, StoreError> {
        self.read_fate()?;
        self.inner.due(queue, until_millis, limit).await
    }
}
