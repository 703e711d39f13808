//! Smart-card transport for the station.
//!
//! This crate moves APDUs between the station and a chip, and nothing more: it
//! knows ISO 7816-4 framing ([`CommandApdu`], [`ResponseApdu`]) and the
//! transport rules every reader shares (61xx GET RESPONSE, 6Cxx re-issue), but
//! not what an identity document is. Protocol crates talk to a
//! [`CardChannel`]; the real backend is PC/SC (feature `pcsc`, module
//! [`reader`]); [`vpcd`] puts any [`VirtualCard`] into pcscd's virtual reader so
//! the whole stack runs without hardware. [`events`] delivers reader and
//! card arrivals and departures as they happen; [`limits`] keeps what each
//! reader can carry, and [`atr`] reads what a card says about it.
#![forbid(unsafe_code)]

pub mod apdu;
pub mod atr;
#[cfg(feature = "pcsc")]
pub mod events;
pub mod limits;
#[cfg(feature = "pcsc")]
pub mod reader;
pub mod vpcd;

pub use apdu::{ApduError, CommandApdu, ResponseApdu, StatusWord};
use thiserror::Error;

/// Why an APDU exchange failed at the transport level.
#[derive(Debug, Error)]
pub enum TransmitError {
    #[error("the card was removed from the reader")]
    CardRemoved,
    #[error("the reader is no longer available")]
    ReaderGone,
    #[error("the command cannot be encoded: {0}")]
    Encoding(#[from] ApduError),
    #[error("the card sent a response without a status word")]
    MalformedResponse,
    #[error("the card kept asking for GET RESPONSE beyond {0} bytes")]
    ResponseTooLong(usize),
    /// The reader refused the command without passing it on, as readers
    /// that take no extended-length APDUs do: the card never saw it, so
    /// the session with the card is intact and a shorter command may pass.
    #[error("the reader refused the command: {0}")]
    Rejected(String),
    #[error("card transport failed: {0}")]
    Transport(String),
}

/// Responses larger than this are refused: no eMRTD file read is bigger, and a
/// misbehaving card must not make us allocate without bound.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// A logical channel to one card. Implementors provide raw byte exchange; the
/// provided [`CardChannel::transmit`] adds the ISO 7816-4 transport rules.
pub trait CardChannel {
    /// Sends one encoded command and returns the raw response (data + SW).
    fn transmit_raw(&mut self, command: &[u8]) -> Result<Vec<u8>, TransmitError>;

    /// Sends a command, following 61xx with GET RESPONSE and re-issuing on
    /// 6Cxx with the length the card asked for.
    fn transmit(&mut self, command: &CommandApdu) -> Result<ResponseApdu, TransmitError> {
        let raw = self.transmit_raw(&command.to_bytes()?)?;
        let mut response =
            ResponseApdu::parse(&raw).map_err(|_| TransmitError::MalformedResponse)?;
        if response.sw.sw1() == 0x6C {
            let retry = command.clone().with_le(match response.sw.sw2() {
                0 => apdu::SHORT_LE_MAX,
                n => n as usize,
            });
            let raw = self.transmit_raw(&retry.to_bytes()?)?;
            response = ResponseApdu::parse(&raw).map_err(|_| TransmitError::MalformedResponse)?;
        }
        let mut data = std::mem::take(&mut response.data);
        while response.sw.sw1() == 0x61 {
            let le = match response.sw.sw2() {
                0 => apdu::SHORT_LE_MAX,
                n => n as usize,
            };
            let get = CommandApdu::new(command.cla & 0x03, 0xC0, 0, 0).with_le(le);
            let raw = self.transmit_raw(&get.to_bytes()?)?;
            response = ResponseApdu::parse(&raw).map_err(|_| TransmitError::MalformedResponse)?;
            data.extend_from_slice(&response.data);
            if data.len() > MAX_RESPONSE_BYTES {
                return Err(TransmitError::ResponseTooLong(MAX_RESPONSE_BYTES));
            }
        }
        Ok(ResponseApdu::new(data, response.sw))
    }
}

/// The card side of the wire: a chip emulated in software. Whatever bytes
/// arrive, it must answer with a response (at least a status word).
pub trait VirtualCard: Send {
    /// Answer-to-reset the card presents when powered.
    fn atr(&self) -> Vec<u8>;
    /// Cold or warm reset: all session state is lost.
    fn reset(&mut self);
    /// Handles one command APDU and returns the encoded response.
    fn process(&mut self, command: &[u8]) -> Vec<u8>;
}

impl<T: VirtualCard + ?Sized> VirtualCard for Box<T> {
    fn atr(&self) -> Vec<u8> {
        (**self).atr()
    }
    fn reset(&mut self) {
        (**self).reset();
    }
    fn process(&mut self, command: &[u8]) -> Vec<u8> {
        (**self).process(command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// Plays back scripted responses and records what was sent.
    struct Scripted {
        sent: Vec<Vec<u8>>,
        replies: VecDeque<Vec<u8>>,
    }

    impl CardChannel for Scripted {
        fn transmit_raw(&mut self, command: &[u8]) -> Result<Vec<u8>, TransmitError> {
            self.sent.push(command.to_vec());
            self.replies.pop_front().ok_or(TransmitError::CardRemoved)
        }
    }

    #[test]
    fn follows_get_response_chain() {
        let mut ch = Scripted {
            sent: vec![],
            replies: VecDeque::from(vec![vec![1, 2, 0x61, 0x03], vec![3, 4, 5, 0x90, 0x00]]),
        };
        let r = ch
            .transmit(&CommandApdu::new(0, 0xB0, 0, 0).with_le(256))
            .unwrap();
        assert_eq!(r.data, [1, 2, 3, 4, 5]);
        assert!(r.sw.is_success());
        assert_eq!(ch.sent[1], [0, 0xC0, 0, 0, 3]);
    }

    #[test]
    fn reissues_on_wrong_le() {
        let mut ch = Scripted {
            sent: vec![],
            replies: VecDeque::from(vec![vec![0x6C, 0x04], vec![9, 9, 9, 9, 0x90, 0x00]]),
        };
        let r = ch
            .transmit(&CommandApdu::new(0, 0xB0, 0, 0).with_le(256))
            .unwrap();
        assert_eq!(r.data, [9, 9, 9, 9]);
        assert_eq!(ch.sent[1], [0, 0xB0, 0, 0, 4]);
    }

    #[test]
    fn refuses_response_without_status_word() {
        let mut ch = Scripted {
            sent: vec![],
            replies: VecDeque::from(vec![vec![0x90]]),
        };
        let err = ch.transmit(&CommandApdu::new(0, 0xA4, 0, 0)).unwrap_err();
        assert!(matches!(err, TransmitError::MalformedResponse));
    }

    #[test]
    fn bounds_endless_get_response() {
        let mut replies = VecDeque::new();
        for _ in 0..5000 {
            replies.push_back([vec![0u8; 256], vec![0x61, 0x00]].concat());
        }
        let mut ch = Scripted {
            sent: vec![],
            replies,
        };
        let err = ch.transmit(&CommandApdu::new(0, 0xB0, 0, 0)).unwrap_err();
        assert!(matches!(err, TransmitError::ResponseTooLong(_)));
    }
}
