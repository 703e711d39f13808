//! The terminal side reads every file from the chip side, in memory, with
//! each access method and both APDU length modes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // shared test functions live outside #[test] fns

mod common;

use emrtd::access::{AccessKey, Can, MrzKey};
use emrtd::chip::{Loopback, VirtualChip};
use emrtd::crypto::CipherAlgorithm;
use emrtd::ec::Curve;
use emrtd::lds::LdsFile;
use emrtd::pace::{PaceInfo, PaceProtocol};
use emrtd::reader::{AccessMethod, ReadOptions, Reader};
use rand_core::OsRng;

fn key() -> AccessKey {
    AccessKey::Mrz(common::KEY.parse::<MrzKey>().unwrap())
}

fn read_all(
    chip: VirtualChip,
    key: &AccessKey,
    options: ReadOptions,
) -> (
    AccessMethod,
    Vec<(LdsFile, Vec<u8>)>,
    emrtd::reader::Counters,
) {
    let mut channel = Loopback(chip);
    let mut reader = Reader::open(&mut channel, key, options, &mut OsRng).unwrap();
    let mut files = Vec::new();
    for file in LdsFile::all() {
        let mut last = None;
        if let Some(bytes) = reader.read_file(file, &mut |p| last = Some(p)).unwrap() {
            if file != LdsFile::CardAccess {
                let p = last.unwrap();
                assert_eq!((p.read, p.total), (bytes.len(), bytes.len()));
            }
            files.push((file, bytes));
        }
    }
    (reader.access(), files, reader.counters())
}

fn assert_same_files(files: &[(LdsFile, Vec<u8>)], with_card_access: bool) {
    let profile = common::profile();
    let expected: Vec<_> = profile.files().map(|(f, b)| (f, b.to_vec())).collect();
    let got: Vec<_> = files
        .iter()
        .filter(|(f, _)| *f != LdsFile::CardAccess)
        .cloned()
        .collect();
    assert_eq!(got, expected);
    assert_eq!(
        files.iter().any(|(f, _)| *f == LdsFile::CardAccess),
        with_card_access
    );
}

#[test]
fn bac_with_3des_short_and_extended() {
    // 20000-byte chunks cross offset 32767 with extended APDUs too
    let mid = ReadOptions {
        max_le: 20_000,
        ..ReadOptions::extended()
    };
    for options in [ReadOptions::default(), ReadOptions::extended(), mid] {
        let (access, files, counters) =
            read_all(VirtualChip::new(common::config()), &key(), options);
        assert_eq!(access, AccessMethod::Bac);
        assert_eq!(access.name(), "BAC");
        assert_same_files(&files, false);
        let total: usize = files.iter().map(|(_, b)| b.len()).sum();
        assert_eq!(counters.bytes_read, total as u64);
        if options.max_le == 20_000 {
            assert_eq!(counters.apdus, 4 + 4 * 3 + 2 + 13 + 2);
        } else if options.max_le == 0xDF {
            // DG2 alone needs > 40000/0xDF READ BINARYs
            assert!(counters.apdus > 180, "{counters:?}");
        } else {
            // CardAccess probe, SELECT, GET CHALLENGE, EXTERNAL AUTHENTICATE;
            // per file SELECT + header + one chunk (DG11 fits in the header
            // probe); one SELECT per absent data group.
            assert_eq!(counters.apdus, 4 + 4 * 3 + 2 + 13, "{counters:?}");
        }
    }
}

#[test]
fn pace_with_every_cipher_and_curve() {
    let cases = [
        (CipherAlgorithm::Aes128, Curve::BrainpoolP256r1),
        (CipherAlgorithm::Aes192, Curve::NistP384),
        (CipherAlgorithm::Aes256, Curve::NistP256),
        (CipherAlgorithm::Tdes, Curve::BrainpoolP384r1),
    ];
    for (cipher, curve) in cases {
        let info = PaceInfo {
            protocol: PaceProtocol { cipher },
            curve,
        };
        for options in [ReadOptions::default(), ReadOptions::extended()] {
            let chip = VirtualChip::new(common::config().with_pace(vec![info]));
            let (access, files, _) = read_all(chip, &key(), options);
            assert_eq!(access, AccessMethod::Pace(info));
            assert_same_files(&files, true);
        }
    }
}

