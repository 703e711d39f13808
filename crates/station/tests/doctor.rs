//! `station doctor --json` against the real test bed: pcscd with vpcd, the
//! private PulseAudio server, the shipped models, a fresh database, the hub.

// In tests a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::station;
use testbed::Service;

#[test]
fn doctor_reports_every_device_of_the_test_bed() {
    let pcscd = testbed::require(Service::Pcscd);
    let pulse = testbed::require(Service::PulseAudio);
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().join("station-a");

    // A real hub on loopback for the platform check.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let hub = rt
        .block_on(hub::Hub::open(hub::HubConfig::in_memory()))
        .unwrap();
    rt.spawn(hub::serve(listener, hub, std::future::pending()));
    let url = format!("http://{addr}");

    let (code, report) = station(&[
        "doctor",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--platform",
        &url,
    ]);
    assert_eq!(code, 0, "{report:#}");

    let models = report["models"]["found"].as_array().unwrap();
    assert_eq!(report["models"]["status"], "ok");
    assert_eq!(models.len(), 6);
    assert!(models.iter().all(|m| m["verified"] == true));

    assert_eq!(report["database"]["status"], "ok");
    assert_eq!(report["database"]["found"]["journal_mode"], "wal");
    assert!(data_dir.join("station.sqlite3").exists());

    assert_eq!(report["platform"]["status"], "ok");
    assert_eq!(report["platform"]["found"]["reachable"], true);
    assert_eq!(report["platform"]["found"]["url"], url.as_str());

    // No camera on these machines is a warning with a remedy, never an error.
    assert_ne!(report["cameras"]["status"], "error");

    if pcscd {
        assert_eq!(report["readers"]["status"], "ok", "{:#}", report["readers"]);
        let names: Vec<&str> = report["readers"]["found"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"Virtual PCD 00 00"), "{names:?}");
        assert!(names.contains(&"Virtual PCD 00 01"), "{names:?}");
    }
    if pulse {
        let mics = report["microphones"]["found"].as_array().unwrap();
        assert!(
            mics.iter()
                .any(|m| m["name"] == "virtmic" && m["is_default"] == true),
            "{mics:?}"
        );
    }
    if pcscd && pulse {
        assert_eq!(report["ok"], true, "{report:#}");
    }
}

#[test]
fn doctor_reports_tampered_models_and_offline_platform_without_failing() {
    let data = tempfile::tempdir().unwrap();
    let models = data.path().join("models");
    std::fs::create_dir(&models).unwrap();
    let shipped = biometrics::models::bundled_models_dir();
    std::fs::copy(shipped.join("models.toml"), models.join("models.toml")).unwrap();
    // Every model file missing but one, which is altered.
    std::fs::write(models.join("fr_feature.onnx"), b"not the verified model").unwrap();
    let port = testbed::free_port().unwrap();

    let (code, report) = station(&[
        "doctor",
        "--data-dir",
        data.path().join("d").to_str().unwrap(),
        "--models-dir",
        models.to_str().unwrap(),
        "--platform",
        &format!("http://127.0.0.1:{port}"),
    ]);
    assert_eq!(code, 0);
    assert_eq!(report["ok"], false);
    assert_eq!(report["models"]["status"], "error");
    assert_eq!(report["models"]["problem"]["code"], "MODELS_INVALID");
    let fr = report["models"]["found"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["file"] == "fr_feature.onnx")
        .unwrap();
    assert_eq!(fr["verified"], false);
    assert!(fr["problem"].as_str().unwrap().contains("does not match"));
    assert_eq!(report["platform"]["status"], "warning");
    assert_eq!(
        report["platform"]["problem"]["code"],
        "PLATFORM_UNREACHABLE"
    );
    assert!(
        !report["platform"]["problem"]["zh"]["remedy"]
            .as_str()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn invalid_options_give_a_json_error() {
    let (code, value) = station(&["doctor", "--no-such-flag"]);
    assert_eq!(code, 2);
    assert_eq!(value["error"]["code"], "INVALID_ARGUMENT");
    assert!(
        value["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--no-such-flag")
    );
}

#[test]
fn an_unwritable_data_dir_is_reported() {
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let (code, report) = station(&["doctor", "--data-dir", file.join("sub").to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(report["database"]["status"], "error");
    assert_eq!(
        report["database"]["problem"]["code"],
        "DATA_DIR_UNAVAILABLE"
    );
    assert_eq!(
        report["platform"]["problem"]["code"],
        "PLATFORM_NOT_CONFIGURED"
    );
}
