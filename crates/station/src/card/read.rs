//! `station card read`: one document read through PC/SC (DESIGN §3).
//!
//! Waits briefly for the card, opens the chip (PACE when EF.CardAccess
//! offers it, else BAC), reads EF.COM, the data groups it lists and EF.SOD,
//! then checks the document: Passive Authentication against the trust
//! store, Active and Chip Authentication against the chip. Verdicts are
//! results, not failures: a forged document is a completed read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use card::TransmitError;
use card::limits::{LearnedLimit, ReaderLimits};
use card::reader::{Capabilities, PcscCard, ReaderError, Readers};
use clap::Args;
use emrtd::passive::TrustStore;
use emrtd::portrait::Portrait;
use emrtd::{
    AccessKey, Can, ChipVerification, ChunkReport, LdsFile, MrzKey, ReadOptions, Reader,
    Verification,
};
use serde::Serialize;
use serde_json::{Value, json};
use ts_rs::TS;

use crate::cancel::Cancellation;
use crate::failure::{Code, Failure};
use crate::paths::StationPaths;

/// How to reach a document's chip: the options `card read` and `enroll`
/// share.
#[derive(Debug, Clone, Args)]
pub struct ChipArgs {
    /// The PC/SC reader, as `station doctor` lists it.
    #[arg(long)]
    pub reader: Option<String>,
    /// The MRZ access key: DOCUMENT:YYMMDD(birth):YYMMDD(expiry).
    #[arg(long, conflicts_with = "can")]
    pub mrz: Option<String>,
    /// The 6-digit card access number printed on the document (PACE).
    #[arg(long)]
    pub can: Option<String>,
    /// Trusted CSCA certificates, master lists and CRLs; default: the data
    /// directory's `trust/` folder when it exists.
    #[arg(long)]
    pub trust_store: Option<PathBuf>,
    /// Read with short APDUs (223-byte chunks) instead of extended length.
    #[arg(long)]
    pub short_apdus: bool,
    /// How long to wait for a document on the reader, in seconds.
    #[arg(long, default_value_t = 5.0)]
    pub wait: f64,
}

impl ChipArgs {
    /// `--wait` as a duration.
    pub fn wait(&self) -> Result<Duration, Failure> {
        Duration::try_from_secs_f64(self.wait)
            .map_err(|e| Failure::new(Code::InvalidArgument, format!("--wait: {e}")))
    }
}

#[derive(Debug, Clone, Args)]
pub struct ReadArgs {
    #[command(flatten)]
    pub chip: ChipArgs,
    /// Write the chip portrait here as PNG.
    #[arg(long)]
    pub photo_out: Option<PathBuf>,
    /// Report each file's progress on standard error, one JSON object a
    /// line: `{"progress":{"file","read","total"}}`.
    #[arg(long)]
    pub progress: bool,
}

/// The default trust store folder inside the data directory.
pub const TRUST_DIR: &str = "trust";

/// The access key from `--mrz` (preferred) or `--can`.
pub fn parse_access_key(mrz: Option<&str>, can: Option<&str>) -> Result<AccessKey, Failure> {
    let invalid = |what: &str, e: &dyn std::fmt::Display| {
        Failure::new(Code::InvalidArgument, format!("{what}: {e}"))
    };
    match (mrz, can) {
        (Some(mrz), _) => mrz
            .parse::<MrzKey>()
            .map(AccessKey::Mrz)
            .map_err(|e| invalid("--mrz (expected DOCUMENT:YYMMDD:YYMMDD)", &e)),
        (None, Some(can)) => Can::new(can)
            .map(AccessKey::Can)
            .map_err(|e| invalid("--can", &e)),
        (None, None) => Err(Failure::new(Code::InvalidArgument, "give --mrz or --can")),
    }
}

fn trust_store(
    explicit: Option<&Path>,
    paths: &StationPaths,
) -> Result<(TrustStore, Option<PathBuf>), Failure> {
    let dir = match explicit {
        Some(dir) => dir.to_owned(),
        None => {
            let default = paths.data_dir.join(TRUST_DIR);
            if !default.is_dir() {
                return Ok((TrustStore::new(), None));
            }
            default
        }
    };
    let store = TrustStore::load_dir(&dir).map_err(|e| {
        Failure::new(
            Code::TrustStoreUnreadable,
            format!("{}: {e}", dir.display()),
        )
    })?;
    Ok((store, Some(dir)))
}

