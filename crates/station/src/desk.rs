//! The counter's desk: what the desktop app keeps between the clerk's
//! clicks — the open store, the models, who is signed in and the
//! enrollment in progress — and one method per thing the window can ask.
//!
//! Every method is a thin sequence of the same station functions the CLI
//! uses (`accounts`, `enroll::Draft`, `queue`), so the app and `station
//! enroll` cannot drift. Long work runs off the async threads inside those
//! functions; progress goes to the callbacks given.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use store::{Role, Session, Store};
use tokio::sync::{Mutex, watch};
use ts_rs::TS;
use zeroize::Zeroizing;

use crate::accounts::{open_store, sign_in, store_failure};
use crate::audit_view::{AuditQuery, AuditView, ChainVerdicts, audit_view};
use crate::cancel::Cancellation;
use crate::card::read::{ChipProgress, parse_access_key};
use crate::card::watch::ReaderBoard;
use crate::enroll::{
    ChallengeText, ChipOrder, DEMO_CAN, DocumentReport, Draft, FaceProgress, FaceReport,
    FaceSource, Models, SealedReport, Sealing, VoiceReport, same_user, vpcd_reader,
};
use crate::failure::{Code, Failure};
use crate::identity;
use crate::link::{self, LinkStatus};
use crate::paths::{StationPaths, demo_data_dir};
use crate::queue::{PacketRow, QueueView, packet_id, queue_view, resubmit_as};
use crate::settings::{self, SettingsChange, SettingsView};
use crate::voice::VoiceSource;

/// How long the document step waits for a card on the reader.
const CARD_WAIT: Duration = Duration::from_secs(5);
/// Seconds the voice step records: time to read eight digits calmly.
const VOICE_SECONDS: f32 = 6.0;
/// Packets the queue screen lists.
const QUEUE_ROWS: u32 = 200;
/// Audit entries per page.
const AUDIT_ROWS: u32 = 50;

/// Who is signed in.
#[derive(Debug, Clone, Serialize, TS)]
pub struct StaffMember {
    pub name: String,
    pub role: Role,
}

impl From<&Session> for StaffMember {
    fn from(s: &Session) -> Self {
        Self {
            name: s.username().to_owned(),
            role: s.role(),
        }
    }
}

/// What the window needs to choose its first screen.
#[derive(Debug, Clone, Serialize, TS)]
pub struct DeskState {
    /// No user exists yet: the first administrator must be created.
    pub first_run: bool,
    /// The demo document, demo camera and virtual devices stand in for
    /// hardware.
    pub demo: bool,
    /// The demo document's card access number, in demo mode.
    pub demo_can: Option<String>,
    pub signed_in: Option<StaffMember>,
    /// An enrollment is in progress.
    pub enrolling: bool,
}

/// The roles an administrator can give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum NewStaffRole {
    Clerk,
    Supervisor,
}

/// How the clerk opens the chip: the MRZ's three fields or the CAN.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AccessInput {
    Mrz(MrzFields),
    Can { can: String },
}

/// The MRZ fields the chip's access key is made of, as typed, each with
/// the check digit printed after it.
#[derive(Debug, Clone, Default, Deserialize, TS)]
pub struct MrzFields {
    pub document_number: String,
    pub document_check: String,
    /// YYMMDD.
    pub date_of_birth: String,
    pub birth_check: String,
    /// YYMMDD.
    pub date_of_expiry: String,
    pub expiry_check: String,
}

/// How one typed MRZ field stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum FieldState {
    /// Nothing typed yet.
    Empty,
    /// Not a document number or date (wrong characters, length, month or day).
    BadFormat,
    /// The field is fine but its check digit is missing.
    CheckMissing,
    /// The check digit does not match the field: a typing mistake.
    BadCheckDigit,
    Valid,
}

/// The live check of the MRZ fields while the clerk types.
#[derive(Debug, Clone, Serialize, TS)]
pub struct MrzCheck {
    pub document_number: FieldState,
    pub date_of_birth: FieldState,
    pub date_of_expiry: FieldState,
    /// All three valid: the chip can be read.
    pub complete: bool,
}

/// The supervisor's decision.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum ReviewDecision {
    Approve,
    Reject { reason: String },
}

/// What the review did.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ReviewOutcome {
    /// The sealed packet, when approved.
    pub sealed: Option<SealedReport>,
}

