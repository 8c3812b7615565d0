//! Checking an AWS Signature Version 4 on a request Sluice receives, as AWS's front ends do.
//!
//! A deployed Sluice API sits behind a Lambda function URL that checks signatures made
//! for the service `lambda`; the `aws` CLI and boto3 sign for `datapipeline`. `sluice
//! proxy` bridges the two on loopback, and before it signs anything with the user's
//! credentials it checks that the caller holds them too ([`verify`]); `sluice dev` can
//! check signatures the way the function URL does, so a local run refuses what the
//! deployed one would. Errors carry AWS's names for the same failures.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The headers every signature must cover, and how AWS names them when one is left out.
const MUST_BE_SIGNED: [(&str, &str); 2] = [("host", "'Host' or ':authority'"), ("x-amz-target", "'X-Amz-Target'")];

/// How far a request's time may be from ours, either way, as AWS allows.
pub const MAX_CLOCK_SKEW: TimeDelta = TimeDelta::minutes(15);

/// A request as received: the path and query exactly as they came on the wire.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Without the leading `?`; empty when there is none.
    pub query: &'a str,
    /// Every header, names in any case, a repeated header once per value.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// The key pair a signature must have been made with.
pub struct SigningKey<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
}

/// What the receiver insists on; `None` takes whatever the signature's scope names.
#[derive(Default)]
pub struct Expected<'a> {
    pub service: Option<&'a str>,
    pub region: Option<&'a str>,
}

/// Who signed a request that checked out, and for what.
#[derive(Debug, PartialEq, Eq)]
pub struct Signer {
    pub access_key_id: String,
    pub region: String,
    pub service: String,
}

/// Why a signature was refused. None of these is cured by sending the same request again.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("Missing Authentication Token: the request is not signed (no Authorization header)")]
    Missing,
    #[error("{0}")]
    Incomplete(String),
    /// A header the signature must cover is left out of SignedHeaders: the Host, or the
    /// X-Amz-Target that names the operation (unsigned, it could be swapped for another).
    #[error("{0} must be a 'SignedHeader' in the AWS Authorization.")]
    UnsignedHeader(&'static str),
    #[error("The security token included in the request is invalid: access key {0} is not the one this endpoint holds")]
    UnrecognizedClient(String),
    #[error("Credential should be scoped to correct service: '{expected}' (it is scoped to '{signed_for}')")]
    WrongService { expected: String, signed_for: String },
    #[error("Credential should be scoped to a valid region: '{expected}' (it is scoped to '{signed_for}')")]
    WrongRegion { expected: String, signed_for: String },
    #[error("Signature expired or not yet valid: {signed_at} is more than 15 minutes from {now}")]
    Expired { signed_at: String, now: String },
    #[error(
        "The request signature we calculated does not match the signature you provided. \
         Check your AWS Secret Access Key and signing method."
    )]
    Mismatch,
}

impl SignatureError {
    /// The `__type` AWS answers these with in its JSON protocols.
    pub fn aws_error_code(&self) -> &'static str {
        match self {
            Self::Missing => "MissingAuthenticationTokenException",
            Self::Incomplete(_) => "IncompleteSignatureException",
            Self::UnrecognizedClient(_) => "UnrecognizedClientException",
            Self::UnsignedHeader(_)
            | Self::WrongService { .. }
            | Self::WrongRegion { .. }
            | Self::Expired { .. }
            | Self::Mismatch => "InvalidSignatureException",
        }
    }

    /// Never: a refused signature stays refused until the request is signed again.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// Checks `request`'s SigV4 signature (Authorization header form) against `key`, at `now`.
