//! `station enroll`: one whole enrollment, headless.
//!
//! The clerk and the supervisor sign in; the enrollment is started; the
//! chip is read and checked through PC/SC; the face images are analysed
//! (liveness over all frames, the best live frame matched against the chip
//! portrait); the voice sample is analysed; the clerk submits, the
//! supervisor approves; the packet is sealed to the platform and queued
//! in the outbox together with its enrollment's move to `queued`. Each step
//! goes through the store, which writes it with its audit entry.
//!
//! Captured data stays in memory until it is sealed: nothing personal is
//! written to disk in the clear or logged. A step that fails leaves the
//! enrollment where it stopped, as the audit log shows; it is never sealed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use biometrics::face::{ChallengeReport, ChallengeState, HeadTurnConfig, TurnDirection};
use biometrics::face::{LivenessDecision, MatchDecision};
use biometrics::voice::{VoiceAnalyzer, VoiceConfig};
use biometrics::{
    AnalyzerConfig, DigitChallenge, FaceAnalyzer, FaceSession, Frame, HeadTurnChallenge,
    ModelCatalog,
};
use card::vpcd::VpcdBridge;
use clap::Args;
use emrtd::portrait::Portrait;
use emrtd::{LdsFile, Verdict, Verification, VirtualChip};
use enrollment::packet::{
    CheckOutcome, ChipFiles, FaceCapture, FaceMatch, HeadTurn, Liveness, ModelVersion,
    PacketHeader, PacketPayload, PlatformPublicKey, QualitySummary, SealedPacket, Signoff,
    VOICE_SAMPLE_RATE_HZ, VoiceAnalysis, VoiceCapture, VoiceSample,
};
use serde::Serialize;
use serde_json::{Value, json};
use store::{
    Actor, AuditAction, ClerkStep, EnrollmentId, OutboxEntry, OutgoingPacket, Role, Session, Store,
};
use ts_rs::TS;

use crate::accounts::{Passwords, open_store, sign_in, store_failure};
use crate::cancel::Cancellation;
use crate::card::DocumentSource;
use crate::card::read::{
    ChipArgs, ChipProgress, ChipRead, ChipRequest, DocumentData, parse_access_key, portrait_jpeg,
    read_chip,
};
use crate::face::{encode_jpeg, jpeg_data_url};
use crate::failure::{Code, Failure};
use crate::identity::{self, StationIdentity};
use crate::paths::{StationPaths, demo_data_dir};
use crate::settings::StationSettings;
use crate::voice::VoiceSource;

/// The demo document's card access number (see its README).
pub const DEMO_CAN: &str = "123456";
/// The demo document holder's one frontal photo (the chip portrait was
/// made from it; the other photos of him in `testdata/faces` have the head
/// turned, which the quality check refuses).
pub const DEMO_FACE: &str = "obama.png";
/// Sides of the square frames the demo camera cuts around the demo face,
/// as a counter camera frames a citizen who moves a little.
const DEMO_FRAME_SIDES: [u32; 4] = [640, 600, 560, 520];
/// A photo of the demo document's holder with the head turned to his
/// right: the demo camera's answer to the head-turn challenge, mirrored
/// when the challenge asks for the left. Cut at this side, the estimated
/// yaw is 21-29° either way, JPEG or not; at 620 the mirror read 12°,
/// short of the challenge's 15°.
const DEMO_TURNED_FACE: &str = "obama2.png";
const DEMO_TURNED_SIDE: u32 = 560;
/// Frames the demo camera holds the turn for.
const DEMO_TURNED_FRAMES: usize = 3;
/// The demo camera's frame rate.
const DEMO_CAMERA_FPS: f64 = 15.0;
/// A live face capture gives up after this long without a decision.
const LIVE_FACE_TIME_LIMIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Args)]
pub struct EnrollArgs {
    /// Enroll the shipped demo document, served into vpcd by this command
    /// (CAN 123456), with the demo face images. Needs --voice or --mic.
    #[arg(long)]
    pub demo: bool,
    /// The vpcd port the demo document goes into (35963: "Virtual PCD 00 00").
    #[arg(long, default_value_t = card::vpcd::DEFAULT_PORT, requires = "demo")]
    pub demo_port: u16,
    /// The clerk running the enrollment; password from STATION_CLERK_PASSWORD
    /// or else the first line of standard input.
    #[arg(long, env = "STATION_CLERK")]
    pub clerk: String,
    /// The supervisor approving it; password from STATION_SUPERVISOR_PASSWORD
    /// or else the next line of standard input.
    #[arg(long, env = "STATION_SUPERVISOR")]
    pub supervisor: String,
    /// The document's reader and access key (--reader is needed unless
    /// --demo).
    #[command(flatten)]
    pub chip: ChipArgs,
    /// Face images (PNG or JPEG), or folders of them, in capture order.
    /// With --demo, the default is the demo camera: frames cut around the
    /// demo holder's photo.
    #[arg(long, num_args = 1.., required_unless_present = "demo")]
    pub face: Vec<PathBuf>,
    /// A WAV recording of the citizen reading --challenge.
    #[arg(long, conflicts_with = "mic", requires = "challenge")]
    pub voice: Option<PathBuf>,
    /// Record the voice from the microphone instead.
    #[arg(long)]
    pub mic: bool,
    /// The microphone's id as `station doctor` lists it.
    #[arg(long, requires = "mic")]
    pub mic_device: Option<String>,
    /// Seconds to record from the microphone.
    #[arg(long, default_value_t = 6.0, requires = "mic")]
    pub mic_seconds: f32,
    /// The digits the citizen read (default with --mic: a fresh challenge).
    #[arg(long, value_parser = challenge)]
    pub challenge: Option<DigitChallenge>,
}

fn challenge(s: &str) -> Result<DigitChallenge, String> {
    DigitChallenge::try_from(s.to_owned())
}

/// Where the document comes from, resolved from the options.
struct Plan {
    reader: String,
    request_key: emrtd::AccessKey,
    trust_store: Option<PathBuf>,
    faces: FaceSource,
    demo_port: Option<u16>,
}

/// Where the face frames come from.
#[derive(Debug, Clone)]
pub enum FaceSource {
    /// Image files and folders of them, every frame analysed in order.
    Files(Vec<PathBuf>),
    /// Square frames cut around the face in one photo, played in memory as
    /// a camera.
    DemoCamera(PathBuf),
    /// A camera through the live pipeline.
    Camera(camera::CameraSpec),
}

impl FaceSource {
    /// The demo camera: frames cut around the demo holder's photo.
    pub fn demo() -> Self {
        Self::DemoCamera(demo_data_dir().join("faces").join(DEMO_FACE))
    }
}

impl Plan {
    fn from_args(args: &EnrollArgs) -> Result<Self, Failure> {
        let chip = &args.chip;
        if args.voice.is_none() && !args.mic {
            return Err(Failure::new(
                Code::InvalidArgument,
                "give the voice sample: --voice FILE --challenge DIGITS, or --mic",
            ));
        }
        if args.demo {
            let demo = demo_data_dir();
            let faces = if args.face.is_empty() {
                FaceSource::demo()
            } else {
                FaceSource::Files(args.face.clone())
            };
            let port = args.demo_port;
            return Ok(Self {
                reader: chip.reader.clone().unwrap_or_else(|| vpcd_reader(port)),
                request_key: parse_access_key(
                    chip.mrz.as_deref(),
                    Some(chip.can.as_deref().unwrap_or(DEMO_CAN)),
                )?,
                trust_store: Some(
                    chip.trust_store
                        .clone()
                        .unwrap_or_else(|| demo.join("documents/demo/trust")),
                ),
                faces,
                demo_port: Some(port),
            });
        }
        let reader = chip
            .reader
            .clone()
            .ok_or_else(|| Failure::new(Code::InvalidArgument, "give --reader"))?;
        Ok(Self {
            reader,
            request_key: parse_access_key(chip.mrz.as_deref(), chip.can.as_deref())?,
            trust_store: chip.trust_store.clone(),
            faces: FaceSource::Files(args.face.clone()),
            demo_port: None,
        })
    }
}

