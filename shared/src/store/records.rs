//! The engine's typed run records and how each maps to a store item: its key, its status
//! (the condition of every write), its place in a work queue, and when it may expire.

use chrono::{NaiveDateTime, TimeDelta};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::{Due, Expected, Item, Key, StoreError, Write, keys};
use crate::{
    definition::{ParameterValue, shape::ApiDefinition},
    engine::{
        clock::millis,
        status::{PipelineState, Status},
    },
    schedule::{attempt_id, instance_id},
    time::add_or_max,
};

/// How long ended records are kept before DynamoDB's TTL may delete them.
pub const RETENTION: TimeDelta = TimeDelta::days(90);

/// A run record: where it lives and how the store sees it.
pub trait Record: Serialize + DeserializeOwned + Clone {
    fn key(&self) -> Key;

    fn status(&self) -> Option<String> {
        None
    }

    /// The queue that owes this record work, and when.
    fn due(&self) -> Option<Due> {
        None
    }

    fn expires_at(&self) -> Option<i64> {
        None
    }

    /// The record as a store item; refused here, before any request, if DynamoDB could
    /// not hold it.
    fn to_item(&self) -> Result<Item, StoreError> {
        let data = serde_json::to_string(self)
            .map_err(|error| StoreError::Rejected(format!("cannot serialise {:?}: {error}", self.key())))?;
        let item = Item {
            key: self.key(),
            version: 0,
            status: self.status(),
            due: self.due(),
            expires_at: self.expires_at(),
            data,
        };
        super::check_limits(&item)?;
        Ok(item)
    }
}

/// A record as read, with what a conditional write must expect.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored<T> {
    pub record: T,
    pub expected: Expected,
}

impl<T: Record> Stored<T> {
    pub fn from_item(item: &Item) -> Result<Self, StoreError> {
        let record = serde_json::from_str(&item.data)
            .map_err(|error| StoreError::Corrupt(format!("{:?}: {error}", item.key)))?;
        Ok(Self {
            record,
            expected: Expected::of(item),
        })
    }

    /// Replaces this record with `next`, if nobody changed it since it was read.
    pub fn replace(&self, next: &T) -> Result<Write, StoreError> {
        Ok(Write::Replace {
            item: next.to_item()?,
            expected: self.expected.clone(),
        })
    }

    /// Requires, inside a transaction, that nobody changed it since it was read.
    pub fn check(&self) -> Write {
        Write::Check {
            key: self.record.key(),
            expected: self.expected.clone(),
        }
    }
}

/// Creates the record if its key is free.
pub fn create<T: Record>(record: &T) -> Result<Write, StoreError> {
    Ok(Write::Create(record.to_item()?))
}

