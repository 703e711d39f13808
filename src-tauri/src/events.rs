//! What the core publishes on its own, forwarded to the window as Tauri
//! events: the platform link (`link-status`, a `LinkStatus`) and the
//! readers and cards (`reader-board`, a `ReaderBoard`). The background
//! work itself (the uplink, the reader monitor) lives in the core; this
//! only starts it and passes every change on.

use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager};
use tokio::sync::watch;

use crate::commands::AppState;

pub const LINK_STATUS: &str = "link-status";
pub const READER_BOARD: &str = "reader-board";

/// Starts the desk's background work and forwards its status for as long
/// as the app runs.
pub fn start(app: &AppHandle) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        let desk = &state.desk;
        let uplink = async {
            let policy = station::link::app_policy();
            if let Err(failure) = desk.run_uplink(policy, std::future::pending()).await {
                tracing::warn!("no uploads from this window: {failure}");
            }
        };
        tokio::join!(
            uplink,
            desk.watch_readers(),
            forward(&app, LINK_STATUS, desk.subscribe_link()),
            forward(&app, READER_BOARD, desk.subscribe_readers()),
        );
    });
}

/// Emits the current value and every change after it.
async fn forward<T: Serialize + Clone>(app: &AppHandle, event: &str, mut rx: watch::Receiver<T>) {
    loop {
        let value = rx.borrow_and_update().clone();
        if let Err(e) = app.emit(event, value) {
            tracing::debug!("{event} not delivered: {e}");
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}
