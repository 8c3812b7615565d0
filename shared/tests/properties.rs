//! Properties of reading, writing, validating, planning and evaluating definitions, over
//! random input: definitions survive every conversion between the model, the API shape and
//! the file format unchanged, and nothing in the engine panics on any input, however
//! malformed.
//!
//! Case counts are kept moderate (256 at most) so the file runs in a few seconds in a debug
//! build.

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use proptest::{prelude::*, test_runner::TestCaseError};
use serde_json::{Map, Value as Json, json};
use sluice::{
    definition::{
        ApiDefinition, Definition, Field, FieldValue, Loaded, ParameterAttribute, ParameterObject, ParameterValue,
        PipelineObject,
        context::{ObjectContext, Runtime, Scope},
        inherit::Inheritance,
        parameters::ValueSource,
        read_definition, read_values,
        schema::{self, type_names},
        to_api_json, to_file_json,
        validate::validate,
    },
    expr::{self, function_names},
    plan::plan_definition,
    schedule::Activation,
};

/// At most this many instances are read from any plan, so that a one-minute schedule over
/// centuries stays small.
const MAX_INSTANCES: usize = 1000;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Shrinking a failure of a composite strategy can take long; a failure still prints
        // the case that failed first.
        max_shrink_iters: 2048,
        // Integration tests have no lib.rs beside them to persist failures next to.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn at(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S").unwrap()
}

// ---------------------------------------------------------------------------------------
// Random definitions for the round trips.

fn object_id() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[A-Z][A-Za-z0-9_]{0,7}",
        1 => Just("Default".to_owned()),
        1 => "[a-z][a-z0-9 .:-]{0,10}",
    ]
}

/// A field key: never `id` or `name`, which the file format holds as the object's own.
/// A small pool makes repeated keys likely.
fn field_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["step", "input", "type", "schedule", "myList", "*password", "@status"])
            .prop_map(str::to_owned),
        2 => "[a-z@*][A-Za-z0-9_]{0,7}",
    ]
    .prop_filter("the file format keeps id and name apart", |key| {
        key != "id" && key != "name"
    })
}

/// Any text, including quotes, backslashes, control characters and `#{...}`.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<String>(),
        1 => "[ -~]{0,20}",
        1 => Just("#{format(@scheduledStartTime, 'YYYY-MM-dd')}".to_owned()),
        1 => Just("line\nbreak \"quoted\" \\ back\u{7}\u{0}".to_owned()),
    ]
}

fn field_value() -> impl Strategy<Value = FieldValue> {
    prop_oneof![
        3 => text().prop_map(FieldValue::String),
        // A reference names a non-empty id: `{"ref": ""}` refers to nothing and is refused.
        1 => object_id().prop_map(FieldValue::Ref),
    ]
}

fn pipeline_object() -> impl Strategy<Value = PipelineObject> {
    (
        object_id(),
        prop_oneof![Just(None), text().prop_map(Some)],
        prop::collection::vec((field_key(), field_value()), 0..8),
    )
        .prop_map(|(id, name, fields)| PipelineObject {
            name: name.unwrap_or_else(|| id.clone()),
            id,
            fields: fields.into_iter().map(|(key, value)| Field { key, value }).collect(),
        })
}

fn parameter_id() -> impl Strategy<Value = String> {
    "\\*?my[A-Z_][A-Za-z0-9]{0,6}"
}

/// A parameter attribute key: never `id`, and never `attributes`, which marks the API shape
/// of a parameter in a definition file.
fn attribute_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["type", "default", "allowedValues", "description", "isArray", "optional"])
            .prop_map(str::to_owned),
        1 => "[a-z][A-Za-z]{0,7}",
    ]
    .prop_filter("id and attributes are not attributes", |key| {
        key != "id" && key != "attributes"
    })
}

fn parameter_object() -> impl Strategy<Value = ParameterObject> {
    (parameter_id(), prop::collection::vec((attribute_key(), text()), 0..6)).prop_map(|(id, attributes)| {
        ParameterObject {
            id,
            attributes: attributes
                .into_iter()
                .map(|(key, value)| ParameterAttribute { key, value })
                .collect(),
        }
    })
}

fn parameter_value() -> impl Strategy<Value = ParameterValue> {
    (prop_oneof![parameter_id(), Just("myList".to_owned())], text())
        .prop_map(|(id, value)| ParameterValue { id, value })
}

