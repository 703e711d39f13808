//! Specimen documents: built, written, served by the virtual chip from the
//! directory, read back with BAC and PACE, and checked with independent
//! verifiers (the RustCrypto CMS, X.509, RSA and ECDSA crates).

#![allow(clippy::unwrap_used, clippy::expect_used)] // shared test functions live outside #[test] fns

use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::{Decode, Encode};
use emrtd::access::{AccessKey, Can, MrzKey};
use emrtd::chip::{ChipConfig, Loopback, Profile, VirtualChip};
use emrtd::crypto::CipherAlgorithm;
use emrtd::ec::Curve;
use emrtd::keys::PrivateKey;
use emrtd::lds::{AdditionalDocumentDetails, LdsFile, parse_dg1, parse_dg12};
use emrtd::mrz::DocumentType;
use emrtd::portrait::{ImageFormat, Portrait};
use emrtd::reader::{ReadOptions, Reader};
use emrtd::specimen::{
    AaKeyKind, AccessOptions, MrzData, SodSignature, Specimen, SpecimenOptions, pace_info,
};
use emrtd::{AccessMethod, Verdict};
use rand_core::OsRng;
use sha2::{Digest, Sha256};
use signature::Verifier;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;
use x509_cert::Certificate;

fn jpeg() -> Vec<u8> {
    let mut jpeg = vec![
        0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0x01, 0x40, 0x00, 0xF0, 0x03,
    ];
    jpeg.extend((0..3000u32).map(|i| (i * 13 % 256) as u8));
    jpeg.extend([0xFF, 0xD9]);
    jpeg
}

fn options(kind: DocumentType, signature: SodSignature, aa: AaKeyKind) -> SpecimenOptions {
    SpecimenOptions {
        mrz: MrzData {
            document_type: kind,
            issuing_state: "CHN".into(),
            surname: "ZHANG".into(),
            given_names: "XIAO MING".into(),
            document_number: "E12345678".into(),
            nationality: "CHN".into(),
            date_of_birth: "900115".into(),
            sex: 'M',
            date_of_expiry: "330601".into(),
            optional_data: String::new(),
        },
        portrait: Portrait::new(ImageFormat::Jpeg, jpeg()),
        national_name: Some("张小明".into()),
        additional_details: Some(AdditionalDocumentDetails {
            issuing_authority: Some("公安部出入境管理局".into()),
            date_of_issue: Some("20230601".into()),
            personalization_time: Some("20230530101500".into()),
            ..AdditionalDocumentDetails::default()
        }),
        access: AccessOptions {
            bac: true,
            pace: Some(pace_info(Curve::BrainpoolP256r1, CipherAlgorithm::Aes128)),
            can: Some(Can::new("123456").unwrap()),
        },
        active_authentication: Some(aa),
        chip_authentication: Some((Curve::BrainpoolP256r1, CipherAlgorithm::Aes128)),
        signature,
        lds_hash: emrtd::keys::HashAlgorithm::Sha256,
        revoked_document_signer: false,
    }
}

/// Built once per variant: RSA key generation is slow in debug builds.
fn passport_pss() -> &'static Specimen {
    static S: OnceLock<Specimen> = OnceLock::new();
    S.get_or_init(|| {
        Specimen::build(
            &options(DocumentType::Td3, SodSignature::RsaPss, AaKeyKind::Rsa2048),
            &mut OsRng,
        )
        .unwrap()
    })
}

fn id_card_ecdsa() -> &'static Specimen {
    static S: OnceLock<Specimen> = OnceLock::new();
    S.get_or_init(|| {
        Specimen::build(
            &options(
                DocumentType::Td1,
                SodSignature::EcdsaP256,
                AaKeyKind::EcdsaP256,
            ),
            &mut OsRng,
        )
        .unwrap()
    })
}

fn read(
    dir: &Path,
    key: &AccessKey,
    prefer_pace: bool,
) -> (
    AccessMethod,
    BTreeMap<LdsFile, Vec<u8>>,
    emrtd::ChipVerification,
) {
    let profile = Profile::load_dir(dir).unwrap();
    let chip = VirtualChip::new(ChipConfig::from_profile(profile).unwrap());
    let mut channel = Loopback(chip);
    let options = ReadOptions {
        prefer_pace,
        ..ReadOptions::default()
    };
    let mut reader = Reader::open(&mut channel, key, options, &mut OsRng).unwrap();
    let files = reader.read_document(&mut |_| {}).unwrap();
    let verification = reader.verify_chip(&files, &mut OsRng).unwrap();
    (reader.access(), files, verification)
}

