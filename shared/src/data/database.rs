//! The databases of a definition (`JdbcDatabase`, `RedshiftDatabase`; reference §2.7) as
//! connections: the JDBC connection string read for its server, port, database and TLS
//! settings, `*password` kept out of every message, and a script run statement by
//! statement inside one transaction, its failure naming the statement.

use std::fmt;

use sqlx::{
    Connection, Executor,
    mysql::{MySqlConnectOptions, MySqlConnection, MySqlSslMode},
    postgres::{PgConnectOptions, PgConnection, PgSslMode},
};
use thiserror::Error;

use super::{
    bind::{PgBinder, execute_mysql},
    script::{Dialect, Statement, excerpt},
};
use crate::runner::redact::Secrets;

/// Whether the connection must be encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// Encrypted when the server offers it.
    Prefer,
    /// Encrypted, or no connection.
    Require,
    /// Encrypted, with the server's certificate checked against its name.
    VerifyFull,
    Disable,
}

/// Where a database is and who connects: never printed with its password.
#[derive(Clone, PartialEq, Eq)]
pub struct Database {
    /// The object that defined it, for messages.
    pub object_id: String,
    pub dialect: Dialect,
    /// A `jdbc:redshift://` connection: PostgreSQL's protocol without its COPY FROM STDIN
    /// and COPY TO STDOUT, so loads go by INSERT and exports by query.
    pub redshift: bool,
    pub host: String,
    pub port: u16,
    pub database: Option<String>,
    pub username: Option<String>,
    password: Option<String>,
    pub tls: Tls,
}

impl fmt::Debug for Database {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Database")
            .field("object_id", &self.object_id)
            .field("dialect", &self.dialect)
            .field("redshift", &self.redshift)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "(set)"))
            .field("tls", &self.tls)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SqlError {
    /// The definition does not say how to reach the database: fix it, then rerun.
    #[error("database \"{object}\": {problem}")]
    Definition { object: String, problem: String },
    /// No connection: the server is down or unreachable, or refused the login.
    #[error("database \"{object}\" at {host}:{port}: cannot connect: {message}")]
    Connect {
        object: String,
        host: String,
        port: u16,
        message: String,
    },
    /// A statement of the script failed; nothing of the script was kept.
    #[error(
        "statement {number} of {count} failed, and the script's transaction was rolled back: {message} (in: {statement})"
    )]
    Statement {
        number: usize,
        count: usize,
        statement: String,
        message: String,
    },
    /// The script has more `?` than the activity has `scriptArgument`s.
    #[error("the script has {placeholders} ? placeholders but the activity gives {arguments} scriptArgument(s)")]
    Arguments { placeholders: usize, arguments: usize },
}

impl SqlError {
    /// Whether running the script again later can help: an unreachable server can come
    /// back; a wrong definition, login or statement stays wrong.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Connect { message, .. } if !message.contains("password") && !message.contains("Access denied"))
    }
}

/// A `key=value` list (`?a=1&b=2`, `;a=1`, or `jdbcProperties` values).
fn properties<'t>(text: impl IntoIterator<Item = &'t str>) -> Vec<(String, String)> {
    text.into_iter()
        .flat_map(|part| part.split(['&', ';']))
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        .collect()
}

fn tls_of(properties: &[(String, String)]) -> Tls {
    let mut tls = Tls::Prefer;
    for (key, value) in properties {
        let value = value.to_ascii_lowercase();
        tls = match (key.to_ascii_lowercase().as_str(), value.as_str()) {
            ("ssl" | "usessl" | "requiressl", "true") => Tls::Require,
            ("ssl" | "usessl", "false") => Tls::Disable,
            ("sslmode" | "ssl-mode", "require" | "required") => Tls::Require,
            ("sslmode" | "ssl-mode", "verify-full" | "verify-ca" | "verify_identity" | "verify_ca") => Tls::VerifyFull,
            ("sslmode" | "ssl-mode", "disable" | "disabled") => Tls::Disable,
            _ => tls,
        };
    }
    tls
}

/// A database a definition names by its AWS id instead of a connection string:
/// `RdsDatabase.rdsInstanceId`, or `RedshiftDatabase.clusterId` (each with its `region`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseLookup {
    RdsInstance { id: String, region: Option<String> },
    RedshiftCluster { id: String, region: Option<String> },
}

impl DatabaseLookup {
    /// What an object's fields ask to look up; `None` when they give a connectionString.
    pub fn of_fields(field: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let given = |key: &str| {
            field(key)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        if given("connectionString").is_some() {
            return None;
        }
        let region = given("region");
        match given("type").as_deref() {
            Some("RdsDatabase") => given("rdsInstanceId").map(|id| Self::RdsInstance { id, region }),
            Some("RedshiftDatabase") => given("clusterId").map(|id| Self::RedshiftCluster { id, region }),
            _ => None,
        }
    }

    /// The id looked up, for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::RdsInstance { id, .. } => format!("RDS instance {id}"),
            Self::RedshiftCluster { id, .. } => format!("Redshift cluster {id}"),
        }
    }
}

