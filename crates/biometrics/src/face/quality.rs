//! Capture quality of one frame: is there exactly one face, large, frontal,
//! centred, sharp and well lit enough to be worth a liveness check and a
//! match? Each check carries its measured value and its limit, so the UI can
//! guide the citizen and an auditor can see why a frame was refused.

use serde::{Deserialize, Serialize};

use super::detect::Face;
use super::frame::{BBox, Frame, Point};

/// Limits a frame must meet; the defaults follow the ICAO portrait
/// guidance (frontal within about ten degrees, even lighting, in focus).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QualityConfig {
    /// Minimum distance between the eye centres, in frame pixels.
    pub min_inter_eye_px: f32,
    /// Largest yaw, pitch and roll, in degrees either way.
    pub max_yaw_deg: f32,
    pub max_pitch_deg: f32,
    pub max_roll_deg: f32,
    /// Minimum variance of the Laplacian of the face, scaled to a fixed size.
    pub min_sharpness: f32,
    /// Mean luminance of the face, 0..255.
    pub min_brightness: f32,
    pub max_brightness: f32,
    /// Minimum standard deviation of the face's luminance.
    pub min_contrast: f32,
    /// Largest distance of the face centre from the frame centre, as a
    /// share of the frame's width or height.
    pub max_center_offset: f32,
    /// A second face at least this share of the main face's width makes the
    /// frame ambiguous; smaller faces (people in the background) are ignored.
    pub multiple_face_ratio: f32,
}

impl Default for QualityConfig {
    fn default() -> Self {
        Self {
            min_inter_eye_px: 40.0,
            max_yaw_deg: 10.0,
            max_pitch_deg: 10.0,
            max_roll_deg: 8.0,
            min_sharpness: 60.0,
            min_brightness: 60.0,
            max_brightness: 200.0,
            min_contrast: 20.0,
            max_center_offset: 0.25,
            multiple_face_ratio: 0.5,
        }
    }
}

/// Why a frame is not good enough, most fundamental first: the UI shows
/// the first one as the instruction to the citizen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityIssue {
    NoFace,
    MultipleFaces,
    FaceTooSmall,
    FaceNotCentred,
    HeadTurned,
    HeadTiltedUpDown,
    HeadTiltedSideways,
    TooDark,
    TooBright,
    LowContrast,
    Blurry,
}

impl QualityIssue {
    /// The stable code, as serialised.
    pub fn code(self) -> &'static str {
        match self {
            Self::NoFace => "no_face",
            Self::MultipleFaces => "multiple_faces",
            Self::FaceTooSmall => "face_too_small",
            Self::FaceNotCentred => "face_not_centred",
            Self::HeadTurned => "head_turned",
            Self::HeadTiltedUpDown => "head_tilted_up_down",
            Self::HeadTiltedSideways => "head_tilted_sideways",
            Self::TooDark => "too_dark",
            Self::TooBright => "too_bright",
            Self::LowContrast => "low_contrast",
            Self::Blurry => "blurry",
        }
    }
}

/// The limit a measured value is held against.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    AtLeast(f32),
    AtMost(f32),
    Within { min: f32, max: f32 },
}

impl Limit {
    fn admits(self, value: f32) -> bool {
        match self {
            Limit::AtLeast(min) => value >= min,
            Limit::AtMost(max) => value <= max,
            Limit::Within { min, max } => (min..=max).contains(&value),
        }
    }
}

/// One measured property of the frame against its limit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub value: f32,
    pub limit: Limit,
    pub passed: bool,
}

impl Check {
    fn new(value: f32, limit: Limit) -> Self {
        Self {
            value,
            limit,
            passed: value.is_finite() && limit.admits(value),
        }
    }
}

/// Head orientation estimated from the five landmarks, in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pose {
    /// Positive when the nose points to the image's right.
    pub yaw: f32,
    /// Positive when the head is tilted back (chin up).
    pub pitch: f32,
    /// Positive when the eye line descends to the image's right.
    pub roll: f32,
}

