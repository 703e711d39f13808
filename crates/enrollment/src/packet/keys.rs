//! The two key pairs a packet involves: the platform's X25519 pair that
//! it is encrypted to, and the station's Ed25519 pair that signs it.
//!
//! Secret halves are wiped when dropped (the underlying dalek types
//! zeroize on drop) and never appear in `Debug`.

use std::fmt;

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use hpke::rand_core::CryptoRng;
use hpke::{Deserializable as _, Kem as _, Serializable as _};
use zeroize::Zeroizing;

use super::PacketError;

pub(super) type Kem = hpke::kem::X25519HkdfSha256;

/// The platform's X25519 public key: what stations seal packets to.
#[derive(Clone, PartialEq, Eq)]
pub struct PlatformPublicKey(pub(super) <Kem as hpke::Kem>::PublicKey);

impl PlatformPublicKey {
    /// Any 32 bytes are an X25519 public key; a degenerate one makes
    /// sealing fail with [`PacketError::Encrypt`].
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, PacketError> {
        <Kem as hpke::Kem>::PublicKey::from_bytes(bytes)
            .map(Self)
            .map_err(|_| PacketError::InvalidKey)
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes().into()
    }
}

impl fmt::Debug for PlatformPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlatformPublicKey({})", Hex(&self.to_bytes()))
    }
}

/// The platform's X25519 secret key. Only the platform holds it; a
/// station never does, so a station cannot open what it sealed.
#[derive(Clone)]
pub struct PlatformSecretKey(pub(super) <Kem as hpke::Kem>::PrivateKey);

impl PlatformSecretKey {
    /// The key is clamped as RFC 7748 requires, so every 32 bytes are valid.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, PacketError> {
        <Kem as hpke::Kem>::PrivateKey::from_bytes(bytes)
            .map(Self)
            .map_err(|_| PacketError::InvalidKey)
    }

    /// The secret, for storing it; wiped when the returned value drops.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes().into())
    }

    pub fn public_key(&self) -> PlatformPublicKey {
        PlatformPublicKey(Kem::sk_to_pk(&self.0))
    }
}

impl fmt::Debug for PlatformSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlatformSecretKey(<secret>)")
    }
}

/// The platform's key pair.
#[derive(Clone)]
pub struct PlatformKeyPair {
    secret: PlatformSecretKey,
    public: PlatformPublicKey,
}

impl PlatformKeyPair {
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let (secret, public) = Kem::gen_keypair_with_rng(rng);
        Self {
            secret: PlatformSecretKey(secret),
            public: PlatformPublicKey(public),
        }
    }

    pub fn from_secret(secret: PlatformSecretKey) -> Self {
        let public = secret.public_key();
        Self { secret, public }
    }

    pub fn public_key(&self) -> &PlatformPublicKey {
        &self.public
    }

    /// The public key's 32 bytes, as a station is configured with them.
    pub fn public_bytes(&self) -> [u8; 32] {
        self.public.to_bytes()
    }

    pub fn secret_key(&self) -> &PlatformSecretKey {
        &self.secret
    }
}

impl fmt::Debug for PlatformKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlatformKeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// The station's Ed25519 signing key.
#[derive(Clone)]
pub struct StationKeys(SigningKey);

impl StationKeys {
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        Self(SigningKey::generate(rng))
    }

    /// From the 32-byte Ed25519 seed (RFC 8032 private key).
    pub fn from_bytes(seed: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(seed))
    }

    /// The seed, for storing it; wiped when the returned value drops.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    pub fn verifying_key(&self) -> StationVerifyingKey {
        StationVerifyingKey(self.0.verifying_key())
    }

    pub(super) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

impl fmt::Debug for StationKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StationKeys")
            .field("verifying_key", &self.verifying_key())
            .finish_non_exhaustive()
    }
}

/// The station's Ed25519 public key, as the platform registers it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct StationVerifyingKey(VerifyingKey);

impl StationVerifyingKey {
    /// Refuses bytes that are not a point on the curve.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, PacketError> {
        VerifyingKey::from_bytes(bytes)
            .map(Self)
            .map_err(|_| PacketError::InvalidKey)
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Strict verification: also refuses small-order keys and
    /// non-canonical signatures, so a signature cannot be malleated into
    /// a second valid one for the same packet.
    pub(super) fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let signature = ed25519_dalek::Signature::from_bytes(signature);
        self.0.verify_strict(message, &signature).is_ok()
    }
}

impl fmt::Debug for StationVerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StationVerifyingKey({})", Hex(self.0.as_bytes()))
    }
}

struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}
