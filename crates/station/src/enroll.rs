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

use biometrics::face::{LivenessDecision, MatchDecision};
use biometrics::voice::{VoiceAnalyzer, VoiceConfig};
use biometrics::{
    AnalyzerConfig, DigitChallenge, FaceAnalyzer, Frame, LivenessAggregator, ModelCatalog,
};
use card::vpcd::VpcdBridge;
use clap::Args;
use emrtd::portrait::{ImageFormat, Portrait};
use emrtd::{LdsFile, Verdict, VirtualChip};
use enrollment::packet::{
    CheckOutcome, ChipFiles, FaceCapture, FaceMatch, Liveness, ModelVersion, PacketHeader,
    PacketPayload, PlatformPublicKey, QualitySummary, SealedPacket, Signoff, VOICE_SAMPLE_RATE_HZ,
    VoiceAnalysis, VoiceCapture, VoiceSample,
};
use serde_json::{Value, json};
use store::{ClerkStep, EnrollmentId, OutboxEntry, OutgoingPacket, Role, Session, Store};
use zeroize::Zeroizing;

use crate::accounts::{Passwords, open_store, sign_in, store_failure};
use crate::card::DocumentSource;
use crate::card::read::{ChipRead, ChipRequest, parse_access_key, read_chip};
use crate::failure::{Code, Failure};
use crate::identity::{self, StationIdentity};
use crate::paths::{StationPaths, demo_data_dir};
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
    /// The PC/SC reader holding the document.
    #[arg(long, required_unless_present = "demo")]
    pub reader: Option<String>,
    /// The MRZ access key: DOCUMENT:YYMMDD(birth):YYMMDD(expiry).
    #[arg(long, conflicts_with = "can")]
    pub mrz: Option<String>,
    /// The 6-digit card access number (PACE).
    #[arg(long)]
    pub can: Option<String>,
    /// Trusted CSCA certificates; default: the data directory's `trust/`.
    #[arg(long)]
    pub trust_store: Option<PathBuf>,
    #[arg(long)]
    pub short_apdus: bool,
    /// Seconds to wait for the document on the reader.
    #[arg(long, default_value_t = 5.0)]
    pub wait: f64,
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

/// Quality of the sealed live frame: detail for the platform's re-check.
const FRAME_JPEG_QUALITY: u8 = 90;

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
enum FaceSource {
    /// Image files and folders of them.
    Files(Vec<PathBuf>),
    /// Square frames cut around the face in one photo, in memory.
    DemoCamera(PathBuf),
}

impl Plan {
    fn from_args(args: &EnrollArgs) -> Result<Self, Failure> {
        if args.voice.is_none() && !args.mic {
            return Err(Failure::new(
                Code::InvalidArgument,
                "give the voice sample: --voice FILE --challenge DIGITS, or --mic",
            ));
        }
        if args.demo {
            let demo = demo_data_dir();
            let faces = if args.face.is_empty() {
                FaceSource::DemoCamera(demo.join("faces").join(DEMO_FACE))
            } else {
                FaceSource::Files(args.face.clone())
            };
            let port = args.demo_port;
            return Ok(Self {
                reader: args.reader.clone().unwrap_or_else(|| vpcd_reader(port)),
                request_key: parse_access_key(
                    args.mrz.as_deref(),
                    Some(args.can.as_deref().unwrap_or(DEMO_CAN)),
                )?,
                trust_store: Some(
                    args.trust_store
                        .clone()
                        .unwrap_or_else(|| demo.join("documents/demo/trust")),
                ),
                faces,
                demo_port: Some(port),
            });
        }
        let reader = args
            .reader
            .clone()
            .ok_or_else(|| Failure::new(Code::InvalidArgument, "give --reader"))?;
        Ok(Self {
            reader,
            request_key: parse_access_key(args.mrz.as_deref(), args.can.as_deref())?,
            trust_store: args.trust_store.clone(),
            faces: FaceSource::Files(args.face.clone()),
            demo_port: None,
        })
    }
}

/// pcscd's name for the vpcd reader on `port` (35963 is the first).
fn vpcd_reader(port: u16) -> String {
    format!(
        "Virtual PCD 00 {:02}",
        port.saturating_sub(card::vpcd::DEFAULT_PORT)
    )
}

/// The face and voice models, loaded once and checked against their hashes.
#[derive(Debug)]
struct Models {
    face: FaceAnalyzer,
    voice: VoiceAnalyzer,
    versions: Vec<ModelVersion>,
}

