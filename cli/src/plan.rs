//! `sluice plan FILE --until DATETIME`

use std::{
    io::{self, BufWriter, Write},
    path::Path,
};

use chrono::{NaiveDateTime, Timelike, Utc};
use serde_json::json;
use sluice::{
    definition::{context::Scope, inherit::Inheritance, validate::validate},
    plan::{DefinitionPlan, plan_definition},
    schedule::{Activation, PlannedInstance, instance_id},
    time::format_datetime,
};

use crate::{
    Format, Outcome,
    inputs::{ValueArgs, definition_for_command, values_for_command},
    report,
};

pub struct Options {
    pub until: NaiveDateTime,
    pub activated_at: Option<NaiveDateTime>,
    pub from: Option<NaiveDateTime>,
    pub allow_backfill: bool,
    pub format: Format,
}

pub fn run(path: &Path, values: &ValueArgs, options: &Options) -> Outcome {
    let file = path.display().to_string();
    let given = match values_for_command(values) {
        Ok(given) => given,
        Err(outcome) => return outcome,
    };
    let loaded = match definition_for_command(path) {
        Ok(loaded) => loaded,
        Err(outcome) => return outcome,
    };
    let definition = &loaded.definition;
    let validation = validate(definition, &given.sources(definition));
    if validation.report.errored() || loaded.report.errored() {
        // AWS refuses to activate a definition with errors; so does the plan.
        for issue in loaded.report.errors.iter().chain(&validation.report.errors) {
            let mut issue = issue.clone();
            issue.position = issue.position.or_else(|| loaded.locations.locate(definition, &issue));
            eprintln!("{}", report::issue_line(&file, "error", &issue));
        }
        eprintln!("{file}: the definition has errors, so it cannot be activated; fix them and plan again");
        return Outcome::InputErrors;
    }
    let (inheritance, _) = Inheritance::new(definition);
    let scope = Scope {
        inheritance: &inheritance,
        parameters: &validation.parameters,
        mask_secrets: true,
    };
    let now = Utc::now().naive_utc();
    let activation = Activation {
        at: options
            .activated_at
            .unwrap_or_else(|| now.with_nanosecond(0).unwrap_or(now)),
        start_timestamp: options.from,
        allow_backfill: options.allow_backfill,
    };
    let plan = match plan_definition(scope, &activation, options.until) {
        Ok(plan) => plan,
        Err(error) => {
            eprintln!("{file}: error: {error}");
            return Outcome::InputErrors;
        }
    };
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let written = match options.format {
        Format::Json => write_json(&mut out, plan),
        Format::Text => write_table(&mut out, plan, &file, options.until),
    }
    .and_then(|()| out.flush());
    crate::finish(written, Outcome::Success)
}

fn status(instance: &PlannedInstance) -> &'static str {
    if instance.skipped {
        "SKIPPED"
    } else {
        "WAITING_ON_DEPENDENCIES"
    }
}

fn write_json(out: &mut impl Write, plan: DefinitionPlan<'_>) -> io::Result<()> {
    let DefinitionPlan { objects, instances } = plan;
    for instance in instances {
        let object = &objects[instance.component];
        let line = json!({
            "id": instance_id(object.id, instance.scheduled_start),
            "component": object.id,
            "type": object.type_name,
            "scheduledStartTime": format_datetime(instance.scheduled_start),
            "scheduledEndTime": format_datetime(instance.scheduled_end),
            "runsAt": format_datetime(instance.runs_at),
            "status": status(&instance),
        });
        writeln!(out, "{line}")?;
    }
    Ok(())
}

fn write_table(out: &mut impl Write, plan: DefinitionPlan<'_>, file: &str, until: NaiveDateTime) -> io::Result<()> {
    let DefinitionPlan { objects, instances } = plan;
    let width = objects.iter().map(|object| object.id.len()).max().unwrap_or(6).max(6);
    writeln!(
        out,
        "{:<19}  {:<19}  {:<19}  {:<23}  {:<width$}  TYPE",
        "SCHEDULED START", "SCHEDULED END", "RUNS AT", "STATUS", "OBJECT"
    )?;
    let mut count: u64 = 0;
    for instance in instances {
        let object = &objects[instance.component];
        writeln!(
            out,
            "{}  {}  {}  {:<23}  {:<width$}  {}",
            format_datetime(instance.scheduled_start),
            format_datetime(instance.scheduled_end),
            format_datetime(instance.runs_at),
            status(&instance),
            object.id,
            object.type_name
        )?;
        count += 1;
    }
    writeln!(
        out,
        "{file}: {count} instance{} of {} object{} before {}",
        if count == 1 { "" } else { "s" },
        objects.len(),
        if objects.len() == 1 { "" } else { "s" },
        format_datetime(until)
    )
}
