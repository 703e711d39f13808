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

use fantoccini::Client;
use serde_json::json;

const DIGITS: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

/// One whole enrollment, sealed and queued.
async fn enroll(client: &Client, dir: &std::path::Path) {
    desk::invoke(client, "begin_enrollment", json!({}), &[]).await;
    let access = json!({ "access": { "kind": "can", "can": station::enroll::DEMO_CAN } });
    desk::invoke(client, "read_document", access, &["onProgress"]).await;
    let face = json!({ "folder": null });
    desk::invoke(client, "capture_face", face, &["onProgress", "onFrame"]).await;
    let challenge = desk::invoke(client, "voice_challenge", json!({}), &[]).await;
    let words: Vec<&str> = challenge["digits"]
        .as_str()
        .unwrap()
        .bytes()
        .map(|b| DIGITS[usize::from(b - b'0')])
        .collect();
    let wav = dir.join("voice.wav");
    testbed::speak("en", &words.join(" "), &wav).unwrap();
    let player = tokio::task::spawn_blocking(move || {
        // The recording starts first.
        std::thread::sleep(std::time::Duration::from_millis(500));
        testbed::play_into_microphone(&wav)
    });
    desk::invoke(client, "capture_voice", json!({}), &["onLevel"]).await;
    player.await.unwrap().unwrap();
    desk::invoke(client, "submit_enrollment", json!({}), &[]).await;
    let review = json!({
        "supervisor": desk::SUPERVISOR.0,
        "password": desk::SUPERVISOR.1,
        "decision": { "decision": "approve" },
    });
    let outcome = desk::invoke(client, "review", review, &[]).await;
    assert!(outcome["sealed"].is_object(), "{outcome:#}");
}

fn report(label: &str, app: u32, web: &[u32], started: Instant) {
    let web_mib: f64 = web.iter().map(|p| desk::rss_mib(*p)).sum();
    println!(
        "memory {label}: app {:.1} MiB, web content {:.1} MiB ({:.0} s)",
        desk::rss_mib(app),
        web_mib,
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
    for n in 1..=total {
        enroll(&client, data.path()).await;
        if n % 10 == 0 || n == total {
            report(&format!("after {n} enrollments"), app, &web, started);
        }
    }
    let queue = desk::invoke(&client, "queue", json!({}), &[]).await;
    println!(
        "memory: {total} enrollments sealed in one session ({} queued), {:.1} s each",
        queue["counts"]["queued"],
        started.elapsed().as_secs_f64() / total.max(1) as f64
    );
    client.close().await.unwrap();
}
