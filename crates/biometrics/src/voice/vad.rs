//! Voice activity with the Silero VAD model (16 kHz branch).

use crate::session::{InferenceError, Session};

/// New samples per model step: 32 ms at 16 kHz.
pub(crate) const CHUNK: usize = 512;
/// Samples of the previous step the model sees again.
const CONTEXT: usize = 64;
const STATE: usize = 2 * 128;

#[derive(Debug)]
pub(crate) struct VoiceActivity {
    session: Session,
    /// Output positions of the probability and of the next state.
    prob_output: usize,
    state_output: usize,
}

impl VoiceActivity {
    pub fn load(bytes: &[u8]) -> Result<Self, InferenceError> {
        let session = Session::load_with_inputs(
            "voice_activity",
            bytes,
            &[&[1, CONTEXT + CHUNK], &[2, 1, 128]],
            true,
        )?;
        let names = session.output_names();
        let find = |name: &str| {
            names
                .iter()
                .position(|n| n == name)
                .ok_or_else(|| InferenceError {
                    model: "voice_activity",
                    message: format!("no output `{name}` among {names:?}"),
                })
        };
        Ok(Self {
            prob_output: find("output")?,
            state_output: find("stateN")?,
            session,
        })
    }

    /// The speech probability of every 512-sample chunk of 16 kHz audio
    /// (a short last chunk is padded with silence).
    pub fn probabilities(&self, samples: &[f32]) -> Result<Vec<f32>, InferenceError> {
        let mut state = vec![0.0f32; STATE];
        let mut input = vec![0.0f32; CONTEXT + CHUNK];
        let mut probs = Vec::with_capacity(samples.len().div_ceil(CHUNK));
        for chunk in samples.chunks(CHUNK) {
            // The last CONTEXT samples of the previous input lead the next.
            input.copy_within(CHUNK.., 0);
            input[CONTEXT..CONTEXT + chunk.len()].copy_from_slice(chunk);
            input[CONTEXT + chunk.len()..].fill(0.0);
            let outputs = self.session.run_inputs(&[&input, &state])?;
            let (Some(prob), Some(next)) = (
                outputs.get(self.prob_output),
                outputs.get(self.state_output),
            ) else {
                return Err(self.unexpected("missing outputs"));
            };
            match (prob.values.first(), next.values.len()) {
                (Some(&p), STATE) if p.is_finite() => probs.push(p),
                _ => return Err(self.unexpected("malformed outputs")),
            }
            state.copy_from_slice(&next.values);
        }
        Ok(probs)
    }

    fn unexpected(&self, what: &str) -> InferenceError {
        InferenceError {
            model: self.session.name(),
            message: what.to_owned(),
        }
    }
}

/// Per-chunk speech flags with hysteresis, as Silero's own segmentation
/// does: speech starts at `threshold` and ends below `threshold - 0.15`.
pub(crate) fn speech_mask(probs: &[f32], threshold: f32) -> Vec<bool> {
    let release = (threshold - 0.15).max(0.01);
    let mut speaking = false;
    probs
        .iter()
        .map(|&p| {
            speaking = if speaking {
                p >= release
            } else {
                p >= threshold
            };
            speaking
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hysteresis_holds_speech_through_short_dips() {
        let mask = speech_mask(&[0.1, 0.6, 0.4, 0.3, 0.45, 0.9, 0.2], 0.5);
        assert_eq!(mask, [false, true, true, false, false, true, false]);
    }
}
