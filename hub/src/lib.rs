//! The reference platform: what a station uploads to.
//!
//! It exists so stations can be tested and demonstrated end to end against a
//! real HTTP peer. It speaks exactly the wire types of `uplink::wire`, so the
//! two sides cannot drift apart.
#![forbid(unsafe_code)]

pub mod db;

pub use db::{DbError, HubDb, PacketRow};

use axum::{Json, Router, routing::get};
use uplink::wire;

/// The platform's HTTP routes.
pub fn router() -> Router {
    Router::new().route("/healthz", get(health))
}

async fn health() -> Json<wire::Health> {
    Json(wire::Health {
        status: "ok".into(),
        protocol: wire::PROTOCOL_VERSION,
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// Serves the platform on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router())
        .with_graceful_shutdown(shutdown)
        .await
}
