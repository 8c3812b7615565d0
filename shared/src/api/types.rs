//! Requests and responses of the 19 operations, member for member as botocore's model
//! (`datapipeline/2012-10-29/service-2.json`) names them.
//!
//! Requests are read by hand from the JSON so that every refusal names the member, with
//! its path (`pipelineObjects[2].fields[0].key`): a member of the wrong JSON type is a
//! `SerializationException`; a required member missing, a string outside the model's
//! length limits or with characters outside its pattern, or a list over its limit, is an
//! `InvalidRequestException`. Members the model does not have are ignored, as AWS's JSON
//! services do (an SDK newer than the model may send them). `null` counts as absent.
//!
//! Responses are serde structs; their `timestamp` members would be epoch seconds, and
//! object fields carry times as `YYYY-MM-DDTHH:MM:SS` strings.

use chrono::{DateTime, NaiveDateTime};
use serde::Serialize;
use serde_json::{Map, Value};

use super::error::ApiError;
use crate::{
    definition::shape::{
        ApiDefinition, ApiField, ApiParameterAttribute, ApiParameterObject, ApiParameterValue, ApiPipelineObject,
    },
    store::records::Tag,
};

/// The model's string shapes: length limits and whether its character pattern applies.
/// Lengths are counted in UTF-8 bytes, as AWS's documented limits are and as DynamoDB counts
/// the keys these values become: a multibyte character counts as its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub min: usize,
    pub max: usize,
    pub pattern: bool,
}

/// `id`: pipeline and object ids, names, hostnames.
pub const ID: Limit = Limit {
    min: 1,
    max: 1024,
    pattern: true,
};
/// `string`: markers, versions, worker groups, error ids.
pub const STRING: Limit = Limit {
    min: 0,
    max: 1024,
    pattern: true,
};
/// `fieldNameString`: field keys, refValues, parameter ids.
pub const FIELD_NAME: Limit = Limit {
    min: 1,
    max: 256,
    pattern: true,
};
/// `fieldStringValue` / `attributeValueString`.
pub const FIELD_VALUE: Limit = Limit {
    min: 0,
    max: 10240,
    pattern: true,
};
/// `longString`: expressions.
pub const LONG_STRING: Limit = Limit {
    min: 0,
    max: 20_971_520,
    pattern: true,
};
/// `taskId`.
pub const TASK_ID: Limit = Limit {
    min: 1,
    max: 2048,
    pattern: true,
};
/// `tagKey`.
pub const TAG_KEY: Limit = Limit {
    min: 1,
    max: 128,
    pattern: false,
};
/// `tagValue`.
pub const TAG_VALUE: Limit = Limit {
    min: 0,
    max: 256,
    pattern: false,
};
/// `errorMessage` has no limit in the model; Sluice keeps at most this much of one.
pub const ERROR_MESSAGE: Limit = Limit {
    min: 0,
    max: 10_000,
    pattern: false,
};

/// At most this many tags (`tagList`).
pub const MAX_TAGS: usize = 10;
/// At most this many ids per DescribePipelines or DescribeObjects call.
pub const MAX_DESCRIBE_IDS: usize = 25;
/// At most this many QueryObjects selectors.
pub const MAX_SELECTORS: usize = 10;
/// At most this many values of one QueryObjects selector's operator (BETWEEN takes two).
pub const MAX_SELECTOR_VALUES: usize = 10;
/// At most this many QueryObjects ids per page.
pub const MAX_QUERY_LIMIT: i64 = 1000;
/// At most this many fields (one per value) in one pipeline object. AWS allows 50 keys;
/// Sluice warns past that, and refuses a list no definition needs.
pub const MAX_OBJECT_FIELDS: usize = 1000;
/// At most this many parameter objects, or parameter values, in one request (AWS: 50).
pub const MAX_PARAMETERS: usize = 1000;
/// At most this many attributes of one parameter object.
pub const MAX_PARAMETER_ATTRIBUTES: usize = 100;
/// At most this many object ids in one SetStatus call.
pub const MAX_STATUS_IDS: usize = 1000;
/// At most this many tag keys in one RemoveTags call.
pub const MAX_TAG_KEYS: usize = 50;
/// At most this many fields in one ReportTaskProgress call (AWS: 50 fields per object).
pub const MAX_REPORTED_FIELDS: usize = 50;

