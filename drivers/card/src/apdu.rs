//! ISO/IEC 7816-4 command and response APDUs, short and extended length.

use thiserror::Error;

/// Largest `Le` a short APDU can ask for (encoded as `00`).
pub const SHORT_LE_MAX: usize = 256;
/// Largest `Le` an extended APDU can ask for (encoded as `00 00`).
pub const EXTENDED_LE_MAX: usize = 65_536;
/// Largest command data field of a short APDU.
pub const SHORT_LC_MAX: usize = 255;
/// Largest command data field of an extended APDU.
pub const EXTENDED_LC_MAX: usize = 65_535;

/// Why bytes are not a well-formed APDU, or an APDU cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ApduError {
    #[error("APDU is {0} bytes long; a command needs at least the 4-byte header")]
    TooShort(usize),
    #[error("APDU body of {0} bytes matches none of the ISO 7816-4 cases")]
    MalformedBody(usize),
    #[error("command data of {0} bytes exceeds 65535")]
    DataTooLong(usize),
    #[error("expected length {0} exceeds 65536")]
    LeTooLarge(usize),
    #[error("response is {0} bytes long; it needs at least the 2-byte status word")]
    ResponseTooShort(usize),
}

/// A command APDU. `le` is the number of response bytes expected; `Some(256)`
/// encodes as short `00`, `Some(65536)` as extended `00 00`.
#[derive(Clone, PartialEq, Eq)]
pub struct CommandApdu {
    pub cla: u8,
    pub ins: u8,
    pub p1: u8,
    pub p2: u8,
    pub data: Vec<u8>,
    pub le: Option<usize>,
}

impl std::fmt::Debug for CommandApdu {
    // Data fields may carry personal data or keys: show only their length.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CommandApdu({:02X} {:02X} {:02X} {:02X}, {} data bytes, le={:?})",
            self.cla,
            self.ins,
            self.p1,
            self.p2,
            self.data.len(),
            self.le
        )
    }
}

impl CommandApdu {
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        Self {
            cla,
            ins,
            p1,
            p2,
            data: Vec::new(),
            le: None,
        }
    }

    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = data.into();
        self
    }

    pub fn with_le(mut self, le: usize) -> Self {
        self.le = Some(le);
        self
    }

    /// Whether this command needs the extended-length encoding.
    pub fn is_extended(&self) -> bool {
        self.data.len() > SHORT_LC_MAX || self.le.is_some_and(|le| le > SHORT_LE_MAX)
    }

    /// Encodes the command, choosing short or extended length as needed.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ApduError> {
        if self.data.len() > EXTENDED_LC_MAX {
            return Err(ApduError::DataTooLong(self.data.len()));
        }
        if let Some(le) = self.le
            && le > EXTENDED_LE_MAX
        {
            return Err(ApduError::LeTooLarge(le));
        }
        let extended = self.is_extended();
        let mut out = Vec::with_capacity(4 + 3 + self.data.len() + 3);
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        if !self.data.is_empty() {
            if extended {
                out.push(0);
                out.extend_from_slice(&(self.data.len() as u16).to_be_bytes());
            } else {
                out.push(self.data.len() as u8);
            }
            out.extend_from_slice(&self.data);
        }
        if let Some(le) = self.le {
            if extended {
                if self.data.is_empty() {
                    out.push(0);
                }
                // 65536 wraps to 00 00 by design of the encoding.
                out.extend_from_slice(&((le % EXTENDED_LE_MAX) as u16).to_be_bytes());
            } else {
                out.push((le % SHORT_LE_MAX) as u8);
            }
        }
        Ok(out)
    }

    /// Parses a command as a card receives it (ISO 7816-4 cases 1, 2S, 3S,
    /// 4S, 2E, 3E, 4E).
    pub fn parse(bytes: &[u8]) -> Result<Self, ApduError> {
        let [cla, ins, p1, p2, body @ ..] = bytes else {
            return Err(ApduError::TooShort(bytes.len()));
        };
        let mut apdu = Self::new(*cla, *ins, *p1, *p2);
        let short_le = |b: u8| if b == 0 { SHORT_LE_MAX } else { b as usize };
        let ext_le = |hi: u8, lo: u8| match u16::from_be_bytes([hi, lo]) {
            0 => EXTENDED_LE_MAX,
            n => n as usize,
        };
        match body {
            [] => {}
            [le] => apdu.le = Some(short_le(*le)),
            [0, hi, lo] => apdu.le = Some(ext_le(*hi, *lo)),
            [0, rest @ ..] if rest.len() >= 2 => {
                let lc = u16::from_be_bytes([rest[0], rest[1]]) as usize;
                let after = &rest[2..];
                if lc == 0 {
                    return Err(ApduError::MalformedBody(body.len()));
                }
                if after.len() == lc {
                    apdu.data = after.to_vec();
                } else if after.len() == lc + 2 {
                    apdu.data = after[..lc].to_vec();
                    apdu.le = Some(ext_le(after[lc], after[lc + 1]));
                } else {
                    return Err(ApduError::MalformedBody(body.len()));
                }
            }
            [lc, rest @ ..] => {
                let lc = *lc as usize;
                if rest.len() == lc {
                    apdu.data = rest.to_vec();
                } else if rest.len() == lc + 1 {
                    apdu.data = rest[..lc].to_vec();
                    apdu.le = Some(short_le(rest[lc]));
                } else {
                    return Err(ApduError::MalformedBody(body.len()));
                }
            }
        }
        Ok(apdu)
    }
}

