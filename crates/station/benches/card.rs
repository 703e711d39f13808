//! Card reading through the real pcscd: the station's simulated chip in the
//! first vpcd reader, read through PC/SC as a counter reader would be.
//!
//! Measures the APDU round trip (median of 1000 SELECTs), a full read —
//! access, EF.COM, DG1, DG2, DG14, DG15, EF.SOD, Passive, Active and Chip
//! Authentication — with extended length and with short 223-byte chunks
//! (median of 20 each, with the APDU count), and the same files read by the
//! independent `dmrtd` reader. Needs the test bed (`scripts/testbed.sh
//! start`); run with `cargo bench -p station --bench card`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark aborts on any setup failure

use std::cell::Cell;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use card::reader::{PcscCard, Readers};
use card::vpcd::VpcdBridge;
use card::{CardChannel, CommandApdu};
use dmrtd::com::{TransceiveError, Transceiver};
use dmrtd::passport::Passport;
use dmrtd::proto::can_key::CanKey;
use emrtd::passive::TrustStore;
use emrtd::specimen::Specimen;
use emrtd::{AccessKey, Can, ChipConfig, LdsFile, ReadOptions, Reader, VirtualChip};

const READER: &str = "Virtual PCD 00 00";
const PORT: u16 = 35963;
const ROUND_TRIPS: usize = 1000;
const READS: usize = 20;
const CAN: &str = "123456";

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The benchmark document: the demo identity with a real portrait, PACE
/// (brainpoolP256r1, AES-128) and BAC, RSA Active Authentication, Chip
/// Authentication on brainpoolP256r1.
fn document() -> (Specimen, TrustStore) {
    let face = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/faces/obama.png");
    let args = station::card::SpecimenArgs {
        out: std::env::temp_dir(),
        doc_type: station::card::specimen::DocType::Td3,
        number: "L898902C3".into(),
        surname: "SPECIMEN".into(),
        given_names: "DEMO".into(),
        national_name: None,
        nationality: "UTO".into(),
        birth: "740812".into(),
        expiry: "341231".into(),
        sex: "F".into(),
        portrait: Some(face),
        access: station::card::specimen::AccessKind::Pace,
        pace_curve: "brainpoolP256r1".into(),
        cipher: "AES-128".into(),
        can: CAN.into(),
        aa: station::card::specimen::AaKind::Rsa,
        ca: "brainpoolP256r1".into(),
        signature: station::card::specimen::SignatureKind::Ecdsa,
        issuing_authority: None,
        date_of_issue: None,
        revoke_document_signer: false,
    };
    let options = station::card::specimen::options(&args).unwrap();
    let specimen = Specimen::build(&options, &mut emrtd::rand_core::OsRng).unwrap();
    let mut trust = TrustStore::new();
    trust.add_der(&specimen.csca).unwrap();
    (specimen, trust)
}

/// Serves the chip in the first vpcd reader until `stop` is raised.
fn serve(config: ChipConfig, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut chip = VirtualChip::new(config);
        let mut bridge = VpcdBridge::connect(("127.0.0.1", PORT)).unwrap();
        bridge.serve(&mut chip, &stop).unwrap();
    })
}

fn connect(readers: &Readers) -> PcscCard {
    assert!(
        readers
            .wait_for_card(READER, Duration::from_secs(5))
            .unwrap()
    );
    readers.connect(READER).unwrap()
}

fn round_trip(readers: &Readers) -> Duration {
    let mut card = connect(readers);
    let select = CommandApdu::new(0x00, 0xA4, 0x04, 0x0C).with_data(emrtd::lds::EMRTD_AID.to_vec());
    let samples = (0..ROUND_TRIPS)
        .map(|_| {
            let t = Instant::now();
            let r = card.transmit(&select).unwrap();
            assert!(r.sw.is_success());
            t.elapsed()
        })
        .collect();
    median(samples)
}