fn id_card_brainpool() -> &'static Specimen {
    static S: OnceLock<Specimen> = OnceLock::new();
    S.get_or_init(|| {
        Specimen::build(
            &options(
                DocumentType::Td1,
                SodSignature::EcdsaBrainpoolP256r1,
                AaKeyKind::EcdsaP256,
            ),
            &mut OsRng,
        )
        .unwrap()
    })
}

fn mrz_key() -> AccessKey {
    AccessKey::Mrz(MrzKey::new("E12345678", "900115", "330601").unwrap())
}

#[test]
fn written_specimens_read_back_with_bac_and_pace() {
    for specimen in [passport_pss(), id_card_ecdsa()] {
        let dir = tempfile::tempdir().unwrap();
        specimen.write_dir(dir.path()).unwrap();
        for name in [
            "COM",
            "DG1",
            "DG2",
            "DG11",
            "DG12",
            "DG14",
            "DG15",
            "SOD",
            "CardAccess",
            "csca.der",
            "dsc.der",
            "masterlist.ml",
            "csca.crl",
            "aa-key.der",
            "ca-key.der",
            "profile.toml",
        ] {
            assert!(dir.path().join(name).is_file(), "{name}");
        }
        let can = AccessKey::Can(Can::new("123456").unwrap());
        for (key, prefer_pace, access) in [
            (mrz_key(), false, "BAC"),
            (mrz_key(), true, "PACE-ECDH-GM-AES-128"),
            (can, true, "PACE-ECDH-GM-AES-128"),
        ] {
            let (method, files, verification) = read(dir.path(), &key, prefer_pace);
            assert_eq!(method.name(), access);
            let expected: BTreeMap<LdsFile, Vec<u8>> = specimen
                .profile
                .files()
                .filter(|(f, _)| prefer_pace || *f != LdsFile::CardAccess)
                .map(|(f, b)| (f, b.to_vec()))
                .collect();
            assert_eq!(files, expected);
            let mrz = parse_dg1(&files[&LdsFile::Dg(1)]).unwrap();
            assert_eq!(mrz, specimen.mrz);
            assert_eq!(mrz.document_number, "E12345678");
            assert_eq!(mrz.primary_identifier, "ZHANG");
            assert_eq!(mrz.secondary_identifier, "XIAO MING");
            let portrait = Portrait::parse_dg2(&files[&LdsFile::Dg(2)]).unwrap();
            assert_eq!(portrait.image, jpeg());
            assert_eq!(
                (portrait.format, portrait.width, portrait.height),
                (ImageFormat::Jpeg, 240, 320)
            );
            let dg11 = &files[&LdsFile::Dg(11)];
            assert!(dg11.windows(9).any(|w| w == "张小明".as_bytes()));
            // DG12 is listed in EF.COM, read and parsed.
            let dg12 = parse_dg12(&files[&LdsFile::Dg(12)]).unwrap();
            assert_eq!(
                dg12.issuing_authority.as_deref(),
                Some("公安部出入境管理局")
            );
            assert_eq!(dg12.date_of_issue.as_deref(), Some("20230601"));
            assert_eq!(dg12.personalization_time.as_deref(), Some("20230530101500"));
            assert_eq!(
                verification.active.verdict,
                Verdict::Valid,
                "{verification:?}"
            );
            assert_eq!(
                verification.chip.verdict,
                Verdict::Valid,
                "{verification:?}"
            );
        }
    }
    let td1 = &id_card_ecdsa().mrz_text;
    assert_eq!(td1.lines().count(), 3);
    assert!(td1.starts_with("I<CHNE12345678"), "{td1}");
}

#[test]
fn a_cloned_specimen_fails_active_and_chip_authentication() {
    let dir = tempfile::tempdir().unwrap();
    id_card_ecdsa().write_dir(dir.path()).unwrap();
    // DG14/DG15 keep the original public keys; the chip holds others.
    for (file, curve) in [
        ("aa-key.der", Curve::NistP256),
        ("ca-key.der", Curve::BrainpoolP256r1),
    ] {
        let other = PrivateKey::generate_ec(curve, &mut OsRng);
        std::fs::write(
            dir.path().join(file),
            other.to_pkcs8_der().unwrap().as_slice(),
        )
        .unwrap();
    }
    let (_, _, verification) = read(dir.path(), &mrz_key(), true);
    assert_eq!(verification.active.verdict, Verdict::Invalid);
    assert_eq!(verification.chip.verdict, Verdict::Invalid);
}

