//! The runner's data transfers: scripts and staged inputs come from S3, staged outputs and
//! logs go to it, and copies read and write DynamoDB tables' items. A local path (allowed
//! for `stdout`/`stderr` with `workerGroup`) is written directly by the executor; this port
//! only sees `s3://` URIs and table names.

use std::{future::Future, path::Path};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{ReturnConsumedCapacity, WriteRequest};
use aws_sdk_s3::{Client, primitives::ByteStream};

use crate::{
    cloud::{dynamodb::RegionalDynamoDb, probe::TableRef},
    data::{
        database::{DatabaseLookup, Endpoint},
        items::Item,
    },
};

/// A transfer that did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    #[error("\"{uri}\" is not an S3 URI: write it as s3://bucket/key")]
    NotS3 { uri: String },
    #[error("{action} {uri}: {message}")]
    Transfer {
        action: &'static str,
        uri: String,
        message: String,
    },
    #[error("{path}: {message}")]
    Local { path: String, message: String },
}

/// Moves files between S3 URIs and local paths.
pub trait Storage: Send + Sync {
    /// Downloads one object to `to`.
    fn download(&self, uri: &str, to: &Path) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Downloads every object under the prefix `uri` into `dir`, keeping the key's path below
    /// the prefix; returns how many.
    fn download_prefix(&self, uri: &str, dir: &Path) -> impl Future<Output = Result<usize, StorageError>> + Send;

    /// Uploads the file `from` as the object `uri`, encrypted as `encryption` says.
    fn upload(
        &self,
        from: &Path,
        uri: &str,
        encryption: Encryption,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Every object under the prefix `uri` (`dir` lists `dir/...`), as `s3://` URIs.
    fn list(&self, uri: &str) -> impl Future<Output = Result<Vec<String>, StorageError>> + Send;

    /// Copies the object `from` to `to` inside the store, without passing through here,
    /// encrypted as `encryption` says.
    fn copy(
        &self,
        from: &str,
        to: &str,
        encryption: Encryption,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// The DynamoDB table's provisioned capacity and key; an error when it is not there.
    fn table_capacity(&self, table: &TableRef) -> impl Future<Output = Result<TableCapacity, StorageError>> + Send;

    /// Up to `limit` of the table's items from `start` (the beginning when `None`).
    fn scan_table(
        &self,
        table: &TableRef,
        start: Option<Item>,
        limit: i32,
    ) -> impl Future<Output = Result<ScanPage, StorageError>> + Send;

    /// Writes up to 25 items in one request; what DynamoDB left unwritten comes back.
    fn write_items(
        &self,
        table: &TableRef,
        items: Vec<Item>,
    ) -> impl Future<Output = Result<WrittenItems, StorageError>> + Send;

    /// Where an RDS instance or a Redshift cluster named by its id answers.
    fn database_endpoint(&self, lookup: &DatabaseLookup)
    -> impl Future<Output = Result<Endpoint, StorageError>> + Send;
}

/// How an object Sluice writes is encrypted at rest: an S3DataNode's `s3EncryptionType`,
/// `SERVER_SIDE_ENCRYPTION` (S3-managed keys, AWS's default) or `NONE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encryption {
    #[default]
    ServerSide,
    None,
}

impl Encryption {
    /// A node's `s3EncryptionType`; the default when it has none.
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        match value.map(str::trim) {
            None | Some("") => Ok(Self::ServerSide),
            Some(text) if text.eq_ignore_ascii_case("SERVER_SIDE_ENCRYPTION") => Ok(Self::ServerSide),
            Some(text) if text.eq_ignore_ascii_case("NONE") => Ok(Self::None),
            Some(other) => Err(format!(
                "s3EncryptionType \"{other}\" is not SERVER_SIDE_ENCRYPTION or NONE"
            )),
        }
    }

    fn header(self) -> Option<aws_sdk_s3::types::ServerSideEncryption> {
        match self {
            Self::ServerSide => Some(aws_sdk_s3::types::ServerSideEncryption::Aes256),
            Self::None => None,
        }
    }
}

/// Where single requests stop and multipart transfers begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferLimits {
    /// Files larger than this are uploaded in parts.
    pub upload_in_parts_above: u64,
    /// The size of an uploaded part (S3: at least 5 MiB but the last).
    pub upload_part: u64,
    /// Objects larger than this are copied in parts (S3: CopyObject takes up to 5 GiB).
    pub copy_in_parts_above: u64,
    /// The size of a copied part (S3: at most 5 GiB).
    pub copy_part: u64,
}

