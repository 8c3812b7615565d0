//! What an expression inside a definition sees: the object's fields (own and inherited),
//! its runtime fields, the objects its references point at, `node` inside preconditions
//! and actions, and parameters (reference §4.2).

use std::collections::BTreeMap;

use chrono::NaiveDateTime;

use super::{
    inherit::Inheritance,
    model::{FieldValue, SECRET_MASK, is_secret},
    parameters::ParameterValues,
};
use crate::{
    expr::{self, Context, Evaluated, ExprError, Reference, Value},
    suggest,
};

/// Field values that refer to each other deeper than this are taken to be a cycle.
const MAX_DEPTH: u8 = 16;
const CYCLE: &str = "field values refer to each other in a cycle (or more than 16 deep)";

/// Runtime (`@`) fields of an instance: `@scheduledStartTime`, `@scheduledEndTime`,
/// `@pipelineId`, `@status` ...
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Runtime {
    fields: BTreeMap<String, Value>,
}

impl Runtime {
    /// The runtime fields of an instance scheduled at `start` (and ending at `end`).
    pub fn scheduled(start: NaiveDateTime, end: Option<NaiveDateTime>) -> Self {
        let mut runtime = Self::default();
        runtime.set(
            "@scheduledStartTime",
            Value::DateTime(start.and_utc().with_timezone(&chrono_tz::UTC)),
        );
        if let Some(end) = end {
            runtime.set(
                "@scheduledEndTime",
                Value::DateTime(end.and_utc().with_timezone(&chrono_tz::UTC)),
            );
        }
        runtime
    }

    pub fn set(&mut self, key: &str, value: Value) {
        self.fields.insert(key.to_owned(), value);
    }

    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.set(key, value);
        self
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.get(key)
    }
}

/// What every expression in one definition shares.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub inheritance: &'a Inheritance<'a>,
    pub parameters: &'a ParameterValues,
    /// Print `********` for secret fields and parameters: every command that shows
    /// values to a person sets this.
    pub mask_secrets: bool,
}

/// The context of one object (or of none: parameters and runtime fields only).
#[derive(Debug, Clone, Copy)]
pub struct ObjectContext<'a> {
    scope: Scope<'a>,
    object: Option<usize>,
    runtime: &'a Runtime,
    node: Option<(usize, &'a Runtime)>,
    depth: u8,
}

impl<'a> ObjectContext<'a> {
    pub fn new(scope: Scope<'a>, object: Option<usize>, runtime: &'a Runtime) -> Self {
        Self {
            scope,
            object,
            runtime,
            node: None,
            depth: 0,
        }
    }

    /// Sets `node`, the object a precondition or action serves, with its runtime fields.
    pub fn with_node(mut self, node: usize, runtime: &'a Runtime) -> Self {
        self.node = Some((node, runtime));
        self
    }

    /// Evaluates a string in this context.
    pub fn evaluate(&self, text: &str) -> Result<Evaluated, ExprError> {
        expr::evaluate_str(text, self)
    }

