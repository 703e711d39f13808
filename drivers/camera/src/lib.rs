//! Camera capture for the face step.
//!
//! Every source — a USB camera through nokhwa ([`DeviceCamera`]), or a file
//! standing in for one ([`FileSource`]: MJPEG, Y4M, a directory of stills) —
//! delivers [`RawFrame`]s in a camera's wire format, which
//! [`RawFrame::decode`] turns into RGB [`Frame`]s with nokhwa's own decoders.
//! [`Pipeline`] owns one capture thread and fans frames out to the clerk's
//! preview (downscaled JPEG, paced, never stalling capture) and to the face
//! analyser (latest frame wins, never a queue).
//!
//! Nothing here analyses a face or stores a frame.
#![forbid(unsafe_code)]

mod device;
mod file;
mod latest;
mod mjpeg;
mod pipeline;
mod raw;
mod y4m;

pub use device::{CameraDevice, CameraMode, DeviceCamera, list_cameras, negotiate};
pub use file::{FileKind, FileSource};
pub use latest::Latest;
pub use pipeline::{
    AnalysisFeed, Opener, Pipeline, PipelineConfig, PipelineEvent, PipelineStats, PreviewFrame,
};
pub use raw::{MAX_DIMENSION, PixelFormat, RawFrame};

use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

#[derive(Debug, Clone, Error)]
pub enum CameraError {
    #[error("no camera is attached")]
    NoCamera,
    #[error("camera {device} is in use by another program")]
    Busy { device: String },
    #[error("camera {device} offers no format the station can use (it offers {offered})")]
    UnsupportedFormat { device: String, offered: String },
    #[error("camera {device} stopped delivering frames: {message}")]
    Lost { device: String, message: String },
    #[error("camera {device} cannot be opened: {message}")]
    Open { device: String, message: String },
    #[error("cannot list cameras: {0}")]
    Enumeration(String),
    #[error("a {format:?} frame cannot be decoded: {message}")]
    BadFrame {
        format: PixelFormat,
        message: String,
    },
    #[error("cannot read {path}: {message}")]
    BadFile { path: String, message: String },
    #[error("no images found in {0}")]
    NoImages(String),
    #[error("`{0}` is not a camera: use `auto`, `device:INDEX` or `file:PATH`")]
    BadSpec(String),
}

impl CameraError {
    /// A frame that failed to decode spoils one frame, not the source.
    pub fn is_frame_error(&self) -> bool {
        matches!(self, Self::BadFrame { .. })
    }
}

/// One RGB frame, 3 bytes a pixel, rows top to bottom.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
    /// Time since the source started.
    pub timestamp: Duration,
}

impl std::fmt::Debug for Frame {
    // Pixels are biometric data: never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Frame({}x{} at {:?})",
            self.width, self.height, self.timestamp
        )
    }
}

impl Frame {
    /// The pixel at (x, y), or `None` outside the frame.
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 3]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        self.rgb.get(i..i + 3).map(|p| [p[0], p[1], p[2]])
    }
}

/// A source of frames. `next_frame` returns `Ok(None)` when a finite source
/// has ended. Sources need not be `Send`: the pipeline opens and reads them on
/// its capture thread (nokhwa's camera is bound to the thread that opened it).
pub trait FrameSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, CameraError>;
}

/// Which camera to use, as the clerk's settings and `--camera` name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraSpec {
    /// The first camera attached.
    Auto,
    /// A camera by its index in [`list_cameras`].
    Device(u32),
    /// A file or directory standing in for a camera.
    File(PathBuf),
}

impl std::str::FromStr for CameraSpec {
    type Err = CameraError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "auto" {
            return Ok(Self::Auto);
        }
        if let Some(path) = s.strip_prefix("file:").filter(|p| !p.is_empty()) {
            return Ok(Self::File(PathBuf::from(path)));
        }
        if let Some(index) = s.strip_prefix("device:").and_then(|i| i.parse().ok()) {
            return Ok(Self::Device(index));
        }
        Err(CameraError::BadSpec(s.to_owned()))
    }
}

impl CameraSpec {
    /// Opens the source this names. Call it on the thread that will read it.
    pub fn open(&self, options: &file::FileOptions) -> Result<Box<dyn FrameSource>, CameraError> {
        match self {
            Self::Auto => {
                let first = list_cameras()?
                    .into_iter()
                    .next()
                    .ok_or(CameraError::NoCamera)?;
                Ok(Box::new(DeviceCamera::open(first.index)?))
            }
            Self::Device(index) => Ok(Box::new(DeviceCamera::open(*index)?)),
            Self::File(path) => Ok(Box::new(FileSource::open(path, options)?)),
        }
    }
}

pub use file::FileOptions;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_specs_parse() {
        assert_eq!("auto".parse::<CameraSpec>().unwrap(), CameraSpec::Auto);
        assert_eq!(
            "device:2".parse::<CameraSpec>().unwrap(),
            CameraSpec::Device(2)
        );
        assert_eq!(
            "file:/tmp/a b.mjpeg".parse::<CameraSpec>().unwrap(),
            CameraSpec::File("/tmp/a b.mjpeg".into())
        );
        for bad in ["", "file:", "device:x", "/dev/video0", "usb"] {
            assert!(
                matches!(bad.parse::<CameraSpec>(), Err(CameraError::BadSpec(_))),
                "{bad}"
            );
        }
    }
}
