//! Properties of the stages over random valid pipelines: whatever a definition that
//! validates says, every stage step answers (never a panic, never an error that holds a
//! round up: the confinement turns one item's failure into a report line), and after days
//! of simulated time every instance has either ended or says why it still waits.
//!
//! Definitions come from a small grammar: one to eight ShellCommandActivity and S3DataNode
//! objects, dependsOn and inputs among earlier ones, on-demand or periodic schedules (one
//! minute to one day, cron or timeseries), retries, retry delays, lateness, Exists
//! preconditions and worker groups from a small set. A fake runner polls every group and
//! finishes or fails what it is handed at random; the clock moves in steps of 1 to 60
//! minutes.
//!
//! 64 cases, a few seconds in a debug build.

use chrono::{NaiveDateTime, TimeDelta};
use proptest::{prelude::*, strategy::ValueTree, test_runner::TestCaseError};
use serde_json::{Map, Value as Json, json};
use sluice::{
    cloud::{notify::FakeNotifier, probe::FakeProbe},
    definition::read_definition,
    engine::{
        Engine, Limits,
        clock::{Clock, ManualClock, Random, SeededRandom},
        pipelines::ActivateOptions,
        tasks::TaskStatus,
    },
    store::{
        Item,
        memory::MemoryStore,
        records::{AttemptKind, ErrorDetails, InstanceRecord, Stored},
    },
    time::{format_datetime, parse_datetime},
};

const PIPELINE: &str = "df-prop";
const WORKER_GROUPS: [&str; 3] = ["wg-a", "wg-b", "wg-c"];
/// How long each case runs after activation.
const SIMULATED: TimeDelta = TimeDelta::days(2);

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        max_shrink_iters: 256,
        // Integration tests have no lib.rs beside them to persist failures next to.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------
// The grammar.

#[derive(Debug, Clone)]
struct ObjectSpec {
    activity: bool,
    /// Indexes into the earlier objects, taken modulo their count.
    depends_on: Vec<usize>,
    schedule: usize,
    maximum_retries: Option<u32>,
    retry_delay_minutes: Option<u32>,
    late_after_minutes: Option<u32>,
    precondition: bool,
    worker_group: Option<usize>,
}

#[derive(Debug, Clone)]
struct ScheduleSpec {
    period_minutes: u32,
    /// Start relative to activation, in minutes (never more than a day back: the backfill
    /// guard refuses that).
    start_offset: i64,
    occurrences: Option<u32>,
}

#[derive(Debug, Clone)]
struct PipelineSpec {
    on_demand: bool,
    cron: bool,
    schedules: Vec<ScheduleSpec>,
    default_worker_group: Option<usize>,
    default_retries: Option<u32>,
    objects: Vec<ObjectSpec>,
    seed: u64,
}

fn object_spec() -> impl Strategy<Value = ObjectSpec> {
    (
        prop::bool::weighted(0.7),
        prop::collection::vec(0usize..8, 0..3),
        0usize..2,
        prop::option::of(0u32..4),
        prop::option::of(1u32..30),
        prop::option::of(1u32..240),
        prop::bool::weighted(0.3),
        prop::option::of(0usize..WORKER_GROUPS.len()),
    )
        .prop_map(
            |(
                activity,
                depends_on,
                schedule,
                maximum_retries,
                retry_delay_minutes,
                late_after_minutes,
                precondition,
                worker_group,
            )| ObjectSpec {
                activity,
                depends_on,
                schedule,
                maximum_retries,
                retry_delay_minutes,
                late_after_minutes,
                precondition,
                worker_group,
            },
        )
}

fn schedule_spec() -> impl Strategy<Value = ScheduleSpec> {
    (
        prop_oneof![
            Just(1u32),
            Just(15),
            Just(60),
            Just(6 * 60),
            Just(24 * 60),
            1u32..=24 * 60
        ],
        -23i64 * 60..120,
        prop::option::of(1u32..6),
    )
        .prop_map(|(period_minutes, start_offset, occurrences)| ScheduleSpec {
            period_minutes,
            start_offset,
            occurrences,
        })
}

fn pipeline_spec() -> impl Strategy<Value = PipelineSpec> {
    (
        prop::bool::weighted(0.25),
        any::<bool>(),
        prop::collection::vec(schedule_spec(), 1..3),
        prop::option::of(0usize..WORKER_GROUPS.len()),
        prop::option::of(0u32..3),
        prop::collection::vec(object_spec(), 1..=8),
        any::<u64>(),
    )
        .prop_map(
            |(on_demand, cron, schedules, default_worker_group, default_retries, objects, seed)| PipelineSpec {
                on_demand,
                cron,
                schedules,
                default_worker_group,
                default_retries,
                objects,
                seed,
            },
        )
}

fn period(minutes: u32) -> String {
    if minutes.is_multiple_of(24 * 60) {
        format!("{} days", minutes / (24 * 60))
    } else if minutes.is_multiple_of(60) {
        format!("{} hours", minutes / 60)
    } else {
        format!("{minutes} minutes")
    }
}