/// The desktop app's state around the station core.
#[derive(Debug)]
pub struct Desk {
    paths: StationPaths,
    store: Store,
    demo: bool,
    /// Loaded on first use with the stored thresholds; dropped when an
    /// administrator changes them, so the next enrollment decides with
    /// the new ones.
    models: Mutex<Option<Arc<Models>>>,
    session: Mutex<Option<Session>>,
    draft: Mutex<Option<Draft>>,
    /// The platform link, while [`Desk::run_uplink`] runs.
    link: watch::Sender<LinkStatus>,
    /// The readers, while [`Desk::watch_readers`] runs.
    readers: Arc<watch::Sender<ReaderBoard>>,
    /// Set at close: background work ends.
    closing: Arc<AtomicBool>,
    /// True once the desk closes: the uplink finishes what it sends and ends.
    closed: watch::Sender<bool>,
    /// Bumped when the platform's settings change: the uplink starts again
    /// with them.
    relink: watch::Sender<u64>,
    /// The long steps under way (chip read, recording), for Cancel: each
    /// registers as soon as it is called, before it waits for anything.
    /// Apart from `draft`, whose lock the step holds while it runs.
    running: RunningSteps,
    /// The audit chain's last verdict, reused while paging.
    chain_verdicts: ChainVerdicts,
}

/// The cancellable steps under way, each by its own token.
#[derive(Debug, Default)]
struct RunningSteps(std::sync::Mutex<Vec<Cancellation>>);

impl RunningSteps {
    fn steps(&self) -> std::sync::MutexGuard<'_, Vec<Cancellation>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a step until the returned guard drops, however it ends.
    fn start(&self) -> RunningStep<'_> {
        let cancel = Cancellation::new();
        self.steps().push(cancel.clone());
        RunningStep {
            running: self,
            cancel,
        }
    }

    /// Cancels every step registered; whether there was one.
    fn cancel_all(&self) -> bool {
        let steps = self.steps();
        for step in steps.iter() {
            step.cancel();
        }
        !steps.is_empty()
    }
}

/// A cancellable step as [`Desk::cancel_step`] sees it: registered while
/// this lives. Dropping it takes out only its own token, so a step that
/// ends does not unregister another running beside it.
struct RunningStep<'a> {
    running: &'a RunningSteps,
    cancel: Cancellation,
}

impl RunningStep<'_> {
    /// The token the step's loops look at.
    fn token(&self) -> Cancellation {
        self.cancel.clone()
    }
}

impl Drop for RunningStep<'_> {
    fn drop(&mut self) {
        self.running
            .steps()
            .retain(|other| !other.same(&self.cancel));
    }
}

/// How often a link that could not run looks again.
pub const RELINK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

fn not_signed_in() -> Failure {
    Failure::new(Code::InvalidCredentials, "nobody is signed in")
}

fn no_enrollment() -> Failure {
    Failure::new(Code::InvalidArgument, "no enrollment is in progress")
}

impl Desk {
    /// Opens the station's store (creating it on first use).
    pub async fn open(paths: StationPaths, demo: bool) -> Result<Self, Failure> {
        let store = open_store(&paths).await?;
        let mut board = ReaderBoard::default();
        board.read_documents_from(settings::load(&store).await?.reader);
        Ok(Self {
            paths,
            store,
            demo,
            models: Mutex::new(None),
            session: Mutex::new(None),
            draft: Mutex::new(None),
            link: watch::Sender::new(LinkStatus::starting()),
            readers: Arc::new(watch::Sender::new(board)),
            closing: Arc::new(AtomicBool::new(false)),
            closed: watch::Sender::new(false),
            relink: watch::Sender::new(0),
            running: RunningSteps::default(),
            chain_verdicts: ChainVerdicts::default(),
        })
    }

    /// Watches the readers and their cards until the desk closes; every
    /// change reaches [`Desk::subscribe_readers`]'s receivers.
    pub async fn watch_readers(&self) {
        let board = self.readers.clone();
        let closing = self.closing.clone();
        let watched =
            tokio::task::spawn_blocking(move || crate::card::watch::run(&board, &closing)).await;
        if let Err(e) = watched {
            tracing::error!("the reader watch ended: {e}");
        }
    }

    pub fn reader_board(&self) -> ReaderBoard {
        self.readers.borrow().clone()
    }

