//! The files a virtual chip serves, and the secrets that go with them (CAN,
//! Active and Chip Authentication keys), as a directory holds them.
//!
//! A profile directory has the LDS files (`COM`, `DG1`…`DG16`, `SOD`,
//! `CardAccess`) and optionally `profile.toml`:
//!
//! ```toml
//! bac = true                # answer BAC (default true)
//! can = "123456"            # card access number for PACE
//! [active_authentication]
//! key = "aa-key.der"        # PKCS#8, RSA or EC
//! hash = "SHA-256"          # ISO/IEC 9796-2 trailer or ECDSA hash
//! [chip_authentication]
//! key = "ca-key.der"        # PKCS#8 EC key
//! cipher = "AES-128"        # 3DES, AES-128, AES-192, AES-256
//! key_id = 1                # optional
//! ```

use crate::aa::AaKey;
use crate::access::Can;
use crate::ca::CaKey;
use crate::crypto::CipherAlgorithm;
use crate::keys::{HashAlgorithm, KeyError, PrivateKey};
use crate::lds::LdsFile;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use thiserror::Error;

/// Why a directory of LDS files could not be loaded.
#[derive(Debug, Error)]
pub enum ProfileError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0} holds no LDS files (COM, DG1..DG16, SOD, CardAccess)")]
    Empty(String),
    #[error("file {name} is {len} bytes; a chip file is at most {max}")]
    TooLarge {
        name: String,
        len: usize,
        max: usize,
    },
    #[error("{path} is not a valid profile: {message}")]
    Settings { path: String, message: String },
    #[error("key file {path} is unusable: {source}")]
    Key { path: String, source: KeyError },
}

/// The name of the settings file in a profile directory.
pub const SETTINGS_FILE: &str = "profile.toml";

/// `profile.toml`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bac: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can: Option<String>,
    /// The PACE variant EF.CardAccess offers, recorded for people; the chip
    /// takes it from EF.CardAccess.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pace: Option<PaceSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_authentication: Option<KeySettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chip_authentication: Option<KeySettings>,
}

impl std::fmt::Debug for ProfileSettings {
    // The CAN is a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileSettings")
            .field("bac", &self.bac)
            .field("pace", &self.pace)
            .field("active_authentication", &self.active_authentication)
            .field("chip_authentication", &self.chip_authentication)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaceSettings {
    pub curve: String,
    pub cipher: String,
}

/// A chip key file and how it is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySettings {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cipher: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<u32>,
}

/// `3DES`, `AES-128`, `AES-192`, `AES-256`.
pub fn cipher_name(cipher: CipherAlgorithm) -> &'static str {
    match cipher {
        CipherAlgorithm::Tdes => "3DES",
        CipherAlgorithm::Aes128 => "AES-128",
        CipherAlgorithm::Aes192 => "AES-192",
        CipherAlgorithm::Aes256 => "AES-256",
    }
}

pub fn cipher_from_name(name: &str) -> Option<CipherAlgorithm> {
    [
        CipherAlgorithm::Tdes,
        CipherAlgorithm::Aes128,
        CipherAlgorithm::Aes192,
        CipherAlgorithm::Aes256,
    ]
    .into_iter()
    .find(|c| cipher_name(*c).eq_ignore_ascii_case(name))
}

fn hash_from_name(name: &str) -> Option<HashAlgorithm> {
    HashAlgorithm::all()
        .into_iter()
        .find(|h| h.name().eq_ignore_ascii_case(name))
}

/// The secrets of a chip, beside its files.
#[derive(Clone, Default, PartialEq, Eq)]
struct Secrets {
    bac: Option<bool>,
    can: Option<Can>,
    active_authentication: Option<AaKey>,
    chip_authentication: Option<CaKey>,
}

/// Largest file the chip serves: READ BINARY offsets reach 2^24 with DO'54',
/// far beyond any eMRTD file.
pub const MAX_FILE_LEN: usize = 1 << 24;

/// The elementary files of one document, by file.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Profile {
    files: BTreeMap<LdsFile, Vec<u8>>,
    secrets: Secrets,
}

impl std::fmt::Debug for Profile {
    // File contents are personal data: list only names and sizes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.files.iter().map(|(k, v)| (k.name(), v.len())))
            .finish()
    }
}

impl Profile {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_file(mut self, file: LdsFile, bytes: Vec<u8>) -> Self {
        self.insert(file, bytes);
        self
    }

    pub fn insert(&mut self, file: LdsFile, bytes: Vec<u8>) {
        self.files.insert(file, bytes);
    }

    pub fn get(&self, file: LdsFile) -> Option<&[u8]> {
        self.files.get(&file).map(Vec::as_slice)
    }

    pub fn files(&self) -> impl Iterator<Item = (LdsFile, &[u8])> {
        self.files.iter().map(|(k, v)| (*k, v.as_slice()))
    }

