//! The pipeline fans frames out, survives its sources, and leaks nothing.

// In tests a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use camera::{
    CameraError, Frame, FrameSource, Opener, Pipeline, PipelineConfig, PipelineEvent, PixelFormat,
    PreviewFrame, RawFrame,
};

/// Frames of one colour that changes each frame, through the YUYV decoder.
struct Synthetic {
    width: u32,
    height: u32,
    served: u32,
    /// Then fail (as an unplugged camera does) or end.
    limit: Option<(u32, Option<CameraError>)>,
    interval: Duration,
}

impl Synthetic {
    fn endless(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            served: 0,
            limit: None,
            interval: Duration::ZERO,
        }
    }
}

impl FrameSource for Synthetic {
    fn next_frame(&mut self) -> Result<Option<Frame>, CameraError> {
        if let Some((limit, error)) = &self.limit
            && self.served >= *limit
        {
            return match error {
                Some(e) => Err(e.clone()),
                None => Ok(None),
            };
        }
        std::thread::sleep(self.interval);
        let y = 16 + (self.served % 200) as u8;
        let bytes = [y, 128, y, 128].repeat((self.width * self.height / 2) as usize);
        self.served += 1;
        RawFrame {
            format: PixelFormat::Yuyv,
            width: self.width,
            height: self.height,
            bytes,
            timestamp: Duration::from_millis(u64::from(self.served)),
        }
        .decode()
        .map(Some)
    }
}

/// Tests here count the process's threads: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn opener(make: impl Fn(u32) -> Synthetic + Send + 'static) -> (Opener, Arc<AtomicU32>) {
    let opened = Arc::new(AtomicU32::new(0));
    let count = Arc::clone(&opened);
    let open: Opener = Box::new(move || {
        let n = count.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(make(n)) as Box<dyn FrameSource>)
    });
    (open, opened)
}

