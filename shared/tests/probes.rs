//! System-managed preconditions against real S3 and DynamoDB APIs (moto's server): each
//! check true and false, with the data created through the SDK as a pipeline would.

mod support;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use aws_sdk_s3::primitives::ByteStream;
use sluice::cloud::{AwsProbe, Check, Probe, ProbeError, Verdict, notify::Notifier, sns::SnsNotifier};
use support::moto::Moto;

/// A moto server, the probe under test, and plain SDK clients to arrange data with.
struct Cloud {
    // Kept alive for the test; stops the server when dropped.
    moto: Moto,
    config: SdkConfig,
    probe: AwsProbe,
    s3: aws_sdk_s3::Client,
    dynamodb: aws_sdk_dynamodb::Client,
}

impl Cloud {
    async fn start() -> Self {
        let moto = Moto::start();
        let config = moto.sdk_config().await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        );
        Self {
            probe: AwsProbe::new(&config),
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            s3,
            config,
            moto,
        }
    }

    async fn create_bucket(&self, bucket: &str) {
        self.s3
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .unwrap_or_else(|error| panic!("create bucket {bucket}: {error:?}"));
    }

    async fn put_object(&self, bucket: &str, key: &str) {
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from_static(b"ready"))
            .send()
            .await
            .unwrap_or_else(|error| panic!("put s3://{bucket}/{key}: {error:?}"));
    }

    fn dynamodb_in(&self, region: &str) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&self.config)
                .region(aws_sdk_dynamodb::config::Region::new(region.to_owned()))
                .build(),
        )
    }

    async fn create_table(client: &aws_sdk_dynamodb::Client, table: &str) {
        let attribute = AttributeDefinition::builder()
            .attribute_name("id")
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap_or_else(|error| panic!("attribute definition: {error:?}"));
        let key = KeySchemaElement::builder()
            .attribute_name("id")
            .key_type(KeyType::Hash)
            .build()
            .unwrap_or_else(|error| panic!("key schema: {error:?}"));
        client
            .create_table()
            .table_name(table)
            .attribute_definitions(attribute)
            .key_schema(key)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .unwrap_or_else(|error| panic!("create table {table}: {error:?}"));
    }

    async fn put_item(&self, table: &str) {
        self.dynamodb
            .put_item()
            .table_name(table)
            .item("id", AttributeValue::S("order-1".to_owned()))
            .send()
            .await
            .unwrap_or_else(|error| panic!("put item into {table}: {error:?}"));
    }

    async fn check(&self, check: &Check) -> Result<Verdict, ProbeError> {
        self.probe.check(check).await
    }
}

fn key_exists(uri: &str) -> Check {
    Check::S3KeyExists { s3_key: uri.to_owned() }
}

fn prefix_not_empty(uri: &str) -> Check {
    Check::S3PrefixNotEmpty {
        s3_prefix: uri.to_owned(),
    }
}

fn table_exists(table: &str, region: Option<&str>) -> Check {
    Check::DynamoDBTableExists {
        table: table.to_owned(),
        region: region.map(str::to_owned),
    }
}

fn data_exists(table: &str, region: Option<&str>) -> Check {
    Check::DynamoDBDataExists {
        table: table.to_owned(),
        region: region.map(str::to_owned),
    }
}

fn not_yet(reason: &str) -> Result<Verdict, ProbeError> {
    Ok(Verdict::False {
        reason: reason.to_owned(),
    })
}

/// The error of a check that must fail without retrying, or a panic saying what came instead.
fn final_error(answer: Result<Verdict, ProbeError>) -> ProbeError {
    match answer {
        Err(error) if !error.is_retryable() => error,
        other => panic!("expected a final error, got {other:?}"),
    }
}

#[tokio::test]
async fn key_exists_is_true_once_the_object_is_put() {
    // Given a bucket
    let cloud = Cloud::start().await;
    cloud.create_bucket("landing").await;
    let check = key_exists("s3://landing/2024/01/_SUCCESS");
    assert_eq!(
        cloud.check(&check).await,
        not_yet("s3://landing/2024/01/_SUCCESS does not exist yet")
    );
    // When the marker is written
    cloud.put_object("landing", "2024/01/_SUCCESS").await;
    // Then the key exists
    assert_eq!(cloud.check(&check).await, Ok(Verdict::True));
}

