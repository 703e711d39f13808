//! Secure messaging (ICAO 9303-11 §9.8): the terminal protects commands and
//! checks responses, the chip checks commands and protects responses, both
//! with the same [`SecureMessaging`] state so the two sides cannot drift.

use crate::crypto::{CipherAlgorithm, CryptoError, pad, unpad};
use crate::tlv::{self, TlvError};
use card::{CommandApdu, ResponseApdu, StatusWord, apdu::SHORT_LE_MAX};
use subtle::ConstantTimeEq;
use thiserror::Error;
use zeroize::Zeroizing;

/// Why a protected APDU was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SmError {
    #[error("secure messaging data objects are malformed: {0}")]
    Malformed(#[from] TlvError),
    #[error("a required secure messaging data object is missing")]
    MissingObject,
    #[error("the MAC of the secure messaging APDU is wrong")]
    BadMac,
    #[error("the card ended secure messaging with status {0}")]
    Refused(StatusWord),
    #[error("secure messaging cryptography failed: {0}")]
    Crypto(#[from] CryptoError),
    #[error("the command is not a secure messaging command")]
    NotProtected,
}

/// Session keys and send sequence counter of one secure channel.
pub struct SecureMessaging {
    algorithm: CipherAlgorithm,
    k_enc: Zeroizing<Vec<u8>>,
    k_mac: Zeroizing<Vec<u8>>,
    ssc: Zeroizing<Vec<u8>>,
    /// Whether the command being answered had an odd INS: its response data
    /// is BER-TLV and travels in DO'85' rather than DO'87'.
    answering_odd_ins: bool,
}

impl std::fmt::Debug for SecureMessaging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureMessaging")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// The pieces of one protected command, kept for inspection against the
/// worked examples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProtectedCommand {
    pub padded_header: Vec<u8>,
    pub data_object: Vec<u8>,
    pub le_object: Vec<u8>,
    pub mac_input: Vec<u8>,
    pub mac: [u8; 8],
    pub apdu: CommandApdu,
}

/// Le as DO'97' carries it: one byte up to 256 (00 = 256), else two.
fn encode_le(le: usize) -> Vec<u8> {
    if le <= SHORT_LE_MAX {
        vec![(le % SHORT_LE_MAX) as u8]
    } else {
        // 65536 wraps to 00 00, as in the extended Le field itself.
        ((le % 65_536) as u16).to_be_bytes().to_vec()
    }
}

fn decode_le(bytes: &[u8]) -> Result<usize, SmError> {
    match bytes {
        [] => Ok(SHORT_LE_MAX),
        [0] => Ok(SHORT_LE_MAX),
        [n] => Ok(usize::from(*n)),
        [0, 0] => Ok(65_536),
        [hi, lo] => Ok(usize::from(u16::from_be_bytes([*hi, *lo]))),
        _ => Err(SmError::MissingObject),
    }
}

impl SecureMessaging {
    /// `ssc` is 8 bytes for 3DES and the block size for AES.
    pub fn new(
        algorithm: CipherAlgorithm,
        k_enc: Zeroizing<Vec<u8>>,
        k_mac: Zeroizing<Vec<u8>>,
        ssc: &[u8],
    ) -> Self {
        Self {
            algorithm,
            k_enc,
            k_mac,
            ssc: Zeroizing::new(ssc.to_vec()),
            answering_odd_ins: false,
        }
    }

    pub fn algorithm(&self) -> CipherAlgorithm {
        self.algorithm
    }

    #[cfg(test)]
    pub(crate) fn keys(&self) -> (&[u8], &[u8]) {
        (&self.k_enc, &self.k_mac)
    }

    /// The send sequence counter as it stands.
    pub fn ssc(&self) -> &[u8] {
        &self.ssc
    }

    /// Big-endian increment with carry through every byte (leading zeros
    /// stay: the counter has a fixed width).
    fn increment_ssc(&mut self) {
        for b in self.ssc.iter_mut().rev() {
            let (v, carry) = b.overflowing_add(1);
            *b = v;
            if !carry {
                break;
            }
        }
    }

