//! `CopyActivity` between S3 (moto's server) and the real PostgreSQL and MariaDB servers on
//! this machine's loopback: a table out to CSV and TSV, CSV objects loaded into a table,
//! and bad data that loads nothing and names the record.

mod support;

use sluice::runner::{ObjectFields, Task, TaskOutcome, TaskStatus};
use sqlx::{Connection, Executor, MySqlConnection, PgConnection, Row};
use support::data::{S3, copy_task, database, mysql_url, object, postgres_url, run, s3, unique};

/// Runs SQL on the server of `url`.
async fn sql(url: &str, statements: &str) {
    if url.starts_with("postgres") {
        let mut db = PgConnection::connect(url).await.unwrap();
        db.execute(sqlx::raw_sql(statements)).await.unwrap();
    } else {
        let mut db = MySqlConnection::connect(url).await.unwrap();
        db.execute(sqlx::raw_sql(statements)).await.unwrap();
    }
}

/// Every row of `table` as text, in id order.
async fn rows(url: &str, table: &str) -> Vec<Vec<Option<String>>> {
    if url.starts_with("postgres") {
        let mut db = PgConnection::connect(url).await.unwrap();
        let query = format!("SELECT id::text, name, note FROM {table} ORDER BY id");
        sqlx::query(&query)
            .fetch_all(&mut db)
            .await
            .unwrap()
            .iter()
            .map(|row| (0..3).map(|index| row.get::<Option<String>, _>(index)).collect())
            .collect()
    } else {
        let mut db = MySqlConnection::connect(url).await.unwrap();
        let query = format!("SELECT CAST(id AS CHAR), name, note FROM {table} ORDER BY id");
        sqlx::query(&query)
            .fetch_all(&mut db)
            .await
            .unwrap()
            .iter()
            .map(|row| (0..3).map(|index| row.get::<Option<String>, _>(index)).collect())
            .collect()
    }
}

/// Rows that test the formats' edges: separators, quotes, newlines, NULL, empty, unicode.
const TRICKY: &str =
    "(1, 'plain', 'a,b'), (2, 'say \"hi\"', 'two\nlines'), (3, 'tab\there', NULL), (4, 'ünïcödé ✓', '')";

fn tricky_rows() -> Vec<Vec<Option<String>>> {
    let text = |value: &str| Some(value.to_owned());
    vec![
        vec![text("1"), text("plain"), text("a,b")],
        vec![text("2"), text("say \"hi\""), text("two\nlines")],
        vec![text("3"), text("tab\there"), None],
        vec![text("4"), text("ünïcödé ✓"), text("")],
    ]
}

/// A table of the tricky rows.
async fn fill(url: &str, table: &str) {
    sql(
        url,
        &format!("{}; INSERT INTO {table} VALUES {TRICKY}", create(url, table)),
    )
    .await;
}

/// A `SqlDataNode` on the test database's `table`.
fn sql_node(id: &str, table: &str) -> ObjectFields {
    object(id, &[("type", "SqlDataNode"), ("database", "Db"), ("table", table)])
}

fn create(url: &str, table: &str) -> String {
    if url.starts_with("postgres") {
        format!("CREATE TABLE {table} (id integer PRIMARY KEY, name text, note text)")
    } else {
        format!("CREATE TABLE {table} (id int PRIMARY KEY, name varchar(40), note varchar(40)) ENGINE=InnoDB")
    }
}

#[tokio::test]
async fn a_table_is_exported_to_s3_as_csv_and_as_tsv() {
    let s3 = s3().await;
    for url in [postgres_url(), mysql_url()] {
        let table = unique("export");
        fill(&url, &table).await;
        // To CSV in a folder: the rows in RFC 4180, NULL told from the empty string
        let source = sql_node("Orders", &table);
        let folder = format!("s3://{}/{table}/", s3.bucket);
        let output = object("Out", &[("type", "S3DataNode"), ("directoryPath", &folder)]);
        let outcome = run(&s3, &copy_task(source.clone(), output, vec![database(&url)])).await;
        assert_eq!(outcome.status, TaskStatus::Finished, "{url}: {outcome:?}");
        let csv = s3.get(&format!("{table}/Orders.csv")).await;
        assert_eq!(
            csv, "1,plain,\"a,b\"\n2,\"say \"\"hi\"\"\",\"two\nlines\"\n3,tab\there,\n4,ünïcödé ✓,\"\"\n",
            "{url}"
        );
        // To TSV in a file, from a selectQuery
        let query = object(
            "Picked",
            &[
                ("type", "SqlDataNode"),
                ("database", "Db"),
                ("table", &table),
                (
                    "selectQuery",
                    &format!("SELECT id, note FROM {table} WHERE id >= 2 ORDER BY id"),
                ),
            ],
        );
        let file = format!("s3://{}/{table}/picked.tsv", s3.bucket);
        let output = object(
            "Out",
            &[("type", "S3DataNode"), ("filePath", &file), ("dataFormat", "Tabs")],
        );
        let tabs = object("Tabs", &[("type", "TSV")]);
        let outcome = run(&s3, &copy_task(query, output, vec![database(&url), tabs])).await;
        assert_eq!(outcome.status, TaskStatus::Finished, "{url}: {outcome:?}");
        assert_eq!(
            s3.get(&format!("{table}/picked.tsv")).await,
            "2\ttwo\\nlines\n3\t\\N\n4\t\n",
            "{url}"
        );
        sql(&url, &format!("DROP TABLE {table}")).await;
    }
}

