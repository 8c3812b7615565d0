//! A parsed field value: literal text and expressions, evaluated per instance.

use super::{Context, ExprError, Reference, Value, ast::Expr, budget::Budget, eval::Evaluator, value::write_value};

/// A parsed field value. Cheap to clone and to evaluate many times.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
    /// A guess at the evaluated length, to size the output once.
    capacity: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Part {
    Text(String),
    Expr(Expr),
}

/// A field value after evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evaluated {
    One(String),
    /// An expression produced a list, so the value is one string per element: the
    /// surrounding text repeated around each.
    Many(Vec<String>),
}

impl Evaluated {
    /// The values as a list: one for [`Evaluated::One`].
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Evaluated::One(value) => vec![value],
            Evaluated::Many(values) => values,
        }
    }
}

/// A column of the result when some expression produced a list.
enum Column<'a> {
    Text(&'a str),
    Scalar(Value),
    List(Vec<Value>),
}

impl Template {
    pub(super) fn new(parts: Vec<Part>) -> Self {
        let capacity = parts
            .iter()
            .map(|part| match part {
                Part::Text(text) => text.len(),
                Part::Expr(_) => 24,
            })
            .fold(0, usize::saturating_add);
        Self { parts, capacity }
    }

    /// True when the value has no `#{...}` at all.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|part| matches!(part, Part::Text(_)))
    }

    /// Every reference, in the order written, with the 0-based character offset where it
    /// starts in the parsed text.
    pub fn references(&self) -> Vec<(&Reference, usize)> {
        let mut references = Vec::new();
        for part in &self.parts {
            if let Part::Expr(expr) = part {
                expr.collect_references(&mut references);
            }
        }
        references
    }

    /// Evaluates every expression and substitutes it into the text, within a budget of
    /// its own (see [`super::MAX_STEPS`] and [`super::MAX_VALUE_BYTES`]).
    pub fn evaluate(&self, context: &dyn Context) -> Result<Evaluated, ExprError> {
        self.evaluate_within(context, &Budget::new())
    }

    /// Evaluates within `budget`, which the evaluation of the field values this one refers
    /// to shares.
    pub(crate) fn evaluate_within(&self, context: &dyn Context, budget: &Budget) -> Result<Evaluated, ExprError> {
        let evaluator = Evaluator { context, budget };
        let mut out = String::with_capacity(self.capacity.min(super::MAX_VALUE_BYTES));
        // Where the last expression started: a bound crossed by the text after it is
        // reported there.
        let mut offset = 0;
        let mut parts = self.parts.iter();
        while let Some(part) = parts.next() {
            match part {
                Part::Text(text) => push_text(&mut out, text, budget, (0, offset))?,
                Part::Expr(expr) => {
                    offset = expr.start;
                    match evaluator.evaluate(expr)? {
                        Value::List(items) => return Self::evaluate_many(out, (items, offset), parts, evaluator),
                        scalar => push_value(&mut out, &scalar, budget, (0, offset))?,
                    }
                }
            }
        }
        Ok(Evaluated::One(out))
    }

    /// The rest of [`Template::evaluate`] once an expression produced a list: `prefix` is
    /// the text before it, the same for every element, and `offset` where the list's
    /// expression starts.
    fn evaluate_many<'a>(
        prefix: String,
        (first, offset): (Vec<Value>, usize),
        rest: impl Iterator<Item = &'a Part>,
        evaluator: Evaluator<'_>,
    ) -> Result<Evaluated, ExprError> {
        let length = first.len();
        let mut columns = vec![(Column::List(first), offset)];
        for part in rest {
            columns.push(match part {
                Part::Text(text) => (Column::Text(text), offset),
                Part::Expr(expr) => match evaluator.evaluate(expr)? {
                    Value::List(items) if items.len() != length => {
                        return Err(ExprError::new(
                            expr.start,
                            format!(
                                "this list has {} values but an earlier list in the same value has {length}: lists in one value are combined element by element, so they must be the same length",
                                items.len()
                            ),
                        ));
                    }
                    Value::List(items) => (Column::List(items), expr.start),
                    scalar => (Column::Scalar(scalar), expr.start),
                },
            });
        }
        // Every value counts against the budget together, as one list.
        let budget = evaluator.budget;
        let mut values = Vec::with_capacity(length);
        let mut before = 0usize;
        for index in 0..length {
            budget.step(offset)?;
            let mut out = String::new();
            push_text(&mut out, &prefix, budget, (before, offset))?;
            for (column, offset) in &columns {
                match column {
                    Column::Text(text) => push_text(&mut out, text, budget, (before, *offset))?,
                    Column::Scalar(value) => push_value(&mut out, value, budget, (before, *offset))?,
                    Column::List(items) => {
                        if let Some(item) = items.get(index) {
                            push_value(&mut out, item, budget, (before, *offset))?;
                        }
                    }
                }
            }
            before = before.saturating_add(out.len()).saturating_add(1);
            values.push(out);
        }
        Ok(Evaluated::Many(values))
    }
}

