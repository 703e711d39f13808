//! The HTTP routes. Every refusal is a `uplink::wire::ErrorBody` with a
//! stable code; nothing a client sends can make a handler panic.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use ed25519_dalek::Signer as _;
use enrollment::packet::{MAX_CIPHERTEXT_LEN, SealedPacket, StationId, StationVerifyingKey};
use sha2::{Digest as _, Sha256};
use uplink::wire::{self, ErrorCode};
use uuid::Uuid;

use crate::db::{NewPacket, PacketRow, StationRow, TokenProblem};
use crate::reverify::{self, Decision};
use crate::tls::ClientIdentity;
use crate::{Hub, HubError, now_unix_ms, packet_status};

/// The largest packet body: the largest ciphertext the format allows plus
/// room for the header, key and signature.
pub const MAX_PACKET_BODY: usize = MAX_CIPHERTEXT_LEN + 4096;
/// Registration bodies are a few hundred bytes.
const MAX_JSON_BODY: usize = 64 * 1024;

/// The platform's HTTP routes.
pub fn router(hub: Hub) -> Router {
    Router::new()
        .route("/healthz", get(health))
        .route(
            "/v1/stations",
            post(register).layer(DefaultBodyLimit::max(MAX_JSON_BODY)),
        )
        .route(
            "/v1/packets/{id}",
            put(put_packet)
                .get(get_packet)
                .layer(DefaultBodyLimit::max(MAX_PACKET_BODY)),
        )
        .fallback(not_found)
        .with_state(hub)
}

/// A refusal: HTTP status, stable code, message.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }

    /// The detail goes to the log, not to the client.
    fn internal(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "the hub failed; see its log",
        )
    }
}

impl From<crate::DbError> for ApiError {
    fn from(e: crate::DbError) -> Self {
        Self::internal(&e)
    }
}

impl From<HubError> for ApiError {
    fn from(e: HubError) -> Self {
        Self::internal(&e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(wire::ErrorBody::new(self.code, self.message)),
        )
            .into_response()
    }
}

async fn health() -> Json<wire::Health> {
    Json(wire::Health {
        status: "ok".into(),
        protocol: wire::PROTOCOL_VERSION,
        version: env!("CARGO_PKG_VERSION").into(),
        packet_versions: enrollment::packet::FORMAT_VERSIONS.to_vec(),
    })
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        "no such endpoint",
    )
}

/// A fresh station id: `st-` and 16 random hex digits.
fn new_station_id() -> Result<StationId, ApiError> {
    let mut bytes = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    StationId::new(format!("st-{}", hex::encode(bytes))).map_err(|e| ApiError::internal(&e))
}

/// `POST /v1/stations`: registers a station with a one-time token.
async fn register(
    State(hub): State<Hub>,
    body: Result<Json<wire::RegisterStation>, JsonRejection>,
) -> Result<(StatusCode, Json<wire::StationRegistration>), ApiError> {
    let Json(request) = body.map_err(|e| {
        // axum says 422 for well-formed JSON of the wrong shape; to a
        // client both are simply a bad request.
        if e.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE {
            ApiError::new(e.status(), ErrorCode::UnsupportedMediaType, e.body_text())
        } else {
            ApiError::bad_request(e.body_text())
        }
    })?;
    StationVerifyingKey::from_bytes(&request.station_public_key)
        .map_err(|_| ApiError::bad_request("station_public_key is not an Ed25519 public key"))?;
    let station = StationRow {
        station_id: new_station_id()?.to_string(),
        public_key: request.station_public_key,
        tls_cert_sha256: request.tls_client_cert_sha256,
        registered_at_unix_ms: now_unix_ms(),
    };
    let token = crate::db::token_hash(&request.token);
    match hub.db().register_station(&token, &station).await? {
        Ok(()) => {}
        Err(TokenProblem::Used) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::TokenUsed,
                "this onboarding token has already registered a station",
            ));
        }
        Err(TokenProblem::Unknown | TokenProblem::Expired) => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::InvalidToken,
                "the onboarding token is unknown or expired",
            ));
        }
    }
    tracing::info!(station_id = %station.station_id, "station registered");
    Ok((
        StatusCode::CREATED,
        Json(wire::StationRegistration {
            station_id: station.station_id,
            hub_hpke_public_key: hub.hpke_public_key(),
            hub_receipt_key: hub.receipt_key(),
            registered_at_unix_ms: station.registered_at_unix_ms,
            packet_versions: enrollment::packet::FORMAT_VERSIONS.to_vec(),
        }),
    ))
}

fn parse_packet_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::try_parse(id).map_err(|_| ApiError::bad_request("the path's packet id is not a UUID"))
}

/// The stored receipt for the same bytes, or a conflict for other bytes.
fn repeat(existing: &PacketRow, sha256: &[u8; 32]) -> Result<Response, ApiError> {
    if &existing.sha256 != sha256 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::Conflict,
            "this packet id is already taken by a packet with other bytes",
        ));
    }
    tracing::info!(packet_id = %existing.packet_id, "packet received again; same receipt");
    Ok(receipt_response(existing.receipt.clone()))
}

fn receipt_response(receipt: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        receipt,
    )
        .into_response()
}

