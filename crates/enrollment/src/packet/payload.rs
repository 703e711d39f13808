//! What a packet carries: everything the platform needs to re-check an
//! enrollment without trusting the station's word for it.
//!
//! The types are plain data in the domain's words, independent of the
//! crates that produce them. Verdicts travel as the producing crate's
//! snake_case strings so that a new verdict does not change this format.
//! Fields holding personal or biometric data print only their sizes in
//! `Debug`, so a stray `{:?}` in a log cannot leak them.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use zeroize::Zeroizing;

/// The sample rate of the voice sample, in hertz.
pub const VOICE_SAMPLE_RATE_HZ: u32 = 16_000;
/// The dimension of the speaker embedding.
pub const SPEAKER_EMBEDDING_DIM: usize = 256;

/// The identifier of a station: 1 to 64 characters from `A-Z a-z 0-9 . _ -`.
///
/// The narrow alphabet keeps look-alike identifiers (other scripts,
/// spaces, control characters) out of the header, where the platform uses
/// the id to pick the key that verifies the packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StationId(String);

/// Why a string is not a [`StationId`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("a station id is 1 to 64 characters from A-Z a-z 0-9 . _ -")]
pub struct InvalidStationId;

impl StationId {
    /// The longest station id, in bytes.
    pub const MAX_LEN: usize = 64;

    pub fn new(id: impl Into<String>) -> Result<Self, InvalidStationId> {
        let id = id.into();
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
        if id.is_empty() || id.len() > Self::MAX_LEN || !id.bytes().all(allowed) {
            return Err(InvalidStationId);
        }
        Ok(Self(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for StationId {
    type Error = InvalidStationId;
    fn try_from(id: String) -> Result<Self, Self::Error> {
        Self::new(id)
    }
}

impl From<StationId> for String {
    fn from(id: StationId) -> Self {
        id.0
    }
}

impl std::str::FromStr for StationId {
    type Err = InvalidStationId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl fmt::Display for StationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Everything sealed into one packet.
///
/// Unknown fields are refused when decoding: any change to this structure
/// is a new format version (see `docs/packet-format.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PacketPayload {
    /// Must equal the header's station id; the platform checks both.
    pub station_id: StationId,
    /// The station software that produced the enrollment.
    pub software_version: String,
    /// The models the verdicts below came from.
    pub models: Vec<ModelVersion>,
    pub chip: ChipFiles,
    pub chip_verification: ChipVerification,
    pub face: FaceCapture,
    pub voice: VoiceCapture,
    /// The clerk who ran the enrollment.
    pub clerk: Signoff,
    /// The supervisor who approved it.
    pub supervisor: Signoff,
}

/// One model the station ran, as listed in its model catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelVersion {
    /// What the model is used for, e.g. `face_detector`.
    pub role: String,
    /// The catalogue's human-readable version.
    pub version: String,
    /// SHA-256 of the model file, lowercase hex.
    pub sha256: String,
}

/// The chip's files exactly as read, so the platform can redo Passive
/// Authentication (SOD over the data groups) itself.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChipFiles {
    /// MRZ data.
    #[serde(with = "serde_bytes")]
    pub dg1: Vec<u8>,
    /// Encoded face (the portrait).
    #[serde(with = "serde_bytes")]
    pub dg2: Vec<u8>,
    /// Additional personal details, when the document has them.
    #[serde(with = "serde_bytes")]
    pub dg11: Option<Vec<u8>>,
    /// Security infos (Chip Authentication, PACE), when present.
    #[serde(with = "serde_bytes")]
    pub dg14: Option<Vec<u8>>,
    /// Active Authentication public key, when present.
    #[serde(with = "serde_bytes")]
    pub dg15: Option<Vec<u8>>,
    /// Document Security Object.
    #[serde(with = "serde_bytes")]
    pub sod: Vec<u8>,
}

impl fmt::Debug for ChipFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let optional = |v: &Option<Vec<u8>>| v.as_ref().map(|b| Bytes(b.len()));
        f.debug_struct("ChipFiles")
            .field("dg1", &Bytes(self.dg1.len()))
            .field("dg2", &Bytes(self.dg2.len()))
            .field("dg11", &optional(&self.dg11))
            .field("dg14", &optional(&self.dg14))
            .field("dg15", &optional(&self.dg15))
            .field("sod", &Bytes(self.sod.len()))
            .finish()
    }
}

