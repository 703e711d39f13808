//! The symmetric primitives of ICAO 9303-11: the key derivation function,
//! CBC encryption, ISO 9797-1 padding and the two MACs. Chip and terminal
//! share every line of it.

use aes::{Aes128, Aes192, Aes256};
use cipher::{BlockDecrypt, BlockEncrypt, KeyInit, generic_array::GenericArray};
use cmac::{Cmac, Mac};
use des::{Des, TdesEde2};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use thiserror::Error;
use zeroize::Zeroizing;

/// A key whose length does not fit the algorithm, or data that is not a
/// whole number of blocks.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CryptoError {
    #[error("key of {0} bytes does not fit the cipher")]
    KeyLength(usize),
    #[error("data of {0} bytes is not a whole number of cipher blocks")]
    NotBlockAligned(usize),
    #[error("padding is malformed")]
    Padding,
}

/// The block cipher of a secure messaging session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CipherAlgorithm {
    /// Two-key triple DES with the ISO 9797-1 retail MAC.
    Tdes,
    Aes128,
    Aes192,
    Aes256,
}

/// The KDF counter of ICAO 9303-11 §9.7.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose {
    Encryption = 1,
    Mac = 2,
    Password = 3,
}

impl CipherAlgorithm {
    pub fn key_len(self) -> usize {
        match self {
            Self::Tdes | Self::Aes128 => 16,
            Self::Aes192 => 24,
            Self::Aes256 => 32,
        }
    }

    pub fn block_size(self) -> usize {
        match self {
            Self::Tdes => 8,
            _ => 16,
        }
    }

    /// Derives a key from a shared secret: SHA-1 for 3DES and AES-128,
    /// SHA-256 for the longer AES keys; 3DES keys get odd parity.
    pub fn derive_key(self, secret: &[u8], purpose: KeyPurpose) -> Zeroizing<Vec<u8>> {
        let counter = (purpose as u32).to_be_bytes();
        let digest: Zeroizing<Vec<u8>> = match self {
            Self::Tdes | Self::Aes128 => Zeroizing::new(
                Sha1::new()
                    .chain_update(secret)
                    .chain_update(counter)
                    .finalize()
                    .to_vec(),
            ),
            Self::Aes192 | Self::Aes256 => Zeroizing::new(
                Sha256::new()
                    .chain_update(secret)
                    .chain_update(counter)
                    .finalize()
                    .to_vec(),
            ),
        };
        let mut key = Zeroizing::new(digest.get(..self.key_len()).unwrap_or_default().to_vec());
        if self == Self::Tdes {
            adjust_parity(&mut key);
        }
        key
    }

    /// CBC encryption of block-aligned data.
    pub fn encrypt_cbc(self, key: &[u8], iv: &[u8], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let cipher = BlockKey::new(self, key)?;
        let bs = self.block_size();
        if !data.len().is_multiple_of(bs) {
            return Err(CryptoError::NotBlockAligned(data.len()));
        }
        let mut chain = iv_or_zero(iv, bs);
        let mut out = Vec::with_capacity(data.len());
        for block in data.chunks(bs) {
            let mut b: Vec<u8> = block.iter().zip(&chain).map(|(x, y)| x ^ y).collect();
            cipher.encrypt(&mut b);
            out.extend_from_slice(&b);
            chain = b;
        }
        Ok(out)
    }

    /// CBC decryption of block-aligned data.
    pub fn decrypt_cbc(
        self,
        key: &[u8],
        iv: &[u8],
        data: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let cipher = BlockKey::new(self, key)?;
        let bs = self.block_size();
        if !data.len().is_multiple_of(bs) {
            return Err(CryptoError::NotBlockAligned(data.len()));
        }
        let mut chain = iv_or_zero(iv, bs);
        let mut out = Zeroizing::new(Vec::with_capacity(data.len()));
        for block in data.chunks(bs) {
            let mut b = block.to_vec();
            cipher.decrypt(&mut b);
            out.extend(b.iter().zip(&chain).map(|(x, y)| x ^ y));
            chain = block.to_vec();
        }
        Ok(out)
    }

