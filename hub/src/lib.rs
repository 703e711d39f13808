//! The reference platform: what a station uploads to.
//!
//! It exists so stations can be tested and demonstrated end to end against a
//! real HTTP peer. It speaks exactly the wire types of `uplink::wire`, so the
//! two sides cannot drift apart.
//!
//! The hub trusts nothing a station claims. A packet is parsed, its
//! station looked up, its signature verified with that station's registered
//! key, and only then opened with the hub's HPKE secret; the evidence inside
//! is re-checked ([`reverify`]: Passive Authentication against the hub's own
//! CSCA list, the face match with the hub's own models) and the result
//! stored with a receipt signed by the hub's receipt key.
#![forbid(unsafe_code)]

mod api;
pub mod db;
pub mod reverify;
pub mod tls;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use biometrics::{AnalyzerConfig, FaceAnalyzer, ModelCatalog};
use ed25519_dalek::SigningKey;
use emrtd::passive::{PassiveError, TrustStore};
use enrollment::packet::{PlatformKeyPair, PlatformSecretKey};
use rand::RngCore as _;
use thiserror::Error;
use uplink::wire;
use zeroize::Zeroizing;

pub use api::router;
pub use db::{DbError, HubDb, PacketRow};

/// Why the hub cannot start or answer.
#[derive(Debug, Error)]
pub enum HubError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the trust store {path} cannot be loaded: {source}")]
    TrustStore { path: PathBuf, source: PassiveError },
    #[error("the stored hub key is unusable")]
    BadStoredKey,
    #[error("the stored {0} is unreadable: {1}")]
    StoredJson(&'static str, serde_json::Error),
}

/// Where the face models come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaceModels {
    /// The models shipped in the repository's `models/`.
    Bundled,
    /// A model catalogue directory (`models.toml` and the files).
    Dir(PathBuf),
    /// No face re-check: every face verdict is `not_checked`.
    Disabled,
}

/// How to run a hub.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// `sqlite:PATH` (created 0600 if missing) or `sqlite::memory:`.
    pub db_url: String,
    /// CSCA certificates and master lists; without them Passive
    /// Authentication can at best say `untrusted`.
    pub trust_store: Option<PathBuf>,
    pub face_models: FaceModels,
}

impl HubConfig {
    /// A throw-away hub: in-memory database, no trust store, no face models.
    pub fn in_memory() -> Self {
        Self {
            db_url: "sqlite::memory:".into(),
            trust_store: None,
            face_models: FaceModels::Disabled,
        }
    }
}

/// The running platform's state. Clones share it.
#[derive(Clone, Debug)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    db: HubDb,
    platform: PlatformKeyPair,
    receipt_key: SigningKey,
    trust: Option<TrustStore>,
    face_models: FaceModels,
    /// Loaded on first need, once; `None` if the models cannot be loaded.
    face: OnceLock<Option<FaceAnalyzer>>,
    /// Re-verification is CPU-bound: at most this many run at once.
    checks: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("platform", &self.platform)
            .field("trust_cscas", &self.trust.as_ref().map(TrustStore::len))
            .field("face_models", &self.face_models)
            .finish_non_exhaustive()
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn random32() -> Zeroizing<[u8; 32]> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(&mut bytes[..]);
    bytes
}

/// Creates a one-time onboarding token valid for `ttl` and stores its
/// hash. The token itself is shown once, here, and never stored.
pub async fn create_token(db: &HubDb, ttl: Duration) -> Result<String, DbError> {
    let token = format!("onb_{}", hex::encode(*random32()));
    let now = now_unix_ms();
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    db.insert_token(&db::token_hash(&token), now, now.saturating_add(ttl_ms))
        .await?;
    Ok(token)
}

