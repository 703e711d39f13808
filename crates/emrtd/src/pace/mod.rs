//! PACE v2 with the generic mapping over ECDH (ICAO 9303-11 §4.4): what both
//! sides share — the protocol identifiers, EF.CardAccess's PACEInfo, the
//! nonce encryption, the authentication tokens and the session keys. The
//! terminal runs [`terminal::establish`]; the chip runs [`chip::PaceChip`].

pub mod chip;
pub mod terminal;

use crate::access::AccessKey;
use crate::crypto::{CipherAlgorithm, CryptoError, KeyPurpose};
use crate::ec::{Curve, EcError};
use crate::sm::SecureMessaging;
use crate::tlv::{self, TlvError};
use thiserror::Error;
use zeroize::Zeroizing;

/// Why PACE failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PaceError {
    #[error("EF.CardAccess is malformed: {0}")]
    CardAccess(#[from] TlvError),
    #[error("the chip offers no PACE variant this terminal supports")]
    Unsupported,
    #[error("the chip's PACE message is malformed")]
    Malformed,
    #[error("a public key is invalid: {0}")]
    Point(#[from] EcError),
    #[error("the chip's authentication token is wrong: the access key does not match")]
    TokenMismatch,
    #[error("PACE cryptography failed: {0}")]
    Crypto(#[from] CryptoError),
}

/// id-PACE (0.4.0.127.0.7.2.2.4) and its ECDH generic mapping branch.
const ID_PACE_ECDH_GM: [u8; 9] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x04, 0x02];

/// A PACE protocol this crate implements: ECDH generic mapping with one
/// of the four ciphers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PaceProtocol {
    pub cipher: CipherAlgorithm,
}

impl PaceProtocol {
    /// The DER contents of the protocol OID.
    pub fn oid(self) -> Vec<u8> {
        let last = match self.cipher {
            CipherAlgorithm::Tdes => 1,
            CipherAlgorithm::Aes128 => 2,
            CipherAlgorithm::Aes192 => 3,
            CipherAlgorithm::Aes256 => 4,
        };
        let mut oid = ID_PACE_ECDH_GM.to_vec();
        oid.push(last);
        oid
    }

    pub fn from_oid(oid: &[u8]) -> Option<Self> {
        let (last, prefix) = oid.split_last()?;
        if prefix != ID_PACE_ECDH_GM {
            return None;
        }
        let cipher = match last {
            1 => CipherAlgorithm::Tdes,
            2 => CipherAlgorithm::Aes128,
            3 => CipherAlgorithm::Aes192,
            4 => CipherAlgorithm::Aes256,
            _ => return None,
        };
        Some(Self { cipher })
    }

    /// The name reports use, e.g. `PACE-ECDH-GM-AES-128`.
    pub fn name(self) -> &'static str {
        match self.cipher {
            CipherAlgorithm::Tdes => "PACE-ECDH-GM-3DES",
            CipherAlgorithm::Aes128 => "PACE-ECDH-GM-AES-128",
            CipherAlgorithm::Aes192 => "PACE-ECDH-GM-AES-192",
            CipherAlgorithm::Aes256 => "PACE-ECDH-GM-AES-256",
        }
    }
}

/// One PACEInfo the chip advertises that this crate can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PaceInfo {
    pub protocol: PaceProtocol,
    pub curve: Curve,
}

impl PaceInfo {
    /// DER: SEQUENCE { OID, INTEGER 2, INTEGER parameterId }.
    pub fn to_der(self) -> Vec<u8> {
        let body = [
            tlv::encode(0x06, &self.protocol.oid()),
            tlv::encode(0x02, &[2]),
            tlv::encode(0x02, &der_uint(self.curve.parameter_id())),
        ]
        .concat();
        tlv::encode(0x30, &body)
    }

    /// The PACEInfos of EF.CardAccess (a SET OF SecurityInfo) this crate
    /// supports, in the chip's order; other SecurityInfos are skipped.
    pub fn parse_card_access(bytes: &[u8]) -> Result<Vec<Self>, PaceError> {
        let set = tlv::expect(bytes, 0x31)?;
        let mut out = Vec::new();
        for info in set.children() {
            let info = info?;
            if info.tag != 0x30 {
                continue;
            }
            let mut fields = info.children();
            let (Some(Ok(oid)), Some(Ok(version))) = (fields.next(), fields.next()) else {
                continue;
            };
            let Some(protocol) = (oid.tag == 0x06)
                .then(|| PaceProtocol::from_oid(oid.value))
                .flatten()
            else {
                continue;
            };
            if version.tag != 0x02 || version.value != [2] {
                continue;
            }
            let curve = match fields.next() {
                Some(Ok(id)) if id.tag == 0x02 => {
                    small_uint(id.value).and_then(Curve::from_parameter_id)
                }
                _ => None,
            };
            if let Some(curve) = curve {
                out.push(Self { protocol, curve });
            }
        }
        Ok(out)
    }

