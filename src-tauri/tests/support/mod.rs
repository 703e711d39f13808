//! Starting the real app under WebKitWebDriver, for the WebDriver tests and
//! the launch benchmark.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};

/// Stops the driver and the app it started, even when the test fails: the
/// driver leads its own process group, which the app joins.
pub struct Driver(Child);

impl Driver {
    /// The driver's process id; the app it starts is its child.
    #[allow(dead_code)] // the benchmarks' part
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // `--` is essential: without it procps' kill reads the negative
        // process group as options and signals every process (-1).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn start_driver(data_dir: &std::path::Path, env: &[(&str, &str)]) -> (Driver, u16) {
    let port = testbed::free_port().unwrap();
    let child = Command::new("WebKitWebDriver")
        .process_group(0)
        .arg(format!("--port={port}"))
        .envs(env.iter().copied())
        .env("TAURI_WEBVIEW_AUTOMATION", "true")
        .env("STATION_DATA_DIR", data_dir.join("station"))
        // The webview's own storage (language choice, window state) starts
        // empty in every run.
        .env("XDG_DATA_HOME", data_dir.join("xdg-data"))
        .env("XDG_CONFIG_HOME", data_dir.join("xdg-config"))
        .env("XDG_CACHE_HOME", data_dir.join("xdg-cache"))
        .stdout(Stdio::null())
        .spawn()
        .expect("WebKitWebDriver (Debian package webkit2gtk-driver) is installed");
    let driver = Driver(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !testbed::tcp_listening(port) {
        assert!(
            Instant::now() < deadline,
            "WebKitWebDriver did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (driver, port)
}

pub async fn connect(port: u16) -> Client {
    // WebKitWebDriver launches our binary as the browser; no browserName, so
    // it is not matched against WebKit's own browsers.
    let mut caps = serde_json::Map::new();
    caps.insert(
        "webkitgtk:browserOptions".into(),
        serde_json::json!({ "binary": env!("CARGO_BIN_EXE_enrollment-station"), "args": [] }),
    );
    let http = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(http)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("WebDriver session with the app")
}

/// A station data folder under `data` with the platform key it seals to:
/// X25519's base point, a valid key whose secret (1) nobody needs here, as
/// packets are sealed but never opened (the station tests open real ones).
#[allow(dead_code)] // not every includer seals
pub fn station_folder(data: &std::path::Path) -> std::path::PathBuf {
    let station_dir = data.join("station");
    std::fs::create_dir_all(&station_dir).unwrap();
    std::fs::write(
        station_dir.join("platform.pub"),
        format!("09{}", "00".repeat(31)),
    )
    .unwrap();
    station_dir
}