fn signed_data(sod: &[u8]) -> SignedData {
    let content = emrtd::tlv::expect(sod, 0x77).unwrap().value;
    let info = ContentInfo::from_der(content).unwrap();
    assert_eq!(info.content_type, const_oid::db::rfc5911::ID_SIGNED_DATA);
    info.content.decode_as::<SignedData>().unwrap()
}

fn verify_with(spki_holder: &Certificate, message: &[u8], signature: &[u8]) {
    let spki = spki_holder
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .unwrap();
    if let Ok(key) =
        <p256::ecdsa::VerifyingKey as spki::DecodePublicKey>::from_public_key_der(&spki)
    {
        let sig = p256::ecdsa::DerSignature::try_from(signature).unwrap();
        key.verify(message, &sig).unwrap();
    } else {
        let key = <rsa::RsaPublicKey as spki::DecodePublicKey>::from_public_key_der(&spki).unwrap();
        let key = rsa::pss::VerifyingKey::<Sha256>::new(key);
        let sig = rsa::pss::Signature::try_from(signature).unwrap();
        key.verify(message, &sig).unwrap();
    }
}

#[test]
fn the_sod_and_certificates_verify_independently() {
    for specimen in [passport_pss(), id_card_ecdsa()] {
        let sd = signed_data(specimen.profile.get(LdsFile::Sod).unwrap());
        let econtent = sd.encap_content_info.econtent.as_ref().unwrap();
        assert_eq!(
            sd.encap_content_info.econtent_type.to_string(),
            "2.23.136.1.1.1"
        );
        // LDSSecurityObject: version, SHA-256, then the DG hashes
        let lso = emrtd::tlv::expect(econtent.value(), 0x30).unwrap();
        let mut fields = lso.children();
        assert_eq!(fields.next().unwrap().unwrap().value, [0]);
        let alg = fields.next().unwrap().unwrap();
        assert!(
            alg.value
                .windows(9)
                .any(|w| w == [0x60, 0x86, 0x48, 1, 0x65, 3, 4, 2, 1])
        );
        let mut hashed = Vec::new();
        for entry in fields.next().unwrap().unwrap().children() {
            let entry = entry.unwrap();
            let mut e = entry.children();
            let n = e.next().unwrap().unwrap().value[0];
            let hash = e.next().unwrap().unwrap().value.to_vec();
            let file = specimen.profile.get(LdsFile::Dg(n)).unwrap();
            assert_eq!(hash, Sha256::digest(file).to_vec(), "DG{n}");
            hashed.push(n);
        }
        assert_eq!(hashed, [1, 2, 11, 12, 14, 15]);

        // the signer info: messageDigest over eContent, signature by the DSC
        let dsc = Certificate::from_der(&specimen.dsc).unwrap();
        let csca = Certificate::from_der(&specimen.csca).unwrap();
        let certs: Vec<_> = sd.certificates.as_ref().unwrap().0.iter().collect();
        assert_eq!(certs.len(), 1);
        let signer = sd.signer_infos.0.iter().next().unwrap();
        let attrs = signer.signed_attrs.as_ref().unwrap();
        let digest = attrs
            .iter()
            .find(|a| a.oid == const_oid::db::rfc5911::ID_MESSAGE_DIGEST)
            .unwrap();
        let digest = digest.values.iter().next().unwrap().value().to_vec();
        assert_eq!(digest, Sha256::digest(econtent.value()).to_vec());
        verify_with(&dsc, &attrs.to_der().unwrap(), signer.signature.as_bytes());
        let mut tampered = attrs.to_der().unwrap();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(
            std::panic::catch_unwind(|| verify_with(&dsc, &tampered, signer.signature.as_bytes()))
                .is_err()
        );

        // the DSC and the master list signer are issued by the CSCA
        assert_eq!(dsc.tbs_certificate.issuer, csca.tbs_certificate.subject);
        verify_with(
            &csca,
            &dsc.tbs_certificate.to_der().unwrap(),
            dsc.signature.as_bytes().unwrap(),
        );
        verify_with(
            &csca,
            &csca.tbs_certificate.to_der().unwrap(),
            csca.signature.as_bytes().unwrap(),
        );
        let ml = ContentInfo::from_der(&specimen.master_list)
            .unwrap()
            .content
            .decode_as::<SignedData>()
            .unwrap();
        assert_eq!(
            ml.encap_content_info.econtent_type.to_string(),
            "2.23.136.1.1.2"
        );
        let ml_signer_cert = match ml.certificates.as_ref().unwrap().0.iter().next().unwrap() {
            cms::cert::CertificateChoices::Certificate(c) => c.clone(),
            _ => panic!("not a certificate"),
        };
        verify_with(
            &csca,
            &ml_signer_cert.tbs_certificate.to_der().unwrap(),
            ml_signer_cert.signature.as_bytes().unwrap(),
        );
        let list = ml
            .encap_content_info
            .econtent
            .as_ref()
            .unwrap()
            .value()
            .to_vec();
        assert!(
            list.windows(specimen.csca.len())
                .any(|w| w == specimen.csca)
        );
    }
}

