//! The hash chain: intact, edited, removed, inserted, reordered, and under
//! concurrent appends.

use sqlx::SqliteConnection;
use store::{Actor, AuditAction, AuditProblem, AuditVerification};

use crate::common::{Station, station};

/// A station whose log has at least ten entries.
async fn busy_station() -> Station {
    let s = station().await;
    s.queued().await;
    assert!(s.audit_len().await >= 10);
    s
}

/// What an attacker with the file does first: drop the append-only guards.
async fn tamperer(s: &Station) -> SqliteConnection {
    let mut raw = s.raw().await;
    sqlx::query("DROP TRIGGER audit_log_no_update")
        .execute(&mut raw)
        .await
        .unwrap();
    sqlx::query("DROP TRIGGER audit_log_no_delete")
        .execute(&mut raw)
        .await
        .unwrap();
    raw
}

fn intact(entries: u64) -> AuditVerification {
    AuditVerification::Intact { entries }
}

#[tokio::test]
async fn an_untouched_chain_verifies() {
    let s = busy_station().await;
    let n = s.audit_len().await as u64;
    assert_eq!(s.store.verify_audit().await.unwrap(), intact(n));
    let log = s.store.audit_entries(0, 1000).await.unwrap();
    assert_eq!(log[0].seq, 1);
    assert_eq!(log[0].prev_hash, store::audit::GENESIS_HASH);
    for pair in log.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1);
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    let head = s.store.audit_head().await.unwrap().unwrap();
    assert_eq!(head.seq, n as i64);
    assert_eq!(head.hash, log.last().unwrap().hash);
    // Paging.
    let page = s.store.audit_entries(3, 2).await.unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 5]);
}

#[tokio::test]
async fn an_empty_log_verifies() {
    let (_dir, store, _clock) = crate::common::empty_station(crate::common::fast_config()).await;
    assert_eq!(store.verify_audit().await.unwrap(), intact(0));
    assert_eq!(store.audit_head().await.unwrap(), None);
}

#[tokio::test]
async fn the_application_cannot_change_or_delete_entries() {
    let s = busy_station().await;
    let mut raw = s.raw().await;
    let err = sqlx::query("UPDATE audit_log SET detail = 'x' WHERE seq = 2")
        .execute(&mut raw)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = sqlx::query("DELETE FROM audit_log WHERE seq = 2")
        .execute(&mut raw)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
}

#[tokio::test]
async fn an_edited_detail_is_reported_at_its_seq() {
    let s = busy_station().await;
    let mut raw = tamperer(&s).await;
    sqlx::query("UPDATE audit_log SET detail = 'nothing to see' WHERE seq = 5")
        .execute(&mut raw)
        .await
        .unwrap();
    assert_eq!(
        s.store.verify_audit().await.unwrap(),
        AuditVerification::Broken {
            seq: 5,
            problem: AuditProblem::HashMismatch
        }
    );
}

/// The canonical encoding, written out independently of the store: a
/// check that the store hashes what its documentation says.
fn canonical_hash(
    seq: i64,
    at: i64,
    actor: &str,
    action: &str,
    subject: Option<&str>,
    detail: &str,
    prev_hash: &str,
) -> String {
    use sha2::{Digest, Sha256};
    fn text(h: &mut Sha256, t: &str) {
        h.update(u32::try_from(t.len()).unwrap().to_be_bytes());
        h.update(t.as_bytes());
    }
    let mut h = Sha256::new();
    h.update(b"enrollment-station audit v1\0");
    h.update(seq.to_be_bytes());
    h.update(at.to_be_bytes());
    text(&mut h, actor);
    text(&mut h, action);
    match subject {
        None => h.update([0u8]),
        Some(s) => {
            h.update([1u8]);
            text(&mut h, s);
        }
    }
    text(&mut h, detail);
    text(&mut h, prev_hash);
    hex::encode(h.finalize())
}

type RawEntry = (
    i64,
    i64,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
);