fn object_id(spec: &ObjectSpec, index: usize) -> String {
    format!("{}{index}", if spec.activity { "Act" } else { "Node" })
}

/// The definition file the spec describes.
fn to_json(spec: &PipelineSpec, activated_at: NaiveDateTime) -> Json {
    let reference = |id: &str| json!({ "ref": id });
    let mut default = Map::new();
    default.insert("id".into(), json!("Default"));
    default.insert(
        "scheduleType".into(),
        json!(if spec.on_demand {
            "ondemand"
        } else if spec.cron {
            "cron"
        } else {
            "timeseries"
        }),
    );
    if !spec.on_demand {
        default.insert("schedule".into(), reference("Schedule0"));
    }
    if let Some(group) = spec.default_worker_group {
        default.insert("workerGroup".into(), json!(WORKER_GROUPS[group]));
    }
    if let Some(retries) = spec.default_retries {
        default.insert("maximumRetries".into(), json!(retries.to_string()));
    }
    let mut objects = vec![Json::Object(default)];
    if !spec.on_demand {
        for (index, schedule) in spec.schedules.iter().enumerate() {
            let mut object = Map::new();
            object.insert("id".into(), json!(format!("Schedule{index}")));
            object.insert("type".into(), json!("Schedule"));
            object.insert("period".into(), json!(period(schedule.period_minutes)));
            let start = activated_at + TimeDelta::minutes(schedule.start_offset);
            object.insert("startDateTime".into(), json!(format_datetime(start)));
            match schedule.occurrences {
                Some(count) => object.insert("occurrences".into(), json!(count.to_string())),
                None => object.insert(
                    "endDateTime".into(),
                    json!(format_datetime(
                        start + TimeDelta::minutes(i64::from(schedule.period_minutes) * 3)
                    )),
                ),
            };
            objects.push(Json::Object(object));
        }
    }
    let any_precondition = spec.objects.iter().any(|object| object.precondition);
    if any_precondition {
        objects.push(json!({"id": "Ready", "type": "Exists"}));
    }
    for (index, object) in spec.objects.iter().enumerate() {
        let mut fields = Map::new();
        fields.insert("id".into(), json!(object_id(object, index)));
        if object.activity {
            fields.insert("type".into(), json!("ShellCommandActivity"));
            fields.insert("command".into(), json!(format!("echo {index}")));
            let earlier: Vec<usize> = (0..index).collect();
            let mut depends = Vec::new();
            let mut inputs = Vec::new();
            for pick in &object.depends_on {
                if let Some(&other) = earlier.get(pick % earlier.len().max(1)) {
                    let id = object_id(&spec.objects[other], other);
                    let list = if spec.objects[other].activity {
                        &mut depends
                    } else {
                        &mut inputs
                    };
                    if !list.contains(&id) {
                        list.push(id);
                    }
                }
            }
            if !depends.is_empty() {
                fields.insert(
                    "dependsOn".into(),
                    Json::Array(depends.iter().map(|id| reference(id)).collect()),
                );
            }
            if !inputs.is_empty() {
                fields.insert(
                    "input".into(),
                    Json::Array(inputs.iter().map(|id| reference(id)).collect()),
                );
            }
            if let Some(retries) = object.maximum_retries {
                fields.insert("maximumRetries".into(), json!(retries.to_string()));
            }
            if let Some(delay) = object.retry_delay_minutes {
                fields.insert("retryDelay".into(), json!(format!("{delay} minutes")));
            }
            if let Some(group) = object.worker_group {
                fields.insert("workerGroup".into(), json!(WORKER_GROUPS[group]));
            }
        } else {
            fields.insert("type".into(), json!("S3DataNode"));
            fields.insert("directoryPath".into(), json!(format!("s3://prop-bucket/node{index}/")));
        }
        if let Some(late) = object.late_after_minutes {
            fields.insert("lateAfterTimeout".into(), json!(format!("{late} minutes")));
        }
        if object.precondition {
            fields.insert("precondition".into(), reference("Ready"));
        }
        if !spec.on_demand && spec.schedules.len() > 1 {
            let schedule = object.schedule % spec.schedules.len();
            fields.insert("schedule".into(), reference(&format!("Schedule{schedule}")));
        }
        objects.push(Json::Object(fields));
    }
    json!({ "objects": objects })
}

// ---------------------------------------------------------------------------------------
// One case.

fn at(text: &str) -> NaiveDateTime {
    parse_datetime(text).unwrap()
}

/// What a case found.
#[derive(Debug, Default)]
struct Ran {
    /// The definition did not validate: the case says nothing.
    refused: bool,
    steps: u64,
    tasks: u64,
}

fn fail(what: String) -> TestCaseError {
    TestCaseError::fail(what)
}

fn instances(store: &MemoryStore) -> Vec<(Item, InstanceRecord)> {
    store
        .items()
        .into_iter()
        .filter(|item| item.key.sk.starts_with("INST#"))
        .filter_map(|item| {
            let record = Stored::<InstanceRecord>::from_item(&item).ok()?.record;
            Some((item, record))
        })
        .collect()
}