/// The station's verdicts on the chip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChipVerification {
    /// SOD signature and data-group hashes.
    pub passive: CheckOutcome,
    /// Active Authentication against DG15's key.
    pub active: CheckOutcome,
    /// Chip Authentication against DG14's key.
    pub chip: CheckOutcome,
}

/// One check's verdict: `valid`, `invalid`, `not_supported`, `untrusted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckOutcome {
    pub verdict: String,
    /// Why, for support staff; never personal data.
    pub reason: Option<String>,
}

/// The live face and what the station concluded from it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaceCapture {
    /// The best live frame, JPEG-encoded.
    #[serde(with = "serde_bytes")]
    pub best_frame_jpeg: Vec<u8>,
    pub liveness: Liveness,
    pub quality: QualitySummary,
    /// The live face against the chip portrait.
    pub face_match: FaceMatch,
}

impl fmt::Debug for FaceCapture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaceCapture")
            .field("best_frame_jpeg", &Bytes(self.best_frame_jpeg.len()))
            .field("liveness", &self.liveness)
            .field("quality", &self.quality)
            .field("face_match", &self.face_match)
            .finish()
    }
}

/// The liveness verdict: `live`, `spoof` or `undetermined`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Liveness {
    pub verdict: String,
    /// Probability of a live face, 0..1.
    pub score: f32,
    /// Format v2: the active challenge, present when the station asked for
    /// one (a live camera does; a sequence of images cannot be asked
    /// anything). A v2 payload without it encodes as v1's would.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_turn: Option<HeadTurn>,
}

/// The head turn the station asked for and what it saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadTurn {
    /// `left` or `right`.
    pub direction: String,
    /// `passed`; a station seals no enrollment whose turn failed.
    pub state: String,
    /// The farthest yaw reached in the asked direction, in degrees.
    pub peak_yaw_deg: f32,
}

/// The quality verdict on the best frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualitySummary {
    pub passed: bool,
    /// Every problem found, most fundamental first (snake_case names).
    pub issues: Vec<String>,
    /// Faces of comparable size in the frame.
    pub face_count: u32,
}

/// The 1:1 comparison with the chip portrait.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaceMatch {
    /// Cosine similarity, -1..1.
    pub score: f32,
    pub threshold: f32,
    /// `match` or `no_match`.
    pub decision: String,
}

/// The recorded voice, the challenge it answers and its analysis.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoiceCapture {
    pub sample: VoiceSample,
    /// The digits the citizen was asked to read: 6 to 8 ASCII digits.
    pub challenge_digits: String,
    pub analysis: VoiceAnalysis,
    /// [`SPEAKER_EMBEDDING_DIM`] values, encoded as little-endian `f32`s.
    #[serde(with = "f32_le")]
    pub speaker_embedding: Vec<f32>,
}

impl fmt::Debug for VoiceCapture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VoiceCapture")
            .field("sample", &self.sample)
            .field("challenge_digits", &self.challenge_digits)
            .field("analysis", &self.analysis)
            .field(
                "speaker_embedding",
                &format_args!("<{} values>", self.speaker_embedding.len()),
            )
            .finish()
    }
}

/// Mono 16-bit PCM.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoiceSample {
    /// Always [`VOICE_SAMPLE_RATE_HZ`] in v1; carried so the data explains itself.
    pub sample_rate_hz: u32,
    /// The samples, encoded as one byte string of little-endian `i16`s.
    #[serde(with = "pcm16_le")]
    pub samples: Vec<i16>,
}

