//! The station's registration with the platform, and the client that
//! talks to it.
//!
//! `station register --hub URL --token T` presents the station's Ed25519
//! public key and the SHA-256 of its TLS client certificate (a self-made
//! certificate, `tls-client.pem` in the data directory, made on first
//! need) with a one-time token. The platform answers with the station id
//! it assigned and its own keys. All of it is kept in the store's
//! settings ([`REGISTRATION_SETTING`]), one JSON value written in one
//! transaction with its audit entry.
//!
//! From then on the platform's id is the station's id: packets are sealed
//! under it and to the platform's HPKE key ([`crate::identity::for_sealing`]).
//! Packets sealed before registration keep the id and platform key they
//! were sealed with (nothing can reseal them: the station cannot open its
//! own packets); `station register` says how many there are.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use store::{Actor, AuditAction, Store};
use uplink::{Platform, TlsOptions, UplinkError, wire};
use zeroize::Zeroizing;

use crate::accounts::{open_store, store_failure};
use crate::failure::{Code, Failure};
use crate::identity::{self, StationIdentity};
use crate::paths::StationPaths;

/// The store setting that holds the [`Registration`] as JSON.
pub const REGISTRATION_SETTING: &str = "platform_registration";
/// The station's TLS client certificate and its key, PEM, owner-only.
pub const TLS_IDENTITY_FILE: &str = "tls-client.pem";
/// How long one request to the platform may take, body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// What registration gave the station. Public values only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub hub_url: String,
    /// The id the platform assigned; it goes into every packet header.
    pub station_id: String,
    /// The platform's X25519 key, hex: the HPKE recipient of every packet.
    pub hub_hpke_public_key: String,
    /// The platform's Ed25519 key, hex, that verifies its receipts.
    pub hub_receipt_key: String,
    pub registered_at_unix_ms: u64,
    /// SHA-256 of the TLS client certificate registered, hex.
    pub tls_client_cert_sha256: String,
    /// A certificate (PEM) trusted for the platform besides the system's.
    pub hub_ca_pem: Option<String>,
    /// The packet format versions the platform said it reads when the
    /// station registered; none from a platform (or a registration) older
    /// than the field, or after the address changed: version 1 only, until
    /// `/healthz` says more ([`refresh_packet_versions`]).
    #[serde(default)]
    pub packet_versions: Vec<u16>,
}

impl Registration {
    pub fn receipt_key(&self) -> Result<[u8; 32], Failure> {
        hex32(&self.hub_receipt_key, "the platform's receipt key")
    }

    pub fn hpke_key(&self) -> Result<[u8; 32], Failure> {
        hex32(&self.hub_hpke_public_key, "the platform's HPKE key")
    }
}

fn hex32(text: &str, what: &str) -> Result<[u8; 32], Failure> {
    identity::from_hex(text).map_err(|why| {
        Failure::new(
            Code::DatabaseUnavailable,
            format!("{what} in the registration: {why}"),
        )
    })
}

/// The registration in `store`, if the station has registered.
pub async fn registration(store: &Store) -> Result<Option<Registration>, Failure> {
    let Some(text) = store
        .setting(REGISTRATION_SETTING)
        .await
        .map_err(store_failure)?
    else {
        return Ok(None);
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        Failure::new(
            Code::DatabaseUnavailable,
            format!("the stored registration is unreadable: {e}"),
        )
    })
}

/// The registration, or `NOT_REGISTERED`.
pub async fn require_registration(store: &Store) -> Result<Registration, Failure> {
    registration(store)
        .await?
        .ok_or_else(|| Failure::new(Code::NotRegistered, "no platform registration"))
}

