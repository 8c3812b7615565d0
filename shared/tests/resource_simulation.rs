//! The resources' deterministic simulation: random pipelines of `Ec2Resource`s and
//! `EmrCluster`s with the work that runs on them, driven minute by minute through the
//! in-memory cloud while it fails spot and on-demand launches, boots slowly, takes spot
//! machines back mid-task, fails, cancels and interrupts EMR steps; while the store crashes
//! writers between two writes, two resources stages run at once, and runners on lost
//! machines report late. Then everything calms down, and the run must have:
//!
//! - never had two live machines (or clusters) for one resource instance for longer than
//!   one look (two stages launching at once and both crashing before recording);
//! - no task FINISHED twice, and every FINISHED task run on a machine of its resource;
//! - no EMR step submitted twice for one attempt;
//! - no more launches for a resource instance than its retries allow;
//! - every instance ended, and nothing left running in the cloud.
//!
//! `RESOURCE_SIM_SEEDS=n` runs seeds 0..n (default 300); `RESOURCE_SIM_SEED=s` runs one.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{NaiveDateTime, TimeDelta};
use serde_json::{Value, json};
use sluice::{
    cloud::{
        compute::{Compute, FakeCompute, StepState, is_cluster_id},
        probe::FakeProbe,
    },
    definition::read_definition,
    engine::{
        Engine, Limits, Status,
        clock::{ManualClock, Random, SeededRandom},
        pipelines::ActivateOptions,
        tasks::TaskStatus,
    },
    store::{
        Range, RunStore, keys,
        memory::MemoryStore,
        records::{self, AttemptKind, AttemptRecord, ErrorDetails, InstanceRecord, Stored},
    },
    time::parse_datetime,
};
use support::{faults::FaultyStore, machines::boot};

const PIPELINE: &str = "df-resource-sim";
const DEFAULT_SEEDS: u64 = 300;
/// Faults stop this many minutes after activation; the run goes on calmly after.
const CHAOS_MINUTES: i64 = 180;
/// The run ends this many minutes after activation at the latest.
const HORIZON_MINUTES: i64 = 720;

type Store = FaultyStore<MemoryStore>;

struct Dice(SeededRandom);

impl Dice {
    fn below(&self, bound: u64) -> u64 {
        if bound == 0 { 0 } else { self.0.next_u64() % bound }
    }

