//! Validation with errors and warnings per object and field, the way
//! `ValidatePipelineDefinition` answers.
//!
//! Errors are what AWS would refuse and what could not run; warnings are what AWS would
//! also have accepted but is likely a mistake, what AWS refused but Sluice allows (shorter
//! periods, more retries, activities without a runner), and AWS's size limits, which
//! Sluice does not impose.

use std::{
    cell::OnceCell,
    collections::{BTreeSet, HashSet},
};

use super::{
    context::{Scope, static_string, static_value},
    inherit::{DEFAULT_ID, Inheritance},
    issue::{Issue, Report},
    model::{Definition, FieldKind, FieldValue, PipelineObject, is_secret, is_user_name},
    parameters::{ParameterValues, ValueSource, parameter_values},
    schema::{self, Category, FieldSpec, RefTarget, Requirement, SlotType, TypeSpec},
};
use crate::{
    expr::{self, Template},
    plan::{ScheduleObjectError, schedule_object},
    schedule::{Period, ScheduleSpec, ScheduleType, aws_period_warning},
    suggest::{self, Names},
};

/// AWS's limits (reference §5.1), reported as warnings: Sluice does not impose them.
mod aws_limits {
    pub const OBJECTS_PER_PIPELINE: usize = 100;
    pub const FIELDS_PER_OBJECT: usize = 50;
    pub const BYTES_PER_NAME: usize = 256;
    pub const BYTES_PER_FIELD: usize = 10_240;
    pub const BYTES_PER_OBJECT: usize = 15_360;
    pub const RETRIES: i64 = 5;
    pub const MIN_RETRY_DELAY_SECONDS: i64 = 120;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Severity {
    Error,
    Warning,
}

/// The outcome of validating one definition.
#[derive(Debug, Clone)]
pub struct Validation {
    pub report: Report,
    /// Every parameter's value, for evaluating the definition's expressions.
    pub parameters: ParameterValues,
}

/// Validates a definition with parameter values from `sources` (later ones win).
pub fn validate(definition: &Definition, sources: &[ValueSource<'_>]) -> Validation {
    let (parameters, mut report) = parameter_values(definition, sources);
    let (inheritance, inheritance_issues) = Inheritance::new(definition);
    report.errors.extend(inheritance_issues);
    let declared_ids: HashSet<String> = definition
        .parameters
        .iter()
        .map(|parameter| parameter.id.trim_start_matches('*').to_owned())
        .collect();
    let declared_names = Names::new(
        definition
            .parameters
            .iter()
            .map(|parameter| parameter.id.trim_start_matches('*')),
    );
    let mut validator = Validator {
        inheritance: &inheritance,
        parameters: &parameters,
        declared_ids,
        declared_names,
        object_ids: OnceCell::new(),
        report,
    };
    validator.run();
    let mut report = validator.report;
    dedupe(&mut report.errors);
    dedupe(&mut report.warnings);
    Validation { report, parameters }
}

fn dedupe(issues: &mut Vec<Issue>) {
    let mut seen = HashSet::new();
    issues.retain(|issue| seen.insert((issue.id.clone(), issue.field.clone(), issue.message.clone())));
}

struct Validator<'a> {
    inheritance: &'a Inheritance<'a>,
    parameters: &'a ParameterValues,
    declared_ids: HashSet<String>,
    /// The declared parameters' ids, to suggest from.
    declared_names: Names<'a>,
    /// Every object's id, to suggest from: indexed at the first reference to a missing one.
    object_ids: OnceCell<Names<'a>>,
    report: Report,
}

impl<'a> Validator<'a> {
    fn definition(&self) -> &'a Definition {
        self.inheritance.definition()
    }

    fn error(&mut self, issue: Issue) {
        self.report.error(issue);
    }

    fn warning(&mut self, issue: Issue) {
        self.report.warning(issue);
    }

