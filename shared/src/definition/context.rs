//! What an expression inside a definition sees: the object's fields (own and inherited),
//! its runtime fields, the objects its references point at, `node` inside preconditions
//! and actions, and parameters (reference §4.2).

use std::{
    cell::{Cell, RefCell},
    collections::{BTreeMap, HashMap},
};

use chrono::NaiveDateTime;

use super::{
    inherit::Inheritance,
    model::{FieldValue, SECRET_MASK, is_secret},
    parameters::ParameterValues,
};
use crate::{
    expr::{self, Budget, Context, Evaluated, ExprError, MAX_VALUE_BYTES, Reference, Template, Value},
    suggest,
};

/// Field values that refer to each other deeper than this are taken to be a cycle.
const MAX_DEPTH: u8 = 16;
const CYCLE: &str = "field values refer to each other in a cycle (or more than 16 deep)";

/// The most bytes of field values one evaluation remembers; past it, a field referred to
/// again is evaluated again (and counts its steps again).
const MEMO_BYTES: usize = 16 * MAX_VALUE_BYTES;

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

    /// Evaluates a string in this context: one evaluation, whose bounds on work (see
    /// [`expr::MAX_STEPS`]) cover every field value it refers to, each evaluated once.
    pub fn evaluate(&self, text: &str) -> Result<Evaluated, ExprError> {
        self.evaluate_template(&expr::parse(text)?, Evaluation::explained())
    }

    fn evaluate_template(&self, template: &Template, evaluation: Evaluation) -> Result<Evaluated, ExprError> {
        let frame = Frame {
            at: *self,
            evaluation: &evaluation,
        };
        template.evaluate_within(&frame, &evaluation.budget)
    }

    fn object_id(&self) -> Option<&'a str> {
        self.object
            .map(|index| self.scope.inheritance.object(index).id.as_str())
    }

    fn describe(&self) -> String {
        self.object_id()
            .map_or_else(|| "this context".to_owned(), |id| format!("object \"{id}\""))
    }
}

/// What one evaluation shares: its budget, and the field values it has evaluated, so that
/// a field referred to a hundred times is evaluated once.
#[derive(Default)]
struct Evaluation {
    budget: Budget,
    /// Made at the first field value remembered: most evaluations read none.
    memo: RefCell<Option<HashMap<FieldKey, Value>>>,
    memo_bytes: Cell<usize>,
    /// Whether a name that is not found is worth a suggestion: not when the caller only
    /// asks whether the value can be known, and drops the message.
    suggest: bool,
}

/// A field as evaluated: in the context of which object, with which runtime fields and
/// `node`. Runtimes are told apart by address: each lives as long as the evaluation.
#[derive(Debug, PartialEq, Eq, Hash)]
struct FieldKey {
    object: usize,
    key: String,
    runtime: *const Runtime,
    node: Option<(usize, *const Runtime)>,
}

impl Evaluation {
    fn explained() -> Self {
        Self {
            suggest: true,
            ..Self::default()
        }
    }

    fn remember(&self, key: FieldKey, value: &Value) {
        let bytes = self.memo_bytes.get().saturating_add(expr::size_of(value));
        if bytes <= MEMO_BYTES {
            self.memo_bytes.set(bytes);
            self.memo
                .borrow_mut()
                .get_or_insert_with(HashMap::new)
                .insert(key, value.clone());
        }
    }
}

/// An object's context inside one evaluation.
#[derive(Clone, Copy)]
struct Frame<'e, 'a> {
    at: ObjectContext<'a>,
    evaluation: &'e Evaluation,
}

