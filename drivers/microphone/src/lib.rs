//! Microphone capture for the voice sample.
//!
//! [`AudioSource`] is what the rest of the station reads audio from: mono
//! `f32` samples in -1..1 at a known rate. The real backend is cpal
//! ([`Microphone`]; module [`devices`] enumerates inputs: PulseAudio/PipeWire
//! when a server is reachable, ALSA otherwise); [`WavSource`] serves
//! recordings for demos and tests. [`record`] turns any source into a 16 kHz
//! [`Recording`], reporting [`Level`]s on the way. Nothing here analyses
//! speech or writes audio anywhere.
#![forbid(unsafe_code)]

mod capture;
pub mod devices;
mod level;
mod resample;
mod wav;

pub use capture::Microphone;
pub use devices::{InputDevice, list_inputs};
pub use level::{LEVELS_PER_SECOND, Level, LevelMeter, SILENCE_DBFS, dbfs};
pub use resample::resample;
pub use wav::{WavSource, encode_wav};

/// The rate recordings are delivered at, and the voice models take.
pub const TARGET_RATE: u32 = 16_000;

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
    #[error("no microphone is connected")]
    NoDevice,
    #[error("no microphone with id {0}")]
    UnknownDevice(String),
    #[error("the microphone {0} is in use by another program")]
    Busy(String),
    #[error("cannot open the microphone {0}")]
    Open(String),
    #[error("the microphone was lost during the recording: {0}")]
    DeviceLost(String),
    #[error("cannot convert the sample rate: {0}")]
    Resample(String),
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

/// A finished recording: mono at [`TARGET_RATE`].
#[derive(Clone)]
pub struct Recording {
    pub samples: Vec<f32>,
    /// What the device or file delivered before conversion.
    pub source: AudioFormat,
}

// A voice sample is biometric data: never print the samples.
impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recording")
            .field("seconds", &self.seconds())
            .field("source", &self.source)
            .finish()
    }
}

impl Recording {
    pub fn seconds(&self) -> f32 {
        self.samples.len() as f32 / TARGET_RATE as f32
    }
}

/// Records up to `max_seconds` from `source` (less if it ends first),
/// calling `on_level` twenty times per second of audio, and converts the
/// result to [`TARGET_RATE`].
pub fn record(
    source: &mut dyn AudioSource,
    max_seconds: f32,
    on_level: &mut dyn FnMut(Level),
) -> Result<Recording, AudioError> {
    let format = source.format();
    let max_samples = (max_seconds.max(0.0) * format.sample_rate as f32) as usize;
    let mut meter = LevelMeter::new(format.sample_rate);
    let mut samples = Vec::with_capacity(max_samples.min(format.sample_rate as usize * 60));
    while samples.len() < max_samples {
        let Some(mut chunk) = source.next_chunk()? else {
            break;
        };
        chunk.truncate(max_samples - samples.len());
        meter.push(&chunk).into_iter().for_each(&mut *on_level);
        samples.extend_from_slice(&chunk);
    }
    Ok(Recording {
        samples: resample(&samples, format.sample_rate, TARGET_RATE)?,
        source: format,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav_bytes(rate: u32, seconds: f32) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut bytes = std::io::Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut bytes, spec).unwrap();
        for i in 0..(rate as f32 * seconds) as usize {
            let t = i as f32 / rate as f32;
            let v = 0.25 * (2.0 * std::f32::consts::PI * 300.0 * t).sin();
            w.write_sample((v * 32767.0) as i16).unwrap();
        }
        w.finalize().unwrap();
        bytes.into_inner()
    }

    #[test]
    fn records_a_file_to_16_khz_with_twenty_levels_per_second() {
        let mut src = WavSource::from_bytes(&wav_bytes(48_000, 2.0)).unwrap();
        let mut levels = Vec::new();
        let rec = record(&mut src, 1.5, &mut |l| levels.push(l)).unwrap();
        assert_eq!(rec.source.sample_rate, 48_000);
        assert!(
            rec.samples.len().abs_diff(24_000) <= 2,
            "{}",
            rec.samples.len()
        );
        assert_eq!(levels.len(), 30);
        // A sine of amplitude 0.25: RMS -15 dBFS, peak -12 dBFS.
        assert!(
            (levels[10].rms_dbfs - -15.05).abs() < 0.1,
            "{:?}",
            levels[10]
        );
        assert!(
            (levels[10].peak_dbfs - -12.04).abs() < 0.1,
            "{:?}",
            levels[10]
        );
        assert!(!format!("{rec:?}").contains("samples"));
    }

    #[test]
    fn a_short_file_ends_the_recording_early() {
        let mut src = WavSource::from_bytes(&wav_bytes(16_000, 0.5)).unwrap();
        let rec = record(&mut src, 10.0, &mut |_| {}).unwrap();
        assert_eq!(rec.samples.len(), 8_000);
    }
}
