//! The clerk's desktop application.
//!
//! This shell only maps Tauri commands and events onto the station core:
//! every decision lives in the `station` crate, so the CLI and the window
//! always behave the same. It is the one crate that knows Tauri.
#![forbid(unsafe_code)]
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;
mod events;
mod window;

use std::path::PathBuf;
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    // Demo mode: the demo document in the vpcd reader and the demo camera
    // stand in for hardware (`--demo` or STATION_DEMO=1).
    let demo = std::env::args().any(|a| a == "--demo")
        || std::env::var("STATION_DEMO").is_ok_and(|v| v == "1");
    // One window per station: a later start hands over to it and ends.
    let instance = match station::instance::start(&paths) {
        Ok(station::instance::Start::First(instance)) => instance,
        Ok(station::instance::Start::HandedOver) => {
            eprintln!("the station's window is already open; it was brought to the front");
            return ExitCode::SUCCESS;
        }
        Err(failure) => {
            eprintln!("{failure}");
            return ExitCode::FAILURE;
        }
    };
    let desk = match tauri::async_runtime::block_on(station::desk::Desk::open(paths.clone(), demo))
    {
        Ok(desk) => desk,
        Err(failure) => {
            eprintln!("{failure}");
            return ExitCode::FAILURE;
        }
    };
    let app = tauri::Builder::default()
        .manage(commands::AppState { paths, desk })
        .setup(move |app| {
            events::start(app.handle());
            window::restore(app.handle());
            let handle = app.handle().clone();
            instance.serve(move || window::show_again(&handle))?;
            Ok(())
        })
        .manage(window::Placement::default())
        .manage(events::Background::default())
        .on_window_event(|window, event| match event {
            tauri::WindowEvent::Moved(_) | tauri::WindowEvent::Resized(_) => {
                window::track(window);
            }
            tauri::WindowEvent::CloseRequested { .. } | tauri::WindowEvent::Destroyed => {
                window::remember(window);
            }
            _ => {}
        })
        .invoke_handler(tauri::generate_handler![
            commands::device_status,
            commands::desk_state,
            commands::create_administrator,
            commands::sign_in,
            commands::sign_out,
            commands::add_user,
            commands::queue,
            commands::begin_enrollment,
            commands::cancel_enrollment,
            commands::check_mrz,
            commands::read_document,
            commands::capture_face,
            commands::voice_challenge,
            commands::capture_voice,
            commands::submit_enrollment,
            commands::review,
            commands::link_status,
            commands::reader_board,
            commands::cancel_step,
            commands::resubmit_packet,
            commands::audit_log,
            commands::settings,
            commands::save_settings,
            commands::import_trust_file,
            commands::voice_playback,
        ])
        .build(tauri::generate_context!());
    match app {
        Ok(app) => {
            app.run(|handle, event| {
                if let tauri::RunEvent::Exit = event {
                    events::stop(handle);
                }
            });
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("the window could not be opened: {e}");
            ExitCode::FAILURE
        }
    }
}
