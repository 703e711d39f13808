//! The audit log: an append-only, hash-chained record of who did what.
//!
//! Each entry's `hash` is SHA-256 over a canonical encoding of its fields and
//! the previous entry's hash, so editing, removing, inserting or reordering
//! an entry breaks the chain at that entry, and [`Store::verify_audit`] says
//! where. Appends run inside the caller's `BEGIN IMMEDIATE` transaction:
//! SQLite then lets one writer at a time read the head and add to it, so
//! concurrent appends cannot fork the chain.
//!
//! The hashed encoding, in order: the 28 bytes `enrollment-station audit
//! v1\0`; `seq` and `at` (ms) as 8-byte big-endian signed integers; `actor`
//! and `action` as texts; `subject` as a 0 byte when absent, else a 1 byte
//! and the text; `detail` and `prev_hash` as texts. A text is its UTF-8
//! length as a 4-byte big-endian unsigned integer, then its bytes. Hashes
//! are stored as lowercase hex; the first entry's `prev_hash` is 64 zeros.
//!
//! The chain has no secret key: someone who can write the file can rebuild
//! it from the point they changed, and can cut entries off its end. Against
//! that the head ([`Store::audit_head`]) must be copied somewhere they
//! cannot reach (the platform, a printout) and compared later.
//!
//! Entries carry ids, states and short fixed texts, never personal data:
//! not a card holder's name, not an unknown login name (it might be a
//! password typed into the wrong field).

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::SqliteConnection;

use crate::Store;
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::ids::UserId;

/// `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Domain separation for the hashed encoding.
const HASH_CONTEXT: &[u8] = b"enrollment-station audit v1\0";

/// The longest `detail` kept, in characters; longer ones are cut.
pub const MAX_DETAIL_CHARS: usize = 200;

const SYSTEM_ACTOR: &str = "system";

/// Who did it: a signed-in user, or the station on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    User(UserId),
    System,
}

impl Actor {
    fn to_column(self) -> String {
        match self {
            Self::User(id) => id.to_column(),
            Self::System => SYSTEM_ACTOR.to_owned(),
        }
    }

    fn from_column(text: &str) -> Result<Self, StoreError> {
        if text == SYSTEM_ACTOR {
            Ok(Self::System)
        } else {
            UserId::from_column("audit_log.actor", text).map(Self::User)
        }
    }
}

impl From<UserId> for Actor {
    fn from(id: UserId) -> Self {
        Self::User(id)
    }
}

text_enum! {
    /// What happened.
    pub enum AuditAction {
        Login = "login",
        LoginFailed = "login_failed",
        /// An account was locked, or a login was refused because it is.
        LoginLocked = "login_locked",
        Logout = "logout",
        SessionExpired = "session_expired",
        UserCreated = "user_created",
        RoleChanged = "role_changed",
        UserDisabled = "user_disabled",
        UserEnabled = "user_enabled",
        PasswordReset = "password_reset",
        EnrollmentStarted = "enrollment_started",
        DocumentRead = "document_read",
        FaceCaptured = "face_captured",
        VoiceCaptured = "voice_captured",
        SubmittedForReview = "submitted_for_review",
        Approved = "approved",
        Rejected = "rejected",
        Sealed = "sealed",
        UploadOk = "upload_ok",
        UploadFailed = "upload_failed",
        UploadRejected = "upload_rejected",
        UploadInterrupted = "upload_interrupted",
        Resubmitted = "resubmitted",
        Purged = "purged",
        SettingsChanged = "settings_changed",
        /// The clerk stopped a long step (a chip read, a recording).
        StepCancelled = "step_cancelled",
        /// The clerk played the recorded voice sample back.
        VoicePlayedBack = "voice_played_back",
    }
}

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: Timestamp,
    pub actor: Actor,
    pub action: AuditAction,
    /// What it happened to, e.g. an enrollment or user id.
    pub subject: Option<String>,
    pub detail: String,
    /// Lowercase hex SHA-256 of the previous entry ([`GENESIS_HASH`] first).
    pub prev_hash: String,
    pub hash: String,
}

