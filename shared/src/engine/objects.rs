//! Reads of a pipeline's objects as the API shows them (DescribeObjects, QueryObjects,
//! EvaluateExpression, and the objects PollForTask hands a runner): components as defined,
//! instances `@<c>_<start>` and attempts `@<c>_<start>_Attempt=<n>` with their runtime
//! (`@`) fields.
//!
//! These read the pipeline's history, so they are for operators and runners, never for a
//! stage step.

use std::collections::BTreeSet;

use chrono::NaiveDateTime;

use super::{Engine, EngineError, StepReport, operator::parse_instance_id, parse_all};
use crate::{
    cloud::probe::Probe,
    definition::{
        Definition,
        context::{ObjectContext, Runtime, Scope},
        inherit::Inheritance,
        model::{FieldValue, SECRET_MASK, is_secret},
        parameters::{ParameterValues, ValueSource},
        shape::{ApiField, ApiPipelineObject},
        validate::validate,
    },
    engine::{status::Status, tasks::TaskAssignment},
    expr::{Evaluated, Value},
    store::{
        Item, Key, Range, RunStore, keys,
        records::{
            AttemptKind, AttemptRecord, ComponentRecord, DefinitionRecord, InstanceRecord, PipelineRecord, Stored,
        },
    },
    time::{format_datetime, parse_datetime_lenient},
};

/// Which kind of object: `@sphere`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sphere {
    Component,
    Instance,
    Attempt,
}

impl Sphere {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Component => "COMPONENT",
            Self::Instance => "INSTANCE",
            Self::Attempt => "ATTEMPT",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Component, Self::Instance, Self::Attempt]
            .into_iter()
            .find(|sphere| sphere.as_str() == text)
    }
}

/// One QueryObjects selector's operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    /// The field has one of these values.
    Eq(Vec<String>),
    /// The field refers to one of these ids.
    RefEq(Vec<String>),
    /// A time field at or before this.
    Le(NaiveDateTime),
    /// A time field at or after this.
    Ge(NaiveDateTime),
    /// A time field between these, both included.
    Between(NaiveDateTime, NaiveDateTime),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub field_name: String,
    pub operator: Operator,
}

/// One object as described: its sphere and the fields the API shows.
#[derive(Debug, Clone, PartialEq)]
struct Described {
    sphere: Sphere,
    object: ApiPipelineObject,
}

impl Described {
    fn matches(&self, selector: &Selector) -> bool {
        let values: Vec<(&str, bool)> = if selector.field_name == "name" {
            vec![(self.object.name.as_str(), false)]
        } else {
            self.object
                .fields
                .iter()
                .filter(|field| field.key == selector.field_name)
                .filter_map(|field| match (&field.string_value, &field.ref_value) {
                    (Some(text), _) => Some((text.as_str(), false)),
                    (None, Some(id)) => Some((id.as_str(), true)),
                    (None, None) => None,
                })
                .collect()
        };
        let time = |text: &str| parse_datetime_lenient(text).ok();
        values.iter().any(|(value, is_ref)| match &selector.operator {
            Operator::Eq(wanted) => wanted.iter().any(|wanted| wanted == value),
            Operator::RefEq(wanted) => *is_ref && wanted.iter().any(|wanted| wanted == value),
            Operator::Le(bound) => time(value).is_some_and(|at| at <= *bound),
            Operator::Ge(bound) => time(value).is_some_and(|at| at >= *bound),
            Operator::Between(low, high) => time(value).is_some_and(|at| *low <= at && at <= *high),
        })
    }
}

/// The definition objects are described and evaluated against, with its parameters.
struct Source {
    definition: Definition,
    parameters: ParameterValues,
}

fn string_field(key: &str, value: impl Into<String>) -> ApiField {
    ApiField {
        key: key.to_owned(),
        string_value: Some(value.into()),
        ref_value: None,
    }
}

fn ref_field(key: &str, id: impl Into<String>) -> ApiField {
    ApiField {
        key: key.to_owned(),
        string_value: None,
        ref_value: Some(id.into()),
    }
}

fn time_field(key: &str, at: Option<NaiveDateTime>) -> Option<ApiField> {
    at.map(|at| string_field(key, format_datetime(at)))
}

