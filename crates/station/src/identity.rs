//! The station's identity and the keys a packet needs.
//!
//! On first use in a data directory the station makes its Ed25519 signing
//! key (`station.key`, the 32-byte seed, owner-only) and its id
//! (`station.id`). The platform's X25519 public key, which packets are
//! sealed to, is `platform.pub` (32 raw bytes or 64 hex digits) until
//! the station registers with the platform; from then on the platform's
//! station id and key, kept in the store, are used ([`for_sealing`]).
//!
//! Key bytes live in zeroizing buffers and are never logged or printed;
//! only the public key and the id are reported.

use std::io::Write;
use std::path::{Path, PathBuf};

use enrollment::packet::{PlatformPublicKey, StationId, StationKeys, StationVerifyingKey};
use rand::RngCore;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::failure::{Code, Failure};
use crate::paths::StationPaths;

pub const KEY_FILE: &str = "station.key";
pub const ID_FILE: &str = "station.id";
pub const PLATFORM_KEY_FILE: &str = "platform.pub";

/// Who this station is: its id and signing key.
#[derive(Debug)]
pub struct StationIdentity {
    pub id: StationId,
    pub keys: StationKeys,
}

impl StationIdentity {
    /// Loads the identity of the data directory, making it on first use.
    pub fn load_or_create(paths: &StationPaths) -> Result<Self, Failure> {
        paths.ensure_data_dir()?;
        let keys = load_or_create_key(&paths.data_dir.join(KEY_FILE))?;
        let id = load_or_create_id(&paths.data_dir.join(ID_FILE))?;
        Ok(Self { id, keys })
    }

    pub fn verifying_key(&self) -> StationVerifyingKey {
        self.keys.verifying_key()
    }

    /// What `station identity` prints: nothing secret.
    pub fn report(&self) -> Value {
        json!({
            "station_id": self.id.as_str(),
            "public_key": to_hex(&self.verifying_key().to_bytes()),
        })
    }
}

fn unreadable(path: &Path, e: impl std::fmt::Display) -> Failure {
    Failure::new(
        Code::StationKeyUnreadable,
        format!("{}: {e}", path.display()),
    )
}

/// Writes `bytes` to `path` only if it does not exist yet, owner-only and
/// synced. Written beside it first and linked into place, so a crash never
/// leaves a half-written key, and two first runs racing keep one key.
/// Returns false if `path` already existed.
pub(crate) fn create_exclusive(path: &Path, bytes: &[u8]) -> Result<bool, Failure> {
    let fail = |e: std::io::Error| {
        Failure::new(Code::DataDirUnavailable, format!("{}: {e}", path.display()))
    };
    let tmp = tmp_path(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    // A leftover from a crashed first run holds nothing anybody uses.
    let _ = std::fs::remove_file(&tmp);
    let mut file = options.open(&tmp).map_err(fail)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    drop(file);
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            if let Some(dir) = path.parent()
                && let Ok(dir) = std::fs::File::open(dir)
            {
                // The new name must survive a power cut too.
                let _ = dir.sync_all();
            }
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(fail(e)),
    }
}

/// `NAME.tmpPID` beside `path`: unique per file and process.
fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp{}", std::process::id()));
    path.with_file_name(name)
}

fn load_or_create_key(path: &Path) -> Result<StationKeys, Failure> {
    if !path.exists() {
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(&mut *seed);
        if create_exclusive(path, &*seed)? {
            tracing::info!("station signing key created");
            return Ok(StationKeys::from_bytes(&seed));
        }
    }
    check_owner_only(path)?;
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| unreadable(path, e))?);
    let mut seed = Zeroizing::new([0u8; 32]);
    if bytes.len() != seed.len() {
        return Err(unreadable(path, format!("{} bytes, not 32", bytes.len())));
    }
    seed.copy_from_slice(&bytes);
    Ok(StationKeys::from_bytes(&seed))
}