    /// Encrypts one block (the AES secure messaging IV is E(K, SSC)).
    pub fn encrypt_block(self, key: &[u8], block: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if block.len() != self.block_size() {
            return Err(CryptoError::NotBlockAligned(block.len()));
        }
        let mut b = block.to_vec();
        BlockKey::new(self, key)?.encrypt(&mut b);
        Ok(b)
    }

    /// The 8-byte MAC of ICAO 9303-11 §9.8 over data the caller has already
    /// padded: retail MAC for 3DES, CMAC truncated for AES.
    pub fn mac_padded(self, key: &[u8], data: &[u8]) -> Result<[u8; 8], CryptoError> {
        match self {
            Self::Tdes => retail_mac(key, data),
            Self::Aes128 => cmac8_aes128(key, data),
            Self::Aes192 => cmac8_aes192(key, data),
            Self::Aes256 => cmac8_aes256(key, data),
        }
    }

    /// The MAC over unpadded data: 3DES pads (method 2), CMAC pads itself.
    /// BAC cryptograms and PACE tokens use this one.
    pub fn mac(self, key: &[u8], data: &[u8]) -> Result<[u8; 8], CryptoError> {
        match self {
            Self::Tdes => retail_mac(key, &pad(data, 8)),
            _ => self.mac_padded(key, data),
        }
    }
}

fn iv_or_zero(iv: &[u8], bs: usize) -> Vec<u8> {
    if iv.len() == bs {
        iv.to_vec()
    } else {
        vec![0; bs]
    }
}

enum BlockKey {
    Tdes(Box<TdesEde2>),
    Aes128(Box<Aes128>),
    Aes192(Box<Aes192>),
    Aes256(Box<Aes256>),
}

impl BlockKey {
    fn new(alg: CipherAlgorithm, key: &[u8]) -> Result<Self, CryptoError> {
        let bad = |_| CryptoError::KeyLength(key.len());
        Ok(match alg {
            CipherAlgorithm::Tdes => {
                Self::Tdes(Box::new(TdesEde2::new_from_slice(key).map_err(bad)?))
            }
            CipherAlgorithm::Aes128 => {
                Self::Aes128(Box::new(Aes128::new_from_slice(key).map_err(bad)?))
            }
            CipherAlgorithm::Aes192 => {
                Self::Aes192(Box::new(Aes192::new_from_slice(key).map_err(bad)?))
            }
            CipherAlgorithm::Aes256 => {
                Self::Aes256(Box::new(Aes256::new_from_slice(key).map_err(bad)?))
            }
        })
    }

    /// `block` has the cipher's block size: callers chunk by it.
    fn encrypt(&self, block: &mut [u8]) {
        match self {
            Self::Tdes(c) => c.encrypt_block(GenericArray::from_mut_slice(block)),
            Self::Aes128(c) => c.encrypt_block(GenericArray::from_mut_slice(block)),
            Self::Aes192(c) => c.encrypt_block(GenericArray::from_mut_slice(block)),
            Self::Aes256(c) => c.encrypt_block(GenericArray::from_mut_slice(block)),
        }
    }

    fn decrypt(&self, block: &mut [u8]) {
        match self {
            Self::Tdes(c) => c.decrypt_block(GenericArray::from_mut_slice(block)),
            Self::Aes128(c) => c.decrypt_block(GenericArray::from_mut_slice(block)),
            Self::Aes192(c) => c.decrypt_block(GenericArray::from_mut_slice(block)),
            Self::Aes256(c) => c.decrypt_block(GenericArray::from_mut_slice(block)),
        }
    }
}

