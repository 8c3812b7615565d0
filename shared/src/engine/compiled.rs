//! An activated definition, compiled once into what the stages need: each runnable
//! component's schedule, dependencies, preconditions, runner, retry policy, timeouts and
//! actions, with parameters filled in.

use std::collections::HashMap;

use chrono::{NaiveDateTime, TimeDelta};
use thiserror::Error;

use super::retry::RetryPolicy;
use crate::{
    definition::{
        Definition, FieldValue,
        context::{ObjectContext, Runtime, Scope, static_value},
        inherit::{DEFAULT_ID, Inheritance},
        parameters::{ParameterValues, ValueSource, parameter_values},
        schema::{self, Category},
    },
    expr::Evaluated,
    plan::component_schedule,
    schedule::{Interval, Period, ScheduleSpec, ScheduleType, instance_id},
};

/// The worker group of activities that name no runner: Sluice runs them itself (a Sluice
/// extension; AWS required `runsOn` or `workerGroup`).
pub const SERVERLESS_WORKER_GROUP: &str = "sluice:serverless";

/// AWS: a runner must report progress at least every 15 minutes by default.
pub const DEFAULT_REPORT_PROGRESS_TIMEOUT: TimeDelta = TimeDelta::minutes(15);
/// AWS: a task not acknowledged within 2 minutes of assignment is offered again.
pub const ACKNOWLEDGE_WITHIN: TimeDelta = TimeDelta::minutes(2);
/// AWS's service default for maxActiveInstances of a scheduled component.
pub const DEFAULT_MAX_ACTIVE_INSTANCES: u32 = 5;
/// AWS: on-demand pipelines run one instance at a time unless told otherwise.
pub const DEFAULT_ON_DEMAND_MAX_ACTIVE_INSTANCES: u32 = 1;
/// AWS: at most 32 producer instances roll up into one consumer instance.
pub const MAX_ROLL_UP: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("object \"{object}\", field \"{field}\": {message}")]
pub struct CompileError {
    pub object: String,
    pub field: String,
    pub message: String,
}