#[test]
fn pace_with_can_and_wrong_keys() {
    let info = PaceInfo {
        protocol: PaceProtocol {
            cipher: CipherAlgorithm::Aes128,
        },
        curve: Curve::NistP256,
    };
    let config = common::config()
        .with_pace(vec![info])
        .with_can(Can::new("123456").unwrap());
    let (access, files, _) = read_all(
        VirtualChip::new(config.clone()),
        &AccessKey::Can(Can::new("123456").unwrap()),
        ReadOptions::extended(),
    );
    assert_eq!(access.name(), "PACE-ECDH-GM-AES-128");
    assert_same_files(&files, true);

    let mut channel = Loopback(VirtualChip::new(config.clone()));
    let wrong = AccessKey::Can(Can::new("654321").unwrap());
    let err = Reader::open(&mut channel, &wrong, ReadOptions::default(), &mut OsRng).unwrap_err();
    assert!(
        matches!(err, emrtd::Error::Status { sw, .. } if sw.0 == 0x6300),
        "{err}"
    );
    assert_eq!(channel.0.failed_attempts(), 1);

    // A wrong MRZ for PACE is not tried again with BAC.
    let mut channel = Loopback(VirtualChip::new(config.clone()));
    let wrong = AccessKey::Mrz("L898902C3:740812:120416".parse().unwrap());
    let err = Reader::open(&mut channel, &wrong, ReadOptions::default(), &mut OsRng).unwrap_err();
    assert!(
        matches!(err, emrtd::Error::Status { sw, .. } if sw.0 == 0x6300),
        "{err}"
    );
    assert_eq!(channel.0.failed_attempts(), 1);

    // BAC with a wrong MRZ
    let mut channel = Loopback(VirtualChip::new(common::config()));
    let wrong = AccessKey::Mrz("L898902C3:740812:120416".parse().unwrap());
    let err = Reader::open(&mut channel, &wrong, ReadOptions::default(), &mut OsRng).unwrap_err();
    assert!(
        matches!(err, emrtd::Error::Status { sw, .. } if sw.0 == 0x6300),
        "{err}"
    );
    // a CAN cannot key BAC
    let mut channel = Loopback(VirtualChip::new(common::config()));
    let err = Reader::open(
        &mut channel,
        &AccessKey::Can(Can::new("123456").unwrap()),
        ReadOptions::default(),
        &mut OsRng,
    )
    .unwrap_err();
    assert!(matches!(err, emrtd::Error::WrongKeyKind(_)));
}

#[test]
fn reads_the_groups_ef_com_lists() {
    use emrtd::lds::LdsFile;
    use emrtd::tlv;
    // EF.COM listing DG1, DG2 and DG11
    let com = tlv::encode(
        0x60,
        &[
            tlv::encode(0x5F01, b"0107"),
            tlv::encode(0x5F36, b"040000"),
            tlv::encode(0x5C, &[0x61, 0x75, 0x6B]),
        ]
        .concat(),
    );
    let mut config = common::config();
    config.profile.insert(LdsFile::Com, com.clone());
    let mut channel = Loopback(VirtualChip::new(config.clone()));
    let mut reader =
        Reader::open(&mut channel, &key(), ReadOptions::extended(), &mut OsRng).unwrap();
    let mut seen = Vec::new();
    let files = reader
        .read_document(&mut |p| {
            if seen.last() != Some(&p.file) {
                seen.push(p.file);
            }
        })
        .unwrap();
    let expected: Vec<LdsFile> = config.profile.files().map(|(f, _)| f).collect();
    assert_eq!(files.keys().copied().collect::<Vec<_>>(), expected);
    for (file, bytes) in config.profile.files() {
        assert_eq!(files[&file], bytes);
    }
    assert_eq!(
        seen,
        [
            LdsFile::Com,
            LdsFile::Dg(1),
            LdsFile::Dg(2),
            LdsFile::Dg(11),
            LdsFile::Sod
        ]
    );
    // probe, SELECT, GET CHALLENGE, EXT AUTH; COM, DG1, DG2, SOD: 3 each; DG11: 2
    assert_eq!(reader.counters().apdus, 4 + 4 * 3 + 2);
}