/// A key file others can read is refused rather than used: it may have
/// been copied or exposed.
pub(crate) fn check_owner_only(path: &Path) -> Result<(), Failure> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| unreadable(path, e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(unreadable(
                path,
                format!("readable by others (mode {:o})", mode & 0o777),
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn load_or_create_id(path: &Path) -> Result<StationId, Failure> {
    if !path.exists() {
        let mut random = [0u8; 10];
        rand::rngs::OsRng.fill_bytes(&mut random);
        let id = format!("st-{}", to_hex(&random));
        if create_exclusive(path, id.as_bytes())? {
            tracing::info!(station = %id, "station id created");
        }
    }
    let text = std::fs::read_to_string(path).map_err(|e| unreadable(path, e))?;
    StationId::new(text.trim()).map_err(|e| unreadable(path, e))
}

/// Who packets are sealed as, to whom, and in which format version: after
/// registration the platform's station id and HPKE key and the newest
/// version it reads; before it the local id, `platform.pub` and version 1
/// (a platform known only by its key has said nothing of what it reads).
pub async fn for_sealing(
    paths: &StationPaths,
    store: &store::Store,
) -> Result<(StationIdentity, PlatformPublicKey, u16), Failure> {
    let mut identity = StationIdentity::load_or_create(paths)?;
    let Some(registration) = crate::platform::registration(store).await? else {
        return Ok((identity, platform_key(paths)?, 1));
    };
    let corrupt = |what: &str, e: &dyn std::fmt::Display| {
        Failure::new(
            Code::DatabaseUnavailable,
            format!("{what} in the registration: {e}"),
        )
    };
    identity.id =
        StationId::new(registration.station_id.clone()).map_err(|e| corrupt("station id", &e))?;
    let key = PlatformPublicKey::from_bytes(&registration.hpke_key()?)
        .map_err(|e| corrupt("platform key", &e))?;
    let version = crate::platform::packet_version(store, &registration).await;
    Ok((identity, key, version))
}

/// `station identity`: the id packets carry (the platform's, once
/// registered) and the public signing key.
pub async fn identity_command(paths: &StationPaths) -> Result<Value, Failure> {
    let identity = StationIdentity::load_or_create(paths)?;
    let store = crate::accounts::open_store(paths).await?;
    let registration = crate::platform::registration(&store).await;
    store.close().await;
    let mut report = identity.report();
    report["local_station_id"] = json!(identity.id.as_str());
    match registration? {
        Some(r) => {
            report["station_id"] = json!(r.station_id);
            report["registered"] = json!(true);
            report["hub_url"] = json!(r.hub_url);
        }
        None => report["registered"] = json!(false),
    }
    Ok(report)
}

/// The platform's public key from `platform.pub`.
pub fn platform_key(paths: &StationPaths) -> Result<PlatformPublicKey, Failure> {
    let path = paths.data_dir.join(PLATFORM_KEY_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Failure::new(
                Code::PlatformNotConfigured,
                format!("no platform key at {}", path.display()),
            ));
        }
        Err(e) => {
            return Err(Failure::new(
                Code::PlatformKeyInvalid,
                format!("{}: {e}", path.display()),
            ));
        }
    };
    parse_platform_key(&bytes).map_err(|why| {
        Failure::new(
            Code::PlatformKeyInvalid,
            format!("{}: {why}", path.display()),
        )
    })
}

/// 32 raw bytes, or 64 hex digits with optional surrounding whitespace.
fn parse_platform_key(bytes: &[u8]) -> Result<PlatformPublicKey, String> {
    let raw: [u8; 32] = match <[u8; 32]>::try_from(bytes) {
        Ok(raw) => raw,
        Err(_) => {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| "neither 32 bytes nor hexadecimal text".to_owned())?;
            from_hex(text.trim())?
        }
    };
    PlatformPublicKey::from_bytes(&raw).map_err(|e| e.to_string())
}

/// Writes `platform.pub` (as hex) after checking the key.
pub fn set_platform_key(paths: &StationPaths, hex: &str) -> Result<PathBuf, Failure> {
    let key = from_hex(hex.trim())
        .and_then(|raw| PlatformPublicKey::from_bytes(&raw).map_err(|e| e.to_string()))
        .map_err(|why| Failure::new(Code::InvalidArgument, format!("--set: {why}")))?;
    paths.ensure_data_dir()?;
    let path = paths.data_dir.join(PLATFORM_KEY_FILE);
    let tmp = tmp_path(&path);
    let fail = |e: std::io::Error| {
        Failure::new(Code::DataDirUnavailable, format!("{}: {e}", path.display()))
    };
    let text = format!("{}\n", to_hex(&key.to_bytes()));
    std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(fail)?;
    Ok(path)
}

