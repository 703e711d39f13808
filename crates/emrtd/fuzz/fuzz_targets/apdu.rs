//! Arbitrary bytes as a command APDU, a response APDU and an ATR: no
//! panic, and a command that parses encodes back to the same bytes.
#![no_main]

use card::{CommandApdu, ResponseApdu};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(command) = CommandApdu::parse(data)
        && let Ok(bytes) = command.to_bytes()
    {
        assert_eq!(CommandApdu::parse(&bytes).ok(), Some(command));
    }
    if let Ok(response) = ResponseApdu::parse(data) {
        assert_eq!(response.to_bytes(), data);
    }
    let _ = card::atr::historical_bytes(data);
    let _ = card::atr::extended_length(data);
});
