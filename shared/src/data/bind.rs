//! Values bound as parameters, never written into SQL text: a CSV field, a
//! `scriptArgument` or an `insertQuery` value reaches the server apart from its
//! statement, so no quote, backslash or `standard_conforming_strings` setting can turn
//! it into SQL.
//!
//! MySQL takes `?` placeholders with string values and converts each to its column's type
//! itself. PostgreSQL (and Redshift) would keep a value bound as text a text, so '42'
//! could not go into an integer column as a literal does (JDBC's
//! `stringtype=unspecified`): the server is first asked which type it infers for each
//! placeholder from where it stands, as it would for a literal there, and the value,
//! bound as text, is cast to it (`CAST($1 AS integer)`). Where it cannot tell
//! (`SELECT ? IS NULL`), the value stays text.

use std::collections::HashMap;

use sqlx::{Either, Executor, Statement as _, mysql::MySqlConnection, postgres::PgConnection};

use super::{format::Record, script::Statement};

/// The most values one statement binds: PostgreSQL's and MySQL's protocols count them in
/// 16 bits.
pub const MAX_PARAMETERS: usize = 65_535;

/// How many of `records` (at least one) one multi-row INSERT takes: at most `rows`, and
/// no more values than a statement binds. A record too wide for any statement is an
/// error naming its width.
pub fn batch_len(records: &[Record], rows: usize) -> Result<usize, String> {
    let mut values = 0usize;
    let mut count = 0usize;
    for record in records.iter().take(rows.max(1)) {
        if record.len() > MAX_PARAMETERS {
            return Err(format!(
                "a record of {} fields is more than one statement binds ({MAX_PARAMETERS})",
                record.len()
            ));
        }
        values += record.len();
        if values > MAX_PARAMETERS {
            break;
        }
        count += 1;
    }
    Ok(count.max(1).min(records.len()))
}

/// Runs `statement` on MySQL with `values` bound to its placeholders in order.
pub async fn execute_mysql(
    connection: &mut MySqlConnection,
    statement: &Statement,
    values: &[Option<&str>],
) -> Result<u64, sqlx::Error> {
    let mut query = sqlx::query(&statement.text);
    for value in values {
        query = query.bind(*value);
    }
    Ok(query.execute(connection).await?.rows_affected())
}

/// PostgreSQL's typed statements, remembered for the connection they were asked of: a
/// load asks once per statement shape, not once per batch.
#[derive(Debug, Default)]
pub struct PgBinder {
    /// Whether a failed question may be rolled back to a savepoint (Redshift has none).
    savepoints: bool,
    /// Numbered statement text → the same with its casts.
    statements: HashMap<String, String>,
    /// Type OID → the name a cast takes; `None` for text (no cast needed).
    type_names: HashMap<u32, Option<String>>,
}

/// PostgreSQL's code for "could not determine data type of parameter".
const INDETERMINATE_DATATYPE: &str = "42P18";

/// Types a value bound as text needs no cast to: text, and "unknown".
const TEXT_TYPES: &[u32] = &[0, 25, 705];

impl PgBinder {
    /// A binder for a PostgreSQL server (`redshift`: Redshift, which has no savepoints).
    pub fn new(redshift: bool) -> Self {
        Self {
            savepoints: !redshift,
            ..Self::default()
        }
    }

    /// Runs `statement` with `values` bound to its placeholders in order; answers the rows
    /// it touched.
    pub async fn execute(
        &mut self,
        connection: &mut PgConnection,
        statement: &Statement,
        values: &[Option<&str>],
    ) -> Result<u64, sqlx::Error> {
        let sql = self.typed(connection, statement).await?;
        let mut query = sqlx::query(&sql);
        for value in values {
            query = query.bind(*value);
        }
        Ok(query.execute(connection).await?.rows_affected())
    }

