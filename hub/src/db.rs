//! The hub's SQLite database: its keys, onboarding tokens, registered
//! stations and every packet received with the verdicts and receipt.
//!
//! Queries are checked at run time (`sqlx::query`), against the schema of
//! `hub/migrations`, which is applied on open.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sha2::{Digest as _, Sha256};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row as _, SqlitePool};
use thiserror::Error;
use uuid::Uuid;
use zeroize::Zeroizing;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// What can go wrong with the hub's database.
#[derive(Debug, Error)]
pub enum DbError {
    #[error("`{url}` is not a SQLite database URL: {source}")]
    BadUrl { url: String, source: sqlx::Error },
    #[error("cannot create the database file {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the database `{url}`: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error("cannot migrate the database `{url}`: {source}")]
    Migrate {
        url: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error("the database holds an unreadable value in {0}")]
    Corrupt(&'static str),
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
}

/// The keys the hub was created with, as stored.
pub struct StoredKeys {
    pub hpke_secret: Zeroizing<[u8; 32]>,
    pub receipt_seed: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for StoredKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredKeys(<secret>)")
    }
}

/// Why a token cannot register a station.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    Unknown,
    Expired,
    Used,
}

/// A registered station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationRow {
    pub station_id: String,
    pub public_key: [u8; 32],
    pub tls_cert_sha256: Option<[u8; 32]>,
    pub registered_at_unix_ms: u64,
}

/// One received packet, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketRow {
    pub packet_id: Uuid,
    pub station_id: String,
    pub sha256: [u8; 32],
    pub len: u64,
    pub created_at_unix_ms: u64,
    pub status: String,
    pub reason: Option<String>,
    /// `uplink::wire::Reverification` as JSON.
    pub reverification: Option<String>,
    /// The receipt exactly as first sent.
    pub receipt: Vec<u8>,
    pub received_at_unix_ms: u64,
}

/// A packet to store.
#[derive(Debug)]
pub struct NewPacket<'a> {
    pub packet_id: Uuid,
    pub station_id: &'a str,
    pub sha256: [u8; 32],
    pub bytes: &'a [u8],
    pub created_at_unix_ms: u64,
    pub status: &'a str,
    pub reason: Option<&'a str>,
    pub reverification: Option<&'a str>,
    pub receipt: &'a [u8],
    pub received_at_unix_ms: u64,
}

/// The open database. Clones share the pool.
#[derive(Debug, Clone)]
pub struct HubDb {
    pool: SqlitePool,
}

/// A stored time, in ms since the epoch; SQLite integers are signed.
fn to_sql(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

fn from_sql(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or(0)
}

fn array32(bytes: &[u8], what: &'static str) -> Result<[u8; 32], DbError> {
    bytes.try_into().map_err(|_| DbError::Corrupt(what))
}

/// SHA-256 of an onboarding token, as kept at rest.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.trim().as_bytes()).into()
}

impl HubDb {
    /// Opens the database at `url` (`sqlite:PATH`, `sqlite://PATH` or
    /// `sqlite::memory:`), creating the file with mode 0600 when it does not
    /// exist, and applies pending migrations.
    pub async fn open(url: &str) -> Result<Self, DbError> {
        let options = SqliteConnectOptions::from_str(url).map_err(|source| DbError::BadUrl {
            url: url.to_owned(),
            source,
        })?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if !in_memory {
            create_private(options.get_filename())?;
        }
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // A receipt is only sent after its row is durable.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let mut pool = SqlitePoolOptions::new().max_connections(4);
        if in_memory {
            // The database lives only as long as a connection to it.
            pool = pool
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        let pool = pool
            .connect_with(options)
            .await
            .map_err(|source| DbError::Open {
                url: url.to_owned(),
                source,
            })?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|source| DbError::Migrate {
                url: url.to_owned(),
                source,
            })?;
        Ok(Self { pool })
    }

    /// The hub's keys, made by `generate` and stored on the first call.
    /// Two hubs starting on one database at once keep the same keys.
    pub async fn keys_or_insert(
        &self,
        generate: impl FnOnce() -> StoredKeys,
        now_unix_ms: u64,
    ) -> Result<StoredKeys, DbError> {
        if let Some(keys) = self.keys().await? {
            return Ok(keys);
        }
        let fresh = generate();
        sqlx::query(
            "INSERT OR IGNORE INTO hub_keys (id, hpke_secret, receipt_seed, created_at_unix_ms)
             VALUES (1, ?, ?, ?)",
        )
        .bind(&fresh.hpke_secret[..])
        .bind(&fresh.receipt_seed[..])
        .bind(to_sql(now_unix_ms))
        .execute(&self.pool)
        .await?;
        self.keys().await?.ok_or(DbError::Corrupt("hub_keys"))
    }

