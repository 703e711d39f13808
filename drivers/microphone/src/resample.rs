//! Sample-rate conversion to the rate the voice models take.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use crate::AudioError;

/// Converts mono `samples` from `from` Hz to `to` Hz with rubato's FFT
/// resampler (band-limited, fixed ratio), the resampler's delay trimmed.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, AudioError> {
    if from == to || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let fail = |e: &dyn std::fmt::Display| AudioError::Resample(e.to_string());
    let mut resampler = Fft::<f32>::new(from as usize, to as usize, 1024, 1, FixedSync::Input)
        .map_err(|e| fail(&e))?;
    let needed = resampler.process_all_needed_output_len(samples.len());
    let mut out = vec![0.0f32; needed];
    let input = InterleavedSlice::new(samples, 1, samples.len()).map_err(|e| fail(&e))?;
    let mut output = InterleavedSlice::new_mut(&mut out, 1, needed).map_err(|e| fail(&e))?;
    let (_, produced) = resampler
        .process_all_into_buffer(&input, &mut output, samples.len(), None)
        .map_err(|e| fail(&e))?;
    out.truncate(produced);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, rate: u32, seconds: f32) -> Vec<f32> {
        let n = (rate as f32 * seconds) as usize;
        (0..n)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin())
            .collect()
    }

    /// Amplitude of `freq` in `x` by correlation with a sine and a cosine.
    fn amplitude(x: &[f32], freq: f32, rate: u32) -> f32 {
        let (mut s, mut c) = (0.0f64, 0.0f64);
        for (i, v) in x.iter().enumerate() {
            let ph = 2.0 * std::f64::consts::PI * f64::from(freq) * i as f64 / f64::from(rate);
            s += f64::from(*v) * ph.sin();
            c += f64::from(*v) * ph.cos();
        }
        (2.0 * (s * s + c * c).sqrt() / x.len() as f64) as f32
    }

    #[test]
    fn a_tone_keeps_its_pitch_level_and_length() {
        for from in [48_000, 44_100, 22_050, 8_000] {
            let input = tone(1_000.0, from, 1.0);
            let out = resample(&input, from, 16_000).unwrap();
            let expected = 16_000usize;
            assert!(
                out.len().abs_diff(expected) <= 2,
                "{from} Hz: {} samples",
                out.len()
            );
            // Away from the edges the tone is intact.
            let mid = &out[1_000..15_000];
            let a = amplitude(mid, 1_000.0, 16_000);
            assert!((a - 0.5).abs() < 0.01, "{from} Hz: amplitude {a}");
            assert!(amplitude(mid, 1_100.0, 16_000) < 0.01);
        }
    }

    #[test]
    fn content_above_the_new_nyquist_is_filtered_out() {
        // 12 kHz at 48 kHz would alias to 4 kHz at 16 kHz without a filter.
        let input = tone(12_000.0, 48_000, 1.0);
        let out = resample(&input, 48_000, 16_000).unwrap();
        let a = amplitude(&out[1_000..15_000], 4_000.0, 16_000);
        assert!(a < 0.005, "aliased amplitude {a}");
    }

    #[test]
    fn same_rate_is_a_copy() {
        let input = tone(440.0, 16_000, 0.1);
        assert_eq!(resample(&input, 16_000, 16_000).unwrap(), input);
        assert!(resample(&[], 48_000, 16_000).unwrap().is_empty());
    }
}
