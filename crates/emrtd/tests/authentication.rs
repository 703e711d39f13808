//! Active and Chip Authentication between the reader and the virtual chip:
//! a chip holding the keys of DG14/DG15 is `valid`, a copy holding other
//! keys is `invalid`, a document without them `not_supported`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // shared test functions live outside #[test] fns

mod common;

use emrtd::aa::AaKey;
use emrtd::access::{AccessKey, MrzKey};
use emrtd::ca::CaKey;
use emrtd::chip::{ChipConfig, Loopback, VirtualChip};
use emrtd::crypto::CipherAlgorithm;
use emrtd::ec::Curve;
use emrtd::keys::{HashAlgorithm, PrivateKey};
use emrtd::lds::LdsFile;
use emrtd::pace::{PaceInfo, PaceProtocol};
use emrtd::reader::{ReadOptions, Reader};
use emrtd::security_info::{
    ActiveAuthenticationInfo, ChipAuthenticationInfo, ChipAuthenticationPublicKey, SecurityInfos,
};
use emrtd::tlv;
use emrtd::{Verdict, Verification};
use rand_core::OsRng;
use std::sync::OnceLock;

fn rsa_1024() -> &'static PrivateKey {
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| PrivateKey::generate_rsa(1024, &mut OsRng).unwrap())
}

fn key() -> AccessKey {
    AccessKey::Mrz(common::KEY.parse::<MrzKey>().unwrap())
}

/// A chip whose DG14/DG15 publish `published` keys while it holds `held`.
fn chip(
    published: (&AaKey, &CaKey),
    held: (&AaKey, &CaKey),
    pace: Option<PaceInfo>,
) -> VirtualChip {
    let (aa, ca) = published;
    let infos = SecurityInfos {
        active_authentication: matches!(aa.key, PrivateKey::Ec { .. })
            .then_some(ActiveAuthenticationInfo { hash: aa.hash }),
        chip_authentication: vec![ChipAuthenticationInfo {
            cipher: ca.cipher,
            key_id: ca.key_id,
        }],
        chip_authentication_keys: vec![ChipAuthenticationPublicKey {
            key: ca.key.public_key(),
            key_id: ca.key_id,
        }],
        pace: vec![],
    };
    let mut profile = common::profile()
        .with_file(LdsFile::Dg(14), infos.to_dg14())
        .with_file(
            LdsFile::Dg(15),
            tlv::encode(0x6F, &aa.key.public_key().to_spki()),
        )
        .with_active_authentication(held.0.clone())
        .with_chip_authentication(held.1.clone());
    profile.insert(
        LdsFile::Com,
        emrtd::lds::encode_com(&[1, 2, 14, 15].map(LdsFile::Dg)),
    );
    let mut config = ChipConfig::from_profile(profile).unwrap();
    if let Some(info) = pace {
        config = config.with_pace(vec![info]);
    }
    VirtualChip::new(config)
}

fn verify(chip: VirtualChip) -> (Verification, Verification, Option<usize>) {
    let mut channel = Loopback(chip);
    let mut reader =
        Reader::open(&mut channel, &key(), ReadOptions::default(), &mut OsRng).unwrap();
    let files = reader.read_document(&mut |_| {}).unwrap();
    assert!(files.contains_key(&LdsFile::Dg(14)) && files.contains_key(&LdsFile::Dg(15)));
    let result = reader.verify_chip(&files, &mut OsRng).unwrap();
    // after a valid CA the session goes on under the new keys
    let dg1 = reader
        .read_file(LdsFile::Dg(1), &mut |_| {})
        .ok()
        .flatten()
        .map(|d| d.len());
    (result.active, result.chip, dg1)
}

fn ca_key(curve: Curve, cipher: CipherAlgorithm) -> CaKey {
    CaKey {
        key: PrivateKey::generate_ec(curve, &mut OsRng),
        cipher,
        key_id: None,
    }
}