/// The newest entry's position and hash, to be kept outside the station.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditHead {
    pub seq: i64,
    pub hash: String,
}

/// The outcome of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum AuditVerification {
    /// Every entry links to the one before and matches its hash.
    Intact { entries: u64 },
    /// The first entry where the chain does not hold.
    Broken { seq: i64, problem: AuditProblem },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditProblem {
    /// No entry with this seq, though later ones exist: removed.
    Missing,
    /// A seq below the first expected one.
    OutOfSequence,
    /// `prev_hash` is not the previous entry's hash: inserted, removed or
    /// reordered.
    BrokenLink,
    /// The fields do not match `hash`: edited.
    HashMismatch,
}

/// The fields of one entry, as hashed.
struct Fields<'a> {
    seq: i64,
    at: i64,
    actor: &'a str,
    action: &'a str,
    subject: Option<&'a str>,
    detail: &'a str,
    prev_hash: &'a str,
}

impl Fields<'_> {
    /// SHA-256 over a canonical encoding: fixed-width integers and
    /// length-prefixed texts, so no two field lists encode alike.
    fn hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(HASH_CONTEXT);
        h.update(self.seq.to_be_bytes());
        h.update(self.at.to_be_bytes());
        for text in [self.actor, self.action] {
            put_text(&mut h, text);
        }
        match self.subject {
            None => h.update([0u8]),
            Some(subject) => {
                h.update([1u8]);
                put_text(&mut h, subject);
            }
        }
        put_text(&mut h, self.detail);
        put_text(&mut h, self.prev_hash);
        hex::encode(h.finalize())
    }
}

fn put_text(h: &mut Sha256, text: &str) {
    // Texts are capped far below 4 GiB by the store; a longer one (from a
    // tampered row) still hashes deterministically, saturated length and all.
    let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
    h.update(len.to_be_bytes());
    h.update(text.as_bytes());
}

