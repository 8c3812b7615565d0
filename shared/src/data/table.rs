//! SQL data nodes (`SqlDataNode`, `MySqlDataNode`, `RedshiftDataNode`; reference §2.3) as
//! a `CopyActivity` reads and writes them: a query's rows written out in a data format,
//! and records read in a data format loaded into a table, all of a load in one
//! transaction (a bad record leaves the table as it was).
//!
//! PostgreSQL (and Redshift's protocol) move the data with `COPY ... TO STDOUT` and
//! `COPY ... FROM STDIN`, whose CSV and text formats are Sluice's CSV and TSV; MySQL and
//! MariaDB read rows over the text protocol and load with multi-row INSERTs, as do
//! Redshift connections (no COPY FROM STDIN) and `insertQuery`s. Every value of such an
//! INSERT is a bound parameter ([`super::bind`]), and table and column names are quoted
//! identifiers ([`super::names`]).

use std::io::{Read, Write};

use futures_util::TryStreamExt;
use sqlx::{Connection, Executor, Row, mysql::MySqlConnection, postgres::PgConnection};

use super::{
    bind::{PgBinder, batch_len, execute_mysql},
    database::{Database, SqlError},
    format::{Format, FormatError, Record},
    names::Name,
    script::{Dialect, Statement},
};

/// Rows per multi-row INSERT (fewer when they would bind more than a statement takes).
const ROWS_PER_INSERT: usize = 500;
/// How much of a file a load reads at a time.
const CHUNK: usize = 256 * 1024;

/// An object's evaluated fields: every value of a key.
pub type FieldValues<'f> = dyn Fn(&str) -> Vec<String> + 'f;

/// A table (or query) of a SQL data node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNode {
    pub object_id: String,
    pub database: Database,
    pub table: Option<String>,
    pub schema: Option<String>,
    pub select_query: Option<String>,
    pub insert_query: Option<String>,
    pub create_table_sql: Option<String>,
    /// `primaryKeys` (RedshiftDataNode), comma-separated or one a value.
    pub primary_keys_field: Option<String>,
}

/// A problem moving rows, with what a user needs to find it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error(transparent)]
    Sql(#[from] SqlError),
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("data node \"{object}\": {problem}")]
    Node { object: String, problem: String },
    #[error("{0}")]
    Io(String),
    /// The server refused the data or the query: nothing was written.
    #[error("{what} failed and nothing was written: {message}")]
    Refused { what: String, message: String },
}