/// The two status bytes that end every response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusWord(pub u16);

impl StatusWord {
    pub const SUCCESS: Self = Self(0x9000);
    pub const WRONG_LENGTH: Self = Self(0x6700);
    pub const SECURITY_STATUS_NOT_SATISFIED: Self = Self(0x6982);
    pub const AUTHENTICATION_BLOCKED: Self = Self(0x6983);
    pub const SM_DATA_OBJECTS_MISSING: Self = Self(0x6987);
    pub const SM_DATA_OBJECTS_INCORRECT: Self = Self(0x6988);
    pub const CONDITIONS_NOT_SATISFIED: Self = Self(0x6985);
    pub const WRONG_DATA: Self = Self(0x6A80);
    pub const FILE_NOT_FOUND: Self = Self(0x6A82);
    pub const INCORRECT_P1P2: Self = Self(0x6A86);
    pub const WRONG_P1P2: Self = Self(0x6B00);
    pub const INS_NOT_SUPPORTED: Self = Self(0x6D00);
    pub const CLA_NOT_SUPPORTED: Self = Self(0x6E00);
    pub const UNKNOWN: Self = Self(0x6F00);

    pub fn new(sw1: u8, sw2: u8) -> Self {
        Self(u16::from_be_bytes([sw1, sw2]))
    }
    pub fn sw1(self) -> u8 {
        (self.0 >> 8) as u8
    }
    pub fn sw2(self) -> u8 {
        self.0 as u8
    }
    pub fn is_success(self) -> bool {
        self == Self::SUCCESS
    }
    pub fn to_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }
}

impl std::fmt::Display for StatusWord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04X}", self.0)
    }
}

/// A response APDU: the data field and the status word.
#[derive(Clone, PartialEq, Eq)]
pub struct ResponseApdu {
    pub data: Vec<u8>,
    pub sw: StatusWord,
}

impl std::fmt::Debug for ResponseApdu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ResponseApdu({} data bytes, {})",
            self.data.len(),
            self.sw
        )
    }
}

impl ResponseApdu {
    pub fn new(data: impl Into<Vec<u8>>, sw: StatusWord) -> Self {
        Self {
            data: data.into(),
            sw,
        }
    }