fn expiry(ended: Option<NaiveDateTime>) -> Option<i64> {
    ended.map(|ended| add_or_max(ended, RETENTION).and_utc().timestamp())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineRecord {
    pub id: String,
    pub name: String,
    pub unique_id: String,
    pub description: Option<String>,
    pub tags: Vec<Tag>,
    pub state: PipelineState,
    pub created_at: NaiveDateTime,
    /// The last definition saved (PutPipelineDefinition).
    pub latest_version: Option<u32>,
    /// The definition activated, which the stages run.
    pub active_version: Option<u32>,
    /// The first activation: `FIRST_ACTIVATION_DATE_TIME`.
    pub first_activated_at: Option<NaiveDateTime>,
    pub activated_at: Option<NaiveDateTime>,
    /// ActivatePipeline's startTimestamp: intervals before it are SKIPPED.
    pub start_timestamp: Option<NaiveDateTime>,
    /// Lifts the one-day backfill guard (a Sluice option).
    pub allow_backfill: bool,
    /// Parameter values given at activation, overriding the definition's.
    pub parameter_values: Vec<ParameterValue>,
    /// When the schedule stage next owes the pipeline work; `None` when it owes none.
    pub next_check_at: Option<NaiveDateTime>,
    /// Why Sluice stopped scheduling it (its definition no longer compiles, its secrets
    /// cannot be opened): shown by DescribePipelines; a new activation clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

impl PipelineRecord {
    /// A new pipeline, defined by nothing yet (PENDING).
    pub fn pending(
        id: &str,
        name: &str,
        unique_id: &str,
        description: Option<String>,
        tags: Vec<Tag>,
        now: NaiveDateTime,
    ) -> Self {
        Self {
            id: id.to_owned(),
            name: name.to_owned(),
            unique_id: unique_id.to_owned(),
            description,
            tags,
            state: PipelineState::Pending,
            created_at: now,
            latest_version: None,
            active_version: None,
            first_activated_at: None,
            activated_at: None,
            start_timestamp: None,
            allow_backfill: false,
            parameter_values: Vec::new(),
            next_check_at: None,
            error_message: None,
        }
    }
}

impl Record for PipelineRecord {
    fn key(&self) -> Key {
        keys::pipeline(&self.id)
    }

    fn status(&self) -> Option<String> {
        Some(self.state.as_str().to_owned())
    }

    fn due(&self) -> Option<Due> {
        let active = matches!(self.state, PipelineState::Scheduled | PipelineState::Deactivating);
        let at = self.next_check_at.filter(|_| active)?;
        Some(Due {
            queue: keys::queue(keys::stages::SCHEDULE, &self.id),
            at_millis: millis(at),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DefinitionRecord {
    pub pipeline_id: String,
    pub version: u32,
    /// Stored gzipped: a definition of thousands of objects is megabytes of JSON, and a
    /// DynamoDB item holds 400 KB (see [`compressed`]).
    #[serde(with = "compressed")]
    pub definition: ApiDefinition,
    pub errored: bool,
    pub saved_at: NaiveDateTime,
}

impl Record for DefinitionRecord {
    fn key(&self) -> Key {
        keys::definition(&self.pipeline_id, self.version)
    }
}

/// What the engine keeps per component: whether it is paused, how far its schedule has
/// been turned into instances, and how many of its instances are active.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentRecord {
    pub pipeline_id: String,
    pub component_id: String,
    pub paused: bool,
    /// The start of the next interval to create; `None` once the schedule has ended.
    pub next_start: Option<NaiveDateTime>,
    /// Index of the next interval (for `occurrences` and to resume exactly).
    pub next_index: u64,
    /// The activation this cursor belongs to: a new activation restarts it.
    pub activation: Option<NaiveDateTime>,
    /// Instances in WAITING_FOR_RUNNER or RUNNING, bounded by maxActiveInstances.
    pub active: u32,
}

impl Record for ComponentRecord {
    fn key(&self) -> Key {
        keys::component(&self.pipeline_id, &self.component_id)
    }
}

/// A precondition's latest result for one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreconditionState {
    pub precondition_id: String,
    pub met: bool,
    /// A sentence for `@waitingOn`: "s3://b/k does not exist yet".
    pub last_result: String,
    pub checks: u32,
    pub first_checked_at: NaiveDateTime,
    pub last_checked_at: NaiveDateTime,
    /// A runner attempt checking it now, if it runs on a runner.
    pub pending_attempt: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ErrorDetails {
    pub error_id: Option<String>,
    pub error_message: Option<String>,
    pub error_stack_trace: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceRecord {
    pub pipeline_id: String,
    pub component_id: String,
    pub type_name: String,
    pub scheduled_start: NaiveDateTime,
    pub scheduled_end: NaiveDateTime,
    pub runs_at: NaiveDateTime,
    pub status: Status,
    /// Attempts created so far, over every run of the instance.
    pub attempts: u32,
    /// The first attempt of the current run (1, or later after a rerun).
    pub run_first_attempt: u32,
    /// Runner checks of preconditions created so far.
    pub precondition_attempts: u32,
    /// Reruns so far: events of each run are recorded separately.
    pub reruns: u32,
    /// Why it waits, in sentences a user can read (`@waitingOn`).
    pub waiting_on: Vec<String>,
    pub next_check_at: Option<NaiveDateTime>,
    pub worker_group: Option<String>,
    pub preconditions: Vec<PreconditionState>,
    pub late_deadline: Option<NaiveDateTime>,
    pub late_raised: bool,
    pub started_at: Option<NaiveDateTime>,
    pub ended_at: Option<NaiveDateTime>,
    pub error: ErrorDetails,
    pub cascade_failed_on: Option<String>,
    pub created_at: NaiveDateTime,
}

impl InstanceRecord {
    /// `@<component>_<scheduledStartTime>`.
    pub fn id(&self) -> String {
        instance_id(&self.component_id, self.scheduled_start)
    }
}

impl Record for InstanceRecord {
    fn key(&self) -> Key {
        keys::instance(&self.pipeline_id, &self.component_id, self.scheduled_start)
    }

    fn status(&self) -> Option<String> {
        Some(self.status.as_str().to_owned())
    }

    fn due(&self) -> Option<Due> {
        let (stage, at) = match self.status {
            Status::WaitingOnDependencies => (keys::stages::DEPENDENCIES, self.next_check_at?),
            Status::WaitingForRunner | Status::Running if !self.late_raised => {
                (keys::stages::WATCH, self.late_deadline?)
            }
            _ => return None,
        };
        Some(Due {
            queue: keys::queue(stage, &self.pipeline_id),
            at_millis: millis(at),
        })
    }

    fn expires_at(&self) -> Option<i64> {
        expiry(self.ended_at.filter(|_| self.status.is_terminal()))
    }
}

/// What an attempt does: the instance's work, or a check of one of its preconditions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttemptKind {
    Activity,
    Precondition {
        precondition_id: String,
    },
    /// An `Ec2Resource`'s machine: launched, watched and shut down by the resources stage.
    Resource,
}

/// The machine a resource attempt launched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineRecord {
    /// EC2's instance id.
    pub id: String,
    pub spot: bool,
    pub launched_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub pipeline_id: String,
    pub component_id: String,
    pub scheduled_start: NaiveDateTime,
    pub number: u32,
    pub kind: AttemptKind,
    pub status: Status,
    pub worker_group: String,
    /// Not handed out before this (a retry's delay).
    pub available_at: NaiveDateTime,
    pub task_id: Option<String>,
    pub hostname: Option<String>,
    pub claimed_at: Option<NaiveDateTime>,
    /// The runner must report progress before this, or the attempt is taken back.
    pub lease_until: Option<NaiveDateTime>,
    /// attemptTimeout, from the claim.
    pub deadline: Option<NaiveDateTime>,
    pub last_progress_at: Option<NaiveDateTime>,
    pub cancel_requested: bool,
    pub ended_at: Option<NaiveDateTime>,
    pub error: ErrorDetails,
    /// Fields the runner reported through ReportTaskProgress, shown on the attempt.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reported_fields: Vec<crate::definition::shape::ApiField>,
    /// A resource attempt's machine, once launched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<MachineRecord>,
    /// When the resources stage looks at a resource attempt again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_at: Option<NaiveDateTime>,
}

impl AttemptRecord {
    /// A new attempt of `instance`, waiting for a runner of `worker_group` from `available_at`.
    pub fn waiting(
        instance: &InstanceRecord,
        number: u32,
        kind: AttemptKind,
        worker_group: String,
        available_at: NaiveDateTime,
    ) -> Self {
        Self {
            pipeline_id: instance.pipeline_id.clone(),
            component_id: instance.component_id.clone(),
            scheduled_start: instance.scheduled_start,
            number,
            kind,
            status: Status::WaitingForRunner,
            worker_group,
            available_at,
            task_id: None,
            hostname: None,
            claimed_at: None,
            lease_until: None,
            deadline: None,
            last_progress_at: None,
            cancel_requested: false,
            ended_at: None,
            error: ErrorDetails::default(),
            reported_fields: Vec::new(),
            machine: None,
            check_at: None,
        }
    }

    /// `@<component>_<scheduledStartTime>_Attempt=<n>`.
    ///
    /// A precondition check is `@<component>.<precondition>_<start>_Attempt=<n>`: its own
    /// id, so that its logs and its object never mix with the activity's attempts, even
    /// when several activities share the precondition.
    pub fn id(&self) -> String {
        match &self.kind {
            AttemptKind::Activity | AttemptKind::Resource => {
                attempt_id(&self.component_id, self.scheduled_start, self.number)
            }
            AttemptKind::Precondition { precondition_id } => attempt_id(
                &format!("{}.{precondition_id}", self.component_id),
                self.scheduled_start,
                self.number,
            ),
        }
    }

    /// When the reap stage must look at a running attempt.
    pub fn reap_at(&self) -> Option<NaiveDateTime> {
        match (self.lease_until, self.deadline) {
            (Some(lease), Some(deadline)) => Some(lease.min(deadline)),
            (lease, deadline) => lease.or(deadline),
        }
    }
}

impl Record for AttemptRecord {
    fn key(&self) -> Key {
        match &self.kind {
            AttemptKind::Activity | AttemptKind::Resource => {
                keys::attempt(&self.pipeline_id, &self.component_id, self.scheduled_start, self.number)
            }
            AttemptKind::Precondition { precondition_id } => keys::precondition_attempt(
                &self.pipeline_id,
                &self.component_id,
                self.scheduled_start,
                precondition_id,
                self.number,
            ),
        }
    }

    fn status(&self) -> Option<String> {
        Some(self.status.as_str().to_owned())
    }

    fn due(&self) -> Option<Due> {
        if self.kind == AttemptKind::Resource {
            return (!self.status.is_terminal()).then(|| Due {
                queue: keys::queue(keys::stages::RESOURCES, &self.pipeline_id),
                at_millis: millis(self.check_at.unwrap_or(self.available_at)),
            });
        }
        match self.status {
            Status::WaitingForRunner => Some(Due {
                queue: keys::runner_queue(&self.worker_group),
                at_millis: millis(self.available_at),
            }),
            Status::Running => Some(Due {
                queue: keys::queue(keys::stages::REAP, &self.pipeline_id),
                at_millis: millis(self.reap_at()?),
            }),
            _ => None,
        }
    }

    fn expires_at(&self) -> Option<i64> {
        expiry(self.ended_at.filter(|_| self.status.is_terminal()))
    }
}

/// A task handed to a runner: the unguessable id it reports with, pointing at its attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub task_id: String,
    pub worker_group: String,
    pub claimed_at: NaiveDateTime,
    /// Where the attempt is.
    pub attempt_pk: String,
    pub attempt_sk: String,
}

impl TaskRecord {
    pub fn attempt_key(&self) -> Key {
        Key::new(self.attempt_pk.clone(), self.attempt_sk.clone())
    }
}

impl Record for TaskRecord {
    fn key(&self) -> Key {
        keys::task(&self.task_id)
    }

    fn expires_at(&self) -> Option<i64> {
        expiry(Some(self.claimed_at))
    }
}

/// Which event of an instance an action fires on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventKind {
    Success,
    Failure,
    Late,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "SUCCESS",
            Self::Failure => "FAILURE",
            Self::Late => "LATE",
        }
    }
}