fn reader_failure(e: ReaderError) -> Failure {
    match e {
        ReaderError::NoService => Failure::new(Code::PcscUnavailable, e),
        ReaderError::NoCard(_) => Failure::new(Code::NoCard, e),
        ReaderError::UnknownReader(_) => Failure::new(Code::ReaderNotFound, e),
        ReaderError::Busy(_) => Failure::new(Code::CardBusy, e),
        ReaderError::Unresponsive(_) => Failure::new(Code::ChipError, e),
        ReaderError::Pcsc(_) | ReaderError::Watch(_) => Failure::new(Code::PcscUnavailable, e),
    }
}

/// How often the wait for a card looks whether the step was cancelled.
const CARD_WAIT_SLICE: Duration = Duration::from_millis(200);

/// Finds the reader and waits for a card on it, until `cancel`.
fn connect(
    readers: &Readers,
    name: &str,
    wait: Duration,
    cancel: &Cancellation,
) -> Result<PcscCard, Failure> {
    let listed = readers.list().map_err(reader_failure)?;
    if !listed.iter().any(|r| r.name == name) {
        let names: Vec<&str> = listed.iter().map(|r| r.name.as_str()).collect();
        return Err(Failure::new(
            Code::ReaderNotFound,
            format!("{name:?} is not among {names:?}"),
        ));
    }
    // In slices, so a Cancel pressed before the card arrives is seen.
    let deadline = Instant::now() + wait;
    loop {
        if cancel.is_cancelled() {
            return Err(Cancellation::failure("the chip read"));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if readers
            .wait_for_card(name, left.min(CARD_WAIT_SLICE))
            .map_err(reader_failure)?
        {
            break;
        }
        if left <= CARD_WAIT_SLICE {
            return Err(Failure::new(Code::NoCard, format!("none within {wait:?}")));
        }
    }
    readers
        .connect_patiently(name, CONNECT_PATIENCE)
        .map_err(reader_failure)
}

/// How long a connection is retried while another program holds the card
/// or it does not answer yet.
const CONNECT_PATIENCE: Duration = Duration::from_secs(2);

/// The stage a chip error happened in, which decides what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Access,
    Reading,
}

/// Maps a chip error to the catalogue. A transport error is a removed card
/// when the reader no longer holds one (pcsc-lite reports pulls as
/// several different errors).
fn chip_failure(e: emrtd::Error, stage: Stage, card_gone: impl Fn() -> bool) -> Failure {
    use emrtd::Error as E;
    use emrtd::pace::PaceError;
    let code = match &e {
        E::Transmit(TransmitError::CardRemoved) => Code::CardRemoved,
        E::Transmit(TransmitError::ReaderGone) => Code::ReaderNotFound,
        E::Transmit(_) if card_gone() => Code::CardRemoved,
        E::BacMismatch | E::Pace(PaceError::TokenMismatch) | E::WrongKeyKind(_) => {
            Code::WrongAccessKey
        }
        // 63xx: authentication failed; 6983: blocked; 6982/6A88: the chip
        // has no such password (e.g. a CAN for a chip without one).
        E::Status { command, sw }
            if stage == Stage::Access
                && !command.starts_with("SELECT")
                && (sw.0 & 0xFF00 == 0x6300 || matches!(sw.0, 0x6982 | 0x6983 | 0x6A88)) =>
        {
            Code::WrongAccessKey
        }
        E::Status { command, .. } if command.starts_with("SELECT eMRTD") => {
            Code::UnsupportedDocument
        }
        E::NoAccessMethod | E::Pace(PaceError::Unsupported) => Code::UnsupportedDocument,
        _ => Code::ChipError,
    };
    Failure::new(code, e)
}

/// Whether the card left the reader. pcscd notices a pull on its next poll
/// of the slot, so a failed exchange waits briefly for the news.
fn card_gone(readers: &Readers, name: &str) -> bool {
    readers
        .wait_for_removal(name, Duration::from_millis(1500))
        .unwrap_or(true)
}

/// The DG12 details, if the chip has DG12 and it parses.
fn additional_details(files: &BTreeMap<LdsFile, Vec<u8>>) -> Option<Value> {
    let dg12 = files.get(&LdsFile::Dg(12))?;
    match emrtd::lds::parse_dg12(dg12) {
        Ok(details) => serde_json::to_value(details).ok(),
        Err(e) => Some(json!({ "error": e.to_string() })),
    }
}

/// The DG11 name in national script (tag 5F0E), if present.
fn national_name(dg11: &[u8]) -> Option<String> {
    let outer = emrtd::tlv::expect(dg11, 0x6B).ok()?;
    outer
        .children()
        .find(0x5F0E)
        .ok()
        .flatten()
        .map(|t| String::from_utf8_lossy(t.value).into_owned())
}