/// pcscd's name for the vpcd reader on `port` (35963 is the first).
pub fn vpcd_reader(port: u16) -> String {
    format!(
        "Virtual PCD 00 {:02}",
        port.saturating_sub(card::vpcd::DEFAULT_PORT)
    )
}

/// The face and voice models, loaded once and checked against their hashes.
#[derive(Debug)]
pub struct Models {
    face: Arc<FaceAnalyzer>,
    voice: VoiceAnalyzer,
    versions: Vec<ModelVersion>,
}

impl Models {
    /// Loads the models of `paths` off the async threads, deciding with
    /// the thresholds of `settings`.
    pub async fn load_shared(
        paths: &StationPaths,
        settings: &StationSettings,
    ) -> Result<Arc<Self>, Failure> {
        let dir = paths.models_dir.clone();
        let (face, voice) = (settings.face_config(), settings.voice_config());
        Ok(Arc::new(
            blocking(move || load_models(&dir, face, voice)).await?,
        ))
    }
}

fn load_models(dir: &Path, face: AnalyzerConfig, voice: VoiceConfig) -> Result<Models, Failure> {
    let invalid = |e: &dyn std::fmt::Display| Failure::new(Code::ModelsInvalid, e.to_string());
    let catalog = ModelCatalog::open(dir).map_err(|e| invalid(&e))?;
    let face = Arc::new(FaceAnalyzer::load(&catalog, face).map_err(|e| invalid(&e))?);
    let voice = VoiceAnalyzer::load(&catalog, voice).map_err(|e| invalid(&e))?;
    let versions = catalog
        .entries()
        .iter()
        .map(|m| ModelVersion {
            role: m.role.clone(),
            version: m.version.clone(),
            sha256: m.sha256.to_ascii_lowercase(),
        })
        .collect();
    Ok(Models {
        face,
        voice,
        versions,
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Failure::new(Code::Internal, format!("enrollment task failed: {e}")))?
}

/// Runs one enrollment from sign-in to the queued packet, through the same
/// steps the desktop app takes one screen at a time.
pub async fn run(args: EnrollArgs, paths: &StationPaths) -> Result<Value, Failure> {
    let plan = Plan::from_args(&args)?;
    // Everything that does not need the citizen is checked first, so
    // nobody is captured for an enrollment that cannot be sealed.
    let store = open_store(paths).await?;
    let (identity, platform, format_version) = match identity::for_sealing(paths, &store).await {
        Ok(sealing) => sealing,
        Err(e) => {
            store.close().await;
            return Err(e);
        }
    };
    let settings = crate::settings::load(&store).await?;
    let models = Models::load_shared(paths, &settings).await?;

    let mut passwords = Passwords::default();
    let clerk_password = passwords.get(Some("STATION_CLERK_PASSWORD"), "the clerk's password")?;
    let supervisor_password = passwords.get(
        Some("STATION_SUPERVISOR_PASSWORD"),
        "the supervisor's password",
    )?;
    if same_user(&args.clerk, &args.supervisor) {
        return Err(Failure::new(
            Code::SelfApproval,
            "the clerk and the supervisor are the same user",
        ));
    }
    let clerk = sign_in(
        &store,
        &args.clerk,
        &clerk_password,
        "enroll",
        Role::can_enroll,
    )
    .await?;
    drop(clerk_password);
    let supervisor = match sign_in(
        &store,
        &args.supervisor,
        &supervisor_password,
        "approve enrollments",
        Role::can_review,
    )
    .await
    {
        Ok(s) => s,
        Err(e) => {
            store.logout(clerk).await.map_err(store_failure)?;
            return Err(e);
        }
    };
    drop(supervisor_password);

    let sealing = Sealing {
        identity: &identity,
        platform: &platform,
        format_version,
        models: &models,
    };
    let outcome = enroll(
        &store,
        &plan,
        &args,
        paths,
        &models,
        &sealing,
        &clerk,
        &supervisor,
    )
    .await;
    // Signed out whatever happened: a headless run is one sitting.
    let logged_out = async {
        store.logout(clerk).await?;
        store.logout(supervisor).await
    }
    .await;
    store.close().await;
    let report = outcome?;
    logged_out.map_err(store_failure)?;
    Ok(report)
}

/// User names compare as the store stores them: trimmed, lower case.
pub fn same_user(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

#[allow(clippy::too_many_arguments)]
async fn enroll(
    store: &Store,
    plan: &Plan,
    args: &EnrollArgs,
    paths: &StationPaths,
    models: &Arc<Models>,
    sealing: &Sealing<'_>,
    clerk: &Session,
    supervisor: &Session,
) -> Result<Value, Failure> {
    if clerk.user_id() == supervisor.user_id() {
        return Err(Failure::new(Code::SelfApproval, ""));
    }
    let mut draft = Draft::start(store, clerk).await?;
    let order = ChipOrder {
        reader: plan.reader.clone(),
        key: plan.request_key.clone(),
        trust_store: plan.trust_store.clone(),
        short_apdus: args.chip.short_apdus,
        wait: args.chip.wait()?,
        demo_port: plan.demo_port,
        cancel: Cancellation::new(),
    };
    let document = draft.read_document(store, order, paths, |_| {}).await?;
    let face = draft
        .capture_face(
            store,
            models.clone(),
            plan.faces.clone(),
            |_| {},
            |_| {},
            Cancellation::new(),
        )
        .await?;
    let source = match (&args.voice, args.mic) {
        (Some(path), _) => VoiceSource::Wav(path.clone()),
        _ => VoiceSource::Microphone {
            device: args.mic_device.clone(),
            seconds: args.mic_seconds,
        },
    };
    let challenge = match &args.challenge {
        Some(c) => draft.set_challenge(c.clone()),
        None => draft.new_challenge(),
    };
    let meter = crate::voice::terminal_meter(&challenge.challenge);
    let voice = draft
        .capture_voice(store, models.clone(), source, meter, Cancellation::new())
        .await?;
    draft.submit(store).await?;
    let id = draft.id();
    let sealed = draft
        .approve_and_seal(store, supervisor, sealing)
        .await
        .map_err(|(_, f)| f)?;

    Ok(json!({
        "enrollment_id": id,
        "packet_id": sealed.packet_id,
        "station_id": sealing.identity.id.as_str(),
        "state": store.enrollment(id).await.map_err(store_failure)?.state,
        "document": document.document,
        "verification": document.verification,
        "liveness": {
            "decision": face.liveness.decision,
            "score": face.liveness.score,
            "frames": face.liveness.frames,
            "images": face.liveness.images,
        },
        "match": face.matching,
        "voice": {
            "verdict": "accepted",
            "challenge": voice.challenge,
            "duration_seconds": voice.duration_seconds,
            "speech_seconds": voice.speech_seconds,
            "speech_dbfs": voice.speech_dbfs,
            "snr_db": voice.snr_db,
            "clipping_ratio": voice.clipping_ratio,
        },
    }))
}

/// What sealing needs besides the enrollment: the station's keys, the
/// platform's key, the packet format version it reads and the model
/// versions to name in the packet.
#[derive(Debug)]
pub struct Sealing<'a> {
    pub identity: &'a StationIdentity,
    pub platform: &'a PlatformPublicKey,
    pub format_version: u16,
    pub models: &'a Models,
}

/// Where the chip is and how to open it.
#[derive(Debug, Clone)]
pub struct ChipOrder {
    pub reader: String,
    pub key: emrtd::AccessKey,
    /// Trusted CSCAs; default: the data directory's `trust/` when it exists.
    pub trust_store: Option<PathBuf>,
    pub short_apdus: bool,
    /// How long to wait for a document on the reader.
    pub wait: Duration,
    /// Serve the demo document into the vpcd reader on this port while
    /// reading.
    pub demo_port: Option<u16>,
    /// Stops the read from the counter.
    pub cancel: Cancellation,
}

/// The three chip checks, each with its verdict and reason.
#[derive(Debug, Clone, Serialize, TS)]
pub struct Verifications {
    pub passive: Verification,
    pub active: Verification,
    pub chip: Verification,
}

/// The document step's result: the data, the checks and the portrait.
#[derive(Debug, Clone, Serialize, TS)]
pub struct DocumentReport {
    pub document: DocumentData,
    pub verification: Verifications,
    /// `PACE` or `BAC`.
    pub access: String,
    /// The chip portrait as a JPEG `data:` URL.
    pub portrait: String,
    #[ts(type = "number")]
    pub millis: u64,
}

/// One preview frame for the window: the JPEG and when the camera
/// delivered it, so the window can tell how late it shows it.
#[derive(Clone)]
pub struct PreviewImage {
    pub jpeg: Vec<u8>,
    /// When the capture thread received the frame, in Unix milliseconds.
    pub captured_unix_ms: f64,
}

impl std::fmt::Debug for PreviewImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreviewImage")
            .field("jpeg", &self.jpeg.len())
            .field("captured_unix_ms", &self.captured_unix_ms)
            .finish()
    }
}

