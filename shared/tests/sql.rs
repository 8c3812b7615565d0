//! `SqlActivity` against the real PostgreSQL and MariaDB servers on this machine's
//! loopback (`SLUICE_TEST_POSTGRES`, `SLUICE_TEST_MYSQL` name others), with a script from
//! S3 on moto's server.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};

use sluice::runner::{
    AwsStorage, ObjectFields, Task, TaskKind, TaskStatus,
    sql::{SQL_FAILED, sql_activity},
    storage::NoStorage,
};
use sqlx::{Connection, Executor, MySqlConnection, PgConnection, Row};
use support::moto::Moto;

fn postgres_url() -> String {
    std::env::var("SLUICE_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn mysql_url() -> String {
    std::env::var("SLUICE_TEST_MYSQL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned())
}

/// The `JdbcDatabase` fields that reach the same server as `url`.
fn database_fields(url: &str) -> Vec<(String, String)> {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (user, address) = rest.split_once('@').unwrap();
    let scheme = if scheme == "postgres" { "postgresql" } else { scheme };
    vec![
        ("type".to_owned(), "JdbcDatabase".to_owned()),
        ("connectionString".to_owned(), format!("jdbc:{scheme}://{address}")),
        ("username".to_owned(), user.to_owned()),
    ]
}

/// A table name no other test uses.
fn table(name: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "sluice_{name}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn task(database: Vec<(String, String)>, fields: &[(&str, &str)]) -> Task {
    let mut object = vec![
        ("type".to_owned(), "SqlActivity".to_owned()),
        ("database".to_owned(), "Db".to_owned()),
    ];
    object.extend(
        fields
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned())),
    );
    Task {
        task_id: "task-1".to_owned(),
        pipeline_id: "df-sql".to_owned(),
        attempt_id: "@Load_2026-03-01T00:00:00_Attempt=1".to_owned(),
        object_id: "Load".to_owned(),
        kind: TaskKind::Activity,
        type_name: "SqlActivity".to_owned(),
        object: ObjectFields {
            id: "Load".to_owned(),
            fields: object,
        },
        referenced: vec![ObjectFields {
            id: "Db".to_owned(),
            fields: database,
        }],
    }
}