impl TableNode {
    /// The node's fields, and those of its `database` (when the node does not carry its
    /// own `connectionString`, as old `MySqlDataNode`s do).
    pub fn from_fields(
        object_id: &str,
        node: impl Fn(&str) -> Vec<String>,
        database: Option<(&str, &FieldValues<'_>)>,
    ) -> Result<Self, TableError> {
        let first = |key: &str| node(key).into_iter().find(|value| !value.trim().is_empty());
        let database = if first("connectionString").is_some() {
            Database::from_fields(object_id, &node)?
        } else {
            let (database_id, fields) = database.ok_or_else(|| TableError::Node {
                object: object_id.to_owned(),
                problem: "it names no database (field \"database\") and has no connectionString".to_owned(),
            })?;
            Database::from_fields(database_id, fields)?
        };
        Ok(Self {
            object_id: object_id.to_owned(),
            database,
            table: first("table").or_else(|| first("tableName")),
            schema: first("schemaName"),
            select_query: first("selectQuery"),
            insert_query: first("insertQuery"),
            create_table_sql: first("createTableSql"),
            primary_keys_field: {
                let keys = node("primaryKeys");
                (!keys.is_empty()).then(|| keys.join(","))
            },
        })
    }

    /// The table's name, with its schema, as the server reads it.
    fn table_name(&self) -> Result<Name, TableError> {
        let dialect = self.database.dialect;
        let problem = |problem: String| TableError::Node {
            object: self.object_id.clone(),
            problem,
        };
        let table = self
            .table
            .as_deref()
            .ok_or_else(|| problem("it names no table".to_owned()))?;
        let table = Name::parse(table, dialect).map_err(|error| problem(format!("its table: {error}")))?;
        let schema = match &self.schema {
            Some(schema) => {
                Some(Name::parse(schema, dialect).map_err(|error| problem(format!("its schemaName: {error}")))?)
            }
            None => None,
        };
        Ok(Name::qualified(schema.as_ref(), table))
    }

    /// The table's name as SQL takes it: quoted, with its schema.
    fn qualified_table(&self) -> Result<String, TableError> {
        Ok(self.table_name()?.quoted(self.database.dialect))
    }

    /// What a copy out of this node reads: its `selectQuery`, or the whole table.
    pub fn query(&self) -> Result<String, TableError> {
        match &self.select_query {
            Some(query) => Ok(query.trim().trim_end_matches(';').to_owned()),
            None => Ok(format!("SELECT * FROM {}", self.qualified_table()?)),
        }
    }

    /// Writes the rows of the node's query to `out` in `format`; answers how many.
    pub async fn export(&self, format: &Format, out: &mut impl Write) -> Result<u64, TableError> {
        let query = self.query()?;
        let refused = |error: sqlx::Error| TableError::Refused {
            what: format!("reading {} ({})", self.object_id, super::script::excerpt(&query)),
            message: database_message(&error),
        };
        let io = |error: std::io::Error| TableError::Io(format!("writing the rows of {}: {error}", self.object_id));
        let mut rows = 0u64;
        match self.database.dialect {
            Dialect::Postgres if self.database.redshift => {
                let mut connection = self.database.connect_postgres().await?;
                // The simple query protocol: every value arrives as its text.
                let mut stream = connection.fetch(sqlx::raw_sql(&query));
                let mut buffer = Vec::new();
                while let Some(row) = stream.try_next().await.map_err(refused)? {
                    rows += 1;
                    let mut record: Record = Vec::with_capacity(row.len());
                    for index in 0..row.len() {
                        let value = row.try_get_raw(index).map_err(refused)?;
                        record.push(if sqlx::ValueRef::is_null(&value) {
                            None
                        } else {
                            Some(
                                value
                                    .as_str()
                                    .map_err(|error| TableError::Io(format!("reading {}: {error}", self.object_id)))?
                                    .to_owned(),
                            )
                        });
                    }
                    write_record(format, &record, rows, &mut buffer, out, io)?;
                }
                out.write_all(&buffer).map_err(io)?;
            }
            Dialect::Postgres => {
                let mut connection = self.database.connect_postgres().await?;
                let mut stream = connection
                    .copy_out_raw(&format!("COPY ({query}) TO STDOUT WITH (FORMAT csv)"))
                    .await
                    .map_err(refused)?;
                // PostgreSQL's CSV is Sluice's: re-encoded only for another format.
                let mut parser = Format::Csv { escape: None }.parser();
                let mut records = Vec::new();
                let direct = *format == Format::Csv { escape: None };
                let mut buffer = Vec::new();
                while let Some(chunk) = stream.try_next().await.map_err(refused)? {
                    parser.feed(&chunk, &mut records)?;
                    rows += records.len() as u64;
                    if direct {
                        records.clear();
                        out.write_all(&chunk).map_err(io)?;
                    } else {
                        for record in records.drain(..) {
                            format.write(&record, rows, &mut buffer)?;
                        }
                        out.write_all(&buffer).map_err(io)?;
                        buffer.clear();
                    }
                }
                parser.finish(&mut records)?;
                rows += records.len() as u64;
                for record in records.drain(..) {
                    format.write(&record, rows, &mut buffer)?;
                }
                out.write_all(&buffer).map_err(io)?;
            }
            Dialect::MySql => {
                let mut connection = self.database.connect_mysql().await?;
                // The text protocol: every value arrives as its text.
                let mut stream = connection.fetch(sqlx::raw_sql(&query));
                let mut buffer = Vec::new();
                while let Some(row) = stream.try_next().await.map_err(refused)? {
                    rows += 1;
                    let mut record: Record = Vec::with_capacity(row.len());
                    for index in 0..row.len() {
                        let value: Option<Vec<u8>> = row.try_get_unchecked(index).map_err(refused)?;
                        record.push(value.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()));
                    }
                    write_record(format, &record, rows, &mut buffer, out, io)?;
                }
                out.write_all(&buffer).map_err(io)?;
            }
        }
        out.flush().map_err(io)?;
        Ok(rows)
    }