    fn object_id(&self) -> Option<&'a str> {
        self.object
            .map(|index| self.scope.inheritance.object(index).id.as_str())
    }

    fn describe(&self) -> String {
        self.object_id()
            .map_or_else(|| "this context".to_owned(), |id| format!("object \"{id}\""))
    }

    fn deeper(&self, object: usize, runtime: &'a Runtime) -> Result<Self, String> {
        if self.depth >= MAX_DEPTH {
            return Err(CYCLE.to_owned());
        }
        Ok(Self {
            object: Some(object),
            runtime,
            depth: self.depth + 1,
            ..*self
        })
    }

    fn leaf(&self, name: &str) -> Result<Value, String> {
        if name.starts_with('@') {
            return self.runtime_field(name);
        }
        if let Some(index) = self.object {
            let inheritance = self.scope.inheritance;
            match name {
                "id" => return Ok(Value::Str(inheritance.object(index).id.clone())),
                "name" => return Ok(Value::Str(inheritance.object(index).name.clone())),
                "node" => {
                    return self
                        .node_context()
                        .map(|node| Value::Str(node.object_id().unwrap_or("").to_owned()));
                }
                _ => {}
            }
            if inheritance.has(index, name) {
                return self.field(index, name);
            }
        }
        // Runtime fields the service sets without `@` (errorMessage, errorId ...).
        if let Some(value) = self.runtime.get(name) {
            return Ok(value.clone());
        }
        if let Some(value) = self.scope.parameters.value(name) {
            return Ok(if self.scope.mask_secrets && self.scope.parameters.is_secret(name) {
                mask(value)
            } else {
                value
            });
        }
        Err(self.no_such(name))
    }

    fn no_such(&self, name: &str) -> String {
        let mut candidates: Vec<&str> = self.scope.parameters.ids().collect();
        if let Some(index) = self.object {
            candidates.extend(self.scope.inheritance.keys(index));
        }
        let hint = suggest::did_you_mean(name, candidates);
        match self.object {
            Some(_) => format!("{} has no field or parameter \"{name}\"{hint}", self.describe()),
            None => format!("there is no parameter \"{name}\"{hint}"),
        }
    }

    fn runtime_field(&self, name: &str) -> Result<Value, String> {
        if let Some(value) = self.runtime.get(name) {
            return Ok(value.clone());
        }
        let object = self.object.map(|index| self.scope.inheritance.object(index));
        match (name, object) {
            ("@id", Some(object)) => Ok(Value::Str(object.id.clone())),
            ("@sphere", Some(_)) => Ok(Value::Str("COMPONENT".to_owned())),
            _ if name.starts_with("@scheduled") => Err(format!(
                "{name} has no value here: it is set for each run (with `sluice eval`, pass --at)"
            )),
            _ => Err(format!(
                "the runtime field {name} has no value here: the service sets it when the pipeline runs"
            )),
        }
    }

    /// All values of a field, each evaluated in the context of the object that owns the
    /// field's value; references become the referenced object's id.
    fn field(&self, index: usize, key: &str) -> Result<Value, String> {
        let masked = self.scope.mask_secrets && is_secret(key);
        let mut values = Vec::new();
        for value in self.scope.inheritance.values(index, key) {
            match value {
                FieldValue::Ref(id) => values.push(Value::Str(id.clone())),
                FieldValue::String(_) if masked => values.push(Value::Str(SECRET_MASK.to_owned())),
                FieldValue::String(text) => {
                    let context = self.deeper(index, self.runtime)?;
                    let evaluated = expr::evaluate_str(text, &context).map_err(|error| {
                        // A cycle is reported once, not wrapped at every level of it.
                        if error.message.contains(CYCLE) {
                            error.message
                        } else {
                            format!("in field \"{key}\" of {}: {error}", context.describe())
                        }
                    })?;
                    match evaluated {
                        Evaluated::One(text) => values.push(Value::Str(text)),
                        Evaluated::Many(texts) => values.extend(texts.into_iter().map(Value::Str)),
                    }
                }
            }
        }
        Ok(match values.len() {
            1 => values.pop().unwrap_or(Value::Str(String::new())),
            _ => Value::List(values),
        })
    }

    fn node_context(&self) -> Result<Self, String> {
        let (node, runtime) = self.node.ok_or_else(|| {
            "`node` is only defined inside a precondition or an action (SnsAlarm, Terminate)".to_owned()
        })?;
        let mut context = self.deeper(node, runtime)?;
        context.node = None;
        Ok(context)
    }

    /// The objects a reference field points at, as contexts sharing this runtime.
    fn referenced(&self, key: &str) -> Result<Vec<Self>, String> {
        if key == "node" {
            return Ok(vec![self.node_context()?]);
        }
        let Some(index) = self.object else {
            return Err(format!("\"{key}\" names no object here"));
        };
        let inheritance = self.scope.inheritance;
        let values = inheritance.values(index, key);
        if values.is_empty() {
            let hint = suggest::did_you_mean(key, inheritance.keys(index));
            return Err(format!("{} has no field \"{key}\"{hint}", self.describe()));
        }
        values
            .into_iter()
            .map(|value| match value {
                FieldValue::Ref(id) => match inheritance.index(id) {
                    Some(target) => self.deeper(target, self.runtime),
                    None => Err(format!("\"{key}\" refers to \"{id}\", which does not exist")),
                },
                FieldValue::String(_) => Err(format!(
                    "\"{key}\" of {} is a string, not a reference to an object",
                    self.describe()
                )),
            })
            .collect()
    }

    fn resolve_path(&self, path: &[String]) -> Result<Value, String> {
        match path {
            [] => Err("empty reference".to_owned()),
            [leaf] => self.leaf(leaf),
            [first, rest @ ..] => {
                let targets = self.referenced(first)?;
                let mut values = targets
                    .iter()
                    .map(|target| target.resolve_path(rest))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(if values.len() == 1 {
                    values.remove(0)
                } else {
                    Value::List(values)
                })
            }
        }
    }
}