/// Where a looked-up database answers, as a JDBC connection string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `postgresql`, `mysql` or `redshift`.
    pub scheme: &'static str,
    pub host: String,
    pub port: u16,
    /// The database the instance or cluster was created with.
    pub database: Option<String>,
}

impl Endpoint {
    /// The JDBC scheme for an RDS engine name (`postgres`, `aurora-mysql`...), or `None`
    /// for engines Sluice does not speak to (Oracle, SQL Server).
    pub fn scheme_of_engine(engine: &str) -> Option<&'static str> {
        match engine.to_ascii_lowercase().as_str() {
            "postgres" | "aurora-postgresql" => Some("postgresql"),
            "mysql" | "mariadb" | "aurora" | "aurora-mysql" => Some("mysql"),
            _ => None,
        }
    }

    pub fn connection_string(&self) -> String {
        format!(
            "jdbc:{}://{}:{}/{}",
            self.scheme,
            self.host,
            self.port,
            self.database.as_deref().unwrap_or_default()
        )
    }
}

impl Database {
    /// The database an object's evaluated fields describe: `connectionString`
    /// (`jdbc:postgresql://`, `jdbc:redshift://`, `jdbc:mysql://`, `jdbc:mariadb://`),
    /// `databaseName` (over the string's), `username`, `*password`, `jdbcProperties`.
    pub fn from_fields(object_id: &str, field: impl Fn(&str) -> Vec<String>) -> Result<Self, SqlError> {
        let problem = |problem: String| SqlError::Definition {
            object: object_id.to_owned(),
            problem,
        };
        let first = |key: &str| field(key).into_iter().find(|value| !value.trim().is_empty());
        let type_name = first("type").unwrap_or_default();
        let Some(connection) = first("connectionString") else {
            return Err(problem(match type_name.as_str() {
                "RdsDatabase" => "an RdsDatabase needs its rdsInstanceId (or a connectionString)".to_owned(),
                "RedshiftDatabase" => "a RedshiftDatabase needs a clusterId or a connectionString \
                                       (jdbc:redshift://<endpoint>:5439/<db>)"
                    .to_owned(),
                _ => "no connectionString".to_owned(),
            }));
        };
        let rest = connection.trim().strip_prefix("jdbc:").unwrap_or(connection.trim());
        let (scheme, rest) = rest.split_once("://").ok_or_else(|| {
            problem(format!(
                "connectionString \"{connection}\" is not scheme://host[:port]/database"
            ))
        })?;
        let (dialect, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "postgresql" | "postgres" => (Dialect::Postgres, 5432),
            "redshift" => (Dialect::Postgres, 5439),
            "mysql" | "mariadb" => (Dialect::MySql, 3306),
            other => {
                return Err(problem(format!(
                    "connectionString scheme \"{other}\": Sluice speaks to PostgreSQL, Redshift, MySQL and MariaDB"
                )));
            }
        };
        let (address, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (address, path_database) = match address.split_once('/') {
            Some((address, database)) => (address, Some(database.trim_end_matches('/').to_owned())),
            None => (address, None),
        };
        let (host, port) = match address.rsplit_once(':') {
            Some((host, port)) => (
                host.to_owned(),
                port.parse::<u16>()
                    .map_err(|_| problem(format!("connectionString port \"{port}\" is not a port")))?,
            ),
            None => (address.to_owned(), default_port),
        };
        if host.is_empty() {
            return Err(problem(format!("connectionString \"{connection}\" names no host")));
        }
        let mut settings = properties([query]);
        let jdbc_properties = field("jdbcProperties");
        settings.extend(properties(jdbc_properties.iter().map(String::as_str)));
        Ok(Self {
            object_id: object_id.to_owned(),
            dialect,
            redshift: scheme.eq_ignore_ascii_case("redshift"),
            host,
            port,
            database: first("databaseName").or(path_database.filter(|database| !database.is_empty())),
            username: first("username"),
            password: first("*password"),
            tls: tls_of(&settings),
        })
    }

    /// A connection to a PostgreSQL-protocol server.
    pub(crate) async fn connect_postgres(&self) -> Result<PgConnection, SqlError> {
        let mut options = PgConnectOptions::new_without_pgpass()
            .host(&self.host)
            .port(self.port)
            .ssl_mode(match self.tls {
                Tls::Prefer => PgSslMode::Prefer,
                Tls::Require => PgSslMode::Require,
                Tls::VerifyFull => PgSslMode::VerifyFull,
                Tls::Disable => PgSslMode::Disable,
            })
            .application_name("sluice");
        if let Some(username) = &self.username {
            options = options.username(username);
        }
        if let Some(password) = &self.password {
            options = options.password(password);
        }
        if let Some(database) = &self.database {
            options = options.database(database);
        }
        PgConnection::connect_with(&options)
            .await
            .map_err(|error| self.connect_error(&error))
    }

    /// A connection to a MySQL-protocol server.
    pub(crate) async fn connect_mysql(&self) -> Result<MySqlConnection, SqlError> {
        let mut options = MySqlConnectOptions::new()
            .host(&self.host)
            .port(self.port)
            .ssl_mode(match self.tls {
                Tls::Prefer => MySqlSslMode::Preferred,
                Tls::Require => MySqlSslMode::Required,
                Tls::VerifyFull => MySqlSslMode::VerifyIdentity,
                Tls::Disable => MySqlSslMode::Disabled,
            });
        if let Some(username) = &self.username {
            options = options.username(username);
        }
        if let Some(password) = &self.password {
            options = options.password(password);
        }
        if let Some(database) = &self.database {
            options = options.database(database);
        }
        MySqlConnection::connect_with(&options)
            .await
            .map_err(|error| self.connect_error(&error))
    }

    pub(crate) fn connect_error(&self, error: &sqlx::Error) -> SqlError {
        let message = Secrets::new(self.password.as_deref()).redact(&error.to_string());
        SqlError::Connect {
            object: self.object_id.clone(),
            host: self.host.clone(),
            port: self.port,
            message,
        }
    }

    /// Runs `statements` in order inside one transaction, binding `args` to their `?`s in
    /// order; commits only when every statement succeeded. Answers how many ran.
    pub async fn run_script(&self, statements: &[Statement], args: &[String]) -> Result<usize, SqlError> {
        let placeholders: usize = statements.iter().map(|statement| statement.placeholders.len()).sum();
        if placeholders > args.len() {
            return Err(SqlError::Arguments {
                placeholders,
                arguments: args.len(),
            });
        }
        match self.dialect {
            Dialect::Postgres => self.run_postgres(statements, args).await,
            Dialect::MySql => self.run_mysql(statements, args).await,
        }
    }

    async fn run_postgres(&self, statements: &[Statement], args: &[String]) -> Result<usize, SqlError> {
        let mut connection = self.connect_postgres().await?;
        let mut transaction = connection.begin().await.map_err(|error| self.connect_error(&error))?;
        let mut binder = PgBinder::new(self.redshift);
        let mut args = args.iter();
        for (index, statement) in statements.iter().enumerate() {
            let result = if statement.placeholders.is_empty() {
                transaction.execute(sqlx::raw_sql(&statement.text)).await.map(|_| ())
            } else {
                // Each value bound, as untyped as a literal: '42' goes into an integer
                // column as JDBC's setString with stringtype=unspecified sends it.
                let bound: Vec<Option<&str>> = args
                    .by_ref()
                    .take(statement.placeholders.len())
                    .map(|arg| Some(arg.as_str()))
                    .collect();
                binder.execute(&mut transaction, statement, &bound).await.map(|_| ())
            };
            if let Err(error) = result {
                return Err(statement_error(index, statements, &error));
            }
        }
        transaction
            .commit()
            .await
            .map_err(|error| statement_error(statements.len().saturating_sub(1), statements, &error))?;
        Ok(statements.len())
    }

    async fn run_mysql(&self, statements: &[Statement], args: &[String]) -> Result<usize, SqlError> {
        let mut connection = self.connect_mysql().await?;
        let mut transaction = connection.begin().await.map_err(|error| self.connect_error(&error))?;
        let mut args = args.iter();
        for (index, statement) in statements.iter().enumerate() {
            let result = if statement.placeholders.is_empty() {
                transaction.execute(sqlx::raw_sql(&statement.text)).await.map(|_| ())
            } else {
                let bound: Vec<Option<&str>> = args
                    .by_ref()
                    .take(statement.placeholders.len())
                    .map(|arg| Some(arg.as_str()))
                    .collect();
                execute_mysql(&mut transaction, statement, &bound).await.map(|_| ())
            };
            if let Err(error) = result {
                return Err(statement_error(index, statements, &error));
            }
        }
        transaction
            .commit()
            .await
            .map_err(|error| statement_error(statements.len().saturating_sub(1), statements, &error))?;
        Ok(statements.len())
    }
}

fn statement_error(index: usize, statements: &[Statement], error: &sqlx::Error) -> SqlError {
    let message = match error {
        sqlx::Error::Database(database) => database.message().to_owned(),
        other => other.to_string(),
    };
    SqlError::Statement {
        number: index + 1,
        count: statements.len(),
        statement: statements
            .get(index)
            .map(|statement| excerpt(&statement.text))
            .unwrap_or_default(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(fields: &[(&str, &str)]) -> Result<Database, SqlError> {
        Database::from_fields("Db", |key| {
            fields
                .iter()
                .filter(|(name, _)| *name == key)
                .map(|(_, value)| (*value).to_owned())
                .collect()
        })
    }

    #[test]
    fn jdbc_connection_strings_give_server_port_database_and_tls() {
        let postgres = database(&[
            ("type", "JdbcDatabase"),
            (
                "connectionString",
                "jdbc:postgresql://db.example:6543/sales?sslmode=require",
            ),
            ("username", "etl"),
            ("*password", "hunter2"),
        ])
        .unwrap();
        assert_eq!(
            (postgres.dialect, postgres.host.as_str(), postgres.port),
            (Dialect::Postgres, "db.example", 6543)
        );
        assert_eq!(postgres.database.as_deref(), Some("sales"));
        assert_eq!(postgres.tls, Tls::Require);
        assert!(!format!("{postgres:?}").contains("hunter2"));
        let redshift = database(&[
            ("type", "RedshiftDatabase"),
            (
                "connectionString",
                "jdbc:redshift://c.abc.us-east-1.redshift.amazonaws.com/dev",
            ),
            ("databaseName", "analytics"),
        ])
        .unwrap();
        assert_eq!((redshift.port, redshift.database.as_deref()), (5439, Some("analytics")));
        let mysql = database(&[
            ("connectionString", "jdbc:mysql://127.0.0.1/shop"),
            ("jdbcProperties", "useSSL=true"),
        ])
        .unwrap();
        assert_eq!(
            (mysql.dialect, mysql.port, mysql.tls),
            (Dialect::MySql, 3306, Tls::Require)
        );
    }

    #[test]
    fn a_database_that_cannot_be_reached_as_written_says_why() {
        for (fields, says) in [
            (vec![("type", "RdsDatabase")], "needs its rdsInstanceId"),
            (
                vec![("type", "RedshiftDatabase")],
                "needs a clusterId or a connectionString",
            ),
            (vec![("connectionString", "jdbc:oracle://h/db")], "scheme \"oracle\""),
            (vec![("connectionString", "h:5432/db")], "not scheme://"),
            (vec![("connectionString", "jdbc:mysql://h:port/db")], "port \"port\""),
            (vec![("connectionString", "jdbc:mysql:///db")], "names no host"),
        ] {
            let error = database(&fields).unwrap_err().to_string();
            assert!(error.contains(says), "{error}");
        }
    }

    #[test]
    fn databases_named_by_aws_id_are_looked_up_and_become_connection_strings() {
        let fields = |pairs: &'static [(&'static str, &'static str)]| {
            move |key: &str| {
                pairs
                    .iter()
                    .find(|(name, _)| *name == key)
                    .map(|(_, value)| (*value).to_owned())
            }
        };
        assert_eq!(
            DatabaseLookup::of_fields(fields(&[
                ("type", "RdsDatabase"),
                ("rdsInstanceId", "orders"),
                ("region", "eu-west-1")
            ])),
            Some(DatabaseLookup::RdsInstance {
                id: "orders".to_owned(),
                region: Some("eu-west-1".to_owned())
            })
        );
        assert_eq!(
            DatabaseLookup::of_fields(fields(&[("type", "RedshiftDatabase"), ("clusterId", "dw")])),
            Some(DatabaseLookup::RedshiftCluster {
                id: "dw".to_owned(),
                region: None
            })
        );
        // A connection string wins: nothing to look up
        let given = &[
            ("type", "RedshiftDatabase"),
            ("clusterId", "dw"),
            ("connectionString", "jdbc:redshift://h:5439/d"),
        ];
        assert_eq!(DatabaseLookup::of_fields(fields(given)), None);
        assert_eq!(Endpoint::scheme_of_engine("aurora-postgresql"), Some("postgresql"));
        assert_eq!(Endpoint::scheme_of_engine("mariadb"), Some("mysql"));
        assert_eq!(Endpoint::scheme_of_engine("oracle-ee"), None);
        let endpoint = Endpoint {
            scheme: "redshift",
            host: "dw.abc.us-east-1.redshift.amazonaws.com".to_owned(),
            port: 5439,
            database: Some("dev".to_owned()),
        };
        let database = Database::from_fields("Dw", |key| match key {
            "connectionString" => vec![endpoint.connection_string()],
            _ => Vec::new(),
        })
        .unwrap();
        assert_eq!(
            (database.host.as_str(), database.port, database.database.as_deref()),
            ("dw.abc.us-east-1.redshift.amazonaws.com", 5439, Some("dev"))
        );
    }
}
