//! Reads of a pipeline's objects as the API shows them (DescribeObjects, QueryObjects,
//! EvaluateExpression, and the objects PollForTask hands a runner): components as defined,
//! instances `@<c>_<start>` and attempts `@<c>_<start>_Attempt=<n>` with their runtime
//! (`@`) fields.
//!
//! Each call reads what it answers, not the pipeline's history: DescribeObjects reads the
//! records its ids name, QueryObjects one page of records in key order (see [`Marker`] for
//! where a page starts), and neither is for a stage step.

use std::{
    collections::{BTreeSet, HashMap},
    fmt,
};

use chrono::NaiveDateTime;

use super::{Engine, EngineError, operator::parse_instance_id};
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
        Item, Key, MAX_SK_BYTES, Range, RunStore, StoreError, keys,
        records::{
            AttemptKind, AttemptRecord, ComponentRecord, DefinitionRecord, InstanceRecord, PipelineRecord, Stored,
        },
    },
    time::{format_datetime, parse_datetime_lenient},
};

/// The most objects one QueryObjects call examines. A selector the key order cannot serve
/// (`@status`, a field's value) reads at most this many records before the call answers
/// with the matches found so far and a marker to go on from.
pub const EXAMINED_PER_CALL: usize = 1000;

/// How many records one store read of a QueryObjects with selectors asks for (at least):
/// a page of 100 matches among thousands of records takes few reads.
const FILTERED_READ: usize = 250;

/// Where the next page of QueryObjects starts: the API's `marker`, which clients pass back
/// as given (its text is Sluice's own and may change).
///
/// | marker | sphere | the next page starts |
/// | --- | --- | --- |
/// | `c:<n>` | COMPONENT | at the definition's object number `n` (from 0), in definition order |
/// | `i:<rest>` | INSTANCE | after the instance record whose sort key is `INST#<rest>` |
/// | `a:<rest>` | ATTEMPT | after the attempt record `ATT#<rest>` |
/// | `p:<rest>` | ATTEMPT | after the precondition check `PRECHECK#<rest>` |
///
/// A record's place is its sort key (DynamoDB's `ExclusiveStartKey` within the pipeline's
/// partition), so a page costs the same however much history comes before it. Sort keys
/// are at most 1,024 bytes and lose their prefix here, so every marker fits the API's
/// 1,024-byte member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marker {
    /// The index of the next definition object.
    Component(usize),
    /// The sort key of the last record examined.
    After(String),
}

/// The marker tags of records, by their sort-key prefix.
const RECORD_TAGS: [(&str, &str); 3] = [
    ("i", "INST#"),
    ("a", keys::ATTEMPT_PREFIX),
    ("p", keys::PRECONDITION_ATTEMPT_PREFIX),
];

impl Marker {
    /// Reads a marker this service gave; `None` for any other text.
    pub fn parse(text: &str) -> Option<Self> {
        let (tag, rest) = text.split_once(':')?;
        if tag == "c" {
            return rest.parse().ok().map(Self::Component);
        }
        RECORD_TAGS
            .iter()
            .find(|(known, _)| *known == tag)
            .map(|(_, prefix)| Self::After(format!("{prefix}{rest}")))
    }

    /// Whether a page of `sphere` can start here.
    fn fits(&self, sphere: Sphere) -> bool {
        match self {
            Self::Component(_) => sphere == Sphere::Component,
            Self::After(sort_key) => match sphere {
                Sphere::Component => false,
                Sphere::Instance => sort_key.starts_with("INST#"),
                Sphere::Attempt => keys::is_attempt(sort_key),
            },
        }
    }
}

impl fmt::Display for Marker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Component(next) => write!(f, "c:{next}"),
            // Pages are only of records with these prefixes; any other key prints bare, and
            // reads back as no marker at all.
            Self::After(sort_key) => match RECORD_TAGS
                .iter()
                .find_map(|(tag, prefix)| Some((*tag, sort_key.strip_prefix(prefix)?)))
            {
                Some((tag, rest)) => write!(f, "{tag}:{rest}"),
                None => f.write_str(sort_key),
            },
        }
    }
}

/// One page of QueryObjects: the ids, and where the next page starts if there may be more.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectsPage {
    pub ids: Vec<String>,
    pub next: Option<Marker>,
}

