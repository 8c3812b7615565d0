//! Where a task's stdout and stderr go: the object's `stdout`/`stderr` fields when given,
//! else AWS's layout under `pipelineLogUri` (reference §3.10):
//! `<pipelineLogUri>/<pipelineId>/<componentId>/@<componentId>_<start>/@<componentId>_<start>_Attempt=<n>/stdout`.
//! What goes there has the task's secret values masked ([`super::redact`]).

use super::Task;

/// The two log destinations of a task; `None` when there is nowhere to put that stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTargets {
    pub stdout: Option<String>,
    pub stderr: Option<String>,
}

/// The parts of an attempt id `@<component>_<start>_Attempt=<n>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptParts<'a> {
    pub component_id: &'a str,
    /// `@<component>_<start>`.
    pub instance_id: &'a str,
    pub attempt: &'a str,
}

/// Splits an attempt id; `None` when it does not have AWS's shape.
pub fn parse_attempt_id(attempt_id: &str) -> Option<AttemptParts<'_>> {
    let (instance_id, attempt) = attempt_id.rsplit_once("_Attempt=")?;
    let (component, _start) = instance_id.strip_prefix('@')?.rsplit_once('_')?;
    if component.is_empty() || attempt.is_empty() {
        return None;
    }
    Some(AttemptParts {
        component_id: component,
        instance_id,
        attempt,
    })
}

/// The attempt's log folder under `pipeline_log_uri`, or `None` when the attempt id cannot
/// be read (logs then go only to explicit `stdout`/`stderr`).
pub fn attempt_log_folder(pipeline_log_uri: &str, pipeline_id: &str, attempt_id: &str) -> Option<String> {
    let parts = parse_attempt_id(attempt_id)?;
    let base = pipeline_log_uri.trim_end_matches('/');
    Some(format!(
        "{base}/{pipeline_id}/{}/{}/{attempt_id}",
        parts.component_id, parts.instance_id
    ))
}

/// Where the task's streams go.
pub fn log_targets(task: &Task) -> LogTargets {
    let folder = task
        .field("pipelineLogUri")
        .filter(|uri| !uri.trim().is_empty())
        .and_then(|uri| attempt_log_folder(uri, &task.pipeline_id, &task.attempt_id));
    let pick = |field: &str| {
        task.field(field)
            .filter(|value| !value.trim().is_empty())
            .map(str::to_owned)
            .or_else(|| folder.as_ref().map(|folder| format!("{folder}/{field}")))
    };
    LogTargets {
        stdout: pick("stdout"),
        stderr: pick("stderr"),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::runner::{ObjectFields, TaskKind};

    fn task(fields: &[(&str, &str)]) -> Task {
        Task {
            task_id: "t".into(),
            pipeline_id: "df-1".into(),
            attempt_id: "@Copy_Logs_2026-01-01T00:00:00_Attempt=2".into(),
            object_id: "Copy_Logs".into(),
            kind: TaskKind::Activity,
            type_name: "ShellCommandActivity".into(),
            object: ObjectFields {
                id: "Copy_Logs".into(),
                fields: fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            },
            referenced: Vec::new(),
        }
    }

    #[test]
    fn logs_go_under_the_pipeline_log_uri_in_aws_layout() {
        // Given a pipelineLogUri with a trailing slash and no stdout/stderr fields
        let targets = log_targets(&task(&[("pipelineLogUri", "s3://logs/dp/")]));
        // Then both streams go to the attempt's folder
        let folder =
            "s3://logs/dp/df-1/Copy_Logs/@Copy_Logs_2026-01-01T00:00:00/@Copy_Logs_2026-01-01T00:00:00_Attempt=2";
        assert_eq!(targets.stdout.as_deref(), Some(format!("{folder}/stdout").as_str()));
        assert_eq!(targets.stderr.as_deref(), Some(format!("{folder}/stderr").as_str()));
    }

    #[test]
    fn explicit_stdout_wins_over_the_pipeline_log_uri() {
        let targets = log_targets(&task(&[("pipelineLogUri", "s3://logs"), ("stdout", "s3://out/o.txt")]));
        assert_eq!(targets.stdout.as_deref(), Some("s3://out/o.txt"));
        assert!(targets.stderr.is_some_and(|uri| uri.ends_with("_Attempt=2/stderr")));
    }

    #[test]
    fn without_any_destination_logs_stay_local() {
        assert_eq!(
            log_targets(&task(&[])),
            LogTargets {
                stdout: None,
                stderr: None
            }
        );
    }

    #[test]
    fn attempt_ids_without_aws_shape_are_not_read() {
        for bad in [
            "",
            "@_Attempt=1",
            "Copy_2026_Attempt=1",
            "@Copy_2026-01-01T00:00:00",
            "@Copy_Attempt=",
        ] {
            assert_eq!(parse_attempt_id(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn reading_any_attempt_id_never_panics(id in ".{0,60}") {
            let _ = parse_attempt_id(&id);
            let _ = attempt_log_folder("s3://b", "df", &id);
        }
    }
}
