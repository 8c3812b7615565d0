//! What the data-moving tests share: S3 on moto's server with a fresh bucket, the test
//! databases' addresses, and tasks made of objects' fields.

use std::sync::{
    OnceLock,
    atomic::{AtomicUsize, Ordering},
};

use sluice::runner::{AwsStorage, ObjectFields, Task, TaskKind, TaskOutcome, copy::copy_activity};

use super::moto::Moto;

/// The moto server the test binary shares.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(Moto::start)
}

pub fn postgres_url() -> String {
    std::env::var("SLUICE_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

pub fn mysql_url() -> String {
    std::env::var("SLUICE_TEST_MYSQL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned())
}

pub fn unique(name: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "sluice_{name}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn object(id: &str, fields: &[(&str, &str)]) -> ObjectFields {
    ObjectFields {
        id: id.to_owned(),
        fields: fields
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect(),
    }
}

/// The `JdbcDatabase` object for a server URL.
pub fn database(url: &str) -> ObjectFields {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (user, address) = rest.split_once('@').unwrap();
    let scheme = if scheme == "postgres" { "postgresql" } else { scheme };
    let mut fields: Vec<(&str, String)> = vec![
        ("type", "JdbcDatabase".to_owned()),
        ("connectionString", format!("jdbc:{scheme}://{address}")),
        ("username", user.to_owned()),
    ];
    // Loopback PostgreSQL trusts any password: one goes along, to be kept out of messages.
    if scheme == "postgresql" {
        fields.push(("*password", "never-shown".to_owned()));
    }
    let fields: Vec<(&str, &str)> = fields.iter().map(|(key, value)| (*key, &value[..])).collect();
    object("Db", &fields)
}

pub fn copy_task(input: ObjectFields, output: ObjectFields, more: Vec<ObjectFields>) -> Task {
    let mut referenced = vec![input.clone(), output.clone()];
    referenced.extend(more);
    Task {
        task_id: "task-copy".to_owned(),
        pipeline_id: "df-copy".to_owned(),
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

pub struct S3 {
    pub storage: AwsStorage,
    pub client: aws_sdk_s3::Client,
    pub bucket: String,
}

pub async fn s3() -> S3 {
    let config = moto().sdk_config().await;
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let bucket = unique("bucket").replace('_', "-");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    S3 {
        storage: AwsStorage::new(&config),
        client,
        bucket,
    }
}

impl S3 {
    /// An S3DataNode on `path` in this bucket (`path_field` filePath, directoryPath or
    /// manifestFilePath), with `more` fields.
    pub fn node(&self, id: &str, path_field: &str, path: &str, more: &[(&str, &str)]) -> ObjectFields {
        let uri = format!("s3://{}/{path}", self.bucket);
        let mut fields = vec![("type", "S3DataNode"), (path_field, uri.as_str())];
        fields.extend_from_slice(more);
        object(id, &fields)
    }

    pub async fn put(&self, key: &str, body: &str) {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .unwrap();
    }

    pub async fn get(&self, key: &str) -> String {
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        String::from_utf8(object.body.collect().await.unwrap().into_bytes().to_vec()).unwrap()
    }
}

pub async fn run(s3: &S3, task: &Task) -> TaskOutcome {
    let work = std::env::temp_dir().join(unique("work"));
    std::fs::create_dir_all(&work).unwrap();
    let outcome = copy_activity(&s3.storage, task, &work).await;
    let _ = std::fs::remove_dir_all(&work);
    outcome
}
