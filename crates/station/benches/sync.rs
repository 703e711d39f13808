//! Draining the outbox to the hub over mutual TLS on loopback.
//!
//! 1. One station drains `BENCH_PACKETS` (default 1000) queued packets of
//!    about 300 KB with the uplink worker (`station sync --once`'s code),
//!    next to a bare HTTPS PUT loop of another station's packets of the
//!    same size to the same hub: the worker's bookkeeping (a store
//!    transaction before and after each upload, receipt verification)
//!    against the transfer alone. The bare loop runs first, on the
//!    smaller hub database.
//! 2. `BENCH_STATIONS` (default 20) stations drain `BENCH_PER_STATION`
//!    (default 25) packets each at once: the hub's packets per second.
//!
//! The hub runs in this process on its own runtime, with Passive
//! Authentication against the demo trust store and without face models
//! (so the numbers are the platform path, not face inference).
//! Run with `cargo bench --workspace --locked --bench sync`.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)] // a benchmark's set-up may panic

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use hub::{FaceModels, Hub, HubConfig};
use station::platform::{self, RegisterArgs};
use station::sync::worker;
use support::uplink::{hub_tls_file, paths, queue_packets, repo};
use uplink::worker::{Mode, SyncPolicy};

/// Seconds of synthetic voice: with the demo chip files and the face
/// frame, a packet of about 300 KB.
const VOICE_SECONDS: usize = 5;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The hub on its own runtime thread, serving HTTPS; its base URL.
fn start_hub(dir: &Path) -> (Hub, String) {
    let (tx, rx) = std::sync::mpsc::channel();
    let db_url = format!("sqlite:{}", dir.join("hub.sqlite3").display());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let hub = Hub::open(HubConfig {
                db_url,
                trust_store: Some(repo().join("testdata/documents/demo/trust")),
                face_models: FaceModels::Disabled,
            })
            .await
            .unwrap();
            let config =
                hub::tls::server_config(&hub_tls_file("hub.pem"), &hub_tls_file("hub-key.pem"))
                    .unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("https://{}", listener.local_addr().unwrap());
            tx.send((hub.clone(), base)).unwrap();
            hub::serve_tls(listener, hub, config, std::future::pending())
                .await
                .unwrap();
        });
    });
    rx.recv().unwrap()
}

/// A station in `data`, registered with the hub, with `n` packets queued.
async fn station_with_packets(hub: &Hub, base: &str, data: &Path, n: usize) {
    let token = hub.create_token(Duration::from_secs(3600)).await.unwrap();
    platform::register(
        RegisterArgs {
            hub: base.to_owned(),
            token,
            hub_ca: Some(hub_tls_file("hub.pem")),
        },
        &paths(data),
    )
    .await
    .unwrap();
    queue_packets(data, n, VOICE_SECONDS).await;
}

/// Drains `data`'s outbox with the uplink worker; how many were acknowledged.
async fn drain(data: &Path) -> usize {
    let paths = paths(data);
    let store = station::accounts::open_store(&paths).await.unwrap();
    let registration = platform::require_registration(&store).await.unwrap();
    let worker = worker(
        &paths,
        &store,
        &registration,
        SyncPolicy::default(),
        platform::REQUEST_TIMEOUT,
    )
    .unwrap();
    let report = worker
        .run(Mode::Once, std::future::pending())
        .await
        .unwrap();
    store.close().await;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    report.acknowledged.len()
}

/// PUTs `data`'s queued packets one after the other over one HTTPS
/// client with the station's certificate: no store, no receipt check.
async fn bare_put_loop(data: &Path) -> (usize, usize, Duration) {
    let paths = paths(data);
    let store = station::accounts::open_store(&paths).await.unwrap();
    let registration = platform::require_registration(&store).await.unwrap();
    let packets = store.next_due_packets(u32::MAX).await.unwrap();
    store.close().await;
    let (identity, _) = platform::tls_identity(&paths).unwrap();
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .identity(reqwest::Identity::from_pem(&identity).unwrap())
        .add_root_certificate(
            reqwest::Certificate::from_pem(registration.hub_ca_pem.unwrap().as_bytes()).unwrap(),
        )
        .build()
        .unwrap();
    let bytes: usize = packets.iter().map(|p| p.sealed.len()).sum();
    let started = Instant::now();
    for p in &packets {
        let url = format!("{}/v1/packets/{}", registration.hub_url, p.entry.packet_id);
        let response = client
            .put(url)
            .header("content-type", "application/octet-stream")
            .body(p.sealed.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
    }
    (packets.len(), bytes, started.elapsed())
}

fn main() {
    let packets = env_usize("BENCH_PACKETS", 1000);
    let stations = env_usize("BENCH_STATIONS", 20);
    let per_station = env_usize("BENCH_PER_STATION", 25);
    let dir = tempfile::tempdir().unwrap();
    let (hub, base) = start_hub(dir.path());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // 1. One station: the worker against a bare PUT loop.
        let (worker_dir, bare_dir) = (dir.path().join("worker"), dir.path().join("bare"));
        let started = Instant::now();
        station_with_packets(&hub, &base, &bare_dir, packets).await;
        station_with_packets(&hub, &base, &worker_dir, packets).await;
        println!(
            "set-up: {} packets sealed and queued in {:.1} s",
            2 * packets,
            started.elapsed().as_secs_f64()
        );

        // Timed from the first PUT: the packets are in memory before.
        let (sent, bytes, bare) = bare_put_loop(&bare_dir).await;
        let started = Instant::now();
        let drained = drain(&worker_dir).await;
        let with_worker = started.elapsed();
        assert_eq!((sent, drained), (packets, packets));
        let mean_kb = bytes as f64 / sent as f64 / 1000.0;
        println!(
            "bare HTTPS PUT loop: {sent} packets of {mean_kb:.0} KB in {:.2} s ({:.1} packets/s, {:.1} MB/s)",
            bare.as_secs_f64(),
            sent as f64 / bare.as_secs_f64(),
            bytes as f64 / bare.as_secs_f64() / 1e6
        );
        println!(
            "uplink worker drain: {drained} packets in {:.2} s ({:.1} packets/s); {:.2}x the bare loop",
            with_worker.as_secs_f64(),
            drained as f64 / with_worker.as_secs_f64(),
            with_worker.as_secs_f64() / bare.as_secs_f64()
        );

        // 2. Many stations at once.
        let mut dirs = Vec::new();
        let started = Instant::now();
        for i in 0..stations {
            let data = dir.path().join(format!("station-{i}"));
            station_with_packets(&hub, &base, &data, per_station).await;
            dirs.push(data);
        }
        println!(
            "set-up: {stations} stations with {per_station} packets each in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let started = Instant::now();
        let tasks: Vec<_> = dirs
            .into_iter()
            .map(|data| tokio::spawn(async move { drain(&data).await }))
            .collect();
        let mut total = 0;
        for task in tasks {
            total += task.await.unwrap();
        }
        let elapsed = started.elapsed();
        assert_eq!(total, stations * per_station);
        println!(
            "{stations} stations at once: {total} packets in {:.2} s: {:.1} packets/s at the hub",
            elapsed.as_secs_f64(),
            total as f64 / elapsed.as_secs_f64()
        );
    });
}
