//! `station enroll` end to end through the real binary: the demo document
//! in pcscd's second vpcd reader, face frames from files, an espeak-ng voice
//! sample. The sealed packet in the outbox is opened with the platform's
//! secret key the test holds; the database file is scanned for anything
//! personal in the clear; the process is killed at random moments; the
//! audit log is tampered with; and the role rules are tried through the CLI.

// In tests a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use biometrics::{FaceAnalyzer, Frame};
use enrollment::EnrollmentState;
use enrollment::packet::{PlatformSecretKey, SealedPacket, StationVerifyingKey};
use image::imageops;
use rand::{Rng, RngCore};
use serde_json::Value;
use store::{AuditAction, Store};
use support::{SECOND_PORT, SECOND_READER, Simulator, lock_reader};
use testbed::Service;

const CHALLENGE: &str = "4071958";
const SPOKEN: &str = "four zero seven one nine five eight";
const ADMIN: (&str, &str) = ("admin", "admin-password-1");
const CLERK: (&str, &str) = ("clerk.wang", "clerk-password-1");
const SUPERVISOR: (&str, &str) = ("supervisor.li", "supervisor-password-1");
const SECOND_CLERK: (&str, &str) = ("clerk.zhao", "clerk-password-2");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn demo_document() -> PathBuf {
    repo().join("testdata/documents/demo")
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Runs `station ARGS --json` with extra environment and standard input.
fn run(args: &[&str], env: &[(&str, &str)], stdin: &str) -> (i32, Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_station"))
        .args(args)
        .arg("--json")
        .envs(env.iter().copied())
        .env_remove("STATION_DATA_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let value: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "station {args:?}: stdout is not one JSON object ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), value)
}

fn run_ok(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Value {
    let (code, value) = run(args, env, stdin);
    assert_eq!(code, 0, "station {args:?}: {value:#}");
    value
}

fn run_fails(args: &[&str], env: &[(&str, &str)], stdin: &str, code: &str) -> Value {
    let (exit, value) = run(args, env, stdin);
    assert_eq!(exit, 1, "station {args:?} should fail: {value:#}");
    assert_eq!(value["error"]["code"], code, "{value:#}");
    assert!(!value["error"]["remedy"].as_str().unwrap().is_empty());
    assert!(!value["error"]["zh"]["remedy"].as_str().unwrap().is_empty());
    value
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// A station's data dir with its users and the platform key whose secret
/// the test keeps, plus face frames and a voice sample.
struct Bed {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    platform: PlatformSecretKey,
    faces: PathBuf,
    voice: PathBuf,
}

impl Bed {
    fn new() -> Self {
        let bed = Self::without_platform_key();
        bed.set_platform_key();
        bed
    }

    /// `station platform-key --set` with the bed's platform key.
    fn set_platform_key(&self) {
        let hex: String = self
            .platform
            .public_key()
            .to_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let set = run_ok(
            &["platform-key", "--set", &hex, "--data-dir", self.data()],
            &[],
            "",
        );
        assert_eq!(set["platform_key"], hex);
    }

    fn without_platform_key() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let mut secret = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut secret);
        let bed = Self {
            data,
            platform: PlatformSecretKey::from_bytes(&secret).unwrap(),
            faces: tmp.path().join("faces"),
            voice: tmp.path().join("voice.wav"),
            _tmp: tmp,
        };
        let d = bed.data();
        let admin = run_ok(
            &[
                "user",
                "create-admin",
                "--name",
                ADMIN.0,
                "--password-stdin",
                "--data-dir",
                d,
            ],
            &[],
            &format!("{}\n", ADMIN.1),
        );
        assert_eq!(admin["user"]["role"], "administrator");
        for ((name, password), role) in [
            (CLERK, "clerk"),
            (SUPERVISOR, "supervisor"),
            (SECOND_CLERK, "clerk"),
        ] {
            // The administrator's password on the second line of stdin.
            let added = run_ok(
                &[
                    "user",
                    "add",
                    "--admin",
                    ADMIN.0,
                    "--name",
                    name,
                    "--role",
                    role,
                    "--password-stdin",
                    "--data-dir",
                    d,
                ],
                &[],
                &format!("{password}\n{}\n", ADMIN.1),
            );
            assert_eq!(added["user"]["role"], role);
        }
        write_frames(&bed.faces);
        testbed::speak("en", SPOKEN, &bed.voice).unwrap();
        bed
    }

    fn data(&self) -> &str {
        arg(&self.data)
    }

    fn db(&self) -> PathBuf {
        self.data.join(store::DATABASE_FILE)
    }

    /// `station enroll` with the test's document, frames and voice.
    fn enroll_args<'a>(&'a self, clerk: &'a str, supervisor: &'a str) -> Vec<&'a str> {
        vec![
            "enroll",
            "--data-dir",
            self.data(),
            "--reader",
            SECOND_READER,
            "--can",
            "123456",
            "--trust-store",
            DEMO_TRUST.get_or_init(|| arg(&demo_document().join("trust")).to_owned()),
            "--face",
            arg(&self.faces),
            "--voice",
            arg(&self.voice),
            "--challenge",
            CHALLENGE,
            "--clerk",
            clerk,
            "--supervisor",
            supervisor,
        ]
    }

    /// `station enroll --demo` on the reader of `port`, the clerk and the
    /// supervisor signing, the voice as `voice` says (a file or the
    /// microphone's options).
    fn demo_enroll_args<'a>(&'a self, port: &'a str, voice: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["enroll", "--demo", "--demo-port", port];
        args.extend_from_slice(voice);
        args.extend([
            "--challenge",
            CHALLENGE,
            "--clerk",
            CLERK.0,
            "--supervisor",
            SUPERVISOR.0,
            "--data-dir",
            self.data(),
        ]);
        args
    }

    /// `station enroll --demo` on the second reader with the bed's voice;
    /// hold [`lock_reader`] around it.
    fn enroll_demo(&self) -> Value {
        let port = SECOND_PORT.to_string();
        run_ok(
            &self.demo_enroll_args(&port, &["--voice", arg(&self.voice)]),
            &passwords(CLERK.1, SUPERVISOR.1),
            "",
        )
    }

    fn station_key(&self) -> StationVerifyingKey {
        let id = run_ok(&["identity", "--data-dir", self.data()], &[], "");
        let hex = id["public_key"].as_str().unwrap();
        let bytes: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        StationVerifyingKey::from_bytes(&bytes.try_into().unwrap()).unwrap()
    }
}

