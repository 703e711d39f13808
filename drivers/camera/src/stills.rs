//! Image files as a camera: a directory (or list) of stills, optionally looped.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{CameraError, Frame, FrameSource};

/// Serves image files in name order, one frame each, at a nominal rate.
#[derive(Debug, Clone)]
pub struct StillImages {
    paths: Vec<PathBuf>,
    next: usize,
    looped: bool,
    frame_interval: Duration,
    served: u32,
}

const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

impl StillImages {
    /// All images in `dir`, sorted by file name.
    pub fn from_dir(dir: &Path) -> Result<Self, CameraError> {
        let entries = std::fs::read_dir(dir).map_err(|e| CameraError::BadImage {
            path: dir.display().to_string(),
            message: e.to_string(),
        })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
            })
            .collect();
        paths.sort();
        Self::from_paths(paths).map_err(|_| CameraError::NoImages(dir.display().to_string()))
    }

    pub fn from_paths(paths: Vec<PathBuf>) -> Result<Self, CameraError> {
        if paths.is_empty() {
            return Err(CameraError::NoImages("(empty list)".into()));
        }
        Ok(Self {
            paths,
            next: 0,
            looped: false,
            frame_interval: Duration::from_millis(1000 / 15),
            served: 0,
        })
    }

    /// Starts again from the first image after the last.
    pub fn looped(mut self, looped: bool) -> Self {
        self.looped = looped;
        self
    }

    /// Nominal frame rate, used for timestamps.
    pub fn fps(mut self, fps: u32) -> Self {
        self.frame_interval = Duration::from_secs(1) / fps.max(1);
        self
    }
}

impl FrameSource for StillImages {
    fn next_frame(&mut self) -> Result<Option<Frame>, CameraError> {
        if self.next >= self.paths.len() {
            if !self.looped {
                return Ok(None);
            }
            self.next = 0;
        }
        let path = &self.paths[self.next];
        self.next += 1;
        let img = image::open(path).map_err(|e| CameraError::BadImage {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let rgb = img.into_rgb8();
        let frame = Frame {
            width: rgb.width(),
            height: rgb.height(),
            rgb: rgb.into_raw(),
            timestamp: self.frame_interval * self.served,
        };
        self.served += 1;
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_png(path: &Path, color: [u8; 3]) {
        let mut img = image::RgbImage::from_pixel(8, 4, image::Rgb(color));
        img.put_pixel(7, 3, image::Rgb([1, 2, 3]));
        img.save(path).unwrap();
    }

    #[test]
    fn serves_images_in_name_order_with_timestamps() {
        let dir = tempfile::tempdir().unwrap();
        write_png(&dir.path().join("b.png"), [0, 255, 0]);
        write_png(&dir.path().join("a.png"), [255, 0, 0]);
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let mut src = StillImages::from_dir(dir.path())
            .unwrap()
            .fps(10)
            .looped(true);
        let a = src.next_frame().unwrap().unwrap();
        assert_eq!((a.width, a.height), (8, 4));
        assert_eq!(a.pixel(0, 0), Some([255, 0, 0]));
        assert_eq!(a.pixel(7, 3), Some([1, 2, 3]));
        assert_eq!(a.pixel(8, 0), None);
        let b = src.next_frame().unwrap().unwrap();
        assert_eq!(b.pixel(0, 0), Some([0, 255, 0]));
        assert_eq!(b.timestamp, Duration::from_millis(100));
        let again = src.next_frame().unwrap().unwrap();
        assert_eq!(again.pixel(0, 0), Some([255, 0, 0]));
        assert_eq!(again.timestamp, Duration::from_millis(200));
    }

    #[test]
    fn ends_when_not_looped_and_reports_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        write_png(&dir.path().join("a.png"), [9, 9, 9]);
        let mut src = StillImages::from_dir(dir.path()).unwrap();
        assert!(src.next_frame().unwrap().is_some());
        assert!(src.next_frame().unwrap().is_none());

        std::fs::write(dir.path().join("b.png"), b"not a png").unwrap();
        let mut src = StillImages::from_dir(dir.path()).unwrap();
        src.next_frame().unwrap();
        let err = src.next_frame().unwrap_err();
        assert!(err.to_string().contains("b.png"), "{err}");

        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            StillImages::from_dir(empty.path()).unwrap_err(),
            CameraError::NoImages(_)
        ));
    }
}
