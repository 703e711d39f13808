//! `station card simulate`: a virtual chip in pcscd's vpcd reader.
//!
//! The simulator connects to vpcd as the card (a TCP client: connecting is
//! inserting the card), prints one JSON object once the card is in, and
//! answers APDUs until SIGINT or SIGTERM. When pcscd drops the connection
//! (restarted, driver reloaded) the card is inserted again after a short
//! back-off. `--remove-after-apdus N` pulls the card after N APDUs, to
//! exercise removal mid-session. `--short-apdu-reader` puts a reader that
//! refuses extended-length APDUs in front of the chip, and `--chip-max-le N`
//! makes a chip that refuses READ BINARY of more than N bytes.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use card::VirtualCard;
use card::limits::ShortApdusOnly;
use card::vpcd::{ServeEnd, VpcdBridge, VpcdError};
use clap::Args;
use emrtd::chip::ProfileError;
use emrtd::{ChipConfig, LdsFile, Profile, VirtualChip};
use serde_json::json;

use super::DocumentSource;
use crate::failure::{Code, Failure};

#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub source: DocumentSource,
    /// The vpcd port: 35963 for the first virtual reader, 35964 for the second.
    #[arg(long, default_value_t = card::vpcd::DEFAULT_PORT)]
    pub port: u16,
    /// Pull the card from the reader after this many APDUs.
    #[arg(long)]
    pub remove_after_apdus: Option<u64>,
    /// Serve through a reader that takes short APDUs only: it answers
    /// extended-length commands with 6700 itself, as many readers do.
    #[arg(long)]
    pub short_apdu_reader: bool,
    /// The largest Le the chip's READ BINARY takes (6700 above it).
    #[arg(long)]
    pub chip_max_le: Option<usize>,
}

/// Longest pause between attempts to put the card back after pcscd let go.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// Loads the document a simulator serves. `--lds-dir` takes the files
/// alone: any profile.toml beside them is ignored, as for files made
/// elsewhere.
pub fn load(source: &DocumentSource) -> Result<ChipConfig, Failure> {
    let (dir, raw) = match (&source.profile, &source.lds_dir) {
        (Some(dir), _) => (dir.as_path(), false),
        (None, Some(dir)) => (dir.as_path(), true),
        (None, None) => {
            return Err(Failure::new(
                Code::InvalidArgument,
                "give --profile DIR or --lds-dir DIR",
            ));
        }
    };
    let profile = load_profile(dir, raw)?;
    ChipConfig::from_profile(profile).map_err(|e| {
        Failure::new(
            Code::DocumentFilesUnreadable,
            format!("{}: {e}", dir.display()),
        )
    })
}

fn load_profile(dir: &Path, raw: bool) -> Result<Profile, Failure> {
    let unreadable = |detail: String| Failure::new(Code::DocumentFilesUnreadable, detail);
    if !dir.is_dir() {
        return Err(unreadable(format!("{} is not a directory", dir.display())));
    }
    let loaded = Profile::load_dir(dir).map_err(|e: ProfileError| unreadable(e.to_string()))?;
    if !raw {
        return Ok(loaded);
    }
    Ok(loaded.files().fold(Profile::new(), |p, (file, bytes)| {
        p.with_file(file, bytes.to_vec())
    }))
}

/// What `serving` reports: no personal data beyond the document number,
/// which the operator needs to read the card back.
fn serving_report(config: &ChipConfig, args: &SimulateArgs) -> serde_json::Value {
    let document_number = config
        .profile
        .get(LdsFile::Dg(1))
        .and_then(|dg1| emrtd::lds::parse_dg1(dg1).ok())
        .map(|mrz| mrz.document_number);
    let mut access: Vec<&str> = Vec::new();
    if config.bac {
        access.push("BAC");
    }
    let pace = config
        .profile
        .get(LdsFile::CardAccess)
        .and_then(|ca| emrtd::pace::PaceInfo::parse_card_access(ca).ok());
    access.extend(
        pace.unwrap_or_else(|| config.pace.clone())
            .iter()
            .map(|info| info.protocol.name()),
    );
    let files: Vec<String> = config.profile.files().map(|(f, _)| f.name()).collect();
    json!({
        "serving": {
            "port": args.port,
            "short_apdu_reader": args.short_apdu_reader,
            "chip_max_le": config.max_read_le,
            "document_number": document_number,
            "access": access,
            "files": files,
            "active_authentication": config.active_authentication.is_some(),
            "chip_authentication": config.chip_authentication.is_some(),
        }
    })
}

