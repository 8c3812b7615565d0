//! System-managed preconditions (reference §2.6): the [`Probe`] port that the engine's
//! precondition stage calls with already-evaluated values, the checks' strict parsing, and
//! [`FakeProbe`], the in-memory cloud of the engine's simulation.
//!
//! A precondition that is not met yet is a [`Verdict::False`] with a sentence for
//! `@waitingOn`, never an error: a missing key, prefix, table or even bucket is something
//! a later check may find. Errors are for what waiting cannot explain: malformed values,
//! refused requests, and (retryable) throttling or network trouble.

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    fmt,
    future::Future,
    sync::{Mutex, MutexGuard},
};

use thiserror::Error;

/// One system-managed precondition, with its fields already evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Check {
    /// `S3KeyExists.s3Key`: the object exists (HeadObject).
    S3KeyExists { s3_key: String },
    /// `S3PrefixNotEmpty.s3Prefix`: at least one object's key starts with the prefix.
    S3PrefixNotEmpty { s3_prefix: String },
    /// `DynamoDBTableExists.tableName`: the table exists and is usable.
    DynamoDBTableExists { table: String, region: Option<String> },
    /// `DynamoDBDataExists.tableName`: the table exists and holds at least one item.
    DynamoDBDataExists { table: String, region: Option<String> },
}

impl Check {
    /// The precondition's AWS type name.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::S3KeyExists { .. } => "S3KeyExists",
            Self::S3PrefixNotEmpty { .. } => "S3PrefixNotEmpty",
            Self::DynamoDBTableExists { .. } => "DynamoDBTableExists",
            Self::DynamoDBDataExists { .. } => "DynamoDBDataExists",
        }
    }

    /// Parses and validates the check's values: what an adapter asks the cloud about.
    pub fn target(&self) -> Result<Target, ProbeError> {
        let invalid = |problem: String| ProbeError::Invalid {
            check: self.to_string(),
            problem,
        };
        match self {
            Self::S3KeyExists { s3_key } => S3Uri::parse_key(s3_key)
                .map(Target::S3Key)
                .map_err(|error| invalid(error.to_string())),
            Self::S3PrefixNotEmpty { s3_prefix } => S3Uri::parse_prefix(s3_prefix)
                .map(Target::S3Prefix)
                .map_err(|error| invalid(error.to_string())),
            Self::DynamoDBTableExists { table, region } => TableRef::new(table, region.as_deref())
                .map(Target::TableExists)
                .map_err(invalid),
            Self::DynamoDBDataExists { table, region } => TableRef::new(table, region.as_deref())
                .map(Target::DataExists)
                .map_err(invalid),
        }
    }
}

/// `S3KeyExists s3://bucket/key`, `DynamoDBTableExists orders in eu-west-1`: how errors name a check.
impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::S3KeyExists { s3_key: value } | Self::S3PrefixNotEmpty { s3_prefix: value } => {
                write!(f, "{} {value}", self.kind())
            }
            Self::DynamoDBTableExists { table, region } | Self::DynamoDBDataExists { table, region } => {
                write!(f, "{} {table}", self.kind())?;
                match region {
                    Some(region) => write!(f, " in {region}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// A check's validated values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    S3Key(S3Uri),
    S3Prefix(S3Uri),
    TableExists(TableRef),
    DataExists(TableRef),
}

/// The answer to a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    True,
    /// Not met (yet); `reason` is a sentence for `@waitingOn`.
    False {
        reason: String,
    },
}

impl Verdict {
    pub fn is_true(&self) -> bool {
        matches!(self, Self::True)
    }

    fn not_yet(reason: String) -> Self {
        Self::False { reason }
    }

    /// The object does not exist, in a bucket that does.
    pub(crate) fn key_missing(location: &S3Uri) -> Self {
        Self::not_yet(format!("{location} does not exist yet"))
    }

    /// No object starts with the prefix, in a bucket that exists.
    pub(crate) fn prefix_empty(location: &S3Uri) -> Self {
        Self::not_yet(format!("no object under {location} exists yet"))
    }

    /// The bucket itself does not exist: nothing in it can.
    pub(crate) fn bucket_missing(location: &S3Uri) -> Self {
        Self::not_yet(format!(
            "{location} does not exist yet: bucket {} does not exist",
            location.bucket
        ))
    }

    pub(crate) fn table_missing(table: &TableRef) -> Self {
        Self::not_yet(format!("{table} does not exist yet"))
    }

    pub(crate) fn table_empty(table: &TableRef) -> Self {
        Self::not_yet(format!("{table} has no items yet"))
    }
}

/// Why a check could not be answered.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProbeError {
    /// The check's values are malformed: fix the definition; retrying cannot help.
    #[error("{check}: {problem}")]
    Invalid { check: String, problem: String },
    /// The request could not be built or sent as configured (no region, no credentials,
    /// a bad endpoint): fix Sluice's configuration; retrying cannot help.
    #[error("{check}: the request could not be made ({problem}); check Sluice's AWS configuration")]
    Misconfigured { check: String, problem: String },
    /// AWS refused the request (`code` is AWS's error code): retrying cannot help.
    #[error("{check}: {code} ({explanation})")]
    Refused {
        check: String,
        code: String,
        explanation: String,
    },
    /// Throttling, a server error or network trouble: retrying later can help.
    #[error("{check}: {code} ({explanation}); retrying later can help")]
    Unavailable {
        check: String,
        code: String,
        explanation: String,
    },
}

