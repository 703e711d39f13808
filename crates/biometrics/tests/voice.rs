//! Voice analysis on real speech: espeak-ng reads digit challenges in
//! English and Chinese, and the recordings are judged as the counter would.

// In tests a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use biometrics::voice::{Language, VoiceAnalyzer, VoiceIssue};
use biometrics::{DigitChallenge, VoiceCheck};

fn analyzer() -> &'static VoiceAnalyzer {
    static ANALYZER: OnceLock<VoiceAnalyzer> = OnceLock::new();
    ANALYZER.get_or_init(|| VoiceAnalyzer::load_bundled().unwrap())
}

/// `digits` read by espeak-ng's `voice`, at 16 kHz.
fn speech(voice: &str, digits: &str, language: Language) -> Vec<f32> {
    let challenge = DigitChallenge::try_from(digits.to_owned()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("speech.wav");
    testbed::speak(voice, &challenge.spoken(language), &wav).unwrap();
    let mut source = microphone::WavSource::open(&wav).unwrap();
    microphone::record(&mut source, 30.0, &mut |_| {})
        .unwrap()
        .samples
}

fn check(samples: &[f32]) -> VoiceCheck {
    analyzer().analyze(samples).unwrap()
}

#[test]
fn english_and_chinese_digits_are_accepted() {
    for (voice, language) in [("en", Language::English), ("cmn", Language::Chinese)] {
        let samples = speech(voice, "40719583", language);
        let c = check(&samples);
        assert!(c.accepted(), "{voice}: {c:?}");
        let m = &c.measures;
        assert!(m.speech_seconds > 1.5, "{voice}: {m:?}");
        assert!(m.speech_seconds <= m.duration_seconds, "{voice}: {m:?}");
        assert!(m.snr_db > 30.0, "{voice}: {m:?}");
        assert!(
            m.speech_dbfs > -35.0 && m.peak_dbfs <= 0.0,
            "{voice}: {m:?}"
        );
        assert_eq!(m.clipping_ratio, 0.0);
        assert_eq!(c.embedding.as_ref().unwrap().as_slice().len(), 256);
    }
}

#[test]
fn silence_has_no_speech_and_no_voiceprint() {
    let c = check(&vec![0.0; 48_000]);
    assert_eq!(c.issues, [VoiceIssue::NoSpeech]);
    assert_eq!(c.measures.speech_seconds, 0.0);
    assert!(c.embedding.is_none());
}

#[test]
fn a_clipped_recording_is_rejected_as_clipped() {
    let loud: Vec<f32> = speech("en", "1234567", Language::English)
        .into_iter()
        .map(|s| (s * 25.0).clamp(-1.0, 1.0))
        .collect();
    let c = check(&loud);
    assert!(c.issues.contains(&VoiceIssue::Clipped), "{c:?}");
    assert!(c.measures.clipping_ratio > 0.01, "{:?}", c.measures);
}

#[test]
fn a_whisper_is_too_quiet() {
    let quiet: Vec<f32> = speech("en", "7654321", Language::English)
        .into_iter()
        .map(|s| s * 0.004)
        .collect();
    let c = check(&quiet);
    assert!(
        c.issues.contains(&VoiceIssue::TooQuiet) || c.issues == [VoiceIssue::NoSpeech],
        "{c:?}"
    );
    assert!(!c.accepted());
}

#[test]
fn speech_under_loud_noise_is_noisy() {
    let mut state = 0x2545_f491_u32;
    let noisy: Vec<f32> = speech("en", "55019283", Language::English)
        .into_iter()
        .map(|s| {
            // xorshift white noise at about -20 dBFS
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            s + (state as f32 / u32::MAX as f32 - 0.5) * 0.35
        })
        .collect();
    let c = check(&noisy);
    assert!(
        c.issues.contains(&VoiceIssue::Noisy) || c.issues.contains(&VoiceIssue::NoSpeech),
        "{c:?}"
    );
    assert!(c.measures.snr_db < 12.0, "{:?}", c.measures);
}

#[test]
fn a_voice_is_closer_to_itself_than_to_another_voice() {
    let embed = |voice: &str, digits: &str| {
        check(&speech(voice, digits, Language::English))
            .embedding
            .unwrap()
    };
    let a1 = embed("en+m3", "40719583");
    let a2 = embed("en+m3", "62830147");
    let b1 = embed("en+f4", "40719583");
    let same = a1.cosine(&a2);
    let other = a1.cosine(&b1);
    assert!(same > other + 0.05, "same {same}, other {other}");
    assert!(same > 0.8, "same {same}");
}

#[test]
fn samples_that_are_not_numbers_are_an_error() {
    let mut samples = vec![0.0f32; 16_000];
    samples[100] = f32::NAN;
    let err = analyzer().analyze(&samples).unwrap_err();
    assert!(err.to_string().contains("1 samples"), "{err}");
    // Empty input is a valid (empty) recording, not a crash.
    assert_eq!(check(&[]).issues, [VoiceIssue::NoSpeech]);
}