#[tokio::test]
async fn csv_objects_in_s3_are_loaded_into_a_table_in_one_transaction() {
    let s3 = s3().await;
    for url in [postgres_url(), mysql_url()] {
        let table = unique("import");
        sql(&url, &create(&url, &table)).await;
        // Two objects under a folder, the second without a final newline
        s3.put(
            &format!("{table}/part-0.csv"),
            "1,plain,\"a,b\"\n2,\"say \"\"hi\"\"\",\"two\nlines\"\n",
        )
        .await;
        s3.put(&format!("{table}/part-1.csv"), "3,tab\there,\n4,ünïcödé ✓,\"\"")
            .await;
        let input = s3.node("In", "directoryPath", &table, &[]);
        let target = sql_node("Orders", &table);
        let outcome = run(&s3, &copy_task(input, target, vec![database(&url)])).await;
        assert_eq!(outcome.status, TaskStatus::Finished, "{url}: {outcome:?}");
        assert_eq!(rows(&url, &table).await, tricky_rows(), "{url}");
        sql(&url, &format!("DROP TABLE {table}")).await;
    }
}

#[tokio::test]
async fn an_insert_query_and_create_table_sql_load_a_tsv_object() {
    let s3 = s3().await;
    for url in [postgres_url(), mysql_url()] {
        let table = unique("insert");
        s3.put(&format!("{table}/rows.tsv"), "1\tone\t\\N\n2\ttwo\tsecond\n")
            .await;
        let input = s3.node(
            "In",
            "filePath",
            &format!("{table}/rows.tsv"),
            &[("dataFormat", "Tabs")],
        );
        let target = object(
            "Orders",
            &[
                ("type", "MySqlDataNode"),
                ("database", "Db"),
                ("table", &table),
                ("createTableSql", &create(&url, &table)),
                (
                    "insertQuery",
                    &format!("INSERT INTO {table} (id, name, note) VALUES (?, ?, ?)"),
                ),
            ],
        );
        let tabs = object("Tabs", &[("type", "TSV")]);
        let outcome = run(&s3, &copy_task(input, target, vec![database(&url), tabs])).await;
        assert_eq!(outcome.status, TaskStatus::Finished, "{url}: {outcome:?}");
        let loaded = rows(&url, &table).await;
        assert_eq!(loaded.len(), 2, "{url}: {loaded:?}");
        assert_eq!(
            loaded[1],
            [Some("2".to_owned()), Some("two".to_owned()), Some("second".to_owned())]
        );
        sql(&url, &format!("DROP TABLE {table}")).await;
    }
}

