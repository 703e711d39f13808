//! The terminal side: open a chip over a [`CardChannel`] (PACE when
//! EF.CardAccess offers it, else BAC), then read files under secure
//! messaging, each byte fetched once; then prove the chip genuine with
//! Active and Chip Authentication.

use crate::aa;
use crate::access::AccessKey;
use crate::bac::{self, BacKeys};
use crate::crypto::CipherAlgorithm;
use crate::error::Error;
use crate::keys::PublicKey;
use crate::lds::{EMRTD_AID, LdsFile};
use crate::pace::{PaceInfo, terminal};
use crate::security_info::SecurityInfos;
use crate::sm::SecureMessaging;
use crate::tlv::{self, TlvError};
use crate::verification::Verification;
use card::{CardChannel, CommandApdu, ResponseApdu, StatusWord, TransmitError};
use rand_core::{CryptoRng, RngCore};
use std::collections::BTreeMap;

/// Largest Le of a short READ BINARY that leaves room for SM overhead in a
/// 256-byte response (ICAO 9303-10 recommends 0xDF).
pub const SHORT_MAX_LE: usize = 0xDF;
/// Largest extended Le whose protected response still fits a 65535-byte
/// frame (vpcd and many readers cap responses there).
pub const EXTENDED_MAX_LE: usize = 0xFE00;
/// The chunk sizes a refused READ BINARY steps down through: short APDUs
/// first, then smaller Le for chips that break on large ones.
const FALLBACK_LE: [usize; 3] = [SHORT_MAX_LE, 0x80, 0x40];
/// Offsets above this need READ BINARY with odd INS (B1).
const MAX_EVEN_OFFSET: usize = 0x7FFF;
/// The first read of a file: enough for a TLV tag and a 3-byte length.
const HEADER_PROBE: usize = 4;

const END_OF_FILE: StatusWord = StatusWord(0x6282);

/// How the reader opens and reads a chip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// Largest Le per READ BINARY: [`SHORT_MAX_LE`] for short APDUs, up to
    /// [`EXTENDED_MAX_LE`] when the reader takes extended length.
    pub max_le: usize,
    /// Try PACE when EF.CardAccess offers it.
    pub prefer_pace: bool,
    /// Files larger than this are refused (a hostile chip must not make us
    /// allocate without bound).
    pub max_file_len: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            max_le: SHORT_MAX_LE,
            prefer_pace: true,
            max_file_len: 1 << 24,
        }
    }
}

/// What secure messaging adds around READ BINARY data: DO'87' (header,
/// padding indicator, up to a block of padding), DO'99', DO'8E' and the
/// status word.
pub const SM_RESPONSE_OVERHEAD: usize = 4 + 1 + 16 + 4 + 10 + 2;

impl ReadOptions {
    pub fn extended() -> Self {
        Self {
            max_le: EXTENDED_MAX_LE,
            ..Self::default()
        }
    }

    /// Extended length, in chunks whose protected responses fit in
    /// `max_apdu` bytes; short APDUs when no chunk larger than a short
    /// APDU's fits (a Le up to 256 is a short APDU, whose protected
    /// response holds [`SHORT_MAX_LE`] bytes at most).
    pub fn within(max_apdu: usize) -> Self {
        let room = max_apdu.saturating_sub(SM_RESPONSE_OVERHEAD);
        Self {
            max_le: if room > card::apdu::SHORT_LE_MAX {
                room.min(EXTENDED_MAX_LE)
            } else {
                SHORT_MAX_LE
            },
            ..Self::default()
        }
    }
}

/// How access was gained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessMethod {
    Bac,
    Pace(PaceInfo),
}

impl AccessMethod {
    /// `BAC` or e.g. `PACE-ECDH-GM-AES-128`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Bac => "BAC",
            Self::Pace(info) => info.protocol.name(),
        }
    }
}

/// What crossed the wire so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Command APDUs sent (GET RESPONSE included).
    pub apdus: u64,
    /// File content bytes read.
    pub bytes_read: u64,
}

/// One step down of the chunk size during a session.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChunkFallback {
    /// The Le that failed.
    pub from: usize,
    pub to: usize,
    /// What happened, e.g. `the reader refused the command: …`.
    pub cause: String,
}

/// How READ BINARY was sized over a session: the Le asked for first, the
/// Le in use now, and every step between.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChunkReport {
    pub initial: usize,
    pub current: usize,
    pub fallbacks: Vec<ChunkFallback>,
}

