//! Moving data: the databases of a definition and the SQL scripts run on them.

pub mod database;
pub mod script;