/// The document's data as the MRZ in DG1 (and DG11's national name) has
/// it: what the clerk compares with the citizen and the document in hand.
#[derive(Debug, Clone, Serialize, TS)]
pub struct DocumentData {
    /// `PASSPORT`, `ID_CARD`, ...
    pub document_type: String,
    pub document_code: String,
    pub issuing_state: String,
    pub document_number: String,
    pub surname: String,
    pub given_names: String,
    pub nationality: String,
    /// YYMMDD.
    pub date_of_birth: String,
    pub sex: String,
    /// YYMMDD.
    pub date_of_expiry: String,
    pub optional_data: String,
    pub national_name: Option<String>,
    /// Whether DG1's composite check digit is right (the data is read
    /// either way; Passive Authentication vouches for it).
    pub composite_check_digit_valid: bool,
    /// DG12, when the chip has it: issuing authority, date of issue, ...
    #[ts(type = "Record<string, unknown> | null")]
    pub additional_details: Option<Value>,
}

fn document(files: &BTreeMap<LdsFile, Vec<u8>>) -> Result<DocumentData, Failure> {
    let dg1 = files
        .get(&LdsFile::Dg(1))
        .ok_or_else(|| Failure::new(Code::UnsupportedDocument, "the chip has no DG1"))?;
    let mrz = emrtd::lds::parse_dg1(dg1).map_err(|e| Failure::new(Code::ChipError, e))?;
    Ok(DocumentData {
        document_type: format!("{:?}", mrz.document_type).to_uppercase(),
        document_code: mrz.document_code,
        issuing_state: mrz.issuing_state,
        document_number: mrz.document_number,
        surname: mrz.primary_identifier,
        given_names: mrz.secondary_identifier,
        nationality: mrz.nationality,
        date_of_birth: mrz.date_of_birth.as_str().to_owned(),
        sex: mrz.sex.to_string(),
        date_of_expiry: mrz.date_of_expiry.as_str().to_owned(),
        optional_data: mrz.optional_data,
        national_name: files.get(&LdsFile::Dg(11)).and_then(|d| national_name(d)),
        additional_details: additional_details(files),
        composite_check_digit_valid: emrtd::lds::dg1_composite_valid(dg1).unwrap_or(false),
    })
}

/// How far the chip read is: bytes of one file, as the chip hands them over.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ChipProgress {
    /// `EF.COM`, `DG2`, ...
    pub file: String,
    #[ts(type = "number")]
    pub read: usize,
    #[ts(type = "number")]
    pub total: usize,
}

/// The chip portrait (DG2) as a baseline JPEG for the screen: decoded (JPEG
/// or JPEG 2000, sizes checked) and encoded again, so the window shows
/// whatever the chip stores. In memory only.
pub fn portrait_jpeg(files: &BTreeMap<LdsFile, Vec<u8>>) -> Result<Vec<u8>, Failure> {
    let dg2 = files
        .get(&LdsFile::Dg(2))
        .ok_or_else(|| Failure::new(Code::PortraitUnreadable, "the chip has no DG2"))?;
    let portrait =
        Portrait::parse_dg2(dg2).map_err(|e| Failure::new(Code::PortraitUnreadable, e))?;
    let frame = biometrics::Frame::decode(&portrait.image)
        .map_err(|e| Failure::new(Code::PortraitUnreadable, e.to_string()))?;
    crate::face::encode_jpeg(&frame).map(|j| j.to_vec())
}

/// Writes the portrait, JPEG or JPEG 2000, as PNG.
pub fn write_png(portrait: &Portrait, path: &Path) -> Result<(), Failure> {
    // The face pipeline's decoder: JPEG and JPEG 2000, sizes checked.
    let frame = biometrics::Frame::decode(&portrait.image)
        .map_err(|e| Failure::new(Code::PortraitUnreadable, e.to_string()))?;
    let image =
        image::RgbImage::from_raw(frame.width(), frame.height(), frame.as_rgb().to_vec())
            .ok_or_else(|| Failure::new(Code::Internal, "decoded portrait has the wrong size"))?;
    image
        .save_with_format(path, image::ImageFormat::Png)
        .map_err(|e| Failure::new(Code::OutputUnwritable, format!("{}: {e}", path.display())))
}

/// What to read, and how: everything but the device comes from the caller.
#[derive(Debug)]
pub struct ChipRequest<'a> {
    pub reader: &'a str,
    pub key: AccessKey,
    /// Trusted CSCAs; default: the data directory's `trust/` when it exists.
    pub trust_store: Option<PathBuf>,
    pub short_apdus: bool,
    /// How long to wait for a document on the reader.
    pub wait: Duration,
    /// Stops the read before its next APDU.
    pub cancel: Cancellation,
}

