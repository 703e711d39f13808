//! Arbitrary bytes as each data group the station interprets: EF.COM,
//! DG2 (portrait), DG12 (document details), DG14 (security infos), DG15
//! (public key). No panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = emrtd::lds::parse_com(data);
    let _ = emrtd::lds::parse_dg12(data);
    let _ = emrtd::portrait::Portrait::parse_dg2(data);
    let _ = emrtd::security_info::SecurityInfos::parse(data);
    let _ = emrtd::keys::PublicKey::from_spki(data);
    let _ = emrtd::keys::PrivateKey::from_pkcs8_der(data);
});