impl Default for TransferLimits {
    fn default() -> Self {
        const MIB: u64 = 1024 * 1024;
        Self {
            upload_in_parts_above: 256 * MIB,
            upload_part: 64 * MIB,
            copy_in_parts_above: 5 * 1024 * MIB,
            copy_part: 512 * MIB,
        }
    }
}

/// A DynamoDB table's provisioned capacity (`None` on demand) and key attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct TableCapacity {
    pub read: Option<f64>,
    pub write: Option<f64>,
    pub key: Vec<String>,
}

/// A page of a Scan.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanPage {
    pub items: Vec<Item>,
    /// Where the next page starts; `None` at the end of the table.
    pub next: Option<Item>,
    /// Read capacity units the page consumed, as DynamoDB reported them.
    pub consumed: Option<f64>,
}

/// What a BatchWriteItem did.
#[derive(Debug, Clone, PartialEq)]
pub struct WrittenItems {
    /// The items DynamoDB did not write this time (throttled); to send again.
    pub unprocessed: Vec<Item>,
    /// Write capacity units consumed, as DynamoDB reported them.
    pub consumed: Option<f64>,
}

/// A prefix as a folder: `dir` becomes `dir/`, the bucket root stays empty.
pub fn folder_prefix(prefix: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_owned()
    } else {
        format!("{prefix}/")
    }
}

/// `s3://bucket/key` as (bucket, key); the key may be empty.
pub fn split_s3_uri(uri: &str) -> Result<(&str, &str), StorageError> {
    let not_s3 = || StorageError::NotS3 { uri: uri.to_owned() };
    let rest = uri
        .strip_prefix("s3://")
        .or_else(|| uri.strip_prefix("s3n://"))
        .or_else(|| uri.strip_prefix("s3a://"))
        .ok_or_else(not_s3)?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(not_s3());
    }
    Ok((bucket, key))
}

/// The path of `key` below `prefix`, made of plain names only (no `..`, no absolute path), or
/// `None` for a folder marker or a key that would leave the staging folder.
pub fn relative_key<'k>(prefix: &str, key: &'k str) -> Option<&'k str> {
    let relative = key.strip_prefix(prefix)?.trim_start_matches('/');
    if relative.is_empty() || relative.ends_with('/') {
        return None;
    }
    let safe = relative
        .split('/')
        .all(|part| !part.is_empty() && part != "." && part != "..");
    safe.then_some(relative)
}

/// A storage that has nothing and refuses every transfer: for stages and tests that must
/// not touch S3.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoStorage;

impl Storage for NoStorage {
    async fn download(&self, uri: &str, _: &Path) -> Result<(), StorageError> {
        Err(StorageError::NotS3 { uri: uri.to_owned() })
    }

    async fn download_prefix(&self, uri: &str, _: &Path) -> Result<usize, StorageError> {
        Err(StorageError::NotS3 { uri: uri.to_owned() })
    }

    async fn upload(&self, _: &Path, uri: &str, _: Encryption) -> Result<(), StorageError> {
        Err(StorageError::NotS3 { uri: uri.to_owned() })
    }

    async fn list(&self, uri: &str) -> Result<Vec<String>, StorageError> {
        Err(StorageError::NotS3 { uri: uri.to_owned() })
    }

    async fn copy(&self, from: &str, _: &str, _: Encryption) -> Result<(), StorageError> {
        Err(StorageError::NotS3 { uri: from.to_owned() })
    }

    async fn table_capacity(&self, table: &TableRef) -> Result<TableCapacity, StorageError> {
        Err(no_tables(table))
    }

    async fn scan_table(&self, table: &TableRef, _: Option<Item>, _: i32) -> Result<ScanPage, StorageError> {
        Err(no_tables(table))
    }

    async fn write_items(&self, table: &TableRef, _: Vec<Item>) -> Result<WrittenItems, StorageError> {
        Err(no_tables(table))
    }

    async fn database_endpoint(&self, lookup: &DatabaseLookup) -> Result<Endpoint, StorageError> {
        Err(StorageError::Transfer {
            action: "look up",
            uri: lookup.describe(),
            message: "this storage reaches no AWS account".to_owned(),
        })
    }
}

