//! Instance and attempt ids as AWS writes them: `@<componentId>_<scheduledStartTime>` and
//! `@<componentId>_<scheduledStartTime>_Attempt=<n>`.

use chrono::NaiveDateTime;

use crate::time::format_datetime;

/// The id of a component's instance: `@ShellCommandActivityObj_2015-04-12T17:33:02`.
pub fn instance_id(component_id: &str, scheduled_start: NaiveDateTime) -> String {
    format!("@{component_id}_{}", format_datetime(scheduled_start))
}

/// The id of an attempt of an instance (AWS numbers attempts from 1):
/// `@ShellCommandActivityObj_2015-04-12T17:33:02_Attempt=1`.
pub fn attempt_id(component_id: &str, scheduled_start: NaiveDateTime, attempt: u32) -> String {
    format!("@{component_id}_{}_Attempt={attempt}", format_datetime(scheduled_start))
}

/// The worker group of the runner on a resource instance: the pipeline id joined to the
/// resource's instance id, since two pipelines may name resources alike.
pub fn resource_worker_group(pipeline_id: &str, resource_instance_id: &str) -> String {
    format!("{pipeline_id}/{resource_instance_id}")
}

/// The pipeline and resource instance a worker group names, when it names one.
pub fn parse_resource_worker_group(worker_group: &str) -> Option<(&str, &str)> {
    let (pipeline_id, instance_id) = worker_group.split_once('/')?;
    (!pipeline_id.is_empty() && instance_id.starts_with('@')).then_some((pipeline_id, instance_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_datetime;

    #[test]
    fn resource_worker_groups_name_the_pipeline_and_the_resource_instance() {
        let group = resource_worker_group("df-0001", "@Box_2015-04-12T17:33:02");
        assert_eq!(group, "df-0001/@Box_2015-04-12T17:33:02");
        assert_eq!(
            parse_resource_worker_group(&group),
            Some(("df-0001", "@Box_2015-04-12T17:33:02"))
        );
        assert_eq!(parse_resource_worker_group("etl-workers"), None);
        assert_eq!(parse_resource_worker_group("team/etl"), None);
        assert_eq!(parse_resource_worker_group("/@Box_2015-04-12T17:33:02"), None);
    }

    #[test]
    fn instance_ids_join_the_component_id_and_scheduled_start() {
        let start = parse_datetime("2015-04-12T17:33:02").unwrap();
        assert_eq!(
            instance_id("ShellCommandActivityObj", start),
            "@ShellCommandActivityObj_2015-04-12T17:33:02"
        );
    }

    #[test]
    fn attempt_ids_add_the_attempt_number() {
        let start = parse_datetime("2015-04-12T17:33:02").unwrap();
        assert_eq!(
            attempt_id("ShellCommandActivityObj", start, 1),
            "@ShellCommandActivityObj_2015-04-12T17:33:02_Attempt=1"
        );
        assert_eq!(
            attempt_id("My_Copy", start, 12),
            "@My_Copy_2015-04-12T17:33:02_Attempt=12"
        );
    }
}