    fn object_ids(&self) -> &Names<'a> {
        let definition = self.definition();
        self.object_ids
            .get_or_init(|| Names::new(definition.objects.iter().map(|object| object.id.as_str())))
    }

    fn scope(&self, mask_secrets: bool) -> Scope<'a> {
        Scope {
            inheritance: self.inheritance,
            parameters: self.parameters,
            mask_secrets,
        }
    }

    fn run(&mut self) {
        let definition = self.definition();
        if definition.objects.len() > aws_limits::OBJECTS_PER_PIPELINE {
            self.warning(Issue::definition(format!(
                "{} objects: AWS allows at most {} per pipeline (Sluice has no such limit)",
                definition.objects.len(),
                aws_limits::OBJECTS_PER_PIPELINE
            )));
        }
        for issue in super::run_limits::errors(self.inheritance) {
            self.error(issue);
        }
        let mut seen = HashSet::new();
        for object in &definition.objects {
            if !seen.insert(object.id.as_str()) {
                self.error(Issue::object(
                    &object.id,
                    "the id is used by more than one object: every object needs a unique id",
                ));
            }
        }
        let parents: HashSet<&str> = definition.objects.iter().filter_map(PipelineObject::parent).collect();
        let on_demand = self.check_schedule_types();
        self.check_placement_is_explicit();
        for (index, object) in definition.objects.iter().enumerate() {
            self.check_sizes(object);
            self.check_expressions(index, object);
            if object.id == DEFAULT_ID {
                continue;
            }
            match self.inheritance.type_name(index) {
                None if parents.contains(object.id.as_str()) => {}
                None => self.error(Issue::object(
                    &object.id,
                    "the object has no \"type\": give it one (S3DataNode, ShellCommandActivity, Schedule ...); only an object that others name as their parent may go without",
                )),
                Some(type_name) => match schema::type_spec(type_name) {
                    Some(spec) => self.check_typed(index, object, spec, on_demand),
                    None => {
                        let hint = suggest::did_you_mean(type_name, schema::type_names());
                        self.error(Issue::field(
                            &object.id,
                            "type",
                            format!("\"{type_name}\" is not an AWS Data Pipeline object type{hint}"),
                        ));
                    }
                },
            }
        }
        self.check_dependency_cycles();
    }

    /// `scheduleType` values, and whether the pipeline is on-demand.
    fn check_schedule_types(&mut self) -> bool {
        let definition = self.definition();
        let mut on_demand = false;
        let mut others = Vec::new();
        for object in &definition.objects {
            for value in object.values("scheduleType").filter_map(FieldValue::as_str) {
                match ScheduleType::parse(value) {
                    Ok(ScheduleType::Ondemand) if object.id == DEFAULT_ID => on_demand = true,
                    Ok(ScheduleType::Ondemand) => self.error(Issue::field(
                        &object.id,
                        "scheduleType",
                        "\"ondemand\" is set on the Default object only, for the whole pipeline",
                    )),
                    Ok(_) => others.push(object.id.as_str()),
                    Err(error) => self.error(Issue::field(&object.id, "scheduleType", error.to_string())),
                }
            }
        }
        if on_demand {
            for id in others.into_iter().filter(|id| *id != DEFAULT_ID) {
                self.error(Issue::field(
                    id,
                    "scheduleType",
                    "the pipeline is on-demand (Default has scheduleType ondemand), which must be its only scheduleType",
                ));
            }
        }
        on_demand
    }

    /// AWS documents no default `scheduleType`; say which placement Sluice assumes when a
    /// runnable object has none, since cron and timeseries run at opposite ends of the interval.
    fn check_placement_is_explicit(&mut self) {
        let unplaced: Vec<&str> = (0..self.definition().objects.len())
            .filter(|&index| self.inheritance.object(index).id != DEFAULT_ID)
            .filter(|&index| {
                self.inheritance
                    .type_name(index)
                    .and_then(schema::type_spec)
                    .is_some_and(|spec| spec.category.is_runnable())
            })
            .filter(|&index| !self.inheritance.has(index, "scheduleType"))
            .map(|index| self.inheritance.object(index).id.as_str())
            .collect();
        if let Some(first) = unplaced.first() {
            self.warning(Issue::definition(format!(
                "{} object{} ({first}{}) set{} no scheduleType: Sluice runs {} at the end of each interval (timeseries); set \"scheduleType\": \"cron\" on Default to run at the start",
                unplaced.len(),
                if unplaced.len() == 1 { "" } else { "s" },
                if unplaced.len() > 1 { ", ..." } else { "" },
                if unplaced.len() == 1 { "s" } else { "" },
                if unplaced.len() == 1 { "it" } else { "them" },
            )));
        }
    }

    fn check_sizes(&mut self, object: &PipelineObject) {
        // An id's size is an error, with what else becomes a run-record key: see run_limits.
        let keys: BTreeSet<&str> = object.fields.iter().map(|field| field.key.as_str()).collect();
        if keys.len() > aws_limits::FIELDS_PER_OBJECT {
            self.warning(Issue::object(
                &object.id,
                format!(
                    "{} fields; AWS allows {} per object",
                    keys.len(),
                    aws_limits::FIELDS_PER_OBJECT
                ),
            ));
        }
        let mut total = object.id.len() + object.name.len();
        for field in &object.fields {
            let size = match &field.value {
                FieldValue::String(text) | FieldValue::Ref(text) => text.len(),
            };
            total += field.key.len() + size;
            if field.key.len() > aws_limits::BYTES_PER_NAME {
                self.warning(Issue::field(
                    &object.id,
                    &field.key,
                    format!(
                        "the field name is {} bytes; AWS allows {}",
                        field.key.len(),
                        aws_limits::BYTES_PER_NAME
                    ),
                ));
            }
            if size > aws_limits::BYTES_PER_FIELD {
                self.warning(Issue::field(
                    &object.id,
                    &field.key,
                    format!(
                        "the value is {size} bytes; AWS allows {} per field",
                        aws_limits::BYTES_PER_FIELD
                    ),
                ));
            }
        }
        if total > aws_limits::BYTES_PER_OBJECT {
            self.warning(Issue::object(
                &object.id,
                format!(
                    "the object is {total} bytes; AWS allows {} per object",
                    aws_limits::BYTES_PER_OBJECT
                ),
            ));
        }
    }

    /// Every string value of every field parses as a template, and one with expressions
    /// can be evaluated within the bounds on work in the context of the object that sets
    /// it (a value that depends on the run is checked as far as it can be).
    fn check_expressions(&mut self, index: usize, object: &PipelineObject) {
        for field in &object.fields {
            let FieldValue::String(text) = &field.value else {
                continue;
            };
            match expr::parse(text) {
                Err(error) => {
                    let message = if is_secret(&field.key) {
                        format!(
                            "expression error at column {} (the value is secret, so the details are not shown)",
                            error.column()
                        )
                    } else {
                        format!("expression error {error}")
                    };
                    self.error(Issue::field(&object.id, &field.key, message));
                }
                Ok(template) if template.is_literal() => {}
                Ok(_) => {
                    if let Err(error) = static_value(self.scope(false), Some(index), text) {
                        self.error(Issue::field(&object.id, &field.key, error.message));
                    }
                }
            }
        }
    }

    fn check_typed(&mut self, index: usize, object: &PipelineObject, spec: &'static TypeSpec, on_demand: bool) {
        if let Some(reason) = spec.deprecated {
            self.warning(Issue::field(&object.id, "type", reason));
        }
        self.check_own_fields(object, spec);
        self.check_requirements(index, object, spec);
        for key in self.inheritance.keys(index) {
            if let Some(field) = spec.field(key) {
                self.check_field(index, object, spec, field);
            }
            if matches!(FieldKind::of(key), FieldKind::User | FieldKind::Secret) || spec.field(key).is_some() {
                self.check_references(index, object, spec, key);
            }
        }
        match spec.category {
            Category::Schedule => self.check_schedule(index, object),
            category if category.is_runnable() => self.check_runnable(index, object, spec, on_demand),
            _ => {}
        }
    }

    fn check_own_fields(&mut self, object: &PipelineObject, spec: &TypeSpec) {
        let mut seen = HashSet::new();
        for field in &object.fields {
            if !seen.insert(field.key.as_str()) {
                continue;
            }
            match FieldKind::of(&field.key) {
                FieldKind::Runtime => self.warning(Issue::field(
                    &object.id,
                    &field.key,
                    "fields starting with @ are set by the service while the pipeline runs; this value is ignored",
                )),
                FieldKind::User => {}
                FieldKind::Secret | FieldKind::Standard => {
                    let own_secret = field.key.strip_prefix('*').is_some_and(super::model::is_user_name);
                    if own_secret
                        || ["type", "parent"].contains(&field.key.as_str())
                        || spec.field(&field.key).is_some()
                    {
                        continue;
                    }
                    let hint = suggest::did_you_mean(&field.key, spec.fields().map(|field| field.name));
                    self.warning(Issue::field(
                        &object.id,
                        &field.key,
                        format!(
                            "{} has no field \"{}\"; it is ignored{hint} (your own fields start with \"my\")",
                            spec.name, field.key
                        ),
                    ));
                }
            }
        }
    }

    fn check_requirements(&mut self, index: usize, object: &PipelineObject, spec: &TypeSpec) {
        let has = |key: &str| self.inheritance.has(index, key);
        let unstaged = self
            .inheritance
            .string(index, "stage")
            .is_some_and(|stage| stage.eq_ignore_ascii_case("false"));
        let mut problems = Vec::new();
        for requirement in spec.requirements {
            match *requirement {
                Requirement::Field(key) if !has(key) => problems.push((
                    Some(key),
                    format!("{} needs the field \"{key}\", which is not set here or inherited", spec.name),
                )),
                Requirement::ExactlyOneOf(keys) => {
                    let present: Vec<&str> = keys.iter().copied().filter(|key| has(key)).collect();
                    match present.len() {
                        0 => problems.push((None, format!("{} needs one of {}", spec.name, quoted_list(keys)))),
                        1 => {}
                        _ => problems.push((
                            None,
                            format!("{} takes exactly one of {}, but has {}", spec.name, quoted_list(keys), quoted_list(&present)),
                        )),
                    }
                }
                Requirement::FieldWhenStaged(key) if !has(key) && !unstaged => problems.push((
                    Some(key),
                    format!(
                        "{} needs the field \"{key}\" when it stages its data (\"stage\" is true unless set to \"false\")",
                        spec.name
                    ),
                )),
                Requirement::AnyOf(keys) if !keys.iter().any(|key| has(key)) => {
                    problems.push((None, format!("{} needs at least one of {}", spec.name, quoted_list(keys))));
                }
                _ => {}
            }
        }
        for (field, message) in problems {
            self.error(match field {
                Some(field) => Issue::field(&object.id, field, message),
                None => Issue::object(&object.id, message),
            });
        }
    }

    /// One field's values against its slot type.
    fn check_field(&mut self, index: usize, object: &PipelineObject, spec: &TypeSpec, field: &FieldSpec) {
        let Some(owner) = self.inheritance.source(index, field.name) else {
            return;
        };
        let values: Vec<&FieldValue> = owner.values(field.name).collect();
        if values.len() > 1 && !field.multi {
            self.error(Issue::field(
                &owner.id,
                field.name,
                format!("\"{}\" takes one value, but {} are given", field.name, values.len()),
            ));
        }
        for value in values {
            match (field.slot, value) {
                (SlotType::Ref(targets), FieldValue::Ref(target)) => {
                    self.check_ref_target(&owner.id, field.name, target, targets);
                }
                (SlotType::Ref(_), FieldValue::String(text)) => self.error(Issue::field(
                    &owner.id,
                    field.name,
                    format!(
                        "the value is a string, but \"{}\" is a reference: write {{\"ref\": \"{}\"}}",
                        field.name,
                        if is_secret(field.name) { "<object id>" } else { text }
                    ),
                )),
                (_, FieldValue::Ref(target)) => self.error(Issue::field(
                    &owner.id,
                    field.name,
                    format!(
                        "the value is a reference to \"{target}\", but \"{}\" takes a string",
                        field.name
                    ),
                )),
                (slot, FieldValue::String(text)) => {
                    if spec.category == Category::Schedule {
                        continue; // ScheduleSpec checks a Schedule's fields as a whole.
                    }
                    match static_value(self.scope(false), Some(index), text) {
                        Ok(Some(value)) => {
                            let secret = is_secret(field.name) || self.comes_from_a_secret(index, text);
                            if let Some(problem) = slot_problem(slot, &value, secret) {
                                self.error(Issue::field(&owner.id, field.name, problem));
                            } else {
                                self.check_aws_limits(&owner.id, field.name, &value);
                            }
                        }
                        Ok(None) => {}
                        Err(error) => self.error(Issue::field(&owner.id, field.name, error.message)),
                    }
                }
            }
        }
        let _ = object;
    }

    fn check_ref_target(&mut self, id: &str, key: &str, target: &str, targets: &[RefTarget]) {
        let Some(target_index) = self.inheritance.index(target) else {
            let hint = self.object_ids().did_you_mean(target);
            self.error(Issue::field(
                id,
                key,
                format!("refers to \"{target}\", which does not exist{hint}"),
            ));
            return;
        };
        let target_type = self.inheritance.type_name(target_index);
        let target_spec = target_type.and_then(schema::type_spec);
        let matches = target_spec.is_some_and(|spec| {
            targets.iter().any(|wanted| match wanted {
                RefTarget::Category(category) => spec.category == *category,
                RefTarget::Type(name) => spec.name == *name,
            })
        });
        if matches || (target_type.is_some() && target_spec.is_none()) {
            return; // An unknown type is reported on the target itself.
        }
        let wanted: Vec<String> = targets
            .iter()
            .map(|wanted| match wanted {
                RefTarget::Category(category) => category.described().to_owned(),
                RefTarget::Type(name) => format!("a {name}"),
            })
            .collect();
        let actual = match target_type {
            Some(name) => format!("which is a{} {name}", if starts_with_vowel(name) { "n" } else { "" }),
            None => "which has no type".to_owned(),
        };
        self.error(Issue::field(
            id,
            key,
            format!(
                "refers to \"{target}\", {actual}; \"{key}\" must refer to {}",
                wanted.join(" or ")
            ),
        ));
    }

    /// AWS limits on particular fields that Sluice relaxes.
    fn check_aws_limits(&mut self, id: &str, key: &str, value: &str) {
        match key {
            "retryDelay"
                if Period::parse(value)
                    .is_ok_and(|period| period.nominal_seconds() < aws_limits::MIN_RETRY_DELAY_SECONDS) =>
            {
                let message =
                    format!("{value} is shorter than AWS's 2-minute minimum between retries; Sluice allows it");
                self.warning(Issue::field(id, key, message));
            }
            "maximumRetries"
                if value
                    .trim()
                    .parse::<i64>()
                    .is_ok_and(|retries| retries > aws_limits::RETRIES) =>
            {
                let message = format!(
                    "{value} retries: AWS allows at most {}; Sluice allows more",
                    aws_limits::RETRIES
                );
                self.warning(Issue::field(id, key, message));
            }
            _ => {}
        }
    }

    /// Whether a value reads a secret field or parameter: then messages must not quote it.
    fn comes_from_a_secret(&self, index: usize, text: &str) -> bool {
        static_string(self.scope(true), Some(index), text) != static_string(self.scope(false), Some(index), text)
    }

    /// Each reference in a field's expressions names something that exists.
    fn check_references(&mut self, index: usize, object: &PipelineObject, spec: &TypeSpec, key: &str) {
        let Some(owner) = self.inheritance.source(index, key) else {
            return;
        };
        let texts: Vec<&str> = owner.values(key).filter_map(FieldValue::as_str).collect();
        for text in texts {
            let Ok(template) = expr::parse(text) else { continue };
            for (reference, offset) in template_references(&template) {
                let Some((severity, problem)) = self.reference_problem(index, spec, &reference) else {
                    continue;
                };
                let column = offset + 1;
                let (expression, problem) = if is_secret(key) {
                    // The expression is part of a secret value: say where, not what.
                    (
                        "#{...}".to_owned(),
                        "names nothing that exists (the value is secret, so it is not shown)".to_owned(),
                    )
                } else {
                    (format!("#{{{}}}", reference.join(".")), problem)
                };
                // A parameter or runtime field means the same wherever the value is
                // inherited: report it once, where it is written.
                let issue = if owner.id == object.id || reference.len() == 1 {
                    Issue::field(&owner.id, key, format!("at column {column}: {expression}: {problem}"))
                } else {
                    Issue::field(
                        &object.id,
                        key,
                        format!(
                            "at column {column} (inherited from \"{}\"): {expression}: {problem}",
                            owner.id
                        ),
                    )
                };
                match severity {
                    Severity::Error => self.error(issue),
                    Severity::Warning => self.warning(issue),
                }
            }
        }
    }

    fn reference_problem(&self, index: usize, spec: &TypeSpec, path: &[String]) -> Option<(Severity, String)> {
        let first = path.first()?;
        if first == "node" {
            return (!matches!(spec.category, Category::Precondition | Category::Action)).then(|| {
                (
                    Severity::Error,
                    "`node` is only defined inside a precondition or an action (SnsAlarm, Terminate)".to_owned(),
                )
            });
        }
        if path.len() == 1 {
            let problem = self.name_problem(index, first, true)?;
            // A `my...` name may be a parameter whose value comes only at activation
            // (ActivatePipeline's parameterValues): the run fails if it never comes.
            let plain = first.trim_start_matches('*');
            return Some(if is_user_name(plain) {
                (
                    Severity::Warning,
                    format!(
                        "{problem}: declare it in \"parameters\" or give it a value (--param {plain}=...), or its runs will fail"
                    ),
                )
            } else {
                (Severity::Error, problem)
            });
        }
        // A chain: the first segment must be a reference field, and each object it points at
        // must have the rest.
        let values = self.inheritance.values(index, first);
        if values.is_empty() {
            let hint = suggest::did_you_mean(first, self.inheritance.keys(index));
            return Some((Severity::Error, format!("\"{first}\" is not set on this object{hint}")));
        }
        for value in values {
            let FieldValue::Ref(target) = value else {
                return Some((
                    Severity::Error,
                    format!("\"{first}\" is a string, not a reference to an object"),
                ));
            };
            let target_index = self.inheritance.index(target)?; // A missing target is reported on the field.
            if let [second] = &path[1..]
                && let Some(problem) = self.name_problem(target_index, second, false)
            {
                return Some((
                    Severity::Error,
                    format!("\"{first}\" refers to \"{target}\", which {problem}"),
                ));
            }
        }
        None
    }

    /// Why `name` cannot be read on the object, if it cannot. `own` is true for the
    /// object the expression belongs to, where parameters are also in scope.
    fn name_problem(&self, index: usize, name: &str, own: bool) -> Option<String> {
        if name.starts_with('@') {
            return (!known_runtime_field(name)).then(|| {
                let hint = suggest::did_you_mean(name, all_runtime_fields());
                format!("{name} is not a runtime field{hint}")
            });
        }
        if ["id", "name"].contains(&name) || self.inheritance.has(index, name) {
            return None;
        }
        let plain = name.trim_start_matches('*');
        if own && (self.declared_ids.contains(plain) || self.parameters.value(name).is_some()) {
            return None;
        }
        let type_spec = self.inheritance.type_name(index).and_then(schema::type_spec);
        if type_spec.is_some_and(|spec| spec.field(name).is_some()) {
            return Some(format!("has no \"{name}\" set"));
        }
        // A `my...` name is a user field or parameter: suggest only those.
        let user_only = is_user_name(plain);
        let suggestible = |candidate: &str| !user_only || is_user_name(candidate.trim_start_matches('*'));
        let mut candidates: Vec<&str> = self.inheritance.keys(index);
        candidates.extend(["id", "name"]);
        candidates.retain(|candidate| suggestible(candidate));
        let mut best = suggest::nearest(name, candidates);
        if own
            && let Some((distance, declared)) = self.declared_names.nearest(name)
            && suggestible(declared)
            && best.is_none_or(|(known, _)| distance < known)
        {
            best = Some((distance, declared));
        }
        let hint = suggest::hint(best.map(|(_, candidate)| candidate));
        Some(if own {
            format!("\"{name}\" is neither a field of this object nor a parameter{hint}")
        } else {
            format!("has no field \"{name}\"{hint}")
        })
    }

    fn check_schedule(&mut self, index: usize, object: &PipelineObject) {
        match schedule_object(self.scope(false), index) {
            // A field that depends on the run is checked when the pipeline runs.
            Err(ScheduleObjectError::Unresolved { .. }) => {}
            Err(ScheduleObjectError::Invalid(error)) => {
                self.error(Issue::field(&object.id, error.field, error.message))
            }
            Ok(ScheduleSpec::Periodic(schedule)) => {
                if let Some(warning) = aws_period_warning(schedule.period) {
                    self.warning(Issue::field(&object.id, "period", warning));
                }
            }
            Ok(ScheduleSpec::OnDemand) => {}
        }
    }

    fn check_runnable(&mut self, index: usize, object: &PipelineObject, spec: &TypeSpec, on_demand: bool) {
        if !on_demand && !self.inheritance.has(index, "schedule") {
            self.error(Issue::object(
                &object.id,
                format!(
                    "{} has no schedule: set \"schedule\" on it or on Default, or make the pipeline on-demand with \"scheduleType\": \"ondemand\" on Default",
                    spec.name
                ),
            ));
        }
        let own = |key| object.has(key);
        match spec.category {
            Category::Activity if spec.needs_runner => {
                let runs_on = self.inheritance.has(index, "runsOn");
                let worker_group = self.inheritance.has(index, "workerGroup");
                if !runs_on && !worker_group {
                    self.warning(Issue::object(
                        &object.id,
                        format!(
                            "{} has neither \"runsOn\" nor \"workerGroup\": AWS requires one; Sluice runs it without a machine where it can (inside its activities function)",
                            spec.name
                        ),
                    ));
                } else if own("runsOn") && own("workerGroup") {
                    self.warning(Issue::field(
                        &object.id,
                        "workerGroup",
                        "both runsOn and workerGroup are set: runsOn wins and workerGroup is ignored",
                    ));
                }
                // On an EmrCluster, Sluice submits the work as EMR steps: only the types
                // that have a step form run there.
                let on_cluster = self
                    .inheritance
                    .reference(index, "runsOn")
                    .and_then(|id| self.inheritance.index(id))
                    .and_then(|target| self.inheritance.type_name(target))
                    == Some("EmrCluster");
                if on_cluster && !crate::engine::clusters::STEP_ACTIVITIES.contains(&spec.name) {
                    self.warning(Issue::field(
                        &object.id,
                        "runsOn",
                        format!(
                            "{} runs on an EmrCluster, where Sluice runs EMR steps only ({}); it will fail there: \
                             give it an Ec2Resource or a workerGroup",
                            spec.name,
                            crate::engine::clusters::STEP_ACTIVITIES.join(", ")
                        ),
                    ));
                }
            }
            Category::DataNode if spec.name == "DynamoDBDataNode" => {
                // AWS: "DynamoDBDataNode does not support the Exists precondition".
                let exists: Vec<&str> = self
                    .inheritance
                    .values(index, "precondition")
                    .into_iter()
                    .filter_map(FieldValue::as_ref_id)
                    .filter(|id| {
                        self.inheritance
                            .index(id)
                            .and_then(|target| self.inheritance.type_name(target))
                            == Some("Exists")
                    })
                    .collect();
                for id in exists {
                    self.error(Issue::field(
                        &object.id,
                        "precondition",
                        format!(
                            "refers to \"{id}\", an Exists precondition, which a DynamoDBDataNode does not support: use DynamoDBTableExists or DynamoDBDataExists"
                        ),
                    ));
                }
            }
            Category::Resource => {
                for key in ["runsOn", "workerGroup"] {
                    if own(key) {
                        self.warning(Issue::field(
                            &object.id,
                            key,
                            format!("\"{key}\" is not allowed on a resource and is ignored"),
                        ));
                    }
                }
            }
            _ => {}
        }
    }

    /// A cycle through dependsOn, input and output means nothing in it can ever start.
    fn check_dependency_cycles(&mut self) {
        let definition = self.definition();
        let count = definition.objects.len();
        let mut edges: Vec<Vec<usize>> = vec![Vec::new(); count];
        for index in 0..count {
            let runnable = self
                .inheritance
                .type_name(index)
                .and_then(schema::type_spec)
                .is_some_and(|spec| spec.category.is_runnable());
            if !runnable || definition.objects[index].id == DEFAULT_ID {
                continue;
            }
            let targets = |key| {
                self.inheritance
                    .values(index, key)
                    .into_iter()
                    .filter_map(FieldValue::as_ref_id)
                    .filter_map(|id| self.inheritance.index(id))
                    .collect::<Vec<_>>()
            };
            // An object waits for what it depends on and for its inputs; an output waits for
            // the object that produces it.
            edges[index].extend(targets("dependsOn"));
            edges[index].extend(targets("input"));
            for output in targets("output") {
                edges[output].push(index);
            }
        }
        for cycle in find_cycles(&edges) {
            let mut names: Vec<&str> = cycle
                .iter()
                .map(|&index| definition.objects[index].id.as_str())
                .collect();
            let first = names[0];
            names.push(first);
            self.error(Issue::object(
                first,
                format!(
                    "dependency cycle {} (through dependsOn, input and output): none of these could ever start",
                    names.join(" → ")
                ),
            ));
        }
    }
}

