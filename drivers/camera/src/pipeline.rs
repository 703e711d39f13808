//! The live frame pipeline: one capture thread, fanned out to the preview
//! (downscaled JPEG at a steady rate, for the clerk's window) and to the
//! analyser (latest frame wins). Neither consumer can slow capture down: each
//! has a one-slot [`Latest`] mailbox, and what they miss is counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::{CameraError, Frame, FrameSource, Latest};

/// Opens the source; called on the capture thread, again after a failure.
pub type Opener = Box<dyn FnMut() -> Result<Box<dyn FrameSource>, CameraError> + Send>;

#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    /// Preview frames wider than this are scaled down.
    pub preview_width: u32,
    /// Preview frames a second at most.
    pub preview_fps: f64,
    pub jpeg_quality: u8,
    /// Wait before reopening a source that failed.
    pub retry_delay: Duration,
    /// Reopen a source that ended (a file played in a loop by reopening).
    pub restart_at_end: bool,
    /// Undecodable frames in a row before the source counts as failed.
    pub bad_frames_tolerated: u32,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            preview_width: 640,
            preview_fps: 25.0,
            jpeg_quality: 75,
            retry_delay: Duration::from_secs(1),
            restart_at_end: false,
            bad_frames_tolerated: 30,
        }
    }
}

/// A preview frame for the window: a JPEG, never base64.
#[derive(Clone)]
pub struct PreviewFrame {
    /// Counts captured frames, so gaps show what the preview skipped.
    pub seq: u64,
    pub width: u32,
    pub height: u32,
    pub jpeg: Vec<u8>,
    /// The source's timestamp of the frame.
    pub timestamp: Duration,
    /// When the capture thread received the frame.
    pub captured: Instant,
}

impl std::fmt::Debug for PreviewFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PreviewFrame(#{} {}x{}, {} bytes)",
            self.seq,
            self.width,
            self.height,
            self.jpeg.len()
        )
    }
}

/// What the capture side went through, for the window and the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PipelineEvent {
    /// A source was opened and frames flow.
    Streaming,
    /// The source has no more frames.
    Ended,
    /// The source failed or could not be opened; retried after the delay.
    Failed { error: String, retry_in_ms: u64 },
}

/// Counters since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PipelineStats {
    pub captured: u64,
    pub bad_frames: u64,
    pub failures: u64,
    pub opened: u64,
    pub previews: u64,
    /// Frames the preview never showed (it was busy or pacing).
    pub preview_dropped: u64,
    /// Frames replaced before the analyser took them.
    pub analysis_dropped: u64,
}

#[derive(Default)]
struct Counters {
    captured: AtomicU64,
    bad_frames: AtomicU64,
    failures: AtomicU64,
    opened: AtomicU64,
    previews: AtomicU64,
    preview_skipped: AtomicU64,
}

struct Shared {
    stop: Mutex<bool>,
    stopping: Condvar,
    counters: Counters,
    preview: Latest<(u64, Arc<Frame>, Instant)>,
    analysis: Arc<Latest<Arc<Frame>>>,
}

impl Shared {
    /// Sleeps up to `timeout`; true when asked to stop.
    fn wait_for_stop(&self, timeout: Duration) -> bool {
        let stop = self.stop.lock().unwrap_or_else(PoisonError::into_inner);
        let (stop, _) = self
            .stopping
            .wait_timeout_while(stop, timeout, |s| !*s)
            .unwrap_or_else(PoisonError::into_inner);
        *stop
    }

    fn stopped(&self) -> bool {
        *self.stop.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The analyser's end: the newest frame, never a backlog.
#[derive(Clone)]
pub struct AnalysisFeed(Arc<Latest<Arc<Frame>>>);

impl std::fmt::Debug for AnalysisFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AnalysisFeed")
    }
}

impl AnalysisFeed {
    /// The newest frame not yet taken, waiting up to `timeout`. `None` on
    /// timeout or when the pipeline stopped.
    pub fn next(&self, timeout: Duration) -> Option<Arc<Frame>> {
        self.0.take(timeout)
    }

    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

/// A running pipeline; stops (and joins its threads) on [`Pipeline::stop`]
/// or drop.
pub struct Pipeline {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Pipeline {
    /// Starts capture and preview threads. `preview` receives each preview
    /// frame and `events` each change of the source's state, on the
    /// pipeline's threads: keep them quick.
    pub fn start(
        open: Opener,
        config: PipelineConfig,
        preview: impl FnMut(PreviewFrame) + Send + 'static,
        events: impl FnMut(PipelineEvent) + Send + 'static,
    ) -> Result<Self, CameraError> {
        let shared = Arc::new(Shared {
            stop: Mutex::new(false),
            stopping: Condvar::new(),
            counters: Counters::default(),
            preview: Latest::new(),
            analysis: Arc::new(Latest::new()),
        });
        let spawn_error = |e: std::io::Error| CameraError::Open {
            device: "pipeline".into(),
            message: format!("cannot start a thread: {e}"),
        };
        let capture = {
            let shared = Arc::clone(&shared);
            let config = config.clone();
            std::thread::Builder::new()
                .name("camera-capture".into())
                .spawn(move || capture_loop(&shared, open, &config, events))
                .map_err(spawn_error)?
        };
        let previewer = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("camera-preview".into())
                .spawn(move || preview_loop(&shared, &config, preview))
        };
        let mut pipeline = Self {
            shared,
            threads: vec![capture],
        };
        pipeline.threads.push(previewer.map_err(spawn_error)?);
        Ok(pipeline)
    }

    pub fn analysis(&self) -> AnalysisFeed {
        AnalysisFeed(Arc::clone(&self.shared.analysis))
    }

