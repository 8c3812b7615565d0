//! One method per operation, over the engine.

use serde_json::{Map, Value};

use super::{
    error::{ApiError, ErrorKind},
    types::*,
};
use crate::{
    cloud::{probe::Probe, secrets::secret_values},
    definition::{
        Definition, ParameterValue, Report,
        model::SECRET_MASK,
        parameters::ValueSource,
        shape::{ApiDefinition, ApiField},
        validate::validate,
    },
    engine::{
        Engine, EngineError,
        objects::{Marker, Operator, Selector, Sphere},
        operator::{ComponentCommand, InstanceCommand},
        pipelines::{ActivateOptions, DefinitionVersion, NewPipeline},
        tasks::TaskStatus,
    },
    store::{RunStore, records::ErrorDetails},
    time::{format_datetime, parse_datetime_lenient},
};

/// The default and largest page of ListPipelines and QueryObjects.
pub const DEFAULT_PAGE: usize = 100;

/// Where an issue without an object goes in validationErrors / validationWarnings.
const DEFINITION_ISSUES: &str = "(definition)";

/// The API over an engine.
pub struct Api<'a, S, P> {
    pub engine: Engine<'a, S, P>,
    /// How many pipelines one ListPipelines page holds.
    pub page_size: usize,
}

fn field(key: &str, value: impl Into<String>) -> ApiField {
    ApiField {
        key: key.to_owned(),
        string_value: Some(value.into()),
        ref_value: None,
    }
}

/// Issues grouped per object id, in the order they were found.
fn grouped(issues: &[crate::definition::Issue]) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for issue in issues {
        let id = issue.id.clone().unwrap_or_else(|| DEFINITION_ISSUES.to_owned());
        let message = match &issue.field {
            Some(field) => format!("{field}: {}", issue.message),
            None => issue.message.clone(),
        };
        match groups.iter_mut().find(|(existing, _)| *existing == id) {
            Some((_, messages)) => messages.push(message),
            None => groups.push((id, vec![message])),
        }
    }
    groups
}

fn validation_output(report: &Report) -> ValidationOutput {
    ValidationOutput {
        validation_errors: grouped(&report.errors)
            .into_iter()
            .map(|(id, errors)| ValidationError { id, errors })
            .collect(),
        validation_warnings: grouped(&report.warnings)
            .into_iter()
            .map(|(id, warnings)| ValidationWarning { id, warnings })
            .collect(),
        errored: report.errored(),
    }
}

/// The definition a request carries, or why it cannot be read at all.
fn parse_definition(api: ApiDefinition) -> Result<Definition, ApiError> {
    Definition::try_from(api).map_err(|error| ApiError::invalid(error.to_string()))
}

/// Secret values masked, as every answer but PollForTask's shows them.
fn masked(mut definition: ApiDefinition) -> ApiDefinition {
    for value in secret_values(&mut definition) {
        SECRET_MASK.clone_into(value);
    }
    definition
}

fn not_our_marker(marker: &str) -> ApiError {
    ApiError::invalid(format!(
        "member \"marker\" (\"{marker}\") is not a marker this service gave; start again without one"
    ))
}

/// DescribeObjects answers in one page and gives no marker; one sent anyway must be a number.
fn offset_marker(marker: Option<&str>) -> Result<usize, ApiError> {
    marker.filter(|marker| !marker.is_empty()).map_or(Ok(0), |marker| {
        marker.parse::<usize>().map_err(|_| not_our_marker(marker))
    })
}

fn selector(input: &SelectorInput) -> Result<Selector, ApiError> {
    let field_name = input
        .field_name
        .clone()
        .ok_or_else(|| ApiError::invalid("a selector of member \"query.selectors\" has no fieldName"))?;
    let time = |index: usize| -> Result<chrono::NaiveDateTime, ApiError> {
        let text = input.values.get(index).ok_or_else(|| {
            ApiError::invalid(format!(
                "selector on \"{field_name}\": operator {} needs {} value(s)",
                input.operator_type.as_deref().unwrap_or_default(),
                index + 1
            ))
        })?;
        parse_datetime_lenient(text).map_err(|_| {
            ApiError::invalid(format!(
                "selector on \"{field_name}\": \"{text}\" is not a time like 2026-01-01T00:00:00"
            ))
        })
    };
    let operator = match input.operator_type.as_deref() {
        Some("EQ") => Operator::Eq(input.values.clone()),
        Some("REF_EQ") => Operator::RefEq(input.values.clone()),
        Some("LE") => Operator::Le(time(0)?),
        Some("GE") => Operator::Ge(time(0)?),
        Some("BETWEEN") => Operator::Between(time(0)?, time(1)?),
        other => {
            return Err(ApiError::invalid(format!(
                "selector on \"{field_name}\": operator type {other:?} is not one of EQ, REF_EQ, LE, GE, BETWEEN"
            )));
        }
    };
    Ok(Selector { field_name, operator })
}

