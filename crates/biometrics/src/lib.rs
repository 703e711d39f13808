//! Biometric analysis for the enrollment: the citizen's face and voice.
//!
//! Everything here runs locally on the models listed in a [`ModelCatalog`]
//! (`models/models.toml`), each file checked against its sha256 before use.
//! The crate takes pixels and samples and returns verdicts; it never opens a
//! camera, a microphone or the network, and never writes a biometric to disk.
#![forbid(unsafe_code)]

pub mod face;
pub mod models;
mod session;
mod vector;
pub mod voice;

pub use face::{
    AnalyzerConfig, CaptureOutcome, CaptureUpdate, Embedding, Face, FaceAnalyzer, FaceCheck,
    FaceError, FaceSession, Frame, FrameAnalysis, HeadTurnChallenge, HeadTurnConfig,
    LivenessAggregator, LivenessDecision, LivenessVerdict, MatchDecision, Quality, QualityConfig,
    QualityIssue, TurnDirection,
};
pub use models::{ModelCatalog, ModelEntry, ModelError, ModelStatus};
pub use session::InferenceError;
pub use voice::{
    DigitChallenge, SpeakerEmbedding, VoiceAnalyzer, VoiceCheck, VoiceConfig, VoiceError,
    VoiceIssue, VoiceMeasures,
};