#[tokio::test]
async fn bad_data_loads_nothing_names_the_record_and_leaves_the_source() {
    let s3 = s3().await;
    for url in [postgres_url(), mysql_url()] {
        let table = unique("bad");
        sql(
            &url,
            &format!(
                "{}; INSERT INTO {table} VALUES (100, 'kept', NULL)",
                create(&url, &table)
            ),
        )
        .await;
        let input = |key: &str| s3.node("In", "filePath", &format!("{table}/{key}"), &[]);
        let target = sql_node("Orders", &table);
        // A type mismatch in the third record
        let mismatch = "1,a,x\n2,b,y\nthree,c,z\n";
        s3.put(&format!("{table}/mismatch.csv"), mismatch).await;
        let outcome = run(
            &s3,
            &copy_task(input("mismatch.csv"), target.clone(), vec![database(&url)]),
        )
        .await;
        assert_eq!(outcome.status, TaskStatus::Failed, "{url}");
        let message = outcome.error_message.unwrap_or_default();
        assert!(message.contains("nothing was written"), "{url}: {message}");
        assert!(
            message.contains("three") || message.contains("record"),
            "{url}: {message}"
        );
        assert!(!message.contains("never-shown"), "{message}");
        // A quote never closed, in the second record
        s3.put(&format!("{table}/open.csv"), "1,a,x\n2,\"b,y\n").await;
        let outcome = run(&s3, &copy_task(input("open.csv"), target.clone(), vec![database(&url)])).await;
        let message = outcome.error_message.unwrap_or_default();
        assert!(message.contains("record 2"), "{url}: {message}");
        // The table holds what it held, and the sources are untouched
        assert_eq!(
            rows(&url, &table).await,
            [vec![Some("100".to_owned()), Some("kept".to_owned()), None]],
            "{url}"
        );
        assert_eq!(s3.get(&format!("{table}/mismatch.csv")).await, mismatch);
        // A table that does not exist is named
        let missing = object(
            "Gone",
            &[
                ("type", "SqlDataNode"),
                ("database", "Db"),
                ("table", &format!("{table}_gone")),
            ],
        );
        let outcome = run(&s3, &copy_task(input("mismatch.csv"), missing, vec![database(&url)])).await;
        let message = outcome.error_message.unwrap_or_default();
        assert!(message.contains(&format!("{table}_gone")), "{url}: {message}");
        sql(&url, &format!("DROP TABLE {table}")).await;
    }
}

#[tokio::test]
async fn gzip_objects_are_written_and_read() {
    use std::io::{Read, Write};
    let s3 = s3().await;
    for url in [postgres_url(), mysql_url()] {
        let table = unique("gzip");
        fill(&url, &table).await;
        // Out to a gzip object
        let source = sql_node("Orders", &table);
        let folder = format!("s3://{}/{table}/", s3.bucket);
        let output = object(
            "Out",
            &[
                ("type", "S3DataNode"),
                ("directoryPath", &folder),
                ("compression", "gzip"),
            ],
        );
        let outcome = run(&s3, &copy_task(source, output, vec![database(&url)])).await;
        assert_eq!(outcome.status, TaskStatus::Finished, "{url}: {outcome:?}");
        let object_key = format!("{table}/Orders.csv.gz");
        let compressed = s3
            .client
            .get_object()
            .bucket(&s3.bucket)
            .key(&object_key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_string(&mut text)
            .unwrap();
        assert!(text.starts_with("1,plain,\"a,b\"\n"), "{url}: {text}");
        // And back in from a gzip object of two gzip members
        let mut gz = Vec::new();
        for part in ["5,five,\n", "6,six,x\n"] {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(part.as_bytes()).unwrap();
            gz.extend(encoder.finish().unwrap());
        }
        s3.client
            .put_object()
            .bucket(&s3.bucket)
            .key(format!("{table}/more.csv.gz"))
            .body(gz.into())
            .send()
            .await
            .unwrap();
        let input = s3.node(
            "In",
            "filePath",
            &format!("{table}/more.csv.gz"),
            &[("compression", "gzip")],
        );
        let target = sql_node("Orders", &table);
        let outcome = run(&s3, &copy_task(input, target, vec![database(&url)])).await;
        assert_eq!(outcome.status, TaskStatus::Finished, "{url}: {outcome:?}");
        assert_eq!(rows(&url, &table).await.len(), 6, "{url}");
        sql(&url, &format!("DROP TABLE {table}")).await;
    }
}

fn redshift_task(input: ObjectFields, output: ObjectFields, fields: &[(&str, &str)], more: Vec<ObjectFields>) -> Task {
    let mut task = copy_task(input, output, more);
    task.type_name = "RedshiftCopyActivity".to_owned();
    task.object.fields[0].1 = "RedshiftCopyActivity".to_owned();
    task.object.fields.extend(
        fields
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned())),
    );
    task
}

async fn run_redshift(s3: &S3, task: &Task) -> TaskOutcome {
    let work = std::env::temp_dir().join(unique("work"));
    std::fs::create_dir_all(&work).unwrap();
    let outcome = sluice::runner::copy::redshift_copy_activity(&s3.storage, task, &work).await;
    let _ = std::fs::remove_dir_all(&work);
    outcome
}

