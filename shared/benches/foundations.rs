//! The foundations' speed: validating AWS's sample corpus, evaluating a typical
//! expression, planning a year of 15-minute instances for a 100-object pipeline, and
//! validating definitions that would make the work grow faster than their size: fields that
//! refer to each other a hundred times a level, and 5,000 references to missing objects.
//!
//! `cargo bench -p sluice --bench foundations`; the figures go in the README.

use std::{hint::black_box, path::Path};

use chrono::NaiveDateTime;
use criterion::{Criterion, Throughput};
use serde_json::json;
use sluice::{
    definition::{
        Definition, ParameterValue,
        context::{ObjectContext, Runtime, Scope},
        inherit::Inheritance,
        parameters::{ParameterValues, ValueSource},
        read_definition,
        validate::validate,
    },
    expr,
    plan::plan_definition,
    schedule::Activation,
    time::parse_datetime,
};

#[path = "../tests/bounded_work/definitions.rs"]
mod definitions;

fn at(text: &str) -> NaiveDateTime {
    parse_datetime(text).expect("a valid date-time")
}

/// Every JSON file of the sample corpus that reads as a definition, as text.
fn corpus() -> Vec<String> {
    fn walk(directory: &Path, texts: &mut Vec<String>) {
        let mut entries: Vec<_> = std::fs::read_dir(directory)
            .expect("the sample corpus is beside the repository, in ../shared/samples")
            .map(|entry| entry.expect("a directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, texts);
            } else if path.extension().is_some_and(|extension| extension == "json") {
                let text = std::fs::read_to_string(&path).expect("a readable sample");
                if read_definition(&text).is_ok() {
                    texts.push(text);
                }
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/samples/aws-data-pipeline-samples");
    let mut texts = Vec::new();
    walk(&root, &mut texts);
    texts
}

fn validating_the_corpus(c: &mut Criterion) {
    let texts = corpus();
    let mut group = c.benchmark_group("validate");
    group.throughput(Throughput::Elements(texts.len() as u64));
    group.bench_function(
        format!("read and validate the sample corpus ({} definitions)", texts.len()),
        |b| {
            b.iter(|| {
                for text in &texts {
                    let loaded = read_definition(black_box(text)).expect("reads");
                    black_box(validate(&loaded.definition, &[]));
                }
            });
        },
    );
    group.finish();
}

fn validating_what_could_grow(c: &mut Criterion) {
    let mut group = c.benchmark_group("validate");
    let amplifying = definitions::amplifying();
    group.bench_function(
        "validate fields that refer to each other 100 times a level, 10 levels",
        |b| {
            b.iter(|| {
                let report = validate(black_box(&amplifying), &[]).report;
                assert_eq!(report.errors.len(), 8);
            });
        },
    );
    let dangling = definitions::dangling(5_000);
    group.throughput(Throughput::Elements(5_000));
    group.bench_function("validate 5,000 objects, each referring to a missing one", |b| {
        b.iter(|| {
            let report = validate(black_box(&dangling), &[]).report;
            assert_eq!(report.errors.len(), 5_000);
        });
    });
    group.finish();
}

fn evaluating_an_expression(c: &mut Criterion) {
    let text = "s3://bucket/#{format(@scheduledStartTime,'YYYY-MM-dd-HH-mm-ss')}/#{myName}";
    let definition = Definition::default();
    let (inheritance, _) = Inheritance::new(&definition);
    let given = [ParameterValue {
        id: "myName".into(),
        value: "orders".into(),
    }];
    let (parameters, _) = sluice::definition::parameters::resolve(
        &[],
        &[ValueSource {
            name: "bench",
            values: &given,
        }],
    );
    let scope = Scope {
        inheritance: &inheritance,
        parameters: &parameters,
        mask_secrets: true,
    };
    let runtime = Runtime::scheduled(at("2026-01-31T06:00:00"), None);
    let context = ObjectContext::new(scope, None, &runtime);
    let template = expr::parse(text).expect("parses");

    let mut group = c.benchmark_group("expression");
    group.bench_function("evaluate a parsed typical expression", |b| {
        b.iter(|| black_box(template.evaluate(black_box(&context)).expect("evaluates")));
    });
    group.bench_function("parse and evaluate a typical expression", |b| {
        b.iter(|| black_box(expr::evaluate_str(black_box(text), &context).expect("evaluates")));
    });
    group.finish();
}

/// 100 runnable objects on a 15-minute schedule that started on 2025-01-01.
fn hundred_object_pipeline() -> Definition {
    let mut objects = vec![
        json!({"id": "Default", "scheduleType": "cron", "schedule": {"ref": "Quarterly"}, "workerGroup": "wg"}),
        json!({"id": "Quarterly", "type": "Schedule", "period": "15 minutes", "startDateTime": "2025-01-01T00:00:00"}),
    ];
    for index in 0..50 {
        objects.push(json!({"id": format!("Node{index}"), "type": "S3DataNode",
                            "directoryPath": format!("s3://bucket/{index}/#{{@scheduledStartTime}}")}));
        objects.push(json!({"id": format!("Step{index}"), "type": "ShellCommandActivity",
                            "command": "echo", "input": {"ref": format!("Node{index}")}}));
    }
    read_definition(&json!({ "objects": objects }).to_string())
        .expect("reads")
        .definition
}

const YEAR_OF_QUARTER_HOURS: u64 = 100 * 365 * 96;

/// Runs `work` with the 100-object pipeline's scope and an activation on its first day
/// that allows the backfill.
fn with_hundred_objects<T>(work: impl FnOnce(Scope<'_>, &Activation) -> T) -> T {
    let definition = hundred_object_pipeline();
    let (inheritance, _) = Inheritance::new(&definition);
    let parameters = ParameterValues::default();
    let scope = Scope {
        inheritance: &inheritance,
        parameters: &parameters,
        mask_secrets: true,
    };
    let activation = Activation {
        at: at("2025-01-01T00:00:00"),
        start_timestamp: None,
        allow_backfill: true,
    };
    work(scope, &activation)
}

fn planning_a_year(c: &mut Criterion) {
    let until = at("2026-01-01T00:00:00");
    let mut group = c.benchmark_group("plan");
    group.throughput(Throughput::Elements(YEAR_OF_QUARTER_HOURS));
    group.sample_size(10);
    with_hundred_objects(|scope, activation| {
        group.bench_function("a year of 15-minute instances for 100 objects", |b| {
            b.iter(|| {
                let plan = plan_definition(scope, activation, black_box(until)).expect("plans");
                let count = plan.instances.count() as u64;
                assert_eq!(count, YEAR_OF_QUARTER_HOURS);
                count
            });
        });
    });
    group.finish();
}

/// Resident memory now, from /proc (Linux), in KiB.
fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Planning is lazy: memory stays flat however many instances are read. Prints resident
/// memory after 1 million and after 35 million instances (ten years) of the same plan.
fn plan_memory_is_flat() {
    let ten_years = at("2035-01-01T00:00:00");
    let (count, after_first_million, at_the_end) = with_hundred_objects(|scope, activation| {
        let plan = plan_definition(scope, activation, ten_years).expect("plans");
        let (mut count, mut after_first_million) = (0_u64, None);
        for instance in plan.instances {
            black_box(instance);
            count += 1;
            if count == 1_000_000 {
                after_first_million = resident_kib();
            }
        }
        (count, after_first_million, resident_kib())
    });
    if let (Some(first), Some(end)) = (after_first_million, at_the_end) {
        println!(
            "plan memory: {first} KiB resident after 1,000,000 instances, {end} KiB after {count} instances ({:+} KiB)",
            end as i64 - first as i64
        );
    }
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    validating_the_corpus(&mut criterion);
    validating_what_could_grow(&mut criterion);
    evaluating_an_expression(&mut criterion);
    planning_a_year(&mut criterion);
    criterion.final_summary();
    plan_memory_is_flat();
}
