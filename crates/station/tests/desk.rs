//! The window's core (`station::desk::Desk`) without the window: a chip
//! read cancelled mid-way in the real vpcd reader, a recording cancelled on
//! the virtual PulseAudio microphone, and the audit log's role rule.

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
use station::voice::VoiceSource;
use station::{Code, StationPaths};
use store::{AuditAction, Store};
use testbed::Service;
use zeroize::Zeroizing;

const ADMIN: (&str, &str) = ("admin", "admin-password-1");
const CLERK: (&str, &str) = ("clerk.wang", "clerk-password-1");
const SUPERVISOR: (&str, &str) = ("supervisor.li", "supervisor-password-1");

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
        let (desk, _) = desk(tmp.path()).await;
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
    // within a chunk or two of the cancel.
    assert!((10..20).contains(&levels), "{levels} levels");
}
