//! Printing validation findings: compiler-style lines, or one JSON object per file.

use std::io::{self, Write};

use serde_json::{Value, json};
use sluice::definition::{Issue, Report};

/// `FILE:LINE:COLUMN: error: object "X", field "y": message`.
pub fn issue_line(file: &str, severity: &str, issue: &Issue) -> String {
    let place = match issue.position {
        Some(position) => format!("{file}:{}:{}", position.line, position.column),
        None => file.to_owned(),
    };
    let subject = match (&issue.id, &issue.field) {
        (Some(id), Some(field)) => format!("object \"{id}\", field \"{field}\": "),
        (Some(id), None) => format!("object \"{id}\": "),
        (None, Some(field)) => format!("field \"{field}\": "),
        (None, None) => String::new(),
    };
    format!("{place}: {severity}: {subject}{}", issue.message)
}

pub fn write_text(out: &mut impl Write, file: &str, report: &Report) -> io::Result<()> {
    for issue in &report.errors {
        writeln!(out, "{}", issue_line(file, "error", issue))?;
    }
    for issue in &report.warnings {
        writeln!(out, "{}", issue_line(file, "warning", issue))?;
    }
    let verdict = if report.errored() { "invalid" } else { "valid" };
    writeln!(
        out,
        "{file}: {verdict} ({}, {})",
        count(report.errors.len(), "error"),
        count(report.warnings.len(), "warning")
    )
}

fn count(number: usize, noun: &str) -> String {
    format!("{number} {noun}{}", if number == 1 { "" } else { "s" })
}

pub fn json_object(file: &str, report: &Report) -> Value {
    let issues = |issues: &[Issue]| -> Vec<Value> {
        issues
            .iter()
            .map(|issue| {
                json!({
                    "id": issue.id,
                    "field": issue.field,
                    "message": issue.message,
                    "line": issue.position.map(|position| position.line),
                    "column": issue.position.map(|position| position.column),
                })
            })
            .collect()
    };
    json!({
        "file": file,
        "errored": report.errored(),
        "errors": issues(&report.errors),
        "warnings": issues(&report.warnings),
    })
}