    /// Takes back `steps` increments of the counter: for a command the
    /// chip never saw (the reader refused it, or answered it itself in the
    /// clear), so the next command carries the counter the chip expects.
    pub fn rewind(&mut self, steps: u8) {
        for _ in 0..steps {
            for b in self.ssc.iter_mut().rev() {
                let (v, borrow) = b.overflowing_sub(1);
                *b = v;
                if !borrow {
                    break;
                }
            }
        }
    }

    fn block(&self) -> usize {
        self.algorithm.block_size()
    }

    /// 3DES uses a zero IV; AES uses E(K_enc, SSC) (ICAO 9303-11 §9.8.6.1).
    fn iv(&self) -> Result<Vec<u8>, CryptoError> {
        match self.algorithm {
            CipherAlgorithm::Tdes => Ok(vec![0; 8]),
            alg => alg.encrypt_block(&self.k_enc, &self.ssc),
        }
    }

    fn encrypt(&self, plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.algorithm
            .encrypt_cbc(&self.k_enc, &self.iv()?, &pad(plain, self.block()))
    }

    fn decrypt(&self, cryptogram: &[u8]) -> Result<Zeroizing<Vec<u8>>, SmError> {
        let padded = self
            .algorithm
            .decrypt_cbc(&self.k_enc, &self.iv()?, cryptogram)?;
        Ok(Zeroizing::new(unpad(&padded)?.to_vec()))
    }

    /// MAC over SSC || input, padded (the SSC is the current value).
    fn mac(&self, input: &[u8]) -> Result<([u8; 8], Vec<u8>), CryptoError> {
        let mut n = Vec::with_capacity(self.ssc.len() + input.len() + 16);
        n.extend_from_slice(&self.ssc);
        n.extend_from_slice(input);
        let n = pad(&n, self.block());
        Ok((self.algorithm.mac_padded(&self.k_mac, &n)?, n))
    }

    fn padded_header(&self, cla: u8, ins: u8, p1: u8, p2: u8) -> Vec<u8> {
        pad(&[cla | 0x0C, ins, p1, p2], self.block())
    }

    /// Terminal side: wraps a plain command.
    pub fn protect_command(&mut self, command: &CommandApdu) -> Result<CommandApdu, SmError> {
        Ok(self.protect_command_parts(command)?.apdu)
    }

    pub(crate) fn protect_command_parts(
        &mut self,
        command: &CommandApdu,
    ) -> Result<ProtectedCommand, SmError> {
        self.increment_ssc();
        let padded_header = self.padded_header(command.cla, command.ins, command.p1, command.p2);
        let data_object = if command.data.is_empty() {
            Vec::new()
        } else if command.ins & 1 == 1 {
            // Odd INS carries BER-TLV data: DO'85' without padding indicator.
            tlv::encode(0x85, &self.encrypt(&command.data)?)
        } else {
            let mut value = vec![0x01];
            value.extend(self.encrypt(&command.data)?);
            tlv::encode(0x87, &value)
        };
        let le_object = command
            .le
            .map(|le| tlv::encode(0x97, &encode_le(le)))
            .unwrap_or_default();
        let mac_input = [padded_header.as_slice(), &data_object, &le_object].concat();
        let (mac, n) = self.mac(&mac_input)?;
        let mut body = [data_object.as_slice(), &le_object].concat();
        body.extend(tlv::encode(0x8E, &mac));
        let extended = body.len() > 255 || command.le.is_some_and(|le| le > SHORT_LE_MAX);
        let apdu = CommandApdu::new(command.cla | 0x0C, command.ins, command.p1, command.p2)
            .with_data(body)
            .with_le(if extended { 65_536 } else { SHORT_LE_MAX });
        Ok(ProtectedCommand {
            padded_header,
            data_object,
            le_object,
            mac_input: n,
            mac,
            apdu,
        })
    }