fn definition() -> impl Strategy<Value = Definition> {
    (
        prop::collection::vec(pipeline_object(), 1..6),
        prop::collection::vec(parameter_object(), 0..4),
        prop::collection::vec(parameter_value(), 0..6),
    )
        .prop_map(|(objects, parameters, values)| Definition {
            objects,
            parameters,
            values,
        })
}

/// The definition with every list of fields, attributes and values stably sorted by key.
///
/// The file format writes a repeated key once, with a list of its values at the first
/// key's place (`"step": ["a", "b"]`), so a key repeated non-adjacently (`step, input,
/// step`) comes back grouped (`step, step, input`). The values of one key keep their order,
/// which is all the format can express, so comparing after a stable sort by key is exact
/// about everything the file format preserves.
fn grouped(definition: &Definition) -> Definition {
    let mut definition = definition.clone();
    for object in &mut definition.objects {
        object.fields.sort_by(|a, b| a.key.cmp(&b.key));
    }
    for parameter in &mut definition.parameters {
        parameter.attributes.sort_by(|a, b| a.key.cmp(&b.key));
    }
    definition.values.sort_by(|a, b| a.id.cmp(&b.id));
    definition
}

fn read_back(text: &str) -> Result<Definition, TestCaseError> {
    read_definition(text)
        .map(|loaded| loaded.definition)
        .map_err(|error| TestCaseError::fail(format!("{error}\nin {text}")))
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn a_definition_converts_to_the_api_shape_and_back_unchanged(definition in definition()) {
        // Given a random definition
        // When it becomes the API shape's types and comes back
        let api = ApiDefinition::from(&definition);
        let back = Definition::try_from(api.clone());
        // Then nothing changed, not even the order of repeated keys
        prop_assert_eq!(back.as_ref(), Ok(&definition));
        // And the same holds through serde, as PutPipelineDefinition's JSON body
        let json = serde_json::to_string(&api).unwrap();
        let parsed: ApiDefinition = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(Definition::try_from(parsed), Ok(definition));
    }

    #[test]
    fn a_definition_written_in_the_file_format_reads_back_unchanged_up_to_key_order(definition in definition()) {
        // Given a random definition written as a definition file
        let text = serde_json::to_string_pretty(&to_file_json(&definition)).unwrap();
        // When it is read back
        let back = read_back(&text)?;
        // Then it is the same definition, repeated keys grouped (see `grouped`)
        prop_assert_eq!(grouped(&back), grouped(&definition));
    }

    #[test]
    fn a_definition_written_in_the_api_shape_reads_back_exactly(definition in definition()) {
        // Given a random definition written as API JSON text
        let text = serde_json::to_string(&to_api_json(&definition)).unwrap();
        // When it is read back as a definition
        let back = read_back(&text)?;
        // Then it is exactly the same, field order included
        prop_assert_eq!(back, definition);
    }

    #[test]
    fn a_file_format_definition_reads_back_into_the_same_file_json(definition in definition()) {
        // Given the file JSON of a random definition
        let json = to_file_json(&definition);
        // When it is read and written again
        let back = read_back(&json.to_string())?;
        // Then the JSON is the same: writing the file format is stable
        prop_assert_eq!(to_file_json(&back), json);
    }
}

// ---------------------------------------------------------------------------------------
// Random JSON and bytes: reading and validating never panic.

fn json_value() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::from),
        any::<f64>().prop_map(Json::from),
        text().prop_map(Json::String),
        prop::sample::select(vec!["objects", "id", "ref", "Default", "#{", "pipelineObjects"])
            .prop_map(|text| Json::String(text.to_owned())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
            prop::collection::vec((json_key(), inner), 0..6).prop_map(|members| Json::Object(Map::from_iter(members))),
        ]
    })
}

fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::sample::select(vec![
            "objects", "parameters", "values", "pipelineObjects", "parameterObjects", "parameterValues", "id",
            "name", "type", "ref", "fields", "key", "stringValue", "refValue", "attributes", "parent", "schedule",
        ])
        .prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

