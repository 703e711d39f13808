//! One citizen in front of the camera: frames in, a decision out. A
//! [`FaceSession`] runs every frame through the [`FaceAnalyzer`], pools the
//! liveness of good frames, follows the head-turn challenge, keeps the best
//! live frame, and matches it against the chip portrait.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::FaceError;
use super::analyzer::{FaceAnalyzer, FrameAnalysis, LivenessStage, ReferenceFace, Stages};
use super::challenge::{ChallengeReport, ChallengeState, HeadTurnChallenge};
use super::embed::MatchDecision;
use super::frame::Frame;
use super::liveness::{LivenessAggregator, LivenessDecision, LivenessScores, LivenessVerdict};
use super::quality::{Limit, QualityIssue};

/// What the clerk's screen shows after each analysed frame.
#[derive(Debug, Clone, Serialize)]
pub struct CaptureUpdate {
    /// Source time of the frame.
    pub at_ms: u64,
    pub analysis: FrameAnalysis,
    /// The one thing to tell the citizen now.
    pub hint: Option<QualityIssue>,
    pub challenge: Option<ChallengeReport>,
    pub liveness: LivenessVerdict,
    pub frames_analysed: usize,
}

/// The outcome of a capture: what goes into the enrollment.
#[derive(Debug, Clone, Serialize)]
pub struct CaptureOutcome {
    /// Texture liveness over the good frames, combined with the challenge:
    /// live only when both say so.
    pub liveness: LivenessVerdict,
    /// The texture models' verdict alone.
    pub texture: LivenessVerdict,
    pub challenge: Option<ChallengeReport>,
    /// The chosen frame's match against the reference, when both exist.
    pub matching: Option<MatchDecision>,
    pub frames_analysed: usize,
    /// The chosen frame's analysis.
    pub best: Option<FrameAnalysis>,
    /// The chosen frame, JPEG-encoded. Never serialised: biometric.
    #[serde(skip)]
    pub best_jpeg: Option<Vec<u8>>,
}

struct Candidate {
    frame: Frame,
    analysis: FrameAnalysis,
    rank: f32,
}

/// The state of one face capture.
pub struct FaceSession {
    analyzer: Arc<FaceAnalyzer>,
    aggregator: LivenessAggregator,
    challenge: Option<HeadTurnChallenge>,
    reference: Option<ReferenceFace>,
    best: Option<Candidate>,
    frames: usize,
}

impl std::fmt::Debug for FaceSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceSession")
            .field("frames", &self.frames)
            .field("liveness", &self.aggregator.verdict())
            .finish_non_exhaustive()
    }
}

/// JPEG quality of the stored frame: the platform re-runs the match on it.
const BEST_FRAME_QUALITY: u8 = 90;

impl FaceSession {
    pub fn new(
        analyzer: Arc<FaceAnalyzer>,
        reference: Option<ReferenceFace>,
        challenge: Option<HeadTurnChallenge>,
    ) -> Self {
        Self {
            aggregator: LivenessAggregator::new(analyzer.config().liveness),
            analyzer,
            challenge,
            reference,
            best: None,
            frames: 0,
        }
    }

    /// Analyses one frame taken at `at` (source time).
    pub fn offer(&mut self, frame: Frame, at: Duration) -> Result<CaptureUpdate, FaceError> {
        // Embedding is the dearest stage and only the chosen frame needs it:
        // it runs once, in `outcome`. Liveness runs where it can count.
        let analysis = self.analyzer.analyze_with(
            &frame,
            Stages {
                liveness: LivenessStage::OnEvidence,
                embedding: false,
            },
        )?;
        self.frames += 1;
        let counted = liveness_evidence(&analysis).is_some_and(|scores| {
            self.aggregator.push(&scores);
            true
        });
        let single = (analysis.quality.face_count == 1)
            .then_some(analysis.face)
            .flatten();
        let challenge = self.challenge.as_mut().map(|c| {
            c.observe(single.as_ref(), at);
            c.report()
        });
        let rank = frame_rank(&analysis);
        let live_enough = analysis
            .frame_liveness
            .is_some_and(|v| v.decision == LivenessDecision::Live);
        let keepable = counted && analysis.quality.passed && live_enough;
        if keepable && self.best.as_ref().is_none_or(|b| rank > b.rank) {
            self.best = Some(Candidate {
                frame,
                analysis: analysis.clone(),
                rank,
            });
        }
        let hint = analysis.quality.issue;
        Ok(CaptureUpdate {
            at_ms: at.as_millis() as u64,
            analysis,
            hint,
            challenge,
            liveness: self.combined(),
            frames_analysed: self.frames,
        })
    }