/// Whether a character is in the model's pattern
/// `[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\r\n\t]*`.
fn allowed(character: char) -> bool {
    matches!(character, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(path: &str, expected: &str, value: &Value) -> ApiError {
    ApiError::serialization(format!(
        "member \"{path}\" must be {expected}, not {}",
        type_name(value)
    ))
}

/// Checks a member that becomes part of a run-record partition key after `prefix`: escaped
/// (`#` and `%` take three bytes), it must fit DynamoDB's 2048 bytes.
fn check_key_part(path: &str, text: &str, prefix: &str) -> Result<(), ApiError> {
    let escaped = crate::store::keys::escape(text).len();
    let most = crate::store::MAX_PK_BYTES - prefix.len();
    if escaped > most {
        return Err(ApiError::invalid(format!(
            "member \"{path}\" is {} bytes long, {escaped} with its '#' and '%' counted three times; it names a run \
             record, so at most {most} are allowed",
            text.len()
        )));
    }
    Ok(())
}

fn missing(path: &str) -> ApiError {
    ApiError::invalid(format!("member \"{path}\" is required"))
}

/// Checks a string against a model shape.
pub fn check_string(path: &str, text: &str, limit: Limit) -> Result<(), ApiError> {
    let length = text.len();
    if length < limit.min {
        return Err(ApiError::invalid(match limit.min {
            1 => format!("member \"{path}\" must not be empty"),
            min => format!("member \"{path}\" must be at least {min} bytes long"),
        }));
    }
    if length > limit.max {
        return Err(ApiError::invalid(format!(
            "member \"{path}\" is {length} bytes long (UTF-8); at most {} are allowed",
            limit.max
        )));
    }
    if limit.pattern
        && let Some(bad) = text.chars().find(|character| !allowed(*character))
    {
        return Err(ApiError::invalid(format!(
            "member \"{path}\" contains the character U+{:04X}, which is not allowed",
            u32::from(bad)
        )));
    }
    Ok(())
}

fn string_value(path: &str, value: &Value, limit: Limit) -> Result<String, ApiError> {
    let text = value.as_str().ok_or_else(|| wrong_type(path, "a string", value))?;
    check_string(path, text, limit)?;
    Ok(text.to_owned())
}

/// The members of one JSON object in a request, with where it is.
#[derive(Debug, Clone, Copy)]
pub struct Members<'v> {
    map: &'v Map<String, Value>,
    path: &'v str,
}

fn members<'v>(path: &'v str, value: &'v Value) -> Result<Members<'v>, ApiError> {
    match value {
        Value::Object(map) => Ok(Members { map, path }),
        other => Err(wrong_type(
            if path.is_empty() { "the request body" } else { path },
            "an object",
            other,
        )),
    }
}

impl<'v> Members<'v> {
    /// The request body's members.
    pub fn root(value: &'v Value) -> Result<Self, ApiError> {
        members("", value)
    }

    fn path(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    fn get(&self, name: &str) -> Option<&'v Value> {
        self.map.get(name).filter(|value| !value.is_null())
    }

    pub fn string(&self, name: &str, limit: Limit) -> Result<Option<String>, ApiError> {
        self.get(name)
            .map(|value| string_value(&self.path(name), value, limit))
            .transpose()
    }

    pub fn required_string(&self, name: &str, limit: Limit) -> Result<String, ApiError> {
        self.string(name, limit)?.ok_or_else(|| missing(&self.path(name)))
    }

    pub fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.get(name)
            .map(|value| {
                value
                    .as_bool()
                    .ok_or_else(|| wrong_type(&self.path(name), "a boolean", value))
            })
            .transpose()
    }

    pub fn integer(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|value| {
                value
                    .as_i64()
                    .ok_or_else(|| wrong_type(&self.path(name), "a whole number", value))
            })
            .transpose()
    }

    /// A `timestamp` member: epoch seconds (botocore sends a number).
    pub fn timestamp(&self, name: &str) -> Result<Option<NaiveDateTime>, ApiError> {
        let Some(value) = self.get(name) else { return Ok(None) };
        let path = self.path(name);
        let seconds = value
            .as_f64()
            .ok_or_else(|| wrong_type(&path, "a number of seconds since 1970-01-01", value))?;
        let whole = seconds.floor();
        if !whole.is_finite() || whole.abs() > 1.0e12 {
            return Err(ApiError::invalid(format!(
                "member \"{path}\" ({seconds}) is not a time Sluice can represent"
            )));
        }
        // In range after the check above, so the cast cannot saturate.
        let millis = ((seconds - whole) * 1000.0).round() as u32;
        DateTime::from_timestamp(whole as i64, millis.min(999) * 1_000_000)
            .map(|at| at.naive_utc())
            .map(Some)
            .ok_or_else(|| ApiError::invalid(format!("member \"{path}\" ({seconds}) is not a valid time")))
    }

    pub fn object(&self, name: &str) -> Result<Option<Owned>, ApiError> {
        let Some(value) = self.get(name) else { return Ok(None) };
        let path = self.path(name);
        members(&path, value)?;
        Ok(Some(Owned {
            value: value.clone(),
            path,
        }))
    }

    /// A list member: each item read by `each` with its path; `max` items at most.
    pub fn list<T>(
        &self,
        name: &str,
        max: Option<usize>,
        each: impl Fn(&str, &Value) -> Result<T, ApiError>,
    ) -> Result<Option<Vec<T>>, ApiError> {
        let Some(value) = self.get(name) else { return Ok(None) };
        let path = self.path(name);
        let items = value.as_array().ok_or_else(|| wrong_type(&path, "a list", value))?;
        if let Some(max) = max
            && items.len() > max
        {
            return Err(ApiError::invalid(format!(
                "member \"{path}\" has {} items; at most {max} are allowed",
                items.len()
            )));
        }
        items
            .iter()
            .enumerate()
            .map(|(index, item)| each(&format!("{path}[{index}]"), item))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    pub fn required_list<T>(
        &self,
        name: &str,
        max: Option<usize>,
        each: impl Fn(&str, &Value) -> Result<T, ApiError>,
    ) -> Result<Vec<T>, ApiError> {
        self.list(name, max, each)?.ok_or_else(|| missing(&self.path(name)))
    }
}