/// How a precondition is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreconditionKind {
    /// Checked by Sluice itself through the probe port (S3, DynamoDB).
    System,
    /// Checked by a runner as a task (`ShellCommandPrecondition`, `Exists`).
    Runner,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PreconditionSpec {
    pub id: String,
    pub type_name: String,
    pub kind: PreconditionKind,
    /// `retryDelay` between checks; `maximumRetries` bounds failed runner attempts.
    pub retry: RetryPolicy,
    /// After this long unmet, the gated instance fails (and cascades).
    pub timeout: Option<Period>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ComponentSpec {
    pub id: String,
    pub type_name: String,
    pub category: Category,
    pub schedule: ScheduleSpec,
    pub schedule_type: ScheduleType,
    /// What each instance waits for: `dependsOn`, `input`, and for a data node the
    /// activities that produce it.
    pub upstream: Vec<String>,
    /// The reverse: who waits for this component.
    pub downstream: Vec<String>,
    pub preconditions: Vec<String>,
    pub worker_group: Option<String>,
    pub runs_on: Option<String>,
    pub retry: RetryPolicy,
    pub attempt_timeout: Option<Period>,
    pub report_progress_timeout: Option<Period>,
    pub late_after_timeout: Option<Period>,
    pub max_active_instances: u32,
    pub cascade: bool,
    pub on_success: Vec<String>,
    pub on_fail: Vec<String>,
    pub on_late: Vec<String>,
}

impl ComponentSpec {
    /// Whether its instances do work on a runner; data nodes finish once their
    /// dependencies are met, and resources are launched by the resources stage.
    pub fn needs_runner(&self) -> bool {
        self.category == Category::Activity
    }

    /// Its interval starting at `start`.
    pub fn interval_at(&self, start: NaiveDateTime) -> Interval {
        match self.schedule {
            ScheduleSpec::Periodic(schedule) => Interval {
                start,
                end: schedule.period.add_naive(start, 1).unwrap_or(start),
            },
            ScheduleSpec::OnDemand => Interval { start, end: start },
        }
    }
}

#[derive(Debug, Clone)]
pub struct CompiledPipeline {
    pub pipeline_id: String,
    pub version: u32,
    pub definition: Definition,
    pub parameters: ParameterValues,
    pub on_demand: bool,
    /// When the pipeline was first activated: `FIRST_ACTIVATION_DATE_TIME`.
    pub first_activated_at: NaiveDateTime,
    pub components: Vec<ComponentSpec>,
    pub preconditions: HashMap<String, PreconditionSpec>,
    by_id: HashMap<String, usize>,
}

impl CompiledPipeline {
    pub fn compile(
        pipeline_id: &str,
        version: u32,
        definition: Definition,
        activation_values: &[crate::definition::ParameterValue],
        first_activated_at: NaiveDateTime,
    ) -> Result<Self, CompileError> {
        let sources = [
            ValueSource {
                name: "the definition's values",
                values: &definition.values,
            },
            ValueSource {
                name: "the activation's values",
                values: activation_values,
            },
        ];
        let (parameters, _) = parameter_values(&definition, &sources);
        let (inheritance, _) = Inheritance::new(&definition);
        let scope = Scope {
            inheritance: &inheritance,
            parameters: &parameters,
            mask_secrets: false,
        };
        let on_demand = crate::plan::is_on_demand(&inheritance);
        let reader = Reader { scope };
        let mut components = Vec::new();
        let mut precondition_ids = Vec::new();
        for (index, object) in definition.objects.iter().enumerate() {
            let Some(spec) = inheritance.type_name(index).and_then(schema::type_spec) else {
                continue;
            };
            if object.id == DEFAULT_ID || !spec.category.is_runnable() {
                continue;
            }
            let (schedule, schedule_type) = component_schedule(scope, index).map_err(|error| CompileError {
                object: object.id.clone(),
                field: "schedule".into(),
                message: error.to_string(),
            })?;
            let refs = |key: &str| reader.refs(index, key);
            let preconditions = refs("precondition");
            precondition_ids.extend(preconditions.iter().cloned());
            let mut upstream = refs("dependsOn");
            upstream.extend(refs("input"));
            let default_max = if on_demand {
                DEFAULT_ON_DEMAND_MAX_ACTIVE_INSTANCES
            } else {
                DEFAULT_MAX_ACTIVE_INSTANCES
            };
            components.push(ComponentSpec {
                id: object.id.clone(),
                type_name: spec.name.to_owned(),
                category: spec.category,
                schedule,
                schedule_type,
                upstream,
                downstream: Vec::new(),
                preconditions,
                worker_group: reader.string(index, "workerGroup")?,
                runs_on: reader.refs(index, "runsOn").into_iter().next(),
                retry: reader.retry(index)?,
                attempt_timeout: reader.period(index, "attemptTimeout")?,
                report_progress_timeout: reader.period(index, "reportProgressTimeout")?,
                late_after_timeout: reader.period(index, "lateAfterTimeout")?,
                max_active_instances: reader.integer(index, "maxActiveInstances")?.unwrap_or(default_max),
                cascade: reader
                    .string(index, "failureAndRerunMode")?
                    .is_some_and(|mode| mode.eq_ignore_ascii_case("cascade")),
                on_success: refs("onSuccess"),
                on_fail: refs("onFail"),
                on_late: refs("onLateAction"),
            });
        }
        let by_id: HashMap<String, usize> = components
            .iter()
            .enumerate()
            .map(|(index, component)| (component.id.clone(), index))
            .collect();
        // An output waits for the activity that produces it.
        for index in 0..components.len() {
            let outputs = inheritance
                .index(&components[index].id)
                .map(|object| reader.refs(object, "output"));
            for output in outputs.unwrap_or_default() {
                if let Some(&node) = by_id.get(&output) {
                    let producer = components[index].id.clone();
                    components[node].upstream.push(producer);
                }
            }
        }
        for index in 0..components.len() {
            components[index].upstream.retain(|id| by_id.contains_key(id));
            components[index].upstream.dedup();
            for upstream in components[index].upstream.clone() {
                let id = components[index].id.clone();
                components[by_id[&upstream]].downstream.push(id);
            }
        }
        let mut preconditions = HashMap::new();
        for id in precondition_ids {
            let Some(index) = inheritance.index(&id) else { continue };
            let Some(spec) = inheritance.type_name(index).and_then(schema::type_spec) else {
                continue;
            };
            let kind = match spec.name {
                "ShellCommandPrecondition" | "Exists" => PreconditionKind::Runner,
                _ => PreconditionKind::System,
            };
            preconditions.insert(
                id.clone(),
                PreconditionSpec {
                    id,
                    type_name: spec.name.to_owned(),
                    kind,
                    retry: reader.retry(index)?,
                    timeout: reader.period(index, "preconditionTimeout")?,
                },
            );
        }
        Ok(Self {
            pipeline_id: pipeline_id.to_owned(),
            version,
            first_activated_at,
            on_demand,
            parameters,
            components,
            preconditions,
            by_id,
            definition,
        })
    }

    pub fn component(&self, id: &str) -> Option<&ComponentSpec> {
        self.by_id.get(id).map(|&index| &self.components[index])
    }

    /// The instances of `upstream` that an instance of a consumer over `interval` waits
    /// for (reference §3.6): those starting inside the interval (a roll-up, at most 32),
    /// or else the one whose interval contains its start. On-demand runs pair up by
    /// activation time.
    pub fn upstream_starts(&self, upstream: &ComponentSpec, interval: Interval) -> Vec<NaiveDateTime> {
        match upstream.schedule {
            ScheduleSpec::OnDemand => vec![interval.start],
            ScheduleSpec::Periodic(schedule) => {
                let intervals = schedule.intervals(self.first_activated_at);
                let within =
                    intervals
                        .clone()
                        .starting_within(interval.start, interval.end.max(interval.start), MAX_ROLL_UP);
                if within.is_empty() {
                    intervals
                        .containing(interval.start)
                        .map(|found| found.start)
                        .into_iter()
                        .collect()
                } else {
                    within.into_iter().map(|found| found.start).collect()
                }
            }
        }
    }

    /// The inverse of [`CompiledPipeline::upstream_starts`]: the instances of `downstream`
    /// that wait for the `upstream` instance over `interval`.
    pub fn downstream_starts(
        &self,
        downstream: &ComponentSpec,
        upstream_spec: &ComponentSpec,
        upstream: Interval,
    ) -> Vec<NaiveDateTime> {
        match downstream.schedule {
            ScheduleSpec::OnDemand => vec![upstream.start],
            ScheduleSpec::Periodic(_) => {
                let mut starts = self.overlapping_starts(downstream, upstream);
                // Keep only those that really wait for this upstream instance.
                starts.retain(|&start| {
                    let consumer = downstream.interval_at(start);
                    self.upstream_starts(upstream_spec, consumer).contains(&upstream.start)
                });
                starts
            }
        }
    }

    /// The starts of `component`'s intervals that overlap `interval`: the one containing
    /// its start and those starting within it (a roll-up, at most 32), sorted, each once.
    fn overlapping_starts(&self, component: &ComponentSpec, interval: Interval) -> Vec<NaiveDateTime> {
        let ScheduleSpec::Periodic(schedule) = component.schedule else {
            return vec![interval.start];
        };
        let intervals = schedule.intervals(self.first_activated_at);
        let mut starts: Vec<NaiveDateTime> = intervals
            .clone()
            .containing(interval.start)
            .map(|found| found.start)
            .into_iter()
            .collect();
        starts.extend(
            intervals
                .starting_within(interval.start, interval.end.max(interval.start), MAX_ROLL_UP)
                .into_iter()
                .map(|found| found.start),
        );
        starts.sort();
        starts.dedup();
        starts
    }

    /// The work that runs on the resource instance starting at `start`: each instance, as
    /// (component, start), of the components whose `runsOn` names the resource and whose
    /// worker group is that instance's.
    pub fn resource_dependants(&self, resource: &ComponentSpec, start: NaiveDateTime) -> Vec<(String, NaiveDateTime)> {
        let interval = resource.interval_at(start);
        let served = crate::schedule::resource_worker_group(&self.pipeline_id, &instance_id(&resource.id, start));
        let mut dependants = Vec::new();
        for component in self
            .components
            .iter()
            .filter(|component| component.runs_on.as_deref() == Some(resource.id.as_str()))
        {
            let mut starts = match component.schedule {
                ScheduleSpec::OnDemand => vec![start],
                ScheduleSpec::Periodic(_) => self.overlapping_starts(component, interval),
            };
            starts.retain(|&candidate| self.worker_group(component, candidate) == served);
            dependants.extend(starts.into_iter().map(|candidate| (component.id.clone(), candidate)));
        }
        dependants
    }

    /// The resource instance the instance of `component` at `start` runs on (`runsOn`):
    /// the resource and the start of its interval that contains `start`.
    pub fn resource_of(
        &self,
        component: &ComponentSpec,
        start: NaiveDateTime,
    ) -> Option<(&ComponentSpec, NaiveDateTime)> {
        let resource = component.runs_on.as_deref().and_then(|id| self.component(id))?;
        let resource_start = match resource.schedule {
            ScheduleSpec::OnDemand => Some(start),
            ScheduleSpec::Periodic(schedule) => schedule
                .intervals(self.first_activated_at)
                .containing(start)
                .map(|found| found.start),
        }?;
        Some((resource, resource_start))
    }

    /// The worker group an instance's attempts go to: the runner on its resource instance
    /// for `runsOn`, its `workerGroup`, or Sluice's own.
    pub fn worker_group(&self, component: &ComponentSpec, start: NaiveDateTime) -> String {
        if let Some((resource, resource_start)) = self.resource_of(component, start) {
            return crate::schedule::resource_worker_group(
                &self.pipeline_id,
                &instance_id(&resource.id, resource_start),
            );
        }
        component
            .worker_group
            .clone()
            .unwrap_or_else(|| SERVERLESS_WORKER_GROUP.to_owned())
    }

    /// Evaluates `object`'s field `key` for a run: in the context of the object with the
    /// given runtime fields, and `node` set when the object serves another (a
    /// precondition or an action). Secrets are not masked: this is for doing the work.
    pub fn evaluate_field(
        &self,
        object: &str,
        key: &str,
        runtime: &Runtime,
        node: Option<(&str, &Runtime)>,
    ) -> Result<Option<String>, String> {
        self.evaluate_field_masking(object, key, runtime, node, false)
    }

    /// [`CompiledPipeline::evaluate_field`], with secrets masked when `mask_secrets`: for
    /// text that leaves Sluice for people, such as an alarm's message.
    pub fn evaluate_field_masking(
        &self,
        object: &str,
        key: &str,
        runtime: &Runtime,
        node: Option<(&str, &Runtime)>,
        mask_secrets: bool,
    ) -> Result<Option<String>, String> {
        let (inheritance, _) = Inheritance::new(&self.definition);
        let scope = Scope {
            inheritance: &inheritance,
            parameters: &self.parameters,
            mask_secrets,
        };
        let index = inheritance
            .index(object)
            .ok_or_else(|| format!("no object \"{object}\""))?;
        let Some(FieldValue::String(text)) = inheritance.values(index, key).first().copied() else {
            return Ok(None);
        };
        let mut context = ObjectContext::new(scope, Some(index), runtime);
        if let Some((node, node_runtime)) = node {
            let node = inheritance.index(node).ok_or_else(|| format!("no object \"{node}\""))?;
            context = context.with_node(node, node_runtime);
        }
        match context.evaluate(text) {
            Ok(Evaluated::One(value)) => Ok(Some(value)),
            Ok(Evaluated::Many(values)) => Ok(values.into_iter().next()),
            Err(error) => Err(format!("object \"{object}\", field \"{key}\": {error}")),
        }
    }
}

impl CompiledPipeline {
    /// Every field of `object` evaluated for a run, as a runner receives them; references
    /// give the referenced object's id. A field that cannot be evaluated is left out.
    pub fn evaluated_fields(
        &self,
        object: &str,
        runtime: &Runtime,
        node: Option<(&str, &Runtime)>,
    ) -> Vec<(String, String)> {
        let (inheritance, _) = Inheritance::new(&self.definition);
        let scope = Scope {
            inheritance: &inheritance,
            parameters: &self.parameters,
            mask_secrets: false,
        };
        let Some(index) = inheritance.index(object) else {
            return Vec::new();
        };
        let mut context = ObjectContext::new(scope, Some(index), runtime);
        if let Some((node, node_runtime)) = node
            && let Some(node) = inheritance.index(node)
        {
            context = context.with_node(node, node_runtime);
        }
        let mut fields = Vec::new();
        for key in inheritance.keys(index) {
            for value in inheritance.values(index, key) {
                match value {
                    FieldValue::Ref(id) => fields.push((key.to_owned(), id.clone())),
                    FieldValue::String(text) => match context.evaluate(text) {
                        Ok(Evaluated::One(value)) => fields.push((key.to_owned(), value)),
                        Ok(Evaluated::Many(values)) => {
                            fields.extend(values.into_iter().map(|value| (key.to_owned(), value)));
                        }
                        Err(_) => {}
                    },
                }
            }
        }
        fields
    }
}

/// Reads fields the way compilation needs them: inherited, with parameters filled in.
struct Reader<'a> {
    scope: Scope<'a>,
}