impl ChunkReport {
    /// Whether the chunks in use need extended-length APDUs.
    pub fn extended_length(&self) -> bool {
        self.current > SHORT_MAX_LE
    }
}

/// How a refused READ BINARY is undone before a smaller one is tried.
enum Refusal {
    /// The chip answered under secure messaging: the counters agree.
    InSession,
    /// The reader refused the protected command; only the command's
    /// increment of the send sequence counter is taken back.
    NotSent,
    /// Answered in the clear (by the reader, or the chip without reading
    /// it): both increments are taken back.
    Unprotected,
}

/// Whether a failed READ BINARY of `want` bytes may pass with a smaller
/// Le, and how to undo it: 6700 (wrong length), 6Cxx, the reader refusing
/// it, or any transport failure of an extended-length read (a CCID reader
/// without extended length fails it as it would fail a pulled card; if the
/// card is gone, the short read fails too and that error stands).
fn refusal(error: &Error, want: usize) -> Option<(Refusal, String)> {
    let length_status = |sw: StatusWord| sw == StatusWord::WRONG_LENGTH || sw.sw1() == 0x6C;
    match error {
        Error::Status { sw, .. } if length_status(*sw) => {
            Some((Refusal::InSession, format!("the chip answered {sw}")))
        }
        Error::SecureMessaging(crate::sm::SmError::Refused(sw)) if length_status(*sw) => Some((
            Refusal::Unprotected,
            format!("{sw} came back outside secure messaging"),
        )),
        Error::Transmit(e @ TransmitError::Rejected(_)) => Some((Refusal::NotSent, e.to_string())),
        Error::Transmit(e @ TransmitError::Transport(_)) if want > SHORT_MAX_LE => {
            Some((Refusal::NotSent, e.to_string()))
        }
        _ => None,
    }
}

/// The next smaller chunk size below `le`, if any is left.
fn smaller_le(le: usize) -> Option<usize> {
    FALLBACK_LE.into_iter().find(|candidate| *candidate < le)
}

/// Progress of one file read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub file: LdsFile,
    pub read: usize,
    pub total: usize,
}

/// The verdicts of the chip checks.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChipVerification {
    /// Active Authentication against DG15's key.
    pub active: Verification,
    /// Chip Authentication against DG14's key.
    pub chip: Verification,
}

/// Counts APDUs on the way through.
struct Counting<'a, C: ?Sized> {
    inner: &'a mut C,
    apdus: u64,
}

impl<C: CardChannel + ?Sized> CardChannel for Counting<'_, C> {
    fn transmit_raw(&mut self, command: &[u8]) -> Result<Vec<u8>, TransmitError> {
        self.apdus += 1;
        self.inner.transmit_raw(command)
    }
}

/// An open, authenticated connection to an eMRTD chip.
pub struct Reader<'a, C: CardChannel + ?Sized> {
    channel: Counting<'a, C>,
    sm: SecureMessaging,
    access: AccessMethod,
    options: ReadOptions,
    card_access: Option<Vec<u8>>,
    /// Why PACE failed when BAC opened the chip instead.
    pace_failure: Option<String>,
    bytes_read: u64,
    chunks: ChunkReport,
}

impl<C: CardChannel + ?Sized> std::fmt::Debug for Reader<'_, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("access", &self.access)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

fn expect_success(response: &ResponseApdu, command: &'static str) -> Result<(), Error> {
    if response.sw.is_success() {
        Ok(())
    } else {
        Err(Error::Status {
            command,
            sw: response.sw,
        })
    }
}

/// Whether BAC may be tried after PACE failed this way: not when the key
/// was wrong (63xx, a wrong token: BAC would only count another failure),
/// the chip blocked it (6983), or the transport failed.
fn bac_may_follow(error: &Error) -> bool {
    match error {
        Error::Transmit(_) | Error::Pace(crate::pace::PaceError::TokenMismatch) => false,
        Error::Status { sw, .. } => sw.sw1() != 0x63 && *sw != StatusWord::AUTHENTICATION_BLOCKED,
        _ => true,
    }
}

fn select_application() -> CommandApdu {
    CommandApdu::new(0x00, 0xA4, 0x04, 0x0C).with_data(EMRTD_AID.to_vec())
}

