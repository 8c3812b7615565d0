//! Writing a definition in either shape, and the API shape's types.
//!
//! The API shape mirrors botocore's Data Pipeline model (`PipelineObject`, `Field`,
//! `ParameterObject`, `ParameterAttribute`, `ParameterValue`) member for member, so the
//! same types serve `PutPipelineDefinition` and `GetPipelineDefinition` later.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

use super::model::{
    Definition, Field, FieldValue, ParameterAttribute, ParameterObject, ParameterValue, PipelineObject,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ApiDefinition {
    pub pipeline_objects: Vec<ApiPipelineObject>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameter_objects: Vec<ApiParameterObject>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameter_values: Vec<ApiParameterValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiPipelineObject {
    pub id: String,
    pub name: String,
    pub fields: Vec<ApiField>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiField {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ref_value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiParameterObject {
    pub id: String,
    pub attributes: Vec<ApiParameterAttribute>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiParameterAttribute {
    pub key: String,
    pub string_value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiParameterValue {
    pub id: String,
    pub string_value: String,
}

impl From<ApiParameterValue> for ParameterValue {
    fn from(value: ApiParameterValue) -> Self {
        Self {
            id: value.id,
            value: value.string_value,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("object \"{object}\", field \"{key}\": a field has exactly one of stringValue and refValue")]
pub struct ApiFieldError {
    pub object: String,
    pub key: String,
}

impl From<&Definition> for ApiDefinition {
    fn from(definition: &Definition) -> Self {
        Self {
            pipeline_objects: definition
                .objects
                .iter()
                .map(|object| ApiPipelineObject {
                    id: object.id.clone(),
                    name: object.name.clone(),
                    fields: object.fields.iter().map(ApiField::from).collect(),
                })
                .collect(),
            parameter_objects: definition
                .parameters
                .iter()
                .map(|parameter| ApiParameterObject {
                    id: parameter.id.clone(),
                    attributes: parameter
                        .attributes
                        .iter()
                        .map(|attribute| ApiParameterAttribute {
                            key: attribute.key.clone(),
                            string_value: attribute.value.clone(),
                        })
                        .collect(),
                })
                .collect(),
            parameter_values: definition
                .values
                .iter()
                .map(|value| ApiParameterValue {
                    id: value.id.clone(),
                    string_value: value.value.clone(),
                })
                .collect(),
        }
    }
}

impl From<&Field> for ApiField {
    fn from(field: &Field) -> Self {
        let (string_value, ref_value) = match &field.value {
            FieldValue::String(text) => (Some(text.clone()), None),
            FieldValue::Ref(id) => (None, Some(id.clone())),
        };
        Self {
            key: field.key.clone(),
            string_value,
            ref_value,
        }
    }
}

impl TryFrom<ApiDefinition> for Definition {
    type Error = ApiFieldError;

    fn try_from(api: ApiDefinition) -> Result<Self, Self::Error> {
        let objects = api
            .pipeline_objects
            .into_iter()
            .map(|object| {
                let fields = object
                    .fields
                    .into_iter()
                    .map(|field| {
                        let value = match (field.string_value, field.ref_value) {
                            (Some(text), None) => FieldValue::String(text),
                            (None, Some(id)) => FieldValue::Ref(id),
                            _ => {
                                return Err(ApiFieldError {
                                    object: object.id.clone(),
                                    key: field.key,
                                });
                            }
                        };
                        Ok(Field { key: field.key, value })
                    })
                    .collect::<Result<_, _>>()?;
                Ok(PipelineObject {
                    id: object.id,
                    name: object.name,
                    fields,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            objects,
            parameters: api
                .parameter_objects
                .into_iter()
                .map(|parameter| ParameterObject {
                    id: parameter.id,
                    attributes: parameter
                        .attributes
                        .into_iter()
                        .map(|attribute| ParameterAttribute {
                            key: attribute.key,
                            value: attribute.string_value,
                        })
                        .collect(),
                })
                .collect(),
            values: api.parameter_values.into_iter().map(ParameterValue::from).collect(),
        })
    }
}

/// The definition in the file format, as `aws datapipeline get-pipeline-definition`
/// prints it: repeated keys folded into a list at the first key's place, references as
/// `{"ref": id}`, `parameters` and `values` only when there are some.
pub fn to_file_json(definition: &Definition) -> Value {
    let mut document = Map::new();
    let objects = definition
        .objects
        .iter()
        .map(|object| {
            let mut members = Map::new();
            members.insert("id".into(), Value::String(object.id.clone()));
            members.insert("name".into(), Value::String(object.name.clone()));
            for field in &object.fields {
                let value = match &field.value {
                    FieldValue::String(text) => Value::String(text.clone()),
                    FieldValue::Ref(id) => {
                        Value::Object(Map::from_iter([("ref".to_owned(), Value::String(id.clone()))]))
                    }
                };
                fold(&mut members, &field.key, value);
            }
            Value::Object(members)
        })
        .collect();
    document.insert("objects".into(), Value::Array(objects));
    if !definition.parameters.is_empty() {
        let parameters = definition
            .parameters
            .iter()
            .map(|parameter| {
                let mut members = Map::new();
                members.insert("id".into(), Value::String(parameter.id.clone()));
                for attribute in &parameter.attributes {
                    fold(&mut members, &attribute.key, Value::String(attribute.value.clone()));
                }
                Value::Object(members)
            })
            .collect();
        document.insert("parameters".into(), Value::Array(parameters));
    }
    if !definition.values.is_empty() {
        let mut values = Map::new();
        for value in &definition.values {
            fold(&mut values, &value.id, Value::String(value.value.clone()));
        }
        document.insert("values".into(), Value::Object(values));
    }
    Value::Object(document)
}

/// The definition in the API shape, as `PutPipelineDefinition` takes it.
pub fn to_api_json(definition: &Definition) -> Value {
    serde_json::to_value(ApiDefinition::from(definition)).unwrap_or(Value::Null)
}

/// Adds a value under `key`, turning a repeated key into a list like the AWS CLI does.
fn fold(members: &mut Map<String, Value>, key: &str, value: Value) {
    match members.get_mut(key) {
        None => {
            members.insert(key.to_owned(), value);
        }
        Some(Value::Array(list)) => list.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Definition {
        Definition {
            objects: vec![PipelineObject {
                id: "Emr".into(),
                name: "Run steps".into(),
                fields: vec![
                    Field::string("type", "EmrActivity"),
                    Field::string("step", "a.jar,1"),
                    Field::reference("runsOn", "Cluster"),
                    Field::string("step", "b.jar,2"),
                    Field::string("*password", "hunter2"),
                ],
            }],
            parameters: vec![ParameterObject {
                id: "myList".into(),
                attributes: vec![
                    ParameterAttribute {
                        key: "type".into(),
                        value: "String".into(),
                    },
                    ParameterAttribute {
                        key: "isArray".into(),
                        value: "true".into(),
                    },
                ],
            }],
            values: vec![
                ParameterValue {
                    id: "myList".into(),
                    value: "x".into(),
                },
                ParameterValue {
                    id: "myList".into(),
                    value: "y".into(),
                },
            ],
        }
    }

    #[test]
    fn file_format_folds_repeated_keys_into_lists() {
        let json = to_file_json(&sample());
        assert_eq!(json["objects"][0]["step"], serde_json::json!(["a.jar,1", "b.jar,2"]));
        assert_eq!(json["objects"][0]["runsOn"], serde_json::json!({"ref": "Cluster"}));
        assert_eq!(json["values"]["myList"], serde_json::json!(["x", "y"]));
        assert_eq!(json["parameters"][0]["isArray"], "true");
    }

    #[test]
    fn api_shape_round_trips_and_spells_botocore_members() {
        let definition = sample();
        let api = ApiDefinition::from(&definition);
        let json = serde_json::to_value(&api).unwrap();
        assert_eq!(
            json["pipelineObjects"][0]["fields"][2],
            serde_json::json!({"key": "runsOn", "refValue": "Cluster"})
        );
        assert_eq!(
            json["parameterValues"][1],
            serde_json::json!({"id": "myList", "stringValue": "y"})
        );
        let back: ApiDefinition = serde_json::from_value(json).unwrap();
        assert_eq!(Definition::try_from(back).unwrap(), definition);
    }

    #[test]
    fn an_api_field_with_both_values_is_refused() {
        let api = ApiDefinition {
            pipeline_objects: vec![ApiPipelineObject {
                id: "A".into(),
                name: "A".into(),
                fields: vec![ApiField {
                    key: "x".into(),
                    string_value: Some("1".into()),
                    ref_value: Some("B".into()),
                }],
            }],
            ..ApiDefinition::default()
        };
        let error = Definition::try_from(api).unwrap_err();
        assert!(error.to_string().contains("object \"A\", field \"x\""));
    }
}
