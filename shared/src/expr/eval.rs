//! Evaluates a parsed expression against a [`Context`]: Java's integer and float rules,
//! string concatenation, and lists spread element by element.

use super::{
    Context, ExprError, Reference, Value,
    ast::{BinaryOp, Call, Expr, Node},
    budget::{Budget, size_of},
    functions::{Function, format_with},
    value::{Number, write_value},
};

/// One evaluation: what references resolve against, and the work it has left.
#[derive(Clone, Copy)]
pub(super) struct Evaluator<'e> {
    pub context: &'e dyn Context,
    pub budget: &'e Budget,
}

impl Evaluator<'_> {
    pub(super) fn evaluate(&self, expr: &Expr) -> Result<Value, ExprError> {
        match &expr.node {
            Node::Literal(value) => Ok(value.clone()),
            Node::Reference(reference) => self.resolve(reference, expr.offset),
            Node::Negate(inner) => {
                let value = self.evaluate(inner)?;
                self.spread(&[value], expr.offset, "-", &mut |values| match values {
                    [value] => negate(value, expr.offset),
                    _ => Err(ExprError::new(expr.offset, "-: expected one operand")),
                })
            }
            Node::Binary(op, left, right) => {
                let left = self.evaluate(left)?;
                let right = self.evaluate(right)?;
                let symbol = op.symbol();
                self.spread(&[left, right], expr.offset, symbol, &mut |values| match values {
                    [left, right] => binary(*op, left, right, expr.offset),
                    _ => Err(ExprError::new(expr.offset, format!("{symbol}: expected two operands"))),
                })
            }
            Node::Call(call) => self.evaluate_call(call, expr.offset),
        }
    }

    /// A reference's value: a step, and a step per KiB it copies. When the context fails
    /// because a bound was crossed further in, the error is the bound's, not the context's.
    fn resolve(&self, reference: &Reference, offset: usize) -> Result<Value, ExprError> {
        self.budget.step(offset)?;
        let value = self.context.resolve(reference).map_err(|message| {
            self.budget
                .error(offset)
                .unwrap_or_else(|| ExprError::new(offset, message))
        })?;
        self.budget.charge_copy(&value, offset)?;
        Ok(value)
    }

    fn evaluate_call(&self, call: &Call, offset: usize) -> Result<Value, ExprError> {
        let name = call.function.name();
        if let (Some(pattern), Some(datetime_arg)) = (&call.pattern, call.args.first()) {
            // `format` with a literal pattern, compiled when parsed.
            let value = self.evaluate(datetime_arg)?;
            let offsets = [datetime_arg.start];
            return self.spread(&[value], offset, name, &mut |values| {
                let first = values.first().and_then(Value::to_datetime);
                match first {
                    Some(datetime) => format_with(pattern, &datetime)
                        .map_err(|message| ExprError::new(datetime_arg.start, format!("format: {message}"))),
                    None => Function::Format.apply(values, &offsets, offset),
                }
            });
        }
        let mut values = Vec::with_capacity(call.args.len());
        for arg in &call.args {
            values.push(self.evaluate(arg)?);
        }
        let offsets: Vec<usize> = call.args.iter().map(|arg| arg.start).collect();
        self.spread(&values, offset, name, &mut |values| {
            call.function.apply(values, &offsets, offset)
        })
    }

    /// Applies `apply` to scalar operands. When some are lists, applies it element by
    /// element: lists of one length zip, scalars repeat, and the result is a list. Each
    /// application is a step, and every result (the list as a whole too) must fit.
    fn spread(
        &self,
        values: &[Value],
        offset: usize,
        what: &str,
        apply: &mut dyn FnMut(&[Value]) -> Result<Value, ExprError>,
    ) -> Result<Value, ExprError> {
        let mut length: Option<usize> = None;
        for value in values {
            if let Value::List(items) = value {
                match length {
                    Some(known) if known != items.len() => {
                        return Err(ExprError::new(
                            offset,
                            format!(
                                "{what} combines lists element by element, but they have different lengths ({known} and {}): use lists of the same length",
                                items.len()
                            ),
                        ));
                    }
                    _ => length = Some(items.len()),
                }
            }
        }
        let Some(length) = length else {
            self.budget.step(offset)?;
            let result = apply(values)?;
            self.budget.fits(size_of(&result), offset)?;
            return Ok(result);
        };
        let mut results = Vec::with_capacity(length);
        let mut bytes = 0usize;
        for index in 0..length {
            let row: Vec<Value> = values
                .iter()
                .map(|value| match value {
                    Value::List(items) => items.get(index).cloned().unwrap_or(Value::List(Vec::new())),
                    scalar => scalar.clone(),
                })
                .collect();
            let copied = row.iter().map(size_of).fold(0, usize::saturating_add);
            self.budget.charge_bytes(copied, offset)?;
            let result = self.spread(&row, offset, what, apply)?;
            bytes = bytes.saturating_add(size_of(&result)).saturating_add(1);
            self.budget.fits(bytes, offset)?;
            results.push(result);
        }
        Ok(Value::List(results))
    }
}