/// Reads EF.CardAccess in the clear from the master file: READ BINARY with
/// its short file identifier, first the header, then the rest.
fn read_card_access<C: CardChannel + ?Sized>(
    channel: &mut C,
    options: &ReadOptions,
) -> Result<Option<Vec<u8>>, Error> {
    let mut plain = |offset: usize, le: usize| -> Result<ResponseApdu, Error> {
        let command = if offset == 0 {
            CommandApdu::new(0x00, 0xB0, 0x80 | LdsFile::CardAccess.sfi(), 0).with_le(le)
        } else {
            CommandApdu::new(0x00, 0xB0, (offset >> 8) as u8, offset as u8).with_le(le)
        };
        Ok(channel.transmit(&command)?)
    };
    let first = plain(0, HEADER_PROBE)?;
    if !(first.sw.is_success() || first.sw == END_OF_FILE) {
        // No EF.CardAccess: the chip does not do PACE.
        return Ok(None);
    }
    let Ok(header) = tlv::parse_header(&first.data) else {
        // Unreadable: PACE cannot be keyed from it, so fall back to BAC.
        return Ok(None);
    };
    let total = header.total_len().min(options.max_file_len);
    let mut content = first.data;
    while content.len() < total && content.len() <= MAX_EVEN_OFFSET {
        // EF.CardAccess is small: short APDUs cost nothing here and pass
        // every reader.
        let want = (total - content.len()).min(options.max_le.min(SHORT_MAX_LE));
        let next = plain(content.len(), want)?;
        if next.data.is_empty() || !(next.sw.is_success() || next.sw == END_OF_FILE) {
            break;
        }
        content.extend_from_slice(&next.data);
    }
    content.truncate(total);
    Ok(Some(content))
}

impl<'a, C: CardChannel + ?Sized> Reader<'a, C> {
    /// Opens the chip: PACE if EF.CardAccess offers a supported variant
    /// (and `options.prefer_pace`), otherwise BAC; then selects the eMRTD
    /// application under secure messaging.
    pub fn open<R: RngCore + CryptoRng>(
        channel: &'a mut C,
        key: &AccessKey,
        options: ReadOptions,
        rng: &mut R,
    ) -> Result<Self, Error> {
        let mut channel = Counting {
            inner: channel,
            apdus: 0,
        };
        let card_access = if options.prefer_pace {
            read_card_access(&mut channel, &options)?
        } else {
            None
        };
        let pace = card_access
            .as_deref()
            .and_then(|ca| PaceInfo::parse_card_access(ca).ok())
            .and_then(|infos| infos.first().copied());
        let mut pace_failure = None;
        let pace_session = match pace {
            Some(info) => match terminal::establish(&mut channel, info, key, rng) {
                Ok(sm) => Some((sm, info)),
                // ICAO 9303-11 §4.2: a terminal may fall back to BAC when
                // PACE fails, if it holds the MRZ.
                Err(e) if bac_may_follow(&e) && key.bac_key_seed().is_some() => {
                    tracing::info!("PACE failed ({e}); falling back to BAC");
                    pace_failure = Some(e.to_string());
                    None
                }
                Err(e) => return Err(e),
            },
            None => None,
        };
        let (sm, access) = match pace_session {
            Some((sm, info)) => (sm, AccessMethod::Pace(info)),
            None => {
                let seed = key
                    .bac_key_seed()
                    .ok_or(Error::WrongKeyKind("BAC (it needs the MRZ, not the CAN)"))?;
                let response = channel.transmit(&select_application())?;
                expect_success(&response, "SELECT eMRTD application")?;
                let sm =
                    bac::authenticate(&mut channel, &BacKeys::from_seed(seed.as_slice()), rng)?;
                (sm, AccessMethod::Bac)
            }
        };
        let mut reader = Self {
            channel,
            sm,
            access,
            options,
            card_access,
            pace_failure,
            bytes_read: 0,
            chunks: ChunkReport {
                initial: options.max_le,
                current: options.max_le,
                fallbacks: Vec::new(),
            },
        };
        if matches!(access, AccessMethod::Pace(_)) {
            let response = reader.exchange(&select_application())?;
            expect_success(&response, "SELECT eMRTD application")?;
        }
        Ok(reader)
    }

    /// The largest Le in use (lower than asked after a fall-back).
    pub fn max_le(&self) -> usize {
        self.options.max_le
    }

    /// How READ BINARY was sized so far, with every fall-back.
    pub fn chunks(&self) -> &ChunkReport {
        &self.chunks
    }

    /// Uses chunks of at most `to` bytes from now on.
    fn step_down(&mut self, from: usize, to: usize, cause: String) {
        tracing::debug!(from, to, %cause, "READ BINARY chunk size reduced");
        self.options.max_le = to;
        self.chunks.current = to;
        self.chunks
            .fallbacks
            .push(ChunkFallback { from, to, cause });
    }

