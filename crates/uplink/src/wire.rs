//! The JSON the station and the platform exchange.
//!
//! This module is the protocol boundary: the hub serves exactly these types
//! and the station's client reads exactly these, so the two cannot drift.
//! Keys, hashes and signatures travel as lowercase hex of fixed length;
//! a value of the wrong length is refused when decoding, not later.
//!
//! Endpoints:
//!
//! - `GET /healthz` → [`Health`]
//! - `POST /v1/stations`, [`RegisterStation`] → [`StationRegistration`]
//! - `PUT /v1/packets/{id}`, the sealed packet's bytes → [`Receipt`]
//! - `GET /v1/packets/{id}` → [`PacketStatus`]
//!
//! Every refusal is an [`ErrorBody`] with a stable [`ErrorCode`].

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

/// The protocol both sides speak; a platform answering another one is refused.
pub const PROTOCOL_VERSION: u32 = 1;

/// Prefixed to the bytes the hub signs in a receipt, so a receipt signature
/// can never be taken for anything else the same key signs.
pub const RECEIPT_SIGNATURE_CONTEXT: &[u8] = b"enrollment-station receipt v1\0";

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub protocol: u32,
    pub version: String,
    /// The packet format versions the platform reads; none from a platform
    /// that predates the field (version 1 only).
    #[serde(default)]
    pub packet_versions: Vec<u16>,
}

/// `POST /v1/stations`: a station presents a one-time onboarding token and
/// its public keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterStation {
    /// The one-time token an administrator created with `hub token create`.
    pub token: String,
    /// The station's Ed25519 public key, which will verify its packets.
    #[serde(with = "hex_array")]
    pub station_public_key: [u8; 32],
    /// SHA-256 of the DER certificate the station will present as a TLS
    /// client, when the platform requires mutual TLS.
    #[serde(default, with = "hex_option")]
    pub tls_client_cert_sha256: Option<[u8; 32]>,
}

/// What a registered station needs to seal and upload packets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StationRegistration {
    /// The id the platform assigned; it goes into every packet header.
    pub station_id: String,
    /// The platform's X25519 public key, the HPKE recipient of every packet.
    #[serde(with = "hex_array")]
    pub hub_hpke_public_key: [u8; 32],
    /// The platform's Ed25519 key that verifies its receipts.
    #[serde(with = "hex_array")]
    pub hub_receipt_key: [u8; 32],
    /// Milliseconds since the Unix epoch (UTC).
    pub registered_at_unix_ms: u64,
    /// The packet format versions the platform reads. A platform that
    /// predates this field sends none, and reads version 1 only.
    #[serde(default)]
    pub packet_versions: Vec<u16>,
}

/// Whether the platform took a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PacketDisposition {
    /// Stored and re-verified; the station may purge its copy per its rules.
    Accepted,
    /// Authentic, but refused under the platform's rules; resending the
    /// same bytes gives the same answer.
    Rejected,
}

impl PacketDisposition {
    /// `accepted` or `rejected`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
        }
    }

    fn code(self) -> u8 {
        match self {
            Self::Accepted => 1,
            Self::Rejected => 2,
        }
    }
}

impl fmt::Display for PacketDisposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The platform's signed acknowledgement of one packet: the answer to
/// `PUT /v1/packets/{id}`, and byte for byte the same answer to every
/// repetition of that upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    pub packet_id: Uuid,
    pub station_id: String,
    /// SHA-256 of the packet's bytes as received.
    #[serde(with = "hex_array")]
    pub packet_sha256: [u8; 32],
    pub status: PacketDisposition,
    /// Why a packet was rejected (a stable snake_case code, then a
    /// sentence); `None` when accepted.
    pub reason: Option<String>,
    /// When the platform first received the packet, ms since the epoch (UTC).
    pub received_at_unix_ms: u64,
    /// Ed25519 by the hub's receipt key over [`Receipt::signed_message`].
    #[serde(with = "hex_array")]
    pub signature: [u8; 64],
}

/// Why a receipt is not the platform's word.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReceiptError {
    #[error("the receipt key is not a valid Ed25519 public key")]
    InvalidKey,
    #[error("the receipt's signature does not verify with the platform's key")]
    BadSignature,
}