impl ProbeError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    /// AWS's error code (or, for network trouble, a short label), when AWS was reached.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Refused { code, .. } | Self::Unavailable { code, .. } => Some(code),
            Self::Invalid { .. } | Self::Misconfigured { .. } => None,
        }
    }

    /// The check, as `Check`'s `Display` names it.
    pub fn check(&self) -> &str {
        match self {
            Self::Invalid { check, .. }
            | Self::Misconfigured { check, .. }
            | Self::Refused { check, .. }
            | Self::Unavailable { check, .. } => check,
        }
    }
}

/// Answers system-managed preconditions. Implementations: `AwsProbe` (S3 and DynamoDB)
/// and [`FakeProbe`] (the simulation's cloud).
pub trait Probe: Send + Sync {
    fn check(&self, check: &Check) -> impl Future<Output = Result<Verdict, ProbeError>> + Send;
}

/// An `s3://bucket/key` location. For a prefix, `key` is the prefix and may be empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct S3Uri {
    pub bucket: String,
    pub key: String,
}

/// S3's limit on a key's length, in UTF-8 bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// What is wrong with an `s3://` value, and how to write it instead.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum S3UriError {
    #[error("{uri:?} is not an S3 location: {hint}")]
    Scheme { uri: String, hint: &'static str },
    #[error("{uri:?} contains a control character ({character:?}); remove it (a newline pasted with the value?)")]
    ControlCharacter { uri: String, character: char },
    #[error("{uri:?} names no bucket; write s3://bucket/key")]
    NoBucket { uri: String },
    #[error("{uri:?}: bucket name {bucket:?} {problem}")]
    Bucket {
        uri: String,
        bucket: String,
        problem: &'static str,
    },
    #[error("{uri:?} names a bucket but no key; S3KeyExists needs an object's key, e.g. s3://{bucket}/path/to/file")]
    NoKey { uri: String, bucket: String },
    #[error("{uri:?}: the key is {bytes} bytes long; S3 keys are at most {MAX_KEY_BYTES} bytes")]
    KeyTooLong { uri: String, bytes: usize },
}

impl S3Uri {
    /// Parses `s3://bucket/key` where the key must not be empty (`S3KeyExists`).
    pub fn parse_key(uri: &str) -> Result<Self, S3UriError> {
        let location = Self::parse_prefix(uri)?;
        if location.key.is_empty() {
            return Err(S3UriError::NoKey {
                uri: uri.to_owned(),
                bucket: location.bucket,
            });
        }
        Ok(location)
    }

    /// Parses `s3://bucket/prefix`, `s3://bucket/` or `s3://bucket` (`S3PrefixNotEmpty`).
    /// The prefix is taken literally, as S3 does: `s3://b/logs` also matches `logs2/x`.
    pub fn parse_prefix(uri: &str) -> Result<Self, S3UriError> {
        if let Some(character) = uri.chars().find(|character| character.is_control()) {
            return Err(S3UriError::ControlCharacter {
                uri: uri.to_owned(),
                character,
            });
        }
        let rest = uri.strip_prefix("s3://").ok_or_else(|| S3UriError::Scheme {
            uri: uri.to_owned(),
            hint: scheme_hint(uri),
        })?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(S3UriError::NoBucket { uri: uri.to_owned() });
        }
        if let Some(problem) = bucket_problem(bucket) {
            return Err(S3UriError::Bucket {
                uri: uri.to_owned(),
                bucket: bucket.to_owned(),
                problem,
            });
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(S3UriError::KeyTooLong {
                uri: uri.to_owned(),
                bytes: key.len(),
            });
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        })
    }
}

impl fmt::Display for S3Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

