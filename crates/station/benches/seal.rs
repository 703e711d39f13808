//! Sealing and storing one enrollment: the time `seal_and_queue` takes
//! (HPKE + Ed25519 + the one outbox transaction with `synchronous=FULL`)
//! and how much the database grows per enrollment.
//!
//! The payload has a real enrollment's sizes: the demo document's chip
//! files, a 640x640 JPEG-sized frame and six seconds of 16 kHz voice.
//! Run with `cargo bench --workspace --locked --bench seal`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark's set-up may panic

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use enrollment::packet::{
    FORMAT_VERSION, PacketHeader, PacketPayload, PlatformSecretKey, SPEAKER_EMBEDDING_DIM,
    SealedPacket, VOICE_SAMPLE_RATE_HZ, VoiceSample,
};
use rand::RngCore;
use station::StationPaths;
use station::enroll::seal_and_queue;
use station::identity::StationIdentity;
use store::{ClerkStep, PasswordHashing, Role, Store, StoreConfig, SystemClock};

const ENROLLMENTS: usize = 50;
/// About what a 640x640 face frame takes as JPEG at quality 90.
const FRAME_JPEG_BYTES: usize = 60_000;
const VOICE_SECONDS: usize = 6;

fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut v);
    v
}

/// The demo enrollment with a random frame of a real frame's JPEG size
/// and six seconds of noise as the voice (neither compresses).
fn payload(identity: &StationIdentity) -> PacketPayload {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut payload =
        testbed::packets::demo_payload(&repo, identity.id.clone(), random_bytes(FRAME_JPEG_BYTES));
    let mut rng = rand::thread_rng();
    payload.voice.sample = VoiceSample {
        sample_rate_hz: VOICE_SAMPLE_RATE_HZ,
        samples: (0..VOICE_SECONDS * VOICE_SAMPLE_RATE_HZ as usize)
            .map(|_| (rng.next_u32() >> 20) as i16 - 2048)
            .collect(),
    };
    payload.voice.speaker_embedding = vec![0.0625; SPEAKER_EMBEDDING_DIM];
    payload
}

fn database_bytes(db: &Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", db.display())).ok())
        .map(|m| m.len())
        .sum()
}

async fn open(db: &Path) -> Store {
    let config = StoreConfig {
        password_hashing: PasswordHashing::FAST_INSECURE,
        ..StoreConfig::default()
    };
    Store::open_with(db, config, Arc::new(SystemClock))
        .await
        .unwrap()
}

async fn bench() {
    let tmp = tempfile::tempdir().unwrap();
    let paths = StationPaths {
        data_dir: tmp.path().join("data"),
        models_dir: station::paths::default_models_dir(),
    };
    let identity = StationIdentity::load_or_create(&paths).unwrap();
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    let platform = PlatformSecretKey::from_bytes(&secret).unwrap().public_key();
    let db = paths.database();

    let store = open(&db).await;
    let admin = store
        .create_first_administrator("admin", "admin-password")
        .await
        .unwrap();
    let clerk = store
        .create_user(admin.id, "clerk", "clerk-password", Role::Clerk)
        .await
        .unwrap();
    let supervisor = store
        .create_user(
            admin.id,
            "supervisor",
            "supervisor-password",
            Role::Supervisor,
        )
        .await
        .unwrap();
    store.close().await;
    let empty = database_bytes(&db);

    let store = open(&db).await;
    let payload = payload(&identity);
    let mut times = Vec::with_capacity(ENROLLMENTS);
    let mut packet_bytes = 0u64;
    for _ in 0..ENROLLMENTS {
        let e = store.start_enrollment(clerk.id).await.unwrap();
        for step in [
            ClerkStep::ReadDocument,
            ClerkStep::CaptureFace,
            ClerkStep::CaptureVoice,
            ClerkStep::SubmitForReview,
        ] {
            store.record_step(e.id, clerk.id, step, "").await.unwrap();
        }
        store.approve(e.id, supervisor.id).await.unwrap();
        let started = Instant::now();
        let entry = seal_and_queue(
            &store,
            &identity,
            (&platform, FORMAT_VERSION),
            e.id,
            &payload,
        )
        .await
        .unwrap();
        times.push(started.elapsed());
        packet_bytes = store
            .sealed_packet(entry.packet_id)
            .await
            .unwrap()
            .map_or(0, |b| b.len() as u64);
    }
    store.close().await;
    let full = database_bytes(&db);

    // Sealing alone (HPKE and the signature), without the store.
    let mut seal_times = Vec::with_capacity(ENROLLMENTS);
    for _ in 0..ENROLLMENTS {
        let header = PacketHeader {
            format_version: FORMAT_VERSION,
            packet_id: uuid::Uuid::new_v4(),
            station_id: identity.id.clone(),
            created_at_unix_ms: 1,
        };
        let mut rng = station::identity::sealing_rng();
        let started = Instant::now();
        SealedPacket::seal(&payload, header, &platform, &identity.keys, &mut rng).unwrap();
        seal_times.push(started.elapsed());
    }
    seal_times.sort();

    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = times[times.len() / 2];
    let p90 = times[times.len() * 9 / 10];
    println!("seal + queue, {ENROLLMENTS} enrollments:");
    println!(
        "  median {:.2} ms, p90 {:.2} ms, min {:.2} ms, max {:.2} ms",
        ms(median),
        ms(p90),
        ms(times[0]),
        ms(times[times.len() - 1])
    );
    println!(
        "  of which sealing alone: median {:.2} ms",
        ms(seal_times[seal_times.len() / 2])
    );
    println!("  sealed packet {packet_bytes} bytes");
    println!(
        "  database {} bytes empty, {} bytes after; {} bytes per enrollment",
        empty,
        full,
        full.saturating_sub(empty) / ENROLLMENTS as u64
    );
}

fn main() {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(bench());
}
