//! DynamoDB items as Data Pipeline moved them in and out of tables.
//!
//! - **`DynamoDBExportDataFormat`** (and an S3 node with no format beside a DynamoDB node)
//!   is the export format of Data Pipeline's DynamoDB export and import templates (the
//!   `emr-ddb` `DynamoDbExport`/`DynamoDbImport` tools): one item per line, a JSON object
//!   of attribute name to a one-key object naming the type, as the Java SDK v1 serialised
//!   it: `{"id":{"n":"1"},"name":{"s":"Ada"},"tags":{"sS":["a","b"]},"ok":{"bOOL":true}}`.
//!   Sluice writes exactly that, so old backups and new ones read alike; it reads the type
//!   keys in any case (`ss`, `SS`, `null`, `nULLValue`), and the older Hive export's
//!   `name^C{"s":"x"}^Bnext^C{...}` lines. Binary values are base64.
//! - **Columns** (`column: "name TYPE"` on `CSV`, `TSV`, `DynamoDBDataFormat`...) map
//!   attributes to the fields of a record: numeric Hive types are DynamoDB numbers,
//!   `BOOLEAN` booleans, `BINARY` base64 binary, anything else a string; a set, list or map
//!   is written as its export-format JSON. A NULL field is an absent attribute.
//! - **Throughput**: `readThroughputPercent` and `writeThroughputPercent` are a share of
//!   the table's provisioned capacity; [`Throughput`] says how long to wait so a copy's
//!   consumed capacity stays within it.

use std::{collections::HashMap, time::Duration};

use aws_sdk_dynamodb::{primitives::Blob, types::AttributeValue};
use serde_json::{Map, Value};
use thiserror::Error;

use super::format::Record;

/// One item: attribute name to value.
pub type Item = HashMap<String, AttributeValue>;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ItemError {
    /// The data is not an item: names the item (1-based) and why.
    #[error("item {item}: {problem}")]
    Malformed { item: u64, problem: String },
    /// The definition's columns cannot be used as written.
    #[error("data format \"{object}\": {problem}")]
    Definition { object: String, problem: String },
}

// The Java SDK v1 field names Data Pipeline's exports carry.
const STRING: &str = "s";
const NUMBER: &str = "n";
const BINARY: &str = "b";
const STRING_SET: &str = "sS";
const NUMBER_SET: &str = "nS";
const BINARY_SET: &str = "bS";
const MAP: &str = "m";
const LIST: &str = "l";
const NULL: &str = "nULLValue";
const BOOLEAN: &str = "bOOL";

/// An item as one line of the export format (without its newline); attributes sorted by
/// name so the same item is always the same line.
pub fn export_line(item: &Item) -> String {
    Value::Object(sorted_object(item)).to_string()
}

/// Attributes as a JSON object, sorted by name.
fn sorted_object(attributes: &HashMap<String, AttributeValue>) -> Map<String, Value> {
    let mut entries: Vec<(&String, &AttributeValue)> = attributes.iter().collect();
    entries.sort_by(|left, right| left.0.cmp(right.0));
    entries
        .into_iter()
        .map(|(name, value)| (name.clone(), export_value(value)))
        .collect()
}

fn export_value(value: &AttributeValue) -> Value {
    let (key, inner) = match value {
        AttributeValue::S(text) => (STRING, Value::from(text.as_str())),
        AttributeValue::N(number) => (NUMBER, Value::from(number.as_str())),
        AttributeValue::B(blob) => (BINARY, Value::from(base64(blob))),
        AttributeValue::Ss(texts) => (STRING_SET, Value::from(texts.clone())),
        AttributeValue::Ns(numbers) => (NUMBER_SET, Value::from(numbers.clone())),
        AttributeValue::Bs(blobs) => (BINARY_SET, Value::from(blobs.iter().map(base64).collect::<Vec<_>>())),
        AttributeValue::M(map) => (MAP, Value::Object(sorted_object(map))),
        AttributeValue::L(values) => (LIST, Value::Array(values.iter().map(export_value).collect())),
        AttributeValue::Null(null) => (NULL, Value::from(*null)),
        AttributeValue::Bool(boolean) => (BOOLEAN, Value::from(*boolean)),
        // A type newer than this code: kept as its debug text rather than lost.
        other => (STRING, Value::from(format!("{other:?}"))),
    };
    let mut object = Map::new();
    object.insert(key.to_owned(), inner);
    Value::Object(object)
}

