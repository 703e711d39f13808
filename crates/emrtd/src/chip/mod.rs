//! The chip side: an eMRTD application with its file system, BAC, PACE and
//! secure messaging, behind [`card::VirtualCard`] so it can sit in a real
//! (virtual) reader or in memory.

mod profile;

pub use profile::{
    KeySettings, MAX_FILE_LEN, PaceSettings, Profile, ProfileError, ProfileSettings, SETTINGS_FILE,
    cipher_from_name, cipher_name,
};

use crate::aa::{AaKey, CHALLENGE_LEN};
use crate::access::{AccessKey, Can, MrzKey, PasswordKind};
use crate::bac::{self, BacKeys, CRYPTOGRAM_LEN};
use crate::ca::CaKey;
use crate::lds::{self, EMRTD_AID, LdsFile};
use crate::pace::PaceInfo;
use crate::pace::chip::{PaceChip, PaceRefusal, PaceStep};
use crate::sm::SecureMessaging;
use crate::tlv;
use card::{CardChannel, CommandApdu, ResponseApdu, StatusWord, TransmitError, VirtualCard};
use rand_core::{CryptoRng, OsRng, RngCore};
use std::time::Duration;

/// Source of the chip's challenges, nonces and keys.
pub trait ChipRng: RngCore + CryptoRng + Send {}
impl<T: RngCore + CryptoRng + Send> ChipRng for T {}

/// How the chip answers repeated failed authentications: like real cards,
/// it first slows down and then blocks for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptPolicy {
    /// Failures after which every further attempt is delayed.
    pub delay_after: u32,
    pub delay: Duration,
    /// Failures after which authentication is refused with 6983.
    pub block_after: Option<u32>,
}

impl Default for AttemptPolicy {
    fn default() -> Self {
        Self {
            delay_after: 3,
            delay: Duration::from_millis(500),
            block_after: Some(10),
        }
    }
}

/// Everything that makes one virtual document.
#[derive(Debug, Clone)]
pub struct ChipConfig {
    pub profile: Profile,
    /// Keys BAC and PACE-with-MRZ.
    pub mrz_key: Option<MrzKey>,
    /// Keys PACE-with-CAN.
    pub can: Option<Can>,
    pub bac: bool,
    /// The PACE variants offered in EF.CardAccess (empty: no PACE).
    pub pace: Vec<PaceInfo>,
    pub attempts: AttemptPolicy,
    pub atr: Vec<u8>,
    /// Whether the chip takes extended-length APDUs; without, it answers
    /// them with 6700 (inside secure messaging, so the session survives).
    pub extended_length: bool,
    /// The largest Le READ BINARY takes; above it the chip answers 6700,
    /// like chips whose buffers are smaller than the APDU allows.
    pub max_read_le: Option<usize>,
    /// Answers INTERNAL AUTHENTICATE (its public key belongs in DG15).
    pub active_authentication: Option<AaKey>,
    /// Runs Chip Authentication (its public key belongs in DG14).
    pub chip_authentication: Option<CaKey>,
}

/// Why a chip configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ChipConfigError {
    #[error("the profile has no DG1 to take the MRZ key from")]
    NoDg1,
    #[error(transparent)]
    Dg1(#[from] lds::Dg1Error),
}

/// An ATR of a contactless ICAO chip as PC/SC reports it (PC/SC part 3).
pub const DEFAULT_ATR: [u8; 20] = [
    0x3B, 0x8F, 0x80, 0x01, 0x80, 0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x03, 0x06, 0x11, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
];

impl ChipConfig {
    /// A chip keyed from the MRZ in the profile's DG1 (BAC unless the
    /// profile turns it off); PACE is offered too when the profile carries
    /// an EF.CardAccess with PACEInfos. The profile's CAN and chip keys are
    /// taken over.
    pub fn from_profile(profile: Profile) -> Result<Self, ChipConfigError> {
        let dg1 = profile.get(LdsFile::Dg(1)).ok_or(ChipConfigError::NoDg1)?;
        let mrz = lds::parse_dg1(dg1)?;
        let pace = profile
            .get(LdsFile::CardAccess)
            .and_then(|ca| PaceInfo::parse_card_access(ca).ok())
            .unwrap_or_default();
        Ok(Self {
            mrz_key: Some(MrzKey::from(&mrz)),
            can: profile.can().cloned(),
            bac: profile.bac(),
            active_authentication: profile.active_authentication().cloned(),
            chip_authentication: profile.chip_authentication().cloned(),
            profile,
            pace,
            attempts: AttemptPolicy::default(),
            atr: DEFAULT_ATR.to_vec(),
            extended_length: true,
            max_read_le: None,
        })
    }

