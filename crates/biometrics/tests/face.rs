//! Face analysis end to end on the project's test photographs, with the
//! bundled models.

// The fixtures' helpers are test code too: a missing file should fail loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::OnceLock;

use biometrics::face::{
    AnalyzerConfig, DetectorConfig, Face, FaceAnalyzer, FaceError, FaceSession, Frame,
    LivenessAggregator, LivenessConfig, LivenessDecision, LivenessStage, QualityIssue, Stages,
};
use biometrics::models::{ModelCatalog, bundled_models_dir};
use image::{RgbImage, imageops};

fn analyzer() -> &'static FaceAnalyzer {
    static ANALYZER: OnceLock<FaceAnalyzer> = OnceLock::new();
    ANALYZER.get_or_init(|| FaceAnalyzer::load_bundled().expect("bundled face models load"))
}

fn faces_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/faces")
}

fn image(name: &str) -> RgbImage {
    let bytes = std::fs::read(faces_dir().join(format!("{name}.png"))).unwrap();
    image::load_from_memory(&bytes).unwrap().into_rgb8()
}

fn frame(name: &str) -> Frame {
    Frame::decode(&std::fs::read(faces_dir().join(format!("{name}.png"))).unwrap()).unwrap()
}

fn to_frame(image: RgbImage) -> Frame {
    Frame::try_from(image).unwrap()
}

const ALL: [&str; 9] = [
    "T1",
    "F1",
    "F2",
    "obama",
    "obama2",
    "obama3",
    "biden",
    "biden2",
    "astronaut",
];

/// Eyes above the nose above the mouth, the subject's right eye on the
/// image's left, and every landmark inside the (slightly grown) box.
fn assert_plausible_upright(name: &str, face: &Face) {
    let [re, le, nose, mr, ml] = face.landmarks;
    assert!(re.x < le.x, "{name}: eyes swapped {face:?}");
    assert!(mr.x < ml.x, "{name}: mouth corners swapped {face:?}");
    assert!(
        re.y.max(le.y) < nose.y,
        "{name}: eyes not above nose {face:?}"
    );
    assert!(
        nose.y < mr.y.min(ml.y),
        "{name}: nose not above mouth {face:?}"
    );
    assert!(
        re.x < nose.x && nose.x < le.x,
        "{name}: nose not between eyes"
    );
    let b = face.bbox;
    let margin = 0.1 * b.width;
    for p in face.landmarks {
        assert!(
            p.x > b.x - margin && p.x < b.right() + margin,
            "{name}: {p:?} outside {b:?}"
        );
        assert!(p.y > b.y - margin && p.y < b.bottom() + margin);
    }
    assert!(face.inter_eye_distance() > 0.25 * b.width);
    assert!(face.inter_eye_distance() < 0.7 * b.width);
}

#[test]
fn every_test_image_has_exactly_one_plausible_face() {
    for name in ALL {
        let analysis = analyzer().analyze(&frame(name)).unwrap();
        let face = analysis.face.unwrap();
        println!(
            "{name}: {} faces, score {:.3}, box {:?}, ied {:.0}, pose {:?}, quality {:?}, \
             checks {:?}, liveness {:?}, ms {:?}",
            analysis.faces.len(),
            face.score,
            face.bbox,
            face.inter_eye_distance(),
            analysis.quality.pose,
            analysis.quality.issues,
            analysis.quality.checks,
            analysis.liveness,
            analysis.timings,
        );
        assert_eq!(analysis.faces.len(), 1, "{name}");
        assert_eq!(analysis.quality.face_count, 1, "{name}");
        assert!(face.score >= 0.85, "{name}");
        assert_plausible_upright(name, &face);
        assert!(analysis.liveness.is_some() && analysis.embedding.is_some());
        assert_eq!(analysis.embedding.as_ref().unwrap().dims(), 512);
        let t = analysis.timings;
        assert!(t.detection_ms > 0.0 && t.liveness_ms > 0.0 && t.embedding_ms > 0.0);
        assert!(t.total_ms >= t.detection_ms + t.liveness_ms + t.embedding_ms);
    }
}

