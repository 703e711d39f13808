//! What can go wrong when the terminal side talks to a chip.

use crate::{crypto::CryptoError, ec::EcError, pace::PaceError, sm::SmError, tlv::TlvError};
use card::{StatusWord, TransmitError};
use thiserror::Error;

/// A failed exchange with a chip, from transport to cryptography.
#[derive(Debug, Error)]
pub enum Error {
    #[error("card transport failed: {0}")]
    Transmit(#[from] TransmitError),
    #[error("the chip refused {command} with status {sw}")]
    Status {
        command: &'static str,
        sw: StatusWord,
    },
    #[error("the chip answered {command} with a malformed response")]
    MalformedResponse { command: &'static str },
    #[error(
        "basic access control failed: the chip's answer does not match the access key (wrong MRZ data?)"
    )]
    BacMismatch,
    #[error("the chip offers no access method this reader supports")]
    NoAccessMethod,
    #[error("the access key is not usable for {0}")]
    WrongKeyKind(&'static str),
    #[error(transparent)]
    Pace(#[from] PaceError),
    #[error(transparent)]
    SecureMessaging(#[from] SmError),
    #[error("file data is malformed: {0}")]
    Tlv(#[from] TlvError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("a public key is invalid: {0}")]
    Point(#[from] EcError),
    #[error("file {fid:04X} declares {declared} bytes, more than the {limit} allowed")]
    FileTooLarge {
        fid: u16,
        declared: usize,
        limit: usize,
    },
}
