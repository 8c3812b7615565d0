//! `CopyActivity` and `RedshiftCopyActivity` with `DynamoDBDataNode`s, against DynamoDB and
//! S3 on moto's server (and the machine's PostgreSQL standing in for Redshift): a table out
//! to S3 in Data Pipeline's export format and as CSV, objects loaded into a table, table
//! to table across regions, bad data that writes nothing, writes paced to the table's
//! share of capacity, and a table merged into Redshift.

mod support;

use std::time::Duration;

use aws_sdk_dynamodb::{
    primitives::Blob,
    types::{
        AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ProvisionedThroughput,
        ScalarAttributeType,
    },
};
use sluice::{
    data::items::{Item, parse_export_line},
    runner::{ObjectFields, Task, TaskStatus, dynamodb_copy::copy_items},
};
use sqlx::{Connection, Executor, PgConnection, Row};
use support::data::{S3, copy_task, database, moto, object, postgres_url, run, s3, unique};

/// A DynamoDB client on moto, for `region` (the configured one when `None`).
async fn dynamodb(region: Option<&str>) -> aws_sdk_dynamodb::Client {
    let config = moto().sdk_config().await;
    let mut builder = aws_sdk_dynamodb::config::Builder::from(&config);
    if let Some(region) = region {
        builder = builder.region(aws_sdk_dynamodb::config::Region::new(region.to_owned()));
    }
    aws_sdk_dynamodb::Client::from_conf(builder.build())
}

/// A table keyed by the number `id`; provisioned with `write_units` (and as many read
/// units), or on demand when `None`.
async fn table(client: &aws_sdk_dynamodb::Client, name: &str, write_units: Option<i64>) {
    let mut create = client
        .create_table()
        .table_name(name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::N)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        );
    create = match write_units {
        Some(units) => create.provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(units)
                .write_capacity_units(units)
                .build()
                .unwrap(),
        ),
        None => create.billing_mode(BillingMode::PayPerRequest),
    };
    create.send().await.unwrap();
}

async fn put(client: &aws_sdk_dynamodb::Client, name: &str, item: Item) {
    client
        .put_item()
        .table_name(name)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

/// Every item of the table, by id.
async fn items(client: &aws_sdk_dynamodb::Client, name: &str) -> Vec<Item> {
    let mut found = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(name)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        found.extend(page.items().iter().cloned());
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => break,
        }
    }
    found.sort_by_key(|item| match item.get("id") {
        Some(AttributeValue::N(id)) => id.parse::<i64>().unwrap_or_default(),
        _ => 0,
    });
    found
}

fn s(text: &str) -> AttributeValue {
    AttributeValue::S(text.to_owned())
}

fn n(number: i64) -> AttributeValue {
    AttributeValue::N(number.to_string())
}