/// A document as read: the raw files and the verdicts on them. The files
/// are personal data; `Debug` shows only their names and sizes.
pub struct ChipRead {
    pub files: BTreeMap<LdsFile, Vec<u8>>,
    pub passive: Verification,
    pub chip: ChipVerification,
    pub access: &'static str,
    /// Why PACE failed, when BAC opened the chip instead.
    pub pace_failure: Option<String>,
    pub trust_dir: Option<PathBuf>,
    pub apdus: u64,
    pub bytes_read: u64,
    /// How READ BINARY was sized, with every fall-back.
    pub chunks: ChunkReport,
    /// What chose the first chunk size: `--short-apdus`, `learned` (an
    /// earlier read on this reader), `reader` (its capabilities) or
    /// `default` (extended length).
    pub chunk_choice: &'static str,
    pub capabilities: Capabilities,
    pub millis: u64,
}

impl std::fmt::Debug for ChipRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sizes: Vec<(String, usize)> = self
            .files
            .iter()
            .map(|(k, v)| (k.name(), v.len()))
            .collect();
        f.debug_struct("ChipRead")
            .field("files", &sizes)
            .field("passive", &self.passive.verdict)
            .field("active", &self.chip.active.verdict)
            .field("chip", &self.chip.chip.verdict)
            .finish_non_exhaustive()
    }
}

impl ChipRead {
    /// The document's MRZ data (and national name), for display.
    pub fn document(&self) -> Result<DocumentData, Failure> {
        document(&self.files)
    }
}

/// The first chunk size: what the caller asked for, what this reader
/// taught an earlier read, what the reader and card say, or extended.
fn chunk_options(
    short_apdus: bool,
    learned: Option<LearnedLimit>,
    capabilities: &Capabilities,
) -> (ReadOptions, &'static str) {
    if short_apdus {
        return (ReadOptions::default(), "--short-apdus");
    }
    if let Some(learned) = learned {
        let options = ReadOptions {
            max_le: learned.max_le,
            ..ReadOptions::default()
        };
        return (options, "learned");
    }
    match (capabilities.extended_length(), capabilities.max_apdu) {
        (Some(false), _) => (ReadOptions::default(), "reader"),
        (_, Some(max_apdu)) => (ReadOptions::within(max_apdu), "reader"),
        _ => (ReadOptions::extended(), "default"),
    }
}

/// Opens the chip in `request.reader`, reads every file it lists and
/// checks the document (Passive, Active and Chip Authentication), telling
/// `progress` about every chunk read. Blocks. A reader that made the read
/// step down to smaller chunks is remembered for the process.
pub fn read_chip(
    request: &ChipRequest<'_>,
    paths: &StationPaths,
    progress: &mut dyn FnMut(ChipProgress),
) -> Result<ChipRead, Failure> {
    let (trust, trust_dir) = trust_store(request.trust_store.as_deref(), paths)?;
    let readers = Readers::establish().map_err(reader_failure)?;
    let started = Instant::now();
    let mut channel = connect(&readers, request.reader, request.wait, &request.cancel)?;
    let capabilities = channel.capabilities();
    let limits = ReaderLimits::session();
    let (options, chunk_choice) = chunk_options(
        request.short_apdus,
        limits.get(request.reader),
        &capabilities,
    );
    let mut rng = emrtd::rand_core::OsRng;
    let gone = || card_gone(&readers, request.reader);
    let cancel = &request.cancel;
    let mut channel = cancel.channel(&mut channel);
    let reader = Reader::open(&mut channel, &request.key, options, &mut rng);
    let mut reader = cancel.outcome(
        "the chip read",
        reader.map_err(|e| chip_failure(e, Stage::Access, gone)),
    )?;
    let files = reader.read_document(&mut |p| {
        tracing::debug!(file = %p.file.name(), read = p.read, total = p.total, "reading");
        progress(ChipProgress {
            file: p.file.name(),
            read: p.read,
            total: p.total,
        });
    });
    let chunks = reader.chunks().clone();
    // A cancelled read's step-downs say nothing about the reader.
    if !chunks.fallbacks.is_empty() && !cancel.is_cancelled() {
        limits.remember(
            request.reader,
            LearnedLimit {
                extended_length: chunks.extended_length(),
                max_le: chunks.current,
            },
        );
    }
    let files = cancel.outcome(
        "the chip read",
        files.map_err(|e| chip_failure(e, Stage::Reading, gone)),
    )?;
    let passive = emrtd::passive::verify(&files, &trust, SystemTime::now());
    let chip = reader
        .verify_chip(&files, &mut rng)
        .map_err(|e| chip_failure(e, Stage::Reading, gone));
    let chip = cancel.outcome("the chip read", chip)?;
    let counters = reader.counters();
    let access = reader.access().name();
    let pace_failure = reader.pace_failure().map(str::to_owned);
    let millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    drop(reader);
    drop(channel);
    Ok(ChipRead {
        files,
        passive,
        chip,
        access,
        pace_failure,
        trust_dir,
        apdus: counters.apdus,
        bytes_read: counters.bytes_read,
        chunks,
        chunk_choice,
        capabilities,
        millis,
    })
}

