//! The station's client (`uplink::Platform`) against the real hub: it
//! registers, uploads, believes only receipts that verify, and reads the
//! platform's refusals as codes.

// In tests a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use enrollment::packet::{PlatformPublicKey, StationId, StationKeys};
use hub::HubConfig;
use support::*;
use uplink::wire::{self, ErrorCode, PacketDisposition};
use uplink::{Platform, UplinkError};
use uuid::Uuid;

#[tokio::test]
async fn the_station_client_registers_uploads_and_checks_receipts() {
    let hub = Running::start(HubConfig::in_memory()).await;
    let platform = Platform::new(&hub.base, Duration::from_secs(30)).unwrap();
    let token = hub.token().await;
    let keys = StationKeys::generate(&mut rng(1));
    let request = wire::RegisterStation {
        token,
        station_public_key: keys.verifying_key().to_bytes(),
        tls_client_cert_sha256: Some([7; 32]),
    };
    let registration = platform.register(&request).await.unwrap();
    let err = platform.register(&request).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::TokenUsed), "{err}");

    let station = Station {
        keys,
        registration: registration.clone(),
    };
    let station_id = StationId::new(registration.station_id.clone()).unwrap();
    let platform_key = PlatformPublicKey::from_bytes(&registration.hub_hpke_public_key).unwrap();
    let payload = demo_payload(station_id, face_jpeg("obama2.png"));
    let id = Uuid::new_v4();
    let bytes = seal(&payload, id, &station, &platform_key, 3);

    let first = platform
        .upload(id, bytes.clone(), &registration.hub_receipt_key)
        .await
        .unwrap();
    assert_eq!(first.receipt.status, PacketDisposition::Accepted);
    let again = platform
        .upload(id, bytes.clone(), &registration.hub_receipt_key)
        .await
        .unwrap();
    assert_eq!(again.bytes, first.bytes);

    // A receipt key that is not the hub's: the receipt is not believed.
    let wrong_key = StationKeys::generate(&mut rng(8))
        .verifying_key()
        .to_bytes();
    let err = platform
        .upload(id, bytes.clone(), &wrong_key)
        .await
        .unwrap_err();
    assert!(matches!(err, UplinkError::BadReceipt { .. }), "{err}");

    let resealed = seal(&payload, id, &station, &platform_key, 4);
    let err = platform
        .upload(id, resealed, &registration.hub_receipt_key)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Conflict), "{err}");

    let status = platform.packet_status(id).await.unwrap();
    assert_eq!(status.receipt, first.receipt);
    let err = platform.packet_status(Uuid::new_v4()).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotFound), "{err}");
    hub.stop().await;
}