impl VoiceSample {
    /// The length of the recording in seconds.
    pub fn duration_seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate_hz.max(1))
    }
}

impl fmt::Debug for VoiceSample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VoiceSample")
            .field("sample_rate_hz", &self.sample_rate_hz)
            .field("samples", &format_args!("<{} samples>", self.samples.len()))
            .finish()
    }
}

/// How usable the voice sample is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoiceAnalysis {
    pub speech_seconds: f32,
    pub level_dbfs: f32,
    /// Share of clipped samples, 0..1.
    pub clipping_ratio: f32,
    pub snr_db: f32,
    /// Problems found (snake_case names); empty when none.
    pub issues: Vec<String>,
}

/// Who did something, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signoff {
    pub user_id: String,
    /// Milliseconds since the Unix epoch (UTC).
    pub at_unix_ms: u64,
}

/// Why a payload may not be sealed, or was refused after opening.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PayloadError {
    #[error("the digit challenge must be 6 to 8 ASCII digits")]
    ChallengeDigits,
    #[error("the voice sample must be {VOICE_SAMPLE_RATE_HZ} Hz, not {0} Hz")]
    SampleRate(u32),
    #[error("the speaker embedding must have {SPEAKER_EMBEDDING_DIM} values, not {0}")]
    EmbeddingDimension(usize),
    #[error("{0} must be a finite number")]
    NotFinite(&'static str),
    #[error("{0} is empty")]
    Missing(&'static str),
    #[error("{field} has no place in a format v{version} payload")]
    NotInVersion { field: &'static str, version: u16 },
}

impl PacketPayload {
    /// Checks the structural rules of a payload of format `version` (not
    /// the verdicts themselves: those are the platform's to re-check).
    pub fn validate(&self, version: u16) -> Result<(), PayloadError> {
        if version < 2 && self.face.liveness.head_turn.is_some() {
            return Err(PayloadError::NotInVersion {
                field: "face.liveness.head_turn",
                version,
            });
        }
        let voice = &self.voice;
        let digits = &voice.challenge_digits;
        if !(6..=8).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PayloadError::ChallengeDigits);
        }
        if voice.sample.sample_rate_hz != VOICE_SAMPLE_RATE_HZ {
            return Err(PayloadError::SampleRate(voice.sample.sample_rate_hz));
        }
        if voice.speaker_embedding.len() != SPEAKER_EMBEDDING_DIM {
            return Err(PayloadError::EmbeddingDimension(
                voice.speaker_embedding.len(),
            ));
        }
        // The platform compares these numbers; NaN would compare as neither.
        let numbers = [
            (
                "voice.speaker_embedding",
                voice.speaker_embedding.iter().all(|v| v.is_finite()),
            ),
            ("face.liveness.score", self.face.liveness.score.is_finite()),
            (
                "face.liveness.head_turn.peak_yaw_deg",
                self.face
                    .liveness
                    .head_turn
                    .as_ref()
                    .is_none_or(|t| t.peak_yaw_deg.is_finite()),
            ),
            (
                "face.face_match.score",
                self.face.face_match.score.is_finite(),
            ),
            (
                "face.face_match.threshold",
                self.face.face_match.threshold.is_finite(),
            ),
        ];
        if let Some((name, _)) = numbers.iter().find(|(_, finite)| !finite) {
            return Err(PayloadError::NotFinite(name));
        }
        let required = [
            ("chip.dg1", self.chip.dg1.is_empty()),
            ("chip.dg2", self.chip.dg2.is_empty()),
            ("chip.sod", self.chip.sod.is_empty()),
            ("face.best_frame_jpeg", self.face.best_frame_jpeg.is_empty()),
            ("voice.sample.samples", voice.sample.samples.is_empty()),
        ];
        if let Some((name, _)) = required.iter().find(|(_, empty)| *empty) {
            return Err(PayloadError::Missing(name));
        }
        Ok(())
    }

    /// The payload in its v1 encoding: one CBOR map (RFC 8949), fields in
    /// declaration order, byte fields as byte strings. The same payload
    /// always encodes to the same bytes. `None` only if the encoder fails,
    /// which writing to memory does not.
    pub(super) fn to_cbor(&self) -> Option<Zeroizing<Vec<u8>>> {
        // Sized up front so the buffer holding biometrics is not
        // reallocated, which would leave copies behind that nobody wipes.
        let mut out = Zeroizing::new(Vec::with_capacity(self.encoded_len_hint()));
        ciborium::into_writer(self, &mut *out).ok()?;
        Some(out)
    }

    /// Decodes a payload, refusing trailing bytes after the CBOR item.
    /// The error carries no detail on purpose: decoder messages can quote
    /// the offending value, which may be personal data.
    pub(super) fn from_cbor(bytes: &[u8]) -> Option<Self> {
        let mut rest = bytes;
        let payload: Self = ciborium::from_reader(&mut rest).ok()?;
        rest.is_empty().then_some(payload)
    }

    /// An upper estimate of the encoded size.
    fn encoded_len_hint(&self) -> usize {
        let chip = &self.chip;
        let optional = |v: &Option<Vec<u8>>| v.as_ref().map_or(0, Vec::len);
        chip.dg1.len()
            + chip.dg2.len()
            + optional(&chip.dg11)
            + optional(&chip.dg14)
            + optional(&chip.dg15)
            + chip.sod.len()
            + self.face.best_frame_jpeg.len()
            + self.voice.sample.samples.len() * 2
            + self.voice.speaker_embedding.len() * 4
            + 16 * 1024
    }
}

