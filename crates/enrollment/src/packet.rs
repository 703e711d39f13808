//! The sealed enrollment packet, format v1: how an approved enrollment
//! leaves the station.
//!
//! The station encodes the [`PacketPayload`] as CBOR, encrypts it with
//! HPKE (RFC 9180, base mode, DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 /
//! ChaCha20Poly1305) to the platform's public key, and signs header and
//! ciphertext with its Ed25519 key. The result, a [`SealedPacket`], is
//! what the outbox stores and the uplink sends: it holds nothing readable
//! without the platform's secret key, which no station has.
//!
//! The platform parses ([`SealedPacket::from_bytes`]), looks up the key of
//! the station the header names, checks the signature
//! ([`SealedPacket::verify`]) and only then decrypts
//! ([`SealedPacket::open`]). The byte layout, what is signed and what is
//! authenticated are specified in `docs/packet-format.md`.
//!
//! Randomness is injected, so tests can seal deterministically.

mod keys;
mod payload;
mod wire;

use std::fmt;

use hpke::{Deserializable as _, OpModeR, OpModeS, Serializable as _};
use thiserror::Error;
use zeroize::Zeroizing;

/// The RNG traits [`SealedPacket::seal`] and key generation take.
pub use hpke::rand_core;

pub use keys::{
    PlatformKeyPair, PlatformPublicKey, PlatformSecretKey, StationKeys, StationVerifyingKey,
};
pub use payload::{
    CheckOutcome, ChipFiles, ChipVerification, FaceCapture, FaceMatch, HeadTurn, InvalidStationId,
    Liveness, ModelVersion, PacketPayload, PayloadError, QualitySummary, SPEAKER_EMBEDDING_DIM,
    Signoff, StationId, VOICE_SAMPLE_RATE_HZ, VoiceAnalysis, VoiceCapture, VoiceSample,
};
pub use wire::{
    AEAD_ID, ENCAPSULATED_KEY_LEN, FORMAT_VERSION, FORMAT_VERSIONS, KDF_ID, KEM_ID, MAGIC,
    MAX_CIPHERTEXT_LEN, PacketHeader, SIGNATURE_ID, SIGNATURE_LEN, TAG_LEN,
};

use keys::Kem;
type Kdf = hpke::kdf::HkdfSha256;
type Aead = hpke::aead::ChaCha20Poly1305;

/// The HPKE `info`: binds the derived keys to this format and version.
pub const HPKE_INFO: &[u8] = b"enrollment-station packet v1";

/// Prefixed to the bytes the station signs, so that a packet signature can
/// never be taken for a signature the same key makes for another purpose.
pub const SIGNATURE_CONTEXT: &[u8] = b"enrollment-station packet v1 signature\0";

/// Everything that can be wrong with a packet, from its bytes to its payload.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PacketError {
    #[error("the packet ends inside its {field} ({needed} bytes needed, {available} left)")]
    Truncated {
        field: &'static str,
        needed: usize,
        available: usize,
    },
    #[error("not an enrollment packet: bad magic bytes")]
    BadMagic,
    #[error("packet format version {0} is not supported (this build knows {FORMAT_VERSIONS:?})")]
    UnsupportedVersion(u16),
    #[error(
        "unsupported algorithms: KEM {kem:#06x}, KDF {kdf:#06x}, AEAD {aead:#06x}, signature {signature:#06x}"
    )]
    UnsupportedSuite {
        kem: u16,
        kdf: u16,
        aead: u16,
        signature: u16,
    },
    #[error("the header's station id is not a valid station id")]
    InvalidStationId,
    #[error("the {field} claims {declared} bytes but only {available} are left")]
    LengthBeyondInput {
        field: &'static str,
        declared: u64,
        available: usize,
    },
    #[error("the {field} length {declared} is outside what the format allows")]
    LengthOutOfRange { field: &'static str, declared: u64 },
    #[error("{0} bytes follow the signature")]
    TrailingBytes(usize),
    #[error("not a valid key")]
    InvalidKey,
    #[error("the station's signature does not verify")]
    BadSignature,
    #[error("the packet does not decrypt with this key (another platform's key, or altered)")]
    Decrypt,
    #[error("encrypting to the platform key failed")]
    Encrypt,
    #[error("the payload could not be encoded")]
    Encode,
    /// The decrypted bytes are not a v1 payload. No detail, on purpose: a
    /// decoder message may quote the offending value.
    #[error("the decrypted payload is not a valid v1 payload")]
    MalformedPayload,
    #[error("the payload names another station than the header")]
    StationMismatch,
    #[error("the payload is too large to seal ({0} bytes encoded)")]
    PayloadTooLarge(usize),
    #[error(transparent)]
    Payload(#[from] PayloadError),
}

impl From<InvalidStationId> for PacketError {
    fn from(_: InvalidStationId) -> Self {
        Self::InvalidStationId
    }
}

/// An encrypted, signed enrollment packet.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedPacket {
    header: PacketHeader,
    encapsulated_key: [u8; ENCAPSULATED_KEY_LEN],
    /// HPKE ciphertext, AEAD tag included; `TAG_LEN..=MAX_CIPHERTEXT_LEN` bytes.
    ciphertext: Vec<u8>,
    signature: [u8; SIGNATURE_LEN],
}