/// JSON-ish text: tokens of JSON (and near-JSON) in random order, so the reader meets
/// every kind of mistake in every place.
fn json_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            "{",
            "}",
            "[",
            "]",
            ":",
            ",",
            " ",
            "\n",
            "\t",
            "\"",
            "\"objects\"",
            "\"id\"",
            "\"ref\"",
            "\"values\"",
            "\"a\"",
            "\"\\u00e9\"",
            "\"\\ud83d\\ude00\"",
            "\"\\ud83d\"",
            "\"\\x\"",
            "\\",
            "0",
            "-1",
            "1e999",
            "1.5",
            "-",
            "true",
            "false",
            "null",
            "nul",
            "'",
            "\u{feff}",
            "é",
            "\u{1}",
            "/*",
            "\"pipelineObjects\"",
            "\"fields\"",
            "\"key\"",
            "\"stringValue\"",
        ]),
        0..60,
    )
    .prop_map(|tokens| tokens.concat())
}

/// The definition's own values, the only source when nothing else gives any.
fn own_values(definition: &Definition) -> [ValueSource<'_>; 1] {
    [ValueSource {
        name: "the definition's values",
        values: &definition.values,
    }]
}

/// Reads `text` as a definition and as a values file, and validates whatever reads.
/// Returns an error if the locations read are not parallel to the definition's lists.
fn read_and_validate(text: &str) -> Result<(), TestCaseError> {
    if let Ok(loaded) = read_definition(text) {
        let _ = validate(&loaded.definition, &own_values(&loaded.definition));
        check_locations(&loaded)?;
    }
    let _ = read_values(text);
    Ok(())
}

/// Every object, field and parameter read has a place in the text.
fn check_locations(loaded: &Loaded) -> Result<(), TestCaseError> {
    let (definition, locations) = (&loaded.definition, &loaded.locations);
    prop_assert_eq!(locations.objects.len(), definition.objects.len());
    for (object, location) in definition.objects.iter().zip(&locations.objects) {
        prop_assert_eq!(location.fields.len(), object.fields.len(), "object {}", object.id);
    }
    prop_assert_eq!(locations.parameters.len(), definition.parameters.len());
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn random_bytes_never_make_reading_or_validating_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        read_and_validate(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn random_json_never_makes_reading_or_validating_panic(value in json_value()) {
        read_and_validate(&value.to_string())?;
        read_and_validate(&json!({ "objects": [value.clone()] }).to_string())?;
        read_and_validate(&json!({ "values": value }).to_string())?;
    }

    #[test]
    fn json_soup_never_makes_reading_panic(text in json_soup()) {
        read_and_validate(&text)?;
        read_and_validate(&format!("{{\"objects\": [{text}]}}"))?;
    }
}

// ---------------------------------------------------------------------------------------
// Random definition-shaped JSON: validation and planning never panic.

fn field_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = schema::TYPES
        .iter()
        .flat_map(|spec| spec.fields().map(|field| field.name))
        .collect();
    names.extend([
        "type",
        "parent",
        "schedule",
        "scheduleType",
        "period",
        "startDateTime",
        "startAt",
        "endDateTime",
        "occurrences",
        "dependsOn",
        "input",
        "output",
        "runsOn",
        "workerGroup",
        "precondition",
        "onFail",
        "myField",
        "*password",
        "@status",
    ]);
    names.sort_unstable();
    names.dedup();
    names
}

/// Ids objects take and refer to; `Missing` is never given to a Schedule, and an object
/// that takes a Schedule's id comes after it, so the Schedule is the one references find.
const IDS: [&str; 9] = ["Default", "Daily", "Hourly", "A", "B", "C", "D", "Node", "Missing"];

/// Values that mean something to some field: periods, date-times, schedule types, numbers,
/// booleans, and `#{...}` fragments good and bad.
fn interesting_string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "1 day",
            "1 hour",
            "15 minutes",
            "1 minute",
            "30 seconds",
            "0 days",
            "-1 days",
            "1 month",
            "1 year",
            "2 weeks",
            "9999999999 years",
            "1 day 1 hour",
            "",
            "2026-01-01T00:00:00",
            "1970-01-01T00:00:00",
            "9999-12-31T23:59:59",
            "2026-02-30T00:00:00",
            "FIRST_ACTIVATION_DATE_TIME",
            "cron",
            "timeseries",
            "ondemand",
            "CRON",
            "3",
            "-1",
            "0",
            "99999999999999999999",
            "1.5",
            "NaN",
            "true",
            "false",
            "cascade",
            "#{myCount}",
            "#{myPeriod}",
            "#{*myPassword}",
            "#{@scheduledStartTime}",
            "#{node.@scheduledStartTime}",
            "#{format(@scheduledStartTime, 'YYYY-MM-dd')}",
            "#{plusDays(@scheduledStartTime, 99999999)}",
            "#{input.directoryPath}",
            "#{schedule.period}",
            "#{parent.id}",
            "#{",
            "#{}",
            "#{1/0}",
            "#{'a' + 1}",
            "#{myList}",
            "#{step}",
            "#{period}",
            "#{id}",
            "#{name}",
            "#{2^62 * 2^62}",
        ])
        .prop_map(str::to_owned),
        "[ -~]{0,12}",
    ]
}

