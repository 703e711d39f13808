//! The TypeScript declarations of everything the window exchanges with the
//! station core, generated from the Rust types (ts-rs), so the two are
//! never written twice. `scripts/build-ui.sh` runs this test with
//! `UI_BINDINGS_DIR=ui/src/bindings` before `tsc`; the files are build
//! output and never committed. Every run also checks that the declarations
//! name exactly the fields serde writes.

// In tests a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use station::desk::{
    AccessInput, DeskState, FieldState, MrzCheck, MrzFields, NewStaffRole, ReviewDecision,
    ReviewOutcome, StaffMember,
};
use station::enroll::{
    ChallengeText, DocumentReport, FaceProgress, FaceReport, SealedReport, VoiceReport,
};
use station::queue::QueueView;
use station::{Code, DoctorReport, Failure};
use ts_rs::TS;

/// Writes `T` and every type it refers to into `dir`.
fn export<T: TS + 'static>(dir: &Path) {
    T::export_all_to(dir).unwrap_or_else(|e| panic!("{}: {e}", T::name()));
}

fn export_everything(dir: &Path) {
    export::<DoctorReport>(dir);
    export::<Failure>(dir);
    export::<DeskState>(dir);
    export::<StaffMember>(dir);
    export::<NewStaffRole>(dir);
    export::<AccessInput>(dir);
    export::<MrzFields>(dir);
    export::<MrzCheck>(dir);
    export::<station::card::read::ChipProgress>(dir);
    export::<DocumentReport>(dir);
    export::<FaceProgress>(dir);
    export::<FaceReport>(dir);
    export::<ChallengeText>(dir);
    export::<VoiceReport>(dir);
    export::<SealedReport>(dir);
    export::<ReviewDecision>(dir);
    export::<ReviewOutcome>(dir);
    export::<QueueView>(dir);
    export::<station::queue::PacketRow>(dir);
    export::<station::audit_view::AuditQuery>(dir);
    export::<station::audit_view::AuditView>(dir);
    export::<station::settings::SettingsView>(dir);
    export::<station::settings::SettingsChange>(dir);
    export::<microphone::Level>(dir);
    export::<station::link::LinkStatus>(dir);
    export::<station::card::watch::ReaderBoard>(dir);
}

#[test]
fn bindings_are_written_where_the_ui_build_asks() {
    if let Some(dir) = std::env::var_os("UI_BINDINGS_DIR") {
        std::fs::create_dir_all(&dir).unwrap();
        export_everything(Path::new(&dir));
    }
    // Exported in any case, so a type that cannot be declared fails here.
    let tmp = tempfile::tempdir().unwrap();
    export_everything(tmp.path());
    for name in [
        "DoctorReport",
        "Failure",
        "DocumentReport",
        "AudioLevel",
        "Code",
    ] {
        assert!(tmp.path().join(format!("{name}.ts")).is_file(), "{name}");
    }
}

/// The object keys of `value`'s JSON, which its declaration must name.
fn keys(value: &impl serde::Serialize) -> Vec<String> {
    match serde_json::to_value(value).unwrap() {
        serde_json::Value::Object(map) => map.keys().cloned().collect(),
        other => panic!("not an object: {other}"),
    }
}

fn declares_exactly<T: TS + serde::Serialize>(value: &T, expected: &[&str]) {
    let decl = T::decl();
    let mut found = keys(value);
    found.sort();
    let mut expected: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
    expected.sort();
    assert_eq!(found, expected, "serde's keys of {}", T::name());
    for key in &found {
        assert!(decl.contains(&format!("{key}:")), "{key} missing in {decl}");
    }
}

#[test]
fn declarations_name_the_fields_serde_writes() {
    declares_exactly(
        &Failure::new(Code::WrongAccessKey, "BAC"),
        &["code", "message", "remedy", "zh", "detail"],
    );
    declares_exactly(
        &MrzCheck {
            document_number: FieldState::Valid,
            date_of_birth: FieldState::BadCheckDigit,
            date_of_expiry: FieldState::Empty,
            complete: false,
        },
        &[
            "document_number",
            "date_of_birth",
            "date_of_expiry",
            "complete",
        ],
    );
    // Enums are the strings serde writes.
    let code = Code::decl();
    assert!(code.contains("\"WRONG_ACCESS_KEY\""), "{code}");
    let state = FieldState::decl();
    assert!(state.contains("\"bad_check_digit\""), "{state}");
    // Tagged inputs carry their tag.
    let access = AccessInput::decl();
    assert!(access.contains("\"kind\": \"mrz\""), "{access}");
    assert!(access.contains("\"kind\": \"can\""), "{access}");
    let review = ReviewDecision::decl();
    assert!(review.contains("\"decision\": \"reject\""), "{review}");
    // The settings round-trip under the same names; audit seqs are numbers
    // and actions the strings the log stores.
    declares_exactly(
        &station::settings::StationSettings::default(),
        &[
            "face_match_threshold",
            "liveness_live_threshold",
            "liveness_spoof_threshold",
            "voice_min_speech_seconds",
            "voice_min_snr_db",
            "reader",
            "camera",
            "microphone",
        ],
    );
    let query = station::audit_view::AuditQuery::decl();
    assert!(query.contains("before: number | null"), "{query}");
    let action = store::AuditAction::decl();
    assert!(action.contains("\"step_cancelled\""), "{action}");
    assert!(action.contains("\"voice_played_back\""), "{action}");
    // 64-bit counters are plain numbers in JSON, and so in TypeScript.
    let counts = store::OutboxCounts::decl();
    assert!(counts.contains("queued: number"), "{counts}");
    assert!(!counts.contains("bigint"), "{counts}");
}