    /// Loads every record of `inputs` (each a whole object in `format`) into the node's
    /// table, in one transaction: all of them, or none. Answers how many.
    pub async fn import(&self, format: &Format, inputs: Vec<Box<dyn Read + Send>>) -> Result<u64, TableError> {
        let table = self.qualified_table()?;
        let mut chunk = vec![0u8; CHUNK];
        let mut read = move |input: &mut Box<dyn Read + Send>| -> Result<Option<Vec<u8>>, TableError> {
            let count = input
                .read(&mut chunk)
                .map_err(|error| TableError::Io(format!("reading the records to load: {error}")))?;
            Ok((count > 0).then(|| chunk[..count].to_vec()))
        };
        let mut records: Vec<Record> = Vec::new();
        let mut rows = 0u64;
        match self.database.dialect {
            Dialect::Postgres if self.insert_query.is_none() && !self.database.redshift => {
                let mut connection = self.database.connect_postgres().await?;
                let mut transaction = connection
                    .begin()
                    .await
                    .map_err(|error| self.database.connect_error(&error))?;
                if let Some(create) = &self.create_table_sql {
                    let result = transaction.execute(sqlx::raw_sql(create)).await.map(|_| ());
                    self.created(result)?;
                }
                rows = self.copy_in(&mut transaction, format, inputs, 0).await?;
                transaction.commit().await.map_err(|error| TableError::Refused {
                    what: format!("committing the load into {table}"),
                    message: database_message(&error),
                })?;
            }
            dialect => {
                let mut statements = Loader::new(self, &table, dialect).await?;
                for mut input in inputs {
                    let mut parser = format.parser();
                    while let Some(bytes) = read(&mut input)? {
                        parser.feed(&bytes, &mut records)?;
                        rows += records.len() as u64;
                        statements.load(&mut records).await?;
                    }
                    parser.finish(&mut records)?;
                    rows += records.len() as u64;
                    statements.load(&mut records).await?;
                }
                statements.commit().await?;
            }
        }
        Ok(rows)
    }

    /// What running `createTableSql` answered: a table that exists already is kept.
    fn created(&self, result: Result<(), sqlx::Error>) -> Result<(), TableError> {
        match result {
            Ok(()) => Ok(()),
            Err(sqlx::Error::Database(error)) if matches!(error.code().as_deref(), Some("42P07" | "42S01")) => Ok(()),
            Err(error) => Err(TableError::Refused {
                what: format!("createTableSql of {}", self.object_id),
                message: database_message(&error),
            }),
        }
    }
}

/// How a `RedshiftCopyActivity` merges what it loads into its table (`insertMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertMode {
    /// New rows go in; a row whose primary key is in the table already is left out.
    KeepExisting,
    /// Rows whose primary key is in the table replace those rows; the rest go in.
    OverwriteExisting,
    /// The table is emptied first.
    Truncate,
    /// Every row goes in.
    Append,
}

impl InsertMode {
    /// AWS's name for the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeepExisting => "KEEP_EXISTING",
            Self::OverwriteExisting => "OVERWRITE_EXISTING",
            Self::Truncate => "TRUNCATE",
            Self::Append => "APPEND",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_uppercase().as_str() {
            "KEEP_EXISTING" => Some(Self::KeepExisting),
            "OVERWRITE_EXISTING" => Some(Self::OverwriteExisting),
            "TRUNCATE" => Some(Self::Truncate),
            "APPEND" => Some(Self::Append),
            _ => None,
        }
    }
}

/// A load as `RedshiftCopyActivity` makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeLoad {
    pub mode: InsertMode,
    /// `transformSql`: a SELECT over the table `staging`, whose rows are loaded instead.
    pub transform: Option<String>,
    /// Header lines to skip at the start of each object (`IGNOREHEADER`).
    pub skip_records: u64,
}

