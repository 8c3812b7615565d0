//! Issue 17: no field value panics a stage through date and time arithmetic. A period or wait
//! longer than ten years is refused where a definition is read; what validation cannot see
//! (a parameter's value given at activation, a backoff multiplier after many retries, a
//! pipeline running at the end of chrono's calendar) ends in a typed error or a time held at
//! the last one chrono can represent, never a panic.

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use proptest::prelude::*;
use serde_json::{Value, json};
use sluice::{
    cloud::probe::FakeProbe,
    definition::{
        ParameterValue,
        context::Scope,
        inherit::Inheritance,
        parameters::ValueSource,
        read_definition,
        validate::{Validation, validate},
    },
    engine::{
        Engine, Limits, Status,
        clock::{ManualClock, SeededRandom},
        compiled::CompiledPipeline,
        pipelines::ActivateOptions,
        tasks::TaskStatus,
    },
    plan::plan_definition,
    schedule::Activation,
    store::{
        keys,
        memory::MemoryStore,
        records::{self, AttemptRecord, ErrorDetails, InstanceRecord},
    },
    time::parse_datetime,
};

const TOO_LONG: &str = "is longer than the most Sluice allows (10 years): write 10 years or less";

fn at(text: &str) -> NaiveDateTime {
    parse_datetime(text).unwrap()
}

/// 2026 is a long way from the end of chrono's calendar; this is two hours from it.
fn near_the_end_of_time() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(262_142, 12, 31)
        .and_then(|date| date.and_hms_opt(22, 0, 0))
        .unwrap()
}

struct World {
    store: MemoryStore,
    clock: ManualClock,
    random: SeededRandom,
    probe: FakeProbe,
}

impl World {
    fn new(now: NaiveDateTime) -> Self {
        Self {
            store: MemoryStore::new(),
            clock: ManualClock::new(now),
            random: SeededRandom::new(17),
            probe: FakeProbe::new(),
        }
    }

    fn engine(&self) -> Engine<'_, MemoryStore, FakeProbe> {
        Engine::new(&self.store, &self.clock, &self.random, &self.probe).with_limits(Limits {
            recheck: TimeDelta::minutes(1),
            ..Limits::default()
        })
    }

    /// Creates the pipeline and puts the definition; the validation errors, as printed.
    async fn put(&self, id: &str, definition: &Value) -> Vec<String> {
        let engine = self.engine();
        let definition = read_definition(&definition.to_string()).unwrap().definition;
        assert!(engine.create_pipeline(id, id, id).await.unwrap());
        let report = engine.put_definition(id, &definition).await.unwrap();
        report.errors.iter().map(ToString::to_string).collect()
    }

    /// Every stage once, as the minute schedule runs them.
    async fn tick(&self) {
        let engine = self.engine();
        engine.schedule_step().await.unwrap();
        engine.dependencies_step().await.unwrap();
        engine.watch_step().await.unwrap();
        engine.reap_step().await.unwrap();
    }

    /// Polls one task of worker group "wg" and reports it failed.
    async fn fail_a_task(&self) {
        let engine = self.engine();
        let task = engine
            .poll_for_task("wg", Some("runner-1"))
            .await
            .unwrap()
            .expect("a task");
        let error = ErrorDetails {
            error_id: Some("Exit1".into()),
            error_message: Some("disk full".into()),
            error_stack_trace: None,
        };
        engine
            .set_task_status(&task.task_id, Some("wg"), TaskStatus::Failed, error)
            .await
            .unwrap();
    }

    async fn instance(&self, pipeline: &str, component: &str, start: NaiveDateTime) -> InstanceRecord {
        records::get::<InstanceRecord, _>(&self.store, &keys::instance(pipeline, component, start))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no {component} at {start}"))
            .record
    }

    async fn attempt(&self, pipeline: &str, component: &str, start: NaiveDateTime, number: u32) -> AttemptRecord {
        records::get::<AttemptRecord, _>(&self.store, &keys::attempt(pipeline, component, start, number))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no attempt {number} of {component}"))
            .record
    }
}

/// An activity "Copy" on worker group "wg", run once at `start_at` by a schedule of
/// `period`, with `defaults` on every object.
fn one_copy(period: &str, start: Value, defaults: Value) -> Value {
    let mut default = json!({"id": "Default", "scheduleType": "cron", "schedule": {"ref": "Once"},
                             "workerGroup": "wg", "failureAndRerunMode": "cascade"});
    default
        .as_object_mut()
        .unwrap()
        .extend(defaults.as_object().unwrap().clone());
    let mut schedule = json!({"id": "Once", "type": "Schedule", "period": period, "occurrences": "1"});
    schedule
        .as_object_mut()
        .unwrap()
        .extend(start.as_object().unwrap().clone());
    json!({"objects": [
        default,
        schedule,
        {"id": "Copy", "type": "ShellCommandActivity", "command": "copy"},
    ]})
}