impl<'a, S: RunStore, P: Probe> Api<'a, S, P> {
    pub fn new(engine: Engine<'a, S, P>) -> Self {
        Self {
            engine,
            page_size: DEFAULT_PAGE,
        }
    }

    /// An engine error as the service answers it: a pipeline that was deleted says so.
    async fn fail(&self, pipeline_id: &str, error: EngineError) -> ApiError {
        if matches!(error, EngineError::PipelineNotFound(_))
            && let Ok(true) = self.engine.is_deleted(pipeline_id).await
        {
            return ApiError::new(
                ErrorKind::PipelineDeleted,
                format!("pipeline \"{pipeline_id}\" was deleted; create a new one"),
            );
        }
        ApiError::from(error)
    }

    async fn on<T>(&self, pipeline_id: &str, result: Result<T, EngineError>) -> Result<T, ApiError> {
        match result {
            Ok(value) => Ok(value),
            Err(error) => Err(self.fail(pipeline_id, error).await),
        }
    }

    pub async fn create_pipeline(&self, input: CreatePipelineInput) -> Result<CreatePipelineOutput, ApiError> {
        let new = NewPipeline {
            name: input.name,
            unique_id: input.unique_id,
            description: input.description,
            tags: input.tags,
        };
        let pipeline_id = self.engine.create_unique_pipeline(&new).await?;
        Ok(CreatePipelineOutput { pipeline_id })
    }

    pub async fn put_pipeline_definition(&self, input: DefinitionInput) -> Result<ValidationOutput, ApiError> {
        let definition = parse_definition(input.definition)?;
        let report = self.engine.put_definition(&input.pipeline_id, &definition).await;
        let report = self.on(&input.pipeline_id, report).await?;
        Ok(validation_output(&report))
    }

    pub async fn validate_pipeline_definition(&self, input: DefinitionInput) -> Result<ValidationOutput, ApiError> {
        let found = self.engine.pipeline_record(&input.pipeline_id).await;
        self.on(&input.pipeline_id, found).await?;
        let definition = parse_definition(input.definition)?;
        let report = validate(
            &definition,
            &[ValueSource {
                name: "the definition's values",
                values: &definition.values,
            }],
        )
        .report;
        Ok(validation_output(&report))
    }