    pub fn subscribe_readers(&self) -> watch::Receiver<ReaderBoard> {
        self.readers.subscribe()
    }

    /// Runs the uplink in the background until the desk closes; its status
    /// is [`Desk::link_status`] and every change reaches
    /// [`Desk::subscribe_link`]'s receivers. The link starts again when an
    /// administrator changes the platform's address, and, when it could not
    /// run (not registered yet, another uploader holds the data directory),
    /// it looks again every [`RELINK_INTERVAL`]. A packet under way at close
    /// is finished first (bounded by the client's timeout).
    pub async fn run_uplink(&self, policy: uplink::worker::SyncPolicy) {
        let mut closed = self.closed.subscribe();
        let mut relink = self.relink.subscribe();
        loop {
            relink.mark_unchanged();
            let stop = {
                let (mut closed, mut relink) = (closed.clone(), relink.clone());
                async move {
                    tokio::select! {
                        _ = closed.wait_for(|c| *c) => {}
                        _ = relink.changed() => {}
                    }
                }
            };
            if let Err(failure) =
                link::run(&self.paths, &self.store, policy.clone(), &self.link, stop).await
            {
                tracing::warn!("no uploads from this window: {failure}");
            }
            tokio::select! {
                _ = closed.wait_for(|c| *c) => return,
                _ = relink.changed() => {}
                () = tokio::time::sleep(RELINK_INTERVAL) => {}
            }
            if *closed.borrow() {
                return;
            }
        }
    }

    /// Tells the background work to end: the reader watch stops and the
    /// uplink finishes the packet under way. [`Desk::close`] and
    /// [`Desk::shut_down`] call it.
    pub fn begin_close(&self) {
        self.closing.store(true, Ordering::Release);
        self.closed.send_replace(true);
    }

    /// The app is quitting: background work is told to end and whoever is
    /// signed in is signed out (audited). The desk stays usable for the
    /// caller's own waiting.
    pub async fn shut_down(&self) {
        self.begin_close();
        if let Err(e) = self.sign_out().await {
            tracing::warn!("signing out at close: {e}");
        }
    }

    pub fn link_status(&self) -> LinkStatus {
        self.link.borrow().clone()
    }

    pub fn subscribe_link(&self) -> watch::Receiver<LinkStatus> {
        self.link.subscribe()
    }

    pub async fn state(&self) -> Result<DeskState, Failure> {
        let first_run = self
            .store
            .needs_first_administrator()
            .await
            .map_err(store_failure)?;
        Ok(DeskState {
            first_run,
            demo: self.demo,
            demo_can: self.demo.then(|| DEMO_CAN.to_owned()),
            signed_in: self.session.lock().await.as_ref().map(StaffMember::from),
            enrolling: self.draft.lock().await.is_some(),
        })
    }

    /// Creates the first administrator of a new station (once).
    pub async fn create_administrator(
        &self,
        name: &str,
        password: Zeroizing<String>,
    ) -> Result<StaffMember, Failure> {
        let user = self
            .store
            .create_first_administrator(name, &password)
            .await
            .map_err(store_failure)?;
        Ok(StaffMember {
            name: user.username,
            role: user.role,
        })
    }

    /// Signs a member of staff in at the desk; whoever was signed in is
    /// signed out first.
    pub async fn sign_in(
        &self,
        name: &str,
        password: Zeroizing<String>,
    ) -> Result<StaffMember, Failure> {
        self.sign_out().await?;
        let session = sign_in(&self.store, name, &password, "sign in", |_| true).await?;
        let member = StaffMember::from(&session);
        *self.session.lock().await = Some(session);
        Ok(member)
    }

    /// Signs out; an enrollment in progress is abandoned (nothing of it
    /// was sealed, and its captures are dropped from memory).
    pub async fn sign_out(&self) -> Result<(), Failure> {
        self.draft.lock().await.take();
        if let Some(session) = self.session.lock().await.take() {
            self.store.logout(session).await.map_err(store_failure)?;
        }
        Ok(())
    }

    /// The signed-in session, its idle timer restarted; an idle session
    /// ends here.
    async fn active_session(&self) -> Result<Session, Failure> {
        let mut slot = self.session.lock().await;
        let session = slot.as_mut().ok_or_else(not_signed_in)?;
        if let Err(e) = session.touch(self.store.now()) {
            if let Some(old) = slot.take() {
                self.store.logout(old).await.map_err(store_failure)?;
            }
            self.draft.lock().await.take();
            return Err(store_failure(e));
        }
        Ok(session.clone())
    }

