//! `station queue` and `station audit`: what waits in the outbox, and
//! whether the audit log is intact. Neither shows anything personal: the
//! packets are sealed, and the log holds ids and states only.

use clap::Subcommand;
use enrollment::packet::SealedPacket;
use serde::Serialize;
use serde_json::{Value, json};
use store::{AuditVerification, OutboxCounts, OutboxEntry, OutboxState, PacketId, Store};
use ts_rs::TS;
use zeroize::Zeroizing;

use crate::accounts::{Passwords, open_store, sign_in, store_failure};
use crate::failure::{Code, Failure};
use crate::paths::StationPaths;

/// The `station queue` subcommands.
#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// The packets in the outbox, newest first.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// One packet: its state, attempts, the platform's reason if it
    /// refused it, and header.
    Show {
        /// The packet id, as `station queue list` shows it.
        id: String,
    },
    /// Queue a packet the platform rejected again, once the cause is
    /// corrected. A supervisor or administrator signs in (password in
    /// STATION_USER_PASSWORD or on standard input).
    Resubmit {
        /// The packet id, as `station queue list` shows it.
        id: String,
        /// Who resubmits: a supervisor or an administrator.
        #[arg(long)]
        user: String,
    },
}

/// The `station audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain; a broken chain is a result (verdict `broken`),
    /// not an error.
    Verify,
}

/// One packet in the outbox as lists show it: ids, state and times only.
#[derive(Debug, Clone, Serialize, TS)]
pub struct PacketRow {
    pub id: String,
    pub enrollment_id: String,
    /// The station id the packet was sealed under.
    pub station_id: String,
    pub state: OutboxState,
    pub attempts: u32,
    /// The last upload error, or the platform's reason for refusing.
    pub last_error: Option<String>,
    #[ts(type = "number")]
    pub queued_at_unix_ms: i64,
    #[ts(type = "number")]
    pub next_attempt_at_unix_ms: i64,
    #[ts(type = "number | null")]
    pub acknowledged_at_unix_ms: Option<i64>,
    pub purged: bool,
}

impl From<&OutboxEntry> for PacketRow {
    fn from(e: &OutboxEntry) -> Self {
        Self {
            id: e.packet_id.to_string(),
            enrollment_id: e.enrollment_id.to_string(),
            station_id: e.station_id.to_string(),
            state: e.state,
            attempts: e.attempts,
            last_error: e.last_error.clone(),
            queued_at_unix_ms: e.queued_at.unix_ms(),
            next_attempt_at_unix_ms: e.next_attempt_at.unix_ms(),
            acknowledged_at_unix_ms: e.acknowledged_at.map(|t| t.unix_ms()),
            purged: e.purged_at.is_some(),
        }
    }
}

/// The outbox at a glance: counts per state and the newest packets.
#[derive(Debug, Clone, Serialize, TS)]
pub struct QueueView {
    pub counts: OutboxCounts,
    pub packets: Vec<PacketRow>,
}

/// The newest `limit` packets and the counts.
pub async fn queue_view(store: &Store, limit: u32) -> Result<QueueView, Failure> {
    let entries = store.outbox_entries(limit).await.map_err(store_failure)?;
    let counts = store.outbox_counts().await.map_err(store_failure)?;
    Ok(QueueView {
        counts,
        packets: entries.iter().map(PacketRow::from).collect(),
    })
}

fn entry_json(e: &OutboxEntry) -> Value {
    json!(PacketRow::from(e))
}

pub async fn run_queue(command: QueueCommand, paths: &StationPaths) -> Result<Value, Failure> {
    let store = open_store(paths).await?;
    let result = match command {
        QueueCommand::List { limit } => queue_view(&store, limit).await.map(|v| json!(v)),
        QueueCommand::Show { id } => show(&store, &id).await,
        QueueCommand::Resubmit { id, user } => resubmit(&store, &id, &user).await,
    };
    store.close().await;
    result
}

pub(crate) fn packet_id(id: &str) -> Result<PacketId, Failure> {
    uuid::Uuid::parse_str(id.trim())
        .map(PacketId::from_uuid)
        .map_err(|e| Failure::new(Code::InvalidArgument, format!("packet id: {e}")))
}

async fn resubmit(store: &store::Store, id: &str, user: &str) -> Result<Value, Failure> {
    let packet = packet_id(id)?;
    // Checked before anyone signs in: a wrong id costs no login.
    store.outbox_entry(packet).await.map_err(store_failure)?;
    let password = Passwords::default().get(Some("STATION_USER_PASSWORD"), "the password")?;
    let entry = resubmit_as(store, packet, user, password).await?;
    Ok(json!({ "packet": entry_json(&entry) }))
}

/// A supervisor or administrator, signed in for this one action, queues a
/// rejected packet again (audited by the store); `station queue resubmit`
/// and the window's queue both come here.
pub async fn resubmit_as(
    store: &Store,
    packet: PacketId,
    user: &str,
    password: Zeroizing<String>,
) -> Result<OutboxEntry, Failure> {
    let session = sign_in(store, user, &password, "resubmit packets", |role| {
        role.can_review() || role.can_administer()
    })
    .await?;
    drop(password);
    let resubmitted = store.resubmit(packet, session.user_id()).await;
    store.logout(session).await.map_err(store_failure)?;
    resubmitted.map_err(store_failure)
}

async fn show(store: &store::Store, id: &str) -> Result<Value, Failure> {
    let packet = packet_id(id)?;
    let entry = store.outbox_entry(packet).await.map_err(store_failure)?;
    let sealed = store.sealed_packet(packet).await.map_err(store_failure)?;
    let mut value = entry_json(&entry);
    value["station_id"] = json!(entry.station_id);
    value["bytes"] = json!(sealed.as_ref().map(Vec::len));
    // The header is the only readable part of a sealed packet.
    value["header"] = match sealed.as_deref().map(SealedPacket::from_bytes) {
        Some(Ok(p)) => json!({
            "format_version": p.header().format_version,
            "packet_id": p.header().packet_id,
            "station_id": p.header().station_id.as_str(),
            "created_at_unix_ms": p.header().created_at_unix_ms,
        }),
        Some(Err(e)) => json!({ "error": e.to_string() }),
        None => Value::Null,
    };
    Ok(json!({ "packet": value }))
}

pub async fn run_audit(command: AuditCommand, paths: &StationPaths) -> Result<Value, Failure> {
    let store = open_store(paths).await?;
    let result = match command {
        AuditCommand::Verify => verify(&store).await,
    };
    store.close().await;
    result
}

async fn verify(store: &store::Store) -> Result<Value, Failure> {
    let verification = store.verify_audit().await.map_err(store_failure)?;
    Ok(match verification {
        AuditVerification::Intact { entries } => {
            let head = store.audit_head().await.map_err(store_failure)?;
            json!({ "audit": { "verdict": "intact", "intact": true, "entries": entries, "head": head } })
        }
        AuditVerification::Broken { seq, problem } => {
            tracing::warn!(seq, ?problem, "the audit log's hash chain is broken");
            json!({ "audit": { "verdict": "broken", "intact": false, "seq": seq, "problem": problem } })
        }
    })
}