    fn chance(&self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn range(&self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }
}

/// A resource of the generated pipeline and the work on it.
struct ResourceModel {
    id: String,
    cluster: bool,
    maximum_retries: u64,
    work: Vec<String>,
}

fn generate(dice: &Dice) -> (Value, Vec<ResourceModel>) {
    let mut objects = vec![
        json!({"id": "Default", "scheduleType": "ondemand", "failureAndRerunMode": "cascade",
                                  "retryDelay": "2 minutes", "role": "DataPipelineDefaultRole",
                                  "resourceRole": "DataPipelineDefaultResourceRole"}),
    ];
    let mut models = Vec::new();
    for resource in 0..dice.range(1, 3) {
        let id = format!("R{resource}");
        let cluster = dice.chance(40);
        let maximum_retries = dice.range(0, 3);
        let mut object = json!({"id": id, "maximumRetries": maximum_retries.to_string()});
        if cluster {
            object["type"] = json!("EmrCluster");
            object["releaseLabel"] = json!("emr-6.15.0");
            if dice.chance(50) {
                object["coreInstanceBidPrice"] = json!("0.30");
            }
        } else {
            object["type"] = json!("Ec2Resource");
            object["imageId"] = json!("ami-0sim");
            if dice.chance(60) {
                object["spotBidPrice"] = json!("0.05");
            }
        }
        if dice.chance(40) {
            object["useOnDemandOnLastAttempt"] = json!("true");
        }
        if dice.chance(30) {
            object["actionOnResourceFailure"] = json!("retrynone");
        }
        if dice.chance(20) {
            object["actionOnTaskFailure"] = json!("terminate");
        }
        if dice.chance(30) {
            object["initTimeout"] = json!("10 minutes");
        }
        if dice.chance(20) {
            object["terminateAfter"] = json!("2 hours");
        }
        objects.push(object);
        let mut work = Vec::new();
        for index in 0..dice.range(1, 3) {
            let work_id = format!("W{resource}_{index}");
            let mut activity = if cluster && dice.chance(50) {
                json!({"id": work_id, "type": "EmrActivity", "step": "command-runner.jar,echo,hello"})
            } else {
                json!({"id": work_id, "type": "ShellCommandActivity", "command": "true"})
            };
            activity["runsOn"] = json!({"ref": id});
            activity["maximumRetries"] = json!(dice.range(0, 2).to_string());
            if index > 0 && dice.chance(50) {
                activity["dependsOn"] = json!({"ref": format!("W{resource}_{}", index - 1)});
            }
            objects.push(activity);
            work.push(work_id);
        }
        models.push(ResourceModel {
            id,
            cluster,
            maximum_retries,
            work,
        });
    }
    (json!({ "objects": objects }), models)
}

/// A Task Runner on one EC2 machine: the task it holds, when it ends and how.
#[derive(Default)]
struct MachineRunner {
    held: Option<(String, NaiveDateTime, TaskStatus)>,
}

#[derive(Default, Debug)]
struct Tally {
    counts: BTreeMap<&'static str, u64>,
}

impl Tally {
    fn bump(&mut self, what: &'static str) {
        *self.counts.entry(what).or_default() += 1;
    }
}

struct Run {
    violations: Vec<String>,
    tally: Tally,
}

async fn simulate(seed: u64) -> Run {
    let dice = Dice(SeededRandom::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5151));
    let (definition, models) = generate(&dice);
    let start = parse_datetime("2026-03-01T00:00:00").unwrap_or_default();
    let store: Store = FaultyStore::new(MemoryStore::new(), seed ^ 0xFA17);
    let clock = ManualClock::new(start);
    let probe = FakeProbe::new();
    let randoms = [SeededRandom::new(seed ^ 0xA), SeededRandom::new(seed ^ 0xB)];
    let compute = FakeCompute::new();
    let limits = Limits {
        recheck: TimeDelta::minutes(1),
        ..Limits::default()
    };
    let engines = [
        Engine::new(&store, &clock, &randoms[0], &probe).with_limits(limits.clone()),
        Engine::new(&store, &clock, &randoms[1], &probe).with_limits(limits),
    ];
    let mut run = Run {
        violations: Vec::new(),
        tally: Tally::default(),
    };
    let setup = async {
        let engine = &engines[0];
        let read = read_definition(&definition.to_string()).map_err(|error| format!("{error:?}"))?;
        engine
            .create_pipeline(PIPELINE, PIPELINE, PIPELINE)
            .await
            .map_err(|error| error.to_string())?;
        let report = engine
            .put_definition(PIPELINE, &read.definition)
            .await
            .map_err(|error| error.to_string())?;
        if report.errored() {
            return Err(format!("{:?}", report.errors));
        }
        engine
            .activate(PIPELINE, &ActivateOptions::default())
            .await
            .map_err(|error| error.to_string())
    };
    if let Err(error) = setup.await {
        run.violations.push(format!("setup: {error}"));
        return run;
    }
    let boot = boot();
    let mut runners: BTreeMap<String, MachineRunner> = BTreeMap::new();
    // Every machine and cluster seen alive, with the worker group it serves.
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut slow_boot = false;
    let mut doubled_before: BTreeSet<String> = BTreeSet::new();
    for minute in 0..HORIZON_MINUTES {
        let chaos = minute < CHAOS_MINUTES;
        let now = start + TimeDelta::minutes(minute);
        if chaos {
            if dice.chance(8) {
                compute.fail_spot(&["InsufficientInstanceCapacity"]);
                run.tally.bump("spot failures injected");
            }
            if dice.chance(3) {
                compute.fail_on_demand(&["InsufficientInstanceCapacity"]);
                run.tally.bump("on-demand failures injected");
            }
            if !slow_boot && dice.chance(5) {
                compute.boot_slowly();
                slow_boot = true;
            }
            if let Ok(alive) = compute.alive_tagged().await
                && !alive.is_empty()
                && dice.chance(6)
            {
                let victim = &alive[dice.below(alive.len() as u64) as usize].machine.id;
                compute.interrupt(victim);
                run.tally.bump("interruptions");
            }
        }
        // A machine that boots slowly boots within a few minutes.
        if dice.chance(40) {
            compute.boot_all();
        }
        // EMR moves the steps on.
        for (_, step) in compute.added_steps() {
            let end = if chaos {
                match dice.below(100) {
                    0..=29 => Some(StepState::Completed),
                    30..=33 => Some(StepState::Failed {
                        reason: "exit status 1".to_owned(),
                    }),
                    34 => Some(StepState::Interrupted),
                    35 => Some(StepState::Cancelled),
                    _ => None,
                }
            } else {
                dice.chance(50).then_some(StepState::Completed)
            };
            if let Some(state) = end {
                end_pending_step(&compute, &step.name, &state).await;
            }
        }
        // The stages, each perhaps crashing between two writes, the resources stage
        // perhaps twice at once.
        for stage in 0..6 {
            let crash = chaos && dice.chance(6);
            if crash {
                store.crash_after(dice.below(3) as u32);
                run.tally.bump("crashes");
            }
            let engine = &engines[dice.below(2) as usize];
            let result = match stage {
                0 => engine.schedule_step().await,
                1 => engine.dependencies_step().await,
                2 if chaos && dice.chance(10) => {
                    run.tally.bump("resources stages at once");
                    let (first, second) = tokio::join!(
                        engines[0].resources_step(&compute, &boot),
                        engines[1].resources_step(&compute, &boot)
                    );
                    trace(minute, "resources (first of two)", &first);
                    second
                }
                2 => engine.resources_step(&compute, &boot).await,
                3 => engine.reap_step().await,
                4 => engine.watch_step().await,
                _ => engine.sweep_step(&compute).await,
            };
            trace(
                minute,
                ["schedule", "dependencies", "resources", "reap", "watch", "sweep"][stage],
                &result,
            );
            if crash {
                store.reset();
            }
        }
        // The runners of EC2 machines that run.
        let alive = compute.alive_tagged().await.unwrap_or_default();
        let mut live_groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for tagged in &alive {
            let group = tagged.worker_group.clone().unwrap_or_default();
            seen.insert(tagged.machine.id.clone(), group.clone());
            live_groups.entry(group).or_default().push(tagged.machine.id.clone());
        }
        // Two stages that launch at once and both crash before recording leave two
        // machines (EMR has no client token) until the next look adopts one and the
        // sweep ends the other: never longer.
        let doubled: BTreeSet<String> = live_groups
            .iter()
            .filter(|(_, machines)| machines.len() > 1)
            .map(|(group, _)| group.clone())
            .collect();
        for group in doubled.intersection(&doubled_before) {
            run.violations.push(format!(
                "minutes {} and {minute}: two live machines for {group}: {:?}",
                minute - 1,
                live_groups.get(group)
            ));
        }
        if !doubled.is_empty() {
            run.tally.bump("minutes with a doubled launch");
        }
        doubled_before = doubled;
        let engine = &engines[0];
        let lost: Vec<String> = runners
            .keys()
            .filter(|id| !alive.iter().any(|tagged| &tagged.machine.id == *id))
            .cloned()
            .collect();
        for id in lost {
            // The machine is gone; its runner sometimes reports late anyway.
            if let Some((task, _, status)) = runners.remove(&id).and_then(|runner| runner.held)
                && dice.chance(30)
            {
                run.tally.bump("late reports from lost machines");
                let _ = engine
                    .set_task_status(&task, None, status, ErrorDetails::default())
                    .await;
            }
        }
        for tagged in alive.iter().filter(|tagged| !is_cluster_id(&tagged.machine.id)) {
            if compute.machine_state(&tagged.machine.id) != sluice::cloud::compute::MachineState::Running {
                continue;
            }
            let Some(group) = tagged.worker_group.as_deref() else {
                continue;
            };
            let runner = runners.entry(tagged.machine.id.clone()).or_default();
            match runner.held.take() {
                Some((task, ends_at, status)) if now >= ends_at => {
                    let error = ErrorDetails {
                        error_id: (status == TaskStatus::Failed).then(|| "Sim.Failed".to_owned()),
                        ..ErrorDetails::default()
                    };
                    let _ = engine.set_task_status(&task, None, status, error).await;
                }
                Some((task, ends_at, status)) => {
                    if engine.report_task_progress(&task, None).await.unwrap_or(false) {
                        continue;
                    }
                    runner.held = Some((task, ends_at, status));
                }
                None => {
                    if let Ok(Some(task)) = engine.poll_for_task(group, Some(&tagged.machine.id)).await {
                        let status = if chaos && dice.chance(15) {
                            TaskStatus::Failed
                        } else {
                            TaskStatus::Finished
                        };
                        let ends_at = now + TimeDelta::minutes(dice.range(1, 20) as i64);
                        runner.held = Some((task.task_id, ends_at, status));
                    }
                }
            }
        }
        clock.advance(TimeDelta::minutes(1));
        if !chaos && minute % 10 == 0 && all_ended(store.inner(), &models, start).await {
            break;
        }
    }
    check_end(&store, &compute, &models, start, &seen, &mut run).await;
    run
}

