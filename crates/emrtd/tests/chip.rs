//! The chip side's status words, access control and attempt counter, and
//! its robustness against arbitrary input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // shared test functions live outside #[test] fns

mod common;

use card::{CommandApdu, ResponseApdu, VirtualCard};
use emrtd::access::AccessKey;
use emrtd::bac::{self, BacKeys};
use emrtd::chip::{Loopback, VirtualChip};
use emrtd::lds::{EMRTD_AID, LdsFile};
use emrtd::sm::SecureMessaging;
use proptest::prelude::*;
use rand_core::OsRng;

fn sw(chip: &mut VirtualChip, apdu: &[u8]) -> u16 {
    let r = ResponseApdu::parse(&chip.process(apdu)).unwrap();
    r.sw.0
}

fn bac_session(chip: VirtualChip) -> (Loopback<VirtualChip>, SecureMessaging) {
    let mut channel = Loopback(chip);
    let select = CommandApdu::new(0, 0xA4, 4, 0x0C).with_data(EMRTD_AID.to_vec());
    assert_eq!(
        card::CardChannel::transmit(&mut channel, &select)
            .unwrap()
            .sw
            .0,
        0x9000
    );
    let key = AccessKey::Mrz(common::KEY.parse().unwrap());
    let keys = BacKeys::from_seed(key.bac_key_seed().unwrap().as_slice());
    let sm = bac::authenticate(&mut channel, &keys, &mut OsRng).unwrap();
    (channel, sm)
}

fn protected(
    channel: &mut Loopback<VirtualChip>,
    sm: &mut SecureMessaging,
    command: &CommandApdu,
) -> ResponseApdu {
    let wire = sm.protect_command(command).unwrap().to_bytes().unwrap();
    let raw = channel.0.process(&wire);
    sm.unprotect_response(&ResponseApdu::parse(&raw).unwrap())
        .unwrap()
}

#[test]
fn status_words_before_access_control() {
    let mut chip = VirtualChip::new(common::config());
    // EF.CardAccess is absent in this profile; DG files need access control
    assert_eq!(sw(&mut chip, &[0, 0xB0, 0x9C, 0, 4]), 0x6A82);
    assert_eq!(
        sw(
            &mut chip,
            &[0, 0xA4, 4, 0x0C, 7, 0xA0, 0, 0, 2, 0x47, 0x10, 1]
        ),
        0x9000
    );
    assert_eq!(sw(&mut chip, &[0, 0xA4, 2, 0x0C, 2, 1, 0x1E]), 0x6982);
    assert_eq!(sw(&mut chip, &[0, 0xB0, 0x81, 0, 4]), 0x6982);
    assert_eq!(sw(&mut chip, &[0, 0xA4, 4, 0x0C, 3, 0xA0, 0, 0]), 0x6A82);
    assert_eq!(sw(&mut chip, &[0, 0xCA, 0, 0, 0]), 0x6D00);
    assert_eq!(sw(&mut chip, &[0x80, 0xB0, 0, 0, 0]), 0x6E00);
    assert_eq!(sw(&mut chip, &[0, 0x84, 0, 0, 4]), 0x6700);
    assert_eq!(sw(&mut chip, &[0, 0x82, 0, 0, 2, 1, 2]), 0x6700);
    assert_eq!(sw(&mut chip, &[0, 0xB0]), 0x6700);
    assert_eq!(sw(&mut chip, &[0, 0xB0, 0, 0, 5, 1]), 0x6700);
    // SM command without a session
    assert_eq!(sw(&mut chip, &[0x0C, 0xB0, 0, 0, 0]), 0x6988);
    // EXTERNAL AUTHENTICATE without GET CHALLENGE
    let mut ea = vec![0, 0x82, 0, 0, 40];
    ea.extend([0u8; 40]);
    assert_eq!(sw(&mut chip, &ea), 0x6985);
}

