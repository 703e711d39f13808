//! The hub over HTTPS with client certificates: a station's packets are
//! taken only over a connection showing the certificate it registered.
//! The certificates in `tests/tls` are self-signed test keys, valid for a
//! century, protecting nothing.

// In tests a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::time::Duration;

use enrollment::packet::{PlatformPublicKey, StationId, StationKeys};
use hub::{Hub, HubConfig};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use sha2::{Digest as _, Sha256};
use support::*;
use uplink::wire::{self, ErrorCode, PacketDisposition};
use uuid::Uuid;

fn tls_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/tls")
        .join(name)
}

/// A client that trusts the test hub certificate and shows `identity`
/// (certificate and key file names), if any.
fn https_client(identity: Option<(&str, &str)>) -> reqwest::Client {
    let root =
        reqwest::Certificate::from_pem(&std::fs::read(tls_file("hub.pem")).unwrap()).unwrap();
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(root)
        .timeout(Duration::from_secs(60));
    if let Some((cert, key)) = identity {
        let mut pem = std::fs::read(tls_file(cert)).unwrap();
        pem.extend(std::fs::read(tls_file(key)).unwrap());
        builder = builder.identity(reqwest::Identity::from_pem(&pem).unwrap());
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn over_mutual_tls_packets_need_the_registered_client_certificate() {
    let hub = Hub::open(HubConfig::in_memory()).await.unwrap();
    let config = hub::tls::server_config(&tls_file("hub.pem"), &tls_file("hub-key.pem")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hub::serve_tls(listener, hub.clone(), config, async {
        let _ = stopped.await;
    }));

    let station_cert = CertificateDer::from_pem_file(tls_file("station.pem")).unwrap();
    let fingerprint: [u8; 32] = Sha256::digest(station_cert.as_ref()).into();
    let with_cert = https_client(Some(("station.pem", "station-key.pem")));
    let without_cert = https_client(None);
    let other_cert = https_client(Some(("hub.pem", "hub-key.pem")));

    // Health and registration need no client certificate.
    let health = without_cert
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let token = hub.create_token(Duration::from_secs(60)).await.unwrap();
    let keys = StationKeys::generate(&mut rng(1));
    let response = without_cert
        .post(format!("{base}/v1/stations"))
        .json(&wire::RegisterStation {
            token,
            station_public_key: keys.verifying_key().to_bytes(),
            tls_client_cert_sha256: Some(fingerprint),
        })
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let registration: wire::StationRegistration = response.json().await.unwrap();
    let station = Station {
        keys,
        registration: registration.clone(),
    };
    let station_id = StationId::new(registration.station_id.clone()).unwrap();
    let platform = PlatformPublicKey::from_bytes(&registration.hub_hpke_public_key).unwrap();
    let payload = demo_payload(station_id, face_jpeg("obama2.png"));
    let id = Uuid::new_v4();
    let bytes = seal(&payload, id, &station, &platform, 3);

    let put = |client: &reqwest::Client| {
        client
            .put(format!("{base}/v1/packets/{id}"))
            .header("content-type", "application/octet-stream")
            .body(bytes.clone())
            .send()
    };
    for client in [&without_cert, &other_cert] {
        let response = put(client).await.unwrap();
        assert_eq!(
            error_code(response, 403).await,
            ErrorCode::ClientCertificate
        );
    }
    let response = put(&with_cert).await.unwrap();
    assert_eq!(response.status(), 200);
    let receipt: wire::Receipt = response.json().await.unwrap();
    receipt.verify(&registration.hub_receipt_key).unwrap();
    assert_eq!(receipt.status, PacketDisposition::Accepted);

    // Only the station itself may read the packet's status.
    let status = |client: &reqwest::Client| client.get(format!("{base}/v1/packets/{id}")).send();
    let response = status(&with_cert).await.unwrap();
    assert_eq!(response.status(), 200);
    let response = status(&other_cert).await.unwrap();
    assert_eq!(
        error_code(response, 403).await,
        ErrorCode::ClientCertificate
    );

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
