//! `station face check`: one still image analysed (faces, quality, this
//! frame's liveness), or a whole capture — every frame of an image sequence,
//! MJPEG or Y4M file, or a live camera through the frame pipeline — with
//! liveness pooled over the good frames, the optional head-turn challenge,
//! and the best frame; with `--reference`, matched against a portrait such
//! as the chip's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use biometrics::face::{HeadTurnConfig, QualityIssue, ReferenceFace, StageTimings};
use biometrics::{
    CaptureOutcome, FaceAnalyzer, FaceError, FaceSession, Frame, HeadTurnChallenge, ModelCatalog,
    TurnDirection,
};
use camera::{CameraSpec, FileOptions, FileSource, FrameSource, PipelineConfig};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

use crate::failure::{Code, Failure};
use crate::live_face::{LiveFace, LiveFaceConfig, camera_failure};
use crate::paths::StationPaths;

/// The `station face` subcommands.
#[derive(Debug, Subcommand)]
pub enum FaceCommand {
    /// Analyse an image: faces, quality, liveness score, and a match against a reference.
    Check(CheckArgs),
    /// APCER per attack type, BPCER, genuine and impostor scores, and FNMR at
    /// a chosen FMR, over a folder of labelled images.
    Eval(EvalArgs),
}

#[derive(Debug, Clone, Args)]
pub struct EvalArgs {
    /// Holds `liveness/live/`, `liveness/<attack type>/` and `identities/<person>/`.
    #[arg(long)]
    pub dir: PathBuf,
    /// The false match rate to report the false non-match rate at.
    #[arg(long, default_value_t = 0.01)]
    pub fmr: f64,
}

#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["image", "sequence", "camera"])))]
pub struct CheckArgs {
    /// The image to analyse (PNG, JPEG or JPEG 2000).
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// Every frame of a directory of images, an MJPEG or a Y4M file, in order.
    #[arg(long)]
    pub sequence: Option<PathBuf>,
    /// A live capture: `auto`, `device:INDEX` or `file:PATH` (played as a camera).
    #[arg(long)]
    pub camera: Option<String>,
    /// A portrait to match against, e.g. the chip's photo.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Ask for a head turn (with --sequence or --camera).
    #[arg(long, value_enum)]
    pub challenge: Option<Turn>,
    /// Longest live capture, in seconds.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Frame rate of a file source (default: the file's own, or 15).
    #[arg(long)]
    pub fps: Option<f64>,
    /// Play a `file:` camera in a loop until the capture is complete.
    #[arg(long = "loop")]
    pub looped: bool,
}

/// The head turn asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Turn {
    Left,
    Right,
    Random,
}

impl Turn {
    fn challenge(self) -> HeadTurnChallenge {
        let config = HeadTurnConfig::default();
        match self {
            Self::Left => HeadTurnChallenge::new(TurnDirection::Left, config),
            Self::Right => HeadTurnChallenge::new(TurnDirection::Right, config),
            Self::Random => HeadTurnChallenge::random(&mut rand::thread_rng(), config),
        }
    }
}

pub fn run(command: FaceCommand, paths: &StationPaths) -> Result<Value, Failure> {
    match command {
        FaceCommand::Check(args) => check(&args, paths),
        FaceCommand::Eval(args) => {
            crate::face_eval::run(&load_analyzer(paths)?, &args.dir, args.fmr)
        }
    }
}

/// The face models of the station, checked against their hashes.
pub fn load_analyzer(paths: &StationPaths) -> Result<FaceAnalyzer, Failure> {
    let models = |e: &dyn std::fmt::Display| Failure::new(Code::ModelsInvalid, e.to_string());
    let catalog = ModelCatalog::open(&paths.models_dir).map_err(|e| models(&e))?;
    FaceAnalyzer::load(&catalog, Default::default()).map_err(|e| models(&e))
}

fn check(args: &CheckArgs, paths: &StationPaths) -> Result<Value, Failure> {
    let analyzer = load_analyzer(paths)?;
    let Some(image_path) = &args.image else {
        return capture(args, analyzer);
    };
    let image = decode(image_path)?;
    let reference = args.reference.as_deref().map(decode).transpose()?;
    let check = analyzer
        .check(&image, reference.as_ref())
        .map_err(|e| match e {
            FaceError::NoFace | FaceError::MultipleFaces(_) => {
                Failure::new(Code::FaceNotCaptured, e)
            }
            other => Failure::new(Code::Internal, other),
        })?;
    let mut report = serde_json::to_value(&check).map_err(|e| Failure::new(Code::Internal, e))?;
    if let Value::Object(map) = &mut report {
        map.insert("image".into(), json!(args.image));
        map.insert("reference".into(), json!(args.reference));
    }
    Ok(report)
}