#[test]
fn live_person_passes_and_attacks_fail() {
    let real = |name| {
        let analysis = analyzer()
            .analyze_with(&frame(name), liveness_only())
            .unwrap();
        assert!(analysis.embedding.is_none());
        let scores = analysis.liveness.unwrap();
        assert!((scores.real + scores.print + scores.replay - 1.0).abs() < 1e-4);
        (scores, analysis.frame_liveness.unwrap().decision)
    };
    let (t1, decision) = real("T1");
    assert!(t1.real > 0.95, "T1 {t1:?}");
    assert_eq!(decision, LivenessDecision::Live);
    let (f1, decision) = real("F1");
    assert!(f1.real < 0.4, "F1 {f1:?}");
    assert_eq!(decision, LivenessDecision::Spoof);
    let (f2, decision) = real("F2");
    assert!(f2.real < 0.1, "F2 {f2:?}");
    assert!(f2.replay > f2.print, "a phone screen is a replay: {f2:?}");
    assert_eq!(decision, LivenessDecision::Spoof);
}

/// Slightly different frames of one scene, as a camera delivers them.
fn jittered(base: &RgbImage) -> Vec<Frame> {
    let (w, h) = base.dimensions();
    [(0, 0, 1.0), (8, 4, 0.95), (4, 10, 1.05), (12, 0, 1.0)]
        .into_iter()
        .map(|(dx, dy, gain)| {
            let mut img = imageops::crop_imm(base, dx, dy, w - 16, h - 16).to_image();
            for p in img.pixels_mut() {
                p.0 = p.0.map(|c| (f32::from(c) * gain).min(255.0) as u8);
            }
            to_frame(img)
        })
        .collect()
}

/// `name` cropped to a square of `side` pixels around its face, the way a
/// well-placed counter camera frames the citizen.
fn framed(name: &str, side: u32) -> RgbImage {
    let base = image(name);
    let centre = analyzer()
        .reference(&to_frame(base.clone()))
        .unwrap()
        .face
        .bbox
        .center();
    let side = side.min(base.width()).min(base.height());
    let x = (centre.x as u32)
        .saturating_sub(side / 2)
        .min(base.width() - side);
    let y = (centre.y as u32)
        .saturating_sub(side / 2)
        .min(base.height() - side);
    imageops::crop_imm(&base, x, y, side, side).to_image()
}

fn liveness_only() -> Stages {
    Stages {
        liveness: LivenessStage::Always,
        embedding: false,
    }
}

#[test]
fn liveness_is_decided_over_several_good_frames() {
    let analyzer = analyzer();
    let min_frames = LivenessConfig::default().min_frames;

    // Well-framed frontal frames are counted until the verdict is reached.
    let mut live = LivenessAggregator::new(LivenessConfig::default());
    for frame in jittered(&framed("obama", 640)) {
        let analysis = analyzer.analyze_with(&frame, liveness_only()).unwrap();
        assert!(analysis.quality.passed, "{:?}", analysis.quality);
        if live.frames() < min_frames {
            assert_eq!(live.verdict().decision, LivenessDecision::Undetermined);
        }
        assert!(live.offer(&analysis));
    }
    let verdict = live.verdict();
    println!("obama over frames: {verdict:?}");
    assert_eq!(verdict.decision, LivenessDecision::Live);
    assert_eq!(verdict.frames, 4);

    // A turned head is not a good frame: it does not count.
    let mut turned = LivenessAggregator::new(LivenessConfig::default());
    let analysis = analyzer
        .analyze_with(&frame("T1"), liveness_only())
        .unwrap();
    assert!(analysis.quality.issues.contains(&QualityIssue::HeadTurned));
    assert!(!turned.offer(&analysis));
    assert_eq!(turned.frames(), 0);

    // The live person's frames and the replay's, judged by their scores.
    let verdict = |name: &str| {
        let mut aggregator = LivenessAggregator::new(LivenessConfig::default());
        for frame in jittered(&image(name)) {
            let analysis = analyzer.analyze_with(&frame, liveness_only()).unwrap();
            aggregator.push(&analysis.liveness.unwrap());
        }
        aggregator.verdict()
    };
    let person = verdict("T1");
    println!("T1 over frames: {person:?}");
    assert_eq!(person.decision, LivenessDecision::Live);
    assert!(person.real > 0.95);
    let replay = verdict("F2");
    println!("F2 over frames: {replay:?}");
    assert_eq!(replay.decision, LivenessDecision::Spoof);
    assert!(replay.real < 0.1);
}

