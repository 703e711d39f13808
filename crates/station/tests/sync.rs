//! `station register` and `station sync` against the real `hub` binary on
//! loopback: nothing lost, nothing doubled, whatever fails in between —
//! the hub down or killed, the station killed, server errors with
//! Retry-After, a slow hub, a connection cut mid-body, answers lost,
//! tampered packets and receipts. Faults between station and hub come
//! from a proxy in the test support, not from the hub.

// In tests a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::uplink::*;
use uuid::Uuid;

/// The ids of the packets the hub holds, each once, with their statuses.
fn hub_ids(packets: &[Value]) -> Vec<String> {
    packets
        .iter()
        .map(|p| p["packet_id"].as_str().unwrap().to_owned())
        .collect()
}

fn assert_exactly_once(hub: &HubProcess, ids: &[Uuid]) {
    let held = hub_ids(&hub.packets());
    let unique: HashSet<&String> = held.iter().collect();
    assert_eq!(unique.len(), held.len(), "a packet is held twice: {held:?}");
    let expected: HashSet<String> = ids.iter().map(Uuid::to_string).collect();
    let held: HashSet<String> = held.into_iter().collect();
    assert_eq!(held, expected);
}

/// A registered station behind a fault proxy, with packets queued.
struct Behind {
    dir: tempfile::TempDir,
    data: std::path::PathBuf,
    hub: HubProcess,
    proxy: FaultProxy,
    queued: Vec<Uuid>,
}

impl Behind {
    /// `n` packets with `voice_seconds` of voice each.
    async fn proxy(n: usize, voice_seconds: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("station");
        let hub = HubProcess::start(dir.path(), false);
        let proxy = FaultProxy::start(hub.addr()).await;
        register(&data, &hub, &proxy.base).await;
        let queued = queue_packets(&data, n, voice_seconds).await;
        Self {
            dir,
            data,
            hub,
            proxy,
            queued,
        }
    }

    fn parts(&self) -> (&Path, &HubProcess, &FaultProxy, &[Uuid]) {
        (&self.data, &self.hub, &self.proxy, &self.queued)
    }
}

async fn once(data: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["sync", "--once", "--min-backoff-ms", "50"];
    args.extend(extra);
    let (code, value) = station_in(data, &args).await;
    assert_eq!(code, 0, "{value:#}");
    value["sync"].clone()
}

fn ids(list: &Value, field: &str) -> Vec<String> {
    list[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v["id"].as_str().unwrap().to_owned())
        })
        .collect()
}

