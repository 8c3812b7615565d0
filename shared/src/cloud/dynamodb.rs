//! The DynamoDB adapter for `DynamoDBTableExists` (DescribeTable) and `DynamoDBDataExists`
//! (DescribeTable, then a Scan with Limit 1 that counts instead of returning the item).
//!
//! A check that names a region is asked of a client for that region, built from the same
//! configuration and cached.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::{
    Client,
    config::Region,
    operation::{describe_table::DescribeTableError, scan::ScanError},
    types::Select,
};

use super::{
    Service,
    probe::{Check, ProbeError, TableRef, TableStatus, Verdict},
    sdk_error,
};

/// How many Scan pages `DynamoDBDataExists` reads before concluding the table is empty for
/// now. With Limit 1 and no filter, the first page normally holds the first item; DynamoDB
/// may still answer an empty page with a continuation key, so a few more are asked.
const MAX_SCAN_PAGES: usize = 4;

/// DynamoDB clients: one for the configured region, and one per region a definition
/// named, built from the same configuration and cached.
#[derive(Debug)]
pub struct RegionalDynamoDb {
    config: SdkConfig,
    default: Client,
    regional: Mutex<HashMap<String, Client>>,
}

impl RegionalDynamoDb {
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            config: config.clone(),
            default: Client::new(config),
            regional: Mutex::new(HashMap::new()),
        }
    }

    fn regional(&self) -> MutexGuard<'_, HashMap<String, Client>> {
        // The map only ever gains whole entries, so a poisoned lock still holds usable clients.
        self.regional.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The client for `region`, or the default one when none is named or it is the
    /// configured region.
    pub fn client(&self, region: Option<&str>) -> Client {
        let configured = self.config.region().map(|configured| configured.as_ref());
        match region {
            Some(region) if Some(region) != configured => self
                .regional()
                .entry(region.to_owned())
                .or_insert_with(|| {
                    Client::from_conf(
                        aws_sdk_dynamodb::config::Builder::from(&self.config)
                            .region(Region::new(region.to_owned()))
                            .build(),
                    )
                })
                .clone(),
            _ => self.default.clone(),
        }
    }
}

/// The DynamoDB checks, asked of the table's region.
#[derive(Debug)]
pub struct DynamoDbProbe {
    clients: RegionalDynamoDb,
}

impl DynamoDbProbe {
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            clients: RegionalDynamoDb::new(config),
        }
    }

    fn client(&self, region: Option<&str>) -> Client {
        self.clients.client(region)
    }

    /// `DynamoDBTableExists`: the table exists and is `ACTIVE` or `UPDATING`.
    pub async fn table_exists(&self, check: &Check, table: &TableRef) -> Result<Verdict, ProbeError> {
        describe(&self.client(table.region.as_deref()), check, table).await
    }

    /// `DynamoDBDataExists`: the table exists (as for `DynamoDBTableExists`) and a Scan
    /// finds an item.
    pub async fn data_exists(&self, check: &Check, table: &TableRef) -> Result<Verdict, ProbeError> {
        let client = self.client(table.region.as_deref());
        match describe(&client, check, table).await? {
            Verdict::True => {}
            not_usable => return Ok(not_usable),
        }
        let mut start = None;
        for _ in 0..MAX_SCAN_PAGES {
            let answer = client
                .scan()
                .table_name(&table.name)
                .limit(1)
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await;
            let page = match answer {
                Ok(page) => page,
                // Deleted between the two calls.
                Err(error)
                    if error
                        .as_service_error()
                        .is_some_and(ScanError::is_resource_not_found_exception) =>
                {
                    return Ok(Verdict::table_missing(table));
                }
                Err(error) => return Err(sdk_error(check, Service::DynamoDb, &error)),
            };
            if page.count() > 0 || !page.items().is_empty() {
                return Ok(Verdict::True);
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(Verdict::table_empty(table))
    }
}

async fn describe(client: &Client, check: &Check, table: &TableRef) -> Result<Verdict, ProbeError> {
    match client.describe_table().table_name(&table.name).send().await {
        Ok(output) => {
            let status = output
                .table()
                .and_then(|description| description.table_status())
                .map_or_else(
                    || TableStatus::Other("no status".to_owned()),
                    |status| TableStatus::parse(status.as_str()),
                );
            Ok(status.verdict(table))
        }
        Err(error)
            if error
                .as_service_error()
                .is_some_and(DescribeTableError::is_resource_not_found_exception) =>
        {
            Ok(Verdict::table_missing(table))
        }
        Err(error) => Err(sdk_error(check, Service::DynamoDb, &error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SdkConfig {
        SdkConfig::builder()
            .region(Region::new("us-east-1"))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .endpoint_url("http://127.0.0.1:5000")
            .build()
    }

    fn region_of(client: &Client) -> Option<String> {
        client.config().region().map(|region| region.as_ref().to_owned())
    }

    #[test]
    fn a_check_without_a_region_uses_the_configured_one() {
        let probe = DynamoDbProbe::new(&config());
        assert_eq!(region_of(&probe.client(None)), Some("us-east-1".to_owned()));
        assert_eq!(
            region_of(&probe.client(Some("us-east-1"))),
            Some("us-east-1".to_owned())
        );
        assert_eq!(
            probe.clients.regional().len(),
            0,
            "the configured region needs no extra client"
        );
    }

    #[test]
    fn a_named_region_gets_one_cached_client() {
        // Given a probe configured for us-east-1
        let probe = DynamoDbProbe::new(&config());
        // When two checks name eu-west-1 and one names ap-south-1
        let first = probe.client(Some("eu-west-1"));
        let _again = probe.client(Some("eu-west-1"));
        let other = probe.client(Some("ap-south-1"));
        // Then each region has its client, built once
        assert_eq!(region_of(&first), Some("eu-west-1".to_owned()));
        assert_eq!(region_of(&other), Some("ap-south-1".to_owned()));
        assert_eq!(probe.clients.regional().len(), 2);
    }
}
