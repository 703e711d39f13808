//! The window's core (`station::desk::Desk`) without the window: a chip
//! read cancelled mid-way in the real vpcd reader, a recording cancelled on
//! the virtual PulseAudio microphone, the audit log's role rule and the
//! administrator's settings.

// In tests a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use enrollment::packet::PlatformSecretKey;
use rand::RngCore;
use station::audit_view::AuditQuery;
use station::cancel::Cancellation;
use station::card::read::ChipProgress;
use station::desk::{AccessInput, Desk, NewStaffRole};
use station::settings::{SettingsChange, StationSettings};
use station::voice::VoiceSource;
use station::{Code, StationPaths};
use store::{Actor, AuditAction, Store};
use testbed::Service;
use zeroize::Zeroizing;

const ADMIN: (&str, &str) = ("admin", "admin-password-1");
const CLERK: (&str, &str) = ("clerk.wang", "clerk-password-1");
const SUPERVISOR: (&str, &str) = ("supervisor.li", "supervisor-password-1");

/// The demo document goes into the first vpcd reader: one test at a time.
static READER: Mutex<()> = Mutex::new(());

fn lock_reader() -> std::sync::MutexGuard<'static, ()> {
    READER.lock().unwrap_or_else(|e| e.into_inner())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn password(p: &str) -> Zeroizing<String> {
    Zeroizing::new(p.to_owned())
}

/// A demo-mode desk in a fresh data directory, with its staff and a
/// platform key to seal to.
async fn desk(data: &std::path::Path) -> (Arc<Desk>, StationPaths) {
    let paths = StationPaths::resolve(Some(data.to_owned()), None).unwrap();
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    let platform = PlatformSecretKey::from_bytes(&secret).unwrap();
    station::identity::set_platform_key(
        &paths,
        &station::identity::to_hex(&platform.public_key().to_bytes()),
    )
    .unwrap();
    let desk = Desk::open(paths.clone(), true).await.unwrap();
    desk.create_administrator(ADMIN.0, password(ADMIN.1))
        .await
        .unwrap();
    desk.sign_in(ADMIN.0, password(ADMIN.1)).await.unwrap();
    for ((name, pw), role) in [
        (CLERK, NewStaffRole::Clerk),
        (SUPERVISOR, NewStaffRole::Supervisor),
    ] {
        desk.add_user(name, password(pw), role).await.unwrap();
    }
    (Arc::new(desk), paths)
}

fn can() -> AccessInput {
    AccessInput::Can {
        can: station::enroll::DEMO_CAN.to_owned(),
    }
}

#[test]
fn a_chip_read_cancelled_mid_way_keeps_nothing_is_audited_and_starts_over() {
    if !testbed::require(Service::Pcscd) {
        return;
    }
    let _reader = lock_reader();
    let tmp = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let (desk, paths) = desk(tmp.path()).await;
        desk.sign_in(CLERK.0, password(CLERK.1)).await.unwrap();
        desk.begin().await.unwrap();
        assert!(!desk.cancel_step(), "nothing runs yet");

        // Cancel as soon as the portrait (DG2) starts arriving.
        let seen: Arc<Mutex<Vec<ChipProgress>>> = Arc::default();
        let cancelled = Arc::new(AtomicBool::new(false));
        let (d, s, c) = (desk.clone(), seen.clone(), cancelled.clone());
        let read = desk
            .read_document(can(), move |p: ChipProgress| {
                if c.load(Ordering::SeqCst) {
                    s.lock().unwrap().push(p.clone());
                } else if p.file == "DG2" && p.read > 0 {
                    assert!(d.cancel_step(), "the read is cancellable");
                    c.store(true, Ordering::SeqCst);
                }
            })
            .await;
        let failure = read.unwrap_err();
        assert_eq!(failure.code, Code::Cancelled, "{failure}");
        assert!(!failure.remedy.is_empty() && !failure.zh.remedy.is_empty());
        assert!(cancelled.load(Ordering::SeqCst));
        // Nothing after the cancel: DG2 never completed, no later file began.
        let after = seen.lock().unwrap().clone();
        assert!(
            after.iter().all(|p| p.file == "DG2" && p.read < p.total),
            "{after:?}"
        );
        assert!(!desk.cancel_step(), "the step is over");

        // The step starts over: the reader was released and the document
        // reads in full.
        let report = desk.read_document(can(), |_| {}).await.unwrap();
        assert!(!report.portrait.is_empty());

        // The cancel is in the audit log, for this clerk's enrollment.
        let store = Store::open(&paths.database()).await.unwrap();
        let cancels = store
            .audit_page(None, None, Some(AuditAction::StepCancelled), 10)
            .await
            .unwrap();
        assert_eq!(cancels.len(), 1, "{cancels:?}");
        assert_eq!(cancels[0].detail, "read_document");
        let read = store
            .audit_page(None, None, Some(AuditAction::DocumentRead), 10)
            .await
            .unwrap();
        assert_eq!(read.len(), 1, "only the finished read is recorded");
        assert_eq!(read[0].subject, cancels[0].subject);
        store.close().await;
    });
}