/// With `RESOURCE_SIM_TRACE=1`, what a stage did.
fn trace(minute: i64, stage: &str, result: &Result<sluice::engine::StepReport, sluice::engine::EngineError>) {
    if std::env::var("RESOURCE_SIM_TRACE").is_ok_and(|value| value == "1") {
        match result {
            Ok(report) => eprintln!("minute {minute} {stage}: {report:?}"),
            Err(error) => eprintln!("minute {minute} {stage}: error {error}"),
        }
    }
}

/// Moves a step that has not ended yet to `state`.
async fn end_pending_step(compute: &FakeCompute, name: &str, state: &StepState) {
    for tagged in compute.alive_tagged().await.unwrap_or_default() {
        if !is_cluster_id(&tagged.machine.id) {
            continue;
        }
        let steps = compute.steps(&tagged.machine.id).await.unwrap_or_default();
        if steps.iter().any(|step| step.name == name && !step.state.is_over()) {
            compute.end_steps(name, state, Some("s3://logs/step/stderr.gz"));
        }
    }
}

async fn instance(store: &MemoryStore, component: &str, start: NaiveDateTime) -> Option<InstanceRecord> {
    records::get::<InstanceRecord, _>(store, &keys::instance(PIPELINE, component, start))
        .await
        .ok()
        .flatten()
        .map(|stored| stored.record)
}