static DEMO_TRUST: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn passwords<'a>(clerk: &'a str, supervisor: &'a str) -> [(&'static str, &'a str); 2] {
    [
        ("STATION_CLERK_PASSWORD", clerk),
        ("STATION_SUPERVISOR_PASSWORD", supervisor),
    ]
}

/// Frames of the demo holder as a counter camera takes them: squares of a
/// few sizes around his face, slightly shifted. The holder's one frontal
/// photo is the one his chip portrait was made from.
fn write_frames(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let photo = image::open(repo().join("testdata/faces/obama.png"))
        .unwrap()
        .into_rgb8();
    let analyzer = FaceAnalyzer::load_bundled().unwrap();
    let centre = analyzer
        .reference(&Frame::try_from(photo.clone()).unwrap())
        .unwrap()
        .face
        .bbox
        .center();
    for (i, (side, dx, dy)) in [
        (640u32, 0i64, 0i64),
        (600, 6, -4),
        (560, -5, 8),
        (520, 3, 3),
    ]
    .into_iter()
    .enumerate()
    {
        let x = (centre.x as i64 + dx - i64::from(side / 2)).max(0) as u32;
        let y = (centre.y as i64 + dy - i64::from(side / 2)).max(0) as u32;
        let x = x.min(photo.width() - side);
        let y = y.min(photo.height() - side);
        imageops::crop_imm(&photo, x, y, side, side)
            .to_image()
            .save(dir.join(format!("frame-{i}.png")))
            .unwrap();
    }
}

/// Whether `needle` occurs anywhere in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The raw bytes of the database and its WAL, if any.
fn database_bytes(db: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(db).unwrap();
    for suffix in ["-wal", "-journal"] {
        if let Ok(more) = std::fs::read(format!("{}{suffix}", db.display())) {
            bytes.extend(more);
        }
    }
    bytes
}