pub fn verify(
    request: &SignedRequest<'_>,
    key: &SigningKey<'_>,
    expected: &Expected<'_>,
    now: DateTime<Utc>,
) -> Result<Signer, SignatureError> {
    let authorization = header(request.headers, "authorization").ok_or(SignatureError::Missing)?;
    let parsed = Authorization::parse(&authorization)?;
    if parsed.access_key_id != key.access_key_id {
        return Err(SignatureError::UnrecognizedClient(parsed.access_key_id.to_owned()));
    }
    if let Some(service) = expected.service
        && parsed.service != service
    {
        return Err(SignatureError::WrongService {
            expected: service.to_owned(),
            signed_for: parsed.service.to_owned(),
        });
    }
    if let Some(region) = expected.region
        && parsed.region != region
    {
        return Err(SignatureError::WrongRegion {
            expected: region.to_owned(),
            signed_for: parsed.region.to_owned(),
        });
    }
    let amz_date = header(request.headers, "x-amz-date")
        .ok_or_else(|| SignatureError::Incomplete("the request has no X-Amz-Date header".to_owned()))?;
    let signed_at = NaiveDateTime::parse_from_str(&amz_date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| {
            SignatureError::Incomplete(format!("X-Amz-Date {amz_date:?} is not of the form 20150830T123600Z"))
        })?
        .and_utc();
    if !amz_date.starts_with(parsed.date) {
        return Err(SignatureError::Incomplete(format!(
            "the credential's date {} is not X-Amz-Date's {amz_date}",
            parsed.date
        )));
    }
    if (now - signed_at).abs() > MAX_CLOCK_SKEW {
        return Err(SignatureError::Expired {
            signed_at: amz_date,
            now: now.format("%Y%m%dT%H%M%SZ").to_string(),
        });
    }
    for (name, shown) in MUST_BE_SIGNED {
        if !parsed.signed_headers.contains(&name) {
            return Err(SignatureError::UnsignedHeader(shown));
        }
    }
    let expected_signature = signature(request, &parsed, &amz_date, key.secret_access_key)?;
    if !constant_time_eq(expected_signature.as_bytes(), parsed.signature.as_bytes()) {
        return Err(SignatureError::Mismatch);
    }
    Ok(Signer {
        access_key_id: parsed.access_key_id.to_owned(),
        region: parsed.region.to_owned(),
        service: parsed.service.to_owned(),
    })
}

/// The signature `secret` makes of `request` under `authorization`'s scope and signed headers.
fn signature(
    request: &SignedRequest<'_>,
    authorization: &Authorization<'_>,
    amz_date: &str,
    secret: &str,
) -> Result<String, SignatureError> {
    let Authorization {
        date, region, service, ..
    } = authorization;
    let canonical = canonical_request(request, &authorization.signed_headers)?;
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", hex_sha256(canonical.as_bytes()));
    let signing_key = derive_key(secret, date, region, service);
    Ok(hex(&hmac_sha256(&signing_key, string_to_sign.as_bytes())))
}

/// `AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request,
/// SignedHeaders=host;x-amz-date, Signature=...`, taken apart.
struct Authorization<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

impl<'a> Authorization<'a> {
    fn parse(header: &'a str) -> Result<Self, SignatureError> {
        let incomplete = |what: &str| {
            SignatureError::Incomplete(format!(
                "Authorization header requires {what} (it must read \"{ALGORITHM} Credential=..., SignedHeaders=..., Signature=...\")"
            ))
        };
        let rest = header
            .strip_prefix(ALGORITHM)
            .filter(|rest| rest.starts_with(' '))
            .ok_or_else(|| incomplete(&format!("the algorithm {ALGORITHM}")))?;
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for part in rest.split(',') {
            match part.trim().split_once('=') {
                Some(("Credential", value)) => credential = Some(value),
                Some(("SignedHeaders", value)) => signed_headers = Some(value),
                Some(("Signature", value)) => signature = Some(value),
                _ => {}
            }
        }
        let credential = credential.ok_or_else(|| incomplete("a Credential"))?;
        let signed_headers = signed_headers.ok_or_else(|| incomplete("SignedHeaders"))?;
        let signature = signature.ok_or_else(|| incomplete("a Signature"))?;
        let scope: Vec<&str> = credential.split('/').collect();
        let [access_key_id, date, region, service, "aws4_request"] = scope[..] else {
            return Err(incomplete(
                "a Credential of the form AKID/yyyymmdd/region/service/aws4_request",
            ));
        };
        Ok(Self {
            access_key_id,
            date,
            region,
            service,
            signed_headers: signed_headers.split(';').collect(),
            signature,
        })
    }
}

