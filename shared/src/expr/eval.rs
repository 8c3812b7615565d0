//! Evaluates a parsed expression against a [`Context`]: Java's integer and float rules,
//! string concatenation, and lists spread element by element.

use super::{
    Context, ExprError, Value,
    ast::{BinaryOp, Call, Expr, Node},
    functions::{Function, format_with},
    value::{Number, write_value},
};

pub(super) fn evaluate(expr: &Expr, context: &dyn Context) -> Result<Value, ExprError> {
    match &expr.node {
        Node::Literal(value) => Ok(value.clone()),
        Node::Reference(reference) => context
            .resolve(reference)
            .map_err(|message| ExprError::new(expr.offset, message)),
        Node::Negate(inner) => {
            let value = evaluate(inner, context)?;
            spread(&[value], expr.offset, "-", &mut |values| match values {
                [value] => negate(value, expr.offset),
                _ => Err(ExprError::new(expr.offset, "-: expected one operand")),
            })
        }
        Node::Binary(op, left, right) => {
            let left = evaluate(left, context)?;
            let right = evaluate(right, context)?;
            let symbol = op.symbol();
            spread(&[left, right], expr.offset, symbol, &mut |values| match values {
                [left, right] => binary(*op, left, right, expr.offset),
                _ => Err(ExprError::new(expr.offset, format!("{symbol}: expected two operands"))),
            })
        }
        Node::Call(call) => evaluate_call(call, expr.offset, context),
    }
}

fn evaluate_call(call: &Call, offset: usize, context: &dyn Context) -> Result<Value, ExprError> {
    let name = call.function.name();
    if let (Some(pattern), Some(datetime)) = (&call.pattern, call.args.first()) {
        // `format` with a literal pattern, compiled when parsed.
        let value = evaluate(datetime, context)?;
        let offsets = [datetime.offset];
        return spread(&[value], offset, name, &mut |values| {
            let first = values.first().and_then(Value::to_datetime);
            match first {
                Some(datetime) => Ok(Value::Str(format_with(pattern, &datetime))),
                None => Function::Format.apply(values, &offsets, offset),
            }
        });
    }
    let mut values = Vec::with_capacity(call.args.len());
    for arg in &call.args {
        values.push(evaluate(arg, context)?);
    }
    let offsets: Vec<usize> = call.args.iter().map(|arg| arg.offset).collect();
    spread(&values, offset, name, &mut |values| {
        call.function.apply(values, &offsets, offset)
    })
}

/// Applies `apply` to scalar operands. When some are lists, applies it element by element:
/// lists of one length zip, scalars repeat, and the result is a list.
fn spread(
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
        return apply(values);
    };
    let mut results = Vec::with_capacity(length);
    for index in 0..length {
        let row: Vec<Value> = values
            .iter()
            .map(|value| match value {
                Value::List(items) => items.get(index).cloned().unwrap_or(Value::List(Vec::new())),
                scalar => scalar.clone(),
            })
            .collect();
        results.push(spread(&row, offset, what, apply)?);
    }
    Ok(Value::List(results))
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