/// A nested object member, kept with its path.
#[derive(Debug, Clone)]
pub struct Owned {
    value: Value,
    path: String,
}

impl Owned {
    pub fn members(&self) -> Result<Members<'_>, ApiError> {
        members(&self.path, &self.value)
    }
}

fn string_item(limit: Limit) -> impl Fn(&str, &Value) -> Result<String, ApiError> {
    move |path, value| string_value(path, value, limit)
}

fn field(path: &str, value: &Value) -> Result<ApiField, ApiError> {
    let members = members(path, value)?;
    Ok(ApiField {
        key: members.required_string("key", FIELD_NAME)?,
        string_value: members.string("stringValue", FIELD_VALUE)?,
        ref_value: members.string("refValue", FIELD_NAME)?,
    })
}

fn pipeline_object(path: &str, value: &Value) -> Result<ApiPipelineObject, ApiError> {
    let members = members(path, value)?;
    Ok(ApiPipelineObject {
        id: members.required_string("id", ID)?,
        name: members.required_string("name", ID)?,
        fields: members.required_list("fields", Some(MAX_OBJECT_FIELDS), field)?,
    })
}

fn parameter_object(path: &str, value: &Value) -> Result<ApiParameterObject, ApiError> {
    let members = members(path, value)?;
    Ok(ApiParameterObject {
        id: members.required_string("id", FIELD_NAME)?,
        attributes: members.required_list("attributes", Some(MAX_PARAMETER_ATTRIBUTES), |path, value| {
            let members = self::members(path, value)?;
            Ok(ApiParameterAttribute {
                key: members.required_string("key", FIELD_NAME)?,
                string_value: members.required_string("stringValue", FIELD_VALUE)?,
            })
        })?,
    })
}

