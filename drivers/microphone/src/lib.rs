//! Microphone capture for the voice sample.
//!
//! [`AudioSource`] is what the rest of the station reads audio from: mono
//! `f32` samples in -1..1 at a known rate. The real backend is cpal (module
//! [`devices`] enumerates inputs: PulseAudio/PipeWire when a server is
//! reachable, ALSA otherwise); [`WavSource`] serves recordings for demos and
//! tests. Nothing here analyses audio or writes it anywhere.
#![forbid(unsafe_code)]

pub mod devices;
mod wav;

pub use devices::{InputDevice, list_inputs};
pub use wav::WavSource;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum AudioError {
    #[error("no audio system is available: {0}")]
    HostUnavailable(String),
    #[error("cannot list audio devices: {0}")]
    Enumeration(String),
    #[error("cannot read the recording {path}: {message}")]
    BadRecording { path: String, message: String },
    #[error("the recording uses {0}, which is not supported (PCM 8/16/24/32-bit or float)")]
    UnsupportedFormat(String),
}

/// The shape of the samples a source delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct AudioFormat {
    pub sample_rate: u32,
    /// Channels of the underlying device or file; sources always deliver mono.
    pub source_channels: u16,
}

/// A source of mono samples. `next_chunk` returns `Ok(None)` at the end of
/// a finite source.
pub trait AudioSource {
    fn format(&self) -> AudioFormat;
    fn next_chunk(&mut self) -> Result<Option<Vec<f32>>, AudioError>;

    /// Reads everything up to `max_samples` (sources may be endless).
    fn read_to_end(&mut self, max_samples: usize) -> Result<Vec<f32>, AudioError> {
        let mut all = Vec::new();
        while all.len() < max_samples {
            match self.next_chunk()? {
                Some(chunk) => all.extend_from_slice(&chunk),
                None => break,
            }
        }
        all.truncate(max_samples);
        Ok(all)
    }
}
