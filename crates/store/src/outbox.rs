//! The outbox: sealed packets waiting for upload, and what the platform
//! answered.
//!
//! A packet enters in [`Store::queue_packet`], in the same transaction that
//! moves its enrollment to `queued` and logs the sealing, so a crash leaves
//! either all of it or none. The uploader then takes due packets in order
//! ([`Store::next_due_packets`]) and reports each attempt back. The packet
//! bytes are opaque here: the store keeps only the header's packet id and
//! station id beside them.

use std::time::Duration;

use enrollment::Event;
use enrollment::packet::SealedPacket;
use serde::Serialize;
use sqlx::SqliteConnection;

use crate::Store;
use crate::audit::{self, Actor, AuditAction};
use crate::clock::Timestamp;
use crate::enrollments::{self, clean_reason};
use crate::error::StoreError;
use crate::ids::{EnrollmentId, PacketId, UserId};
use crate::users::{Role, require_role};

text_enum! {
    /// Where a packet stands with the platform.
    pub enum OutboxState {
        /// Waiting for its next attempt.
        Queued = "queued",
        /// An upload is under way.
        Uploading = "uploading",
        /// The platform has it and sent a receipt.
        Acknowledged = "acknowledged",
        /// The platform refused it; a supervisor may resubmit it.
        Rejected = "rejected",
    }
}

/// A sealed packet ready for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingPacket {
    /// The packet id from the header.
    pub packet_id: PacketId,
    /// The station id from the header.
    pub station_id: String,
    /// The whole packet as it goes on the wire.
    pub sealed: Vec<u8>,
}

impl OutgoingPacket {
    pub fn from_sealed(packet: &SealedPacket) -> Self {
        let header = packet.header();
        Self {
            packet_id: PacketId::from_uuid(header.packet_id),
            station_id: header.station_id.as_str().to_owned(),
            sealed: packet.to_bytes(),
        }
    }
}

/// One outbox row, without the packet bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxEntry {
    pub packet_id: PacketId,
    pub enrollment_id: EnrollmentId,
    pub station_id: String,
    pub state: OutboxState,
    /// Upload attempts started so far.
    pub attempts: u32,
    /// The last upload error or the platform's reason for refusing.
    pub last_error: Option<String>,
    pub next_attempt_at: Timestamp,
    pub queued_at: Timestamp,
    pub updated_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    /// The platform's receipt, as received.
    pub receipt: Option<Vec<u8>>,
    /// When the sealed bytes were deleted under the retention rule.
    pub purged_at: Option<Timestamp>,
}

/// A packet due for upload, with its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuePacket {
    pub entry: OutboxEntry,
    pub sealed: Vec<u8>,
}

/// How many packets are in each state, for the status screen.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct OutboxCounts {
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub queued: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub uploading: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub acknowledged: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub rejected: u64,
}

struct EntryRow {
    packet_id: String,
    enrollment_id: String,
    station_id: String,
    state: String,
    attempts: i64,
    last_error: Option<String>,
    next_attempt_at: i64,
    queued_at: i64,
    updated_at: i64,
    acknowledged_at: Option<i64>,
    receipt: Option<Vec<u8>>,
    purged_at: Option<i64>,
}

impl EntryRow {
    fn into_entry(self) -> Result<OutboxEntry, StoreError> {
        Ok(OutboxEntry {
            packet_id: PacketId::from_column("outbox.packet_id", &self.packet_id)?,
            enrollment_id: EnrollmentId::from_column("outbox.enrollment_id", &self.enrollment_id)?,
            station_id: self.station_id,
            state: OutboxState::from_column("outbox.state", &self.state)?,
            attempts: u32::try_from(self.attempts)
                .map_err(|_| StoreError::corrupt("outbox.attempts", "out of range"))?,
            last_error: self.last_error,
            next_attempt_at: Timestamp::from_unix_ms(self.next_attempt_at),
            queued_at: Timestamp::from_unix_ms(self.queued_at),
            updated_at: Timestamp::from_unix_ms(self.updated_at),
            acknowledged_at: self.acknowledged_at.map(Timestamp::from_unix_ms),
            receipt: self.receipt,
            purged_at: self.purged_at.map(Timestamp::from_unix_ms),
        })
    }
}

