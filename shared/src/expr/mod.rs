//! The `#{...}` expression language of AWS Data Pipeline (reference §4): templates with
//! embedded expressions, literals, `+ - * / ^`, lists, references, the function library
//! and Joda-Time date formats.
//!
//! Parsing is separate from evaluation so that a definition's expressions are parsed once
//! (and checked by validation) and evaluated per instance against a [`Context`].
//!
//! Choices where the guide is silent:
//! - Functions, like operators, apply element by element when an argument is a list
//!   (`format(myDates, 'dd')`); lists zip and must have equal lengths, scalars repeat.
//!   Several list-valued expressions in one field value zip the same way.
//! - Backslash escapes only `\'`, `\"` and `\\` in quoted strings; any other backslash is
//!   kept, so `'\d+'` stays `\d+`.
//! - A whole number is an `Int` (i64); `1.5`, `.5` and `1e3` are floats. `-` `*` `/` `^`
//!   accept strings that spell numbers; `+` with a string concatenates.
//! - An expression may nest at most 100 levels (parentheses, operators, calls).
//! - A value that is only a function call without `#{}` (`makeDate(2011,5,24)`, a quirk of
//!   one guide page) is literal text here.
//! - One evaluation, with every field value it refers to, takes at most [`MAX_STEPS`] steps
//!   and builds no value longer than [`MAX_VALUE_BYTES`]; past either it stops with an
//!   error that names the bound ([`ExprError::bound`]).

mod ast;
mod budget;
mod error;
mod eval;
mod functions;
pub mod joda;
mod lexer;
mod parser;
mod template;
mod value;

pub use budget::{Bound, MAX_STEPS, MAX_VALUE_BYTES};
pub(crate) use budget::{Budget, size_of};
pub use error::ExprError;
pub use functions::{function_names, function_signature};
pub use template::{Evaluated, Template};
pub use value::{Value, render};

/// Parses a whole field value: text with any number of `#{...}` expressions. Unknown
/// functions, wrong argument counts and invalid literal `format` patterns are parse errors,
/// so a definition can be checked without evaluating anything.
pub fn parse(text: &str) -> Result<Template, ExprError> {
    parser::parse_template(text)
}

/// Parses and evaluates a field value in one step.
pub fn evaluate_str(text: &str, context: &dyn Context) -> Result<Evaluated, ExprError> {
    parse(text)?.evaluate(context)
}

/// Parses and evaluates a field value within `budget`, shared with the evaluation that
/// refers to it.
pub(crate) fn evaluate_str_within(text: &str, context: &dyn Context, budget: &Budget) -> Result<Evaluated, ExprError> {
    parse(text)?.evaluate_within(context, budget)
}

/// A reference inside an expression, as written: `name`, `@scheduledStartTime`,
/// `input.directoryPath`, `node.@status`, `*myPassword` — one segment per dotted part,
/// `@` and `*` prefixes kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    pub path: Vec<String>,
}

impl Reference {
    pub fn new<S: Into<String>>(path: impl IntoIterator<Item = S>) -> Self {
        Self {
            path: path.into_iter().map(Into::into).collect(),
        }
    }

    /// The reference as written: `input.directoryPath`.
    pub fn dotted(&self) -> String {
        self.path.join(".")
    }
}

/// What an expression's references resolve against: an object's fields (own and
/// inherited), its runtime fields, referenced objects, `node`, and parameters.
pub trait Context {
    /// Resolves one reference. The error is a sentence for the user, such as
    /// `object "Copy" has no field "directoryPath"`; the evaluator adds where it occurred.
    fn resolve(&self, reference: &Reference) -> Result<Value, String>;
}

#[cfg(test)]
mod tests;
