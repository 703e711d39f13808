//! The uplink worker: drains a station's outbox to the platform.
//!
//! Packets go one at a time, in the outbox's order. Each answer is sorted
//! into one of three outcomes:
//!
//! - **acknowledged**: a receipt whose signature verifies with the
//!   platform's receipt key and that names this packet id and these exact
//!   bytes. Nothing else marks a packet acknowledged.
//! - **rejected**: the platform refused the packet with a 4xx and its
//!   reason, or its verified receipt says `rejected`. The packet waits for
//!   a person to resubmit it; resending the same bytes would get the same
//!   answer.
//! - **retried**: no answer (network, timeout, a connection cut), a 5xx,
//!   408 or 429, an answer that is not the protocol, or a receipt that does
//!   not verify. The packet is rescheduled with exponential back-off and
//!   jitter (never sooner than the platform's `Retry-After`), and the
//!   worker pauses before its next attempt, so a platform that is down is
//!   not hammered. One packet's trouble does not hold the others back:
//!   after the pause the next due packet goes.
//!
//! A packet attempted before (its answer may have been lost, or the station
//! stopped mid-upload) is first looked up with `GET /v1/packets/{id}`: if
//! the platform already holds it, its receipt is checked and stored without
//! sending the bytes again. Uploads are idempotent on the platform anyway,
//! so a repeated upload never makes a second record.
//!
//! The worker publishes a [`SyncStatus`] (connectivity and queue counts)
//! on a `watch` channel for whoever shows it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder as _, ExponentialBackoff, ExponentialBuilder};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use tokio::sync::watch;
use uuid::Uuid;

use crate::{Platform, UplinkError, VerifiedReceipt, wire};

/// A `Retry-After` longer than this is read as this: a wrong header must
/// not park a packet for days.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A packet waiting in the outbox.
pub struct QueuedPacket {
    pub id: Uuid,
    /// Upload attempts started before this one.
    pub attempts: u32,
    /// The sealed packet, as it goes on the wire.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for QueuedPacket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueuedPacket")
            .field("id", &self.id)
            .field("attempts", &self.attempts)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// How many packets are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueCounts {
    pub queued: u64,
    pub uploading: u64,
    pub acknowledged: u64,
    pub rejected: u64,
}

/// The station's outbox as the worker sees it. The station implements it
/// over its store; each call is one durable step, so the worker can be
/// stopped (or killed) between any two of them.
pub trait Outbox: Send + Sync {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Puts uploads a previous run left under way back in the queue, due
    /// now; returns how many.
    fn recover_interrupted(&self) -> impl Future<Output = Result<u32, Self::Error>> + Send;

    /// Queued packets due now, in upload order, at most `limit`.
    fn next_due(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<QueuedPacket>, Self::Error>> + Send;

    /// Every queued packet and how long until it is due (zero if it is).
    fn schedule(&self) -> impl Future<Output = Result<Vec<(Uuid, Duration)>, Self::Error>> + Send;

    /// An upload of `id` starts (counts an attempt). False if `id` is no
    /// longer queued (another uploader took it): it is then skipped.
    fn start_upload(&self, id: Uuid) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// The upload failed for now: `id` is queued again, due in `retry_in`.
    fn upload_failed(
        &self,
        id: Uuid,
        error: &str,
        retry_in: Duration,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// The platform took `id`; `receipt` is verified.
    fn acknowledged(
        &self,
        id: Uuid,
        receipt: &VerifiedReceipt,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// The platform refused `id` for `reason`.
    fn rejected(
        &self,
        id: Uuid,
        reason: &str,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    fn counts(&self) -> impl Future<Output = Result<QueueCounts, Self::Error>> + Send;
}

/// Whether the platform is answering, as far as the last attempt tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Connectivity {
    /// Nothing tried yet.
    Unknown,
    /// The last exchange got a protocol answer (a receipt or a refusal).
    Online,
    /// The platform answered, but with a server error or not in the
    /// protocol.
    Degraded,
    /// The platform could not be reached.
    Offline,
}

/// What the worker publishes for the app's status bar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncStatus {
    pub connectivity: Connectivity,
    pub counts: QueueCounts,
    /// The packet being uploaded now.
    pub uploading: Option<Uuid>,
    /// The last failure, until the next success.
    pub last_error: Option<String>,
    /// When the platform last answered (Unix milliseconds), with anything
    /// but no answer at all.
    pub last_contact_unix_ms: Option<u64>,
    /// The station's own outbox (its database) failing, until it answers
    /// again: the uploads wait for it, whatever the platform does.
    pub outbox_error: Option<String>,
}

impl Default for SyncStatus {
    fn default() -> Self {
        Self {
            connectivity: Connectivity::Unknown,
            counts: QueueCounts::default(),
            uploading: None,
            last_error: None,
            last_contact_unix_ms: None,
            outbox_error: None,
        }
    }
}

/// Why an attempt will be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// No answer: connection refused or cut, timeout.
    Unreachable,
    /// A server error, 408 or 429.
    PlatformError,
    /// An answer that is not the protocol.
    Protocol,
    /// A receipt that does not verify or names another packet.
    BadReceipt,
}

/// What one answer means for the packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Try again later, not before `retry_after`.
    Retry {
        kind: FailureKind,
        retry_after: Option<Duration>,
    },
    /// The platform refused it: `reason` is its code and message.
    Refused { reason: String },
    /// The station's own settings are wrong; no packet can go.
    Fatal,
}

