//! What the station keeps, for how long, and when it stops taking work.
//!
//! A sealed packet is deleted a while after the platform acknowledged it
//! ([`RetentionPolicy`](crate::RetentionPolicy)); its outbox row and
//! receipt stay as the record that it was delivered. New enrollments are
//! frozen while too many wait for a supervisor or a packet has been stuck
//! unsent for too long ([`FreezePolicy`]), so a station cut off from the
//! platform or from its supervisor does not pile up personal data.

use std::fmt;
use std::time::Duration;

use enrollment::{EnrollmentState, Event};
use serde::Serialize;
use sqlx::SqliteConnection;

use crate::Store;
use crate::audit::{self, Actor, AuditAction};
use crate::clock::Timestamp;
use crate::config::FreezePolicy;
use crate::enrollments::{self, state_text};
use crate::error::StoreError;
use crate::ids::{EnrollmentId, PacketId};

/// Why new enrollments are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum FreezeReason {
    /// More enrollments wait for review than the policy allows.
    TooManyAwaitingApproval { waiting: u64, limit: u32 },
    /// The oldest packet not yet delivered was queued too long ago.
    UnsentPacketTooOld {
        packet: PacketId,
        queued_at: Timestamp,
        max_age: Duration,
    },
}

impl fmt::Display for FreezeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooManyAwaitingApproval { waiting, limit } => write!(
                f,
                "{waiting} enrollments are waiting for a supervisor (at most {limit})"
            ),
            Self::UnsentPacketTooOld { max_age, .. } => {
                let secs = max_age.as_secs();
                if secs >= 86_400 && secs % 86_400 == 0 {
                    write!(
                        f,
                        "a packet has not reached the platform for more than {} days",
                        secs / 86_400
                    )
                } else {
                    write!(
                        f,
                        "a packet has not reached the platform for more than {secs} seconds"
                    )
                }
            }
        }
    }
}

/// The freeze check, inside the caller's transaction so that starting an
/// enrollment and checking for a freeze see the same data.
pub(crate) async fn freeze_reason_in(
    conn: &mut SqliteConnection,
    now: Timestamp,
    policy: &FreezePolicy,
) -> Result<Option<FreezeReason>, StoreError> {
    // A stuck outbox is reported first: it is the one a supervisor cannot
    // clear by reviewing.
    let oldest = sqlx::query!(
        "SELECT packet_id, queued_at FROM outbox WHERE state IN ('queued', 'uploading') \
         ORDER BY queued_at, packet_id LIMIT 1"
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = oldest {
        let queued_at = Timestamp::from_unix_ms(row.queued_at);
        if queued_at < now.saturating_sub(policy.max_unsent_age) {
            return Ok(Some(FreezeReason::UnsentPacketTooOld {
                packet: PacketId::from_column("outbox.packet_id", &row.packet_id)?,
                queued_at,
                max_age: policy.max_unsent_age,
            }));
        }
    }
    let review = state_text(EnrollmentState::ReadyForReview);
    let waiting = sqlx::query_scalar!("SELECT COUNT(*) FROM enrollments WHERE state = ?1", review)
        .fetch_one(&mut *conn)
        .await?;
    let waiting =
        u64::try_from(waiting).map_err(|_| StoreError::corrupt("enrollments", "negative count"))?;
    if waiting > u64::from(policy.max_awaiting_approval) {
        return Ok(Some(FreezeReason::TooManyAwaitingApproval {
            waiting,
            limit: policy.max_awaiting_approval,
        }));
    }
    Ok(None)
}

impl Store {
    /// Why new enrollments are blocked now, or `None` if they are not.
    pub async fn freeze_reason(&self) -> Result<Option<FreezeReason>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        freeze_reason_in(&mut conn, self.now(), &self.config.freeze).await
    }

    /// Deletes the sealed bytes of packets acknowledged longer ago than the
    /// retention period, moves their enrollments to `purged` and logs each.
    /// Returns the packets purged.
    pub async fn purge_acknowledged_payloads(&self) -> Result<Vec<PacketId>, StoreError> {
        let mut tx = self.begin_write().await?;
        let now = self.now();
        let cutoff = now
            .saturating_sub(self.config.retention.purge_acknowledged_after)
            .unix_ms();
        let rows = sqlx::query!(
            "SELECT packet_id, enrollment_id FROM outbox \
             WHERE state = 'acknowledged' AND purged_at IS NULL AND acknowledged_at <= ?1 \
             ORDER BY acknowledged_at, packet_id",
            cutoff,
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut purged = Vec::with_capacity(rows.len());
        for row in rows {
            let packet = PacketId::from_column("outbox.packet_id", &row.packet_id)?;
            let enrollment = EnrollmentId::from_column("outbox.enrollment_id", &row.enrollment_id)?;
            let now_ms = now.unix_ms();
            // With secure_delete on, SQLite overwrites the freed pages.
            sqlx::query!(
                "DELETE FROM outbox_payloads WHERE packet_id = ?1",
                row.packet_id,
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query!(
                "UPDATE outbox SET purged_at = ?1, updated_at = ?1 WHERE packet_id = ?2",
                now_ms,
                row.packet_id,
            )
            .execute(&mut *tx)
            .await?;
            enrollments::advance(&mut tx, enrollment, Event::Purge, now).await?;
            audit::append(
                &mut tx,
                now,
                Actor::System,
                AuditAction::Purged,
                Some(&row.enrollment_id),
                &format!("packet {packet}: sealed payload deleted after retention"),
            )
            .await?;
            purged.push(packet);
        }
        tx.commit().await?;
        if !purged.is_empty() {
            tracing::info!(count = purged.len(), "purged acknowledged packet payloads");
        }
        Ok(purged)
    }
}