    async fn keys(&self) -> Result<Option<StoredKeys>, DbError> {
        let Some(row) = sqlx::query("SELECT hpke_secret, receipt_seed FROM hub_keys WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let hpke = Zeroizing::new(row.try_get::<Vec<u8>, _>(0)?);
        let seed = Zeroizing::new(row.try_get::<Vec<u8>, _>(1)?);
        Ok(Some(StoredKeys {
            hpke_secret: Zeroizing::new(array32(&hpke, "hub_keys.hpke_secret")?),
            receipt_seed: Zeroizing::new(array32(&seed, "hub_keys.receipt_seed")?),
        }))
    }

    /// Stores a new onboarding token's hash.
    pub async fn insert_token(
        &self,
        token_sha256: &[u8; 32],
        now_unix_ms: u64,
        expires_at_unix_ms: u64,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO onboarding_tokens (token_sha256, created_at_unix_ms, expires_at_unix_ms)
             VALUES (?, ?, ?)",
        )
        .bind(&token_sha256[..])
        .bind(to_sql(now_unix_ms))
        .bind(to_sql(expires_at_unix_ms))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Uses up `token_sha256` and registers `station` with it, in one
    /// transaction: a token registers at most one station, even when two
    /// requests race.
    pub async fn register_station(
        &self,
        token_sha256: &[u8; 32],
        station: &StationRow,
    ) -> Result<Result<(), TokenProblem>, DbError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query(
            "SELECT expires_at_unix_ms, used_at_unix_ms FROM onboarding_tokens
             WHERE token_sha256 = ?",
        )
        .bind(&token_sha256[..])
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Err(TokenProblem::Unknown));
        };
        let expires: i64 = row.try_get(0)?;
        let used: Option<i64> = row.try_get(1)?;
        if used.is_some() {
            return Ok(Err(TokenProblem::Used));
        }
        if from_sql(expires) <= station.registered_at_unix_ms {
            return Ok(Err(TokenProblem::Expired));
        }
        sqlx::query(
            "INSERT INTO stations (station_id, public_key, tls_cert_sha256, registered_at_unix_ms)
             VALUES (?, ?, ?, ?)",
        )
        .bind(&station.station_id)
        .bind(&station.public_key[..])
        .bind(station.tls_cert_sha256.as_ref().map(|h| h.to_vec()))
        .bind(to_sql(station.registered_at_unix_ms))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE onboarding_tokens SET used_at_unix_ms = ?, station_id = ?
             WHERE token_sha256 = ?",
        )
        .bind(to_sql(station.registered_at_unix_ms))
        .bind(&station.station_id)
        .bind(&token_sha256[..])
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    pub async fn station(&self, station_id: &str) -> Result<Option<StationRow>, DbError> {
        let Some(row) = sqlx::query(
            "SELECT station_id, public_key, tls_cert_sha256, registered_at_unix_ms
             FROM stations WHERE station_id = ?",
        )
        .bind(station_id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let key: Vec<u8> = row.try_get(1)?;
        let cert: Option<Vec<u8>> = row.try_get(2)?;
        Ok(Some(StationRow {
            station_id: row.try_get(0)?,
            public_key: array32(&key, "stations.public_key")?,
            tls_cert_sha256: cert
                .map(|c| array32(&c, "stations.tls_cert_sha256"))
                .transpose()?,
            registered_at_unix_ms: from_sql(row.try_get(3)?),
        }))
    }

    /// Stores a packet. `Ok(false)` when a packet with this id is already
    /// stored (nothing is written then).
    pub async fn insert_packet(&self, packet: &NewPacket<'_>) -> Result<bool, DbError> {
        let result = sqlx::query(
            "INSERT INTO packets (packet_id, station_id, sha256, bytes, created_at_unix_ms,
                                  status, reason, reverification, receipt, received_at_unix_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (packet_id) DO NOTHING",
        )
        .bind(packet.packet_id.to_string())
        .bind(packet.station_id)
        .bind(&packet.sha256[..])
        .bind(packet.bytes)
        .bind(to_sql(packet.created_at_unix_ms))
        .bind(packet.status)
        .bind(packet.reason)
        .bind(packet.reverification)
        .bind(packet.receipt)
        .bind(to_sql(packet.received_at_unix_ms))
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    pub async fn packet(&self, packet_id: Uuid) -> Result<Option<PacketRow>, DbError> {
        let row = sqlx::query(
            "SELECT packet_id, station_id, sha256, length(bytes), created_at_unix_ms, status,
                    reason, reverification, receipt, received_at_unix_ms
             FROM packets WHERE packet_id = ?",
        )
        .bind(packet_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| packet_row(&row)).transpose()
    }

    /// Every packet, oldest first.
    pub async fn packets(&self) -> Result<Vec<PacketRow>, DbError> {
        let rows = sqlx::query(
            "SELECT packet_id, station_id, sha256, length(bytes), created_at_unix_ms, status,
                    reason, reverification, receipt, received_at_unix_ms
             FROM packets ORDER BY received_at_unix_ms, packet_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(packet_row).collect()
    }

    /// Closes the pool, waiting for its connections.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn packet_row(row: &sqlx::sqlite::SqliteRow) -> Result<PacketRow, DbError> {
    let id: String = row.try_get(0)?;
    let sha: Vec<u8> = row.try_get(2)?;
    let len: i64 = row.try_get(3)?;
    Ok(PacketRow {
        packet_id: Uuid::parse_str(&id).map_err(|_| DbError::Corrupt("packets.packet_id"))?,
        station_id: row.try_get(1)?,
        sha256: array32(&sha, "packets.sha256")?,
        len: from_sql(len),
        created_at_unix_ms: from_sql(row.try_get(4)?),
        status: row.try_get(5)?,
        reason: row.try_get(6)?,
        reverification: row.try_get(7)?,
        receipt: row.try_get(8)?,
        received_at_unix_ms: from_sql(row.try_get(9)?),
    })
}

/// Creates `path` readable and writable by its owner only, unless it
/// exists. SQLite gives its `-wal` and `-shm` files the same mode.
fn create_private(path: &Path) -> Result<(), DbError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(DbError::Create {
            path: path.to_owned(),
            source,
        }),
    }
}