impl TableNode {
    /// The primary key columns, quoted: the node's `primaryKeys`, or the table's own.
    async fn primary_keys(&self, connection: &mut PgConnection, table: &str) -> Result<Vec<String>, TableError> {
        let named: Vec<String> = self
            .primary_keys_field
            .iter()
            .flat_map(|keys| keys.split(','))
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .map(|key| {
                Name::parse(key, Dialect::Postgres)
                    .map(|name| name.quoted(Dialect::Postgres))
                    .map_err(|problem| TableError::Node {
                        object: self.object_id.clone(),
                        problem: format!("its primaryKeys: {problem}"),
                    })
            })
            .collect::<Result<_, _>>()?;
        if !named.is_empty() {
            return Ok(named);
        }
        let name = self.table_name()?;
        let query = "SELECT kcu.column_name::text FROM information_schema.table_constraints tc \
                     JOIN information_schema.key_column_usage kcu ON tc.constraint_name = kcu.constraint_name \
                     AND tc.table_schema = kcu.table_schema \
                     WHERE tc.constraint_type = 'PRIMARY KEY' AND lower(tc.table_name) = lower($1) \
                     AND ($2::text IS NULL OR lower(tc.table_schema) = lower($2)) ORDER BY kcu.ordinal_position";
        let keys: Vec<String> = sqlx::query_scalar(query)
            .bind(name.last())
            .bind(name.parent())
            .fetch_all(&mut *connection)
            .await
            .map_err(|error| TableError::Refused {
                what: format!("reading the primary key of {table}"),
                message: database_message(&error),
            })?;
        Ok(keys
            .iter()
            .map(|key| Name::exact(key).quoted(Dialect::Postgres))
            .collect())
    }

    /// The table's column names in order, as a load into it would see them: its
    /// `createTableSql` is run first (and rolled back) when the table is not there yet.
    /// PostgreSQL protocol only (Redshift, or PostgreSQL standing in for it).
    pub async fn columns(&self) -> Result<Vec<String>, TableError> {
        if self.database.dialect != Dialect::Postgres {
            return Err(TableError::Node {
                object: self.object_id.clone(),
                problem: "Sluice reads the columns of Redshift (or PostgreSQL) tables; this database speaks MySQL"
                    .to_owned(),
            });
        }
        let name = self.table_name()?;
        let table = name.quoted(Dialect::Postgres);
        let mut connection = self.database.connect_postgres().await?;
        connection
            .execute("BEGIN")
            .await
            .map_err(|error| self.database.connect_error(&error))?;
        if let Some(create) = &self.create_table_sql {
            let result = connection.execute(sqlx::raw_sql(create)).await.map(|_| ());
            self.created(result)?;
        }
        let query = "SELECT column_name::text FROM information_schema.columns WHERE lower(table_name) = lower($1) \
                     AND ($2::text IS NULL OR lower(table_schema) = lower($2)) ORDER BY ordinal_position";
        let columns: Vec<String> = sqlx::query_scalar(query)
            .bind(name.last())
            .bind(name.parent())
            .fetch_all(&mut connection)
            .await
            .map_err(|error| TableError::Refused {
                what: format!("reading the columns of {table}"),
                message: database_message(&error),
            })?;
        // Nothing to keep: the create, if any, happens again inside the load's transaction.
        let _ = connection.execute("ROLLBACK").await;
        if columns.is_empty() {
            return Err(TableError::Node {
                object: self.object_id.clone(),
                problem: format!("the table {table} does not exist: create it, or give the data node createTableSql"),
            });
        }
        Ok(columns)
    }

