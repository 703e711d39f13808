//! Speaker embedding with the Resemblyzer GE2E encoder, computed as
//! Resemblyzer's `embed_utterance` does: overlapping 1.6 s windows at 1.3
//! windows per second, each embedded, averaged and L2-normalised.

use super::mel::{HOP, MelSpectrogram, N_MELS};
use crate::session::{InferenceError, Session};

/// Mel frames per window: 1.6 s.
const WINDOW_FRAMES: usize = 160;
/// Frames between window starts: 16000 / 1.3 / 160, rounded.
const WINDOW_STEP: usize = 77;
/// A last window covering less of the audio than this is dropped.
const MIN_COVERAGE: f32 = 0.75;
/// Quiet recordings are raised to this RMS level before embedding.
const TARGET_DBFS: f32 = -30.0;
pub(crate) const DIMS: usize = 256;

/// An L2-normalised 256-d voiceprint. Biometric data: its debug form hides
/// the values.
#[derive(Clone, PartialEq)]
pub struct SpeakerEmbedding(Vec<f32>);

impl std::fmt::Debug for SpeakerEmbedding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SpeakerEmbedding({} dims)", self.0.len())
    }
}

impl SpeakerEmbedding {
    fn normalised(values: Vec<f32>) -> Option<Self> {
        crate::vector::l2_normalised(values).map(Self)
    }

    pub fn as_slice(&self) -> &[f32] {
        &self.0
    }

    /// Cosine similarity, -1..1; 0 when the dimensions differ.
    pub fn cosine(&self, other: &SpeakerEmbedding) -> f32 {
        crate::vector::cosine(&self.0, &other.0)
    }
}

#[derive(Debug)]
pub(crate) struct SpeakerEncoder {
    session: Session,
    mel: MelSpectrogram,
}

impl SpeakerEncoder {
    pub fn load(bytes: &[u8]) -> Result<Self, InferenceError> {
        Ok(Self {
            session: Session::load_with_inputs(
                "speaker_embedding",
                bytes,
                &[&[1, WINDOW_FRAMES, N_MELS]],
                true,
            )?,
            mel: MelSpectrogram::new(),
        })
    }

    /// Embeds 16 kHz speech (silence already removed). `None` for audio
    /// with no energy at all.
    pub fn embed(&self, speech: &[f32]) -> Result<Option<SpeakerEmbedding>, InferenceError> {
        let mut wav = raise_to(speech, TARGET_DBFS);
        let starts = window_starts(wav.len());
        let Some(&last) = starts.last() else {
            return Ok(None);
        };
        // Pad so that the last window lies wholly inside the audio.
        wav.resize(wav.len().max((last + WINDOW_FRAMES) * HOP), 0.0);
        let frames = self.mel.compute(&wav);
        let mut sum = vec![0.0f32; DIMS];
        let mut input = Vec::with_capacity(WINDOW_FRAMES * N_MELS);
        for start in starts {
            input.clear();
            for row in frames.iter().skip(start).take(WINDOW_FRAMES) {
                input.extend_from_slice(row);
            }
            input.resize(WINDOW_FRAMES * N_MELS, 0.0);
            let outputs = self.session.run_inputs(&[&input])?;
            let values = outputs
                .first()
                .map(|o| o.values.as_slice())
                .filter(|v| v.len() == DIMS && v.iter().all(|x| x.is_finite()))
                .ok_or_else(|| InferenceError {
                    model: self.session.name(),
                    message: "the embedding is not 256 finite values".into(),
                })?;
            sum.iter_mut().zip(values).for_each(|(s, v)| *s += v);
        }
        Ok(SpeakerEmbedding::normalised(sum))
    }
}

/// Only ever raises the level: loud recordings are left as they are.
fn raise_to(samples: &[f32], target_dbfs: f32) -> Vec<f32> {
    let power = samples.iter().map(|s| s * s).sum::<f32>() / samples.len().max(1) as f32;
    if power <= 0.0 {
        return samples.to_vec();
    }
    let change_db = target_dbfs - 10.0 * power.log10();
    if change_db <= 0.0 {
        return samples.to_vec();
    }
    let gain = 10f32.powf(change_db / 20.0);
    samples.iter().map(|s| s * gain).collect()
}

/// First mel frame of each window over `samples` samples.
fn window_starts(samples: usize) -> Vec<usize> {
    if samples == 0 {
        return Vec::new();
    }
    let frames = (samples + 1).div_ceil(HOP);
    let end = (frames + WINDOW_STEP + 1)
        .saturating_sub(WINDOW_FRAMES)
        .max(1);
    let mut starts: Vec<usize> = (0..end).step_by(WINDOW_STEP).collect();
    if let Some(&last) = starts.last() {
        let first_sample = last * HOP;
        let covered = (samples.saturating_sub(first_sample)) as f32 / (WINDOW_FRAMES * HOP) as f32;
        if covered < MIN_COVERAGE && starts.len() > 1 {
            starts.pop();
        }
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_as_resemblyzer_slices_them() {
        // Under one window: a single window, padded.
        assert_eq!(window_starts(8_000), [0]);
        // Three seconds: 301 frames; windows at 0, 77 and 154.
        assert_eq!(window_starts(48_000), [0, 77, 154]);
        // 1.875 s: a window at frame 77 would cover 69 % of its 1.6 s.
        assert_eq!(window_starts(30_000), [0]);
        assert_eq!(window_starts(33_600), [0, 77]);
        assert!(window_starts(0).is_empty());
    }

    #[test]
    fn quiet_audio_is_raised_and_loud_audio_kept() {
        let quiet = vec![0.001f32; 100];
        let raised = raise_to(&quiet, -30.0);
        assert!((raised[0] - 10f32.powf(-1.5)).abs() < 1e-5);
        let loud = vec![0.5f32; 100];
        assert_eq!(raise_to(&loud, -30.0), loud);
        assert_eq!(raise_to(&[0.0; 4], -30.0), [0.0; 4]);
    }
}