async fn packet(data: &Path, id: Uuid) -> Value {
    let (code, value) = station_in(data, &["queue", "show", &id.to_string()]).await;
    assert_eq!(code, 0, "{value:#}");
    value["packet"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_gives_the_platform_id_and_keys_and_packets_go_over_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("station");
    let hub = HubProcess::start(dir.path(), true);

    // Nothing to sync with before registering.
    let (code, value) = station_in(&data, &["sync", "--once"]).await;
    assert_eq!(code, 1);
    assert_eq!(value["error"]["code"], "NOT_REGISTERED");

    // One packet sealed before registration, to the key configured then.
    let (_, identity) = station_in(&data, &["identity"]).await;
    let local_id = identity["station_id"].as_str().unwrap().to_owned();
    assert_eq!(identity["registered"], false);
    let hub_key = {
        let (code, value) = station_in(
            &data,
            &[
                "platform-key",
                "--set",
                "9fa1c6d2b0e8a4c3d5f7a9b1c3e5f7092a4c6e8f0a2c4e6f8092b4d6f8a0c2e4",
            ],
        )
        .await;
        assert_eq!(code, 0, "{value:#}");
        value
    };
    assert_eq!(hub_key["source"], "platform.pub");
    let before = queue_packets(&data, 1, 1).await;
    // A platform known only by its key has said nothing of what it reads:
    // version 1, the head turn left out.
    assert_eq!(
        packet(&data, before[0]).await["header"]["format_version"],
        1
    );

    // A token that is not the hub's.
    let (code, value) = station_in(
        &data,
        &[
            "register",
            "--hub",
            &hub.base(),
            "--token",
            "onb_nonsense",
            "--hub-ca",
            hub_tls_file("hub.pem").to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(value["error"]["code"], "REGISTRATION_REFUSED", "{value:#}");
    // Without trusting the hub's certificate, nothing is sent.
    let token = hub.token();
    let (code, value) = station_in(
        &data,
        &["register", "--hub", &hub.base(), "--token", &token],
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(value["error"]["code"], "PLATFORM_UNREACHABLE", "{value:#}");

    let registered = register(&data, &hub, &hub.base()).await;
    let station_id = registered["registration"]["station_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(station_id.starts_with("st-"), "{registered:#}");
    assert_ne!(station_id, local_id);
    assert_eq!(registered["registration"]["previous_station_id"], local_id);
    assert_eq!(registered["packets_sealed_before_registration"]["count"], 1);

    let (_, identity) = station_in(&data, &["identity"]).await;
    assert_eq!(identity["station_id"], station_id.as_str());
    assert_eq!(identity["local_station_id"], local_id.as_str());
    assert_eq!(identity["registered"], true);
    let (_, key) = station_in(&data, &["platform-key"]).await;
    assert_eq!(key["source"], "registration");
    assert_eq!(
        key["platform_key"],
        registered["registration"]["hub_hpke_public_key"]
    );
    let (code, again) = station_in(
        &data,
        &["register", "--hub", &hub.base(), "--token", &hub.token()],
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(again["error"]["code"], "ALREADY_REGISTERED");

    // Packets sealed now carry the platform's id, and go over mutual TLS.
    let after = queue_packets(&data, 2, 1).await;
    let shown = packet(&data, after[0]).await;
    assert_eq!(shown["station_id"], station_id);
    // The hub said at registration that it reads version 2.
    assert_eq!(shown["header"]["format_version"], 2, "{shown:#}");
    let summary = once(&data, &[]).await;
    assert_eq!(ids(&summary, "acknowledged").len(), 2, "{summary:#}");
    assert_eq!(summary["uploaded"], 2);
    assert_eq!(summary["connectivity"], "online");
    // The one sealed before is refused by the platform, with its reason.
    let rejected = &summary["rejected"][0];
    assert_eq!(rejected["id"], before[0].to_string());
    assert_eq!(rejected["code"], "PACKET_REJECTED");
    assert!(
        rejected["reason"]
            .as_str()
            .unwrap()
            .starts_with("unknown_station"),
        "{rejected}"
    );
    assert_eq!(summary["still_pending"], 0);
    assert_exactly_once(&hub, &[after[0], after[1]]);
    for p in hub.packets() {
        assert_eq!(p["station_id"], station_id.as_str());
        assert_eq!(p["status"], "accepted");
        // The v2 packets' head turn, judged by the hub.
        assert_eq!(
            p["reverification"]["head_turn"]["verdict"], "valid",
            "{p:#}"
        );
    }
    let shown = packet(&data, before[0]).await;
    assert_eq!(shown["state"], "rejected");
    assert!(
        shown["last_error"]
            .as_str()
            .unwrap()
            .contains("unknown_station")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_registered_before_format_v2_learns_it_at_the_next_sync() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("station");
    let hub = HubProcess::start(dir.path(), false);
    register(&data, &hub, &hub.base()).await;
    // The registration as a platform older than the field left it.
    let store = open_store(&data).await;
    let key = station::platform::REGISTRATION_SETTING;
    let mut stored: Value =
        serde_json::from_str(&store.setting(key).await.unwrap().unwrap()).unwrap();
    assert_eq!(stored["packet_versions"], serde_json::json!([1, 2]));
    stored.as_object_mut().unwrap().remove("packet_versions");
    store
        .set_setting(store::Actor::System, key, &stored.to_string())
        .await
        .unwrap();
    store.close().await;

    let older = queue_packets(&data, 1, 1).await;
    assert_eq!(packet(&data, older[0]).await["header"]["format_version"], 1);
    // The next sync asks the platform, delivers the v1 packet as it is...
    let summary = once(&data, &[]).await;
    assert_eq!(ids(&summary, "acknowledged").len(), 1, "{summary:#}");
    // ...and what is sealed from then on is v2.
    let newer = queue_packets(&data, 1, 1).await;
    assert_eq!(packet(&data, newer[0]).await["header"]["format_version"], 2);
    let summary = once(&data, &[]).await;
    assert_eq!(ids(&summary, "acknowledged").len(), 1, "{summary:#}");
    let verdicts: Vec<Value> = hub
        .packets()
        .iter()
        .map(|p| p["reverification"]["head_turn"]["verdict"].clone())
        .collect();
    assert_eq!(verdicts, ["not_asked", "valid"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_packets_queued_while_the_hub_is_down_arrive_once_when_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("station");
    let mut hub = HubProcess::start(dir.path(), false);
    register(&data, &hub, &hub.base()).await;
    hub.kill();

    let queued = queue_packets(&data, 50, 1).await;
    let sync = SyncProcess::start(&data, &[]);
    // The worker meets a dead platform for a while...
    tokio::time::sleep(Duration::from_secs(2)).await;
    let first = packet(&data, queued[0]).await;
    assert_eq!(first["state"], "queued");
    assert!(first["attempts"].as_u64().unwrap() >= 1, "{first:#}");
    assert!(
        first["last_error"]
            .as_str()
            .unwrap()
            .contains("cannot be reached"),
        "{first:#}"
    );
    // One uploader per station: a second one is refused.
    let (code, second) = station_in(&data, &["sync", "--once"]).await;
    assert_eq!(code, 1);
    assert_eq!(
        second["error"]["code"], "SYNC_ALREADY_RUNNING",
        "{second:#}"
    );
    // ...then it is back.
    hub.restart();
    wait_acknowledged(&data, 50, Duration::from_secs(240)).await;
    let (code, summary) = sync.terminate().await;
    assert_eq!(code, 0, "{summary:#}");
    let summary = &summary["sync"];
    assert_eq!(summary["mode"], "continuous");
    assert_eq!(ids(summary, "acknowledged").len(), 50);
    assert!(!summary["errors"].as_array().unwrap().is_empty());
    assert_eq!(summary["errors"][0]["code"], "PLATFORM_UNREACHABLE");
    assert_eq!(summary["still_pending"], 0);
    assert_exactly_once(&hub, &queued);

    // Every acknowledgement is in the audit log, and the chain holds.
    let (_, audit) = station_in(&data, &["audit", "verify"]).await;
    assert_eq!(audit["audit"]["verdict"], "intact", "{audit:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_killed_mid_upload_and_restarted_loses_and_doubles_nothing() {
    let Behind {
        dir: _dir,
        data,
        mut hub,
        proxy,
        queued,
    } = Behind::proxy(30, 4).await;

    // The sixth upload trickles in; the hub dies while it reads the body.
    proxy.put_faults(
        std::iter::repeat_n(Fault::Pass, 5).chain([Fault::SlowRequest {
            chunk: 16 * 1024,
            pause: Duration::from_millis(100),
        }]),
    );
    let sync = SyncProcess::start(&data, &[]);
    hub.wait_for_packets(5, Duration::from_secs(120));
    while proxy.seen().iter().filter(|s| s.method == "PUT").count() < 6 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(250)).await;
    hub.kill();
    assert_eq!(hub_ids(&hub.packets()).len(), 5, "the sixth arrived whole");
    tokio::time::sleep(Duration::from_millis(700)).await;
    hub.restart();
    wait_acknowledged(&data, 30, Duration::from_secs(240)).await;
    let (code, summary) = sync.terminate().await;
    assert_eq!(code, 0);
    let sixth = queued[5].to_string();
    assert!(
        summary["sync"]["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == sixth.as_str() && e["code"] == "PLATFORM_UNREACHABLE"),
        "{summary:#}"
    );
    assert_exactly_once(&hub, &queued);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_station_killed_mid_upload_finishes_on_restart_without_a_second_record() {
    let behind = Behind::proxy(5, 1).await;
    let (data, hub, proxy, queued) = behind.parts();

    // The third upload reaches the hub, and its answer is held back while
    // the station is killed.
    proxy.put_faults([
        Fault::Pass,
        Fault::Pass,
        Fault::SlowAnswer(Duration::from_secs(30)),
    ]);
    let sync = SyncProcess::start(data, &[]);
    hub.wait_for_packets(3, Duration::from_secs(60));
    tokio::time::sleep(Duration::from_millis(300)).await;
    sync.kill().await;
    let third = packet(data, queued[2]).await;
    assert_eq!(third["state"], "uploading", "{third:#}");

    let summary = once(data, &[]).await;
    assert_eq!(summary["recovered_interrupted"], 1, "{summary:#}");
    // The interrupted one was already there: taken from the hub's status.
    assert_eq!(summary["reconciled"], 1);
    assert_eq!(summary["uploaded"], 2);
    assert_eq!(summary["counts"]["acknowledged"], 5);
    assert_exactly_once(hub, queued);
    let reput = proxy
        .seen()
        .iter()
        .filter(|s| s.method == "PUT" && s.path.ends_with(&queued[2].to_string()))
        .count();
    assert_eq!(reput, 1, "the interrupted packet was sent again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_after_back_off_and_retry_after() {
    let behind = Behind::proxy(2, 1).await;
    let (data, hub, proxy, queued) = behind.parts();

    proxy.put_faults([
        Fault::Status {
            status: 500,
            retry_after: None,
        },
        Fault::Status {
            status: 503,
            retry_after: Some(2),
        },
    ]);
    let summary = once(data, &[]).await;
    assert_eq!(ids(&summary, "acknowledged").len(), 2, "{summary:#}");
    let codes: Vec<&str> = summary["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["PLATFORM_UNAVAILABLE", "PLATFORM_UNAVAILABLE"]);
    assert_eq!(summary["errors"][0]["id"], queued[0].to_string());
    assert!(summary["errors"][0]["zh"]["cause"].is_string());
    // Nothing was sent before the 503's Retry-After had passed.
    let puts: Vec<Seen> = proxy
        .seen()
        .into_iter()
        .filter(|s| s.method == "PUT")
        .collect();
    let after_503 = puts
        .iter()
        .position(|s| matches!(s.fault, Fault::Status { status: 503, .. }))
        .unwrap();
    let next = puts[after_503 + 1].at;
    assert!(
        next.duration_since(puts[after_503].at) >= Duration::from_secs(2),
        "retried {:?} after a Retry-After of 2 s",
        next.duration_since(puts[after_503].at)
    );
    assert_exactly_once(hub, queued);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_hub_times_out_and_the_packet_it_kept_is_reconciled() {
    let behind = Behind::proxy(1, 1).await;
    let (data, hub, proxy, queued) = behind.parts();

    proxy.put_faults([Fault::SlowAnswer(Duration::from_secs(4))]);
    let summary = once(data, &["--timeout-secs", "1"]).await;
    assert_eq!(summary["errors"][0]["code"], "PLATFORM_UNREACHABLE");
    assert!(
        summary["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("timed out"),
        "{summary:#}"
    );
    assert_eq!(summary["reconciled"], 1, "{summary:#}");
    assert_eq!(summary["uploaded"], 0);
    assert_eq!(ids(&summary, "acknowledged"), [queued[0].to_string()]);
    assert_exactly_once(hub, queued);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_cut_half_way_through_the_body_is_sent_again() {
    let behind = Behind::proxy(2, 4).await;
    let (data, hub, proxy, queued) = behind.parts();

    proxy.put_faults([Fault::CutRequest { after: 60_000 }]);
    let summary = once(data, &[]).await;
    assert_eq!(summary["errors"][0]["code"], "PLATFORM_UNREACHABLE");
    assert_eq!(summary["errors"].as_array().unwrap().len(), 1);
    assert_eq!(ids(&summary, "acknowledged").len(), 2, "{summary:#}");
    // The hub never stored the half packet: it was sent whole again.
    assert_eq!(summary["uploaded"], 2);
    assert_exactly_once(hub, queued);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_delivery_makes_one_record() {
    let behind = Behind::proxy(1, 1).await;
    let (data, hub, proxy, queued) = behind.parts();

    // The hub's answer is lost, and the status look-up says (wrongly)
    // that the hub has no such packet: the station sends it a second time.
    proxy.put_faults([Fault::DropAnswer]);
    proxy.get_faults([Fault::Status {
        status: 404,
        retry_after: None,
    }]);
    let summary = once(data, &[]).await;
    assert_eq!(ids(&summary, "acknowledged"), [queued[0].to_string()]);
    let puts = proxy.seen().iter().filter(|s| s.method == "PUT").count();
    assert_eq!(puts, 2, "{summary:#}");
    assert_eq!(summary["uploaded"], 1);
    assert_exactly_once(hub, queued);
    let receipt_station = hub.packets()[0]["receipt"]["station_id"].clone();
    assert_eq!(receipt_station, summary["station_id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_packet_is_rejected_with_the_reason_and_can_be_resubmitted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("station");
    let hub = HubProcess::start(dir.path(), false);
    register(&data, &hub, &hub.base()).await;
    let queued = queue_packets(&data, 2, 1).await;

    // One byte in the middle of the first packet changes on disk.
    {
        let url = format!("sqlite:{}", data.join(store::DATABASE_FILE).display());
        let db = sqlx::SqlitePool::connect(&url).await.unwrap();
        let id = queued[0].to_string();
        let mut sealed: Vec<u8> =
            sqlx::query_scalar("SELECT sealed FROM outbox_payloads WHERE packet_id = ?1")
                .bind(&id)
                .fetch_one(&db)
                .await
                .unwrap();
        let middle = sealed.len() / 2;
        sealed[middle] ^= 0x40;
        sqlx::query("UPDATE outbox_payloads SET sealed = ?1 WHERE packet_id = ?2")
            .bind(sealed)
            .bind(&id)
            .execute(&db)
            .await
            .unwrap();
        db.close().await;
    }
    let summary = once(&data, &[]).await;
    assert_eq!(summary["rejected"][0]["id"], queued[0].to_string());
    let reason = summary["rejected"][0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("bad_signature"), "{reason}");
    // Its trouble held nothing else back.
    assert_eq!(ids(&summary, "acknowledged"), [queued[1].to_string()]);
    assert_exactly_once(&hub, &[queued[1]]);

    let shown = packet(&data, queued[0]).await;
    assert_eq!(shown["state"], "rejected");
    assert!(
        shown["last_error"]
            .as_str()
            .unwrap()
            .starts_with("bad_signature")
    );
    let (_, list) = station_in(&data, &["queue", "list"]).await;
    assert_eq!(list["counts"]["rejected"], 1);

    // A clerk may not resubmit; a supervisor may, once.
    let id = queued[0].to_string();
    let env = [("STATION_USER_PASSWORD", PASSWORD)];
    let (code, value) =
        station_in_env(&data, &["queue", "resubmit", &id, "--user", "clerk"], &env).await;
    assert_eq!(code, 1);
    assert_eq!(value["error"]["code"], "NOT_PERMITTED", "{value:#}");
    let (code, value) = station_in_env(
        &data,
        &["queue", "resubmit", &id, "--user", "supervisor"],
        &env,
    )
    .await;
    assert_eq!(code, 0, "{value:#}");
    assert_eq!(value["packet"]["state"], "queued");
    let (code, value) = station_in_env(
        &data,
        &["queue", "resubmit", &id, "--user", "supervisor"],
        &env,
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(value["error"]["code"], "PACKET_NOT_RESUBMITTABLE");
    // The same bytes get the same refusal.
    let summary = once(&data, &[]).await;
    assert_eq!(summary["rejected"][0]["id"], id.as_str());

    let (_, audit) = station_in(&data, &["audit", "verify"]).await;
    assert_eq!(audit["audit"]["verdict"], "intact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_with_a_bad_signature_is_not_taken_as_an_acknowledgement() {
    let behind = Behind::proxy(1, 1).await;
    let (data, hub, proxy, queued) = behind.parts();

    // Every receipt comes back altered, from uploads and look-ups alike.
    proxy.set_defaults(Some(Fault::CorruptReceipt), Some(Fault::CorruptReceipt));
    let summary = once(data, &["--attempts", "2"]).await;
    assert!(summary["acknowledged"].as_array().unwrap().is_empty());
    assert_eq!(summary["errors"].as_array().unwrap().len(), 2);
    for e in summary["errors"].as_array().unwrap() {
        assert_eq!(e["code"], "RECEIPT_INVALID", "{e}");
    }
    assert_eq!(summary["still_pending"], 1);
    let shown = packet(data, queued[0]).await;
    assert_eq!(shown["state"], "queued");
    assert_eq!(shown["acknowledged_at_unix_ms"], Value::Null);
    assert!(
        shown["last_error"]
            .as_str()
            .unwrap()
            .contains("not valid for this packet")
    );

    // With honest answers the packet the hub already holds is acknowledged.
    proxy.set_defaults(None, None);
    let summary = once(data, &[]).await;
    assert_eq!(summary["reconciled"], 1, "{summary:#}");
    assert_eq!(ids(&summary, "acknowledged"), [queued[0].to_string()]);
    assert_exactly_once(hub, queued);
}