    /// The signed-in administrator adds a clerk or a supervisor.
    pub async fn add_user(
        &self,
        name: &str,
        password: Zeroizing<String>,
        role: NewStaffRole,
    ) -> Result<StaffMember, Failure> {
        let admin = self.active_session().await?;
        let role = match role {
            NewStaffRole::Clerk => Role::Clerk,
            NewStaffRole::Supervisor => Role::Supervisor,
        };
        let user = self
            .store
            .create_user(admin.user_id(), name, &password, role)
            .await
            .map_err(store_failure)?;
        Ok(StaffMember {
            name: user.username,
            role: user.role,
        })
    }

    pub async fn queue(&self) -> Result<QueueView, Failure> {
        queue_view(&self.store, QUEUE_ROWS).await
    }

    /// A supervisor or administrator, signing in for this one action,
    /// queues a packet the platform rejected again; the row as it now is.
    pub async fn resubmit(
        &self,
        packet: &str,
        user: &str,
        password: Zeroizing<String>,
    ) -> Result<PacketRow, Failure> {
        self.active_session().await?;
        let packet = packet_id(packet)?;
        // A wrong id costs no login.
        self.store
            .outbox_entry(packet)
            .await
            .map_err(store_failure)?;
        let entry = resubmit_as(&self.store, packet, user, password).await?;
        Ok(PacketRow::from(&entry))
    }

    /// A page of the audit log and whether its chain holds: supervisors
    /// and administrators only.
    pub async fn audit(&self, query: AuditQuery) -> Result<AuditView, Failure> {
        let member = self.active_session().await?;
        if !(member.role().can_review() || member.role().can_administer()) {
            return Err(Failure::new(
                Code::NotPermitted,
                "only supervisors and administrators read the audit log",
            ));
        }
        audit_view(&self.store, &query, AUDIT_ROWS, &self.chain_verdicts).await
    }

    async fn models(&self) -> Result<Arc<Models>, Failure> {
        let mut slot = self.models.lock().await;
        if let Some(models) = slot.as_ref() {
            return Ok(models.clone());
        }
        let settings = settings::load(&self.store).await?;
        let models = Models::load_shared(&self.paths, &settings).await?;
        *slot = Some(models.clone());
        Ok(models)
    }

    /// The signed-in administrator, or `NOT_PERMITTED`.
    async fn administrator(&self) -> Result<Session, Failure> {
        let member = self.active_session().await?;
        if !member.role().can_administer() {
            return Err(Failure::new(
                Code::NotPermitted,
                "only administrators change the station's settings",
            ));
        }
        Ok(member)
    }

    /// The settings screen: administrators only.
    pub async fn settings(&self) -> Result<SettingsView, Failure> {
        self.administrator().await?;
        settings::view(&self.store, &self.paths).await
    }

    /// Saves the administrator's settings (each change audited; a bad
    /// value changes nothing); the next enrollment uses them.
    pub async fn save_settings(&self, change: SettingsChange) -> Result<SettingsView, Failure> {
        let admin = self.administrator().await?;
        let saved = settings::save(&self.store, admin.user_id(), &change).await;
        // The reader board follows what is stored, even what part of a
        // failed save was written: the read uses the stored reader.
        if let Ok(stored) = settings::load(&self.store).await {
            self.readers.send_if_modified(|board| {
                let changed = board.document_reader != stored.reader;
                board.read_documents_from(stored.reader);
                changed
            });
        }
        saved?;
        self.models.lock().await.take();
        if change.platform_url.is_some() {
            self.relink.send_modify(|n| *n += 1);
        }
        settings::view(&self.store, &self.paths).await
    }

    /// Adds a CSCA certificate, CRL or master list chosen by path to the
    /// trust store, after checking it (audited; a bad file changes
    /// nothing).
    pub async fn import_trust_file(&self, path: &str) -> Result<SettingsView, Failure> {
        let admin = self.administrator().await?;
        let path = settings::chosen_path(path)?;
        settings::import_trust_file(&self.store, &self.paths, admin.user_id(), &path).await?;
        settings::view(&self.store, &self.paths).await
    }