#[test]
fn status_words_under_secure_messaging() {
    let (mut channel, mut sm) = bac_session(VirtualChip::new(common::config()));
    let select =
        |fid: u16| CommandApdu::new(0, 0xA4, 2, 0x0C).with_data(fid.to_be_bytes().to_vec());
    assert_eq!(
        protected(&mut channel, &mut sm, &select(0x0105)).sw.0,
        0x6A82
    );
    assert_eq!(
        protected(&mut channel, &mut sm, &select(0x011E)).sw.0,
        0x9000
    );
    let com = protected(
        &mut channel,
        &mut sm,
        &CommandApdu::new(0, 0xB0, 0, 0).with_le(256),
    );
    assert_eq!(com.sw.0, 0x9000, "fewer bytes than Le: what there is");
    assert_eq!(com.data.len(), 22);
    assert_eq!(
        protected(
            &mut channel,
            &mut sm,
            &CommandApdu::new(0, 0xB0, 0, 22).with_le(1)
        )
        .sw
        .0,
        0x6B00
    );
    assert_eq!(
        protected(&mut channel, &mut sm, &CommandApdu::new(0, 0xB0, 0, 0))
            .sw
            .0,
        0x6700
    );
    // READ BINARY by SFI selects DG1; then odd INS beyond 32767 in DG2
    let dg1 = protected(
        &mut channel,
        &mut sm,
        &CommandApdu::new(0, 0xB0, 0x81, 0).with_le(5),
    );
    assert_eq!((dg1.sw.0, dg1.data.len()), (0x9000, 5));
    let odd = CommandApdu::new(0, 0xB1, 0, 2)
        .with_data(vec![0x54, 0x02, 0x80, 0x00])
        .with_le(104);
    let r = protected(&mut channel, &mut sm, &odd);
    assert_eq!(r.sw.0, 0x9000);
    let dg2 = common::profile().get(LdsFile::Dg(2)).unwrap().to_vec();
    assert_eq!(r.data[..2], [0x53, 100]);
    assert_eq!(r.data[2..], dg2[0x8000..0x8000 + 100]);
    let beyond = CommandApdu::new(0, 0xB1, 0, 2)
        .with_data(vec![0x54, 0x03, 0x01, 0x00, 0x00])
        .with_le(10);
    assert_eq!(protected(&mut channel, &mut sm, &beyond).sw.0, 0x6B00);
    assert_eq!(
        protected(
            &mut channel,
            &mut sm,
            &CommandApdu::new(0, 0xCA, 0, 0).with_le(1)
        )
        .sw
        .0,
        0x6D00
    );

    // a bad MAC is refused with 6988 and ends the session
    let mut wire = sm
        .protect_command(&CommandApdu::new(0, 0xB0, 0, 0).with_le(4))
        .unwrap()
        .to_bytes()
        .unwrap();
    let n = wire.len();
    wire[n - 2] ^= 0xFF;
    assert_eq!(channel.0.process(&wire), [0x69, 0x88]);
    assert!(!channel.0.is_authenticated());
    let again = sm
        .protect_command(&CommandApdu::new(0, 0xB0, 0, 0).with_le(4))
        .unwrap()
        .to_bytes()
        .unwrap();
    assert_eq!(channel.0.process(&again), [0x69, 0x88]);
}

#[test]
fn failed_attempts_delay_then_block() {
    let mut channel = Loopback(VirtualChip::new(common::config()));
    let wrong = AccessKey::Mrz("L898902C3:740812:120416".parse().unwrap());
    for attempt in 1..=4u32 {
        let err = emrtd::reader::Reader::open(&mut channel, &wrong, Default::default(), &mut OsRng)
            .unwrap_err();
        assert!(
            matches!(err, emrtd::Error::Status { sw, .. } if sw.0 == 0x6300),
            "{err}"
        );
        assert_eq!(channel.0.failed_attempts(), attempt);
    }
    // blocked now, even with the right key, and across a reset
    channel.0.reset();
    let right = AccessKey::Mrz(common::KEY.parse().unwrap());
    let err = emrtd::reader::Reader::open(&mut channel, &right, Default::default(), &mut OsRng)
        .unwrap_err();
    assert!(
        matches!(err, emrtd::Error::Status { sw, .. } if sw.0 == 0x6983),
        "{err}"
    );
}

#[test]
fn success_resets_the_counter() {
    let mut channel = Loopback(VirtualChip::new(common::config()));
    let wrong = AccessKey::Mrz("L898902C3:740812:120416".parse().unwrap());
    assert!(
        emrtd::reader::Reader::open(&mut channel, &wrong, Default::default(), &mut OsRng).is_err()
    );
    assert_eq!(channel.0.failed_attempts(), 1);
    let right = AccessKey::Mrz(common::KEY.parse().unwrap());
    emrtd::reader::Reader::open(&mut channel, &right, Default::default(), &mut OsRng).unwrap();
    assert_eq!(channel.0.failed_attempts(), 0);
}

/// A command the chip may see once secure messaging is up.
fn any_command() -> impl Strategy<Value = CommandApdu> {
    (
        prop::sample::select(vec![0xA4u8, 0xB0, 0xB1, 0x84, 0x82, 0x22, 0x86, 0xCA, 0x00]),
        any::<u8>(),
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 0..64),
        prop::option::of(1usize..=65_536),
    )
        .prop_map(|(ins, p1, p2, data, le)| {
            let mut c = CommandApdu::new(0, ins, p1, p2).with_data(data);
            c.le = le;
            c
        })
}

