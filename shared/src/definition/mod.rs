//! Pipeline definitions: the file format and the API shape, `Default` and `parent`
//! inheritance, parameters and values, and validation with errors and warnings per object
//! and field.

pub mod context;
pub mod inherit;
pub mod issue;
pub mod json;
pub mod model;
pub mod parameters;
pub mod read;
pub mod run_limits;
pub mod schema;
pub mod shape;
pub mod validate;

pub use issue::{Issue, Report};
pub use model::{
    Definition, Field, FieldKind, FieldValue, ParameterAttribute, ParameterObject, ParameterValue, PipelineObject,
    SECRET_MASK,
};
pub use read::{Loaded, Locations, ReadError, Shape, read_definition, read_values};
pub use shape::{ApiDefinition, to_api_json, to_file_json};
