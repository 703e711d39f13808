//! Face pipeline timings on one thread: each stage and the whole frame at
//! 640x480, the preview path without the embedding, and a chip portrait.
//!
//! `cargo bench -p biometrics --bench face_pipeline`

// A benchmark that cannot find its fixtures should stop at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Instant;

use biometrics::face::{AnalyzerConfig, DetectorConfig, FaceAnalyzer, Frame, StageTimings, Stages};
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
}

fn main() {
    let catalog = ModelCatalog::open(bundled_models_dir()).expect("catalogue");
    let start = Instant::now();
    let analyzer = FaceAnalyzer::load(&catalog, AnalyzerConfig::default()).expect("models");
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
        "640x480, detector 320, all stages",
        &analyzer,
        &frame,
        Stages::ALL,
    );
    // CPU time stage by stage: each line adds one stage to the one before.
    let none = Stages {
        liveness: false,
        embedding: false,
    };
    show(
        "  detect + quality",
        measure(|| drop(analyzer.analyze_with(&frame, none).expect("analysis"))),
    );
    report(
        "640x480, detector 320, preview (no embedding)",
        &analyzer,
        &frame,
        Stages {
            liveness: true,
            embedding: false,
        },
    );

    let wide = AnalyzerConfig {
        detector: DetectorConfig {
            input_size: 640,
            ..DetectorConfig::default()
        },
        ..AnalyzerConfig::default()
    };
    let wide = FaceAnalyzer::load(&catalog, wide).expect("models");
    report(
        "640x480, detector 640, all stages",
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