/// Sorts a failed exchange. A refusal counts only when the platform said
/// it in its protocol: a bare 4xx from a proxy or captive portal is not
/// the platform's word on the packet, and is retried.
pub fn classify(error: &UplinkError) -> Verdict {
    let retry = |kind| Verdict::Retry {
        kind,
        retry_after: error.retry_after().map(|d| d.min(MAX_RETRY_AFTER)),
    };
    match error {
        UplinkError::Unreachable { .. } => retry(FailureKind::Unreachable),
        UplinkError::Garbage { .. } => retry(FailureKind::Protocol),
        UplinkError::BadReceipt { .. } => retry(FailureKind::BadReceipt),
        UplinkError::Status { status, .. } if is_transient_status(*status) => {
            retry(FailureKind::PlatformError)
        }
        UplinkError::Status { .. } => retry(FailureKind::Protocol),
        UplinkError::Refused { status, .. } if is_transient_status(*status) => {
            retry(FailureKind::PlatformError)
        }
        UplinkError::Refused {
            status,
            code,
            message,
            ..
        } if (400..500).contains(status) => Verdict::Refused {
            reason: format!("{code}: {message}"),
        },
        UplinkError::Refused { .. } => retry(FailureKind::Protocol),
        UplinkError::BadUrl(_) | UplinkError::Tls { .. } => Verdict::Fatal,
    }
}

fn is_transient_status(status: u16) -> bool {
    status >= 500 || status == 408 || status == 429
}

/// How the worker paces itself.
#[derive(Debug, Clone)]
pub struct SyncPolicy {
    /// The first back-off delay; each failure doubles it, plus jitter.
    pub min_delay: Duration,
    /// The longest back-off delay.
    pub max_delay: Duration,
    /// When idle, how often to look for newly queued packets.
    pub poll_interval: Duration,
    /// Packets fetched from the outbox at a time.
    pub batch: u32,
    /// In [`Mode::Once`], failures of one packet before the run leaves it
    /// queued for later.
    pub attempts_per_run: u32,
    /// In [`Mode::Continuous`], with nothing to send, how often the
    /// platform's health is asked so the connectivity shown stays true;
    /// `None` never asks.
    pub heartbeat: Option<Duration>,
}

impl Default for SyncPolicy {
    fn default() -> Self {
        Self {
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(300),
            poll_interval: Duration::from_secs(2),
            batch: 16,
            attempts_per_run: 3,
            heartbeat: None,
        }
    }
}

impl SyncPolicy {
    fn backoff(&self) -> ExponentialBackoff {
        ExponentialBuilder::new()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
            .build()
    }

    /// The delay before a packet's next attempt after its `attempts`-th
    /// failure.
    fn packet_delay(&self, attempts: u32) -> Duration {
        let n = usize::try_from(attempts.saturating_sub(1).min(32)).unwrap_or(32);
        self.backoff().nth(n).unwrap_or(self.max_delay)
    }
}