/// The station's TLS client identity: the PEM (certificate then key) and
/// the certificate's SHA-256. Made on first need, owner-only.
pub fn tls_identity(paths: &StationPaths) -> Result<(Zeroizing<Vec<u8>>, [u8; 32]), Failure> {
    paths.ensure_data_dir()?;
    let path = paths.data_dir.join(TLS_IDENTITY_FILE);
    if !path.exists() {
        let made = rcgen::generate_simple_self_signed(vec!["enrollment-station".to_owned()])
            .map_err(|e| Failure::new(Code::Internal, format!("making the TLS identity: {e}")))?;
        let mut pem = Zeroizing::new(made.cert.pem().into_bytes());
        pem.extend_from_slice(made.signing_key.serialize_pem().as_bytes());
        if identity::create_exclusive(&path, &pem)? {
            tracing::info!("TLS client certificate created");
        }
    }
    identity::check_owner_only(&path)?;
    let pem = Zeroizing::new(std::fs::read(&path).map_err(|e| tls_unusable(&path, e))?);
    let cert = CertificateDer::from_pem_slice(&pem).map_err(|e| tls_unusable(&path, e))?;
    let fingerprint: [u8; 32] = Sha256::digest(cert.as_ref()).into();
    Ok((pem, fingerprint))
}

fn tls_unusable(path: &Path, e: impl std::fmt::Display) -> Failure {
    Failure::new(Code::TlsIdentityInvalid, format!("{}: {e}", path.display()))
}

/// A client for `url`, showing the station's client certificate and
/// trusting `ca_pem` too.
pub fn client(
    paths: &StationPaths,
    url: &str,
    ca_pem: Option<&str>,
    timeout: Duration,
) -> Result<Platform, Failure> {
    let (identity, _) = tls_identity(paths)?;
    let tls = TlsOptions {
        client_identity_pem: Some(identity),
        root_certificate_pem: ca_pem.map(|pem| pem.as_bytes().to_vec()),
    };
    Platform::with_tls(url, timeout, tls).map_err(uplink_failure)
}

/// How long asking the platform which packet versions it reads may take
/// before uploading starts without the answer.
const VERSIONS_TIMEOUT: Duration = Duration::from_secs(5);

/// The packet versions the platform last said it reads at `/healthz`,
/// with the address that said it: `{"hub_url": …, "versions": […]}`. Kept
/// apart from the registration so that learning them never rewrites it.
pub const PACKET_VERSIONS_SETTING: &str = "platform_packet_versions";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct HeardVersions {
    hub_url: String,
    versions: Vec<u16>,
}

/// The packet versions the registered platform reads: what it last said
/// at `/healthz` at its current address, else what it said at
/// registration; nothing known means version 1 only.
async fn platform_versions(store: &Store, registration: &Registration) -> Vec<u16> {
    let heard = store
        .setting(PACKET_VERSIONS_SETTING)
        .await
        .ok()
        .flatten()
        .and_then(|text| serde_json::from_str::<HeardVersions>(&text).ok())
        .filter(|h| h.hub_url == registration.hub_url);
    match heard {
        Some(h) => h.versions,
        None => registration.packet_versions.clone(),
    }
}

/// The newest packet format both the station and its platform read.
pub async fn packet_version(store: &Store, registration: &Registration) -> u16 {
    newest_common(&platform_versions(store, registration).await)
}

/// A platform's list as kept: ascending, once each; a platform that says
/// nothing reads version 1.
fn normalise(versions: &mut Vec<u16>) {
    if versions.is_empty() {
        versions.push(1);
    }
    versions.sort_unstable();
    versions.dedup();
}

fn newest_common(platform: &[u16]) -> u16 {
    enrollment::packet::FORMAT_VERSIONS
        .into_iter()
        .rev()
        .find(|v| platform.contains(v))
        .unwrap_or(1)
}

