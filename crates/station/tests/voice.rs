//! `station voice check` on real speech: espeak-ng digit challenges from a
//! file, and played into the test bed's virtual microphone while the
//! station records through cpal and PulseAudio.

// In tests a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use serde_json::Value;
use support::{station_fails, station_ok};
use testbed::Service;

/// One virtual microphone: recordings of this file take turns.
static MICROPHONE: Mutex<()> = Mutex::new(());

fn speak(dir: &Path, voice: &str, text: &str) -> std::path::PathBuf {
    let wav = dir.join(format!("{voice}.wav"));
    testbed::speak(voice, text, &wav).unwrap();
    wav
}

#[test]
fn a_recorded_challenge_is_accepted_with_its_measures() {
    let dir = tempfile::tempdir().unwrap();
    let wav = speak(dir.path(), "en", "four zero seven one nine five eight");
    let report = station_ok(&[
        "voice",
        "check",
        "--wav",
        wav.to_str().unwrap(),
        "--challenge",
        "4071958",
    ]);
    assert_eq!(report["verdict"], "accepted", "{report:#}");
    assert_eq!(report["issues"], serde_json::json!([]));
    assert_eq!(report["challenge"]["digits"], "4071958");
    assert_eq!(report["challenge"]["zh"], "四零七一九五八");
    // espeak-ng writes 22.05 kHz mono; the station resamples to 16 kHz.
    assert_eq!(report["format"]["sample_rate"], 22_050);
    assert!(
        report["speech_seconds"].as_f64().unwrap() > 1.5,
        "{report:#}"
    );
    assert_eq!(report["embedding"]["dims"], 256);
    assert_eq!(report["clipping_ratio"], 0.0);
}

#[test]
fn a_fresh_challenge_is_drawn_when_none_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let wav = speak(dir.path(), "cmn", "三八二");
    let a = station_ok(&["voice", "check", "--wav", wav.to_str().unwrap()]);
    let b = station_ok(&["voice", "check", "--wav", wav.to_str().unwrap()]);
    let digits = |r: &Value| r["challenge"]["digits"].as_str().unwrap().to_owned();
    assert!((6..=8).contains(&digits(&a).len()), "{a:#}");
    assert_ne!(digits(&a), digits(&b));
    // Three digits are not enough speech.
    assert_eq!(a["verdict"], "rejected");
    assert_eq!(a["issues"], serde_json::json!(["too_short"]), "{a:#}");
}

#[test]
fn garbage_and_missing_recordings_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.wav");
    std::fs::write(&junk, b"RIFF\x24\x00\x00\x00WAVEfmt nonsense").unwrap();
    let err = station_fails(
        &["voice", "check", "--wav", junk.to_str().unwrap()],
        "RECORDING_UNREADABLE",
    );
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("junk.wav")
    );
    station_fails(
        &["voice", "check", "--wav", "/nonexistent/voice.wav"],
        "RECORDING_UNREADABLE",
    );
    station_fails(
        &["voice", "check", "--wav", junk.to_str().unwrap(), "--mic"],
        "INVALID_ARGUMENT",
    );
    station_fails(
        &["voice", "check", "--mic", "--challenge", "12"],
        "INVALID_ARGUMENT",
    );
}

/// Starts `station voice check --mic --seconds SECONDS --json` against the
/// PulseAudio server `pulse` (default: the test bed's) and returns once it
/// says it records. Its stderr stays open, so it never blocks on writing.
fn start_recording(
    seconds: &str,
    pulse: Option<&str>,
) -> (std::process::Child, BufReader<std::process::ChildStderr>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_station"));
    command
        .args(["voice", "check", "--mic", "--seconds", seconds, "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(server) = pulse {
        command.env("PULSE_SERVER", server);
    }
    let mut child = command.spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.starts_with("recording"), "{line}");
    (child, stderr)
}

/// Records with `station voice check --mic`, plays `wav` (if any) into the
/// virtual microphone meanwhile, and returns the report.
fn record_from_microphone(seconds: &str, wav: Option<&Path>) -> Value {
    let (child, _stderr) = start_recording(seconds, None);
    if let Some(wav) = wav {
        testbed::play_into_microphone(wav).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn speech_played_into_the_microphone_is_recorded_and_accepted() {
    if !testbed::require(Service::PulseAudio) {
        return;
    }
    let _mic = MICROPHONE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    for (voice, text) in [
        ("en", "six two eight three zero one four"),
        ("cmn", "六二八三零一四"),
    ] {
        let wav = speak(dir.path(), voice, text);
        let report = record_from_microphone("6", Some(&wav));
        assert_eq!(report["source"]["kind"], "microphone");
        assert_eq!(report["source"]["name"], "virtmic", "{report:#}");
        assert_eq!(report["format"]["sample_rate"], 16_000, "{report:#}");
        assert!(
            (report["duration_seconds"].as_f64().unwrap() - 6.0).abs() < 0.05,
            "{report:#}"
        );
        assert_eq!(report["verdict"], "accepted", "{voice}: {report:#}");
        assert!(
            report["speech_seconds"].as_f64().unwrap() > 1.5,
            "{report:#}"
        );
    }
}

#[test]
fn a_silent_microphone_gives_no_speech() {
    if !testbed::require(Service::PulseAudio) {
        return;
    }
    let _mic = MICROPHONE.lock().unwrap_or_else(|e| e.into_inner());
    let report = record_from_microphone("2", None);
    assert_eq!(report["verdict"], "rejected");
    assert_eq!(
        report["issues"],
        serde_json::json!(["no_speech"]),
        "{report:#}"
    );
    assert!(report["embedding"].is_null());
}

#[test]
fn no_audio_system_means_no_microphone() {
    // No PulseAudio server and an ALSA without devices: a counter PC whose
    // microphone is unplugged.
    let dir = tempfile::tempdir().unwrap();
    let alsa_conf = dir.path().join("asound.conf");
    std::fs::write(&alsa_conf, "").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_station"))
        .args(["voice", "check", "--mic", "--seconds", "1", "--json"])
        .env(
            "PULSE_SERVER",
            format!("unix:{}", dir.path().join("none").display()),
        )
        .env("ALSA_CONFIG_PATH", &alsa_conf)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    let value: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["error"]["code"], "NO_MICROPHONE", "{value:#}");
}

/// A second private PulseAudio server (the test bed's own script, in its
/// own directory), stopped when dropped.
struct PrivatePulse {
    dir: tempfile::TempDir,
}

impl PrivatePulse {
    fn script() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/testbed.sh")
    }

    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(Self::script())
            .args(["start", "pulse"])
            .env("TESTBED_DIR", dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        Self { dir }
    }

    fn server(&self) -> String {
        format!("unix:{}", self.dir.path().join("pulse/native").display())
    }

    fn stop(&self) {
        let out = Command::new(Self::script())
            .arg("stop")
            .env("TESTBED_DIR", self.dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
}

impl Drop for PrivatePulse {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn a_microphone_lost_mid_recording_is_a_clear_error() {
    if !testbed::require(Service::PulseAudio) {
        return;
    }
    let pulse = PrivatePulse::start();
    let (child, _stderr) = start_recording("20", Some(&pulse.server()));
    // The audio server goes away while the citizen speaks.
    pulse.stop();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "{out:?}");
    let value: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["error"]["code"], "MICROPHONE_LOST", "{value:#}");
}
