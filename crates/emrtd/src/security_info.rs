//! DG14's SecurityInfos (ICAO 9303-11 §9.2): which Active Authentication
//! signature algorithm the chip uses, which Chip Authentication protocols
//! and keys it offers, and its PACE variants.

use crate::crypto::CipherAlgorithm;
use crate::keys::{HashAlgorithm, KeyError, PublicKey, small_int};
use crate::pace::PaceInfo;
use crate::tlv::{self, TlvError};
use der::oid::ObjectIdentifier as Oid;

/// id-AA (ICAO 9303-11 §9.2.6).
const ID_AA: Oid = Oid::new_unwrap("2.23.136.1.1.5");
/// id-CA-ECDH; the last arc names the cipher.
const ID_CA_ECDH: [u8; 9] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x03, 0x02];

/// ActiveAuthenticationInfo: the ECDSA hash function of AA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveAuthenticationInfo {
    pub hash: HashAlgorithm,
}

/// ChipAuthenticationInfo: CA v1 with ECDH and this cipher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChipAuthenticationInfo {
    pub cipher: CipherAlgorithm,
    pub key_id: Option<u32>,
}

/// ChipAuthenticationPublicKeyInfo: the chip's static ECDH key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipAuthenticationPublicKey {
    pub key: PublicKey,
    pub key_id: Option<u32>,
}

/// The SecurityInfos of DG14 this crate understands; others are skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityInfos {
    pub active_authentication: Option<ActiveAuthenticationInfo>,
    pub chip_authentication: Vec<ChipAuthenticationInfo>,
    pub chip_authentication_keys: Vec<ChipAuthenticationPublicKey>,
    pub pace: Vec<PaceInfo>,
}

impl ChipAuthenticationInfo {
    /// The protocol OID's DER contents.
    pub fn oid(&self) -> Vec<u8> {
        let last = match self.cipher {
            CipherAlgorithm::Tdes => 1,
            CipherAlgorithm::Aes128 => 2,
            CipherAlgorithm::Aes192 => 3,
            CipherAlgorithm::Aes256 => 4,
        };
        [&ID_CA_ECDH[..], &[last]].concat()
    }

    fn cipher_of(oid: &[u8]) -> Option<CipherAlgorithm> {
        match oid.split_last()? {
            (last, prefix) if prefix == ID_CA_ECDH => match last {
                1 => Some(CipherAlgorithm::Tdes),
                2 => Some(CipherAlgorithm::Aes128),
                3 => Some(CipherAlgorithm::Aes192),
                4 => Some(CipherAlgorithm::Aes256),
                _ => None,
            },
            _ => None,
        }
    }
}

fn der_small_int(v: u32) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take(3).take_while(|b| **b == 0).count();
    let mut out = bytes.get(skip..).unwrap_or_default().to_vec();
    if out.first().is_some_and(|b| b & 0x80 != 0) {
        out.insert(0, 0);
    }
    tlv::encode(0x02, &out)
}

fn key_id(obj: Option<Result<tlv::Tlv<'_>, TlvError>>) -> Option<u32> {
    match obj {
        Some(Ok(t)) if t.tag == 0x02 => small_int(t.value),
        _ => None,
    }
}

impl SecurityInfos {
    /// Parses DG14 (`6E { SET OF SecurityInfo }`) or a bare SET.
    pub fn parse(bytes: &[u8]) -> Result<Self, KeyError> {
        let set = match tlv::expect(bytes, 0x6E) {
            Ok(dg14) => tlv::expect(dg14.value, 0x31)?,
            Err(_) => tlv::expect(bytes, 0x31)?,
        };
        let mut out = Self {
            pace: PaceInfo::parse_card_access(&tlv::encode(0x31, set.value)).unwrap_or_default(),
            ..Self::default()
        };
        for info in set.children() {
            let info = info?;
            let mut fields = info.children();
            let Some(Ok(oid)) = fields.next() else {
                continue;
            };
            if oid.tag != 0x06 {
                continue;
            }
            if oid.value == ID_AA.as_bytes() {
                let _version = fields.next();
                if let Some(Ok(alg)) = fields.next()
                    && let Some(hash) = HashAlgorithm::from_ecdsa_oid(alg.value)
                {
                    out.active_authentication = Some(ActiveAuthenticationInfo { hash });
                }
            } else if let Some(cipher) = ChipAuthenticationInfo::cipher_of(oid.value) {
                let _version = fields.next();
                out.chip_authentication.push(ChipAuthenticationInfo {
                    cipher,
                    key_id: key_id(fields.next()),
                });
            } else if oid.value == crate::keys::PK_ECDH.as_bytes() {
                let Some(Ok(spki)) = fields.next() else {
                    continue;
                };
                // Keys this crate cannot use are skipped like unknown infos.
                if let Ok(key) = PublicKey::from_spki(&tlv::encode(spki.tag, spki.value)) {
                    out.chip_authentication_keys
                        .push(ChipAuthenticationPublicKey {
                            key,
                            key_id: key_id(fields.next()),
                        });
                }
            }
        }
        Ok(out)
    }

    /// DG14 holding these infos.
    pub fn to_dg14(&self) -> Vec<u8> {
        let mut infos = Vec::new();
        if let Some(aa) = &self.active_authentication {
            infos.push(tlv::encode(
                0x30,
                &[
                    tlv::encode(0x06, ID_AA.as_bytes()),
                    der_small_int(1),
                    tlv::encode(0x06, aa.hash.ecdsa_oid().as_bytes()),
                ]
                .concat(),
            ));
        }
        for ca in &self.chip_authentication {
            let mut body = [tlv::encode(0x06, &ca.oid()), der_small_int(1)].concat();
            if let Some(id) = ca.key_id {
                body.extend(der_small_int(id));
            }
            infos.push(tlv::encode(0x30, &body));
        }
        for key in &self.chip_authentication_keys {
            let mut body = [
                tlv::encode(0x06, crate::keys::PK_ECDH.as_bytes()),
                key.key.to_spki(),
            ]
            .concat();
            if let Some(id) = key.key_id {
                body.extend(der_small_int(id));
            }
            infos.push(tlv::encode(0x30, &body));
        }
        infos.extend(self.pace.iter().map(|p| p.to_der()));
        // DER orders a SET OF by encoding.
        infos.sort();
        tlv::encode(0x6E, &tlv::encode(0x31, &infos.concat()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec::Curve;
    use crate::keys::PrivateKey;

    #[test]
    fn dg14_round_trips() {
        let key = PrivateKey::generate_ec(Curve::BrainpoolP256r1, &mut rand_core::OsRng);
        let infos = SecurityInfos {
            active_authentication: Some(ActiveAuthenticationInfo {
                hash: HashAlgorithm::Sha384,
            }),
            chip_authentication: vec![ChipAuthenticationInfo {
                cipher: CipherAlgorithm::Aes128,
                key_id: Some(200),
            }],
            chip_authentication_keys: vec![ChipAuthenticationPublicKey {
                key: key.public_key(),
                key_id: Some(200),
            }],
            pace: vec![crate::specimen::pace_info(
                Curve::NistP256,
                CipherAlgorithm::Aes256,
            )],
        };
        let dg14 = infos.to_dg14();
        assert_eq!(dg14[0], 0x6E);
        assert_eq!(SecurityInfos::parse(&dg14).unwrap(), infos);
        assert_eq!(
            SecurityInfos::parse(&[0x31, 0x00]).unwrap(),
            SecurityInfos::default()
        );
        assert!(SecurityInfos::parse(&[0x6E, 0x02, 0x30, 0x00]).is_err());
    }
}
