//! The platform side of the sync tests: the real `hub` binary on loopback
//! (killed and restarted at will), a fault-injecting HTTP proxy between the
//! station and the hub, and sealed packets queued through the station's own
//! sealing code.
//!
//! The hub process itself is `testbed::hub`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use station::StationPaths;
use store::{ClerkStep, PasswordHashing, Store, StoreConfig, SystemClock};
pub use testbed::hub::{HubProcess, hub_tls_file};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use uuid::Uuid;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A free loopback port (free when asked; the hub binds it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A station data directory with its staff: `admin`, `clerk` and
/// `supervisor`, all with password [`PASSWORD`].
pub const PASSWORD: &str = "correct horse battery";

pub fn paths(data: &Path) -> StationPaths {
    StationPaths {
        data_dir: data.to_owned(),
        models_dir: repo().join("models"),
    }
}

pub async fn open_store(data: &Path) -> Store {
    paths(data).ensure_data_dir().unwrap();
    let config = StoreConfig {
        password_hashing: PasswordHashing::FAST_INSECURE,
        ..StoreConfig::default()
    };
    Store::open_with(
        &paths(data).database(),
        config,
        Arc::new(SystemClock) as Arc<dyn store::Clock>,
    )
    .await
    .unwrap()
}

/// Queues `n` sealed packets as `station enroll` would: each enrollment
/// goes through the store's workflow (clerk steps, a supervisor's
/// approval) and is sealed and queued by `station::enroll::seal_and_queue`
/// with the station's sealing identity. The payload is the demo document
/// with a test face and `voice_seconds` of synthetic voice (which sets the
/// packet's size: about 32 KB a second). Returns the packet ids, oldest first.
pub async fn queue_packets(data: &Path, n: usize, voice_seconds: usize) -> Vec<Uuid> {
    let store = open_store(data).await;
    if store.needs_first_administrator().await.unwrap() {
        let admin = store
            .create_first_administrator("admin", PASSWORD)
            .await
            .unwrap();
        for (name, role) in [
            ("clerk", store::Role::Clerk),
            ("supervisor", store::Role::Supervisor),
        ] {
            store
                .create_user(admin.id, name, PASSWORD, role)
                .await
                .unwrap();
        }
    }
    let clerk = store.authenticate("clerk", PASSWORD).await.unwrap();
    let supervisor = store.authenticate("supervisor", PASSWORD).await.unwrap();
    let (identity, platform, format_version) = station::identity::for_sealing(&paths(data), &store)
        .await
        .unwrap();
    let mut payload = testbed::packets::demo_payload(
        &repo(),
        identity.id.clone(),
        testbed::packets::face_jpeg(&repo(), "obama2.png"),
    );
    if format_version < 2 {
        payload.face.liveness.head_turn = None;
    }
    payload.voice.sample.samples = (0..16_000 * voice_seconds)
        .map(|i| ((i * 7919) % 8192) as i16 - 4096)
        .collect();
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let enrollment = store.start_enrollment(clerk.user_id()).await.unwrap();
        for step in [
            ClerkStep::ReadDocument,
            ClerkStep::CaptureFace,
            ClerkStep::CaptureVoice,
            ClerkStep::SubmitForReview,
        ] {
            store
                .record_step(enrollment.id, clerk.user_id(), step, "")
                .await
                .unwrap();
        }
        store
            .approve(enrollment.id, supervisor.user_id())
            .await
            .unwrap();
        let entry = station::enroll::seal_and_queue(
            &store,
            &identity,
            (&platform, format_version),
            enrollment.id,
            &payload,
        )
        .await
        .unwrap();
        ids.push(*entry.packet_id.as_uuid());
    }
    store.logout(clerk).await.unwrap();
    store.logout(supervisor).await.unwrap();
    store.close().await;
    ids
}

/// Runs `station ARGS --json --data-dir DATA` without blocking the runtime.
pub async fn station_in(data: &Path, args: &[&str]) -> (i32, Value) {
    station_in_env(data, args, &[]).await
}

pub async fn station_in_env(data: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, Value) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_station"))
        .args(args)
        .arg("--json")
        .arg("--data-dir")
        .arg(data)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    super::exit_and_json(out)
}

/// Registers the station in `data` with `hub` (over `url`, e.g. a proxy).
pub async fn register(data: &Path, hub: &HubProcess, url: &str) -> Value {
    let token = hub.token();
    let mut args = vec!["register", "--hub", url, "--token", &token];
    let ca = hub_tls_file("hub.pem");
    let ca = ca.to_str().unwrap();
    if url.starts_with("https") {
        args.extend(["--hub-ca", ca]);
    }
    let (code, value) = station_in(data, &args).await;
    assert_eq!(code, 0, "{value:#}");
    value
}

