//! The station's side of the platform protocol.
//!
//! [`wire`] holds the JSON the station and the platform exchange; the hub
//! depends on it too, so both sides always agree. [`Platform`] is the HTTP
//! client: health, registration, packet upload (with the receipt checked
//! before it is believed) and packet status. [`worker`] drains a station's
//! outbox through it: in order, with back-off, telling transient failures
//! from refusals, publishing its [`worker::SyncStatus`]. The outbox itself
//! is the station's: the worker sees it only through [`worker::Outbox`].
#![forbid(unsafe_code)]

pub mod wire;
pub mod worker;

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
    Status {
        url: String,
        status: u16,
        /// The `Retry-After` the answer carried, if any.
        retry_after: Option<Duration>,
    },
    #[error("the platform at {url} answered something that is not its protocol: {message}")]
    Garbage { url: String, message: String },
    /// The platform refused the request and said why.
    #[error("the platform at {url} refused with HTTP {status} ({code}): {message}")]
    Refused {
        url: String,
        status: u16,
        code: wire::ErrorCode,
        message: String,
        retry_after: Option<Duration>,
    },
    /// The receipt is not the platform's word on this packet: never mark a
    /// packet acknowledged on it.
    #[error("the receipt from {url} is not valid for this packet: {message}")]
    BadReceipt { url: String, message: String },
    /// The client's own TLS settings are unusable.
    #[error("the TLS settings are unusable: {message}")]
    Tls { message: String },
}

