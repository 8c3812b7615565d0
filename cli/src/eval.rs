//! `sluice eval STRING`

use std::{
    io::{self, Write},
    path::Path,
};

use chrono::NaiveDateTime;
use sluice::{
    definition::{
        Definition,
        context::{ObjectContext, Runtime, Scope},
        inherit::Inheritance,
        parameters::parameter_values,
    },
    plan::runtime_at,
};

use crate::{
    Outcome,
    inputs::{ValueArgs, definition_for_command, values_for_command},
    report,
};

pub fn run(string: &str, at: Option<NaiveDateTime>, target: Option<(&Path, &str)>, values: &ValueArgs) -> Outcome {
    let given = match values_for_command(values) {
        Ok(given) => given,
        Err(outcome) => return outcome,
    };
    let definition = match target.map(|(path, _)| definition_for_command(path)) {
        None => Definition::default(),
        Some(Ok(loaded)) => loaded.definition,
        Some(Err(outcome)) => return outcome,
    };
    let (parameters, parameter_report) = parameter_values(&definition, &given.sources(&definition));
    for issue in &parameter_report.errors {
        // A parameter problem changes what expressions see; say so, and evaluate anyway.
        eprintln!("{}", report::issue_line("parameters", "warning", issue));
    }
    let (inheritance, _) = Inheritance::new(&definition);
    let scope = Scope {
        inheritance: &inheritance,
        parameters: &parameters,
        mask_secrets: true,
    };
    let object = match target {
        None => None,
        Some((path, id)) => match inheritance.index(id) {
            Some(index) => Some(index),
            None => {
                let hint =
                    sluice::suggest::did_you_mean(id, definition.objects.iter().map(|object| object.id.as_str()));
                eprintln!("error: {} has no object \"{id}\"{hint}", path.display());
                return Outcome::Usage;
            }
        },
    };
    let runtime = match (at, object) {
        (Some(at), Some(index)) => runtime_at(scope, index, at),
        (Some(at), None) => Runtime::scheduled(at, None),
        (None, _) => Runtime::default(),
    };
    match ObjectContext::new(scope, object, &runtime).evaluate(string) {
        Ok(evaluated) => {
            let stdout = io::stdout();
            let mut out = stdout.lock();
            let written = evaluated.into_vec().iter().try_for_each(|text| writeln!(out, "{text}"));
            crate::finish(written, Outcome::Success)
        }
        Err(error) => {
            eprintln!("error: {error}");
            eprintln!("  {string}");
            let pad: String = string
                .chars()
                .take(error.offset)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            eprintln!("  {pad}^");
            Outcome::InputErrors
        }
    }
}