fn datetime(at: NaiveDateTime) -> Value {
    Value::DateTime(at.and_utc().with_timezone(&chrono_tz::UTC))
}

/// Masks the value of every secret (`*`) field.
pub fn mask_secret_fields(fields: &mut [ApiField]) {
    for field in fields {
        if is_secret(&field.key) && field.string_value.is_some() {
            field.string_value = Some(SECRET_MASK.to_owned());
        }
    }
}

/// `@<component>_<start>_Attempt=<n>` split into its parts.
pub fn parse_attempt_id(id: &str) -> Option<(String, NaiveDateTime, u32)> {
    let (instance, number) = id.rsplit_once("_Attempt=")?;
    let number = number.parse::<u32>().ok()?;
    let (component, start) = parse_instance_id(instance).ok()?;
    Some((component, start, number))
}

impl Source {
    /// The object's fields: as defined (own fields only, `inherited` false), or with
    /// inherited ones too, evaluated for `runtime` when `evaluate` is set. A value that
    /// cannot be evaluated is shown as written.
    fn fields(
        &self,
        object: &str,
        runtime: &Runtime,
        node: Option<(&str, &Runtime)>,
        inherited: bool,
        evaluate: bool,
        mask: bool,
    ) -> Vec<ApiField> {
        let (inheritance, _) = Inheritance::new(&self.definition);
        let Some(index) = inheritance.index(object) else {
            return Vec::new();
        };
        let scope = Scope {
            inheritance: &inheritance,
            parameters: &self.parameters,
            mask_secrets: mask,
        };
        let mut context = ObjectContext::new(scope, Some(index), runtime);
        if let Some((node, node_runtime)) = node
            && let Some(node) = inheritance.index(node)
        {
            context = context.with_node(node, node_runtime);
        }
        let pairs: Vec<(&str, &FieldValue)> = if inherited {
            inheritance
                .keys(index)
                .into_iter()
                .flat_map(|key| {
                    inheritance
                        .values(index, key)
                        .into_iter()
                        .map(move |value| (key, value))
                })
                .collect()
        } else {
            inheritance
                .object(index)
                .fields
                .iter()
                .map(|field| (field.key.as_str(), &field.value))
                .collect()
        };
        let mut fields = Vec::new();
        for (key, value) in pairs {
            match value {
                FieldValue::Ref(id) => fields.push(ref_field(key, id.clone())),
                FieldValue::String(text) if evaluate => match context.evaluate(text) {
                    Ok(Evaluated::One(value)) => fields.push(string_field(key, value)),
                    Ok(Evaluated::Many(values)) => {
                        fields.extend(values.into_iter().map(|value| string_field(key, value)));
                    }
                    Err(_) => fields.push(string_field(key, text.clone())),
                },
                FieldValue::String(text) => fields.push(string_field(key, text.clone())),
            }
        }
        if mask {
            mask_secret_fields(&mut fields);
        }
        fields
    }

    fn name_of(&self, object: &str) -> String {
        self.definition
            .object(object)
            .map_or_else(|| object.to_owned(), |found| found.name.clone())
    }
}

/// The runtime fields an expression of an instance sees.
fn instance_runtime(instance: &InstanceRecord, pipeline_id: &str) -> Runtime {
    let mut runtime = Runtime::scheduled(instance.scheduled_start, Some(instance.scheduled_end));
    runtime.set("@status", Value::Str(instance.status.as_str().to_owned()));
    runtime.set("@pipelineId", Value::Str(pipeline_id.to_owned()));
    runtime.set("@id", Value::Str(instance.id()));
    if let Some(started) = instance.started_at {
        runtime.set("@actualStartTime", datetime(started));
    }
    if let Some(ended) = instance.ended_at {
        runtime.set("@actualEndTime", datetime(ended));
    }
    runtime
}