fn shaped_value() -> impl Strategy<Value = Json> {
    let single = prop_oneof![
        3 => interesting_string().prop_map(Json::String),
        2 => prop::sample::select(IDS.to_vec()).prop_map(|id| json!({ "ref": id })),
        1 => any::<i32>().prop_map(Json::from),
    ];
    prop_oneof![
        4 => single.clone(),
        1 => prop::collection::vec(single, 0..4).prop_map(Json::Array),
    ]
}

fn shaped_object() -> impl Strategy<Value = Json> {
    let all: Vec<&'static str> = type_names().collect();
    let runnable: Vec<&'static str> = all
        .iter()
        .copied()
        .filter(|name| schema::type_spec(name).is_some_and(|spec| spec.category.is_runnable()))
        .collect();
    (
        prop::sample::select(IDS.to_vec()),
        prop_oneof![
            3 => prop::sample::select(runnable).prop_map(Some),
            3 => prop::sample::select(all).prop_map(Some),
            1 => Just(Some("Unknown")),
            1 => Just(None),
        ],
        prop_oneof![3 => Just(None), 1 => prop::sample::select(IDS.to_vec()).prop_map(Some)],
        prop_oneof![
            4 => Just(None),
            1 => prop::sample::select(vec!["Daily", "Hourly", "Missing", "A"]).prop_map(Some),
        ],
        prop_oneof![
            4 => Just(None),
            1 => prop::sample::select(vec!["cron", "timeseries", "ondemand", "Cron", "weekly"]).prop_map(Some),
        ],
        prop::collection::vec((prop::sample::select(field_names()), shaped_value()), 0..10),
    )
        .prop_map(|(id, type_name, parent, schedule, schedule_type, fields)| {
            let mut object = Map::new();
            object.insert("id".into(), json!(id));
            if let Some(type_name) = type_name {
                object.insert("type".into(), json!(type_name));
            }
            if let Some(parent) = parent {
                object.insert("parent".into(), json!({ "ref": parent }));
            }
            if let Some(schedule) = schedule {
                object.insert("schedule".into(), json!({ "ref": schedule }));
            }
            if let Some(schedule_type) = schedule_type {
                object.insert("scheduleType".into(), json!(schedule_type));
            }
            for (key, value) in fields {
                object.insert(key.to_owned(), value);
            }
            Json::Object(object)
        })
}

fn schedule_object() -> impl Strategy<Value = Json> {
    (
        prop::sample::select(vec!["Daily", "Hourly"]),
        prop::sample::select(vec![
            "1 day",
            "1 hour",
            "1 minute",
            "15 minutes",
            "1 month",
            "#{myPeriod}",
            "0 hours",
        ]),
        prop::sample::select(vec![
            "2026-01-01T00:00:00",
            "2025-12-31T12:00:00",
            "1970-01-01T00:00:00",
            "#{myStart}",
            "2026-13-01T00:00:00",
        ]),
        prop::option::of(prop::sample::select(vec!["2026-01-02T00:00:00", "2025-01-01T00:00:00"])),
        prop::option::of(prop::sample::select(vec!["1", "3", "0", "-2", "#{myCount}"])),
        any::<bool>(),
    )
        .prop_map(|(id, period, start, end, occurrences, first_activation)| {
            let mut object = json!({ "id": id, "type": "Schedule", "period": period });
            if first_activation {
                object["startAt"] = json!("FIRST_ACTIVATION_DATE_TIME");
            } else {
                object["startDateTime"] = json!(start);
            }
            if let Some(end) = end {
                object["endDateTime"] = json!(end);
            }
            if let Some(occurrences) = occurrences {
                object["occurrences"] = json!(occurrences);
            }
            object
        })
}