/// A success, failure or lateness of one run of an instance, recorded exactly once for
/// the actions stage to fire (`onSuccess`, `onFail`, `onLateAction`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub pipeline_id: String,
    pub component_id: String,
    pub scheduled_start: NaiveDateTime,
    pub run: u32,
    pub event: EventKind,
    pub actions: Vec<String>,
    pub recorded_at: NaiveDateTime,
    pub fired: bool,
    /// An actions worker holds the event until then (a crash lets another fire it after),
    /// or a publish that failed for now is tried again then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_until: Option<NaiveDateTime>,
    /// Actions already fired, so a retry never fires one twice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub done: Vec<String>,
    /// What went wrong with an action, in words, kept on the record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// Publishes that failed for now, for the back-off.
    #[serde(default)]
    pub retries: u32,
}

impl Record for EventRecord {
    fn key(&self) -> Key {
        keys::event(
            &self.pipeline_id,
            &self.component_id,
            self.scheduled_start,
            &format!("{}#{}", self.event.as_str(), self.run),
        )
    }

    fn status(&self) -> Option<String> {
        Some(if self.fired { "FIRED" } else { "RECORDED" }.to_owned())
    }

    fn due(&self) -> Option<Due> {
        (!self.fired && !self.actions.is_empty()).then(|| Due {
            queue: keys::queue(keys::stages::ACTIONS, &self.pipeline_id),
            at_millis: millis(self.claimed_until.unwrap_or(self.recorded_at)),
        })
    }