fn no_tables(table: &TableRef) -> StorageError {
    StorageError::Transfer {
        action: "reach",
        uri: format!("DynamoDB table {}", table.name),
        message: "this storage reaches no DynamoDB tables".to_owned(),
    }
}

/// S3 and DynamoDB through the SDK; S3 with path-style addressing when the endpoint is
/// overridden (moto, LocalStack), DynamoDB in the region a table names.
#[derive(Debug, Clone)]
pub struct AwsStorage {
    client: Client,
    tables: std::sync::Arc<RegionalDynamoDb>,
    limits: TransferLimits,
    /// For the rare lookup of a database by id, whose clients are made when asked.
    config: SdkConfig,
}

impl AwsStorage {
    pub fn new(config: &SdkConfig) -> Self {
        Self::with_limits(config, TransferLimits::default())
    }

    pub fn with_limits(config: &SdkConfig, limits: TransferLimits) -> Self {
        let builder = aws_sdk_s3::config::Builder::from(config).force_path_style(config.endpoint_url().is_some());
        Self {
            client: Client::from_conf(builder.build()),
            tables: std::sync::Arc::new(RegionalDynamoDb::new(config)),
            limits,
            config: config.clone(),
        }
    }

    /// The RDS instance's endpoint, engine and database name.
    async fn rds_endpoint(&self, id: &str, region: Option<&str>) -> Result<Endpoint, StorageError> {
        let what = format!("RDS instance {id}");
        let mut builder = aws_sdk_rds::config::Builder::from(&self.config);
        if let Some(region) = region {
            builder = builder.region(aws_sdk_rds::config::Region::new(region.to_owned()));
        }
        let answer = aws_sdk_rds::Client::from_conf(builder.build())
            .describe_db_instances()
            .db_instance_identifier(id)
            .send()
            .await
            .map_err(|error| transfer("look up", &what, error))?;
        let not_ready = |message: String| lookup_failed(&what, message);
        let instance = answer
            .db_instances()
            .first()
            .ok_or_else(|| not_ready("no such instance".to_owned()))?;
        let engine = instance.engine().unwrap_or_default();
        let scheme = Endpoint::scheme_of_engine(engine).ok_or_else(|| {
            not_ready(format!(
                "it runs {engine}; Sluice speaks to PostgreSQL, MySQL and MariaDB (and their Aurora kinds)"
            ))
        })?;
        let endpoint = instance.endpoint().ok_or_else(|| {
            not_ready(format!(
                "it has no endpoint yet (status {})",
                instance.db_instance_status().unwrap_or("unknown")
            ))
        })?;
        Ok(Endpoint {
            scheme,
            host: endpoint.address().unwrap_or_default().to_owned(),
            port: endpoint
                .port()
                .and_then(|port| u16::try_from(port).ok())
                .unwrap_or(if scheme == "mysql" { 3306 } else { 5432 }),
            database: instance.db_name().map(str::to_owned),
        })
    }

    /// The Redshift cluster's endpoint and database name.
    async fn redshift_endpoint(&self, id: &str, region: Option<&str>) -> Result<Endpoint, StorageError> {
        let what = format!("Redshift cluster {id}");
        let mut builder = aws_sdk_redshift::config::Builder::from(&self.config);
        if let Some(region) = region {
            builder = builder.region(aws_sdk_redshift::config::Region::new(region.to_owned()));
        }
        let answer = aws_sdk_redshift::Client::from_conf(builder.build())
            .describe_clusters()
            .cluster_identifier(id)
            .send()
            .await
            .map_err(|error| transfer("look up", &what, error))?;
        let not_ready = |message: String| lookup_failed(&what, message);
        let cluster = answer
            .clusters()
            .first()
            .ok_or_else(|| not_ready("no such cluster".to_owned()))?;
        let endpoint = cluster.endpoint().ok_or_else(|| {
            not_ready(format!(
                "it has no endpoint yet (status {})",
                cluster.cluster_status().unwrap_or("unknown")
            ))
        })?;
        Ok(Endpoint {
            scheme: "redshift",
            host: endpoint.address().unwrap_or_default().to_owned(),
            port: endpoint
                .port()
                .and_then(|port| u16::try_from(port).ok())
                .unwrap_or(5439),
            database: cluster.db_name().map(str::to_owned),
        })
    }