/// A folder of its own for one run's fetched script.
fn work_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(table("work"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn run(task: &Task) -> sluice::runner::TaskOutcome {
    let work = work_dir();
    let outcome = sql_activity(&NoStorage, task, &work).await;
    let _ = std::fs::remove_dir_all(&work);
    outcome
}

async fn postgres() -> PgConnection {
    PgConnection::connect(&postgres_url())
        .await
        .unwrap_or_else(|error| panic!("PostgreSQL at {} (set SLUICE_TEST_POSTGRES): {error}", postgres_url()))
}

async fn mysql() -> MySqlConnection {
    MySqlConnection::connect(&mysql_url())
        .await
        .unwrap_or_else(|error| panic!("MariaDB at {} (set SLUICE_TEST_MYSQL): {error}", mysql_url()))
}

#[tokio::test]
async fn a_script_runs_statement_by_statement_with_its_arguments_on_postgres() {
    let table = table("orders");
    let script = format!(
        "CREATE TABLE {table} (id integer PRIMARY KEY, region text, amount numeric);\n\
         -- the day's orders; a semicolon in a string: 'a;b'\n\
         INSERT INTO {table} VALUES (1, 'north;east', 10.5), (2, ?, ?);\n\
         UPDATE {table} SET amount = amount * ? WHERE region = 'north;east';\n\
         CREATE FUNCTION {table}_total() RETURNS numeric AS $$ SELECT sum(amount) FROM {table}; $$ LANGUAGE sql;"
    );
    let outcome = run(&task(
        database_fields(&postgres_url()),
        &[
            ("script", &script),
            ("scriptArgument", "o'hare"),
            ("scriptArgument", "4"),
            ("scriptArgument", "2"),
        ],
    ))
    .await;
    assert_eq!(outcome.status, TaskStatus::Finished, "{outcome:?}");
    let mut db = postgres().await;
    let rows = sqlx::query(&format!("SELECT region, amount::text FROM {table} ORDER BY id"))
        .fetch_all(&mut db)
        .await
        .unwrap();
    let rows: Vec<(String, String)> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    assert_eq!(
        rows,
        [
            ("north;east".to_owned(), "21.0".to_owned()),
            ("o'hare".to_owned(), "4".to_owned())
        ]
    );
    let total: String = sqlx::query(&format!("SELECT {table}_total()::text"))
        .fetch_one(&mut db)
        .await
        .unwrap()
        .get(0);
    assert_eq!(total, "25.0");
    db.execute(sqlx::raw_sql(&format!(
        "DROP FUNCTION {table}_total(); DROP TABLE {table}"
    )))
    .await
    .unwrap();
}

#[tokio::test]
async fn a_script_runs_statement_by_statement_with_its_arguments_on_mariadb() {
    let table = table("orders");
    let script = format!(
        "CREATE TABLE {table} (id int PRIMARY KEY, region varchar(40), amount decimal(10,2)) ENGINE=InnoDB;\n\
         # the day's orders\n\
         INSERT INTO {table} VALUES (1, 'north;east', 10.5), (2, ?, ?);\n\
         UPDATE {table} SET amount = amount * ? WHERE region = 'north;east';"
    );
    let outcome = run(&task(
        database_fields(&mysql_url()),
        &[
            ("script", &script),
            ("scriptArgument", "o'hare \\ ünïcode"),
            ("scriptArgument", "4"),
            ("scriptArgument", "2"),
        ],
    ))
    .await;
    assert_eq!(outcome.status, TaskStatus::Finished, "{outcome:?}");
    let mut db = mysql().await;
    let rows = sqlx::query(&format!("SELECT region, CAST(amount AS CHAR) FROM {table} ORDER BY id"))
        .fetch_all(&mut db)
        .await
        .unwrap();
    let rows: Vec<(String, String)> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    assert_eq!(
        rows,
        [
            ("north;east".to_owned(), "21.00".to_owned()),
            ("o'hare \\ ünïcode".to_owned(), "4.00".to_owned())
        ]
    );
    db.execute(sqlx::raw_sql(&format!("DROP TABLE {table}"))).await.unwrap();
}

#[tokio::test]
async fn a_failing_statement_is_named_and_the_scripts_writes_are_rolled_back() {
    for (url, create) in [
        (postgres_url(), "CREATE TABLE {t} (id integer PRIMARY KEY)"),
        (mysql_url(), "CREATE TABLE {t} (id int PRIMARY KEY) ENGINE=InnoDB"),
    ] {
        let table = table("kept");
        let on_postgres = url.starts_with("postgres");
        let setup = create.replace("{t}", &table);
        if on_postgres {
            postgres().await.execute(sqlx::raw_sql(&setup)).await.unwrap();
        } else {
            mysql().await.execute(sqlx::raw_sql(&setup)).await.unwrap();
        }
        let script = format!(
            "INSERT INTO {table} VALUES (1);\nINSERT INTO {table}_missing VALUES (2);\nINSERT INTO {table} VALUES (3);"
        );
        let outcome = run(&task(database_fields(&url), &[("script", &script)])).await;
        assert_eq!(outcome.status, TaskStatus::Failed, "{outcome:?}");
        assert_eq!(outcome.error_id.as_deref(), Some(SQL_FAILED));
        let message = outcome.error_message.unwrap_or_default();
        assert!(message.contains("statement 2 of 3"), "{message}");
        assert!(
            message.contains(&format!("INSERT INTO {table}_missing VALUES (2)")),
            "{message}"
        );
        assert!(message.contains("rolled back"), "{message}");
        // Nothing of the script was kept: the first insert is gone with the transaction
        let count_sql = format!("SELECT COUNT(*) FROM {table}");
        let count: i64 = if on_postgres {
            let mut db = postgres().await;
            let count = sqlx::query(&count_sql).fetch_one(&mut db).await.unwrap().get(0);
            db.execute(sqlx::raw_sql(&format!("DROP TABLE {table}"))).await.unwrap();
            count
        } else {
            let mut db = mysql().await;
            let count = sqlx::query(&count_sql).fetch_one(&mut db).await.unwrap().get(0);
            db.execute(sqlx::raw_sql(&format!("DROP TABLE {table}"))).await.unwrap();
            count
        };
        assert_eq!(count, 0, "{url}");
    }
}

#[tokio::test]
async fn a_wrong_password_fails_without_the_password_in_the_message() {
    // Given a MariaDB user with a password (PostgreSQL here trusts loopback logins)
    let user = table("user");
    let mut root = mysql().await;
    root.execute(sqlx::raw_sql(&format!(
        "CREATE USER '{user}'@'%' IDENTIFIED BY 's3cret-Pa55'; CREATE USER '{user}'@'localhost' IDENTIFIED BY \
         's3cret-Pa55'; GRANT ALL ON test.* TO '{user}'@'%'; GRANT ALL ON test.* TO '{user}'@'localhost'"
    )))
    .await
    .unwrap();
    let mut fields = database_fields(&mysql_url());
    fields.retain(|(key, _)| key != "username");
    fields.push(("username".to_owned(), user.clone()));
    let with_password = |password: &str| {
        let mut fields = fields.clone();
        fields.push(("*password".to_owned(), password.to_owned()));
        fields
    };
    // When the activity gives a wrong one, it fails saying the login was refused, and never
    // what the password was
    let outcome = run(&task(with_password("wrong-Pa55-guess"), &[("script", "SELECT 1")])).await;
    assert_eq!(outcome.status, TaskStatus::Failed);
    let message = outcome.error_message.unwrap_or_default();
    assert!(message.contains("Access denied"), "{message}");
    assert!(message.contains("cannot connect"), "{message}");
    assert!(
        !message.contains("wrong-Pa55-guess") && !message.contains("s3cret"),
        "{message}"
    );
    // And with the right one, the script runs
    let outcome = run(&task(with_password("s3cret-Pa55"), &[("script", "SELECT 1")])).await;
    assert_eq!(outcome.status, TaskStatus::Finished, "{outcome:?}");
    root.execute(sqlx::raw_sql(&format!(
        "DROP USER '{user}'@'%'; DROP USER '{user}'@'localhost'"
    )))
    .await
    .unwrap();
}

#[tokio::test]
async fn a_script_with_more_placeholders_than_arguments_or_no_database_fails_saying_so() {
    let outcome = run(&task(
        database_fields(&postgres_url()),
        &[("script", "SELECT ?, ?"), ("scriptArgument", "1")],
    ))
    .await;
    assert_eq!(outcome.status, TaskStatus::Failed);
    let message = outcome.error_message.unwrap_or_default();
    assert!(
        message.contains("2 ? placeholders but the activity gives 1"),
        "{message}"
    );
    let mut unreachable = database_fields(&postgres_url());
    unreachable.retain(|(key, _)| key != "connectionString");
    unreachable.push((
        "connectionString".to_owned(),
        "jdbc:postgresql://127.0.0.1:1/test".to_owned(),
    ));
    let outcome = run(&task(unreachable, &[("script", "SELECT 1")])).await;
    let message = outcome.error_message.unwrap_or_default();
    assert!(message.contains("\"Db\" at 127.0.0.1:1: cannot connect"), "{message}");
    let outcome = run(&task(Vec::new(), &[("script", "SELECT 1")])).await;
    let message = outcome.error_message.unwrap_or_default();
    assert!(message.contains("no connectionString"), "{message}");
}

#[tokio::test]
async fn a_script_from_s3_runs_as_written() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket().bucket("scripts").send().await.unwrap();
    let table = table("from_s3");
    s3.put_object()
        .bucket("scripts")
        .key("load.sql")
        .body(
            format!("CREATE TABLE {table} (note text); INSERT INTO {table} VALUES ('#{{not evaluated}}'), (?);")
                .into_bytes()
                .into(),
        )
        .send()
        .await
        .unwrap();
    let storage = AwsStorage::new(&config);
    let work = work_dir();
    let task = task(
        database_fields(&postgres_url()),
        &[("scriptUri", "s3://scripts/load.sql"), ("scriptArgument", "given")],
    );
    let outcome = sql_activity(&storage, &task, &work).await;
    let _ = std::fs::remove_dir_all(&work);
    assert_eq!(outcome.status, TaskStatus::Finished, "{outcome:?}");
    let mut db = postgres().await;
    let notes: Vec<String> = sqlx::query(&format!("SELECT note FROM {table} ORDER BY note"))
        .fetch_all(&mut db)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(notes, ["#{not evaluated}", "given"]);
    db.execute(sqlx::raw_sql(&format!("DROP TABLE {table}"))).await.unwrap();
}

/// An `RdsDatabase` named by `rdsInstanceId` and a `RedshiftDatabase` by `clusterId` are
/// found through RDS's and Redshift's APIs (moto's here), and the activity connects to the
/// endpoint they report; what cannot be found or spoken to is named.
#[tokio::test]
async fn databases_named_by_instance_or_cluster_id_are_looked_up_and_connected_to() {
    use sluice::{data::database::DatabaseLookup, runner::Storage};
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let rds = aws_sdk_rds::Client::new(&config);
    rds.create_db_instance()
        .db_instance_identifier("orders-db")
        .engine("postgres")
        .db_instance_class("db.t3.micro")
        .db_name("orders")
        .master_username("admin")
        .master_user_password("never-shown")
        .allocated_storage(20)
        .send()
        .await
        .unwrap();
    rds.create_db_instance()
        .db_instance_identifier("legacy-db")
        .engine("oracle-ee")
        .db_instance_class("db.t3.micro")
        .master_username("admin")
        .master_user_password("never-shown")
        .allocated_storage(20)
        .send()
        .await
        .unwrap();
    let redshift = aws_sdk_redshift::Client::new(&config);
    redshift
        .create_cluster()
        .cluster_identifier("warehouse")
        .node_type("dc2.large")
        .master_username("admin")
        .master_user_password("Never-shown1")
        .db_name("dev")
        .send()
        .await
        .unwrap();
    let storage = AwsStorage::new(&config);
    // The endpoints are the ones the services report
    let described = rds
        .describe_db_instances()
        .db_instance_identifier("orders-db")
        .send()
        .await
        .unwrap();
    let address = described.db_instances()[0]
        .endpoint()
        .unwrap()
        .address()
        .unwrap()
        .to_owned();
    let lookup = |id: &str| DatabaseLookup::RdsInstance {
        id: id.to_owned(),
        region: None,
    };
    let endpoint = storage.database_endpoint(&lookup("orders-db")).await.unwrap();
    assert_eq!(
        (endpoint.scheme, endpoint.host.as_str(), endpoint.database.as_deref()),
        ("postgresql", address.as_str(), Some("orders"))
    );
    let cluster = storage
        .database_endpoint(&DatabaseLookup::RedshiftCluster {
            id: "warehouse".to_owned(),
            region: None,
        })
        .await
        .unwrap();
    assert_eq!(
        (cluster.scheme, cluster.port, cluster.database.as_deref()),
        ("redshift", 5439, Some("dev"))
    );
    assert!(cluster.host.starts_with("warehouse."), "{cluster:?}");
    // An SqlActivity on the RdsDatabase connects to that endpoint (which moto only names,
    // so the connection is refused there, and says where it went)
    let work = work_dir();
    let rds_database = vec![
        ("type".to_owned(), "RdsDatabase".to_owned()),
        ("rdsInstanceId".to_owned(), "orders-db".to_owned()),
        ("username".to_owned(), "admin".to_owned()),
        ("*password".to_owned(), "never-shown".to_owned()),
    ];
    let outcome = sql_activity(&storage, &task(rds_database, &[("script", "SELECT 1")]), &work).await;
    let message = outcome.error_message.unwrap_or_default();
    assert!(message.contains(&format!("at {address}:")), "{message}");
    assert!(!message.contains("never-shown"), "{message}");
    // An instance that is not there, and one whose engine Sluice does not speak, are named
    for (id, says) in [
        ("missing-db", "RDS instance missing-db"),
        ("legacy-db", "it runs oracle-ee"),
    ] {
        let database = vec![
            ("type".to_owned(), "RdsDatabase".to_owned()),
            ("rdsInstanceId".to_owned(), id.to_owned()),
        ];
        let outcome = sql_activity(&storage, &task(database, &[("script", "SELECT 1")]), &work).await;
        assert_eq!(outcome.status, TaskStatus::Failed);
        let message = outcome.error_message.unwrap_or_default();
        assert!(message.contains(says), "{message}");
    }
    let _ = std::fs::remove_dir_all(&work);
}