impl Hub {
    /// Opens (or creates) the hub's database, its keys and its trust store.
    pub async fn open(config: HubConfig) -> Result<Self, HubError> {
        let db = HubDb::open(&config.db_url).await?;
        let keys = db
            .keys_or_insert(
                || db::StoredKeys {
                    hpke_secret: random32(),
                    receipt_seed: random32(),
                },
                now_unix_ms(),
            )
            .await?;
        let secret =
            PlatformSecretKey::from_bytes(&keys.hpke_secret).map_err(|_| HubError::BadStoredKey)?;
        let platform = PlatformKeyPair::from_secret(secret);
        let receipt_key = SigningKey::from_bytes(&keys.receipt_seed);
        let trust = match &config.trust_store {
            Some(path) => {
                let store = TrustStore::load_dir(path).map_err(|source| HubError::TrustStore {
                    path: path.clone(),
                    source,
                })?;
                tracing::info!(cscas = store.len(), path = %path.display(), "trust store loaded");
                Some(store)
            }
            None => None,
        };
        let parallel = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                platform,
                receipt_key,
                trust,
                face_models: config.face_models,
                face: OnceLock::new(),
                checks: tokio::sync::Semaphore::new(parallel),
            }),
        })
    }

    pub fn db(&self) -> &HubDb {
        &self.inner.db
    }

    /// The X25519 key stations seal their packets to.
    pub fn hpke_public_key(&self) -> [u8; 32] {
        self.inner.platform.public_bytes()
    }

    /// The Ed25519 key that verifies the hub's receipts.
    pub fn receipt_key(&self) -> [u8; 32] {
        self.inner.receipt_key.verifying_key().to_bytes()
    }

    /// Creates a one-time onboarding token (see [`create_token`]).
    pub async fn create_token(&self, ttl: Duration) -> Result<String, DbError> {
        create_token(&self.inner.db, ttl).await
    }

    /// Loads the face models now, on a blocking thread, so the first
    /// packet does not wait for them.
    pub async fn preload_face_models(&self) {
        let inner = self.inner.clone();
        let _ = tokio::task::spawn_blocking(move || {
            inner.face();
        })
        .await;
    }
}

impl Inner {
    fn face(&self) -> Option<&FaceAnalyzer> {
        self.face
            .get_or_init(|| {
                let loaded = match &self.face_models {
                    FaceModels::Disabled => return None,
                    FaceModels::Bundled => FaceAnalyzer::load_bundled(),
                    FaceModels::Dir(dir) => ModelCatalog::open(dir)
                        .map_err(biometrics::FaceError::from)
                        .and_then(|c| FaceAnalyzer::load(&c, AnalyzerConfig::default())),
                };
                match loaded {
                    Ok(analyzer) => {
                        tracing::info!("face models loaded");
                        Some(analyzer)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "face models unavailable; face matches will be not_checked");
                        None
                    }
                }
            })
            .as_ref()
    }
}

/// A stored packet as the status endpoint and `hub packets list` show it.
pub fn packet_status(row: &PacketRow) -> Result<wire::PacketStatus, HubError> {
    let receipt: wire::Receipt =
        serde_json::from_slice(&row.receipt).map_err(|e| HubError::StoredJson("receipt", e))?;
    let reverification = row
        .reverification
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| HubError::StoredJson("reverification", e))?;
    Ok(wire::PacketStatus {
        packet_id: row.packet_id,
        station_id: row.station_id.clone(),
        status: receipt.status,
        reason: row.reason.clone(),
        packet_sha256: row.sha256,
        packet_len: row.len,
        created_at_unix_ms: row.created_at_unix_ms,
        received_at_unix_ms: row.received_at_unix_ms,
        reverification,
        receipt,
    })
}

/// Serves the platform over HTTPS with optional client certificates (see
/// [`tls`]) on `listener` until `shutdown` resolves. Packets then need the
/// client certificate their station registered.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    hub: Hub,
    config: Arc<rustls::ServerConfig>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tls::serve_tls(listener, config, router(hub), shutdown).await
}

/// Serves the platform on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    hub: Hub,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(hub))
        .with_graceful_shutdown(shutdown)
        .await
}
