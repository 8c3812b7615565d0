//! Parameters (reference §1.3): declarations with a type, a default, allowed values and
//! whether they take a list; values from the definition's `values`, a values file, or the
//! command line, later sources overriding earlier ones.

use std::collections::BTreeMap;

use super::{
    issue::{Issue, Report},
    model::{Definition, ParameterObject, ParameterValue, is_secret, is_user_name},
};
use crate::expr::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParameterType {
    String,
    Integer,
    Double,
    /// `AWS::S3::ObjectKey`: an `s3://bucket/key` location.
    S3ObjectKey,
}

impl ParameterType {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "String" => Self::String,
            "Integer" => Self::Integer,
            "Double" => Self::Double,
            "AWS::S3::ObjectKey" => Self::S3ObjectKey,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "String",
            Self::Integer => "Integer",
            Self::Double => "Double",
            Self::S3ObjectKey => "AWS::S3::ObjectKey",
        }
    }

    /// Why `text` is not a value of this type, if it is not.
    fn check(self, text: &str) -> Option<&'static str> {
        match self {
            Self::String => None,
            Self::Integer => text
                .trim()
                .parse::<i64>()
                .is_err()
                .then_some("is not an Integer (a whole number such as 42)"),
            Self::Double => {
                let number = text.trim().parse::<f64>();
                (!number.is_ok_and(f64::is_finite)).then_some("is not a Double (a number such as 0.25)")
            }
            Self::S3ObjectKey => (!text.starts_with("s3://"))
                .then_some("is not an AWS::S3::ObjectKey (an S3 location such as s3://bucket/prefix)"),
        }
    }

    /// The value as an expression sees it.
    fn value(self, text: &str) -> Value {
        match self {
            Self::Integer => text
                .trim()
                .parse()
                .map_or_else(|_| Value::Str(text.to_owned()), Value::Int),
            Self::Double => text
                .trim()
                .parse()
                .map_or_else(|_| Value::Str(text.to_owned()), Value::Float),
            Self::String | Self::S3ObjectKey => Value::Str(text.to_owned()),
        }
    }
}

/// A parameter declaration, read from its attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    pub id: String,
    pub kind: ParameterType,
    pub description: Option<String>,
    pub help_text: Option<String>,
    pub watermark: Option<String>,
    pub default: Vec<String>,
    pub optional: bool,
    pub allowed_values: Vec<String>,
    pub is_array: bool,
}

impl Parameter {
    /// `*myPassword`: the value is masked and never printed.
    pub fn is_secret(&self) -> bool {
        is_secret(&self.id)
    }
}

const KNOWN_ATTRIBUTES: [&str; 9] = [
    "type",
    "description",
    "helpText",
    "watermark",
    "default",
    "optional",
    "allowedValues",
    "isArray",
    "myComment",
];

/// Reads every declaration; problems are reported per parameter.
pub fn declarations(definition: &Definition) -> (Vec<Parameter>, Report) {
    let mut report = Report::default();
    let mut parameters: Vec<Parameter> = Vec::new();
    for object in &definition.parameters {
        if parameters.iter().any(|parameter| parameter.id == object.id) {
            report.error(Issue::object(
                &object.id,
                "the parameter is declared twice: keep one declaration",
            ));
            continue;
        }
        parameters.push(declaration(object, &mut report));
    }
    if parameters.len() > 50 {
        report.warning(Issue::definition(format!(
            "{} parameters: AWS allows at most 50 per definition (Sluice has no such limit)",
            parameters.len()
        )));
    }
    (parameters, report)
}

