//! Arbitrary bytes as EF.SOD, master list, certificate, CRL and PEM, and
//! through the BER normaliser: no panic, and Passive Authentication of a
//! document whose SOD is these bytes ends in a verdict.
#![no_main]

use emrtd::LdsFile;
use emrtd::passive::{self, Sod, TrustStore};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

fuzz_target!(|data: &[u8]| {
    let _ = passive::ber_to_der(data);
    let _ = Sod::parse(data);
    let mut trust = TrustStore::new();
    let _ = trust.add_master_list(data);
    let _ = trust.add_der(data);
    let _ = trust.add_crl(data);
    let _ = trust.add_pem(&String::from_utf8_lossy(data));
    let files = BTreeMap::from([
        (LdsFile::Dg(1), vec![0x61, 0x00]),
        (LdsFile::Sod, data.to_vec()),
    ]);
    let _ = passive::verify(&files, &trust, std::time::SystemTime::now());
});
