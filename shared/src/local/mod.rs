//! Running Sluice on a laptop: the AWS emulator it talks to when no AWS endpoint is given.

pub mod lambda_watch;
pub mod moto;

pub use lambda_watch::LambdaWatch;
pub use moto::{EmulatorError, MotoServer, PublishedMessage};
