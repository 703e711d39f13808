//! The failure catalogue: stable codes with a cause and a remedy in Chinese
//! and English (texts in `failures.toml`), and the error object every
//! `station --json` command prints.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Every failure the station can report. The string form is the stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Code {
    PcscUnavailable,
    NoReader,
    NoCamera,
    CameraUnavailable,
    NoMicrophone,
    AudioUnavailable,
    ModelsInvalid,
    DatabaseUnavailable,
    PlatformNotConfigured,
    PlatformUnreachable,
    DataDirUnavailable,
    InvalidArgument,
    Internal,
    ReaderNotFound,
    NoCard,
    CardRemoved,
    CardBusy,
    WrongAccessKey,
    UnsupportedDocument,
    ChipError,
    TrustStoreUnreadable,
    DocumentFilesUnreadable,
    VirtualReaderUnavailable,
    PortraitUnreadable,
    OutputUnwritable,
    MicrophoneBusy,
    MicrophoneLost,
    RecordingUnreadable,
    StationKeyUnreadable,
    PlatformKeyInvalid,
    InvalidCredentials,
    AccountLocked,
    AccountDisabled,
    NotPermitted,
    SelfApproval,
    AlreadyInitialised,
    UsernameUnavailable,
    PasswordTooWeak,
    PasswordMissing,
    EnrollmentFrozen,
    DocumentNotGenuine,
    FaceImagesUnreadable,
    FaceNotCaptured,
    LivenessFailed,
    FaceMismatch,
    VoiceRejected,
    PacketNotFound,
    NotRegistered,
    AlreadyRegistered,
    RegistrationRefused,
    PlatformUnavailable,
    PlatformProtocol,
    ReceiptInvalid,
    PacketRejected,
    PacketNotResubmittable,
    TlsIdentityInvalid,
    SyncAlreadyRunning,
    HeadTurnFailed,
    Cancelled,
    SettingInvalid,
    TrustFileInvalid,
}

impl Code {
    pub const ALL: [Code; 61] = [
        Code::PcscUnavailable,
        Code::NoReader,
        Code::NoCamera,
        Code::CameraUnavailable,
        Code::NoMicrophone,
        Code::AudioUnavailable,
        Code::ModelsInvalid,
        Code::DatabaseUnavailable,
        Code::PlatformNotConfigured,
        Code::PlatformUnreachable,
        Code::DataDirUnavailable,
        Code::InvalidArgument,
        Code::Internal,
        Code::ReaderNotFound,
        Code::NoCard,
        Code::CardRemoved,
        Code::CardBusy,
        Code::WrongAccessKey,
        Code::UnsupportedDocument,
        Code::ChipError,
        Code::TrustStoreUnreadable,
        Code::DocumentFilesUnreadable,
        Code::VirtualReaderUnavailable,
        Code::PortraitUnreadable,
        Code::OutputUnwritable,
        Code::MicrophoneBusy,
        Code::MicrophoneLost,
        Code::RecordingUnreadable,
        Code::StationKeyUnreadable,
        Code::PlatformKeyInvalid,
        Code::InvalidCredentials,
        Code::AccountLocked,
        Code::AccountDisabled,
        Code::NotPermitted,
        Code::SelfApproval,
        Code::AlreadyInitialised,
        Code::UsernameUnavailable,
        Code::PasswordTooWeak,
        Code::PasswordMissing,
        Code::EnrollmentFrozen,
        Code::DocumentNotGenuine,
        Code::FaceImagesUnreadable,
        Code::FaceNotCaptured,
        Code::LivenessFailed,
        Code::FaceMismatch,
        Code::VoiceRejected,
        Code::PacketNotFound,
        Code::NotRegistered,
        Code::AlreadyRegistered,
        Code::RegistrationRefused,
        Code::PlatformUnavailable,
        Code::PlatformProtocol,
        Code::ReceiptInvalid,
        Code::PacketRejected,
        Code::PacketNotResubmittable,
        Code::TlsIdentityInvalid,
        Code::SyncAlreadyRunning,
        Code::HeadTurnFailed,
        Code::Cancelled,
        Code::SettingInvalid,
        Code::TrustFileInvalid,
    ];

    /// The stable code, e.g. `NO_READER`.
    pub fn as_str(self) -> String {
        crate::wire_name(&self)
    }

    pub fn texts(self, lang: Lang) -> Texts {
        catalogue()
            .get(&self.as_str())
            .map(|entry| match lang {
                Lang::En => entry.en.clone(),
                Lang::Zh => entry.zh.clone(),
            })
            .unwrap_or_else(|| Texts {
                cause: self.as_str(),
                remedy: String::new(),
            })
    }
}

/// The languages of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    En,
    Zh,
}

/// A cause and its remedy in one language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Texts {
    pub cause: String,
    pub remedy: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Entry {
    en: Texts,
    zh: Texts,
}

fn catalogue() -> &'static BTreeMap<String, Entry> {
    static CATALOGUE: OnceLock<BTreeMap<String, Entry>> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        // Checked complete by the tests below; an empty map only degrades texts.
        toml::from_str(include_str!("failures.toml")).unwrap_or_default()
    })
}

/// A failure as commands report it: the code, what went wrong (cause plus
/// the technical detail), and what to do, in English and Chinese.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Failure {
    pub code: Code,
    pub message: String,
    pub remedy: String,
    /// Boxed so `Result<_, Failure>` stays small on the happy path.
    pub zh: Box<Texts>,
    /// The technical detail alone, for logs and support.
    pub detail: String,
}

impl Failure {
    pub fn new(code: Code, detail: impl std::fmt::Display) -> Self {
        let en = code.texts(Lang::En);
        let detail = detail.to_string();
        let message = if detail.is_empty() {
            en.cause
        } else {
            format!("{} ({detail})", en.cause)
        };
        Self {
            code,
            message,
            remedy: en.remedy,
            zh: Box::new(code.texts(Lang::Zh)),
            detail,
        }
    }

    /// `{"error": {...}}`, the object a failed `--json` command prints.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "error": self })
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} — {}",
            self.code.as_str(),
            self.message,
            self.remedy
        )
    }
}

impl std::error::Error for Failure {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_both_languages_and_nothing_else_is_listed() {
        let parsed: BTreeMap<String, Entry> =
            toml::from_str(include_str!("failures.toml")).unwrap();
        assert_eq!(parsed.len(), Code::ALL.len());
        for code in Code::ALL {
            let entry = parsed
                .get(&code.as_str())
                .unwrap_or_else(|| panic!("{code:?}"));
            for t in [&entry.en, &entry.zh] {
                assert!(!t.cause.is_empty() && !t.remedy.is_empty(), "{code:?}");
            }
            assert!(
                entry
                    .zh
                    .cause
                    .chars()
                    .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
            );
        }
    }

    #[test]
    fn failure_json_has_the_contract_fields() {
        let f = Failure::new(Code::NoReader, "0 readers");
        let json = f.to_json();
        assert_eq!(json["error"]["code"], "NO_READER");
        assert_eq!(
            json["error"]["message"],
            "No card reader is connected. (0 readers)"
        );
        assert_eq!(
            json["error"]["remedy"],
            "Plug in the card reader and wait a few seconds."
        );
        assert_eq!(json["error"]["zh"]["cause"], "未连接读卡器。");
    }
}
