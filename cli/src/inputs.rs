//! Reading what commands share: definition files, values files and `--param ID=VALUE`.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::Outcome;
use sluice::definition::{
    Issue, Loaded, ParameterValue, ReadError, Report, parameters::ValueSource, read_definition, read_values,
};

#[derive(Args, Clone)]
pub struct ValueArgs {
    /// Parameter values: {"values": {"myParam": "value", "myList": ["a", "b"]}}
    #[arg(long = "values", value_name = "FILE")]
    pub values_file: Option<PathBuf>,
    /// A parameter value (repeat the id for a list); overrides the values file and the definition
    #[arg(long = "param", value_name = "ID=VALUE", value_parser = param)]
    pub params: Vec<ParameterValue>,
}

fn param(text: &str) -> Result<ParameterValue, String> {
    match text.split_once('=') {
        Some((id, value)) if !id.is_empty() => Ok(ParameterValue {
            id: id.to_owned(),
            value: value.to_owned(),
        }),
        _ => Err(format!(
            "\"{text}\" is not ID=VALUE, for example --param myBucket=s3://logs"
        )),
    }
}

pub fn datetime(text: &str) -> Result<chrono::NaiveDateTime, String> {
    sluice::time::parse_datetime_lenient(text).map_err(|error| error.to_string())
}

/// A file that could not be read at all: bad usage, exit 2.
pub struct Unreadable(pub String);

pub fn read_text(path: &Path) -> Result<String, Unreadable> {
    let bytes = std::fs::read(path).map_err(|error| Unreadable(format!("{}: cannot read: {error}", path.display())))?;
    String::from_utf8(bytes).map_err(|error| {
        Unreadable(format!(
            "{}: not UTF-8 text (invalid byte at offset {}); save the file as UTF-8",
            path.display(),
            error.utf8_error().valid_up_to()
        ))
    })
}

/// Why a definition file could not be loaded: unreadable (exit 2) or not a definition
/// (an error in the input, exit 1).
pub enum LoadError {
    Unreadable(Unreadable),
    Invalid(Issue),
}

pub fn load_definition(path: &Path) -> Result<Loaded, LoadError> {
    let text = read_text(path).map_err(LoadError::Unreadable)?;
    read_definition(&text).map_err(|error| {
        LoadError::Invalid(match &error {
            ReadError::Json(json) => {
                Issue::definition(format!("not valid JSON: {}", json.message)).at(Some(json.position))
            }
            ReadError::NotADefinition { message } => Issue::definition(message.clone()),
        })
    })
}

/// The values file and `--param` values, in the order they override each other.
pub struct GivenValues {
    pub file: Option<ValuesFile>,
    pub params: Vec<ParameterValue>,
}

pub struct ValuesFile {
    pub path: String,
    /// How messages name it: "values file vals.json".
    pub source: String,
    pub values: Vec<ParameterValue>,
    /// What reading it found (a null value, a number ...).
    pub report: Report,
}

impl ValueArgs {
    pub fn load(&self) -> Result<GivenValues, Unreadable> {
        let file = match &self.values_file {
            None => None,
            Some(path) => {
                let text = read_text(path)?;
                let (values, report) = read_values(&text)
                    .map_err(|error| Unreadable(format!("{}: not a values file: {error}", path.display())))?;
                let path = path.display().to_string();
                Some(ValuesFile {
                    source: format!("values file {path}"),
                    path,
                    values,
                    report,
                })
            }
        };
        Ok(GivenValues {
            file,
            params: self.params.clone(),
        })
    }
}

impl GivenValues {
    /// Every source of parameter values, the definition's own first, `--param` last.
    pub fn sources<'a>(&'a self, definition: &'a sluice::definition::Definition) -> Vec<ValueSource<'a>> {
        let mut sources = vec![ValueSource {
            name: "the definition's values",
            values: &definition.values,
        }];
        if let Some(file) = &self.file {
            sources.push(ValueSource {
                name: &file.source,
                values: &file.values,
            });
        }
        sources.push(ValueSource {
            name: "--param",
            values: &self.params,
        });
        sources
    }
}

impl GivenValues {
    /// Prints what reading the values file found, on stderr, for commands whose standard
    /// output is not a report. True when it found errors.
    pub fn report_problems(&self) -> bool {
        let Some(file) = &self.file else { return false };
        for issue in &file.report.errors {
            eprintln!("{}", crate::report::issue_line(&file.path, "error", issue));
        }
        for issue in &file.report.warnings {
            eprintln!("{}", crate::report::issue_line(&file.path, "warning", issue));
        }
        file.report.errored()
    }
}

/// Loads the parameter values for a command whose standard output is not a report (`eval`,
/// `plan`): problems are printed on stderr and end the command with the returned outcome.
pub fn values_for_command(values: &ValueArgs) -> Result<GivenValues, Outcome> {
    let given = values.load().map_err(|unreadable| {
        eprintln!("error: {}", unreadable.0);
        Outcome::Usage
    })?;
    if given.report_problems() {
        return Err(Outcome::InputErrors);
    }
    Ok(given)
}

/// Loads a definition for such a command, the same way.
pub fn definition_for_command(path: &Path) -> Result<Loaded, Outcome> {
    load_definition(path).map_err(|error| match error {
        LoadError::Unreadable(unreadable) => {
            eprintln!("error: {}", unreadable.0);
            Outcome::Usage
        }
        LoadError::Invalid(issue) => {
            eprintln!(
                "{}",
                crate::report::issue_line(&path.display().to_string(), "error", &issue)
            );
            Outcome::InputErrors
        }
    })
}
