//! Confinement: the work of one due item that fails never ends a stage's round.
//!
//! Every stage step takes due items one at a time and hands each outcome to
//! [`Engine::confine`]. An item whose work failed is set aside: its due time is pushed back
//! with backoff and jitter, and its error is written where users see it (an instance's
//! `@waitingOn`, a log line with the item's key), so the next round starts with other work
//! instead of the same failure. An error that retrying cannot fix ends that item instead:
//! an instance or attempt FAILED with the error as its `errorMessage`, a pipeline taken out
//! of scheduling with the reason on it, an event's actions given up. Nothing else of the
//! pipeline, and nothing of any other pipeline, waits on it.

use chrono::{NaiveDateTime, TimeDelta};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Engine, EngineError, Event, StepReport, apply, clock::millis};
use crate::{
    cloud::probe::Probe,
    store::{
        Due, Expected, Item, RunStore, StoreError, Write, keys,
        records::{self, AttemptRecord, ErrorDetails, EventKind, EventRecord, InstanceRecord, PipelineRecord, Stored},
    },
    time::format_datetime,
};

/// The longest an item is set aside for, however often its work failed.
pub const SET_ASIDE_AT_MOST: TimeDelta = TimeDelta::hours(1);

/// The most of an error's text kept on a record: errors quote user input, which may be large.
const ERROR_TEXT_BYTES: usize = 2048;

/// What a record set aside carries in its JSON body until its work succeeds again (a typed
/// write of the record drops it, since no record type names it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAside {
    /// Rounds in a row whose work on the item failed.
    pub times: u32,
    pub error: String,
    pub at: NaiveDateTime,
}

/// The `SetAside` of an item, if its work failed last time.
pub fn set_aside_of(item: &Item) -> Option<SetAside> {
    let body: Map<String, Value> = serde_json::from_str(&item.data).ok()?;
    serde_json::from_value(body.get(SET_ASIDE_FIELD)?.clone()).ok()
}

const SET_ASIDE_FIELD: &str = "set_aside";

/// `text` cut to at most `bytes` bytes on a character boundary, saying it was cut.
pub fn clip(text: &str, bytes: usize) -> String {
    if text.len() <= bytes {
        return text.to_owned();
    }
    let mut end = bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}

/// How long an item is set aside after its work failed `times` rounds in a row: the
/// recheck interval doubled each time, at most [`SET_ASIDE_AT_MOST`], plus up to half
/// again at random so that items that failed together do not come back together.
pub fn set_aside_for(recheck: TimeDelta, times: u32, unit: f64) -> TimeDelta {
    let base = recheck.max(TimeDelta::seconds(1));
    let doubled = base
        .checked_mul(1_i32 << times.saturating_sub(1).min(16))
        .unwrap_or(SET_ASIDE_AT_MOST)
        .min(SET_ASIDE_AT_MOST);
    let jitter_ms = (doubled.num_milliseconds() as f64 * unit.clamp(0.0, 1.0) / 2.0) as i64;
    doubled + TimeDelta::milliseconds(jitter_ms)
}

