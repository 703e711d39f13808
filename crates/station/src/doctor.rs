//! `station doctor`: the state of every device and dependency, in one report.
//!
//! Each check runs independently and reports `ok`, `warning` (the station
//! works, with less: no camera means the demo camera) or `error` (enrollment
//! cannot proceed), with the catalogue's cause and remedy.

use std::time::Duration;

use serde::Serialize;
use ts_rs::TS;

use crate::failure::{Code, Failure};
use crate::paths::StationPaths;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Ok,
    Warning,
    Error,
}

/// One check: what was found, and the problem if any.
#[derive(Debug, Clone, Serialize, TS)]
pub struct Check<T> {
    pub status: Level,
    pub found: T,
    pub problem: Option<Failure>,
}

impl<T> Check<T> {
    fn ok(found: T) -> Self {
        Self {
            status: Level::Ok,
            found,
            problem: None,
        }
    }
    fn with(status: Level, found: T, problem: Failure) -> Self {
        Self {
            status,
            found,
            problem: Some(problem),
        }
    }
}

/// The platform as the station sees it.
#[derive(Debug, Clone, Serialize, TS)]
pub struct PlatformState {
    pub url: Option<String>,
    pub reachable: bool,
    pub version: Option<String>,
}

/// Everything `station doctor` reports.
#[derive(Debug, Clone, Serialize, TS)]
pub struct DoctorReport {
    /// False when any check is an error.
    pub ok: bool,
    pub readers: Check<Vec<card::reader::ReaderStatus>>,
    pub cameras: Check<Vec<camera::CameraDevice>>,
    pub microphones: Check<Vec<microphone::InputDevice>>,
    pub models: Check<Vec<biometrics::ModelStatus>>,
    pub database: Check<Option<store::StoreHealth>>,
    pub platform: Check<PlatformState>,
}

/// Options of one doctor run.
#[derive(Debug, Clone, Default)]
pub struct DoctorOptions {
    /// Check this platform instead of the registered one.
    pub platform_url: Option<String>,
}

/// The key under which the registered platform address is kept.
pub const PLATFORM_URL_SETTING: &str = "platform_url";

/// Runs every check; device enumeration runs off the async threads.
pub async fn run(paths: &StationPaths, options: &DoctorOptions) -> DoctorReport {
    let readers = tokio::task::spawn_blocking(check_readers);
    let cameras = tokio::task::spawn_blocking(check_cameras);
    let microphones = tokio::task::spawn_blocking(check_microphones);
    let models_dir = paths.models_dir.clone();
    let models = tokio::task::spawn_blocking(move || check_models(&models_dir));
    let (database, registered_url, registration) = check_database(paths).await;
    let platform_url = options.platform_url.clone().or(registered_url);
    // The registered platform is checked as sync talks to it: with the
    // station's certificate and the platform's own CA.
    let registration = registration.filter(|r| platform_url.as_deref() == Some(&r.hub_url));
    let platform = check_platform(paths, platform_url, registration).await;

    let joined = |what: &str, e: tokio::task::JoinError| {
        Failure::new(Code::Internal, format!("{what} check failed: {e}"))
    };
    let readers = readers
        .await
        .unwrap_or_else(|e| Check::with(Level::Error, vec![], joined("reader", e)));
    let cameras = cameras
        .await
        .unwrap_or_else(|e| Check::with(Level::Warning, vec![], joined("camera", e)));
    let microphones = microphones
        .await
        .unwrap_or_else(|e| Check::with(Level::Error, vec![], joined("microphone", e)));
    let models = models
        .await
        .unwrap_or_else(|e| Check::with(Level::Error, vec![], joined("model", e)));

    let ok = [
        readers.status,
        cameras.status,
        microphones.status,
        models.status,
        database.status,
        platform.status,
    ]
    .iter()
    .all(|s| *s != Level::Error);
    DoctorReport {
        ok,
        readers,
        cameras,
        microphones,
        models,
        database,
        platform,
    }
}

/// A device list: none is a warning (the station works with less), a
/// failure to enumerate is `failed` with its code.
fn device_check<T, E: std::fmt::Display>(
    listed: Result<Vec<T>, E>,
    none: (Code, &str),
    failed: (Level, Code),
) -> Check<Vec<T>> {
    match listed {
        Ok(list) if list.is_empty() => {
            Check::with(Level::Warning, list, Failure::new(none.0, none.1))
        }
        Ok(list) => Check::ok(list),
        Err(e) => Check::with(failed.0, vec![], Failure::new(failed.1, e)),
    }
}

