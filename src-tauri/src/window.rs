//! The window between runs and across starts: its size, position and
//! maximised state restored at start and saved on close
//! (`station::window_state`), and a later start of the app bringing this
//! window to the front (`station::instance`). The decisions are the
//! core's; this applies them to the Tauri window.

use std::path::PathBuf;
use std::sync::Mutex;

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

/// Where the main window is, as last seen, and how many moves were seen:
/// kept up to date as it moves, and saved once it has stayed still a
/// moment, so a window closed from outside (or an app killed) still
/// comes back where it was.
#[derive(Debug, Default)]
pub struct Placement(Mutex<(Option<WindowState>, u64)>);

/// How long the window stays still before its place is saved.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(500);

fn placement<R: Runtime>(window: &Window<R>) -> Option<WindowState> {
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
        Ok(state) if state.is_plausible() => Some(state),
        Ok(state) => {
            tracing::debug!("ignored, fits no screen: {state:?}");
            None
        }
        Err(e) => {
            tracing::debug!("the window's place could not be read: {e}");
            None
        }
    }
}

/// Notes where the main window is now (it moved, was resized or
/// maximised), and saves it once it stays there.
pub fn track<R: Runtime>(window: &Window<R>) {
    if window.label() != MAIN {
        return;
    }
    let Some(state) = placement(window) else {
        return;
    };
    let generation = {
        let seen = window.state::<Placement>();
        let Ok(mut last) = seen.0.lock() else {
            return;
        };
        if last.0 == Some(state) {
            return;
        }
        last.0 = Some(state);
        last.1 += 1;
        last.1
    };
    let window = window.clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(SETTLE).await;
        let still = window
            .state::<Placement>()
            .0
            .lock()
            .is_ok_and(|last| last.1 == generation);
        if still {
            save(&window, state);
        }
    });
}

fn save<R: Runtime>(window: &Window<R>, state: WindowState) {
    let Some(dir) = config_dir(window.app_handle()) else {
        return;
    };
    tracing::debug!(?state, "window state saved");
    if let Err(e) = state.save(&dir) {
        tracing::warn!("the window state was not saved: {e}");
    }
}

/// Saves where the main window is as it closes.
pub fn remember<R: Runtime>(window: &Window<R>) {
    if window.label() != MAIN {
        return;
    }
    let last =
        placement(window).or_else(|| window.state::<Placement>().0.lock().ok().and_then(|s| s.0));
    if let Some(state) = last {
        save(window, state);
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
