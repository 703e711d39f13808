//! The model catalogue: which ONNX file plays which role, and proof that the
//! file on disk is the one that was verified.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// The file name of a catalogue inside a models directory.
pub const CATALOG_FILE: &str = "models.toml";

#[derive(Debug, Error)]
pub enum ModelError {
    #[error("cannot read the model catalogue {path}: {source}")]
    CatalogUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the model catalogue {path} is not valid: {message}")]
    CatalogInvalid { path: PathBuf, message: String },
    #[error("no model with role `{0}` in the catalogue")]
    UnknownRole(String),
    #[error("model file {path} is missing or unreadable: {source}")]
    FileUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("model file {path} has sha256 {actual}, the catalogue expects {expected}")]
    HashMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
}

/// One model as the catalogue describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// What the station uses it for, e.g. `face_detector`.
    pub role: String,
    /// File name relative to the catalogue's directory.
    pub file: String,
    /// Lower-case hex sha256 of the file.
    pub sha256: String,
    pub version: String,
    pub source: String,
    pub license: String,
    pub license_file: String,
    pub input: String,
    pub output: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    model: Vec<ModelEntry>,
}

/// The result of checking one model file against the catalogue.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelStatus {
    pub role: String,
    pub file: String,
    pub version: String,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub bytes: u64,
    /// Whether the file exists and its sha256 matches.
    pub verified: bool,
    /// Why it is not verified.
    pub problem: Option<String>,
}

/// A directory of models and its `models.toml`.
#[derive(Debug, Clone)]
pub struct ModelCatalog {
    dir: PathBuf,
    entries: Vec<ModelEntry>,
}

