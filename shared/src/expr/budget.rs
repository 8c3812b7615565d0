//! Bounds on the work of one evaluation: field values that refer to each other many times
//! (a field of a hundred `#{myB}`, `myB` of a hundred `#{myC}` ...) would otherwise take
//! time and memory that grow with every level.
//!
//! One [`Budget`] covers the evaluation of one top-level field, every field it refers to
//! included. It counts steps and refuses any value longer than [`MAX_VALUE_BYTES`]; once a
//! bound is crossed, every later check fails too, so the evaluation stops wherever it is.

use std::cell::{Cell, RefCell};

use super::{ExprError, Value};

/// The most steps one evaluation may take. A step is one reference resolved, one hop to a
/// referenced object, one operator or function applied (once per element of a list), one
/// element of a multi-valued field or of a value that became a list, or one KiB of a value
/// a reference copies.
pub const MAX_STEPS: u64 = 100_000;

/// The most bytes one value may hold: a field's value, the evaluated field, and anything
/// built on the way (a concatenation, a list, a formatted date). A list counts its
/// elements' bytes plus one per element.
pub const MAX_VALUE_BYTES: usize = 1 << 20;

/// Bytes of a value a reference copies that count as one more step.
const BYTES_PER_STEP: usize = 1024;

/// What a non-text value counts for in [`size_of`]: more than any number, date-time or
/// period prints as.
const SCALAR_BYTES: usize = 32;

/// A bound an evaluation crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// [`MAX_STEPS`].
    Steps,
    /// [`MAX_VALUE_BYTES`].
    ValueBytes,
}

/// The work left to one evaluation. Shared by reference: the counters are cells.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    steps: Cell<u64>,
    exceeded: Cell<Option<Bound>>,
    /// The field whose value crossed [`Bound::ValueBytes`], when it is not the top-level
    /// one: `field "myG" of object "A"`.
    located: RefCell<Option<String>>,
}

impl Budget {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one step.
    pub fn step(&self, offset: usize) -> Result<(), ExprError> {
        self.charge(1, offset)
    }

    /// Counts `steps` steps.
    pub fn charge(&self, steps: u64, offset: usize) -> Result<(), ExprError> {
        self.check(offset)?;
        let taken = self.steps.get().saturating_add(steps);
        self.steps.set(taken);
        if taken > MAX_STEPS {
            return Err(self.exceed(Bound::Steps, offset));
        }
        Ok(())
    }

    /// Counts copying `value`, which must fit: a step per KiB.
    pub fn charge_copy(&self, value: &Value, offset: usize) -> Result<(), ExprError> {
        let bytes = size_of(value);
        self.fits(bytes, offset)?;
        self.charge_bytes(bytes, offset)
    }

    /// Counts copying `bytes` bytes: a step per KiB.
    pub fn charge_bytes(&self, bytes: usize, offset: usize) -> Result<(), ExprError> {
        let kib = u64::try_from(bytes / BYTES_PER_STEP).unwrap_or(u64::MAX);
        self.charge(kib, offset)
    }

    /// Refuses a value of `bytes` bytes when it is longer than [`MAX_VALUE_BYTES`].
    pub fn fits(&self, bytes: usize, offset: usize) -> Result<(), ExprError> {
        self.check(offset)?;
        if bytes > MAX_VALUE_BYTES {
            return Err(self.exceed(Bound::ValueBytes, offset));
        }
        Ok(())
    }

    /// The bound crossed so far, if any.
    pub fn exceeded(&self) -> Option<Bound> {
        self.exceeded.get()
    }

    /// Names the field whose value crossed the bound, unless one is named already: the
    /// innermost field is the one to simplify.
    pub fn locate(&self, field: impl FnOnce() -> String) {
        if self.exceeded() == Some(Bound::ValueBytes) {
            let mut located = self.located.borrow_mut();
            if located.is_none() {
                *located = Some(field());
            }
        }
    }

    /// The error for the bound crossed, at `offset`; `None` while none is.
    pub fn error(&self, offset: usize) -> Option<ExprError> {
        self.exceeded().map(|bound| self.crossed(bound, offset))
    }

