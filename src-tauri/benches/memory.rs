//! Memory after many enrollments in one app session: the real app in
//! demo mode (the virtual chip, the demo camera with its head turn, the
//! virtual microphone hearing espeak-ng read each challenge), each
//! enrollment driven by calling the window's commands from the page —
//! begin, read, face, voice, submit, a supervisor's approval and sealing.
//! Prints the resident memory of the app's process and of its web content
//! process at the start, every 10 enrollments and at the end; no timed
//! assertion. `STATION_BENCH_ENROLLMENTS` sets how many (default 100).
//! Needs the test bed (display, pcscd with vpcd, PulseAudio); run under
//! `flock /tmp/vpcd.lock` like the WebDriver tests.

// A benchmark that cannot run fails loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod desk;
#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use biometrics::DigitChallenge;
use biometrics::voice::Language;
use fantoccini::Client;
use serde_json::{Value, json};

/// One whole enrollment, sealed and queued; returns how many voice
/// samples were taken again after a refusal.
async fn enroll(client: &Client, dir: &std::path::Path) -> usize {
    desk::invoke(client, "begin_enrollment", json!({}), &[]).await;
    let access = json!({ "access": { "kind": "can", "can": station::enroll::DEMO_CAN } });
    desk::invoke(client, "read_document", access, &["onProgress"]).await;
    let face = json!({ "folder": null });
    desk::invoke(client, "capture_face", face, &["onProgress", "onFrame"]).await;
    // As at the counter, a refused sample is recorded again (twice at
    // most), each time with a new challenge; each refusal is printed.
    let mut retakes = 0;
    while let Err(refusal) = record_voice(client, dir).await {
        println!("voice sample refused: {}", refusal["detail"]);
        retakes += 1;
        assert!(retakes <= 2, "{refusal:#}");
    }
    desk::invoke(client, "submit_enrollment", json!({}), &[]).await;
    let review = json!({
        "supervisor": desk::SUPERVISOR.0,
        "password": desk::SUPERVISOR.1,
        "decision": { "decision": "approve" },
    });
    let outcome = desk::invoke(client, "review", review, &[]).await;
    assert!(outcome["sealed"].is_object(), "{outcome:#}");
    retakes
}

/// One recording: the station's challenge, read by the synthesised citizen
/// once the microphone is open, which its first level reading says
/// (loading the voice models comes before).
async fn record_voice(client: &Client, dir: &std::path::Path) -> Result<Value, Value> {
    let challenge = desk::invoke(client, "voice_challenge", json!({}), &[]).await;
    let digits = challenge["digits"].as_str().unwrap().to_owned();
    let spoken = DigitChallenge::try_from(digits)
        .unwrap()
        .spoken(Language::English);
    let wav = dir.join("voice.wav");
    testbed::read_aloud(&spoken, &wav).unwrap();
    desk::start(client, "capture_voice", json!({}), &["onLevel"]).await;
    // A refusal before the microphone opens shows in the outcome.
    for _ in 0..1200 {
        if desk::messages(client, "onLevel").await > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::task::spawn_blocking(move || testbed::play_into_microphone(&wav))
        .await
        .unwrap()
        .unwrap();
    desk::outcome(client, "capture_voice").await
}

fn report(label: &str, app: u32, web: &[u32], started: Instant) {
    let [app_rss, app_own, web_rss, web_own] = desk::memory_mib(app, web);
    println!(
        "memory {label}: app {app_rss:.1} MiB ({app_own:.1} MiB its own), \
         web content {web_rss:.1} MiB ({web_own:.1} MiB its own) ({:.0} s)",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if !desk::bed_ready() {
        return;
    }
    let total: usize = std::env::var("STATION_BENCH_ENROLLMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let data = tempfile::tempdir().unwrap();
    let (driver, client) = desk::demo_desk(data.path()).await;
    let (app, web) = desk::app_processes(&driver);
    let started = Instant::now();
    report("at start", app, &web, started);
    let mut retakes = 0;
    for n in 1..=total {
        retakes += enroll(&client, data.path()).await;
        if n % 10 == 0 || n == total {
            report(&format!("after {n} enrollments"), app, &web, started);
        }
    }
    let queue = desk::invoke(&client, "queue", json!({}), &[]).await;
    println!(
        "memory: {total} enrollments sealed in one session ({} queued), {:.1} s each, \
         {retakes} voice samples taken again",
        queue["counts"]["queued"],
        started.elapsed().as_secs_f64() / total.max(1) as f64
    );
    client.close().await.unwrap();
}
