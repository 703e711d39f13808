//! The station core: the one place that wires devices, analysis, storage and
//! the platform together.
//!
//! Shells — the `station` CLI and the desktop app — call into this crate and
//! hold no logic of their own. Every failure a user can see is a
//! [`failure::Failure`] from the catalogue, with a stable code and a remedy.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod audit_view;
pub mod cancel;
pub mod card;
pub mod desk;
pub mod doctor;
pub mod enroll;
pub mod face;
pub mod face_eval;
pub mod failure;
pub mod identity;
pub mod instance;
pub mod link;
pub mod live_face;
pub mod paths;
pub mod platform;
pub mod queue;
pub mod settings;
pub mod sync;
pub mod voice;
pub mod window_state;

pub use doctor::{DoctorOptions, DoctorReport};
pub use failure::{Code, Failure};
pub use paths::StationPaths;

/// The name serde gives a unit variant (`too_short`, `NO_READER`): the
/// stable text reports, packets and the audit use. Empty for a value that
/// does not serialise to a string.
pub(crate) fn wire_name(value: &impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Logs to stderr, filtered by `RUST_LOG` or else `default`. Shells call it
/// once at start; personal data and biometrics are never logged at any level.
pub fn init_logging(default: &str) {
    // The PulseAudio client reports every normal disconnect as an error.
    let default = format!("{default},pulseaudio::client::reactor=off");
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