impl PreviewImage {
    fn captured(jpeg: Vec<u8>, at: std::time::Instant) -> Self {
        let wall = std::time::SystemTime::now()
            .checked_sub(at.elapsed())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .unwrap_or_default();
        Self {
            jpeg,
            captured_unix_ms: wall.as_secs_f64() * 1e3,
        }
    }

    /// The bytes the window receives: the capture time as a little-endian
    /// `f64` of Unix milliseconds, then the JPEG.
    pub fn into_message(self) -> Vec<u8> {
        let mut message = Vec::with_capacity(8 + self.jpeg.len());
        message.extend_from_slice(&self.captured_unix_ms.to_le_bytes());
        message.extend_from_slice(&self.jpeg);
        message
    }
}

/// One analysed frame of the face step, for the preview: the frame, where
/// the face is, and the one thing to correct first.
#[derive(Debug, Clone, Serialize, TS)]
pub struct FaceProgress {
    /// Frames analysed so far.
    #[ts(type = "number")]
    pub frame: usize,
    /// Frames in a sequence; 0 for a camera.
    #[ts(type = "number")]
    pub frames: usize,
    /// The main face as fractions of the frame: x, y, width, height.
    pub face_box: Option<[f32; 4]>,
    /// The quality issue to fix first (`too_far`, `blurry`, ...), if any.
    pub hint: Option<String>,
    /// The head-turn challenge so far: what to ask the citizen now.
    pub challenge: Option<ChallengeReport>,
}

impl FaceProgress {
    fn of(update: &biometrics::CaptureUpdate, frame: usize, frames: usize, w: u32, h: u32) -> Self {
        let (w, h) = (w.max(1) as f32, h.max(1) as f32);
        Self {
            frame,
            frames,
            face_box: update.analysis.face.as_ref().map(|f| {
                let b = f.bbox;
                [b.x / w, b.y / h, b.width / w, b.height / h]
            }),
            hint: update.hint.map(|i| i.code().to_owned()),
            challenge: update.challenge,
        }
    }
}

/// Liveness over the whole sequence.
#[derive(Debug, Clone, Serialize, TS)]
pub struct LivenessReport {
    /// `live`, `spoof` or `undetermined`.
    pub decision: String,
    pub score: f32,
    /// Good frames counted.
    #[ts(type = "number")]
    pub frames: usize,
    /// Images given.
    #[ts(type = "number")]
    pub images: usize,
}

/// The live face against the chip portrait.
#[derive(Debug, Clone, Serialize, TS)]
pub struct MatchReport {
    pub score: f32,
    pub threshold: f32,
    /// `match` or `no_match`.
    pub decision: String,
}

/// The face step's result.
#[derive(Debug, Clone, Serialize, TS)]
pub struct FaceReport {
    pub liveness: LivenessReport,
    /// The head-turn challenge's outcome; `None` when none was asked (an
    /// image sequence).
    pub challenge: Option<ChallengeReport>,
    pub matching: MatchReport,
    /// The frame sealed into the packet, as a JPEG `data:` URL.
    pub live_frame: String,
    /// The chip portrait, as a JPEG `data:` URL.
    pub portrait: String,
}

/// The digits the citizen reads, with how to say them.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ChallengeText {
    pub digits: String,
    pub zh: String,
    pub en: String,
    #[serde(skip)]
    #[ts(skip)]
    pub challenge: DigitChallenge,
}

impl ChallengeText {
    fn new(challenge: DigitChallenge) -> Self {
        use biometrics::voice::Language;
        Self {
            digits: challenge.digits().to_owned(),
            zh: challenge.spoken(Language::Chinese),
            en: challenge.spoken(Language::English),
            challenge,
        }
    }
}

/// The voice step's result: measures only, never the voice.
#[derive(Debug, Clone, Serialize, TS)]
pub struct VoiceReport {
    pub challenge: String,
    pub duration_seconds: f32,
    pub speech_seconds: f32,
    pub speech_dbfs: f32,
    pub snr_db: f32,
    pub clipping_ratio: f32,
}

/// A sealed, queued enrollment.
#[derive(Debug, Clone, Serialize, TS)]
pub struct SealedReport {
    pub enrollment_id: String,
    pub packet_id: String,
}

/// One enrollment in progress: what was captured so far, in memory only.
/// Each step records itself in the store (with its audit entry) once it
/// succeeded; a failed step changes nothing and may be repeated.
pub struct Draft {
    id: EnrollmentId,
    clerk: store::UserId,
    chip: Option<ChipRead>,
    face: Option<FaceResult>,
    voice: Option<VoiceResult>,
    challenge: Option<ChallengeText>,
    submitted_at: Option<store::Timestamp>,
}

impl std::fmt::Debug for Draft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Draft")
            .field("id", &self.id)
            .field("document", &self.chip.is_some())
            .field("face", &self.face.is_some())
            .field("voice", &self.voice.is_some())
            .field("submitted", &self.submitted_at.is_some())
            .finish()
    }
}