/// ISO/IEC 9797-1 MAC algorithm 3 with DES: CBC-MAC under Ka, then the last
/// block decrypted under Kb and encrypted under Ka again.
fn retail_mac(key: &[u8], padded: &[u8]) -> Result<[u8; 8], CryptoError> {
    if key.len() != 16 {
        return Err(CryptoError::KeyLength(key.len()));
    }
    if !padded.len().is_multiple_of(8) || padded.is_empty() {
        return Err(CryptoError::NotBlockAligned(padded.len()));
    }
    let (ka, kb) = key.split_at(8);
    let ka = Des::new_from_slice(ka).map_err(|_| CryptoError::KeyLength(key.len()))?;
    let kb = Des::new_from_slice(kb).map_err(|_| CryptoError::KeyLength(key.len()))?;
    let mut h = GenericArray::from([0u8; 8]);
    for block in padded.chunks(8) {
        for (x, y) in h.iter_mut().zip(block) {
            *x ^= y;
        }
        ka.encrypt_block(&mut h);
    }
    kb.decrypt_block(&mut h);
    ka.encrypt_block(&mut h);
    Ok(h.into())
}

macro_rules! cmac8 {
    ($name:ident, $cipher:ty) => {
        fn $name(key: &[u8], data: &[u8]) -> Result<[u8; 8], CryptoError> {
            let mut mac = <Cmac<$cipher> as KeyInit>::new_from_slice(key)
                .map_err(|_| CryptoError::KeyLength(key.len()))?;
            mac.update(data);
            let full = mac.finalize().into_bytes();
            let mut out = [0u8; 8];
            out.copy_from_slice(full.get(..8).unwrap_or(&[0u8; 8]));
            Ok(out)
        }
    };
}
cmac8!(cmac8_aes128, Aes128);
cmac8!(cmac8_aes192, Aes192);
cmac8!(cmac8_aes256, Aes256);

/// Sets odd parity in each byte's least significant bit, as DES keys need.
pub fn adjust_parity(key: &mut [u8]) {
    for b in key.iter_mut() {
        let ones = (*b & 0xFE).count_ones();
        *b = (*b & 0xFE) | u8::from(ones % 2 == 0);
    }
}

/// ISO/IEC 9797-1 padding method 2: `80` then zeros to a whole block.
pub fn pad(data: &[u8], block_size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + block_size);
    out.extend_from_slice(data);
    out.push(0x80);
    while !out.len().is_multiple_of(block_size) {
        out.push(0);
    }
    out
}

/// Removes method-2 padding.
pub fn unpad(data: &[u8]) -> Result<&[u8], CryptoError> {
    let end = data
        .iter()
        .rposition(|b| *b != 0)
        .ok_or(CryptoError::Padding)?;
    match data.get(end) {
        Some(0x80) => Ok(data.get(..end).unwrap_or_default()),
        _ => Err(CryptoError::Padding),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_and_unpads() {
        assert_eq!(pad(&[1, 2, 3], 8), [1, 2, 3, 0x80, 0, 0, 0, 0]);
        assert_eq!(pad(&[0; 8], 8).len(), 16);
        assert_eq!(unpad(&[1, 0x80, 0, 0]).unwrap(), &[1]);
        assert_eq!(unpad(&[0x80]).unwrap(), &[] as &[u8]);
        assert_eq!(unpad(&[1, 2, 0]), Err(CryptoError::Padding));
        assert_eq!(unpad(&[0, 0]), Err(CryptoError::Padding));
    }

    #[test]
    fn cbc_round_trips_for_every_cipher() {
        for alg in [
            CipherAlgorithm::Tdes,
            CipherAlgorithm::Aes128,
            CipherAlgorithm::Aes192,
            CipherAlgorithm::Aes256,
        ] {
            let key = alg.derive_key(b"secret", KeyPurpose::Encryption);
            assert_eq!(key.len(), alg.key_len());
            let data = pad(b"some data of any length", alg.block_size());
            let iv = vec![7u8; alg.block_size()];
            let enc = alg.encrypt_cbc(&key, &iv, &data).unwrap();
            assert_ne!(enc, data);
            assert_eq!(alg.decrypt_cbc(&key, &iv, &enc).unwrap().as_slice(), data);
            assert!(alg.encrypt_cbc(&key, &iv, &[1, 2, 3]).is_err());
            assert!(alg.encrypt_cbc(&key[..5], &iv, &data).is_err());
        }
    }

    #[test]
    fn parity_is_odd() {
        let mut k = [0u8, 1, 0xFE, 0xFF];
        adjust_parity(&mut k);
        assert_eq!(k, [0x01, 0x01, 0xFE, 0xFE]);
    }
}