/// Asks the platform which packet format versions it reads (`/healthz`)
/// and keeps the answer ([`PACKET_VERSIONS_SETTING`]), so a station
/// registered before its platform was upgraded starts sealing the newer
/// format, and one whose platform went back to an older build goes back
/// too: a platform that answers without saying reads version 1 only. Best
/// effort: a platform that cannot be reached changes nothing, and packets
/// keep the version they were sealed in. Call it holding `sync.lock`, so
/// one process writes the answer.
pub async fn refresh_packet_versions(
    paths: &StationPaths,
    store: &Store,
    registration: &Registration,
) {
    let platform = match registered_client(paths, registration, VERSIONS_TIMEOUT) {
        Ok(p) => p,
        Err(e) => {
            tracing::debug!("the platform's packet versions were not asked: {e}");
            return;
        }
    };
    let mut versions = match platform.health().await {
        Ok(health) => health.packet_versions,
        Err(e) => {
            tracing::debug!("the platform's packet versions stay as they were: {e}");
            return;
        }
    };
    normalise(&mut versions);
    let known = platform_versions(store, registration).await;
    if versions == known {
        return;
    }
    let heard = HeardVersions {
        hub_url: registration.hub_url.clone(),
        versions,
    };
    let detail = format!(
        "packet versions {known:?} → {:?} from {}/healthz",
        heard.versions, heard.hub_url
    );
    let stored = match serde_json::to_string(&heard) {
        Ok(text) => store
            .set_setting_noted(Actor::System, PACKET_VERSIONS_SETTING, &text, &detail)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match stored {
        Ok(()) => tracing::info!("{detail}"),
        Err(e) => tracing::warn!("the platform's packet versions were not kept: {e}"),
    }
}

/// The client for the registered platform.
pub fn registered_client(
    paths: &StationPaths,
    registration: &Registration,
    timeout: Duration,
) -> Result<Platform, Failure> {
    client(
        paths,
        &registration.hub_url,
        registration.hub_ca_pem.as_deref(),
        timeout,
    )
}

/// The catalogue code for a failed exchange with the platform.
pub fn uplink_failure(e: UplinkError) -> Failure {
    let code = match &e {
        UplinkError::BadUrl(_) => Code::InvalidArgument,
        UplinkError::Tls { .. } => Code::TlsIdentityInvalid,
        UplinkError::Unreachable { .. } => Code::PlatformUnreachable,
        UplinkError::Garbage { .. } => Code::PlatformProtocol,
        UplinkError::BadReceipt { .. } => Code::ReceiptInvalid,
        UplinkError::Status { status, .. } | UplinkError::Refused { status, .. }
            if *status >= 500 =>
        {
            Code::PlatformUnavailable
        }
        UplinkError::Refused {
            code: wire::ErrorCode::InvalidToken | wire::ErrorCode::TokenUsed,
            ..
        } => Code::RegistrationRefused,
        UplinkError::Refused { .. } => Code::PacketRejected,
        UplinkError::Status { .. } => Code::PlatformProtocol,
    };
    Failure::new(code, e)
}

/// The options of `station register`.
#[derive(Debug, clap::Args)]
pub struct RegisterArgs {
    /// The platform's address, e.g. https://hub.example:8443.
    #[arg(long)]
    pub hub: String,
    /// The one-time onboarding token from the platform's administrator.
    #[arg(long, env = "STATION_HUB_TOKEN")]
    pub token: String,
    /// A certificate (PEM) to trust for the platform besides the system's,
    /// e.g. a platform with a private CA.
    #[arg(long)]
    pub hub_ca: Option<PathBuf>,
}

/// `station register`: registers this station and stores what the
/// platform gave. A station registers once.
pub async fn register(args: RegisterArgs, paths: &StationPaths) -> Result<Value, Failure> {
    let station = StationIdentity::load_or_create(paths)?;
    let ca_pem = match &args.hub_ca {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
            Failure::new(
                Code::TlsIdentityInvalid,
                format!("--hub-ca {}: {e}", path.display()),
            )
        })?),
        None => None,
    };
    let store = open_store(paths).await?;
    let result = register_with(&store, paths, &station, &args, ca_pem).await;
    store.close().await;
    result
}

