//! The cloud as the engine sees it: ports for what Sluice asks of AWS, their AWS adapters
//! and the simulation's in-memory stand-ins.
//!
//! - [`probe`]: system-managed preconditions (`S3KeyExists`, `S3PrefixNotEmpty`,
//!   `DynamoDBTableExists`, `DynamoDBDataExists`), the [`Probe`] port and [`FakeProbe`].

pub mod probe;

pub use self::probe::{Check, FakeProbe, Probe, ProbeError, S3Uri, S3UriError, TableRef, TableStatus, Target, Verdict};
