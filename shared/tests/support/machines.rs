//! An engine on the in-memory store with the compute port's in-memory cloud, where
//! capacity errors, slow boots, spot interruptions and EMR step endings happen on cue: the
//! world of the resource and cluster tests.

use chrono::{NaiveDateTime, TimeDelta};
use serde_json::Value;
use sluice::{
    cloud::{compute::FakeCompute, probe::FakeProbe},
    definition::read_definition,
    engine::{
        Engine, EngineError, Limits,
        clock::{ManualClock, SeededRandom},
        pipelines::ActivateOptions,
        resources::Boot,
        tasks::TaskStatus,
    },
    store::{
        Range, RunStore, keys,
        memory::MemoryStore,
        records::{self, AttemptRecord, ErrorDetails, InstanceRecord, Stored},
    },
    time::parse_datetime,
};

pub const PIPELINE: &str = "df-box";
pub const START: &str = "2026-03-01T00:00:00";

pub fn at(text: &str) -> NaiveDateTime {
    parse_datetime(text).unwrap()
}

/// The error's message says `text`.
pub fn assert_says(error: &ErrorDetails, text: &str) {
    assert!(
        error.error_message.as_deref().unwrap_or_default().contains(text),
        "{text:?} not in {error:?}"
    );
}

pub fn boot() -> Boot {
    Boot {
        runner_binary_uri: Some("s3://sluice-deploy/sluice".to_owned()),
        api_url: Some("https://api.example".to_owned()),
        default_image_id: None,
        ..Boot::default()
    }
}

pub struct World {
    pub store: MemoryStore,
    pub clock: ManualClock,
    pub random: SeededRandom,
    pub probe: FakeProbe,
    pub compute: FakeCompute,
}

impl World {
    /// An engine with `definition` put and activated as pipeline [`PIPELINE`].
    pub async fn new(definition: Value) -> Self {
        let world = Self {
            store: MemoryStore::new(),
            clock: ManualClock::new(at(START)),
            random: SeededRandom::new(11),
            probe: FakeProbe::new(),
            compute: FakeCompute::new(),
        };
        let engine = world.engine();
        let definition = read_definition(&definition.to_string()).unwrap().definition;
        assert!(engine.create_pipeline(PIPELINE, PIPELINE, PIPELINE).await.unwrap());
        let report = engine.put_definition(PIPELINE, &definition).await.unwrap();
        assert!(!report.errored(), "{report:#?}");
        engine.activate(PIPELINE, &ActivateOptions::default()).await.unwrap();
        world
    }

    pub fn engine(&self) -> Engine<'_, MemoryStore, FakeProbe> {
        Engine::new(&self.store, &self.clock, &self.random, &self.probe).with_limits(Limits {
            recheck: TimeDelta::minutes(1),
            ..Limits::default()
        })
    }

    /// The minute tick: every stage, the resources stage included.
    pub async fn tick(&self) {
        let engine = self.engine();
        engine.schedule_step().await.unwrap();
        engine.dependencies_step().await.unwrap();
        engine.resources_step(&self.compute, &boot()).await.unwrap();
        engine.reap_step().await.unwrap();
        engine.watch_step().await.unwrap();
    }

    pub async fn advance(&self, by: TimeDelta) {
        self.clock.advance(by);
        self.tick().await;
    }

    /// `count` minute ticks.
    pub async fn minutes(&self, count: usize) {
        for _ in 0..count {
            self.advance(TimeDelta::minutes(1)).await;
        }
    }

    pub async fn instance(&self, component: &str) -> InstanceRecord {
        records::get::<InstanceRecord, _>(&self.store, &keys::instance(PIPELINE, component, self.start()))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no {component} instance"))
            .record
    }

    /// The on-demand run's start: the activation time.
    pub fn start(&self) -> NaiveDateTime {
        at(START)
    }

    pub async fn attempts(&self, component: &str) -> Vec<AttemptRecord> {
        self.store
            .query(
                &keys::pipeline_pk(PIPELINE),
                &Range::prefix(&format!("ATT#{component}#"), 100),
            )
            .await
            .unwrap()
            .iter()
            .map(|item| Stored::<AttemptRecord>::from_item(item).unwrap().record)
            .collect()
    }

    /// The worker group of `component`'s instance: what its resource's runner polls.
    pub async fn group_of(&self, component: &str) -> String {
        self.instance(component)
            .await
            .worker_group
            .unwrap_or_else(|| panic!("{component} has a worker group"))
    }

    /// The current machine (or cluster) of `resource`.
    pub async fn machine_of(&self, resource: &str) -> String {
        let attempts = self.attempts(resource).await;
        let last = attempts.last().unwrap_or_else(|| panic!("{resource} has an attempt"));
        last.machine.as_ref().expect("the attempt has a machine").id.clone()
    }

    /// A runner on the machine of `component`'s resource takes its task.
    pub async fn claim_for(&self, component: &str) -> String {
        let group = self.group_of(component).await;
        self.engine()
            .poll_for_task(&group, Some("ip-10-0-0-1"))
            .await
            .unwrap()
            .expect("a task for the machine's runner")
            .task_id
    }

    pub async fn finish(&self, task_id: &str) -> Result<(), EngineError> {
        self.engine()
            .set_task_status(task_id, None, TaskStatus::Finished, ErrorDetails::default())
            .await
    }
}
