//! Pixels in, geometry out: the RGB frame every face stage reads, the points
//! and boxes it reports, and the one resampler all model inputs go through.

use serde::{Deserialize, Serialize};

use super::FaceError;

/// An RGB image, 8 bits per channel, rows top to bottom, no padding.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

// Pixels are biometric data: the debug form shows the size only.
impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

/// The largest image decoded: far above any camera or chip portrait.
const MAX_DECODED_PIXELS: u64 = 8192 * 8192;

/// A JP2 signature box or a raw codestream's SOC + SIZ markers.
fn is_jpeg2000(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x00\x00\x00\x0C\x6A\x50\x20\x20")
        || bytes.starts_with(&[0xFF, 0x4F, 0xFF, 0x51])
}

impl Frame {
    /// Wraps packed RGB bytes; the length must be `width * height * 3`.
    pub fn new(width: u32, height: u32, rgb: Vec<u8>) -> Result<Self, FaceError> {
        let expected = (width as usize)
            .checked_mul(height as usize)
            .and_then(|n| n.checked_mul(3));
        if width == 0 || height == 0 || expected != Some(rgb.len()) {
            return Err(FaceError::InvalidFrame {
                width,
                height,
                bytes: rgb.len(),
            });
        }
        Ok(Self { width, height, rgb })
    }

    /// Decodes an encoded image held in memory: PNG, JPEG, or JPEG 2000
    /// (a JP2 file or a bare codestream, as chip portraits often are).
    pub fn decode(bytes: &[u8]) -> Result<Self, FaceError> {
        let fail = |e: &dyn std::fmt::Display| FaceError::Decode(e.to_string());
        let image = if is_jpeg2000(bytes) {
            let jp2 = hayro_jpeg2000::Image::new(bytes, &hayro_jpeg2000::DecodeSettings::default())
                .map_err(|e| fail(&e))?;
            // Checked before decoding: the header alone may claim any size.
            let (w, h) = (jp2.width(), jp2.height());
            if u64::from(w) * u64::from(h) > MAX_DECODED_PIXELS {
                return Err(fail(&format!("a {w}x{h} image is too large")));
            }
            image::DynamicImage::from_decoder(jp2).map_err(|e| fail(&e))?
        } else {
            image::load_from_memory(bytes).map_err(|e| fail(&e))?
        };
        Self::try_from(image.into_rgb8())
    }

    /// The frame as a baseline JPEG.
    pub fn to_jpeg(&self, quality: u8) -> Result<Vec<u8>, FaceError> {
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
            .encode(
                &self.rgb,
                self.width,
                self.height,
                image::ExtendedColorType::Rgb8,
            )
            .map_err(|e| FaceError::Encode(e.to_string()))?;
        Ok(out)
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// The packed RGB bytes.
    pub fn as_rgb(&self) -> &[u8] {
        &self.rgb
    }

    /// The frame turned a quarter clockwise.
    pub fn rotated_clockwise(&self) -> Frame {
        let (w, h) = (self.width as usize, self.height as usize);
        let mut rgb = Vec::with_capacity(self.rgb.len());
        // Output row y' is source column y', read bottom to top.
        for x in 0..w {
            for y in (0..h).rev() {
                let i = (y * w + x) * 3;
                rgb.extend_from_slice(&self.rgb[i..i + 3]);
            }
        }
        Frame {
            width: self.height,
            height: self.width,
            rgb,
        }
    }

    /// The pixel at integer coordinates, which the caller keeps in range.
    fn pixel(&self, x: usize, y: usize) -> [f32; 3] {
        let i = (y * self.width as usize + x) * 3;
        [
            f32::from(self.rgb[i]),
            f32::from(self.rgb[i + 1]),
            f32::from(self.rgb[i + 2]),
        ]
    }

    /// Bilinear sample at sub-pixel coordinates (pixel centres at integers).
    /// With `Border::Black` the outside reads as black, like OpenCV's
    /// constant border in a warp; with `Border::Replicate` the coordinates
    /// are clamped to the image, like OpenCV's resize.
    fn sample(&self, x: f32, y: f32, border: Border) -> [f32; 3] {
        let (w, h) = (self.width as i64, self.height as i64);
        let (x, y) = match border {
            Border::Black => (x, y),
            Border::Replicate => (x.clamp(0.0, (w - 1) as f32), y.clamp(0.0, (h - 1) as f32)),
        };
        let (x0f, y0f) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0f, y - y0f);
        let (x0, y0) = (x0f as i64, y0f as i64);
        let mut acc = [0.0f32; 3];
        for (dy, wy) in [(0, 1.0 - fy), (1, fy)] {
            for (dx, wx) in [(0, 1.0 - fx), (1, fx)] {
                let (px, py) = (x0 + dx, y0 + dy);
                let weight = wx * wy;
                if weight == 0.0 || px < 0 || py < 0 || px >= w || py >= h {
                    continue;
                }
                let p = self.pixel(px as usize, py as usize);
                for c in 0..3 {
                    acc[c] += weight * p[c];
                }
            }
        }
        acc
    }

