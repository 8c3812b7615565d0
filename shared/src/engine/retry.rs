//! When a failed attempt gets another, and how long it waits first.
//!
//! AWS retried up to `maximumRetries` times at a fixed `retryDelay`, with a floor of two
//! minutes and at most 5 retries. Sluice keeps those fields and their meaning, drops the
//! floors, and adds exponential backoff, a cap and jitter as extensions
//! (`retryBackoffMultiplier`, `retryMaximumDelay`, `retryJitter`).

use chrono::{NaiveDateTime, TimeDelta};

use super::clock::Random;
use crate::{
    schedule::MAX_DELAY,
    time::{add_or_max, scale_delay},
};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub maximum_retries: u32,
    /// The wait before the first retry.
    pub retry_delay: TimeDelta,
    /// Each retry waits this many times the one before (1: AWS's fixed delay).
    pub multiplier: f64,
    /// The longest wait, whatever the multiplier.
    pub maximum_delay: Option<TimeDelta>,
    /// Up to this fraction of the wait is added at random, so that retries of many failed
    /// attempts do not arrive together.
    pub jitter: f64,
}

impl RetryPolicy {
    /// AWS documents no defaults; these are Sluice's, stated in the README.
    pub const DEFAULT_MAXIMUM_RETRIES: u32 = 2;
    pub const DEFAULT_RETRY_DELAY: TimeDelta = TimeDelta::minutes(2);

    pub fn fixed(maximum_retries: u32, retry_delay: TimeDelta) -> Self {
        Self {
            maximum_retries,
            retry_delay,
            multiplier: 1.0,
            maximum_delay: None,
            jitter: 0.0,
        }
    }

    /// Whether attempt number `attempt` (the first is 1), having failed, gets another.
    pub fn retries_after(&self, attempt: u32) -> bool {
        attempt <= self.maximum_retries
    }

    /// The wait before attempt number `next` (2 is the first retry): at most
    /// `retryMaximumDelay` before jitter, and at most [`MAX_DELAY`] (10 years) whatever the
    /// settings.
    pub fn delay_before(&self, next: u32, random: &dyn Random) -> TimeDelta {
        let retry = next.saturating_sub(2);
        let multiplier = if self.multiplier.is_finite() && self.multiplier >= 1.0 {
            self.multiplier
        } else {
            1.0
        };
        // Infinite once it overflows; scale_delay holds that at the cap.
        let growth = multiplier.powi(i32::try_from(retry).unwrap_or(i32::MAX));
        let longest = self.maximum_delay.map_or(MAX_DELAY, |maximum| maximum.min(MAX_DELAY));
        let delay = scale_delay(self.retry_delay, growth, longest);
        let jitter = if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        scale_delay(delay, 1.0 + jitter * random.next_unit(), MAX_DELAY)
    }

