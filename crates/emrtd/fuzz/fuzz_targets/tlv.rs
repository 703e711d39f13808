//! Arbitrary bytes through every TLV entry point: no panic, and whatever
//! parses re-encodes to the same bytes.
#![no_main]

use emrtd::tlv;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tlv::validate(data);
    let _ = tlv::parse_header(data);
    for object in tlv::Objects::new(data) {
        let Ok(object) = object else { break };
        let _ = object.children().count();
    }
    if let Ok((object, rest)) = tlv::parse(data) {
        let consumed = &data[..data.len() - rest.len()];
        // DER's shortest length form re-encodes identically.
        let encoded = tlv::encode(object.tag, object.value);
        if encoded.len() == consumed.len() {
            assert_eq!(encoded, consumed);
        }
    }
    let _ = emrtd::pace::PaceInfo::parse_card_access(data);
    let _ = emrtd::lds::parse_dg1(data);
});
