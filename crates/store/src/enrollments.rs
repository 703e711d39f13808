//! Enrollments as the store keeps them: id, workflow state, who enrolled,
//! who reviewed, when, and why a rejection happened. Nothing about the
//! person: what was captured travels only inside the sealed packet.
//!
//! Every state change goes through [`EnrollmentState::advance`], so the
//! store refuses what the workflow refuses, and the role rules are enforced
//! here from the users table: only the enrollment's clerk records its
//! steps, only a supervisor reviews, and never their own enrollment.

use enrollment::{EnrollmentState, Event};
use serde::Serialize;
use sqlx::SqliteConnection;

use crate::audit::{self, Actor, AuditAction};
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::ids::{EnrollmentId, UserId, new_uuid};
use crate::users::{Role, require_role};
use crate::{Store, retention};

/// The longest reason kept, in characters.
pub const MAX_REASON_CHARS: usize = 200;

/// One enrollment's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Enrollment {
    pub id: EnrollmentId,
    pub state: EnrollmentState,
    pub clerk_id: UserId,
    /// Who approved or rejected it.
    pub supervisor_id: Option<UserId>,
    /// Why it was rejected, by the supervisor or the platform.
    pub reason: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A step the clerk records while enrolling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClerkStep {
    ReadDocument,
    CaptureFace,
    CaptureVoice,
    SubmitForReview,
}

impl ClerkStep {
    fn event(self) -> Event {
        match self {
            Self::ReadDocument => Event::ReadDocument,
            Self::CaptureFace => Event::CaptureFace,
            Self::CaptureVoice => Event::CaptureVoice,
            Self::SubmitForReview => Event::SubmitForReview,
        }
    }

    fn audit_action(self) -> AuditAction {
        match self {
            Self::ReadDocument => AuditAction::DocumentRead,
            Self::CaptureFace => AuditAction::FaceCaptured,
            Self::CaptureVoice => AuditAction::VoiceCaptured,
            Self::SubmitForReview => AuditAction::SubmittedForReview,
        }
    }
}

/// The state as stored: the same snake_case as its serde form.
pub(crate) fn state_text(state: EnrollmentState) -> &'static str {
    use EnrollmentState as S;
    match state {
        S::Started => "started",
        S::DocumentRead => "document_read",
        S::FaceCaptured => "face_captured",
        S::VoiceCaptured => "voice_captured",
        S::ReadyForReview => "ready_for_review",
        S::Approved => "approved",
        S::Rejected => "rejected",
        S::Queued => "queued",
        S::Uploading => "uploading",
        S::Acknowledged => "acknowledged",
        S::RejectedByPlatform => "rejected_by_platform",
        S::Purged => "purged",
    }
}

const ALL_STATES: [EnrollmentState; 12] = {
    use EnrollmentState as S;
    [
        S::Started,
        S::DocumentRead,
        S::FaceCaptured,
        S::VoiceCaptured,
        S::ReadyForReview,
        S::Approved,
        S::Rejected,
        S::Queued,
        S::Uploading,
        S::Acknowledged,
        S::RejectedByPlatform,
        S::Purged,
    ]
};

fn parse_state(text: &str) -> Result<EnrollmentState, StoreError> {
    ALL_STATES
        .into_iter()
        .find(|s| state_text(*s) == text)
        .ok_or(StoreError::corrupt("enrollments.state", "unknown state"))
}

