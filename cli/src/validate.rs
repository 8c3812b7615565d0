//! `sluice validate FILE...`

use std::path::PathBuf;

use sluice::definition::{Report, validate::validate};

use crate::{
    Format, Outcome,
    inputs::{LoadError, ValueArgs, load_definition},
    report,
};

pub fn run(files: &[PathBuf], values: &ValueArgs, format: Format) -> Outcome {
    let given = match values.load() {
        Ok(given) => given,
        Err(unreadable) => {
            eprintln!("error: {}", unreadable.0);
            return Outcome::Usage;
        }
    };
    let mut outcome = Outcome::Success;
    for path in files {
        let file = path.display().to_string();
        let mut report = Report::default();
        report.extend(given.report.clone());
        match load_definition(path) {
            Err(LoadError::Unreadable(unreadable)) => {
                eprintln!("error: {}", unreadable.0);
                outcome = outcome.max(Outcome::Usage);
                continue;
            }
            Err(LoadError::Invalid(issue)) => report.error(issue),
            Ok(loaded) => {
                report.extend(loaded.report.clone());
                let validation = validate(&loaded.definition, &given.sources(&loaded.definition));
                report.extend(validation.report);
                for issue in report.errors.iter_mut().chain(report.warnings.iter_mut()) {
                    if issue.position.is_none() {
                        issue.position = loaded.locations.locate(&loaded.definition, issue);
                    }
                }
            }
        }
        if report.errored() {
            outcome = outcome.max(Outcome::InputErrors);
        }
        match format {
            Format::Text => report::print_text(&file, &report),
            Format::Json => println!("{}", report::json_object(&file, &report)),
        }
    }
    outcome
}
