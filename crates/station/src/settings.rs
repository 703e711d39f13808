//! The administrator's settings: the decision thresholds the next
//! enrollment's analysers use, the devices the counter records with, the
//! platform's address and the trust store's CSCA certificates and CRLs.
//!
//! Each setting is its own store setting (`settings.<name>`), so the store
//! audits every change by name and refuses it to anyone but an
//! administrator. Values are checked before anything is written: a bad one
//! changes nothing. A trust file is parsed on its own, and the trust store
//! it joins loaded, before it takes its place in `trust/`.

use std::path::{Path, PathBuf};

use biometrics::AnalyzerConfig;
use biometrics::face::{LivenessConfig, MatchConfig};
use biometrics::voice::VoiceConfig;
use emrtd::passive::TrustStore;
use serde::{Deserialize, Serialize};
use store::{Actor, AuditAction, Store, UserId};
use ts_rs::TS;

use crate::accounts::store_failure;
use crate::card::read::TRUST_DIR;
use crate::failure::{Code, Failure};
use crate::paths::StationPaths;
use crate::platform::{REGISTRATION_SETTING, registration};

/// The settings an administrator changes in the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct StationSettings {
    /// Cosine similarity at or above which the live face matches the chip
    /// portrait (0.2 to 0.9).
    pub face_match_threshold: f32,
    /// Pooled liveness score at or above which the face is live (0 to 1).
    pub liveness_live_threshold: f32,
    /// At or below: a spoof; between the two: undetermined.
    pub liveness_spoof_threshold: f32,
    /// Seconds of speech a voice sample needs (0.5 to 5; a recording
    /// lasts 6).
    pub voice_min_speech_seconds: f32,
    /// The lowest speech-to-noise ratio accepted, dB (1 to 40).
    pub voice_min_snr_db: f32,
    /// The card reader by name; none: the first one holding a card.
    pub reader: Option<String>,
    /// The camera as `device:N` or `file:PATH`; none: the first camera.
    pub camera: Option<String>,
    /// The microphone's id as `station doctor` lists it; none: the
    /// system's default input.
    pub microphone: Option<String>,
}

impl Default for StationSettings {
    fn default() -> Self {
        let voice = VoiceConfig::default();
        let liveness = LivenessConfig::default();
        Self {
            face_match_threshold: MatchConfig::default().threshold,
            liveness_live_threshold: liveness.live_threshold,
            liveness_spoof_threshold: liveness.spoof_threshold,
            voice_min_speech_seconds: voice.enough_speech_seconds,
            voice_min_snr_db: voice.min_snr_db,
            reader: None,
            camera: None,
            microphone: None,
        }
    }
}

/// What the settings screen shows.
#[derive(Debug, Clone, Serialize, TS)]
pub struct SettingsView {
    pub settings: StationSettings,
    /// The platform's address, once registered.
    pub platform_url: Option<String>,
    /// The files of the trust store folder.
    pub trust_files: Vec<String>,
}

/// What the administrator saves: the settings and the platform's address.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct SettingsChange {
    pub settings: StationSettings,
    pub platform_url: Option<String>,
}

fn invalid(what: impl std::fmt::Display) -> Failure {
    Failure::new(Code::SettingInvalid, what)
}

fn within(name: &str, value: f32, low: f32, high: f32) -> Result<(), Failure> {
    if value.is_finite() && (low..=high).contains(&value) {
        Ok(())
    } else {
        Err(invalid(format!("{name} must be between {low} and {high}")))
    }
}

/// A device name as chosen: trimmed, none when empty.
fn device(name: &str, value: Option<&str>) -> Result<Option<String>, Failure> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if v.len() > 200 || v.chars().any(char::is_control) => {
            Err(invalid(format!("{name} is not a device name")))
        }
        Some(v) => Ok(Some(v.to_owned())),
    }
}

// The ranges a threshold may take. Beyond them a setting would match
// strangers' faces or nobody's, or ask more speech than a recording holds;
// the settings screen gives the same bounds.
const FACE_MATCH_RANGE: (f32, f32) = (0.2, 0.9);
const SPEECH_SECONDS_RANGE: (f32, f32) = (0.5, 5.0);
const SNR_DB_RANGE: (f32, f32) = (1.0, 40.0);