fn parameter_value(path: &str, value: &Value) -> Result<ApiParameterValue, ApiError> {
    let members = members(path, value)?;
    Ok(ApiParameterValue {
        id: members.required_string("id", FIELD_NAME)?,
        string_value: members.required_string("stringValue", FIELD_VALUE)?,
    })
}

fn tag(path: &str, value: &Value) -> Result<Tag, ApiError> {
    let members = members(path, value)?;
    Ok(Tag {
        key: members.required_string("key", TAG_KEY)?,
        value: members.required_string("value", TAG_VALUE)?,
    })
}

/// A request read from its JSON body.
pub trait Request: Sized {
    fn read(body: &Members<'_>) -> Result<Self, ApiError>;
}

fn definition(body: &Members<'_>) -> Result<ApiDefinition, ApiError> {
    Ok(ApiDefinition {
        pipeline_objects: body.required_list("pipelineObjects", None, pipeline_object)?,
        parameter_objects: body
            .list("parameterObjects", Some(MAX_PARAMETERS), parameter_object)?
            .unwrap_or_default(),
        parameter_values: body
            .list("parameterValues", Some(MAX_PARAMETERS), parameter_value)?
            .unwrap_or_default(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePipelineInput {
    pub name: String,
    pub unique_id: String,
    pub description: Option<String>,
    pub tags: Vec<Tag>,
}

impl Request for CreatePipelineInput {
    fn read(body: &Members<'_>) -> Result<Self, ApiError> {
        let input = Self {
            name: body.required_string("name", ID)?,
            unique_id: body.required_string("uniqueId", ID)?,
            description: body.string("description", STRING)?,
            tags: body.list("tags", Some(MAX_TAGS), tag)?.unwrap_or_default(),
        };
        // The pair is one run-record key: together they must fit DynamoDB's partition key.
        let key = crate::store::keys::unique(&input.name, &input.unique_id);
        if key.pk.len() > crate::store::MAX_PK_BYTES {
            return Err(ApiError::invalid(format!(
                "members \"name\" and \"uniqueId\" are {} and {} bytes long; together they must be at most \
                 {} bytes ('#' and '%' count three)",
                input.name.len(),
                input.unique_id.len(),
                crate::store::MAX_PK_BYTES - "UNIQUE##".len()
            )));
        }
        Ok(input)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineIdInput {
    pub pipeline_id: String,
}

impl Request for PipelineIdInput {
    fn read(body: &Members<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            pipeline_id: body.required_string("pipelineId", ID)?,
        })
    }
}

/// DeletePipeline's input.
pub type DeletePipelineInput = PipelineIdInput;

/// PutPipelineDefinition's and ValidatePipelineDefinition's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionInput {
    pub pipeline_id: String,
    pub definition: ApiDefinition,
}

impl Request for DefinitionInput {
    fn read(body: &Members<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            pipeline_id: body.required_string("pipelineId", ID)?,
            definition: definition(body)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetPipelineDefinitionInput {
    pub pipeline_id: String,
    pub version: Option<String>,
}

impl Request for GetPipelineDefinitionInput {
    fn read(body: &Members<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            pipeline_id: body.required_string("pipelineId", ID)?,
            version: body.string("version", STRING)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivatePipelineInput {
    pub pipeline_id: String,
    pub parameter_values: Vec<ApiParameterValue>,
    pub start_timestamp: Option<NaiveDateTime>,
}

impl Request for ActivatePipelineInput {
    fn read(body: &Members<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            pipeline_id: body.required_string("pipelineId", ID)?,
            parameter_values: body
                .list("parameterValues", Some(MAX_PARAMETERS), parameter_value)?
                .unwrap_or_default(),
            start_timestamp: body.timestamp("startTimestamp")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeactivatePipelineInput {
    pub pipeline_id: String,
    pub cancel_active: Option<bool>,
}

impl Request for DeactivatePipelineInput {
    fn read(body: &Members<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            pipeline_id: body.required_string("pipelineId", ID)?,
            cancel_active: body.boolean("cancelActive")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribePipelinesInput {
    pub pipeline_ids: Vec<String>,
}

impl Request for DescribePipelinesInput {
    fn read(body: &Members<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            pipeline_ids: body.required_list("pipelineIds", Some(MAX_DESCRIBE_IDS), string_item(ID))?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPipelinesInput {
    pub marker: Option<String>,
}

impl Request for ListPipelinesInput {
    fn read(body: &Members<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            marker: body.string("marker", STRING)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeObjectsInput {
    pub pipeline_id: String,
    pub object_ids: Vec<String>,
    pub evaluate_expressions: bool,
    pub marker: Option<String>,
}

impl Request for DescribeObjectsInput {
    fn read(body: &Members<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            pipeline_id: body.required_string("pipelineId", ID)?,
            object_ids: body.required_list("objectIds", Some(MAX_DESCRIBE_IDS), string_item(ID))?,
            evaluate_expressions: body.boolean("evaluateExpressions")?.unwrap_or(false),
            marker: body.string("marker", STRING)?,
        })
    }
}

/// One QueryObjects selector as sent: `{fieldName, operator: {type, values}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorInput {
    pub field_name: Option<String>,
    pub operator_type: Option<String>,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryObjectsInput {
    pub pipeline_id: String,
    pub selectors: Vec<SelectorInput>,
    pub sphere: String,
    pub marker: Option<String>,
    pub limit: Option<i64>,
}

impl Request for QueryObjectsInput {
    fn read(body: &Members<'_>) -> Result<Self, ApiError> {
        let selectors = match body.object("query")? {
            Some(query) => query
                .members()?
                .list("selectors", Some(MAX_SELECTORS), |path, value| {
                    let selector = members(path, value)?;
                    let (operator_type, values) = match selector.object("operator")? {
                        Some(operator) => {
                            let operator = operator.members()?;
                            (
                                operator.string("type", STRING)?,
                                operator
                                    .list("values", Some(MAX_SELECTOR_VALUES), string_item(STRING))?
                                    .unwrap_or_default(),
                            )
                        }
                        None => (None, Vec::new()),
                    };
                    Ok(SelectorInput {
                        field_name: selector.string("fieldName", STRING)?,
                        operator_type,
                        values,
                    })
                })?
                .unwrap_or_default(),
            None => Vec::new(),
        };
        Ok(Self {
            pipeline_id: body.required_string("pipelineId", ID)?,
            selectors,
            sphere: body.required_string("sphere", STRING)?,
            marker: body.string("marker", STRING)?,
            limit: match body.integer("limit")? {
                Some(limit) if !(1..=MAX_QUERY_LIMIT).contains(&limit) => {
                    return Err(ApiError::invalid(format!(
                        "member \"limit\" is {limit}; it must be between 1 and {MAX_QUERY_LIMIT}"
                    )));
                }
                limit => limit,
            },
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetStatusInput {
    pub pipeline_id: String,
    pub object_ids: Vec<String>,
    pub status: String,
}

impl Request for SetStatusInput {
    fn read(body: &Members<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            pipeline_id: body.required_string("pipelineId", ID)?,
            object_ids: body.required_list("objectIds", Some(MAX_STATUS_IDS), string_item(ID))?,
            status: body.required_string("status", STRING)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluateExpressionInput {
    pub pipeline_id: String,
    pub object_id: String,
    pub expression: String,
}

impl Request for EvaluateExpressionInput {
    fn read(body: &Members<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            pipeline_id: body.required_string("pipelineId", ID)?,
            object_id: body.required_string("objectId", ID)?,
            expression: body.required_string("expression", LONG_STRING)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddTagsInput {
    pub pipeline_id: String,
    pub tags: Vec<Tag>,
}

impl Request for AddTagsInput {
    fn read(body: &Members<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            pipeline_id: body.required_string("pipelineId", ID)?,
            tags: body.required_list("tags", Some(MAX_TAGS), tag)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoveTagsInput {
    pub pipeline_id: String,
    pub tag_keys: Vec<String>,
}

impl Request for RemoveTagsInput {
    fn read(body: &Members<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            pipeline_id: body.required_string("pipelineId", ID)?,
            tag_keys: body.required_list("tagKeys", Some(MAX_TAG_KEYS), string_item(STRING))?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollForTaskInput {
    pub worker_group: String,
    pub hostname: Option<String>,
}

impl Request for PollForTaskInput {
    fn read(body: &Members<'_>) -> Result<Self, ApiError> {
        if let Some(identity) = body.object("instanceIdentity")? {
            let identity = identity.members()?;
            identity.string("document", STRING)?;
            identity.string("signature", STRING)?;
        }
        let worker_group = body.required_string("workerGroup", STRING)?;
        check_key_part("workerGroup", &worker_group, "WORKERGROUP#")?;
        if worker_group.is_empty() {
            return Err(ApiError::invalid(
                "member \"workerGroup\" is empty: name the worker group the runner works for",
            ));
        }
        Ok(Self {
            worker_group,
            hostname: body.string("hostname", ID)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportTaskProgressInput {
    pub task_id: String,
    pub fields: Vec<ApiField>,
}

impl Request for ReportTaskProgressInput {
    fn read(body: &Members<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            task_id: body.required_string("taskId", TASK_ID)?,
            fields: body
                .list("fields", Some(MAX_REPORTED_FIELDS), field)?
                .unwrap_or_default(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportTaskRunnerHeartbeatInput {
    pub taskrunner_id: String,
    pub worker_group: Option<String>,
    pub hostname: Option<String>,
}

impl Request for ReportTaskRunnerHeartbeatInput {
    fn read(body: &Members<'_>) -> Result<Self, ApiError> {
        let input = Self {
            taskrunner_id: body.required_string("taskrunnerId", ID)?,
            worker_group: body.string("workerGroup", STRING)?,
            hostname: body.string("hostname", ID)?,
        };
        check_key_part("taskrunnerId", &input.taskrunner_id, "TASKRUNNER#")?;
        if let Some(group) = &input.worker_group {
            check_key_part("workerGroup", group, "WORKERGROUP#")?;
        }
        Ok(input)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetTaskStatusInput {
    pub task_id: String,
    pub task_status: String,
    pub error_id: Option<String>,
    pub error_message: Option<String>,
    pub error_stack_trace: Option<String>,
}

impl Request for SetTaskStatusInput {
    fn read(body: &Members<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            task_id: body.required_string("taskId", TASK_ID)?,
            task_status: body.required_string("taskStatus", STRING)?,
            error_id: body.string("errorId", STRING)?,
            error_message: body.string("errorMessage", ERROR_MESSAGE)?,
            error_stack_trace: body.string("errorStackTrace", STRING)?,
        })
    }
}

// ---- responses ----

/// An operation that answers nothing: `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Empty {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatePipelineOutput {
    pub pipeline_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationError {
    pub id: String,
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationWarning {
    pub id: String,
    pub warnings: Vec<String>,
}

/// PutPipelineDefinition's and ValidatePipelineDefinition's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationOutput {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub validation_errors: Vec<ValidationError>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub validation_warnings: Vec<ValidationWarning>,
    pub errored: bool,
}

/// GetPipelineDefinition's answer.
pub type GetPipelineDefinitionOutput = ApiDefinition;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineDescription {
    pub pipeline_id: String,
    pub name: String,
    pub fields: Vec<ApiField>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribePipelinesOutput {
    pub pipeline_description_list: Vec<PipelineDescription>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PipelineIdName {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListPipelinesOutput {
    pub pipeline_id_list: Vec<PipelineIdName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
    pub has_more_results: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeObjectsOutput {
    pub pipeline_objects: Vec<ApiPipelineObject>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
    pub has_more_results: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryObjectsOutput {
    pub ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
    pub has_more_results: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EvaluateExpressionOutput {
    pub evaluated_expression: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskObject {
    pub task_id: String,
    pub pipeline_id: String,
    pub attempt_id: String,
    pub objects: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PollForTaskOutput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_object: Option<TaskObject>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportTaskProgressOutput {
    pub canceled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportTaskRunnerHeartbeatOutput {
    pub terminate: bool,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read<T: Request>(body: Value) -> Result<T, ApiError> {
        T::read(&Members::root(&body)?)
    }

    #[test]
    fn a_missing_required_member_is_named() {
        let error = read::<CreatePipelineInput>(json!({"name": "a"})).unwrap_err();
        assert_eq!(error.kind, super::super::ErrorKind::InvalidRequest);
        assert!(error.message.contains("\"uniqueId\""), "{}", error.message);
    }

    #[test]
    fn a_member_of_the_wrong_type_is_a_serialization_error_with_its_path() {
        let error = read::<DefinitionInput>(json!({
            "pipelineId": "df-1",
            "pipelineObjects": [{"id": "A", "name": "A", "fields": [{"key": 5}]}]
        }))
        .unwrap_err();
        assert_eq!(error.kind, super::super::ErrorKind::Serialization);
        assert!(
            error.message.contains("pipelineObjects[0].fields[0].key"),
            "{}",
            error.message
        );
    }

    #[test]
    fn strings_over_the_model_limits_are_refused() {
        let long = "x".repeat(1025);
        let error = read::<PipelineIdInput>(json!({ "pipelineId": long })).unwrap_err();
        assert!(error.message.contains("at most 1024"), "{}", error.message);
        let error = read::<PipelineIdInput>(json!({ "pipelineId": "" })).unwrap_err();
        assert_eq!(error.message, "member \"pipelineId\" must not be empty");
        // Lengths are bytes: 300 four-byte characters are 1,200 bytes
        let error = read::<PipelineIdInput>(json!({ "pipelineId": "𝄞".repeat(300) })).unwrap_err();
        assert_eq!(
            error.message,
            "member \"pipelineId\" is 1200 bytes long (UTF-8); at most 1024 are allowed"
        );
        let error = read::<PipelineIdInput>(json!({ "pipelineId": "a\u{1}" })).unwrap_err();
        assert!(error.message.contains("U+0001"), "{}", error.message);
    }

    #[test]
    fn unknown_members_are_ignored_and_null_is_absent() {
        let input =
            read::<DeactivatePipelineInput>(json!({"pipelineId": "df-1", "future": 1, "cancelActive": null})).unwrap();
        assert_eq!(input.cancel_active, None);
    }

    #[test]
    fn timestamps_are_epoch_seconds() {
        let input =
            read::<ActivatePipelineInput>(json!({"pipelineId": "df-1", "startTimestamp": 1_767_225_600.5})).unwrap();
        assert_eq!(
            input.start_timestamp.unwrap().to_string(),
            "2026-01-01 00:00:00.500",
            "half a second kept"
        );
        let error = read::<ActivatePipelineInput>(json!({"pipelineId": "df-1", "startTimestamp": 1e300})).unwrap_err();
        assert!(error.message.contains("startTimestamp"), "{}", error.message);
    }

    #[test]
    fn lists_over_their_limit_are_refused() {
        let ids: Vec<String> = (0..26).map(|index| format!("df-{index}")).collect();
        let error = read::<DescribePipelinesInput>(json!({ "pipelineIds": ids })).unwrap_err();
        assert!(error.message.contains("at most 25"), "{}", error.message);
    }
}