    /// The statement numbered `$1`, `$2`..., each placeholder cast to the type the server
    /// infers for it.
    async fn typed(&mut self, connection: &mut PgConnection, statement: &Statement) -> Result<String, sqlx::Error> {
        let numbered = statement.numbered(|_| None);
        if statement.placeholders.is_empty() {
            return Ok(numbered);
        }
        if let Some(typed) = self.statements.get(&numbered) {
            return Ok(typed.clone());
        }
        let inferred = self
            .inferred(connection, &numbered, statement.placeholders.len())
            .await?;
        let mut names = Vec::with_capacity(inferred.len());
        for oid in inferred {
            names.push(match oid {
                Some(oid) => self.type_name(connection, oid).await?,
                None => None,
            });
        }
        let typed = statement.numbered(|index| names.get(index).and_then(|name| name.as_deref()));
        self.statements.insert(numbered, typed.clone());
        Ok(typed)
    }

    /// The type OID the server infers for each of `count` placeholders of `numbered`;
    /// `None` where it cannot tell.
    async fn inferred(
        &self,
        connection: &mut PgConnection,
        numbered: &str,
        count: usize,
    ) -> Result<Vec<Option<u32>>, sqlx::Error> {
        if self.savepoints {
            connection.execute("SAVEPOINT sluice_parameters").await?;
        }
        let prepared = match (&mut *connection).prepare_with(numbered, &[]).await {
            Ok(prepared) => Ok(match prepared.parameters() {
                Some(Either::Left(types)) => types.iter().map(|info| info.oid().map(|oid| oid.0)).collect(),
                _ => vec![None; count],
            }),
            Err(error) => Err(error),
        };
        match prepared {
            Ok(oids) => {
                if self.savepoints {
                    connection.execute("RELEASE SAVEPOINT sluice_parameters").await?;
                }
                Ok(oids)
            }
            Err(sqlx::Error::Database(error))
                if self.savepoints && error.code().as_deref() == Some(INDETERMINATE_DATATYPE) =>
            {
                connection
                    .execute(sqlx::raw_sql(
                        "ROLLBACK TO SAVEPOINT sluice_parameters; RELEASE SAVEPOINT sluice_parameters",
                    ))
                    .await?;
                Ok(vec![None; count])
            }
            Err(error) => Err(error),
        }
    }

    /// How a cast names the type `oid` (`format_type`, typmod left out: `bpchar`, never
    /// `character`, which would mean `character(1)`); `None` for text.
    async fn type_name(&mut self, connection: &mut PgConnection, oid: u32) -> Result<Option<String>, sqlx::Error> {
        if TEXT_TYPES.contains(&oid) {
            return Ok(None);
        }
        if let Some(name) = self.type_names.get(&oid) {
            return Ok(name.clone());
        }
        let name: Option<String> = sqlx::query_scalar("SELECT format_type($1, -1)")
            .bind(sqlx::postgres::types::Oid(oid))
            .fetch_one(&mut *connection)
            .await?;
        let name = name.filter(|name| !name.is_empty() && name != "text" && name != "unknown");
        self.type_names.insert(oid, name.clone());
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(widths: &[usize]) -> Vec<Record> {
        widths.iter().map(|width| vec![None; *width]).collect()
    }

    #[test]
    fn a_batch_binds_at_most_what_a_statement_takes() {
        assert_eq!(batch_len(&records(&[3; 1000]), 500), Ok(500));
        assert_eq!(batch_len(&records(&[3; 10]), 500), Ok(10));
        // 200 columns: 327 rows make 65,400 values, one more would pass 65,535
        assert_eq!(batch_len(&records(&[200; 500]), 500), Ok(327));
        assert_eq!(batch_len(&records(&[MAX_PARAMETERS, 1]), 500), Ok(1));
        assert_eq!(batch_len(&records(&[0, 0]), 500), Ok(2));
        assert!(
            batch_len(&records(&[MAX_PARAMETERS + 1]), 500)
                .unwrap_err()
                .contains("65535")
        );
    }
}
