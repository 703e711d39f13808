//! The live face capture: the camera pipeline (capture thread, preview,
//! latest-frame-wins analysis feed) feeding a [`FaceSession`] on a worker
//! thread of its own, so analysis never slows the preview and the caller
//! (the window or the CLI) is never blocked.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use biometrics::face::ReferenceFace;
use biometrics::{CaptureOutcome, CaptureUpdate, FaceAnalyzer, FaceSession, HeadTurnChallenge};
use camera::{
    CameraError, CameraSpec, FileOptions, Opener, Pipeline, PipelineConfig, PipelineEvent,
    PreviewFrame,
};

use crate::cancel::Cancellation;
use crate::failure::{Code, Failure};

/// What to capture from and for how long.
#[derive(Debug, Clone)]
pub struct LiveFaceConfig {
    pub camera: CameraSpec,
    pub file: FileOptions,
    pub pipeline: PipelineConfig,
    /// The capture gives up (with what it has) after this long.
    pub time_limit: Duration,
}

/// Opens the camera `spec` names, every time the pipeline asks. A camera
/// that is not there fails here at once, rather than being retried until
/// the time limit.
pub fn opener(spec: &CameraSpec, options: &FileOptions) -> Result<Opener, Failure> {
    match spec {
        CameraSpec::File(_) => {
            spec.open(options).map_err(|e| camera_failure(&e))?;
        }
        CameraSpec::Auto | CameraSpec::Device(_) => {
            if camera::list_cameras()
                .map_err(|e| camera_failure(&e))?
                .is_empty()
            {
                return Err(camera_failure(&CameraError::NoCamera));
            }
        }
    }
    let (spec, options) = (spec.clone(), options.clone());
    Ok(Box::new(move || spec.open(&options)))
}

/// What a capture analyses and for how long, whatever the source.
pub struct Capture {
    pub pipeline: PipelineConfig,
    pub time_limit: Duration,
    pub analyzer: Arc<FaceAnalyzer>,
    /// The chip portrait's face, to match the best frame against.
    pub reference: Option<ReferenceFace>,
    pub challenge: Option<HeadTurnChallenge>,
    /// Stop as soon as the session has its answer; otherwise analyse until
    /// the time limit (to watch a camera or measure the pipeline).
    pub stop_when_complete: bool,
    /// Ends the capture early, as [`LiveFace::cancel`] does: whoever holds a
    /// clone (the clerk's Stop) can.
    pub cancel: Cancellation,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("time_limit", &self.time_limit)
            .finish_non_exhaustive()
    }
}

/// A capture in progress.
pub struct LiveFace {
    pipeline: Option<Pipeline>,
    worker: Option<JoinHandle<Result<CaptureOutcome, Failure>>>,
    cancel: Cancellation,
    last_error: Arc<Mutex<Option<CameraError>>>,
}

/// The catalogue's word for a camera failure.
pub fn camera_failure(error: &CameraError) -> Failure {
    let code = match error {
        CameraError::NoCamera => Code::NoCamera,
        CameraError::BadFile { .. } | CameraError::NoImages(_) | CameraError::BadFrame { .. } => {
            Code::FaceImagesUnreadable
        }
        CameraError::BadSpec(_) => Code::InvalidArgument,
        _ => Code::CameraUnavailable,
    };
    Failure::new(code, error)
}

impl std::fmt::Debug for LiveFace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveFace")
            .field("pipeline", &self.pipeline)
            .finish_non_exhaustive()
    }
}

impl LiveFace {
    /// Checks that the camera exists, then starts capture and analysis.
    /// `preview` gets every preview frame and `updates` every analysed
    /// frame, on the pipeline's and the worker's threads.
    pub fn start(
        config: LiveFaceConfig,
        analyzer: Arc<FaceAnalyzer>,
        reference: Option<ReferenceFace>,
        challenge: Option<HeadTurnChallenge>,
        preview: impl FnMut(PreviewFrame) + Send + 'static,
        updates: impl FnMut(&CaptureUpdate) + Send + 'static,
    ) -> Result<Self, Failure> {
        let open = opener(&config.camera, &config.file)?;
        let capture = Capture {
            pipeline: config.pipeline,
            time_limit: config.time_limit,
            analyzer,
            reference,
            challenge,
            stop_when_complete: true,
            cancel: Cancellation::new(),
        };
        Self::start_with(open, capture, preview, updates)
    }

