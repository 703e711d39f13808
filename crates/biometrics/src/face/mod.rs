//! Face analysis for the counter camera and the chip portrait: detection,
//! capture quality, passive liveness and 1:1 matching, on the models of a
//! [`ModelCatalog`](crate::ModelCatalog).
//!
//! [`FaceAnalyzer`] holds the loaded models and is the entry point; the
//! other types are what it reports.

mod analyzer;
mod capture;
mod challenge;
mod detect;
mod embed;
pub(crate) mod frame;
mod liveness;
mod quality;

use thiserror::Error;

pub use analyzer::{
    AnalyzerConfig, FaceAnalyzer, FaceCheck, FrameAnalysis, LivenessStage, ReferenceFace,
    StageTimings, Stages,
};
pub use capture::{CaptureOutcome, CaptureUpdate, FaceSession};
pub use challenge::{
    ChallengeFailure, ChallengeReport, ChallengeState, HeadTurnChallenge, HeadTurnConfig,
    TurnDirection,
};
pub use detect::{DetectorConfig, Face};
pub use embed::{Embedding, MatchConfig, MatchDecision};
pub use frame::{BBox, Frame, Point};
pub use liveness::{
    LivenessAggregator, LivenessConfig, LivenessDecision, LivenessScores, LivenessVerdict,
};
pub use quality::{
    Check, Limit, Pose, Quality, QualityChecks, QualityConfig, QualityIssue, assess,
};

use crate::models::ModelError;
use crate::session::InferenceError;

/// Why face analysis could not give an answer (as opposed to answers
/// such as "no face" in a frame, which are results).
#[derive(Debug, Error)]
pub enum FaceError {
    #[error("the image cannot be decoded: {0}")]
    Decode(String),
    #[error("the frame cannot be encoded: {0}")]
    Encode(String),
    #[error("a {width}x{height} RGB frame needs {} bytes, got {bytes}", (*width as u64) * (*height as u64) * 3)]
    InvalidFrame {
        width: u32,
        height: u32,
        bytes: usize,
    },
    #[error("invalid face analysis configuration: {0}")]
    InvalidConfig(String),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Inference(#[from] InferenceError),
    #[error("model {model} gave an unusable output: {detail}")]
    UnexpectedOutput { model: &'static str, detail: String },
    /// Only a reference portrait makes these errors: in a live frame, no
    /// face or several are quality results.
    #[error("no face found in the reference portrait")]
    NoFace,
    #[error("{0} faces of similar size in the reference portrait; expected one")]
    MultipleFaces(usize),
}