    /// Luma (BT.601) of every pixel inside `rect`, clipped to the frame,
    /// row-major; returns the clipped width and height too.
    pub(crate) fn luma_region(&self, rect: &BBox) -> (Vec<f32>, usize, usize) {
        let x0 = rect.x.max(0.0).floor() as usize;
        let y0 = rect.y.max(0.0).floor() as usize;
        let x1 = (rect.right().min(self.width as f32).ceil() as usize).min(self.width as usize);
        let y1 = (rect.bottom().min(self.height as f32).ceil() as usize).min(self.height as usize);
        if x1 <= x0 || y1 <= y0 {
            return (Vec::new(), 0, 0);
        }
        let mut out = Vec::with_capacity((x1 - x0) * (y1 - y0));
        for y in y0..y1 {
            for x in x0..x1 {
                let [r, g, b] = self.pixel(x, y);
                out.push(0.299 * r + 0.587 * g + 0.114 * b);
            }
        }
        (out, x1 - x0, y1 - y0)
    }
}

impl TryFrom<image::RgbImage> for Frame {
    type Error = FaceError;

    fn try_from(image: image::RgbImage) -> Result<Self, FaceError> {
        let (width, height) = image.dimensions();
        Self::new(width, height, image.into_raw())
    }
}

impl From<Frame> for image::RgbImage {
    fn from(frame: Frame) -> Self {
        // `Frame::new` guarantees the buffer length, so this cannot fail;
        // an empty image is the harmless fallback should it ever.
        image::RgbImage::from_raw(frame.width, frame.height, frame.rgb).unwrap_or_default()
    }
}

/// A point in frame pixel coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

impl Point {
    pub const fn new(x: f32, y: f32) -> Self {
        Self { x, y }
    }

    pub fn distance(self, other: Point) -> f32 {
        (self.x - other.x).hypot(self.y - other.y)
    }

    pub fn midpoint(self, other: Point) -> Point {
        Point::new((self.x + other.x) / 2.0, (self.y + other.y) / 2.0)
    }
}

/// An axis-aligned box: top-left corner plus size, in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

impl BBox {
    pub fn right(&self) -> f32 {
        self.x + self.width
    }

    pub fn bottom(&self) -> f32 {
        self.y + self.height
    }

    pub fn center(&self) -> Point {
        Point::new(self.x + self.width / 2.0, self.y + self.height / 2.0)
    }

    pub fn area(&self) -> f32 {
        self.width.max(0.0) * self.height.max(0.0)
    }

    /// Intersection over union, 0 when either box is empty.
    pub fn iou(&self, other: &BBox) -> f32 {
        let w = (self.right().min(other.right()) - self.x.max(other.x)).max(0.0);
        let h = (self.bottom().min(other.bottom()) - self.y.max(other.y)).max(0.0);
        let inter = w * h;
        let union = self.area() + other.area() - inter;
        if union > 0.0 { inter / union } else { 0.0 }
    }
}

/// A 2-D affine map `(x, y) -> (a*x + b*y + c, d*x + e*y + f)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Affine {
    pub m: [f32; 6],
}

impl Affine {
    /// Resizes the source rectangle `rect` onto an output of `out_w x out_h`.
    pub fn crop_resize(rect: &BBox, out_w: usize, out_h: usize) -> Self {
        let (sx, sy) = (rect.width / out_w as f32, rect.height / out_h as f32);
        Self {
            m: [
                sx,
                0.0,
                rect.x + 0.5 * sx - 0.5,
                0.0,
                sy,
                rect.y + 0.5 * sy - 0.5,
            ],
        }
    }

    #[cfg(test)]
    pub fn apply(&self, p: Point) -> Point {
        let m = &self.m;
        Point::new(
            m[0] * p.x + m[1] * p.y + m[2],
            m[3] * p.x + m[4] * p.y + m[5],
        )
    }

    /// The inverse map, `None` when the map is degenerate.
    pub fn inverse(&self) -> Option<Self> {
        let [a, b, c, d, e, f] = self.m;
        let det = a * e - b * d;
        if det.abs() < 1e-12 || !det.is_finite() {
            return None;
        }
        let (ia, ib, id, ie) = (e / det, -b / det, -d / det, a / det);
        Some(Self {
            m: [ia, ib, -(ia * c + ib * f), id, ie, -(id * c + ie * f)],
        })
    }
}