    /// Loads `inputs` into a staging table, then merges it into the node's table by
    /// `load.mode`, all in one transaction (PostgreSQL protocol: Redshift, or PostgreSQL
    /// standing in for it).
    pub async fn merge(
        &self,
        format: &Format,
        inputs: Vec<Box<dyn Read + Send>>,
        load: &MergeLoad,
    ) -> Result<u64, TableError> {
        if self.database.dialect != Dialect::Postgres {
            return Err(TableError::Node {
                object: self.object_id.clone(),
                problem: "RedshiftCopyActivity loads Redshift (or PostgreSQL) tables; this database speaks MySQL"
                    .to_owned(),
            });
        }
        let table = self.qualified_table()?;
        let refused = |what: &str| {
            let what = what.to_owned();
            move |error: sqlx::Error| TableError::Refused {
                what: what.clone(),
                message: database_message(&error),
            }
        };
        let mut connection = self.database.connect_postgres().await?;
        connection
            .execute("BEGIN")
            .await
            .map_err(|error| self.database.connect_error(&error))?;
        if let Some(create) = &self.create_table_sql {
            let result = connection.execute(sqlx::raw_sql(create)).await.map(|_| ());
            self.created(result)?;
        }
        let keys = match load.mode {
            InsertMode::KeepExisting | InsertMode::OverwriteExisting => {
                let keys = self.primary_keys(&mut connection, &table).await?;
                if keys.is_empty() {
                    return Err(TableError::Node {
                        object: self.object_id.clone(),
                        problem: format!(
                            "insertMode {} matches rows by primary key, and {table} has none: declare one on the \
                             table or give the data node primaryKeys",
                            load.mode.as_str()
                        ),
                    });
                }
                keys
            }
            InsertMode::Truncate | InsertMode::Append => Vec::new(),
        };
        connection
            .execute(sqlx::raw_sql(&format!(
                "CREATE TEMP TABLE staging (LIKE {table}){}",
                // Redshift keeps temporary tables to the end of the session, which ends with the load.
                if self.database.redshift { "" } else { " ON COMMIT DROP" }
            )))
            .await
            .map_err(refused(&format!("making the staging table for {table}")))?;
        let rows = {
            let staging = TableNode {
                object_id: self.object_id.clone(),
                database: self.database.clone(),
                table: Some("staging".to_owned()),
                schema: None,
                select_query: None,
                insert_query: None,
                create_table_sql: None,
                primary_keys_field: None,
            };
            if self.database.redshift {
                staging
                    .insert_in(&mut connection, format, inputs, load.skip_records)
                    .await?
            } else {
                staging
                    .copy_in(&mut connection, format, inputs, load.skip_records)
                    .await?
            }
        };
        let source = match &load.transform {
            Some(transform) => {
                connection
                    .execute(sqlx::raw_sql(&format!(
                        "CREATE TEMP TABLE transformed{} AS {}",
                        if self.database.redshift { "" } else { " ON COMMIT DROP" },
                        transform.trim().trim_end_matches(';')
                    )))
                    .await
                    .map_err(refused("transformSql"))?;
                "transformed"
            }
            None => "staging",
        };
        let matches = keys
            .iter()
            .map(|key| format!("t.{key} = s.{key}"))
            .collect::<Vec<_>>()
            .join(" AND ");
        let statements = match load.mode {
            InsertMode::Truncate => vec![
                format!("DELETE FROM {table}"),
                format!("INSERT INTO {table} SELECT * FROM {source}"),
            ],
            InsertMode::Append => vec![format!("INSERT INTO {table} SELECT * FROM {source}")],
            InsertMode::KeepExisting => vec![format!(
                "INSERT INTO {table} SELECT s.* FROM {source} s WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {matches})"
            )],
            InsertMode::OverwriteExisting => vec![
                format!("DELETE FROM {table} t USING {source} s WHERE {matches}"),
                format!("INSERT INTO {table} SELECT * FROM {source}"),
            ],
        };
        for statement in statements {
            connection
                .execute(sqlx::raw_sql(&statement))
                .await
                .map_err(refused(&format!(
                    "merging into {table} ({})",
                    super::script::excerpt(&statement)
                )))?;
        }
        connection
            .execute("COMMIT")
            .await
            .map_err(refused(&format!("committing the load into {table}")))?;
        Ok(rows)
    }

    /// Streams `inputs` into the node's table with COPY on `connection` (inside the
    /// caller's transaction), skipping `skip` records at the start of each.
    async fn copy_in(
        &self,
        connection: &mut PgConnection,
        format: &Format,
        inputs: Vec<Box<dyn Read + Send>>,
        skip: u64,
    ) -> Result<u64, TableError> {
        let table = self.qualified_table()?;
        let refused = |error: sqlx::Error| TableError::Refused {
            what: format!("loading {table}"),
            message: database_message(&error),
        };
        let mut chunk = vec![0u8; CHUNK];
        let mut copy = connection
            .copy_in_raw(&format!("COPY {table} FROM STDIN WITH (FORMAT csv)"))
            .await
            .map_err(refused)?;
        let csv = Format::Csv { escape: None };
        let mut rows = 0u64;
        let mut buffer = Vec::new();
        let mut records = Vec::new();
        let mut failed = None;
        'inputs: for mut input in inputs {
            let mut parser = format.parser();
            let mut seen = 0u64;
            loop {
                let count = match input.read(&mut chunk) {
                    Ok(count) => count,
                    Err(error) => {
                        failed = Some(TableError::Io(format!("reading the records to load: {error}")));
                        break 'inputs;
                    }
                };
                let parsed = if count > 0 {
                    parser.feed(&chunk[..count], &mut records)
                } else {
                    std::mem::replace(&mut parser, format.parser()).finish(&mut records)
                };
                if let Err(error) = parsed {
                    failed = Some(error.into());
                    break 'inputs;
                }
                for record in records.drain(..) {
                    seen += 1;
                    if seen <= skip {
                        continue;
                    }
                    rows += 1;
                    csv.write(&record, rows, &mut buffer)?;
                }
                if let Err(error) = copy.send(buffer.as_slice()).await {
                    failed = Some(refused(error));
                    break 'inputs;
                }
                buffer.clear();
                if count == 0 {
                    break;
                }
            }
        }
        if let Some(error) = failed {
            let _ = copy.abort("the records could not be read").await;
            return Err(error);
        }
        copy.finish().await.map_err(refused)?;
        Ok(rows)
    }
}

