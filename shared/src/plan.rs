//! What activating a definition would create: each runnable object's instances, merged in
//! order, and the runtime fields an instance's expressions see.
//!
//! This joins a validated definition to the schedule planner; `sluice plan` prints it and
//! the scheduler stage (later) stores it.

use chrono::NaiveDateTime;
use thiserror::Error;

use crate::{
    definition::{
        FieldValue,
        context::{Runtime, Scope, static_string},
        inherit::{DEFAULT_ID, Inheritance},
        schema::{self, Category},
    },
    schedule::{
        Activation, BackfillError, Plan, PlanComponent, ScheduleError, ScheduleFields, ScheduleSpec, ScheduleType, plan,
    },
};

/// Where an object without `scheduleType` runs: at the end of its interval. AWS documents no
/// default; validation warns that this one applies.
pub const DEFAULT_SCHEDULE_TYPE: ScheduleType = ScheduleType::Timeseries;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlanError {
    #[error("object \"{object}\": {message}")]
    Schedule { object: String, message: String },
    #[error("{0}")]
    Backfill(BackfillError),
}

/// One object that gets instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedObject<'d> {
    pub id: &'d str,
    pub type_name: &'d str,
    pub component: PlanComponent,
}

/// The instances an activation creates, with the objects they belong to.
#[derive(Debug, Clone)]
pub struct DefinitionPlan<'d> {
    pub objects: Vec<PlannedObject<'d>>,
    /// Lazy: instances are computed as they are read.
    pub instances: Plan,
}

/// Plans an activation of a (validated) definition: every activity, data node and resource
/// with its schedule, the backfill guard, then every instance before `until`.
pub fn plan_definition<'d>(
    scope: Scope<'d>,
    activation: &Activation,
    until: NaiveDateTime,
) -> Result<DefinitionPlan<'d>, PlanError> {
    let inheritance = scope.inheritance;
    let definition = inheritance.definition();
    let mut objects = Vec::new();
    for (index, object) in definition.objects.iter().enumerate() {
        let Some(type_name) = inheritance.type_name(index) else {
            continue;
        };
        let Some(spec) = schema::type_spec(type_name) else {
            continue;
        };
        if object.id == DEFAULT_ID || !spec.category.is_runnable() {
            continue;
        }
        let (schedule, schedule_type) = component_schedule(scope, index)?;
        let component = PlanComponent {
            schedule,
            schedule_type,
            is_resource: spec.category == Category::Resource,
        };
        objects.push(PlannedObject {
            id: &object.id,
            type_name: spec.name,
            component,
        });
    }
    let components: Vec<PlanComponent> = objects.iter().map(|object| object.component).collect();
    let instances =
        plan(&components, activation, until).map_err(|error| PlanError::Backfill(named(error, &objects)))?;
    Ok(DefinitionPlan { objects, instances })
}

