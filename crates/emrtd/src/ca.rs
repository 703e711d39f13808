//! Chip Authentication v1 (ICAO 9303-11 §6.2, BSI TR-03110 §3.4) with
//! ECDH: the terminal sends an ephemeral public key, both sides agree on a
//! secret with the chip's static key from DG14, and secure messaging
//! restarts under keys derived from it (SSC zero). Only a chip holding the
//! private key can answer the next command correctly, so a copy fails.
//!
//! 3DES uses MSE:Set KAT; AES uses MSE:Set AT and GENERAL AUTHENTICATE.

use crate::crypto::CipherAlgorithm;
use crate::ec::EcError;
use crate::keys::PrivateKey;
use crate::pace::{secure_messaging, session_keys};
use crate::sm::SecureMessaging;
use crate::tlv;
use zeroize::Zeroizing;

/// The chip's static Chip Authentication key and the cipher it offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaKey {
    /// An EC key on one of the curves of [`crate::ec::Curve`].
    pub key: PrivateKey,
    pub cipher: CipherAlgorithm,
    pub key_id: Option<u32>,
}

/// The secure messaging session that follows CA: ECDH of `private` (scalar
/// on `key`'s curve) with the peer's public point.
pub(crate) fn derive_session(
    key: &PrivateKey,
    cipher: CipherAlgorithm,
    peer_public: &[u8],
) -> Result<SecureMessaging, EcError> {
    let PrivateKey::Ec { curve, scalar } = key else {
        return Err(EcError::InvalidPoint);
    };
    let point = curve.mul(scalar, peer_public)?;
    let shared = Zeroizing::new(curve.x_coordinate(&point)?);
    Ok(secure_messaging(cipher, session_keys(cipher, &shared)))
}

/// The data objects of MSE:Set KAT (3DES): `91` ephemeral key, `84` key id.
pub(crate) fn set_kat_data(ephemeral: &[u8], key_id: Option<u32>) -> Vec<u8> {
    let mut data = tlv::encode(0x91, ephemeral);
    if let Some(id) = key_id {
        data.extend(tlv::encode(0x84, &key_id_bytes(id)));
    }
    data
}

/// MSE:Set AT for CA (AES): `80` protocol OID, `84` key id.
pub(crate) fn set_at_data(oid: &[u8], key_id: Option<u32>) -> Vec<u8> {
    let mut data = tlv::encode(0x80, oid);
    if let Some(id) = key_id {
        data.extend(tlv::encode(0x84, &key_id_bytes(id)));
    }
    data
}

fn key_id_bytes(id: u32) -> Vec<u8> {
    let bytes = id.to_be_bytes();
    let skip = bytes.iter().take(3).take_while(|b| **b == 0).count();
    bytes.get(skip..).unwrap_or_default().to_vec()
}
