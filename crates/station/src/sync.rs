//! `station sync`: the uplink worker (`uplink::worker`) over this station's
//! outbox.
//!
//! [`StoreOutbox`] is the worker's view of the store: every step the
//! worker takes is one store transaction with its audit entry (the store
//! logs acknowledged, rejected and failed uploads), so the worker can stop
//! or be killed between any two steps and a restart goes on from there.
//! One worker runs per data directory: [`lock`] holds `sync.lock`.

use std::time::Duration;

use serde_json::{Value, json};
use store::{PacketId, Store, StoreError};
use uplink::VerifiedReceipt;
use uplink::worker::{
    FailureKind, Mode, Outbox, QueueCounts, QueuedPacket, SyncPolicy, SyncReport, Worker,
    WorkerError,
};
use uuid::Uuid;

use crate::accounts::{open_store, store_failure};
use crate::failure::{Code, Failure};
use crate::paths::StationPaths;
use crate::platform::{self, Registration};

/// The store's outbox, as the uplink worker drives it.
#[derive(Debug, Clone)]
pub struct StoreOutbox {
    store: Store,
}

impl StoreOutbox {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

fn packet(id: Uuid) -> PacketId {
    PacketId::from_uuid(id)
}

impl Outbox for StoreOutbox {
    type Error = StoreError;

    async fn recover_interrupted(&self) -> Result<u32, StoreError> {
        self.store.requeue_interrupted_uploads().await
    }

    async fn next_due(&self, limit: u32) -> Result<Vec<QueuedPacket>, StoreError> {
        Ok(self
            .store
            .next_due_packets(limit)
            .await?
            .into_iter()
            .map(|due| QueuedPacket {
                id: *due.entry.packet_id.as_uuid(),
                attempts: due.entry.attempts,
                bytes: due.sealed,
            })
            .collect())
    }

    async fn schedule(&self) -> Result<Vec<(Uuid, Duration)>, StoreError> {
        let now = self.store.now().unix_ms();
        Ok(self
            .store
            .queued_schedule()
            .await?
            .into_iter()
            .map(|(id, at)| {
                let ms = u64::try_from(at.unix_ms().saturating_sub(now)).unwrap_or(0);
                (*id.as_uuid(), Duration::from_millis(ms))
            })
            .collect())
    }