async fn raw_entries(raw: &mut SqliteConnection) -> Vec<RawEntry> {
    sqlx::query_as(
        "SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit_log ORDER BY seq",
    )
    .fetch_all(raw)
    .await
    .unwrap()
}

#[tokio::test]
async fn hashes_follow_the_documented_encoding() {
    let s = busy_station().await;
    let mut raw = s.raw().await;
    for (seq, at, actor, action, subject, detail, prev, hash) in raw_entries(&mut raw).await {
        assert_eq!(
            canonical_hash(seq, at, &actor, &action, subject.as_deref(), &detail, &prev),
            hash,
            "seq {seq}"
        );
    }
}

#[tokio::test]
async fn an_edit_with_a_recomputed_hash_breaks_the_next_link() {
    let s = busy_station().await;
    let mut raw = tamperer(&s).await;
    let rows = raw_entries(&mut raw).await;
    let (seq, at, actor, action, subject, _, prev, _) = rows[3].clone();
    assert_eq!(seq, 4);
    let forged = canonical_hash(
        seq,
        at,
        &actor,
        &action,
        subject.as_deref(),
        "forged",
        &prev,
    );
    sqlx::query("UPDATE audit_log SET detail = 'forged', hash = ?1 WHERE seq = 4")
        .bind(&forged)
        .execute(&mut raw)
        .await
        .unwrap();
    // Entry 4 is self-consistent now; entry 5 still points at the old one.
    assert_eq!(
        s.store.verify_audit().await.unwrap(),
        AuditVerification::Broken {
            seq: 5,
            problem: AuditProblem::BrokenLink
        }
    );
}

#[tokio::test]
async fn a_removed_entry_is_detected() {
    let s = busy_station().await;
    let mut raw = tamperer(&s).await;
    sqlx::query("DELETE FROM audit_log WHERE seq = 6")
        .execute(&mut raw)
        .await
        .unwrap();
    assert_eq!(
        s.store.verify_audit().await.unwrap(),
        AuditVerification::Broken {
            seq: 6,
            problem: AuditProblem::Missing
        }
    );
}

#[tokio::test]
async fn a_removed_and_renumbered_entry_is_detected() {
    let s = busy_station().await;
    let mut raw = tamperer(&s).await;
    sqlx::query("DELETE FROM audit_log WHERE seq = 3")
        .execute(&mut raw)
        .await
        .unwrap();
    // Close the gap, lowest first so the primary key never collides.
    let seqs: Vec<i64> = sqlx::query_scalar("SELECT seq FROM audit_log WHERE seq > 3 ORDER BY seq")
        .fetch_all(&mut raw)
        .await
        .unwrap();
    for seq in seqs {
        sqlx::query("UPDATE audit_log SET seq = seq - 1 WHERE seq = ?1")
            .bind(seq)
            .execute(&mut raw)
            .await
            .unwrap();
    }
    assert_eq!(
        s.store.verify_audit().await.unwrap(),
        AuditVerification::Broken {
            seq: 3,
            problem: AuditProblem::BrokenLink
        }
    );
}

#[tokio::test]
async fn an_inserted_entry_is_detected() {
    let s = busy_station().await;
    let mut raw = tamperer(&s).await;
    // Make room after seq 4, highest first, and forge an entry there that
    // links correctly to its predecessor.
    let seqs: Vec<i64> =
        sqlx::query_scalar("SELECT seq FROM audit_log WHERE seq > 4 ORDER BY seq DESC")
            .fetch_all(&mut raw)
            .await
            .unwrap();
    for seq in seqs {
        sqlx::query("UPDATE audit_log SET seq = seq + 1 WHERE seq = ?1")
            .bind(seq)
            .execute(&mut raw)
            .await
            .unwrap();
    }
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_hash, hash) \
         SELECT 5, at, 'system', 'approved', subject, '', hash, hash FROM audit_log WHERE seq = 4",
    )
    .execute(&mut raw)
    .await
    .unwrap();
    assert_eq!(
        s.store.verify_audit().await.unwrap(),
        AuditVerification::Broken {
            seq: 5,
            problem: AuditProblem::HashMismatch
        }
    );
}

