#!/usr/bin/env bash
# Runs every check and test of the project on a fresh Debian 12 machine:
# installs what is missing, builds the UI, starts the test bed (pcscd + vpcd,
# PulseAudio + virtmic, Xvfb), then fmt, clippy and the whole workspace's
# tests, including the WebDriver test through the real app.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/build-ui.sh

stop_bed() { scripts/testbed.sh stop || true; }
trap stop_bed EXIT
eval "$(scripts/testbed.sh start)"
# The bed is up: a test that finds a service missing must fail, not skip.
export CI=true

# Runs one cargo step. A build cache left half-written (a build killed
# mid-way) shows up as crates that cannot be found: then, and only then, the
# cache is thrown away and the step runs again from cold.
cargo_step() {
  local log status=0
  log="$(mktemp)"
  "$@" 2>&1 | tee "$log" || status=$?
  if [ "$status" -ne 0 ] && grep -qE "error\[E0463\]|error\[E0460\]|found possibly newer version of crate" "$log"; then
    echo "test: the build cache is inconsistent; cleaning it and building again" >&2
    cargo clean
    status=0
    "$@" || status=$?
  fi
  rm -f "$log"
  return "$status"
}

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
time cargo_step cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== fuzz targets build"
# Outside the workspace (cargo-fuzz builds them on their own); checked here
# so they keep compiling against the parsers they exercise.
time cargo_step cargo check --manifest-path crates/emrtd/fuzz/Cargo.toml --bins --locked
echo "== cargo test"
# Test binaries run one after another: tests of different crates share the
# two vpcd reader slots.
time cargo_step cargo test --workspace --locked