impl TableNode {
    /// Loads `inputs` into the node's table with multi-row INSERTs on `connection` (inside
    /// the caller's transaction), skipping `skip` records at the start of each: for
    /// servers without COPY FROM STDIN (Redshift).
    async fn insert_in(
        &self,
        connection: &mut PgConnection,
        format: &Format,
        inputs: Vec<Box<dyn Read + Send>>,
        skip: u64,
    ) -> Result<u64, TableError> {
        let table = self.qualified_table()?;
        let mut binder = PgBinder::new(self.database.redshift);
        let mut chunk = vec![0u8; CHUNK];
        let mut rows = 0u64;
        let mut records = Vec::new();
        let mut batch: Vec<Record> = Vec::new();
        for mut input in inputs {
            let mut parser = format.parser();
            let mut seen = 0u64;
            loop {
                let count = input
                    .read(&mut chunk)
                    .map_err(|error| TableError::Io(format!("reading the records to load: {error}")))?;
                if count > 0 {
                    parser.feed(&chunk[..count], &mut records)?;
                } else {
                    std::mem::replace(&mut parser, format.parser()).finish(&mut records)?;
                }
                for record in records.drain(..) {
                    seen += 1;
                    if seen > skip {
                        batch.push(record);
                    }
                }
                while batch.len() >= ROWS_PER_INSERT || (count == 0 && !batch.is_empty()) {
                    let refused = |message: String| TableError::Refused {
                        what: format!("loading record {} into {table}", rows + 1),
                        message,
                    };
                    let take = batch_len(&batch, ROWS_PER_INSERT).map_err(refused)?;
                    let take: Vec<Record> = batch.drain(..take).collect();
                    let first = rows + 1;
                    let last = rows + take.len() as u64;
                    binder
                        .execute(connection, &insert_values(&table, &take), &values_of(&take))
                        .await
                        .map_err(|error| TableError::Refused {
                            what: format!("loading records {first} to {last} into {table}"),
                            message: database_message(&error),
                        })?;
                    rows = last;
                }
                if count == 0 {
                    break;
                }
            }
        }
        Ok(rows)
    }
}

/// `INSERT INTO table VALUES (?, ?), (?, ?)` for a batch: every value a placeholder,
/// NULL too (bound as NULL), so batches of one shape share one statement.
fn insert_values(table: &str, batch: &[Record]) -> Statement {
    let mut text = format!("INSERT INTO {table} VALUES ");
    let mut placeholders = Vec::new();
    for (index, record) in batch.iter().enumerate() {
        if index > 0 {
            text.push_str(", ");
        }
        text.push('(');
        for column in 0..record.len() {
            if column > 0 {
                text.push_str(", ");
            }
            placeholders.push(text.len());
            text.push('?');
        }
        text.push(')');
    }
    Statement { text, placeholders }
}

/// The values of a batch in placeholder order, NULL as `None`.
fn values_of(batch: &[Record]) -> Vec<Option<&str>> {
    batch.iter().flatten().map(Option::as_deref).collect()
}

/// Appends `record` to `buffer` in `format`, flushing the buffer to `out` once it holds a
/// chunk's worth.
fn write_record(
    format: &Format,
    record: &[Option<String>],
    number: u64,
    buffer: &mut Vec<u8>,
    out: &mut impl Write,
    io: impl Fn(std::io::Error) -> TableError,
) -> Result<(), TableError> {
    format.write(record, number, buffer)?;
    if buffer.len() >= CHUNK {
        out.write_all(buffer).map_err(io)?;
        buffer.clear();
    }
    Ok(())
}

