//! AWS's public sample definitions (`../shared/samples/aws-data-pipeline-samples/`, read
//! at run time, never copied): every definition reads, converts to the API shape and back
//! unchanged, and validates, given values for its parameters, with no errors except the
//! ones AWS would also have raised, each named below with the reason.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use sluice::definition::{
    ApiDefinition, Definition, FieldValue, ParameterValue, ReadError,
    parameters::ValueSource,
    read_definition, read_values,
    schema::{self, SlotType},
    to_file_json,
    validate::validate,
};

/// Errors AWS would also have raised: (file, object, field, part of the message, why).
const EXPECTED_ERRORS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "kinesis/kinesis-to-s3.json",
        "DefaultSchedule",
        "period",
        "not a period",
        "\"15 Period\" names no unit; AWS refuses it the same way (the sample meant \"15 minutes\")",
    ),
    (
        "json-to-dynamodb/definition.json",
        "Default",
        "schedule",
        "\"DefaultSchedule\", which does not exist",
        "the sample refers to a Schedule it never defines; AWS validates every reference and refuses a missing one",
    ),
];

/// Files with raw control characters inside strings: (file, line, column).
const RAW_CONTROL_CHARACTERS: &[(&str, u32, u32)] = &[
    ("OnDemandWithLamdaFunctions/ondemand.json", 4, 82),
    ("ShellCommandWithFTP/pipeline.json", 18, 148),
];

fn samples() -> PathBuf {
    let path = std::env::var_os("SLUICE_SAMPLES").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/samples/aws-data-pipeline-samples"),
        PathBuf::from,
    );
    assert!(
        path.is_dir(),
        "the sample corpus is not at {} (it lives in ../shared/samples beside the repository; set SLUICE_SAMPLES to point elsewhere)",
        path.display()
    );
    path
}

