//! A WAV file as an audio source.

use std::path::Path;

use crate::{AudioError, AudioFormat, AudioSource};

/// Samples delivered per chunk: 20 ms at 16 kHz, like a live device.
const CHUNK: usize = 320;

/// Mono 16-bit PCM as the bytes of a WAV file, in memory: for playing a
/// recording back without writing it anywhere.
pub fn encode_wav(samples: &[i16], sample_rate: u32) -> Result<Vec<u8>, AudioError> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let bad = |e: hound::Error| AudioError::BadRecording {
        path: "(memory)".into(),
        message: e.to_string(),
    };
    let mut bytes = std::io::Cursor::new(Vec::with_capacity(44 + samples.len() * 2));
    let mut writer = hound::WavWriter::new(&mut bytes, spec).map_err(bad)?;
    for &s in samples {
        writer.write_sample(s).map_err(bad)?;
    }
    writer.finalize().map_err(bad)?;
    Ok(bytes.into_inner())
}

/// A whole WAV recording, mixed down to mono.
#[derive(Debug, Clone)]
pub struct WavSource {
    format: AudioFormat,
    samples: Vec<f32>,
    pos: usize,
}

impl WavSource {
    pub fn open(path: &Path) -> Result<Self, AudioError> {
        let bad = |message: String| AudioError::BadRecording {
            path: path.display().to_string(),
            message,
        };
        let reader = hound::WavReader::open(path).map_err(|e| bad(e.to_string()))?;
        Self::from_reader(reader).map_err(|e| match e {
            AudioError::BadRecording { message, .. } => bad(message),
            other => other,
        })
    }

    /// Reads a WAV held in memory.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AudioError> {
        let reader = hound::WavReader::new(std::io::Cursor::new(bytes)).map_err(|e| {
            AudioError::BadRecording {
                path: "(memory)".into(),
                message: e.to_string(),
            }
        })?;
        Self::from_reader(reader)
    }

    fn from_reader<R: std::io::Read>(reader: hound::WavReader<R>) -> Result<Self, AudioError> {
        let spec = reader.spec();
        if spec.channels == 0 || spec.sample_rate == 0 {
            return Err(AudioError::UnsupportedFormat(format!(
                "{} channels at {} Hz",
                spec.channels, spec.sample_rate
            )));
        }
        let bad = |e: hound::Error| AudioError::BadRecording {
            path: "(memory)".into(),
            message: e.to_string(),
        };
        let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
            (hound::SampleFormat::Float, 32) => reader
                .into_samples::<f32>()
                .collect::<Result<_, _>>()
                .map_err(bad)?,
            (hound::SampleFormat::Int, bits @ (8 | 16 | 24 | 32)) => {
                let scale = 1.0 / (1u64 << (bits - 1)) as f32;
                reader
                    .into_samples::<i32>()
                    .map(|s| s.map(|v| v as f32 * scale))
                    .collect::<Result<_, _>>()
                    .map_err(bad)?
            }
            (fmt, bits) => {
                return Err(AudioError::UnsupportedFormat(format!("{fmt:?} {bits}-bit")));
            }
        };
        let channels = spec.channels as usize;
        let samples = interleaved
            .chunks_exact(channels)
            .map(|frame| frame.iter().sum::<f32>() / channels as f32)
            .collect();
        Ok(Self {
            format: AudioFormat {
                sample_rate: spec.sample_rate,
                source_channels: spec.channels,
            },
            samples,
            pos: 0,
        })
    }

    pub fn duration_secs(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.format.sample_rate)
    }
}

impl AudioSource for WavSource {
    fn format(&self) -> AudioFormat {
        self.format
    }

    fn next_chunk(&mut self) -> Result<Option<Vec<f32>>, AudioError> {
        if self.pos >= self.samples.len() {
            return Ok(None);
        }
        let end = (self.pos + CHUNK).min(self.samples.len());
        let chunk = self.samples[self.pos..end].to_vec();
        self.pos = end;
        Ok(Some(chunk))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_samples_read_back_the_same() {
        let samples: Vec<i16> = (0..1600).map(|i| ((i * 37) % 2000 - 1000) as i16).collect();
        let bytes = encode_wav(&samples, 16_000).unwrap();
        assert_eq!(&bytes[..4], b"RIFF");
        assert_eq!(bytes.len(), 44 + samples.len() * 2);
        let mut back = WavSource::from_bytes(&bytes).unwrap();
        assert_eq!(back.format().sample_rate, 16_000);
        let read = back.read_to_end(usize::MAX).unwrap();
        let again: Vec<i16> = read.iter().map(|s| (s * 32768.0).round() as i16).collect();
        assert_eq!(again, samples);
    }

    fn write_wav(path: &Path, channels: u16, frames: &[[i16; 2]]) {
        let spec = hound::WavSpec {
            channels,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for f in frames {
            for s in &f[..channels as usize] {
                w.write_sample(*s).unwrap();
            }
        }
        w.finalize().unwrap();
    }

    #[test]
    fn reads_and_mixes_down_to_mono() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stereo.wav");
        let frames: Vec<[i16; 2]> = (0..1000)
            .map(|i| [16_384, if i % 2 == 0 { 0 } else { -16_384 }])
            .collect();
        write_wav(&path, 2, &frames);
        let mut src = WavSource::open(&path).unwrap();
        assert_eq!(
            src.format(),
            AudioFormat {
                sample_rate: 16_000,
                source_channels: 2
            }
        );
        assert!((src.duration_secs() - 1000.0 / 16_000.0).abs() < 1e-9);
        let first = src.next_chunk().unwrap().unwrap();
        assert_eq!(first.len(), CHUNK);
        assert!((first[0] - 0.25).abs() < 1e-6);
        assert!((first[1] - 0.0).abs() < 1e-6);
        let rest = src.read_to_end(usize::MAX).unwrap();
        assert_eq!(rest.len(), 1000 - CHUNK);
        assert!(src.next_chunk().unwrap().is_none());
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("noise.wav");
        std::fs::write(&path, b"RIFF\x10\x00\x00\x00WAVEgarbage").unwrap();
        let err = WavSource::open(&path).unwrap_err();
        assert!(matches!(err, AudioError::BadRecording { .. }), "{err}");
        assert!(err.to_string().contains("noise.wav"));
        assert!(WavSource::from_bytes(&[0u8; 3]).is_err());
        let missing = WavSource::open(&dir.path().join("absent.wav")).unwrap_err();
        assert!(missing.to_string().contains("absent.wav"));
    }
}