/// A capture over many frames: a sequence read frame by frame, or a live
/// camera through the pipeline and the analysis worker.
fn capture(args: &CheckArgs, analyzer: FaceAnalyzer) -> Result<Value, Failure> {
    let reference = args
        .reference
        .as_deref()
        .map(|path| reference_face(&analyzer, path))
        .transpose()?;
    let challenge = args.challenge.map(Turn::challenge);
    let analyzer = Arc::new(analyzer);
    let file = FileOptions {
        fps: args.fps,
        paced: true,
        looped: args.looped,
    };
    // Each analysed frame's stage timings and hint, for the report.
    let (outcome, seen, source, pipeline) = if let Some(path) = &args.sequence {
        let mut source = FileSource::open(
            path,
            &FileOptions {
                paced: false,
                ..file
            },
        )
        .map_err(|e| camera_failure(&e))?;
        let mut session = FaceSession::new(analyzer, reference, challenge);
        let mut seen = Vec::new();
        while let Some(frame) = source.next_frame().map_err(|e| camera_failure(&e))? {
            let at = frame.timestamp;
            let frame = Frame::new(frame.width, frame.height, frame.rgb)
                .map_err(|e| Failure::new(Code::Internal, e))?;
            let update = session
                .offer(frame, at)
                .map_err(|e| Failure::new(Code::Internal, e))?;
            seen.push((update.analysis.timings, update.hint));
        }
        let outcome = session
            .outcome()
            .map_err(|e| Failure::new(Code::Internal, e))?;
        (outcome, seen, json!({ "sequence": path }), Value::Null)
    } else {
        let spec: CameraSpec = args
            .camera
            .as_deref()
            .unwrap_or("auto")
            .parse()
            .map_err(|e| camera_failure(&e))?;
        let config = LiveFaceConfig {
            camera: spec,
            file,
            pipeline: PipelineConfig::default(),
            time_limit: Duration::from_secs(args.seconds),
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let live = LiveFace::start(
            config,
            analyzer,
            reference,
            challenge,
            |_| {},
            move |u| {
                let _ = tx.send((u.analysis.timings, u.hint));
            },
        )?;
        let (outcome, stats) = live.finish()?;
        let seen = rx.try_iter().collect();
        (
            outcome,
            seen,
            json!({ "camera": args.camera }),
            json!(stats),
        )
    };
    Ok(capture_report(&outcome, source, pipeline, &seen))
}

fn capture_report(
    outcome: &CaptureOutcome,
    source: Value,
    pipeline: Value,
    seen: &[(StageTimings, Option<QualityIssue>)],
) -> Value {
    let mean = |stage: fn(&StageTimings) -> f64| {
        let n = seen.len().max(1) as f64;
        seen.iter().map(|(t, _)| stage(t)).sum::<f64>() / n
    };
    let mut hints: BTreeMap<&'static str, u32> = BTreeMap::new();
    for hint in seen.iter().filter_map(|(_, hint)| *hint) {
        *hints.entry(hint.code()).or_default() += 1;
    }
    json!({
        "source": source,
        "frames": outcome.frames_analysed,
        "liveness": outcome.liveness,
        "texture_liveness": outcome.texture,
        "challenge": outcome.challenge,
        "match": outcome.matching,
        "best": outcome.best,
        "best_frame_bytes": outcome.best_jpeg.as_ref().map(Vec::len),
        "hints": hints,
        "pipeline": pipeline,
        "timings_ms": {
            "detection": mean(|t| t.detection_ms),
            "quality": mean(|t| t.quality_ms),
            "liveness": mean(|t| t.liveness_ms),
            "total": mean(|t| t.total_ms),
            "inference": mean(|t| t.inference_ms),
            // Once per capture, for the chosen frame only.
            "embedding": outcome.best.as_ref().map_or(0.0, |b| b.timings.embedding_ms),
        },
    })
}

/// The face of a reference portrait file.
fn reference_face(analyzer: &FaceAnalyzer, path: &Path) -> Result<ReferenceFace, Failure> {
    analyzer.reference(&decode(path)?).map_err(|e| match e {
        FaceError::NoFace | FaceError::MultipleFaces(_) => {
            Failure::new(Code::FaceNotCaptured, format!("{}: {e}", path.display()))
        }
        other => Failure::new(Code::Internal, other),
    })
}

/// Every entry of the folder `dir` of face images, unordered.
pub(crate) fn entries_of(dir: &Path) -> Result<impl Iterator<Item = PathBuf>, Failure> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Failure::new(
            Code::FaceImagesUnreadable,
            format!("{}: {e}", dir.display()),
        )
    })?;
    Ok(entries.filter_map(|e| e.ok().map(|e| e.path())))
}

/// The images in `dir` whose names end in one of `extensions` (any case),
/// in name order.
pub(crate) fn images_in(dir: &Path, extensions: &[&str]) -> Result<Vec<PathBuf>, Failure> {
    let mut paths: Vec<PathBuf> = entries_of(dir)?
        .filter(|p| {
            p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| extensions.contains(&x.to_ascii_lowercase().as_str()))
        })
        .collect();
    paths.sort();
    Ok(paths)
}

/// Reads and decodes a face image file; the encoded bytes are wiped after.
pub(crate) fn decode(path: &Path) -> Result<Frame, Failure> {
    let unreadable = |e: &dyn std::fmt::Display| {
        Failure::new(
            Code::FaceImagesUnreadable,
            format!("{}: {e}", path.display()),
        )
    };
    let bytes = zeroize::Zeroizing::new(std::fs::read(path).map_err(|e| unreadable(&e))?);
    Frame::decode(&bytes).map_err(|e| unreadable(&e))
}

/// Quality of JPEGs made from frames: detail for the platform's re-check.
const JPEG_QUALITY: u8 = 90;

/// The frame as JPEG, in memory only (wiped when dropped).
pub(crate) fn encode_jpeg(frame: &Frame) -> Result<zeroize::Zeroizing<Vec<u8>>, Failure> {
    let (w, h) = (frame.width(), frame.height());
    let mut out = zeroize::Zeroizing::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut *out, JPEG_QUALITY)
        .encode(frame.as_rgb(), w, h, image::ExtendedColorType::Rgb8)
        .map_err(|e| Failure::new(Code::Internal, format!("JPEG encoding: {e}")))?;
    Ok(out)
}

/// A JPEG as a `data:` URL, the form the window shows images in (nothing
/// reaches a file or a cache on the way).
pub fn jpeg_data_url(jpeg: &[u8]) -> String {
    use base64::Engine as _;
    format!(
        "data:image/jpeg;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(jpeg)
    )
}