fn declaration(object: &ParameterObject, report: &mut Report) -> Parameter {
    let id = &object.id;
    let name = id.strip_prefix('*').unwrap_or(id);
    if !is_user_name(name) {
        report.error(Issue::object(
            id,
            format!(
                "a parameter id must start with \"my\" followed by an uppercase letter or \"_\" (for example \"my{}\"), as AWS requires",
                capitalised(name)
            ),
        ));
    }
    for attribute in &object.attributes {
        if !KNOWN_ATTRIBUTES.contains(&attribute.key.as_str()) && !is_user_name(&attribute.key) {
            report.warning(Issue::field(
                id,
                &attribute.key,
                format!(
                    "\"{}\" is not a parameter attribute and is ignored (known: {})",
                    attribute.key,
                    KNOWN_ATTRIBUTES[..9].join(", ")
                ),
            ));
        }
    }
    let kind = match object.attribute("type") {
        None => ParameterType::String,
        Some(text) => ParameterType::parse(text).unwrap_or_else(|| {
            report.error(Issue::field(
                id,
                "type",
                format!("\"{text}\" is not a parameter type: use String, Integer, Double or AWS::S3::ObjectKey"),
            ));
            ParameterType::String
        }),
    };
    let mut flag = |key: &str| match object.attribute(key) {
        None => false,
        Some(text) if text.eq_ignore_ascii_case("true") => true,
        Some(text) if text.eq_ignore_ascii_case("false") => false,
        Some(text) => {
            report.error(Issue::field(
                id,
                key,
                format!("\"{text}\" is not a boolean: write \"true\" or \"false\""),
            ));
            false
        }
    };
    let optional = flag("optional");
    let is_array = flag("isArray");
    let parameter = Parameter {
        id: id.clone(),
        kind,
        description: object.attribute("description").map(str::to_owned),
        help_text: object.attribute("helpText").map(str::to_owned),
        watermark: object.attribute("watermark").map(str::to_owned),
        default: object.attributes("default").map(str::to_owned).collect(),
        optional,
        allowed_values: object.attributes("allowedValues").map(str::to_owned).collect(),
        is_array,
    };
    for value in &parameter.default {
        if let Some(problem) = value_problem(&parameter, value) {
            report.error(Issue::field(id, "default", format!("the default {problem}")));
        }
    }
    if parameter.default.len() > 1 && !parameter.is_array {
        report.error(Issue::field(
            id,
            "default",
            "several defaults for a parameter that is not isArray",
        ));
    }
    parameter
}

fn capitalised(name: &str) -> String {
    let mut characters = name.chars();
    characters
        .next()
        .map(|first| first.to_uppercase().chain(characters).collect())
        .unwrap_or_default()
}

/// Why a value does not suit a parameter, phrased to follow "the value ...". Secret values
/// are never quoted.
fn value_problem(parameter: &Parameter, value: &str) -> Option<String> {
    let shown = if parameter.is_secret() {
        "(secret)".to_owned()
    } else {
        format!("\"{value}\"")
    };
    if let Some(problem) = parameter.kind.check(value) {
        return Some(format!("{shown} {problem}"));
    }
    if !parameter.allowed_values.is_empty() && !parameter.allowed_values.iter().any(|allowed| allowed == value) {
        return Some(format!(
            "{shown} is not one of the allowed values: {}",
            parameter.allowed_values.join(", ")
        ));
    }
    None
}

/// Where a set of values came from, for messages.
#[derive(Debug, Clone, Copy)]
pub struct ValueSource<'a> {
    /// "the definition's values", "values file vals.json", "--param".
    pub name: &'a str,
    pub values: &'a [ParameterValue],
}

/// The value of every parameter, after defaults and overrides.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParameterValues {
    values: BTreeMap<String, (Option<ParameterType>, Vec<String>)>,
    secret_ids: Vec<String>,
}

impl ParameterValues {
    /// The value an expression sees: typed by the declaration, a list when the parameter
    /// is an array. Looked up with or without the `*` of a secret parameter.
    pub fn value(&self, id: &str) -> Option<Value> {
        let (kind, values) = self.entry(id)?;
        let kind = kind.unwrap_or(ParameterType::String);
        match values.as_slice() {
            [single] => Some(kind.value(single)),
            many => Some(Value::List(many.iter().map(|value| kind.value(value)).collect())),
        }
    }

    /// The raw strings of a parameter.
    pub fn strings(&self, id: &str) -> Option<&[String]> {
        self.entry(id).map(|(_, values)| values.as_slice())
    }

    fn entry(&self, id: &str) -> Option<&(Option<ParameterType>, Vec<String>)> {
        self.values.get(id).or_else(|| match id.strip_prefix('*') {
            Some(plain) => self.values.get(plain),
            None => self.values.get(&format!("*{id}")),
        })
    }