fn shaped_definition() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(shaped_object(), 0..8),
        prop::collection::vec(schedule_object(), 1..3),
        prop::sample::select(vec![None, None, Some("cron"), Some("timeseries"), Some("ondemand")]),
        prop::sample::select(vec!["Daily", "Daily", "Daily", "Hourly", "Hourly", "Missing"]),
        prop::collection::vec(
            (
                prop::sample::select(vec!["myCount", "myPeriod", "myStart", "*myPassword", "myList"]),
                prop::sample::select(vec!["String", "Integer", "Double", "AWS::S3::ObjectKey", "Nope"]),
                prop::option::of(interesting_string()),
                any::<bool>(),
            ),
            0..4,
        ),
        prop::collection::vec(
            (
                prop::sample::select(vec![
                    "myCount",
                    "myPeriod",
                    "myStart",
                    "*myPassword",
                    "myList",
                    "myOther",
                ]),
                interesting_string(),
            ),
            0..5,
        ),
    )
        .prop_map(
            |(objects, schedules, schedule_type, default_schedule, parameters, values)| {
                let mut default = json!({ "id": "Default", "schedule": { "ref": default_schedule } });
                if let Some(schedule_type) = schedule_type {
                    default["scheduleType"] = json!(schedule_type);
                }
                let mut all = vec![default];
                all.extend(schedules);
                all.extend(objects);
                let parameters: Vec<Json> = parameters
                    .into_iter()
                    .map(|(id, kind, default, is_array)| {
                        let mut parameter = json!({ "id": id, "type": kind, "isArray": is_array.to_string() });
                        if let Some(default) = default {
                            parameter["default"] = json!(default);
                        }
                        parameter
                    })
                    .collect();
                let values: Map<String, Json> = values
                    .into_iter()
                    .map(|(id, value)| (id.to_owned(), json!(value)))
                    .collect();
                json!({ "objects": all, "parameters": parameters, "values": values }).to_string()
            },
        )
}

