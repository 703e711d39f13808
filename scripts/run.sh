#!/usr/bin/env bash
# Starts the Enrollment Station app on a fresh Debian 12 machine. Installs what
# is missing, then brings up virtual devices for whatever hardware is absent:
# pcscd with the vpcd virtual reader when no smart-card service runs, the
# virtual microphone when no audio server answers, Xvfb when there is no
# display. With virtual devices (or STATION_DEMO=1, or --demo) the app runs in
# demo mode: the demo document in the vpcd reader and the demo camera.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/build-ui.sh

services=()
if ! [ -S /run/pcscd/pcscd.comm ]; then services+=(pcscd); fi
if ! pactl info >/dev/null 2>&1; then services+=(pulse); fi
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then services+=(xvfb); fi
if [ "${#services[@]}" -gt 0 ]; then
  export TESTBED_DIR="${TESTBED_DIR:-$PWD/target/app-devices}"
  trap 'scripts/testbed.sh stop' EXIT
  eval "$(scripts/testbed.sh start "${services[@]}")"
  echo "run: virtual devices started: ${services[*]}" >&2
  # Without hardware the demo document, camera and microphone stand in.
  export STATION_DEMO="${STATION_DEMO:-1}"
fi

cargo run -p enrollment-station -- "$@"