#[tokio::test]
async fn key_exists_finds_keys_with_spaces_and_non_ascii_characters() {
    let cloud = Cloud::start().await;
    cloud.create_bucket("landing").await;
    cloud.put_object("landing", "in box/données 1.csv").await;
    let answer = cloud.check(&key_exists("s3://landing/in box/données 1.csv")).await;
    assert_eq!(answer, Ok(Verdict::True));
}

#[tokio::test]
async fn key_exists_is_false_for_a_prefix_of_an_existing_key() {
    // Given an object under data/
    let cloud = Cloud::start().await;
    cloud.create_bucket("landing").await;
    cloud.put_object("landing", "data/part-0").await;
    // When the check names the folder, not the object
    let answer = cloud.check(&key_exists("s3://landing/data")).await;
    // Then the key does not exist
    assert_eq!(answer, not_yet("s3://landing/data does not exist yet"));
}

#[tokio::test]
async fn key_exists_is_false_and_says_so_when_the_bucket_does_not_exist() {
    let cloud = Cloud::start().await;
    let answer = cloud.check(&key_exists("s3://no-such-bucket/marker")).await;
    assert_eq!(
        answer,
        not_yet("s3://no-such-bucket/marker does not exist yet: bucket no-such-bucket does not exist")
    );
}

#[tokio::test]
async fn prefix_not_empty_is_false_while_objects_exist_only_under_another_prefix() {
    // Given objects under other/ and under a longer sibling name
    let cloud = Cloud::start().await;
    cloud.create_bucket("landing").await;
    cloud.put_object("landing", "other/part-0").await;
    let check = prefix_not_empty("s3://landing/input/");
    // Then input/ is empty
    assert_eq!(
        cloud.check(&check).await,
        not_yet("no object under s3://landing/input/ exists yet")
    );
    // When an object appears under input/
    cloud.put_object("landing", "input/part-0").await;
    // Then the prefix is not empty
    assert_eq!(cloud.check(&check).await, Ok(Verdict::True));
}

#[tokio::test]
async fn prefix_not_empty_on_an_empty_bucket_is_false_and_true_once_anything_is_in_it() {
    let cloud = Cloud::start().await;
    cloud.create_bucket("landing").await;
    let check = prefix_not_empty("s3://landing");
    assert_eq!(
        cloud.check(&check).await,
        not_yet("no object under s3://landing/ exists yet")
    );
    cloud.put_object("landing", "anything").await;
    assert_eq!(cloud.check(&check).await, Ok(Verdict::True));
}

#[tokio::test]
async fn prefix_not_empty_is_false_and_says_so_when_the_bucket_does_not_exist() {
    let cloud = Cloud::start().await;
    let answer = cloud.check(&prefix_not_empty("s3://no-such-bucket/input/")).await;
    assert_eq!(
        answer,
        not_yet("s3://no-such-bucket/input/ does not exist yet: bucket no-such-bucket does not exist")
    );
}

#[tokio::test]
async fn malformed_s3_uris_are_final_errors_naming_the_check() {
    // Given values that are not S3 locations
    let cloud = Cloud::start().await;
    for (check, expected) in [
        (
            key_exists("landing/marker"),
            "S3KeyExists landing/marker: \"landing/marker\" is not an S3 location",
        ),
        (key_exists("s3://landing/"), "names a bucket but no key"),
        (key_exists("s3:/landing/marker"), "two slashes"),
        (prefix_not_empty("s3://la/input/"), "too short"),
        (prefix_not_empty("s3://"), "names no bucket"),
    ] {
        // When they are checked
        let error = final_error(cloud.check(&check).await);
        // Then the error says what is wrong, and no AWS code is involved
        assert!(error.to_string().contains(expected), "{check}: {error}");
        assert_eq!(error.code(), None);
    }
}

#[tokio::test]
async fn table_exists_is_false_until_the_table_is_created() {
    let cloud = Cloud::start().await;
    let check = table_exists("orders", None);
    assert_eq!(cloud.check(&check).await, not_yet("table orders does not exist yet"));
    Cloud::create_table(&cloud.dynamodb, "orders").await;
    assert_eq!(cloud.check(&check).await, Ok(Verdict::True));
}

#[tokio::test]
async fn data_exists_is_false_for_a_missing_table_then_an_empty_one_then_true_with_an_item() {
    // Given no table
    let cloud = Cloud::start().await;
    let check = data_exists("orders", None);
    assert_eq!(cloud.check(&check).await, not_yet("table orders does not exist yet"));
    // When the table is created empty
    Cloud::create_table(&cloud.dynamodb, "orders").await;
    assert_eq!(cloud.check(&check).await, not_yet("table orders has no items yet"));
    // When an item is written
    cloud.put_item("orders").await;
    // Then data exists
    assert_eq!(cloud.check(&check).await, Ok(Verdict::True));
}