impl<S: RunStore, P: Probe> Engine<'_, S, P> {
    /// Confines the outcome of one due item's work in `stage` to that item. Even a store
    /// that refuses to set the item aside (throttling is per partition, so per pipeline)
    /// only costs a line in the report: the round goes on with the next item.
    pub async fn confine(&self, stage: &str, item: &Item, outcome: Result<(), EngineError>, report: &mut StepReport) {
        let Err(error) = outcome else {
            return;
        };
        let message = clip(&error.to_string(), ERROR_TEXT_BYTES);
        if !error.is_retryable() {
            // Ending it may fail too (its record cannot be written): it is set aside then.
            if let Ok(true) = self.end_for_good(item, &message).await {
                report.changed += 1;
                report
                    .problems
                    .push(format!("{stage}: {} ended: {message}", label(item)));
                return;
            }
        }
        let line = match self.set_aside(item, &message).await {
            Ok(until) => format!(
                "{stage}: {} set aside until {}: {message}",
                label(item),
                until.map_or_else(|| "its next change".to_owned(), format_datetime)
            ),
            Err(unwritten) => format!(
                "{stage}: {} could not be set aside ({unwritten}): {message}",
                label(item)
            ),
        };
        // A record that cannot be read is for a person to look at: reported apart.
        if matches!(error, EngineError::Store(StoreError::Corrupt(_))) {
            report.corrupt.push(line);
        } else {
            report.problems.push(line);
        }
    }

    /// Pushes the item's due time back and writes the error on it. Returns when it is due
    /// again (`None` when it was not in a queue, or changed meanwhile).
    async fn set_aside(&self, item: &Item, message: &str) -> Result<Option<NaiveDateTime>, EngineError> {
        let Some(due) = &item.due else {
            return Ok(None);
        };
        let now = self.now();
        let mut body: Option<Map<String, Value>> = serde_json::from_str(&item.data).ok();
        let times = set_aside_of(item).map_or(1, |previous| previous.times.saturating_add(1));
        // A record that does not even parse waits the longest: a person must look at it.
        let wait = match body {
            Some(_) => set_aside_for(self.limits.recheck, times, self.random.next_unit()),
            None => SET_ASIDE_AT_MOST,
        };
        let until = now.checked_add_signed(wait).unwrap_or(now);
        if let Some(body) = body.as_mut() {
            let marker = SetAside {
                times,
                error: message.to_owned(),
                at: now,
            };
            body.insert(
                SET_ASIDE_FIELD.to_owned(),
                serde_json::to_value(&marker).map_err(|error| StoreError::Rejected(error.to_string()))?,
            );
            if body.contains_key("waiting_on") {
                body.insert(
                    "waiting_on".to_owned(),
                    Value::Array(vec![Value::String(format!(
                        "Sluice could not process it ({}): {message}; it tries again at {}",
                        times_in_a_row(times),
                        format_datetime(until)
                    ))]),
                );
            }
        }
        let moved = |data: String| Item {
            due: Some(Due {
                queue: due.queue.clone(),
                at_millis: millis(until),
            }),
            data,
            ..item.clone()
        };
        let expected = Expected::of(item);
        let mut tries = Vec::new();
        if let Some(body) = body {
            tries.push(moved(Value::Object(body).to_string()));
        }
        // If the marked record cannot be written (it would be too large), the due time
        // alone still moves.
        tries.push(moved(item.data.clone()));
        for next in tries {
            match self
                .store
                .write(Write::Replace {
                    item: next,
                    expected: expected.clone(),
                })
                .await
            {
                Ok(true) => return Ok(Some(until)),
                // Someone changed it meanwhile: their change is the news, not the error.
                Ok(false) => return Ok(None),
                Err(StoreError::Rejected(_) | StoreError::Corrupt(_)) => continue,
                Err(unavailable) => return Err(unavailable.into()),
            }
        }
        Ok(None)
    }

    /// Ends the item for an error that retrying cannot fix. `Ok(false)` when the item is of
    /// a kind that has no end (it is set aside instead), or changed meanwhile.
    async fn end_for_good(&self, item: &Item, message: &str) -> Result<bool, EngineError> {
        let sk = item.key.sk.as_str();
        let now = self.now();
        if sk == "META" {
            let pipeline = Stored::<PipelineRecord>::from_item(item)?;
            let next = PipelineRecord {
                next_check_at: None,
                error_message: Some(message.to_owned()),
                ..pipeline.record.clone()
            };
            return Ok(self.store.write(pipeline.replace(&next)?).await?);
        }
        if sk.starts_with("INST#") {
            let instance = Stored::<InstanceRecord>::from_item(item)?;
            return self.fail_unrunnable_instance(&instance, message, now).await;
        }
        if keys::is_attempt(sk) {
            let attempt = Stored::<AttemptRecord>::from_item(item)?;
            if attempt.record.status.is_terminal() {
                return Ok(false);
            }
            let mut next = attempt.record.clone();
            next.status = apply(next.status, Event::Unrunnable)?;
            next.ended_at = Some(now);
            next.error = unrunnable(message);
            let mut writes = vec![attempt.replace(&next)?];
            // Its instance fails with it: nothing else would end it.
            let instance_key = keys::instance(&next.pipeline_id, &next.component_id, next.scheduled_start);
            if let Some(instance) = records::get::<InstanceRecord, _>(self.store, &instance_key).await?
                && !instance.record.status.is_terminal()
            {
                let mut failed = instance.record.clone();
                failed.status = apply(failed.status, Event::Unrunnable)?;
                failed.error = unrunnable(message);
                self.end(&mut failed, now, EventKind::Failure, &[], &mut writes)?;
                writes.push(instance.replace(&failed)?);
            }
            return Ok(self.store.transact(writes).await?);
        }
        if sk.starts_with("EVENT#") {
            let event = Stored::<EventRecord>::from_item(item)?;
            let mut next = event.record.clone();
            next.fired = true;
            next.claimed_until = None;
            next.errors.push(format!("the actions were given up: {message}"));
            return Ok(self.store.write(event.replace(&next)?).await?);
        }
        Ok(false)
    }

    /// Fails an instance Sluice cannot process, with its onFail actions where its
    /// definition still names them.
    async fn fail_unrunnable_instance(
        &self,
        instance: &Stored<InstanceRecord>,
        message: &str,
        now: NaiveDateTime,
    ) -> Result<bool, EngineError> {
        if instance.record.status.is_terminal() {
            return Ok(false);
        }
        let mut next = instance.record.clone();
        next.status = apply(next.status, Event::Unrunnable)?;
        next.error = unrunnable(message);
        let on_fail = self.on_fail_of(&next).await;
        let mut writes = Vec::new();
        self.end(&mut next, now, EventKind::Failure, &on_fail, &mut writes)?;
        writes.extend(self.stop_attempts(&next, now).await?);
        writes.push(instance.replace(&next)?);
        Ok(self.store.transact(writes).await?)
    }

    /// The instance's onFail actions, if its pipeline's definition still compiles.
    async fn on_fail_of(&self, instance: &InstanceRecord) -> Vec<String> {
        let Ok(pipeline) = self.pipeline(&instance.pipeline_id).await else {
            return Vec::new();
        };
        let Ok(compiled) = self.compiled(&pipeline.record).await else {
            return Vec::new();
        };
        compiled
            .component(&instance.component_id)
            .map(|spec| spec.on_fail.clone())
            .unwrap_or_default()
    }
}