impl StationSettings {
    /// The settings with device names trimmed, or why they cannot be used.
    pub fn checked(&self) -> Result<Self, Failure> {
        within(
            "the face match threshold",
            self.face_match_threshold,
            FACE_MATCH_RANGE.0,
            FACE_MATCH_RANGE.1,
        )?;
        within("the live threshold", self.liveness_live_threshold, 0.0, 1.0)?;
        within(
            "the spoof threshold",
            self.liveness_spoof_threshold,
            0.0,
            1.0,
        )?;
        if self.liveness_spoof_threshold >= self.liveness_live_threshold {
            return Err(invalid(
                "the spoof threshold must be below the live threshold",
            ));
        }
        within(
            "the seconds of speech",
            self.voice_min_speech_seconds,
            SPEECH_SECONDS_RANGE.0,
            SPEECH_SECONDS_RANGE.1,
        )?;
        within(
            "the speech-to-noise ratio",
            self.voice_min_snr_db,
            SNR_DB_RANGE.0,
            SNR_DB_RANGE.1,
        )?;
        let camera = device("the camera", self.camera.as_deref())?;
        if let Some(spec) = &camera {
            spec.parse::<camera::CameraSpec>()
                .map_err(|e| invalid(format!("the camera: {e}")))?;
        }
        Ok(Self {
            reader: device("the reader", self.reader.as_deref())?,
            camera,
            microphone: device("the microphone", self.microphone.as_deref())?,
            ..self.clone()
        })
    }

    /// The face analyser's configuration with these thresholds.
    pub fn face_config(&self) -> AnalyzerConfig {
        let mut config = AnalyzerConfig::default();
        config.matching.threshold = self.face_match_threshold;
        config.liveness.live_threshold = self.liveness_live_threshold;
        config.liveness.spoof_threshold = self.liveness_spoof_threshold;
        config
    }

    /// The voice analyser's configuration with these thresholds.
    pub fn voice_config(&self) -> VoiceConfig {
        VoiceConfig {
            enough_speech_seconds: self.voice_min_speech_seconds,
            min_snr_db: self.voice_min_snr_db,
            ..VoiceConfig::default()
        }
    }

    /// Each setting as its store key and text; none: unset.
    fn entries(&self) -> [(&'static str, Option<String>); 8] {
        let number = |v: f32| Some(v.to_string());
        [
            (FACE_MATCH, number(self.face_match_threshold)),
            (LIVE, number(self.liveness_live_threshold)),
            (SPOOF, number(self.liveness_spoof_threshold)),
            (SPEECH, number(self.voice_min_speech_seconds)),
            (SNR, number(self.voice_min_snr_db)),
            (READER, self.reader.clone()),
            (CAMERA, self.camera.clone()),
            (MICROPHONE, self.microphone.clone()),
        ]
    }
}

const FACE_MATCH: &str = "settings.face_match_threshold";
const LIVE: &str = "settings.liveness_live_threshold";
const SPOOF: &str = "settings.liveness_spoof_threshold";
const SPEECH: &str = "settings.voice_min_speech_seconds";
const SNR: &str = "settings.voice_min_snr_db";
const READER: &str = "settings.reader";
const CAMERA: &str = "settings.camera";
const MICROPHONE: &str = "settings.microphone";

/// The stored settings; defaults for those never set. A stored number
/// that does not parse (the file was edited) is the default, logged.
pub async fn load(store: &Store) -> Result<StationSettings, Failure> {
    let mut stored = std::collections::HashMap::new();
    for (key, _) in StationSettings::default().entries() {
        let value = store.setting(key).await.map_err(store_failure)?;
        stored.insert(key, value.filter(|v| !v.is_empty()));
    }
    let mut take = |key: &str| stored.remove(key).flatten();
    let mut s = StationSettings::default();
    for (key, slot) in [
        (FACE_MATCH, &mut s.face_match_threshold),
        (LIVE, &mut s.liveness_live_threshold),
        (SPOOF, &mut s.liveness_spoof_threshold),
        (SPEECH, &mut s.voice_min_speech_seconds),
        (SNR, &mut s.voice_min_snr_db),
    ] {
        match take(key).map(|v| v.parse::<f32>()) {
            Some(Ok(value)) => *slot = value,
            Some(Err(_)) => tracing::warn!(key, "unreadable setting; the default applies"),
            None => {}
        }
    }
    s.reader = take(READER);
    s.camera = take(CAMERA);
    s.microphone = take(MICROPHONE);
    Ok(s)
}

/// What the settings screen shows.
pub async fn view(store: &Store, paths: &StationPaths) -> Result<SettingsView, Failure> {
    Ok(SettingsView {
        settings: load(store).await?,
        platform_url: registration(store).await?.map(|r| r.hub_url),
        trust_files: trust_files(&paths.data_dir.join(TRUST_DIR)),
    })
}

/// Checks everything, then stores what changed, one audited setting at a
/// time, by `admin` (the store refuses anyone else).
pub async fn save(store: &Store, admin: UserId, change: &SettingsChange) -> Result<(), Failure> {
    let settings = change.settings.checked()?;
    let current = load(store).await?;
    let mut registration = registration(store).await?;
    let url = change
        .platform_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    let new_url = match (&registration, url) {
        (Some(r), Some(url)) if r.hub_url != url => Some(platform_url(url)?),
        (None, Some(_)) => {
            return Err(Failure::new(
                Code::NotRegistered,
                "the platform's address is set by registering the station",
            ));
        }
        _ => None,
    };
    let actor = Actor::User(admin);
    // None of these is a secret: the audit says what each was and became.
    let shown = |v: &Option<String>| v.clone().unwrap_or_else(|| "automatic".into());
    for ((key, value), (_, old)) in settings.entries().into_iter().zip(current.entries()) {
        if value != old {
            let detail = format!("{} → {}", shown(&old), shown(&value));
            store
                .set_setting_noted(actor, key, value.as_deref().unwrap_or(""), &detail)
                .await
                .map_err(store_failure)?;
        }
    }
    if let (Some(r), Some(url)) = (registration.as_mut(), new_url) {
        let detail = format!("platform address {} → {url}", r.hub_url);
        r.hub_url = url;
        // What the old address read says nothing of the new one: version
        // 1 until the new one says more at /healthz.
        r.packet_versions.clear();
        let text = serde_json::to_string(&r)
            .map_err(|e| Failure::new(Code::Internal, format!("registration: {e}")))?;
        store
            .set_setting_noted(actor, REGISTRATION_SETTING, &text, &detail)
            .await
            .map_err(store_failure)?;
    }
    Ok(())
}

/// An http(s) address with a host, without spaces.
fn platform_url(url: &str) -> Result<String, Failure> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest)
            if !rest.is_empty()
                && !rest.starts_with('/')
                && !url.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(url.trim_end_matches('/').to_owned())
        }
        _ => Err(invalid(
            "the platform's address must be an http:// or https:// address",
        )),
    }
}