#[tokio::test]
async fn a_table_in_another_region_is_found_only_in_that_region() {
    // Given a table in eu-west-1, while the configuration says us-east-1
    let cloud = Cloud::start().await;
    let europe = cloud.dynamodb_in("eu-west-1");
    Cloud::create_table(&europe, "orders").await;
    europe
        .put_item()
        .table_name("orders")
        .item("id", AttributeValue::S("order-1".to_owned()))
        .send()
        .await
        .unwrap_or_else(|error| panic!("put item in eu-west-1: {error:?}"));
    // Then checks naming eu-west-1 find it and its data
    assert_eq!(
        cloud.check(&table_exists("orders", Some("eu-west-1"))).await,
        Ok(Verdict::True)
    );
    assert_eq!(
        cloud.check(&data_exists("orders", Some("eu-west-1"))).await,
        Ok(Verdict::True)
    );
    // And checks in the configured region (named or not) do not
    assert_eq!(
        cloud.check(&table_exists("orders", None)).await,
        not_yet("table orders does not exist yet")
    );
    assert_eq!(
        cloud.check(&data_exists("orders", Some("us-east-1"))).await,
        not_yet("table orders in us-east-1 does not exist yet")
    );
}

#[tokio::test]
async fn malformed_table_names_and_regions_are_final_errors() {
    let cloud = Cloud::start().await;
    for (check, expected) in [
        (table_exists("", None), "DynamoDBTableExists : table name \"\" is empty"),
        (data_exists("orders/2024", None), "may contain only"),
        (
            table_exists("orders", Some("Europe")),
            "region \"Europe\" is not an AWS region name",
        ),
    ] {
        let error = final_error(cloud.check(&check).await);
        assert!(error.to_string().contains(expected), "{check}: {error}");
    }
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_retryable_network_error() {
    // Given a configuration pointing at a port where nothing listens, without SDK retries
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|error| panic!("no free port: {error}"));
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new("test", "test", None, None, "test"))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let probe = AwsProbe::new(&config);
    for check in [key_exists("s3://landing/marker"), table_exists("orders", None)] {
        // When a check is made
        let answer = probe.check(&check).await;
        // Then it fails, retryably, naming the check
        let Err(error) = answer else {
            panic!("{check}: expected a network error, got {answer:?}")
        };
        assert!(error.is_retryable(), "{error}");
        assert_eq!(error.code(), Some("NetworkError"), "{error}");
        assert!(
            error
                .to_string()
                .starts_with(&format!("{check}: NetworkError (could not reach"))
        );
    }
}

#[tokio::test]
async fn an_alarm_topic_is_made_once_and_receives_what_is_published() {
    // Given moto's SNS and the notifier
    let cloud = Cloud::start().await;
    let notifier = SnsNotifier::new(&cloud.config);
    // When the topic is ensured twice and a message with a multi-line subject is published
    let arn = notifier
        .ensure_topic("alarms")
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let again = notifier
        .ensure_topic("alarms")
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let id = notifier
        .publish(&arn, "Copy failed\nat 06:00", "Copy: exit status 3")
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    // Then there is one topic, and SNS holds the message with a subject it accepts
    assert_eq!(arn, again);
    assert!(arn.ends_with(":alarms"), "{arn}");
    let messages = cloud.moto.sns_messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].topic_arn, arn);
    assert_eq!(messages[0].message_id, id);
    assert_eq!(messages[0].message, "Copy: exit status 3");
    assert_eq!(messages[0].subject.as_deref(), Some("Copy failed at 06:00"));
}

#[tokio::test]
async fn publishing_to_a_missing_topic_is_refused_and_not_retryable() {
    let cloud = Cloud::start().await;
    let notifier = SnsNotifier::new(&cloud.config);
    let missing = "arn:aws:sns:us-east-1:123456789012:nobody";
    let error = notifier
        .publish(missing, "subject", "message")
        .await
        .expect_err("a missing topic cannot take messages");
    assert!(!error.is_retryable(), "{error}");
    assert!(
        error
            .to_string()
            .starts_with(&format!("SNS Publish {missing}: NotFound")),
        "{error}"
    );
}
