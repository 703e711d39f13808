//! The station's durable state: one SQLite file in WAL mode.
//!
//! [`Store`] opens (creating if needed) and migrates the database. Schema
//! changes are forward-only migrations embedded in the binary, so a station
//! updated in the field upgrades its file on first start. This crate knows
//! rows and transactions, not devices or the network; biometrics only ever
//! reach it sealed.
//!
//! - [`users`]: staff accounts, roles, password hashing, lock-out, sessions.
//! - [`enrollments`]: the workflow's persisted state and the role rules.
//! - [`outbox`]: sealed packets waiting for, and coming back from, upload.
//! - [`audit`]: the append-only, hash-chained audit log.
//! - [`retention`]: purging payloads and the rules that freeze intake.
//!
//! Every change that matters is written in one `BEGIN IMMEDIATE`
//! transaction together with its audit entry, so the log and the data
//! never disagree. Time comes from an injected [`Clock`].
#![forbid(unsafe_code)]

/// An enum stored as fixed snake_case text, with a checked parse for values
/// read back from the (untrusted) file.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }

            pub(crate) fn from_column(
                column: &'static str,
                text: &str,
            ) -> Result<Self, $crate::StoreError> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    _ => Err($crate::StoreError::corrupt(column, "unknown value")),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod audit;
pub mod clock;
pub mod config;
pub mod enrollments;
mod error;
pub mod ids;
pub mod outbox;
pub mod retention;
pub mod users;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, Sqlite, SqlitePool, Transaction};

pub use audit::{Actor, AuditAction, AuditEntry, AuditHead, AuditProblem, AuditVerification};
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use config::{
    FreezePolicy, LockoutPolicy, PasswordHashing, RetentionPolicy, SessionPolicy, StoreConfig,
};
pub use enrollments::{ClerkStep, Enrollment};
pub use error::StoreError;
pub use ids::{EnrollmentId, PacketId, SessionId, UserId};
pub use outbox::{DuePacket, OutboxCounts, OutboxEntry, OutboxState, OutgoingPacket};
pub use retention::FreezeReason;
pub use users::{Role, Session, User};

/// The database file name inside a station's data directory.
pub const DATABASE_FILE: &str = "station.sqlite3";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// What `station doctor` reports about the database.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreHealth {
    pub path: String,
    pub journal_mode: String,
    /// The newest migration applied.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub schema_version: i64,
    pub integrity: String,
}

/// The open database. Clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
    config: Arc<StoreConfig>,
    clock: Arc<dyn Clock>,
    /// A hash to verify against when the user name is unknown, so that
    /// case takes as long as a wrong password. Made on first need.
    decoy_hash: Arc<OnceLock<String>>,
}

impl Store {
    /// Opens `path` with the default rules and the system clock.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, StoreConfig::default(), Arc::new(SystemClock)).await
    }

    /// Opens `path`, creating it if missing, and applies pending migrations.
    pub async fn open_with(
        path: &Path,
        config: StoreConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(open_err)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a power cut must never lose a sealed packet.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Deleted content (purged packets) is overwritten, not left in
            // free pages.
            .pragma("secure_delete", "ON")
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(open_err)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self {
            pool,
            path: path.to_owned(),
            config: Arc::new(config),
            clock,
            decoy_hash: Arc::new(OnceLock::new()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The store's clock's time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// A write transaction that holds SQLite's write lock from its start.
    /// Reading the audit head and appending to it then cannot interleave
    /// with another writer, and no read lock ever needs upgrading.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Runtime queries here: PRAGMAs and sqlx's own table are not part of
    /// the schema the query macros are checked against.
    pub async fn health(&self) -> Result<StoreHealth, StoreError> {
        let journal_mode: String = sqlx::query("PRAGMA journal_mode")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let integrity: String = sqlx::query("PRAGMA quick_check")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let schema_version: i64 =
            sqlx::query("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await?
                .try_get(0)?;
        Ok(StoreHealth {
            path: self.path.display().to_string(),
            journal_mode,
            schema_version,
            integrity,
        })
    }

    pub async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar!("SELECT value FROM settings WHERE key = ?1", key)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Sets a station setting and records who did it. The audit entry names
    /// the key only: a value may be a secret. A user must be an
    /// administrator.
    pub async fn set_setting(
        &self,
        actor: Actor,
        key: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        self.set_setting_noted(actor, key, value, "").await
    }

    /// [`Store::set_setting`], the audit entry saying `detail` (for a
    /// value that is no secret, e.g. a threshold's old and new value).
    pub async fn set_setting_noted(
        &self,
        actor: Actor,
        key: &str,
        value: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if let Actor::User(id) = actor {
            users::require_role(&mut tx, id, "change settings", Role::can_administer).await?;
        }
        let now = self.now();
        sqlx::query!(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value, \
             updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            key,
            value,
        )
        .execute(&mut *tx)
        .await?;
        audit::append(
            &mut tx,
            now,
            actor,
            AuditAction::SettingsChanged,
            Some(key),
            detail,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn close(self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn creates_migrates_and_reopens_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DATABASE_FILE);
        let store = Store::open(&path).await.unwrap();
        let health = store.health().await.unwrap();
        assert_eq!(health.journal_mode, "wal");
        assert_eq!(health.schema_version, 3);
        assert_eq!(health.integrity, "ok");
        store
            .set_setting(Actor::System, "platform_url", "https://hub.example")
            .await
            .unwrap();
        store
            .set_setting(Actor::System, "platform_url", "https://hub2.example")
            .await
            .unwrap();
        store.close().await;

        let store = Store::open(&path).await.unwrap();
        assert_eq!(
            store.setting("platform_url").await.unwrap().as_deref(),
            Some("https://hub2.example")
        );
        assert_eq!(store.setting("absent").await.unwrap(), None);
        assert_eq!(store.health().await.unwrap().schema_version, 3);
    }

    #[tokio::test]
    async fn a_file_that_is_not_a_database_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DATABASE_FILE);
        std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
        let err = Store::open(&path).await.unwrap_err();
        assert!(err.to_string().contains(DATABASE_FILE), "{err}");
    }
}