fn unrunnable(message: &str) -> ErrorDetails {
    ErrorDetails {
        error_id: Some("Sluice.Unrunnable".into()),
        error_message: Some(message.to_owned()),
        error_stack_trace: None,
    }
}

fn times_in_a_row(times: u32) -> String {
    match times {
        1 => "once".to_owned(),
        2 => "twice in a row".to_owned(),
        n => format!("{n} times in a row"),
    }
}

/// An item's key for a log line: `PIPELINE#df-1 INST#Copy#2026-01-01T00:00:00`.
pub fn label(item: &Item) -> String {
    format!("{} {}", clip(&item.key.pk, 200), clip(&item.key.sk, 300))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_set_aside_again_waits_twice_as_long_up_to_an_hour() {
        let minute = TimeDelta::minutes(1);
        // Given no jitter, the wait doubles from the recheck interval
        assert_eq!(set_aside_for(minute, 1, 0.0), minute);
        assert_eq!(set_aside_for(minute, 2, 0.0), TimeDelta::minutes(2));
        assert_eq!(set_aside_for(minute, 4, 0.0), TimeDelta::minutes(8));
        // and stops at an hour, however often it failed
        assert_eq!(set_aside_for(minute, 7, 0.0), TimeDelta::hours(1));
        assert_eq!(set_aside_for(minute, u32::MAX, 0.0), TimeDelta::hours(1));
        // Jitter adds at most half again
        assert_eq!(set_aside_for(minute, 1, 1.0), TimeDelta::seconds(90));
        assert_eq!(set_aside_for(minute, u32::MAX, 5.0), TimeDelta::minutes(90));
    }

    #[test]
    fn clipped_text_ends_on_a_character_boundary_and_says_how_long_it_was() {
        // Given a text of two-byte characters cut at an odd byte
        let text = "é".repeat(10);
        let clipped = clip(&text, 5);
        // Then the cut falls before the character it would split
        assert_eq!(clipped, "éé… (20 bytes in all)");
        assert_eq!(clip("short", 10), "short");
    }
}
