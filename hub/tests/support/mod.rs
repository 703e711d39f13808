//! A real hub on loopback, a station that registers with it, and sealed
//! packets made from the shipped demo document and test faces.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chacha20::ChaCha20Rng;
use enrollment::packet::rand_core::SeedableRng as _;
use enrollment::packet::{
    FORMAT_VERSION, PacketHeader, PacketPayload, PlatformPublicKey, SealedPacket, StationId,
    StationKeys,
};
use hub::{Hub, HubConfig};
use uplink::wire;
use uuid::Uuid;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn demo_document() -> PathBuf {
    repo().join("testdata/documents/demo")
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A hub serving on 127.0.0.1, port chosen by the system.
pub struct Running {
    pub hub: Hub,
    pub base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    pub async fn start(config: HubConfig) -> Self {
        let hub = Hub::open(config).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(hub::serve(listener, hub.clone(), async {
            let _ = stopped.await;
        }));
        Self {
            hub,
            base,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A one-time registration token, valid for an hour.
    pub async fn token(&self) -> String {
        self.hub
            .create_token(Duration::from_secs(3600))
            .await
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops serving and closes the database.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        self.hub.db().close().await;
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap()
}

/// A station's keys and what registration gave it.
pub struct Station {
    pub keys: StationKeys,
    pub registration: wire::StationRegistration,
}

impl Station {
    pub fn id(&self) -> StationId {
        StationId::new(self.registration.station_id.clone()).unwrap()
    }

    pub fn platform_key(&self) -> PlatformPublicKey {
        PlatformPublicKey::from_bytes(&self.registration.hub_hpke_public_key).unwrap()
    }
}

pub fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

/// `POST /v1/stations` with `token`; the raw response.
pub async fn register_raw(hub: &Running, token: &str, keys: &StationKeys) -> reqwest::Response {
    client()
        .post(hub.url("/v1/stations"))
        .json(&wire::RegisterStation {
            token: token.into(),
            station_public_key: keys.verifying_key().to_bytes(),
            tls_client_cert_sha256: None,
        })
        .send()
        .await
        .unwrap()
}

/// A new station, registered with a fresh token.
pub async fn register(hub: &Running, seed: u8) -> Station {
    let token = hub.token().await;
    let keys = StationKeys::generate(&mut rng(seed));
    let response = register_raw(hub, &token, &keys).await;
    assert_eq!(response.status(), 201);
    Station {
        keys,
        registration: response.json().await.unwrap(),
    }
}

/// A test face as a camera-sized JPEG, as a station sends its best frame.
pub fn face_jpeg(name: &str) -> Vec<u8> {
    testbed::packets::face_jpeg(&repo(), name)
}

/// What a station would seal after enrolling the demo document's holder,
/// with `live_jpeg` as the best live frame.
pub fn demo_payload(station_id: StationId, live_jpeg: Vec<u8>) -> PacketPayload {
    testbed::packets::demo_payload(&repo(), station_id, live_jpeg)
}

/// Seals `payload` under a new packet id as `station`, to `platform`: in
/// format v2 when it carries a head turn, in v1 (as an older station
/// would) when it does not.
pub fn seal(
    payload: &PacketPayload,
    packet_id: Uuid,
    station: &Station,
    platform: &PlatformPublicKey,
    seed: u8,
) -> Vec<u8> {
    let header = PacketHeader {
        format_version: if payload.face.liveness.head_turn.is_some() {
            FORMAT_VERSION
        } else {
            1
        },
        packet_id,
        station_id: payload.station_id.clone(),
        created_at_unix_ms: now_ms(),
    };
    SealedPacket::seal(payload, header, platform, &station.keys, &mut rng(seed))
        .unwrap()
        .to_bytes()
}

/// `PUT /v1/packets/{id}` with `bytes`.
pub async fn put(hub: &Running, id: &str, bytes: Vec<u8>) -> reqwest::Response {
    client()
        .put(hub.url(&format!("/v1/packets/{id}")))
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap()
}

/// The error code of a refusal, after checking its status.
pub async fn error_code(response: reqwest::Response, status: u16) -> wire::ErrorCode {
    assert_eq!(response.status(), status);
    let body: wire::ErrorBody = response.json().await.unwrap();
    assert!(!body.error.message.is_empty());
    body.error.code
}