    /// Texture verdict and challenge together: a failed or unfinished
    /// challenge keeps a live texture verdict from counting.
    fn combined(&self) -> LivenessVerdict {
        let texture = self.aggregator.verdict();
        let decision = match (texture.decision, self.challenge.as_ref().map(|c| c.state())) {
            (LivenessDecision::Spoof, _) => LivenessDecision::Spoof,
            (LivenessDecision::Live, None | Some(ChallengeState::Passed)) => LivenessDecision::Live,
            _ => LivenessDecision::Undetermined,
        };
        LivenessVerdict {
            decision,
            ..texture
        }
    }

    /// True once the capture can stop: liveness decided either way, the
    /// challenge finished, and a best frame chosen if the face is live.
    pub fn is_complete(&self) -> bool {
        let challenge_done = self
            .challenge
            .as_ref()
            .is_none_or(|c| matches!(c.state(), ChallengeState::Passed | ChallengeState::Failed));
        match self.combined().decision {
            LivenessDecision::Live => self.best.is_some(),
            LivenessDecision::Spoof => true,
            LivenessDecision::Undetermined => {
                challenge_done
                    && self.aggregator.verdict().decision != LivenessDecision::Undetermined
            }
        }
    }

    /// The candidate's analysis with its embedding and the time it took.
    fn embedded(&self, candidate: &Candidate) -> Result<FrameAnalysis, FaceError> {
        let mut analysis = candidate.analysis.clone();
        if let Some(face) = analysis.face.as_ref() {
            let started = std::time::Instant::now();
            let inference_start = crate::session::inference_ns();
            analysis.embedding = Some(self.analyzer.embed(&candidate.frame, face)?);
            let ms = super::analyzer::millis(started);
            analysis.timings.embedding_ms = ms;
            analysis.timings.total_ms += ms;
            analysis.timings.inference_ms += crate::session::inference_ms_since(inference_start);
        }
        Ok(analysis)
    }

    /// The outcome so far. The best frame is embedded and encoded here, so
    /// a capture pays for one embedding however many frames it analysed.
    pub fn outcome(&self) -> Result<CaptureOutcome, FaceError> {
        let best = self.best.as_ref().map(|b| self.embedded(b)).transpose()?;
        let matching = match (&best, &self.reference) {
            (Some(best), Some(reference)) => best
                .embedding
                .as_ref()
                .map(|live| self.analyzer.compare(live, &reference.embedding)),
            _ => None,
        };
        let best_jpeg = self
            .best
            .as_ref()
            .map(|b| b.frame.to_jpeg(BEST_FRAME_QUALITY))
            .transpose()?;
        Ok(CaptureOutcome {
            liveness: self.combined(),
            texture: self.aggregator.verdict(),
            challenge: self.challenge.as_ref().map(HeadTurnChallenge::report),
            matching,
            frames_analysed: self.frames,
            best,
            best_jpeg,
        })
    }
}

/// A frame's liveness scores, if they are evidence: one face, large,
/// sharp and lit enough for the texture models. Pose and centring do not
/// matter to them, so a citizen turning for the challenge, or a print held
/// askew, still counts — unlike for the stored frame, which must pass
/// every quality check.
fn liveness_evidence(analysis: &FrameAnalysis) -> Option<LivenessScores> {
    let usable = analysis.quality.is_liveness_evidence();
    analysis.liveness.filter(|s| usable && s.real.is_finite())
}

/// How good a frame is to keep: frontal, sharp and clearly live. Only
/// frames that passed every quality check are ranked at all.
fn frame_rank(analysis: &FrameAnalysis) -> f32 {
    let (Some(checks), Some(scores)) = (analysis.quality.checks, analysis.liveness) else {
        return f32::MIN;
    };
    let pose = checks.yaw.value.abs() + checks.pitch.value.abs() + checks.roll.value.abs();
    // Sharpness saturates: past twice the limit, more is not better.
    let floor = match checks.sharpness.limit {
        Limit::AtLeast(min) if min > 0.0 => min,
        _ => 1.0,
    };
    let sharp = (checks.sharpness.value / (2.0 * floor)).min(1.0);
    scores.real + sharp - pose / 30.0
}