impl Draft {
    /// The clerk starts an enrollment.
    pub async fn start(store: &Store, clerk: &Session) -> Result<Self, Failure> {
        let enrollment = store
            .start_enrollment(clerk.user_id())
            .await
            .map_err(store_failure)?;
        tracing::info!(enrollment = %enrollment.id, "enrollment started");
        Ok(Self {
            id: enrollment.id,
            clerk: clerk.user_id(),
            chip: None,
            face: None,
            voice: None,
            challenge: None,
            submitted_at: None,
        })
    }

    pub fn id(&self) -> EnrollmentId {
        self.id
    }

    /// The clerk who started it.
    pub fn clerk(&self) -> store::UserId {
        self.clerk
    }

    /// A step's result; a step cancelled at the counter is audited, and
    /// nothing of it is kept.
    async fn audit_cancel<T>(
        &self,
        store: &Store,
        cancel: &Cancellation,
        step: &str,
        result: Result<T, Failure>,
    ) -> Result<T, Failure> {
        if !cancel.is_cancelled() {
            return result;
        }
        drop(result);
        store
            .record_audit(
                Actor::User(self.clerk),
                AuditAction::StepCancelled,
                Some(&self.id.to_string()),
                step,
            )
            .await
            .map_err(store_failure)?;
        tracing::info!(enrollment = %self.id, step, "step cancelled");
        Err(Cancellation::failure(step))
    }

    /// Records a step with its outcome (`detail`: verdicts and numbers
    /// for the audit, never personal data).
    async fn record(
        &self,
        store: &Store,
        step: ClerkStep,
        detail: &str,
    ) -> Result<store::Enrollment, Failure> {
        store
            .record_step(self.id, self.clerk, step, detail)
            .await
            .map_err(store_failure)
    }

    /// Reads and checks the chip off the async threads; a forged document
    /// is refused here. May be repeated until it succeeds.
    pub async fn read_document(
        &mut self,
        store: &Store,
        order: ChipOrder,
        paths: &StationPaths,
        mut progress: impl FnMut(ChipProgress) + Send + 'static,
    ) -> Result<DocumentReport, Failure> {
        if self.chip.is_some() {
            return Err(Failure::new(Code::InvalidArgument, "the document is read"));
        }
        let paths = paths.clone();
        let cancel = order.cancel.clone();
        let chip = blocking(move || {
            let _demo_card = order.demo_port.map(DemoCard::insert).transpose()?;
            let request = ChipRequest {
                reader: &order.reader,
                key: order.key.clone(),
                trust_store: order.trust_store.clone(),
                short_apdus: order.short_apdus,
                wait: order.wait,
                cancel: order.cancel,
            };
            read_chip(&request, &paths, &mut progress)
        })
        .await;
        let chip = self
            .audit_cancel(store, &cancel, "read_document", chip)
            .await?;
        check_genuine(&chip)?;
        let report = DocumentReport {
            document: chip.document()?,
            verification: Verifications {
                passive: chip.passive.clone(),
                active: chip.chip.active.clone(),
                chip: chip.chip.chip.clone(),
            },
            access: chip.access.to_owned(),
            portrait: jpeg_data_url(&portrait_jpeg(&chip.files)?),
            millis: chip.millis,
        };
        let detail = format!(
            "passive {}, active {}, chip {}",
            report.verification.passive.verdict.as_str(),
            report.verification.active.verdict.as_str(),
            report.verification.chip.verdict.as_str()
        );
        self.record(store, ClerkStep::ReadDocument, &detail).await?;
        self.chip = Some(chip);
        Ok(report)
    }

    /// Analyses the face off the async threads, telling `progress` about
    /// each analysed frame and handing `preview` the frames to show, as
    /// JPEG; refuses a spoof or another person. May be repeated.
    pub async fn capture_face(
        &mut self,
        store: &Store,
        models: Arc<Models>,
        source: FaceSource,
        progress: impl FnMut(FaceProgress) + Send + 'static,
        preview: impl FnMut(PreviewImage) + Send + 'static,
        cancel: Cancellation,
    ) -> Result<FaceReport, Failure> {
        let chip = self
            .chip
            .as_ref()
            .ok_or_else(|| Failure::new(Code::InvalidArgument, "read the document first"))?;
        if self.face.is_some() {
            return Err(Failure::new(Code::InvalidArgument, "the face is captured"));
        }
        let dg2 = chip_file(&chip.files, 2)?.to_vec();
        let portrait = portrait_jpeg(&chip.files)?;
        // A live camera, the demo camera included, asks for a head turn in
        // a random direction; stills have no motion to ask for.
        let challenge = match source {
            FaceSource::Files(_) => None,
            FaceSource::DemoCamera(_) | FaceSource::Camera(_) => Some(HeadTurnChallenge::random(
                &mut rand::thread_rng(),
                HeadTurnConfig::default(),
            )),
        };
        let stop = cancel.clone();
        let face = blocking(move || {
            capture_face(
                &models.face,
                &source,
                &dg2,
                challenge,
                progress,
                preview,
                &stop,
            )
        })
        .await;
        let face = self
            .audit_cancel(store, &cancel, "capture_face", face)
            .await?;
        let report = FaceReport {
            liveness: LivenessReport {
                decision: face.capture.liveness.verdict.clone(),
                score: face.capture.liveness.score,
                frames: face.frames_counted,
                images: face.images,
            },
            challenge: face.challenge,
            matching: MatchReport {
                score: face.matching.score,
                threshold: face.matching.threshold,
                decision: face.capture.face_match.decision.clone(),
            },
            live_frame: jpeg_data_url(&face.capture.best_frame_jpeg),
            portrait: jpeg_data_url(&portrait),
        };
        // The head turn is kept here too: a packet sealed for a v1 platform
        // has no place for it (docs/packet-format.md).
        let turn = face.capture.liveness.head_turn.as_ref().map_or_else(
            || "no head turn asked".to_owned(),
            |t| {
                format!(
                    "head turn {} {} at {:.0}°",
                    t.direction, t.state, t.peak_yaw_deg
                )
            },
        );
        let detail = format!(
            "liveness {} over {} frames; {turn}; {}",
            report.liveness.decision, report.liveness.frames, report.matching.decision
        );
        self.record(store, ClerkStep::CaptureFace, &detail).await?;
        self.face = Some(face);
        Ok(report)
    }

    /// A fresh digit challenge for the voice step.
    pub fn new_challenge(&mut self) -> ChallengeText {
        self.set_challenge(DigitChallenge::random(&mut rand::thread_rng()))
    }

    /// The challenge the citizen was given (e.g. with a recording made
    /// elsewhere).
    pub fn set_challenge(&mut self, challenge: DigitChallenge) -> ChallengeText {
        let text = ChallengeText::new(challenge);
        self.challenge = Some(text.clone());
        text
    }

