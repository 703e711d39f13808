//! Where a station keeps its data and finds its models.

use std::path::{Path, PathBuf};

use crate::failure::{Code, Failure};

/// The folders one station works in. Several stations can run side by side
/// on one machine, each with its own data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationPaths {
    /// Database, keys and configuration.
    pub data_dir: PathBuf,
    /// ONNX models and their `models.toml`.
    pub models_dir: PathBuf,
}

impl StationPaths {
    /// Resolves the folders: explicit choices first, then the OS defaults.
    pub fn resolve(
        data_dir: Option<PathBuf>,
        models_dir: Option<PathBuf>,
    ) -> Result<Self, Failure> {
        let data_dir = match data_dir {
            Some(d) => d,
            None => directories::ProjectDirs::from("", "", "enrollment-station")
                .map(|p| p.data_dir().to_owned())
                .ok_or_else(|| Failure::new(Code::DataDirUnavailable, "no home directory"))?,
        };
        let models_dir = models_dir.unwrap_or_else(default_models_dir);
        Ok(Self {
            data_dir,
            models_dir,
        })
    }

    /// Creates the data directory, owner-only, if it does not exist.
    pub fn ensure_data_dir(&self) -> Result<(), Failure> {
        let fail = |e: std::io::Error| {
            Failure::new(
                Code::DataDirUnavailable,
                format!("{}: {e}", self.data_dir.display()),
            )
        };
        std::fs::create_dir_all(&self.data_dir).map_err(fail)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.data_dir, std::fs::Permissions::from_mode(0o700))
                .map_err(fail)?;
        }
        Ok(())
    }

    pub fn database(&self) -> PathBuf {
        self.data_dir.join(store::DATABASE_FILE)
    }
}

/// The models shipped with the station: beside the executable when installed
/// (`models/` or `../share/enrollment-station/models/`), else the source tree's.
pub fn default_models_dir() -> PathBuf {
    let catalog = biometrics::models::CATALOG_FILE;
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        for candidate in [
            dir.join("models"),
            dir.join("../share/enrollment-station/models"),
        ] {
            if candidate.join(catalog).exists() {
                return candidate;
            }
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

/// The demo material (`testdata/`: the demo document, face images) shipped
/// with the station: beside the executable when installed, else the
/// source tree's.
pub fn demo_data_dir() -> PathBuf {
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        for candidate in [
            dir.join("testdata"),
            dir.join("../share/enrollment-station/testdata"),
        ] {
            if candidate.join("documents/demo").is_dir() {
                return candidate;
            }
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}