    /// EF.CardAccess holding just these PACEInfos.
    pub fn card_access(infos: &[Self]) -> Vec<u8> {
        let body: Vec<u8> = infos.iter().flat_map(|i| i.to_der()).collect();
        tlv::encode(0x31, &body)
    }
}

fn der_uint(v: u32) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take(3).take_while(|b| **b == 0).count();
    let mut out = bytes.get(skip..).unwrap_or_default().to_vec();
    if out.first().is_some_and(|b| b & 0x80 != 0) {
        out.insert(0, 0);
    }
    out
}

fn small_uint(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || bytes.len() > 4 {
        return None;
    }
    Some(bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
}

/// K_π = KDF_π(f(π)): the key that encrypts the nonce.
pub(crate) fn password_key(cipher: CipherAlgorithm, key: &AccessKey) -> Zeroizing<Vec<u8>> {
    cipher.derive_key(&key.pace_password(), KeyPurpose::Password)
}

/// The public key data object the tokens are computed over:
/// 7F49 { 06 OID, 86 point }.
pub(crate) fn public_key_object(protocol: PaceProtocol, point: &[u8]) -> Vec<u8> {
    let body = [tlv::encode(0x06, &protocol.oid()), tlv::encode(0x86, point)].concat();
    tlv::encode(0x7F49, &body)
}

/// The authentication token over the other party's ephemeral public key.
pub(crate) fn token(
    protocol: PaceProtocol,
    ks_mac: &[u8],
    peer_point: &[u8],
) -> Result<[u8; 8], PaceError> {
    Ok(protocol
        .cipher
        .mac(ks_mac, &public_key_object(protocol, peer_point))?)
}

/// Session keys from the shared secret, SSC zero.
pub(crate) struct SessionKeys {
    pub k_enc: Zeroizing<Vec<u8>>,
    pub k_mac: Zeroizing<Vec<u8>>,
}

pub(crate) fn session_keys(cipher: CipherAlgorithm, shared_secret: &[u8]) -> SessionKeys {
    SessionKeys {
        k_enc: cipher.derive_key(shared_secret, KeyPurpose::Encryption),
        k_mac: cipher.derive_key(shared_secret, KeyPurpose::Mac),
    }
}

pub(crate) fn secure_messaging(cipher: CipherAlgorithm, keys: SessionKeys) -> SecureMessaging {
    let ssc = vec![0u8; cipher.block_size()];
    SecureMessaging::new(cipher, keys.k_enc, keys.k_mac, &ssc)
}

/// Ĝ = s·G + H, the generic mapping.
pub(crate) fn map_generator(curve: Curve, nonce: &[u8], h: &[u8]) -> Result<Vec<u8>, PaceError> {
    let sg = curve.mul(nonce, &curve.generator())?;
    Ok(curve.add(&sg, h)?)
}

/// Dynamic authentication data: 7C { tag value }.
pub(crate) fn auth_data(tag: u32, value: &[u8]) -> Vec<u8> {
    tlv::encode(0x7C, &tlv::encode(tag, value))
}

/// The value of `tag` inside a 7C object.
pub(crate) fn auth_value(data: &[u8], tag: u32) -> Result<&[u8], PaceError> {
    let outer = tlv::expect(data, 0x7C).map_err(|_| PaceError::Malformed)?;
    outer
        .children()
        .find(tag)
        .map_err(|_| PaceError::Malformed)?
        .map(|t| t.value)
        .ok_or(PaceError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_access_round_trips_and_skips_unknown_infos() {
        let infos = [
            PaceInfo {
                protocol: PaceProtocol {
                    cipher: CipherAlgorithm::Aes128,
                },
                curve: Curve::BrainpoolP256r1,
            },
            PaceInfo {
                protocol: PaceProtocol {
                    cipher: CipherAlgorithm::Aes256,
                },
                curve: Curve::NistP384,
            },
        ];
        let bytes = PaceInfo::card_access(&infos);
        assert_eq!(PaceInfo::parse_card_access(&bytes).unwrap(), infos);
        // an unknown SecurityInfo (e.g. a chip authentication info) is skipped
        let unknown = tlv::encode(
            0x30,
            &[
                tlv::encode(
                    0x06,
                    &[0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x03, 0x02, 0x01],
                ),
                tlv::encode(0x02, &[1]),
            ]
            .concat(),
        );
        let mixed = tlv::encode(0x31, &[unknown, infos[0].to_der()].concat());
        assert_eq!(PaceInfo::parse_card_access(&mixed).unwrap(), &infos[..1]);
        assert!(PaceInfo::parse_card_access(&[0x31, 0x05, 0x30]).is_err());
    }
}
