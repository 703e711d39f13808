//! Feeds a sequence of APDUs (split on 0xFF 0xFF 0xFF) into a virtual chip,
//! first in the clear and then inside a BAC session; every answer must carry
//! a status word.
#![no_main]

use card::{CommandApdu, VirtualCard};
use emrtd::bac::{self, BacKeys};
use emrtd::chip::{AttemptPolicy, ChipConfig, Loopback, Profile, VirtualChip};
use emrtd::lds::{EMRTD_AID, LdsFile, encode_dg1};
use emrtd::{AccessKey, MrzKey};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

const MRZ: &str =
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10";

fn chip() -> Option<VirtualChip> {
    let profile = Profile::new()
        .with_file(LdsFile::Dg(1), encode_dg1(MRZ))
        .with_file(LdsFile::Com, vec![0x60, 0x03, 0x5C, 0x01, 0x61])
        .with_file(
            LdsFile::Dg(2),
            vec![0x75, 0x82, 0x90, 0x00]
                .into_iter()
                .chain(std::iter::repeat_n(7, 0x9000))
                .collect(),
        );
    let mut config = ChipConfig::from_profile(profile).ok()?;
    config.attempts = AttemptPolicy {
        delay_after: u32::MAX,
        delay: Duration::ZERO,
        block_after: Some(3),
    };
    Some(VirtualChip::new(config))
}

fuzz_target!(|data: &[u8]| {
    let Some(mut plain) = chip() else { return };
    let commands: Vec<&[u8]> = data.split(|b| *b == 0xFF).collect();
    for command in &commands {
        assert!(plain.process(command).len() >= 2);
    }

    let Some(chip) = chip() else { return };
    let mut channel = Loopback(chip);
    let select = CommandApdu::new(0, 0xA4, 4, 0x0C).with_data(EMRTD_AID.to_vec());
    let _ = card::CardChannel::transmit(&mut channel, &select);
    let Ok(key) = "L898902C3:740812:120415".parse::<MrzKey>() else {
        return;
    };
    let Some(seed) = AccessKey::Mrz(key).bac_key_seed() else {
        return;
    };
    let Ok(mut sm) = bac::authenticate(
        &mut channel,
        &BacKeys::from_seed(seed.as_slice()),
        &mut rand_core_compat::Rng,
    ) else {
        return;
    };
    for command in commands {
        // Half the inputs go through secure messaging as well-formed
        // protected commands, so the handlers behind the MAC are reached.
        let wire = match CommandApdu::parse(command) {
            Ok(apdu) if apdu.cla & 0x0C == 0 => {
                match sm.protect_command(&apdu).map(|c| c.to_bytes()) {
                    Ok(Ok(bytes)) => bytes,
                    _ => command.to_vec(),
                }
            }
            _ => command.to_vec(),
        };
        let response = channel.0.process(&wire);
        assert!(response.len() >= 2);
        if let Ok(r) = card::ResponseApdu::parse(&response) {
            let _ = sm.unprotect_response(&r);
        }
    }
});

mod rand_core_compat {
    /// Deterministic bytes: fuzzing needs reproducible runs, not secrecy.
    pub struct Rng;
    impl emrtd_rng::RngCore for Rng {
        fn next_u32(&mut self) -> u32 {
            0x5A5A_5A5A
        }
        fn next_u64(&mut self) -> u64 {
            0x5A5A_5A5A_5A5A_5A5A
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            dest.fill(0x5A);
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), emrtd_rng::Error> {
            dest.fill(0x5A);
            Ok(())
        }
    }
    impl emrtd_rng::CryptoRng for Rng {}
    use emrtd::rand_core as emrtd_rng;
}