/// A reason as stored: control characters blanked, capped in length.
pub(crate) fn clean_reason(reason: &str) -> String {
    reason
        .trim()
        .chars()
        .take(MAX_REASON_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

struct EnrollmentRow {
    id: String,
    state: String,
    clerk_id: String,
    supervisor_id: Option<String>,
    reason: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl EnrollmentRow {
    fn into_enrollment(self) -> Result<Enrollment, StoreError> {
        Ok(Enrollment {
            id: EnrollmentId::from_column("enrollments.id", &self.id)?,
            state: parse_state(&self.state)?,
            clerk_id: UserId::from_column("enrollments.clerk_id", &self.clerk_id)?,
            supervisor_id: self
                .supervisor_id
                .map(|s| UserId::from_column("enrollments.supervisor_id", &s))
                .transpose()?,
            reason: self.reason,
            created_at: Timestamp::from_unix_ms(self.created_at),
            updated_at: Timestamp::from_unix_ms(self.updated_at),
        })
    }
}

pub(crate) async fn load(
    conn: &mut SqliteConnection,
    id: EnrollmentId,
) -> Result<Enrollment, StoreError> {
    let id_text = id.to_column();
    sqlx::query_as!(
        EnrollmentRow,
        "SELECT id, state, clerk_id, supervisor_id, reason, created_at, updated_at \
         FROM enrollments WHERE id = ?1",
        id_text,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::UnknownEnrollment(id))?
    .into_enrollment()
}

/// Moves an enrollment on by `event`, if the workflow allows it, and
/// returns it as it is now. The caller's transaction makes it stick.
pub(crate) async fn advance(
    conn: &mut SqliteConnection,
    id: EnrollmentId,
    event: Event,
    now: Timestamp,
) -> Result<Enrollment, StoreError> {
    let mut enrollment = load(conn, id).await?;
    let next = enrollment.state.advance(event)?;
    let (next_text, now_ms, id_text) = (state_text(next), now.unix_ms(), id.to_column());
    sqlx::query!(
        "UPDATE enrollments SET state = ?1, updated_at = ?2 WHERE id = ?3",
        next_text,
        now_ms,
        id_text,
    )
    .execute(&mut *conn)
    .await?;
    enrollment.state = next;
    enrollment.updated_at = now;
    Ok(enrollment)
}

/// Records the reviewer and, for a rejection, the reason.
pub(crate) async fn set_review(
    conn: &mut SqliteConnection,
    id: EnrollmentId,
    supervisor: Option<UserId>,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    let id_text = id.to_column();
    let supervisor_text = supervisor.map(UserId::to_column);
    sqlx::query!(
        "UPDATE enrollments SET supervisor_id = COALESCE(?1, supervisor_id), reason = ?2 \
         WHERE id = ?3",
        supervisor_text,
        reason,
        id_text,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    /// A clerk (or supervisor) starts an enrollment, unless intake is
    /// frozen ([`Store::freeze_reason`]).
    pub async fn start_enrollment(&self, clerk: UserId) -> Result<Enrollment, StoreError> {
        let mut tx = self.begin_write().await?;
        require_role(&mut tx, clerk, "enroll", Role::can_enroll).await?;
        let now = self.now();
        if let Some(reason) = retention::freeze_reason_in(&mut tx, now, &self.config.freeze).await?
        {
            return Err(StoreError::Frozen(reason));
        }
        let id = EnrollmentId::from_uuid(new_uuid());
        let state = EnrollmentState::Started;
        let (id_text, state_str, clerk_text, now_ms) = (
            id.to_column(),
            state_text(state),
            clerk.to_column(),
            now.unix_ms(),
        );
        sqlx::query!(
            "INSERT INTO enrollments (id, state, clerk_id, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?4)",
            id_text,
            state_str,
            clerk_text,
            now_ms,
        )
        .execute(&mut *tx)
        .await?;
        audit::append(
            &mut tx,
            now,
            Actor::User(clerk),
            AuditAction::EnrollmentStarted,
            Some(&id_text),
            "",
        )
        .await?;
        tx.commit().await?;
        Ok(Enrollment {
            id,
            state,
            clerk_id: clerk,
            supervisor_id: None,
            reason: None,
            created_at: now,
            updated_at: now,
        })
    }

    /// The enrollment's clerk records a step: document read, face or voice
    /// captured, submitted for review. `detail` is the step's outcome for
    /// the audit (verdicts and numbers, never personal data).
    pub async fn record_step(
        &self,
        id: EnrollmentId,
        clerk: UserId,
        step: ClerkStep,
        detail: &str,
    ) -> Result<Enrollment, StoreError> {
        let mut tx = self.begin_write().await?;
        require_role(&mut tx, clerk, "enroll", Role::can_enroll).await?;
        let current = load(&mut tx, id).await?;
        if current.clerk_id != clerk {
            return Err(StoreError::NotTheClerk {
                action: "record its steps",
            });
        }
        let now = self.now();
        let enrollment = advance(&mut tx, id, step.event(), now).await?;
        audit::append(
            &mut tx,
            now,
            Actor::User(clerk),
            step.audit_action(),
            Some(&id.to_column()),
            detail,
        )
        .await?;
        tx.commit().await?;
        Ok(enrollment)
    }

    /// A supervisor approves an enrollment that is ready for review. A
    /// clerk cannot, and nobody approves an enrollment they carried out.
    pub async fn approve(
        &self,
        id: EnrollmentId,
        supervisor: UserId,
    ) -> Result<Enrollment, StoreError> {
        let mut tx = self.begin_write().await?;
        require_role(&mut tx, supervisor, "approve", Role::can_review).await?;
        let current = load(&mut tx, id).await?;
        if current.clerk_id == supervisor {
            tracing::warn!(enrollment = %id, "self-approval refused");
            return Err(StoreError::SelfApproval);
        }
        let now = self.now();
        let mut enrollment = advance(&mut tx, id, Event::Approve, now).await?;
        set_review(&mut tx, id, Some(supervisor), None).await?;
        enrollment.supervisor_id = Some(supervisor);
        enrollment.reason = None;
        audit::append(
            &mut tx,
            now,
            Actor::User(supervisor),
            AuditAction::Approved,
            Some(&id.to_column()),
            "",
        )
        .await?;
        tx.commit().await?;
        Ok(enrollment)
    }

    /// A supervisor rejects an enrollment that is ready for review.
    /// `reason` is short and must not hold personal data.
    pub async fn reject(
        &self,
        id: EnrollmentId,
        supervisor: UserId,
        reason: &str,
    ) -> Result<Enrollment, StoreError> {
        let reason = clean_reason(reason);
        let mut tx = self.begin_write().await?;
        require_role(&mut tx, supervisor, "reject", Role::can_review).await?;
        let now = self.now();
        let mut enrollment = advance(&mut tx, id, Event::Reject, now).await?;
        set_review(&mut tx, id, Some(supervisor), Some(&reason)).await?;
        enrollment.supervisor_id = Some(supervisor);
        enrollment.reason = Some(reason.clone());
        audit::append(
            &mut tx,
            now,
            Actor::User(supervisor),
            AuditAction::Rejected,
            Some(&id.to_column()),
            &reason,
        )
        .await?;
        tx.commit().await?;
        Ok(enrollment)
    }

    pub async fn enrollment(&self, id: EnrollmentId) -> Result<Enrollment, StoreError> {
        load(&mut *self.pool.acquire().await?, id).await
    }

    /// Enrollments in `state`, oldest first, at most `limit`: e.g. the
    /// supervisor's review queue.
    pub async fn enrollments_in_state(
        &self,
        state: EnrollmentState,
        limit: u32,
    ) -> Result<Vec<Enrollment>, StoreError> {
        let (state_str, limit) = (state_text(state), i64::from(limit));
        sqlx::query_as!(
            EnrollmentRow,
            "SELECT id, state, clerk_id, supervisor_id, reason, created_at, updated_at \
             FROM enrollments WHERE state = ?1 ORDER BY created_at, id LIMIT ?2",
            state_str,
            limit,
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(EnrollmentRow::into_enrollment)
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_text_matches_serde_and_round_trips() {
        for s in ALL_STATES {
            assert_eq!(parse_state(state_text(s)).unwrap(), s);
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", state_text(s))
            );
        }
        assert!(parse_state("Started").is_err());
    }
}
