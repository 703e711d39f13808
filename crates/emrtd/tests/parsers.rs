//! Parsers of outside data never panic, and encoders round-trip.

#![allow(clippy::unwrap_used, clippy::expect_used)] // shared test functions live outside #[test] fns

use emrtd::{Mrz, MrzKey, tlv};
use proptest::prelude::*;

proptest! {
    #[test]
    fn tlv_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = tlv::validate(&bytes);
        let _ = tlv::parse_header(&bytes);
        for object in tlv::Objects::new(&bytes) {
            match object {
                Ok(object) => prop_assert!(object.value.len() <= bytes.len()),
                Err(_) => break,
            }
        }
        let _ = emrtd::pace::PaceInfo::parse_card_access(&bytes);
        let _ = emrtd::lds::parse_dg1(&bytes);
        let _ = emrtd::lds::parse_com(&bytes);
        let _ = emrtd::lds::parse_dg12(&bytes);
        let mut trust = emrtd::passive::TrustStore::new();
        let _ = trust.add_crl(&bytes);
        let _ = trust.add_pem(&String::from_utf8_lossy(&bytes));
        let _ = card::atr::extended_length(&bytes);
    }

    #[test]
    fn dg12_round_trips(authority in "\\PC{0,80}", date in "[0-9]{8}", persons in prop::collection::vec("[A-Z<]{1,39}", 0..4)) {
        let details = emrtd::lds::AdditionalDocumentDetails {
            issuing_authority: Some(authority),
            date_of_issue: Some(date),
            other_persons: persons,
            ..Default::default()
        };
        let encoded = emrtd::lds::encode_dg12(&details);
        prop_assert_eq!(emrtd::lds::parse_dg12(&encoded).unwrap(), details);
    }

    #[test]
    fn tlv_round_trips(tag in prop::sample::select(vec![0x04u32, 0x30, 0x5C, 0x7C, 0x87, 0x5F1F, 0x7F49, 0x7F61]),
                       value in prop::collection::vec(any::<u8>(), 0..2000)) {
        let encoded = tlv::encode(tag, &value);
        let (object, rest) = tlv::parse(&encoded).unwrap();
        prop_assert_eq!(object.tag, tag);
        prop_assert_eq!(object.value, &value[..]);
        prop_assert!(rest.is_empty());
        let header = tlv::parse_header(&encoded).unwrap();
        prop_assert_eq!(header.total_len(), encoded.len());
    }

    #[test]
    fn mrz_never_panics(text in "[A-Z0-9<\n]{0,100}") {
        let _ = Mrz::parse(&text);
        let _ = text.parse::<MrzKey>();
    }

    #[test]
    fn mrz_never_panics_on_any_text(text in any::<String>()) {
        let _ = Mrz::parse(&text);
        let _ = text.parse::<MrzKey>();
    }

    #[test]
    fn a_valid_mrz_rejects_any_changed_digit(position in 0usize..44) {
        let text = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10";
        let line2: Vec<char> = text.lines().nth(1).unwrap().chars().collect();
        // every digit in the second line is covered by some check digit
        prop_assume!(line2[position].is_ascii_digit());
        let mut changed = line2.clone();
        changed[position] = if line2[position] == '9' { '8' } else { char::from(line2[position] as u8 + 1) };
        let changed: String = changed.into_iter().collect();
        let mutated = format!("{}\n{}", text.lines().next().unwrap(), changed);
        prop_assert!(Mrz::parse(&mutated).is_err());
    }
}

/// A small specimen (no RSA keys), built once.
fn specimen() -> &'static emrtd::specimen::Specimen {
    use emrtd::specimen::*;
    static S: std::sync::OnceLock<Specimen> = std::sync::OnceLock::new();
    S.get_or_init(|| Specimen::build(&options(), &mut rand_core::OsRng).unwrap())
}

fn options() -> emrtd::specimen::SpecimenOptions {
    use emrtd::specimen::*;
    {
        SpecimenOptions {
            mrz: MrzData {
                document_type: emrtd::DocumentType::Td3,
                issuing_state: "UTO".into(),
                surname: "ERIKSSON".into(),
                given_names: "ANNA MARIA".into(),
                document_number: "L898902C3".into(),
                nationality: "UTO".into(),
                date_of_birth: "740812".into(),
                sex: 'F',
                date_of_expiry: "320415".into(),
                optional_data: "ZE184226B".into(),
            },
            portrait: emrtd::portrait::Portrait::new(
                emrtd::portrait::ImageFormat::Jpeg2000,
                // SOC, SIZ: Lsiz, Rsiz, Xsiz 100, Ysiz 120, XOsiz 0, YOsiz 0
                [
                    &[0xFF, 0x4F, 0xFF, 0x51, 0, 0x29, 0, 0][..],
                    &[0, 0, 0, 100, 0, 0, 0, 120],
                    &[0; 8],
                ]
                .concat(),
            ),
            national_name: None,
            additional_details: None,
            access: AccessOptions::default(),
            active_authentication: Some(AaKeyKind::EcdsaP256),
            chip_authentication: Some((
                emrtd::ec::Curve::NistP256,
                emrtd::crypto::CipherAlgorithm::Tdes,
            )),
            signature: SodSignature::EcdsaP256,
            lds_hash: emrtd::keys::HashAlgorithm::Sha1,
            revoked_document_signer: false,
        }
    }
}