fn scheme_hint(uri: &str) -> &'static str {
    let lower = uri.to_ascii_lowercase();
    if lower.starts_with("s3://") {
        "write the scheme in lowercase: s3://"
    } else if lower.starts_with("s3n://") || lower.starts_with("s3a://") {
        "use s3:// (s3n:// and s3a:// are Hadoop's schemes, not S3 locations)"
    } else if lower.starts_with("s3:/") || lower.starts_with("s3:") {
        "write two slashes after the scheme: s3://bucket/key"
    } else if lower.starts_with("http://") || lower.starts_with("https://") {
        "give the s3://bucket/key form, not an HTTP URL"
    } else if uri.trim_start() != uri {
        "remove the leading whitespace; it must start with s3://"
    } else {
        "it must start with s3://, e.g. s3://my-bucket/path/to/key"
    }
}

/// S3's bucket naming rules, including the legacy names (upper case, underscores, up to
/// 255 characters) that us-east-1 allowed before 2018: old pipelines may still use them.
fn bucket_problem(bucket: &str) -> Option<&'static str> {
    if bucket.len() < 3 {
        return Some("is too short: bucket names have 3 to 63 characters");
    }
    if bucket.len() > 255 {
        return Some("is too long: bucket names have 3 to 63 characters");
    }
    if bucket.contains(':') || bucket.contains('@') {
        return Some("contains ':' or '@'; write s3://bucket/key without a port or credentials");
    }
    if !bucket
        .chars()
        .all(|character| character.is_ascii_alphanumeric() || matches!(character, '.' | '-' | '_'))
    {
        return Some("may contain only letters, digits, '.', '-' and '_'");
    }
    None
}

/// A DynamoDB table, in the configured region or in a given one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableRef {
    pub name: String,
    pub region: Option<String>,
}

impl TableRef {
    /// Validates a table name (3–255 of `A-Z a-z 0-9 _ . -`) and an AWS region name.
    pub fn new(name: &str, region: Option<&str>) -> Result<Self, String> {
        if let Some(problem) = table_name_problem(name) {
            return Err(format!("table name {name:?} {problem}"));
        }
        if let Some(region) = region
            && let Some(problem) = region_problem(region)
        {
            return Err(format!("region {region:?} {problem}"));
        }
        Ok(Self {
            name: name.to_owned(),
            region: region.map(str::to_owned),
        })
    }
}

/// `table orders`, `table orders in eu-west-1`.
impl fmt::Display for TableRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "table {}", self.name)?;
        match &self.region {
            Some(region) => write!(f, " in {region}"),
            None => Ok(()),
        }
    }
}

fn table_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("is empty; give the table's name");
    }
    if name.len() < 3 || name.len() > 255 {
        return Some("must have 3 to 255 characters");
    }
    if !name
        .chars()
        .all(|character| character.is_ascii_alphanumeric() || matches!(character, '_' | '.' | '-'))
    {
        return Some("may contain only letters, digits, '_', '.' and '-'");
    }
    None
}

/// AWS region names: `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`.
/// Checked by shape only, so that new regions need no release; a malformed name would
/// otherwise end as an endless (retryable) DNS failure.
pub fn region_problem(region: &str) -> Option<&'static str> {
    const SHAPE: &str = "is not an AWS region name like us-east-1 or eu-west-2";
    let parts: Vec<&str> = region.split('-').collect();
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return Some(SHAPE);
    };
    let middle = parts.get(1..parts.len().saturating_sub(1)).unwrap_or_default();
    let well_formed = parts.len() >= 3
        && first.len() == 2
        && first.chars().all(|character| character.is_ascii_lowercase())
        && (1..=2).contains(&last.len())
        && last.chars().all(|character| character.is_ascii_digit())
        && middle
            .iter()
            .all(|part| !part.is_empty() && part.chars().all(|character| character.is_ascii_lowercase()));
    if well_formed { None } else { Some(SHAPE) }
}

/// A DynamoDB table's status, with AWS's names (`TableStatus`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TableStatus {
    Creating,
    Active,
    Updating,
    Deleting,
    Archiving,
    Archived,
    InaccessibleEncryptionCredentials,
    /// A status this version of Sluice does not know.
    Other(String),
}