/// Which order the model wants the colour channels in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChannelOrder {
    Rgb,
    Bgr,
}

/// How pixels become model input: channel order, then `(value - mean) / scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PixelFormat {
    pub order: ChannelOrder,
    pub mean: f32,
    pub scale: f32,
}

impl PixelFormat {
    /// Raw 0..255 values in BGR order, as YuNet and MiniFASNet take them.
    pub const BGR_RAW: Self = Self {
        order: ChannelOrder::Bgr,
        mean: 0.0,
        scale: 1.0,
    };
}

/// The two neighbouring source indices of a coordinate clamped into the
/// image, and the weight of the second.
#[derive(Debug, Clone, Copy)]
struct Taps {
    first: usize,
    second: usize,
    weight: f32,
}

impl Taps {
    fn new(coordinate: f32, size: u32) -> Self {
        let last = size.saturating_sub(1) as usize;
        let c = coordinate.clamp(0.0, last as f32);
        let first = (c.floor() as usize).min(last);
        Self {
            first,
            second: (first + 1).min(last),
            weight: c - first as f32,
        }
    }
}

impl Frame {
    /// Bilinear blend of the four pixels the taps select.
    fn blend(&self, x: &Taps, y: &Taps) -> [f32; 3] {
        let (p00, p01) = (self.pixel(x.first, y.first), self.pixel(x.second, y.first));
        let (p10, p11) = (
            self.pixel(x.first, y.second),
            self.pixel(x.second, y.second),
        );
        std::array::from_fn(|c| {
            let top = p00[c] + (p01[c] - p00[c]) * x.weight;
            let bottom = p10[c] + (p11[c] - p10[c]) * x.weight;
            top + (bottom - top) * y.weight
        })
    }
}

/// What a sample outside the source image reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Border {
    Black,
    Replicate,
}

/// A rectangle of output pixels, right and bottom exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Region {
    pub left: usize,
    pub top: usize,
    pub right: usize,
    pub bottom: usize,
}

/// A planar `[3, height, width]` model input being filled.
#[derive(Debug)]
pub(crate) struct Planar {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Planar {
    /// An input whose every pixel is black in `format`.
    pub fn black(width: usize, height: usize, format: PixelFormat) -> Self {
        let pad = (0.0 - format.mean) / format.scale;
        Self {
            width,
            height,
            data: vec![pad; 3 * width * height],
        }
    }

    /// Output pixels `(u, v)` inside `region` become the bilinear sample of
    /// `frame` at `map(u, v)`. Every model input is made here, so
    /// letterboxing, crops and face alignment share one resampler.
    pub fn fill(
        &mut self,
        frame: &Frame,
        map: &Affine,
        region: Region,
        format: PixelFormat,
        border: Border,
    ) {
        let plane = self.width * self.height;
        let channels = match format.order {
            ChannelOrder::Rgb => [0, 1, 2],
            ChannelOrder::Bgr => [2, 1, 0],
        };
        let [a, b, c, d, e, f] = map.m;
        let (rows, cols) = (
            region.top..region.bottom.min(self.height),
            region.left..region.right.min(self.width),
        );
        let mut put = |u: usize, v: usize, px: [f32; 3]| {
            let i = v * self.width + u;
            for (k, &src) in channels.iter().enumerate() {
                self.data[k * plane + i] = (px[src] - format.mean) / format.scale;
            }
        };
        if b == 0.0 && d == 0.0 && border == Border::Replicate {
            // A plain resize, the detector's and liveness' case on every
            // frame: the taps of each column and row are computed once.
            let xs: Vec<Taps> = cols
                .clone()
                .map(|u| Taps::new(a * u as f32 + c, frame.width))
                .collect();
            for v in rows {
                let ty = Taps::new(e * v as f32 + f, frame.height);
                for (u, tx) in cols.clone().zip(&xs) {
                    put(u, v, frame.blend(tx, &ty));
                }
            }
            return;
        }
        for v in rows {
            for u in cols.clone() {
                let (uf, vf) = (u as f32, v as f32);
                put(
                    u,
                    v,
                    frame.sample(a * uf + b * vf + c, d * uf + e * vf + f, border),
                );
            }
        }
    }