/// The sort-key ranges (`from`, `to`) that hold a sphere's records, ascending and
/// disjoint: the instances, or an attempt sphere's activity attempts and then its
/// precondition checks. A `@componentParent` selector narrows instances and activity
/// attempts to its components' keys; precondition checks are keyed by the instance they
/// gate, not by their precondition, so they are all read.
fn record_ranges(sphere: Sphere, selectors: &[Selector]) -> Vec<(String, String)> {
    let parents = selectors
        .iter()
        .find_map(|selector| match (selector.field_name.as_str(), &selector.operator) {
            ("@componentParent", Operator::Eq(values) | Operator::RefEq(values)) => Some(values),
            _ => None,
        });
    let prefixes = |kind: &str| -> BTreeSet<String> {
        match parents {
            Some(components) => components
                .iter()
                .map(|component| format!("{kind}{}#", keys::escape(component)))
                .collect(),
            None => BTreeSet::from([kind.to_owned()]),
        }
    };
    let mut prefixes: Vec<String> = match sphere {
        Sphere::Instance => prefixes("INST#").into_iter().collect(),
        _ => prefixes(keys::ATTEMPT_PREFIX).into_iter().collect(),
    };
    if sphere == Sphere::Attempt {
        prefixes.push(keys::PRECONDITION_ATTEMPT_PREFIX.to_owned());
    }
    prefixes
        .into_iter()
        .map(|prefix| {
            let to = format!("{prefix}\u{10FFFF}");
            (prefix, to)
        })
        .collect()
}

/// Reads one partition's records over ascending, disjoint sort-key ranges a chunk at a
/// time, each chunk after the last record of the one before: DynamoDB's `Limit` and
/// `ExclusiveStartKey`, over the port's ranges.
struct Scan {
    pk: String,
    ranges: Vec<(String, String)>,
    /// The range being read.
    index: usize,
    /// The sort key of the last record read, or the marker's: reading goes on after it.
    after: Option<String>,
}

impl Scan {
    fn new(pk: String, ranges: Vec<(String, String)>, after: Option<String>) -> Self {
        Self {
            pk,
            ranges,
            index: 0,
            after,
        }
    }

    /// At most `want` more records; none once every range is read.
    async fn next<S: RunStore>(&mut self, store: &S, want: usize) -> Result<Vec<Item>, StoreError> {
        while let Some((from, to)) = self.ranges.get(self.index) {
            let after = self.after.clone().filter(|after| after >= from);
            if after.as_ref().is_some_and(|after| after >= to) {
                self.index += 1;
                continue;
            }
            // The first sort key after `after` is `after` and a NUL; a key that would then be
            // longer than DynamoDB takes is read from itself, and dropped.
            let (start, inclusive) = match &after {
                Some(after) if after.len() < MAX_SK_BYTES => (format!("{after}\0"), None),
                Some(after) => (after.clone(), Some(after)),
                None => (from.clone(), None),
            };
            let range = Range {
                from: start,
                to: to.clone(),
                limit: want.saturating_add(usize::from(inclusive.is_some())),
            };
            let mut items = store.query(&self.pk, &range).await?;
            if items.len() < range.limit {
                self.index += 1;
            }
            if let Some(after) = inclusive {
                items.retain(|item| &item.key.sk != after);
            }
            items.truncate(want);
            if let Some(last) = items.last() {
                self.after = Some(last.key.sk.clone());
                return Ok(items);
            }
        }
        Ok(Vec::new())
    }
}

/// The key of the instance an attempt belongs to (the gated one, for a precondition check).
fn instance_key_of(attempt: &AttemptRecord) -> Key {
    keys::instance(&attempt.pipeline_id, &attempt.component_id, attempt.scheduled_start)
}

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

/// A source with its inheritance worked out once, for every object one call shows.
struct Shown<'s> {
    source: &'s Source,
    inheritance: Inheritance<'s>,
}

