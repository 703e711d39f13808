//! The station's side of the platform protocol.
//!
//! [`wire`] holds the JSON the station and the platform exchange; the hub
//! depends on it too, so both sides always agree. [`Platform`] is the HTTP
//! client: health, registration, packet upload (with the receipt checked
//! before it is believed) and packet status. Nothing here decides what to
//! send or when: the station core does.
#![forbid(unsafe_code)]

pub mod wire;

use std::time::Duration;

use reqwest::StatusCode;
use sha2::{Digest as _, Sha256};
use thiserror::Error;
use uuid::Uuid;

#[derive(Debug, Error)]
pub enum UplinkError {
    #[error("the platform address `{0}` is not a valid http(s) URL")]
    BadUrl(String),
    #[error("the platform at {url} cannot be reached: {message}")]
    Unreachable { url: String, message: String },
    #[error("the platform at {url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("the platform at {url} answered something that is not its protocol: {message}")]
    Garbage { url: String, message: String },
    /// The platform refused the request and said why.
    #[error("the platform at {url} refused with HTTP {status} ({code}): {message}")]
    Refused {
        url: String,
        status: u16,
        code: wire::ErrorCode,
        message: String,
    },
    /// The receipt is not the platform's word on this packet: never mark a
    /// packet acknowledged on it.
    #[error("the receipt from {url} is not valid for this packet: {message}")]
    BadReceipt { url: String, message: String },
}

impl UplinkError {
    /// The platform's stable error code, when it refused the request.
    pub fn code(&self) -> Option<wire::ErrorCode> {
        match self {
            Self::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// A receipt whose signature and content were checked, with its bytes as
/// received (what the station stores).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReceipt {
    pub receipt: wire::Receipt,
    pub bytes: Vec<u8>,
}

/// A client for one platform.
#[derive(Debug, Clone)]
pub struct Platform {
    base: String,
    http: reqwest::Client,
}

impl Platform {
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, UplinkError> {
        let base = base_url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) || base.len() < 10 {
            return Err(UplinkError::BadUrl(base_url.to_owned()));
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| UplinkError::Unreachable {
                url: base.clone(),
                message: e.to_string(),
            })?;
        Ok(Self { base, http })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Sends `request`; the body of a success, or the refusal as an error.
    async fn send(
        &self,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Vec<u8>, UplinkError> {
        let unreachable = |e: reqwest::Error| UplinkError::Unreachable {
            url: url.to_owned(),
            message: e.to_string(),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(unreachable)?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        Err(refusal(url, status, &bytes))
    }

    /// `GET /healthz`: whether the platform is up and speaks our protocol.
    pub async fn health(&self) -> Result<wire::Health, UplinkError> {
        let url = format!("{}/healthz", self.base);
        let bytes = self.send(&url, self.http.get(&url)).await?;
        let health: wire::Health = parse(&url, &bytes)?;
        if health.protocol != wire::PROTOCOL_VERSION {
            return Err(UplinkError::Garbage {
                url,
                message: format!(
                    "protocol {} where {} is spoken",
                    health.protocol,
                    wire::PROTOCOL_VERSION
                ),
            });
        }
        Ok(health)
    }

    /// `POST /v1/stations`: registers this station with a one-time token.
    pub async fn register(
        &self,
        request: &wire::RegisterStation,
    ) -> Result<wire::StationRegistration, UplinkError> {
        let url = format!("{}/v1/stations", self.base);
        let bytes = self.send(&url, self.http.post(&url).json(request)).await?;
        parse(&url, &bytes)
    }

    /// `PUT /v1/packets/{id}`: uploads a sealed packet. The receipt is
    /// returned only if `hub_receipt_key` signed it and it names this
    /// packet id and these exact bytes; the upload may be repeated safely.
    pub async fn upload(
        &self,
        packet_id: Uuid,
        packet: Vec<u8>,
        hub_receipt_key: &[u8; 32],
    ) -> Result<VerifiedReceipt, UplinkError> {
        let url = format!("{}/v1/packets/{packet_id}", self.base);
        let sha256: [u8; 32] = Sha256::digest(&packet).into();
        let request = self
            .http
            .put(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(packet);
        let bytes = self.send(&url, request).await?;
        let receipt: wire::Receipt = parse(&url, &bytes)?;
        let bad = |message: String| UplinkError::BadReceipt {
            url: url.clone(),
            message,
        };
        receipt
            .verify(hub_receipt_key)
            .map_err(|e| bad(e.to_string()))?;
        if receipt.packet_id != packet_id || !receipt.covers(&sha256) {
            return Err(bad("it acknowledges another packet".into()));
        }
        Ok(VerifiedReceipt { receipt, bytes })
    }

    /// `GET /v1/packets/{id}`: what the platform concluded about a packet.
    pub async fn packet_status(&self, packet_id: Uuid) -> Result<wire::PacketStatus, UplinkError> {
        let url = format!("{}/v1/packets/{packet_id}", self.base);
        let bytes = self.send(&url, self.http.get(&url)).await?;
        parse(&url, &bytes)
    }
}

fn parse<T: serde::de::DeserializeOwned>(url: &str, bytes: &[u8]) -> Result<T, UplinkError> {
    serde_json::from_slice(bytes).map_err(|e| UplinkError::Garbage {
        url: url.to_owned(),
        message: e.to_string(),
    })
}

/// A refusal with the platform's error body, or a bare HTTP status when
/// the body is not one (a proxy, a captive portal).
fn refusal(url: &str, status: StatusCode, body: &[u8]) -> UplinkError {
    match serde_json::from_slice::<wire::ErrorBody>(body) {
        Ok(body) => UplinkError::Refused {
            url: url.to_owned(),
            status: status.as_u16(),
            code: body.error.code,
            message: body.error.message,
        },
        Err(_) => UplinkError::Status {
            url: url.to_owned(),
            status: status.as_u16(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_addresses_that_are_not_http() {
        for bad in ["", "hub", "ftp://hub.example", "http://"] {
            assert!(matches!(
                Platform::new(bad, Duration::from_secs(1)),
                Err(UplinkError::BadUrl(_))
            ));
        }
        let p = Platform::new("https://hub.example/", Duration::from_secs(1)).unwrap();
        assert_eq!(p.base_url(), "https://hub.example");
    }

    #[tokio::test]
    async fn nothing_listening_is_unreachable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let p = Platform::new(&format!("http://127.0.0.1:{port}"), Duration::from_secs(2)).unwrap();
        let err = p.health().await.unwrap_err();
        assert!(matches!(err, UplinkError::Unreachable { .. }), "{err}");
    }
}