fn check_readers() -> Check<Vec<card::reader::ReaderStatus>> {
    use card::reader::Readers;
    readers_check(Readers::establish().and_then(|r| r.list()))
}

/// How the readers stand: the doctor's verdict on a listing, also given
/// by the reader watch as the readers change.
pub fn readers_check(
    listed: Result<Vec<card::reader::ReaderStatus>, card::reader::ReaderError>,
) -> Check<Vec<card::reader::ReaderStatus>> {
    use card::reader::ReaderError;
    let listed = listed.map_err(|e| match e {
        ReaderError::NoService => "pcscd does not answer".to_owned(),
        other => other.to_string(),
    });
    device_check(
        listed,
        (Code::NoReader, "PC/SC lists no readers"),
        (Level::Error, Code::PcscUnavailable),
    )
}

fn check_cameras() -> Check<Vec<camera::CameraDevice>> {
    device_check(
        camera::list_cameras(),
        (Code::NoCamera, "no video devices"),
        (Level::Warning, Code::CameraUnavailable),
    )
}

fn check_microphones() -> Check<Vec<microphone::InputDevice>> {
    device_check(
        microphone::list_inputs(),
        (Code::NoMicrophone, "no audio inputs"),
        (Level::Error, Code::AudioUnavailable),
    )
}

fn check_models(dir: &std::path::Path) -> Check<Vec<biometrics::ModelStatus>> {
    match biometrics::ModelCatalog::open(dir) {
        Ok(catalog) => {
            let statuses = catalog.verify_all();
            let bad: Vec<String> = statuses
                .iter()
                .filter(|s| !s.verified)
                .map(|s| {
                    format!(
                        "{}: {}",
                        s.file,
                        s.problem.as_deref().unwrap_or("unverified")
                    )
                })
                .collect();
            if bad.is_empty() {
                Check::ok(statuses)
            } else {
                Check::with(
                    Level::Error,
                    statuses,
                    Failure::new(Code::ModelsInvalid, bad.join("; ")),
                )
            }
        }
        Err(e) => Check::with(Level::Error, vec![], Failure::new(Code::ModelsInvalid, e)),
    }
}

async fn check_database(
    paths: &StationPaths,
) -> (
    Check<Option<store::StoreHealth>>,
    Option<String>,
    Option<crate::platform::Registration>,
) {
    if let Err(f) = paths.ensure_data_dir() {
        return (Check::with(Level::Error, None, f), None, None);
    }
    let fail = |e: store::StoreError| {
        Check::with(
            Level::Error,
            None,
            Failure::new(Code::DatabaseUnavailable, e),
        )
    };
    let store = match store::Store::open(&paths.database()).await {
        Ok(s) => s,
        Err(e) => return (fail(e), None, None),
    };
    let url = store.setting(PLATFORM_URL_SETTING).await.ok().flatten();
    let registration = crate::platform::registration(&store).await.ok().flatten();
    let check = match store.health().await {
        Ok(h) if h.integrity == "ok" => Check::ok(Some(h)),
        Ok(h) => {
            let detail = format!("integrity check: {}", h.integrity);
            Check::with(
                Level::Error,
                Some(h),
                Failure::new(Code::DatabaseUnavailable, detail),
            )
        }
        Err(e) => fail(e),
    };
    store.close().await;
    (check, url, registration)
}

async fn check_platform(
    paths: &StationPaths,
    url: Option<String>,
    registration: Option<crate::platform::Registration>,
) -> Check<PlatformState> {
    let Some(url) = url else {
        return Check::with(
            Level::Warning,
            PlatformState {
                url: None,
                reachable: false,
                version: None,
            },
            Failure::new(Code::PlatformNotConfigured, ""),
        );
    };
    let failed = |failure: Failure| {
        Check::with(
            Level::Warning,
            PlatformState {
                url: Some(url.clone()),
                reachable: false,
                version: None,
            },
            failure,
        )
    };
    let unreachable = |e: uplink::UplinkError| failed(Failure::new(Code::PlatformUnreachable, e));
    let timeout = Duration::from_secs(3);
    let platform = match &registration {
        Some(r) => crate::platform::registered_client(paths, r, timeout),
        None => uplink::Platform::new(&url, timeout).map_err(crate::platform::uplink_failure),
    };
    let platform = match platform {
        Ok(p) => p,
        Err(f) => return failed(f),
    };
    match platform.health().await {
        Ok(h) => Check::ok(PlatformState {
            url: Some(url.clone()),
            reachable: true,
            version: Some(h.version),
        }),
        Err(e) => unreachable(e),
    }
}