/// PostgreSQL stands in for Redshift: the same SQL over the same protocol.
#[tokio::test]
async fn redshift_copy_merges_by_every_insert_mode() {
    let s3 = s3().await;
    let url = postgres_url();
    let cases = [
        // (mode, rows after loading ids 2 and 3 into a table holding 1 and 2)
        ("APPEND", None),
        ("TRUNCATE", Some(vec!["2:new", "3:new"])),
        ("KEEP_EXISTING", Some(vec!["1:old", "2:old", "3:new"])),
        ("OVERWRITE_EXISTING", Some(vec!["1:old", "2:new", "3:new"])),
    ];
    for (mode, expected) in cases {
        let table = unique("merge");
        // APPEND into a table without a primary key keeps both 2s
        let key = if mode == "APPEND" { "" } else { " PRIMARY KEY" };
        sql(
            &url,
            &format!(
                "CREATE TABLE {table} (id integer{key}, name text, note text); \
                 INSERT INTO {table} VALUES (1, 'old', NULL), (2, 'old', NULL)"
            ),
        )
        .await;
        s3.put(&format!("{table}/in.tsv"), "2\tnew\t\\N\n3\tnew\t\\N\n").await;
        let input = s3.node("In", "filePath", &format!("{table}/in.tsv"), &[("dataFormat", "Tabs")]);
        let target = object(
            "Dest",
            &[("type", "RedshiftDataNode"), ("database", "Db"), ("tableName", &table)],
        );
        let tabs = object("Tabs", &[("type", "TSV")]);
        let outcome = run_redshift(
            &s3,
            &redshift_task(input, target, &[("insertMode", mode)], vec![database(&url), tabs]),
        )
        .await;
        assert_eq!(outcome.status, TaskStatus::Finished, "{mode}: {outcome:?}");
        let got: Vec<String> = rows(&url, &table)
            .await
            .iter()
            .map(|row| {
                format!(
                    "{}:{}",
                    row[0].clone().unwrap_or_default(),
                    row[1].clone().unwrap_or_default()
                )
            })
            .collect();
        let expected = expected.unwrap_or_else(|| vec!["1:old", "2:new", "2:old", "3:new"]);
        let mut got_sorted = got.clone();
        got_sorted.sort();
        assert_eq!(got_sorted, expected, "{mode}");
        sql(&url, &format!("DROP TABLE {table}")).await;
    }
}

#[tokio::test]
async fn redshift_copy_reads_command_options_transforms_and_refuses_what_it_cannot_do() {
    use std::io::Write;
    let s3 = s3().await;
    let url = postgres_url();
    let table = unique("options");
    sql(
        &url,
        &format!("CREATE TABLE {table} (id integer PRIMARY KEY, name text, note text)"),
    )
    .await;
    // GZIP, CSV, IGNOREHEADER AS 1 (the billing sample's options), and a transformSql
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(b"id,name,note\n1,ann,x\n2,bob,\n").unwrap();
    s3.client
        .put_object()
        .bucket(&s3.bucket)
        .key(format!("{table}/in.csv.gz"))
        .body(encoder.finish().unwrap().into())
        .send()
        .await
        .unwrap();
    let input = s3.node("In", "filePath", &format!("{table}/in.csv.gz"), &[]);
    let target = object(
        "Dest",
        &[
            ("type", "RedshiftDataNode"),
            ("database", "Db"),
            ("tableName", &table),
            ("primaryKeys", "id"),
        ],
    );
    let task = redshift_task(
        input.clone(),
        target.clone(),
        &[
            ("insertMode", "OVERWRITE_EXISTING"),
            ("commandOptions", "GZIP"),
            ("commandOptions", "CSV"),
            ("commandOptions", "IGNOREHEADER AS 1"),
            ("transformSql", "SELECT id, upper(name) AS name, note FROM staging"),
        ],
        vec![database(&url)],
    );
    let outcome = run_redshift(&s3, &task).await;
    assert_eq!(outcome.status, TaskStatus::Finished, "{outcome:?}");
    assert_eq!(
        rows(&url, &table).await,
        [
            vec![Some("1".to_owned()), Some("ANN".to_owned()), Some("x".to_owned())],
            vec![Some("2".to_owned()), Some("BOB".to_owned()), None]
        ]
    );
    // An option the loader does not apply, and a mode that is not one, say so
    for (fields, says) in [
        (
            vec![("insertMode", "APPEND"), ("commandOptions", "MANIFEST")],
            "\"MANIFEST\" is not one",
        ),
        (vec![("insertMode", "UPSERT")], "insertMode \"UPSERT\""),
    ] {
        let task = redshift_task(input.clone(), target.clone(), &fields, vec![database(&url)]);
        let message = run_redshift(&s3, &task).await.error_message.unwrap_or_default();
        assert!(message.contains(says), "{message}");
    }
    // A table with no key cannot be merged by key
    let keyless = unique("keyless");
    sql(
        &url,
        &format!("CREATE TABLE {keyless} (id integer, name text, note text)"),
    )
    .await;
    let target = object(
        "Dest",
        &[
            ("type", "RedshiftDataNode"),
            ("database", "Db"),
            ("tableName", &keyless),
        ],
    );
    let task = redshift_task(
        input,
        target,
        &[
            ("insertMode", "KEEP_EXISTING"),
            ("commandOptions", "GZIP"),
            ("commandOptions", "CSV"),
        ],
        vec![database(&url)],
    );
    let message = run_redshift(&s3, &task).await.error_message.unwrap_or_default();
    assert!(message.contains("has none: declare one"), "{message}");
    sql(&url, &format!("DROP TABLE {table}; DROP TABLE {keyless}")).await;
}

