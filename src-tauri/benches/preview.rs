//! The face step's live preview in the window while analysis runs: the
//! demo camera through the real pipeline (capture, preview encoding,
//! analysis with the head-turn challenge), its frames shown by the real
//! wizard, which counts them and times each from capture to display (the
//! capture time rides in front of every preview JPEG). Prints the shown
//! frame rate, the capture → display latency and the peak resident memory
//! of the app and its web process while the camera runs; no timed
//! assertion.
//! Needs the test bed (display, pcscd with vpcd, PulseAudio); run under
//! `flock /tmp/vpcd.lock` like the WebDriver tests.

// A benchmark that cannot run fails loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod desk;
#[path = "../tests/support/mod.rs"]
mod support;

use fantoccini::{Client, Locator};
use serde_json::json;

/// Face captures measured, each in a new enrollment.
const RUNS: usize = 3;

async fn click(client: &Client, testid: &str) {
    let css = format!("[data-testid={testid}]");
    desk::wait(client, &css).await;
    client
        .find(Locator::Css(&css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// One enrollment up to the face result; the preview's numbers as the
/// window recorded them.
async fn capture(client: &Client) -> (f64, f64, Vec<f64>) {
    click(client, "new-enrollment").await;
    click(client, "access-can").await;
    let can = client
        .find(Locator::Css("[data-testid=can]"))
        .await
        .unwrap();
    can.send_keys(station::enroll::DEMO_CAN).await.unwrap();
    click(client, "read-chip").await;
    desk::wait(client, "[data-testid=document-result]").await;
    click(client, "next").await;
    click(client, "capture-face").await;
    desk::wait(client, "[data-testid=face-result]").await;
    let result = client
        .find(Locator::Css("[data-testid=face-result]"))
        .await
        .unwrap();
    let number = |v: Option<String>| v.unwrap_or_default().parse::<f64>().unwrap_or(0.0);
    let frames = number(result.attr("data-preview-frames").await.unwrap());
    let seconds = number(result.attr("data-preview-seconds").await.unwrap());
    let latencies = result
        .attr("data-preview-latencies")
        .await
        .unwrap()
        .unwrap_or_default()
        .split(',')
        .filter_map(|v| v.parse::<f64>().ok())
        .collect();
    click(client, "cancel-enrollment").await;
    (frames, seconds, latencies)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(f64::NAN)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if !desk::bed_ready() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let (driver, client) = desk::demo_desk(data.path()).await;
    // The models load with the first enrollment; not part of the numbers.
    desk::invoke(&client, "begin_enrollment", json!({}), &[]).await;
    desk::invoke(&client, "cancel_enrollment", json!({}), &[]).await;
    let peaks = Peaks::watch(desk::app_processes(&driver));
    let (mut frames, mut seconds, mut latencies) = (0.0, 0.0, Vec::new());
    for run in 1..=RUNS {
        let (f, s, l) = capture(&client).await;
        println!(
            "preview run {run}: {f:.0} frames received in {s:.1} s, {} shown",
            l.len()
        );
        frames += f;
        seconds += s;
        latencies.extend(l);
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "preview: {:.1} fps received ({} frames over {:.1} s, {RUNS} captures with analysis running); \
         capture -> display latency median {:.0} ms, p95 {:.0} ms, max {:.0} ms over {} frames shown",
        frames / seconds.max(f64::EPSILON),
        frames,
        seconds,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
        latencies.last().copied().unwrap_or(f64::NAN),
        latencies.len(),
    );
    let [app, app_own, web, web_own] = peaks.stop();
    println!(
        "memory with the camera running (peaks): app {app:.1} MiB ({app_own:.1} MiB its own), \
         web content {web:.1} MiB ({web_own:.1} MiB its own)"
    );
    client.close().await.unwrap();
}

/// The largest resident memory seen while the captures ran, sampled every
/// 50 ms: the app's and its web process's, all and their own.
struct Peaks {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sampler: std::thread::JoinHandle<[f64; 4]>,
}

impl Peaks {
    fn watch((app, web): (u32, Vec<u32>)) -> Self {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let done = stop.clone();
        let sampler = std::thread::spawn(move || {
            let mut peaks = [0.0f64; 4];
            while !done.load(Ordering::Relaxed) {
                for (peak, now) in peaks.iter_mut().zip(desk::memory_mib(app, &web)) {
                    *peak = peak.max(now);
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            peaks
        });
        Self { stop, sampler }
    }

    fn stop(self) -> [f64; 4] {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.sampler.join().unwrap()
    }
}