impl<'s> Shown<'s> {
    fn new(source: &'s Source) -> Self {
        let (inheritance, _) = Inheritance::new(&source.definition);
        Self { source, inheritance }
    }

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
        let inheritance = &self.inheritance;
        let Some(index) = inheritance.index(object) else {
            return Vec::new();
        };
        let scope = Scope {
            inheritance,
            parameters: &self.source.parameters,
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
        self.source
            .definition
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
    described: &Shown<'_>,
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

/// An instance as shown: its component's fields (inherited, evaluated for the run when
/// `evaluate` is set) and its runtime fields; without `described`, the runtime fields only
/// (enough for a query that selects on nothing else).
fn instance_object(
    described: Option<&Shown<'_>>,
    instance: &InstanceRecord,
    pipeline_id: &str,
    evaluate: bool,
) -> Described {
    let mut fields = match described {
        Some(described) => {
            let runtime = instance_runtime(instance, pipeline_id);
            let mut fields = described.fields(&instance.component_id, &runtime, None, true, evaluate, true);
            fields.retain(|field| !field.key.starts_with('@'));
            fields
        }
        None => Vec::new(),
    };
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

    /// The keys of a precondition check whose id is `@<component>.<precondition>_<start>_Attempt=<n>`
    /// and of the instance it gates, for each way of splitting the id at a `.` into two
    /// objects of the definition (ids may hold dots themselves).
    fn precondition_check_keys(described: &Shown<'_>, pipeline_id: &str, id: &str) -> Vec<[Key; 2]> {
        let Some((both, start, number)) = parse_attempt_id(id) else {
            return Vec::new();
        };
        let definition = &described.source.definition;
        both.match_indices('.')
            .map(|(at, _)| (&both[..at], &both[at + 1..]))
            .filter(|(component, precondition)| {
                definition.object(component).is_some() && definition.object(precondition).is_some()
            })
            .map(|(component, precondition)| {
                [
                    keys::precondition_attempt(pipeline_id, component, start, precondition, number),
                    keys::instance(pipeline_id, component, start),
                ]
            })
            .collect()
    }

    /// The object an id names, from the items its keys read (`None`: not found so).
    fn one_object(
        described: &Shown<'_>,
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
                instance_object(Some(described), &instance, pipeline_id, evaluate).object,
            ));
        }
        let Some(object) = described
            .source
            .definition
            .objects
            .iter()
            .find(|object| object.id == id)
        else {
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
    /// are read in one request; a precondition check's attempt, whose id does not say where
    /// its component's id ends, in one more. Nothing else of the pipeline's history is read.
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
        let Some(source) = self.described_definition(&pipeline).await? else {
            return match ids.first() {
                Some(id) => Err(not_found(id)),
                None => Ok(Vec::new()),
            };
        };
        let described = Shown::new(&source);
        let mut found: Vec<Option<ApiPipelineObject>> = Vec::with_capacity(ids.len());
        for (id, keys) in ids.iter().zip(&per_id) {
            let read: Vec<Option<Item>> = items.by_ref().take(keys.len()).collect();
            found.push(Self::one_object(&described, pipeline_id, id, &read, evaluate)?);
        }
        // Ids not found so that may be precondition checks: their keys, read at once.
        let checks: Vec<(usize, Vec<[Key; 2]>)> = ids
            .iter()
            .enumerate()
            .filter(|(index, _)| found[*index].is_none())
            .map(|(index, id)| (index, Self::precondition_check_keys(&described, pipeline_id, id)))
            .filter(|(_, candidates)| !candidates.is_empty())
            .collect();
        let check_keys: Vec<Key> = checks.iter().flat_map(|(_, candidates)| candidates.concat()).collect();
        if !check_keys.is_empty() {
            let mut read = self.store.get_many(&check_keys).await?.into_iter();
            for (index, candidates) in &checks {
                for _ in candidates {
                    let pair: Vec<Option<Item>> = read.by_ref().take(2).collect();
                    if found[*index].is_none() && pair.first().is_some_and(Option::is_some) {
                        found[*index] = Self::one_object(&described, pipeline_id, &ids[*index], &pair, evaluate)?;
                    }
                }
            }
        }
        ids.iter()
            .zip(found)
            .map(|(id, object)| object.ok_or_else(|| not_found(id)))
            .collect()
    }

    /// QueryObjects: every id of the objects of `sphere` that match every selector, read
    /// page after page. For tests and operators; the API answers one page a call
    /// ([`Engine::query_objects_page`]).
    pub async fn query_objects(
        &self,
        pipeline_id: &str,
        sphere: Sphere,
        selectors: &[Selector],
    ) -> Result<Vec<String>, EngineError> {
        let mut ids = Vec::new();
        let mut marker = None;
        loop {
            let page = self
                .query_objects_page(pipeline_id, sphere, selectors, marker.as_ref(), EXAMINED_PER_CALL)
                .await?;
            ids.extend(page.ids);
            match page.next {
                Some(next) => marker = Some(next),
                None => return Ok(ids),
            }
        }
    }