/// A capture pays for one embedding: frames are analysed without it, and
/// only the chosen frame is embedded, when the outcome is asked for.
#[test]
fn a_capture_embeds_only_the_chosen_frame() {
    let analyzer = std::sync::Arc::new(FaceAnalyzer::load_bundled().unwrap());
    let portrait =
        Frame::decode(&std::fs::read(faces_dir().join("obama-portrait.jp2")).unwrap()).unwrap();
    let reference = analyzer.reference(&portrait).unwrap();
    let mut session = FaceSession::new(std::sync::Arc::clone(&analyzer), Some(reference), None);
    for (i, frame) in jittered(&framed("obama", 640)).into_iter().enumerate() {
        let update = session
            .offer(frame, std::time::Duration::from_millis(i as u64 * 66))
            .unwrap();
        assert!(update.analysis.embedding.is_none());
        assert_eq!(update.analysis.timings.embedding_ms, 0.0);
        assert!(update.analysis.timings.liveness_ms > 0.0);
    }
    assert!(session.is_complete());
    let outcome = session.outcome().unwrap();
    assert_eq!(outcome.liveness.decision, LivenessDecision::Live);
    let best = outcome.best.as_ref().unwrap();
    assert_eq!(best.embedding.as_ref().map(|e| e.dims()), Some(512));
    assert!(best.timings.embedding_ms > 0.0);
    let matching = outcome.matching.unwrap();
    assert!(matching.matched, "{matching:?}");
    // Asking again gives the same answer.
    assert_eq!(session.outcome().unwrap().matching, Some(matching));
}

#[test]
fn same_people_match_and_different_people_do_not() {
    let analyzer = analyzer();
    let names = ["obama", "obama2", "obama3", "biden", "biden2"];
    let embeddings: Vec<_> = names
        .iter()
        .map(|n| analyzer.reference(&frame(n)).unwrap().embedding)
        .collect();
    for (i, a) in names.iter().enumerate() {
        for (j, b) in names.iter().enumerate().skip(i + 1) {
            let decision = analyzer.compare(&embeddings[i], &embeddings[j]);
            let same = a[..4] == b[..4];
            println!(
                "{a} vs {b}: {:.3} matched {}",
                decision.score, decision.matched
            );
            assert_eq!(decision.matched, same, "{a} vs {b}: {decision:?}");
            if same {
                assert!(decision.score > 0.45, "{a} vs {b}: {decision:?}");
            } else {
                assert!(decision.score < 0.2, "{a} vs {b}: {decision:?}");
            }
        }
    }
    // The same photo matches itself almost exactly.
    let again = analyzer.reference(&frame("obama")).unwrap().embedding;
    assert!(analyzer.compare(&again, &embeddings[0]).score > 0.999);
    // Through the still-image check, as the CLI calls it.
    let check = analyzer
        .check(&frame("obama"), Some(&frame("obama2")))
        .unwrap();
    let matching = check.matching.unwrap();
    assert!(matching.matched && matching.score > 0.45);
    assert!(check.reference_face.is_some());
}