async fn run_case(spec: &PipelineSpec) -> Result<Ran, TestCaseError> {
    let activated_at = at("2026-03-02T00:00:00");
    let text = to_json(spec, activated_at).to_string();
    let store = MemoryStore::new();
    let clock = ManualClock::new(activated_at);
    let random = SeededRandom::new(spec.seed);
    let dice = SeededRandom::new(spec.seed ^ 0x5EED);
    let probe = FakeProbe::new();
    let notifier = FakeNotifier::new();
    let engine = Engine::new(&store, &clock, &random, &probe).with_limits(Limits {
        recheck: TimeDelta::minutes(1),
        ..Limits::default()
    });
    let definition = read_definition(&text)
        .map_err(|error| fail(format!("the grammar wrote an unreadable definition: {error}\n{text}")))?
        .definition;
    engine
        .create_pipeline(PIPELINE, PIPELINE, PIPELINE)
        .await
        .map_err(|error| fail(format!("create: {error}")))?;
    let report = engine
        .put_definition(PIPELINE, &definition)
        .await
        .map_err(|error| fail(format!("put_definition: {error}\n{text}")))?;
    if report.errored() {
        return Ok(Ran {
            refused: true,
            ..Ran::default()
        });
    }
    engine
        .activate(PIPELINE, &ActivateOptions::default())
        .await
        .map_err(|error| fail(format!("a definition that validated did not activate: {error}\n{text}")))?;

    let mut ran = Ran::default();
    let horizon = activated_at + SIMULATED;
    while clock.now() < horizon {
        for (name, result) in [
            ("schedule", engine.schedule_step().await),
            ("dependencies", engine.dependencies_step().await),
            ("watch", engine.watch_step().await),
            ("reap", engine.reap_step().await),
            ("actions", engine.actions_step(&notifier).await),
        ] {
            ran.steps += 1;
            if let Err(error) = result {
                return Err(fail(format!(
                    "the {name} step failed at {}: {error}\n{text}",
                    clock.now()
                )));
            }
        }
        // The runner: each group polled a few times; each task finished, failed or (for a
        // precondition) found false at random.
        for group in WORKER_GROUPS {
            for _ in 0..3 {
                let task = engine
                    .poll_for_task(group, Some("prop-runner"))
                    .await
                    .map_err(|error| fail(format!("polling {group} failed: {error}\n{text}")))?;
                let Some(task) = task else { break };
                ran.tasks += 1;
                let precondition = matches!(task.kind, AttemptKind::Precondition { .. });
                let status = match dice.next_u64() % 10 {
                    0..=5 => TaskStatus::Finished,
                    6..=7 => TaskStatus::Failed,
                    _ if precondition => TaskStatus::False,
                    _ => TaskStatus::Failed,
                };
                engine
                    .set_task_status(&task.task_id, Some(group), status, ErrorDetails::default())
                    .await
                    .map_err(|error| fail(format!("reporting {} failed: {error}\n{text}", task.task_id)))?;
            }
        }
        let minutes = 1 + i64::try_from(dice.next_u64() % 60).unwrap_or(0);
        clock.advance(TimeDelta::minutes(minutes));
    }

    // Then every instance has ended, or says why it waits, or is due again later.
    let now_millis = sluice::engine::clock::millis(clock.now());
    for (item, instance) in instances(&store) {
        let ended = instance.status.is_terminal();
        let says_why = !instance.waiting_on.is_empty();
        let due_later = item.due.as_ref().is_some_and(|due| due.at_millis > now_millis);
        if !(ended || says_why || due_later) {
            return Err(fail(format!(
                "instance {} is {:?} with nothing saying why it waits (due {:?}, next check {:?}) at {}\n{text}",
                item.key.sk,
                instance.status,
                item.due,
                instance.next_check_at,
                clock.now()
            )));
        }
    }
    Ok(ran)
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn every_stage_answers_and_every_instance_ends_or_says_why_it_waits(spec in pipeline_spec()) {
        // Given a random definition that validates, activated on the memory store
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|error| fail(format!("no runtime: {error}")))?;
        // When every stage and a random runner run for two simulated days
        let ran = runtime.block_on(run_case(&spec))?;
        // Then (checked in run_case) no step failed and no instance waits without a reason
        prop_assume!(!ran.refused, "the definition did not validate");
        prop_assert!(ran.steps > 0);
    }
}

#[test]
fn most_generated_definitions_validate() {
    // Given a hundred definitions from the grammar
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = pipeline_spec();
    let activated_at = at("2026-03-02T00:00:00");
    let mut refused = Vec::new();
    for _ in 0..100 {
        let spec = strategy.new_tree(&mut runner).unwrap().current();
        let text = to_json(&spec, activated_at).to_string();
        let definition = read_definition(&text).unwrap().definition;
        let validation = sluice::definition::validate::validate(&definition, &[]);
        if !validation.report.errors.is_empty() {
            refused.push(format!("{:?}\n{text}", validation.report.errors));
        }
    }
    // Then the property above tests most of them, not a handful
    assert!(
        refused.len() <= 20,
        "{} of 100 refused; first: {}",
        refused.len(),
        refused.first().cloned().unwrap_or_default()
    );
}