/// Over TLS the connection must be the station's own: the client
/// certificate it registered. Plain HTTP (tests, a trusted network) has none.
fn require_station_certificate(
    identity: Option<Extension<ClientIdentity>>,
    station: &StationRow,
) -> Result<(), ApiError> {
    if let Some(Extension(identity)) = identity
        && (station.tls_cert_sha256.is_none() || identity.cert_sha256 != station.tls_cert_sha256)
    {
        tracing::warn!(station_id = %station.station_id, "client certificate is not the station's");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::ClientCertificate,
            "the client certificate is missing or not the one this station registered",
        ));
    }
    Ok(())
}

/// `PUT /v1/packets/{id}`: receives one sealed packet.
async fn put_packet(
    State(hub): State<Hub>,
    Path(id): Path<String>,
    identity: Option<Extension<ClientIdentity>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                format!("a packet body is at most {MAX_PACKET_BODY} bytes"),
            )
        } else {
            ApiError::bad_request(e.body_text())
        }
    })?;
    // Parameters (`; charset=…`) and letter case do not change the type.
    if let Some(kind) = headers.get(header::CONTENT_TYPE)
        && !kind
            .as_bytes()
            .split(|&b| b == b';')
            .next()
            .is_some_and(|t| {
                t.trim_ascii()
                    .eq_ignore_ascii_case(b"application/octet-stream")
            })
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "a packet is sent as application/octet-stream",
        ));
    }
    let path_id = parse_packet_id(&id)?;
    let packet = SealedPacket::from_bytes(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::MalformedPacket,
            e.to_string(),
        )
    })?;
    let header = packet.header().clone();
    if header.packet_id != path_id {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::IdMismatch,
            "the path's packet id differs from the packet header's",
        ));
    }
    let station = hub
        .db()
        .station(header.station_id.as_str())
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::UnknownStation,
                "the packet's station is not registered here",
            )
        })?;
    require_station_certificate(identity, &station)?;
    let key =
        StationVerifyingKey::from_bytes(&station.public_key).map_err(|e| ApiError::internal(&e))?;
    // Before anything else is looked at: unauthenticated bytes never reach
    // the database's packet rows, HPKE or the CBOR decoder.
    packet.verify(&key).map_err(|_| {
        tracing::warn!(packet_id = %header.packet_id, station_id = %header.station_id, "packet signature does not verify");
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadSignature,
            "the packet's signature does not verify with its station's key",
        )
    })?;
    let sha256: [u8; 32] = Sha256::digest(&body).into();
    if let Some(existing) = hub.db().packet(path_id).await? {
        return repeat(&existing, &sha256);
    }

    let received_at = now_unix_ms();
    let decision = {
        let _permit = hub
            .inner
            .checks
            .acquire()
            .await
            .map_err(|e| ApiError::internal(&e))?;
        let inner = hub.inner.clone();
        let header = header.clone();
        tokio::task::spawn_blocking(move || -> Decision {
            match packet.open(inner.platform.secret_key(), &key) {
                Ok(payload) => reverify::reverify(
                    &header,
                    &payload,
                    inner.trust.as_ref(),
                    inner.face(),
                    std::time::SystemTime::now(),
                ),
                Err(e) => reverify::unopenable(&e),
            }
        })
        .await
        .map_err(|e| ApiError::internal(&e))?
    };

    let mut receipt = wire::Receipt {
        packet_id: header.packet_id,
        station_id: header.station_id.to_string(),
        packet_sha256: sha256,
        status: decision.status,
        reason: decision.reason.clone(),
        received_at_unix_ms: received_at,
        signature: [0; 64],
    };
    receipt.signature = hub
        .inner
        .receipt_key
        .sign(&receipt.signed_message())
        .to_bytes();
    let receipt_bytes = serde_json::to_vec(&receipt).map_err(|e| ApiError::internal(&e))?;
    let reverification = decision
        .reverification
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| ApiError::internal(&e))?;
    let inserted = hub
        .db()
        .insert_packet(&NewPacket {
            packet_id: header.packet_id,
            station_id: header.station_id.as_str(),
            sha256,
            bytes: &body,
            created_at_unix_ms: header.created_at_unix_ms,
            status: decision.status.as_str(),
            reason: decision.reason.as_deref(),
            reverification: reverification.as_deref(),
            receipt: &receipt_bytes,
            received_at_unix_ms: received_at,
        })
        .await?;
    if !inserted {
        // Another upload of this id won the race; answer as for a repeat.
        let existing = hub
            .db()
            .packet(path_id)
            .await?
            .ok_or_else(|| ApiError::internal(&"the packet vanished after a conflict"))?;
        return repeat(&existing, &sha256);
    }
    tracing::info!(
        packet_id = %header.packet_id,
        station_id = %header.station_id,
        status = %decision.status,
        reason = decision.reason.as_deref().unwrap_or(""),
        "packet received"
    );
    Ok(receipt_response(receipt_bytes))
}

/// `GET /v1/packets/{id}`: the stored verdicts, never the packet's content.
/// Over TLS, only the packet's own station may ask.
async fn get_packet(
    State(hub): State<Hub>,
    Path(id): Path<String>,
    identity: Option<Extension<ClientIdentity>>,
) -> Result<Json<wire::PacketStatus>, ApiError> {
    let packet_id = parse_packet_id(&id)?;
    let row = hub.db().packet(packet_id).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "no packet with this id",
        )
    })?;
    if identity.is_some() {
        let station =
            hub.db().station(&row.station_id).await?.ok_or_else(|| {
                ApiError::internal(&"a stored packet's station is not registered")
            })?;
        require_station_certificate(identity, &station)?;
    }
    Ok(Json(packet_status(&row)?))
}
