//! `station face check` on the test photos: live person, replayed screen,
//! same and different people, and images that cannot be used.

// In tests a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;

use support::{station_fails, station_ok};

fn face(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/faces")
        .join(name)
        .to_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_photo_is_matched_against_a_jpeg_2000_chip_portrait() {
    let reference = face("obama-portrait.jp2");
    let same = station_ok(&[
        "face",
        "check",
        "--image",
        &face("obama2.png"),
        "--reference",
        &reference,
    ]);
    assert_eq!(same["analysis"]["faces"].as_array().unwrap().len(), 1);
    assert_eq!(same["matching"]["matched"], true, "{same:#}");
    assert!(same["matching"]["score"].as_f64().unwrap() > 0.45);
    assert!(same["reference_face"].is_object());
    // The embedding itself never leaves the station core.
    assert!(same["analysis"].get("embedding").is_none());

    let other = station_ok(&[
        "face",
        "check",
        "--image",
        &face("biden.png"),
        "--reference",
        &reference,
    ]);
    assert_eq!(other["matching"]["matched"], false, "{other:#}");
}

#[test]
fn liveness_scores_tell_a_person_from_a_screen() {
    let live = station_ok(&["face", "check", "--image", &face("T1.png")]);
    let replay = station_ok(&["face", "check", "--image", &face("F2.png")]);
    let real = |r: &serde_json::Value| r["analysis"]["liveness"]["real"].as_f64().unwrap();
    assert!(real(&live) > 0.9, "{live:#}");
    assert!(real(&replay) < 0.2, "{replay:#}");
    assert!(live["matching"].is_null());
}

#[test]
fn unusable_images_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.png");
    std::fs::write(&junk, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let err = station_fails(
        &["face", "check", "--image", junk.to_str().unwrap()],
        "FACE_IMAGES_UNREADABLE",
    );
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("junk.png")
    );
    station_fails(
        &["face", "check", "--image", "/nonexistent.png"],
        "FACE_IMAGES_UNREADABLE",
    );
    // A reference without a face cannot be matched against.
    let blank = dir.path().join("blank.png");
    image::RgbImage::from_pixel(200, 260, image::Rgb([128, 128, 128]))
        .save(&blank)
        .unwrap();
    station_fails(
        &[
            "face",
            "check",
            "--image",
            &face("obama2.png"),
            "--reference",
            blank.to_str().unwrap(),
        ],
        "FACE_NOT_CAPTURED",
    );
}

/// Square crops of `name` around its face, as a counter camera frames a
/// citizen standing at different distances.
fn crops(name: &str, sides: &[u32]) -> Vec<image::RgbImage> {
    let path = face(name);
    let found = station_ok(&["face", "check", "--image", &path]);
    let bbox = &found["analysis"]["face"]["bbox"];
    let at = |k: &str| bbox[k].as_f64().unwrap() as f32;
    let (cx, cy) = (at("x") + at("width") / 2.0, at("y") + at("height") / 2.0);
    let image = image::open(&path).unwrap().into_rgb8();
    let (w, h) = image.dimensions();
    sides
        .iter()
        .map(|&side| {
            let side = side.min(w).min(h);
            let x = (cx as u32).saturating_sub(side / 2).min(w - side);
            let y = (cy as u32).saturating_sub(side / 2).min(h - side);
            image::imageops::crop_imm(&image, x, y, side, side).to_image()
        })
        .collect()
}

/// The frames as one MJPEG file, the format a USB camera delivers.
fn mjpeg(dir: &std::path::Path, frames: &[image::RgbImage]) -> String {
    let mut out = Vec::new();
    for frame in frames {
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92)
            .encode_image(frame)
            .unwrap();
    }
    let path = dir.join("clip.mjpeg");
    std::fs::write(&path, out).unwrap();
    path.to_str().unwrap().to_owned()
}

const FRONTAL: [u32; 4] = [700, 660, 620, 580];

#[test]
fn a_live_sequence_is_live_and_its_best_frame_matches_the_chip() {
    let dir = tempfile::tempdir().unwrap();
    let clip = mjpeg(dir.path(), &crops("obama.png", &FRONTAL));
    let report = station_ok(&[
        "face",
        "check",
        "--sequence",
        &clip,
        "--reference",
        &face("obama-portrait.jp2"),
    ]);
    assert_eq!(report["frames"], 4, "{report:#}");
    assert_eq!(report["liveness"]["decision"], "live", "{report:#}");
    assert_eq!(report["liveness"]["frames"], 4);
    assert_eq!(report["match"]["matched"], true, "{report:#}");
    assert_eq!(report["best"]["quality"]["passed"], true);
    assert!(report["best_frame_bytes"].as_u64().unwrap() > 10_000);
    for stage in [
        "detection",
        "quality",
        "liveness",
        "embedding",
        "total",
        "inference",
    ] {
        assert!(
            report["timings_ms"][stage].as_f64().unwrap() > 0.0,
            "{stage}"
        );
    }
    let timings = &report["timings_ms"];
    assert!(timings["inference"].as_f64() <= timings["total"].as_f64());
    assert!(report["challenge"].is_null());

    let impostor = station_ok(&[
        "face",
        "check",
        "--sequence",
        &clip,
        "--reference",
        &face("biden.png"),
    ]);
    assert_eq!(impostor["match"]["matched"], false, "{impostor:#}");
}