    /// A whole input resampled from `frame` through `map`.
    pub fn resampled(
        frame: &Frame,
        map: &Affine,
        (width, height): (usize, usize),
        format: PixelFormat,
        border: Border,
    ) -> Self {
        let mut planar = Self::black(width, height, format);
        let all = Region {
            left: 0,
            top: 0,
            right: width,
            bottom: height,
        };
        planar.fill(frame, map, all, format, border);
        planar
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_checks_its_buffer() {
        assert!(Frame::new(2, 2, vec![0; 12]).is_ok());
        assert!(matches!(
            Frame::new(2, 2, vec![0; 11]),
            Err(FaceError::InvalidFrame { .. })
        ));
        assert!(Frame::new(0, 2, vec![]).is_err());
    }

    #[test]
    fn rotation_moves_pixels_clockwise() {
        // 2x1: red, green -> 1x2: red on top, green below.
        let frame = Frame::new(2, 1, vec![255, 0, 0, 0, 255, 0]).unwrap();
        let turned = frame.rotated_clockwise();
        assert_eq!((turned.width(), turned.height()), (1, 2));
        assert_eq!(turned.as_rgb(), &[255, 0, 0, 0, 255, 0]);
        let tall = Frame::new(1, 2, vec![1, 1, 1, 2, 2, 2]).unwrap();
        assert_eq!(tall.rotated_clockwise().as_rgb(), &[2, 2, 2, 1, 1, 1]);
    }

    #[test]
    fn affine_inverse_round_trips() {
        let m = Affine {
            m: [0.8, -0.3, 12.0, 0.3, 0.8, -4.0],
        };
        let inv = m.inverse().unwrap();
        let p = Point::new(17.0, 33.0);
        let q = inv.apply(m.apply(p));
        assert!((q.x - p.x).abs() < 1e-4 && (q.y - p.y).abs() < 1e-4);
        assert!(Affine { m: [0.0; 6] }.inverse().is_none());
    }

    #[test]
    fn resample_identity_and_channel_order() {
        let frame = Frame::new(2, 1, vec![10, 20, 30, 40, 50, 60]).unwrap();
        let whole = BBox {
            x: 0.0,
            y: 0.0,
            width: 2.0,
            height: 1.0,
        };
        let identity = Affine::crop_resize(&whole, 2, 1);
        let out = Planar::resampled(
            &frame,
            &identity,
            (2, 1),
            PixelFormat::BGR_RAW,
            Border::Black,
        );
        assert_eq!(out.data, vec![30.0, 60.0, 20.0, 50.0, 10.0, 40.0]);
        // Half-way between the two pixels, and black beyond the border.
        let shifted = Affine {
            m: [1.0, 0.0, 0.5, 0.0, 1.0, 0.0],
        };
        let out = Planar::resampled(
            &frame,
            &shifted,
            (2, 1),
            PixelFormat::BGR_RAW,
            Border::Black,
        );
        assert_eq!(out.data[0], 45.0);
        assert_eq!(out.data[1], 30.0);
        let out = Planar::resampled(
            &frame,
            &shifted,
            (2, 1),
            PixelFormat::BGR_RAW,
            Border::Replicate,
        );
        assert_eq!(out.data[1], 60.0);
    }

    #[test]
    fn the_resize_fast_path_agrees_with_the_general_one() {
        let rgb: Vec<u8> = (0..7 * 5 * 3).map(|i| (i * 37 % 251) as u8).collect();
        let frame = Frame::new(7, 5, rgb).unwrap();
        let rect = BBox {
            x: -0.7,
            y: 0.4,
            width: 6.3,
            height: 4.1,
        };
        let resize = Affine::crop_resize(&rect, 11, 9);
        let fast = Planar::resampled(
            &frame,
            &resize,
            (11, 9),
            PixelFormat::BGR_RAW,
            Border::Replicate,
        );
        // A vanishing shear sends the same map down the general path.
        let mut sheared = resize;
        sheared.m[1] = 1e-30;
        let slow = Planar::resampled(
            &frame,
            &sheared,
            (11, 9),
            PixelFormat::BGR_RAW,
            Border::Replicate,
        );
        for (a, b) in fast.data.iter().zip(&slow.data) {
            assert!((a - b).abs() < 1e-3, "{a} vs {b}");
        }
    }

    #[test]
    fn iou_of_boxes() {
        let a = BBox {
            x: 0.0,
            y: 0.0,
            width: 10.0,
            height: 10.0,
        };
        let b = BBox {
            x: 5.0,
            y: 0.0,
            width: 10.0,
            height: 10.0,
        };
        assert!((a.iou(&b) - 50.0 / 150.0).abs() < 1e-6);
        assert_eq!(a.iou(&BBox { x: 20.0, ..a }), 0.0);
    }
}
