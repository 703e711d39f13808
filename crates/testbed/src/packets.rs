//! Sealable packet contents for tests: the shipped demo document's chip
//! files, a test face as the live frame, a synthetic voice sample. What a
//! station would seal after enrolling the demo holder, without the reader,
//! camera and microphone.

// Test support: a missing test file is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Cursor;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use enrollment::packet::{
    CheckOutcome, ChipFiles, ChipVerification, FaceCapture, FaceMatch, HeadTurn, Liveness,
    ModelVersion, PacketPayload, QualitySummary, Signoff, StationId, VoiceAnalysis, VoiceCapture,
    VoiceSample,
};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A test face as a camera-sized JPEG, as a station sends its best frame.
pub fn face_jpeg(repo: &Path, name: &str) -> Vec<u8> {
    let image = image::open(repo.join("testdata/faces").join(name)).unwrap();
    let image = if image.width() > 800 {
        image.resize(800, 800, image::imageops::FilterType::Triangle)
    } else {
        image
    };
    let mut out = Cursor::new(Vec::new());
    image
        .into_rgb8()
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .unwrap();
    out.into_inner()
}

fn outcome(verdict: &str) -> CheckOutcome {
    CheckOutcome {
        verdict: verdict.into(),
        reason: None,
    }
}

/// What a station would seal after enrolling the demo document's holder,
/// with `live_jpeg` as the best live frame.
pub fn demo_payload(repo: &Path, station_id: StationId, live_jpeg: Vec<u8>) -> PacketPayload {
    let doc = repo.join("testdata/documents/demo");
    let read = |name: &str| std::fs::read(doc.join(name)).unwrap();
    let now = now_ms();
    PacketPayload {
        station_id,
        software_version: "0.1.0".into(),
        models: vec![ModelVersion {
            role: "face_embedding".into(),
            version: "test".into(),
            sha256: "00".repeat(32),
        }],
        chip: ChipFiles {
            dg1: read("DG1"),
            dg2: read("DG2"),
            dg11: Some(read("DG11")),
            dg14: Some(read("DG14")),
            dg15: Some(read("DG15")),
            sod: read("SOD"),
        },
        chip_verification: ChipVerification {
            passive: outcome("valid"),
            active: outcome("valid"),
            chip: outcome("valid"),
        },
        face: FaceCapture {
            best_frame_jpeg: live_jpeg,
            liveness: Liveness {
                verdict: "live".into(),
                score: 0.97,
                head_turn: Some(HeadTurn {
                    direction: "left".into(),
                    state: "passed".into(),
                    peak_yaw_deg: 23.5,
                }),
            },
            quality: QualitySummary {
                passed: true,
                issues: vec![],
                face_count: 1,
            },
            face_match: FaceMatch {
                score: 0.6,
                threshold: 0.35,
                decision: "match".into(),
            },
        },
        voice: VoiceCapture {
            sample: VoiceSample {
                sample_rate_hz: 16_000,
                samples: (0..16_000).map(|i| ((i % 64) * 100) as i16).collect(),
            },
            challenge_digits: "482913".into(),
            analysis: VoiceAnalysis {
                speech_seconds: 0.9,
                level_dbfs: -20.0,
                clipping_ratio: 0.0,
                snr_db: 30.0,
                issues: vec![],
            },
            speaker_embedding: vec![0.0625; 256],
        },
        clerk: Signoff {
            user_id: "clerk-1".into(),
            at_unix_ms: now - 60_000,
        },
        supervisor: Signoff {
            user_id: "supervisor-1".into(),
            at_unix_ms: now - 30_000,
        },
    }
}