/// The value of a string as far as it can be known before a run: the text itself, or the
/// text with parameters and fields filled in. `None` when it needs runtime fields or does
/// not evaluate to a single string.
pub fn static_string(scope: Scope<'_>, object: Option<usize>, text: &str) -> Option<String> {
    let template = expr::parse(text).ok()?;
    if template.is_literal() {
        return Some(text.to_owned());
    }
    let runtime = Runtime::default();
    match template.evaluate(&ObjectContext::new(scope, object, &runtime)) {
        Ok(Evaluated::One(value)) => Some(value),
        _ => None,
    }
}

fn mask(value: Value) -> Value {
    match value {
        Value::List(values) => Value::List(values.into_iter().map(mask).collect()),
        _ => Value::Str(SECRET_MASK.to_owned()),
    }
}

impl Context for ObjectContext<'_> {
    fn resolve(&self, reference: &Reference) -> Result<Value, String> {
        self.resolve_path(&reference.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        definition::{
            model::{Definition, Field, ParameterValue, PipelineObject},
            parameters::{ValueSource, declarations, resolve},
        },
        time::parse_datetime,
    };

    fn definition() -> Definition {
        Definition {
            objects: vec![
                PipelineObject::new("Default", vec![Field::string("myBucket", "s3://#{myBucketName}")]),
                PipelineObject::new(
                    "In",
                    vec![
                        Field::string("type", "S3DataNode"),
                        Field::string(
                            "directoryPath",
                            "#{myBucket}/in/#{format(@scheduledStartTime,'YYYY-MM-dd')}",
                        ),
                    ],
                ),
                PipelineObject::new(
                    "Copy",
                    vec![
                        Field::string("type", "CopyActivity"),
                        Field::reference("input", "In"),
                        Field::string("myLoop", "#{myLoop}"),
                        Field::string("step", "a"),
                        Field::string("step", "b"),
                    ],
                ),
                PipelineObject::new(
                    "Db",
                    vec![
                        Field::string("*password", "hunter2"),
                        Field::string("connectionString", "x#{*myToken}"),
                    ],
                ),
                PipelineObject::new(
                    "Alarm",
                    vec![Field::string(
                        "subject",
                        "#{node.name} failed at #{node.@scheduledStartTime}",
                    )],
                ),
            ],
            ..Definition::default()
        }
    }

    fn with_context<T>(mask_secrets: bool, run: impl FnOnce(&Inheritance, Scope) -> T) -> T {
        let definition = definition();
        let (inheritance, _) = Inheritance::new(&definition);
        let given = vec![
            ParameterValue {
                id: "myBucketName".into(),
                value: "logs".into(),
            },
            ParameterValue {
                id: "*myToken".into(),
                value: "secret-token".into(),
            },
        ];
        let (parameters, _) = declarations(&definition);
        let (values, _) = resolve(
            &parameters,
            &[ValueSource {
                name: "--param",
                values: &given,
            }],
        );
        let scope = Scope {
            inheritance: &inheritance,
            parameters: &values,
            mask_secrets,
        };
        run(&inheritance, scope)
    }

    fn one(result: Result<Evaluated, ExprError>) -> String {
        match result {
            Ok(Evaluated::One(text)) => text,
            other => panic!("expected one string, got {other:?}"),
        }
    }

    #[test]
    fn references_follow_inheritance_refs_and_runtime_fields() {
        with_context(true, |inheritance, scope| {
            let runtime = Runtime::scheduled(parse_datetime("2026-01-31T06:00:00").unwrap(), None);
            let copy = ObjectContext::new(scope, inheritance.index("Copy"), &runtime);
            assert_eq!(one(copy.evaluate("#{input.directoryPath}")), "s3://logs/in/2026-01-31");
            assert_eq!(one(copy.evaluate("#{id} reads #{input}")), "Copy reads In");
            assert_eq!(one(copy.evaluate("#{@scheduledStartTime}")), "2026-01-31T06:00:00");
            assert_eq!(
                copy.evaluate("#{step}").unwrap(),
                Evaluated::Many(vec!["a".into(), "b".into()])
            );
        });
    }

    #[test]
    fn a_multi_valued_field_of_list_expressions_flattens_like_aws() {
        // Given "myAll": ["#{myList1}", "#{myList2}"] with two list parameters
        let definition = Definition {
            objects: vec![PipelineObject::new(
                "Node",
                vec![
                    Field::string("myAll", "#{myList1}"),
                    Field::string("myAll", "#{myList2}"),
                ],
            )],
            ..Definition::default()
        };
        let (inheritance, _) = Inheritance::new(&definition);
        let given: Vec<ParameterValue> = [("myList1", "1"), ("myList1", "2"), ("myList2", "3"), ("myList2", "4")]
            .into_iter()
            .map(|(id, value)| ParameterValue {
                id: id.into(),
                value: value.into(),
            })
            .collect();
        let (values, _) = resolve(
            &[],
            &[ValueSource {
                name: "--param",
                values: &given,
            }],
        );
        let scope = Scope {
            inheritance: &inheritance,
            parameters: &values,
            mask_secrets: true,
        };
        let runtime = Runtime::default();
        let node = ObjectContext::new(scope, inheritance.index("Node"), &runtime);
        // Then the field is one flat list, [1, 2, 3, 4] (reference §4.1)
        assert_eq!(
            node.evaluate("#{myAll}").unwrap(),
            Evaluated::Many(["1", "2", "3", "4"].map(String::from).to_vec())
        );
    }

    #[test]
    fn secrets_are_masked_when_asked() {
        with_context(true, |inheritance, scope| {
            let runtime = Runtime::default();
            let db = ObjectContext::new(scope, inheritance.index("Db"), &runtime);
            assert_eq!(one(db.evaluate("#{*password}")), SECRET_MASK);
            assert_eq!(one(db.evaluate("#{connectionString}")), format!("x{SECRET_MASK}"));
        });
        with_context(false, |inheritance, scope| {
            let runtime = Runtime::default();
            let db = ObjectContext::new(scope, inheritance.index("Db"), &runtime);
            assert_eq!(one(db.evaluate("#{*password}")), "hunter2");
        });
    }

    #[test]
    fn node_is_the_object_an_action_serves() {
        with_context(true, |inheritance, scope| {
            let node_runtime = Runtime::scheduled(parse_datetime("2026-01-31T06:00:00").unwrap(), None);
            let runtime = Runtime::default();
            let alarm = ObjectContext::new(scope, inheritance.index("Alarm"), &runtime)
                .with_node(inheritance.index("Copy").unwrap(), &node_runtime);
            assert_eq!(one(alarm.evaluate("#{subject}")), "Copy failed at 2026-01-31T06:00:00");
            let without = ObjectContext::new(scope, inheritance.index("Alarm"), &runtime);
            assert!(
                without
                    .evaluate("#{node.name}")
                    .unwrap_err()
                    .message
                    .contains("only defined inside")
            );
        });
    }

    #[test]
    fn unknown_names_cycles_and_missing_runtime_fields_are_explained() {
        with_context(true, |inheritance, scope| {
            let runtime = Runtime::default();
            let copy = ObjectContext::new(scope, inheritance.index("Copy"), &runtime);
            let error = copy.evaluate("#{inptu.directoryPath}").unwrap_err();
            assert!(error.message.contains("did you mean \"input\""), "{error}");
            let error = copy.evaluate("#{myBucketNam}").unwrap_err();
            assert!(error.message.contains("did you mean \"myBucketName\""), "{error}");
            assert!(copy.evaluate("#{myLoop}").unwrap_err().message.contains("cycle"));
            assert!(
                copy.evaluate("#{@scheduledStartTime}")
                    .unwrap_err()
                    .message
                    .contains("--at")
            );
            assert!(
                copy.evaluate("#{step.x}")
                    .unwrap_err()
                    .message
                    .contains("not a reference")
            );
        });
    }
}