impl<'e, 'a> Frame<'e, 'a> {
    fn budget(&self) -> &'e Budget {
        &self.evaluation.budget
    }

    /// The context of `object`, one level deeper: a step.
    fn deeper(&self, object: usize, runtime: &'a Runtime) -> Result<Self, String> {
        if self.at.depth >= MAX_DEPTH {
            return Err(CYCLE.to_owned());
        }
        self.budget().step(0).map_err(|error| error.message)?;
        Ok(Self {
            at: ObjectContext {
                object: Some(object),
                runtime,
                depth: self.at.depth + 1,
                ..self.at
            },
            ..*self
        })
    }

    /// The message for a bound crossed while evaluating `key` here, naming the field
    /// unless a field further in is named already.
    fn bound_crossed(&self, key: &str, error: ExprError) -> String {
        let budget = self.budget();
        budget.locate(|| format!("field \"{key}\" of {}", self.at.describe()));
        budget
            .error(error.offset)
            .map_or(error.message, |located| located.message)
    }

    fn leaf(&self, name: &str) -> Result<Value, String> {
        if name.starts_with('@') {
            return self.runtime_field(name);
        }
        let scope = self.at.scope;
        if let Some(index) = self.at.object {
            let inheritance = scope.inheritance;
            match name {
                "id" => return Ok(Value::Str(inheritance.object(index).id.clone())),
                "name" => return Ok(Value::Str(inheritance.object(index).name.clone())),
                "node" => {
                    return self
                        .node_context()
                        .map(|node| Value::Str(node.at.object_id().unwrap_or("").to_owned()));
                }
                _ => {}
            }
            if inheritance.has(index, name) {
                return self.field(index, name);
            }
        }
        // Runtime fields the service sets without `@` (errorMessage, errorId ...).
        if let Some(value) = self.at.runtime.get(name) {
            return Ok(value.clone());
        }
        if let Some(value) = scope.parameters.value(name) {
            return Ok(if scope.mask_secrets && scope.parameters.is_secret(name) {
                mask(value)
            } else {
                value
            });
        }
        Err(self.no_such(name))
    }

    /// `; did you mean "x"?` from the names `candidates` gives, when this evaluation
    /// suggests.
    fn did_you_mean<'n>(&self, word: &str, candidates: impl FnOnce() -> Vec<&'n str>) -> String {
        if self.evaluation.suggest {
            suggest::did_you_mean(word, candidates())
        } else {
            String::new()
        }
    }

    fn no_such(&self, name: &str) -> String {
        let scope = self.at.scope;
        let hint = self.did_you_mean(name, || {
            let mut candidates: Vec<&str> = scope.parameters.ids().collect();
            if let Some(index) = self.at.object {
                candidates.extend(scope.inheritance.keys(index));
            }
            candidates
        });
        match self.at.object {
            Some(_) => format!("{} has no field or parameter \"{name}\"{hint}", self.at.describe()),
            None => format!("there is no parameter \"{name}\"{hint}"),
        }
    }

    fn runtime_field(&self, name: &str) -> Result<Value, String> {
        if let Some(value) = self.at.runtime.get(name) {
            return Ok(value.clone());
        }
        let object = self.at.object.map(|index| self.at.scope.inheritance.object(index));
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

    /// All values of a field, each evaluated in the context of the object that sees the
    /// field; references become the referenced object's id. Evaluated once per
    /// evaluation: later references reuse the value.
    fn field(&self, index: usize, key: &str) -> Result<Value, String> {
        let remembered = FieldKey {
            object: index,
            key: key.to_owned(),
            runtime: std::ptr::from_ref(self.at.runtime),
            node: self.at.node.map(|(node, runtime)| (node, std::ptr::from_ref(runtime))),
        };
        if let Some(value) = self
            .evaluation
            .memo
            .borrow()
            .as_ref()
            .and_then(|memo| memo.get(&remembered))
        {
            return Ok(value.clone());
        }
        let budget = self.budget();
        let masked = self.at.scope.mask_secrets && is_secret(key);
        let mut values = Vec::new();
        let mut bytes = 0usize;
        for value in self.at.scope.inheritance.values(index, key) {
            let evaluated = match value {
                FieldValue::Ref(id) => Evaluated::One(id.clone()),
                FieldValue::String(_) if masked => Evaluated::One(SECRET_MASK.to_owned()),
                FieldValue::String(text) => {
                    let context = self.deeper(index, self.at.runtime)?;
                    expr::evaluate_str_within(text, &context, budget).map_err(|error| {
                        if error.bound().is_some() {
                            context.bound_crossed(key, error)
                        } else if error.message.contains(CYCLE) {
                            // A cycle is reported once, not wrapped at every level of it.
                            error.message
                        } else {
                            format!("in field \"{key}\" of {}: {error}", context.at.describe())
                        }
                    })?
                }
            };
            for text in evaluated.into_vec() {
                bytes = bytes.saturating_add(text.len()).saturating_add(1);
                budget
                    .step(0)
                    .and_then(|()| budget.fits(bytes, 0))
                    .map_err(|error| self.bound_crossed(key, error))?;
                values.push(Value::Str(text));
            }
        }
        let value = match values.len() {
            1 => values.pop().unwrap_or(Value::Str(String::new())),
            _ => Value::List(values),
        };
        self.evaluation.remember(remembered, &value);
        Ok(value)
    }

    fn node_context(&self) -> Result<Self, String> {
        let (node, runtime) = self.at.node.ok_or_else(|| {
            "`node` is only defined inside a precondition or an action (SnsAlarm, Terminate)".to_owned()
        })?;
        let mut context = self.deeper(node, runtime)?;
        context.at.node = None;
        Ok(context)
    }

    /// The objects a reference field points at, as contexts sharing this runtime.
    fn referenced(&self, key: &str) -> Result<Vec<Self>, String> {
        if key == "node" {
            return Ok(vec![self.node_context()?]);
        }
        let Some(index) = self.at.object else {
            return Err(format!("\"{key}\" names no object here"));
        };
        let inheritance = self.at.scope.inheritance;
        let values = inheritance.values(index, key);
        if values.is_empty() {
            let hint = self.did_you_mean(key, || inheritance.keys(index));
            return Err(format!("{} has no field \"{key}\"{hint}", self.at.describe()));
        }
        values
            .into_iter()
            .map(|value| match value {
                FieldValue::Ref(id) => match inheritance.index(id) {
                    Some(target) => self.deeper(target, self.at.runtime),
                    None => Err(format!("\"{key}\" refers to \"{id}\", which does not exist")),
                },
                FieldValue::String(_) => Err(format!(
                    "\"{key}\" of {} is a string, not a reference to an object",
                    self.at.describe()
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
                let mut values = Vec::with_capacity(targets.len());
                let mut bytes = 0usize;
                for target in &targets {
                    let value = target.resolve_path(rest)?;
                    bytes = bytes.saturating_add(expr::size_of(&value)).saturating_add(1);
                    self.budget().fits(bytes, 0).map_err(|error| error.message)?;
                    values.push(value);
                }
                Ok(if values.len() == 1 {
                    values.remove(0)
                } else {
                    Value::List(values)
                })
            }
        }
    }
}

impl Context for Frame<'_, '_> {
    fn resolve(&self, reference: &Reference) -> Result<Value, String> {
        self.resolve_path(&reference.path)
    }
}

/// Resolves one reference within a budget of its own; [`ObjectContext::evaluate`] shares
/// one budget across a whole value and is the way to evaluate one.
impl Context for ObjectContext<'_> {
    fn resolve(&self, reference: &Reference) -> Result<Value, String> {
        let evaluation = Evaluation::explained();
        Frame {
            at: *self,
            evaluation: &evaluation,
        }
        .resolve(reference)
    }
}

/// The value of a string as far as it can be known before a run: the text itself, or the
/// text with parameters and fields filled in. `Ok(None)` when it needs runtime fields or
/// does not evaluate to a single string; an error (with [`ExprError::bound`]) when
/// evaluating it crosses a bound on work, so that it could not be evaluated at run time
/// either.
pub fn static_value(scope: Scope<'_>, object: Option<usize>, text: &str) -> Result<Option<String>, ExprError> {
    let Ok(template) = expr::parse(text) else {
        return Ok(None);
    };
    if template.is_literal() {
        return Ok(Some(text.to_owned()));
    }
    let runtime = Runtime::default();
    match ObjectContext::new(scope, object, &runtime).evaluate_template(&template, Evaluation::default()) {
        Ok(Evaluated::One(value)) => Ok(Some(value)),
        Err(error) if error.bound().is_some() => Err(error),
        Ok(Evaluated::Many(_)) | Err(_) => Ok(None),
    }
}

/// [`static_value`], with a crossed bound as unknown as any other failure.
pub fn static_string(scope: Scope<'_>, object: Option<usize>, text: &str) -> Option<String> {
    static_value(scope, object, text).ok().flatten()
}

fn mask(value: Value) -> Value {
    match value {
        Value::List(values) => Value::List(values.into_iter().map(mask).collect()),
        _ => Value::Str(SECRET_MASK.to_owned()),
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

    /// Evaluates `text` in the context of object "A", whose fields are `fields`.
    fn evaluate_on_a(fields: Vec<Field>, text: &str) -> Result<Evaluated, ExprError> {
        let definition = Definition {
            objects: vec![PipelineObject::new("A", fields)],
            ..Definition::default()
        };
        let (inheritance, _) = Inheritance::new(&definition);
        let parameters = ParameterValues::default();
        let scope = Scope {
            inheritance: &inheritance,
            parameters: &parameters,
            mask_secrets: false,
        };
        let runtime = Runtime::default();
        ObjectContext::new(scope, inheritance.index("A"), &runtime).evaluate(text)
    }

    #[test]
    fn a_field_referred_to_a_thousand_times_is_evaluated_once() {
        // Given myB, a thousand references to myC and a "b", and myA, a thousand
        // references to myB: a million references if each were evaluated each time
        let fields = vec![
            Field::string("myA", "#{myB}".repeat(1_000)),
            Field::string("myB", format!("{}b", "#{myC}".repeat(1_000))),
            Field::string("myC", ""),
        ];
        // When myA is evaluated
        let evaluated = evaluate_on_a(fields, "#{myA}");
        // Then it is myB's "b" a thousand times, well within the step bound
        assert_eq!(evaluated, Ok(Evaluated::One("b".repeat(1_000))));
    }

    #[test]
    fn the_same_field_seen_from_another_object_or_runtime_is_evaluated_in_each() {
        // Given Default's myWho, which is the id of the object that sees it
        let definition = Definition {
            objects: vec![
                PipelineObject::new("Default", vec![Field::string("myWho", "#{id}@#{@scheduledStartTime}")]),
                PipelineObject::new("A", vec![Field::reference("other", "B")]),
                PipelineObject::new("B", vec![]),
                PipelineObject::new(
                    "Alarm",
                    vec![Field::string("subject", "#{myWho} #{node.myWho} #{myWho}")],
                ),
            ],
            ..Definition::default()
        };
        let (inheritance, _) = Inheritance::new(&definition);
        let parameters = ParameterValues::default();
        let scope = Scope {
            inheritance: &inheritance,
            parameters: &parameters,
            mask_secrets: false,
        };
        let runtime = Runtime::scheduled(parse_datetime("2026-01-31T06:00:00").unwrap(), None);
        let node_runtime = Runtime::scheduled(parse_datetime("2026-02-01T00:00:00").unwrap(), None);
        // When one evaluation reads it from A, from B and from a node with other runtime fields
        let a = ObjectContext::new(scope, inheritance.index("A"), &runtime);
        let alarm = ObjectContext::new(scope, inheritance.index("Alarm"), &runtime)
            .with_node(inheritance.index("A").unwrap(), &node_runtime);
        // Then each is its own value, not the first one remembered
        assert_eq!(
            one(a.evaluate("#{myWho} #{other.myWho} #{myWho}")),
            "A@2026-01-31T06:00:00 B@2026-01-31T06:00:00 A@2026-01-31T06:00:00"
        );
        assert_eq!(
            one(alarm.evaluate("#{subject}")),
            "Alarm@2026-01-31T06:00:00 A@2026-02-01T00:00:00 Alarm@2026-01-31T06:00:00"
        );
    }

    #[test]
    fn a_value_over_one_mib_is_refused_naming_the_bound_and_the_field_that_grew() {
        // Given myHalf of 512 KiB + 1 byte, and myB that repeats it twice
        let fields = vec![
            Field::string("myHalf", "x".repeat(512 * 1024 + 1)),
            Field::string("myB", "#{myHalf}#{myHalf}"),
        ];
        // When the top-level value repeats it twice, or refers to myB
        let top = evaluate_on_a(fields.clone(), "#{myHalf}#{myHalf}").unwrap_err();
        let nested = evaluate_on_a(fields, "ab#{myB}").unwrap_err();
        // Then both are refused for the value bound; the nested one names myB, and is
        // reported where the top-level value refers to it
        assert_eq!(top.bound(), Some(expr::Bound::ValueBytes));
        assert_eq!(
            top.message,
            "evaluating it builds a value longer than 1 MiB (1048576 bytes): field values that repeat references to each other multiply in length; simplify the references"
        );
        assert_eq!(nested.bound(), Some(expr::Bound::ValueBytes));
        assert_eq!(nested.offset, 4);
        assert_eq!(
            nested.message,
            "evaluating it builds a value longer than 1 MiB (1048576 bytes), in field \"myB\" of object \"A\": field values that repeat references to each other multiply in length; simplify the references"
        );
    }

    #[test]
    fn a_value_of_exactly_one_mib_is_allowed() {
        let fields = vec![Field::string("myHalf", "x".repeat(512 * 1024))];
        let evaluated = evaluate_on_a(fields, "#{myHalf}#{myHalf}").map(|value| value.into_vec()[0].len());
        assert_eq!(evaluated, Ok(1 << 20));
    }

    #[test]
    fn a_multibyte_value_counts_its_bytes_not_its_characters() {
        // Given myWide, 300,000 two-byte characters: 600,000 bytes
        let fields = vec![Field::string("myWide", "é".repeat(300_000))];
        // When a value repeats it twice: 600,000 characters, under a million, but
        // 1,200,000 bytes, over 1 MiB
        let error = evaluate_on_a(fields, "#{myWide}#{myWide}").unwrap_err();
        // Then it is refused
        assert_eq!(error.bound(), Some(expr::Bound::ValueBytes));
    }

    #[test]
    fn a_concatenation_over_one_mib_is_refused() {
        let fields = vec![Field::string("myHalf", "x".repeat(512 * 1024 + 1))];
        let error = evaluate_on_a(fields, "#{myHalf + myHalf}").unwrap_err();
        assert_eq!(error.bound(), Some(expr::Bound::ValueBytes), "{error}");
    }

    #[test]
    fn a_list_that_multiplies_through_multi_valued_fields_runs_out_of_steps() {
        // Given myL, 1,000 values that each are myM, a list of 200: 200,000 elements
        let mut fields: Vec<Field> = (0..1_000).map(|_| Field::string("myL", "#{myM}")).collect();
        fields.extend((0..200).map(|_| Field::string("myM", "1")));
        // When a value refers to myL
        let error = evaluate_on_a(fields, "#{myL}").unwrap_err();
        // Then it stops at the step bound
        assert_eq!(error.bound(), Some(expr::Bound::Steps));
        assert_eq!(
            error.message,
            "evaluating it takes more than 100000 steps (field values that refer to each other many times); simplify the references"
        );
    }

    #[test]
    fn a_field_that_amplifies_is_an_error_for_static_evaluation_and_unknown_for_static_string() {
        // Given myA, a hundred myB, each a hundred myC ...
        let names = ["myA", "myB", "myC", "myD", "myE"];
        let mut fields: Vec<Field> = names
            .windows(2)
            .map(|pair| Field::string(pair[0], format!("#{{{}}}", pair[1]).repeat(100)))
            .collect();
        fields.push(Field::string("myE", "x"));
        let definition = Definition {
            objects: vec![PipelineObject::new("A", fields)],
            ..Definition::default()
        };
        let (inheritance, _) = Inheritance::new(&definition);
        let parameters = ParameterValues::default();
        let scope = Scope {
            inheritance: &inheritance,
            parameters: &parameters,
            mask_secrets: false,
        };
        // When it is evaluated before a run
        let value = static_value(scope, Some(0), "#{myA}");
        // Then that is an error naming the bound and where it was crossed
        let error = value.unwrap_err();
        assert_eq!(error.bound(), Some(expr::Bound::ValueBytes));
        assert!(error.message.contains("in field \"myA\" of object \"A\""), "{error}");
        assert_eq!(static_string(scope, Some(0), "#{myA}"), None);
        assert_eq!(static_string(scope, Some(0), "#{myE}!").as_deref(), Some("x!"));
    }
}
