//! End-to-end tests of the expression language: templates as AWS documents them, and
//! properties that hold for any input.

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;
use crate::time::parse_datetime;

/// Resolves the references it was given, by their dotted form; anything else is an error
/// in the words a real context would use.
#[derive(Default)]
pub(super) struct MapContext {
    values: HashMap<String, Value>,
}

impl MapContext {
    pub(super) fn new() -> Self {
        Self::default()
            .with("@scheduledStartTime", datetime("2011-05-24T17:10:00"))
            .with("@pipelineId", Value::Str("df-0123456789".into()))
            .with("myName", Value::Str("daily".into()))
            .with("myCount", Value::Str("3".into()))
            .with("input.directoryPath", Value::Str("s3://in/dir".into()))
            .with("*myRedshiftPassword", Value::Str("hunter2".into()))
            .with(
                "myList",
                Value::List(vec![Value::Str("one".into()), Value::Str("two".into())]),
            )
    }

    pub(super) fn with(mut self, reference: &str, value: Value) -> Self {
        self.values.insert(reference.to_owned(), value);
        self
    }
}

impl Context for MapContext {
    fn resolve(&self, reference: &Reference) -> Result<Value, String> {
        let dotted = reference.dotted();
        self.values
            .get(&dotted)
            .cloned()
            .ok_or_else(|| format!("object \"Copy\" has no field \"{dotted}\""))
    }
}

pub(super) fn datetime(text: &str) -> Value {
    Value::utc(parse_datetime(text).unwrap())
}

/// Evaluates `text` against [`MapContext::new`], expecting one string.
pub(super) fn one(text: &str) -> String {
    match evaluate_str(text, &MapContext::new()) {
        Ok(Evaluated::One(value)) => value,
        other => panic!("{text}: expected one value, got {other:?}"),
    }
}

/// Evaluates `text` against [`MapContext::new`], expecting an error.
pub(super) fn error(text: &str) -> ExprError {
    match evaluate_str(text, &MapContext::new()) {
        Err(error) => error,
        Ok(value) => panic!("{text}: expected an error, got {value:?}"),
    }
}

#[test]
fn the_guides_examples_evaluate_as_documented() {
    let cases = [
        (
            "s3://bucket/#{format(@scheduledStartTime,'YYYY-MM-dd')}/#{@pipelineId}",
            "s3://bucket/2011-05-24/df-0123456789",
        ),
        ("#{\"hel\" + \"lo\"}", "hello"),
        ("#{1 / 2}", "0"),
        ("#{1.0 / 2}", "0.5"),
        ("#{2 ^ 2}", "4.0"),
        (
            "#{format(minusMinutes(@scheduledStartTime,30),'YYYY-MM-dd hh:mm:ss')}",
            "2011-05-24 04:40:00",
        ),
        (
            "#{@scheduledStartTime.format('YYYY-MM-dd HH:mm:ss')}",
            "2011-05-24 17:10:00",
        ),
        (
            "#{format(@scheduledStartTime,'YYYY-MM-dd HH:mm:ss z')}",
            "2011-05-24 17:10:00 UTC",
        ),
        ("#{input.directoryPath}/out", "s3://in/dir/out"),
    ];
    for (text, expected) in cases {
        assert_eq!(one(text), expected, "{text}");
    }
}

#[test]
fn the_sample_pipelines_expressions_evaluate() {
    // Given the expression forms the 44 public sample definitions use
    // When they are evaluated for the guide's example instant
    // Then they print as AWS printed them
    let cases = [
        (
            "#{format(@scheduledStartTime, 'YYYY-MM-dd-HH-mm-ss')}",
            "2011-05-24-17-10-00",
        ),
        ("#{format(@scheduledStartTime,'YYYY-MM-dd_hh.mm')}", "2011-05-24_05.10"),
        ("#{format(@scheduledStartTime, 'YYYY-MM')}", "2011-05"),
        ("#{day(@scheduledStartTime)}", "24"),
        ("#{@scheduledStartTime}", "2011-05-24T17:10:00"),
        ("#{*myRedshiftPassword}", "hunter2"),
        ("#{myName}", "daily"),
    ];
    for (text, expected) in cases {
        assert_eq!(one(text), expected, "{text}");
    }
}

#[test]
fn a_typical_template_substitutes_every_expression_into_its_text() {
    let template = parse("s3://bucket/#{format(@scheduledStartTime,'YYYY-MM-dd-HH-mm-ss')}/#{myName}").unwrap();
    let context = MapContext::new();
    for _ in 0..3 {
        assert_eq!(
            template.evaluate(&context).unwrap(),
            Evaluated::One("s3://bucket/2011-05-24-17-10-00/daily".into())
        );
    }
}

