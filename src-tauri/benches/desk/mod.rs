//! Shared by the window benchmarks: the real app in demo mode under
//! WebKitWebDriver (the virtual chip in the vpcd reader, the demo camera,
//! the virtual microphone), its staff made by calling the app's commands
//! from the page, and the resident memory of its processes.

#![allow(dead_code)] // each benchmark uses a part

use std::time::Duration;

use fantoccini::{Client, Locator};
use serde_json::{Value, json};

use crate::support;

pub const ADMIN: (&str, &str) = ("admin", "admin-password-1");
pub const CLERK: (&str, &str) = ("clerk.bench", "clerk-password-1");
pub const SUPERVISOR: (&str, &str) = ("supervisor.bench", "supervisor-password-1");

/// The display, the readers and the microphone the benchmarks need.
pub fn bed_ready() -> bool {
    use testbed::Service;
    [Service::Display, Service::Pcscd, Service::PulseAudio]
        .into_iter()
        .all(testbed::require)
}

/// Calls one Tauri command from the page, as the window's `api.ts` does;
/// `channels` names the arguments that are progress channels (their
/// messages are counted, see [`messages`]). A refusal fails the benchmark
/// with the failure.
pub async fn invoke(client: &Client, command: &str, args: Value, channels: &[&str]) -> Value {
    start(client, command, args, channels).await;
    finish(client, command).await
}

/// Starts a command without waiting for its answer: the page keeps the
/// promise's outcome under the command's name for [`finish`].
pub async fn start(client: &Client, command: &str, args: Value, channels: &[&str]) {
    let script = r#"
        const [command, args, channels] = arguments;
        const core = window.__TAURI__.core;
        const bench = (window.__bench ??= { answers: {}, messages: {} });
        for (const name of channels) {
            bench.messages[name] = 0;
            const channel = new core.Channel();
            channel.onmessage = () => { bench.messages[name] += 1; };
            args[name] = channel;
        }
        bench.answers[command] = core.invoke(command, args).then(
            (value) => ({ ok: value ?? null }),
            (error) => ({ error }),
        );
    "#;
    client
        .execute(script, vec![json!(command), args, json!(channels)])
        .await
        .unwrap_or_else(|e| panic!("{command}: {e}"));
}

/// Waits for the answer of a command begun with [`start`].
pub async fn finish(client: &Client, command: &str) -> Value {
    outcome(client, command)
        .await
        .unwrap_or_else(|error| panic!("{command} refused: {error:#}"))
}

/// The answer of a command begun with [`start`], or its refusal.
pub async fn outcome(client: &Client, command: &str) -> Result<Value, Value> {
    let script = r#"
        const [command, done] = arguments;
        window.__bench.answers[command].then(done);
    "#;
    let answer = client
        .execute_async(script, vec![json!(command)])
        .await
        .unwrap_or_else(|e| panic!("{command}: {e}"));
    match answer.get("error") {
        Some(error) => Err(error.clone()),
        None => Ok(answer["ok"].clone()),
    }
}

/// How many messages the channel argument `channel` of the latest started
/// command has received so far.
pub async fn messages(client: &Client, channel: &str) -> u64 {
    let script = "return window.__bench?.messages[arguments[0]] ?? 0;";
    let count = client
        .execute(script, vec![json!(channel)])
        .await
        .unwrap_or_else(|e| panic!("{channel}: {e}"));
    count.as_u64().unwrap_or(0)
}

/// The app in demo mode on a new station, with a clerk and a supervisor,
/// and the window reloaded on the clerk's home screen.
pub async fn demo_desk(data: &std::path::Path) -> (support::Driver, Client) {
    support::station_folder(data);
    let (driver, port) = support::start_driver(data, &[("STATION_DEMO", "1")]);
    let client = support::connect(port).await;
    wait(&client, "[data-testid=admin-name]").await;
    // Slow WebDriver scripts (a chip read, a capture) are fine.
    client
        .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
            Some(Duration::from_secs(600)),
            Some(Duration::from_secs(60)),
            None,
        ))
        .await
        .unwrap();
    let creds = |(n, p): (&str, &str)| json!({ "name": n, "password": p });
    invoke(&client, "create_administrator", creds(ADMIN), &[]).await;
    invoke(&client, "sign_in", creds(ADMIN), &[]).await;
    for (who, role) in [(CLERK, "clerk"), (SUPERVISOR, "supervisor")] {
        let mut args = creds(who);
        args["role"] = json!(role);
        invoke(&client, "add_user", args, &[]).await;
    }
    invoke(&client, "sign_in", creds(CLERK), &[]).await;
    client.refresh().await.unwrap();
    wait(&client, "[data-testid=new-enrollment]").await;
    (driver, client)
}

pub async fn wait(client: &Client, css: &str) {
    client
        .wait()
        .at_most(Duration::from_secs(120))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
}

/// Resident memory of `pid` in MiB, from /proc: all of it (`VmRSS`, which
/// counts the shared libraries' pages too) and the process's own
/// anonymous memory (`RssAnon`: heap, models, buffers).
pub fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("RssAnon:"))
}

/// `[all, own]` of the app's process then `[all, own]` summed over its web
/// processes, in MiB (see [`rss_mib`]).
pub fn memory_mib(app: u32, web: &[u32]) -> [f64; 4] {
    let (app_rss, app_own) = rss_mib(app);
    let (web_rss, web_own) = web
        .iter()
        .map(|p| rss_mib(*p))
        .fold((0.0, 0.0), |(r, o), (pr, po)| (r + pr, o + po));
    [app_rss, app_own, web_rss, web_own]
}

/// The processes whose parent is `parent`, with their names.
pub fn children(parent: u32) -> Vec<(u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // "pid (comm) state ppid ...": comm may hold spaces.
            let (comm, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
            let ppid: u32 = rest.split_whitespace().nth(1)?.parse().ok()?;
            (ppid == parent).then(|| (pid, comm.to_owned()))
        })
        .collect()
}

/// The app's process (started by the driver) and the web content process
/// it runs the window in.
pub fn app_processes(driver: &support::Driver) -> (u32, Vec<u32>) {
    let app = children(driver.pid())
        .into_iter()
        .find(|(_, name)| name.starts_with("enrollment-sta"))
        .map(|(pid, _)| pid)
        .expect("the app runs under the driver");
    let web = children(app)
        .into_iter()
        .filter(|(_, name)| name.starts_with("WebKit"))
        .map(|(pid, _)| pid)
        .collect();
    (app, web)
}