/// One progress line on standard error (stdout keeps its one object).
fn report_progress(p: &ChipProgress) {
    use std::io::Write;
    let line = json!({ "progress": p });
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// Reads and checks the document in `args.reader`.
pub fn run(args: &ReadArgs, paths: &StationPaths) -> Result<Value, Failure> {
    let chip = &args.chip;
    let reader = chip
        .reader
        .as_deref()
        .ok_or_else(|| Failure::new(Code::InvalidArgument, "give --reader"))?;
    let key = parse_access_key(chip.mrz.as_deref(), chip.can.as_deref())?;
    let request = ChipRequest {
        reader,
        key,
        trust_store: chip.trust_store.clone(),
        short_apdus: chip.short_apdus,
        wait: chip.wait()?,
        cancel: Cancellation::new(),
    };
    let mut progress = |p: ChipProgress| {
        if args.progress {
            report_progress(&p);
        }
    };
    let read = read_chip(&request, paths, &mut progress)?;
    let files = &read.files;
    let portrait = files
        .get(&LdsFile::Dg(2))
        .map(|dg2| Portrait::parse_dg2(dg2));
    let photo = match &portrait {
        Some(Ok(p)) => {
            json!({ "format": p.format.name(), "width": p.width, "height": p.height, "bytes": p.image.len() })
        }
        Some(Err(e)) => json!({ "error": e.to_string() }),
        None => Value::Null,
    };
    if let Some(out) = &args.photo_out {
        match &portrait {
            Some(Ok(p)) => write_png(p, out)?,
            Some(Err(e)) => return Err(Failure::new(Code::PortraitUnreadable, e)),
            None => {
                return Err(Failure::new(
                    Code::PortraitUnreadable,
                    "the chip has no DG2",
                ));
            }
        }
    }
    Ok(json!({
        "reader": reader,
        "document": document(files)?,
        "access": read.access,
        "pace_failure": read.pace_failure,
        "files": files.keys().map(|f| f.name()).collect::<Vec<_>>(),
        "verification": {
            "passive": read.passive,
            "active": read.chip.active,
            "chip": read.chip.chip,
        },
        "trust_store": read.trust_dir,
        "photo": photo,
        "apdus": read.apdus,
        "bytes_read": read.bytes_read,
        "extended_length": read.chunks.extended_length(),
        "chunk": {
            "size": read.chunks.current,
            "initial": read.chunks.initial,
            "chosen_by": read.chunk_choice,
            "fallbacks": read.chunks.fallbacks,
        },
        "reader_capabilities": read.capabilities,
        "millis": read.millis,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_chunk_size_follows_flag_memory_reader_then_default() {
        let unknown = Capabilities {
            max_apdu: None,
            card_extended_length: None,
        };
        let short_reader = Capabilities {
            max_apdu: Some(261),
            card_extended_length: None,
        };
        let big_reader = Capabilities {
            max_apdu: Some(2048),
            card_extended_length: Some(true),
        };
        let learned = LearnedLimit {
            extended_length: false,
            max_le: 128,
        };
        let choose = |short, learned, caps: &Capabilities| {
            let (options, by) = chunk_options(short, learned, caps);
            (options.max_le, by)
        };
        assert_eq!(
            choose(true, Some(learned), &big_reader),
            (emrtd::reader::SHORT_MAX_LE, "--short-apdus")
        );
        assert_eq!(choose(false, Some(learned), &big_reader), (128, "learned"));
        assert_eq!(
            choose(false, None, &short_reader),
            (emrtd::reader::SHORT_MAX_LE, "reader")
        );
        assert_eq!(
            choose(false, None, &big_reader),
            (2048 - emrtd::reader::SM_RESPONSE_OVERHEAD, "reader")
        );
        assert_eq!(
            choose(false, None, &unknown),
            (emrtd::reader::EXTENDED_MAX_LE, "default")
        );
    }
}