    /// The signed-in clerk starts an enrollment. The platform key and the
    /// models are checked first, so nobody is captured for an enrollment
    /// that cannot be sealed.
    pub async fn begin(&self) -> Result<(), Failure> {
        let clerk = self.active_session().await?;
        identity::for_sealing(&self.paths, &self.store).await?;
        self.models().await?;
        let draft = Draft::start(&self.store, &clerk).await?;
        *self.draft.lock().await = Some(draft);
        Ok(())
    }

    /// Stops the chip read, face capture or recording under way at its next
    /// APDU, frame or audio chunk (or while it still waits for a card); the
    /// step then
    /// fails with `CANCELLED`, is audited and keeps nothing. A step called
    /// meanwhile and waiting for the first is stopped too. Says whether a
    /// step was running.
    pub fn cancel_step(&self) -> bool {
        self.running.cancel_all()
    }

    /// Abandons the enrollment in progress.
    pub async fn cancel(&self) {
        self.draft.lock().await.take();
    }

    /// Runs `step` on the enrollment in progress, for the signed-in clerk.
    async fn with_draft<T>(
        &self,
        step: impl AsyncFnOnce(&mut Draft) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let clerk = self.active_session().await?;
        let mut slot = self.draft.lock().await;
        let draft = slot.as_mut().ok_or_else(no_enrollment)?;
        if draft.clerk() != clerk.user_id() {
            return Err(Failure::new(
                Code::NotPermitted,
                "another clerk's enrollment",
            ));
        }
        step(draft).await
    }

    /// Opens and reads the chip: the demo document in demo mode, else the
    /// first reader holding a card.
    pub async fn read_document(
        &self,
        access: AccessInput,
        progress: impl FnMut(ChipProgress) + Send + 'static,
    ) -> Result<DocumentReport, Failure> {
        let step = self.running.start();
        let key = match &access {
            AccessInput::Mrz(fields) => {
                if !check_mrz(fields).complete {
                    return Err(Failure::new(
                        Code::InvalidArgument,
                        "the MRZ fields or their check digits are wrong",
                    ));
                }
                let mrz = format!(
                    "{}:{}:{}",
                    fields.document_number.trim(),
                    fields.date_of_birth.trim(),
                    fields.date_of_expiry.trim()
                );
                parse_access_key(Some(&mrz), None)?
            }
            AccessInput::Can { can } => parse_access_key(None, Some(can.trim()))?,
        };
        let order = if self.demo {
            let port = card::vpcd::DEFAULT_PORT;
            ChipOrder {
                reader: vpcd_reader(port),
                key,
                trust_store: Some(demo_data_dir().join("documents/demo/trust")),
                short_apdus: false,
                wait: CARD_WAIT,
                demo_port: Some(port),
                cancel: step.token(),
            }
        } else {
            let chosen = settings::load(&self.store).await?.reader;
            ChipOrder {
                reader: match chosen {
                    Some(reader) => reader,
                    None => reader_with_card().await?,
                },
                key,
                trust_store: None,
                short_apdus: false,
                wait: CARD_WAIT,
                demo_port: None,
                cancel: step.token(),
            }
        };
        let paths = self.paths.clone();
        self.with_draft(async |draft| {
            draft
                .read_document(&self.store, order, &paths, progress)
                .await
        })
        .await
    }

    /// Analyses the face: the image sequence in `folder` (the file
    /// camera), or the demo camera in demo mode.
    pub async fn capture_face(
        &self,
        folder: Option<String>,
        progress: impl FnMut(FaceProgress) + Send + 'static,
        preview: impl FnMut(crate::enroll::PreviewImage) + Send + 'static,
    ) -> Result<FaceReport, Failure> {
        let step = self.running.start();
        let source = match folder.as_deref().map(str::trim) {
            Some(dir) if !dir.is_empty() => FaceSource::Files(vec![dir.into()]),
            _ if self.demo => FaceSource::demo(),
            _ => FaceSource::Camera(self.chosen_camera().await?),
        };
        let models = self.models().await?;
        self.with_draft(async |draft| {
            draft
                .capture_face(&self.store, models, source, progress, preview, step.token())
                .await
        })
        .await
    }