/// `station sync` running in the background.
pub struct SyncProcess(pub tokio::process::Child);

impl SyncProcess {
    /// `station sync ARGS --json` in `data`, with quick back-off so tests
    /// do not wait minutes.
    pub fn start(data: &Path, args: &[&str]) -> Self {
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_station"))
            .arg("sync")
            .args(["--min-backoff-ms", "50", "--max-backoff-ms", "500"])
            .args(args)
            .arg("--json")
            .arg("--data-dir")
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        Self(child)
    }

    /// SIGTERM, then its summary.
    pub async fn terminate(self) -> (i32, Value) {
        let pid = self.0.id().unwrap();
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let out = tokio::time::timeout(Duration::from_secs(120), self.0.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        super::exit_and_json(out)
    }

    /// SIGKILL.
    pub async fn kill(mut self) {
        self.0.kill().await.unwrap();
    }
}

/// Waits until `station queue list` shows `n` acknowledged packets.
pub async fn wait_acknowledged(data: &Path, n: u64, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (code, list) = station_in(data, &["queue", "list"]).await;
        assert_eq!(code, 0, "{list:#}");
        if list["counts"]["acknowledged"].as_u64() == Some(n) {
            return list;
        }
        assert!(Instant::now() < deadline, "not acknowledged: {list:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What the proxy does with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Forward it and its answer.
    Pass,
    /// Answer this status with the platform's error body, without
    /// forwarding; `retry_after` in seconds.
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    /// Forward it, then hold the answer back this long.
    SlowAnswer(Duration),
    /// Forward the request `chunk` bytes at a time, `pause` apart, so it
    /// is still arriving when something else happens.
    SlowRequest { chunk: usize, pause: Duration },
    /// Forward only the first `after` bytes of the request, then cut both
    /// connections.
    CutRequest { after: usize },
    /// Forward it, then close the station's connection without the answer.
    DropAnswer,
    /// Forward it, and change one digit of the receipt's signature.
    CorruptReceipt,
}

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub at: Instant,
    pub fault: Fault,
}

#[derive(Debug, Default)]
struct Plan {
    /// Faults for the next PUTs and GETs, in order.
    put: VecDeque<Fault>,
    get: VecDeque<Fault>,
    /// What happens once a queue is empty.
    put_default: Option<Fault>,
    get_default: Option<Fault>,
    seen: Vec<Seen>,
}

/// An HTTP/1.1 proxy on loopback that injects faults into the exchanges
/// between the station and the hub.
#[derive(Debug, Clone)]
pub struct FaultProxy {
    pub base: String,
    plan: Arc<Mutex<Plan>>,
}

impl FaultProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let plan = Arc::new(Mutex::new(Plan::default()));
        let shared = plan.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve_connection(client, upstream, shared.clone()));
            }
        });
        Self { base, plan }
    }

    pub fn put_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.plan.lock().unwrap().put.extend(faults);
    }

    pub fn get_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.plan.lock().unwrap().get.extend(faults);
    }

    /// What every PUT and GET meets once the queued faults are used.
    pub fn set_defaults(&self, put: Option<Fault>, get: Option<Fault>) {
        let mut plan = self.plan.lock().unwrap();
        plan.put_default = put;
        plan.get_default = get;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.plan.lock().unwrap().seen.clone()
    }
}

impl Plan {
    fn next(&mut self, method: &str, path: &str) -> Fault {
        let fault = match method {
            "PUT" => self.put.pop_front().or_else(|| self.put_default.clone()),
            "GET" if path.starts_with("/v1/packets/") => {
                self.get.pop_front().or_else(|| self.get_default.clone())
            }
            _ => None,
        }
        .unwrap_or(Fault::Pass);
        self.seen.push(Seen {
            method: method.to_owned(),
            path: path.to_owned(),
            at: Instant::now(),
            fault: fault.clone(),
        });
        fault
    }
}

/// One HTTP message: its head (through the blank line) and its body.
struct Message {
    head: Vec<u8>,
    body: Vec<u8>,
}

impl Message {
    fn bytes(&self) -> Vec<u8> {
        [self.head.as_slice(), self.body.as_slice()].concat()
    }

    fn start_line(&self) -> (String, String) {
        let text = String::from_utf8_lossy(&self.head);
        let mut words = text.split_whitespace();
        let first = words.next().unwrap_or_default().to_owned();
        let second = words.next().unwrap_or_default().to_owned();
        (first, second)
    }
}

