//! Moving data: the databases of a definition, the SQL scripts run on them, and the
//! formats data is read and written in. Values reach a database as bound parameters and
//! names as quoted identifiers, never as SQL text.

pub mod bind;
pub mod database;
pub mod format;
pub mod items;
pub mod names;
pub mod script;
pub mod table;