#[tokio::test]
async fn a_retry_delay_of_999999999_years_is_refused_when_put_on_its_object_and_field() {
    // Given an activity that fails with retries 999999999 years apart, and other waits as long
    let world = World::new(at("2026-01-01T00:00:00"));
    let mut definition = one_copy(
        "1 hour",
        json!({"startDateTime": "2026-01-01T00:00:00"}),
        json!({"maximumRetries": "3"}),
    );
    let copy = &mut definition["objects"][2];
    copy["retryDelay"] = json!("999999999 years");
    copy["attemptTimeout"] = json!("9999999999 years");
    copy["lateAfterTimeout"] = json!("2147483647 months");
    copy["reportProgressTimeout"] = json!("9223372036854775807 seconds");

    // When it is put
    let errors = world.put("df-long", &definition).await;

    // Then each field is refused by name, saying what the most is
    for (field, value) in [
        ("retryDelay", "999999999 years"),
        ("attemptTimeout", "9999999999 years"),
        ("lateAfterTimeout", "2147483647 months"),
        ("reportProgressTimeout", "9223372036854775807 seconds"),
    ] {
        let expected = format!("object \"Copy\", field \"{field}\": \"{value}\" {TOO_LONG}");
        assert!(errors.contains(&expected), "{expected}\nnot in {errors:#?}");
    }
    // And the pipeline cannot be activated
    let refused = world.engine().activate("df-long", &ActivateOptions::default()).await;
    assert!(refused.is_err());
}

#[tokio::test]
async fn a_schedule_period_and_a_precondition_timeout_over_ten_years_are_refused_too() {
    // Given a 999999999-year schedule and a precondition that waits 11 years
    let world = World::new(at("2026-01-01T00:00:00"));
    let mut definition = one_copy(
        "999999999 years",
        json!({"startDateTime": "2026-01-01T00:00:00"}),
        json!({}),
    );
    let objects = definition["objects"].as_array_mut().unwrap();
    objects.push(
        json!({"id": "Ready", "type": "S3KeyExists", "role": "R", "s3Key": "s3://bucket/ready",
                        "preconditionTimeout": "11 years"}),
    );
    objects[2]["precondition"] = json!({"ref": "Ready"});

    // When it is put
    let errors = world.put("df-schedule", &definition).await;

    // Then both are refused by name
    let joined = errors.join("\n");
    assert!(
        joined.contains(&format!("\"999999999 years\" {TOO_LONG}")) && joined.contains("\"Once\""),
        "{joined}"
    );
    assert!(
        errors.contains(&format!(
            "object \"Ready\", field \"preconditionTimeout\": \"11 years\" {TOO_LONG}"
        )),
        "{joined}"
    );
}

#[tokio::test]
async fn a_retry_delay_given_only_at_activation_is_refused_there_with_a_typed_error() {
    // Given a precondition whose retryDelay is a parameter, harmless by default
    let world = World::new(at("2026-01-01T00:00:00"));
    let mut definition = one_copy("1 hour", json!({"startDateTime": "2026-01-01T00:00:00"}), json!({}));
    let objects = definition["objects"].as_array_mut().unwrap();
    objects.push(
        json!({"id": "Ready", "type": "S3KeyExists", "role": "R", "s3Key": "s3://bucket/ready",
                        "retryDelay": "#{myCheckEvery}"}),
    );
    objects[2]["precondition"] = json!({"ref": "Ready"});
    definition["parameters"] = json!([{"id": "myCheckEvery", "type": "String", "default": "2 minutes"}]);
    assert_eq!(world.put("df-parameter", &definition).await, Vec::<String>::new());

    // When it is activated with a value validation never saw
    let options = ActivateOptions {
        parameter_values: vec![ParameterValue {
            id: "myCheckEvery".into(),
            value: "999999999 years".into(),
        }],
        ..ActivateOptions::default()
    };
    let error = world.engine().activate("df-parameter", &options).await.unwrap_err();

    // Then activation is refused on the object and field, and no stage ever sees it
    assert!(
        error.to_string().contains(&format!(
            "object \"Ready\", field \"retryDelay\": \"999999999 years\" {TOO_LONG}"
        )),
        "{error}"
    );
    world.tick().await;
}