#[tokio::test]
async fn swapped_entries_are_detected() {
    let s = busy_station().await;
    let mut raw = tamperer(&s).await;
    // Swap everything but the seq of entries 7 and 8.
    for stmt in [
        "UPDATE audit_log SET seq = -7 WHERE seq = 7",
        "UPDATE audit_log SET seq = 7 WHERE seq = 8",
        "UPDATE audit_log SET seq = 8 WHERE seq = -7",
    ] {
        sqlx::query(stmt).execute(&mut raw).await.unwrap();
    }
    assert_eq!(
        s.store.verify_audit().await.unwrap(),
        AuditVerification::Broken {
            seq: 7,
            problem: AuditProblem::BrokenLink
        }
    );
}

#[tokio::test]
async fn swapped_contents_with_fixed_links_are_detected() {
    let s = busy_station().await;
    let mut raw = tamperer(&s).await;
    // Swap only the descriptive fields of entries 8 and 9, keeping the
    // chain's columns where they were.
    let rows = raw_entries(&mut raw).await;
    let (eight, nine) = (rows[7].clone(), rows[8].clone());
    assert_ne!(eight.3, nine.3, "different actions");
    for (seq, from) in [(8, &nine), (9, &eight)] {
        sqlx::query(
            "UPDATE audit_log SET at = ?1, actor = ?2, action = ?3, subject = ?4, detail = ?5 \
             WHERE seq = ?6",
        )
        .bind(from.1)
        .bind(&from.2)
        .bind(&from.3)
        .bind(&from.4)
        .bind(&from.5)
        .bind(seq)
        .execute(&mut raw)
        .await
        .unwrap();
    }
    assert_eq!(
        s.store.verify_audit().await.unwrap(),
        AuditVerification::Broken {
            seq: 8,
            problem: AuditProblem::HashMismatch
        }
    );
}

#[tokio::test]
async fn concurrent_appends_keep_one_chain() {
    let s = station().await;
    let before = s.audit_len().await;
    let mut tasks = Vec::new();
    for t in 0..6 {
        let store = s.store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                store
                    .record_audit(
                        Actor::System,
                        AuditAction::SettingsChanged,
                        Some("concurrency"),
                        &format!("task {t} entry {i}"),
                    )
                    .await
                    .unwrap();
            }
        }));
    }
    // Real work interleaved with the bare appends.
    let work = {
        let s2 = s.store.clone();
        let clerk = s.clerk;
        tokio::spawn(async move {
            for _ in 0..5 {
                s2.start_enrollment(clerk).await.unwrap();
            }
        })
    };
    for t in tasks {
        t.await.unwrap();
    }
    work.await.unwrap();
    let expected = (before + 6 * 20 + 5) as u64;
    assert_eq!(s.store.verify_audit().await.unwrap(), intact(expected));
    let log = s.store.audit_entries(0, u32::MAX).await.unwrap();
    assert_eq!(log.len() as u64, expected);
    assert!(log.iter().enumerate().all(|(i, e)| e.seq == i as i64 + 1));
}

#[tokio::test]
async fn details_are_capped_and_single_line() {
    let s = station().await;
    let e = s
        .store
        .record_audit(
            Actor::User(s.admin),
            AuditAction::SettingsChanged,
            None,
            &format!("line one\nline two {}", "x".repeat(1000)),
        )
        .await
        .unwrap();
    assert!(e.detail.starts_with("line one line two"));
    assert_eq!(e.detail.chars().count(), store::audit::MAX_DETAIL_CHARS);
    assert!(matches!(
        s.store.verify_audit().await.unwrap(),
        AuditVerification::Intact { .. }
    ));
}