/// The canonical request of SigV4: method, URI, query, the signed headers, the payload's hash.
fn canonical_request(request: &SignedRequest<'_>, signed_headers: &[&str]) -> Result<String, SignatureError> {
    let mut canonical = format!(
        "{}\n{}\n{}\n",
        request.method,
        canonical_uri(request.path),
        canonical_query(request.query)
    );
    for name in signed_headers {
        let values: Vec<String> = request
            .headers
            .iter()
            .filter(|(header_name, _)| header_name.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        if values.is_empty() {
            return Err(SignatureError::Incomplete(format!(
                "the signed header {name:?} is not in the request"
            )));
        }
        let _ = writeln!(canonical, "{name}:{}", values.join(","));
    }
    let _ = write!(
        canonical,
        "\n{}\n{}",
        signed_headers.join(";"),
        hex_sha256(request.body)
    );
    Ok(canonical)
}

/// The path, each segment percent-encoded once more (every service but S3 signs it so).
fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    path.split('/').map(uri_encode).collect::<Vec<_>>().join("/")
}

/// Parameters sorted by name then value, each encoded as SigV4 wants.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (uri_encode(&percent_decode(name)), uri_encode(&percent_decode(value)))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn uri_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| bytes.get(index + 1..index + 3))
            .flatten()
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                index += 3;
            }
            None => {
                decoded.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(header_name, _)| header_name.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.trim().to_owned())
}

fn derive_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let key = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let key = hmac_sha256(&key, region.as_bytes());
    let key = hmac_sha256(&key, service.as_bytes());
    hmac_sha256(&key, b"aws4_request")
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length, so this never fails.
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        return Vec::new();
    };
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex_sha256(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut text, byte| {
            let _ = write!(text, "{byte:02x}");
            text
        })
}

