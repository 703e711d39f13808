//! The window between runs and across starts: its size, position and
//! maximised state restored at start and saved on close
//! (`station::window_state`), and a later start of the app bringing this
//! window to the front (`station::instance`). The decisions are the
//! core's; this applies them to the Tauri window.

use std::path::PathBuf;

use station::window_state::WindowState;
use tauri::{AppHandle, Emitter, Manager, PhysicalPosition, PhysicalSize, Runtime, Window};

/// The window every screen lives in (`tauri.conf.json`).
const MAIN: &str = "main";
/// Sent to the window each time a later start handed over to it.
pub const SHOWN_AGAIN: &str = "shown-again";

fn config_dir<R: Runtime>(app: &AppHandle<R>) -> Option<PathBuf> {
    app.path()
        .app_config_dir()
        .inspect_err(|e| tracing::warn!("no config folder for the window state: {e}"))
        .ok()
}

/// Puts the main window where it was when the app last closed.
pub fn restore<R: Runtime>(app: &AppHandle<R>) {
    let (Some(dir), Some(window)) = (config_dir(app), app.get_webview_window(MAIN)) else {
        return;
    };
    let Some(state) = WindowState::restore(&dir) else {
        return;
    };
    let placed = window
        .set_size(PhysicalSize::new(state.width, state.height))
        .and_then(|()| window.set_position(PhysicalPosition::new(state.x, state.y)))
        .and_then(|()| {
            if state.maximized {
                window.maximize()
            } else {
                Ok(())
            }
        });
    if let Err(e) = placed {
        tracing::warn!("the window state could not be applied: {e}");
    }
}

/// Saves the window's size, position and maximised state.
pub fn remember<R: Runtime>(window: &Window<R>) {
    if window.label() != MAIN {
        return;
    }
    let Some(dir) = config_dir(window.app_handle()) else {
        return;
    };
    let state = (|| {
        let size = window.outer_size()?;
        let position = window.outer_position()?;
        Ok::<_, tauri::Error>(WindowState {
            width: size.width,
            height: size.height,
            x: position.x,
            y: position.y,
            maximized: window.is_maximized()?,
        })
    })();
    match state {
        Ok(state) if state.is_plausible() => {
            if let Err(e) = state.save(&dir) {
                tracing::warn!("the window state was not saved: {e}");
            }
        }
        Ok(state) => tracing::warn!("not saved, fits no screen: {state:?}"),
        Err(e) => tracing::warn!("the window state could not be read: {e}"),
    }
}

/// Brings the main window to the front: another start asked for it.
pub fn show_again<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window(MAIN) {
        let shown = window
            .unminimize()
            .and_then(|()| window.show())
            .and_then(|()| window.set_focus());
        if let Err(e) = shown {
            tracing::warn!("the window could not be brought to the front: {e}");
        }
    }
    if let Err(e) = app.emit(SHOWN_AGAIN, ()) {
        tracing::debug!("{SHOWN_AGAIN} not delivered: {e}");
    }
}
