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

/// The operating system's random source (getrandom(2)): what deployed functions and
/// `sluice dev` draw on, since task ids are bearer tokens and pipeline ids must not be
/// guessable. A seeded source is for replaying a simulation only: its ids follow from the seed.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

impl Random for OsRandom {
    fn next_u64(&self) -> u64 {
        let mut bytes = [0_u8; 8];
        // No fallback: an id made from a guessable source would be worse than no id.
        if let Err(error) = getrandom::getrandom(&mut bytes) {
            panic!("the operating system's random source failed ({error}); no unguessable id can be made");
        }
        u64::from_le_bytes(bytes)
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

    #[test]
    fn a_seeded_source_replays_its_tokens() {
        // Given two sources with the same seed
        let (a, b) = (SeededRandom::new(2026), SeededRandom::new(2026));
        // When each makes tokens
        let first: Vec<String> = (0..3).map(|_| a.token()).collect();
        let second: Vec<String> = (0..3).map(|_| b.token()).collect();
        // Then they are the same ones, in the same order
        assert_eq!(first, second);
    }

    #[test]
    fn the_operating_systems_source_makes_distinct_128_bit_hex_tokens() {
        // Given the production source
        let random = OsRandom;
        // When it makes many tokens
        let tokens: Vec<String> = (0..1000).map(|_| random.token()).collect();
        // Then each is 32 lowercase hex digits (128 bits) and none repeats
        for token in &tokens {
            assert_eq!(token.len(), 32, "{token}");
            assert!(
                token.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f')),
                "{token}"
            );
        }
        let distinct: std::collections::HashSet<&String> = tokens.iter().collect();
        assert_eq!(distinct.len(), tokens.len());
        // and its bits are not stuck: over 1000 draws every bit position is both 0 and 1
        let (ones, zeros) = (0..1000)
            .map(|_| random.next_u64())
            .fold((0_u64, 0_u64), |(ones, zeros), value| (ones | value, zeros | !value));
        assert_eq!((ones, zeros), (u64::MAX, u64::MAX));
    }
}