#[test]
fn only_supervisors_and_administrators_read_the_audit_log() {
    let tmp = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let (desk, paths) = desk(tmp.path()).await;
        desk.sign_in(CLERK.0, password(CLERK.1)).await.unwrap();
        let refused = desk.audit(AuditQuery::default()).await.unwrap_err();
        assert_eq!(refused.code, Code::NotPermitted);

        desk.sign_in(SUPERVISOR.0, password(SUPERVISOR.1))
            .await
            .unwrap();
        let view = desk.audit(AuditQuery::default()).await.unwrap();
        assert!(view.chain.intact, "{:?}", view.chain);
        // Newest first: the supervisor's sign-in heads the log.
        let first = &view.lines[0];
        assert_eq!(first.action, AuditAction::Login);
        assert_eq!(first.actor, SUPERVISOR.0);
        let seqs: Vec<i64> = view.lines.iter().map(|l| l.seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");
        assert!(view.actors.iter().any(|a| a == CLERK.0));

        let by_admin = desk
            .audit(AuditQuery {
                actor: Some(ADMIN.0.into()),
                action: Some("user_created".into()),
                before: None,
            })
            .await
            .unwrap();
        // The first administrator was made by the station; they made the rest.
        let details: Vec<&str> = by_admin.lines.iter().map(|l| l.detail.as_str()).collect();
        assert_eq!(details, ["role supervisor", "role clerk"]);
        assert!(by_admin.lines.iter().all(|l| l.actor == ADMIN.0));
        assert_eq!(by_admin.next_before, None);

        // Pages of fifty, newest first, each starting below the last.
        let store = Store::open(&paths.database()).await.unwrap();
        for i in 0..60 {
            store
                .record_audit(
                    Actor::System,
                    AuditAction::Purged,
                    None,
                    &format!("entry {i}"),
                )
                .await
                .unwrap();
        }
        store.close().await;
        let purged = |before| AuditQuery {
            action: Some("purged".into()),
            actor: Some("system".into()),
            before,
        };
        let first = desk.audit(purged(None)).await.unwrap();
        assert_eq!(first.lines.len(), 50);
        assert_eq!(first.lines[0].detail, "entry 59");
        let second = desk.audit(purged(first.next_before)).await.unwrap();
        let details: Vec<&str> = second.lines.iter().map(|l| l.detail.as_str()).collect();
        assert_eq!(details.len(), 10);
        assert_eq!(details[0], "entry 9");
        assert_eq!(details[9], "entry 0");
        assert_eq!(second.next_before, None);
        // The chain's verdict stands while nothing is added; a new entry
        // has the chain walked again, and counted.
        let walked = first.chain.entries.unwrap();
        assert_eq!(second.chain.entries, Some(walked));
        let store = Store::open(&paths.database()).await.unwrap();
        store
            .record_audit(Actor::System, AuditAction::Purged, None, "entry 60")
            .await
            .unwrap();
        store.close().await;
        let third = desk.audit(purged(None)).await.unwrap();
        assert_eq!(third.chain.entries, Some(walked + 1));
        assert!(third.chain.intact);

        let bad = desk
            .audit(AuditQuery {
                action: Some("drop_table".into()),
                ..AuditQuery::default()
            })
            .await
            .unwrap_err();
        assert_eq!(bad.code, Code::InvalidArgument);
    });
}

#[test]
fn a_recording_cancelled_on_the_microphone_stops_at_once_and_keeps_nothing() {
    if !testbed::require(Service::PulseAudio) {
        return;
    }
    let cancel = Cancellation::new();
    let stopper = cancel.clone();
    let mut levels = 0u32;
    let challenge = biometrics::DigitChallenge::random(&mut rand::thread_rng());
    let source = VoiceSource::Microphone {
        device: None,
        seconds: 6.0,
    };
    let recorded = station::voice::record(
        &source,
        None,
        &challenge,
        &mut |_| {
            levels += 1;
            if levels == 10 {
                stopper.cancel();
            }
        },
        &cancel,
    );
    let failure = recorded.unwrap_err();
    assert_eq!(failure.code, Code::Cancelled);
    // Twenty levels a second: six seconds would be 120. The stream stopped
    // soon after the cancel (with room for a loaded machine's late chunks).
    assert!((10..60).contains(&levels), "{levels} levels");
}