/// The largest trust file taken: master lists run to a few hundred KiB.
const MAX_TRUST_FILE: u64 = 4 << 20;

/// Adds a CSCA certificate, CRL or master list to the trust store after
/// checking it parses and the whole store still loads with it; audited
/// by `admin`, who must be an administrator (checked by the caller). A bad
/// file changes nothing. Returns the name it is kept under.
pub async fn import_trust_file(
    store: &Store,
    paths: &StationPaths,
    admin: UserId,
    file: &Path,
) -> Result<String, Failure> {
    let dir = paths.data_dir.join(TRUST_DIR);
    let source = file.to_owned();
    let name = tokio::task::spawn_blocking(move || add_trust_file(&dir, &source))
        .await
        .map_err(|e| Failure::new(Code::Internal, e))??;
    store
        .record_audit(
            Actor::User(admin),
            AuditAction::SettingsChanged,
            Some("trust_store"),
            &format!("added {name}"),
        )
        .await
        .map_err(store_failure)?;
    Ok(name)
}

fn trust_failure(file: &Path, why: impl std::fmt::Display) -> Failure {
    Failure::new(Code::TrustFileInvalid, format!("{}: {why}", file.display()))
}

fn add_trust_file(dir: &Path, file: &Path) -> Result<String, Failure> {
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .filter(|e| TrustStore::FILE_EXTENSIONS.contains(&e.as_str()))
        .ok_or_else(|| trust_failure(file, "not a .der, .cer, .crt, .pem, .crl or .ml file"))?;
    let bytes = read_bounded(file, MAX_TRUST_FILE)?;
    let added = TrustStore::new()
        .add_file(&ext, &bytes)
        .map_err(|e| trust_failure(file, e))?;
    if added == 0 {
        return Err(trust_failure(file, "no certificate or CRL in it"));
    }
    // The files already there must load too, or the new one would be
    // blamed for a folder that is already broken.
    if dir.is_dir() {
        TrustStore::load_dir(dir).map_err(|e| Failure::new(Code::TrustStoreUnreadable, e))?;
    }
    // Named by content: the same file twice is one file, two files of one
    // name both stay.
    let digest = <sha2::Sha256 as sha2::Digest>::digest(&bytes);
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("trust")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(60)
        .collect::<String>();
    let name = format!("{stem}-{}.{ext}", crate::identity::to_hex(&digest[..4]));
    std::fs::create_dir_all(dir).map_err(|e| Failure::new(Code::DataDirUnavailable, e))?;
    // Written aside under a name the loader skips, then moved in whole:
    // the folder never holds half a file.
    let part = dir.join(format!(".{name}.part"));
    let written =
        std::fs::write(&part, &bytes).and_then(|()| std::fs::rename(&part, dir.join(&name)));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&part);
        return Err(Failure::new(Code::DataDirUnavailable, e));
    }
    Ok(name)
}

