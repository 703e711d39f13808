//! Queueing atomically, due order, back-off, acknowledgement, rejection
//! and resubmission.

use std::time::Duration;

use enrollment::EnrollmentState;
use sqlx::Row;
use store::{AuditAction, OutboxCounts, OutboxState, StoreError};

use crate::common::{packet, station};

#[tokio::test]
async fn queue_packet_writes_the_packet_the_state_and_the_audit_entry() {
    let s = station().await;
    let id = s.approved().await;
    let p = packet();
    let entry = s.store.queue_packet(id, &p).await.unwrap();
    assert_eq!(entry.packet_id, p.packet_id);
    assert_eq!(entry.enrollment_id, id);
    assert_eq!(entry.station_id, "ST-0001");
    assert_eq!(entry.state, OutboxState::Queued);
    assert_eq!(entry.attempts, 0);
    assert_eq!(entry.next_attempt_at, s.store.now());
    assert_eq!(
        s.store.sealed_packet(p.packet_id).await.unwrap(),
        Some(p.sealed.clone())
    );
    assert_eq!(
        s.store.enrollment(id).await.unwrap().state,
        EnrollmentState::Queued
    );
    let last = s.store.audit_entries(0, 1000).await.unwrap().pop().unwrap();
    assert_eq!(last.action, AuditAction::Sealed);
    assert_eq!(last.subject.as_deref(), Some(id.to_string().as_str()));
}

#[tokio::test]
async fn queue_packet_is_all_or_nothing() {
    let s = station().await;
    let (_, first_packet) = s.queued().await;
    let id = s.approved().await;
    let audit_before = s.audit_len().await;
    let counts_before = s.store.outbox_counts().await.unwrap();

    // The same packet id again: the insert fails after the enrollment's
    // state was already changed inside the transaction.
    let mut p = packet();
    p.packet_id = first_packet;
    let err = s.store.queue_packet(id, &p).await.unwrap_err();
    assert!(
        matches!(err, StoreError::DuplicatePacket(pid) if pid == first_packet),
        "{err}"
    );

    assert_eq!(
        s.store.enrollment(id).await.unwrap().state,
        EnrollmentState::Approved,
        "the state change was rolled back"
    );
    assert_eq!(s.audit_len().await, audit_before, "no audit entry");
    assert_eq!(s.store.outbox_counts().await.unwrap(), counts_before);
    let mut raw = s.raw().await;
    let rows: i64 = sqlx::query("SELECT COUNT(*) FROM outbox WHERE enrollment_id = ?1")
        .bind(id.to_string())
        .fetch_one(&mut raw)
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 0, "no outbox row");
    // The first packet is untouched.
    let first = s.store.outbox_entry(first_packet).await.unwrap();
    assert_ne!(first.enrollment_id, id);

    // With a fresh id it goes through.
    s.store.queue_packet(id, &packet()).await.unwrap();
}

#[tokio::test]
async fn only_an_approved_enrollment_is_queued() {
    let s = station().await;
    let id = s.ready_for_review().await;
    let err = s.store.queue_packet(id, &packet()).await.unwrap_err();
    assert!(matches!(err, StoreError::IllegalTransition(_)), "{err}");
    assert_eq!(
        s.store.outbox_counts().await.unwrap(),
        OutboxCounts::default()
    );
    let (queued, _) = s.queued().await;
    let err = s.store.queue_packet(queued, &packet()).await.unwrap_err();
    assert!(matches!(err, StoreError::IllegalTransition(_)), "{err}");
}

