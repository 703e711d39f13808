//! The hub's state lives in its database: a restart on the same database
//! keeps its keys, its stations, its spent tokens and its receipts.

// In tests a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use enrollment::packet::StationKeys;
use hub::{FaceModels, HubConfig};
use support::*;
use uplink::wire::{self, ErrorCode, PacketDisposition};
use uuid::Uuid;

fn config(url: &str) -> HubConfig {
    HubConfig {
        db_url: url.into(),
        trust_store: None,
        face_models: FaceModels::Disabled,
    }
}

#[tokio::test]
async fn hub_state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.sqlite3");
    let url = format!("sqlite:{}", path.display());

    let first = Running::start(config(&url)).await;
    let keys = (first.hub.hpke_public_key(), first.hub.receipt_key());
    let token = first.token().await;
    let station_keys = StationKeys::generate(&mut rng(1));
    let response = register_raw(&first, &token, &station_keys).await;
    assert_eq!(response.status(), 201);
    let station = Station {
        keys: station_keys,
        registration: response.json().await.unwrap(),
    };
    let payload = demo_payload(station.id(), face_jpeg("obama2.png"));
    let id = Uuid::new_v4();
    let bytes = seal(&payload, id, &station, &station.platform_key(), 3);
    let response = put(&first, &id.to_string(), bytes.clone()).await;
    assert_eq!(response.status(), 200);
    let receipt = response.bytes().await.unwrap();
    first.stop().await;

    // The keys are secrets: only the owner may read the database.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }

    let second = Running::start(config(&url)).await;
    assert_eq!(
        (second.hub.hpke_public_key(), second.hub.receipt_key()),
        keys
    );
    let response = put(&second, &id.to_string(), bytes).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap(), receipt);
    let parsed: wire::Receipt = serde_json::from_slice(&receipt).unwrap();
    parsed
        .verify(&station.registration.hub_receipt_key)
        .unwrap();
    assert_eq!(parsed.status, PacketDisposition::Accepted);

    let again = register_raw(&second, &token, &StationKeys::generate(&mut rng(2))).await;
    assert_eq!(error_code(again, 409).await, ErrorCode::TokenUsed);
    second.stop().await;
}
