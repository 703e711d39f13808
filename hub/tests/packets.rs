//! Stations registering with a real hub and uploading sealed packets over
//! loopback HTTP: what the hub accepts, re-verifies, acknowledges and refuses.

// In tests a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use enrollment::packet::{PlatformKeyPair, StationKeys};
use hub::{FaceModels, HubConfig};
use sha2::{Digest as _, Sha256};
use support::*;
use uplink::wire::{self, ErrorCode, PacketDisposition};
use uuid::Uuid;

/// Asserts that `response` is a receipt the hub signed, rejecting the
/// packet for a reason that starts with `reason`.
async fn signed_rejection(response: reqwest::Response, station: &Station, reason: &str) {
    assert_eq!(response.status(), 200);
    let receipt: wire::Receipt = response.json().await.unwrap();
    receipt
        .verify(&station.registration.hub_receipt_key)
        .unwrap();
    assert_eq!(receipt.status, PacketDisposition::Rejected);
    assert!(
        receipt.reason.as_deref().unwrap().starts_with(reason),
        "{receipt:?}"
    );
}

#[tokio::test]
async fn registration_takes_a_one_time_token() {
    let hub = Running::start(HubConfig::in_memory()).await;
    let token = hub.token().await;
    let keys = StationKeys::generate(&mut rng(1));

    let response = register_raw(&hub, &token, &keys).await;
    assert_eq!(response.status(), 201);
    let registration: wire::StationRegistration = response.json().await.unwrap();
    assert!(registration.station_id.starts_with("st-"));
    assert_eq!(registration.hub_hpke_public_key, hub.hub.hpke_public_key());
    assert_eq!(registration.hub_receipt_key, hub.hub.receipt_key());

    // The token is spent, even for the same station.
    let again = register_raw(&hub, &token, &keys).await;
    assert_eq!(error_code(again, 409).await, ErrorCode::TokenUsed);

    let unknown = register_raw(&hub, "onb_0000", &keys).await;
    assert_eq!(error_code(unknown, 401).await, ErrorCode::InvalidToken);

    let expired = hub.hub.create_token(Duration::ZERO).await.unwrap();
    let late = register_raw(&hub, &expired, &keys).await;
    assert_eq!(error_code(late, 401).await, ErrorCode::InvalidToken);

    let garbage = client()
        .post(hub.url("/v1/stations"))
        .header("content-type", "application/json")
        .body("{\"token\": 5}")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(garbage, 400).await, ErrorCode::BadRequest);

    // A second token registers a second station, with its own id.
    let other = register(&hub, 2).await;
    assert_ne!(other.registration.station_id, registration.station_id);
    hub.stop().await;
}

