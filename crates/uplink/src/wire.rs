//! The JSON the station and the platform exchange.

use serde::{Deserialize, Serialize};

/// The protocol both sides speak; a platform answering another one is refused.
pub const PROTOCOL_VERSION: u32 = 1;

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub protocol: u32,
    pub version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_round_trips_as_json() {
        let h = Health {
            status: "ok".into(),
            protocol: PROTOCOL_VERSION,
            version: "0.1.0".into(),
        };
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, r#"{"status":"ok","protocol":1,"version":"0.1.0"}"#);
        assert_eq!(serde_json::from_str::<Health>(&json).unwrap(), h);
    }
}