fn base64(blob: &Blob) -> String {
    aws_smithy_types::base64::encode(blob.as_ref())
}

/// One line of the export format as an item; `number` (1-based) names it in errors.
pub fn parse_export_line(line: &str, number: u64) -> Result<Item, ItemError> {
    let malformed = |problem: String| ItemError::Malformed { item: number, problem };
    let line = line.trim();
    // The Hive export's ^B/^C separated form, as the EMR connector reads it.
    let json = if !line.starts_with('{') && line.contains('\u{3}') {
        hive_line_json(line)
    } else {
        line.to_owned()
    };
    let parsed: Value =
        serde_json::from_str(&json).map_err(|error| malformed(format!("not an item's JSON: {error}")))?;
    let Value::Object(attributes) = parsed else {
        return Err(malformed("not a JSON object of attributes".to_owned()));
    };
    attributes
        .into_iter()
        .map(|(name, value)| {
            let parsed =
                parse_value(&value).map_err(|problem| malformed(format!("attribute \"{name}\": {problem}")))?;
            Ok((name, parsed))
        })
        .collect()
}

/// `name^C{...}^Bname^C{...}` as a JSON object: the names, which the Hive export left
/// bare, quoted.
fn hive_line_json(line: &str) -> String {
    let attributes: Vec<String> = line
        .split('\u{2}')
        .map(|pair| match pair.split_once('\u{3}') {
            Some((name, value)) => format!("{}:{value}", Value::from(name)),
            None => pair.to_owned(),
        })
        .collect();
    format!("{{{}}}", attributes.join(","))
}

fn parse_value(value: &Value) -> Result<AttributeValue, String> {
    let Value::Object(object) = value else {
        return Err(format!("{value} is not a typed value like {{\"s\": \"text\"}}"));
    };
    // gson writes no null fields, but another writer might: the type is the non-null one.
    let mut typed = object.iter().filter(|(_, inner)| !inner.is_null());
    let (Some((key, inner)), None) = (typed.next(), typed.next()) else {
        return Err(format!("{value} does not name exactly one type"));
    };
    let texts = |inner: &Value| -> Result<Vec<String>, String> {
        inner
            .as_array()
            .ok_or_else(|| format!("\"{key}\" is not a list"))?
            .iter()
            .map(|element| scalar_text(element).ok_or_else(|| format!("\"{key}\" holds {element}, not a string")))
            .collect()
    };
    match key.to_ascii_lowercase().as_str() {
        "s" => Ok(AttributeValue::S(
            inner
                .as_str()
                .ok_or_else(|| format!("\"{key}\" is not a string"))?
                .to_owned(),
        )),
        "n" => checked_number(&scalar_text(inner).ok_or_else(|| format!("\"{key}\" is not a number"))?)
            .map(AttributeValue::N),
        "b" => blob(inner.as_str().ok_or_else(|| format!("\"{key}\" is not base64 text"))?).map(AttributeValue::B),
        "ss" => Ok(AttributeValue::Ss(texts(inner)?)),
        "ns" => Ok(AttributeValue::Ns(
            texts(inner)?
                .iter()
                .map(|text| checked_number(text))
                .collect::<Result<_, _>>()?,
        )),
        "bs" => Ok(AttributeValue::Bs(
            texts(inner)?.iter().map(|text| blob(text)).collect::<Result<_, _>>()?,
        )),
        "m" => {
            let map = inner.as_object().ok_or_else(|| format!("\"{key}\" is not an object"))?;
            map.iter()
                .map(|(name, value)| {
                    Ok((
                        name.clone(),
                        parse_value(value).map_err(|problem| format!("{name}: {problem}"))?,
                    ))
                })
                .collect::<Result<_, String>>()
                .map(AttributeValue::M)
        }
        "l" => inner
            .as_array()
            .ok_or_else(|| format!("\"{key}\" is not a list"))?
            .iter()
            .map(parse_value)
            .collect::<Result<_, _>>()
            .map(AttributeValue::L),
        "nullvalue" | "null" | "nul" => Ok(AttributeValue::Null(true)),
        "bool" => inner
            .as_bool()
            .map(AttributeValue::Bool)
            .ok_or_else(|| format!("\"{key}\" is not true or false")),
        _ => Err(format!(
            "\"{key}\" is not a DynamoDB type (s, n, b, sS, nS, bS, m, l, bOOL, nULLValue)"
        )),
    }
}