/// Whether [`Worker::run`] returns once the queue is drained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Until nothing queued is left that this run may still try: each
    /// packet gets [`SyncPolicy::attempts_per_run`] attempts.
    Once,
    /// Until shut down.
    Continuous,
}

/// A packet the platform refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub id: Uuid,
    pub reason: String,
}

/// An attempt that will be repeated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttemptFailure {
    pub id: Uuid,
    pub kind: FailureKind,
    pub message: String,
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Uploads a previous run left under way, put back in the queue.
    pub recovered: u32,
    /// Packets sent that came back with a verified receipt.
    pub uploaded: u32,
    /// Packets found already on the platform by a status look-up.
    pub reconciled: u32,
    pub acknowledged: Vec<Uuid>,
    pub rejected: Vec<Rejection>,
    /// Every failed attempt, in order.
    pub failures: Vec<AttemptFailure>,
    /// The queue when the run ended.
    pub counts: QueueCounts,
}

impl SyncReport {
    /// A measure that grows with every packet the run got somewhere with.
    fn progress(&self) -> usize {
        self.recovered as usize
            + self.uploaded as usize
            + self.reconciled as usize
            + self.rejected.len()
            + self.failures.len()
    }
}

/// Why the worker stopped before its work was done.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError<E: std::error::Error + 'static> {
    #[error("the outbox failed: {0}")]
    Outbox(#[source] E),
    #[error(transparent)]
    Platform(UplinkError),
}

/// The uplink worker of one station and one platform.
#[derive(Debug)]
pub struct Worker<O> {
    platform: Platform,
    receipt_key: [u8; 32],
    outbox: O,
    policy: SyncPolicy,
    status: watch::Sender<SyncStatus>,
}

/// How one packet went.
enum Delivery {
    Done,
    /// Transient failure: pause at least this long.
    Pause(Option<Duration>),
}

impl<O: Outbox> Worker<O> {
    /// `receipt_key` is the platform's receipt key from registration.
    pub fn new(platform: Platform, receipt_key: [u8; 32], outbox: O, policy: SyncPolicy) -> Self {
        Self {
            platform,
            receipt_key,
            outbox,
            policy,
            status: watch::Sender::new(SyncStatus::default()),
        }
    }

    /// The published status; every change is sent.
    pub fn subscribe(&self) -> watch::Receiver<SyncStatus> {
        self.status.subscribe()
    }

    pub fn outbox(&self) -> &O {
        &self.outbox
    }

    /// Drains the outbox until `mode` says to stop or `shutdown` resolves.
    /// A packet under way when `shutdown` resolves is finished first
    /// (bounded by the client's timeout). Running continuously, a failing
    /// outbox (a busy or briefly unavailable database) is retried with
    /// back-off rather than ending the station's uploads; the failure is
    /// published as the status's `last_error` meanwhile.
    pub async fn run(
        &self,
        mode: Mode,
        shutdown: impl Future<Output = ()>,
    ) -> Result<SyncReport, WorkerError<O::Error>> {
        let mut shutdown = pin!(shutdown);
        let mut report = SyncReport::default();
        let mut outbox_pause = self.policy.backoff();
        loop {
            let progress = report.progress();
            match self.drain(mode, &mut shutdown, &mut report).await {
                Err(WorkerError::Outbox(error)) if mode == Mode::Continuous => {
                    tracing::warn!(%error, "the outbox failed; trying again");
                    self.status
                        .send_modify(|s| s.outbox_error = Some(error.to_string()));
                    // A failure after good work is a new episode: it starts
                    // from the shortest pause again.
                    if report.progress() != progress {
                        outbox_pause = self.policy.backoff();
                    }
                    let wait = outbox_pause.next().unwrap_or(self.policy.max_delay);
                    if sleep_or_stop(wait, &mut shutdown).await {
                        break;
                    }
                }
                other => {
                    other?;
                    break;
                }
            }
        }
        report.counts = self.refresh_counts().await?;
        Ok(report)
    }