    pub fn stats(&self) -> PipelineStats {
        let c = &self.shared.counters;
        PipelineStats {
            captured: c.captured.load(Ordering::Relaxed),
            bad_frames: c.bad_frames.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            opened: c.opened.load(Ordering::Relaxed),
            previews: c.previews.load(Ordering::Relaxed),
            preview_dropped: self.shared.preview.replaced()
                + c.preview_skipped.load(Ordering::Relaxed),
            analysis_dropped: self.shared.analysis.replaced(),
        }
    }

    /// Stops both threads, waits for them, and returns the final counts.
    pub fn stop(mut self) -> PipelineStats {
        self.shutdown();
        self.stats()
    }

    fn shutdown(&mut self) {
        *self
            .shared
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.shared.stopping.notify_all();
        self.shared.preview.close();
        self.shared.analysis.close();
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                tracing::error!("a camera pipeline thread panicked");
            }
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn capture_loop(
    shared: &Shared,
    mut open: Opener,
    config: &PipelineConfig,
    mut events: impl FnMut(PipelineEvent),
) {
    let counters = &shared.counters;
    let mut source: Option<Box<dyn FrameSource>> = None;
    let mut bad_in_a_row = 0;
    let fail = |error: CameraError, events: &mut dyn FnMut(PipelineEvent)| {
        tracing::warn!("camera: {error}; retrying in {:?}", config.retry_delay);
        counters.failures.fetch_add(1, Ordering::Relaxed);
        events(PipelineEvent::Failed {
            error: error.to_string(),
            retry_in_ms: config.retry_delay.as_millis() as u64,
        });
        shared.wait_for_stop(config.retry_delay)
    };
    while !shared.stopped() {
        let current = match &mut source {
            Some(s) => s,
            None => match open() {
                Ok(s) => {
                    counters.opened.fetch_add(1, Ordering::Relaxed);
                    bad_in_a_row = 0;
                    events(PipelineEvent::Streaming);
                    source.insert(s)
                }
                Err(e) => {
                    if fail(e, &mut events) {
                        break;
                    }
                    continue;
                }
            },
        };
        match current.next_frame() {
            Ok(Some(frame)) => {
                bad_in_a_row = 0;
                let seq = counters.captured.fetch_add(1, Ordering::Relaxed);
                let frame = Arc::new(frame);
                shared
                    .preview
                    .put((seq, Arc::clone(&frame), Instant::now()));
                shared.analysis.put(frame);
            }
            Ok(None) => {
                source = None;
                events(PipelineEvent::Ended);
                if !config.restart_at_end && shared.wait_for_stop(Duration::MAX) {
                    break;
                }
            }
            Err(e) if e.is_frame_error() && bad_in_a_row < config.bad_frames_tolerated => {
                bad_in_a_row += 1;
                counters.bad_frames.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("camera: skipped a frame: {e}");
            }
            Err(e) => {
                source = None;
                if fail(e, &mut events) {
                    break;
                }
            }
        }
    }
}

fn preview_loop(shared: &Shared, config: &PipelineConfig, mut sink: impl FnMut(PreviewFrame)) {
    let interval = Duration::from_secs_f64(1.0 / config.preview_fps.clamp(1.0, 60.0));
    let mut due = Instant::now();
    let mut jpeg = Vec::new();
    while !shared.preview.is_closed() {
        let Some(mut next) = shared.preview.take(Duration::from_millis(250)) else {
            continue;
        };
        // Hold to the preview rate; a newer frame that arrives meanwhile
        // replaces this one.
        let now = Instant::now();
        if now < due {
            if shared.wait_for_stop(due - now) {
                break;
            }
            if let Some(newer) = shared.preview.take(Duration::ZERO) {
                next = newer;
                shared
                    .counters
                    .preview_skipped
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        due = Instant::now().max(due) + interval;
        let (seq, frame, captured) = next;
        match encode_preview(&frame, config, &mut jpeg) {
            Ok((width, height)) => {
                shared.counters.previews.fetch_add(1, Ordering::Relaxed);
                sink(PreviewFrame {
                    seq,
                    width,
                    height,
                    jpeg: std::mem::take(&mut jpeg),
                    timestamp: frame.timestamp,
                    captured,
                });
            }
            Err(e) => tracing::warn!("camera preview: {e}"),
        }
    }
}

/// Scales `frame` down to the preview width and encodes it as JPEG into `out`.
fn encode_preview(
    frame: &Frame,
    config: &PipelineConfig,
    out: &mut Vec<u8>,
) -> Result<(u32, u32), image::ImageError> {
    out.clear();
    let mut encoder =
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut *out, config.jpeg_quality);
    if frame.width <= config.preview_width {
        encoder.encode(
            &frame.rgb,
            frame.width,
            frame.height,
            image::ExtendedColorType::Rgb8,
        )?;
        return Ok((frame.width, frame.height));
    }
    let image = image::ImageBuffer::<image::Rgb<u8>, &[u8]>::from_raw(
        frame.width,
        frame.height,
        frame.rgb.as_slice(),
    )
    .ok_or_else(|| {
        image::ImageError::Parameter(image::error::ParameterError::from_kind(
            image::error::ParameterErrorKind::DimensionMismatch,
        ))
    })?;
    let width = config.preview_width.max(1);
    let height =
        (u64::from(frame.height) * u64::from(width) / u64::from(frame.width)).max(1) as u32;
    let small = image::imageops::thumbnail(&image, width, height);
    encoder.encode(
        small.as_raw(),
        width,
        height,
        image::ExtendedColorType::Rgb8,
    )?;
    Ok((width, height))
}