    /// A multipart upload of `from` in parts read straight from the file; aborted if a
    /// part fails, so no half object is left behind.
    async fn upload_in_parts(
        &self,
        from: &Path,
        uri: &str,
        size: u64,
        encryption: Encryption,
    ) -> Result<(), StorageError> {
        let (bucket, key) = split_s3_uri(uri)?;
        let upload_id = self.start_multipart(bucket, key, encryption, uri).await?;
        let part_size = self.limits.upload_part.max(1);
        let mut parts = Vec::new();
        let mut offset = 0u64;
        let mut number = 1i32;
        let result = async {
            while offset < size {
                let length = part_size.min(size - offset);
                let body = ByteStream::read_from()
                    .path(from)
                    .offset(offset)
                    .length(aws_smithy_types::byte_stream::Length::Exact(length))
                    .build()
                    .await
                    .map_err(|error| local(from, error))?;
                let part = self
                    .client
                    .upload_part()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .body(body)
                    .send()
                    .await
                    .map_err(|error| transfer("upload", uri, error))?;
                parts.push(
                    aws_sdk_s3::types::CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(part.e_tag().map(str::to_owned))
                        .build(),
                );
                offset += length;
                number += 1;
            }
            self.complete(bucket, key, &upload_id, parts, uri).await
        }
        .await;
        if result.is_err() {
            self.abort(bucket, key, &upload_id).await;
        }
        result
    }

    /// A multipart copy of an object larger than CopyObject takes, part by part inside S3.
    async fn copy_in_parts(&self, from: &str, to: &str, size: u64, encryption: Encryption) -> Result<(), StorageError> {
        let (from_bucket, from_key) = split_s3_uri(from)?;
        let (bucket, key) = split_s3_uri(to)?;
        let source = format!("{from_bucket}/{}", encode_key(from_key));
        let upload_id = self.start_multipart(bucket, key, encryption, from).await?;
        let part_size = self.limits.copy_part.max(1);
        let result = async {
            let mut parts = Vec::new();
            let mut offset = 0u64;
            let mut number = 1i32;
            while offset < size {
                let end = (offset + part_size).min(size) - 1;
                let part = self
                    .client
                    .upload_part_copy()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .copy_source(&source)
                    .copy_source_range(format!("bytes={offset}-{end}"))
                    .send()
                    .await
                    .map_err(|error| transfer("copy", from, error))?;
                parts.push(
                    aws_sdk_s3::types::CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(
                            part.copy_part_result()
                                .and_then(|result| result.e_tag())
                                .map(str::to_owned),
                        )
                        .build(),
                );
                offset = end + 1;
                number += 1;
            }
            self.complete(bucket, key, &upload_id, parts, from).await
        }
        .await;
        if result.is_err() {
            self.abort(bucket, key, &upload_id).await;
        }
        result
    }

    /// Starts a multipart upload of `bucket`/`key`; its id.
    async fn start_multipart(
        &self,
        bucket: &str,
        key: &str,
        encryption: Encryption,
        uri: &str,
    ) -> Result<String, StorageError> {
        let started = self
            .client
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .set_server_side_encryption(encryption.header())
            .send()
            .await
            .map_err(|error| transfer("start", uri, error))?;
        Ok(started.upload_id().unwrap_or_default().to_owned())
    }

    async fn complete(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: Vec<aws_sdk_s3::types::CompletedPart>,
        uri: &str,
    ) -> Result<(), StorageError> {
        self.client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                aws_sdk_s3::types::CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|error| transfer("complete", uri, error))?;
        Ok(())
    }

    async fn abort(&self, bucket: &str, key: &str, upload_id: &str) {
        // Best effort: a lifecycle rule for incomplete uploads catches what this misses.
        let _ = self
            .client
            .abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await;
    }
}

/// A database lookup that found nothing usable.
fn lookup_failed(what: &str, message: String) -> StorageError {
    StorageError::Transfer {
        action: "look up",
        uri: what.to_owned(),
        message,
    }
}

/// The name DynamoDB errors are reported under.
fn table_uri(table: &TableRef) -> String {
    match &table.region {
        Some(region) => format!("DynamoDB table {} in {region}", table.name),
        None => format!("DynamoDB table {}", table.name),
    }
}

