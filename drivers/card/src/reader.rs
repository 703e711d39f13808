//! The PC/SC backend: readers through pcsc-lite (pcscd) or WinSCard.

use std::ffi::CString;
use std::time::Duration;

use serde::Serialize;
use thiserror::Error;

use crate::{CardChannel, TransmitError};

#[derive(Debug, Error)]
pub enum ReaderError {
    #[error("the smart-card service (pcscd) is not running")]
    NoService,
    #[error("no card in reader {0}")]
    NoCard(String),
    #[error("reader {0} is not connected")]
    UnknownReader(String),
    #[error("the card in reader {0} is in use by another program")]
    Busy(String),
    #[error("the card in reader {0} does not answer")]
    Unresponsive(String),
    #[error("cannot start watching the readers: {0}")]
    Watch(String),
    #[error("PC/SC error: {0}")]
    Pcsc(#[from] pcsc::Error),
}

/// One reader slot as PC/SC reports it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReaderStatus {
    pub name: String,
    pub card_present: bool,
    /// Answer-to-reset of the card in the slot, hex.
    pub atr: Option<String>,
}

/// A connection to the PC/SC service.
pub struct Readers {
    ctx: pcsc::Context,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Readers")
    }
}

impl Readers {
    /// Connects to the PC/SC service.
    pub fn establish() -> Result<Self, ReaderError> {
        match pcsc::Context::establish(pcsc::Scope::User) {
            Ok(ctx) => Ok(Self { ctx }),
            Err(pcsc::Error::NoService) => Err(ReaderError::NoService),
            Err(e) => Err(e.into()),
        }
    }

