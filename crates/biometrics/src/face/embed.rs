//! Face comparison: align the face to the ArcFace template, turn it into an
//! embedding, and compare two embeddings by cosine similarity.

use serde::{Deserialize, Serialize};

use super::FaceError;
use super::detect::Face;
use super::frame::{Affine, Border, ChannelOrder, Frame, PixelFormat, Planar, Point};
use crate::session::Session;

/// Aligned face side the embedding model takes.
const ALIGNED_SIDE: usize = 112;

/// Where the five landmarks sit in a 112x112 aligned ArcFace crop.
const ARCFACE_TEMPLATE: [Point; 5] = [
    Point::new(38.2946, 51.6963),
    Point::new(73.5318, 51.5014),
    Point::new(56.0252, 71.7366),
    Point::new(41.5493, 92.3655),
    Point::new(70.7299, 92.2041),
];

/// RGB, `(x - 127) / 128`, as the embedding model was trained.
const EMBEDDING_PIXELS: PixelFormat = PixelFormat {
    order: ChannelOrder::Rgb,
    mean: 127.0,
    scale: 128.0,
};

/// An L2-normalised face embedding. Biometric data: its debug form hides
/// the values, and it is never serialised on its own by this crate.
#[derive(Clone, PartialEq)]
pub struct Embedding(Vec<f32>);

impl std::fmt::Debug for Embedding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Embedding({} dims)", self.0.len())
    }
}

impl Embedding {
    /// Normalises `values` to unit length; `None` for an all-zero or
    /// non-finite vector, which no face produces.
    pub fn from_raw(values: Vec<f32>) -> Option<Self> {
        crate::vector::l2_normalised(values).map(Self)
    }

    pub fn as_slice(&self) -> &[f32] {
        &self.0
    }

    pub fn dims(&self) -> usize {
        self.0.len()
    }

    /// Cosine similarity, -1..1; 0 when the dimensions differ.
    pub fn cosine(&self, other: &Embedding) -> f32 {
        crate::vector::cosine(&self.0, &other.0)
    }
}

/// Threshold for a 1:1 match.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MatchConfig {
    /// Cosine similarity at or above which two faces are the same person.
    /// With the evaluation model the same person scored 0.57-0.64 and
    /// different people -0.12..0.10 on the test photos; a site calibrates
    /// this on its own captures.
    pub threshold: f32,
}

impl Default for MatchConfig {
    fn default() -> Self {
        Self { threshold: 0.35 }
    }
}

/// The result of comparing a live face with a reference portrait.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MatchDecision {
    /// Cosine similarity, always reported.
    pub score: f32,
    pub threshold: f32,
    pub matched: bool,
}

impl MatchConfig {
    pub fn compare(&self, live: &Embedding, reference: &Embedding) -> MatchDecision {
        let score = live.cosine(reference);
        MatchDecision {
            score,
            threshold: self.threshold,
            matched: score >= self.threshold,
        }
    }
}

/// Least-squares similarity transform (rotation, uniform scale,
/// translation) taking `from` onto `to`: Umeyama's estimate, which in 2-D
/// has the closed form below. `None` when the points are degenerate.
pub(crate) fn similarity_transform(from: &[Point], to: &[Point]) -> Option<Affine> {
    let n = from.len().min(to.len()) as f32;
    if n < 2.0 {
        return None;
    }
    let mean = |ps: &[Point]| {
        let (sx, sy) = ps
            .iter()
            .fold((0.0, 0.0), |(sx, sy), p| (sx + p.x, sy + p.y));
        Point::new(sx / n, sy / n)
    };
    let (mf, mt) = (mean(from), mean(to));
    let (mut dot, mut cross, mut norm) = (0.0f32, 0.0f32, 0.0f32);
    for (p, q) in from.iter().zip(to) {
        let (x, y) = (p.x - mf.x, p.y - mf.y);
        let (u, v) = (q.x - mt.x, q.y - mt.y);
        dot += x * u + y * v;
        cross += x * v - y * u;
        norm += x * x + y * y;
    }
    if norm < 1e-6 {
        return None;
    }
    // [a -b; b a] is scale times rotation.
    let (a, b) = (dot / norm, cross / norm);
    Some(Affine {
        m: [
            a,
            -b,
            mt.x - (a * mf.x - b * mf.y),
            b,
            a,
            mt.y - (b * mf.x + a * mf.y),
        ],
    })
}

/// The face embedding model.
#[derive(Debug)]
pub(crate) struct FaceEmbedder {
    session: Session,
}

impl FaceEmbedder {
    pub fn load(bytes: &[u8]) -> Result<Self, FaceError> {
        Ok(Self {
            session: Session::load("face_embedding", bytes, (ALIGNED_SIDE, ALIGNED_SIDE), false)?,
        })
    }

    /// Aligns `face` and embeds it.
    pub fn embed(&self, frame: &Frame, face: &Face) -> Result<Embedding, FaceError> {
        let unusable = |detail: &str| FaceError::UnexpectedOutput {
            model: self.session.name(),
            detail: detail.to_owned(),
        };
        // The warp reads the frame at the inverse map of each aligned pixel.
        let to_source = similarity_transform(&face.landmarks, &ARCFACE_TEMPLATE)
            .and_then(|m| m.inverse())
            .ok_or_else(|| unusable("degenerate landmarks"))?;
        let input = Planar::resampled(
            frame,
            &to_source,
            (ALIGNED_SIDE, ALIGNED_SIDE),
            EMBEDDING_PIXELS,
            Border::Black,
        );
        let outputs = self.session.run(input)?;
        let values = outputs
            .into_iter()
            .next()
            .map(|o| o.values)
            .ok_or_else(|| unusable("no output"))?;
        Embedding::from_raw(values).ok_or_else(|| unusable("zero or non-finite embedding"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_recovers_a_known_transform() {
        let (sin, cos) = 0.3f32.sin_cos();
        let truth = Affine {
            m: [1.7 * cos, -1.7 * sin, 12.0, 1.7 * sin, 1.7 * cos, -30.0],
        };
        let moved = ARCFACE_TEMPLATE.map(|p| truth.apply(p));
        let found = similarity_transform(&ARCFACE_TEMPLATE, &moved).unwrap();
        for (a, b) in truth.m.iter().zip(found.m) {
            assert!((a - b).abs() < 1e-3, "{truth:?} vs {found:?}");
        }
        assert!(similarity_transform(&[Point::new(1.0, 1.0); 5], &moved).is_none());
    }

    #[test]
    fn embeddings_are_unit_length_and_compare_by_cosine() {
        let a = Embedding::from_raw(vec![3.0, 4.0]).unwrap();
        assert!((a.cosine(&a) - 1.0).abs() < 1e-6);
        let b = Embedding::from_raw(vec![-4.0, 3.0]).unwrap();
        assert!(a.cosine(&b).abs() < 1e-6);
        assert!(Embedding::from_raw(vec![0.0, 0.0]).is_none());
        let decision = MatchConfig { threshold: 0.5 }.compare(&a, &a);
        assert!(decision.matched);
        assert!(!MatchConfig { threshold: 0.5 }.compare(&a, &b).matched);
        assert_eq!(format!("{a:?}"), "Embedding(2 dims)");
    }
}