/// The runtime fields of an instance as an alarm sees it through `node`: its times and
/// status, and its error fields always set (empty when there is no error), so that an
/// alarm's `#{node.errorMessage}` never fails to evaluate.
pub(crate) fn alarm_runtime(instance: &InstanceRecord, pipeline_id: &str) -> Runtime {
    let mut runtime = instance_runtime(instance, pipeline_id);
    let text = |value: &Option<String>| Value::Str(value.clone().unwrap_or_default());
    runtime.set("errorId", text(&instance.error.error_id));
    runtime.set("errorMessage", text(&instance.error.error_message));
    runtime.set("errorStackTrace", text(&instance.error.error_stack_trace));
    runtime.set("@attemptCount", Value::Str(instance.attempts.to_string()));
    if let Some(upstream) = &instance.cascade_failed_on {
        runtime.set("@cascadeFailedOn", Value::Str(upstream.clone()));
    }
    runtime
}

fn instance_runtime_fields(instance: &InstanceRecord) -> Vec<ApiField> {
    let mut fields = vec![
        string_field("@sphere", Sphere::Instance.as_str()),
        ref_field("@componentParent", instance.component_id.clone()),
        string_field("@status", instance.status.as_str()),
        string_field("@scheduledStartTime", format_datetime(instance.scheduled_start)),
        string_field("@scheduledEndTime", format_datetime(instance.scheduled_end)),
        string_field("@attemptCount", instance.attempts.to_string()),
    ];
    fields.extend(time_field("@actualStartTime", instance.started_at));
    fields.extend(time_field("@actualEndTime", instance.ended_at));
    if instance.attempts > 0 {
        fields.push(ref_field(
            "@headAttempt",
            crate::schedule::attempt_id(&instance.component_id, instance.scheduled_start, instance.attempts),
        ));
    }
    fields.extend(
        instance
            .waiting_on
            .iter()
            .map(|waiting| string_field("@waitingOn", waiting.clone())),
    );
    if let Some(upstream) = &instance.cascade_failed_on {
        fields.push(string_field("@cascadeFailedOn", upstream.clone()));
    }
    if let Some(group) = &instance.worker_group {
        fields.push(string_field("@workerGroup", group.clone()));
    }
    error_fields(&instance.error, &mut fields);
    fields
}

fn error_fields(error: &crate::store::records::ErrorDetails, fields: &mut Vec<ApiField>) {
    if let Some(id) = &error.error_id {
        fields.push(string_field("errorId", id.clone()));
    }
    if let Some(message) = &error.error_message {
        fields.push(string_field("errorMessage", message.clone()));
    }
    if let Some(trace) = &error.error_stack_trace {
        fields.push(string_field("errorStackTrace", trace.clone()));
    }
}

fn attempt_fields(attempt: &AttemptRecord, instance: Option<&InstanceRecord>) -> Vec<ApiField> {
    // A precondition check belongs to the precondition, on behalf of the gated instance.
    let component = match &attempt.kind {
        AttemptKind::Activity | AttemptKind::Resource => attempt.component_id.clone(),
        AttemptKind::Precondition { precondition_id } => precondition_id.clone(),
    };
    let mut fields = vec![
        string_field("@sphere", Sphere::Attempt.as_str()),
        ref_field("@componentParent", component),
        ref_field(
            "@instanceParent",
            crate::schedule::instance_id(&attempt.component_id, attempt.scheduled_start),
        ),
        string_field("@status", attempt.status.as_str()),
        string_field("@scheduledStartTime", format_datetime(attempt.scheduled_start)),
        string_field("@attemptNumber", attempt.number.to_string()),
        string_field("workerGroup", attempt.worker_group.clone()),
    ];
    fields.extend(instance.and_then(|instance| time_field("@scheduledEndTime", Some(instance.scheduled_end))));
    fields.extend(time_field("@actualStartTime", attempt.claimed_at));
    fields.extend(time_field("@actualEndTime", attempt.ended_at));
    fields.extend(time_field("reportProgressTime", attempt.last_progress_at));
    if let Some(hostname) = &attempt.hostname {
        fields.push(string_field("hostname", hostname.clone()));
    }
    error_fields(&attempt.error, &mut fields);
    fields.extend(attempt.reported_fields.iter().cloned());
    fields
}