    fn names(&self) -> Result<Vec<CString>, ReaderError> {
        match self.ctx.list_readers_owned() {
            Ok(names) => Ok(names),
            Err(pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
            Err(pcsc::Error::NoService) | Err(pcsc::Error::ServiceStopped) => {
                Err(ReaderError::NoService)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Every reader with whether a card is present. No readers is an empty
    /// list, not an error.
    pub fn list(&self) -> Result<Vec<ReaderStatus>, ReaderError> {
        let names = self.names()?;
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut states: Vec<pcsc::ReaderState> = names
            .iter()
            .map(|n| pcsc::ReaderState::new(n.as_c_str(), pcsc::State::UNAWARE))
            .collect();
        self.ctx
            .get_status_change(Duration::from_millis(0), &mut states)?;
        Ok(states
            .iter()
            .map(|s| {
                let present = s.event_state().contains(pcsc::State::PRESENT);
                ReaderStatus {
                    name: s.name().to_string_lossy().into_owned(),
                    card_present: present,
                    atr: (present && !s.atr().is_empty()).then(|| hex(s.atr())),
                }
            })
            .collect())
    }

    /// Waits up to `timeout` until a card is present in `reader`.
    pub fn wait_for_card(&self, reader: &str, timeout: Duration) -> Result<bool, ReaderError> {
        self.wait_until(reader, true, timeout)
    }

    /// Waits up to `timeout` until `reader` holds no card. After a failed
    /// exchange this tells a pulled card from a broken chip: the service
    /// may take a moment to notice the removal.
    pub fn wait_for_removal(&self, reader: &str, timeout: Duration) -> Result<bool, ReaderError> {
        self.wait_until(reader, false, timeout)
    }

    fn wait_until(
        &self,
        reader: &str,
        present: bool,
        timeout: Duration,
    ) -> Result<bool, ReaderError> {
        let name = c_name(reader)?;
        let mut states = [pcsc::ReaderState::new(
            name.as_c_str(),
            pcsc::State::UNAWARE,
        )];
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match self.ctx.get_status_change(
                deadline.saturating_duration_since(std::time::Instant::now()),
                &mut states,
            ) {
                Ok(()) => {}
                Err(pcsc::Error::Timeout) => return Ok(false),
                Err(pcsc::Error::UnknownReader) => {
                    return Err(ReaderError::UnknownReader(reader.to_owned()));
                }
                Err(e) => return Err(e.into()),
            }
            if states[0].event_state().contains(pcsc::State::PRESENT) == present {
                return Ok(true);
            }
            states[0].sync_current_state();
        }
    }

    /// Opens an exclusive T=1 connection to the card in `reader`.
    pub fn connect(&self, reader: &str) -> Result<PcscCard, ReaderError> {
        let name = c_name(reader)?;
        match self.ctx.connect(
            name.as_c_str(),
            pcsc::ShareMode::Exclusive,
            pcsc::Protocols::T1 | pcsc::Protocols::T0,
        ) {
            Ok(card) => Ok(PcscCard {
                card,
                reader: reader.to_owned(),
            }),
            Err(pcsc::Error::NoSmartcard) | Err(pcsc::Error::RemovedCard) => {
                Err(ReaderError::NoCard(reader.to_owned()))
            }
            Err(pcsc::Error::UnknownReader) | Err(pcsc::Error::ReaderUnavailable) => {
                Err(ReaderError::UnknownReader(reader.to_owned()))
            }
            Err(pcsc::Error::SharingViolation) => Err(ReaderError::Busy(reader.to_owned())),
            Err(pcsc::Error::UnpoweredCard) | Err(pcsc::Error::UnresponsiveCard) => {
                Err(ReaderError::Unresponsive(reader.to_owned()))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// How long a patient connect waits between attempts.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

impl Readers {
    /// Like [`Readers::connect`], retrying for up to `patience` while the
    /// card is held by another program (the exclusive connection is
    /// refused) or does not answer yet (a document still settling on a
    /// contactless reader).
    pub fn connect_patiently(
        &self,
        reader: &str,
        patience: Duration,
    ) -> Result<PcscCard, ReaderError> {
        let deadline = std::time::Instant::now() + patience;
        loop {
            match self.connect(reader) {
                Err(ReaderError::Busy(_) | ReaderError::Unresponsive(_))
                    if std::time::Instant::now() + RETRY_PAUSE < deadline =>
                {
                    tracing::debug!(reader, "card busy or not answering yet; retrying");
                    std::thread::sleep(RETRY_PAUSE);
                }
                other => return other,
            }
        }
    }
}

fn c_name(reader: &str) -> Result<CString, ReaderError> {
    CString::new(reader).map_err(|_| ReaderError::UnknownReader(reader.replace('\0', "")))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// An open connection to the card in one reader.
pub struct PcscCard {
    card: pcsc::Card,
    reader: String,
}

impl std::fmt::Debug for PcscCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PcscCard({})", self.reader)
    }
}

/// What one reader and the card in it can carry, as far as they say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// The largest APDU the reader's driver carries (`SCARD_ATTR_MAXINPUT`),
    /// when it tells.
    pub max_apdu: Option<usize>,
    /// What the card's ATR says about extended length, when it says.
    pub card_extended_length: Option<bool>,
}

/// The longest short APDU: header, Lc, 255 bytes of data, Le.
const SHORT_APDU_MAX: usize = 4 + 1 + 255 + 1;

impl Capabilities {
    /// Whether extended-length APDUs can pass: `Some(false)` when the
    /// reader's buffer or the card rules them out, `Some(true)` when both
    /// say yes, `None` when only trying tells.
    pub fn extended_length(&self) -> Option<bool> {
        let reader = self.max_apdu.map(|max| max > SHORT_APDU_MAX);
        match (reader, self.card_extended_length) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        }
    }
}

impl PcscCard {
    pub fn reader(&self) -> &str {
        &self.reader
    }

    /// Asks the reader's driver and the card's ATR what they can carry.
    /// Costs no APDU; what neither says stays `None`.
    pub fn capabilities(&self) -> Capabilities {
        let max_apdu = self
            .card
            .get_attribute_owned(pcsc::Attribute::Maxinput)
            .ok()
            .and_then(|bytes| <[u8; 4]>::try_from(bytes.get(..4)?).ok())
            .map(|bytes| u32::from_le_bytes(bytes) as usize)
            .filter(|max| *max > 0);
        let card_extended_length = self
            .card
            .get_attribute_owned(pcsc::Attribute::AtrString)
            .ok()
            .and_then(|atr| crate::atr::extended_length(&atr));
        Capabilities {
            max_apdu,
            card_extended_length,
        }
    }
}

impl CardChannel for PcscCard {
    fn transmit_raw(&mut self, command: &[u8]) -> Result<Vec<u8>, TransmitError> {
        let mut buf = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
        match self.card.transmit(command, &mut buf) {
            Ok(response) => Ok(response.to_vec()),
            Err(pcsc::Error::RemovedCard) | Err(pcsc::Error::NoSmartcard) => {
                Err(TransmitError::CardRemoved)
            }
            Err(pcsc::Error::ReaderUnavailable) | Err(pcsc::Error::UnknownReader) => {
                Err(TransmitError::ReaderGone)
            }
            // What pcsc-lite and WinSCard answer when the reader's driver
            // refuses an APDU as too long for it. (NotTransacted, which a
            // CCID reader without extended length gives too, is also what a
            // pulled card gives, so it stays a transport failure.)
            Err(
                e @ (pcsc::Error::InvalidParameter
                | pcsc::Error::InvalidValue
                | pcsc::Error::InsufficientBuffer),
            ) => Err(TransmitError::Rejected(e.to_string())),
            Err(e) => Err(TransmitError::Transport(e.to_string())),
        }
    }
}