/// A chip-style portrait: the face with an ICAO-like margin, scaled to
/// `width` pixels wide.
fn portrait(name: &str, width: u32) -> RgbImage {
    let base = image(name);
    let face = analyzer().reference(&to_frame(base.clone())).unwrap().face;
    let b = face.bbox;
    let (cw, ch) = (b.width * 1.8, b.width * 1.8 * 4.0 / 3.0);
    let x = (b.center().x - cw / 2.0).max(0.0) as u32;
    let y = (b.center().y - ch / 2.0).max(0.0) as u32;
    let cw = (cw as u32).min(base.width() - x);
    let ch = (ch as u32).min(base.height() - y);
    let crop = imageops::crop_imm(&base, x, y, cw, ch).to_image();
    let height = width * ch / cw;
    imageops::resize(&crop, width, height, imageops::FilterType::Triangle)
}

fn jpeg(image: &RgbImage, quality: u8) -> Frame {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode_image(image)
        .unwrap();
    Frame::decode(&bytes).unwrap()
}

#[test]
fn altered_copies_of_a_photo_still_detect_and_match() {
    let analyzer = analyzer();
    let live = analyzer.reference(&frame("obama2")).unwrap().embedding;
    let other = analyzer.reference(&frame("biden")).unwrap().embedding;
    let original = image("obama");
    let variants = [
        ("rotated 90", to_frame(imageops::rotate90(&original))),
        ("rotated 270", to_frame(imageops::rotate270(&original))),
        ("mirrored", to_frame(imageops::flip_horizontal(&original))),
        (
            "downscaled to a third",
            to_frame(imageops::resize(
                &original,
                original.width() / 3,
                original.height() / 3,
                imageops::FilterType::Triangle,
            )),
        ),
        ("jpeg q30", jpeg(&original, 30)),
        ("portrait 160 wide", to_frame(portrait("obama", 160))),
        (
            "portrait 100 wide as jpeg",
            jpeg(&portrait("obama", 100), 60),
        ),
    ];
    for (what, variant) in variants {
        let reference = analyzer.reference(&variant).unwrap();
        let same = analyzer.compare(&live, &reference.embedding);
        let different = analyzer.compare(&other, &reference.embedding);
        println!(
            "obama {what}: vs obama2 {:.3}, vs biden {:.3}",
            same.score, different.score
        );
        assert!(same.matched && same.score > 0.4, "{what}: {same:?}");
        assert!(
            !different.matched && different.score < 0.2,
            "{what}: {different:?}"
        );
    }
}

#[test]
fn a_sideways_live_frame_is_refused_for_its_pose() {
    let turned = to_frame(imageops::rotate90(&image("T1")));
    let analysis = analyzer().analyze(&turned).unwrap();
    // Live frames are not searched in every orientation: either the face is
    // missed or its roll gives it away.
    match analysis.face {
        None => assert_eq!(analysis.quality.issue, Some(QualityIssue::NoFace)),
        Some(_) => {
            let roll = analysis.quality.pose.unwrap().roll;
            assert!(roll.abs() > 45.0, "roll {roll}");
            assert!(
                analysis
                    .quality
                    .issues
                    .contains(&QualityIssue::HeadTiltedSideways)
            );
        }
    }
}

#[test]
fn two_faces_side_by_side_are_refused() {
    let (a, b) = (image("obama2"), image("biden"));
    let height = a.height().min(b.height());
    let scale = |img: &RgbImage| {
        let width = img.width() * height / img.height();
        imageops::resize(img, width, height, imageops::FilterType::Triangle)
    };
    let (a, b) = (scale(&a), scale(&b));
    let mut both = RgbImage::new(a.width() + b.width(), height);
    imageops::replace(&mut both, &a, 0, 0);
    imageops::replace(&mut both, &b, i64::from(a.width()), 0);
    let both = to_frame(both);

    let analysis = analyzer().analyze(&both).unwrap();
    assert_eq!(analysis.faces.len(), 2);
    assert_eq!(analysis.quality.face_count, 2);
    assert_eq!(analysis.quality.issue, Some(QualityIssue::MultipleFaces));
    assert!(!analysis.quality.passed);
    assert!(analysis.liveness.is_none() && analysis.embedding.is_none());
    assert!(matches!(
        analyzer().reference(&both),
        Err(FaceError::MultipleFaces(2))
    ));
}

