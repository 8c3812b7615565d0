//! Bounded work (issue 17): definitions whose expressions or references would take time or
//! memory far beyond their size are refused with an error that names the bound, and
//! validation stays near-linear in the definition's size.

#[path = "bounded_work/definitions.rs"]
mod definitions;

use definitions::{AMPLIFIED_FIELDS, amplifying, dangling, mistyped_id, task_id};
use sluice::{
    cloud::probe::FakeProbe,
    definition::{Definition, Field, Report, context::Runtime, validate::validate},
    engine::{
        Engine, EngineError,
        clock::{ManualClock, SeededRandom},
        compiled::CompiledPipeline,
        pipelines::ActivateOptions,
    },
    store::memory::MemoryStore,
    time::parse_datetime,
};

const CROSSED_IN_MY_G: &str = "evaluating it builds a value longer than 1 MiB (1048576 bytes), in field \"myG\" of object \"A\": field values that repeat references to each other multiply in length; simplify the references";

fn report(definition: &Definition) -> Report {
    validate(definition, &[]).report
}

fn errors_on<'r>(report: &'r Report, id: &str, field: &str) -> Vec<&'r str> {
    report
        .errors
        .iter()
        .filter(|issue| issue.id.as_deref() == Some(id) && issue.field.as_deref() == Some(field))
        .map(|issue| issue.message.as_str())
        .collect()
}

#[test]
fn fields_that_refer_to_each_other_a_hundred_times_a_level_are_a_validation_error_naming_the_bound() {
    // Given "A", whose myA is a hundred #{myB}, myB a hundred #{myC} ... myK "x": myH is
    // a million bytes, myG would be a hundred million
    let definition = amplifying();
    // When it is validated
    let report = report(&definition);
    // Then myA, every field down to myG and the command that echoes myA are errors saying
    // that myG's value would be longer than 1 MiB; myH and below are fine
    assert_eq!(errors_on(&report, "A", "myA"), [CROSSED_IN_MY_G]);
    assert_eq!(errors_on(&report, "A", "command"), [CROSSED_IN_MY_G]);
    assert_eq!(
        report
            .errors
            .iter()
            .find(|issue| issue.field.as_deref() == Some("myA"))
            .map(ToString::to_string),
        Some(format!("object \"A\", field \"myA\": {CROSSED_IN_MY_G}"))
    );
    for field in &AMPLIFIED_FIELDS[1..6] {
        assert_eq!(errors_on(&report, "A", field), [CROSSED_IN_MY_G], "{field}");
    }
    assert_eq!(
        errors_on(&report, "A", "myG"),
        [
            "evaluating it builds a value longer than 1 MiB (1048576 bytes): field values that repeat references to each other multiply in length; simplify the references"
        ]
    );
    assert_eq!(report.errors.len(), 8, "{:#?}", report.errors);
}

#[test]
fn a_field_that_compilation_reads_and_that_crosses_a_bound_fails_compilation() {
    // Given the amplifying definition whose activity takes its retries from myA
    let mut definition = amplifying();
    let a = definition.objects.iter_mut().find(|object| object.id == "A").unwrap();
    a.fields.push(Field::string("maximumRetries", "#{myA}"));
    // When it is compiled for activation
    let compiled = CompiledPipeline::compile(
        "df-bounded",
        1,
        definition,
        &[],
        parse_datetime("2026-01-01T00:00:00").unwrap(),
    );
    // Then compilation fails on that object and field, promptly
    let error = compiled.map(|_| ()).unwrap_err();
    assert_eq!((error.object.as_str(), error.field.as_str()), ("A", "maximumRetries"));
    // saying which bound it crossed
    assert!(
        error.to_string().contains("longer than 1 MiB (1048576 bytes)"),
        "{error}"
    );
}

