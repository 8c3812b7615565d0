//! Reading a definition from JSON text, in either shape, remembering where each object
//! and field was written.
//!
//! - The file format (`objects`, `parameters`, `values`; `{"ref": id}`; arrays for
//!   multi-valued fields), what `aws datapipeline put-pipeline-definition
//!   --pipeline-definition file://...` reads.
//! - The API shape (`pipelineObjects` with `fields[{key, stringValue|refValue}]`,
//!   `parameterObjects`, `parameterValues`), what the service stores and answers with.
//!
//! Problems in one object are reported per object and field and the rest is still read,
//! so a user sees every mistake at once. Only a document that is not JSON, or has no
//! objects at all, stops the reading.

use std::collections::HashMap;

use thiserror::Error;

use super::{
    issue::{Issue, Report},
    json::{self, Json, JsonError, JsonValue, Member, Position},
    model::{
        Definition, Field, FieldValue, ParameterAttribute, ParameterObject, ParameterValue, PipelineObject, is_secret,
    },
};

/// Which shape a document was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    File,
    Api,
}

/// Where each part of a definition was written, parallel to [`Definition`]'s lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Locations {
    pub objects: Vec<ObjectLocation>,
    pub parameters: Vec<Position>,
    pub values: HashMap<String, Position>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectLocation {
    pub position: Position,
    /// One per field of the object, in the same order.
    pub fields: Vec<Position>,
}

impl Locations {
    /// Where the first object with this id starts.
    pub fn object(&self, definition: &Definition, id: &str) -> Option<Position> {
        let index = definition.objects.iter().position(|object| object.id == id)?;
        self.objects.get(index).map(|location| location.position)
    }

    /// Where the first value of this field of the first object with this id is written.
    pub fn field(&self, definition: &Definition, id: &str, key: &str) -> Option<Position> {
        let index = definition.objects.iter().position(|object| object.id == id)?;
        let field = definition.objects[index]
            .fields
            .iter()
            .position(|field| field.key == key)?;
        self.objects.get(index)?.fields.get(field).copied()
    }

    /// Where a parameter is declared.
    pub fn parameter(&self, definition: &Definition, id: &str) -> Option<Position> {
        let index = definition.parameters.iter().position(|parameter| parameter.id == id)?;
        self.parameters.get(index).copied()
    }

    /// Positions for an issue: the field's if it names one, else the object's or parameter's.
    pub fn locate(&self, definition: &Definition, issue: &Issue) -> Option<Position> {
        let id = issue.id.as_deref()?;
        issue
            .field
            .as_deref()
            .and_then(|field| self.field(definition, id, field))
            .or_else(|| self.object(definition, id))
            .or_else(|| self.parameter(definition, id))
            .or_else(|| self.values.get(id).copied())
    }
}

/// A definition read from text, with what reading it found.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub definition: Definition,
    pub locations: Locations,
    pub shape: Shape,
    /// Problems found while reading the structure (a null field, a duplicate key ...).
    pub report: Report,
}

/// Why a document could not be read as a definition at all.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReadError {
    #[error("not valid JSON: {0}")]
    Json(#[from] JsonError),
    #[error("{message}")]
    NotADefinition { message: String },
}

/// Reads a pipeline definition in the file format or the API shape.
pub fn read_definition(text: &str) -> Result<Loaded, ReadError> {
    let document = json::parse(text)?;
    let JsonValue::Object(members) = &document.value else {
        return Err(ReadError::NotADefinition {
            message: format!(
                "the document is {}, but a pipeline definition is a JSON object with an \"objects\" list",
                document.value.kind()
            ),
        });
    };
    let mut reader = DefinitionReader::default();
    let shape = if find(members, "pipelineObjects").is_some() {
        Shape::Api
    } else {
        Shape::File
    };
    let objects_key = match shape {
        Shape::Api => "pipelineObjects",
        Shape::File => "objects",
    };
    let Some(objects) = find(members, objects_key) else {
        let values_only = find(members, "values").is_some() || find(members, "parameterValues").is_some();
        let hint = if values_only {
            "; it looks like a values file: pass it with --values"
        } else {
            ""
        };
        return Err(ReadError::NotADefinition {
            message: format!(
                "no \"objects\" list: a pipeline definition is a JSON object with \"objects\" (or, in the API shape, \"pipelineObjects\"){hint}"
            ),
        });
    };
    reader.top_level(members, shape);
    reader.objects(objects, shape);
    for key in ["parameters", "parameterObjects"] {
        if let Some(parameters) = find(members, key) {
            reader.parameters(parameters, key);
        }
    }
    for key in ["values", "parameterValues"] {
        if let Some(values) = find(members, key) {
            reader.values(values, key);
        }
    }
    Ok(Loaded {
        definition: reader.definition,
        locations: reader.locations,
        shape,
        report: reader.report,
    })
}

