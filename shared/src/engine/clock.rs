//! Time and chance are injected: a handler never reads the system clock or a random
//! source itself, so the simulation can replay any run exactly.

use std::sync::Mutex;

use chrono::{NaiveDateTime, TimeDelta, Timelike, Utc};

pub trait Clock: Send + Sync {
    /// Now, in UTC, to the millisecond.
    fn now(&self) -> NaiveDateTime;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> NaiveDateTime {
        let now = Utc::now().naive_utc();
        now.with_nanosecond(now.nanosecond() / 1_000_000 * 1_000_000)
            .unwrap_or(now)
    }
}

/// A clock that moves only when told: the simulation's virtual time.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<NaiveDateTime>,
}

impl ManualClock {
    pub fn new(start: NaiveDateTime) -> Self {
        Self { now: Mutex::new(start) }
    }

    pub fn advance(&self, by: TimeDelta) {
        let mut now = self.now.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *now = now.checked_add_signed(by).unwrap_or(*now);
    }

    pub fn set(&self, to: NaiveDateTime) {
        *self.now.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> NaiveDateTime {
        *self.now.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A source of randomness: jitter, and task ids nobody can guess.
pub trait Random: Send + Sync {
    fn next_u64(&self) -> u64;

    /// Uniform in [0, 1).
    fn next_unit(&self) -> f64 {
        // 53 random bits fill a double's mantissa exactly.
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }

    /// 128 random bits as 32 hex digits.
    fn token(&self) -> String {
        format!("{:016x}{:016x}", self.next_u64(), self.next_u64())
    }
}

/// SplitMix64: small, fast, and the same sequence for the same seed on every machine.
#[derive(Debug)]
pub struct SeededRandom {
    state: Mutex<u64>,
}

impl SeededRandom {
    pub fn new(seed: u64) -> Self {
        Self {
            state: Mutex::new(seed),
        }
    }

    /// Seeded from the system clock and the process id: for production task ids, where
    /// nothing needs replaying.
    pub fn from_entropy() -> Self {
        let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        Self::new(nanos.unsigned_abs() ^ (u64::from(std::process::id()) << 32))
    }
}

impl Random for SeededRandom {
    fn next_u64(&self) -> u64 {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Milliseconds since the epoch, as the store's due queues count time.
pub fn millis(at: NaiveDateTime) -> i64 {
    at.and_utc().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_datetime;

    #[test]
    fn the_manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(parse_datetime("2026-01-01T00:00:00").unwrap());
        assert_eq!(clock.now(), clock.now());
        clock.advance(TimeDelta::minutes(5));
        assert_eq!(clock.now(), parse_datetime("2026-01-01T00:05:00").unwrap());
    }

    #[test]
    fn the_same_seed_gives_the_same_sequence() {
        let (a, b) = (SeededRandom::new(7), SeededRandom::new(7));
        let first: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let second: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(first, second);
        assert_ne!(SeededRandom::new(8).next_u64(), first[0]);
        let unit = a.next_unit();
        assert!((0.0..1.0).contains(&unit));
        assert_eq!(a.token().len(), 32);
    }
}