/// Compares without stopping at the first difference, so timing says nothing of the key.
fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len() && left.iter().zip(right).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key of AWS's published SigV4 test suite (`get-vanilla`, `post-x-www-form-urlencoded`).
    const KEY: SigningKey<'static> = SigningKey {
        access_key_id: "AKIDEXAMPLE",
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    };

    fn at(text: &str) -> DateTime<Utc> {
        NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%SZ").map_or_else(|_| Utc::now(), |time| time.and_utc())
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn get_vanilla(signature: &str) -> Vec<(String, String)> {
        headers(&[
            ("Host", "example.amazonaws.com"),
            ("X-Amz-Date", "20150830T123600Z"),
            (
                "Authorization",
                &format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                     SignedHeaders=host;x-amz-date, Signature={signature}"
                ),
            ),
        ])
    }

    const GET_VANILLA: &str = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

    /// A Data Pipeline call as botocore 1.43 signs it (`SigV4Auth(...).add_auth` with the
    /// suite's key, at the suite's time): the operation's X-Amz-Target among the signed headers.
    fn list_pipelines(target: &str, signature: &str) -> Vec<(String, String)> {
        headers(&[
            ("Content-Type", "application/x-amz-json-1.1"),
            ("Host", "example.amazonaws.com"),
            ("X-Amz-Target", target),
            ("X-Amz-Date", "20150830T123600Z"),
            (
                "Authorization",
                &format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                     SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={signature}"
                ),
            ),
        ])
    }

    const LIST_PIPELINES: &str = "c8e37166c233961fcc8838751c73ed401e7546da9636b778edcb2238edbd1762";

    fn signed_list_pipelines() -> Vec<(String, String)> {
        list_pipelines("DataPipeline.ListPipelines", LIST_PIPELINES)
    }

    fn request<'a>(
        method: &'a str,
        query: &'a str,
        headers: &'a [(String, String)],
        body: &'a [u8],
    ) -> SignedRequest<'a> {
        SignedRequest {
            method,
            path: "/",
            query,
            headers,
            body,
        }
    }

    /// The signature this module computes for a request whose headers carry its own.
    fn computed(request: &SignedRequest<'_>) -> String {
        let authorization = header(request.headers, "authorization").unwrap();
        let parsed = Authorization::parse(&authorization).unwrap();
        let amz_date = header(request.headers, "x-amz-date").unwrap();
        signature(request, &parsed, &amz_date, KEY.secret_access_key).unwrap()
    }

    #[test]
    fn the_test_suites_get_vanilla_and_form_post_sign_as_aws_computes() {
        // Given the suite's two requests, signed without an X-Amz-Target
        let get = get_vanilla(GET_VANILLA);
        let form = headers(&[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Host", "example.amazonaws.com"),
            ("X-Amz-Date", "20150830T123600Z"),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date, Signature=unused",
            ),
        ]);
        // When their signatures are computed here
        // Then they are the suite's
        assert_eq!(computed(&request("GET", "", &get, b"")), GET_VANILLA);
        assert_eq!(
            computed(&request("POST", "", &form, b"Param1=value1")),
            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
        );
    }

    #[test]
    fn a_data_pipeline_call_signed_by_botocore_checks_out() {
        let headers = signed_list_pipelines();
        let signer = verify(
            &request("POST", "", &headers, b"{}"),
            &KEY,
            &Expected::default(),
            at("20150830T123900Z"),
        );
        assert_eq!(
            signer,
            Ok(Signer {
                access_key_id: "AKIDEXAMPLE".to_owned(),
                region: "us-east-1".to_owned(),
                service: "service".to_owned(),
            })
        );
    }

    #[test]
    fn a_changed_request_operation_or_secret_is_refused() {
        let headers = signed_list_pipelines();
        let now = at("20150830T123600Z");
        let refused = verify(&request("GET", "", &headers, b"{}"), &KEY, &Expected::default(), now);
        assert_eq!(refused, Err(SignatureError::Mismatch));
        let refused = verify(
            &request("POST", "a=b", &headers, b"{}"),
            &KEY,
            &Expected::default(),
            now,
        );
        assert_eq!(refused, Err(SignatureError::Mismatch));
        let refused = verify(&request("POST", "", &headers, b"{ }"), &KEY, &Expected::default(), now);
        assert_eq!(refused, Err(SignatureError::Mismatch));
        // The same signature on another operation.
        let swapped = list_pipelines("DataPipeline.DeletePipeline", LIST_PIPELINES);
        let refused = verify(&request("POST", "", &swapped, b"{}"), &KEY, &Expected::default(), now);
        assert_eq!(refused, Err(SignatureError::Mismatch));
        let other = SigningKey {
            access_key_id: "AKIDEXAMPLE",
            secret_access_key: "another secret",
        };
        let refused = verify(&request("POST", "", &headers, b"{}"), &other, &Expected::default(), now);
        assert_eq!(refused, Err(SignatureError::Mismatch));
        assert_eq!(refused.unwrap_err().aws_error_code(), "InvalidSignatureException");
        let tampered = list_pipelines("DataPipeline.ListPipelines", &LIST_PIPELINES.replace('c', "d"));
        let refused = verify(&request("POST", "", &tampered, b"{}"), &KEY, &Expected::default(), now);
        assert_eq!(refused, Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_signature_that_leaves_out_the_operation_or_the_host_is_refused() {
        // Given get-vanilla's valid signature over Host and X-Amz-Date, sent with an operation
        let mut unsigned_target = get_vanilla(GET_VANILLA);
        unsigned_target.push(("X-Amz-Target".to_owned(), "DataPipeline.DeletePipeline".to_owned()));
        let now = at("20150830T123600Z");
        // When it is checked
        let refused = verify(
            &request("GET", "", &unsigned_target, b""),
            &KEY,
            &Expected::default(),
            now,
        )
        .unwrap_err();
        // Then the operation it did not sign is named, as AWS names an unsigned Host
        assert_eq!(refused, SignatureError::UnsignedHeader("'X-Amz-Target'"));
        assert_eq!(
            refused.to_string(),
            "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization."
        );
        assert_eq!(refused.aws_error_code(), "InvalidSignatureException");
        let hostless = headers(&[
            ("Host", "example.amazonaws.com"),
            ("X-Amz-Target", "DataPipeline.ListPipelines"),
            ("X-Amz-Date", "20150830T123600Z"),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders=x-amz-date;x-amz-target, Signature=00",
            ),
        ]);
        let refused = verify(&request("POST", "", &hostless, b"{}"), &KEY, &Expected::default(), now).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
        );
    }

    #[test]
    fn scope_time_and_key_are_checked_and_named() {
        let headers = signed_list_pipelines();
        let post = request("POST", "", &headers, b"{}");
        let now = at("20150830T123600Z");
        let lambda = Expected {
            service: Some("lambda"),
            region: None,
        };
        assert_eq!(
            verify(&post, &KEY, &lambda, now),
            Err(SignatureError::WrongService {
                expected: "lambda".to_owned(),
                signed_for: "service".to_owned()
            })
        );
        let region = Expected {
            service: Some("service"),
            region: Some("eu-west-1"),
        };
        assert!(matches!(
            verify(&post, &KEY, &region, now),
            Err(SignatureError::WrongRegion { .. })
        ));
        let late = verify(&post, &KEY, &Expected::default(), at("20150830T125200Z"));
        assert_eq!(
            late,
            Err(SignatureError::Expired {
                signed_at: "20150830T123600Z".to_owned(),
                now: "20150830T125200Z".to_owned()
            })
        );
        let stranger = SigningKey {
            access_key_id: "AKIDOTHER",
            secret_access_key: KEY.secret_access_key,
        };
        let refused = verify(&post, &stranger, &Expected::default(), now).unwrap_err();
        assert_eq!(refused.aws_error_code(), "UnrecognizedClientException");
        assert!(!refused.to_string().contains(KEY.secret_access_key));
    }

    #[test]
    fn unsigned_and_malformed_requests_say_what_is_missing() {
        let now = at("20150830T123600Z");
        let none = headers(&[("Host", "example.amazonaws.com")]);
        let refused = verify(&request("GET", "", &none, b""), &KEY, &Expected::default(), now).unwrap_err();
        assert_eq!(refused.aws_error_code(), "MissingAuthenticationTokenException");
        for authorization in [
            "Basic dXNlcjpwYXNz",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, Signature=00",
        ] {
            let malformed = headers(&[
                ("Host", "example.amazonaws.com"),
                ("X-Amz-Date", "20150830T123600Z"),
                ("Authorization", authorization),
            ]);
            let refused = verify(&request("GET", "", &malformed, b""), &KEY, &Expected::default(), now).unwrap_err();
            assert_eq!(
                refused.aws_error_code(),
                "IncompleteSignatureException",
                "{authorization}"
            );
            assert!(
                refused.to_string().contains("Authorization header requires"),
                "{refused}"
            );
        }
        let mut undated = signed_list_pipelines();
        undated.retain(|(name, _)| name != "X-Amz-Date");
        let refused = verify(&request("POST", "", &undated, b"{}"), &KEY, &Expected::default(), now).unwrap_err();
        assert!(refused.to_string().contains("X-Amz-Date"), "{refused}");
        let mut hostless = signed_list_pipelines();
        hostless.retain(|(name, _)| name != "Host");
        let refused = verify(&request("POST", "", &hostless, b"{}"), &KEY, &Expected::default(), now).unwrap_err();
        assert_eq!(
            refused,
            SignatureError::Incomplete("the signed header \"host\" is not in the request".to_owned())
        );
    }

    #[test]
    fn query_parameters_are_compared_in_canonical_order_and_encoding() {
        assert_eq!(canonical_query("b=2&a=%7E1&a=0&c"), "a=0&a=~1&b=2&c=");
        assert_eq!(canonical_query("Param1=value 1"), "Param1=value%201");
        assert_eq!(
            canonical_uri("/documents and settings/"),
            "/documents%20and%20settings/"
        );
        assert_eq!(canonical_uri(""), "/");
    }
}