/// Reads a values file: `{"values": {"myParam": "v", "myList": ["a", "b"]}}`, or the API
/// shape `{"parameterValues": [{"id": ..., "stringValue": ...}]}`.
pub fn read_values(text: &str) -> Result<(Vec<ParameterValue>, Report), ReadError> {
    let document = json::parse(text)?;
    let JsonValue::Object(members) = &document.value else {
        return Err(not_values(&document));
    };
    let mut reader = DefinitionReader::default();
    let mut found = false;
    for key in ["values", "parameterValues"] {
        if let Some(values) = find(members, key) {
            reader.values(values, key);
            found = true;
        }
    }
    if !found {
        return Err(not_values(&document));
    }
    Ok((reader.definition.values, reader.report))
}

fn not_values(document: &Json) -> ReadError {
    ReadError::NotADefinition {
        message: format!(
            "the document is {} without \"values\": a values file looks like {{\"values\": {{\"myParam\": \"value\", \"myList\": [\"a\", \"b\"]}}}}",
            match &document.value {
                JsonValue::Object(_) => "an object",
                other => other.kind(),
            }
        ),
    }
}

fn find<'a>(members: &'a [Member], key: &str) -> Option<&'a Json> {
    members
        .iter()
        .rev()
        .find(|member| member.key == key)
        .map(|member| &member.value)
}

#[derive(Default)]
struct DefinitionReader {
    definition: Definition,
    locations: Locations,
    report: Report,
}

const TOP_LEVEL_KEYS: [&str; 6] = [
    "objects",
    "parameters",
    "values",
    "pipelineObjects",
    "parameterObjects",
    "parameterValues",
];

impl DefinitionReader {
    fn top_level(&mut self, members: &[Member], shape: Shape) {
        let mut seen = Vec::new();
        for member in members {
            if seen.contains(&member.key.as_str()) {
                self.report.error(
                    Issue::definition(format!(
                        "\"{}\" appears twice at the top level; JSON readers keep only the last one, so the first is lost: merge them",
                        member.key
                    ))
                    .at(Some(member.key_position)),
                );
            }
            seen.push(&member.key);
            if !TOP_LEVEL_KEYS.contains(&member.key.as_str()) {
                self.report.warning(
                    Issue::definition(format!(
                        "top-level key \"{}\" is not part of a pipeline definition and is ignored (a definition has \"objects\", \"parameters\" and \"values\")",
                        member.key
                    ))
                    .at(Some(member.key_position)),
                );
            }
        }
        if shape == Shape::File {
            for key in ["parameterObjects", "parameterValues"] {
                if let Some(member) = members.iter().find(|member| member.key == key) {
                    self.report.warning(
                        Issue::definition(format!(
                            "\"{key}\" is the API shape's name; the AWS CLI reads only \"parameters\" and \"values\" from a definition file. Sluice reads it anyway"
                        ))
                        .at(Some(member.key_position)),
                    );
                }
            }
        }
    }

