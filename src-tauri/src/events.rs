//! What the core publishes on its own, forwarded to the window as Tauri
//! events: the platform link (`link-status`, a `LinkStatus`) and the
//! readers and cards (`reader-board`, a `ReaderBoard`). The background
//! work itself (the uplink, the reader monitor) lives in the core; this
//! only starts it and passes every change on.

use std::time::Duration;

use serde::Serialize;
use tauri::async_runtime::JoinHandle;
use tauri::{AppHandle, Emitter, Manager};
use tokio::sync::watch;

use crate::commands::AppState;

pub const LINK_STATUS: &str = "link-status";
pub const READER_BOARD: &str = "reader-board";

/// How long quitting waits for a packet under way to finish.
const EXIT_WAIT: Duration = Duration::from_secs(15);

/// The uplink's task, awaited at exit so a packet under way is finished
/// rather than cut off.
#[derive(Default)]
pub struct Background(std::sync::Mutex<Option<JoinHandle<()>>>);

impl Background {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<JoinHandle<()>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Starts the desk's background work and forwards its status for as long
/// as the app runs.
pub fn start(app: &AppHandle) {
    let uplink = {
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            let state = app.state::<AppState>();
            state.desk.run_uplink(station::link::app_policy()).await;
        })
    };
    *app.state::<Background>().slot() = Some(uplink);
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        let desk = &state.desk;
        tokio::join!(
            desk.watch_readers(),
            forward(&app, LINK_STATUS, desk.subscribe_link()),
            forward(&app, READER_BOARD, desk.subscribe_readers()),
        );
    });
}

/// The app is quitting: the desk ends its background work and signs out
/// (audited), and the uplink is given a little time to finish the packet
/// under way.
pub fn stop(app: &AppHandle) {
    let state = app.state::<AppState>();
    let uplink = app.state::<Background>().slot().take();
    tauri::async_runtime::block_on(async {
        state.desk.shut_down().await;
        if let Some(task) = uplink
            && tokio::time::timeout(EXIT_WAIT, task).await.is_err()
        {
            tracing::warn!("an upload was still under way at exit; it is sent again next time");
        }
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
