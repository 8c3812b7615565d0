//! What integration tests share: the emulator harness, the store conformance suite, and
//! the fault-injecting store of the simulation.
#![allow(dead_code)] // each test binary uses a different part

pub mod conformance;
pub mod data;
pub mod faults;
pub mod lossy;
pub mod machines;
pub mod moto;
pub mod secrets;