/// The file's bytes, read through one handle and never more than `max`
/// of them: a size looked up first could change before the read, and a
/// device file (a link to /dev/zero) reports none and never ends.
fn read_bounded(file: &Path, max: u64) -> Result<Vec<u8>, Failure> {
    use std::io::Read;
    let opened = std::fs::File::open(file).map_err(|e| trust_failure(file, e))?;
    let mut bytes = Vec::new();
    opened
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| trust_failure(file, e))?;
    if bytes.len() as u64 > max {
        return Err(trust_failure(file, "too large"));
    }
    Ok(bytes)
}

fn trust_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// The path the administrator typed for a trust file; empty is no file.
pub fn chosen_path(text: &str) -> Result<PathBuf, Failure> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Failure::new(Code::TrustFileInvalid, "no file chosen"));
    }
    Ok(PathBuf::from(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_out_of_range_or_crossed_are_refused() {
        let ok = StationSettings::default();
        assert_eq!(ok.checked().unwrap(), ok);
        for bad in [
            StationSettings {
                face_match_threshold: 1.5,
                ..ok.clone()
            },
            StationSettings {
                face_match_threshold: f32::NAN,
                ..ok.clone()
            },
            StationSettings {
                liveness_spoof_threshold: 0.9,
                ..ok.clone()
            },
            StationSettings {
                face_match_threshold: 0.0,
                ..ok.clone()
            },
            StationSettings {
                face_match_threshold: 0.95,
                ..ok.clone()
            },
            StationSettings {
                liveness_live_threshold: 1.2,
                ..ok.clone()
            },
            StationSettings {
                voice_min_speech_seconds: 0.0,
                ..ok.clone()
            },
            StationSettings {
                voice_min_speech_seconds: 8.0,
                ..ok.clone()
            },
            StationSettings {
                voice_min_snr_db: 0.0,
                ..ok.clone()
            },
            StationSettings {
                voice_min_snr_db: f32::INFINITY,
                ..ok.clone()
            },
            StationSettings {
                camera: Some("webcam".into()),
                ..ok.clone()
            },
        ] {
            assert_eq!(
                bad.checked().unwrap_err().code,
                Code::SettingInvalid,
                "{bad:?}"
            );
        }
        let trimmed = StationSettings {
            reader: Some("  Virtual PCD 00 01 ".into()),
            microphone: Some(" ".into()),
            ..ok
        }
        .checked()
        .unwrap();
        assert_eq!(trimmed.reader.as_deref(), Some("Virtual PCD 00 01"));
        assert_eq!(trimmed.microphone, None);
    }

    #[test]
    fn the_range_ends_are_taken() {
        let ok = StationSettings::default();
        for edge in [
            StationSettings {
                face_match_threshold: FACE_MATCH_RANGE.0,
                voice_min_speech_seconds: SPEECH_SECONDS_RANGE.1,
                voice_min_snr_db: SNR_DB_RANGE.0,
                ..ok.clone()
            },
            StationSettings {
                face_match_threshold: FACE_MATCH_RANGE.1,
                voice_min_speech_seconds: SPEECH_SECONDS_RANGE.0,
                voice_min_snr_db: SNR_DB_RANGE.1,
                ..ok.clone()
            },
        ] {
            assert_eq!(edge.checked().unwrap(), edge);
        }
    }

    #[test]
    fn a_trust_file_is_read_no_further_than_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("csca.der");
        std::fs::write(&file, [7u8; 10]).unwrap();
        assert_eq!(read_bounded(&file, 10).unwrap(), [7u8; 10]);
        let refused = read_bounded(&file, 9).unwrap_err();
        assert_eq!(refused.code, Code::TrustFileInvalid);
        assert!(refused.detail.contains("too large"), "{refused:?}");
        // A device that never ends is cut off at the limit, not read on.
        let endless = read_bounded(Path::new("/dev/zero"), 1 << 16).unwrap_err();
        assert!(endless.detail.contains("too large"), "{endless:?}");
    }

    #[test]
    fn the_platform_address_is_an_http_address() {
        assert_eq!(
            platform_url("https://hub.example/").unwrap(),
            "https://hub.example"
        );
        for bad in [
            "hub.example",
            "https://",
            "https:///x",
            "https://a b",
            "ftp://hub",
        ] {
            assert!(platform_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn thresholds_reach_the_analysers() {
        let s = StationSettings {
            face_match_threshold: 0.5,
            liveness_live_threshold: 0.9,
            liveness_spoof_threshold: 0.4,
            voice_min_snr_db: 20.0,
            ..StationSettings::default()
        };
        let face = s.face_config();
        assert_eq!(face.matching.threshold, 0.5);
        assert_eq!(face.liveness.live_threshold, 0.9);
        assert_eq!(face.liveness.spoof_threshold, 0.4);
        assert_eq!(s.voice_config().min_snr_db, 20.0);
    }
}
