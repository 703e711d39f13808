//! The station's side of the platform protocol.
//!
//! [`wire`] holds the JSON the station and the platform exchange; the hub
//! depends on it too, so both sides always agree. [`Platform`] is the HTTP
//! client. Nothing here decides what to send: the station core does.
#![forbid(unsafe_code)]

pub mod wire;

use std::time::Duration;

use thiserror::Error;

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

    /// `GET /healthz`: whether the platform is up and speaks our protocol.
    pub async fn health(&self) -> Result<wire::Health, UplinkError> {
        let url = format!("{}/healthz", self.base);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| UplinkError::Unreachable {
                url: url.clone(),
                message: e.to_string(),
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(UplinkError::Status {
                url,
                status: status.as_u16(),
            });
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| UplinkError::Unreachable {
                url: url.clone(),
                message: e.to_string(),
            })?;
        let health: wire::Health =
            serde_json::from_slice(&bytes).map_err(|e| UplinkError::Garbage {
                url: url.clone(),
                message: e.to_string(),
            })?;
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
