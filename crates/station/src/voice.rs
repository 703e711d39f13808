//! `station voice check`: record or load a voice sample and judge it.
//!
//! The recording stays in memory: it is analysed and dropped. Only the
//! measures, the verdict and the embedding's size are reported; the voice
//! itself and its voiceprint never reach stdout or the logs.

use std::path::PathBuf;
use std::time::Instant;

use biometrics::voice::{Language, VoiceAnalyzer, VoiceConfig, VoiceError};
use biometrics::{DigitChallenge, ModelCatalog};
use clap::{Args, Subcommand};
use microphone::{AudioError, AudioSource, Level, Microphone, Recording, WavSource};
use serde_json::{Value, json};

use crate::cancel::Cancellation;
use crate::failure::{Code, Failure};
use crate::paths::StationPaths;

/// The `station voice` subcommands.
#[derive(Debug, Subcommand)]
pub enum VoiceCommand {
    /// Check a voice sample: speech, level, clipping, noise, speaker embedding.
    Check(CheckArgs),
}

/// Where the voice sample comes from: exactly one of the two.
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct VoiceInput {
    /// A WAV recording (any rate, PCM or float, mono or stereo).
    #[arg(long)]
    pub wav: Option<PathBuf>,
    /// Record from the microphone.
    #[arg(long)]
    pub mic: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub input: VoiceInput,
    /// Seconds to record from the microphone (default 6), or to use of a
    /// file (default: all of it, up to 60).
    #[arg(long, value_parser = seconds)]
    pub seconds: Option<f32>,
    /// The microphone's id as `station doctor` lists it (default: the system's default input).
    #[arg(long, requires = "mic")]
    pub device: Option<String>,
    /// The digits the citizen was asked to read (default: a fresh random challenge).
    #[arg(long, value_parser = challenge)]
    pub challenge: Option<DigitChallenge>,
}

/// Default length of a microphone recording: time to read eight digits.
const MIC_SECONDS: f32 = 6.0;
/// The longest sample the station takes.
const MAX_SECONDS: f32 = 60.0;

fn seconds(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if (0.5..=MAX_SECONDS).contains(&v) => Ok(v),
        _ => Err(format!(
            "`{s}` is not a duration between 0.5 and {MAX_SECONDS} seconds"
        )),
    }
}

fn challenge(s: &str) -> Result<DigitChallenge, String> {
    DigitChallenge::try_from(s.to_owned())
}

pub fn run(command: VoiceCommand, paths: &StationPaths) -> Result<Value, Failure> {
    match command {
        VoiceCommand::Check(args) => check(&args, paths),
    }
}

fn check(args: &CheckArgs, paths: &StationPaths) -> Result<Value, Failure> {
    let challenge = args
        .challenge
        .clone()
        .unwrap_or_else(|| DigitChallenge::random(&mut rand::thread_rng()));
    // Models first: a broken installation is reported before anyone speaks.
    let catalog =
        ModelCatalog::open(&paths.models_dir).map_err(|e| voice_failure(VoiceError::Model(e)))?;
    let analyzer = VoiceAnalyzer::load(&catalog, VoiceConfig::default()).map_err(voice_failure)?;

    let source = match &args.input.wav {
        Some(path) => VoiceSource::Wav(path.clone()),
        None => VoiceSource::Microphone {
            device: args.device.clone(),
            seconds: args.seconds.unwrap_or(MIC_SECONDS),
        },
    };
    let (recording, source) = record(
        &source,
        args.seconds,
        &challenge,
        &mut terminal_meter(&challenge),
        &Cancellation::new(),
    )?;

    let started = Instant::now();
    let check = analyzer
        .analyze(&recording.samples)
        .map_err(voice_failure)?;
    let millis = started.elapsed().as_millis() as u64;
    let m = &check.measures;
    Ok(json!({
        "challenge": {
            "digits": challenge.digits(),
            "zh": challenge.spoken(Language::Chinese),
            "en": challenge.spoken(Language::English),
        },
        "source": source,
        "format": recording.source,
        "duration_seconds": m.duration_seconds,
        "speech_seconds": m.speech_seconds,
        "speech_dbfs": m.speech_dbfs,
        "peak_dbfs": m.peak_dbfs,
        "clipping_ratio": m.clipping_ratio,
        "snr_db": m.snr_db,
        "verdict": if check.accepted() { "accepted" } else { "rejected" },
        "issues": check.issues,
        "embedding": check.embedding.as_ref().map(|e| json!({ "dims": e.as_slice().len() })),
        "analysis_millis": millis,
    }))
}