/// Appends `text`, refusing to make `out` (after `before` bytes of earlier values) too long.
fn push_text(out: &mut String, text: &str, budget: &Budget, (before, offset): (usize, usize)) -> Result<(), ExprError> {
    budget.fits(before.saturating_add(out.len()).saturating_add(text.len()), offset)?;
    out.push_str(text);
    Ok(())
}

/// Appends `value` as it prints, refusing to make `out` (after `before` bytes of earlier
/// values) too long.
fn push_value(
    out: &mut String,
    value: &Value,
    budget: &Budget,
    (before, offset): (usize, usize),
) -> Result<(), ExprError> {
    match value {
        Value::Str(text) => push_text(out, text, budget, (before, offset)),
        other => {
            write_value(out, other);
            budget.fits(before.saturating_add(out.len()), offset)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{
        parse,
        tests::{MapContext, one},
    };

    fn numbers(items: &[i64]) -> Value {
        Value::List(items.iter().copied().map(Value::Int).collect())
    }

    #[test]
    fn a_value_without_expressions_is_literal_and_evaluates_to_itself() {
        let template = parse("s3://bucket/static/").unwrap();
        assert!(template.is_literal());
        assert!(template.references().is_empty());
        assert_eq!(
            template.evaluate(&MapContext::new()),
            Ok(Evaluated::One("s3://bucket/static/".into()))
        );
    }

    #[test]
    fn two_lists_in_one_value_combine_element_by_element() {
        // Given two lists of the same length and a scalar
        let context = MapContext::new()
            .with("myA", numbers(&[1, 2]))
            .with("myB", numbers(&[3, 4]));
        // When one value uses them all
        let evaluated = parse("#{myA}-#{myName}-#{myB}").unwrap().evaluate(&context);
        // Then each element pairs up and the scalar repeats
        assert_eq!(
            evaluated,
            Ok(Evaluated::Many(vec!["1-daily-3".into(), "2-daily-4".into()]))
        );
    }

    #[test]
    fn lists_of_different_lengths_in_one_value_are_an_error_at_the_second() {
        let context = MapContext::new()
            .with("myA", numbers(&[1, 2]))
            .with("myB", numbers(&[3, 4, 5]));
        let error = parse("#{myA} #{myB + 1}").unwrap().evaluate(&context).unwrap_err();
        assert_eq!(error.offset, 9);
        assert!(
            error
                .message
                .starts_with("this list has 3 values but an earlier list in the same value has 2")
        );
    }

    #[test]
    fn an_empty_list_makes_no_values() {
        let context = MapContext::new().with("myEmpty", Value::List(Vec::new()));
        let evaluated = parse("x#{myEmpty}").unwrap().evaluate(&context).unwrap();
        assert_eq!(evaluated, Evaluated::Many(Vec::new()));
        assert!(evaluated.into_vec().is_empty());
    }

    #[test]
    fn into_vec_gives_one_string_per_value() {
        assert_eq!(Evaluated::One("a".into()).into_vec(), vec!["a".to_owned()]);
        assert_eq!(
            Evaluated::Many(vec!["a".into(), "b".into()]).into_vec(),
            vec!["a".to_owned(), "b".to_owned()]
        );
    }

    #[test]
    fn every_kind_of_value_prints_into_the_text() {
        let context = MapContext::new().with(
            "myPeriod",
            Value::Period(crate::schedule::Period::new(3, crate::schedule::PeriodUnit::Hours)),
        );
        let template = parse("#{1}|#{0.5}|#{'s'}|#{@scheduledStartTime}|#{myPeriod}").unwrap();
        assert_eq!(
            template.evaluate(&context),
            Ok(Evaluated::One("1|0.5|s|2011-05-24T17:10:00|3 hours".into()))
        );
        assert_eq!(one("#{2 ^ 0.5}"), "1.4142135623730951");
    }
}
