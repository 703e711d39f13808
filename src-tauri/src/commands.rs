//! Tauri commands: one per station-core operation, no logic of their own.

use station::{DoctorOptions, DoctorReport, Failure, StationPaths};

/// What every command may reach.
#[derive(Debug)]
pub struct AppState {
    pub paths: StationPaths,
}

/// The home screen's device status: `station doctor` for the window.
#[tauri::command]
pub async fn device_status(state: tauri::State<'_, AppState>) -> Result<DoctorReport, Failure> {
    Ok(station::doctor::run(&state.paths, &DoctorOptions::default()).await)
}