    /// The camera the administrator chose, else the first one.
    async fn chosen_camera(&self) -> Result<camera::CameraSpec, Failure> {
        match settings::load(&self.store).await?.camera {
            None => Ok(camera::CameraSpec::Auto),
            Some(spec) => spec
                .parse()
                .map_err(|e| Failure::new(Code::SettingInvalid, format!("the camera: {e}"))),
        }
    }

    /// A fresh digit challenge for the citizen to read.
    pub async fn voice_challenge(&self) -> Result<ChallengeText, Failure> {
        self.with_draft(async |draft| Ok(draft.new_challenge()))
            .await
    }

    /// Records the citizen reading the challenge from the default
    /// microphone and analyses it, with the level as it arrives.
    pub async fn capture_voice(
        &self,
        levels: impl FnMut(microphone::Level) + Send + 'static,
    ) -> Result<VoiceReport, Failure> {
        let step = self.running.start();
        let models = self.models().await?;
        let source = VoiceSource::Microphone {
            device: settings::load(&self.store).await?.microphone,
            seconds: VOICE_SECONDS,
        };
        self.with_draft(async |draft| {
            draft
                .capture_voice(&self.store, models, source, levels, step.token())
                .await
        })
        .await
    }

    /// The recorded voice sample as WAV bytes, to play back from memory.
    pub async fn voice_playback(&self) -> Result<Vec<u8>, Failure> {
        self.with_draft(async |draft| draft.voice_playback(&self.store).await)
            .await
    }

    /// The clerk hands the enrollment over for review.
    pub async fn submit(&self) -> Result<(), Failure> {
        self.with_draft(async |draft| draft.submit(&self.store).await)
            .await
    }

    /// A supervisor, signing in for this decision only, approves (the
    /// packet is sealed and queued) or rejects. Nobody reviews their own
    /// enrollment: refused before the password is even checked.
    pub async fn review(
        &self,
        supervisor: &str,
        password: Zeroizing<String>,
        decision: ReviewDecision,
    ) -> Result<ReviewOutcome, Failure> {
        let clerk = self.active_session().await?;
        if same_user(supervisor, clerk.username()) {
            return Err(Failure::new(
                Code::SelfApproval,
                "the supervisor is the clerk signed in",
            ));
        }
        let mut slot = self.draft.lock().await;
        let draft = slot.take().ok_or_else(no_enrollment)?;
        let reviewer = match sign_in(
            &self.store,
            supervisor,
            &password,
            "review enrollments",
            Role::can_review,
        )
        .await
        {
            Ok(s) => s,
            Err(f) => {
                *slot = Some(draft);
                return Err(f);
            }
        };
        drop(password);
        let outcome = match decision {
            ReviewDecision::Approve => self.approve(draft, &reviewer).await,
            ReviewDecision::Reject { reason } => draft
                .reject(&self.store, &reviewer, &reason)
                .await
                .map(|()| ReviewOutcome { sealed: None }),
        };
        // The supervisor's session is this one decision.
        let logged_out = self.store.logout(reviewer).await.map_err(store_failure);
        match outcome {
            Ok(o) => logged_out.map(|()| o),
            Err((draft, f)) => {
                *slot = Some(draft);
                Err(f)
            }
        }
    }

    async fn approve(
        &self,
        draft: Draft,
        reviewer: &Session,
    ) -> Result<ReviewOutcome, (Draft, Failure)> {
        let keys = identity::for_sealing(&self.paths, &self.store).await;
        let models = self.models().await;
        let ((identity, platform, format_version), models) = match (keys, models) {
            (Ok(k), Ok(m)) => (k, m),
            (Err(f), _) | (_, Err(f)) => return Err((draft, f)),
        };
        let sealing = Sealing {
            identity: &identity,
            platform: &platform,
            format_version,
            models: &models,
        };
        let sealed = draft
            .approve_and_seal(&self.store, reviewer, &sealing)
            .await?;
        Ok(ReviewOutcome {
            sealed: Some(sealed),
        })
    }

    /// Signs out and closes the store.
    pub async fn close(self) {
        self.shut_down().await;
        self.store.close().await;
    }
}

/// The first reader with a card in it, or the first reader.
async fn reader_with_card() -> Result<String, Failure> {
    let listed = tokio::task::spawn_blocking(|| {
        let readers = card::reader::Readers::establish()?;
        readers.list()
    })
    .await
    .map_err(|e| Failure::new(Code::Internal, e))?
    .map_err(|e| Failure::new(Code::PcscUnavailable, e))?;
    listed
        .iter()
        .find(|r| r.card_present)
        .or(listed.first())
        .map(|r| r.name.clone())
        .ok_or_else(|| Failure::new(Code::NoReader, "no reader is connected"))
}