/// A JSON string's text, or a JSON number's (a writer may not quote numbers).
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// `text` if DynamoDB would take it as a number.
fn checked_number(text: &str) -> Result<String, String> {
    let trimmed = text.trim();
    let unsigned = trimmed.strip_prefix(['+', '-']).unwrap_or(trimmed);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (unsigned, None),
    };
    let digits = mantissa.replacen('.', "", 1);
    let mantissa_ok = !digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_digit());
    let exponent_ok = exponent.is_none_or(|exponent| {
        let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
        !exponent.is_empty() && exponent.bytes().all(|byte| byte.is_ascii_digit())
    });
    if mantissa_ok && exponent_ok {
        Ok(trimmed.to_owned())
    } else {
        Err(format!("\"{text}\" is not a number"))
    }
}

fn blob(text: &str) -> Result<Blob, String> {
    aws_smithy_types::base64::decode(text.trim())
        .map(Blob::new)
        .map_err(|error| format!("\"{text}\" is not base64: {error}"))
}

/// The DynamoDB type a column's values take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    String,
    Number,
    Boolean,
    Binary,
}

/// A `column` of a data format: `name TYPE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub kind: ColumnKind,
}

/// A format's `column` values as columns; a bare name is a string column.
pub fn parse_columns(object_id: &str, values: &[&str]) -> Result<Vec<Column>, ItemError> {
    values
        .iter()
        .map(|value| {
            let mut words = value.split_whitespace();
            let name = words.next().ok_or_else(|| ItemError::Definition {
                object: object_id.to_owned(),
                problem: "a column has no name".to_owned(),
            })?;
            let type_name = words.collect::<Vec<_>>().join(" ").to_ascii_uppercase();
            let base = type_name.split(['(', '<']).next().unwrap_or_default().trim();
            let kind = match base {
                "BIGINT" | "INT" | "INTEGER" | "SMALLINT" | "TINYINT" | "DOUBLE" | "FLOAT" | "DECIMAL" | "NUMERIC"
                | "NUMBER" | "REAL" => ColumnKind::Number,
                "BOOLEAN" | "BOOL" => ColumnKind::Boolean,
                "BINARY" | "BLOB" => ColumnKind::Binary,
                _ => ColumnKind::String,
            };
            Ok(Column {
                name: name.to_owned(),
                kind,
            })
        })
        .collect()
}

/// An item as a record of `columns`: a missing or NULL attribute is a NULL field.
pub fn item_record(item: &Item, columns: &[Column]) -> Record {
    columns
        .iter()
        .map(|column| match item.get(&column.name)? {
            AttributeValue::S(text) => Some(text.clone()),
            AttributeValue::N(number) => Some(number.clone()),
            AttributeValue::Bool(boolean) => Some(boolean.to_string()),
            AttributeValue::B(blob) => Some(base64(blob)),
            AttributeValue::Null(_) => None,
            other => export_value(other).as_object()?.values().next().map(Value::to_string),
        })
        .collect()
}

