//! Camera formats as they arrive, and the one decoder every source goes through.
//!
//! The nokhwa backend and the file sources all hand over [`RawFrame`]s in a
//! camera's wire format (MJPEG, YUYV, NV12, grey, RGB); [`RawFrame::decode`]
//! turns them into RGB with nokhwa's own decoders. So a test that feeds an
//! MJPEG or Y4M file exercises the same conversion a USB camera does.

use std::time::Duration;

use nokhwa::utils::{FrameFormat, Resolution};

use crate::{CameraError, Frame};

/// Largest frame any source may announce: 8K. Bounds every allocation made
/// on the word of a header.
pub const MAX_DIMENSION: u32 = 8192;

/// A camera's pixel format on the wire.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PixelFormat {
    /// Motion JPEG: each frame a complete JPEG.
    Mjpeg,
    /// Packed 4:2:2, Y0 U Y1 V.
    Yuyv,
    /// 4:2:0, the Y plane then interleaved U V at half resolution.
    Nv12,
    /// One byte of luma a pixel.
    Gray,
    /// Three bytes a pixel, R G B.
    Rgb,
}

impl PixelFormat {
    pub(crate) fn to_nokhwa(self) -> FrameFormat {
        match self {
            Self::Mjpeg => FrameFormat::MJPEG,
            Self::Yuyv => FrameFormat::YUYV,
            Self::Nv12 => FrameFormat::NV12,
            Self::Gray => FrameFormat::GRAY,
            Self::Rgb => FrameFormat::RAWRGB,
        }
    }

    pub(crate) fn from_nokhwa(format: FrameFormat) -> Option<Self> {
        match format {
            FrameFormat::MJPEG => Some(Self::Mjpeg),
            FrameFormat::YUYV => Some(Self::Yuyv),
            FrameFormat::NV12 => Some(Self::Nv12),
            FrameFormat::GRAY => Some(Self::Gray),
            FrameFormat::RAWRGB => Some(Self::Rgb),
            FrameFormat::RAWBGR => None,
        }
    }

    /// The exact byte length of an uncompressed frame; `None` for MJPEG.
    pub fn frame_len(self, width: u32, height: u32) -> Option<usize> {
        let pixels = width as usize * height as usize;
        match self {
            Self::Mjpeg => None,
            Self::Yuyv => Some(pixels * 2),
            Self::Nv12 => Some(pixels * 3 / 2),
            Self::Gray => Some(pixels),
            Self::Rgb => Some(pixels * 3),
        }
    }
}

/// One frame in its wire format, as a camera or file delivered it.
#[derive(Clone)]
pub struct RawFrame {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    pub bytes: Vec<u8>,
    pub timestamp: Duration,
}

impl std::fmt::Debug for RawFrame {
    // The bytes are a picture of a person: never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RawFrame({:?} {}x{}, {} bytes at {:?})",
            self.format,
            self.width,
            self.height,
            self.bytes.len(),
            self.timestamp
        )
    }
}

impl RawFrame {
    /// RGB through nokhwa's decoders. Sizes are checked first, because the
    /// decoders trust them.
    pub fn decode(&self) -> Result<Frame, CameraError> {
        let bad = |message: String| CameraError::BadFrame {
            format: self.format,
            message,
        };
        let (width, height) = match self.format {
            // A JPEG carries its own size, and some cameras send other sizes
            // than they negotiated: believe the header, within bounds.
            PixelFormat::Mjpeg => jpeg_dimensions(&self.bytes).map_err(bad)?,
            format => {
                check_dimensions(self.width, self.height).map_err(bad)?;
                let expected = format.frame_len(self.width, self.height).unwrap_or(0);
                if self.bytes.len() != expected {
                    return Err(bad(format!(
                        "{} bytes for a {}x{} frame, expected {expected}",
                        self.bytes.len(),
                        self.width,
                        self.height
                    )));
                }
                if format == PixelFormat::Nv12
                    && (!self.width.is_multiple_of(2) || !self.height.is_multiple_of(2))
                {
                    return Err(bad("NV12 needs an even width and height".into()));
                }
                if format == PixelFormat::Yuyv && !self.width.is_multiple_of(2) {
                    return Err(bad("YUYV needs an even width".into()));
                }
                (self.width, self.height)
            }
        };
        let buffer = nokhwa::Buffer::new(
            Resolution::new(width, height),
            &self.bytes,
            self.format.to_nokhwa(),
        );
        // The JPEG decoder is C underneath and reports some errors by
        // unwinding; a corrupt frame must not take the capture thread down.
        let decoded =
            std::panic::catch_unwind(|| buffer.decode_image::<nokhwa::pixel_format::RgbFormat>())
                .map_err(|_| bad("the decoder gave up on this frame".into()))?
                .map_err(|e| bad(e.to_string()))?;
        Ok(Frame {
            width,
            height,
            rgb: decoded.into_raw(),
            timestamp: self.timestamp,
        })
    }
}

