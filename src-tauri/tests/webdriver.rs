//! The real app, driven over WebDriver under Xvfb: WebKitWebDriver starts
//! the `enrollment-station` binary and a client clicks through its window.

// In tests a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use testbed::Service;

/// Stops the driver (and with it the app) even when the test fails.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_driver(data_dir: &std::path::Path) -> (Driver, u16) {
    let port = testbed::free_port().unwrap();
    let child = Command::new("WebKitWebDriver")
        .arg(format!("--port={port}"))
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

async fn connect(port: u16) -> Client {
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

fn screenshots_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits for an element; on timeout saves a screenshot and fails with the
/// page as the webview has it, so a failure in CI can be read.
async fn wait_for(client: &Client, locator: Locator<'_>, seconds: u64) {
    let found = client
        .wait()
        .at_most(Duration::from_secs(seconds))
        .for_element(locator)
        .await;
    if let Err(e) = found {
        let shot = screenshots_dir().join("failure.png");
        if let Ok(png) = client.screenshot().await {
            let _ = std::fs::write(&shot, png);
        }
        let page = client.source().await.unwrap_or_default();
        panic!(
            "{locator:?} did not appear within {seconds} s ({e}); screenshot {}\npage:\n{page}",
            shot.display()
        );
    }
}

async fn texts(client: &Client, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in client.find_all(Locator::Css(css)).await.unwrap() {
        out.push(e.text().await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_screen_lists_the_test_bed_devices() {
    let display = testbed::require(Service::Display);
    let pcscd = testbed::require(Service::Pcscd);
    let pulse = testbed::require(Service::PulseAudio);
    if !(display && pcscd && pulse) {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let (_driver, port) = start_driver(data.path());
    let client = connect(port).await;

    // The status rows appear once the station core has answered.
    wait_for(&client, Locator::Css("[data-testid=check-readers]"), 30).await;

    let title = client
        .find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(title, "身份登记工作站");

    let readers = texts(&client, "[data-testid=readers-item]").await;
    assert!(
        readers.iter().any(|r| r.starts_with("Virtual PCD 00 00")),
        "{readers:?}"
    );
    assert!(
        readers.iter().any(|r| r.starts_with("Virtual PCD 00 01")),
        "{readers:?}"
    );
    let mics = texts(&client, "[data-testid=microphones-item]").await;
    assert!(mics.iter().any(|m| m == "virtmic (默认)"), "{mics:?}");
    let status = client
        .find(Locator::Css("[data-testid=check-models]"))
        .await
        .unwrap()
        .attr("data-status")
        .await
        .unwrap();
    assert_eq!(status.as_deref(), Some("ok"));
    std::fs::write(
        screenshots_dir().join("home-zh.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();

    // English is one click away, and every label follows.
    client
        .find(Locator::Css("[data-testid=lang-toggle]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&client, Locator::XPath("//h2[text()='Device status']"), 5).await;
    let mics = texts(&client, "[data-testid=microphones-item]").await;
    assert!(mics.iter().any(|m| m == "virtmic (default)"), "{mics:?}");
    std::fs::write(
        screenshots_dir().join("home-en.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();

    client.close().await.unwrap();
}