    /// Terminal side: checks and opens a protected response. A response
    /// without SM objects (the chip aborting with 6987/6988) ends the session.
    pub fn unprotect_response(&mut self, response: &ResponseApdu) -> Result<ResponseApdu, SmError> {
        self.increment_ssc();
        let mut data_object: Option<(u32, &[u8])> = None;
        let mut status: Option<&[u8]> = None;
        let mut mac: Option<&[u8]> = None;
        let mut mac_input = Vec::new();
        for obj in tlv::Objects::new(&response.data) {
            let obj = obj?;
            match obj.tag {
                0x87 | 0x85 => data_object = Some((obj.tag, obj.value)),
                0x99 => status = Some(obj.value),
                0x8E => {
                    mac = Some(obj.value);
                    continue;
                }
                _ => {}
            }
            mac_input.extend(tlv::encode(obj.tag, obj.value));
        }
        let Some(mac) = mac else {
            return Err(SmError::Refused(response.sw));
        };
        let (expected, _) = self.mac(&mac_input)?;
        if !bool::from(expected.ct_eq(mac)) {
            return Err(SmError::BadMac);
        }
        let sw = match status {
            Some([sw1, sw2]) => StatusWord::new(*sw1, *sw2),
            _ => return Err(SmError::MissingObject),
        };
        let data = match data_object {
            Some((tag, value)) => {
                let cryptogram = if tag == 0x87 {
                    match value.split_first() {
                        Some((0x01, rest)) => rest,
                        _ => return Err(SmError::MissingObject),
                    }
                } else {
                    value
                };
                self.decrypt(cryptogram)?.to_vec()
            }
            None => Vec::new(),
        };
        Ok(ResponseApdu::new(data, sw))
    }

    /// Chip side: checks and opens a protected command.
    pub fn unprotect_command(&mut self, command: &CommandApdu) -> Result<CommandApdu, SmError> {
        if command.cla & 0x0C != 0x0C {
            return Err(SmError::NotProtected);
        }
        self.increment_ssc();
        self.answering_odd_ins = command.ins & 1 == 1;
        let mut mac_input = self.padded_header(command.cla, command.ins, command.p1, command.p2);
        let mut cryptogram: Option<(u32, &[u8])> = None;
        let mut le = None;
        let mut mac = None;
        for obj in tlv::Objects::new(&command.data) {
            let obj = obj?;
            match obj.tag {
                0x87 | 0x85 => cryptogram = Some((obj.tag, obj.value)),
                0x97 => le = Some(decode_le(obj.value)?),
                0x8E => {
                    mac = Some(obj.value);
                    continue;
                }
                _ => return Err(SmError::MissingObject),
            }
            mac_input.extend(tlv::encode(obj.tag, obj.value));
        }
        let mac = mac.ok_or(SmError::MissingObject)?;
        let (expected, _) = self.mac(&mac_input)?;
        if !bool::from(expected.ct_eq(mac)) {
            return Err(SmError::BadMac);
        }
        let data = match cryptogram {
            Some((0x87, value)) => match value.split_first() {
                Some((0x01, rest)) => self.decrypt(rest)?.to_vec(),
                _ => return Err(SmError::MissingObject),
            },
            Some((_, value)) => self.decrypt(value)?.to_vec(),
            None => Vec::new(),
        };
        let mut plain = CommandApdu::new(command.cla & !0x0C, command.ins, command.p1, command.p2)
            .with_data(data);
        plain.le = le;
        Ok(plain)
    }

