//! The sealed packet from the outside: round trips, tampering, relabelling,
//! confidentiality of the bytes, and a parser that refuses without panicking.
#![allow(clippy::unwrap_used, clippy::expect_used)] // shared test functions live outside #[test] fns

use chacha20::ChaCha20Rng;
use ed25519_dalek::Signer as _;
use enrollment::packet::rand_core::SeedableRng as _;
use enrollment::packet::*;
use proptest::prelude::*;
use uuid::Uuid;

const DOCUMENT_NUMBER: &[u8] = b"L898902C3";
const MRZ: &[u8] =
    b"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<L898902C36UTO7408122F1204159ZE184226B<<<<<10";
const CLERK: &str = "clerk-0042";
const CHALLENGE: &str = "4815162";

/// A byte pattern that cannot occur by accident, standing for image data.
fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn portrait() -> Vec<u8> {
    let mut dg2 = vec![0x75, 0x82, 0x01, 0x00];
    dg2.extend(pattern(7, 160));
    dg2
}

fn live_jpeg() -> Vec<u8> {
    let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe0];
    jpeg.extend(pattern(91, 120));
    jpeg.extend([0xff, 0xd9]);
    jpeg
}

fn samples() -> Vec<i16> {
    (0..160)
        .map(|i| ((i * 397) % 20_000 - 10_000) as i16)
        .collect()
}

fn embedding() -> Vec<f32> {
    (0..SPEAKER_EMBEDDING_DIM)
        .map(|i| (i as f32 - 128.0) / 1000.0)
        .collect()
}

fn station_id() -> StationId {
    StationId::new("pudong-3").unwrap()
}

fn payload() -> PacketPayload {
    let check = |verdict: &str, reason: Option<&str>| CheckOutcome {
        verdict: verdict.into(),
        reason: reason.map(Into::into),
    };
    PacketPayload {
        station_id: station_id(),
        software_version: "0.1.0".into(),
        models: vec![ModelVersion {
            role: "face_detector".into(),
            version: "yunet_s dynamic".into(),
            sha256: "daede24002cc8590f457998cc5e6c9e8b82f45f6bd969506a8913cd4ed10a2d3".into(),
        }],
        chip: ChipFiles {
            dg1: MRZ.to_vec(),
            dg2: portrait(),
            dg11: None,
            dg14: Some(pattern(3, 40)),
            dg15: Some(pattern(5, 30)),
            sod: pattern(11, 100),
        },
        chip_verification: ChipVerification {
            passive: check("valid", None),
            active: check("valid", Some("RSA-1024 ISO/IEC 9796-2 SHA-1")),
            chip: check("not_supported", Some("DG14 absent")),
        },
        face: FaceCapture {
            best_frame_jpeg: live_jpeg(),
            liveness: Liveness {
                verdict: "live".into(),
                score: 0.93,
                head_turn: Some(HeadTurn {
                    direction: "left".into(),
                    state: "passed".into(),
                    peak_yaw_deg: 23.5,
                }),
            },
            quality: QualitySummary {
                passed: true,
                issues: vec![],
                face_count: 1,
            },
            face_match: FaceMatch {
                score: 0.61,
                threshold: 0.35,
                decision: "match".into(),
            },
        },
        voice: VoiceCapture {
            sample: VoiceSample {
                sample_rate_hz: VOICE_SAMPLE_RATE_HZ,
                samples: samples(),
            },
            challenge_digits: CHALLENGE.into(),
            analysis: VoiceAnalysis {
                speech_seconds: 2.4,
                level_dbfs: -18.5,
                clipping_ratio: 0.0,
                snr_db: 31.0,
                issues: vec!["low_level".into()],
            },
            speaker_embedding: embedding(),
        },
        clerk: Signoff {
            user_id: CLERK.into(),
            at_unix_ms: 1_767_225_000_000,
        },
        supervisor: Signoff {
            user_id: "supervisor-7".into(),
            at_unix_ms: 1_767_225_300_000,
        },
    }
}