#[tokio::test]
async fn a_sealed_packet_is_reverified_and_acknowledged_once() {
    let hub = Running::start(HubConfig {
        db_url: "sqlite::memory:".into(),
        trust_store: Some(demo_document().join("trust")),
        face_models: FaceModels::Bundled,
    })
    .await;
    let station = register(&hub, 1).await;
    let payload = demo_payload(station.id(), face_jpeg("obama2.png"));
    let id = Uuid::new_v4();
    let bytes = seal(&payload, id, &station, &station.platform_key(), 3);

    let response = put(&hub, &id.to_string(), bytes.clone()).await;
    assert_eq!(response.status(), 200);
    let first = response.bytes().await.unwrap();
    let receipt: wire::Receipt = serde_json::from_slice(&first).unwrap();
    receipt
        .verify(&station.registration.hub_receipt_key)
        .unwrap();
    assert_eq!(receipt.status, PacketDisposition::Accepted, "{receipt:?}");
    assert_eq!(receipt.reason, None);
    assert_eq!(receipt.packet_id, id);
    assert_eq!(receipt.station_id, station.registration.station_id);
    assert!(receipt.covers(&Sha256::digest(&bytes).into()));

    // The platform's own verdicts, not the station's.
    let status: wire::PacketStatus = client()
        .get(hub.url(&format!("/v1/packets/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status.status, PacketDisposition::Accepted);
    assert_eq!(status.receipt, receipt);
    assert_eq!(status.packet_len, bytes.len() as u64);
    let checks = status.reverification.unwrap();
    assert_eq!(checks.passive.verdict, "valid", "{:?}", checks.passive);
    assert_eq!(
        checks.face_match.verdict, "match",
        "{:?}",
        checks.face_match
    );
    let score = checks.face_match.score.unwrap();
    assert!(score >= checks.face_match.threshold.unwrap(), "{score}");
    assert_eq!(checks.signoffs.verdict, "valid");
    assert_eq!(checks.sealed_at.verdict, "valid");
    assert_eq!(checks.station_claims.active, "valid");
    assert_eq!(checks.head_turn.verdict, "valid", "{:?}", checks.head_turn);

    // Uploading again (a lost answer) gives the very same receipt.
    let again = put(&hub, &id.to_string(), bytes.clone()).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.bytes().await.unwrap(), first);

    // Other bytes under the same id: the same payload sealed again.
    let resealed = seal(&payload, id, &station, &station.platform_key(), 4);
    assert_ne!(resealed, bytes);
    let conflict = put(&hub, &id.to_string(), resealed).await;
    assert_eq!(error_code(conflict, 409).await, ErrorCode::Conflict);

    // Another person in front of the camera: authentic, but refused.
    let impostor = demo_payload(station.id(), face_jpeg("biden.png"));
    let other_id = Uuid::new_v4();
    let other = seal(&impostor, other_id, &station, &station.platform_key(), 5);
    let response = put(&hub, &other_id.to_string(), other).await;
    signed_rejection(response, &station, "face_no_match").await;

    // A head turn the platform would not have passed (a station whose
    // threshold was lowered), and a record that does not hold together.
    for (turn, state) in [(9.0, "passed"), (25.0, "failed")] {
        let mut lowered = demo_payload(station.id(), face_jpeg("obama2.png"));
        if let Some(t) = lowered.face.liveness.head_turn.as_mut() {
            t.peak_yaw_deg = turn;
            t.state = state.into();
        }
        let turned_id = Uuid::new_v4();
        let turned = seal(&lowered, turned_id, &station, &station.platform_key(), 6);
        let response = put(&hub, &turned_id.to_string(), turned).await;
        signed_rejection(response, &station, "head_turn_invalid").await;
    }
    // A v1 packet (an older station, or images from a file that were never
    // asked to turn): nothing to re-judge.
    let mut unasked = demo_payload(station.id(), face_jpeg("obama2.png"));
    unasked.face.liveness.head_turn = None;
    let unasked_id = Uuid::new_v4();
    let sealed = seal(&unasked, unasked_id, &station, &station.platform_key(), 7);
    let response = put(&hub, &unasked_id.to_string(), sealed).await;
    assert_eq!(response.status(), 200);
    let receipt: wire::Receipt = response.json().await.unwrap();
    assert_eq!(receipt.status, PacketDisposition::Accepted, "{receipt:?}");
    let row = hub.hub.db().packet(unasked_id).await.unwrap().unwrap();
    let checks = hub::packet_status(&row).unwrap().reverification.unwrap();
    assert_eq!(checks.head_turn.verdict, "not_asked");
    hub.stop().await;
}

#[tokio::test]
async fn refusals_carry_a_status_and_a_stable_code() {
    let hub = Running::start(HubConfig::in_memory()).await;
    let station = register(&hub, 1).await;
    let payload = demo_payload(station.id(), face_jpeg("obama2.png"));
    let id = Uuid::new_v4();
    let bytes = seal(&payload, id, &station, &station.platform_key(), 3);
    let path = id.to_string();

    // Signed by a key the hub does not know under this station's name.
    let stranger = Station {
        keys: StationKeys::generate(&mut rng(9)),
        registration: station.registration.clone(),
    };
    let forged = seal(&payload, id, &stranger, &station.platform_key(), 3);
    let response = put(&hub, &path, forged).await;
    assert_eq!(error_code(response, 400).await, ErrorCode::BadSignature);

    // A station the hub never registered.
    let mut unregistered = stranger.registration.clone();
    unregistered.station_id = "st-unregistered".into();
    let stranger = Station {
        keys: stranger.keys,
        registration: unregistered,
    };
    let payload_elsewhere = demo_payload(stranger.id(), face_jpeg("obama2.png"));
    let foreign = seal(
        &payload_elsewhere,
        id,
        &stranger,
        &station.platform_key(),
        3,
    );
    let response = put(&hub, &path, foreign).await;
    assert_eq!(error_code(response, 403).await, ErrorCode::UnknownStation);

    // One flipped bit in the ciphertext, then in the magic.
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    let response = put(&hub, &path, flipped).await;
    assert_eq!(error_code(response, 400).await, ErrorCode::BadSignature);
    let mut bad_magic = bytes.clone();
    bad_magic[1] ^= 0x01;
    let response = put(&hub, &path, bad_magic).await;
    assert_eq!(error_code(response, 400).await, ErrorCode::MalformedPacket);

    // Garbage, nothing, and a truncated packet.
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for body in [garbage, Vec::new(), bytes[..bytes.len() - 1].to_vec()] {
        let response = put(&hub, &path, body).await;
        assert_eq!(error_code(response, 400).await, ErrorCode::MalformedPacket);
    }

    // The path must name the packet in the body.
    let response = put(&hub, &Uuid::new_v4().to_string(), bytes.clone()).await;
    assert_eq!(error_code(response, 400).await, ErrorCode::IdMismatch);
    let response = put(&hub, "not-a-uuid", bytes.clone()).await;
    assert_eq!(error_code(response, 400).await, ErrorCode::BadRequest);

    let response = client()
        .put(hub.url(&format!("/v1/packets/{path}")))
        .header("content-type", "text/plain")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response, 415).await,
        ErrorCode::UnsupportedMediaType
    );

    // None of that was stored.
    let response = client()
        .get(hub.url(&format!("/v1/packets/{path}")))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response, 404).await, ErrorCode::NotFound);
    assert!(hub.hub.db().packets().await.unwrap().is_empty());

    // Authentic but sealed to another platform: a signed rejection, so the
    // station stops retrying it.
    let elsewhere = PlatformKeyPair::generate(&mut rng(7));
    let other_id = Uuid::new_v4();
    let lost = seal(&payload, other_id, &station, elsewhere.public_key(), 3);
    let response = put(&hub, &other_id.to_string(), lost).await;
    signed_rejection(response, &station, "undecryptable").await;
    let status: wire::PacketStatus = client()
        .get(hub.url(&format!("/v1/packets/{other_id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status.status, PacketDisposition::Rejected);
    assert_eq!(status.reverification, None);

    // The genuine packet still goes through after all that. Without a
    // trust store or face models, the hub says what it could not check.
    let response = put(&hub, &path, bytes).await;
    assert_eq!(response.status(), 200);
    let receipt: wire::Receipt = response.json().await.unwrap();
    assert_eq!(receipt.status, PacketDisposition::Accepted);
    let row = hub.hub.db().packet(id).await.unwrap().unwrap();
    let status = hub::packet_status(&row).unwrap();
    let checks = status.reverification.unwrap();
    assert_eq!(checks.passive.verdict, "untrusted", "{:?}", checks.passive);
    assert_eq!(checks.face_match.verdict, "not_checked");
    hub.stop().await;
}

#[tokio::test]
async fn an_oversized_body_is_refused_before_it_is_read_whole() {
    let hub = Running::start(HubConfig::in_memory()).await;
    let id = Uuid::new_v4();
    let response = put(&hub, &id.to_string(), vec![0; 65 * 1024 * 1024]).await;
    assert_eq!(error_code(response, 413).await, ErrorCode::PayloadTooLarge);
    hub.stop().await;
}

#[tokio::test]
async fn unknown_routes_answer_with_an_error_body() {
    let hub = Running::start(HubConfig::in_memory()).await;
    let response = client().get(hub.url("/v1/nothing")).send().await.unwrap();
    assert_eq!(error_code(response, 404).await, ErrorCode::NotFound);
    hub.stop().await;
}