/// Checks the typed MRZ fields and their check digits.
pub fn check_mrz(fields: &MrzFields) -> MrzCheck {
    let document = field_state(&fields.document_number, &fields.document_check, |v| {
        (1..=9).contains(&v.len())
            && v.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'<')
    });
    let date =
        |v: &str| emrtd::mrz::MrzDate::parse(v, emrtd::mrz::CheckedField::DateOfBirth).is_ok();
    let birth = field_state(&fields.date_of_birth, &fields.birth_check, date);
    let expiry = field_state(&fields.date_of_expiry, &fields.expiry_check, date);
    MrzCheck {
        document_number: document,
        date_of_birth: birth,
        date_of_expiry: expiry,
        complete: [document, birth, expiry]
            .iter()
            .all(|s| *s == FieldState::Valid),
    }
}

fn field_state(value: &str, check: &str, well_formed: impl Fn(&str) -> bool) -> FieldState {
    let value = value.trim().to_ascii_uppercase();
    let check = check.trim();
    if value.is_empty() {
        return FieldState::Empty;
    }
    if !well_formed(&value) {
        return FieldState::BadFormat;
    }
    if check.is_empty() {
        return FieldState::CheckMissing;
    }
    // Document numbers shorter than nine characters are padded with `<`
    // before the check digit is computed.
    let padded = format!("{value:<<9}");
    let field = if value.len() == 6 && value.bytes().all(|b| b.is_ascii_digit()) {
        value.as_str()
    } else {
        padded.as_str()
    };
    match emrtd::mrz::check_digit(field) {
        Ok(digit) if check.len() == 1 && check.starts_with(digit) => FieldState::Valid,
        _ => FieldState::BadCheckDigit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_ending_leaves_the_others_cancellable() {
        let running = RunningSteps::default();
        assert!(!running.cancel_all(), "nothing runs yet");
        let first = running.start();
        let second = running.start();
        let (a, b) = (first.token(), second.token());
        drop(first);
        assert!(!a.is_cancelled() && !b.is_cancelled());
        assert!(running.cancel_all());
        assert!(b.is_cancelled(), "the step still running was reached");
        assert!(!a.is_cancelled(), "the step over was not");
        drop(second);
        assert!(!running.cancel_all(), "both are over");
    }

    #[test]
    fn a_cancel_before_the_step_waits_for_anything_is_kept() {
        let running = RunningSteps::default();
        let step = running.start();
        assert!(running.cancel_all());
        // Whatever the step does next looks at this token.
        assert!(step.token().is_cancelled());
    }

    fn icao() -> MrzFields {
        // Doc 9303 part 4's specimen: L898902C3 6, 740812 2, 120415 9.
        MrzFields {
            document_number: "L898902C3".into(),
            document_check: "6".into(),
            date_of_birth: "740812".into(),
            birth_check: "2".into(),
            date_of_expiry: "120415".into(),
            expiry_check: "9".into(),
        }
    }

    #[test]
    fn the_icao_specimen_checks_out() {
        let check = check_mrz(&icao());
        assert!(check.complete, "{check:?}");
    }

    #[test]
    fn each_field_says_what_is_wrong() {
        let mut f = icao();
        f.document_check = "7".into();
        f.date_of_birth = "741312".into();
        f.expiry_check = String::new();
        let check = check_mrz(&f);
        assert_eq!(check.document_number, FieldState::BadCheckDigit);
        assert_eq!(check.date_of_birth, FieldState::BadFormat);
        assert_eq!(check.date_of_expiry, FieldState::CheckMissing);
        assert!(!check.complete);
        assert_eq!(
            check_mrz(&MrzFields::default()).document_number,
            FieldState::Empty
        );
    }

    #[test]
    fn short_document_numbers_are_padded_before_checking() {
        let digit = emrtd::mrz::check_digit("AB12345<<").unwrap();
        let f = MrzFields {
            document_number: "AB12345".into(),
            document_check: digit.to_string(),
            ..icao()
        };
        assert_eq!(check_mrz(&f).document_number, FieldState::Valid);
    }
}
