//! The byte layout of a sealed packet (see `docs/packet-format.md`):
//! writing it, and reading it back without trusting any length in it.
//!
//! The parser only ever slices the input it was given: a declared length
//! is compared with what is left before anything is taken, so a hostile
//! length can neither panic nor make it allocate more than the input.

use uuid::Uuid;

use super::PacketError;
use super::payload::StationId;

/// The first eight bytes of every sealed packet. The high first byte and
/// the CR LF / SUB / LF tail catch 7-bit and line-ending mangling in
/// transit, as PNG's signature does.
pub const MAGIC: [u8; 8] = *b"\x89ESP\r\n\x1a\n";

/// The format versions this build reads and writes, oldest first. v2 adds
/// the head turn to the payload (`face.liveness.head_turn`); everything
/// else is v1's.
pub const FORMAT_VERSIONS: [u16; 2] = [1, 2];
/// The newest of [`FORMAT_VERSIONS`]. A station writes it only to a
/// platform that reads it.
pub const FORMAT_VERSION: u16 = 2;

/// HPKE KEM id (RFC 9180 §7.1): DHKEM(X25519, HKDF-SHA256).
pub const KEM_ID: u16 = 0x0020;
/// HPKE KDF id (RFC 9180 §7.2): HKDF-SHA256.
pub const KDF_ID: u16 = 0x0001;
/// HPKE AEAD id (RFC 9180 §7.3): ChaCha20Poly1305.
pub const AEAD_ID: u16 = 0x0003;
/// Signature algorithm id, this format's own registry: 1 = Ed25519 (RFC 8032).
pub const SIGNATURE_ID: u16 = 0x0001;

/// Length of the HPKE encapsulated key for the v1 suite (X25519 `Nenc`).
pub const ENCAPSULATED_KEY_LEN: usize = 32;
/// Length of the AEAD tag at the end of the ciphertext (ChaCha20Poly1305).
pub const TAG_LEN: usize = 16;
/// Length of the Ed25519 signature that ends the packet.
pub const SIGNATURE_LEN: usize = 64;
/// Largest ciphertext a v1 packet may carry. A real enrollment is a few
/// hundred kilobytes; the cap keeps a hostile length field meaningless.
pub const MAX_CIPHERTEXT_LEN: usize = 64 * 1024 * 1024;

/// Bytes of the header before the station id: magic, version, four suite
/// ids, packet id, created-at and the station id's length byte.
pub(super) const FIXED_HEADER_LEN: usize = 8 + 2 + 4 * 2 + 16 + 8 + 1;

/// What the header says about a packet. Until [`super::SealedPacket::verify`]
/// has passed, every field is only a claim.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PacketHeader {
    /// One of [`FORMAT_VERSIONS`]: the newest the station's platform reads.
    pub format_version: u16,
    /// Unique per packet; the platform uses it to refuse replays.
    pub packet_id: Uuid,
    /// The station that sealed the packet; selects the verifying key.
    pub station_id: StationId,
    /// When the packet was sealed, in milliseconds since the Unix epoch (UTC).
    pub created_at_unix_ms: u64,
}

impl PacketHeader {
    /// The header as it appears on the wire. This exact byte string is
    /// both the start of the signed message and the HPKE AAD.
    pub fn to_bytes(&self) -> Vec<u8> {
        let station = self.station_id.as_str().as_bytes();
        let mut out = Vec::with_capacity(FIXED_HEADER_LEN + station.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.format_version.to_be_bytes());
        for id in [KEM_ID, KDF_ID, AEAD_ID, SIGNATURE_ID] {
            out.extend_from_slice(&id.to_be_bytes());
        }
        out.extend_from_slice(self.packet_id.as_bytes());
        out.extend_from_slice(&self.created_at_unix_ms.to_be_bytes());
        // StationId holds at most StationId::MAX_LEN (64) bytes by construction.
        out.push(station.len() as u8);
        out.extend_from_slice(station);
        out
    }
}

/// The parts of a packet as they lie in the input.
pub(super) struct Parts<'a> {
    pub header: PacketHeader,
    pub encapsulated_key: [u8; ENCAPSULATED_KEY_LEN],
    pub ciphertext: &'a [u8],
    pub signature: [u8; SIGNATURE_LEN],
}