    fn objects(&mut self, objects: &Json, shape: Shape) {
        let JsonValue::Array(items) = &objects.value else {
            self.report.error(
                Issue::definition(format!(
                    "\"objects\" must be a list of objects, not {}",
                    objects.value.kind()
                ))
                .at(Some(objects.position)),
            );
            return;
        };
        let mut api_shaped_in_file = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let JsonValue::Object(members) = &item.value else {
                self.report.error(
                    Issue::definition(format!(
                        "element {} of the objects list is {}, but every pipeline object is a JSON object with an \"id\"",
                        index + 1,
                        item.value.kind()
                    ))
                    .at(Some(item.position)),
                );
                continue;
            };
            let api_shaped = shape == Shape::Api || looks_api_shaped(members);
            let read = if api_shaped {
                if shape == Shape::File {
                    api_shaped_in_file.push((index, item.position));
                }
                self.api_object(item.position, members, index)
            } else {
                self.file_object(item.position, members, index)
            };
            if let Some((object, location)) = read {
                self.definition.objects.push(object);
                self.locations.objects.push(location);
            }
        }
        if let Some(&(_, position)) = api_shaped_in_file.first() {
            let elements: Vec<String> = api_shaped_in_file
                .iter()
                .map(|(index, _)| (index + 1).to_string())
                .collect();
            self.report.warning(
                Issue::definition(format!(
                    "objects {} are written in the API shape ({{id, name, fields: [{{key, stringValue|refValue}}]}}) inside a definition file; the AWS CLI would refuse them, Sluice reads them",
                    elements.join(", ")
                ))
                .at(Some(position)),
            );
        }
    }

    /// Reads `id` and `name`; an object without a usable id is reported and skipped.
    fn identity(&mut self, position: Position, members: &[Member], index: usize) -> Option<(String, String)> {
        let id = match find(members, "id").map(|json| &json.value) {
            Some(JsonValue::String(id)) if !id.is_empty() => id.clone(),
            Some(JsonValue::String(_)) => {
                self.report.error(
                    Issue::definition(format!("object {} has an empty \"id\": give it a unique id", index + 1))
                        .at(Some(position)),
                );
                return None;
            }
            Some(other) => {
                self.report.error(
                    Issue::definition(format!(
                        "object {} has an \"id\" that is {}; an id is a string",
                        index + 1,
                        other.kind()
                    ))
                    .at(Some(position)),
                );
                return None;
            }
            None => {
                self.report.error(
                    Issue::definition(format!(
                        "object {} has no \"id\": every pipeline object needs a unique id",
                        index + 1
                    ))
                    .at(Some(position)),
                );
                return None;
            }
        };
        let name = match find(members, "name") {
            Some(Json {
                value: JsonValue::String(name),
                ..
            }) => name.clone(),
            Some(other) => {
                self.report.error(
                    Issue::field(
                        &id,
                        "name",
                        format!("the name is {}; a name is a string", other.value.kind()),
                    )
                    .at(Some(other.position)),
                );
                id.clone()
            }
            None => id.clone(),
        };
        Some((id, name))
    }

    fn file_object(
        &mut self,
        position: Position,
        members: &[Member],
        index: usize,
    ) -> Option<(PipelineObject, ObjectLocation)> {
        let (id, name) = self.identity(position, members, index)?;
        let mut object = PipelineObject {
            id,
            name,
            fields: Vec::new(),
        };
        let mut location = ObjectLocation {
            position,
            fields: Vec::new(),
        };
        for (index, member) in members.iter().enumerate() {
            // Like the AWS CLI's JSON reader, the last of repeated keys wins; say so.
            if members[index + 1..].iter().any(|later| later.key == member.key) {
                self.duplicate_key(&object.id, member);
                continue;
            }
            if member.key == "id" || member.key == "name" {
                continue;
            }
            if member.key.is_empty() {
                self.report
                    .error(Issue::object(&object.id, "a field has an empty name").at(Some(member.key_position)));
                continue;
            }
            for (value, value_position) in self.field_values(&object.id, member) {
                object.fields.push(Field {
                    key: member.key.clone(),
                    value,
                });
                location.fields.push(value_position);
            }
        }
        Some((object, location))
    }

    fn duplicate_key(&mut self, id: &str, member: &Member) {
        self.report.warning(
            Issue::field(
                id,
                &member.key,
                format!(
                    "\"{}\" is written more than once in this object; like the AWS CLI, Sluice keeps only the last one. To give several values, write one key with a list: \"{}\": [\"a\", \"b\"]",
                    member.key, member.key
                ),
            )
            .at(Some(member.key_position)),
        );
    }

    /// The values of one file-format field: a string, `{"ref": id}`, or a list of those.
    fn field_values(&mut self, id: &str, member: &Member) -> Vec<(FieldValue, Position)> {
        match &member.value.value {
            JsonValue::Array(items) => {
                if items.is_empty() {
                    self.report.warning(
                        Issue::field(
                            id,
                            &member.key,
                            "an empty list gives the field no value, so it is dropped",
                        )
                        .at(Some(member.value.position)),
                    );
                }
                items
                    .iter()
                    .filter_map(|item| self.single_value(id, &member.key, item, true))
                    .collect()
            }
            _ => self
                .single_value(id, &member.key, &member.value, false)
                .into_iter()
                .collect(),
        }
    }

    fn single_value(&mut self, id: &str, key: &str, json: &Json, in_list: bool) -> Option<(FieldValue, Position)> {
        let issue = |message: String| Issue::field(id, key, message).at(Some(json.position));
        let value = match &json.value {
            JsonValue::String(text) => {
                if text.is_empty() {
                    self.report.error(issue(
                        "the value is an empty string, which AWS refuses: remove the field or give it a value".into(),
                    ));
                }
                FieldValue::String(text.clone())
            }
            JsonValue::Number(text) => {
                let shown = if is_secret(key) { "it" } else { text };
                self.report.warning(issue(format!(
                    "the value is a JSON number; definition values are strings, write it in quotes (the AWS CLI refuses numbers, Sluice reads it as \"{shown}\")"
                )));
                FieldValue::String(text.clone())
            }
            JsonValue::Bool(flag) => {
                self.report.warning(issue(format!(
                    "the value is a JSON boolean; definition values are strings, write \"{flag}\" (the AWS CLI refuses booleans, Sluice reads it as \"{flag}\")"
                )));
                FieldValue::String(flag.to_string())
            }
            JsonValue::Null => {
                self.report
                    .error(issue("the value is null: remove the field or give it a value".into()));
                return None;
            }
            JsonValue::Object(members) => match members.as_slice() {
                [
                    Member {
                        key,
                        value:
                            Json {
                                value: JsonValue::String(target),
                                ..
                            },
                        ..
                    },
                ] if key == "ref" => {
                    if target.is_empty() {
                        self.report
                            .error(issue("{\"ref\": \"\"} refers to no object: name an object's id".into()));
                        return None;
                    }
                    FieldValue::Ref(target.clone())
                }
                [Member { key, value, .. }] if key == "ref" => {
                    self.report.error(issue(format!(
                        "the \"ref\" is {}; a reference names an object's id as a string",
                        value.value.kind()
                    )));
                    return None;
                }
                _ => {
                    self.report.error(issue(
                        "a field value is a string, a reference {\"ref\": \"<object id>\"}, or a list of those; this object is neither"
                            .into(),
                    ));
                    return None;
                }
            },
            JsonValue::Array(_) => {
                let message = if in_list {
                    "a list inside a list: a multi-valued field is one flat list of strings and references"
                } else {
                    "unexpected list"
                };
                self.report.error(issue(message.into()));
                return None;
            }
        };
        Some((value, json.position))
    }

    fn api_object(
        &mut self,
        position: Position,
        members: &[Member],
        index: usize,
    ) -> Option<(PipelineObject, ObjectLocation)> {
        if let (
            None,
            Some(Json {
                value: JsonValue::String(id),
                ..
            }),
        ) = (find(members, "name"), find(members, "id"))
        {
            self.report.error(
                Issue::object(id, "an API-shaped object needs a \"name\"; Sluice uses the id").at(Some(position)),
            );
        }
        let (id, name) = self.identity(position, members, index)?;
        let mut object = PipelineObject {
            id,
            name,
            fields: Vec::new(),
        };
        let mut location = ObjectLocation {
            position,
            fields: Vec::new(),
        };
        for member in members {
            if !["id", "name", "fields"].contains(&member.key.as_str()) {
                self.report.warning(
                    Issue::object(
                        &object.id,
                        format!(
                            "\"{}\" is not part of an API pipeline object ({{id, name, fields}}) and is ignored",
                            member.key
                        ),
                    )
                    .at(Some(member.key_position)),
                );
            }
        }
        let Some(fields) = find(members, "fields") else {
            return Some((object, location));
        };
        let JsonValue::Array(items) = &fields.value else {
            self.report.error(
                Issue::field(
                    &object.id,
                    "fields",
                    format!("\"fields\" must be a list, not {}", fields.value.kind()),
                )
                .at(Some(fields.position)),
            );
            return Some((object, location));
        };
        for item in items {
            if let Some(field) = self.api_field(&object.id, item) {
                object.fields.push(field);
                location.fields.push(item.position);
            }
        }
        Some((object, location))
    }

    fn api_field(&mut self, id: &str, item: &Json) -> Option<Field> {
        let issue = |message: &str| Issue::object(id, message).at(Some(item.position));
        let JsonValue::Object(members) = &item.value else {
            self.report.error(issue(
                "each element of \"fields\" is an object {key, stringValue|refValue}",
            ));
            return None;
        };
        let Some(Json {
            value: JsonValue::String(key),
            ..
        }) = find(members, "key")
        else {
            self.report.error(issue("a field has no string \"key\""));
            return None;
        };
        let string = find(members, "stringValue");
        let reference = find(members, "refValue");
        let value = match (string, reference) {
            (
                Some(Json {
                    value: JsonValue::String(text),
                    ..
                }),
                None,
            ) => FieldValue::String(text.clone()),
            (
                None,
                Some(Json {
                    value: JsonValue::String(target),
                    ..
                }),
            ) => FieldValue::Ref(target.clone()),
            (Some(_), Some(_)) => {
                self.report.error(
                    Issue::field(id, key, "a field has exactly one of stringValue and refValue, not both")
                        .at(Some(item.position)),
                );
                return None;
            }
            (None, None) => {
                self.report
                    .error(Issue::field(id, key, "a field needs a stringValue or a refValue").at(Some(item.position)));
                return None;
            }
            _ => {
                self.report
                    .error(Issue::field(id, key, "stringValue and refValue are strings").at(Some(item.position)));
                return None;
            }
        };
        Some(Field {
            key: key.clone(),
            value,
        })
    }

    fn parameters(&mut self, parameters: &Json, key: &str) {
        let JsonValue::Array(items) = &parameters.value else {
            self.report.error(
                Issue::definition(format!("\"{key}\" must be a list, not {}", parameters.value.kind()))
                    .at(Some(parameters.position)),
            );
            return;
        };
        for (index, item) in items.iter().enumerate() {
            let JsonValue::Object(members) = &item.value else {
                self.report.error(
                    Issue::definition(format!(
                        "parameter {} is {}, not an object",
                        index + 1,
                        item.value.kind()
                    ))
                    .at(Some(item.position)),
                );
                continue;
            };
            let Some(Json {
                value: JsonValue::String(id),
                ..
            }) = find(members, "id")
            else {
                self.report.error(
                    Issue::definition(format!("parameter {} has no string \"id\"", index + 1)).at(Some(item.position)),
                );
                continue;
            };
            let mut attributes = Vec::new();
            if let Some(Json {
                value: JsonValue::Array(api_attributes),
                ..
            }) = find(members, "attributes")
                && api_attributes
                    .iter()
                    .all(|attribute| matches!(attribute.value, JsonValue::Object(_)))
            {
                // The API shape: attributes: [{key, stringValue}].
                for attribute in api_attributes {
                    let JsonValue::Object(pair) = &attribute.value else {
                        continue;
                    };
                    match (find(pair, "key"), find(pair, "stringValue")) {
                        (
                            Some(Json {
                                value: JsonValue::String(key),
                                ..
                            }),
                            Some(Json {
                                value: JsonValue::String(value),
                                ..
                            }),
                        ) => attributes.push(ParameterAttribute {
                            key: key.clone(),
                            value: value.clone(),
                        }),
                        _ => self.report.error(
                            Issue::object(id, "each parameter attribute is {key, stringValue} with string values")
                                .at(Some(attribute.position)),
                        ),
                    }
                }
            } else {
                for member in members.iter().filter(|member| member.key != "id") {
                    for (value, _) in self.field_values(id, member) {
                        match value {
                            FieldValue::String(value) => {
                                attributes.push(ParameterAttribute {
                                    key: member.key.clone(),
                                    value,
                                });
                            }
                            FieldValue::Ref(_) => self.report.error(
                                Issue::field(id, &member.key, "a parameter attribute cannot be a reference")
                                    .at(Some(member.value.position)),
                            ),
                        }
                    }
                }
            }
            self.definition.parameters.push(ParameterObject {
                id: id.clone(),
                attributes,
            });
            self.locations.parameters.push(item.position);
        }
    }

    fn values(&mut self, values: &Json, key: &str) {
        match &values.value {
            JsonValue::Object(members) => {
                for member in members {
                    self.locations
                        .values
                        .entry(member.key.clone())
                        .or_insert(member.key_position);
                    for (value, _) in self.field_values(&member.key, member) {
                        match value {
                            FieldValue::String(value) => {
                                self.definition.values.push(ParameterValue {
                                    id: member.key.clone(),
                                    value,
                                });
                            }
                            FieldValue::Ref(_) => self.report.error(
                                Issue::object(&member.key, "a parameter value is a string or a list of strings")
                                    .at(Some(member.value.position)),
                            ),
                        }
                    }
                }
            }
            JsonValue::Array(items) => {
                // The API shape: [{id, stringValue}], a list value repeating the id.
                for item in items {
                    let pair = match &item.value {
                        JsonValue::Object(pair) => (find(pair, "id"), find(pair, "stringValue")),
                        _ => (None, None),
                    };
                    match pair {
                        (
                            Some(Json {
                                value: JsonValue::String(id),
                                ..
                            }),
                            Some(Json {
                                value: JsonValue::String(value),
                                ..
                            }),
                        ) => {
                            self.locations.values.entry(id.clone()).or_insert(item.position);
                            self.definition.values.push(ParameterValue {
                                id: id.clone(),
                                value: value.clone(),
                            });
                        }
                        _ => self.report.error(
                            Issue::definition(format!(
                                "each element of \"{key}\" is {{\"id\": ..., \"stringValue\": ...}}"
                            ))
                            .at(Some(item.position)),
                        ),
                    }
                }
            }
            other => self.report.error(
                Issue::definition(format!(
                    "\"{key}\" must map parameter ids to values, like {{\"myParam\": \"value\"}}, not {}",
                    other.kind()
                ))
                .at(Some(values.position)),
            ),
        }
    }
}

