//! What keeps `sluice dev`'s loops going: a stage run or a loop that returns an error or
//! panics is logged with its name and what went wrong, and runs again after a backoff
//! (1 s, doubling to 30 s), while the API keeps serving.

use std::{
    any::Any,
    future::Future,
    panic::AssertUnwindSafe,
    pin::pin,
    task::Poll,
    time::{Duration, Instant},
};

use sluice::stages::Stage;

/// The first wait after a failure, and the longest.
const FIRST: Duration = Duration::from_secs(1);
const LONGEST: Duration = Duration::from_secs(30);
/// A loop that ran this long before it failed starts again from the first wait.
const STEADY: Duration = Duration::from_secs(60);

/// Waits after failures in a row: `first`, doubling, at most `longest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    longest: Duration,
    failures: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(FIRST, LONGEST)
    }
}

impl Backoff {
    pub const fn new(first: Duration, longest: Duration) -> Self {
        Self {
            first,
            longest,
            failures: 0,
        }
    }

    /// One more failure in a row: how long to wait before the next run.
    pub fn failed(&mut self) -> Duration {
        let doublings = self.failures.min(16);
        self.failures = self.failures.saturating_add(1);
        self.first.saturating_mul(1 << doublings).min(self.longest)
    }

    /// A run went well: the next failure waits `first` again.
    pub fn succeeded(&mut self) {
        self.failures = 0;
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// A panic's message, as `panic!` was given it.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic with no message".to_owned()
    }
}

/// Runs `work` to its end, or to a panic inside it: `Err` with the panic's message then.
pub async fn confined<F: Future>(work: F) -> Result<F::Output, String> {
    let mut work = pin!(work);
    std::future::poll_fn(
        |context| match std::panic::catch_unwind(AssertUnwindSafe(|| work.as_mut().poll(context))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(panic_message(payload.as_ref()))),
        },
    )
    .await
}

/// `wait` for a log line: `1 s`, `30 s`, `250 ms`.
fn seconds(wait: Duration) -> String {
    if wait >= Duration::from_secs(1) {
        format!("{} s", wait.as_secs())
    } else {
        format!("{} ms", wait.as_millis())
    }
}

/// Runs what `start` starts until a run ends well (`Ok`): a run that returns an error or
/// panics is logged with `name` and started again after the backoff's wait (from the first
/// wait again when it had run a while).
pub async fn keep_running<F, Fut>(name: &str, mut backoff: Backoff, mut start: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    loop {
        let began = Instant::now();
        // Boxed: what a loop runs may be a large future, and a worker thread's stack small.
        let what = match confined(Box::pin(start())).await {
            Ok(Ok(())) => return,
            Ok(Err(error)) => format!("failed: {error:#}"),
            Err(panic) => format!("panicked: {panic}"),
        };
        if began.elapsed() >= STEADY {
            backoff.succeeded();
        }
        let wait = backoff.failed();
        eprintln!("sluice dev: {name} {what}; restarting it in {}", seconds(wait));
        tokio::time::sleep(wait).await;
    }
}

/// Which stages sit out a backoff after a failed run, so that a stage that keeps failing
/// (its table gone, its store throttled) is tried again less and less often, not on every
/// tick and every stream batch.
#[derive(Debug, Default)]
pub struct StageHolds {
    holds: [(Backoff, Option<Instant>); Stage::ALL.len()],
}

impl StageHolds {
    pub const fn new() -> Self {
        Self {
            holds: [(Backoff::new(FIRST, LONGEST), None); Stage::ALL.len()],
        }
    }

    fn of(&mut self, stage: Stage) -> &mut (Backoff, Option<Instant>) {
        let index = Stage::ALL.iter().position(|each| *each == stage).unwrap_or(0);
        &mut self.holds[index]
    }

    /// Whether `stage` may run now (it is not sitting out a backoff).
    pub fn may_run(&mut self, stage: Stage, now: Instant) -> bool {
        self.of(stage).1.is_none_or(|until| now >= until)
    }

    /// `stage` ran well: how many failures in a row it had before.
    pub fn ran(&mut self, stage: Stage) -> u32 {
        let (backoff, until) = self.of(stage);
        let failures = backoff.failures();
        backoff.succeeded();
        *until = None;
        failures
    }

    /// `stage` failed: it sits out the returned wait.
    pub fn failed(&mut self, stage: Stage, now: Instant) -> Duration {
        let (backoff, until) = self.of(stage);
        let wait = backoff.failed();
        *until = Some(now + wait);
        wait
    }
}

/// What a stage's failed run prints: `sluice dev: preconditions failed: ...; it runs
/// again in 2 s`.
pub fn stage_failed(stage: Stage, what: &str, wait: Duration) -> String {
    format!("sluice dev: {stage} {what}; it runs again in {}", seconds(wait))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn the_wait_doubles_from_a_second_to_half_a_minute_and_starts_over_after_a_success() {
        let mut backoff = Backoff::default();
        let waits: Vec<u64> = (0..7).map(|_| backoff.failed().as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
        for _ in 0..100 {
            backoff.failed();
        }
        assert_eq!(backoff.failed(), Duration::from_secs(30));
        backoff.succeeded();
        assert_eq!(backoff.failed(), Duration::from_secs(1));
    }

    #[tokio::test]
    async fn a_panic_inside_a_future_comes_back_as_its_message() {
        let text: Result<(), String> = confined(async { panic!("the table is gone") }).await;
        assert_eq!(text, Err("the table is gone".to_owned()));
        let formatted: Result<(), String> = confined(async { panic!("stage {} broke", "actions") }).await;
        assert_eq!(formatted, Err("stage actions broke".to_owned()));
        // A future that ends well, after waiting, gives its output
        let output = confined(async {
            tokio::task::yield_now().await;
            7
        })
        .await;
        assert_eq!(output, Ok(7));
    }

    #[tokio::test]
    async fn a_loop_that_panics_or_fails_is_started_again_until_it_ends_well() {
        // Given a loop that panics, then fails, then ends well
        let starts = AtomicU32::new(0);
        keep_running(
            "the test loop",
            Backoff::new(Duration::from_millis(1), Duration::from_millis(4)),
            || {
                let start = starts.fetch_add(1, Ordering::SeqCst);
                async move {
                    match start {
                        0 => panic!("first start"),
                        1 => Err(anyhow::anyhow!("second start")),
                        _ => Ok(()),
                    }
                }
            },
        )
        .await;
        // Then it was started three times
        assert_eq!(starts.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_stage_that_failed_sits_out_its_wait_and_only_it() {
        let mut holds = StageHolds::new();
        let now = Instant::now();
        // Given preconditions failed twice in a row
        assert_eq!(holds.failed(Stage::Preconditions, now), Duration::from_secs(1));
        assert_eq!(holds.failed(Stage::Preconditions, now), Duration::from_secs(2));
        // Then it sits out two seconds; the other stages run
        assert!(!holds.may_run(Stage::Preconditions, now + Duration::from_millis(1999)));
        assert!(holds.may_run(Stage::Preconditions, now + Duration::from_secs(2)));
        assert!(
            Stage::ALL
                .into_iter()
                .filter(|stage| *stage != Stage::Preconditions)
                .all(|stage| holds.may_run(stage, now))
        );
        // And a run that goes well says how many failures it ends, and clears the wait
        assert_eq!(holds.ran(Stage::Preconditions), 2);
        assert!(holds.may_run(Stage::Preconditions, now));
        assert_eq!(holds.failed(Stage::Preconditions, now), Duration::from_secs(1));
        assert_eq!(holds.ran(Stage::Scheduler), 0);
    }
}
