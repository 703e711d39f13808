//! Voice sample analysis: is there enough clear speech, and whose voice is
//! it? Takes 16 kHz mono samples; returns a [`VoiceCheck`] with the measures
//! the clerk sees, a verdict with reasons, and the speaker embedding the
//! packet carries.

mod challenge;
mod mel;
mod speaker;
mod vad;

pub use challenge::{DIGITS, DigitChallenge, Language};
pub use speaker::SpeakerEmbedding;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::models::{ModelCatalog, ModelError, bundled_models_dir};
use crate::session::InferenceError;
use speaker::SpeakerEncoder;
use vad::{CHUNK, VoiceActivity, speech_mask};

/// The only rate the analysis takes.
pub const SAMPLE_RATE: u32 = 16_000;

#[derive(Debug, Error)]
pub enum VoiceError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Inference(#[from] InferenceError),
    #[error("the recording holds {0} samples that are not numbers")]
    NotFinite(usize),
    #[error("invalid voice analysis configuration: {0}")]
    InvalidConfig(String),
}

/// Acceptance thresholds for a voice sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VoiceConfig {
    /// Silero probability at which a chunk counts as speech.
    pub speech_threshold: f32,
    /// Less speech than this is `no_speech`.
    pub min_speech_seconds: f32,
    /// Less than this (but some) is `too_short`: six digits take about two
    /// seconds to read.
    pub enough_speech_seconds: f32,
    /// Speech quieter than this (RMS over speech) is `too_quiet`.
    pub min_speech_dbfs: f32,
    /// A larger share of samples at full scale is `clipped`.
    pub max_clipping_ratio: f32,
    /// A lower speech-to-noise ratio is `noisy`.
    pub min_snr_db: f32,
}

impl Default for VoiceConfig {
    fn default() -> Self {
        Self {
            speech_threshold: 0.5,
            min_speech_seconds: 0.3,
            enough_speech_seconds: 1.5,
            min_speech_dbfs: -42.0,
            max_clipping_ratio: 0.001,
            min_snr_db: 12.0,
        }
    }
}

impl VoiceConfig {
    fn validate(&self) -> Result<(), VoiceError> {
        let ok = (0.0..1.0).contains(&self.speech_threshold)
            && self.min_speech_seconds >= 0.0
            && self.enough_speech_seconds >= self.min_speech_seconds
            && self.min_speech_dbfs < 0.0
            && (0.0..1.0).contains(&self.max_clipping_ratio)
            && self.min_snr_db.is_finite();
        if ok {
            Ok(())
        } else {
            Err(VoiceError::InvalidConfig(format!("{self:?}")))
        }
    }
}

/// Why a voice sample cannot be used, in the order the clerk should fix them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoiceIssue {
    NoSpeech,
    TooShort,
    TooQuiet,
    Clipped,
    Noisy,
}

/// The measures of one recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoiceMeasures {
    pub duration_seconds: f32,
    pub speech_seconds: f32,
    /// RMS level over the speech, dBFS (of the whole recording when there
    /// is no speech).
    pub speech_dbfs: f32,
    pub peak_dbfs: f32,
    /// Share of samples at full scale.
    pub clipping_ratio: f32,
    /// Speech power over the power of the pauses, dB (capped at 80).
    pub snr_db: f32,
}

/// The analysis of a recording: measures, verdict, and the voiceprint.
#[derive(Debug, Clone)]
pub struct VoiceCheck {
    pub measures: VoiceMeasures,
    pub issues: Vec<VoiceIssue>,
    /// Present whenever there was speech, even when the sample is not
    /// accepted (the clerk may still want to compare).
    pub embedding: Option<SpeakerEmbedding>,
}

impl VoiceCheck {
    pub fn accepted(&self) -> bool {
        self.issues.is_empty()
    }
}

/// The loaded voice models.
#[derive(Debug)]
pub struct VoiceAnalyzer {
    vad: VoiceActivity,
    encoder: SpeakerEncoder,
    config: VoiceConfig,
}

/// Full scale, as 16-bit audio reaches it.
const CLIP_LEVEL: f32 = 0.99;
const SNR_CAP_DB: f32 = 80.0;

impl VoiceAnalyzer {
    pub fn load(catalog: &ModelCatalog, config: VoiceConfig) -> Result<Self, VoiceError> {
        config.validate()?;
        Ok(Self {
            vad: VoiceActivity::load(&catalog.load_verified("voice_activity")?)?,
            encoder: SpeakerEncoder::load(&catalog.load_verified("speaker_embedding")?)?,
            config,
        })
    }