#[test]
fn a_headless_enrollment_seals_one_packet_that_only_the_platform_opens() {
    if !testbed::require(Service::Pcscd) {
        return;
    }
    let bed = Bed::new();
    let _reader = lock_reader();
    let simulator = Simulator::start_on(SECOND_PORT, &["--profile", arg(&demo_document())]);
    let report = run_ok(
        &bed.enroll_args(CLERK.0, SUPERVISOR.0),
        &passwords(CLERK.1, SUPERVISOR.1),
        "",
    );
    drop(simulator);
    assert_eq!(report["state"], "queued", "{report:#}");
    assert_eq!(report["document"]["document_number"], "L898902C3");
    for check in ["passive", "active", "chip"] {
        assert_eq!(
            report["verification"][check]["verdict"], "valid",
            "{report:#}"
        );
    }
    assert_eq!(report["liveness"]["decision"], "live");
    assert!(report["liveness"]["frames"].as_u64().unwrap() >= 3);
    assert_eq!(report["match"]["decision"], "match");
    assert_eq!(report["voice"]["verdict"], "accepted");
    assert_eq!(report["voice"]["challenge"], CHALLENGE);
    let packet_id = report["packet_id"].as_str().unwrap().to_owned();
    let enrollment_id = report["enrollment_id"].as_str().unwrap().to_owned();

    // The outbox, through the CLI.
    let list = run_ok(&["queue", "list", "--data-dir", bed.data()], &[], "");
    let packets = list["packets"].as_array().unwrap();
    assert_eq!(packets.len(), 1, "{list:#}");
    assert_eq!(packets[0]["id"], packet_id.as_str());
    assert_eq!(packets[0]["state"], "queued");
    assert_eq!(packets[0]["attempts"], 0);
    assert_eq!(packets[0]["last_error"], Value::Null);
    let show = run_ok(
        &["queue", "show", &packet_id, "--data-dir", bed.data()],
        &[],
        "",
    );
    assert_eq!(show["packet"]["header"]["packet_id"], packet_id.as_str());
    assert_eq!(show["packet"]["header"]["station_id"], report["station_id"]);
    run_fails(
        &[
            "queue",
            "show",
            "00000000-0000-4000-8000-000000000000",
            "--data-dir",
            bed.data(),
        ],
        &[],
        "",
        "PACKET_NOT_FOUND",
    );
    let audit = run_ok(&["audit", "verify", "--data-dir", bed.data()], &[], "");
    assert_eq!(audit["audit"]["verdict"], "intact", "{audit:#}");

    // The packet, as the platform receives it.
    let station_key = bed.station_key();
    let (sealed, entries, state) = block_on(async {
        let store = Store::open(&bed.db()).await.unwrap();
        let id = store::PacketId::from_uuid(packet_id.parse().unwrap());
        let sealed = store.sealed_packet(id).await.unwrap().unwrap();
        let entries = store.audit_entries(0, 1000).await.unwrap();
        let enrollment = store
            .enrollment(store::EnrollmentId::from_uuid(
                enrollment_id.parse().unwrap(),
            ))
            .await
            .unwrap();
        store.close().await;
        (sealed, entries, enrollment.state)
    });
    assert_eq!(state, EnrollmentState::Queued);
    let packet = SealedPacket::from_bytes(&sealed).unwrap();
    packet.verify(&station_key).unwrap();
    assert_eq!(packet.header().packet_id.to_string(), packet_id);
    let payload = packet.open(&bed.platform, &station_key).unwrap();
    let file = |name: &str| std::fs::read(demo_document().join(name)).unwrap();
    assert_eq!(payload.chip.dg1, file("DG1"));
    assert_eq!(payload.chip.dg2, file("DG2"));
    assert_eq!(payload.chip.sod, file("SOD"));
    assert_eq!(payload.chip.dg11, Some(file("DG11")));
    assert_eq!(payload.chip_verification.passive.verdict, "valid");
    assert_eq!(payload.face.liveness.verdict, "live");
    assert_eq!(payload.face.face_match.decision, "match");
    let frame = image::load_from_memory(&payload.face.best_frame_jpeg).unwrap();
    assert!(frame.width() >= 520, "{}", frame.width());
    assert_eq!(payload.voice.challenge_digits, CHALLENGE);
    assert!(payload.voice.sample.duration_seconds() > 1.5);
    assert_eq!(payload.station_id.as_str(), report["station_id"]);
    assert_ne!(payload.clerk.user_id, payload.supervisor.user_id);
    assert!(payload.clerk.at_unix_ms <= payload.supervisor.at_unix_ms);
    assert_eq!(payload.models.len(), 6);
    // Another platform's key opens nothing.
    let mut other = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut other);
    assert!(
        packet
            .open(
                &PlatformSecretKey::from_bytes(&other).unwrap(),
                &station_key
            )
            .is_err()
    );

    // Every step is in the audit log, in order.
    let actions: Vec<AuditAction> = entries
        .iter()
        .filter(|e| e.subject.as_deref() == Some(enrollment_id.as_str()))
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            AuditAction::EnrollmentStarted,
            AuditAction::DocumentRead,
            AuditAction::FaceCaptured,
            AuditAction::VoiceCaptured,
            AuditAction::SubmittedForReview,
            AuditAction::Approved,
            AuditAction::Sealed,
        ]
    );
    for e in &entries {
        assert!(!e.detail.contains("L898902C3") && !e.detail.contains("SPECIMEN"));
    }
    // Each step's outcome, in verdicts and numbers.
    let detail = |action| {
        entries
            .iter()
            .find(|e| e.action == action && e.subject.as_deref() == Some(enrollment_id.as_str()))
            .map(|e| e.detail.clone())
            .unwrap()
    };
    assert_eq!(
        detail(AuditAction::DocumentRead),
        "passive valid, active valid, chip valid"
    );
    let face = detail(AuditAction::FaceCaptured);
    assert!(face.starts_with("liveness live over "), "{face}");
    // Images from files are not asked to turn.
    assert!(
        face.ends_with(" frames; no head turn asked; match"),
        "{face}"
    );
    let voice = detail(AuditAction::VoiceCaptured);
    assert!(
        voice.starts_with(&format!("{} digits, ", CHALLENGE.len())),
        "{voice}"
    );
    assert!(voice.ends_with(" s of speech"), "{voice}");
    assert!(
        entries
            .iter()
            .any(|e| e.action == AuditAction::SettingsChanged
                && e.subject.as_deref() == Some("platform.pub"))
    );

    // Nothing personal in the clear in the database file or its WAL.
    let raw = database_bytes(&bed.db());
    assert!(contains(&raw, &sealed[..64]), "the scan sees the packet");
    let portrait = emrtd::portrait::Portrait::parse_dg2(&file("DG2"))
        .unwrap()
        .image;
    for offset in (0..portrait.len().saturating_sub(32)).step_by(512) {
        assert!(
            !contains(&raw, &portrait[offset..offset + 32]),
            "portrait bytes at {offset} are in the database"
        );
    }
    for text in ["SPECIMEN", "L898902C3", "样本"] {
        assert!(
            !contains(&raw, text.as_bytes()),
            "{text} is in the database"
        );
    }
    assert!(!contains(&raw, &payload.face.best_frame_jpeg[..64]));
    let samples: Vec<u8> = payload.voice.sample.samples[8000..8032]
        .iter()
        .flat_map(|s| s.to_le_bytes())
        .collect();
    assert!(!contains(&raw, &samples));
    // Nor the station's signing key: it is in its own owner-only file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = bed.data.join("station.key");
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(&bed.data).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert!(!contains(&raw, &std::fs::read(&key).unwrap()));
    }
}

