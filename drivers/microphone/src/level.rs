//! The level meter the clerk watches while the citizen speaks.

use serde::Serialize;

/// Level events per second of audio.
pub const LEVELS_PER_SECOND: u32 = 20;

/// Loudness of one meter window, in dB relative to full scale.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(rename = "AudioLevel"))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Level {
    pub rms_dbfs: f32,
    pub peak_dbfs: f32,
}

/// The floor reported for digital silence.
pub const SILENCE_DBFS: f32 = -120.0;

pub fn dbfs(amplitude: f32) -> f32 {
    if amplitude <= 0.0 || !amplitude.is_finite() {
        return SILENCE_DBFS;
    }
    (20.0 * amplitude.log10()).max(SILENCE_DBFS)
}

impl Level {
    pub fn of(samples: &[f32]) -> Self {
        if samples.is_empty() {
            return Self {
                rms_dbfs: SILENCE_DBFS,
                peak_dbfs: SILENCE_DBFS,
            };
        }
        let power = samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32;
        let peak = samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        Self {
            rms_dbfs: dbfs(power.sqrt()),
            peak_dbfs: dbfs(peak),
        }
    }
}

/// Cuts a stream of chunks of any size into meter windows of 1/20 s.
#[derive(Debug, Clone)]
pub struct LevelMeter {
    window: usize,
    pending: Vec<f32>,
}

impl LevelMeter {
    pub fn new(sample_rate: u32) -> Self {
        let window = (sample_rate / LEVELS_PER_SECOND).max(1) as usize;
        Self {
            window,
            pending: Vec::with_capacity(window),
        }
    }

    /// Feeds samples; returns the level of every window they complete.
    pub fn push(&mut self, samples: &[f32]) -> Vec<Level> {
        let mut levels = Vec::new();
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (self.window - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == self.window {
                levels.push(Level::of(&self.pending));
                self.pending.clear();
            }
        }
        levels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_windows_per_second_whatever_the_chunking() {
        let mut meter = LevelMeter::new(48_000);
        let second: Vec<f32> = (0..48_000)
            .map(|i| if i % 2 == 0 { 0.5 } else { -0.5 })
            .collect();
        let mut levels = Vec::new();
        for chunk in second.chunks(1_003) {
            levels.extend(meter.push(chunk));
        }
        assert_eq!(levels.len(), 20);
        for l in levels {
            assert!((l.rms_dbfs - -6.0206).abs() < 0.01, "{l:?}");
            assert!((l.peak_dbfs - -6.0206).abs() < 0.01, "{l:?}");
        }
    }

    #[test]
    fn silence_has_a_finite_floor() {
        let l = Level::of(&[0.0; 800]);
        assert_eq!(l.rms_dbfs, SILENCE_DBFS);
        assert_eq!(Level::of(&[]).peak_dbfs, SILENCE_DBFS);
        assert_eq!(dbfs(1.0), 0.0);
    }
}
