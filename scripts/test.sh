#!/usr/bin/env bash
# Runs every check and test of the project on a fresh Debian 12 machine:
# installs what is missing, builds the UI, starts the test bed (pcscd + vpcd,
# PulseAudio + virtmic, Xvfb), then fmt, clippy and the whole workspace's
# tests, including the WebDriver test through the real app.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
(cd ui && npm run --silent build)

stop_bed() { scripts/testbed.sh stop || true; }
trap stop_bed EXIT
eval "$(scripts/testbed.sh start)"
# The bed is up: a test that finds a service missing must fail, not skip.
export CI=true

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
time cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
# Test binaries run one after another: tests of different crates share the
# two vpcd reader slots.
time cargo test --workspace --locked
