//! Secret values kept out of everything a runner records and prints: an attempt's error
//! message (and the stderr tail in it), the stdout and stderr it uploads or copies, its
//! own warnings. One function, [`Secrets::redact`] (and its streaming twin for log
//! files), applied where each of those leaves the runner.
//!
//! What is secret: the value of every field whose key starts with `*` (`*password`) on
//! the task's objects. The engine adds the values of the secret parameters (`*myToken`)
//! the work uses as such fields, so a value a command got through `#{*myToken}` is
//! known too.
//!
//! The rule: each occurrence of a secret value becomes `********`.
//! - A value of 4 characters or more is masked wherever it occurs.
//! - A shorter value is masked only where it stands alone, touching no letter, digit or
//!   `_` on either side: a secret `ab` is masked in `login ab refused`, not in `table`.
//!   Masking every `a` of a text would hide the text, not the secret.
//! - An empty value masks nothing. Where two values overlap, the longer is masked.
//! - A value changed on its way out (upper-cased, encoded, split) is not recognised: a
//!   command that prints its secret transformed prints it.

use std::io::{self, Read, Write};

use super::{Task, TaskOutcome};
use crate::definition::model::{SECRET_MASK, is_secret};

/// Values shorter than this (in characters) are masked only where they stand alone.
pub const WHOLE_WORD_BELOW: usize = 4;

/// How much of a log is read at a time.
const CHUNK: usize = 64 * 1024;

/// The secret values of one task, and what masks them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    /// Longest first, each once, none empty.
    values: Vec<String>,
}

impl Secrets {
    pub fn new<V: AsRef<str>>(values: impl IntoIterator<Item = V>) -> Self {
        let mut values: Vec<String> = values
            .into_iter()
            .map(|value| value.as_ref().to_owned())
            .filter(|value| !value.is_empty())
            .collect();
        values.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        values.dedup();
        Self { values }
    }

