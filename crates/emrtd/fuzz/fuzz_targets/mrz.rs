//! Arbitrary text as an MRZ: no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = emrtd::Mrz::parse(text);
        let _ = text.parse::<emrtd::MrzKey>();
    }
});