fn activation() -> impl Strategy<Value = (Activation, NaiveDateTime)> {
    (
        0i64..(3 * 24 * 60),
        prop::option::of(-(3 * 24 * 60i64)..(3 * 24 * 60)),
        any::<bool>(),
        0i64..(4 * 24 * 60),
    )
        .prop_map(|(at, from, allow_backfill, until)| {
            let origin = NaiveDate::from_ymd_opt(2025, 12, 31)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap();
            let at = origin + TimeDelta::minutes(at);
            let activation = Activation {
                at,
                start_timestamp: from.map(|minutes| at + TimeDelta::minutes(minutes)),
                allow_backfill,
            };
            (activation, at + TimeDelta::minutes(until))
        })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn validating_and_planning_definition_shaped_json_never_panics(
        text in shaped_definition(),
        (activation, until) in activation(),
    ) {
        // Given a random definition made of real type and field names
        let Ok(loaded) = read_definition(&text) else {
            return Err(TestCaseError::fail(format!("the generator wrote an unreadable definition: {text}")));
        };
        check_locations(&loaded)?;
        let definition = &loaded.definition;
        // When it is validated
        let validation = validate(definition, &own_values(definition));
        // And planned, whether or not it validated (planning must cope with anything)
        let (inheritance, _) = Inheritance::new(definition);
        for mask_secrets in [true, false] {
            let scope = Scope { inheritance: &inheritance, parameters: &validation.parameters, mask_secrets };
            if let Ok(plan) = plan_definition(scope, &activation, until) {
                // Then every instance read is in order and within the plan's bounds
                let instances: Vec<_> = plan.instances.take(MAX_INSTANCES).collect();
                for pair in instances.windows(2) {
                    prop_assert!(
                        (pair[0].scheduled_start, pair[0].component) <= (pair[1].scheduled_start, pair[1].component),
                        "out of order: {:?}", pair
                    );
                }
                let mut seen = std::collections::HashSet::new();
                for instance in &instances {
                    prop_assert!(instance.scheduled_start < until || instance.scheduled_start == activation.at);
                    prop_assert!(plan.objects.get(instance.component).is_some());
                    prop_assert!(instance.scheduled_start <= instance.scheduled_end, "{:?}", instance);
                    prop_assert!(
                        instance.runs_at == instance.scheduled_start || instance.runs_at == instance.scheduled_end,
                        "{:?}", instance
                    );
                    // One instance per component and interval: their ids are unique
                    prop_assert!(seen.insert((instance.component, instance.scheduled_start)), "twice: {:?}", instance);
                }
            }
            // And every object can evaluate its fields' expressions in the first instance's context
            for index in 0..definition.objects.len() {
                let runtime = Runtime::scheduled(activation.at, Some(until));
                let context = ObjectContext::new(scope, Some(index), &runtime);
                for field in &definition.objects[index].fields {
                    if let FieldValue::String(value) = &field.value {
                        let _ = context.evaluate(value);
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Random expressions: parsing and evaluating never panic.

fn expression_token() -> impl Strategy<Value = String> {
    let fixed: Vec<String> = [
        "#{",
        "}",
        "(",
        ")",
        "'",
        "\"",
        "+",
        "-",
        "*",
        "/",
        "^",
        ",",
        ".",
        " ",
        "@scheduledStartTime",
        "@scheduledEndTime",
        "@actualStartTime",
        "@id",
        "node",
        "node.",
        "*myPassword",
        "*password",
        "myCount",
        "myList",
        "myText",
        "input",
        "input.",
        "directoryPath",
        "step",
        "id",
        "name",
        "0",
        "1",
        "-1",
        "1.5",
        "1e3",
        "2147483648",
        "9223372036854775807",
        "99999999999999999999",
        "'YYYY-MM-dd HH:mm:ss'",
        "'1 day'",
        "'x'",
        "''",
        "[",
        "]",
        "\\",
        "#",
        "{",
        "é",
        "\u{0}",
        "2026-01-01T00:00:00",
        "'2026-01-01T00:00:00'",
        "'America/New_York'",
        "'Nowhere/Zone'",
    ]
    .iter()
    .map(|token| (*token).to_owned())
    .collect();
    let functions: Vec<String> = function_names().iter().map(|name| (*name).to_owned()).collect();
    prop_oneof![
        4 => prop::sample::select(fixed),
        2 => prop::sample::select(functions.clone()).prop_map(|name| format!("{name}(")),
        1 => prop::sample::select(functions),
        1 => "[a-zA-Z0-9 ]{1,4}",
    ]
}

/// Every library function with the number of arguments it takes.
fn functions_with_arity() -> Vec<(&'static str, usize)> {
    function_signatures()
        .into_iter()
        .map(|(name, kinds)| (name, kinds.len()))
        .collect()
}

/// A well-formed expression (inside `#{...}`): literals, references, operators, parentheses
/// and calls with the right number of arguments of any type.
fn expression_tree() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(vec![
        "@scheduledStartTime",
        "@scheduledEndTime",
        "@scheduledStartTime",
        "@id",
        "@status",
        "1",
        "-1",
        "0",
        "7",
        "2147483647",
        "-2147483648",
        "9223372036854775807",
        "99999999999999999999",
        "1.5",
        "0.0",
        "1e308",
        "'YYYY-MM-dd'",
        "'YYYY-MM-dd HH:mm:ss.SSS'",
        "'hh:mm a Z ZZ ZZZ z zzzz G C Y x w e E EEEE MMMM'",
        "'1 day'",
        "'2 months'",
        "'-3 hours'",
        "'Europe/Paris'",
        "'Nowhere/Zone'",
        "'x'",
        "''",
        "myCount",
        "myList",
        "myText",
        "*myPassword",
        "*password",
        "step",
        "id",
        "name",
        "input",
        "input.directoryPath",
        "input.id",
        "node",
        "node.@scheduledStartTime",
        "myLoop",
        "missing",
        "'2026-01-01T00:00:00'",
        "'2026-02-29T00:00:00'",
    ])
    .prop_map(str::to_owned);
    let functions = functions_with_arity();
    leaf.prop_recursive(4, 24, 4, move |inner| {
        let call = prop::sample::select(functions.clone()).prop_flat_map({
            let inner = inner.clone();
            move |(name, arity)| {
                prop::collection::vec(inner.clone(), arity).prop_map(move |args| format!("{name}({})", args.join(", ")))
            }
        });
        prop_oneof![
            3 => call,
            2 => (inner.clone(), prop::sample::select(vec!["+", "-", "*", "/", "^"]), inner.clone())
                .prop_map(|(left, op, right)| format!("{left} {op} {right}")),
            1 => inner.clone().prop_map(|inner| format!("({inner})")),
            1 => inner.prop_map(|inner| format!("-{inner}")),
        ]
    })
}

/// What a library function's parameter takes, read from its signature.
#[derive(Debug, Clone, Copy)]
enum ArgumentKind {
    DateTime,
    Int,
    Text,
    Period,
}

/// Every library function with the kinds of its parameters, read from its published
/// signature (`plusDays(DateTime, int days)`).
fn function_signatures() -> Vec<(&'static str, Vec<ArgumentKind>)> {
    function_names()
        .iter()
        .map(|name| {
            let signature = expr::function_signature(name).unwrap_or_else(|| panic!("{name} has no signature"));
            let parameters = signature
                .strip_prefix(&format!("{name}("))
                .and_then(|rest| rest.strip_suffix(')'))
                .unwrap_or_else(|| panic!("{name}: unexpected signature {signature:?}"));
            let kinds = parameters
                .split(", ")
                .filter(|parameter| !parameter.is_empty())
                .map(|parameter| match parameter.split(' ').next() {
                    Some("DateTime") => ArgumentKind::DateTime,
                    Some("int") => ArgumentKind::Int,
                    Some("Period") => ArgumentKind::Period,
                    _ => ArgumentKind::Text,
                })
                .collect();
            (*name, kinds)
        })
        .collect()
}

fn typed_argument(kind: ArgumentKind, date_times: BoxedStrategy<String>) -> BoxedStrategy<String> {
    let pick = |values: &[&'static str]| prop::sample::select(values.to_vec()).prop_map(str::to_owned).boxed();
    match kind {
        ArgumentKind::DateTime => date_times,
        ArgumentKind::Int => prop_oneof![
            3 => pick(&["0", "1", "-1", "12", "31", "60", "366", "2147483647", "-2147483648", "260000", "-264000"]),
            1 => any::<i64>().prop_map(|number| number.to_string()),
            1 => pick(&["myCount", "1.5", "'3'"]),
        ]
        .boxed(),
        ArgumentKind::Text => pick(&[
            "'YYYY-MM-dd'",
            "'yyyy YYYY yy xx x ww w e E EEEE MMM MMMM dd D DDD HH hh kk KK mm ss SSS a G C Z ZZ ZZZ z zzzz'",
            "'Europe/Paris'",
            "'America/New_York'",
            "'Pacific/Kiritimati'",
            "'UTC'",
            "'Nowhere/Zone'",
            "''",
            "'''quoted'''",
            "myText",
        ]),
        ArgumentKind::Period => pick(&[
            "'1 day'",
            "'2 months'",
            "'1 year'",
            "'15 minutes'",
            "'0 days'",
            "'2147483647 months'",
            "'-1 days'",
            "'1 fortnight'",
        ]),
    }
}

/// A call with arguments of the kinds its signature names, date-times possibly the result
/// of another such call: this reaches the date arithmetic and the Joda formatting, near
/// the ends of the supported range too.
fn typed_call() -> impl Strategy<Value = String> {
    let base = prop::sample::select(vec![
        "@scheduledStartTime",
        "@scheduledEndTime",
        "'2026-01-01T00:00:00'",
        "makeDate(1, 1, 1)",
        "makeDateTime(2024, 2, 29, 23, 59)",
        "inTimeZone(@scheduledStartTime, 'Pacific/Kiritimati')",
        "inTimeZone(@scheduledStartTime, 'America/New_York')",
        "minusYears(@scheduledStartTime, 264000)",
        "plusYears(@scheduledStartTime, 260000)",
    ])
    .prop_map(str::to_owned)
    .boxed();
    let signatures = function_signatures();
    let call = move |date_times: BoxedStrategy<String>| {
        prop::sample::select(signatures.clone())
            .prop_flat_map(move |(name, kinds)| {
                let arguments: Vec<BoxedStrategy<String>> = kinds
                    .iter()
                    .map(|kind| typed_argument(*kind, date_times.clone()))
                    .collect();
                arguments.prop_map(move |arguments| format!("{name}({})", arguments.join(", ")))
            })
            .boxed()
    };
    let inner = call.clone()(base.clone());
    call(prop_oneof![base, inner].boxed())
}

/// A field value: text around one or more well-formed expressions.
fn template() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            1 => "[ -~&&[^#]]{0,6}",
            2 => expression_tree().prop_map(|tree| format!("#{{{tree}}}")),
            2 => typed_call().prop_map(|call| format!("#{{{call}}}")),
        ],
        1..4,
    )
    .prop_map(|parts| parts.concat())
}

/// Token soup, a well-formed template, or a template with one token inserted somewhere.
fn expression() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::collection::vec(expression_token(), 0..24).prop_map(|tokens| tokens.concat()),
        3 => template(),
        2 => (template(), any::<prop::sample::Index>(), expression_token()).prop_map(|(text, index, token)| {
            let characters: Vec<char> = text.chars().collect();
            let at = index.index(characters.len() + 1);
            let mut mutated: String = characters[..at].iter().collect();
            mutated.push_str(&token);
            mutated.extend(&characters[at..]);
            mutated
        }),
    ]
}

fn context_definition() -> Definition {
    Definition {
        objects: vec![
            PipelineObject::new(
                "Default",
                vec![
                    Field::string("scheduleType", "cron"),
                    Field::reference("schedule", "Daily"),
                ],
            ),
            PipelineObject::new(
                "Daily",
                vec![
                    Field::string("type", "Schedule"),
                    Field::string("period", "1 day"),
                    Field::string("startDateTime", "2026-01-01T00:00:00"),
                ],
            ),
            PipelineObject::new(
                "In",
                vec![
                    Field::string("type", "S3DataNode"),
                    Field::string("directoryPath", "s3://b/#{format(@scheduledStartTime, 'YYYY')}"),
                ],
            ),
            PipelineObject::new(
                "Copy",
                vec![
                    Field::string("type", "CopyActivity"),
                    Field::reference("input", "In"),
                    Field::string("step", "a"),
                    Field::string("step", "b"),
                    Field::string("*password", "hunter2"),
                    Field::string("myLoop", "#{myLoop}"),
                ],
            ),
        ],
        parameters: vec![
            ParameterObject {
                id: "myCount".into(),
                attributes: vec![ParameterAttribute {
                    key: "type".into(),
                    value: "Integer".into(),
                }],
            },
            ParameterObject {
                id: "myList".into(),
                attributes: vec![ParameterAttribute {
                    key: "isArray".into(),
                    value: "true".into(),
                }],
            },
        ],
        values: vec![
            ParameterValue {
                id: "myCount".into(),
                value: "3".into(),
            },
            ParameterValue {
                id: "myList".into(),
                value: "x".into(),
            },
            ParameterValue {
                id: "myList".into(),
                value: "y".into(),
            },
            ParameterValue {
                id: "*myPassword".into(),
                value: "s3cr3t-value".into(),
            },
            ParameterValue {
                id: "myText".into(),
                value: "text".into(),
            },
        ],
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn parsing_and_evaluating_random_expressions_never_panics(
        text in expression(),
        start in prop::sample::select(vec![
            "2026-01-01T00:00:00", "2026-03-08T02:30:00", "0001-01-01T00:00:00", "9999-12-31T23:59:59",
            "1970-01-01T00:00:00",
        ]),
        object in prop::sample::select(vec![None, Some("Copy"), Some("In"), Some("Default")]),
    ) {
        // Given a random expression, parsed on its own
        let parsed = expr::parse(&text);
        if let Err(error) = &parsed {
            // Then a parse error points inside the text (or just after it)
            prop_assert!(error.offset <= text.chars().count(), "offset {} beyond {text:?}", error.offset);
        }
        // When it is evaluated in an object's context, secrets masked or not
        let definition = context_definition();
        let validation = validate(&definition, &own_values(&definition));
        let (inheritance, _) = Inheritance::new(&definition);
        let runtime = Runtime::scheduled(at(start), None);
        for mask_secrets in [true, false] {
            let scope = Scope { inheritance: &inheritance, parameters: &validation.parameters, mask_secrets };
            let index = object.and_then(|id| inheritance.index(id));
            let result = ObjectContext::new(scope, index, &runtime).evaluate(&text);
            // Then it either fails where parsing failed, or at a place inside the text
            match (&parsed, &result) {
                (Err(parse_error), Err(error)) => prop_assert_eq!(parse_error, error),
                (Err(parse_error), Ok(value)) => {
                    let message = format!("{text:?} failed to parse ({parse_error}) but evaluated to {value:?}");
                    return Err(TestCaseError::fail(message));
                }
                (Ok(_), Err(error)) => prop_assert!(error.offset <= text.chars().count()),
                (Ok(_), Ok(_)) => {}
            }
            // And a masked evaluation never shows a secret
            if mask_secrets && let Ok(value) = &result {
                let shown = format!("{value:?}");
                prop_assert!(!shown.contains("s3cr3t-value") && !shown.contains("hunter2"), "{text:?} showed {shown}");
            }
        }
    }
}
