//! Active Authentication (ICAO 9303-11 §6.1): the chip signs the terminal's
//! 8-byte challenge with a private key that cannot be read out, proving it
//! is not a copy. RSA signs with ISO/IEC 9796-2 digital signature scheme 1
//! (partial message recovery); ECDSA signs the hash of the challenge and
//! answers with the plain `r || s`.

use crate::keys::{HashAlgorithm, PrivateKey, PublicKey};
use rand_core::CryptoRngCore;
use rsa::BigUint;
use rsa::traits::PublicKeyParts;
use subtle::ConstantTimeEq;
use thiserror::Error;
use zeroize::Zeroizing;

/// Length of the terminal's challenge (RND.IFD).
pub const CHALLENGE_LEN: usize = 8;

/// Why the chip cannot sign.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AaError {
    #[error("the RSA modulus is too short for this hash")]
    ModulusTooShort,
    #[error("the signing operation failed")]
    Signing,
}

/// The chip's Active Authentication key and the hash it signs with (for
/// RSA, SHA-1 uses the implicit trailer BC; others the explicit `xx CC`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AaKey {
    pub key: PrivateKey,
    pub hash: HashAlgorithm,
}

/// The ISO/IEC 10118-3 hash identifier of an explicit trailer.
fn hash_id(hash: HashAlgorithm) -> u8 {
    match hash {
        HashAlgorithm::Sha1 => 0x33,
        HashAlgorithm::Sha256 => 0x34,
        HashAlgorithm::Sha512 => 0x35,
        HashAlgorithm::Sha384 => 0x36,
        HashAlgorithm::Sha224 => 0x38,
    }
}

fn trailer(hash: HashAlgorithm) -> Vec<u8> {
    match hash {
        HashAlgorithm::Sha1 => vec![0xBC],
        other => vec![hash_id(other), 0xCC],
    }
}

/// Bytes of M1 in a message representative of `k_bytes` bytes.
fn m1_len(k_bytes: usize, hash: HashAlgorithm) -> Option<usize> {
    k_bytes.checked_sub(1 + hash.output_len() + trailer(hash).len())
}

/// F = 6A || M1 || H(M1 || M2) || T, the message representative the chip
/// signs.
pub fn iso9796_2_representative(m1: &[u8], m2: &[u8], hash: HashAlgorithm) -> Vec<u8> {
    let h = hash.digest(&[m1, m2].concat());
    [&[0x6A][..], m1, &h, &trailer(hash)].concat()
}

/// Checks a recovered representative against the challenge M2: returns
/// the hash it used and the recovered M1, or why it is wrong.
pub fn iso9796_2_recover(f: &[u8], m2: &[u8]) -> Result<(HashAlgorithm, Vec<u8>), &'static str> {
    if f.first() != Some(&0x6A) {
        return Err("the recovered message does not have the partial-recovery header 6A");
    }
    let hash = match f {
        [.., 0xBC] => HashAlgorithm::Sha1,
        [.., id, 0xCC] => HashAlgorithm::all()
            .into_iter()
            .find(|h| hash_id(*h) == *id)
            .ok_or("the recovered message names an unknown hash function")?,
        _ => return Err("the recovered message has no valid trailer"),
    };
    let m1_end = m1_len(f.len(), hash).ok_or("the recovered message is too short")? + 1;
    let d = f
        .get(m1_end..m1_end + hash.output_len())
        .ok_or("the recovered message is too short")?;
    let m1 = f
        .get(1..m1_end)
        .ok_or("the recovered message is too short")?;
    let d_star = hash.digest(&[m1, m2].concat());
    if bool::from(d_star.ct_eq(d)) {
        Ok((hash, m1.to_vec()))
    } else {
        Err("the signed digest does not match the challenge")
    }
}

fn left_pad(bytes: Vec<u8>, len: usize) -> Vec<u8> {
    if bytes.len() >= len {
        return bytes;
    }
    let mut out = vec![0u8; len - bytes.len()];
    out.extend(bytes);
    out
}

