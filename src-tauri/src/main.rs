//! The clerk's desktop application.
//!
//! This shell only maps Tauri commands and events onto the station core:
//! every decision lives in the `station` crate, so the CLI and the window
//! always behave the same. It is the one crate that knows Tauri.
#![forbid(unsafe_code)]
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    station::init_logging("warn,enrollment_station=info");
    // The same variables as the CLI's --data-dir/--models-dir, so several
    // stations (and tests) can run side by side.
    let env_path = |name: &str| std::env::var_os(name).map(PathBuf::from);
    let paths = match station::StationPaths::resolve(
        env_path("STATION_DATA_DIR"),
        env_path("STATION_MODELS_DIR"),
    ) {
        Ok(p) => p,
        Err(failure) => {
            eprintln!("{failure}");
            return ExitCode::FAILURE;
        }
    };
    let app = tauri::Builder::default()
        .manage(commands::AppState { paths })
        .invoke_handler(tauri::generate_handler![commands::device_status])
        .run(tauri::generate_context!());
    match app {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("the window could not be opened: {e}");
            ExitCode::FAILURE
        }
    }
}