    pub fn access(&self) -> AccessMethod {
        self.access
    }

    /// Why PACE failed, when the chip offered it and BAC opened it instead.
    pub fn pace_failure(&self) -> Option<&str> {
        self.pace_failure.as_deref()
    }

    pub fn counters(&self) -> Counters {
        Counters {
            apdus: self.channel.apdus,
            bytes_read: self.bytes_read,
        }
    }

    /// EF.CardAccess as read before PACE, if the chip has one.
    pub fn card_access(&self) -> Option<&[u8]> {
        self.card_access.as_deref()
    }

    /// One command under secure messaging.
    fn exchange(&mut self, command: &CommandApdu) -> Result<ResponseApdu, Error> {
        tracing::debug!(
            cla = command.cla,
            ins = command.ins,
            p1 = command.p1,
            p2 = command.p2,
            "protected command"
        );
        let protected = self.sm.protect_command(command)?;
        let response = self.channel.transmit(&protected)?;
        Ok(self.sm.unprotect_response(&response)?)
    }

    /// READ BINARY of `len` bytes at `offset`: even INS up to offset 32767,
    /// odd INS with DO'54' beyond.
    fn read_chunk(&mut self, offset: usize, len: usize) -> Result<Vec<u8>, Error> {
        let command = if offset > MAX_EVEN_OFFSET {
            let offset_bytes = (offset as u32).to_be_bytes();
            let skip = offset_bytes.iter().take(3).take_while(|b| **b == 0).count();
            let data = tlv::encode(0x54, offset_bytes.get(skip..).unwrap_or_default());
            // Le covers the DO'53' header around the data.
            CommandApdu::new(0x00, 0xB1, 0x00, 0x00)
                .with_data(data)
                .with_le(len + 4)
        } else {
            CommandApdu::new(0x00, 0xB0, (offset >> 8) as u8, offset as u8).with_le(len)
        };
        let response = self.exchange(&command)?;
        if !(response.sw.is_success() || response.sw == END_OF_FILE) {
            return Err(Error::Status {
                command: "READ BINARY",
                sw: response.sw,
            });
        }
        let data = if command.ins == 0xB1 {
            tlv::expect(&response.data, 0x53)?.value.to_vec()
        } else {
            response.data
        };
        if data.is_empty() {
            return Err(Error::MalformedResponse {
                command: "READ BINARY",
            });
        }
        Ok(data)
    }

