//! The station's client against the real hub over loopback HTTP.

// In tests a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use uplink::{Platform, UplinkError, wire};

#[tokio::test]
async fn station_client_reads_the_hub_health() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let hub = hub::Hub::open(hub::HubConfig::in_memory()).await.unwrap();
    let server = tokio::spawn(hub::serve(listener, hub, async {
        let _ = stopped.await;
    }));

    let platform = Platform::new(&format!("http://{addr}"), Duration::from_secs(5)).unwrap();
    let health = platform.health().await.unwrap();
    assert_eq!(health.status, "ok");
    assert_eq!(health.protocol, wire::PROTOCOL_VERSION);

    // A path the platform does not serve is a refusal, not garbage.
    let other = Platform::new(&format!("http://{addr}/nowhere"), Duration::from_secs(5)).unwrap();
    let err = other.health().await.unwrap_err();
    assert!(
        matches!(
            err,
            UplinkError::Refused {
                status: 404,
                code: wire::ErrorCode::NotFound,
                ..
            }
        ),
        "{err}"
    );

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_server_answering_garbage_is_refused() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/healthz",
        axum::routing::get(|| async { "<html>captive portal</html>" }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let platform = Platform::new(&format!("http://{addr}"), Duration::from_secs(5)).unwrap();
    let err = platform.health().await.unwrap_err();
    assert!(matches!(err, UplinkError::Garbage { .. }), "{err}");
    server.abort();
}
