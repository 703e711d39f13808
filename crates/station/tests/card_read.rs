//! `station card specimen` → `station card simulate` (vpcd in the real pcscd)
//! → `station card read` through PC/SC: access with MRZ and CAN, TD1 and
//! TD3, Passive, Active and Chip Authentication, forged data, wrong keys,
//! a card pulled mid-session, the shipped demo document, readers and chips
//! that refuse large reads, per-file progress, DG12, and revoked Document
//! Signers on the CSCA's CRL.

// In tests a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::{
    READER, Simulator, copy_files, lock_reader, read, read_with_stderr, specimen, station_fails,
    trust_store,
};
use testbed::Service;

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn verdict(report: &Value, check: &str) -> String {
    report["verification"][check]["verdict"]
        .as_str()
        .unwrap_or_else(|| panic!("no {check} verdict: {report:#}"))
        .to_owned()
}

fn read_ok(data_dir: &Path, extra: &[&str]) -> Value {
    let (code, report) = read(data_dir, extra);
    assert_eq!(code, 0, "{report:#}");
    report
}

#[test]
fn bac_passport_read_with_mrz_verifies_and_saves_the_portrait() {
    if !testbed::require(Service::Pcscd) {
        return;
    }
    let _reader = lock_reader();
    let tmp = tempfile::tempdir().unwrap();
    let doc = tmp.path().join("doc");
    let made = specimen(
        &doc,
        &[
            "--access",
            "bac",
            "--doc-type",
            "td3",
            "--aa",
            "rsa",
            "--signature",
            "rsa-pss",
            "--surname",
            "Eriksson",
            "--given-names",
            "Anna Maria",
            "--birth",
            "740812",
            "--expiry",
            "340415",
        ],
    );
    let key = made["mrz_key"].as_str().unwrap();
    assert_eq!(key, "L898902C3:740812:340415");
    assert_eq!(made["access"], json!(["BAC"]));
    assert_eq!(made["can"], Value::Null);
    let portrait = &made["portrait"];
    assert_eq!(portrait["format"], "jpeg");
    assert_eq!(portrait["width"], 240);

    let sim = Simulator::profile(&doc);
    assert_eq!(sim.serving["access"], json!(["BAC"]));
    assert_eq!(sim.serving["document_number"], "L898902C3");
    assert_eq!(sim.serving["active_authentication"], true);

    let data = tmp.path().join("data");
    let png = tmp.path().join("portrait.png");
    let report = read_ok(
        &data,
        &[
            "--mrz",
            key,
            "--trust-store",
            arg(&trust_store(&made)),
            "--photo-out",
            arg(&png),
        ],
    );
    assert_eq!(report["access"], "BAC");
    let document = &report["document"];
    assert_eq!(document["document_type"], "TD3");
    assert_eq!(document["document_number"], "L898902C3");
    assert_eq!(document["surname"], "ERIKSSON");
    assert_eq!(document["given_names"], "ANNA MARIA");
    assert_eq!(document["date_of_birth"], "740812");
    assert_eq!(document["date_of_expiry"], "340415");
    assert_eq!(document["sex"], "F");
    assert_eq!(document["nationality"], "UTO");
    assert_eq!(document["national_name"], Value::Null);
    assert_eq!(verdict(&report, "passive"), "valid");
    assert_eq!(verdict(&report, "active"), "valid");
    assert_eq!(verdict(&report, "chip"), "valid");
    assert!(
        report["verification"]["active"]["algorithm"]
            .as_str()
            .unwrap()
            .contains("RSA"),
        "{report:#}"
    );
    assert!(
        report["verification"]["passive"]["algorithm"]
            .as_str()
            .unwrap()
            .contains("PSS")
    );
    assert_eq!(report["photo"]["format"], "jpeg");
    assert_eq!(report["photo"]["width"], portrait["width"]);
    assert_eq!(report["photo"]["height"], portrait["height"]);
    assert_eq!(report["extended_length"], true);
    let dg2 = made["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "DG2")
        .unwrap()["bytes"]
        .as_u64()
        .unwrap();
    assert!(report["bytes_read"].as_u64().unwrap() > dg2);
    assert!(report["apdus"].as_u64().unwrap() > 10);

    let png = image::open(&png).unwrap();
    assert_eq!(u64::from(png.width()), portrait["width"].as_u64().unwrap());
    assert_eq!(
        u64::from(png.height()),
        portrait["height"].as_u64().unwrap()
    );

    // No trust store (and none in the data dir): signatures hold, nobody vouches.
    let untrusted = read_ok(&data, &["--mrz", key, "--short-apdus"]);
    assert_eq!(verdict(&untrusted, "passive"), "untrusted");
    assert_eq!(untrusted["trust_store"], Value::Null);
    assert_eq!(untrusted["extended_length"], false);
    assert_eq!(untrusted["bytes_read"], report["bytes_read"]);
    assert!(untrusted["apdus"].as_u64() > report["apdus"].as_u64());

    // A wrong expiry date: the chip refuses BAC.
    let (code, wrong) = read(&data, &["--mrz", "L898902C3:740812:340416"]);
    assert_eq!(code, 1);
    assert_eq!(wrong["error"]["code"], "WRONG_ACCESS_KEY", "{wrong:#}");
    assert!(
        wrong["error"]["remedy"]
            .as_str()
            .unwrap()
            .contains("date of birth")
    );
    assert!(
        !wrong.to_string().contains("340416"),
        "the key leaks: {wrong}"
    );
    // A CAN for a chip without PACE is refused too.
    station_fails(
        &[
            "card",
            "read",
            "--reader",
            READER,
            "--can",
            "123456",
            "--data-dir",
            arg(&data),
        ],
        "WRONG_ACCESS_KEY",
    );
    // The chip still opens with the right key afterwards.
    assert_eq!(read_ok(&data, &["--mrz", key])["access"], "BAC");

    assert!(sim.stop().success(), "the simulator exits 0 on SIGTERM");
}

#[test]
fn pace_id_card_read_with_can_or_mrz_uses_the_data_dirs_trust_store() {
    if !testbed::require(Service::Pcscd) {
        return;
    }
    let _reader = lock_reader();
    let tmp = tempfile::tempdir().unwrap();
    let doc = tmp.path().join("id");
    let made = specimen(
        &doc,
        &[
            "--doc-type",
            "td1",
            "--access",
            "pace",
            "--pace-curve",
            "P-256",
            "--cipher",
            "AES-128",
            "--can",
            "654321",
            "--aa",
            "ecdsa",
            "--ca",
            "brainpoolP256r1",
            "--national-name",
            "安娜·埃里克松",
            "--number",
            "D23145890",
            "--sex",
            "X",
        ],
    );
    assert_eq!(made["can"], "654321");
    assert_eq!(made["document_type"], "TD1");
    assert_eq!(made["access"], json!(["BAC", "PACE-ECDH-GM-AES-128"]));
    let key = made["mrz_key"].as_str().unwrap().to_owned();
    // The station's own trust folder, found without --trust-store.
    let data = tmp.path().join("data");
    copy_files(&trust_store(&made), &data.join("trust"));

    let _sim = Simulator::profile(&doc);
    let report = read_ok(&data, &["--can", "654321"]);
    assert_eq!(report["access"], "PACE-ECDH-GM-AES-128");
    assert_eq!(report["pace_failure"], Value::Null);
    assert_eq!(report["document"]["document_type"], "TD1");
    assert_eq!(report["document"]["document_number"], "D23145890");
    assert_eq!(report["document"]["sex"], "<");
    assert_eq!(report["document"]["national_name"], "安娜·埃里克松");
    assert_eq!(verdict(&report, "passive"), "valid");
    assert_eq!(verdict(&report, "active"), "valid");
    assert_eq!(verdict(&report, "chip"), "valid");
    assert!(
        report["verification"]["active"]["algorithm"]
            .as_str()
            .unwrap()
            .contains("ECDSA")
    );
    assert!(
        report["verification"]["chip"]["algorithm"]
            .as_str()
            .unwrap()
            .contains("brainpoolP256r1")
    );
    assert!(
        report["files"]
            .as_array()
            .unwrap()
            .contains(&json!("CardAccess"))
    );

    // PACE keyed with the MRZ.
    let with_mrz = read_ok(&data, &["--mrz", &key]);
    assert_eq!(with_mrz["access"], "PACE-ECDH-GM-AES-128");
    assert_eq!(verdict(&with_mrz, "passive"), "valid");
    // A wrong CAN: the chip's PACE token does not match.
    station_fails(
        &[
            "card",
            "read",
            "--reader",
            READER,
            "--can",
            "654320",
            "--data-dir",
            arg(&data),
        ],
        "WRONG_ACCESS_KEY",
    );
}

#[test]
fn a_forged_data_group_served_raw_fails_passive_authentication() {
    if !testbed::require(Service::Pcscd) {
        return;
    }
    let _reader = lock_reader();
    let tmp = tempfile::tempdir().unwrap();
    let doc = tmp.path().join("doc");
    let made = specimen(&doc, &["--access", "bac", "--surname", "Specimen"]);
    let forged = tmp.path().join("forged");
    copy_files(&doc, &forged);
    // A different name in the MRZ's name field (which has no check digit).
    let dg1 = std::fs::read(forged.join("DG1")).unwrap();
    let at = dg1.windows(8).position(|w| w == b"SPECIMEN").unwrap();
    let mut altered = dg1.clone();
    altered[at + 6] = b'A';
    std::fs::write(forged.join("DG1"), altered).unwrap();

    let sim = Simulator::start(&["--lds-dir", arg(&forged)]);
    // Files alone: no chip keys, whatever profile.toml says.
    assert_eq!(sim.serving["active_authentication"], false);
    let data = tmp.path().join("data");
    let report = read_ok(
        &data,
        &[
            "--mrz",
            made["mrz_key"].as_str().unwrap(),
            "--trust-store",
            arg(&trust_store(&made)),
        ],
    );
    assert_eq!(report["document"]["surname"], "SPECIMAN");
    assert_eq!(verdict(&report, "passive"), "invalid");
    let reason = report["verification"]["passive"]["reason"]
        .as_str()
        .unwrap();
    assert!(reason.contains("DG1 "), "{reason}");
    // The copy has DG15 but not the chip's private key: a cloned chip.
    assert_eq!(verdict(&report, "active"), "invalid");
    assert_eq!(verdict(&report, "chip"), "invalid");
}

#[test]
fn a_card_pulled_mid_read_and_an_empty_reader_are_told_apart() {
    if !testbed::require(Service::Pcscd) {
        return;
    }
    let _reader = lock_reader();
    let tmp = tempfile::tempdir().unwrap();
    let doc = tmp.path().join("doc");
    specimen(&doc, &["--access", "bac"]);
    // Access takes three APDUs; the card leaves while the files are read.
    let sim = Simulator::start(&["--profile", arg(&doc), "--remove-after-apdus", "12"]);
    let (code, pulled) = read(tmp.path(), &["--mrz", "L898902C3:740812:341231"]);
    assert_ne!(code, 0, "{pulled:#}");
    assert_eq!(pulled["error"]["code"], "CARD_REMOVED", "{pulled:#}");
    drop(sim);

    // Nothing in the reader: the read waits, then says so.
    let (code, empty) = read(
        tmp.path(),
        &["--mrz", "L898902C3:740812:341231", "--wait", "0.5"],
    );
    assert_ne!(code, 0, "{empty:#}");
    assert_eq!(empty["error"]["code"], "NO_CARD", "{empty:#}");
}

#[test]
fn a_jpeg_2000_portrait_is_served_read_and_saved() {
    if !testbed::require(Service::Pcscd) {
        return;
    }
    let _reader = lock_reader();
    let tmp = tempfile::tempdir().unwrap();
    let doc = tmp.path().join("doc");
    let jp2 = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/faces/obama-portrait.jp2");
    let made = specimen(&doc, &["--access", "bac", "--portrait", arg(&jp2)]);
    assert_eq!(made["portrait"]["format"], "jpeg2000", "{made:#}");
    let sim = Simulator::profile(&doc);
    let png = tmp.path().join("portrait.png");
    let report = read_ok(
        tmp.path(),
        &[
            "--mrz",
            "L898902C3:740812:341231",
            "--trust-store",
            arg(&trust_store(&made)),
            "--photo-out",
            arg(&png),
        ],
    );
    assert_eq!(report["photo"]["format"], "jpeg2000", "{report:#}");
    assert_eq!(
        (
            report["photo"]["width"].clone(),
            report["photo"]["height"].clone()
        ),
        (json!(240), json!(300))
    );
    assert_eq!(verdict(&report, "passive"), "valid");
    let saved = image::open(&png).unwrap();
    assert_eq!((saved.width(), saved.height()), (240, 300));
    drop(sim);
}

#[test]
fn the_shipped_demo_document_is_served_and_read() {
    if !testbed::require(Service::Pcscd) {
        return;
    }
    let _reader = lock_reader();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/documents/demo");
    let tmp = tempfile::tempdir().unwrap();
    let sim = Simulator::profile(&demo);
    let number = sim.serving["document_number"].as_str().unwrap().to_owned();
    let report = read_ok(
        tmp.path(),
        &[
            "--mrz",
            &format!("{number}:740812:341231"),
            "--trust-store",
            arg(&demo.join("trust")),
            "--photo-out",
            arg(&tmp.path().join("demo.png")),
        ],
    );
    // PACE is offered, so it is used with the MRZ too.
    assert_eq!(report["access"], "PACE-ECDH-GM-AES-128");
    assert_eq!(report["document"]["surname"], "SPECIMEN");
    assert_eq!(verdict(&report, "passive"), "valid");
    assert_eq!(verdict(&report, "active"), "valid");
    assert_eq!(verdict(&report, "chip"), "valid");
    assert_eq!(report["photo"]["width"], 240);
    let png = image::open(tmp.path().join("demo.png")).unwrap();
    assert_eq!(png.width(), 240);
    let by_can = read_ok(
        tmp.path(),
        &["--can", "123456", "--trust-store", arg(&demo.join("trust"))],
    );
    assert_eq!(by_can["access"], "PACE-ECDH-GM-AES-128");
    assert_eq!(by_can["document"]["national_name"], "样本 演示");
    drop(sim);
}

/// The `{"progress":…}` lines of a read's standard error, per file, in order.
fn progress_by_file(stderr: &str) -> std::collections::BTreeMap<String, Vec<(u64, u64)>> {
    let mut files = std::collections::BTreeMap::<String, Vec<(u64, u64)>>::new();
    for line in stderr.lines().filter(|l| l.starts_with("{\"progress\"")) {
        let event: Value = serde_json::from_str(line).unwrap();
        let p = &event["progress"];
        files
            .entry(p["file"].as_str().unwrap().to_owned())
            .or_default()
            .push((p["read"].as_u64().unwrap(), p["total"].as_u64().unwrap()));
    }
    files
}

/// A BAC specimen without chip keys (quick to make), with `extra` options.
fn quick_bac_specimen(dir: &Path, extra: &[&str]) -> Value {
    let base = ["--access", "bac", "--aa", "none", "--ca", "none"];
    specimen(dir, &[&base[..], extra].concat())
}

#[test]
fn readers_and_chips_that_refuse_large_reads_are_read_in_smaller_chunks_with_progress() {
    if !testbed::require(Service::Pcscd) {
        return;
    }
    let _reader = lock_reader();
    let tmp = tempfile::tempdir().unwrap();
    let doc = tmp.path().join("doc");
    let made = quick_bac_specimen(
        &doc,
        &[
            "--issuing-authority",
            "Utopia Passport Office",
            "--date-of-issue",
            "20240115",
        ],
    );
    let key = made["mrz_key"].as_str().unwrap().to_owned();
    let trust = trust_store(&made);
    let sizes: std::collections::BTreeMap<String, u64> = made["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_owned(),
                f["bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(sizes.contains_key("DG12"), "{made:#}");
    let args = ["--mrz", key.as_str(), "--trust-store", arg(&trust)];

    // The APDUs short chunks take on a reader that takes anything.
    let sim = Simulator::profile(&doc);
    let short = read_ok(tmp.path(), &[&args[..], &["--short-apdus"]].concat());
    assert_eq!(short["chunk"]["chosen_by"], "--short-apdus");
    assert_eq!(short["chunk"]["size"], 223);
    drop(sim);

    // A reader that refuses extended length: one refused command, then
    // the same reads as with short APDUs from the start.
    let sim = Simulator::start(&["--profile", arg(&doc), "--short-apdu-reader"]);
    assert_eq!(sim.serving["short_apdu_reader"], true);
    let (code, report, stderr) =
        read_with_stderr(tmp.path(), &[&args[..], &["--progress"]].concat());
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert_eq!(verdict(&report, "passive"), "valid");
    assert_eq!(report["extended_length"], false);
    let chunk = &report["chunk"];
    assert_eq!(chunk["size"], 223, "{report:#}");
    assert!(chunk["initial"].as_u64().unwrap() > 223, "{report:#}");
    let fallbacks = chunk["fallbacks"].as_array().unwrap();
    assert_eq!(fallbacks.len(), 1, "{report:#}");
    assert_eq!(fallbacks[0]["to"], 223);
    assert!(
        fallbacks[0]["cause"].as_str().unwrap().contains("6700"),
        "{report:#}"
    );
    assert_eq!(
        report["apdus"].as_u64().unwrap(),
        short["apdus"].as_u64().unwrap() + 1,
        "{report:#}"
    );
    assert_eq!(report["bytes_read"], short["bytes_read"]);

    // Progress: every file, rising, ending at its size.
    let progress = progress_by_file(&stderr);
    let files: Vec<&str> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(
        progress
            .keys()
            .map(String::as_str)
            .collect::<std::collections::BTreeSet<_>>(),
        files.iter().copied().collect(),
        "{stderr}"
    );
    for (file, events) in &progress {
        let size = sizes[file];
        assert!(
            events.iter().all(|(_, total)| *total == size),
            "{file}: {events:?}"
        );
        assert!(
            events.windows(2).all(|w| w[0].0 <= w[1].0),
            "{file}: {events:?}"
        );
        assert_eq!(events.last().unwrap().0, size, "{file}: {events:?}");
    }
    assert!(progress["DG2"].len() > 10, "{:?}", progress["DG2"]);

    // DG12, listed in EF.COM, read and shown.
    assert_eq!(report["document"]["composite_check_digit_valid"], true);
    let details = &report["document"]["additional_details"];
    assert_eq!(
        details["issuing_authority"], "Utopia Passport Office",
        "{report:#}"
    );
    assert_eq!(details["date_of_issue"], "20240115");
    drop(sim);

    // A chip whose READ BINARY takes at most 128 bytes: down from extended
    // length to short APDUs, then to 128-byte chunks.
    let sim = Simulator::start(&["--profile", arg(&doc), "--chip-max-le", "128"]);
    let report = read_ok(tmp.path(), &args);
    assert_eq!(verdict(&report, "passive"), "valid");
    let chunk = &report["chunk"];
    assert_eq!(chunk["size"], 128, "{report:#}");
    let steps: Vec<u64> = chunk["fallbacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["to"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, [223, 128], "{report:#}");
    assert_eq!(report["bytes_read"], short["bytes_read"]);
    assert!(report["apdus"].as_u64() > short["apdus"].as_u64());
    drop(sim);
}

#[test]
fn a_document_signer_on_its_cscas_crl_is_revoked_and_a_forged_crl_is_ignored() {
    if !testbed::require(Service::Pcscd) {
        return;
    }
    let _reader = lock_reader();
    let tmp = tempfile::tempdir().unwrap();
    let doc = tmp.path().join("doc");
    let made = quick_bac_specimen(&doc, &["--revoke-document-signer"]);
    let key = made["mrz_key"].as_str().unwrap().to_owned();
    let trust = trust_store(&made);
    assert!(trust.join("csca.crl").is_file());
    let _sim = Simulator::profile(&doc);

    // The CSCA and its CRL listing the Document Signer.
    let report = read_ok(tmp.path(), &["--mrz", &key, "--trust-store", arg(&trust)]);
    assert_eq!(verdict(&report, "passive"), "invalid", "{report:#}");
    let reason = report["verification"]["passive"]["reason"]
        .as_str()
        .unwrap();
    assert!(reason.contains("revoked"), "{reason}");

    // The same CRL with a broken signature revokes nothing, and says so.
    let forged = tmp.path().join("forged-trust");
    copy_files(&trust, &forged);
    let mut crl = std::fs::read(forged.join("csca.crl")).unwrap();
    let last = crl.len() - 2;
    crl[last] ^= 0x01;
    std::fs::write(forged.join("csca.crl"), crl).unwrap();
    let report = read_ok(tmp.path(), &["--mrz", &key, "--trust-store", arg(&forged)]);
    let passive = &report["verification"]["passive"];
    assert_eq!(passive["verdict"], "valid", "{report:#}");
    let warnings = passive["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{report:#}");
    assert!(warnings[0].as_str().unwrap().contains("ignored"));

    // Without the CRL the Document Signer is not known to be revoked.
    let bare = tmp.path().join("bare-trust");
    std::fs::create_dir_all(&bare).unwrap();
    std::fs::copy(trust.join("csca.der"), bare.join("csca.der")).unwrap();
    let report = read_ok(tmp.path(), &["--mrz", &key, "--trust-store", arg(&bare)]);
    assert_eq!(verdict(&report, "passive"), "valid", "{report:#}");
    assert_eq!(report["verification"]["passive"].get("warnings"), None);
}