#[test]
fn falls_back_to_short_apdus_when_extended_length_is_refused() {
    let mut config = common::config();
    config.extended_length = false;
    let mut channel = Loopback(VirtualChip::new(config));
    let mut reader =
        Reader::open(&mut channel, &key(), ReadOptions::extended(), &mut OsRng).unwrap();
    assert_eq!(reader.max_le(), emrtd::reader::EXTENDED_MAX_LE);
    let dg2 = reader
        .read_file(LdsFile::Dg(2), &mut |_| {})
        .unwrap()
        .unwrap();
    assert_eq!(dg2, common::profile().get(LdsFile::Dg(2)).unwrap());
    assert_eq!(reader.max_le(), emrtd::reader::SHORT_MAX_LE);
    // the session survived the refusal
    let dg1 = reader
        .read_file(LdsFile::Dg(1), &mut |_| {})
        .unwrap()
        .unwrap();
    assert_eq!(dg1, common::profile().get(LdsFile::Dg(1)).unwrap());
}

/// A reader in front of a chip that fails every extended-length command
/// with `error` (the chip never sees it), counting the refusals.
struct RefusingReader {
    chip: VirtualChip,
    error: fn() -> card::TransmitError,
    refused: usize,
}

impl card::CardChannel for RefusingReader {
    fn transmit_raw(&mut self, command: &[u8]) -> Result<Vec<u8>, card::TransmitError> {
        let extended = card::CommandApdu::parse(command).is_ok_and(|c| c.is_extended());
        if extended {
            self.refused += 1;
            return Err((self.error)());
        }
        Ok(card::VirtualCard::process(&mut self.chip, command))
    }
}

#[test]
fn readers_that_refuse_extended_length_fall_back_with_the_session_intact() {
    let expected = common::profile();
    // The reader answers 6700 itself, in the clear.
    let mut channel = Loopback(card::limits::ShortApdusOnly(VirtualChip::new(
        common::config(),
    )));
    let mut reader =
        Reader::open(&mut channel, &key(), ReadOptions::extended(), &mut OsRng).unwrap();
    let files = reader.read_document(&mut |_| {}).unwrap();
    assert_eq!(files.len(), 4, "COM, DG1, DG2 (as EF.COM lists) and SOD");
    for (file, bytes) in &files {
        assert_eq!(expected.get(*file).unwrap(), bytes, "{file:?}");
    }
    let chunks = reader.chunks().clone();
    assert_eq!(chunks.initial, emrtd::reader::EXTENDED_MAX_LE);
    assert_eq!(chunks.current, emrtd::reader::SHORT_MAX_LE);
    assert!(!chunks.extended_length());
    assert_eq!(chunks.fallbacks.len(), 1);
    assert!(chunks.fallbacks[0].cause.contains("6700"), "{chunks:?}");
    // One refused command more than reading short from the start.
    let mut plain = Loopback(VirtualChip::new(common::config()));
    let mut short = Reader::open(&mut plain, &key(), ReadOptions::default(), &mut OsRng).unwrap();
    short.read_document(&mut |_| {}).unwrap();
    assert_eq!(reader.counters().apdus, short.counters().apdus + 1);
    assert_eq!(reader.counters().bytes_read, short.counters().bytes_read);

    // The reader's driver refuses it (SCARD_E_INVALID_PARAMETER), or the
    // transport fails on it: the same fall-back, the counter taken back once.
    for error in [
        (|| card::TransmitError::Rejected("invalid parameter".into())) as fn() -> _,
        || card::TransmitError::Transport("transaction failed".into()),
    ] {
        let mut channel = RefusingReader {
            chip: VirtualChip::new(common::config()),
            error,
            refused: 0,
        };
        let mut reader =
            Reader::open(&mut channel, &key(), ReadOptions::extended(), &mut OsRng).unwrap();
        let files = reader.read_document(&mut |_| {}).unwrap();
        assert_eq!(
            files[&LdsFile::Dg(2)],
            expected.get(LdsFile::Dg(2)).unwrap()
        );
        assert_eq!(files[&LdsFile::Sod], expected.get(LdsFile::Sod).unwrap());
        assert_eq!(reader.max_le(), emrtd::reader::SHORT_MAX_LE);
        drop(reader);
        assert_eq!(channel.refused, 1);
    }
    // A transport failure of a short read is not a length problem: it stands.
    let mut channel = RefusingReader {
        chip: VirtualChip::new(common::config()),
        error: || card::TransmitError::Transport("gone".into()),
        refused: 0,
    };
    let mut reader =
        Reader::open(&mut channel, &key(), ReadOptions::default(), &mut OsRng).unwrap();
    assert_eq!(reader.read_document(&mut |_| {}).unwrap().len(), 4);
}