fn negate(value: &Value, offset: usize) -> Result<Value, ExprError> {
    match value.to_number() {
        Some(Number::Int(number)) => number
            .checked_neg()
            .map(Value::Int)
            .ok_or_else(|| overflow(offset, "-")),
        Some(Number::Float(number)) => Ok(Value::Float(-number)),
        None => Err(ExprError::new(
            offset,
            format!("- needs a number, but this is {}", value.describe()),
        )),
    }
}

fn overflow(offset: usize, symbol: &str) -> ExprError {
    ExprError::new(
        offset,
        format!(
            "{symbol}: the result is too large for a whole number (at most {}); use a floating-point number such as 2.0 instead",
            i64::MAX
        ),
    )
}

fn binary(op: BinaryOp, left: &Value, right: &Value, offset: usize) -> Result<Value, ExprError> {
    let symbol = op.symbol();
    if op == BinaryOp::Add && (matches!(left, Value::Str(_)) || matches!(right, Value::Str(_))) {
        let mut text = String::new();
        write_value(&mut text, left);
        write_value(&mut text, right);
        return Ok(Value::Str(text));
    }
    for side in [left, right] {
        match side {
            Value::DateTime(_) if matches!(op, BinaryOp::Add | BinaryOp::Subtract) => {
                let verb = if op == BinaryOp::Add { "plus" } else { "minus" };
                return Err(ExprError::new(
                    offset,
                    format!(
                        "{symbol} cannot be used on a date-time: use {verb}Minutes, {verb}Hours, {verb}Days, {verb}Weeks, {verb}Months, {verb}Years or {verb}Period, as in {verb}Days(@scheduledStartTime, 1)"
                    ),
                ));
            }
            _ => {}
        }
    }
    let number = |value: &Value| {
        value.to_number().ok_or_else(|| {
            ExprError::new(
                offset,
                format!(
                    "{symbol} needs numbers on both sides, but one side is {}",
                    value.describe()
                ),
            )
        })
    };
    let (left, right) = (number(left)?, number(right)?);
    if op == BinaryOp::Power {
        return finite(left.as_f64().powf(right.as_f64()), offset, symbol);
    }
    match (left, right) {
        (Number::Int(left), Number::Int(right)) => {
            let result = match op {
                BinaryOp::Add => left.checked_add(right),
                BinaryOp::Subtract => left.checked_sub(right),
                BinaryOp::Multiply => left.checked_mul(right),
                BinaryOp::Divide if right == 0 => return Err(division_by_zero(offset)),
                BinaryOp::Divide => left.checked_div(right),
                BinaryOp::Power => None,
            };
            result.map(Value::Int).ok_or_else(|| overflow(offset, symbol))
        }
        (left, right) => {
            let (left, right) = (left.as_f64(), right.as_f64());
            let result = match op {
                BinaryOp::Add => left + right,
                BinaryOp::Subtract => left - right,
                BinaryOp::Multiply => left * right,
                BinaryOp::Divide if right == 0.0 => return Err(division_by_zero(offset)),
                BinaryOp::Divide => left / right,
                BinaryOp::Power => left.powf(right),
            };
            finite(result, offset, symbol)
        }
    }
}