#[test]
fn genuine_chips_are_valid() {
    let cases = [
        (
            AaKey {
                key: rsa_1024().clone(),
                hash: HashAlgorithm::Sha1,
            },
            ca_key(Curve::NistP256, CipherAlgorithm::Tdes),
            None,
            "RSA-1024 ISO/IEC 9796-2 SHA-1",
            "ECDH P-256 3DES",
        ),
        (
            AaKey {
                key: rsa_1024().clone(),
                hash: HashAlgorithm::Sha256,
            },
            CaKey {
                key_id: Some(7),
                ..ca_key(Curve::BrainpoolP256r1, CipherAlgorithm::Aes128)
            },
            Some(PaceInfo {
                protocol: PaceProtocol {
                    cipher: CipherAlgorithm::Aes128,
                },
                curve: Curve::BrainpoolP256r1,
            }),
            "RSA-1024 ISO/IEC 9796-2 SHA-256",
            "ECDH brainpoolP256r1 AES-128",
        ),
        (
            AaKey {
                key: PrivateKey::generate_ec(Curve::NistP256, &mut OsRng),
                hash: HashAlgorithm::Sha384,
            },
            ca_key(Curve::NistP384, CipherAlgorithm::Aes256),
            None,
            "ECDSA P-256 SHA-384",
            "ECDH P-384 AES-256",
        ),
    ];
    for (aa, ca, pace, aa_alg, ca_alg) in cases {
        let (active, chip_auth, dg1) = verify(chip((&aa, &ca), (&aa, &ca), pace));
        assert_eq!(active.verdict, Verdict::Valid, "{active:?}");
        assert_eq!(active.algorithm.as_deref(), Some(aa_alg));
        assert_eq!(chip_auth.verdict, Verdict::Valid, "{chip_auth:?}");
        assert_eq!(chip_auth.algorithm.as_deref(), Some(ca_alg));
        assert_eq!(dg1, Some(common::MRZ.len() - 1 + 5));
    }
}

#[test]
fn cloned_chips_are_invalid() {
    let original = (
        AaKey {
            key: PrivateKey::generate_ec(Curve::NistP256, &mut OsRng),
            hash: HashAlgorithm::Sha256,
        },
        ca_key(Curve::NistP256, CipherAlgorithm::Aes128),
    );
    let clone = (
        AaKey {
            key: PrivateKey::generate_ec(Curve::NistP256, &mut OsRng),
            hash: HashAlgorithm::Sha256,
        },
        ca_key(Curve::NistP256, CipherAlgorithm::Aes128),
    );
    let (active, chip_auth, dg1) =
        verify(chip((&original.0, &original.1), (&clone.0, &clone.1), None));
    assert_eq!(active.verdict, Verdict::Invalid);
    assert!(
        active.reason.contains("does not verify"),
        "{}",
        active.reason
    );
    assert_eq!(chip_auth.verdict, Verdict::Invalid);
    assert!(
        chip_auth.reason.contains("did not prove"),
        "{}",
        chip_auth.reason
    );
    assert_eq!(dg1, None, "the session is gone after a failed CA");

    // RSA: a copy with another RSA key fails the ISO/IEC 9796-2 check
    let rsa = AaKey {
        key: rsa_1024().clone(),
        hash: HashAlgorithm::Sha1,
    };
    let (active, _, _) = verify(chip((&rsa, &original.1), (&clone.0, &original.1), None));
    assert_eq!(active.verdict, Verdict::Invalid);
}