    /// One pass of `run` until it is done, stopped, or the outbox fails.
    async fn drain(
        &self,
        mode: Mode,
        shutdown: &mut (impl Future<Output = ()> + Unpin),
        report: &mut SyncReport,
    ) -> Result<(), WorkerError<O::Error>> {
        let recovered = self
            .outbox
            .recover_interrupted()
            .await
            .map_err(WorkerError::Outbox)?;
        if recovered > 0 {
            tracing::info!(count = recovered, "interrupted uploads queued again");
        }
        report.recovered += recovered;
        self.status
            .send_if_modified(|s| s.outbox_error.take().is_some());
        let mut pause = self.policy.backoff();
        // Failures per packet in this run, for `Mode::Once`.
        let mut failed: HashMap<Uuid, u32> = HashMap::new();
        let mut last_probe: Option<Instant> = None;
        self.refresh_counts().await?;
        'run: loop {
            // Packets this run gave up on may be due again: fetch past
            // them, so they cannot crowd out the others.
            let spent = match mode {
                Mode::Once => failed.keys().filter(|id| self.spent(&failed, **id)).count(),
                Mode::Continuous => 0,
            };
            let limit = self
                .policy
                .batch
                .saturating_add(u32::try_from(spent).unwrap_or(u32::MAX));
            let mut due = self
                .outbox
                .next_due(limit)
                .await
                .map_err(WorkerError::Outbox)?;
            if mode == Mode::Once {
                due.retain(|p| !self.spent(&failed, p.id));
            }
            if due.is_empty() {
                if mode == Mode::Continuous {
                    self.heartbeat(&mut last_probe).await;
                }
                let wait = match (mode, self.next_wake(mode, &failed).await?) {
                    (Mode::Once, None) => break,
                    (Mode::Once, Some(wait)) => wait,
                    (Mode::Continuous, wake) => wake
                        .unwrap_or(self.policy.poll_interval)
                        .min(self.policy.poll_interval),
                };
                if sleep_or_stop(wait, shutdown).await {
                    break;
                }
                self.refresh_counts().await?;
                continue;
            }
            for packet in due {
                if stopped(shutdown).await {
                    break 'run;
                }
                let id = packet.id;
                match self.deliver(packet, report).await? {
                    Delivery::Done => pause = self.policy.backoff(),
                    Delivery::Pause(retry_after) => {
                        *failed.entry(id).or_default() += 1;
                        let backoff = pause.next().unwrap_or(self.policy.max_delay);
                        let wait = retry_after.map_or(backoff, |r| r.max(backoff));
                        tracing::debug!(?wait, "pausing after a failed upload");
                        if sleep_or_stop(wait, shutdown).await {
                            break 'run;
                        }
                        // The order may have changed: ask the outbox again.
                        continue 'run;
                    }
                }
            }
        }
        Ok(())
    }

    fn spent(&self, failed: &HashMap<Uuid, u32>, id: Uuid) -> bool {
        failed.get(&id).copied().unwrap_or(0) >= self.policy.attempts_per_run
    }

    /// How long until the next queued packet this run may try is due.
    async fn next_wake(
        &self,
        mode: Mode,
        failed: &HashMap<Uuid, u32>,
    ) -> Result<Option<Duration>, WorkerError<O::Error>> {
        let schedule = self.outbox.schedule().await.map_err(WorkerError::Outbox)?;
        Ok(schedule
            .into_iter()
            .filter(|(id, due_in)| {
                // A single run does not wait past the longest back-off
                // (a long Retry-After, or an old schedule).
                mode == Mode::Continuous
                    || (!self.spent(failed, *id) && *due_in <= self.policy.max_delay)
            })
            .map(|(_, due_in)| due_in)
            .min())
    }

    async fn refresh_counts(&self) -> Result<QueueCounts, WorkerError<O::Error>> {
        let counts = self.outbox.counts().await.map_err(WorkerError::Outbox)?;
        self.status.send_if_modified(|s| {
            let changed = s.counts != counts;
            s.counts = counts;
            changed
        });
        Ok(counts)
    }

    fn set_status(&self, connectivity: Connectivity, error: Option<String>) {
        self.status.send_modify(|s| {
            s.connectivity = connectivity;
            s.uploading = None;
            s.last_error = error;
            if matches!(connectivity, Connectivity::Online | Connectivity::Degraded) {
                s.last_contact_unix_ms = Some(unix_ms_now());
            }
        });
    }

    /// With nothing to send, asks the platform's health once per
    /// [`SyncPolicy::heartbeat`], so an idle station still knows whether
    /// it is online.
    async fn heartbeat(&self, last_probe: &mut Option<Instant>) {
        let Some(every) = self.policy.heartbeat else {
            return;
        };
        if last_probe.is_some_and(|at| at.elapsed() < every) {
            return;
        }
        *last_probe = Some(Instant::now());
        match self.platform.health().await {
            Ok(_) => self.set_status(Connectivity::Online, None),
            Err(error) => {
                let connectivity = match classify(&error) {
                    Verdict::Retry {
                        kind: FailureKind::Unreachable,
                        ..
                    } => Connectivity::Offline,
                    Verdict::Fatal => Connectivity::Unknown,
                    _ => Connectivity::Degraded,
                };
                tracing::debug!(%error, "platform health");
                self.set_status(connectivity, Some(error.to_string()));
            }
        }
    }

    /// One packet: a status look-up if it was tried before, the upload,
    /// and its outcome written to the outbox.
    async fn deliver(
        &self,
        packet: QueuedPacket,
        report: &mut SyncReport,
    ) -> Result<Delivery, WorkerError<O::Error>> {
        let id = packet.id;
        let attempt = packet.attempts + 1;
        if !self
            .outbox
            .start_upload(id)
            .await
            .map_err(WorkerError::Outbox)?
        {
            tracing::debug!(packet = %id, "no longer queued; skipped");
            return Ok(Delivery::Done);
        }
        self.status.send_modify(|s| s.uploading = Some(id));
        let sha256: [u8; 32] = Sha256::digest(&packet.bytes).into();
        let mut reconciled = false;
        let answer = match self.lookup(&packet, &sha256).await {
            Ok(Some(receipt)) => {
                reconciled = true;
                Ok(receipt)
            }
            Ok(None) => {
                self.platform
                    .upload(id, packet.bytes, &self.receipt_key)
                    .await
            }
            Err(e) => Err(e),
        };
        let outcome = match answer {
            Ok(receipt) => {
                if reconciled {
                    report.reconciled += 1;
                } else {
                    report.uploaded += 1;
                }
                self.settle(id, &receipt, report).await?;
                self.set_status(Connectivity::Online, None);
                Delivery::Done
            }
            Err(error) => match classify(&error) {
                Verdict::Refused { reason } => {
                    tracing::warn!(packet = %id, %reason, "the platform refused the packet");
                    self.outbox
                        .rejected(id, &reason)
                        .await
                        .map_err(WorkerError::Outbox)?;
                    report.rejected.push(Rejection { id, reason });
                    self.set_status(Connectivity::Online, None);
                    Delivery::Done
                }
                Verdict::Retry { kind, retry_after } => {
                    let message = error.to_string();
                    let delay = self.policy.packet_delay(attempt);
                    let delay = retry_after.map_or(delay, |r| r.max(delay));
                    tracing::warn!(packet = %id, attempt, ?delay, error = %message, "upload failed; will retry");
                    self.outbox
                        .upload_failed(id, &message, delay)
                        .await
                        .map_err(WorkerError::Outbox)?;
                    let connectivity = match kind {
                        FailureKind::Unreachable => Connectivity::Offline,
                        _ => Connectivity::Degraded,
                    };
                    self.set_status(connectivity, Some(message.clone()));
                    report.failures.push(AttemptFailure { id, kind, message });
                    Delivery::Pause(retry_after)
                }
                Verdict::Fatal => {
                    // Back in the queue untouched; the settings need fixing.
                    self.outbox
                        .upload_failed(id, &error.to_string(), Duration::ZERO)
                        .await
                        .map_err(WorkerError::Outbox)?;
                    self.set_status(Connectivity::Unknown, Some(error.to_string()));
                    return Err(WorkerError::Platform(error));
                }
            },
        };
        self.refresh_counts().await?;
        Ok(outcome)
    }

    /// A packet tried before may already be on the platform.
    async fn lookup(
        &self,
        packet: &QueuedPacket,
        sha256: &[u8; 32],
    ) -> Result<Option<VerifiedReceipt>, UplinkError> {
        if packet.attempts == 0 {
            return Ok(None);
        }
        let found = self
            .platform
            .reconcile(packet.id, sha256, &self.receipt_key)
            .await?;
        if found.is_some() {
            tracing::info!(packet = %packet.id, "already on the platform; receipt taken from its status");
        }
        Ok(found)
    }

    /// A verified receipt: acknowledged, or rejected with its reason.
    async fn settle(
        &self,
        id: Uuid,
        receipt: &VerifiedReceipt,
        report: &mut SyncReport,
    ) -> Result<(), WorkerError<O::Error>> {
        match receipt.receipt.status {
            wire::PacketDisposition::Accepted => {
                self.outbox
                    .acknowledged(id, receipt)
                    .await
                    .map_err(WorkerError::Outbox)?;
                report.acknowledged.push(id);
            }
            wire::PacketDisposition::Rejected => {
                let reason = receipt
                    .receipt
                    .reason
                    .clone()
                    .unwrap_or_else(|| "rejected by the platform".to_owned());
                tracing::warn!(packet = %id, %reason, "the platform rejected the packet");
                self.outbox
                    .rejected(id, &reason)
                    .await
                    .map_err(WorkerError::Outbox)?;
                report.rejected.push(Rejection { id, reason });
            }
        }
        Ok(())
    }
}

fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Sleeps `wait` unless `shutdown` comes first; true if it did.
async fn sleep_or_stop(wait: Duration, shutdown: &mut (impl Future<Output = ()> + Unpin)) -> bool {
    tokio::select! {
        () = tokio::time::sleep(wait) => false,
        () = shutdown => true,
    }
}

/// Whether `shutdown` has resolved, without waiting for it.
async fn stopped(shutdown: &mut (impl Future<Output = ()> + Unpin)) -> bool {
    tokio::select! {
        biased;
        () = shutdown => true,
        () = std::future::ready(()) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An outbox whose database fails a few times before it answers.
    struct FlakyOutbox {
        failures_left: std::sync::atomic::AtomicU32,
        calls: std::sync::atomic::AtomicU32,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("database is locked")]
    struct Locked;

    impl FlakyOutbox {
        fn answer<T>(&self, value: T) -> Result<T, Locked> {
            use std::sync::atomic::Ordering::SeqCst;
            self.calls.fetch_add(1, SeqCst);
            let left = self.failures_left.load(SeqCst);
            if left > 0 {
                self.failures_left.store(left - 1, SeqCst);
                return Err(Locked);
            }
            Ok(value)
        }
    }

    impl Outbox for FlakyOutbox {
        type Error = Locked;
        async fn recover_interrupted(&self) -> Result<u32, Locked> {
            self.answer(0)
        }
        async fn next_due(&self, _: u32) -> Result<Vec<QueuedPacket>, Locked> {
            self.answer(Vec::new())
        }
        async fn schedule(&self) -> Result<Vec<(Uuid, Duration)>, Locked> {
            self.answer(Vec::new())
        }
        async fn start_upload(&self, _: Uuid) -> Result<bool, Locked> {
            self.answer(false)
        }
        async fn upload_failed(&self, _: Uuid, _: &str, _: Duration) -> Result<(), Locked> {
            self.answer(())
        }
        async fn acknowledged(&self, _: Uuid, _: &VerifiedReceipt) -> Result<(), Locked> {
            self.answer(())
        }
        async fn rejected(&self, _: Uuid, _: &str) -> Result<(), Locked> {
            self.answer(())
        }
        async fn counts(&self) -> Result<QueueCounts, Locked> {
            self.answer(QueueCounts {
                queued: 3,
                ..QueueCounts::default()
            })
        }
    }

    fn flaky_worker(failures: u32) -> Worker<FlakyOutbox> {
        let platform = Platform::new("http://127.0.0.1:9", Duration::from_secs(1)).unwrap();
        let outbox = FlakyOutbox {
            failures_left: failures.into(),
            calls: 0.into(),
        };
        let policy = SyncPolicy {
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            poll_interval: Duration::from_millis(5),
            ..SyncPolicy::default()
        };
        Worker::new(platform, [0; 32], outbox, policy)
    }

    #[tokio::test]
    async fn a_failing_outbox_is_retried_when_running_continuously() {
        let worker = flaky_worker(4);
        let mut status = worker.subscribe();
        // While it fails, the status says so.
        let watcher = {
            let mut status = worker.subscribe();
            tokio::spawn(async move {
                loop {
                    if status.changed().await.is_err() {
                        return None;
                    }
                    let error = status.borrow_and_update().outbox_error.clone();
                    if error.is_some() {
                        return error;
                    }
                }
            })
        };
        let calls = || {
            worker
                .outbox()
                .calls
                .load(std::sync::atomic::Ordering::SeqCst)
        };
        // Stop once the outbox has answered well past its failures.
        let report = worker
            .run(Mode::Continuous, async {
                while calls() < 20 {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
            .await
            .unwrap();
        assert_eq!(
            worker
                .outbox()
                .failures_left
                .load(std::sync::atomic::Ordering::SeqCst),
            0
        );
        assert_eq!(
            watcher.await.unwrap().as_deref(),
            Some("database is locked")
        );
        assert_eq!(report.counts.queued, 3);
        // The outbox answered again: its error is gone.
        assert!(status.borrow_and_update().outbox_error.is_none());
    }

    #[tokio::test]
    async fn a_failing_outbox_ends_a_single_run_with_its_error() {
        let worker = flaky_worker(1);
        let error = worker
            .run(Mode::Once, std::future::pending())
            .await
            .unwrap_err();
        assert!(matches!(error, WorkerError::Outbox(Locked)), "{error}");
    }

    fn refused(status: u16, code: wire::ErrorCode) -> UplinkError {
        UplinkError::Refused {
            url: "u".into(),
            status,
            code,
            message: "m".into(),
            retry_after: Some(Duration::from_secs(7200)),
        }
    }

    #[test]
    fn transient_failures_are_retried_and_refusals_are_not() {
        let unreachable = UplinkError::Unreachable {
            url: "u".into(),
            message: "refused".into(),
        };
        assert_eq!(
            classify(&unreachable),
            Verdict::Retry {
                kind: FailureKind::Unreachable,
                retry_after: None
            }
        );
        // A long Retry-After is capped.
        assert_eq!(
            classify(&refused(503, wire::ErrorCode::Internal)),
            Verdict::Retry {
                kind: FailureKind::PlatformError,
                retry_after: Some(MAX_RETRY_AFTER)
            }
        );
        for status in [408, 429, 500] {
            assert!(matches!(
                classify(&refused(status, wire::ErrorCode::Unknown)),
                Verdict::Retry {
                    kind: FailureKind::PlatformError,
                    ..
                }
            ));
        }
        assert_eq!(
            classify(&refused(400, wire::ErrorCode::BadSignature)),
            Verdict::Refused {
                reason: "bad_signature: m".into()
            }
        );
        // A 4xx without the platform's error body is not its word.
        let bare = UplinkError::Status {
            url: "u".into(),
            status: 403,
            retry_after: None,
        };
        assert!(matches!(
            classify(&bare),
            Verdict::Retry {
                kind: FailureKind::Protocol,
                ..
            }
        ));
        let receipt = UplinkError::BadReceipt {
            url: "u".into(),
            message: "m".into(),
        };
        assert!(matches!(
            classify(&receipt),
            Verdict::Retry {
                kind: FailureKind::BadReceipt,
                ..
            }
        ));
        assert_eq!(
            classify(&UplinkError::Tls {
                message: "m".into()
            }),
            Verdict::Fatal
        );
    }

    #[test]
    fn packet_delays_grow_with_jitter_up_to_the_maximum() {
        let policy = SyncPolicy {
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            ..SyncPolicy::default()
        };
        // Jitter adds up to the delay itself: [d, 2d).
        let first = policy.packet_delay(1);
        assert!(first >= Duration::from_millis(100) && first < Duration::from_millis(200));
        let fourth = policy.packet_delay(4);
        assert!(fourth >= Duration::from_millis(800) && fourth < Duration::from_millis(1600));
        let late = policy.packet_delay(40);
        assert!(late >= Duration::from_secs(10) && late < Duration::from_secs(20));
        let delays: Vec<_> = (0..20).map(|_| policy.packet_delay(3)).collect();
        assert!(delays.iter().any(|d| *d != delays[0]), "no jitter");
    }
}
