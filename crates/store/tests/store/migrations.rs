//! A station updated in the field keeps what its old database held: the
//! migration that moved the sealed bytes out of the outbox rows keeps
//! every queued packet's bytes and its place in the queue.

use std::path::Path;

use sqlx::migrate::Migrator;
use store::{OutboxState, PacketId, Store};

/// A database at schema version 2 (before `outbox_payloads`) with one
/// queued packet holding `sealed`.
async fn version_2_database(path: &Path, packet: &str, sealed: &[u8]) {
    let migrations = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for name in [
        "0001_settings.sql",
        "0002_users_enrollments_outbox_audit.sql",
    ] {
        std::fs::copy(source.join(name), migrations.path().join(name)).unwrap();
    }
    let url = format!("sqlite:{}?mode=rwc", path.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    Migrator::new(migrations.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    let clerk = "00000000-0000-4000-8000-000000000001";
    let enrollment = "00000000-0000-4000-8000-000000000002";
    sqlx::query(
        "INSERT INTO users (id, username, role, password_hash, created_at, updated_at) \
         VALUES (?1, 'clerk', 'clerk', 'x', 1, 1)",
    )
    .bind(clerk)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO enrollments (id, state, clerk_id, created_at, updated_at) \
         VALUES (?1, 'queued', ?2, 1, 1)",
    )
    .bind(enrollment)
    .bind(clerk)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO outbox (packet_id, enrollment_id, station_id, sealed, state, \
         next_attempt_at, queued_at, updated_at) VALUES (?1, ?2, 'st-1', ?3, 'queued', 1, 1, 1)",
    )
    .bind(packet)
    .bind(enrollment)
    .bind(sealed)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
}

#[tokio::test]
async fn queued_packets_keep_their_bytes_through_the_payload_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(store::DATABASE_FILE);
    let id = "00000000-0000-4000-8000-000000000003";
    let sealed = b"sealed packet bytes".repeat(1000);
    version_2_database(&path, id, &sealed).await;

    let store = Store::open(&path).await.unwrap();
    assert_eq!(store.health().await.unwrap().schema_version, 3);
    let packet = PacketId::from_uuid(id.parse().unwrap());
    assert_eq!(
        store.sealed_packet(packet).await.unwrap(),
        Some(sealed.clone())
    );
    let due = store.next_due_packets(10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].entry.packet_id, packet);
    assert_eq!(due[0].entry.state, OutboxState::Queued);
    assert_eq!(due[0].sealed, sealed);
    store.close().await;
}