/// One whole read, as `station card read` does it; returns the APDU count.
fn full_read(readers: &Readers, key: &AccessKey, options: ReadOptions, trust: &TrustStore) -> u64 {
    let mut card = connect(readers);
    let mut rng = emrtd::rand_core::OsRng;
    let mut reader = Reader::open(&mut card, key, options, &mut rng).unwrap();
    let files = reader.read_document(&mut |_| {}).unwrap();
    for dg in [1, 2, 14, 15] {
        assert!(files.contains_key(&LdsFile::Dg(dg)));
    }
    let passive = emrtd::passive::verify(&files, trust, SystemTime::now());
    let chip = reader.verify_chip(&files, &mut rng).unwrap();
    for v in [&passive, &chip.active, &chip.chip] {
        assert_eq!(v.verdict, emrtd::Verdict::Valid, "{}", v.reason);
    }
    reader.counters().apdus
}

/// dmrtd's transport through pcscd, counting APDUs.
struct Counted(PcscCard, Rc<Cell<u64>>);

impl Transceiver for Counted {
    fn transceive(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransceiveError> {
        self.1.set(self.1.get() + 1);
        self.0
            .transmit_raw(apdu)
            .map_err(|e| TransceiveError::new(e.to_string()))
    }
}

/// dmrtd: PACE with the CAN, the same files, Active Authentication (it has
/// no Passive Authentication against a trust store nor Chip Authentication).
fn dmrtd_read(readers: &Readers) -> u64 {
    let apdus = Rc::new(Cell::new(0));
    let mut passport = Passport::new(Counted(connect(readers), apdus.clone()));
    let card_access = passport.read_ef_card_access().unwrap();
    passport
        .start_session_pace(CanKey::new(CAN).unwrap(), &card_access)
        .unwrap();
    passport.read_ef_com().unwrap();
    passport.read_ef_dg1().unwrap();
    passport.read_ef_dg2().unwrap();
    passport.read_ef_dg14().unwrap();
    passport.read_ef_dg15().unwrap();
    passport.read_ef_sod().unwrap();
    passport
        .verify_active_authentication(&[1, 2, 3, 4, 5, 6, 7, 8])
        .unwrap();
    apdus.get()
}

fn timed(label: &str, mut run: impl FnMut() -> u64) {
    let mut apdus = 0;
    let samples = (0..READS)
        .map(|_| {
            let t = Instant::now();
            apdus = run();
            t.elapsed()
        })
        .collect();
    println!(
        "{label:<44} median {:>8.1} ms   {apdus:>4} APDUs",
        ms(median(samples))
    );
}

fn main() {
    if !testbed::require(testbed::Service::Pcscd) {
        return;
    }
    let (specimen, trust) = document();
    let dg2 = specimen.profile.get(LdsFile::Dg(2)).map_or(0, <[u8]>::len);
    let config = ChipConfig::from_profile(specimen.profile.clone()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let server = serve(config, stop.clone());
    let readers = Readers::establish().unwrap();

    println!(
        "document: TD3, DG2 {dg2} bytes, PACE brainpoolP256r1 AES-128, RSA-2048 AA, CA brainpoolP256r1"
    );
    println!(
        "{:<44} median {:>8.3} ms",
        format!("APDU round trip (SELECT, n={ROUND_TRIPS})"),
        ms(round_trip(&readers))
    );
    let can = AccessKey::Can(Can::new(CAN).unwrap());
    let mrz = AccessKey::Mrz(emrtd::MrzKey::from(&specimen.mrz));
    let bac = ReadOptions {
        prefer_pace: false,
        ..ReadOptions::extended()
    };
    timed("full read, PACE-CAN, extended length", || {
        full_read(&readers, &can, ReadOptions::extended(), &trust)
    });
    timed("full read, PACE-CAN, short APDUs (223 B)", || {
        full_read(&readers, &can, ReadOptions::default(), &trust)
    });
    timed("full read, BAC, extended length", || {
        full_read(&readers, &mrz, bac, &trust)
    });
    timed("full read, BAC, short APDUs (223 B)", || {
        full_read(
            &readers,
            &mrz,
            ReadOptions {
                prefer_pace: false,
                ..ReadOptions::default()
            },
            &trust,
        )
    });
    timed("dmrtd: PACE-CAN, same files + AA", || dmrtd_read(&readers));

    stop.store(true, Ordering::Release);
    server.join().unwrap();
}