#[test]
fn chips_that_break_on_large_le_are_read_in_ever_smaller_chunks() {
    let mut config = common::config();
    config.max_read_le = Some(100);
    let mut channel = Loopback(VirtualChip::new(config));
    let mut reader =
        Reader::open(&mut channel, &key(), ReadOptions::extended(), &mut OsRng).unwrap();
    let files = reader.read_document(&mut |_| {}).unwrap();
    assert_eq!(files.len(), 4);
    for (file, bytes) in &files {
        assert_eq!(common::profile().get(*file).unwrap(), bytes, "{file:?}");
    }
    let steps: Vec<(usize, usize)> = reader
        .chunks()
        .fallbacks
        .iter()
        .map(|f| (f.from, f.to))
        .collect();
    // DG2's first chunk asks for all of it after the 4-byte header.
    let dg2 = common::profile().get(LdsFile::Dg(2)).unwrap().len();
    assert_eq!(steps, [(dg2 - 4, 223), (223, 128), (128, 64)]);
    // Below the smallest step the refusal stands.
    let mut config = common::config();
    config.max_read_le = Some(32);
    let mut channel = Loopback(VirtualChip::new(config));
    let mut reader =
        Reader::open(&mut channel, &key(), ReadOptions::default(), &mut OsRng).unwrap();
    let err = reader.read_file(LdsFile::Dg(2), &mut |_| {}).unwrap_err();
    assert!(
        matches!(err, emrtd::Error::Status { sw, .. } if sw == card::StatusWord::WRONG_LENGTH),
        "{err:?}"
    );
}

#[test]
fn a_chip_refusing_the_pace_it_offers_is_opened_with_bac() {
    let info = PaceInfo {
        protocol: PaceProtocol {
            cipher: CipherAlgorithm::Aes128,
        },
        curve: Curve::NistP256,
    };
    // EF.CardAccess offers PACE, but the chip answers MSE:Set AT with 6D00.
    let mut config = common::config();
    config
        .profile
        .insert(LdsFile::CardAccess, PaceInfo::card_access(&[info]));
    config.pace.clear();
    let mut channel = Loopback(VirtualChip::new(config.clone()));
    let mut reader =
        Reader::open(&mut channel, &key(), ReadOptions::default(), &mut OsRng).unwrap();
    assert_eq!(reader.access(), AccessMethod::Bac);
    let why = reader.pace_failure().unwrap();
    assert!(why.contains("MSE:Set AT") && why.contains("6D00"), "{why}");
    let files = reader.read_document(&mut |_| {}).unwrap();
    assert_eq!(
        files[&LdsFile::Dg(1)],
        common::profile().get(LdsFile::Dg(1)).unwrap()
    );
    // With the CAN there is no BAC to fall back to.
    let mut channel = Loopback(VirtualChip::new(config));
    let can = AccessKey::Can(Can::new("123456").unwrap());
    let err = Reader::open(&mut channel, &can, ReadOptions::default(), &mut OsRng).unwrap_err();
    assert!(
        matches!(
            err,
            emrtd::Error::Status {
                command: "MSE:Set AT",
                ..
            }
        ),
        "{err}"
    );
    // A chip that does PACE gives no reason to fall back.
    let mut channel = Loopback(VirtualChip::new(common::config().with_pace(vec![info])));
    let reader = Reader::open(&mut channel, &key(), ReadOptions::default(), &mut OsRng).unwrap();
    assert_eq!(reader.pace_failure(), None);
}
