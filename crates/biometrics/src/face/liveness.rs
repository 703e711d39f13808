//! Passive liveness (presentation-attack detection): is the face in front of
//! the camera a person, or a print or a screen held up to it?
//!
//! Two MiniFASNet texture classifiers look at the face at two context
//! scales; their softmax outputs are averaged, as the reference recipe does.
//! A single frame is weak evidence, so the decision that counts comes from
//! [`LivenessAggregator`] over several good frames.

use serde::{Deserialize, Serialize};

use super::FaceError;
use super::analyzer::FrameAnalysis;
use super::detect::Face;
use super::frame::{Affine, BBox, Border, Frame, PixelFormat, Planar};
use crate::session::Session;

/// MiniFASNet input side.
const INPUT_SIDE: usize = 80;

/// Class probabilities, summing to 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LivenessScores {
    /// A live face.
    pub real: f32,
    /// A printed photo.
    pub print: f32,
    /// A screen replay.
    pub replay: f32,
}

/// What the evidence says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LivenessDecision {
    Live,
    Spoof,
    /// Neither clearly live nor clearly an attack, or not enough frames.
    Undetermined,
}

/// A decision with the scores behind it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LivenessVerdict {
    pub decision: LivenessDecision,
    /// Probability of a live face: the mean over the frames considered.
    pub real: f32,
    /// How many frames the verdict rests on.
    pub frames: usize,
}

/// Thresholds on the probability of a live face.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LivenessConfig {
    /// At or above: live.
    pub live_threshold: f32,
    /// At or below: spoof. Between the two: undetermined.
    pub spoof_threshold: f32,
    /// Good frames the aggregator needs before it decides.
    pub min_frames: usize,
}

impl Default for LivenessConfig {
    fn default() -> Self {
        Self {
            live_threshold: 0.8,
            spoof_threshold: 0.5,
            min_frames: 3,
        }
    }
}

impl LivenessConfig {
    /// The decision for a probability of a live face.
    pub fn decide(&self, real: f32, frames: usize) -> LivenessVerdict {
        let decision = if frames < self.min_frames.max(1) || !real.is_finite() {
            LivenessDecision::Undetermined
        } else if real >= self.live_threshold {
            LivenessDecision::Live
        } else if real <= self.spoof_threshold {
            LivenessDecision::Spoof
        } else {
            LivenessDecision::Undetermined
        };
        LivenessVerdict {
            decision,
            real,
            frames,
        }
    }

    /// The decision on one frame alone, for display; the aggregator's
    /// verdict is the one to act on.
    pub fn decide_frame(&self, scores: &LivenessScores) -> LivenessVerdict {
        Self {
            min_frames: 1,
            ..*self
        }
        .decide(scores.real, 1)
    }
}

/// One MiniFASNet and the context scale it was trained on.
#[derive(Debug)]
struct Classifier {
    session: Session,
    scale: f32,
}

/// The pair of liveness models.
#[derive(Debug)]
pub(crate) struct LivenessModel {
    classifiers: [Classifier; 2],
}

impl LivenessModel {
    pub fn load(v2: &[u8], v1se: &[u8]) -> Result<Self, FaceError> {
        let side = (INPUT_SIDE, INPUT_SIDE);
        Ok(Self {
            classifiers: [
                Classifier {
                    session: Session::load("liveness_v2", v2, side, false)?,
                    scale: 2.7,
                },
                Classifier {
                    session: Session::load("liveness_v1se", v1se, side, false)?,
                    scale: 4.0,
                },
            ],
        })
    }

    /// The mean of both models' class probabilities for `face`.
    pub fn score(&self, frame: &Frame, face: &Face) -> Result<LivenessScores, FaceError> {
        let mut sum = [0.0f32; 3];
        for classifier in &self.classifiers {
            let rect = context_square(&face.bbox, classifier.scale, frame.width(), frame.height());
            let input = Planar::resampled(
                frame,
                &Affine::crop_resize(&rect, INPUT_SIDE, INPUT_SIDE),
                (INPUT_SIDE, INPUT_SIDE),
                PixelFormat::BGR_RAW,
                Border::Replicate,
            );
            let outputs = classifier.session.run(input)?;
            let logits = outputs
                .first()
                .map(|o| o.values.as_slice())
                .filter(|v| v.len() == 3)
                .ok_or_else(|| FaceError::UnexpectedOutput {
                    model: classifier.session.name(),
                    detail: "expected 3 logits".to_owned(),
                })?;
            for (acc, p) in sum.iter_mut().zip(softmax(logits)) {
                *acc += p;
            }
        }
        let n = self.classifiers.len() as f32;
        // Classes as trained: 0 print, 1 real, 2 replay.
        Ok(LivenessScores {
            print: sum[0] / n,
            real: sum[1] / n,
            replay: sum[2] / n,
        })
    }
}

fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

/// The square of side `scale` times the face box's longer side, centred
/// on the box; shrunk to fit when the frame is too small and shifted (not
/// cut) to lie inside it, so the model always sees undistorted context.
fn context_square(bbox: &BBox, scale: f32, width: u32, height: u32) -> BBox {
    let (w, h) = (width as f32, height as f32);
    let side = (bbox.width.max(bbox.height) * scale)
        .min(w - 1.0)
        .min(h - 1.0)
        .max(1.0);
    let centre = bbox.center();
    let x = (centre.x - side / 2.0).clamp(0.0, (w - 1.0 - side).max(0.0));
    let y = (centre.y - side / 2.0).clamp(0.0, (h - 1.0 - side).max(0.0));
    BBox {
        x: x.floor(),
        y: y.floor(),
        width: side.floor() + 1.0,
        height: side.floor() + 1.0,
    }
}

/// Collects the liveness of good frames and decides on their mean.
#[derive(Debug, Clone, Default)]
pub struct LivenessAggregator {
    config: LivenessConfig,
    reals: Vec<f32>,
}

impl LivenessAggregator {
    pub fn new(config: LivenessConfig) -> Self {
        Self {
            config,
            reals: Vec::new(),
        }
    }

    /// Counts a frame if it is a good one: quality passed and liveness
    /// scored. Returns whether it was counted.
    pub fn offer(&mut self, analysis: &FrameAnalysis) -> bool {
        match analysis.liveness {
            Some(scores) if analysis.quality.passed && scores.real.is_finite() => {
                self.reals.push(scores.real);
                true
            }
            _ => false,
        }
    }

    /// Adds one frame's scores unconditionally: the caller has judged the
    /// frame good by its own rules.
    pub fn push(&mut self, scores: &LivenessScores) {
        if scores.real.is_finite() {
            self.reals.push(scores.real);
        }
    }

    pub fn frames(&self) -> usize {
        self.reals.len()
    }

    /// The verdict so far: undetermined until enough frames have been seen.
    pub fn verdict(&self) -> LivenessVerdict {
        let n = self.reals.len();
        let mean = if n == 0 {
            0.0
        } else {
            self.reals.iter().sum::<f32>() / n as f32
        };
        self.config.decide(mean, n)
    }

    pub fn reset(&mut self) {
        self.reals.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(real: f32) -> LivenessScores {
        LivenessScores {
            real,
            print: 1.0 - real,
            replay: 0.0,
        }
    }

    #[test]
    fn softmax_sums_to_one() {
        let p = softmax(&[1.0, 2.0, 3.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(p[2] > p[1] && p[1] > p[0]);
    }

    #[test]
    fn context_square_stays_inside_the_frame() {
        let face = BBox {
            x: 10.0,
            y: 20.0,
            width: 100.0,
            height: 120.0,
        };
        let sq = context_square(&face, 2.7, 640, 480);
        assert_eq!(sq.width, sq.height);
        assert!(sq.x >= 0.0 && sq.y >= 0.0);
        assert!(sq.right() <= 640.0 && sq.bottom() <= 480.0);
        // Larger than the frame: shrinks to the frame's short side.
        let sq = context_square(&face, 4.0, 640, 480);
        assert_eq!(sq.width, 480.0);
        assert_eq!(sq.y, 0.0);
    }

    #[test]
    fn aggregator_needs_enough_frames_and_averages() {
        let mut agg = LivenessAggregator::new(LivenessConfig::default());
        agg.push(&scores(0.99));
        agg.push(&scores(0.95));
        assert_eq!(agg.verdict().decision, LivenessDecision::Undetermined);
        agg.push(&scores(0.90));
        let v = agg.verdict();
        assert_eq!(v.decision, LivenessDecision::Live);
        assert_eq!(v.frames, 3);
        assert!((v.real - 0.9466).abs() < 1e-3);
        agg.push(&scores(0.0));
        agg.push(&scores(0.0));
        assert_eq!(agg.verdict().decision, LivenessDecision::Undetermined);
        agg.push(&scores(0.0));
        agg.push(&scores(0.0));
        assert_eq!(agg.verdict().decision, LivenessDecision::Spoof);
        agg.reset();
        assert_eq!(agg.frames(), 0);
    }
}