#[test]
fn documents_without_dg14_and_dg15_are_not_supported() {
    let mut channel = Loopback(VirtualChip::new(common::config()));
    let mut reader =
        Reader::open(&mut channel, &key(), ReadOptions::default(), &mut OsRng).unwrap();
    let files = reader.read_document(&mut |_| {}).unwrap();
    let result = reader.verify_chip(&files, &mut OsRng).unwrap();
    assert_eq!(result.active.verdict, Verdict::NotSupported);
    assert_eq!(result.chip.verdict, Verdict::NotSupported);
    assert_eq!(
        serde_json::to_value(&result.active).unwrap()["verdict"],
        "not_supported"
    );
    // a chip with DG15 but no key answers INTERNAL AUTHENTICATE with 6D00
    let aa = AaKey {
        key: PrivateKey::generate_ec(Curve::NistP256, &mut OsRng),
        hash: HashAlgorithm::Sha256,
    };
    let dg15 = tlv::encode(0x6F, &aa.key.public_key().to_spki());
    let verdict = reader
        .active_authentication(Some(&dg15), None, &mut OsRng)
        .unwrap();
    assert_eq!(verdict.verdict, Verdict::Invalid);
    assert!(verdict.reason.contains("6D00"), "{}", verdict.reason);
}

#[test]
fn the_chip_guards_internal_authenticate_and_chip_authentication() {
    use card::{CommandApdu, ResponseApdu, VirtualCard};
    use emrtd::bac::{self, BacKeys};
    use emrtd::lds::EMRTD_AID;
    let aa = AaKey {
        key: PrivateKey::generate_ec(Curve::NistP256, &mut OsRng),
        hash: HashAlgorithm::Sha256,
    };
    let ca = CaKey {
        key_id: Some(3),
        ..ca_key(Curve::NistP256, CipherAlgorithm::Aes128)
    };
    let mut channel = Loopback(chip((&aa, &ca), (&aa, &ca), None));
    let sw = |chip: &mut VirtualChip, apdu: &[u8]| {
        ResponseApdu::parse(&chip.process(apdu)).unwrap().sw.0
    };
    // before access control
    assert_eq!(
        sw(
            &mut channel.0,
            &[0, 0x88, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0]
        ),
        0x6982
    );
    assert_eq!(
        sw(&mut channel.0, &[0, 0x22, 0x41, 0xA6, 2, 0x91, 0]),
        0x6982
    );
    let select = CommandApdu::new(0, 0xA4, 4, 0x0C).with_data(EMRTD_AID.to_vec());
    card::CardChannel::transmit(&mut channel, &select).unwrap();
    let seed = key().bac_key_seed().unwrap();
    let mut sm = bac::authenticate(
        &mut channel,
        &BacKeys::from_seed(seed.as_slice()),
        &mut OsRng,
    )
    .unwrap();
    let mut protected = |channel: &mut Loopback<VirtualChip>, command: &CommandApdu| {
        let wire = sm.protect_command(command).unwrap().to_bytes().unwrap();
        let raw = channel.0.process(&wire);
        sm.unprotect_response(&ResponseApdu::parse(&raw).unwrap())
            .unwrap()
            .sw
            .0
    };
    let ia = |len: usize| {
        CommandApdu::new(0, 0x88, 0, 0)
            .with_data(vec![7; len])
            .with_le(256)
    };
    assert_eq!(protected(&mut channel, &ia(7)), 0x6700);
    assert_eq!(protected(&mut channel, &ia(8)), 0x9000);
    let set_at = |oid_last: u8, key_id: u8| {
        let oid = [
            0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x03, 0x02, oid_last,
        ];
        let data = [tlv::encode(0x80, &oid), tlv::encode(0x84, &[key_id])].concat();
        CommandApdu::new(0, 0x22, 0x41, 0xA4).with_data(data)
    };
    // another cipher or key than the chip's: reference not found
    assert_eq!(protected(&mut channel, &set_at(4, 3)), 0x6A88);
    assert_eq!(protected(&mut channel, &set_at(2, 9)), 0x6A88);
    // a key that is not on the curve
    assert_eq!(protected(&mut channel, &set_at(2, 3)), 0x9000);
    let bad_point = CommandApdu::new(0, 0x86, 0, 0)
        .with_data(tlv::encode(0x7C, &tlv::encode(0x80, &[4; 65])))
        .with_le(256);
    assert_eq!(protected(&mut channel, &bad_point), 0x6A80);
    // the session survived every refusal
    assert_eq!(protected(&mut channel, &ia(8)), 0x9000);
}