/// A key as CopySource wants it: percent-encoded except for `/` and unreserved characters.
fn encode_key(key: &str) -> String {
    let mut encoded = String::with_capacity(key.len());
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'/' | b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

fn transfer(action: &'static str, uri: &str, error: impl std::error::Error) -> StorageError {
    let message = crate::error_chain(&error);
    StorageError::Transfer {
        action,
        uri: uri.to_owned(),
        message,
    }
}

fn local(path: &Path, error: impl std::fmt::Display) -> StorageError {
    StorageError::Local {
        path: path.display().to_string(),
        message: error.to_string(),
    }
}

impl Storage for AwsStorage {
    async fn download(&self, uri: &str, to: &Path) -> Result<(), StorageError> {
        let (bucket, key) = split_s3_uri(uri)?;
        let object = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|error| transfer("download", uri, error))?;
        if let Some(parent) = to.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|error| local(parent, error))?;
        }
        // Streamed to the file: memory holds a buffer, not the object.
        let mut file = tokio::fs::File::create(to).await.map_err(|error| local(to, error))?;
        let mut body = object.body.into_async_read();
        tokio::io::copy(&mut body, &mut file)
            .await
            .map_err(|error| transfer("download", uri, error))?;
        tokio::io::AsyncWriteExt::flush(&mut file)
            .await
            .map_err(|error| local(to, error))
    }

    async fn download_prefix(&self, uri: &str, dir: &Path) -> Result<usize, StorageError> {
        // `dir` lists `dir/...`, not `dir2/...`.
        let prefix = folder_prefix(split_s3_uri(uri)?.1);
        let mut count = 0usize;
        for object_uri in self.list(uri).await? {
            let key = split_s3_uri(&object_uri)?.1;
            let Some(relative) = relative_key(&prefix, key) else {
                continue;
            };
            self.download(&object_uri, &dir.join(relative)).await?;
            count = count.saturating_add(1);
        }
        Ok(count)
    }

    async fn list(&self, uri: &str) -> Result<Vec<String>, StorageError> {
        let (bucket, prefix) = split_s3_uri(uri)?;
        let prefix = folder_prefix(prefix);
        let mut token: Option<String> = None;
        let mut found = Vec::new();
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(&prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|error| transfer("list", uri, error))?;
            found.extend(
                page.contents()
                    .iter()
                    .filter_map(|object| object.key())
                    .filter(|key| !key.ends_with('/'))
                    .map(|key| format!("s3://{bucket}/{key}")),
            );
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => return Ok(found),
            }
        }
    }

    async fn copy(&self, from: &str, to: &str, encryption: Encryption) -> Result<(), StorageError> {
        let (from_bucket, from_key) = split_s3_uri(from)?;
        let (to_bucket, to_key) = split_s3_uri(to)?;
        let size = self
            .client
            .head_object()
            .bucket(from_bucket)
            .key(from_key)
            .send()
            .await
            .map_err(|error| transfer("copy", from, error))?
            .content_length()
            .and_then(|length| u64::try_from(length).ok())
            .unwrap_or_default();
        if size > self.limits.copy_in_parts_above {
            return self.copy_in_parts(from, to, size, encryption).await;
        }
        // CopySource is `bucket/key` with the key URL-encoded.
        let source = format!("{from_bucket}/{}", encode_key(from_key));
        self.client
            .copy_object()
            .copy_source(source)
            .bucket(to_bucket)
            .key(to_key)
            .set_server_side_encryption(encryption.header())
            .send()
            .await
            .map_err(|error| transfer("copy", from, error))?;
        Ok(())
    }

    async fn upload(&self, from: &Path, uri: &str, encryption: Encryption) -> Result<(), StorageError> {
        let size = tokio::fs::metadata(from)
            .await
            .map_err(|error| local(from, error))?
            .len();
        if size > self.limits.upload_in_parts_above {
            return self.upload_in_parts(from, uri, size, encryption).await;
        }
        let (bucket, key) = split_s3_uri(uri)?;
        // Read from the file as it is sent.
        let body = ByteStream::from_path(from).await.map_err(|error| local(from, error))?;
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body)
            .set_server_side_encryption(encryption.header())
            .send()
            .await
            .map_err(|error| transfer("upload", uri, error))?;
        Ok(())
    }

    async fn table_capacity(&self, table: &TableRef) -> Result<TableCapacity, StorageError> {
        let answer = self
            .tables
            .client(table.region.as_deref())
            .describe_table()
            .table_name(&table.name)
            .send()
            .await
            .map_err(|error| transfer("describe", &table_uri(table), error))?;
        let description = answer.table();
        let provisioned = description.and_then(|description| description.provisioned_throughput());
        // On-demand tables report 0 units.
        let units = |units: Option<i64>| units.filter(|units| *units > 0).map(|units| units as f64);
        Ok(TableCapacity {
            read: units(provisioned.and_then(|provisioned| provisioned.read_capacity_units())),
            write: units(provisioned.and_then(|provisioned| provisioned.write_capacity_units())),
            key: description
                .map(|description| {
                    description
                        .key_schema()
                        .iter()
                        .map(|key| key.attribute_name().to_owned())
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    async fn scan_table(&self, table: &TableRef, start: Option<Item>, limit: i32) -> Result<ScanPage, StorageError> {
        let page = self
            .tables
            .client(table.region.as_deref())
            .scan()
            .table_name(&table.name)
            .limit(limit.max(1))
            .set_exclusive_start_key(start)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|error| transfer("scan", &table_uri(table), error))?;
        Ok(ScanPage {
            consumed: page.consumed_capacity().and_then(|consumed| consumed.capacity_units()),
            next: page.last_evaluated_key.filter(|key| !key.is_empty()),
            items: page.items.unwrap_or_default(),
        })
    }

    async fn database_endpoint(&self, lookup: &DatabaseLookup) -> Result<Endpoint, StorageError> {
        match lookup {
            DatabaseLookup::RdsInstance { id, region } => self.rds_endpoint(id, region.as_deref()).await,
            DatabaseLookup::RedshiftCluster { id, region } => self.redshift_endpoint(id, region.as_deref()).await,
        }
    }

    async fn write_items(&self, table: &TableRef, items: Vec<Item>) -> Result<WrittenItems, StorageError> {
        if items.is_empty() {
            return Ok(WrittenItems {
                unprocessed: Vec::new(),
                consumed: Some(0.0),
            });
        }
        let requests = items
            .into_iter()
            .map(|item| {
                let put = aws_sdk_dynamodb::types::PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(|error| transfer("write", &table_uri(table), error))?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        let answer = self
            .tables
            .client(table.region.as_deref())
            .batch_write_item()
            .request_items(&table.name, requests)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|error| transfer("write", &table_uri(table), error))?;
        let consumed = answer
            .consumed_capacity()
            .iter()
            .filter_map(|consumed| consumed.capacity_units())
            .reduce(|total, units| total + units);
        let unprocessed = answer
            .unprocessed_items
            .and_then(|mut tables| tables.remove(&table.name))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|request| request.put_request.map(|put| put.item))
            .collect();
        Ok(WrittenItems { unprocessed, consumed })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn s3_uris_split_into_bucket_and_key() {
        assert_eq!(split_s3_uri("s3://b/a/c.txt"), Ok(("b", "a/c.txt")));
        assert_eq!(split_s3_uri("s3://b"), Ok(("b", "")));
        assert!(matches!(split_s3_uri("/tmp/x"), Err(StorageError::NotS3 { .. })));
        assert!(matches!(split_s3_uri("s3:///k"), Err(StorageError::NotS3 { .. })));
    }

    #[test]
    fn copy_sources_are_percent_encoded_but_keep_their_slashes() {
        assert_eq!(encode_key("in/2026 01/é+x.csv"), "in/2026%2001/%C3%A9%2Bx.csv");
        assert_eq!(folder_prefix("in"), "in/");
        assert_eq!(folder_prefix(""), "");
    }

    #[test]
    fn keys_that_would_leave_the_staging_folder_are_skipped() {
        assert_eq!(relative_key("in/", "in/a/b.csv"), Some("a/b.csv"));
        assert_eq!(relative_key("in/", "in/sub/"), None);
        assert_eq!(relative_key("in/", "in/../etc/passwd"), None);
        assert_eq!(relative_key("in/", "in//x"), Some("x"));
        assert_eq!(relative_key("in/", "other/x"), None);
    }

    proptest! {
        #[test]
        fn reading_any_uri_or_key_never_panics(uri in ".{0,40}", key in ".{0,40}") {
            let _ = split_s3_uri(&uri);
            if let Some(relative) = relative_key("p/", &key) {
                prop_assert!(!relative.split('/').any(|part| part == ".."));
            }
        }
    }
}