impl Receipt {
    /// The bytes the hub signs:
    ///
    /// ```text
    /// RECEIPT_SIGNATURE_CONTEXT
    /// ‖ packet id (16 bytes, RFC 9562 order)
    /// ‖ station id length (u32 BE) ‖ station id (UTF-8)
    /// ‖ packet sha256 (32 bytes)
    /// ‖ status (1 byte: 1 accepted, 2 rejected)
    /// ‖ received_at_unix_ms (u64 BE)
    /// ‖ reason flag (1 byte: 0 none, 1 present)
    ///   [‖ reason length (u32 BE) ‖ reason (UTF-8)]
    /// ```
    ///
    /// Every variable field carries its length, so the encoding has only one
    /// reading; it does not depend on JSON field order or whitespace.
    pub fn signed_message(&self) -> Vec<u8> {
        let reason_len = self.reason.as_ref().map_or(0, String::len);
        let mut out = Vec::with_capacity(
            RECEIPT_SIGNATURE_CONTEXT.len() + 16 + 4 + self.station_id.len() + 32 + 1 + 8 + 5,
        );
        out.extend_from_slice(RECEIPT_SIGNATURE_CONTEXT);
        out.extend_from_slice(self.packet_id.as_bytes());
        push_text(&mut out, &self.station_id);
        out.extend_from_slice(&self.packet_sha256);
        out.push(self.status.code());
        out.extend_from_slice(&self.received_at_unix_ms.to_be_bytes());
        match &self.reason {
            None => out.push(0),
            Some(reason) => {
                out.reserve(reason_len);
                out.push(1);
                push_text(&mut out, reason);
            }
        }
        out
    }

    /// Checks the hub's signature with the receipt key the station was given
    /// at registration. Strict verification: non-canonical signatures and
    /// small-order keys are refused.
    pub fn verify(&self, hub_receipt_key: &[u8; 32]) -> Result<(), ReceiptError> {
        let key = ed25519_dalek::VerifyingKey::from_bytes(hub_receipt_key)
            .map_err(|_| ReceiptError::InvalidKey)?;
        let signature = ed25519_dalek::Signature::from_bytes(&self.signature);
        key.verify_strict(&self.signed_message(), &signature)
            .map_err(|_| ReceiptError::BadSignature)
    }

    /// Whether this receipt acknowledges exactly `packet`'s bytes.
    pub fn covers(&self, packet_sha256: &[u8; 32]) -> bool {
        &self.packet_sha256 == packet_sha256
    }
}

/// A length-prefixed UTF-8 string. Lengths beyond `u32` cannot occur: the
/// fields are bounded far below that by the request size limit.
fn push_text(out: &mut Vec<u8>, text: &str) {
    let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// One re-checked verdict: what the platform itself concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Passive Authentication: `valid`, `invalid`, `untrusted`,
    /// `not_supported` or `not_checked`; other checks say which values they use.
    pub verdict: String,
    /// Why, for support staff; never personal data.
    pub reason: Option<String>,
}

impl CheckResult {
    /// A check that was not made (a record from before it existed).
    pub fn not_checked() -> Self {
        Self {
            verdict: "not_checked".into(),
            reason: None,
        }
    }
}

/// The platform's own face comparison of the live frame with the chip
/// portrait.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceMatchResult {
    /// `match`, `no_match`, `no_face` (no single usable face in the live
    /// frame) or `not_checked` (no models, or no usable portrait).
    pub verdict: String,
    /// Cosine similarity, when a comparison was made.
    pub score: Option<f32>,
    pub threshold: Option<f32>,
    pub reason: Option<String>,
}

/// What the station said about its own checks, kept as its signed claims.
/// Active and Chip Authentication need the chip, so only the station can
/// run them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StationClaims {
    pub passive: String,
    pub active: String,
    pub chip: String,
    pub liveness: String,
    pub face_match: String,
    pub face_match_score: f32,
}

