//! Camera capture for the face step.
//!
//! [`FrameSource`] is what the rest of the station reads frames from: RGB
//! [`Frame`]s with a capture timestamp. The real backend is nokhwa (V4L2 on
//! Linux; module [`devices`] enumerates cameras); [`StillImages`] serves image
//! files for demos and tests. Nothing here analyses a face or stores a frame.
#![forbid(unsafe_code)]

pub mod devices;
mod stills;

pub use devices::{CameraDevice, list_cameras};
pub use stills::StillImages;

use std::time::Duration;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum CameraError {
    #[error("cannot list cameras: {0}")]
    Enumeration(String),
    #[error("cannot read image {path}: {message}")]
    BadImage { path: String, message: String },
    #[error("no images found in {0}")]
    NoImages(String),
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
/// has ended.
pub trait FrameSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, CameraError>;
}