/// An object written `{id, name, fields: [{key, ...}]}` inside a file-format definition.
fn looks_api_shaped(members: &[Member]) -> bool {
    let Some(Json {
        value: JsonValue::Array(fields),
        ..
    }) = find(members, "fields")
    else {
        return false;
    };
    !fields.is_empty()
        && fields.iter().all(|field| match &field.value {
            JsonValue::Object(pair) => find(pair, "key").is_some(),
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{
  "objects": [
    { "id": "Default", "scheduleType": "cron", "schedule": {"ref": "Daily"} },
    { "id": "Daily", "name": "Every day", "type": "Schedule", "period": "1 day",
      "startAt": "FIRST_ACTIVATION_DATE_TIME" },
    { "id": "Steps", "type": "EmrActivity", "step": ["a.jar,1", "b.jar,2"], "runsOn": {"ref": "Cluster"} }
  ],
  "parameters": [ { "id": "myList", "type": "String", "isArray": "true", "allowedValues": ["x", "y"] } ],
  "values": { "myList": ["x", "y"] }
}"#;

    #[test]
    fn reads_the_file_format_with_positions() {
        let loaded = read_definition(FILE).unwrap();
        let definition = &loaded.definition;
        assert_eq!(loaded.shape, Shape::File);
        assert!(
            loaded.report.errors.is_empty() && loaded.report.warnings.is_empty(),
            "{:?}",
            loaded.report
        );
        assert_eq!(definition.objects.len(), 3);
        assert_eq!(definition.objects[0].name, "Default", "the name defaults to the id");
        assert_eq!(definition.objects[1].name, "Every day");
        let steps = definition.object("Steps").unwrap();
        assert_eq!(steps.values("step").count(), 2);
        assert_eq!(steps.reference("runsOn"), Some("Cluster"));
        assert_eq!(
            loaded.locations.object(definition, "Steps"),
            Some(Position { line: 6, column: 5 })
        );
        assert_eq!(
            loaded.locations.field(definition, "Steps", "runsOn"),
            Some(Position { line: 6, column: 87 })
        );
        assert_eq!(
            definition.parameters[0].attributes("allowedValues").collect::<Vec<_>>(),
            ["x", "y"]
        );
        assert_eq!(definition.values.len(), 2);
    }

    #[test]
    fn reads_the_api_shape_into_the_same_definition() {
        let file = read_definition(FILE).unwrap().definition;
        let api = serde_json::to_string(&super::super::shape::ApiDefinition::from(&file)).unwrap();
        let loaded = read_definition(&api).unwrap();
        assert_eq!(loaded.shape, Shape::Api);
        assert!(loaded.report.errors.is_empty(), "{:?}", loaded.report);
        assert_eq!(loaded.definition, file);
    }

    #[test]
    fn reads_api_shaped_objects_inside_a_file_with_a_warning() {
        let text = r#"{"objects": [{"id": "S", "name": "S", "fields": [
            {"key": "type", "stringValue": "Schedule"}, {"key": "parent", "refValue": "P"}]}],
            "parameterValues": [{"id": "myA", "stringValue": "1"}]}"#;
        let loaded = read_definition(text).unwrap();
        let object = &loaded.definition.objects[0];
        assert_eq!(object.type_name(), Some("Schedule"));
        assert_eq!(object.parent(), Some("P"));
        assert_eq!(
            loaded.definition.values,
            [ParameterValue {
                id: "myA".into(),
                value: "1".into()
            }]
        );
        assert_eq!(loaded.report.warnings.len(), 2, "{:?}", loaded.report.warnings);
        assert!(
            loaded.report.warnings[1]
                .message
                .contains("objects 1 are written in the API shape")
        );
    }

    #[test]
    fn structural_mistakes_are_reported_per_object_and_field_and_the_rest_is_read() {
        let text = r#"{"objects": [
            {"id": "A", "maximumRetries": 3, "stage": true, "x": null, "y": {"id": "B"}, "z": [["a"]], "w": ""},
            {"name": "no id"},
            "text",
            {"id": "B", "k": "1", "k": "2"}
        ]}"#;
        let loaded = read_definition(text).unwrap();
        let report = &loaded.report;
        let found = |issues: &[Issue], first: &str, second: &str| {
            let messages: Vec<String> = issues.iter().map(ToString::to_string).collect();
            assert!(
                messages.iter().any(|m| m.contains(first) && m.contains(second)),
                "{first}, {second}: {messages:?}"
            );
        };
        found(&report.errors, "object \"A\", field \"x\"", "null");
        found(&report.errors, "field \"y\"", "reference");
        found(&report.errors, "field \"z\"", "list inside a list");
        found(&report.errors, "field \"w\"", "empty string");
        found(&report.errors, "object 2 has no \"id\"", "");
        found(&report.errors, "element 3", "a string");
        found(&report.warnings, "maximumRetries", "\"3\"");
        found(&report.warnings, "stage", "\"true\"");
        found(&report.warnings, "object \"B\", field \"k\"", "last one");
        let b = loaded.definition.object("B").unwrap();
        assert_eq!(b.values("k").collect::<Vec<_>>(), [&FieldValue::String("2".into())]);
        assert_eq!(
            loaded.definition.object("A").unwrap().string("maximumRetries"),
            Some("3")
        );
    }

    #[test]
    fn a_document_without_objects_is_not_a_definition() {
        for (text, expected) in [
            ("[]", "an array"),
            ("{}", "no \"objects\" list"),
            (r#"{"values": {"myA": "1"}}"#, "values file"),
        ] {
            let error = read_definition(text).unwrap_err();
            assert!(error.to_string().contains(expected), "{text}: {error}");
        }
        assert!(matches!(read_definition("{"), Err(ReadError::Json(_))));
    }

    #[test]
    fn reads_values_files_in_both_shapes() {
        let (values, report) = read_values(r#"{"values": {"myA": "1", "myB": ["x", "y"]}}"#).unwrap();
        assert!(report.errors.is_empty());
        assert_eq!(values.len(), 3);
        let (values, _) = read_values(r#"{"parameterValues": [{"id": "myA", "stringValue": "1"}]}"#).unwrap();
        assert_eq!(
            values,
            [ParameterValue {
                id: "myA".into(),
                value: "1".into()
            }]
        );
        assert!(read_values(r#"{"objects": []}"#).is_err());
    }
}