#[test]
fn a_blank_image_has_no_face() {
    for value in [0u8, 128, 255] {
        let blank = Frame::new(640, 480, vec![value; 640 * 480 * 3]).unwrap();
        let analysis = analyzer().analyze(&blank).unwrap();
        assert!(analysis.faces.is_empty());
        assert_eq!(analysis.quality.issue, Some(QualityIssue::NoFace));
        assert_eq!(analysis.quality.issues, vec![QualityIssue::NoFace]);
        assert!(analysis.quality.checks.is_none());
        assert!(analysis.liveness.is_none() && analysis.embedding.is_none());
        assert!(matches!(
            analyzer().reference(&blank),
            Err(FaceError::NoFace)
        ));
        let check = analyzer().check(&frame("obama"), Some(&blank));
        assert!(matches!(check, Err(FaceError::NoFace)));
    }
}

#[test]
fn an_analysis_serialises_without_the_embedding() {
    let analysis = analyzer().analyze(&frame("T1")).unwrap();
    assert!(analysis.embedding.is_some());
    let json = serde_json::to_value(&analysis).unwrap();
    assert!(json.get("embedding").is_none());
    assert_eq!(json["quality"]["face_count"], 1);
    assert_eq!(json["frame_liveness"]["decision"], "live");
    let issue = &json["quality"]["issue"];
    assert_eq!(issue, "head_turned", "{json}");
    assert!(json["timings"]["total_ms"].as_f64().unwrap() > 0.0);
    // Nor does the debug form show it.
    let debug = format!("{analysis:?}");
    assert!(debug.contains("Embedding(512 dims)"));
}

#[test]
fn a_bad_detector_size_is_refused() {
    let catalog = ModelCatalog::open(bundled_models_dir()).unwrap();
    for (width, height) in [(320, 250), (300, 256), (0, 256)] {
        let config = AnalyzerConfig {
            detector: DetectorConfig {
                input_width: width,
                input_height: height,
                ..DetectorConfig::default()
            },
            ..AnalyzerConfig::default()
        };
        let err = FaceAnalyzer::load(&catalog, config).unwrap_err();
        assert!(matches!(err, FaceError::InvalidConfig(_)), "{err}");
    }
}

#[test]
fn garbage_is_a_decode_error() {
    let png = std::fs::read(faces_dir().join("T1.png")).unwrap();
    for bytes in [
        &b""[..],
        &b"definitely not an image"[..],
        &[0xff, 0xd8, 0xff, 0xe0, 0, 0][..],
        &png[..png.len() / 2],
    ] {
        let err = Frame::decode(bytes).unwrap_err();
        assert!(matches!(err, FaceError::Decode(_)), "{err:?}");
        assert!(err.to_string().starts_with("the image cannot be decoded"));
    }
}

#[test]
fn liveness_on_evidence_skips_a_face_too_blurred_to_judge() {
    let analyzer = analyzer();
    let stages = |liveness| Stages {
        liveness,
        embedding: false,
    };
    let sharp = analyzer
        .analyze_with(&frame("T1"), stages(LivenessStage::OnEvidence))
        .unwrap();
    assert!(sharp.quality.is_liveness_evidence());
    assert!(sharp.liveness.is_some());
    assert!(sharp.timings.liveness_ms > 0.0);

    let blurred = to_frame(imageops::blur(&image("T1"), 4.0));
    let skipped = analyzer
        .analyze_with(&blurred, stages(LivenessStage::OnEvidence))
        .unwrap();
    assert_eq!(skipped.quality.face_count, 1);
    assert!(!skipped.quality.is_liveness_evidence());
    assert_eq!(skipped.liveness, None);
    assert_eq!(skipped.frame_liveness, None);
    assert_eq!(skipped.timings.liveness_ms, 0.0);
    // Asked always, the same frame is scored.
    let always = analyzer
        .analyze_with(&blurred, stages(LivenessStage::Always))
        .unwrap();
    assert!(always.liveness.is_some());
}

