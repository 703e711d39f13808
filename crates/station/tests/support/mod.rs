//! Shared by the `station` tests: runs the `station` binary, makes
//! specimens, and keeps a simulator child process in the first vpcd reader
//! for the length of a test.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // each test file uses a part

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod uplink;

/// The first vpcd reader and its port.
pub const READER: &str = "Virtual PCD 00 00";
pub const PORT: u16 = 35963;
/// The second vpcd reader and its port: the enrollment tests' own, so they
/// do not contend with the card tests for the first.
pub const SECOND_READER: &str = "Virtual PCD 00 01";
pub const SECOND_PORT: u16 = 35964;

/// One reader, one card: tests of a file take turns.
static READER_LOCK: Mutex<()> = Mutex::new(());

pub fn lock_reader() -> MutexGuard<'static, ()> {
    READER_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `station ARGS --json` and returns its exit code and single JSON object.
pub fn station(args: &[&str]) -> (i32, Value) {
    let (code, value, _) = station_with_stderr(args);
    (code, value)
}

/// Like [`station`], with what it wrote to standard error.
pub fn station_with_stderr(args: &[&str]) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_station"))
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    outcome(out)
}

/// A finished `station --json` run: its exit code and its one JSON object.
pub fn exit_and_json(out: std::process::Output) -> (i32, Value) {
    let (code, value, _) = outcome(out);
    (code, value)
}

/// Like [`exit_and_json`], with what the run wrote to standard error.
fn outcome(out: std::process::Output) -> (i32, Value, String) {
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let value: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("stdout is not one JSON object ({e}): {stdout}\nstderr: {stderr}")
    });
    (out.status.code().unwrap_or(-1), value, stderr)
}

/// Like [`station`], asserting success.
pub fn station_ok(args: &[&str]) -> Value {
    let (code, value) = station(args);
    assert_eq!(code, 0, "station {args:?}: {value:#}");
    value
}

/// Like [`station`], asserting the failure code and that it has a remedy.
pub fn station_fails(args: &[&str], code: &str) -> Value {
    let (exit, value) = station(args);
    assert_ne!(exit, 0, "station {args:?} should fail: {value:#}");
    assert_eq!(value["error"]["code"], code, "{value:#}");
    assert!(!value["error"]["remedy"].as_str().unwrap().is_empty());
    assert!(!value["error"]["zh"]["remedy"].as_str().unwrap().is_empty());
    value
}

/// `station card specimen --out DIR EXTRA…`; returns the `specimen` object.
pub fn specimen(dir: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["card", "specimen", "--out", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    station_ok(&args)["specimen"].clone()
}

/// `station card read` on the first vpcd reader with a fresh data dir.
pub fn read(data_dir: &Path, extra: &[&str]) -> (i32, Value) {
    let (code, value, _) = read_with_stderr(data_dir, extra);
    (code, value)
}

/// Like [`read`], with what the read wrote to standard error.
pub fn read_with_stderr(data_dir: &Path, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec![
        "card",
        "read",
        "--reader",
        READER,
        "--data-dir",
        data_dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    station_with_stderr(&args)
}

/// A `station card simulate` child; stopped with SIGTERM when dropped.
pub struct Simulator {
    child: Option<Child>,
    pub serving: Value,
}

impl Simulator {
    /// Starts `station card simulate ARGS --port 35963` and waits for its
    /// `serving` object.
    pub fn start(args: &[&str]) -> Self {
        Self::start_on(PORT, args)
    }

    /// Like [`Simulator::start`], into the vpcd reader on `port`.
    pub fn start_on(port: u16, args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_station"))
            .args(["card", "simulate", "--json", "--port", &port.to_string()])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let value: Value = serde_json::from_str(line.trim())
            .unwrap_or_else(|e| panic!("simulator printed no JSON ({e}): {line:?}"));
        assert!(value["serving"].is_object(), "{value:#}");
        Self {
            child: Some(child),
            serving: value["serving"].clone(),
        }
    }

    pub fn profile(dir: &Path) -> Self {
        Self::start(&["--profile", dir.to_str().unwrap()])
    }

    /// SIGTERM, then the exit status (killed if it does not stop in 5 s).
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.terminate()
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                // pcscd notices the empty slot on its next poll.
                std::thread::sleep(Duration::from_secs(1));
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        child.wait().unwrap()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.terminate();
        }
    }
}

/// A folder holding only `csca.der` of a specimen: a trust store.
pub fn trust_store(specimen: &Value) -> PathBuf {
    PathBuf::from(specimen["trust_store"].as_str().unwrap())
}

/// Copies the files (not sub-folders) of `from` into a new folder `to`.
pub fn copy_files(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
}
