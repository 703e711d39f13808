//! The audit log as supervisors read it in the window: one page at a time,
//! newest first, filtered by who and what, with the verdict of the hash
//! chain (the store's own verification, as `station audit verify`).
//! Actors are shown by user name; entries hold no personal data.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use store::{Actor, AuditAction, AuditHead, AuditVerification, Store, UserId};
use ts_rs::TS;

use crate::accounts::store_failure;
use crate::failure::{Code, Failure};

/// The actor name of entries the station made on its own.
pub const SYSTEM_ACTOR: &str = "system";

/// Which page, and which entries.
#[derive(Debug, Clone, Default, Deserialize, TS)]
pub struct AuditQuery {
    /// Entries older than this seq (the previous page's `next_before`);
    /// none: the newest.
    #[ts(type = "number | null")]
    pub before: Option<i64>,
    /// A user name, or `system`.
    pub actor: Option<String>,
    /// An action's text, e.g. `login_failed`.
    pub action: Option<String>,
}

/// One entry as the window lists it.
#[derive(Debug, Clone, Serialize, TS)]
pub struct AuditLine {
    #[ts(type = "number")]
    pub seq: i64,
    #[ts(type = "number")]
    pub at_unix_ms: i64,
    /// The user's name, or `system`.
    pub actor: String,
    pub action: AuditAction,
    pub subject: Option<String>,
    pub detail: String,
}

/// Whether the hash chain holds.
#[derive(Debug, Clone, Serialize, TS)]
pub struct AuditChain {
    pub intact: bool,
    /// Entries walked, when intact.
    #[ts(type = "number | null")]
    pub entries: Option<u64>,
    /// The first entry that does not hold, when broken.
    #[ts(type = "number | null")]
    pub broken_at: Option<i64>,
    /// What is wrong there: missing, out_of_sequence, broken_link,
    /// hash_mismatch.
    pub problem: Option<String>,
}

/// One page of the log.
#[derive(Debug, Clone, Serialize, TS)]
pub struct AuditView {
    pub chain: AuditChain,
    pub lines: Vec<AuditLine>,
    /// `before` for the next (older) page; none on the last.
    #[ts(type = "number | null")]
    pub next_before: Option<i64>,
    /// Every name the actor filter takes.
    pub actors: Vec<String>,
    /// Every action the action filter takes.
    pub actions: Vec<AuditAction>,
}

/// How long a verdict on the chain stands while no entry is added.
pub const CHAIN_VERDICT_FRESH: Duration = Duration::from_secs(60);

/// The chain's last verdict, reused while the log's newest entry is the
/// same and the verdict is younger than [`CHAIN_VERDICT_FRESH`]: walking
/// the whole chain for every page costs seconds on a year's log, and a
/// supervisor pages through many. Any new entry, or the minute passing,
/// walks it again, so an edit is seen within a minute.
#[derive(Debug, Default)]
pub struct ChainVerdicts {
    last: Mutex<Option<(AuditHead, Instant, AuditChain)>>,
}

impl ChainVerdicts {
    pub async fn verdict(&self, store: &Store) -> Result<AuditChain, Failure> {
        let head = store.audit_head().await.map_err(store_failure)?;
        if let (Some(head), Some((seen, at, chain))) = (&head, &*self.lock())
            && head == seen
            && at.elapsed() < CHAIN_VERDICT_FRESH
        {
            return Ok(chain.clone());
        }
        let chain = walk_chain(store).await?;
        *self.lock() = head.map(|h| (h, Instant::now(), chain.clone()));
        Ok(chain)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(AuditHead, Instant, AuditChain)>> {
        // A poisoned cache only loses a verdict; the chain is walked again.
        self.last.lock().unwrap_or_else(|poisoned| {
            let mut guard = poisoned.into_inner();
            *guard = None;
            guard
        })
    }
}

async fn walk_chain(store: &Store) -> Result<AuditChain, Failure> {
    Ok(match store.verify_audit().await.map_err(store_failure)? {
        AuditVerification::Intact { entries } => AuditChain {
            intact: true,
            entries: Some(entries),
            broken_at: None,
            problem: None,
        },
        AuditVerification::Broken { seq, problem } => AuditChain {
            intact: false,
            entries: None,
            broken_at: Some(seq),
            problem: Some(crate::wire_name(&problem)),
        },
    })
}

/// One page of `rows` entries for `query`, and the chain's verdict.
pub async fn audit_view(
    store: &Store,
    query: &AuditQuery,
    rows: u32,
    verdicts: &ChainVerdicts,
) -> Result<AuditView, Failure> {
    let users = store.users().await.map_err(store_failure)?;
    let names: HashMap<UserId, String> = users.iter().map(|u| (u.id, u.username.clone())).collect();
    let actor = match query.actor.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(SYSTEM_ACTOR) => Some(Actor::System),
        Some(name) => Some(
            users
                .iter()
                .find(|u| u.username == name)
                .map(|u| Actor::User(u.id))
                .ok_or_else(|| Failure::new(Code::InvalidArgument, "no such user in the log"))?,
        ),
    };
    let action = match query.action.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(
            AuditAction::ALL
                .iter()
                .copied()
                .find(|a| a.as_str() == text)
                .ok_or_else(|| Failure::new(Code::InvalidArgument, "no such audit action"))?,
        ),
    };
    // One more than shown says whether an older page exists.
    let mut entries = store
        .audit_page(query.before, actor, action, rows.saturating_add(1))
        .await
        .map_err(store_failure)?;
    let more = entries.len() > rows as usize;
    entries.truncate(rows as usize);
    let lines: Vec<AuditLine> = entries
        .into_iter()
        .map(|e| AuditLine {
            seq: e.seq,
            at_unix_ms: e.at.unix_ms(),
            actor: match e.actor {
                Actor::System => SYSTEM_ACTOR.to_owned(),
                Actor::User(id) => names.get(&id).cloned().unwrap_or_else(|| id.to_string()),
            },
            action: e.action,
            subject: e.subject,
            detail: e.detail,
        })
        .collect();
    let chain = verdicts.verdict(store).await?;
    let mut actors: Vec<String> = users.into_iter().map(|u| u.username).collect();
    actors.push(SYSTEM_ACTOR.to_owned());
    Ok(AuditView {
        chain,
        next_before: if more {
            lines.last().map(|l| l.seq)
        } else {
            None
        },
        lines,
        actors,
        actions: AuditAction::ALL.to_vec(),
    })
}
