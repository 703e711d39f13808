//! The app's platform link (`station::link` through `Desk::run_uplink`)
//! against the real `hub` binary: the status the window is sent follows
//! the hub going away and coming back, the queue counts follow uploads,
//! and an unregistered station says so without trying anything.

// In tests a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use station::Code;
use station::desk::Desk;
use station::link::{LinkState, LinkStatus};
use station::settings::SettingsChange;
use support::uplink::*;
use tokio::sync::watch;
use uplink::worker::SyncPolicy;

/// Waits until the published status satisfies `want`; fails with the last
/// status seen.
async fn wait_link(
    link: &mut watch::Receiver<LinkStatus>,
    what: &str,
    want: impl Fn(&LinkStatus) -> bool,
) -> LinkStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = link.borrow_and_update().clone();
        if want(&now) {
            return now;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "{what}: still {now:#?}");
        let _ = tokio::time::timeout(left, link.changed()).await;
    }
}

fn quick_policy() -> SyncPolicy {
    SyncPolicy {
        min_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(400),
        poll_interval: Duration::from_millis(100),
        heartbeat: Some(Duration::from_millis(100)),
        ..SyncPolicy::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_follows_the_hub_going_away_and_coming_back() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("station");
    let mut hub = HubProcess::start(dir.path(), false);
    register(&data, &hub, &hub.base()).await;
    let desk = Arc::new(Desk::open(paths(&data), false).await.unwrap());
    assert_eq!(desk.link_status().state, LinkState::Connecting);
    let runner = tokio::spawn({
        let desk = desk.clone();
        async move { desk.run_uplink(quick_policy()).await }
    });
    let mut link = desk.subscribe_link();

    // Idle, the heartbeat finds the hub.
    let online = wait_link(&mut link, "online", |s| s.state == LinkState::Online).await;
    assert_eq!(online.hub_url.as_deref(), Some(hub.base().as_str()));
    assert!(online.problem.is_none(), "{online:?}");
    let first_contact = online.last_contact_unix_ms.unwrap();

    // Packets sealed while the app runs go, and the counts follow.
    queue_packets(&data, 2, 1).await;
    let sent = wait_link(&mut link, "two acknowledged", |s| {
        s.counts.acknowledged == 2 && s.counts.queued == 0
    })
    .await;
    assert_eq!(sent.state, LinkState::Online);
    assert_eq!(hub.packets().len(), 2);

    // The hub goes away: offline, with the catalogue's failure, and the
    // last contact kept.
    hub.kill();
    let offline = wait_link(&mut link, "offline", |s| s.state == LinkState::Offline).await;
    assert_eq!(
        offline.problem.as_ref().map(|p| p.code),
        Some(Code::PlatformUnreachable)
    );
    let last_contact = offline.last_contact_unix_ms.unwrap();
    assert!(last_contact >= first_contact);

    // Sealed while offline: it waits, and the window sees it waiting.
    queue_packets(&data, 1, 1).await;
    let waiting = wait_link(&mut link, "one waiting", |s| {
        s.counts.queued == 1 && s.state == LinkState::Offline
    })
    .await;
    assert_eq!(waiting.counts.acknowledged, 2);

    // Meanwhile the app holds the uploader lock: a second uploader is refused.
    let (code, value) = station_in(&data, &["sync", "--once"]).await;
    assert_eq!(code, 1, "{value:#}");
    assert_eq!(value["error"]["code"], "SYNC_ALREADY_RUNNING");

    // The hub comes back: online again, and the waiting packet goes.
    hub.restart();
    let back = wait_link(&mut link, "back online, all sent", |s| {
        s.state == LinkState::Online && s.counts.acknowledged == 3 && s.counts.queued == 0
    })
    .await;
    assert!(back.last_contact_unix_ms.unwrap() > last_contact);
    assert!(back.problem.is_none(), "{back:?}");
    assert_eq!(hub.packets().len(), 3);

    // The administrator gives the platform's address another way: the link
    // starts again with it at once.
    // (`queue_packets` made the station's staff.)
    desk.sign_in("admin", zeroize::Zeroizing::new(PASSWORD.to_owned()))
        .await
        .unwrap();
    let other = hub.base().replace("127.0.0.1", "localhost");
    assert_ne!(other, hub.base());
    let settings = desk.settings().await.unwrap();
    desk.save_settings(SettingsChange {
        settings: settings.settings,
        platform_url: Some(other.clone()),
    })
    .await
    .unwrap();
    let moved = wait_link(&mut link, "online at the new address", |s| {
        s.state == LinkState::Online && s.hub_url.as_deref() == Some(other.trim_end_matches('/'))
    })
    .await;
    assert!(moved.problem.is_none(), "{moved:?}");

    // Closing: the uplink ends.
    desk.shut_down().await;
    tokio::time::timeout(Duration::from_secs(30), runner)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_station_shows_why_nothing_uploads() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("station");
    // Packets sealed to a configured platform key, never sent.
    let key = "9fa1c6d2b0e8a4c3d5f7a9b1c3e5f7092a4c6e8f0a2c4e6f8092b4d6f8a0c2e4";
    let (code, value) = station_in(&data, &["platform-key", "--set", key]).await;
    assert_eq!(code, 0, "{value:#}");
    queue_packets(&data, 1, 1).await;
    let desk = Arc::new(Desk::open(paths(&data), false).await.unwrap());
    let runner = tokio::spawn({
        let desk = desk.clone();
        async move { desk.run_uplink(quick_policy()).await }
    });
    let mut link = desk.subscribe_link();
    let status = wait_link(&mut link, "not registered", |s| {
        s.state == LinkState::NotRegistered
    })
    .await;
    assert_eq!(status.state, LinkState::NotRegistered);
    assert_eq!(status.counts.queued, 1);
    assert_eq!(
        status.problem.as_ref().map(|p| p.code),
        Some(Code::NotRegistered)
    );
    assert!(status.hub_url.is_none());
    // Nothing to run, and it waits for a registration without trying
    // anything; closing ends it.
    desk.begin_close();
    tokio::time::timeout(Duration::from_secs(10), runner)
        .await
        .unwrap()
        .unwrap();
}