async fn load_entry(
    conn: &mut SqliteConnection,
    packet: PacketId,
) -> Result<OutboxEntry, StoreError> {
    let id_text = packet.to_column();
    sqlx::query_as!(
        EntryRow,
        "SELECT packet_id, enrollment_id, station_id, state, attempts, last_error, \
         next_attempt_at, queued_at, updated_at, acknowledged_at, receipt, purged_at \
         FROM outbox WHERE packet_id = ?1",
        id_text,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::UnknownPacket(packet))?
    .into_entry()
}

/// The entry, if it is in one of `allowed` states.
async fn load_in_state(
    conn: &mut SqliteConnection,
    packet: PacketId,
    allowed: &[OutboxState],
    expected: &'static str,
) -> Result<OutboxEntry, StoreError> {
    let entry = load_entry(conn, packet).await?;
    if !allowed.contains(&entry.state) {
        return Err(StoreError::OutboxState {
            packet,
            state: entry.state,
            expected,
        });
    }
    Ok(entry)
}

impl Store {
    /// Puts an approved enrollment's sealed packet in the outbox. The
    /// packet, its row, the enrollment's move to `queued` and the audit
    /// entry are one transaction: all or nothing.
    pub async fn queue_packet(
        &self,
        enrollment: EnrollmentId,
        packet: &OutgoingPacket,
    ) -> Result<OutboxEntry, StoreError> {
        let mut tx = self.begin_write().await?;
        let now = self.now();
        enrollments::advance(&mut tx, enrollment, Event::Seal, now).await?;
        let (packet_text, enrollment_text, now_ms) = (
            packet.packet_id.to_column(),
            enrollment.to_column(),
            now.unix_ms(),
        );
        let state = OutboxState::Queued.as_str();
        let inserted = sqlx::query!(
            "INSERT INTO outbox (packet_id, enrollment_id, station_id, state, \
             next_attempt_at, queued_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?5)",
            packet_text,
            enrollment_text,
            packet.station_id,
            state,
            now_ms,
        )
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            // Dropping `tx` rolls back the enrollment's state change too.
            Err(sqlx::Error::Database(e))
                if e.is_unique_violation() && e.message().contains("packet_id") =>
            {
                return Err(StoreError::DuplicatePacket(packet.packet_id));
            }
            Err(e) => return Err(e.into()),
        }
        sqlx::query!(
            "INSERT INTO outbox_payloads (packet_id, sealed) VALUES (?1, ?2)",
            packet_text,
            packet.sealed,
        )
        .execute(&mut *tx)
        .await?;
        audit::append(
            &mut tx,
            now,
            Actor::System,
            AuditAction::Sealed,
            Some(&enrollment_text),
            &format!("packet {}, {} bytes", packet.packet_id, packet.sealed.len()),
        )
        .await?;
        let entry = load_entry(&mut tx, packet.packet_id).await?;
        tx.commit().await?;
        tracing::info!(packet = %packet.packet_id, %enrollment, "packet queued");
        Ok(entry)
    }

    /// Queued packets whose next attempt is due, in order (earliest due
    /// first, then oldest), at most `limit`.
    pub async fn next_due_packets(&self, limit: u32) -> Result<Vec<DuePacket>, StoreError> {
        let (now_ms, limit) = (self.now().unix_ms(), i64::from(limit));
        // One read transaction: rows and their details from one snapshot.
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query!(
            "SELECT o.packet_id, p.sealed AS \"sealed?\" FROM outbox o \
             LEFT JOIN outbox_payloads p ON p.packet_id = o.packet_id \
             WHERE o.state = 'queued' AND o.next_attempt_at <= ?1 \
             ORDER BY o.next_attempt_at, o.queued_at, o.packet_id LIMIT ?2",
            now_ms,
            limit,
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut due = Vec::with_capacity(rows.len());
        for row in rows {
            let packet = PacketId::from_column("outbox.packet_id", &row.packet_id)?;
            // A queued packet always has its bytes; only acknowledged ones
            // are purged.
            let sealed = row.sealed.ok_or(StoreError::corrupt(
                "outbox_payloads.sealed",
                "missing on a queued packet",
            ))?;
            let entry = load_entry(&mut tx, packet).await?;
            due.push(DuePacket { entry, sealed });
        }
        tx.commit().await?;
        Ok(due)
    }

    /// Every queued packet with the time its next attempt is due, earliest
    /// first: how long the uploader may sleep.
    pub async fn queued_schedule(&self) -> Result<Vec<(PacketId, Timestamp)>, StoreError> {
        sqlx::query!(
            "SELECT packet_id, next_attempt_at FROM outbox WHERE state = 'queued' \
             ORDER BY next_attempt_at, queued_at, packet_id",
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|row| {
            Ok((
                PacketId::from_column("outbox.packet_id", &row.packet_id)?,
                Timestamp::from_unix_ms(row.next_attempt_at),
            ))
        })
        .collect()
    }

    /// The uploader starts sending `packet`.
    pub async fn mark_uploading(&self, packet: PacketId) -> Result<OutboxEntry, StoreError> {
        let mut tx = self.begin_write().await?;
        let entry = load_in_state(&mut tx, packet, &[OutboxState::Queued], "queued").await?;
        let now = self.now();
        enrollments::advance(&mut tx, entry.enrollment_id, Event::StartUpload, now).await?;
        let (state, now_ms, id_text) = (
            OutboxState::Uploading.as_str(),
            now.unix_ms(),
            packet.to_column(),
        );
        sqlx::query!(
            "UPDATE outbox SET state = ?1, attempts = attempts + 1, updated_at = ?2 \
             WHERE packet_id = ?3",
            state,
            now_ms,
            id_text,
        )
        .execute(&mut *tx)
        .await?;
        let entry = load_entry(&mut tx, packet).await?;
        tx.commit().await?;
        Ok(entry)
    }

    /// The upload failed (network, server error): the packet waits
    /// `retry_after` before its next attempt.
    pub async fn mark_upload_failed(
        &self,
        packet: PacketId,
        error: &str,
        retry_after: Duration,
    ) -> Result<OutboxEntry, StoreError> {
        let error = clean_reason(error);
        let mut tx = self.begin_write().await?;
        let entry = load_in_state(&mut tx, packet, &[OutboxState::Uploading], "uploading").await?;
        let now = self.now();
        enrollments::advance(&mut tx, entry.enrollment_id, Event::UploadFailed, now).await?;
        let next = now.saturating_add(retry_after);
        let (state, now_ms, next_ms, id_text) = (
            OutboxState::Queued.as_str(),
            now.unix_ms(),
            next.unix_ms(),
            packet.to_column(),
        );
        sqlx::query!(
            "UPDATE outbox SET state = ?1, last_error = ?2, next_attempt_at = ?3, updated_at = ?4 \
             WHERE packet_id = ?5",
            state,
            error,
            next_ms,
            now_ms,
            id_text,
        )
        .execute(&mut *tx)
        .await?;
        audit::append(
            &mut tx,
            now,
            Actor::System,
            AuditAction::UploadFailed,
            Some(&entry.enrollment_id.to_column()),
            &format!("packet {packet}, attempt {}: {error}", entry.attempts),
        )
        .await?;
        let entry = load_entry(&mut tx, packet).await?;
        tx.commit().await?;
        tracing::warn!(%packet, attempts = entry.attempts, "upload failed; retrying later");
        Ok(entry)
    }

    /// The platform acknowledged `packet` with `receipt`. The sealed bytes
    /// stay until the retention period has passed.
    pub async fn mark_acknowledged(
        &self,
        packet: PacketId,
        receipt: &[u8],
    ) -> Result<OutboxEntry, StoreError> {
        let mut tx = self.begin_write().await?;
        // Queued too: an upload whose answer was lost may be acknowledged
        // when the platform later reports the packet as received.
        let entry = load_in_state(
            &mut tx,
            packet,
            &[OutboxState::Uploading, OutboxState::Queued],
            "uploading or queued",
        )
        .await?;
        let now = self.now();
        enrollments::advance(&mut tx, entry.enrollment_id, Event::Acknowledge, now).await?;
        let (state, now_ms, id_text) = (
            OutboxState::Acknowledged.as_str(),
            now.unix_ms(),
            packet.to_column(),
        );
        sqlx::query!(
            "UPDATE outbox SET state = ?1, receipt = ?2, acknowledged_at = ?3, updated_at = ?3 \
             WHERE packet_id = ?4",
            state,
            receipt,
            now_ms,
            id_text,
        )
        .execute(&mut *tx)
        .await?;
        audit::append(
            &mut tx,
            now,
            Actor::System,
            AuditAction::UploadOk,
            Some(&entry.enrollment_id.to_column()),
            &format!("packet {packet}"),
        )
        .await?;
        let entry = load_entry(&mut tx, packet).await?;
        tx.commit().await?;
        tracing::info!(%packet, "packet acknowledged");
        Ok(entry)
    }

    /// The platform refused `packet`, for `reason`. It stays until a
    /// supervisor resubmits it.
    pub async fn mark_rejected(
        &self,
        packet: PacketId,
        reason: &str,
    ) -> Result<OutboxEntry, StoreError> {
        let reason = clean_reason(reason);
        let mut tx = self.begin_write().await?;
        let entry = load_in_state(&mut tx, packet, &[OutboxState::Uploading], "uploading").await?;
        let now = self.now();
        enrollments::advance(&mut tx, entry.enrollment_id, Event::PlatformRejects, now).await?;
        enrollments::set_review(&mut tx, entry.enrollment_id, None, Some(&reason)).await?;
        let (state, now_ms, id_text) = (
            OutboxState::Rejected.as_str(),
            now.unix_ms(),
            packet.to_column(),
        );
        sqlx::query!(
            "UPDATE outbox SET state = ?1, last_error = ?2, updated_at = ?3 WHERE packet_id = ?4",
            state,
            reason,
            now_ms,
            id_text,
        )
        .execute(&mut *tx)
        .await?;
        audit::append(
            &mut tx,
            now,
            Actor::System,
            AuditAction::UploadRejected,
            Some(&entry.enrollment_id.to_column()),
            &format!("packet {packet}: {reason}"),
        )
        .await?;
        let entry = load_entry(&mut tx, packet).await?;
        tx.commit().await?;
        tracing::warn!(%packet, "platform rejected the packet");
        Ok(entry)
    }

    /// A supervisor or administrator sends a refused packet again, e.g.
    /// once the platform has registered this station's key.
    pub async fn resubmit(&self, packet: PacketId, by: UserId) -> Result<OutboxEntry, StoreError> {
        let mut tx = self.begin_write().await?;
        require_role(&mut tx, by, "resubmit packets", may_resubmit).await?;
        let entry = load_in_state(&mut tx, packet, &[OutboxState::Rejected], "rejected").await?;
        let now = self.now();
        enrollments::advance(&mut tx, entry.enrollment_id, Event::Resubmit, now).await?;
        let (state, now_ms, id_text) = (
            OutboxState::Queued.as_str(),
            now.unix_ms(),
            packet.to_column(),
        );
        sqlx::query!(
            "UPDATE outbox SET state = ?1, next_attempt_at = ?2, updated_at = ?2 \
             WHERE packet_id = ?3",
            state,
            now_ms,
            id_text,
        )
        .execute(&mut *tx)
        .await?;
        audit::append(
            &mut tx,
            now,
            Actor::User(by),
            AuditAction::Resubmitted,
            Some(&entry.enrollment_id.to_column()),
            &format!("packet {packet}"),
        )
        .await?;
        let entry = load_entry(&mut tx, packet).await?;
        tx.commit().await?;
        Ok(entry)
    }

    /// After a crash or restart, uploads that were under way have no
    /// uploader any more: put them back in the queue, due now. Returns how
    /// many.
    pub async fn requeue_interrupted_uploads(&self) -> Result<u32, StoreError> {
        let mut tx = self.begin_write().await?;
        let stuck = sqlx::query_scalar!("SELECT packet_id FROM outbox WHERE state = 'uploading'")
            .fetch_all(&mut *tx)
            .await?;
        let now = self.now();
        let mut count = 0u32;
        for id_text in stuck {
            let packet = PacketId::from_column("outbox.packet_id", &id_text)?;
            let entry = load_entry(&mut tx, packet).await?;
            enrollments::advance(&mut tx, entry.enrollment_id, Event::UploadFailed, now).await?;
            let (state, now_ms) = (OutboxState::Queued.as_str(), now.unix_ms());
            sqlx::query!(
                "UPDATE outbox SET state = ?1, next_attempt_at = ?2, updated_at = ?2 \
                 WHERE packet_id = ?3",
                state,
                now_ms,
                id_text,
            )
            .execute(&mut *tx)
            .await?;
            audit::append(
                &mut tx,
                now,
                Actor::System,
                AuditAction::UploadInterrupted,
                Some(&entry.enrollment_id.to_column()),
                &format!("packet {packet}"),
            )
            .await?;
            count += 1;
        }
        tx.commit().await?;
        Ok(count)
    }

    pub async fn outbox_entry(&self, packet: PacketId) -> Result<OutboxEntry, StoreError> {
        load_entry(&mut *self.pool.acquire().await?, packet).await
    }

    /// Outbox entries without their bytes, newest first, at most `limit`:
    /// what the queue screen and `station queue list` show.
    pub async fn outbox_entries(&self, limit: u32) -> Result<Vec<OutboxEntry>, StoreError> {
        let limit = i64::from(limit);
        sqlx::query_as!(
            EntryRow,
            "SELECT packet_id, enrollment_id, station_id, state, attempts, last_error, \
             next_attempt_at, queued_at, updated_at, acknowledged_at, receipt, purged_at \
             FROM outbox ORDER BY queued_at DESC, packet_id LIMIT ?1",
            limit,
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(EntryRow::into_entry)
        .collect()
    }

    /// The sealed bytes of `packet`, or `None` once purged.
    pub async fn sealed_packet(&self, packet: PacketId) -> Result<Option<Vec<u8>>, StoreError> {
        let id_text = packet.to_column();
        let mut tx = self.pool.begin().await?;
        sqlx::query_scalar!("SELECT packet_id FROM outbox WHERE packet_id = ?1", id_text)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::UnknownPacket(packet))?;
        let sealed = sqlx::query_scalar!(
            "SELECT sealed FROM outbox_payloads WHERE packet_id = ?1",
            id_text
        )
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(sealed)
    }

    pub async fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        let rows = sqlx::query!("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")
            .fetch_all(&self.pool)
            .await?;
        let mut counts = OutboxCounts::default();
        for row in rows {
            let n = u64::try_from(row.n)
                .map_err(|_| StoreError::corrupt("outbox", "negative count"))?;
            match OutboxState::from_column("outbox.state", &row.state)? {
                OutboxState::Queued => counts.queued = n,
                OutboxState::Uploading => counts.uploading = n,
                OutboxState::Acknowledged => counts.acknowledged = n,
                OutboxState::Rejected => counts.rejected = n,
            }
        }
        Ok(counts)
    }
}

/// Sending a refused packet again is a judgement call: not for clerks.
fn may_resubmit(role: Role) -> bool {
    role.can_review() || role.can_administer()
}
