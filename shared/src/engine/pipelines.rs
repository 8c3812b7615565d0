//! Pipelines: create, save a definition, activate (with the backfill guard), deactivate.

use chrono::NaiveDateTime;

use super::{Engine, EngineError, PipelineState, Status, compiled::CompiledPipeline};
use crate::{
    cloud::probe::Probe,
    definition::{
        Definition, ParameterValue, Report, parameters::ValueSource, shape::ApiDefinition, validate::validate,
    },
    schedule::{Activation, PlanComponent},
    store::{
        Range, RunStore, keys,
        records::{self, ComponentRecord, DefinitionRecord, InstanceRecord, PipelineRecord, Stored, create},
    },
};

/// What activation needs besides the pipeline id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivateOptions {
    /// ActivatePipeline's startTimestamp: intervals before it are SKIPPED.
    pub start_timestamp: Option<NaiveDateTime>,
    pub parameter_values: Vec<ParameterValue>,
    /// Lift the one-day backfill guard (a Sluice option).
    pub allow_backfill: bool,
}

impl<S: RunStore, P: Probe> Engine<'_, S, P> {
    /// Creates an empty pipeline (PENDING). Creating the same id again changes nothing.
    pub async fn create_pipeline(&self, id: &str, name: &str, unique_id: &str) -> Result<bool, EngineError> {
        let record = PipelineRecord {
            id: id.to_owned(),
            name: name.to_owned(),
            unique_id: unique_id.to_owned(),
            description: None,
            tags: Vec::new(),
            state: PipelineState::Pending,
            created_at: self.now(),
            latest_version: None,
            active_version: None,
            first_activated_at: None,
            activated_at: None,
            start_timestamp: None,
            allow_backfill: false,
            parameter_values: Vec::new(),
            next_check_at: None,
        };
        Ok(self.store.write(create(&record)?).await?)
    }

    /// Validates and saves a definition as the pipeline's latest, even when it has
    /// errors (as PutPipelineDefinition does); an errored definition cannot be activated.
    pub async fn put_definition(&self, id: &str, definition: &Definition) -> Result<Report, EngineError> {
        let pipeline = self.pipeline(id).await?;
        let report = validate(
            definition,
            &[ValueSource {
                name: "the definition's values",
                values: &definition.values,
            }],
        )
        .report;
        let version = pipeline.record.latest_version.unwrap_or(0) + 1;
        let record = DefinitionRecord {
            pipeline_id: id.to_owned(),
            version,
            definition: ApiDefinition::from(definition),
            errored: report.errored(),
            saved_at: self.now(),
        };
        let next = PipelineRecord {
            latest_version: Some(version),
            ..pipeline.record.clone()
        };
        if !self
            .store
            .transact(vec![create(&record)?, pipeline.replace(&next)?])
            .await?
        {
            return Err(EngineError::InvalidRequest(format!(
                "pipeline \"{id}\" changed while its definition was being saved; save it again"
            )));
        }
        Ok(report)
    }

    /// Activates the latest definition: checks it, applies the one-day backfill guard,
    /// and hands the pipeline to the schedule stage.
    pub async fn activate(&self, id: &str, options: &ActivateOptions) -> Result<(), EngineError> {
        let pipeline = self.pipeline(id).await?;
        let version = pipeline
            .record
            .latest_version
            .ok_or_else(|| EngineError::InvalidRequest(format!("pipeline \"{id}\" has no definition to activate")))?;
        let definition: Stored<DefinitionRecord> = records::get(self.store, &keys::definition(id, version))
            .await?
            .ok_or_else(|| EngineError::InvalidRequest(format!("pipeline \"{id}\" lost definition {version}")))?;
        if definition.record.errored {
            return Err(EngineError::InvalidRequest(format!(
                "pipeline \"{id}\": the definition has validation errors; fix them and put it again"
            )));
        }
        let now = self.now();
        let first = pipeline.record.first_activated_at.unwrap_or(now);
        let parsed = Definition::try_from(definition.record.definition.clone())
            .map_err(|error| EngineError::InvalidRequest(error.to_string()))?;
        let compiled = CompiledPipeline::compile(id, version, parsed, &options.parameter_values, first)?;
        // The guard applies to what this activation would create first.
        let activation = Activation {
            at: now,
            start_timestamp: options.start_timestamp,
            allow_backfill: options.allow_backfill,
        };
        if pipeline.record.first_activated_at.is_none() || options.start_timestamp.is_some() {
            for (index, component) in compiled.components.iter().enumerate() {
                let plan = PlanComponent {
                    schedule: component.schedule,
                    schedule_type: component.schedule_type,
                    is_resource: component.category == crate::definition::schema::Category::Resource,
                };
                if !plan.is_on_demand() {
                    activation
                        .check_backfill(index, &plan.schedule, plan.schedule_type)
                        .map_err(|error| EngineError::InvalidRequest(error.named(component.id.clone()).to_string()))?;
                }
            }
        }
        let next = PipelineRecord {
            state: PipelineState::Scheduled,
            active_version: Some(version),
            first_activated_at: Some(first),
            activated_at: Some(now),
            start_timestamp: options.start_timestamp,
            allow_backfill: options.allow_backfill,
            parameter_values: options.parameter_values.clone(),
            next_check_at: Some(now),
            ..pipeline.record.clone()
        };
        if !self.store.write(pipeline.replace(&next)?).await? {
            return Err(EngineError::InvalidRequest(format!(
                "pipeline \"{id}\" changed while activating; try again"
            )));
        }
        Ok(())
    }

    /// Deactivates a pipeline. With `cancel_active`, every unfinished instance is
    /// canceled now; without it, running work drains (DEACTIVATING) and nothing new starts.
    pub async fn deactivate(&self, id: &str, cancel_active: bool) -> Result<(), EngineError> {
        let pipeline = self.pipeline(id).await?;
        if !matches!(
            pipeline.record.state,
            PipelineState::Scheduled | PipelineState::Deactivating
        ) {
            return Ok(());
        }
        if cancel_active {
            let unfinished = self.unfinished_instances(&pipeline.record).await?;
            let ids: Vec<String> = unfinished.iter().map(|instance| instance.record.id()).collect();
            self.cancel_instances(id, &ids).await?;
        }
        let state = if cancel_active {
            PipelineState::Inactive
        } else {
            PipelineState::Deactivating
        };
        let next_check_at = (!cancel_active).then(|| self.now());
        let next = PipelineRecord {
            state,
            next_check_at,
            ..pipeline.record.clone()
        };
        self.store.write(pipeline.replace(&next)?).await?;
        Ok(())
    }

    /// Every instance of the pipeline that has not ended. Reads history: only for rare
    /// operator actions, never for a stage step.
    pub(crate) async fn unfinished_instances(
        &self,
        pipeline: &PipelineRecord,
    ) -> Result<Vec<Stored<InstanceRecord>>, EngineError> {
        let items = self
            .store
            .query(&keys::pipeline_pk(&pipeline.id), &Range::prefix("INST#", usize::MAX))
            .await?;
        Ok(
            super::parse_all::<InstanceRecord>(&items, &mut super::StepReport::default())
                .into_iter()
                .filter(|instance| !instance.record.status.is_terminal())
                .collect(),
        )
    }

    /// The component records of a pipeline.
    pub(crate) async fn components(&self, pipeline: &str) -> Result<Vec<Stored<ComponentRecord>>, EngineError> {
        let items = self
            .store
            .query(
                &keys::pipeline_pk(pipeline),
                &Range::prefix(keys::COMPONENT_PREFIX, usize::MAX),
            )
            .await?;
        Ok(super::parse_all(&items, &mut super::StepReport::default()))
    }
}

/// Whether an instance counts against maxActiveInstances.
pub(crate) fn is_active(status: Status) -> bool {
    matches!(status, Status::WaitingForRunner | Status::Running)
}