/// Splits `input` into its parts, refusing anything that is not exactly
/// one well-formed packet of a version this build reads.
pub(super) fn parse(input: &[u8]) -> Result<Parts<'_>, PacketError> {
    let mut r = Reader::new(input);

    if r.array::<8>("magic")? != MAGIC {
        return Err(PacketError::BadMagic);
    }
    let format_version = r.u16("format version")?;
    if !FORMAT_VERSIONS.contains(&format_version) {
        return Err(PacketError::UnsupportedVersion(format_version));
    }
    let (kem, kdf, aead, signature) = (
        r.u16("KEM id")?,
        r.u16("KDF id")?,
        r.u16("AEAD id")?,
        r.u16("signature id")?,
    );
    if (kem, kdf, aead, signature) != (KEM_ID, KDF_ID, AEAD_ID, SIGNATURE_ID) {
        return Err(PacketError::UnsupportedSuite {
            kem,
            kdf,
            aead,
            signature,
        });
    }
    let packet_id = Uuid::from_bytes(r.array::<16>("packet id")?);
    let created_at_unix_ms = r.u64("created-at")?;
    let station_len = r.u8("station id length")?;
    let station_bytes = r.take_declared("station id", u64::from(station_len))?;
    let station_id = std::str::from_utf8(station_bytes)
        .ok()
        .and_then(|s| StationId::new(s).ok())
        .ok_or(PacketError::InvalidStationId)?;

    let encapsulated_key = r.array::<ENCAPSULATED_KEY_LEN>("encapsulated key")?;
    let ciphertext_len = r.u32("ciphertext length")?;
    let declared = u64::from(ciphertext_len);
    if declared < TAG_LEN as u64 || declared > MAX_CIPHERTEXT_LEN as u64 {
        return Err(PacketError::LengthOutOfRange {
            field: "ciphertext",
            declared,
        });
    }
    let ciphertext = r.take_declared("ciphertext", declared)?;
    let signature = r.array::<SIGNATURE_LEN>("signature")?;
    if !r.rest.is_empty() {
        return Err(PacketError::TrailingBytes(r.rest.len()));
    }

    Ok(Parts {
        header: PacketHeader {
            format_version,
            packet_id,
            station_id,
            created_at_unix_ms,
        },
        encapsulated_key,
        ciphertext,
        signature,
    })
}

