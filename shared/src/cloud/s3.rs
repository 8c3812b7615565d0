//! The S3 adapter for `S3KeyExists` (HeadObject) and `S3PrefixNotEmpty` (ListObjectsV2 with
//! max-keys 1).
//!
//! A bucket in another region than the configured one answers with a redirect naming its
//! region; the request is then asked again of that region (clients per region are cached),
//! so a check works whatever the bucket's region, as definitions give it no region field.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Mutex, MutexGuard},
};

use aws_config::SdkConfig;
use aws_sdk_s3::{
    Client,
    config::{Region, http::HttpResponse},
    error::SdkError,
    operation::{head_object::HeadObjectError, list_objects_v2::ListObjectsV2Error},
};

use super::{
    Service, bucket_region,
    probe::{Check, ProbeError, S3Uri, Verdict},
    sdk_error,
};

/// S3 clients: one for the configured region, and one per region a bucket redirected to.
#[derive(Debug)]
pub struct S3Probe {
    config: SdkConfig,
    default: Client,
    regional: Mutex<HashMap<String, Client>>,
}

impl S3Probe {
    /// A client from `config`, with path-style addressing when the configuration overrides
    /// the endpoint (moto and LocalStack serve buckets as paths, not host names).
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            config: config.clone(),
            default: Client::from_conf(Self::builder(config).build()),
            regional: Mutex::new(HashMap::new()),
        }
    }

    fn builder(config: &SdkConfig) -> aws_sdk_s3::config::Builder {
        aws_sdk_s3::config::Builder::from(config).force_path_style(config.endpoint_url().is_some())
    }

    fn regional(&self) -> MutexGuard<'_, HashMap<String, Client>> {
        // The map only ever gains whole entries, so a poisoned lock still holds usable clients.
        self.regional.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn client_for(&self, region: &str) -> Client {
        self.regional()
            .entry(region.to_owned())
            .or_insert_with(|| {
                Client::from_conf(
                    Self::builder(&self.config)
                        .region(Region::new(region.to_owned()))
                        .build(),
                )
            })
            .clone()
    }

    /// The region to ask again when S3 redirected the request there, if it is not the one asked.
    fn redirect<E>(&self, error: &SdkError<E, HttpResponse>) -> Option<String> {
        let region = bucket_region(error)?;
        let configured = self.config.region().map(|configured| configured.as_ref());
        (configured != Some(region)).then(|| region.to_owned())
    }

    /// Runs `call` with the default client, and once more in the bucket's region when S3
    /// answered with a redirect to it.
    async fn following_redirect<T, E, F, Fut>(&self, call: F) -> Result<T, SdkError<E, HttpResponse>>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    {
        match call(self.default.clone()).await {
            Err(error) => match self.redirect(&error) {
                Some(region) => call(self.client_for(&region)).await,
                None => Err(error),
            },
            answer => answer,
        }
    }

    /// `S3KeyExists`: HeadObject. A 404 is a false verdict, worded by whether the bucket exists.
    pub async fn key_exists(&self, check: &Check, location: &S3Uri) -> Result<Verdict, ProbeError> {
        self.following_redirect(|client| head_object(client, location))
            .await
            .map_err(|error| sdk_error(check, Service::S3, &error))
    }

    /// `S3PrefixNotEmpty`: at least one object whose key starts with the prefix (taken
    /// literally; an empty prefix is the whole bucket).
    pub async fn prefix_not_empty(&self, check: &Check, location: &S3Uri) -> Result<Verdict, ProbeError> {
        self.following_redirect(|client| list_one(client, location))
            .await
            .map_err(|error| sdk_error(check, Service::S3, &error))
    }
}

async fn head_object(client: Client, location: &S3Uri) -> Result<Verdict, SdkError<HeadObjectError, HttpResponse>> {
    let answer = client
        .head_object()
        .bucket(&location.bucket)
        .key(&location.key)
        .send()
        .await;
    match answer {
        Ok(_) => Ok(Verdict::True),
        // HEAD answers have no body: a missing key and a missing bucket are the same 404.
        Err(error) if error.as_service_error().is_some_and(HeadObjectError::is_not_found) => {
            Ok(if bucket_exists(&client, &location.bucket).await {
                Verdict::key_missing(location)
            } else {
                Verdict::bucket_missing(location)
            })
        }
        Err(error) => Err(error),
    }
}

/// Only words a false verdict: any answer but "not found" counts as existing.
async fn bucket_exists(client: &Client, bucket: &str) -> bool {
    match client.head_bucket().bucket(bucket).send().await {
        Ok(_) => true,
        Err(error) => !error.as_service_error().is_some_and(|error| error.is_not_found()),
    }
}

async fn list_one(client: Client, location: &S3Uri) -> Result<Verdict, SdkError<ListObjectsV2Error, HttpResponse>> {
    let prefix = Some(location.key.clone()).filter(|prefix| !prefix.is_empty());
    let answer = client
        .list_objects_v2()
        .bucket(&location.bucket)
        .set_prefix(prefix)
        .max_keys(1)
        .send()
        .await;
    match answer {
        Ok(listing) if listing.key_count().unwrap_or(0) > 0 || !listing.contents().is_empty() => Ok(Verdict::True),
        Ok(_) => Ok(Verdict::prefix_empty(location)),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(ListObjectsV2Error::is_no_such_bucket) =>
        {
            Ok(Verdict::bucket_missing(location))
        }
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(endpoint: Option<&str>) -> SdkConfig {
        let builder = SdkConfig::builder()
            .region(Region::new("us-east-1"))
            .behavior_version(aws_config::BehaviorVersion::latest());
        match endpoint {
            Some(endpoint) => builder.endpoint_url(endpoint).build(),
            None => builder.build(),
        }
    }

    #[test]
    fn a_redirect_to_the_configured_region_is_not_followed() {
        // Given a 301 naming the region the probe already asked
        let probe = S3Probe::new(&config(None));
        let mut raw = HttpResponse::new(
            301_u16.try_into().unwrap_or_else(|error| panic!("{error:?}")),
            aws_sdk_s3::primitives::SdkBody::empty(),
        );
        raw.headers_mut().insert("x-amz-bucket-region", "us-east-1");
        let same: SdkError<HeadObjectError, HttpResponse> =
            SdkError::service_error(HeadObjectError::unhandled("moved"), raw);
        // Then there is nowhere else to ask
        assert_eq!(probe.redirect(&same), None);
        // But another region is followed
        let mut raw = HttpResponse::new(
            301_u16.try_into().unwrap_or_else(|error| panic!("{error:?}")),
            aws_sdk_s3::primitives::SdkBody::empty(),
        );
        raw.headers_mut().insert("x-amz-bucket-region", "eu-west-1");
        let other: SdkError<HeadObjectError, HttpResponse> =
            SdkError::service_error(HeadObjectError::unhandled("moved"), raw);
        assert_eq!(probe.redirect(&other), Some("eu-west-1".to_owned()));
    }

    #[test]
    fn regional_clients_are_built_once_per_region() {
        // Given a probe configured for us-east-1
        let probe = S3Probe::new(&config(Some("http://127.0.0.1:5000")));
        // When a client for eu-west-1 is asked for twice
        let first = probe.client_for("eu-west-1");
        let _second = probe.client_for("eu-west-1");
        // Then it is in that region, and only one was built
        assert_eq!(first.config().region().map(|region| region.as_ref()), Some("eu-west-1"));
        assert_eq!(probe.regional().len(), 1);
    }
}
