//! Voice analysis speed: the real-time factor of the whole check (voice
//! activity, measures, speaker embedding) on 8 s of espeak-ng speech.
//! Run with `cargo bench -p biometrics --bench voice_analysis`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark aborts on any setup failure

use std::time::{Duration, Instant};

use biometrics::VoiceAnalyzer;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("speech.wav");
    testbed::speak(
        "en",
        "four zero seven one nine five eight three, six two eight three zero one four seven",
        &wav,
    )
    .unwrap();
    let mut source = microphone::WavSource::open(&wav).unwrap();
    let samples = microphone::record(&mut source, 60.0, &mut |_| {})
        .unwrap()
        .samples;
    let seconds = samples.len() as f64 / 16_000.0;

    let started = Instant::now();
    let analyzer = VoiceAnalyzer::load_bundled().unwrap();
    println!(
        "load models: {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );

    let mut times: Vec<Duration> = (0..10)
        .map(|_| {
            let t = Instant::now();
            let check = analyzer.analyze(&samples).unwrap();
            assert!(check.embedding.is_some());
            t.elapsed()
        })
        .collect();
    times.sort();
    let median = times[times.len() / 2].as_secs_f64();
    println!(
        "analyse {seconds:.1} s of speech: median {:.0} ms, real-time factor {:.3} ({:.0}x faster than real time)",
        median * 1e3,
        median / seconds,
        seconds / median
    );
}