    /// Offers PACE with these variants; EF.CardAccess is generated from them
    /// unless the profile has its own.
    pub fn with_pace(mut self, infos: Vec<PaceInfo>) -> Self {
        self.pace = infos;
        self
    }

    pub fn with_can(mut self, can: Can) -> Self {
        self.can = Some(can);
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Selected {
    MasterFile,
    Application,
}

enum Access {
    None,
    Bac(SecureMessaging),
    Pace(SecureMessaging),
    /// Restarted by Chip Authentication.
    Ca(SecureMessaging),
}

/// A virtual eMRTD chip.
pub struct VirtualChip {
    config: ChipConfig,
    card_access: Option<Vec<u8>>,
    rng: Box<dyn ChipRng>,
    selected: Selected,
    current: Option<LdsFile>,
    challenge: Option<[u8; 8]>,
    access: Access,
    /// Bumped whenever `access` changes, so a response is never protected
    /// with a session other than the one its command came in.
    generation: u64,
    pace: PaceChip,
    /// MSE:Set AT chose Chip Authentication: the next GENERAL AUTHENTICATE
    /// carries the terminal's ephemeral key.
    ca_selected: bool,
    /// The session Chip Authentication established, taken up once the
    /// answer has gone out under the old one.
    pending: Option<SecureMessaging>,
    failures: u32,
}

impl std::fmt::Debug for VirtualChip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualChip")
            .field("profile", &self.config.profile)
            .field("selected", &self.selected)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

fn status(sw: StatusWord) -> ResponseApdu {
    ResponseApdu::status(sw)
}

const AUTH_FAILED: StatusWord = StatusWord(0x6300);
const NO_CURRENT_EF: StatusWord = StatusWord(0x6986);
const REFERENCE_NOT_FOUND: StatusWord = StatusWord(0x6A88);

impl VirtualChip {
    pub fn new(config: ChipConfig) -> Self {
        Self::with_rng(config, Box::new(OsRng))
    }

    /// A chip whose randomness comes from `rng` (fixed in tests).
    pub fn with_rng(config: ChipConfig, rng: Box<dyn ChipRng>) -> Self {
        let card_access = config
            .profile
            .get(LdsFile::CardAccess)
            .map(<[u8]>::to_vec)
            .or_else(|| (!config.pace.is_empty()).then(|| PaceInfo::card_access(&config.pace)));
        let pace = PaceChip::new(config.pace.clone());
        Self {
            config,
            card_access,
            rng,
            selected: Selected::MasterFile,
            current: None,
            challenge: None,
            access: Access::None,
            generation: 0,
            pace,
            ca_selected: false,
            pending: None,
            failures: 0,
        }
    }

    /// Failed authentications so far (kept across resets, like a card's
    /// retry counter in EEPROM).
    pub fn failed_attempts(&self) -> u32 {
        self.failures
    }

    /// Whether a BAC or PACE session is open.
    pub fn is_authenticated(&self) -> bool {
        !matches!(self.access, Access::None)
    }

    fn session(&mut self) -> Option<&mut SecureMessaging> {
        match &mut self.access {
            Access::Bac(sm) | Access::Pace(sm) | Access::Ca(sm) => Some(sm),
            Access::None => None,
        }
    }

    fn set_access(&mut self, access: Access) {
        self.access = access;
        self.generation = self.generation.wrapping_add(1);
    }

    fn end_session(&mut self) {
        self.set_access(Access::None);
        self.challenge = None;
        self.pace.reset();
        self.ca_selected = false;
        self.pending = None;
    }

    fn handle(&mut self, raw: &[u8]) -> ResponseApdu {
        let Ok(command) = CommandApdu::parse(raw) else {
            return status(StatusWord::WRONG_LENGTH);
        };
        tracing::debug!(
            cla = command.cla,
            ins = command.ins,
            p1 = command.p1,
            p2 = command.p2,
            "chip command"
        );
        // Bits 1-2 are the logical channel and bits 3-4 secure messaging;
        // bit 5 is command chaining, which only PACE uses.
        if command.cla & 0xE3 != 0 {
            return status(StatusWord::CLA_NOT_SUPPORTED);
        }
        if command.cla & 0x0C != 0 {
            let Some(sm) = self.session() else {
                return status(StatusWord::SM_DATA_OBJECTS_INCORRECT);
            };
            let plain = match sm.unprotect_command(&command) {
                Ok(plain) => plain,
                Err(_) => {
                    // A wrong MAC or malformed SM objects end the session:
                    // the terminal must authenticate again.
                    self.end_session();
                    return status(StatusWord::SM_DATA_OBJECTS_INCORRECT);
                }
            };
            let generation = self.generation;
            let response = if command.is_extended() && !self.config.extended_length {
                status(StatusWord::WRONG_LENGTH)
            } else {
                self.dispatch(&plain)
            };
            if self.generation != generation {
                // The command replaced or ended the session (a new
                // authentication): its answer goes out in the clear.
                return response;
            }
            let protected = match self.session() {
                Some(sm) => sm
                    .protect_response(&response)
                    .unwrap_or_else(|_| status(StatusWord::UNKNOWN)),
                None => response,
            };
            if let Some(next) = self.pending.take() {
                self.set_access(Access::Ca(next));
            }
            return protected;
        }
        if self.is_authenticated() {
            // A plain command aborts secure messaging, as on real chips.
            self.end_session();
        }
        if command.is_extended() && !self.config.extended_length {
            return status(StatusWord::WRONG_LENGTH);
        }
        self.dispatch(&command)
    }

    fn dispatch(&mut self, command: &CommandApdu) -> ResponseApdu {
        match command.ins {
            0xA4 => self.select(command),
            0xB0 | 0xB1 => self.read_binary(command),
            0x84 => self.get_challenge(command),
            0x82 => self.external_authenticate(command),
            0x22 => self.manage_security_environment(command),
            0x86 if self.ca_selected => self.ca_general_authenticate(command),
            0x86 => self.general_authenticate(command),
            0x88 => self.internal_authenticate(command),
            _ => status(StatusWord::INS_NOT_SUPPORTED),
        }
    }

    fn file(&self, file: LdsFile) -> Option<&[u8]> {
        match file {
            LdsFile::CardAccess => self.card_access.as_deref(),
            other => self.config.profile.get(other),
        }
    }

    /// Resolves a file for access: present, in the selected DF, and allowed.
    fn open_file(&self, file: Option<LdsFile>) -> Result<LdsFile, StatusWord> {
        let file = file.ok_or(StatusWord::FILE_NOT_FOUND)?;
        let here = match self.selected {
            Selected::MasterFile => !file.in_application(),
            Selected::Application => file.in_application(),
        };
        if !here || self.file(file).is_none() {
            return Err(StatusWord::FILE_NOT_FOUND);
        }
        if file.in_application() && !self.is_authenticated() {
            return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
        }
        Ok(file)
    }

    fn select(&mut self, command: &CommandApdu) -> ResponseApdu {
        match (command.p1, command.data.as_slice()) {
            (0x04, aid) => {
                if aid == EMRTD_AID {
                    self.selected = Selected::Application;
                    self.current = None;
                    status(StatusWord::SUCCESS)
                } else {
                    status(StatusWord::FILE_NOT_FOUND)
                }
            }
            (0x00, [] | [0x3F, 0x00]) => {
                self.selected = Selected::MasterFile;
                self.current = None;
                status(StatusWord::SUCCESS)
            }
            (0x00 | 0x02, [hi, lo]) => {
                match self.open_file(LdsFile::from_fid(u16::from_be_bytes([*hi, *lo]))) {
                    Ok(file) => {
                        self.current = Some(file);
                        if command.p2 & 0x0C == 0x0C {
                            status(StatusWord::SUCCESS)
                        } else {
                            ResponseApdu::new(self.control_parameters(file), StatusWord::SUCCESS)
                        }
                    }
                    Err(sw) => status(sw),
                }
            }
            (0x00 | 0x02, _) => status(StatusWord::WRONG_LENGTH),
            _ => status(StatusWord::INCORRECT_P1P2),
        }
    }

    /// FCP template: size (80) and file identifier (83).
    fn control_parameters(&self, file: LdsFile) -> Vec<u8> {
        let len = self.file(file).map_or(0, <[u8]>::len) as u32;
        let size = if len > 0xFFFF {
            len.to_be_bytes().to_vec()
        } else {
            (len as u16).to_be_bytes().to_vec()
        };
        tlv::encode(
            0x62,
            &[
                tlv::encode(0x80, &size),
                tlv::encode(0x83, &file.fid().to_be_bytes()),
            ]
            .concat(),
        )
    }

    fn read_binary(&mut self, command: &CommandApdu) -> ResponseApdu {
        let Some(le) = command.le else {
            return status(StatusWord::WRONG_LENGTH);
        };
        if self.config.max_read_le.is_some_and(|max| le > max) {
            return status(StatusWord::WRONG_LENGTH);
        }
        let odd = command.ins == 0xB1;
        let (target, offset) = if odd {
            // P1-P2: 0000 current EF, up to 1F a short file identifier,
            // otherwise a file identifier; the offset is in DO'54'.
            let p = u16::from_be_bytes([command.p1, command.p2]);
            let target = match p {
                0 => self.current,
                1..=0x1F => LdsFile::from_sfi(p as u8),
                fid => LdsFile::from_fid(fid),
            };
            let offset = match tlv::expect(&command.data, 0x54) {
                Ok(t) if !t.value.is_empty() && t.value.len() <= 3 => t
                    .value
                    .iter()
                    .fold(0usize, |acc, b| (acc << 8) | usize::from(*b)),
                _ => return status(StatusWord::WRONG_DATA),
            };
            (target, offset)
        } else if command.p1 & 0x80 != 0 {
            if command.p1 & 0x60 != 0 {
                return status(StatusWord::INCORRECT_P1P2);
            }
            (
                LdsFile::from_sfi(command.p1 & 0x1F),
                usize::from(command.p2),
            )
        } else {
            if !command.data.is_empty() {
                return status(StatusWord::WRONG_LENGTH);
            }
            let Some(current) = self.current else {
                return status(NO_CURRENT_EF);
            };
            (
                Some(current),
                usize::from(u16::from_be_bytes([command.p1, command.p2])),
            )
        };
        let file = match self.open_file(target) {
            Ok(file) => file,
            Err(sw) => return status(sw),
        };
        self.current = Some(file);
        let content = self.file(file).unwrap_or_default();
        let Some(rest) = content.get(offset..).filter(|r| !r.is_empty()) else {
            return status(StatusWord::WRONG_P1P2);
        };
        // A read past the end returns the bytes there are with 9000, as
        // eMRTD chips commonly do; the 6282 warning trips some readers.
        if odd {
            // The DO'53' header takes part of Le.
            let room = le.saturating_sub(4).max(1);
            let chunk = rest.get(..room.min(rest.len())).unwrap_or_default();
            ResponseApdu::new(tlv::encode(0x53, chunk), StatusWord::SUCCESS)
        } else {
            let chunk = rest.get(..le.min(rest.len())).unwrap_or_default();
            ResponseApdu::new(chunk.to_vec(), StatusWord::SUCCESS)
        }
    }

    fn blocked(&self) -> bool {
        self.config
            .attempts
            .block_after
            .is_some_and(|max| self.failures >= max)
    }

    /// Slows down attempts after repeated failures, as real chips do.
    fn throttle(&self) {
        if self.failures >= self.config.attempts.delay_after
            && !self.config.attempts.delay.is_zero()
        {
            std::thread::sleep(self.config.attempts.delay);
        }
    }

    fn bac_keys(&self) -> Option<BacKeys> {
        let key = self.config.mrz_key.as_ref()?;
        Some(BacKeys::from_seed(key.bac_key_seed().as_slice()))
    }

    fn get_challenge(&mut self, command: &CommandApdu) -> ResponseApdu {
        if !self.config.bac {
            return status(StatusWord::INS_NOT_SUPPORTED);
        }
        if command.le != Some(8) {
            return status(StatusWord::WRONG_LENGTH);
        }
        if self.blocked() {
            return status(StatusWord::AUTHENTICATION_BLOCKED);
        }
        let mut challenge = [0u8; 8];
        self.rng.fill_bytes(&mut challenge);
        self.challenge = Some(challenge);
        ResponseApdu::new(challenge.to_vec(), StatusWord::SUCCESS)
    }

    fn external_authenticate(&mut self, command: &CommandApdu) -> ResponseApdu {
        if !self.config.bac {
            return status(StatusWord::INS_NOT_SUPPORTED);
        }
        if command.data.len() != CRYPTOGRAM_LEN {
            return status(StatusWord::WRONG_LENGTH);
        }
        if self.blocked() {
            return status(StatusWord::AUTHENTICATION_BLOCKED);
        }
        // A challenge answers one attempt only.
        let (Some(challenge), Some(keys)) = (self.challenge.take(), self.bac_keys()) else {
            return status(StatusWord::CONDITIONS_NOT_SATISFIED);
        };
        self.throttle();
        match bac::answer(&keys, &challenge, &command.data, &mut self.rng) {
            Ok(Some((data, sm))) => {
                self.failures = 0;
                self.set_access(Access::Bac(sm));
                ResponseApdu::new(data, StatusWord::SUCCESS)
            }
            _ => {
                self.failures = self.failures.saturating_add(1);
                self.end_session();
                status(AUTH_FAILED)
            }
        }
    }

    fn manage_security_environment(&mut self, command: &CommandApdu) -> ResponseApdu {
        match (command.p1, command.p2) {
            (0x41, 0xA6) => return self.ca_set_kat(command),
            (0x41, 0xA4) => return self.ca_set_at(command),
            _ => {}
        }
        if self.config.pace.is_empty() {
            return status(StatusWord::INS_NOT_SUPPORTED);
        }
        if (command.p1, command.p2) != (0xC1, 0xA4) {
            return status(StatusWord::INCORRECT_P1P2);
        }
        if self.blocked() {
            return status(StatusWord::AUTHENTICATION_BLOCKED);
        }
        // A new PACE run replaces any session.
        self.set_access(Access::None);
        match self.pace.set_authentication_template(&command.data) {
            Ok(()) => {
                let has_password = match self.pace.selected_password() {
                    Some(PasswordKind::Mrz) => self.config.mrz_key.is_some(),
                    Some(PasswordKind::Can) => self.config.can.is_some(),
                    None => false,
                };
                if has_password {
                    status(StatusWord::SUCCESS)
                } else {
                    self.pace.reset();
                    status(REFERENCE_NOT_FOUND)
                }
            }
            Err(refusal) => status(refusal_status(refusal)),
        }
    }

    fn general_authenticate(&mut self, command: &CommandApdu) -> ResponseApdu {
        if self.config.pace.is_empty() {
            return status(StatusWord::INS_NOT_SUPPORTED);
        }
        if (command.p1, command.p2) != (0, 0) {
            return status(StatusWord::INCORRECT_P1P2);
        }
        if self.blocked() {
            return status(StatusWord::AUTHENTICATION_BLOCKED);
        }
        let key: Option<AccessKey> = match self.pace.selected_password() {
            Some(PasswordKind::Mrz) => self.config.mrz_key.clone().map(AccessKey::Mrz),
            Some(PasswordKind::Can) => self.config.can.clone().map(AccessKey::Can),
            None => None,
        };
        let last = command.cla & 0x10 == 0;
        if last {
            self.throttle();
        }
        match self
            .pace
            .general_authenticate(&command.data, key.as_ref(), &mut self.rng)
        {
            Ok(PaceStep::Continue(data)) => ResponseApdu::new(data, StatusWord::SUCCESS),
            Ok(PaceStep::Established(data, sm)) => {
                self.failures = 0;
                self.set_access(Access::Pace(sm));
                ResponseApdu::new(data, StatusWord::SUCCESS)
            }
            Err(refusal) => {
                if refusal == PaceRefusal::AuthenticationFailed {
                    self.failures = self.failures.saturating_add(1);
                }
                status(refusal_status(refusal))
            }
        }
    }
}

impl VirtualChip {
    /// INTERNAL AUTHENTICATE: Active Authentication, under secure messaging.
    fn internal_authenticate(&mut self, command: &CommandApdu) -> ResponseApdu {
        let Some(key) = self.config.active_authentication.clone() else {
            return status(StatusWord::INS_NOT_SUPPORTED);
        };
        if !self.is_authenticated() {
            return status(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
        }
        if (command.p1, command.p2) != (0, 0) {
            return status(StatusWord::INCORRECT_P1P2);
        }
        if command.data.len() != CHALLENGE_LEN {
            return status(StatusWord::WRONG_LENGTH);
        }
        match key.sign(&command.data, &mut self.rng) {
            Ok(signature) => ResponseApdu::new(signature, StatusWord::SUCCESS),
            Err(_) => status(StatusWord::UNKNOWN),
        }
    }

    /// The CA key, if the chip has one and a session is open (CA runs only
    /// inside BAC or PACE).
    fn ca_key(&self) -> Result<CaKey, StatusWord> {
        let key = self
            .config
            .chip_authentication
            .clone()
            .ok_or(StatusWord::INCORRECT_P1P2)?;
        if !self.is_authenticated() {
            return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
        }
        Ok(key)
    }

    /// Whether the key reference `84` of an MSE command names our key.
    fn ca_key_matches(key: &CaKey, data: &[u8]) -> Result<bool, StatusWord> {
        let reference = tlv::Objects::new(data)
            .find(0x84)
            .map_err(|_| StatusWord::WRONG_DATA)?;
        Ok(match reference {
            None => true,
            Some(r) => crate::keys::small_int(r.value) == key.key_id,
        })
    }

    /// Agrees on the new session; it takes over after this answer.
    fn ca_agree(&mut self, key: &CaKey, terminal_public: &[u8]) -> ResponseApdu {
        match crate::ca::derive_session(&key.key, key.cipher, terminal_public) {
            Ok(sm) => {
                self.pending = Some(sm);
                status(StatusWord::SUCCESS)
            }
            Err(_) => status(StatusWord::WRONG_DATA),
        }
    }

    /// MSE:Set KAT: Chip Authentication in one step (3DES).
    fn ca_set_kat(&mut self, command: &CommandApdu) -> ResponseApdu {
        let key = match self.ca_key() {
            Ok(key) => key,
            Err(sw) => return status(sw),
        };
        match Self::ca_key_matches(&key, &command.data) {
            Ok(true) => {}
            Ok(false) => return status(REFERENCE_NOT_FOUND),
            Err(sw) => return status(sw),
        }
        let Ok(Some(public)) = tlv::Objects::new(&command.data).find(0x91) else {
            return status(StatusWord::WRONG_DATA);
        };
        self.ca_agree(&key, public.value)
    }

    /// MSE:Set AT selecting Chip Authentication (AES).
    fn ca_set_at(&mut self, command: &CommandApdu) -> ResponseApdu {
        self.ca_selected = false;
        let key = match self.ca_key() {
            Ok(key) => key,
            Err(sw) => return status(sw),
        };
        let oid = crate::security_info::ChipAuthenticationInfo {
            cipher: key.cipher,
            key_id: key.key_id,
        }
        .oid();
        let named =
            matches!(tlv::Objects::new(&command.data).find(0x80), Ok(Some(o)) if o.value == oid);
        match Self::ca_key_matches(&key, &command.data) {
            Ok(true) if named => {
                self.ca_selected = true;
                status(StatusWord::SUCCESS)
            }
            Ok(_) => status(REFERENCE_NOT_FOUND),
            Err(sw) => status(sw),
        }
    }

    /// GENERAL AUTHENTICATE with the terminal's ephemeral key (`7C { 80 }`).
    fn ca_general_authenticate(&mut self, command: &CommandApdu) -> ResponseApdu {
        self.ca_selected = false;
        let key = match self.ca_key() {
            Ok(key) => key,
            Err(sw) => return status(sw),
        };
        let Ok(public) = crate::pace::auth_value(&command.data, 0x80) else {
            return status(StatusWord::WRONG_DATA);
        };
        let public = public.to_vec();
        let answer = self.ca_agree(&key, &public);
        if answer.sw.is_success() {
            ResponseApdu::new(vec![0x7C, 0x00], StatusWord::SUCCESS)
        } else {
            answer
        }
    }
}

fn refusal_status(refusal: PaceRefusal) -> StatusWord {
    match refusal {
        PaceRefusal::Sequence => StatusWord::CONDITIONS_NOT_SATISFIED,
        PaceRefusal::WrongData => StatusWord::WRONG_DATA,
        PaceRefusal::NotOffered => REFERENCE_NOT_FOUND,
        PaceRefusal::AuthenticationFailed => AUTH_FAILED,
    }
}

impl VirtualCard for VirtualChip {
    fn atr(&self) -> Vec<u8> {
        self.config.atr.clone()
    }

    fn reset(&mut self) {
        self.selected = Selected::MasterFile;
        self.current = None;
        self.end_session();
    }

    fn process(&mut self, command: &[u8]) -> Vec<u8> {
        self.handle(command).to_bytes()
    }
}

/// A card channel straight into a virtual card, with no reader between:
/// for tests and demos that need no PC/SC.
#[derive(Debug)]
pub struct Loopback<V: VirtualCard>(pub V);

impl<V: VirtualCard> CardChannel for Loopback<V> {
    fn transmit_raw(&mut self, command: &[u8]) -> Result<Vec<u8>, TransmitError> {
        Ok(self.0.process(command))
    }
}