fn header() -> PacketHeader {
    PacketHeader {
        format_version: FORMAT_VERSION,
        packet_id: Uuid::from_bytes([0x42; 16]),
        station_id: station_id(),
        created_at_unix_ms: 1_767_225_600_000,
    }
}

fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

struct World {
    platform: PlatformKeyPair,
    station: StationKeys,
}

fn world() -> World {
    World {
        platform: PlatformKeyPair::generate(&mut rng(1)),
        station: StationKeys::generate(&mut rng(2)),
    }
}

fn seal(w: &World) -> SealedPacket {
    SealedPacket::seal(
        &payload(),
        header(),
        w.platform.public_key(),
        &w.station,
        &mut rng(3),
    )
    .unwrap()
}

/// Where the fields lie in a packet sealed with [`header`]
/// (`docs/packet-format.md`): a station id of 8 bytes.
mod at {
    use std::ops::Range;
    pub const MAGIC: Range<usize> = 0..8;
    pub const VERSION: Range<usize> = 8..10;
    pub const SUITE: Range<usize> = 10..18;
    pub const PACKET_ID: Range<usize> = 18..34;
    pub const CREATED_AT: Range<usize> = 34..42;
    pub const STATION_LEN: usize = 42;
    pub const STATION_ID: Range<usize> = 43..51;
    pub const ENC: Range<usize> = 51..83;
    pub const CT_LEN: Range<usize> = 83..87;
    pub const CT_START: usize = 87;
}

