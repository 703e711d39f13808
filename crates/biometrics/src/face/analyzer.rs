//! The face pipeline in one place: models loaded once, then each frame
//! detected, assessed, checked for liveness and, when wanted, embedded.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::FaceError;
use super::detect::{DetectorConfig, Face, FaceDetector};
use super::embed::{Embedding, FaceEmbedder, MatchConfig, MatchDecision};
use super::frame::Frame;
use super::liveness::{LivenessConfig, LivenessModel, LivenessScores, LivenessVerdict};
use super::quality::{Quality, QualityConfig, assess, primary_face};
use crate::models::{ModelCatalog, bundled_models_dir};

/// Everything tunable about face analysis.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct AnalyzerConfig {
    pub detector: DetectorConfig,
    pub quality: QualityConfig,
    pub liveness: LivenessConfig,
    pub matching: MatchConfig,
}

/// Which optional stages to run on a frame. Detection and quality always run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stages {
    pub liveness: LivenessStage,
    /// The embedding costs about as much as everything else together: a
    /// preview loop asks for it only on frames it means to match.
    pub embedding: bool,
}

impl Stages {
    pub const ALL: Self = Self {
        liveness: LivenessStage::Always,
        embedding: true,
    };
}

/// When the liveness models run on a frame with exactly one face.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LivenessStage {
    Skip,
    Always,
    /// Only where the scores can count as evidence
    /// ([`Quality::is_liveness_evidence`]): a capture saves the models'
    /// time on frames of a face too small, blurred or dark to judge.
    OnEvidence,
}

/// Wall-clock time of each stage, in milliseconds; 0 for a stage not run.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct StageTimings {
    pub detection_ms: f64,
    pub quality_ms: f64,
    pub liveness_ms: f64,
    pub embedding_ms: f64,
    pub total_ms: f64,
    /// The part of `total_ms` spent inside the models; the rest is the
    /// pipeline's own work (resampling, decoding outputs, quality checks).
    pub inference_ms: f64,
}

/// What one frame shows.
#[derive(Debug, Clone, Serialize)]
pub struct FrameAnalysis {
    pub width: u32,
    pub height: u32,
    /// Every face found, strongest first.
    pub faces: Vec<Face>,
    /// The face the frame is about (the largest), if any.
    pub face: Option<Face>,
    pub quality: Quality,
    /// Scores on the main face; absent without exactly one face.
    pub liveness: Option<LivenessScores>,
    /// This frame's liveness decision on its own: for display only.
    pub frame_liveness: Option<LivenessVerdict>,
    /// Never serialised: it is biometric data.
    #[serde(skip)]
    pub embedding: Option<Embedding>,
    pub timings: StageTimings,
}

/// The face found in a reference portrait (the chip's DG2 photo).
#[derive(Debug, Clone)]
pub struct ReferenceFace {
    pub face: Face,
    pub embedding: Embedding,
}

/// A still image checked on its own and, optionally, against a reference.
#[derive(Debug, Clone, Serialize)]
pub struct FaceCheck {
    pub analysis: FrameAnalysis,
    /// The reference portrait's face, if a reference was given.
    pub reference_face: Option<Face>,
    /// Present when both images have a usable face.
    pub matching: Option<MatchDecision>,
}

/// The loaded face models and their configuration. Cheap to share: every
/// method takes `&self`, and runs may happen on several threads at once.
#[derive(Debug)]
pub struct FaceAnalyzer {
    config: AnalyzerConfig,
    detector: FaceDetector,
    liveness: LivenessModel,
    embedder: FaceEmbedder,
}

/// Share of the detector input a reference portrait takes on the second
/// try: a tight crop whose face fills the image needs a margin to be found.
const PORTRAIT_RETRY_FILL: f32 = 0.6;