fn item(pairs: Vec<(&str, AttributeValue)>) -> Item {
    pairs
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

/// Items that test the edges: every type, separators, quotes, newlines, unicode, absent
/// attributes.
fn tricky_items() -> Vec<Item> {
    vec![
        item(vec![
            ("id", n(1)),
            ("name", s("plain, with \"quotes\"")),
            ("note", s("two\nlines\tand a tab")),
            ("tags", AttributeValue::Ss(vec!["a".to_owned(), "b".to_owned()])),
            ("scores", AttributeValue::Ns(vec!["1.5".to_owned(), "2".to_owned()])),
            ("raw", AttributeValue::B(Blob::new(vec![0, 1, 255]))),
            ("active", AttributeValue::Bool(true)),
            ("gone", AttributeValue::Null(true)),
            (
                "address",
                AttributeValue::M(item(vec![
                    ("city", s("Zürich")),
                    ("lines", AttributeValue::L(vec![s("1"), n(2)])),
                ])),
            ),
        ]),
        item(vec![("id", n(2)), ("name", s("ünïcödé ✓"))]),
        item(vec![("id", n(3)), ("name", s("")), ("note", s("no tags"))]),
    ]
}

fn dynamodb_node(id: &str, table: &str, more: &[(&str, &str)]) -> ObjectFields {
    let mut fields = vec![("type", "DynamoDBDataNode"), ("tableName", table)];
    fields.extend_from_slice(more);
    object(id, &fields)
}

fn csv_format() -> ObjectFields {
    object(
        "Csv",
        &[
            ("type", "CSV"),
            ("column", "id BIGINT"),
            ("column", "name STRING"),
            ("column", "note STRING"),
            ("column", "active BOOLEAN"),
        ],
    )
}

async fn copy(s3: &S3, task: &Task) -> Result<sluice::runner::dynamodb_copy::Moved, String> {
    let work = std::env::temp_dir().join(unique("work"));
    std::fs::create_dir_all(&work).unwrap();
    let moved = copy_items(&s3.storage, task, &work).await;
    let _ = std::fs::remove_dir_all(&work);
    moved
}

#[tokio::test]
async fn a_table_is_exported_to_s3_in_the_export_format_and_as_csv() {
    // Given a table holding the tricky items
    let s3 = s3().await;
    let client = dynamodb(None).await;
    let name = unique("export");
    table(&client, &name, None).await;
    for tricky in tricky_items() {
        put(&client, &name, tricky).await;
    }
    // When it is copied to a directoryPath with no format, and with the export format
    let source = dynamodb_node("Orders", &name, &[("readThroughputPercent", "0.25")]);
    let outcome = run(
        &s3,
        &copy_task(
            source.clone(),
            s3.node("Backup", "directoryPath", "backup", &[]),
            vec![],
        ),
    )
    .await;
    assert_eq!(outcome.status, TaskStatus::Finished, "{:?}", outcome.error_message);
    // Then the object holds one line per item, each the item exactly
    let exported = s3.get("backup/Orders.json").await;
    let mut read: Vec<Item> = exported
        .lines()
        .enumerate()
        .map(|(index, line)| parse_export_line(line, index as u64 + 1).unwrap())
        .collect();
    read.sort_by_key(|item| format!("{:?}", item.get("id")));
    assert_eq!(read, tricky_items());
    assert!(
        exported.contains(r#""tags":{"sS":["a","b"]}"#) && exported.contains(r#""active":{"bOOL":true}"#),
        "written as Data Pipeline's exports were: {exported}"
    );
    let export_format = object("Export", &[("type", "DynamoDBExportDataFormat")]);
    let target = s3.node(
        "File",
        "filePath",
        "backup/orders.gz",
        &[("dataFormat", "Export"), ("compression", "gzip")],
    );
    let outcome = run(&s3, &copy_task(source.clone(), target, vec![export_format])).await;
    assert_eq!(outcome.status, TaskStatus::Finished, "{:?}", outcome.error_message);
    let gzipped = s3
        .client
        .get_object()
        .bucket(&s3.bucket)
        .key("backup/orders.gz")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gzipped[..]), &mut text).unwrap();
    assert_eq!(text.lines().count(), 3);
    // And as CSV, the format's columns are the attributes, absent ones NULL
    let target = s3.node("CsvOut", "filePath", "csv/orders.csv", &[("dataFormat", "Csv")]);
    let outcome = run(&s3, &copy_task(source, target, vec![csv_format()])).await;
    assert_eq!(outcome.status, TaskStatus::Finished, "{:?}", outcome.error_message);
    let mut lines: Vec<String> = split_csv_records(&s3.get("csv/orders.csv").await);
    lines.sort();
    assert_eq!(
        lines,
        [
            "1,\"plain, with \"\"quotes\"\"\",\"two\nlines\tand a tab\",true",
            "2,ünïcödé ✓,,",
            "3,\"\",no tags,",
        ]
    );
}

/// CSV records, a quoted newline kept inside its record.
fn split_csv_records(text: &str) -> Vec<String> {
    let mut records = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for character in text.chars() {
        if character == '"' {
            quoted = !quoted;
        }
        if character == '\n' && !quoted {
            records.push(std::mem::take(&mut current));
        } else {
            current.push(character);
        }
    }
    records
}

#[tokio::test]
async fn export_lines_and_csv_records_are_loaded_into_a_table() {
    let s3 = s3().await;
    let client = dynamodb(None).await;
    // Given a folder of export lines: a current one, an old Hive-style one, a blank line
    let name = unique("import");
    table(&client, &name, Some(50)).await;
    let lines: Vec<String> = tricky_items().iter().map(sluice::data::items::export_line).collect();
    s3.put(&format!("{name}/part-1"), &format!("{}\n\n{}\n", lines[0], lines[1]))
        .await;
    s3.put(
        &format!("{name}/part-2"),
        "id\u{3}{\"n\":\"3\"}\u{2}name\u{3}{\"s\":\"\"}\u{2}note\u{3}{\"s\":\"no tags\"}\n",
    )
    .await;
    // When they are copied into the table
    let target = dynamodb_node("Restore", &name, &[("writeThroughputPercent", "1.0")]);
    let outcome = run(
        &s3,
        &copy_task(s3.node("Backup", "directoryPath", &name, &[]), target, vec![]),
    )
    .await;
    // Then the table holds every item exactly
    assert_eq!(outcome.status, TaskStatus::Finished, "{:?}", outcome.error_message);
    assert_eq!(items(&client, &name).await, tricky_items());
    // And CSV records (quoted separators and newlines, NULL as no attribute, gzip) load too
    let csv_table = unique("csv");
    table(&client, &csv_table, None).await;
    let csv = "7,\"a, \"\"b\"\"\",\"x\ny\",TRUE\n8,ünï,,false\n";
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut encoder, csv.as_bytes()).unwrap();
    s3.client
        .put_object()
        .bucket(&s3.bucket)
        .key("in/rows.csv.gz")
        .body(encoder.finish().unwrap().into())
        .send()
        .await
        .unwrap();
    let input = s3.node(
        "Rows",
        "filePath",
        "in/rows.csv.gz",
        &[("dataFormat", "Csv"), ("compression", "gzip")],
    );
    let outcome = run(
        &s3,
        &copy_task(input, dynamodb_node("Table", &csv_table, &[]), vec![csv_format()]),
    )
    .await;
    assert_eq!(outcome.status, TaskStatus::Finished, "{:?}", outcome.error_message);
    assert_eq!(
        items(&client, &csv_table).await,
        [
            item(vec![
                ("id", n(7)),
                ("name", s("a, \"b\"")),
                ("note", s("x\ny")),
                ("active", AttributeValue::Bool(true))
            ]),
            item(vec![
                ("id", n(8)),
                ("name", s("ünï")),
                ("active", AttributeValue::Bool(false))
            ]),
        ]
    );
}