    pub fn status(sw: StatusWord) -> Self {
        Self::new(Vec::new(), sw)
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, ApduError> {
        match bytes {
            [data @ .., sw1, sw2] => Ok(Self::new(data.to_vec(), StatusWord::new(*sw1, *sw2))),
            _ => Err(ApduError::ResponseTooShort(bytes.len())),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 2);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(&self.sw.to_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(apdu: &CommandApdu) -> Vec<u8> {
        let bytes = apdu.to_bytes().unwrap();
        assert_eq!(&CommandApdu::parse(&bytes).unwrap(), apdu);
        bytes
    }

    #[test]
    fn encodes_every_case() {
        // Case 1
        assert_eq!(roundtrip(&CommandApdu::new(0, 0xA4, 0, 0)), [0, 0xA4, 0, 0]);
        // Case 2S: READ BINARY of 256 bytes encodes Le as 00
        assert_eq!(
            roundtrip(&CommandApdu::new(0, 0xB0, 0, 0).with_le(256)),
            [0, 0xB0, 0, 0, 0]
        );
        // Case 3S: SELECT eMRTD application
        let select = CommandApdu::new(0, 0xA4, 4, 0x0C)
            .with_data(vec![0xA0, 0x00, 0x00, 0x02, 0x47, 0x10, 0x01]);
        assert_eq!(
            roundtrip(&select),
            [0, 0xA4, 4, 0x0C, 7, 0xA0, 0, 0, 2, 0x47, 0x10, 1]
        );
        // Case 4S
        assert_eq!(
            roundtrip(
                &CommandApdu::new(0, 0x88, 0, 0)
                    .with_data(vec![1, 2])
                    .with_le(256)
            ),
            [0, 0x88, 0, 0, 2, 1, 2, 0]
        );
        // Case 2E: Le 65536 encodes as 00 00 00
        assert_eq!(
            roundtrip(&CommandApdu::new(0, 0xB0, 0, 0).with_le(65_536)),
            [0, 0xB0, 0, 0, 0, 0, 0]
        );
        // Case 2E with a concrete Le
        assert_eq!(
            roundtrip(&CommandApdu::new(0, 0xB0, 0, 0).with_le(1000)),
            [0, 0xB0, 0, 0, 0, 0x03, 0xE8]
        );
        // Case 3E and 4E
        let big = vec![0x5A; 300];
        let bytes = roundtrip(&CommandApdu::new(0x0C, 0xB1, 0, 0).with_data(big.clone()));
        assert_eq!(&bytes[4..7], &[0, 0x01, 0x2C]);
        let bytes = roundtrip(
            &CommandApdu::new(0x0C, 0xB1, 0, 0)
                .with_data(big)
                .with_le(65_536),
        );
        assert_eq!(&bytes[bytes.len() - 2..], &[0, 0]);
    }

    #[test]
    fn rejects_malformed_commands() {
        assert_eq!(
            CommandApdu::parse(&[0, 0xA4, 0]),
            Err(ApduError::TooShort(3))
        );
        // Lc says 5 but 2 bytes follow
        assert_eq!(
            CommandApdu::parse(&[0, 0xA4, 0, 0, 5, 1, 2]),
            Err(ApduError::MalformedBody(3))
        );
        // extended Lc of zero is not allowed
        assert!(CommandApdu::parse(&[0, 0xA4, 0, 0, 0, 0, 0, 1]).is_err());
        assert_eq!(
            CommandApdu::new(0, 0, 0, 0).with_le(70_000).to_bytes(),
            Err(ApduError::LeTooLarge(70_000))
        );
        assert_eq!(
            CommandApdu::new(0, 0, 0, 0)
                .with_data(vec![0; 70_000])
                .to_bytes(),
            Err(ApduError::DataTooLong(70_000))
        );
    }

    #[test]
    fn parse_never_panics_on_any_short_input() {
        // Exhaustive over every 5-byte body prefix pattern that matters.
        for len in 0..8usize {
            for fill in [0u8, 1, 2, 0xFF] {
                let bytes = vec![fill; len];
                let _ = CommandApdu::parse(&bytes);
            }
        }
    }

    #[test]
    fn response_splits_status_word() {
        let r = ResponseApdu::parse(&[1, 2, 3, 0x90, 0x00]).unwrap();
        assert_eq!(r.data, [1, 2, 3]);
        assert!(r.sw.is_success());
        assert_eq!(r.to_bytes(), [1, 2, 3, 0x90, 0x00]);
        let r = ResponseApdu::parse(&[0x6A, 0x82]).unwrap();
        assert_eq!(r.sw, StatusWord::FILE_NOT_FOUND);
        assert_eq!((r.sw.sw1(), r.sw.sw2()), (0x6A, 0x82));
        assert_eq!(
            ResponseApdu::parse(&[0x90]),
            Err(ApduError::ResponseTooShort(1))
        );
    }
}