#[test]
fn specimen_mrz_is_strictly_valid() {
    let s = specimen();
    // the optional data carries its own check digit on a TD3
    assert_eq!(s.mrz.optional_data, "ZE184226B");
    assert_eq!(Mrz::parse(&s.mrz_text).unwrap(), s.mrz);
    let portrait =
        emrtd::portrait::Portrait::parse_dg2(s.profile.get(emrtd::LdsFile::Dg(2)).unwrap())
            .unwrap();
    assert_eq!(portrait.format, emrtd::portrait::ImageFormat::Jpeg2000);
    assert_eq!((portrait.width, portrait.height), (100, 120));
}

#[test]
fn passive_authentication_takes_every_lds_hash() {
    use emrtd::keys::HashAlgorithm;
    let base = specimen();
    let mut trust = emrtd::passive::TrustStore::new();
    trust.add_der(&base.csca).unwrap();
    let files = |s: &emrtd::specimen::Specimen| {
        s.profile
            .files()
            .map(|(f, b)| (f, b.to_vec()))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let now = std::time::SystemTime::now();
    let sod = emrtd::passive::Sod::parse(base.profile.get(emrtd::LdsFile::Sod).unwrap()).unwrap();
    assert_eq!(sod.hash, HashAlgorithm::Sha1);
    assert_eq!(sod.hashes[&1].len(), 20);
    let result = emrtd::passive::verify(&files(base), &trust, now);
    assert_eq!(result.verdict, emrtd::Verdict::Valid, "{result:?}");
    for hash in [
        HashAlgorithm::Sha224,
        HashAlgorithm::Sha384,
        HashAlgorithm::Sha512,
    ] {
        let options = emrtd::specimen::SpecimenOptions {
            lds_hash: hash,
            active_authentication: None,
            chip_authentication: None,
            ..options()
        };
        let s = emrtd::specimen::Specimen::build(&options, &mut rand_core::OsRng).unwrap();
        let sod = emrtd::passive::Sod::parse(s.profile.get(emrtd::LdsFile::Sod).unwrap()).unwrap();
        assert_eq!((sod.hash, sod.hashes[&2].len()), (hash, hash.output_len()));
        let mut trust = emrtd::passive::TrustStore::new();
        trust.add_der(&s.csca).unwrap();
        let result = emrtd::passive::verify(&files(&s), &trust, now);
        assert_eq!(result.verdict, emrtd::Verdict::Valid, "{result:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn security_parsers_never_panic_on_damaged_files(
        file in 0usize..5,
        at in any::<prop::sample::Index>(),
        value in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        use emrtd::LdsFile;
        let s = specimen();
        if file == 4 {
            // The CSCA's CRL, damaged: unreadable, or read and not trusted.
            let mut crl = s.crl.clone();
            let i = at.index(crl.len());
            crl[i] = value;
            let mut trust = emrtd::passive::TrustStore::new();
            trust.add_der(&s.csca).unwrap();
            if trust.add_crl(&crl[..cut.index(crl.len() + 1)]).is_ok() {
                let files: std::collections::BTreeMap<_, _> =
                    s.profile.files().map(|(f, b)| (f, b.to_vec())).collect();
                let result = emrtd::passive::verify(&files, &trust, std::time::SystemTime::now());
                // an empty CRL, damaged, never revokes
                prop_assert_eq!(result.verdict, emrtd::Verdict::Valid);
            }
            return Ok(());
        }
        let name = [LdsFile::Sod, LdsFile::Dg(14), LdsFile::Dg(15), LdsFile::Dg(2)][file];
        let original = s.profile.get(name).unwrap();
        let mut bytes = original.to_vec();
        let i = at.index(bytes.len());
        bytes[i] = value;
        let truncated = &bytes[..cut.index(bytes.len() + 1)];
        for candidate in [&bytes[..], truncated] {
            let _ = emrtd::passive::Sod::parse(candidate);
            let _ = emrtd::passive::ber_to_der(candidate);
            let _ = emrtd::security_info::SecurityInfos::parse(candidate);
            let _ = emrtd::keys::PublicKey::from_spki(candidate);
            let _ = emrtd::keys::PrivateKey::from_pkcs8_der(candidate);
            let _ = emrtd::portrait::Portrait::parse_dg2(candidate);
            let mut trust = emrtd::passive::TrustStore::new();
            let _ = trust.add_master_list(candidate);
            let _ = trust.add_der(candidate);
            let _ = trust.add_crl(candidate);
        }
        let mut files: std::collections::BTreeMap<_, _> =
            s.profile.files().map(|(f, b)| (f, b.to_vec())).collect();
        files.insert(name, bytes.clone());
        let mut trust = emrtd::passive::TrustStore::new();
        trust.add_der(&s.csca).unwrap();
        let result = emrtd::passive::verify(&files, &trust, std::time::SystemTime::now());
        if name != LdsFile::Sod && bytes != original {
            // a changed data group never passes
            prop_assert_eq!(result.verdict, emrtd::Verdict::Invalid);
        }
    }
}
