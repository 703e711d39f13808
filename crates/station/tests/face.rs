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
