//! Pipelines: create, save a definition, activate (with the backfill guard), deactivate,
//! list, and delete (at once, with the records purged in the background).

use chrono::{NaiveDateTime, TimeDelta};

use super::{Engine, EngineError, PipelineState, Status, StepReport, clock::Random, compiled::CompiledPipeline};
use crate::{
    cloud::{
        probe::Probe,
        secrets::{secret_parameter_values, secret_values},
    },
    definition::{
        Definition, ParameterValue, Report, parameters::ValueSource, shape::ApiDefinition, validate::validate,
    },
    schedule::{Activation, PlanComponent},
    store::{
        Expected, Item, Key, Range, RunStore, StoreError, Write, keys,
        records::{
            self, AttemptRecord, ComponentRecord, DefinitionRecord, DeletedRecord, InstanceRecord, ListingRecord,
            PipelineRecord, Stored, Tag, UniqueIdRecord, create,
        },
    },
    time::add_or_max,
};

/// How many times a pipeline operation reads again after another writer changed it.
const TRIES: usize = 8;

/// How many of a deleted pipeline's records one purge step removes: one query and one
/// transaction (with the attempts' task records, two).
pub const PURGE_PAGE: usize = 100;

/// How long after a deletion the purge looks once more before it is done: a stage step
/// (a Lambda runs at most 15 minutes) that read the pipeline's records before the delete
/// may write one until then.
pub const PURGE_GRACE: TimeDelta = TimeDelta::minutes(15);

/// At most this many tags per pipeline (the API's tagList).
pub const MAX_TAGS: usize = 10;

/// Pipeline ids are `df-` and this many uppercase letters and digits.
const PIPELINE_ID_LENGTH: usize = 20;

/// What CreatePipeline is given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewPipeline {
    pub name: String,
    pub unique_id: String,
    pub description: Option<String>,
    pub tags: Vec<Tag>,
}

/// Which saved definition to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefinitionVersion {
    /// The last one saved.
    Latest,
    /// The one activated last.
    Active,
}