/// A detail as stored: control characters blanked, at most
/// [`MAX_DETAIL_CHARS`] characters.
pub(crate) fn clean_detail(detail: &str) -> String {
    detail
        .chars()
        .take(MAX_DETAIL_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Appends one entry. `conn` must be inside a `BEGIN IMMEDIATE`
/// transaction, which is what keeps the chain linear.
pub(crate) async fn append(
    conn: &mut SqliteConnection,
    at: Timestamp,
    actor: Actor,
    action: AuditAction,
    subject: Option<&str>,
    detail: &str,
) -> Result<AuditEntry, StoreError> {
    let head = sqlx::query!("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    // The stored head is chained as text, unparsed: a damaged head must not
    // stop the station from logging; verification reports it.
    let (seq, prev_hash) = match head {
        None => (1, GENESIS_HASH.to_owned()),
        Some(row) => (
            row.seq
                .checked_add(1)
                .ok_or(StoreError::corrupt("audit_log.seq", "out of range"))?,
            row.hash,
        ),
    };
    let actor_text = actor.to_column();
    let detail = clean_detail(detail);
    let subject = subject.map(clean_detail);
    let hash = Fields {
        seq,
        at: at.unix_ms(),
        actor: &actor_text,
        action: action.as_str(),
        subject: subject.as_deref(),
        detail: &detail,
        prev_hash: &prev_hash,
    }
    .hash();
    let at_ms = at.unix_ms();
    let action_text = action.as_str();
    sqlx::query!(
        "INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        seq,
        at_ms,
        actor_text,
        action_text,
        subject,
        detail,
        prev_hash,
        hash,
    )
    .execute(&mut *conn)
    .await?;
    tracing::debug!(seq, action = action.as_str(), "audit entry appended");
    Ok(AuditEntry {
        seq,
        at,
        actor,
        action,
        subject,
        detail,
        prev_hash,
        hash,
    })
}

/// An entry as stored, before its texts are parsed.
struct AuditRow {
    seq: i64,
    at: i64,
    actor: String,
    action: String,
    subject: Option<String>,
    detail: String,
    prev_hash: String,
    hash: String,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StoreError;

    fn try_from(r: AuditRow) -> Result<Self, StoreError> {
        Ok(Self {
            seq: r.seq,
            at: Timestamp::from_unix_ms(r.at),
            actor: Actor::from_column(&r.actor)?,
            action: AuditAction::from_column("audit_log.action", &r.action)?,
            subject: r.subject,
            detail: r.detail,
            prev_hash: r.prev_hash,
            hash: r.hash,
        })
    }
}

/// Rows read per query while verifying, to bound memory.
const VERIFY_PAGE: i64 = 1000;

impl Store {
    /// Records something that happened outside the store's own operations
    /// (a settings screen, a device event). `detail` must not hold personal
    /// data; it is cut to [`MAX_DETAIL_CHARS`].
    pub async fn record_audit(
        &self,
        actor: Actor,
        action: AuditAction,
        subject: Option<&str>,
        detail: &str,
    ) -> Result<AuditEntry, StoreError> {
        let mut tx = self.begin_write().await?;
        let entry = append(&mut tx, self.now(), actor, action, subject, detail).await?;
        tx.commit().await?;
        Ok(entry)
    }

    /// Entries with `seq` above `after`, oldest first, at most `limit`.
    pub async fn audit_entries(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = i64::from(limit);
        sqlx::query_as!(
            AuditRow,
            "SELECT seq, at, actor, action, subject, detail, prev_hash, hash \
             FROM audit_log WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            after,
            limit,
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(AuditEntry::try_from)
        .collect()
    }

    /// One page of the log for reading, newest first: entries with `seq`
    /// below `before` (all when `None`), by `actor` and of `action` when
    /// given, at most `limit`.
    pub async fn audit_page(
        &self,
        before: Option<i64>,
        actor: Option<Actor>,
        action: Option<AuditAction>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let before = before.unwrap_or(i64::MAX);
        let actor = actor.map(Actor::to_column);
        let action = action.map(AuditAction::as_str);
        let limit = i64::from(limit);
        sqlx::query_as!(
            AuditRow,
            "SELECT seq, at, actor, action, subject, detail, prev_hash, hash \
             FROM audit_log WHERE seq < ?1 AND (?2 IS NULL OR actor = ?2) \
             AND (?3 IS NULL OR action = ?3) ORDER BY seq DESC LIMIT ?4",
            before,
            actor,
            action,
            limit,
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(AuditEntry::try_from)
        .collect()
    }

    /// The newest entry, to be copied off the station as an anchor.
    pub async fn audit_head(&self) -> Result<Option<AuditHead>, StoreError> {
        Ok(
            sqlx::query!("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await?
                .map(|r| AuditHead {
                    seq: r.seq,
                    hash: r.hash,
                }),
        )
    }

    /// Walks the whole chain from the first entry and reports the first one
    /// that does not hold.
    pub async fn verify_audit(&self) -> Result<AuditVerification, StoreError> {
        // One read transaction: a consistent snapshot while appends go on.
        let mut tx = self.pool.begin().await?;
        let mut expected_seq: i64 = 1;
        let mut prev_hash = GENESIS_HASH.to_owned();
        let mut entries: u64 = 0;
        let mut after = i64::MIN;
        loop {
            let rows = sqlx::query!(
                "SELECT seq, at, actor, action, subject, detail, prev_hash, hash \
                 FROM audit_log WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                after,
                VERIFY_PAGE,
            )
            .fetch_all(&mut *tx)
            .await?;
            let Some(last) = rows.last() else { break };
            after = last.seq;
            for r in &rows {
                let broken = |problem| AuditVerification::Broken {
                    seq: r.seq,
                    problem,
                };
                if r.seq < expected_seq {
                    return Ok(broken(AuditProblem::OutOfSequence));
                }
                if r.seq > expected_seq {
                    return Ok(AuditVerification::Broken {
                        seq: expected_seq,
                        problem: AuditProblem::Missing,
                    });
                }
                if r.prev_hash != prev_hash {
                    return Ok(broken(AuditProblem::BrokenLink));
                }
                let computed = Fields {
                    seq: r.seq,
                    at: r.at,
                    actor: &r.actor,
                    action: &r.action,
                    subject: r.subject.as_deref(),
                    detail: &r.detail,
                    prev_hash: &r.prev_hash,
                }
                .hash();
                if computed != r.hash {
                    return Ok(broken(AuditProblem::HashMismatch));
                }
                prev_hash.clone_from(&r.hash);
                entries += 1;
                expected_seq = expected_seq.saturating_add(1);
            }
        }
        tx.commit().await?;
        if entries == 0 {
            tracing::debug!("audit log is empty");
        }
        Ok(AuditVerification::Intact { entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>(detail: &'a str, subject: Option<&'a str>) -> Fields<'a> {
        Fields {
            seq: 1,
            at: 2,
            actor: "system",
            action: "login",
            subject,
            detail,
            prev_hash: GENESIS_HASH,
        }
    }

    #[test]
    fn encoding_is_unambiguous() {
        // Moving a character between fields, or an absent versus empty
        // subject, must change the hash.
        assert_ne!(
            fields("ab", Some("c")).hash(),
            fields("b", Some("ac")).hash()
        );
        assert_ne!(fields("", None).hash(), fields("", Some("")).hash());
        assert_eq!(fields("x", None).hash(), fields("x", None).hash());
        assert_eq!(fields("x", None).hash().len(), 64);
    }

    #[test]
    fn details_are_cleaned_and_capped() {
        assert_eq!(clean_detail("a\nb\u{7}"), "a b ");
        assert_eq!(
            clean_detail(&"é".repeat(500)).chars().count(),
            MAX_DETAIL_CHARS
        );
    }

    #[test]
    fn actions_round_trip_as_text() {
        for action in AuditAction::ALL {
            assert_eq!(
                AuditAction::from_column("t", action.as_str()).unwrap(),
                *action
            );
        }
        assert!(AuditAction::from_column("t", "nonsense").is_err());
    }

    #[tokio::test]
    async fn pages_run_newest_first_and_filter_by_actor_and_action() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join(crate::DATABASE_FILE))
            .await
            .unwrap();
        let admin = store
            .create_first_administrator("admin", "admin-password-1")
            .await
            .unwrap();
        for i in 0..5 {
            let action = if i % 2 == 0 {
                AuditAction::SettingsChanged
            } else {
                AuditAction::Purged
            };
            store
                .record_audit(Actor::System, action, None, &format!("entry {i}"))
                .await
                .unwrap();
        }
        let all = store.audit_page(None, None, None, 100).await.unwrap();
        let seqs: Vec<i64> = all.iter().map(|e| e.seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");
        assert_eq!(all.first().unwrap().detail, "entry 4");

        let page = store.audit_page(None, None, None, 2).await.unwrap();
        assert_eq!(page.len(), 2);
        let next = store
            .audit_page(Some(page[1].seq), None, None, 2)
            .await
            .unwrap();
        assert_eq!(next[0].seq, page[1].seq - 1);

        let purged = store
            .audit_page(None, Some(Actor::System), Some(AuditAction::Purged), 100)
            .await
            .unwrap();
        let details: Vec<&str> = purged.iter().map(|e| e.detail.as_str()).collect();
        assert_eq!(details, ["entry 3", "entry 1"]);
        store
            .create_user(admin.id, "clerk", "clerk-password-1", crate::Role::Clerk)
            .await
            .unwrap();
        let by_admin = store
            .audit_page(None, Some(Actor::User(admin.id)), None, 100)
            .await
            .unwrap();
        assert_eq!(by_admin.len(), 1);
        assert_eq!(by_admin[0].action, AuditAction::UserCreated);
    }
}
