//! A station with staff, and helpers to move enrollments along.

use std::sync::Arc;

use sqlx::{Connection, SqliteConnection};
use store::enrollments::ClerkStep;
use store::{
    EnrollmentId, ManualClock, OutgoingPacket, PacketId, PasswordHashing, Store, StoreConfig,
    Timestamp, UserId,
};
use tempfile::TempDir;
use uuid::Uuid;

/// An arbitrary start: 2025-06-15.
pub const T0: Timestamp = Timestamp::from_unix_ms(1_750_000_000_000);
pub const PASSWORD: &str = "correct horse battery";

pub fn fast_config() -> StoreConfig {
    StoreConfig {
        password_hashing: PasswordHashing::FAST_INSECURE,
        ..StoreConfig::default()
    }
}

pub struct Station {
    // Kept so the directory outlives the store.
    pub dir: TempDir,
    pub store: Store,
    pub clock: ManualClock,
    pub admin: UserId,
    pub clerk: UserId,
    pub supervisor: UserId,
}

pub async fn empty_station(config: StoreConfig) -> (TempDir, Store, ManualClock) {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let store = Store::open_with(
        &dir.path().join(store::DATABASE_FILE),
        config,
        Arc::new(clock.clone()),
    )
    .await
    .unwrap();
    (dir, store, clock)
}

pub async fn station_with(config: StoreConfig) -> Station {
    let (dir, store, clock) = empty_station(config).await;
    let admin = store
        .create_first_administrator("admin", PASSWORD)
        .await
        .unwrap()
        .id;
    let clerk = store
        .create_user(admin, "clerk", PASSWORD, store::Role::Clerk)
        .await
        .unwrap()
        .id;
    let supervisor = store
        .create_user(admin, "super", PASSWORD, store::Role::Supervisor)
        .await
        .unwrap()
        .id;
    Station {
        dir,
        store,
        clock,
        admin,
        clerk,
        supervisor,
    }
}

pub async fn station() -> Station {
    station_with(fast_config()).await
}

impl Station {
    /// An enrollment by `clerk`, taken as far as review.
    pub async fn ready_for_review_by(&self, clerk: UserId) -> EnrollmentId {
        let id = self.store.start_enrollment(clerk).await.unwrap().id;
        for step in [
            ClerkStep::ReadDocument,
            ClerkStep::CaptureFace,
            ClerkStep::CaptureVoice,
            ClerkStep::SubmitForReview,
        ] {
            self.store.record_step(id, clerk, step, "").await.unwrap();
        }
        id
    }

    pub async fn ready_for_review(&self) -> EnrollmentId {
        self.ready_for_review_by(self.clerk).await
    }

    pub async fn approved(&self) -> EnrollmentId {
        let id = self.ready_for_review().await;
        self.store.approve(id, self.supervisor).await.unwrap();
        id
    }

    /// An approved enrollment with its packet queued.
    pub async fn queued(&self) -> (EnrollmentId, PacketId) {
        let id = self.approved().await;
        let p = packet();
        self.store.queue_packet(id, &p).await.unwrap();
        (id, p.packet_id)
    }

    /// A second connection straight to the file, as someone with access to
    /// the disk would have.
    pub async fn raw(&self) -> SqliteConnection {
        let url = format!("sqlite://{}", self.store.path().display());
        SqliteConnection::connect(&url).await.unwrap()
    }

    pub async fn audit_len(&self) -> usize {
        self.store.audit_entries(0, u32::MAX).await.unwrap().len()
    }
}

pub fn packet() -> OutgoingPacket {
    OutgoingPacket {
        packet_id: PacketId::from_uuid(Uuid::new_v4()),
        station_id: "ST-0001".into(),
        sealed: b"\x89ESP\r\n\x1a\n-opaque-sealed-bytes-".repeat(8),
    }
}
