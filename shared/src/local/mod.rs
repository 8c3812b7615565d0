//! Running Sluice on a laptop: the AWS emulator it talks to when no AWS endpoint is given.

pub mod moto;

pub use moto::{EmulatorError, MotoServer, PublishedMessage};
