// In tests a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code)]

use emrtd::chip::{AttemptPolicy, ChipConfig, Profile};
use emrtd::lds::{LdsFile, encode_dg1};
use emrtd::tlv;
use std::time::Duration;

pub const MRZ: &str =
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10";
pub const KEY: &str = "L898902C3:740812:120415";

/// A document with a DG2 larger than 32767 bytes, so reads cross into
/// odd-INS offsets.
pub fn profile() -> Profile {
    let portrait: Vec<u8> = (0..40_000u32).map(|i| (i * 7 % 251) as u8).collect();
    Profile::new()
        .with_file(
            LdsFile::Com,
            hex::decode("60145F0104303130365F36063034303030305C026175").unwrap(),
        )
        .with_file(LdsFile::Dg(1), encode_dg1(MRZ))
        .with_file(
            LdsFile::Dg(2),
            tlv::encode(0x75, &tlv::encode(0x7F61, &portrait)),
        )
        .with_file(LdsFile::Dg(11), tlv::encode(0x6B, &[0x5C, 0x00]))
        .with_file(LdsFile::Sod, tlv::encode(0x77, &[0x30; 1500]))
}

pub fn config() -> ChipConfig {
    let mut config = ChipConfig::from_profile(profile()).unwrap();
    config.attempts = AttemptPolicy {
        delay_after: 2,
        delay: Duration::from_millis(1),
        block_after: Some(4),
    };
    config
}
