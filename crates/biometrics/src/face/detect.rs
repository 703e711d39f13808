//! Face detection with YuNet: where the faces are, with five landmarks each.

use serde::{Deserialize, Serialize};

use super::FaceError;
use super::frame::{Affine, BBox, Border, Frame, PixelFormat, Planar, Point, Region};
use crate::session::{Output, Session};

/// A detected face in frame pixel coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Face {
    pub bbox: BBox,
    /// In ArcFace order: right eye, left eye, nose tip, right and left mouth
    /// corner — the subject's right, so the first eye is on the image's left
    /// in an upright, unmirrored frame.
    pub landmarks: [Point; 5],
    /// Detector confidence, 0..1.
    pub score: f32,
}

impl Face {
    pub fn right_eye(&self) -> Point {
        self.landmarks[0]
    }

    pub fn left_eye(&self) -> Point {
        self.landmarks[1]
    }

    pub fn nose(&self) -> Point {
        self.landmarks[2]
    }

    pub fn mouth_center(&self) -> Point {
        self.landmarks[3].midpoint(self.landmarks[4])
    }

    /// Distance between the eye centres in pixels, the ICAO measure of how
    /// much detail a face carries.
    pub fn inter_eye_distance(&self) -> f32 {
        self.right_eye().distance(self.left_eye())
    }

    fn map_points(&self, f: impl Fn(Point) -> Point) -> Face {
        let corners = [
            f(Point::new(self.bbox.x, self.bbox.y)),
            f(Point::new(self.bbox.right(), self.bbox.bottom())),
        ];
        let (x0, x1) = (
            corners[0].x.min(corners[1].x),
            corners[0].x.max(corners[1].x),
        );
        let (y0, y1) = (
            corners[0].y.min(corners[1].y),
            corners[0].y.max(corners[1].y),
        );
        Face {
            bbox: BBox {
                x: x0,
                y: y0,
                width: x1 - x0,
                height: y1 - y0,
            },
            landmarks: self.landmarks.map(f),
            score: self.score,
        }
    }
}

/// How the detector looks at a frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DetectorConfig {
    /// Width and height of the detector input, each a multiple of 32.
    /// Frames are scaled to fit it, keeping their aspect ratio, and padded.
    pub input_width: u32,
    pub input_height: u32,
    /// Minimum detector confidence; below about 0.8 YuNet reports
    /// background as faces.
    pub score_threshold: f32,
    /// Boxes overlapping a stronger one by more than this are dropped.
    pub nms_iou: f32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            // A counter camera sees one large face: 320 wide finds it at a
            // third of the cost of 640, and a 4:3 frame's 240 rows need no
            // more than 256 (a square input would spend a fifth of its time
            // on padding).
            input_width: 320,
            input_height: 256,
            score_threshold: 0.85,
            nms_iou: 0.3,
        }
    }
}

/// Strides of YuNet's three output heads.
const STRIDES: [usize; 3] = [8, 16, 32];

/// YuNet on one fixed input size.
#[derive(Debug)]
pub(crate) struct FaceDetector {
    session: Session,
    config: DetectorConfig,
    /// Output index of cls, obj, bbox, kps for each stride.
    heads: [[usize; 4]; 3],
}

impl FaceDetector {
    pub fn load(bytes: &[u8], config: DetectorConfig) -> Result<Self, FaceError> {
        let size = (config.input_width as usize, config.input_height as usize);
        for side in [size.0, size.1] {
            if side == 0 || !side.is_multiple_of(32) {
                return Err(FaceError::InvalidConfig(format!(
                    "detector input {}x{} is not in positive multiples of 32",
                    size.0, size.1
                )));
            }
        }
        let session = Session::load("face_detector", bytes, size, true)?;
        let heads = head_indices(&session.output_names())?;
        Ok(Self {
            session,
            config,
            heads,
        })
    }

    /// Faces in `frame`, strongest first. `fill` is the share of the
    /// detector input's width or height the frame takes along the side
    /// that limits its scale; below 1 the frame is centred in a black
    /// margin, which lets YuNet find a face that fills a tightly cropped
    /// portrait.
    pub fn detect(&self, frame: &Frame, fill: f32) -> Result<Vec<Face>, FaceError> {
        let (input_w, input_h) = self.session.input_size();
        let (w, h) = (frame.width() as f32, frame.height() as f32);
        let scale = fill.clamp(0.1, 1.0) * (input_w as f32 / w).min(input_h as f32 / h);
        let (scaled_w, scaled_h) = ((w * scale).round(), (h * scale).round());
        let left = ((input_w as f32 - scaled_w) / 2.0).floor().max(0.0);
        let top = ((input_h as f32 - scaled_h) / 2.0).floor().max(0.0);
        let to_source = Affine {
            m: [
                1.0 / scale,
                0.0,
                (0.5 - left) / scale - 0.5,
                0.0,
                1.0 / scale,
                (0.5 - top) / scale - 0.5,
            ],
        };
        let region = Region {
            left: left as usize,
            top: top as usize,
            right: (left + scaled_w) as usize,
            bottom: (top + scaled_h) as usize,
        };
        let mut input = Planar::black(input_w, input_h, PixelFormat::BGR_RAW);
        input.fill(
            frame,
            &to_source,
            region,
            PixelFormat::BGR_RAW,
            Border::Replicate,
        );
        let outputs = self.session.run(input)?;
        let candidates = self.decode(&outputs, (input_w, input_h))?;
        let faces = non_max_suppression(candidates, self.config.nms_iou);
        // Back from detector input to frame coordinates.
        Ok(faces
            .into_iter()
            .map(|f| f.map_points(|p| Point::new((p.x - left) / scale, (p.y - top) / scale)))
            .collect())
    }

