//! Validation findings: errors and warnings per object and field, the shape
//! `ValidatePipelineDefinition` answers with.

use std::fmt;

use super::json::Position;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// The object (or parameter) the finding is about; `None` for the whole definition.
    pub id: Option<String>,
    /// The field; `None` when the finding is about the object as a whole.
    pub field: Option<String>,
    pub message: String,
    /// Where in the source file, when the definition came from one.
    pub position: Option<Position>,
}

impl Issue {
    pub fn definition(message: impl Into<String>) -> Self {
        Self {
            id: None,
            field: None,
            message: message.into(),
            position: None,
        }
    }

    pub fn object(id: &str, message: impl Into<String>) -> Self {
        Self {
            id: Some(id.to_owned()),
            field: None,
            message: message.into(),
            position: None,
        }
    }

    pub fn field(id: &str, field: &str, message: impl Into<String>) -> Self {
        Self {
            id: Some(id.to_owned()),
            field: Some(field.to_owned()),
            message: message.into(),
            position: None,
        }
    }

    pub fn at(mut self, position: Option<Position>) -> Self {
        self.position = self.position.or(position);
        self
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(position) = self.position {
            write!(f, "{position}: ")?;
        }
        match (&self.id, &self.field) {
            (Some(id), Some(field)) => write!(f, "object \"{id}\", field \"{field}\": ")?,
            (Some(id), None) => write!(f, "object \"{id}\": ")?,
            (None, Some(field)) => write!(f, "field \"{field}\": ")?,
            (None, None) => {}
        }
        f.write_str(&self.message)
    }
}

/// All findings for one definition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    pub errors: Vec<Issue>,
    pub warnings: Vec<Issue>,
}

impl Report {
    pub fn errored(&self) -> bool {
        !self.errors.is_empty()
    }

    pub fn error(&mut self, issue: Issue) {
        self.errors.push(issue);
    }

    pub fn warning(&mut self, issue: Issue) {
        self.warnings.push(issue);
    }

    pub fn extend(&mut self, other: Report) {
        self.errors.extend(other.errors);
        self.warnings.extend(other.warnings);
    }
}