impl TableStatus {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Creating => "CREATING",
            Self::Active => "ACTIVE",
            Self::Updating => "UPDATING",
            Self::Deleting => "DELETING",
            Self::Archiving => "ARCHIVING",
            Self::Archived => "ARCHIVED",
            Self::InaccessibleEncryptionCredentials => "INACCESSIBLE_ENCRYPTION_CREDENTIALS",
            Self::Other(status) => status,
        }
    }

    pub fn parse(text: &str) -> Self {
        match text {
            "CREATING" => Self::Creating,
            "ACTIVE" => Self::Active,
            "UPDATING" => Self::Updating,
            "DELETING" => Self::Deleting,
            "ARCHIVING" => Self::Archiving,
            "ARCHIVED" => Self::Archived,
            "INACCESSIBLE_ENCRYPTION_CREDENTIALS" => Self::InaccessibleEncryptionCredentials,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Whether a table in this status counts as existing: `ACTIVE` and `UPDATING` tables
    /// can be read; the others are not there yet, going away, or unreadable.
    pub fn verdict(&self, table: &TableRef) -> Verdict {
        let status = self.as_str();
        let reason = match self {
            Self::Active | Self::Updating => return Verdict::True,
            Self::Creating => format!("{table} is still being created ({status})"),
            Self::Deleting => format!("{table} is being deleted ({status})"),
            Self::Archiving | Self::Archived => format!("{table} is archived ({status}); restore it to read it"),
            Self::InaccessibleEncryptionCredentials => {
                format!("{table} cannot be read: its KMS key is disabled or inaccessible ({status})")
            }
            Self::Other(_) => format!("{table} is not active yet ({status})"),
        };
        Verdict::not_yet(reason)
    }
}

impl fmt::Display for TableStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The simulation's cloud: buckets with object keys and tables with an item count, per
/// region, that tests and the simulation change between checks. It validates checks
/// exactly as the AWS adapter does and answers with the same reasons.
#[derive(Debug)]
pub struct FakeProbe {
    default_region: String,
    state: Mutex<FakeState>,
}

#[derive(Debug, Default)]
struct FakeState {
    /// bucket → object keys.
    buckets: BTreeMap<String, BTreeSet<String>>,
    /// (region, table) → the table.
    tables: BTreeMap<(String, String), FakeTable>,
    /// Codes of retryable failures to answer the next checks with, in order.
    failures: VecDeque<String>,
    checks: u64,
}

#[derive(Debug, Clone)]
struct FakeTable {
    status: TableStatus,
    has_items: bool,
}

impl Default for FakeProbe {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeProbe {
    /// An empty cloud whose default region (for checks without one) is `us-east-1`.
    pub fn new() -> Self {
        Self::in_region("us-east-1")
    }

    /// An empty cloud with the given default region.
    pub fn in_region(default_region: &str) -> Self {
        Self {
            default_region: default_region.to_owned(),
            state: Mutex::new(FakeState::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, FakeState> {
        // Every change below is applied whole, so a poisoned lock still holds consistent data.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn region_of(&self, region: Option<&str>) -> String {
        region.unwrap_or(&self.default_region).to_owned()
    }

    /// Creates (`present`) or deletes a bucket; deleting it deletes its objects.
    pub fn set_bucket(&self, bucket: &str, present: bool) {
        let mut state = self.state();
        if present {
            state.buckets.entry(bucket.to_owned()).or_default();
        } else {
            state.buckets.remove(bucket);
        }
    }

    /// Puts (`present`, creating the bucket if needed) or deletes the object at
    /// `s3://bucket/key`. Use it for `S3KeyExists` keys and for objects under an
    /// `S3PrefixNotEmpty` prefix alike.
    pub fn set_object(&self, uri: &str, present: bool) -> Result<(), S3UriError> {
        let location = S3Uri::parse_key(uri)?;
        let mut state = self.state();
        if present {
            state.buckets.entry(location.bucket).or_default().insert(location.key);
        } else if let Some(keys) = state.buckets.get_mut(&location.bucket) {
            keys.remove(&location.key);
        }
        Ok(())
    }

    /// Creates a table in `status` (keeping its items if it existed), or deletes it (`None`).
    /// `region` `None` is the default region.
    pub fn set_table(&self, table: &str, region: Option<&str>, status: Option<TableStatus>) {
        let key = (self.region_of(region), table.to_owned());
        let mut state = self.state();
        match status {
            Some(status) => {
                state
                    .tables
                    .entry(key)
                    .and_modify(|existing| existing.status = status.clone())
                    .or_insert(FakeTable {
                        status,
                        has_items: false,
                    });
            }
            None => {
                state.tables.remove(&key);
            }
        }
    }

    /// Gives the table items (`present`) or empties it; a missing table is created `ACTIVE`.
    pub fn set_table_data(&self, table: &str, region: Option<&str>, present: bool) {
        let key = (self.region_of(region), table.to_owned());
        self.state()
            .tables
            .entry(key)
            .or_insert(FakeTable {
                status: TableStatus::Active,
                has_items: false,
            })
            .has_items = present;
    }

    /// The next check (whatever it is) fails with a retryable error carrying `code`, such
    /// as `ThrottlingException`. Calls queue up: each injects one failure.
    pub fn fail_once(&self, code: &str) {
        self.state().failures.push_back(code.to_owned());
    }

    /// How many checks were asked, including failed ones.
    pub fn checks_made(&self) -> u64 {
        self.state().checks
    }

    fn answer(&self, check: &Check) -> Result<Verdict, ProbeError> {
        let mut state = self.state();
        state.checks = state.checks.saturating_add(1);
        let target = check.target()?;
        if let Some(code) = state.failures.pop_front() {
            return Err(ProbeError::Unavailable {
                check: check.to_string(),
                code,
                explanation: "a failure injected into the simulation".to_owned(),
            });
        }
        Ok(match target {
            Target::S3Key(location) => match state.buckets.get(&location.bucket) {
                None => Verdict::bucket_missing(&location),
                Some(keys) if keys.contains(&location.key) => Verdict::True,
                Some(_) => Verdict::key_missing(&location),
            },
            Target::S3Prefix(location) => match state.buckets.get(&location.bucket) {
                None => Verdict::bucket_missing(&location),
                Some(keys) => {
                    let found = keys.range(location.key.clone()..).next();
                    if found.is_some_and(|key| key.starts_with(&location.key)) {
                        Verdict::True
                    } else {
                        Verdict::prefix_empty(&location)
                    }
                }
            },
            Target::TableExists(table) => match state.tables.get(&self.table_key(&table)) {
                None => Verdict::table_missing(&table),
                Some(found) => found.status.verdict(&table),
            },
            Target::DataExists(table) => match state.tables.get(&self.table_key(&table)) {
                None => Verdict::table_missing(&table),
                Some(found) => match found.status.verdict(&table) {
                    Verdict::True if found.has_items => Verdict::True,
                    Verdict::True => Verdict::table_empty(&table),
                    not_usable => not_usable,
                },
            },
        })
    }

    fn table_key(&self, table: &TableRef) -> (String, String) {
        (self.region_of(table.region.as_deref()), table.name.clone())
    }
}

impl Probe for FakeProbe {
    async fn check(&self, check: &Check) -> Result<Verdict, ProbeError> {
        self.answer(check)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn key(uri: &str) -> Check {
        Check::S3KeyExists { s3_key: uri.to_owned() }
    }

    fn prefix(uri: &str) -> Check {
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

    /// Asks the fake directly: its `Probe::check` only wraps this in a future.
    fn ask(probe: &FakeProbe, check: &Check) -> Result<Verdict, ProbeError> {
        probe.answer(check)
    }

    fn reason(verdict: Result<Verdict, ProbeError>) -> String {
        match verdict {
            Ok(Verdict::False { reason }) => reason,
            other => panic!("expected a false verdict, got {other:?}"),
        }
    }

    #[test]
    fn a_key_uri_splits_into_bucket_and_key() {
        let location = S3Uri::parse_key("s3://my-bucket/path/to/file.csv");
        assert_eq!(
            location,
            Ok(S3Uri {
                bucket: "my-bucket".to_owned(),
                key: "path/to/file.csv".to_owned()
            })
        );
    }

    #[test]
    fn a_prefix_may_be_the_whole_bucket() {
        for uri in ["s3://my-bucket", "s3://my-bucket/"] {
            let location = S3Uri::parse_prefix(uri);
            assert_eq!(
                location.map(|location| location.key),
                Ok(String::new()),
                "{uri} is the whole bucket"
            );
        }
    }

    #[test]
    fn a_key_keeps_slashes_and_spaces_as_s3_does() {
        let location = S3Uri::parse_key("s3://my-bucket//a b/c/");
        assert_eq!(location.map(|location| location.key), Ok("/a b/c/".to_owned()));
    }

    #[test]
    fn legacy_bucket_names_are_accepted() {
        let location = S3Uri::parse_key("s3://My_Old.Bucket/key");
        assert_eq!(location.map(|location| location.bucket), Ok("My_Old.Bucket".to_owned()));
    }

    #[test]
    fn malformed_uris_say_what_is_wrong() {
        let cases = [
            ("bucket/key", "must start with s3://"),
            ("S3://bucket/key", "lowercase"),
            ("s3n://bucket/key", "Hadoop"),
            ("s3:/bucket/key", "two slashes"),
            ("https://bucket.s3.amazonaws.com/key", "not an HTTP URL"),
            (" s3://bucket/key", "leading whitespace"),
            ("s3://bucket/key\n", "control character"),
            ("s3:///key", "names no bucket"),
            ("s3://ab/key", "too short"),
            ("s3://bucket:443/key", "without a port"),
            ("s3://bu cket/key", "only letters"),
            ("s3://bucket/", "no key"),
            ("s3://bucket", "no key"),
        ];
        for (uri, expected) in cases {
            let message = S3Uri::parse_key(uri).map_err(|error| error.to_string());
            assert!(
                message.as_ref().is_err_and(|message| message.contains(expected)),
                "{uri:?}: expected an error containing {expected:?}, got {message:?}"
            );
        }
    }

    #[test]
    fn an_overlong_key_is_refused_with_the_limit() {
        let uri = format!("s3://bucket/{}", "k".repeat(MAX_KEY_BYTES + 1));
        let error = S3Uri::parse_key(&uri);
        assert!(
            matches!(error, Err(S3UriError::KeyTooLong { bytes: 1025, .. })),
            "{error:?}"
        );
    }

    #[test]
    fn a_malformed_check_is_an_invalid_error_naming_the_check() {
        // Given a key check whose value lacks the scheme
        let check = key("bucket/key");
        // When its target is parsed
        let error = check.target();
        // Then the error names the check, is not retryable and has no AWS code
        let Err(error) = error else {
            panic!("expected an error, got {error:?}")
        };
        assert!(
            error
                .to_string()
                .starts_with("S3KeyExists bucket/key: \"bucket/key\" is not an S3 location")
        );
        assert!(!error.is_retryable());
        assert_eq!(error.code(), None);
        assert_eq!(error.check(), "S3KeyExists bucket/key");
    }

    #[test]
    fn table_names_and_regions_are_validated() {
        assert!(TableRef::new("orders", Some("eu-west-1")).is_ok());
        assert!(TableRef::new("My_Table.v2-x", None).is_ok());
        for (table, region, expected) in [
            ("", None, "is empty"),
            ("ab", None, "3 to 255"),
            ("orders/2024", None, "may contain only"),
            ("orders", Some(""), "not an AWS region"),
            ("orders", Some("US-EAST-1"), "not an AWS region"),
            ("orders", Some("us-east"), "not an AWS region"),
            ("orders", Some("us_east_1"), "not an AWS region"),
            ("orders", Some("us--1"), "not an AWS region"),
        ] {
            let error = TableRef::new(table, region);
            assert!(
                error.as_ref().is_err_and(|message| message.contains(expected)),
                "{table:?} {region:?}: expected {expected:?}, got {error:?}"
            );
        }
    }

    #[test]
    fn well_formed_region_names_pass() {
        for region in [
            "us-east-1",
            "eu-central-2",
            "ap-southeast-5",
            "us-gov-west-1",
            "cn-northwest-1",
            "us-isob-east-1",
        ] {
            assert_eq!(region_problem(region), None, "{region}");
        }
    }

    #[test]
    fn checks_display_as_their_type_and_value() {
        assert_eq!(key("s3://b/k").to_string(), "S3KeyExists s3://b/k");
        assert_eq!(prefix("s3://b/p").to_string(), "S3PrefixNotEmpty s3://b/p");
        assert_eq!(table_exists("orders", None).to_string(), "DynamoDBTableExists orders");
        assert_eq!(
            data_exists("orders", Some("eu-west-1")).to_string(),
            "DynamoDBDataExists orders in eu-west-1"
        );
    }

    #[test]
    fn table_statuses_round_trip_through_their_aws_names() {
        for status in [
            TableStatus::Creating,
            TableStatus::Active,
            TableStatus::Updating,
            TableStatus::Deleting,
            TableStatus::Archiving,
            TableStatus::Archived,
            TableStatus::InaccessibleEncryptionCredentials,
            TableStatus::Other("FUTURE".to_owned()),
        ] {
            assert_eq!(TableStatus::parse(status.as_str()), status);
        }
    }

    #[test]
    fn only_active_and_updating_tables_exist() {
        let table = TableRef::new("orders", None).unwrap_or_else(|error| panic!("{error}"));
        assert!(TableStatus::Active.verdict(&table).is_true());
        assert!(TableStatus::Updating.verdict(&table).is_true());
        assert_eq!(
            TableStatus::Creating.verdict(&table),
            Verdict::False {
                reason: "table orders is still being created (CREATING)".to_owned()
            }
        );
        for status in [
            TableStatus::Deleting,
            TableStatus::Archived,
            TableStatus::InaccessibleEncryptionCredentials,
            TableStatus::Other("FUTURE".to_owned()),
        ] {
            let verdict = status.verdict(&table);
            assert!(
                matches!(&verdict, Verdict::False { reason } if reason.contains(status.as_str())),
                "{status}: {verdict:?}"
            );
        }
    }

    #[test]
    fn fake_key_check_follows_the_object() {
        // Given a bucket without the key
        let probe = FakeProbe::new();
        probe.set_bucket("landing", true);
        let check = key("s3://landing/done.marker");
        // Then the check is false until the object is put, and false again once deleted
        assert_eq!(
            reason(ask(&probe, &check)),
            "s3://landing/done.marker does not exist yet"
        );
        probe
            .set_object("s3://landing/done.marker", true)
            .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(ask(&probe, &check), Ok(Verdict::True));
        probe
            .set_object("s3://landing/done.marker", false)
            .unwrap_or_else(|error| panic!("{error}"));
        assert!(!ask(&probe, &check).is_ok_and(|verdict| verdict.is_true()));
    }

    #[test]
    fn fake_key_check_in_a_missing_bucket_says_the_bucket_is_missing() {
        let probe = FakeProbe::new();
        let verdict = ask(&probe, &key("s3://nowhere/k"));
        assert_eq!(
            reason(verdict),
            "s3://nowhere/k does not exist yet: bucket nowhere does not exist"
        );
    }

    #[test]
    fn fake_deleting_a_bucket_deletes_its_objects() {
        let probe = FakeProbe::new();
        probe
            .set_object("s3://landing/a", true)
            .unwrap_or_else(|error| panic!("{error}"));
        probe.set_bucket("landing", false);
        probe.set_bucket("landing", true);
        assert_eq!(
            reason(ask(&probe, &key("s3://landing/a"))),
            "s3://landing/a does not exist yet"
        );
    }

    #[test]
    fn fake_prefix_check_counts_only_objects_under_the_prefix() {
        // Given an object under another prefix
        let probe = FakeProbe::new();
        probe
            .set_object("s3://landing/other/x.csv", true)
            .unwrap_or_else(|error| panic!("{error}"));
        let check = prefix("s3://landing/input/");
        // Then the prefix is empty
        assert_eq!(
            reason(ask(&probe, &check)),
            "no object under s3://landing/input/ exists yet"
        );
        // When an object appears under it
        probe
            .set_object("s3://landing/input/part-0000", true)
            .unwrap_or_else(|error| panic!("{error}"));
        // Then it is not empty, and the whole bucket is not empty either
        assert_eq!(ask(&probe, &check), Ok(Verdict::True));
        assert_eq!(ask(&probe, &prefix("s3://landing")), Ok(Verdict::True));
    }

    #[test]
    fn fake_prefix_check_in_a_missing_bucket_says_the_bucket_is_missing() {
        let probe = FakeProbe::new();
        let verdict = ask(&probe, &prefix("s3://nowhere/in/"));
        assert!(reason(verdict).contains("bucket nowhere does not exist"));
    }

    #[test]
    fn fake_table_check_follows_the_table_and_its_status() {
        let probe = FakeProbe::new();
        let check = table_exists("orders", None);
        assert_eq!(reason(ask(&probe, &check)), "table orders does not exist yet");
        probe.set_table("orders", None, Some(TableStatus::Creating));
        assert_eq!(
            reason(ask(&probe, &check)),
            "table orders is still being created (CREATING)"
        );
        probe.set_table("orders", None, Some(TableStatus::Active));
        assert_eq!(ask(&probe, &check), Ok(Verdict::True));
        probe.set_table("orders", None, None);
        assert_eq!(reason(ask(&probe, &check)), "table orders does not exist yet");
    }

    #[test]
    fn fake_tables_live_in_their_region() {
        // Given a table in eu-west-1 only, and a default region of us-east-1
        let probe = FakeProbe::new();
        probe.set_table("orders", Some("eu-west-1"), Some(TableStatus::Active));
        // Then it exists there, not in the default region
        assert_eq!(
            ask(&probe, &table_exists("orders", Some("eu-west-1"))),
            Ok(Verdict::True)
        );
        assert_eq!(
            reason(ask(&probe, &table_exists("orders", None))),
            "table orders does not exist yet"
        );
        // And naming the default region is the same as naming none
        probe.set_table("orders", None, Some(TableStatus::Active));
        assert_eq!(
            ask(&probe, &table_exists("orders", Some("us-east-1"))),
            Ok(Verdict::True)
        );
    }

    #[test]
    fn fake_data_check_needs_an_existing_table_with_items() {
        let probe = FakeProbe::in_region("eu-west-1");
        let check = data_exists("orders", None);
        assert_eq!(reason(ask(&probe, &check)), "table orders does not exist yet");
        probe.set_table("orders", None, Some(TableStatus::Active));
        assert_eq!(reason(ask(&probe, &check)), "table orders has no items yet");
        probe.set_table_data("orders", None, true);
        assert_eq!(ask(&probe, &check), Ok(Verdict::True));
        probe.set_table("orders", None, Some(TableStatus::Deleting));
        assert_eq!(reason(ask(&probe, &check)), "table orders is being deleted (DELETING)");
        probe.set_table_data("orders", None, false);
        probe.set_table("orders", None, Some(TableStatus::Active));
        assert_eq!(reason(ask(&probe, &check)), "table orders has no items yet");
    }

    #[test]
    fn fake_data_for_a_missing_table_creates_it_active() {
        let probe = FakeProbe::new();
        probe.set_table_data("orders", Some("ap-south-1"), true);
        assert_eq!(
            ask(&probe, &data_exists("orders", Some("ap-south-1"))),
            Ok(Verdict::True)
        );
    }

    #[test]
    fn an_injected_failure_fails_exactly_one_check_retryably() {
        // Given a present key and one injected throttling failure
        let probe = FakeProbe::new();
        probe
            .set_object("s3://b1k/k", true)
            .unwrap_or_else(|error| panic!("{error}"));
        probe.fail_once("SlowDown");
        let check = key("s3://b1k/k");
        // When the key is checked twice
        let first = ask(&probe, &check);
        let second = ask(&probe, &check);
        // Then the first check fails retryably with the code, and the second succeeds
        let Err(error) = first else {
            panic!("expected the injected failure, got {first:?}")
        };
        assert!(error.is_retryable());
        assert_eq!(error.code(), Some("SlowDown"));
        assert!(error.to_string().starts_with("S3KeyExists s3://b1k/k: SlowDown ("));
        assert_eq!(second, Ok(Verdict::True));
        assert_eq!(probe.checks_made(), 2);
    }

    #[test]
    fn a_malformed_check_does_not_consume_an_injected_failure() {
        let probe = FakeProbe::new();
        probe.fail_once("ThrottlingException");
        let malformed = ask(&probe, &key("nope"));
        assert!(malformed.is_err_and(|error| !error.is_retryable()));
        let throttled = ask(&probe, &table_exists("orders", None));
        assert!(throttled.is_err_and(|error| error.is_retryable()));
    }

    #[test]
    fn the_fake_answers_through_the_port() {
        // Given the fake used as a `Probe`
        async fn through_port(probe: &impl Probe, check: &Check) -> Result<Verdict, ProbeError> {
            probe.check(check).await
        }
        let probe = FakeProbe::new();
        probe.set_table_data("orders", None, true);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|error| panic!("{error}"));
        // When a data check is awaited
        let verdict = runtime.block_on(through_port(&probe, &data_exists("orders", None)));
        // Then it is true
        assert_eq!(verdict, Ok(Verdict::True));
    }

    #[test]
    fn an_unavailable_error_says_retrying_can_help_and_a_refusal_does_not() {
        let unavailable = ProbeError::Unavailable {
            check: "DynamoDBTableExists orders".to_owned(),
            code: "ThrottlingException".to_owned(),
            explanation: "AWS is throttling requests".to_owned(),
        };
        let refused = ProbeError::Refused {
            check: "S3KeyExists s3://b/k".to_owned(),
            code: "AccessDenied".to_owned(),
            explanation: "the role cannot read the bucket".to_owned(),
        };
        assert!(unavailable.to_string().ends_with("retrying later can help"));
        assert_eq!(
            refused.to_string(),
            "S3KeyExists s3://b/k: AccessDenied (the role cannot read the bucket)"
        );
        assert!(!refused.is_retryable());
    }

    proptest! {
        #[test]
        fn parsing_any_text_never_panics(text in any::<String>()) {
            let _ = S3Uri::parse_key(&text);
            let _ = S3Uri::parse_prefix(&text);
            let _ = TableRef::new(&text, Some(&text));
        }

        #[test]
        fn parsing_s3_like_text_never_panics(text in "s3://[a-zA-Z0-9._:@/ -]{0,80}") {
            let _ = S3Uri::parse_key(&text);
            let _ = S3Uri::parse_prefix(&text);
        }

        #[test]
        fn a_valid_location_round_trips(bucket in "[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", key in "[a-zA-Z0-9/ ._-]{1,200}") {
            let uri = format!("s3://{bucket}/{key}");
            let location = S3Uri::parse_key(&uri);
            prop_assert_eq!(location.as_ref().map(ToString::to_string), Ok(uri));
            prop_assert_eq!(location.map(|location| (location.bucket, location.key)), Ok((bucket, key)));
        }

        #[test]
        fn the_fake_never_panics_on_any_check(text in any::<String>(), region in proptest::option::of(any::<String>())) {
            let probe = FakeProbe::new();
            for check in [key(&text), prefix(&text), table_exists(&text, region.as_deref()), data_exists(&text, region.as_deref())] {
                let _ = ask(&probe, &check);
            }
        }
    }
}