    fn expires_at(&self) -> Option<i64> {
        expiry(Some(self.recorded_at).filter(|_| self.fired))
    }
}

/// When a worker group's runners last polled: so that a waiting run can say "no runner
/// has polled worker group X since T" instead of sitting silently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerGroupRecord {
    pub worker_group: String,
    pub last_poll_at: NaiveDateTime,
    pub last_hostname: Option<String>,
}

impl Record for WorkerGroupRecord {
    fn key(&self) -> Key {
        Key::new(format!("WORKERGROUP#{}", keys::escape(&self.worker_group)), "POLL")
    }
}

/// A pipeline's entry in the listing (ListPipelines), written with the pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingRecord {
    pub id: String,
    pub name: String,
}

impl Record for ListingRecord {
    fn key(&self) -> Key {
        keys::listing(&self.id)
    }
}

/// Which pipeline a name and uniqueId created: CreatePipeline called again with both
/// answers the same pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UniqueIdRecord {
    pub name: String,
    pub unique_id: String,
    pub pipeline_id: String,
}

impl Record for UniqueIdRecord {
    fn key(&self) -> Key {
        keys::unique(&self.name, &self.unique_id)
    }
}

/// A deleted pipeline's tombstone, kept for [`RETENTION`] so that calls on it say it was
/// deleted rather than that it never existed. While the pipeline's records are being
/// removed, it is in the purge queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletedRecord {
    pub id: String,
    pub deleted_at: NaiveDateTime,
    /// When the purge stage next removes a page of the pipeline's records; `None` once
    /// none are left (and for tombstones written before deletes were purged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purge_at: Option<NaiveDateTime>,
}

