//! Moving data, against the tools people would use instead, on the same machine in the same
//! run: a 1,000,000-row table from PostgreSQL to a CSV object in S3 (Sluice's CopyActivity
//! against `psql \copy` then `aws s3 cp`) and that object loaded back (against `aws s3 cp`
//! then `psql \copy ... FROM`), a 1 GiB object copied within S3 (against `aws s3 cp`), and
//! 10,000 DynamoDB items loaded from S3 (against boto3's batch writer) and exported to S3
//! (against `aws dynamodb scan` then `aws s3 cp`), S3 and DynamoDB being moto's server. Each Sluice copy runs in a
//! process of its own, so that its peak memory is its own; the tools' peak memory comes
//! from `/usr/bin/time`. `cargo bench -p sluice-cli --bench data`; the figures go in the
//! README. `SLUICE_TEST_POSTGRES` names another server.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use sluice::runner::{AwsStorage, ObjectFields, Task, TaskKind, TaskStatus, copy::copy_activity};

const ROWS: u64 = 1_000_000;
const ITEMS: u64 = 10_000;
const BIG_OBJECT_MIB: u64 = 1024;
const BUCKET: &str = "bench-data";

fn postgres_url() -> String {
    std::env::var("SLUICE_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn object(id: &str, fields: &[(&str, &str)]) -> ObjectFields {
    ObjectFields {
        id: id.to_owned(),
        fields: fields
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect(),
    }
}

fn copy_task(input: ObjectFields, output: ObjectFields, more: Vec<ObjectFields>) -> Task {
    let mut referenced = vec![input.clone(), output.clone()];
    referenced.extend(more);
    Task {
        task_id: "bench".to_owned(),
        pipeline_id: "df-bench".to_owned(),
        attempt_id: "@Copy_2026-03-01T00:00:00_Attempt=1".to_owned(),
        object_id: "Copy".to_owned(),
        kind: TaskKind::Activity,
        type_name: "CopyActivity".to_owned(),
        object: object(
            "Copy",
            &[("type", "CopyActivity"), ("input", &input.id), ("output", &output.id)],
        ),
        referenced,
    }
}

/// This process's peak resident memory, in KiB.
fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The child: one Sluice copy, then `seconds peak_kib` on stdout.
fn child(which: &str, endpoint: &str, table: &str) {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test", "test", None, None, "bench",
            ))
            .load()
            .await;
        let storage = AwsStorage::new(&config);
        let url = postgres_url();
        let (_, rest) = url.split_once("://").expect("a URL");
        let (user, address) = rest.split_once('@').expect("user@host");
        let database = object(
            "Db",
            &[
                ("type", "JdbcDatabase"),
                ("connectionString", &format!("jdbc:postgresql://{address}")),
                ("username", user),
            ],
        );
        let task = match which {
            "import" => copy_task(
                object(
                    "In",
                    &[
                        ("type", "S3DataNode"),
                        ("filePath", &format!("s3://{BUCKET}/tools/orders.csv")),
                    ],
                ),
                object(
                    "Orders",
                    &[("type", "SqlDataNode"), ("database", "Db"), ("table", table)],
                ),
                vec![database],
            ),
            "ddb-import" => copy_task(
                object(
                    "In",
                    &[
                        ("type", "S3DataNode"),
                        ("filePath", &format!("s3://{BUCKET}/items.json")),
                    ],
                ),
                object("Items", &[("type", "DynamoDBDataNode"), ("tableName", table)]),
                Vec::new(),
            ),
            "ddb-export" => copy_task(
                object("Items", &[("type", "DynamoDBDataNode"), ("tableName", table)]),
                object(
                    "Out",
                    &[
                        ("type", "S3DataNode"),
                        ("filePath", &format!("s3://{BUCKET}/sluice/items.json")),
                    ],
                ),
                Vec::new(),
            ),
            "export" => copy_task(
                object(
                    "Orders",
                    &[("type", "SqlDataNode"), ("database", "Db"), ("table", table)],
                ),
                object(
                    "Out",
                    &[
                        ("type", "S3DataNode"),
                        ("filePath", &format!("s3://{BUCKET}/sluice/orders.csv")),
                    ],
                ),
                vec![database],
            ),
            _ => copy_task(
                object(
                    "Big",
                    &[("type", "S3DataNode"), ("filePath", &format!("s3://{BUCKET}/big.bin"))],
                ),
                object(
                    "Copied",
                    &[
                        ("type", "S3DataNode"),
                        ("filePath", &format!("s3://{BUCKET}/sluice/big.bin")),
                    ],
                ),
                Vec::new(),
            ),
        };
        let work = std::env::temp_dir().join(format!("sluice-bench-{}", std::process::id()));
        std::fs::create_dir_all(&work).expect("a work folder");
        let started = Instant::now();
        let outcome = copy_activity(&storage, &task, &work).await;
        let seconds = started.elapsed().as_secs_f64();
        let _ = std::fs::remove_dir_all(&work);
        assert_eq!(outcome.status, TaskStatus::Finished, "{outcome:?}");
        println!("{seconds} {}", peak_kib());
    });
}