#[tokio::test]
async fn putting_the_amplifying_definition_reports_the_bound_and_it_cannot_be_activated() {
    // Given an engine on the memory store and a new pipeline
    let (store, clock, random, probe) = (
        MemoryStore::new(),
        ManualClock::new(parse_datetime("2026-01-01T00:00:00").unwrap()),
        SeededRandom::new(7),
        FakeProbe::new(),
    );
    let engine = Engine::new(&store, &clock, &random, &probe);
    assert!(
        engine
            .create_pipeline("df-bounded", "bounded", "bounded")
            .await
            .unwrap()
    );
    // When the amplifying definition is put (PutPipelineDefinition)
    let report = engine.put_definition("df-bounded", &amplifying()).await.unwrap();
    // Then the answer names the object, the field and the bound
    assert_eq!(errors_on(&report, "A", "myA"), [CROSSED_IN_MY_G]);
    // And the pipeline cannot be activated with it
    let refused = engine.activate("df-bounded", &ActivateOptions::default()).await;
    assert!(matches!(refused, Err(EngineError::InvalidRequest(_))), "{refused:?}");
}

#[test]
fn a_field_within_the_bounds_that_refers_to_a_field_beyond_them_is_still_fine() {
    // Given the amplifying definition with myB's references cut to the fine myH
    let mut definition = amplifying();
    let a = definition.objects.iter_mut().find(|object| object.id == "A").unwrap();
    a.fields.retain(|field| field.key != "myA");
    a.fields.push(Field::string("myA", "#{myH}"));
    // When it is validated
    let report = report(&definition);
    // Then myA is fine and myB still is not
    assert!(errors_on(&report, "A", "myA").is_empty(), "{:#?}", report.errors);
    assert_eq!(errors_on(&report, "A", "myB"), [CROSSED_IN_MY_G]);
}

#[test]
fn a_run_that_evaluates_the_amplifying_field_gets_the_bound_as_its_error() {
    // Given the amplifying definition compiled for runs (an errored definition is never
    // activated, but a run's evaluation is bounded whatever it is given)
    let pipeline = CompiledPipeline::compile(
        "df-bounded",
        1,
        amplifying(),
        &[],
        parse_datetime("2026-01-01T00:00:00").unwrap(),
    )
    .expect("compiles: nothing compilation reads refers to myA");
    let runtime = Runtime::scheduled(parse_datetime("2026-01-02T00:00:00").unwrap(), None);
    // When the command is evaluated for a run
    let error = pipeline.evaluate_field("A", "command", &runtime, None).unwrap_err();
    // Then it is the bound, at the object and field
    assert_eq!(
        error,
        format!("object \"A\", field \"command\": at column 8: {CROSSED_IN_MY_G}")
    );
    // And the fields a runner receives leave it out rather than grow without bound
    let fields = pipeline.evaluated_fields("A", &runtime, None);
    assert!(fields.iter().all(|(key, _)| key != "command" && key != "myA"));
    assert!(
        fields
            .iter()
            .any(|(key, value)| key == "myH" && value.len() == 1_000_000)
    );
}

#[test]
fn five_thousand_references_to_missing_objects_are_each_an_error_with_a_suggestion() {
    // Given 5,000 activities, each depending on a mistyped id of its neighbour
    let count = 5_000;
    let definition = dangling(count);
    // When it is validated (near-linear: each suggestion compares a few dozen ids)
    let report = report(&definition);
    // Then each reference is one error, suggesting the id it was meant to be
    assert_eq!(
        report.errors.len(),
        count,
        "{:#?}",
        &report.errors[..report.errors.len().min(5)]
    );
    for (index, issue) in report.errors.iter().enumerate().step_by(499) {
        let meant = (index + 1) % count;
        assert_eq!(issue.id.as_deref(), Some(task_id(index).as_str()));
        assert_eq!(issue.field.as_deref(), Some("dependsOn"));
        assert_eq!(
            issue.message,
            format!(
                "refers to \"{}\", which does not exist; did you mean \"{}\"?",
                mistyped_id(meant),
                task_id(meant)
            )
        );
    }
}