/// Each reference in a template with its 0-based column, as owned path segments.
fn template_references(template: &Template) -> Vec<(Vec<String>, usize)> {
    template
        .references()
        .into_iter()
        .map(|(reference, offset)| (reference.path.clone(), offset))
        .collect()
}

/// Cycles in a directed graph, each once, starting at its lowest index.
fn find_cycles(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        /// On the search path, at this position.
        Open(usize),
        Done,
    }
    let mut marks = vec![Mark::New; edges.len()];
    let mut cycles: Vec<Vec<usize>> = Vec::new();
    let mut found: HashSet<Vec<usize>> = HashSet::new();
    for root in 0..edges.len() {
        if marks[root] != Mark::New {
            continue;
        }
        // Iterative depth-first search: (node, next edge to follow).
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        marks[root] = Mark::Open(0);
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&target) = edges[node].get(*next) {
                *next += 1;
                match marks[target] {
                    Mark::New => {
                        marks[target] = Mark::Open(stack.len());
                        stack.push((target, 0));
                    }
                    Mark::Open(start) => {
                        let mut cycle: Vec<usize> = stack[start..].iter().map(|&(open, _)| open).collect();
                        let lowest = cycle
                            .iter()
                            .enumerate()
                            .min_by_key(|&(_, &node)| node)
                            .map_or(0, |(at, _)| at);
                        cycle.rotate_left(lowest);
                        if found.insert(cycle.clone()) {
                            cycles.push(cycle);
                        }
                    }
                    Mark::Done => {}
                }
            } else {
                marks[node] = Mark::Done;
                stack.pop();
            }
        }
    }
    cycles
}

