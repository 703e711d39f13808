//! An independent eMRTD reader, the `dmrtd` crate, reads DG1 and DG2 of
//! the station's simulated chip over the real PC/SC reader, with BAC and
//! with PACE: the simulator is checked against someone else's terminal.

// In tests a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use card::CardChannel;
use card::reader::{PcscCard, Readers};
use dmrtd::com::{TransceiveError, Transceiver};
use dmrtd::lds::ef::ElementaryFile;
use dmrtd::passport::Passport;
use dmrtd::proto::can_key::CanKey;
use dmrtd::proto::dba_key::DBAKey;
use std::path::Path;
use std::time::Duration;
use support::{READER, Simulator, lock_reader, specimen};
use testbed::Service;

/// dmrtd's transport: raw APDUs through pcscd.
struct Pcsc(PcscCard);

impl Transceiver for Pcsc {
    fn transceive(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransceiveError> {
        self.0
            .transmit_raw(apdu)
            .map_err(|e| TransceiveError::new(e.to_string()))
    }
}

fn connect() -> Passport<Pcsc> {
    let readers = Readers::establish().unwrap();
    assert!(
        readers
            .wait_for_card(READER, Duration::from_secs(5))
            .unwrap()
    );
    Passport::new(Pcsc(readers.connect(READER).unwrap()))
}

fn assert_dg1_and_dg2(passport: &mut Passport<Pcsc>, doc: &Path) {
    let dg1 = passport.read_ef_dg1().unwrap();
    assert_eq!(dg1.to_bytes(), std::fs::read(doc.join("DG1")).unwrap());
    assert_eq!(dg1.mrz().document_number(), "L898902C3");
    let dg2 = passport.read_ef_dg2().unwrap();
    let ours = std::fs::read(doc.join("DG2")).unwrap();
    assert!(ours.len() > 5_000, "a real portrait crosses many APDUs");
    assert_eq!(dg2.to_bytes(), ours);
}

#[test]
fn dmrtd_reads_dg1_and_dg2_over_pcsc_with_bac_and_pace() {
    if !testbed::require(Service::Pcscd) {
        return;
    }
    let _reader = lock_reader();
    let tmp = tempfile::tempdir().unwrap();
    let portrait = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/faces/obama.png");
    let portrait = portrait.to_str().unwrap();

    let bac = tmp.path().join("bac");
    specimen(&bac, &["--access", "bac", "--portrait", portrait]);
    {
        let _sim = Simulator::profile(&bac);
        let mut passport = connect();
        let dg1 =
            dmrtd::lds::df1::efdg1::EfDG1::from_bytes(std::fs::read(bac.join("DG1")).unwrap())
                .unwrap();
        passport
            .start_session(DBAKey::from_mrz(dg1.mrz()).unwrap())
            .unwrap();
        assert_dg1_and_dg2(&mut passport, &bac);
    }

    let pace = tmp.path().join("pace");
    specimen(
        &pace,
        &[
            "--access",
            "pace",
            "--can",
            "271828",
            "--cipher",
            "AES-256",
            "--pace-curve",
            "P-384",
            "--portrait",
            portrait,
        ],
    );
    let _sim = Simulator::profile(&pace);
    let mut passport = connect();
    let card_access = passport.read_ef_card_access().unwrap();
    passport
        .start_session_pace(CanKey::new("271828").unwrap(), &card_access)
        .unwrap();
    assert_dg1_and_dg2(&mut passport, &pace);
}