impl Reader<'_> {
    fn error(&self, index: usize, key: &str, message: String) -> CompileError {
        CompileError {
            object: self.scope.inheritance.object(index).id.clone(),
            field: key.to_owned(),
            message,
        }
    }

    fn refs(&self, index: usize, key: &str) -> Vec<String> {
        self.scope
            .inheritance
            .values(index, key)
            .into_iter()
            .filter_map(FieldValue::as_ref_id)
            .map(str::to_owned)
            .collect()
    }

    fn string(&self, index: usize, key: &str) -> Result<Option<String>, CompileError> {
        match self.scope.inheritance.values(index, key).first() {
            None | Some(FieldValue::Ref(_)) => Ok(None),
            // A value crossing an evaluation bound says which bound; one that needs a run's
            // fields cannot be known before the pipeline runs.
            Some(FieldValue::String(text)) => match static_value(self.scope, Some(index), text) {
                Ok(Some(value)) => Ok(Some(value)),
                Ok(None) => Err(self.error(index, key, "cannot be evaluated before the pipeline runs".into())),
                Err(error) => Err(self.error(index, key, error.to_string())),
            },
        }
    }

    /// A wait such as `retryDelay`, at most [`MAX_PERIOD`](crate::schedule::MAX_PERIOD):
    /// checked again here since a parameter's value may arrive only at activation.
    fn period(&self, index: usize, key: &str) -> Result<Option<Period>, CompileError> {
        self.string(index, key)?
            .map(|text| Period::parse_within_limit(&text).map_err(|error| self.error(index, key, error.to_string())))
            .transpose()
    }

    fn integer(&self, index: usize, key: &str) -> Result<Option<u32>, CompileError> {
        self.string(index, key)?
            .map(|text| {
                text.trim()
                    .parse::<u32>()
                    .map_err(|_| self.error(index, key, format!("\"{text}\" is not a whole number")))
            })
            .transpose()
    }

    fn double(&self, index: usize, key: &str) -> Result<Option<f64>, CompileError> {
        self.string(index, key)?
            .map(|text| {
                text.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|value| value.is_finite())
                    .ok_or_else(|| self.error(index, key, format!("\"{text}\" is not a number")))
            })
            .transpose()
    }

    fn retry(&self, index: usize) -> Result<RetryPolicy, CompileError> {
        Ok(RetryPolicy {
            maximum_retries: self
                .integer(index, "maximumRetries")?
                .unwrap_or(RetryPolicy::DEFAULT_MAXIMUM_RETRIES),
            retry_delay: self
                .period(index, "retryDelay")?
                .map_or(RetryPolicy::DEFAULT_RETRY_DELAY, Period::as_delay),
            multiplier: self.double(index, "retryBackoffMultiplier")?.unwrap_or(1.0),
            maximum_delay: self.period(index, "retryMaximumDelay")?.map(Period::as_delay),
            jitter: self.double(index, "retryJitter")?.unwrap_or(0.0),
        })
    }
}

/// A period's end, counted from `from`.
pub fn after(from: NaiveDateTime, period: Period) -> NaiveDateTime {
    period.add_naive(from, 1).unwrap_or(NaiveDateTime::MAX)
}
