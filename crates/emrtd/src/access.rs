//! What unlocks a chip: the MRZ's document number, birth and expiry dates
//! (BAC, PACE) or the 6-digit card access number (PACE).

use crate::mrz::{CheckedField, Mrz, MrzDate, MrzError, check_digit, pad_number};
use sha1::{Digest, Sha1};
use std::{fmt, str::FromStr};
use thiserror::Error;
use zeroize::Zeroizing;

/// Why an access key cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AccessKeyError {
    #[error(transparent)]
    Mrz(#[from] MrzError),
    #[error("expected DOCUMENT:YYMMDD:YYMMDD (document number, birth, expiry)")]
    Format,
    #[error("a card access number is 6 digits")]
    Can,
}

/// The MRZ fields that key BAC and PACE.
#[derive(Clone, PartialEq, Eq)]
pub struct MrzKey {
    document_number: String,
    date_of_birth: MrzDate,
    date_of_expiry: MrzDate,
}

impl MrzKey {
    pub fn new(document_number: &str, birth: &str, expiry: &str) -> Result<Self, AccessKeyError> {
        let number = document_number
            .trim()
            .trim_end_matches('<')
            .to_ascii_uppercase();
        if number.is_empty() || check_digit(&number).is_err() {
            return Err(MrzError::InvalidDocumentNumber.into());
        }
        Ok(Self {
            document_number: number,
            date_of_birth: MrzDate::parse(birth.trim(), CheckedField::DateOfBirth)?,
            date_of_expiry: MrzDate::parse(expiry.trim(), CheckedField::DateOfExpiry)?,
        })
    }

    /// Document number, birth and expiry, each followed by its check digit
    /// (ICAO 9303-11 §9.7.2: the input of the BAC key seed).
    pub fn mrz_information(&self) -> Zeroizing<String> {
        let number = pad_number(&self.document_number);
        let mut info = Zeroizing::new(String::with_capacity(32));
        for field in [
            number.as_str(),
            self.date_of_birth.as_str(),
            self.date_of_expiry.as_str(),
        ] {
            info.push_str(field);
            // Every character was validated on construction.
            info.push(check_digit(field).unwrap_or('0'));
        }
        info
    }

    /// SHA-1 of the MRZ information: the PACE password and, truncated to 16
    /// bytes, the BAC key seed.
    fn digest(&self) -> Zeroizing<[u8; 20]> {
        Zeroizing::new(Sha1::digest(self.mrz_information().as_bytes()).into())
    }

    /// K_seed of ICAO 9303-11 §9.7.2.
    pub fn bac_key_seed(&self) -> Zeroizing<[u8; 16]> {
        let mut seed = Zeroizing::new([0u8; 16]);
        seed.copy_from_slice(self.digest().get(..16).unwrap_or(&[0u8; 16]));
        seed
    }
}

impl From<&Mrz> for MrzKey {
    fn from(mrz: &Mrz) -> Self {
        Self {
            document_number: mrz.document_number.clone(),
            date_of_birth: mrz.date_of_birth.clone(),
            date_of_expiry: mrz.date_of_expiry.clone(),
        }
    }
}

impl FromStr for MrzKey {
    type Err = AccessKeyError;

    /// `DOCUMENT:YYMMDD:YYMMDD`, as the clerk or the CLI gives it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split(':');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(doc), Some(birth), Some(expiry), None) => Self::new(doc, birth, expiry),
            _ => Err(AccessKeyError::Format),
        }
    }
}

impl fmt::Debug for MrzKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MrzKey(..)")
    }
}

/// The card access number printed on the document (PACE only).
#[derive(Clone, PartialEq, Eq)]
pub struct Can(Zeroizing<String>);

impl Can {
    /// The six digits (a secret: for the chip's profile, never for logs).
    pub fn digits(&self) -> &str {
        &self.0
    }

    pub fn new(can: &str) -> Result<Self, AccessKeyError> {
        let can = can.trim();
        if can.len() != 6 || !can.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AccessKeyError::Can);
        }
        Ok(Self(Zeroizing::new(can.to_owned())))
    }
}

impl fmt::Debug for Can {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Can(..)")
    }
}

/// The secret the terminal proves knowledge of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessKey {
    Mrz(MrzKey),
    Can(Can),
}

/// Which password PACE uses (the reference sent in MSE:Set AT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordKind {
    Mrz = 1,
    Can = 2,
}

impl AccessKey {
    pub fn password_kind(&self) -> PasswordKind {
        match self {
            Self::Mrz(_) => PasswordKind::Mrz,
            Self::Can(_) => PasswordKind::Can,
        }
    }

    /// f(π) of ICAO 9303-11 §4.4.3.1: SHA-1 of the MRZ information, or the
    /// CAN's characters.
    pub fn pace_password(&self) -> Zeroizing<Vec<u8>> {
        match self {
            Self::Mrz(key) => Zeroizing::new(key.digest().to_vec()),
            Self::Can(can) => Zeroizing::new(can.0.as_bytes().to_vec()),
        }
    }

    /// The BAC key seed; BAC has no CAN variant.
    pub fn bac_key_seed(&self) -> Option<Zeroizing<[u8; 16]>> {
        match self {
            Self::Mrz(key) => Some(key.bac_key_seed()),
            Self::Can(_) => None,
        }
    }
}

impl From<MrzKey> for AccessKey {
    fn from(key: MrzKey) -> Self {
        Self::Mrz(key)
    }
}

impl From<Can> for AccessKey {
    fn from(can: Can) -> Self {
        Self::Can(can)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cli_form_and_builds_information() {
        let key: MrzKey = "L898902C:690806:940623".parse().unwrap();
        assert_eq!(key.mrz_information().as_str(), "L898902C<369080619406236");
        assert!(matches!(
            "L898902C:690806".parse::<MrzKey>(),
            Err(AccessKeyError::Format)
        ));
        assert!("L898902C:691306:940623".parse::<MrzKey>().is_err());
        assert!(Can::new("12345").is_err());
        assert!(Can::new("12a456").is_err());
        assert_eq!(
            AccessKey::from(Can::new("123456").unwrap())
                .pace_password()
                .as_slice(),
            b"123456"
        );
    }
}