    /// Records and analyses the citizen reading the challenge, off the
    /// async threads, handing `levels` the loudness as it arrives.
    pub async fn capture_voice(
        &mut self,
        store: &Store,
        models: Arc<Models>,
        source: VoiceSource,
        mut levels: impl FnMut(microphone::Level) + Send + 'static,
        cancel: Cancellation,
    ) -> Result<VoiceReport, Failure> {
        if self.face.is_none() {
            return Err(Failure::new(
                Code::InvalidArgument,
                "capture the face first",
            ));
        }
        let challenge = match &self.challenge {
            Some(c) => c.challenge.clone(),
            None => self.new_challenge().challenge,
        };
        let stop = cancel.clone();
        let voice =
            blocking(move || capture_voice(&models.voice, source, challenge, &mut levels, &stop))
                .await;
        let voice = match self
            .audit_cancel(store, &cancel, "capture_voice", voice)
            .await
        {
            Ok(voice) => voice,
            Err(failure) => {
                // The digits were heard (or half heard): the next try gets
                // new ones, or a replay of this recording would pass.
                self.challenge = None;
                return Err(failure);
            }
        };
        let a = &voice.capture.analysis;
        let report = VoiceReport {
            challenge: voice.capture.challenge_digits.clone(),
            duration_seconds: voice.duration_seconds,
            speech_seconds: a.speech_seconds,
            speech_dbfs: a.level_dbfs,
            snr_db: a.snr_db,
            clipping_ratio: a.clipping_ratio,
        };
        let detail = format!(
            "{} digits, {:.1} s of speech",
            report.challenge.len(),
            report.speech_seconds
        );
        self.record(store, ClerkStep::CaptureVoice, &detail).await?;
        self.voice = Some(voice);
        Ok(report)
    }

    /// The recorded voice as a WAV in memory, for the clerk to play back
    /// (audited); it never reaches a file.
    pub async fn voice_playback(&self, store: &Store) -> Result<Vec<u8>, Failure> {
        let voice = self
            .voice
            .as_ref()
            .ok_or_else(|| Failure::new(Code::InvalidArgument, "record the voice first"))?;
        let sample = &voice.capture.sample;
        let wav = microphone::encode_wav(&sample.samples, sample.sample_rate_hz)
            .map_err(crate::voice::audio_failure)?;
        store
            .record_audit(
                Actor::User(self.clerk),
                AuditAction::VoicePlayedBack,
                Some(&self.id.to_string()),
                "",
            )
            .await
            .map_err(store_failure)?;
        Ok(wav)
    }

    /// The clerk hands the enrollment to a supervisor.
    pub async fn submit(&mut self, store: &Store) -> Result<(), Failure> {
        if self.voice.is_none() {
            return Err(Failure::new(
                Code::InvalidArgument,
                "capture the voice first",
            ));
        }
        if self.submitted_at.is_none() {
            let submitted = self.record(store, ClerkStep::SubmitForReview, "").await?;
            self.submitted_at = Some(submitted.updated_at);
        }
        Ok(())
    }

    /// The supervisor approves; the packet is sealed and queued. On a
    /// refusal (e.g. the supervisor is the clerk) the draft comes back
    /// unchanged, for another supervisor.
    pub async fn approve_and_seal(
        self,
        store: &Store,
        supervisor: &Session,
        sealing: &Sealing<'_>,
    ) -> Result<SealedReport, (Self, Failure)> {
        let submitted_at = match self.submitted_at {
            Some(at) => at,
            None => {
                let f = Failure::new(Code::InvalidArgument, "submit the enrollment first");
                return Err((self, f));
            }
        };
        let approved = match store.approve(self.id, supervisor.user_id()).await {
            Ok(a) => a,
            Err(e) => return Err((self, store_failure(e))),
        };
        let (Some(chip), Some(face), Some(voice)) = (&self.chip, &self.face, &self.voice) else {
            let f = Failure::new(Code::Internal, "an approved enrollment lacks a step");
            return Err((self, f));
        };
        let signoffs = [
            signoff(self.clerk, submitted_at),
            signoff(supervisor.user_id(), approved.updated_at),
        ];
        let payload = match payload(sealing, chip, face, voice, signoffs) {
            Ok(p) => p,
            Err(f) => return Err((self, f)),
        };
        let platform = (sealing.platform, sealing.format_version);
        let queued = seal_and_queue(store, sealing.identity, platform, self.id, &payload).await;
        drop(payload);
        match queued {
            Ok(entry) => Ok(SealedReport {
                enrollment_id: entry.enrollment_id.to_string(),
                packet_id: entry.packet_id.to_string(),
            }),
            Err(f) => Err((self, f)),
        }
    }

    /// The supervisor rejects it with a reason; what was captured is dropped.
    pub async fn reject(
        self,
        store: &Store,
        supervisor: &Session,
        reason: &str,
    ) -> Result<(), (Self, Failure)> {
        if self.clerk == supervisor.user_id() {
            return Err((self, Failure::new(Code::SelfApproval, "")));
        }
        match store.reject(self.id, supervisor.user_id(), reason).await {
            Ok(_) => Ok(()),
            Err(e) => Err((self, store_failure(e))),
        }
    }
}

/// The packet's contents from the captured steps.
fn payload(
    sealing: &Sealing<'_>,
    chip: &ChipRead,
    face: &FaceResult,
    voice: &VoiceResult,
    [clerk, supervisor]: [Signoff; 2],
) -> Result<PacketPayload, Failure> {
    let mut face = face.capture.clone();
    if sealing.format_version < 2 {
        // Format v1 has no place for the turn; the audit keeps it.
        face.liveness.head_turn = None;
    }
    Ok(PacketPayload {
        station_id: sealing.identity.id.clone(),
        software_version: env!("CARGO_PKG_VERSION").to_owned(),
        models: sealing.models.versions.clone(),
        chip: ChipFiles {
            dg1: chip_file(&chip.files, 1)?.to_vec(),
            dg2: chip_file(&chip.files, 2)?.to_vec(),
            dg11: chip.files.get(&LdsFile::Dg(11)).cloned(),
            dg14: chip.files.get(&LdsFile::Dg(14)).cloned(),
            dg15: chip.files.get(&LdsFile::Dg(15)).cloned(),
            sod: chip
                .files
                .get(&LdsFile::Sod)
                .cloned()
                .ok_or_else(|| Failure::new(Code::UnsupportedDocument, "the chip has no EF.SOD"))?,
        },
        chip_verification: enrollment::packet::ChipVerification {
            passive: outcome(&chip.passive),
            active: outcome(&chip.chip.active),
            chip: outcome(&chip.chip.chip),
        },
        face,
        voice: voice.capture.clone(),
        clerk,
        supervisor,
    })
}

fn signoff(user: store::UserId, at: store::Timestamp) -> Signoff {
    Signoff {
        user_id: user.to_string(),
        at_unix_ms: u64::try_from(at.unix_ms()).unwrap_or(0),
    }
}

fn outcome(v: &emrtd::Verification) -> CheckOutcome {
    CheckOutcome {
        verdict: v.verdict.as_str().to_owned(),
        reason: Some(v.reason.clone()),
    }
}

fn chip_file(files: &BTreeMap<LdsFile, Vec<u8>>, dg: u8) -> Result<&[u8], Failure> {
    files
        .get(&LdsFile::Dg(dg))
        .map(Vec::as_slice)
        .ok_or_else(|| Failure::new(Code::UnsupportedDocument, format!("the chip has no DG{dg}")))
}

/// A check that ran and failed means a forged document or chip. A check
/// the document does not offer, or a signer nobody here vouches for, is
/// sealed as it is: the platform re-checks against its own CSCA list.
fn check_genuine(chip: &ChipRead) -> Result<(), Failure> {
    for (name, v) in [
        ("Passive Authentication", &chip.passive),
        ("Active Authentication", &chip.chip.active),
        ("Chip Authentication", &chip.chip.chip),
    ] {
        if v.verdict == Verdict::Invalid {
            return Err(Failure::new(
                Code::DocumentNotGenuine,
                format!("{name}: {}", v.reason),
            ));
        }
    }
    Ok(())
}