mod passive_authentication {
    use super::*;
    use emrtd::passive::{self, Sod, TrustStore};
    use std::time::{Duration, SystemTime};

    fn files(specimen: &Specimen) -> BTreeMap<LdsFile, Vec<u8>> {
        specimen
            .profile
            .files()
            .map(|(f, b)| (f, b.to_vec()))
            .collect()
    }

    fn trust(specimen: &Specimen) -> TrustStore {
        let mut store = TrustStore::new();
        store.add_der(&specimen.csca).unwrap();
        store
    }

    #[test]
    fn genuine_documents_are_valid_against_certificates_and_master_lists() {
        let now = SystemTime::now();
        for specimen in [passport_pss(), id_card_ecdsa(), id_card_brainpool()] {
            let result = passive::verify(&files(specimen), &trust(specimen), now);
            assert_eq!(result.verdict, Verdict::Valid, "{result:?}");
            // a trust store directory with the master list only, and with PEM
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("list.ml"), &specimen.master_list).unwrap();
            let store = TrustStore::load_dir(dir.path()).unwrap();
            assert_eq!(store.len(), 1);
            assert_eq!(
                passive::verify(&files(specimen), &store, now).verdict,
                Verdict::Valid
            );
            let pem = format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                <base64ct::Base64 as base64ct::Encoding>::encode_string(&specimen.csca)
            );
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("csca.pem"), pem).unwrap();
            std::fs::write(dir.path().join("readme.txt"), "ignored").unwrap();
            let store = TrustStore::load_dir(dir.path()).unwrap();
            assert_eq!(
                passive::verify(&files(specimen), &store, now).verdict,
                Verdict::Valid
            );
        }
        let result = passive::verify(&files(passport_pss()), &trust(passport_pss()), now);
        assert_eq!(result.algorithm.as_deref(), Some("RSA-2048 PSS SHA-256"));
        let result = passive::verify(&files(id_card_ecdsa()), &trust(id_card_ecdsa()), now);
        assert_eq!(result.algorithm.as_deref(), Some("ECDSA P-256 SHA-256"));
        let brainpool = id_card_brainpool();
        let result = passive::verify(&files(brainpool), &trust(brainpool), now);
        assert_eq!(
            result.algorithm.as_deref(),
            Some("ECDSA brainpoolP256r1 SHA-256")
        );
        // the brainpool chain parses with the RustCrypto X.509 crate too
        let csca = Certificate::from_der(&brainpool.csca).unwrap();
        let dsc = Certificate::from_der(&brainpool.dsc).unwrap();
        assert_eq!(dsc.tbs_certificate.issuer, csca.tbs_certificate.subject);
    }

    #[test]
    fn tampering_and_strangers_are_caught() {
        let now = SystemTime::now();
        let specimen = id_card_ecdsa();
        // a changed data group
        let mut changed = files(specimen);
        changed.get_mut(&LdsFile::Dg(2)).unwrap()[40] ^= 1;
        let result = passive::verify(&changed, &trust(specimen), now);
        assert_eq!(result.verdict, Verdict::Invalid);
        assert!(result.reason.contains("DG2"), "{}", result.reason);
        // a changed signature (the last bytes of EF.SOD)
        let mut forged = files(specimen);
        let sod = forged.get_mut(&LdsFile::Sod).unwrap();
        let last = sod.len() - 3;
        sod[last] ^= 1;
        let result = passive::verify(&forged, &trust(specimen), now);
        assert_eq!(result.verdict, Verdict::Invalid);
        assert!(result.reason.contains("signature"), "{}", result.reason);
        // another country's CSCA, or none
        let result = passive::verify(&files(specimen), &trust(passport_pss()), now);
        assert_eq!(result.verdict, Verdict::Untrusted, "{result:?}");
        let result = passive::verify(&files(specimen), &TrustStore::new(), now);
        assert_eq!(result.verdict, Verdict::Untrusted);
        // long after the certificates expired
        let later = now + Duration::from_secs(20 * 365 * 86_400);
        let result = passive::verify(&files(specimen), &trust(specimen), later);
        assert_eq!(result.verdict, Verdict::Invalid);
        assert!(result.reason.contains("not valid"), "{}", result.reason);
        // no SOD
        let mut none = files(specimen);
        none.remove(&LdsFile::Sod);
        let result = passive::verify(&none, &trust(specimen), now);
        assert_eq!(result.verdict, Verdict::NotSupported);
    }

    #[test]
    fn a_document_signer_on_its_cscas_crl_is_revoked_and_forged_crls_are_ignored() {
        let now = SystemTime::now();
        let revoked = Specimen::build(
            &SpecimenOptions {
                revoked_document_signer: true,
                ..options(
                    DocumentType::Td1,
                    SodSignature::EcdsaP256,
                    AaKeyKind::EcdsaP256,
                )
            },
            &mut OsRng,
        )
        .unwrap();
        // the CRL parses with the RustCrypto X.509 crate and lists the DSC
        let crl = x509_cert::crl::CertificateList::from_der(&revoked.crl).unwrap();
        let dsc = Certificate::from_der(&revoked.dsc).unwrap();
        let listed = crl.tbs_cert_list.revoked_certificates.clone().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].serial_number, dsc.tbs_certificate.serial_number);

        // CSCA and CRL in one directory, the CRL as DER and as PEM
        let pem = format!(
            "-----BEGIN X509 CRL-----\n{}\n-----END X509 CRL-----\n",
            <base64ct::Base64 as base64ct::Encoding>::encode_string(&revoked.crl)
        );
        for (name, bytes) in [
            ("csca.crl", revoked.crl.clone()),
            ("list.pem", pem.into_bytes()),
        ] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("csca.der"), &revoked.csca).unwrap();
            std::fs::write(dir.path().join(name), bytes).unwrap();
            let store = TrustStore::load_dir(dir.path()).unwrap();
            assert_eq!((store.len(), store.crl_count()), (1, 1));
            let result = passive::verify(&files(&revoked), &store, now);
            assert_eq!(result.verdict, Verdict::Invalid, "{result:?}");
            assert!(result.reason.contains("revoked"), "{}", result.reason);
        }

        // the same CRL with a broken signature revokes nothing: ignored,
        // with a warning
        let mut forged = revoked.crl.clone();
        let last = forged.len() - 2;
        forged[last] ^= 0x01;
        let mut store = trust(&revoked);
        store.add_crl(&forged).unwrap();
        let result = passive::verify(&files(&revoked), &store, now);
        assert_eq!(result.verdict, Verdict::Valid, "{result:?}");
        assert_eq!(result.warnings.len(), 1, "{result:?}");
        assert!(result.warnings[0].contains("ignored"), "{result:?}");
        // a genuine empty CRL of the CSCA is checked and revokes nothing
        let genuine = id_card_ecdsa();
        let mut store = trust(genuine);
        store.add_crl(&genuine.crl).unwrap();
        // another CSCA's CRL under the same name (both are CN=Specimen
        // CSCA, C=CH), even one listing serial 2, is not this CSCA's word
        store.add_crl(&revoked.crl).unwrap();
        let result = passive::verify(&files(genuine), &store, now);
        assert_eq!(result.verdict, Verdict::Valid, "{result:?}");
        assert!(result.reason.contains("1 checked"), "{}", result.reason);
        assert_eq!(result.warnings.len(), 1, "{result:?}");
        // and malformed CRL bytes make the trust store unreadable
        assert!(store.add_crl(&revoked.crl[..40]).is_err());
    }

    #[test]
    fn sods_parse_with_or_without_tag_in_der_and_ber() {
        let sod = passport_pss().profile.get(LdsFile::Sod).unwrap();
        let tagged = Sod::parse(sod).unwrap();
        assert_eq!(
            tagged.hashes.keys().copied().collect::<Vec<_>>(),
            [1, 2, 11, 12, 14, 15]
        );
        let bare = emrtd::tlv::expect(sod, 0x77).unwrap().value;
        assert_eq!(Sod::parse(bare).unwrap().hashes, tagged.hashes);
        // the same ContentInfo with an indefinite outer length
        let inner = emrtd::tlv::expect(bare, 0x30).unwrap().value;
        let ber = [&[0x30, 0x80][..], inner, &[0, 0]].concat();
        assert_eq!(passive::ber_to_der(&ber).unwrap(), bare);
        assert_eq!(Sod::parse(&ber).unwrap().hashes, tagged.hashes);
        assert!(Sod::parse(&[0x77, 0x02, 0x30, 0x00]).is_err());
        assert!(passive::ber_to_der(&[0x30, 0x80, 0x02, 0x01]).is_err());
    }
}
