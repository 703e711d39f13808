//! `station face check`: one still image analysed (faces, quality, this
//! frame's liveness) and, with `--reference`, matched against a portrait
//! such as the chip's. For support staff checking a camera or a model; the
//! enrollment itself decides liveness over several frames (`enroll`).

use std::path::{Path, PathBuf};

use biometrics::{FaceAnalyzer, FaceError, Frame, ModelCatalog};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::failure::{Code, Failure};
use crate::paths::StationPaths;

/// The `station face` subcommands.
#[derive(Debug, Subcommand)]
pub enum FaceCommand {
    /// Analyse an image: faces, quality, liveness score, and a match against a reference.
    Check(CheckArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The image to analyse (PNG, JPEG or JPEG 2000).
    #[arg(long)]
    pub image: PathBuf,
    /// A portrait to match against, e.g. the chip's photo.
    #[arg(long)]
    pub reference: Option<PathBuf>,
}

pub fn run(command: FaceCommand, paths: &StationPaths) -> Result<Value, Failure> {
    match command {
        FaceCommand::Check(args) => check(&args, paths),
    }
}

fn check(args: &CheckArgs, paths: &StationPaths) -> Result<Value, Failure> {
    let models = |e: &dyn std::fmt::Display| Failure::new(Code::ModelsInvalid, e.to_string());
    let catalog = ModelCatalog::open(&paths.models_dir).map_err(|e| models(&e))?;
    let analyzer = FaceAnalyzer::load(&catalog, Default::default()).map_err(|e| models(&e))?;
    let image = decode(&args.image)?;
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