    /// The values of every `*` field of the task's object and of the objects that came
    /// with it.
    pub fn of_task(task: &Task) -> Self {
        Self::new(
            std::iter::once(&task.object)
                .chain(&task.referenced)
                .flat_map(|object| &object.fields)
                .filter(|(key, _)| is_secret(key))
                .map(|(_, value)| value.as_str()),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The length in bytes of the longest value (0 without any).
    pub fn longest(&self) -> usize {
        self.values.first().map_or(0, String::len)
    }

    /// `text` with every secret value in it masked by the rule above.
    pub fn redact(&self, text: &str) -> String {
        if self.is_empty() {
            return text.to_owned();
        }
        let mut out = Vec::with_capacity(text.len());
        self.scan(text.as_bytes(), None, text.len(), true, &mut out);
        String::from_utf8(out).unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
    }

    /// Whether `text` holds a secret value, by the same rule.
    pub fn found_in(&self, text: &str) -> bool {
        let bytes = text.as_bytes();
        (0..bytes.len()).any(|index| self.match_at(bytes, index, None, true).is_some())
    }

    /// The outcome with its error message and stack trace redacted.
    pub fn redact_outcome(&self, outcome: TaskOutcome) -> TaskOutcome {
        TaskOutcome {
            error_message: outcome.error_message.map(|message| self.redact(&message)),
            error_stack_trace: outcome.error_stack_trace.map(|trace| self.redact(&trace)),
            ..outcome
        }
    }

    /// Copies `from` to `to` redacted, a chunk at a time: a value cut between two chunks
    /// is masked all the same.
    pub fn redact_stream(&self, mut from: impl Read, mut to: impl Write) -> io::Result<()> {
        if self.is_empty() {
            io::copy(&mut from, &mut to)?;
            return to.flush();
        }
        // A match is decided once the bytes after it (and the one that follows, for the
        // stand-alone rule) have arrived.
        let held = self.longest() + 1;
        let mut chunk = vec![0u8; CHUNK];
        let mut pending: Vec<u8> = Vec::new();
        let mut before = None;
        let mut out = Vec::new();
        loop {
            let count = match from.read(&mut chunk) {
                Ok(count) => count,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            };
            let last = count == 0;
            pending.extend_from_slice(&chunk[..count]);
            let end = if last {
                pending.len()
            } else {
                pending.len().saturating_sub(held)
            };
            let done = self.scan(&pending, before, end, last, &mut out);
            to.write_all(&out)?;
            out.clear();
            if done > 0 {
                before = Some(pending[done - 1]);
                pending.drain(..done);
            }
            if last {
                break;
            }
        }
        to.flush()
    }

    /// Writes `bytes` to `out` with the matches that start before `end` masked, up to
    /// `end` (or past it, to the end of a match that straddles it); answers how far.
    /// `before` is the byte before `bytes`; `last`, whether `bytes` ends the text.
    fn scan(&self, bytes: &[u8], before: Option<u8>, end: usize, last: bool, out: &mut Vec<u8>) -> usize {
        let mut index = 0;
        let mut plain = 0;
        while index < end {
            match self.match_at(bytes, index, before, last) {
                Some(length) => {
                    out.extend_from_slice(&bytes[plain..index]);
                    out.extend_from_slice(SECRET_MASK.as_bytes());
                    index += length;
                    plain = index;
                }
                None => index += 1,
            }
        }
        out.extend_from_slice(&bytes[plain..index]);
        index
    }

    /// The length of the secret value at `index`, if one is there by the rule.
    fn match_at(&self, bytes: &[u8], index: usize, before: Option<u8>, last: bool) -> Option<usize> {
        let rest = &bytes[index..];
        self.values.iter().map(String::as_bytes).find_map(|value| {
            if !rest.starts_with(value) {
                return None;
            }
            let whole = std::str::from_utf8(value).map_or(0, |value| value.chars().count()) >= WHOLE_WORD_BELOW;
            let left = if index == 0 { before } else { Some(bytes[index - 1]) };
            let right = bytes.get(index + value.len()).copied();
            let alone = !left.is_some_and(in_word) && !right.is_some_and(in_word) && (right.is_some() || last);
            (whole || alone).then_some(value.len())
        })
    }
}

/// Whether a byte is part of a word: an ASCII letter, digit or `_`, or any byte of a
/// non-ASCII character (letters of other scripts).
fn in_word(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || !byte.is_ascii()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_secret_is_masked_wherever_it_occurs() {
        let secrets = Secrets::new(["hunter2", "t0ken"]);
        assert_eq!(
            secrets.redact("login hunter2 failed; token=t0ken;hunter2hunter2"),
            "login ******** failed; token=********;****************"
        );
        assert_eq!(secrets.redact("nothing here"), "nothing here");
        assert!(secrets.found_in("xhunter2x") && !secrets.found_in("hunter"));
    }

    #[test]
    fn a_short_secret_is_masked_only_where_it_stands_alone() {
        let secrets = Secrets::new(["ab", "7"]);
        assert_eq!(
            secrets.redact("ab: table about 7 of 17, (ab) ab_c"),
            "********: table about ******** of 17, (********) ab_c"
        );
        assert_eq!(secrets.redact("ünab"), "ünab", "a letter of any script joins the word");
        assert_eq!(Secrets::new(["", ""]).redact("anything"), "anything");
    }

    #[test]
    fn the_longer_of_two_overlapping_secrets_is_masked() {
        let secrets = Secrets::new(["pass", "password1"]);
        assert_eq!(secrets.redact("password1 pass"), "******** ********");
    }

    #[test]
    fn a_log_is_redacted_across_chunk_boundaries() {
        let secrets = Secrets::new(["s3cr3t-value", "ab"]);
        let mut text = "x".repeat(CHUNK - 5);
        text.push_str("s3cr3t-value ab\n");
        text.push_str(&"y".repeat(CHUNK));
        text.push_str(" ab");
        let mut out = Vec::new();
        secrets.redact_stream(text.as_bytes(), &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), secrets.redact(&text));
        assert!(!secrets.redact(&text).contains("s3cr3t"));
        assert!(secrets.redact(&text).ends_with(" ********"));
    }

    /// A reader that hands out at most `step` bytes at a time.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
            let count = self.step.min(buffer.len()).min(self.bytes.len());
            buffer[..count].copy_from_slice(&self.bytes[..count]);
            self.bytes = &self.bytes[count..];
            Ok(count)
        }
    }

    proptest! {
        #[test]
        fn streaming_in_any_chunks_redacts_as_the_whole_text_does(
            text in "[ab_ 🔑.]{0,80}",
            secrets in proptest::collection::vec("[ab🔑]{1,5}", 0..3),
            step in 1usize..9,
        ) {
            let secrets = Secrets::new(&secrets);
            let mut out = Vec::new();
            secrets.redact_stream(Trickle { bytes: text.as_bytes(), step }, &mut out).unwrap();
            prop_assert_eq!(String::from_utf8(out).unwrap(), secrets.redact(&text));
        }

        #[test]
        fn no_long_secret_survives_redaction(text in ".{0,60}", secret in "[^*]{4,12}") {
            let secrets = Secrets::new([&secret]);
            let redacted = secrets.redact(&format!("{text}{secret}{text}"));
            prop_assert!(!redacted.contains(&secret), "{}", redacted);
        }
    }
}