async fn attempts(store: &MemoryStore, component: &str) -> Vec<AttemptRecord> {
    store
        .query(
            &keys::pipeline_pk(PIPELINE),
            &Range::prefix(&format!("ATT#{component}#"), 1000),
        )
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(|item| Stored::<AttemptRecord>::from_item(item).ok())
        .map(|stored| stored.record)
        .collect()
}

async fn all_ended(store: &MemoryStore, models: &[ResourceModel], start: NaiveDateTime) -> bool {
    for model in models {
        for component in std::iter::once(&model.id).chain(&model.work) {
            if !instance(store, component, start)
                .await
                .is_some_and(|instance| instance.status.is_terminal())
            {
                return false;
            }
        }
    }
    true
}

async fn check_end(
    store: &Store,
    compute: &FakeCompute,
    models: &[ResourceModel],
    start: NaiveDateTime,
    seen: &BTreeMap<String, String>,
    run: &mut Run,
) {
    let store = store.inner();
    for model in models {
        let resource = instance(store, &model.id, start).await;
        let group = resource.as_ref().and_then(|resource| resource.worker_group.clone());
        for component in std::iter::once(&model.id).chain(&model.work) {
            match instance(store, component, start).await {
                Some(instance) if instance.status.is_terminal() => {
                    run.tally.bump(match instance.status {
                        Status::Finished => "instances FINISHED",
                        Status::TimedOut => "instances TIMEDOUT",
                        _ => "instances FAILED or CANCELED",
                    });
                }
                Some(instance) => run.violations.push(format!(
                    "{component} has not ended: {} waiting on {:?}",
                    instance.status, instance.waiting_on
                )),
                None => run.violations.push(format!("{component} has no instance")),
            }
        }
        // Launches within what the retries allow.
        let launched = attempts(store, &model.id)
            .await
            .iter()
            .filter(|attempt| attempt.kind == AttemptKind::Resource && attempt.machine.is_some())
            .count() as u64;
        run.tally
            .counts
            .entry("resource attempts with a machine")
            .and_modify(|count| *count += launched)
            .or_insert(launched);
        if launched > model.maximum_retries + 1 {
            run.violations.push(format!(
                "{} had {launched} machines, more than its {} retries allow",
                model.id, model.maximum_retries
            ));
        }
        for work in &model.work {
            let attempts = attempts(store, work).await;
            let finished: Vec<&AttemptRecord> = attempts
                .iter()
                .filter(|attempt| attempt.status == Status::Finished)
                .collect();
            if finished.len() > 1 {
                run.violations.push(format!("{work} FINISHED {} times", finished.len()));
            }
            for attempt in finished {
                let host = attempt.hostname.clone().unwrap_or_default();
                let served = seen.get(&host);
                if served.is_none() || served != group.as_ref() {
                    run.violations.push(format!(
                        "{} FINISHED on {host}, which is not a machine of {} ({served:?} vs {group:?})",
                        attempt.id(),
                        model.id
                    ));
                }
                if model.cluster != is_cluster_id(&host) {
                    run.violations.push(format!("{} ran on {host}", attempt.id()));
                }
            }
        }
    }
    let alive = compute.alive();
    if !alive.is_empty() {
        run.violations.push(format!("left running: {alive:?}"));
    }
    let mut names = BTreeSet::new();
    for (_, step) in compute.added_steps() {
        if !names.insert(step.name.clone()) {
            run.violations.push(format!("step {} submitted twice", step.name));
        }
    }
    run.tally.counts.insert("steps", names.len() as u64);
    run.tally.counts.insert(
        "launches",
        (compute.launches().len() + compute.cluster_launches().len()) as u64,
    );
}

