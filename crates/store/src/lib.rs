//! The station's durable state: one SQLite file in WAL mode.
//!
//! [`Store`] opens (creating if needed) and migrates the database. Schema
//! changes are forward-only migrations embedded in the binary, so a station
//! updated in the field upgrades its file on first start. This crate knows
//! rows and transactions, not devices or the network; biometrics only ever
//! reach it sealed.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use thiserror::Error;

/// The database file name inside a station's data directory.
pub const DATABASE_FILE: &str = "station.sqlite3";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot open the database {path}: {source}")]
    Open { path: PathBuf, source: sqlx::Error },
    #[error("cannot upgrade the database {path}: {source}")]
    Migrate {
        path: PathBuf,
        source: sqlx::migrate::MigrateError,
    },
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// What `station doctor` reports about the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreHealth {
    pub path: String,
    pub journal_mode: String,
    /// The newest migration applied.
    pub schema_version: i64,
    pub integrity: String,
}

/// The open database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
}

impl Store {
    /// Opens `path`, creating it if missing, and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
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
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

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
        Ok(sqlx::query("SELECT value FROM settings WHERE key = ?1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| row.try_get(0))
            .transpose()?)
    }

    pub async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value, \
             updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
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
        assert_eq!(health.schema_version, 1);
        assert_eq!(health.integrity, "ok");
        store
            .set_setting("platform_url", "https://hub.example")
            .await
            .unwrap();
        store
            .set_setting("platform_url", "https://hub2.example")
            .await
            .unwrap();
        store.close().await;

        let store = Store::open(&path).await.unwrap();
        assert_eq!(
            store.setting("platform_url").await.unwrap().as_deref(),
            Some("https://hub2.example")
        );
        assert_eq!(store.setting("absent").await.unwrap(), None);
        assert_eq!(store.health().await.unwrap().schema_version, 1);
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