/// A cursor over untrusted input that never reads past its end.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(input: &'a [u8]) -> Self {
        Self { rest: input }
    }

    /// The next `n` bytes of a fixed-size field.
    fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], PacketError> {
        let Some((head, tail)) = self.rest.split_at_checked(n) else {
            return Err(PacketError::Truncated {
                field,
                needed: n,
                available: self.rest.len(),
            });
        };
        self.rest = tail;
        Ok(head)
    }

    /// The next `declared` bytes, where `declared` was read from the input.
    fn take_declared(
        &mut self,
        field: &'static str,
        declared: u64,
    ) -> Result<&'a [u8], PacketError> {
        let available = self.rest.len();
        match usize::try_from(declared) {
            Ok(n) if n <= available => self.take(field, n),
            _ => Err(PacketError::LengthBeyondInput {
                field,
                declared,
                available,
            }),
        }
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], PacketError> {
        let bytes = self.take(field, N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, PacketError> {
        Ok(self.array::<1>(field)?[0])
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, PacketError> {
        self.array(field).map(u16::from_be_bytes)
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, PacketError> {
        self.array(field).map(u32::from_be_bytes)
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, PacketError> {
        self.array(field).map(u64::from_be_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> PacketHeader {
        PacketHeader {
            format_version: FORMAT_VERSION,
            packet_id: Uuid::from_bytes([0x11; 16]),
            station_id: StationId::new("pudong-3").unwrap(),
            created_at_unix_ms: 1_767_225_600_000,
        }
    }

    /// A syntactically complete packet around `header` with a ciphertext
    /// of `ct_len` bytes (its content does not matter to the parser).
    fn packet(header: &PacketHeader, ct_len: usize) -> Vec<u8> {
        let mut out = header.to_bytes();
        out.extend_from_slice(&[0xee; ENCAPSULATED_KEY_LEN]);
        out.extend_from_slice(&(ct_len as u32).to_be_bytes());
        out.extend(std::iter::repeat_n(0xcc, ct_len));
        out.extend_from_slice(&[0x55; SIGNATURE_LEN]);
        out
    }

    #[test]
    fn the_suite_ids_are_the_ones_hpke_implements() {
        use hpke::{Kem as _, aead::Aead as _, kdf::Kdf as _};
        assert_eq!(KEM_ID, hpke::kem::X25519HkdfSha256::KEM_ID);
        assert_eq!(KDF_ID, hpke::kdf::HkdfSha256::KDF_ID);
        assert_eq!(AEAD_ID, hpke::aead::ChaCha20Poly1305::AEAD_ID);
    }

    #[test]
    fn the_header_has_the_documented_layout() {
        let bytes = header().to_bytes();
        assert_eq!(&bytes[0..8], b"\x89ESP\r\n\x1a\n");
        assert_eq!(&bytes[8..10], &[0, 2]);
        assert_eq!(&bytes[10..18], &[0, 0x20, 0, 0x01, 0, 0x03, 0, 0x01]);
        assert_eq!(&bytes[18..34], &[0x11; 16]);
        assert_eq!(&bytes[34..42], &1_767_225_600_000u64.to_be_bytes());
        assert_eq!(bytes[42], 8);
        assert_eq!(&bytes[43..], b"pudong-3");
        assert_eq!(bytes.len(), FIXED_HEADER_LEN + 8);
    }

    #[test]
    fn a_well_formed_packet_splits_into_its_parts() {
        let bytes = packet(&header(), 20);
        let parts = parse(&bytes).unwrap();
        assert_eq!(parts.header, header());
        assert_eq!(parts.encapsulated_key, [0xee; 32]);
        assert_eq!(parts.ciphertext, &[0xcc; 20][..]);
        assert_eq!(parts.signature, [0x55; 64]);
    }

    #[test]
    fn every_truncation_is_refused() {
        let bytes = packet(&header(), 20);
        for len in 0..bytes.len() {
            let err = parse(&bytes[..len]).err().unwrap();
            assert!(
                matches!(
                    err,
                    PacketError::Truncated { .. } | PacketError::LengthBeyondInput { .. }
                ),
                "prefix of {len} bytes: {err:?}"
            );
        }
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = packet(&header(), 20);
        bytes.extend_from_slice(b"xy");
        assert_eq!(parse(&bytes).err(), Some(PacketError::TrailingBytes(2)));
    }

    #[test]
    fn bad_magic_version_and_suite_are_refused() {
        let good = packet(&header(), 20);

        let mut bytes = good.clone();
        bytes[1] = b'X';
        assert_eq!(parse(&bytes).err(), Some(PacketError::BadMagic));

        let mut bytes = good.clone();
        bytes[9] = 3;
        assert_eq!(
            parse(&bytes).err(),
            Some(PacketError::UnsupportedVersion(3))
        );
        // Both versions this build knows parse, and say which they are.
        for version in FORMAT_VERSIONS {
            let mut bytes = good.clone();
            bytes[8..10].copy_from_slice(&version.to_be_bytes());
            assert_eq!(parse(&bytes).unwrap().header.format_version, version);
        }

        let mut bytes = good;
        bytes[15] = 0x01; // AES-128-GCM
        assert_eq!(
            parse(&bytes).err(),
            Some(PacketError::UnsupportedSuite {
                kem: 0x20,
                kdf: 1,
                aead: 1,
                signature: 1
            })
        );
    }

    #[test]
    fn lengths_are_checked_against_the_input_and_the_cap() {
        let good = packet(&header(), 20);
        let ct_len_at = FIXED_HEADER_LEN + 8 + ENCAPSULATED_KEY_LEN;

        let mut bytes = good.clone();
        bytes[ct_len_at..ct_len_at + 4].copy_from_slice(&(1u32 << 20).to_be_bytes());
        assert!(matches!(
            parse(&bytes),
            Err(PacketError::LengthBeyondInput {
                field: "ciphertext",
                declared: 1_048_576,
                ..
            })
        ));

        let mut bytes = good.clone();
        bytes[ct_len_at..ct_len_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            parse(&bytes),
            Err(PacketError::LengthOutOfRange { declared, .. }) if declared == u64::from(u32::MAX)
        ));

        let mut bytes = good;
        bytes[ct_len_at..ct_len_at + 4].copy_from_slice(&15u32.to_be_bytes());
        assert!(matches!(
            parse(&bytes),
            Err(PacketError::LengthOutOfRange { declared: 15, .. })
        ));
    }

    #[test]
    fn station_ids_are_checked() {
        let good = packet(&header(), 20);
        for (at, value) in [(42, 0u8), (42, 65), (43, b' '), (43, 0xff)] {
            let mut bytes = good.clone();
            bytes[at] = value;
            assert!(
                matches!(
                    parse(&bytes),
                    Err(PacketError::InvalidStationId | PacketError::LengthBeyondInput { .. })
                ),
                "byte {at} = {value}"
            );
        }
    }
}