fn seeds() -> Vec<u64> {
    if let Some(seed) = std::env::var("RESOURCE_SIM_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
    {
        return vec![seed];
    }
    let count = std::env::var("RESOURCE_SIM_SEEDS")
        .ok()
        .and_then(|count| count.parse().ok())
        .unwrap_or(DEFAULT_SEEDS);
    (0..count).collect()
}

#[test]
fn resources_survive_capacity_failures_interruptions_step_failures_and_crashes() {
    let mut failures = Vec::new();
    let mut totals: BTreeMap<&'static str, u64> = BTreeMap::new();
    for seed in seeds() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        let run = runtime.block_on(simulate(seed));
        for (what, count) in run.tally.counts {
            *totals.entry(what).or_default() += count;
        }
        if !run.violations.is_empty() {
            failures.push(format!("seed {seed}:\n  {}", run.violations.join("\n  ")));
        }
    }
    eprintln!("resource simulation: {totals:?}");
    // The faults happened: the invariants were tested under them.
    for what in [
        "interruptions",
        "crashes",
        "spot failures injected",
        "resources stages at once",
        "steps",
        "instances FINISHED",
        "late reports from lost machines",
    ] {
        assert!(totals.get(what).copied().unwrap_or(0) > 0, "no {what} in {totals:?}");
    }
    assert!(
        failures.is_empty(),
        "{} seeds broke an invariant:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
