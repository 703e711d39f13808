//! Enumeration of cameras through nokhwa.

use serde::Serialize;

use crate::CameraError;

/// One camera as the operating system names it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CameraDevice {
    pub index: String,
    pub name: String,
    pub description: String,
}

/// Every camera attached. None is an empty list, not an error: counters run
/// with file sources when no camera exists.
pub fn list_cameras() -> Result<Vec<CameraDevice>, CameraError> {
    match nokhwa::query(nokhwa::utils::ApiBackend::Auto) {
        Ok(list) => Ok(list
            .into_iter()
            .map(|info| CameraDevice {
                index: info.index().to_string(),
                name: info.human_name(),
                description: info.description().to_owned(),
            })
            .collect()),
        Err(e) => Err(CameraError::Enumeration(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enumeration_matches_the_video_devices_present() {
        let cameras = list_cameras().unwrap();
        let video_nodes = std::fs::read_dir("/dev")
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().starts_with("video"))
                    .count()
            })
            .unwrap_or(0);
        if video_nodes == 0 {
            assert!(cameras.is_empty(), "{cameras:?}");
        } else {
            assert!(cameras.len() <= video_nodes);
        }
    }
}