#[test]
fn quality_flags_blur_and_darkness() {
    let analyzer = analyzer();
    let sharp = analyzer
        .analyze_with(
            &frame("T1"),
            Stages {
                liveness: LivenessStage::Skip,
                embedding: false,
            },
        )
        .unwrap();
    let sharp_checks = sharp.quality.checks.unwrap();
    println!("T1 checks {sharp_checks:?}");
    assert!(sharp_checks.sharpness.passed, "{sharp_checks:?}");
    assert!(sharp_checks.brightness.passed && sharp_checks.contrast.passed);

    let blurred = to_frame(imageops::blur(&image("T1"), 4.0));
    let analysis = analyzer
        .analyze_with(
            &blurred,
            Stages {
                liveness: LivenessStage::Skip,
                embedding: false,
            },
        )
        .unwrap();
    let checks = analysis.quality.checks.unwrap();
    println!("T1 blurred checks {checks:?}");
    assert!(checks.sharpness.value < sharp_checks.sharpness.value / 4.0);
    assert!(analysis.quality.issues.contains(&QualityIssue::Blurry));

    let mut dark = image("T1");
    for p in dark.pixels_mut() {
        p.0 = p.0.map(|c| c / 5);
    }
    let analysis = analyzer
        .analyze_with(
            &to_frame(dark),
            Stages {
                liveness: LivenessStage::Skip,
                embedding: false,
            },
        )
        .unwrap();
    if analysis.face.is_some() {
        assert!(analysis.quality.issues.contains(&QualityIssue::TooDark));
    } else {
        assert_eq!(analysis.quality.issue, Some(QualityIssue::NoFace));
    }
}

#[test]
fn a_jpeg_2000_chip_portrait_decodes_and_matches() {
    let bytes = std::fs::read(faces_dir().join("obama-portrait.jp2")).unwrap();
    let portrait = Frame::decode(&bytes).unwrap();
    assert_eq!((portrait.width(), portrait.height()), (240, 300));
    let analyzer = analyzer();
    let reference = analyzer.reference(&portrait).unwrap();
    let live = analyzer.reference(&frame("obama2")).unwrap();
    let other = analyzer.reference(&frame("biden")).unwrap();
    let same = analyzer.compare(&live.embedding, &reference.embedding);
    let different = analyzer.compare(&other.embedding, &reference.embedding);
    assert!(same.matched && same.score > 0.45, "{same:?}");
    assert!(!different.matched, "{different:?}");
    // The small JPEG 2000 copy embeds close to the PNG it was made from.
    let original = analyzer.reference(&frame("obama")).unwrap();
    let copy = analyzer.compare(&original.embedding, &reference.embedding);
    assert!(copy.score > 0.8, "{copy:?}");
}

#[test]
fn broken_and_oversized_jpeg_2000_are_decode_errors() {
    let bytes = std::fs::read(faces_dir().join("obama-portrait.jp2")).unwrap();
    // Cut inside the headers: an error. Cut inside the code blocks: JPEG
    // 2000 is progressive, so a coarser image or an error, never a panic.
    for cut in [12, 40] {
        assert!(
            matches!(Frame::decode(&bytes[..cut]), Err(FaceError::Decode(_))),
            "cut at {cut}"
        );
    }
    for cut in (0..bytes.len()).step_by(211) {
        let _ = Frame::decode(&bytes[..cut]);
    }
    // A bare codestream whose SIZ claims 65535 x 65535 pixels: refused, not
    // allocated.
    let mut huge = vec![0xFF, 0x4F, 0xFF, 0x51, 0x00, 0x2F, 0x00, 0x00];
    huge.extend_from_slice(&[0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00, 0xFF, 0xFF]);
    huge.extend_from_slice(&[0u8; 8]);
    huge.extend_from_slice(&[0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00, 0xFF, 0xFF]);
    huge.extend_from_slice(&[0u8; 8]);
    huge.extend_from_slice(&[
        0x00, 0x03, 0x07, 0x01, 0x01, 0x07, 0x01, 0x01, 0x07, 0x01, 0x01,
    ]);
    assert!(matches!(Frame::decode(&huge), Err(FaceError::Decode(_))));
}
