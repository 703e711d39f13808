//! The `hub` binary: a token from `hub token create` registers a station
//! with `hub serve`, and `hub packets list --json` shows what arrived.

// In tests a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use enrollment::packet::StationKeys;
use support::*;
use uplink::wire;
use uuid::Uuid;

fn hub_command() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hub"))
}

/// Kills the server when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_cli_creates_tokens_serves_and_lists_packets() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("hub.sqlite3").display());

    let out = hub_command()
        .args(["token", "create", "--db", &url, "--ttl-hours", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("onb_"), "{token}");

    // An empty model directory: the face check is reported as not run,
    // which keeps this test fast.
    let no_models = dir.path().join("no-models");
    std::fs::create_dir(&no_models).unwrap();
    let mut server = Child(
        hub_command()
            .args(["serve", "--listen", "127.0.0.1:0", "--db", &url])
            .args([
                "--trust-store",
                demo_document().join("trust").to_str().unwrap(),
            ])
            .args(["--models", no_models.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = server.0.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_owned();

    let keys = StationKeys::generate(&mut rng(1));
    let response = client()
        .post(format!("{base}/v1/stations"))
        .json(&wire::RegisterStation {
            token,
            station_public_key: keys.verifying_key().to_bytes(),
            tls_client_cert_sha256: None,
        })
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let station = Station {
        keys,
        registration: response.json().await.unwrap(),
    };
    let id = Uuid::new_v4();
    let payload = demo_payload(station.id(), face_jpeg("obama2.png"));
    let bytes = seal(&payload, id, &station, &station.platform_key(), 3);
    let response = client()
        .put(format!("{base}/v1/packets/{id}"))
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    drop(server);

    let out = hub_command()
        .args(["packets", "list", "--db", &url, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let packets = listed["packets"].as_array().unwrap();
    assert_eq!(packets.len(), 1);
    let packet = &packets[0];
    assert_eq!(packet["packet_id"], id.to_string());
    assert_eq!(packet["status"], "accepted");
    assert_eq!(packet["reverification"]["passive"]["verdict"], "valid");
    assert_eq!(
        packet["reverification"]["face_match"]["verdict"],
        "not_checked"
    );
    // Metadata only: nothing of the packet's content.
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains("L898902C3"), "{text}");
}