#[test]
fn a_list_makes_the_value_one_string_per_element() {
    // Given myList = ["one", "two"]
    // When an expression yields the list, alone or through an operator
    // Then the value is one string per element, with the surrounding text around each
    assert_eq!(
        evaluate_str("#{'this is ' + myList}", &MapContext::new()).unwrap(),
        Evaluated::Many(vec!["this is one".into(), "this is two".into()])
    );
    assert_eq!(
        evaluate_str("s3://#{myList}/#{myName}", &MapContext::new()).unwrap(),
        Evaluated::Many(vec!["s3://one/daily".into(), "s3://two/daily".into()])
    );
}

#[test]
fn a_context_error_is_reported_where_the_reference_starts() {
    let error = error("abc #{myName + missing.field}");
    assert_eq!(error.offset, 15);
    assert_eq!(
        error.to_string(),
        "at column 16: object \"Copy\" has no field \"missing.field\""
    );
}

#[test]
fn function_names_lists_the_documented_library_and_the_three_extras() {
    let names = function_names();
    for documented in [
        "day",
        "dayOfYear",
        "firstOfMonth",
        "format",
        "hour",
        "makeDate",
        "makeDateTime",
        "midnight",
        "minusDays",
        "minusHours",
        "minusMinutes",
        "minusMonths",
        "minusWeeks",
        "minusYears",
        "minute",
        "month",
        "plusDays",
        "plusHours",
        "plusMinutes",
        "plusMonths",
        "plusWeeks",
        "plusYears",
        "sunday",
        "year",
        "yesterday",
        "inTimeZone",
        "plusPeriod",
        "minusPeriod",
    ] {
        assert!(names.contains(&documented), "{documented}");
    }
    assert_eq!(names.len(), 28);
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for text in [
        format!("#{{{}1{}}}", "(".repeat(10_000), ")".repeat(10_000)),
        format!("#{{{}1}}", "-".repeat(10_000)),
        format!("#{{1{}}}", " + 1".repeat(10_000)),
        format!("#{{2{}}}", " ^ 2".repeat(10_000)),
        format!("#{{{}1{}}}", "day(".repeat(10_000), ")".repeat(10_000)),
        format!("#{{@scheduledStartTime{}}}", ".plusDays(1)".repeat(10_000)),
    ] {
        let error = parse(&text).unwrap_err();
        assert!(error.message.contains("levels deep"), "{}", error.message);
    }
    assert_eq!(one(&format!("#{{{}1{}}}", "(".repeat(50), ")".repeat(50))), "1");
}

#[test]
fn date_times_at_the_edge_of_the_calendar_are_errors_not_panics() {
    // Given instants whose local time in a zone falls outside the supported calendar
    let last = "makeDateTime(262142, 12, 31, 23, 0)";
    let first = "makeDate(-262143, 1, 1)";
    for text in [
        format!("#{{inTimeZone({last}, 'Asia/Tokyo')}}"),
        format!("#{{inTimeZone({first}, 'America/Los_Angeles')}}"),
        "#{format(plusHours(inTimeZone(makeDate(262142, 12, 31), 'Asia/Tokyo'), 20), 'HH')}".to_owned(),
        "#{day(plusHours(inTimeZone(makeDate(262142, 12, 31), 'Asia/Tokyo'), 20))}".to_owned(),
    ] {
        // When they are evaluated
        let error = error(&text);
        // Then the error says so
        assert!(
            error.message.contains("outside the range of supported dates"),
            "{text}: {error}"
        );
    }
    // And printing such an instant falls back to UTC rather than failing
    assert_eq!(
        one("#{plusHours(inTimeZone(makeDate(262142, 12, 31), 'Asia/Tokyo'), 20)}"),
        "262142-12-31T20:00:00.000Z"
    );
}

#[test]
fn expressions_just_inside_the_depth_limit_evaluate() {
    // Given a sum of 99 terms and 98 nested calls, just inside the limit of 100 levels
    let sum = format!("#{{1{}}}", " + 1".repeat(98));
    let calls = format!(
        "#{{{}@scheduledStartTime{}}}",
        "plusDays(".repeat(98),
        ", 1)".repeat(98)
    );
    // When they are evaluated (in a debug build, on a test thread's stack)
    // Then they give the expected values rather than overflowing the stack
    assert_eq!(one(&sum), "99");
    assert_eq!(one(&calls), "2011-08-30T17:10:00");
}

#[test]
fn a_concatenation_longer_than_one_mib_is_refused_naming_the_bound() {
    // Given a value of 512 KiB and one byte
    let context = MapContext::new().with("myHalf", Value::Str("x".repeat(512 * 1024 + 1)));
    // When it is added to itself
    let error = evaluate_str("#{myHalf + myHalf}", &context).unwrap_err();
    // Then the sum is refused at the operator, for the value bound
    assert_eq!(error.bound(), Some(Bound::ValueBytes));
    assert_eq!(error.offset, 9);
    assert!(error.message.contains("longer than 1 MiB (1048576 bytes)"), "{error}");
    // And once it fits, it is allowed
    let context = MapContext::new().with("myHalf", Value::Str("x".repeat(512 * 1024)));
    assert!(evaluate_str("#{myHalf + myHalf}", &context).is_ok());
}