fn assert_status(response: &[u8]) {
    assert!(response.len() >= 2, "no status word");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_before_access_control(inputs in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..16)) {
        let mut chip = VirtualChip::new(common::config());
        for input in inputs {
            assert_status(&chip.process(&input));
        }
    }

    #[test]
    fn arbitrary_plain_commands_before_access_control(commands in prop::collection::vec(any_command(), 1..16)) {
        let mut chip = VirtualChip::new(common::config());
        for command in commands {
            if let Ok(bytes) = command.to_bytes() {
                assert_status(&chip.process(&bytes));
            }
        }
    }

    #[test]
    fn arbitrary_bytes_after_access_control(inputs in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..8)) {
        let (mut channel, _) = bac_session(VirtualChip::new(common::config()));
        for input in inputs {
            assert_status(&channel.0.process(&input));
        }
    }

    #[test]
    fn arbitrary_protected_commands_after_access_control(commands in prop::collection::vec(any_command(), 1..12)) {
        let (mut channel, mut sm) = bac_session(VirtualChip::new(common::config()));
        for command in commands {
            let Ok(wire) = sm.protect_command(&command).map(|c| c.to_bytes()) else { continue };
            let Ok(wire) = wire else { continue };
            let raw = channel.0.process(&wire);
            assert_status(&raw);
            if !channel.0.is_authenticated() {
                break;
            }
            // the terminal can always open what the chip sends back
            let response = ResponseApdu::parse(&raw).unwrap();
            prop_assert!(sm.unprotect_response(&response).is_ok());
        }
    }
}

fn pace_session() -> (Loopback<VirtualChip>, SecureMessaging) {
    use emrtd::crypto::CipherAlgorithm;
    use emrtd::ec::Curve;
    use emrtd::pace::{PaceInfo, PaceProtocol, terminal};
    let info = PaceInfo {
        protocol: PaceProtocol {
            cipher: CipherAlgorithm::Aes128,
        },
        curve: Curve::NistP256,
    };
    let mut channel = Loopback(VirtualChip::new(common::config().with_pace(vec![info])));
    let key = AccessKey::Mrz(common::KEY.parse().unwrap());
    let mut sm = terminal::establish(&mut channel, info, &key, &mut OsRng).unwrap();
    let select = CommandApdu::new(0, 0xA4, 4, 0x0C).with_data(EMRTD_AID.to_vec());
    assert_eq!(protected(&mut channel, &mut sm, &select).sw.0, 0x9000);
    (channel, sm)
}

#[test]
fn select_returns_control_parameters_and_card_access_is_open() {
    let (mut channel, mut sm) = pace_session();
    let r = protected(
        &mut channel,
        &mut sm,
        &CommandApdu::new(0, 0xA4, 2, 0x00)
            .with_data(vec![0x01, 0x01])
            .with_le(256),
    );
    let dg1_len = common::profile().get(LdsFile::Dg(1)).unwrap().len() as u16;
    let len = dg1_len.to_be_bytes();
    assert_eq!(
        r.data,
        [
            0x62, 0x08, 0x80, 0x02, len[0], len[1], 0x83, 0x02, 0x01, 0x01
        ]
    );
    // EF.CardAccess is readable in the clear from the master file
    let mut chip = channel.0;
    chip.reset();
    let r = ResponseApdu::parse(&chip.process(&[0, 0xB0, 0x9C, 0, 0])).unwrap();
    assert_eq!(r.sw.0, 0x9000);
    assert_eq!(r.data[0], 0x31);
}

#[test]
fn loads_a_profile_from_a_directory() {
    use emrtd::chip::Profile;
    let dir = tempfile::tempdir().unwrap();
    for (file, bytes) in common::profile().files() {
        std::fs::write(dir.path().join(file.name()), bytes).unwrap();
    }
    let loaded = Profile::load_dir(dir.path()).unwrap();
    assert_eq!(loaded, common::profile());
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        Profile::load_dir(empty.path()),
        Err(emrtd::chip::ProfileError::Empty(_))
    ));
    // a directory of files serves a chip the reader can open with DG1's MRZ
    let config = emrtd::ChipConfig::from_profile(loaded).unwrap();
    let mut channel = Loopback(VirtualChip::new(config));
    let key = AccessKey::Mrz(common::KEY.parse().unwrap());
    let mut reader = emrtd::Reader::open(
        &mut channel,
        &key,
        emrtd::ReadOptions::extended(),
        &mut OsRng,
    )
    .unwrap();
    let dg1 = reader
        .read_file(LdsFile::Dg(1), &mut |_| {})
        .unwrap()
        .unwrap();
    let mrz = emrtd::lds::parse_dg1(&dg1).unwrap();
    assert_eq!(mrz.document_number, "L898902C3");
    assert_eq!(reader.read_file(LdsFile::Dg(3), &mut |_| {}).unwrap(), None);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_protected_commands_after_pace(commands in prop::collection::vec(any_command(), 1..12)) {
        let (mut channel, mut sm) = pace_session();
        for command in commands {
            let Ok(Ok(wire)) = sm.protect_command(&command).map(|c| c.to_bytes()) else { continue };
            let raw = channel.0.process(&wire);
            assert_status(&raw);
            if !channel.0.is_authenticated() {
                break;
            }
            let response = ResponseApdu::parse(&raw).unwrap();
            prop_assert!(sm.unprotect_response(&response).is_ok());
        }
    }

    #[test]
    fn arbitrary_bytes_after_pace(inputs in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..8)) {
        let (mut channel, _) = pace_session();
        for input in inputs {
            assert_status(&channel.0.process(&input));
        }
    }
}
