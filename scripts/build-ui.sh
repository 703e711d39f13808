#!/usr/bin/env bash
# Builds the window's front end into ui/dist: first the TypeScript
# declarations of the station core's types (generated from the Rust types by
# crates/station/tests/ui_bindings.rs into ui/src/bindings, never committed),
# then tsc.
set -euo pipefail
cd "$(dirname "$0")/.."

rm -rf ui/src/bindings
UI_BINDINGS_DIR="$PWD/ui/src/bindings" cargo test --workspace --locked --test ui_bindings --quiet
(cd ui && { [ -d node_modules ] || npm ci --silent; } && npm run --silent build)