    async fn start_upload(&self, id: Uuid) -> Result<bool, StoreError> {
        match self.store.mark_uploading(packet(id)).await {
            Ok(_) => Ok(true),
            Err(StoreError::OutboxState { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn upload_failed(
        &self,
        id: Uuid,
        error: &str,
        retry_in: Duration,
    ) -> Result<(), StoreError> {
        self.store
            .mark_upload_failed(packet(id), error, retry_in)
            .await
            .map(drop)
    }

    async fn acknowledged(&self, id: Uuid, receipt: &VerifiedReceipt) -> Result<(), StoreError> {
        self.store
            .mark_acknowledged(packet(id), &receipt.bytes)
            .await
            .map(drop)
    }

    async fn rejected(&self, id: Uuid, reason: &str) -> Result<(), StoreError> {
        self.store.mark_rejected(packet(id), reason).await.map(drop)
    }

    async fn counts(&self) -> Result<QueueCounts, StoreError> {
        let c = self.store.outbox_counts().await?;
        Ok(QueueCounts {
            queued: c.queued,
            uploading: c.uploading,
            acknowledged: c.acknowledged,
            rejected: c.rejected,
        })
    }
}

/// The options of `station sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Send what is queued, print a summary and exit (instead of running
    /// until SIGINT or SIGTERM).
    #[arg(long)]
    pub once: bool,
    /// The first retry delay, in milliseconds; each failure doubles it,
    /// plus jitter.
    #[arg(long, default_value_t = 500)]
    pub min_backoff_ms: u64,
    /// The longest retry delay, in milliseconds.
    #[arg(long, default_value_t = 300_000)]
    pub max_backoff_ms: u64,
    /// How long one request may take, in seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout_secs: u64,
    /// With --once: attempts per packet before the run leaves it queued.
    #[arg(long, default_value_t = 3)]
    pub attempts: u32,
}

impl SyncArgs {
    fn policy(&self) -> SyncPolicy {
        let min_delay = Duration::from_millis(self.min_backoff_ms.max(1));
        SyncPolicy {
            min_delay,
            max_delay: Duration::from_millis(self.max_backoff_ms).max(min_delay),
            attempts_per_run: self.attempts.max(1),
            ..SyncPolicy::default()
        }
    }
}

/// The worker for this data directory's registered platform.
pub fn worker(
    paths: &StationPaths,
    store: &Store,
    registration: &Registration,
    policy: SyncPolicy,
    timeout: Duration,
) -> Result<Worker<StoreOutbox>, Failure> {
    let platform = platform::registered_client(paths, registration, timeout)?;
    Ok(Worker::new(
        platform,
        registration.receipt_key()?,
        StoreOutbox::new(store.clone()),
        policy,
    ))
}

/// The lock file that keeps a second uploader off this data directory.
pub const LOCK_FILE: &str = "sync.lock";

/// Holds the data directory's uploader lock while it lives. Two uploaders
/// would put each other's uploads back in the queue on start.
pub fn lock(paths: &StationPaths) -> Result<std::fs::File, Failure> {
    paths.ensure_data_dir()?;
    let path = paths.data_dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Failure::new(Code::DataDirUnavailable, format!("{}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Failure::new(
            Code::SyncAlreadyRunning,
            format!("{} is held", path.display()),
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(Failure::new(
            Code::DataDirUnavailable,
            format!("{}: {e}", path.display()),
        )),
    }
}

/// `station sync`.
pub async fn run(args: SyncArgs, paths: &StationPaths) -> Result<Value, Failure> {
    let _lock = lock(paths)?;
    let store = open_store(paths).await?;
    let result = sync(&args, paths, &store).await;
    store.close().await;
    result
}

async fn sync(args: &SyncArgs, paths: &StationPaths, store: &Store) -> Result<Value, Failure> {
    let registration = platform::require_registration(store).await?;
    platform::refresh_packet_versions(paths, store, &registration).await;
    let timeout = Duration::from_secs(args.timeout_secs.max(1));
    let worker = worker(paths, store, &registration, args.policy(), timeout)?;
    let mode = if args.once {
        Mode::Once
    } else {
        Mode::Continuous
    };
    let mut status = worker.subscribe();
    let progress = tokio::spawn(async move {
        while status.changed().await.is_ok() {
            let s = status.borrow_and_update().clone();
            tracing::info!(
                connectivity = ?s.connectivity,
                queued = s.counts.queued,
                acknowledged = s.counts.acknowledged,
                rejected = s.counts.rejected,
                uploading = ?s.uploading,
                error = s.last_error.as_deref().unwrap_or(""),
                "sync status"
            );
        }
    });
    tracing::info!(hub = %registration.hub_url, station = %registration.station_id, ?mode, "sync started");
    let report = worker.run(mode, shutdown_signal()).await;
    progress.abort();
    let connectivity = worker.subscribe().borrow().connectivity;
    let report = report.map_err(|e| match e {
        WorkerError::Outbox(e) => store_failure(e),
        WorkerError::Platform(e) => platform::uplink_failure(e),
    })?;
    tracing::info!(
        acknowledged = report.acknowledged.len(),
        rejected = report.rejected.len(),
        pending = report.counts.queued,
        "sync ended"
    );
    Ok(summary(&report, mode, &registration, connectivity))
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("stopping: the packet under way is finished first");
}

/// The catalogue code of a failed attempt.
fn failure_code(kind: FailureKind) -> Code {
    match kind {
        FailureKind::Unreachable => Code::PlatformUnreachable,
        FailureKind::PlatformError => Code::PlatformUnavailable,
        FailureKind::Protocol => Code::PlatformProtocol,
        FailureKind::BadReceipt => Code::ReceiptInvalid,
    }
}

fn summary(
    report: &SyncReport,
    mode: Mode,
    registration: &Registration,
    connectivity: uplink::worker::Connectivity,
) -> Value {
    let rejected: Vec<Value> = report
        .rejected
        .iter()
        .map(|r| json!({ "id": r.id, "reason": r.reason, "code": Code::PacketRejected }))
        .collect();
    let errors: Vec<Value> = report
        .failures
        .iter()
        .map(|f| {
            let failure = Failure::new(failure_code(f.kind), &f.message);
            json!({
                "id": f.id,
                "kind": f.kind,
                "code": failure.code,
                "message": failure.message,
                "remedy": failure.remedy,
                "zh": failure.zh,
            })
        })
        .collect();
    json!({
        "sync": {
            "mode": match mode { Mode::Once => "once", Mode::Continuous => "continuous" },
            "hub_url": registration.hub_url,
            "station_id": registration.station_id,
            "connectivity": connectivity,
            "recovered_interrupted": report.recovered,
            "uploaded": report.uploaded,
            "reconciled": report.reconciled,
            "acknowledged": report.acknowledged,
            "rejected": rejected,
            "errors": errors,
            "still_pending": report.counts.queued + report.counts.uploading,
            "counts": report.counts,
        }
    })
}