#[tokio::test]
async fn a_backoff_multiplier_of_1e308_in_the_year_9999_retries_ten_years_apart_then_fails() {
    // Given an activity in the last year a definition can write, retrying 4 times with a
    // multiplier that overflows f64 at the second retry, and full jitter
    let start = at("9999-12-31T00:00:00");
    let world = World::new(start);
    let definition = one_copy(
        "10 years",
        json!({"startDateTime": "9999-12-31T00:00:00"}),
        json!({"maximumRetries": "4", "retryDelay": "10 years", "retryBackoffMultiplier": "1e308",
               "retryJitter": "1"}),
    );
    assert_eq!(world.put("df-backoff", &definition).await, Vec::<String>::new());
    world
        .engine()
        .activate("df-backoff", &ActivateOptions::default())
        .await
        .unwrap();
    world.tick().await;

    // When every attempt fails
    let mut failed_at = start;
    for number in 1..=5 {
        world.fail_a_task().await;
        if number == 5 {
            break;
        }
        // Then each retry waits ten years (3650 days: jitter adds nothing past the cap)
        let retry = world.attempt("df-backoff", "Copy", start, number + 1).await;
        assert_eq!(retry.available_at - failed_at, TimeDelta::days(3650), "retry {number}");
        world.clock.set(retry.available_at);
        failed_at = retry.available_at;
        world.tick().await;
    }

    // And after the fourth retry the instance fails, in the year 10039, without a panic
    let copy = world.instance("df-backoff", "Copy", start).await;
    assert_eq!((copy.status, copy.attempts), (Status::Failed, 5));
    assert_eq!(chrono::Datelike::year(&failed_at), 10_039);
}

#[tokio::test]
async fn a_pipeline_at_the_end_of_chronos_calendar_waits_forever_instead_of_panicking() {
    // Given a pipeline first activated two hours before the last date-time chrono has, whose
    // precondition is checked every ten years and whose activity retries ten years apart
    let now = near_the_end_of_time();
    let world = World::new(now);
    let mut definition = one_copy(
        "1 hour",
        json!({"startAt": "FIRST_ACTIVATION_DATE_TIME"}),
        json!({"maximumRetries": "2", "retryDelay": "10 years", "lateAfterTimeout": "10 years",
               "attemptTimeout": "10 years"}),
    );
    let objects = definition["objects"].as_array_mut().unwrap();
    objects.push(
        json!({"id": "Ready", "type": "S3KeyExists", "role": "R", "s3Key": "s3://bucket/ready",
                        "retryDelay": "10 years", "preconditionTimeout": "10 years"}),
    );
    objects.push(
        json!({"id": "Gated", "type": "ShellCommandActivity", "command": "gated",
                        "precondition": {"ref": "Ready"}}),
    );
    assert_eq!(world.put("df-end", &definition).await, Vec::<String>::new());
    world
        .engine()
        .activate("df-end", &ActivateOptions::default())
        .await
        .unwrap();
    world.probe.set_bucket("bucket", true);

    // When the stages run, the precondition is unmet and the activity fails
    world.tick().await;
    world.fail_a_task().await;
    for _ in 0..3 {
        world.clock.advance(TimeDelta::minutes(1));
        world.tick().await;
    }

    // Then the precondition's next check and the retry are held at chrono's last date-time
    let gated = world.instance("df-end", "Gated", now).await;
    assert_eq!(gated.status, Status::WaitingOnDependencies);
    assert_eq!(gated.preconditions[0].checks, 1, "checked once, then not for ten years");
    let retry = world.attempt("df-end", "Copy", now, 2).await;
    assert_eq!(retry.available_at, NaiveDateTime::MAX);
    assert!(
        world.engine().poll_for_task("wg", None).await.unwrap().is_none(),
        "the retry is not due before the end of time"
    );
}

// ---------------------------------------------------------------------------------------
// Properties: random periods and multipliers in every field that waits never panic
// validation, compilation, retry timing or planning.

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Period-like text: well-formed or not, from one second to far past u64.
fn period_text() -> impl Strategy<Value = String> {
    let unit = prop_oneof![
        Just("second"),
        Just("minutes"),
        Just("Hours"),
        Just("day"),
        Just("weeks"),
        Just("month"),
        Just("YEARS"),
        Just("fortnight"),
    ];
    let count = prop_oneof![
        (1..=20u64).prop_map(|count| count.to_string()),
        any::<u32>().prop_map(|count| count.to_string()),
        any::<u64>().prop_map(|count| count.to_string()),
        "[0-9]{20,30}",
        Just("-1".to_owned()),
    ];
    (count, unit).prop_map(|(count, unit)| format!("{count} {unit}"))
}