/// A record of `columns` as an item: a NULL field is an absent attribute, the others
/// take their column's type; `number` (1-based) names the record in errors.
pub fn record_item(record: &Record, columns: &[Column], number: u64) -> Result<Item, ItemError> {
    let malformed = |problem: String| ItemError::Malformed { item: number, problem };
    if record.len() != columns.len() {
        return Err(malformed(format!(
            "it has {} fields for {} columns",
            record.len(),
            columns.len()
        )));
    }
    let mut item = Item::new();
    for (field, column) in record.iter().zip(columns) {
        let Some(text) = field else { continue };
        let in_column = |problem: String| malformed(format!("column \"{}\": {problem}", column.name));
        let value = match column.kind {
            ColumnKind::String => AttributeValue::S(text.clone()),
            ColumnKind::Number => AttributeValue::N(checked_number(text).map_err(in_column)?),
            ColumnKind::Boolean => match text.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => AttributeValue::Bool(true),
                "false" | "0" => AttributeValue::Bool(false),
                _ => return Err(in_column(format!("\"{text}\" is not true or false"))),
            },
            ColumnKind::Binary => AttributeValue::B(blob(text).map_err(in_column)?),
        };
        item.insert(column.name.clone(), value);
    }
    Ok(item)
}

/// The capacity units an item of this size takes to write (1 KB each) — what a copy
/// charges when DynamoDB does not say what it consumed.
pub fn write_units(item: &Item) -> f64 {
    let bytes: usize = item
        .iter()
        .map(|(name, value)| name.len() + export_value(value).to_string().len())
        .sum();
    (bytes.div_ceil(1024).max(1)) as f64
}

/// A share of a table's provisioned capacity per second, as a token bucket that holds
/// at most a second's worth: [`Throughput::charge`] says how long to wait before the next
/// request so the consumed capacity stays within the share.
#[derive(Debug, Clone, PartialEq)]
pub struct Throughput {
    per_second: f64,
    available: f64,
    /// When `available` was last brought up to date, as time since the copy began.
    updated: Duration,
}

impl Throughput {
    /// `percent` (0.1 to 1.0) of `capacity` units per second; `None` when the table has no
    /// provisioned capacity to share (on demand), which paces nothing.
    pub fn new(capacity: Option<f64>, percent: f64) -> Option<Self> {
        let per_second = capacity.filter(|capacity| *capacity > 0.0)? * percent;
        Some(Self {
            per_second,
            available: per_second,
            updated: Duration::ZERO,
        })
    }

    /// The units per second this copy may use.
    pub fn per_second(&self) -> f64 {
        self.per_second
    }

    /// Charges `units` consumed at `now` (time since the copy began); the wait before the
    /// next request.
    pub fn charge(&mut self, units: f64, now: Duration) -> Duration {
        let elapsed = now.saturating_sub(self.updated).as_secs_f64();
        self.updated = self.updated.max(now);
        self.available = (self.available + elapsed * self.per_second).min(self.per_second) - units;
        if self.available >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.available / self.per_second)
        }
    }
}

