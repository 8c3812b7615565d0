//! Where and why an expression could not be parsed or evaluated.

use std::fmt;

use super::budget::Bound;

/// A parse or evaluation error, located by a 0-based character offset into the text that
/// was parsed (the whole field value, not just the `#{...}` part).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub offset: usize,
    pub message: String,
    bound: Option<Bound>,
}

impl ExprError {
    pub fn new(offset: usize, message: impl Into<String>) -> Self {
        Self {
            offset,
            message: message.into(),
            bound: None,
        }
    }

    /// The evaluation stopped because it crossed `bound`.
    pub(super) fn exceeded(offset: usize, bound: Bound, message: String) -> Self {
        Self {
            offset,
            message,
            bound: Some(bound),
        }
    }

    /// The bound on work the evaluation crossed, when that is why it failed: the value
    /// is then not merely unknown but too costly to compute at all.
    pub fn bound(&self) -> Option<Bound> {
        self.bound
    }

    /// The 1-based column a person counts: `offset + 1`.
    pub fn column(&self) -> usize {
        self.offset.saturating_add(1)
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at column {}: {}", self.column(), self.message)
    }
}

impl std::error::Error for ExprError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_the_one_based_column_and_the_message() {
        let error = ExprError::new(4, "unknown function \"formatt\"");
        assert_eq!(error.column(), 5);
        assert_eq!(error.to_string(), "at column 5: unknown function \"formatt\"");
    }
}