#[tokio::test]
async fn due_packets_come_in_order_and_wait_out_their_back_off() {
    let s = station().await;
    let (_, a) = s.queued().await;
    s.clock.advance(Duration::from_secs(1));
    let (_, b) = s.queued().await;
    s.clock.advance(Duration::from_secs(1));
    let (_, c) = s.queued().await;

    let due: Vec<_> = s
        .store
        .next_due_packets(10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.entry.packet_id)
        .collect();
    assert_eq!(due, [a, b, c]);
    let first = s.store.next_due_packets(1).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].entry.packet_id, a);
    assert!(!first[0].sealed.is_empty());

    // `a` fails and backs off for a minute: `b` and `c` go first.
    let e = s.store.mark_uploading(a).await.unwrap();
    assert_eq!(e.state, OutboxState::Uploading);
    assert_eq!(e.attempts, 1);
    let due: Vec<_> = s.store.next_due_packets(10).await.unwrap();
    assert_eq!(due.len(), 2, "an uploading packet is not due");
    let e = s
        .store
        .mark_upload_failed(a, "connection refused", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(e.state, OutboxState::Queued);
    assert_eq!(e.last_error.as_deref(), Some("connection refused"));
    assert_eq!(
        e.next_attempt_at,
        s.store.now().saturating_add(Duration::from_secs(60))
    );
    let enrollment = s.store.enrollment(e.enrollment_id).await.unwrap();
    assert_eq!(enrollment.state, EnrollmentState::Queued);

    let due: Vec<_> = s
        .store
        .next_due_packets(10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.entry.packet_id)
        .collect();
    assert_eq!(due, [b, c]);

    s.clock.advance(Duration::from_secs(59));
    assert_eq!(s.store.next_due_packets(10).await.unwrap().len(), 2);
    s.clock.advance(Duration::from_secs(1));
    let due: Vec<_> = s
        .store
        .next_due_packets(10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.entry.packet_id)
        .collect();
    // `b` and `c` have been due for longer, so they stay ahead.
    assert_eq!(due, [b, c, a]);

    let e = s.store.mark_uploading(a).await.unwrap();
    assert_eq!(e.attempts, 2);
}

#[tokio::test]
async fn an_acknowledged_packet_keeps_its_receipt() {
    let s = station().await;
    let (id, p) = s.queued().await;
    s.store.mark_uploading(p).await.unwrap();
    s.clock.advance(Duration::from_secs(3));
    let e = s.store.mark_acknowledged(p, b"receipt-123").await.unwrap();
    assert_eq!(e.state, OutboxState::Acknowledged);
    assert_eq!(e.receipt.as_deref(), Some(&b"receipt-123"[..]));
    assert_eq!(e.acknowledged_at, Some(s.store.now()));
    assert_eq!(
        s.store.enrollment(id).await.unwrap().state,
        EnrollmentState::Acknowledged
    );
    assert!(s.store.next_due_packets(10).await.unwrap().is_empty());
    // Acknowledged is final for the outbox.
    let err = s.store.mark_uploading(p).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::OutboxState {
                state: OutboxState::Acknowledged,
                ..
            }
        ),
        "{err}"
    );
    let err = s.store.mark_acknowledged(p, b"again").await.unwrap_err();
    assert!(matches!(err, StoreError::OutboxState { .. }), "{err}");
    let last = s.store.audit_entries(0, 1000).await.unwrap().pop().unwrap();
    assert_eq!(last.action, AuditAction::UploadOk);
}

#[tokio::test]
async fn a_rejected_packet_waits_for_a_supervisor_to_resubmit_it() {
    let s = station().await;
    let (id, p) = s.queued().await;
    s.store.mark_uploading(p).await.unwrap();
    let e = s
        .store
        .mark_rejected(p, "station key not registered")
        .await
        .unwrap();
    assert_eq!(e.state, OutboxState::Rejected);
    assert_eq!(e.last_error.as_deref(), Some("station key not registered"));
    let enrollment = s.store.enrollment(id).await.unwrap();
    assert_eq!(enrollment.state, EnrollmentState::RejectedByPlatform);
    assert_eq!(
        enrollment.reason.as_deref(),
        Some("station key not registered")
    );
    assert_eq!(
        enrollment.supervisor_id,
        Some(s.supervisor),
        "reviewer kept"
    );
    assert!(s.store.next_due_packets(10).await.unwrap().is_empty());
    assert_eq!(
        s.store
            .audit_entries(0, 1000)
            .await
            .unwrap()
            .pop()
            .unwrap()
            .action,
        AuditAction::UploadRejected
    );

    let err = s.store.resubmit(p, s.clerk).await.unwrap_err();
    assert!(matches!(err, StoreError::NotPermitted { .. }), "{err}");
    s.clock.advance(Duration::from_secs(3600));
    let e = s.store.resubmit(p, s.supervisor).await.unwrap();
    assert_eq!(e.state, OutboxState::Queued);
    assert_eq!(e.next_attempt_at, s.store.now());
    assert_eq!(
        s.store.enrollment(id).await.unwrap().state,
        EnrollmentState::Queued
    );
    let due = s.store.next_due_packets(10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].entry.packet_id, p);
    let err = s.store.resubmit(p, s.supervisor).await.unwrap_err();
    assert!(matches!(err, StoreError::OutboxState { .. }), "{err}");
}