fn named(error: BackfillError, objects: &[PlannedObject<'_>]) -> BackfillError {
    match objects.get(error.component) {
        Some(object) => error.clone().named(object.id),
        None => error,
    }
}

/// An object's schedule and placement, from its effective `schedule` and `scheduleType`
/// (and the pipeline's: `ondemand` on Default makes every object on-demand).
pub fn component_schedule(scope: Scope<'_>, index: usize) -> Result<(ScheduleSpec, ScheduleType), PlanError> {
    let inheritance = scope.inheritance;
    let id = &inheritance.object(index).id;
    let error = |message: String| PlanError::Schedule {
        object: id.clone(),
        message,
    };
    let schedule_type = match inheritance.string(index, "scheduleType") {
        Some(text) => ScheduleType::parse(text).map_err(|problem| error(problem.message))?,
        None => DEFAULT_SCHEDULE_TYPE,
    };
    if schedule_type == ScheduleType::Ondemand {
        return Ok((ScheduleSpec::OnDemand, schedule_type));
    }
    let Some(schedule_index) = inheritance
        .reference(index, "schedule")
        .and_then(|id| inheritance.index(id))
    else {
        return Err(error(
            "has no schedule: set \"schedule\" on it or on Default".to_owned(),
        ));
    };
    let schedule_id = &inheritance.object(schedule_index).id;
    match schedule_object(scope, schedule_index) {
        Ok(schedule) => Ok((schedule, schedule_type)),
        Err(ScheduleObjectError::Invalid(problem)) => Err(error(format!("schedule \"{schedule_id}\": {problem}"))),
        Err(ScheduleObjectError::Unresolved { field }) => Err(error(format!(
            "field \"{field}\" of schedule \"{schedule_id}\" cannot be evaluated before the pipeline runs"
        ))),
    }
}

/// Why a Schedule object gives no schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleObjectError {
    /// A field is missing, malformed or in conflict with another.
    Invalid(ScheduleError),
    /// A field's value depends on the run (or is a reference), so it is known only then.
    Unresolved { field: &'static str },
}

/// Reads a Schedule object, its fields evaluated with parameters (and other fields).
pub fn schedule_object(scope: Scope<'_>, index: usize) -> Result<ScheduleSpec, ScheduleObjectError> {
    let inheritance = scope.inheritance;
    let value = |field: &'static str| -> Result<Option<String>, ScheduleObjectError> {
        match inheritance.values(index, field).first() {
            None => Ok(None),
            Some(FieldValue::String(text)) => static_string(scope, Some(index), text)
                .map(Some)
                .ok_or(ScheduleObjectError::Unresolved { field }),
            Some(FieldValue::Ref(_)) => Err(ScheduleObjectError::Invalid(ScheduleError {
                field,
                message: "is a reference; it takes a string".to_owned(),
            })),
        }
    };
    let (period, start_date_time, start_at, end_date_time, occurrences) = (
        value("period")?,
        value("startDateTime")?,
        value("startAt")?,
        value("endDateTime")?,
        value("occurrences")?,
    );
    ScheduleSpec::from_fields(ScheduleFields {
        period: period.as_deref(),
        start_date_time: start_date_time.as_deref(),
        start_at: start_at.as_deref(),
        end_date_time: end_date_time.as_deref(),
        occurrences: occurrences.as_deref(),
    })
    .map_err(|error| {
        // The message quotes the value; a value read from a secret is not shown.
        let text = inheritance
            .values(index, error.field)
            .first()
            .and_then(|value| value.as_str());
        let from_a_secret = text.is_some_and(|text| {
            static_string(
                Scope {
                    mask_secrets: true,
                    ..scope
                },
                Some(index),
                text,
            ) != static_string(
                Scope {
                    mask_secrets: false,
                    ..scope
                },
                Some(index),
                text,
            )
        });
        ScheduleObjectError::Invalid(if from_a_secret {
            let message = "the value comes from a secret and is not valid here; it is not shown".to_owned();
            ScheduleError {
                field: error.field,
                message,
            }
        } else {
            error
        })
    })
}

/// The runtime fields of the object's instance that starts at `start`: `@scheduledStartTime`,
/// and `@scheduledEndTime` from the object's schedule when it has one.
pub fn runtime_at(scope: Scope<'_>, index: usize, start: NaiveDateTime) -> Runtime {
    let end = match component_schedule(scope, index) {
        Ok((ScheduleSpec::Periodic(schedule), _)) => schedule.period.add_naive(start, 1),
        _ => None,
    };
    Runtime::scheduled(start, end)
}

/// Whether `inheritance`'s pipeline is on-demand (Default has `scheduleType: ondemand`).
pub fn is_on_demand(inheritance: &Inheritance<'_>) -> bool {
    inheritance
        .index(DEFAULT_ID)
        .and_then(|index| inheritance.string(index, "scheduleType"))
        .is_some_and(|text| ScheduleType::parse(text) == Ok(ScheduleType::Ondemand))
}