    pub async fn get_pipeline_definition(
        &self,
        input: GetPipelineDefinitionInput,
    ) -> Result<GetPipelineDefinitionOutput, ApiError> {
        let version = match input.version.as_deref() {
            None | Some("latest") => DefinitionVersion::Latest,
            Some("active") => DefinitionVersion::Active,
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "member \"version\" is \"{other}\"; it is \"latest\" or \"active\""
                )));
            }
        };
        let saved = self.engine.saved_definition(&input.pipeline_id, version).await;
        let saved = self.on(&input.pipeline_id, saved).await?;
        Ok(saved.map(|record| masked(record.definition)).unwrap_or_default())
    }

    pub async fn activate_pipeline(&self, input: ActivatePipelineInput) -> Result<Empty, ApiError> {
        let options = ActivateOptions {
            start_timestamp: input.start_timestamp,
            parameter_values: input.parameter_values.into_iter().map(ParameterValue::from).collect(),
            allow_backfill: false,
        };
        let done = self.engine.activate(&input.pipeline_id, &options).await;
        self.on(&input.pipeline_id, done).await?;
        Ok(Empty {})
    }

    pub async fn deactivate_pipeline(&self, input: DeactivatePipelineInput) -> Result<Empty, ApiError> {
        let done = self
            .engine
            .deactivate(&input.pipeline_id, input.cancel_active.unwrap_or(true))
            .await;
        self.on(&input.pipeline_id, done).await?;
        Ok(Empty {})
    }

    /// DeletePipeline: a pipeline already deleted is PipelineNotFoundException, as the
    /// model lists no PipelineDeletedException for it.
    pub async fn delete_pipeline(&self, input: DeletePipelineInput) -> Result<Empty, ApiError> {
        self.engine.delete_pipeline(&input.pipeline_id).await?;
        Ok(Empty {})
    }

    pub async fn describe_pipelines(&self, input: DescribePipelinesInput) -> Result<DescribePipelinesOutput, ApiError> {
        let mut list = Vec::new();
        for id in &input.pipeline_ids {
            let found = self.engine.pipeline_record(id).await;
            let pipeline = self.on(id, found).await?;
            let mut fields = vec![
                field("@id", pipeline.id.clone()),
                field("name", pipeline.name.clone()),
                field("uniqueId", pipeline.unique_id.clone()),
                field("@sphere", "PIPELINE"),
                field("@pipelineState", pipeline.state.as_str()),
                field("@creationTime", format_datetime(pipeline.created_at)),
            ];
            if let Some(version) = pipeline.latest_version {
                fields.push(field("@version", version.to_string()));
            }
            if let Some(at) = pipeline.first_activated_at {
                fields.push(field("@firstActivationTime", format_datetime(at)));
            }
            if let Some(at) = pipeline.activated_at {
                fields.push(field("@lastActivationTime", format_datetime(at)));
            }
            if let Some(at) = pipeline.start_timestamp {
                fields.push(field("@startTimestamp", format_datetime(at)));
            }
            if let Some(description) = &pipeline.description {
                fields.push(field("description", description.clone()));
            }
            // AWS's health field; Sluice also says why a pipeline it stopped is unhealthy.
            let health = if pipeline.error_message.is_some() {
                "ERROR"
            } else {
                "HEALTHY"
            };
            fields.push(field("@healthStatus", health));
            if let Some(error) = &pipeline.error_message {
                fields.push(field("errorMessage", error.clone()));
            }
            list.push(PipelineDescription {
                pipeline_id: pipeline.id,
                name: pipeline.name,
                fields,
                description: pipeline.description,
                tags: pipeline.tags,
            });
        }
        Ok(DescribePipelinesOutput {
            pipeline_description_list: list,
        })
    }

    pub async fn list_pipelines(&self, input: ListPipelinesInput) -> Result<ListPipelinesOutput, ApiError> {
        let from = input.marker.as_deref().filter(|marker| !marker.is_empty());
        let (listed, next) = self.engine.list_pipelines(from, self.page_size.max(1)).await?;
        Ok(ListPipelinesOutput {
            pipeline_id_list: listed
                .into_iter()
                .map(|listed| PipelineIdName {
                    id: listed.id,
                    name: listed.name,
                })
                .collect(),
            has_more_results: next.is_some(),
            marker: next,
        })
    }

    /// DescribeObjects: at most 25 ids, so every answer is one page.
    pub async fn describe_objects(&self, input: DescribeObjectsInput) -> Result<DescribeObjectsOutput, ApiError> {
        offset_marker(input.marker.as_deref())?;
        let objects = self
            .engine
            .describe_objects(&input.pipeline_id, &input.object_ids, input.evaluate_expressions)
            .await;
        let objects = self.on(&input.pipeline_id, objects).await?;
        Ok(DescribeObjectsOutput {
            pipeline_objects: objects,
            marker: None,
            has_more_results: false,
        })
    }

    /// QueryObjects: one page, read from the store a chunk at a time after the marker (see
    /// [`Marker`] for its format, opaque to clients); a page with selectors the key order
    /// cannot serve may be short, or empty, with a marker to go on from.
    pub async fn query_objects(&self, input: QueryObjectsInput) -> Result<QueryObjectsOutput, ApiError> {
        let sphere = Sphere::parse(&input.sphere).ok_or_else(|| {
            ApiError::invalid(format!(
                "member \"sphere\" is \"{}\"; it is COMPONENT, INSTANCE or ATTEMPT",
                input.sphere
            ))
        })?;
        let limit = match input.limit {
            None => DEFAULT_PAGE,
            Some(limit) if limit >= 1 => usize::try_from(limit).unwrap_or(usize::MAX),
            Some(limit) => {
                return Err(ApiError::invalid(format!(
                    "member \"limit\" is {limit}; it must be at least 1"
                )));
            }
        };
        let selectors = input.selectors.iter().map(selector).collect::<Result<Vec<_>, _>>()?;
        let after = match input.marker.as_deref().filter(|marker| !marker.is_empty()) {
            None => None,
            Some(marker) => Some(Marker::parse(marker).ok_or_else(|| not_our_marker(marker))?),
        };
        let page = self
            .engine
            .query_objects_page(&input.pipeline_id, sphere, &selectors, after.as_ref(), limit)
            .await;
        let page = self.on(&input.pipeline_id, page).await?;
        Ok(QueryObjectsOutput {
            ids: page.ids,
            has_more_results: page.next.is_some(),
            marker: page.next.map(|next| next.to_string()),
        })
    }

    pub async fn set_status(&self, input: SetStatusInput) -> Result<Empty, ApiError> {
        let pipeline = &input.pipeline_id;
        let done = match input.status.as_str() {
            "PAUSE" | "RESUME" => {
                let command = if input.status == "PAUSE" {
                    ComponentCommand::Pause
                } else {
                    ComponentCommand::Resume
                };
                self.engine
                    .set_component_status(pipeline, &input.object_ids, command)
                    .await
            }
            "TRY_CANCEL" | "RERUN" | "MARK_FINISHED" => {
                let command = match input.status.as_str() {
                    "TRY_CANCEL" => InstanceCommand::TryCancel,
                    "RERUN" => InstanceCommand::Rerun,
                    _ => InstanceCommand::MarkFinished,
                };
                self.engine
                    .set_instance_status(pipeline, &input.object_ids, command)
                    .await
            }
            other => {
                return Err(ApiError::invalid(format!(
                    "member \"status\" is \"{other}\": components take PAUSE or RESUME, instances TRY_CANCEL, \
                     RERUN or MARK_FINISHED"
                )));
            }
        };
        self.on(pipeline, done).await?;
        Ok(Empty {})
    }

    pub async fn evaluate_expression(
        &self,
        input: EvaluateExpressionInput,
    ) -> Result<EvaluateExpressionOutput, ApiError> {
        let value = self
            .engine
            .evaluate_expression(&input.pipeline_id, &input.object_id, &input.expression)
            .await;
        let evaluated_expression = self.on(&input.pipeline_id, value).await?;
        Ok(EvaluateExpressionOutput { evaluated_expression })
    }

    pub async fn add_tags(&self, input: AddTagsInput) -> Result<Empty, ApiError> {
        let done = self.engine.add_tags(&input.pipeline_id, &input.tags).await;
        self.on(&input.pipeline_id, done).await?;
        Ok(Empty {})
    }

    pub async fn remove_tags(&self, input: RemoveTagsInput) -> Result<Empty, ApiError> {
        let done = self.engine.remove_tags(&input.pipeline_id, &input.tag_keys).await;
        self.on(&input.pipeline_id, done).await?;
        Ok(Empty {})
    }

    /// PollForTask answers at once: a task, or none (no long poll). The task's objects
    /// carry secret values unmasked: the runner needs them to do the work.
    pub async fn poll_for_task(&self, input: PollForTaskInput) -> Result<PollForTaskOutput, ApiError> {
        let Some(task) = self
            .engine
            .poll_for_task(&input.worker_group, input.hostname.as_deref())
            .await?
        else {
            return Ok(PollForTaskOutput { task_object: None });
        };
        let objects = self.engine.task_objects(&task).await?;
        let mut map = Map::new();
        for object in objects {
            let value = serde_json::to_value(&object)
                .map_err(|error| ApiError::new(ErrorKind::InternalService, error.to_string()))?;
            map.insert(object.id, value);
        }
        Ok(PollForTaskOutput {
            task_object: Some(TaskObject {
                task_id: task.task_id,
                pipeline_id: task.pipeline_id,
                attempt_id: task.attempt_id,
                objects: map,
            }),
        })
    }

    pub async fn report_task_progress(
        &self,
        input: ReportTaskProgressInput,
    ) -> Result<ReportTaskProgressOutput, ApiError> {
        let canceled = self
            .engine
            .report_task_progress_with(&input.task_id, None, &input.fields)
            .await?;
        Ok(ReportTaskProgressOutput { canceled })
    }

    /// Records the runner's heartbeat; `terminate` tells a resource's runner that its
    /// resource has ended.
    pub async fn report_task_runner_heartbeat(
        &self,
        input: ReportTaskRunnerHeartbeatInput,
    ) -> Result<ReportTaskRunnerHeartbeatOutput, ApiError> {
        let terminate = self
            .engine
            .report_task_runner_heartbeat(
                &input.taskrunner_id,
                input.worker_group.as_deref(),
                input.hostname.as_deref(),
            )
            .await?;
        Ok(ReportTaskRunnerHeartbeatOutput { terminate })
    }

    pub async fn set_task_status(&self, input: SetTaskStatusInput) -> Result<Empty, ApiError> {
        let status = match input.task_status.as_str() {
            "FINISHED" => TaskStatus::Finished,
            "FAILED" => TaskStatus::Failed,
            "FALSE" => TaskStatus::False,
            other => {
                return Err(ApiError::invalid(format!(
                    "member \"taskStatus\" is \"{other}\"; it is FINISHED, FAILED or FALSE"
                )));
            }
        };
        if let Some(error_id) = &input.error_id
            && error_id.starts_with("Service_")
        {
            return Err(ApiError::invalid(format!(
                "member \"errorId\" (\"{error_id}\") must not start with \"Service_\": that prefix is the service's own"
            )));
        }
        let error = ErrorDetails {
            error_id: input.error_id,
            error_message: input.error_message,
            error_stack_trace: input.error_stack_trace,
        };
        self.engine.set_task_status(&input.task_id, None, status, error).await?;
        Ok(Empty {})
    }
}

/// Values a test or the protocol may want as plain JSON.
pub fn to_json<T: serde::Serialize>(value: &T) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|error| {
        ApiError::new(
            ErrorKind::InternalService,
            format!("the answer could not be written as JSON ({error}); report this"),
        )
    })
}