/// Seals `payload` to the platform, signs it as this station, and queues
/// it: the outbox row, the enrollment's move to `queued` and the audit
/// entry are one transaction, so a crash leaves all of it or none.
pub async fn seal_and_queue(
    store: &Store,
    identity: &StationIdentity,
    (platform, format_version): (&PlatformPublicKey, u16),
    enrollment: EnrollmentId,
    payload: &PacketPayload,
) -> Result<OutboxEntry, Failure> {
    let header = PacketHeader {
        format_version,
        packet_id: uuid::Uuid::new_v4(),
        station_id: identity.id.clone(),
        created_at_unix_ms: u64::try_from(store.now().unix_ms()).unwrap_or(0),
    };
    let mut rng = identity::sealing_rng();
    let sealed = SealedPacket::seal(payload, header, platform, &identity.keys, &mut rng).map_err(
        |e| match e {
            enrollment::packet::PacketError::Encrypt => Failure::new(Code::PlatformKeyInvalid, e),
            _ => Failure::new(Code::Internal, format!("sealing failed: {e}")),
        },
    )?;
    let outgoing = OutgoingPacket::from_sealed(&sealed);
    store
        .queue_packet(enrollment, &outgoing)
        .await
        .map_err(store_failure)
}

/// The demo document in a vpcd reader for as long as this lives.
struct DemoCard {
    stop: Arc<AtomicBool>,
    serving: Option<std::thread::JoinHandle<()>>,
    port: u16,
}

impl DemoCard {
    fn insert(port: u16) -> Result<Self, Failure> {
        let config = crate::card::simulate::load(&DocumentSource {
            profile: Some(demo_data_dir().join("documents/demo")),
            lds_dir: None,
        })?;
        let mut bridge = VpcdBridge::connect(("127.0.0.1", port))
            .map_err(|e| crate::card::simulate::vpcd_failure(port, e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let serving = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut chip = VirtualChip::new(config);
                if let Err(e) = bridge.serve(&mut chip, &stop) {
                    tracing::warn!("demo card: {e}");
                }
            })
        };
        Ok(Self {
            stop,
            serving: Some(serving),
            port,
        })
    }
}

/// How long taking the demo card out waits for pcscd to see it gone (it
/// returns as soon as pcscd does; a loaded machine may take seconds).
const DEMO_REMOVAL: Duration = Duration::from_secs(10);

impl Drop for DemoCard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.serving.take() {
            let _ = t.join();
        }
        // A read started at once (a retry after a cancel) must not find
        // this card still listed and lose it mid-exchange.
        let gone = card::reader::Readers::establish()
            .and_then(|r| r.wait_for_removal(&vpcd_reader(self.port), DEMO_REMOVAL));
        if !matches!(gone, Ok(true)) {
            tracing::debug!(?gone, "the demo card's removal was not seen");
        }
    }
}

/// What the face step produced.
struct FaceResult {
    capture: FaceCapture,
    challenge: Option<ChallengeReport>,
    matching: MatchDecision,
    images: usize,
    frames_counted: usize,
}

/// The image files of `inputs`: files as given, folders' PNG and JPEG
/// files in name order.
fn image_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    let mut out = Vec::new();
    for input in inputs {
        if input.is_dir() {
            out.extend(crate::face::images_in(input, &["png", "jpg", "jpeg"])?);
        } else {
            out.push(input.clone());
        }
    }
    if out.is_empty() {
        return Err(Failure::new(
            Code::FaceImagesUnreadable,
            "no PNG or JPEG images given",
        ));
    }
    Ok(out)
}

/// The demo camera's clip: the demo face cut at a few sizes and, for a
/// head-turn challenge, the turned photo held for a moment (mirrored for a
/// turn to the left) before the face comes back to the camera.
fn demo_clip(
    analyzer: &FaceAnalyzer,
    photo: &Path,
    turn: Option<TurnDirection>,
) -> Result<Vec<Frame>, Failure> {
    let frontal = demo_frames(analyzer, photo, &DEMO_FRAME_SIDES)?;
    let Some(direction) = turn else {
        return Ok(frontal);
    };
    let turned_photo = photo.with_file_name(DEMO_TURNED_FACE);
    let mut turned = demo_frames(analyzer, &turned_photo, &[DEMO_TURNED_SIDE])?
        .pop()
        .ok_or_else(|| Failure::new(Code::FaceImagesUnreadable, "no turned demo frame"))?;
    if direction == TurnDirection::Left {
        let mirrored = image::imageops::flip_horizontal(&image::RgbImage::from(turned));
        turned = Frame::try_from(mirrored).map_err(|e| Failure::new(Code::Internal, e))?;
    }
    let (before, after) = frontal.split_at(frontal.len() / 2);
    let mut clip = before.to_vec();
    clip.extend(std::iter::repeat_n(turned, DEMO_TURNED_FRAMES));
    clip.extend_from_slice(after);
    clip.extend_from_slice(before);
    Ok(clip)
}

/// The demo camera's frames: squares cut around the face in `photo`.
fn demo_frames(
    analyzer: &FaceAnalyzer,
    photo: &Path,
    sides: &[u32],
) -> Result<Vec<Frame>, Failure> {
    let whole = crate::face::decode(photo)?;
    let centre = analyzer
        .reference(&whole)
        .map_err(|e| Failure::new(Code::FaceImagesUnreadable, e))?
        .face
        .bbox
        .center();
    let image = image::RgbImage::from(whole);
    let (w, h) = image.dimensions();
    sides
        .iter()
        .map(|&side| {
            let side = side.min(w).min(h);
            let x = (centre.x.max(0.0) as u32)
                .saturating_sub(side / 2)
                .min(w - side);
            let y = (centre.y.max(0.0) as u32)
                .saturating_sub(side / 2)
                .min(h - side);
            let crop = image::imageops::crop_imm(&image, x, y, side, side).to_image();
            Frame::try_from(crop).map_err(|e| Failure::new(Code::Internal, e))
        })
        .collect()
}

