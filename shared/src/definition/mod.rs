//! Pipeline definitions: the file format and the API shape, `Default` and `parent`
//! inheritance, parameters and values, and validation with errors and warnings per object
//! and field.

pub mod schema;
