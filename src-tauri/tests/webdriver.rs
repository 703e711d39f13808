//! The real app, driven over WebDriver under Xvfb: WebKitWebDriver starts
//! the `enrollment-station` binary and a client clicks through its window.

// In tests a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::time::Duration;

use biometrics::DigitChallenge;
use biometrics::voice::Language;
use fantoccini::{Client, Locator};
use support::{connect, start_driver};
use testbed::Service;

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

async fn shot(client: &Client, name: &str) {
    // The webview's snapshot is its last painted frame: let two more frames
    // be painted first.
    let _ = client
        .execute_async(
            "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done()));",
            vec![],
        )
        .await;
    std::fs::write(
        screenshots_dir().join(format!("{name}.png")),
        client.screenshot().await.unwrap(),
    )
    .unwrap();
}

fn css(testid: &str) -> String {
    format!("[data-testid=\"{testid}\"]")
}

async fn fill(client: &Client, testid: &str, text: &str) {
    let input = client.find(Locator::Css(&css(testid))).await.unwrap();
    input.clear().await.unwrap();
    // WebKitWebDriver refuses to send no keys at all.
    if !text.is_empty() {
        input.send_keys(text).await.unwrap();
    }
}

async fn click(client: &Client, testid: &str) {
    client
        .find(Locator::Css(&css(testid)))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn text_of(client: &Client, testid: &str) -> String {
    client
        .find(Locator::Css(&css(testid)))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits for the catalogue failure `code` on the screen and returns its
/// cause and remedy as shown.
async fn problem(client: &Client, code: &str, seconds: u64) -> (String, String) {
    let selector = format!("[data-testid=problem][data-code={code}]");
    wait_for(client, Locator::Css(&selector), seconds).await;
    let node = client.find(Locator::Css(&selector)).await.unwrap();
    let cause = node.find(Locator::Css(".cause")).await.unwrap();
    let remedy = node.find(Locator::Css(".remedy")).await.unwrap();
    (cause.text().await.unwrap(), remedy.text().await.unwrap())
}

/// The first administrator, created on the first-run screen; the app then
/// signs them in.
async fn first_run(client: &Client) {
    wait_for(client, Locator::Css(&css("admin-name")), 30).await;
    shot(client, "01-first-run").await;
    fill(client, "admin-name", ADMIN.0).await;
    fill(client, "admin-password", ADMIN.1).await;
    click(client, "create-admin").await;
    wait_for(client, Locator::Css(&css("check-readers")), 30).await;
}

/// The display, the readers and the microphone the app is tested with.
fn bed_ready() -> bool {
    let display = testbed::require(Service::Display);
    let pcscd = testbed::require(Service::Pcscd);
    let pulse = testbed::require(Service::PulseAudio);
    display && pcscd && pulse
}

const ADMIN: (&str, &str) = ("admin", "admin-password-1");
const CLERK: (&str, &str) = ("clerk.wang", "clerk-password-1");
const SUPERVISOR: (&str, &str) = ("supervisor.li", "supervisor-password-1");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_screen_lists_the_test_bed_devices() {
    if !bed_ready() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let (_driver, port) = start_driver(data.path(), &[]);
    let client = connect(port).await;

    // A new station asks for its administrator first, then shows the home
    // screen with the status rows once the station core has answered.
    first_run(&client).await;

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
    assert_eq!(text_of(&client, "count-queued").await, "0");
    shot(&client, "home-zh").await;

    // English is one click away, and every label follows.
    click(&client, "lang-toggle").await;
    wait_for(&client, Locator::XPath("//h2[text()='Device status']"), 5).await;
    let mics = texts(&client, "[data-testid=microphones-item]").await;
    assert!(mics.iter().any(|m| m == "virtmic (default)"), "{mics:?}");
    shot(&client, "home-en").await;

    client.close().await.unwrap();
}

/// ICAO 9303's check digit (weights 7, 3, 1), computed here independently
/// of the station's.
fn check_digit(field: &str) -> char {
    let sum: u32 = field
        .bytes()
        .zip([7u32, 3, 1].iter().cycle())
        .map(|(b, w)| {
            let v = match b {
                b'0'..=b'9' => u32::from(b - b'0'),
                b'A'..=b'Z' => u32::from(b - b'A') + 10,
                _ => 0,
            };
            v * w
        })
        .sum();
    char::from_digit(sum % 10, 10).unwrap()
}

async fn type_mrz(client: &Client, number: &str, birth: &str, expiry: &str) {
    for (field, check, value) in [
        ("mrz-document_number", "mrz-document_check", number),
        ("mrz-date_of_birth", "mrz-birth_check", birth),
        ("mrz-date_of_expiry", "mrz-expiry_check", expiry),
    ] {
        fill(client, field, value).await;
        fill(client, check, &check_digit(value).to_string()).await;
    }
}

async fn field_state(client: &Client, field: &str) -> Option<String> {
    client
        .find(Locator::Css(&css(&format!("mrz-state-{field}"))))
        .await
        .unwrap()
        .attr("data-state")
        .await
        .unwrap()
}

/// The whole counter flow in the real window, in demo mode: staff set up,
/// the clerk signs in, a wrong MRZ gets the catalogue's remedy, the demo
/// chip is read through pcscd's vpcd reader, a spoof image sequence is
/// refused, the demo camera's frames match the chip portrait, the citizen's
/// digits are spoken into the virtual microphone, the clerk cannot approve
/// their own enrollment, a supervisor approves, and the sealed packet is in
/// the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clerk_enrolls_a_citizen_from_sign_in_to_the_queue() {
    if !bed_ready() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let station_dir = support::station_folder(data.path());
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let spoof = data.path().join("spoof");
    std::fs::create_dir_all(&spoof).unwrap();
    for name in ["F1.png", "F2.png"] {
        std::fs::copy(repo.join("testdata/faces").join(name), spoof.join(name)).unwrap();
    }
    let (_driver, port) = start_driver(data.path(), &[("STATION_DEMO", "1")]);
    let client = connect(port).await;

    // The administrator adds a clerk and a supervisor.
    first_run(&client).await;
    for (name, password, role) in [
        (CLERK.0, CLERK.1, "clerk"),
        (SUPERVISOR.0, SUPERVISOR.1, "supervisor"),
    ] {
        fill(&client, "staff-name", name).await;
        fill(&client, "staff-password", password).await;
        client
            .find(Locator::Css(&format!(
                "[data-testid=staff-role] option[value={role}]"
            )))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        click(&client, "staff-add").await;
        wait_for(
            &client,
            Locator::XPath(&format!(
                "//*[@data-testid='staff-added' and contains(., '{name}')]"
            )),
            10,
        )
        .await;
    }
    shot(&client, "02-home-admin").await;

    // Settings: a file that is not a certificate is refused and the trust
    // store stays empty; the demo CSCA is taken; a crossed threshold is
    // refused, a sound one saved.
    click(&client, "open-settings").await;
    wait_for(&client, Locator::Css(&css("trust-path")), 30).await;
    let garbage = data.path().join("csca.der");
    std::fs::write(&garbage, b"not a certificate").unwrap();
    fill(&client, "trust-path", garbage.to_str().unwrap()).await;
    click(&client, "trust-import").await;
    let (cause, _) = problem(&client, "TRUST_FILE_INVALID", 10).await;
    assert_eq!(
        cause,
        station::Failure::new(station::Code::TrustFileInvalid, "")
            .zh
            .cause
    );
    assert!(
        client
            .find_all(Locator::Css(&css("trust-file")))
            .await
            .unwrap()
            .is_empty()
    );
    let csca = repo.join("testdata/documents/demo/trust/csca.der");
    fill(&client, "trust-path", csca.to_str().unwrap()).await;
    click(&client, "trust-import").await;
    wait_for(&client, Locator::Css(&css("settings-trust_added")), 10).await;
    assert!(text_of(&client, "trust-file").await.starts_with("csca-"));
    fill(&client, "setting-liveness_spoof_threshold", "0.95").await;
    click(&client, "settings-save").await;
    problem(&client, "SETTING_INVALID", 10).await;
    shot(&client, "02-settings-refused").await;
    // An emptied number is no zero: the window refuses it, naming the field.
    fill(&client, "setting-face_match_threshold", "").await;
    click(&client, "settings-save").await;
    wait_for(
        &client,
        Locator::Css("[data-testid=setting-not-a-number][data-setting=face_match_threshold]"),
        10,
    )
    .await;
    fill(&client, "setting-liveness_spoof_threshold", "0.5").await;
    fill(&client, "setting-face_match_threshold", "0.36").await;
    click(&client, "settings-save").await;
    wait_for(&client, Locator::Css(&css("settings-saved")), 10).await;
    let saved = client
        .find(Locator::Css(&css("setting-face_match_threshold")))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(saved.as_deref(), Some("0.36"));
    shot(&client, "02-settings-saved").await;
    click(&client, "back-home").await;
    wait_for(&client, Locator::Css(&css("sign-out")), 10).await;
    click(&client, "sign-out").await;

    // The clerk signs in with the keyboard alone: Enter submits.
    wait_for(&client, Locator::Css(&css("login-name")), 10).await;
    shot(&client, "03-login").await;
    fill(&client, "login-name", CLERK.0).await;
    fill(&client, "login-password", &format!("{}\u{E007}", CLERK.1)).await;
    wait_for(&client, Locator::Css(&css("new-enrollment")), 30).await;
    assert!(text_of(&client, "signed-in").await.starts_with(CLERK.0));
    shot(&client, "04-home-clerk").await;
    click(&client, "new-enrollment").await;

    // Document: the check digits are checked while typing.
    wait_for(&client, Locator::Css(&css("mrz-document_number")), 30).await;
    fill(&client, "mrz-document_number", "L898902C3").await;
    fill(&client, "mrz-document_check", "7").await;
    wait_for(
        &client,
        Locator::Css("[data-testid=mrz-state-document_number][data-state=bad_check_digit]"),
        5,
    )
    .await;
    shot(&client, "05-document-check-digit").await;
    // Well-formed, but not this document's: the chip refuses the key.
    type_mrz(&client, "L898902C3", "740813", "341231").await;
    for field in ["document_number", "date_of_birth", "date_of_expiry"] {
        assert_eq!(field_state(&client, field).await.as_deref(), Some("valid"));
    }
    click(&client, "read-chip").await;
    let (cause, remedy) = problem(&client, "WRONG_ACCESS_KEY", 60).await;
    let expected = station::Failure::new(station::Code::WrongAccessKey, "");
    assert_eq!(cause, expected.zh.cause);
    assert_eq!(remedy, expected.zh.remedy);
    shot(&client, "06-document-wrong-mrz").await;

    type_mrz(&client, "L898902C3", "740812", "341231").await;
    click(&client, "read-chip").await;
    wait_for(&client, Locator::Css(&css("document-result")), 60).await;
    for check in ["passive", "active", "chip"] {
        let verdict = client
            .find(Locator::Css(&css(&format!("badge-{check}"))))
            .await
            .unwrap()
            .attr("data-verdict")
            .await
            .unwrap();
        assert_eq!(verdict.as_deref(), Some("valid"), "{check}");
    }
    assert_eq!(text_of(&client, "doc.document_number").await, "L898902C3");
    assert_eq!(text_of(&client, "doc.national_name").await, "样本 演示");
    shot(&client, "07-document-read").await;
    // Alt+→ is Next.
    client
        .find(Locator::Css(&css("next")))
        .await
        .unwrap()
        .send_keys("\u{E00A}\u{E014}\u{E000}")
        .await
        .unwrap();

    // Face: a printed photo and a phone replay are refused by liveness.
    wait_for(&client, Locator::Css(&css("face-folder")), 10).await;
    fill(&client, "face-folder", spoof.to_str().unwrap()).await;
    click(&client, "capture-face").await;
    let (cause, _) = problem(&client, "LIVENESS_FAILED", 120).await;
    assert_eq!(
        cause,
        station::Failure::new(station::Code::LivenessFailed, "")
            .zh
            .cause
    );
    assert_eq!(
        text_of(&client, "face-hint").await,
        "头部偏转：请市民正视前方。"
    );
    let next = client.find(Locator::Css(&css("next"))).await.unwrap();
    assert!(!next.is_enabled().await.unwrap());
    shot(&client, "08-face-spoof").await;
    // The demo camera (a clip played through the camera pipeline, its
    // preview frames sent to the window as bytes) matches the chip portrait.
    client
        .find(Locator::Css(&css("face-folder")))
        .await
        .unwrap()
        .clear()
        .await
        .unwrap();
    click(&client, "capture-face").await;
    // The demo camera is asked for a head turn, and turns: the window
    // showed the prompts in order (recorded, as the demo head may turn
    // faster than a screenshot).
    wait_for(&client, Locator::Css(&css("face-result")), 120).await;
    let direction = attr_of(&client, "challenge-result", "data-direction")
        .await
        .unwrap();
    let prompts: Vec<String> = serde_json::from_str(
        &attr_of(&client, "face-result", "data-turn-prompts")
            .await
            .unwrap(),
    )
    .unwrap();
    let turn = zh(&format!("face.turn.turn.{direction}"));
    let at = prompts.iter().position(|p| *p == turn);
    assert!(at.is_some(), "{prompts:?}");
    assert!(
        prompts[at.unwrap_or_default()..].contains(&zh("face.turn.look_back")),
        "{prompts:?}"
    );
    assert_eq!(
        attr_of(&client, "challenge-result", "data-state")
            .await
            .as_deref(),
        Some("passed")
    );
    let frames: u32 = client
        .find(Locator::Css(&css("face-result")))
        .await
        .unwrap()
        .attr("data-preview-frames")
        .await
        .unwrap()
        .unwrap_or_default()
        .parse()
        .unwrap();
    assert!(frames > 0, "the window received no preview frame");
    assert!(text_of(&client, "liveness").await.starts_with("真人"));
    assert!(text_of(&client, "match-score").await.starts_with("同一人"));
    shot(&client, "09-face-result").await;
    click(&client, "next").await;

    // Voice: the citizen reads the digits shown into the microphone.
    wait_for(
        &client,
        Locator::XPath("//*[@data-testid='challenge' and string-length(normalize-space(.)) > 0]"),
        10,
    )
    .await;
    // Escape stops a recording under way: the catalogue says so, and a new
    // challenge is drawn for the next try.
    let first = text_of(&client, "challenge").await;
    click(&client, "record-voice").await;
    // Once the recording reports its level the core surely has the step.
    wait_for(
        &client,
        Locator::Css("[data-testid=cancel-step][data-running]"),
        10,
    )
    .await;
    client
        .find(Locator::Css(&css("cancel-step")))
        .await
        .unwrap()
        .send_keys("\u{E00C}")
        .await
        .unwrap();
    let (cause, _) = problem(&client, "CANCELLED", 10).await;
    assert_eq!(
        cause,
        station::Failure::new(station::Code::Cancelled, "").zh.cause
    );
    wait_for(
        &client,
        Locator::XPath(&format!(
            "//*[@data-testid='challenge' and normalize-space(.) != '{first}']"
        )),
        10,
    )
    .await;
    assert!(
        client
            .find_all(Locator::Css(&css("cancel-step")))
            .await
            .unwrap()
            .is_empty()
    );
    shot(&client, "10-voice-cancelled").await;
    let digits = text_of(&client, "challenge").await;
    assert!(
        digits.len() >= 4 && digits.bytes().all(|b| b.is_ascii_digit()),
        "{digits}"
    );
    let spoken = DigitChallenge::try_from(digits)
        .unwrap()
        .spoken(Language::English);
    let wav = data.path().join("voice.wav");
    testbed::read_aloud(&spoken, &wav).unwrap();
    click(&client, "record-voice").await;
    // The citizen speaks once the meter moves: the microphone is open.
    wait_for(&client, Locator::Css("[role=meter][aria-valuenow]"), 30).await;
    let player = tokio::task::spawn_blocking(move || testbed::play_into_microphone(&wav));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    shot(&client, "11-voice-recording").await;
    player.await.unwrap().unwrap();
    wait_for(&client, Locator::Css(&css("voice-result")), 60).await;
    // Play back: the sample's WAV bytes reach the window's memory as a
    // blob the audio element decodes, as long as the recording.
    click(&client, "play-voice").await;
    wait_for(
        &client,
        Locator::Css("[data-testid=voice-audio][src^='blob:']"),
        10,
    )
    .await;
    let seconds = client
        .execute_async(
            "const done = arguments[0];
             const a = document.querySelector('[data-testid=voice-audio]');
             const report = () => done(a.error ? 'error ' + a.error.code : a.duration);
             if (a.readyState >= 1 || a.error) report();
             else { a.addEventListener('loadedmetadata', report); a.addEventListener('error', report); }",
            vec![],
        )
        .await
        .unwrap();
    let seconds = seconds.as_f64().unwrap_or_else(|| panic!("{seconds}"));
    assert!((3.0..=6.5).contains(&seconds), "{seconds} s played back");
    shot(&client, "12-voice-result").await;
    click(&client, "next").await;

    // Review, then the supervisor's dialog.
    wait_for(&client, Locator::Css(&css("review")), 10).await;
    shot(&client, "13-review").await;
    click(&client, "submit-review").await;
    wait_for(&client, Locator::Css(&css("supervisor-name")), 10).await;
    // The clerk cannot approve their own enrollment.
    fill(&client, "supervisor-name", CLERK.0).await;
    fill(&client, "supervisor-password", CLERK.1).await;
    click(&client, "approve").await;
    let (cause, remedy) = problem(&client, "SELF_APPROVAL", 30).await;
    let expected = station::Failure::new(station::Code::SelfApproval, "");
    assert_eq!(
        (cause, remedy),
        (expected.zh.cause.clone(), expected.zh.remedy.clone())
    );
    shot(&client, "14-approval-same-user").await;
    // Escape closes the dialog; the enrollment waits, submitted, for another try.
    client
        .find(Locator::Css(&css("supervisor-name")))
        .await
        .unwrap()
        .send_keys("\u{E00C}")
        .await
        .unwrap();
    let closed = async {
        while !client
            .find_all(Locator::Css(&css("supervisor-name")))
            .await
            .unwrap()
            .is_empty()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), closed)
        .await
        .expect("Escape closes the approval dialog");
    click(&client, "submit-review").await;
    wait_for(&client, Locator::Css(&css("supervisor-name")), 10).await;
    fill(&client, "supervisor-name", SUPERVISOR.0).await;
    fill(&client, "supervisor-password", SUPERVISOR.1).await;
    click(&client, "approve").await;
    wait_for(&client, Locator::Css(&css("packet-id")), 60).await;
    let packet = text_of(&client, "packet-id").await;
    shot(&client, "15-sealed").await;

    // The queue shows the sealed packet waiting for upload.
    click(&client, "done-queue").await;
    wait_for(&client, Locator::Css(&css("packet-row")), 10).await;
    let row = client.find(Locator::Css(&css("packet-row"))).await.unwrap();
    assert_eq!(
        row.attr("data-packet").await.unwrap().as_deref(),
        Some(packet.as_str())
    );
    assert_eq!(
        row.attr("data-state").await.unwrap().as_deref(),
        Some("queued")
    );
    assert_eq!(text_of(&client, "count-queued").await, "1");
    shot(&client, "16-queue").await;

    // The platform refuses the packet (recorded as the uploader records a
    // refusal); the queue shows its reason and Resubmit.
    let reason = "the face does not match the chip portrait";
    refuse_packet(&station_dir, &packet, reason).await;
    click(&client, "back-home").await;
    wait_for(&client, Locator::Css(&css("open-queue")), 10).await;
    // The audit log is not a clerk's door.
    assert!(
        client
            .find_all(Locator::Css(&css("open-audit")))
            .await
            .unwrap()
            .is_empty()
    );
    click(&client, "open-queue").await;
    wait_for(
        &client,
        Locator::Css("[data-testid=packet-row][data-state=rejected]"),
        10,
    )
    .await;
    let row = client.find(Locator::Css(&css("packet-row"))).await.unwrap();
    assert!(row.text().await.unwrap().contains(reason));
    shot(&client, "17-queue-rejected").await;
    // A clerk may not resubmit, even with the right password.
    click(&client, "resubmit").await;
    wait_for(&client, Locator::Css(&css("resubmit-user")), 5).await;
    fill(&client, "resubmit-user", CLERK.0).await;
    fill(&client, "resubmit-password", CLERK.1).await;
    click(&client, "resubmit-confirm").await;
    problem(&client, "NOT_PERMITTED", 10).await;
    shot(&client, "18-resubmit-refused").await;
    fill(&client, "resubmit-user", SUPERVISOR.0).await;
    fill(
        &client,
        "resubmit-password",
        &format!("{}\u{E007}", SUPERVISOR.1),
    )
    .await;
    wait_for(
        &client,
        Locator::Css("[data-testid=packet-row][data-state=queued]"),
        10,
    )
    .await;
    assert_eq!(text_of(&client, "count-queued").await, "1");
    assert_eq!(text_of(&client, "count-rejected").await, "0");
    shot(&client, "19-queue-resubmitted").await;

    // The supervisor reads the audit log: the chain holds, the newest
    // entry is their resubmission, and the filter finds the cancel.
    click(&client, "back-home").await;
    wait_for(&client, Locator::Css(&css("sign-out")), 10).await;
    click(&client, "sign-out").await;
    wait_for(&client, Locator::Css(&css("login-name")), 10).await;
    fill(&client, "login-name", SUPERVISOR.0).await;
    fill(
        &client,
        "login-password",
        &format!("{}\u{E007}", SUPERVISOR.1),
    )
    .await;
    wait_for(&client, Locator::Css(&css("open-audit")), 30).await;
    click(&client, "open-audit").await;
    wait_for(
        &client,
        Locator::Css("[data-testid=audit-chain][data-intact=true]"),
        30,
    )
    .await;
    let actions = audit_actions(&client).await;
    assert_eq!(
        actions.first().map(String::as_str),
        Some("login"),
        "{actions:?}"
    );
    assert!(actions.iter().any(|a| a == "resubmitted"), "{actions:?}");
    assert!(
        actions.iter().any(|a| a == "voice_played_back"),
        "{actions:?}"
    );
    shot(&client, "20-audit").await;
    client
        .find(Locator::Css(
            "[data-testid=audit-action] option[value=step_cancelled]",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(
        &client,
        Locator::XPath("//*[@data-testid='audit-line'][@data-action='step_cancelled']"),
        10,
    )
    .await;
    let actions = audit_actions(&client).await;
    assert_eq!(actions, ["step_cancelled"]);
    shot(&client, "21-audit-filtered").await;

    client.close().await.unwrap();
}

// --- live parts: the reader watch, the single instance, the window state ---

/// A binary built beside the app (`cargo test --workspace` builds them all).
fn sibling(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_enrollment-station")).with_file_name(name)
}

/// The demo document's chip in the first vpcd reader, served by `station
/// card simulate` until dropped (then pcscd sees the card leave).
struct DemoCard(std::process::Child);

impl DemoCard {
    fn insert(extra: &[&str]) -> Self {
        use std::io::BufRead as _;
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut child = std::process::Command::new(sibling("station"))
            .args(["card", "simulate", "--json", "--profile"])
            .arg(repo.join("testdata/documents/demo"))
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Its first line says the card is in.
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.contains("serving"), "{line}");
        Self(child)
    }
}

impl Drop for DemoCard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A text of the window's default language.
fn zh(key: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ui/public/locales/zh-CN.json");
    let texts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    texts[key].as_str().unwrap().to_owned()
}

/// Waits until the home screen lists `reader` with `state` (a locale key).
async fn reader_shows(client: &Client, reader: &str, state: &str) {
    let xpath = format!(
        "//*[@data-testid='readers-item' and contains(., '{reader}') and contains(., '{}')]",
        zh(state)
    );
    wait_for(client, Locator::XPath(&xpath), 20).await;
}

async fn attr_of(client: &Client, testid: &str, name: &str) -> Option<String> {
    client
        .find(Locator::Css(&css(testid)))
        .await
        .unwrap()
        .attr(name)
        .await
        .unwrap()
}

/// The clerk's document step, with the demo document's CAN typed and no
/// document on the reader yet.
async fn document_step_with_can(client: &Client) {
    click(client, "new-enrollment").await;
    wait_for(client, Locator::Css(&css("access-can")), 30).await;
    click(client, "access-can").await;
    fill(client, "can", station::enroll::DEMO_CAN).await;
    wait_for(
        client,
        Locator::Css("[data-testid=card-prompt][data-card=absent]"),
        10,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_start_hands_over_and_the_window_comes_back_where_it_was() {
    if !testbed::require(Service::Display) {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let station_dir = support::station_folder(data.path());
    // Where the window was when the app last closed.
    let config = data.path().join("xdg-config/org.enrollment-station.app");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("window-state.json"),
        r#"{"width": 1100, "height": 760, "x": 30, "y": 20, "maximized": false}"#,
    )
    .unwrap();
    let (_driver, port) = start_driver(data.path(), &[]);
    let client = connect(port).await;
    first_run(&client).await;

    // The saved window state was restored.
    let (x, y, width, height) = client.get_window_rect().await.unwrap();
    assert_eq!((width, height), (1100, 760));
    assert_eq!((x, y), (30, 20));

    // Not registered: the home screen says so, with the catalogue's remedy.
    wait_for(
        &client,
        Locator::Css("[data-testid=link-state][data-state=not_registered]"),
        20,
    )
    .await;
    let (cause, _) = problem(&client, "NOT_REGISTERED", 5).await;
    assert_eq!(
        cause,
        station::Failure::new(station::Code::NotRegistered, "")
            .zh
            .cause
    );
    shot(&client, "live-01-home-not-registered").await;

    // A second start hands over to this window and ends at once.
    let second = tokio::process::Command::new(env!("CARGO_BIN_EXE_enrollment-station"))
        .env("STATION_DATA_DIR", &station_dir)
        .env("XDG_CONFIG_HOME", data.path().join("xdg-config"))
        .output();
    let second = tokio::time::timeout(Duration::from_secs(30), second)
        .await
        .expect("the second start ended")
        .unwrap();
    assert!(second.status.success(), "{second:?}");
    wait_for(&client, Locator::Css("body[data-shown-again='1']"), 10).await;

    // Moved and resized: once it stays there, the next start will find it
    // there (saved without waiting for a close, which a killed app never
    // gets to).
    client.set_window_rect(70, 50, 1180, 790).await.unwrap();
    let saved = config.join("window-state.json");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&saved).unwrap_or_default();
        if text.contains("1180") {
            let state: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(state["width"], 1180, "{state}");
            assert_eq!(state["height"], 790, "{state}");
            assert_eq!(
                (state["x"].clone(), state["y"].clone()),
                (70.into(), 50.into())
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not saved: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_follows_the_document_on_the_reader() {
    if !bed_ready() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    support::station_folder(data.path());
    let (_driver, port) = start_driver(data.path(), &[]);
    let client = connect(port).await;
    first_run(&client).await;

    // The card goes in and out; the device list follows without a refresh.
    let reader = "Virtual PCD 00 00";
    reader_shows(&client, reader, "reader.no_card").await;
    let card = DemoCard::insert(&[]);
    reader_shows(&client, reader, "reader.card_present").await;
    shot(&client, "live-02-home-card-present").await;
    drop(card);
    reader_shows(&client, reader, "reader.no_card").await;

    // The clerk's document step waits for the document and reads it when
    // it arrives.
    fill(&client, "staff-name", CLERK.0).await;
    fill(&client, "staff-password", CLERK.1).await;
    click(&client, "staff-add").await;
    wait_for(&client, Locator::Css(&css("staff-added")), 10).await;
    click(&client, "sign-out").await;
    wait_for(&client, Locator::Css(&css("login-name")), 10).await;
    fill(&client, "login-name", CLERK.0).await;
    fill(&client, "login-password", &format!("{}\u{E007}", CLERK.1)).await;
    wait_for(&client, Locator::Css(&css("new-enrollment")), 30).await;
    document_step_with_can(&client).await;
    assert_eq!(text_of(&client, "card-prompt").await, zh("doc.insert_card"));
    let read = client.find(Locator::Css(&css("read-chip"))).await.unwrap();
    assert!(!read.is_enabled().await.unwrap());
    shot(&client, "live-03-insert-document").await;
    let card = DemoCard::insert(&[]);
    wait_for(&client, Locator::Css(&css("document-result")), 60).await;
    assert_eq!(text_of(&client, "doc.document_number").await, "L898902C3");
    shot(&client, "live-04-read-on-arrival").await;
    drop(card);

    // A document pulled out half way through the read: the catalogue's
    // cause and remedy.
    click(&client, "cancel-enrollment").await;
    wait_for(&client, Locator::Css(&css("new-enrollment")), 30).await;
    document_step_with_can(&client).await;
    let pulled = DemoCard::insert(&["--remove-after-apdus", "25"]);
    let (cause, remedy) = problem(&client, "CARD_REMOVED", 60).await;
    let expected = station::Failure::new(station::Code::CardRemoved, "");
    assert_eq!((cause, remedy), (expected.zh.cause, expected.zh.remedy));
    assert_eq!(
        attr_of(&client, "card-prompt", "data-card")
            .await
            .as_deref(),
        Some("absent")
    );
    shot(&client, "live-05-card-pulled").await;
    drop(pulled);

    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_home_screen_follows_the_platform_going_away_and_coming_back() {
    if !testbed::require(Service::Display) {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let station_dir = data.path().join("station");
    let mut hub = testbed::hub::HubProcess::start(data.path(), false);
    let registered = std::process::Command::new(sibling("station"))
        .args(["register", "--hub", &hub.base(), "--token", &hub.token()])
        .arg("--json")
        .arg("--data-dir")
        .arg(&station_dir)
        .output()
        .unwrap();
    assert!(registered.status.success(), "{registered:?}");
    let (_driver, port) = start_driver(data.path(), &[]);
    let client = connect(port).await;
    first_run(&client).await;

    // The uplink runs in the app: the hub answers.
    let online = Locator::Css("[data-testid=link-state][data-state=online]");
    wait_for(&client, online, 30).await;
    assert_eq!(text_of(&client, "link-hub").await, hub.base());
    assert_ne!(
        text_of(&client, "link-last-contact").await,
        zh("link.never")
    );
    shot(&client, "live-06-home-online").await;

    // The hub goes away and comes back; the screen follows by itself.
    hub.kill();
    let offline = Locator::Css("[data-testid=link-state][data-state=offline]");
    wait_for(&client, offline, 40).await;
    let (cause, remedy) = problem(&client, "PLATFORM_UNREACHABLE", 5).await;
    let expected = station::Failure::new(station::Code::PlatformUnreachable, "");
    assert_eq!((cause, remedy), (expected.zh.cause, expected.zh.remedy));
    shot(&client, "live-07-home-offline").await;
    hub.restart();
    wait_for(&client, online, 40).await;
    assert!(
        client
            .find_all(Locator::Css(
                "[data-testid=link-panel] [data-testid=problem]"
            ))
            .await
            .unwrap()
            .is_empty()
    );
    client.close().await.unwrap();
}

/// The audit screen's lines, as their action codes.
async fn audit_actions(client: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for e in client
        .find_all(Locator::Css(&css("audit-line")))
        .await
        .unwrap()
    {
        out.push(e.attr("data-action").await.unwrap().unwrap_or_default());
    }
    out
}

/// Marks `packet` refused by the platform in the station's store, the way
/// the uploader does on a refusal.
async fn refuse_packet(station_dir: &std::path::Path, packet: &str, reason: &str) {
    let store = store::Store::open(&station_dir.join(store::DATABASE_FILE))
        .await
        .unwrap();
    let entry = store
        .outbox_entries(10)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.packet_id.to_string() == packet)
        .unwrap();
    store.mark_uploading(entry.packet_id).await.unwrap();
    store.mark_rejected(entry.packet_id, reason).await.unwrap();
    store.close().await;
}