/// Counts APDUs and raises `pull` once `limit` have been answered.
struct Pulling<C> {
    inner: C,
    seen: Arc<AtomicU64>,
    limit: Option<u64>,
    pull: Arc<AtomicBool>,
}

impl<C: VirtualCard> VirtualCard for Pulling<C> {
    fn atr(&self) -> Vec<u8> {
        self.inner.atr()
    }
    fn reset(&mut self) {
        self.inner.reset();
    }
    fn process(&mut self, command: &[u8]) -> Vec<u8> {
        let response = self.inner.process(command);
        let seen = self.seen.fetch_add(1, Ordering::AcqRel) + 1;
        if self.limit.is_some_and(|limit| seen >= limit) {
            self.pull.store(true, Ordering::Release);
        }
        response
    }
}

pub(crate) fn vpcd_failure(port: u16, e: VpcdError) -> Failure {
    Failure::new(
        Code::VirtualReaderUnavailable,
        format!("127.0.0.1:{port}: {e}"),
    )
}

/// Serves `card` until `stop` is raised, putting it back into the reader
/// whenever pcscd lets go. `pull` ends serving with the card out of the
/// reader while the process keeps waiting for `stop`.
fn serve(
    mut card: impl VirtualCard,
    mut bridge: VpcdBridge,
    port: u16,
    stop: &AtomicBool,
    pull: &AtomicBool,
) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let end = bridge.serve(&mut card, pull);
        match end {
            Ok(ServeEnd::Stopped) => break,
            Ok(ServeEnd::ReaderClosed) => tracing::info!("the reader closed the connection"),
            Err(e) => tracing::warn!("virtual reader connection failed: {e}"),
        }
        // Put the card back once pcscd listens again.
        bridge = loop {
            if stop.load(Ordering::Acquire) || pull.load(Ordering::Acquire) {
                return;
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
            match VpcdBridge::connect(("127.0.0.1", port)) {
                Ok(b) => break b,
                Err(e) => tracing::debug!("reinserting the card failed: {e}"),
            }
        };
        backoff = FIRST_BACKOFF;
        tracing::info!("card reinserted");
    }
    if !stop.load(Ordering::Acquire) {
        tracing::info!("card pulled from the reader");
    }
}

/// Runs the simulator until SIGINT or SIGTERM; prints its one JSON object
/// when the card is in.
pub async fn run(args: SimulateArgs, json: bool) -> Result<(), Failure> {
    let mut config = load(&args.source)?;
    config.max_read_le = args.chip_max_le;
    let report = serving_report(&config, &args);
    let bridge =
        VpcdBridge::connect(("127.0.0.1", args.port)).map_err(|e| vpcd_failure(args.port, e))?;
    let stop = Arc::new(AtomicBool::new(false));
    let pull = Arc::new(AtomicBool::new(false));
    let chip = VirtualChip::new(config);
    let inner: Box<dyn VirtualCard> = if args.short_apdu_reader {
        Box::new(ShortApdusOnly(chip))
    } else {
        Box::new(chip)
    };
    let card = Pulling {
        inner,
        seen: Arc::new(AtomicU64::new(0)),
        limit: args.remove_after_apdus,
        pull: pull.clone(),
    };
    super::emit(&report, json);

    let serving = {
        let (stop, pull) = (stop.clone(), pull.clone());
        tokio::task::spawn_blocking(move || serve(card, bridge, args.port, &stop, &pull))
    };
    wait_for_termination().await?;
    stop.store(true, Ordering::Release);
    pull.store(true, Ordering::Release);
    serving
        .await
        .map_err(|e| Failure::new(Code::Internal, format!("serving task failed: {e}")))
}

async fn wait_for_termination() -> Result<(), Failure> {
    let signal = |e: std::io::Error| Failure::new(Code::Internal, format!("signal handler: {e}"));
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal as unix_signal};
        let mut term = unix_signal(SignalKind::terminate()).map_err(signal)?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.map_err(signal),
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map_err(signal)
    }
}
