//! `SqlActivity` (reference §2.4): its `script`, or the script at `scriptUri`, run on its
//! `database` statement by statement inside one transaction, each `?` taking the next
//! `scriptArgument`. Scripts from S3 are not expression-evaluated (AWS's rule); the
//! inline script arrives evaluated. A failure names the statement; the password never
//! appears in a message.

use std::path::Path;

use super::{ObjectFields, Storage, Task, TaskOutcome, TaskStatus};
use crate::data::{
    database::{Database, DatabaseLookup, SqlError},
    script::split,
};

/// The error id of a script that failed.
pub const SQL_FAILED: &str = "Sluice.SqlFailed";

/// Runs the task's script; `work` holds a script fetched from S3 while it runs.
pub async fn sql_activity<St: Storage>(storage: &St, task: &Task, work: &Path) -> TaskOutcome {
    match run(storage, task, work).await {
        Ok(_) => TaskOutcome::finished(),
        Err(message) => TaskOutcome::failed(
            TaskStatus::Failed,
            SQL_FAILED,
            format!("SqlActivity \"{}\": {message}", task.object_id),
        ),
    }
}

async fn run<St: Storage>(storage: &St, task: &Task, work: &Path) -> Result<usize, String> {
    let database_id = task
        .field("database")
        .ok_or("it names no database (field \"database\")")?;
    let object = task
        .referenced(database_id)
        .ok_or_else(|| format!("its database \"{database_id}\" did not come with the task"))?;
    let object = resolved_database(storage, object).await?;
    let database = Database::from_fields(database_id, |key| {
        object.values(key).into_iter().map(str::to_owned).collect()
    })
    .map_err(|error| error.to_string())?;
    let script = match (task.field("script"), task.field("scriptUri")) {
        (Some(script), _) if !script.trim().is_empty() => script.to_owned(),
        (_, Some(uri)) if !uri.trim().is_empty() => {
            let path = work.join("script.sql");
            storage
                .download(uri.trim(), &path)
                .await
                .map_err(|error| format!("its scriptUri {uri}: {error}"))?;
            std::fs::read_to_string(&path).map_err(|error| format!("its scriptUri {uri} is not text: {error}"))?
        }
        _ => return Err("it has neither script nor scriptUri".to_owned()),
    };
    let statements = split(&script, database.dialect);
    if statements.is_empty() {
        return Err("its script has no statement".to_owned());
    }
    let args: Vec<String> = task.values("scriptArgument").into_iter().map(str::to_owned).collect();
    database
        .run_script(&statements, &args)
        .await
        .map_err(|error: SqlError| error.to_string())
}

/// A database object as a connection needs it: an `RdsDatabase` or `RedshiftDatabase`
/// that names its instance or cluster by id (and gives no `connectionString`) gets the
/// connection string of the endpoint AWS reports for it.
pub(super) async fn resolved_database<St: Storage>(
    storage: &St,
    object: &ObjectFields,
) -> Result<ObjectFields, String> {
    let mut resolved = object.clone();
    if let Some(lookup) = DatabaseLookup::of_fields(|key| object.field(key).map(str::to_owned)) {
        let endpoint = storage
            .database_endpoint(&lookup)
            .await
            .map_err(|error| format!("database \"{}\": {error}", object.id))?;
        resolved
            .fields
            .push(("connectionString".to_owned(), endpoint.connection_string()));
    }
    Ok(resolved)
}
