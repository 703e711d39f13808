//! The station core: the one place that wires devices, analysis, storage and
//! the platform together.
//!
//! Shells — the `station` CLI and the desktop app — call into this crate and
//! hold no logic of their own. Every failure a user can see is a
//! [`failure::Failure`] from the catalogue, with a stable code and a remedy.
#![forbid(unsafe_code)]

pub mod doctor;
pub mod failure;
pub mod paths;

pub use doctor::{DoctorOptions, DoctorReport};
pub use failure::{Code, Failure};
pub use paths::StationPaths;
