//! Real cameras through nokhwa: enumeration with the modes each offers,
//! format negotiation, and [`DeviceCamera`], which reads frames in the
//! camera's wire format and decodes them like every other source.
//!
//! nokhwa's camera is bound to the thread that opened it, so a
//! `DeviceCamera` is opened on the capture thread and never moved.

use std::time::Instant;

use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, RequestedFormat, RequestedFormatType, Resolution,
};
use serde::Serialize;

use crate::raw::{PixelFormat, RawFrame};
use crate::{CameraError, Frame, FrameSource};

/// One camera as the operating system names it, with the modes it offers.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CameraDevice {
    pub index: u32,
    pub name: String,
    pub description: String,
    /// Empty when the camera could not be opened to ask (see `error`).
    pub modes: Vec<CameraMode>,
    /// The mode [`negotiate`] picks from `modes`.
    pub preferred: Option<CameraMode>,
    /// Why the modes are unknown, e.g. the camera is busy.
    pub error: Option<String>,
}

/// A format, size and rate a camera can deliver.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct CameraMode {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

impl CameraMode {
    fn from_nokhwa(format: &CameraFormat) -> Option<Self> {
        Some(Self {
            format: PixelFormat::from_nokhwa(format.format())?,
            width: format.width(),
            height: format.height(),
            fps: format.frame_rate(),
        })
    }

    fn to_nokhwa(self) -> CameraFormat {
        CameraFormat::new(
            Resolution::new(self.width, self.height),
            self.format.to_nokhwa(),
            self.fps,
        )
    }
}

/// Every camera attached. None is an empty list, not an error: counters run
/// with file sources when no camera exists.
pub fn list_cameras() -> Result<Vec<CameraDevice>, CameraError> {
    let infos =
        nokhwa::query(ApiBackend::Auto).map_err(|e| CameraError::Enumeration(e.to_string()))?;
    Ok(infos
        .into_iter()
        .filter_map(|info| {
            let index = info.index().as_index().ok()?;
            let (modes, error) = match modes_of(index) {
                Ok(modes) => (modes, None),
                Err(e) => (Vec::new(), Some(e.to_string())),
            };
            Some(CameraDevice {
                index,
                name: info.human_name(),
                description: info.description().to_owned(),
                preferred: negotiate(&modes),
                modes,
                error,
            })
        })
        .collect())
}

fn modes_of(index: u32) -> Result<Vec<CameraMode>, CameraError> {
    let mut camera = nokhwa::Camera::new(
        CameraIndex::Index(index),
        RequestedFormat::new::<nokhwa::pixel_format::RgbFormat>(RequestedFormatType::None),
    )
    .map_err(|e| classify(index, e))?;
    let formats = camera
        .compatible_camera_formats()
        .map_err(|e| classify(index, e))?;
    Ok(formats.iter().filter_map(CameraMode::from_nokhwa).collect())
}

/// The mode the station asks for: MJPEG at 1280x720, else at 640x480 (it
/// keeps USB bandwidth low at full rate), then uncompressed YUYV or NV12 at
/// those sizes; failing all, the mode nearest 640x480 in any format we
/// decode. At equal size, the higher rate up to 30 fps.
pub fn negotiate(modes: &[CameraMode]) -> Option<CameraMode> {
    const SIZES: [(u32, u32); 2] = [(1280, 720), (640, 480)];
    let rate_rank = |m: &CameraMode| if m.fps <= 30 { m.fps } else { 0 };
    let color = |m: &&CameraMode| m.format != PixelFormat::Gray;
    for formats in [
        &[PixelFormat::Mjpeg][..],
        &[PixelFormat::Yuyv, PixelFormat::Nv12],
    ] {
        for (w, h) in SIZES {
            if let Some(best) = modes
                .iter()
                .filter(|m| formats.contains(&m.format) && m.width == w && m.height == h)
                .max_by_key(|m| (rate_rank(m), m.fps))
            {
                return Some(*best);
            }
        }
    }
    let distance =
        |m: &CameraMode| (i64::from(m.width) - 640).abs() + (i64::from(m.height) - 480).abs();
    modes
        .iter()
        .filter(color)
        .min_by_key(|m| (distance(m), std::cmp::Reverse(rate_rank(m))))
        .or_else(|| modes.first())
        .copied()
}

/// A camera streaming in the negotiated mode.
pub struct DeviceCamera {
    camera: nokhwa::Camera,
    index: u32,
    mode: CameraMode,
    started: Instant,
}

impl std::fmt::Debug for DeviceCamera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceCamera({} {:?})", self.index, self.mode)
    }
}

impl DeviceCamera {
    /// Opens camera `index`, negotiates its mode and starts the stream.
    pub fn open(index: u32) -> Result<Self, CameraError> {
        let modes = modes_of(index)?;
        let mode = negotiate(&modes).ok_or_else(|| CameraError::UnsupportedFormat {
            device: index.to_string(),
            offered: "nothing".into(),
        })?;
        let mut camera = nokhwa::Camera::new(
            CameraIndex::Index(index),
            RequestedFormat::new::<nokhwa::pixel_format::RgbFormat>(RequestedFormatType::Exact(
                mode.to_nokhwa(),
            )),
        )
        .map_err(|e| classify(index, e))?;
        camera.open_stream().map_err(|e| classify(index, e))?;
        tracing::info!(index, ?mode, "camera streaming");
        Ok(Self {
            camera,
            index,
            mode,
            started: Instant::now(),
        })
    }