    /// Starts capture from whatever `open` opens (e.g. the demo camera).
    pub fn start_with(
        open: Opener,
        capture: Capture,
        preview: impl FnMut(PreviewFrame) + Send + 'static,
        mut updates: impl FnMut(&CaptureUpdate) + Send + 'static,
    ) -> Result<Self, Failure> {
        let Capture {
            pipeline: pipeline_config,
            time_limit,
            analyzer,
            reference,
            challenge,
            stop_when_complete,
            cancel,
        } = capture;
        let ended = Arc::new(AtomicBool::new(false));
        let last_error = Arc::new(Mutex::new(None));
        let events = {
            let ended = Arc::clone(&ended);
            move |event: PipelineEvent| {
                if event == PipelineEvent::Ended {
                    ended.store(true, Ordering::SeqCst);
                }
            }
        };
        let opener: Opener = {
            let last_error = Arc::clone(&last_error);
            let mut open = open;
            Box::new(move || {
                open().inspect_err(|e| {
                    *last_error.lock().unwrap_or_else(PoisonError::into_inner) = Some(e.clone());
                })
            })
        };
        let pipeline = Pipeline::start(opener, pipeline_config, preview, events)
            .map_err(|e| camera_failure(&e))?;
        let feed = pipeline.analysis();
        // Our own stop (`LiveFace::cancel`, and dropping), apart from the
        // caller's token: dropping a finished capture must not read as the
        // clerk's Stop.
        let stop = Cancellation::new();
        let worker = {
            let stop = stop.clone();
            let deadline = Instant::now() + time_limit;
            std::thread::Builder::new()
                .name("face-analysis".into())
                .spawn(move || {
                    let mut session = FaceSession::new(analyzer, reference, challenge);
                    while !cancel.is_cancelled()
                        && !stop.is_cancelled()
                        && Instant::now() < deadline
                    {
                        let Some(frame) = feed.next(Duration::from_millis(100)) else {
                            if ended.load(Ordering::SeqCst) || feed.is_closed() {
                                break;
                            }
                            continue;
                        };
                        let at = frame.timestamp;
                        let (width, height) = (frame.width, frame.height);
                        // The preview may still hold the frame: copy only then.
                        let rgb = Arc::try_unwrap(frame).map_or_else(|f| f.rgb.clone(), |f| f.rgb);
                        let frame = biometrics::Frame::new(width, height, rgb)
                            .map_err(|e| Failure::new(Code::Internal, e))?;
                        let update = session
                            .offer(frame, at)
                            .map_err(|e| Failure::new(Code::Internal, e))?;
                        updates(&update);
                        if stop_when_complete && session.is_complete() {
                            break;
                        }
                    }
                    session
                        .outcome()
                        .map_err(|e| Failure::new(Code::Internal, e))
                })
                .map_err(|e| Failure::new(Code::Internal, format!("cannot start analysis: {e}")))?
        };
        Ok(Self {
            pipeline: Some(pipeline),
            worker: Some(worker),
            cancel: stop,
            last_error,
        })
    }

    /// Asks the capture to stop early; [`LiveFace::finish`] then returns what
    /// was gathered.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Waits for the analysis to finish, stops the camera, and returns the
    /// outcome with the pipeline's counters. A capture that never saw a
    /// frame reports the camera's last error.
    pub fn finish(mut self) -> Result<(CaptureOutcome, camera::PipelineStats), Failure> {
        let outcome = match self.worker.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            _ => Err(Failure::new(
                Code::Internal,
                "the face analysis stopped unexpectedly",
            )),
        };
        let stats = self.pipeline.take().map(Pipeline::stop).unwrap_or_default();
        let outcome = outcome?;
        let last_error = self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(error) = last_error
            && outcome.frames_analysed == 0
        {
            return Err(camera_failure(&error));
        }
        Ok((outcome, stats))
    }
}

impl Drop for LiveFace {
    fn drop(&mut self) {
        self.cancel();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}