/// Where YuNet puts the nose tip on a frontal face: this share of the way
/// from the eye line to the mouth line. (The ArcFace template has 0.50;
/// YuNet marks the tip lower, and frontal portraits read about 0.56.)
const FRONTAL_NOSE_RATIO: f32 = 0.56;
/// Depth of the nose tip in front of the eyes, in inter-eye distances;
/// turns the nose's 2-D offset into an angle.
const NOSE_DEPTH: f32 = 0.5;
/// Eye line to mouth line, in inter-eye distances, frontal.
const EYE_MOUTH_RATIO: f32 = 1.06;

impl Pose {
    /// A weak-perspective estimate: good to a few degrees near frontal,
    /// which is where the limits sit.
    pub fn estimate(face: &Face) -> Pose {
        let (re, le) = (face.right_eye(), face.left_eye());
        let roll = (le.y - re.y).atan2(le.x - re.x);
        // Undo the roll around the eye midpoint, so the eye line is level.
        let origin = re.midpoint(le);
        let (sin, cos) = (-roll).sin_cos();
        let level = |p: Point| {
            let (dx, dy) = (p.x - origin.x, p.y - origin.y);
            Point::new(dx * cos - dy * sin, dx * sin + dy * cos)
        };
        let ied = re.distance(le).max(1e-3);
        let nose = level(face.nose());
        let mouth = level(face.mouth_center());
        let eye_mouth = mouth.y.max(1e-3);
        // The midline runs from the eye midpoint (origin) to the mouth centre.
        let midline_x = mouth.x * (nose.y / eye_mouth);
        let yaw = ((nose.x - midline_x) / (NOSE_DEPTH * ied)).atan();
        let nose_ratio = nose.y / eye_mouth;
        let pitch = ((FRONTAL_NOSE_RATIO - nose_ratio) * EYE_MOUTH_RATIO / NOSE_DEPTH).atan();
        Pose {
            yaw: yaw.to_degrees(),
            pitch: pitch.to_degrees(),
            roll: roll.to_degrees(),
        }
    }
}

/// Every check of one face.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QualityChecks {
    pub inter_eye_distance: Check,
    pub center_offset: Check,
    pub yaw: Check,
    pub pitch: Check,
    pub roll: Check,
    pub brightness: Check,
    pub contrast: Check,
    pub sharpness: Check,
}

/// The quality verdict of one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    /// Whether the frame is good enough to use.
    pub passed: bool,
    /// The first thing to fix, if any.
    pub issue: Option<QualityIssue>,
    /// Every problem found, most fundamental first.
    pub issues: Vec<QualityIssue>,
    /// Faces of comparable size in the frame.
    pub face_count: usize,
    /// The checks on the main face; absent when there is no face.
    pub checks: Option<QualityChecks>,
    pub pose: Option<Pose>,
}

impl Quality {
    /// Whether the frame's liveness can count as evidence: one face, large,
    /// sharp and lit enough for the texture models. Pose does not matter,
    /// so a head turning for the challenge still counts.
    pub fn is_liveness_evidence(&self) -> bool {
        self.face_count == 1
            && self.checks.is_some_and(|c| {
                c.inter_eye_distance.passed && c.sharpness.passed && c.brightness.passed
            })
    }
}

/// The face a frame is about: the largest one.
pub(crate) fn primary_face(faces: &[Face]) -> Option<&Face> {
    faces
        .iter()
        .max_by(|a, b| a.bbox.area().total_cmp(&b.bbox.area()))
}

/// Side of the square the face is scaled to before the sharpness measure,
/// so that the value does not depend on the face's size in the frame.
const SHARPNESS_SIDE: u32 = 112;