fn json_files(root: &Path) -> Vec<(String, String)> {
    fn walk(directory: &Path, root: &Path, files: &mut Vec<(String, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(directory)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, root, files);
            } else if path.extension().is_some_and(|extension| extension == "json") {
                let name = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
                files.push((name, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let mut files = Vec::new();
    walk(root, root, &mut files);
    files
}

/// A definition file, as opposed to a values file, a parameters file or data.
fn is_definition(text: &str) -> bool {
    text.contains("\"objects\"") || text.contains("\"pipelineObjects\"")
}

#[test]
fn the_corpus_is_all_there() {
    let files = json_files(&samples());
    assert_eq!(files.len(), 44, "the sample corpus has 44 JSON files");
    assert_eq!(files.iter().filter(|(_, text)| is_definition(text)).count(), 40);
}

#[test]
fn raw_control_characters_are_located_exactly() {
    let root = samples();
    for (file, line, column) in RAW_CONTROL_CHARACTERS {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let Err(ReadError::Json(error)) = read_definition(&text) else {
            panic!("{file} should not read: it has a raw line feed inside a string");
        };
        assert_eq!(
            (error.position.line, error.position.column),
            (*line, *column),
            "{file}: {error}"
        );
        assert!(error.message.contains("U+000A (line feed)"), "{file}: {error}");
        assert!(error.message.contains("write \\n instead"), "{file}: {error}");
    }
}

#[test]
fn every_definition_converts_to_the_api_shape_and_back_unchanged() {
    let mut checked = 0;
    for (file, text) in json_files(&samples()) {
        if !is_definition(&text) || RAW_CONTROL_CHARACTERS.iter().any(|(raw, ..)| *raw == file) {
            continue;
        }
        // Given a sample definition
        let loaded = read_definition(&text).unwrap_or_else(|error| panic!("{file}: {error}"));
        let definition = loaded.definition;
        assert!(!definition.objects.is_empty(), "{file}");

        // When it goes to the API shape, through JSON, and back
        let api = serde_json::to_string(&ApiDefinition::from(&definition)).unwrap();
        let from_api: ApiDefinition = serde_json::from_str(&api).unwrap();
        let back = Definition::try_from(from_api).unwrap();
        // And when it is written in the file format and read again
        let file_text = serde_json::to_string_pretty(&to_file_json(&definition)).unwrap();
        let again = read_definition(&file_text).unwrap().definition;
        let api_read = read_definition(&api).unwrap().definition;

        // Then nothing is lost
        assert_eq!(back, definition, "{file}: through the API shape");
        assert_eq!(api_read, definition, "{file}: reading the API shape");
        assert_eq!(again, definition, "{file}: through the file format");
        checked += 1;
    }
    assert_eq!(checked, 38);
}

#[test]
fn every_definition_validates_as_aws_would() {
    let root = samples();
    let mut validated = 0;
    let mut unexpected = Vec::new();
    for (file, text) in json_files(&root) {
        if !is_definition(&text) || RAW_CONTROL_CHARACTERS.iter().any(|(raw, ..)| *raw == file) {
            continue;
        }
        // Given a sample and values for every parameter it declares
        let definition = read_definition(&text).unwrap().definition;
        let values = sample_values(&root, &file, &definition);

        // When it is validated
        let validation = validate(
            &definition,
            &[ValueSource {
                name: "test values",
                values: &values,
            }],
        );

        // Then the only errors are those AWS would also have raised
        let expected: Vec<_> = EXPECTED_ERRORS
            .iter()
            .filter(|(expected, ..)| *expected == file)
            .collect();
        for issue in &validation.report.errors {
            let known = expected.iter().any(|(_, id, field, message, _)| {
                issue.id.as_deref() == Some(*id)
                    && issue.field.as_deref() == Some(*field)
                    && issue.message.contains(message)
            });
            if !known {
                unexpected.push(format!("{file}: {issue}"));
            }
        }
        for (_, id, field, message, why) in expected {
            let found = validation.report.errors.iter().any(|issue| {
                issue.id.as_deref() == Some(*id)
                    && issue.field.as_deref() == Some(*field)
                    && issue.message.contains(message)
            });
            assert!(found, "{file}: expected the error on {id}.{field} ({why})");
        }
        validated += 1;
    }
    assert!(
        unexpected.is_empty(),
        "errors AWS would not have raised:\n{}",
        unexpected.join("\n")
    );
    assert_eq!(validated, 38);
}

/// Values for a sample's parameters: its own values and sibling values files, then the
/// parameter's default, then a value that suits where the parameter is used.
fn sample_values(root: &Path, file: &str, definition: &Definition) -> Vec<ParameterValue> {
    let mut given: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let directory = root.join(file).parent().unwrap().to_path_buf();
    for sibling in ["values.json", "example-parameters.json"] {
        if let Ok(text) = std::fs::read_to_string(directory.join(sibling)) {
            let (values, _) = read_values(&text).unwrap();
            for value in values.into_iter().filter(|value| !value.value.is_empty()) {
                given.entry(value.id).or_default().push(value.value);
            }
        }
    }
    for value in &definition.values {
        given.entry(value.id.clone()).or_default().push(value.value.clone());
    }
    let mut values = Vec::new();
    for parameter in &definition.parameters {
        if let Some(existing) = given.get(&parameter.id) {
            values.extend(existing.iter().map(|value| ParameterValue {
                id: parameter.id.clone(),
                value: value.clone(),
            }));
            continue;
        }
        if parameter.attribute("default").is_some() {
            continue;
        }
        let value = match parameter.attribute("allowedValues") {
            Some(allowed) => allowed.to_owned(),
            None => value_for_use(
                definition,
                &parameter.id,
                parameter.attribute("type").unwrap_or("String"),
            ),
        };
        values.push(ParameterValue {
            id: parameter.id.clone(),
            value,
        });
    }
    values
}

/// A value that fits the slot where `#{id}` is used on its own, or one that fits the
/// parameter's declared type.
fn value_for_use(definition: &Definition, id: &str, declared: &str) -> String {
    let whole = format!("#{{{id}}}");
    for object in &definition.objects {
        let Some(spec) = object.type_name().and_then(schema::type_spec) else {
            continue;
        };
        for field in &object.fields {
            if field.value != FieldValue::String(whole.clone()) {
                continue;
            }
            match spec.field(&field.key).map(|field| field.slot) {
                Some(SlotType::Period) => return "1 hour".into(),
                Some(SlotType::Integer) => return "1".into(),
                Some(SlotType::Double) => return "0.5".into(),
                Some(SlotType::Boolean) => return "true".into(),
                Some(SlotType::DateTime) => return "2026-01-01T00:00:00".into(),
                Some(SlotType::Enumeration(allowed)) => return allowed[0].into(),
                _ => {}
            }
            if field.key == "period" {
                return "1 day".into();
            }
        }
    }
    match declared {
        "Integer" => "1".into(),
        "Double" => "0.5".into(),
        "AWS::S3::ObjectKey" => format!("s3://sluice-samples/{id}"),
        _ => format!("sample-{id}"),
    }
}