    /// QueryObjects, one page: at most `limit` ids of the objects of `sphere` that match
    /// every selector, from where `after` says, and where the next page starts if there may
    /// be more. Instances and attempts are read in key order a chunk at a time (only the
    /// instances of the components a `@componentParent` selector names, when it names
    /// some); a call examines at most [`EXAMINED_PER_CALL`] objects, so a selector that
    /// matches few of many (`@status`) answers a short page, or none, with a marker to go on
    /// from. Components come in definition order.
    pub async fn query_objects_page(
        &self,
        pipeline_id: &str,
        sphere: Sphere,
        selectors: &[Selector],
        after: Option<&Marker>,
        limit: usize,
    ) -> Result<ObjectsPage, EngineError> {
        let limit = limit.max(1);
        let pipeline = self.pipeline(pipeline_id).await?.record;
        let wrong_marker = || {
            EngineError::InvalidRequest(format!(
                "the marker is not one this service gave for sphere {}; start again without one",
                sphere.as_str()
            ))
        };
        match (sphere, after) {
            (Sphere::Component, None) => self.component_page(&pipeline, selectors, 0, limit).await,
            (Sphere::Component, Some(Marker::Component(next))) => {
                self.component_page(&pipeline, selectors, *next, limit).await
            }
            (Sphere::Instance | Sphere::Attempt, None) => {
                self.record_page(&pipeline, sphere, selectors, None, limit).await
            }
            (Sphere::Instance | Sphere::Attempt, Some(marker @ Marker::After(sort_key))) if marker.fits(sphere) => {
                self.record_page(&pipeline, sphere, selectors, Some(sort_key), limit)
                    .await
            }
            _ => Err(wrong_marker()),
        }
    }

    /// A page of the definition's objects, from the `first`-th.
    async fn component_page(
        &self,
        pipeline: &PipelineRecord,
        selectors: &[Selector],
        first: usize,
        limit: usize,
    ) -> Result<ObjectsPage, EngineError> {
        let Some(source) = self.described_definition(pipeline).await? else {
            return Ok(ObjectsPage::default());
        };
        let objects = &source.definition.objects;
        if selectors.is_empty() {
            let end = first.saturating_add(limit).min(objects.len());
            let ids = objects
                .get(first..end)
                .unwrap_or_default()
                .iter()
                .map(|object| object.id.clone())
                .collect();
            return Ok(ObjectsPage {
                ids,
                next: (end < objects.len()).then_some(Marker::Component(end)),
            });
        }
        // Only a selector on @status needs the components' records (which are paused).
        let paused: BTreeSet<String> = if selectors.iter().any(|selector| selector.field_name == "@status") {
            self.components(&pipeline.id)
                .await?
                .into_iter()
                .filter(|component| component.record.paused)
                .map(|component| component.record.component_id)
                .collect()
        } else {
            BTreeSet::new()
        };
        let described = Shown::new(&source);
        let mut ids = Vec::new();
        for (index, object) in objects.iter().enumerate().skip(first) {
            if ids.len() == limit || index - first == EXAMINED_PER_CALL {
                return Ok(ObjectsPage {
                    ids,
                    next: Some(Marker::Component(index)),
                });
            }
            let shown = component_object(&described, object, &pipeline.id, paused.contains(&object.id), false);
            if selectors.iter().all(|selector| shown.matches(selector)) {
                ids.push(object.id.clone());
            }
        }
        Ok(ObjectsPage { ids, next: None })
    }

    /// A page of instance or attempt records, after the sort key `after`.
    async fn record_page(
        &self,
        pipeline: &PipelineRecord,
        sphere: Sphere,
        selectors: &[Selector],
        after: Option<&str>,
        limit: usize,
    ) -> Result<ObjectsPage, EngineError> {
        // The definition's fields are read only for a selector on one of them (not a
        // runtime `@` field, nor the name, which is the id); an attempt's instance only for
        // its @scheduledEndTime.
        let source = if sphere == Sphere::Instance
            && selectors
                .iter()
                .any(|selector| !selector.field_name.starts_with('@') && selector.field_name != "name")
        {
            match self.described_definition(pipeline).await? {
                Some(source) => Some(source),
                None => return Ok(ObjectsPage::default()),
            }
        } else {
            None
        };
        let described = source.as_ref().map(Shown::new);
        let join_instances = sphere == Sphere::Attempt
            && selectors
                .iter()
                .any(|selector| selector.field_name == "@scheduledEndTime");
        let mut scan = Scan::new(
            keys::pipeline_pk(&pipeline.id),
            record_ranges(sphere, selectors),
            after.map(str::to_owned),
        );
        let mut ids = Vec::new();
        let mut examined = 0;
        let mut last = after.map(str::to_owned);
        loop {
            // One more than the page can take: whether there is more is then known.
            let room = (limit - ids.len()).min(EXAMINED_PER_CALL - examined);
            let want = if room == 0 || selectors.is_empty() {
                room
            } else {
                room.max(FILTERED_READ).min(EXAMINED_PER_CALL - examined)
            };
            let chunk = scan.next(self.store, want + 1).await?;
            if chunk.is_empty() {
                return Ok(ObjectsPage { ids, next: None });
            }
            let instances = if join_instances {
                self.instances_of_attempts(&chunk).await?
            } else {
                HashMap::new()
            };
            for item in &chunk {
                if ids.len() == limit || examined == EXAMINED_PER_CALL {
                    return Ok(ObjectsPage {
                        ids,
                        next: last.map(Marker::After),
                    });
                }
                examined += 1;
                last = Some(item.key.sk.clone());
                let shown = match sphere {
                    Sphere::Instance => match Stored::<InstanceRecord>::from_item(item) {
                        Ok(instance) => instance_object(described.as_ref(), &instance.record, &pipeline.id, false),
                        Err(_) => continue,
                    },
                    _ => match Stored::<AttemptRecord>::from_item(item) {
                        Ok(attempt) => {
                            let instance = instances.get(&instance_key_of(&attempt.record));
                            attempt_object(&attempt.record, instance)
                        }
                        Err(_) => continue,
                    },
                };
                if selectors.iter().all(|selector| shown.matches(selector)) {
                    ids.push(shown.object.id);
                }
            }
        }
    }