    /// Faces in `frame` upright or, failing that, in any quarter turn: for
    /// still images (a scanned or sideways portrait), not for live frames.
    pub fn detect_any_orientation(&self, frame: &Frame, fill: f32) -> Result<Vec<Face>, FaceError> {
        let faces = self.detect(frame, fill)?;
        if !faces.is_empty() {
            return Ok(faces);
        }
        let mut turned = frame.clone();
        // A point (x', y') after k clockwise quarter turns came from the
        // frame one turn less, at (y', h - 1 - x') with h that frame's height.
        let mut heights = Vec::new();
        for _ in 0..3 {
            heights.push(turned.height() as f32);
            turned = turned.rotated_clockwise();
            let faces = self.detect(&turned, fill)?;
            if !faces.is_empty() {
                return Ok(faces
                    .into_iter()
                    .map(|face| {
                        heights.iter().rev().fold(face, |f, &h| {
                            f.map_points(|p| Point::new(p.y, h - 1.0 - p.x))
                        })
                    })
                    .collect());
            }
        }
        Ok(Vec::new())
    }

    /// Turns the raw heads into candidate faces in detector input pixels.
    fn decode(
        &self,
        outputs: &[Output],
        (width, height): (usize, usize),
    ) -> Result<Vec<Face>, FaceError> {
        let mut faces = Vec::new();
        for (&stride, head) in STRIDES.iter().zip(&self.heads) {
            let cols = width / stride;
            let cells = cols * (height / stride);
            let [cls, obj, bbox, kps] = head.map(|i| &outputs[i]);
            for (out, per_cell) in [(cls, 1), (obj, 1), (bbox, 4), (kps, 10)] {
                if out.values.len() != cells * per_cell {
                    return Err(FaceError::UnexpectedOutput {
                        model: self.session.name(),
                        detail: format!(
                            "stride {stride}: output of shape {:?}, expected {cells}x{per_cell}",
                            out.shape
                        ),
                    });
                }
            }
            let s = stride as f32;
            for cell in 0..cells {
                let c = cls.values[cell].clamp(0.0, 1.0);
                let o = obj.values[cell].clamp(0.0, 1.0);
                let score = (c * o).sqrt();
                if score < self.config.score_threshold {
                    continue;
                }
                let (col, row) = ((cell % cols) as f32, (cell / cols) as f32);
                let b = &bbox.values[cell * 4..cell * 4 + 4];
                let (cx, cy) = ((col + b[0]) * s, (row + b[1]) * s);
                let (bw, bh) = (b[2].exp() * s, b[3].exp() * s);
                let k = &kps.values[cell * 10..cell * 10 + 10];
                let landmarks = std::array::from_fn(|i| {
                    Point::new((k[2 * i] + col) * s, (k[2 * i + 1] + row) * s)
                });
                faces.push(Face {
                    bbox: BBox {
                        x: cx - bw / 2.0,
                        y: cy - bh / 2.0,
                        width: bw,
                        height: bh,
                    },
                    landmarks,
                    score,
                });
            }
        }
        Ok(faces)
    }
}

/// Finds `cls_8`, `obj_8`, `bbox_8`, `kps_8`, ... among the output names.
fn head_indices(names: &[String]) -> Result<[[usize; 4]; 3], FaceError> {
    let mut heads = [[0usize; 4]; 3];
    for (s, stride) in STRIDES.iter().enumerate() {
        for (k, kind) in ["cls", "obj", "bbox", "kps"].iter().enumerate() {
            let wanted = format!("{kind}_{stride}");
            heads[s][k] = names.iter().position(|n| *n == wanted).ok_or_else(|| {
                FaceError::UnexpectedOutput {
                    model: "face_detector",
                    detail: format!("no output named {wanted} among {names:?}"),
                }
            })?;
        }
    }
    Ok(heads)
}

/// Greedy non-maximum suppression, strongest first.
fn non_max_suppression(mut faces: Vec<Face>, iou: f32) -> Vec<Face> {
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Face> = Vec::new();
    for face in faces {
        if kept.iter().all(|k| k.bbox.iou(&face.bbox) <= iou) {
            kept.push(face);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face_at(x: f32, score: f32) -> Face {
        Face {
            bbox: BBox {
                x,
                y: 0.0,
                width: 10.0,
                height: 10.0,
            },
            landmarks: [Point::new(0.0, 0.0); 5],
            score,
        }
    }

    #[test]
    fn nms_keeps_the_strongest_of_overlapping_boxes() {
        let kept = non_max_suppression(
            vec![face_at(0.0, 0.9), face_at(1.0, 0.95), face_at(50.0, 0.86)],
            0.3,
        );
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].score, 0.95);
        assert_eq!(kept[1].bbox.x, 50.0);
    }

    #[test]
    fn heads_are_found_by_name() {
        let names: Vec<String> = ["cls", "obj", "bbox", "kps"]
            .iter()
            .flat_map(|k| STRIDES.map(|s| format!("{k}_{s}")))
            .collect();
        let heads = head_indices(&names).unwrap();
        assert_eq!(heads[0], [0, 3, 6, 9]);
        assert_eq!(heads[2], [2, 5, 8, 11]);
        assert!(head_indices(&names[1..]).is_err());
    }
}