#[tokio::test]
async fn bad_data_writes_nothing_and_names_the_object_and_the_item() {
    let s3 = s3().await;
    let client = dynamodb(None).await;
    let name = unique("bad");
    table(&client, &name, None).await;
    let target = dynamodb_node("Target", &name, &[]);
    // Given 40 good lines and a malformed 41st
    let good: String = (1..=40).map(|id| format!("{{\"id\":{{\"n\":\"{id}\"}}}}\n")).collect();
    let source = format!("{good}{{\"id\":{{\"n\":\"forty-one\"}}}}\n");
    s3.put("bad/items", &source).await;
    let outcome = run(
        &s3,
        &copy_task(s3.node("In", "filePath", "bad/items", &[]), target.clone(), vec![]),
    )
    .await;
    // Then the copy fails naming the object, the item and the attribute, and writes nothing
    assert_eq!(outcome.status, TaskStatus::Failed);
    let message = outcome.error_message.unwrap_or_default();
    assert!(message.contains("item 41"), "{message}");
    assert!(message.contains("\"forty-one\" is not a number"), "{message}");
    assert!(message.contains(&format!("s3://{}/bad/items", s3.bucket)), "{message}");
    assert!(message.contains("nothing was written"), "{message}");
    assert!(items(&client, &name).await.is_empty());
    assert_eq!(s3.get("bad/items").await, source, "the source is untouched");
    // A type mismatch in a CSV column is named by record and column
    s3.put("bad/rows.csv", "1,a,,true\n2,b,,maybe\n").await;
    let input = s3.node("Rows", "filePath", "bad/rows.csv", &[("dataFormat", "Csv")]);
    let outcome = run(&s3, &copy_task(input, target.clone(), vec![csv_format()])).await;
    let message = outcome.error_message.unwrap_or_default();
    assert!(
        message.contains("item 2: column \"active\": \"maybe\" is not true or false"),
        "{message}"
    );
    assert!(items(&client, &name).await.is_empty());
    // A CSV format without columns cannot name attributes, and says so
    let bare = object("Bare", &[("type", "CSV")]);
    let input = s3.node("Rows", "filePath", "bad/rows.csv", &[("dataFormat", "Bare")]);
    let outcome = run(&s3, &copy_task(input, target, vec![bare])).await;
    assert!(
        outcome.error_message.unwrap_or_default().contains("names no columns"),
        "a format without columns"
    );
    // A table that is not there is named
    let outcome = run(
        &s3,
        &copy_task(
            dynamodb_node("Gone", &format!("{name}-gone"), &[]),
            s3.node("Out", "directoryPath", "out", &[]),
            vec![],
        ),
    )
    .await;
    assert_eq!(outcome.status, TaskStatus::Failed);
    let message = outcome.error_message.unwrap_or_default();
    assert!(message.contains(&format!("{name}-gone")), "{message}");
    // A throughput share outside 0.1 to 1.0 is refused by name
    let outcome = run(
        &s3,
        &copy_task(
            dynamodb_node("Greedy", &name, &[("readThroughputPercent", "1.5")]),
            s3.node("Out", "directoryPath", "out", &[]),
            vec![],
        ),
    )
    .await;
    let message = outcome.error_message.unwrap_or_default();
    assert!(message.contains("readThroughputPercent \"1.5\""), "{message}");
}