impl SealedPacket {
    /// Encrypts `payload` to the platform and signs it as the station.
    ///
    /// `header.station_id` must be the payload's station id. The payload
    /// is checked with [`PacketPayload::validate`] first, so a station
    /// cannot seal what the platform would refuse for its structure.
    pub fn seal(
        payload: &PacketPayload,
        header: PacketHeader,
        platform: &PlatformPublicKey,
        station: &StationKeys,
        rng: &mut impl rand_core::CryptoRng,
    ) -> Result<Self, PacketError> {
        if !FORMAT_VERSIONS.contains(&header.format_version) {
            return Err(PacketError::UnsupportedVersion(header.format_version));
        }
        payload.validate(header.format_version)?;
        if payload.station_id != header.station_id {
            return Err(PacketError::StationMismatch);
        }
        let plaintext = payload.to_cbor().ok_or(PacketError::Encode)?;
        if plaintext.len() > MAX_CIPHERTEXT_LEN - TAG_LEN {
            return Err(PacketError::PayloadTooLarge(plaintext.len()));
        }
        // The whole header is the AAD: relabelling a packet (another id,
        // station or time) makes it undecryptable even if re-signed.
        let aad = header.to_bytes();
        let (encapsulated_key, ciphertext) = hpke::single_shot_seal_with_rng::<Aead, Kdf, Kem>(
            &OpModeS::Base,
            &platform.0,
            HPKE_INFO,
            &plaintext,
            &aad,
            rng,
        )
        .map_err(|_| PacketError::Encrypt)?;
        let mut packet = Self {
            header,
            encapsulated_key: encapsulated_key.to_bytes().into(),
            ciphertext,
            signature: [0; SIGNATURE_LEN],
        };
        packet.signature = station.sign(&packet.signed_message());
        Ok(packet)
    }

    /// The packet's bytes, as stored and sent.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.write_unsigned(&mut out);
        out.extend_from_slice(&self.signature);
        out
    }

    /// Parses a packet, refusing anything that is not exactly one
    /// well-formed packet of a version this build reads. Checks no
    /// signature: see [`Self::verify`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PacketError> {
        let parts = wire::parse(bytes)?;
        Ok(Self {
            header: parts.header,
            encapsulated_key: parts.encapsulated_key,
            ciphertext: parts.ciphertext.to_vec(),
            signature: parts.signature,
        })
    }

    /// The header. Unauthenticated until [`Self::verify`] has passed; its
    /// station id is how the platform finds the key to verify with.
    pub fn header(&self) -> &PacketHeader {
        &self.header
    }

    /// Checks the station's signature over header, encapsulated key and
    /// ciphertext. Needs no secret: the platform does this first.
    pub fn verify(&self, station: &StationVerifyingKey) -> Result<(), PacketError> {
        if station.verify(&self.signed_message(), &self.signature) {
            Ok(())
        } else {
            Err(PacketError::BadSignature)
        }
    }

    /// Verifies the signature, decrypts, and decodes the payload (platform
    /// side). Also refuses a payload whose station id differs from the
    /// header's, or that breaks the structural rules of its version.
    pub fn open(
        &self,
        platform: &PlatformSecretKey,
        station: &StationVerifyingKey,
    ) -> Result<PacketPayload, PacketError> {
        self.verify(station)?;
        let encapsulated_key = <Kem as hpke::Kem>::EncappedKey::from_bytes(&self.encapsulated_key)
            .map_err(|_| PacketError::Decrypt)?;
        let aad = self.header.to_bytes();
        let plaintext = Zeroizing::new(
            hpke::single_shot_open::<Aead, Kdf, Kem>(
                &OpModeR::Base,
                &platform.0,
                &encapsulated_key,
                HPKE_INFO,
                &self.ciphertext,
                &aad,
            )
            .map_err(|_| PacketError::Decrypt)?,
        );
        let payload = PacketPayload::from_cbor(&plaintext).ok_or(PacketError::MalformedPayload)?;
        if payload.station_id != self.header.station_id {
            return Err(PacketError::StationMismatch);
        }
        payload.validate(self.header.format_version)?;
        Ok(payload)
    }

    /// Writes header, encapsulated key, ciphertext length and ciphertext:
    /// every byte of the packet before the signature.
    fn write_unsigned(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.header.to_bytes());
        out.extend_from_slice(&self.encapsulated_key);
        // At most MAX_CIPHERTEXT_LEN (64 MiB) by construction, so it fits.
        out.extend_from_slice(&(self.ciphertext.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.ciphertext);
    }

    /// What the station signs: [`SIGNATURE_CONTEXT`] followed by every
    /// byte of the packet before the signature.
    fn signed_message(&self) -> Vec<u8> {
        let mut message = Vec::with_capacity(SIGNATURE_CONTEXT.len() + self.encoded_len());
        message.extend_from_slice(SIGNATURE_CONTEXT);
        self.write_unsigned(&mut message);
        message
    }

    fn encoded_len(&self) -> usize {
        let station = self.header.station_id.as_str().len();
        wire::FIXED_HEADER_LEN
            + station
            + ENCAPSULATED_KEY_LEN
            + 4
            + self.ciphertext.len()
            + SIGNATURE_LEN
    }
}

impl fmt::Debug for SealedPacket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedPacket")
            .field("header", &self.header)
            .field(
                "ciphertext",
                &format_args!("<{} bytes>", self.ciphertext.len()),
            )
            .finish_non_exhaustive()
    }
}