fn collect<T: Send + 'static>() -> (Arc<Mutex<Vec<T>>>, impl FnMut(T) + Send + 'static) {
    let store = Arc::new(Mutex::new(Vec::new()));
    let sink = {
        let store = Arc::clone(&store);
        move |item| store.lock().unwrap().push(item)
    };
    (store, sink)
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn preview_and_analysis_each_get_the_newest_frames() {
    let _serial = serial();
    let (open, _) = opener(|_| Synthetic {
        interval: Duration::from_millis(2),
        ..Synthetic::endless(640, 480)
    });
    let (previews, preview_sink) = collect::<PreviewFrame>();
    let config = PipelineConfig {
        preview_fps: 20.0,
        preview_width: 320,
        ..PipelineConfig::default()
    };
    let pipeline = Pipeline::start(open, config, preview_sink, |_| {}).unwrap();
    let feed = pipeline.analysis();
    // A slow analyser: it must see fresh frames, not a backlog.
    let mut analysed = Vec::new();
    while analysed.len() < 5 {
        if let Some(frame) = feed.next(Duration::from_secs(10)) {
            analysed.push(frame.timestamp);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    wait_until("previews", || previews.lock().unwrap().len() >= 3);
    let stats = pipeline.stop();
    assert!(stats.analysis_dropped > 0, "{stats:?}");
    assert!(analysed.windows(2).all(|w| w[1] > w[0]), "{analysed:?}");
    assert!(
        stats.captured >= stats.previews + stats.preview_dropped - 1,
        "{stats:?}"
    );

    let previews = previews.lock().unwrap();
    let first = &previews[0];
    assert_eq!((first.width, first.height), (320, 240));
    let decoded = image::load_from_memory(&first.jpeg).unwrap().into_rgb8();
    assert_eq!(decoded.dimensions(), (320, 240));
    // The preview shows the captured colour (grey levels from the source).
    let p = decoded.get_pixel(160, 120).0;
    assert!(p[0].abs_diff(p[1]) < 6 && p[1].abs_diff(p[2]) < 6, "{p:?}");
    assert!(previews.windows(2).all(|w| w[1].seq > w[0].seq));
}

#[test]
fn a_source_that_fails_mid_stream_is_reported_and_reopened() {
    let _serial = serial();
    let (open, opened) = opener(|_| Synthetic {
        limit: Some((
            5,
            Some(CameraError::Lost {
                device: "0".into(),
                message: "unplugged".into(),
            }),
        )),
        ..Synthetic::endless(64, 48)
    });
    let (events, event_sink) = collect::<PipelineEvent>();
    let config = PipelineConfig {
        retry_delay: Duration::from_millis(20),
        ..PipelineConfig::default()
    };
    let pipeline = Pipeline::start(open, config, |_| {}, event_sink).unwrap();
    wait_until("three opens", || opened.load(Ordering::SeqCst) >= 3);
    let stats = pipeline.stop();
    assert!(stats.captured >= 10, "{stats:?}");
    assert!(stats.failures >= 2, "{stats:?}");
    let events = events.lock().unwrap();
    assert_eq!(events[0], PipelineEvent::Streaming);
    assert_eq!(
        events[1],
        PipelineEvent::Failed {
            error: "camera 0 stopped delivering frames: unplugged".into(),
            retry_in_ms: 20
        }
    );
    assert_eq!(events[2], PipelineEvent::Streaming);
}

#[test]
fn a_source_that_cannot_open_is_retried_until_it_can() {
    let _serial = serial();
    let attempts = Arc::new(AtomicU32::new(0));
    let count = Arc::clone(&attempts);
    let open: Opener = Box::new(move || {
        if count.fetch_add(1, Ordering::SeqCst) < 2 {
            return Err(CameraError::Busy { device: "0".into() });
        }
        Ok(Box::new(Synthetic::endless(32, 16)))
    });
    let (events, event_sink) = collect::<PipelineEvent>();
    let config = PipelineConfig {
        retry_delay: Duration::from_millis(10),
        ..PipelineConfig::default()
    };
    let pipeline = Pipeline::start(open, config, |_| {}, event_sink).unwrap();
    let frame = pipeline.analysis().next(Duration::from_secs(30)).unwrap();
    assert_eq!((frame.width, frame.height), (32, 16));
    drop(pipeline);
    let events = events.lock().unwrap();
    assert!(matches!(&events[0], PipelineEvent::Failed { error, .. } if error.contains("in use")));
    assert!(matches!(&events[1], PipelineEvent::Failed { .. }));
    assert_eq!(events[2], PipelineEvent::Streaming);
}

#[test]
fn an_ending_source_is_reported_and_restarted_when_asked() {
    let _serial = serial();
    for restart in [false, true] {
        let (open, opened) = opener(|_| Synthetic {
            limit: Some((3, None)),
            ..Synthetic::endless(16, 16)
        });
        let (events, event_sink) = collect::<PipelineEvent>();
        let config = PipelineConfig {
            restart_at_end: restart,
            ..PipelineConfig::default()
        };
        let pipeline = Pipeline::start(open, config, |_| {}, event_sink).unwrap();
        wait_until("the end", || {
            events.lock().unwrap().contains(&PipelineEvent::Ended)
        });
        if restart {
            wait_until("a reopen", || opened.load(Ordering::SeqCst) >= 3);
        } else {
            std::thread::sleep(Duration::from_millis(50));
            assert_eq!(opened.load(Ordering::SeqCst), 1);
        }
        let stats = pipeline.stop();
        if !restart {
            assert_eq!(stats.captured, 3, "{stats:?}");
        }
    }
}

#[test]
fn undecodable_frames_are_skipped_then_count_as_a_failure() {
    let _serial = serial();
    struct Garbage(u32);
    impl FrameSource for Garbage {
        fn next_frame(&mut self) -> Result<Option<Frame>, CameraError> {
            self.0 += 1;
            let bytes = if self.0.is_multiple_of(2) {
                vec![1, 2, 3]
            } else {
                vec![9; 16 * 8 * 2]
            };
            let raw = RawFrame {
                format: PixelFormat::Yuyv,
                width: 16,
                height: 8,
                bytes,
                timestamp: Duration::ZERO,
            };
            raw.decode().map(Some)
        }
    }
    let open: Opener = Box::new(|| Ok(Box::new(Garbage(0))));
    let pipeline = Pipeline::start(open, PipelineConfig::default(), |_| {}, |_| {}).unwrap();
    wait_until("bad frames", || pipeline.stats().bad_frames >= 10);
    let stats = pipeline.stop();
    assert_eq!(
        stats.failures, 0,
        "alternate bad frames never fail the source"
    );
    assert!(stats.captured >= 9, "{stats:?}");

    struct AllBad;
    impl FrameSource for AllBad {
        fn next_frame(&mut self) -> Result<Option<Frame>, CameraError> {
            Err(CameraError::BadFrame {
                format: PixelFormat::Mjpeg,
                message: "corrupt".into(),
            })
        }
    }
    let open: Opener = Box::new(|| Ok(Box::new(AllBad)));
    let config = PipelineConfig {
        bad_frames_tolerated: 4,
        retry_delay: Duration::from_millis(1),
        ..PipelineConfig::default()
    };
    let pipeline = Pipeline::start(open, config, |_| {}, |_| {}).unwrap();
    wait_until("a failure", || pipeline.stats().failures >= 2);
    assert!(pipeline.stop().bad_frames >= 8);
}

/// The pipeline's own threads alive in this process (the test harness
/// starts and ends threads of its own meanwhile).
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .filter(|name| name.starts_with("camera-"))
        .count()
}

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn ten_thousand_frames_and_restarts_leak_no_threads_or_memory() {
    let _serial = serial();
    let before = threads();
    assert_eq!(before, 0);
    let mut baseline = None;
    for round in 0..5 {
        let (open, _) = opener(|_| Synthetic::endless(160, 120));
        let (previews, preview_sink) = collect::<PreviewFrame>();
        let config = PipelineConfig {
            preview_fps: 60.0,
            ..PipelineConfig::default()
        };
        let pipeline = Pipeline::start(open, config, preview_sink, |_| {}).unwrap();
        let feed = pipeline.analysis();
        let mut taken = 0u64;
        while pipeline.stats().captured < 2_000 {
            if feed.next(Duration::from_millis(100)).is_some() {
                taken += 1;
            }
            // Keep the preview frames we got from piling up in the test.
            previews.lock().unwrap().clear();
        }
        assert_eq!(threads(), 2, "a capture and a preview thread");
        let stats = pipeline.stop();
        assert!(taken > 0 && stats.previews > 0, "{stats:?}");
        // At the stop, one frame may still sit in the slot and another be
        // on its way to it; every other frame was taken or counted.
        assert!(
            stats.analysis_dropped + taken >= stats.captured - 2,
            "every frame is taken or counted as dropped: {stats:?}, taken {taken}"
        );
        assert_eq!(threads(), before, "round {round} left threads behind");
        let rss = resident_kib();
        let base = *baseline.get_or_insert(rss);
        // 8000 frames after the first round, nothing may accumulate: a
        // frame is 230 KiB, so a leak of even one in a hundred shows.
        assert!(
            rss < base + 16 * 1024,
            "round {round}: RSS {rss} KiB after {base} KiB"
        );
    }
}