/// Loads records with INSERT statements inside one transaction: `insertQuery` once per
/// record, or multi-row INSERTs into the table, every value bound.
struct Loader<'n> {
    node: &'n TableNode,
    table: String,
    /// The node's `insertQuery`, split out once.
    insert: Option<Statement>,
    connection: LoaderConnection,
    loaded: u64,
}

enum LoaderConnection {
    Postgres(PgConnection, PgBinder),
    MySql(MySqlConnection),
}

impl<'n> Loader<'n> {
    async fn new(node: &'n TableNode, table: &str, dialect: Dialect) -> Result<Self, TableError> {
        let insert = match &node.insert_query {
            Some(insert) => Some(
                super::script::split(insert, dialect)
                    .into_iter()
                    .next()
                    .ok_or_else(|| TableError::Node {
                        object: node.object_id.clone(),
                        problem: "its insertQuery is empty".to_owned(),
                    })?,
            ),
            None => None,
        };
        let begin = |error: sqlx::Error| node.database.connect_error(&error);
        let connection = match dialect {
            Dialect::Postgres => {
                let mut connection = node.database.connect_postgres().await?;
                connection.execute("BEGIN").await.map_err(begin)?;
                if let Some(create) = &node.create_table_sql {
                    let result = connection.execute(sqlx::raw_sql(create)).await.map(|_| ());
                    node.created(result)?;
                }
                LoaderConnection::Postgres(connection, PgBinder::new(node.database.redshift))
            }
            Dialect::MySql => {
                let mut connection = node.database.connect_mysql().await?;
                if let Some(create) = &node.create_table_sql {
                    let result = connection.execute(sqlx::raw_sql(create)).await.map(|_| ());
                    node.created(result)?;
                }
                connection.execute("START TRANSACTION").await.map_err(begin)?;
                LoaderConnection::MySql(connection)
            }
        };
        Ok(Self {
            node,
            table: table.to_owned(),
            insert,
            connection,
            loaded: 0,
        })
    }

    async fn load(&mut self, records: &mut Vec<Record>) -> Result<(), TableError> {
        while !records.is_empty() {
            let first = self.loaded + 1;
            let refused = |message: String| TableError::Refused {
                what: format!("loading record {first} into {}", self.table),
                message,
            };
            let count = match &self.insert {
                Some(_) => 1,
                None => batch_len(records, ROWS_PER_INSERT).map_err(refused)?,
            };
            let batch: Vec<Record> = records.drain(..count).collect();
            let generated;
            let statement = match &self.insert {
                Some(insert) => {
                    let fields = batch.first().map_or(0, Vec::len);
                    if fields != insert.placeholders.len() {
                        return Err(refused(format!(
                            "the record has {fields} field(s) and the insertQuery of {} has {} ? placeholder(s)",
                            self.node.object_id,
                            insert.placeholders.len()
                        )));
                    }
                    insert
                }
                None => {
                    generated = insert_values(&self.table, &batch);
                    &generated
                }
            };
            let values = values_of(&batch);
            let result = match &mut self.connection {
                LoaderConnection::MySql(connection) => execute_mysql(connection, statement, &values).await,
                LoaderConnection::Postgres(connection, binder) => binder.execute(connection, statement, &values).await,
            };
            if let Err(error) = result {
                let last = self.loaded + batch.len() as u64;
                let rows = if first == last {
                    format!("record {first}")
                } else {
                    format!("records {first} to {last}")
                };
                return Err(TableError::Refused {
                    what: format!("loading {rows} into {}", self.table),
                    message: database_message(&error),
                });
            }
            self.loaded += batch.len() as u64;
        }
        Ok(())
    }

    async fn commit(self) -> Result<(), TableError> {
        let result = match self.connection {
            LoaderConnection::Postgres(mut connection, _) => connection.execute("COMMIT").await.map(|_| ()),
            LoaderConnection::MySql(mut connection) => connection.execute("COMMIT").await.map(|_| ()),
        };
        result.map_err(|error| TableError::Refused {
            what: format!("committing the load into {}", self.table),
            message: database_message(&error),
        })
    }
}

/// The server's own words for an error (with PostgreSQL's position in the data).
fn database_message(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(database) => {
            let mut message = database.message().to_owned();
            if let Some(postgres) = database.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                && let Some(place) = postgres.r#where()
            {
                message.push_str(&format!(" ({place})"));
            }
            message
        }
        other => other.to_string(),
    }
}
