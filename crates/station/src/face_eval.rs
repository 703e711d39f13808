//! `station face eval --dir D`: how the face models do on a site's own
//! labelled captures, in ISO/IEC 30107-3 and ISO/IEC 19795 terms, so that
//! thresholds can be calibrated on the counter's camera and light.
//!
//! The folder holds `liveness/live/` (bona fide presentations) and one
//! folder per attack type beside it (`liveness/print/`, `liveness/replay/`,
//! …), and `identities/<person>/` with two or more images of each person.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use biometrics::{Embedding, FaceAnalyzer};
use serde::Serialize;
use serde_json::{Value, json};

use crate::face::{decode, entries_of, images_in};
use crate::failure::{Code, Failure};

const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "jp2"];

/// The bona fide folder's name; every other folder is an attack type.
const BONA_FIDE: &str = "live";

/// Minimum, median and maximum of a set of scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    pub count: usize,
    pub min: f32,
    pub median: f32,
    pub max: f32,
}

impl Spread {
    fn of(scores: &[f32]) -> Option<Self> {
        let mut sorted = scores.to_vec();
        sorted.sort_by(f32::total_cmp);
        Some(Self {
            count: sorted.len(),
            min: *sorted.first()?,
            median: sorted[sorted.len() / 2],
            max: *sorted.last()?,
        })
    }
}

/// Share of `scores` for which `wrong` holds; 0 of 0 is reported as 0.
fn rate(scores: &[f32], wrong: impl Fn(f32) -> bool) -> f64 {
    if scores.is_empty() {
        return 0.0;
    }
    scores.iter().filter(|&&s| wrong(s)).count() as f64 / scores.len() as f64
}

/// The threshold that keeps the false match rate at or below `fmr`
/// (a match is a score above it), and the false non-match rate there.
pub fn fnmr_at_fmr(genuine: &[f32], impostor: &[f32], fmr: f64) -> Option<(f32, f64, f64)> {
    let mut desc = impostor.to_vec();
    desc.sort_by(|a, b| b.total_cmp(a));
    let allowed = (fmr * desc.len() as f64).floor() as usize;
    let threshold = *desc.get(allowed).or(desc.last())?;
    let achieved = rate(impostor, |s| s > threshold);
    Some((threshold, achieved, rate(genuine, |s| s <= threshold)))
}

fn subfolders(dir: &Path) -> Result<Vec<(String, PathBuf)>, Failure> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut out: Vec<(String, PathBuf)> = entries_of(dir)?
        .filter(|p| p.is_dir())
        .filter_map(|p| Some((p.file_name()?.to_str()?.to_owned(), p)))
        .collect();
    out.sort();
    Ok(out)
}