#[test]
fn text_around_a_list_that_would_be_longer_than_one_mib_in_all_is_refused() {
    // Given a list of 2,000 elements and text of 1 KiB before each
    let list = Value::List((0..2_000).map(Value::Int).collect());
    let context = MapContext::new().with("myMany", list);
    let text = format!("{}#{{myMany}}", "y".repeat(1024));
    // When the value is evaluated: two thousand values of about 1 KiB
    let error = evaluate_str(&text, &context).unwrap_err();
    // Then the values together are refused
    assert_eq!(error.bound(), Some(Bound::ValueBytes));
}

#[test]
fn an_operator_over_a_long_list_stops_at_the_step_bound() {
    // Given a list of 150,000 one-letter strings: 300,000 bytes, within the value bound
    let list = Value::List((0..150_000).map(|_| Value::Str("a".into())).collect());
    let context = MapContext::new().with("myLong", list);
    // When an operator applies to each element
    let error = evaluate_str("#{myLong + 'b'}", &context).unwrap_err();
    // Then it stops once it has taken MAX_STEPS steps
    assert_eq!(error.bound(), Some(Bound::Steps));
    assert_eq!(
        error.message,
        format!(
            "evaluating it takes more than {MAX_STEPS} steps (field values that refer to each other many times); simplify the references"
        )
    );
}

#[test]
fn a_reference_to_a_value_longer_than_one_mib_is_refused() {
    let context = MapContext::new().with("myHuge", Value::Str("é".repeat(MAX_VALUE_BYTES / 2 + 1)));
    let error = evaluate_str("#{myHuge}", &context).unwrap_err();
    assert_eq!(error.bound(), Some(Bound::ValueBytes));
    assert_eq!(error.offset, 2);
}

/// Pieces of expressions, to build inputs that get past the first character.
fn token() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "#{",
        "}",
        "{",
        "#",
        "(",
        ")",
        ",",
        ".",
        "@",
        "*",
        "+",
        "-",
        "/",
        "^",
        " ",
        "'",
        "\"",
        "\\",
        "0",
        "1",
        "2.5",
        ".5",
        "1e3",
        "99999999999999999999",
        "'YYYY-MM-dd'",
        "'q'",
        "\"}\"",
        "myName",
        "myList",
        "myCount",
        "missing",
        "@scheduledStartTime",
        "*myRedshiftPassword",
        "input",
        "directoryPath",
        "format",
        "formatt",
        "plusDays",
        "minusMonths",
        "inTimeZone",
        "'America/Los_Angeles'",
        "makeDate",
        "makeDateTime",
        "sunday",
        "plusPeriod",
        "'1 day'",
        "'2011-05-24T17:10:00'",
        "é",
        "\u{1F600}",
        "0 / 0",
        "-9223372036854775807 - 2",
        "9223372036854775807 * 2",
        "2 ^ 9999",
    ])
}

proptest! {
    #[test]
    fn parsing_and_evaluating_any_text_never_panics(text in ".{0,80}") {
        if let Ok(template) = parse(&text) {
            let _ = template.evaluate(&MapContext::new());
            let _ = template.references();
        }
    }

    #[test]
    fn parsing_and_evaluating_expression_like_text_never_panics(tokens in prop::collection::vec(token(), 0..24)) {
        let text = tokens.concat();
        match parse(&text) {
            Ok(template) => {
                let _ = template.evaluate(&MapContext::new());
                for (_, offset) in template.references() {
                    prop_assert!(offset < text.chars().count());
                }
            }
            Err(error) => prop_assert!(error.offset <= text.chars().count(), "{error} in {text:?}"),
        }
    }

    #[test]
    fn well_formed_expressions_always_parse(tokens in prop::collection::vec(
        prop::sample::select(vec!["1", "2.5", "myCount", "(1 + 2)", "day(@scheduledStartTime)", "'a'"]), 1..6),
        ops in prop::collection::vec(prop::sample::select(vec![" + ", " - ", " * ", " / ", " ^ "]), 6)) {
        let mut text = String::from("x #{");
        for (index, operand) in tokens.iter().enumerate() {
            if index > 0 {
                text.push_str(ops.get(index).copied().unwrap_or(" + "));
            }
            text.push_str(operand);
        }
        text.push_str("} y");
        prop_assert!(parse(&text).is_ok(), "{text}");
    }

    #[test]
    fn literal_text_evaluates_to_itself(text in "[^#]{0,40}") {
        let template = parse(&text).unwrap();
        prop_assert!(template.is_literal());
        prop_assert_eq!(template.evaluate(&MapContext::new()).unwrap(), Evaluated::One(text));
    }
}