    #[cold]
    fn crossed(&self, bound: Bound, offset: usize) -> ExprError {
        let message = match bound {
            Bound::Steps => format!(
                "evaluating it takes more than {MAX_STEPS} steps (field values that refer to each other many times); simplify the references"
            ),
            Bound::ValueBytes => {
                let at = self
                    .located
                    .borrow()
                    .as_ref()
                    .map(|field| format!(", in {field}"))
                    .unwrap_or_default();
                format!(
                    "evaluating it builds a value longer than 1 MiB ({MAX_VALUE_BYTES} bytes){at}: field values that repeat references to each other multiply in length; simplify the references"
                )
            }
        };
        ExprError::exceeded(offset, bound, message)
    }

    /// Fails once a bound has been crossed: the evaluation stops wherever it is.
    #[inline]
    fn check(&self, offset: usize) -> Result<(), ExprError> {
        match self.exceeded() {
            None => Ok(()),
            Some(bound) => Err(self.crossed(bound, offset)),
        }
    }

    #[cold]
    fn exceed(&self, bound: Bound, offset: usize) -> ExprError {
        self.exceeded.set(Some(bound));
        self.crossed(bound, offset)
    }
}

/// How many bytes `value` counts for against [`MAX_VALUE_BYTES`]: a string's UTF-8 bytes;
/// a list's elements plus one per element.
#[inline]
pub(crate) fn size_of(value: &Value) -> usize {
    match value {
        Value::Str(text) => text.len(),
        Value::List(items) => items
            .iter()
            .map(|item| size_of(item).saturating_add(1))
            .fold(0, usize::saturating_add),
        Value::Int(_) | Value::Float(_) | Value::DateTime(_) | Value::Period(_) => SCALAR_BYTES,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_up_to_the_bound_are_allowed_and_the_next_is_refused() {
        // Given a fresh budget
        let budget = Budget::new();
        // When it takes exactly MAX_STEPS steps
        budget.charge(MAX_STEPS, 0).unwrap();
        // Then one more is refused, naming the bound, and so is everything after it
        let error = budget.step(7).unwrap_err();
        assert_eq!(error.bound(), Some(Bound::Steps));
        assert_eq!(error.offset, 7);
        assert!(error.message.contains("more than 100000 steps"), "{error}");
        assert_eq!(budget.fits(1, 0).unwrap_err().bound(), Some(Bound::Steps));
    }

    #[test]
    fn a_value_of_exactly_one_mib_fits_and_one_byte_more_does_not() {
        let budget = Budget::new();
        budget.fits(1_048_576, 0).unwrap();
        let error = budget.fits(1_048_577, 3).unwrap_err();
        assert_eq!(error.bound(), Some(Bound::ValueBytes));
        assert!(error.message.contains("longer than 1 MiB (1048576 bytes)"), "{error}");
    }

    #[test]
    fn the_innermost_field_named_is_the_one_the_message_names() {
        // Given a budget whose value bound was crossed
        let budget = Budget::new();
        let _ = budget.fits(usize::MAX, 0);
        // When two fields, inner first, say where they are
        budget.locate(|| "field \"myG\" of object \"A\"".to_owned());
        budget.locate(|| "field \"myF\" of object \"A\"".to_owned());
        // Then the message names the inner one
        let error = budget.error(0).unwrap();
        assert!(
            error.message.contains(", in field \"myG\" of object \"A\": "),
            "{error}"
        );
    }

    #[test]
    fn copying_counts_a_step_per_kib() {
        let budget = Budget::new();
        budget.charge_copy(&Value::Str("x".repeat(10 * 1024 + 1)), 0).unwrap();
        assert_eq!(budget.steps.get(), 10);
    }

    #[test]
    fn sizes_count_bytes_not_characters_and_one_per_list_element() {
        assert_eq!(size_of(&Value::Str("é€".into())), 5);
        let list = Value::List(vec![Value::Str(String::new()), Value::Str("ab".into())]);
        assert_eq!(size_of(&list), 4);
    }
}
