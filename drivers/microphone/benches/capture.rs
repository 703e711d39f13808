//! Capture latency through the real audio stack, median of 10 runs: the
//! time to open the default input, and from the open stream to its first
//! level event (the first 1/20 s of audio). Runs are 2.5 s apart: cpal's
//! PulseAudio backend takes about two seconds to let go of a closed stream,
//! and an open in that time waits for it. Needs the test bed's PulseAudio
//! (`scripts/testbed.sh start pulse`); run with
//! `cargo bench --workspace --profile dev --bench capture`.

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
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(2_500));
        let started = Instant::now();
        let mut mic = Microphone::open(None).unwrap();
        let opened = Instant::now();
        open_times.push(opened - started);
        let mut meter = LevelMeter::new(mic.format().sample_rate);
        loop {
            let chunk = mic.next_chunk().unwrap().unwrap();
            if !meter.push(&chunk).is_empty() {
                break;
            }
        }
        first_level.push(opened.elapsed());
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
        "open stream to first level event: median {:.1} ms",
        median(first_level)
    );
}