/// Everything the platform re-checked in one packet. Metadata only: no
/// biometric or personal data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reverification {
    /// Passive Authentication over the SOD and data groups, against the
    /// platform's own CSCA list.
    pub passive: CheckResult,
    pub face_match: FaceMatchResult,
    /// Clerk before supervisor, both before the packet was sealed:
    /// `valid` or `invalid`.
    pub signoffs: CheckResult,
    /// The header's sealing time against the hub's clock: `valid`, or
    /// `invalid` when it lies more than a day in the future.
    pub sealed_at: CheckResult,
    /// The head turn the station reports (format v2), against the
    /// platform's own minimum turn: `valid`, `invalid`, `not_asked` (no
    /// turn reported: a v1 packet, or images that could not be asked), or
    /// `not_checked` in a record from before the check existed.
    #[serde(default = "CheckResult::not_checked")]
    pub head_turn: CheckResult,
    pub station_claims: StationClaims,
}

/// `GET /v1/packets/{id}`: where a packet stands on the platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PacketStatus {
    pub packet_id: Uuid,
    pub station_id: String,
    pub status: PacketDisposition,
    pub reason: Option<String>,
    #[serde(with = "hex_array")]
    pub packet_sha256: [u8; 32],
    pub packet_len: u64,
    /// The header's created-at: the station's claim.
    pub created_at_unix_ms: u64,
    pub received_at_unix_ms: u64,
    /// Absent for a packet that could not be opened.
    pub reverification: Option<Reverification>,
    pub receipt: Receipt,
}

/// The stable reason codes of a refused request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request is not what the endpoint takes (bad JSON, bad id).
    BadRequest,
    /// The token is unknown (or expired).
    InvalidToken,
    /// The token was already used to register a station.
    TokenUsed,
    /// The packet's station is not registered here.
    UnknownStation,
    /// Over mutual TLS: the client certificate is missing or is not the
    /// one the packet's station registered.
    ClientCertificate,
    /// The packet's signature does not verify with its station's key.
    BadSignature,
    /// The body is not a well-formed sealed packet.
    MalformedPacket,
    /// The path's packet id differs from the one in the header.
    IdMismatch,
    /// The packet id is already taken by other bytes.
    Conflict,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    Internal,
    /// A code this build does not know; newer platforms may add some.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::InvalidToken => "invalid_token",
            Self::TokenUsed => "token_used",
            Self::UnknownStation => "unknown_station",
            Self::ClientCertificate => "client_certificate",
            Self::BadSignature => "bad_signature",
            Self::MalformedPacket => "malformed_packet",
            Self::IdMismatch => "id_mismatch",
            Self::Conflict => "conflict",
            Self::NotFound => "not_found",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Internal => "internal",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `{ "error": { "code", "message" } }`: the body of every refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// For people; never parsed.
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code,
                message: message.into(),
            },
        }
    }
}

/// `[u8; N]` as lowercase hex of exactly `2N` characters.
mod hex_array {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let mut out = [0u8; N];
        hex::decode_to_slice(text.as_bytes(), &mut out)
            .map_err(|_| D::Error::custom(format_args!("expected {} hex characters", 2 * N)))?;
        Ok(out)
    }
}

