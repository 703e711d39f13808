//! Enumeration of audio inputs through cpal.

use cpal::traits::{DeviceTrait, HostTrait};
use serde::Serialize;

use crate::AudioError;

/// One input device as the audio system names it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputDevice {
    /// The audio system behind it: `PulseAudio` or `ALSA`.
    pub host: String,
    /// Stable identifier, to remember the clerk's choice across runs.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    pub is_default: bool,
}

/// The host the station records through: a PulseAudio/PipeWire server when
/// one is reachable (it names devices as the desktop does), ALSA otherwise.
pub fn host() -> Result<cpal::Host, AudioError> {
    if cpal::available_hosts().contains(&cpal::HostId::PulseAudio) {
        match cpal::host_from_id(cpal::HostId::PulseAudio) {
            Ok(host) => return Ok(host),
            Err(e) => tracing::debug!("PulseAudio host unavailable, using ALSA: {e}"),
        }
    }
    cpal::host_from_id(cpal::HostId::Alsa).map_err(|e| AudioError::HostUnavailable(e.to_string()))
}

/// Every input device. None is an empty list, not an error.
pub fn list_inputs() -> Result<Vec<InputDevice>, AudioError> {
    let host = host()?;
    let host_name = host.id().name().to_owned();
    let default_id = host
        .default_input_device()
        .and_then(|d| d.id().ok())
        .map(|id| id.to_string());
    let devices = host
        .input_devices()
        .map_err(|e| AudioError::Enumeration(e.to_string()))?;
    Ok(devices
        .filter_map(|d| {
            let id = d.id().ok()?.to_string();
            let name = d
                .description()
                .map(|desc| desc.name().to_owned())
                .unwrap_or_else(|_| id.clone());
            Some(InputDevice {
                host: host_name.clone(),
                is_default: default_id.as_deref() == Some(id.as_str()),
                id,
                name,
            })
        })
        .collect())
}