/// Runs the evaluation over `dir`; `fmr` is the false match rate to report
/// the false non-match rate at.
pub fn run(analyzer: &FaceAnalyzer, dir: &Path, fmr: f64) -> Result<Value, Failure> {
    if !(0.0..1.0).contains(&fmr) {
        return Err(Failure::new(
            Code::InvalidArgument,
            "--fmr must be in [0, 1)",
        ));
    }
    let mut unusable = Vec::new();
    let mut analyse = |path: &Path| -> Result<Option<(f32, Option<Embedding>)>, Failure> {
        let analysis = analyzer
            .analyze(&decode(path)?)
            .map_err(|e| Failure::new(Code::Internal, e))?;
        match analysis.liveness {
            Some(scores) => Ok(Some((scores.real, analysis.embedding))),
            None => {
                unusable.push(json!({ "image": path, "faces": analysis.quality.face_count }));
                Ok(None)
            }
        }
    };

    let liveness_config = analyzer.config().liveness;
    let is_live = |real: f32| real >= liveness_config.live_threshold;
    let mut bona_fide = Vec::new();
    let mut attacks: BTreeMap<String, Vec<f32>> = BTreeMap::new();
    for (kind, folder) in subfolders(&dir.join("liveness"))? {
        for path in images_in(&folder, &IMAGE_EXTENSIONS)? {
            let Some((real, _)) = analyse(&path)? else {
                continue;
            };
            if kind == BONA_FIDE {
                bona_fide.push(real);
            } else {
                attacks.entry(kind.clone()).or_default().push(real);
            }
        }
    }

    let mut people: Vec<Vec<Embedding>> = Vec::new();
    for (_, folder) in subfolders(&dir.join("identities"))? {
        let mut embeddings = Vec::new();
        for path in images_in(&folder, &IMAGE_EXTENSIONS)? {
            if let Some((_, Some(embedding))) = analyse(&path)? {
                embeddings.push(embedding);
            }
        }
        people.push(embeddings);
    }
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for (i, person) in people.iter().enumerate() {
        for (j, a) in person.iter().enumerate() {
            genuine.extend(person[j + 1..].iter().map(|b| a.cosine(b)));
            for other in &people[i + 1..] {
                impostor.extend(other.iter().map(|b| a.cosine(b)));
            }
        }
    }
    if bona_fide.is_empty() && attacks.is_empty() && genuine.is_empty() {
        return Err(Failure::new(
            Code::FaceImagesUnreadable,
            format!(
                "{}: no usable images under liveness/<type>/ or identities/<person>/",
                dir.display()
            ),
        ));
    }

    let threshold = analyzer.config().matching.threshold;
    let attack_report: BTreeMap<&str, Value> = attacks
        .iter()
        .map(|(kind, scores)| {
            let apcer = rate(scores, is_live);
            (
                kind.as_str(),
                json!({ "count": scores.len(), "apcer": apcer, "scores": Spread::of(scores) }),
            )
        })
        .collect();
    let at_fmr = fnmr_at_fmr(&genuine, &impostor, fmr).map(|(t, achieved, fnmr)| {
        json!({ "fmr_target": fmr, "threshold": t, "fmr": achieved, "fnmr": fnmr })
    });
    Ok(json!({
        "dir": dir,
        "liveness": {
            "live_threshold": liveness_config.live_threshold,
            "bona_fide": { "count": bona_fide.len(), "scores": Spread::of(&bona_fide) },
            "bpcer": rate(&bona_fide, |s| !is_live(s)),
            "attacks": attack_report,
            "apcer_max": attacks.values().map(|s| rate(s, is_live)).fold(0.0, f64::max),
        },
        "matching": {
            "threshold": threshold,
            "genuine": Spread::of(&genuine),
            "impostor": Spread::of(&impostor),
            "at_threshold": {
                "fmr": rate(&impostor, |s| s >= threshold),
                "fnmr": rate(&genuine, |s| s < threshold),
            },
            "at_fmr": at_fmr,
        },
        "unusable": unusable,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmr_is_read_at_the_threshold_the_fmr_allows() {
        let impostor = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95];
        let genuine = [0.5, 0.85, 0.9, 0.97, 0.99];
        // 10 % of 10 impostors may pass: one, the 0.95; the threshold is 0.9.
        let (t, fmr, fnmr) = fnmr_at_fmr(&genuine, &impostor, 0.1).unwrap();
        assert_eq!(t, 0.9);
        assert!((fmr - 0.1).abs() < 1e-9);
        assert!(
            (fnmr - 0.6).abs() < 1e-9,
            "0.5, 0.85 and 0.9 are not above 0.9"
        );
        let (t, fmr, _) = fnmr_at_fmr(&genuine, &impostor, 0.0).unwrap();
        assert_eq!((t, fmr), (0.95, 0.0));
        assert!(fnmr_at_fmr(&genuine, &[], 0.1).is_none());
    }

    #[test]
    fn spreads_and_rates() {
        let s = Spread::of(&[0.3, 0.1, 0.2]).unwrap();
        assert_eq!((s.count, s.min, s.median, s.max), (3, 0.1, 0.2, 0.3));
        assert!(Spread::of(&[]).is_none());
        assert_eq!(rate(&[0.1, 0.9], |s| s > 0.5), 0.5);
        assert_eq!(rate(&[], |_| true), 0.0);
    }
}
