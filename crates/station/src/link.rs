//! The platform link while the app is open: the uplink worker of `station
//! sync` (built by [`crate::sync::worker`], holding the same `sync.lock`)
//! running in the background, and its status as the window shows it.
//!
//! The status is published on a `watch` channel ([`LinkStatus`]): the app
//! forwards each change to the window, so the home screen's connectivity
//! and queue counts update without being asked.

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use store::{OutboxCounts, Store};
use tokio::sync::watch;
use ts_rs::TS;
use uplink::worker::{Connectivity, Mode, QueueCounts, SyncPolicy, SyncStatus, WorkerError};

use crate::accounts::store_failure;
use crate::failure::{Code, Failure};
use crate::paths::StationPaths;
use crate::platform;
use crate::sync;

/// How long one request to the platform may take from the app.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// With nothing to send, how often the app asks the platform's health.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// Whether the platform answers, as the window shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// The station has no registration: packets wait in the outbox.
    NotRegistered,
    /// Registered, not asked yet.
    Connecting,
    Online,
    /// The platform answers with errors.
    Degraded,
    Offline,
    /// No upload runs from this window (another uploader holds the data
    /// directory, the station's own settings are wrong, or its database
    /// fails until it answers again): see `problem`.
    Stopped,
}

/// The platform link and the outbox, for the home screen.
#[derive(Debug, Clone, Serialize, TS)]
pub struct LinkStatus {
    pub state: LinkState,
    /// The registered platform's address.
    pub hub_url: Option<String>,
    /// When the platform last answered (Unix milliseconds).
    #[ts(type = "number | null")]
    pub last_contact_unix_ms: Option<u64>,
    pub counts: OutboxCounts,
    /// A packet is being uploaded now.
    pub uploading: bool,
    /// Why the link is not online, from the catalogue.
    pub problem: Option<Failure>,
}

impl LinkStatus {
    /// Before the link has started.
    pub fn starting() -> Self {
        Self {
            state: LinkState::Connecting,
            hub_url: None,
            last_contact_unix_ms: None,
            counts: OutboxCounts::default(),
            uploading: false,
            problem: None,
        }
    }

    fn from_worker(hub_url: &str, s: &SyncStatus) -> Self {
        let (state, code) = match s.connectivity {
            Connectivity::Unknown => (LinkState::Connecting, Code::PlatformUnreachable),
            Connectivity::Online => (LinkState::Online, Code::PlatformUnavailable),
            Connectivity::Degraded => (LinkState::Degraded, Code::PlatformUnavailable),
            Connectivity::Offline => (LinkState::Offline, Code::PlatformUnreachable),
        };
        // The station's own database failing stops the uploads, whatever
        // the platform does: that is the problem to show.
        let (state, problem) = match &s.outbox_error {
            Some(e) => (
                LinkState::Stopped,
                Some(Failure::new(Code::DatabaseUnavailable, e)),
            ),
            None => (state, s.last_error.as_ref().map(|e| Failure::new(code, e))),
        };
        Self {
            state,
            hub_url: Some(hub_url.to_owned()),
            last_contact_unix_ms: s.last_contact_unix_ms,
            counts: counts(s.counts),
            uploading: s.uploading.is_some(),
            problem,
        }
    }
}

fn counts(c: QueueCounts) -> OutboxCounts {
    OutboxCounts {
        queued: c.queued,
        uploading: c.uploading,
        acknowledged: c.acknowledged,
        rejected: c.rejected,
    }
}

/// The policy of the app's uploader: `station sync`'s defaults, with a
/// heartbeat while idle.
pub fn app_policy() -> SyncPolicy {
    SyncPolicy {
        heartbeat: Some(HEARTBEAT),
        ..SyncPolicy::default()
    }
}

/// Runs the uplink for this station until `shutdown` resolves, publishing
/// its status on `status`. Without a registration, or when another
/// uploader holds the data directory, it publishes why and returns at
/// once: the app keeps working offline.
pub async fn run(
    paths: &StationPaths,
    store: &Store,
    policy: SyncPolicy,
    status: &watch::Sender<LinkStatus>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Failure> {
    let outbox_counts = store.outbox_counts().await.map_err(store_failure)?;
    let stopped = |state, hub_url: Option<String>, problem: Failure| LinkStatus {
        state,
        hub_url,
        last_contact_unix_ms: None,
        counts: outbox_counts,
        uploading: false,
        problem: Some(problem),
    };
    let Some(registration) = platform::registration(store).await? else {
        status.send_replace(stopped(
            LinkState::NotRegistered,
            None,
            Failure::new(Code::NotRegistered, "no platform registration"),
        ));
        return Ok(());
    };
    let hub_url = registration.hub_url.clone();
    let prepared = sync::lock(paths).and_then(|lock| {
        sync::worker(paths, store, &registration, policy, REQUEST_TIMEOUT).map(|w| (lock, w))
    });
    let (_lock, worker) = match prepared {
        Ok(p) => p,
        Err(failure) => {
            status.send_replace(stopped(LinkState::Stopped, Some(hub_url), failure.clone()));
            return Err(failure);
        }
    };
    platform::refresh_packet_versions(paths, store, &registration).await;
    let mut updates = worker.subscribe();
    status.send_replace(LinkStatus {
        counts: outbox_counts,
        ..LinkStatus::from_worker(&hub_url, &updates.borrow_and_update())
    });
    let forward = async {
        while updates.changed().await.is_ok() {
            let s = LinkStatus::from_worker(&hub_url, &updates.borrow_and_update());
            status.send_replace(s);
        }
    };
    tracing::info!(hub = %hub_url, "uplink started");
    let result = tokio::select! {
        r = worker.run(Mode::Continuous, shutdown) => r,
        () = forward => return Ok(()),
    };
    match result {
        Ok(_) => Ok(()),
        Err(e) => {
            let failure = match e {
                WorkerError::Outbox(e) => store_failure(e),
                WorkerError::Platform(e) => platform::uplink_failure(e),
            };
            tracing::warn!("the uplink stopped: {failure}");
            let last = LinkStatus::from_worker(&hub_url, &worker.subscribe().borrow());
            status.send_replace(LinkStatus {
                state: LinkState::Stopped,
                problem: Some(failure.clone()),
                ..last
            });
            Err(failure)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_outbox_stops_the_link_whatever_the_platform_says() {
        let mut worker = SyncStatus {
            connectivity: Connectivity::Online,
            ..SyncStatus::default()
        };
        let online = LinkStatus::from_worker("https://hub", &worker);
        assert_eq!(online.state, LinkState::Online);
        assert!(online.problem.is_none());

        worker.outbox_error = Some("database is locked".into());
        let stopped = LinkStatus::from_worker("https://hub", &worker);
        assert_eq!(stopped.state, LinkState::Stopped);
        let problem = stopped.problem.unwrap();
        assert_eq!(problem.code, Code::DatabaseUnavailable);
        assert!(problem.detail.contains("database is locked"), "{problem:?}");
    }
}
