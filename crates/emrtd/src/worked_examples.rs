//! ICAO 9303-11 worked examples (testdata/icao9303/worked-examples.toml),
//! reproduced value by value on both the terminal and the chip side.

use crate::access::{AccessKey, MrzKey};
use crate::bac::{self, BacKeys};
use crate::crypto::{CipherAlgorithm, KeyPurpose, pad};
use crate::mrz::{CheckedField, Mrz, MrzError, Validation};
use crate::sm::SecureMessaging;
use crate::testing::{ScriptedRng, Transcript};
use card::{CommandApdu, ResponseApdu};
use sha1::{Digest, Sha1};

pub(crate) struct Example(toml::Table);

pub(crate) fn example(name: &str) -> Example {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/icao9303/worked-examples.toml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let doc: toml::Table = text.parse().unwrap();
    Example(doc[name]["values"].as_table().unwrap().clone())
}

impl Example {
    pub fn hex(&self, key: &str) -> Vec<u8> {
        hex::decode(
            self.0[key]["hex"]
                .as_str()
                .unwrap_or_else(|| panic!("{key} has no hex")),
        )
        .unwrap()
    }
    pub fn ascii(&self, key: &str) -> String {
        self.0[key]["ascii"].as_str().unwrap().to_owned()
    }
    pub fn lines(&self, key: &str) -> String {
        let lines: Vec<&str> = self.0[key]["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        lines.join("\n")
    }
    pub fn computed(&self, key: &str) -> String {
        self.0[key]["computed"].as_str().unwrap().to_owned()
    }
}

#[test]
fn d1_key_derivation_from_kseed() {
    let ex = example("bac_kdf");
    let kseed = ex.hex("kseed");
    for (counter, suffix) in [(KeyPurpose::Encryption, "enc"), (KeyPurpose::Mac, "mac")] {
        let d = [kseed.as_slice(), &(counter as u32).to_be_bytes()].concat();
        assert_eq!(d, ex.hex(&format!("d_{suffix}")));
        let h = Sha1::digest(&d);
        assert_eq!(h.to_vec(), ex.hex(&format!("sha1_d_{suffix}")));
        assert_eq!(h[..8], ex.hex(&format!("ka_unadjusted_{suffix}")));
        assert_eq!(h[8..16], ex.hex(&format!("kb_unadjusted_{suffix}")));
        let key = CipherAlgorithm::Tdes.derive_key(&kseed, counter);
        assert_eq!(key[..8], ex.hex(&format!("ka_{suffix}")));
        assert_eq!(key[8..], ex.hex(&format!("kb_{suffix}")));
    }
}

#[test]
fn d2_all_four_mrzs() {
    let ex = example("bac_mrz");
    for variant in ["td2_long", "td2_short", "td1_long", "td1_short"] {
        let text = ex.lines(&format!("{variant}_mrz"));
        let verified = ex.0[&format!("{variant}_composite_check_digit")]["verified"]
            .as_bool()
            .unwrap();
        let mrz = if verified {
            Mrz::parse(&text).unwrap()
        } else {
            // Spec erratum: the printed composite digit is wrong; a strict
            // parse must say so and name the right digit.
            let printed = ex.ascii(&format!("{variant}_composite_check_digit"));
            assert_eq!(
                Mrz::parse(&text),
                Err(MrzError::CheckDigit {
                    field: CheckedField::Composite,
                    expected: ex
                        .computed(&format!("{variant}_composite_check_digit"))
                        .chars()
                        .next()
                        .unwrap(),
                    found: printed.chars().next().unwrap(),
                })
            );
            Mrz::parse_with(&text, Validation::IgnoreComposite).unwrap()
        };
        let number = ex.ascii(&format!("{variant}_document_number"));
        assert_eq!(
            mrz.document_number,
            number.trim_end_matches('<'),
            "{variant}"
        );
        assert_eq!(
            mrz.date_of_birth.as_str(),
            ex.ascii(&format!("{variant}_date_of_birth"))
        );
        assert_eq!(
            mrz.date_of_expiry.as_str(),
            ex.ascii(&format!("{variant}_date_of_expiry"))
        );
        let info = MrzKey::from(&mrz).mrz_information();
        assert_eq!(
            info.as_str(),
            ex.ascii(&format!("{variant}_mrz_information")),
            "{variant}"
        );
    }
    let key: MrzKey = "L898902C:690806:940623".parse().unwrap();
    assert_eq!(
        Sha1::digest(key.mrz_information().as_bytes()).to_vec(),
        ex.hex("sha1_mrz_information")
    );
    assert_eq!(key.bac_key_seed().to_vec(), ex.hex("kseed"));
    let keys = BacKeys::from_seed(key.bac_key_seed().as_slice());
    assert_eq!(keys.k_enc(), ex.hex("k_enc"));
    assert_eq!(keys.k_mac(), ex.hex("k_mac"));
}

fn d3_key() -> BacKeys {
    let ex = example("bac");
    let key = MrzKey::new(
        &ex.ascii("document_number"),
        &ex.ascii("date_of_birth"),
        &ex.ascii("date_of_expiry"),
    )
    .unwrap();
    assert_eq!(key.mrz_information().as_str(), ex.ascii("mrz_information"));
    let seed = AccessKey::from(key).bac_key_seed().unwrap();
    assert_eq!(seed.to_vec(), ex.hex("kseed"));
    BacKeys::from_seed(seed.as_slice())
}

#[test]
fn d3_bac_terminal_side() {
    let ex = example("bac");
    let keys = d3_key();
    assert_eq!(keys.k_enc(), ex.hex("k_enc"));
    assert_eq!(keys.k_mac(), ex.hex("k_mac"));
    let mut channel = Transcript::new(vec![
        ex.hex("get_challenge_response"),
        ex.hex("external_authenticate_response"),
    ]);
    let mut rng = ScriptedRng::new(&[&ex.hex("rnd_ifd"), &ex.hex("k_ifd")]);
    let sm = bac::authenticate(&mut channel, &keys, &mut rng).unwrap();
    assert_eq!(channel.sent[0], ex.hex("get_challenge_command"));
    assert_eq!(channel.sent[1], ex.hex("external_authenticate_command"));
    assert_eq!(channel.sent[1][5..45], ex.hex("cmd_data"));
    assert_eq!(channel.sent[1][5..37], ex.hex("e_ifd"));
    assert_eq!(channel.sent[1][37..45], ex.hex("m_ifd"));
    let (k_enc, k_mac) = sm.keys();
    assert_eq!(k_enc, ex.hex("ks_enc"));
    assert_eq!(k_mac, ex.hex("ks_mac"));
    assert_eq!(sm.ssc(), ex.hex("ssc"));
    // S and K_seed of the session, recomputed from the same inputs
    let s = [ex.hex("rnd_ifd"), ex.hex("rnd_ic"), ex.hex("k_ifd")].concat();
    assert_eq!(s, ex.hex("s"));
    let seed: Vec<u8> = ex
        .hex("k_ifd")
        .iter()
        .zip(ex.hex("k_ic"))
        .map(|(a, b)| a ^ b)
        .collect();
    assert_eq!(seed, ex.hex("kseed_session"));
}

#[test]
fn d3_bac_chip_side() {
    let ex = example("bac");
    let keys = d3_key();
    let rnd_ic: [u8; 8] = ex.hex("rnd_ic").try_into().unwrap();
    let mut rng = ScriptedRng::new(&[&ex.hex("k_ic")]);
    let (resp, sm) = bac::answer(&keys, &rnd_ic, &ex.hex("cmd_data"), &mut rng)
        .unwrap()
        .unwrap();
    assert_eq!(resp, ex.hex("resp_data"));
    assert_eq!(resp[..32], ex.hex("e_ic"));
    assert_eq!(resp[32..], ex.hex("m_ic"));
    assert_eq!(
        CipherAlgorithm::Tdes
            .decrypt_cbc(keys.k_enc(), &[0; 8], &resp[..32])
            .unwrap()
            .to_vec(),
        ex.hex("r")
    );
    assert_eq!(sm.keys().0, ex.hex("ks_enc"));
    assert_eq!(sm.ssc(), ex.hex("ssc"));
    // a wrong challenge is refused
    let mut rng = ScriptedRng::new(&[]);
    assert!(
        bac::answer(&keys, &[0; 8], &ex.hex("cmd_data"), &mut rng)
            .unwrap()
            .is_none()
    );
}

#[test]
fn d4_secure_messaging_both_sides() {
    let ex = example("secure_messaging");
    let session = || {
        SecureMessaging::new(
            CipherAlgorithm::Tdes,
            zeroize::Zeroizing::new(ex.hex("ks_enc")),
            zeroize::Zeroizing::new(ex.hex("ks_mac")),
            &ex.hex("ssc_initial"),
        )
    };
    let (mut terminal, mut chip) = (session(), session());
    for step in [
        "select_ef_com",
        "read_binary_first_4",
        "read_binary_remaining_18",
    ] {
        let v = |k: &str| ex.hex(&format!("{step}_{k}"));
        let plain = CommandApdu::parse(&v("unprotected_command")).unwrap();
        let parts = terminal.protect_command_parts(&plain).unwrap();
        assert_eq!(terminal.ssc(), v("ssc_command"), "{step}");
        assert_eq!(parts.padded_header, v("cmd_header"), "{step}");
        if step == "select_ef_com" {
            assert_eq!(pad(&plain.data, 8), v("padded_data"));
            assert_eq!(parts.data_object[3..], v("encrypted_data"));
            assert_eq!(parts.data_object, v("do87"));
        } else {
            assert_eq!(parts.le_object, v("do97"), "{step}");
        }
        assert_eq!(
            [
                parts.padded_header.clone(),
                parts.data_object.clone(),
                parts.le_object.clone()
            ]
            .concat(),
            v("m")
        );
        assert_eq!(parts.mac_input, v("n"), "{step}");
        assert_eq!(parts.mac.to_vec(), v("cc"), "{step}");
        let wire = parts.apdu.to_bytes().unwrap();
        assert_eq!(wire, v("protected_command"), "{step}");
        assert!(wire.windows(10).any(|w| w == v("do8e")));

        // chip: opens the command, answers byte for byte as the example
        let opened = chip
            .unprotect_command(&CommandApdu::parse(&wire).unwrap())
            .unwrap();
        assert_eq!(opened, plain);
        let data = if step == "select_ef_com" {
            vec![]
        } else {
            v("decrypted_data")
        };
        let reply = chip
            .protect_response(&ResponseApdu::new(data.clone(), card::StatusWord::SUCCESS))
            .unwrap();
        assert_eq!(reply.to_bytes(), v("response"), "{step}");
        assert_eq!(chip.ssc(), v("ssc_response"));

        // terminal: checks the response MAC over K and decrypts
        let response = ResponseApdu::parse(&v("response")).unwrap();
        let opened = terminal.unprotect_response(&response).unwrap();
        assert_eq!(terminal.ssc(), v("ssc_response"));
        assert_eq!(opened.data, data);
        assert!(opened.sw.is_success());
        let do87 = if step == "select_ef_com" {
            vec![]
        } else {
            v("response_do87")
        };
        let k = pad(
            &[v("ssc_response"), do87, vec![0x99, 0x02, 0x90, 0x00]].concat(),
            8,
        );
        assert_eq!(k, v("k"));
        assert_eq!(
            CipherAlgorithm::Tdes
                .mac_padded(&ex.hex("ks_mac"), &k)
                .unwrap()
                .to_vec(),
            v("cc_response")
        );
    }
    let com = [
        ex.hex("read_binary_first_4_decrypted_data"),
        ex.hex("read_binary_remaining_18_decrypted_data"),
    ]
    .concat();
    assert_eq!(com, ex.hex("ef_com"));
    assert_eq!(crate::tlv::parse_header(&com).unwrap().total_len(), 22);
}

fn g1_key(ex: &Example) -> AccessKey {
    let key = MrzKey::new(
        &ex.ascii("document_number"),
        &ex.ascii("date_of_birth"),
        &ex.ascii("date_of_expiry"),
    )
    .unwrap();
    assert_eq!(key.mrz_information().as_str(), ex.ascii("mrz_information"));
    AccessKey::from(key)
}

#[test]
fn g1_pace_values() {
    use crate::ec::Curve;
    use crate::pace::{self, PaceInfo};
    let ex = example("pace_gm_ecdh");
    let key = g1_key(&ex);
    assert_eq!(key.pace_password().to_vec(), ex.hex("k"));
    let k_pi = pace::password_key(CipherAlgorithm::Aes128, &key);
    assert_eq!(k_pi.to_vec(), ex.hex("k_pi"));
    let infos = PaceInfo::parse_card_access(&ex.hex("ef_card_access")).unwrap();
    assert_eq!(infos.len(), 1);
    let info = infos[0];
    assert_eq!(info.curve, Curve::BrainpoolP256r1);
    assert_eq!(info.protocol.cipher, CipherAlgorithm::Aes128);
    assert_eq!(info.protocol.oid(), ex.hex("protocol_oid"));
    assert_eq!(info.to_der(), ex.hex("pace_info"));
    assert_eq!(PaceInfo::card_access(&infos), ex.hex("ef_card_access"));
    // nonce decryption
    let s = CipherAlgorithm::Aes128
        .decrypt_cbc(&k_pi, &[], &ex.hex("nonce_z"))
        .unwrap();
    assert_eq!(s.to_vec(), ex.hex("nonce_s"));
    // mapping
    let curve = info.curve;
    let g = curve.generator();
    assert_eq!(
        curve
            .mul(&ex.hex("terminal_mapping_private_key"), &g)
            .unwrap(),
        ex.hex("terminal_mapping_public_key")
    );
    assert_eq!(
        curve.mul(&ex.hex("chip_mapping_private_key"), &g).unwrap(),
        ex.hex("chip_mapping_public_key")
    );
    let h = curve
        .mul(
            &ex.hex("terminal_mapping_private_key"),
            &ex.hex("chip_mapping_public_key"),
        )
        .unwrap();
    assert_eq!(h, ex.hex("shared_secret_h"));
    assert_eq!(
        curve
            .mul(
                &ex.hex("chip_mapping_private_key"),
                &ex.hex("terminal_mapping_public_key")
            )
            .unwrap(),
        h
    );
    let mapped = pace::map_generator(curve, &s, &h).unwrap();
    assert_eq!(mapped, ex.hex("mapped_generator"));
    // key agreement
    assert_eq!(
        curve
            .mul(&ex.hex("terminal_ephemeral_private_key"), &mapped)
            .unwrap(),
        ex.hex("terminal_ephemeral_public_key")
    );
    assert_eq!(
        curve
            .mul(&ex.hex("chip_ephemeral_private_key"), &mapped)
            .unwrap(),
        ex.hex("chip_ephemeral_public_key")
    );
    let shared = curve
        .x_coordinate(
            &curve
                .mul(
                    &ex.hex("chip_ephemeral_private_key"),
                    &ex.hex("terminal_ephemeral_public_key"),
                )
                .unwrap(),
        )
        .unwrap();
    assert_eq!(shared, ex.hex("shared_secret_k"));
    let keys = pace::session_keys(CipherAlgorithm::Aes128, &shared);
    assert_eq!(keys.k_enc.to_vec(), ex.hex("ks_enc"));
    assert_eq!(keys.k_mac.to_vec(), ex.hex("ks_mac"));
    // tokens
    assert_eq!(
        pace::public_key_object(info.protocol, &ex.hex("chip_ephemeral_public_key")),
        ex.hex("t_ifd_input")
    );
    assert_eq!(
        pace::public_key_object(info.protocol, &ex.hex("terminal_ephemeral_public_key")),
        ex.hex("t_ic_input")
    );
    assert_eq!(
        pace::token(
            info.protocol,
            &keys.k_mac,
            &ex.hex("chip_ephemeral_public_key")
        )
        .unwrap()
        .to_vec(),
        ex.hex("t_ifd")
    );
    assert_eq!(
        pace::token(
            info.protocol,
            &keys.k_mac,
            &ex.hex("terminal_ephemeral_public_key")
        )
        .unwrap()
        .to_vec(),
        ex.hex("t_ic")
    );
}

#[test]
fn g1_pace_terminal_side() {
    use crate::pace::{PaceInfo, terminal};
    let ex = example("pace_gm_ecdh");
    let key = g1_key(&ex);
    let info = PaceInfo::parse_card_access(&ex.hex("ef_card_access")).unwrap()[0];
    let mut channel = Transcript::new(
        [
            "mse_set_at_response",
            "ga1_response",
            "ga2_response",
            "ga3_response",
            "ga4_response",
        ]
        .map(|k| ex.hex(k))
        .to_vec(),
    );
    let mut rng = ScriptedRng::new(&[
        &ex.hex("terminal_mapping_private_key"),
        &ex.hex("terminal_ephemeral_private_key"),
    ]);
    let sm = terminal::establish(&mut channel, info, &key, &mut rng).unwrap();
    let expected = [
        "mse_set_at_command",
        "ga1_command",
        "ga2_command",
        "ga3_command",
        "ga4_command",
    ]
    .map(|k| ex.hex(k));
    assert_eq!(channel.sent, expected);
    assert_eq!(sm.keys().0, ex.hex("ks_enc"));
    assert_eq!(sm.keys().1, ex.hex("ks_mac"));
    assert_eq!(sm.ssc(), [0u8; 16]);
    // a chip answering with a wrong token is refused
    let mut bad = ex.hex("ga4_response");
    bad[5] ^= 1;
    let mut channel = Transcript::new(vec![
        ex.hex("mse_set_at_response"),
        ex.hex("ga1_response"),
        ex.hex("ga2_response"),
        ex.hex("ga3_response"),
        bad,
    ]);
    let mut rng = ScriptedRng::new(&[
        &ex.hex("terminal_mapping_private_key"),
        &ex.hex("terminal_ephemeral_private_key"),
    ]);
    assert!(matches!(
        terminal::establish(&mut channel, info, &key, &mut rng),
        Err(crate::Error::Pace(crate::pace::PaceError::TokenMismatch))
    ));
}

#[test]
fn g1_pace_chip_side() {
    use crate::pace::PaceInfo;
    use crate::pace::chip::{PaceChip, PaceStep};
    let ex = example("pace_gm_ecdh");
    let key = g1_key(&ex);
    let mut chip = PaceChip::new(PaceInfo::parse_card_access(&ex.hex("ef_card_access")).unwrap());
    let mut rng = ScriptedRng::new(&[
        &ex.hex("nonce_s"),
        &ex.hex("chip_mapping_private_key"),
        &ex.hex("chip_ephemeral_private_key"),
    ]);
    let mse = CommandApdu::parse(&ex.hex("mse_set_at_command")).unwrap();
    chip.set_authentication_template(&mse.data).unwrap();
    for (i, (cmd, resp)) in [
        ("ga1_command", "ga1_response"),
        ("ga2_command", "ga2_response"),
        ("ga3_command", "ga3_response"),
        ("ga4_command", "ga4_response"),
    ]
    .into_iter()
    .enumerate()
    {
        let cmd = CommandApdu::parse(&ex.hex(cmd)).unwrap();
        let expected = ResponseApdu::parse(&ex.hex(resp)).unwrap();
        match chip
            .general_authenticate(&cmd.data, Some(&key), &mut rng)
            .unwrap()
        {
            PaceStep::Continue(data) => {
                assert!(i < 3);
                assert_eq!(data, expected.data, "step {i}");
            }
            PaceStep::Established(data, sm) => {
                assert_eq!(i, 3);
                assert_eq!(data, expected.data);
                assert_eq!(sm.keys().0, ex.hex("ks_enc"));
                assert_eq!(sm.keys().1, ex.hex("ks_mac"));
            }
        }
    }
}

#[test]
fn d3_and_d4_through_the_reader() {
    // The reader opens the chip with BAC and reads EF.COM exactly as
    // appendix D does: same commands, byte for byte.
    use crate::lds::LdsFile;
    use crate::reader::{ReadOptions, Reader};
    let bac = example("bac");
    let sm = example("secure_messaging");
    let mut channel = Transcript::new(vec![
        vec![0x6A, 0x82], // no EF.CardAccess
        vec![0x90, 0x00], // SELECT eMRTD application
        bac.hex("get_challenge_response"),
        bac.hex("external_authenticate_response"),
        sm.hex("select_ef_com_response"),
        sm.hex("read_binary_first_4_response"),
        sm.hex("read_binary_remaining_18_response"),
    ]);
    let mut rng = ScriptedRng::new(&[&bac.hex("rnd_ifd"), &bac.hex("k_ifd")]);
    let key = AccessKey::Mrz("L898902C:690806:940623".parse().unwrap());
    let mut reader = Reader::open(&mut channel, &key, ReadOptions::default(), &mut rng).unwrap();
    let mut progress = Vec::new();
    let com = reader
        .read_file(LdsFile::Com, &mut |p| progress.push((p.read, p.total)))
        .unwrap()
        .unwrap();
    assert_eq!(com, sm.hex("ef_com"));
    assert_eq!(progress, [(4, 22), (22, 22)]);
    let counters = reader.counters();
    assert_eq!((counters.apdus, counters.bytes_read), (7, 22));
    drop(reader);
    assert_eq!(channel.sent[0], [0x00, 0xB0, 0x9C, 0x00, 0x04]);
    assert_eq!(
        channel.sent[1],
        [
            0x00, 0xA4, 0x04, 0x0C, 0x07, 0xA0, 0x00, 0x00, 0x02, 0x47, 0x10, 0x01
        ]
    );
    assert_eq!(channel.sent[2], bac.hex("get_challenge_command"));
    assert_eq!(channel.sent[3], bac.hex("external_authenticate_command"));
    assert_eq!(channel.sent[4], sm.hex("select_ef_com_protected_command"));
    assert_eq!(
        channel.sent[5],
        sm.hex("read_binary_first_4_protected_command")
    );
    assert_eq!(
        channel.sent[6],
        sm.hex("read_binary_remaining_18_protected_command")
    );
}

#[test]
fn f_active_authentication_rsa_iso9796_2_sha1() {
    use crate::aa::{iso9796_2_recover, iso9796_2_representative};
    use crate::keys::HashAlgorithm;
    let ex = example("active_authentication");
    let rnd = ex.hex("rnd_ifd");
    let command = CommandApdu::new(0x00, 0x88, 0x00, 0x00)
        .with_data(rnd.clone())
        .with_le(256);
    assert_eq!(
        command.to_bytes().unwrap(),
        ex.hex("internal_authenticate_command")
    );
    assert_eq!(ex.hex("m2"), rnd);
    let m1 = ex.hex("m1");
    let k_bytes = ex.0["modulus_bits"]["int"].as_integer().unwrap() as usize / 8;
    let c_bits = ex.0["c_bits"]["int"].as_integer().unwrap() as usize;
    assert_eq!(k_bytes * 8 - 160 - 8 - 4, c_bits);
    assert_eq!(m1.len() * 8, c_bits - 4);
    assert_eq!(
        m1.len() * 8,
        ex.0["lm1_bits"]["int"].as_integer().unwrap() as usize
    );
    assert_eq!([m1.as_slice(), &rnd].concat(), ex.hex("m"));
    assert_eq!(Sha1::digest(ex.hex("m")).to_vec(), ex.hex("h"));
    let f = iso9796_2_representative(&m1, &rnd, HashAlgorithm::Sha1);
    assert_eq!(f, ex.hex("f"));
    assert_eq!(f.len(), k_bytes);
    assert_eq!(f[f.len() - 1..], ex.hex("trailer_t"));
    // the terminal's steps on the recovered F
    let (hash, recovered_m1) = iso9796_2_recover(&ex.hex("f_recovered"), &rnd).unwrap();
    assert_eq!(hash, HashAlgorithm::Sha1);
    assert_eq!(recovered_m1, ex.hex("m1_recovered"));
    assert_eq!([recovered_m1.as_slice(), &rnd].concat(), ex.hex("m_star"));
    assert_eq!(Sha1::digest(ex.hex("m_star")).to_vec(), ex.hex("d_star"));
    assert_eq!(f[f.len() - 21..f.len() - 1], ex.hex("d"));
    // another challenge does not match the signed digest
    assert!(iso9796_2_recover(&f, &[0u8; 8]).is_err());
}