pub(super) fn millis(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

impl FaceAnalyzer {
    /// Loads the face models from `catalog`, each checked against its sha256.
    pub fn load(catalog: &ModelCatalog, config: AnalyzerConfig) -> Result<Self, FaceError> {
        let detector =
            FaceDetector::load(&catalog.load_verified("face_detector")?, config.detector)?;
        let liveness = LivenessModel::load(
            &catalog.load_verified("liveness_v2")?,
            &catalog.load_verified("liveness_v1se")?,
        )?;
        let embedder = FaceEmbedder::load(&catalog.load_verified("face_embedding")?)?;
        Ok(Self {
            config,
            detector,
            liveness,
            embedder,
        })
    }

    /// Loads the models shipped with the project, default configuration.
    pub fn load_bundled() -> Result<Self, FaceError> {
        Self::load(
            &ModelCatalog::open(bundled_models_dir())?,
            AnalyzerConfig::default(),
        )
    }

    pub fn config(&self) -> &AnalyzerConfig {
        &self.config
    }

    /// Every stage, the embedding included.
    pub fn analyze(&self, frame: &Frame) -> Result<FrameAnalysis, FaceError> {
        self.analyze_with(frame, Stages::ALL)
    }

    /// Detection and quality, then the chosen stages on the main face when
    /// there is exactly one.
    pub fn analyze_with(&self, frame: &Frame, stages: Stages) -> Result<FrameAnalysis, FaceError> {
        let start = Instant::now();
        let inference_start = crate::session::inference_ns();
        let mut timings = StageTimings::default();

        let faces = self.detector.detect(frame, 1.0)?;
        timings.detection_ms = millis(start);

        let t = Instant::now();
        let quality = assess(frame, &faces, &self.config.quality);
        timings.quality_ms = millis(t);

        let single = (quality.face_count == 1)
            .then(|| primary_face(&faces))
            .flatten()
            .copied();
        let (mut liveness, mut embedding) = (None, None);
        let run_liveness = match stages.liveness {
            LivenessStage::Skip => false,
            LivenessStage::Always => true,
            LivenessStage::OnEvidence => quality.is_liveness_evidence(),
        };
        if let Some(face) = single.as_ref() {
            if run_liveness {
                let t = Instant::now();
                liveness = Some(self.liveness.score(frame, face)?);
                timings.liveness_ms = millis(t);
            }
            if stages.embedding {
                let t = Instant::now();
                embedding = Some(self.embedder.embed(frame, face)?);
                timings.embedding_ms = millis(t);
            }
        }
        timings.total_ms = millis(start);
        timings.inference_ms = crate::session::inference_ms_since(inference_start);
        tracing::debug!(
            faces = faces.len(),
            passed = quality.passed,
            total_ms = timings.total_ms,
            "face frame analysed"
        );
        Ok(FrameAnalysis {
            width: frame.width(),
            height: frame.height(),
            face: primary_face(&faces).copied(),
            faces,
            quality,
            frame_liveness: liveness.map(|s| self.config.liveness.decide_frame(&s)),
            liveness,
            embedding,
            timings,
        })
    }

    /// Finds and embeds the face of a reference portrait. Portraits are
    /// small and tightly cropped, and may come sideways: the detector
    /// upscales them, retries with a margin, and tries quarter turns.
    pub fn reference(&self, portrait: &Frame) -> Result<ReferenceFace, FaceError> {
        let mut faces = self.detector.detect_any_orientation(portrait, 1.0)?;
        if faces.is_empty() {
            faces = self
                .detector
                .detect_any_orientation(portrait, PORTRAIT_RETRY_FILL)?;
        }
        let main = primary_face(&faces).copied().ok_or(FaceError::NoFace)?;
        let comparable = faces
            .iter()
            .filter(|f| f.bbox.width >= self.config.quality.multiple_face_ratio * main.bbox.width)
            .count();
        if comparable > 1 {
            return Err(FaceError::MultipleFaces(comparable));
        }
        let embedding = self.embedder.embed(portrait, &main)?;
        Ok(ReferenceFace {
            face: main,
            embedding,
        })
    }

    /// The embedding of `face` in `frame`, for a frame analysed without it.
    pub fn embed(&self, frame: &Frame, face: &Face) -> Result<Embedding, FaceError> {
        self.embedder.embed(frame, face)
    }

    /// Compares two embeddings against the configured threshold.
    pub fn compare(&self, live: &Embedding, reference: &Embedding) -> MatchDecision {
        self.config.matching.compare(live, reference)
    }

    /// A still image analysed, and matched against `reference` when given.
    /// A reference without a usable face is an error: the caller asked for
    /// a match that cannot be made.
    pub fn check(&self, image: &Frame, reference: Option<&Frame>) -> Result<FaceCheck, FaceError> {
        let analysis = self.analyze(image)?;
        let Some(portrait) = reference else {
            return Ok(FaceCheck {
                analysis,
                reference_face: None,
                matching: None,
            });
        };
        let reference = self.reference(portrait)?;
        let matching = analysis
            .embedding
            .as_ref()
            .map(|live| self.compare(live, &reference.embedding));
        Ok(FaceCheck {
            analysis,
            reference_face: Some(reference.face),
            matching,
        })
    }
}