/// Assesses the frame around its main face.
pub fn assess(frame: &Frame, faces: &[Face], config: &QualityConfig) -> Quality {
    let Some(main) = primary_face(faces) else {
        return Quality {
            passed: false,
            issue: Some(QualityIssue::NoFace),
            issues: vec![QualityIssue::NoFace],
            face_count: 0,
            checks: None,
            pose: None,
        };
    };
    let face_count = faces
        .iter()
        .filter(|f| f.bbox.width >= config.multiple_face_ratio * main.bbox.width)
        .count();
    let pose = Pose::estimate(main);
    let (w, h) = (frame.width() as f32, frame.height() as f32);
    let centre = main.bbox.center();
    let offset = ((centre.x - w / 2.0) / w)
        .abs()
        .max(((centre.y - h / 2.0) / h).abs());
    let photometry = Photometry::measure(frame, &main.bbox);
    let symmetric = |max: f32| Limit::Within { min: -max, max };
    let checks = QualityChecks {
        inter_eye_distance: Check::new(
            main.inter_eye_distance(),
            Limit::AtLeast(config.min_inter_eye_px),
        ),
        center_offset: Check::new(offset, Limit::AtMost(config.max_center_offset)),
        yaw: Check::new(pose.yaw, symmetric(config.max_yaw_deg)),
        pitch: Check::new(pose.pitch, symmetric(config.max_pitch_deg)),
        roll: Check::new(pose.roll, symmetric(config.max_roll_deg)),
        brightness: Check::new(
            photometry.mean,
            Limit::Within {
                min: config.min_brightness,
                max: config.max_brightness,
            },
        ),
        contrast: Check::new(photometry.std_dev, Limit::AtLeast(config.min_contrast)),
        sharpness: Check::new(photometry.sharpness, Limit::AtLeast(config.min_sharpness)),
    };
    let mut issues = Vec::new();
    if face_count > 1 {
        issues.push(QualityIssue::MultipleFaces);
    }
    let brightness_issue = if photometry.mean < config.min_brightness {
        QualityIssue::TooDark
    } else {
        QualityIssue::TooBright
    };
    for (check, issue) in [
        (checks.inter_eye_distance, QualityIssue::FaceTooSmall),
        (checks.center_offset, QualityIssue::FaceNotCentred),
        (checks.yaw, QualityIssue::HeadTurned),
        (checks.pitch, QualityIssue::HeadTiltedUpDown),
        (checks.roll, QualityIssue::HeadTiltedSideways),
        (checks.brightness, brightness_issue),
        (checks.contrast, QualityIssue::LowContrast),
        (checks.sharpness, QualityIssue::Blurry),
    ] {
        if !check.passed {
            issues.push(issue);
        }
    }
    Quality {
        passed: issues.is_empty(),
        issue: issues.first().copied(),
        issues,
        face_count,
        checks: Some(checks),
        pose: Some(pose),
    }
}

/// Luminance statistics of the face region.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Photometry {
    mean: f32,
    std_dev: f32,
    sharpness: f32,
}

impl Photometry {
    fn measure(frame: &Frame, bbox: &BBox) -> Photometry {
        let (luma, w, h) = frame.luma_region(bbox);
        if luma.is_empty() {
            return Photometry {
                mean: 0.0,
                std_dev: 0.0,
                sharpness: 0.0,
            };
        }
        let (mean, std_dev) = mean_std(luma.iter().copied());
        Photometry {
            mean,
            std_dev,
            sharpness: laplacian_variance(&luma, w, h),
        }
    }
}

fn mean_std(values: impl Iterator<Item = f32> + Clone) -> (f32, f32) {
    let (mut n, mut sum, mut sum_sq) = (0.0f64, 0.0f64, 0.0f64);
    for v in values {
        n += 1.0;
        sum += f64::from(v);
        sum_sq += f64::from(v) * f64::from(v);
    }
    if n == 0.0 {
        return (0.0, 0.0);
    }
    let mean = sum / n;
    (
        (mean) as f32,
        (sum_sq / n - mean * mean).max(0.0).sqrt() as f32,
    )
}