/// A level meter for a terminal: asks for the digits at the first level,
/// then prints the loudness twice a second on stderr.
pub fn terminal_meter(challenge: &DigitChallenge) -> impl FnMut(Level) + Send + 'static {
    let digits = challenge.digits().to_owned();
    let mut count = 0u32;
    move |level| {
        if count == 0 {
            eprintln!("recording: please read {digits}");
        }
        count += 1;
        if count.is_multiple_of(10) {
            eprintln!(
                "level {:6.1} dBFS (peak {:6.1})",
                level.rms_dbfs, level.peak_dbfs
            );
        }
    }
}

/// Where a voice sample comes from.
#[derive(Debug, Clone)]
pub enum VoiceSource {
    Wav(PathBuf),
    Microphone {
        device: Option<String>,
        seconds: f32,
    },
}

/// Records `source` (a file: at most `max_file_seconds`, default all of it
/// up to the longest sample taken), handing `levels` the loudness twenty
/// times a second. Returns the recording and a description of its source
/// for reports. `cancel` stops it at the next chunk: the microphone's
/// stream is closed and the samples so far dropped.
pub fn record(
    source: &VoiceSource,
    max_file_seconds: Option<f32>,
    challenge: &DigitChallenge,
    levels: &mut dyn FnMut(Level),
    cancel: &Cancellation,
) -> Result<(Recording, Value), Failure> {
    let step = "the recording";
    let (device, seconds) = match source {
        VoiceSource::Wav(path) => {
            let mut wav = WavSource::open(path).map_err(audio_failure)?;
            let seconds = max_file_seconds.unwrap_or(MAX_SECONDS);
            let rec = microphone::record(&mut cancel.audio(&mut wav), seconds, levels);
            let rec = cancel.outcome(step, rec.map_err(audio_failure))?;
            return Ok((rec, json!({ "kind": "wav", "path": path })));
        }
        VoiceSource::Microphone { device, seconds } => (device, *seconds),
    };
    let mut mic = Microphone::open(device.as_deref()).map_err(audio_failure)?;
    tracing::info!(
        seconds,
        microphone = mic.name(),
        rate = mic.format().sample_rate,
        challenge = challenge.digits(),
        "recording"
    );
    let rec = microphone::record(&mut cancel.audio(&mut mic), seconds, levels);
    let rec = cancel.outcome(step, rec.map_err(audio_failure))?;
    if mic.dropped_chunks() > 0 {
        tracing::warn!(
            dropped = mic.dropped_chunks(),
            "audio chunks dropped while recording"
        );
    }
    let source = json!({
        "kind": "microphone",
        "name": mic.name(),
        "dropped_chunks": mic.dropped_chunks(),
    });
    Ok((rec, source))
}

pub(crate) fn audio_failure(e: AudioError) -> Failure {
    let code = match &e {
        AudioError::NoDevice | AudioError::UnknownDevice(_) => Code::NoMicrophone,
        AudioError::Busy(_) => Code::MicrophoneBusy,
        AudioError::DeviceLost(_) => Code::MicrophoneLost,
        AudioError::BadRecording { .. } | AudioError::UnsupportedFormat(_) => {
            Code::RecordingUnreadable
        }
        AudioError::HostUnavailable(_) | AudioError::Enumeration(_) | AudioError::Open(_) => {
            Code::AudioUnavailable
        }
        AudioError::Resample(_) => Code::Internal,
    };
    Failure::new(code, e)
}

pub(crate) fn voice_failure(e: VoiceError) -> Failure {
    let code = match &e {
        VoiceError::Model(_) => Code::ModelsInvalid,
        VoiceError::NotFinite(_) => Code::RecordingUnreadable,
        VoiceError::InvalidConfig(_) => Code::InvalidArgument,
        VoiceError::Inference(_) => Code::Internal,
    };
    Failure::new(code, e)
}