/// Why a literal value does not fit a slot type, if it does not. Secret values are not
/// quoted.
fn slot_problem(slot: SlotType, value: &str, secret: bool) -> Option<String> {
    let shown = if secret {
        "the value".to_owned()
    } else {
        format!("\"{value}\"")
    };
    match slot {
        SlotType::String | SlotType::Ref(_) => None,
        SlotType::Integer => value
            .trim()
            .parse::<i64>()
            .is_err()
            .then(|| format!("{shown} is not a whole number")),
        SlotType::Double => {
            (!value.trim().parse::<f64>().is_ok_and(f64::is_finite)).then(|| format!("{shown} is not a number"))
        }
        SlotType::Boolean => (!["true", "false"].iter().any(|word| value.eq_ignore_ascii_case(word)))
            .then(|| format!("{shown} is not a boolean: write \"true\" or \"false\"")),
        SlotType::Period if secret => Period::parse_within_limit(value)
            .is_err()
            .then(|| format!("{shown} is not a period of at most 10 years such as \"15 minutes\" or \"1 day\"")),
        SlotType::Period => Period::parse_within_limit(value).err().map(|error| error.to_string()),
        SlotType::DateTime if secret => crate::time::parse_datetime(value)
            .is_err()
            .then(|| format!("{shown} is not a date-time written YYYY-MM-DDTHH:MM:SS")),
        SlotType::DateTime => crate::time::parse_datetime(value).err().map(|error| error.to_string()),
        SlotType::Enumeration(allowed) => (!allowed.iter().any(|word| value.eq_ignore_ascii_case(word))).then(|| {
            let hint = suggest::did_you_mean(value, allowed.iter().copied());
            format!("{shown} is not one of {}{hint}", quoted_list(allowed))
        }),
    }
}

fn quoted_list(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|word| format!("\"{word}\"")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn starts_with_vowel(word: &str) -> bool {
    word.starts_with(['A', 'E', 'I', 'O', 'U'])
}

fn all_runtime_fields() -> impl Iterator<Item = &'static str> {
    schema::TYPES
        .iter()
        .flat_map(|spec| spec.runtime_fields.iter().copied())
        .chain(schema::SYSTEM_FIELDS.iter().copied())
        .filter(|name| name.starts_with('@'))
}

fn known_runtime_field(name: &str) -> bool {
    all_runtime_fields().any(|known| known == name)
}