/// Re-signs `bytes` (a packet whose header was edited) exactly as the
/// format document says a station signs.
fn resign(bytes: &mut [u8], key: &StationKeys) {
    let signing = ed25519_dalek::SigningKey::from_bytes(&key.to_bytes());
    let body = bytes.len() - SIGNATURE_LEN;
    let mut message = SIGNATURE_CONTEXT.to_vec();
    message.extend_from_slice(&bytes[..body]);
    let signature = signing.sign(&message).to_bytes();
    bytes[body..].copy_from_slice(&signature);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn seal_parse_verify_open_returns_the_payload() {
    let w = world();
    let bytes = seal(&w).to_bytes();

    let packet = SealedPacket::from_bytes(&bytes).unwrap();
    assert_eq!(packet.header(), &header());
    assert_eq!(packet.to_bytes(), bytes);
    packet.verify(&w.station.verifying_key()).unwrap();
    let opened = packet
        .open(w.platform.secret_key(), &w.station.verifying_key())
        .unwrap();
    assert_eq!(opened, payload());
}

#[test]
fn the_layout_matches_the_format_document() {
    let w = world();
    let packet = seal(&w);
    let bytes = packet.to_bytes();
    assert_eq!(&bytes[at::MAGIC], &MAGIC);
    assert_eq!(&bytes[at::VERSION], &FORMAT_VERSION.to_be_bytes());
    assert_eq!(
        &bytes[at::SUITE],
        &[0x00, 0x20, 0x00, 0x01, 0x00, 0x03, 0x00, 0x01]
    );
    assert_eq!(&bytes[at::PACKET_ID], &[0x42; 16]);
    assert_eq!(&bytes[at::CREATED_AT], &1_767_225_600_000u64.to_be_bytes());
    assert_eq!(bytes[at::STATION_LEN], 8);
    assert_eq!(&bytes[at::STATION_ID], b"pudong-3");
    let ct_len = u32::from_be_bytes(bytes[at::CT_LEN].try_into().unwrap()) as usize;
    assert_eq!(bytes.len(), at::CT_START + ct_len + SIGNATURE_LEN);
}

#[test]
fn sealing_is_reproducible_with_the_same_randomness_only() {
    let w = world();
    let seal_with = |seed| {
        SealedPacket::seal(
            &payload(),
            header(),
            w.platform.public_key(),
            &w.station,
            &mut rng(seed),
        )
        .unwrap()
        .to_bytes()
    };
    assert_eq!(seal_with(3), seal_with(3));
    // A fresh ephemeral key each time: same payload, unrelated bytes.
    let (a, b) = (seal_with(3), seal_with(4));
    assert_ne!(a[at::ENC], b[at::ENC]);
    assert_ne!(a[at::CT_START..], b[at::CT_START..]);
}

#[test]
fn another_platform_key_cannot_open() {
    let w = world();
    let packet = seal(&w);
    let other = PlatformKeyPair::generate(&mut rng(9));
    assert_eq!(
        packet.open(other.secret_key(), &w.station.verifying_key()),
        Err(PacketError::Decrypt)
    );
}

#[test]
fn another_station_key_does_not_verify() {
    let w = world();
    let packet = seal(&w);
    let other = StationKeys::generate(&mut rng(9)).verifying_key();
    assert_eq!(packet.verify(&other), Err(PacketError::BadSignature));
    assert_eq!(
        packet.open(w.platform.secret_key(), &other),
        Err(PacketError::BadSignature)
    );
}

#[test]
fn keys_survive_their_byte_form() {
    let w = world();
    let platform = PlatformKeyPair::from_secret(
        PlatformSecretKey::from_bytes(&w.platform.secret_key().to_bytes()).unwrap(),
    );
    assert_eq!(platform.public_bytes(), w.platform.public_bytes());
    assert_eq!(
        PlatformPublicKey::from_bytes(&w.platform.public_bytes()).unwrap(),
        *w.platform.public_key()
    );
    let station = StationKeys::from_bytes(&w.station.to_bytes());
    let verifying = StationVerifyingKey::from_bytes(&station.verifying_key().to_bytes()).unwrap();
    let packet = SealedPacket::seal(
        &payload(),
        header(),
        platform.public_key(),
        &station,
        &mut rng(5),
    )
    .unwrap();
    assert_eq!(
        packet.open(w.platform.secret_key(), &verifying).unwrap(),
        payload()
    );
}

/// Flips every bit of a sealed packet, one at a time, and checks that the
/// platform refuses each, for the reason the damaged field implies.
#[test]
fn every_flipped_bit_is_refused() {
    let w = world();
    let good = seal(&w).to_bytes();
    let verifying = w.station.verifying_key();
    for i in 0..good.len() {
        for bit in 0..8 {
            let mut bytes = good.clone();
            bytes[i] ^= 1 << bit;
            let result = SealedPacket::from_bytes(&bytes)
                .and_then(|p| p.open(w.platform.secret_key(), &verifying));
            let Err(err) = result else {
                panic!("byte {i} bit {bit}: accepted");
            };
            let structural = matches!(
                err,
                PacketError::InvalidStationId
                    | PacketError::Truncated { .. }
                    | PacketError::LengthBeyondInput { .. }
                    | PacketError::LengthOutOfRange { .. }
                    | PacketError::TrailingBytes(_)
            );
            let expected = if at::MAGIC.contains(&i) {
                err == PacketError::BadMagic
            } else if at::VERSION.contains(&i) {
                matches!(err, PacketError::UnsupportedVersion(_))
            } else if at::SUITE.contains(&i) {
                matches!(err, PacketError::UnsupportedSuite { .. })
            } else if i == at::STATION_LEN || at::CT_LEN.contains(&i) {
                structural
            } else if at::STATION_ID.contains(&i) {
                // Some flips give another valid character: then the signature catches it.
                matches!(
                    err,
                    PacketError::InvalidStationId | PacketError::BadSignature
                )
            } else {
                // Packet id, created-at, encapsulated key, ciphertext, signature.
                err == PacketError::BadSignature
            };
            assert!(expected, "byte {i} bit {bit}: {err:?}");
        }
    }
}

#[test]
fn truncated_or_extended_packets_are_refused() {
    let w = world();
    let good = seal(&w).to_bytes();
    for len in (0..good.len()).step_by(7).chain([good.len() - 1]) {
        assert!(
            matches!(
                SealedPacket::from_bytes(&good[..len]),
                Err(PacketError::Truncated { .. } | PacketError::LengthBeyondInput { .. })
            ),
            "prefix of {len}"
        );
    }
    let mut longer = good.clone();
    longer.push(0);
    assert_eq!(
        SealedPacket::from_bytes(&longer),
        Err(PacketError::TrailingBytes(1))
    );
}

#[test]
fn a_relabelled_packet_id_fails_even_when_re_signed() {
    let w = world();
    let mut bytes = seal(&w).to_bytes();
    bytes[at::PACKET_ID].copy_from_slice(&[0x43; 16]);
    let packet = SealedPacket::from_bytes(&bytes).unwrap();
    assert_eq!(packet.header().packet_id, Uuid::from_bytes([0x43; 16]));
    assert_eq!(
        packet.verify(&w.station.verifying_key()),
        Err(PacketError::BadSignature)
    );

    // Someone holding the station key re-signs: the signature now holds,
    // but the header is the AAD, so decryption refuses.
    resign(&mut bytes, &w.station);
    let packet = SealedPacket::from_bytes(&bytes).unwrap();
    packet.verify(&w.station.verifying_key()).unwrap();
    assert_eq!(
        packet.open(w.platform.secret_key(), &w.station.verifying_key()),
        Err(PacketError::Decrypt)
    );
}

#[test]
fn a_packet_claimed_by_another_station_fails_even_when_re_signed() {
    let w = world();
    let mut bytes = seal(&w).to_bytes();
    bytes[at::STATION_ID].copy_from_slice(b"pudong-4");
    let packet = SealedPacket::from_bytes(&bytes).unwrap();
    assert_eq!(packet.header().station_id.as_str(), "pudong-4");

    // Station pudong-4 signs a packet it did not seal: its own key
    // verifies, but the packet was sealed for pudong-3.
    let other = StationKeys::generate(&mut rng(8));
    assert_eq!(
        packet.verify(&other.verifying_key()),
        Err(PacketError::BadSignature)
    );
    resign(&mut bytes, &other);
    let packet = SealedPacket::from_bytes(&bytes).unwrap();
    packet.verify(&other.verifying_key()).unwrap();
    assert_eq!(
        packet.open(w.platform.secret_key(), &other.verifying_key()),
        Err(PacketError::Decrypt)
    );
}

#[test]
fn a_re_dated_packet_fails_even_when_re_signed() {
    let w = world();
    let mut bytes = seal(&w).to_bytes();
    bytes[at::CREATED_AT].copy_from_slice(&1_800_000_000_000u64.to_be_bytes());
    resign(&mut bytes, &w.station);
    let packet = SealedPacket::from_bytes(&bytes).unwrap();
    assert_eq!(
        packet.open(w.platform.secret_key(), &w.station.verifying_key()),
        Err(PacketError::Decrypt)
    );
}

#[test]
fn the_sealed_bytes_hold_none_of_the_plaintext() {
    let w = world();
    let bytes = seal(&w).to_bytes();
    let pcm: Vec<u8> = samples()[..16]
        .iter()
        .flat_map(|s| s.to_le_bytes())
        .collect();
    let embedding: Vec<u8> = embedding()[..8]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let secrets: [(&str, &[u8]); 10] = [
        ("document number", DOCUMENT_NUMBER),
        ("portrait", &portrait()[..24]),
        ("live frame", &live_jpeg()[..24]),
        ("sod", &pattern(11, 24)),
        ("voice", &pcm),
        ("embedding", &embedding),
        ("challenge", CHALLENGE.as_bytes()),
        ("clerk", CLERK.as_bytes()),
        ("a field name", b"speaker_embedding"),
        ("a verdict", b"not_supported"),
    ];
    for (what, needle) in secrets {
        assert!(!contains(&bytes, needle), "the {what} is readable");
    }
}

#[test]
fn payload_debug_hides_biometrics_and_personal_data() {
    let p = payload();
    let debug = format!("{p:?}");
    let as_numbers = |b: &[u8]| b.iter().map(u8::to_string).collect::<Vec<_>>().join(", ");
    assert!(!debug.contains("L898902C3"));
    assert!(!debug.contains(&as_numbers(DOCUMENT_NUMBER)));
    assert!(!debug.contains(&as_numbers(&portrait()[..8])));
    assert!(!debug.contains(&as_numbers(&live_jpeg()[..4])));
    assert!(!debug.contains("-0.128"), "embedding values: {debug}");
    assert!(
        !debug.contains(&samples()[1].to_string()),
        "samples: {debug}"
    );
    assert!(debug.contains(&format!("dg2: <{} bytes>", portrait().len())));
    assert!(debug.contains(&format!("best_frame_jpeg: <{} bytes>", live_jpeg().len())));
    assert!(debug.contains("samples: <160 samples>"));
    assert!(debug.contains("speaker_embedding: <256 values>"));
}

#[test]
fn key_debug_shows_no_secret() {
    let w = world();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let platform = format!("{:?} {:?}", w.platform, w.platform.secret_key());
    assert!(!platform.contains(&hex(&*w.platform.secret_key().to_bytes())));
    assert!(platform.contains(&hex(&w.platform.public_bytes())));
    let station = format!("{:?}", w.station);
    assert!(!station.contains(&hex(&*w.station.to_bytes())));
    assert!(station.contains(&hex(&w.station.verifying_key().to_bytes())));
}

#[test]
fn byte_fields_are_cbor_byte_strings() {
    use ciborium::Value;
    let mut encoded = Vec::new();
    ciborium::into_writer(&payload(), &mut encoded).unwrap();
    let value: Value = ciborium::from_reader(encoded.as_slice()).unwrap();
    let field = |v: &Value, name: &str| -> Value {
        v.as_map()
            .unwrap()
            .iter()
            .find(|(k, _)| k.as_text() == Some(name))
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no field {name}"))
    };
    let chip = field(&value, "chip");
    assert_eq!(field(&chip, "dg1"), Value::Bytes(MRZ.to_vec()));
    assert_eq!(field(&chip, "dg2"), Value::Bytes(portrait()));
    assert_eq!(field(&chip, "dg11"), Value::Null);
    assert!(matches!(field(&chip, "dg15"), Value::Bytes(_)));
    let face = field(&value, "face");
    assert_eq!(field(&face, "best_frame_jpeg"), Value::Bytes(live_jpeg()));
    let voice = field(&value, "voice");
    let pcm: Vec<u8> = samples().iter().flat_map(|s| s.to_le_bytes()).collect();
    assert_eq!(
        field(&field(&voice, "sample"), "samples"),
        Value::Bytes(pcm)
    );
    let embedding: Vec<u8> = embedding().iter().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(field(&voice, "speaker_embedding"), Value::Bytes(embedding));
}

#[test]
fn the_payload_encoding_is_deterministic() {
    let encode = |p: &PacketPayload| {
        let mut out = Vec::new();
        ciborium::into_writer(p, &mut out).unwrap();
        out
    };
    assert_eq!(encode(&payload()), encode(&payload()));
}

#[test]
fn payloads_the_platform_would_refuse_are_not_sealed() {
    let w = world();
    let seal = |p: PacketPayload, h: PacketHeader| {
        SealedPacket::seal(&p, h, w.platform.public_key(), &w.station, &mut rng(3)).map(|_| ())
    };

    let mut p = payload();
    p.voice.challenge_digits = "12345".into();
    assert_eq!(
        seal(p, header()),
        Err(PacketError::Payload(PayloadError::ChallengeDigits))
    );
    let mut p = payload();
    p.voice.challenge_digits = "1234567a".into();
    assert_eq!(
        seal(p, header()),
        Err(PacketError::Payload(PayloadError::ChallengeDigits))
    );
    let mut p = payload();
    p.voice.speaker_embedding.pop();
    assert_eq!(
        seal(p, header()),
        Err(PacketError::Payload(PayloadError::EmbeddingDimension(255)))
    );
    let mut p = payload();
    p.voice.sample.sample_rate_hz = 48_000;
    assert_eq!(
        seal(p, header()),
        Err(PacketError::Payload(PayloadError::SampleRate(48_000)))
    );
    let mut p = payload();
    p.face.face_match.score = f32::NAN;
    assert_eq!(
        seal(p, header()),
        Err(PacketError::Payload(PayloadError::NotFinite(
            "face.face_match.score"
        )))
    );
    let mut p = payload();
    p.chip.sod.clear();
    assert_eq!(
        seal(p, header()),
        Err(PacketError::Payload(PayloadError::Missing("chip.sod")))
    );
    let mut h = header();
    h.station_id = StationId::new("pudong-4").unwrap();
    assert_eq!(seal(payload(), h), Err(PacketError::StationMismatch));
}

#[test]
fn a_degenerate_platform_key_is_refused_when_sealing() {
    let w = world();
    // The all-zero point has small order: the X25519 result would be zero.
    let zero = PlatformPublicKey::from_bytes(&[0; 32]).unwrap();
    assert_eq!(
        SealedPacket::seal(&payload(), header(), &zero, &w.station, &mut rng(3)).map(|_| ()),
        Err(PacketError::Encrypt)
    );
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic_the_parser(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = SealedPacket::from_bytes(&bytes);
    }

    #[test]
    fn a_valid_header_with_arbitrary_rest_never_panics(rest in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut bytes = header().to_bytes();
        bytes.extend_from_slice(&rest);
        if let Ok(packet) = SealedPacket::from_bytes(&bytes) {
            let w = world();
            prop_assert!(packet.verify(&w.station.verifying_key()).is_err());
        }
    }

    #[test]
    fn overwritten_bytes_are_never_accepted(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)
    ) {
        let w = world();
        let good = seal(&w).to_bytes();
        let mut bytes = good.clone();
        for (at, value) in &edits {
            bytes[at.index(good.len())] = *value;
        }
        let result = SealedPacket::from_bytes(&bytes)
            .and_then(|p| p.open(w.platform.secret_key(), &w.station.verifying_key()));
        prop_assert_eq!(result.is_ok(), bytes == good);
    }
}