    /// Chip side: wraps a plain response (data and status word).
    pub fn protect_response(&mut self, response: &ResponseApdu) -> Result<ResponseApdu, SmError> {
        self.increment_ssc();
        let mut body = Vec::with_capacity(response.data.len() + 32);
        if self.answering_odd_ins && !response.data.is_empty() {
            body.extend(tlv::encode(0x85, &self.encrypt(&response.data)?));
        } else if !response.data.is_empty() {
            let mut value = vec![0x01];
            value.extend(self.encrypt(&response.data)?);
            body.extend(tlv::encode(0x87, &value));
        }
        body.extend(tlv::encode(0x99, &response.sw.to_bytes()));
        let (mac, _) = self.mac(&body)?;
        body.extend(tlv::encode(0x8E, &mac));
        Ok(ResponseApdu::new(body, response.sw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KeyPurpose;

    fn pair(alg: CipherAlgorithm, ssc: &[u8]) -> (SecureMessaging, SecureMessaging) {
        let e = alg.derive_key(b"k", KeyPurpose::Encryption);
        let m = alg.derive_key(b"k", KeyPurpose::Mac);
        (
            SecureMessaging::new(alg, e.clone(), m.clone(), ssc),
            SecureMessaging::new(alg, e, m, ssc),
        )
    }

    #[test]
    fn ssc_carries_through_every_byte() {
        let (mut sm, _) = pair(CipherAlgorithm::Tdes, &[0, 0, 0, 0, 0, 0, 0x01, 0xFF]);
        sm.increment_ssc();
        assert_eq!(sm.ssc(), [0, 0, 0, 0, 0, 0, 0x02, 0x00]);
        sm.rewind(2);
        assert_eq!(sm.ssc(), [0, 0, 0, 0, 0, 0, 0x01, 0xFE]);
        sm.increment_ssc();
        sm.increment_ssc();
        let (mut sm, _) = pair(CipherAlgorithm::Tdes, &[0xFF; 8]);
        sm.increment_ssc();
        assert_eq!(sm.ssc(), [0; 8]);
        let (mut sm, _) = pair(CipherAlgorithm::Aes128, &[0; 16]);
        sm.increment_ssc();
        assert_eq!(sm.ssc().len(), 16);
        assert_eq!(sm.ssc()[15], 1);
    }

    #[test]
    fn both_sides_agree_for_every_shape() {
        for alg in [
            CipherAlgorithm::Tdes,
            CipherAlgorithm::Aes128,
            CipherAlgorithm::Aes256,
        ] {
            let ssc = vec![0u8; if alg == CipherAlgorithm::Tdes { 8 } else { 16 }];
            let (mut terminal, mut chip) = pair(alg, &ssc);
            let commands = [
                CommandApdu::new(0, 0xA4, 2, 0x0C).with_data(vec![1, 0x1E]),
                CommandApdu::new(0, 0xB0, 0, 0).with_le(0xDF),
                CommandApdu::new(0, 0xB0, 0x7F, 0xFF).with_le(65_536),
                CommandApdu::new(0, 0xB1, 0, 0)
                    .with_data(vec![0x54, 2, 0x80, 0])
                    .with_le(1000),
                CommandApdu::new(0, 0xD6, 0, 0).with_data(vec![9; 400]),
            ];
            for cmd in &commands {
                let wire = terminal.protect_command(cmd).unwrap();
                let bytes = wire.to_bytes().unwrap();
                let parsed = CommandApdu::parse(&bytes).unwrap();
                assert_eq!(&chip.unprotect_command(&parsed).unwrap(), cmd);
                let plain = ResponseApdu::new(vec![0x42; 300], StatusWord::SUCCESS);
                let protected = chip.protect_response(&plain).unwrap();
                assert_eq!(terminal.unprotect_response(&protected).unwrap(), plain);
                let error = ResponseApdu::status(StatusWord::FILE_NOT_FOUND);
                let wire = terminal.protect_command(cmd).unwrap();
                chip.unprotect_command(&wire).unwrap();
                let protected = chip.protect_response(&error).unwrap();
                assert_eq!(protected.sw, StatusWord::FILE_NOT_FOUND);
                assert_eq!(terminal.unprotect_response(&protected).unwrap(), error);
            }
            assert_eq!(terminal.ssc(), chip.ssc());
        }
    }

    #[test]
    fn refuses_tampered_objects() {
        let (mut terminal, mut chip) = pair(CipherAlgorithm::Tdes, &[0; 8]);
        let mut wire = terminal
            .protect_command(&CommandApdu::new(0, 0xB0, 0, 0).with_le(4))
            .unwrap();
        if let Some(last) = wire.data.last_mut() {
            *last ^= 1;
        }
        assert_eq!(chip.unprotect_command(&wire), Err(SmError::BadMac));
        assert_eq!(
            chip.unprotect_command(&CommandApdu::new(0, 0xB0, 0, 0)),
            Err(SmError::NotProtected)
        );
        assert_eq!(
            terminal
                .unprotect_response(&ResponseApdu::status(StatusWord::SM_DATA_OBJECTS_INCORRECT)),
            Err(SmError::Refused(StatusWord::SM_DATA_OBJECTS_INCORRECT))
        );
    }
}