#[test]
fn a_still_picture_fails_the_head_turn_a_turning_head_passes() {
    let dir = tempfile::tempdir().unwrap();
    let still = mjpeg(dir.path(), &crops("obama.png", &FRONTAL));
    let report = station_ok(&[
        "face",
        "check",
        "--sequence",
        &still,
        "--challenge",
        "right",
    ]);
    // The texture models say live, but nothing turned: not accepted.
    assert_eq!(report["texture_liveness"]["decision"], "live", "{report:#}");
    assert_eq!(report["liveness"]["decision"], "undetermined");
    assert_eq!(report["challenge"]["state"], "turn");

    // Facing the camera, turned to the citizen's right (the obama2 photo
    // reads about -17° cropped), and back.
    let frontal = crops("obama.png", &FRONTAL);
    let turned = crops("obama2.png", &[620]);
    let frames = [&frontal[..2], &turned[..], &turned[..], &frontal[2..]].concat();
    let sub = tempfile::tempdir().unwrap();
    let turn = mjpeg(sub.path(), &frames);
    let report = station_ok(&["face", "check", "--sequence", &turn, "--challenge", "right"]);
    assert_eq!(report["challenge"]["state"], "passed", "{report:#}");
    assert!(report["challenge"]["peak_yaw_deg"].as_f64().unwrap() > 15.0);
    assert_eq!(report["liveness"]["decision"], "live", "{report:#}");
    assert_eq!(
        report["hints"]["head_turned"], 2,
        "the turned frames were not stored"
    );

    let wrong = station_ok(&["face", "check", "--sequence", &turn, "--challenge", "left"]);
    assert_eq!(
        wrong["challenge"]["failure"], "wrong_direction",
        "{wrong:#}"
    );
    assert_eq!(wrong["liveness"]["decision"], "undetermined");
}

#[test]
fn print_and_screen_sequences_are_spoofs() {
    for attack in ["F1.png", "F2.png"] {
        let dir = tempfile::tempdir().unwrap();
        let clip = mjpeg(dir.path(), &crops(attack, &[470, 440, 410]));
        let report = station_ok(&["face", "check", "--sequence", &clip]);
        assert_eq!(
            report["liveness"]["decision"], "spoof",
            "{attack}: {report:#}"
        );
        assert!(report["best"].is_null(), "no spoof frame is kept");
    }
}

#[test]
fn a_file_camera_runs_through_the_live_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    for (i, frame) in crops("obama.png", &FRONTAL).iter().enumerate() {
        frame.save(dir.path().join(format!("{i}.png"))).unwrap();
    }
    let camera = format!("file:{}", dir.path().display());
    let report = station_ok(&[
        "face",
        "check",
        "--camera",
        &camera,
        "--loop",
        "--fps",
        "10",
        "--seconds",
        "120",
        "--reference",
        &face("obama3.png"),
    ]);
    assert_eq!(report["liveness"]["decision"], "live", "{report:#}");
    assert_eq!(report["match"]["matched"], true);
    let pipeline = &report["pipeline"];
    assert!(pipeline["captured"].as_u64().unwrap() >= 3, "{pipeline}");
    assert_eq!(pipeline["opened"], 1);
    assert_eq!(pipeline["failures"], 0);

    if !std::path::Path::new("/dev/video0").exists() {
        let none = station_fails(&["face", "check", "--camera", "device:0"], "NO_CAMERA");
        assert!(
            none["error"]["remedy"].as_str().unwrap().contains("camera"),
            "{none:#}"
        );
    }
    station_fails(
        &[
            "face",
            "check",
            "--camera",
            &format!("file:{}", dir.path().join("absent.mjpeg").display()),
        ],
        "FACE_IMAGES_UNREADABLE",
    );
    station_fails(&["face", "check", "--camera", "webcam"], "INVALID_ARGUMENT");
}

#[test]
fn face_eval_reports_apcer_bpcer_and_fnmr_on_labelled_folders() {
    let dir = tempfile::tempdir().unwrap();
    let put = |sub: &str, names: &[&str]| {
        let to = dir.path().join(sub);
        std::fs::create_dir_all(&to).unwrap();
        for name in names {
            std::fs::copy(face(name), to.join(name)).unwrap();
        }
    };
    put("liveness/live", &["T1.png", "obama.png", "obama3.png"]);
    put("liveness/print", &["F1.png"]);
    put("liveness/replay", &["F2.png"]);
    put(
        "identities/obama",
        &["obama.png", "obama2.png", "obama3.png"],
    );
    put("identities/biden", &["biden.png", "biden2.png"]);
    let dir_arg = dir.path().to_str().unwrap();
    let report = station_ok(&["face", "eval", "--dir", dir_arg, "--fmr", "0.1"]);

    let liveness = &report["liveness"];
    assert_eq!(liveness["bona_fide"]["count"], 3, "{report:#}");
    assert_eq!(liveness["bpcer"], 0.0);
    assert_eq!(liveness["attacks"]["print"]["count"], 1);
    assert_eq!(liveness["attacks"]["print"]["apcer"], 0.0);
    assert_eq!(liveness["attacks"]["replay"]["apcer"], 0.0);
    let matching = &report["matching"];
    // Three pairs of one person and one of the other; six across.
    assert_eq!(matching["genuine"]["count"], 4, "{report:#}");
    assert_eq!(matching["impostor"]["count"], 6);
    let median = |k: &str| matching[k]["median"].as_f64().unwrap();
    assert!(median("genuine") > median("impostor") + 0.2, "{matching:#}");
    assert_eq!(matching["at_fmr"]["fmr_target"], 0.1);
    assert!(matching["at_fmr"]["fmr"].as_f64().unwrap() <= 0.1);
    assert_eq!(matching["at_threshold"]["fmr"], 0.0, "{matching:#}");

    let empty = tempfile::tempdir().unwrap();
    station_fails(
        &["face", "eval", "--dir", empty.path().to_str().unwrap()],
        "FACE_IMAGES_UNREADABLE",
    );
    station_fails(
        &["face", "eval", "--dir", dir_arg, "--fmr", "1.5"],
        "INVALID_ARGUMENT",
    );
}
