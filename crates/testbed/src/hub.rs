//! The reference platform for tests: the real `hub` binary on loopback,
//! serving its own database on a port it keeps, so it can be killed and
//! started again where stations expect it. The binary is the one `cargo
//! test --workspace` builds beside the test executables.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: a failure is a failed test

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The source tree.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `hub` beside the running test or benchmark (which lives in `deps/`).
fn hub_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("hub"))
        .unwrap();
    assert!(
        path.exists(),
        "{} is missing: `cargo test --workspace` builds it (or `cargo build --workspace --bins`)",
        path.display()
    );
    path
}

/// The test certificates of the hub's own TLS tests.
pub fn hub_tls_file(name: &str) -> PathBuf {
    repo().join("hub/tests/tls").join(name)
}

/// The `hub` binary serving a database in `dir` on a port it keeps, so it
/// can be killed and started again where stations expect it.
#[derive(Debug)]
pub struct HubProcess {
    child: Option<Child>,
    pub port: u16,
    pub db_url: String,
    models: PathBuf,
    tls: bool,
}

impl HubProcess {
    pub fn start(dir: &Path, tls: bool) -> Self {
        // An empty model directory: the hub's face check reports
        // `not_checked`, which keeps these tests fast.
        let models = dir.join("no-models");
        std::fs::create_dir_all(&models).unwrap();
        let mut hub = Self {
            child: None,
            // The first start takes any free port (0), which the hub
            // reports; restarts keep it.
            port: 0,
            db_url: format!("sqlite:{}", dir.join("hub.sqlite3").display()),
            models,
            tls,
        };
        hub.restart();
        hub
    }

    pub fn base(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Starts the hub (again) and waits until it says it listens. Its own
    /// word, not a connection that succeeds: another test's server may
    /// hold a port this one was about to take, and this hub would then be
    /// still migrating its database when the test reached for it.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the hub is running");
        let mut command = Command::new(hub_binary());
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{}", self.port)])
            .args(["--db", &self.db_url])
            .arg("--trust-store")
            .arg(repo().join("testdata/documents/demo/trust"))
            .arg("--models")
            .arg(&self.models)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if self.tls {
            command
                .arg("--tls-cert")
                .arg(hub_tls_file("hub.pem"))
                .arg("--tls-key")
                .arg(hub_tls_file("hub-key.pem"));
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        self.child = Some(child);
        // "listening on http://127.0.0.1:PORT", printed once it is bound
        // (after its migrations); the rest of its stdout is drained.
        let (said, heard) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = std::io::BufReader::new(stdout);
            let mut line = String::new();
            let _ = std::io::BufRead::read_line(&mut lines, &mut line);
            let _ = said.send(line);
            let _ = std::io::copy(&mut lines, &mut std::io::sink());
        });
        let line = heard
            .recv_timeout(Duration::from_secs(30))
            .expect("the hub did not start within 30 s");
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the hub did not start listening: {line:?}"));
        assert!(self.port == 0 || self.port == port, "{line}");
        self.port = port;
    }

    /// SIGKILL: no graceful anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(hub_binary())
            .args(args)
            .args(["--db", &self.db_url])
            .output()
            .unwrap();
        assert!(out.status.success(), "hub {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    /// A one-time onboarding token.
    pub fn token(&self) -> String {
        self.cli(&["token", "create"]).trim().to_owned()
    }

    /// Every packet the hub holds (`hub packets list --json`).
    pub fn packets(&self) -> Vec<Value> {
        let out = self.cli(&["packets", "list", "--json"]);
        let value: Value = serde_json::from_str(out.trim()).unwrap();
        value["packets"].as_array().unwrap().clone()
    }

    /// Waits until the hub holds at least `n` packets; returns them.
    pub fn wait_for_packets(&self, n: usize, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let packets = self.packets();
            if packets.len() >= n {
                return packets;
            }
            assert!(
                Instant::now() < deadline,
                "the hub has {} of {n} packets",
                packets.len()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