#[tokio::test]
async fn outbox_moves_out_of_order_are_refused() {
    let s = station().await;
    let (_, p) = s.queued().await;
    for err in [
        s.store
            .mark_upload_failed(p, "x", Duration::ZERO)
            .await
            .unwrap_err(),
        s.store.mark_rejected(p, "x").await.unwrap_err(),
    ] {
        assert!(
            matches!(
                err,
                StoreError::OutboxState {
                    state: OutboxState::Queued,
                    ..
                }
            ),
            "{err}"
        );
    }
    s.store.mark_uploading(p).await.unwrap();
    let err = s.store.mark_uploading(p).await.unwrap_err();
    assert!(matches!(err, StoreError::OutboxState { .. }), "{err}");
    let unknown = packet().packet_id;
    let err = s.store.mark_uploading(unknown).await.unwrap_err();
    assert!(matches!(err, StoreError::UnknownPacket(_)), "{err}");
}

#[tokio::test]
async fn interrupted_uploads_go_back_in_the_queue() {
    let s = station().await;
    let (id, p) = s.queued().await;
    s.store.mark_uploading(p).await.unwrap();
    assert_eq!(s.store.requeue_interrupted_uploads().await.unwrap(), 1);
    assert_eq!(
        s.store.outbox_entry(p).await.unwrap().state,
        OutboxState::Queued
    );
    assert_eq!(
        s.store.enrollment(id).await.unwrap().state,
        EnrollmentState::Queued
    );
    assert_eq!(s.store.requeue_interrupted_uploads().await.unwrap(), 0);
}

#[tokio::test]
async fn counts_per_state() {
    let s = station().await;
    let (_, a) = s.queued().await;
    let (_, b) = s.queued().await;
    let (_, c) = s.queued().await;
    let (_, _d) = s.queued().await;
    s.store.mark_uploading(a).await.unwrap();
    s.store.mark_uploading(b).await.unwrap();
    s.store.mark_acknowledged(b, b"r").await.unwrap();
    s.store.mark_uploading(c).await.unwrap();
    s.store.mark_rejected(c, "bad").await.unwrap();
    assert_eq!(
        s.store.outbox_counts().await.unwrap(),
        OutboxCounts {
            queued: 1,
            uploading: 1,
            acknowledged: 1,
            rejected: 1,
        }
    );
}

#[tokio::test]
async fn entries_are_listed_newest_first_within_the_limit() {
    let s = station().await;
    assert!(s.store.outbox_entries(10).await.unwrap().is_empty());
    let (_, a) = s.queued().await;
    s.clock.advance(Duration::from_secs(1));
    let (_, b) = s.queued().await;
    s.store.mark_uploading(b).await.unwrap();
    s.store
        .mark_upload_failed(b, "timeout", Duration::from_secs(5))
        .await
        .unwrap();
    let all = s.store.outbox_entries(10).await.unwrap();
    let ids: Vec<_> = all.iter().map(|e| e.packet_id).collect();
    assert_eq!(ids, vec![b, a]);
    assert_eq!(all[0].attempts, 1);
    assert_eq!(all[0].last_error.as_deref(), Some("timeout"));
    assert_eq!(s.store.outbox_entries(1).await.unwrap().len(), 1);
}