#[tokio::test]
async fn a_manifest_names_the_objects_to_load_and_a_missing_mandatory_one_fails() {
    let s3 = s3().await;
    for url in [postgres_url(), mysql_url()] {
        let table = unique("manifest");
        sql(&url, &create(&url, &table)).await;
        s3.put(&format!("{table}/a.csv"), "1,a,\n").await;
        s3.put(&format!("{table}/b.csv"), "2,b,\n").await;
        s3.put(&format!("{table}/not-listed.csv"), "3,c,\n").await;
        let bucket = &s3.bucket;
        s3.put(
            &format!("{table}/good.manifest"),
            &format!(
                r#"{{"entries": [{{"url": "s3://{bucket}/{table}/a.csv", "mandatory": true}},
                                {{"url": "s3://{bucket}/{table}/b.csv", "mandatory": true}},
                                {{"url": "s3://{bucket}/{table}/gone.csv", "mandatory": false}}]}}"#
            ),
        )
        .await;
        s3.put(
            &format!("{table}/bad.manifest"),
            &format!(r#"{{"entries": [{{"url": "s3://{bucket}/{table}/gone.csv", "mandatory": true}}]}}"#),
        )
        .await;
        let input = |manifest: &str| {
            object(
                "In",
                &[
                    ("type", "S3DataNode"),
                    ("manifestFilePath", &format!("s3://{bucket}/{table}/{manifest}")),
                ],
            )
        };
        // The listed objects load; the unlisted one does not, the optional missing one is skipped
        let outcome = run(
            &s3,
            &copy_task(input("good.manifest"), sql_node("Orders", &table), vec![database(&url)]),
        )
        .await;
        assert_eq!(outcome.status, TaskStatus::Finished, "{url}: {outcome:?}");
        let ids: Vec<Option<String>> = rows(&url, &table).await.into_iter().map(|row| row[0].clone()).collect();
        assert_eq!(ids, [Some("1".to_owned()), Some("2".to_owned())], "{url}");
        // A mandatory object that is missing fails, naming it
        let outcome = run(
            &s3,
            &copy_task(input("bad.manifest"), sql_node("Orders", &table), vec![database(&url)]),
        )
        .await;
        let message = outcome.error_message.unwrap_or_default();
        assert!(
            message.contains("gone.csv, mandatory in its manifest"),
            "{url}: {message}"
        );
        sql(&url, &format!("DROP TABLE {table}")).await;
    }
}

/// The `JdbcDatabase` object for the PostgreSQL test server, reached as Redshift is
/// (`jdbc:redshift://`): Sluice then sends only what Redshift takes over the wire.
fn as_redshift(url: &str) -> ObjectFields {
    let mut database = database(url);
    for (key, value) in &mut database.fields {
        if key == "connectionString" {
            *value = value.replacen("jdbc:postgresql://", "jdbc:redshift://", 1);
        }
    }
    database
}