/// Reads one message with a Content-Length body (all the station and the
/// hub send); `None` at the end of the stream.
async fn read_message(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Message> {
    let head_end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head: Vec<u8> = buffer.drain(..head_end).collect();
    let length = String::from_utf8_lossy(&head)
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    while buffer.len() < length {
        let mut chunk = vec![0u8; (length - buffer.len()).min(256 * 1024)];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body = buffer.drain(..length).collect();
    Some(Message { head, body })
}

/// Sends `request` to the hub on a fresh connection and reads its answer.
async fn exchange(upstream: SocketAddr, request: &[u8]) -> Option<Message> {
    let mut hub = TcpStream::connect(upstream).await.ok()?;
    hub.write_all(request).await.ok()?;
    read_message(&mut hub, &mut Vec::new()).await
}

fn error_answer(status: u16, retry_after: Option<u64>) -> Vec<u8> {
    let code = if status == 404 {
        "not_found"
    } else {
        "internal"
    };
    let body = format!(r#"{{"error":{{"code":"{code}","message":"injected {status}"}}}}"#);
    let retry = retry_after.map_or(String::new(), |s| format!("retry-after: {s}\r\n"));
    format!(
        "HTTP/1.1 {status} Injected\r\ncontent-type: application/json\r\n{retry}content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The receipt's (or status's receipt's) signature with one digit changed.
fn corrupt_receipt(answer: Message) -> Vec<u8> {
    let mut json: Value = serde_json::from_slice(&answer.body).unwrap();
    let receipt = if json.get("receipt").is_some() {
        &mut json["receipt"]
    } else {
        &mut json
    };
    let Some(signature) = receipt["signature"].as_str().map(str::to_owned) else {
        return answer.bytes(); // a refusal: nothing to corrupt
    };
    let flipped = if signature.starts_with('0') { "1" } else { "0" };
    receipt["signature"] = Value::from(format!("{flipped}{}", &signature[1..]));
    let body = serde_json::to_vec(&json).unwrap();
    let head = String::from_utf8_lossy(&answer.head)
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("content-length"))
        .filter(|l| !l.is_empty())
        .map(|l| format!("{l}\r\n"))
        .collect::<String>();
    [
        format!("{head}content-length: {}\r\n\r\n", body.len()).into_bytes(),
        body,
    ]
    .concat()
}

/// Sends `request` in pieces, `pause` apart; the hub's answer, if any.
async fn trickle(
    upstream: SocketAddr,
    request: &[u8],
    chunk: usize,
    pause: Duration,
) -> Option<Vec<u8>> {
    let mut hub = TcpStream::connect(upstream).await.ok()?;
    for piece in request.chunks(chunk.max(1)) {
        hub.write_all(piece).await.ok()?;
        tokio::time::sleep(pause).await;
    }
    read_message(&mut hub, &mut Vec::new())
        .await
        .map(|m| m.bytes())
}

async fn serve_connection(mut client: TcpStream, upstream: SocketAddr, plan: Arc<Mutex<Plan>>) {
    let mut buffer = Vec::new();
    while let Some(request) = read_message(&mut client, &mut buffer).await {
        let (method, path) = request.start_line();
        let fault = plan.lock().unwrap().next(&method, &path);
        let answer = match fault {
            Fault::Pass => exchange(upstream, &request.bytes())
                .await
                .map(|m| m.bytes()),
            Fault::Status {
                status,
                retry_after,
            } => Some(error_answer(status, retry_after)),
            Fault::SlowAnswer(wait) => {
                let answer = exchange(upstream, &request.bytes()).await;
                tokio::time::sleep(wait).await;
                answer.map(|m| m.bytes())
            }
            Fault::SlowRequest { chunk, pause } => {
                trickle(upstream, &request.bytes(), chunk, pause).await
            }
            Fault::CutRequest { after } => {
                let bytes = request.bytes();
                if let Ok(mut hub) = TcpStream::connect(upstream).await {
                    let _ = hub.write_all(&bytes[..after.min(bytes.len())]).await;
                    let _ = hub.flush().await;
                    // Give the hub a moment to start reading, then cut.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                None
            }
            Fault::DropAnswer => {
                let _ = exchange(upstream, &request.bytes()).await;
                None
            }
            Fault::CorruptReceipt => exchange(upstream, &request.bytes())
                .await
                .map(corrupt_receipt),
        };
        let Some(answer) = answer else {
            return; // dropping `client` closes the connection
        };
        if client.write_all(&answer).await.is_err() {
            return;
        }
    }
}