/// Runs `command` under `/usr/bin/time`: (seconds, peak KiB).
fn timed(command: &mut Command) -> (f64, u64) {
    let output = Command::new("/usr/bin/time")
        .args(["-f", "%e %M"])
        .arg(command.get_program())
        .args(command.get_args())
        .envs(command.get_envs().filter_map(|(key, value)| Some((key, value?))))
        .output()
        .expect("/usr/bin/time");
    assert!(
        output.status.success(),
        "{:?}: {}",
        command,
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().last().unwrap_or_default().to_owned();
    let mut parts = last.split_whitespace();
    let seconds = parts.next().and_then(|value| value.parse().ok()).unwrap_or(f64::NAN);
    let peak = parts.next().and_then(|value| value.parse().ok()).unwrap_or(0);
    (seconds, peak)
}

fn aws(endpoint: &str) -> Command {
    let mut command = Command::new("aws");
    command
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .args(["--endpoint-url", endpoint]);
    command
}

fn sluice_child(which: &str, endpoint: &str, table: &str) -> (f64, u64) {
    let output = Command::new(std::env::current_exe().expect("this bench"))
        .env("SLUICE_BENCH_CHILD", which)
        .env("SLUICE_BENCH_ENDPOINT", endpoint)
        .env("SLUICE_BENCH_TABLE", table)
        .output()
        .expect("the bench's child");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default().to_owned();
    let mut parts = line.split_whitespace();
    (
        parts.next().and_then(|value| value.parse().ok()).unwrap_or(f64::NAN),
        parts.next().and_then(|value| value.parse().ok()).unwrap_or(0),
    )
}

fn object_size(endpoint: &str, key: &str) -> u64 {
    let output = aws(endpoint)
        .args([
            "s3api",
            "head-object",
            "--bucket",
            BUCKET,
            "--key",
            key,
            "--output",
            "json",
        ])
        .output()
        .expect("aws");
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    answer["ContentLength"].as_u64().unwrap_or(0)
}

fn report(what: &str, bytes: u64, sluice: (f64, u64), baseline: (f64, u64), baseline_name: &str) {
    let mib = bytes as f64 / (1024.0 * 1024.0);
    let rate = |seconds: f64| mib / seconds;
    println!(
        "{what}: {mib:.0} MiB. Sluice {:.2} s, {:.1} MiB/s, peak {:.1} MiB; {baseline_name} {:.2} s, {:.1} MiB/s, peak {:.1} MiB; Sluice at {:.0}% of the baseline's throughput",
        sluice.0,
        rate(sluice.0),
        sluice.1 as f64 / 1024.0,
        baseline.0,
        rate(baseline.0),
        baseline.1 as f64 / 1024.0,
        100.0 * baseline.0 / sluice.0,
    );
}

fn main() {
    if let Ok(which) = std::env::var("SLUICE_BENCH_CHILD") {
        let endpoint = std::env::var("SLUICE_BENCH_ENDPOINT").unwrap_or_default();
        let table = std::env::var("SLUICE_BENCH_TABLE").unwrap_or_default();
        child(&which, &endpoint, &table);
        return;
    }
    let moto = sluice::local::MotoServer::start().expect("moto's server");
    let endpoint = moto.endpoint();
    let status = aws(&endpoint).args(["s3", "mb", &format!("s3://{BUCKET}")]).status();
    assert!(status.is_ok_and(|status| status.success()));
    let scratch: PathBuf = std::env::temp_dir().join(format!("sluice-bench-data-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch");

    // 1. A million rows out of PostgreSQL into S3.
    let table = format!("sluice_bench_{}", std::process::id());
    let url = postgres_url();
    let psql = |sql: &str| {
        let status = Command::new("psql")
            .args([url.as_str(), "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .status()
            .expect("psql");
        assert!(status.success(), "psql {sql}");
    };
    psql(&format!(
        "CREATE TABLE {table} (id integer PRIMARY KEY, region text, amount numeric(12,2), note text); \
         INSERT INTO {table} SELECT i, 'region-' || (i % 50), (i % 10000) / 7.0, \
         CASE WHEN i % 10 = 0 THEN NULL ELSE 'note, with \"quotes\" ' || i END FROM generate_series(1, {ROWS}) i"
    ));
    let sluice = sluice_child("export", &endpoint, &table);
    let bytes = object_size(&endpoint, "sluice/orders.csv");
    let file = scratch.join("orders.csv");
    let dumped = timed(Command::new("psql").args([
        url.as_str(),
        "-q",
        "-c",
        &format!("\\copy {table} TO '{}' WITH (FORMAT csv)", file.display()),
    ]));
    let uploaded = timed(aws(&endpoint).args([
        "s3",
        "cp",
        &path_text(&file),
        &format!("s3://{BUCKET}/tools/orders.csv"),
    ]));
    report(
        &format!("{ROWS} rows, PostgreSQL to S3 as CSV"),
        bytes,
        sluice,
        (dumped.0 + uploaded.0, dumped.1.max(uploaded.1)),
        "psql \\copy + aws s3 cp",
    );
    // 2. That CSV object loaded back into an empty table.
    let create_empty = |name: &str| {
        psql(&format!(
            "CREATE TABLE {name} (id integer PRIMARY KEY, region text, amount numeric(12,2), note text)"
        ))
    };
    create_empty(&format!("{table}_sluice"));
    create_empty(&format!("{table}_tools"));
    let sluice = sluice_child("import", &endpoint, &format!("{table}_sluice"));
    let downloaded = timed(aws(&endpoint).args([
        "s3",
        "cp",
        &format!("s3://{BUCKET}/tools/orders.csv"),
        &path_text(&file),
    ]));
    let loaded = timed(Command::new("psql").args([
        url.as_str(),
        "-q",
        "-c",
        &format!("\\copy {table}_tools FROM '{}' WITH (FORMAT csv)", file.display()),
    ]));
    report(
        &format!("{ROWS} rows, a CSV object in S3 loaded into PostgreSQL"),
        bytes,
        sluice,
        (downloaded.0 + loaded.0, downloaded.1.max(loaded.1)),
        "aws s3 cp + psql \\copy FROM",
    );
    psql(&format!(
        "DROP TABLE {table}; DROP TABLE {table}_sluice; DROP TABLE {table}_tools"
    ));
    let _ = std::fs::remove_file(&file);

    // 3. DynamoDB items: export-format lines from S3 into a table, and the table out to S3.
    let items = scratch.join("items.json");
    {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::fs::File::create(&items).expect("items file"));
        for id in 0..ITEMS {
            writeln!(
                out,
                r#"{{"id":{{"s":"order-{id:06}"}},"total":{{"n":"{}.{:02}"}},"region":{{"s":"region-{}"}},"tags":{{"sS":["a","b{}"]}}}}"#,
                id % 997,
                id % 100,
                id % 50,
                id % 7
            )
            .expect("write");
        }
    }
    let items_bytes = std::fs::metadata(&items).map(|metadata| metadata.len()).unwrap_or(0);
    let put = aws(&endpoint)
        .args([
            "s3",
            "cp",
            "--quiet",
            &path_text(&items),
            &format!("s3://{BUCKET}/items.json"),
        ])
        .status();
    assert!(put.is_ok_and(|status| status.success()));
    for name in ["bench-items-sluice", "bench-items-tools"] {
        let created = aws(&endpoint)
            .args([
                "dynamodb",
                "create-table",
                "--table-name",
                name,
                "--attribute-definitions",
                "AttributeName=id,AttributeType=S",
                "--key-schema",
                "AttributeName=id,KeyType=HASH",
                "--billing-mode",
                "PAY_PER_REQUEST",
            ])
            .output()
            .expect("aws");
        assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    }
    let sluice = sluice_child("ddb-import", &endpoint, "bench-items-sluice");
    let script = format!(
        "import boto3, json\n\
         table = boto3.resource('dynamodb', endpoint_url='{endpoint}', region_name='us-east-1', \
         aws_access_key_id='test', aws_secret_access_key='test').Table('bench-items-tools')\n\
         from boto3.dynamodb.types import TypeDeserializer\n\
         d = TypeDeserializer()\n\
         with table.batch_writer() as batch, open('{}') as lines:\n\
         \x20   for line in lines:\n\
         \x20       item = json.loads(line)\n\
         \x20       batch.put_item(Item={{name: d.deserialize({{k.upper(): v for k, v in value.items()}}) for name, value in item.items()}})\n",
        items.display()
    );
    let tools = timed(Command::new("python3").args(["-c", &script]));
    report(
        &format!("{ITEMS} DynamoDB items, S3 export lines loaded into a table"),
        items_bytes,
        sluice,
        tools,
        "boto3 batch_writer",
    );
    let sluice = sluice_child("ddb-export", &endpoint, "bench-items-sluice");
    let scanned = scratch.join("scan.json");
    let scan = timed(Command::new("sh").args([
        "-c",
        &format!(
            "AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \
             aws --endpoint-url {endpoint} dynamodb scan --table-name bench-items-tools --output json > {}",
            scanned.display()
        ),
    ]));
    let uploaded = timed(aws(&endpoint).args([
        "s3",
        "cp",
        &path_text(&scanned),
        &format!("s3://{BUCKET}/tools/items.json"),
    ]));
    report(
        &format!("{ITEMS} DynamoDB items, a table exported to S3"),
        object_size(&endpoint, "sluice/items.json"),
        sluice,
        (scan.0 + uploaded.0, scan.1.max(uploaded.1)),
        "aws dynamodb scan + aws s3 cp",
    );

    // 4. A 1 GiB object copied within S3.
    let big = scratch.join("big.bin");
    {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::fs::File::create(&big).expect("big file"));
        let block: Vec<u8> = (0..1024 * 1024).map(|index| (index % 251) as u8).collect();
        for _ in 0..BIG_OBJECT_MIB {
            out.write_all(&block).expect("write");
        }
    }
    let put = aws(&endpoint)
        .args([
            "s3",
            "cp",
            "--quiet",
            &path_text(&big),
            &format!("s3://{BUCKET}/big.bin"),
        ])
        .status();
    assert!(put.is_ok_and(|status| status.success()));
    let _ = std::fs::remove_file(&big);
    let sluice = sluice_child("s3", &endpoint, "");
    let tools = timed(aws(&endpoint).args([
        "s3",
        "cp",
        &format!("s3://{BUCKET}/big.bin"),
        &format!("s3://{BUCKET}/tools/big.bin"),
    ]));
    report(
        "1 GiB object, S3 to S3",
        BIG_OBJECT_MIB * 1024 * 1024,
        sluice,
        tools,
        "aws s3 cp",
    );
    let _ = std::fs::remove_dir_all(&scratch);
}

fn path_text(path: &Path) -> String {
    path.display().to_string()
}
