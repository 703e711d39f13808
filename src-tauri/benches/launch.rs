//! Launch to an interactive window: from asking WebKitWebDriver for a
//! session (which starts the `enrollment-station` binary) until the first
//! screen's form is in the page, on a new station each time. Needs the test
//! bed's display (`scripts/testbed.sh start xvfb`).

// A benchmark that cannot run fails loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use fantoccini::Locator;
use testbed::Service;

const RUNS: usize = 5;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if !testbed::require(Service::Display) {
        return;
    }
    let mut session = Vec::new();
    let mut interactive = Vec::new();
    for _ in 0..RUNS {
        let data = tempfile::tempdir().unwrap();
        let (_driver, port) = support::start_driver(data.path(), &[]);
        let started = Instant::now();
        let client = support::connect(port).await;
        session.push(started.elapsed());
        client
            .wait()
            .at_most(Duration::from_secs(60))
            .for_element(Locator::Css("[data-testid=admin-name]"))
            .await
            .unwrap();
        interactive.push(started.elapsed());
        client.close().await.unwrap();
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    println!(
        "launch: window with the page loaded {:.0} ms, first screen interactive {:.0} ms (median of {RUNS}; fastest {:.0} ms)",
        median(&mut session).as_secs_f64() * 1e3,
        median(&mut interactive).as_secs_f64() * 1e3,
        interactive[0].as_secs_f64() * 1e3,
    );
}