#[test]
fn version_1_carries_no_head_turn_and_still_opens() {
    let w = world();
    let v1 = PacketHeader {
        format_version: 1,
        ..header()
    };
    let seal = |p: &PacketPayload, h: PacketHeader| {
        SealedPacket::seal(p, h, w.platform.public_key(), &w.station, &mut rng(3))
    };
    // A version this build does not know is not sealed at all.
    assert_eq!(
        seal(
            &payload(),
            PacketHeader {
                format_version: 3,
                ..header()
            }
        )
        .err(),
        Some(PacketError::UnsupportedVersion(3))
    );
    // A v1 platform would refuse the field: the station may not seal it.
    assert_eq!(
        seal(&payload(), v1.clone()).err(),
        Some(PacketError::Payload(PayloadError::NotInVersion {
            field: "face.liveness.head_turn",
            version: 1,
        }))
    );
    // Without it, the payload encodes exactly as v1 did: no such key.
    let mut plain = payload();
    plain.face.liveness.head_turn = None;
    let mut cbor = Vec::new();
    ciborium::into_writer(&plain, &mut cbor).unwrap();
    assert!(!contains(&cbor, b"head_turn"));
    let bytes = seal(&plain, v1).unwrap().to_bytes();
    assert_eq!(&bytes[at::VERSION], &1u16.to_be_bytes());
    let packet = SealedPacket::from_bytes(&bytes).unwrap();
    assert_eq!(packet.header().format_version, 1);
    let opened = packet
        .open(w.platform.secret_key(), &w.station.verifying_key())
        .unwrap();
    assert_eq!(opened, plain);

    // A v2 packet relabelled v1, even re-signed, does not open: the
    // version is in the AAD.
    let mut bytes = seal(&payload(), header()).unwrap().to_bytes();
    bytes[at::VERSION].copy_from_slice(&1u16.to_be_bytes());
    resign(&mut bytes, &w.station);
    let relabelled = SealedPacket::from_bytes(&bytes).unwrap();
    assert_eq!(
        relabelled
            .open(w.platform.secret_key(), &w.station.verifying_key())
            .err(),
        Some(PacketError::Decrypt)
    );
}