    /// The models shipped with the station, default thresholds.
    pub fn load_bundled() -> Result<Self, VoiceError> {
        Self::load(
            &ModelCatalog::open(bundled_models_dir())?,
            VoiceConfig::default(),
        )
    }

    pub fn config(&self) -> &VoiceConfig {
        &self.config
    }

    /// Analyses 16 kHz mono samples in -1..1.
    pub fn analyze(&self, samples: &[f32]) -> Result<VoiceCheck, VoiceError> {
        let bad = samples.iter().filter(|s| !s.is_finite()).count();
        if bad > 0 {
            return Err(VoiceError::NotFinite(bad));
        }
        let cfg = &self.config;
        let probs = self.vad.probabilities(samples)?;
        let mask = speech_mask(&probs, cfg.speech_threshold);
        let power = |c: &[f32]| c.iter().map(|s| s * s).sum::<f32>() / c.len().max(1) as f32;
        // One power per VAD chunk, reused for speech, pauses and the floor.
        let chunk_powers: Vec<f32> = samples.chunks(CHUNK).map(power).collect();

        let mut speech = Vec::new();
        let (mut speech_power, mut pause_powers) = (0.0f64, Vec::new());
        for ((chunk, &p), &is_speech) in samples.chunks(CHUNK).zip(&chunk_powers).zip(&mask) {
            if is_speech {
                speech.extend_from_slice(chunk);
                speech_power += f64::from(p) * chunk.len() as f64;
            } else {
                pause_powers.push(p);
            }
        }
        let speech_seconds = speech.len() as f32 / SAMPLE_RATE as f32;
        let speech_power = if speech.is_empty() {
            power(samples)
        } else {
            (speech_power / speech.len() as f64) as f32
        };
        let noise_power = noise_floor(&mut pause_powers, chunk_powers);
        let snr_db = if speech.is_empty() {
            0.0
        } else {
            let signal = (speech_power - noise_power).max(f32::MIN_POSITIVE);
            (10.0 * (signal / noise_power.max(1e-12)).log10()).clamp(-SNR_CAP_DB, SNR_CAP_DB)
        };
        let peak = samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        let clipped = samples.iter().filter(|s| s.abs() >= CLIP_LEVEL).count();
        let measures = VoiceMeasures {
            duration_seconds: samples.len() as f32 / SAMPLE_RATE as f32,
            speech_seconds,
            speech_dbfs: to_db(speech_power),
            peak_dbfs: to_db(peak * peak),
            clipping_ratio: clipped as f32 / samples.len().max(1) as f32,
            snr_db,
        };

        let mut issues = Vec::new();
        if speech_seconds < cfg.min_speech_seconds {
            issues.push(VoiceIssue::NoSpeech);
        } else {
            if speech_seconds < cfg.enough_speech_seconds {
                issues.push(VoiceIssue::TooShort);
            }
            if measures.speech_dbfs < cfg.min_speech_dbfs {
                issues.push(VoiceIssue::TooQuiet);
            }
        }
        if measures.clipping_ratio > cfg.max_clipping_ratio {
            issues.push(VoiceIssue::Clipped);
        }
        if !issues.contains(&VoiceIssue::NoSpeech) && snr_db < cfg.min_snr_db {
            issues.push(VoiceIssue::Noisy);
        }
        let embedding = if speech.is_empty() {
            None
        } else {
            self.encoder.embed(&speech)?
        };
        tracing::debug!(
            speech_seconds,
            snr_db,
            issues = ?issues,
            "voice sample analysed"
        );
        Ok(VoiceCheck {
            measures,
            issues,
            embedding,
        })
    }
}

/// Power of the pauses: the median pause, since the pauses next to speech
/// still hold its onsets and tails; with too few pauses, the quietest tenth
/// of the recording.
fn noise_floor(pauses: &mut [f32], mut all: Vec<f32>) -> f32 {
    if pauses.len() >= 3 {
        pauses.sort_by(f32::total_cmp);
        return pauses[pauses.len() / 2];
    }
    all.sort_by(f32::total_cmp);
    all.get(all.len() / 10).copied().unwrap_or(0.0)
}

/// 10·log10 of a power, floored like the level meter.
fn to_db(power: f32) -> f32 {
    if power <= 0.0 || !power.is_finite() {
        return -120.0;
    }
    (10.0 * power.log10()).max(-120.0)
}
