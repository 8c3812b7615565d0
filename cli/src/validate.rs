//! `sluice validate FILE...`

use std::{
    io::{self, BufWriter, Write},
    path::PathBuf,
};

use sluice::definition::{Report, validate::validate};

use crate::{
    Format, Outcome,
    inputs::{LoadError, ValueArgs, load_definition},
    report,
};

fn write_report(out: &mut impl Write, format: Format, file: &str, report: &Report) -> io::Result<()> {
    match format {
        Format::Text => report::write_text(out, file, report),
        Format::Json => writeln!(out, "{}", report::json_object(file, report)),
    }
}

pub fn run(files: &[PathBuf], values: &ValueArgs, format: Format) -> Outcome {
    let given = match values.load() {
        Ok(given) => given,
        Err(unreadable) => {
            eprintln!("error: {}", unreadable.0);
            return Outcome::Usage;
        }
    };
    let mut outcome = Outcome::Success;
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut written = Ok(());
    // The values file is a file too: its problems are reported once, under its own name.
    if let Some(file) = &given.file {
        if file.report.errored() {
            outcome = Outcome::InputErrors;
        }
        if !file.report.errors.is_empty() || !file.report.warnings.is_empty() {
            written = write_report(&mut out, format, &file.path, &file.report);
        }
    }
    for path in files {
        if written.is_err() {
            break;
        }
        let file = path.display().to_string();
        let mut report = Report::default();
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
        written = write_report(&mut out, format, &file, &report);
    }
    crate::finish(written.and_then(|()| out.flush()), outcome)
}
