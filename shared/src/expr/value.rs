//! The values an expression computes with.

use chrono::DateTime;
use chrono_tz::Tz;

use crate::schedule::Period;

/// An expression value. Field values and parameters are strings unless their slot or
/// parameter type says otherwise; functions coerce a string that spells a number or a
/// date-time where they need one.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Str(String),
    /// An instant with its zone: UTC unless `inTimeZone` moved it.
    DateTime(DateTime<Tz>),
    Period(Period),
    /// A multi-valued field or list parameter; operators apply element-wise.
    List(Vec<Value>),
}