#[tokio::test]
async fn writes_stay_within_the_tables_write_share_and_on_demand_tables_are_not_paced() {
    let s3 = s3().await;
    let client = dynamodb(None).await;
    // Given 300 one-unit items and a table of 200 write units, of which the copy may use half
    let lines: String = (1..=300).map(|id| format!("{{\"id\":{{\"n\":\"{id}\"}}}}\n")).collect();
    s3.put("paced/items", &lines).await;
    let provisioned = unique("paced");
    table(&client, &provisioned, Some(200)).await;
    let task = copy_task(
        s3.node("In", "filePath", "paced/items", &[]),
        dynamodb_node("Paced", &provisioned, &[("writeThroughputPercent", "0.5")]),
        vec![],
    );
    // When they are copied in
    let moved = copy(&s3, &task).await.unwrap();
    // Then all are written, and the copy waited about (300 - 100) / 100 units a second
    assert_eq!(moved.items, 300);
    assert_eq!(items(&client, &provisioned).await.len(), 300);
    assert!(
        moved.waited >= Duration::from_millis(1500) && moved.waited <= Duration::from_secs(3),
        "waited {:?}",
        moved.waited
    );
    // And the same copy into an on-demand table waits for nothing
    let on_demand = unique("demand");
    table(&client, &on_demand, None).await;
    let task = copy_task(
        s3.node("In", "filePath", "paced/items", &[]),
        dynamodb_node("Free", &on_demand, &[("writeThroughputPercent", "0.5")]),
        vec![],
    );
    let moved = copy(&s3, &task).await.unwrap();
    assert_eq!((moved.items, moved.waited), (300, Duration::ZERO));
}

#[tokio::test]
async fn a_table_is_copied_to_a_table_in_another_region() {
    let s3 = s3().await;
    let here = dynamodb(None).await;
    let there = dynamodb(Some("eu-west-1")).await;
    let source = unique("from");
    let target = unique("to");
    table(&here, &source, None).await;
    table(&there, &target, None).await;
    for tricky in tricky_items() {
        put(&here, &source, tricky).await;
    }
    let task = copy_task(
        dynamodb_node("Source", &source, &[]),
        dynamodb_node("Replica", &target, &[("region", "eu-west-1")]),
        vec![],
    );
    let moved = copy(&s3, &task).await.unwrap();
    assert_eq!(moved.items, 3);
    assert_eq!(items(&there, &target).await, tricky_items());
}

#[tokio::test]
async fn redshift_copy_merges_a_dynamodb_table_by_attribute_names_ignoring_case() {
    let s3 = s3().await;
    let client = dynamodb(None).await;
    let name = unique("ddb_to_redshift");
    table(&client, &name, Some(10)).await;
    // Attributes named in another case than the columns; one absent; one not a column
    put(
        &client,
        &name,
        item(vec![
            ("id", n(1)),
            ("CITY", s("Oslo")),
            ("Visits", n(10)),
            ("extra", s("x")),
        ]),
    )
    .await;
    put(&client, &name, item(vec![("id", n(2)), ("city", s("Lima"))])).await;
    let target = unique("visits");
    let url = postgres_url();
    let mut db = PgConnection::connect(&url).await.unwrap();
    db.execute(sqlx::raw_sql(&format!(
        "CREATE TABLE {target} (id integer PRIMARY KEY, city text, visits integer); \
         INSERT INTO {target} VALUES (1, 'old', 0), (9, 'kept', 9)"
    )))
    .await
    .unwrap();
    let node = object(
        "Visits",
        &[("type", "RedshiftDataNode"), ("database", "Db"), ("tableName", &target)],
    );
    let task = Task {
        object: object(
            "Load",
            &[
                ("type", "RedshiftCopyActivity"),
                ("input", "Ddb"),
                ("output", "Visits"),
                ("insertMode", "OVERWRITE_EXISTING"),
                ("commandOptions", "READRATIO 50"),
            ],
        ),
        type_name: "RedshiftCopyActivity".to_owned(),
        ..copy_task(dynamodb_node("Ddb", &name, &[]), node, vec![database(&url)])
    };
    let work = std::env::temp_dir().join(unique("work"));
    std::fs::create_dir_all(&work).unwrap();
    let outcome = sluice::runner::copy::redshift_copy_activity(&s3.storage, &task, &work).await;
    let _ = std::fs::remove_dir_all(&work);
    assert_eq!(outcome.status, TaskStatus::Finished, "{:?}", outcome.error_message);
    let rows: Vec<String> = sqlx::query(&format!(
        "SELECT id || ':' || coalesce(city, 'null') || ':' || coalesce(visits::text, 'null') FROM {target} ORDER BY id"
    ))
    .fetch_all(&mut db)
    .await
    .unwrap()
    .iter()
    .map(|row| row.get::<String, _>(0))
    .collect();
    assert_eq!(rows, ["1:Oslo:10", "2:Lima:null", "9:kept:9"]);
    db.execute(sqlx::raw_sql(&format!("DROP TABLE {target}")))
        .await
        .unwrap();
}