/// The tag that lets ActivatePipeline start a schedule more than a day back.
pub const ALLOW_BACKFILL_TAG: &str = "sluice:allowBackfill";

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
        let record = PipelineRecord::pending(id, name, unique_id, None, Vec::new(), self.now());
        let listing = ListingRecord {
            id: id.to_owned(),
            name: name.to_owned(),
        };
        Ok(self.store.transact(vec![create(&record)?, create(&listing)?]).await?)
    }

    /// CreatePipeline: a new empty pipeline with a fresh `df-` id, or, when this name
    /// and uniqueId created one before, that pipeline's id (nothing changes).
    pub async fn create_unique_pipeline(&self, new: &NewPipeline) -> Result<String, EngineError> {
        if new.tags.len() > MAX_TAGS {
            return Err(EngineError::InvalidRequest(format!(
                "a pipeline has at most {MAX_TAGS} tags; {} were given",
                new.tags.len()
            )));
        }
        let key = keys::unique(&new.name, &new.unique_id);
        for _ in 0..TRIES {
            if let Some(found) = records::get::<UniqueIdRecord, _>(self.store, &key).await? {
                return Ok(found.record.pipeline_id);
            }
            let id = pipeline_id(self.random);
            let record = PipelineRecord::pending(
                &id,
                &new.name,
                &new.unique_id,
                new.description.clone(),
                new.tags.clone(),
                self.now(),
            );
            let listing = ListingRecord {
                id: id.clone(),
                name: new.name.clone(),
            };
            let unique = UniqueIdRecord {
                name: new.name.clone(),
                unique_id: new.unique_id.clone(),
                pipeline_id: id.clone(),
            };
            if self
                .store
                .transact(vec![create(&record)?, create(&listing)?, create(&unique)?])
                .await?
            {
                return Ok(id);
            }
        }
        Err(EngineError::Store(StoreError::Unavailable(format!(
            "pipeline \"{}\" (uniqueId \"{}\") was being created by another call at the same time",
            new.name, new.unique_id
        ))))
    }

    /// The pipeline's record, or PipelineNotFound.
    pub async fn pipeline_record(&self, id: &str) -> Result<PipelineRecord, EngineError> {
        Ok(self.pipeline(id).await?.record)
    }

    /// Whether a pipeline of this id was deleted (within the retention period).
    pub async fn is_deleted(&self, id: &str) -> Result<bool, EngineError> {
        Ok(records::get::<DeletedRecord, _>(self.store, &keys::deleted(id))
            .await?
            .is_some())
    }

    /// A saved definition of the pipeline, if it has one of that kind.
    pub async fn saved_definition(
        &self,
        id: &str,
        version: DefinitionVersion,
    ) -> Result<Option<DefinitionRecord>, EngineError> {
        let pipeline = self.pipeline(id).await?;
        let number = match version {
            DefinitionVersion::Latest => pipeline.record.latest_version,
            DefinitionVersion::Active => pipeline.record.active_version,
        };
        let Some(number) = number else { return Ok(None) };
        Ok(
            records::get::<DefinitionRecord, _>(self.store, &keys::definition(id, number))
                .await?
                .map(|stored| stored.record),
        )
    }

    /// DeletePipeline: answers at once, however much history the pipeline has. One
    /// transaction removes the pipeline's record, its listing and its name + uniqueId, and
    /// writes a tombstone in the purge queue: from then on calls on the pipeline answer
    /// that it was deleted, nothing schedules it, and [`Engine::purge_step`] removes the rest
    /// of its records (runs, attempts, events, definitions) a page at a time. Its running
    /// work is not canceled one instance at a time: what a runner holds ends when its
    /// attempt is purged (its reports then find no task), and machines whose records are
    /// gone are the resources sweep's to stop.
    pub async fn delete_pipeline(&self, id: &str) -> Result<(), EngineError> {
        for _ in 0..TRIES {
            let [pipeline, listing, old_tombstone] =
                records::get_each(self.store, [keys::pipeline(id), keys::listing(id), keys::deleted(id)]).await?;
            let pipeline = records::decode::<PipelineRecord>(pipeline.as_ref())?
                .ok_or_else(|| EngineError::PipelineNotFound(id.to_owned()))?;
            let mut writes = vec![Write::Delete {
                key: keys::pipeline(id),
                expected: pipeline.expected.clone(),
            }];
            if let Some(item) = listing {
                writes.push(Write::Delete {
                    key: item.key.clone(),
                    expected: Expected::of(&item),
                });
            }
            let unique_key = keys::unique(&pipeline.record.name, &pipeline.record.unique_id);
            if let Some(unique) = records::get::<UniqueIdRecord, _>(self.store, &unique_key).await?
                && unique.record.pipeline_id == id
            {
                writes.push(Write::Delete {
                    key: unique_key,
                    expected: unique.expected.clone(),
                });
            }
            let now = self.now();
            let tombstone = DeletedRecord {
                id: id.to_owned(),
                deleted_at: now,
                purge_at: Some(now),
            };
            match records::decode::<DeletedRecord>(old_tombstone.as_ref())? {
                Some(old) => writes.push(old.replace(&tombstone)?),
                None => writes.push(create(&tombstone)?),
            }
            if self.store.transact(writes).await? {
                return Ok(());
            }
        }
        Err(EngineError::Store(StoreError::Unavailable(format!(
            "pipeline \"{id}\" kept changing while being deleted; delete it again"
        ))))
    }

    /// The purge stage's step: for each deleted pipeline in its queue, removes one page of
    /// its records ([`PURGE_PAGE`]) with the task records of the attempts among them. Each
    /// page is read from the partition's start, so a step cut short by a crash loses
    /// nothing: the next one reads what is left. A pipeline with no records left leaves the
    /// queue once [`PURGE_GRACE`] has passed since its deletion (a step that read its
    /// records before may still write them until then); one created again under the same
    /// id (tests do) is left alone.
    pub async fn purge_step(&self) -> Result<StepReport, EngineError> {
        let mut report = StepReport::default();
        for item in self.due_items(keys::stages::PURGE).await? {
            report.examined += 1;
            let outcome = self.purge_page(&item, &mut report).await;
            self.confine(keys::stages::PURGE, &item, outcome, &mut report).await;
        }
        Ok(report)
    }

    async fn purge_page(&self, item: &Item, report: &mut StepReport) -> Result<(), EngineError> {
        let tombstone = Stored::<DeletedRecord>::from_item(item)?;
        let id = tombstone.record.id.clone();
        let everything = Range {
            from: String::new(),
            to: "\u{10FFFF}".to_owned(),
            // One more: the tombstone itself may be among them.
            limit: PURGE_PAGE + 1,
        };
        let page = self.store.query(&keys::pipeline_pk(&id), &everything).await?;
        let doomed: Vec<&Item> = page
            .iter()
            .filter(|record| record.key != tombstone.record.key_of())
            .take(PURGE_PAGE)
            .collect();
        let recreated = doomed.iter().any(|record| record.key == keys::pipeline(&id));
        if doomed.is_empty() || recreated {
            let now = self.now();
            let settled = add_or_max(tombstone.record.deleted_at, PURGE_GRACE);
            let next = DeletedRecord {
                purge_at: (!recreated && now < settled).then_some(settled),
                ..tombstone.record.clone()
            };
            if recreated {
                report.problems.push(format!(
                    "purge: pipeline \"{id}\" was created again under the same id; its old records are left"
                ));
            }
            report.wrote(self.store.write(tombstone.replace(&next)?).await?);
            return Ok(());
        }
        // The attempts' task records live in partitions of their own.
        let task_keys: Vec<Key> = doomed
            .iter()
            .filter(|record| keys::is_attempt(&record.key.sk))
            .filter_map(|record| Stored::<AttemptRecord>::from_item(record).ok())
            .filter_map(|attempt| attempt.record.task_id.as_deref().map(keys::task))
            .collect();
        let tasks = if task_keys.is_empty() {
            Vec::new()
        } else {
            self.store.get_many(&task_keys).await?
        };
        let writes: Vec<Write> = tasks
            .iter()
            .flatten()
            .chain(doomed.iter().copied())
            .map(|record| Write::Delete {
                key: record.key.clone(),
                expected: Expected::of(record),
            })
            .collect();
        self.write_together(writes, report).await
    }
    /// ListPipelines: up to `limit` pipelines in id order from `from` (inclusive), and
    /// the id the next page starts at, if there is one.
    pub async fn list_pipelines(
        &self,
        from: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<ListingRecord>, Option<String>), EngineError> {
        let range = Range {
            from: from.map(keys::escape).unwrap_or_default(),
            to: "\u{10FFFF}".to_owned(),
            limit: limit.saturating_add(1),
        };
        let items = self.store.query(keys::PIPELINES_PK, &range).await?;
        let mut listed = items
            .iter()
            .map(|item| Stored::<ListingRecord>::from_item(item).map(|stored| stored.record))
            .collect::<Result<Vec<_>, _>>()?;
        let next = if listed.len() > limit {
            listed.truncate(limit.saturating_add(1));
            listed.pop().map(|next| next.id)
        } else {
            None
        };
        Ok((listed, next))
    }

    /// AddTags: adds tags, replacing the value of a key already there.
    pub async fn add_tags(&self, id: &str, tags: &[Tag]) -> Result<(), EngineError> {
        self.change_tags(id, |current| {
            for tag in tags {
                match current.iter_mut().find(|existing| existing.key == tag.key) {
                    Some(existing) => existing.value.clone_from(&tag.value),
                    None => current.push(tag.clone()),
                }
            }
        })
        .await
    }

    /// RemoveTags: removes the tags with these keys; keys it does not have are ignored.
    pub async fn remove_tags(&self, id: &str, tag_keys: &[String]) -> Result<(), EngineError> {
        self.change_tags(id, |current| current.retain(|tag| !tag_keys.contains(&tag.key)))
            .await
    }

    async fn change_tags(&self, id: &str, change: impl Fn(&mut Vec<Tag>)) -> Result<(), EngineError> {
        for _ in 0..TRIES {
            let pipeline = self.pipeline(id).await?;
            let mut tags = pipeline.record.tags.clone();
            change(&mut tags);
            if tags.len() > MAX_TAGS {
                return Err(EngineError::InvalidRequest(format!(
                    "pipeline \"{id}\" would have {} tags; a pipeline has at most {MAX_TAGS}: remove some first",
                    tags.len()
                )));
            }
            if tags == pipeline.record.tags {
                return Ok(());
            }
            let next = PipelineRecord {
                tags,
                ..pipeline.record.clone()
            };
            if self.store.write(pipeline.replace(&next)?).await? {
                return Ok(());
            }
        }
        Err(EngineError::Store(StoreError::Unavailable(format!(
            "pipeline \"{id}\" kept changing while its tags were being changed; try again"
        ))))
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
        let mut stored = ApiDefinition::from(definition);
        self.seal_secrets(id, secret_values(&mut stored)).await?;
        let record = DefinitionRecord {
            pipeline_id: id.to_owned(),
            version,
            definition: stored,
            errored: report.errored(),
            saved_at: self.now(),
        };
        let next = PipelineRecord {
            latest_version: Some(version),
            ..pipeline.record.clone()
        };
        let definition_write = create(&record).map_err(|error| too_large_definition(&record, error))?;
        if !self
            .store
            .transact(vec![definition_write, pipeline.replace(&next)?])
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
        let opened = self.opened_definition(id, definition.record.definition.clone()).await?;
        let parsed = Definition::try_from(opened).map_err(|error| EngineError::InvalidRequest(error.to_string()))?;
        let compiled = CompiledPipeline::compile(id, version, parsed, &options.parameter_values, first)?;
        // The guard applies to what this activation would create first. Through the API, a
        // pipeline tagged `sluice:allowBackfill` = `true` lifts it (the Data Pipeline API
        // has no member for it; tags reach Sluice from every client).
        let allow_backfill = options.allow_backfill
            || pipeline
                .record
                .tags
                .iter()
                .any(|tag| tag.key == ALLOW_BACKFILL_TAG && tag.value.eq_ignore_ascii_case("true"));
        let activation = Activation {
            at: now,
            start_timestamp: options.start_timestamp,
            allow_backfill,
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
        let mut stored_values = options.parameter_values.clone();
        self.seal_secrets(id, secret_parameter_values(&mut stored_values))
            .await?;
        let next = PipelineRecord {
            state: PipelineState::Scheduled,
            active_version: Some(version),
            first_activated_at: Some(first),
            activated_at: Some(now),
            start_timestamp: options.start_timestamp,
            allow_backfill,
            parameter_values: stored_values,
            next_check_at: Some(now),
            error_message: None,
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

impl DeletedRecord {
    fn key_of(&self) -> crate::store::Key {
        records::Record::key(self)
    }
}

/// `df-` and 20 uppercase letters and digits (about 103 bits) from `random`: the operating
/// system's in production, so nobody can guess another account's pipeline.
fn pipeline_id(random: &dyn Random) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut id = String::from("df-");
    for _ in 0..PIPELINE_ID_LENGTH {
        let index = usize::try_from(random.next_u64() % ALPHABET.len() as u64).unwrap_or(0);
        id.push(char::from(ALPHABET.get(index).copied().unwrap_or(b'0')));
    }
    id
}

/// A definition too large to store, said in the user's terms; any other error as it is.
fn too_large_definition(record: &DefinitionRecord, error: StoreError) -> EngineError {
    let StoreError::TooLarge(_) = error else {
        return error.into();
    };
    let json = serde_json::to_string(&record.definition).map_or(0, |json| json.len());
    let gzipped = records::compressed::encode(&record.definition).map_or(0, |text| text.len());
    EngineError::InvalidRequest(format!(
        "the definition of {} objects is {json} bytes of JSON, {gzipped} bytes gzipped; Sluice stores a \
         definition of at most {} bytes gzipped (one DynamoDB item): split the pipeline in two",
        record.definition.pipeline_objects.len(),
        crate::store::MAX_ITEM_BYTES - 1024
    ))
}

/// Whether an instance counts against maxActiveInstances.
pub(crate) fn is_active(status: Status) -> bool {
    matches!(status, Status::WaitingForRunner | Status::Running)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::clock::{OsRandom, SeededRandom};

    #[test]
    fn pipeline_ids_from_the_operating_system_are_distinct_and_shaped_as_aws_makes_them() {
        // Given the production source
        // When it makes many pipeline ids
        let ids: Vec<String> = (0..1000).map(|_| pipeline_id(&OsRandom)).collect();
        // Then each is df- and 20 uppercase letters and digits, and none repeats
        for id in &ids {
            let tail = id.strip_prefix("df-").unwrap_or_else(|| panic!("{id}"));
            assert_eq!(tail.len(), 20, "{id}");
            assert!(
                tail.bytes()
                    .all(|byte| byte.is_ascii_digit() || byte.is_ascii_uppercase()),
                "{id}"
            );
        }
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
    }

    #[test]
    fn pipeline_ids_from_a_seeded_source_replay() {
        let (a, b) = (SeededRandom::new(5), SeededRandom::new(5));
        assert_eq!(pipeline_id(&a), pipeline_id(&b));
        assert_eq!(pipeline_id(&a), pipeline_id(&b));
    }
}
