//! Capture latency through the real audio stack: from opening the default
//! input to its first level event (the first 1/20 s of audio), median of
//! 20 runs. Needs the test bed's PulseAudio (`scripts/testbed.sh start`);
//! run with `cargo bench -p microphone --bench capture`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark aborts on any setup failure

use std::time::{Duration, Instant};

use microphone::{AudioSource, LevelMeter, Microphone};

fn main() {
    assert!(
        testbed::check(testbed::Service::PulseAudio).is_ok(),
        "start the test bed first: eval \"$(scripts/testbed.sh start pulse)\""
    );
    let mut open_times = Vec::new();
    let mut first_level = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let mut mic = Microphone::open(None).unwrap();
        open_times.push(started.elapsed());
        let mut meter = LevelMeter::new(mic.format().sample_rate);
        loop {
            let chunk = mic.next_chunk().unwrap().unwrap();
            if !meter.push(&chunk).is_empty() {
                break;
            }
        }
        first_level.push(started.elapsed());
    }
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1e3
    };
    println!(
        "open the default input: median {:.1} ms",
        median(open_times)
    );
    println!(
        "open to first level event: median {:.1} ms",
        median(first_level)
    );
}