    pub fn mode(&self) -> CameraMode {
        self.mode
    }
}

impl FrameSource for DeviceCamera {
    fn next_frame(&mut self) -> Result<Option<Frame>, CameraError> {
        let buffer = self
            .camera
            .frame()
            .map_err(|e| match classify(self.index, e) {
                // Mid-stream, every failure to deliver is a lost camera.
                CameraError::Open { device, message } => CameraError::Lost { device, message },
                other => other,
            })?;
        let Some(format) = PixelFormat::from_nokhwa(buffer.source_frame_format()) else {
            return Err(CameraError::UnsupportedFormat {
                device: self.index.to_string(),
                offered: buffer.source_frame_format().to_string(),
            });
        };
        let resolution = buffer.resolution();
        RawFrame {
            format,
            width: resolution.width(),
            height: resolution.height(),
            bytes: buffer.buffer().to_vec(),
            timestamp: self.started.elapsed(),
        }
        .decode()
        .map(Some)
    }
}

impl Drop for DeviceCamera {
    fn drop(&mut self) {
        if let Err(e) = self.camera.stop_stream() {
            tracing::debug!(index = self.index, "stopping the camera stream: {e}");
        }
    }
}

/// nokhwa reports errors as text around the OS error: sort them into the
/// cases the clerk can act on.
fn classify(index: u32, error: nokhwa::NokhwaError) -> CameraError {
    let device = index.to_string();
    let message = error.to_string();
    let lower = message.to_ascii_lowercase();
    if lower.contains("busy") || lower.contains("os error 16") {
        CameraError::Busy { device }
    } else if lower.contains("no such device") || lower.contains("os error 19") {
        CameraError::Lost { device, message }
    } else if lower.contains("no such file") || lower.contains("os error 2)") {
        CameraError::NoCamera
    } else if matches!(error, nokhwa::NokhwaError::ReadFrameError(_)) {
        CameraError::Lost { device, message }
    } else if matches!(error, nokhwa::NokhwaError::ProcessFrameError { .. }) {
        CameraError::BadFrame {
            format: PixelFormat::Mjpeg,
            message,
        }
    } else {
        CameraError::Open { device, message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(format: PixelFormat, width: u32, height: u32, fps: u32) -> CameraMode {
        CameraMode {
            format,
            width,
            height,
            fps,
        }
    }

    #[test]
    fn negotiation_prefers_mjpeg_720p_then_480p_then_raw() {
        use PixelFormat::*;
        let all = [
            mode(Yuyv, 1280, 720, 10),
            mode(Mjpeg, 640, 480, 30),
            mode(Mjpeg, 1280, 720, 15),
            mode(Mjpeg, 1280, 720, 30),
            mode(Mjpeg, 1280, 720, 60),
            mode(Mjpeg, 1920, 1080, 30),
        ];
        assert_eq!(negotiate(&all), Some(mode(Mjpeg, 1280, 720, 30)));
        assert_eq!(negotiate(&all[..2]), Some(mode(Mjpeg, 640, 480, 30)));
        assert_eq!(negotiate(&all[..1]), Some(mode(Yuyv, 1280, 720, 10)));
        let odd = [
            mode(Gray, 640, 480, 30),
            mode(Nv12, 800, 600, 20),
            mode(Yuyv, 320, 240, 30),
        ];
        assert_eq!(negotiate(&odd), Some(mode(Nv12, 800, 600, 20)));
        assert_eq!(negotiate(&odd[..1]), Some(mode(Gray, 640, 480, 30)));
        assert_eq!(negotiate(&[]), None);
    }

    #[test]
    fn enumeration_matches_the_video_devices_present() {
        let cameras = list_cameras().unwrap();
        let video_nodes = std::fs::read_dir("/dev")
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().starts_with("video"))
                    .count()
            })
            .unwrap_or(0);
        if video_nodes == 0 {
            assert!(cameras.is_empty(), "{cameras:?}");
            assert!(matches!(DeviceCamera::open(0), Err(CameraError::NoCamera)));
        } else {
            assert!(cameras.len() <= video_nodes);
        }
    }

    #[test]
    fn os_errors_sort_into_actionable_cases() {
        let open = |m: &str| nokhwa::NokhwaError::OpenDeviceError("0".into(), m.into());
        assert!(matches!(
            classify(0, open("Device or resource busy (os error 16)")),
            CameraError::Busy { .. }
        ));
        assert!(matches!(
            classify(0, open("No such file or directory (os error 2)")),
            CameraError::NoCamera
        ));
        assert!(matches!(
            classify(0, open("No such device (os error 19)")),
            CameraError::Lost { .. }
        ));
        assert!(matches!(
            classify(0, nokhwa::NokhwaError::ReadFrameError("timeout".into())),
            CameraError::Lost { .. }
        ));
    }
}
