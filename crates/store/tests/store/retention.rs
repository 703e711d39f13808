//! Purging acknowledged payloads, and the two reasons intake freezes.

use std::time::Duration;

use enrollment::EnrollmentState;
use store::{AuditAction, FreezeReason, OutboxState, StoreError};

use crate::common::{fast_config, packet, station, station_with};

const DAY: Duration = Duration::from_secs(86_400);

#[tokio::test]
async fn acknowledged_payloads_are_purged_after_the_retention_period() {
    let s = station().await;
    let (acked, p_acked) = s.queued().await;
    let (_, p_waiting) = s.queued().await;
    s.store.mark_uploading(p_acked).await.unwrap();
    s.store
        .mark_acknowledged(p_acked, b"receipt")
        .await
        .unwrap();

    // Not yet: one day minus a second.
    s.clock.advance(DAY - Duration::from_secs(1));
    assert!(
        s.store
            .purge_acknowledged_payloads()
            .await
            .unwrap()
            .is_empty()
    );
    assert!(s.store.sealed_packet(p_acked).await.unwrap().is_some());

    s.clock.advance(Duration::from_secs(1));
    let purged = s.store.purge_acknowledged_payloads().await.unwrap();
    assert_eq!(purged, [p_acked]);
    assert_eq!(s.store.sealed_packet(p_acked).await.unwrap(), None);
    let entry = s.store.outbox_entry(p_acked).await.unwrap();
    assert_eq!(entry.state, OutboxState::Acknowledged);
    assert_eq!(entry.purged_at, Some(s.store.now()));
    assert_eq!(
        entry.receipt.as_deref(),
        Some(&b"receipt"[..]),
        "receipt kept"
    );
    assert_eq!(
        s.store.enrollment(acked).await.unwrap().state,
        EnrollmentState::Purged
    );
    // The unacknowledged packet keeps its bytes however old it is.
    assert!(s.store.sealed_packet(p_waiting).await.unwrap().is_some());
    let last = s.store.audit_entries(0, 1000).await.unwrap().pop().unwrap();
    assert_eq!(last.action, AuditAction::Purged);
    assert_eq!(last.subject.as_deref(), Some(acked.to_string().as_str()));

    // Purging is idempotent.
    assert!(
        s.store
            .purge_acknowledged_payloads()
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn purged_bytes_are_gone_from_the_files() {
    let s = station().await;
    let queue = |marker: &str| {
        let mut p = packet();
        p.sealed = marker.repeat(20).into_bytes();
        p
    };
    let (purge, keep) = (queue("PURGE-ME-0123456789"), queue("KEEP-ME-0123456789"));
    for p in [&purge, &keep] {
        let id = s.approved().await;
        s.store.queue_packet(id, p).await.unwrap();
    }
    s.store
        .mark_acknowledged(purge.packet_id, b"r")
        .await
        .unwrap();
    s.clock.advance(DAY);
    assert_eq!(
        s.store.purge_acknowledged_payloads().await.unwrap(),
        [purge.packet_id]
    );
    s.store.clone().close().await;

    let files: Vec<Vec<u8>> = std::fs::read_dir(s.dir.path())
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    let found = |needle: &[u8]| {
        files
            .iter()
            .any(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
    };
    assert!(
        found(b"KEEP-ME-0123456789"),
        "the check can see packet bytes"
    );
    assert!(
        !found(b"PURGE-ME-0123456789"),
        "secure_delete overwrote them"
    );
}

#[tokio::test]
async fn the_retention_period_is_configurable() {
    let mut config = fast_config();
    config.retention.purge_acknowledged_after = 3 * DAY;
    let s = station_with(config).await;
    let (_, p) = s.queued().await;
    s.store.mark_acknowledged(p, b"r").await.unwrap();
    s.clock.advance(2 * DAY);
    assert!(
        s.store
            .purge_acknowledged_payloads()
            .await
            .unwrap()
            .is_empty()
    );
    s.clock.advance(DAY);
    assert_eq!(s.store.purge_acknowledged_payloads().await.unwrap(), [p]);
}

#[tokio::test]
async fn too_many_waiting_for_approval_freezes_intake() {
    let mut config = fast_config();
    config.freeze.max_awaiting_approval = 3;
    let s = station_with(config).await;
    for _ in 0..3 {
        s.ready_for_review().await;
    }
    assert_eq!(s.store.freeze_reason().await.unwrap(), None);
    let fourth = s.ready_for_review().await;
    let reason = s.store.freeze_reason().await.unwrap();
    assert_eq!(
        reason,
        Some(FreezeReason::TooManyAwaitingApproval {
            waiting: 4,
            limit: 3
        })
    );
    let err = s.store.start_enrollment(s.clerk).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Frozen(FreezeReason::TooManyAwaitingApproval { .. })
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("4 enrollments are waiting"),
        "{err}"
    );

    // Reviewing one lifts the freeze.
    s.store
        .reject(fourth, s.supervisor, "duplicate")
        .await
        .unwrap();
    assert_eq!(s.store.freeze_reason().await.unwrap(), None);
    s.store.start_enrollment(s.clerk).await.unwrap();
}

#[tokio::test]
async fn the_default_approval_limit_is_twenty() {
    let s = station().await;
    for _ in 0..20 {
        s.ready_for_review().await;
    }
    assert_eq!(s.store.freeze_reason().await.unwrap(), None);
    s.ready_for_review().await;
    assert!(matches!(
        s.store.freeze_reason().await.unwrap(),
        Some(FreezeReason::TooManyAwaitingApproval {
            waiting: 21,
            limit: 20
        })
    ));
}

#[tokio::test]
async fn an_old_unsent_packet_freezes_intake() {
    let s = station().await;
    let queued_at = s.store.now();
    let (_, p) = s.queued().await;
    s.clock.advance(7 * DAY);
    assert_eq!(
        s.store.freeze_reason().await.unwrap(),
        None,
        "exactly 7 days"
    );
    // Still failing to upload, a millisecond later.
    s.store.mark_uploading(p).await.unwrap();
    s.clock.advance(Duration::from_millis(1));
    let reason = s.store.freeze_reason().await.unwrap();
    assert_eq!(
        reason,
        Some(FreezeReason::UnsentPacketTooOld {
            packet: p,
            queued_at,
            max_age: 7 * DAY
        })
    );
    let err = s.store.start_enrollment(s.clerk).await.unwrap_err();
    assert!(matches!(err, StoreError::Frozen(_)), "{err}");
    assert!(err.to_string().contains("more than 7 days"), "{err}");

    // Delivered: the freeze lifts.
    s.store.mark_acknowledged(p, b"r").await.unwrap();
    assert_eq!(s.store.freeze_reason().await.unwrap(), None);
}