/// A fresh cryptographic RNG for sealing, seeded from the OS. (The packet
/// crate takes the newer `rand_core` traits, which the OS RNG of `rand`
/// does not implement.)
pub fn sealing_rng() -> chacha20::ChaCha20Rng {
    use enrollment::packet::rand_core::SeedableRng;
    let mut seed = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(&mut *seed);
    chacha20::ChaCha20Rng::from_seed(*seed)
}

/// `station platform-key`: sets the key when `set` is given (and records
/// that in the audit log, with the new key: it is public), then reports
/// the key in use.
pub async fn platform_key_command(
    paths: &StationPaths,
    set: Option<&str>,
) -> Result<Value, Failure> {
    let store = crate::accounts::open_store(paths).await?;
    let registration = crate::platform::registration(&store).await;
    store.close().await;
    if let Some(registration) = registration? {
        // Registration decides the key; a file beside it would mislead.
        if set.is_some() {
            return Err(Failure::new(
                Code::AlreadyRegistered,
                "the platform key comes from the registration",
            ));
        }
        return Ok(json!({
            "platform_key": registration.hub_hpke_public_key,
            "source": "registration",
        }));
    }
    if let Some(hex) = set {
        set_platform_key(paths, hex)?;
        let key = to_hex(&platform_key(paths)?.to_bytes());
        let store = crate::accounts::open_store(paths).await?;
        let recorded = store
            .record_audit(
                store::Actor::System,
                store::AuditAction::SettingsChanged,
                Some(PLATFORM_KEY_FILE),
                &format!("platform key set to {key}"),
            )
            .await
            .map_err(crate::accounts::store_failure);
        store.close().await;
        recorded?;
    }
    let key = platform_key(paths)?;
    Ok(json!({ "platform_key": to_hex(&key.to_bytes()), "source": PLATFORM_KEY_FILE }))
}

pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn from_hex(text: &str) -> Result<[u8; 32], String> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("expected 64 hexadecimal digits".to_owned());
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)
            .map_err(|_| "expected 64 hexadecimal digits".to_owned())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn paths(dir: &Path) -> StationPaths {
        StationPaths {
            data_dir: dir.join("data"),
            models_dir: dir.join("models"),
        }
    }

    #[test]
    fn identity_is_made_once_owner_only_and_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let p = paths(tmp.path());
        let first = StationIdentity::load_or_create(&p).unwrap();
        let again = StationIdentity::load_or_create(&p).unwrap();
        assert_eq!(first.id, again.id);
        assert_eq!(first.verifying_key(), again.verifying_key());
        assert!(first.id.as_str().starts_with("st-"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&p.data_dir.join(KEY_FILE)), 0o600);
            assert_eq!(mode(&p.data_dir), 0o700);
            std::fs::set_permissions(
                p.data_dir.join(KEY_FILE),
                std::fs::Permissions::from_mode(0o644),
            )
            .unwrap();
            let err = StationIdentity::load_or_create(&p).unwrap_err();
            assert_eq!(err.code, Code::StationKeyUnreadable);
        }
    }

    #[test]
    fn platform_key_is_raw_or_hex_and_required() {
        let tmp = tempfile::tempdir().unwrap();
        let p = paths(tmp.path());
        assert_eq!(
            platform_key(&p).unwrap_err().code,
            Code::PlatformNotConfigured
        );
        let hex = "9fa1c6d2b0e8a4c3d5f7a9b1c3e5f7092a4c6e8f0a2c4e6f8092b4d6f8a0c2e4";
        set_platform_key(&p, hex).unwrap();
        assert_eq!(to_hex(&platform_key(&p).unwrap().to_bytes()), hex);
        std::fs::write(p.data_dir.join(PLATFORM_KEY_FILE), from_hex(hex).unwrap()).unwrap();
        assert_eq!(to_hex(&platform_key(&p).unwrap().to_bytes()), hex);
        std::fs::write(p.data_dir.join(PLATFORM_KEY_FILE), b"nonsense").unwrap();
        assert_eq!(platform_key(&p).unwrap_err().code, Code::PlatformKeyInvalid);
        assert_eq!(
            set_platform_key(&p, "abc").unwrap_err().code,
            Code::InvalidArgument
        );
    }
}