/// Analyses the citizen's face from `source`: every frame of an image
/// sequence, or a camera (the demo camera too) through the live pipeline,
/// whose preview frames go to `preview` as JPEG. Liveness is decided over
/// the good frames, and the most clearly live of them is matched against
/// the chip portrait.
fn capture_face(
    analyzer: &Arc<FaceAnalyzer>,
    source: &FaceSource,
    dg2: &[u8],
    challenge: Option<HeadTurnChallenge>,
    mut progress: impl FnMut(FaceProgress) + Send + 'static,
    mut preview: impl FnMut(PreviewImage) + Send + 'static,
    cancel: &Cancellation,
) -> Result<FaceResult, Failure> {
    let portrait =
        Portrait::parse_dg2(dg2).map_err(|e| Failure::new(Code::PortraitUnreadable, e))?;
    let reference = Frame::decode(&portrait.image)
        .and_then(|frame| analyzer.reference(&frame))
        .map_err(|e| Failure::new(Code::PortraitUnreadable, e))?;
    let open: camera::Opener = match source {
        FaceSource::Files(inputs) => {
            let frames = image_files(inputs)?
                .iter()
                .map(|p| crate::face::decode(p))
                .collect::<Result<Vec<_>, _>>()?;
            let images = frames.len();
            let mut session =
                FaceSession::new(Arc::clone(analyzer), Some(reference), challenge.clone());
            let mut issues = BTreeMap::new();
            for (index, frame) in frames.into_iter().enumerate() {
                if cancel.is_cancelled() {
                    return Err(Cancellation::failure("the face capture"));
                }
                let jpeg = encode_jpeg(&frame)?.to_vec();
                preview(PreviewImage::captured(jpeg, std::time::Instant::now()));
                let (w, h) = (frame.width(), frame.height());
                // Stills have no clock of their own: a camera's 15 frames a second.
                let at = Duration::from_millis(index as u64 * 1000 / 15);
                let update = session
                    .offer(frame, at)
                    .map_err(|e| Failure::new(Code::Internal, e))?;
                if let Some(issue) = update.hint {
                    *issues.entry(issue.code()).or_insert(0u32) += 1;
                }
                progress(FaceProgress::of(&update, index + 1, images, w, h));
            }
            let outcome = session
                .outcome()
                .map_err(|e| Failure::new(Code::Internal, e))?;
            return face_result(
                outcome,
                &format!("{images} images, none usable: {issues:?}"),
            );
        }
        FaceSource::DemoCamera(photo) => {
            // The demo camera is a clip of the crops, played through the
            // same MJPEG decoding and pipeline as a counter camera.
            let mut clip = Vec::new();
            let turn = challenge.as_ref().map(HeadTurnChallenge::direction);
            for frame in demo_clip(analyzer, photo, turn)? {
                clip.extend_from_slice(&encode_jpeg(&frame)?);
            }
            let clip: Arc<[u8]> = clip.into();
            let options = camera::FileOptions {
                fps: Some(DEMO_CAMERA_FPS),
                paced: true,
                looped: true,
            };
            Box::new(move || {
                Ok(Box::new(camera::FileSource::mjpeg_clip(
                    Arc::clone(&clip),
                    &options,
                )))
            })
        }
        FaceSource::Camera(spec) => {
            crate::live_face::opener(spec, &camera::FileOptions::default())?
        }
    };
    let capture = crate::live_face::Capture {
        pipeline: camera::PipelineConfig {
            preview_fps: 20.0,
            ..camera::PipelineConfig::default()
        },
        time_limit: LIVE_FACE_TIME_LIMIT,
        analyzer: Arc::clone(analyzer),
        reference: Some(reference),
        challenge,
        stop_when_complete: true,
        cancel: cancel.clone(),
    };
    let mut analysed = 0;
    let live = crate::live_face::LiveFace::start_with(
        open,
        capture,
        move |frame| preview(PreviewImage::captured(frame.jpeg, frame.captured)),
        move |update| {
            analysed += 1;
            let (w, h) = (update.analysis.width, update.analysis.height);
            progress(FaceProgress::of(update, analysed, 0, w, h));
        },
    )?;
    let (outcome, stats) = cancel.outcome("the face capture", live.finish())?;
    tracing::info!(?stats, "live face capture finished");
    let frames = outcome.frames_analysed;
    face_result(outcome, &format!("{frames} frames analysed, none usable"))
}

/// What the capture found, as the enrollment takes it: refused unless live,
/// kept, and matching the chip.
fn face_result(
    outcome: biometrics::CaptureOutcome,
    none_usable: &str,
) -> Result<FaceResult, Failure> {
    let images = outcome.frames_analysed;
    let verdict = outcome.liveness;
    // A spoof is a spoof whatever the head did; otherwise a challenge that
    // was asked must have been passed — once a face was seen at all: a
    // camera that never saw one is told as such, not as a head not turned.
    if outcome.texture.decision != LivenessDecision::Spoof
        && outcome.texture.frames > 0
        && let Some(challenge) = outcome.challenge
        && challenge.state != ChallengeState::Passed
    {
        return Err(Failure::new(
            Code::HeadTurnFailed,
            format!(
                "asked to turn {:?}: {:?}{}, peak {:.0}°",
                challenge.direction,
                challenge.state,
                challenge
                    .failure
                    .map(|f| format!(" ({f:?})"))
                    .unwrap_or_default(),
                challenge.peak_yaw_deg
            ),
        ));
    }
    // A spoof is refused as one, even when no frame was good enough to keep.
    if verdict.decision != LivenessDecision::Live && (outcome.best.is_some() || verdict.frames > 0)
    {
        return Err(Failure::new(
            Code::LivenessFailed,
            format!(
                "{} over {} frames (live score {:.2})",
                decision_text(verdict.decision),
                verdict.frames,
                verdict.real
            ),
        ));
    }
    let (Some(analysis), Some(jpeg), Some(matching)) =
        (outcome.best, outcome.best_jpeg, outcome.matching)
    else {
        return Err(Failure::new(Code::FaceNotCaptured, none_usable));
    };
    if !matching.matched {
        return Err(Failure::new(
            Code::FaceMismatch,
            format!(
                "similarity {:.2}, threshold {:.2}",
                matching.score, matching.threshold
            ),
        ));
    }
    let capture = FaceCapture {
        best_frame_jpeg: jpeg,
        liveness: Liveness {
            verdict: decision_text(verdict.decision).to_owned(),
            score: verdict.real,
            head_turn: outcome.challenge.map(|c| HeadTurn {
                direction: crate::wire_name(&c.direction),
                state: crate::wire_name(&c.state),
                peak_yaw_deg: c.peak_yaw_deg,
            }),
        },
        quality: QualitySummary {
            passed: analysis.quality.passed,
            issues: analysis
                .quality
                .issues
                .iter()
                .map(|i| i.code().to_owned())
                .collect(),
            face_count: u32::try_from(analysis.quality.face_count).unwrap_or(u32::MAX),
        },
        face_match: FaceMatch {
            score: matching.score,
            threshold: matching.threshold,
            decision: if matching.matched {
                "match"
            } else {
                "no_match"
            }
            .to_owned(),
        },
    };
    Ok(FaceResult {
        capture,
        challenge: outcome.challenge,
        matching,
        images,
        frames_counted: verdict.frames,
    })
}

fn decision_text(d: LivenessDecision) -> &'static str {
    match d {
        LivenessDecision::Live => "live",
        LivenessDecision::Spoof => "spoof",
        LivenessDecision::Undetermined => "undetermined",
    }
}

struct VoiceResult {
    capture: VoiceCapture,
    duration_seconds: f32,
}