impl AaKey {
    /// The chip's answer to INTERNAL AUTHENTICATE.
    pub fn sign<R: CryptoRngCore + ?Sized>(
        &self,
        challenge: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, AaError> {
        match &self.key {
            PrivateKey::Rsa(key) => {
                let k_bytes = key.size();
                let m1_bytes = m1_len(k_bytes, self.hash).ok_or(AaError::ModulusTooShort)?;
                let mut m1 = Zeroizing::new(vec![0u8; m1_bytes]);
                rng.fill_bytes(&mut m1);
                let f = iso9796_2_representative(&m1, challenge, self.hash);
                let s = rsa::hazmat::rsa_decrypt_and_check(
                    key.as_ref(),
                    Some(rng),
                    &BigUint::from_bytes_be(&f),
                )
                .map_err(|_| AaError::Signing)?;
                Ok(left_pad(s.to_bytes_be(), k_bytes))
            }
            PrivateKey::Ec { curve, scalar } => curve
                .ecdsa_sign(scalar, &self.hash.digest(challenge), rng)
                .map_err(|_| AaError::Signing),
        }
    }
}

/// Verifies the chip's signature over `challenge` with the DG15 key.
/// `ecdsa_hash` comes from DG14 (SHA-256 when it names none). Returns the
/// algorithm description, or why the signature is wrong.
pub fn verify(
    public: &PublicKey,
    ecdsa_hash: Option<HashAlgorithm>,
    challenge: &[u8],
    signature: &[u8],
) -> Result<String, String> {
    match public {
        PublicKey::Rsa(key) => {
            let k_bytes = key.size();
            if signature.len() != k_bytes {
                return Err(format!(
                    "the signature is {} bytes, the key's modulus {k_bytes}",
                    signature.len()
                ));
            }
            let s = BigUint::from_bytes_be(signature);
            if &s >= key.n() {
                return Err("the signature is not smaller than the modulus".into());
            }
            let f = rsa::hazmat::rsa_encrypt(key, &s)
                .map_err(|_| "the RSA operation failed".to_string())?;
            // ISO/IEC 9796-2 lets the signer send n - J^d; the trailer tells.
            let f = if f.to_bytes_be().last().is_some_and(|b| b & 0x0F == 0x0C) {
                f
            } else {
                key.n() - f
            };
            let (hash, _) = iso9796_2_recover(&left_pad(f.to_bytes_be(), k_bytes), challenge)
                .map_err(str::to_owned)?;
            Ok(format!(
                "{} ISO/IEC 9796-2 {}",
                public.describe(),
                hash.name()
            ))
        }
        PublicKey::Ec { curve, point } => {
            let hash = ecdsa_hash.unwrap_or(HashAlgorithm::Sha256);
            if curve.ecdsa_verify(point, &hash.digest(challenge), signature) {
                Ok(format!("ECDSA {} {}", curve.name(), hash.name()))
            } else {
                Err(format!(
                    "the ECDSA signature does not verify with DG15's key ({})",
                    hash.name()
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec::Curve;
    use std::sync::OnceLock;

    pub(crate) fn rsa_1024() -> &'static PrivateKey {
        static KEY: OnceLock<PrivateKey> = OnceLock::new();
        KEY.get_or_init(|| PrivateKey::generate_rsa(1024, &mut rand_core::OsRng).unwrap())
    }

    #[test]
    fn rsa_and_ecdsa_sign_and_verify() {
        let challenge = [1, 2, 3, 4, 5, 6, 7, 8];
        let mut keys = vec![
            (rsa_1024().clone(), HashAlgorithm::Sha1),
            (rsa_1024().clone(), HashAlgorithm::Sha256),
        ];
        for curve in [Curve::NistP256, Curve::BrainpoolP384r1] {
            keys.push((
                PrivateKey::generate_ec(curve, &mut rand_core::OsRng),
                HashAlgorithm::Sha384,
            ));
        }
        for (key, hash) in keys {
            let aa = AaKey { key, hash };
            let public = aa.key.public_key();
            let sig = aa.sign(&challenge, &mut rand_core::OsRng).unwrap();
            let alg = verify(&public, Some(hash), &challenge, &sig).unwrap();
            assert!(alg.contains(hash.name()), "{alg}");
            assert!(verify(&public, Some(hash), &[0; 8], &sig).is_err());
            let mut bad = sig.clone();
            bad[10] ^= 0x40;
            assert!(verify(&public, Some(hash), &challenge, &bad).is_err());
            assert!(verify(&public, Some(hash), &challenge, &sig[1..]).is_err());
        }
        // another chip's key: the clone
        let other = PrivateKey::generate_ec(Curve::NistP256, &mut rand_core::OsRng);
        let clone = AaKey {
            key: other,
            hash: HashAlgorithm::Sha256,
        };
        let original = PrivateKey::generate_ec(Curve::NistP256, &mut rand_core::OsRng);
        let sig = clone.sign(&challenge, &mut rand_core::OsRng).unwrap();
        assert!(verify(&original.public_key(), None, &challenge, &sig).is_err());
    }
}