impl Record for DeletedRecord {
    fn key(&self) -> Key {
        keys::deleted(&self.id)
    }

    fn due(&self) -> Option<Due> {
        self.purge_at.map(|at| Due {
            queue: keys::queue(keys::stages::PURGE, &self.id),
            at_millis: millis(at),
        })
    }

    fn expires_at(&self) -> Option<i64> {
        expiry(Some(self.deleted_at))
    }
}

/// A task runner's last heartbeat (ReportTaskRunnerHeartbeat).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRunnerRecord {
    pub taskrunner_id: String,
    pub worker_group: Option<String>,
    pub hostname: Option<String>,
    pub last_heartbeat_at: NaiveDateTime,
}

impl Record for TaskRunnerRecord {
    fn key(&self) -> Key {
        keys::task_runner(&self.taskrunner_id)
    }

    fn expires_at(&self) -> Option<i64> {
        expiry(Some(self.last_heartbeat_at))
    }
}

/// Reads a typed record.
/// The items of `keys`, in one request where the store can, each in its place.
pub async fn get_each<const N: usize, S: super::RunStore>(
    store: &S,
    keys: [Key; N],
) -> Result<[Option<super::Item>; N], StoreError> {
    let found = store.get_many(&keys).await?;
    <[Option<super::Item>; N]>::try_from(found)
        .map_err(|found| StoreError::Rejected(format!("the store answered {} items for {N} keys", found.len())))
}

/// A record read from its item, if there is one.
pub fn decode<T: Record>(item: Option<&super::Item>) -> Result<Option<Stored<T>>, StoreError> {
    item.map(Stored::from_item).transpose()
}

pub async fn get<T: Record, S: super::RunStore>(store: &S, key: &Key) -> Result<Option<Stored<T>>, StoreError> {
    match store.get(key).await? {
        Some(item) => Stored::from_item(&item).map(Some),
        None => Ok(None),
    }
}

/// A definition as it is stored: `gzip:` and the base64 of its gzipped JSON. Field names
/// repeat in every object, so definitions shrink about tenfold. Definitions stored before
/// compression (the JSON object itself) are read as they are.
pub mod compressed {
    use std::io::{Read, Write};

    use flate2::{Compression, read::GzDecoder, write::GzEncoder};
    use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error};

    use crate::definition::shape::ApiDefinition;

    const PREFIX: &str = "gzip:";

    /// The stored text of a definition.
    pub fn encode(definition: &ApiDefinition) -> Result<String, std::io::Error> {
        let json = serde_json::to_vec(definition)?;
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(&json)?;
        Ok(format!(
            "{PREFIX}{}",
            aws_smithy_types::base64::encode(encoder.finish()?)
        ))
    }

    pub fn serialize<S: Serializer>(definition: &ApiDefinition, serializer: S) -> Result<S::Ok, S::Error> {
        encode(definition)
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Compressed(String),
        Plain(ApiDefinition),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ApiDefinition, D::Error> {
        let text = match Stored::deserialize(deserializer)? {
            Stored::Plain(definition) => return Ok(definition),
            Stored::Compressed(text) => text,
        };
        let encoded = text
            .strip_prefix(PREFIX)
            .ok_or_else(|| D::Error::custom("a stored definition is neither JSON nor gzip: text"))?;
        let gzipped = aws_smithy_types::base64::decode(encoded).map_err(D::Error::custom)?;
        let mut json = Vec::new();
        GzDecoder::new(gzipped.as_slice())
            .read_to_end(&mut json)
            .map_err(D::Error::custom)?;
        serde_json::from_slice(&json).map_err(D::Error::custom)
    }
}