/// Redshift takes no COPY FROM STDIN or COPY TO STDOUT: over a `jdbc:redshift://`
/// connection a load goes by multi-row INSERTs (shown by a rule, which PostgreSQL applies
/// to INSERT and never to COPY) and an export by a plain query, with the same results.
#[tokio::test]
async fn a_redshift_connection_loads_by_insert_and_exports_by_query() {
    let s3 = s3().await;
    let url = postgres_url();
    let table = unique("redshift_wire");
    let inserts = format!("{table}_inserts");
    sql(
        &url,
        &format!(
            "{}; INSERT INTO {table} VALUES {TRICKY}; CREATE TABLE {inserts} (n integer); \
             CREATE RULE counted AS ON INSERT TO {table} DO ALSO INSERT INTO {inserts} VALUES (1)",
            create(&url, &table)
        ),
    )
    .await;
    // Exported as CSV by a query: the tricky rows, each field as it is
    let exported = s3.node("Out", "filePath", &format!("{table}/out.csv"), &[]);
    let outcome = run(
        &s3,
        &copy_task(sql_node("Orders", &table), exported, vec![as_redshift(&url)]),
    )
    .await;
    assert_eq!(outcome.status, TaskStatus::Finished, "{outcome:?}");
    let csv = s3.get(&format!("{table}/out.csv")).await;
    assert_eq!(
        csv,
        "1,plain,\"a,b\"\n2,\"say \"\"hi\"\"\",\"two\nlines\"\n3,tab\there,\n4,ünïcödé ✓,\"\"\n"
    );
    // Loaded back (ids moved up) by INSERTs: the rule counted them
    let moved = csv
        .replace("1,plain", "11,plain")
        .replace("2,\"say", "12,\"say")
        .replace("3,tab", "13,tab")
        .replace("4,ü", "14,ü");
    s3.put(&format!("{table}/in.csv"), &moved).await;
    let input = s3.node("In", "filePath", &format!("{table}/in.csv"), &[]);
    let outcome = run(
        &s3,
        &copy_task(input.clone(), sql_node("Orders", &table), vec![as_redshift(&url)]),
    )
    .await;
    assert_eq!(outcome.status, TaskStatus::Finished, "{outcome:?}");
    // (rows() orders by id as text: 1, 11, 12, 13, 14, 2, 3, 4)
    let loaded: Vec<_> = rows(&url, &table)
        .await
        .into_iter()
        .filter(|row| row[0].as_deref().is_some_and(|id| id.len() == 2))
        .collect();
    assert_eq!(loaded.len(), 4);
    assert_eq!(
        loaded[..],
        tricky_rows()[..]
            .iter()
            .enumerate()
            .map(|(index, row)| {
                let mut row = row.clone();
                row[0] = Some((11 + index).to_string());
                row
            })
            .collect::<Vec<_>>()[..]
    );
    let mut db = PgConnection::connect(&url).await.unwrap();
    let counted: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {inserts}"))
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(counted, 4, "one rule firing per inserted row: the load used INSERT");
    // And a RedshiftCopyActivity over the same connection merges through its staging table
    let target = object(
        "Dest",
        &[("type", "RedshiftDataNode"), ("database", "Db"), ("tableName", &table)],
    );
    s3.put(&format!("{table}/merge.csv"), "1,merged,\n99,new,x\n").await;
    let merge_input = s3.node(
        "In",
        "filePath",
        &format!("{table}/merge.csv"),
        &[("dataFormat", "Commas")],
    );
    let commas = object("Commas", &[("type", "CSV")]);
    let outcome = run_redshift(
        &s3,
        &redshift_task(
            merge_input,
            target,
            &[("insertMode", "OVERWRITE_EXISTING")],
            vec![as_redshift(&url), commas],
        ),
    )
    .await;
    assert_eq!(outcome.status, TaskStatus::Finished, "{outcome:?}");
    let merged = rows(&url, &table).await;
    assert_eq!(merged.len(), 9);
    assert_eq!(merged[0], [Some("1".to_owned()), Some("merged".to_owned()), None]);
    assert_eq!(
        merged[8],
        [Some("99".to_owned()), Some("new".to_owned()), Some("x".to_owned())]
    );
    sql(&url, &format!("DROP TABLE {table}; DROP TABLE {inserts}")).await;
}

/// A PostgreSQL database of its own whose sessions read a backslash in a string literal
/// as an escape (`standard_conforming_strings = off`, as old servers and some poolers
/// set it): there, a value spliced into SQL text with its quotes doubled still breaks out
/// of them. Answers its URL; [`drop_database`] removes it.
async fn postgres_without_standard_strings() -> String {
    let url = postgres_url();
    let name = unique("nonstandard");
    sql(&url, &format!("CREATE DATABASE {name}")).await;
    sql(
        &url,
        &format!("ALTER DATABASE {name} SET standard_conforming_strings = off"),
    )
    .await;
    let (server, _) = url.rsplit_once('/').unwrap();
    let nonstandard = format!("{server}/{name}");
    let mut db = PgConnection::connect(&nonstandard).await.unwrap();
    let setting: String = sqlx::query_scalar("SHOW standard_conforming_strings")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(setting, "off", "every session on {nonstandard}, Sluice's too");
    nonstandard
}

async fn drop_database(url: &str) {
    let (_, name) = url.rsplit_once('/').unwrap();
    sql(&postgres_url(), &format!("DROP DATABASE {name} WITH (FORCE)")).await;
}