/// A period a definition may well hold: one to twenty of any unit.
fn small_period_text() -> impl Strategy<Value = String> {
    let unit = prop_oneof![
        Just("minutes"),
        Just("hours"),
        Just("days"),
        Just("weeks"),
        Just("months"),
        Just("years")
    ];
    (1..=20u32, unit).prop_map(|(count, unit)| format!("{count} {unit}"))
}

fn multiplier_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("1e308".to_owned()),
        Just("1.7976931348623157e308".to_owned()),
        Just("inf".to_owned()),
        Just("NaN".to_owned()),
        any::<f64>().prop_map(|multiplier| multiplier.to_string()),
        (1.0..10.0f64).prop_map(|multiplier| multiplier.to_string()),
    ]
}

fn any_datetime() -> impl Strategy<Value = NaiveDateTime> {
    let min = NaiveDateTime::MIN.and_utc().timestamp();
    let max = NaiveDateTime::MAX.and_utc().timestamp();
    prop_oneof![
        Just(NaiveDateTime::MIN),
        Just(NaiveDateTime::MAX),
        Just(near_the_end_of_time()),
        (min..=max).prop_map(|seconds| {
            chrono::DateTime::from_timestamp(seconds, 0).map_or(NaiveDateTime::MAX, |datetime| datetime.naive_utc())
        }),
    ]
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn no_period_or_multiplier_panics_validation_compilation_retries_or_planning(
        waits in prop_oneof![
            proptest::collection::vec(small_period_text(), 8),
            proptest::collection::vec(period_text(), 8),
        ],
        schedule_period in prop_oneof![small_period_text(), period_text()],
        multiplier in multiplier_text(),
        retries in any::<u32>(),
        start_year in prop_oneof![Just(1970), Just(2026), Just(9999)],
        now in any_datetime(),
        next in any::<u32>(),
    ) {
        // Given a definition with random text in every field that waits
        let start = format!("{start_year}-12-31T00:00:00");
        let definition = json!({"objects": [
            {"id": "Default", "scheduleType": "cron", "schedule": {"ref": "Every"}, "workerGroup": "wg"},
            {"id": "Every", "type": "Schedule", "period": schedule_period, "startDateTime": start},
            {"id": "Ready", "type": "S3KeyExists", "role": "R", "s3Key": "s3://bucket/ready",
             "retryDelay": waits[0], "preconditionTimeout": waits[1]},
            {"id": "Copy", "type": "ShellCommandActivity", "command": "copy", "precondition": {"ref": "Ready"},
             "retryDelay": waits[2], "retryMaximumDelay": waits[3], "attemptTimeout": waits[4],
             "reportProgressTimeout": waits[5], "lateAfterTimeout": waits[6],
             "maximumRetries": retries.to_string(), "retryBackoffMultiplier": multiplier, "retryJitter": "0.5"},
            {"id": "Box", "type": "Ec2Resource", "role": "R", "resourceRole": "R", "terminateAfter": waits[7]},
        ]});
        let definition = read_definition(&definition.to_string()).unwrap().definition;

        // When it is validated, compiled, planned, and its retries timed at any date
        let sources = [ValueSource { name: "the definition's values", values: &definition.values }];
        let Validation { report, parameters } = validate(&definition, &sources);
        let (inheritance, _) = Inheritance::new(&definition);
        let scope = Scope { inheritance: &inheritance, parameters: &parameters, mask_secrets: false };
        let activation = Activation { at: at(&start), start_timestamp: None, allow_backfill: true };
        if let Ok(plan) = plan_definition(scope, &activation, NaiveDateTime::MAX) {
            for instance in plan.instances.take(100) {
                prop_assert!(instance.scheduled_start <= instance.scheduled_end);
            }
        }
        let compiled = CompiledPipeline::compile("df-any", 1, definition.clone(), &[], at(&start));

        // Then whatever validation accepts compiles, and no retry leaves chrono's range
        if !report.errored() {
            prop_assert!(compiled.is_ok(), "{:?}", compiled.err());
        }
        if let Ok(compiled) = compiled {
            let random = SeededRandom::new(u64::from(next));
            for spec in &compiled.components {
                let delay = spec.retry.delay_before(next, &random);
                prop_assert!(delay <= TimeDelta::days(3650), "{}", delay);
                let _ = spec.retry.retry_at(now, next, &random);
                if let Some(timeout) = spec.attempt_timeout {
                    let _ = sluice::engine::compiled::after(now, timeout);
                }
            }
        }
    }
}