    /// When attempt number `next` may start, if the one before failed at `now`.
    pub fn retry_at(&self, now: NaiveDateTime, next: u32, random: &dyn Random) -> NaiveDateTime {
        add_or_max(now, self.delay_before(next, random))
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::fixed(Self::DEFAULT_MAXIMUM_RETRIES, Self::DEFAULT_RETRY_DELAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::clock::SeededRandom;

    #[test]
    fn aws_semantics_are_a_fixed_delay_and_a_retry_count() {
        let policy = RetryPolicy::fixed(3, TimeDelta::minutes(5));
        let random = SeededRandom::new(1);
        assert!(policy.retries_after(1) && policy.retries_after(3));
        assert!(
            !policy.retries_after(4),
            "three retries: attempts 2, 3 and 4, then no more"
        );
        for next in 2..=4 {
            assert_eq!(policy.delay_before(next, &random), TimeDelta::minutes(5));
        }
        assert!(!RetryPolicy::fixed(0, TimeDelta::minutes(5)).retries_after(1));
    }

    #[test]
    fn backoff_grows_to_its_cap_and_jitter_stays_within_its_fraction() {
        let random = SeededRandom::new(42);
        let policy = RetryPolicy {
            maximum_retries: 10,
            retry_delay: TimeDelta::seconds(10),
            multiplier: 2.0,
            maximum_delay: Some(TimeDelta::seconds(60)),
            jitter: 0.0,
        };
        let delays: Vec<i64> = (2..=6)
            .map(|next| policy.delay_before(next, &random).num_seconds())
            .collect();
        assert_eq!(delays, [10, 20, 40, 60, 60]);
        let jittery = RetryPolicy { jitter: 0.5, ..policy };
        for _ in 0..100 {
            let delay = jittery.delay_before(2, &random).num_milliseconds();
            assert!((10_000..15_000).contains(&delay), "{delay}");
        }
    }

    #[test]
    fn nonsense_settings_never_panic_or_shrink_delays() {
        let random = SeededRandom::new(3);
        let policy = RetryPolicy {
            maximum_retries: u32::MAX,
            retry_delay: TimeDelta::days(400),
            multiplier: f64::NAN,
            maximum_delay: None,
            jitter: f64::INFINITY,
        };
        assert_eq!(policy.delay_before(u32::MAX, &random), TimeDelta::days(400));
        let shrinking = RetryPolicy {
            multiplier: 0.1,
            ..RetryPolicy::fixed(3, TimeDelta::minutes(1))
        };
        assert_eq!(shrinking.delay_before(4, &random), TimeDelta::minutes(1));
        let negative = RetryPolicy::fixed(3, -TimeDelta::minutes(1));
        assert_eq!(negative.delay_before(2, &random), TimeDelta::zero());
    }

    #[test]
    fn a_huge_multiplier_over_many_retries_waits_ten_years_at_most_even_at_the_end_of_time() {
        // Given a multiplier of 1e308 (x² overflows f64 at the second retry) and full jitter
        let random = SeededRandom::new(5);
        let policy = RetryPolicy {
            maximum_retries: u32::MAX,
            retry_delay: TimeDelta::minutes(2),
            multiplier: 1e308,
            maximum_delay: None,
            jitter: 1.0,
        };
        let ten_years = TimeDelta::days(3650);

        // When retrying many times
        let delays: Vec<TimeDelta> = [2, 3, 4, 100, 10_000, u32::MAX]
            .into_iter()
            .map(|next| policy.delay_before(next, &random))
            .collect();

        // Then the first retry waits its delay (plus jitter) and every later one ten years
        assert!(
            (TimeDelta::minutes(2)..TimeDelta::minutes(4)).contains(&delays[0]),
            "{:?}",
            delays[0]
        );
        assert!(delays[1..].iter().all(|delay| *delay == ten_years), "{delays:?}");
        // And a retry due past chrono's last date-time is due at its end
        let late = chrono::NaiveDateTime::MAX - TimeDelta::days(1);
        assert_eq!(policy.retry_at(late, 3, &random), chrono::NaiveDateTime::MAX);
        // And retryMaximumDelay, when set, caps it first
        let capped = RetryPolicy {
            maximum_delay: Some(TimeDelta::hours(1)),
            jitter: 0.0,
            ..policy
        };
        assert_eq!(capped.delay_before(u32::MAX, &random), TimeDelta::hours(1));
    }

    proptest::proptest! {
        #[test]
        fn no_settings_make_the_delay_panic_or_leave_zero_to_ten_years(
            delay_ms in proptest::prelude::any::<i64>(),
            multiplier in proptest::prelude::any::<f64>(),
            maximum_ms in proptest::option::of(proptest::prelude::any::<i64>()),
            jitter in proptest::prelude::any::<f64>(),
            next in proptest::prelude::any::<u32>(),
            seed in proptest::prelude::any::<u64>(),
        ) {
            let millis = |ms: i64| TimeDelta::try_milliseconds(ms).unwrap_or(TimeDelta::MAX);
            let policy = RetryPolicy {
                maximum_retries: u32::MAX,
                retry_delay: millis(delay_ms),
                multiplier,
                maximum_delay: maximum_ms.map(millis),
                jitter,
            };
            let random = SeededRandom::new(seed);
            let delay = policy.delay_before(next, &random);
            proptest::prop_assert!(TimeDelta::zero() <= delay && delay <= TimeDelta::days(3650), "{}", delay);
            let _ = policy.retry_at(chrono::NaiveDateTime::MAX, next, &random);
        }
    }
}