    /// Whether the chip answers BAC (true unless turned off).
    pub fn bac(&self) -> bool {
        self.secrets.bac.unwrap_or(true)
    }

    pub fn can(&self) -> Option<&Can> {
        self.secrets.can.as_ref()
    }

    pub fn active_authentication(&self) -> Option<&AaKey> {
        self.secrets.active_authentication.as_ref()
    }

    pub fn chip_authentication(&self) -> Option<&CaKey> {
        self.secrets.chip_authentication.as_ref()
    }

    pub fn with_bac(mut self, bac: bool) -> Self {
        self.secrets.bac = Some(bac);
        self
    }

    pub fn with_can(mut self, can: Can) -> Self {
        self.secrets.can = Some(can);
        self
    }

    pub fn with_active_authentication(mut self, key: AaKey) -> Self {
        self.secrets.active_authentication = Some(key);
        self
    }

    pub fn with_chip_authentication(mut self, key: CaKey) -> Self {
        self.secrets.chip_authentication = Some(key);
        self
    }

    /// Reads `profile.toml` and the key files it names.
    fn load_settings(&mut self, dir: &Path) -> Result<(), ProfileError> {
        let path = dir.join(SETTINGS_FILE);
        if !path.is_file() {
            return Ok(());
        }
        let shown = path.display().to_string();
        let invalid = |message: String| ProfileError::Settings {
            path: shown.clone(),
            message,
        };
        // The file holds the CAN: wiped after parsing.
        let text = zeroize::Zeroizing::new(std::fs::read_to_string(&path).map_err(|source| {
            ProfileError::Io {
                path: shown.clone(),
                source,
            }
        })?);
        let mut settings: ProfileSettings =
            toml::from_str(text.as_str()).map_err(|e| invalid(e.message().to_owned()))?;
        self.secrets.bac = settings.bac;
        if let Some(can) = settings.can.take().map(zeroize::Zeroizing::new) {
            self.secrets.can = Some(Can::new(&can).map_err(|e| invalid(e.to_string()))?);
        }
        let load_key = |name: &str| -> Result<PrivateKey, ProfileError> {
            let key_path = dir.join(name);
            let shown = key_path.display().to_string();
            let der = zeroize::Zeroizing::new(std::fs::read(&key_path).map_err(|source| {
                ProfileError::Io {
                    path: shown.clone(),
                    source,
                }
            })?);
            PrivateKey::from_pkcs8_der(&der).map_err(|source| ProfileError::Key {
                path: shown,
                source,
            })
        };
        if let Some(aa) = &settings.active_authentication {
            let hash = match aa.hash.as_deref() {
                None => HashAlgorithm::Sha256,
                Some(name) => {
                    hash_from_name(name).ok_or_else(|| invalid(format!("unknown hash {name}")))?
                }
            };
            self.secrets.active_authentication = Some(AaKey {
                key: load_key(&aa.key)?,
                hash,
            });
        }
        if let Some(ca) = &settings.chip_authentication {
            let cipher = match ca.cipher.as_deref() {
                None => CipherAlgorithm::Aes128,
                Some(name) => cipher_from_name(name)
                    .ok_or_else(|| invalid(format!("unknown cipher {name}")))?,
            };
            let key = load_key(&ca.key)?;
            if !matches!(key, PrivateKey::Ec { .. }) {
                return Err(invalid(
                    "the chip authentication key must be an EC key".into(),
                ));
            }
            self.secrets.chip_authentication = Some(CaKey {
                key,
                cipher,
                key_id: ca.key_id,
            });
        }
        Ok(())
    }

    /// Loads files named `COM`, `DG1`…`DG16`, `SOD` and `CardAccess` (an
    /// optional `.bin` extension is accepted) from a directory, and the
    /// settings and keys of `profile.toml` when there is one.
    pub fn load_dir(dir: &Path) -> Result<Self, ProfileError> {
        let mut profile = Self::new();
        for file in LdsFile::all() {
            for candidate in [file.name(), format!("{}.bin", file.name())] {
                let path = dir.join(&candidate);
                if !path.is_file() {
                    continue;
                }
                let bytes = std::fs::read(&path).map_err(|source| ProfileError::Io {
                    path: path.display().to_string(),
                    source,
                })?;
                if bytes.len() > MAX_FILE_LEN {
                    return Err(ProfileError::TooLarge {
                        name: candidate,
                        len: bytes.len(),
                        max: MAX_FILE_LEN,
                    });
                }
                profile.insert(file, bytes);
                break;
            }
        }
        if profile.files.is_empty() {
            return Err(ProfileError::Empty(dir.display().to_string()));
        }
        profile.load_settings(dir)?;
        Ok(profile)
    }
}