fn component_object(
    described: &Source,
    object: &crate::definition::model::PipelineObject,
    pipeline_id: &str,
    paused: bool,
    evaluate: bool,
) -> Described {
    let mut fields = described.fields(&object.id, &Runtime::default(), None, false, evaluate, true);
    fields.push(string_field("@sphere", Sphere::Component.as_str()));
    fields.push(string_field("@pipelineId", pipeline_id));
    if paused {
        fields.push(string_field("@status", "PAUSED"));
    }
    Described {
        sphere: Sphere::Component,
        object: ApiPipelineObject {
            id: object.id.clone(),
            name: object.name.clone(),
            fields,
        },
    }
}

fn instance_object(described: &Source, instance: &InstanceRecord, pipeline_id: &str, evaluate: bool) -> Described {
    let runtime = instance_runtime(instance, pipeline_id);
    let mut fields = described.fields(&instance.component_id, &runtime, None, true, evaluate, true);
    fields.retain(|field| !field.key.starts_with('@'));
    fields.extend(instance_runtime_fields(instance));
    let id = instance.id();
    Described {
        sphere: Sphere::Instance,
        object: ApiPipelineObject {
            name: id.clone(),
            id,
            fields,
        },
    }
}

fn attempt_object(attempt: &AttemptRecord, instance: Option<&InstanceRecord>) -> Described {
    let id = attempt.id();
    Described {
        sphere: Sphere::Attempt,
        object: ApiPipelineObject {
            name: id.clone(),
            id,
            fields: attempt_fields(attempt, instance),
        },
    }
}