/// `Debug` stand-in for a byte field: its length only.
struct Bytes(usize);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0)
    }
}

/// `Vec<i16>` as one CBOR byte string of little-endian samples: half the
/// size of an array of integers, and fixed-width.
mod pcm16_le {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub fn serialize<S: Serializer>(samples: &[i16], s: S) -> Result<S::Ok, S::Error> {
        let bytes: Zeroizing<Vec<u8>> =
            Zeroizing::new(samples.iter().flat_map(|v| v.to_le_bytes()).collect());
        s.serialize_bytes(&bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i16>, D::Error> {
        let bytes = Zeroizing::new(serde_bytes::ByteBuf::deserialize(d)?.into_vec());
        if bytes.len() % 2 != 0 {
            return Err(D::Error::invalid_length(
                bytes.len(),
                &"an even number of bytes",
            ));
        }
        Ok(bytes
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect())
    }
}

/// `Vec<f32>` as one CBOR byte string of little-endian floats: exact and
/// fixed-width, where CBOR floats would vary in width with the value.
mod f32_le {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub fn serialize<S: Serializer>(values: &[f32], s: S) -> Result<S::Ok, S::Error> {
        let bytes: Zeroizing<Vec<u8>> =
            Zeroizing::new(values.iter().flat_map(|v| v.to_le_bytes()).collect());
        s.serialize_bytes(&bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
        let bytes = Zeroizing::new(serde_bytes::ByteBuf::deserialize(d)?.into_vec());
        if bytes.len() % 4 != 0 {
            return Err(D::Error::invalid_length(
                bytes.len(),
                &"a multiple of 4 bytes",
            ));
        }
        Ok(bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn station_ids_use_a_narrow_alphabet() {
        for good in ["a", "pudong-3", "PS.042_counter-1", &"x".repeat(64)] {
            assert_eq!(StationId::new(good).unwrap().as_str(), good);
        }
        for bad in ["", " a", "a b", "站", "a\n", "a/b", &"x".repeat(65)] {
            assert_eq!(StationId::new(bad), Err(InvalidStationId), "{bad:?}");
        }
    }

    #[test]
    fn station_ids_are_checked_when_decoded() {
        let ok: StationId = serde_json::from_str("\"ps-1\"").unwrap();
        assert_eq!(ok.as_str(), "ps-1");
        assert!(serde_json::from_str::<StationId>("\"ps 1\"").is_err());
    }
}