    /// The instances of the attempts among `items`, each read once, in one request.
    async fn instances_of_attempts(&self, items: &[Item]) -> Result<HashMap<Key, InstanceRecord>, EngineError> {
        let wanted: BTreeSet<Key> = items
            .iter()
            .filter_map(|item| Stored::<AttemptRecord>::from_item(item).ok())
            .map(|attempt| instance_key_of(&attempt.record))
            .collect();
        let wanted: Vec<Key> = wanted.into_iter().collect();
        let read = self.store.get_many(&wanted).await?;
        Ok(wanted
            .into_iter()
            .zip(read)
            .filter_map(|(key, item)| {
                let instance = Stored::<InstanceRecord>::from_item(&item?).ok()?;
                Some((key, instance.record))
            })
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
        let source = Source {
            definition: compiled.definition.clone(),
            parameters: compiled.parameters.clone(),
        };
        let described = Shown::new(&source);
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
            if !seen.insert(id.clone()) || source.definition.object(&id).is_none() {
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
    fn markers_read_back_what_they_print_and_fit_the_api_member() {
        let markers = [
            Marker::Component(0),
            Marker::Component(4_999),
            Marker::After("INST#Copy#2026-01-01T00:00:00".into()),
            Marker::After("ATT#Copy#2026-01-01T00:00:00#0002".into()),
            Marker::After("PRECHECK#Copy#2026-01-01T00:00:00#Ready#0001".into()),
        ];
        for marker in markers {
            assert_eq!(Marker::parse(&marker.to_string()), Some(marker.clone()), "{marker}");
        }
        assert_eq!(Marker::After("INST#a#b".into()).to_string(), "i:a#b");
        // The longest sort key a record can have still makes a marker the API takes back
        let longest = format!("ATT#{}", "a".repeat(MAX_SK_BYTES - 4));
        assert!(Marker::After(longest).to_string().len() <= 1024);
        for made_up in ["", "42", "x:1", "c:one", "c:-1"] {
            assert_eq!(Marker::parse(made_up), None, "{made_up}");
        }
    }

    #[test]
    fn a_component_parent_selector_narrows_the_ranges_read_to_its_components() {
        let parent = |values: &[&str]| Selector {
            field_name: "@componentParent".into(),
            operator: Operator::RefEq(values.iter().map(|value| (*value).to_owned()).collect()),
        };
        let froms = |sphere: Sphere, selectors: &[Selector]| -> Vec<String> {
            record_ranges(sphere, selectors)
                .into_iter()
                .map(|(from, _)| from)
                .collect()
        };
        assert_eq!(froms(Sphere::Instance, &[]), ["INST#"]);
        assert_eq!(froms(Sphere::Attempt, &[]), ["ATT#", "PRECHECK#"]);
        // In key order, each component once, its id escaped as keys escape it
        assert_eq!(
            froms(Sphere::Instance, &[parent(&["Load", "A#1", "Copy", "Load"])]),
            ["INST#A%231#", "INST#Copy#", "INST#Load#"]
        );
        // Precondition checks are keyed by the instance they gate: all are read
        assert_eq!(froms(Sphere::Attempt, &[parent(&["Copy"])]), ["ATT#Copy#", "PRECHECK#"]);
        // Ranges never overlap: no component's keys begin another's
        let ranges = record_ranges(Sphere::Instance, &[parent(&["a", "a.b", "ab"])]);
        for pair in ranges.windows(2) {
            assert!(pair[0].1 <= pair[1].0, "{pair:?}");
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