fn load_models(dir: &Path) -> Result<Models, Failure> {
    let invalid = |e: &dyn std::fmt::Display| Failure::new(Code::ModelsInvalid, e.to_string());
    let catalog = ModelCatalog::open(dir).map_err(|e| invalid(&e))?;
    let face = FaceAnalyzer::load(&catalog, AnalyzerConfig::default()).map_err(|e| invalid(&e))?;
    let voice = VoiceAnalyzer::load(&catalog, VoiceConfig::default()).map_err(|e| invalid(&e))?;
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

/// Runs one enrollment from sign-in to the queued packet.
pub async fn run(args: EnrollArgs, paths: &StationPaths) -> Result<Value, Failure> {
    let plan = Plan::from_args(&args)?;
    // Everything that does not need the citizen is checked first, so
    // nobody is captured for an enrollment that cannot be sealed.
    let store = open_store(paths).await?;
    let (identity, platform) = match identity::for_sealing(paths, &store).await {
        Ok(sealing) => sealing,
        Err(e) => {
            store.close().await;
            return Err(e);
        }
    };
    let models_dir = paths.models_dir.clone();
    let models = Arc::new(blocking(move || load_models(&models_dir)).await?);

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

    let outcome = enroll(
        &store,
        &plan,
        &args,
        paths,
        models,
        &identity,
        &platform,
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
fn same_user(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

#[allow(clippy::too_many_arguments)]
async fn enroll(
    store: &Store,
    plan: &Plan,
    args: &EnrollArgs,
    paths: &StationPaths,
    models: Arc<Models>,
    identity: &StationIdentity,
    platform: &PlatformPublicKey,
    clerk: &Session,
    supervisor: &Session,
) -> Result<Value, Failure> {
    if clerk.user_id() == supervisor.user_id() {
        return Err(Failure::new(Code::SelfApproval, ""));
    }
    let enrollment = store
        .start_enrollment(clerk.user_id())
        .await
        .map_err(store_failure)?;
    let id = enrollment.id;
    tracing::info!(enrollment = %id, "enrollment started");
    let step = |s| store.record_step(id, clerk.user_id(), s);

    // The document.
    let demo_card = match plan.demo_port {
        Some(port) => Some(DemoCard::insert(port)?),
        None => None,
    };
    let chip = {
        let reader = plan.reader.clone();
        let key = plan.request_key.clone();
        let trust_store = plan.trust_store.clone();
        let (short_apdus, paths) = (args.short_apdus, paths.clone());
        let wait = Duration::try_from_secs_f64(args.wait)
            .map_err(|e| Failure::new(Code::InvalidArgument, format!("--wait: {e}")))?;
        blocking(move || {
            let request = ChipRequest {
                reader: &reader,
                key,
                trust_store,
                short_apdus,
                wait,
            };
            read_chip(&request, &paths)
        })
        .await?
    };
    drop(demo_card);
    check_genuine(&chip)?;
    let document = chip.document()?;
    step(ClerkStep::ReadDocument).await.map_err(store_failure)?;

    // The face.
    let face = {
        let models = models.clone();
        let faces = plan.faces.clone();
        let dg2 = chip_file(&chip.files, 2)?.to_vec();
        blocking(move || capture_face(&models.face, &faces, &dg2)).await?
    };
    step(ClerkStep::CaptureFace).await.map_err(store_failure)?;

    // The voice.
    let voice = {
        let models = models.clone();
        let source = match (&args.voice, args.mic) {
            (Some(path), _) => VoiceSource::Wav(path.clone()),
            _ => VoiceSource::Microphone {
                device: args.mic_device.clone(),
                seconds: args.mic_seconds,
            },
        };
        let challenge = args
            .challenge
            .clone()
            .unwrap_or_else(|| DigitChallenge::random(&mut rand::thread_rng()));
        blocking(move || capture_voice(&models.voice, source, challenge)).await?
    };
    step(ClerkStep::CaptureVoice).await.map_err(store_failure)?;

    let submitted = step(ClerkStep::SubmitForReview)
        .await
        .map_err(store_failure)?;
    let approved = store
        .approve(id, supervisor.user_id())
        .await
        .map_err(store_failure)?;

    let payload =
        PacketPayload {
            station_id: identity.id.clone(),
            software_version: env!("CARGO_PKG_VERSION").to_owned(),
            models: models.versions.clone(),
            chip: ChipFiles {
                dg1: chip_file(&chip.files, 1)?.to_vec(),
                dg2: chip_file(&chip.files, 2)?.to_vec(),
                dg11: chip.files.get(&LdsFile::Dg(11)).cloned(),
                dg14: chip.files.get(&LdsFile::Dg(14)).cloned(),
                dg15: chip.files.get(&LdsFile::Dg(15)).cloned(),
                sod: chip.files.get(&LdsFile::Sod).cloned().ok_or_else(|| {
                    Failure::new(Code::UnsupportedDocument, "the chip has no EF.SOD")
                })?,
            },
            chip_verification: enrollment::packet::ChipVerification {
                passive: outcome(&chip.passive),
                active: outcome(&chip.chip.active),
                chip: outcome(&chip.chip.chip),
            },
            face: face.capture.clone(),
            voice: voice.capture.clone(),
            clerk: signoff(clerk, submitted.updated_at),
            supervisor: signoff(supervisor, approved.updated_at),
        };
    let entry = seal_and_queue(store, identity, platform, id, &payload).await?;
    drop(payload);

    Ok(json!({
        "enrollment_id": id,
        "packet_id": entry.packet_id,
        "station_id": identity.id.as_str(),
        "state": store.enrollment(id).await.map_err(store_failure)?.state,
        "document": document,
        "verification": {
            "passive": chip.passive,
            "active": chip.chip.active,
            "chip": chip.chip.chip,
        },
        "liveness": {
            "decision": face.capture.liveness.verdict,
            "score": face.capture.liveness.score,
            "frames": face.frames_counted,
            "images": face.images,
        },
        "match": {
            "score": face.matching.score,
            "threshold": face.matching.threshold,
            "decision": face.capture.face_match.decision,
        },
        "voice": {
            "verdict": "accepted",
            "challenge": voice.capture.challenge_digits,
            "duration_seconds": voice.duration_seconds,
            "speech_seconds": voice.capture.analysis.speech_seconds,
            "speech_dbfs": voice.capture.analysis.level_dbfs,
            "snr_db": voice.capture.analysis.snr_db,
            "clipping_ratio": voice.capture.analysis.clipping_ratio,
        },
    }))
}

fn signoff(session: &Session, at: store::Timestamp) -> Signoff {
    Signoff {
        user_id: session.user_id().to_string(),
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
    platform: &PlatformPublicKey,
    enrollment: EnrollmentId,
    payload: &PacketPayload,
) -> Result<OutboxEntry, Failure> {
    let header = PacketHeader {
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
        })
    }
}

impl Drop for DemoCard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.serving.take() {
            let _ = t.join();
        }
    }
}

/// What the face step produced.
struct FaceResult {
    capture: FaceCapture,
    matching: MatchDecision,
    images: usize,
    frames_counted: usize,
}

/// The image files of `inputs`: files as given, folders' PNG and JPEG
/// files in name order.
fn image_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    let unreadable = |p: &Path, e: &dyn std::fmt::Display| {
        Failure::new(Code::FaceImagesUnreadable, format!("{}: {e}", p.display()))
    };
    let mut out = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(input)
                .map_err(|e| unreadable(input, &e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension().and_then(|x| x.to_str()).is_some_and(|x| {
                        ["png", "jpg", "jpeg"].contains(&x.to_ascii_lowercase().as_str())
                    })
                })
                .collect();
            found.sort();
            out.extend(found);
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

/// The frames of `source`, decoded in memory.
fn frames(analyzer: &FaceAnalyzer, source: &FaceSource) -> Result<Vec<Frame>, Failure> {
    let decode = crate::face::decode;
    match source {
        FaceSource::Files(inputs) => image_files(inputs)?.iter().map(|p| decode(p)).collect(),
        FaceSource::DemoCamera(photo) => {
            let whole = decode(photo)?;
            let centre = analyzer
                .reference(&whole)
                .map_err(|e| Failure::new(Code::FaceImagesUnreadable, e))?
                .face
                .bbox
                .center();
            let image = image::RgbImage::from(whole);
            let (w, h) = image.dimensions();
            DEMO_FRAME_SIDES
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
    }
}

/// Analyses every frame; liveness is decided over the good frames, and
/// the most clearly live of them is matched against the chip portrait.
fn capture_face(
    analyzer: &FaceAnalyzer,
    source: &FaceSource,
    dg2: &[u8],
) -> Result<FaceResult, Failure> {
    let frames = frames(analyzer, source)?;
    let images = frames.len();
    let mut aggregator = LivenessAggregator::new(analyzer.config().liveness);
    let mut best: Option<(Frame, biometrics::FrameAnalysis)> = None;
    let mut issues = BTreeMap::new();
    for frame in frames {
        let analysis = analyzer
            .analyze(&frame)
            .map_err(|e| Failure::new(Code::Internal, e))?;
        if let Some(issue) = analysis.quality.issue {
            *issues.entry(issue.code()).or_insert(0u32) += 1;
        }
        if !aggregator.offer(&analysis) || analysis.embedding.is_none() {
            continue;
        }
        let real = analysis.liveness.map_or(0.0, |s| s.real);
        let better = best
            .as_ref()
            .is_none_or(|(_, b)| b.liveness.map_or(0.0, |s| s.real) < real);
        if better {
            best = Some((frame, analysis));
        }
    }
    let Some((frame, analysis)) = best else {
        return Err(Failure::new(
            Code::FaceNotCaptured,
            format!("{images} images, none usable: {issues:?}"),
        ));
    };
    let verdict = aggregator.verdict();
    if verdict.decision != LivenessDecision::Live {
        return Err(Failure::new(
            Code::LivenessFailed,
            format!(
                "{} over {} good frames (live score {:.2})",
                decision_text(verdict.decision),
                verdict.frames,
                verdict.real
            ),
        ));
    }

    let portrait =
        Portrait::parse_dg2(dg2).map_err(|e| Failure::new(Code::PortraitUnreadable, e))?;
    let reference_frame = match portrait.format {
        ImageFormat::Jpeg => {
            Frame::decode(&portrait.image).map_err(|e| Failure::new(Code::PortraitUnreadable, e))?
        }
        ImageFormat::Jpeg2000 => {
            return Err(Failure::new(
                Code::PortraitUnreadable,
                "JPEG 2000 chip portraits cannot be matched yet",
            ));
        }
    };
    let reference = analyzer
        .reference(&reference_frame)
        .map_err(|e| Failure::new(Code::PortraitUnreadable, e))?;
    let live = analysis
        .embedding
        .as_ref()
        .ok_or_else(|| Failure::new(Code::Internal, "the best frame lost its embedding"))?;
    let matching = analyzer.compare(live, &reference.embedding);
    if !matching.matched {
        return Err(Failure::new(
            Code::FaceMismatch,
            format!(
                "similarity {:.2}, threshold {:.2}",
                matching.score, matching.threshold
            ),
        ));
    }
    let jpeg = encode_jpeg(frame)?;
    let capture = FaceCapture {
        best_frame_jpeg: jpeg.to_vec(),
        liveness: Liveness {
            verdict: decision_text(verdict.decision).to_owned(),
            score: verdict.real,
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

/// The frame as JPEG, in memory only.
fn encode_jpeg(frame: Frame) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let (w, h) = (frame.width(), frame.height());
    let mut out = Zeroizing::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut *out, FRAME_JPEG_QUALITY)
        .encode(frame.as_rgb(), w, h, image::ExtendedColorType::Rgb8)
        .map_err(|e| Failure::new(Code::Internal, format!("JPEG encoding: {e}")))?;
    Ok(out)
}

struct VoiceResult {
    capture: VoiceCapture,
    duration_seconds: f32,
}

fn capture_voice(
    analyzer: &VoiceAnalyzer,
    source: VoiceSource,
    challenge: DigitChallenge,
) -> Result<VoiceResult, Failure> {
    let (recording, _) = crate::voice::record(&source, None, &challenge)?;
    let check = analyzer
        .analyze(&recording.samples)
        .map_err(crate::voice::voice_failure)?;
    let issues: Vec<String> = check
        .issues
        .iter()
        .filter_map(|i| serde_json::to_value(i).ok())
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let embedding = match (&check.embedding, check.accepted()) {
        (Some(e), true) => e.as_slice().to_vec(),
        _ => {
            return Err(Failure::new(
                Code::VoiceRejected,
                format!("issues: {}", issues.join(", ")),
            ));
        }
    };
    let m = &check.measures;
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

    #[test]
    fn user_names_compare_like_the_store() {
        assert!(same_user("Anna", " anna "));
        assert!(!same_user("anna", "anne"));
    }
}