    /// Reads a whole file: SELECT, its TLV header first, then the rest in
    /// chunks of at most `max_le`. Returns `Ok(None)` when the chip has no
    /// such file.
    pub fn read_file(
        &mut self,
        file: LdsFile,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Option<Vec<u8>>, Error> {
        if file == LdsFile::CardAccess {
            return Ok(self.card_access.clone());
        }
        let select =
            CommandApdu::new(0x00, 0xA4, 0x02, 0x0C).with_data(file.fid().to_be_bytes().to_vec());
        let response = self.exchange(&select)?;
        if response.sw == StatusWord::FILE_NOT_FOUND {
            return Ok(None);
        }
        expect_success(&response, "SELECT file")?;
        let mut content = self.read_chunk(0, HEADER_PROBE)?;
        let header = match tlv::parse_header(&content) {
            Err(TlvError::TruncatedLength) if content.len() < 6 => {
                // A 4-byte length field: fetch the two header bytes missing.
                let more = self.read_chunk(content.len(), 6 - content.len())?;
                content.extend(more);
                tlv::parse_header(&content)?
            }
            other => other?,
        };
        let total = header.total_len();
        if total > self.options.max_file_len {
            return Err(Error::FileTooLarge {
                fid: file.fid(),
                declared: total,
                limit: self.options.max_file_len,
            });
        }
        content.truncate(total);
        content.reserve(total - content.len());
        progress(Progress {
            file,
            read: content.len(),
            total,
        });
        while content.len() < total {
            let want = (total - content.len()).min(self.options.max_le);
            let chunk = match self.read_chunk(content.len(), want) {
                Err(e) => {
                    // A reader without extended length, or a chip that breaks
                    // on large Le: undo the refused command and go on with
                    // smaller chunks for the rest of the session.
                    let (Some((how, cause)), Some(smaller)) = (refusal(&e, want), smaller_le(want))
                    else {
                        return Err(e);
                    };
                    match how {
                        Refusal::InSession => {}
                        Refusal::NotSent => self.sm.rewind(1),
                        Refusal::Unprotected => self.sm.rewind(2),
                    }
                    self.step_down(want, smaller, cause);
                    continue;
                }
                Ok(chunk) => chunk,
            };
            content.extend_from_slice(chunk.get(..want.min(chunk.len())).unwrap_or_default());
            progress(Progress {
                file,
                read: content.len(),
                total,
            });
        }
        self.bytes_read += content.len() as u64;
        Ok(Some(content))
    }

    /// Active Authentication: the chip signs a fresh challenge with the key
    /// whose public half is in DG15 (`dg15`, as read); `dg14` names the
    /// ECDSA hash. `not_supported` without DG15, `invalid` when the
    /// signature does not verify (a copied chip) or the chip refuses.
    pub fn active_authentication<R: RngCore + CryptoRng>(
        &mut self,
        dg15: Option<&[u8]>,
        dg14: Option<&[u8]>,
        rng: &mut R,
    ) -> Result<Verification, Error> {
        let Some(dg15) = dg15 else {
            return Ok(Verification::not_supported(
                "the document has no DG15 (Active Authentication public key)",
            ));
        };
        let key = match tlv::expect(dg15, 0x6F)
            .map_err(crate::keys::KeyError::from)
            .and_then(|t| PublicKey::from_spki(t.value))
        {
            Ok(key) => key,
            Err(e) => return Ok(Verification::invalid(format!("DG15 is unusable: {e}"))),
        };
        let hash = dg14
            .and_then(|d| SecurityInfos::parse(d).ok())
            .and_then(|i| i.active_authentication)
            .map(|a| a.hash);
        let mut challenge = [0u8; aa::CHALLENGE_LEN];
        rng.fill_bytes(&mut challenge);
        let command = CommandApdu::new(0x00, 0x88, 0x00, 0x00)
            .with_data(challenge.to_vec())
            .with_le(card::apdu::SHORT_LE_MAX);
        let response = self.exchange(&command)?;
        if !response.sw.is_success() {
            return Ok(Verification::invalid(format!(
                "the chip refused INTERNAL AUTHENTICATE with status {}",
                response.sw
            ))
            .with_algorithm(key.describe()));
        }
        Ok(match aa::verify(&key, hash, &challenge, &response.data) {
            Ok(algorithm) => Verification::valid(
                "the chip signed a fresh challenge with the private key of DG15",
            )
            .with_algorithm(algorithm),
            Err(reason) => Verification::invalid(reason).with_algorithm(key.describe()),
        })
    }

    /// Chip Authentication v1: key agreement with the chip's static key
    /// from `dg14` (as read), after which secure messaging restarts under
    /// the new keys. `invalid` when the chip cannot continue under them (it
    /// lacks the private key); the session is then unusable and the chip
    /// must be opened again.
    pub fn chip_authentication<R: RngCore + CryptoRng>(
        &mut self,
        dg14: Option<&[u8]>,
        rng: &mut R,
    ) -> Result<Verification, Error> {
        let Some(dg14) = dg14 else {
            return Ok(Verification::not_supported(
                "the document has no DG14 (Chip Authentication key)",
            ));
        };
        let infos = match SecurityInfos::parse(dg14) {
            Ok(infos) => infos,
            Err(e) => return Ok(Verification::invalid(format!("DG14 is unusable: {e}"))),
        };
        let chosen = infos.chip_authentication.iter().find_map(|info| {
            infos
                .chip_authentication_keys
                .iter()
                .find(|k| info.key_id.is_none() || k.key_id == info.key_id)
                .map(|k| (*info, k.clone()))
        });
        let Some((info, public)) = chosen else {
            return Ok(Verification::not_supported(
                "DG14 offers no Chip Authentication with ECDH this reader supports",
            ));
        };
        let PublicKey::Ec { curve, point } = &public.key else {
            return Ok(Verification::not_supported(
                "DG14's Chip Authentication key is not an EC key",
            ));
        };
        let algorithm = format!(
            "ECDH {} {}",
            curve.name(),
            crate::chip::cipher_name(info.cipher)
        );
        let ephemeral = crate::keys::PrivateKey::generate_ec(*curve, rng);
        let PublicKey::Ec {
            point: ephemeral_public,
            ..
        } = ephemeral.public_key()
        else {
            return Err(Error::Point(crate::ec::EcError::InvalidPoint));
        };
        let key_id = info.key_id.or(public.key_id);
        let response = if info.cipher == CipherAlgorithm::Tdes {
            let data = crate::ca::set_kat_data(&ephemeral_public, key_id);
            self.exchange(&CommandApdu::new(0x00, 0x22, 0x41, 0xA6).with_data(data))?
        } else {
            let data = crate::ca::set_at_data(&info.oid(), key_id);
            let response =
                self.exchange(&CommandApdu::new(0x00, 0x22, 0x41, 0xA4).with_data(data))?;
            if response.sw.is_success() {
                let data = crate::pace::auth_data(0x80, &ephemeral_public);
                self.exchange(
                    &CommandApdu::new(0x00, 0x86, 0x00, 0x00)
                        .with_data(data)
                        .with_le(card::apdu::SHORT_LE_MAX),
                )?
            } else {
                response
            }
        };
        if !response.sw.is_success() {
            return Ok(Verification::invalid(format!(
                "the chip refused Chip Authentication with status {}",
                response.sw
            ))
            .with_algorithm(algorithm));
        }
        self.sm = crate::ca::derive_session(&ephemeral, info.cipher, point)?;
        // The chip proves the key by answering under the new session.
        let probe = CommandApdu::new(0x00, 0xA4, 0x02, 0x0C)
            .with_data(LdsFile::Com.fid().to_be_bytes().to_vec());
        Ok(match self.exchange(&probe) {
            Ok(_) => Verification::valid(
                "the chip continued secure messaging under keys agreed with DG14's key",
            )
            .with_algorithm(algorithm),
            Err(Error::SecureMessaging(e)) => Verification::invalid(format!(
                "the chip did not prove the private key of DG14: {e}"
            ))
            .with_algorithm(algorithm),
            Err(e) => return Err(e),
        })
    }

    /// Active Authentication, then Chip Authentication (so a failed CA,
    /// which ends the session, does not hide AA's verdict), on the files
    /// read by [`Reader::read_document`].
    pub fn verify_chip<R: RngCore + CryptoRng>(
        &mut self,
        files: &BTreeMap<LdsFile, Vec<u8>>,
        rng: &mut R,
    ) -> Result<ChipVerification, Error> {
        let dg14 = files.get(&LdsFile::Dg(14)).map(Vec::as_slice);
        let dg15 = files.get(&LdsFile::Dg(15)).map(Vec::as_slice);
        let active = self.active_authentication(dg15, dg14, rng)?;
        let chip = self.chip_authentication(dg14, rng)?;
        Ok(ChipVerification { active, chip })
    }

    /// Reads the document: EF.COM, the data groups it lists (so absent
    /// groups cost no APDU) and EF.SOD; EF.CardAccess is included when the
    /// chip has one. `progress` sees every file's progress.
    pub fn read_document(
        &mut self,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<BTreeMap<LdsFile, Vec<u8>>, Error> {
        let mut files = BTreeMap::new();
        if let Some(card_access) = self.card_access.clone() {
            // Read in the clear before access control; reported here so
            // every file of the document shows progress.
            progress(Progress {
                file: LdsFile::CardAccess,
                read: card_access.len(),
                total: card_access.len(),
            });
            files.insert(LdsFile::CardAccess, card_access);
        }
        let Some(com) = self.read_file(LdsFile::Com, progress)? else {
            return Err(Error::Status {
                command: "SELECT EF.COM",
                sw: StatusWord::FILE_NOT_FOUND,
            });
        };
        let groups = crate::lds::parse_com(&com)?;
        files.insert(LdsFile::Com, com);
        for file in groups.into_iter().chain([LdsFile::Sod]) {
            if let Some(bytes) = self.read_file(file, progress)? {
                files.insert(file, bytes);
            }
        }
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_fit_the_readers_buffer() {
        // A short-APDU reader (261 bytes) and one a little larger: short.
        assert_eq!(ReadOptions::within(261).max_le, SHORT_MAX_LE);
        assert_eq!(ReadOptions::within(271).max_le, SHORT_MAX_LE);
        // An extended-length reader's buffer, less the SM overhead.
        assert_eq!(
            ReadOptions::within(1024).max_le,
            1024 - SM_RESPONSE_OVERHEAD
        );
        assert_eq!(ReadOptions::within(1 << 20).max_le, EXTENDED_MAX_LE);
        assert_eq!(smaller_le(EXTENDED_MAX_LE), Some(SHORT_MAX_LE));
        assert_eq!(smaller_le(SHORT_MAX_LE), Some(0x80));
        assert_eq!(smaller_le(0x40), None);
    }
}