/// Values that break SQL text built by hand: backslashes (one trailing), both quotes,
/// semicolons, statements that drop `table`, placeholders, multibyte text, NULL and the
/// empty string.
fn hostile_rows(table: &str) -> Vec<Vec<Option<String>>> {
    let text = |value: &str| Some(value.to_owned());
    vec![
        vec![text("1"), text(r"a\b"), text(r"trailing\")],
        vec![text("2"), text("it's"), text("say \"hi\"")],
        vec![text("3"), text("a;b; SELECT 1;"), text(r"\N")],
        vec![
            text("4"),
            text(&format!("'); DROP TABLE {table}; --")),
            text(&format!(r"x\'); DROP TABLE {table}; --")),
        ],
        vec![text("5"), text("ünïcödé ✓ 日本 — ½"), None],
        vec![text("6"), text(""), text("$1 ? $$ %s :name")],
        vec![text("7"), text(r"\\'\"), text("two\nlines")],
    ]
}

/// The rows as CSV, every value quoted (so `""` is the empty string) and NULL empty.
fn csv_of(rows: &[Vec<Option<String>>]) -> String {
    rows.iter()
        .map(|row| {
            let fields: Vec<String> = row
                .iter()
                .map(|value| match value {
                    Some(value) => format!("\"{}\"", value.replace('"', "\"\"")),
                    None => String::new(),
                })
                .collect();
            format!("{}\n", fields.join(","))
        })
        .collect()
}

fn create_text_table(url: &str, table: &str) -> String {
    if url.starts_with("postgres") {
        format!("CREATE TABLE {table} (id integer PRIMARY KEY, name text, note text)")
    } else {
        format!("CREATE TABLE {table} (id int PRIMARY KEY, name text, note text) ENGINE=InnoDB")
    }
}

/// `SqlActivity` inserting `rows` through `scriptArgument`s, one statement a row.
fn script_task(table: &str, rows: &[Vec<Option<String>>], database: ObjectFields) -> Task {
    let mut script = String::new();
    let mut fields = vec![
        ("type".to_owned(), "SqlActivity".to_owned()),
        ("database".to_owned(), database.id.clone()),
    ];
    for row in rows {
        let placeholders: Vec<&str> = row
            .iter()
            .map(|value| if value.is_some() { "?" } else { "NULL" })
            .collect();
        script.push_str(&format!("INSERT INTO {table} VALUES ({});\n", placeholders.join(", ")));
        fields.extend(
            row.iter()
                .flatten()
                .map(|value| ("scriptArgument".to_owned(), value.clone())),
        );
    }
    fields.push(("script".to_owned(), script));
    Task {
        task_id: "task-sql".to_owned(),
        pipeline_id: "df-sql".to_owned(),
        attempt_id: "@Script_2026-03-01T00:00:00_Attempt=1".to_owned(),
        object_id: "Script".to_owned(),
        kind: sluice::runner::TaskKind::Activity,
        type_name: "SqlActivity".to_owned(),
        object: ObjectFields {
            id: "Script".to_owned(),
            fields,
        },
        referenced: vec![database],
    }
}

/// Whether `table` is still there.
async fn table_exists(url: &str, table: &str) -> bool {
    if url.starts_with("postgres") {
        let mut db = PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar::<_, bool>("SELECT to_regclass($1) IS NOT NULL")
            .bind(table)
            .fetch_one(&mut db)
            .await
            .unwrap()
    } else {
        let mut db = MySqlConnection::connect(url).await.unwrap();
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM information_schema.tables WHERE table_name = ?")
            .bind(table)
            .fetch_one(&mut db)
            .await
            .unwrap()
            == 1
    }
}

#[tokio::test]
async fn hostile_values_are_loaded_byte_for_byte_by_every_load_path_and_never_run_as_sql() {
    let s3 = s3().await;
    let nonstandard = postgres_without_standard_strings().await;
    let mysql = mysql_url();
    // (server, how Sluice reaches it, the load path)
    let paths = [
        (&nonstandard, database(&nonstandard), "CopyActivity (COPY FROM STDIN)"),
        (&nonstandard, database(&nonstandard), "CopyActivity with insertQuery"),
        (&nonstandard, as_redshift(&nonstandard), "CopyActivity (INSERT)"),
        (&nonstandard, as_redshift(&nonstandard), "CopyActivity with insertQuery"),
        (&nonstandard, as_redshift(&nonstandard), "RedshiftCopyActivity"),
        (&nonstandard, database(&nonstandard), "SqlActivity"),
        (&nonstandard, as_redshift(&nonstandard), "SqlActivity"),
        (&mysql, database(&mysql), "CopyActivity (INSERT)"),
        (&mysql, database(&mysql), "CopyActivity with insertQuery"),
        (&mysql, database(&mysql), "SqlActivity"),
    ];
    for (url, db, path) in paths {
        // Given an empty table and the hostile rows as CSV in S3
        let table = unique("hostile");
        let case = format!("{path} over {}", db.fields[1].1);
        sql(url, &create_text_table(url, &table)).await;
        let expected = hostile_rows(&table);
        s3.put(&format!("{table}/in.csv"), &csv_of(&expected)).await;
        let input = s3.node(
            "In",
            "filePath",
            &format!("{table}/in.csv"),
            &[("dataFormat", "Commas")],
        );
        let commas = object("Commas", &[("type", "CSV")]);
        let insert = format!("INSERT INTO {table} (id, name, note) VALUES (?, ?, ?)");
        // When they are loaded by the path
        let outcome = match path {
            "SqlActivity" => {
                let work = std::env::temp_dir().join(unique("work"));
                std::fs::create_dir_all(&work).unwrap();
                let task = script_task(&table, &expected, db);
                let outcome = sluice::runner::sql::sql_activity(&s3.storage, &task, &work).await;
                let _ = std::fs::remove_dir_all(&work);
                outcome
            }
            "RedshiftCopyActivity" => {
                let target = object(
                    "Dest",
                    &[("type", "RedshiftDataNode"), ("database", "Db"), ("tableName", &table)],
                );
                let task = redshift_task(input, target, &[("insertMode", "KEEP_EXISTING")], vec![db, commas]);
                run_redshift(&s3, &task).await
            }
            "CopyActivity with insertQuery" => {
                let target = object(
                    "Orders",
                    &[
                        ("type", "SqlDataNode"),
                        ("database", "Db"),
                        ("table", &table),
                        ("insertQuery", &insert),
                    ],
                );
                run(&s3, &copy_task(input, target, vec![db, commas])).await
            }
            _ => run(&s3, &copy_task(input, sql_node("Orders", &table), vec![db, commas])).await,
        };
        // Then every value reads back as it was, and the table is still there
        assert_eq!(outcome.status, TaskStatus::Finished, "{case}: {outcome:?}");
        assert!(table_exists(url, &table).await, "{case}: the table was dropped");
        let mut expected = expected;
        if path == "SqlActivity" {
            // scriptArguments are strings: NULL is written in the script, not passed
            assert!(expected[4][2].is_none());
        }
        expected.sort_by_key(|row| row[0].clone());
        assert_eq!(rows(url, &table).await, expected, "{case}");
        sql(url, &format!("DROP TABLE {table}")).await;
    }
    drop_database(&nonstandard).await;
}

#[tokio::test]
async fn a_wide_load_is_split_so_that_no_statement_binds_more_than_65535_values() {
    // Given 400 records of 200 fields: 80,000 values, more than one statement binds
    let s3 = s3().await;
    let pg = postgres_url();
    let my = mysql_url();
    let columns = 200;
    let records = 400;
    for (url, db) in [(&pg, as_redshift(&pg)), (&my, database(&my))] {
        let table = unique("wide");
        let names: Vec<String> = (0..columns).map(|column| format!("c{column} integer")).collect();
        sql(url, &format!("CREATE TABLE {table} ({})", names.join(", "))).await;
        let csv: String = (0..records)
            .map(|row| {
                let fields: Vec<String> = (0..columns).map(|column| (row * column).to_string()).collect();
                format!("{}\n", fields.join(","))
            })
            .collect();
        s3.put(&format!("{table}/in.csv"), &csv).await;
        let input = s3.node("In", "filePath", &format!("{table}/in.csv"), &[]);
        // When it is loaded by INSERTs
        let outcome = run(&s3, &copy_task(input, sql_node("Orders", &table), vec![db])).await;
        // Then every record is in, each value in its column
        assert_eq!(outcome.status, TaskStatus::Finished, "{url}: {outcome:?}");
        let query = format!("SELECT CAST(count(*) AS CHAR(10)), CAST(sum(c199) AS CHAR(20)) FROM {table}");
        let (count, sum): (String, String) = if url.starts_with("postgres") {
            let mut connection = PgConnection::connect(url).await.unwrap();
            let row = sqlx::query(&query).fetch_one(&mut connection).await.unwrap();
            (row.get(0), row.get(1))
        } else {
            let mut connection = MySqlConnection::connect(url).await.unwrap();
            let row = sqlx::query(&query).fetch_one(&mut connection).await.unwrap();
            (row.get(0), row.get(1))
        };
        // (PostgreSQL pads a CHAR(n))
        assert_eq!((count.trim(), sum.trim()), ("400", "15880200"), "{url}");
        sql(url, &format!("DROP TABLE {table}")).await;
    }
}
