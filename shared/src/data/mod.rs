//! Moving data: the databases of a definition, the SQL scripts run on them, and the
//! formats data is read and written in.

pub mod database;
pub mod format;
pub mod items;
pub mod script;
pub mod table;