#[test]
fn the_demo_enrolls_with_its_own_virtual_card() {
    if !testbed::require(Service::Pcscd) {
        return;
    }
    let bed = Bed::new();
    let _reader = lock_reader();
    let report = bed.enroll_demo();
    assert_eq!(report["state"], "queued", "{report:#}");
    assert_eq!(report["document"]["surname"], "SPECIMEN");
    assert_eq!(report["liveness"]["decision"], "live");
    assert_eq!(report["match"]["decision"], "match");
    // The demo camera was asked to turn its head: the audit says how it went.
    let face = block_on(async {
        let store = Store::open(&bed.db()).await.unwrap();
        let entries = store.audit_entries(0, 1000).await.unwrap();
        store.close().await;
        entries
            .into_iter()
            .find(|e| e.action == AuditAction::FaceCaptured)
            .map(|e| e.detail)
            .unwrap()
    });
    assert!(
        face.contains("; head turn left passed at ")
            || face.contains("; head turn right passed at "),
        "{face}"
    );
    // pcscd notices the card is gone on its next poll.
    std::thread::sleep(Duration::from_secs(1));
}

#[test]
fn a_registered_station_seals_the_head_turn_and_the_hub_judges_it() {
    if !testbed::require(Service::Pcscd) {
        return;
    }
    let bed = Bed::without_platform_key();
    let hub_dir = tempfile::tempdir().unwrap();
    let hub = support::uplink::HubProcess::start(hub_dir.path(), false);
    block_on(support::uplink::register(&bed.data, &hub, &hub.base()));
    let _reader = lock_reader();
    let report = bed.enroll_demo();
    // The hub said at registration that it reads format v2.
    let id = report["packet_id"].as_str().unwrap();
    let shown = run_ok(&["queue", "show", id, "--data-dir", bed.data()], &[], "");
    assert_eq!(shown["packet"]["header"]["format_version"], 2, "{shown:#}");
    let synced = run_ok(&["sync", "--once", "--data-dir", bed.data()], &[], "");
    assert_eq!(synced["sync"]["uploaded"], 1, "{synced:#}");
    // The demo camera's turn, judged by the hub's own minimum.
    let held = hub.packets();
    assert_eq!(held[0]["status"], "accepted", "{held:#?}");
    assert_eq!(
        held[0]["reverification"]["head_turn"]["verdict"], "valid",
        "{held:#?}"
    );
    // pcscd notices the card is gone on its next poll.
    std::thread::sleep(Duration::from_secs(1));
}

