//! Tauri commands: one per station-core call, no logic of their own. Long
//! work (chip read, face analysis, recording, sealing) runs off the async
//! threads inside the core; its progress comes back over the channel the
//! window passes in.

use station::audit_view::{AuditQuery, AuditView};
use station::card::read::ChipProgress;
use station::desk::{
    AccessInput, DeskState, MrzCheck, MrzFields, NewStaffRole, ReviewDecision, ReviewOutcome,
    StaffMember,
};
use station::enroll::{ChallengeText, DocumentReport, FaceProgress, FaceReport, VoiceReport};
use station::queue::{PacketRow, QueueView};
use station::settings::{SettingsChange, SettingsView};
use station::{DoctorOptions, DoctorReport, Failure, StationPaths};
use tauri::State;
use tauri::ipc::{Channel, InvokeResponseBody, Response};
use zeroize::Zeroizing;

/// What every command may reach.
#[derive(Debug)]
pub struct AppState {
    pub paths: StationPaths,
    pub desk: station::desk::Desk,
}

type Answer<T> = Result<T, Failure>;

/// Sends to the window; a window that went away just stops listening.
fn sender<T: serde::Serialize + Clone + Send + 'static>(
    channel: Channel<T>,
) -> impl FnMut(T) + Send + 'static {
    move |message| {
        if let Err(e) = channel.send(message) {
            tracing::debug!("progress not delivered: {e}");
        }
    }
}

/// The home screen's device status: `station doctor` for the window.
#[tauri::command]
pub async fn device_status(state: State<'_, AppState>) -> Answer<DoctorReport> {
    Ok(station::doctor::run(&state.paths, &DoctorOptions::default()).await)
}

/// The platform link now; changes arrive as `link-status` events.
#[tauri::command]
pub fn link_status(state: State<'_, AppState>) -> station::link::LinkStatus {
    state.desk.link_status()
}

/// The readers now; changes arrive as `reader-board` events.
#[tauri::command]
pub fn reader_board(state: State<'_, AppState>) -> station::card::watch::ReaderBoard {
    state.desk.reader_board()
}

#[tauri::command]
pub async fn desk_state(state: State<'_, AppState>) -> Answer<DeskState> {
    state.desk.state().await
}

#[tauri::command]
pub async fn create_administrator(
    state: State<'_, AppState>,
    name: String,
    password: String,
) -> Answer<StaffMember> {
    state
        .desk
        .create_administrator(&name, Zeroizing::new(password))
        .await
}

#[tauri::command]
pub async fn sign_in(
    state: State<'_, AppState>,
    name: String,
    password: String,
) -> Answer<StaffMember> {
    state.desk.sign_in(&name, Zeroizing::new(password)).await
}

#[tauri::command]
pub async fn sign_out(state: State<'_, AppState>) -> Answer<()> {
    state.desk.sign_out().await
}

#[tauri::command]
pub async fn add_user(
    state: State<'_, AppState>,
    name: String,
    password: String,
    role: NewStaffRole,
) -> Answer<StaffMember> {
    state
        .desk
        .add_user(&name, Zeroizing::new(password), role)
        .await
}

#[tauri::command]
pub async fn queue(state: State<'_, AppState>) -> Answer<QueueView> {
    state.desk.queue().await
}

#[tauri::command]
pub async fn begin_enrollment(state: State<'_, AppState>) -> Answer<()> {
    state.desk.begin().await
}

#[tauri::command]
pub async fn cancel_enrollment(state: State<'_, AppState>) -> Answer<()> {
    state.desk.cancel().await;
    Ok(())
}

#[tauri::command]
pub fn check_mrz(fields: MrzFields) -> MrzCheck {
    station::desk::check_mrz(&fields)
}

#[tauri::command]
pub async fn read_document(
    state: State<'_, AppState>,
    access: AccessInput,
    on_progress: Channel<ChipProgress>,
) -> Answer<DocumentReport> {
    state.desk.read_document(access, sender(on_progress)).await
}

#[tauri::command]
pub async fn capture_face(
    state: State<'_, AppState>,
    folder: Option<String>,
    on_progress: Channel<FaceProgress>,
    on_frame: Channel<InvokeResponseBody>,
) -> Answer<FaceReport> {
    // Preview frames travel as bytes (an ArrayBuffer in the window), not
    // as JSON or base64: the capture time, then the JPEG.
    let frames = move |image: station::enroll::PreviewImage| {
        if let Err(e) = on_frame.send(InvokeResponseBody::Raw(image.into_message())) {
            tracing::debug!("preview frame not delivered: {e}");
        }
    };
    state
        .desk
        .capture_face(folder, sender(on_progress), frames)
        .await
}

#[tauri::command]
pub async fn voice_challenge(state: State<'_, AppState>) -> Answer<ChallengeText> {
    state.desk.voice_challenge().await
}

#[tauri::command]
pub async fn capture_voice(
    state: State<'_, AppState>,
    on_level: Channel<microphone::Level>,
) -> Answer<VoiceReport> {
    state.desk.capture_voice(sender(on_level)).await
}

#[tauri::command]
pub async fn submit_enrollment(state: State<'_, AppState>) -> Answer<()> {
    state.desk.submit().await
}

#[tauri::command]
pub async fn review(
    state: State<'_, AppState>,
    supervisor: String,
    password: String,
    decision: ReviewDecision,
) -> Answer<ReviewOutcome> {
    state
        .desk
        .review(&supervisor, Zeroizing::new(password), decision)
        .await
}

#[tauri::command]
pub fn cancel_step(state: State<'_, AppState>) -> bool {
    state.desk.cancel_step()
}

#[tauri::command]
pub async fn resubmit_packet(
    state: State<'_, AppState>,
    packet: String,
    user: String,
    password: String,
) -> Answer<PacketRow> {
    state
        .desk
        .resubmit(&packet, &user, Zeroizing::new(password))
        .await
}

#[tauri::command]
pub async fn audit_log(state: State<'_, AppState>, query: AuditQuery) -> Answer<AuditView> {
    state.desk.audit(query).await
}

#[tauri::command]
pub async fn settings(state: State<'_, AppState>) -> Answer<SettingsView> {
    state.desk.settings().await
}

#[tauri::command]
pub async fn save_settings(
    state: State<'_, AppState>,
    change: SettingsChange,
) -> Answer<SettingsView> {
    state.desk.save_settings(change).await
}

#[tauri::command]
pub async fn import_trust_file(state: State<'_, AppState>, path: String) -> Answer<SettingsView> {
    state.desk.import_trust_file(&path).await
}

/// The recorded voice as WAV bytes (an ArrayBuffer in the window, played
/// from a blob URL): never a file.
#[tauri::command]
pub async fn voice_playback(state: State<'_, AppState>) -> Answer<Response> {
    state.desk.voice_playback().await.map(Response::new)
}