fn division_by_zero(offset: usize) -> ExprError {
    ExprError::new(offset, "/: division by zero")
}

fn finite(number: f64, offset: usize, symbol: &str) -> Result<Value, ExprError> {
    if number.is_finite() {
        Ok(Value::Float(number))
    } else {
        Err(ExprError::new(
            offset,
            format!("{symbol}: the result is not a finite number"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::expr::{
        Evaluated, Value, evaluate_str,
        tests::{MapContext, error, one},
    };

    fn many(text: &str, context: &MapContext) -> Vec<String> {
        match evaluate_str(text, context) {
            Ok(Evaluated::Many(values)) => values,
            other => panic!("{text}: expected many values, got {other:?}"),
        }
    }

    fn strings(items: &[&str]) -> Value {
        Value::List(items.iter().map(|item| Value::Str((*item).to_owned())).collect())
    }

    #[test]
    fn integer_arithmetic_stays_integral_and_division_truncates_like_java() {
        let cases = [
            ("#{1 + 2}", "3"),
            ("#{7 - 10}", "-3"),
            ("#{6 * 7}", "42"),
            ("#{7 / 2}", "3"),
            ("#{-7 / 2}", "-3"),
            ("#{1 / 2}", "0"),
            ("#{9223372036854775807}", "9223372036854775807"),
        ];
        for (text, expected) in cases {
            assert_eq!(one(text), expected, "{text}");
        }
    }

    #[test]
    fn any_float_operand_makes_the_result_a_float() {
        let cases = [
            ("#{1.0 / 2}", "0.5"),
            ("#{1 / 2.0}", "0.5"),
            ("#{.5 + 1}", "1.5"),
            ("#{2.5 * 2}", "5.0"),
            ("#{3 - 0.5}", "2.5"),
            ("#{1e7 + 0}", "1.0E7"),
            ("#{1 / 10000.0}", "1.0E-4"),
        ];
        for (text, expected) in cases {
            assert_eq!(one(text), expected, "{text}");
        }
    }

    #[test]
    fn power_always_returns_a_float_and_groups_to_the_right() {
        assert_eq!(one("#{2 ^ 2}"), "4.0");
        assert_eq!(one("#{2 ^ 3 ^ 2}"), "512.0");
        assert_eq!(one("#{2 ^ -1}"), "0.5");
        assert_eq!(one("#{4 ^ 0.5}"), "2.0");
    }

    #[test]
    fn precedence_is_unary_minus_then_power_then_product_then_sum() {
        let cases = [
            ("#{1 + 2 * 3}", "7"),
            ("#{(1 + 2) * 3}", "9"),
            ("#{10 - 2 - 3}", "5"),
            ("#{7 / 2 * 2}", "6"),
            ("#{2 * 3 ^ 2}", "18.0"),
            ("#{-2 ^ 2}", "4.0"),
            ("#{-(2 ^ 2)}", "-4.0"),
            ("#{1 - -1}", "2"),
            ("#{--3}", "3"),
            ("#{-myCount}", "-3"),
        ];
        for (text, expected) in cases {
            assert_eq!(one(text), expected, "{text}");
        }
    }

    #[test]
    fn plus_with_a_string_on_either_side_concatenates() {
        let cases = [
            ("#{'hel' + \"lo\"}", "hello"),
            ("#{'n=' + 1}", "n=1"),
            ("#{1 + 'x'}", "1x"),
            ("#{'a' + 1 + 2}", "a12"),
            ("#{1 + 2 + 'a'}", "3a"),
            ("#{'v' + 2 ^ 2}", "v4.0"),
            ("#{'at ' + @scheduledStartTime}", "at 2011-05-24T17:10:00"),
            ("#{myCount + 1}", "31"),
            ("#{'it\\'s'}", "it's"),
        ];
        for (text, expected) in cases {
            assert_eq!(one(text), expected, "{text}");
        }
    }

    #[test]
    fn strings_that_spell_numbers_work_with_the_other_operators() {
        assert_eq!(one("#{myCount * 2}"), "6");
        assert_eq!(one("#{myCount - 1}"), "2");
        assert_eq!(one("#{'1.5' * 2}"), "3.0");
        assert_eq!(one("#{myCount ^ 2}"), "9.0");
    }

    #[test]
    fn division_by_zero_and_overflow_are_errors_at_the_operator() {
        let cases = [
            ("#{1 / 0}", 4, "division by zero"),
            ("#{1.0 / 0}", 6, "division by zero"),
            ("#{9223372036854775807 + 1}", 22, "too large"),
            ("#{-9223372036854775807 - 2}", 23, "too large"),
            ("#{9223372036854775807 * 2}", 22, "too large"),
            ("#{(-9223372036854775807 - 1) / -1}", 29, "too large"),
            ("#{-(-9223372036854775807 - 1)}", 2, "too large"),
            ("#{10.0 ^ 400}", 7, "not a finite number"),
            ("#{1e300 * 1e300}", 8, "not a finite number"),
        ];
        for (text, offset, message) in cases {
            let error = error(text);
            assert_eq!(error.offset, offset, "{text}: {error}");
            assert!(error.message.contains(message), "{text}: {error}");
        }
    }

    #[test]
    fn arithmetic_on_a_date_time_says_to_use_the_functions() {
        let plus = error("#{@scheduledStartTime + 1}");
        assert_eq!(plus.offset, 22);
        assert!(plus.message.contains("use plusMinutes, plusHours, plusDays"), "{plus}");
        assert!(plus.message.contains("plusDays(@scheduledStartTime, 1)"), "{plus}");
        let minus = error("#{@scheduledStartTime - '1 day'}");
        assert!(minus.message.contains("minusDays"), "{minus}");
    }

    #[test]
    fn operands_that_are_not_numbers_are_errors_naming_the_value() {
        let times = error("#{myName * 2}");
        assert_eq!(times.offset, 9);
        assert_eq!(
            times.message,
            "* needs numbers on both sides, but one side is the text \"daily\""
        );
        assert!(error("#{-myName}").message.contains("- needs a number"));
    }

    #[test]
    fn operators_apply_to_each_element_of_a_list() {
        let context = MapContext::new()
            .with(
                "myNumbers",
                Value::List(vec![Value::Int(1), Value::Int(2), Value::Int(3)]),
            )
            .with(
                "myOthers",
                Value::List(vec![Value::Int(10), Value::Int(20), Value::Int(30)]),
            )
            .with("myShort", Value::List(vec![Value::Int(1)]));
        assert_eq!(many("#{myList + '!'}", &context), ["one!", "two!"]);
        assert_eq!(many("#{myNumbers * 2}", &context), ["2", "4", "6"]);
        assert_eq!(many("#{-myNumbers}", &context), ["-1", "-2", "-3"]);
        assert_eq!(many("#{myNumbers + myOthers}", &context), ["11", "22", "33"]);
        let error = evaluate_str("#{myNumbers + myShort}", &context).unwrap_err();
        assert_eq!(error.offset, 12);
        assert!(error.message.contains("different lengths (3 and 1)"), "{error}");
    }

    #[test]
    fn functions_apply_to_each_element_of_a_list() {
        let context = MapContext::new().with("myDates", strings(&["2011-05-24T17:10:00", "2011-06-01T00:00:00"]));
        assert_eq!(many("#{format(myDates, 'MM-dd')}", &context), ["05-24", "06-01"]);
        assert_eq!(many("#{myDates.plusDays(1).day()}", &context), ["25", "2"]);
        assert_eq!(
            many(
                "#{format(@scheduledStartTime, myPatterns)}",
                &context.with("myPatterns", strings(&["YYYY", "dd"]))
            ),
            ["2011", "24"]
        );
    }

    #[test]
    fn a_nested_list_prints_as_a_list_inside_each_value() {
        let context = MapContext::new().with(
            "myNested",
            Value::List(vec![strings(&["a", "b"]), Value::Str("c".into())]),
        );
        assert_eq!(many("#{'x' + myNested}", &context), [r#"["xa", "xb"]"#, "xc"]);
    }
}