/// A `readThroughputPercent`/`writeThroughputPercent` value: 0.1 to 1.0, 0.5 (the EMR
/// connector's default) when absent.
pub fn throughput_percent(node_id: &str, field: &str, value: Option<&str>) -> Result<f64, ItemError> {
    let Some(text) = value.map(str::trim).filter(|text| !text.is_empty()) else {
        return Ok(0.5);
    };
    match text.parse::<f64>() {
        Ok(percent) if (0.1..=1.0).contains(&percent) => Ok(percent),
        _ => Err(ItemError::Definition {
            object: node_id.to_owned(),
            problem: format!("{field} \"{text}\" is not a number from 0.1 to 1.0"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect()
    }

    #[test]
    fn every_type_is_written_as_data_pipelines_exports_wrote_it_and_read_back() {
        let written = item(&[
            ("id", AttributeValue::N("101".to_owned())),
            ("name", AttributeValue::S("Amazon \"DynamoDB\"\n".to_owned())),
            ("tags", AttributeValue::Ss(vec!["a".to_owned(), "b".to_owned()])),
            ("scores", AttributeValue::Ns(vec!["1".to_owned(), "2.5".to_owned()])),
            ("raw", AttributeValue::B(Blob::new(vec![0, 1, 255]))),
            ("raws", AttributeValue::Bs(vec![Blob::new(b"x".to_vec())])),
            ("ok", AttributeValue::Bool(true)),
            ("gone", AttributeValue::Null(true)),
            (
                "nested",
                AttributeValue::M(item(&[(
                    "list",
                    AttributeValue::L(vec![
                        AttributeValue::S("é".to_owned()),
                        AttributeValue::N("3".to_owned()),
                    ]),
                )])),
            ),
        ]);
        let line = export_line(&written);
        assert_eq!(
            line,
            r#"{"gone":{"nULLValue":true},"id":{"n":"101"},"name":{"s":"Amazon \"DynamoDB\"\n"},"nested":{"m":{"list":{"l":[{"s":"é"},{"n":"3"}]}}},"ok":{"bOOL":true},"raw":{"b":"AAH/"},"raws":{"bS":["eA=="]},"scores":{"nS":["1","2.5"]},"tags":{"sS":["a","b"]}}"#
        );
        assert!(!line.contains('\n'), "one item, one line");
        assert_eq!(parse_export_line(&line, 1), Ok(written));
    }

    #[test]
    fn type_keys_are_read_in_any_case_and_the_old_hive_form_too() {
        let modern = parse_export_line(
            r#"{"id":{"N":"1"},"t":{"SS":["x"]},"f":{"null":true},"b":{"bool":false}}"#,
            1,
        );
        assert_eq!(
            modern,
            Ok(item(&[
                ("id", AttributeValue::N("1".to_owned())),
                ("t", AttributeValue::Ss(vec!["x".to_owned()])),
                ("f", AttributeValue::Null(true)),
                ("b", AttributeValue::Bool(false)),
            ]))
        );
        let hive = parse_export_line("id\u{3}{\"s\":\"Seattle\"}\u{2}scores\u{3}{\"nS\":[\"100\",\"30\"]}", 2);
        assert_eq!(
            hive,
            Ok(item(&[
                ("id", AttributeValue::S("Seattle".to_owned())),
                ("scores", AttributeValue::Ns(vec!["100".to_owned(), "30".to_owned()])),
            ]))
        );
    }

    #[test]
    fn a_line_that_is_not_an_item_names_the_item_and_the_attribute() {
        let cases = [
            ("not json", "item 7: not an item's JSON"),
            ("[1,2]", "item 7: not a JSON object"),
            (r#"{"id":"x"}"#, "item 7: attribute \"id\": \"x\" is not a typed value"),
            (
                r#"{"id":{"n":"12a"}}"#,
                "item 7: attribute \"id\": \"12a\" is not a number",
            ),
            (
                r#"{"id":{"q":"1"}}"#,
                "item 7: attribute \"id\": \"q\" is not a DynamoDB type",
            ),
            (r#"{"id":{"s":"1","n":"1"}}"#, "does not name exactly one type"),
            (r#"{"id":{"b":"!!"}}"#, "is not base64"),
        ];
        for (line, expected) in cases {
            let error = parse_export_line(line, 7).expect_err(line).to_string();
            assert!(error.contains(expected), "{line}: {error}");
        }
    }

    #[test]
    fn columns_map_records_to_typed_attributes_and_back() {
        let columns = parse_columns(
            "Fmt",
            &["id BIGINT", "name STRING", "active BOOLEAN", "photo binary", "note"],
        );
        let columns = columns.expect("columns");
        assert_eq!(columns[0].kind, ColumnKind::Number);
        assert_eq!(columns[4].kind, ColumnKind::String);
        let record: Record = vec![
            Some("42".to_owned()),
            Some("Ada, \"the\" first".to_owned()),
            Some("TRUE".to_owned()),
            Some("AAH/".to_owned()),
            None,
        ];
        let parsed = record_item(&record, &columns, 3).expect("item");
        assert_eq!(parsed.len(), 4, "a NULL field is no attribute");
        assert_eq!(parsed["active"], AttributeValue::Bool(true));
        let back = item_record(&parsed, &columns);
        assert_eq!(back[0].as_deref(), Some("42"));
        assert_eq!(back[2].as_deref(), Some("true"));
        assert_eq!(back[3].as_deref(), Some("AAH/"));
        assert_eq!(back[4], None);
        let bad = record_item(&vec![Some("x".to_owned()); 5], &columns, 3).expect_err("not a number");
        assert_eq!(bad.to_string(), "item 3: column \"id\": \"x\" is not a number");
        let short = record_item(&vec![None], &columns, 4).expect_err("short");
        assert_eq!(short.to_string(), "item 4: it has 1 fields for 5 columns");
    }

    #[test]
    fn sets_lists_and_maps_become_their_json_in_a_column() {
        let columns = parse_columns("Fmt", &["tags STRING"]).expect("columns");
        let record = item_record(&item(&[("tags", AttributeValue::Ss(vec!["a".to_owned()]))]), &columns);
        assert_eq!(record, vec![Some(r#"["a"]"#.to_owned())]);
    }

    #[test]
    fn throughput_waits_only_when_the_share_is_spent() {
        // 10 units a second at 50% of 20
        let mut budget = Throughput::new(Some(20.0), 0.5).expect("provisioned");
        assert_eq!(budget.per_second(), 10.0);
        assert_eq!(budget.charge(4.0, Duration::ZERO), Duration::ZERO);
        assert_eq!(budget.charge(6.0, Duration::ZERO), Duration::ZERO);
        // spent: 5 more units owe half a second
        assert_eq!(budget.charge(5.0, Duration::ZERO), Duration::from_millis(500));
        // a second later the bucket holds at most a second's worth again
        assert_eq!(budget.charge(10.0, Duration::from_secs(3)), Duration::ZERO);
        assert_eq!(Throughput::new(None, 0.5), None, "on demand: nothing to share");
        assert_eq!(Throughput::new(Some(0.0), 0.5), None);
    }

    #[test]
    fn throughput_percents_are_checked() {
        assert_eq!(throughput_percent("T", "readThroughputPercent", None), Ok(0.5));
        assert_eq!(throughput_percent("T", "readThroughputPercent", Some("0.25")), Ok(0.25));
        let error = throughput_percent("T", "readThroughputPercent", Some("2")).expect_err("too high");
        assert_eq!(
            error.to_string(),
            "data format \"T\": readThroughputPercent \"2\" is not a number from 0.1 to 1.0"
        );
    }

    fn attribute() -> impl Strategy<Value = AttributeValue> {
        let leaf = prop_oneof![
            ".{0,12}".prop_map(AttributeValue::S),
            (-1_000_000i64..1_000_000).prop_map(|n| AttributeValue::N(n.to_string())),
            any::<bool>().prop_map(AttributeValue::Bool),
            proptest::collection::vec(any::<u8>(), 0..8).prop_map(|bytes| AttributeValue::B(Blob::new(bytes))),
            Just(AttributeValue::Null(true)),
            proptest::collection::vec("[a-z]{1,4}", 1..3).prop_map(AttributeValue::Ss),
        ];
        leaf.prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(AttributeValue::L),
                proptest::collection::hash_map("[a-z]{1,3}", inner, 0..3).prop_map(AttributeValue::M),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_item_survives_the_export_format(item in proptest::collection::hash_map(".{1,6}", attribute(), 0..5)) {
            let line = export_line(&item);
            prop_assert!(!line.contains('\n'));
            prop_assert_eq!(parse_export_line(&line, 1), Ok(item));
        }

        #[test]
        fn reading_any_line_never_panics(line in ".{0,60}") {
            let _ = parse_export_line(&line, 1);
        }
    }
}
