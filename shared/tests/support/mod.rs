//! What integration tests share: the emulator harness.
#![allow(dead_code)] // each test binary uses a different part

pub mod faults;
pub mod moto;
