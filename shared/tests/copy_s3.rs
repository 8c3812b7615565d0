//! S3 to S3 copies and uploads on moto's server beyond one request: objects larger than
//! the single-request limits go in parts (limits lowered here so a test moves megabytes,
//! not gigabytes), and objects are written with the encryption their node asks for.

mod support;

use aws_sdk_s3::types::ServerSideEncryption;
use sluice::runner::{AwsStorage, Encryption, Storage, TaskStatus, TransferLimits};
use support::data::{copy_task, moto, object, run, s3, unique};

const MIB: u64 = 1024 * 1024;

/// Bytes that do not repeat within a part, so a misplaced part shows.
fn pattern(size: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect()
}

#[tokio::test]
async fn large_objects_are_uploaded_and_copied_in_parts_byte_for_byte() {
    // Given a storage that goes multipart above 6 MiB, in 5 MiB parts, and a 13 MiB file
    let s3 = s3().await;
    let config = moto().sdk_config().await;
    let storage = AwsStorage::with_limits(
        &config,
        TransferLimits {
            upload_in_parts_above: 6 * MIB,
            upload_part: 5 * MIB,
            copy_in_parts_above: 6 * MIB,
            copy_part: 5 * MIB,
        },
    );
    let data = pattern(13 * MIB as usize);
    let dir = std::env::temp_dir().join(unique("parts"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("big.bin");
    std::fs::write(&file, &data).unwrap();
    let uploaded = format!("s3://{}/big/one.bin", s3.bucket);
    let copied = format!("s3://{}/big/two.bin", s3.bucket);
    // When it is uploaded, then copied
    storage.upload(&file, &uploaded, Encryption::ServerSide).await.unwrap();
    storage.copy(&uploaded, &copied, Encryption::ServerSide).await.unwrap();
    // Then both objects are the file, each made of three parts
    for key in ["big/one.bin", "big/two.bin"] {
        let object = s3.client.get_object().bucket(&s3.bucket).key(key).send().await.unwrap();
        let etag = object.e_tag().unwrap_or_default().to_owned();
        assert!(etag.trim_matches('"').ends_with("-3"), "{key} in three parts: {etag}");
        let body = object.body.collect().await.unwrap().into_bytes();
        assert!(body.as_ref() == data.as_slice(), "{key} differs from the file");
    }
    // And nothing is left half uploaded
    let pending = s3
        .client
        .list_multipart_uploads()
        .bucket(&s3.bucket)
        .send()
        .await
        .unwrap();
    assert!(pending.uploads().is_empty(), "{:?}", pending.uploads());
    // A copy from an object that is not there fails naming it, and leaves no upload behind
    let missing = format!("s3://{}/big/missing.bin", s3.bucket);
    let error = storage
        .copy(&missing, &copied, Encryption::ServerSide)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("big/missing.bin"), "{error}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn copies_are_encrypted_at_rest_unless_the_node_says_none() {
    let s3 = s3().await;
    s3.put("in/a.csv", "1,a\n").await;
    let input = object(
        "In",
        &[
            ("type", "S3DataNode"),
            ("filePath", &format!("s3://{}/in/a.csv", s3.bucket)),
        ],
    );
    let output = |key: &str, encryption: Option<&str>| {
        let uri = format!("s3://{}/{key}", s3.bucket);
        let mut fields = vec![("type", "S3DataNode"), ("filePath", uri.as_str())];
        if let Some(encryption) = encryption {
            fields.push(("s3EncryptionType", encryption));
        }
        object("Out", &fields)
    };
    // AWS's default, SERVER_SIDE_ENCRYPTION, and NONE
    for (key, encryption, expected) in [
        ("out/default.csv", None, Some(ServerSideEncryption::Aes256)),
        (
            "out/sse.csv",
            Some("SERVER_SIDE_ENCRYPTION"),
            Some(ServerSideEncryption::Aes256),
        ),
        ("out/plain.csv", Some("NONE"), None),
    ] {
        let outcome = run(&s3, &copy_task(input.clone(), output(key, encryption), vec![])).await;
        assert_eq!(outcome.status, TaskStatus::Finished, "{:?}", outcome.error_message);
        let head = s3
            .client
            .head_object()
            .bucket(&s3.bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(head.server_side_encryption().cloned(), expected, "{key}");
        assert_eq!(s3.get(key).await, "1,a\n");
    }
    // A value that is neither is refused by name
    let outcome = run(&s3, &copy_task(input, output("out/x.csv", Some("KMS")), vec![])).await;
    assert_eq!(outcome.status, TaskStatus::Failed);
    let message = outcome.error_message.unwrap_or_default();
    assert!(
        message.contains("s3EncryptionType \"KMS\" is not SERVER_SIDE_ENCRYPTION or NONE"),
        "{message}"
    );
}