#[test]
fn a_voice_sample_too_short_is_refused_with_its_measures() {
    if !testbed::require(Service::Pcscd) {
        return;
    }
    let bed = Bed::new();
    let short = bed.voice.with_file_name("short.wav");
    testbed::speak("en", "four seven two", &short).unwrap();
    let _reader = lock_reader();
    let port = SECOND_PORT.to_string();
    let refused = run_fails(
        &bed.demo_enroll_args(&port, &["--voice", arg(&short)]),
        &passwords(CLERK.1, SUPERVISOR.1),
        "",
        "VOICE_REJECTED",
    );
    // The detail gives the numbers behind the verdict: three spoken digits
    // are some speech, but far less than the 1.5 s needed.
    let detail = refused["error"]["detail"].as_str().unwrap();
    assert!(detail.starts_with("issues: too_short; "), "{detail}");
    let speech: f32 = detail
        .split("; ")
        .nth(1)
        .and_then(|m| m.split(" s of speech").next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{detail}"));
    assert!((0.3..1.5).contains(&speech), "{detail}");
    assert!(detail.contains(" dBFS, SNR "), "{detail}");
    let list = run_ok(&["queue", "list", "--data-dir", bed.data()], &[], "");
    assert_eq!(list["packets"], serde_json::json!([]), "{list:#}");
    std::thread::sleep(Duration::from_secs(1));
}

/// Every packet in the outbox parses, verifies and opens; enrollments are
/// `queued` exactly when they have a packet; the audit chain holds.
fn check_consistent(bed: &Bed, station_key: &StationVerifyingKey) -> usize {
    block_on(async {
        let store = Store::open(&bed.db()).await.unwrap();
        let entries = store.outbox_entries(1000).await.unwrap();
        for entry in &entries {
            let sealed = store.sealed_packet(entry.packet_id).await.unwrap().unwrap();
            let packet = SealedPacket::from_bytes(&sealed).unwrap();
            packet.verify(station_key).unwrap();
            packet.open(&bed.platform, station_key).unwrap();
            let enrollment = store.enrollment(entry.enrollment_id).await.unwrap();
            assert_eq!(enrollment.state, EnrollmentState::Queued);
        }
        let queued = store
            .enrollments_in_state(EnrollmentState::Queued, 1000)
            .await
            .unwrap();
        assert_eq!(
            queued.len(),
            entries.len(),
            "a queued enrollment without its packet"
        );
        assert!(matches!(
            store.verify_audit().await.unwrap(),
            store::AuditVerification::Intact { .. }
        ));
        store.close().await;
        entries.len()
    })
}

#[test]
fn a_process_killed_at_any_moment_leaves_no_packet_or_a_complete_one() {
    if !testbed::require(Service::Pcscd) {
        return;
    }
    let bed = Bed::new();
    let station_key = bed.station_key();
    let _reader = lock_reader();
    let mut rng = rand::thread_rng();
    let mut killed = 0;
    let mut completed = 0;
    // One run to the end first, to learn how long a run takes here; then
    // kills spread over a whole run (sign-in, chip, faces, voice), and a
    // few more near its end, where the packet is sealed and queued.
    let mut full_run: Option<f64> = None;
    for round in 0..12 {
        let delay = match (round, full_run) {
            (0, _) | (_, None) => 300.0,
            (1..=8, Some(t)) => rng.gen_range(0.05..t),
            (_, Some(t)) => rng.gen_range(0.85 * t..1.05 * t),
        };
        let simulator = Simulator::start_on(SECOND_PORT, &["--profile", arg(&demo_document())]);
        let mut child = Command::new(env!("CARGO_BIN_EXE_station"))
            .args(bed.enroll_args(CLERK.0, SUPERVISOR.0))
            .arg("--json")
            .envs(passwords(CLERK.1, SUPERVISOR.1))
            .env_remove("STATION_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let deadline = started + Duration::from_secs_f64(delay);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() >= deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        match status {
            Some(status) => {
                assert!(
                    status.success(),
                    "enroll failed on its own after {delay:.2} s"
                );
                completed += 1;
                full_run.get_or_insert(started.elapsed().as_secs_f64());
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                killed += 1;
            }
        }
        drop(simulator);
        let packets = check_consistent(&bed, &station_key);
        assert!(packets <= completed + killed);
        println!("after {delay:.2} s: {packets} packets");
    }
    assert!(killed >= 6, "only {killed} runs were killed");
    assert!(completed >= 1);
    assert!(check_consistent(&bed, &station_key) >= completed);
}

#[test]
fn tampering_with_the_audit_log_is_reported() {
    let bed = Bed::without_platform_key();
    let verified = run_ok(&["audit", "verify", "--data-dir", bed.data()], &[], "");
    assert_eq!(verified["audit"]["verdict"], "intact", "{verified:#}");
    let entries = verified["audit"]["entries"].as_u64().unwrap();
    assert!(entries >= 4, "{verified:#}");

    // Someone with the file edits an entry: "clerk" becomes "supervisor".
    block_on(async {
        use sqlx::Connection;
        let url = format!("sqlite://{}", bed.db().display());
        let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("DROP TRIGGER audit_log_no_update")
            .execute(&mut db)
            .await
            .unwrap();
        let changed = sqlx::query("UPDATE audit_log SET detail = 'role supervisor' WHERE seq = 3")
            .execute(&mut db)
            .await
            .unwrap();
        assert_eq!(changed.rows_affected(), 1);
        db.close().await.unwrap();
    });
    let broken = run_ok(&["audit", "verify", "--data-dir", bed.data()], &[], "");
    assert_eq!(broken["audit"]["verdict"], "broken", "{broken:#}");
    assert_eq!(broken["audit"]["intact"], false);
    assert_eq!(broken["audit"]["seq"], 3);
    assert_eq!(broken["audit"]["problem"], "hash_mismatch");
}

#[test]
fn role_rules_hold_through_the_cli() {
    let bed = Bed::without_platform_key();
    let enroll = |clerk: (&str, &str), supervisor: (&str, &str), code: &str| {
        run_fails(
            &bed.enroll_args(clerk.0, supervisor.0),
            &passwords(clerk.1, supervisor.1),
            "",
            code,
        )
    };
    // Nothing can be sealed without the platform's key: refused first.
    enroll(CLERK, SUPERVISOR, "PLATFORM_NOT_CONFIGURED");
    bed.set_platform_key();
    let enroll = |clerk: (&str, &str), supervisor: (&str, &str), code: &str| {
        run_fails(
            &bed.enroll_args(clerk.0, supervisor.0),
            &passwords(clerk.1, supervisor.1),
            "",
            code,
        )
    };
    // A clerk cannot approve.
    let refused = enroll(CLERK, SECOND_CLERK, "NOT_PERMITTED");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("clerk"),
        "{refused:#}"
    );
    // Nobody approves their own enrollment, even a supervisor.
    enroll(SUPERVISOR, SUPERVISOR, "SELF_APPROVAL");
    enroll(CLERK, (" Clerk.Wang ", CLERK.1), "SELF_APPROVAL");
    // A wrong password is refused, without saying which part was wrong.
    enroll(
        (CLERK.0, "not-the-password"),
        SUPERVISOR,
        "INVALID_CREDENTIALS",
    );
    enroll(("nobody", "whatever-1"), SUPERVISOR, "INVALID_CREDENTIALS");
    // Without a password nothing starts.
    run_fails(
        &bed.enroll_args(CLERK.0, SUPERVISOR.0),
        &[],
        "",
        "PASSWORD_MISSING",
    );
    // Only an administrator adds users; the first administrator only once.
    run_fails(
        &[
            "user",
            "add",
            "--admin",
            CLERK.0,
            "--name",
            "intruder",
            "--role",
            "supervisor",
            "--password-stdin",
            "--data-dir",
            bed.data(),
        ],
        &[("STATION_ADMIN_PASSWORD", CLERK.1)],
        "intruder-password\n",
        "NOT_PERMITTED",
    );
    run_fails(
        &[
            "user",
            "create-admin",
            "--name",
            "second",
            "--password-stdin",
            "--data-dir",
            bed.data(),
        ],
        &[],
        "second-password\n",
        "ALREADY_INITIALISED",
    );
    run_fails(
        &[
            "user",
            "add",
            "--admin",
            ADMIN.0,
            "--name",
            "short",
            "--role",
            "clerk",
            "--password-stdin",
            "--data-dir",
            bed.data(),
        ],
        &[("STATION_ADMIN_PASSWORD", ADMIN.1)],
        "short\n",
        "PASSWORD_TOO_WEAK",
    );
    // Passwords never on the command line.
    let (exit, _) = run(
        &[
            "user",
            "create-admin",
            "--name",
            "x",
            "--password",
            "secret-password",
        ],
        &[],
        "",
    );
    assert_eq!(exit, 2);

    // None of the refusals started an enrollment.
    block_on(async {
        let store = Store::open(&bed.db()).await.unwrap();
        let entries = store.audit_entries(0, 1000).await.unwrap();
        assert!(
            !entries
                .iter()
                .any(|e| e.action == AuditAction::EnrollmentStarted)
        );
        assert!(entries.iter().any(|e| e.action == AuditAction::LoginFailed));
        store.close().await;
    });
}

#[test]
fn the_voice_can_come_from_the_microphone() {
    if !testbed::require(Service::Pcscd) || !testbed::require(Service::PulseAudio) {
        return;
    }
    let bed = Bed::new();
    let _reader = lock_reader();
    let port = SECOND_PORT.to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_station"))
        .args(bed.demo_enroll_args(&port, &["--mic", "--mic-seconds", "5", "--json"]))
        .envs(passwords(CLERK.1, SUPERVISOR.1))
        .env_remove("STATION_DATA_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The prompt for the citizen comes once the microphone records.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("recording") {
        line.clear();
        let n = std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
        if n == 0 {
            let out = child.wait_with_output().unwrap();
            panic!(
                "enroll ended before recording: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
    assert!(line.contains(CHALLENGE), "{line}");
    testbed::play_into_microphone(&bed.voice).unwrap();
    let out = child.wait_with_output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "{report:#}");
    assert_eq!(report["state"], "queued");
    assert_eq!(report["voice"]["verdict"], "accepted");
    assert_eq!(report["voice"]["challenge"], CHALLENGE);
    std::thread::sleep(Duration::from_secs(1));
}