#[test]
fn administrators_change_settings_each_change_audited_and_bad_values_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let (desk, paths) = desk(tmp.path()).await;
        let before = desk.settings().await.unwrap();
        assert_eq!(before.settings, StationSettings::default());
        assert_eq!(before.platform_url, None);
        assert!(before.trust_files.is_empty());

        let wanted = StationSettings {
            face_match_threshold: 0.42,
            liveness_live_threshold: 0.85,
            reader: Some("Virtual PCD 00 01".into()),
            microphone: Some("virtmic".into()),
            ..StationSettings::default()
        };
        let change = |settings: StationSettings| SettingsChange {
            settings,
            platform_url: None,
        };
        let saved = desk.save_settings(change(wanted.clone())).await.unwrap();
        assert_eq!(saved.settings, wanted);
        // Documents are read from the chosen reader now: the reader watch
        // judges "a document is on the reader" by that one.
        let board = desk.reader_board();
        assert_eq!(board.document_reader.as_deref(), Some("Virtual PCD 00 01"));

        // A bad value (crossed liveness thresholds) changes nothing, not
        // even the good values beside it.
        let bad = StationSettings {
            face_match_threshold: 0.1,
            liveness_spoof_threshold: 0.9,
            ..wanted.clone()
        };
        let refused = desk.save_settings(change(bad)).await.unwrap_err();
        assert_eq!(refused.code, Code::SettingInvalid);
        // No platform address before registration.
        let unregistered = desk
            .save_settings(SettingsChange {
                settings: wanted.clone(),
                platform_url: Some("https://hub.example".into()),
            })
            .await
            .unwrap_err();
        assert_eq!(unregistered.code, Code::NotRegistered);
        assert_eq!(desk.settings().await.unwrap().settings, wanted);

        // Trust store: garbage is refused and leaves the folder as it was;
        // the demo CSCA is taken.
        let garbage = tmp.path().join("csca.der");
        std::fs::write(&garbage, b"not a certificate").unwrap();
        let refused = desk
            .import_trust_file(garbage.to_str().unwrap())
            .await
            .unwrap_err();
        assert_eq!(refused.code, Code::TrustFileInvalid);
        let text = tmp.path().join("notes.txt");
        std::fs::write(&text, b"hello").unwrap();
        let refused = desk
            .import_trust_file(text.to_str().unwrap())
            .await
            .unwrap_err();
        assert_eq!(refused.code, Code::TrustFileInvalid);
        assert!(desk.settings().await.unwrap().trust_files.is_empty());
        let csca = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/documents/demo/trust/csca.der");
        let view = desk
            .import_trust_file(csca.to_str().unwrap())
            .await
            .unwrap();
        assert_eq!(view.trust_files.len(), 1, "{:?}", view.trust_files);
        assert!(view.trust_files[0].starts_with("csca-") && view.trust_files[0].ends_with(".der"));
        let loaded = emrtd::passive::TrustStore::load_dir(&paths.data_dir.join("trust")).unwrap();
        assert_eq!(loaded.len(), 1);

        // Every change is in the audit log by name, by the administrator.
        let audit = desk
            .audit(AuditQuery {
                action: Some("settings_changed".into()),
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        let mut subjects: Vec<&str> = audit
            .lines
            .iter()
            .filter_map(|l| l.subject.as_deref())
            .collect();
        subjects.sort_unstable();
        assert_eq!(
            subjects,
            [
                "settings.face_match_threshold",
                "settings.liveness_live_threshold",
                "settings.microphone",
                "settings.reader",
                "trust_store",
            ]
        );
        assert!(audit.lines.iter().all(|l| l.actor == ADMIN.0));

        // Not a clerk's, nor a supervisor's: the core refuses.
        for (name, pw) in [CLERK, SUPERVISOR] {
            desk.sign_in(name, password(pw)).await.unwrap();
            assert_eq!(desk.settings().await.unwrap_err().code, Code::NotPermitted);
            let refused = desk
                .save_settings(change(StationSettings::default()))
                .await
                .unwrap_err();
            assert_eq!(refused.code, Code::NotPermitted);
            let refused = desk
                .import_trust_file(csca.to_str().unwrap())
                .await
                .unwrap_err();
            assert_eq!(refused.code, Code::NotPermitted);
        }
        let store = Store::open(&paths.database()).await.unwrap();
        assert_eq!(
            station::settings::load(&store).await.unwrap(),
            wanted,
            "the refused changes left the settings as they were"
        );
        store.close().await;
    });
}

#[test]
fn the_next_enrollment_decides_with_the_saved_thresholds_and_devices() {
    if !testbed::require(Service::Pcscd) {
        return;
    }
    let _reader = lock_reader();
    let tmp = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let (desk, _) = desk(tmp.path()).await;
        let settings = StationSettings {
            face_match_threshold: 0.2,
            microphone: Some("no-such-microphone".into()),
            ..StationSettings::default()
        };
        desk.save_settings(SettingsChange {
            settings,
            platform_url: None,
        })
        .await
        .unwrap();

        desk.sign_in(CLERK.0, password(CLERK.1)).await.unwrap();
        desk.begin().await.unwrap();
        desk.read_document(can(), |_| {}).await.unwrap();
        let face = desk.capture_face(None, |_| {}, |_| {}).await.unwrap();
        assert_eq!(face.matching.threshold, 0.2);
        // The chosen microphone is the one opened: it is not attached.
        let voice = desk.capture_voice(|_| {}).await.unwrap_err();
        assert_eq!(voice.code, Code::NoMicrophone, "{voice}");
    });
}
