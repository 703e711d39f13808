//! The live face capture under load: a 1280x720 MJPEG camera at 30 frames a
//! second (a file played as one, through the same decoder) while the face
//! analysis runs on its worker, on this machine's cores. Prints the preview
//! rate, the capture-to-preview latency, the analysed frame rate, the
//! frames each consumer skipped, and resident memory over the run.
//!
//! Run with `cargo bench --workspace --locked --bench live_face`;
//! `LIVE_FACE_SECONDS=600` for a ten-minute run (default 60).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark's set-up may panic

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use biometrics::FaceAnalyzer;
use camera::{CameraSpec, FileOptions, PipelineConfig};
use station::live_face::{Capture, LiveFace, opener};

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 720;

/// Two seconds of a face drifting to and fro across a 720p frame, as MJPEG
/// (no jump at the loop, which the head-turn check would take for another
/// face).
fn clip(dir: &Path) -> std::path::PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let face = image::open(repo.join("testdata/faces/obama.png"))
        .unwrap()
        .into_rgb8();
    let face = image::imageops::resize(&face, 480, 600, image::imageops::FilterType::Triangle);
    let mut out = Vec::new();
    for i in 0..60u32 {
        let mut frame = image::RgbImage::from_pixel(WIDTH, HEIGHT, image::Rgb([90, 100, 110]));
        let drift = if i < 30 { i } else { 60 - i };
        image::imageops::overlay(&mut frame, &face, i64::from(300 + drift * 4), 60);
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
            .encode_image(&frame)
            .unwrap();
    }
    let path = dir.join("counter.mjpeg");
    std::fs::write(&path, out).unwrap();
    path
}

fn resident_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

fn main() {
    let seconds: u64 = std::env::var("LIVE_FACE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let dir = tempfile::tempdir().unwrap();
    let path = clip(dir.path());
    let analyzer = Arc::new(FaceAnalyzer::load_bundled().unwrap());
    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    let analysed = Arc::new(Mutex::new(0usize));
    let options = FileOptions {
        fps: Some(30.0),
        paced: true,
        looped: true,
    };
    let open = opener(&CameraSpec::File(path), &options).unwrap();
    let capture = Capture {
        pipeline: PipelineConfig {
            preview_fps: 30.0,
            ..PipelineConfig::default()
        },
        time_limit: Duration::from_secs(seconds),
        analyzer,
        reference: None,
        challenge: None,
        // Keep analysing for the whole run, whatever the verdict.
        stop_when_complete: false,
        cancel: station::cancel::Cancellation::new(),
    };
    let rss_start = resident_mib();
    let started = Instant::now();
    let live = {
        let latencies = Arc::clone(&latencies);
        let analysed = Arc::clone(&analysed);
        LiveFace::start_with(
            open,
            capture,
            move |p| {
                let ms = p.captured.elapsed().as_secs_f64() * 1000.0;
                latencies.lock().unwrap().push(ms);
            },
            move |_| *analysed.lock().unwrap() += 1,
        )
        .unwrap()
    };
    let mut peak = rss_start;
    let mut samples = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(1));
        let rss = resident_mib();
        peak = peak.max(rss);
        samples.push(rss);
    }
    let (_, stats) = live.finish().unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort_by(f64::total_cmp);
    let analysed = *analysed.lock().unwrap();
    println!("live face capture, {WIDTH}x{HEIGHT} MJPEG at 30 fps, {elapsed:.0} s");
    println!(
        "  captured {:.1} fps, preview {:.1} fps, analysed {:.1} fps",
        stats.captured as f64 / elapsed,
        stats.previews as f64 / elapsed,
        analysed as f64 / elapsed
    );
    println!(
        "  capture -> preview latency: median {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        percentile(&lat, 0.5),
        percentile(&lat, 0.95),
        lat.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "  skipped: preview {}, analysis {} of {} frames",
        stats.preview_dropped, stats.analysis_dropped, stats.captured
    );
    let tenth = samples.len() / 10;
    println!(
        "  resident memory: {rss_start:.0} MiB before, {:.0} MiB after the first tenth, {:.0} MiB at the end, peak {peak:.0} MiB",
        samples.get(tenth).copied().unwrap_or(f64::NAN),
        samples.last().copied().unwrap_or(f64::NAN),
    );
}
