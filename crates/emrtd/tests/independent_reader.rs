//! An independent eMRTD reader (the `dmrtd` crate) reads our chip: the chip
//! side is checked against someone else's terminal, not only our own.

#![allow(clippy::unwrap_used, clippy::expect_used)] // shared test functions live outside #[test] fns

mod common;

use card::VirtualCard;
use dmrtd::com::{TransceiveError, Transceiver};
use dmrtd::lds::ef::ElementaryFile;
use dmrtd::lds::mrz::Mrz;
use dmrtd::passport::Passport;
use dmrtd::proto::dba_key::DBAKey;
use emrtd::VirtualChip;
use emrtd::crypto::CipherAlgorithm;
use emrtd::ec::Curve;
use emrtd::lds::LdsFile;
use emrtd::pace::{PaceInfo, PaceProtocol};

struct Wire(VirtualChip);

impl Transceiver for Wire {
    fn transceive(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransceiveError> {
        Ok(self.0.process(apdu))
    }
}

fn mrz() -> Mrz {
    Mrz::from_bytes(common::MRZ.replace('\n', "").into_bytes()).unwrap()
}

fn assert_reads_every_file(passport: &mut Passport<Wire>) {
    let profile = common::profile();
    assert_eq!(
        passport.read_ef_com().unwrap().to_bytes(),
        profile.get(LdsFile::Com).unwrap()
    );
    assert_eq!(
        passport.read_ef_dg1().unwrap().to_bytes(),
        profile.get(LdsFile::Dg(1)).unwrap()
    );
    // raw reads: DG2 crosses offset 32767, so the odd READ BINARY is used
    for file in [LdsFile::Dg(2), LdsFile::Dg(11), LdsFile::Sod] {
        let bytes = passport.api_mut().read_file_by_sfi(file.sfi()).unwrap();
        assert_eq!(bytes, profile.get(file).unwrap(), "{file:?}");
    }
}

#[test]
fn dmrtd_reads_our_chip_with_bac() {
    let mut passport = Passport::new(Wire(VirtualChip::new(common::config())));
    passport
        .start_session(DBAKey::from_mrz(&mrz()).unwrap())
        .unwrap();
    assert_reads_every_file(&mut passport);
}

#[test]
fn dmrtd_reads_our_chip_with_pace() {
    for (cipher, curve) in [
        (CipherAlgorithm::Aes128, Curve::BrainpoolP256r1),
        (CipherAlgorithm::Aes256, Curve::NistP384),
        (CipherAlgorithm::Aes128, Curve::NistP256),
    ] {
        let info = PaceInfo {
            protocol: PaceProtocol { cipher },
            curve,
        };
        let chip = VirtualChip::new(common::config().with_pace(vec![info]));
        let mut passport = Passport::new(Wire(chip));
        let card_access = passport.read_ef_card_access().unwrap();
        assert_eq!(card_access.to_bytes(), PaceInfo::card_access(&[info]));
        let mrz = mrz();
        let key = DBAKey::new(
            mrz.document_number(),
            mrz.date_of_birth,
            mrz.date_of_expiry,
            true,
        )
        .unwrap();
        passport.start_session_pace(key, &card_access).unwrap();
        assert_reads_every_file(&mut passport);
    }
}