impl<S: RunStore, P: Probe> Engine<'_, S, P> {
    /// The definition objects are shown from: the active one, else the latest saved.
    async fn described_definition(&self, pipeline: &PipelineRecord) -> Result<Option<Source>, EngineError> {
        if pipeline.active_version.is_some()
            && let Ok(compiled) = self.compiled(pipeline).await
        {
            return Ok(Some(Source {
                definition: compiled.definition.clone(),
                parameters: compiled.parameters.clone(),
            }));
        }
        let Some(version) = pipeline.latest_version.or(pipeline.active_version) else {
            return Ok(None);
        };
        let Some(record) =
            crate::store::records::get::<DefinitionRecord, _>(self.store, &keys::definition(&pipeline.id, version))
                .await?
        else {
            return Ok(None);
        };
        let opened = self.opened_definition(&pipeline.id, record.record.definition).await?;
        let definition =
            Definition::try_from(opened).map_err(|error| EngineError::InvalidRequest(error.to_string()))?;
        let parameters = validate(
            &definition,
            &[ValueSource {
                name: "the definition's values",
                values: &definition.values,
            }],
        )
        .parameters;
        Ok(Some(Source { definition, parameters }))
    }

    async fn instances_of(&self, pipeline: &str) -> Result<Vec<InstanceRecord>, EngineError> {
        let items = self
            .store
            .query(&keys::pipeline_pk(pipeline), &Range::prefix("INST#", usize::MAX))
            .await?;
        Ok(parse_all::<InstanceRecord>(&items, &mut StepReport::default())
            .into_iter()
            .map(|stored| stored.record)
            .collect())
    }

    /// Every attempt of the pipeline: activities' attempts, then runners' precondition checks.
    async fn attempts_of(&self, pipeline: &str) -> Result<Vec<AttemptRecord>, EngineError> {
        let mut attempts = Vec::new();
        for prefix in [keys::ATTEMPT_PREFIX, keys::PRECONDITION_ATTEMPT_PREFIX] {
            let items = self
                .store
                .query(&keys::pipeline_pk(pipeline), &Range::prefix(prefix, usize::MAX))
                .await?;
            attempts.extend(
                parse_all::<AttemptRecord>(&items, &mut StepReport::default())
                    .into_iter()
                    .map(|stored| stored.record),
            );
        }
        Ok(attempts)
    }

    /// Every object of the pipeline, components first (in definition order), then
    /// instances and attempts (in key order). Secrets are masked.
    async fn all_objects(&self, pipeline_id: &str, evaluate: bool) -> Result<Vec<Described>, EngineError> {
        let pipeline = self.pipeline(pipeline_id).await?.record;
        let Some(described) = self.described_definition(&pipeline).await? else {
            return Ok(Vec::new());
        };
        let components = self.components(pipeline_id).await?;
        let paused: BTreeSet<String> = components
            .iter()
            .filter(|component| component.record.paused)
            .map(|component| component.record.component_id.clone())
            .collect();
        let mut objects = Vec::new();
        for object in &described.definition.objects {
            objects.push(component_object(
                &described,
                object,
                pipeline_id,
                paused.contains(&object.id),
                evaluate,
            ));
        }
        let instances = self.instances_of(pipeline_id).await?;
        for instance in &instances {
            objects.push(instance_object(&described, instance, pipeline_id, evaluate));
        }
        for attempt in self.attempts_of(pipeline_id).await? {
            let instance = instances.iter().find(|instance| {
                instance.component_id == attempt.component_id && instance.scheduled_start == attempt.scheduled_start
            });
            objects.push(attempt_object(&attempt, instance));
        }
        Ok(objects)
    }

    /// The keys that hold what an id names: an attempt and its instance, an instance, or
    /// a component's record (for a component id; harmless for any other).
    fn object_keys(pipeline_id: &str, id: &str) -> Vec<Key> {
        if let Some((component, start, number)) = parse_attempt_id(id) {
            return vec![
                keys::attempt(pipeline_id, &component, start, number),
                keys::instance(pipeline_id, &component, start),
            ];
        }
        if id.starts_with('@') {
            return match parse_instance_id(id) {
                Ok((component, start)) => vec![keys::instance(pipeline_id, &component, start)],
                Err(_) => Vec::new(),
            };
        }
        vec![keys::component(pipeline_id, id)]
    }

    /// The object an id names, from the items its keys read (`None`: not found so).
    fn one_object(
        described: &Source,
        pipeline_id: &str,
        id: &str,
        items: &[Option<Item>],
        evaluate: bool,
    ) -> Result<Option<ApiPipelineObject>, EngineError> {
        let decode = |index: usize| items.get(index).and_then(Option::as_ref);
        if parse_attempt_id(id).is_some() {
            let Some(attempt) = decode(0) else {
                return Ok(None);
            };
            let attempt = Stored::<AttemptRecord>::from_item(attempt)?.record;
            let instance = decode(1)
                .map(Stored::<InstanceRecord>::from_item)
                .transpose()?
                .map(|stored| stored.record);
            return Ok(Some(attempt_object(&attempt, instance.as_ref()).object));
        }
        if id.starts_with('@') {
            let Some(instance) = decode(0) else {
                return Ok(None);
            };
            let instance = Stored::<InstanceRecord>::from_item(instance)?.record;
            return Ok(Some(
                instance_object(described, &instance, pipeline_id, evaluate).object,
            ));
        }
        let Some(object) = described.definition.objects.iter().find(|object| object.id == id) else {
            return Ok(None);
        };
        let paused = decode(0)
            .map(Stored::<ComponentRecord>::from_item)
            .transpose()?
            .is_some_and(|component| component.record.paused);
        Ok(Some(
            component_object(described, object, pipeline_id, paused, evaluate).object,
        ))
    }

    /// DescribeObjects: the objects with these ids, in the order asked; an id the
    /// pipeline does not have is ObjectNotFound. The pipeline and every record the ids name
    /// are read in one request; only an id not found so (a precondition check's attempt)
    /// is looked for among all objects.
    pub async fn describe_objects(
        &self,
        pipeline_id: &str,
        ids: &[String],
        evaluate: bool,
    ) -> Result<Vec<ApiPipelineObject>, EngineError> {
        let per_id: Vec<Vec<Key>> = ids.iter().map(|id| Self::object_keys(pipeline_id, id)).collect();
        let mut wanted = vec![keys::pipeline(pipeline_id)];
        wanted.extend(per_id.iter().flatten().cloned());
        let mut items = self.store.get_many(&wanted).await?.into_iter();
        let pipeline = items
            .next()
            .flatten()
            .map(|item| Stored::<PipelineRecord>::from_item(&item))
            .transpose()?
            .ok_or_else(|| EngineError::PipelineNotFound(pipeline_id.to_owned()))?
            .record;
        let not_found = |id: &String| EngineError::ObjectNotFound {
            pipeline: pipeline_id.to_owned(),
            object: id.clone(),
        };
        let Some(described) = self.described_definition(&pipeline).await? else {
            return match ids.first() {
                Some(id) => Err(not_found(id)),
                None => Ok(Vec::new()),
            };
        };
        let mut found = Vec::with_capacity(ids.len());
        let mut all: Option<Vec<Described>> = None;
        for (id, keys) in ids.iter().zip(&per_id) {
            let read: Vec<Option<Item>> = items.by_ref().take(keys.len()).collect();
            if let Some(object) = Self::one_object(&described, pipeline_id, id, &read, evaluate)? {
                found.push(object);
                continue;
            }
            if all.is_none() {
                all = Some(self.all_objects(pipeline_id, evaluate).await?);
            }
            let object = all
                .iter()
                .flatten()
                .find(|candidate| &candidate.object.id == id)
                .map(|candidate| candidate.object.clone())
                .ok_or_else(|| not_found(id))?;
            found.push(object);
        }
        Ok(found)
    }

    /// QueryObjects: the ids of the objects of `sphere` that match every selector.
    pub async fn query_objects(
        &self,
        pipeline_id: &str,
        sphere: Sphere,
        selectors: &[Selector],
    ) -> Result<Vec<String>, EngineError> {
        Ok(self
            .all_objects(pipeline_id, false)
            .await?
            .into_iter()
            .filter(|described| described.sphere == sphere)
            .filter(|described| selectors.iter().all(|selector| described.matches(selector)))
            .map(|described| described.object.id)
            .collect())
    }

    /// EvaluateExpression: `expression` evaluated in the context of a component, or of an
    /// instance or attempt with its runtime fields. Secrets print masked.
    pub async fn evaluate_expression(
        &self,
        pipeline_id: &str,
        object_id: &str,
        expression: &str,
    ) -> Result<String, EngineError> {
        let pipeline = self.pipeline(pipeline_id).await?.record;
        let not_found = || EngineError::ObjectNotFound {
            pipeline: pipeline_id.to_owned(),
            object: object_id.to_owned(),
        };
        let described = self.described_definition(&pipeline).await?.ok_or_else(not_found)?;
        let run = match parse_attempt_id(object_id) {
            Some((component, start, _)) => Some((component, start)),
            None if object_id.starts_with('@') => parse_instance_id(object_id).ok(),
            None => None,
        };
        let (component, runtime) = match run {
            Some((component, start)) => {
                let instance = super::timers::instance(self.store, pipeline_id, &component, start)
                    .await?
                    .ok_or_else(not_found)?;
                let runtime = instance_runtime(&instance.record, pipeline_id);
                (component, runtime)
            }
            None => (object_id.to_owned(), Runtime::default()),
        };
        let (inheritance, _) = Inheritance::new(&described.definition);
        let index = inheritance.index(&component).ok_or_else(not_found)?;
        let scope = Scope {
            inheritance: &inheritance,
            parameters: &described.parameters,
            mask_secrets: true,
        };
        match ObjectContext::new(scope, Some(index), &runtime).evaluate(expression) {
            Ok(Evaluated::One(value)) => Ok(value),
            Ok(Evaluated::Many(values)) => Ok(values.join(",")),
            Err(error) => Err(EngineError::InvalidRequest(format!(
                "the expression cannot be evaluated in the context of \"{object_id}\": {error}"
            ))),
        }
    }

    /// The objects a runner receives with a task: the attempt, the object whose work it
    /// is (evaluated for the run), and every object it refers to, directly or not, also
    /// evaluated. Secrets are NOT masked: the runner needs them to do the work.
    pub async fn task_objects(&self, task: &TaskAssignment) -> Result<Vec<ApiPipelineObject>, EngineError> {
        let pipeline = self.pipeline(&task.pipeline_id).await?.record;
        let compiled = self.compiled(&pipeline).await?;
        let described = Source {
            definition: compiled.definition.clone(),
            parameters: compiled.parameters.clone(),
        };
        let (component, start) = parse_instance_id(&task.instance_id)?;
        let instance = super::timers::instance(self.store, &task.pipeline_id, &component, start)
            .await?
            .map(|stored| stored.record);
        let runtime = instance
            .as_ref()
            .map(|instance| instance_runtime(instance, &task.pipeline_id))
            .unwrap_or_else(|| Runtime::scheduled(start, None));
        let node = match task.kind {
            AttemptKind::Precondition { .. } => Some((component.as_str(), &runtime)),
            AttemptKind::Activity | AttemptKind::Resource => None,
        };
        let mut objects = Vec::new();
        let mut attempt = vec![
            string_field("@sphere", Sphere::Attempt.as_str()),
            ref_field("@componentParent", task.object_id.clone()),
            ref_field("@instanceParent", task.instance_id.clone()),
            string_field("@status", Status::Running.as_str()),
            string_field("@scheduledStartTime", format_datetime(start)),
            string_field("@pipelineId", task.pipeline_id.clone()),
        ];
        attempt.extend(
            instance
                .as_ref()
                .and_then(|instance| time_field("@scheduledEndTime", Some(instance.scheduled_end))),
        );
        objects.push(ApiPipelineObject {
            id: task.attempt_id.clone(),
            name: task.attempt_id.clone(),
            fields: attempt,
        });
        let mut seen = BTreeSet::new();
        let mut pending = vec![task.object_id.clone()];
        while let Some(id) = pending.pop() {
            if !seen.insert(id.clone()) || described.definition.object(&id).is_none() {
                continue;
            }
            let node = if id == task.object_id { node } else { None };
            let fields = described.fields(&id, &runtime, node, true, true, false);
            pending.extend(fields.iter().filter_map(|field| field.ref_value.clone()));
            objects.push(ApiPipelineObject {
                name: described.name_of(&id),
                id,
                fields,
            });
        }
        Ok(objects)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_datetime;

    #[test]
    fn attempt_ids_parse_as_aws_writes_them() {
        let (component, start, number) = parse_attempt_id("@Copy_Logs_2026-01-31T06:00:00_Attempt=3").unwrap();
        assert_eq!(component, "Copy_Logs");
        assert_eq!(start, parse_datetime("2026-01-31T06:00:00").unwrap());
        assert_eq!(number, 3);
        for bad in [
            "@Copy_2026-01-31T06:00:00",
            "@Copy_2026-01-31T06:00:00_Attempt=x",
            "Attempt=1",
        ] {
            assert!(parse_attempt_id(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn spheres_read_back_what_they_print() {
        for sphere in [Sphere::Component, Sphere::Instance, Sphere::Attempt] {
            assert_eq!(Sphere::parse(sphere.as_str()), Some(sphere));
        }
        assert_eq!(Sphere::parse("PIPELINE"), None);
    }

    #[test]
    fn a_selector_on_a_missing_field_matches_nothing() {
        let described = Described {
            sphere: Sphere::Instance,
            object: ApiPipelineObject {
                id: "@A_2026-01-01T00:00:00".into(),
                name: "@A_2026-01-01T00:00:00".into(),
                fields: vec![
                    string_field("@status", "FINISHED"),
                    ref_field("@componentParent", "A"),
                    string_field("@scheduledStartTime", "2026-01-01T00:00:00"),
                ],
            },
        };
        let select = |field: &str, operator: Operator| Selector {
            field_name: field.into(),
            operator,
        };
        assert!(described.matches(&select("@status", Operator::Eq(vec!["FINISHED".into()]))));
        assert!(!described.matches(&select("@actualEndTime", Operator::Eq(vec!["FINISHED".into()]))));
        assert!(described.matches(&select("@componentParent", Operator::RefEq(vec!["A".into()]))));
        assert!(!described.matches(&select("@status", Operator::RefEq(vec!["FINISHED".into()]))));
        let day = parse_datetime("2026-01-01T00:00:00").unwrap();
        assert!(described.matches(&select("@scheduledStartTime", Operator::Between(day, day))));
        assert!(!described.matches(&select(
            "@scheduledStartTime",
            Operator::Ge(day + chrono::TimeDelta::seconds(1))
        )));
        assert!(described.matches(&select("name", Operator::Eq(vec!["@A_2026-01-01T00:00:00".into()]))));
    }
}