fn capture_voice(
    analyzer: &VoiceAnalyzer,
    source: VoiceSource,
    challenge: DigitChallenge,
    levels: &mut dyn FnMut(microphone::Level),
    cancel: &Cancellation,
) -> Result<VoiceResult, Failure> {
    let (recording, _) = crate::voice::record(&source, None, &challenge, levels, cancel)?;
    let check = analyzer
        .analyze(&recording.samples)
        .map_err(crate::voice::voice_failure)?;
    let issues: Vec<String> = check.issues.iter().map(crate::wire_name).collect();
    let m = &check.measures;
    let embedding = match (&check.embedding, check.accepted()) {
        (Some(e), true) => e.as_slice().to_vec(),
        _ => {
            // The measures say how far off the sample was: the clerk's
            // remedy stays the catalogue's, the log and support get numbers.
            return Err(Failure::new(
                Code::VoiceRejected,
                format!(
                    "issues: {}; {:.1} s of speech in {:.1} s, speech at {:.0} dBFS, SNR {:.0} dB",
                    issues.join(", "),
                    m.speech_seconds,
                    m.duration_seconds,
                    m.speech_dbfs,
                    m.snr_db
                ),
            ));
        }
    };
    let samples = recording
        .samples
        .iter()
        .map(|s| (s.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16)
        .collect();
    Ok(VoiceResult {
        duration_seconds: m.duration_seconds,
        capture: VoiceCapture {
            sample: VoiceSample {
                sample_rate_hz: VOICE_SAMPLE_RATE_HZ,
                samples,
            },
            challenge_digits: challenge.digits().to_owned(),
            analysis: VoiceAnalysis {
                speech_seconds: m.speech_seconds,
                level_dbfs: m.speech_dbfs,
                clipping_ratio: m.clipping_ratio,
                snr_db: m.snr_db,
                issues,
            },
            speaker_embedding: embedding,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vpcd_readers_are_named_by_port() {
        assert_eq!(vpcd_reader(35963), "Virtual PCD 00 00");
        assert_eq!(vpcd_reader(35964), "Virtual PCD 00 01");
    }

    fn demo_dg2() -> Vec<u8> {
        std::fs::read(demo_data_dir().join("documents/demo/DG2")).unwrap()
    }

    /// The sample attacks of `testdata/faces` hold the head turned: no
    /// frame is good enough to keep, and liveness refuses them.
    #[test]
    fn a_printed_photo_and_a_screen_replay_are_refused() {
        let analyzer = Arc::new(FaceAnalyzer::load_bundled().unwrap());
        let faces = demo_data_dir().join("faces");
        let source = FaceSource::Files(vec![faces.join("F1.png"), faces.join("F2.png")]);
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let saw = Arc::clone(&seen);
        let refused = capture_face(
            &analyzer,
            &source,
            &demo_dg2(),
            None,
            move |p| saw.lock().unwrap().push(p.frame),
            |_| {},
            &Cancellation::new(),
        )
        .err()
        .unwrap();
        assert_eq!(refused.code, Code::LivenessFailed, "{refused}");
        assert_eq!(*seen.lock().unwrap(), [1, 2]);
    }

    /// The demo camera answers the head-turn challenge whichever way it
    /// asks, and the window is told each step of it.
    #[test]
    fn the_demo_camera_runs_live_turns_its_head_and_matches_the_demo_portrait() {
        let analyzer = Arc::new(FaceAnalyzer::load_bundled().unwrap());
        for direction in [TurnDirection::Left, TurnDirection::Right] {
            let updates = Arc::new(std::sync::Mutex::new(Vec::new()));
            let jpegs = Arc::new(std::sync::Mutex::new(Vec::new()));
            let (u, j) = (Arc::clone(&updates), Arc::clone(&jpegs));
            let challenge = HeadTurnChallenge::new(direction, HeadTurnConfig::default());
            let face = capture_face(
                &analyzer,
                &FaceSource::demo(),
                &demo_dg2(),
                Some(challenge),
                move |p| u.lock().unwrap().push(p),
                move |jpeg| j.lock().unwrap().push(jpeg),
                &Cancellation::new(),
            )
            .unwrap();
            assert_eq!(face.capture.liveness.verdict, "live");
            assert!(face.matching.matched);
            let outcome = face.challenge.unwrap();
            assert_eq!(outcome.direction, direction);
            assert_eq!(outcome.state, ChallengeState::Passed, "{outcome:?}");
            assert!(outcome.peak_yaw_deg > 15.0, "{outcome:?}");
            let updates = updates.lock().unwrap();
            assert!(updates.len() >= 3, "liveness needs three frames");
            // The prompts the window showed, in order.
            let mut asked: Vec<ChallengeState> = Vec::new();
            for p in updates.iter() {
                let state = p.challenge.unwrap().state;
                if asked.last() != Some(&state) {
                    asked.push(state);
                }
            }
            assert_eq!(
                asked,
                [
                    ChallengeState::LookAtCamera,
                    ChallengeState::Turn,
                    ChallengeState::LookBack,
                    ChallengeState::Passed
                ][4 - asked.len()..],
                "{direction:?}"
            );
            assert!(asked.contains(&ChallengeState::Turn));
            // Preview frames are JPEGs of the camera's frames, as they came.
            let jpegs = jpegs.lock().unwrap();
            assert!(!jpegs.is_empty());
            let first = image::load_from_memory(&jpegs[0].jpeg).unwrap();
            let message = jpegs[0].clone().into_message();
            let sent = f64::from_le_bytes(message[..8].try_into().unwrap());
            assert_eq!(sent, jpegs[0].captured_unix_ms);
            assert_eq!(&message[8..], &jpegs[0].jpeg[..]);
            assert_eq!(
                first.width(),
                first.height(),
                "the demo camera's frames are square"
            );
            for p in updates.iter() {
                assert_eq!(p.frames, 0, "a camera has no frame count");
                let [x, y, w, h] = p.face_box.unwrap();
                assert!(
                    x > 0.0 && y > 0.0 && x + w < 1.0 && y + h < 1.0,
                    "{:?}",
                    p.face_box
                );
            }
        }
    }

    /// A live face that never turns is not enough when a turn was asked.
    #[test]
    fn a_face_that_does_not_turn_fails_the_challenge() {
        let analyzer = Arc::new(FaceAnalyzer::load_bundled().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let frames = demo_frames(
            &analyzer,
            &demo_data_dir().join("faces").join(DEMO_FACE),
            &DEMO_FRAME_SIDES,
        )
        .unwrap();
        let mut files = Vec::new();
        for (i, frame) in frames.into_iter().enumerate() {
            let path = dir.path().join(format!("{i}.jpg"));
            std::fs::write(&path, encode_jpeg(&frame).unwrap()).unwrap();
            files.push(path);
        }
        // Asked for a left turn, the capture fails with…
        let refusal = |files: Vec<PathBuf>| {
            let challenge = HeadTurnChallenge::new(TurnDirection::Left, HeadTurnConfig::default());
            capture_face(
                &analyzer,
                &FaceSource::Files(files),
                &demo_dg2(),
                Some(challenge),
                |_| {},
                |_| {},
                &Cancellation::new(),
            )
            .err()
            .unwrap()
        };
        let failed = refusal(files);
        assert_eq!(failed.code, Code::HeadTurnFailed, "{failed}");

        // No face at all: said as such, not as a head not turned.
        let blank = dir.path().join("blank.jpg");
        let grey = image::RgbImage::from_pixel(640, 480, image::Rgb([120, 120, 120]));
        grey.save(&blank).unwrap();
        let failed = refusal(vec![blank.clone(), blank]);
        assert_eq!(failed.code, Code::FaceNotCaptured, "{failed}");
    }

    #[test]
    fn a_live_capture_stops_when_cancelled() {
        let analyzer = Arc::new(FaceAnalyzer::load_bundled().unwrap());
        let cancel = Cancellation::new();
        let stopper = cancel.clone();
        let frames = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = Arc::clone(&frames);
        let failed = capture_face(
            &analyzer,
            &FaceSource::demo(),
            &demo_dg2(),
            None,
            move |_| {
                if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1 {
                    stopper.cancel();
                }
            },
            |_| {},
            &cancel,
        )
        .err()
        .unwrap();
        assert_eq!(failed.code, Code::Cancelled, "{failed}");
        // The analysis stopped at the frame after the cancel.
        assert_eq!(frames.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn user_names_compare_like_the_store() {
        assert!(same_user("Anna", " anna "));
        assert!(!same_user("anna", "anne"));
    }
}