/// `Option<[u8; N]>` as hex or `null`.
mod hex_option {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer, const N: usize>(
        bytes: &Option<[u8; N]>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => super::hex_array::serialize(bytes, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<Option<[u8; N]>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped<const M: usize>(#[serde(with = "super::hex_array")] [u8; M]);
        Ok(Option::<Wrapped<N>>::deserialize(d)?.map(|w| w.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer as _, SigningKey};

    #[test]
    fn health_round_trips_as_json() {
        let h = Health {
            status: "ok".into(),
            protocol: PROTOCOL_VERSION,
            version: "0.1.0".into(),
            packet_versions: vec![1, 2],
        };
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(
            json,
            r#"{"status":"ok","protocol":1,"version":"0.1.0","packet_versions":[1,2]}"#
        );
        assert_eq!(serde_json::from_str::<Health>(&json).unwrap(), h);
        // A platform from before the field reads version 1 only.
        let older: Health =
            serde_json::from_str(r#"{"status":"ok","protocol":1,"version":"0.0.9"}"#).unwrap();
        assert!(older.packet_versions.is_empty());
    }

    fn receipt(key: &SigningKey) -> Receipt {
        let mut r = Receipt {
            packet_id: Uuid::from_bytes([7; 16]),
            station_id: "ps-1".into(),
            packet_sha256: [9; 32],
            status: PacketDisposition::Accepted,
            reason: None,
            received_at_unix_ms: 1_700_000_000_000,
            signature: [0; 64],
        };
        r.signature = key.sign(&r.signed_message()).to_bytes();
        r
    }

    #[test]
    fn a_signed_receipt_verifies_and_any_change_breaks_it() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let public = key.verifying_key().to_bytes();
        let r = receipt(&key);
        r.verify(&public).unwrap();

        let json = serde_json::to_vec(&r).unwrap();
        let back: Receipt = serde_json::from_slice(&json).unwrap();
        back.verify(&public).unwrap();

        let changes: [fn(&mut Receipt); 6] = [
            |r| r.packet_id = Uuid::from_bytes([8; 16]),
            |r| r.station_id = "ps-2".into(),
            |r| r.packet_sha256[0] ^= 1,
            |r| r.status = PacketDisposition::Rejected,
            |r| r.reason = Some(String::new()),
            |r| r.received_at_unix_ms += 1,
        ];
        for change in changes {
            let mut changed = r.clone();
            change(&mut changed);
            assert_eq!(changed.verify(&public), Err(ReceiptError::BadSignature));
        }
        let other = SigningKey::from_bytes(&[6; 32]).verifying_key().to_bytes();
        assert_eq!(r.verify(&other), Err(ReceiptError::BadSignature));
    }

    #[test]
    fn the_signed_message_separates_its_fields() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let mut a = receipt(&key);
        let mut b = a.clone();
        a.station_id = "ps-1".into();
        a.reason = Some("x".into());
        b.station_id = "ps-1x".into();
        b.reason = None;
        assert_ne!(a.signed_message(), b.signed_message());
    }

    #[test]
    fn hex_fields_have_an_exact_length() {
        let ok = format!(
            r#"{{"token":"t","station_public_key":"{}"}}"#,
            "ab".repeat(32)
        );
        let parsed: RegisterStation = serde_json::from_str(&ok).unwrap();
        assert_eq!(parsed.station_public_key, [0xab; 32]);
        assert_eq!(parsed.tls_client_cert_sha256, None);
        for bad in ["ab".repeat(31), "ab".repeat(33), "zz".repeat(32)] {
            let json = format!(r#"{{"token":"t","station_public_key":"{bad}"}}"#);
            assert!(
                serde_json::from_str::<RegisterStation>(&json).is_err(),
                "{bad}"
            );
        }
        let with_cert = format!(
            r#"{{"token":"t","station_public_key":"{}","tls_client_cert_sha256":"{}"}}"#,
            "ab".repeat(32),
            "cd".repeat(32)
        );
        let parsed: RegisterStation = serde_json::from_str(&with_cert).unwrap();
        assert_eq!(parsed.tls_client_cert_sha256, Some([0xcd; 32]));
    }

    #[test]
    fn error_bodies_have_stable_codes() {
        let body = ErrorBody::new(ErrorCode::BadSignature, "no");
        let json = serde_json::to_string(&body).unwrap();
        assert_eq!(json, r#"{"error":{"code":"bad_signature","message":"no"}}"#);
        let later: ErrorBody =
            serde_json::from_str(r#"{"error":{"code":"rate_limited","message":"slow down"}}"#)
                .unwrap();
        assert_eq!(later.error.code, ErrorCode::Unknown);
        for code in [
            ErrorCode::BadRequest,
            ErrorCode::InvalidToken,
            ErrorCode::TokenUsed,
            ErrorCode::UnknownStation,
            ErrorCode::ClientCertificate,
            ErrorCode::MalformedPacket,
            ErrorCode::IdMismatch,
            ErrorCode::Conflict,
            ErrorCode::NotFound,
            ErrorCode::PayloadTooLarge,
            ErrorCode::UnsupportedMediaType,
            ErrorCode::Internal,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
