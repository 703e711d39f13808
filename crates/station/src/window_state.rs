//! The app window's size, position and maximised state, kept between
//! runs in a small JSON file (`window-state.json` in the app's config
//! folder). A file that is unreadable, corrupt or describes an impossible
//! window is ignored with a warning: the window then opens at its default.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file's name in the config folder.
pub const FILE: &str = "window-state.json";

/// Sizes and positions in physical pixels, as the windowing system gives
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowState {
    pub width: u32,
    pub height: u32,
    pub x: i32,
    pub y: i32,
    pub maximized: bool,
}

/// The smallest window the screens are laid out for.
const MIN_SIDE: u32 = 320;
/// Larger than any screen (or several side by side).
const MAX_SIDE: u32 = 16_384;
/// A window placed further off than this is not on any screen.
const MAX_OFFSET: i32 = 32_768;

/// Why a saved state is not used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a window state: {message}")]
    Corrupt { path: PathBuf, message: String },
}

impl WindowState {
    /// Whether the window described fits on some screen.
    pub fn is_plausible(&self) -> bool {
        let side = MIN_SIDE..=MAX_SIDE;
        let offset = -MAX_OFFSET..=MAX_OFFSET;
        side.contains(&self.width)
            && side.contains(&self.height)
            && offset.contains(&self.x)
            && offset.contains(&self.y)
    }

    /// The state saved in `dir`: `Ok(None)` when none was saved.
    pub fn load(dir: &Path) -> Result<Option<Self>, StateError> {
        let path = dir.join(FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StateError::Read { path, source }),
        };
        let state: Self = serde_json::from_str(&text).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if !state.is_plausible() {
            return Err(StateError::Corrupt {
                path,
                message: format!("{state:?} fits no screen"),
            });
        }
        Ok(Some(state))
    }

    /// The saved state, or `None` (with a warning when a file was there
    /// but unusable).
    pub fn restore(dir: &Path) -> Option<Self> {
        Self::load(dir).unwrap_or_else(|e| {
            tracing::warn!("the window opens at its default size: {e}");
            None
        })
    }

    /// Saves the state in `dir` (created if missing), through a temporary
    /// file so a crash never leaves half a file.
    pub fn save(&self, dir: &Path) -> Result<(), StateError> {
        let path = dir.join(FILE);
        let failed = |source| StateError::Read {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(failed)?;
        let tmp = dir.join(format!("{FILE}.tmp"));
        let text = serde_json::to_string_pretty(self).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        })?;
        std::fs::write(&tmp, text).map_err(failed)?;
        std::fs::rename(&tmp, &path).map_err(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: WindowState = WindowState {
        width: 1100,
        height: 760,
        x: 40,
        y: -20,
        maximized: true,
    };

    #[test]
    fn a_saved_state_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(WindowState::load(dir.path()).unwrap(), None);
        STATE.save(&dir.path().join("new")).unwrap();
        assert_eq!(
            WindowState::load(&dir.path().join("new")).unwrap(),
            Some(STATE)
        );
    }

    #[test]
    fn corrupt_or_impossible_states_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        for text in [
            "{not json",
            r#"{"width": 800}"#,
            r#"{"width": 10, "height": 600, "x": 0, "y": 0, "maximized": false}"#,
            r#"{"width": 800, "height": 600, "x": 99999999, "y": 0, "maximized": false}"#,
            r#"{"width": 800, "height": 600, "x": 0, "y": 0, "maximized": false, "evil": 1}"#,
        ] {
            std::fs::write(dir.path().join(FILE), text).unwrap();
            assert!(
                matches!(
                    WindowState::load(dir.path()),
                    Err(StateError::Corrupt { .. })
                ),
                "{text}"
            );
            assert_eq!(WindowState::restore(dir.path()), None);
        }
    }
}