    /// Whether the parameter is secret (declared or given with a `*`).
    pub fn is_secret(&self, id: &str) -> bool {
        is_secret(id)
            || self
                .secret_ids
                .iter()
                .any(|secret| secret.trim_start_matches('*') == id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }
}

/// Works out every parameter's value from the declarations' defaults and the sources,
/// later sources overriding earlier ones, and checks each against its declaration.
pub fn resolve(parameters: &[Parameter], sources: &[ValueSource<'_>]) -> (ParameterValues, Report) {
    let mut report = Report::default();
    let mut given: BTreeMap<&str, (&str, Vec<String>)> = BTreeMap::new();
    for source in sources {
        let mut from_this: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for value in source.values {
            from_this
                .entry(value.id.as_str())
                .or_default()
                .push(value.value.clone());
        }
        for (id, values) in from_this {
            given.insert(id, (source.name, values));
        }
    }
    let mut resolved = ParameterValues::default();
    for parameter in parameters {
        if parameter.is_secret() {
            resolved.secret_ids.push(parameter.id.clone());
        }
        let plain = parameter.id.trim_start_matches('*');
        let supplied = given.remove(parameter.id.as_str()).or_else(|| given.remove(plain));
        let values = match supplied {
            Some((source, values)) => {
                if values.len() > 1 && !parameter.is_array {
                    report.error(Issue::object(
                        &parameter.id,
                        format!(
                            "{source} gives {} values, but the parameter takes one (declare \"isArray\": \"true\" for a list)",
                            values.len()
                        ),
                    ));
                }
                for value in &values {
                    if let Some(problem) = value_problem(parameter, value) {
                        report.error(Issue::object(
                            &parameter.id,
                            format!("the value from {source} {problem}"),
                        ));
                    }
                }
                values
            }
            None if !parameter.default.is_empty() => parameter.default.clone(),
            None => {
                if !parameter.optional {
                    report.error(Issue::object(
                        &parameter.id,
                        format!(
                            "the parameter is required and has no value: give one in \"values\", a values file (--values) or --param {}=...{}",
                            parameter.id,
                            parameter.description.as_deref().map(|text| format!(" ({text})")).unwrap_or_default()
                        ),
                    ));
                }
                continue;
            }
        };
        resolved
            .values
            .insert(parameter.id.clone(), (Some(parameter.kind), values));
    }
    for (id, (source, values)) in given {
        report.warning(Issue::object(
            id,
            format!("{source} gives a value for \"{id}\", which no parameter declares; it is used as a String"),
        ));
        if is_secret(id) {
            resolved.secret_ids.push(id.to_owned());
        }
        resolved.values.insert(id.to_owned(), (None, values));
    }
    (resolved, report)
}

/// Every parameter's value for a definition: its declarations, then `sources` in order.
pub fn parameter_values(definition: &Definition, sources: &[ValueSource<'_>]) -> (ParameterValues, Report) {
    let (declared, mut report) = declarations(definition);
    let (values, value_report) = resolve(&declared, sources);
    report.extend(value_report);
    (values, report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::model::ParameterAttribute;

    fn declare(id: &str, attributes: &[(&str, &str)]) -> ParameterObject {
        ParameterObject {
            id: id.into(),
            attributes: attributes
                .iter()
                .map(|(key, value)| ParameterAttribute {
                    key: (*key).into(),
                    value: (*value).into(),
                })
                .collect(),
        }
    }

    fn values(pairs: &[(&str, &str)]) -> Vec<ParameterValue> {
        pairs
            .iter()
            .map(|(id, value)| ParameterValue {
                id: (*id).into(),
                value: (*value).into(),
            })
            .collect()
    }

    fn resolve_with(objects: Vec<ParameterObject>, given: &[(&str, &str)]) -> (ParameterValues, Report) {
        let definition = Definition {
            parameters: objects,
            ..Definition::default()
        };
        let (parameters, declared) = declarations(&definition);
        assert!(declared.errors.is_empty(), "{declared:?}");
        let given = values(given);
        resolve(
            &parameters,
            &[ValueSource {
                name: "--param",
                values: &given,
            }],
        )
    }

    #[test]
    fn reads_every_attribute() {
        let definition = Definition {
            parameters: vec![declare(
                "myRegions",
                &[
                    ("type", "String"),
                    ("description", "Regions"),
                    ("helpText", "Where to copy"),
                    ("watermark", "us-east-1"),
                    ("default", "us-east-1"),
                    ("optional", "true"),
                    ("allowedValues", "us-east-1"),
                    ("allowedValues", "eu-west-1"),
                    ("isArray", "TRUE"),
                ],
            )],
            ..Definition::default()
        };
        let (parameters, report) = declarations(&definition);
        assert!(report.errors.is_empty() && report.warnings.is_empty(), "{report:?}");
        let parameter = &parameters[0];
        assert_eq!(parameter.kind, ParameterType::String);
        assert_eq!(parameter.help_text.as_deref(), Some("Where to copy"));
        assert_eq!(parameter.watermark.as_deref(), Some("us-east-1"));
        assert_eq!(parameter.allowed_values, ["us-east-1", "eu-west-1"]);
        assert!(parameter.optional && parameter.is_array);
    }

    #[test]
    fn typed_values_reach_expressions_typed() {
        let (resolved, report) = resolve_with(
            vec![
                declare("myCount", &[("type", "Integer")]),
                declare("myRatio", &[("type", "Double"), ("default", "0.25")]),
                declare("myList", &[("isArray", "true")]),
            ],
            &[("myCount", "3"), ("myList", "a"), ("myList", "b")],
        );
        assert!(report.errors.is_empty(), "{report:?}");
        assert_eq!(resolved.value("myCount"), Some(Value::Int(3)));
        assert_eq!(resolved.value("myRatio"), Some(Value::Float(0.25)));
        assert_eq!(
            resolved.value("myList"),
            Some(Value::List(vec![Value::Str("a".into()), Value::Str("b".into())]))
        );
    }

    #[test]
    fn later_sources_override_earlier_ones() {
        let definition = Definition {
            parameters: vec![declare("myName", &[])],
            ..Definition::default()
        };
        let (parameters, _) = declarations(&definition);
        let in_definition = values(&[("myName", "from-definition")]);
        let from_file = values(&[("myName", "from-file")]);
        let from_command_line = values(&[("myName", "from-command-line")]);
        let sources = [
            ValueSource {
                name: "the definition's values",
                values: &in_definition,
            },
            ValueSource {
                name: "values file v.json",
                values: &from_file,
            },
            ValueSource {
                name: "--param",
                values: &from_command_line,
            },
        ];
        let (resolved, _) = resolve(&parameters, &sources);
        assert_eq!(resolved.strings("myName"), Some(&["from-command-line".to_owned()][..]));
        let (resolved, _) = resolve(&parameters, &sources[..2]);
        assert_eq!(resolved.strings("myName"), Some(&["from-file".to_owned()][..]));
    }

    #[test]
    fn wrong_values_are_errors_that_name_the_parameter() {
        let (_, report) = resolve_with(
            vec![
                declare("myCount", &[("type", "Integer")]),
                declare("myRatio", &[("type", "Double")]),
                declare("myPath", &[("type", "AWS::S3::ObjectKey")]),
                declare("myColour", &[("allowedValues", "red"), ("allowedValues", "blue")]),
                declare("myRequired", &[("description", "the table to copy")]),
                declare("mySingle", &[]),
                declare("myOptional", &[("optional", "true")]),
            ],
            &[
                ("myCount", "three"),
                ("myRatio", "NaN"),
                ("myPath", "/tmp/x"),
                ("myColour", "green"),
                ("mySingle", "a"),
                ("mySingle", "b"),
            ],
        );
        let messages: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
        let expect = |id: &str, text: &str| {
            assert!(
                messages
                    .iter()
                    .any(|m| m.starts_with(&format!("object \"{id}\"")) && m.contains(text)),
                "{id}: {text} not in {messages:?}"
            );
        };
        expect("myCount", "\"three\" is not an Integer");
        expect("myRatio", "is not a Double");
        expect("myPath", "s3://");
        expect("myColour", "not one of the allowed values: red, blue");
        expect("myRequired", "required and has no value");
        expect("myRequired", "the table to copy");
        expect("mySingle", "gives 2 values");
        assert_eq!(messages.len(), 6, "{messages:?}");
    }

    #[test]
    fn secret_values_are_never_quoted() {
        let (resolved, report) = resolve_with(
            vec![declare("*myPassword", &[("allowedValues", "a")])],
            &[("*myPassword", "hunter2")],
        );
        let text = format!("{report:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("(secret)"));
        assert!(resolved.is_secret("myPassword") && resolved.is_secret("*myPassword"));
        assert_eq!(resolved.value("myPassword"), Some(Value::Str("hunter2".into())));
    }

    #[test]
    fn declarations_are_checked() {
        let definition = Definition {
            parameters: vec![
                declare("bucket", &[]),
                declare("myA", &[("type", "Int")]),
                declare("myB", &[("optional", "yes"), ("colour", "x")]),
                declare("myB", &[]),
                declare("myC", &[("type", "Integer"), ("default", "x")]),
            ],
            ..Definition::default()
        };
        let (_, report) = declarations(&definition);
        let messages: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
        assert!(messages[0].contains("\"myBucket\""), "{messages:?}");
        assert!(
            messages.iter().any(|m| m.contains("\"Int\" is not a parameter type")),
            "{messages:?}"
        );
        assert!(
            messages.iter().any(|m| m.contains("\"yes\" is not a boolean")),
            "{messages:?}"
        );
        assert!(messages.iter().any(|m| m.contains("declared twice")), "{messages:?}");
        assert!(
            messages
                .iter()
                .any(|m| m.contains("the default \"x\" is not an Integer")),
            "{messages:?}"
        );
        assert!(
            report.warnings[0]
                .to_string()
                .contains("\"colour\" is not a parameter attribute")
        );
    }

    #[test]
    fn undeclared_values_are_warned_about_and_still_usable() {
        let (resolved, report) = resolve_with(vec![], &[("myExtra", "1")]);
        assert!(report.errors.is_empty());
        assert!(report.warnings[0].to_string().contains("no parameter declares"));
        assert_eq!(resolved.value("myExtra"), Some(Value::Str("1".into())));
    }
}