fn check_dimensions(width: u32, height: u32) -> Result<(), String> {
    if width == 0 || height == 0 || width > MAX_DIMENSION || height > MAX_DIMENSION {
        return Err(format!(
            "{width}x{height} is not a frame size (1..={MAX_DIMENSION} a side)"
        ));
    }
    Ok(())
}

/// Width and height from a JPEG's frame header, read without decoding.
pub(crate) fn jpeg_dimensions(jpeg: &[u8]) -> Result<(u32, u32), String> {
    let reader =
        image::ImageReader::with_format(std::io::Cursor::new(jpeg), image::ImageFormat::Jpeg);
    let (width, height) = reader
        .into_dimensions()
        .map_err(|e| format!("not a JPEG frame: {e}"))?;
    check_dimensions(width, height)?;
    Ok((width, height))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(format: PixelFormat, width: u32, height: u32, bytes: Vec<u8>) -> RawFrame {
        RawFrame {
            format,
            width,
            height,
            bytes,
            timestamp: Duration::ZERO,
        }
    }

    #[test]
    fn yuyv_and_nv12_decode_to_the_bt601_colours() {
        // Y=81 U=90 V=240 is BT.601 limited-range red.
        let yuyv = raw(PixelFormat::Yuyv, 2, 1, vec![81, 90, 81, 240]);
        let frame = yuyv.decode().unwrap();
        let [r, g, b] = frame.pixel(1, 0).unwrap();
        assert!(r > 240 && g < 10 && b < 10, "{r} {g} {b}");

        let nv12 = raw(PixelFormat::Nv12, 2, 2, vec![81, 81, 81, 81, 90, 240]);
        let frame = nv12.decode().unwrap();
        assert_eq!(frame.pixel(1, 1), Some([r, g, b]));
    }

    #[test]
    fn grey_and_rgb_pass_through() {
        let frame = raw(PixelFormat::Gray, 2, 1, vec![7, 200]).decode().unwrap();
        assert_eq!(frame.pixel(1, 0), Some([200, 200, 200]));
        let frame = raw(PixelFormat::Rgb, 1, 1, vec![1, 2, 3]).decode().unwrap();
        assert_eq!(frame.rgb, vec![1, 2, 3]);
    }

    #[test]
    fn mjpeg_takes_its_size_from_the_jpeg() {
        let img = image::RgbImage::from_pixel(32, 16, image::Rgb([0, 0, 255]));
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
            .encode_image(&img)
            .unwrap();
        // The announced size is wrong; the frame says 32x16.
        let frame = raw(PixelFormat::Mjpeg, 640, 480, jpeg).decode().unwrap();
        assert_eq!((frame.width, frame.height), (32, 16));
        let [r, g, b] = frame.pixel(5, 5).unwrap();
        assert!(r < 10 && g < 10 && b > 240, "{r} {g} {b}");
    }

    #[test]
    fn wrong_sizes_and_garbage_are_errors() {
        for bad in [
            raw(PixelFormat::Yuyv, 4, 4, vec![0; 31]),
            raw(PixelFormat::Yuyv, 3, 1, vec![0; 6]),
            raw(PixelFormat::Nv12, 3, 2, vec![0; 9]),
            raw(PixelFormat::Rgb, 0, 0, vec![]),
            raw(PixelFormat::Gray, MAX_DIMENSION + 1, 1, vec![0; 8193]),
            raw(PixelFormat::Mjpeg, 8, 8, b"\xff\xd8 not really".to_vec()),
            raw(PixelFormat::Mjpeg, 8, 8, vec![]),
        ] {
            let err = bad.decode().unwrap_err();
            assert!(
                matches!(err, CameraError::BadFrame { .. }),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn a_truncated_jpeg_never_panics() {
        let img =
            image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 9]));
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
            .encode_image(&img)
            .unwrap();
        for cut in (0..jpeg.len()).step_by(7) {
            // Either an error or a (partly grey) frame of the header's size.
            if let Ok(frame) = raw(PixelFormat::Mjpeg, 0, 0, jpeg[..cut].to_vec()).decode() {
                assert_eq!((frame.width, frame.height), (64, 48));
            }
        }
    }
}