impl UplinkError {
    /// The platform's stable error code, when it refused the request.
    pub fn code(&self) -> Option<wire::ErrorCode> {
        match self {
            Self::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// How long the platform asked us to wait before trying again.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } | Self::Refused { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status of an answer that was not a success.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } | Self::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// How the client proves itself and whom it trusts over HTTPS.
#[derive(Default)]
pub struct TlsOptions {
    /// The station's client certificate and its private key, PEM, one
    /// buffer (zeroized when dropped).
    pub client_identity_pem: Option<zeroize::Zeroizing<Vec<u8>>>,
    /// A certificate (PEM) to trust besides the system's roots, e.g. a
    /// platform with its own CA.
    pub root_certificate_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsOptions")
            .field("client_identity", &self.client_identity_pem.is_some())
            .field("root_certificate", &self.root_certificate_pem.is_some())
            .finish()
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
        Self::with_tls(base_url, timeout, TlsOptions::default())
    }

    /// A client that shows `tls`'s client certificate and trusts its root.
    /// `timeout` bounds each whole request, body included.
    pub fn with_tls(
        base_url: &str,
        timeout: Duration,
        tls: TlsOptions,
    ) -> Result<Self, UplinkError> {
        let base = base_url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) || base.len() < 10 {
            return Err(UplinkError::BadUrl(base_url.to_owned()));
        }
        let tls_error = |what: &str, e: reqwest::Error| UplinkError::Tls {
            message: format!("{what}: {e}"),
        };
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A station talks to one platform: keep the connection.
            .pool_max_idle_per_host(4);
        if let Some(pem) = &tls.client_identity_pem {
            let identity = reqwest::Identity::from_pem(pem)
                .map_err(|e| tls_error("the client certificate", e))?;
            builder = builder.identity(identity);
        }
        if let Some(pem) = &tls.root_certificate_pem {
            let root = reqwest::Certificate::from_pem(pem)
                .map_err(|e| tls_error("the platform's certificate", e))?;
            builder = builder.add_root_certificate(root);
        }
        let http = builder
            .build()
            .map_err(|e| tls_error("the HTTPS client", e))?;
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
            message: with_causes(&e),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let bytes = response.bytes().await.map_err(unreachable)?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        Err(refusal(url, status, &bytes, retry_after))
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
        check_receipt(&url, &receipt, packet_id, &sha256, hub_receipt_key)?;
        Ok(VerifiedReceipt { receipt, bytes })
    }

    /// Whether the platform already holds `packet_id` with exactly the
    /// bytes hashing to `packet_sha256`, e.g. after an upload whose answer
    /// was lost: its receipt, checked like an upload's, or `None` when the
    /// platform has no such packet. A packet it holds with other bytes is
    /// `None` too: uploading ours then gets the platform's refusal.
    pub async fn reconcile(
        &self,
        packet_id: Uuid,
        packet_sha256: &[u8; 32],
        hub_receipt_key: &[u8; 32],
    ) -> Result<Option<VerifiedReceipt>, UplinkError> {
        let status = match self.packet_status(packet_id).await {
            Ok(status) => status,
            Err(e) if e.code() == Some(wire::ErrorCode::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        let url = format!("{}/v1/packets/{packet_id}", self.base);
        if !status.receipt.covers(packet_sha256) {
            return Ok(None);
        }
        check_receipt(
            &url,
            &status.receipt,
            packet_id,
            packet_sha256,
            hub_receipt_key,
        )?;
        // The signature covers the receipt's fields, not its JSON, so the
        // re-encoded receipt is as good as the bytes first sent.
        let bytes = serde_json::to_vec(&status.receipt).map_err(|e| UplinkError::Garbage {
            url: url.clone(),
            message: e.to_string(),
        })?;
        Ok(Some(VerifiedReceipt {
            receipt: status.receipt,
            bytes,
        }))
    }

    /// `GET /v1/packets/{id}`: what the platform concluded about a packet.
    pub async fn packet_status(&self, packet_id: Uuid) -> Result<wire::PacketStatus, UplinkError> {
        let url = format!("{}/v1/packets/{packet_id}", self.base);
        let bytes = self.send(&url, self.http.get(&url)).await?;
        parse(&url, &bytes)
    }
}

/// The error and its causes, e.g. "error sending request: operation timed
/// out": reqwest's own message alone does not say what went wrong.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// A receipt is believed only if the platform's key signed it and it names
/// this packet and these bytes.
fn check_receipt(
    url: &str,
    receipt: &wire::Receipt,
    packet_id: Uuid,
    packet_sha256: &[u8; 32],
    hub_receipt_key: &[u8; 32],
) -> Result<(), UplinkError> {
    let bad = |message: String| UplinkError::BadReceipt {
        url: url.to_owned(),
        message,
    };
    receipt
        .verify(hub_receipt_key)
        .map_err(|e| bad(e.to_string()))?;
    if receipt.packet_id != packet_id || !receipt.covers(packet_sha256) {
        return Err(bad("it acknowledges another packet".into()));
    }
    Ok(())
}

/// `Retry-After` as delay-seconds or as an HTTP date (a proxy in front of
/// the platform may send either); a date in the past means now. A value we
/// cannot read is ignored, and back-off applies.
fn parse_retry_after(value: &str) -> Option<Duration> {
    parse_retry_after_at(value, std::time::SystemTime::now())
}

fn parse_retry_after_at(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

fn parse<T: serde::de::DeserializeOwned>(url: &str, bytes: &[u8]) -> Result<T, UplinkError> {
    serde_json::from_slice(bytes).map_err(|e| UplinkError::Garbage {
        url: url.to_owned(),
        message: e.to_string(),
    })
}

/// A refusal with the platform's error body, or a bare HTTP status when
/// the body is not one (a proxy, a captive portal).
fn refusal(
    url: &str,
    status: StatusCode,
    body: &[u8],
    retry_after: Option<Duration>,
) -> UplinkError {
    match serde_json::from_slice::<wire::ErrorBody>(body) {
        Ok(body) => UplinkError::Refused {
            url: url.to_owned(),
            status: status.as_u16(),
            code: body.error.code,
            message: body.error.message,
            retry_after,
        },
        Err(_) => UplinkError::Status {
            url: url.to_owned(),
            status: status.as_u16(),
            retry_after,
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

    #[test]
    fn retry_after_is_read_as_seconds_or_a_date() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("soon"), None);
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(
            parse_retry_after_at("Wed, 21 Oct 2015 07:30:30 GMT", now),
            Some(Duration::from_secs(150))
        );
        // Already past: no reason to wait.
        assert_eq!(
            parse_retry_after_at("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after_at("Wed, 32 Oct 2015 07:00:00 GMT", now),
            None
        );
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