/// Variance of the 4-neighbour Laplacian of the 8-bit luminance after
/// scaling the region to a fixed square with an averaging filter (so that
/// downscaling does not alias into fake detail).
fn laplacian_variance(luma: &[f32], w: usize, h: usize) -> f32 {
    let bytes = luma
        .iter()
        .map(|v| v.round().clamp(0.0, 255.0) as u8)
        .collect();
    let Some(gray) = image::GrayImage::from_raw(w as u32, h as u32, bytes) else {
        return 0.0;
    };
    let side = SHARPNESS_SIDE;
    let small = image::imageops::resize(&gray, side, side, image::imageops::FilterType::Triangle);
    let s = side as usize;
    let px = |x: usize, y: usize| f32::from(small.get_pixel(x as u32, y as u32).0[0]);
    let laplacians = (1..s - 1).flat_map(|y| {
        (1..s - 1).map(move |x| {
            px(x - 1, y) + px(x + 1, y) + px(x, y - 1) + px(x, y + 1) - 4.0 * px(x, y)
        })
    });
    let (_, std_dev) = mean_std(laplacians);
    std_dev * std_dev
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frontal_face(scale: f32, dx: f32, dy: f32) -> Face {
        // The ArcFace template itself: frontal by construction.
        let t = [
            (38.2946, 51.6963),
            (73.5318, 51.5014),
            (56.0252, 71.7366),
            (41.5493, 92.3655),
            (70.7299, 92.2041),
        ];
        Face {
            bbox: BBox {
                x: dx,
                y: dy,
                width: 112.0 * scale,
                height: 112.0 * scale,
            },
            landmarks: t.map(|(x, y)| Point::new(x * scale + dx, y * scale + dy)),
            score: 0.9,
        }
    }

    #[test]
    fn the_template_is_near_frontal() {
        let pose = Pose::estimate(&frontal_face(2.0, 10.0, 5.0));
        assert!(pose.yaw.abs() < 1.0, "{pose:?}");
        // The template's nose sits higher than YuNet's: a few degrees up.
        assert!(pose.pitch > 5.0 && pose.pitch < 10.0, "{pose:?}");
        assert!(pose.roll.abs() < 1.0, "{pose:?}");
    }

    #[test]
    fn roll_yaw_and_pitch_have_the_documented_signs() {
        let mut face = frontal_face(2.0, 0.0, 0.0);
        // Rotate every landmark by 20 degrees clockwise on screen (y down).
        let (sin, cos) = 20f32.to_radians().sin_cos();
        let rolled = face
            .landmarks
            .map(|p| Point::new(p.x * cos - p.y * sin, p.x * sin + p.y * cos));
        let pose = Pose::estimate(&Face {
            landmarks: rolled,
            ..face
        });
        assert!((pose.roll - 20.0).abs() < 0.5, "{pose:?}");
        assert!(pose.yaw.abs() < 1.0, "{pose:?}");

        face.landmarks[2].x += 20.0;
        assert!(Pose::estimate(&face).yaw > 15.0);
        face.landmarks[2].x -= 20.0;
        let level = Pose::estimate(&face).pitch;
        face.landmarks[2].y -= 15.0;
        assert!(Pose::estimate(&face).pitch > level + 10.0);
        face.landmarks[2].y += 30.0;
        assert!(Pose::estimate(&face).pitch < level - 10.0);
    }

    #[test]
    fn no_face_and_multiple_faces() {
        let frame = Frame::new(400, 300, vec![128; 400 * 300 * 3]).unwrap();
        let config = QualityConfig::default();
        let none = assess(&frame, &[], &config);
        assert_eq!(none.issue, Some(QualityIssue::NoFace));
        assert!(!none.passed);

        let big = frontal_face(1.0, 10.0, 10.0);
        let other = frontal_face(0.9, 200.0, 10.0);
        let tiny = frontal_face(0.2, 300.0, 200.0);
        let two = assess(&frame, &[big, other, tiny], &config);
        assert_eq!(two.face_count, 2);
        assert_eq!(two.issue, Some(QualityIssue::MultipleFaces));
        let one = assess(&frame, &[big, tiny], &config);
        assert_eq!(one.face_count, 1);
        assert!(!one.issues.contains(&QualityIssue::MultipleFaces));
        // A flat grey frame has no contrast and no detail.
        let checks = one.checks.unwrap();
        assert_eq!(checks.brightness.value.round(), 128.0);
        assert!(checks.contrast.value < 1e-3 && !checks.contrast.passed);
        assert!(checks.sharpness.value < 1e-3 && !checks.sharpness.passed);
        assert!(one.issues.contains(&QualityIssue::Blurry));
    }

    #[test]
    fn limits() {
        assert!(Check::new(5.0, Limit::AtLeast(5.0)).passed);
        assert!(!Check::new(f32::NAN, Limit::AtMost(5.0)).passed);
        assert!(
            !Check::new(
                -11.0,
                Limit::Within {
                    min: -10.0,
                    max: 10.0
                }
            )
            .passed
        );
        assert_eq!(QualityIssue::MultipleFaces.code(), "multiple_faces");
    }
}
