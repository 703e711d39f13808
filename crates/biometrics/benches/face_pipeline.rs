//! Face pipeline timings on one thread: each stage and the whole frame at
//! 640x480, the preview path without the embedding, a capture as the
//! station runs it (one embedding per capture), and a chip portrait; with
//! the models' own share of each.
//!
//! `cargo bench -p biometrics --bench face_pipeline`

// A benchmark that cannot find its fixtures should stop at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Instant;

use std::sync::Arc;
use std::time::Duration;

use biometrics::face::{
    AnalyzerConfig, DetectorConfig, FaceAnalyzer, FaceSession, Frame, LivenessStage, StageTimings,
    Stages,
};
use biometrics::models::{ModelCatalog, bundled_models_dir};
use image::{Rgb, RgbImage, imageops};

const WARMUP: usize = 3;
const RUNS: usize = 30;

fn testdata(name: &str) -> RgbImage {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/faces")
        .join(name);
    image::open(path).expect("test image").into_rgb8()
}

/// The live test subject on a 640x480 landscape frame, as the counter
/// camera delivers it.
fn camera_frame() -> Frame {
    let person = imageops::resize(
        &testdata("T1.png"),
        360,
        480,
        imageops::FilterType::Triangle,
    );
    let mut frame = RgbImage::from_pixel(640, 480, Rgb([90, 90, 90]));
    imageops::replace(&mut frame, &person, 140, 0);
    Frame::try_from(frame).expect("frame")
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// CPU time this thread has run, in nanoseconds, from the scheduler's own
/// account: unlike wall time it does not grow when other processes share
/// the cores.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Runs `f` `RUNS` times after a warm-up; returns the median wall time and
/// the mean CPU time per run, in milliseconds.
fn measure(mut f: impl FnMut()) -> (f64, Option<f64>) {
    for _ in 0..WARMUP {
        f();
    }
    let cpu_start = thread_cpu_ns();
    let walls = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    let cpu = cpu_start
        .zip(thread_cpu_ns())
        .map(|(a, b)| (b - a) as f64 / 1e6 / RUNS as f64);
    (median(walls), cpu)
}

fn show(label: &str, (wall, cpu): (f64, Option<f64>)) {
    let cpu = cpu.map_or("n/a".to_owned(), |c| format!("{c:6.2}"));
    println!("{label:<48} wall {wall:7.2} ms   cpu {cpu} ms");
}

fn report(label: &str, analyzer: &FaceAnalyzer, frame: &Frame, stages: Stages) {
    let mut runs: Vec<StageTimings> = Vec::new();
    let whole = measure(|| {
        runs.push(
            analyzer
                .analyze_with(frame, stages)
                .expect("analysis")
                .timings,
        )
    });
    let stage = |f: fn(&StageTimings) -> f64| median(runs.iter().map(f).collect());
    println!(
        "{label:<48} wall per stage: detect {:6.2}  quality {:5.2}  liveness {:6.2}  embedding {:6.2}",
        stage(|t| t.detection_ms),
        stage(|t| t.quality_ms),
        stage(|t| t.liveness_ms),
        stage(|t| t.embedding_ms),
    );
    show(label, whole);
    let (total, inference) = (stage(|t| t.total_ms), stage(|t| t.inference_ms));
    println!(
        "{:<48} models {inference:7.2} ms, pipeline around them {:6.2} ms ({:.0}% overhead)",
        "",
        total - inference,
        (total - inference) / inference * 100.0
    );
}

/// A capture as the station runs it: every frame through a `FaceSession`
/// (detection, quality, liveness), then one embedding of the chosen frame
/// in `outcome`. Prints the cost per analysed frame, amortised.
fn capture(analyzer: Arc<FaceAnalyzer>) {
    const FRAMES: usize = 45;
    // A frontal citizen who sways a little, as in front of a counter camera:
    // 640x480 windows of a photograph around its face.
    let photo = testdata("obama.png");
    let centre = analyzer
        .reference(&Frame::try_from(photo.clone()).expect("frame"))
        .expect("a face")
        .face
        .bbox
        .center();
    let frames: Vec<Frame> = (0..FRAMES)
        .map(|i| {
            let phase = i as f32 / 6.0;
            let x =
                (centre.x - 320.0 + phase.sin() * 12.0).clamp(0.0, (photo.width() - 640) as f32);
            let y =
                (centre.y - 240.0 + phase.cos() * 6.0).clamp(0.0, (photo.height() - 480) as f32);
            let window = imageops::crop_imm(&photo, x as u32, y as u32, 640, 480).to_image();
            Frame::try_from(window).expect("frame")
        })
        .collect();
    let mut session = FaceSession::new(analyzer, None, None);
    let cpu_start = thread_cpu_ns();
    let started = Instant::now();
    let mut per_frame = Vec::new();
    for (i, frame) in frames.into_iter().enumerate() {
        let t = Instant::now();
        session
            .offer(frame, Duration::from_millis(i as u64 * 33))
            .expect("analysis");
        per_frame.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let t = Instant::now();
    let outcome = session.outcome().expect("outcome");
    let outcome_ms = t.elapsed().as_secs_f64() * 1000.0;
    let wall = started.elapsed().as_secs_f64() * 1000.0;
    let cpu = cpu_start
        .zip(thread_cpu_ns())
        .map_or("n/a".to_owned(), |(a, b)| {
            format!("{:6.2}", (b - a) as f64 / 1e6 / FRAMES as f64)
        });
    assert!(outcome.best.is_some(), "the capture must choose a frame");
    let mut sorted = per_frame.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "capture of {FRAMES} frames (FaceSession)            per frame median {:6.2}  p95 {:6.2}  max {:6.2} ms; outcome (embed + JPEG) {outcome_ms:6.2} ms",
        median(per_frame),
        sorted[sorted.len() * 95 / 100],
        sorted[sorted.len() - 1],
    );
    println!(
        "  amortised per analysed frame                  wall {:7.2} ms   cpu {cpu} ms",
        wall / FRAMES as f64
    );
}

fn main() {
    let catalog = ModelCatalog::open(bundled_models_dir()).expect("catalogue");
    let start = Instant::now();
    let analyzer =
        Arc::new(FaceAnalyzer::load(&catalog, AnalyzerConfig::default()).expect("models"));
    println!(
        "models loaded and optimised in {:.0} ms",
        start.elapsed().as_secs_f64() * 1000.0
    );
    let frame = camera_frame();
    let found = analyzer.analyze(&frame).expect("analysis");
    assert_eq!(
        found.faces.len(),
        1,
        "the benchmark frame must show one face"
    );

    report(
        "640x480, detector 320x256, all stages",
        &analyzer,
        &frame,
        Stages::ALL,
    );
    // CPU time stage by stage: each line adds one stage to the one before.
    let none = Stages {
        liveness: LivenessStage::Skip,
        embedding: false,
    };
    show(
        "  detect + quality",
        measure(|| drop(analyzer.analyze_with(&frame, none).expect("analysis"))),
    );
    report(
        "640x480, detector 320x256, preview (no embedding)",
        &analyzer,
        &frame,
        Stages {
            liveness: LivenessStage::Always,
            embedding: false,
        },
    );

    capture(Arc::clone(&analyzer));

    let wide = AnalyzerConfig {
        detector: DetectorConfig {
            input_width: 640,
            input_height: 512,
            ..DetectorConfig::default()
        },
        ..AnalyzerConfig::default()
    };
    let wide = FaceAnalyzer::load(&catalog, wide).expect("models");
    report(
        "640x480, detector 640x512, all stages",
        &wide,
        &frame,
        Stages::ALL,
    );

    // A chip-sized portrait: head and shoulders, 160 pixels wide.
    let head = imageops::crop_imm(&testdata("obama.png"), 250, 0, 480, 600).to_image();
    let portrait = Frame::try_from(imageops::resize(
        &head,
        160,
        200,
        imageops::FilterType::Triangle,
    ))
    .expect("portrait");
    show(
        "reference portrait 160x200 (detect + embed)",
        measure(|| drop(analyzer.reference(&portrait).expect("reference"))),
    );
}