impl ModelCatalog {
    /// Reads `dir/models.toml`. Roles must be unique and hashes well formed.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, ModelError> {
        let dir = dir.into();
        let path = dir.join(CATALOG_FILE);
        let text =
            std::fs::read_to_string(&path).map_err(|source| ModelError::CatalogUnreadable {
                path: path.clone(),
                source,
            })?;
        let invalid = |message: String| ModelError::CatalogInvalid {
            path: path.clone(),
            message,
        };
        let file: CatalogFile = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let mut roles = std::collections::HashSet::new();
        for m in &file.model {
            if !roles.insert(m.role.as_str()) {
                return Err(invalid(format!("role `{}` appears twice", m.role)));
            }
            if m.sha256.len() != 64 || !m.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(format!(
                    "sha256 of `{}` is not 64 hex digits",
                    m.role
                )));
            }
            if Path::new(&m.file).components().count() != 1 {
                return Err(invalid(format!(
                    "file of `{}` must be a bare file name",
                    m.role
                )));
            }
        }
        Ok(Self {
            dir,
            entries: file.model,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn entries(&self) -> &[ModelEntry] {
        &self.entries
    }

    pub fn entry(&self, role: &str) -> Result<&ModelEntry, ModelError> {
        self.entries
            .iter()
            .find(|m| m.role == role)
            .ok_or_else(|| ModelError::UnknownRole(role.to_owned()))
    }

    /// Reads the model for `role` and returns its bytes only if the sha256
    /// matches: nothing unverified ever reaches an inference engine.
    pub fn load_verified(&self, role: &str) -> Result<Vec<u8>, ModelError> {
        let entry = self.entry(role)?;
        let path = self.dir.join(&entry.file);
        let bytes = std::fs::read(&path).map_err(|source| ModelError::FileUnreadable {
            path: path.clone(),
            source,
        })?;
        let actual = hex::encode(Sha256::digest(&bytes));
        if !actual.eq_ignore_ascii_case(&entry.sha256) {
            return Err(ModelError::HashMismatch {
                path,
                expected: entry.sha256.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Checks every file of the catalogue without keeping it in memory.
    pub fn verify_all(&self) -> Vec<ModelStatus> {
        self.entries
            .iter()
            .map(|entry| {
                let path = self.dir.join(&entry.file);
                let (bytes, problem) = match hash_file(&path) {
                    Ok((bytes, actual)) if actual.eq_ignore_ascii_case(&entry.sha256) => {
                        (bytes, None)
                    }
                    Ok((bytes, actual)) => (
                        bytes,
                        Some(format!("sha256 {actual} does not match the catalogue")),
                    ),
                    Err(e) => (0, Some(format!("cannot read {}: {e}", path.display()))),
                };
                ModelStatus {
                    role: entry.role.clone(),
                    file: entry.file.clone(),
                    version: entry.version.clone(),
                    bytes,
                    verified: problem.is_none(),
                    problem,
                }
            })
            .collect()
    }
}

fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((total, hex::encode(hasher.finalize())))
}

/// The models directory shipped with the project, for tests and development.
pub fn bundled_models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_catalogue_verifies() {
        let catalog = ModelCatalog::open(bundled_models_dir()).unwrap();
        let statuses = catalog.verify_all();
        assert_eq!(statuses.len(), 6);
        for s in &statuses {
            assert!(s.verified, "{s:?}");
            assert!(s.bytes > 100_000, "{s:?}");
        }
        let detector = catalog.load_verified("face_detector").unwrap();
        assert_eq!(detector.len(), 237_823);
        for role in [
            "face_detector",
            "liveness_v2",
            "liveness_v1se",
            "face_embedding",
            "voice_activity",
            "speaker_embedding",
        ] {
            let entry = catalog.entry(role).unwrap();
            assert!(
                catalog.dir().join(&entry.license_file).exists(),
                "license of {role}"
            );
        }
    }

    fn catalog_with(dir: &Path, file_bytes: &[u8], sha: &str) -> ModelCatalog {
        std::fs::write(dir.join("m.onnx"), file_bytes).unwrap();
        std::fs::write(
            dir.join(CATALOG_FILE),
            format!(
                "[[model]]\nrole = \"r\"\nfile = \"m.onnx\"\nsha256 = \"{sha}\"\nversion = \"1\"\n\
                 source = \"s\"\nlicense = \"MIT\"\nlicense_file = \"L\"\ninput = \"i\"\noutput = \"o\"\n"
            ),
        )
        .unwrap();
        ModelCatalog::open(dir).unwrap()
    }

    #[test]
    fn tampered_model_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let good = hex::encode(Sha256::digest(b"model"));
        let catalog = catalog_with(dir.path(), b"model", &good);
        assert_eq!(catalog.load_verified("r").unwrap(), b"model");
        std::fs::write(dir.path().join("m.onnx"), b"mode1").unwrap();
        let err = catalog.load_verified("r").unwrap_err();
        assert!(matches!(err, ModelError::HashMismatch { .. }), "{err}");
        let status = &catalog.verify_all()[0];
        assert!(!status.verified);
        assert!(
            status
                .problem
                .as_deref()
                .unwrap()
                .contains("does not match")
        );
        std::fs::remove_file(dir.path().join("m.onnx")).unwrap();
        assert!(matches!(
            catalog.load_verified("r").unwrap_err(),
            ModelError::FileUnreadable { .. }
        ));
        assert!(matches!(
            catalog.load_verified("nope").unwrap_err(),
            ModelError::UnknownRole(_)
        ));
    }

    #[test]
    fn malformed_catalogues_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for bad in [
            "not toml at all [[[",
            "[[model]]\nrole = \"r\"\n",
            "[[model]]\nrole = \"r\"\nfile = \"../x\"\nsha256 = \"00\"\nversion = \"1\"\nsource = \"s\"\nlicense = \"MIT\"\nlicense_file = \"L\"\ninput = \"i\"\noutput = \"o\"\n",
        ] {
            std::fs::write(dir.path().join(CATALOG_FILE), bad).unwrap();
            assert!(matches!(
                ModelCatalog::open(dir.path()).unwrap_err(),
                ModelError::CatalogInvalid { .. }
            ));
        }
    }
}