async fn register_with(
    store: &Store,
    paths: &StationPaths,
    station: &StationIdentity,
    args: &RegisterArgs,
    ca_pem: Option<String>,
) -> Result<Value, Failure> {
    if let Some(existing) = registration(store).await? {
        return Err(Failure::new(
            Code::AlreadyRegistered,
            format!(
                "registered as {} with {}",
                existing.station_id, existing.hub_url
            ),
        ));
    }
    let (_, fingerprint) = tls_identity(paths)?;
    let platform = client(paths, &args.hub, ca_pem.as_deref(), REQUEST_TIMEOUT)?;
    platform.health().await.map_err(uplink_failure)?;
    let answer = platform
        .register(&wire::RegisterStation {
            token: args.token.trim().to_owned(),
            station_public_key: station.verifying_key().to_bytes(),
            tls_client_cert_sha256: Some(fingerprint),
        })
        .await
        .map_err(uplink_failure)?;
    // Checked before anything is stored: a key packets cannot be sealed
    // to, or an id headers cannot carry, is the platform's error.
    enrollment::packet::PlatformPublicKey::from_bytes(&answer.hub_hpke_public_key)
        .map_err(|e| Failure::new(Code::PlatformProtocol, format!("its HPKE key: {e}")))?;
    enrollment::packet::StationId::new(answer.station_id.clone())
        .map_err(|e| Failure::new(Code::PlatformProtocol, format!("its station id: {e}")))?;
    let registration = Registration {
        hub_url: platform.base_url().to_owned(),
        station_id: answer.station_id.clone(),
        hub_hpke_public_key: identity::to_hex(&answer.hub_hpke_public_key),
        hub_receipt_key: identity::to_hex(&answer.hub_receipt_key),
        registered_at_unix_ms: answer.registered_at_unix_ms,
        tls_client_cert_sha256: identity::to_hex(&fingerprint),
        hub_ca_pem: ca_pem,
        packet_versions: answer.packet_versions.clone(),
    };
    let text = serde_json::to_string(&registration)
        .map_err(|e| Failure::new(Code::Internal, format!("registration: {e}")))?;
    store
        .set_setting(Actor::System, REGISTRATION_SETTING, &text)
        .await
        .map_err(store_failure)?;
    store
        .set_setting(
            Actor::System,
            crate::doctor::PLATFORM_URL_SETTING,
            &registration.hub_url,
        )
        .await
        .map_err(store_failure)?;
    store
        .record_audit(
            Actor::System,
            AuditAction::SettingsChanged,
            Some(REGISTRATION_SETTING),
            &format!(
                "registered with {} as {} (was {})",
                registration.hub_url,
                registration.station_id,
                station.id.as_str()
            ),
        )
        .await
        .map_err(store_failure)?;
    tracing::info!(station = %registration.station_id, hub = %registration.hub_url, "registered");

    let earlier = sealed_before(store, &registration.station_id).await?;
    Ok(json!({
        "registration": {
            "station_id": registration.station_id,
            "previous_station_id": station.id.as_str(),
            "hub_url": registration.hub_url,
            "hub_hpke_public_key": registration.hub_hpke_public_key,
            "hub_receipt_key": registration.hub_receipt_key,
            "tls_client_cert_sha256": registration.tls_client_cert_sha256,
            "registered_at_unix_ms": registration.registered_at_unix_ms,
        },
        "packets_sealed_before_registration": {
            "count": earlier,
            "note": if earlier == 0 {
                "none: every packet from now on carries the platform's station id".to_owned()
            } else {
                format!(
                    "{earlier} queued packet(s) carry the station id {} and were sealed to the \
                     platform key configured then; they cannot be resealed. A platform that \
                     does not know that id refuses them, and they show as rejected in \
                     `station queue list`.",
                    station.id.as_str()
                )
            },
        },
    }))
}

/// Queued packets whose header carries another station id than `id`.
async fn sealed_before(store: &Store, id: &str) -> Result<u64, Failure> {
    let entries = store
        .outbox_entries(u32::MAX)
        .await
        .map_err(store_failure)?;
    Ok(entries
        .iter()
        .filter(|e| e.station_id != id && e.state == store::OutboxState::Queued)
        .count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_version_both_read_is_written() {
        let kept = |mut v: Vec<u16>| {
            normalise(&mut v);
            v
        };
        assert_eq!(kept(vec![]), [1]);
        assert_eq!(kept(vec![2, 1, 2]), [1, 2]);
        assert_eq!(newest_common(&kept(vec![])), 1);
        assert_eq!(newest_common(&[1, 2]), 2);
        // A platform ahead of the station: the newest the station knows.
        assert_eq!(newest_common(&[1, 2, 3]), 2);
        // One that reads only a version the station does not write.
        assert_eq!(newest_common(&[3]), 1);
    }
}
