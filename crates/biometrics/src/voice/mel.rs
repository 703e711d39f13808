//! The mel power spectrogram the speaker encoder was trained on: librosa's
//! `melspectrogram(sr=16000, n_fft=400, hop_length=160, n_mels=40)` — a
//! periodic Hann window, centred frames with zero padding, power (not
//! magnitude, not log), Slaney mel scale and area normalisation.

use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

pub(crate) const SAMPLE_RATE: f32 = 16_000.0;
pub(crate) const N_FFT: usize = 400;
pub(crate) const HOP: usize = 160;
pub(crate) const N_MELS: usize = 40;
const BINS: usize = N_FFT / 2 + 1;

/// A reusable spectrogram plan (window, filter bank, FFT).
pub(crate) struct MelSpectrogram {
    window: Vec<f32>,
    /// `N_MELS` rows of `BINS` weights.
    filters: Vec<[f32; BINS]>,
    fft: Arc<dyn Fft<f32>>,
}

impl std::fmt::Debug for MelSpectrogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "MelSpectrogram({N_MELS} bands, n_fft {N_FFT}, hop {HOP})"
        )
    }
}

impl MelSpectrogram {
    pub fn new() -> Self {
        let window = (0..N_FFT)
            .map(|n| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * n as f32 / N_FFT as f32).cos())
            .collect();
        Self {
            window,
            filters: slaney_filters(),
            fft: FftPlanner::new().plan_fft_forward(N_FFT),
        }
    }

    /// One row of `N_MELS` band powers per hop: `1 + len / HOP` rows.
    pub fn compute(&self, samples: &[f32]) -> Vec<[f32; N_MELS]> {
        let pad = N_FFT / 2;
        let mut padded = vec![0.0f32; samples.len() + 2 * pad];
        padded[pad..pad + samples.len()].copy_from_slice(samples);
        let frames = 1 + (padded.len() - N_FFT) / HOP;
        let mut buf = vec![Complex::new(0.0f32, 0.0); N_FFT];
        let mut scratch = vec![Complex::new(0.0f32, 0.0); self.fft.get_inplace_scratch_len()];
        let mut out = Vec::with_capacity(frames);
        for t in 0..frames {
            let frame = &padded[t * HOP..t * HOP + N_FFT];
            for ((b, x), w) in buf.iter_mut().zip(frame).zip(&self.window) {
                *b = Complex::new(x * w, 0.0);
            }
            self.fft.process_with_scratch(&mut buf, &mut scratch);
            let mut row = [0.0f32; N_MELS];
            for (band, weights) in row.iter_mut().zip(&self.filters) {
                *band = weights
                    .iter()
                    .zip(&buf[..BINS])
                    .map(|(w, c)| w * c.norm_sqr())
                    .sum();
            }
            out.push(row);
        }
        out
    }
}

fn hz_to_mel(hz: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    let logstep = 6.4f64.ln() / 27.0;
    if hz < 1_000.0 {
        hz / F_SP
    } else {
        15.0 + (hz / 1_000.0).ln() / logstep
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    let logstep = 6.4f64.ln() / 27.0;
    if mel < 15.0 {
        mel * F_SP
    } else {
        1_000.0 * (logstep * (mel - 15.0)).exp()
    }
}

/// Triangular filters between mel-spaced edges from 0 Hz to Nyquist, each
/// scaled to unit area (librosa's `norm="slaney"`).
fn slaney_filters() -> Vec<[f32; BINS]> {
    let nyquist = f64::from(SAMPLE_RATE) / 2.0;
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(nyquist));
    let edges: Vec<f64> = (0..N_MELS + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (N_MELS + 1) as f64))
        .collect();
    (0..N_MELS)
        .map(|i| {
            let (left, centre, right) = (edges[i], edges[i + 1], edges[i + 2]);
            let area = 2.0 / (right - left);
            let mut row = [0.0f32; BINS];
            for (k, w) in row.iter_mut().enumerate() {
                let f = k as f64 * f64::from(SAMPLE_RATE) / N_FFT as f64;
                let rising = (f - left) / (centre - left);
                let falling = (right - f) / (right - centre);
                *w = (rising.min(falling).max(0.0) * area) as f32;
            }
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mel_scale_round_trips_and_is_linear_below_1_khz() {
        for hz in [0.0, 200.0, 999.0, 1_000.0, 4_000.0, 8_000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-6);
        }
        assert!((hz_to_mel(1_000.0) - 15.0).abs() < 1e-9);
        assert!((hz_to_mel(500.0) - 7.5).abs() < 1e-9);
    }

    #[test]
    fn frames_follow_librosa_centring() {
        let mel = MelSpectrogram::new();
        assert_eq!(mel.compute(&vec![0.0; 16_000]).len(), 101);
        assert_eq!(mel.compute(&vec![0.0; 159]).len(), 1);
        assert_eq!(mel.compute(&[]).len(), 1);
    }

    #[test]
    fn a_tone_lands_in_its_band_with_the_expected_power() {
        let mel = MelSpectrogram::new();
        let tone: Vec<f32> = (0..16_000)
            .map(|i| (2.0 * std::f32::consts::PI * 1_000.0 * i as f32 / SAMPLE_RATE).sin())
            .collect();
        let frames = mel.compute(&tone);
        let row = frames[50];
        let loudest = (0..N_MELS)
            .max_by(|&a, &b| row[a].total_cmp(&row[b]))
            .unwrap();
        // 1 kHz is mel 15; edges are 40/41 of mel(8 kHz) apart.
        let step = hz_to_mel(8_000.0) / 41.0;
        let expected = (15.0 / step).round() as usize - 1;
        assert!(
            loudest.abs_diff(expected) <= 1,
            "band {loudest}, expected about {expected}"
        );
        // Parseval for a Hann-windowed unit sine: |X(k)|^2 at the peak bin
        // is (N/4)^2 = 10000, split between neighbouring bins and weighted.
        let total: f32 = row.iter().sum();
        assert!(total > 10.0 && total.is_finite(), "{total}");
    }

    #[test]
    fn filters_cover_the_spectrum_with_unit_area() {
        let filters = slaney_filters();
        assert_eq!(filters.len(), N_MELS);
        let hz_per_bin = f64::from(SAMPLE_RATE) / N_FFT as f64;
        for (i, row) in filters.iter().enumerate().skip(1) {
            // Area in Hz: sum of weights times bin width, close to 1 for
            // filters wide enough to be sampled well.
            let area: f64 = row.iter().map(|&w| f64::from(w)).sum::<f64>() * hz_per_bin;
            assert!((area - 1.0).abs() < 0.15, "filter {i}: area {area}");
        }
    }
}
